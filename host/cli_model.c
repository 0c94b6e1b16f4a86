/* cli_model.c - `ipusim model synth|info|check` and the dispatch of the
 * model subcommands (one table; `model eval` is host/cli_model_eval.c):
 * synthetic checkpoints, model sizes and bits per parameter per weight
 * format, and checkpoint checks. Options are looked up by name (an enum
 * of indices per subcommand). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli.h"
#include "host/cli_model.h"
#include "host/progress.h"
#include "models/gptj_config.h"
#include "models/gptj_weights.h"
#include "models/quant.h"
#include "models/quant_model.h"

int cli_model_u64(const char *cmd, const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-' || v > max) {
        fprintf(stderr, "ipusim %s: --%s '%s' is not an integer in 0..%llu\n", cmd, opt, s,
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
               "                         [--formats fp16,q4g:16,q4g:64,nf4g:64+dq,i8c | --group 32,64,128]\n"
               "                         [--max-tokens N] [--window N --stride S] [--resume FILE]\n"
               "                         [--json] [--csv FILE]\n"
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

enum { SY_CONFIG, SY_OUT, SY_SEED, SY_DTYPE, SY_SHARD_GB, SY_HELP, SY_COUNT };

static int model_synth(int argc, char **argv)
{
    CliOpt o[SY_COUNT] = {
        [SY_CONFIG] = {"config", 1, "preset name, config.json or checkpoint folder (required)", 0, {0}},
        [SY_OUT] = {"out", 1, "output folder: config.json + model.safetensors (or shards + index) (required)", 0, {0}},
        [SY_SEED] = {"seed", 1, "generator seed (default 0)", 0, {0}},
        [SY_DTYPE] = {"dtype", 1, "tensor dtype in the file: f16 (default, as GPT-J's float16 checkpoint), f32 or bf16",
                      0, {0}},
        [SY_SHARD_GB] = {"shard-gb", 1, "largest shard in GB (1e9 bytes) before splitting with an index (default 2)",
                         0, {0}},
        [SY_HELP] = {"help", 0, "show this help", 0, {0}},
    };
    const char *pos[1];
    int npos;
    if (cli_parse("model synth", argc, argv, o, SY_COUNT, pos, 0, &npos) < 0)
        return 2;
    if (o[SY_HELP].count) {
        cli_print_options(stdout, o, SY_COUNT);
        return 0;
    }
    if (!o[SY_CONFIG].count || !o[SY_OUT].count) {
        fprintf(stderr, "ipusim model synth: --config and --out are required\n");
        return 2;
    }
    uint64_t seed = 0;
    double shard_gb;
    if (cli_model_u64("model synth", "seed", cli_value(&o[SY_SEED], "0"), UINT64_MAX, &seed) ||
        cli_double("model synth", "shard-gb", cli_value(&o[SY_SHARD_GB], "2"), 1e-6, 1000, &shard_gb))
        return 2;
    const char *dt = cli_value(&o[SY_DTYPE], "f16");
    StDtype dtype = !strcmp(dt, "f32") ? ST_F32 : !strcmp(dt, "f16") ? ST_F16 : !strcmp(dt, "bf16") ? ST_BF16 : ST_DTYPE_COUNT;
    if (dtype == ST_DTYPE_COUNT) {
        fprintf(stderr, "ipusim model synth: --dtype '%s' must be f16, f32 or bf16\n", dt);
        return 2;
    }
    GptjConfig c;
    IpuErr e = {{0}};
    int shards = 0;
    const char *out = cli_value(&o[SY_OUT], NULL);
    if (gptj_config_resolve(&c, cli_value(&o[SY_CONFIG], NULL), &e) ||
        synth_write(&c, seed, dtype, out, (uint64_t)(shard_gb * 1e9), &shards, &e)) {
        fprintf(stderr, "ipusim model synth: %s\n", e.msg);
        return 1;
    }
    fprintf(stderr, "wrote %s: %s, %llu parameters as %s, seed %llu, %d shard%s\n", out, c.name,
            (unsigned long long)gptj_config_n_params(&c), st_dtype_name(dtype), (unsigned long long)seed, shards,
            shards == 1 ? "" : "s");
    return 0;
}

/* One row of model info: the model under the policy of spec text (q4g: Graphcore's; others: every tensor). */
static int info_row(const GptjConfig *c, const char *text, IpuErr *e)
{
    QuantSpec s;
    QuantPolicy p;
    QuantModelBits b;
    if (quant_spec_parse(text, &s, e))
        return -1;
    char label[64];
    if (s.fmt == &quant_format_q4g) {
        quant_policy_graphcore(&p, &s);
        snprintf(label, sizeof label, "%s (Graphcore policy)", text);
    } else {
        quant_policy_uniform(&p, &s);
        snprintf(label, sizeof label, "%s (every tensor)", text);
    }
    quant_model_bits(c, &p, &b);
    printf("%-28s %14.0f %10.3f %10.2f %10.2f\n", label, b.model_bits / 8, b.model_bits / 8e9,
           quant_model_bits_per_param(&b), quant_model_bits_per_param_all(&b));
    return 0;
}

enum { IN_CONFIG, IN_HELP, IN_COUNT };

