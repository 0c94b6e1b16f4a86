/* layernorm.h - LayerNorm over the last axis (GPT-J ln_1 and ln_f).
 *
 * Layout: x, out (rows, cols) fp16 row-major; gain, bias (cols) fp16;
 * cols even (pairs of lanes, 4-byte aligned rows).
 *
 * Rounding (layernorm_ref), all statistics in fp32, every op rounded to fp32:
 *   lane sums s0 (even i), s1 (odd i), each in index order; mean = (s0+s1)/cols;
 *   d_i = x_i - mean; lane sums q0, q1 of fl(d_i*d_i) in index order;
 *   var = (q0+q1)/cols; rstd = 1 / sqrt(var + eps);
 *   out_i = fp16(fl(fl(d_i * rstd) * gain_i) + bias_i).
 * The two lanes are the two fp32 lanes of the tile's f32v2 unit.
 *
 * Cycles (layernorm_tile): three passes over the row (sum, squares, output),
 * per pair of elements: pass 1 ld32 + f16v2tof32 + f32v2add; pass 2 the same
 * + f32v2sub + f32v2axpy; pass 3 ld32 x3, f16v2tof32 x3, sub, mul x2, add,
 * f32v2tof16, st32; plus per row a few scalar ops (add, div, sqrt). Depend
 * only on (rows, cols).
 *
 * Not here: the residual adds around it (add.h).
 */
#ifndef IPUSIM_LAYERNORM_H
#define IPUSIM_LAYERNORM_H

#include <stdint.h>

#include "codelets/layer_dtype.h"
#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"

#define LAYERNORM_EPS 1e-5f /* GPT-J ln_1 / ln_f */

typedef struct LayernormArgs {
    const uint16_t *x;    /* (rows, cols) fp16 */
    const uint16_t *gain; /* (cols) fp16 */
    const uint16_t *bias; /* (cols) fp16 */
    uint16_t *out;        /* (rows, cols) fp16; may equal x */
    uint32_t rows, cols;
    float eps;
} LayernormArgs;

void layernorm_ref(const LayernormArgs *args);
void layernorm_tile(Worker *w, const LayernormArgs *args);
int layernorm_check(const LayernormArgs *args, int need_data, IpuErr *err);

/* "layernorm.f16": args LayernormArgs. */
extern const VertexType layernorm_vertex;

/* The registry entry (codelets/registry.c). */
extern const CodeletFamily codelet_family_layernorm;

#endif
