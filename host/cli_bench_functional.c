/* cli_bench_functional.c - `ipusim bench functional`: host speed of a
 * functional GPT-J run (synthetic weights, KV cache, batch 1), in one run:
 * setup (the weights, made on demand while the lowering packs them
 * straight into their formats; the lowering), the first token's time from
 * the start, wall and CPU time per decode step with the native codelets
 * and fast paths (functional = fast) and then with the timed intrinsics,
 * what the fast paths did, and peak resident memory against the packed
 * weights. A benchmark prints figures; it is not a test. */
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codelets/q4mm.h"
#include "host/cli.h"
#include "host/gptj_run.h"
#include "host/gptj_step.h"
#include "host/lower/lower.h"
#include "host/runcfg.h"
#include "sim/engine.h"

typedef struct Phase {
    double wall_s, cpu_s;     /* cpu: every thread of the process */
} Phase;

typedef struct FuncBench {
    long steps, timed_steps;  /* decode steps with the native path, then with the timed one */
    double start_s;           /* cli_now_s() when the bench began */
    Phase synth, lower, prefill;
    double first_token_s;     /* from start_s to the prefill's token */
    Phase *step;              /* (steps + timed_steps) */
    uint64_t *step_cycles;    /* (steps + timed_steps) simulated cycles of each step */
    uint32_t *tokens;         /* (steps + timed_steps + 1) greedy tokens */
    double rss_after_lower_mib;
    uint64_t weight_bytes;    /* the packed weights, all chips */
    Stats fast;               /* the engine's counters over the first fast decode step */
} FuncBench;

/* CPU time of the process (all threads), s. */
static double cpu_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void phase_begin(Phase *p)
{
    p->wall_s = -cli_now_s();
    p->cpu_s = -cpu_now_s();
}

static void phase_end(Phase *p)
{
    p->wall_s += cli_now_s();
    p->cpu_s += cpu_now_s();
}

/* The prefill and the decode steps on an engine for L. */
static int run_steps(Lowered *L, const RunOptions *o, FuncBench *fb, IpuErr *err)
{
    Engine *e = engine_create(lower_graph(L), err);
    if (!e)
        return -1;
    engine_set_fusions(e, q4mm_fusions, q4mm_fusion_count);
    uint32_t *prompt = calloc(o->prompt_len, sizeof *prompt);
    int rv = prompt ? 0 : ipu_err(err, "out of host memory");
    for (uint32_t i = 0; !rv && i < o->prompt_len; i++)
        prompt[i] = (uint32_t)((i * 53u + 7u) % (uint32_t)o->cfg.vocab_size);
    int last_root = -1;
    StepResult sr;
    phase_begin(&fb->prefill);
    if (!rv)
        rv = lower_prepare_prefill(L, prompt, err) || gptj_run_step(e, L, 0, &last_root, 0, &sr, err) ||
                     lower_read_tokens(L, 0, &fb->tokens[0], err)
                 ? -1
                 : 0;
    phase_end(&fb->prefill);
    fb->first_token_s = cli_now_s() - fb->start_s;
    for (long k = 0; !rv && k < fb->steps + fb->timed_steps; k++) {
        engine_set_native(e, k < fb->steps);
        Stats before = *engine_stats(e);
        phase_begin(&fb->step[k]);
        rv = lower_prepare_decode(L, o->prompt_len + (uint32_t)k, &fb->tokens[k], err) ||
                     gptj_run_step(e, L, 1, &last_root, 0, &sr, err) || lower_read_tokens(L, 1, &fb->tokens[k + 1], err)
                 ? -1
                 : 0;
        phase_end(&fb->step[k]);
        fb->step_cycles[k] = sr.cycles;
        if (!rv && k == 0) {
            const Stats *a = engine_stats(e);
#define STATS_DIFF(field, unit, doc) fb->fast.field = a->field - before.field;
            STATS_FIELDS(STATS_DIFF)
#undef STATS_DIFF
        }
    }
    free(prompt);
    engine_destroy(e);
    return rv;
}

/* Makes the weights (lazy: their matrices are made while the lowering
 * packs them), lowers, runs. */
static int bench_run(const RunConfig *rc, const RunOptions *o, uint64_t seed, FuncBench *fb, IpuErr *err)
{
    GptjWeights w;
    memset(&w, 0, sizeof w);
    phase_begin(&fb->synth);
    if (gptj_weights_synth_lazy(&w, &o->cfg, GPTJ_F16, seed, err))
        return -1;
    phase_end(&fb->synth);
    Lowered *L = NULL;
    phase_begin(&fb->lower);
    int rv = lower_gptj(&rc->arch, o, &w, &L, err);
    phase_end(&fb->lower);
    gptj_weights_free(&w);
    if (rv)
        return -1;
    fb->rss_after_lower_mib = cli_peak_rss_mib();
    fb->weight_bytes = lower_weight_bytes(L);
    rv = run_steps(L, o, fb, err);
    lower_destroy(L);
    return rv;
}

