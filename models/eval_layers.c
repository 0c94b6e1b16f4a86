/* eval_layers.c - the reference forward under several formats, layer by layer (see eval_layers.h). */
#include "models/eval_layers.h"

#include <stdlib.h>
#include <string.h>

#include "models/gptj_forward.h"

/* A block's tensors in table order (gptj_tensor_info): ln_1 w, b, q, k, v, out, fc_in w, b, fc_out w, b. */
#define LAYER_TENSORS 10

static int layer_index(int l, int j) { return 1 + LAYER_TENSORS * l + j; }
/* k: ln_f w, b, lm_head w, b */
static int head_index(const GptjConfig *c, int k) { return 1 + LAYER_TENSORS * c->n_layer + k; }

static void shape_of(const GptjTensorInfo *t, int64_t *rows, int64_t *cols)
{
    *rows = t->ndim == 2 ? t->shape[0] : 1;
    *cols = t->ndim == 2 ? t->shape[1] : t->shape[0];
}

static size_t layer_floats(const GptjConfig *c)
{
    size_t C = (size_t)c->n_embd, I = (size_t)c->n_inner;
    return 4 * C * C + 2 * C * I + 3 * C + I;
}

/* lw's pointers into slab, a layer's tensors in table order. */
static void layer_view(const GptjConfig *c, float *slab, GptjLayerWeights *lw)
{
    void **p[LAYER_TENSORS] = {(void **)&lw->ln_1_w, (void **)&lw->ln_1_b, &lw->q_proj, &lw->k_proj,
                               &lw->v_proj, &lw->out_proj, &lw->fc_in, (void **)&lw->fc_in_b,
                               &lw->fc_out, (void **)&lw->fc_out_b};
    size_t off = 0;
    for (int j = 0; j < LAYER_TENSORS; j++) {
        GptjTensorInfo t;
        gptj_tensor_info(c, layer_index(0, j), &t);
        *p[j] = slab + off;
        off += gptj_tensor_elems(&t);
    }
}

/* Rows [r0, r0 + n) of matrix tensor index as fp32, ld = its columns. */
static void read_rows(const GptjWeights *w, int index, int64_t r0, int64_t n, float *dst)
{
    GptjTensorInfo t;
    gptj_tensor_info(&w->cfg, index, &t);
    gptj_weights_rows(w, index, r0, n, 0, t.shape[1], dst, t.shape[1]);
}

/* Any tensor whole, as fp32. */
static void read_tensor(const GptjWeights *w, int index, float *dst)
{
    GptjTensorInfo t;
    gptj_tensor_info(&w->cfg, index, &t);
    if (t.kind == GPTJ_MATRIX)
        read_rows(w, index, 0, t.shape[0], dst);
    else
        memcpy(dst, gptj_weights_tensor(w, index), gptj_tensor_elems(&t) * sizeof *dst);
}

void eval_layers_free(EvalLayers *h)
{
    if (!h)
        return;
    free(h->x);
    free(h->kc);
    free(h->vc);
    free(h->block_buf);
    free(h->src_layer);
    free(h->deq_layer);
    free(h->rows_src);
    free(h->rows_deq);
    free(h->rows_out);
    free(h->bias);
    for (int f = 0; f < EVAL_MAX_FORMATS; f++)
        free(h->whole[f][0]), free(h->whole[f][1]);
    memset(h, 0, sizeof *h);
}

int eval_layers_init(EvalLayers *h, const GptjWeights *src, const QuantSpec *specs, int nf, int max_p, IpuErr *e)
{
    memset(h, 0, sizeof *h);
    const GptjConfig *c = &src->cfg;
    if (nf < 1 || nf > EVAL_MAX_FORMATS)
        return ipu_err(e, "eval: %d formats, expected 1..%d", nf, EVAL_MAX_FORMATS);
    if (max_p < 1 || max_p > c->n_positions)
        return ipu_err(e, "eval: a window of %d positions, expected 1..%d (n_positions of %s)", max_p,
                       c->n_positions, c->name);
    h->src = src, h->nf = nf, h->max_p = max_p, h->rows = EVAL_LAYERS_ROWS;
    for (int f = 0; f < nf; f++)
        h->spec[f] = specs[f], eval_policy(&h->policy[f], &specs[f]);
    size_t C = (size_t)c->n_embd, P = (size_t)max_p, R = EVAL_LAYERS_ROWS;
    h->x = malloc((size_t)nf * P * C * sizeof(float));
    h->kc = malloc(P * C * sizeof(float));
    h->vc = malloc(P * C * sizeof(float));
    h->block_buf = malloc(gptj_block_buf_floats(c, max_p) * sizeof(float));
    h->src_layer = malloc(layer_floats(c) * sizeof(float));
    h->deq_layer = malloc(layer_floats(c) * sizeof(float));
    h->rows_src = malloc(R * C * sizeof(float));
    h->rows_deq = malloc(R * C * sizeof(float));
    h->rows_out = malloc(P * R * sizeof(float));
    h->bias = malloc((size_t)nf * (size_t)c->vocab_size * sizeof(float));
    if (!h->x || !h->kc || !h->vc || !h->block_buf || !h->src_layer || !h->deq_layer || !h->rows_src ||
        !h->rows_deq || !h->rows_out || !h->bias) {
        eval_layers_free(h);
        return ipu_err(e, "eval: out of memory for one layer of %s in fp32 and %d formats' states", c->name, nf);
    }
    return 0;
}

