/* worker.h - one worker context of a tile, as a codelet sees it.
 *
 * A codelet is C code that calls the timed intrinsics of codelets/isa.h with
 * a Worker. Each intrinsic computes its result and adds its issue cost (from
 * isa, in worker cycles) to cycles. The engine turns worker cycles into tile
 * cycles with the barrel model (one issue per worker every
 * workers_per_tile tile cycles) and schedules vertices onto workers.
 *
 * A model fault (for example a misaligned 128-bit load) does not crash the
 * host: the intrinsic records the first fault here and the engine reports it
 * with the tile and vertex.
 */
#ifndef IPUSIM_WORKER_H
#define IPUSIM_WORKER_H

#include <stdint.h>

#include "sim/isa_cost.h"

typedef struct Worker {
    uint64_t cycles;       /* worker cycles charged so far */
    const IsaCosts *isa;   /* instruction costs and what-if switches */
    int tile;              /* global tile id, for messages; -1 outside a graph */
    int faulted;           /* non-zero after the first model fault */
    char fault[192];       /* that fault's message */
} Worker;

static inline void worker_init(Worker *w, const IsaCosts *isa, int tile)
{
    w->cycles = 0;
    w->isa = isa;
    w->tile = tile;
    w->faulted = 0;
    w->fault[0] = '\0';
}

#endif
