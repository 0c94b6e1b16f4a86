/* model.c - GPT-J on the machine: tensor parallel over chips, the step
 * graphs (prefill, decode), weight placement and functional weights (see lower.h).
 *
 * Per chip c of C: heads c*H/C.. (q, k, v and fc_in split by output rows of
 * the weight), out_proj and fc_out split by input columns; their partial
 * outputs are added on the chip (GPT-J's parallel residual: attention and
 * MLP read the same ln_1 output) and summed over chips by ONE all-reduce per
 * layer. Embedding and LM head are split by (padded) vocabulary: each chip
 * gathers its rows (zeros for ids outside its shard) and an all-reduce sums
 * them; each chip computes its logits and argmax, the host combines the
 * chips' winners (ties to the lower id).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/add.h"
#include "codelets/argmax.h"
#include "codelets/decompress.h"
#include "codelets/gelu.h"
#include "codelets/layernorm.h"
#include "codelets/matmul.h"
#include "codelets/registry.h"
#include "codelets/rotary.h"
#include "codelets/softmax.h"
#include "host/lower/lower.h"
#include "sim/layout.h"

#include "host/lower/model.h"

const char *const lower_lin_names[NLIN] = {"q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"};

static uint32_t rup(uint32_t a, uint32_t m) { return (a + m - 1) / m * m; }

Graph *lower_graph(Lowered *L) { return L->b.g; }
const Program *lower_program(Lowered *L) { return L->b.p; }
Placement lower_placement(const Lowered *L) { return L->placement; }
double lower_memory_proportion(const Lowered *L) { return L->b.mem_prop; }
uint64_t lower_weight_bytes(const Lowered *L) { return L->weight_bytes; }
uint64_t lower_kv_bytes_per_step(const Lowered *L) { return L->kv_bytes; }

uint32_t lower_symmetry_factor(const Lowered *L) { return L->b.chips / L->b.vchips; }

uint64_t lower_weight_bytes_read(const Lowered *L, int decode)
{
    const StepGraph *sg = decode && L->opt.kv_cache ? &L->sg[1] : &L->sg[0];
    uint64_t emb_all = (uint64_t)L->b.chips * lower_linear_weight_bytes(&L->pemb);
    return L->weight_bytes - emb_all + (uint64_t)sg->m * (uint64_t)L->cfg.n_embd * 2;
}

void lower_destroy(Lowered *L)
{
    if (!L)
        return;
    graph_destroy(L->b.g);
    program_destroy(L->b.p);
    free(L->b.dec_memo);
    free(L->lw), free(L->tile0), free(L->ln1), free(L->remote), free(L->kc), free(L->vtc), free(L->kv_tile0);
    for (int i = 0; i < 2; i++)
        free(L->sg[i].kv_copy), free(L->sg[i].smx_cs);
    free(L);
}

static int spec_group(const QuantSpec *s, const char *name, uint32_t *group, IpuErr *err)
{
    if (s->fmt == &quant_format_f16) {
        *group = 0;
        return 0;
    }
    if (!strcmp(s->fmt->name, "q4g") && s->axis == QUANT_AXIS_IN) {
        *group = s->group;
        return 0;
    }
    return ipu_err(err, "%s: weight format '%s'%s is not supported on the tiles (fp16 or q4g along the input axis)",
                   name, s->fmt->name, s->axis == QUANT_AXIS_OUT ? " (grouped along the output axis)" : "");
}

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
    uint32_t B = L->opt.batch, C = (uint32_t)L->cfg.n_embd, m = sg->m, rd = (uint32_t)L->cfg.rotary_dim;
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
        row_tensor(sb, "last", DTYPE_FP16, c, B, C, l0, nl, &sg->last[c], err) ||
        row_tensor(sb, "logits", DTYPE_FP16, c, B, L->vc, l0, nl, &sg->logits[c], err) ||
        row_tensor(sb, "argmax_id", DTYPE_I32, c, B, 1, l0, nl, &sg->aidx[c], err) ||
        row_tensor(sb, "argmax_value", DTYPE_FP32, c, B, 1, l0, nl, &sg->aval[c], err))
        return -1;
    /* kept the whole program long (not shared by liveness): ids and rotary
     * rows are written by the host before a run (without a cache the ids of
     * earlier positions and the prefill's rotary table serve every later run
     * too); logits and the argmax the host reads after it */
    int keep[5] = {sg->ids[c], sg->rot[c], sg->logits[c], sg->aidx[c], sg->aval[c]};
    for (int i = 0; i < 5; i++)
        graph_tensor_set_always_live(b->g, keep[i], 1);
    int *sp[4] = {sg->hs, sg->atts, sg->us, sg->lasts};
    uint64_t rows[4] = {m, m, m, B}, width[4] = {C, L->cc, L->ic, C};
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
    if (sg->split_lnf && lower_ln_build(L, &sg->lnfs, nm, L->opt.batch, ntf, err))
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
        if (aseq < 0 || lower_attn_build(b, aseq, nm, &ap, &L->kc[cache * b->chips], &L->vtc[cache * b->chips], sg->q,
                                         sg->k, sg->vt, sg->att, sb->pos0, &sg->kv_copy[l], &sg->smx_cs[l], err))
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

