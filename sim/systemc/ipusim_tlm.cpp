/* ipusim_tlm.cpp - IpuSystemModule: the engine driven by an SC_THREAD, and
 * the TLM-2.0 target socket over the control registers and remote buffers.
 * The address map and the timing rules are in ipusim_tlm.h and
 * docs/systemc.md. */
#include "sim/systemc/ipusim_tlm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "sim/systemc/sim_c_api.h"

using sc_core::sc_time;

namespace {

/* The engine runs codelets (and OpenMP's master share of them) on this
 * thread's coroutine stack; SystemC's default is far too small for that. */
constexpr size_t kRunThreadStackBytes = 16u << 20;

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

/* Seconds as SystemC time, rounded to the nearest resolution unit. */
sc_time seconds_to_time(long double s)
{
    long double res_s = sc_core::sc_get_time_resolution().to_seconds();
    return sc_time::from_value(static_cast<sc_dt::uint64>(std::llround(s / res_s)));
}

} // namespace

IpuSystemModule::IpuSystemModule(sc_core::sc_module_name name, Graph *g, const Program *p, double host_latency_s)
    : sc_module(name), socket("socket"), g_(g), prog_(p), clock_hz_(g->arch.clock_hz),
      host_bytes_per_s_(g->arch.host_link_bytes_per_s), host_latency_s_(host_latency_s)
{
    IpuErr err;
    engine_ = engine_create(g, &err);
    if (!engine_)
        SC_REPORT_ERROR(IPU_TLM_MSG_TYPE, err.msg);
    if (!(host_latency_s >= 0))
        SC_REPORT_ERROR(IPU_TLM_MSG_TYPE, "host_latency_s must be >= 0");

    /* registers, then the buffer table, rounded to a page; then each buffer
     * on its own page(s) in id order; a zero-byte buffer still takes a page
     * so every base is distinct. */
    reg_block_bytes_ = align_up(IPU_TLM_BUF_TABLE + IPU_TLM_BUF_TABLE_ENTRY_BYTES * g->nremotes, IPU_TLM_PAGE_BYTES);
    uint64_t next = reg_block_bytes_;
    for (size_t i = 0; i < g->nremotes; i++) {
        MappedBuffer b{next, g->remotes[i].bytes, static_cast<int>(i)};
        bufs_.push_back(b);
        map_end_ = next + b.bytes;
        next = align_up(next + std::max<uint64_t>(b.bytes, 1), IPU_TLM_PAGE_BYTES);
    }
    if (bufs_.empty())
        map_end_ = reg_block_bytes_;

    socket.register_b_transport(this, &IpuSystemModule::b_transport);
    socket.register_transport_dbg(this, &IpuSystemModule::transport_dbg);
    SC_THREAD(run_thread);
    set_stack_size(kRunThreadStackBytes);
}

IpuSystemModule::~IpuSystemModule() { engine_destroy(engine_); }

/* 0 when engine_create failed (and the report did not throw). */
uint64_t IpuSystemModule::engine_cycles() const { return engine_ ? ::engine_cycles(engine_) : 0; }

uint64_t IpuSystemModule::run_cycles() const
{
    return (running_ ? engine_cycles() : run_end_cycles_) - run_start_cycles_;
}

sc_time IpuSystemModule::cycles_to_time(uint64_t cycles) const
{
    return seconds_to_time(static_cast<long double>(cycles) / clock_hz_);
}

sc_time IpuSystemModule::host_transfer_time(uint64_t bytes) const
{
    return seconds_to_time(static_cast<long double>(bytes) / host_bytes_per_s_ + host_latency_s_);
}

void IpuSystemModule::run_thread()
{
    for (;;) {
        wait(start_ev_);
        run_once();
    }
}

/* Waits until SystemC time is the run's start plus the engine's cycles of
 * this run so far; computed from the run total, so rounding never drifts. */
void IpuSystemModule::wait_engine_time()
{
    sc_time target = run_start_time_ + cycles_to_time(engine_cycles() - run_start_cycles_);
    sc_time now = sc_core::sc_time_stamp();
    if (target > now)
        wait(target - now);
}

