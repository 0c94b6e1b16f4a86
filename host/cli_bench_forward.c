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

/* `ipusim bench forward`, dispatched by cli_bench (argv[0] is "forward"). */
int cli_bench_forward(int argc, char **argv)
{
    CliOpt opts[] = {
        {"config", 1, "preset name or config.json (default gptj-tiny)", 0, {0}},
        {"seed", 1, "synthetic weight seed (default 0)", 0, {0}},
        {"batch", 1, "sequences run together (default 1)", 0, {0}},
        {"prompt", 1, "prompt tokens prefilled per sequence (default 16)", 0, {0}},
        {"tokens", 1, "decode steps timed after the prefill (default 8)", 0, {0}},
        {"dtype", 1, "matrix storage: f16 (default) or f32", 0, {0}},
        {"threads", 1, "OpenMP threads (default: OMP_NUM_THREADS or all cores)", 0, {0}},
        {"help", 0, "show this help", 0, {0}},
        {"checkpoint", 1, "load this checkpoint instead of making synthetic weights", 0, {0}},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    if (cli_parse("bench forward", argc, argv, opts, n, pos, 0, &npos) < 0)
        return 2;
    if (opts[7].count) {
        cli_print_options(stdout, opts, n);
        return 0;
    }
    long seed, B, T0, steps, threads = 0;
    if (cli_long("bench forward", "seed", cli_value(&opts[1], "0"), 0, LONG_MAX, &seed) ||
        cli_long("bench forward", "batch", cli_value(&opts[2], "1"), 1, 1024, &B) ||
        cli_long("bench forward", "prompt", cli_value(&opts[3], "16"), 1, 1 << 20, &T0) ||
        cli_long("bench forward", "tokens", cli_value(&opts[4], "8"), 1, 1 << 20, &steps) ||
        (opts[6].count && cli_long("bench forward", "threads", cli_value(&opts[6], NULL), 1, 1024, &threads)))
        return 2;
    const char *dt = cli_value(&opts[5], "f16");
    if (strcmp(dt, "f16") && strcmp(dt, "f32")) {
        fprintf(stderr, "ipusim bench forward: --dtype '%s' must be f16 or f32\n", dt);
        return 2;
    }
    if (threads)
        omp_set_num_threads((int)threads);
    GptjConfig c;
    GptjWeights w;
    GptjState s;
    memset(&w, 0, sizeof w);
    memset(&s, 0, sizeof s);
    IpuErr e = {{0}};
    int *tok = NULL, *next = NULL, rc = 1;
    float *logits = NULL;
    const char *ckpt = cli_value(&opts[8], NULL);
    if (gptj_config_resolve(&c, cli_value(&opts[0], ckpt ? ckpt : "gptj-tiny"), &e))
        goto fail;
    if (T0 + steps > c.n_positions) {
        fprintf(stderr, "ipusim bench forward: prompt %ld + tokens %ld exceed the context %d of %s\n", T0, steps,
                c.n_positions, c.name);
        return 1; /* the options conflict with the model: an input error */
    }
    GptjDtype wd = strcmp(dt, "f16") ? GPTJ_F32 : GPTJ_F16;
    double need = (double)gptj_config_n_matrix_params(&c) * (wd == GPTJ_F16 ? 2 : 4) +
                  4.0 * (double)(gptj_config_n_params(&c) - gptj_config_n_matrix_params(&c));
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (need > 0.9 * have) {
        ipu_err(&e, "%s: %s weights need %.1f GB, more than 90%% of this machine's %.1f GB (try --dtype f16)", c.name,
                dt, need / 1e9, have / 1e9);
        goto fail;
    }
    printf("bench forward: %s, %s matrices, batch %ld, prompt %ld, %ld decode steps, %d threads\n", c.name, dt, B, T0,
           steps, omp_get_max_threads());
    fflush(stdout);
    double t = cli_now_s();
    if (ckpt ? gptj_weights_load(&w, &c, ckpt, wd, 0, &e) : gptj_weights_synth(&w, &c, wd, (uint64_t)seed, &e))
        goto fail;
    printf("%s weights: %.2f GB in %.2f s\n", ckpt ? "loaded" : "synthetic", (double)gptj_weights_bytes(&w) / 1e9,
           cli_now_s() - t);
    fflush(stdout);
    if (gptj_state_init(&s, &w, (int)B, (int)(T0 + steps), &e))
        goto fail;
    tok = malloc((size_t)B * (size_t)T0 * sizeof *tok);
    next = malloc((size_t)B * sizeof *next);
    logits = malloc((size_t)B * c.vocab_size * sizeof *logits);
    if (!tok || !next || !logits) {
        ipu_err(&e, "out of memory");
        goto fail;
    }
    for (long i = 0; i < B * T0; i++)
        tok[i] = (int)((uint64_t)(i * 40503 + 17 + seed) % (uint64_t)c.vocab_size);
    GptjSampler g = {0, 0, 0, 0};
    t = cli_now_s();
    if (gptj_forward(&s, tok, (int)T0, logits, 1, &e))
        goto fail;
    double prefill_s = cli_now_s() - t;
    printf("prefill: %ld tokens x %ld sequences in %.1f ms (%.2f ms/token)\n", T0, B, 1e3 * prefill_s,
           1e3 * prefill_s / (double)(T0 * B));
    fflush(stdout);
    t = cli_now_s();
    for (long i = 0; i < steps; i++) {
        for (long b = 0; b < B; b++)
            next[b] = gptj_sample(&g, logits + (size_t)b * c.vocab_size, c.vocab_size);
        if (gptj_forward(&s, next, 1, logits, 1, &e))
            goto fail;
    }
    double step_s = (cli_now_s() - t) / (double)steps;
    printf("decode: %.2f ms/token (one step of %ld sequences), %.2f tokens/s\n", 1e3 * step_s, B,
           (double)B / step_s);
    printf("peak resident memory: %.0f MiB\n", cli_peak_rss_mib());
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "ipusim bench forward: %s\n", e.msg);
out:
    free(tok);
    free(next);
    free(logits);
    gptj_state_free(&s);
    gptj_weights_free(&w);
    return rc;
}
