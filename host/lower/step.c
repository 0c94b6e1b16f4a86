/* step.c - one step graph of the lowered model (see model.h): its row
 * tensors, the row-wise compute sets, the linear instances, and the
 * program: embedding, each layer (stream, ln_1, q/k/v, rotary, attention,
 * out_proj, fc_in, gelu, fc_out, block sum, all-reduce, residual), head.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/add.h"
#include "codelets/argmax.h"
#include "codelets/gelu.h"
#include "codelets/layernorm.h"
#include "codelets/rotary.h"
#include "host/lower/model.h"

/* ---- per step graph: rows, elementwise compute sets ---- */

/* The row-wise compute sets of a step graph (shared by every layer), and
 * the kind of vertex each holds. */
typedef enum RowKind { ROW_LN_1, ROW_ROTARY, ROW_GELU, ROW_BLOCK_SUM, ROW_RESIDUAL, ROW_LN_F, ROW_ARGMAX, ROW_NKINDS } RowKind;
static const char *const row_cs_names[ROW_NKINDS] = {
    [ROW_LN_1] = "ln_1",        [ROW_ROTARY] = "rotary", [ROW_GELU] = "gelu",     [ROW_BLOCK_SUM] = "block_sum",
    [ROW_RESIDUAL] = "residual", [ROW_LN_F] = "ln_f",     [ROW_ARGMAX] = "argmax",
};

/* Elementwise kinds split a tile's elements over the workers; the others its rows. */
static int row_kind_elementwise(RowKind k) { return k == ROW_GELU || k == ROW_BLOCK_SUM || k == ROW_RESIDUAL; }

/* The vertex (two for rotary: q and k) of a row kind over rows [a0, a0 + n)
 * of chip c, on the tile of row tile iv. */
static int row_vertex(Lowered *L, StepGraph *sg, int cs, RowKind kind, uint32_t c, size_t iv, uint32_t tile, uint32_t a0,
                      uint32_t n, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    uint32_t C = (uint32_t)L->cfg.n_embd;
    if (kind == ROW_LN_1 || kind == ROW_LN_F) { /* h = ln(x); last = ln(last), in place */
        int f = kind == ROW_LN_F;
        LayernormArgs a;
        memset(&a, 0, sizeof a); /* padding too (lower_vertex) */
        a.gain = lower_in(b, cs, f ? sg->lnfbuf[c] : sg->lnbuf[c], iv * 2 * C);
        a.bias = a.gain ? a.gain + C : NULL;
        a.out = f ? lower_inout(b, cs, sg->last[c], (uint64_t)a0 * C) : lower_out(b, cs, sg->h[c], (uint64_t)a0 * C);
        a.x = f ? a.out : lower_in(b, cs, sg->x[c], (uint64_t)a0 * C);
        a.rows = n, a.cols = C, a.eps = L->cfg.layer_norm_eps;
        return lower_vertex(b, cs, tile, &layernorm_vertex, &a, err);
    }
    if (kind == ROW_ROTARY) { /* q and k rotated in place */
        uint32_t rd = (uint32_t)L->cfg.rotary_dim;
        for (int qk = 0; qk < 2; qk++) {
            uint16_t *x = lower_inout(b, cs, qk ? sg->k[c] : sg->q[c], (uint64_t)a0 * L->cc);
            RotaryArgs a = {x, lower_in(b, cs, sg->rot[c], (uint64_t)a0 * rd * 2), x, n, L->hc,
                            (uint32_t)L->cfg.head_dim, rd};
            if (lower_vertex(b, cs, tile, &rotary_vertex, &a, err))
                return -1;
        }
        return 0;
    }
    IPU_ASSERT(kind == ROW_ARGMAX);
    ArgmaxArgs a;
    memset(&a, 0, sizeof a); /* padding too (lower_vertex) */
    a.in = lower_in(b, cs, sg->logits[c], (uint64_t)a0 * L->vc);
    a.out_index = lower_out(b, cs, sg->aidx[c], a0), a.out_value = lower_out(b, cs, sg->aval[c], a0);
    a.want_value = 1, a.rows = n, a.n = L->vc, a.index_base = c * L->vc, a.in_type = LAYER_F16;
    return lower_vertex(b, cs, tile, &argmax_vertex, &a, err);
}

