/* e2e_gptj.c - GPT-J end to end through gptj_run: greedy generation on the
 * machine against the fp32 reference, KV cache on and off agreeing, and a
 * timing-mode run of gptj-tiny on a full-size pod4 whose figures must have
 * the shape the architecture predicts (int4 reads fewer bytes, decode is
 * cheaper than prefill with a cache, phases add up). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/gptj_run.h"
#include "models/gptj_forward.h"

#define P 6
#define G 6
#define B 2

static void micro_opts(RunOptions *o, const char *fmt, int kv)
{
    IpuErr e;
    memset(o, 0, sizeof *o);
    if (gptj_config_preset(&o->cfg, "gptj-micro", &e) || quant_spec_parse(fmt, &o->weights, &e))
        fail_msg("%s", e.msg);
    quant_policy_graphcore(&o->policy, &o->weights);
    o->placement = PLACE_AUTO, o->kv_cache = kv, o->partials = LAYER_F32;
    o->chips = 2, o->batch = B, o->prompt_len = P, o->gen_tokens = G;
}

static void small_pod(IpuArch *a)
{
    IpuErr e;
    if (arch_preset("pod4", a, &e) || arch_set(a, "tiles_per_chip", "128", &e))
        fail_msg("%s", e.msg);
}

/* Greedy tokens of the reference on fp16-rounded weights, stopping the
 * comparison at the first step whose top two logits are within tol. */
static void test_greedy_matches_reference(void **s)
{
    (void)s;
    IpuErr e;
    IpuArch a;
    small_pod(&a);
    RunOptions o;
    micro_opts(&o, "f16", 1);
    GptjWeights w;
    if (gptj_weights_synth(&w, &o.cfg, GPTJ_F16, 11, &e))
        fail_msg("%s", e.msg);
    uint32_t prompt[B * P];
    int ip[B * P];
    for (int i = 0; i < B * P; i++)
        prompt[i] = (uint32_t)((i * 53 + 7) % o.cfg.vocab_size), ip[i] = (int)prompt[i];
    RunResult r;
    if (gptj_run(&a, &o, &w, prompt, NULL, &r, &e))
        fail_msg("%s", e.msg);
    /* the reference: gains and biases rounded to fp16 as the machine keeps them */
    int n = gptj_tensor_count(&w.cfg);
    for (int i = 0; i < n; i++) {
        GptjTensorInfo ti;
        gptj_tensor_info(&w.cfg, i, &ti);
        if (ti.kind == GPTJ_MATRIX)
            continue;
        float *t = gptj_weights_tensor(&w, i);
        for (uint64_t k = 0; k < gptj_tensor_elems(&ti); k++)
            t[k] = fp16_to_f32(fp16_from_f32(t[k]));
    }
    GptjState st;
    if (gptj_state_init(&st, &w, B, 32, &e))
        fail_msg("%s", e.msg);
    int V = o.cfg.vocab_size, compared = 0;
    float *logits = malloc(sizeof(float) * B * V);
    int live[B] = {1, 1}, tok[B];
    for (int k = 0; k < G; k++) {
        if ((k == 0 ? gptj_forward(&st, ip, P, logits, 1, &e) : gptj_forward(&st, tok, 1, logits, 1, &e)))
            fail_msg("%s", e.msg);
        for (int b = 0; b < B; b++) {
            const float *l = logits + (size_t)b * V;
            int best = 0;
            for (int i = 1; i < V; i++)
                if (l[i] > l[best])
                    best = i;
            double second = -INFINITY, rms = 0;
            for (int i = 0; i < V; i++) {
                rms += (double)l[i] * l[i];
                if (i != best && l[i] > second)
                    second = l[i];
            }
            double tol = 0.02 * fmax(sqrt(rms / V), 0.05); /* test_lower.c derives it */
            if (live[b] && l[best] - second > 2 * tol) {
                assert_int_equal(r.tokens[b * G + k], best);
                compared++;
            } else {
                live[b] = 0; /* a near tie: the sequences may part from here */
            }
            tok[b] = (int)r.tokens[b * G + k];
        }
    }
    assert_true(compared >= B); /* the check did compare something */
    free(logits);
    gptj_state_free(&st);
    run_result_free(&r);
    gptj_weights_free(&w);
}

