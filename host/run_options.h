/* run_options.h - what one GPT-J run on the simulated machine is asked to
 * do (RunOptions), its phases and weight placements: the vocabulary shared
 * by the lowering (host/lower.h), the run loop (host/gptj_run.h) and the
 * run configuration (host/runcfg.h).
 */
#ifndef IPUSIM_RUN_OPTIONS_H
#define IPUSIM_RUN_OPTIONS_H

#include <stdint.h>

#include "base/kv_quant.h"
#include "codelets/layer_dtype.h"
#include "models/gptj_config.h"
#include "models/quant.h"

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
/* The phases' names in RunPhase order, the one list every table of them is
 * made from (run_phase_names, the sweep's "<name>_frac" columns). */
#define RUN_PHASE_NAMES(X) \
    X("stream") X("decompress") X("matmul") X("attention") X("other") X("exchange") X("sync") X("collective")
extern const char *const run_phase_names[PHASE_COUNT];

typedef enum Placement { PLACE_STREAM, PLACE_RESIDENT, PLACE_AUTO } Placement;

/* How int4 weights reach the matmuls. ipusim: packed blocks in the
 * matmul's own layout, decompressed in place by one codelet. graphcore:
 * Graphcore's popxl pipeline (host/lower/linear_gc.c): codes, scales and
 * biases in the load layout, unpack, two broadcast ops, a rearrangement. */
typedef enum Scheme { SCHEME_IPUSIM, SCHEME_GRAPHCORE } Scheme;

/* Which logits a functional run hands back (RunResult.logits). */
typedef enum RunLogits {
    RUN_LOGITS_NONE, /* none (the default) */
    RUN_LOGITS_LAST, /* the last position's: the one the last generated token came from */
    RUN_LOGITS_ALL   /* every position's: the LM head runs over every row of the prefill (and, without a KV
                      * cache, of every step), not only each sequence's last; the graph and figures change */
} RunLogits;

typedef struct RunOptions {
    GptjConfig cfg;              /* the model */
    QuantSpec weights;           /* format of the quantized matrices (fp16 baseline or q4g:n) */
    QuantPolicy policy;          /* which tensors get `weights` and which stay fp16 */
    Placement placement;         /* auto: resident when every tile fits, else stream */
    int overlap;                 /* 1: stream the next layer under this one's compute (needs arch io_tiles > 0) */
    int kv_cache;                /* 0: Graphcore's scheme, every step re-runs the padded sequence */
    KvSpec kv;                   /* the KV cache's format (kv_format; quantized needs kv_cache) */
    char decompress[32];         /* decompress variant name (codelets registry), "" = default */
    Scheme scheme;               /* the int4 weight pipeline */
    int fp8_amp;                 /* fp8 weights: 0 auto (into the AMP when the arch has an fp8 mode, else
                                  * widened to fp16 on the tiles), 1 direct (an error without one), 2 widen */
    int gc_unpack_estimate;      /* graphcore what-if: 1 charges the unpack vertex its popxl perf estimate
                                  * (100 + 30 x the tile interval's words, a placeholder) instead of the ISA model */
    LayerDtype partials;         /* matmul partials fp16 or fp32 */
    int functional_timed;        /* functional mode: 1 runs every codelet through the timed intrinsics, 0 (default) natively where a codelet has a native version */
    int check_liveness;          /* functional mode: 1 poisons each value when it dies (engine_set_poison), so a read
                                  * of bytes the memory layout gave to another tensor shows in the logits */
    double memory_proportion;    /* the share of a tile's memory left free by always-live tensors that one
                                  * linear's temporaries may plan for (Poplar's availableMemoryProportion) */
    uint32_t chips;              /* tensor-parallel degree; divides n_head, must be <= arch chips */
    uint32_t batch;              /* sequences per step (micro-batch) */
    uint32_t prompt_len;         /* tokens in each prompt */
    uint32_t gen_tokens;         /* tokens generated per sequence (>= 1; the first comes from the prefill) */
    uint32_t seq_len;            /* padded sequence length; 0 = prompt_len + gen_tokens */
    RunLogits logits;            /* functional mode: which logits RunResult.logits holds */
    const uint32_t *teacher;     /* functional mode, or NULL: (batch, gen_tokens) the tokens fed to the decode
                                  * steps instead of the greedy ones (teacher forcing): decode step k feeds
                                  * teacher[s * gen_tokens + k] of sequence s at position prompt_len + k, so
                                  * the logits are those of a given continuation; its last token is never fed */
} RunOptions;

#endif
