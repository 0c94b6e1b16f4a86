/* io.c - functional weights into the lowered graph, per-step token
 * ids and positions, and reading tokens and logits back (see lower.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/rotary.h"
#include "codelets/softmax.h"
#include "host/lower/model.h"

/* ---- functional weights ---- */

/* A growable fp32 scratch: every matrix is made once into the same
 * buffer (for all chips), not once per chip into fresh memory. */
typedef struct {
    float *f;
    uint64_t cap;
} F32Buf;

/* Matrix tensor index (rows, cols) as fp32: its storage when the weights
 * are stored fp32, else made in b by gptj_weights_rows (fp16, or lazy
 * weights: synthetic or in a checkpoint); NULL on no host memory. */
static const float *matrix_f32(const GptjWeights *w, int index, uint64_t rows, uint64_t cols, F32Buf *b)
{
    const float *stored = w->wdtype == GPTJ_F32 ? gptj_weights_tensor(w, index) : NULL;
    if (stored)
        return stored;
    uint64_t n = rows * cols;
    if (n > b->cap) {
        free(b->f);
        b->f = malloc((n ? n : 1) * sizeof *b->f);
        b->cap = b->f ? n : 0;
        if (!b->f)
            return NULL;
    }
    gptj_weights_rows(w, index, 0, (int64_t)rows, 0, (int64_t)cols, b->f, (int64_t)cols);
    return b->f;
}

static int write_small(Lowered *L, int id, const float *gain, const float *bias, uint32_t C, IpuErr *err)
{
    uint16_t *buf = malloc(2 * C * sizeof *buf);
    if (!buf)
        return ipu_err(err, "out of host memory");
    for (uint32_t i = 0; i < C; i++)
        buf[i] = fp16_from_f32(gain[i]), buf[C + i] = fp16_from_f32(bias[i]);
    int rc = graph_tensor_write(L->b.g, id, 0, buf, 2 * C, err);
    free(buf);
    return rc;
}

/* Where one chip's tensors of w go: the tensors themselves (resident), or
 * consecutive bytes from *off of the chip's layer buffer remote (stream). */
static void pack_dst(Lowered *L, const LinearWeights *w, uint32_t c, int remote, uint64_t *off, void *dst[4])
{
    Graph *g = L->b.g;
    int ids[4] = {w->w[c], w->scale[c], w->bias_q[c], w->bias[c]};
    char *rb = remote >= 0 ? graph_remote_data(g, remote) : NULL;
    for (int q = 0; q < 4; q++) {
        dst[q] = NULL;
        if (ids[q] < 0)
            continue;
        const Tensor *t = graph_tensor(g, ids[q]);
        if (rb) {
            dst[q] = rb + *off;
            *off += t->elems * graph_dtype_bytes(t->dtype);
        } else {
            dst[q] = graph_tensor_data(g, ids[q]);
        }
    }
}

/* Quantizes the whole matrix m (rows, cols) in spec, once for every chip. */
static int quantize_whole(const QuantSpec *spec, const char *name, const float *m, uint64_t rows, uint64_t cols,
                          QuantTensor *qt, IpuErr *err)
{
    if (!m)
        return ipu_err(err, "out of host memory");
    return quant_tensor(spec, name, m, (int64_t)rows, (int64_t)cols, qt, err);
}

