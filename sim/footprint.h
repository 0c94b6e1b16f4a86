/* footprint.h - which tensors the vertices of a compute set may touch, for
 * the engine's functional fast path (running two compute sets tile by tile
 * with an independent Copy moved ahead, see engine.h).
 *
 * Vertex args are opaque to the simulator, but they bind a vertex to tensor
 * slices through data pointers into the tensors' host buffers (functional
 * mode). The scan is conservative: every pointer-sized, pointer-aligned word
 * of every vertex's args whose value falls inside a tensor's host buffer
 * (its first byte up to one past its last) marks that tensor. A word that is
 * an integer and only looks like such an address marks a tensor too, which
 * can only forbid a reordering, never allow a wrong one. It relies on the
 * rule every codelet keeps: a vertex reaches memory only through the
 * pointers in its args, within the slices they bind.
 *
 * Not here: deciding what to reorder (engine.c).
 */
#ifndef IPUSIM_FOOTPRINT_H
#define IPUSIM_FOOTPRINT_H

#include <stdint.h>

#include "sim/graph.h"

/* touched (g->ntensors bytes) gets 1 for each tensor some vertex of cs may
 * touch, else 0. -1 on no host memory. Timing mode (no host buffers): all 0. */
int footprint_compute_set(const Graph *g, const ComputeSet *cs, uint8_t *touched);

#endif
