/* attention.c - attention with a K / V^T cache over a grid of tiles (see lower.h).
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
#include "host/lower/lower.h"

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
                     int *kaux, IpuErr *err)
{
    uint32_t n = ap->batch * ap->heads * ap->nkb;
    uint32_t *tiles = malloc(n * sizeof *tiles);
    if (!tiles)
        return ipu_err(err, "out of host memory");
    for (uint32_t i = 0; i < n; i++)
        tiles[i] = ap->tile0 + i;
    char nm[64];
    int rc = 0;
    if (ap->kv.fmt != KV_F16) {
        rc = lower_attn_kv_cache(b, name, ap, cat, tiles, kc, vtc, kaux, err);
        free(tiles);
        return rc;
    }
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

int lower_attn_kv_pairs(LowerBuilder *b, int step, const AttnPlan *ap, const int *kc, const int *vtc, const int *kaux,
                        const int *kvstage, const int *k, const int *vt, uint32_t pos0, IpuErr *err)
{
    if (ap->kv.fmt != KV_F16)
        return lower_attn_kv_qpairs(b, step, ap, kc, vtc, kaux, kvstage, pos0, err);
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

/* What lower_attn_build's stages share. Blocks: wi = g * nkb + j for group
 * g = (sequence, head) = b * H + h and key block j, on home tile wt[wi]. */
typedef struct AttnBuild {
    LowerBuilder *b;
    const char *name;
    const AttnPlan *ap;
    uint32_t W, H, hd, sb, nkb, mqb, nw, ng; /* workers; heads, head_dim; keys per block, key blocks; rows per wave; blocks, groups */
    uint64_t cc, kvb;          /* the chip's q row width (H x hd); elements of a cache block (sb x hd) */
    LayerDtype pt;             /* partials */
    uint32_t *wt;              /* (nw) home tile of each block */
    int *cs_sm;                /* (nqb) each wave's softmax compute set */
    int cs_sc, cs_pv, cs_red;  /* scores, probs x V, reduce */
    /* per chip tensors (all not-always-live scratch of one wave):
     * QB (nw, mqb, hd) q rows per block; SC (nw, mqb, sb) scores; SM (ng, mqb, s_pad) a group's scores
     * gathered per row; PR (ng, mqb, s_pad) fp16 probabilities; PJ (nw, mqb, sb) a block's probabilities;
     * PV (nw, mqb, hd) its P V partials; RI (ng, mqb, nkb, hd) partials gathered per row; RO (ng, mqb, hd) sums */
    int QB[LOWER_MAX_CHIPS], SC[LOWER_MAX_CHIPS], SM[LOWER_MAX_CHIPS], PR[LOWER_MAX_CHIPS], PJ[LOWER_MAX_CHIPS],
        PV[LOWER_MAX_CHIPS], RI[LOWER_MAX_CHIPS], RO[LOWER_MAX_CHIPS];
} AttnBuild;

static int attn_tensors(AttnBuild *ab, IpuErr *err)
{
    LowerBuilder *b = ab->b;
    GraphDType pdt = ab->pt == LAYER_F16 ? DTYPE_FP16 : DTYPE_FP32;
    char nm[64];
    for (uint32_t c = 0; c < b->chips; c++) {
        struct {
            int *id;
            const char *what;
            GraphDType dt;
            int per_row;     /* 1: rows of a group split over its blocks (tensor_rows_split), 0: one block per tile */
            uint64_t elems;  /* per row (split) or per block */
        } t[] = {
            {&ab->QB[c], "q", DTYPE_FP16, 0, (uint64_t)ab->mqb * ab->hd},
            {&ab->SC[c], "scores", pdt, 0, (uint64_t)ab->mqb * ab->sb},
            {&ab->SM[c], "smx_in", pdt, 1, ab->ap->s_pad},
            {&ab->PR[c], "probs", DTYPE_FP16, 1, ab->ap->s_pad},
            {&ab->PJ[c], "pj", DTYPE_FP16, 0, (uint64_t)ab->mqb * ab->sb},
            {&ab->PV[c], "pv", pdt, 0, (uint64_t)ab->mqb * ab->hd},
            {&ab->RI[c], "red_in", pdt, 1, (uint64_t)ab->nkb * ab->hd},
            {&ab->RO[c], "red_out", DTYPE_FP16, 1, ab->hd},
        };
        for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
            snprintf(nm, sizeof nm, "%s.%s.%u", ab->name, t[k].what, c);
            *t[k].id = t[k].per_row ? tensor_rows_split(b, nm, t[k].dt, c, ab->ng, ab->nkb, ab->mqb, t[k].elems, ab->wt, err)
                                    : tensor_on(b, nm, t[k].dt, c, ab->nw, t[k].elems, ab->wt, SRAM_ACTIVATIONS, err);
            if (*t[k].id < 0)
                return -1;
        }
    }
    return 0;
}

