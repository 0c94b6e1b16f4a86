/* test_lower_formats.c - GPT-J lowered with the weight formats beyond q4g
 * (s4g, nf4g, nf4g+dq, i8g, i8c, fp8e4m3, fp8e5m2): functional logits
 * against the fp32 reference forward on the same dequantized weights
 * (every matrix quantized whole under Graphcore's policy, as
 * eval_quantize_weights does; dead values poisoned), greedy tokens,
 * timing == functional cycles, stored bytes per format, and the errors
 * that must come before any work.
 *
 * Tolerance: LF_LOGIT_REL_TOL x the logits' RMS (tests/lower_fixture.h;
 * the fp16 activations path). The reference differs from the fp16 path's by far
 * more than that for every format here (test_reference_discriminates), so
 * a lowering that decompressed with the wrong scales, or kept fp16
 * weights, would fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/lower/model.h"
#include "tests/lower_fixture.h"

static void opts(RunOptions *o, const char *fmt, uint32_t chips, int kv, uint32_t batch)
{
    lf_opts(o, "gptj-micro", fmt, chips, kv, batch, PLACE_AUTO);
}

/* An arch with fp8_macs fp8 AMP MACs a cycle (0: no fp8 AMP). */
static void arch_fp8(IpuArch *a, const char *fp8_macs)
{
    IpuErr e;
    lf_arch(a, 96, 0, 0);
    if (arch_set(a, "amp_macs_per_cycle_fp8", fp8_macs, &e))
        fail_msg("%s", e.msg);
}

/* Prefill + LF_GEN - 1 decode steps on the machine and the reference on the
 * same tokens: logits at every step within tolerance, greedy tokens.
 * fp8_macs: the arch's amp_macs_per_cycle_fp8 (0: no fp8 AMP). */
static void check_case_fp8(const char *fmt, uint32_t chips, int kv, uint32_t batch, Placement pl, const char *fp8_macs)
{
    IpuArch a;
    arch_fp8(&a, fp8_macs);
    RunOptions o;
    opts(&o, fmt, chips, kv, batch);
    o.placement = pl;
    LfRefCase c;
    lf_ref_case(&c, &a, &o, 0, 64);
    int fp8 = strstr(fmt, "fp8") != NULL;
    assert_string_equal(lower_weight_path(c.m.L), fp8 && a.amp_macs_per_cycle_fp8 ? "fp8 direct" : "decompressed");
    char what[96];
    snprintf(what, sizeof what, "%s chips %u kv %d", fmt, chips, kv);
    lf_check_against_reference(&c.m, &o, &c.st, 1, what);
    lf_ref_case_free(&c);
}

static void check_case(const char *fmt, uint32_t chips, int kv, uint32_t batch, Placement pl)
{
    check_case_fp8(fmt, chips, kv, batch, pl, "0");
}

static void test_s4g(void **s) { (void)s; check_case("s4g:16", 2, 1, 2, PLACE_AUTO); }
static void test_nf4g(void **s) { (void)s; check_case("nf4g:16", 4, 1, 1, PLACE_AUTO); }
static void test_nf4g_dq(void **s) { (void)s; check_case("nf4g:16+dq", 2, 0, 1, PLACE_AUTO); }
static void test_nf4g_dq_stream(void **s) { (void)s; check_case("nf4g:8+dq", 4, 1, 2, PLACE_STREAM); }
static void test_i8g(void **s) { (void)s; check_case("i8g:16", 1, 1, 1, PLACE_AUTO); }
static void test_i8c(void **s) { (void)s; check_case("i8c", 4, 1, 1, PLACE_STREAM); }
static void test_fp8e4m3(void **s) { (void)s; check_case("fp8e4m3", 2, 1, 2, PLACE_AUTO); }
static void test_fp8e4m3_tensor(void **s) { (void)s; check_case("fp8e4m3:tensor", 4, 0, 1, PLACE_AUTO); }
static void test_fp8e5m2(void **s) { (void)s; check_case("fp8e5m2", 2, 1, 1, PLACE_AUTO); }
/* An arch with an fp8 AMP: the codes go into the matmul as they are, the
 * channel (or tensor) scale multiplies the reduced outputs (colscale). */
static void test_fp8_direct(void **s)
{
    (void)s;
    check_case_fp8("fp8e4m3", 2, 1, 2, PLACE_AUTO, "128");
    check_case_fp8("fp8e5m2:tensor", 4, 0, 1, PLACE_STREAM, "128");
}

/* The tolerance can fail: each format's reference logits are further from
 * the fp16 reference's than the tolerance, so a machine that kept fp16
 * weights (or decoded them wrongly by as much) would not pass. */
