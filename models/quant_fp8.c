/* quant_fp8.c - fp8 weights (fp8e4m3, fp8e5m2) with a per-channel or
 * per-tensor fp16 scale (see sim/base/quant_fp8.h for the encodings and the
 * dequantizer).
 *
 * The code of w is fp8_encode(w / scale) with the quotient in double: w and
 * scale are fp16 numbers, and a quotient that is not a tie between two fp8
 * values lies far more than a double's ulp from one (the argument of
 * quant_int.c, with ties of at most 5 significant bits), so the rounding
 * is the exact round-half-even one.
 */
#include <math.h>
#include <stdlib.h>

#include "base/quant_fp8.h"
#include "models/quant_internal.h"

static Fp8Kind fp8_kind(const QuantSpec *s) { return s->fmt == &quant_format_fp8e4m3 ? FP8_E4M3 : FP8_E5M2; }

/* Weights that share one scale: the tensor or the row. */
static size_t fp8_span(const QuantSpec *s, int64_t rows, int64_t cols)
{
    return s->per_tensor ? (size_t)rows * (size_t)cols : (size_t)cols;
}

static double fp8_bits(const QuantSpec *s, int64_t rows, int64_t cols)
{
    return fp8_bits_per_param((double)fp8_span(s, rows, cols));
}

static int fp8_quantize(const QuantSpec *s, const char *name, const float *w, int64_t rows, int64_t cols,
                        QuantTensor *out, IpuErr *e)
{
    Fp8Kind k = fp8_kind(s);
    size_t count = (size_t)rows * (size_t)cols, span = fp8_span(s, rows, cols), nscale = count / span;
    uint16_t *v = quant_alloc(count, sizeof(uint16_t), name, e);
    int rc = !v || quant_to_f16_checked(name, w, count, v, e) < 0 ? -1 : 0;
    if (!rc && (!(out->codes8 = quant_alloc(count, 1, name, e)) ||
                !(out->scale = quant_alloc(nscale, sizeof(uint16_t), name, e))))
        rc = -1;
    for (size_t g = 0; g < nscale && !rc; g++) {
        float m = 0;
        for (size_t i = g * span; i < (g + 1) * span; i++)
            m = fmaxf(m, fabsf(fp16_to_f32(v[i])));
        uint16_t sc = quant_f16_from_f64((double)m / fp8_max(k));
        out->scale[g] = sc;
        double sd = fp16_to_f32(sc);
        #pragma omp parallel for schedule(static)
        for (size_t i = g * span; i < (g + 1) * span; i++)
            out->codes8[i] = sd > 0 ? fp8_encode(k, (double)fp16_to_f32(v[i]) / sd) : 0;
    }
    if (!rc)
        out->data_bytes = count + nscale * sizeof(uint16_t);
    free(v);
    return rc;
}

static void fp8_dequantize(const QuantTensor *q, float *out)
{
    Fp8Kind k = fp8_kind(&q->spec);
    size_t count = (size_t)q->rows * (size_t)q->cols, span = fp8_span(&q->spec, q->rows, q->cols);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        out[i] = fp16_to_f32(fp8_dequant_ref(k, q->codes8[i], q->scale[i / span]));
}

const WeightFormat quant_format_fp8e4m3 = {"fp8e4m3", fp8_bits, fp8_quantize, fp8_dequantize, quant_free_buffers};
const WeightFormat quant_format_fp8e5m2 = {"fp8e5m2", fp8_bits, fp8_quantize, fp8_dequantize, quant_free_buffers};