/* The vertex of an elementwise kind over elements [x0, x1) of chip c's rows. */
static int elem_vertex(Lowered *L, StepGraph *sg, int cs, RowKind kind, uint32_t c, uint32_t tile, uint64_t x0,
                       uint64_t x1, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    if (kind == ROW_GELU) { /* u = gelu(u), in place */
        uint16_t *u = lower_inout(b, cs, sg->u[c], x0);
        GeluArgs a;
        memset(&a, 0, sizeof a); /* padding too (lower_vertex) */
        a.x = a.out = u, a.n = (uint32_t)(x1 - x0);
        return lower_vertex(b, cs, tile, &gelu_vertex, &a, err);
    }
    AddArgs a;
    memset(&a, 0, sizeof a); /* padding too (lower_vertex) */
    a.rows = 1, a.cols = (uint32_t)(x1 - x0), a.op = ADD_OP_ADD;
    if (kind == ROW_BLOCK_SUM) { /* s = attn_out + mlp_out */
        a.out = lower_out(b, cs, sg->s[c], x0);
        a.a = lower_in(b, cs, sg->ao[c], x0);
        a.b = lower_in(b, cs, sg->mo[c], x0);
    } else { /* x += s, in place */
        a.out = lower_inout(b, cs, sg->x[c], x0);
        a.a = a.out;
        a.b = lower_in(b, cs, sg->s[c], x0);
    }
    return lower_vertex(b, cs, tile, &add_vertex, &a, err);
}

/* The vertices of one row kind for chip c, per row tile (of the residual
 * rows x, or of the last rows for ln_f and argmax): its rows (or, for an
 * elementwise kind, its elements in runs of multiples of 4) in W near-equal
 * shares. */
static int row_vertices(Lowered *L, StepGraph *sg, int cs, RowKind kind, uint32_t c, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    const Tensor *t = graph_tensor(b->g, kind == ROW_LN_F || kind == ROW_ARGMAX ? sg->last[c] : sg->x[c]);
    uint32_t C = (uint32_t)L->cfg.n_embd, W = b->g->arch.workers_per_tile;
    for (size_t iv = 0; iv < t->nmap; iv++) {
        uint32_t r0 = (uint32_t)(t->map[iv].begin / C), r1 = (uint32_t)(t->map[iv].end / C), tile = t->map[iv].tile;
        if (!row_kind_elementwise(kind)) {
            for (uint32_t w = 0; w < W; w++) {
                uint32_t a0 = r0 + (r1 - r0) * w / W, a1 = r0 + (r1 - r0) * (w + 1) / W;
                if (a1 > a0 && row_vertex(L, sg, cs, kind, c, iv, tile, a0, a1 - a0, err))
                    return -1;
            }
            continue;
        }
        uint64_t width = kind == ROW_GELU ? L->ic : C, e0 = (uint64_t)r0 * width, q4 = (uint64_t)(r1 - r0) * width / 4;
        for (uint32_t w = 0; w < W; w++) {
            uint64_t x0 = e0 + q4 * w / W * 4, x1 = e0 + q4 * (w + 1) / W * 4;
            if (x1 > x0 && elem_vertex(L, sg, cs, kind, c, tile, x0, x1, err))
                return -1;
        }
    }
    return 0;
}

/* Copies a (2C) gain+bias tensor to every row tile's buffer block, as a
 * broadcast tree (the exchange has no multicast and one tile sending to
 * hundreds would dominate): the source to block 0, then blocks [0, 2^k) to
 * [2^k, 2^(k+1)), one Copy step per level. */