static void print_phase(const char *what, const Phase *p)
{
    printf("  %-44s %10.1f ms  (cpu %10.1f ms)\n", what, 1e3 * p->wall_s, 1e3 * p->cpu_s);
}

static void print_figures(const RunConfig *rc, const RunOptions *o, long threads, const FuncBench *fb)
{
    long steps = fb->steps, timed = fb->timed_steps;
    printf("functional %s on %s (%u chips), %s, KV cache, batch %u, prompt %u, %ld OpenMP threads "
           "(host wall time; cpu: all threads):\n",
           rc->model, rc->arch_name, rc->chips_used, rc->formats, o->batch, o->prompt_len, threads);
    print_phase("setup: synthetic weights (gains, biases)", &fb->synth);
    print_phase("setup: lower + make and pack the matrices", &fb->lower);
    char what[64];
    snprintf(what, sizeof what, "prefill (%u tokens, fast)", o->prompt_len);
    print_phase(what, &fb->prefill);
    printf("  %-44s %10.1f s\n", "first token, from the start", fb->first_token_s);
    double sum[2] = {0, 0}, cpu[2] = {0, 0};
    for (long k = 0; k < steps + timed; k++) {
        printf("  decode step %-3ld (%s)  %21.1f ms  (cpu %10.1f ms)  %12llu cycles  token %u\n", k + 1,
               k < steps ? "fast " : "timed", 1e3 * fb->step[k].wall_s, 1e3 * fb->step[k].cpu_s,
               (unsigned long long)fb->step_cycles[k], fb->tokens[k + 1]);
        sum[k >= steps] += fb->step[k].wall_s, cpu[k >= steps] += fb->step[k].cpu_s;
    }
    if (steps)
        printf("  %-44s %10.1f ms/token  (cpu %8.1f ms)\n", "mean decode step, fast", 1e3 * sum[0] / (double)steps,
               1e3 * cpu[0] / (double)steps);
    if (timed)
        printf("  %-44s %10.1f ms/token  (cpu %8.1f ms)\n", "mean decode step, timed", 1e3 * sum[1] / (double)timed,
               1e3 * cpu[1] / (double)timed);
    if (steps && timed)
        printf("  %-44s %10.2f x\n", "speedup fast vs timed", (sum[1] / (double)timed) / (sum[0] / (double)steps));
    if (steps) {
        const Stats *f = &fb->fast;
        printf("  fast paths in a decode step: %llu of %llu leaf steps run tile by tile with the Execute before\n",
               (unsigned long long)f->executes_fused, (unsigned long long)f->supersteps);
        printf("    dead writes skipped: %llu Executes computed the one before's outputs, %llu vertices not run\n",
               (unsigned long long)f->executes_skipped, (unsigned long long)f->vertices_skipped);
        printf("    zero-copy: %.1f of %.1f MiB streamed left in the remote buffers\n",
               (double)f->bytes_stream_in_place / 1048576.0, (double)f->bytes_stream / 1048576.0);
    }
    double packed = (double)fb->weight_bytes / 1048576.0, peak = cli_peak_rss_mib();
    printf("  %-44s %10.0f MiB\n", "packed weights (all chips, stored formats)", packed);
    printf("  %-44s %10.0f MiB\n", "peak RSS after lowering", fb->rss_after_lower_mib);
    printf("  %-44s %10.0f MiB  (%.2f x the packed weights)\n", "peak RSS", peak, packed > 0 ? peak / packed : 0.0);
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
    double start_s = cli_now_s();
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
    FuncBench fb = {.steps = steps, .timed_steps = timed, .start_s = start_s};
    fb.step = calloc((size_t)(steps + timed + 1), sizeof *fb.step);
    fb.step_cycles = calloc((size_t)(steps + timed + 1), sizeof *fb.step_cycles);
    fb.tokens = calloc((size_t)(steps + timed + 1), sizeof *fb.tokens);
    if (!rc || !fb.step || !fb.step_cycles || !fb.tokens) {
        free(rc), free(fb.step), free(fb.step_cycles), free(fb.tokens);
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
    RunOptions o;
    if (runcfg_finish(rc, &err) || runcfg_options(rc, 0, &o, &err) || bench_run(rc, &o, (uint64_t)seed, &fb, &err))
        goto fail;
    print_figures(rc, &o, threads, &fb);
    status = 0;
    goto done;
fail:
    fprintf(stderr, "ipusim bench functional: %s\n", err.msg);
done:
    free(rc), free(fb.step), free(fb.step_cycles), free(fb.tokens);
    return status;
}
