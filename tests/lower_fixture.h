/* lower_fixture.h - what the tests of the GPT-J lowering share
 * (tests/test_lower*.c): a small machine and the run options on it, the
 * logit tolerance against the fp32 reference forward, the run that checks
 * the machine's logits and tokens against that reference step by step, and
 * timing == functional runs compared step by step. Failures go through
 * cmocka (fail_msg), so these are for cmocka tests only.
 *
 * Tolerance (LF_LOGIT_REL_TOL). The machine keeps activations in fp16
 * (relative rounding u = 2^-11 ~ 4.9e-4 per stored value, partials rounded
 * at most once per 16 inputs) while the reference computes in fp32 on the
 * same (fp16 or dequantized) weights. gptj-micro has 2 layers; along one
 * residual path a value passes ~12 fp16 roundings per layer (ln_1, q/k/v,
 * scores or probs, attention out, out_proj, fc_in, gelu, fc_out, block sum,
 * residual; ln_f), so n ~ 24; independent roundings add in quadrature
 * (sqrt(n) u) and LayerNorm can amplify an error by 1/std of its input
 * (<= 4 here): sqrt(24) x 4 x u ~ 1e-2 relative to the logits' scale (their
 * RMS). LF_LOGIT_REL_TOL doubles that; measured differences are ~3e-3 x RMS,
 * and a decode step with the softmax at the wrong position fails it by 7x. */
#ifndef IPUSIM_TESTS_LOWER_FIXTURE_H
#define IPUSIM_TESTS_LOWER_FIXTURE_H

#include <stdint.h>

#include "host/gptj_run.h"
#include "host/lower/lower.h"
#include "models/gptj_forward.h"
#include "sim/engine.h"

#define LF_LOGIT_REL_TOL 0.02
#define LF_PROMPT 5 /* prompt tokens of a run */
#define LF_GEN 3    /* tokens generated: the prefill's and LF_GEN - 1 decode steps' */

/* pod4 with tiles tiles per chip and workers per tile (0: the preset's);
 * with overlap, 8 I/O tiles for streaming under compute. */
void lf_arch(IpuArch *a, uint32_t tiles, uint32_t workers, int overlap);
/* A run of model (a preset) with weights fmt under Graphcore's policy,
 * placement pl, fp32 partials, LF_PROMPT prompt and LF_GEN tokens. */
void lf_opts(RunOptions *o, const char *model, const char *fmt, uint32_t chips, int kv, uint32_t batch,
             Placement pl);
/* The reference's weights: w through each tensor's format of o's policy
 * (quantized and dequantized; gains and biases fp16), in fp32. */
void lf_ref_weights(const RunOptions *o, const GptjWeights *w, GptjWeights *r);

/* The tolerance of logits want (V of them): LF_LOGIT_REL_TOL x their RMS,
 * an RMS below 0.05 taken as 0.05. */
double lf_tolerance(const float *want, int V);
double lf_max_diff(const float *got, const float *want, int V);
int lf_argmax(const float *l, int V);

/* A machine lowered with weights w and its engine: every value poisoned
 * (NaN) once the memory layout says it died, so a lowering that reads
 * memory the layout gave to another tensor fails the logit comparison;
 * with fusions, the q4mm fusions too (dead writes skipped, and watched). */
typedef struct LfMachine {
    Lowered *L;
    Engine *en;
} LfMachine;
void lf_machine(LfMachine *m, const IpuArch *a, const RunOptions *o, const GptjWeights *w, int fusions);
void lf_machine_free(LfMachine *m);

/* A case against the reference: synthetic fp32 weights w (seed 7), the
 * machine lowered with them (lf_machine), the reference weights rw
 * (lf_ref_weights) and its state st for o's batch and max_t positions. */
typedef struct LfRefCase {
    GptjWeights w, rw;
    LfMachine m;
    GptjState st;
} LfRefCase;
void lf_ref_case(LfRefCase *c, const IpuArch *a, const RunOptions *o, int fusions, int max_t);
void lf_ref_case_free(LfRefCase *c);

/* Runs o's prefill and LF_GEN - 1 decode steps on m and the reference st
 * (initialised for o's batch) on the same tokens, prompt id i of the batch
 * (i x 97 + 13) mod vocab: at every step every sequence's logits within
 * lf_tolerance of the reference's, and with tokens the machine's greedy
 * token the reference's argmax unless its top two are within 2 x tol. Both
 * continue from the machine's tokens. what names the case in a failure. */
void lf_check_against_reference(LfMachine *m, const RunOptions *o, GptjState *st, int tokens, const char *what);

/* Prompt ids for timing == functional runs: id i = (i x 31 + 5) mod vocab. */
void lf_prompt(uint32_t *ids, uint32_t n, int vocab);
/* o's run in timing mode into t (unless NULL) and functional into f, on
 * synthetic fp16 weights (seed 3) and lf_prompt's batch x prompt_len ids. */
void lf_run_timing_functional(const IpuArch *a, const RunOptions *o, RunResult *t, RunResult *f);
/* Two steps' cycles, every phase's, the hidden streaming and every byte counter equal. */
void lf_assert_steps_equal(const StepResult *x, const StepResult *y);
/* The same for every step of two runs (prefill, each decode), and their count. */
void lf_assert_runs_equal(const RunResult *x, const RunResult *y);

#endif
