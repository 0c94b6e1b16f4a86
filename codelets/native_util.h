/* native_util.h - what the codelets' native versions (VertexType.native,
 * the functional fast path) share: the checks that make a native decline
 * exactly where run() would fault, and where its access order could tell.
 *
 * A native computes run()'s outputs bit for bit with plain host code: the
 * same binary32 operations in the same order per output (no fused
 * multiply-add: the build has -ffp-contract=off), the same libm calls
 * where isa.h uses them. It declines (returns non-zero, writing nothing)
 *   - where run() would fault: a NULL or misaligned pointer the tile
 *     version would load or store through (natural alignment of its
 *     ld32 / ld64 / st32 / st64);
 *   - where an output partly overlaps an input: the tile version's order
 *     of loads and stores would then matter (an output equal to its input,
 *     read and written element by element, is fine and allowed).
 * tests/test_native.c runs every native against run().
 *
 * Header-only, private to codelets/.
 */
#ifndef IPUSIM_NATIVE_UTIL_H
#define IPUSIM_NATIVE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "base/fp16.h"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

/* 1 if p is non-NULL and a multiple of align bytes. */
static inline int nat_aligned(const void *p, uintptr_t align) { return p && (uintptr_t)p % align == 0; }

/* 1 if [p, p + pb) and [q, q + qb) share a byte. */
static inline int nat_overlap(const void *p, size_t pb, const void *q, size_t qb)
{
    const char *a = p, *b = q;
    return pb && qb && a < b + qb && b < a + pb;
}

/* 1 if out (ob bytes) and in (ib bytes) overlap other than as the same
 * range from the same start (in place). */
static inline int nat_partial_overlap(const void *out, size_t ob, const void *in, size_t ib)
{
    return nat_overlap(out, ob, in, ib) && !(out == in && ob == ib);
}

/* dst[i] = the fp32 value of fp16 src[i] (exact), as fp16_to_f32 gives it. */
static inline void nat_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
#endif
    for (; i < n; i++)
        dst[i] = fp16_to_f32(src[i]);
}

/* dst[i] = fp16_from_f32(src[i]) (NaNs through it too, for its payload rule). */
static inline void nat_f32_to_f16(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
    const __m128i expo = _mm_set1_epi16(0x7c00), frac = _mm_set1_epi16(0x03ff), zero = _mm_setzero_si128();
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        __m128i nan = _mm_andnot_si128(_mm_cmpeq_epi16(_mm_and_si128(h, frac), zero),
                                       _mm_cmpeq_epi16(_mm_and_si128(h, expo), expo));
        _mm_storeu_si128((__m128i *)(dst + i), h);
        if (_mm_movemask_epi8(nan))
            for (size_t k = i; k < i + 8; k++)
                dst[k] = fp16_from_f32(src[k]);
    }
#endif
    for (; i < n; i++)
        dst[i] = fp16_from_f32(src[i]);
}

#endif
