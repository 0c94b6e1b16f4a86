/* test_lower_gc.c - scheme = graphcore (host/lower/linear_gc.c) against the
 * ipusim scheme on the same weights.
 *
 * Tolerance. Both schemes compute each weight as fp16(fp16(code x scale) +
 * bias) (Graphcore's multiply then add are two rounded fp16 ops, as is
 * every ipusim decompress variant). Where the two lowerings choose the same
 * matmul grids, the matmuls see the same fp16 blocks and sum them in the
 * same order, so the logits must be equal bit for bit, at every step, with
 * every dead value poisoned. The grids may differ, though: under
 * graphcore poplin plans for fp16 weights (no group to keep whole, no
 * decompress to price), so a linear may split K differently and its fp16
 * partials round at other points; then the logits may differ by those
 * roundings, bounded as in tests/lower_fixture.h: LF_LOGIT_REL_TOL of the
 * logits' RMS (a few fp16 roundings through two or three layers). Both
 * kinds of case are run. Also: timing mode gives the functional run's
 * cycles, per phase, and the graphcore scheme streams the same bytes and
 * adds exchange (operands, rearrangement). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/gc_decompress.h"
#include "host/lower/model.h"
#include "tests/lower_fixture.h"

typedef struct Case {
    const char *model, *fmt;
    uint32_t chips, batch;
    int kv;
    Placement place;
    uint32_t tiles; /* tiles per chip; 0: 96 */
} Case;

/* A preset, or "wide": one layer of micro made 512 wide, so that a tile
 * of fc_in holds more than 256 groups of 32 (poplibs' general path). */
static void model_config(const char *model, GptjConfig *c)
{
    IpuErr e;
    if (gptj_config_preset(c, strcmp(model, "wide") ? model : "gptj-micro", &e))
        fail_msg("%s", e.msg);
    if (!strcmp(model, "wide"))
        c->n_layer = 1, c->n_embd = 512, c->head_dim = 128, c->rotary_dim = 32, c->n_inner = 2048;
}

static void setup(const Case *k, Scheme scheme, IpuArch *a, RunOptions *o)
{
    lf_arch(a, k->tiles ? k->tiles : 96, 0, 0);
    lf_opts(o, "gptj-micro", k->fmt, k->chips, k->kv, k->batch, k->place);
    model_config(k->model, &o->cfg);
    o->partials = LAYER_F16, o->scheme = scheme;
}

/* Vertices of Graphcore's broadcast ops per kind, over the graph. */
static void count_kinds(const Graph *g, uint64_t kinds[GC_BCAST_KINDS])
{
    for (size_t c = 0; c < g->ncs; c++)
        for (size_t v = 0; v < g->cs[c].count; v++)
            if (g->cs[c].v[v].type == &gc_bcast_vertex)
                kinds[((const GcBcastArgs *)g->cs[c].v[v].args)->kind]++;
}

/* Every step's logits of one scheme, poisoned (LF_GEN x batch x V floats);
 * grids: each linear's and the LM head's (nb, kb) as planned; kinds: the
 * broadcast vertices built, added per kind. */
static float *logits(const Case *k, Scheme scheme, const GptjWeights *w, uint32_t grids[2 * (NLIN + 1)],
                     uint64_t kinds[GC_BCAST_KINDS])
{
    IpuErr e;
    IpuArch a;
    RunOptions o;
    setup(k, scheme, &a, &o);
    Lowered *L;
    if (lower_gptj(&a, &o, w, &L, &e))
        fail_msg("%s %s: %s", k->model, k->fmt, e.msg);
    for (int li = 0; li <= NLIN; li++) {
        const LinearPlan *pl = li < NLIN ? &L->pl[li] : &L->plm;
        grids[2 * li] = pl->nb, grids[2 * li + 1] = pl->kb;
    }
    count_kinds(lower_graph(L), kinds);
    Engine *en = engine_create(lower_graph(L), &e);
    assert_non_null(en);
    engine_set_poison(en, 1);
    size_t V = (size_t)o.cfg.vocab_size;
    float *out = malloc(sizeof(float) * LF_GEN * k->batch * V);
    uint32_t prompt[4 * LF_PROMPT], tok[4];
    for (uint32_t i = 0; i < k->batch * LF_PROMPT; i++)
        prompt[i] = (i * 89 + 7) % (uint32_t)V;
    for (int step = 0; step < LF_GEN; step++) {
        int rc = step == 0 ? lower_prepare_prefill(L, prompt, &e) : lower_prepare_decode(L, LF_PROMPT + step - 1, tok, &e);
        if (rc || engine_run(en, lower_program(L), &e) ||
            lower_read_logits(L, step > 0, out + (size_t)step * k->batch * V, &e) ||
            lower_read_tokens(L, step > 0, tok, &e))
            fail_msg("%s", e.msg);
    }
    engine_destroy(en);
    lower_destroy(L);
    return out;
}

/* Bit-exact when the grids agree, else within lf_tolerance; returns
 * whether they agreed. kinds: the graphcore lowering's broadcast vertices. */
