/* eval_sim.h - `model eval --on-sim`: the simulated machine's functional
 * mode as a logit source (models/eval_text.h EvalSource), so the
 * evaluation measures the machine's own numerics (fp16 activations and
 * partials, the decompress codelets' roundings, the AMP's order of
 * additions) instead of the fp32 host reference.
 *
 * Each window of P tokens runs once per format as `ipusim run --ids
 * <window> --logits-all` would: a functional gptj_run with the window as
 * the prompt (batch 1, one generated token) and every position's logits
 * (RunOptions.logits = RUN_LOGITS_ALL), so row t predicts token t + 1.
 * Every run lowers GPT-J anew: for GPT-J 6B a lowering per format and
 * window (docs/user-guide.md, "Accuracy").
 *
 * The run keys (arch, kv_cache, partials, scheme, ...) come from the
 * caller's `--set key=value` lines; eval owns the keys that say what runs
 * (model, weights, checkpoint, seed, formats, prompt, prompt_len,
 * gen_tokens, batch, seq_len, and keep_fp16: the bits per parameter are
 * Graphcore's policy's) and refuses them.
 *
 * Not here: the windows and sums (eval_text.h), the host reference
 * (eval_layers.h).
 */
#ifndef IPUSIM_EVAL_SIM_H
#define IPUSIM_EVAL_SIM_H

#include "base/err.h"
#include "host/runcfg.h"
#include "models/eval_text.h"
#include "models/gptj_weights.h"

typedef struct EvalSim {
    RunConfig rc;              /* the run keys, model and formats resolved */
    const GptjWeights *w;      /* not owned */
    uint32_t *ids;             /* (window) the window's ids as the run takes them */
    int window;
    void (*progress)(void *ctx, int done, int total); /* after each format's run; may be NULL */
    void *progress_ctx;
} EvalSim;

/* The run configuration of `model eval --on-sim`: sets (n "key=value" run
 * keys, none of eval's own) over the defaults, then model (the --config
 * value, or NULL with a checkpoint folder: its config.json), the weights
 * and seed. Errors name the key at fault. */
int eval_sim_config(RunConfig *rc, const char *model, const char *checkpoint, uint64_t seed, const char *const *sets,
                    int nsets, IpuErr *e);
/* Runs on base (eval_sim_config's, or `ipusim tradeoff`'s run keys) with
 * formats (the canonical list, in the evaluation's order) and windows of up
 * to window tokens set here; a format the machine cannot hold (fp32) or a
 * window past the model's context is refused before any window runs. */
int eval_sim_init(EvalSim *s, const RunConfig *base, const char *formats, int window, const GptjWeights *w, IpuErr *e);
void eval_sim_free(EvalSim *s);

/* 1 if a "key=value" line names a key eval sets itself. */
int eval_sim_key_owned(const char *kv);

/* EvalLogitsFn over an EvalSim (ctx). */
int eval_sim_logits(void *ctx, const int *tok, int P, float *const *logits, IpuErr *e);

#endif
