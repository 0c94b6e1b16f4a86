/* test_gptj_forward.c - models/gptj_forward: each layer against hand-worked
 * values, the whole model against an independent naive double-precision
 * forward written here, KV-cache decode equal to full recompute, batch equal
 * to separate runs, identical logits at 1 and 2 threads, and sampling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "models/gptj_forward.h"

#define NEAR(a, b, tol) \
    do { \
        double a_ = (a), b_ = (b); \
        if (fabs(a_ - b_) > (tol)) \
            fail_msg("%s = %.9g, want %.9g (tol %g)", #a, a_, b_, (double)(tol)); \
    } while (0)

static void test_layernorm(void **state)
{
    (void)state;
    const float in[8] = {1, 2, 3, 4, 10, 10, 10, 10};
    const float w[4] = {1, 2, 1, 1}, b[4] = {0, 1, 0, -1};
    float out[8];
    gptj_layernorm(out, in, w, b, 2, 4, 1e-5f);
    /* mean 2.5, variance 1.25: (x - 2.5) / sqrt(1.25 + 1e-5) */
    double r = 1.0 / sqrt(1.25 + 1e-5);
    NEAR(out[0], -1.5 * r, 1e-6);
    NEAR(out[1], 2 * (-0.5 * r) + 1, 1e-6);
    NEAR(out[2], 0.5 * r, 1e-6);
    NEAR(out[3], 1.5 * r - 1, 1e-6);
    /* a constant row normalises to the bias */
    NEAR(out[4], 0, 1e-6);
    NEAR(out[5], 1, 1e-6);
    NEAR(out[7], -1, 1e-6);
}

static void test_gelu(void **state)
{
    (void)state;
    const float in[5] = {0.0f, 1.0f, -3.0f, 3.0f, 0.5f};
    float out[5];
    gptj_gelu(out, in, 5);
    NEAR(out[0], 0.0, 0);
    NEAR(out[1], 0.8411919906082768, 1e-6); /* tanh form; the erf form gives 0.8413447 */
    NEAR(out[2], -0.0036373920817729943, 1e-7);
    NEAR(out[3], 2.996362607918227, 1e-6);
    NEAR(out[4], 0.34571400982514394, 1e-6);
}

static void test_rotary(void **state)
{
    (void)state;
    /* 2 heads of 6, rotary on the first 4 dims of each */
    float x[12] = {1, 0, 0, 1, 5, 6, 2, 0, 0, 2, 7, 8};
    float y[12];
    memcpy(y, x, sizeof x);
    gptj_rotary(y, 0, 2, 6, 4);
    assert_memory_equal(x, y, sizeof x); /* position 0 is the identity */
    gptj_rotary(x, 1, 2, 6, 4);
    /* pair 0 turns by 1 rad, pair 1 by 10000^(-1/2) = 0.01 rad */
    NEAR(x[0], 0.5403023058681398, 1e-6);
    NEAR(x[1], 0.8414709848078965, 1e-6);
    NEAR(x[2], -0.009999833334166664, 1e-7);
    NEAR(x[3], 0.9999500004166653, 1e-6);
    NEAR(x[4], 5, 0);
    NEAR(x[5], 6, 0);
    NEAR(x[6], 2 * 0.5403023058681398, 1e-6);
    NEAR(x[7], 2 * 0.8414709848078965, 1e-6);
    NEAR(x[10], 7, 0);
}

static void test_softmax_masked(void **state)
{
    (void)state;
    const float x[4] = {1, 2, 3, 100};
    float p[4];
    gptj_softmax_masked(p, x, 4, 3);
    NEAR(p[0], 0.09003057317038046, 1e-7);
    NEAR(p[1], 0.24472847105479767, 1e-7);
    NEAR(p[2], 0.6652409557748219, 1e-7);
    NEAR(p[3], 0, 0); /* masked: the 100 is never seen */
    gptj_softmax_masked(p, x, 4, 1);
    NEAR(p[0], 1, 0);
}

