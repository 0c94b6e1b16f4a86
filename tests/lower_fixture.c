/* lower_fixture.c - the GPT-J lowering tests' shared setup and checks (lower_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/q4mm.h"
#include "host/report.h"
#include "models/eval.h"
#include "tests/lower_fixture.h"

void lf_arch(IpuArch *a, uint32_t tiles, uint32_t workers, int overlap)
{
    IpuErr e;
    char v[16];
    if (arch_preset("pod4", a, &e))
        fail_msg("%s", e.msg);
    if (tiles) {
        snprintf(v, sizeof v, "%u", tiles);
        if (arch_set(a, "tiles_per_chip", v, &e))
            fail_msg("%s", e.msg);
    }
    if (workers) {
        snprintf(v, sizeof v, "%u", workers);
        if (arch_set(a, "workers_per_tile", v, &e))
            fail_msg("%s", e.msg);
    }
    if (overlap && arch_set(a, "stream.io_tiles", "8", &e))
        fail_msg("%s", e.msg);
}

void lf_opts(RunOptions *o, const char *model, const char *fmt, uint32_t chips, int kv, uint32_t batch, Placement pl)
{
    IpuErr e;
    memset(o, 0, sizeof *o);
    if (gptj_config_preset(&o->cfg, model, &e) || quant_spec_parse(fmt, &o->weights, &e))
        fail_msg("%s", e.msg);
    quant_policy_graphcore(&o->policy, &o->weights);
    o->placement = pl;
    o->kv_cache = kv;
    o->partials = LAYER_F32;
    o->chips = chips;
    o->batch = batch;
    o->prompt_len = LF_PROMPT;
    o->gen_tokens = LF_GEN;
}

void lf_ref_weights(const RunOptions *o, const GptjWeights *w, GptjWeights *r)
{
    IpuErr e;
    if (eval_quantize_weights(r, w, &o->policy, GPTJ_F32, &e))
        fail_msg("%s", e.msg);
}

double lf_tolerance(const float *want, int V)
{
    double rms = 0;
    for (int i = 0; i < V; i++)
        rms += (double)want[i] * want[i];
    rms = sqrt(rms / V);
    return LF_LOGIT_REL_TOL * (rms > 0.05 ? rms : 0.05);
}

double lf_max_diff(const float *got, const float *want, int V)
{
    double m = 0;
    for (int i = 0; i < V; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= m)) /* a NaN is the largest difference */
            m = d;
    }
    return m;
}

int lf_argmax(const float *l, int V)
{
    int a = 0;
    for (int i = 1; i < V; i++)
        if (l[i] > l[a])
            a = i;
    return a;
}

/* The top two logits are within 2 x tol: the greedy token may differ. */
static int top2_close(const float *l, int V, double tol)
{
    int a = lf_argmax(l, V);
    double second = -INFINITY;
    for (int i = 0; i < V; i++)
        if (i != a && l[i] > second)
            second = l[i];
    return l[a] - second <= 2 * tol;
}

void lf_machine(LfMachine *m, const IpuArch *a, const RunOptions *o, const GptjWeights *w, int fusions)
{
    IpuErr e;
    if (lower_gptj(a, o, w, &m->L, &e))
        fail_msg("%s", e.msg);
    m->en = engine_create(lower_graph(m->L), &e);
    assert_non_null(m->en);
    engine_set_poison(m->en, 1);
    if (fusions)
        engine_set_fusions(m->en, q4mm_fusions, q4mm_fusion_count);
}

void lf_machine_free(LfMachine *m)
{
    engine_destroy(m->en);
    lower_destroy(m->L);
}

void lf_ref_case(LfRefCase *c, const IpuArch *a, const RunOptions *o, int fusions, int max_t)
{
    IpuErr e;
    if (gptj_weights_synth(&c->w, &o->cfg, GPTJ_F32, 7, &e))
        fail_msg("%s", e.msg);
    lf_ref_weights(o, &c->w, &c->rw);
    lf_machine(&c->m, a, o, &c->w, fusions);
    if (gptj_state_init(&c->st, &c->rw, (int)o->batch, max_t, &e))
        fail_msg("%s", e.msg);
}

void lf_ref_case_free(LfRefCase *c)
{
    gptj_state_free(&c->st);
    lf_machine_free(&c->m);
    gptj_weights_free(&c->w);
    gptj_weights_free(&c->rw);
}

/* One step's logits of every sequence against the reference's; the tokens
 * both continue from (the machine's) into itok. */