static int ln_params_copy(Lowered *L, int seq, const int *src, const int *rowt, const int *buf, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    uint32_t C = (uint32_t)L->cfg.n_embd;
    size_t n = graph_tensor(b->g, rowt[0])->nmap;
    for (size_t have = 0; have < n; have = have ? have * 2 : 1) {
        int cp = lower_copy(b, seq, "ln_params", err);
        if (cp < 0)
            return -1;
        for (uint32_t c = 0; c < b->vchips; c++) {
            if (!have) {
                if (program_copy_add(b->p, cp, src[c], 0, buf[c], 0, 2 * C, err) < 0)
                    return -1;
                continue;
            }
            for (size_t i = 0; i < have && have + i < n; i++)
                if (program_copy_add(b->p, cp, buf[c], i * 2 * C, buf[c], (have + i) * 2 * C, 2 * C, err) < 0)
                    return -1;
        }
    }
    return 0;
}

/* A linear's input rows sit on few tiles (whole rows, for the row-wise
 * codelets); every block of the linear's grid reads its slice of them, so
 * the sending tiles would be the bottleneck (the engine counts every byte a
 * tile sends; there is no multicast). Copying the rows first into a tensor
 * spread in small intervals over all the chip's tiles spreads the sending. */
static int spread_copy(Lowered *L, int seq, const int *src, const int *dst, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    int cp = lower_copy(b, seq, "spread", err);
    if (cp < 0)
        return -1;
    for (uint32_t c = 0; c < b->vchips; c++)
        if (program_copy_add(b->p, cp, src[c], 0, dst[c], 0, graph_tensor(b->g, src[c])->elems, err) < 0)
            return -1;
    return 0;
}

static int stream_step(Lowered *L, int layer, int set, int overlap, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    char nm[48];
    snprintf(nm, sizeof nm, "layer%d.stream", layer);
    int st = program_stream(b->p, STREAM_TO_TILES, overlap, nm, PHASE_STREAM, err);
    if (st < 0)
        return -1;
    for (uint32_t c = 0; c < b->chips; c++) {
        uint64_t off = 0;
        for (int li = 0; li < NLIN; li++) {
            const LinearWeights *w = &L->lw[set * NLIN + li];
            int ids[4] = {w->w[c], w->scale[c], w->bias_q[c], w->bias[c]};
            for (int q = 0; q < 4; q++) {
                if (ids[q] < 0)
                    continue;
                const Tensor *t = graph_tensor(b->g, ids[q]);
                if (program_stream_add(b->p, st, L->remote[layer * b->chips + c], off, ids[q], 0, t->elems, err) < 0)
                    return -1;
                off += t->elems * graph_dtype_bytes(t->dtype);
            }
        }
    }
    return st;
}

/* What one step graph's build stages share. */
typedef struct StepBuild {
    Lowered *L;
    StepGraph *sg;
    const char *tag;         /* "pre" or "dec": the tensor and compute set name prefix */
    uint32_t pos0;           /* position of the step's first row (decode: patched per step) */
    int rowcs[ROW_NKINDS];   /* the row-wise compute sets, shared by every layer */
    int nset;                /* linear instances: weight sets (stream) or layers (resident) */
    int *la;                 /* (nset, NLIN, 2) each instance's two sequences (lower_linear_build) */
    int att_shared;          /* without a KV cache: the one attention sequence every layer appends */
} StepBuild;

/* A row tensor (rows, width) of chip c named "<tag>.<what>.<c>" on nr row tiles from r0. */
static int row_tensor(StepBuild *sb, const char *what, GraphDType dt, uint32_t c, uint64_t rows, uint64_t width,
                      int r0, int nr, int *id, IpuErr *err)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.%s.%u", sb->tag, what, c);
    *id = lower_tensor_rows(&sb->L->b, nm, dt, c, rows, width, (uint32_t)r0, (uint32_t)nr, SRAM_ACTIVATIONS, err);
    return *id < 0 ? -1 : 0;
}

