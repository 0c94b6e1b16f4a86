/* lower_build.c - builder helpers and the weight-stationary linear layer (see lower.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/add.h"
#include "codelets/gather.h"
#include "codelets/decompress.h"
#include "codelets/matmul.h"
#include "codelets/reduce.h"
#include "host/lower.h"

/* Assumptions (per tile, fractions of its SRAM): one linear layer's weight
 * block (+ int4 scratch) may take LINEAR_WEIGHT_FRACTION; its activation
 * slices, partials and reducer buffers LINEAR_ACT_FRACTION, since every
 * linear of both step graphs keeps its own buffers (no liveness sharing)
 * and the rows, attention and caches need the rest. */
#define LINEAR_WEIGHT_FRACTION 0.25
#define LINEAR_ACT_FRACTION 0.04
/* Assumption: a layer's linear leaves this fraction of each of its tiles
 * free for what is allocated after it (later linears, attention, the LM
 * head); the embedding and LM head (no shared scratch) may use all of it. */
#define LINEAR_FREE_RESERVE 0.10
/* An N block's partials are reduced in at most this many pieces, one per tile of the block. */
#define LINEAR_REDUCE_PIECES 16

static void *use(LowerBuilder *b, int cs, int id, uint64_t first, TensorAccess access)
{
    IpuErr e;
    if (graph_cs_use(b->g, cs, id, access, &e) && !b->use_failed)
        b->use_failed = 1, b->use_err = e;
    char *d = graph_tensor_data(b->g, id);
    return d ? d + first * graph_dtype_bytes(graph_tensor(b->g, id)->dtype) : NULL;
}

void *lower_in(LowerBuilder *b, int cs, int id, uint64_t first) { return use(b, cs, id, first, ACCESS_READ); }
void *lower_out(LowerBuilder *b, int cs, int id, uint64_t first) { return use(b, cs, id, first, ACCESS_WRITE); }
void *lower_inout(LowerBuilder *b, int cs, int id, uint64_t first) { return use(b, cs, id, first, ACCESS_READ_WRITE); }

int lower_uses_ok(const LowerBuilder *b, IpuErr *err)
{
    if (!b->use_failed)
        return 0;
    *err = b->use_err;
    return -1;
}

int lower_vertex(LowerBuilder *b, int cs, uint32_t tile, const VertexType *type, const void *args, IpuErr *err)
{
    if (lower_uses_ok(b, err))
        return -1;
    return graph_add_vertex(b->g, cs, tile, type, args, err);
}

int lower_tensor_blocks(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint32_t nblocks,
                        uint64_t block_elems, uint32_t tile0, SramCategory cat, IpuErr *err)
{
    TileInterval *map = malloc(nblocks * sizeof *map);
    if (!map)
        return ipu_err(err, "tensor '%s': out of host memory", name);
    for (uint32_t i = 0; i < nblocks; i++)
        map[i] = (TileInterval){i * block_elems, (i + 1) * block_elems, lower_tile(b, chip, tile0 + i)};
    int id = graph_add_tensor(b->g, name, dt, nblocks * block_elems, cat, map, nblocks, err);
    free(map);
    return id;
}

int lower_tensor_rows(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint64_t rows, uint64_t width,
                      uint32_t tile0, uint32_t ntiles, SramCategory cat, IpuErr *err)
{
    if (ntiles > rows)
        ntiles = (uint32_t)rows;
    TileInterval *map = malloc(ntiles * sizeof *map);
    if (!map)
        return ipu_err(err, "tensor '%s': out of host memory", name);
    size_t n = 0;
    for (uint32_t i = 0; i < ntiles; i++) {
        uint64_t r0 = rows * i / ntiles, r1 = rows * (i + 1) / ntiles;
        if (r1 > r0)
            map[n++] = (TileInterval){r0 * width, r1 * width, lower_tile(b, chip, tile0 + i)};
    }
    int id = graph_add_tensor(b->g, name, dt, rows * width, cat, map, n, err);
    free(map);
    return id;
}

int lower_append(LowerBuilder *b, int seq, int step, IpuErr *err)
{
    if (step < 0)
        return -1;
    return program_append(b->p, seq, step, err) < 0 ? -1 : step;
}

int lower_copy(LowerBuilder *b, int seq, const char *label, IpuErr *err)
{
    if (lower_append(b, seq, program_sync(b->p, SYNC_CHIP, label, PHASE_SYNC, err), err) < 0)
        return -1;
    return lower_append(b, seq, program_copy(b->p, label, PHASE_EXCHANGE, err), err);
}

int lower_exec(LowerBuilder *b, int seq, int cs, const char *label, RunPhase ph, IpuErr *err)
{
    return lower_append(b, seq, program_execute(b->p, cs, label, (int)ph, err), err);
}

/* ---- planner ---- */

static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

