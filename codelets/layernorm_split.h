/* layernorm_split.h - LayerNorm of one long row spread over many vertices
 * (tiles and workers): the decode-time form of layernorm.h.
 *
 * A row of cols elements is cut into nslices near-equal even slices:
 *   slice k = [2*floor(k*(cols/2)/nslices), 2*floor((k+1)*(cols/2)/nslices)).
 * Three vertex kinds, run in BSP order with exchanges between them:
 *   1. "layernorm.stats" pass 1 over each slice: lane sums (s0 even i, s1
 *      odd i) in index order, fp32 -> part (2);
 *   2. "layernorm.combine" pass 1 on one tile: the slices' parts summed in
 *      slice order from 0 (fp32, per lane), mean = (S0+S1)/cols -> stats[0];
 *   3. "layernorm.stats" pass 2: lane sums of fl(d*d), d = x - mean, in index
 *      order -> part;
 *   4. "layernorm.combine" pass 2: var = (Q0+Q1)/cols, rstd = 1/sqrt(var+eps)
 *      -> stats = {mean, rstd};
 *   5. "layernorm.apply" per slice: out_i = fp16(fl(fl(d_i*rstd)*gain_i) + bias_i).
 * layernorm_split_ref is that specification in plain C. With nslices == 1 it
 * is layernorm_ref bit for bit (same two-pass numerics, same order); with
 * more slices only the order of the fp32 sums changes (tolerance in
 * tests/test_layernorm_split.c, vs a double-precision LayerNorm).
 *
 * Layout: x, gain, bias, out fp16, slices 4-byte aligned (even offsets);
 * part and stats fp32 pairs, 8-byte aligned. Cycles depend only on the
 * slice length (stats, apply) or the number of parts (combine).
 *
 * Not here: where the slices live and the exchanges between the passes
 * (host/lower/layernorm.c).
 */
#ifndef IPUSIM_LAYERNORM_SPLIT_H
#define IPUSIM_LAYERNORM_SPLIT_H

#include <stdint.h>

#include "codelets/layernorm.h"

/* First element of slice k of nslices over cols (even). */
static inline uint32_t layernorm_slice_begin(uint32_t cols, uint32_t nslices, uint32_t k)
{
    return (uint32_t)(2 * ((uint64_t)k * (cols / 2) / nslices));
}

typedef struct LnStatsArgs {
    const uint16_t *x;   /* (n) fp16 */
    const float *stats;  /* pass 2: (2) {mean, .}; unused in pass 1 */
    float *part;         /* (2) lane partials */
    uint32_t n;          /* even, > 0 */
    uint32_t pass;       /* 1: sums; 2: squared deviations about stats[0] */
} LnStatsArgs;

typedef struct LnCombineArgs {
    const float *parts;  /* (nparts, 2), slice order */
    float *stats;        /* (2): pass 1 writes {mean, 0}; pass 2 reads mean, writes {mean, rstd} */
    uint32_t nparts, cols, pass;
    float eps;
} LnCombineArgs;

typedef struct LnApplyArgs {
    const uint16_t *x, *gain, *bias; /* (n) fp16 */
    const float *stats;              /* (2) {mean, rstd} */
    uint16_t *out;                   /* (n) fp16; may equal x */
    uint32_t n;                      /* even, > 0 */
} LnApplyArgs;

/* The specification: args as layernorm_ref, cols / 2 >= nslices >= 1. */
void layernorm_split_ref(const LayernormArgs *args, uint32_t nslices);

void layernorm_stats_tile(Worker *w, const LnStatsArgs *args);
void layernorm_combine_tile(Worker *w, const LnCombineArgs *args);
void layernorm_apply_tile(Worker *w, const LnApplyArgs *args);

extern const VertexType layernorm_stats_vertex;   /* "layernorm.stats" */
extern const VertexType layernorm_combine_vertex; /* "layernorm.combine" */
extern const VertexType layernorm_apply_vertex;   /* "layernorm.apply" */

/* Registry entries: one family per kind (their args differ). */
extern const CodeletFamily codelet_family_layernorm_stats;
extern const CodeletFamily codelet_family_layernorm_combine;
extern const CodeletFamily codelet_family_layernorm_apply;

#endif
