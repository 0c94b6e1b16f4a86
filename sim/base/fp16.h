/* fp16.h - IEEE binary16 values stored as uint16_t bits.
 *
 * The one place fp16 is converted. Narrowing rounds to nearest, ties to even,
 * exactly as IEEE 754 binary16 does, so every layer (host quantization, tile
 * intrinsics, reference checks) gets the same bits. Arithmetic helpers compute
 * in binary32 and round once: for +, -, *, / and sqrt of two binary16 values
 * this equals the correctly rounded binary16 result, because binary32 carries
 * more than 2 x 11 + 2 significand bits.
 *
 * Not here: fused multiply-add (double rounding through binary32 is not exact
 * for it) and any vector types (codelets/isa.h has those).
 *
 * Header-only, in the base layer (sim/base) that models/ and codelets/ share.
 */
#ifndef IPUSIM_FP16_H
#define IPUSIM_FP16_H

#include <stdint.h>
#include <string.h>

#define FP16_POS_INF 0x7c00u
#define FP16_NEG_INF 0xfc00u
#define FP16_QNAN 0x7e00u
#define FP16_MAX 0x7bffu /* 65504 */
#define FP16_ONE 0x3c00u

static inline uint32_t fp16_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float fp16_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Portable binary32 -> binary16, round to nearest even. NaN stays NaN (quiet). */
static inline uint16_t fp16_from_f32_portable(float f)
{
    uint32_t x = fp16_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: quiet it, keep the top payload bits */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x1ffu));
    if (ax >= 0x477ff000u) /* >= 65520 rounds to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) { /* normal binary16: rebias exponent by 127 - 15 */
        uint32_t r = ax - 0x38000000u;
        r += 0x0fffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) /* <= 2^-25: rounds to zero (2^-25 is a tie, to even) */
        return sign;
    /* subnormal binary16: value / 2^-24 = m * 2^(e - 126) with e the biased exponent */
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14 .. 24 */
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u)))
        q++; /* may carry into the smallest normal: still the right encoding */
    return (uint16_t)(sign | q);
}

/* Exact binary16 -> binary32 (every binary16 value is a binary32 value). */
static inline float fp16_to_f32_portable(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    uint32_t bits;
    if (e == 0x1fu) {
        bits = sign | 0x7f800000u | (m << 13);
    } else if (e != 0) {
        bits = sign | ((e + 112u) << 23) | (m << 13);
    } else if (m == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        e = 113u;
        while (!(m & 0x400u)) { m <<= 1; e--; }
        bits = sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
    return fp16_bits_f32(bits);
}

#if defined(__F16C__) && defined(__FLT16_MANT_DIG__) && !defined(IPUSIM_FP16_PORTABLE)
/* With F16C the compiler's _Float16 conversions are single IEEE-exact
 * instructions; tests check they agree with the portable code bit for bit.
 * Without F16C they would be libgcc calls, slower than the inline code. */
static inline uint16_t fp16_from_f32(float f)
{
    _Float16 h = (_Float16)f;
    uint16_t u; memcpy(&u, &h, 2);
    if ((u & 0x7c00u) == 0x7c00u && (u & 0x3ffu)) /* make NaN payloads match the portable path */
        return fp16_from_f32_portable(f);
    return u;
}
static inline float fp16_to_f32(uint16_t h) { _Float16 v; memcpy(&v, &h, 2); return (float)v; }
#else
static inline uint16_t fp16_from_f32(float f) { return fp16_from_f32_portable(f); }
static inline float fp16_to_f32(uint16_t h) { return fp16_to_f32_portable(h); }
#endif

static inline int fp16_isnan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu); }
static inline int fp16_isinf(uint16_t h) { return (h & 0x7fffu) == 0x7c00u; }
static inline int fp16_isfinite(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

/* Correctly rounded binary16 arithmetic (one rounding each). */
static inline uint16_t fp16_add(uint16_t a, uint16_t b) { return fp16_from_f32(fp16_to_f32(a) + fp16_to_f32(b)); }
static inline uint16_t fp16_sub(uint16_t a, uint16_t b) { return fp16_from_f32(fp16_to_f32(a) - fp16_to_f32(b)); }
static inline uint16_t fp16_mul(uint16_t a, uint16_t b) { return fp16_from_f32(fp16_to_f32(a) * fp16_to_f32(b)); }

#endif
