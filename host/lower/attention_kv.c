/* attention_kv.c - the quantized KV cache (kv_format = i8 or q4g:N; see
 * lower.h and sim/base/kv_quant.h): its tensors, the writing of each step's
 * new keys and values, and their widening for the attention.
 *
 * Cache, per key block on its home tile (blocks numbered as attention.c's,
 * g x nkb + j): K codes (sb, hd) (i8 bytes; q4g words of four dims), K
 * scales (i8 (sb); q4g (sb, hd/N)) and q4g biases (sb, hd/N); V^T codes
 * (hd, sb) bytes, or (hd/4, sb) words of four dims of one position, V
 * scales (i8 (sb); q4g (hd/N, sb)) and q4g biases. All always-live.
 *
 * Writing, each step: a Copy brings the new fp16 key rows and value
 * columns (as rows) to staging tensors; kvq vertices quantize them into
 * quantized staging; a second Copy moves codes and scales into the cache
 * slots (a value's codes become a V^T column). A prefill (t > 1 rows per
 * sequence, positions from 0) stages on every key block's own tile its
 * rows, so the second Copy stays on the tile; a decode step (t = 1) stages
 * on each sequence-head's block-0 tile, and the second Copy's pairs follow
 * the position (lower_attn_kv_qpairs, re-filled per step like the fp16
 * cache's writing Copy), so cycles never depend on the position.
 *
 * Reading, each step: every block's K and V^T codes widen into fp16
 * scratch blocks (K through the weight decompress codelets: wdec's i8 with
 * one group per position, or the run's q4g variant; V^T through kvd),
 * which the attention's matmuls then read as they read an fp16 cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/decompress.h"
#include "codelets/kvq.h"
#include "codelets/wdec.h"
#include "host/lower/lower.h"

enum { KS_, VS_, QK_, QKS_, QKB_, QV_, QVS_, QVB_ };        /* kvstage slots per chip */
enum { AUX_KS, AUX_KB, AUX_VS, AUX_VB };                     /* kaux slots per chip */

static int q4(const AttnPlan *ap) { return ap->kv.fmt == KV_Q4G; }
static uint32_t ngr(const AttnPlan *ap) { return q4(ap) ? ap->hd / ap->kv.group : 1; }           /* scales per row */
static uint64_t code_elems(const AttnPlan *ap, uint64_t vals) { return q4(ap) ? vals / 4 : vals; } /* u16 or u8 */
static GraphDType code_dt(const AttnPlan *ap) { return q4(ap) ? DTYPE_U16 : DTYPE_U8; }

/* n blocks of be elements, block i on local tile tiles[i] of chip c. */
static int tensor_tiles(LowerBuilder *b, const char *name, GraphDType dt, uint32_t c, uint32_t n, uint64_t be,
                        const uint32_t *tiles, SramCategory cat, IpuErr *err)
{
    TileInterval *map = malloc(n * sizeof *map);
    if (!map)
        return ipu_err(err, "out of host memory");
    for (uint32_t i = 0; i < n; i++)
        map[i] = (TileInterval){i * be, (i + 1) * be, lower_tile(b, c, tiles[i])};
    int id = graph_add_tensor(b->g, name, dt, n * be, cat, map, n, err);
    free(map);
    return id;
}