/* The head: the last row of each sequence, ln_f, the LM head shard, argmax per chip. */
static int step_head(StepBuild *sb, int root, IpuErr *err)
{
    Lowered *L = sb->L;
    LowerBuilder *b = &L->b;
    StepGraph *sg = sb->sg;
    uint32_t B = L->opt.batch, C = (uint32_t)L->cfg.n_embd, t = sg->t;
    int cp = lower_copy(b, root, "select_last", err);
    if (cp < 0)
        return -1;
    sg->select_copy = cp;
    for (uint32_t c = 0; c < b->vchips; c++)
        for (uint32_t s = 0; s < B; s++)
            if (program_copy_add(b->p, cp, sg->x[c], ((uint64_t)s * t + t - 1) * C, sg->last[c], (uint64_t)s * C, C,
                                 err) < 0)
                return -1;
    if (sg->split_lnf ? lower_ln_seq(L, &sg->lnfs, root, L->lnf, sg->last, sg->lasts, "ln_f", err)
                      : (ln_params_copy(L, root, L->lnf, sg->last, sg->lnfbuf, err) ||
                         lower_exec(b, root, sb->rowcs[ROW_LN_F], "ln_f", PHASE_OTHER, err) < 0 ||
                         spread_copy(L, root, sg->last, sg->lasts, err)))
        return -1;
    int sa, sb2;
    char nm[64];
    snprintf(nm, sizeof nm, "%s.lm_head", sb->tag);
    if (lower_linear_build(b, nm, &L->plm, &L->lm, B, sg->lasts, sg->logits, ~0ull, NULL, &sa, &sb2, err) ||
        lower_append(b, root, sa, err) < 0 || lower_append(b, root, sb2, err) < 0 ||
        lower_exec(b, root, sb->rowcs[ROW_ARGMAX], "argmax", PHASE_OTHER, err) < 0)
        return -1;
    return 0;
}

/* The step graph of t rows per sequence from position pos0: its tensors,
 * compute sets and the program under sg->root. */
