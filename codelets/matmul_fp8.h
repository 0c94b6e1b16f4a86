/* matmul_fp8.h - the AMP matmul with fp8 weights fed straight in (an arch
 * with amp_macs_per_cycle_fp8 > 0, such as the c600 preset), and the
 * per-column scale its outputs then get.
 *
 * matmul_fp8: out (+)= a x v^T with v (N, K) fp8 codes (sim/base/quant_fp8.h,
 * E4M3 or E5M2, row stride as MatmulArgs.w_stride) and a (M, K) fp16. The
 * AMP's weight path takes the codes and holds their exact fp16 values
 * (every finite fp8 value is one), so the arithmetic is matmul_ref's with
 * w = fp8_to_fp16(v): the specification is matmul_fp8_ref. Cycles as
 * matmul_amp's with two differences, both named assumptions (no public
 * figure for the C600's fp8 AMP): a 16 x 16 fp8 weight block is half the
 * bytes, so its load costs half of isa.amp_weight_load; a row costs 256 /
 * amp_macs_per_cycle AMP issues at the fp8 rate the lowering puts in
 * MatmulArgs.amp_macs_per_cycle. Activations stay fp16 (ipusim models an
 * fp8 weight path, not fp8 activations).
 *
 * partscale: p[r][c] = fp32(p[r][c] x s[c]) for rows x cols of fp32
 * partials (cols even, rows 8-byte aligned), the per-channel (or
 * per-tensor) fp16 scale of the fp8 weights applied to a block's partials
 * before they are reduced: in fp32, so the unscaled sums cannot overflow
 * (fp8 values reach 448 or 57344); per pair of columns an ld64 of p, an
 * ld32 of s, an f16v2tof32, an f32v2mul and an st64.
 *
 * Not here: the AMP model (isa_amp.h), the fp16 matmul (matmul.h).
 */
#ifndef IPUSIM_MATMUL_FP8_H
#define IPUSIM_MATMUL_FP8_H

#include <stdint.h>

#include "codelets/matmul.h"

typedef struct MatmulFp8Args {
    MatmulArgs mm;       /* a, out, m, k, n, strides, accumulate, amp_macs_per_cycle (fp8 rate); mm.w unused */
    const uint8_t *v;    /* (N, K) fp8 codes, row stride mm.w_stride (0: k) */
    uint32_t e5m2;       /* 0: E4M3, 1: E5M2 */
} MatmulFp8Args;

/* The specification: matmul_ref with w = fp8_to_fp16(v). */
void matmul_fp8_ref(const MatmulFp8Args *args, LayerDtype partials);
/* The tile version; identical results. With a, v or out NULL it charges only. */
void matmul_fp8(Worker *w, const MatmulFp8Args *args, LayerDtype partials);
uint64_t matmul_fp8_cycles(const IsaCosts *isa, uint32_t m, uint32_t k, uint32_t n, uint32_t amp_macs_per_cycle,
                           LayerDtype partials);
/* matmul_split's shares, the codes pointer offset to each part's columns. */
uint32_t matmul_fp8_split(const MatmulFp8Args *whole, LayerDtype partials, uint32_t workers, MatmulFp8Args *parts);

/* "matmul.fp8_f16", "matmul.fp8_f32": args MatmulFp8Args. */
extern const VertexType matmul_fp8_f16_vertex;
extern const VertexType matmul_fp8_f32_vertex;

typedef struct PartScaleArgs {
    float *p;              /* (rows, stride) fp32 partials, in place; 8-byte aligned rows */
    const uint16_t *s;     /* (cols) fp16 scales, 4-byte aligned */
    uint32_t rows, cols;   /* cols even */
    uint32_t stride;       /* elements between rows of p (even) */
} PartScaleArgs;

void partscale_ref(const PartScaleArgs *a);
void partscale(Worker *w, const PartScaleArgs *a);
uint64_t partscale_cycles(const IsaCosts *isa, uint32_t rows, uint32_t cols);
/* "partscale.f32": args PartScaleArgs. */
extern const VertexType partscale_vertex;

/* Families "matmul_fp8" (f16 / f32 partials) and "partscale". */
extern const CodeletFamily codelet_family_matmul_fp8;
extern const CodeletFamily codelet_family_partscale;

#endif