/* The round trip of all of tensor index (embedding 0, LM head 1) under
 * format f, kept: for specs that are not row-local. */
static int whole_round_trip(EvalLayers *h, int f, int which, IpuErr *e)
{
    if (h->whole[f][which])
        return 0;
    const GptjConfig *c = &h->src->cfg;
    int index = which ? head_index(c, 2) : 0;
    GptjTensorInfo t;
    gptj_tensor_info(c, index, &t);
    size_t n = (size_t)gptj_tensor_elems(&t);
    float *s = malloc(n * sizeof *s), *d = malloc(n * sizeof *d);
    int rv = s && d ? 0 : ipu_err(e, "%s: out of memory for its whole round trip in fp32", t.name);
    if (!rv) {
        read_tensor(h->src, index, s);
        rv = eval_round_trip(quant_policy_lookup(&h->policy[f], t.name), t.name, s, t.shape[0], t.shape[1], d,
                             h->measured ? NULL : &h->wsums[f], e);
    }
    free(s);
    if (rv)
        free(d);
    else
        h->whole[f][which] = d;
    return rv;
}

/* First call: the error of every row-local format's embedding, window by
 * window in row order (the others' is measured by whole_round_trip). */
static int measure_embedding(EvalLayers *h, IpuErr *e)
{
    const GptjConfig *c = &h->src->cfg;
    const char *name = "transformer.wte.weight";
    for (int64_t r0 = 0; r0 < c->vocab_size; r0 += h->rows) {
        int64_t n = c->vocab_size - r0 < h->rows ? c->vocab_size - r0 : h->rows;
        read_rows(h->src, 0, r0, n, h->rows_src);
        for (int f = 0; f < h->nf; f++) {
            const QuantSpec *s = quant_policy_lookup(&h->policy[f], name);
            if (quant_spec_row_local(s) &&
                eval_round_trip(s, name, h->rows_src, n, c->n_embd, h->rows_deq, &h->wsums[f], e))
                return -1;
        }
    }
    return 0;
}

/* x[f] = the tokens' rows of format f's embedding. */
static int embed(EvalLayers *h, const int *tok, int P, IpuErr *e)
{
    const GptjConfig *c = &h->src->cfg;
    const char *name = "transformer.wte.weight";
    size_t C = (size_t)c->n_embd;
    if (!h->measured && measure_embedding(h, e))
        return -1;
    for (int f = 0; f < h->nf; f++) {
        const QuantSpec *s = quant_policy_lookup(&h->policy[f], name);
        float *x = h->x + (size_t)f * h->max_p * C;
        if (!quant_spec_row_local(s) && whole_round_trip(h, f, 0, e))
            return -1;
        for (int p = 0; p < P; p++) {
            if (h->whole[f][0]) {
                memcpy(x + p * C, h->whole[f][0] + (size_t)tok[p] * C, C * sizeof *x);
                continue;
            }
            read_rows(h->src, 0, tok[p], 1, h->rows_src);
            if (eval_round_trip(s, name, h->rows_src, 1, c->n_embd, x + p * C, NULL, e))
                return -1;
        }
    }
    return 0;
}

/* Layer l for every format: its tensors read once, round-tripped per format. */
static int run_layer(EvalLayers *h, int l, int P, IpuErr *e)
{
    const GptjConfig *c = &h->src->cfg;
    size_t off[LAYER_TENSORS + 1] = {0};
    GptjTensorInfo t[LAYER_TENSORS];
    for (int j = 0; j < LAYER_TENSORS; j++) {
        gptj_tensor_info(c, layer_index(l, j), &t[j]);
        read_tensor(h->src, layer_index(l, j), h->src_layer + off[j]);
        off[j + 1] = off[j] + gptj_tensor_elems(&t[j]);
    }
    GptjLayerWeights lw;
    layer_view(c, h->deq_layer, &lw);
    GptjBlockShape sh = {1, P, 0, h->max_p, NULL, NULL};
    for (int f = 0; f < h->nf; f++) {
        for (int j = 0; j < LAYER_TENSORS; j++) {
            int64_t rows, cols;
            shape_of(&t[j], &rows, &cols);
            EvalWeightSums *sums = !h->measured && t[j].kind == GPTJ_MATRIX ? &h->wsums[f] : NULL;
            if (eval_round_trip(quant_policy_lookup(&h->policy[f], t[j].name), t[j].name, h->src_layer + off[j],
                                rows, cols, h->deq_layer + off[j], sums, e))
                return -1;
        }
        float *x = h->x + (size_t)f * h->max_p * c->n_embd;
        gptj_block(x, h->kc, h->vc, c, &lw, GPTJ_F32, &sh, NULL, h->block_buf);
    }
    return 0;
}