int lower_attn_kv_cache(LowerBuilder *b, const char *name, const AttnPlan *ap, SramCategory cat, const uint32_t *tiles,
                        int *kc, int *vtc, int *kaux, IpuErr *err)
{
    uint32_t n = ap->batch * ap->heads * ap->nkb, sb = ap->sb, hd = ap->hd;
    if (ap->hd % 16 || (q4(ap) && (ap->kv.group % 8 || hd % ap->kv.group)))
        return ipu_err(err, "%s: kv_format q4g:%u: the group must be a multiple of 8 dividing head_dim %u", name,
                       ap->kv.group, hd);
    for (uint32_t c = 0; c < b->chips; c++) {
        struct { int *id; const char *what; GraphDType dt; uint64_t be; int need; } t[] = {
            {&kc[c], "k", code_dt(ap), code_elems(ap, (uint64_t)sb * hd), 1},
            {&vtc[c], "vt", code_dt(ap), code_elems(ap, (uint64_t)sb * hd), 1},
            {&kaux[4 * c + AUX_KS], "k_scale", DTYPE_FP16, (uint64_t)sb * ngr(ap), 1},
            {&kaux[4 * c + AUX_KB], "k_bias", DTYPE_FP16, (uint64_t)sb * ngr(ap), q4(ap)},
            {&kaux[4 * c + AUX_VS], "v_scale", DTYPE_FP16, (uint64_t)sb * ngr(ap), 1},
            {&kaux[4 * c + AUX_VB], "v_bias", DTYPE_FP16, (uint64_t)sb * ngr(ap), q4(ap)},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            char nm[96];
            *t[i].id = -1;
            if (!t[i].need)
                continue;
            snprintf(nm, sizeof nm, "%s.%s.%u", name, t[i].what, c);
            if ((*t[i].id = tensor_tiles(b, nm, t[i].dt, c, n, t[i].be, tiles, cat, err)) < 0)
                return -1;
        }
    }
    return 0;
}

/* The staging units of a step: a prefill's key blocks (rows: their positions
 * below t), or a decode step's sequence-heads (one row, on block 0's tile). */
typedef struct KvUnits {
    uint32_t n, R;         /* units, rows per unit */
    uint32_t *tile, *g, *rows, *p0;
} KvUnits;

static int kv_units(const AttnPlan *ap, KvUnits *u, IpuErr *err)
{
    uint32_t G = ap->batch * ap->heads, dec = ap->t == 1;
    u->n = dec ? G : G * ap->nkb, u->R = dec ? 1 : ap->sb;
    u->tile = malloc(u->n * sizeof *u->tile), u->g = malloc(u->n * sizeof *u->g);
    u->rows = malloc(u->n * sizeof *u->rows), u->p0 = malloc(u->n * sizeof *u->p0);
    if (!u->tile || !u->g || !u->rows || !u->p0)
        return ipu_err(err, "out of host memory");
    for (uint32_t i = 0; i < u->n; i++) {
        uint32_t g = dec ? i : i / ap->nkb, j = dec ? 0 : i % ap->nkb, first = j * ap->sb;
        u->g[i] = g, u->tile[i] = ap->tile0 + g * ap->nkb + j, u->p0[i] = first;
        u->rows[i] = dec ? 1 : first >= ap->t ? 0 : (ap->t - first < ap->sb ? ap->t - first : ap->sb);
    }
    return 0;
}

static void kv_units_free(KvUnits *u) { free(u->tile), free(u->g), free(u->rows), free(u->p0); }

/* Staging tensors of every chip: fp16 rows, and their codes and scale slots. */
static int kv_stage_tensors(LowerBuilder *b, const char *name, const AttnPlan *ap, const KvUnits *u, int *st,
                            IpuErr *err)
{
    uint64_t rows = u->R, hd = ap->hd, slots = kvq_scale_slots(ap->hd, q4(ap) ? ap->kv.group : 0);
    for (uint32_t c = 0; c < b->chips; c++) {
        struct { int slot; const char *what; GraphDType dt; uint64_t be; int need; } t[] = {
            {KS_, "k_stage", DTYPE_FP16, rows * hd, 1},           {VS_, "v_stage", DTYPE_FP16, rows * hd, 1},
            {QK_, "k_q", code_dt(ap), code_elems(ap, rows * hd), 1}, {QKS_, "k_qs", DTYPE_FP16, rows * slots, 1},
            {QKB_, "k_qb", DTYPE_FP16, rows * slots, q4(ap)},     {QV_, "v_q", code_dt(ap), code_elems(ap, rows * hd), 1},
            {QVS_, "v_qs", DTYPE_FP16, rows * slots, 1},          {QVB_, "v_qb", DTYPE_FP16, rows * slots, q4(ap)},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            char nm[96];
            int *id = &st[8 * c + t[i].slot];
            *id = -1;
            if (!t[i].need)
                continue;
            snprintf(nm, sizeof nm, "%s.%s.%u", name, t[i].what, c);
            if ((*id = tensor_tiles(b, nm, t[i].dt, c, u->n, t[i].be, u->tile, SRAM_ACTIVATIONS, err)) < 0)
                return -1;
        }
    }
    return 0;
}