void IpuSystemModule::run_once()
{
    IpuErr err;
    run_start_time_ = sc_core::sc_time_stamp();
    run_start_cycles_ = engine_cycles();
    run_steps_ = 0;
    running_ = true;
    if (!engine_) {
        fail("no engine (engine_create failed when the module was built)");
        return;
    }
    /* A failed run leaves the engine mid-program: validate afresh. */
    int rc = need_start_ ? engine_start(engine_, prog_, -1, &err) : engine_restart(engine_, &err);
    if (rc) {
        fail(err.msg);
        return;
    }
    need_start_ = false;
    EngineStepInfo info;
    while ((rc = engine_step(engine_, &info, &err)) == 1) {
        run_steps_++;
        total_steps_++;
        wait_engine_time();
    }
    if (rc < 0) {
        fail(err.msg);
        return;
    }
    wait_engine_time(); /* a stream deferred under compute is paid at the end */
    run_end_cycles_ = engine_cycles();
    running_ = false;
    busy_ = false;
    done_ = true;
    runs_++;
    done_ev_.notify(sc_core::SC_ZERO_TIME);
}

void IpuSystemModule::fail(const char *msg)
{
    run_end_cycles_ = engine_cycles();
    running_ = false;
    busy_ = false;
    failed_ = true;
    need_start_ = true;
    runs_++;
    error_ = msg;
    done_ev_.notify(sc_core::SC_ZERO_TIME);
    SC_REPORT_ERROR(IPU_TLM_MSG_TYPE, msg);
}

/* Which region holds all of [addr, addr + len); len 0 decodes as one byte. */
IpuSystemModule::Region IpuSystemModule::decode(uint64_t addr, uint64_t len, const MappedBuffer **buf) const
{
    uint64_t n = std::max<uint64_t>(len, 1);
    if (addr > UINT64_MAX - n)
        return Region::None;
    uint64_t end = addr + n;
    if (end <= IPU_TLM_REGS_END)
        return Region::Registers;
    if (addr >= IPU_TLM_BUF_TABLE && end <= IPU_TLM_BUF_TABLE + IPU_TLM_BUF_TABLE_ENTRY_BYTES * bufs_.size())
        return Region::Registers;
    auto it = std::upper_bound(bufs_.begin(), bufs_.end(), addr,
                               [](uint64_t a, const MappedBuffer &b) { return a < b.base; });
    if (it == bufs_.begin())
        return Region::None;
    --it;
    if (end > it->base + it->bytes)
        return Region::None;
    *buf = &*it;
    return Region::Buffer;
}

uint8_t *IpuSystemModule::buffer_data(const MappedBuffer &b) const
{
    return static_cast<uint8_t *>(graph_remote_data(g_, b.id));
}

/* Copies n register bytes from addr, which decode() placed inside the
 * registers or inside the buffer table. */
void IpuSystemModule::read_registers(uint64_t addr, uint8_t *dst, uint64_t n) const
{
    if (addr < IPU_TLM_REGS_END) {
        uint8_t img[IPU_TLM_REGS_END];
        register_image(img);
        std::memcpy(dst, img + addr, n);
        return;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t off = addr + i - IPU_TLM_BUF_TABLE;
        const MappedBuffer &b = bufs_[off / IPU_TLM_BUF_TABLE_ENTRY_BYTES];
        uint64_t field_off = off % IPU_TLM_BUF_TABLE_ENTRY_BYTES;
        uint64_t v = field_off < 8 ? b.base : b.bytes;
        dst[i] = static_cast<uint8_t>(v >> (8 * (field_off % 8)));
    }
}

