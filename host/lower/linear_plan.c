/* linear_plan.c - the linear layer's planner (see lower.h and linear.c):
 * a plan's tile memory, its cost estimate, its row groups, and the grid
 * search. Deterministic: the first minimum wins.
 */
#include <math.h>
#include <stdio.h>

#include "base/quant_nf4.h"
#include "codelets/decompress.h"
#include "codelets/matmul.h"
#include "codelets/matmul_fp8.h"
#include "codelets/wdec.h"
#include "host/lower/lower.h"

/* Assumption: one linear layer's weight block (+ int4 scratch) may take
 * this fraction of a tile (always-live: every layer's blocks share the
 * tiles when resident). Its temporaries (activation slices, partials,
 * reducer buffers, weight copies of the row groups) are not-always-live
 * and plan for b->mem_prop of what the always-live tensors leave (Poplar's
 * availableMemoryProportion); the memory layout (sim/layout) then places
 * them among the other live values. */
#define LINEAR_WEIGHT_FRACTION 0.25
/* Row groups a plan may have (each a copy of the grid's weights). */
#define LINEAR_MAX_GROUPS 64

static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* ---- memory and cost of a plan ---- */

typedef struct TileBytes {
    uint64_t weights;  /* a grid tile's weight block as stored (+ int4 decompress scratch, + bias) */
    uint64_t per_row;  /* temporaries per row of a chunk: input slice, partials, reducer buffers */
} TileBytes;

void lower_linear_block_tensors(const LinearPlan *pl, LinearBlockTensors *t)
{
    uint64_t e = (uint64_t)pl->nblk * pl->kblk, groups = lower_plan_quantized(pl) ? e / lower_plan_qgroup(pl) : 0;
    int wf = lower_plan_wdec(pl);
    *t = (LinearBlockTensors){{e, 0, 0}, {DTYPE_FP16, DTYPE_FP16, DTYPE_FP16}};
    if (!lower_plan_quantized(pl))
        return;
    int four = wf < 0 || wdec_code_bits((WdecFormat)wf) == 4;
    t->elems[0] = four ? e / 4 : e;
    t->dt[0] = four ? DTYPE_U16 : DTYPE_U8;
    t->elems[1] = groups;
    if (wf < 0) { /* q4g: a bias per group */
        t->elems[2] = groups;
    } else if (wf == WDEC_NF4DQ) { /* 8-bit scale codes (even: their 16-bit words stay in the block);
                                     * mean, phase and the steps it touches */
        t->dt[1] = DTYPE_U8;
        t->elems[1] += groups % 2;
        t->elems[2] = (2u + lower_dq_steps(pl) + 1) / 2 * 2, t->dt[2] = DTYPE_FP32; /* even: blocks stay 8-aligned */
    }
}

uint32_t lower_dq_steps(const LinearPlan *pl)
{
    /* the block's groups from its first segment's start: rows nblk apart by
     * the row's groups, the last segment seg groups long; from any phase
     * 0..255 they reach at most this many 256-group blocks */
    uint64_t seg = pl->kblk / pl->group, stride = pl->row_len / pl->group;
    return (uint32_t)((255 + (uint64_t)(pl->nblk - 1) * stride + seg - 1) / NF4_DQ_BLOCK + 1);
}

/* A grid tile's weights as stored (scheme = graphcore: only the bias; the
 * codes, scales and biases are in the load layout, over every tile). */
static uint64_t stored_block_bytes(const LinearPlan *pl)
{
    uint64_t bias = pl->has_bias ? pl->nblk * 2u : 0u, bytes = 0;
    if (pl->gc)
        return bias;
    LinearBlockTensors t;
    lower_linear_block_tensors(pl, &t);
    for (int i = 0; i < 3; i++)
        bytes += t.elems[i] * graph_dtype_bytes(t.dt[i]);
    return bytes + bias;
}

static TileBytes tile_bytes(const LinearPlan *pl, LayerDtype partials)
{
    uint64_t ps = pl->kind == LIN_GATHER ? 2 : layer_dtype_bytes(partials);
    TileBytes t = {stored_block_bytes(pl), 0};
    if (lower_plan_decompressed(pl))
        t.weights += (uint64_t)pl->nblk * pl->kblk * 2; /* the decompressed block */
    if (pl->kind == LIN_GATHER)
        t.weights += pl->nblk * 2u; /* zeros for ids outside the shard */
    uint64_t in_row = pl->kind == LIN_GATHER ? 4 : (uint64_t)pl->kblk * 2;
    /* a tile may also reduce one of its N block's pieces: kb partials of a piece, and the sums */
    uint64_t np = pl->kb < LOWER_REDUCE_PIECES ? pl->kb : LOWER_REDUCE_PIECES;
    t.per_row = in_row + pl->nblk * ps + pl->kb * pl->nblk * ps / np + pl->nblk * 2u;
    return t;
}

