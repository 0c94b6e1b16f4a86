/* test_lower.c - GPT-J lowered onto the machine (host/lower.h, gptj_run.h):
 * functional logits against the fp32 reference forward on the same weights
 * (with dead values poisoned, so they check the memory layout's liveness too),
 * greedy tokens, timing == functional cycles, thread-count independence,
 * and the errors that must come before any work.
 *
 * Tolerance: LF_LOGIT_REL_TOL, derived in tests/lower_fixture.h. */
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
#include <unistd.h>

#include "host/lower/model.h"
#include "tests/lower_fixture.h"

static void opts(RunOptions *o, const char *fmt, uint32_t chips, int kv, uint32_t batch)
{
    lf_opts(o, "gptj-micro", fmt, chips, kv, batch, PLACE_AUTO);
}

/* Runs prefill + LF_GEN - 1 decode steps on the machine (dead values
 * poisoned, the q4mm fusions on), and the reference on the same tokens;
 * checks logits at every step and greedy tokens. */
static void check_case_placed(const char *fmt, uint32_t chips, int kv, uint32_t batch, Placement pl, int overlap)
{
    IpuArch a;
    lf_arch(&a, 96, 0, overlap);
    RunOptions o;
    opts(&o, fmt, chips, kv, batch);
    o.placement = pl;
    o.overlap = overlap;
    LfRefCase c;
    lf_ref_case(&c, &a, &o, 1, 64);
    assert_int_equal(lower_placement(c.m.L), pl == PLACE_AUTO ? PLACE_RESIDENT : pl);
    char what[96];
    snprintf(what, sizeof what, "%s chips %u kv %d batch %u", fmt, chips, kv, batch);
    lf_check_against_reference(&c.m, &o, &c.st, 1, what);
    lf_ref_case_free(&c);
}

static void check_case(const char *fmt, uint32_t chips, int kv, uint32_t batch)
{
    check_case_placed(fmt, chips, kv, batch, PLACE_AUTO, 0);
}

/* The planner spreads LayerNorm rows over slice tiles when rows are few
 * (host/lower/layernorm.c): this config takes the split path for ln_1 and ln_f in
 * both step graphs, and its logits agree with the reference. */