/* The 1-D tensor index's round trip under format f into dst. */
static int small_round_trip(EvalLayers *h, int f, int index, float *dst, IpuErr *e)
{
    GptjTensorInfo t;
    gptj_tensor_info(&h->src->cfg, index, &t);
    return eval_round_trip(quant_policy_lookup(&h->policy[f], t.name), t.name, gptj_weights_tensor(h->src, index), 1,
                           t.shape[0], dst, NULL, e);
}

/* ln_f in place on every format's states, and each format's LM head bias into h->bias. */
static int final_norm(EvalLayers *h, int P, IpuErr *e)
{
    const GptjConfig *c = &h->src->cfg;
    size_t C = (size_t)c->n_embd;
    float *w = h->rows_deq, *b = h->rows_deq + C; /* scratch: the LM head's rows come later */
    for (int f = 0; f < h->nf; f++) {
        float *x = h->x + (size_t)f * h->max_p * C;
        if (small_round_trip(h, f, head_index(c, 0), w, e) || small_round_trip(h, f, head_index(c, 1), b, e) ||
            small_round_trip(h, f, head_index(c, 3), h->bias + (size_t)f * c->vocab_size, e))
            return -1;
        gptj_layernorm(x, x, w, b, P, c->n_embd, c->layer_norm_eps);
    }
    return 0;
}

/* logits[f] = ln_f(x[f]) x lm_head^T + bias, h->rows vocabulary rows at a time. */
static int lm_head(EvalLayers *h, int P, float *const *logits, IpuErr *e)
{
    const GptjConfig *c = &h->src->cfg;
    const char *name = "lm_head.weight";
    int C = c->n_embd, V = c->vocab_size;
    if (final_norm(h, P, e))
        return -1;
    for (int f = 0; f < h->nf; f++)
        if (!quant_spec_row_local(quant_policy_lookup(&h->policy[f], name)) && whole_round_trip(h, f, 1, e))
            return -1;
    for (int r0 = 0; r0 < V; r0 += h->rows) {
        int n = V - r0 < h->rows ? V - r0 : h->rows;
        read_rows(h->src, head_index(c, 2), r0, n, h->rows_src);
        for (int f = 0; f < h->nf; f++) {
            const float *wr = h->whole[f][1] ? h->whole[f][1] + (size_t)r0 * C : h->rows_deq;
            if (!h->whole[f][1] && eval_round_trip(quant_policy_lookup(&h->policy[f], name), name, h->rows_src, n, C,
                                                   h->rows_deq, h->measured ? NULL : &h->wsums[f], e))
                return -1;
            const float *x = h->x + (size_t)f * h->max_p * C;
            gptj_matmul(h->rows_out, x, wr, GPTJ_F32, h->bias + (size_t)f * V + r0, P, C, n, NULL);
            for (int p = 0; p < P; p++)
                memcpy(logits[f] + (size_t)p * V + r0, h->rows_out + (size_t)p * n, (size_t)n * sizeof(float));
        }
    }
    return 0;
}

int eval_layers_logits(EvalLayers *h, const int *tok, int P, float *const *logits, IpuErr *e)
{
    const GptjConfig *c = &h->src->cfg;
    int total = c->n_layer + 2;
    if (P < 1 || P > h->max_p)
        return ipu_err(e, "eval: %d positions, expected 1..%d", P, h->max_p);
    for (int p = 0; p < P; p++)
        if (tok[p] < 0 || tok[p] >= c->vocab_size)
            return ipu_err(e, "eval: token %d at position %d is outside the vocabulary 0..%d of %s", tok[p], p,
                           c->vocab_size - 1, c->name);
    if (embed(h, tok, P, e))
        return -1;
    if (h->progress)
        h->progress(h->progress_ctx, 1, total);
    for (int l = 0; l < c->n_layer; l++) {
        if (run_layer(h, l, P, e))
            return -1;
        if (h->progress)
            h->progress(h->progress_ctx, l + 2, total);
    }
    if (lm_head(h, P, logits, e))
        return -1;
    if (h->progress)
        h->progress(h->progress_ctx, total, total);
    h->measured = 1;
    return 0;
}

void eval_layers_weight_error(const EvalLayers *h, int f, EvalWeightError *out)
{
    eval_weight_error(out, &h->wsums[f]);
}

int eval_layers_source(void *ctx, const int *tok, int P, float *const *logits, IpuErr *e)
{
    return eval_layers_logits(ctx, tok, P, logits, e);
}
