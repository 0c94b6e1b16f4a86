/* model_eval.h - the work of `ipusim model eval`, shared with `ipusim
 * tradeoff`: the tokens (a text through the GPT-2 BPE, ids, or synthetic
 * ids), the weights made or mapped lazily, the formats with fp16 as the
 * reference, then the text a window at a time through a logit source
 * (models/eval_text.h) with a progress line on a terminal and an optional
 * resume state; and the results as a table, JSON or CSV.
 *
 * The logit source is chosen here: the host reference, layer by layer
 * (models/eval_layers.h), or with on_sim the simulated machine's
 * functional mode (host/eval_sim.h).
 *
 * Not here: option parsing (host/cli_model_eval.c, host/cli_tradeoff.c).
 */
#ifndef IPUSIM_MODEL_EVAL_H
#define IPUSIM_MODEL_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "models/eval_layers.h"
#include "models/eval_text.h"
#include "models/gptj_config.h"
#include "models/quant_model.h"

/* The most tokens a text or id list gives. */
#define MODEL_EVAL_MAX_TOKENS (1 << 24)

typedef struct ModelEval {
    /* inputs */
    GptjConfig cfg;
    const char *checkpoint;  /* NULL: synthetic weights from seed */
    uint64_t seed;
    int *tok;                /* (T) owned, from model_eval_tokens */
    int T;
    QuantSpec specs[EVAL_MAX_FORMATS];
    int nf, ref;             /* ref: fp16's index */
    int window, stride;      /* 0: every token in one window (up to n_positions); stride 0: the window */
    const char *resume;      /* state file or NULL */
    int quiet;               /* no progress line */
    int on_sim;              /* the logits from the simulated machine's functional mode (host/eval_sim.h) */
    const char *model;       /* on_sim: the --config value (NULL: the checkpoint's config.json) */
    const char *const *sets; /* on_sim: nsets "key=value" run keys (also the resume state's identity) */
    int nsets;
    const struct RunConfig *sim_base; /* on_sim: the runs' configuration as is (tradeoff's); NULL: from sets */
    /* results */
    int nwindows, scored, ran_windows; /* windows run by this process (0 when a finished state was resumed) */
    EvalResult res[EVAL_MAX_FORMATS];
    EvalWeightError werr[EVAL_MAX_FORMATS]; /* rmse NaN when no window ran here */
    QuantModelBits bits[EVAL_MAX_FORMATS];
    char weights_id[EVAL_ID_BYTES]; /* the weights, and with on_sim the machine's run keys: a resume state's identity */
    char source[128];        /* where the logits came from, for the reports */
} ModelEval;

/* The tokens: ids ("464,3290") if given, else the text file through the
 * GPT-2 BPE (vocab: its folder or NULL), else 64 synthetic ids from seed;
 * at most max_tokens (0: all); each checked against cfg's vocabulary.
 * Returns 2 when the ids are malformed or fewer than 2 (a usage error), 1
 * for any other error, 0. */
int model_eval_tokens(ModelEval *m, const char *ids, const char *text, const char *vocab, uint64_t max_tokens,
                      IpuErr *e);
/* Parses a comma list of formats into m->specs (fp16 put first when
 * absent), each grouped one checked against cfg's input axes; opt names
 * the option in errors. Returns 2 for a usage error, 1 for one the model
 * causes, 0. */
int model_eval_formats(ModelEval *m, const char *list, const char *opt, IpuErr *e);
/* Runs the evaluation; fills the results. */
int model_eval_run(ModelEval *m, IpuErr *e);
void model_eval_free(ModelEval *m);

void model_eval_print(FILE *f, const ModelEval *m);
int model_eval_print_json(const ModelEval *m);
/* The table as CSV text (malloc'ed; NULL: out of memory). */
char *model_eval_csv(const ModelEval *m, size_t *len);

#endif
