/* gc_decompress.h - the vertices of Graphcore's popxl 4-bit decompress
 * pipeline (docs/reference/popxl-4bit-pipeline.md), as the lowering's
 * `scheme = graphcore` builds it: an unpack vertex, then two popops binary
 * ops (multiply by the scale, add the bias) whose second operand is
 * broadcast over each group of n codes.
 *
 * Data layout (sim/base/quant_format.h): packed words hold four codes, the
 * first in bits 15..12. The tensors here are flat: a vertex gets a
 * contiguous range of elements of a (rows, groups, n) tensor that starts
 * `phase` elements into its group; ranges are not aligned to groups (the
 * linear tile mapping cuts groups between tiles).
 *
 * - Unpack (popxl-addons' DecompressPacked4BitTensor): words uint16 ->
 *   4 x words fp16 codes 0..15, out 8-byte aligned. Written with the timed
 *   intrinsics of codelets/isa.h (the subnormal trick of
 *   codelets/q4_isa.h); its cycles are the ISA model's. The vertex's own
 *   perf estimate ("100 + 30 x size") is a placeholder, not a measurement.
 * - Broadcast binary op: out[i] = in[i] op b(i), op a multiply or an add
 *   of fp16 with one rounding each (f16v4mul / f16v4add), so multiply then
 *   add gives exactly decompress_q4_ref's fp16(fp16(code x scale) + bias).
 *   b(i) is the broadcast operand: one value per group from the range's
 *   first group (expanded = 0), or one value per element (expanded = 1:
 *   Poplar's general path, where the broadcast view is materialised on the
 *   tile). These are popops' assembly codelets; their cycles are what
 *   popops' published cycle estimators charge (poplibs
 *   lib/popops/popopsCycleEstimators.cpp), per kind:
 *     SCALAR2D   BroadcastScalar2D, one worker: 20 + sum over the range's
 *                group pieces (28 + 5 ceil(len / 4))
 *     SCALAR1D   BroadcastScalar1D MultiVertex over a region of cost_a
 *                elements, per worker: 20 + 2 ceil(ceil(cost_a / 6) / 4)
 *     OUTER_ROW  BroadcastVectorOuterByRow1D (n < 24) over cost_a rows of
 *                n, per worker: 15 + ceil(cost_a / 6) (7 + 2 ceil(n / 4))
 *     OUTER_COL  BroadcastVectorOuterByColumn1D (n >= 24), per worker:
 *                15 + cost_a (7 + 2 ceil(ceil(n / 6) / 4))
 *     BINARY1D   BinaryOp1D MultiVertex over cost_a elements, per worker:
 *                26 + 3 ceil(ceil(cost_a / 6) / 4)
 *   (worker cycles; the estimators' 11-cycle supervisor overhead is left
 *   to the engine's own vertex launch cost). A MultiVertex is built as six
 *   worker vertices, each computing a sixth of the elements and charged
 *   the estimator's per-worker cycles.
 *
 * Which kind a tile gets follows poplibs' per-tile choice
 * (lib/popops/ElementWise.cpp; gc_bcast_tile_kind). Not here: the tensors,
 * their tile mapping and the exchange of the operands (the lowering,
 * host/lower/linear_gc.c).
 */
#ifndef IPUSIM_GC_DECOMPRESS_H
#define IPUSIM_GC_DECOMPRESS_H

#include <stdint.h>

#include "sim/vertex.h"
#include "sim/worker.h"

typedef struct GcUnpackArgs {
    const uint16_t *packed; /* (words) packed codes */
    uint16_t *out;          /* (4 words) fp16 codes, 8-byte aligned */
    uint32_t words;
    uint32_t estimate_words;/* 0: the ISA model's cycles; else the what-if that the vertex costs its popxl
                             * perf estimate, 100 + 30 x estimate_words (the whole tile interval's words) */
} GcUnpackArgs;

/* The specification: out[4j + i] = code i of packed[j], as fp16. */
void gc_unpack_ref(uint16_t *out, const uint16_t *packed, uint32_t words);
/* The tile version (timed intrinsics; or the estimate's cycles, see estimate_words). */
void gc_unpack(Worker *w, const GcUnpackArgs *a);
/* A tile interval cut into `workers` vertices as popxl-addons does: the
 * first words % workers get one extra word. Returns the non-empty parts. */
