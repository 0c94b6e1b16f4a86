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

#endif