/* The new rows of every unit to its staging: key rows as they are, value
 * columns of vt (cc, m) as rows. */
static int kv_stage_pairs(LowerBuilder *b, int cp, const AttnPlan *ap, const KvUnits *u, const int *st, const int *k,
                          const int *vt, uint32_t pos0, IpuErr *err)
{
    uint64_t m = (uint64_t)ap->batch * ap->t, cc = (uint64_t)ap->heads * ap->hd, hd = ap->hd;
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t i = 0; i < u->n; i++)
            for (uint32_t r = 0; r < u->rows[i]; r++) {
                uint32_t s = u->g[i] / ap->heads, h = u->g[i] % ap->heads, tt = ap->t == 1 ? 0 : u->p0[i] + r - pos0;
                uint64_t dst = ((uint64_t)i * u->R + r) * hd, col = (uint64_t)s * ap->t + tt;
                if (program_copy_add(b->p, cp, k[c], col * cc + h * hd, st[8 * c + KS_], dst, hd, err) < 0 ||
                    program_copy_add_rows(b->p, cp, vt[c], (uint64_t)h * hd * m + col, m, st[8 * c + VS_], dst, 1, 1,
                                          hd, err) < 0)
                    return -1;
            }
    return 0;
}

/* The kvq vertices of every unit, its rows over the workers. */
static int kv_quant_vertices(LowerBuilder *b, int cs, const AttnPlan *ap, const KvUnits *u, const int *st, IpuErr *err)
{
    uint32_t W = b->g->arch.workers_per_tile, hd = ap->hd, grp = q4(ap) ? ap->kv.group : 0;
    uint64_t slots = kvq_scale_slots(hd, grp);
    const VertexType *vt = q4(ap) ? &kvq_q4g_vertex : &kvq_i8_vertex;
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t i = 0; i < u->n; i++)
            for (int v = 0; v < 2; v++) /* keys, values */
                for (uint32_t w = 0; w < W; w++) {
                    uint32_t r0 = u->rows[i] * w / W, r1 = u->rows[i] * (w + 1) / W;
                    if (r1 == r0)
                        continue;
                    uint64_t row = (uint64_t)i * u->R + r0;
                    const int *s = st + 8 * c;
                    KvqArgs a;
                    memset(&a, 0, sizeof a);
                    a.x = lower_in(b, cs, s[v ? VS_ : KS_], row * hd);
                    a.codes = lower_out(b, cs, s[v ? QV_ : QK_], code_elems(ap, row * hd));
                    a.scale = lower_out(b, cs, s[v ? QVS_ : QKS_], row * slots);
                    a.bias = grp ? lower_out(b, cs, s[v ? QVB_ : QKB_], row * slots) : NULL;
                    a.rows = r1 - r0, a.n = hd, a.group = grp;
                    if (lower_vertex(b, cs, lower_tile(b, c, u->tile[i]), vt, &a, err))
                        return -1;
                }
    return 0;
}

