/* links.h - collectives over IPU-Links between chips, modelled as rings.
 *
 * Timing: C chips in a ring (array order). All-reduce is a reduce-scatter
 * then an all-gather: 2(C-1) steps; all-gather and reduce-scatter C-1. Each
 * step moves one chunk of ceil(bytes / C) bytes per chip to its neighbour
 * and costs link.latency_cycles + chunk / (link bandwidth x efficiency x
 * ring links). The on-tile addition of partials is not charged (it overlaps
 * the link transfer on the real machine; an assumption).
 *
 * Function: the result is defined, not the ring's order of additions: each
 * output element is the sum over chips 0..C-1 in that order, rounded to the
 * tensor's dtype (fp16 via fp16_add, or fp32) after each addition, so it is
 * exact and the same at any thread count. Segment i of reduce-scatter and
 * all-gather is elements [i*E/C, (i+1)*E/C) and belongs to chip i (the i-th
 * tensor). The engine validates the tensors before calling these.
 */
#ifndef IPUSIM_LINKS_H
#define IPUSIM_LINKS_H

#include <stdint.h>

#include "sim/arch.h"
#include "sim/graph.h"
#include "sim/program.h"

/* Cycles of one collective of `bytes` per chip over C chips; *link_bytes = bytes sent by all chips. */
uint64_t links_ring_cycles(const IpuArch *a, CollectiveKind kind, uint64_t C, uint64_t bytes, uint64_t *link_bytes);
/* Functional result over the host data of tensors[0..C) (functional mode graphs). */
void links_collective_run(Graph *g, CollectiveKind kind, const int *tensors, size_t C);

#endif
