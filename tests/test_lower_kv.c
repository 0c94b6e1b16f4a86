/* test_lower_kv.c - GPT-J with a quantized KV cache (kv_format i8, q4g:N;
 * host/lower/attention_kv.c): functional logits against the fp32
 * reference forward whose cache rows go through the same quantization
 * (GptjState.kv_round with sim/base/kv_quant.h, after the fp16 rounding the
 * machine's keys and values get), with dead values poisoned; over one and
 * two key blocks, resident and streamed; timing == functional; the cache's
 * bytes per step; the errors before any work. Tolerance: LF_LOGIT_REL_TOL
 * (tests/lower_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/kv_quant.h"
#include "host/lower/model.h"
#include "tests/lower_fixture.h"

static void arch_small(IpuArch *a) { lf_arch(a, 96, 0, 0); }

static void opts(RunOptions *o, KvSpec kv, uint32_t chips, uint32_t batch, uint32_t prompt)
{
    lf_opts(o, "gptj-micro", "f16", chips, 1, batch, PLACE_AUTO);
    o->kv = kv, o->prompt_len = prompt;
}

/* The reference's cache rows: fp16 values (the machine's keys and values
 * are fp16), then each head's row through the KV format's round trip. */
static void kv_round(float *row, int C, int H, void *ctx)
{
    const KvSpec *kv = ctx;
    uint16_t h[1024];
    int hd = C / H;
    for (int i = 0; i < C; i++)
        h[i] = fp16_from_f32(row[i]);
    for (int hh = 0; hh < H; hh++)
        kvq_roundtrip_ref(kv, h + hh * hd, (uint32_t)hd);
    for (int i = 0; i < C; i++)
        row[i] = fp16_to_f32(h[i]);
}

static void check_case(KvSpec kv, uint32_t chips, uint32_t batch, uint32_t prompt, Placement pl)
{
    IpuArch a;
    arch_small(&a);
    RunOptions o;
    opts(&o, kv, chips, batch, prompt);
    o.placement = pl;
    LfRefCase c;
    lf_ref_case(&c, &a, &o, 0, 128);
    c.st.kv_round = kv_round, c.st.kv_ctx = &kv;
    char what[96];
    snprintf(what, sizeof what, "kv %d/%u chips %u batch %u prompt %u", kv.fmt, kv.group, chips, batch, prompt);
    lf_check_against_reference(&c.m, &o, &c.st, 0, what);
    lf_ref_case_free(&c);
}

static const KvSpec I8 = {KV_I8, 0}, Q8 = {KV_Q4G, 8}, Q16 = {KV_Q4G, 16};

static void test_i8(void **s) { (void)s; check_case(I8, 2, 2, 5, PLACE_AUTO); }
static void test_q4g(void **s) { (void)s; check_case(Q8, 1, 1, 5, PLACE_AUTO); }
/* a prompt of 70: two key blocks of 64, the prefill's staging on both */
static void test_two_blocks(void **s)
{
    (void)s;
    check_case(Q16, 2, 1, 70, PLACE_STREAM);
    check_case(I8, 4, 1, 70, PLACE_AUTO);
}

/* The quantized cache changes the logits by more than the tolerance (so
 * the comparison above would see a machine that kept fp16 keys). */
static void test_reference_discriminates(void **s)
{
    (void)s;
    IpuErr e;
    RunOptions o;
    opts(&o, Q8, 1, 1, 5);
    GptjWeights w, rw;
    if (gptj_weights_synth(&w, &o.cfg, GPTJ_F32, 7, &e))
        fail_msg("%s", e.msg);
    lf_ref_weights(&o, &w, &rw);
    int V = o.cfg.vocab_size, toks[5] = {13, 110, 207, 304, 401};
    float *a = malloc(sizeof(float) * V), *b = malloc(sizeof(float) * V);
    GptjState st;
    for (int q = 0; q < 2; q++) {
        if (gptj_state_init(&st, &rw, 1, 64, &e))
            fail_msg("%s", e.msg);
        st.kv_round = q ? kv_round : NULL, st.kv_ctx = (void *)&Q8;
        if (gptj_forward(&st, toks, 5, q ? b : a, 1, &e))
            fail_msg("%s", e.msg);
        gptj_state_free(&st);
    }
    print_message("q4g:8 KV: max |logit - fp16 KV's| %g, tolerance %g\n", lf_max_diff(a, b, V), lf_tolerance(a, V));
    assert_true(lf_max_diff(a, b, V) > lf_tolerance(a, V));
    free(a), free(b);
    gptj_weights_free(&w), gptj_weights_free(&rw);
}

static void test_timing_eq_functional(void **s)
{
    (void)s;
    const KvSpec kvs[2] = {I8, Q16};
    for (int i = 0; i < 2; i++) {
        IpuArch a;
        arch_small(&a);
        RunOptions o;
        opts(&o, kvs[i], 2, 2, 5);
        RunResult t, f;
        lf_run_timing_functional(&a, &o, &t, &f);
        lf_assert_runs_equal(&t, &f);
        for (uint32_t k = 0; k < t.ndecode; k++)
            lf_assert_steps_equal(&t.decode[k], &t.decode[0]); /* the position does not change cycles */
        run_result_free(&t), run_result_free(&f);
    }
}

/* The cache's bytes per step follow its format: codes plus one fp16 scale
 * a row (i8), or per 8 dims a scale and a bias (q4g:8). */
static void test_kv_bytes(void **s)
{
    (void)s;
    const KvSpec kvs[3] = {{KV_F16, 0}, I8, Q8};
    uint64_t bytes[3];
    for (int i = 0; i < 3; i++) {
        IpuErr e;
        IpuArch a;
        arch_small(&a);
        RunOptions o;
        opts(&o, kvs[i], 1, 1, 5);
        Lowered *L;
        if (lower_gptj(&a, &o, NULL, &L, &e))
            fail_msg("%s", e.msg);
        bytes[i] = lower_kv_bytes_per_step(L);
        lower_destroy(L);
    }
    /* head_dim 16: a row is 32 bytes in fp16, 16 + 2 in i8, 8 + 2 x 4 in q4g:8 */
    assert_true(bytes[0] * 18 == bytes[1] * 32);
    assert_true(bytes[0] * 16 == bytes[2] * 32);
}

static void test_errors(void **s)
{
    (void)s;
    IpuErr e;
    IpuArch a;
    arch_small(&a);
    RunOptions o;
    RunResult r;
    opts(&o, I8, 1, 1, 5);
    o.kv_cache = 0;
    assert_int_equal(gptj_run(&a, &o, NULL, NULL, NULL, &r, &e), -1);
    assert_non_null(strstr(e.msg, "needs kv_cache = on"));
    opts(&o, (KvSpec){KV_Q4G, 24}, 1, 1, 5);
    assert_int_equal(gptj_run(&a, &o, NULL, NULL, NULL, &r, &e), -1);
    assert_non_null(strstr(e.msg, "q4g:24"));
    assert_non_null(strstr(e.msg, "head_dim 16"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i8),
        cmocka_unit_test(test_q4g),
        cmocka_unit_test(test_two_blocks),
        cmocka_unit_test(test_reference_discriminates),
        cmocka_unit_test(test_timing_eq_functional),
        cmocka_unit_test(test_kv_bytes),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
