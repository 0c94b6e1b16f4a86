/* e2e_native.c - GPT-J end to end with the functional fast path: gptj-tiny
 * on 1 and 2 chips, q4g:64 and fp16 weights, KV cache on, gives the same
 * logits (bit for bit) and the same cycles at every step with native
 * codelets (functional = fast) and with the timed intrinsics (timed), at 1
 * and 2 OpenMP threads; the run key `functional`; and `ipusim bench
 * functional` runs on gptj-micro. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/q4mm.h"
#include "host/gptj_step.h"
#include "host/lower/lower.h"
#include "host/runcfg.h"
#include "testutil.h"

enum { PROMPT = 3, DECODE = 1, STEPS = DECODE + 1 };

typedef struct Record {
    uint64_t cycles[STEPS];
    float *logits; /* (STEPS, vocab) */
    uint64_t skipped, in_place; /* the fast paths taken: Executes that skipped dead writes, bytes streamed in place */
} Record;

static Lowered *lower_tiny(const GptjWeights *w, const char *fmt, uint32_t chips)
{
    IpuErr e = {{0}};
    IpuArch a;
    if (arch_preset("pod4", &a, &e) || arch_set(&a, "tiles_per_chip", "256", &e))
        fail_msg("%s", e.msg);
    RunOptions o;
    memset(&o, 0, sizeof o);
    o.cfg = w->cfg;
    if (quant_spec_parse(fmt, &o.weights, &e))
        fail_msg("%s", e.msg);
    quant_policy_graphcore(&o.policy, &o.weights);
    o.placement = PLACE_STREAM, o.kv_cache = 1, o.partials = LAYER_F16;
    o.chips = chips, o.batch = 1, o.prompt_len = PROMPT, o.gen_tokens = STEPS;
    Lowered *L = NULL;
    if (lower_gptj(&a, &o, w, &L, &e))
        fail_msg("%s", e.msg);
    return L;
}

/* Prefill then DECODE greedy decode steps on a fresh engine, recording each
 * step's cycles and logits. Every run writes the same KV cache positions,
 * so runs on one lowering are independent. */
static void run_steps(Lowered *L, uint32_t V, int native, Record *t)
{
    IpuErr e = {{0}};
    Engine *en = engine_create(lower_graph(L), &e);
    assert_non_null(en);
    engine_set_native(en, native);
    engine_set_fusions(en, q4mm_fusions, q4mm_fusion_count);
    uint32_t prompt[PROMPT], tok = 0;
    for (int i = 0; i < PROMPT; i++)
        prompt[i] = (uint32_t)(i * 997 + 3) % V;
    int last_root = -1;
    StepResult sr;
    for (int k = 0; k < STEPS; k++) {
        int rc = k == 0 ? lower_prepare_prefill(L, prompt, &e) : lower_prepare_decode(L, PROMPT + k - 1, &tok, &e);
        if (rc || gptj_run_step(en, L, k > 0, &last_root, 0, &sr, &e) ||
            lower_read_logits(L, k > 0, t->logits + (size_t)k * V, &e) || lower_read_tokens(L, k > 0, &tok, &e))
            fail_msg("%s", e.msg);
        t->cycles[k] = sr.cycles;
    }
    t->skipped = engine_stats(en)->executes_skipped;
    t->in_place = engine_stats(en)->bytes_stream_in_place;
    engine_destroy(en);
}

static void test_tiny_fast_equals_timed(void **s)
{
    (void)s;
    IpuErr e = {{0}};
    GptjConfig cfg;
    GptjWeights w;
    if (gptj_config_preset(&cfg, "gptj-tiny", &e) || gptj_weights_synth(&w, &cfg, GPTJ_F16, 5, &e))
        fail_msg("%s", e.msg);
    uint32_t V = (uint32_t)cfg.vocab_size;
    size_t n = (size_t)STEPS * V;
    static const char *const fmts[] = {"q4g:64", "f16"};
    for (uint32_t chips = 1; chips <= 2; chips++)
        for (int f = 0; f < 2; f++) {
            Lowered *L = lower_tiny(&w, fmts[f], chips);
            Record ref = {{0}, malloc(n * sizeof(float)), 0, 0}, got = {{0}, malloc(n * sizeof(float)), 0, 0};
            assert_true(ref.logits && got.logits);
            omp_set_num_threads(1);
            run_steps(L, V, 0, &ref);
            /* fast at 1 and 2 threads (timed at 2 threads is test_engine's and test_native's) */
            static const int runs[][2] = {{1, 1}, {2, 1}};
            for (int r = 0; r < 2; r++) {
                int threads = runs[r][0], native = runs[r][1];
                omp_set_num_threads(threads);
                run_steps(L, V, native, &got);
                for (int k = 0; k < STEPS; k++)
                    if (got.cycles[k] != ref.cycles[k])
                        fail_msg("%s %u chips %d threads native %d step %d: %llu cycles, timed %llu", fmts[f], chips,
                                 threads, native, k, (unsigned long long)got.cycles[k],
                                 (unsigned long long)ref.cycles[k]);
                /* the fast run took the dead-write and zero-copy paths (int4: decompress + matmul fused) */
                assert_true(got.in_place > 0);
                assert_true(f == 1 || got.skipped > 0);
                assert_int_equal(ref.skipped + ref.in_place, 0);
                if (memcmp(got.logits, ref.logits, n * sizeof(float)))
                    fail_msg("%s %u chips %d threads native %d: logits differ from the timed path", fmts[f], chips,
                             threads, native);
            }
            free(ref.logits), free(got.logits);
            lower_destroy(L);
        }
    gptj_weights_free(&w);
    omp_set_num_threads(2);
}

/* The bench runs on a small config and prints its figures. */
static void test_bench_functional_micro(void **s)
{
    (void)s;
    char out[8192];
    int rc = tu_ipusim(NULL,
                       "bench functional --config gptj-micro --arch pod4 --set arch.tiles_per_chip=64 --set chips=1 "
                       "--steps 2 --timed-steps 1 --threads 2",
                       1, out, sizeof out);
    if (rc)
        fail_msg("exit %d: %s", rc, out);
    assert_non_null(strstr(out, "mean decode step, fast"));
    assert_non_null(strstr(out, "mean decode step, timed"));
    assert_non_null(strstr(out, "peak RSS"));
}

/* The run key: fast by default, timed on request, anything else an error naming the choices. */
static void test_run_key_functional(void **s)
{
    (void)s;
    static RunConfig rc;
    IpuErr e = {{0}};
    RunOptions o;
    runcfg_init(&rc);
    if (runcfg_set_kv(&rc, "model=gptj-micro", "test", &e) || runcfg_set_kv(&rc, "prompt_len=8", "test", &e) ||
        runcfg_finish(&rc, &e) || runcfg_options(&rc, 0, &o, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(o.functional_timed, 0);
    if (runcfg_set_kv(&rc, "functional=timed", "test", &e) || runcfg_finish(&rc, &e) || runcfg_options(&rc, 0, &o, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(o.functional_timed, 1);
    assert_int_equal(runcfg_set_kv(&rc, "functional=slow", "test", &e), -1);
    assert_non_null(strstr(e.msg, "fast|timed"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_key_functional),
        cmocka_unit_test(test_tiny_fast_equals_timed),
        cmocka_unit_test(test_bench_functional_micro),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
