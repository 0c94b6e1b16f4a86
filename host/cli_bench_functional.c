/* cli_bench_functional.c - `ipusim bench functional`: host speed of a
 * functional GPT-J run (synthetic weights or a checkpoint's, KV cache,
 * batch 1), in one run: setup (the weights, made or read from the
 * checkpoint's mapping on demand while the lowering packs them
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

/* Makes the weights, or maps the checkpoint's (lazy: their matrices are
 * made or read while the lowering packs them), lowers, runs. */
static int bench_run(const RunConfig *rc, const RunOptions *o, FuncBench *fb, IpuErr *err)
{
    GptjWeights w;
    memset(&w, 0, sizeof w);
    phase_begin(&fb->synth);
    /* a checkpoint's values as ipusim run reads them (fp32: the stored values), so the tokens are the run's */
    if (rc->weights == RUN_WEIGHTS_CHECKPOINT ? gptj_weights_load_lazy(&w, &o->cfg, rc->checkpoint, GPTJ_F32, 0, err)
                                              : gptj_weights_synth_lazy(&w, &o->cfg, GPTJ_F16, rc->seed, err))
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
    printf("functional %s on %s (%u chips), %s, %s weights, KV cache, batch %u, prompt %u, %ld OpenMP threads "
           "(host wall time; cpu: all threads):\n",
           rc->model, rc->arch_name, rc->chips_used, rc->formats,
           rc->weights == RUN_WEIGHTS_CHECKPOINT ? "checkpoint" : "synthetic", o->batch, o->prompt_len, threads);
    print_phase(rc->weights == RUN_WEIGHTS_CHECKPOINT ? "setup: checkpoint (gains, biases; matrices checked)"
                                                      : "setup: synthetic weights (gains, biases)",
                &fb->synth);
    print_phase(rc->weights == RUN_WEIGHTS_CHECKPOINT ? "setup: lower + read and pack the matrices"
                                                      : "setup: lower + make and pack the matrices",
                &fb->lower);
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

enum {
    B_CONFIG, B_CHECKPOINT, B_ARCH, B_FORMAT, B_PROMPT, B_STEPS, B_TIMED_STEPS, B_THREADS, B_SEED, B_SET, B_HELP,
    B_COUNT
};

static const CliOpt bench_opts[B_COUNT] = {
    {"config", 1, "model preset or config.json (default gptj-6b; with --checkpoint, its config.json)", 0, {0}},
    {"checkpoint", 1, "Hugging Face checkpoint folder: its weights, mapped and read a matrix at a time as ipusim run "
                      "reads them (default: synthetic weights)", 0, {0}},
    {"arch", 1, "arch preset (default pod4, as ipusim compare)", 0, {0}},
    {"format", 1, "weight format (default q4g:64)", 0, {0}},
    {"prompt", 1, "prompt tokens (default 4)", 0, {0}},
    {"steps", 1, "decode steps timed with functional = fast (default 3)", 0, {0}},
    {"timed-steps", 1, "decode steps then timed with functional = timed (default 0)", 0, {0}},
    {"threads", 1, "OpenMP threads (default 2)", 0, {0}},
    {"seed", 1, "synthetic weight seed (default 1)", 0, {0}},
    {"set", 1, "key=value: any run key (ipusim run --list-keys), repeatable", 0, {0}},
    {"help", 0, "this help", 0, {0}},
};

/* The run configuration of the bench: its options as run keys, then --set. */
static int bench_config(RunConfig *rc, const CliOpt *opts, long prompt, long gen, long seed, IpuErr *err)
{
    char kv[8][1100];
    int n = 0;
    runcfg_init(rc);
    if (opts[B_CONFIG].count || !opts[B_CHECKPOINT].count) /* else the checkpoint's config.json */
        snprintf(kv[n++], sizeof kv[0], "model=%s", cli_value(&opts[B_CONFIG], "gptj-6b"));
    if (opts[B_CHECKPOINT].count)
        snprintf(kv[n++], sizeof kv[0], "checkpoint=%s", cli_value(&opts[B_CHECKPOINT], ""));
    snprintf(kv[n++], sizeof kv[0], "weights=%s", opts[B_CHECKPOINT].count ? "checkpoint" : "synthetic");
    snprintf(kv[n++], sizeof kv[0], "arch=%s", cli_value(&opts[B_ARCH], "pod4"));
    snprintf(kv[n++], sizeof kv[0], "formats=%s", cli_value(&opts[B_FORMAT], "q4g:64"));
    snprintf(kv[n++], sizeof kv[0], "prompt_len=%ld", prompt);
    snprintf(kv[n++], sizeof kv[0], "gen_tokens=%ld", gen);
    snprintf(kv[n++], sizeof kv[0], "seed=%ld", seed);
    for (int i = 0; i < n; i++)
        if (runcfg_set_kv(rc, kv[i], "bench", err))
            return -1;
    if (runcfg_set_kv(rc, "kv_cache=on", "bench", err) || runcfg_set_kv(rc, "batch=1", "bench", err))
        return -1;
    for (int i = 0; i < opts[B_SET].count; i++)
        if (runcfg_set_kv(rc, opts[B_SET].values[i], "--set", err))
            return -1;
    return runcfg_finish(rc, err);
}

int cli_bench_functional(int argc, char **argv)
{
    CliOpt opts[B_COUNT];
    memcpy(opts, bench_opts, sizeof opts);
    const char *pos[1];
    int npos;
    double start_s = cli_now_s();
    if (cli_parse("bench functional", argc, argv, opts, B_COUNT, pos, 0, &npos))
        return 2;
    if (opts[B_HELP].count) {
        printf("usage: ipusim bench functional [options]\n");
        cli_print_options(stdout, opts, B_COUNT);
        return 0;
    }
    long prompt, steps, timed, threads, seed;
    if (cli_long("bench functional", "prompt", cli_value(&opts[B_PROMPT], "4"), 1, 2048, &prompt) ||
        cli_long("bench functional", "steps", cli_value(&opts[B_STEPS], "3"), 0, 1000, &steps) ||
        cli_long("bench functional", "timed-steps", cli_value(&opts[B_TIMED_STEPS], "0"), 0, 1000, &timed) ||
        cli_long("bench functional", "threads", cli_value(&opts[B_THREADS], "2"), 1, 1024, &threads) ||
        cli_long("bench functional", "seed", cli_value(&opts[B_SEED], "1"), 0, LONG_MAX, &seed))
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
    RunOptions o;
    if (bench_config(rc, opts, prompt, steps + timed + 1, seed, &err) || runcfg_options(rc, 0, &o, &err) ||
        bench_run(rc, &o, &fb, &err)) {
        fprintf(stderr, "ipusim bench functional: %s\n", err.msg);
    } else {
        print_figures(rc, &o, threads, &fb);
        status = 0;
    }
    free(rc), free(fb.step), free(fb.step_cycles), free(fb.tokens);
    return status;
}