/* The embedding (fp16 rows) and the LM head (its format) of every chip. */
static int write_vocab(Lowered *L, const GptjWeights *w, F32Buf *buf, uint64_t *off, IpuErr *err)
{
    uint32_t C = (uint32_t)L->cfg.n_embd, V = (uint32_t)L->cfg.vocab_size;
    const float *m = matrix_f32(w, 0, V, C, buf);
    if (!m)
        return ipu_err(err, "out of host memory");
    for (uint32_t c = 0; c < L->b.chips; c++) {
        uint32_t r0 = c * L->vc, valid = r0 >= V ? 0 : (V - r0 < L->vc ? V - r0 : L->vc);
        lower_gather_pack(&L->pemb, m + (uint64_t)r0 * C, C, valid, graph_tensor_data(L->b.g, L->emb.w[c]));
    }
    QuantTensor qt;
    int lm_index = gptj_tensor_count(&L->cfg) - 2;
    if (quantize_whole(&L->spec_lm, "lm_head.weight", matrix_f32(w, lm_index, V, C, buf), V, C, &qt, err))
        return -1;
    int rc = 0;
    for (uint32_t c = 0; c < L->b.chips && !rc; c++) {
        uint32_t r0 = c * L->vc, valid = r0 >= V ? 0 : (V - r0 < L->vc ? V - r0 : L->vc);
        void *dst[4];
        pack_dst(L, &L->lm, c, -1, &off[c], dst);
        rc = lower_linear_pack(&L->plm, &qt, r0 < V ? r0 : 0, 0, valid, w->lm_head_b + (r0 < V ? r0 : 0), 1, dst[0],
                               dst[1], dst[2], dst[3], err);
    }
    quant_tensor_free(&qt);
    return rc;
}

/* Layer l's linear li of every chip: the chip's rows (q, k, v, fc_in) or
 * columns (out_proj, fc_out) of the matrix quantized whole. */
static int write_linear(Lowered *L, const GptjWeights *w, int l, int li, F32Buf *buf, uint64_t *off, IpuErr *err)
{
    uint32_t C = (uint32_t)L->cfg.n_embd, I = (uint32_t)L->cfg.n_inner;
    const GptjLayerWeights *lw = &w->h[l];
    /* a layer's matrices in the tensor table, after its ln_1 weight and bias: q k v out fc_in (fc_in bias) fc_out */
    static const int table_at[NLIN] = {2, 3, 4, 5, 6, 8};
    uint64_t rows[NLIN] = {C, C, C, C, I, C}, cols[NLIN] = {C, C, C, C, C, I};
    char nm[96];
    snprintf(nm, sizeof nm, "transformer.h.%d.%s", l, lower_lin_names[li]);
    QuantTensor qt;
    const float *m = matrix_f32(w, 1 + 10 * l + table_at[li], rows[li], cols[li], buf);
    if (quantize_whole(&L->spec[li], nm, m, rows[li], cols[li], &qt, err))
        return -1;
    const LinearWeights *set = L->placement == PLACE_STREAM ? L->lw : &L->lw[l * NLIN];
    int rc = 0;
    for (uint32_t c = 0; c < L->b.chips && !rc; c++) {
        uint64_t r0 = 0, c0 = 0;
        const float *bias = NULL;
        if (li <= LV)
            r0 = (uint64_t)c * L->cc;
        else if (li == LO)
            c0 = (uint64_t)c * L->cc;
        else if (li == LFI)
            r0 = (uint64_t)c * L->ic, bias = lw->fc_in_b + c * L->ic;
        else
            c0 = (uint64_t)c * L->ic, bias = lw->fc_out_b;
        void *dst[4];
        pack_dst(L, &set[li], c, L->placement == PLACE_STREAM ? L->remote[l * L->b.chips + c] : -1, &off[c], dst);
        rc = lower_linear_pack(&L->pl[li], &qt, r0, c0, L->pl[li].n, bias, 0, dst[0], dst[1], dst[2], dst[3], err);
    }
    quant_tensor_free(&qt);
    return rc;
}

int lower_write_weights(Lowered *L, const GptjWeights *w, IpuErr *err)
{
    uint32_t C = (uint32_t)L->cfg.n_embd, chips = L->b.chips;
    F32Buf buf = {NULL, 0};
    uint64_t *off = calloc(chips, sizeof *off); /* per chip: bytes packed into this layer's remote buffer */
    int rc = off ? 0 : ipu_err(err, "out of host memory");
    for (uint32_t c = 0; c < chips && !rc; c++)
        rc = write_small(L, L->lnf[c], w->ln_f_w, w->ln_f_b, C, err);
    if (!rc)
        rc = write_vocab(L, w, &buf, off, err);
    for (int l = 0; l < L->cfg.n_layer && !rc; l++) {
        for (uint32_t c = 0; c < chips && !rc; c++) {
            rc = write_small(L, L->ln1[l * chips + c], w->h[l].ln_1_w, w->h[l].ln_1_b, C, err);
            off[c] = 0;
        }
        /* linear by linear, then chip by chip: each chip's remote buffer holds its linears in order */
        for (int li = 0; li < NLIN && !rc; li++)
            rc = write_linear(L, w, l, li, &buf, off, err);
    }
    free(buf.f);
    free(off);
    return rc;
}

