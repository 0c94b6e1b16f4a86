/* quant_int.c - the symmetric integer weight formats s4g, i8g and i8c (see
 * sim/base/quant_int.h for the layout and the dequantizers).
 *
 * Exactness of the codes: q = round_half_even(w / scale) with w and scale
 * fp16 numbers and the quotient in double. Every fp16 is a multiple of
 * 2^-24, so w - (k + 1/2) scale is a multiple of 2^-25: a quotient that is
 * not a tie lies at least 2^-25 / scale > 2^-25 / 2^16 = 2^-41 from one,
 * far above the 2^-45 ulp of a double below 256, so rounding the double
 * quotient gives the exact round-half-even code.
 */
#include <math.h>
#include <stdlib.h>

#include "base/quant_format.h"
#include "base/quant_int.h"
#include "models/quant_internal.h"

/* The largest |v| of n fp16 values. */
static float absmax16(const uint16_t *v, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(fp16_to_f32(v[i]));
        m = a > m ? a : m;
    }
    return m;
}

/* q = round_half_even(w / scale) clamped to qmin..qmax; 0 when scale is 0. */
static int sym_code(uint16_t w, uint16_t scale, int qmin, int qmax)
{
    if (!(scale & 0x7fffu))
        return 0;
    double q = nearbyint((double)fp16_to_f32(w) / (double)fp16_to_f32(scale));
    return q < qmin ? qmin : q > qmax ? qmax : (int)q;
}

/* The weights as fp16, checked (errors name the tensor); NULL on error. */
static uint16_t *weights_f16(const char *name, const float *w, size_t count, IpuErr *e)
{
    uint16_t *v = quant_alloc(count, sizeof(uint16_t), name, e);
    if (v && quant_to_f16_checked(name, w, count, v, e) < 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* ---- s4g ---- */

static double s4g_bits(const QuantSpec *s, int64_t rows, int64_t cols) { return s4_bits_per_param(s->group); }

/* One group of n fp16 values into n/4 words and its scale. */
static void s4g_group(const uint16_t *v, unsigned n, uint16_t *packed, uint16_t *scale)
{
    uint16_t s = quant_f16_from_f64((double)absmax16(v, n) / S4_QMAX);
    *scale = s;
    for (unsigned i = 0; i < n; i += 4) {
        unsigned c[4];
        for (unsigned k = 0; k < 4; k++)
            c[k] = (unsigned)(sym_code(v[i + k], s, -S4_OFFSET, S4_QMAX) + S4_OFFSET);
        packed[i / 4] = q4_pack(c[0], c[1], c[2], c[3]);
    }
}

static int s4g_quantize(const QuantSpec *s, const char *name, const float *w, int64_t rows, int64_t cols,
                        QuantTensor *out, IpuErr *e)
{
    if (quant_check_group(s, name, cols, e))
        return -1;
    unsigned n = s->group;
    size_t count = (size_t)rows * (size_t)cols, groups = count / n;
    uint16_t *v = weights_f16(name, w, count, e);
    if (!v)
        return -1;
    out->packed = quant_alloc(count / 4, sizeof(uint16_t), name, e);
    out->scale = quant_alloc(groups, sizeof(uint16_t), name, e);
    if (!out->packed || !out->scale) {
        free(v);
        return -1;
    }
    #pragma omp parallel for schedule(static)
    for (size_t g = 0; g < groups; g++)
        s4g_group(v + g * n, n, out->packed + g * (n / 4), out->scale + g);
    out->data_bytes = (count / 4 + groups) * sizeof(uint16_t);
    free(v);
    return 0;
}

static void s4g_dequantize(const QuantTensor *q, float *out)
{
    size_t count = (size_t)q->rows * (size_t)q->cols;
    unsigned n = q->spec.group;
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        out[i] = fp16_to_f32(s4_dequant_ref(q4_code(q->packed[i / 4], (unsigned)(i % 4)), q->scale[i / n]));
}

/* ---- i8g, i8c ---- */

/* Weights that share one scale: the group (i8g) or the row (i8c). */
static size_t i8_span(const QuantSpec *s, int64_t cols) { return s->fmt == &quant_format_i8c ? (size_t)cols : s->group; }

static double i8_bits(const QuantSpec *s, int64_t rows, int64_t cols) { return i8_bits_per_param((double)i8_span(s, cols)); }

static int i8_quantize(const QuantSpec *s, const char *name, const float *w, int64_t rows, int64_t cols,
                       QuantTensor *out, IpuErr *e)
{
    if (s->fmt == &quant_format_i8g && quant_check_group(s, name, cols, e))
        return -1;
    size_t count = (size_t)rows * (size_t)cols, span = i8_span(s, cols), nscale = count / span;
    uint16_t *v = weights_f16(name, w, count, e);
    if (!v)
        return -1;
    out->codes8 = quant_alloc(count, 1, name, e);
    out->scale = quant_alloc(nscale, sizeof(uint16_t), name, e);
    if (!out->codes8 || !out->scale) {
        free(v);
        return -1;
    }
    #pragma omp parallel for schedule(static)
    for (size_t g = 0; g < nscale; g++) {
        uint16_t sc = quant_f16_from_f64((double)absmax16(v + g * span, span) / I8_QMAX);
        out->scale[g] = sc;
        for (size_t i = g * span; i < (g + 1) * span; i++)
            out->codes8[i] = (uint8_t)(sym_code(v[i], sc, -I8_OFFSET, I8_QMAX) + I8_OFFSET);
    }
    out->data_bytes = count + nscale * sizeof(uint16_t);
    free(v);
    return 0;
}

static void i8_dequantize(const QuantTensor *q, float *out)
{
    size_t count = (size_t)q->rows * (size_t)q->cols, span = i8_span(&q->spec, q->cols);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        out[i] = fp16_to_f32(i8_dequant_ref(q->codes8[i], q->scale[i / span]));
}

const WeightFormat quant_format_s4g = {"s4g", s4g_bits, s4g_quantize, s4g_dequantize, quant_free_buffers};
const WeightFormat quant_format_i8g = {"i8g", i8_bits, i8_quantize, i8_dequantize, quant_free_buffers};
const WeightFormat quant_format_i8c = {"i8c", i8_bits, i8_quantize, i8_dequantize, quant_free_buffers};
