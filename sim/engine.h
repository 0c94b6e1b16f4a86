/* engine.h - runs a program on a graph, superstep by superstep.
 *
 * The engine walks the program tree and times each leaf step with the rules
 * in docs/architecture.md ("Timing model"):
 *   Execute  per tile, vertices in insertion order onto workers_per_tile
 *            workers, the first free worker taking the next; a vertex costs
 *            vertex_launch_cycles + worker cycles x workers_per_tile; the
 *            tile takes supervisor_launch_cycles + its last worker's finish;
 *            the step lasts as long as the slowest tile of the slowest chip.
 *   Copy     per tile max(bytes sent, bytes received) / exchange bytes per
 *            cycle (rounded up), busiest tile, + exchange latency (per chip).
 *   Stream   per chip bytes / min(chip cap, machine bandwidth / chips of that
 *            machine streaming in the step) and no faster than its tiles'
 *            exchange receive, + latency. With arch io_tiles > 0 a step made
 *            with overlap=1 runs under the next Execute step (see the doc).
 *   Collective  rings: all-reduce 2(C-1) steps, all-gather and
 *            reduce-scatter C-1, each link latency + ceil(elems/C) bytes /
 *            (link bandwidth x efficiency x ring links).
 *   Sync     sync.chip_cycles, or sync.system_cycles over several chips.
 * In functional mode it also does the work: runs each vertex on a Worker
 * (or through its type's native function, engine_set_native),
 * moves the bytes, and reduces collectives in chip order 0..C-1 (each
 * addition rounded to the tensor's dtype), so results are exact and
 * deterministic. In timing mode it reuses measure() per (vertex type,
 * shape_key) and whole compute-set costs. Vertex run() functions may be
 * called concurrently for different tiles (OpenMP); results and cycles do
 * not depend on the thread count.
 *
 * Functional fast paths (with the native codelets; results, cycles and
 * stats other than the executes_* / vertices_skipped counters are those of
 * the timed path, bit for bit):
 *   tiles      an Execute and the next one, with only Sync steps and Copy
 *              steps that touch neither's tensors between them, run tile
 *              by tile (a vertex touches only its own tile's memory);
 *   dead       dead writes skipped: when every tensor an Execute writes dies
 *              (sim/layout.h) at the next Execute, and a fusion for the two
 *              vertex types is registered (engine_set_fusions), the first
 *              one's vertices are not run: at the second step the fusion
 *              computes its outputs from the first one's inputs, tile by
 *              tile (a tile it declines runs both sets as usual);
 *   zero-copy  a StreamCopy to tiles whose tensors are only read until
 *              they are next written leaves their bytes in the remote
 *              buffer: fusions read them there (VertexMem), a Copy reads
 *              them there, and any other step touching such a tensor, the
 *              end of the run, or a write to that remote buffer first
 *              copies them home (copy-on-write).
 *
 * engine_start + engine_step give one leaf step at a time (for a SystemC
 * wrapper); engine_run does the whole program.
 */
#ifndef IPUSIM_ENGINE_H
#define IPUSIM_ENGINE_H

#include <stdint.h>

#include "base/err.h"
#include "sim/graph.h"
#include "sim/program.h"
#include "sim/stats.h"
#include "sim/trace.h"

typedef struct EngineStepInfo {
    int step;              /* program step id */
    StepKind kind;
    const char *label;     /* the step's label (owned by the program) */
    int category;          /* host category id or -1 */
    uint64_t start_cycles; /* system time the step began */
    uint64_t cycles;       /* how long it lasted (0 for a stream deferred under compute) */
    uint64_t bytes;        /* bytes it moved (exchange, stream or links) */
    uint64_t hidden_cycles;/* stream cycles run under this (or the next) compute step */
} EngineStepInfo;

typedef struct Engine Engine;

/* The engine borrows g (mode taken from it). NULL on no host memory. */
Engine *engine_create(Graph *g, IpuErr *err);
void engine_destroy(Engine *e);
/* Events go to t from now on (NULL: none). The engine does not own t. */
void engine_set_trace(Engine *e, Trace *t);
/* Functional mode: on (the default) runs a vertex whose type has native()
 * through it, with the worker cycles measure() gives for its shape (the
 * same outputs and cycles as run(), see sim/vertex.h); off runs every
 * vertex through run() and the timed intrinsics. No effect in timing mode. */
void engine_set_native(Engine *e, int on);
/* Functional fast paths (each on by default; see above). No effect with
 * native codelets off or in timing mode. */
#define ENGINE_FAST_TILES 1u
#define ENGINE_FAST_DEAD 2u
#define ENGINE_FAST_ZERO_COPY 4u
#define ENGINE_FAST_ALL 7u
void engine_set_fast(Engine *e, unsigned paths);
/* The fusions dead-write skipping may use (the engine borrows the table). */
void engine_set_fusions(Engine *e, const VertexFusion *fusions, size_t n);
/* Functional mode, a check of the memory layout (sim/layout.h): on fills
 * each tensor's bytes with 0xff (NaN as fp16 or fp32) at the step where
 * its value dies, so a step that reads a value the layout let another
 * tensor overwrite shows in the results. Runs Execute steps one by one
 * (no tile-by-tile pairs). Dead writes are still skipped where the
 * skipped producer's inputs live until its consumer: the tensors it would
 * have written are poisoned at once, and until each is next written a
 * step that reads it (its vertices' args point into it, or a Copy,
 * StreamCopy or collective names it) is an error naming both steps. The
 * root run must be one the layout was made for. */
void engine_set_poison(Engine *e, int on);

/* Validates the program against the graph (every id, range, chip rule) and
 * positions at its root (root < 0: program_root(p)). A graph whose tensors
 * changed since its last memory layout (or that has none) is laid out for
 * this root first (sim/layout.h; its out-of-memory error names the step).
 * Errors name the step label and tensor. */
int engine_start(Engine *e, const Program *p, int root, IpuErr *err);
/* engine_start that keeps the step costs an earlier start of the same
 * program computed (timing mode: a caller that alternates roots, or that
 * restarts after engine_set_arch); only steps not yet costed are costed.
 * The caller must not have changed those steps' costs. */
int engine_start_kept(Engine *e, const Program *p, int root, IpuErr *err);
/* Runs the graph on arch a from now on: the costed StreamCopy, collective
 * and Sync steps are re-timed for it (clock, streaming, links, syncs),
 * everything else kept. An arch that changes what the kept costs depend
 * on (chips, tiles, workers, launch overheads, exchange, AMP, ISA costs)
 * is an error. Then engine_start_kept the program: the result equals a
 * fresh engine's on a graph made with a. */
int engine_set_arch(Engine *e, const IpuArch *a, IpuErr *err);
/* Starts the last program given to engine_start again at the same root,
 * reusing its validated step costs (cheap: for a decode loop). The caller
 * must not have changed that program or the graph's tensors since. */
int engine_restart(Engine *e, IpuErr *err);
/* Runs the next leaf step: 1 and *info filled, 0 when the program is done,
 * -1 on error (a Worker fault names tile, vertex type and message). */
int engine_step(Engine *e, EngineStepInfo *info, IpuErr *err);
/* engine_start(p, -1) then engine_step until done. */
int engine_run(Engine *e, const Program *p, IpuErr *err);

/* Time since creation or the last engine_reset, in cycles. */
uint64_t engine_cycles(const Engine *e);
const Stats *engine_stats(const Engine *e);
/* Zeroes time and stats; keeps the caches. */
void engine_reset(Engine *e);

#endif