uint32_t gc_unpack_split(const GcUnpackArgs *all, uint32_t workers, GcUnpackArgs *parts);
extern const VertexType gc_unpack_vertex;

typedef enum GcBcastOp { GC_OP_MUL, GC_OP_ADD } GcBcastOp;
typedef enum GcBcastKind { GC_SCALAR2D, GC_SCALAR1D, GC_OUTER_ROW, GC_OUTER_COL, GC_BINARY1D, GC_BCAST_KINDS } GcBcastKind;
extern const char *const gc_bcast_kind_names[GC_BCAST_KINDS]; /* popops' vertex names */

typedef struct GcBcastArgs {
    const uint16_t *in;  /* (n) fp16 */
    const uint16_t *b;   /* expanded: (n) fp16; else one fp16 per group the range touches */
    uint16_t *out;       /* (n) fp16 */
    uint32_t n;          /* elements */
    uint32_t phase;      /* in[0]'s offset inside its group (< group) */
    uint32_t group;      /* n of the format: elements per group */
    uint32_t cost_a;     /* SCALAR1D, BINARY1D: the region's elements; OUTER_*: its rows (groups) */
    uint8_t op;          /* GcBcastOp */
    uint8_t kind;        /* GcBcastKind */
    uint8_t expanded;    /* 1: b has one value per element */
} GcBcastArgs;

/* The specification: out[i] = fp16(in[i] op b(i)). */
void gc_bcast_ref(const GcBcastArgs *a);
/* The worker cycles popops' estimator charges for a's kind and shape. */
uint64_t gc_bcast_cycles(const GcBcastArgs *a);
/* The tile version: gc_bcast_ref's outputs, charging gc_bcast_cycles. */
void gc_bcast(Worker *w, const GcBcastArgs *a);
extern const VertexType gc_bcast_vertex;

/* The kind of popops' vertex a tile holding elements [e0, e1) of a flat
 * (rows, groups, g) tensor gets for x op broadcast(per-group operand): the
 * scalar broadcast when a group is cut at the tile's edge (or the tile is
 * inside one group) and at most 256 distinct values are touched
 * (GC_SCALAR2D stands for the scalar path: gc_bcast_tile_cycles picks 2D
 * or 1D); an outer-vector broadcast (by row below 24 columns, else by
 * column) when the tile holds whole groups only; else the general
 * BinaryOp1D. *nb: the operand values the tile needs (the distinct ones, or
 * one per element on the general path). */
GcBcastKind gc_bcast_tile_kind(uint64_t e0, uint64_t e1, uint32_t g, uint64_t *nb);
/* Elements per worker when a tile's contiguous range of len elements is
 * split between the 6 workers (poplibs' splitRegionsBetweenWorkers: grain
 * 4, at least 8 a worker). */
uint64_t gc_worker_share(uint64_t len);
/* The machine cycles popops' estimators give one tile's op over [e0, e1)
 * of the kind gc_bcast_tile_kind chose: 6 x the busiest worker + 11 for a
 * 2D vertex or a MultiVertex, summed over the pieces for the 1D scalar
 * vertices; for the scalar path *scalar_1d says whether the 1D vertices
 * (one per group piece) are cheaper than the 2D one, as poplibs compares. */
uint64_t gc_bcast_tile_cycles(GcBcastKind kind, uint64_t e0, uint64_t e1, uint32_t g, int *scalar_1d);

/* The whole pipeline on one tile interval of `weights` weights (a multiple
 * of 4) starting `phase` weights into a group of g: unpack (cut into 6 as
 * popxl does; 6 x the busiest worker) plus the multiply and the add as
 * poplibs picks their vertices (*kind, *scalar_1d); machine cycles, without
 * vertex launches and without the exchange of the operands. */
uint64_t gc_pipeline_tile_cycles(const IsaCosts *isa, uint32_t g, uint64_t phase, uint64_t weights,
                                 GcBcastKind *kind, int *scalar_1d);

#endif