/* ---- per step ---- */

static int write_rotary(Lowered *L, StepGraph *sg, uint32_t pos0, IpuErr *err)
{
    if (!L->b.functional)
        return 0;
    uint32_t rd = (uint32_t)L->cfg.rotary_dim;
    float *tab = malloc((size_t)sg->t * rd * 2 * sizeof *tab);
    if (!tab)
        return ipu_err(err, "out of host memory");
    rotary_table_ref(tab, pos0, sg->t, rd);
    int rc = 0;
    for (uint32_t c = 0; c < L->b.chips && !rc; c++)
        for (uint32_t s = 0; s < L->opt.batch && !rc; s++)
            rc = graph_tensor_write(L->b.g, sg->rot[c], (uint64_t)s * sg->t * rd * 2, tab, (uint64_t)sg->t * rd * 2, err);
    free(tab);
    return rc;
}

static int write_ids(Lowered *L, StepGraph *sg, const uint32_t *ids, IpuErr *err)
{
    for (uint32_t c = 0; c < L->b.chips; c++)
        if (L->b.functional && graph_tensor_write(L->b.g, sg->ids[c], 0, ids, sg->m, err))
            return -1;
    return 0;
}

/* KV off: the head reads row pos of every sequence. Each pair starts at
 * row (s * t + old pos) of some sequence s (program_copy_add may have
 * merged the sequences of a chip into one pair of B runs of stride t * C). */
static void select_row(Lowered *L, StepGraph *sg, uint32_t pos)
{
    uint64_t C = (uint64_t)L->cfg.n_embd, seq = (uint64_t)sg->t * C;
    Step *st = &L->b.p->steps[sg->select_copy];
    for (size_t i = 0; i < st->npairs; i++) {
        IPU_ASSERT(st->pairs[i].rows == 1 || st->pairs[i].src_stride == seq);
        st->pairs[i].src_first = st->pairs[i].src_first / seq * seq + pos * C;
    }
}

int lower_prepare_prefill(Lowered *L, const uint32_t *prompt, IpuErr *err)
{
    StepGraph *sg = &L->sg[0];
    L->b.p->root = sg->root;
    uint32_t B = L->opt.batch, P = L->opt.prompt_len;
    uint32_t *ids = calloc(sg->m, sizeof *ids);
    if (!ids)
        return ipu_err(err, "out of host memory");
    for (uint32_t s = 0; s < B; s++)
        for (uint32_t t = 0; t < P; t++)
            ids[s * sg->t + t] = prompt ? prompt[s * P + t] : 0;
    int rc = write_ids(L, sg, ids, err) || write_rotary(L, sg, 0, err);
    free(ids);
    L->pos = P - 1;
    if (!L->opt.kv_cache && sg->hrows == 1)
        select_row(L, sg, P - 1);
    return rc ? -1 : 0;
}

