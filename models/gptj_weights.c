/* gptj_weights.c - GPT-J parameter storage, synthesis and checkpoint loading
 * (see gptj_weights.h). */
#include "models/gptj_weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h"
#include "base/fp16.h"

enum { PER_LAYER = 10 };

int gptj_tensor_count(const GptjConfig *c) { return 1 + PER_LAYER * c->n_layer + 4; }

uint64_t gptj_tensor_elems(const GptjTensorInfo *t)
{
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (uint64_t)t->shape[i];
    return n;
}

static void set_info(GptjTensorInfo *o, GptjTensorKind kind, int layer, int64_t d0, int64_t d1)
{
    o->kind = kind;
    o->layer = layer;
    o->ndim = d1 ? 2 : 1;
    o->shape[0] = d0;
    o->shape[1] = d1;
}

void gptj_tensor_info(const GptjConfig *c, int index, GptjTensorInfo *o)
{
    int64_t C = c->n_embd, I = c->n_inner, V = c->vocab_size;
    IPU_ASSERT(index >= 0 && index < gptj_tensor_count(c));
    memset(o, 0, sizeof *o);
    if (index == 0) {
        snprintf(o->name, sizeof o->name, "transformer.wte.weight");
        set_info(o, GPTJ_MATRIX, -1, V, C);
        return;
    }
    int k = index - 1;
    if (k < PER_LAYER * c->n_layer) {
        int l = k / PER_LAYER;
        static const char *const names[PER_LAYER] = {
            "ln_1.weight", "ln_1.bias", "attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight",
            "attn.out_proj.weight", "mlp.fc_in.weight", "mlp.fc_in.bias", "mlp.fc_out.weight", "mlp.fc_out.bias",
        };
        int j = k % PER_LAYER;
        snprintf(o->name, sizeof o->name, "transformer.h.%d.%s", l, names[j]);
        switch (j) {
        case 0: set_info(o, GPTJ_GAIN, l, C, 0); break;
        case 1: set_info(o, GPTJ_BIAS, l, C, 0); break;
        case 2: case 3: case 4: case 5: set_info(o, GPTJ_MATRIX, l, C, C); break;
        case 6: set_info(o, GPTJ_MATRIX, l, I, C); break;
        case 7: set_info(o, GPTJ_BIAS, l, I, 0); break;
        case 8: set_info(o, GPTJ_MATRIX, l, C, I); break;
        default: set_info(o, GPTJ_BIAS, l, C, 0); break;
        }
        return;
    }
    switch (k - PER_LAYER * c->n_layer) {
    case 0: snprintf(o->name, sizeof o->name, "transformer.ln_f.weight"); set_info(o, GPTJ_GAIN, -1, C, 0); break;
    case 1: snprintf(o->name, sizeof o->name, "transformer.ln_f.bias"); set_info(o, GPTJ_BIAS, -1, C, 0); break;
    case 2: snprintf(o->name, sizeof o->name, "lm_head.weight"); set_info(o, GPTJ_MATRIX, -1, V, C); break;
    default: snprintf(o->name, sizeof o->name, "lm_head.bias"); set_info(o, GPTJ_BIAS, -1, V, 0); break;
    }
}

static size_t dtype_bytes(GptjDtype d) { return d == GPTJ_F16 ? 2 : 4; }

void gptj_weights_free(GptjWeights *w)
{
    if (!w)
        return;
    free(w->matrix_slab);
    free(w->small_slab);
    free(w->h);
    for (int i = 0; i < w->n_warnings; i++)
        free(w->warnings[i]);
    free(w->warnings);
    st_close(w->ck);
    free(w->ck_tensor);
    memset(w, 0, sizeof *w);
}

/* Byte offset of tensor index in its slab (matrix slab or small slab). */
static uint64_t slab_offset(const GptjConfig *c, GptjDtype wd, int index)
{
    uint64_t off = 0;
    GptjTensorInfo t, ti;
    gptj_tensor_info(c, index, &ti);
    for (int i = 0; i < index; i++) {
        gptj_tensor_info(c, i, &t);
        if ((t.kind == GPTJ_MATRIX) == (ti.kind == GPTJ_MATRIX))
            off += gptj_tensor_elems(&t) * (t.kind == GPTJ_MATRIX ? dtype_bytes(wd) : 4);
    }
    return off;
}

void *gptj_weights_tensor(const GptjWeights *w, int index)
{
    GptjTensorInfo t;
    gptj_tensor_info(&w->cfg, index, &t);
    uint64_t off = slab_offset(&w->cfg, w->wdtype, index);
    if (t.kind == GPTJ_MATRIX)
        return w->matrix_slab ? (char *)w->matrix_slab + off : NULL;
    return (char *)w->small_slab + off;
}

