/* linear.c - the linear layer (see lower.h): its weight tensors and
 * packing, and how one instance is built (its planner: linear_plan.c).
 *
 * A plan is a grid of nb x kb tiles, block (i, j) holding the weights of
 * output rows i*nblk.. and inputs j*kblk.., repeated over mb row groups:
 * group g works on rows [g*rows_g, (g+1)*rows_g) on its own copy of the
 * grid, local tiles tile0 + (g*nb + i)*kb + j. Group 0's tiles hold the
 * weights (always-live when resident, streamed in when not); the other
 * groups get a copy by exchange at the start of every instance (a doubling
 * tree of Copy steps), as poplin replicates weights over a split of the
 * rows (docs/reference/poplin-matmul.md). Within a group the rows go
 * through in chunks of mc rows per tile: input rows to each block's tile,
 * AMP matmul into partials, the K blocks' partials reduce-scattered over
 * up to LOWER_REDUCE_PIECES tiles of their N block, reduced (+ bias),
 * the sums copied to the row-major output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/add.h"
#include "codelets/decompress.h"
#include "codelets/gather.h"
#include "codelets/matmul.h"
#include "codelets/matmul_fp8.h"
#include "codelets/reduce.h"
#include "codelets/wdec.h"
#include "host/lower/lower.h"

static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static GraphDType graph_dt(LayerDtype t) { return t == LAYER_F16 ? DTYPE_FP16 : DTYPE_FP32; }

/* ---- weights ---- */

/* The stored weight tensors of nblocks blocks from local tile tile0: w,
 * and for quantized weights scale and bias_q (lower_linear_block_tensors),
 * and bias; always-live unless they are a row group's copy. Under scheme =
 * graphcore only the bias: w, scale and bias_q are in the load layout
 * (lower_gc_alloc_weights) and left as they are. */
static int weight_tensors(LowerBuilder *b, const char *name, const LinearPlan *pl, uint32_t c, uint32_t nblocks,
                          uint32_t tile0, SramCategory cat, int always, int *w, int *scale, int *bias_q, int *bias,
                          IpuErr *err)
{
    static const char *const what[3] = {"w", "scale", "qbias"};
    char nm[96]; /* graph_add_tensor names an over-long result */
    LinearBlockTensors t;
    lower_linear_block_tensors(pl, &t);
    int *ids[3] = {w, scale, bias_q};
    *bias = -1;
    for (int i = 0; i < 3 && !pl->gc; i++) {
        *ids[i] = -1;
        if (!t.elems[i])
            continue;
        snprintf(nm, sizeof nm, "%s.%s.%u", name, i == 2 && lower_plan_wdec(pl) == WDEC_NF4DQ ? "dq" : what[i], c);
        if ((*ids[i] = lower_tensor_blocks_life(b, nm, t.dt[i], c, nblocks, t.elems[i], tile0, cat, always, err)) < 0)
            return -1;
    }
    if (pl->has_bias) {
        snprintf(nm, sizeof nm, "%s.bias.%u", name, c);
        if ((*bias = lower_tensor_blocks_life(b, nm, DTYPE_FP16, c, nblocks, pl->nblk, tile0, cat, always, err)) < 0)
            return -1;
    }
    return 0;
}

