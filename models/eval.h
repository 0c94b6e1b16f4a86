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

/* What eval_compare and eval_perplexity add up, position by position in
 * order, so that a text evaluated a window at a time (models/eval_text.h)
 * gives the same doubles as one pass. */
typedef struct EvalSums {
    uint64_t positions;    /* compared against a reference */
    double kl;             /* sum of KL(ref || test), nats */
    uint64_t agree;        /* positions whose argmax agrees */
    double max_logit_diff;
    uint64_t targets;      /* positions with a target token */
    double nll;            /* sum of -log p(target) under test */
} EvalSums;
/* Adds one position's logits test (V): its target's NLL when target >= 0,
 * and the comparison with ref (V) when ref is not NULL. scratch: 2 V doubles. */
void eval_sums_add(EvalSums *s, const float *ref, const float *test, int V, int target, double *scratch);
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
/* The policy eval applies for a format: fp16 and fp32 on every tensor,
 * any other format under Graphcore's policy (quant_policy_graphcore). */
void eval_policy(QuantPolicy *p, const QuantSpec *s);

/* The error sums of eval_quantize_weights_err, added tensor by tensor. */
typedef struct EvalWeightSums {
    double sig, noise; /* sum w^2, sum (deq - w)^2 */
    uint64_t elems;
} EvalWeightSums;
void eval_weight_error(EvalWeightError *out, const EvalWeightSums *s);
/* deq (rows, cols) = the quantize-dequantize round trip of src under spec
 * (what eval_quantize_weights does per tensor; name for errors); adds the
 * error to sums when sums is not NULL. */
int eval_round_trip(const QuantSpec *spec, const char *name, const float *src, int64_t rows, int64_t cols,
                    float *deq, EvalWeightSums *sums, IpuErr *e);

/* eval_quantize_weights that also measures the matrices' error (err may be NULL). */
int eval_quantize_weights_err(GptjWeights *dst, const GptjWeights *src, const QuantPolicy *p, GptjDtype wdtype,
                              EvalWeightError *err, IpuErr *e);

#endif
