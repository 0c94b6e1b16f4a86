/* cli_bench_forward.c - `ipusim bench forward`: host speed of the fp32 reference
 * forward on synthetic weights (ms/token, tokens/s, peak resident memory). */
#include <limits.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/cli.h"
#include "models/gptj_forward.h"

enum { O_CONFIG, O_SEED, O_BATCH, O_PROMPT, O_TOKENS, O_DTYPE, O_THREADS, O_HELP, O_CHECKPOINT, O_COUNT };

/* The options of bench forward, in the order --help lists them (copied: cli_parse fills count and values). */
static const CliOpt forward_opts[] = {
    [O_CONFIG] = {"config", 1, "preset name or config.json (default gptj-tiny)", 0, {0}},
    [O_SEED] = {"seed", 1, "synthetic weight seed (default 0)", 0, {0}},
    [O_BATCH] = {"batch", 1, "sequences run together (default 1)", 0, {0}},
    [O_PROMPT] = {"prompt", 1, "prompt tokens prefilled per sequence (default 16)", 0, {0}},
    [O_TOKENS] = {"tokens", 1, "decode steps timed after the prefill (default 8)", 0, {0}},
    [O_DTYPE] = {"dtype", 1, "matrix storage: f16 (default) or f32", 0, {0}},
    [O_THREADS] = {"threads", 1, "OpenMP threads (default: OMP_NUM_THREADS or all cores)", 0, {0}},
    [O_HELP] = {"help", 0, "show this help", 0, {0}},
    [O_CHECKPOINT] = {"checkpoint", 1, "load this checkpoint instead of making synthetic weights", 0, {0}},
};
_Static_assert(sizeof forward_opts / sizeof *forward_opts == O_COUNT, "one entry per option");

/* What the options ask for, checked. */
typedef struct ForwardArgs {
    long seed, batch, prompt, steps, threads; /* threads 0: OpenMP's default */
    const char *dtype;                        /* "f16" or "f32" */
    const char *config;                       /* preset or config.json */
    const char *checkpoint;                   /* NULL: synthetic weights */
} ForwardArgs;

/* 0, or -1 after printing the usage error. */
static int read_args(const CliOpt *opts, ForwardArgs *f)
{
    f->threads = 0;
    if (cli_long("bench forward", "seed", cli_value(&opts[O_SEED], "0"), 0, LONG_MAX, &f->seed) ||
        cli_long("bench forward", "batch", cli_value(&opts[O_BATCH], "1"), 1, 1024, &f->batch) ||
        cli_long("bench forward", "prompt", cli_value(&opts[O_PROMPT], "16"), 1, 1 << 20, &f->prompt) ||
        cli_long("bench forward", "tokens", cli_value(&opts[O_TOKENS], "8"), 1, 1 << 20, &f->steps) ||
        (opts[O_THREADS].count &&
         cli_long("bench forward", "threads", cli_value(&opts[O_THREADS], NULL), 1, 1024, &f->threads)))
        return -1;
    f->dtype = cli_value(&opts[O_DTYPE], "f16");
    if (strcmp(f->dtype, "f16") && strcmp(f->dtype, "f32")) {
        fprintf(stderr, "ipusim bench forward: --dtype '%s' must be f16 or f32\n", f->dtype);
        return -1;
    }
    f->checkpoint = cli_value(&opts[O_CHECKPOINT], NULL);
    f->config = cli_value(&opts[O_CONFIG], f->checkpoint ? f->checkpoint : "gptj-tiny");
    return 0;
}

/* Weights of the wd size of c fit in 90% of this machine's memory: 0, or -1 with e. */
static int check_memory(const GptjConfig *c, GptjDtype wd, const char *dt, IpuErr *e)
{
    double need = (double)gptj_config_n_matrix_params(c) * (wd == GPTJ_F16 ? 2 : 4) +
                  4.0 * (double)(gptj_config_n_params(c) - gptj_config_n_matrix_params(c));
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (need > 0.9 * have)
        return ipu_err(e, "%s: %s weights need %.1f GB, more than 90%% of this machine's %.1f GB (try --dtype f16)",
                       c->name, dt, need / 1e9, have / 1e9);
    return 0;
}