uint64_t gptj_weights_bytes(const GptjWeights *w)
{
    const GptjConfig *c = &w->cfg;
    uint64_t m = gptj_config_n_matrix_params(c);
    return m * dtype_bytes(w->wdtype) + (gptj_config_n_params(c) - m) * 4;
}

static int weights_init(GptjWeights *w, const GptjConfig *cfg, GptjDtype wdtype, int matrices, IpuErr *e)
{
    memset(w, 0, sizeof *w);
    if (gptj_config_validate(cfg, cfg->name, e))
        return -1;
    w->cfg = *cfg;
    w->wdtype = wdtype;
    uint64_t m = gptj_config_n_matrix_params(cfg), s = gptj_config_n_params(cfg) - m;
    w->matrix_slab = matrices ? malloc((size_t)(m * dtype_bytes(wdtype))) : NULL;
    w->small_slab = malloc((size_t)(s * sizeof(float)));
    w->h = calloc((size_t)cfg->n_layer, sizeof *w->h);
    if ((matrices && !w->matrix_slab) || !w->small_slab || !w->h) {
        gptj_weights_free(w);
        return ipu_err(e, "%s: out of memory for %.2f GB of weights", cfg->name,
                       (double)(m * dtype_bytes(wdtype) + 4 * s) / 1e9);
    }
    /* Walk the table once, handing out pointers in order. */
    uint64_t moff = 0; /* bytes into the matrix slab */
    float *sp = w->small_slab;
    int n = gptj_tensor_count(cfg);
    for (int i = 0; i < n; i++) {
        GptjTensorInfo t;
        gptj_tensor_info(cfg, i, &t);
        uint64_t ne = gptj_tensor_elems(&t);
        void *p;
        if (t.kind == GPTJ_MATRIX) {
            p = matrices ? (char *)w->matrix_slab + moff : NULL;
            moff += ne * dtype_bytes(wdtype);
        } else {
            p = sp;
            sp += ne;
        }
        if (i == 0) {
            w->wte = p;
            continue;
        }
        int k = i - 1;
        if (k < PER_LAYER * cfg->n_layer) {
            GptjLayerWeights *L = &w->h[k / PER_LAYER];
            switch (k % PER_LAYER) {
            case 0: L->ln_1_w = p; break;
            case 1: L->ln_1_b = p; break;
            case 2: L->q_proj = p; break;
            case 3: L->k_proj = p; break;
            case 4: L->v_proj = p; break;
            case 5: L->out_proj = p; break;
            case 6: L->fc_in = p; break;
            case 7: L->fc_in_b = p; break;
            case 8: L->fc_out = p; break;
            default: L->fc_out_b = p; break;
            }
            continue;
        }
        switch (k - PER_LAYER * cfg->n_layer) {
        case 0: w->ln_f_w = p; break;
        case 1: w->ln_f_b = p; break;
        case 2: w->lm_head = p; break;
        default: w->lm_head_b = p; break;
        }
    }
    return 0;
}

int gptj_weights_init(GptjWeights *w, const GptjConfig *cfg, GptjDtype wdtype, IpuErr *e)
{
    return weights_init(w, cfg, wdtype, 1, e);
}

int gptj_weights_init_small(GptjWeights *w, const GptjConfig *cfg, GptjDtype wdtype, IpuErr *e)
{
    return weights_init(w, cfg, wdtype, 0, e);
}

/* ---- loading ---- */

/* HF GPT-J checkpoints carry the causal mask and its fill value as buffers. */
static int ignored_buffer(const char *name)
{
    int l, len = 0;
    if (sscanf(name, "transformer.h.%d.attn.%n", &l, &len) != 1 || len == 0)
        return 0;
    return !strcmp(name + len, "bias") || !strcmp(name + len, "masked_bias");
}

static int add_warning(GptjWeights *w, const char *msg)
{
    char **nw = realloc(w->warnings, (size_t)(w->n_warnings + 1) * sizeof *nw);
    if (!nw)
        return -1;
    w->warnings = nw;
    w->warnings[w->n_warnings] = strdup(msg);
    if (!w->warnings[w->n_warnings])
        return -1;
    w->n_warnings++;
    return 0;
}

/* What load_impl does with the values: reads them all into w's storage
 * (KEEP); reads the gains and biases and checks the matrices, which stay in
 * the checkpoint (LAZY); checks every value (SCAN); only names and shapes (CHECK). */
typedef enum { LOAD_KEEP, LOAD_LAZY, LOAD_SCAN, LOAD_CHECK } LoadMode;

typedef struct {
    void *p;
    uint64_t cap;
} Scratch;

