/* test_lower.c - GPT-J lowered onto the machine (host/lower.h, gptj_run.h):
 * functional logits against the fp32 reference forward on the same weights
 * (with dead values poisoned, so they check the memory layout's liveness too),
 * greedy tokens, timing == functional cycles, thread-count independence,
 * and the errors that must come before any work.
 *
 * Tolerance. The machine keeps activations in fp16 (relative rounding
 * u = 2^-11 ~ 4.9e-4 per stored value, partials rounded at most once per 16
 * inputs) while the reference computes in fp32 on the same (fp16 or
 * dequantized int4) weights. gptj-micro has 2 layers; along one residual
 * path a value passes ~12 fp16 roundings per layer (ln_1, q/k/v, scores or
 * probs, attention out, out_proj, fc_in, gelu, fc_out, block sum, residual;
 * ln_f), so n ~ 24; independent roundings add in quadrature (sqrt(n) u) and
 * LayerNorm can amplify an error by 1/std of its input (<= 4 here): sqrt(24)
 * x 4 x u ~ 1e-2 relative to the logits' scale (their RMS). LOGIT_REL_TOL
 * doubles that; measured differences are ~3e-3 x RMS, and a decode step
 * with the softmax at the wrong position fails it by 7x. */
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

#include "codelets/q4mm.h"
#include "host/gptj_run.h"
#include "host/lower/lower.h"
#include "host/lower/model.h"
#include "models/gptj_forward.h"
#include "sim/engine.h"

#define LOGIT_REL_TOL 0.02
#define PROMPT 5
#define GEN 3

static void arch_small(IpuArch *a, uint32_t tiles)
{
    IpuErr e;
    char v[16];
    if (arch_preset("pod4", a, &e))
        fail_msg("%s", e.msg);
    snprintf(v, sizeof v, "%u", tiles);
    if (arch_set(a, "tiles_per_chip", v, &e))
        fail_msg("%s", e.msg);
}

static void opts(RunOptions *o, const char *fmt, uint32_t chips, int kv, uint32_t batch)
{
    IpuErr e;
    memset(o, 0, sizeof *o);
    if (gptj_config_preset(&o->cfg, "gptj-micro", &e) || quant_spec_parse(fmt, &o->weights, &e))
        fail_msg("%s", e.msg);
    quant_policy_graphcore(&o->policy, &o->weights);
    o->placement = PLACE_AUTO;
    o->kv_cache = kv;
    o->partials = LAYER_F32;
    o->chips = chips;
    o->batch = batch;
    o->prompt_len = PROMPT;
    o->gen_tokens = GEN;
}

/* The reference's weights: what the machine's formats make of w (fp16
 * values for fp16 tensors, dequantized int4 for q4g ones). */
static void ref_weights(const RunOptions *o, const GptjWeights *w, GptjWeights *r)
{
    IpuErr e;
    if (gptj_weights_init(r, &w->cfg, GPTJ_F32, &e))
        fail_msg("%s", e.msg);
    int n = gptj_tensor_count(&w->cfg);
    for (int i = 0; i < n; i++) {
        GptjTensorInfo ti;
        gptj_tensor_info(&w->cfg, i, &ti);
        uint64_t ne = gptj_tensor_elems(&ti);
        float *dst = gptj_weights_tensor(r, i);
        const float *src = gptj_weights_tensor(w, i);
        if (ti.kind != GPTJ_MATRIX) {
            for (uint64_t k = 0; k < ne; k++) /* the machine keeps gains and biases in fp16 */
                dst[k] = fp16_to_f32(fp16_from_f32(src[k]));
            continue;
        }
        const QuantSpec *sp = quant_policy_lookup(&o->policy, ti.name);
        QuantTensor q;
        memset(&q, 0, sizeof q);
        if (!strcmp(sp->fmt->name, "q4g")) {
            if (quant_tensor(sp, ti.name, src, ti.shape[0], ti.shape[1], &q, &e))
                fail_msg("%s", e.msg);
            quant_dequantize(&q, dst);
            quant_tensor_free(&q);
        } else {
            for (uint64_t k = 0; k < ne; k++)
                dst[k] = fp16_to_f32(fp16_from_f32(src[k]));
        }
    }
}

static double compare(const float *got, const float *want, int V, double *tol_out)
{
    double rms = 0, maxd = 0;
    for (int i = 0; i < V; i++)
        rms += (double)want[i] * want[i];
    rms = sqrt(rms / V);
    for (int i = 0; i < V; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= maxd))
            maxd = d;
    }
    *tol_out = LOGIT_REL_TOL * (rms > 0.05 ? rms : 0.05);
    return maxd;
}

