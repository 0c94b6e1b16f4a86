/* isa_ext.h - the few timed intrinsics the layer codelets need beyond
 * codelets/isa.h: selects and broadcasts. Same rules as isa.h (compute the
 * result, charge the issue cost from w->isa).
 *
 * Cost assumption: a select is one issue charged as `cmp` (isa_cost.def:
 * "integer compare / select"); the IPU builds it from compare + and/andc
 * masks, which this model counts as one issue (named assumption, no public
 * cycle table).
 *
 * Not here: anything isa.h already has.
 */
#ifndef IPUSIM_ISA_EXT_H
#define IPUSIM_ISA_EXT_H

#include "codelets/isa.h"

/* c ? a : b on 32-bit registers. */
static inline uint32_t isa_select32(Worker *w, uint32_t c, uint32_t a, uint32_t b)
{
    w->cycles += w->isa->cmp;
    return c ? a : b;
}

/* Per lane: bit i of mask set ? a[i] : b[i]. */
static inline Float2 isa_f32v2select(Worker *w, uint32_t mask, Float2 a, Float2 b)
{
    w->cycles += w->isa->cmp;
    Float2 r = {{(mask & 1u) ? a.f[0] : b.f[0], (mask & 2u) ? a.f[1] : b.f[1]}};
    return r;
}

/* A fp32 scalar in both lanes of a Float2 (one register copy). */
static inline Float2 isa_f32v2splat(Worker *w, float a)
{
    w->cycles += w->isa->mov;
    Float2 r = {{a, a}};
    return r;
}

/* Reads a Float2 from 8-byte aligned memory (one ld64). */
static inline Float2 isa_ld64_f2(Worker *w, const void *p)
{
    uint64_t b = isa_ld64(w, p);
    Float2 r;
    memcpy(&r, &b, 8);
    return r;
}

/* Writes a Float2 to 8-byte aligned memory (one st64). */
static inline void isa_st64_f2(Worker *w, void *p, Float2 v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    isa_st64(w, p, b);
}

#endif
