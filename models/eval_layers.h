/* eval_layers.h - the fp32 reference forward of GPT-J under several weight
 * formats at once, a layer at a time, so a model far larger than memory
 * (GPT-J 6B, 24 GB in fp32) is evaluated in about two layers of fp32.
 *
 * One call runs P positions (one window of a text, positions 0..P-1)
 * through the model for every format. The hidden states of all formats
 * (nf, P, C) pass through layer l together: the layer's tensors are read
 * once in fp32 (gptj_weights_rows: a lazy checkpoint, lazy synthetic
 * weights or stored ones), then for each format every tensor makes its
 * quantize-dequantize round trip under the format's policy (eval_policy,
 * eval_round_trip: what eval_quantize_weights does to the whole model) and
 * gptj_block runs that format's states through it. The embedding takes the
 * round trip of the tokens' rows only, the LM head of a window of rows at
 * a time; a spec that is not row-local there (quant_spec_row_local: fp8
 * :tensor, nf4g+dq, q4g:N:out) keeps its whole round trip in fp32 instead.
 * The logits are bit for bit those of gptj_forward over the
 * eval_quantize_weights copy of the model (tests/test_eval_layers.c).
 *
 * The weights' own error (RMSE, SQNR over every matrix, as
 * eval_quantize_weights_err) is measured during the first call.
 *
 * Memory: the source layer and one format's round trip of it (fp32), the
 * states (nf, P, C) and one layer's attention cache (P, C), a block's
 * scratch, EVAL_LAYERS_ROWS rows of the embedding or LM head (source, round
 * trip, their logits), and the whole-tensor round trips above.
 *
 * Not here: windows of a text and the sums over them (eval_text.h).
 */
#ifndef IPUSIM_EVAL_LAYERS_H
#define IPUSIM_EVAL_LAYERS_H

#include "base/err.h"
#include "models/eval.h"
#include "models/gptj_weights.h"
#include "models/quant.h"

#define EVAL_MAX_FORMATS 16
/* Rows of the embedding or LM head round-tripped at a time. */
#define EVAL_LAYERS_ROWS 2048

typedef struct EvalLayers {
    const GptjWeights *src; /* not owned */
    int nf, max_p;
    int rows;                       /* rows per window: EVAL_LAYERS_ROWS (a test may lower it) */
    QuantSpec spec[EVAL_MAX_FORMATS];
    QuantPolicy policy[EVAL_MAX_FORMATS];
    float *x;                       /* (nf, max_p, C) hidden states */
    float *kc, *vc;                 /* (max_p, C) one layer's cache */
    float *block_buf;               /* gptj_block_buf_floats(max_p) */
    float *src_layer, *deq_layer;   /* one layer's ten tensors in table order, fp32 */
    float *rows_src, *rows_deq;     /* (EVAL_LAYERS_ROWS, C) */
    float *rows_out;                /* (max_p, EVAL_LAYERS_ROWS) */
    float *bias;                    /* (V) the LM head bias, one format's round trip */
    float *whole[EVAL_MAX_FORMATS][2]; /* round trips of the embedding [0] and LM head [1] that are not row-local */
    EvalWeightSums wsums[EVAL_MAX_FORMATS];
    int measured;                   /* wsums hold every matrix (after the first call) */
    /* Optional: after each stage of a call (the embedding, each layer, the LM head: n_layer + 2). */
    void (*progress)(void *ctx, int done, int total);
    void *progress_ctx;
} EvalLayers;

/* specs (nf <= EVAL_MAX_FORMATS); max_p: the most positions a call takes. */
int eval_layers_init(EvalLayers *h, const GptjWeights *src, const QuantSpec *specs, int nf, int max_p, IpuErr *e);
void eval_layers_free(EvalLayers *h); /* safe on a zeroed struct */
/* logits[f] (P, V) of tokens tok (P, each in the vocabulary) at positions
 * 0..P-1 under format f. */
int eval_layers_logits(EvalLayers *h, const int *tok, int P, float *const *logits, IpuErr *e);
/* The weights' error under format f (valid after the first call). */
void eval_layers_weight_error(const EvalLayers *h, int f, EvalWeightError *out);

/* eval_layers_logits as a logit source (eval_text.h EvalSource): ctx is an EvalLayers. */
int eval_layers_source(void *ctx, const int *tok, int P, float *const *logits, IpuErr *e);

#endif
