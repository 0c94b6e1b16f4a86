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

void eval_compare(EvalCompare *out, const float *ref, const float *test, int P, int V)
{
    memset(out, 0, sizeof *out);
    out->n_positions = P;
    double *lp = malloc((size_t)V * sizeof *lp), *lq = malloc((size_t)V * sizeof *lq);
    IPU_ASSERT(lp && lq);
    double kl = 0;
    int agree = 0;
    for (int p = 0; p < P; p++) {
        const float *r = ref + (size_t)p * V, *t = test + (size_t)p * V;
        log_softmax(lp, r, V);
        log_softmax(lq, t, V);
        double k = 0;
        for (int i = 0; i < V; i++) {
            k += exp(lp[i]) * (lp[i] - lq[i]);
            double d = fabs((double)r[i] - (double)t[i]);
            out->max_logit_diff = d > out->max_logit_diff ? d : out->max_logit_diff;
        }
        kl += k > 0 ? k : 0; /* rounding can make an exact 0 slightly negative */
        agree += argmax(r, V) == argmax(t, V);
    }
    out->mean_kl = P ? kl / P : 0;
    out->top1_agree = P ? (double)agree / P : 0;
    free(lp);
    free(lq);
}

double eval_perplexity(const float *logits, const int *tokens, int T, int V)
{
    IPU_ASSERT(T >= 2);
    double *lp = malloc((size_t)V * sizeof *lp);
    IPU_ASSERT(lp);
    double nll = 0;
    for (int t = 0; t + 1 < T; t++) {
        log_softmax(lp, logits + (size_t)t * V, V);
        nll -= lp[tokens[t + 1]];
    }
    free(lp);
    return exp(nll / (T - 1));
}

int eval_quantize_weights(GptjWeights *dst, const GptjWeights *src, const QuantPolicy *p, GptjDtype wdtype,
                          IpuErr *e)
{
    return eval_quantize_weights_err(dst, src, p, wdtype, NULL, e);
}

int eval_quantize_weights_err(GptjWeights *dst, const GptjWeights *src, const QuantPolicy *p, GptjDtype wdtype,
                              EvalWeightError *werr, IpuErr *e)
{
    double sig = 0, noise = 0;
    uint64_t count = 0;
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
        QuantTensor q;
        if (quant_tensor(quant_policy_lookup(p, t.name), t.name, buf, rows, cols, &q, e)) {
            rc = -1;
            break;
        }
        quant_dequantize(&q, deq);
        quant_tensor_free(&q);
        if (t.kind == GPTJ_MATRIX) {
            for (uint64_t j = 0; j < ne; j++) {
                double d = (double)deq[j] - buf[j];
                sig += (double)buf[j] * buf[j], noise += d * d;
            }
            count += ne;
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
        *werr = (EvalWeightError){count ? sqrt(noise / (double)count) : 0,
                                  noise > 0 ? 10 * log10(sig / noise) : INFINITY, count};
    return rc;
}
