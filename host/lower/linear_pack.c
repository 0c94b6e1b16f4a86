/* linear_pack.c - functional weights in a linear's block layout (see
 * lower.h): one chip's slice of a matrix quantized whole, in every stored
 * format, block (i, j) of the grid holding output rows i*nblk.. and
 * inputs j*kblk.. (lower_linear_block_tensors gives each tensor's size per
 * block); and the embedding's fp16 rows.
 */
#include <string.h>

#include "base/quant_nf4.h"
#include "host/lower/lower.h"

/* What packing one slice needs: the plan, the whole matrix, the slice. */
typedef struct Pack {
    const LinearPlan *pl;
    const QuantTensor *q;
    uint64_t r0, c0;     /* the slice's first row and column in q */
    uint32_t rows_valid; /* rows of the slice; plan rows past them are padding */
    uint32_t G;          /* weights per scale along a row (lower_plan_qgroup) */
    uint64_t gpr;        /* q's groups per row (cols / G; grouped formats) */
    int pad4, pad8;      /* the byte of a padding row's codes: a zero weight at any scale */
} Pack;

/* Row r of block row i: its row in q, or -1 for padding. */
static int64_t q_row(const Pack *p, uint32_t i, uint32_t r)
{
    uint64_t local = (uint64_t)i * p->pl->nblk + r;
    return local < p->rows_valid ? (int64_t)(p->r0 + local) : -1;
}

/* The codes (or fp16 weights) of block (i, j). */
static void pack_codes(const Pack *p, uint32_t i, uint32_t j, void *dst)
{
    const LinearPlan *pl = p->pl;
    const QuantTensor *q = p->q;
    uint64_t bi = (uint64_t)i * pl->kb + j, wblk = (uint64_t)pl->nblk * pl->kblk, cols = (uint64_t)q->cols;
    for (uint32_t r = 0; r < pl->nblk; r++) {
        int64_t R = q_row(p, i, r);
        uint64_t src = (uint64_t)R * cols + p->c0 + (uint64_t)j * pl->kblk, at = bi * wblk + (uint64_t)r * pl->kblk;
        if (q->f16)
            R < 0 ? memset((uint16_t *)dst + at, 0, pl->kblk * 2) : memcpy((uint16_t *)dst + at, q->f16 + src, pl->kblk * 2);
        else if (q->packed)
            R < 0 ? memset((uint16_t *)dst + at / 4, p->pad4, pl->kblk / 2)
                  : memcpy((uint16_t *)dst + at / 4, q->packed + src / 4, pl->kblk / 2);
        else
            R < 0 ? memset((uint8_t *)dst + at, p->pad8, pl->kblk) : memcpy((uint8_t *)dst + at, q->codes8 + src, pl->kblk);
    }
}

/* The per-group (or per-row) scales of block (i, j), and q4g's biases. */
static void pack_scales(const Pack *p, uint32_t i, uint32_t j, uint16_t *scale, uint16_t *bias_q)
{
    const LinearPlan *pl = p->pl;
    const QuantTensor *q = p->q;
    uint32_t per_row = pl->kblk / p->G;
    uint64_t bi = (uint64_t)i * pl->kb + j, gpb = (uint64_t)pl->nblk * per_row;
    int grouped = pl->group != 0;
    for (uint32_t r = 0; r < pl->nblk; r++) {
        int64_t R = q_row(p, i, r);
        for (uint32_t g = 0; g < per_row; g++) {
            uint64_t at = bi * gpb + (uint64_t)r * per_row + g;
            uint64_t src = grouped ? (uint64_t)R * p->gpr + (p->c0 + (uint64_t)j * pl->kblk) / p->G + g
                           : q->spec.per_tensor ? 0
                                                : (uint64_t)R;
            scale[at] = R < 0 ? 0 : q->scale[src];
            if (bias_q)
                bias_q[at] = R < 0 ? 0 : q->bias[src];
        }
    }
}

/* nf4g+dq: the groups' scale bytes, and the block's second level: the
 * mean, the phase of its first row segment's first group within its
 * 256-group block B0, the steps of blocks B0, B0 + 1, ... (codelets/wdec.h).
 * A segment straddling two second-level blocks is an error (the planner
 * keeps segments within one). */