/* Chip c's row-major activations, the linear inputs spread over every tile, and the LayerNorm parameter buffers. */
static int step_tensors(StepBuild *sb, uint32_t c, IpuErr *err)
{
    Lowered *L = sb->L;
    LowerBuilder *b = &L->b;
    StepGraph *sg = sb->sg;
    uint32_t hr = L->opt.batch * sg->hrows, C = (uint32_t)L->cfg.n_embd, m = sg->m, rd = (uint32_t)L->cfg.rotary_dim;
    int r0 = sg->rt0, nr = sg->nrt, l0 = sg->lrt0, nl = sg->nlrt;
    char nm[64];
    snprintf(nm, sizeof nm, "%s.ids.%u", sb->tag, c);
    if ((sg->ids[c] = lower_tensor_blocks(b, nm, DTYPE_I32, c, 1, m, (uint32_t)r0, SRAM_ACTIVATIONS, err)) < 0 ||
        row_tensor(sb, "x", DTYPE_FP16, c, m, C, r0, nr, &sg->x[c], err) ||
        row_tensor(sb, "h", DTYPE_FP16, c, m, C, r0, nr, &sg->h[c], err) ||
        row_tensor(sb, "rotary_table", DTYPE_FP32, c, m, rd * 2, r0, nr, &sg->rot[c], err) ||
        row_tensor(sb, "q", DTYPE_FP16, c, m, L->cc, r0, nr, &sg->q[c], err) ||
        row_tensor(sb, "k", DTYPE_FP16, c, m, L->cc, r0, nr, &sg->k[c], err) ||
        row_tensor(sb, "vT", DTYPE_FP16, c, L->cc, m, r0, nr, &sg->vt[c], err) ||
        row_tensor(sb, "att", DTYPE_FP16, c, m, L->cc, r0, nr, &sg->att[c], err) ||
        row_tensor(sb, "attn_out", DTYPE_FP16, c, m, C, r0, nr, &sg->ao[c], err) ||
        row_tensor(sb, "mlp_hidden", DTYPE_FP16, c, m, L->ic, r0, nr, &sg->u[c], err) ||
        row_tensor(sb, "mlp_out", DTYPE_FP16, c, m, C, r0, nr, &sg->mo[c], err) ||
        row_tensor(sb, "block_sum", DTYPE_FP16, c, m, C, r0, nr, &sg->s[c], err) ||
        row_tensor(sb, "last", DTYPE_FP16, c, hr, C, l0, nl, &sg->last[c], err) ||
        row_tensor(sb, "logits", DTYPE_FP16, c, hr, L->vc, l0, nl, &sg->logits[c], err) ||
        row_tensor(sb, "argmax_id", DTYPE_I32, c, hr, 1, l0, nl, &sg->aidx[c], err) ||
        row_tensor(sb, "argmax_value", DTYPE_FP32, c, hr, 1, l0, nl, &sg->aval[c], err))
        return -1;
    /* kept the whole program long (not shared by liveness): ids and rotary
     * rows are written by the host before a run (without a cache the ids of
     * earlier positions and the prefill's rotary table serve every later run
     * too); logits and the argmax the host reads after it */
    int keep[5] = {sg->ids[c], sg->rot[c], sg->logits[c], sg->aidx[c], sg->aval[c]};
    for (int i = 0; i < 5; i++)
        graph_tensor_set_always_live(b->g, keep[i], 1);
    int *sp[4] = {sg->hs, sg->atts, sg->us, sg->lasts};
    uint64_t rows[4] = {m, m, m, hr}, width[4] = {C, L->cc, L->ic, C};
    static const char *const spname[4] = {"h.spread", "att.spread", "mlp_hidden.spread", "last.spread"};
    for (int i = 0; i < 4; i++) {
        snprintf(nm, sizeof nm, "%s.%s.%u", sb->tag, spname[i], c);
        if ((sp[i][c] = lower_tensor_interleaved(b, nm, DTYPE_FP16, c, rows[i], width[i], err)) < 0)
            return -1;
    }
    sg->lnbuf[c] = sg->lnfbuf[c] = -1;
    uint32_t nx = (uint32_t)graph_tensor(b->g, sg->x[c])->nmap, nlast = (uint32_t)graph_tensor(b->g, sg->last[c])->nmap;
    snprintf(nm, sizeof nm, "%s.ln_params.%u", sb->tag, c);
    if (!sg->split_ln1 &&
        (sg->lnbuf[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, nx, 2 * C, (uint32_t)r0, SRAM_ACTIVATIONS, err)) < 0)
        return -1;
    snprintf(nm, sizeof nm, "%s.lnf_params.%u", sb->tag, c);
    if (!sg->split_lnf &&
        (sg->lnfbuf[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, nlast, 2 * C, (uint32_t)l0, SRAM_ACTIVATIONS, err)) < 0)
        return -1;
    return 0;
}

