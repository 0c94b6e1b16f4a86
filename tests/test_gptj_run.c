/* test_gptj_run.c - host/gptj_run.h's sessions: one lowering run on many
 * machines must give, machine by machine, exactly what a fresh gptj_run
 * gives (every step's cycles, phases and bytes, the memory peak), for every
 * arch key a session may change; and keys it may not change are refused.
 * Logits in and out (RunOptions.logits, .teacher): every position's logits
 * against the fp32 reference forward (models/gptj_forward.h) on the
 * weights the machine holds, with and without a KV cache, over 1 and 2
 * chips (the vocabulary split), batch 2; the last position's == the last
 * row of every position's, bit for bit; teacher forcing through the
 * decode steps == the prefill's logits within the tolerance; the errors.
 * (gptj_run itself is tested end to end in e2e_gptj.c and test_lower.c.)
 *
 * Tolerance: test_lower.c's, derived there: LOGIT_REL_TOL x the RMS of the
 * reference's logits at the position (at least 0.05): the machine keeps
 * activations in fp16, the reference computes in fp32 on the same
 * weights. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/gptj_run.h"
#include "models/eval.h"
#include "models/gptj_forward.h"

#define LOGIT_REL_TOL 0.02

static void tiny_opts(RunOptions *o, const char *fmt, int kv, Placement place)
{
    IpuErr e;
    memset(o, 0, sizeof *o);
    if (gptj_config_preset(&o->cfg, "gptj-tiny", &e) || quant_spec_parse(fmt, &o->weights, &e))
        fail_msg("%s", e.msg);
    quant_policy_graphcore(&o->policy, &o->weights);
    o->placement = place, o->kv_cache = kv, o->partials = LAYER_F16, o->memory_proportion = 0.6;
    o->chips = 4, o->batch = 2, o->prompt_len = 16, o->gen_tokens = 3;
}

static void pod(IpuArch *a, uint32_t io_tiles)
{
    IpuErr e;
    char io[16];
    snprintf(io, sizeof io, "%u", io_tiles);
    if (arch_preset("pod4", a, &e) || arch_set(a, "tiles_per_chip", "256", &e) ||
        arch_set(a, "stream.io_tiles", io, &e))
        fail_msg("%s", e.msg);
}

static void same_step(const StepResult *x, const StepResult *y)
{
    assert_int_equal(x->cycles, y->cycles);
    for (int p = 0; p < PHASE_COUNT; p++)
        assert_int_equal(x->phase_cycles[p], y->phase_cycles[p]);
    assert_int_equal(x->stream_hidden_cycles, y->stream_hidden_cycles);
    assert_int_equal(x->stream_bytes, y->stream_bytes);
    assert_int_equal(x->exchange_bytes, y->exchange_bytes);
    assert_int_equal(x->link_bytes, y->link_bytes);
    assert_int_equal(x->weight_bytes_read, y->weight_bytes_read);
    assert_int_equal(x->kv_bytes_read, y->kv_bytes_read);
}

static void same_result(const RunResult *x, const RunResult *y)
{
    assert_string_equal(x->format, y->format);
    assert_true(x->bits_per_param == y->bits_per_param && x->clock_hz == y->clock_hz);
    assert_int_equal(x->placement, y->placement);
    assert_true(x->memory_proportion == y->memory_proportion);
    assert_int_equal(x->weight_bytes, y->weight_bytes);
    same_step(&x->prefill, &y->prefill);
    assert_int_equal(x->ndecode, y->ndecode);
    for (uint32_t i = 0; i < x->ndecode; i++)
        same_step(&x->decode[i], &y->decode[i]);
    assert_int_equal(x->sram.bytes, y->sram.bytes);
    assert_int_equal(x->sram.tile, y->sram.tile);
    assert_string_equal(x->sram.step, y->sram.step);
    assert_int_equal(x->mem_npos, y->mem_npos);
    assert_memory_equal(x->mem_tile, y->mem_tile, x->mem_npos * sizeof *x->mem_tile);
    assert_string_equal(x->memory_report, y->memory_report);
}

/* The keys a session may change, each to two values far from the preset's. */
static const char *const free_keys[][3] = {
    {"clock_hz", "0.7e9", "2.1e9"},
    {"stream.bandwidth_bytes_per_s", "5e9", "300e9"},
    {"stream.chip_bandwidth_bytes_per_s", "2e9", "90e9"},
    {"stream.latency_s", "0", "40e-6"},
    {"link.bandwidth_bytes_per_s", "1e9", "200e9"},
    {"link.efficiency", "0.3", "1"},
    {"link.latency_cycles", "0", "30000"},
    {"link.ring_links", "1", "4"},
    {"sync.system_cycles", "10", "50000"},
};

