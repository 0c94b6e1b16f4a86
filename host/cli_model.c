/* cli_model.c - `ipusim model synth|info|eval`: synthetic checkpoints, model
 * sizes per weight format, and the accuracy of fp16, int4-group and the
 * other weight formats (--formats) against the fp32 reference forward:
 * logit measures and the weights' own RMSE and SQNR. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "host/cli.h"
#include "host/progress.h"
#include "models/bpe.h"
#include "models/eval.h"
#include "models/gptj_config.h"
#include "models/gptj_forward.h"
#include "models/gptj_weights.h"
#include "models/quant.h"

#define MODEL_MAX_TOKENS 4096

static int parse_u64(const char *cmd, const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-' || v > max) {
        fprintf(stderr, "ipusim model %s: --%s '%s' is not an integer in 0..%llu\n", cmd, opt, s,
                (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

static int model_usage(FILE *f)
{
    fprintf(f, "usage: ipusim model synth --config C --out DIR [--seed S] [--dtype f16|f32|bf16] [--shard-gb G]\n"
               "       ipusim model info --config C\n"
               "       ipusim model check --checkpoint DIR [--config C] [--strict] [--scan]\n"
               "       ipusim model eval --config C [--checkpoint DIR | --seed S] [--text FILE | --tokens IDS]\n"
               "                         [--group 32,64,128 | --formats q4g:64,s4g:64,nf4g:64+dq,i8c,fp8e4m3]\n"
               "                         [--max-tokens N]\n"
               "       ipusim model forward --config C [--checkpoint DIR | --seed S] (--ids IDS | --ids-file F | --text F)\n"
               "                         [--logits F.npy [--logits-all]] [--teacher-force IDS] [--format FMT]\n"
               "C is a preset (gptj-6b, gptj-tiny, gptj-micro), a config.json or a checkpoint folder.\n"
               "ipusim model SUBCOMMAND --help lists its options.\n");
    return f == stdout ? 0 : 2;
}

static void synth_progress(void *ctx, size_t done, size_t total)
{
    (void)total;
    progress_update(ctx, done, 0);
}

/* gptj_synth_write with a progress line over the tensors on a terminal (6B: minutes). */
static int synth_write(const GptjConfig *c, uint64_t seed, StDtype dtype, const char *dir, uint64_t shard_bytes,
                       int *shards, IpuErr *e)
{
    Progress pr;
    progress_init(&pr, stderr, "tensors", (size_t)gptj_tensor_count(c), 0, 0);
    progress_update(&pr, 0, 0);
    int rc = gptj_synth_write(c, seed, dtype, dir, shard_bytes, shards, synth_progress, &pr, e);
    progress_finish(&pr);
    return rc;
}

