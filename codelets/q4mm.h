/* q4mm.h - the int4 decompress followed by the AMP matmul that reads its
 * output, as one native (functional fast path) step: the matmul's outputs
 * computed straight from the packed codes, the fp16 weights never written
 * to tile memory (the engine skips that dead write, engine.h).
 *
 * On one tile the decompress vertices (a linear's weight block, split over
 * the workers by decompress_q4_split: consecutive whole groups, packed,
 * scale, bias and out each contiguous across them) write the block's fp16
 * weights W (rows, K) into a scratch the tile's matmul vertices read as
 * their w operand (y = x W^T) or their a operand (v^T = W x^T). Data layout
 * as codelets/decompress.h and codelets/matmul.h give it: each weight row
 * starts on a group boundary, groups run along K.
 *
 * Exactness: the result is bit for bit decompress_q4_ref then matmul_native
 * (= matmul_amp): per output, from the incoming partial, the exact fp32
 * products added one at a time in k order, rounded to the partial type
 * after every 16-wide block of K but the last. The scalar path decodes each
 * matmul's weight rows into a private buffer and calls matmul_native on it.
 * The AVX-512 path (picked at run time when the CPU has AVX-512 F, BW, VL,
 * VBMI and F16C, whatever the build flags) builds per group the 16 possible
 * weights of 16 rows (q4_dequant_ref, rounded with the F16C conversions:
 * one binary32 multiply or add of binary16 operands rounded once is the
 * binary16 result), looks the codes up as bytes (vpermi2b), and runs one
 * 16-lane chain per output row block; a block whose sums end in NaN is
 * redone by the scalar path so NaN bits follow matmul_native (an Inf weight
 * needs no care: its products are the IEEE ones either way).
 * tests/test_q4mm.c compares both paths
 * with decompress then matmul, run through the timed intrinsics.
 *
 * Declines (the engine then runs both sets as usual): a decompress vertex
 * whose own native() would decline (alignment), producers that are not one
 * contiguous run, a matmul reading the scratch at a row that does not start
 * a group, or reading both operands or writing into it.
 *
 * Not here: the engine's rules for when a write is dead (sim/engine.h).
 */
#ifndef IPUSIM_Q4MM_H
#define IPUSIM_Q4MM_H

#include <stddef.h>

#include "sim/vertex.h"

/* Every decompress variant with each AMP matmul type (q4mm_fusion_count
 * entries): the fastest path the CPU has. */
extern const VertexFusion q4mm_fusions[];
/* The same pairs, scalar path only (for tests, and to compare). */
extern const VertexFusion q4mm_fusions_scalar[];
extern const size_t q4mm_fusion_count;

/* 1 if the AVX-512 path is compiled in and this CPU runs it. */
int q4mm_simd_available(void);

#endif
