/* eval_sim.c - the simulated machine as model eval's logit source (see eval_sim.h). */
#include "host/eval_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/gptj_run.h"

/* The keys eval sets itself: what runs, and on which tokens; keep_fp16 too,
 * as the eval's quantization and bits per parameter are Graphcore's policy alone. */
static const char *const eval_owned[] = {"model",      "weights",    "checkpoint", "seed",    "formats",  "prompt",
                                         "prompt_len", "gen_tokens", "batch",      "seq_len", "keep_fp16"};

int eval_sim_key_owned(const char *kv)
{
    size_t n = strcspn(kv, "=");
    while (n && kv[n - 1] == ' ')
        n--;
    const char *k = strncmp(kv, "arch.", 5) ? kv : kv + 5;
    for (size_t i = 0; i < sizeof eval_owned / sizeof eval_owned[0]; i++)
        if (strlen(eval_owned[i]) == n - (size_t)(k - kv) && !strncmp(k, eval_owned[i], strlen(eval_owned[i])))
            return 1;
    return 0;
}

static int set_num(RunConfig *rc, const char *key, unsigned long long v, IpuErr *e)
{
    char b[32];
    snprintf(b, sizeof b, "%llu", v);
    return runcfg_set(rc, key, b, "model eval --on-sim", e);
}

int eval_sim_config(RunConfig *rc, const char *model, const char *checkpoint, uint64_t seed, const char *const *sets,
                    int nsets, IpuErr *e)
{
    runcfg_init(rc);
    for (int i = 0; i < nsets; i++) {
        if (eval_sim_key_owned(sets[i]))
            return ipu_err(e, "--set %s: model eval --on-sim sets this key itself (from --config, --checkpoint, "
                              "--seed, --formats and the windows)", sets[i]);
        if (runcfg_set_kv(rc, sets[i], "--set", e))
            return -1;
    }
    if ((model && runcfg_set(rc, "model", model, "--config", e)) ||
        runcfg_set(rc, "weights", checkpoint ? "checkpoint" : "synthetic", "model eval --on-sim", e) ||
        (checkpoint && runcfg_set(rc, "checkpoint", checkpoint, "--checkpoint", e)) ||
        (!checkpoint && set_num(rc, "seed", seed, e)))
        return ipu_err_prefix(e, "--on-sim");
    return 0;
}

int eval_sim_init(EvalSim *s, const RunConfig *base, const char *formats, int window, const GptjWeights *w, IpuErr *e)
{
    memset(s, 0, sizeof *s);
    s->rc = *base;
    if (runcfg_set(&s->rc, "formats", formats, "--formats", e) ||
        set_num(&s->rc, "prompt_len", (unsigned)window, e) || set_num(&s->rc, "gen_tokens", 1, e) ||
        set_num(&s->rc, "seq_len", (unsigned)window, e) || /* the one generated token is never fed back */
        set_num(&s->rc, "batch", 1, e) || runcfg_finish(&s->rc, e))
        return ipu_err_prefix(e, "--on-sim");
    if (!(s->ids = malloc((size_t)window * sizeof *s->ids)))
        return ipu_err(e, "out of memory");
    s->w = w, s->window = window;
    return 0;
}

void eval_sim_free(EvalSim *s)
{
    free(s->ids);
    s->ids = NULL;
}

/* Format f's run over the window's P ids: its (P, V) logits into out. */
static int run_format(EvalSim *s, int f, int P, float *out, IpuErr *e)
{
    RunOptions opt;
    if (runcfg_options(&s->rc, f, &opt, e))
        return -1;
    opt.prompt_len = (uint32_t)P, opt.gen_tokens = 1, opt.logits = RUN_LOGITS_ALL, opt.teacher = NULL;
    RunResult res;
    memset(&res, 0, sizeof res);
    int rv = gptj_run(&s->rc.arch, &opt, s->w, s->ids, NULL, &res, e);
    if (!rv && res.logits_positions != (uint32_t)P)
        rv = ipu_err(e, "the run gave %u positions' logits for a window of %d", res.logits_positions, P);
    if (!rv)
        memcpy(out, res.logits, (size_t)P * (size_t)s->rc.cfg.vocab_size * sizeof *out);
    run_result_free(&res);
    if (rv) {
        char name[32];
        quant_spec_format(&s->rc.specs[f], name, sizeof name);
        return ipu_err_prefix(e, "--on-sim, format %s", name);
    }
    return 0;
}

int eval_sim_logits(void *ctx, const int *tok, int P, float *const *logits, IpuErr *e)
{
    EvalSim *s = ctx;
    if (P > s->window)
        return ipu_err(e, "--on-sim: a window of %d tokens, the runs were set up for %d", P, s->window);
    for (int t = 0; t < P; t++)
        s->ids[t] = (uint32_t)tok[t];
    for (int f = 0; f < s->rc.nformats; f++) {
        if (run_format(s, f, P, logits[f], e))
            return -1;
        if (s->progress)
            s->progress(s->progress_ctx, f + 1, s->rc.nformats);
    }
    return 0;
}