static int model_synth(int argc, char **argv)
{
    CliOpt opts[] = {
        {"config", 1, "preset name, config.json or checkpoint folder (required)", 0, {0}},
        {"out", 1, "output folder: config.json + model.safetensors (or shards + index) (required)", 0, {0}},
        {"seed", 1, "generator seed (default 0)", 0, {0}},
        {"dtype", 1, "tensor dtype in the file: f16 (default, as GPT-J's float16 checkpoint), f32 or bf16", 0, {0}},
        {"shard-gb", 1, "largest shard in GB (1e9 bytes) before splitting with an index (default 2)", 0, {0}},
        {"help", 0, "show this help", 0, {0}},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    if (cli_parse("model synth", argc, argv, opts, n, pos, 0, &npos) < 0)
        return 2;
    if (opts[5].count) {
        cli_print_options(stdout, opts, n);
        return 0;
    }
    if (!opts[0].count || !opts[1].count) {
        fprintf(stderr, "ipusim model synth: --config and --out are required\n");
        return 2;
    }
    uint64_t seed = 0;
    if (parse_u64("synth", "seed", cli_value(&opts[2], "0"), UINT64_MAX, &seed))
        return 2;
    double shard_gb;
    if (cli_double("model synth", "shard-gb", cli_value(&opts[4], "2"), 1e-6, 1000, &shard_gb))
        return 2;
    const char *dt = cli_value(&opts[3], "f16");
    StDtype dtype = !strcmp(dt, "f32") ? ST_F32 : !strcmp(dt, "f16") ? ST_F16 : !strcmp(dt, "bf16") ? ST_BF16 : ST_DTYPE_COUNT;
    if (dtype == ST_DTYPE_COUNT) {
        fprintf(stderr, "ipusim model synth: --dtype '%s' must be f16, f32 or bf16\n", dt);
        return 2;
    }
    GptjConfig c;
    IpuErr e = {{0}};
    int shards = 0;
    if (gptj_config_resolve(&c, cli_value(&opts[0], NULL), &e) ||
        synth_write(&c, seed, dtype, cli_value(&opts[1], NULL), (uint64_t)(shard_gb * 1e9), &shards, &e)) {
        fprintf(stderr, "ipusim model synth: %s\n", e.msg);
        return 1;
    }
    fprintf(stderr, "wrote %s: %s, %llu parameters as %s, seed %llu, %d shard%s\n", cli_value(&opts[1], NULL), c.name,
           (unsigned long long)gptj_config_n_params(&c), st_dtype_name(dtype), (unsigned long long)seed, shards,
           shards == 1 ? "" : "s");
    return 0;
}

/* Bytes of the whole model when every tensor is stored per policy p. */
static double policy_bytes(const GptjConfig *c, const QuantPolicy *p)
{
    double bits = 0;
    for (int i = 0; i < gptj_tensor_count(c); i++) {
        GptjTensorInfo t;
        gptj_tensor_info(c, i, &t);
        int64_t rows = t.ndim == 2 ? t.shape[0] : 1, cols = t.ndim == 2 ? t.shape[1] : t.shape[0];
        bits += quant_bits_per_param(quant_policy_lookup(p, t.name), rows, cols) * (double)rows * (double)cols;
    }
    return bits / 8;
}

static int model_info(int argc, char **argv)
{
    CliOpt opts[] = {
        {"config", 1, "preset name, config.json or checkpoint folder (required)", 0, {0}},
        {"help", 0, "show this help", 0, {0}},
    };
    const char *pos[1];
    int npos;
    if (cli_parse("model info", argc, argv, opts, 2, pos, 0, &npos) < 0)
        return 2;
    if (opts[1].count) {
        cli_print_options(stdout, opts, 2);
        return 0;
    }
    if (!opts[0].count) {
        fprintf(stderr, "ipusim model info: --config is required\n");
        return 2;
    }
    GptjConfig c;
    IpuErr e = {{0}};
    if (gptj_config_resolve(&c, cli_value(&opts[0], NULL), &e)) {
        fprintf(stderr, "ipusim model info: %s\n", e.msg);
        return 1;
    }
    gptj_config_print(stdout, &c);
    uint64_t np = gptj_config_n_params(&c), nm = gptj_config_n_matrix_params(&c);
    uint64_t C = (uint64_t)c.n_embd, I = (uint64_t)c.n_inner;
    printf("parameters: %llu (%.3g), of which matrices %llu; per block %llu\n", (unsigned long long)np, (double)np,
           (unsigned long long)nm, (unsigned long long)(4 * C * C + 2 * I * C + 3 * C + I));
    printf("%-28s %14s %10s\n", "format", "bytes", "GB");
    const char *specs[] = {"f32", "f16", "q4g:32", "q4g:64", "q4g:128"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        QuantSpec s;
        QuantPolicy p;
        if (quant_spec_parse(specs[i], &s, &e)) {
            fprintf(stderr, "ipusim model info: %s\n", e.msg);
            return 1;
        }
        char label[64];
        if (s.fmt == &quant_format_q4g) {
            quant_policy_graphcore(&p, &s);
            snprintf(label, sizeof label, "%s (Graphcore policy)", specs[i]);
        } else {
            quant_policy_uniform(&p, &s);
            snprintf(label, sizeof label, "%s (every tensor)", specs[i]);
        }
        double b = policy_bytes(&c, &p);
        printf("%-28s %14.0f %10.3f\n", label, b, b / 1e9);
    }
    return 0;
}

static int model_check(int argc, char **argv)
{
    CliOpt opts[] = {
        {"checkpoint", 1, "checkpoint folder, safetensors file or index (required)", 0, {0}},
        {"config", 1, "config to check against (default: the checkpoint's config.json)", 0, {0}},
        {"strict", 0, "unknown tensors are errors, not warnings", 0, {0}},
        {"scan", 0, "also read every value (NaN/Inf, fp16 range), one tensor at a time", 0, {0}},
        {"help", 0, "show this help", 0, {0}},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    if (cli_parse("model check", argc, argv, opts, n, pos, 0, &npos) < 0)
        return 2;
    if (opts[4].count) {
        cli_print_options(stdout, opts, n);
        return 0;
    }
    if (!opts[0].count) {
        fprintf(stderr, "ipusim model check: --checkpoint is required\n");
        return 2;
    }
    GptjConfig c;
    GptjWeights w;
    IpuErr e = {{0}};
    const char *path = cli_value(&opts[0], NULL);
    if ((opts[1].count && gptj_config_resolve(&c, cli_value(&opts[1], NULL), &e)) ||
        gptj_checkpoint_check(&w, opts[1].count ? &c : NULL, path, GPTJ_F16, opts[2].count > 0, opts[3].count > 0,
                              &e)) {
        fprintf(stderr, "ipusim model check: %s\n", e.msg);
        return 1;
    }
    for (int i = 0; i < w.n_warnings; i++)
        fprintf(stderr, "warning: %s\n", w.warnings[i]);
    printf("%s: ok, every GPT-J tensor present with its shape%s; %d warning%s\n", path,
           opts[3].count ? " and finite fp16 values" : "", w.n_warnings, w.n_warnings == 1 ? "" : "s");
    gptj_config_print(stdout, &w.cfg);
    gptj_weights_free(&w);
    return 0;
}

/* Non-negative integers from "1,2,3" (commas or spaces); -1 on a bad one. */
static int parse_tokens(const char *s, int *out, int max, int *n)
{
    *n = 0;
    while (*s) {
        while (*s == ',' || *s == ' ')
            s++;
        if (!*s)
            break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX || *n >= max)
            return -1;
        out[(*n)++] = (int)v;
        s = end;
    }
    return 0;
}

/* The largest --text file. */
#define MODEL_TEXT_MAX_BYTES (64u << 20)

/* A grouped format's group size must divide the input axis (cols) of
 * every tensor Graphcore's policy quantizes (eval_quantize_weights would
 * fail there, after work). opt names the option for the message. */
static int check_spec_groups(const GptjConfig *c, const QuantSpec *s, const char *opt, IpuErr *e)
{
    if (!quant_spec_grouped(s))
        return 0;
    QuantPolicy p;
    quant_policy_graphcore(&p, s);
    for (int i = 0; i < gptj_tensor_count(c); i++) {
        GptjTensorInfo t;
        gptj_tensor_info(c, i, &t);
        const QuantSpec *q = quant_policy_lookup(&p, t.name);
        if (quant_spec_grouped(q) && t.ndim == 2 && t.shape[1] % q->group != 0) {
            char text[64];
            quant_spec_format(s, text, sizeof text);
            if (s->fmt == &quant_format_q4g && !strcmp(opt, "--group"))
                snprintf(text, sizeof text, "%u", q->group);
            return ipu_err(e, "%s %s does not divide the input axis of '%s' (%lld) in %s", opt, text, t.name,
                           (long long)t.shape[1], c->name);
        }
    }
    return 0;
}

static int check_groups(const GptjConfig *c, const int *groups, int ng, IpuErr *e)
{
    for (int k = 0; k < ng; k++) {
        QuantSpec s = {&quant_format_q4g, (unsigned)groups[k], QUANT_AXIS_IN, 0, 0};
        if (check_spec_groups(c, &s, "--group", e))
            return -1;
    }
    return 0;
}

/* --formats: up to 16 specs, each parsed; -1 naming the bad one. */
#define EVAL_MAX_FORMATS 16
static int parse_formats(const char *list, QuantSpec *specs, int *n, IpuErr *e)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n >= EVAL_MAX_FORMATS)
            return ipu_err(e, "--formats: more than %d formats", EVAL_MAX_FORMATS);
        if (quant_spec_parse(tok, &specs[*n], e))
            return ipu_err_prefix(e, "--formats");
        (*n)++;
    }
    return *n ? 0 : ipu_err(e, "--formats '%s': no format", list);
}