static int model_info(int argc, char **argv)
{
    CliOpt o[IN_COUNT] = {
        [IN_CONFIG] = {"config", 1, "preset name, config.json or checkpoint folder (required)", 0, {0}},
        [IN_HELP] = {"help", 0, "show this help", 0, {0}},
    };
    const char *pos[1];
    int npos;
    if (cli_parse("model info", argc, argv, o, IN_COUNT, pos, 0, &npos) < 0)
        return 2;
    if (o[IN_HELP].count) {
        cli_print_options(stdout, o, IN_COUNT);
        return 0;
    }
    if (!o[IN_CONFIG].count) {
        fprintf(stderr, "ipusim model info: --config is required\n");
        return 2;
    }
    GptjConfig c;
    IpuErr e = {{0}};
    if (gptj_config_resolve(&c, cli_value(&o[IN_CONFIG], NULL), &e)) {
        fprintf(stderr, "ipusim model info: %s\n", e.msg);
        return 1;
    }
    gptj_config_print(stdout, &c);
    uint64_t np = gptj_config_n_params(&c), nm = gptj_config_n_matrix_params(&c);
    uint64_t C = (uint64_t)c.n_embd, I = (uint64_t)c.n_inner, V = (uint64_t)c.vocab_size;
    printf("parameters: %llu (%.3g), of which matrices %llu (linear %llu, embedding %llu); per block %llu\n",
           (unsigned long long)np, (double)np, (unsigned long long)nm, (unsigned long long)(nm - V * C),
           (unsigned long long)(V * C), (unsigned long long)(4 * C * C + 2 * I * C + 3 * C + I));
    printf("%-28s %14s %10s %10s %10s\n", "format", "bytes", "GB", "bits/par", "model b/p");
    const char *specs[] = {"f32", "f16", "q4g:32", "q4g:64", "q4g:128"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (info_row(&c, specs[i], &e)) {
            fprintf(stderr, "ipusim model info: %s\n", e.msg);
            return 1;
        }
    printf("bits/par: stored bits per parameter of the linear matrices (q/k/v/out_proj, fc_in, fc_out, lm_head); "
           "model b/p: of every tensor\n");
    return 0;
}

enum { CK_CHECKPOINT, CK_CONFIG, CK_STRICT, CK_SCAN, CK_HELP, CK_COUNT };

static int model_check(int argc, char **argv)
{
    CliOpt o[CK_COUNT] = {
        [CK_CHECKPOINT] = {"checkpoint", 1, "checkpoint folder, safetensors file or index (required)", 0, {0}},
        [CK_CONFIG] = {"config", 1, "config to check against (default: the checkpoint's config.json)", 0, {0}},
        [CK_STRICT] = {"strict", 0, "unknown tensors are errors, not warnings", 0, {0}},
        [CK_SCAN] = {"scan", 0, "also read every value (NaN/Inf, fp16 range), one tensor at a time", 0, {0}},
        [CK_HELP] = {"help", 0, "show this help", 0, {0}},
    };
    const char *pos[1];
    int npos;
    if (cli_parse("model check", argc, argv, o, CK_COUNT, pos, 0, &npos) < 0)
        return 2;
    if (o[CK_HELP].count) {
        cli_print_options(stdout, o, CK_COUNT);
        return 0;
    }
    if (!o[CK_CHECKPOINT].count) {
        fprintf(stderr, "ipusim model check: --checkpoint is required\n");
        return 2;
    }
    GptjConfig c;
    GptjWeights w;
    IpuErr e = {{0}};
    const char *path = cli_value(&o[CK_CHECKPOINT], NULL);
    int has_cfg = o[CK_CONFIG].count > 0, scan = o[CK_SCAN].count > 0;
    if ((has_cfg && gptj_config_resolve(&c, cli_value(&o[CK_CONFIG], NULL), &e)) ||
        gptj_checkpoint_check(&w, has_cfg ? &c : NULL, path, GPTJ_F16, o[CK_STRICT].count > 0, scan, &e)) {
        fprintf(stderr, "ipusim model check: %s\n", e.msg);
        return 1;
    }
    for (int i = 0; i < w.n_warnings; i++)
        fprintf(stderr, "warning: %s\n", w.warnings[i]);
    printf("%s: ok, every GPT-J tensor present with its shape%s; %d warning%s\n", path,
           scan ? " and finite fp16 values" : "", w.n_warnings, w.n_warnings == 1 ? "" : "s");
    gptj_config_print(stdout, &w.cfg);
    gptj_weights_free(&w);
    return 0;
}

/* The model subcommands; a new one is a line here. */
static const CliCommand model_commands[] = {
    {"synth", model_synth, "synthetic checkpoint"},
    {"info", model_info, "sizes and bits per parameter per format"},
    {"check", model_check, "validate a checkpoint"},
    {"eval", cli_model_eval, "accuracy of weight formats: perplexity, KL, top-1"},
    {"forward", cli_model_forward, "the reference forward over given ids: logits as .npy"},
};

int cli_model(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return model_usage(argc < 2 ? stderr : stdout);
    for (size_t i = 0; i < sizeof model_commands / sizeof model_commands[0]; i++)
        if (!strcmp(argv[1], model_commands[i].name))
            return model_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ipusim model: unknown subcommand '%s'\n", argv[1]);
    return model_usage(stderr);
}
