/* test_lower_uses.c - the lowering declares what its vertices touch
 * (host/lower/lower.h lower_in / lower_out / lower_inout, graph_cs_use), which
 * tensor liveness will take as the truth.
 *
 * Completeness: in functional mode, every tensor sim/footprint.c finds in a
 * compute set's vertex args (a conservative scan for pointers into host
 * buffers) is declared in that set's uses, and every declared tensor is
 * pointed into (no stray declarations). Timing mode (no pointers, chip 0's
 * vertices only) declares exactly functional mode's uses of chip 0's
 * tensors. Over gptj-micro at 1, 2 and 4 chips, KV cache on and off, fp16
 * and q4g:16, resident and streamed, split and whole-row LayerNorm, and
 * once gptj-tiny on the full chip.
 *
 * Access modes and always-live (test_poison_*): a run in which, before
 * every Execute, each tensor the set declares write-only is filled with
 * garbage, and between runs every tensor that is not always-live is, gives
 * the same logits bit for bit as a clean run; and a tensor a set declares
 * read-only is unchanged by it. A write-only declaration on a tensor the
 * vertices also read (or only partly overwrite while the rest is still to
 * be read), or a host-written or run-to-run value not marked always-live,
 * changes the logits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/q4mm.h"
#include "host/lower/model.h"
#include "sim/footprint.h"
#include "sim/layout.h"
#include "tests/lower_fixture.h"

static const TensorUse *find_use(const ComputeSet *cs, int tensor)
{
    size_t lo = 0, hi = cs->nuses;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cs->uses[mid].tensor < tensor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < cs->nuses && cs->uses[lo].tensor == tensor ? &cs->uses[lo] : NULL;
}

/* Names the first vertex of cs with a word pointing into tensor t, and the
 * word (so a false positive of the conservative scan can be told apart). */
static void fail_undeclared(const Graph *g, const ComputeSet *cs, size_t t, const char *what)
{
    const Tensor *x = &g->tensors[t];
    uintptr_t lo = (uintptr_t)x->data, hi = lo + x->elems * graph_dtype_bytes(x->dtype);
    for (size_t v = 0; v < cs->count; v++)
        for (size_t off = 0; off + sizeof(uintptr_t) <= cs->v[v].type->args_bytes; off += sizeof(uintptr_t)) {
            uintptr_t p;
            memcpy(&p, (const char *)cs->v[v].args + off, sizeof p);
            if (p >= lo && p <= hi)
                fail_msg("%s: compute set '%s' points into tensor '%s' but does not declare it (vertex %zu '%s', "
                         "args byte %zu: %#llx)", what, cs->name, x->name, v, cs->v[v].type->name, off,
                         (unsigned long long)p);
        }
    fail_msg("%s: compute set '%s': tensor '%s' in the footprint but no word found", what, cs->name, x->name);
}

/* Functional graph: footprint == declared tensors, per compute set.
 * Returns the number of (set, tensor) pairs checked. */
static size_t check_footprints(const Graph *g, const char *what)
{
    uint8_t *touched = malloc(g->ntensors ? g->ntensors : 1);
    assert_non_null(touched);
    size_t pairs = 0;
    for (size_t i = 0; i < g->ncs; i++) {
        const ComputeSet *cs = &g->cs[i];
        assert_int_equal(footprint_compute_set(g, cs, touched), 0);
        for (size_t t = 0; t < g->ntensors; t++)
            if (touched[t] && !find_use(cs, (int)t))
                fail_undeclared(g, cs, t, what);
        for (size_t u = 0; u < cs->nuses; u++) {
            if (!touched[cs->uses[u].tensor])
                fail_msg("%s: compute set '%s' declares tensor '%s' but no vertex points into it", what, cs->name,
                         g->tensors[cs->uses[u].tensor].name);
            pairs++;
        }
    }
    free(touched);
    return pairs;
}

/* Timing graph tm vs functional graph fn of the same lowering: the same
 * compute sets and tensors; tm's uses are fn's uses of chip 0's tensors. */
