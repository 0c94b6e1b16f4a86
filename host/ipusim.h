/* ipusim.h - the ipusim library: GPT-J on a simulated Graphcore-IPU-like
 * machine, in timing mode, from C. Installed as <ipusim/ipusim.h>; link
 * with `pkg-config --cflags --libs ipusim` or CMake's ipusim::ipusim
 * (docs/library.md).
 *
 * Three steps, the same as `ipusim run`:
 *   1. a machine: ipusim_arch_create("pod16", overrides...) - a preset
 *      (ipusim arch list) plus "key=value" arch keys (ipusim arch show);
 *   2. a run: an ipusim_run_config - model, weight formats, batch, prompt
 *      and generated tokens, plus any run key as "key=value" text (ipusim
 *      run --list-keys; every key works, arch.<key> too);
 *   3. ipusim_run_timing fills an ipusim_results: per weight format the
 *      token times, throughput, memory bandwidth utilisation, bytes per
 *      step, the SRAM peak and the phase breakdown of the prefill and of a
 *      decode step, in cycles and seconds. docs/user-guide.md defines them.
 *
 * Errors: a function returns 0, or -1 with err->msg (when err is not NULL)
 * naming the key, value or file at fault, e.g. "ipusim_arch_create:
 * override 0: unknown arch key 'tiles' ...". The library never exits.
 * Simulator bugs (a broken invariant) abort with file:line, as in the
 * program.
 *
 * Not here: functional runs (real or synthetic weights, generated text),
 * traces, plots and report files - use the ipusim program for those. This
 * header includes no other ipusim header; no internal one is installed.
 */
#ifndef IPUSIM_H
#define IPUSIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's shared object exports only what is marked so. */
#if defined(__GNUC__) || defined(__clang__)
#define IPUSIM_API __attribute__((visibility("default")))
#else
#define IPUSIM_API
#endif

#define IPUSIM_ERROR_BYTES 512
#define IPUSIM_MAX_FORMATS 16   /* weight formats in one run */

/* What went wrong, as one line of text. */
typedef struct ipusim_error {
    char msg[IPUSIM_ERROR_BYTES];
} ipusim_error;

/* "0.1": the library's version, the same as ipusim.pc's and the CMake package's. */
IPUSIM_API const char *ipusim_version(void);

/* ---- the machine ---------------------------------------------------- */

/* Opaque: a preset with its overrides applied and checked. */
typedef struct ipusim_arch ipusim_arch;

/* Preset i ("gc2", "gc200", "bow", "pod4", "pod16", ...); NULL after the last. */
IPUSIM_API const char *ipusim_arch_preset_name(size_t i);

/* *out = preset (NULL: "pod4", the run default) with overrides[0..noverrides)
 * applied in order, each "key=value" ("stream.bandwidth_bytes_per_s=20e9";
 * an "arch." prefix is accepted), then the whole machine checked. Owned by
 * the caller: ipusim_arch_destroy. On error *out is NULL. */
IPUSIM_API int ipusim_arch_create(const char *preset, const char *const *overrides, size_t noverrides,
                                  ipusim_arch **out, ipusim_error *err);
/* NULL is a no-op. */
IPUSIM_API void ipusim_arch_destroy(ipusim_arch *a);
/* The value of one arch key as text ("1472", "2.16517e+10"), as `ipusim
 * arch show` prints it. */
IPUSIM_API int ipusim_arch_get(const ipusim_arch *a, const char *key, char *value, size_t cap, ipusim_error *err);

/* ---- a run ---------------------------------------------------------- */

/* Applied over the run keys' defaults (ipusim run --list-keys) in this
 * order: the scenario file, the fields, then sets. A zero or NULL field
 * changes nothing: the key keeps its default or the scenario's value. */
typedef struct ipusim_run_config {
    const char *model;        /* preset ("gptj-6b", "gptj-tiny", "gptj-micro") or a config.json path; NULL: gptj-6b */
    const char *formats;      /* weight formats, comma-separated: "fp16,q4g:64" (the default) */
    uint32_t batch;           /* sequences per step; 0: 1 */
    uint32_t prompt_len;      /* tokens in each prompt; 0: 512 */
    uint32_t gen_tokens;      /* tokens generated per sequence (the first by the prefill); 0: 20 */
    const char *scenario;     /* a scenario file of `key = value` lines (scenarios/); NULL: none */
    const char *const *sets;  /* (nsets) "key=value": any run key, e.g. "placement=auto", "kv_cache=off",
                               * "chips=4", "arch.stream.bandwidth_bytes_per_s=40e9" */
    size_t nsets;
} ipusim_run_config;

