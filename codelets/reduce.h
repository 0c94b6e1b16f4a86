/* reduce.h - sum P partial vectors into one (the cross-tile partial sums of
 * a split matmul, gathered onto one tile by the exchange).
 *
 * Layout: in (P, n) partials, fp16 or fp32, part p at in + p * in_stride
 * elements; out (n), fp16 or fp32. n must be even (the lowering's grain:
 * pairs of lanes, 4-byte aligned fp16 pairs / 8-byte aligned fp32 pairs).
 *
 * Rounding (reduce_ref): per element, acc = part 0 in fp32, then
 * acc = acc + part p for p = 1..P-1 in order, each addition rounded to fp32;
 * out = acc, rounded once to fp16 for fp16 out.
 *
 * Cycles (reduce_tile): per pair of elements, one load (+ one f16v2tof32 for
 * fp16 parts) per part, P-1 f32v2add, one store (+ one f32v2tof16); one rpt
 * for the element loop and a brnzdec per part. Depend only on the shape.
 *
 * Not here: the exchange that brings the partials together.
 */
#ifndef IPUSIM_REDUCE_H
#define IPUSIM_REDUCE_H

#include <stdint.h>

#include "codelets/layer_dtype.h"
#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"

typedef struct ReduceArgs {
    const void *in;       /* (P, n) partials of in_type, part stride in_stride */
    void *out;            /* (n) of out_type */
    uint32_t parts, n;
    uint32_t in_stride;   /* elements between parts; 0 means n */
    LayerDtype in_type, out_type;
} ReduceArgs;

void reduce_ref(const ReduceArgs *args);
void reduce_tile(Worker *w, const ReduceArgs *args);
/* 0, or -1 naming the bad field (zero or odd n, no parts, short stride, NULL). */
int reduce_check(const ReduceArgs *args, int need_data, IpuErr *err);

/* "reduce.sum": args ReduceArgs. */
extern const VertexType reduce_vertex;

/* The registry entry (codelets/registry.c). */
extern const CodeletFamily codelet_family_reduce;

#endif
