/* vertex.h - a codelet type as the engine sees it.
 *
 * A vertex is one codelet instance on one tile: a VertexType plus an args
 * struct (args_bytes long) that binds it to tensor slices through data
 * pointers. The graph copies the args; the engine calls run() on a Worker in
 * functional mode. In timing mode there is no data: the engine asks measure()
 * for the cycles of this shape once per (type, shape_key) and reuses them, so
 * a codelet used in timing mode must charge cycles that depend only on its
 * shape (tests check each codelet for that).
 *
 * A type may also have a native function: the same outputs as run(), bit
 * for bit, computed with plain host code and no cycle accounting. In
 * functional mode the engine (unless told to use the timed path) takes the
 * vertex's cycles from measure() and calls native(); native() declines
 * (returns non-zero, having written nothing) whenever run() would fault or
 * would charge cycles measure() does not predict (a misaligned buffer, a
 * disabled what-if instruction), and the engine then calls run(), so faults
 * are reported exactly as before. Tests prove each native() bit-identical to
 * run() (tests/test_native.c).
 */
#ifndef IPUSIM_VERTEX_H
#define IPUSIM_VERTEX_H

#include <stddef.h>
#include <stdint.h>

#include "sim/worker.h"

/* measure() result for a shape whose run faults (e.g. a disabled what-if instruction). */
#define VERTEX_MEASURE_FAULT UINT64_MAX

typedef struct VertexType {
    const char *name;          /* e.g. "decompress_q4.fused" */
    size_t args_bytes;         /* size of the args struct */
    /* Functional: compute the outputs from args' pointers, charging w. */
    void (*run)(Worker *w, const void *args);
    /* Timing: a key that is equal for args of the same shape. */
    uint64_t (*shape_key)(const void *args);
    /* Timing: the worker cycles run() charges for this shape, measured by
     * running it on scratch data (args' data pointers may be NULL), or
     * VERTEX_MEASURE_FAULT if that run faulted (the engine reports it). */
    uint64_t (*measure)(const IsaCosts *isa, const void *args);
    /* Functional, optional (NULL: none): run()'s outputs without the timed
     * intrinsics; 0 when done, non-zero to decline (nothing written). */
    int (*native)(const IsaCosts *isa, const void *args);
} VertexType;

/* The tail every measure() shares: run(w, args) on a fresh worker of no
 * tile with isa's costs, args pointing at scratch data of the shape the
 * caller allocated (and frees after); run()'s worker cycles, or
 * VERTEX_MEASURE_FAULT if it faulted. */
static inline uint64_t vertex_measure_run(const IsaCosts *isa, void (*run)(Worker *w, const void *args),
                                          const void *args)
{
    Worker w;
    worker_init(&w, isa, -1);
    run(&w, args);
    return w.faulted ? VERTEX_MEASURE_FAULT : w.cycles;
}

/* Where a fused native function reads its inputs. The engine may leave a
 * streamed tensor's bytes in the remote buffer they came from (zero-copy
 * streaming, engine.h) instead of its host buffer; at() gives the address
 * the n bytes at p (host-buffer addresses of one tensor, as vertex args
 * hold them) can be read from. Outputs are always written at their own
 * addresses: a tensor left in a remote buffer is one no step writes. */
typedef struct VertexMem {
    const void *(*at)(const struct VertexMem *m, const void *p, size_t n);
    void *ctx;
} VertexMem;

/* A functional fast path over two compute sets: on one tile, the vertices
 * of type `first` (a compute set's, in order) then those of type `second`
 * (the next Execute's on that tile, in order), where the first's outputs
 * are read by the second alone and dead after it. native() with mode
 * VERTEX_FUSE_RUN computes the second's outputs, bit for bit what running
 * both gives, without writing the first's (a dead write skipped): 0 when
 * done, non-zero to decline having written nothing. VERTEX_FUSE_CHECK
 * returns 0 iff RUN would do it, touching nothing; it must accept only
 * where every vertex's own native() would (so the cycles are measure()'s).
 * VERTEX_FUSE_PREFETCH only asks the host for the memory RUN will read (a
 * hint: the engine gives it a tile ahead of the one it runs). note: per
 * tile, note_bytes the engine keeps from that tile's CHECK to its PREFETCH
 * and RUN in the same run, with nothing in between that changes args: what
 * CHECK found out, RUN need not find again (NULL: nothing kept; the
 * function must then work it out). A tile with no vertex of the second set
 * (nsecond = 0) may skip the first's outright.
 * Registered with the engine (engine_set_fusions); tests/test_q4mm.c
 * proves the one there is. */
enum { VERTEX_FUSE_RUN, VERTEX_FUSE_CHECK, VERTEX_FUSE_PREFETCH };
typedef struct VertexFusion {
    const VertexType *first, *second;
    int (*native)(const IsaCosts *isa, const void *const *first_args, size_t nfirst, const void *const *second_args,
                  size_t nsecond, const VertexMem *mem, int mode, void *note);
    size_t note_bytes;
} VertexFusion;

#endif
