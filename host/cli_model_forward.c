/* cli_model_forward.c - `ipusim model forward`: the fp32 reference forward
 * (models/gptj_forward.h) over given token ids, the host's side of `ipusim
 * run --ids ... --logits`: the same ids, the same prefill then decode steps
 * (greedy, or teacher-forced), the same .npy logits, so the machine's fp16
 * numerics can be set against the reference.
 *
 * --format FMT runs the reference on what the machine's functional mode
 * holds in that format: every tensor through its quantize + dequantize
 * round trip under the run's policy (Graphcore's: gains, biases and the
 * embedding fp16, the other matrices in FMT), as `ipusim run` quantizes. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/cli.h"
#include "host/cli_logits.h"
#include "models/bpe.h"
#include "models/eval.h"
#include "models/gptj_forward.h"
#include "models/gptj_weights.h"
#include "models/quant.h"

/* The largest --text file. */
#define FORWARD_TEXT_MAX_BYTES (64u << 20)

enum {
    F_CONFIG, F_CHECKPOINT, F_SEED, F_IDS, F_IDS_FILE, F_TEXT, F_VOCAB, F_LOGITS, F_LOGITS_ALL, F_TEACHER,
    F_TEACHER_FILE, F_GEN_TOKENS, F_FORMAT, F_HELP, F_COUNT
};

static const CliOpt forward_opts[F_COUNT] = {
    {"config", 1, "preset name, config.json or checkpoint folder (default: the checkpoint's config.json)", 0, {0}},
    {"checkpoint", 1, "Hugging Face checkpoint folder (default: synthetic weights from --seed)", 0, {0}},
    {"seed", 1, "synthetic weights' seed (default 1, ipusim run's key seed default)", 0, {0}},
    {"ids", 1, "the prompt as token ids (decimal, comma or blank separated)", 0, {0}},
    {"ids-file", 1, "the same from a file", 0, {0}},
    {"text", 1, "the prompt as a UTF-8 text file, tokenized with the GPT-2 BPE", 0, {0}},
    {"vocab", 1, "BPE vocabulary folder for --text and the printed text (default as ipusim tokenize)", 0, {0}},
    {"logits", 1, "write the fp32 logits of the last position to FILE.npy, shape (1, vocab)", 0, {0}},
    {"logits-all", 0, "--logits holds every position's logits, shape (1, prompt + gen_tokens - 1, vocab)", 0, {0}},
    {"teacher-force", 1, "ids fed to the decode steps instead of the greedy tokens; gen_tokens = their count", 0, {0}},
    {"teacher-force-file", 1, "the same from a file", 0, {0}},
    {"gen-tokens", 1, "tokens generated, the first by the prefill (default 1; ipusim run's key gen_tokens)", 0, {0}},
    {"format", 1, "run on the weights as the machine holds them in this format (fp16, q4g:64, ...)", 0, {0}},
    {"help", 0, "this help", 0, {0}},
};

/* What one forward is asked to do. */
typedef struct Forward {
    CliIds prompt, teacher;
    uint32_t gen;        /* generated tokens (>= 1) */
    int all;             /* --logits-all: every position's logits go to the file */
    const char *path;    /* --logits FILE, or NULL */
    QuantSpec spec;      /* --format */
    int quantized;       /* --format given */
    long seed;           /* synthetic weights' */
} Forward;

/* The prompt ids from --ids, --ids-file or --text (exactly one): 0, 1 or 2 (usage). */
static int prompt_from(const CliOpt *o, Forward *fw, IpuErr *err)
{
    if (!!o[F_IDS].count + !!o[F_IDS_FILE].count + !!o[F_TEXT].count != 1) {
        ipu_err(err, "give the prompt as one of --ids, --ids-file or --text");
        return 2;
    }
    if (!o[F_TEXT].count)
        return cli_ids_get(&o[F_IDS], &o[F_IDS_FILE], &fw->prompt, err);
    char *text;
    size_t len;
    if (fileio_read(cli_value(&o[F_TEXT], ""), "--text", FORWARD_TEXT_MAX_BYTES, &text, &len, err))
        return 1;
    int rv = cli_ids_from_text(text, len, cli_value(&o[F_VOCAB], NULL), "--text", &fw->prompt, err);
    free(text);
    return rv ? 1 : 0;
}

/* Every option into fw, before any work: 0, 1 or 2 (usage); err empty
 * when the message is printed (cli_long). */
