/* example_gptj_decode.cpp - a virtual platform's sc_main: one GPT-J decode
 * step run through ipusim's TLM-2.0 target (docs/systemc.md, "Example").
 *
 * A host CPU model (an initiator with a blocking socket) checks the
 * target's ID register, writes START, waits for the run to end and reads
 * the status and cycle registers. The step comes from ipusim's lowering in
 * timing mode (example_gptj_lower.c): GPT-J on a machine preset, weights
 * streamed layer by layer, a KV cache of the prompt. SystemC time advances
 * by the step's cycles at the arch clock plus the host link's delays.
 *
 * usage: example_gptj_decode [model [arch [format [prompt_len]]]]
 *        (default gptj-6b pod4 q4g:64 128)
 * Prints the step; exits 1 if the run failed or its cycles differ from a
 * plain engine run of the same program.
 */
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <tlm_utils/simple_initiator_socket.h>

#include "sim/systemc/example_gptj_lower.h"
#include "sim/systemc/ipusim_tlm.h"

using namespace sc_core;

/* The host CPU model: a few register accesses over the socket. */
struct Host : sc_module {
    tlm_utils::simple_initiator_socket<Host> socket;
    const IpuSystemModule *ipu = nullptr;
    bool ok = false;
    uint64_t cycles = 0;
    sc_time started, ended;

    SC_HAS_PROCESS(Host);
    explicit Host(sc_module_name name) : sc_module(name), socket("socket") { SC_THREAD(run); }

    bool access(tlm::tlm_command cmd, uint64_t addr, void *data, unsigned len)
    {
        tlm::tlm_generic_payload tr;
        sc_time delay = SC_ZERO_TIME;
        tr.set_command(cmd);
        tr.set_address(addr);
        tr.set_data_ptr(static_cast<unsigned char *>(data));
        tr.set_data_length(len);
        tr.set_streaming_width(len);
        tr.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        socket->b_transport(tr, delay);
        wait(delay); /* no temporal decoupling: the host waits out each access */
        return tr.is_response_ok();
    }

    void run()
    {
        uint32_t id = 0, start = IPU_TLM_CTRL_START, status = 0;
        if (!access(tlm::TLM_READ_COMMAND, IPU_TLM_REG_ID, &id, 4) || id != IPU_TLM_ID) {
            std::printf("no ipusim target on the socket\n");
            return;
        }
        started = sc_time_stamp();
        access(tlm::TLM_WRITE_COMMAND, IPU_TLM_REG_CTRL, &start, 4);
        wait(ipu->done_event());
        ended = sc_time_stamp();
        access(tlm::TLM_READ_COMMAND, IPU_TLM_REG_STATUS, &status, 4);
        access(tlm::TLM_READ_COMMAND, IPU_TLM_REG_RUN_CYCLES, &cycles, 8);
        ok = (status & IPU_TLM_STATUS_DONE) != 0;
    }
};

int sc_main(int argc, char **argv)
{
    const char *model = argc > 1 ? argv[1] : "gptj-6b", *arch = argc > 2 ? argv[2] : "pod4";
    const char *format = argc > 3 ? argv[3] : "q4g:64";
    uint32_t prompt = argc > 4 ? static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10)) : 128;
    char msg[512];
    ExampleGptj *ex = nullptr;
    if (example_gptj_decode_step(model, arch, format, prompt, &ex, msg, sizeof msg)) {
        std::fprintf(stderr, "example_gptj_decode: %s\n", msg);
        return 1;
    }
    uint64_t want = 0;
    if (example_gptj_engine_cycles(ex, &want, msg, sizeof msg)) {
        std::fprintf(stderr, "example_gptj_decode: %s\n", msg);
        example_gptj_destroy(ex);
        return 1;
    }
    int rc = 1;
    {
        IpuSystemModule ipu("ipu", example_gptj_graph(ex), example_gptj_program(ex));
        Host host("host");
        host.ipu = &ipu;
        host.socket.bind(ipu.socket);
        sc_start();
        double ms = (host.ended - host.started).to_seconds() * 1e3;
        std::printf("%s on %s, %s, decode step at position %u: %s, %" PRIu64 " cycles, %.3f ms of SystemC time "
                    "from START to done (engine alone: %" PRIu64 " cycles)\n",
                    model, arch, format, prompt, host.ok ? "done" : "FAILED", host.cycles, ms, want);
        rc = host.ok && host.cycles == want ? 0 : 1;
    }
    example_gptj_destroy(ex);
    return rc;
}