static void check_timing_uses(const Graph *tm, const Graph *fn, const char *what)
{
    assert_int_equal(tm->ncs, fn->ncs);
    assert_int_equal(tm->ntensors, fn->ntensors);
    for (size_t i = 0; i < fn->ncs; i++) {
        const ComputeSet *ct = &tm->cs[i], *cf = &fn->cs[i];
        assert_string_equal(ct->name, cf->name);
        size_t k = 0;
        for (size_t u = 0; u < cf->nuses; u++) {
            uint32_t chip = 1;
            if (!graph_tensor_chip(fn, &fn->tensors[cf->uses[u].tensor], &chip) || chip != 0)
                continue;
            if (k >= ct->nuses || ct->uses[k].tensor != cf->uses[u].tensor || ct->uses[k].access != cf->uses[u].access)
                fail_msg("%s: compute set '%s': timing mode's declaration of tensor '%s' differs from functional "
                         "mode's", what, cf->name, fn->tensors[cf->uses[u].tensor].name);
            k++;
        }
        if (k != ct->nuses)
            fail_msg("%s: compute set '%s': timing mode declares %zu tensors, functional mode %zu of chip 0", what,
                     cf->name, ct->nuses, k);
    }
}

typedef struct Case {
    const char *model, *fmt;
    uint32_t chips;
    int kv;
    uint32_t batch;
    Placement pl;
    uint32_t tiles, workers; /* tiles 0: the preset's */
    int overlap;             /* stream: two weight buffer sets (and 8 I/O tiles) */
    Scheme scheme;
} Case;

static void case_name(const Case *k, char *buf, size_t n)
{
    snprintf(buf, n, "%s %s chips %u kv %d batch %u %s tiles %u workers %u%s", k->model, k->fmt, k->chips, k->kv,
             k->batch, k->pl != PLACE_STREAM ? "resident" : k->overlap ? "stream+overlap" : "stream", k->tiles,
             k->workers, k->scheme == SCHEME_GRAPHCORE ? " scheme graphcore" : "");
}

/* Lowers k in both modes and checks the declarations; returns the pairs checked. */
static size_t check_case(const Case *k, int *split_ln, int *whole_ln)
{
    IpuErr e;
    IpuArch a;
    lf_arch(&a, k->tiles, k->workers, k->overlap);
    RunOptions o;
    lf_opts(&o, k->model, k->fmt, k->chips, k->kv, k->batch, k->pl);
    o.overlap = k->overlap;
    o.scheme = k->scheme;
    char what[160];
    case_name(k, what, sizeof what);
    GptjWeights w;
    if (gptj_weights_synth(&w, &o.cfg, GPTJ_F16, 5, &e))
        fail_msg("%s", e.msg);
    Lowered *fn, *tm;
    if (lower_gptj(&a, &o, &w, &fn, &e) || lower_gptj(&a, &o, NULL, &tm, &e))
        fail_msg("%s: %s", what, e.msg);
    assert_int_equal(lower_placement(fn), k->pl);
    for (int i = 0; i < fn->nsg; i++) {
        *split_ln += fn->sg[i].split_ln1 + fn->sg[i].split_lnf;
        *whole_ln += !fn->sg[i].split_ln1 + !fn->sg[i].split_lnf;
    }
    size_t pairs = check_footprints(lower_graph(fn), what);
    check_timing_uses(lower_graph(tm), lower_graph(fn), what);
    lower_destroy(fn);
    lower_destroy(tm);
    gptj_weights_free(&w);
    return pairs;
}