int lower_attn_kv_qpairs(LowerBuilder *b, int step, const AttnPlan *ap, const int *kc, const int *vtc, const int *kaux,
                         const int *kvstage, uint32_t pos0, IpuErr *err)
{
    KvUnits u;
    int rc = kv_units(ap, &u, err);
    b->p->steps[step].npairs = 0;
    uint64_t sb = ap->sb, hd = ap->hd, ng = ngr(ap), slots = kvq_scale_slots(ap->hd, q4(ap) ? ap->kv.group : 0);
    uint64_t cb = code_elems(ap, sb * hd), cv = code_elems(ap, hd); /* code elements of a block, of a row */
    for (uint32_t c = 0; !rc && c < b->vchips; c++)
        for (uint32_t i = 0; !rc && i < u.n; i++)
            for (uint32_t r = 0; !rc && r < u.rows[i]; r++) {
                uint64_t p = ap->t == 1 ? pos0 : u.p0[i] + r, blk = (uint64_t)u.g[i] * ap->nkb + p / sb, slot = p % sb;
                uint64_t row = (uint64_t)i * u.R + r;
                const int *s = kvstage + 8 * c, *x = kaux + 4 * c;
                /* keys: a row of codes, the row's scales (and biases) */
                rc = program_copy_add(b->p, step, s[QK_], row * cv, kc[c], blk * cb + slot * cv, cv, err) < 0 ||
                     program_copy_add(b->p, step, s[QKS_], row * slots, x[AUX_KS], (blk * sb + slot) * ng, ng, err) < 0 ||
                     (q4(ap) && program_copy_add(b->p, step, s[QKB_], row * slots, x[AUX_KB], (blk * sb + slot) * ng,
                                                 ng, err) < 0);
                /* values: the row of codes becomes column `slot` of V^T, its scales a column of (ng, sb) */
                rc = rc || program_copy_add_rows(b->p, step, s[QV_], row * cv, 1, vtc[c], blk * cb + slot, sb, 1, cv,
                                                 err) < 0 ||
                     program_copy_add_rows(b->p, step, s[QVS_], row * slots, 1, x[AUX_VS], blk * sb * ng + slot, sb, 1,
                                           ng, err) < 0 ||
                     (q4(ap) && program_copy_add_rows(b->p, step, s[QVB_], row * slots, 1, x[AUX_VB],
                                                      blk * sb * ng + slot, sb, 1, ng, err) < 0);
            }
    kv_units_free(&u);
    return rc ? -1 : 0;
}

/* Every block's K and V^T widened into kd, vd (nw, sb, hd) / (nw, hd, sb) fp16. */
static int kv_widen_vertices(LowerBuilder *b, int cs, const AttnPlan *ap, const uint32_t *wt, const int *kc,
                             const int *vtc, const int *kaux, const int *kd, const int *vd, IpuErr *err)
{
    uint32_t W = b->g->arch.workers_per_tile, nw = ap->batch * ap->heads * ap->nkb, sb = ap->sb, hd = ap->hd;
    uint64_t blk = (uint64_t)sb * hd, cb = code_elems(ap, blk), ng = ngr(ap);
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t i = 0; i < nw; i++) {
            uint32_t tile = lower_tile(b, c, wt[i]);
            const int *x = kaux + 4 * c;
            if (q4(ap)) { /* K: int4 groups along hd, the run's q4g variant */
                DecompressQ4Args all = {lower_in(b, cs, kc[c], i * cb), lower_in(b, cs, x[AUX_KS], i * sb * ng),
                                        lower_in(b, cs, x[AUX_KB], i * sb * ng), lower_out(b, cs, kd[c], i * blk),
                                        (uint32_t)(sb * ng), ap->kv.group},
                                 parts[ARCH_MAX_WORKERS_PER_TILE];
                uint32_t np = decompress_q4_split(&all, W, parts);
                for (uint32_t q = 0; q < np; q++)
                    if (lower_vertex(b, cs, tile, b->decompress_vt, &parts[q], err))
                        return -1;
            } else { /* K: int8 with one scale per position, wdec's i8 */
                WdecArgs all = {.codes = lower_in(b, cs, kc[c], i * cb), .scale = lower_in(b, cs, x[AUX_KS], i * sb),
                                .out = lower_out(b, cs, kd[c], i * blk), .groups = sb, .group_size = hd},
                         parts[ARCH_MAX_WORKERS_PER_TILE];
                uint32_t np = wdec_split(WDEC_I8, &all, W, parts);
                for (uint32_t q = 0; q < np; q++)
                    if (lower_vertex(b, cs, tile, b->wdec_vt[WDEC_I8], &parts[q], err))
                        return -1;
            }
            for (uint32_t w = 0; w < W; w++) { /* V^T: its dims over the workers */
                uint32_t d0 = hd * w / W, d1 = hd * (w + 1) / W;
                if (d1 == d0)
                    continue;
                KvdArgs a;
                memset(&a, 0, sizeof a);
                a.codes = lower_in(b, cs, vtc[c], i * cb), a.scale = lower_in(b, cs, x[AUX_VS], i * sb * ng);
                a.bias = q4(ap) ? lower_in(b, cs, x[AUX_VB], i * sb * ng) : NULL;
                a.out = lower_out(b, cs, vd[c], i * blk), a.d0 = d0, a.rows = d1 - d0, a.sb = sb;
                a.group = q4(ap) ? ap->kv.group : 0;
                if (lower_vertex(b, cs, tile, q4(ap) ? &kvd_vt_q4g_vertex : &kvd_vt_i8_vertex, &a, err))
                    return -1;
            }
        }
    return 0;
}

