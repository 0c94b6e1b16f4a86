/* gptj_forward.c - fp32 reference forward pass of GPT-J (see gptj_forward.h). */
#include "models/gptj_forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"

/* Fixed-order dot product: element i feeds partial sum i % 8. */
static inline float dot(const float *a, const float *b, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i < n; i++, j++)
        acc[j] += a[i] * b[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void gptj_f16_table_init(float *table)
{
    for (uint32_t h = 0; h < 65536u; h++)
        table[h] = fp16_to_f32((uint16_t)h);
}

void gptj_layernorm(float *out, const float *in, const float *w, const float *b, int N, int C, float eps)
{
#pragma omp parallel for schedule(static) if ((long)N * C > 65536)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        float *y = out + (size_t)n * C;
        double sum = 0, sq = 0;
        for (int i = 0; i < C; i++)
            sum += x[i];
        double mean = sum / C;
        for (int i = 0; i < C; i++)
            sq += (x[i] - mean) * (x[i] - mean);
        float rstd = (float)(1.0 / sqrt(sq / C + (double)eps));
        for (int i = 0; i < C; i++)
            y[i] = ((float)(x[i] - mean) * rstd) * w[i] + b[i];
    }
}

void gptj_matmul(float *out, const float *in, const void *weight, GptjDtype wdtype, const float *bias, int N, int IC,
                 int OC, const float *f16_table)
{
    IPU_ASSERT(wdtype == GPTJ_F32 || f16_table);
    /* small products stay on one thread: a parallel region costs more than them */
    int big = (double)N * IC * OC > 262144.0;
#pragma omp parallel if (big)
    {
        float *row = NULL;
        if (wdtype == GPTJ_F16) {
            row = malloc((size_t)IC * sizeof *row);
            IPU_ASSERT(row);
        }
#pragma omp for schedule(static)
        for (int o = 0; o < OC; o++) {
            const float *wr;
            if (wdtype == GPTJ_F16) {
                const uint16_t *h = (const uint16_t *)weight + (size_t)o * IC;
                for (int i = 0; i < IC; i++)
                    row[i] = f16_table[h[i]];
                wr = row;
            } else {
                wr = (const float *)weight + (size_t)o * IC;
            }
            float bo = bias ? bias[o] : 0.0f;
            for (int n = 0; n < N; n++)
                out[(size_t)n * OC + o] = dot(in + (size_t)n * IC, wr, IC) + bo;
        }
        free(row);
    }
}

void gptj_gelu(float *out, const float *in, int n)
{
    const float s = 0.7978845608028654f; /* sqrt(2 / pi) */
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int i = 0; i < n; i++) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + tanhf(s * (x + 0.044715f * x * x * x)));
    }
}

void gptj_rotary(float *x, int pos, int n_head, int head_dim, int rotary_dim)
{
    for (int i = 0; i < rotary_dim / 2; i++) {
        /* fp32 as Hugging Face computes it: inv_freq = 1 / 10000^(2i / rd) */
        float inv_freq = 1.0f / powf(10000.0f, (float)(2 * i) / (float)rotary_dim);
        float angle = (float)pos * inv_freq;
        float c = cosf(angle), s = sinf(angle);
        for (int h = 0; h < n_head; h++) {
            float *p = x + (size_t)h * head_dim + 2 * i;
            float even = p[0], odd = p[1];
            p[0] = even * c - odd * s;
            p[1] = odd * c + even * s;
        }
    }
}