typedef struct TileBytes {
    uint64_t fixed, per_row; /* bytes on the busiest tile: fixed + per_row * mc */
} TileBytes;

static TileBytes linear_tile_bytes(const LinearPlan *pl, LayerDtype partials)
{
    uint64_t ps = pl->kind == LIN_GATHER ? 2 : layer_dtype_bytes(partials);
    uint64_t wb = (uint64_t)pl->nblk * pl->kblk * 2;
    if (pl->group)
        wb = (uint64_t)pl->nblk * pl->kblk / 2 + (uint64_t)pl->nblk * pl->kblk / pl->group * 4 + wb; /* + scratch */
    TileBytes t = {wb + (pl->has_bias ? pl->nblk * 2u : 0u) + /* bias replicated on every tile of its N block */ (pl->kind == LIN_GATHER ? pl->nblk * 2u : 0u), 0};
    uint64_t in_row = pl->kind == LIN_GATHER ? 4 : (uint64_t)pl->kblk * 2;
    /* a tile may also reduce one of its N block's pieces: kb partials of a piece, and the sums */
    uint64_t np = pl->kb < LINEAR_REDUCE_PIECES ? pl->kb : LINEAR_REDUCE_PIECES;
    t.per_row = in_row + pl->nblk * ps + pl->kb * pl->nblk * ps / np + pl->nblk * 2u;
    return t;
}

uint32_t lower_linear_chunk(const LowerBuilder *b, const LinearPlan *pl, uint32_t m)
{
    TileBytes t = linear_tile_bytes(pl, b->partials);
    double sram = b->g->arch.sram_bytes_per_tile;
    uint64_t wbud = (uint64_t)(sram * LINEAR_WEIGHT_FRACTION), abud = (uint64_t)(sram * LINEAR_ACT_FRACTION);
    if (t.fixed > wbud || t.per_row > abud)
        return 0;
    uint64_t mc = abud / t.per_row;
    return mc >= m ? m : (uint32_t)mc;
}

/* Rows whose activations fit the free memory of every tile of the grid
 * (less LINEAR_FREE_RESERVE for the graph built after this linear). */
static uint32_t linear_rows_fit(const LowerBuilder *b, const LinearPlan *pl, double reserve_fraction,
                                uint32_t *tightest, uint64_t *tightest_used)
{
    TileBytes t = linear_tile_bytes(pl, b->partials);
    uint64_t cap = sram_capacity_bytes(b->g->sram), reserve = (uint64_t)(cap * reserve_fraction);
    uint64_t fmin = UINT64_MAX;
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t i = 0; i < pl->nb * pl->kb; i++) {
            uint32_t tile = lower_tile(b, c, pl->tile0 + i);
            uint64_t used = sram_tile_used_bytes(b->g->sram, tile);
            uint64_t f = used + reserve < cap ? cap - used - reserve : 0;
            if (f < fmin)
                fmin = f, *tightest = tile, *tightest_used = used;
        }
    /* 4 tensors, each up to 8 bytes of alignment */
    uint64_t rows = fmin > 32 ? (fmin - 32) / t.per_row : 0;
    return rows > UINT32_MAX ? UINT32_MAX : (uint32_t)rows;
}

static double estimate(const LowerBuilder *b, const LinearPlan *pl, uint32_t m, uint32_t mc)
{
    const IpuArch *a = &b->g->arch;
    uint32_t W = a->workers_per_tile;
    double xb = a->exchange_bytes_per_cycle, ps = pl->kind == LIN_GATHER ? 2 : layer_dtype_bytes(b->partials);
    double mm;
    if (pl->kind == LIN_GATHER) {
        mm = (double)div_up(mc, W) * (pl->nblk / 4.0 * 2 + 6) * W;
    } else {
        uint32_t mm_m = pl->kind == LIN_MATMUL ? mc : pl->nblk, mm_n = pl->kind == LIN_MATMUL ? pl->nblk : mc;
        uint32_t wm = mm_m, wn = mm_n;
        if (mm_m >= W)
            wm = (uint32_t)div_up(mm_m, W);
        else
            wn = (uint32_t)(div_up(div_up(mm_n, 16), W) * 16);
        mm = (double)matmul_amp_cycles(&a->isa, wm, pl->kblk, wn < mm_n ? wn : mm_n, a->amp_macs_per_cycle_fp16,
                                       b->partials) * W;
    }
    double xin = mc * (pl->kind == LIN_GATHER ? 4.0 : pl->kblk * 2.0) / xb;
    double np = pl->kb < LINEAR_REDUCE_PIECES ? pl->kb : LINEAR_REDUCE_PIECES;
    double xpart = (double)pl->kb * mc * pl->nblk * ps / np / xb; /* np pieces of kb partials */
    double red = (double)(pl->kb + 1) * mc * pl->nblk / np;
    double xout = mc * pl->nblk * 2.0 / xb;
    double steps = 3.0 * (a->sync_chip_cycles + a->exchange_latency_cycles) + 2.0 * a->supervisor_launch_cycles;
    double chunks = (double)div_up(m, mc);
    double dec = pl->group ? (double)pl->nblk * pl->kblk : 0;
    return chunks * (mm + xin + xpart + red + xout + steps) + dec;
}

