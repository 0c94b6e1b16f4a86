/* linear_gc.c - a linear's int4 weights under scheme = graphcore: Graphcore's
 * popxl pipeline step by step (docs/reference/popxl-4bit-pipeline.md, the
 * section numbers below are its own).
 *
 * 1. The packed codes (n, k/4) u16, the scales and the biases (n, k/g) fp16
 *    are three tensors, each in the layout a remote load gives a tensor no
 *    consumer lays out: popart's linear mapping (s2) - grains of 4
 *    elements, at least 64 elements a tile, one near-equal contiguous
 *    interval per tile - started on the tile after the previous linearly
 *    mapped tensor's last (the builder's gc_rot; created in popxl's order:
 *    codes, scale, bias; assumption GC-1 in docs/validation.md).
 * 2. Unpack (s3): the unpacked fp16 codes U are mapped like the codes, x4;
 *    each tile interval is cut into 6 vertices (gc_unpack_split).
 * 3. popops::map(_1 * _2 + _3) runs as two out-of-place binary ops (s4):
 *    P = U x scale, then Y = P + bias, P and Y mapped like U. Per tile,
 *    poplibs' choice among its broadcast vertices (gc_bcast_tile_kind): a
 *    scalar broadcast (BroadcastScalar2D over the tile's group pieces split among
 *    the workers, or a BroadcastScalar1D per piece, the cheaper by popops'
 *    estimators) when a group is cut at the tile's edge and at most 256
 *    distinct scales are touched; an outer-vector broadcast when the tile
 *    holds whole groups; else the general BinaryOp1D, whose second operand
 *    (the broadcast view) is materialised on the tile. Before each op an
 *    exchange brings the operand's values to the tile: the distinct values,
 *    or for the general path one value per element (assumption GC-4: the
 *    exchange moves the materialised bytes).
 * 4. The rearrangement (s6): a Copy of every element of Y into the matmul's
 *    planned blocks (the dec scratch of every row group's grid tiles);
 *    elements already on their tile stay (free), the rest cross the
 *    exchange. The matmul itself is planned as for fp16 weights (poplin
 *    sees fp16 weights).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/gc_decompress.h"
#include "host/lower/lower.h"

/* popart's linear mapping of poputil (grain 4, >= 64 elements a tile). */
#define GC_GRAIN 4
#define GC_MIN_TILE_ELEMS 64

static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* The linear mapping of elems elements over the chip's usable tiles from
 * local tile start (wrapping) of chip c: map[0..*nmap); returns the tiles used. */
static uint32_t linear_map(const LowerBuilder *b, uint32_t c, uint64_t elems, uint32_t start, TileInterval *map,
                           size_t *nmap)
{
    uint64_t grains = div_up(elems, GC_GRAIN), tiles = b->usable;
    uint64_t cap = div_up(grains, tiles), min = div_up(GC_MIN_TILE_ELEMS, GC_GRAIN);
    if (cap < min)
        cap = min;
    uint64_t used = div_up(grains, cap);
    *nmap = 0;
    for (uint64_t v = 0; v < used; v++) {
        uint64_t g0 = v * grains / used, g1 = (v + 1) * grains / used;
        uint64_t e0 = g0 * GC_GRAIN, e1 = g1 * GC_GRAIN < elems ? g1 * GC_GRAIN : elems;
        if (e1 > e0)
            map[(*nmap)++] = (TileInterval){e0, e1, lower_tile(b, c, (uint32_t)((start + v) % tiles))};
    }
    return (uint32_t)used;
}

int lower_gc_alloc_weights(LowerBuilder *b, const char *name, const LinearPlan *pl, SramCategory cat, int always,
                           LinearWeights *w, IpuErr *err)
{
    uint64_t e = (uint64_t)pl->n * pl->k;
    uint64_t elems[3] = {e / 4, e / pl->group, e / pl->group};
    GraphDType dt[3] = {DTYPE_U16, DTYPE_FP16, DTYPE_FP16};
    const char *what[3] = {"w", "scale", "qbias"};
    TileInterval *map = malloc(b->usable * sizeof *map);
    if (!map)
        return ipu_err(err, "out of host memory");
    uint32_t start[3];
    for (int q = 0; q < 3; q++) { /* one rotation for every chip: the chips run the same graph */
        size_t n;
        start[q] = b->gc_rot;
        b->gc_rot = (b->gc_rot + linear_map(b, 0, elems[q], b->gc_rot, map, &n)) % b->usable;
    }
    int rc = 0;
    for (uint32_t c = 0; c < b->chips && !rc; c++) {
        int *ids[3] = {&w->w[c], &w->scale[c], &w->bias_q[c]};
        for (int q = 0; q < 3 && !rc; q++) {
            char nm[96];
            size_t n;
            linear_map(b, c, elems[q], start[q], map, &n);
            snprintf(nm, sizeof nm, "%s.%s.%u", name, what[q], c);
            if ((*ids[q] = graph_add_tensor_life(b->g, nm, dt[q], elems[q], cat, always, map, n, err)) < 0)
                rc = -1;
        }
    }
    free(map);
    return rc;
}