static void test_matmul(void **state)
{
    (void)state;
    /* in (2, 3), weight (2, 3) [out, in], bias (2) */
    const float in[6] = {1, 2, 3, -1, 0.5f, 2};
    const float w[6] = {1, 0, -1, 0.25f, 2, 1};
    const float bias[2] = {0.5f, -1};
    uint16_t wh[6];
    for (int i = 0; i < 6; i++)
        wh[i] = fp16_from_f32(w[i]); /* exact in fp16 */
    float *tab = malloc(65536 * sizeof *tab);
    gptj_f16_table_init(tab);
    float out[4], outh[4];
    gptj_matmul(out, in, w, GPTJ_F32, bias, 2, 3, 2, NULL);
    gptj_matmul(outh, in, wh, GPTJ_F16, bias, 2, 3, 2, tab);
    NEAR(out[0], 1 - 3 + 0.5, 0);
    NEAR(out[1], 0.25 + 4 + 3 - 1, 0);
    NEAR(out[2], -1 - 2 + 0.5, 0);
    NEAR(out[3], -0.25 + 1 + 2 - 1, 0);
    assert_memory_equal(out, outh, sizeof out);
    gptj_matmul(out, in, w, GPTJ_F32, NULL, 2, 3, 2, NULL);
    NEAR(out[0], -2, 0);
    free(tab);
}

static void test_attention(void **state)
{
    (void)state;
    /* B 1, one head of 2, T 2 new tokens, cache of 3 */
    const float q[4] = {1, 0, 0, 2};
    const float k[6] = {1, 0, 0, 1, 9, 9};
    const float v[6] = {10, 20, 30, 40, 99, 99};
    float out[4];
    gptj_attention(out, q, k, v, 1, 2, 0, 3, 1, 2);
    /* position 0 sees only itself */
    NEAR(out[0], 10, 1e-5);
    NEAR(out[1], 20, 1e-5);
    /* position 1: scores (0, 2) / sqrt(2), position 2 (the 9s) masked */
    double s = 2 / sqrt(2.0), p1 = exp(s) / (1 + exp(s)), p0 = 1 - p1;
    NEAR(out[2], p0 * 10 + p1 * 30, 1e-4);
    NEAR(out[3], p0 * 20 + p1 * 40, 1e-4);
}

/* ---- whole model ---- */

static GptjWeights micro_weights(GptjDtype wd)
{
    GptjConfig c;
    GptjWeights w;
    IpuErr e;
    assert_int_equal(gptj_config_preset(&c, "gptj-micro", &e), 0);
    assert_int_equal(gptj_weights_synth(&w, &c, wd, 42, &e), 0);
    return w;
}

static float *run(const GptjWeights *w, const int *tokens, int B, int T, int max_t)
{
    GptjState s;
    IpuErr e;
    assert_int_equal(gptj_state_init(&s, w, B, max_t, &e), 0);
    float *logits = malloc((size_t)B * T * w->cfg.vocab_size * sizeof *logits);
    if (gptj_forward(&s, tokens, T, logits, 0, &e))
        fail_msg("%s", e.msg);
    gptj_state_free(&s);
    return logits;
}

/* The naive model's activations, (T, C) each in double, and the MLP's (I). */
typedef struct Naive {
    const GptjConfig *c;
    int T;
    double *x, *h, *q, *k, *v, *a, *m;
} Naive;

static void naive_ln(const Naive *n, double *dst, const double *src, const float *g, const float *bb)
{
    int C = n->c->n_embd;
    for (int t = 0; t < n->T; t++) {
        double mu = 0, var = 0;
        for (int i = 0; i < C; i++)
            mu += src[t * C + i] / C;
        for (int i = 0; i < C; i++)
            var += (src[t * C + i] - mu) * (src[t * C + i] - mu) / C;
        for (int i = 0; i < C; i++)
            dst[t * C + i] = (src[t * C + i] - mu) / sqrt(var + n->c->layer_norm_eps) * g[i] + bb[i];
    }
}

