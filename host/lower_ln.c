/* lower_ln.c - a LayerNorm of few long rows spread over tiles and workers
 * (codelets/layernorm_split.h), with its exchanges as Copy steps; the
 * alternative to one row per tile on one worker (lower_gptj.c row_vertices).
 *
 * Row r of R has nt slice tiles (local tile0 + r*nt + j) with W vertices
 * each: ns = nt*W slices. Tile j of row r holds, per row:
 *   xs    its slices of x (fp16), normalised in place by apply;
 *   pb    its gain slice then its bias slice (fp16);
 *   part  (W, 2) fp32 lane partials of its vertices;
 *   sts   (2) fp32 {mean, rstd}.
 * The combining tile of row r is its slice tile 0, holding pall (ns, 2) fp32
 * (every vertex's partials, slice order) and stc (2) fp32. One combine
 * vertex per row reads pall: the partials cross the exchange once (ns*8
 * bytes into one tile) and the stats go back as nt*8 bytes, instead of every
 * apply tile receiving all ns partials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/layernorm.h"
#include "codelets/layernorm_split.h"
#include "host/lower_model.h"

/* At most this many slice tiles per row: the combining tile's pall stays within 12 KiB. */
#define LN_SPLIT_MAX_TILES 256
/* Assumption: a slice tile's LayerNorm buffers (x and gain/bias slices,
 * partials, stats; on tile 0 all partials) within this fraction of a tile,
 * like the linears' LINEAR_*_FRACTION; beyond it the rows stay whole. */
#define LN_SPLIT_TILE_FRACTION 0.02

static double copy_cycles(const IpuArch *a, double bytes)
{
    return a->sync_chip_cycles + a->exchange_latency_cycles + bytes / a->exchange_bytes_per_cycle;
}

uint32_t lower_ln_plan(const LowerBuilder *b, uint32_t rows, uint32_t rows_per_tile, uint32_t C, double *est_cycles)
{
    const IpuArch *a = &b->g->arch;
    uint32_t W = a->workers_per_tile; /* also the barrel: tile cycles per worker cycle */
    /* one tile per row: its rows shared by the W workers, then the spread copy sends the tile's rows */
    LayernormArgs la = {NULL, NULL, NULL, NULL, (rows_per_tile + W - 1) / W, C, LAYERNORM_EPS};
    double best = (double)W * (double)layernorm_vertex.measure(&a->isa, &la) +
                  (double)rows_per_tile * C * 2 / a->exchange_bytes_per_cycle;
    uint32_t pick = 0, ntmax = b->usable / rows;
    if (ntmax > LN_SPLIT_MAX_TILES)
        ntmax = LN_SPLIT_MAX_TILES;
    if (ntmax > C / 2 / W)
        ntmax = C / 2 / W;
    for (uint32_t nt = 1; nt <= ntmax; nt++) {
        uint32_t ns = nt * W, len = 2 * ((C / 2 + ns - 1) / ns);
        double bytes = 6.0 * ((C + nt - 1) / nt) + 16.0 * W + 8.0 * ns + 16;
        if (bytes > LN_SPLIT_TILE_FRACTION * a->sram_bytes_per_tile)
            continue;
        LnStatsArgs s1 = {NULL, NULL, NULL, len, 1}, s2 = {NULL, NULL, NULL, len, 2};
        LnCombineArgs c1 = {NULL, NULL, ns, C, 1, LAYERNORM_EPS}, c2 = c1;
        c2.pass = 2;
        LnApplyArgs ap = {NULL, NULL, NULL, NULL, NULL, len};
        double vc = (double)(layernorm_stats_vertex.measure(&a->isa, &s1) + layernorm_stats_vertex.measure(&a->isa, &s2) +
                             layernorm_combine_vertex.measure(&a->isa, &c1) +
                             layernorm_combine_vertex.measure(&a->isa, &c2) + layernorm_apply_vertex.measure(&a->isa, &ap));
        /* scatter (the row tile sends its rows), 2 x partials in, 2 x stats out, slices out */
        double est = W * vc + copy_cycles(a, (double)rows_per_tile * C * 2) + 2 * copy_cycles(a, ns * 8.0) +
                     2 * copy_cycles(a, nt * 8.0) + copy_cycles(a, 2.0 * C / nt);
        if (est < best)
            best = est, pick = nt;
    }
    if (est_cycles)
        *est_cycles = best;
    return pick;
}

static uint32_t tb(const LnSplit *ls, uint32_t C, uint32_t j) { return layernorm_slice_begin(C, ls->ns, j * ls->w); }

/* Row r of chip c: its combine vertices (passes 1 and 2) on the combining
 * tile, and per slice tile W stats (passes 1 and 2) and apply vertices. */