int lower_plan_linear(const LowerBuilder *b, const char *name, LinearKind kind, uint32_t m, uint32_t k, uint32_t n,
                      uint32_t group, int has_bias, LinearPlan *out, IpuErr *err)
{
    if (group && k % group)
        return ipu_err(err, "layer '%s': group size %u does not divide its per-chip input axis %u", name, group, k);
    int found = 0;
    LinearPlan best = {0};
    for (uint32_t nb = 1; nb <= n && nb <= b->usable; nb++) {
        if (n % nb)
            continue;
        uint32_t nblk = n / nb;
        if (nblk % 4 || (nblk % 16 && nblk != n && kind == LIN_MATMUL))
            continue;
        /* gather: at least 64 columns per block, so the rows copied out stay few (host memory) */
        if (kind == LIN_GATHER && nblk < 64 && nblk != n)
            continue;
        for (uint32_t kb = 1; kb <= k && (uint64_t)nb * kb <= b->usable; kb++) {
            if (k % kb)
                continue;
            uint32_t kblk = k / kb;
            if (kind != LIN_GATHER && (kblk % 4 || (kblk % 16 && kblk != k)))
                continue;
            if (group && kblk % group)
                continue;
            LinearPlan pl = {kind, k, n, nb, kb, nblk, kblk, group, 0, has_bias, 0, m};
            uint32_t mc = lower_linear_chunk(b, &pl, m);
            if (!mc)
                continue;
            pl.est_cycles = estimate(b, &pl, m, mc);
            if (!found || pl.est_cycles < best.est_cycles) /* ties keep the first: deterministic */
                best = pl, found = 1;
        }
    }
    if (!found) {
        if (group)
            return ipu_err(err, "layer '%s' (%u x %u per chip, group %u): no tile grid whose input blocks are whole "
                                "groups fits %u tiles of %u bytes",
                           name, n, k, group, b->usable, b->g->arch.sram_bytes_per_tile);
        return ipu_err(err, "layer '%s' (%u x %u per chip): no tile grid fits %u tiles of %u bytes", name, n, k,
                       b->usable, b->g->arch.sram_bytes_per_tile);
    }
    *out = best;
    return 0;
}

uint64_t lower_linear_weight_bytes(const LinearPlan *pl)
{
    uint64_t e = (uint64_t)pl->n * pl->k;
    uint64_t bytes = pl->group ? e / 2 + e / pl->group * 4 : e * 2;
    return bytes + (pl->has_bias ? (uint64_t)pl->n * pl->kb * 2u : 0u);
}

int lower_linear_alloc_weights(LowerBuilder *b, const char *name, const LinearPlan *pl, SramCategory cat,
                               LinearWeights *w, IpuErr *err)
{
    char nm[64];
    uint32_t blocks = pl->nb * pl->kb;
    uint64_t be = (uint64_t)pl->nblk * pl->kblk;
    for (uint32_t c = 0; c < b->chips; c++) {
        w->scale[c] = w->bias_q[c] = w->bias[c] = w->dec[c] = -1;
        snprintf(nm, sizeof nm, "%s.w.%u", name, c);
        w->w[c] = lower_tensor_blocks(b, nm, pl->group ? DTYPE_U16 : DTYPE_FP16, c, blocks, pl->group ? be / 4 : be,
                                      pl->tile0, cat, err);
        if (w->w[c] < 0)
            return -1;
        if (pl->group) {
            snprintf(nm, sizeof nm, "%s.scale.%u", name, c);
            w->scale[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, blocks, be / pl->group, pl->tile0, cat, err);
            snprintf(nm, sizeof nm, "%s.qbias.%u", name, c);
            w->bias_q[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, blocks, be / pl->group, pl->tile0, cat, err);
            if (b->dec_pool_elems) {
                if (be > b->dec_pool_elems)
                    return ipu_err(err, "layer '%s': weight block of %llu elements exceeds the decompress scratch "
                                        "of %llu per tile",
                                   name, (unsigned long long)be, (unsigned long long)b->dec_pool_elems);
                w->dec[c] = b->dec_pool[c];
            } else {
                snprintf(nm, sizeof nm, "%s.dec.%u", name, c);
                w->dec[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, blocks, be, pl->tile0, SRAM_ACTIVATIONS, err);
            }
            if (w->scale[c] < 0 || w->bias_q[c] < 0 || w->dec[c] < 0)
                return -1;
        }
        if (pl->has_bias) {
            snprintf(nm, sizeof nm, "%s.bias.%u", name, c);
            if ((w->bias[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, blocks, pl->nblk, pl->tile0, cat, err)) < 0)
                return -1;
        }
    }
    return 0;
}

