/* eval_text.h - a text evaluated a window at a time: strided perplexity
 * and the logit measures against a reference format, with a state that
 * lets a long text resume where it stopped.
 *
 * Windows (the standard strided-perplexity definition, as Hugging Face's
 * "Perplexity of fixed-length models"): window k covers positions
 * [k S, min(k S + N, T)) of the T tokens, N the window and S <= N the
 * stride; the last window is the first that reaches T. Each window is a
 * fresh forward (positions 0.. in the model) and is scored only on the
 * tokens new to it: targets t from max(previous window's end, k S + 1)
 * (1 in the first window) to its end, each predicted by the logits at
 * t - 1 with the window's earlier tokens as context. S = N gives disjoint
 * windows (the first token of each is context only); a smaller S gives
 * every scored token at least N - S tokens of context.
 *
 * At the scored positions, per format: perplexity exp(sum NLL / targets);
 * and against the reference format's logits at the same positions: mean
 * KL(ref || format), top-1 agreement, max |logit difference|. Sums are
 * doubles added position by position in order (eval.h EvalSums), so one
 * window over T tokens gives eval_perplexity and eval_compare's figures
 * exactly, and a resumed run the uninterrupted run's.
 *
 * The logits come from an EvalSource: a function that computes a window's
 * logits under every format (eval_layers_source: the host reference, layer
 * by layer). A second source (the simulated machine's functional mode)
 * plugs in the same way.
 *
 * The state (eval_text_save / eval_text_load) is a small text file: what
 * identifies the run (the tokens' count and hash, the weights, the format
 * list, window and stride), the next window and every format's sums as hex
 * floats, rewritten atomically after each window.
 *
 * Not here: the forward (eval_layers.h), tokenizing, the command line.
 */
#ifndef IPUSIM_EVAL_TEXT_H
#define IPUSIM_EVAL_TEXT_H

#include <stdint.h>

#include "base/err.h"
#include "models/eval.h"
#include "models/eval_layers.h"

/* Computes logits[f] (P, V) of tokens tok (P) at positions 0..P-1 under every format f. */
typedef int (*EvalLogitsFn)(void *ctx, const int *tok, int P, float *const *logits, IpuErr *e);

typedef struct EvalSource {
    EvalLogitsFn logits;
    void *ctx;
} EvalSource;

#define EVAL_ID_BYTES 512

typedef struct EvalText {
    const int *tok; /* (T), not owned */
    int T, window, stride, nwindows, V;
    int nf, ref;    /* formats; ref: the reference format's index */
    char formats[EVAL_ID_BYTES]; /* "fp16,q4g:64": the list, canonical */
    char weights[EVAL_ID_BYTES]; /* what the weights are, as the caller names them */
    uint64_t hash;  /* FNV-1a of the tokens */
    int next;       /* the next window to run */
    EvalSums sums[EVAL_MAX_FORMATS];
    float *logits[EVAL_MAX_FORMATS]; /* (window, V) each */
    double *scratch;                 /* (2 V) */
} EvalText;

/* Windows of T tokens; 0 when the window or stride is out of range (window >= 2, 1 <= stride <= window). */
int eval_text_count(int T, int window, int stride);
/* Window k: positions [begin, end); targets first_target .. end - 1. */
void eval_text_window(int T, int window, int stride, int k, int *begin, int *end, int *first_target);

/* window (and stride) are cut to T; weights names the weights for the state. */
int eval_text_init(EvalText *t, const int *tok, int T, int window, int stride, const QuantSpec *specs, int nf, int ref,
                   int V, const char *weights, IpuErr *e);
void eval_text_free(EvalText *t); /* safe on a zeroed struct */
/* Runs window t->next through src and adds its scored positions. */
int eval_text_step(EvalText *t, const EvalSource *src, IpuErr *e);

typedef struct EvalResult {
    double perplexity;     /* exp(mean NLL) of the targets */
    double mean_kl;        /* nats, KL(ref || format) */
    double top1_agree;     /* 0..1 */
    double max_logit_diff;
    uint64_t targets;
} EvalResult;
void eval_text_result(const EvalText *t, int f, EvalResult *out);

/* Writes the state to path atomically. */
int eval_text_save(const EvalText *t, const char *path, IpuErr *e);
/* Reads a state into t (initialised for this run): refuses one saved for
 * another text, weights, format list, window or stride, naming the first
 * difference. */
int eval_text_load(EvalText *t, const char *path, IpuErr *e);

#endif
