/* softmax.h - causal softmax over rows of attention scores.
 *
 * Layout: in (rows, len) scores, fp16 or fp32; out (rows, len) probabilities,
 * fp16 or fp32; len even (pairs of lanes). Row r is the query at position
 * pos0 + (r % q_len) (q_len 0 means rows: rows of several heads repeat the
 * positions); column j is the key at position j. Keys after the query
 * (j > query position) are masked: their probability is exactly 0. An odd
 * number of keys is padded to even by the lowering: the padded key comes
 * after every query, so the mask already gives it 0.
 *
 * Rounding (softmax_ref), fp32 throughout:
 *   s_j = fl(f32(in_j) * scale) for unmasked j, -inf for masked j;
 *   m = max_j s_j (a NaN anywhere gives NaN);
 *   e_j = expf(fl(s_j - m)) (masked: exp(-inf) = 0);
 *   lane sums z0 (even j), z1 (odd j) in index order; inv = 1 / (z0 + z1);
 *   out_j = fl(e_j * inv), rounded to fp16 for fp16 out.
 * scale is 1/sqrt(head_dim) for GPT-J (1/16, exact). expf is the host libm's
 * (isa.h: f32exp), the same in the reference and the tile version.
 *
 * Cycles (softmax_tile): the whole row is processed whatever the position
 * (masking is a select, not a shorter loop), in three passes (max, sum,
 * normalise) that recompute s_j and e_j instead of storing them; so cycles
 * depend only on (rows, len, in_type, out_type), not on pos0 or the data.
 *
 * Not here: the QK^T and PV matmuls (matmul.h).
 */
#ifndef IPUSIM_SOFTMAX_H
#define IPUSIM_SOFTMAX_H

#include <stdint.h>

#include "codelets/layer_dtype.h"
#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"

typedef struct SoftmaxArgs {
    const void *in;   /* (rows, len) scores of in_type */
    void *out;        /* (rows, len) of out_type; may equal in when the types match */
    uint32_t rows, len;
    uint32_t pos0;    /* position of the query of row 0 */
    uint32_t q_len;   /* rows per head: row r's query is pos0 + r % q_len; 0 means rows */
    float scale;      /* applied to the scores before the max */
    LayerDtype in_type, out_type;
} SoftmaxArgs;

void softmax_ref(const SoftmaxArgs *args);
void softmax_tile(Worker *w, const SoftmaxArgs *args);
int softmax_check(const SoftmaxArgs *args, int need_data, IpuErr *err);

/* "softmax.causal": args SoftmaxArgs. */
extern const VertexType softmax_vertex;

/* The registry entry (codelets/registry.c). */
extern const CodeletFamily codelet_family_softmax;

#endif
