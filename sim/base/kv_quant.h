/* kv_quant.h - the KV cache formats (run key kv_format = fp16 | i8 |
 * q4g:N): how one head's key or value of one position (a row of hd fp16
 * values) is quantized when it is written into the cache, and read back.
 * The scalar routines here are the specification the tile codelets
 * (codelets/kvq.h) match bit for bit. Unlike the weight quantizers
 * (models/quant_*.c), these run on the tiles every step, so they are
 * defined by the fp32 arithmetic a tile does, in this order:
 *
 * i8 (one scale per row): a = max |x|; s = fp16(fp32(a) x fp32(1/127));
 *   r = 1 / s in fp32 (0 when s is 0); q = rne(clamp(fp32(x x r), -127,
 *   127)); byte = q + 128. Read back: i8_dequant_ref(byte, s) = fp16(q x s).
 * q4g:N (groups of N along the row, N % 8 == 0, N divides hd): lo = min,
 *   hi = max (fp16, exact, each + 0 in fp32 so a zero is +0); s =
 *   fp16(fp32(hi - lo) x fp32(1/15)); r = 1 / s
 *   (0 when s is 0); c = rne(clamp(fp32(fp32(x - lo) x r), 0, 15)); codes
 *   packed four a uint16, element 0 in bits 15..12 (sim/base/quant_format.h);
 *   bias = lo. Read back: q4_dequant_ref(c, s, lo) = fp16(fp16(c x s) + lo).
 * x - lo and hi - lo are exact in fp32; rne is round half to even. The
 * clamps matter only for rows whose scale is a subnormal fp16 (tiny rows),
 * where s can be far below a / 127.
 *
 * Not here: the cache's layout on the tiles (host/lower/attention_kv.c).
 */
#ifndef IPUSIM_KV_QUANT_H
#define IPUSIM_KV_QUANT_H

#include <math.h>
#include <stdint.h>

#include "base/fp16.h"
#include "base/quant_format.h"
#include "base/quant_int.h"

typedef enum KvFormat { KV_F16, KV_I8, KV_Q4G } KvFormat;

typedef struct KvSpec {
    KvFormat fmt;
    uint32_t group; /* q4g's N */
} KvSpec;

#define KVQ_INV127 (1.0f / 127.0f)
#define KVQ_INV15 (1.0f / 15.0f)

/* fp32 steps rounded one at a time (no fused multiply-add). */
static inline float kvq_mul(float a, float b) { volatile float v = a * b; return v; }

/* 1 / s in fp32, or 0 for a zero scale. */
static inline float kvq_recip(uint16_t s) { return (s & 0x7fffu) ? 1.0f / fp16_to_f32(s) : 0.0f; }

/* rne(clamp(v, lo, hi)) as an integer. */
static inline int kvq_round(float v, float lo, float hi)
{
    v = v < lo ? lo : v > hi ? hi : v;
    return (int)nearbyintf(v);
}

/* One row of n fp16 values into n bytes and one fp16 scale. */
static inline void kvq_i8_ref(const uint16_t *x, uint32_t n, uint8_t *codes, uint16_t *scale)
{
    float a = 0;
    for (uint32_t i = 0; i < n; i++)
        a = fmaxf(a, fabsf(fp16_to_f32(x[i])));
    uint16_t s = fp16_from_f32(kvq_mul(a, KVQ_INV127));
    float r = kvq_recip(s);
    for (uint32_t i = 0; i < n; i++)
        codes[i] = (uint8_t)(kvq_round(kvq_mul(fp16_to_f32(x[i]), r), -127.0f, 127.0f) + I8_OFFSET);
    *scale = s;
}

/* One row of n fp16 values into n/4 words and n/group scales and biases. */
static inline void kvq_q4g_ref(const uint16_t *x, uint32_t n, uint32_t group, uint16_t *codes, uint16_t *scale,
                               uint16_t *bias)
{
    for (uint32_t g = 0; g < n / group; g++) {
        const uint16_t *v = x + (size_t)g * group;
        float lo = fp16_to_f32(v[0]), hi = lo;
        for (uint32_t i = 1; i < group; i++) {
            float f = fp16_to_f32(v[i]);
            lo = f < lo ? f : lo;
            hi = f > hi ? f : hi;
        }
        lo = lo + 0.0f, hi = hi + 0.0f; /* canonical zeros: the tile's max cannot tell -0 from +0 */
        uint16_t s = fp16_from_f32(kvq_mul(hi - lo, KVQ_INV15));
        float r = kvq_recip(s);
        for (uint32_t i = 0; i < group; i += 4) {
            unsigned c[4];
            for (unsigned k = 0; k < 4; k++)
                c[k] = (unsigned)kvq_round(kvq_mul(fp16_to_f32(v[i + k]) - lo, r), 0.0f, 15.0f);
            codes[(g * group + i) / 4] = q4_pack(c[0], c[1], c[2], c[3]);
        }
        scale[g] = s;
        bias[g] = fp16_from_f32(lo);
    }
}

/* A row of n fp16 values after the round trip (what attention reads). */
static inline void kvq_roundtrip_ref(const KvSpec *spec, uint16_t *x, uint32_t n)
{
    if (spec->fmt == KV_I8) {
        uint8_t c[4096];
        uint16_t s;
        kvq_i8_ref(x, n, c, &s);
        for (uint32_t i = 0; i < n; i++)
            x[i] = i8_dequant_ref(c[i], s);
    } else if (spec->fmt == KV_Q4G) {
        uint16_t c[1024], s[1024], b[1024];
        kvq_q4g_ref(x, n, spec->group, c, s, b);
        for (uint32_t i = 0; i < n; i++)
            x[i] = q4_dequant_ref(q4_code(c[i / 4], i % 4), s[i / spec->group], b[i / spec->group]);
    }
}

/* Bytes of one cached row of n values (codes and scales). */
static inline uint64_t kvq_row_bytes(const KvSpec *spec, uint32_t n)
{
    if (spec->fmt == KV_I8)
        return n + 2u;
    if (spec->fmt == KV_Q4G)
        return n / 2 + 4u * (n / spec->group);
    return 2u * n;
}

#endif