static int attn_compute_sets(AttnBuild *ab, IpuErr *err)
{
    char nm[64];
    const char *what[3] = {"scores", "pv", "reduce"};
    int *ids[3] = {&ab->cs_sc, &ab->cs_pv, &ab->cs_red};
    for (int i = 0; i < 3; i++) {
        snprintf(nm, sizeof nm, "%s.%s", ab->name, what[i]);
        if ((*ids[i] = graph_add_compute_set(ab->b->g, nm, err)) < 0)
            return -1;
    }
    for (uint32_t w = 0; w < ab->ap->nqb; w++) {
        snprintf(nm, sizeof nm, "%s.softmax%u", ab->name, w);
        if ((ab->cs_sm[w] = graph_add_compute_set(ab->b->g, nm, err)) < 0)
            return -1;
    }
    return 0;
}

/* Block wi of chip c: scores = q K_j^T and P_j V_j, each split over the workers. */
static int attn_block_vertices(AttnBuild *ab, uint32_t c, uint32_t wi, const int *kc, const int *vtc, IpuErr *err)
{
    LowerBuilder *b = ab->b;
    uint32_t tile = lower_tile(b, c, ab->wt[wi]), amp = b->g->arch.amp_macs_per_cycle_fp16;
    MatmulArgs parts[ARCH_MAX_WORKERS_PER_TILE];
    /* accumulate 0: out is only written */
    MatmulArgs sc = {.a = lower_in(b, ab->cs_sc, ab->QB[c], (uint64_t)wi * ab->mqb * ab->hd),
                     .w = lower_in(b, ab->cs_sc, kc[c], wi * ab->kvb),
                     .out = lower_out(b, ab->cs_sc, ab->SC[c], (uint64_t)wi * ab->mqb * ab->sb), .m = ab->mqb,
                     .k = ab->hd, .n = ab->sb, .amp_macs_per_cycle = amp};
    uint32_t np = matmul_split(&sc, ab->pt, ab->W, parts);
    for (uint32_t i = 0; i < np; i++)
        if (lower_vertex(b, ab->cs_sc, tile, b->matmul_vt, &parts[i], err))
            return -1;
    MatmulArgs pv = {.a = lower_in(b, ab->cs_pv, ab->PJ[c], (uint64_t)wi * ab->mqb * ab->sb),
                     .w = lower_in(b, ab->cs_pv, vtc[c], wi * ab->kvb),
                     .out = lower_out(b, ab->cs_pv, ab->PV[c], (uint64_t)wi * ab->mqb * ab->hd), .m = ab->mqb,
                     .k = ab->sb, .n = ab->hd, .amp_macs_per_cycle = amp};
    np = matmul_split(&pv, ab->pt, ab->W, parts);
    for (uint32_t i = 0; i < np; i++)
        if (lower_vertex(b, ab->cs_pv, tile, b->matmul_vt, &parts[i], err))
            return -1;
    return 0;
}

/* Group g of chip c: its rows spread over its key-block tiles, then over
 * the workers, for the softmax of every wave (its query positions from
 * pos0) and for the reduce of the key blocks' partials. */
