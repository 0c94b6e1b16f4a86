/* test_ipusim_tlm.cpp - IpuSystemModule driven by small initiator modules.
 *
 * Three systems, each the same small graph (x, y on tiles 0..3, z on tiles
 * 4..7, remote buffers "in" and "out"; program: stream in -> x, execute
 * y = 3x + 1 on every tile, copy y -> z, stream z -> out, sync):
 *   A functional, clock 1.25 GHz and host link 1 GB/s so every time is a
 *     whole number of picoseconds: data in and out through the socket, two
 *     runs launched by the register, SystemC time == annotated delays +
 *     engine cycles x 800 ps exactly, registers, every error response;
 *   B timing mode on the gc200 preset: data access refused, IGNORE timed,
 *     time == cycles / 1.33 GHz rounded to the picosecond;
 *     The store stream overlaps (I/O tiles) and ends the program, so its
 *     time is paid after the last step;
 *   C a vertex that faults: the run ends with the ERROR status and the
 *     engine's message; D a program that fails validation, likewise.
 * Cycles are checked against engine_run on an identical graph without
 * SystemC. Prints "N passed, M failed"; exits non-zero on any failure.
 */
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>

#include "sim/systemc/ipusim_tlm.h"
#include "sim/systemc/sim_c_api.h"

using sc_core::sc_time;
using sc_core::SC_NS;
using sc_core::SC_PS;

