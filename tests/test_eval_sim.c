/* test_eval_sim.c - host/eval_sim: model eval's logits from the simulated
 * machine. Each format's window logits are the run's every-position logits
 * (the machine's fp16 numerics) and lie within the lowering tests' logit
 * tolerance (tests/lower_fixture.h) of the fp32 host reference's under the
 * same format; windows shorter than the set-up one; the same bits at 1 and
 * 2 threads; the keys eval owns and formats the machine cannot hold are
 * refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/eval_sim.h"
#include "models/eval_layers.h"
#include "tests/lower_fixture.h"

enum { NF = 2, WINDOW = 12 };
static const char *const formats = "fp16,q4g:16";

typedef struct Fixture {
    GptjConfig c;
    GptjWeights w;
    QuantSpec specs[NF];
    float *sim[NF], *ref[NF];
    int tok[WINDOW];
} Fixture;

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof *f);
    IpuErr e;
    const char *names[NF] = {"fp16", "q4g:16"};
    if (gptj_config_preset(&f->c, "gptj-micro", &e) || gptj_weights_synth_lazy(&f->w, &f->c, GPTJ_F32, 3, &e))
        fail_msg("%s", e.msg);
    for (int k = 0; k < NF; k++) {
        if (quant_spec_parse(names[k], &f->specs[k], &e))
            fail_msg("%s", e.msg);
        f->sim[k] = malloc((size_t)WINDOW * f->c.vocab_size * sizeof(float));
        f->ref[k] = malloc((size_t)WINDOW * f->c.vocab_size * sizeof(float));
    }
    for (int i = 0; i < WINDOW; i++)
        f->tok[i] = (i * 389 + 11) % f->c.vocab_size;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    for (int k = 0; k < NF; k++)
        free(f->sim[k]), free(f->ref[k]);
    gptj_weights_free(&f->w);
    free(f);
    return 0;
}

static void sim_logits(Fixture *f, int P, const char *const *sets, int nsets)
{
    EvalSim s;
    IpuErr e;
    RunConfig rc;
    if (eval_sim_config(&rc, "gptj-micro", NULL, 3, sets, nsets, &e) ||
        eval_sim_init(&s, &rc, formats, WINDOW, &f->w, &e) || eval_sim_logits(&s, f->tok, P, f->sim, &e))
        fail_msg("%s", e.msg);
    eval_sim_free(&s);
}

/* The machine's logits at every position of windows of 12 and 7 tokens
 * against the host reference's under the same format. */
static void test_against_reference(void **state)
{
    Fixture *f = *state;
    int V = f->c.vocab_size;
    for (int P = WINDOW; P >= 7; P -= 5) {
        sim_logits(f, P, NULL, 0);
        EvalLayers h;
        IpuErr e;
        if (eval_layers_init(&h, &f->w, f->specs, NF, P, &e) || eval_layers_logits(&h, f->tok, P, f->ref, &e))
            fail_msg("%s", e.msg);
        eval_layers_free(&h);
        for (int k = 0; k < NF; k++)
            for (int t = 0; t < P; t++) {
                const float *got = f->sim[k] + (size_t)t * V, *want = f->ref[k] + (size_t)t * V;
                double d = lf_max_diff(got, want, V), tol = lf_tolerance(want, V);
                if (!(d <= tol))
                    fail_msg("window %d, format %d, position %d: max |sim - ref| %g > %g", P, k, t, d, tol);
            }
    }
}

/* Run keys pass through (2 chips, no KV cache), and 1 and 2 threads give the same bits. */
static void test_threads_and_keys(void **state)
{
    Fixture *f = *state;
    size_t n = (size_t)WINDOW * f->c.vocab_size;
    float *one[NF];
    const char *sets[] = {"chips=2", "kv_cache=off"};
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    sim_logits(f, WINDOW, sets, 2);
    for (int k = 0; k < NF; k++) {
        one[k] = malloc(n * sizeof(float));
        memcpy(one[k], f->sim[k], n * sizeof(float));
    }
    omp_set_num_threads(2);
    sim_logits(f, WINDOW, sets, 2);
    omp_set_num_threads(saved);
    for (int k = 0; k < NF; k++) {
        assert_memory_equal(one[k], f->sim[k], n * sizeof(float));
        free(one[k]);
    }
}

static void expect_init_error(Fixture *f, const char *fmts, const char *set, const char *want)
{
    EvalSim s;
    memset(&s, 0, sizeof s); /* eval_sim_free is safe on it when eval_sim_config fails first */
    IpuErr e = {{0}};
    const char *sets[1] = {set};
    RunConfig rc;
    assert_int_equal(eval_sim_config(&rc, "gptj-micro", NULL, 3, sets, set ? 1 : 0, &e) ||
                         eval_sim_init(&s, &rc, fmts, WINDOW, &f->w, &e),
                     1);
    eval_sim_free(&s);
    if (!strstr(e.msg, want))
        fail_msg("error '%s' does not name '%s'", e.msg, want);
}

static void test_errors(void **state)
{
    Fixture *f = *state;
    assert_true(eval_sim_key_owned("batch=4"));
    assert_true(eval_sim_key_owned("prompt_len = 9"));
    assert_true(eval_sim_key_owned("formats=fp16"));
    assert_false(eval_sim_key_owned("kv_cache=off"));
    assert_false(eval_sim_key_owned("batchy=1"));
    expect_init_error(f, formats, "batch=2", "batch=2");
    expect_init_error(f, "fp32,q4g:16", NULL, "fp32");
    expect_init_error(f, formats, "arch.tiles_per_chip=zero", "tiles_per_chip");
    EvalSim s;
    IpuErr e;
    RunConfig rc;
    if (eval_sim_config(&rc, "gptj-micro", NULL, 3, NULL, 0, &e) || eval_sim_init(&s, &rc, formats, 6, &f->w, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(eval_sim_logits(&s, f->tok, WINDOW, f->sim, &e), -1);
    assert_non_null(strstr(e.msg, "window of 12"));
    eval_sim_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_threads_and_keys),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