/* Logits (T, V) of one sequence under weights w. */
static float *run_logits(const GptjWeights *w, const int *tok, int T, IpuErr *e)
{
    GptjState s;
    if (gptj_state_init(&s, w, 1, T, e))
        return NULL;
    float *lg = malloc((size_t)T * w->cfg.vocab_size * sizeof *lg);
    if (!lg || gptj_forward(&s, tok, T, lg, 0, e)) {
        if (!lg)
            ipu_err(e, "out of memory for logits");
        free(lg);
        lg = NULL;
    }
    gptj_state_free(&s);
    return lg;
}

/* One row of the eval table: the model under s (fp16: every tensor;
 * else Graphcore's policy) against the reference logits ref (T, V). */
static int eval_row(const GptjWeights *w, const QuantSpec *s, const int *tok, int T, const float *ref, IpuErr *e)
{
    QuantPolicy p;
    GptjWeights q;
    EvalWeightError we;
    int V = w->cfg.vocab_size;
    if (s->fmt == &quant_format_f16)
        quant_policy_uniform(&p, s);
    else
        quant_policy_graphcore(&p, s);
    if (eval_quantize_weights_err(&q, w, &p, GPTJ_F32, &we, e))
        return -1;
    float *lg = run_logits(&q, tok, T, e);
    gptj_weights_free(&q);
    if (!lg)
        return -1;
    EvalCompare cmp;
    eval_compare(&cmp, ref, lg, T, V);
    double bpp = policy_bytes(&w->cfg, &p) * 8 / (double)gptj_config_n_params(&w->cfg);
    char name[64];
    quant_spec_format(s, name, sizeof name);
    printf("%-16s %9.2f %12.3e %11.2f%% %14.3e %12.4g %10.3e %8.2f\n", name, bpp, cmp.mean_kl, 100 * cmp.top1_agree,
           cmp.max_logit_diff, eval_perplexity(lg, tok, T, V), we.rmse, we.sqnr_db);
    free(lg);
    return 0;
}

