/* layer_dtype.h - the element types the layer codelets (matmul, reduce,
 * softmax, argmax, ...) accept for partials and scores: fp16 (uint16_t bits,
 * sim/base/fp16.h) or fp32 (float). Small helpers to read and write one element
 * of either type, converting through fp32 with round-to-nearest-even.
 *
 * Not here: the int4 weight format (sim/base/quant_format.h).
 */
#ifndef IPUSIM_LAYER_DTYPE_H
#define IPUSIM_LAYER_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "base/fp16.h"

typedef enum LayerDtype {
    LAYER_F16 = 0, /* uint16_t fp16 bits */
    LAYER_F32 = 1, /* float */
} LayerDtype;

static inline size_t layer_dtype_bytes(LayerDtype t) { return t == LAYER_F16 ? 2 : 4; }
static inline const char *layer_dtype_name(LayerDtype t) { return t == LAYER_F16 ? "f16" : "f32"; }

static inline float layer_load(const void *p, LayerDtype t, size_t i)
{
    return t == LAYER_F16 ? fp16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

/* Stores v, rounded to fp16 when t is LAYER_F16. */
static inline void layer_store(void *p, LayerDtype t, size_t i, float v)
{
    if (t == LAYER_F16)
        ((uint16_t *)p)[i] = fp16_from_f32(v);
    else
        ((float *)p)[i] = v;
}

/* Rounds a product to fp32 before it is used, so the references never let
 * the compiler fuse a*b+c into one rounding (the tile rounds each op). */
static inline float layer_mul(float a, float b)
{
    volatile float v = a * b;
    return v;
}

/* Folds one shape field into a vertex shape_key (64-bit FNV-1a over the
 * value's 8 bytes); equal shapes give equal keys on every host. */
static inline uint64_t layer_key_mix(uint64_t h, uint64_t v)
{
    if (h == 0)
        h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xffu;
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif
