/* engine_cost.h - the cost of the engine's data-movement steps, private to
 * sim/: Copy (exchange), StreamCopy (streaming memory) and collectives
 * (rings over IPU-Links). Each depends only on the graph and the arch, so
 * engine_start computes it once per step while validating the program, and
 * each reports a bad step (a dead tensor, a range outside it, a copy across
 * chips, a remote buffer of another chip) as an error naming the step.
 *
 * Not here: Execute costs (engine_exec), Sync (a constant of the arch), and
 * when a step runs (engine.c). Not a public interface: only sim/engine.c
 * includes it.
 */
#ifndef IPUSIM_ENGINE_COST_H
#define IPUSIM_ENGINE_COST_H

#include <math.h>
#include <stdint.h>

#include "base/err.h"
#include "sim/graph.h"
#include "sim/program.h"

typedef struct StepCost {
    int valid;
    int par;               /* a Copy whose pairs can move their data in any order (cost_copy_independent) */
    uint64_t sig;          /* step_signature() of the step this cost is for */
    uint64_t cycles, bytes;
    uint64_t *chip_cycles; /* (chips) each chip's own busy time; 0 = not taking part */
    /* StreamCopy steps, what does not depend on the streaming figures or the
     * clock (so a new arch re-times the step without walking its tiles):
     * (chips) bytes each chip streams, and its busiest tile's exchange
     * receive in cycles; NULL for other steps. */
    uint64_t *chip_bytes, *chip_recv_cycles;
} StepCost;

/* Costing scratch: per-tile bytes sent and received, (tiles) each, all zero
 * between calls. */
typedef struct CostScratch {
    const Graph *g;
    uint64_t *tile_a, *tile_b;
} CostScratch;

/* Each fills c->chip_cycles and c->bytes (the caller takes c->cycles as the
 * busiest chip's); -1 with err naming the step when the step is invalid. */
int cost_copy(CostScratch *cx, const Step *s, StepCost *c, IpuErr *err);
int cost_stream(CostScratch *cx, const Step *s, StepCost *c, IpuErr *err);
/* A StreamCopy step's chip_cycles from its chip_bytes and chip_recv_cycles
 * on arch a (streaming bandwidths, latency, clock): the time part of cost_stream. */
int cost_stream_time(const IpuArch *a, StepCost *c, IpuErr *err);
int cost_collective(const Graph *g, const Step *s, StepCost *c, IpuErr *err);

/* A hash of everything a leaf step's cost depends on in the step itself
 * (kind, pairs, transfers, tensors, scope): a step whose signature has not
 * changed since it was costed, on an unchanged graph, keeps its cost. */
uint64_t step_signature(const Step *s);

/* 1 if a Copy step's pairs give the same memory in any order: no tensor is
 * both a source and a destination of the step, and no two pairs' stretches
 * of one destination (first to last element written) overlap. -1 on no
 * host memory. */
int cost_copy_independent(const Step *s);

/* Cycles covering x, rounding up (a hair of tolerance so exact products stay exact). */
static inline uint64_t cost_cycles_ceil(double x) { return x <= 0 ? 0 : (uint64_t)ceil(x - 1e-9 * x); }

#endif
