/* test_eval_text.c - models/eval_text: strided windows worked by hand, a
 * hand-computed perplexity over overlapping windows, one window == the
 * whole-model eval_perplexity / eval_compare, resume == uninterrupted,
 * states from another run refused naming the difference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "models/eval_text.h"
#include "models/gptj_forward.h"
#include "tests/testutil.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_eval_text_");
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

static void test_windows(void **state)
{
    (void)state;
    /* T 10, N 4, S 2: [0,4) targets 1..3, [2,6) 4..5, [4,8) 6..7, [6,10) 8..9 */
    const int want2[4][3] = {{0, 4, 1}, {2, 6, 4}, {4, 8, 6}, {6, 10, 8}};
    assert_int_equal(eval_text_count(10, 4, 2), 4);
    for (int k = 0; k < 4; k++) {
        int b, e, f;
        eval_text_window(10, 4, 2, k, &b, &e, &f);
        assert_int_equal(b, want2[k][0]), assert_int_equal(e, want2[k][1]), assert_int_equal(f, want2[k][2]);
    }
    /* S = N: disjoint, the first token of each window is context only: [0,4) 1..3, [4,8) 5..7, [8,10) 9 */
    const int want4[3][3] = {{0, 4, 1}, {4, 8, 5}, {8, 10, 9}};
    assert_int_equal(eval_text_count(10, 4, 4), 3);
    for (int k = 0; k < 3; k++) {
        int b, e, f;
        eval_text_window(10, 4, 4, k, &b, &e, &f);
        assert_int_equal(b, want4[k][0]), assert_int_equal(e, want4[k][1]), assert_int_equal(f, want4[k][2]);
    }
    assert_int_equal(eval_text_count(10, 16, 16), 1);
    assert_int_equal(eval_text_count(10, 4, 5), 0); /* a stride past the window skips tokens */
    assert_int_equal(eval_text_count(1, 4, 4), 0);
}

/* A fake source over V = 4: at window position j the logit of (token + 1) % 4 is j, the others 0. */
static int fake_logits(void *ctx, const int *tok, int P, float *const *logits, IpuErr *e)
{
    (void)ctx, (void)e;
    for (int f = 0; f < 2; f++)
        for (int j = 0; j < P; j++)
            for (int v = 0; v < 4; v++)
                logits[f][j * 4 + v] = (v == (tok[j] + 1) % 4 ? (float)j : 0.0f) + (f ? 0.5f * (float)(v == 0) : 0.0f);
    return 0;
}

/* tokens 0 1 2 0 1 3 (V 4), window 4, stride 2, formats fp16 (the reference) and q4g:64. */
static const int fake_tok[6] = {0, 1, 2, 0, 1, 3};

static void fake_init(EvalText *t)
{
    QuantSpec sp[2];
    IpuErr e;
    assert_int_equal(quant_spec_parse("fp16", &sp[0], &e), 0);
    assert_int_equal(quant_spec_parse("q4g:64", &sp[1], &e), 0);
    assert_int_equal(eval_text_init(t, fake_tok, 6, 4, 2, sp, 2, 0, 4, "fake", &e), 0);
}

/* fake_logits with an Inf at window position 2, token 3, of the second format. */
static int inf_logits(void *ctx, const int *tok, int P, float *const *logits, IpuErr *e)
{
    fake_logits(ctx, tok, P, logits, e);
    if (P > 2)
        logits[1][2 * 4 + 3] = INFINITY;
    return 0;
}

/* A non-finite logit fails the window naming the format and position, and
 * adds nothing (a NaN sum would show a KL of 0 and no state could keep it). */
static void test_non_finite_refused(void **state)
{
    (void)state;
    EvalText t;
    IpuErr e;
    fake_init(&t);
    EvalSource src = {inf_logits, NULL};
    assert_int_equal(eval_text_step(&t, &src, &e), -1);
    assert_non_null(strstr(e.msg, "format q4g:64 gives a non-finite logit (inf) at position 2, token 3"));
    assert_int_equal(t.next, 0);
    assert_int_equal(t.sums[0].positions, 0);
    eval_text_free(&t);
}

