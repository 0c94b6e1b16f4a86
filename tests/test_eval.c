/* test_eval.c - models/eval: KL, top-1 agreement and max logit difference on
 * hand-worked cases, perplexity, quantized model copies, and the ordering of
 * errors fp16 < int4 g16 < int4 g64 on a micro model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "models/eval.h"
#include "models/gptj_forward.h"

#define NEAR(a, b, tol) \
    do { \
        double a_ = (a), b_ = (b); \
        if (fabs(a_ - b_) > (tol)) \
            fail_msg("%s = %.9g, want %.9g", #a, a_, b_); \
    } while (0)

static void test_compare(void **state)
{
    (void)state;
    const float ref[4] = {0, 0, 2, 0};
    const float test[4] = {(float)log(3.0), 0, 0, 1};
    EvalCompare c;
    eval_compare(&c, ref, ref, 2, 2);
    NEAR(c.mean_kl, 0, 1e-12);
    NEAR(c.top1_agree, 1, 0);
    NEAR(c.max_logit_diff, 0, 0);
    eval_compare(&c, ref, test, 2, 2);
    /* row 0: p (1/2, 1/2), q (3/4, 1/4): KL = ln(4/3) / 2; argmax 0 both.
     * row 1: p = softmax(2, 0), q = softmax(0, 1); argmax 0 vs 1. */
    double p0 = 1 / (1 + exp(-2.0)), q0 = 1 / (1 + exp(1.0));
    double kl1 = p0 * log(p0 / q0) + (1 - p0) * log((1 - p0) / (1 - q0));
    NEAR(c.mean_kl, (0.5 * log(4.0 / 3.0) + kl1) / 2, 1e-7);
    NEAR(c.top1_agree, 0.5, 0);
    NEAR(c.max_logit_diff, 2, 1e-6);
    assert_int_equal(c.n_positions, 2);
}

static void test_perplexity(void **state)
{
    (void)state;
    float uni[3 * 8] = {0};
    const int tok[3] = {0, 5, 7};
    NEAR(eval_perplexity(uni, tok, 3, 8), 8, 1e-9);
    /* p(tok1 = 1) = 1/2, p(tok2 = 0) = 1/4: exp((ln 2 + ln 4) / 2) = sqrt(8) */
    const float lg2[6] = {0, 0, -INFINITY, 0, (float)log(3.0), -INFINITY}; /* third entry impossible */
    const int t2[3] = {0, 1, 0};
    NEAR(eval_perplexity(lg2, t2, 3, 3), sqrt(8.0), 1e-6);
}

static GptjWeights micro(GptjDtype wd)
{
    GptjConfig c;
    GptjWeights w;
    IpuErr e;
    assert_int_equal(gptj_config_preset(&c, "gptj-micro", &e), 0);
    assert_int_equal(gptj_weights_synth(&w, &c, wd, 5, &e), 0);
    return w;
}

static void test_quantize_weights(void **state)
{
    (void)state;
    GptjWeights w = micro(GPTJ_F32), f, q;
    IpuErr e;
    QuantSpec s16, s4;
    QuantPolicy p;
    assert_int_equal(quant_spec_parse("f16", &s16, &e), 0);
    quant_policy_uniform(&p, &s16);
    assert_int_equal(eval_quantize_weights(&f, &w, &p, GPTJ_F16, &e), 0);
    size_t nq = (size_t)w.cfg.n_embd * w.cfg.n_embd;
    for (size_t i = 0; i < nq; i++)
        assert_int_equal(((uint16_t *)f.h[1].q_proj)[i], fp16_from_f32(((float *)w.h[1].q_proj)[i]));
    assert_true(f.ln_f_w[3] == fp16_to_f32(fp16_from_f32(w.ln_f_w[3]))); /* gains go through fp16 too */
    assert_int_equal(quant_spec_parse("q4g:16", &s4, &e), 0);
    quant_policy_graphcore(&p, &s4);
    assert_int_equal(eval_quantize_weights(&q, &f, &p, GPTJ_F32, &e), 0);
    /* q_proj equals quantize -> dequantize done directly */
    float *src = malloc(nq * sizeof *src), *deq = malloc(nq * sizeof *deq);
    for (size_t i = 0; i < nq; i++)
        src[i] = fp16_to_f32(((uint16_t *)f.h[1].q_proj)[i]);
    QuantTensor qt;
    assert_int_equal(quant_tensor(&s4, "q", src, w.cfg.n_embd, w.cfg.n_embd, &qt, &e), 0);
    quant_dequantize(&qt, deq);
    quant_tensor_free(&qt);
    assert_memory_equal(deq, q.h[1].q_proj, nq * sizeof *deq);
    int differ = 0;
    for (size_t i = 0; i < nq; i++)
        differ += deq[i] != src[i];
    assert_true(differ > (int)nq / 2); /* int4 really changed the weights */
    /* the embedding stays fp16 under Graphcore's policy */
    assert_true(((float *)q.wte)[10] == fp16_to_f32(((uint16_t *)f.wte)[10]));
    free(src);
    free(deq);
    gptj_weights_free(&w);
    gptj_weights_free(&f);
    gptj_weights_free(&q);
}

static float *logits_of(const GptjWeights *w, const int *tok, int T)
{
    GptjState s;
    IpuErr e;
    assert_int_equal(gptj_state_init(&s, w, 1, T, &e), 0);
    float *lg = malloc((size_t)T * w->cfg.vocab_size * sizeof *lg);
    assert_int_equal(gptj_forward(&s, tok, T, lg, 0, &e), 0);
    gptj_state_free(&s);
    return lg;
}

static void test_error_ordering(void **state)
{
    (void)state;
    GptjWeights w = micro(GPTJ_F32);
    int tok[24], V = w.cfg.vocab_size;
    for (int i = 0; i < 24; i++)
        tok[i] = (i * 97 + 13) % V;
    float *ref = logits_of(&w, tok, 24);
    const char *specs[3] = {"f16", "q4g:16", "q4g:64"};
    double kl[3];
    for (int k = 0; k < 3; k++) {
        QuantSpec s;
        QuantPolicy p;
        IpuErr e;
        GptjWeights q;
        assert_int_equal(quant_spec_parse(specs[k], &s, &e), 0);
        if (k == 0)
            quant_policy_uniform(&p, &s);
        else
            quant_policy_graphcore(&p, &s);
        assert_int_equal(eval_quantize_weights(&q, &w, &p, GPTJ_F32, &e), 0);
        float *lg = logits_of(&q, tok, 24);
        EvalCompare c;
        eval_compare(&c, ref, lg, 24, V);
        kl[k] = c.mean_kl;
        assert_true(c.mean_kl > 0);
        free(lg);
        gptj_weights_free(&q);
    }
    if (!(kl[0] < kl[1] && kl[1] < kl[2]))
        fail_msg("KL fp16 %g, q4g:16 %g, q4g:64 %g: want increasing", kl[0], kl[1], kl[2]);
    free(ref);
    gptj_weights_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_perplexity),
        cmocka_unit_test(test_quantize_weights),
        cmocka_unit_test(test_error_ordering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