static void test_declared_uses_micro(void **s)
{
    (void)s;
    static const char *const fmts[] = {"f16", "q4g:16"};
    static const uint32_t chips[] = {1, 2, 4};
    int split_ln = 0, whole_ln = 0;
    size_t pairs = 0;
    for (int f = 0; f < 2; f++)
        for (int c = 0; c < 3; c++)
            for (int kv = 0; kv < 2; kv++)
                for (int st = 0; st < 2; st++) {
                    Case k = {"gptj-micro", fmts[f], chips[c], kv, kv ? 2u : 1u, st ? PLACE_STREAM : PLACE_RESIDENT,
                              96, 6, 0, SCHEME_IPUSIM};
                    pairs += check_case(&k, &split_ln, &whole_ln);
                }
    /* few tiles: more rows than tiles, so LayerNorm keeps whole rows */
    Case few[] = {{"gptj-micro", "f16", 1, 0, 2, PLACE_RESIDENT, 12, 6, 0, SCHEME_IPUSIM},
                  {"gptj-micro", "q4g:16", 2, 1, 4, PLACE_STREAM, 12, 6, 0, SCHEME_IPUSIM}};
    for (int i = 0; i < 2; i++)
        pairs += check_case(&few[i], &split_ln, &whole_ln);
    /* overlapped streaming: two weight buffer sets sharing the activation buffers */
    Case ov[] = {{"gptj-micro", "q4g:16", 2, 1, 2, PLACE_STREAM, 96, 6, 1, SCHEME_IPUSIM},
                 {"gptj-micro", "f16", 2, 0, 2, PLACE_STREAM, 96, 6, 1, SCHEME_IPUSIM}};
    for (int i = 0; i < 2; i++)
        pairs += check_case(&ov[i], &split_ln, &whole_ln);
    /* Graphcore's pipeline: load layout, unpack, broadcast ops, rearrangement */
    Case gc[] = {{"gptj-micro", "q4g:16", 2, 0, 2, PLACE_STREAM, 96, 6, 0, SCHEME_GRAPHCORE},
                 {"gptj-micro", "q4g:32", 1, 1, 1, PLACE_RESIDENT, 96, 6, 0, SCHEME_GRAPHCORE}};
    for (int i = 0; i < 2; i++)
        pairs += check_case(&gc[i], &split_ln, &whole_ln);
    /* both LayerNorm paths were covered */
    assert_true(split_ln > 0 && whole_ln > 0);
    assert_true(pairs > 1000);
}

static void test_declared_uses_tiny(void **s)
{
    (void)s;
    int split_ln = 0, whole_ln = 0;
    Case k = {"gptj-tiny", "q4g:16", 2, 1, 1, PLACE_STREAM, 0, 6, 0, SCHEME_IPUSIM};
    assert_true(check_case(&k, &split_ln, &whole_ln) > 0);
}

/* ---- poisoning: access modes and always-live, run by run ---- */

/* Garbage: every byte 0xff (fp16 and fp32 NaN, int -1). */
static void poison(Graph *g, int id)
{
    const Tensor *t = graph_tensor(g, id);
    memset(t->data, 0xff, t->elems * graph_dtype_bytes(t->dtype));
}

/* The leaf steps under step in execution order. */
static void leaves(const Program *p, int step, int **out, size_t *n, size_t *cap)
{
    const Step *s = &p->steps[step];
    if (s->kind == STEP_SEQUENCE) {
        for (size_t i = 0; i < s->nchildren; i++)
            leaves(p, s->children[i], out, n, cap);
        return;
    }
    if (s->kind == STEP_REPEAT) {
        for (uint64_t i = 0; i < s->times; i++)
            leaves(p, s->body, out, n, cap);
        return;
    }
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 1024;
        *out = realloc(*out, *cap * sizeof **out);
        assert_non_null(*out);
    }
    (*out)[(*n)++] = step;
}

/* One program run, leaf by leaf. poisoned: before each Execute the set's
 * write-only tensors get garbage, and its read-only tensors must come out
 * unchanged. Poisoned runs have the engine poison dead values too, which
 * runs compute sets one by one (engine_set_poison): each engine_step is the
 * leaf we expect. */