/* ---- one instance's decompress ---- */

/* What an instance's decompress builds, per chip. */
typedef struct GcBuild {
    LowerBuilder *b;
    const char *name;
    const LinearPlan *pl;
    const LinearWeights *w;
    uint32_t c;
    int codes_id;         /* w->w[c] */
    int U, P, Y;          /* (n k) fp16 mapped like the codes x4 */
    int opnd[2];          /* per tile, the scale and bias values its ops read */
    uint64_t *opnd_first; /* (codes->nmap) first element of interval i's operand values */
    uint8_t *kind;        /* (codes->nmap) GcBcastKind of interval i */
} GcBuild;

/* The codes tensor (looked up each time: adding tensors moves the graph's table). */
static const Tensor *codes(const GcBuild *gb) { return graph_tensor(gb->b->g, gb->codes_id); }

/* U, P, Y and the two operand tensors of chip c. */
static int gc_tensors(GcBuild *gb, IpuErr *err)
{
    LowerBuilder *b = gb->b;
    const Tensor *t = codes(gb);
    TileInterval *map = malloc(t->nmap * sizeof *map), *om = malloc(t->nmap * sizeof *om);
    int rc = map && om ? 0 : ipu_err(err, "out of host memory");
    uint64_t total = 0, elems = 4 * t->elems; /* operand values, unpacked elements */
    size_t no = 0, nmap = t->nmap;
    for (size_t i = 0; i < nmap && !rc; i++) {
        map[i] = (TileInterval){4 * t->map[i].begin, 4 * t->map[i].end, t->map[i].tile};
        uint64_t nb;
        gb->kind[i] = (uint8_t)gc_bcast_tile_kind(map[i].begin, map[i].end, gb->pl->group, &nb);
        gb->opnd_first[i] = total;
        if (nb)
            om[no++] = (TileInterval){total, total + nb, t->map[i].tile};
        total += nb;
    }
    const char *what[5] = {"gc_u", "gc_p", "gc_y", "gc_scale", "gc_bias"};
    int *ids[5] = {&gb->U, &gb->P, &gb->Y, &gb->opnd[0], &gb->opnd[1]};
    for (int q = 0; q < 5 && !rc; q++) {
        char nm[96];
        snprintf(nm, sizeof nm, "%s.%s.%u", gb->name, what[q], gb->c);
        *ids[q] = q < 3 ? graph_add_tensor(b->g, nm, DTYPE_FP16, elems, SRAM_ACTIVATIONS, map, nmap, err)
                        : graph_add_tensor(b->g, nm, DTYPE_FP16, total, SRAM_ACTIVATIONS, om, no, err);
        if (*ids[q] < 0)
            rc = -1;
    }
    free(map);
    free(om);
    return rc;
}

/* The unpack vertices: each codes interval cut into 6 (s3). */
static int gc_unpack_vertices(GcBuild *gb, int cs, IpuErr *err)
{
    LowerBuilder *b = gb->b;
    GcUnpackArgs parts[ARCH_MAX_WORKERS_PER_TILE];
    for (size_t i = 0; i < codes(gb)->nmap; i++) {
        TileInterval iv = codes(gb)->map[i];
        GcUnpackArgs all = {lower_in(b, cs, gb->w->w[gb->c], iv.begin), lower_out(b, cs, gb->U, 4 * iv.begin),
                            (uint32_t)(iv.end - iv.begin), 0};
        if (b->gc_unpack_estimate)
            all.estimate_words = all.words;
        uint32_t np = gc_unpack_split(&all, 6, parts);
        for (uint32_t q = 0; q < np; q++)
            if (lower_vertex(b, cs, iv.tile, &gc_unpack_vertex, &parts[q], err))
                return -1;
    }
    return 0;
}

/* One vertex: elements [e, e + n) of the tile interval starting at element
 * e0 (of the flat tensor), reading operand values from *bfirst. */