int lower_dec_pool(LowerBuilder *b, uint64_t elems, IpuErr *err)
{
    char nm[64];
    for (uint32_t c = 0; c < b->chips; c++) {
        snprintf(nm, sizeof nm, "dec_scratch.%u", c);
        if ((b->dec_pool[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, b->usable, elems, 0, SRAM_ACTIVATIONS, err)) < 0)
            return -1;
    }
    b->dec_pool_elems = elems;
    return 0;
}

/* Element of block bi's decompressed weights in its scratch tensor D. */
static uint64_t dec_first(const LowerBuilder *b, const LinearPlan *pl, int D, uint32_t chip, uint32_t bi)
{
    if (b->dec_pool_elems && D == b->dec_pool[chip])
        return (uint64_t)((pl->tile0 + bi) % b->usable) * b->dec_pool_elems;
    return (uint64_t)bi * pl->nblk * pl->kblk;
}

/* Pieces of an N block's (mc, nblk) partials, reduced one per grid tile of
 * the block: piece p is elements [piece_at(p), piece_at(p + 1)), multiples of 4. */
typedef struct Pieces {
    uint32_t np;
    uint64_t e; /* mc * nblk */
} Pieces;

static uint64_t piece_at(const Pieces *pc, uint32_t p) { return pc->e / 4 * p / pc->np * 4; }

/* nb x np intervals: piece (i, p) of `per` x its length at base i * per * e + per * piece_at(p), on tile (i, p). */
static int piece_tensor(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, const LinearPlan *pl,
                        const Pieces *pc, uint32_t per, IpuErr *err)
{
    TileInterval *map = malloc((size_t)pl->nb * pc->np * sizeof *map);
    if (!map)
        return ipu_err(err, "out of host memory");
    size_t n = 0;
    for (uint32_t i = 0; i < pl->nb; i++)
        for (uint32_t p = 0; p < pc->np; p++)
            map[n++] = (TileInterval){(uint64_t)i * per * pc->e + per * piece_at(pc, p),
                                      (uint64_t)i * per * pc->e + per * piece_at(pc, p + 1),
                                      lower_tile(b, chip, pl->tile0 + i * pl->kb + p)};
    int id = graph_add_tensor(b->g, name, dt, (uint64_t)pl->nb * per * pc->e, SRAM_ACTIVATIONS, map, n, err);
    free(map);
    return id;
}

static GraphDType graph_dt(LayerDtype t) { return t == LAYER_F16 ? DTYPE_FP16 : DTYPE_FP32; }