/* The step phases: every simulated cycle belongs to exactly one. */
typedef enum ipusim_phase {
    IPUSIM_PHASE_STREAM,     /* weights (or KV) from streaming memory, time not hidden under compute */
    IPUSIM_PHASE_DECOMPRESS, /* int4 -> fp16 codelets */
    IPUSIM_PHASE_MATMUL,     /* AMP matmuls of the linear layers and LM head, their partial-sum reduces */
    IPUSIM_PHASE_ATTENTION,  /* scores, softmax, probs x V and their reduces */
    IPUSIM_PHASE_OTHER,      /* layernorm, rotary, gelu, residual adds, embedding, argmax */
    IPUSIM_PHASE_EXCHANGE,   /* on-chip exchange */
    IPUSIM_PHASE_SYNC,       /* BSP syncs */
    IPUSIM_PHASE_COLLECTIVE, /* all-reduce / all-gather over IPU-Links */
    IPUSIM_PHASE_COUNT
} ipusim_phase;

/* "stream", "decompress", ... as the program's reports name them; NULL out of range. */
IPUSIM_API const char *ipusim_phase_name(int phase);

/* One step's time by phase. */
typedef struct ipusim_step {
    double cycles[IPUSIM_PHASE_COUNT]; /* tile cycles; sums to total_cycles */
    double s[IPUSIM_PHASE_COUNT];      /* the same in seconds at the arch clock */
    double total_cycles, total_s;
} ipusim_step;

/* One weight format's figures (docs/user-guide.md, "Reading the report"). */
typedef struct ipusim_format_result {
    char format[32];                 /* "fp16", "q4g:64" */
    double bits_per_param;           /* stored bits per parameter of the linear matrices (q/k/v/out_proj,
                                      * fc_in, fc_out, lm_head) */
    char placement[16];              /* "stream" or "resident" (what placement=auto chose) */
    double memory_proportion;        /* what the linear layers planned their temporaries for */
    uint32_t batch, chips, decode_steps;
    double clock_hz;
    double ttft_s;                   /* time to first token: the prefill */
    double tpot_s;                   /* time per output token: mean decode step; NaN with gen_tokens = 1 */
    double latency_s;                /* prefill + every decode step */
    double throughput_tokens_per_s;  /* batch x gen_tokens / latency */
    double batched_token_s;          /* decode step (or prefill with none) / batch: Graphcore's token time */
    double speedup_vs_fp16;          /* fp16's batched token time / this one's; NaN without fp16 in the run */
    double step_bytes;               /* bytes moved in that step that MBU counts */
    double achieved_bytes_per_s;     /* step_bytes / step time */
    double peak_bytes_per_s;         /* streaming peak (weights streamed) or SRAM peak (resident) */
    double mbu;                      /* memory bandwidth utilisation, a fraction: achieved / peak */
    uint64_t weight_bytes;           /* every weight of the system, in its stored format */
    uint64_t sram_peak_bytes;        /* the fullest tile at its peak */
    uint32_t sram_peak_tile;         /* its global tile id */
    char sram_peak_step[48];         /* the program step at that peak ("" when only always-live bytes) */
    ipusim_step prefill;             /* produces the first token */
    ipusim_step decode;              /* the mean decode step (zeros with gen_tokens = 1) */
} ipusim_format_result;

typedef struct ipusim_results {
    int nformats;                                     /* in the order the formats key gave */
    ipusim_format_result formats[IPUSIM_MAX_FORMATS]; /* (nformats) */
} ipusim_results;

/* Runs GPT-J once per weight format in timing mode (no weights: cycles only)
 * on arch (NULL: the config's arch key and arch.<key> sets, default pod4).
 * With an arch, its preset replaces any arch key of the config and its
 * overrides apply after the config's arch.<key> sets. Every key is checked
 * before the long work; a format that does not fit the machine is an error
 * naming it. The keys weights, checkpoint and prompt (functional runs) are
 * refused. out is overwritten; it owns no memory. */
IPUSIM_API int ipusim_run_timing(const ipusim_arch *arch, const ipusim_run_config *cfg, ipusim_results *out,
                                 ipusim_error *err);

/* Resolves and checks the same configuration without running it and writes
 * it into text (cap bytes, NUL-terminated; may be NULL) as a scenario file
 * of `key = value` lines that reproduces the run with `ipusim run
 * --scenario`. Fails when cap is too small, naming the size needed. */
IPUSIM_API int ipusim_run_config_text(const ipusim_arch *arch, const ipusim_run_config *cfg, char *text, size_t cap,
                                      ipusim_error *err);

#ifdef __cplusplus
}
#endif

#endif