static int gc_vertex(GcBuild *gb, int cs, int op, uint32_t tile, int in, int out, uint64_t e0, uint64_t e, uint64_t n,
                     uint64_t bfirst, GcBcastKind kind, uint32_t cost_a, IpuErr *err)
{
    LowerBuilder *b = gb->b;
    uint32_t g = gb->pl->group;
    GcBcastArgs a;
    memset(&a, 0, sizeof a); /* padding too (lower_vertex) */
    a.expanded = kind == GC_BINARY1D;
    a.in = lower_in(b, cs, in, e0 + e);
    a.b = lower_in(b, cs, gb->opnd[op], bfirst + (a.expanded ? e : (e0 + e) / g - e0 / g));
    a.out = lower_out(b, cs, out, e0 + e);
    a.n = (uint32_t)n, a.phase = (uint32_t)((e0 + e) % g), a.group = g, a.cost_a = cost_a;
    a.op = (uint8_t)op, a.kind = (uint8_t)kind;
    return lower_vertex(b, cs, tile, &gc_bcast_vertex, &a, err);
}

/* The scalar broadcast of interval [e0, e1): BroadcastScalar2D with the
 * group pieces split over the workers, or one BroadcastScalar1D per piece
 * (six worker vertices each), whichever popops' estimators price lower
 * (gc_bcast_tile_cycles). */
static int gc_scalar_vertices(GcBuild *gb, int cs, int op, uint32_t tile, int in, int out, uint64_t e0, uint64_t e1,
                              uint64_t bfirst, IpuErr *err)
{
    uint32_t g = gb->pl->group;
    uint64_t len = e1 - e0, per = gc_worker_share(len);
    int use1d;
    gc_bcast_tile_cycles(GC_SCALAR2D, e0, e1, g, &use1d);
    if (!use1d) {
        for (uint64_t e = 0; e < len; e += per)
            if (gc_vertex(gb, cs, op, tile, in, out, e0, e, len - e < per ? len - e : per, bfirst, GC_SCALAR2D, 0, err))
                return -1;
        return 0;
    }
    for (uint64_t e = 0; e < len;) {
        uint64_t piece = g - (e0 + e) % g < len - e ? g - (e0 + e) % g : len - e;
        for (uint32_t q = 0; q < 6; q++) {
            uint64_t a0 = piece * q / 6, a1 = piece * (q + 1) / 6;
            if (a1 > a0 &&
                gc_vertex(gb, cs, op, tile, in, out, e0, e + a0, a1 - a0, bfirst, GC_SCALAR1D, (uint32_t)piece, err))
                return -1;
        }
        e += piece;
    }
    return 0;
}

/* out = in op operand over every interval: the kind's vertices (s4, s5). */
static int gc_op_vertices(GcBuild *gb, int cs, int op, int in, int out, IpuErr *err)
{
    uint32_t g = gb->pl->group;
    for (size_t i = 0; i < codes(gb)->nmap; i++) {
        uint64_t e0 = 4 * codes(gb)->map[i].begin, e1 = 4 * codes(gb)->map[i].end, len = e1 - e0;
        uint32_t tile = codes(gb)->map[i].tile;
        GcBcastKind k = (GcBcastKind)gb->kind[i];
        if (k == GC_SCALAR2D) {
            if (gc_scalar_vertices(gb, cs, op, tile, in, out, e0, e1, gb->opnd_first[i], err))
                return -1;
            continue;
        }
        /* a MultiVertex: six workers, each charged the estimator's per-worker
         * cycles; outer vectors split by whole rows (groups), BinaryOp1D by elements */
        uint64_t unit = k == GC_BINARY1D ? 1 : g, units = len / unit;
        uint32_t cost_a = (uint32_t)(k == GC_BINARY1D ? len : units);
        for (uint32_t q = 0; q < 6; q++) {
            uint64_t a0 = units * q / 6 * unit, a1 = units * (q + 1) / 6 * unit;
            if (a1 > a0 && gc_vertex(gb, cs, op, tile, in, out, e0, a0, a1 - a0, gb->opnd_first[i], k, cost_a, err))
                return -1;
        }
    }
    return 0;
}

/* The exchange of the operand (0 scale, 1 bias) to every tile: its distinct
 * values, or (general path) one per element. */