/* q, k, v of h, then the rotary embedding on q and k. */
static void naive_qkv(const Naive *n, const GptjLayerWeights *L)
{
    int C = n->c->n_embd, NH = n->c->n_head, HS = n->c->head_dim, R = n->c->rotary_dim;
    for (int t = 0; t < n->T; t++)
        for (int o = 0; o < C; o++) {
            double sq = 0, sk = 0, sv = 0;
            for (int i = 0; i < C; i++) {
                sq += n->h[t * C + i] * ((const float *)L->q_proj)[o * C + i];
                sk += n->h[t * C + i] * ((const float *)L->k_proj)[o * C + i];
                sv += n->h[t * C + i] * ((const float *)L->v_proj)[o * C + i];
            }
            n->q[t * C + o] = sq, n->k[t * C + o] = sk, n->v[t * C + o] = sv;
        }
    for (int t = 0; t < n->T; t++)
        for (int hd = 0; hd < NH; hd++)
            for (int i = 0; i < R / 2; i++) {
                double ang = t * pow(10000.0, -2.0 * i / R), cs = cos(ang), sn = sin(ang);
                for (double *p = n->q; p; p = p == n->q ? n->k : NULL) {
                    double *e2 = p + t * C + hd * HS + 2 * i, ev = e2[0], od = e2[1];
                    e2[0] = ev * cs - od * sn;
                    e2[1] = od * cs + ev * sn;
                }
            }
}

/* Causal attention of q over k, v into a. */
static void naive_attention(const Naive *n)
{
    int C = n->c->n_embd, NH = n->c->n_head, HS = n->c->head_dim;
    for (int t = 0; t < n->T; t++)
        for (int hd = 0; hd < NH; hd++) {
            double sc[64], mx = -1e300, sum = 0;
            for (int j = 0; j <= t; j++) {
                sc[j] = 0;
                for (int d = 0; d < HS; d++)
                    sc[j] += n->q[t * C + hd * HS + d] * n->k[j * C + hd * HS + d] / sqrt((double)HS);
                mx = sc[j] > mx ? sc[j] : mx;
            }
            for (int j = 0; j <= t; j++)
                sum += sc[j] = exp(sc[j] - mx);
            for (int d = 0; d < HS; d++) {
                double o = 0;
                for (int j = 0; j <= t; j++)
                    o += sc[j] / sum * n->v[j * C + hd * HS + d];
                n->a[t * C + hd * HS + d] = o;
            }
        }
}

/* x += out_proj(a) + fc_out(gelu(fc_in(h))): GPT-J's parallel residual. */
static void naive_residual(const Naive *n, const GptjLayerWeights *L)
{
    int C = n->c->n_embd, I = n->c->n_inner;
    for (int t = 0; t < n->T; t++) {
        double add[1024];
        for (int o = 0; o < C; o++) {
            double s = 0;
            for (int i = 0; i < C; i++)
                s += n->a[t * C + i] * ((const float *)L->out_proj)[o * C + i];
            add[o] = s;
        }
        for (int j = 0; j < I; j++) {
            double s = L->fc_in_b[j];
            for (int i = 0; i < C; i++)
                s += n->h[t * C + i] * ((const float *)L->fc_in)[(size_t)j * C + i];
            n->m[j] = 0.5 * s * (1 + tanh(sqrt(2 / M_PI) * (s + 0.044715 * s * s * s)));
        }
        for (int o = 0; o < C; o++) {
            double s = L->fc_out_b[o];
            for (int j = 0; j < I; j++)
                s += n->m[j] * ((const float *)L->fc_out)[(size_t)o * I + j];
            add[o] += s;
        }
        for (int o = 0; o < C; o++)
            n->x[t * C + o] += add[o];
    }
}