uint64_t lower_linear_row_bytes(const LinearPlan *pl, LayerDtype partials) { return tile_bytes(pl, partials).per_row; }

/* Rows per group. */
static uint32_t group_rows(const LinearPlan *pl, uint32_t m) { return (uint32_t)div_up(m, pl->mb ? pl->mb : 1); }

uint32_t lower_linear_chunk(const LowerBuilder *b, const LinearPlan *pl, uint32_t m)
{
    TileBytes t = tile_bytes(pl, lower_plan_partials(b, pl));
    double sram = b->g->arch.sram_bytes_per_tile;
    if (t.weights > sram * LINEAR_WEIGHT_FRACTION)
        return 0;
    /* a row group's tiles also hold the weight copy among their temporaries */
    double abud = (sram - (double)t.weights) * b->mem_prop - (pl->mb > 1 ? (double)stored_block_bytes(pl) : 0);
    if (abud < (double)t.per_row)
        return 0;
    uint64_t mc = (uint64_t)abud / t.per_row, rows = group_rows(pl, m);
    return mc >= rows ? rows : (uint32_t)mc;
}

/* Rows whose temporaries fit mem_prop of what the always-live tensors
 * (allocated before the step graphs) leave on every tile of every group. */
uint32_t lower_linear_rows_fit(const LowerBuilder *b, const LinearPlan *pl, uint32_t *tightest,
                               uint64_t *tightest_used)
{
    TileBytes t = tile_bytes(pl, lower_plan_partials(b, pl));
    uint64_t cap = sram_capacity_bytes(b->g->sram), copy = stored_block_bytes(pl);
    double fmin = INFINITY;
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t i = 0; i < pl->mb * pl->nb * pl->kb; i++) {
            uint32_t tile = lower_tile(b, c, pl->tile0 + i);
            uint64_t used = sram_tile_used_bytes(b->g->sram, tile);
            double f = used < cap ? (double)(cap - used) * b->mem_prop : 0;
            if (i >= pl->nb * pl->kb) /* a row group's weight copy */
                f -= (double)copy;
            if (f < fmin)
                fmin = f, *tightest = tile, *tightest_used = used;
        }
    /* 4 tensors, each up to 8 bytes of alignment */
    double rows = fmin > 32 ? (fmin - 32) / (double)t.per_row : 0;
    return rows > UINT32_MAX ? UINT32_MAX : (uint32_t)rows;
}

/* AMP (or gather) worker cycles of one tile's chunk of mc rows, on W workers. */
static double chunk_compute(const LowerBuilder *b, const LinearPlan *pl, uint32_t mc)
{
    const IpuArch *a = &b->g->arch;
    uint32_t W = a->workers_per_tile;
    if (pl->kind == LIN_GATHER)
        return (double)div_up(mc, W) * (pl->nblk / 4.0 * 2 + 6) * W;
    uint32_t mm_m = pl->kind == LIN_MATMUL ? mc : pl->nblk, mm_n = pl->kind == LIN_MATMUL ? pl->nblk : mc;
    uint32_t wm = mm_m, wn = mm_n;
    if (mm_m >= W)
        wm = (uint32_t)div_up(mm_m, W);
    else
        wn = (uint32_t)(div_up(div_up(mm_n, 16), W) * 16);
    if (pl->fp8_amp) /* fp8 weights into the AMP at its fp8 rate */
        return (double)(matmul_fp8_cycles(&a->isa, wm, pl->kblk, wn < mm_n ? wn : mm_n, a->amp_macs_per_cycle_fp8,
                                          LAYER_F32) +
                        partscale_cycles(&a->isa, wm, wn < mm_n ? wn : mm_n)) * W;
    return (double)matmul_amp_cycles(&a->isa, wm, pl->kblk, wn < mm_n ? wn : mm_n, a->amp_macs_per_cycle_fp16,
                                     b->partials) * W;
}

/* The decompress vertex of pl's weights: the run key's q4g variant, or
 * the format's default variant (NULL: none, fp16). */
static const VertexType *dec_vertex(const LowerBuilder *b, const LinearPlan *pl)
{
    int wf = lower_plan_wdec(pl);
    if (wf >= 0)
        return b->wdec_vt[wf] ? b->wdec_vt[wf] : wdec_family((WdecFormat)wf)->variants[0].vertex;
    return pl->group ? b->decompress_vt : NULL;
}

/* Worker cycles of a vertex of `units` units (groups; nf4g+dq: segments of
 * seg groups) of group size n: one + (units - 1) x (two - one) from the
 * measures of one and two units (kept in the builder's memo);
 * VERTEX_MEASURE_FAULT when the variant faults. */
