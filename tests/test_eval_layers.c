/* test_eval_layers.c - models/eval_layers: the layer-by-layer forward under
 * several formats gives, bit for bit, the logits of gptj_forward over each
 * format's eval_quantize_weights copy, and the same weight error; for
 * stored, lazy synthetic and lazy checkpoint weights, row-local specs and
 * the ones that are not (q4g:N:out, nf4g+dq, fp8 :tensor), a second call,
 * and any thread count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/eval_layers.h"
#include "models/gptj_forward.h"
#include "tests/testutil.h"

static float *whole_model_logits(const GptjWeights *w, const QuantSpec *s, const int *tok, int T, EvalWeightError *we)
{
    QuantPolicy p;
    GptjWeights q;
    GptjState st;
    IpuErr e;
    eval_policy(&p, s);
    if (eval_quantize_weights_err(&q, w, &p, GPTJ_F32, we, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(gptj_state_init(&st, &q, 1, T, &e), 0);
    float *lg = malloc((size_t)T * w->cfg.vocab_size * sizeof *lg);
    assert_int_equal(gptj_forward(&st, tok, T, lg, 0, &e), 0);
    gptj_state_free(&st);
    gptj_weights_free(&q);
    return lg;
}

static void parse_specs(const char *const *text, int nf, QuantSpec *specs)
{
    IpuErr e;
    for (int f = 0; f < nf; f++)
        if (quant_spec_parse(text[f], &specs[f], &e))
            fail_msg("%s", e.msg);
}

/* src's layer-by-layer logits of `rounds` token sets (calls) against the
 * whole-model forward of ref (the same weights, stored) for each spec. */
static void check_equal(const GptjWeights *src, const GptjWeights *ref, const char *const *text, int nf, int T,
                        int rounds)
{
    QuantSpec specs[EVAL_MAX_FORMATS];
    parse_specs(text, nf, specs);
    EvalLayers h;
    IpuErr e;
    int V = ref->cfg.vocab_size;
    if (eval_layers_init(&h, src, specs, nf, T, &e))
        fail_msg("%s", e.msg);
    h.rows = 100; /* windows of the embedding and LM head, the last one short, as a 6B run has them */
    float *lg[EVAL_MAX_FORMATS];
    for (int f = 0; f < nf; f++)
        lg[f] = malloc((size_t)T * V * sizeof(float));
    int tok[64];
    for (int round = 0; round < rounds; round++) { /* the second call: weight error measured, whole round trips kept */
        int P = T - round * 3;
        for (int i = 0; i < P; i++)
            tok[i] = (i * 131 + 7 + round * 1000) % V;
        if (eval_layers_logits(&h, tok, P, lg, &e))
            fail_msg("%s", e.msg);
        for (int f = 0; f < nf; f++) {
            EvalWeightError we, got;
            float *want = whole_model_logits(ref, &specs[f], tok, P, &we);
            if (memcmp(want, lg[f], (size_t)P * V * sizeof(float)))
                fail_msg("%s, %s, call %d: logits differ from the whole-model forward", ref->cfg.name, text[f], round);
            eval_layers_weight_error(&h, f, &got);
            assert_memory_equal(&we, &got, sizeof we);
            free(want);
        }
    }
    for (int f = 0; f < nf; f++)
        free(lg[f]);
    eval_layers_free(&h);
}

static const char *const micro_specs[] = {"fp16", "fp32", "q4g:16", "q4g:16:out", "s4g:32", "nf4g:16+dq", "i8c",
                                          "fp8e4m3:tensor"};
#define N_MICRO (int)(sizeof micro_specs / sizeof micro_specs[0])

/* Synthetic weights of preset under seed, stored in *w and lazy in *lazy. */
static void synth_pair(const char *preset, uint64_t seed, GptjWeights *w, GptjWeights *lazy)
{
    GptjConfig c;
    IpuErr e;
    assert_int_equal(gptj_config_preset(&c, preset, &e), 0);
    assert_int_equal(gptj_weights_synth(w, &c, GPTJ_F32, seed, &e), 0);
    assert_int_equal(gptj_weights_synth_lazy(lazy, &c, GPTJ_F32, seed, &e), 0);
}

