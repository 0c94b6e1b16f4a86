/* test_quant.c - models/quant: formats, int4-group quantization, policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "base/quant_format.h"
#include "models/quant.h"
#include "tests/quant_fixture.h"

/* Expects an error whose message contains every one of the needles. */
static void quantize_fails(const char *spec, const char *name, const float *w, int64_t rows, int64_t cols,
                           const char *n1, const char *n2, const char *n3)
{
    QuantSpec s = qf_spec(spec);
    QuantTensor q;
    IpuErr e = {{0}};
    assert_int_equal(quant_tensor(&s, name, w, rows, cols, &q, &e), -1);
    const char *needles[] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (needles[i] && !strstr(e.msg, needles[i]))
            fail_msg("error '%s' lacks '%s'", e.msg, needles[i]);
    assert_null(q.packed);
    assert_null(q.f16);
}

/* A group worked by hand (n = 8):
 *   w = -1, 0.5, 2, 0.25, 1, -0.5, 0.75, 1.5 (all exact in fp16)
 *   bias = min = -1; max = 2; (max - min) / 15 = 0.2 -> fp16 0x3266
 *   = 1638/8192 = 0.199951171875 (0.2 lies between 1638/8192 and 1639/8192,
 *   nearer the first).
 *   codes = rne((w + 1) / 0.199951171875):
 *     0/s = 0 -> 0      1.5/s = 7.5018 -> 8   3/s = 15.0037 -> 15
 *     1.25/s = 6.2515 -> 6   2/s = 10.0024 -> 10   0.5/s = 2.5006 -> 3
 *     1.75/s = 8.7521 -> 9   2.5/s = 12.503 -> 13
 *   words: (0, 8, 15, 6) -> 0x08F6, (10, 3, 9, 13) -> 0xA39D
 *   dequant of code 8: 8 * 1638/8192 = 1.599609375 (exact), - 1 = 0.599609375.
 *   dequant of code 15: 15 * 1638/8192 = 2.999267578125, which the first
 *   fp16 rounding (step 2^-9 in [2, 4)) takes to 3.0; 3 - 1 = 2, the max. */
static void test_hand_computed_group(void **state)
{
    (void)state;
    const float w[8] = {-1.0f, 0.5f, 2.0f, 0.25f, 1.0f, -0.5f, 0.75f, 1.5f};
    QuantTensor q;
    qf_quantize("q4g:8", w, 1, 8, &q);
    assert_int_equal(q.scale[0], 0x3266);
    assert_int_equal(q.bias[0], fp16_from_f32(-1.0f));
    assert_int_equal(q.packed[0], 0x08F6);
    assert_int_equal(q.packed[1], 0xA39D);
    float d[8];
    quant_dequantize(&q, d);
    assert_true(d[1] == 0.599609375f);
    assert_true(d[0] == -1.0f);
    assert_true(d[2] == 2.0f);
    assert_int_equal(q.data_bytes, 2 * 2 + 2 + 2);
    quant_tensor_free(&q);
}

/* Element 0 of four sits in bits 15..12: with min 0 and max 15 the scale is
 * exactly 1 and the codes are the values. */
static void test_nibble_order(void **state)
{
    (void)state;
    const float w[8] = {1, 2, 3, 4, 0, 15, 5, 6};
    QuantTensor q;
    qf_quantize("q4g:8", w, 1, 8, &q);
    assert_int_equal(q.scale[0], FP16_ONE);
    assert_int_equal(q.packed[0], 0x1234);
    assert_int_equal(q.packed[1], 0x0F56);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(q4_code(q.packed[0], i), i + 1);
    quant_tensor_free(&q);
}

/* Scale 1 again: exact halves tie and go to the even code. */
static void test_round_half_even_ties(void **state)
{
    (void)state;
    const float w[8] = {0, 15, 2.5f, 3.5f, 0.5f, 1.5f, 14.5f, 7};
    QuantTensor q;
    qf_quantize("q4g:8", w, 1, 8, &q);
    assert_int_equal(q.packed[0], q4_pack(0, 15, 2, 4));
    assert_int_equal(q.packed[1], q4_pack(0, 2, 14, 7));
    quant_tensor_free(&q);
}