int lower_linear_alloc_weights(LowerBuilder *b, const char *name, const LinearPlan *pl, SramCategory cat,
                               LinearWeights *w, IpuErr *err)
{
    char nm[64];
    uint32_t blocks = pl->nb * pl->kb;
    uint64_t be = (uint64_t)pl->nblk * pl->kblk;
    if (pl->gc && lower_gc_alloc_weights(b, name, pl, cat, 1, w, err))
        return -1;
    for (uint32_t c = 0; c < b->chips; c++) {
        w->dec[c] = -1;
        if (weight_tensors(b, name, pl, c, blocks, pl->tile0, cat, 1, &w->w[c], &w->scale[c], &w->bias_q[c],
                           &w->bias[c], err))
            return -1;
        if (!lower_plan_decompressed(pl))
            continue;
        if (b->dec_pool_elems) {
            if (be > b->dec_pool_elems)
                return ipu_err(err, "layer '%s': weight block of %llu elements exceeds the decompress scratch of "
                                    "%llu per tile",
                               name, (unsigned long long)be, (unsigned long long)b->dec_pool_elems);
            w->dec[c] = b->dec_pool[c];
            continue;
        }
        snprintf(nm, sizeof nm, "%s.dec.%u", name, c);
        if ((w->dec[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, blocks, be, pl->tile0, SRAM_ACTIVATIONS, err)) < 0)
            return -1;
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

/* ---- one instance ---- */

/* Pieces of an N block's (mc, nblk) partials, reduced one per grid tile of
 * the block: piece p is elements [piece_at(p), piece_at(p + 1)), multiples of 4. */
typedef struct Pieces {
    uint32_t np;
    uint64_t e; /* mc * nblk */
} Pieces;

static uint64_t piece_at(const Pieces *pc, uint32_t p) { return pc->e / 4 * p / pc->np * 4; }

/* The state lower_linear_build's stages share. Blocks are numbered over
 * every group: bi = (g * nb + i) * kb + j on local tile tile0 + bi; "N
 * blocks" ni = g * nb + i. */
typedef struct LinearBuild {
    LowerBuilder *b;
    const char *name;
    const LinearPlan *pl;
    const LinearWeights *w;
    uint32_t m;                 /* rows of x */
    uint32_t rows_g;            /* rows per group (the last group may have fewer) */
    uint32_t mc, nchunks;       /* rows per chunk on a tile, chunks per group */
    uint32_t blocks, nn;        /* blocks and N blocks over all groups */
    uint32_t W;                 /* workers per tile */
    int gather;
    LayerDtype pt;              /* partials */
    uint64_t in_blk, part_blk;  /* per block: input (mc, kblk) (gather: mc ids), partials (mc, nblk) elements */
    uint64_t wblk;              /* weights per block: nblk * kblk */
    Pieces pc;
    uint64_t bias_chips;        /* chips whose reducers add the bias (bitmask) */
    /* per chip tensors: see LinearScratch; rw..rbias: groups 1..'s weight copies, -1 when mb = 1 */
    int A[LOWER_MAX_CHIPS], P[LOWER_MAX_CHIPS], RI[LOWER_MAX_CHIPS], RO[LOWER_MAX_CHIPS], Z[LOWER_MAX_CHIPS];
    int rw[LOWER_MAX_CHIPS], rscale[LOWER_MAX_CHIPS], rbq[LOWER_MAX_CHIPS], rbias[LOWER_MAX_CHIPS];
    int cs_dec, cs_mm, cs_red, cs_scale, cs_bias; /* compute sets; -1 when not needed */
} LinearBuild;

/* The tensor and first element holding block bi's weights: group 0's stored
 * ones, or the other groups' copies (t: 0 w, 1 scale, 2 bias_q, 3 bias). */
static void block_weights(const LinearBuild *lb, uint32_t c, uint32_t bi, int t, int *id, uint64_t *first)
{
    const LinearPlan *pl = lb->pl;
    uint32_t grid = pl->nb * pl->kb, g = bi / grid, local = g ? bi - grid : bi;
    const int *home[4] = {lb->w->w, lb->w->scale, lb->w->bias_q, lb->w->bias};
    const int *copy[4] = {lb->rw, lb->rscale, lb->rbq, lb->rbias};
    LinearBlockTensors bt;
    lower_linear_block_tensors(pl, &bt);
    uint64_t per[4] = {bt.elems[0], bt.elems[1], bt.elems[2], pl->nblk};
    *id = g ? copy[t][c] : home[t][c];
    *first = (uint64_t)local * per[t];
}

uint64_t lower_linear_dec_first(const LowerBuilder *b, const LinearPlan *pl, int D, uint32_t c, uint32_t bi)
{
    if (b->dec_pool_elems && D == b->dec_pool[c])
        return (uint64_t)((pl->tile0 + bi) % b->usable) * b->dec_pool_elems;
    return (uint64_t)bi * pl->nblk * pl->kblk;
}

static uint64_t dec_first(const LinearBuild *lb, int D, uint32_t c, uint32_t bi)
{
    return lower_linear_dec_first(lb->b, lb->pl, D, c, bi);
}

/* nn x np intervals: piece (ni, p) of `per` x its length at base ni * per * e + per * piece_at(p), on tile (ni, p). */
static int piece_tensor(LinearBuild *lb, const char *what, GraphDType dt, uint32_t c, uint32_t per, IpuErr *err)
{
    const LinearPlan *pl = lb->pl;
    const Pieces *pc = &lb->pc;
    TileInterval *map = malloc((size_t)lb->nn * pc->np * sizeof *map);
    if (!map)
        return ipu_err(err, "out of host memory");
    size_t n = 0;
    for (uint32_t ni = 0; ni < lb->nn; ni++)
        for (uint32_t p = 0; p < pc->np; p++)
            map[n++] = (TileInterval){(uint64_t)ni * per * pc->e + per * piece_at(pc, p),
                                      (uint64_t)ni * per * pc->e + per * piece_at(pc, p + 1),
                                      lower_tile(lb->b, c, pl->tile0 + ni * pl->kb + p)};
    char nm[64];
    snprintf(nm, sizeof nm, "%s.%s.%u", lb->name, what, c);
    int id = graph_add_tensor(lb->b->g, nm, dt, (uint64_t)lb->nn * per * pc->e, SRAM_ACTIVATIONS, map, n, err);
    free(map);
    return id;
}

/* Rows per chunk: the plan's budget, fewer where the tiles have less free memory. */
static int build_rows(LinearBuild *lb, LinearScratch *scratch, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    lb->rows_g = (uint32_t)div_up(lb->m, pl->mb);
    if (scratch && scratch->built) {
        lb->mc = scratch->mc;
        return 0;
    }
    if (!(lb->mc = lower_linear_chunk(b, pl, lb->m)))
        return ipu_err(err, "layer '%s': one row does not fit a tile", lb->name);
    uint32_t tight = 0;
    uint64_t tight_used = 0;
    uint32_t fit = lower_linear_rows_fit(b, pl, &tight, &tight_used);
    if (fit < lb->mc)
        lb->mc = fit;
    if (!lb->mc)
        return ipu_err(err, "layer '%s': no row of activations (%llu bytes on its busiest tile) fits %.3g of the "
                            "memory its tiles' always-live tensors leave: global tile %u has %llu of %u bytes "
                            "always-live (fewer rows per step or more chips free it)",
                       lb->name, (unsigned long long)lower_linear_row_bytes(pl, lower_plan_partials(b, pl)), b->mem_prop, tight,
                       (unsigned long long)tight_used, sram_capacity_bytes(b->g->sram));
    if (scratch)
        scratch->mc = lb->mc;
    return 0;
}

/* The temporaries of every chip (or the scratch's, built by an earlier instance on the same tiles). */
static int build_temps(LinearBuild *lb, LinearScratch *scratch, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    char nm[64];
    for (uint32_t c = 0; c < b->chips; c++) {
        lb->Z[c] = lb->rw[c] = lb->rscale[c] = lb->rbq[c] = lb->rbias[c] = -1;
        if (scratch && scratch->built) {
            lb->A[c] = scratch->in[c], lb->P[c] = scratch->part[c];
            lb->RI[c] = scratch->red_in[c], lb->RO[c] = scratch->out[c], lb->Z[c] = scratch->zeros[c];
            lb->rw[c] = scratch->rw[c], lb->rscale[c] = scratch->rscale[c];
            lb->rbq[c] = scratch->rbq[c], lb->rbias[c] = scratch->rbias[c];
            continue;
        }
        snprintf(nm, sizeof nm, "%s.in.%u", lb->name, c);
        lb->A[c] = lower_tensor_blocks(b, nm, lb->gather ? DTYPE_I32 : DTYPE_FP16, c, lb->blocks, lb->in_blk, pl->tile0,
                                       SRAM_ACTIVATIONS, err);
        snprintf(nm, sizeof nm, "%s.part.%u", lb->name, c);
        lb->P[c] = lower_tensor_blocks(b, nm, graph_dt(lb->pt), c, lb->blocks, lb->part_blk, pl->tile0,
                                       SRAM_ACTIVATIONS, err);
        lb->RI[c] = piece_tensor(lb, "red_in", graph_dt(lb->pt), c, pl->kb, err);
        lb->RO[c] = piece_tensor(lb, "out", DTYPE_FP16, c, 1, err);
        if (lb->A[c] < 0 || lb->P[c] < 0 || lb->RI[c] < 0 || lb->RO[c] < 0)
            return -1;
        if (lb->gather) {
            snprintf(nm, sizeof nm, "%s.zeros.%u", lb->name, c);
            /* a constant no step writes: the zeros it holds from loading */
            if ((lb->Z[c] = lower_tensor_blocks_life(b, nm, DTYPE_FP16, c, lb->blocks, pl->nblk, pl->tile0,
                                                     SRAM_ACTIVATIONS, 1, err)) < 0)
                return -1;
        }
        if (pl->mb > 1) { /* the row groups' weight copies: weights, not always-live */
            snprintf(nm, sizeof nm, "%s.copy", lb->name);
            uint32_t grid = pl->nb * pl->kb;
            if (weight_tensors(b, nm, pl, c, lb->blocks - grid, pl->tile0 + grid, SRAM_WEIGHTS, 0, &lb->rw[c],
                               &lb->rscale[c], &lb->rbq[c], &lb->rbias[c], err))
                return -1;
        }
        if (scratch) {
            scratch->in[c] = lb->A[c], scratch->part[c] = lb->P[c], scratch->red_in[c] = lb->RI[c];
            scratch->out[c] = lb->RO[c], scratch->zeros[c] = lb->Z[c];
            scratch->rw[c] = lb->rw[c], scratch->rscale[c] = lb->rscale[c];
            scratch->rbq[c] = lb->rbq[c], scratch->rbias[c] = lb->rbias[c];
        }
    }
    if (scratch)
        scratch->built = 1;
    return 0;
}

static int new_cs(LinearBuild *lb, const char *what, int *cs, IpuErr *err)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.%s", lb->name, what);
    return (*cs = graph_add_compute_set(lb->b->g, nm, err)) < 0 ? -1 : 0;
}

/* The weight-format (wdec) decompress of block bi of chip c into D, split
 * over the workers (whole row segments for nf4g+dq). */
static int wdec_vertices(LinearBuild *lb, uint32_t c, uint32_t bi, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    WdecFormat f = (WdecFormat)lower_plan_wdec(pl);
    int D = lb->w->dec[c], id[3];
    uint64_t first[3];
    for (int t = 0; t < 3; t++)
        block_weights(lb, c, bi, t, &id[t], &first[t]);
    uint32_t n = lower_plan_qgroup(pl), dq = f == WDEC_NF4DQ;
    WdecArgs all = {lower_in(b, lb->cs_dec, id[0], first[0]), dq ? NULL : lower_in(b, lb->cs_dec, id[1], first[1]),
                    dq ? lower_in(b, lb->cs_dec, id[1], first[1]) : NULL,
                    dq ? lower_in(b, lb->cs_dec, id[2], first[2]) : NULL,
                    lower_out(b, lb->cs_dec, D, dec_first(lb, D, c, bi)), (uint32_t)(lb->wblk / n), n,
                    dq ? pl->kblk / n : 0, 0, dq ? pl->row_len / n : 0};
    WdecArgs parts[ARCH_MAX_WORKERS_PER_TILE];
    const VertexType *vt = b->wdec_vt[f] ? b->wdec_vt[f] : wdec_family(f)->variants[0].vertex;
    uint32_t nd = wdec_split(f, &all, lb->W, parts);
    for (uint32_t q = 0; q < nd; q++)
        if (lower_vertex(b, lb->cs_dec, lower_tile(b, c, pl->tile0 + bi), vt, &parts[q], err))
            return -1;
    return 0;
}

/* Decompress of every block of chip c into its tile's scratch, split over the workers. */
static int decompress_vertices(LinearBuild *lb, uint32_t c, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    if (lower_plan_wdec(pl) >= 0) {
        for (uint32_t bi = 0; bi < lb->blocks; bi++)
            if (wdec_vertices(lb, c, bi, err))
                return -1;
        return 0;
    }
    DecompressQ4Args dp[ARCH_MAX_WORKERS_PER_TILE];
    int D = lb->w->dec[c];
    for (uint32_t bi = 0; bi < lb->blocks; bi++) {
        int wid, sid, qid;
        uint64_t wf, sf, qf;
        block_weights(lb, c, bi, 0, &wid, &wf);
        block_weights(lb, c, bi, 1, &sid, &sf);
        block_weights(lb, c, bi, 2, &qid, &qf);
        DecompressQ4Args all = {lower_in(b, lb->cs_dec, wid, wf), lower_in(b, lb->cs_dec, sid, sf),
                                lower_in(b, lb->cs_dec, qid, qf), lower_out(b, lb->cs_dec, D, dec_first(lb, D, c, bi)),
                                (uint32_t)(lb->wblk / pl->group), pl->group};
        uint32_t nd = decompress_q4_split(&all, lb->W, dp);
        for (uint32_t q = 0; q < nd; q++)
            if (lower_vertex(b, lb->cs_dec, lower_tile(b, c, pl->tile0 + bi), b->decompress_vt, &dp[q], err))
                return -1;
    }
    return 0;
}

static int scale_vertices(LinearBuild *lb, uint32_t c, uint32_t bi, IpuErr *err);

/* Block bi's matmul with its fp8 codes v straight into the AMP (LIN_MATMUL only). */
static int fp8_matmul(LinearBuild *lb, uint32_t c, uint32_t bi, uint32_t tile, const uint8_t *v, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    MatmulFp8Args whole, parts[ARCH_MAX_WORKERS_PER_TILE];
    memset(&whole, 0, sizeof whole); /* padding too (lower_vertex) */
    whole.mm = (MatmulArgs){.a = lower_in(b, lb->cs_mm, lb->A[c], bi * lb->in_blk), .m = lb->mc, .k = pl->kblk,
                            .n = pl->nblk, .amp_macs_per_cycle = b->g->arch.amp_macs_per_cycle_fp8,
                            .out = lower_out(b, lb->cs_mm, lb->P[c], bi * lb->part_blk)};
    whole.v = v, whole.e5m2 = lower_plan_wdec(pl) == WDEC_FP8E5M2;
    uint32_t np = matmul_fp8_split(&whole, lb->pt, lb->W, parts);
    const VertexType *vt = lb->pt == LAYER_F16 ? &matmul_fp8_f16_vertex : &matmul_fp8_f32_vertex;
    for (uint32_t q = 0; q < np; q++)
        if (lower_vertex(b, lb->cs_mm, tile, vt, &parts[q], err))
            return -1;
    return 0;
}

/* The matmul (or embedding gather) of every block of chip c into its partials. */
static int matmul_vertices(LinearBuild *lb, uint32_t c, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    int cs = lb->cs_mm;
    MatmulArgs parts[ARCH_MAX_WORKERS_PER_TILE];
    for (uint32_t bi = 0; bi < lb->blocks; bi++) {
        uint32_t tile = lower_tile(b, c, pl->tile0 + bi), j = bi % pl->kb;
        int dec = lower_plan_decompressed(pl), wid = dec ? lb->w->dec[c] : -1;
        uint64_t wfirst = dec ? dec_first(lb, wid, c, bi) : 0;
        if (!dec)
            block_weights(lb, c, bi, 0, &wid, &wfirst);
        if (pl->fp8_amp) {
            if (fp8_matmul(lb, c, bi, tile, lower_in(b, cs, wid, wfirst), err) || scale_vertices(lb, c, bi, err))
                return -1;
            continue;
        }
        uint16_t *wp = lower_in(b, cs, wid, wfirst);
        if (lb->gather) {
            for (uint32_t q = 0; q < lb->W; q++) {
                uint32_t t0 = lb->mc * q / lb->W, t1 = lb->mc * (q + 1) / lb->W;
                if (t1 == t0)
                    continue;
                GatherArgs ga = {wp, lower_in(b, cs, lb->Z[c], (uint64_t)bi * pl->nblk),
                                 lower_in(b, cs, lb->A[c], bi * lb->in_blk + t0),
                                 lower_out(b, cs, lb->P[c], bi * lb->part_blk + (uint64_t)t0 * pl->nblk), pl->kblk,
                                 pl->nblk, t1 - t0, c * pl->k + j * pl->kblk};
                if (lower_vertex(b, cs, tile, &gather_vertex, &ga, err))
                    return -1;
            }
            continue;
        }
        uint16_t *ap = lower_in(b, cs, lb->A[c], bi * lb->in_blk);
        MatmulArgs whole = {.k = pl->kblk, .amp_macs_per_cycle = b->g->arch.amp_macs_per_cycle_fp16,
                            .out = lower_out(b, cs, lb->P[c], bi * lb->part_blk)}; /* accumulate 0: only written */
        if (pl->kind == LIN_MATMUL)
            whole.a = ap, whole.w = wp, whole.m = lb->mc, whole.n = pl->nblk;
        else
            whole.a = wp, whole.w = ap, whole.m = pl->nblk, whole.n = lb->mc;
        uint32_t np = matmul_split(&whole, lb->pt, lb->W, parts);
        for (uint32_t q = 0; q < np; q++)
            if (lower_vertex(b, cs, tile, b->matmul_vt, &parts[q], err))
                return -1;
    }
    return 0;
}

/* The bias of N block ni's piece [p0, p0 + len) on tile bi, as row segments:
 * a partial first row, whole rows, a partial last row; in place. */
static int bias_vertices(LinearBuild *lb, uint32_t c, uint32_t ni, uint32_t bi, uint64_t p0, uint64_t len, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    int bid;
    uint64_t bfirst;
    block_weights(lb, c, bi, 3, &bid, &bfirst);
    for (uint64_t e = p0; e < p0 + len;) {
        uint64_t col = e % pl->nblk, rows = 1, cols = pl->nblk - col;
        if (cols > p0 + len - e)
            cols = p0 + len - e;
        if (col == 0 && cols == pl->nblk)
            rows = (p0 + len - e) / pl->nblk;
        AddArgs ad;
        memset(&ad, 0, sizeof ad); /* padding too (lower_vertex) */
        ad.out = lower_inout(b, lb->cs_bias, lb->RO[c], ni * lb->part_blk + e), ad.a = ad.out; /* in place */
        ad.b = lower_in(b, lb->cs_bias, bid, bfirst + col);
        ad.rows = (uint32_t)rows, ad.cols = (uint32_t)cols, ad.op = ADD_OP_BIAS;
        if (lower_vertex(b, lb->cs_bias, lower_tile(b, c, pl->tile0 + bi), &add_vertex, &ad, err))
            return -1;
        e += rows * cols;
    }
    return 0;
}

/* fp8 into the AMP: block bi's fp32 partials (mc rows of nblk outputs)
 * times its rows' scales (one per output column), split over the workers
 * by rows, before they go to the reducers. */
static int scale_vertices(LinearBuild *lb, uint32_t c, uint32_t bi, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    int sid;
    uint64_t sfirst;
    block_weights(lb, c, bi, 1, &sid, &sfirst);
    for (uint32_t q = 0; q < lb->W; q++) {
        uint32_t r0 = lb->mc * q / lb->W, r1 = lb->mc * (q + 1) / lb->W;
        if (r1 == r0)
            continue;
        PartScaleArgs sa;
        memset(&sa, 0, sizeof sa);
        sa.p = lower_inout(b, lb->cs_scale, lb->P[c], bi * lb->part_blk + (uint64_t)r0 * pl->nblk);
        sa.s = lower_in(b, lb->cs_scale, sid, sfirst);
        sa.rows = r1 - r0, sa.cols = pl->nblk, sa.stride = pl->nblk;
        if (lower_vertex(b, lb->cs_scale, lower_tile(b, c, pl->tile0 + bi), &partscale_vertex, &sa, err))
            return -1;
    }
    return 0;
}

/* The reducers of chip c: piece p of N block ni summed over its kb partials on tile (ni, p), then the bias. */
static int reduce_vertices(LinearBuild *lb, uint32_t c, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    const Pieces *pc = &lb->pc;
    for (uint32_t ni = 0; ni < lb->nn; ni++)
        for (uint32_t p = 0; p < pc->np; p++) {
            uint32_t bi = ni * pl->kb + p, tile = lower_tile(b, c, pl->tile0 + bi);
            uint64_t p0 = piece_at(pc, p), len = piece_at(pc, p + 1) - p0, n2 = len / 2;
            for (uint32_t q = 0; q < lb->W; q++) {
                uint64_t e0 = n2 * q / lb->W * 2, e1 = n2 * (q + 1) / lb->W * 2;
                if (e1 == e0)
                    continue;
                ReduceArgs ra;
                memset(&ra, 0, sizeof ra); /* padding too (lower_vertex) */
                ra.in = lower_in(b, lb->cs_red, lb->RI[c], (uint64_t)ni * pl->kb * lb->part_blk + pl->kb * p0 + e0);
                ra.out = lower_out(b, lb->cs_red, lb->RO[c], ni * lb->part_blk + p0 + e0);
                ra.parts = pl->kb, ra.n = (uint32_t)(e1 - e0), ra.in_stride = (uint32_t)len, ra.in_type = lb->pt;
                ra.out_type = LAYER_F16;
                if (lower_vertex(b, lb->cs_red, tile, &reduce_vertex, &ra, err))
                    return -1;
            }
            if (lb->cs_bias >= 0 && c < 64 && (lb->bias_chips >> c & 1) && bias_vertices(lb, c, ni, bi, p0, len, err))
                return -1;
        }
    return 0;
}

/* The groups' weight copies: a doubling tree, groups [0, have) to [have, 2 have), one Copy step per level. */
static int replicate_steps(LinearBuild *lb, int seq, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    uint32_t grid = pl->nb * pl->kb;
    for (uint32_t have = 1; have < pl->mb; have *= 2) {
        int cp = lower_copy(b, seq, lb->name, err);
        if (cp < 0)
            return -1;
        for (uint32_t c = 0; c < b->vchips; c++)
            for (uint32_t g = 0; g < have && have + g < pl->mb; g++)
                for (int t = pl->gc ? 3 : 0; t < 4; t++) { /* gc: the decompressed blocks are rearranged to every group */
                    int src, dst;
                    uint64_t sf, df;
                    block_weights(lb, c, g * grid, t, &src, &sf);
                    block_weights(lb, c, (have + g) * grid, t, &dst, &df);
                    if (src < 0)
                        continue;
                    uint64_t n = graph_tensor(b->g, dst)->elems / (pl->mb - 1); /* one group's blocks */
                    if (program_copy_add(b->p, cp, src, sf, dst, df, n, err) < 0)
                        return -1;
                }
    }
    return 0;
}

/* Rows [*r0, *r0 + *rc) of group g's chunk ch (rc may be 0 for the last group). */
static void chunk_rows(const LinearBuild *lb, uint32_t g, uint32_t ch, uint32_t *r0, uint32_t *rc)
{
    uint64_t start = (uint64_t)g * lb->rows_g + (uint64_t)ch * lb->mc;
    uint64_t end = (uint64_t)(g + 1) * lb->rows_g < lb->m ? (uint64_t)(g + 1) * lb->rows_g : lb->m;
    *r0 = (uint32_t)start;
    *rc = start >= end ? 0 : (uint32_t)(end - start < lb->mc ? end - start : lb->mc);
}

/* Chunk ch's input rows to every block's tile. */
static int input_pairs(LinearBuild *lb, int cp, const int *x, uint32_t ch, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t bi = 0; bi < lb->blocks; bi++) {
            uint32_t j = bi % pl->kb, r0, rc;
            chunk_rows(lb, bi / (pl->nb * pl->kb), ch, &r0, &rc);
            if (!rc)
                continue;
            int rv = lb->gather ? program_copy_add(b->p, cp, x[c], r0, lb->A[c], bi * lb->in_blk, rc, err)
                                : program_copy_add_rows(b->p, cp, x[c], (uint64_t)r0 * pl->k + (uint64_t)j * pl->kblk,
                                                        pl->k, lb->A[c], bi * lb->in_blk, pl->kblk, pl->kblk, rc, err);
            if (rv < 0)
                return -1;
        }
    return 0;
}

