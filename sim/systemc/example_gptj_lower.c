/* example_gptj_lower.c - the ipusim side of example_gptj_decode.cpp: GPT-J
 * lowered onto a machine in timing mode and prepared for one decode step,
 * so a SystemC platform can run that step through IpuSystemModule. Plain C
 * (the lowering's headers are C11), called from C++ through
 * example_gptj_lower.h. */
#include "sim/systemc/example_gptj_lower.h"

#include <stdio.h>
#include <string.h>

#include "host/lower/lower.h"
#include "models/quant.h"

struct ExampleGptj {
    IpuArch arch;
    Lowered *L;
};

static int fail(char *msg, size_t cap, const char *what, const IpuErr *e)
{
    snprintf(msg, cap, "%s: %s", what, e->msg);
    return -1;
}

int example_gptj_decode_step(const char *model, const char *arch, const char *format, uint32_t prompt_len,
                             ExampleGptj **out, char *msg, size_t cap)
{
    static ExampleGptj ex;
    IpuErr e;
    RunOptions o;
    memset(&o, 0, sizeof o);
    *out = NULL;
    if (arch_preset(arch, &ex.arch, &e))
        return fail(msg, cap, "arch", &e);
    if (gptj_config_preset(&o.cfg, model, &e) || quant_spec_parse(format, &o.weights, &e))
        return fail(msg, cap, "model", &e);
    quant_policy_graphcore(&o.policy, &o.weights);
    o.placement = PLACE_STREAM, o.kv_cache = 1, o.partials = LAYER_F16, o.chips = ex.arch.chips;
    o.batch = 1, o.prompt_len = prompt_len, o.gen_tokens = 2;
    if (lower_gptj(&ex.arch, &o, NULL, &ex.L, &e))
        return fail(msg, cap, "lowering", &e);
    /* the decode step of position prompt_len: the program's root is now that step graph */
    if (lower_prepare_decode(ex.L, prompt_len, NULL, &e)) {
        lower_destroy(ex.L);
        return fail(msg, cap, "decode step", &e);
    }
    *out = &ex;
    return 0;
}

Graph *example_gptj_graph(ExampleGptj *ex) { return lower_graph(ex->L); }
const Program *example_gptj_program(ExampleGptj *ex) { return lower_program(ex->L); }

int example_gptj_engine_cycles(ExampleGptj *ex, uint64_t *cycles, char *msg, size_t cap)
{
    IpuErr e;
    Engine *en = engine_create(lower_graph(ex->L), &e);
    if (!en)
        return fail(msg, cap, "engine", &e);
    int rc = engine_run(en, lower_program(ex->L), &e);
    if (!rc)
        *cycles = engine_stats(en)->cycles_total;
    engine_destroy(en);
    return rc ? fail(msg, cap, "engine run", &e) : 0;
}

void example_gptj_destroy(ExampleGptj *ex)
{
    if (ex)
        lower_destroy(ex->L), ex->L = NULL;
}
