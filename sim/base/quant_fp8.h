/* quant_fp8.h - fp8 weights (fp8e4m3, fp8e5m2) with a per-output-channel
 * or per-tensor fp16 scale: encoding, decoding and the scalar dequantizer,
 * the specification every tile codelet matches bit for bit
 * (codelets/wdec.h). The two encodings are the OCP 8-bit floating point
 * ones (docs/reference/weight-formats-sources.md):
 *
 *   E4M3: sign, 4 exponent bits (bias 7), 3 fraction bits; subnormals
 *         m x 2^-9; no infinities; S.1111.111 is NaN; largest 448 (0x7e).
 *   E5M2: sign, 5 exponent bits (bias 15), 2 fraction bits: binary16's top
 *         byte, with its subnormals, infinities (S.11111.00) and NaNs;
 *         largest finite 57344 (0x7b).
 *
 * Encoding (fp8_encode) of a finite real x: round to nearest, ties to even,
 * then saturate: |x| at or above the largest finite value gives it (OCP's
 * saturating conversion), so the quantizer never writes an infinity or a
 * NaN. -0 and values that round to zero keep their sign.
 *
 * Decoding to fp16 (fp8_to_fp16) is exact for every finite code (both
 * formats are subsets of binary16). Special codes: E5M2 infinities and
 * NaNs are their binary16 top bytes (b << 8); an E4M3 NaN decodes to the
 * quiet fp16 NaN sign | 0x7f80 (the bits the tile's widening gives,
 * codelets/wdec_fp8.c).
 *
 * The weight format: codes (rows, cols), one byte per weight, element 0 at
 * the lowest address; scale = absmax / max finite rounded once to fp16, per
 * output channel (scale (rows), the default) or per tensor (scale (1),
 * `:tensor`); code = fp8_encode(w / scale) (0 when the scale is 0).
 * Dequantization: w = fp16(fp8_to_fp16(code) x scale), one rounding. The
 * format's scales are finite and below FP8_SCALE_LIMIT = 256 in magnitude
 * (the quantizer's are at most 65504 / 448 = 146.2 for E4M3, 1.14 for
 * E5M2), which lets a tile fold an exact x 2^8 into the scale.
 *
 * Header-only: codelets include it; models/quant_fp8.c quantizes.
 */
#ifndef IPUSIM_QUANT_FP8_H
#define IPUSIM_QUANT_FP8_H

#include <math.h>
#include <stdint.h>

#include "base/fp16.h"

typedef enum Fp8Kind { FP8_E4M3, FP8_E5M2 } Fp8Kind;

#define FP8_E4M3_MAX 448.0
#define FP8_E4M3_MAX_CODE 0x7eu
#define FP8_E5M2_MAX 57344.0
#define FP8_E5M2_MAX_CODE 0x7bu
#define FP8_E4M3_NAN16 0x7f80u /* | sign */
#define FP8_SCALE_LIMIT 256.0

static inline double fp8_max(Fp8Kind k) { return k == FP8_E4M3 ? FP8_E4M3_MAX : FP8_E5M2_MAX; }

/* Bits per parameter: 8 + 16 per scale, one scale per weights_per_scale. */
static inline double fp8_bits_per_param(double weights_per_scale) { return 8.0 + 16.0 / weights_per_scale; }

/* The code nearest to finite x (ties to even), saturated to the largest finite. */
static inline uint8_t fp8_encode(Fp8Kind k, double x)
{
    int mbits = k == FP8_E4M3 ? 3 : 2, bias = k == FP8_E4M3 ? 7 : 15, emin = 1 - bias, e;
    unsigned maxc = k == FP8_E4M3 ? FP8_E4M3_MAX_CODE : FP8_E5M2_MAX_CODE;
    unsigned sign = signbit(x) ? 0x80u : 0u;
    double a = fabs(x);
    if (a >= fp8_max(k))
        return (uint8_t)(sign | maxc);
    frexp(a, &e); /* a = f 2^e, f in [0.5, 1): the leading bit is 2^(e - 1) */
    int ex = a > 0 && e - 1 > emin ? e - 1 : emin;
    double v = nearbyint(ldexp(a, mbits - ex)); /* the significand in units of the quantum, rounded */
    if (v == 0)
        return (uint8_t)sign;
    if (v >= ldexp(1.0, mbits + 1)) /* rounded up to the next binade */
        v /= 2, ex++;
    if (v < ldexp(1.0, mbits)) /* subnormal (ex == emin) */
        return (uint8_t)(sign | (unsigned)v);
    return (uint8_t)(sign | (unsigned)(ex + bias) << mbits | ((unsigned)v - (1u << mbits)));
}

/* The exact fp16 of a code (special codes as in the header comment). */
static inline uint16_t fp8_to_fp16(Fp8Kind k, unsigned code)
{
    code &= 0xffu;
    if (k == FP8_E5M2)
        return (uint16_t)(code << 8);
    uint16_t sign = (uint16_t)((code & 0x80u) << 8);
    unsigned e = (code >> 3) & 0xfu, m = code & 7u;
    if (e == 15 && m == 7)
        return (uint16_t)(sign | FP8_E4M3_NAN16);
    float v = e ? ldexpf(1.0f + (float)m / 8.0f, (int)e - 7) : ldexpf((float)m, -9);
    return (uint16_t)(sign | fp16_from_f32(v));
}

/* The dequantization of one code with an fp16 scale. */
static inline uint16_t fp8_dequant_ref(Fp8Kind k, unsigned code, uint16_t scale)
{
    return fp16_mul(fp8_to_fp16(k, code), scale);
}

#endif