static int parse_forward(const CliOpt *o, Forward *fw, IpuErr *err)
{
    if (!o[F_CONFIG].count && !o[F_CHECKPOINT].count) {
        ipu_err(err, "give --config or --checkpoint");
        return 2;
    }
    int st = prompt_from(o, fw, err);
    if (!st)
        st = cli_ids_get(&o[F_TEACHER], &o[F_TEACHER_FILE], &fw->teacher, err);
    if (st)
        return st;
    long gen = 1;
    fw->seed = 1;
    err->msg[0] = '\0';
    if ((o[F_GEN_TOKENS].count &&
         cli_long("model forward", "gen-tokens", cli_value(&o[F_GEN_TOKENS], ""), 1, 1 << 20, &gen)) ||
        (o[F_SEED].count && cli_long("model forward", "seed", cli_value(&o[F_SEED], ""), 0, LONG_MAX, &fw->seed)))
        return 2;
    if (fw->teacher.n && o[F_GEN_TOKENS].count && (size_t)gen != fw->teacher.n) {
        ipu_err(err, "--gen-tokens %ld and %s (%zu ids) disagree: give one", gen, fw->teacher.what, fw->teacher.n);
        return 2;
    }
    fw->gen = fw->teacher.n ? (uint32_t)fw->teacher.n : (uint32_t)gen;
    if (o[F_LOGITS_ALL].count && !o[F_LOGITS].count) {
        ipu_err(err, "--logits-all needs --logits FILE.npy");
        return 2;
    }
    fw->path = cli_value(&o[F_LOGITS], NULL);
    if (fw->path && !fw->path[0]) {
        ipu_err(err, "--logits: empty file name");
        return 2;
    }
    fw->all = o[F_LOGITS_ALL].count > 0;
    fw->quantized = o[F_FORMAT].count > 0;
    if (fw->quantized && quant_spec_parse(cli_value(&o[F_FORMAT], ""), &fw->spec, err)) {
        ipu_err_prefix(err, "--format");
        return 2;
    }
    return 0;
}

/* The model: --config's, the checkpoint's, or both when they agree. */
static int resolve_config(const CliOpt *o, GptjConfig *c, IpuErr *err)
{
    const char *cfg = cli_value(&o[F_CONFIG], NULL), *ck = cli_value(&o[F_CHECKPOINT], NULL);
    GptjConfig k;
    char d[96];
    if (gptj_config_resolve(c, cfg ? cfg : ck, err) || (cfg && ck && gptj_config_resolve(&k, ck, err)))
        return -1;
    if (cfg && ck && gptj_config_diff(c, &k, d, sizeof d))
        return ipu_err(err, "--config %s and --checkpoint %s (its config.json) are different models, %s", cfg, ck, d);
    return 0;
}

/* The weights in fp32: the checkpoint's or synthetic, then (--format)
 * what the machine holds of them. */
static int load_weights(const CliOpt *o, const GptjConfig *c, const Forward *fw, GptjWeights *w, IpuErr *err)
{
    uint64_t copies = fw->quantized ? 2 : 1, need = copies * 4 * gptj_config_n_params(c);
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if ((double)need > 0.8 * have) /* the OOM killer would decide otherwise */
        return ipu_err(err, "%s: the reference keeps %llu fp32 cop%s of the weights, %.1f GB, more than 80%% of this "
                            "machine's %.1f GB",
                       c->name, (unsigned long long)copies, copies > 1 ? "ies" : "y", (double)need / 1e9, have / 1e9);
    GptjWeights src;
    if (o[F_CHECKPOINT].count ? gptj_weights_load(&src, c, cli_value(&o[F_CHECKPOINT], ""), GPTJ_F32, 0, err)
                              : gptj_weights_synth(&src, c, GPTJ_F32, (uint64_t)fw->seed, err))
        return -1;
    for (int i = 0; i < src.n_warnings; i++)
        fprintf(stderr, "warning: %s\n", src.warnings[i]);
    if (!fw->quantized) {
        *w = src;
        return 0;
    }
    QuantPolicy p;
    quant_policy_graphcore(&p, &fw->spec); /* as runcfg_options gives a run */
    int rc = eval_quantize_weights(w, &src, &p, GPTJ_F32, err);
    gptj_weights_free(&src);
    return rc ? ipu_err_prefix(err, "--format") : 0;
}

/* The prefill then gen - 1 decode steps (greedy, or teacher-forced) on the
 * reference: tokens (gen), logits (prompt + gen - 1, V) of every position. */
static int forward_run(const GptjWeights *w, const Forward *fw, uint32_t *tokens, float *logits, IpuErr *err)
{
    int V = w->cfg.vocab_size, P = (int)fw->prompt.n, G = (int)fw->gen;
    int *ids = malloc((size_t)P * sizeof *ids);
    GptjState s;
    if (!ids)
        return ipu_err(err, "out of memory");
    for (int i = 0; i < P; i++)
        ids[i] = (int)fw->prompt.ids[i];
    int rc = gptj_state_init(&s, w, 1, P + G - 1, err);
    if (!rc)
        rc = gptj_forward(&s, ids, P, logits, 0, err);
    GptjSampler greedy = {0};
    for (int k = 0; !rc && k < G; k++) {
        const float *row = logits + (size_t)(P - 1 + k) * V; /* position P - 1 + k predicts token k */
        tokens[k] = fw->teacher.n ? fw->teacher.ids[k] : (uint32_t)gptj_sample(&greedy, row, V);
        int t = (int)tokens[k];
        if (k + 1 < G)
            rc = gptj_forward(&s, &t, 1, logits + (size_t)(P + k) * V, 1, err);
    }
    gptj_state_free(&s);
    free(ids);
    return rc;
}