static int gc_operand_pairs(GcBuild *gb, int cp, int op, IpuErr *err)
{
    Program *p = gb->b->p;
    uint32_t g = gb->pl->group;
    int src = op ? gb->w->bias_q[gb->c] : gb->w->scale[gb->c];
    for (size_t i = 0; i < codes(gb)->nmap; i++) {
        uint64_t e0 = 4 * codes(gb)->map[i].begin, e1 = 4 * codes(gb)->map[i].end, d = gb->opnd_first[i];
        if (gb->kind[i] != GC_BINARY1D) {
            if (program_copy_add(p, cp, src, e0 / g, gb->opnd[op], d, div_up(e1, g) - e0 / g, err) < 0)
                return -1;
            continue;
        }
        for (uint64_t e = e0; e < e1;) { /* each group's value repeated over its piece */
            uint64_t piece = g - e % g < e1 - e ? g - e % g : e1 - e;
            if (program_copy_add_strided(p, cp, src, e / g, 0, gb->opnd[op], d + (e - e0), 1, 1, piece, err) < 0)
                return -1;
            e += piece;
        }
    }
    return 0;
}

/* Y into block bi's decompressed weights, for every block of every row group (s6). */
static int gc_rearrange_pairs(GcBuild *gb, int cp, uint32_t blocks, IpuErr *err)
{
    const LinearPlan *pl = gb->pl;
    int D = gb->w->dec[gb->c];
    uint32_t grid = pl->nb * pl->kb;
    for (uint32_t bi = 0; bi < blocks; bi++) {
        uint32_t local = bi % grid, i = local / pl->kb, j = local % pl->kb;
        if (program_copy_add_rows(gb->b->p, cp, gb->Y, (uint64_t)i * pl->nblk * pl->k + (uint64_t)j * pl->kblk, pl->k, D,
                                  lower_linear_dec_first(gb->b, pl, D, gb->c, bi), pl->kblk, pl->kblk, pl->nblk,
                                  err) < 0)
            return -1;
    }
    return 0;
}

int lower_gc_decompress(LowerBuilder *b, const char *name, const LinearPlan *pl, const LinearWeights *w,
                        uint32_t blocks, int seq, IpuErr *err)
{
    char nm[96];
    int cs[3];
    const char *what[3] = {"gc_unpack", "gc_scale", "gc_bias"};
    for (int q = 0; q < 3; q++) {
        snprintf(nm, sizeof nm, "%s.%s", name, what[q]);
        if ((cs[q] = graph_add_compute_set(b->g, nm, err)) < 0)
            return -1;
    }
    GcBuild gbs[LOWER_MAX_CHIPS];
    int rc = 0;
    for (uint32_t c = 0; c < b->chips; c++) {
        size_t nmap = graph_tensor(b->g, w->w[c])->nmap;
        gbs[c] = (GcBuild){b, name, pl, w, c, w->w[c], -1, -1, -1, {-1, -1}, malloc(nmap * sizeof(uint64_t)),
                           malloc(nmap)};
        if (!rc && (!gbs[c].opnd_first || !gbs[c].kind))
            rc = ipu_err(err, "out of host memory");
        if (!rc)
            rc = gc_tensors(&gbs[c], err);
        if (!rc && c < b->vchips)
            rc = gc_unpack_vertices(&gbs[c], cs[0], err) ||
                 gc_op_vertices(&gbs[c], cs[1], GC_OP_MUL, gbs[c].U, gbs[c].P, err) ||
                 gc_op_vertices(&gbs[c], cs[2], GC_OP_ADD, gbs[c].P, gbs[c].Y, err) ? -1 : 0;
    }
    /* unpack; scale to the tiles; multiply; bias to the tiles; add; into the matmul's blocks */
    int steps[4] = {-1, -1, -1, -1};
    if (!rc && lower_exec(b, seq, cs[0], name, PHASE_DECOMPRESS, err) < 0)
        rc = -1;
    for (int op = 0; op < 2 && !rc; op++) {
        if ((steps[op] = lower_copy(b, seq, name, err)) < 0 || lower_exec(b, seq, cs[1 + op], name, PHASE_DECOMPRESS, err) < 0)
            rc = -1;
        for (uint32_t c = 0; c < b->vchips && !rc; c++)
            rc = gc_operand_pairs(&gbs[c], steps[op], op, err);
    }
    if (!rc && (steps[2] = lower_copy(b, seq, name, err)) < 0)
        rc = -1;
    for (uint32_t c = 0; c < b->vchips && !rc; c++)
        rc = gc_rearrange_pairs(&gbs[c], steps[2], blocks, err);
    for (uint32_t c = 0; c < b->chips; c++)
        free(gbs[c].opnd_first), free(gbs[c].kind);
    return rc;
}