/* Constant groups: scale 0, codes 0, exact values back. Also a range so small
 * that scale rounds to 0 (2^-24 / 15 is below half the smallest subnormal),
 * and one where the subnormal scale makes a code above 15 (clamped). */
static void test_constant_and_tiny_groups(void **state)
{
    (void)state;
    const float sub = 0x1p-24f;
    const float w[12] = {0.3f, 0.3f, 0.3f, 0.3f, 0, sub, 0, 0, 0, 22 * sub, 0, 0};
    QuantTensor q;
    qf_quantize("q4g:4", w, 3, 4, &q);
    assert_int_equal(q.scale[0], 0);
    assert_int_equal(q.packed[0], 0);
    assert_int_equal(q.bias[0], fp16_from_f32(0.3f));
    assert_int_equal(q.scale[1], 0);
    assert_int_equal(q.packed[1], 0);
    assert_int_equal(q.scale[2], 0x0001);             /* 22/15 ulp rounds to 1 ulp */
    assert_int_equal(q.packed[2], q4_pack(0, 15, 0, 0)); /* 22 clamped to 15 */
    float d[12];
    quant_dequantize(&q, d);
    for (int i = 0; i < 4; i++)
        assert_true(d[i] == fp16_to_f32(fp16_from_f32(0.3f)));
    assert_true(d[5] == 0.0f);
    assert_true(d[9] == 15 * sub);
    quant_tensor_free(&q);
}

static void test_nonfinite_rejected(void **state)
{
    (void)state;
    float w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (float)i / 16;
    w[11] = NAN;
    quantize_fails("q4g:8", "layer.w", w, 2, 8, "layer.w", "index 11", NULL);
    quantize_fails("f16", "layer.w", w, 2, 8, "layer.w", "index 11", NULL);
    quantize_fails("f32", "layer.w", w, 2, 8, "layer.w", "index 11", NULL);
    w[11] = 0;
    w[3] = -INFINITY;
    quantize_fails("q4g:8", "layer.w", w, 2, 8, "layer.w", "index 3", NULL);
    w[3] = 1e6f;
    quantize_fails("q4g:8", "layer.w", w, 2, 8, "index 3", "fp16 range", NULL);
}

static void test_group_size_errors(void **state)
{
    (void)state;
    float w[24] = {0};
    QuantSpec s = qf_spec("q4g:8");
    QuantTensor q;
    IpuErr e = {{0}};
    s.group = 6;
    assert_int_equal(quant_tensor(&s, "mlp.fc_in", w, 2, 12, &q, &e), -1);
    assert_non_null(strstr(e.msg, "mlp.fc_in"));
    assert_non_null(strstr(e.msg, "group size 6"));
    assert_non_null(strstr(e.msg, "length 12"));
    s.group = 0;
    assert_int_equal(quant_tensor(&s, "mlp.fc_in", w, 2, 12, &q, &e), -1);
    assert_non_null(strstr(e.msg, "group size 0"));
    quantize_fails("q4g:8", "mlp.fc_in", w, 2, 12, "mlp.fc_in", "group size 8", "length 12");
    quantize_fails("q4g:8:out", "mlp.fc_in", w, 12, 2, "output axis", "length 12", NULL);

    const char *bad[] = {"q4g:6", "q4g:0", "q4g:-4", "q4g:abc", "q4g:8x", "q4g:8:sideways", "f16:4", "int3", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        QuantSpec t;
        e.msg[0] = '\0';
        assert_int_equal(quant_spec_parse(bad[i], &t, &e), -1);
        if (!strstr(e.msg, "weight format"))
            fail_msg("spec '%s': message '%s'", bad[i], e.msg);
    }
}