static void test_hand_computed(void **state)
{
    (void)state;
    /* tokens 0 1 2 0 1 3, N 4, S 2: window [0,4) scores targets 1, 2, 3 from
     * positions 0, 1, 2 of the window; [2,6) targets 4, 5 from its positions 1, 2. */
    EvalText t;
    IpuErr e;
    fake_init(&t);
    EvalSource src = {fake_logits, NULL};
    while (t.next < t.nwindows)
        assert_int_equal(eval_text_step(&t, &src, &e), 0);
    /* p(hit at j) = e^j / (e^j + 3), p(miss at j) = 1 / (e^j + 3) */
    double hit[3], miss[3];
    for (int j = 0; j < 3; j++)
        hit[j] = exp(j) / (exp(j) + 3), miss[j] = 1 / (exp(j) + 3);
    /* target 1 (0 -> 1, j 0) hit; 2 (1 -> 2, j 1) hit; 3 (2 -> 3 wanted, 0 came, j 2) miss;
     * target 4 (0 -> 1, window 2 j 1) hit; 5 (1 -> 2 wanted, 3 came, j 2) miss */
    double nll = -(log(hit[0]) + log(hit[1]) + log(miss[2]) + log(hit[1]) + log(miss[2]));
    EvalResult r;
    eval_text_result(&t, 0, &r);
    assert_int_equal(r.targets, 5);
    if (fabs(r.perplexity - exp(nll / 5)) > 1e-12 * exp(nll / 5))
        fail_msg("perplexity %.17g, by hand %.17g", r.perplexity, exp(nll / 5));
    assert_true(r.mean_kl == 0 && r.top1_agree == 1 && r.max_logit_diff == 0);
    eval_text_result(&t, 1, &r);
    assert_true(r.mean_kl > 0 && fabs(r.max_logit_diff - 0.5) < 1e-12);
    eval_text_free(&t);
}

/* micro, synthetic weights, two formats through the layer-by-layer source. */
typedef struct Micro {
    GptjWeights w;
    QuantSpec sp[2];
    EvalLayers h;
    EvalSource src;
    int tok[40];
} Micro;

static void micro_init(Micro *m, int max_p)
{
    GptjConfig c;
    IpuErr e;
    assert_int_equal(gptj_config_preset(&c, "gptj-micro", &e), 0);
    assert_int_equal(gptj_weights_synth_lazy(&m->w, &c, GPTJ_F32, 2, &e), 0);
    assert_int_equal(quant_spec_parse("fp16", &m->sp[0], &e), 0);
    assert_int_equal(quant_spec_parse("q4g:16", &m->sp[1], &e), 0);
    assert_int_equal(eval_layers_init(&m->h, &m->w, m->sp, 2, max_p, &e), 0);
    m->src = (EvalSource){eval_layers_source, &m->h};
    for (int i = 0; i < 40; i++)
        m->tok[i] = (i * 53 + 11) % c.vocab_size;
}

static void micro_free(Micro *m)
{
    eval_layers_free(&m->h);
    gptj_weights_free(&m->w);
}

static void test_one_window_is_whole_model(void **state)
{
    (void)state;
    Micro m;
    IpuErr e;
    int T = 20, V;
    micro_init(&m, T);
    V = m.w.cfg.vocab_size;
    EvalText t;
    assert_int_equal(eval_text_init(&t, m.tok, T, 64, 64, m.sp, 2, 0, V, "micro", &e), 0);
    assert_int_equal(t.nwindows, 1);
    assert_int_equal(eval_text_step(&t, &m.src, &e), 0);
    GptjWeights stored, q[2];
    assert_int_equal(gptj_weights_synth(&stored, &m.w.cfg, GPTJ_F32, 2, &e), 0);
    float *lg[2];
    for (int f = 0; f < 2; f++) {
        QuantPolicy p;
        GptjState st;
        eval_policy(&p, &m.sp[f]);
        assert_int_equal(eval_quantize_weights(&q[f], &stored, &p, GPTJ_F32, &e), 0);
        assert_int_equal(gptj_state_init(&st, &q[f], 1, T, &e), 0);
        lg[f] = malloc((size_t)T * V * sizeof(float));
        assert_int_equal(gptj_forward(&st, m.tok, T, lg[f], 0, &e), 0);
        gptj_state_free(&st);
        gptj_weights_free(&q[f]);
    }
    EvalResult r;
    EvalCompare c;
    eval_compare(&c, lg[0], lg[1], T - 1, V); /* the positions that predict a token */
    eval_text_result(&t, 1, &r);
    assert_true(r.perplexity == eval_perplexity(lg[1], m.tok, T, V));
    assert_true(r.mean_kl == c.mean_kl && r.top1_agree == c.top1_agree && r.max_logit_diff == c.max_logit_diff);
    eval_text_result(&t, 0, &r);
    assert_true(r.perplexity == eval_perplexity(lg[0], m.tok, T, V));
    free(lg[0]), free(lg[1]);
    gptj_weights_free(&stored);
    eval_text_free(&t);
    micro_free(&m);
}