/* Prefills f->prompt tokens of f->batch sequences, then times f->steps decode steps; prints both. */
static int time_forward(const ForwardArgs *f, GptjState *s, const GptjConfig *c, IpuErr *e)
{
    long B = f->batch, T0 = f->prompt;
    int *tok = malloc((size_t)B * (size_t)T0 * sizeof *tok), *next = malloc((size_t)B * sizeof *next), rv = -1;
    float *logits = malloc((size_t)B * c->vocab_size * sizeof *logits);
    if (!tok || !next || !logits) {
        ipu_err(e, "out of memory");
        goto out;
    }
    for (long i = 0; i < B * T0; i++)
        tok[i] = (int)((uint64_t)(i * 40503 + 17 + f->seed) % (uint64_t)c->vocab_size);
    GptjSampler g = {0, 0, 0, 0};
    double t = cli_now_s();
    if (gptj_forward(s, tok, (int)T0, logits, 1, e))
        goto out;
    double prefill_s = cli_now_s() - t;
    printf("prefill: %ld tokens x %ld sequences in %.1f ms (%.2f ms/token)\n", T0, B, 1e3 * prefill_s,
           1e3 * prefill_s / (double)(T0 * B));
    fflush(stdout);
    t = cli_now_s();
    for (long i = 0; i < f->steps; i++) {
        for (long b = 0; b < B; b++)
            next[b] = gptj_sample(&g, logits + (size_t)b * c->vocab_size, c->vocab_size);
        if (gptj_forward(s, next, 1, logits, 1, e))
            goto out;
    }
    double step_s = (cli_now_s() - t) / (double)f->steps;
    printf("decode: %.2f ms/token (one step of %ld sequences), %.2f tokens/s\n", 1e3 * step_s, B,
           (double)B / step_s);
    printf("peak resident memory: %.0f MiB\n", cli_peak_rss_mib());
    rv = 0;
out:
    free(tok);
    free(next);
    free(logits);
    return rv;
}

/* `ipusim bench forward`, dispatched by cli_bench (argv[0] is "forward"). */
int cli_bench_forward(int argc, char **argv)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, forward_opts, sizeof opts);
    const char *pos[1];
    int npos;
    if (cli_parse("bench forward", argc, argv, opts, O_COUNT, pos, 0, &npos) < 0)
        return 2;
    if (opts[O_HELP].count) {
        cli_print_options(stdout, opts, O_COUNT);
        return 0;
    }
    ForwardArgs f;
    if (read_args(opts, &f))
        return 2;
    if (f.threads)
        omp_set_num_threads((int)f.threads);
    GptjConfig c;
    GptjWeights w;
    GptjState s;
    memset(&w, 0, sizeof w);
    memset(&s, 0, sizeof s);
    IpuErr e = {{0}};
    int rc = 1;
    if (gptj_config_resolve(&c, f.config, &e))
        goto fail;
    if (f.prompt + f.steps > c.n_positions) {
        fprintf(stderr, "ipusim bench forward: prompt %ld + tokens %ld exceed the context %d of %s\n", f.prompt,
                f.steps, c.n_positions, c.name);
        return 1; /* the options conflict with the model: an input error */
    }
    GptjDtype wd = strcmp(f.dtype, "f16") ? GPTJ_F32 : GPTJ_F16;
    if (check_memory(&c, wd, f.dtype, &e))
        goto fail;
    printf("bench forward: %s, %s matrices, batch %ld, prompt %ld, %ld decode steps, %d threads\n", c.name, f.dtype,
           f.batch, f.prompt, f.steps, omp_get_max_threads());
    fflush(stdout);
    double t = cli_now_s();
    if (f.checkpoint ? gptj_weights_load(&w, &c, f.checkpoint, wd, 0, &e)
                     : gptj_weights_synth(&w, &c, wd, (uint64_t)f.seed, &e))
        goto fail;
    printf("%s weights: %.2f GB in %.2f s\n", f.checkpoint ? "loaded" : "synthetic",
           (double)gptj_weights_bytes(&w) / 1e9, cli_now_s() - t);
    fflush(stdout);
    if (gptj_state_init(&s, &w, (int)f.batch, (int)(f.prompt + f.steps), &e) || time_forward(&f, &s, &c, &e))
        goto fail;
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "ipusim bench forward: %s\n", e.msg);
out:
    gptj_state_free(&s);
    gptj_weights_free(&w);
    return rc;
}