/* One session per case runs every key's values in turn (each on top of the
 * last, so the arch drifts far from the one lowered for), each against a
 * fresh gptj_run on the same machine. */
static void check_session(const char *fmt, int kv, Placement place, uint32_t io_tiles, int overlap)
{
    IpuErr e;
    IpuArch a0, a;
    pod(&a0, io_tiles);
    RunOptions o;
    tiny_opts(&o, fmt, kv, place);
    o.overlap = overlap;
    GptjSession *s = gptj_session_create(&a0, &o, &e);
    if (!s)
        fail_msg("%s", e.msg);
    a = a0;
    for (size_t k = 0; k < sizeof free_keys / sizeof free_keys[0]; k++)
        for (int v = 1; v <= 2; v++) {
            if (arch_set(&a, free_keys[k][0], free_keys[k][v], &e))
                fail_msg("%s", e.msg);
            assert_true(gptj_arch_same_graph(&a0, &a));
            RunResult fresh, kept;
            if (gptj_run(&a, &o, NULL, NULL, NULL, &fresh, &e) || gptj_session_run(s, &a, &kept, &e))
                fail_msg("%s = %s: %s", free_keys[k][0], free_keys[k][v], e.msg);
            same_result(&fresh, &kept);
            run_result_free(&fresh), run_result_free(&kept);
        }
    gptj_session_destroy(s);
}

static void test_session_equals_fresh_runs_q4_stream(void **st)
{
    (void)st;
    check_session("q4g:32", 1, PLACE_STREAM, 0, 0);
}

static void test_session_equals_fresh_runs_fp16_kv_off(void **st)
{
    (void)st;
    check_session("f16", 0, PLACE_STREAM, 0, 0);
}

static void test_session_equals_fresh_runs_overlap(void **st)
{
    (void)st;
    check_session("q4g:64", 1, PLACE_STREAM, 32, 1);
}

static void test_session_equals_fresh_runs_resident(void **st)
{
    (void)st;
    check_session("q4g:64", 1, PLACE_AUTO, 0, 0);
}

/* Keys the lowering or the kept Execute costs read: not the same graph,
 * and a session refuses them. */
static void test_same_graph_refuses_lowering_keys(void **st)
{
    (void)st;
    static const char *const bound[][2] = {
        {"tiles_per_chip", "200"}, {"sram_bytes_per_tile", "500000"}, {"exchange.bytes_per_cycle", "8"},
        {"exchange.latency_cycles", "77"}, {"sync.chip_cycles", "99"}, {"isa.ld64.cycles", "2"},
        {"vertex_launch_cycles", "11"}, {"stream.io_tiles", "16"}, {"stream.capacity_bytes", "1e9"},
    };
    IpuErr e;
    IpuArch a0;
    pod(&a0, 0);
    RunOptions o;
    tiny_opts(&o, "f16", 1, PLACE_STREAM);
    o.gen_tokens = 2;
    GptjSession *s = gptj_session_create(&a0, &o, &e);
    if (!s)
        fail_msg("%s", e.msg);
    for (size_t k = 0; k < sizeof bound / sizeof bound[0]; k++) {
        IpuArch a = a0;
        if (arch_set(&a, bound[k][0], bound[k][1], &e))
            fail_msg("%s", e.msg);
        assert_false(gptj_arch_same_graph(&a0, &a));
        RunResult r;
        assert_int_equal(gptj_session_run(s, &a, &r, &e), -1);
        assert_non_null(strstr(e.msg, "lowering reads"));
    }
    /* and the session still runs its own machine afterwards */
    RunResult fresh, kept;
    if (gptj_run(&a0, &o, NULL, NULL, NULL, &fresh, &e) || gptj_session_run(s, &a0, &kept, &e))
        fail_msg("%s", e.msg);
    same_result(&fresh, &kept);
    run_result_free(&fresh), run_result_free(&kept);
    gptj_session_destroy(s);
}

