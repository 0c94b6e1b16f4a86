/* runcfg.h - the configuration of one `ipusim run`: which model, which
 * machine, which weight formats, which scheme, how many tokens.
 *
 * One key table (runcfg.c) gives every key its type, unit, default and doc
 * line. A RunConfig is filled in order from the defaults, then a scenario
 * file (`key = value` lines, `#` comments), then `key=value` settings; each
 * source is named in errors ("scenario x.conf:12: key 'batch': ..."). Any key
 * "arch.<k>" is handed to arch_set, after the arch preset, in the order given.
 * runcfg_finish then resolves the model and the arch and checks every cross-key
 * constraint (prompt_len <= seq_len, chips divide the heads, group sizes,
 * decompress variant, overlap needing I/O tiles) before any long work.
 *
 * Not here: running (host/gptj_run.h), printing results (host/report.h).
 */
#ifndef IPUSIM_RUNCFG_H
#define IPUSIM_RUNCFG_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "host/gptj_run.h"
#include "models/gptj_config.h"
#include "models/quant.h"
#include "sim/arch.h"

typedef enum RunWeights { RUN_WEIGHTS_NONE, RUN_WEIGHTS_SYNTHETIC, RUN_WEIGHTS_CHECKPOINT } RunWeights;

#define RUNCFG_MAX_FORMATS 16
#define RUNCFG_MAX_ARCH_SETS 128 /* an arch file may name every arch key (78), then --set overrides */
#define RUNCFG_TEXT_BYTES 1024

typedef struct RunArchSet {
    char key[96];
    char value[64];
    char source[160];   /* "--set", "scenario FILE:LINE" */
} RunArchSet;

/* A preset and where it was named ("--set", "scenario F:L", "arch file F"); "" = not named. */
typedef struct RunArchPreset {
    char preset[32];
    char source[160];
} RunArchPreset;

typedef struct RunConfig {
    /* keys, as set */
    char model[RUNCFG_TEXT_BYTES];      /* preset or config.json path; the checkpoint folder when only it is given */
    char model_source[160];             /* where key model was set ("--set", "scenario F:L"); "" = not given */
    char checkpoint[RUNCFG_TEXT_BYTES]; /* HF checkpoint dir for weights=checkpoint */
    RunWeights weights;
    uint64_t seed;
    char arch_name[32];
    RunArchPreset arch_from[2];         /* the preset last named [0] by a scenario or --set, [1] by an arch file */
    uint32_t chips;                     /* 0 = all of the arch's */
    char formats[256];                  /* "fp16,q4g:64" */
    char keep_fp16[512];                /* comma list of name globs kept fp16 */
    Placement placement;
    int overlap, kv_cache;
    char decompress[32];
    char kv_format[16];                 /* fp16 | i8 | q4g:N */
    Scheme scheme;
    int gc_unpack;                      /* 0 isa, 1 estimate */
    int fp8_amp;                        /* 0 auto, 1 direct, 2 widen (RunOptions.fp8_amp) */
    LayerDtype partials;
    int functional;                     /* 0 fast, 1 timed */
    int check_liveness;                 /* functional: poison dead values */
    double memory_proportion;           /* see RunOptions */
    uint32_t batch, prompt_len, gen_tokens, seq_len;
    char prompt[RUNCFG_TEXT_BYTES];
    char out[RUNCFG_TEXT_BYTES];
    RunArchSet arch_sets[RUNCFG_MAX_ARCH_SETS];
    int narch_sets;
    /* resolved by runcfg_finish */
    GptjConfig cfg;
    IpuArch arch;
    QuantSpec specs[RUNCFG_MAX_FORMATS];
    int nformats;
    uint32_t chips_used;
    uint32_t seq_len_used;
} RunConfig;

/* The defaults of every key. */
void runcfg_init(RunConfig *rc);
/* Sets one key from text; source names where it came from (for errors). */
int runcfg_set(RunConfig *rc, const char *key, const char *value, const char *source, IpuErr *err);
/* An arch key is also taken without its "arch." prefix (stream.io_tiles =
 * arch.stream.io_tiles), as `ipusim arch show --set` takes both; `chips`,
 * a run key and an arch key, is the run key (the arch's is arch.chips).
 * Setting arch from an arch file and from elsewhere (scenario, --set) to
 * different presets is an error naming both, whichever comes first. */
/* "key=value" as given to --set. */
int runcfg_set_kv(RunConfig *rc, const char *kv, const char *source, IpuErr *err);
/* A scenario file (a regular file of at most 1 MiB): `key = value` lines;
 * blank lines and `#` comments skipped (a `#` starts a comment at the line
 * start or after whitespace). A value in double quotes is taken as written,
 * `#` and blanks included, with the escapes \" \\ \n \t \r \xHH; only
 * blanks or a comment may follow the closing quote. A NUL byte is an error. */
int runcfg_load_file(RunConfig *rc, const char *path, IpuErr *err);
/* A JSON arch file (sim/arch.h arch_file_each): its "preset" as key arch,
 * every other key as arch.<key>, each with source "arch file PATH". */
int runcfg_load_arch_file(RunConfig *rc, const char *path, IpuErr *err);
/* arch_set for text from a user: the value must be a decimal number
 * ([+-]digits[.digits][e[+-]digits]) or a word (true/false/on/off...): hex,
 * blanks, inf and nan are errors naming the key. */
int runcfg_arch_set(IpuArch *a, const char *key, const char *value, IpuErr *err);
/* Resolves model, arch (preset + arch.* sets), formats; checks cross-key
 * constraints. Must succeed before runcfg_options. The model is key
 * model's, or, when a checkpoint is given and model is not, the
 * checkpoint's config.json (model then names the checkpoint folder); a
 * model given with a checkpoint must be the same model (an error names
 * both and the first field that differs). */
int runcfg_finish(RunConfig *rc, IpuErr *err);
/* The gptj_run options of format i < rc->nformats: Graphcore's policy for
 * the format plus keep_fp16 globs prepended as fp16 rules. */
int runcfg_options(const RunConfig *rc, int i, RunOptions *out, IpuErr *err);

/* The key table, for listings and the echo. */
typedef struct RunKeyInfo {
    const char *name, *type, *unit, *def, *doc;
} RunKeyInfo;
size_t runcfg_key_count(void);
void runcfg_key_at(size_t i, RunKeyInfo *out);
/* The current value of key i as text. */
void runcfg_key_value(const RunConfig *rc, size_t i, char *buf, size_t cap);
/* Markdown table of the keys (name, type, unit, default, doc). */
void runcfg_print_keys(FILE *f);
/* The resolved config: {"run": {key: value...}, "arch": {preset, key: value...}}. */
cJSON *runcfg_to_json(const RunConfig *rc);
/* The same as `key = value` lines (a scenario that reproduces the run):
 * runcfg_load_file of the output gives the same values. */
void runcfg_print(FILE *f, const RunConfig *rc);
/* One value as runcfg_load_file reads it back: as is, or in double quotes
 * with escapes when it has a '#', a control byte, a leading '"' or leading or
 * trailing blanks. */
void runcfg_print_value(FILE *f, const char *v);

const char *runcfg_placement_name(Placement p);

#endif
