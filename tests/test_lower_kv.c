/* test_lower_kv.c - GPT-J with a quantized KV cache (kv_format i8, q4g:N;
 * host/lower/attention_kv.c): functional logits against the fp32
 * reference forward whose cache rows go through the same quantization
 * (GptjState.kv_round with sim/base/kv_quant.h, after the fp16 rounding the
 * machine's keys and values get), with dead values poisoned; over one and
 * two key blocks, resident and streamed; timing == functional; the cache's
 * bytes per step; the errors before any work. Tolerance: test_lower.c's. */
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
#include "host/gptj_run.h"
#include "host/lower/lower.h"
#include "host/lower/model.h"
#include "models/eval.h"
#include "models/gptj_forward.h"
#include "sim/engine.h"

#define LOGIT_REL_TOL 0.02
#define GEN 3

static void arch_small(IpuArch *a)
{
    IpuErr e;
    if (arch_preset("pod4", a, &e) || arch_set(a, "tiles_per_chip", "96", &e))
        fail_msg("%s", e.msg);
}

static void opts(RunOptions *o, KvSpec kv, uint32_t chips, uint32_t batch, uint32_t prompt)
{
    IpuErr e;
    memset(o, 0, sizeof *o);
    if (gptj_config_preset(&o->cfg, "gptj-micro", &e) || quant_spec_parse("f16", &o->weights, &e))
        fail_msg("%s", e.msg);
    quant_policy_graphcore(&o->policy, &o->weights);
    o->placement = PLACE_AUTO, o->kv_cache = 1, o->kv = kv, o->partials = LAYER_F32;
    o->chips = chips, o->batch = batch, o->prompt_len = prompt, o->gen_tokens = GEN;
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

static double tolerance(const float *want, int V)
{
    double rms = 0;
    for (int i = 0; i < V; i++)
        rms += (double)want[i] * want[i];
    rms = sqrt(rms / V);
    return LOGIT_REL_TOL * (rms > 0.05 ? rms : 0.05);
}

static double max_diff(const float *a, const float *b, int V)
{
    double m = 0;
    for (int i = 0; i < V; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void check_case(KvSpec kv, uint32_t chips, uint32_t batch, uint32_t prompt, Placement pl)
{
    IpuErr e;
    IpuArch a;
    arch_small(&a);
    RunOptions o;
    opts(&o, kv, chips, batch, prompt);
    o.placement = pl;
    GptjWeights w, rw;
    if (gptj_weights_synth(&w, &o.cfg, GPTJ_F32, 7, &e) || eval_quantize_weights(&rw, &w, &o.policy, GPTJ_F32, &e))
        fail_msg("%s", e.msg);
    Lowered *L;
    if (lower_gptj(&a, &o, &w, &L, &e))
        fail_msg("%s", e.msg);
    Engine *en = engine_create(lower_graph(L), &e);
    assert_non_null(en);
    engine_set_poison(en, 1);
    GptjState st;
    int V = o.cfg.vocab_size, iprompt[2 * 80], itok[2];
    if (gptj_state_init(&st, &rw, (int)batch, 128, &e))
        fail_msg("%s", e.msg);
    st.kv_round = kv_round, st.kv_ctx = &kv;
    uint32_t tprompt[2 * 80], tok[2];
    for (uint32_t i = 0; i < batch * prompt; i++)
        tprompt[i] = (i * 97 + 13) % (uint32_t)V, iprompt[i] = (int)tprompt[i];
    float *got = malloc(sizeof(float) * V * batch), *want = malloc(sizeof(float) * V * batch);
    for (int step = 0; step < GEN; step++) {
        int rc = step == 0 ? lower_prepare_prefill(L, tprompt, &e) : lower_prepare_decode(L, prompt + step - 1, tok, &e);
        if (rc || engine_run(en, lower_program(L), &e) || lower_read_logits(L, step > 0, got, &e) ||
            lower_read_tokens(L, step > 0, tok, &e))
            fail_msg("%s", e.msg);
        if (step == 0 ? gptj_forward(&st, iprompt, (int)prompt, want, 1, &e) : gptj_forward(&st, itok, 1, want, 1, &e))
            fail_msg("%s", e.msg);
        for (uint32_t s = 0; s < batch; s++) {
            double tol = tolerance(want + (size_t)s * V, V), d = max_diff(got + (size_t)s * V, want + (size_t)s * V, V);
            if (!(d <= tol))
                fail_msg("kv %d/%u chips %u batch %u prompt %u step %d seq %u: max |logit diff| %g > tol %g", kv.fmt,
                         kv.group, chips, batch, prompt, step, s, d, tol);
            itok[s] = (int)tok[s];
        }
    }
    free(got), free(want);
    gptj_state_free(&st);
    engine_destroy(en);
    lower_destroy(L);
    gptj_weights_free(&w), gptj_weights_free(&rw);
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
    if (gptj_weights_synth(&w, &o.cfg, GPTJ_F32, 7, &e) || eval_quantize_weights(&rw, &w, &o.policy, GPTJ_F32, &e))
        fail_msg("%s", e.msg);
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
    print_message("q4g:8 KV: max |logit - fp16 KV's| %g, tolerance %g\n", max_diff(a, b, V), tolerance(a, V));
    assert_true(max_diff(a, b, V) > tolerance(a, V));
    free(a), free(b);
    gptj_weights_free(&w), gptj_weights_free(&rw);
}

static void assert_steps_equal(const StepResult *x, const StepResult *y)
{
    assert_int_equal(x->cycles, y->cycles);
    for (int i = 0; i < PHASE_COUNT; i++)
        assert_int_equal(x->phase_cycles[i], y->phase_cycles[i]);
    assert_int_equal(x->kv_bytes_read, y->kv_bytes_read);
}

static void test_timing_eq_functional(void **s)
{
    (void)s;
    const KvSpec kvs[2] = {I8, Q16};
    for (int i = 0; i < 2; i++) {
        IpuErr e;
        IpuArch a;
        arch_small(&a);
        RunOptions o;
        opts(&o, kvs[i], 2, 2, 5);
        GptjWeights w;
        if (gptj_weights_synth(&w, &o.cfg, GPTJ_F16, 3, &e))
            fail_msg("%s", e.msg);
        uint32_t prompt[10];
        for (int k = 0; k < 10; k++)
            prompt[k] = (uint32_t)(k * 31 + 5) % (uint32_t)o.cfg.vocab_size;
        RunResult t, f;
        if (gptj_run(&a, &o, NULL, NULL, NULL, &t, &e) || gptj_run(&a, &o, &w, prompt, NULL, &f, &e))
            fail_msg("%s", e.msg);
        assert_steps_equal(&t.prefill, &f.prefill);
        for (uint32_t k = 0; k < t.ndecode; k++) {
            assert_steps_equal(&t.decode[k], &f.decode[k]);
            assert_steps_equal(&t.decode[k], &t.decode[0]); /* the position does not change cycles */
        }
        run_result_free(&t), run_result_free(&f);
        gptj_weights_free(&w);
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
