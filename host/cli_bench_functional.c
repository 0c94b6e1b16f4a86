/* cli_bench_functional.c - `ipusim bench functional`: host speed of a
 * functional GPT-J run (synthetic weights, KV cache, batch 1): setup time
 * (weights, lowering), wall time per decode step with the native codelets
 * (functional = fast) and, optionally, with the timed intrinsics, and peak
 * resident memory. A benchmark prints figures; it is not a test. */
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/cli.h"
#include "host/gptj_run.h"
#include "host/gptj_step.h"
#include "host/lower/lower.h"
#include "host/runcfg.h"
#include "codelets/q4mm.h"
#include "sim/engine.h"

typedef struct FuncBench {
    long steps, timed_steps;  /* decode steps with the native path, then with the timed one */
    double synth_s, lower_s, prefill_s;
    double *step_s;           /* (steps + timed_steps) wall time */
    double *step_cpu_s;       /* (steps + timed_steps) CPU time of all threads */
    uint64_t *step_cycles;    /* (steps + timed_steps) simulated cycles of each step */
    uint32_t *tokens;         /* (steps + timed_steps + 1) greedy tokens */
    double rss_after_lower_mib;
    uint64_t fused, executes;  /* Execute steps of the fast decode steps: run tile by tile with the one before, all */
    uint64_t skipped, vskipped; /* of those: Executes that computed the one before's dead writes, vertices skipped */
} FuncBench;

/* CPU time of the process (all threads), s. */
static double cpu_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Synthesises the weights, lowers (then frees the host copy: the graph holds
 * the packed weights), runs the prefill and the decode steps one by one. */
static int bench_run(const RunConfig *rc, const RunOptions *o, uint64_t seed, FuncBench *fb, IpuErr *err)
{
    GptjWeights w;
    memset(&w, 0, sizeof w);
    double t0 = cli_now_s();
    if (gptj_weights_synth_lazy(&w, &o->cfg, GPTJ_F16, seed, err))
        return -1;
    fb->synth_s = cli_now_s() - t0;
    t0 = cli_now_s();
    Lowered *L = NULL;
    int rv = lower_gptj(&rc->arch, o, &w, &L, err);
    fb->lower_s = cli_now_s() - t0;
    gptj_weights_free(&w);
    if (rv)
        return -1;
    fb->rss_after_lower_mib = cli_peak_rss_mib();
    Engine *e = engine_create(lower_graph(L), err);
    rv = e ? 0 : -1;
    if (e)
        engine_set_fusions(e, q4mm_fusions, q4mm_fusion_count);
    uint32_t *prompt = calloc(o->prompt_len, sizeof *prompt);
    if (!rv && !prompt)
        rv = ipu_err(err, "out of host memory");
    for (uint32_t i = 0; !rv && i < o->prompt_len; i++)
        prompt[i] = (uint32_t)((i * 53u + 7u) % (uint32_t)o->cfg.vocab_size);
    int last_root = -1;
    StepResult sr;
    t0 = cli_now_s();
    if (!rv)
        rv = lower_prepare_prefill(L, prompt, err) || gptj_run_step(e, L, 0, &last_root, 0, &sr, err) ||
                     lower_read_tokens(L, 0, &fb->tokens[0], err)
                 ? -1
                 : 0;
    fb->prefill_s = cli_now_s() - t0;
    for (long k = 0; !rv && k < fb->steps + fb->timed_steps; k++) {
        engine_set_native(e, k < fb->steps);
        Stats before = *engine_stats(e);
        t0 = cli_now_s();
        double c0 = cpu_now_s();
        rv = lower_prepare_decode(L, o->prompt_len + (uint32_t)k, &fb->tokens[k], err) ||
                     gptj_run_step(e, L, 1, &last_root, 0, &sr, err) || lower_read_tokens(L, 1, &fb->tokens[k + 1], err)
                 ? -1
                 : 0;
        fb->step_s[k] = cli_now_s() - t0;
        fb->step_cpu_s[k] = cpu_now_s() - c0;
        fb->step_cycles[k] = sr.cycles;
        if (!rv && k == 0) {
            fb->fused = engine_stats(e)->executes_fused - before.executes_fused;
            fb->executes = engine_stats(e)->supersteps - before.supersteps;
            fb->skipped = engine_stats(e)->executes_skipped - before.executes_skipped;
            fb->vskipped = engine_stats(e)->vertices_skipped - before.vertices_skipped;
        }
    }
    free(prompt);
    engine_destroy(e);
    lower_destroy(L);
    return rv;
}