static int attn_group_vertices(AttnBuild *ab, uint32_t c, uint32_t g, uint32_t pos0, IpuErr *err)
{
    LowerBuilder *b = ab->b;
    const AttnPlan *ap = ab->ap;
    uint32_t W = ab->W, mqb = ab->mqb, nkb = ab->nkb, hd = ab->hd;
    for (uint32_t j = 0; j < nkb; j++) {
        uint32_t j0 = mqb * j / nkb, rows = mqb * (j + 1) / nkb - j0, tile = lower_tile(b, c, ab->wt[g * nkb + j]);
        if (!rows)
            continue;
        for (uint32_t qw = 0; qw < ap->nqb; qw++)
            for (uint32_t w = 0; w < W; w++) {
                uint32_t r0 = j0 + rows * w / W, r1 = j0 + rows * (w + 1) / W;
                if (r1 == r0)
                    continue;
                uint64_t row0 = ((uint64_t)g * mqb + r0) * ap->s_pad;
                SoftmaxArgs sa;
                memset(&sa, 0, sizeof sa); /* padding too (lower_vertex) */
                sa.in = lower_in(b, ab->cs_sm[qw], ab->SM[c], row0), sa.out = lower_out(b, ab->cs_sm[qw], ab->PR[c], row0);
                sa.rows = r1 - r0, sa.len = ap->s_pad, sa.pos0 = pos0 + qw * mqb + r0, sa.q_len = 0;
                sa.scale = 1.0f / sqrtf((float)hd), sa.in_type = ab->pt, sa.out_type = LAYER_F16;
                if (lower_vertex(b, ab->cs_sm[qw], tile, &softmax_vertex, &sa, err))
                    return -1;
            }
        /* red_in of these rows: (nkb parts, rows, hd) */
        uint64_t n2 = (uint64_t)rows * hd / 2;
        for (uint32_t w = 0; w < W; w++) {
            uint64_t e0 = n2 * w / W * 2, e1 = n2 * (w + 1) / W * 2;
            if (e1 == e0)
                continue;
            ReduceArgs ra;
            memset(&ra, 0, sizeof ra); /* padding too (lower_vertex) */
            ra.in = lower_in(b, ab->cs_red, ab->RI[c], ((uint64_t)g * mqb + j0) * nkb * hd + e0);
            ra.out = lower_out(b, ab->cs_red, ab->RO[c], ((uint64_t)g * mqb + j0) * hd + e0);
            ra.parts = nkb, ra.n = (uint32_t)(e1 - e0), ra.in_stride = rows * hd, ra.in_type = ab->pt;
            ra.out_type = LAYER_F16;
            if (lower_vertex(b, ab->cs_red, tile, &reduce_vertex, &ra, err))
                return -1;
        }
    }
    return 0;
}

/* The pairs of one wave's Copy number `which`: 0 q rows (rows of the wave
 * from q0) to every key block; 1 scores gathered per row; 2 probabilities
 * scattered to the blocks; 3 P V partials gathered per row for the reduce;
 * 4 the sums into att. */
static int attn_wave_pairs(AttnBuild *ab, int cp, int which, uint32_t q0, uint32_t rows, const int *q, const int *att,
                           IpuErr *err)
{
    LowerBuilder *b = ab->b;
    const AttnPlan *ap = ab->ap;
    uint32_t mqb = ab->mqb, nkb = ab->nkb, hd = ab->hd, sb = ab->sb, H = ab->H;
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t wi = 0; wi < (which == 4 ? ab->ng : ab->nw); wi++) {
            uint32_t g = which == 4 ? wi : wi / nkb, j = wi % nkb, s = g / H, h = g % H;
            int rv = 0;
            for (uint32_t r = 0; r < (which == 0 || which == 4 ? rows : which == 3 ? nkb : mqb) && rv >= 0; r++) {
                uint64_t rowq = ((uint64_t)s * ap->t + q0 + r) * ab->cc + h * hd;
                if (which == 0) {
                    rv = program_copy_add(b->p, cp, q[c], rowq, ab->QB[c], ((uint64_t)wi * mqb + r) * hd, hd, err);
                } else if (which == 1) {
                    rv = program_copy_add(b->p, cp, ab->SC[c], ((uint64_t)wi * mqb + r) * sb, ab->SM[c],
                                          ((uint64_t)g * mqb + r) * ap->s_pad + (uint64_t)j * sb, sb, err);
                } else if (which == 2) {
                    rv = program_copy_add(b->p, cp, ab->PR[c], ((uint64_t)g * mqb + r) * ap->s_pad + (uint64_t)j * sb,
                                          ab->PJ[c], ((uint64_t)wi * mqb + r) * sb, sb, err);
                } else if (which == 3) { /* r = the reducing tile t: its rows, part j of (nkb, rows, hd) */
                    uint32_t j0 = mqb * r / nkb, tr = mqb * (r + 1) / nkb - j0;
                    if (tr)
                        rv = program_copy_add(b->p, cp, ab->PV[c], ((uint64_t)wi * mqb + j0) * hd, ab->RI[c],
                                              ((uint64_t)g * mqb + j0) * nkb * hd + (uint64_t)j * tr * hd,
                                              (uint64_t)tr * hd, err);
                } else {
                    rv = program_copy_add(b->p, cp, ab->RO[c], ((uint64_t)g * mqb + r) * hd, att[c], rowq, hd, err);
                }
            }
            if (rv < 0)
                return -1;
        }
    return 0;
}

