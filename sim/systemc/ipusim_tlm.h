/* ipusim_tlm.h - the simulated IPU system as a SystemC / TLM-2.0 target.
 *
 * IpuSystemModule is an sc_module that owns an Engine over a Graph and a
 * Program it is given (both borrowed; they must outlive the module and not
 * change while it exists). Its SC_THREAD runs the program one leaf step at a
 * time when an initiator writes START to the control register, and advances
 * SystemC time to run_start + (engine cycles of the run so far) / clock_hz,
 * so the end of a run lands exactly on cycles_to_time(run cycles) after its
 * start (no drift from per-step rounding). done_event() fires when a run ends
 * (successfully or not). Engine errors go through SC_REPORT_ERROR with
 * message type IPU_TLM_MSG_TYPE and the engine's message, and set the
 * status register's ERROR bit.
 *
 * The `socket` target gives an initiator (a host CPU model) the control
 * registers and every remote buffer of the graph as one flat address map
 * (docs/systemc.md; constants below). Buffer data goes through the graph's
 * backdoor (functional mode only). b_transport annotates the delay
 * host_transfer_time(bytes) = bytes / arch host_link_bytes_per_s +
 * host_latency_s; transport_dbg moves data without delay or side effects.
 * Unmapped or out-of-range addresses get TLM_ADDRESS_ERROR_RESPONSE, byte
 * enables TLM_BYTE_ENABLE_ERROR_RESPONSE, a streaming width below the data
 * length TLM_BURST_ERROR_RESPONSE (IEEE 1666-2011 14.17).
 *
 * Not here: DMI, the non-blocking transport interface, host link contention
 * between concurrent initiators, any SystemC in sim/ (this wrapper includes
 * only sim's public headers, in ipusim_tlm.cpp). Code that includes sim's C
 * headers from C++ must compile with -fno-operator-names (IsaCosts has
 * fields named `and`, `or`) and see sim/systemc/sim_c_api.h (the shim).
 */
#ifndef IPUSIM_SYSTEMC_IPUSIM_TLM_H
#define IPUSIM_SYSTEMC_IPUSIM_TLM_H

#include <cstdint>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_target_socket.h>

struct Graph;
struct Program;
struct Engine;

/* The address map. Registers are little-endian; 64-bit ones may be read
 * whole or as two 32-bit halves (any byte range inside a register works). */
constexpr uint64_t IPU_TLM_REG_ID = 0x00; /* RO u32: IPU_TLM_ID */
constexpr uint64_t IPU_TLM_REG_CTRL = 0x04; /* WO u32: write IPU_TLM_CTRL_START to launch a run; reads 0 */
constexpr uint64_t IPU_TLM_REG_STATUS = 0x08; /* RO u32: IPU_TLM_STATUS_* bits */
constexpr uint64_t IPU_TLM_REG_NUM_BUFFERS = 0x0c; /* RO u32: remote buffers mapped */
constexpr uint64_t IPU_TLM_REG_RUN_CYCLES = 0x10; /* RO u64: engine cycles of the current or last run */
constexpr uint64_t IPU_TLM_REG_RUN_STEPS = 0x18; /* RO u64: leaf steps of the current or last run */
constexpr uint64_t IPU_TLM_REG_RUNS = 0x20; /* RO u32: runs finished (ok or failed) */
constexpr uint64_t IPU_TLM_REG_CLOCK_KHZ = 0x24; /* RO u32: arch clock_hz / 1000, rounded */
constexpr uint64_t IPU_TLM_REG_TOTAL_CYCLES = 0x28; /* RO u64: engine cycles since the module was built */
constexpr uint64_t IPU_TLM_REGS_END = 0x30; /* [0x30, 0x100) is unmapped */
constexpr uint64_t IPU_TLM_BUF_TABLE = 0x100; /* RO: per buffer id i, at 0x100 + 16 i: u64 base, u64 bytes */
constexpr uint64_t IPU_TLM_BUF_TABLE_ENTRY_BYTES = 16;
constexpr uint64_t IPU_TLM_PAGE_BYTES = 0x1000; /* the register block and every buffer base are page aligned */
constexpr uint32_t IPU_TLM_ID = 0x49505553u; /* "IPUS" */
constexpr uint32_t IPU_TLM_CTRL_START = 1u;
constexpr uint32_t IPU_TLM_STATUS_BUSY = 1u; /* a run was accepted and has not finished */
constexpr uint32_t IPU_TLM_STATUS_DONE = 2u; /* the last run finished without error */
constexpr uint32_t IPU_TLM_STATUS_ERROR = 4u; /* the last run failed (error_message()) */