int cli_bench_functional(int argc, char **argv)
{
    CliOpt opts[] = {
        {"config", 1, "model preset or config.json (default gptj-6b)", 0, {0}},
        {"arch", 1, "arch preset (default pod4, as ipusim compare)", 0, {0}},
        {"format", 1, "weight format (default q4g:64)", 0, {0}},
        {"prompt", 1, "prompt tokens (default 4)", 0, {0}},
        {"steps", 1, "decode steps timed with functional = fast (default 3)", 0, {0}},
        {"timed-steps", 1, "decode steps then timed with functional = timed (default 0)", 0, {0}},
        {"threads", 1, "OpenMP threads (default 2)", 0, {0}},
        {"seed", 1, "synthetic weight seed (default 1)", 0, {0}},
        {"set", 1, "key=value: any run key (ipusim run --keys), repeatable", 0, {0}},
        {"help", 0, "this help", 0, {0}},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    if (cli_parse("bench functional", argc, argv, opts, n, pos, 0, &npos))
        return 2;
    if (opts[9].count) {
        printf("usage: ipusim bench functional [options]\n");
        cli_print_options(stdout, opts, n);
        return 0;
    }
    long prompt, steps, timed, threads, seed;
    if (cli_long("bench functional", "prompt", cli_value(&opts[3], "4"), 1, 2048, &prompt) ||
        cli_long("bench functional", "steps", cli_value(&opts[4], "3"), 0, 1000, &steps) ||
        cli_long("bench functional", "timed-steps", cli_value(&opts[5], "0"), 0, 1000, &timed) ||
        cli_long("bench functional", "threads", cli_value(&opts[6], "2"), 1, 1024, &threads) ||
        cli_long("bench functional", "seed", cli_value(&opts[7], "1"), 0, LONG_MAX, &seed))
        return 2;
    omp_set_num_threads((int)threads);
    RunConfig *rc = malloc(sizeof *rc);
    FuncBench fb = {.steps = steps, .timed_steps = timed};
    fb.step_s = calloc((size_t)(steps + timed + 1), sizeof *fb.step_s);
    fb.step_cpu_s = calloc((size_t)(steps + timed + 1), sizeof *fb.step_cpu_s);
    fb.step_cycles = calloc((size_t)(steps + timed + 1), sizeof *fb.step_cycles);
    fb.tokens = calloc((size_t)(steps + timed + 1), sizeof *fb.tokens);
    if (!rc || !fb.step_s || !fb.step_cpu_s || !fb.step_cycles || !fb.tokens) {
        free(rc), free(fb.step_s), free(fb.step_cpu_s), free(fb.step_cycles), free(fb.tokens);
        fprintf(stderr, "ipusim bench functional: out of host memory\n");
        return 1;
    }
    IpuErr err;
    int status = 1;
    char kv[6][1100];
    snprintf(kv[0], sizeof kv[0], "model=%s", cli_value(&opts[0], "gptj-6b"));
    snprintf(kv[1], sizeof kv[1], "arch=%s", cli_value(&opts[1], "pod4"));
    snprintf(kv[2], sizeof kv[2], "formats=%s", cli_value(&opts[2], "q4g:64"));
    snprintf(kv[3], sizeof kv[3], "prompt_len=%ld", prompt);
    snprintf(kv[4], sizeof kv[4], "gen_tokens=%ld", steps + timed + 1);
    snprintf(kv[5], sizeof kv[5], "weights=synthetic");
    runcfg_init(rc);
    for (int i = 0; i < 6; i++)
        if (runcfg_set_kv(rc, kv[i], "bench", &err))
            goto fail;
    if (runcfg_set_kv(rc, "kv_cache=on", "bench", &err) || runcfg_set_kv(rc, "batch=1", "bench", &err))
        goto fail;
    for (int i = 0; i < opts[8].count; i++)
        if (runcfg_set_kv(rc, opts[8].values[i], "--set", &err))
            goto fail;
    if (runcfg_finish(rc, &err))
        goto fail;
    RunOptions o;
    if (runcfg_options(rc, 0, &o, &err))
        goto fail;
    if (bench_run(rc, &o, (uint64_t)seed, &fb, &err))
        goto fail;
    printf("functional %s on %s (%u chips), %s, KV cache, batch %u, prompt %u, %ld OpenMP threads (host wall time):\n",
           rc->model, rc->arch_name, rc->chips_used, rc->formats, o.batch, o.prompt_len, threads);
    printf("  synthetic weights (fp16 host copy)  %10.1f ms\n", 1e3 * fb.synth_s);
    printf("  lower + pack weights into the graph %10.1f ms\n", 1e3 * fb.lower_s);
    printf("  prefill (%u tokens, fast)           %10.1f ms\n", o.prompt_len, 1e3 * fb.prefill_s);
    double fast_sum = 0, timed_sum = 0;
    for (long k = 0; k < steps + timed; k++) {
        printf("  decode step %-3ld (%s)              %10.1f ms  (cpu %8.1f ms)  %12llu cycles  token %u\n", k + 1,
               k < steps ? "fast " : "timed", 1e3 * fb.step_s[k], 1e3 * fb.step_cpu_s[k],
               (unsigned long long)fb.step_cycles[k], fb.tokens[k + 1]);
        if (k < steps)
            fast_sum += fb.step_s[k];
        else
            timed_sum += fb.step_s[k];
    }
    if (steps)
        printf("  mean decode step, fast              %10.1f ms/token\n", 1e3 * fast_sum / (double)steps);
    if (timed)
        printf("  mean decode step, timed             %10.1f ms/token\n", 1e3 * timed_sum / (double)timed);
    if (steps && timed)
        printf("  speedup fast vs timed               %10.2f x\n", (timed_sum / (double)timed) / (fast_sum / (double)steps));
    if (steps)
        printf("  steps run tile by tile with the Execute before them: %llu of %llu leaf steps per decode step\n",
               (unsigned long long)fb.fused, (unsigned long long)fb.executes);
    if (steps)
        printf("  dead writes skipped: %llu Executes computed the one before's outputs, %llu vertices not run\n",
               (unsigned long long)fb.skipped, (unsigned long long)fb.vskipped);
    printf("  peak RSS after lowering             %10.0f MiB\n", fb.rss_after_lower_mib);
    printf("  peak RSS                            %10.0f MiB\n", cli_peak_rss_mib());
    status = 0;
    goto done;
fail:
    fprintf(stderr, "ipusim bench functional: %s\n", err.msg);
done:
    free(rc), free(fb.step_s), free(fb.step_cpu_s), free(fb.step_cycles), free(fb.tokens);
    return status;
}