static void test_spec_parse_and_bits(void **state)
{
    (void)state;
    char buf[32];
    QuantSpec s = qf_spec("q4g");
    assert_ptr_equal(s.fmt, &quant_format_q4g);
    assert_int_equal(s.group, 64);
    assert_int_equal(s.axis, QUANT_AXIS_IN);
    assert_true(quant_bits_per_param(&s, 4096, 4096) == 4.5);
    s = qf_spec("q4g:32:out");
    assert_int_equal(s.axis, QUANT_AXIS_OUT);
    assert_true(quant_bits_per_param(&s, 64, 64) == 5.0);
    quant_spec_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "q4g:32:out");
    assert_ptr_equal(qf_spec("fp16").fmt, &quant_format_f16);
    assert_ptr_equal(qf_spec("fp32").fmt, &quant_format_f32);
    s = qf_spec("f16");
    assert_true(quant_bits_per_param(&s, 3, 5) == 16.0);

    /* stored bytes agree with the bits per parameter: 64 x 128 at n = 64 */
    enum { R = 64, C = 128 };
    float *w = malloc(R * C * sizeof(float));
    for (int i = 0; i < R * C; i++)
        w[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    QuantTensor q;
    qf_quantize("q4g:64", w, R, C, &q);
    assert_true((double)q.data_bytes * 8 / (R * C) == 4.5);
    quant_tensor_free(&q);
    qf_quantize("f16", w, R, C, &q);
    assert_int_equal(q.data_bytes, R * C * 2);
    quant_tensor_free(&q);
    free(w);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double rng_normal(uint64_t *s)
{
    double u1 = ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Dequantize equals q4_dequant_ref on every element, and every code is the
 * nearest level (ties even) to its fp16 value: checked by brute force over
 * the 16 levels in exact double arithmetic, independent of quant.c. */
static void test_dequant_matches_ref_and_codes_nearest(void **state)
{
    (void)state;
    enum { R = 16, C = 256, N = 32 };
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    float *w = malloc(R * C * sizeof(float)), *d = malloc(R * C * sizeof(float));
    for (int i = 0; i < R * C; i++)
        w[i] = (float)(rng_normal(&seed) * 0.02);
    QuantTensor q;
    qf_quantize("q4g:32", w, R, C, &q);
    quant_dequantize(&q, d);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            int g = r * (C / N) + c / N;
            unsigned code = q4_code(q.packed[(r * C + c) / 4], (unsigned)(c % 4));
            uint16_t ref = q4_dequant_ref(code, q.scale[g], q.bias[g]);
            assert_true(d[r * C + c] == fp16_to_f32(ref));
            double v = fp16_to_f32(fp16_from_f32(w[r * C + c]));
            double s = fp16_to_f32(q.scale[g]), b = fp16_to_f32(q.bias[g]);
            unsigned best = 0;
            double best_d = INFINITY;
            for (unsigned k = 0; k <= 15; k++) {
                double dist = fabs(v - (b + k * s));
                if (dist < best_d || (dist == best_d && !(k & 1))) {
                    best = k;
                    best_d = dist;
                }
            }
            assert_int_equal(code, best);
        }
    quant_tensor_free(&q);
    free(w);
    free(d);
}

/* Groups along the output axis: same as quantizing the transpose along its
 * input axis, and dequantize gives the [rows, cols] order back. */
static void test_axis_out_is_transpose(void **state)
{
    (void)state;
    enum { R = 64, C = 12 };
    uint64_t seed = 77;
    float w[R * C], wt[C * R], d1[R * C], d2[C * R];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            wt[c * R + r] = w[r * C + c] = (float)rng_normal(&seed);
    QuantTensor a, b;
    qf_quantize("q4g:16:out", w, R, C, &a);
    qf_quantize("q4g:16", wt, C, R, &b);
    assert_int_equal(a.qrows, C);
    assert_int_equal(a.qlen, R);
    assert_memory_equal(a.packed, b.packed, R * C / 4 * sizeof(uint16_t));
    assert_memory_equal(a.scale, b.scale, C * (R / 16) * sizeof(uint16_t));
    assert_memory_equal(a.bias, b.bias, C * (R / 16) * sizeof(uint16_t));
    quant_dequantize(&a, d1);
    quant_dequantize(&b, d2);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            assert_true(d1[r * C + c] == d2[c * R + r]);
    quant_tensor_free(&a);
    quant_tensor_free(&b);
}

/* N(0,1) at n = 64. Hard bound: every error is at most half a step of its
 * group plus the two fp16 roundings of the decompression and the one of the
 * input (each at most half an ulp of a value below 8, 2^-9 together is
 * generous). Statistical model: inside a group the codes cut the range into
 * 15 steps of scale s; for smooth data the rounding error is uniform on
 * [-s/2, s/2], variance s^2/12, for the n - 2 elements that are not the
 * group's min or max (those land exactly). So the expected SQNR is
 * 10 log10(sum w^2 / sum_g (n - 2) s_g^2 / 12), about 20.6 dB for a range of
 * ~4.9 sigma; the measurement must sit within 0.5 dB of it. */
static void test_sqnr_normal(void **state)
{
    (void)state;
    enum { R = 256, C = 1024, N = 64 };
    uint64_t seed = 12345;
    float *w = malloc((size_t)R * C * sizeof(float)), *d = malloc((size_t)R * C * sizeof(float));
    for (int i = 0; i < R * C; i++)
        w[i] = (float)rng_normal(&seed);
    QuantTensor q;
    qf_quantize("q4g:64", w, R, C, &q);
    QuantStats st;
    quant_stats(&q, w, &st);
    quant_dequantize(&q, d);
    double sig = 0, model_noise = 0;
    for (int i = 0; i < R * C; i++)
        sig += (double)w[i] * w[i];
    for (int g = 0; g < R * C / N; g++) {
        double s = fp16_to_f32(q.scale[g]);
        model_noise += (N - 2) * s * s / 12.0;
        for (int k = 0; k < N; k++) {
            double err = fabs((double)d[g * N + k] - w[g * N + k]);
            if (err > s / 2 + 0x1p-9)
                fail_msg("element %d: error %g above half a step %g", g * N + k, err, s / 2);
        }
    }
    double model_db = 10 * log10(sig / model_noise);
    print_message("q4g:64 on N(0,1): SQNR %.2f dB (model %.2f dB), RMSE %.4f, max error %.4f\n",
                  st.sqnr_db, model_db, st.rmse, st.max_abs_err);
    assert_true(model_db > 19.0 && model_db < 22.5);
    assert_true(fabs(st.sqnr_db - model_db) < 0.5);
    assert_true(fabs(st.rmse - sqrt(sig / (R * C)) * pow(10, -st.sqnr_db / 20)) < 1e-9);

    /* fp16 keeps 11 significant bits: SQNR far above 60 dB, and f32 is exact */
    quant_tensor_free(&q);
    qf_quantize("f16", w, R, C, &q);
    quant_stats(&q, w, &st);
    assert_true(st.sqnr_db > 60.0);
    quant_tensor_free(&q);
    qf_quantize("f32", w, R, C, &q);
    quant_stats(&q, w, &st);
    assert_true(isinf(st.sqnr_db) && st.rmse == 0);
    quant_tensor_free(&q);
    free(w);
    free(d);
}

/* Same bits at any OpenMP thread count. */
static void test_thread_count_independent(void **state)
{
    (void)state;
    enum { R = 96, C = 512 };
    uint64_t seed = 4242;
    float *w = malloc(R * C * sizeof(float));
    for (int i = 0; i < R * C; i++)
        w[i] = (float)rng_normal(&seed);
    QuantTensor a, b;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    qf_quantize("q4g:64", w, R, C, &a);
    omp_set_num_threads(4);
    qf_quantize("q4g:64", w, R, C, &b);
    omp_set_num_threads(saved);
    assert_memory_equal(a.packed, b.packed, R * C / 4 * sizeof(uint16_t));
    assert_memory_equal(a.scale, b.scale, R * C / 64 * sizeof(uint16_t));
    assert_memory_equal(a.bias, b.bias, R * C / 64 * sizeof(uint16_t));
    quant_tensor_free(&a);
    quant_tensor_free(&b);
    free(w);
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(quant_glob_match("*.bias", "transformer.h.3.mlp.fc_in.bias"));
    assert_false(quant_glob_match("*.bias", "transformer.h.3.mlp.fc_in.bias.x"));
    assert_true(quant_glob_match("*ln_*", "transformer.ln_f.weight"));
    assert_true(quant_glob_match("lm_head.weight", "lm_head.weight"));
    assert_false(quant_glob_match("lm_head.weight", "lm_head.weights"));
    assert_true(quant_glob_match("*", ""));
    assert_true(quant_glob_match("a*b*c", "aXbYbZc"));
    assert_false(quant_glob_match("a*b*c", "aXbYbZ"));
}

static void test_policy(void **state)
{
    (void)state;
    QuantSpec w = qf_spec("q4g:64:out"), f;
    QuantPolicy p;
    quant_policy_graphcore(&p, &w);
    const char *f16_names[] = {"transformer.wte.weight", "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
                               "transformer.h.27.mlp.fc_in.bias", "transformer.h.27.mlp.fc_out.bias",
                               "transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.bias"};
    const char *q_names[] = {"transformer.h.0.attn.q_proj.weight", "transformer.h.0.attn.k_proj.weight",
                             "transformer.h.0.attn.v_proj.weight", "transformer.h.0.attn.out_proj.weight",
                             "transformer.h.5.mlp.fc_in.weight", "transformer.h.5.mlp.fc_out.weight",
                             "lm_head.weight"};
    for (size_t i = 0; i < sizeof f16_names / sizeof f16_names[0]; i++)
        assert_ptr_equal(quant_policy_lookup(&p, f16_names[i])->fmt, &quant_format_f16);
    for (size_t i = 0; i < sizeof q_names / sizeof q_names[0]; i++) {
        const QuantSpec *s = quant_policy_lookup(&p, q_names[i]);
        assert_ptr_equal(s->fmt, &quant_format_q4g);
        assert_int_equal(s->group, 64);
        assert_int_equal(s->axis, QUANT_AXIS_IN); /* the policy groups along the input axis */
    }
    IpuErr e = {{0}};
    assert_int_equal(quant_policy_prepend(&p, "lm_head.weight=f16", &e), 0);
    assert_int_equal(quant_policy_prepend(&p, "*.mlp.*=q4g:32", &e), 0);
    assert_ptr_equal(quant_policy_lookup(&p, "lm_head.weight")->fmt, &quant_format_f16);
    assert_int_equal(quant_policy_lookup(&p, "transformer.h.1.mlp.fc_in.weight")->group, 32);
    assert_int_equal(quant_policy_lookup(&p, "transformer.h.1.attn.q_proj.weight")->group, 64);
    assert_int_equal(quant_policy_prepend(&p, "lm_head.weight", &e), -1);
    assert_non_null(strstr(e.msg, "PATTERN=FORMAT"));
    assert_int_equal(quant_policy_prepend(&p, "x=q4g:7", &e), -1);
    assert_non_null(strstr(e.msg, "x=q4g:7"));

    f = qf_spec("f16");
    quant_policy_uniform(&p, &f);
    assert_ptr_equal(quant_policy_lookup(&p, "transformer.h.0.attn.q_proj.weight")->fmt, &quant_format_f16);
}

/* ---- every group against a scalar transcription of the specification ---- */

/* fp16 nearest to x >= 0, ties to even, by search (one rounding). */
static uint16_t ref_f16_of(double x)
{
    uint16_t best = 0;
    double best_d = INFINITY;
    for (uint32_t c = 0; c <= FP16_MAX; c++) {
        double d = fabs((double)fp16_to_f32((uint16_t)c) - x);
        if (d < best_d || (d == best_d && !(c & 1)))
            best = (uint16_t)c, best_d = d;
        if ((double)fp16_to_f32((uint16_t)c) > x)
            break;
    }
    return best;
}

/* bias = the first element equal to the minimum, scale = (max - min) / 15
 * rounded once, code = the nearest level (ties to the even code), clamped. */
static void ref_group(const uint16_t *v, unsigned n, uint16_t *packed, uint16_t *scale, uint16_t *bias)
{
    unsigned lo = 0;
    double hi = fp16_to_f32(v[0]);
    for (unsigned i = 1; i < n; i++) {
        if (fp16_to_f32(v[i]) < fp16_to_f32(v[lo]))
            lo = i;
        if (fp16_to_f32(v[i]) > hi)
            hi = fp16_to_f32(v[i]);
    }
    double l = fp16_to_f32(v[lo]);
    *bias = v[lo];
    *scale = ref_f16_of((hi - l) / 15.0);
    double sd = fp16_to_f32(*scale);
    for (unsigned i = 0; i < n; i += 4) {
        unsigned c[4];
        for (unsigned k = 0; k < 4; k++)
            c[k] = sd == 0 ? 0 : (unsigned)fmin(15.0, fmax(0.0, nearbyint((fp16_to_f32(v[i + k]) - l) / sd)));
        packed[i / 4] = q4_pack(c[0], c[1], c[2], c[3]);
    }
}

static void test_groups_match_reference(void **state)
{
    (void)state;
    static const unsigned sizes[] = {4, 8, 12, 16, 32, 64, 128};
    uint64_t seed = 77;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int trial = 0; trial < 200; trial++) {
            unsigned n = sizes[si], rows = 3;
            float w[3 * 128];
            for (unsigned i = 0; i < rows * n; i++) {
                double z = rng_normal(&seed);
                switch (trial % 5) {
                case 0: w[i] = (float)(0.02 * z); break;                         /* the usual */
                case 1: w[i] = (float)nearbyint(4 * z) * 0.125f; break;          /* few levels: ties */
                case 2: w[i] = (float)(z > 0 ? 0.0 : -0.0); break;               /* +0 and -0 */
                case 3: w[i] = (float)(1e-6 * z); break;                         /* subnormals */
                default: w[i] = i % 7 ? (float)(3000 * z) : 0.0f; break;         /* wide */
                }
            }
            QuantTensor q;
            char spec[16];
            snprintf(spec, sizeof spec, "q4g:%u", n);
            qf_quantize(spec, w, rows, n, &q);
            for (unsigned r = 0; r < rows; r++) {
                uint16_t v[128] = {0}, packed[32], sc, bi;
                for (unsigned i = 0; i < n; i++)
                    v[i] = fp16_from_f32(w[r * n + i]);
                ref_group(v, n, packed, &sc, &bi);
                assert_int_equal(q.scale[r], sc);
                assert_int_equal(q.bias[r], bi);
                assert_memory_equal(q.packed + r * n / 4, packed, n / 2);
            }
            quant_tensor_free(&q);
        }
}