static int model_eval(int argc, char **argv)
{
    CliOpt opts[] = {
        {"config", 1, "preset name, config.json or checkpoint folder (default: the checkpoint's config)", 0, {0}},
        {"checkpoint", 1, "Hugging Face checkpoint folder (config.json + safetensors)", 0, {0}},
        {"seed", 1, "synthetic weights from this seed when no checkpoint (default 0)", 0, {0}},
        {"text", 1, "UTF-8 text file, tokenized with the GPT-2 BPE", 0, {0}},
        {"tokens", 1, "token ids, e.g. 464,3290,318 (default: 64 synthetic ids from the seed)", 0, {0}},
        {"group", 1, "int4-group sizes, comma-separated (default 32,64,128, those that divide the model's input axes); checked before any work", 0, {0}},
        {"max-tokens", 1, "evaluate at most this many tokens (default 256)", 0, {0}},
        {"vocab", 1, "BPE vocabulary folder for --text (default as ipusim tokenize)", 0, {0}},
        {"help", 0, "show this help", 0, {0}},
        {"formats", 1, "weight formats, comma-separated, each under Graphcore's policy (instead of --group), e.g. q4g:64,s4g:64,nf4g:64+dq,i8c,fp8e4m3", 0, {0}},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    if (cli_parse("model eval", argc, argv, opts, n, pos, 0, &npos) < 0)
        return 2;
    if (opts[8].count) {
        cli_print_options(stdout, opts, n);
        return 0;
    }
    if (!opts[0].count && !opts[1].count) {
        fprintf(stderr, "ipusim model eval: --config or --checkpoint is required\n");
        return 2;
    }
    uint64_t seed = 0, max_tokens = 256;
    if (parse_u64("eval", "seed", cli_value(&opts[2], "0"), UINT64_MAX, &seed) ||
        parse_u64("eval", "max-tokens", cli_value(&opts[6], "256"), MODEL_MAX_TOKENS, &max_tokens))
        return 2;
    int groups[16], ng = 0;
    const char *gtext = cli_value(&opts[5], "32,64,128");
    if (parse_tokens(gtext, groups, 16, &ng) || ng == 0) {
        fprintf(stderr, "ipusim model eval: --group '%s' is not a list of 1 to 16 sizes\n", gtext);
        return 2;
    }
    for (int k = 0; k < ng; k++) { /* every check before any work (issue 12: --group 0 failed after fp16) */
        char spec_text[32];
        QuantSpec s;
        IpuErr ge;
        snprintf(spec_text, sizeof spec_text, "q4g:%d", groups[k]);
        if (quant_spec_parse(spec_text, &s, &ge)) {
            fprintf(stderr, "ipusim model eval: --group %d: %s\n", groups[k], ge.msg);
            return 2;
        }
    }
    QuantSpec fspecs[EVAL_MAX_FORMATS];
    int nf = 0;
    if (opts[9].count) {
        IpuErr fe;
        if (opts[5].count) {
            fprintf(stderr, "ipusim model eval: give --group or --formats, not both\n");
            return 2;
        }
        if (parse_formats(cli_value(&opts[9], ""), fspecs, &nf, &fe)) {
            fprintf(stderr, "ipusim model eval: %s\n", fe.msg);
            return 2;
        }
    }
    int *tok = malloc(MODEL_MAX_TOKENS * sizeof *tok);
    int T = 0;
    if (!tok) {
        fprintf(stderr, "ipusim model eval: out of memory\n");
        return 1;
    }
    if (opts[4].count && (parse_tokens(cli_value(&opts[4], NULL), tok, MODEL_MAX_TOKENS, &T) || T < 2)) {
        fprintf(stderr, "ipusim model eval: --tokens needs at least 2 ids, at most %d\n", MODEL_MAX_TOKENS);
        free(tok);
        return 2;
    }
    IpuErr e = {{0}};
    GptjConfig c;
    GptjWeights w;
    memset(&w, 0, sizeof w);
    int rc = 1;
    float *ref = NULL;
    if (opts[0].count && gptj_config_resolve(&c, cli_value(&opts[0], NULL), &e))
        goto fail;
    if (!opts[0].count && gptj_config_resolve(&c, cli_value(&opts[1], NULL), &e))
        goto fail;
    if (!opts[5].count && !nf) { /* the default sizes: those this model's input axes take */
        int kept = 0;
        for (int k = 0; k < ng; k++)
            if (check_groups(&c, &groups[k], 1, &e) == 0)
                groups[kept++] = groups[k];
        ng = kept;
    }
    if (nf) {
        for (int k = 0; k < nf; k++)
            if (check_spec_groups(&c, &fspecs[k], "--formats", &e))
                goto fail;
    } else {
        if (check_groups(&c, groups, ng, &e))
            goto fail;
        for (int k = 0; k < ng; k++)
            fspecs[nf++] = (QuantSpec){&quant_format_q4g, (unsigned)groups[k], QUANT_AXIS_IN, 0, 0};
    }
    if (!opts[4].count && opts[3].count) { /* the text is read and tokenized before any work too */
        char dir[BPE_PATH_BYTES];
        size_t len;
        char *text;
        if (fileio_read(cli_value(&opts[3], NULL), "--text", MODEL_TEXT_MAX_BYTES, &text, &len, &e))
            goto fail;
        Bpe *b = NULL;
        BpeIds ids = {0};
        int bad = bpe_find_vocab(cli_value(&opts[7], NULL), dir, sizeof dir, &e) < 0 || !(b = bpe_create(dir, &e)) ||
                  bpe_encode(b, text, len, 0, &ids, &e) < 0;
        free(text);
        bpe_destroy(b);
        for (size_t i = 0; !bad && i < ids.n && T < MODEL_MAX_TOKENS; i++)
            tok[T++] = ids.ids[i];
        bpe_ids_free(&ids);
        if (bad)
            goto fail;
    }
    for (int i = 0; i < T; i++)
        if (tok[i] >= c.vocab_size) {
            ipu_err(&e, "token %d at position %d is outside the vocabulary 0..%d of %s", tok[i], i, c.vocab_size - 1,
                    c.name);
            goto fail;
        }
    {   /* two fp32 copies (reference and quantized) must fit, or the OOM killer decides */
        double need = 2.0 * 4.0 * (double)gptj_config_n_params(&c);
        double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
        if (need > 0.8 * have) {
            ipu_err(&e, "%s: eval keeps two fp32 copies of the weights, %.1f GB, more than 80%% of this machine's %.1f GB",
                    c.name, need / 1e9, have / 1e9);
            goto fail;
        }
    }
    if (opts[1].count) {
        if (gptj_weights_load(&w, opts[0].count ? &c : NULL, cli_value(&opts[1], NULL), GPTJ_F32, 0, &e))
            goto fail;
        for (int i = 0; i < w.n_warnings; i++)
            fprintf(stderr, "warning: %s\n", w.warnings[i]);
    } else if (gptj_weights_synth(&w, &c, GPTJ_F32, seed, &e)) {
        goto fail;
    }
    int V = w.cfg.vocab_size;
    if (!opts[4].count && !opts[3].count) { /* synthetic ids, documented in --help */
        for (T = 0; T < 64; T++)
            tok[T] = (int)((seed * 2654435761u + (uint64_t)T * 40503u + 17u) % (uint64_t)V);
    }
    if ((uint64_t)T > max_tokens)
        T = (int)max_tokens;
    if (T > w.cfg.n_positions)
        T = w.cfg.n_positions;
    if (T < 2) {
        ipu_err(&e, "need at least 2 tokens to evaluate, got %d", T);
        goto fail;
    }
    if (!(ref = run_logits(&w, tok, T, &e)))
        goto fail;
    printf("model eval: %s, %s weights, %d tokens; reference fp32 forward\n", w.cfg.name,
           opts[1].count ? cli_value(&opts[1], NULL) : "synthetic", T);
    printf("%-16s %9s %12s %12s %14s %12s %10s %8s\n", "weights", "bits/par", "mean KL", "top-1 agree",
           "max |dlogit|", "perplexity", "w RMSE", "w SQNR");
    printf("%-16s %9.2f %12.3e %11.2f%% %14.3e %12.4g %10.3e %8s\n", "fp32", 32.0, 0.0, 100.0, 0.0,
           eval_perplexity(ref, tok, T, V), 0.0, "inf");
    QuantSpec f16 = {&quant_format_f16, QUANT_DEFAULT_GROUP, QUANT_AXIS_IN, 0, 0};
    for (int k = -1; k < nf; k++)
        if (eval_row(&w, k < 0 ? &f16 : &fspecs[k], tok, T, ref, &e))
            goto fail;
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "ipusim model eval: %s\n", e.msg);
out:
    free(tok);
    free(ref);
    gptj_weights_free(&w);
    return rc;
}

int cli_model(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return model_usage(argc < 2 ? stderr : stdout);
    if (!strcmp(argv[1], "synth"))
        return model_synth(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info"))
        return model_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check"))
        return model_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval"))
        return model_eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "forward"))
        return cli_model_forward(argc - 1, argv + 1);
    fprintf(stderr, "ipusim model: unknown subcommand '%s'\n", argv[1]);
    return model_usage(stderr);
}