static uint64_t measure_decompress(const LowerBuilder *b, const VertexType *vt, uint32_t n, uint32_t seg,
                                   uint32_t units)
{
    DecMemo *m = b->dec_memo;
    int i = 0;
    while (m && i < m->n && (m->vt[i] != (const void *)vt || m->group[i] != n || m->seg[i] != seg))
        i++;
    uint64_t one, two;
    if (m && i < m->n) {
        one = m->one[i], two = m->two[i];
    } else {
        uint32_t per = seg ? seg : 1;
        DecompressQ4Args d = {.groups = per, .group_size = n};
        WdecArgs wd = {.groups = per, .group_size = n, .seg_groups = seg};
        int wdec = wdec_vertex_format(vt) >= 0;
        one = vt->measure(&b->g->arch.isa, wdec ? (const void *)&wd : &d);
        d.groups = wd.groups = 2 * per;
        two = vt->measure(&b->g->arch.isa, wdec ? (const void *)&wd : &d);
        if (m && m->n < LOWER_DEC_MEMO)
            m->vt[m->n] = vt, m->group[m->n] = n, m->seg[m->n] = seg, m->one[m->n] = one, m->two[m->n] = two, m->n++;
    }
    if (one == VERTEX_MEASURE_FAULT || two == VERTEX_MEASURE_FAULT || !units)
        return units ? VERTEX_MEASURE_FAULT : 0;
    return one + (uint64_t)(units - 1) * (two - one);
}

/* Tile cycles of decompressing one block: its groups (segments) split over
 * the workers as lower_linear_build splits them, the slowest worker's
 * measured cycles x workers (the barrel) + a launch; 0 for fp16 weights. */
static double decompress_cycles(const LowerBuilder *b, const LinearPlan *pl)
{
    const VertexType *vt = dec_vertex(b, pl);
    if (!lower_plan_decompressed(pl) || !vt)
        return 0;
    const IpuArch *a = &b->g->arch;
    uint32_t n = lower_plan_qgroup(pl), groups = (uint32_t)((uint64_t)pl->nblk * pl->kblk / n);
    uint32_t seg = lower_plan_wdec(pl) == WDEC_NF4DQ ? pl->kblk / n : 0, unit = seg ? seg : 1;
    uint32_t units = groups / unit, W = a->workers_per_tile, worst = units / W + (units % W != 0);
    uint64_t c = measure_decompress(b, vt, n, seg, worst); /* the first workers get the extra unit */
    if (c == VERTEX_MEASURE_FAULT)
        return c;
    return (double)(c + a->vertex_launch_cycles) * W + a->supervisor_launch_cycles;
}

/* The estimate of one instance for m rows: per chunk compute, exchange
 * (input slices, partials, sums: what one tile sends or receives, and the
 * output rows' receiving tiles), reduce and step overheads; the weight
 * copies of the row groups; dec, the block's decompress (decompress_cycles). */
static double estimate(const LowerBuilder *b, const LinearPlan *pl, uint32_t m, uint32_t mc, double dec)
{
    const IpuArch *a = &b->g->arch;
    double xb = a->exchange_bytes_per_cycle, ps = pl->kind == LIN_GATHER ? 2 : layer_dtype_bytes(lower_plan_partials(b, pl));
    double xin = mc * (pl->kind == LIN_GATHER ? 4.0 : pl->kblk * 2.0) / xb;
    double np = pl->kb < LOWER_REDUCE_PIECES ? pl->kb : LOWER_REDUCE_PIECES;
    double xpart = (double)pl->kb * mc * pl->nblk * ps / np / xb; /* np pieces of kb partials */
    double red = (double)(pl->kb + 1) * mc * pl->nblk / np;
    /* the sums: a tile sends its piece; an output row (n elements) lands whole on one of up to
     * `usable` row tiles, which receives rows_per_tile of them from the chunk's rows */
    double rows_per_tile = div_up(m, m < b->usable ? m : b->usable), chunk_rows = (double)mc * pl->mb;
    double recv_rows = rows_per_tile < chunk_rows ? rows_per_tile : chunk_rows;
    double xout = fmax(mc * pl->nblk * 2.0, recv_rows * pl->n * 2.0) / xb;
    double steps = 3.0 * (a->sync_chip_cycles + a->exchange_latency_cycles) + 2.0 * a->supervisor_launch_cycles;
    double chunks = (double)div_up(group_rows(pl, m), mc);
    double levels = pl->mb > 1 ? ceil(log2((double)pl->mb)) : 0;
    double copies = levels * (stored_block_bytes(pl) / xb + a->sync_chip_cycles + a->exchange_latency_cycles);
    return chunks * (chunk_compute(b, pl, mc) + xin + xpart + red + xout + steps) + copies + dec;
}