static void test_reference_discriminates(void **s)
{
    (void)s;
    static const char *const fmts[] = {"s4g:16", "nf4g:16", "nf4g:16+dq", "i8g:16", "i8c", "fp8e4m3", "fp8e5m2"};
    IpuErr e;
    RunOptions o16, o;
    opts(&o16, "f16", 1, 1, 1);
    GptjWeights w, r16;
    if (gptj_weights_synth(&w, &o16.cfg, GPTJ_F32, 7, &e))
        fail_msg("%s", e.msg);
    lf_ref_weights(&o16, &w, &r16);
    int V = o16.cfg.vocab_size, toks[LF_PROMPT] = {13, 110, 207, 304, 401};
    float *l16 = malloc(sizeof(float) * V * LF_PROMPT), *lq = malloc(sizeof(float) * V * LF_PROMPT);
    GptjState st;
    if (gptj_state_init(&st, &r16, 1, 64, &e) || gptj_forward(&st, toks, LF_PROMPT, l16, 0, &e))
        fail_msg("%s", e.msg);
    gptj_state_free(&st);
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        GptjWeights rq;
        opts(&o, fmts[i], 1, 1, 1);
        lf_ref_weights(&o, &w, &rq);
        if (gptj_state_init(&st, &rq, 1, 64, &e) || gptj_forward(&st, toks, LF_PROMPT, lq, 0, &e))
            fail_msg("%s", e.msg);
        double worst = 0, tol = 0;
        for (int p = 0; p < LF_PROMPT; p++) {
            double d = lf_max_diff(lq + (size_t)p * V, l16 + (size_t)p * V, V);
            worst = d > worst ? d : worst;
            tol = fmax(tol, lf_tolerance(l16 + (size_t)p * V, V));
        }
        print_message("%-12s max |logit - fp16's| %.4g, tolerance %.4g\n", fmts[i], worst, tol);
        assert_true(worst > tol);
        gptj_state_free(&st);
        gptj_weights_free(&rq);
    }
    free(l16), free(lq);
    gptj_weights_free(&w), gptj_weights_free(&r16);
}

/* ---- timing == functional, stored bytes ---- */

static void check_timing_equals_functional(const char *fmt, uint32_t chips, Placement pl, const char *fp8_macs)
{
    IpuArch a;
    arch_fp8(&a, fp8_macs);
    RunOptions o;
    opts(&o, fmt, chips, 1, 2);
    o.placement = pl;
    RunResult t, f;
    lf_run_timing_functional(&a, &o, &t, &f);
    lf_assert_runs_equal(&t, &f);
    assert_true(t.prefill.phase_cycles[PHASE_DECOMPRESS] > 0); /* fp8 direct too: v_proj is widened */
    assert_int_equal(t.weight_bytes, f.weight_bytes);
    run_result_free(&t), run_result_free(&f);
}

static void test_timing_eq_functional(void **s)
{
    (void)s;
    check_timing_equals_functional("nf4g:16+dq", 2, PLACE_STREAM, "0");
    check_timing_equals_functional("fp8e4m3:tensor", 4, PLACE_RESIDENT, "0");
    check_timing_equals_functional("s4g:8", 2, PLACE_RESIDENT, "0");
    check_timing_equals_functional("fp8e4m3", 2, PLACE_STREAM, "128");
}

/* Stored weight bytes follow each format's size, as the planner lays the
 * blocks out: fewer bytes for 4 bits than 8, +dq below nf4g. */
static void test_stored_bytes(void **s)
{
    (void)s;
    static const char *const fmts[] = {"f16", "i8c", "fp8e5m2", "s4g:16", "nf4g:16", "nf4g:16+dq"};
    uint64_t bytes[6];
    IpuArch a;
    IpuErr e;
    if (arch_preset("pod4", &a, &e))
        fail_msg("%s", e.msg);
    for (int i = 0; i < 6; i++) {
        RunOptions o;
        opts(&o, fmts[i], 4, 1, 1);
        if (gptj_config_preset(&o.cfg, "gptj-tiny", &e))
            fail_msg("%s", e.msg);
        o.placement = PLACE_STREAM;
        Lowered *L;
        if (lower_gptj(&a, &o, NULL, &L, &e))
            fail_msg("%s: %s", fmts[i], e.msg);
        bytes[i] = lower_weight_bytes(L);
        lower_destroy(L);
    }
    assert_true(bytes[1] < bytes[0] && bytes[1] == bytes[2]); /* 8-bit formats: codes + one scale per row */
    assert_true(bytes[3] < bytes[1] && bytes[3] == bytes[4]);
    assert_true(bytes[5] < bytes[4]);
}

/* ---- errors before any work ---- */

static void expect_error(const RunOptions *o, const char *n1, const char *n2)
{
    IpuErr e;
    IpuArch a;
    lf_arch(&a, 96, 0, 0);
    RunResult r;
    e.msg[0] = 0;
    assert_int_equal(gptj_run(&a, o, NULL, NULL, NULL, &r, &e), -1);
    if (!strstr(e.msg, n1) || (n2 && !strstr(e.msg, n2)))
        fail_msg("error '%s' does not mention '%s' / '%s'", e.msg, n1, n2 ? n2 : "");
}

static void test_errors(void **s)
{
    (void)s;
    RunOptions o;
    opts(&o, "s4g:32", 4, 1, 1); /* out_proj / fc_out per chip: 16 inputs */
    expect_error(&o, "group size 32 does not divide", "out_proj");
    opts(&o, "nf4g:16+dq", 1, 1, 1);
    o.scheme = SCHEME_GRAPHCORE;
    expect_error(&o, "scheme = graphcore", "nf4g:16+dq");
    opts(&o, "fp32", 1, 1, 1);
    expect_error(&o, "'fp32' is not supported on the tiles", "q_proj");
    opts(&o, "fp8e5m2", 1, 1, 1);
    o.fp8_amp = 1; /* direct, on an arch without an fp8 AMP */
    expect_error(&o, "fp8_amp = direct", "has no fp8 AMP");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s4g),
        cmocka_unit_test(test_nf4g),
        cmocka_unit_test(test_nf4g_dq),
        cmocka_unit_test(test_nf4g_dq_stream),
        cmocka_unit_test(test_i8g),
        cmocka_unit_test(test_i8c),
        cmocka_unit_test(test_fp8e4m3),
        cmocka_unit_test(test_fp8e4m3_tensor),
        cmocka_unit_test(test_fp8e5m2),
        cmocka_unit_test(test_fp8_direct),
        cmocka_unit_test(test_reference_discriminates),
        cmocka_unit_test(test_timing_eq_functional),
        cmocka_unit_test(test_stored_bytes),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