static void test_resume(void **state)
{
    (void)state;
    Micro m;
    IpuErr e;
    micro_init(&m, 12);
    int V = m.w.cfg.vocab_size;
    char path[400];
    snprintf(path, sizeof path, "%s/state", tmpdir);
    EvalText whole, a, b;
    assert_int_equal(eval_text_init(&whole, m.tok, 40, 12, 5, m.sp, 2, 0, V, "micro seed 2", &e), 0);
    while (whole.next < whole.nwindows)
        assert_int_equal(eval_text_step(&whole, &m.src, &e), 0);
    assert_int_equal(eval_text_init(&a, m.tok, 40, 12, 5, m.sp, 2, 0, V, "micro seed 2", &e), 0);
    for (int k = 0; k < 3; k++)
        assert_int_equal(eval_text_step(&a, &m.src, &e), 0);
    assert_int_equal(eval_text_save(&a, path, &e), 0);
    assert_int_equal(eval_text_init(&b, m.tok, 40, 12, 5, m.sp, 2, 0, V, "micro seed 2", &e), 0);
    assert_int_equal(eval_text_load(&b, path, &e), 0);
    assert_int_equal(b.next, 3);
    while (b.next < b.nwindows)
        assert_int_equal(eval_text_step(&b, &m.src, &e), 0);
    assert_memory_equal(whole.sums, b.sums, sizeof whole.sums);
    assert_true(whole.sums[1].kl > 0);
    eval_text_free(&whole), eval_text_free(&a), eval_text_free(&b);

    /* another window, stride, text, weights or format list: refused, naming it */
    struct { int T, N, S; const char *w; int nf; const char *want; } bad[] = {
        {40, 10, 5, "micro seed 2", 2, "the window was '12', this run has '10'"},
        {40, 12, 4, "micro seed 2", 2, "the stride was '5', this run has '4'"},
        {39, 12, 5, "micro seed 2", 2, "the text (token count and hash) was '40 "},
        {40, 12, 5, "micro seed 3", 2, "the weights was 'micro seed 2', this run has 'micro seed 3'"},
        {40, 12, 5, "micro seed 2", 1, "the format list was 'fp16,q4g:16', this run has 'fp16'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rv = eval_text_init(&b, m.tok, bad[i].T, bad[i].N, bad[i].S, m.sp, bad[i].nf, 0, V, bad[i].w, &e);
        assert_int_equal(rv, 0);
        assert_int_equal(eval_text_load(&b, path, &e), -1);
        if (!strstr(e.msg, bad[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, bad[i].want);
        eval_text_free(&b);
    }
    /* not a state, a missing file, a malformed sums line */
    assert_int_equal(eval_text_init(&b, m.tok, 40, 12, 5, m.sp, 2, 0, V, "micro seed 2", &e), 0);
    char other[400];
    snprintf(other, sizeof other, "%s/other", tmpdir);
    assert_int_equal(fileio_write(other, "hello\n", 6, &e), 0);
    assert_int_equal(eval_text_load(&b, other, &e), -1);
    assert_non_null(strstr(e.msg, "not an eval state"));
    snprintf(other, sizeof other, "%s/missing", tmpdir);
    assert_int_equal(eval_text_load(&b, other, &e), -1);
    assert_non_null(strstr(e.msg, "missing"));
    char *text;
    size_t len;
    assert_int_equal(fileio_read(path, "state", 1 << 16, &text, &len, &e), 0);
    char *s = strstr(text, "sums 1 ");
    s[7] = 'x';
    assert_int_equal(fileio_write(path, text, len, &e), 0);
    free(text);
    assert_int_equal(eval_text_load(&b, path, &e), -1);
    assert_non_null(strstr(e.msg, "'sums' line is malformed"));
    /* a negative count would wrap to a huge one: refused */
    assert_int_equal(fileio_read(path, "state", 1 << 16, &text, &len, &e), 0);
    s = strstr(text, "sums 1 ");
    memcpy(s + 7, "-1", 2);
    assert_int_equal(fileio_write(path, text, len, &e), 0);
    free(text);
    assert_int_equal(eval_text_load(&b, path, &e), -1);
    assert_non_null(strstr(e.msg, "'sums' line is malformed"));
    eval_text_free(&b);
    micro_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_non_finite_refused),
        cmocka_unit_test(test_one_window_is_whole_model),
        cmocka_unit_test(test_resume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
