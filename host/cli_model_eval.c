/* cli_model_eval.c - `ipusim model eval`: the accuracy of weight formats on
 * a text (perplexity, and KL, top-1 agreement and max logit difference
 * against fp16), the reference forward run layer by layer so GPT-J 6B fits
 * in memory; strided windows, a resume state, table, JSON or CSV. The work
 * is host/model_eval.c; this file reads the options, by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "host/cli.h"
#include "host/cli_model.h"
#include "host/eval_sim.h"
#include "host/model_eval.h"

enum {
    E_CONFIG, E_CHECKPOINT, E_SEED, E_TEXT, E_TOKENS, E_GROUP, E_FORMATS, E_MAX_TOKENS, E_WINDOW, E_STRIDE, E_VOCAB,
    E_RESUME, E_ON_SIM, E_SET, E_JSON, E_CSV, E_QUIET, E_HELP, E_COUNT
};

static const CliOpt eval_opts[E_COUNT] = {
    [E_CONFIG] = {"config", 1, "preset name, config.json or checkpoint folder (default: the checkpoint's config)", 0,
                  {0}},
    [E_CHECKPOINT] = {"checkpoint", 1, "Hugging Face checkpoint folder (config.json + safetensors), mapped lazily", 0,
                      {0}},
    [E_SEED] = {"seed", 1, "synthetic weights from this seed when no checkpoint (default 0)", 0, {0}},
    [E_TEXT] = {"text", 1, "UTF-8 text file, tokenized with the GPT-2 BPE", 0, {0}},
    [E_TOKENS] = {"tokens", 1, "token ids, e.g. 464,3290,318 (default: 64 synthetic ids from the seed)", 0, {0}},
    [E_GROUP] = {"group", 1, "int4-group sizes, q4g:N for each (default 32,64,128, those that divide the model's "
                             "input axes)", 0, {0}},
    [E_FORMATS] = {"formats", 1, "weight formats, comma-separated, each under Graphcore's policy (fp16 and fp32: "
                                 "every tensor), e.g. fp16,q4g:64,s4g:64,nf4g:64+dq,i8c,fp8e4m3; fp16 is always "
                                 "evaluated, the reference", 0, {0}},
    [E_MAX_TOKENS] = {"max-tokens", 1, "evaluate at most this many tokens of the text (default 256; 0: all)", 0, {0}},
    [E_WINDOW] = {"window", 1, "positions per forward (default: all the tokens, up to the model's n_positions)", 0,
                  {0}},
    [E_STRIDE] = {"stride", 1, "tokens between window starts, <= window; each window scores only its new tokens "
                               "(default: the window)", 0, {0}},
    [E_VOCAB] = {"vocab", 1, "BPE vocabulary folder for --text (default as ipusim tokenize)", 0, {0}},
    [E_RESUME] = {"resume", 1, "state file: continue from it when it exists, rewritten after each window", 0, {0}},
    [E_ON_SIM] = {"on-sim", 0, "the logits from the simulated machine's functional mode (fp16 numerics, one run a "
                               "format and window) instead of the fp32 host reference", 0, {0}},
    [E_SET] = {"set", 1, "with --on-sim: key=value, any run key but those eval sets (ipusim run --list-keys), "
                         "repeatable", 0, {0}},
    [E_JSON] = {"json", 0, "print JSON on stdout instead of the table", 0, {0}},
    [E_CSV] = {"csv", 1, "also write the table as CSV to FILE", 0, {0}},
    [E_QUIET] = {"quiet", 0, "no progress line", 0, {0}},
    [E_HELP] = {"help", 0, "show this help", 0, {0}},
};

/* --formats, or --group's sizes as q4g:N, or the default sizes that divide
 * the model's input axes, into m. 0, 1 or 2 (the exit code). */
static int eval_formats(ModelEval *m, const CliOpt *o, IpuErr *e)
{
    if (o[E_FORMATS].count && o[E_GROUP].count)
        return ipu_err(e, "give --group or --formats, not both"), 2;
    if (o[E_FORMATS].count)
        return model_eval_formats(m, cli_value(&o[E_FORMATS], ""), "--formats", e);
    char list[512] = "", buf[256];
    snprintf(buf, sizeof buf, "%s", cli_value(&o[E_GROUP], "32,64,128"));
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        char spec[64];
        QuantSpec s;
        snprintf(spec, sizeof spec, "q4g:%.40s", tok);
        if (strchr(tok, ':') || quant_spec_parse(spec, &s, e))
            return ipu_err_prefix(e, "--group %s", tok), 2;
        ModelEval one = *m; /* the default sizes: those this model's input axes take */
        if (!o[E_GROUP].count && model_eval_formats(&one, spec, "--group", e))
            continue;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? "," : "", spec);
    }
    if (!list[0])
        return ipu_err(e, "--group '%s': no group size", cli_value(&o[E_GROUP], "")), 2;
    return model_eval_formats(m, list, "--group", e);
}