/* The split LayerNorms' tensors and compute sets, and the row-wise compute sets. */
static int step_row_sets(StepBuild *sb, uint32_t nt1, uint32_t ntf, IpuErr *err)
{
    Lowered *L = sb->L;
    LowerBuilder *b = &L->b;
    StepGraph *sg = sb->sg;
    char nm[64];
    snprintf(nm, sizeof nm, "%s.ln_1", sb->tag);
    if (sg->split_ln1 && lower_ln_build(L, &sg->ln1s, nm, sg->m, nt1, err))
        return -1;
    snprintf(nm, sizeof nm, "%s.ln_f", sb->tag);
    if (sg->split_lnf && lower_ln_build(L, &sg->lnfs, nm, L->opt.batch * sg->hrows, ntf, err))
        return -1;
    for (RowKind k = 0; k < ROW_NKINDS; k++) {
        snprintf(nm, sizeof nm, "%s.%s", sb->tag, row_cs_names[k]);
        if ((sb->rowcs[k] = graph_add_compute_set(b->g, nm, err)) < 0)
            return -1;
        int split = (k == ROW_LN_1 && sg->split_ln1) || (k == ROW_LN_F && sg->split_lnf);
        for (uint32_t c = 0; c < b->vchips && !split; c++)
            if (row_vertices(L, sg, sb->rowcs[k], k, c, err))
                return -1;
    }
    return 0;
}

/* The linear instances: one per weight set (all layers when streaming) or per layer. */
static int step_linears(StepBuild *sb, IpuErr *err)
{
    Lowered *L = sb->L;
    LowerBuilder *b = &L->b;
    StepGraph *sg = sb->sg;
    const int *lin_x[NLIN] = {sg->hs, sg->hs, sg->hs, sg->atts, sg->hs, sg->us};
    const int *lin_y[NLIN] = {sg->q, sg->k, sg->vt, sg->ao, sg->u, sg->mo};
    LinearScratch scr[NLIN];
    memset(scr, 0, sizeof scr);
    int rc = 0;
    for (int s = 0; s < sb->nset && !rc; s++)
        for (int li = 0; li < NLIN && !rc; li++) {
            char nm[64];
            snprintf(nm, sizeof nm, "%s.%s%d.%s", sb->tag, L->placement == PLACE_STREAM ? "set" : "layer", s,
                     lower_lin_names[li]);
            LinearPlan pl = L->pl[li];
            pl.tile0 = L->tile0[s * NLIN + li];
            pl.mb = lower_linear_groups(b, &pl, sg->m, NULL); /* this step's rows: decode needs no row groups */
            if (!pl.mb)
                pl.mb = 1; /* lower_linear_build names the tile that does not fit */
            int *seqs = &sb->la[(s * NLIN + li) * 2];
            rc = lower_linear_build(b, nm, &pl, &L->lw[s * NLIN + li], sg->m, lin_x[li], lin_y[li],
                                    li == LFO ? 1u : ~0ull, &scr[li], &seqs[0], &seqs[1], err);
        }
    for (int q = 0; q < NLIN; q++)
        free(scr[q].copies);
    return rc;
}

/* Appends linear li of weight set `set` (its two sequences) to seq. */
static int append_linear(StepBuild *sb, int seq, int set, int li, IpuErr *err)
{
    const int *s = &sb->la[(set * NLIN + li) * 2];
    return lower_append(&sb->L->b, seq, s[0], err) < 0 || lower_append(&sb->L->b, seq, s[1], err) < 0 ? -1 : 0;
}