static void run_program(Lowered *L, Engine *en, int decode, int poisoned, const char *what)
{
    IpuErr e;
    Graph *g = lower_graph(L);
    const Program *p = lower_program(L);
    if (engine_start(en, p, -1, &e))
        fail_msg("%s: %s", what, e.msg);
    int *leaf = NULL;
    size_t n = 0, cap = 0;
    leaves(p, program_root(p, &e), &leaf, &n, &cap);
    uint8_t **before = calloc(g->ntensors, sizeof *before), *dies = calloc(g->ntensors, 1);
    assert_true(before && dies);
    /* the layout's positions of this root's leaves: the engine poisons a value where it dies */
    int r = layout_root_index(g->layout, program_root(p, &e));
    assert_true(r >= 0);
    size_t pos0 = layout_root_pos(g->layout, (size_t)r);
    for (size_t i = 0; i < n; i++) {
        const Step *st = &p->steps[leaf[i]];
        const ComputeSet *cs = st->kind == STEP_EXECUTE ? graph_compute_set(g, st->cs) : NULL;
        for (size_t u = 0; poisoned && cs && u < cs->nuses; u++) {
            const Tensor *t = graph_tensor(g, cs->uses[u].tensor);
            size_t bytes = t->elems * graph_dtype_bytes(t->dtype);
            if (cs->uses[u].access == ACCESS_WRITE)
                poison(g, cs->uses[u].tensor);
            else if (cs->uses[u].access == ACCESS_READ && (before[cs->uses[u].tensor] = malloc(bytes)))
                memcpy(before[cs->uses[u].tensor], t->data, bytes);
        }
        EngineStepInfo info;
        if (engine_step(en, &info, &e) != 1)
            fail_msg("%s: step %zu: %s", what, i, e.msg);
        assert_int_equal(info.step, leaf[i]);
        const int *dead;
        size_t nd = layout_deaths(g->layout, pos0 + i, &dead);
        for (size_t d = 0; d < nd; d++)
            dies[dead[d]] = 1;
        for (size_t u = 0; poisoned && cs && u < cs->nuses; u++) {
            int id = cs->uses[u].tensor;
            const Tensor *t = graph_tensor(g, id);
            if (before[id] && !dies[id] && memcmp(before[id], t->data, t->elems * graph_dtype_bytes(t->dtype)))
                fail_msg("%s: compute set '%s' declares tensor '%s' read-only but changes it", what, cs->name, t->name);
            free(before[id]);
            before[id] = NULL;
        }
        for (size_t d = 0; d < nd; d++)
            dies[dead[d]] = 0;
    }
    EngineStepInfo info;
    assert_int_equal(engine_step(en, &info, &e), 0);
    free(before), free(dies);
    free(leaf);
}

/* Prefill and LF_GEN - 1 decode steps (tokens: the clean run's, so both runs
 * see the same ids); logits of every step into logits (LF_GEN, batch, V).
 * poisoned: also every tensor that is not always-live gets garbage after
 * each run (it has no value the next run may read). */