/* Reads (KEEP, LAZY's small tensors) or checks through s (SCAN, LAZY's matrices) tensor i, found as st. */
static int load_tensor(GptjWeights *w, const StCheckpoint *ck, int i, const StTensor *st, LoadMode mode, Scratch *s,
                       const char *path, IpuErr *e)
{
    GptjTensorInfo t;
    gptj_tensor_info(&w->cfg, i, &t);
    int f16 = t.kind == GPTJ_MATRIX && w->wdtype == GPTJ_F16;
    void *dst = mode == LOAD_KEEP || (mode == LOAD_LAZY && t.kind != GPTJ_MATRIX) ? gptj_weights_tensor(w, i) : NULL;
    if (mode == LOAD_CHECK)
        return 0;
    if (mode == LOAD_LAZY && t.kind == GPTJ_MATRIX)
        w->ck_tensor[i] = st;
    uint64_t bytes = gptj_tensor_elems(&t) * (f16 ? 2 : 4);
    if (!dst && bytes > s->cap) {
        free(s->p);
        s->cap = (s->p = malloc((size_t)bytes)) ? bytes : 0;
        if (!s->p)
            return ipu_err(e, "%s: out of memory reading tensor '%s'", path, t.name);
    }
    if (!dst)
        dst = s->p;
    return f16 ? st_read_f16(ck, st, dst, e) : st_read_f32(ck, st, dst, e);
}

/* The checkpoint's tensors that are not GPT-J's (used[i] == 0): warnings,
 * or an error when strict; attention mask buffers ignored. */
static int unknown_tensors(GptjWeights *w, const StCheckpoint *ck, const unsigned char *used, int strict,
                           const char *path, IpuErr *e)
{
    for (int i = 0; i < ck->n_tensors; i++) {
        const StTensor *st = &ck->tensors[i];
        if (used[i] || ignored_buffer(st->name))
            continue;
        char msg[IPU_ERR_MSG_BYTES];
        snprintf(msg, sizeof msg, "%s: unknown tensor '%s' (not part of GPT-J)", st_tensor_file(ck, st), st->name);
        if (strict)
            return ipu_err(e, "%s", msg);
        if (add_warning(w, msg))
            return ipu_err(e, "%s: out of memory", path);
    }
    return 0;
}

static int load_impl(GptjWeights *w, const GptjConfig *cfg, const char *path, GptjDtype wdtype, int strict,
                     LoadMode mode, IpuErr *e)
{
    memset(w, 0, sizeof *w);
    GptjConfig file_cfg;
    if (!cfg) {
        if (gptj_config_resolve(&file_cfg, path, e))
            return -1;
        cfg = &file_cfg;
    }
    if (gptj_config_validate(cfg, path, e))
        return -1;
    StCheckpoint *ck = st_open(path, e);
    if (!ck)
        return -1;
    if ((mode == LOAD_KEEP && gptj_weights_init(w, cfg, wdtype, e)) ||
        (mode == LOAD_LAZY && gptj_weights_init_small(w, cfg, wdtype, e))) {
        st_close(ck);
        return -1;
    }
    w->cfg = *cfg;
    w->wdtype = wdtype;
    int n = gptj_tensor_count(cfg), rc = 0;
    unsigned char *used = calloc((size_t)ck->n_tensors + 1, 1);
    if (mode == LOAD_LAZY && !(w->ck_tensor = calloc((size_t)n, sizeof *w->ck_tensor)))
        rc = ipu_err(e, "%s: out of memory", path);
    if (!used)
        rc = ipu_err(e, "%s: out of memory", path);
    Scratch s = {NULL, 0};
    for (int i = 0; i < n && !rc; i++) {
        GptjTensorInfo t;
        gptj_tensor_info(cfg, i, &t);
        const StTensor *st = st_expect(ck, t.name, t.ndim, t.shape, e);
        if (!st) {
            rc = -1;
            break;
        }
        used[st - ck->tensors] = 1;
        rc = load_tensor(w, ck, i, st, mode, &s, path, e);
    }
    if (!rc)
        rc = unknown_tensors(w, ck, used, strict, path, e);
    free(s.p);
    free(used);
    if (mode == LOAD_LAZY && !rc)
        w->ck = ck; /* gptj_weights_free closes it */
    else
        st_close(ck);
    if (rc)
        gptj_weights_free(w);
    return rc;
}

int gptj_weights_load(GptjWeights *w, const GptjConfig *cfg, const char *path, GptjDtype wdtype, int strict,
                      IpuErr *e)
{
    return load_impl(w, cfg, path, wdtype, strict, LOAD_KEEP, e);
}

int gptj_weights_load_lazy(GptjWeights *w, const GptjConfig *cfg, const char *path, GptjDtype wdtype, int strict,
                           IpuErr *e)
{
    return load_impl(w, cfg, path, wdtype, strict, LOAD_LAZY, e);
}

int gptj_checkpoint_check(GptjWeights *w, const GptjConfig *cfg, const char *path, GptjDtype wdtype, int strict,
                          int scan, IpuErr *e)
{
    return load_impl(w, cfg, path, wdtype, strict, scan ? LOAD_SCAN : LOAD_CHECK, e);
}
