/* isa_amp.h - timed intrinsics of the AMP (accumulating matrix product unit).
 *
 * The model follows the structure of poplibs' 1x1 convolution / matmul
 * vertices (docs/reference/ipu-figures.md, "AMP inner loop"):
 * - the AMP holds one weight block of AMP_BLOCK_N outputs x AMP_BLOCK_K
 *   inputs (16 x 16 fp16 = 512 bytes); loading it costs isa.amp_weight_load
 *   worker cycles (32: one ld128 of 16 bytes per cycle);
 * - each pass over a block pays the pipeline fill/drain isa.amp_fill once;
 * - one row of 16 inputs against the block is 256 MACs. A worker issues one
 *   AMP instruction per worker cycle and the barrel gives the tile one issue
 *   per tile cycle, so one instruction performs macs_per_cycle MACs (the
 *   per-tile MACs per tile cycle of the arch: 64 fp16 on Mk2/Bow, derived in
 *   docs/reference/ipu-figures.md) and a row costs 256 / macs_per_cycle instructions (4 on
 *   Mk2/Bow: poplibs' "4 worker cycles per 16-input block for half").
 *   The instruction also streams the partials in and out (poplibs bundles
 *   the loads/stores with the AMP op), so no separate load/store is charged.
 *
 * Where the throughput comes from: the Worker carries only the IsaCosts, so
 * the AMP width is NOT in the cost table; the vertex args carry it
 * (MatmulArgs.amp_macs_per_cycle, filled by the lowering from
 * IpuArch.amp_macs_per_cycle_fp16). The per-instruction costs
 * (f16v4hihoamp, f16v4sisoamp, amp_weight_load, amp_fill) are in
 * sim/isa_cost.def and changeable like any other.
 *
 * Arithmetic: products of two fp16 values are exact in fp32 (11 x 11 bits);
 * the AMP accumulates in fp32 internally. Assumption (no public statement of
 * the adder tree): the 16 products of one row are added one at a time, in k
 * order, to the fp32 partial that came in, each addition rounded to fp32.
 * The partial then leaves the AMP as fp32 (sisoamp) or rounded to fp16
 * (hihoamp), once per 16-input block.
 *
 * Not here: vector-unit arithmetic (codelets/isa.h), tiling of a matmul
 * (codelets/matmul.c).
 */
#ifndef IPUSIM_ISA_AMP_H
#define IPUSIM_ISA_AMP_H

#include <stdint.h>
#include <string.h>

#include "base/fp16.h"
#include "sim/worker.h"

#define AMP_BLOCK_K 16 /* inputs per weight block, fp16 */
#define AMP_BLOCK_N 16 /* outputs per weight block */
#define AMP_BLOCK_MACS (AMP_BLOCK_K * AMP_BLOCK_N)

/* The weight registers of the AMP, as a worker sees them. */
typedef struct AmpState {
    uint16_t w[AMP_BLOCK_N][AMP_BLOCK_K]; /* (n, k) fp16; zero-padded */
    uint32_t macs_per_cycle;              /* per tile cycle, 1..AMP_BLOCK_MACS */
} AmpState;

/* AMP instructions needed for one 16-input row against one block. */
static inline uint32_t amp_instrs_per_row(uint32_t macs_per_cycle)
{
    return (AMP_BLOCK_MACS + macs_per_cycle - 1) / macs_per_cycle;
}

/* Loads weights w_rows[n][k] (n < nn, k < nk, row stride w_stride elements)
 * into the block, zero padding the rest. A full block's cost is charged
 * whatever nn, nk: the AMP always loads 16 x 16. */
static inline void amp_load_weights(Worker *wk, AmpState *amp, const uint16_t *w_rows,
                                    uint32_t w_stride, uint32_t nn, uint32_t nk)
{
    memset(amp->w, 0, sizeof amp->w);
    if (w_rows)
        for (uint32_t n = 0; n < nn; n++)
            memcpy(amp->w[n], w_rows + (size_t)n * w_stride, nk * sizeof(uint16_t));
    wk->cycles += wk->isa->amp_weight_load;
}

/* One pass's pipeline fill and drain. */
static inline void amp_fill(Worker *wk)
{
    wk->cycles += wk->isa->amp_fill;
}

/* acc[n] += sum_k a[k] * w[n][k] for one row of nk inputs; acc is the fp32
 * partial inside the AMP. Functional only when a and acc are non-NULL; the
 * cost is the same either way. */
static inline void amp_row(Worker *wk, const AmpState *amp, const uint16_t *a, uint32_t nk,
                           float acc[AMP_BLOCK_N], int fp16_partials)
{
    if (a && acc) {
        float af[AMP_BLOCK_K];
        for (uint32_t k = 0; k < nk; k++)
            af[k] = fp16_to_f32(a[k]);
        for (int n = 0; n < AMP_BLOCK_N; n++) {
            float s = acc[n];
            for (uint32_t k = 0; k < nk; k++)
                s += af[k] * fp16_to_f32(amp->w[n][k]);
            acc[n] = s;
        }
    }
    uint32_t per = fp16_partials ? wk->isa->f16v4hihoamp : wk->isa->f16v4sisoamp;
    wk->cycles += (uint64_t)amp_instrs_per_row(amp->macs_per_cycle) * per;
}

#endif