void gptj_softmax_masked(float *out, const float *x, int n, int n_valid)
{
    IPU_ASSERT(n_valid >= 1 && n_valid <= n);
    float mx = x[0];
    for (int j = 1; j < n_valid; j++)
        mx = x[j] > mx ? x[j] : mx;
    float sum = 0;
    for (int j = 0; j < n_valid; j++) {
        out[j] = expf(x[j] - mx);
        sum += out[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < n_valid; j++)
        out[j] *= inv;
    for (int j = n_valid; j < n; j++)
        out[j] = 0.0f;
}

void gptj_attention(float *out, const float *q, const float *k_cache, const float *v_cache, int B, int T, int n_past,
                    int max_t, int n_head, int head_dim)
{
    int C = n_head * head_dim, total = B * T * n_head;
    float sqrt_hs = sqrtf((float)head_dim); /* divided, not multiplied by 1/x: as Hugging Face does */
    int big = (double)total * (n_past + T) * head_dim > 65536.0;
#pragma omp parallel if (big)
    {
        float *att = malloc((size_t)(n_past + T) * sizeof *att);
        IPU_ASSERT(att);
#pragma omp for schedule(static)
        for (int job = 0; job < total; job++) {
            int h = job % n_head, t = (job / n_head) % T, b = job / (n_head * T);
            int n_valid = n_past + t + 1;
            const float *qh = q + ((size_t)b * T + t) * C + (size_t)h * head_dim;
            const float *kb = k_cache + (size_t)b * max_t * C + (size_t)h * head_dim;
            const float *vb = v_cache + (size_t)b * max_t * C + (size_t)h * head_dim;
            for (int j = 0; j < n_valid; j++)
                att[j] = dot(qh, kb + (size_t)j * C, head_dim) / sqrt_hs;
            gptj_softmax_masked(att, att, n_valid, n_valid);
            float *oh = out + ((size_t)b * T + t) * C + (size_t)h * head_dim;
            for (int d = 0; d < head_dim; d++)
                oh[d] = 0.0f;
            for (int j = 0; j < n_valid; j++) {
                const float *vj = vb + (size_t)j * C;
                for (int d = 0; d < head_dim; d++)
                    oh[d] += att[j] * vj[d];
            }
        }
        free(att);
    }
}

int gptj_state_init(GptjState *s, const GptjWeights *w, int batch, int max_t, IpuErr *e)
{
    memset(s, 0, sizeof *s);
    const GptjConfig *c = &w->cfg;
    if (batch < 1 || max_t < 1)
        return ipu_err(e, "forward state: batch %d and max_t %d must be >= 1", batch, max_t);
    if (max_t > c->n_positions)
        return ipu_err(e, "forward state: max_t %d exceeds the context n_positions %d of %s", max_t, c->n_positions,
                       c->name);
    size_t n = (size_t)c->n_layer * batch * max_t * c->n_embd;
    s->w = w;
    s->batch = batch;
    s->max_t = max_t;
    s->k_cache = calloc(n, sizeof(float));
    s->v_cache = calloc(n, sizeof(float));
    s->f16_table = malloc(65536 * sizeof(float));
    if (!s->k_cache || !s->v_cache || !s->f16_table) {
        gptj_state_free(s);
        return ipu_err(e, "forward state: out of memory for a KV cache of %.2f GB", 8.0 * (double)n / 1e9);
    }
    gptj_f16_table_init(s->f16_table);
    return 0;
}

void gptj_state_free(GptjState *s)
{
    if (!s)
        return;
    free(s->k_cache);
    free(s->v_cache);
    free(s->f16_table);
    memset(s, 0, sizeof *s);
}

void gptj_state_reset(GptjState *s) { s->n_past = 0; }

static void embed(float *x, const GptjWeights *w, const int *tokens, int N, const float *tab)
{
    int C = w->cfg.n_embd;
    for (int n = 0; n < N; n++) {
        float *y = x + (size_t)n * C;
        if (w->wdtype == GPTJ_F16) {
            const uint16_t *r = (const uint16_t *)w->wte + (size_t)tokens[n] * C;
            for (int i = 0; i < C; i++)
                y[i] = tab[r[i]];
        } else {
            memcpy(y, (const float *)w->wte + (size_t)tokens[n] * C, (size_t)C * sizeof *y);
        }
    }
}

size_t gptj_block_buf_floats(const GptjConfig *c, int N) { return (size_t)N * (6 * (size_t)c->n_embd + (size_t)c->n_inner); }

void gptj_block(float *x, float *kc, float *vc, const GptjConfig *c, const GptjLayerWeights *L, GptjDtype wdtype,
                const GptjBlockShape *sh, const float *tab, float *buf)
{
    int B = sh->batch, T = sh->T, N = B * T, C = c->n_embd, I = c->n_inner;
    size_t nc = (size_t)N * C;
    float *ln = buf, *q = ln + nc, *k = q + nc, *v = k + nc, *att = v + nc, *ao = att + nc, *hmid = ao + nc;
    float *mo = q; /* q is dead once attention has run */
    gptj_layernorm(ln, x, L->ln_1_w, L->ln_1_b, N, C, c->layer_norm_eps);
    gptj_matmul(q, ln, L->q_proj, wdtype, NULL, N, C, C, tab);
    gptj_matmul(k, ln, L->k_proj, wdtype, NULL, N, C, C, tab);
    gptj_matmul(v, ln, L->v_proj, wdtype, NULL, N, C, C, tab);
    for (int n = 0; n < N; n++) {
        int b = n / T, pos = sh->n_past + n % T;
        float *kr = kc + ((size_t)b * sh->max_t + pos) * C, *vr = vc + ((size_t)b * sh->max_t + pos) * C;
        gptj_rotary(q + (size_t)n * C, pos, c->n_head, c->head_dim, c->rotary_dim);
        gptj_rotary(k + (size_t)n * C, pos, c->n_head, c->head_dim, c->rotary_dim);
        memcpy(kr, k + (size_t)n * C, (size_t)C * sizeof(float));
        memcpy(vr, v + (size_t)n * C, (size_t)C * sizeof(float));
        if (sh->kv_round) {
            sh->kv_round(kr, C, c->n_head, sh->kv_ctx);
            sh->kv_round(vr, C, c->n_head, sh->kv_ctx);
        }
    }
    gptj_attention(att, q, kc, vc, B, T, sh->n_past, sh->max_t, c->n_head, c->head_dim);
    gptj_matmul(ao, att, L->out_proj, wdtype, NULL, N, C, C, tab);
    gptj_matmul(hmid, ln, L->fc_in, wdtype, L->fc_in_b, N, C, I, tab);
    gptj_gelu(hmid, hmid, N * I);
    gptj_matmul(mo, hmid, L->fc_out, wdtype, L->fc_out_b, N, I, C, tab);
    for (size_t i = 0; i < nc; i++)
        x[i] = (ao[i] + mo[i]) + x[i];
}

int gptj_forward(GptjState *s, const int *tokens, int T, float *logits, int last_only, IpuErr *e)
{
    const GptjWeights *w = s->w;
    const GptjConfig *c = &w->cfg;
    int B = s->batch, N = B * T, C = c->n_embd, V = c->vocab_size;
    if (T < 1)
        return ipu_err(e, "forward: T %d must be >= 1", T);
    if (s->n_past + T > s->max_t)
        return ipu_err(e, "forward: %d cached + %d new tokens exceed the cache of %d positions", s->n_past, T,
                       s->max_t);
    for (int n = 0; n < N; n++)
        if (tokens[n] < 0 || tokens[n] >= V)
            return ipu_err(e, "forward: token %d at (sequence %d, position %d) outside the vocabulary 0..%d",
                           tokens[n], n / T, s->n_past + n % T, V - 1);
    size_t nc = (size_t)N * C;
    float *buf = malloc((nc + gptj_block_buf_floats(c, N)) * sizeof(float));
    if (!buf)
        return ipu_err(e, "forward: out of memory for activations of %d tokens", N);
    float *x = buf, *ln = x + nc, *att = ln + 4 * nc; /* the block's ln and att: free between blocks */
    GptjBlockShape sh = {B, T, s->n_past, s->max_t, s->kv_round, s->kv_ctx};
    embed(x, w, tokens, N, s->f16_table);
    for (int l = 0; l < c->n_layer; l++) {
        size_t off = (size_t)l * B * s->max_t * C;
        gptj_block(x, s->k_cache + off, s->v_cache + off, c, &w->h[l], w->wdtype, &sh, s->f16_table, ln);
    }
    gptj_layernorm(ln, x, w->ln_f_w, w->ln_f_b, N, C, c->layer_norm_eps);
    if (last_only) {
        for (int b = 0; b < B; b++)
            memcpy(att + (size_t)b * C, ln + ((size_t)b * T + T - 1) * C, (size_t)C * sizeof(float));
        gptj_matmul(logits, att, w->lm_head, w->wdtype, w->lm_head_b, B, C, V, s->f16_table);
    } else {
        gptj_matmul(logits, ln, w->lm_head, w->wdtype, w->lm_head_b, N, C, V, s->f16_table);
    }
    free(buf);
    s->n_past += T;
    return 0;
}

/* ---- sampling ---- */

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct Cand {
    float logit;
    int id;
} Cand;

static int cmp_cand(const void *a, const void *b)
{
    const Cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

int gptj_sample(GptjSampler *s, const float *logits, int V)
{
    if (s->temperature <= 0.0f) {
        int best = 0;
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[best])
                best = i;
        return best;
    }
    Cand *c = malloc((size_t)V * sizeof *c);
    IPU_ASSERT(c);
    for (int i = 0; i < V; i++)
        c[i] = (Cand){logits[i], i};
    qsort(c, (size_t)V, sizeof *c, cmp_cand);
    int k = s->top_k > 0 && s->top_k < V ? s->top_k : V;
    double sum = 0;
    double *p = malloc((size_t)k * sizeof *p);
    IPU_ASSERT(p);
    for (int i = 0; i < k; i++) {
        p[i] = exp(((double)c[i].logit - (double)c[0].logit) / s->temperature);
        sum += p[i];
    }
    uint64_t r = mix64(mix64(s->seed ^ 0x5851f42d4c957f2dull) ^ mix64(s->draws++));
    double u = (double)(r >> 11) * 0x1p-53 * sum;
    int pick = k - 1;
    double acc = 0;
    for (int i = 0; i < k; i++) {
        acc += p[i];
        if (u < acc) {
            pick = i;
            break;
        }
    }
    int id = c[pick].id;
    free(p);
    free(c);
    return id;
}

int gptj_generate(GptjState *s, const int *prompt, int T0, int n_new, GptjSampler *samp, int *out, IpuErr *e)
{
    int B = s->batch, V = s->w->cfg.vocab_size;
    if (n_new < 1)
        return ipu_err(e, "generate: n_new %d must be >= 1", n_new);
    float *logits = malloc((size_t)B * V * sizeof *logits);
    int *step = malloc((size_t)B * sizeof *step);
    if (!logits || !step) {
        free(logits);
        free(step);
        return ipu_err(e, "generate: out of memory");
    }
    gptj_state_reset(s);
    int rc = gptj_forward(s, prompt, T0, logits, 1, e);
    for (int i = 0; i < n_new && !rc; i++) {
        for (int b = 0; b < B; b++) {
            step[b] = gptj_sample(samp, logits + (size_t)b * V, V);
            out[(size_t)b * n_new + i] = step[b];
        }
        if (i + 1 < n_new)
            rc = gptj_forward(s, step, 1, logits, 1, e);
    }
    free(logits);
    free(step);
    return rc;
}
