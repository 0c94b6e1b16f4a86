/* lower_attn.c - attention with a K / V^T cache over a grid of tiles (see lower.h).
 *
 * Per chip, per (sequence b, head h): key block j (sb keys) lives on its
 * home tile with K_j (sb, hd) and V^T_j (hd, sb); the attention's vertices
 * run there. Query rows go through in waves of mqb rows (the same vertices,
 * one softmax compute set per wave for its positions): scores (mqb, sb) per
 * key block; a (b, h)'s rows gathered on one tile for the causal softmax
 * over all s_pad keys (masking by position, so cycles do not depend on it),
 * scattered back as fp16 probabilities, multiplied by V^T_j, and the key
 * blocks' partials reduced on the block-0 tile.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/matmul.h"
#include "codelets/reduce.h"
#include "codelets/softmax.h"
#include "host/lower.h"

static uint32_t home_tile(const AttnPlan *ap, uint32_t b, uint32_t h, uint32_t j)
{
    return ap->tile0 + (b * ap->heads + h) * ap->nkb + j;
}

/* nblocks blocks, block i on local tile tiles_of(i). */
static int tensor_on(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint32_t nblocks,
                     uint64_t be, const uint32_t *tiles, SramCategory cat, IpuErr *err)
{
    TileInterval *map = malloc(nblocks * sizeof *map);
    if (!map)
        return ipu_err(err, "out of host memory");
    for (uint32_t i = 0; i < nblocks; i++)
        map[i] = (TileInterval){i * be, (i + 1) * be, lower_tile(b, chip, tiles[i])};
    int id = graph_add_tensor(b->g, name, dt, nblocks * be, cat, map, nblocks, err);
    free(map);
    return id;
}

/* ng groups of (mqb rows x row_elems), group g's rows [mqb j / nkb, mqb (j+1) / nkb) on tile tiles[g * nkb + j]. */
static int tensor_rows_split(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint32_t ng, uint32_t nkb,
                             uint32_t mqb, uint64_t row_elems, const uint32_t *tiles, IpuErr *err)
{
    TileInterval *map = malloc((size_t)ng * nkb * sizeof *map);
    if (!map)
        return ipu_err(err, "out of host memory");
    size_t n = 0;
    for (uint32_t g = 0; g < ng; g++)
        for (uint32_t j = 0; j < nkb; j++) {
            uint64_t r0 = (uint64_t)mqb * j / nkb, r1 = (uint64_t)mqb * (j + 1) / nkb;
            if (r1 > r0)
                map[n++] = (TileInterval){((uint64_t)g * mqb + r0) * row_elems, ((uint64_t)g * mqb + r1) * row_elems,
                                          lower_tile(b, chip, tiles[g * nkb + j])};
        }
    int id = graph_add_tensor(b->g, name, dt, (uint64_t)ng * mqb * row_elems, SRAM_ACTIVATIONS, map, n, err);
    free(map);
    return id;
}

int lower_attn_cache(LowerBuilder *b, const char *name, const AttnPlan *ap, SramCategory cat, int *kc, int *vtc,
                     IpuErr *err)
{
    uint32_t n = ap->batch * ap->heads * ap->nkb;
    uint32_t *tiles = malloc(n * sizeof *tiles);
    if (!tiles)
        return ipu_err(err, "out of host memory");
    for (uint32_t i = 0; i < n; i++)
        tiles[i] = ap->tile0 + i;
    char nm[64];
    int rc = 0;
    for (uint32_t c = 0; c < b->chips && !rc; c++) {
        snprintf(nm, sizeof nm, "%s.k.%u", name, c);
        kc[c] = tensor_on(b, nm, DTYPE_FP16, c, n, (uint64_t)ap->sb * ap->hd, tiles, cat, err);
        snprintf(nm, sizeof nm, "%s.vt.%u", name, c);
        vtc[c] = tensor_on(b, nm, DTYPE_FP16, c, n, (uint64_t)ap->sb * ap->hd, tiles, cat, err);
        rc = kc[c] < 0 || vtc[c] < 0 ? -1 : 0;
    }
    free(tiles);
    return rc;
}