/* Prints what ran and its tokens; writes the logits file. */
static int forward_report(const CliOpt *o, const GptjConfig *c, const Forward *fw, const uint32_t *tokens,
                          const float *logits, IpuErr *err)
{
    uint32_t V = (uint32_t)c->vocab_size, np = (uint32_t)fw->prompt.n + fw->gen - 1;
    char fmt[32] = "fp32";
    if (fw->quantized)
        quant_spec_format(&fw->spec, fmt, sizeof fmt);
    printf("model forward: %s, %s weights as %s, prompt %zu ids, %u tokens; reference fp32 forward\n", c->name,
           o[F_CHECKPOINT].count ? cli_value(&o[F_CHECKPOINT], "") : "synthetic", fmt, fw->prompt.n, fw->gen);
    char dir[BPE_PATH_BYTES];
    IpuErr e2;
    Bpe *bpe = bpe_find_vocab(cli_value(&o[F_VOCAB], NULL), dir, sizeof dir, &e2) ? NULL : bpe_create(dir, &e2);
    cli_print_ids(stdout, fw->teacher.n ? "teacher-forced" : "generated (greedy)", tokens, fw->gen, bpe);
    bpe_destroy(bpe);
    if (!fw->path)
        return 0;
    FileioFile f = {0};
    int all = fw->all;
    if (cli_logits_stage(&f, fw->path, all ? logits : logits + (size_t)(np - 1) * V, 1, all ? np : 1, V, all, err) ||
        fileio_file_commit(&f, err))
        return ipu_err_prefix(err, "--logits");
    fprintf(stderr, "logits: %s\n", fw->path);
    return 0;
}

/* Everything after the options: 0 or 1. */
static int forward_main(const CliOpt *o, Forward *fw, IpuErr *err)
{
    GptjConfig c;
    GptjWeights w;
    memset(&w, 0, sizeof w);
    if (resolve_config(o, &c, err) || cli_ids_check(&fw->prompt, c.vocab_size, c.name, err) ||
        cli_ids_check(&fw->teacher, c.vocab_size, c.name, err))
        return 1;
    uint64_t np = fw->prompt.n + fw->gen - 1;
    if (np > (uint64_t)c.n_positions) {
        ipu_err(err, "prompt %zu + %u tokens - 1 = %llu positions exceed the context of %s (%d)", fw->prompt.n,
                fw->gen, (unsigned long long)np, c.name, c.n_positions);
        return 1;
    }
    uint32_t *tokens = malloc(fw->gen * sizeof *tokens);
    float *logits = malloc(np * (uint64_t)c.vocab_size * sizeof *logits);
    int rc = !tokens || !logits ? ipu_err(err, "out of memory for %llu positions' logits", (unsigned long long)np)
             : load_weights(o, &c, fw, &w, err) || forward_run(&w, fw, tokens, logits, err) ||
                     forward_report(o, &c, fw, tokens, logits, err)
                 ? -1
                 : 0;
    gptj_weights_free(&w);
    free(tokens);
    free(logits);
    return rc ? 1 : 0;
}

int cli_model_forward(int argc, char **argv)
{
    CliOpt o[F_COUNT];
    memcpy(o, forward_opts, sizeof o);
    const char *pos[1];
    int npos;
    if (cli_parse("model forward", argc, argv, o, F_COUNT, pos, 0, &npos))
        return 2;
    if (o[F_HELP].count) {
        printf("usage: ipusim model forward --config C [--checkpoint DIR | --seed S] (--ids IDS | --ids-file F | "
               "--text F)\n"
               "                            [--logits F.npy [--logits-all]] [--teacher-force IDS] [--format FMT]\n"
               "  the fp32 reference forward over the ids: ipusim run's prefill and decode steps on the host\n");
        cli_print_options(stdout, o, F_COUNT);
        return 0;
    }
    Forward fw;
    memset(&fw, 0, sizeof fw);
    IpuErr err = {{0}};
    int st = parse_forward(o, &fw, &err);
    if (!st)
        st = forward_main(o, &fw, &err);
    if (st && err.msg[0])
        fprintf(stderr, "ipusim model forward: %s\n", err.msg);
    cli_ids_free(&fw.prompt);
    cli_ids_free(&fw.teacher);
    return st;
}