namespace {

constexpr uint64_t kElems = 256; /* per tensor */
constexpr uint64_t kBufBytes = kElems * 4;

struct Checks {
    int passed = 0, failed = 0;
    void check(bool ok, const char *what, int line)
    {
        if (ok) {
            passed++;
        } else {
            failed++;
            std::printf("FAIL line %d: %s (at %s)\n", line, what, sc_core::sc_time_stamp().to_string().c_str());
        }
    }
};
#define CHECK(ck, cond) (ck).check((cond), #cond, __LINE__)

/* y = 3x + 1 over int32; 2 worker cycles per element + 4, data-independent. */
struct AffineArgs {
    const int32_t *x;
    int32_t *y;
    uint32_t n;
    int fault;
};
void affine_run(Worker *w, const void *args)
{
    const AffineArgs *a = static_cast<const AffineArgs *>(args);
    for (uint32_t i = 0; i < a->n; i++)
        a->y[i] = 3 * a->x[i] + 1;
    w->cycles += 2ull * a->n + 4;
    if (a->fault) {
        w->faulted = 1;
        std::snprintf(w->fault, sizeof w->fault, "test fault");
    }
}
uint64_t affine_key(const void *args) { return static_cast<const AffineArgs *>(args)->n; }
uint64_t affine_measure(const IsaCosts *, const void *args)
{
    const AffineArgs *a = static_cast<const AffineArgs *>(args);
    return a->fault ? VERTEX_MEASURE_FAULT : 2ull * a->n + 4;
}
const VertexType affine_vt = {"test.affine", sizeof(AffineArgs), affine_run, affine_key, affine_measure, NULL};

struct System {
    Graph *g = nullptr;
    Program *p = nullptr;
    int in = -1, out = -1;
    ~System()
    {
        program_destroy(p);
        graph_destroy(g);
    }
};

/* Builds the graph and program described at the top; false on any error.
 * overlap_tail: the store stream is made with overlap=1 and ends the
 * program (no sync), so with I/O tiles the engine pays it only at the end. */
bool build_system(System &s, const IpuArch &a, GraphMode mode, bool fault, bool overlap_tail = false)
{
    IpuErr e;
    if (!(s.g = graph_create(&a, mode, &e)) || !(s.p = program_create()))
        return false;
    Graph *g = s.g;
    int x = graph_add_tensor_linear(g, "x", DTYPE_I32, kElems, SRAM_ACTIVATIONS, 0, 4, 1, &e);
    int y = graph_add_tensor_linear(g, "y", DTYPE_I32, kElems, SRAM_ACTIVATIONS, 0, 4, 1, &e);
    int z = graph_add_tensor_linear(g, "z", DTYPE_I32, kElems, SRAM_ACTIVATIONS, 4, 4, 1, &e);
    s.in = graph_add_remote(g, "in", 0, kBufBytes, &e);
    s.out = graph_add_remote(g, "out", 0, kBufBytes, &e);
    int cs = graph_add_compute_set(g, "affine", &e);
    if (x < 0 || y < 0 || z < 0 || s.in < 0 || s.out < 0 || cs < 0)
        return false;
    int32_t *xd = static_cast<int32_t *>(graph_tensor_data(g, x));
    int32_t *yd = static_cast<int32_t *>(graph_tensor_data(g, y));
    const Tensor *xt = graph_tensor(g, x);
    for (size_t i = 0; i < xt->nmap; i++) {
        const TileInterval &iv = xt->map[i];
        AffineArgs args = {xd ? xd + iv.begin : nullptr, yd ? yd + iv.begin : nullptr,
                           static_cast<uint32_t>(iv.end - iv.begin), fault && i == 2};
        if (graph_add_vertex(g, cs, iv.tile, &affine_vt, &args, &e))
            return false;
    }
    Program *p = s.p;
    int seq = program_sequence(p, "main", &e);
    int load = program_stream(p, STREAM_TO_TILES, 0, "load", -1, &e);
    int exec = program_execute(p, cs, "affine", -1, &e);
    int copy = program_copy(p, "y->z", -1, &e);
    int store = program_stream(p, STREAM_FROM_TILES, overlap_tail ? 1 : 0, "store", -1, &e);
    int sync = program_sync(p, SYNC_CHIP, "sync", -1, &e);
    if (seq < 0 || load < 0 || exec < 0 || copy < 0 || store < 0 || sync < 0)
        return false;
    if (program_stream_add(p, load, s.in, 0, x, 0, kElems, &e) < 0 || program_copy_add(p, copy, y, 0, z, 0, kElems, &e) < 0 ||
        program_stream_add(p, store, s.out, 0, z, 0, kElems, &e) < 0)
        return false;
    for (int step : {load, exec, copy, store, sync})
        if ((step != sync || !overlap_tail) && program_append(p, seq, step, &e) < 0)
            return false;
    if (overlap_tail)
        program_set_root(p, seq); /* the sync step is left unused */
    return true;
}

int32_t input_value(uint64_t i) { return static_cast<int32_t>(i * 7) - 300; }

/* Engine cycles of one plain engine_run of the same system (no SystemC). */
uint64_t reference_cycles(const IpuArch &a, GraphMode mode, bool overlap_tail, std::vector<int32_t> *out)
{
    System s;
    IpuErr e;
    if (!build_system(s, a, mode, false, overlap_tail))
        return 0;
    if (mode == GRAPH_FUNCTIONAL) {
        int32_t *in = static_cast<int32_t *>(graph_remote_data(s.g, s.in));
        for (uint64_t i = 0; i < kElems; i++)
            in[i] = input_value(i);
    }
    Engine *en = engine_create(s.g, &e);
    uint64_t c = en && engine_run(en, s.p, &e) == 0 ? engine_cycles(en) : 0;
    if (out && mode == GRAPH_FUNCTIONAL) {
        const int32_t *o = static_cast<const int32_t *>(graph_remote_data(s.g, s.out));
        out->assign(o, o + kElems);
    }
    engine_destroy(en);
    return c;
}

/* A host CPU model: runs one scenario in its thread, waiting out every
 * annotated delay (no temporal decoupling), so time is easy to predict. */
struct Initiator : sc_core::sc_module {
    tlm_utils::simple_initiator_socket<Initiator> socket;
    std::function<void(Initiator &)> scenario;
    bool finished = false;
    sc_time last_delay;

    SC_HAS_PROCESS(Initiator);
    Initiator(sc_core::sc_module_name n, std::function<void(Initiator &)> fn)
        : sc_module(n), socket("socket"), scenario(std::move(fn))
    {
        SC_THREAD(thread);
    }
    void thread()
    {
        scenario(*this);
        finished = true;
    }