static int build_step_graph(Lowered *L, StepGraph *sg, uint32_t t, uint32_t pos0, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    uint32_t B = L->opt.batch, C = (uint32_t)L->cfg.n_embd, nl = (uint32_t)L->cfg.n_layer;
    sg->t = t, sg->m = B * t;
    /* row tiles: whole rows of the residual stream (and every row-major activation) on up to every tile */
    sg->nrt = (int)(sg->m < b->usable ? sg->m : b->usable), sg->rt0 = (int)b->cursor;
    b->cursor += (uint32_t)sg->nrt;
    sg->nlrt = (int)(B < b->usable ? B : b->usable), sg->lrt0 = (int)b->cursor;
    b->cursor += (uint32_t)sg->nlrt;
    /* LayerNorm over slice tiles where the planner estimates it faster (few long rows) */
    uint32_t nt1 = lower_ln_plan(b, sg->m, (sg->m + sg->nrt - 1) / sg->nrt, C, NULL);
    uint32_t ntf = lower_ln_plan(b, B, (B + sg->nlrt - 1) / sg->nlrt, C, NULL);
    sg->split_ln1 = nt1 > 0, sg->split_lnf = ntf > 0;
    StepBuild sb = {.L = L, .sg = sg, .tag = t == 1 && L->opt.kv_cache ? "dec" : "pre", .pos0 = pos0,
                    .nset = L->placement == PLACE_STREAM ? L->nsets : (int)nl, .att_shared = -1};
    for (uint32_t c = 0; c < b->chips; c++)
        if (step_tensors(&sb, c, err))
            return -1;
    sg->kv_copy = calloc(nl, sizeof *sg->kv_copy);
    sg->smx_cs = calloc(nl, sizeof *sg->smx_cs);
    sb.la = malloc((size_t)sb.nset * NLIN * 2 * sizeof *sb.la);
    int rc = !sg->kv_copy || !sg->smx_cs || !sb.la ? ipu_err(err, "out of host memory") : 0;
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

/* Query rows per wave of attention (up to 128 and t): a key-block tile's
 * q, scores, probabilities and P V partials, plus its share of the
 * group's softmax rows and reducer partials, within mem_prop of what the
 * always-live tensors (caches, weights) leave on the fullest home tile of
 * chip 0; 0 if not one row fits. */
static uint32_t attn_wave_rows(const Lowered *L, uint32_t t, uint32_t sb, uint32_t nkb, uint32_t ncache, uint32_t homes)
{
    const LowerBuilder *b = &L->b;
    uint64_t cap = sram_capacity_bytes(b->g->sram), used = 0;
    for (uint32_t l = 0; l < ncache; l++)
        for (uint32_t i = 0; i < homes; i++) {
            uint64_t u = sram_tile_used_bytes(b->g->sram, lower_tile(b, 0, L->kv_tile0[l] + i));
            used = u > used ? u : used;
        }
    double budget = used < cap ? (double)(cap - used) * b->mem_prop : 0;
    uint64_t ps = layer_dtype_bytes(L->opt.partials), hd = (uint64_t)L->cfg.head_dim;
    for (uint32_t mqb = t < 128 ? t : 128; mqb >= 1; mqb--) {
        uint64_t share = (mqb + nkb - 1) / nkb;
        uint64_t bytes = (uint64_t)mqb * (sb * (ps + 2) + hd * (2 + ps)) +
                         share * ((uint64_t)nkb * sb * (ps + 2) + (uint64_t)nkb * hd * ps + hd * 2);
        if ((double)bytes <= budget)
            return mqb;
    }
    return 0;
}

/* ---- the whole lowering ---- */

/* The graph, program and builder of one try (arch, mode, codelets,
 * categories, the per-tile code and stack reservations). */
static int lower_setup(Lowered *L, const IpuArch *arch, const GptjWeights *w, double mem_prop, IpuErr *err)
{
    const RunOptions *o = &L->opt;
    LowerBuilder *b = &L->b;
    if (!(b->g = graph_create(arch, w ? GRAPH_FUNCTIONAL : GRAPH_TIMING, err)) || !(b->p = program_create()))
        return -1;
    b->chips = o->chips, b->vchips = w ? o->chips : 1, b->tiles = arch->tiles_per_chip;
    b->usable = arch->tiles_per_chip - arch->io_tiles;
    b->functional = w != NULL, b->partials = o->partials, b->mem_prop = mem_prop;
    if (!(b->dec_memo = calloc(1, sizeof *b->dec_memo)))
        return ipu_err(err, "out of host memory");
    b->matmul_vt = o->partials == LAYER_F16 ? &matmul_amp_f16_vertex : &matmul_amp_f32_vertex;
    const CodeletVariant *dv = codelet_variant_find(&codelet_family_decompress, o->decompress[0] ? o->decompress : NULL, err);
    if (!dv)
        return -1;
    b->decompress_vt = dv->vertex;
    for (int i = 0; i < PHASE_COUNT; i++)
        if (program_category(b->p, run_phase_names[i], err) != i)
            return -1;
    /* reserved per tile: code + vertex state, worker stacks (documented assumptions) */
    for (uint32_t t = 0; t < arch_total_tiles(arch); t++)
        if (sram_alloc(b->g->sram, t, CODE_BYTES_PER_TILE, 8, SRAM_CODE, "code+vertex state", err) < 0 ||
            sram_alloc(b->g->sram, t, STACK_BYTES_PER_TILE, 8, SRAM_STACK, "worker stacks", err) < 0)
            return -1;
    return 0;
}

/* Each layer linear's format and plan for the prefill's rows; the LM head
 * and embedding over the vocabulary shard that plans fastest. */
static int plan_linears(Lowered *L, IpuErr *err)
{
    const RunOptions *o = &L->opt;
    LowerBuilder *b = &L->b;
    uint32_t C = (uint32_t)L->cfg.n_embd, chips = o->chips;
    uint32_t m0 = o->batch * (o->kv_cache ? o->prompt_len : L->s);
    /* with a KV cache the same weights then serve gen_tokens - 1 decode steps of batch rows */
    double decode_steps = o->kv_cache ? (double)o->gen_tokens - 1 : 0;
    uint32_t kin[NLIN] = {C, C, C, L->cc, C, L->ic}, nout[NLIN] = {L->cc, L->cc, L->cc, C, L->ic, C};
    static const char *const hf[NLIN] = {"attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.out_proj", "mlp.fc_in",
                                         "mlp.fc_out"};
    for (int li = 0; li < NLIN; li++) {
        char nm[96];
        snprintf(nm, sizeof nm, "transformer.h.0.%s.weight", hf[li]);
        L->spec[li] = *quant_policy_lookup(&o->policy, nm);
        uint32_t group = 0;
        if (spec_group(&L->spec[li], nm, &group, err) ||
            lower_plan_linear_steps(b, nm, li == LV ? LIN_MATMUL_T : LIN_MATMUL, m0, o->batch, decode_steps, kin[li],
                                    nout[li], group, li == LFI || li == LFO, &L->pl[li], err))
            return -1;
    }
    L->spec_lm = *quant_policy_lookup(&o->policy, "lm_head.weight");
    uint32_t glm = 0;
    if (spec_group(&L->spec_lm, "lm_head.weight", &glm, err))
        return -1;
    /* the vocabulary shard: the smallest multiple of 64 rows >= V / chips, or
     * up to VOCAB_PAD_PERCENT more, whichever gives the fastest LM head +
     * embedding estimate (a shard size with more divisors tiles better) */
    uint32_t vmin = rup(((uint32_t)L->cfg.vocab_size + chips - 1) / chips, 64);
    int found = 0;
    IpuErr e1;
    for (uint32_t vc = vmin; vc <= vmin + vmin * VOCAB_PAD_PERCENT / 100; vc += 64) {
        LinearPlan lm, emb;
        if (lower_plan_linear(b, "lm_head.weight", LIN_MATMUL, o->batch, C, vc, glm, 1, &lm, found ? &e1 : err) ||
            lower_plan_linear(b, "transformer.wte.weight", LIN_GATHER, m0, vc, C, 0, 0, &emb, found ? &e1 : err))
            continue;
        if (!found || lm.est_cycles + emb.est_cycles < L->plm.est_cycles + L->pemb.est_cycles)
            L->plm = lm, L->pemb = emb, L->vc = vc, found = 1;
    }
    if (!found)
        return -1;
    L->vp = L->vc * chips;
    return 0;
}

/* The weights: embedding and LM head resident, the layers' linears
 * resident (a set per layer) or in per-layer remote buffers streamed into
 * one or two sets; the int4 decompress scratch; the LayerNorm parameters. */
static int alloc_weights(Lowered *L, IpuErr *err)
{
    const RunOptions *o = &L->opt;
    LowerBuilder *b = &L->b;
    uint32_t chips = o->chips, C = (uint32_t)L->cfg.n_embd, nl = (uint32_t)L->cfg.n_layer;
    L->pemb.tile0 = b->cursor, b->cursor += L->pemb.nb * L->pemb.kb;
    L->plm.tile0 = b->cursor, b->cursor += L->plm.nb * L->plm.kb;
    /* one decompress scratch for every int4 linear (all sets and layers): the largest block */
    uint64_t pool = L->plm.group ? (uint64_t)L->plm.nblk * L->plm.kblk : 0;
    for (int li = 0; li < NLIN; li++)
        if (L->pl[li].group && (uint64_t)L->pl[li].nblk * L->pl[li].kblk > pool)
            pool = (uint64_t)L->pl[li].nblk * L->pl[li].kblk;
    if ((pool && lower_dec_pool(b, pool, err)) ||
        lower_linear_alloc_weights(b, "wte", &L->pemb, SRAM_WEIGHTS, &L->emb, err) ||
        lower_linear_alloc_weights(b, "lm_head", &L->plm, SRAM_WEIGHTS, &L->lm, err))
        return -1;
    L->weight_bytes = chips * (lower_linear_weight_bytes(&L->pemb) + lower_linear_weight_bytes(&L->plm));
    L->nsets = L->placement == PLACE_STREAM ? (o->overlap ? 2 : 1) : (int)nl;
    L->lw = calloc((size_t)L->nsets * NLIN, sizeof *L->lw);
    L->tile0 = calloc((size_t)L->nsets * NLIN, sizeof *L->tile0);
    L->ln1 = calloc((size_t)nl * chips, sizeof *L->ln1);
    L->remote = calloc((size_t)nl * chips, sizeof *L->remote);
    if (!L->lw || !L->tile0 || !L->ln1 || !L->remote)
        return ipu_err(err, "out of host memory");
    uint64_t layer_bytes = 0;
    for (int li = 0; li < NLIN; li++)
        layer_bytes += lower_linear_weight_bytes(&L->pl[li]);
    L->weight_bytes += (uint64_t)chips * nl * layer_bytes;
    char nm[64];
    for (int s = 0; s < L->nsets; s++)
        for (int li = 0; li < NLIN; li++) {
            /* every set (stream buffer sets, resident layers) of a linear lies on the same
             * tiles, so they share one int4 scratch and the activation buffers */
            if (s == 0)
                L->pl[li].tile0 = b->cursor, b->cursor += L->pl[li].nb * L->pl[li].kb;
            L->tile0[s * NLIN + li] = L->pl[li].tile0;
            snprintf(nm, sizeof nm, "%s%d.%s", L->placement == PLACE_STREAM ? "set" : "layer", s, lower_lin_names[li]);
            if (lower_linear_alloc_weights(b, nm, &L->pl[li], SRAM_WEIGHTS, &L->lw[s * NLIN + li], err))
                return -1;
        }
    for (uint32_t l = 0; l < nl; l++)
        for (uint32_t c = 0; c < chips; c++) {
            snprintf(nm, sizeof nm, "layer%u.ln_1.%u", l, c);
            if ((L->ln1[l * chips + c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, 1, 2 * C, b->cursor + l, SRAM_WEIGHTS,
                                                             err)) < 0)
                return -1;
            snprintf(nm, sizeof nm, "layer%u.weights.%u", l, c);
            if (L->placement == PLACE_STREAM && (L->remote[l * chips + c] = graph_add_remote(b->g, nm, c, layer_bytes, err)) < 0)
                return -1;
        }
    for (uint32_t c = 0; c < chips; c++) {
        snprintf(nm, sizeof nm, "ln_f.%u", c);
        if ((L->lnf[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, 1, 2 * C, b->cursor + nl, SRAM_WEIGHTS, err)) < 0)
            return -1;
    }
    b->cursor += nl + 1;
    return 0;
}

/* The KV caches (each layer's on its own home tiles), or without a cache
 * one scratch for every layer, and the attention plans of both step graphs. */
static int alloc_caches(Lowered *L, IpuErr *err)
{
    const RunOptions *o = &L->opt;
    LowerBuilder *b = &L->b;
    uint32_t chips = o->chips, nl = (uint32_t)L->cfg.n_layer, hd = (uint32_t)L->cfg.head_dim;
    uint32_t sb = L->s < 64 ? rup(L->s, 16) : 64, nkb = rup(L->s, sb) / sb;
    uint32_t t0 = o->kv_cache ? o->prompt_len : L->s, homes = o->batch * L->hc * nkb, ncache = o->kv_cache ? nl : 1;
    L->kc = calloc((size_t)ncache * chips, sizeof *L->kc);
    L->vtc = calloc((size_t)ncache * chips, sizeof *L->vtc);
    L->kv_tile0 = calloc(ncache, sizeof *L->kv_tile0);
    if (!L->kc || !L->vtc || !L->kv_tile0)
        return ipu_err(err, "out of host memory");
    for (uint32_t l = 0; l < ncache; l++) {
        L->kv_tile0[l] = b->cursor, b->cursor += homes;
        AttnPlan cp = {o->batch, t0, L->hc, hd, nkb * sb, sb, nkb, 0, 0, L->kv_tile0[l]};
        char nm[64];
        snprintf(nm, sizeof nm, "layer%u.kv", l);
        if (lower_attn_cache(b, nm, &cp, o->kv_cache ? SRAM_KV_CACHE : SRAM_ACTIVATIONS, &L->kc[l * chips],
                             &L->vtc[l * chips], err))
            return -1;
        /* Without a cache the scratch is rewritten each layer, but only for the
         * positions of the run: the padding keys past seq_len are read (masked
         * scores, zero probabilities times V) and must stay the zeros they
         * start as, so the scratch keeps its bytes (one set, shared by the layers). */
        for (uint32_t c = 0; !o->kv_cache && c < chips; c++) {
            graph_tensor_set_always_live(b->g, L->kc[l * chips + c], 1);
            graph_tensor_set_always_live(b->g, L->vtc[l * chips + c], 1);
        }
    }
    uint32_t mqb = attn_wave_rows(L, t0, sb, nkb, ncache, homes);
    if (!mqb)
        return ipu_err(err, "attention: not one query row's buffers fit %.3g of what the KV caches and weights leave "
                            "on the key-block tiles",
                       b->mem_prop);
    L->sg[0].ap = (AttnPlan){o->batch, t0, L->hc, hd, nkb * sb, sb, nkb, mqb, (t0 + mqb - 1) / mqb, L->kv_tile0[0]};
    L->sg[1].ap = (AttnPlan){o->batch, 1, L->hc, hd, nkb * sb, sb, nkb, 1, 1, L->kv_tile0[0]};
    L->kv_bytes = o->kv_cache ? (uint64_t)chips * nl * o->batch * L->hc * nkb * sb * hd * 4 : 0;
    return 0;
}

/* One lowering with the weights placed `place` and the linears planning
 * for mem_prop: plans, weights, caches, the step graphs, the memory layout
 * of their programs, and in functional mode the weights' bytes. */
static int lower_try(const IpuArch *arch, const RunOptions *o, const GptjWeights *w, Placement place, double mem_prop,
                     Lowered **out, IpuErr *err)
{
    Lowered *L = calloc(1, sizeof *L);
    if (!L)
        return ipu_err(err, "out of host memory");
    *out = L;
    L->opt = *o, L->cfg = o->cfg, L->placement = place;
    L->hc = (uint32_t)L->cfg.n_head / o->chips, L->cc = L->hc * (uint32_t)L->cfg.head_dim;
    L->ic = (uint32_t)L->cfg.n_inner / o->chips;
    L->s = o->seq_len ? o->seq_len : o->prompt_len + o->gen_tokens;
    if (lower_setup(L, arch, w, mem_prop, err) || plan_linears(L, err) || alloc_weights(L, err) ||
        alloc_caches(L, err))
        return -1;
    L->nsg = o->kv_cache ? 2 : 1;
    for (int i = 0; i < L->nsg; i++)
        if (build_step_graph(L, &L->sg[i], i ? 1 : L->sg[0].ap.t, i ? o->prompt_len : 0, err))
            return -1;
    /* tile memory with lifetimes over the prefill then the decode program; timing mode
     * lays out chip 0 (the chips it builds; the others mirror it) */
    int roots[2] = {L->sg[0].root, L->sg[L->nsg - 1].root};
    if (layout_graph(L->b.g, L->b.p, roots, (size_t)L->nsg, L->b.vchips, err))
        return -1;
    if (lower_uses_ok(&L->b, err)) /* a declaration after the last vertex of a set */
        return -1;
    return w ? lower_write_weights(L, w, err) : 0;
}

static int validate_opts(const IpuArch *a, const RunOptions *o, const GptjWeights *w, IpuErr *err)
{
    const GptjConfig *c = &o->cfg;
    if (gptj_config_validate(c, c->name, err))
        return -1;
    if (o->chips < 1 || o->chips > LOWER_MAX_CHIPS || o->chips > a->chips)
        return ipu_err(err, "chips %u: must be 1..%u (the arch has %u chips)", o->chips,
                       a->chips < LOWER_MAX_CHIPS ? a->chips : LOWER_MAX_CHIPS, a->chips);
    if (c->n_head % o->chips)
        return ipu_err(err, "chips %u does not divide n_head %d (heads are split between chips)", o->chips, c->n_head);
    if (c->n_inner % o->chips)
        return ipu_err(err, "chips %u does not divide n_inner %d", o->chips, c->n_inner);
    if (o->batch < 1 || o->prompt_len < 1 || o->gen_tokens < 1)
        return ipu_err(err, "batch, prompt_len and gen_tokens must be >= 1 (got %u, %u, %u)", o->batch, o->prompt_len,
                       o->gen_tokens);
    uint32_t s = o->seq_len ? o->seq_len : o->prompt_len + o->gen_tokens;
    if (o->prompt_len > s)
        return ipu_err(err, "prompt_len %u is longer than the sequence (seq_len %u)", o->prompt_len, s);
    if (o->prompt_len + o->gen_tokens - 1 > s)
        return ipu_err(err, "prompt_len %u + gen_tokens %u - 1 positions exceed seq_len %u", o->prompt_len,
                       o->gen_tokens, s);
    if ((int)s > c->n_positions)
        return ipu_err(err, "sequence length %u exceeds the model's context %d", s, c->n_positions);
    if (c->n_embd % 4 || c->head_dim % 16 || c->rotary_dim % 2)
        return ipu_err(err, "n_embd %d must be a multiple of 4 and head_dim %d of 16 for the tile codelets", c->n_embd,
                       c->head_dim);
    if (w && (w->cfg.n_layer != c->n_layer || w->cfg.n_embd != c->n_embd || w->cfg.vocab_size != c->vocab_size))
        return ipu_err(err, "weights (%s) do not match the config (%s)", w->cfg.name, c->name);
    return 0;
}

/* Out of tile memory, the linears' temporaries plan for half as much, up to
 * LOWER_MEMORY_RETRIES times (what a Poplar user does with
 * availableMemoryProportion); the first error is the one reported. */
#define LOWER_MEMORY_RETRIES 3

static int lower_fit(const IpuArch *arch, const RunOptions *o, const GptjWeights *w, Placement place, Lowered **out,
                     IpuErr *err)
{
    double prop = o->memory_proportion > 0 ? o->memory_proportion : LOWER_MEMORY_PROPORTION;
    IpuErr first;
    for (int i = 0; i <= LOWER_MEMORY_RETRIES; i++, prop /= 2) {
        Lowered *L = NULL;
        IpuErr e;
        if (!lower_try(arch, o, w, place, prop, &L, &e)) {
            *out = L;
            return 0;
        }
        lower_destroy(L);
        if (i == 0)
            first = e;
        if (!strstr(e.msg, "out of tile memory") && !strstr(e.msg, "no row of activations"))
            break;
    }
    *err = first;
    return -1;
}

int lower_gptj(const IpuArch *arch, const RunOptions *opt, const GptjWeights *w, Lowered **out, IpuErr *err)
{
    *out = NULL;
    if (validate_opts(arch, opt, w, err))
        return -1;
    Lowered *L = NULL;
    if (opt->placement != PLACE_STREAM) {
        IpuErr e1;
        if (!lower_fit(arch, opt, w, PLACE_RESIDENT, &L, &e1)) {
            *out = L;
            return 0;
        }
        if (opt->placement == PLACE_RESIDENT) {
            *err = e1;
            return ipu_err_prefix(err, "resident weights do not fit");
        }
    }
    if (lower_fit(arch, opt, w, PLACE_STREAM, &L, err))
        return ipu_err_prefix(err, "the graph does not fit even with streamed weights");
    *out = L;
    return 0;
}