int lower_attn_kv_pairs(LowerBuilder *b, int step, const AttnPlan *ap, const int *kc, const int *vtc, const int *k,
                        const int *vt, uint32_t pos0, IpuErr *err)
{
    b->p->steps[step].npairs = 0;
    uint64_t m = (uint64_t)ap->batch * ap->t, cc = (uint64_t)ap->heads * ap->hd, blk = (uint64_t)ap->sb * ap->hd;
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t s = 0; s < ap->batch; s++)
            for (uint32_t h = 0; h < ap->heads; h++) {
                for (uint32_t t = 0; t < ap->t; t++) {
                    uint32_t p = pos0 + t, j = p / ap->sb;
                    if (program_copy_add(b->p, step, k[c], (s * ap->t + t) * cc + h * ap->hd, kc[c],
                                         ((uint64_t)(s * ap->heads + h) * ap->nkb + j) * blk + (uint64_t)(p % ap->sb) * ap->hd,
                                         ap->hd, err) < 0)
                        return -1;
                }
                /* V^T: row d of head h, runs of positions inside one key block */
                for (uint32_t d = 0; d < ap->hd; d++)
                    for (uint32_t t = 0; t < ap->t;) {
                        uint32_t p = pos0 + t, j = p / ap->sb, run = ap->sb - p % ap->sb;
                        if (run > ap->t - t)
                            run = ap->t - t;
                        if (program_copy_add(b->p, step, vt[c], (h * ap->hd + d) * m + s * ap->t + t, vtc[c],
                                             ((uint64_t)(s * ap->heads + h) * ap->nkb + j) * blk + (uint64_t)d * ap->sb + p % ap->sb,
                                             run, err) < 0)
                            return -1;
                        t += run;
                    }
            }
    return 0;
}