int lower_attn_kv_build(LowerBuilder *b, int seq, const char *name, const AttnPlan *ap, const uint32_t *wt,
                        const int *kc, const int *vtc, const int *kaux, const int *k, const int *vt, uint32_t pos0,
                        int *kd, int *vd, int *kv_copy, int *kvstage, IpuErr *err)
{
    KvUnits u;
    char nm[96];
    uint32_t nw = ap->batch * ap->heads * ap->nkb;
    int rc = kv_units(ap, &u, err) || kv_stage_tensors(b, name, ap, &u, kvstage, err) ? -1 : 0;
    for (uint32_t c = 0; !rc && c < b->chips; c++) {
        snprintf(nm, sizeof nm, "%s.k_wide.%u", name, c);
        kd[c] = tensor_tiles(b, nm, DTYPE_FP16, c, nw, (uint64_t)ap->sb * ap->hd, wt, SRAM_ACTIVATIONS, err);
        snprintf(nm, sizeof nm, "%s.vt_wide.%u", name, c);
        vd[c] = tensor_tiles(b, nm, DTYPE_FP16, c, nw, (uint64_t)ap->sb * ap->hd, wt, SRAM_ACTIVATIONS, err);
        rc = kd[c] < 0 || vd[c] < 0 ? -1 : 0;
    }
    int csq = -1, csw = -1;
    if (!rc) {
        snprintf(nm, sizeof nm, "%s.kv_quant", name);
        csq = graph_add_compute_set(b->g, nm, err);
        snprintf(nm, sizeof nm, "%s.kv_widen", name);
        csw = csq < 0 ? -1 : graph_add_compute_set(b->g, nm, err);
        rc = csw < 0 || kv_quant_vertices(b, csq, ap, &u, kvstage, err) ||
                     kv_widen_vertices(b, csw, ap, wt, kc, vtc, kaux, kd, vd, err)
                 ? -1
                 : 0;
    }
    /* stage the new rows, quantize, into the cache, widen the cache for the matmuls */
    int cp1 = rc ? -1 : lower_copy(b, seq, name, err);
    rc = rc || cp1 < 0 || kv_stage_pairs(b, cp1, ap, &u, kvstage, k, vt, pos0, err) ||
                 lower_exec(b, seq, csq, name, PHASE_ATTENTION, err) < 0
             ? -1
             : 0;
    int cp2 = rc ? -1 : lower_copy(b, seq, name, err);
    rc = rc || cp2 < 0 || lower_attn_kv_qpairs(b, cp2, ap, kc, vtc, kaux, kvstage, pos0, err) ||
                 lower_exec(b, seq, csw, name, PHASE_ATTENTION, err) < 0
             ? -1
             : 0;
    if (!rc)
        *kv_copy = cp2;
    kv_units_free(&u);
    return rc;
}