/* Piece p of every K block of N block ni to the piece's reducer: one strided pair over the K blocks. */
static int partial_pairs(LinearBuild *lb, int cp, IpuErr *err)
{
    const LinearPlan *pl = lb->pl;
    for (uint32_t c = 0; c < lb->b->vchips; c++)
        for (uint32_t ni = 0; ni < lb->nn; ni++)
            for (uint32_t p = 0; p < lb->pc.np; p++) {
                uint64_t p0 = piece_at(&lb->pc, p), len = piece_at(&lb->pc, p + 1) - p0, base = (uint64_t)ni * pl->kb * lb->part_blk;
                if (program_copy_add_rows(lb->b->p, cp, lb->P[c], base + p0, lb->part_blk, lb->RI[c],
                                          base + pl->kb * p0, len, len, pl->kb, err) < 0)
                    return -1;
            }
    return 0;
}

/* Chunk ch's sums to the output: rows of y (m, n), or columns of y^T (n, m) for LIN_MATMUL_T. */
static int output_pairs(LinearBuild *lb, int cp, const int *y, uint32_t ch, IpuErr *err)
{
    LowerBuilder *b = lb->b;
    const LinearPlan *pl = lb->pl;
    uint64_t width = pl->kind == LIN_MATMUL_T ? lb->mc : pl->nblk; /* a row of the block's partial layout */
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t ni = 0; ni < lb->nn; ni++) {
            uint32_t i = ni % pl->nb, r0, rc, p = 0;
            chunk_rows(lb, ni / pl->nb, ch, &r0, &rc);
            for (uint64_t e = 0; rc && e < lb->part_blk;) {
                while (piece_at(&lb->pc, p + 1) <= e)
                    p++;
                uint64_t row = e / width, col = e % width, len = width - col;
                if (len > piece_at(&lb->pc, p + 1) - e) /* a pair stays on one reducer tile */
                    len = piece_at(&lb->pc, p + 1) - e;
                uint64_t src = (uint64_t)ni * lb->part_blk + e;
                int rv = 0;
                if (pl->kind == LIN_MATMUL_T) {
                    uint64_t valid = col < rc ? (rc - col < len ? rc - col : len) : 0;
                    if (valid)
                        rv = program_copy_add(b->p, cp, lb->RO[c], src, y[c], ((uint64_t)i * pl->nblk + row) * lb->m + r0 + col,
                                              valid, err);
                } else if (row < rc) {
                    rv = program_copy_add(b->p, cp, lb->RO[c], src, y[c],
                                          (uint64_t)(r0 + row) * pl->n + (uint64_t)i * pl->nblk + col, len, err);
                }
                if (rv < 0)
                    return -1;
                e += len;
            }
        }
    return 0;
}