/* quant_spec_row_local: a row-local spec quantizes a window of rows as the
 * whole matrix quantizes them; each spec it calls not row-local really
 * differs on some window (the test would catch a wrong claim either way). */
static void test_row_local(void **state)
{
    (void)state;
    const int64_t R = 1024, C = 64, r0 = 328, n = 192; /* q4g:16:out groups misaligned; nf4g+dq: blocks of 256 groups span rows */
    float *w = malloc((size_t)(R * C) * sizeof *w), *all = malloc((size_t)(R * C) * sizeof *all);
    float *part = malloc((size_t)(n * C) * sizeof *part);
    for (int64_t i = 0; i < R * C; i++)
        w[i] = (float)(0.02 * sin(0.37 * (double)i) * (1 + (i / C) % 7));
    w[5] = 0.5f; /* the tensor's largest weight, outside the window: per-tensor scales see it */
    const char *specs[] = {"f32", "f16", "q4g:16", "q4g:16:out", "s4g:32", "nf4g:16", "nf4g:16+dq", "i8g:32",
                           "i8c", "fp8e4m3", "fp8e4m3:tensor", "fp8e5m2:tensor"};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        QuantSpec s;
        QuantTensor q;
        IpuErr e;
        assert_int_equal(quant_spec_parse(specs[k], &s, &e), 0);
        assert_int_equal(quant_tensor(&s, "w", w, R, C, &q, &e), 0);
        quant_dequantize(&q, all);
        quant_tensor_free(&q);
        assert_int_equal(quant_tensor(&s, "w", w + r0 * C, n, C, &q, &e), 0);
        quant_dequantize(&q, part);
        quant_tensor_free(&q);
        int same = !memcmp(part, all + r0 * C, (size_t)(n * C) * sizeof *part);
        if (same != quant_spec_row_local(&s))
            fail_msg("%s: a window of rows %s the whole matrix's, quant_spec_row_local says %d", specs[k],
                     same ? "equals" : "differs from", quant_spec_row_local(&s));
    }
    free(w), free(all), free(part);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed_group),
        cmocka_unit_test(test_groups_match_reference),
        cmocka_unit_test(test_nibble_order),
        cmocka_unit_test(test_round_half_even_ties),
        cmocka_unit_test(test_constant_and_tiny_groups),
        cmocka_unit_test(test_nonfinite_rejected),
        cmocka_unit_test(test_group_size_errors),
        cmocka_unit_test(test_spec_parse_and_bits),
        cmocka_unit_test(test_dequant_matches_ref_and_codes_nearest),
        cmocka_unit_test(test_axis_out_is_transpose),
        cmocka_unit_test(test_sqnr_normal),
        cmocka_unit_test(test_thread_count_independent),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_row_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
