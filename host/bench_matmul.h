/* bench_matmul.h - one fp16 linear layer y = x W^T lowered alone on one
 * chip by the GPT-J lowering's own linear-layer code and run on the engine
 * in timing mode: what `ipusim bench matmul` prints and what
 * tests/test_matmul_plan.c compares with the planner's estimate.
 *
 * The layer is built exactly as lower_gptj builds a layer's linear: planned
 * by lower_plan_linear for all M rows, weights allocated by
 * lower_linear_alloc_weights, x (M, K) in the interleaved layout of a
 * linear's input (lower_tensor_interleaved), y (M, N) a row tensor over the
 * usable tiles, steps from lower_linear_build (with a LinearScratch, as the
 * model's layers have). fp16 weights, fp16 partials, no bias. So a change
 * of the planner or of the linear's lowering shows here unchanged.
 *
 * Not here: printing (host/cli_bench_matmul.c), the lowering (host/lower*.c).
 */
#ifndef IPUSIM_BENCH_MATMUL_H
#define IPUSIM_BENCH_MATMUL_H

#include <stdint.h>

#include "base/err.h"
#include "host/lower/lower.h"
#include "sim/arch.h"

typedef struct MatmulRun {
    uint32_t m, k, n;
    LinearPlan plan;             /* the planner's choice; plan.est_cycles its estimate for m rows */
    uint32_t rows_per_chunk, chunks;
    uint64_t cycles;             /* the whole linear on the engine: every step below */
    uint64_t amp_cycles;         /* Execute steps of the AMP matmul compute set */
    uint64_t reduce_cycles;      /* the other Execute steps (partial-sum reduce) */
    uint64_t copy_cycles;        /* Copy steps (exchange) */
    uint64_t sync_cycles;        /* Sync steps */
    uint64_t copy_bytes;         /* bytes the Copy steps move between tiles (engine's count) */
    uint64_t tile_xchg_bytes;    /* the busiest tile's bytes sent + received, summed over the Copy steps */
    uint32_t tile_xchg_tile;     /* that tile */
    double compute_bound_cycles; /* m k n MACs at the chip's AMP peak: / (tiles_per_chip x amp_macs_per_cycle_fp16) */
    double xchg_bound_cycles;    /* the plan's minimal per-tile exchange (bench_matmul_min_xchg_bytes) / bytes per cycle */
} MatmulRun;

/* Bytes one grid tile of the plan must at least exchange for m rows, with
 * no multicast (the engine's rule) and a perfectly balanced reduce-scatter:
 * receive its input block (m x kblk fp16), then, when kb > 1, send and
 * receive (kb - 1) / kb of its (m x nblk) partials, then send its 1/kb share
 * of the sums (fp16); each phase counted as max(sent, received), as the
 * engine costs a Copy. Elements already on the tile (1 in usable of the
 * interleaved input) are not deducted. */
double bench_matmul_min_xchg_bytes(const LinearPlan *pl, uint32_t m, uint32_t partial_bytes);

/* Plans, builds and runs y (m, n) = x (m, k) W^T on one chip of a (other
 * chips of the arch are ignored). 0, or -1 with err (a shape that does not
 * fit names the tile, as the lowering does). */
int bench_matmul_run(const IpuArch *a, uint32_t m, uint32_t k, uint32_t n, MatmulRun *out, IpuErr *err);

#endif