/* Naive GPT-J in double, straight from the model description. */
static void naive_forward(double *logits, const GptjWeights *w, const int *tok, int T)
{
    const GptjConfig *c = &w->cfg;
    int C = c->n_embd, V = c->vocab_size;
    size_t tc = (size_t)T * C;
    Naive n = {c, T, calloc(tc, 8), calloc(tc, 8), calloc(tc, 8), calloc(tc, 8), calloc(tc, 8), calloc(tc, 8),
               calloc((size_t)c->n_inner, 8)};
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++)
            n.x[t * C + i] = ((const float *)w->wte)[(size_t)tok[t] * C + i];
    for (int l = 0; l < c->n_layer; l++) {
        naive_ln(&n, n.h, n.x, w->h[l].ln_1_w, w->h[l].ln_1_b);
        naive_qkv(&n, &w->h[l]);
        naive_attention(&n);
        naive_residual(&n, &w->h[l]);
    }
    naive_ln(&n, n.h, n.x, w->ln_f_w, w->ln_f_b);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < V; o++) {
            double s = w->lm_head_b[o];
            for (int i = 0; i < C; i++)
                s += n.h[t * C + i] * ((const float *)w->lm_head)[(size_t)o * C + i];
            logits[(size_t)t * V + o] = s;
        }
    free(n.x), free(n.h), free(n.q), free(n.k), free(n.v), free(n.a), free(n.m);
}

static void test_forward_vs_naive(void **state)
{
    (void)state;
    GptjWeights w = micro_weights(GPTJ_F32);
    const int tok[7] = {3, 141, 59, 265, 358, 97, 511};
    int V = w.cfg.vocab_size;
    float *got = run(&w, tok, 1, 7, 16);
    double *want = malloc((size_t)7 * V * sizeof *want);
    naive_forward(want, &w, tok, 7);
    double maxd = 0, maxv = 0;
    for (size_t i = 0; i < (size_t)7 * V; i++) {
        maxd = fmax(maxd, fabs(got[i] - want[i]));
        maxv = fmax(maxv, fabs(want[i]));
    }
    if (maxd > 1e-5 || maxv < 1e-2)
        fail_msg("max |logit diff| %g vs naive (max |logit| %g)", maxd, maxv);
    free(got);
    free(want);
    gptj_weights_free(&w);
}

/* Prefill 3, then 5 single-token decode steps: logits equal the full run. */
static void test_kv_cache_decode(void **state)
{
    (void)state;
    GptjWeights w = micro_weights(GPTJ_F16);
    const int tok[8] = {1, 2, 3, 400, 5, 77, 300, 8};
    int V = w.cfg.vocab_size;
    float *full = run(&w, tok, 1, 8, 8);
    GptjState s;
    IpuErr e;
    assert_int_equal(gptj_state_init(&s, &w, 1, 8, &e), 0);
    float *lg = malloc((size_t)3 * V * sizeof *lg);
    assert_int_equal(gptj_forward(&s, tok, 3, lg, 0, &e), 0);
    assert_memory_equal(lg, full, (size_t)3 * V * sizeof *lg);
    for (int t = 3; t < 8; t++) {
        assert_int_equal(gptj_forward(&s, tok + t, 1, lg, 1, &e), 0);
        assert_memory_equal(lg, full + (size_t)t * V, (size_t)V * sizeof *lg);
    }
    assert_int_equal(gptj_forward(&s, tok, 1, lg, 1, &e), -1); /* cache full */
    assert_non_null(strstr(e.msg, "8 cached + 1 new tokens exceed the cache of 8 positions"));
    gptj_state_reset(&s);
    const int bad = 512;
    assert_int_equal(gptj_forward(&s, &bad, 1, lg, 1, &e), -1);
    assert_non_null(strstr(e.msg, "token 512 at (sequence 0, position 0) outside the vocabulary 0..511"));
    free(lg);
    free(full);
    gptj_state_free(&s);
    gptj_weights_free(&w);
}

static void test_batch_equals_separate(void **state)
{
    (void)state;
    GptjWeights w = micro_weights(GPTJ_F32);
    const int tok[3][5] = {{1, 2, 3, 4, 5}, {500, 400, 300, 200, 100}, {7, 7, 7, 7, 7}};
    int V = w.cfg.vocab_size;
    float *batch = run(&w, &tok[0][0], 3, 5, 5);
    for (int b = 0; b < 3; b++) {
        float *one = run(&w, tok[b], 1, 5, 5);
        assert_memory_equal(one, batch + (size_t)b * 5 * V, (size_t)5 * V * sizeof *one);
        free(one);
    }
    free(batch);
    gptj_weights_free(&w);
}

