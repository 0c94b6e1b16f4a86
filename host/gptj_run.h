/* gptj_run.h - GPT-J on the simulated machine: one weight format, one run.
 *
 * gptj_run lowers GPT-J (host/lower/) onto a graph and programs for the
 * arch, tensor parallel over opt->chips chips, then runs the prefill and one
 * program per generated token on the engine, in timing mode (no weights) or
 * functional mode (weights given: real or synthetic), and returns per-step
 * cycles split by phase plus the byte counts reports need. It is the one
 * interface between the lowering and the reports (host/report.*), the CLI
 * (ipusim run / compare) and sweeps.
 *
 * Phases: every program step the lowering emits carries exactly one of the
 * RunPhase categories, so a step's phase_cycles sum to its cycles.
 *
 * Not here: option parsing (host/runcfg.*), printing (host/report.*).
 */
#ifndef IPUSIM_GPTJ_RUN_H
#define IPUSIM_GPTJ_RUN_H

#include <stdint.h>

#include "base/err.h"
#include "host/run_options.h"
#include "models/gptj_weights.h"
#include "sim/arch.h"
#include "sim/sram.h"
#include "sim/trace.h"

typedef struct StepResult {
    uint64_t cycles;                    /* the whole step */
    uint64_t phase_cycles[PHASE_COUNT]; /* sums to cycles */
    uint64_t stream_hidden_cycles;      /* streaming hidden under compute by I/O tiles */
    uint64_t stream_bytes;              /* all chips */
    uint64_t exchange_bytes;            /* all chips */
    uint64_t link_bytes;                /* all chips */
    uint64_t weight_bytes_read;         /* bytes of weights the step consumed (all chips, stored format) */
    uint64_t kv_bytes_read;             /* bytes of KV cache the attention read (all chips) */
} StepResult;

/* One tile of the memory layout at its peak. */
typedef struct SramPeak {
    uint64_t bytes;                       /* always-live + live not-always-live bytes at the peak */
    uint32_t tile;                        /* global tile id */
    char step[48];                        /* the step at the peak; "" when only always-live bytes */
    uint64_t always[SRAM_CATEGORY_COUNT]; /* always-live bytes by category */
    uint64_t live[SRAM_CATEGORY_COUNT];   /* not-always-live bytes live at the peak, by category */
} SramPeak;

typedef struct RunResult {
    char format[32];             /* "fp16", "q4g:64" */
    double bits_per_param;       /* of the linear matrices: quant_model_bits_per_param (models/quant_model.h) */
    Placement placement;         /* what auto chose */
    char weight_path[16];        /* how the layers' weights reach the AMP: "fp16", "decompressed", "fp8 direct" */
    double memory_proportion;    /* what the linears planned for (halved from the option's when it did not fit) */
    double clock_hz;             /* arch clock, for seconds */
    StepResult prefill;          /* produces the first token (TTFT) */
    StepResult *decode;          /* (ndecode) one per further token */
    uint32_t ndecode;
    uint64_t weight_bytes;       /* all weights of the system in their stored formats */
    SramPeak sram;               /* the fullest tile at its peak (sim/layout) */
    char *memory_report;         /* the ten fullest tiles and what is live on each at its peak (layout_report) */
    uint64_t *mem_tile, *mem_chip; /* (mem_npos) bytes live at each program position: the peak tile, chip 0 */
    size_t mem_npos, mem_decode_pos; /* positions: the prefill program's, then from mem_decode_pos the decode program's */
    uint32_t *tokens;            /* functional: (batch, gen_tokens) generated ids (teacher forcing: the
                                  * tokens given); NULL in timing mode */
    float *logits;               /* functional with RunOptions.logits: (batch, logits_positions, vocab_size)
                                  * fp32 (the machine's fp16 values); NULL otherwise */
    uint32_t logits_positions;   /* last: 1 (position prompt_len + gen_tokens - 2, whose logits gave the last
                                  * token); all: prompt_len + gen_tokens - 1, positions 0, 1, ... in order */
} RunResult;

/* weights NULL: timing mode. Errors (chips not dividing heads, group size not
 * dividing a split, a graph that does not fit even streaming, prompt longer
 * than the sequence, ...) come before any long work. trace may be NULL.
 *
 * Logits in and out (functional mode only: an error in timing mode): the
 * prompt is any token ids (each < vocab_size); opt->logits asks for the
 * last position's logits or every position's in out->logits; opt->teacher
 * feeds given tokens to the decode steps. The logits of given ids at every
 * position, e.g. to evaluate a text on the machine's fp16 numerics:
 *
 *     RunOptions o;                      // runcfg_options, or filled by hand
 *     o.prompt_len = T, o.gen_tokens = 1, o.logits = RUN_LOGITS_ALL;
 *     gptj_run(&arch, &o, &weights, ids, NULL, &res, &err);
 *     // res.logits: (batch, T, vocab_size); row t predicts ids[t + 1]
 *
 * or, batch 1, o.prompt_len = 1, o.teacher = ids + 1 and o.gen_tokens =
 * T - 1 for positions 0 .. T - 2 through decode steps (the KV cache's
 * path; the last id is never fed). */
int gptj_run(const IpuArch *arch, const RunOptions *opt, const GptjWeights *weights, const uint32_t *prompt /* (batch, prompt_len) */,
             Trace *trace, RunResult *out, IpuErr *err);
void run_result_free(RunResult *r);

/* A session: GPT-J lowered once (timing mode) and run on any machine that
 * shares its graph, keeping the lowering and the engine's measured codelet
 * cycles between runs. What a sweep over bandwidths, latencies or the
 * clock needs: a run costs the engine's steps, not the lowering.
 *
 * gptj_arch_same_graph: 1 when a and b differ at most in keys that neither
 * the lowering nor the engine's kept Execute costs read (clock_hz,
 * stream.bandwidth_bytes_per_s, stream.chip_bandwidth_bytes_per_s,
 * stream.latency_s, link.*, sync.system_cycles, host_link); only then may
 * one session run both. gptj_session_run(s, arch) gives the same RunResult
 * as gptj_run(arch, opt, NULL, NULL, NULL) (tests/test_gptj_run.c). One
 * thread at a time per session. */
typedef struct GptjSession GptjSession;
int gptj_arch_same_graph(const IpuArch *a, const IpuArch *b);
/* Lowers for arch (timing mode); NULL with err on failure (the same errors as gptj_run). */
GptjSession *gptj_session_create(const IpuArch *arch, const RunOptions *opt, IpuErr *err);
void gptj_session_destroy(GptjSession *s);
/* Runs the prefill and decode steps on arch; an arch that does not share
 * the session's graph is an error. out as from gptj_run (run_result_free). */
int gptj_session_run(GptjSession *s, const IpuArch *arch, RunResult *out, IpuErr *err);

#endif
