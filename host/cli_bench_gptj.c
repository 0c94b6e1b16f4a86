/* cli_bench_gptj.c - `ipusim bench gptj`: host wall time of the GPT-J
 * simulation itself (not a simulated figure). Times lowering GPT-J 6B on 16
 * chips, one simulated decode step there (timing mode), and the Graphcore
 * scenario's formats end to end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli.h"
#include "host/gptj_run.h"
#include "host/gptj_step.h"
#include "host/lower/lower.h"
#include "host/runcfg.h"
#include "sim/engine.h"

/* Wall seconds of gptj_run for format fi of rc with gen tokens; cycles out. */
static int timed_run(const RunConfig *rc, int fi, double *wall_s, uint64_t *decode_cycles, IpuErr *err)
{
    RunOptions o;
    if (runcfg_options(rc, fi, &o, err))
        return -1;
    RunResult res;
    memset(&res, 0, sizeof res);
    double t0 = cli_now_s();
    int rv = gptj_run(&rc->arch, &o, NULL, NULL, NULL, &res, err);
    *wall_s = cli_now_s() - t0;
    if (!rv && decode_cycles)
        *decode_cycles = res.ndecode ? res.decode[0].cycles : 0;
    run_result_free(&res);
    return rv;
}

static int configure(RunConfig *rc, const char *scenario, const char *const *sets, int nsets, IpuErr *err)
{
    runcfg_init(rc);
    if (scenario && runcfg_load_file(rc, scenario, err))
        return -1;
    for (int i = 0; i < nsets; i++)
        if (runcfg_set_kv(rc, sets[i], "bench", err))
            return -1;
    return runcfg_finish(rc, err);
}

/* Lowers, runs the prefill, then times decode steps one by one on the engine
 * (the first pays for measuring each new vertex shape once). */
static int decode_steps(const RunConfig *rc, const RunOptions *o, IpuErr *err)
{
    double t0 = cli_now_s();
    Lowered *L = NULL;
    if (lower_gptj(&rc->arch, o, NULL, &L, err))
        return -1;
    double lower_s = cli_now_s() - t0;
    Engine *e = engine_create(lower_graph(L), err);
    int rv = e ? 0 : -1;
    int last_root = -1;
    StepResult sr;
    t0 = cli_now_s();
    if (!rv)
        rv = lower_prepare_prefill(L, NULL, err) || gptj_run_step(e, L, 0, &last_root, 1, &sr, err) ? -1 : 0;
    double prefill_s = cli_now_s() - t0;
    enum { STEPS = 4 };
    double step_s[STEPS] = {0};
    uint64_t cycles = 0;
    for (int k = 0; !rv && k < STEPS; k++) {
        t0 = cli_now_s();
        rv = lower_prepare_decode(L, o->prompt_len + (uint32_t)k, NULL, err) ||
                     gptj_run_step(e, L, 1, &last_root, 1, &sr, err)
                 ? -1
                 : 0;
        step_s[k] = cli_now_s() - t0;
        cycles = sr.cycles;
    }
    engine_destroy(e);
    lower_destroy(L);
    if (rv)
        return -1;
    printf("GPT-J 6B, %s (%u chips), %s, KV cache, batch %u, prompt %u, timing mode (host wall time):\n", rc->arch_name,
           rc->chips_used, rc->formats, rc->batch, rc->prompt_len);
    printf("  lower (graph + programs)     %9.1f ms\n", 1e3 * lower_s);
    printf("  simulate the prefill         %9.1f ms\n", 1e3 * prefill_s);
    for (int k = 0; k < STEPS; k++)
        printf("  simulate decode step %d       %9.1f ms%s\n", k + 1, 1e3 * step_s[k],
               k == 0 ? "  (measures new vertex shapes)" : k == STEPS - 1 ? "  (target < 50 ms)" : "");
    printf("  simulated decode step        %9llu cycles\n", (unsigned long long)cycles);
    return 0;
}

enum { O_SCENARIO, O_HELP, O_COUNT };

/* The options of bench gptj (copied: cli_parse fills count and values). */
static const CliOpt gptj_opts[] = {
    [O_SCENARIO] = {"scenario", 1, "the multi-format scenario to time (default scenarios/graphcore-mnli.conf under "
                                   "IPUSIM_SOURCE_DIR or .)", 0, {0}},
    [O_HELP] = {"help", 0, "this help", 0, {0}},
};
_Static_assert(sizeof gptj_opts / sizeof *gptj_opts == O_COUNT, "one entry per option");

int cli_bench_gptj(int argc, char **argv)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, gptj_opts, sizeof opts);
    const char *pos[1];
    int npos;
    if (cli_parse("bench gptj", argc, argv, opts, O_COUNT, pos, 0, &npos))
        return 2;
    if (opts[O_HELP].count) {
        printf("usage: ipusim bench gptj [--scenario FILE]\n");
        cli_print_options(stdout, opts, O_COUNT);
        return 0;
    }
    char scen[1100];
    const char *root = getenv("IPUSIM_SOURCE_DIR");
    snprintf(scen, sizeof scen, "%s/scenarios/graphcore-mnli.conf", root ? root : ".");
    const char *scenario = cli_value(&opts[O_SCENARIO], scen);
    RunConfig *rc = malloc(sizeof *rc);
    if (!rc)
        return 1;
    IpuErr err;
    int status = 1;
    /* 6B, 16 chips, KV cache on: a decode step is one token per sequence */
    const char *sets[] = {"model=gptj-6b", "arch=pod16", "formats=q4g:64", "kv_cache=on", "batch=1",
                          "prompt_len=512", "gen_tokens=1"};
    if (configure(rc, NULL, sets, 7, &err))
        goto fail;
    RunOptions o;
    if (runcfg_options(rc, 0, &o, &err))
        goto fail;
    if (decode_steps(rc, &o, &err))
        goto fail;
    if (configure(rc, scenario, NULL, 0, &err))
        goto fail;
    double total = 0;
    printf("%s (%d formats):\n", scenario, rc->nformats);
    for (int i = 0; i < rc->nformats; i++) {
        double w;
        if (timed_run(rc, i, &w, NULL, &err))
            goto fail;
        char spec[32];
        quant_spec_format(&rc->specs[i], spec, sizeof spec);
        printf("  %-8s %8.1f ms wall\n", spec, 1e3 * w);
        total += w;
    }
    printf("  all      %8.1f ms wall (target: a few seconds)\n", 1e3 * total);
    status = 0;
    goto done;
fail:
    fprintf(stderr, "ipusim bench gptj: %s\n", err.msg);
done:
    free(rc);
    return status;
}