/* Wide enough that every matmul and the attention take their parallel path. */
static void test_threads_identical(void **state)
{
    (void)state;
    GptjConfig c;
    GptjWeights w;
    IpuErr e;
    assert_int_equal(gptj_config_preset(&c, "gptj-micro", &e), 0);
    c.n_layer = 1;
    c.n_embd = 256;
    c.head_dim = 64;
    c.rotary_dim = 16;
    c.n_inner = 1024;
    assert_int_equal(gptj_weights_synth(&w, &c, GPTJ_F16, 4, &e), 0);
    int tok[32], V = c.vocab_size, saved = omp_get_max_threads();
    for (int i = 0; i < 32; i++)
        tok[i] = (i * 37 + 5) % V;
    omp_set_num_threads(1);
    float *a = run(&w, tok, 2, 16, 16);
    omp_set_num_threads(2);
    float *b = run(&w, tok, 2, 16, 16);
    omp_set_num_threads(3);
    float *d = run(&w, tok, 2, 16, 16);
    omp_set_num_threads(saved);
    assert_memory_equal(a, b, (size_t)32 * V * sizeof *a);
    assert_memory_equal(a, d, (size_t)32 * V * sizeof *a);
    free(a);
    free(b);
    free(d);
    gptj_weights_free(&w);
}

static void test_sampling(void **state)
{
    (void)state;
    const float lg[4] = {0.0f, (float)M_LN2, -1e30f, (float)M_LN2};
    GptjSampler g = {0, 0, 1, 0};
    assert_int_equal(gptj_sample(&g, lg, 4), 1); /* greedy: lowest index among equal maxima */
    GptjSampler k1 = {1.0f, 1, 5, 0};
    assert_int_equal(gptj_sample(&k1, lg, 4), 1);
    /* temperature 1, top-2 of {0, ln2, ln2}: tokens 1 and 3 with 1/2 each */
    GptjSampler s = {1.0f, 2, 123, 0}, s2 = {1.0f, 2, 123, 0};
    int count[4] = {0};
    for (int i = 0; i < 4000; i++) {
        int t = gptj_sample(&s, lg, 4);
        assert_int_equal(t, gptj_sample(&s2, lg, 4)); /* same seed, same draws */
        count[t]++;
    }
    assert_int_equal(count[0] + count[2], 0);
    assert_true(abs(count[1] - 2000) < 200);
    /* no top-k: token 0 has weight 1 of 5 */
    GptjSampler all = {1.0f, 0, 9, 0};
    memset(count, 0, sizeof count);
    for (int i = 0; i < 5000; i++)
        count[gptj_sample(&all, lg, 4)]++;
    assert_int_equal(count[2], 0);
    assert_true(abs(count[0] - 1000) < 150);
}

static void test_generate(void **state)
{
    (void)state;
    GptjWeights w = micro_weights(GPTJ_F32);
    int V = w.cfg.vocab_size;
    const int prompt[4] = {10, 20, 30, 40};
    int out[6];
    GptjState s;
    IpuErr e;
    assert_int_equal(gptj_state_init(&s, &w, 1, 10, &e), 0);
    GptjSampler g = {0, 0, 0, 0};
    assert_int_equal(gptj_generate(&s, prompt, 4, 6, &g, out, &e), 0);
    /* greedy generation equals argmax over full recomputes */
    int seq[10];
    memcpy(seq, prompt, sizeof prompt);
    for (int i = 0; i < 6; i++) {
        float *lg = run(&w, seq, 1, 4 + i, 10);
        seq[4 + i] = gptj_sample(&g, lg + (size_t)(3 + i) * V, V);
        assert_int_equal(out[i], seq[4 + i]);
        free(lg);
    }
    gptj_state_free(&s);
    gptj_weights_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_rotary),
        cmocka_unit_test(test_softmax_masked),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_forward_vs_naive),
        cmocka_unit_test(test_kv_cache_decode),
        cmocka_unit_test(test_batch_equals_separate),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_generate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