/* The numbers of the options into m; -1 after a usage message. */
static int eval_numbers(ModelEval *m, const CliOpt *o, uint64_t *max_tokens)
{
    uint64_t window = 0, stride = 0;
    if (cli_model_u64("model eval", "seed", cli_value(&o[E_SEED], "0"), UINT64_MAX, &m->seed) ||
        cli_model_u64("model eval", "max-tokens", cli_value(&o[E_MAX_TOKENS], "256"), MODEL_EVAL_MAX_TOKENS,
                      max_tokens) ||
        cli_model_u64("model eval", "window", cli_value(&o[E_WINDOW], "0"), 1 << 20, &window) ||
        cli_model_u64("model eval", "stride", cli_value(&o[E_STRIDE], "0"), 1 << 20, &stride))
        return -1;
    if ((o[E_WINDOW].count && window < 2) || (o[E_STRIDE].count && stride < 1) ||
        (o[E_WINDOW].count && stride > window)) {
        fprintf(stderr, "ipusim model eval: --window %llu --stride %llu: need a window of at least 2 and a stride "
                        "in 1..window\n", (unsigned long long)window, (unsigned long long)stride);
        return -1;
    }
    if (o[E_CSV].count && !cli_value(&o[E_CSV], "")[0]) {
        fprintf(stderr, "ipusim model eval: --csv: empty file name\n");
        return -1;
    }
    m->window = (int)window, m->stride = (int)stride;
    return 0;
}

/* Everything before the work: the config, formats and tokens. 0, 1 or 2. */
static int eval_setup(ModelEval *m, const CliOpt *o, IpuErr *e)
{
    uint64_t max_tokens;
    if (!o[E_CONFIG].count && !o[E_CHECKPOINT].count)
        return ipu_err(e, "--config or --checkpoint is required"), 2;
    if (eval_numbers(m, o, &max_tokens))
        return 2;
    m->checkpoint = cli_value(&o[E_CHECKPOINT], NULL);
    m->resume = cli_value(&o[E_RESUME], NULL);
    m->quiet = o[E_QUIET].count > 0;
    m->on_sim = o[E_ON_SIM].count > 0;
    m->model = cli_value(&o[E_CONFIG], NULL);
    m->sets = o[E_SET].values, m->nsets = o[E_SET].count;
    if (m->nsets && !m->on_sim)
        return ipu_err(e, "--set %s: run keys go with --on-sim", m->sets[0]), 2;
    for (int i = 0; i < m->nsets; i++)
        if (eval_sim_key_owned(m->sets[i]))
            return ipu_err(e, "--set %s: model eval sets this key itself (from --config, --checkpoint, --seed, "
                              "--formats and the windows)", m->sets[i]), 2;
    if (gptj_config_resolve(&m->cfg, cli_value(&o[E_CONFIG], m->checkpoint), e))
        return 1;
    int rc = eval_formats(m, o, e);
    if (rc)
        return rc;
    if (m->window > m->cfg.n_positions)
        return ipu_err(e, "--window %d exceeds the context n_positions %d of %s", m->window, m->cfg.n_positions,
                       m->cfg.name), 2;
    return model_eval_tokens(m, cli_value(&o[E_TOKENS], NULL), cli_value(&o[E_TEXT], NULL),
                             cli_value(&o[E_VOCAB], NULL), max_tokens, e);
}

/* The results: JSON or the table on stdout, the CSV file. */
static int eval_output(const ModelEval *m, const CliOpt *o, IpuErr *e)
{
    if (o[E_JSON].count ? model_eval_print_json(m) : (model_eval_print(stdout, m), 0))
        return ipu_err(e, "out of memory printing JSON");
    if (!o[E_CSV].count)
        return 0;
    size_t len = 0;
    char *csv = model_eval_csv(m, &len);
    int rv = csv ? fileio_write(cli_value(&o[E_CSV], ""), csv, len, e) : ipu_err(e, "out of memory");
    free(csv);
    if (!rv)
        fprintf(stderr, "csv: %s\n", cli_value(&o[E_CSV], ""));
    return rv;
}

int cli_model_eval(int argc, char **argv)
{
    CliOpt o[E_COUNT];
    memcpy(o, eval_opts, sizeof o);
    const char *pos[1];
    int npos;
    if (cli_parse("model eval", argc, argv, o, E_COUNT, pos, 0, &npos) < 0)
        return 2;
    if (o[E_HELP].count) {
        cli_print_options(stdout, o, E_COUNT);
        return 0;
    }
    ModelEval m;
    memset(&m, 0, sizeof m);
    IpuErr e = {{0}};
    int rc = eval_setup(&m, o, &e);
    if (!rc && (model_eval_run(&m, &e) || eval_output(&m, o, &e)))
        rc = 1;
    if (rc && e.msg[0]) { /* an option's number printed its own message */
        fflush(stdout);
        fprintf(stderr, "ipusim model eval: %s\n", e.msg);
    }
    model_eval_free(&m);
    return rc;
}