int lower_prepare_decode(Lowered *L, uint32_t pos, const uint32_t *tokens, IpuErr *err)
{
    LowerBuilder *b = &L->b;
    uint32_t B = L->opt.batch;
    L->pos = pos;
    if (!L->opt.kv_cache) {
        /* one static program: the token goes into the padded sequence at pos, the head reads row pos */
        StepGraph *sg = &L->sg[0];
        b->p->root = sg->root;
        for (uint32_t c = 0; c < b->chips && tokens && b->functional; c++)
            for (uint32_t s = 0; s < B; s++)
                if (graph_tensor_write(b->g, sg->ids[c], (uint64_t)s * sg->t + pos, &tokens[s], 1, err))
                    return -1;
        if (sg->hrows == 1)
            select_row(L, sg, pos);
        return 0;
    }
    StepGraph *sg = &L->sg[1];
    b->p->root = sg->root;
    if ((tokens && write_ids(L, sg, tokens, err)) || write_rotary(L, sg, pos, err))
        return -1;
    /* host backdoor on the static program: the Copy writing the new key and
     * value goes to slot pos, the softmax's query position is pos */
    for (int l = 0; l < L->cfg.n_layer; l++) {
        if (lower_attn_kv_pairs(b, sg->kv_copy[l], &sg->ap, &L->kc[l * b->chips], &L->vtc[l * b->chips],
                                &L->kaux[(size_t)l * b->chips * 4], &sg->kvstage[(size_t)l * b->chips * LOWER_KV_STAGE],
                                sg->k, sg->vt,
                                pos, err))
            return -1;
        const ComputeSet *cs = graph_compute_set(b->g, sg->smx_cs[l]);
        for (size_t i = 0; i < cs->count; i++)
            ((SoftmaxArgs *)cs->v[i].args)->pos0 = pos;
    }
    return 0;
}

static StepGraph *run_graph(Lowered *L, int decode) { return decode && L->opt.kv_cache ? &L->sg[1] : &L->sg[0]; }

/* The head row (of the logits, the argmax) of sequence s at position pos:
 * its only row, or row pos of its every position's rows. */
static uint64_t head_row(const StepGraph *sg, uint32_t s, uint32_t pos)
{
    return (uint64_t)s * sg->hrows + (sg->hrows == 1 ? 0 : pos);
}

int lower_read_tokens(Lowered *L, int decode, uint32_t *tokens, IpuErr *err)
{
    StepGraph *sg = run_graph(L, decode);
    for (uint32_t s = 0; s < L->opt.batch; s++) {
        float best = 0;
        uint64_t r = head_row(sg, s, L->pos);
        for (uint32_t c = 0; c < L->b.chips; c++) {
            uint32_t id;
            float v;
            if (graph_tensor_read(L->b.g, sg->aidx[c], r, &id, 1, err) || graph_tensor_read(L->b.g, sg->aval[c], r, &v, 1, err))
                return -1;
            if (c == 0 || v > best) /* ties keep the lower chip's (lower) id */
                best = v, tokens[s] = id;
        }
    }
    return 0;
}

int lower_read_logits_at(Lowered *L, int decode, uint32_t first, uint32_t n, float *logits, uint64_t seq_stride,
                         IpuErr *err)
{
    StepGraph *sg = run_graph(L, decode);
    uint32_t V = (uint32_t)L->cfg.vocab_size;
    if (sg->hrows == 1 ? first != L->pos || n != 1 : first > L->pos || n > L->pos + 1 - first)
        return ipu_err(err, "lower_read_logits_at: positions %u..%u were not run through the LM head (the last "
                            "step's last position is %u; every position's needs RunOptions.logits = all)",
                       first, first + n - 1, L->pos);
    uint16_t *row = malloc(L->vc * sizeof *row);
    if (!row)
        return ipu_err(err, "out of host memory");
    int rc = 0;
    for (uint32_t s = 0; s < L->opt.batch && !rc; s++)
        for (uint32_t i = 0; i < n && !rc; i++) {
            float *dst = logits + s * seq_stride + (uint64_t)i * V;
            for (uint32_t c = 0; c < L->b.chips && !rc; c++) {
                rc = graph_tensor_read(L->b.g, sg->logits[c], head_row(sg, s, first + i) * L->vc, row, L->vc, err);
                for (uint32_t k = 0; k < L->vc && c * L->vc + k < V; k++)
                    dst[c * L->vc + k] = fp16_to_f32(row[k]);
            }
        }
    free(row);
    return rc;
}

int lower_read_logits(Lowered *L, int decode, float *logits, IpuErr *err)
{
    return lower_read_logits_at(L, decode, L->pos, 1, logits, (uint64_t)L->cfg.vocab_size, err);
}