/* Appends chunk ch's k-th Copy sub-sequence (0 inputs, 1 partials, 2 sums)
 * to seq: a new one (*cp its Copy step, to be filled) or, for an instance
 * sharing the scratch, the one the first instance built (*cp = -1). */
static int chunk_copy(LinearBuild *lb, LinearScratch *scratch, int reuse, uint32_t ch, int k, int seq, int *cp, IpuErr *err)
{
    int sub;
    *cp = -1;
    if (reuse) {
        sub = scratch->copies[3 * ch + k];
    } else {
        if ((sub = program_sequence(lb->b->p, lb->name, err)) < 0 || (*cp = lower_copy(lb->b, sub, lb->name, err)) < 0)
            return -1;
        if (scratch)
            scratch->copies[3 * ch + k] = sub;
    }
    return lower_append(lb->b, seq, sub, err) < 0 ? -1 : 0;
}

/* The steps: [weight copies, decompress, first inputs] in seq_a, then per chunk the rest in seq_b. */
static int build_steps(LinearBuild *lb, const int *x, const int *y, LinearScratch *scratch, int seq_a, int seq_b,
                       IpuErr *err)
{
    LowerBuilder *b = lb->b;
    RunPhase ph_mm = lb->gather ? PHASE_OTHER : PHASE_MATMUL;
    if (replicate_steps(lb, seq_a, err) ||
        (lb->cs_dec >= 0 && lower_exec(b, seq_a, lb->cs_dec, lb->name, PHASE_DECOMPRESS, err) < 0) ||
        (lb->pl->gc && lower_gc_decompress(b, lb->name, lb->pl, lb->w, lb->blocks, seq_a, err)))
        return -1;
    int mm = program_execute(b->p, lb->cs_mm, lb->name, (int)ph_mm, err);
    int red = program_execute(b->p, lb->cs_red, lb->name, (int)ph_mm, err);
    int bias = lb->cs_bias >= 0 ? program_execute(b->p, lb->cs_bias, lb->name, PHASE_MATMUL, err) : -1;
    int scale = lb->cs_scale >= 0 ? program_execute(b->p, lb->cs_scale, lb->name, PHASE_MATMUL, err) : -1;
    if (mm < 0 || red < 0 || (lb->cs_bias >= 0 && bias < 0) || (lb->cs_scale >= 0 && scale < 0))
        return -1;
    /* the Copy steps move the same tensors for every instance sharing the
     * scratch: the first builds them, the others append the same steps */
    int reuse = scratch && scratch->copies;
    if (scratch && !reuse && !(scratch->copies = malloc(3 * (size_t)lb->nchunks * sizeof *scratch->copies)))
        return ipu_err(err, "out of host memory");
    int cp;
    for (uint32_t ch = 0; ch < lb->nchunks; ch++) {
        int seq = ch ? seq_b : seq_a;
        if (chunk_copy(lb, scratch, reuse, ch, 0, seq, &cp, err) || (cp >= 0 && input_pairs(lb, cp, x, ch, err)))
            return -1;
        seq = seq_b;
        if (lower_append(b, seq, mm, err) < 0 || (scale >= 0 && lower_append(b, seq, scale, err) < 0) ||
            chunk_copy(lb, scratch, reuse, ch, 1, seq, &cp, err) ||
            (cp >= 0 && partial_pairs(lb, cp, err)))
            return -1;
        if (lower_append(b, seq, red, err) < 0 || (bias >= 0 && lower_append(b, seq, bias, err) < 0))
            return -1;
        if (chunk_copy(lb, scratch, reuse, ch, 2, seq, &cp, err) || (cp >= 0 && output_pairs(lb, cp, y, ch, err)))
            return -1;
    }
    return 0;
}