static int ln_row_vertices(Lowered *L, const LnSplit *ls, uint32_t c, uint32_t r, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    uint32_t C = (uint32_t)L->cfg.n_embd, W = ls->w, nt = ls->nt, home = lower_tile(b, c, ls->tile0 + r * nt);
    for (uint32_t pass = 1; pass <= 2; pass++) {
        int cs = ls->cs[2 * pass - 1];
        /* pass 1 writes {mean, 0}; pass 2 reads the mean and writes {mean, rstd} */
        float *stats = pass == 1 ? lower_out(b, cs, ls->stc[c], 2 * r) : lower_inout(b, cs, ls->stc[c], 2 * r);
        LnCombineArgs ca = {lower_in(b, cs, ls->pall[c], 2 * (uint64_t)r * ls->ns), stats, ls->ns, C, pass,
                            L->cfg.layer_norm_eps};
        if (lower_vertex(b, cs, home, &layernorm_combine_vertex, &ca, err))
            return -1;
    }
    for (uint32_t j = 0; j < nt; j++) {
        uint32_t t = lower_tile(b, c, ls->tile0 + r * nt + j), t0 = tb(ls, C, j), tl = tb(ls, C, j + 1) - t0;
        uint64_t st = 2 * ((uint64_t)r * nt + j); /* the tile's {mean, rstd} in sts */
        for (uint32_t v = 0; v < W; v++) {
            uint32_t k = j * W + v, b0 = layernorm_slice_begin(C, ls->ns, k);
            uint32_t n = layernorm_slice_begin(C, ls->ns, k + 1) - b0;
            uint64_t x0 = (uint64_t)r * C + b0, pp = 2 * ((uint64_t)r * ls->ns + k);
            for (uint32_t pass = 1; pass <= 2; pass++) { /* pass 1 has no stats to read: NULL */
                int cs = ls->cs[2 * pass - 2];
                LnStatsArgs sa = {lower_in(b, cs, ls->xs[c], x0), pass == 2 ? lower_in(b, cs, ls->sts[c], st) : NULL,
                                  lower_out(b, cs, ls->part[c], pp), n, pass};
                if (lower_vertex(b, cs, t, &layernorm_stats_vertex, &sa, err))
                    return -1;
            }
            /* pb block of tile j: gain [t0, t0+tl) then bias, at r*2C + 2*t0; x normalised in place */
            int cs = ls->cs[4];
            uint16_t *g = lower_in(b, cs, ls->pb[c], (uint64_t)r * 2 * C + 2 * t0 + (b0 - t0)),
                     *x = lower_inout(b, cs, ls->xs[c], x0);
            LnApplyArgs aa;
            memset(&aa, 0, sizeof aa); /* padding too (lower_vertex) */
            aa.x = aa.out = x, aa.gain = g, aa.bias = g ? g + tl : NULL, aa.stats = lower_in(b, cs, ls->sts[c], st);
            aa.n = n;
            if (lower_vertex(b, cs, t, &layernorm_apply_vertex, &aa, err))
                return -1;
        }
    }
    return 0;
}

int lower_ln_build(Lowered *L, LnSplit *ls, const char *name, uint32_t rows, uint32_t nt, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    uint32_t C = (uint32_t)L->cfg.n_embd, W = b->g->arch.workers_per_tile;
    ls->rows = rows, ls->nt = nt, ls->w = W, ls->ns = nt * W, ls->tile0 = b->cursor;
    b->cursor += rows * nt;
    size_t nmap = (size_t)rows * nt;
    TileInterval *mx = malloc(nmap * sizeof *mx), *mp = malloc(nmap * sizeof *mp), *mq = malloc(nmap * sizeof *mq),
                 *ms = malloc(nmap * sizeof *ms), *ma = malloc(rows * sizeof *ma), *mc = malloc(rows * sizeof *mc);
    int rc = mx && mp && mq && ms && ma && mc ? 0 : ipu_err(err, "%s: out of host memory", name);
    char nm[96];
    for (uint32_t c = 0; c < b->chips && !rc; c++) {
        for (uint32_t r = 0; r < rows; r++) {
            uint32_t home = lower_tile(b, c, ls->tile0 + r * nt);
            for (uint32_t j = 0; j < nt; j++) {
                uint32_t t = lower_tile(b, c, ls->tile0 + r * nt + j), b0 = tb(ls, C, j), b1 = tb(ls, C, j + 1);
                size_t i = (size_t)r * nt + j;
                mx[i] = (TileInterval){(uint64_t)r * C + b0, (uint64_t)r * C + b1, t};
                mp[i] = (TileInterval){(uint64_t)r * 2 * C + 2 * b0, (uint64_t)r * 2 * C + 2 * b1, t};
                mq[i] = (TileInterval){2 * ((uint64_t)r * ls->ns + j * W), 2 * ((uint64_t)r * ls->ns + (j + 1) * W), t};
                ms[i] = (TileInterval){2 * i, 2 * i + 2, t};
            }
            ma[r] = (TileInterval){2 * (uint64_t)r * ls->ns, 2 * (uint64_t)(r + 1) * ls->ns, home};
            mc[r] = (TileInterval){2 * (uint64_t)r, 2 * (uint64_t)r + 2, home};
        }
        struct { int *id; const char *what; GraphDType dt; uint64_t n; TileInterval *m; size_t nm; } t[6] = {
            {ls->xs, "x_slices", DTYPE_FP16, (uint64_t)rows * C, mx, nmap},
            {ls->pb, "params_slices", DTYPE_FP16, (uint64_t)rows * 2 * C, mp, nmap},
            {ls->part, "partials", DTYPE_FP32, 2 * (uint64_t)rows * ls->ns, mq, nmap},
            {ls->sts, "stats_slices", DTYPE_FP32, 2 * nmap, ms, nmap},
            {ls->pall, "partials_all", DTYPE_FP32, 2 * (uint64_t)rows * ls->ns, ma, rows},
            {ls->stc, "stats", DTYPE_FP32, 2 * (uint64_t)rows, mc, rows},
        };
        for (int k = 0; k < 6 && !rc; k++) {
            snprintf(nm, sizeof nm, "%s.%s.%u", name, t[k].what, c);
            if ((t[k].id[c] = graph_add_tensor(b->g, nm, t[k].dt, t[k].n, SRAM_ACTIVATIONS, t[k].m, t[k].nm, err)) < 0)
                rc = -1;
        }
    }
    free(mx), free(mp), free(mq), free(ms), free(ma), free(mc);
    if (rc)
        return -1;
    static const char *const csn[5] = {"stats1", "combine1", "stats2", "combine2", "apply"};
    for (int k = 0; k < 5; k++) {
        snprintf(nm, sizeof nm, "%s.%s", name, csn[k]);
        if ((ls->cs[k] = graph_add_compute_set(b->g, nm, err)) < 0)
            return -1;
    }
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t r = 0; r < rows; r++)
            if (ln_row_vertices(L, ls, c, r, err))
                return -1;
    return 0;
}