static void run_steps(const Case *k, int poisoned, uint32_t *tokens, float *logits)
{
    IpuErr e;
    IpuArch a;
    lf_arch(&a, k->tiles, k->workers, k->overlap);
    RunOptions o;
    lf_opts(&o, k->model, k->fmt, k->chips, k->kv, k->batch, k->pl);
    o.overlap = k->overlap;
    o.scheme = k->scheme;
    char what[200];
    case_name(k, what, sizeof what);
    strncat(what, poisoned ? " poisoned" : " clean", sizeof what - strlen(what) - 1);
    GptjWeights w;
    Lowered *L;
    Engine *en;
    if (gptj_weights_synth(&w, &o.cfg, GPTJ_F16, 5, &e) || lower_gptj(&a, &o, &w, &L, &e) ||
        !(en = engine_create(lower_graph(L), &e)))
        fail_msg("%s: %s", what, e.msg);
    /* the poisoned run also has the engine poison every value where the
     * layout says it dies, and so runs compute sets one by one (no fused
     * pairs): each engine_step is the leaf run_program expects */
    engine_set_poison(en, poisoned);
    /* run_program compares host buffers around each step: a stream left in
     * its remote buffer (zero-copy) would show them stale mid-run. Dead
     * writes are skipped (and their tensors watched) as in a real run. */
    engine_set_fast(en, ENGINE_FAST_ALL & ~ENGINE_FAST_ZERO_COPY);
    engine_set_fusions(en, q4mm_fusions, q4mm_fusion_count);
    Graph *g = lower_graph(L);
    uint32_t B = k->batch, V = (uint32_t)o.cfg.vocab_size, prompt[4 * LF_PROMPT];
    for (uint32_t i = 0; i < B * LF_PROMPT; i++)
        prompt[i] = (i * 89 + 7) % V;
    for (int step = 0; step < LF_GEN; step++) {
        if (poisoned)
            for (size_t t = 0; t < g->ntensors; t++)
                if (!g->tensors[t].always_live)
                    poison(g, (int)t);
        int rc = step ? lower_prepare_decode(L, LF_PROMPT + step - 1, tokens + (step - 1) * B, &e)
                      : lower_prepare_prefill(L, prompt, &e);
        if (rc)
            fail_msg("%s: %s", what, e.msg);
        run_program(L, en, step > 0, poisoned, what);
        float *lg = logits + (size_t)step * B * V;
        if (lower_read_logits(L, step > 0, lg, &e))
            fail_msg("%s: %s", what, e.msg);
        if (!poisoned && lower_read_tokens(L, step > 0, tokens + step * B, &e))
            fail_msg("%s: %s", what, e.msg);
    }
    engine_destroy(en);
    lower_destroy(L);
    gptj_weights_free(&w);
}

static void check_poison(const Case *k)
{
    uint32_t V = 512, n = LF_GEN * k->batch * V; /* gptj-micro's vocabulary */
    uint32_t tokens[LF_GEN * 4];
    float *clean = malloc(n * sizeof *clean), *dirty = malloc(n * sizeof *dirty);
    assert_true(clean && dirty);
    run_steps(k, 0, tokens, clean);
    run_steps(k, 1, tokens, dirty);
    char what[160];
    case_name(k, what, sizeof what);
    for (uint32_t i = 0; i < n; i++)
        if (memcmp(&clean[i], &dirty[i], sizeof *clean))
            fail_msg("%s: step %u sequence %u logit %u: %g clean, %g poisoned", what, i / (k->batch * V),
                     i / V % k->batch, i % V, clean[i], dirty[i]);
    free(clean), free(dirty);
}

static void test_poison_kv(void **s)
{
    (void)s;
    Case ks[] = {{"gptj-micro", "f16", 1, 1, 1, PLACE_RESIDENT, 96, 6, 0, SCHEME_IPUSIM},
                 {"gptj-micro", "q4g:16", 2, 1, 2, PLACE_STREAM, 96, 6, 1, SCHEME_IPUSIM},
                 {"gptj-micro", "q4g:16", 2, 1, 4, PLACE_STREAM, 12, 6, 0, SCHEME_IPUSIM}};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        check_poison(&ks[i]);
}

static void test_poison_nokv(void **s)
{
    (void)s;
    Case ks[] = {{"gptj-micro", "q4g:16", 2, 0, 1, PLACE_RESIDENT, 96, 6, 0, SCHEME_IPUSIM},
                 {"gptj-micro", "f16", 4, 0, 2, PLACE_STREAM, 96, 6, 0, SCHEME_IPUSIM},
                 {"gptj-micro", "f16", 1, 0, 2, PLACE_RESIDENT, 12, 6, 0, SCHEME_IPUSIM},
                 {"gptj-micro", "q4g:32", 2, 0, 2, PLACE_STREAM, 96, 6, 0, SCHEME_GRAPHCORE}};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        check_poison(&ks[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declared_uses_micro),
        cmocka_unit_test(test_declared_uses_tiny),
        cmocka_unit_test(test_poison_kv),
        cmocka_unit_test(test_poison_nokv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