static void test_micro_stored_and_lazy(void **state)
{
    (void)state;
    GptjWeights w, lazy;
    synth_pair("gptj-micro", 3, &w, &lazy);
    check_equal(&w, &w, micro_specs, N_MICRO, 24, 2);
    check_equal(&lazy, &w, micro_specs, N_MICRO, 24, 2);
    gptj_weights_free(&lazy);
    gptj_weights_free(&w);
}

static void test_micro_checkpoint(void **state)
{
    (void)state;
    char dir[256];
    GptjConfig c;
    GptjWeights stored, lazy;
    IpuErr e;
    assert_int_equal(tu_tmpdir_create(dir, sizeof dir, "ipusim_eval_layers_"), 0);
    char ck[300];
    snprintf(ck, sizeof ck, "%s/ck", dir);
    assert_int_equal(gptj_config_preset(&c, "gptj-micro", &e), 0);
    int shards;
    if (gptj_synth_write(&c, 4, ST_F16, ck, 1ull << 30, &shards, NULL, NULL, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(gptj_weights_load(&stored, NULL, ck, GPTJ_F32, 1, &e), 0);
    assert_int_equal(gptj_weights_load_lazy(&lazy, NULL, ck, GPTJ_F32, 1, &e), 0);
    const char *const specs[] = {"fp16", "q4g:32", "nf4g:16"};
    check_equal(&lazy, &stored, specs, 3, 16, 1);
    gptj_weights_free(&lazy);
    gptj_weights_free(&stored);
    assert_int_equal(tu_tmpdir_remove(dir), 0);
}

/* gptj-tiny: GPT-J's vocabulary, so the LM head spans many row windows. */
static void test_tiny_lazy(void **state)
{
    (void)state;
    GptjWeights w, lazy;
    synth_pair("gptj-tiny", 1, &w, &lazy);
    const char *const specs[] = {"q4g:64"}; /* micro covers the other specs */
    check_equal(&lazy, &w, specs, 1, 4, 1);
    gptj_weights_free(&lazy);
    gptj_weights_free(&w);
}

static void test_threads_and_errors(void **state)
{
    (void)state;
    GptjConfig c;
    GptjWeights lazy;
    IpuErr e;
    assert_int_equal(gptj_config_preset(&c, "gptj-micro", &e), 0);
    assert_int_equal(gptj_weights_synth_lazy(&lazy, &c, GPTJ_F32, 8, &e), 0);
    QuantSpec specs[2];
    const char *const text[] = {"fp16", "q4g:16"};
    parse_specs(text, 2, specs);
    int tok[20], V = c.vocab_size;
    for (int i = 0; i < 20; i++)
        tok[i] = (i * 37 + 1) % V;
    float *lg[2][2];
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 2 : 1);
        EvalLayers h;
        assert_int_equal(eval_layers_init(&h, &lazy, specs, 2, 20, &e), 0);
        for (int f = 0; f < 2; f++)
            lg[run][f] = malloc((size_t)20 * V * sizeof(float));
        assert_int_equal(eval_layers_logits(&h, tok, 20, lg[run], &e), 0);
        if (run) { /* out of range, refused with the reason */
            assert_int_equal(eval_layers_logits(&h, tok, 21, lg[run], &e), -1);
            assert_non_null(strstr(e.msg, "21 positions"));
            tok[3] = V;
            assert_int_equal(eval_layers_logits(&h, tok, 20, lg[run], &e), -1);
            assert_non_null(strstr(e.msg, "token 512 at position 3"));
        }
        eval_layers_free(&h);
    }
    for (int f = 0; f < 2; f++) {
        assert_memory_equal(lg[0][f], lg[1][f], (size_t)20 * V * sizeof(float));
        free(lg[0][f]), free(lg[1][f]);
    }
    EvalLayers h;
    assert_int_equal(eval_layers_init(&h, &lazy, specs, 2, c.n_positions + 1, &e), -1);
    assert_non_null(strstr(e.msg, "n_positions"));
    gptj_weights_free(&lazy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_micro_stored_and_lazy),
        cmocka_unit_test(test_micro_checkpoint),
        cmocka_unit_test(test_tiny_lazy),
        cmocka_unit_test(test_threads_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