    tlm::tlm_response_status xfer(tlm::tlm_command cmd, uint64_t addr, void *data, unsigned len,
                                  unsigned char *byte_enable = nullptr, unsigned streaming_width = 0)
    {
        tlm::tlm_generic_payload tx;
        tx.set_command(cmd);
        tx.set_address(addr);
        tx.set_data_ptr(static_cast<unsigned char *>(data));
        tx.set_data_length(len);
        tx.set_streaming_width(streaming_width ? streaming_width : len);
        tx.set_byte_enable_ptr(byte_enable);
        tx.set_byte_enable_length(byte_enable ? len : 0);
        tx.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        sc_time delay = sc_core::SC_ZERO_TIME;
        socket->b_transport(tx, delay);
        last_delay = delay;
        wait(delay);
        return tx.get_response_status();
    }
    uint64_t read_reg(uint64_t addr, unsigned len, tlm::tlm_response_status *st = nullptr)
    {
        uint8_t b[8] = {0};
        tlm::tlm_response_status s = xfer(tlm::TLM_READ_COMMAND, addr, b, len);
        if (st)
            *st = s;
        uint64_t v = 0;
        for (unsigned i = 0; i < len; i++)
            v |= static_cast<uint64_t>(b[i]) << (8 * i);
        return v;
    }
    tlm::tlm_response_status write_reg(uint64_t addr, uint32_t v)
    {
        uint8_t b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
        return xfer(tlm::TLM_WRITE_COMMAND, addr, b, 4);
    }
    unsigned dbg(tlm::tlm_command cmd, uint64_t addr, void *data, unsigned len)
    {
        tlm::tlm_generic_payload tx;
        tx.set_command(cmd);
        tx.set_address(addr);
        tx.set_data_ptr(static_cast<unsigned char *>(data));
        tx.set_data_length(len);
        return socket->transport_dbg(tx);
    }
};

/* Launches a run through CTRL and waits for it; returns the time the run
 * started (when the START write landed). A run that lasts (any that gets
 * past validation here) must outlast the status read for the wait below. */
sc_time launch_and_wait(Checks &ck, Initiator &in, IpuSystemModule &m, bool lasts = true)
{
    CHECK(ck, in.write_reg(IPU_TLM_REG_CTRL, IPU_TLM_CTRL_START) == tlm::TLM_OK_RESPONSE);
    sc_time start = sc_core::sc_time_stamp();
    uint64_t status = in.read_reg(IPU_TLM_REG_STATUS, 4);
    CHECK(ck, !lasts || (status & IPU_TLM_STATUS_BUSY) != 0);
    CHECK(ck, !lasts || m.busy());
    if (m.busy())
        sc_core::wait(m.done_event());
    CHECK(ck, !m.busy());
    return start;
}

/* The register block and the buffer table, read through the socket. */
void check_register_map(Checks &ck, Initiator &in, IpuSystemModule &m)
{
    /* 1 GB/s host link: one byte 1 ns, + 1 us per transaction */
    CHECK(ck, in.read_reg(IPU_TLM_REG_ID, 4) == IPU_TLM_ID);
    CHECK(ck, in.last_delay == sc_time(1004, SC_NS));
    CHECK(ck, sc_core::sc_time_stamp() == sc_time(1004, SC_NS));
    CHECK(ck, in.read_reg(IPU_TLM_REG_NUM_BUFFERS, 4) == 2);
    CHECK(ck, in.read_reg(IPU_TLM_REG_CLOCK_KHZ, 4) == 1250000);
    /* buffer table: "in" at the first page after the registers, "out" on the next */
    CHECK(ck, m.register_block_bytes() == IPU_TLM_PAGE_BYTES);
    CHECK(ck, in.read_reg(IPU_TLM_BUF_TABLE, 8) == IPU_TLM_PAGE_BYTES);
    CHECK(ck, in.read_reg(IPU_TLM_BUF_TABLE + 8, 8) == kBufBytes);
    CHECK(ck, in.read_reg(IPU_TLM_BUF_TABLE + 16, 8) == 2 * IPU_TLM_PAGE_BYTES);
    CHECK(ck, in.read_reg(IPU_TLM_BUF_TABLE + 20, 4) == 0); /* high half of a 64-bit entry */
    CHECK(ck, m.buffer_base(1) == 2 * IPU_TLM_PAGE_BYTES);
    uint64_t table[8] = {0};
    CHECK(ck, in.dbg(tlm::TLM_READ_COMMAND, IPU_TLM_BUF_TABLE, table, 64) == 32); /* clipped at the table's end */
    CHECK(ck, table[0] == m.buffer_base(0) && table[1] == kBufBytes && table[2] == m.buffer_base(1) &&
                  table[3] == kBufBytes); /* little-endian host */
    CHECK(ck, m.map_end() == 2 * IPU_TLM_PAGE_BYTES + kBufBytes);
}

/* Two runs on written inputs: the outputs, cycles, steps and exact times;
 * the second (engine_restart) takes the same time. */
void check_two_runs(Checks &ck, Initiator &in, IpuSystemModule &m, uint64_t ref_cycles,
                    const std::vector<int32_t> &ref_out)
{
    const uint64_t in_base = m.buffer_base(0), out_base = m.buffer_base(1);
    std::vector<int32_t> data(kElems);
    for (uint64_t i = 0; i < kElems; i++)
        data[i] = input_value(i);
    CHECK(ck, in.xfer(tlm::TLM_WRITE_COMMAND, in_base, data.data(), kBufBytes) == tlm::TLM_OK_RESPONSE);
    CHECK(ck, in.last_delay == sc_time(1024 + 1000, SC_NS));

    /* first run: validated by engine_start */
    sc_time start = launch_and_wait(ck, in, m);
    CHECK(ck, m.run_cycles() == ref_cycles);
    CHECK(ck, m.run_steps() == 5);
    CHECK(ck, sc_core::sc_time_stamp() == start + sc_time::from_value(ref_cycles * 800)); /* 800 ps per cycle */
    CHECK(ck, in.read_reg(IPU_TLM_REG_STATUS, 4) == IPU_TLM_STATUS_DONE);
    CHECK(ck, in.read_reg(IPU_TLM_REG_RUN_CYCLES, 8) == ref_cycles);
    CHECK(ck, in.read_reg(IPU_TLM_REG_RUN_CYCLES, 4) == (ref_cycles & 0xffffffffu));
    CHECK(ck, in.read_reg(IPU_TLM_REG_RUN_STEPS, 8) == 5);
    CHECK(ck, in.read_reg(IPU_TLM_REG_RUNS, 4) == 1);

    std::vector<int32_t> out(kElems, 0);
    CHECK(ck, in.xfer(tlm::TLM_READ_COMMAND, out_base, out.data(), kBufBytes) == tlm::TLM_OK_RESPONSE);
    bool same = true;
    for (uint64_t i = 0; i < kElems; i++)
        same = same && out[i] == 3 * input_value(i) + 1 && out[i] == ref_out[i];
    CHECK(ck, same);
    std::vector<int32_t> out_dbg(kElems, 0);
    CHECK(ck, in.dbg(tlm::TLM_READ_COMMAND, out_base, out_dbg.data(), kBufBytes) == kBufBytes);
    CHECK(ck, out_dbg == out);

    /* second run: engine_restart; same cycles, same exact time */
    for (uint64_t i = 0; i < kElems; i++)
        data[i] = -data[i];
    CHECK(ck, in.dbg(tlm::TLM_WRITE_COMMAND, in_base, data.data(), kBufBytes) == kBufBytes);
    start = launch_and_wait(ck, in, m);
    CHECK(ck, m.run_cycles() == ref_cycles);
    CHECK(ck, sc_core::sc_time_stamp() == start + sc_time::from_value(ref_cycles * 800));
    CHECK(ck, in.read_reg(IPU_TLM_REG_RUNS, 4) == 2);
    CHECK(ck, in.read_reg(IPU_TLM_REG_TOTAL_CYCLES, 8) == 2 * ref_cycles);
    CHECK(ck, m.total_steps() == 10);
    CHECK(ck, in.xfer(tlm::TLM_READ_COMMAND, out_base + 4 * 10, out.data(), 4) == tlm::TLM_OK_RESPONSE);
    CHECK(ck, out[0] == -3 * input_value(10) + 1);
}

/* After two runs: START while busy, address, byte-enable, width and
 * command errors, the IGNORE command and the debug transport. */
void check_errors(Checks &ck, Initiator &in, IpuSystemModule &m, uint64_t ref_cycles)
{
    const uint64_t in_base = m.buffer_base(0), out_base = m.buffer_base(1);
    /* START while busy; mid-run the cycle register shows the run so far */
    CHECK(ck, in.write_reg(IPU_TLM_REG_CTRL, IPU_TLM_CTRL_START) == tlm::TLM_OK_RESPONSE);
    CHECK(ck, in.write_reg(IPU_TLM_REG_CTRL, IPU_TLM_CTRL_START) == tlm::TLM_GENERIC_ERROR_RESPONSE);
    uint64_t mid = in.read_reg(IPU_TLM_REG_RUN_CYCLES, 8);
    CHECK(ck, m.busy() && mid > 0 && mid < ref_cycles);
    CHECK(ck, in.read_reg(IPU_TLM_REG_RUN_STEPS, 8) < 5);
    sc_core::wait(m.done_event());
    CHECK(ck, in.read_reg(IPU_TLM_REG_RUNS, 4) == 3);

    /* address errors; an error response annotates no delay */
    uint8_t buf[16];
    tlm::tlm_response_status st;
    in.read_reg(IPU_TLM_REGS_END, 4, &st);
    CHECK(ck, st == tlm::TLM_ADDRESS_ERROR_RESPONSE);
    CHECK(ck, in.last_delay == sc_core::SC_ZERO_TIME);
    in.read_reg(IPU_TLM_BUF_TABLE + 2 * IPU_TLM_BUF_TABLE_ENTRY_BYTES, 8, &st); /* past the table */
    CHECK(ck, st == tlm::TLM_ADDRESS_ERROR_RESPONSE);
    CHECK(ck, in.xfer(tlm::TLM_READ_COMMAND, in_base + kBufBytes, buf, 4) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
    CHECK(ck, in.xfer(tlm::TLM_WRITE_COMMAND, in_base + kBufBytes - 4, buf, 8) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
    CHECK(ck, in.xfer(tlm::TLM_READ_COMMAND, m.map_end(), buf, 1) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
    CHECK(ck, in.xfer(tlm::TLM_READ_COMMAND, UINT64_MAX - 3, buf, 8) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
    CHECK(ck, in.xfer(tlm::TLM_READ_COMMAND, out_base + kBufBytes - 4, buf, 4) == tlm::TLM_OK_RESPONSE);
    /* unsupported byte enables and streaming width */
    unsigned char be[4] = {0xff, 0, 0xff, 0};
    CHECK(ck, in.xfer(tlm::TLM_READ_COMMAND, out_base, buf, 4, be) == tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    CHECK(ck, in.xfer(tlm::TLM_WRITE_COMMAND, in_base, buf, 16, nullptr, 4) == tlm::TLM_BURST_ERROR_RESPONSE);
    /* registers other than CTRL are read-only; CTRL takes one whole word */
    CHECK(ck, in.write_reg(IPU_TLM_REG_STATUS, 0) == tlm::TLM_COMMAND_ERROR_RESPONSE);
    CHECK(ck, in.xfer(tlm::TLM_WRITE_COMMAND, IPU_TLM_REG_CTRL, buf, 8) == tlm::TLM_BURST_ERROR_RESPONSE);
    CHECK(ck, in.read_reg(IPU_TLM_REG_CTRL, 4) == 0);
    /* IGNORE: timed, no data */
    CHECK(ck, in.xfer(tlm::TLM_IGNORE_COMMAND, in_base, nullptr, 100) == tlm::TLM_OK_RESPONSE);
    CHECK(ck, in.last_delay == sc_time(1100, SC_NS));
    /* debug transport: clipped at a region's end, nothing past it, no side effects */
    CHECK(ck, in.dbg(tlm::TLM_READ_COMMAND, out_base + kBufBytes - 4, buf, 8) == 4);
    CHECK(ck, in.dbg(tlm::TLM_READ_COMMAND, out_base + kBufBytes, buf, 4) == 0);
    CHECK(ck, in.dbg(tlm::TLM_READ_COMMAND, IPU_TLM_REGS_END, buf, 4) == 0);
    CHECK(ck, in.dbg(tlm::TLM_READ_COMMAND, IPU_TLM_REG_STATUS, buf, 4) == 4 && buf[0] == IPU_TLM_STATUS_DONE);
    uint8_t start_word[4] = {IPU_TLM_CTRL_START, 0, 0, 0};
    CHECK(ck, in.dbg(tlm::TLM_WRITE_COMMAND, IPU_TLM_REG_CTRL, start_word, 4) == 0);
    CHECK(ck, !m.busy());
}

void scenario_functional(Checks &ck, Initiator &in, IpuSystemModule &m, uint64_t ref_cycles,
                         const std::vector<int32_t> &ref_out)
{
    check_register_map(ck, in, m);
    check_two_runs(ck, in, m, ref_cycles, ref_out);
    check_errors(ck, in, m, ref_cycles);
}

void scenario_timing(Checks &ck, Initiator &in, IpuSystemModule &m, const IpuArch &a, uint64_t ref_cycles)
{
    uint8_t buf[64] = {0};
    /* no data in timing mode */
    CHECK(ck, in.xfer(tlm::TLM_WRITE_COMMAND, m.buffer_base(0), buf, 64) == tlm::TLM_COMMAND_ERROR_RESPONSE);
    CHECK(ck, in.dbg(tlm::TLM_READ_COMMAND, m.buffer_base(0), buf, 64) == 0);
    CHECK(ck, in.xfer(tlm::TLM_IGNORE_COMMAND, m.buffer_base(0), nullptr, kBufBytes) == tlm::TLM_OK_RESPONSE);
    long double ps = (static_cast<long double>(kBufBytes) / a.host_link_bytes_per_s + IPU_TLM_HOST_LATENCY_S_DEFAULT) * 1e12L;
    CHECK(ck, in.last_delay == sc_time::from_value(static_cast<sc_dt::uint64>(std::llround(ps))));
    CHECK(ck, in.last_delay == sc_time(1016, SC_NS)); /* gc200: 64 GB/s */
    sc_time start = launch_and_wait(ck, in, m);
    CHECK(ck, m.run_cycles() == ref_cycles);
    CHECK(ck, m.run_steps() == 4);
    long double run_ps = static_cast<long double>(ref_cycles) * 1e12L / a.clock_hz;
    CHECK(ck, sc_core::sc_time_stamp() == start + sc_time::from_value(static_cast<sc_dt::uint64>(std::llround(run_ps))));
    CHECK(ck, in.read_reg(IPU_TLM_REG_STATUS, 4) == IPU_TLM_STATUS_DONE);
}

void scenario_fault(Checks &ck, Initiator &in, IpuSystemModule &m)
{
    for (int run = 1; run <= 2; run++) { /* the second run validates afresh and fails the same way */
        launch_and_wait(ck, in, m);
        CHECK(ck, m.failed());
        CHECK(ck, in.read_reg(IPU_TLM_REG_STATUS, 4) == IPU_TLM_STATUS_ERROR);
        CHECK(ck, in.read_reg(IPU_TLM_REG_RUNS, 4) == static_cast<uint64_t>(run));
        CHECK(ck, m.error_message().find("test fault") != std::string::npos);
        CHECK(ck, m.error_message().find("tile 2") != std::string::npos);
        CHECK(ck, in.read_reg(IPU_TLM_REG_RUN_STEPS, 8) == 1); /* the stream ran, the execute failed */
    }
}

/* A program that fails validation: engine_start's error, no step run. */
void scenario_invalid(Checks &ck, Initiator &in, IpuSystemModule &m)
{
    launch_and_wait(ck, in, m, false);
    CHECK(ck, m.failed());
    CHECK(ck, in.read_reg(IPU_TLM_REG_STATUS, 4) == IPU_TLM_STATUS_ERROR);
    CHECK(ck, m.run_steps() == 0 && m.run_cycles() == 0);
    CHECK(ck, m.error_message().find("nowhere") != std::string::npos);
}

IpuArch arch_or_die(const char *preset, Checks &ck)
{
    IpuArch a;
    IpuErr e;
    CHECK(ck, arch_preset(preset, &a, &e) == 0);
    return a;
}

} // namespace

int sc_main(int, char **)
{
    Checks ck;
    IpuErr e;
    /* A: exact clock and host link, so every time is whole picoseconds */
    IpuArch fa = arch_or_die("gc200", ck);
    CHECK(ck, arch_set(&fa, "clock_hz", "1.25e9", &e) == 0);
    CHECK(ck, arch_set(&fa, "host.bandwidth_bytes_per_s", "1e9", &e) == 0);
    /* B: gc200 as published, plus I/O tiles so the trailing store overlaps */
    IpuArch ta = arch_or_die("gc200", ck);
    CHECK(ck, arch_set(&ta, "stream.io_tiles", "32", &e) == 0);

    std::vector<int32_t> ref_out;
    uint64_t ref_f = reference_cycles(fa, GRAPH_FUNCTIONAL, false, &ref_out);
    uint64_t ref_t = reference_cycles(ta, GRAPH_TIMING, true, nullptr);
    CHECK(ck, ref_f > 0 && ref_t > 0 && ref_out.size() == kElems);
    /* the run must outlast two register reads so the initiators see BUSY */
    CHECK(ck, ref_f * 800 > 3 * 1004 * 1000);

    System sa, sb, sc, sd;
    bool built = build_system(sa, fa, GRAPH_FUNCTIONAL, false) && build_system(sb, ta, GRAPH_TIMING, false, true) &&
                 build_system(sc, fa, GRAPH_FUNCTIONAL, true) && build_system(sd, fa, GRAPH_FUNCTIONAL, false);
    /* D: a stream from a remote buffer that does not exist */
    int bad = built ? program_stream(sd.p, STREAM_TO_TILES, 0, "nowhere", -1, &e) : -1;
    built = built && bad >= 0 && program_stream_add(sd.p, bad, 99, 0, 0, 0, 4, &e) >= 0 &&
            program_append(sd.p, 0, bad, &e) >= 0;
    CHECK(ck, built);
    if (!built || ck.failed) {
        std::printf("%d passed, %d failed\n", ck.passed, ck.failed);
        return 1;
    }
    /* engine errors are expected in C: report them without throwing */
    sc_core::sc_report_handler::set_actions(IPU_TLM_MSG_TYPE, sc_core::SC_ERROR, sc_core::SC_DISPLAY);

    IpuSystemModule ma("ipu_a", sa.g, sa.p, 1e-6);
    IpuSystemModule mb("ipu_b", sb.g, sb.p);
    IpuSystemModule mc("ipu_c", sc.g, sc.p);
    IpuSystemModule md("ipu_d", sd.g, sd.p);
    Initiator ia("host_a", [&](Initiator &in) { scenario_functional(ck, in, ma, ref_f, ref_out); });
    Initiator ib("host_b", [&](Initiator &in) { scenario_timing(ck, in, mb, ta, ref_t); });
    Initiator ic("host_c", [&](Initiator &in) { scenario_fault(ck, in, mc); });
    Initiator id("host_d", [&](Initiator &in) { scenario_invalid(ck, in, md); });
    ia.socket.bind(ma.socket);
    ib.socket.bind(mb.socket);
    ic.socket.bind(mc.socket);
    id.socket.bind(md.socket);
    sc_core::sc_start();

    CHECK(ck, ia.finished && ib.finished && ic.finished && id.finished);
    std::printf("test_ipusim_tlm: functional run %" PRIu64 " cycles (%s at 1.25 GHz), timing run %" PRIu64
                " cycles on gc200\n",
                ref_f, sc_time::from_value(ref_f * 800).to_string().c_str(), ref_t);
    std::printf("%d passed, %d failed\n", ck.passed, ck.failed);
    return ck.failed ? 1 : 0;
}