/* The embedding: a gather per vocabulary block, reduced on the chip, summed over the chips. */
static int step_embedding(StepBuild *sb, int root, IpuErr *err)
{
    Lowered *L = sb->L;
    LowerBuilder *b = &L->b;
    StepGraph *sg = sb->sg;
    char nm[64];
    snprintf(nm, sizeof nm, "%s.embed", sb->tag);
    if (lower_linear_build(b, nm, &L->pemb, &L->emb, sg->m, sg->ids, sg->x, 0, NULL, &sg->emb_a, &sg->emb_b, err) ||
        lower_append(b, root, sg->emb_a, err) < 0 || lower_append(b, root, sg->emb_b, err) < 0)
        return -1;
    if (b->chips == 1)
        return 0;
    int sync = program_sync(b->p, SYNC_SYSTEM, "embed", PHASE_SYNC, err);
    int ar = program_collective(b->p, COLL_ALL_REDUCE, sg->x, b->chips, "embed.allreduce", PHASE_COLLECTIVE, err);
    return lower_append(b, root, sync, err) < 0 || lower_append(b, root, ar, err) < 0 ? -1 : 0;
}

/* Layer l's attention into seq: per layer with a KV cache; one shared scratch instance without. */
static int step_attention(StepBuild *sb, int seq, uint32_t l, IpuErr *err)
{
    Lowered *L = sb->L;
    LowerBuilder *b = &L->b;
    StepGraph *sg = sb->sg;
    if (L->opt.kv_cache || sb->att_shared < 0) {
        int cache = L->opt.kv_cache ? (int)l : 0, aseq = program_sequence(b->p, "attention", err);
        AttnPlan ap = sg->ap;
        ap.tile0 = L->kv_tile0[cache];
        char nm[64];
        snprintf(nm, sizeof nm, "%s.layer%u.attn", sb->tag, l);
        if (aseq < 0 || lower_attn_build(b, aseq, nm, &ap, &L->kc[cache * b->chips], &L->vtc[cache * b->chips],
                                         &L->kaux[(size_t)cache * b->chips * 4], sg->q, sg->k, sg->vt, sg->att,
                                         sb->pos0, &sg->kv_copy[l], &sg->smx_cs[l],
                                         &sg->kvstage[(size_t)l * b->chips * LOWER_KV_STAGE], err))
            return -1;
        sb->att_shared = aseq;
    } else {
        sg->kv_copy[l] = sg->kv_copy[0], sg->smx_cs[l] = sg->smx_cs[0];
    }
    return lower_append(b, seq, sb->att_shared, err) < 0 ? -1 : 0;
}

/* Layer l: [stream,] ln_1, q/k/v, rotary, attention, out_proj, fc_in [under
 * the next layer's overlapped stream], gelu, fc_out, block sum, all-reduce
 * over chips, residual. */