/* With and without a KV cache the machine computes the same thing. */
static void test_kv_on_off_same_tokens(void **s)
{
    (void)s;
    IpuErr e;
    IpuArch a;
    small_pod(&a);
    RunOptions on, off;
    micro_opts(&on, "q4g:16", 1);
    micro_opts(&off, "q4g:16", 0);
    GptjWeights w;
    if (gptj_weights_synth(&w, &on.cfg, GPTJ_F32, 5, &e))
        fail_msg("%s", e.msg);
    uint32_t prompt[B * P];
    for (int i = 0; i < B * P; i++)
        prompt[i] = (uint32_t)((i * 17 + 3) % on.cfg.vocab_size);
    RunResult r1, r0;
    if (gptj_run(&a, &on, &w, prompt, NULL, &r1, &e) || gptj_run(&a, &off, &w, prompt, NULL, &r0, &e))
        fail_msg("%s", e.msg);
    assert_memory_equal(r1.tokens, r0.tokens, B * G * sizeof *r1.tokens);
    assert_true(r1.decode[0].cycles < r0.decode[0].cycles); /* one row per sequence instead of the whole sequence */
    assert_int_equal(r1.decode[0].kv_bytes_read > 0, 1);
    assert_int_equal(r0.decode[0].kv_bytes_read, 0);
    run_result_free(&r1), run_result_free(&r0);
    gptj_weights_free(&w);
}

/* gptj-tiny, timing mode, full-size pod4 tiles, fp16 against q4g:64. */
static void test_tiny_timing_pod4(void **s)
{
    (void)s;
    IpuErr e;
    IpuArch a;
    if (arch_preset("pod4", &a, &e))
        fail_msg("%s", e.msg);
    RunResult r[2];
    const char *fmts[2] = {"f16", "q4g:64"};
    for (int f = 0; f < 2; f++) {
        RunOptions o;
        memset(&o, 0, sizeof o);
        if (gptj_config_preset(&o.cfg, "gptj-tiny", &e) || quant_spec_parse(fmts[f], &o.weights, &e))
            fail_msg("%s", e.msg);
        quant_policy_graphcore(&o.policy, &o.weights);
        o.placement = PLACE_STREAM, o.kv_cache = 1, o.partials = LAYER_F16;
        o.chips = 4, o.batch = 1, o.prompt_len = 64, o.gen_tokens = 3;
        if (gptj_run(&a, &o, NULL, NULL, NULL, &r[f], &e))
            fail_msg("%s", e.msg);
        assert_int_equal(r[f].placement, PLACE_STREAM);
        assert_true(r[f].decode[0].cycles < r[f].prefill.cycles);
        assert_true(r[f].decode[0].phase_cycles[PHASE_STREAM] > 0);
        assert_true(r[f].sram.bytes <= a.sram_bytes_per_tile);
    }
    assert_true(r[1].weight_bytes < r[0].weight_bytes);
    assert_true(r[1].decode[0].stream_bytes < r[0].decode[0].stream_bytes);
    assert_true(r[1].decode[0].phase_cycles[PHASE_DECOMPRESS] > 0);
    assert_int_equal(r[0].decode[0].phase_cycles[PHASE_DECOMPRESS], 0);
    run_result_free(&r[0]), run_result_free(&r[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_matches_reference),
        cmocka_unit_test(test_kv_on_off_same_tokens),
        cmocka_unit_test(test_tiny_timing_pod4),
    };
    if (getenv("E2E_FILTER"))
        cmocka_set_test_filter(getenv("E2E_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
