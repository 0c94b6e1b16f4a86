/* engine_exec.h - the engine's Execute-step machinery, private to sim/:
 * the per-compute-set cache (vertices grouped by tile, native cycles,
 * footprint, last cost), running one tile's vertices timed or natively,
 * turning worker cycles into tile and chip times, and walking the program
 * tree ahead of the engine. engine.c decides what to run when; this file
 * does the per-set work.
 *
 * Not a public interface: only sim/engine.c includes it.
 */
#ifndef IPUSIM_ENGINE_EXEC_H
#define IPUSIM_ENGINE_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "sim/graph.h"
#include "sim/program.h"

#define EXEC_MAX_DEPTH 64   /* program tree depth the engine walks */
#define EXEC_MAX_WORKERS 64 /* workers per tile the scheduler models */

typedef struct CsCache {
    size_t nverts;         /* vertex count the grouping was built for */
    uint32_t *order;       /* (nverts) vertex indices sorted by tile, stable */
    uint32_t *group_start; /* (ngroups + 1) into order */
    size_t ngroups;
    int timed;             /* timing mode: cost below is valid */
    uint64_t cycles, *chip_cycles;
    uint64_t *native_wc;   /* (nverts) functional native path: measured worker cycles, 0 = no native */
    int native_timed;      /* cost above came from native_wc alone: valid for every native run */
    uint64_t native_work;  /* host work of the set in native worker cycles (engine.c native_cycles), UINT64_MAX unbounded */
    uint8_t *touched;      /* (ntouched) footprint_compute_set of this set, NULL until needed */
    size_t ntouched;       /* g->ntensors when scanned */
    const VertexType *vtype; /* the one type of its vertices, NULL if they mix (once vtype_known) */
    int vtype_known;
} CsCache;

/* A position of the program walk: a Sequence/Repeat step and its next child index. */
typedef struct Frame {
    int step;
    uint64_t idx;
    size_t pos0;  /* a Repeat's: the layout position its body starts at */
} Frame;

typedef struct ExecRun {
    uint64_t *wc;     /* (cs->count) */
    int64_t *fault;   /* (ngroups) faulting vertex index, -1 none (all native), -2 none (some run()) */
    char (*msg)[192]; /* (ngroups) its message */
} ExecRun;

/* The set's tiles as groups (vertex indices sorted by tile, stable); a
 * cache built for another vertex count is rebuilt. -1 on no host memory. */
int exec_cache_group(CsCache *c, const Graph *g, const ComputeSet *cs);
void exec_cache_free(CsCache *c);
/* footprint_compute_set of cs, cached (rescanned when tensors were added); NULL on no host memory. */
const uint8_t *exec_cache_touched(CsCache *c, const Graph *g, const ComputeSet *cs);

int exec_run_alloc(ExecRun *r, size_t nverts, size_t ngroups);
void exec_run_free(ExecRun *r);
/* Runs group gi (one tile's vertices, in order) into r: natively where
 * nwc[v] is non-zero (worker cycles nwc[v] - 1) and native() accepts, else
 * through run(); stops at the tile's first fault. */
void exec_run_group(const IpuArch *a, const ComputeSet *cs, const CsCache *c, const uint64_t *nwc, long gi,
                    ExecRun *r);
/* The fault of the lowest faulting tile as step s's error, or 0. */
int exec_fault(const Graph *g, const Step *s, const ComputeSet *cs, const CsCache *c, const ExecRun *r, IpuErr *err);
/* Tile times from r's worker cycles into c->cycles and c->chip_cycles. */
void exec_schedule(const Graph *g, const ComputeSet *cs, CsCache *c, const ExecRun *r);
/* The next leaf step from a walk position (a copy of the engine's stack),
 * as engine_step would reach it; -1 at the end of the program. */
int exec_walk_next_leaf(const Program *p, Frame *st, int *sp);

#endif
