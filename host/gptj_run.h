/* gptj_run.h - GPT-J on the simulated machine: one weight format, one run.
 *
 * gptj_run lowers GPT-J (host/lower_*.c) onto a graph and programs for the
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

#include "codelets/layer_dtype.h"
#include "models/gptj_config.h"
#include "models/gptj_weights.h"
#include "models/quant.h"
#include "sim/arch.h"
#include "sim/err.h"
#include "sim/trace.h"

typedef enum RunPhase {
    PHASE_STREAM,      /* weights (or KV) from streaming memory, exposed time */
    PHASE_DECOMPRESS,  /* int4 -> fp16 codelets */
    PHASE_MATMUL,      /* AMP matmuls of the linear layers and the LM head, and their partial-sum reduces */
    PHASE_ATTENTION,   /* scores, softmax, probs x V and their reduces */
    PHASE_OTHER,       /* layernorm, rotary, gelu, residual adds, embedding, argmax */
    PHASE_EXCHANGE,    /* on-chip exchange (Copy steps) */
    PHASE_SYNC,        /* syncs */
    PHASE_COLLECTIVE,  /* all-reduce / all-gather over IPU-Links */
    PHASE_COUNT
} RunPhase;
extern const char *const run_phase_names[PHASE_COUNT];

typedef enum Placement { PLACE_STREAM, PLACE_RESIDENT, PLACE_AUTO } Placement;

typedef struct RunOptions {
    GptjConfig cfg;              /* the model */
    QuantSpec weights;           /* format of the quantized matrices (fp16 baseline or q4g:n) */
    QuantPolicy policy;          /* which tensors get `weights` and which stay fp16 */
    Placement placement;         /* auto: resident when every tile fits, else stream */
    int overlap;                 /* 1: stream the next layer under this one's compute (needs arch io_tiles > 0) */
    int kv_cache;                /* 0: Graphcore's scheme, every step re-runs the padded sequence */
    char decompress[32];         /* decompress variant name (codelets registry), "" = default */
    LayerDtype partials;         /* matmul partials fp16 or fp32 */
    int functional_timed;        /* functional mode: 1 runs every codelet through the timed intrinsics, 0 (default) natively where a codelet has a native version */
    uint32_t chips;              /* tensor-parallel degree; divides n_head, must be <= arch chips */
    uint32_t batch;              /* sequences per step (micro-batch) */
    uint32_t prompt_len;         /* tokens in each prompt */
    uint32_t gen_tokens;         /* tokens generated per sequence (>= 1; the first comes from the prefill) */
    uint32_t seq_len;            /* padded sequence length; 0 = prompt_len + gen_tokens */
} RunOptions;

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

typedef struct RunResult {
    char format[32];             /* "fp16", "q4g:64" */
    double bits_per_param;       /* of the quantized matrices */
    Placement placement;         /* what auto chose */
    double clock_hz;             /* arch clock, for seconds */
    StepResult prefill;          /* produces the first token (TTFT) */
    StepResult *decode;          /* (ndecode) one per further token */
    uint32_t ndecode;
    uint64_t weight_bytes;       /* all weights of the system in their stored formats */
    uint64_t sram_peak_bytes;    /* the fullest tile's peak */
    uint32_t sram_peak_tile;     /* its global id */
    uint64_t sram_peak_by_category[8]; /* that tile's peak per SramCategory */
    uint32_t *tokens;            /* functional: (batch, gen_tokens) generated ids; NULL in timing mode */
} RunResult;

/* weights NULL: timing mode. Errors (chips not dividing heads, group size not
 * dividing a split, a graph that does not fit even streaming, prompt longer
 * than the sequence, ...) come before any long work. trace may be NULL. */
int gptj_run(const IpuArch *arch, const RunOptions *opt, const GptjWeights *weights, const uint32_t *prompt /* (batch, prompt_len) */,
             Trace *trace, RunResult *out, IpuErr *err);
void run_result_free(RunResult *r);

#endif