/* A configuration that cannot be lowered fails at creation with gptj_run's error. */
static void test_session_create_error(void **st)
{
    (void)st;
    IpuErr e, e2;
    IpuArch a;
    pod(&a, 0);
    RunOptions o;
    tiny_opts(&o, "f16", 1, PLACE_STREAM);
    o.chips = 3; /* does not divide the heads */
    assert_null(gptj_session_create(&a, &o, &e));
    RunResult r;
    assert_int_equal(gptj_run(&a, &o, NULL, NULL, NULL, &r, &e2), -1);
    assert_string_equal(e.msg, e2.msg);
    gptj_session_destroy(NULL);
}

/* ---- logits in and out ---- */

enum { LB = 2, LP = 5, LG = 3 }; /* batch, prompt, generated tokens */

static void micro_opts(RunOptions *o, uint32_t chips, int kv)
{
    IpuErr e;
    memset(o, 0, sizeof *o);
    if (gptj_config_preset(&o->cfg, "gptj-micro", &e) || quant_spec_parse("fp16", &o->weights, &e))
        fail_msg("%s", e.msg);
    quant_policy_graphcore(&o->policy, &o->weights);
    o->placement = PLACE_AUTO, o->kv_cache = kv, o->partials = LAYER_F32, o->memory_proportion = 0.6;
    o->chips = chips, o->batch = LB, o->prompt_len = LP, o->gen_tokens = LG;
}

static const uint32_t prompt_ids[LB * LP] = {11, 400, 7, 99, 310, 5, 6, 250, 8, 501};

/* gptj_run on gptj-micro's synthetic weights (seed 3), on a 128-tile pod4. */
static void run_micro(const RunOptions *o, const uint32_t *prompt, RunResult *r)
{
    IpuArch a;
    IpuErr e;
    GptjWeights w;
    if (arch_preset("pod4", &a, &e) || arch_set(&a, "tiles_per_chip", "128", &e) ||
        gptj_weights_synth(&w, &o->cfg, GPTJ_F32, 3, &e))
        fail_msg("%s", e.msg);
    if (gptj_run(&a, o, &w, prompt, NULL, r, &e))
        fail_msg("%s", e.msg);
    gptj_weights_free(&w);
}

/* The reference's logits (B, T, V) of ids (B, T) on the weights as the machine holds them in fp16. */
static float *reference(const RunOptions *o, const uint32_t *ids, int T)
{
    IpuErr e;
    GptjWeights w, q;
    GptjState s;
    int V = o->cfg.vocab_size, *t = malloc(LB * T * sizeof *t);
    float *lg = malloc((size_t)LB * T * V * sizeof *lg);
    assert_true(t && lg);
    for (int i = 0; i < LB * T; i++)
        t[i] = (int)ids[i];
    if (gptj_weights_synth(&w, &o->cfg, GPTJ_F32, 3, &e) || eval_quantize_weights(&q, &w, &o->policy, GPTJ_F32, &e) ||
        gptj_state_init(&s, &q, LB, T, &e) || gptj_forward(&s, t, T, lg, 0, &e))
        fail_msg("%s", e.msg);
    gptj_state_free(&s);
    gptj_weights_free(&q);
    gptj_weights_free(&w);
    free(t);
    return lg;
}

/* Every row of got (n rows of V) within the tolerance of want's. */
static void near(const float *got, const float *want, int n, int V, const char *what)
{
    for (int r = 0; r < n; r++) {
        double rms = 0, maxd = 0;
        for (int i = 0; i < V; i++)
            rms += (double)want[(size_t)r * V + i] * want[(size_t)r * V + i];
        rms = sqrt(rms / V);
        for (int i = 0; i < V; i++) {
            double d = fabs((double)got[(size_t)r * V + i] - want[(size_t)r * V + i]);
            maxd = d > maxd || d != d ? d : maxd;
        }
        double tol = LOGIT_REL_TOL * (rms > 0.05 ? rms : 0.05);
        if (!(maxd <= tol))
            fail_msg("%s: row %d: max |logit diff| %g > tol %g", what, r, maxd, tol);
    }
}

/* Every position's logits against the reference over the prompt and the
 * tokens the run generated; the last position's == their last row. */