static int check_same_logits(const Case *k, uint64_t kinds[GC_BCAST_KINDS])
{
    IpuErr e;
    GptjConfig cfg;
    model_config(k->model, &cfg);
    GptjWeights w;
    if (gptj_weights_synth(&w, &cfg, GPTJ_F32, 9, &e))
        fail_msg("%s", e.msg);
    uint32_t gx[2 * (NLIN + 1)], gy[2 * (NLIN + 1)];
    uint64_t none[GC_BCAST_KINDS] = {0};
    float *x = logits(k, SCHEME_IPUSIM, &w, gx, none), *y = logits(k, SCHEME_GRAPHCORE, &w, gy, kinds);
    for (int i = 0; i < GC_BCAST_KINDS; i++)
        assert_int_equal(none[i], 0);
    int same = !memcmp(gx, gy, sizeof gx);
    size_t V = (size_t)cfg.vocab_size;
    for (size_t r = 0; r < (size_t)LF_GEN * k->batch; r++) {
        const float *a = x + r * V, *b = y + r * V;
        for (size_t i = 0; same && i < V; i++)
            if (memcmp(&a[i], &b[i], sizeof *a))
                fail_msg("%s %s: same grids, logit %zu of row %zu differs: ipusim %.9g, graphcore %.9g", k->model,
                         k->fmt, i, r, (double)a[i], (double)b[i]);
        double tol = lf_tolerance(a, (int)V), maxd = lf_max_diff(b, a, (int)V);
        if (!(maxd <= tol))
            fail_msg("%s %s: row %zu: max |logit diff| %g > tol %g", k->model, k->fmt, r, maxd, tol);
    }
    free(x), free(y);
    gptj_weights_free(&w);
    return same;
}

/* Graphcore's setting: streamed, no KV cache, tensor parallel; bit-exact */
static void test_micro_q4g16_stream_nokv_2chips(void **s)
{
    (void)s;
    uint64_t kinds[GC_BCAST_KINDS] = {0};
    assert_true(check_same_logits(&(Case){"gptj-micro", "q4g:16", 2, 2, 0, PLACE_STREAM, 0}, kinds));
    assert_true(kinds[GC_OUTER_ROW] > 0); /* groups of 16 = the mapping grain: whole groups on every tile */
}

/* grids that differ: within the tolerance */
static void test_micro_q4g32_resident_kv(void **s)
{
    (void)s;
    uint64_t kinds[GC_BCAST_KINDS] = {0};
    assert_false(check_same_logits(&(Case){"gptj-micro", "q4g:32", 1, 1, 1, PLACE_RESIDENT, 0}, kinds));
    assert_true(kinds[GC_OUTER_COL] > 0);
}

static void test_tiny_q4g64_stream_nokv(void **s)
{
    (void)s;
    uint64_t kinds[GC_BCAST_KINDS] = {0};
    check_same_logits(&(Case){"gptj-tiny", "q4g:64", 2, 1, 0, PLACE_STREAM, 1472}, kinds);
}

/* poplibs' general path: the broadcast operand materialised on the tile */
static void test_wide_q4g32_general_path(void **s)
{
    (void)s;
    uint64_t kinds[GC_BCAST_KINDS] = {0};
    check_same_logits(&(Case){"wide", "q4g:32", 1, 1, 0, PLACE_STREAM, 0}, kinds);
    assert_true(kinds[GC_BINARY1D] > 0 && kinds[GC_SCALAR2D] > 0);
}

static void run(const Case *k, Scheme scheme, int functional, RunResult *r)
{
    IpuArch a;
    RunOptions o;
    setup(k, scheme, &a, &o);
    lf_run_timing_functional(&a, &o, functional ? NULL : r, functional ? r : NULL);
}

static void test_timing_equals_functional(void **s)
{
    (void)s;
    Case k = {"gptj-micro", "q4g:16", 2, 2, 0, PLACE_STREAM, 0};
    RunResult t, f, ip;
    run(&k, SCHEME_GRAPHCORE, 0, &t);
    run(&k, SCHEME_GRAPHCORE, 1, &f);
    run(&k, SCHEME_IPUSIM, 0, &ip);
    lf_assert_runs_equal(&t, &f);
    assert_int_equal(t.sram.bytes, f.sram.bytes);
    /* the same bytes streamed; Graphcore's pipeline adds exchange (operands, rearrangement) */
    assert_int_equal(t.prefill.stream_bytes, ip.prefill.stream_bytes);
    assert_true(t.prefill.exchange_bytes > ip.prefill.exchange_bytes);
    assert_true(t.prefill.phase_cycles[PHASE_DECOMPRESS] > 0);
    run_result_free(&t), run_result_free(&f), run_result_free(&ip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_micro_q4g16_stream_nokv_2chips),
        cmocka_unit_test(test_micro_q4g32_resident_kv),
        cmocka_unit_test(test_tiny_q4g64_stream_nokv),
        cmocka_unit_test(test_wide_q4g32_general_path),
        cmocka_unit_test(test_timing_equals_functional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
