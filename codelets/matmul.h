/* matmul.h - matrix product on the AMP: out (+)= a x w^T for one tile block.
 *
 * Layout (chosen for the GPT-J lowering):
 *   a   (M, K) fp16, row stride a_stride elements: activations, one row per
 *       token (M = 1 for batch-1 decode);
 *   w   (N, K) fp16, row stride w_stride elements: weights in PyTorch Linear's own layout
 *       [out_features, in_features], so a tile's block is rows n0..n0+N of
 *       the weight and columns k0..k0+K, exactly what the int4 decompress
 *       codelets produce (groups run along in_features, the K axis);
 *   out (M, N) partials, fp16 or fp32 (the vertex type fixes which), row
 *       stride out_stride elements.
 * Attention uses the same vertex: scores = q k^T takes w = one head of k
 * (keys, head_dim) with w_stride = heads x head_dim, as stored; probs x v
 * needs w = v^T (head_dim, keys): computing v^T = W_v x^T directly (a = W_v,
 * w = x) gives it without a transpose (tests/e2e_layers_engine.c).
 * A tile holding a (N, K) weight block and the matching (M, K) slice of the
 * activations produces (M, N) partial sums; summing them over the tiles that
 * share the output columns is the reduce codelet's job.
 *
 * Rounding (the specification, matmul_ref): for each 16-wide block of K, in
 * order, for each output, starting from the incoming partial (0 for the first
 * block unless accumulate), add the 16 exact fp32 products a*w one at a time
 * in k order with fp32 rounding; then store the partial, rounded to fp16 for
 * fp16 partials (so fp16 partials round once per 16 inputs, as on the IPU
 * where partials travel through memory between AMP passes).
 *
 * Cycles (matmul tile version, see isa_amp.h): per (16-output, 16-input)
 * block: weight load + fill + M x (256 / amp_macs_per_cycle) AMP issues,
 * plus the vertex call. Partial blocks (N or K not a multiple of 16) cost a
 * full block. Cycles depend only on (M, K, N, amp_macs_per_cycle).
 *
 * Matvec (M = 1, batch-1 decode) is modelled honestly: the block's weight
 * load and fill are paid for one row only, 32 + 16 + 4 worker cycles for 256
 * MACs at the defaults, so the AMP runs at 4/52 (~8%) of its peak, and the
 * time is dominated by moving weights from SRAM into the AMP. Large M (the
 * prefill, or Graphcore's no-KV-cache runs of batch x sequence rows)
 * amortises the load and approaches 64 MACs per tile cycle.
 *
 * Work division: one vertex runs on one worker. matmul_split gives each of a
 * tile's 6 workers a share of the rows (large M) or of the output columns
 * (small M, pointing w and out at the share and keeping out_stride). Each
 * worker pays its own weight loads; that equals, in tile time, poplibs'
 * supervisor loading a block once while the workers wait.
 *
 * Not here: the AMP unit model (isa_amp.h), reduction across tiles (reduce.h).
 */
#ifndef IPUSIM_MATMUL_H
#define IPUSIM_MATMUL_H

#include <stdint.h>

#include "codelets/layer_dtype.h"
#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"
#include "sim/worker.h"

/* measure() runs on scratch data up to this many MACs, the data-free cost
 * path above it (same loops, same charges). */
#define MATMUL_MEASURE_MAX_MACS (1u << 24)

typedef struct MatmulArgs {
    const uint16_t *a;           /* (M, K) fp16, row stride a_stride */
    const uint16_t *w;           /* (N, K) fp16, row stride w_stride */
    void *out;                   /* (M, N) fp16 or fp32 partials, row stride out_stride */
    uint32_t m, k, n;
    uint32_t a_stride;           /* elements between rows of a; 0 means k */
    uint32_t w_stride;           /* elements between rows of w; 0 means k */
    uint32_t out_stride;         /* elements between rows of out; 0 means n */
    uint32_t accumulate;         /* 1: out += a w^T; 0: out = a w^T */
    uint32_t amp_macs_per_cycle; /* IpuArch.amp_macs_per_cycle_fp16 (64 on Mk2/Bow) */
} MatmulArgs;

/* The specification: plain loops, roundings as described above. */
void matmul_ref(const MatmulArgs *args, LayerDtype partials);

/* The tile version on the AMP model; identical results, charges w. With a,
 * w or out NULL it skips the arithmetic and charges the same cycles. */
void matmul_amp(Worker *w, const MatmulArgs *args, LayerDtype partials);

/* The native version (functional fast path): matmul_amp's outputs bit for
 * bit (same order of additions, same roundings), with host SIMD where the
 * build has it; no cycles. The AMP has no faults to check. */
void matmul_native(const MatmulArgs *args, LayerDtype partials);

/* Worker cycles of matmul_amp for this shape, without running it. */
uint64_t matmul_amp_cycles(const IsaCosts *isa, uint32_t m, uint32_t k, uint32_t n,
                           uint32_t amp_macs_per_cycle, LayerDtype partials);

/* 0, or -1 with a message naming the bad field (zero sizes, strides smaller
 * than a row, AMP width outside 1..256, NULL pointers when need_data). */
int matmul_check(const MatmulArgs *args, int need_data, IpuErr *err);

/* The AMP block loop matmul_amp and matmul_fp8 share: per 16 x 16 block
 * of weights (outputs n0 .. n0 + nn, inputs k0 .. k0 + nk), load puts the
 * block into the AMP and charges its load (ctx: the codelet's args), then
 * one fill and one amp_row per row of a, the partials read back from out
 * except in the first input block of a run that does not accumulate. data:
 * a, out and the weights are there (else only the cycles are charged). */
struct AmpState;
typedef void (*MatmulLoadBlock)(Worker *wk, struct AmpState *amp, const void *ctx, uint32_t n0, uint32_t k0,
                                uint32_t nn, uint32_t nk);
void matmul_amp_blocks(Worker *wk, const MatmulArgs *p, LayerDtype partials, int data, MatmulLoadBlock load,
                       const void *ctx);

/* Splits one tile's matmul into at most `workers` vertices the way the
 * supervisor would share it: by rows when m >= workers (near-equal shares,
 * the first m % workers one row longer), otherwise by 16-wide blocks of
 * output columns (near-equal numbers of blocks; w, out offset, out_stride
 * kept), so a matvec keeps as many workers busy as it has column blocks.
 * Fills parts[0..count-1] and returns count (>= 1); together they compute
 * exactly what *whole computes (partials: the vertex type's, to offset out).
 * whole must pass matmul_check. */
uint32_t matmul_split(const MatmulArgs *whole, LayerDtype partials, uint32_t workers, MatmulArgs *parts);

/* Vertex types: "matmul.amp_f16" (fp16 partials, f16v4hihoamp) and
 * "matmul.amp_f32" (fp32 partials, f16v4sisoamp); args are MatmulArgs. */
extern const VertexType matmul_amp_f16_vertex;
extern const VertexType matmul_amp_f32_vertex;

/* The registry entry (codelets/registry.c). */
extern const CodeletFamily codelet_family_matmul;

#endif