int lower_attn_build(LowerBuilder *b, int seq, const char *name, const AttnPlan *ap, const int *kc, const int *vtc,
                     const int *q, const int *k, const int *vt, const int *att, uint32_t pos0, int *kv_copy,
                     int *softmax_cs, IpuErr *err)
{
    const IpuArch *a = &b->g->arch;
    uint32_t W = a->workers_per_tile, B = ap->batch, H = ap->heads, hd = ap->hd, sb = ap->sb, nkb = ap->nkb;
    uint32_t mqb = ap->mqb, nw = B * H * nkb, ng = B * H;
    uint64_t cc = (uint64_t)H * hd, kvb = (uint64_t)sb * hd;
    LayerDtype pt = b->partials;
    GraphDType pdt = pt == LAYER_F16 ? DTYPE_FP16 : DTYPE_FP32;
    uint32_t *wt = malloc(nw * sizeof *wt);
    int *cs_sm = malloc(ap->nqb * sizeof *cs_sm);
    if (!wt || !cs_sm) {
        free(wt), free(cs_sm);
        return ipu_err(err, "out of host memory");
    }
    /* block (b, h, j) = (b * H + h) * nkb + j on its home tile; group (b, h) */
    for (uint32_t g = 0; g < ng; g++)
        for (uint32_t j = 0; j < nkb; j++)
            wt[g * nkb + j] = home_tile(ap, g / H, g % H, j);
    char nm[64];
    int rc = -1, cp;
    int QB[LOWER_MAX_CHIPS], SC[LOWER_MAX_CHIPS], SM[LOWER_MAX_CHIPS], PR[LOWER_MAX_CHIPS], PJ[LOWER_MAX_CHIPS],
        PV[LOWER_MAX_CHIPS], RI[LOWER_MAX_CHIPS], RO[LOWER_MAX_CHIPS];
    for (uint32_t c = 0; c < b->chips; c++) {
#define T_ON(id, suffix, dt, n, be, tiles)                                                                          \
    do {                                                                                                            \
        snprintf(nm, sizeof nm, "%s.%s.%u", name, suffix, c);                                                       \
        if ((id = tensor_on(b, nm, dt, c, n, be, tiles, SRAM_ACTIVATIONS, err)) < 0)                               \
            goto out;                                                                                               \
    } while (0)
        T_ON(QB[c], "q", DTYPE_FP16, nw, (uint64_t)mqb * hd, wt);
        T_ON(SC[c], "scores", pdt, nw, (uint64_t)mqb * sb, wt);
#define T_ROWS(id, suffix, dt, row_elems)                                                                           \
    do {                                                                                                            \
        snprintf(nm, sizeof nm, "%s.%s.%u", name, suffix, c);                                                       \
        if ((id = tensor_rows_split(b, nm, dt, c, ng, nkb, mqb, row_elems, wt, err)) < 0)                          \
            goto out;                                                                                               \
    } while (0)
        T_ROWS(SM[c], "smx_in", pdt, ap->s_pad);
        T_ROWS(PR[c], "probs", DTYPE_FP16, ap->s_pad);
        T_ON(PJ[c], "pj", DTYPE_FP16, nw, (uint64_t)mqb * sb, wt);
        T_ON(PV[c], "pv", pdt, nw, (uint64_t)mqb * hd, wt);
        T_ROWS(RI[c], "red_in", pdt, (uint64_t)nkb * hd);
        T_ROWS(RO[c], "red_out", DTYPE_FP16, hd);
#undef T_ON
#undef T_ROWS
    }
    snprintf(nm, sizeof nm, "%s.scores", name);
    int cs_sc = graph_add_compute_set(b->g, nm, err);
    snprintf(nm, sizeof nm, "%s.pv", name);
    int cs_pv = graph_add_compute_set(b->g, nm, err);
    snprintf(nm, sizeof nm, "%s.reduce", name);
    int cs_red = graph_add_compute_set(b->g, nm, err);
    if (cs_sc < 0 || cs_pv < 0 || cs_red < 0)
        goto out;
    for (uint32_t w = 0; w < ap->nqb; w++) {
        snprintf(nm, sizeof nm, "%s.softmax%u", name, w);
        if ((cs_sm[w] = graph_add_compute_set(b->g, nm, err)) < 0)
            goto out;
    }
    *softmax_cs = cs_sm[0];
    MatmulArgs parts[ARCH_MAX_WORKERS_PER_TILE];
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t g = 0; g < ng; g++) {
            for (uint32_t j = 0; j < nkb; j++) {
                uint32_t wi = g * nkb + j, tile = lower_tile(b, c, wt[wi]);
                /* scores = q K_j^T; accumulate 0: out is only written */
                MatmulArgs sc = {.a = lower_in(b, cs_sc, QB[c], (uint64_t)wi * mqb * hd),
                                 .w = lower_in(b, cs_sc, kc[c], wi * kvb),
                                 .out = lower_out(b, cs_sc, SC[c], (uint64_t)wi * mqb * sb), .m = mqb, .k = hd, .n = sb,
                                 .amp_macs_per_cycle = a->amp_macs_per_cycle_fp16};
                uint32_t np = matmul_split(&sc, pt, W, parts);
                for (uint32_t i = 0; i < np; i++)
                    if (lower_vertex(b, cs_sc, tile, b->matmul_vt, &parts[i], err))
                        goto out;
                MatmulArgs pv = {.a = lower_in(b, cs_pv, PJ[c], (uint64_t)wi * mqb * sb),
                                 .w = lower_in(b, cs_pv, vtc[c], wi * kvb),
                                 .out = lower_out(b, cs_pv, PV[c], (uint64_t)wi * mqb * hd), .m = mqb, .k = sb, .n = hd,
                                 .amp_macs_per_cycle = a->amp_macs_per_cycle_fp16};
                np = matmul_split(&pv, pt, W, parts);
                for (uint32_t i = 0; i < np; i++)
                    if (lower_vertex(b, cs_pv, tile, b->matmul_vt, &parts[i], err))
                        goto out;
            }
            /* softmax and reduce: the group's rows spread over its key-block tiles, then over the workers */
            for (uint32_t j = 0; j < nkb; j++) {
                uint32_t j0 = mqb * j / nkb, j1 = mqb * (j + 1) / nkb, rows = j1 - j0, tile = lower_tile(b, c, wt[g * nkb + j]);
                if (!rows)
                    continue;
                for (uint32_t qw = 0; qw < ap->nqb; qw++) /* one softmax per wave: its query positions */
                    for (uint32_t w = 0; w < W; w++) {
                        uint32_t r0 = j0 + rows * w / W, r1 = j0 + rows * (w + 1) / W;
                        if (r1 == r0)
                            continue;
                        uint64_t row0 = ((uint64_t)g * mqb + r0) * ap->s_pad;
                        SoftmaxArgs sa;
                        memset(&sa, 0, sizeof sa); /* padding too (lower_vertex) */
                        sa.in = lower_in(b, cs_sm[qw], SM[c], row0), sa.out = lower_out(b, cs_sm[qw], PR[c], row0);
                        sa.rows = r1 - r0, sa.len = ap->s_pad, sa.pos0 = pos0 + qw * mqb + r0, sa.q_len = 0;
                        sa.scale = 1.0f / sqrtf((float)hd), sa.in_type = pt, sa.out_type = LAYER_F16;
                        if (lower_vertex(b, cs_sm[qw], tile, &softmax_vertex, &sa, err))
                            goto out;
                    }
                /* red_in of these rows: (nkb parts, rows, hd) */
                uint64_t n2 = (uint64_t)rows * hd / 2;
                for (uint32_t w = 0; w < W; w++) {
                    uint64_t e0 = n2 * w / W * 2, e1 = n2 * (w + 1) / W * 2;
                    if (e1 == e0)
                        continue;
                    ReduceArgs ra;
                    memset(&ra, 0, sizeof ra); /* padding too (lower_vertex) */
                    ra.in = lower_in(b, cs_red, RI[c], ((uint64_t)g * mqb + j0) * nkb * hd + e0);
                    ra.out = lower_out(b, cs_red, RO[c], ((uint64_t)g * mqb + j0) * hd + e0);
                    ra.parts = nkb, ra.n = (uint32_t)(e1 - e0), ra.in_stride = rows * hd, ra.in_type = pt;
                    ra.out_type = LAYER_F16;
                    if (lower_vertex(b, cs_red, tile, &reduce_vertex, &ra, err))
                        goto out;
                }
            }
        }
    /* write the new keys and values into the caches */
    if ((cp = lower_copy(b, seq, name, err)) < 0 || lower_attn_kv_pairs(b, cp, ap, kc, vtc, k, vt, pos0, err))
        goto out;
    *kv_copy = cp;
    int st_sc = program_execute(b->p, cs_sc, name, PHASE_ATTENTION, err);
    int st_pv = program_execute(b->p, cs_pv, name, PHASE_ATTENTION, err);
    int st_red = program_execute(b->p, cs_red, name, PHASE_ATTENTION, err);
    if (st_sc < 0 || st_pv < 0 || st_red < 0)
        goto out;
    /* query blocks in waves on the same tiles and vertices */
    for (uint32_t qw = 0; qw < ap->nqb; qw++) {
        uint32_t q0 = qw * mqb, rows = ap->t - q0 < mqb ? ap->t - q0 : mqb;
        if ((cp = lower_copy(b, seq, name, err)) < 0)
            goto out;
        for (uint32_t c = 0; c < b->vchips; c++)
            for (uint32_t wi = 0; wi < nw; wi++) {
                uint32_t g = wi / nkb, s = g / H, h = g % H;
                for (uint32_t r = 0; r < rows; r++)
                    if (program_copy_add(b->p, cp, q[c], ((uint64_t)s * ap->t + q0 + r) * cc + h * hd, QB[c],
                                         ((uint64_t)wi * mqb + r) * hd, hd, err) < 0)
                        goto out;
            }
        if (lower_append(b, seq, st_sc, err) < 0 || (cp = lower_copy(b, seq, name, err)) < 0)
            goto out;
        for (uint32_t c = 0; c < b->vchips; c++)
            for (uint32_t wi = 0; wi < nw; wi++) {
                uint32_t g = wi / nkb, j = wi % nkb;
                for (uint32_t r = 0; r < mqb; r++)
                    if (program_copy_add(b->p, cp, SC[c], ((uint64_t)wi * mqb + r) * sb, SM[c],
                                         ((uint64_t)g * mqb + r) * ap->s_pad + (uint64_t)j * sb, sb, err) < 0)
                        goto out;
            }
        if (lower_exec(b, seq, cs_sm[qw], name, PHASE_ATTENTION, err) < 0 || (cp = lower_copy(b, seq, name, err)) < 0)
            goto out;
        for (uint32_t c = 0; c < b->vchips; c++)
            for (uint32_t wi = 0; wi < nw; wi++) {
                uint32_t g = wi / nkb, j = wi % nkb;
                for (uint32_t r = 0; r < mqb; r++)
                    if (program_copy_add(b->p, cp, PR[c], ((uint64_t)g * mqb + r) * ap->s_pad + (uint64_t)j * sb, PJ[c],
                                         ((uint64_t)wi * mqb + r) * sb, sb, err) < 0)
                        goto out;
            }
        if (lower_append(b, seq, st_pv, err) < 0 || (cp = lower_copy(b, seq, name, err)) < 0)
            goto out;
        for (uint32_t c = 0; c < b->vchips; c++)
            for (uint32_t wi = 0; wi < nw; wi++) {
                uint32_t g = wi / nkb, j = wi % nkb;
                for (uint32_t t = 0; t < nkb; t++) { /* rows of tile t's reduce: part j of (nkb, rows, hd) */
                    uint32_t j0 = mqb * t / nkb, tr = mqb * (t + 1) / nkb - j0;
                    if (tr && program_copy_add(b->p, cp, PV[c], ((uint64_t)wi * mqb + j0) * hd, RI[c],
                                                 ((uint64_t)g * mqb + j0) * nkb * hd + (uint64_t)j * tr * hd,
                                                 (uint64_t)tr * hd, err) < 0)
                        goto out;
                }
            }
        if (lower_append(b, seq, st_red, err) < 0 || (cp = lower_copy(b, seq, name, err)) < 0)
            goto out;
        for (uint32_t c = 0; c < b->vchips; c++)
            for (uint32_t g = 0; g < ng; g++) {
                uint32_t s = g / H, h = g % H;
                for (uint32_t r = 0; r < rows; r++)
                    if (program_copy_add(b->p, cp, RO[c], ((uint64_t)g * mqb + r) * hd, att[c],
                                         ((uint64_t)s * ap->t + q0 + r) * cc + h * hd, hd, err) < 0)
                        goto out;
            }
    }
    rc = 0;
out:
    free(wt), free(cs_sm);
    return rc;
}