/* The registers [0, IPU_TLM_REGS_END) as bytes. */
void IpuSystemModule::register_image(uint8_t *img) const
{
    std::memset(img, 0, IPU_TLM_REGS_END);
    uint32_t status = (busy_ ? IPU_TLM_STATUS_BUSY : 0) | (done_ ? IPU_TLM_STATUS_DONE : 0) |
                      (failed_ ? IPU_TLM_STATUS_ERROR : 0);
    put_le(img + IPU_TLM_REG_ID, IPU_TLM_ID, 4);
    put_le(img + IPU_TLM_REG_STATUS, status, 4);
    put_le(img + IPU_TLM_REG_NUM_BUFFERS, bufs_.size(), 4);
    put_le(img + IPU_TLM_REG_RUN_CYCLES, run_cycles(), 8);
    put_le(img + IPU_TLM_REG_RUN_STEPS, run_steps_, 8);
    put_le(img + IPU_TLM_REG_RUNS, runs_, 4);
    put_le(img + IPU_TLM_REG_CLOCK_KHZ, static_cast<uint64_t>(std::llround(clock_hz_ / 1e3)), 4);
    put_le(img + IPU_TLM_REG_TOTAL_CYCLES, engine_cycles(), 8);
}

void IpuSystemModule::b_transport(tlm::tlm_generic_payload &tx, sc_time &delay)
{
    uint64_t addr = tx.get_address();
    unsigned int len = tx.get_data_length();
    const MappedBuffer *buf = nullptr;
    Region r = decode(addr, len, &buf);
    if (r == Region::None) {
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    if (tx.get_byte_enable_ptr()) {
        tx.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
        return;
    }
    if (tx.get_streaming_width() < len) {
        tx.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
        return;
    }
    tlm::tlm_command cmd = tx.get_command();
    uint8_t *data = tx.get_data_ptr();
    if (cmd == tlm::TLM_IGNORE_COMMAND) {
        delay += host_transfer_time(len);
        tx.set_response_status(tlm::TLM_OK_RESPONSE);
        return;
    }
    if (r == Region::Buffer) {
        uint8_t *mem = buffer_data(*buf);
        if (!mem) { /* timing mode: the graph holds no data */
            tx.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
            return;
        }
        uint64_t off = addr - buf->base;
        if (cmd == tlm::TLM_READ_COMMAND)
            std::memcpy(data, mem + off, len);
        else
            std::memcpy(mem + off, data, len);
    } else if (cmd == tlm::TLM_READ_COMMAND) {
        read_registers(addr, data, len);
    } else { /* writes: CTRL only, as one whole word */
        if (addr != IPU_TLM_REG_CTRL) {
            tx.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
            return;
        }
        if (len != 4) {
            tx.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
            return;
        }
        if (get_le(data, 4) & IPU_TLM_CTRL_START) {
            if (busy_) {
                tx.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
                return;
            }
            /* accepted now; the run starts when the write lands */
            busy_ = true;
            done_ = failed_ = false;
            error_.clear();
            start_ev_.notify(delay + host_transfer_time(len));
        }
    }
    delay += host_transfer_time(len);
    tx.set_dmi_allowed(false);
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
}

/* Debug access: no delay, no side effects; registers read-only. Transfers
 * up to the end of the region holding the first byte. */
unsigned int IpuSystemModule::transport_dbg(tlm::tlm_generic_payload &tx)
{
    uint64_t addr = tx.get_address();
    unsigned int len = tx.get_data_length();
    const MappedBuffer *buf = nullptr;
    if (tx.get_byte_enable_ptr() || len == 0 || decode(addr, 1, &buf) == Region::None)
        return 0;
    tlm::tlm_command cmd = tx.get_command();
    uint8_t *data = tx.get_data_ptr();
    if (buf) {
        uint8_t *mem = buffer_data(*buf);
        if (!mem || cmd == tlm::TLM_IGNORE_COMMAND)
            return 0;
        uint64_t off = addr - buf->base;
        unsigned int n = static_cast<unsigned int>(std::min<uint64_t>(len, buf->bytes - off));
        if (cmd == tlm::TLM_READ_COMMAND)
            std::memcpy(data, mem + off, n);
        else
            std::memcpy(mem + off, data, n);
        return n;
    }
    if (cmd != tlm::TLM_READ_COMMAND)
        return 0;
    uint64_t region_end = addr < IPU_TLM_REGS_END ? static_cast<uint64_t>(IPU_TLM_REGS_END)
                                                  : IPU_TLM_BUF_TABLE + IPU_TLM_BUF_TABLE_ENTRY_BYTES * bufs_.size();
    unsigned int n = static_cast<unsigned int>(std::min<uint64_t>(len, region_end - addr));
    read_registers(addr, data, n);
    return n;
}