static void check_logits(uint32_t chips, int kv)
{
    RunOptions o;
    RunResult all, last;
    micro_opts(&o, chips, kv);
    o.logits = RUN_LOGITS_ALL;
    run_micro(&o, prompt_ids, &all);
    int V = o.cfg.vocab_size, T = LP + LG - 1;
    assert_int_equal(all.logits_positions, T);
    uint32_t ids[LB * (LP + LG - 1)];
    for (int b = 0; b < LB; b++)
        for (int t = 0; t < T; t++)
            ids[b * T + t] = t < LP ? prompt_ids[b * LP + t] : all.tokens[b * LG + t - LP];
    float *ref = reference(&o, ids, T);
    char what[64];
    snprintf(what, sizeof what, "chips %u kv %d", chips, kv);
    near(all.logits, ref, LB * T, V, what);
    o.logits = RUN_LOGITS_LAST;
    run_micro(&o, prompt_ids, &last);
    assert_int_equal(last.logits_positions, 1);
    assert_memory_equal(last.tokens, all.tokens, LB * LG * sizeof *all.tokens);
    for (int b = 0; b < LB; b++)
        assert_memory_equal(last.logits + (size_t)b * V, all.logits + ((size_t)b * T + T - 1) * V, V * sizeof(float));
    free(ref);
    run_result_free(&all);
    run_result_free(&last);
}

static void test_logits_kv_1chip(void **state) { (void)state; check_logits(1, 1); }
static void test_logits_kv_2chips(void **state) { (void)state; check_logits(2, 1); }
static void test_logits_nokv_2chips(void **state) { (void)state; check_logits(2, 0); }

/* The same positions through decode steps (a one-token prompt, the rest
 * teacher-forced) as through the prefill: within the tolerance, and the
 * reported tokens are the forced ones. */
static void test_teacher_forcing(void **state)
{
    (void)state;
    RunOptions o;
    RunResult pre, dec;
    micro_opts(&o, 2, 1);
    o.logits = RUN_LOGITS_ALL, o.gen_tokens = 1;
    run_micro(&o, prompt_ids, &pre);
    uint32_t first[LB], forced[LB * (LP - 1)];
    for (int b = 0; b < LB; b++) {
        first[b] = prompt_ids[b * LP];
        for (int t = 1; t < LP; t++)
            forced[b * (LP - 1) + t - 1] = prompt_ids[b * LP + t];
    }
    o.prompt_len = 1, o.gen_tokens = LP - 1, o.teacher = forced;
    run_micro(&o, first, &dec);
    assert_int_equal(dec.logits_positions, LP - 1);
    assert_memory_equal(dec.tokens, forced, sizeof forced);
    int V = o.cfg.vocab_size;
    for (int b = 0; b < LB; b++)
        near(dec.logits + (size_t)b * (LP - 1) * V, pre.logits + (size_t)b * LP * V, LP - 1, V, "teacher vs prefill");
    run_result_free(&pre);
    run_result_free(&dec);
}

static void test_logits_errors(void **state)
{
    (void)state;
    RunOptions o;
    RunResult r;
    IpuArch a;
    IpuErr e;
    micro_opts(&o, 1, 1);
    assert_int_equal(arch_preset("gc200", &a, &e), 0);
    o.logits = RUN_LOGITS_LAST;
    assert_int_equal(gptj_run(&a, &o, NULL, NULL, NULL, &r, &e), -1);
    assert_non_null(strstr(e.msg, "need functional mode"));
    GptjWeights w;
    assert_int_equal(gptj_weights_synth(&w, &o.cfg, GPTJ_F32, 3, &e), 0);
    uint32_t forced[LB * LG] = {1, 2, 3, 4, 512, 6};
    o.teacher = forced;
    assert_int_equal(gptj_run(&a, &o, &w, prompt_ids, NULL, &r, &e), -1);
    assert_string_equal(e.msg, "gptj_run: teacher token 1 of sequence 1 is 512, outside the vocabulary of gptj-micro "
                               "(512)");
    gptj_weights_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_equals_fresh_runs_q4_stream),
        cmocka_unit_test(test_session_equals_fresh_runs_fp16_kv_off),
        cmocka_unit_test(test_session_equals_fresh_runs_overlap),
        cmocka_unit_test(test_session_equals_fresh_runs_resident),
        cmocka_unit_test(test_same_graph_refuses_lowering_keys),
        cmocka_unit_test(test_session_create_error),
        cmocka_unit_test(test_logits_kv_1chip),
        cmocka_unit_test(test_logits_kv_2chips),
        cmocka_unit_test(test_logits_nokv_2chips),
        cmocka_unit_test(test_teacher_forcing),
        cmocka_unit_test(test_logits_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
