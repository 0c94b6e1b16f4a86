/* eval.c - logit comparison, perplexity and quantized model copies (see eval.h). */
#include "models/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"

/* log-softmax of one row into out (double). */
static void log_softmax(double *out, const float *x, int V)
{
    double mx = x[0];
    for (int i = 1; i < V; i++)
        mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int i = 0; i < V; i++)
        s += exp((double)x[i] - mx);
    double lse = mx + log(s);
    for (int i = 0; i < V; i++)
        out[i] = (double)x[i] - lse;
}

static int argmax(const float *x, int V)
{
    int b = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

void eval_sums_add(EvalSums *s, const float *ref, const float *test, int V, int target, double *scratch)
{
    double *lp = scratch, *lq = scratch + V;
    log_softmax(lq, test, V);
    if (target >= 0) {
        s->nll -= lq[target];
        s->targets++;
    }
    if (!ref)
        return;
    log_softmax(lp, ref, V);
    double k = 0;
    for (int i = 0; i < V; i++) {
        k += exp(lp[i]) * (lp[i] - lq[i]);
        double d = fabs((double)ref[i] - (double)test[i]);
        s->max_logit_diff = d > s->max_logit_diff ? d : s->max_logit_diff;
    }
    s->kl += k > 0 ? k : 0; /* rounding can make an exact 0 slightly negative */
    s->agree += argmax(ref, V) == argmax(test, V);
    s->positions++;
}

void eval_compare(EvalCompare *out, const float *ref, const float *test, int P, int V)
{
    memset(out, 0, sizeof *out);
    out->n_positions = P;
    double *scratch = malloc(2 * (size_t)V * sizeof *scratch);
    IPU_ASSERT(scratch);
    EvalSums s = {0};
    for (int p = 0; p < P; p++)
        eval_sums_add(&s, ref + (size_t)p * V, test + (size_t)p * V, V, -1, scratch);
    out->max_logit_diff = s.max_logit_diff;
    out->mean_kl = P ? s.kl / P : 0;
    out->top1_agree = P ? (double)s.agree / P : 0;
    free(scratch);
}

double eval_perplexity(const float *logits, const int *tokens, int T, int V)
{
    IPU_ASSERT(T >= 2);
    double *scratch = malloc(2 * (size_t)V * sizeof *scratch);
    IPU_ASSERT(scratch);
    EvalSums s = {0};
    for (int t = 0; t + 1 < T; t++)
        eval_sums_add(&s, NULL, logits + (size_t)t * V, V, tokens[t + 1], scratch);
    free(scratch);
    return exp(s.nll / (T - 1));
}

void eval_policy(QuantPolicy *p, const QuantSpec *s)
{
    if (s->fmt == &quant_format_f16 || s->fmt == &quant_format_f32)
        quant_policy_uniform(p, s);
    else
        quant_policy_graphcore(p, s);
}

void eval_weight_error(EvalWeightError *out, const EvalWeightSums *s)
{
    *out = (EvalWeightError){s->elems ? sqrt(s->noise / (double)s->elems) : 0,
                             s->noise > 0 ? 10 * log10(s->sig / s->noise) : INFINITY, s->elems};
}

int eval_round_trip(const QuantSpec *spec, const char *name, const float *src, int64_t rows, int64_t cols,
                    float *deq, EvalWeightSums *sums, IpuErr *e)
{
    QuantTensor q;
    if (quant_tensor(spec, name, src, rows, cols, &q, e))
        return -1;
    quant_dequantize(&q, deq);
    quant_tensor_free(&q);
    if (sums) {
        uint64_t ne = (uint64_t)rows * (uint64_t)cols;
        for (uint64_t j = 0; j < ne; j++) {
            double d = (double)deq[j] - src[j];
            sums->sig += (double)src[j] * src[j], sums->noise += d * d;
        }
        sums->elems += ne;
    }
    return 0;
}

int eval_quantize_weights(GptjWeights *dst, const GptjWeights *src, const QuantPolicy *p, GptjDtype wdtype,
                          IpuErr *e)
{
    return eval_quantize_weights_err(dst, src, p, wdtype, NULL, e);
}

int eval_quantize_weights_err(GptjWeights *dst, const GptjWeights *src, const QuantPolicy *p, GptjDtype wdtype,
                              EvalWeightError *werr, IpuErr *e)
{
    EvalWeightSums sums = {0};
    if (gptj_weights_init(dst, &src->cfg, wdtype, e))
        return -1;
    int n = gptj_tensor_count(&src->cfg);
    int rc = 0;
    float *buf = NULL, *deq = NULL;
    for (int i = 0; i < n && !rc; i++) {
        GptjTensorInfo t;
        gptj_tensor_info(&src->cfg, i, &t);
        uint64_t ne = gptj_tensor_elems(&t);
        int64_t rows = t.ndim == 2 ? t.shape[0] : 1, cols = t.ndim == 2 ? t.shape[1] : t.shape[0];
        float *nb = realloc(buf, ne * sizeof *buf), *nd = realloc(deq, ne * sizeof *deq);
        if (nb)
            buf = nb;
        if (nd)
            deq = nd;
        if (!nb || !nd) {
            rc = ipu_err(e, "%s: out of memory", t.name);
            break;
        }
        const void *s = gptj_weights_tensor(src, i);
        int s16 = t.kind == GPTJ_MATRIX && src->wdtype == GPTJ_F16;
        for (uint64_t j = 0; j < ne; j++)
            buf[j] = s16 ? fp16_to_f32(((const uint16_t *)s)[j]) : ((const float *)s)[j];
        if (eval_round_trip(quant_policy_lookup(p, t.name), t.name, buf, rows, cols, deq,
                            t.kind == GPTJ_MATRIX ? &sums : NULL, e)) {
            rc = -1;
            break;
        }
        void *d = gptj_weights_tensor(dst, i);
        if (t.kind == GPTJ_MATRIX && wdtype == GPTJ_F16) {
            for (uint64_t j = 0; j < ne; j++) {
                uint16_t h = fp16_from_f32(deq[j]);
                if (fp16_to_f32(h) != deq[j]) { /* an f32 spec kept more than fp16 holds */
                    rc = ipu_err(e, "%s: value %g at index %llu not representable in fp16 storage", t.name,
                                 (double)deq[j], (unsigned long long)j);
                    break;
                }
                ((uint16_t *)d)[j] = h;
            }
        } else {
            memcpy(d, deq, ne * sizeof *deq);
        }
    }
    free(buf);
    free(deq);
    if (rc)
        gptj_weights_free(dst);
    else if (werr)
        eval_weight_error(werr, &sums);
    return rc;
}