#define IPU_TLM_MSG_TYPE "ipusim/tlm"

/* Assumption (no public figure in docs/reference/ipu-figures.md): fixed cost of one host
 * transaction over PCIe to the IPU system, on top of bytes / host link
 * bandwidth; the order of a PCIe Gen4 round trip. docs/systemc.md. */
constexpr double IPU_TLM_HOST_LATENCY_S_DEFAULT = 1e-6;

class IpuSystemModule : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<IpuSystemModule> socket;

    SC_HAS_PROCESS(IpuSystemModule);
    /* g and p are borrowed. The address map is fixed here from g's remote
     * buffers. Errors (no host memory) are reported with SC_REPORT_ERROR. */
    IpuSystemModule(sc_core::sc_module_name name, Graph *g, const Program *p,
                    double host_latency_s = IPU_TLM_HOST_LATENCY_S_DEFAULT);
    ~IpuSystemModule() override;
    IpuSystemModule(const IpuSystemModule &) = delete;
    IpuSystemModule &operator=(const IpuSystemModule &) = delete;

    const sc_core::sc_event &done_event() const { return done_ev_; }
    bool busy() const { return busy_; }
    bool failed() const { return failed_; }
    const std::string &error_message() const { return error_; }
    uint64_t run_cycles() const;   /* engine cycles of the current or last run */
    uint64_t run_steps() const { return run_steps_; }
    uint64_t total_steps() const { return total_steps_; }
    uint32_t runs() const { return runs_; }
    uint64_t engine_cycles() const; /* since construction */
    Engine *engine() { return engine_; } /* for stats (sim/engine.h) */

    /* The address map: base and size of remote buffer id, and one past the
     * highest mapped address. */
    uint64_t buffer_base(int id) const { return bufs_.at(static_cast<size_t>(id)).base; }
    uint64_t buffer_bytes(int id) const { return bufs_.at(static_cast<size_t>(id)).bytes; }
    uint64_t register_block_bytes() const { return reg_block_bytes_; }
    uint64_t map_end() const { return map_end_; }

    /* cycles at the arch clock as SystemC time, rounded to the nearest
     * time-resolution unit. */
    sc_core::sc_time cycles_to_time(uint64_t cycles) const;
    /* The delay b_transport annotates for a transaction of bytes. */
    sc_core::sc_time host_transfer_time(uint64_t bytes) const;

private:
    struct MappedBuffer {
        uint64_t base, bytes;
        int id;
    };
    enum class Region { None, Registers, Buffer };

    void run_thread();
    void run_once();
    void wait_engine_time();
    void fail(const char *msg);
    Region decode(uint64_t addr, uint64_t len, const MappedBuffer **buf) const;
    uint8_t *buffer_data(const MappedBuffer &b) const;
    void register_image(uint8_t *img) const;
    void read_registers(uint64_t addr, uint8_t *dst, uint64_t n) const;
    void b_transport(tlm::tlm_generic_payload &tx, sc_core::sc_time &delay);
    unsigned int transport_dbg(tlm::tlm_generic_payload &tx);

    Graph *g_;
    const Program *prog_;
    Engine *engine_ = nullptr;
    double clock_hz_, host_bytes_per_s_, host_latency_s_;
    std::vector<MappedBuffer> bufs_; /* sorted by base = by id */
    uint64_t reg_block_bytes_ = 0, map_end_ = 0;

    sc_core::sc_event start_ev_, done_ev_;
    bool busy_ = false, running_ = false, failed_ = false, done_ = false, need_start_ = true;
    std::string error_;
    sc_core::sc_time run_start_time_;
    uint64_t run_start_cycles_ = 0, run_end_cycles_ = 0;
    uint64_t run_steps_ = 0, total_steps_ = 0;
    uint32_t runs_ = 0;
};

#endif