static int step_layer(StepBuild *sb, int root, uint32_t l, IpuErr *err)
{
    Lowered *L = sb->L;
    LowerBuilder *b = &L->b;
    StepGraph *sg = sb->sg;
    int stream = L->placement == PLACE_STREAM, overlap = stream && L->opt.overlap, nl = L->cfg.n_layer;
    int set = stream ? (overlap ? (int)(l % 2) : 0) : (int)l;
    char nm[48];
    snprintf(nm, sizeof nm, "layer%u", l);
    int seq = program_sequence(b->p, nm, err);
    if (seq < 0 || lower_append(b, root, seq, err) < 0)
        return -1;
    if (stream && (!overlap || l == 0) && lower_append(b, seq, stream_step(L, (int)l, set, 0, err), err) < 0)
        return -1;
    if (sg->split_ln1 ? lower_ln_seq(L, &sg->ln1s, seq, &L->ln1[l * b->chips], sg->x, sg->hs, "ln_1", err)
                      : (ln_params_copy(L, seq, &L->ln1[l * b->chips], sg->x, sg->lnbuf, err) ||
                         lower_exec(b, seq, sb->rowcs[ROW_LN_1], "ln_1", PHASE_OTHER, err) < 0 ||
                         spread_copy(L, seq, sg->h, sg->hs, err)))
        return -1;
    for (int li = LQ; li <= LV; li++)
        if (append_linear(sb, seq, set, li, err))
            return -1;
    if (lower_exec(b, seq, sb->rowcs[ROW_ROTARY], "rotary", PHASE_OTHER, err) < 0 || step_attention(sb, seq, l, err) ||
        spread_copy(L, seq, sg->att, sg->atts, err) || append_linear(sb, seq, set, LO, err) ||
        lower_append(b, seq, sb->la[(set * NLIN + LFI) * 2], err) < 0)
        return -1;
    /* overlap: the next layer's weights stream into the other buffer set under fc_in's matmul */
    if (overlap && (int)l + 1 < nl && lower_append(b, seq, stream_step(L, (int)l + 1, (int)((l + 1) % 2), 1, err), err) < 0)
        return -1;
    if (lower_append(b, seq, sb->la[(set * NLIN + LFI) * 2 + 1], err) < 0 ||
        lower_exec(b, seq, sb->rowcs[ROW_GELU], "gelu", PHASE_OTHER, err) < 0 || spread_copy(L, seq, sg->u, sg->us, err) ||
        append_linear(sb, seq, set, LFO, err) ||
        lower_exec(b, seq, sb->rowcs[ROW_BLOCK_SUM], "block_sum", PHASE_OTHER, err) < 0)
        return -1;
    if (b->chips > 1 &&
        (lower_append(b, seq, program_sync(b->p, SYNC_SYSTEM, "allreduce", PHASE_SYNC, err), err) < 0 ||
         lower_append(b, seq, program_collective(b->p, COLL_ALL_REDUCE, sg->s, b->chips, "layer.allreduce",
                                                 PHASE_COLLECTIVE, err), err) < 0))
        return -1;
    return lower_exec(b, seq, sb->rowcs[ROW_RESIDUAL], "residual", PHASE_OTHER, err) < 0 ? -1 : 0;
}

/* The rows of x the head runs on into last: each sequence's last row
 * (select_copy, patched per position without a KV cache), or every row. */
static int select_head_rows(StepBuild *sb, int root, IpuErr *err)
{
    Lowered *L = sb->L;
    LowerBuilder *b = &L->b;
    StepGraph *sg = sb->sg;
    uint32_t B = L->opt.batch, C = (uint32_t)L->cfg.n_embd, t = sg->t;
    int cp = lower_copy(b, root, "select_last", err);
    if (cp < 0)
        return -1;
    sg->select_copy = cp;
    for (uint32_t c = 0; c < b->vchips; c++) {
        if (sg->hrows > 1) {
            if (program_copy_add(b->p, cp, sg->x[c], 0, sg->last[c], 0, (uint64_t)sg->m * C, err) < 0)
                return -1;
            continue;
        }
        for (uint32_t s = 0; s < B; s++)
            if (program_copy_add(b->p, cp, sg->x[c], ((uint64_t)s * t + t - 1) * C, sg->last[c], (uint64_t)s * C, C,
                                 err) < 0)
                return -1;
    }
    return 0;
}