int lower_ln_seq(Lowered *L, const LnSplit *ls, int seq, const int *params, const int *src, const int *dst,
                 const char *label, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    uint32_t C = (uint32_t)L->cfg.n_embd, R = ls->rows, nt = ls->nt;
    /* gain and bias: to row 0's slice tiles, then a doubling tree over rows */
    for (uint32_t have = 0; have < R; have = have ? have * 2 : 1) {
        int cp = lower_copy(b, seq, "ln_params", err);
        if (cp < 0)
            return -1;
        for (uint32_t c = 0; c < b->vchips; c++) {
            if (have) {
                uint32_t n = have < R - have ? have : R - have;
                if (program_copy_add(b->p, cp, ls->pb[c], 0, ls->pb[c], (uint64_t)have * 2 * C, (uint64_t)n * 2 * C,
                                     err) < 0)
                    return -1;
                continue;
            }
            for (uint32_t j = 0; j < nt; j++) {
                uint32_t t0 = tb(ls, C, j), tl = tb(ls, C, j + 1) - t0;
                if (program_copy_add(b->p, cp, params[c], t0, ls->pb[c], 2 * t0, tl, err) < 0 ||
                    program_copy_add(b->p, cp, params[c], C + t0, ls->pb[c], 2 * t0 + tl, tl, err) < 0)
                    return -1;
            }
        }
    }
    int cp = lower_copy(b, seq, "ln_scatter", err);
    for (uint32_t c = 0; cp >= 0 && c < b->vchips; c++)
        if (program_copy_add(b->p, cp, src[c], 0, ls->xs[c], 0, (uint64_t)R * C, err) < 0)
            return -1;
    if (cp < 0)
        return -1;
    for (int pass = 0; pass < 2; pass++) {
        if (lower_exec(b, seq, ls->cs[2 * pass], label, PHASE_OTHER, err) < 0 ||
            (cp = lower_copy(b, seq, "ln_partials", err)) < 0)
            return -1;
        for (uint32_t c = 0; c < b->vchips; c++)
            if (program_copy_add(b->p, cp, ls->part[c], 0, ls->pall[c], 0, 2 * (uint64_t)R * ls->ns, err) < 0)
                return -1;
        if (lower_exec(b, seq, ls->cs[2 * pass + 1], label, PHASE_OTHER, err) < 0 ||
            (cp = lower_copy(b, seq, "ln_stats", err)) < 0)
            return -1;
        for (uint32_t c = 0; c < b->vchips; c++)
            for (uint32_t i = 0; i < R * nt; i++)
                if (program_copy_add(b->p, cp, ls->stc[c], 2 * (uint64_t)(i / nt), ls->sts[c], 2 * (uint64_t)i, 2, err) < 0)
                    return -1;
    }
    if (lower_exec(b, seq, ls->cs[4], label, PHASE_OTHER, err) < 0 || (cp = lower_copy(b, seq, "ln_gather", err)) < 0)
        return -1;
    for (uint32_t c = 0; c < b->vchips; c++)
        if (program_copy_add(b->p, cp, ls->xs[c], 0, dst[c], 0, (uint64_t)R * C, err) < 0)
            return -1;
    return 0;
}
