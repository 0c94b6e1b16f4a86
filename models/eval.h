/* eval.h - accuracy of a weight format: how far the logits of a run with
 * quantized weights move from a reference run over the same tokens.
 *
 * eval_compare takes two logit arrays (P positions x V) and reports the mean
 * KL divergence KL(ref || test) of the next-token distributions (softmax of
 * each row, in double), the fraction of positions whose argmax agrees, and
 * the largest absolute logit difference. eval_perplexity gives exp(mean
 * negative log-likelihood) of tokens[1..T) under logits[0..T-1) - meaningful
 * only with real (not synthetic) weights.
 *
 * eval_quantize_weights makes a copy of a model whose every tensor went
 * through quantize + dequantize under a QuantPolicy (quant.h), so the fp32
 * reference forward runs "as if" on the quantized model: fp16 and int4-group
 * values are fp16 numbers, stored exactly in an fp16 or fp32 matrix slab.
 *
 * Not here: the forward pass (gptj_forward.h), the formats (quant.h).
 */
#ifndef IPUSIM_EVAL_H
#define IPUSIM_EVAL_H

#include "base/err.h"
#include "models/gptj_weights.h"
#include "models/quant.h"

typedef struct EvalCompare {
    int n_positions;
    double mean_kl;        /* nats, KL(ref || test) averaged over positions */
    double top1_agree;     /* fraction 0..1 */
    double max_logit_diff; /* max |ref - test| over all logits */
} EvalCompare;

/* ref, test (P, V). */
void eval_compare(EvalCompare *out, const float *ref, const float *test, int P, int V);
/* logits (T, V), tokens (T); T >= 2. */
double eval_perplexity(const float *logits, const int *tokens, int T, int V);

/* dst = src with each tensor replaced by its quantize-dequantize round trip
 * under p; dst's matrices are stored in wdtype. Errors name the tensor. */
int eval_quantize_weights(GptjWeights *dst, const GptjWeights *src, const QuantPolicy *p, GptjDtype wdtype,
                          IpuErr *e);

/* The weights' own error over every matrix (the embedding, the layers'
 * linears, the LM head) against the source: RMSE and SQNR = 10 log10(sum
 * w^2 / sum err^2) (+INFINITY when exact). */
typedef struct EvalWeightError {
    double rmse;
    double sqnr_db;
    uint64_t elems;
} EvalWeightError;
/* eval_quantize_weights that also measures the matrices' error (err may be NULL). */
int eval_quantize_weights_err(GptjWeights *dst, const GptjWeights *src, const QuantPolicy *p, GptjDtype wdtype,
                              EvalWeightError *err, IpuErr *e);

#endif