/* The head: the head rows of each sequence, ln_f, the LM head shard, argmax per chip. */
static int step_head(StepBuild *sb, int root, IpuErr *err)
{
    Lowered *L = sb->L;
    LowerBuilder *b = &L->b;
    StepGraph *sg = sb->sg;
    uint32_t hr = L->opt.batch * sg->hrows;
    if (select_head_rows(sb, root, err))
        return -1;
    if (sg->split_lnf ? lower_ln_seq(L, &sg->lnfs, root, L->lnf, sg->last, sg->lasts, "ln_f", err)
                      : (ln_params_copy(L, root, L->lnf, sg->last, sg->lnfbuf, err) ||
                         lower_exec(b, root, sb->rowcs[ROW_LN_F], "ln_f", PHASE_OTHER, err) < 0 ||
                         spread_copy(L, root, sg->last, sg->lasts, err)))
        return -1;
    LinearPlan pl = L->plm; /* planned for batch rows; every position's logits: row groups for hr */
    if (sg->hrows > 1 && !(pl.mb = lower_linear_groups(b, &pl, hr, NULL)))
        pl.mb = 1; /* lower_linear_build names the tile that does not fit */
    int sa, sb2;
    char nm[64];
    snprintf(nm, sizeof nm, "%s.lm_head", sb->tag);
    if (lower_linear_build(b, nm, &pl, &L->lm, hr, sg->lasts, sg->logits, ~0ull, NULL, &sa, &sb2, err) ||
        lower_append(b, root, sa, err) < 0 || lower_append(b, root, sb2, err) < 0 ||
        lower_exec(b, root, sb->rowcs[ROW_ARGMAX], "argmax", PHASE_OTHER, err) < 0)
        return -1;
    return 0;
}

/* The step graph of t rows per sequence from position pos0: its tensors,
 * compute sets and the program under sg->root. */
int lower_step_graph(Lowered *L, StepGraph *sg, uint32_t t, uint32_t pos0, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    uint32_t B = L->opt.batch, C = (uint32_t)L->cfg.n_embd, nl = (uint32_t)L->cfg.n_layer;
    int dec = t == 1 && L->opt.kv_cache; /* a decode step's graph (the prefill's otherwise) */
    sg->t = t, sg->m = B * t, sg->hrows = L->opt.logits == RUN_LOGITS_ALL && !dec ? t : 1;
    uint32_t hr = B * sg->hrows;
    /* row tiles: whole rows of the residual stream (and every row-major activation) on up to every tile */
    sg->nrt = (int)(sg->m < b->usable ? sg->m : b->usable), sg->rt0 = (int)b->cursor;
    b->cursor += (uint32_t)sg->nrt;
    sg->nlrt = (int)(hr < b->usable ? hr : b->usable), sg->lrt0 = (int)b->cursor;
    b->cursor += (uint32_t)sg->nlrt;
    /* LayerNorm over slice tiles where the planner estimates it faster (few long rows) */
    uint32_t nt1 = lower_ln_plan(b, sg->m, (sg->m + sg->nrt - 1) / sg->nrt, C, NULL);
    uint32_t ntf = lower_ln_plan(b, hr, (hr + sg->nlrt - 1) / sg->nlrt, C, NULL);
    sg->split_ln1 = nt1 > 0, sg->split_lnf = ntf > 0;
    StepBuild sb = {.L = L, .sg = sg, .tag = dec ? "dec" : "pre", .pos0 = pos0,
                    .nset = L->placement == PLACE_STREAM ? L->nsets : (int)nl, .att_shared = -1};
    for (uint32_t c = 0; c < b->chips; c++)
        if (step_tensors(&sb, c, err))
            return -1;
    sg->kv_copy = calloc(nl, sizeof *sg->kv_copy);
    sg->smx_cs = calloc(nl, sizeof *sg->smx_cs);
    sg->kvstage = calloc((size_t)nl * L->b.chips * LOWER_KV_STAGE, sizeof *sg->kvstage);
    sb.la = malloc((size_t)sb.nset * NLIN * 2 * sizeof *sb.la);
    int rc = !sg->kv_copy || !sg->smx_cs || !sg->kvstage || !sb.la ? ipu_err(err, "out of host memory") : 0;
    if (!rc)
        rc = step_row_sets(&sb, nt1, ntf, err) || step_linears(&sb, err) ? -1 : 0;
    if (!rc && (sg->root = program_sequence(b->p, sb.tag, err)) < 0)
        rc = -1;
    if (!rc)
        rc = step_embedding(&sb, sg->root, err);
    for (uint32_t l = 0; !rc && l < nl; l++)
        rc = step_layer(&sb, sg->root, l, err);
    if (!rc)
        rc = step_head(&sb, sg->root, err);
    free(sb.la);
    return rc;
}
