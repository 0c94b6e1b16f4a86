/* quant_nf4.c - NF4 with a per-group absmax scale, optionally
 * double-quantized (see sim/base/quant_nf4.h for the layout and the
 * dequantizers). Deterministic: the mean is a serial sum in double, every
 * other step is per group or per block. */
#include <math.h>
#include <stdlib.h>

#include "base/quant_format.h"
#include "base/quant_nf4.h"
#include "models/quant_internal.h"

static double nf4_bits(const QuantSpec *s, int64_t rows, int64_t cols)
{
    return nf4_bits_per_param(s->group, s->dq, (double)rows, (double)cols);
}

/* One group of n fp16 values v with scale s into n/4 words: each code the
 * nearest dequantized value (ties to the lower code). */
static void nf4_group(const uint16_t *v, unsigned n, uint16_t s, uint16_t *packed)
{
    float level[NF4_CODES];
    for (unsigned c = 0; c < NF4_CODES; c++)
        level[c] = fp16_to_f32(nf4_dequant_ref(c, s));
    for (unsigned i = 0; i < n; i += 4) {
        unsigned code[4];
        for (unsigned k = 0; k < 4; k++) {
            float x = fp16_to_f32(v[i + k]), best = INFINITY;
            code[k] = NF4_ZERO_CODE;
            for (unsigned c = 0; c < NF4_CODES; c++) {
                float d = fabsf(level[c] - x);
                if (d < best)
                    best = d, code[k] = c;
            }
        }
        packed[i / 4] = q4_pack(code[0], code[1], code[2], code[3]);
    }
}

/* The second level: mean, per-block steps and the groups' bytes from the
 * absmax values a (groups); scale gets each group's decoded fp16 scale. */
static void nf4_double_quantize(QuantTensor *out, const float *a, size_t groups, uint16_t *scale)
{
    double sum = 0;
    for (size_t g = 0; g < groups; g++)
        sum += a[g];
    float mean = (float)(sum / (double)groups);
    out->dq_mean = mean;
    size_t blocks = (groups + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK;
    #pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        size_t g0 = b * NF4_DQ_BLOCK, g1 = g0 + NF4_DQ_BLOCK < groups ? g0 + NF4_DQ_BLOCK : groups;
        double dev = 0;
        for (size_t g = g0; g < g1; g++)
            dev = fmax(dev, fabs((double)a[g] - mean));
        float step = (float)(dev / NF4_DQ_QMAX);
        out->dq_step[b] = step;
        for (size_t g = g0; g < g1; g++) {
            double q = step > 0 ? nearbyint(((double)a[g] - mean) / step) : 0;
            q = q < -NF4_DQ_QMAX ? -NF4_DQ_QMAX : q > NF4_DQ_QMAX ? NF4_DQ_QMAX : q;
            out->qscale[g] = (uint8_t)((int)q + NF4_DQ_OFFSET);
            scale[g] = nf4_dq_scale_ref(out->qscale[g], step, mean);
        }
    }
}

/* The buffers of the stored form; -1 when out of memory (named). */
static int nf4_alloc(const QuantSpec *s, const char *name, size_t count, size_t groups, QuantTensor *out, IpuErr *e)
{
    out->packed = quant_alloc(count / 4, sizeof(uint16_t), name, e);
    if (!s->dq) {
        out->scale = quant_alloc(groups, sizeof(uint16_t), name, e);
        return out->packed && out->scale ? 0 : -1;
    }
    out->qscale = quant_alloc(groups, 1, name, e);
    out->dq_step = quant_alloc((groups + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK, sizeof(float), name, e);
    return out->packed && out->qscale && out->dq_step ? 0 : -1;
}

static int nf4_quantize(const QuantSpec *s, const char *name, const float *w, int64_t rows, int64_t cols,
                        QuantTensor *out, IpuErr *e)
{
    if (quant_check_group(s, name, cols, e))
        return -1;
    unsigned n = s->group;
    size_t count = (size_t)rows * (size_t)cols, groups = count / n;
    uint16_t *v = quant_alloc(count, sizeof(uint16_t), name, e), *scale = quant_alloc(groups, sizeof(uint16_t), name, e);
    float *a = quant_alloc(groups, sizeof(float), name, e);
    int rc = !v || !scale || !a || quant_to_f16_checked(name, w, count, v, e) < 0 ||
             nf4_alloc(s, name, count, groups, out, e) ? -1 : 0;
    if (!rc) {
        #pragma omp parallel for schedule(static)
        for (size_t g = 0; g < groups; g++) {
            float m = 0;
            for (size_t i = g * n; i < (g + 1) * n; i++)
                m = fmaxf(m, fabsf(fp16_to_f32(v[i])));
            a[g] = m;
            scale[g] = fp16_from_f32(m); /* exact: m is an fp16 value */
        }
        if (s->dq)
            nf4_double_quantize(out, a, groups, scale);
        else
            for (size_t g = 0; g < groups; g++)
                out->scale[g] = scale[g];
        #pragma omp parallel for schedule(static)
        for (size_t g = 0; g < groups; g++)
            nf4_group(v + g * n, n, scale[g], out->packed + g * (n / 4));
        out->data_bytes = count / 2 + (s->dq ? groups + 4 * ((groups + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK) + 4 : 2 * groups);
    }
    free(v);
    free(scale);
    free(a);
    return rc;
}

static void nf4_dequantize(const QuantTensor *q, float *out)
{
    size_t count = (size_t)q->rows * (size_t)q->cols;
    unsigned n = q->spec.group;
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) {
        size_t g = i / n;
        uint16_t s = q->spec.dq ? nf4_dq_scale_ref(q->qscale[g], q->dq_step[g / NF4_DQ_BLOCK], q->dq_mean) : q->scale[g];
        out[i] = fp16_to_f32(nf4_dequant_ref(q4_code(q->packed[i / 4], (unsigned)(i % 4)), s));
    }
}

const WeightFormat quant_format_nf4g = {"nf4g", nf4_bits, nf4_quantize, nf4_dequantize, quant_free_buffers};