static void test_split_layernorm(void **s)
{
    (void)s;
    IpuErr e;
    IpuArch a;
    lf_arch(&a, 96, 0, 0);
    RunOptions o;
    opts(&o, "f16", 1, 1, 1);
    Lowered *L;
    if (lower_gptj(&a, &o, NULL, &L, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(L->nsg, 2);
    for (int i = 0; i < 2; i++) {
        assert_true(L->sg[i].split_ln1 && L->sg[i].split_lnf);
        assert_true(L->sg[i].ln1s.nt >= 1 && L->sg[i].ln1s.ns == L->sg[i].ln1s.nt * a.workers_per_tile);
    }
    assert_int_equal(L->sg[1].ln1s.rows, 1);
    lower_destroy(L);
    check_case("f16", 1, 1, 1);
}

static void test_fp16_1chip_kv(void **s) { (void)s; check_case("f16", 1, 1, 1); }
static void test_fp16_2chip_kv_batch2(void **s) { (void)s; check_case("f16", 2, 1, 2); }
static void test_fp16_4chip_nokv(void **s) { (void)s; check_case("f16", 4, 0, 1); }
static void test_fp16_2chip_nokv_batch2(void **s) { (void)s; check_case("f16", 2, 0, 2); }
static void test_q4_1chip_nokv(void **s) { (void)s; check_case("q4g:16", 1, 0, 1); }
static void test_q4_2chip_kv_batch2(void **s) { (void)s; check_case("q4g:16", 2, 1, 2); }
static void test_q4_4chip_kv(void **s) { (void)s; check_case("q4g:16", 4, 1, 1); }
static void test_stream_q4_2chip_kv(void **s) { (void)s; check_case_placed("q4g:16", 2, 1, 1, PLACE_STREAM, 0); }
static void test_stream_overlap_fp16_2chip_nokv(void **s) { (void)s; check_case_placed("f16", 2, 0, 2, PLACE_STREAM, 1); }

/* ---- gptj_run: timing == functional, steps, threads ----
 * Timing mode builds the vertices and Copy pairs of chip 0 only (tensor-
 * parallel symmetry, lower.h vchips); functional mode builds every chip. So
 * these tests are also the proof that the symmetry gives the same cycles,
 * per step and per phase, at 2 and 4 chips, with and without a cache,
 * resident, streamed and overlapped. */

static void run_both(const char *fmt, uint32_t chips, int kv, Placement pl, int overlap, int threads, RunResult *timing,
                     RunResult *func)
{
    IpuArch a;
    lf_arch(&a, 96, 0, overlap);
    RunOptions o;
    opts(&o, fmt, chips, kv, 2);
    o.placement = pl, o.overlap = overlap;
    o.gen_tokens = 4;
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    lf_run_timing_functional(&a, &o, timing, func);
    omp_set_num_threads(saved);
}

static void check_timing_equals_functional(const char *fmt, uint32_t chips, int kv, Placement pl, int overlap)
{
    RunResult t, f;
    run_both(fmt, chips, kv, pl, overlap, 2, &t, &f);
    assert_null(t.tokens);
    assert_non_null(f.tokens);
    assert_int_equal(t.ndecode, 3);
    assert_true(t.prefill.cycles > 0);
    lf_assert_runs_equal(&t, &f);
    for (uint32_t k = 0; k < t.ndecode; k++) {
        lf_assert_steps_equal(&t.decode[k], &t.decode[0]); /* positions do not change cycles */
        uint64_t sum = 0;
        for (int i = 0; i < PHASE_COUNT; i++)
            sum += t.decode[k].phase_cycles[i];
        assert_int_equal(sum, t.decode[k].cycles);
    }
    assert_int_equal(t.sram.bytes, f.sram.bytes);
    assert_int_equal(t.sram.tile, f.sram.tile);
    assert_string_equal(t.sram.step, f.sram.step);
    assert_int_equal(t.placement, f.placement);
    if (kv)
        assert_true(t.decode[0].cycles < t.prefill.cycles);
    if (pl == PLACE_STREAM)
        assert_true(t.prefill.stream_bytes > 0 && t.prefill.phase_cycles[PHASE_STREAM] + t.prefill.stream_hidden_cycles > 0);
    if (overlap)
        assert_true(t.prefill.stream_hidden_cycles > 0);
    if (chips > 1)
        assert_true(t.prefill.link_bytes > 0 && t.prefill.phase_cycles[PHASE_COLLECTIVE] > 0);
    if (!strcmp(fmt, "q4g:16"))
        assert_true(t.prefill.phase_cycles[PHASE_DECOMPRESS] > 0);
    run_result_free(&t);
    run_result_free(&f);
}

static void test_timing_eq_functional_kv(void **s) { (void)s; check_timing_equals_functional("q4g:16", 2, 1, PLACE_RESIDENT, 0); }
static void test_timing_eq_functional_nokv_stream(void **s) { (void)s; check_timing_equals_functional("f16", 4, 0, PLACE_STREAM, 0); }
static void test_timing_eq_functional_overlap(void **s) { (void)s; check_timing_equals_functional("q4g:16", 2, 1, PLACE_STREAM, 1); }

static void test_threads_same_cycles_and_tokens(void **s)
{
    (void)s;
    RunResult f1, f2;
    run_both("q4g:16", 2, 1, PLACE_AUTO, 0, 1, NULL, &f1);
    run_both("q4g:16", 2, 1, PLACE_AUTO, 0, 2, NULL, &f2);
    lf_assert_runs_equal(&f1, &f2);
    assert_memory_equal(f1.tokens, f2.tokens, 2 * 4 * sizeof *f1.tokens);
    run_result_free(&f1);
    run_result_free(&f2);
}

/* Every byte of g's tensors and remote buffers equals h's. */
static void assert_graph_data_equal(Graph *g, Graph *h)
{
    assert_int_equal(g->ntensors, h->ntensors);
    assert_int_equal(g->nremotes, h->nremotes);
    for (size_t i = 0; i < g->ntensors; i++) {
        const Tensor *t = &g->tensors[i];
        size_t n = (size_t)t->elems * graph_dtype_bytes(t->dtype);
        if (memcmp(graph_tensor_data(g, (int)i), graph_tensor_data(h, (int)i), n))
            fail_msg("tensor '%s' differs", t->name);
    }
    for (size_t i = 0; i < g->nremotes; i++)
        if (memcmp(graph_remote_data(g, (int)i), graph_remote_data(h, (int)i), g->remotes[i].bytes))
            fail_msg("remote buffer '%s' differs", g->remotes[i].name);
}

/* Lazy weights, made on demand or left in a checkpoint's mapping
 * (gptj_weights_synth_lazy, gptj_weights_load_lazy: the lowering reads a
 * matrix at a time through gptj_weights_rows), lower to the same bytes as
 * the stored ones, resident and streamed, and run to the same tokens. The
 * checkpoint is fp32, read as fp16: the stored weights' values. */
static void test_lazy_weights_same_graph(void **s)
{
    (void)s;
    IpuErr e;
    IpuArch a;
    lf_arch(&a, 96, 0, 0);
    RunOptions o;
    opts(&o, "q4g:16", 2, 1, 2);
    char dir[] = "/tmp/test_lower_ckXXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    int shards = 0;
    GptjWeights w[3];
    memset(w, 0, sizeof w);
    if (gptj_synth_write(&o.cfg, 3, ST_F32, dir, 1ull << 30, &shards, NULL, NULL, &e) ||
        gptj_weights_synth(&w[0], &o.cfg, GPTJ_F16, 3, &e) || gptj_weights_synth_lazy(&w[1], &o.cfg, GPTJ_F16, 3, &e) ||
        gptj_weights_load_lazy(&w[2], NULL, dir, GPTJ_F16, 1, &e))
        fail_msg("%s", e.msg);
    assert_true(w[1].lazy_synth && w[2].ck && !w[1].matrix_slab && !w[2].matrix_slab);
    for (int pl = 0; pl < 2; pl++) {
        o.placement = pl ? PLACE_STREAM : PLACE_RESIDENT;
        Lowered *L[3];
        for (int i = 0; i < 3; i++)
            if (lower_gptj(&a, &o, &w[i], &L[i], &e))
                fail_msg("%s", e.msg);
        assert_int_equal(lower_placement(L[0]), o.placement);
        for (int i = 1; i < 3; i++)
            assert_graph_data_equal(lower_graph(L[0]), lower_graph(L[i]));
        for (int i = 0; i < 3; i++)
            lower_destroy(L[i]);
    }
    uint32_t prompt[2 * LF_PROMPT];
    lf_prompt(prompt, 2 * LF_PROMPT, o.cfg.vocab_size);
    RunResult r0, r2;
    if (gptj_run(&a, &o, &w[0], prompt, NULL, &r0, &e) || gptj_run(&a, &o, &w[2], prompt, NULL, &r2, &e))
        fail_msg("%s", e.msg);
    assert_memory_equal(r0.tokens, r2.tokens, 2 * LF_GEN * sizeof *r0.tokens);
    run_result_free(&r0);
    run_result_free(&r2);
    for (int i = 0; i < 3; i++)
        gptj_weights_free(&w[i]);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(remove(path), 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(remove(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* More workers than the lowering's per-worker arrays once held (16): the
 * arch allows up to ARCH_MAX_WORKERS_PER_TILE. The int4 decompress split
 * fills one entry per worker; attention splits its matmuls by rows over
 * all of them when a wave has at least that many query rows (a long
 * prompt). An overrun is what the ASan build catches here. */
static void check_workers(uint32_t workers, int kv, uint32_t prompt_len)
{
    IpuArch a;
    lf_arch(&a, 96, workers, 0);
    RunOptions o;
    opts(&o, "q4g:16", 2, kv, 2);
    o.prompt_len = prompt_len;
    RunResult t, f;
    lf_run_timing_functional(&a, &o, &t, &f);
    assert_non_null(f.tokens);
    lf_assert_runs_equal(&t, &f);
    run_result_free(&t);
    run_result_free(&f);
}

static void test_workers_32_64(void **s)
{
    (void)s;
    check_workers(32, 1, 40);
    check_workers(64, 1, LF_PROMPT);
    check_workers(64, 0, 70);
}

/* ---- errors before any work ---- */

static void expect_error(const IpuArch *a, const RunOptions *o, const char *needle)
{
    IpuErr e;
    RunResult r;
    e.msg[0] = 0;
    assert_int_equal(gptj_run(a, o, NULL, NULL, NULL, &r, &e), -1);
    if (!strstr(e.msg, needle))
        fail_msg("error '%s' does not mention '%s'", e.msg, needle);
}

static void test_errors(void **s)
{
    (void)s;
    IpuErr e;
    IpuArch a;
    lf_arch(&a, 96, 0, 0);
    RunOptions o;
    opts(&o, "f16", 3, 1, 1);
    expect_error(&a, &o, "does not divide n_head");
    opts(&o, "f16", 8, 1, 1);
    expect_error(&a, &o, "the arch has 4 chips");
    opts(&o, "q4g:32", 4, 1, 1); /* out_proj / fc_out per chip: 16 inputs */
    expect_error(&a, &o, "group size 32 does not divide");
    opts(&o, "f16", 1, 1, 1);
    o.seq_len = 4;
    expect_error(&a, &o, "longer than the sequence");
    opts(&o, "f16", 1, 1, 1);
    IpuArch tiny = a;
    if (arch_set(&tiny, "sram_bytes_per_tile", "24576", &e))
        fail_msg("%s", e.msg);
    expect_error(&tiny, &o, "does not fit even with streamed weights");
    expect_error(&tiny, &o, "tile");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_layernorm),
        cmocka_unit_test(test_fp16_1chip_kv),       cmocka_unit_test(test_fp16_2chip_kv_batch2),
        cmocka_unit_test(test_fp16_4chip_nokv),     cmocka_unit_test(test_fp16_2chip_nokv_batch2),
        cmocka_unit_test(test_q4_1chip_nokv),       cmocka_unit_test(test_q4_2chip_kv_batch2),
        cmocka_unit_test(test_q4_4chip_kv),         cmocka_unit_test(test_stream_q4_2chip_kv),
        cmocka_unit_test(test_stream_overlap_fp16_2chip_nokv),
        cmocka_unit_test(test_timing_eq_functional_kv),
        cmocka_unit_test(test_timing_eq_functional_nokv_stream),
        cmocka_unit_test(test_timing_eq_functional_overlap),
        cmocka_unit_test(test_lazy_weights_same_graph),
        cmocka_unit_test(test_threads_same_cycles_and_tokens),
        cmocka_unit_test(test_workers_32_64),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