static int top2_close(const float *l, int V, double tol)
{
    int a = 0;
    for (int i = 1; i < V; i++)
        if (l[i] > l[a])
            a = i;
    double second = -INFINITY;
    for (int i = 0; i < V; i++)
        if (i != a && l[i] > second)
            second = l[i];
    return l[a] - second <= 2 * tol;
}

/* Runs prefill + GEN-1 decode steps on the machine, and the reference on
 * the same tokens; checks logits at every step and greedy tokens. */
static void check_case_placed(const char *fmt, uint32_t chips, int kv, uint32_t batch, Placement pl, int overlap)
{
    IpuErr e;
    IpuArch a;
    arch_small(&a, 96);
    if (overlap && arch_set(&a, "stream.io_tiles", "8", &e))
        fail_msg("%s", e.msg);
    RunOptions o;
    opts(&o, fmt, chips, kv, batch);
    o.placement = pl;
    o.overlap = overlap;
    GptjWeights w, rw;
    if (gptj_weights_synth(&w, &o.cfg, GPTJ_F32, 7, &e))
        fail_msg("%s", e.msg);
    ref_weights(&o, &w, &rw);
    Lowered *L;
    if (lower_gptj(&a, &o, &w, &L, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(lower_placement(L), pl == PLACE_AUTO ? PLACE_RESIDENT : pl);
    Engine *en = engine_create(lower_graph(L), &e);
    assert_non_null(en);
    /* every value is poisoned (NaN) when the memory layout says it died: a
     * lowering that reads memory the layout gave to another tensor fails the
     * logit comparison below */
    engine_set_poison(en, 1);
    engine_set_fusions(en, q4mm_fusions, q4mm_fusion_count); /* dead writes skipped, and watched */
    GptjState st;
    int V = o.cfg.vocab_size;
    if (gptj_state_init(&st, &rw, (int)batch, 64, &e))
        fail_msg("%s", e.msg);
    uint32_t prompt[4 * PROMPT];
    int iprompt[4 * PROMPT];
    for (uint32_t i = 0; i < batch * PROMPT; i++)
        prompt[i] = (uint32_t)((i * 97 + 13) % (uint32_t)V), iprompt[i] = (int)prompt[i];
    float *got = malloc(sizeof(float) * V * batch), *want = malloc(sizeof(float) * V * batch);
    uint32_t tok[4];
    int itok[4];
    for (int step = 0; step < GEN; step++) {
        int rc = step == 0 ? lower_prepare_prefill(L, prompt, &e) : lower_prepare_decode(L, PROMPT + step - 1, tok, &e);
        if (rc || engine_run(en, lower_program(L), &e))
            fail_msg("%s", e.msg);
        if (lower_read_logits(L, step > 0, got, &e) || lower_read_tokens(L, step > 0, tok, &e))
            fail_msg("%s", e.msg);
        if (step == 0 ? gptj_forward(&st, iprompt, PROMPT, want, 1, &e) : gptj_forward(&st, itok, 1, want, 1, &e))
            fail_msg("%s", e.msg);
        for (uint32_t s = 0; s < batch; s++) {
            double tol, d = compare(got + (size_t)s * V, want + (size_t)s * V, V, &tol);
            if (!(d <= tol))
                fail_msg("%s chips %u kv %d batch %u step %d seq %u: max |logit diff| %g > tol %g", fmt, chips, kv,
                         batch, step, s, d, tol);
            int ref_tok = 0;
            for (int i = 1; i < V; i++)
                if (want[(size_t)s * V + i] > want[(size_t)s * V + ref_tok])
                    ref_tok = i;
            if (!top2_close(want + (size_t)s * V, V, tol))
                assert_int_equal(tok[s], ref_tok);
            itok[s] = (int)tok[s]; /* both continue from the machine's token */
        }
    }
    free(got), free(want);
    gptj_state_free(&st);
    engine_destroy(en);
    lower_destroy(L);
    gptj_weights_free(&w);
    gptj_weights_free(&rw);
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
    arch_small(&a, 96);
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
    IpuErr e;
    IpuArch a;
    arch_small(&a, 96);
    if (overlap && arch_set(&a, "stream.io_tiles", "8", &e))
        fail_msg("%s", e.msg);
    RunOptions o;
    opts(&o, fmt, chips, kv, 2);
    o.placement = pl, o.overlap = overlap;
    o.gen_tokens = 4;
    GptjWeights w;
    if (gptj_weights_synth(&w, &o.cfg, GPTJ_F16, 3, &e))
        fail_msg("%s", e.msg);
    uint32_t prompt[2 * PROMPT];
    for (uint32_t i = 0; i < 2 * PROMPT; i++)
        prompt[i] = (i * 31 + 5) % (uint32_t)o.cfg.vocab_size;
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    if ((timing && gptj_run(&a, &o, NULL, NULL, NULL, timing, &e)) || gptj_run(&a, &o, &w, prompt, NULL, func, &e))
        fail_msg("%s", e.msg);
    omp_set_num_threads(saved);
    gptj_weights_free(&w);
}

static void assert_steps_equal(const StepResult *x, const StepResult *y)
{
    assert_int_equal(x->cycles, y->cycles);
    for (int i = 0; i < PHASE_COUNT; i++)
        assert_int_equal(x->phase_cycles[i], y->phase_cycles[i]);
    assert_int_equal(x->exchange_bytes, y->exchange_bytes);
    assert_int_equal(x->stream_bytes, y->stream_bytes);
    assert_int_equal(x->link_bytes, y->link_bytes);
}

static void check_timing_equals_functional(const char *fmt, uint32_t chips, int kv, Placement pl, int overlap)
{
    RunResult t, f;
    run_both(fmt, chips, kv, pl, overlap, 2, &t, &f);
    assert_null(t.tokens);
    assert_non_null(f.tokens);
    assert_int_equal(t.ndecode, 3);
    assert_true(t.prefill.cycles > 0);
    assert_steps_equal(&t.prefill, &f.prefill);
    for (uint32_t k = 0; k < t.ndecode; k++) {
        assert_steps_equal(&t.decode[k], &f.decode[k]);
        assert_steps_equal(&t.decode[k], &t.decode[0]); /* positions do not change cycles */
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
    assert_steps_equal(&f1.prefill, &f2.prefill);
    for (uint32_t k = 0; k < f1.ndecode; k++)
        assert_steps_equal(&f1.decode[k], &f2.decode[k]);
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
    arch_small(&a, 96);
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
    uint32_t prompt[2 * PROMPT];
    for (uint32_t i = 0; i < 2 * PROMPT; i++)
        prompt[i] = (i * 31 + 5) % (uint32_t)o.cfg.vocab_size;
    RunResult r0, r2;
    if (gptj_run(&a, &o, &w[0], prompt, NULL, &r0, &e) || gptj_run(&a, &o, &w[2], prompt, NULL, &r2, &e))
        fail_msg("%s", e.msg);
    assert_memory_equal(r0.tokens, r2.tokens, 2 * GEN * sizeof *r0.tokens);
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
    IpuErr e;
    IpuArch a;
    arch_small(&a, 96);
    char v[16];
    snprintf(v, sizeof v, "%u", workers);
    if (arch_set(&a, "workers_per_tile", v, &e))
        fail_msg("%s", e.msg);
    RunOptions o;
    opts(&o, "q4g:16", 2, kv, 2);
    o.prompt_len = prompt_len;
    GptjWeights w;
    if (gptj_weights_synth(&w, &o.cfg, GPTJ_F16, 3, &e))
        fail_msg("%s", e.msg);
    uint32_t *prompt = malloc(2 * prompt_len * sizeof *prompt);
    assert_non_null(prompt);
    for (uint32_t i = 0; i < 2 * prompt_len; i++)
        prompt[i] = (i * 31 + 5) % (uint32_t)o.cfg.vocab_size;
    RunResult t, f;
    if (gptj_run(&a, &o, NULL, NULL, NULL, &t, &e) || gptj_run(&a, &o, &w, prompt, NULL, &f, &e))
        fail_msg("workers %u: %s", workers, e.msg);
    free(prompt);
    assert_non_null(f.tokens);
    assert_steps_equal(&t.prefill, &f.prefill);
    assert_int_equal(t.ndecode, f.ndecode);
    for (uint32_t k = 0; k < t.ndecode; k++)
        assert_steps_equal(&t.decode[k], &f.decode[k]);
    run_result_free(&t);
    run_result_free(&f);
    gptj_weights_free(&w);
}

static void test_workers_32_64(void **s)
{
    (void)s;
    check_workers(32, 1, 40);
    check_workers(64, 1, PROMPT);
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
    arch_small(&a, 96);
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