/* The waves: the same tiles and vertices for each wave's query rows. */
static int attn_wave_steps(AttnBuild *ab, int seq, const int *q, const int *att, IpuErr *err)
{
    LowerBuilder *b = ab->b;
    const AttnPlan *ap = ab->ap;
    int st_sc = program_execute(b->p, ab->cs_sc, ab->name, PHASE_ATTENTION, err);
    int st_pv = program_execute(b->p, ab->cs_pv, ab->name, PHASE_ATTENTION, err);
    int st_red = program_execute(b->p, ab->cs_red, ab->name, PHASE_ATTENTION, err);
    if (st_sc < 0 || st_pv < 0 || st_red < 0)
        return -1;
    for (uint32_t qw = 0; qw < ap->nqb; qw++) {
        uint32_t q0 = qw * ab->mqb, rows = ap->t - q0 < ab->mqb ? ap->t - q0 : ab->mqb;
        int sm = program_execute(b->p, ab->cs_sm[qw], ab->name, PHASE_ATTENTION, err);
        int after[5] = {st_sc, sm, st_pv, st_red, -1}; /* the step after each Copy */
        for (int which = 0; which < 5; which++) {
            int cp = lower_copy(b, seq, ab->name, err);
            if (cp < 0 || attn_wave_pairs(ab, cp, which, q0, rows, q, att, err) ||
                (after[which] >= 0 && lower_append(b, seq, after[which], err) < 0))
                return -1;
        }
    }
    return 0;
}

int lower_attn_build(LowerBuilder *b, int seq, const char *name, const AttnPlan *ap, const int *kc, const int *vtc,
                     const int *kaux, const int *q, const int *k, const int *vt, const int *att, uint32_t pos0,
                     int *kv_copy, int *softmax_cs, int *kvstage, IpuErr *err)
{
    AttnBuild ab = {.b = b, .name = name, .ap = ap, .W = b->g->arch.workers_per_tile, .H = ap->heads, .hd = ap->hd,
                    .sb = ap->sb, .nkb = ap->nkb, .mqb = ap->mqb, .nw = ap->batch * ap->heads * ap->nkb,
                    .ng = ap->batch * ap->heads, .cc = (uint64_t)ap->heads * ap->hd, .kvb = (uint64_t)ap->sb * ap->hd,
                    .pt = b->partials};
    ab.wt = malloc(ab.nw * sizeof *ab.wt);
    ab.cs_sm = malloc(ap->nqb * sizeof *ab.cs_sm);
    int rc = !ab.wt || !ab.cs_sm ? ipu_err(err, "out of host memory") : 0;
    for (uint32_t g = 0; !rc && g < ab.ng; g++)
        for (uint32_t j = 0; j < ab.nkb; j++)
            ab.wt[g * ab.nkb + j] = home_tile(ap, g / ab.H, g % ab.H, j);
    rc = rc || attn_tensors(&ab, err) || attn_compute_sets(&ab, err) ? -1 : 0;
    /* a quantized cache: written through staging and widened into fp16 blocks the matmuls read */
    int kd[LOWER_MAX_CHIPS], vd[LOWER_MAX_CHIPS], quant = ap->kv.fmt != KV_F16, cp = -1;
    if (!rc && quant && lower_attn_kv_build(b, seq, name, ap, ab.wt, kc, vtc, kaux, k, vt, pos0, kd, vd, &cp, kvstage,
                                            err))
        rc = -1;
    for (uint32_t c = 0; !rc && c < b->vchips; c++)
        for (uint32_t g = 0; !rc && g < ab.ng; g++) {
            for (uint32_t j = 0; !rc && j < ab.nkb; j++)
                rc = attn_block_vertices(&ab, c, g * ab.nkb + j, quant ? kd : kc, quant ? vd : vtc, err);
            rc = rc || attn_group_vertices(&ab, c, g, pos0, err) ? -1 : 0;
        }
    /* write the new keys and values into the caches (fp16), then the waves */
    if (!rc && !quant &&
        ((cp = lower_copy(b, seq, name, err)) < 0 || lower_attn_kv_pairs(b, cp, ap, kc, vtc, NULL, NULL, k, vt, pos0, err)))
        rc = -1;
    if (!rc && attn_wave_steps(&ab, seq, q, att, err))
        rc = -1;
    if (!rc)
        *kv_copy = cp, *softmax_cs = ab.cs_sm[0];
    free(ab.wt), free(ab.cs_sm);
    return rc;
}