int lower_linear_build(LowerBuilder *b, const char *name, const LinearPlan *pl, const LinearWeights *w, uint32_t m,
                       const int *x, const int *y, uint64_t bias_chips, LinearScratch *scratch, int *seq_a, int *seq_b,
                       IpuErr *err)
{
    int seq = *seq_a = program_sequence(b->p, name, err);
    if ((*seq_b = program_sequence(b->p, name, err)) < 0 || seq < 0)
        return -1;
    uint32_t mc = lower_linear_chunk(b, pl, m);
    if (!mc)
        return ipu_err(err, "layer '%s': one row does not fit a tile", name);
    if (scratch && scratch->built) {
        mc = scratch->mc;
    } else { /* fewer rows per chunk where the grid's tiles have less free memory than the budget */
        /* the layers' linears are built before attention: they leave room for it */
        double reserve = scratch ? LINEAR_FREE_RESERVE : 0.0;
        uint32_t tight = 0;
        uint64_t tight_used = 0;
        uint32_t fit = linear_rows_fit(b, pl, reserve, &tight, &tight_used);
        if (fit < mc)
            mc = fit;
        if (!mc)
            return ipu_err(err, "layer '%s': no row of activations (%llu bytes on its busiest tile) fits the free "
                                "memory of its tiles less %.0f%% reserved: global tile %u has %llu of %u bytes in "
                                "use (the graph built before this layer; fewer rows per step or more chips free it)",
                           name, (unsigned long long)linear_tile_bytes(pl, b->partials).per_row, reserve * 100,
                           tight, (unsigned long long)tight_used, sram_capacity_bytes(b->g->sram));
        if (scratch)
            scratch->mc = mc;
    }
    const IpuArch *a = &b->g->arch;
    uint32_t W = a->workers_per_tile, blocks = pl->nb * pl->kb, nchunks = (uint32_t)div_up(m, mc);
    int gather = pl->kind == LIN_GATHER;
    LayerDtype pt = gather ? LAYER_F16 : b->partials;
    uint64_t in_blk = gather ? mc : (uint64_t)mc * pl->kblk, part_blk = (uint64_t)mc * pl->nblk;
    uint64_t wblk = (uint64_t)pl->nblk * pl->kblk;
    /* reduce-scatter over up to LINEAR_REDUCE_PIECES tiles of the block (kb x pieces Copy pairs) */
    uint32_t npc = pl->kb < LINEAR_REDUCE_PIECES ? pl->kb : LINEAR_REDUCE_PIECES;
    Pieces pc = {npc < part_blk / 4 ? npc : (uint32_t)(part_blk / 4), part_blk};
    char nm[64];
    int A[LOWER_MAX_CHIPS], D[LOWER_MAX_CHIPS], P[LOWER_MAX_CHIPS], RI[LOWER_MAX_CHIPS], RO[LOWER_MAX_CHIPS],
        Z[LOWER_MAX_CHIPS];
    for (uint32_t c = 0; c < b->chips; c++) {
        D[c] = Z[c] = -1;
        if (scratch && scratch->built) { /* another buffer set's instance: same tiles, same buffers */
            A[c] = scratch->in[c], P[c] = scratch->part[c], RI[c] = scratch->red_in[c], RO[c] = scratch->out[c];
            D[c] = w->dec[c];
            continue;
        }
        snprintf(nm, sizeof nm, "%s.in.%u", name, c);
        A[c] = lower_tensor_blocks(b, nm, gather ? DTYPE_I32 : DTYPE_FP16, c, blocks, in_blk, pl->tile0,
                                   SRAM_ACTIVATIONS, err);
        snprintf(nm, sizeof nm, "%s.part.%u", name, c);
        P[c] = lower_tensor_blocks(b, nm, graph_dt(pt), c, blocks, part_blk, pl->tile0, SRAM_ACTIVATIONS, err);
        snprintf(nm, sizeof nm, "%s.red_in.%u", name, c);
        RI[c] = piece_tensor(b, nm, graph_dt(pt), c, pl, &pc, pl->kb, err);
        snprintf(nm, sizeof nm, "%s.out.%u", name, c);
        RO[c] = piece_tensor(b, nm, DTYPE_FP16, c, pl, &pc, 1, err);
        if (A[c] < 0 || P[c] < 0 || RI[c] < 0 || RO[c] < 0)
            return -1;
        if (scratch)
            scratch->in[c] = A[c], scratch->part[c] = P[c], scratch->red_in[c] = RI[c], scratch->out[c] = RO[c];
        D[c] = w->dec[c];
        if (gather) {
            snprintf(nm, sizeof nm, "%s.zeros.%u", name, c);
            if ((Z[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, blocks, pl->nblk, pl->tile0, SRAM_ACTIVATIONS,
                                            err)) < 0)
                return -1;
            graph_tensor_set_always_live(b->g, Z[c]); /* a constant no step writes: the zeros it holds from loading */
        }
    }
    if (scratch)
        scratch->built = 1;
    /* compute sets, shared by every chunk */
    snprintf(nm, sizeof nm, "%s.mm", name);
    int cs_mm = graph_add_compute_set(b->g, nm, err);
    snprintf(nm, sizeof nm, "%s.reduce", name);
    int cs_red = graph_add_compute_set(b->g, nm, err);
    int cs_dec = -1, cs_bias = -1;
    if (pl->group) {
        snprintf(nm, sizeof nm, "%s.decompress", name);
        cs_dec = graph_add_compute_set(b->g, nm, err);
    }
    if (pl->has_bias && bias_chips) {
        snprintf(nm, sizeof nm, "%s.bias", name);
        cs_bias = graph_add_compute_set(b->g, nm, err);
    }
    if (cs_mm < 0 || cs_red < 0 || (pl->group && cs_dec < 0) || (pl->has_bias && bias_chips && cs_bias < 0))
        return -1;
    MatmulArgs parts[ARCH_MAX_WORKERS_PER_TILE];
    DecompressQ4Args dp[ARCH_MAX_WORKERS_PER_TILE]; /* decompress_q4_split fills all W */
    for (uint32_t c = 0; c < b->vchips; c++) {
        for (uint32_t i = 0; i < pl->nb; i++)
            for (uint32_t j = 0; j < pl->kb; j++) {
                uint32_t bi = i * pl->kb + j, tile = lower_tile(b, c, pl->tile0 + bi);
                /* the block's fp16 weights: int4 decompressed into the scratch, or stored so */
                int wid = pl->group ? D[c] : w->w[c];
                uint64_t wfirst = pl->group ? dec_first(b, pl, D[c], c, bi) : bi * wblk;
                if (pl->group) {
                    DecompressQ4Args all = {lower_in(b, cs_dec, w->w[c], bi * wblk / 4),
                                            lower_in(b, cs_dec, w->scale[c], bi * wblk / pl->group),
                                            lower_in(b, cs_dec, w->bias_q[c], bi * wblk / pl->group),
                                            lower_out(b, cs_dec, D[c], wfirst), (uint32_t)(wblk / pl->group),
                                            pl->group};
                    uint32_t nd = decompress_q4_split(&all, W, dp);
                    for (uint32_t q = 0; q < nd; q++)
                        if (lower_vertex(b, cs_dec, tile, b->decompress_vt, &dp[q], err))
                            return -1;
                }
                uint16_t *wp = lower_in(b, cs_mm, wid, wfirst);
                if (gather) {
                    for (uint32_t q = 0; q < W; q++) {
                        uint32_t t0 = mc * q / W, t1 = mc * (q + 1) / W;
                        if (t1 == t0)
                            continue;
                        GatherArgs ga = {wp, lower_in(b, cs_mm, Z[c], (uint64_t)bi * pl->nblk),
                                         lower_in(b, cs_mm, A[c], bi * in_blk + t0),
                                         lower_out(b, cs_mm, P[c], bi * part_blk + (uint64_t)t0 * pl->nblk),
                                         pl->kblk, pl->nblk, t1 - t0, c * pl->k + j * pl->kblk};
                        if (lower_vertex(b, cs_mm, tile, &gather_vertex, &ga, err))
                            return -1;
                    }
                    continue;
                }
                uint16_t *ap = lower_in(b, cs_mm, A[c], bi * in_blk);
                /* accumulate 0: out is only written */
                MatmulArgs whole = {.k = pl->kblk, .amp_macs_per_cycle = a->amp_macs_per_cycle_fp16,
                                    .out = lower_out(b, cs_mm, P[c], bi * part_blk)};
                if (pl->kind == LIN_MATMUL)
                    whole.a = ap, whole.w = wp, whole.m = mc, whole.n = pl->nblk;
                else
                    whole.a = wp, whole.w = ap, whole.m = pl->nblk, whole.n = mc;
                uint32_t np = matmul_split(&whole, pt, W < 16 ? W : 16, parts);
                for (uint32_t q = 0; q < np; q++)
                    if (lower_vertex(b, cs_mm, tile, b->matmul_vt, &parts[q], err))
                        return -1;
            }
        for (uint32_t i = 0; i < pl->nb; i++)
            for (uint32_t p = 0; p < pc.np; p++) {
                uint32_t bi = i * pl->kb + p, tile = lower_tile(b, c, pl->tile0 + bi);
                uint64_t p0 = piece_at(&pc, p), len = piece_at(&pc, p + 1) - p0, n2 = len / 2;
                for (uint32_t q = 0; q < W; q++) {
                    uint64_t e0 = n2 * q / W * 2, e1 = n2 * (q + 1) / W * 2;
                    if (e1 == e0)
                        continue;
                    ReduceArgs ra;
                    memset(&ra, 0, sizeof ra); /* padding too (lower_vertex) */
                    ra.in = lower_in(b, cs_red, RI[c], (uint64_t)i * pl->kb * part_blk + pl->kb * p0 + e0);
                    ra.out = lower_out(b, cs_red, RO[c], i * part_blk + p0 + e0);
                    ra.parts = pl->kb, ra.n = (uint32_t)(e1 - e0), ra.in_stride = (uint32_t)len, ra.in_type = pt;
                    ra.out_type = LAYER_F16;
                    if (lower_vertex(b, cs_red, tile, &reduce_vertex, &ra, err))
                        return -1;
                }
                if (cs_bias < 0 || c >= 64 || !(bias_chips >> c & 1))
                    continue;
                /* the piece as row segments: a partial first row, whole rows, a partial last row */
                for (uint64_t e = p0; e < p0 + len;) {
                    uint64_t col = e % pl->nblk, rows = 1, cols = pl->nblk - col;
                    if (cols > p0 + len - e)
                        cols = p0 + len - e;
                    if (col == 0 && cols == pl->nblk)
                        rows = (p0 + len - e) / pl->nblk;
                    AddArgs ad;
                    memset(&ad, 0, sizeof ad); /* padding too (lower_vertex) */
                    ad.out = lower_inout(b, cs_bias, RO[c], i * part_blk + e), ad.a = ad.out; /* in place */
                    ad.b = lower_in(b, cs_bias, w->bias[c], (uint64_t)bi * pl->nblk + col);
                    ad.rows = (uint32_t)rows, ad.cols = (uint32_t)cols, ad.op = ADD_OP_BIAS;
                    if (lower_vertex(b, cs_bias, tile, &add_vertex, &ad, err))
                        return -1;
                    e += rows * cols;
                }
            }
    }
    /* steps */
    if (cs_dec >= 0 && lower_exec(b, seq, cs_dec, name, PHASE_DECOMPRESS, err) < 0)
        return -1;
    int mm_step = program_execute(b->p, cs_mm, name, gather ? PHASE_OTHER : PHASE_MATMUL, err);
    int red_step = program_execute(b->p, cs_red, name, gather ? PHASE_OTHER : PHASE_MATMUL, err);
    int bias_step = cs_bias >= 0 ? program_execute(b->p, cs_bias, name, PHASE_MATMUL, err) : -1;
    if (mm_step < 0 || red_step < 0 || (cs_bias >= 0 && bias_step < 0))
        return -1;
    /* the Copy steps move the same tensors for every instance sharing the
     * scratch: the first builds them (each a Sync + Copy sub-sequence), the
     * others append the same step ids */
    int reuse = scratch && scratch->copies;
    if (scratch && !reuse && !(scratch->copies = malloc(3 * (size_t)nchunks * sizeof *scratch->copies)))
        return ipu_err(err, "out of host memory");
    int cp = -1;
#define COPY_STEP(k)                                                                                                \
    do {                                                                                                            \
        int sub_;                                                                                                   \
        if (reuse) {                                                                                                \
            sub_ = scratch->copies[3 * ch + (k)];                                                                   \
        } else if ((sub_ = program_sequence(b->p, name, err)) < 0 || (cp = lower_copy(b, sub_, name, err)) < 0) {   \
            return -1;                                                                                              \
        }                                                                                                           \
        if (scratch && !reuse)                                                                                      \
            scratch->copies[3 * ch + (k)] = sub_;                                                                   \
        if (lower_append(b, seq, sub_, err) < 0)                                                                    \
            return -1;                                                                                              \
    } while (0)
    for (uint32_t ch = 0; ch < nchunks; ch++) {
        uint32_t r0 = ch * mc, rc = m - r0 < mc ? m - r0 : mc;
        COPY_STEP(0);
        for (uint32_t c = 0; c < b->vchips && !reuse; c++)
            for (uint32_t bi = 0; bi < blocks; bi++) {
                uint32_t j = bi % pl->kb;
                if (gather) {
                    if (program_copy_add(b->p, cp, x[c], r0, A[c], bi * in_blk, rc, err) < 0)
                        return -1;
                    continue;
                }
                if (program_copy_add_rows(b->p, cp, x[c], (uint64_t)r0 * pl->k + (uint64_t)j * pl->kblk, pl->k, A[c],
                                          bi * in_blk, pl->kblk, pl->kblk, rc, err) < 0)
                    return -1;
            }
        seq = *seq_b;
        if (lower_append(b, seq, mm_step, err) < 0)
            return -1;
        COPY_STEP(1);
        /* piece p of every K block j of N block i: one strided pair over j */
        for (uint32_t c = 0; c < b->vchips && !reuse; c++)
            for (uint32_t i = 0; i < pl->nb; i++)
                for (uint32_t p = 0; p < pc.np; p++) {
                    uint64_t p0 = piece_at(&pc, p), len = piece_at(&pc, p + 1) - p0;
                    if (program_copy_add_rows(b->p, cp, P[c], (uint64_t)i * pl->kb * part_blk + p0, part_blk, RI[c],
                                              (uint64_t)i * pl->kb * part_blk + pl->kb * p0, len, len, pl->kb, err) < 0)
                        return -1;
                }
        if (lower_append(b, seq, red_step, err) < 0 || (bias_step >= 0 && lower_append(b, seq, bias_step, err) < 0))
            return -1;
        COPY_STEP(2);
        for (uint32_t c = 0; c < b->vchips && !reuse; c++)
            for (uint32_t i = 0; i < pl->nb; i++) {
                /* rows of the block's partial layout: (mc, nblk), or (nblk, mc) for LIN_MATMUL_T */
                uint64_t width = pl->kind == LIN_MATMUL_T ? mc : pl->nblk;
                uint32_t p = 0;
                for (uint64_t e = 0; e < part_blk;) {
                    while (piece_at(&pc, p + 1) <= e)
                        p++;
                    uint64_t row = e / width, col = e % width, len = width - col;
                    if (len > piece_at(&pc, p + 1) - e) /* a pair stays on one reducer tile */
                        len = piece_at(&pc, p + 1) - e;
                    if (pl->kind == LIN_MATMUL_T) {
                        uint64_t valid = col < rc ? (rc - col < len ? rc - col : len) : 0;
                        if (valid && program_copy_add(b->p, cp, RO[c], i * part_blk + e, y[c],
                                                      ((uint64_t)i * pl->nblk + row) * m + r0 + col, valid, err) < 0)
                            return -1;
                    } else if (row < rc && program_copy_add(b->p, cp, RO[c], i * part_blk + e, y[c],
                                                           (uint64_t)(r0 + row) * pl->n + (uint64_t)i * pl->nblk + col,
                                                           len, err) < 0) {
                        return -1;
                    }
                    e += len;
                }
            }
    }
#undef COPY_STEP
    return 0;
}