int lower_linear_build(LowerBuilder *b, const char *name, const LinearPlan *pl, const LinearWeights *w, uint32_t m,
                       const int *x, const int *y, uint64_t bias_chips, LinearScratch *scratch, int *seq_a, int *seq_b,
                       IpuErr *err)
{
    if ((*seq_a = program_sequence(b->p, name, err)) < 0 || (*seq_b = program_sequence(b->p, name, err)) < 0)
        return -1;
    if (pl->mb < 1 || (uint64_t)pl->mb * pl->nb * pl->kb > b->usable)
        return ipu_err(err, "layer '%s': %u row groups of %u x %u tiles exceed %u tiles", name, pl->mb, pl->nb, pl->kb,
                       b->usable);
    LinearBuild lb = {.b = b, .name = name, .pl = pl, .w = w, .m = m, .bias_chips = bias_chips};
    if (build_rows(&lb, scratch, err))
        return -1;
    lb.nchunks = (uint32_t)div_up(lb.rows_g, lb.mc);
    lb.blocks = pl->mb * pl->nb * pl->kb, lb.nn = pl->mb * pl->nb;
    lb.W = b->g->arch.workers_per_tile;
    lb.gather = pl->kind == LIN_GATHER;
    lb.pt = lb.gather ? LAYER_F16 : lower_plan_partials(b, pl);
    lb.in_blk = lb.gather ? lb.mc : (uint64_t)lb.mc * pl->kblk, lb.part_blk = (uint64_t)lb.mc * pl->nblk;
    lb.wblk = (uint64_t)pl->nblk * pl->kblk;
    uint32_t npc = pl->kb < LOWER_REDUCE_PIECES ? pl->kb : LOWER_REDUCE_PIECES;
    lb.pc = (Pieces){npc < lb.part_blk / 4 ? npc : (uint32_t)(lb.part_blk / 4), lb.part_blk};
    lb.cs_dec = lb.cs_scale = lb.cs_bias = -1;
    if (build_temps(&lb, scratch, err) || new_cs(&lb, "mm", &lb.cs_mm, err) || new_cs(&lb, "reduce", &lb.cs_red, err) ||
        (lower_plan_decompressed(pl) && !pl->gc && new_cs(&lb, "decompress", &lb.cs_dec, err)) ||
        (pl->fp8_amp && new_cs(&lb, "scale", &lb.cs_scale, err)) ||
        (pl->has_bias && bias_chips && new_cs(&lb, "bias", &lb.cs_bias, err)))
        return -1;
    for (uint32_t c = 0; c < b->vchips; c++)
        if ((lb.cs_dec >= 0 && decompress_vertices(&lb, c, err)) || matmul_vertices(&lb, c, err) ||
            reduce_vertices(&lb, c, err))
            return -1;
    return build_steps(&lb, x, y, scratch, *seq_a, *seq_b, err);
}