static void check_step(const float *got, const float *want, const uint32_t *tok, int *itok, uint32_t batch, int V,
                       int tokens, const char *what, int step)
{
    for (uint32_t s = 0; s < batch; s++) {
        const float *g = got + (size_t)s * V, *w = want + (size_t)s * V;
        double tol = lf_tolerance(w, V), d = lf_max_diff(g, w, V);
        if (!(d <= tol))
            fail_msg("%s step %d seq %u: max |logit diff| %g > tol %g", what, step, s, d, tol);
        if (tokens && !top2_close(w, V, tol))
            assert_int_equal(tok[s], lf_argmax(w, V));
        itok[s] = (int)tok[s];
    }
}

void lf_check_against_reference(LfMachine *m, const RunOptions *o, GptjState *st, int tokens, const char *what)
{
    IpuErr e;
    uint32_t batch = o->batch, plen = o->prompt_len;
    int V = o->cfg.vocab_size;
    uint32_t *prompt = malloc((size_t)batch * plen * sizeof *prompt), *tok = malloc(batch * sizeof *tok);
    int *iprompt = malloc((size_t)batch * plen * sizeof *iprompt), *itok = malloc(batch * sizeof *itok);
    float *got = malloc(sizeof(float) * V * batch), *want = malloc(sizeof(float) * V * batch);
    assert_true(prompt && tok && iprompt && itok && got && want);
    for (uint32_t i = 0; i < batch * plen; i++)
        prompt[i] = (i * 97 + 13) % (uint32_t)V, iprompt[i] = (int)prompt[i];
    for (int step = 0; step < LF_GEN; step++) {
        int rc = step == 0 ? lower_prepare_prefill(m->L, prompt, &e)
                           : lower_prepare_decode(m->L, plen + step - 1, tok, &e);
        if (rc || engine_run(m->en, lower_program(m->L), &e) || lower_read_logits(m->L, step > 0, got, &e) ||
            lower_read_tokens(m->L, step > 0, tok, &e))
            fail_msg("%s step %d: %s", what, step, e.msg);
        if (step == 0 ? gptj_forward(st, iprompt, (int)plen, want, 1, &e) : gptj_forward(st, itok, 1, want, 1, &e))
            fail_msg("%s", e.msg);
        check_step(got, want, tok, itok, batch, V, tokens, what, step);
    }
    free(prompt), free(tok), free(iprompt), free(itok), free(got), free(want);
}

void lf_prompt(uint32_t *ids, uint32_t n, int vocab)
{
    for (uint32_t i = 0; i < n; i++)
        ids[i] = (i * 31 + 5) % (uint32_t)vocab;
}

void lf_run_timing_functional(const IpuArch *a, const RunOptions *o, RunResult *t, RunResult *f)
{
    IpuErr e;
    if (t && gptj_run(a, o, NULL, NULL, NULL, t, &e))
        fail_msg("%s timing: %s", o->weights.fmt->name, e.msg);
    if (!f)
        return;
    GptjWeights w;
    if (gptj_weights_synth(&w, &o->cfg, GPTJ_F16, 3, &e))
        fail_msg("%s", e.msg);
    uint32_t n = o->batch * o->prompt_len, *prompt = malloc(n * sizeof *prompt);
    assert_non_null(prompt);
    lf_prompt(prompt, n, o->cfg.vocab_size);
    if (gptj_run(a, o, &w, prompt, NULL, f, &e))
        fail_msg("%s functional: %s", o->weights.fmt->name, e.msg);
    free(prompt);
    gptj_weights_free(&w);
}

void lf_assert_steps_equal(const StepResult *x, const StepResult *y)
{
    assert_int_equal(x->cycles, y->cycles);
    for (int i = 0; i < PHASE_COUNT; i++)
        assert_int_equal(x->phase_cycles[i], y->phase_cycles[i]);
    assert_int_equal(x->stream_hidden_cycles, y->stream_hidden_cycles);
#define LF_X(field, doc) assert_int_equal(x->field, y->field);
    REPORT_STEP_BYTES(LF_X)
#undef LF_X
}

void lf_assert_runs_equal(const RunResult *x, const RunResult *y)
{
    lf_assert_steps_equal(&x->prefill, &y->prefill);
    assert_int_equal(x->ndecode, y->ndecode);
    for (uint32_t k = 0; k < x->ndecode; k++)
        lf_assert_steps_equal(&x->decode[k], &y->decode[k]);
}