int lower_linear_pack(const LinearPlan *pl, const QuantSpec *spec, const char *name, const float *w, uint64_t ld,
                      uint32_t rows_valid, const float *bias, int bias_pad_neg_inf, void *dst_w, uint16_t *dst_scale,
                      uint16_t *dst_bias_q, uint16_t *dst_bias, IpuErr *err)
{
    uint64_t wblk = (uint64_t)pl->nblk * pl->kblk;
    if (pl->kind == LIN_GATHER) { /* w: (k vocab rows, ld >= n) */
        uint16_t *d = dst_w;
        for (uint32_t i = 0; i < pl->nb; i++)
            for (uint32_t j = 0; j < pl->kb; j++)
                for (uint32_t r = 0; r < pl->kblk; r++)
                    for (uint32_t q = 0; q < pl->nblk; q++) {
                        uint64_t row = (uint64_t)j * pl->kblk + r;
                        d[(i * pl->kb + j) * wblk + (uint64_t)r * pl->nblk + q] =
                            row < rows_valid ? fp16_from_f32(w[row * ld + (uint64_t)i * pl->nblk + q]) : 0;
                    }
        return 0;
    }
    /* matrices: w (n rows, ld >= k); rows from rows_valid on are padding (zero) */
    float *slice = calloc((size_t)pl->n * pl->k, sizeof *slice);
    if (!slice)
        return ipu_err(err, "%s: out of host memory", name);
    for (uint64_t r = 0; r < rows_valid; r++)
        memcpy(slice + r * pl->k, w + r * ld, pl->k * sizeof *slice);
    int rc = 0;
    if (!pl->group) {
        uint16_t *d = dst_w;
        for (uint32_t i = 0; i < pl->nb; i++)
            for (uint32_t j = 0; j < pl->kb; j++)
                for (uint32_t r = 0; r < pl->nblk; r++)
                    for (uint32_t q = 0; q < pl->kblk; q++)
                        d[(i * pl->kb + j) * wblk + (uint64_t)r * pl->kblk + q] =
                            fp16_from_f32(slice[((uint64_t)i * pl->nblk + r) * pl->k + (uint64_t)j * pl->kblk + q]);
    } else {
        QuantTensor qt;
        memset(&qt, 0, sizeof qt);
        if (quant_tensor(spec, name, slice, pl->n, pl->k, &qt, err)) {
            rc = -1;
        } else {
            uint16_t *d = dst_w;
            uint32_t g = pl->group, gpr = pl->k / g;
            for (uint32_t i = 0; i < pl->nb; i++)
                for (uint32_t j = 0; j < pl->kb; j++)
                    for (uint32_t r = 0; r < pl->nblk; r++) {
                        uint64_t row = (uint64_t)i * pl->nblk + r, bi = (uint64_t)i * pl->kb + j;
                        memcpy(d + bi * wblk / 4 + (uint64_t)r * pl->kblk / 4, qt.packed + row * (pl->k / 4) + j * pl->kblk / 4,
                               pl->kblk / 4 * 2);
                        memcpy(dst_scale + bi * wblk / g + (uint64_t)r * pl->kblk / g, qt.scale + row * gpr + j * pl->kblk / g,
                               pl->kblk / g * 2);
                        memcpy(dst_bias_q + bi * wblk / g + (uint64_t)r * pl->kblk / g, qt.bias + row * gpr + j * pl->kblk / g,
                               pl->kblk / g * 2);
                    }
            quant_tensor_free(&qt);
        }
    }
    free(slice);
    if (dst_bias) /* (nb, kb, nblk): each N block's bias on every tile of its row of the grid */
        for (uint32_t i = 0; i < pl->nb; i++)
            for (uint32_t j = 0; j < pl->kb; j++)
                for (uint32_t q = 0; q < pl->nblk; q++) {
                    uint32_t col = i * pl->nblk + q;
                    dst_bias[((uint64_t)i * pl->kb + j) * pl->nblk + q] =
                        col < rows_valid ? fp16_from_f32(bias ? bias[col] : 0.0f) : (bias_pad_neg_inf ? 0xfc00 : 0);
                }
    return rc;
}

int lower_tensor_interleaved(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint64_t rows,
                             uint64_t width, IpuErr *err)
{
    uint64_t grain = LOWER_INTERLEAVE_GRAIN;
    while (grain > 4 && width % grain)
        grain /= 2;
    if (width % grain)
        grain = width;
    uint64_t per_row = width / grain, n = rows * per_row;
    TileInterval *map = malloc(n * sizeof *map);
    if (!map)
        return ipu_err(err, "tensor '%s': out of host memory", name);
    for (uint64_t i = 0; i < n; i++) /* grain i = (row, g) on local tile i mod usable */
        map[i] = (TileInterval){i * grain, (i + 1) * grain, lower_tile(b, chip, (uint32_t)(i % b->usable))};
    int id = graph_add_tensor(b->g, name, dt, rows * width, SRAM_ACTIVATIONS, map, n, err);
    free(map);
    return id;
}