uint32_t lower_linear_groups(const LowerBuilder *b, const LinearPlan *pl, uint32_t m, double *est_cycles)
{
    uint32_t best = 0, grid = pl->nb * pl->kb;
    double best_est = INFINITY, dec = decompress_cycles(b, pl); /* the same for every mb: measured once */
    for (uint32_t mb = 1; mb <= LINEAR_MAX_GROUPS && mb <= m && (uint64_t)mb * grid <= b->usable; mb++) {
        if (mb > 1 && pl->kind == LIN_GATHER)
            break;
        LinearPlan q = *pl;
        q.mb = mb;
        uint32_t mc = lower_linear_chunk(b, &q, m);
        if (!mc)
            continue;
        double e = estimate(b, &q, m, mc, dec);
        if (e < best_est) /* ties keep the fewer groups: deterministic */
            best = mb, best_est = e;
    }
    if (est_cycles)
        *est_cycles = best_est;
    return best;
}

int lower_plan_linear(const LowerBuilder *b, const char *name, LinearKind kind, uint32_t m, uint32_t k, uint32_t n,
                      uint32_t group, int has_bias, LinearPlan *out, IpuErr *err)
{
    return lower_plan_linear_steps(b, name, kind, m, 0, 0, k, n, group, has_bias, out, err);
}

int lower_plan_linear_steps(const LowerBuilder *b, const char *name, LinearKind kind, uint32_t m, uint32_t m2,
                            double steps2, uint32_t k, uint32_t n, uint32_t group, int has_bias, LinearPlan *out,
                            IpuErr *err)
{
    LinearFmt f = {group, 0, k, 0};
    return lower_plan_linear_fmt(b, name, kind, m, m2, steps2, k, n, &f, has_bias, out, err);
}

/* A K block of kblk inputs whose groups nf4g+dq's row segments can hold:
 * the segment (kblk / group groups) divides the 256-group second-level
 * block (so, with kblk dividing the whole row, no segment straddles two). */
static int dq_block_ok(uint8_t wfmt, uint32_t kblk, uint32_t group)
{
    return wfmt != 1 + WDEC_NF4DQ || NF4_DQ_BLOCK % (kblk / group) == 0;
}

int lower_plan_linear_fmt(const LowerBuilder *b, const char *name, LinearKind kind, uint32_t m, uint32_t m2,
                          double steps2, uint32_t k, uint32_t n, const LinearFmt *fmt, int has_bias, LinearPlan *out,
                          IpuErr *err)
{
    uint32_t group = fmt->group;
    uint8_t wfmt = fmt->wfmt;
    if (group && k % group)
        return ipu_err(err, "layer '%s': group size %u does not divide its per-chip input axis %u", name, group, k);
    int found = 0;
    LinearPlan best = {0};
    double best_cost = 0;
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
            if (group && (kblk % group || !dq_block_ok(wfmt, kblk, group)))
                continue;
            LinearPlan pl = {.kind = kind, .k = k, .n = n, .nb = nb, .kb = kb, .nblk = nblk, .kblk = kblk,
                             .group = group, .wfmt = wfmt, .row_len = fmt->row_len, .fp8_amp = fmt->fp8_amp,
                             .has_bias = has_bias, .m_plan = m};
            if (!(pl.mb = lower_linear_groups(b, &pl, m, &pl.est_cycles)))
                continue;
            double cost = pl.est_cycles, e2 = 0;
            if (steps2 > 0 && m2) { /* the other step graph's rows run on the same weights */
                if (!lower_linear_groups(b, &pl, m2, &e2))
                    continue;
                cost += steps2 * e2;
            }
            if (!found || cost < best_cost) /* ties keep the first: deterministic */
                best = pl, best_cost = cost, found = 1;
        }
    }
    if (!found) {
        if (group)
            return ipu_err(err, "layer '%s' (%u x %u per chip, group %u): no tile grid whose input blocks are whole "
                                "groups%s fits %u tiles of %u bytes",
                           name, n, k, group, wfmt == 1 + WDEC_NF4DQ ? " (of a power of two up to 256 groups)" : "",
                           b->usable, b->g->arch.sram_bytes_per_tile);
        return ipu_err(err, "layer '%s' (%u x %u per chip): no tile grid fits %u tiles of %u bytes", name, n, k,
                       b->usable, b->g->arch.sram_bytes_per_tile);
    }
    *out = best;
    return 0;
}

uint64_t lower_linear_weight_bytes(const LinearPlan *pl)
{
    LinearBlockTensors t;
    lower_linear_block_tensors(pl, &t);
    uint64_t block = 0;
    for (int i = 0; i < 3; i++)
        block += t.elems[i] * graph_dtype_bytes(t.dt[i]);
    return (uint64_t)pl->nb * pl->kb * block + (pl->has_bias ? (uint64_t)pl->n * pl->kb * 2u : 0u);
}