static int pack_dq(const Pack *p, uint32_t i, uint32_t j, uint8_t *qscale, float *aux, IpuErr *err)
{
    const LinearPlan *pl = p->pl;
    const QuantTensor *q = p->q;
    uint32_t per_row = pl->kblk / p->G, nsteps = lower_dq_steps(pl);
    LinearBlockTensors bt;
    lower_linear_block_tensors(pl, &bt);
    uint64_t bi = (uint64_t)i * pl->kb + j, gpb = bt.elems[1]; /* the bytes' block, padded to even */
    uint64_t f0 = (p->r0 + (uint64_t)i * pl->nblk) * p->gpr + (p->c0 + (uint64_t)j * pl->kblk) / p->G;
    uint64_t b0 = f0 / NF4_DQ_BLOCK, blocks = ((uint64_t)q->rows * p->gpr + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK;
    uint32_t phase = (uint32_t)(f0 % NF4_DQ_BLOCK);
    float *a = aux + bi * bt.elems[2];
    a[0] = q->dq_mean;
    memcpy(&a[1], &phase, 4);
    for (uint32_t k = 0; k < nsteps; k++)
        a[2 + k] = b0 + k < blocks ? q->dq_step[b0 + k] : 0.0f;
    for (uint32_t r = 0; r < pl->nblk; r++) {
        int64_t R = q_row(p, i, r);
        uint64_t f = f0 + (uint64_t)r * p->gpr;
        uint8_t *dst = qscale + bi * gpb + (uint64_t)r * per_row;
        if (R < 0) {
            memset(dst, NF4_DQ_OFFSET, per_row);
            continue;
        }
        if (f / NF4_DQ_BLOCK != (f + per_row - 1) / NF4_DQ_BLOCK || f / NF4_DQ_BLOCK - b0 >= nsteps)
            return ipu_err(err, "tensor '%s': a row segment of %u groups at group %llu straddles two %d-group "
                                "second-level blocks",
                           q->name, per_row, (unsigned long long)f, NF4_DQ_BLOCK);
        memcpy(dst, q->qscale + f, per_row);
    }
    return 0;
}

/* scheme = graphcore: the slice as (n, k/4) codes and (n, k/g) scales and
 * biases, row-major (the load layout). */
static void pack_gc(const Pack *p, uint16_t *w, uint16_t *scale, uint16_t *bias_q)
{
    const LinearPlan *pl = p->pl;
    const QuantTensor *q = p->q;
    uint32_t gk = pl->k / pl->group;
    for (uint32_t r = 0; r < pl->n; r++) {
        int64_t R = r < p->rows_valid ? (int64_t)(p->r0 + r) : -1;
        uint64_t src = (uint64_t)R * (uint64_t)q->cols + p->c0, gsrc = (uint64_t)R * p->gpr + p->c0 / pl->group;
        if (R < 0) {
            memset(w + (uint64_t)r * pl->k / 4, 0, pl->k / 2);
            memset(scale + (uint64_t)r * gk, 0, gk * 2);
            memset(bias_q + (uint64_t)r * gk, 0, gk * 2);
            continue;
        }
        memcpy(w + (uint64_t)r * pl->k / 4, q->packed + src / 4, pl->k / 2);
        memcpy(scale + (uint64_t)r * gk, q->scale + gsrc, gk * 2);
        memcpy(bias_q + (uint64_t)r * gk, q->bias + gsrc, gk * 2);
    }
}

int lower_linear_pack(const LinearPlan *pl, const QuantTensor *q, uint64_t r0, uint64_t c0, uint32_t rows_valid,
                      const float *bias, int bias_pad_neg_inf, void *dst_w, void *dst_scale, void *dst_bias_q,
                      uint16_t *dst_bias, IpuErr *err)
{
    IPU_ASSERT(pl->kind != LIN_GATHER && q->spec.axis == QUANT_AXIS_IN);
    if (r0 + rows_valid > (uint64_t)q->rows || c0 + pl->k > (uint64_t)q->cols)
        return ipu_err(err, "tensor '%s': slice rows %llu..%llu, cols %llu..%llu outside its [%lld, %lld]", q->name,
                       (unsigned long long)r0, (unsigned long long)(r0 + rows_valid), (unsigned long long)c0,
                       (unsigned long long)(c0 + pl->k), (long long)q->rows, (long long)q->cols);
    Pack p = {pl, q, r0, c0, rows_valid, lower_plan_quantized(pl) ? lower_plan_qgroup(pl) : 1, 0, 0, 0};
    p.gpr = pl->group ? (uint64_t)q->cols / pl->group : 1;
    int wf = lower_plan_wdec(pl);
    p.pad4 = wf == WDEC_S4G ? 0x88 : wf == WDEC_NF4G || wf == WDEC_NF4DQ ? 0x77 : 0; /* q = 0; NF4 code 7 = 0 */
    p.pad8 = wf == WDEC_I8 ? 0x80 : 0;                                                 /* q = 0; fp8 +0 */
    if (wf == WDEC_NF4DQ && pl->row_len != (uint64_t)q->cols)
        return ipu_err(err, "tensor '%s': planned for rows of %u, the matrix has %lld", q->name, pl->row_len,
                       (long long)q->cols);
    if (pl->gc) {
        pack_gc(&p, dst_w, dst_scale, dst_bias_q);
    } else {
        int dq = lower_plan_wdec(pl) == WDEC_NF4DQ;
        for (uint32_t i = 0; i < pl->nb; i++)
            for (uint32_t j = 0; j < pl->kb; j++) {
                pack_codes(&p, i, j, dst_w);
                if (dq && pack_dq(&p, i, j, dst_scale, dst_bias_q, err))
                    return -1;
                if (lower_plan_quantized(pl) && !dq)
                    pack_scales(&p, i, j, dst_scale, lower_plan_wdec(pl) < 0 ? dst_bias_q : NULL);
            }
    }
    if (dst_bias) /* (nb, kb, nblk): each N block's bias on every tile of its row of the grid */
        for (uint32_t i = 0; i < pl->nb; i++)
            for (uint32_t j = 0; j < pl->kb; j++)
                for (uint32_t x = 0; x < pl->nblk; x++) {
                    uint32_t col = i * pl->nblk + x;
                    dst_bias[((uint64_t)i * pl->kb + j) * pl->nblk + x] =
                        col < rows_valid ? fp16_from_f32(bias ? bias[col] : 0.0f) : (bias_pad_neg_inf ? 0xfc00 : 0);
                }
    return 0;
}

void lower_gather_pack(const LinearPlan *pl, const float *w, uint64_t ld, uint32_t rows_valid, uint16_t *dst_w)
{
    uint64_t wblk = (uint64_t)pl->nblk * pl->kblk;
    for (uint32_t i = 0; i < pl->nb; i++)
        for (uint32_t j = 0; j < pl->kb; j++)
            for (uint32_t r = 0; r < pl->kblk; r++)
                for (uint32_t x = 0; x < pl->nblk; x++) {
                    uint64_t row = (uint64_t)j * pl->kblk + r;
                    dst_w[(i * pl->kb + j) * wblk + (uint64_t)r * pl->nblk + x] =
                        row < rows_valid ? fp16_from_f32(w[row * ld + (uint64_t)i * pl->nblk + x]) : 0;
                }
}
