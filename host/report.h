/* report.h - what a run means to a reader: token times, throughput, memory
 * bandwidth utilisation, per-phase breakdown, SRAM peak, int4 vs fp16.
 *
 * A Report gathers one FormatReport per weight format, each computed from a
 * RunResult (host/gptj_run.h) by report_add, plus the resolved configuration
 * echo (host/runcfg.h). It prints a table, writes JSON and CSV, and draws
 * plots with gnuplot (report_plot.c). Every file is written atomically
 * (sim/base/fileio.h), so a failure leaves no half file. docs/report-format.md
 * describes every field of the JSON and CSV files with its unit.
 *
 * Definitions (docs/user-guide.md explains them):
 *   TTFT            prefill cycles / clock
 *   TPOT            mean decode-step cycles / clock (NaN with no decode step)
 *   latency         prefill + every decode step
 *   throughput      batch x (1 + ndecode) tokens / latency
 *   batched token   (mean decode step, or the prefill when none) / batch:
 *                   Graphcore's "token generation time"
 *   MBU             (bytes moved in that step / step time) / peak. Weights
 *                   streamed: the bytes through streaming memory (stream_bytes)
 *                   against the streaming peak of the chips used (each
 *                   machine gives min(stream.bandwidth, its chips x
 *                   stream.chip_bandwidth)). Resident: weight + KV-cache bytes
 *                   read against the aggregate SRAM bandwidth of the chips
 *                   used (tiles x clock x REPORT_SRAM_BYTES_PER_CYCLE)
 *   speedup         fp16's batched token time / this format's (NaN without fp16)
 *
 * Not here: running the model (gptj_run), parsing options (runcfg), the
 * roofline view (host/roofline.h).
 */
#ifndef IPUSIM_REPORT_H
#define IPUSIM_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "host/gptj_run.h"
#include "sim/arch.h"

/* Per tile, per cycle: the published aggregate SRAM bandwidth divided by
 * tiles x clock (GC200 47.5 TB/s / (1472 x 1.33 GHz) = 24.3; Mk1 45 TB/s /
 * (1216 x 1.6 GHz) = 23.1), rounded to 24; derived, see docs/user-guide.md. */
#define REPORT_SRAM_BYTES_PER_CYCLE 24.0

/* Bytes one step moved, by where they came from (host/gptj_run.h StepResult);
 * all chips; a decode step's are the mean over the decode steps. */
#define REPORT_STEP_BYTES(X)                                                                                  \
    X(stream_bytes, "bytes between streaming memory and the tiles")                                          \
    X(exchange_bytes, "bytes sent tile to tile by on-chip exchange (Copy steps)")                             \
    X(link_bytes, "bytes sent over IPU-Links by collectives")                                                 \
    X(weight_bytes_read, "bytes of weights the step consumed, in their stored format, whatever their source") \
    X(kv_bytes_read, "bytes of KV cache the attention read from tile SRAM")

typedef struct ReportStepBytes {
#define REPORT_X(field, doc) double field;
    REPORT_STEP_BYTES(REPORT_X)
#undef REPORT_X
} ReportStepBytes;

typedef struct FormatReport {
    char format[32];
    double bits_per_param;
    Placement placement;
    char weight_path[16];           /* how weights reach the AMP (RunResult) */
    double memory_proportion;       /* the lowering fitted with (RunResult) */
    uint32_t batch, chips, ndecode;
    double clock_hz;
    double ttft_s, tpot_s, latency_s, throughput_tok_per_s, batched_token_s;
    double step_bytes;              /* bytes the MBU counts for the step (see above) */
    double weight_read_bytes, kv_read_bytes; /* the step's weights and KV cache read (all chips, stored formats) */
    double achieved_bytes_per_s, peak_bytes_per_s, mbu; /* mbu: a fraction (JSON mbu_frac) */
    double prefill_cycles[PHASE_COUNT], decode_cycles[PHASE_COUNT]; /* decode: mean per step */
    double prefill_total_cycles, decode_total_cycles;
    ReportStepBytes prefill_bytes, decode_bytes; /* decode: mean per step */
    uint64_t weight_bytes;
    SramPeak sram;                  /* the fullest tile at its peak */
    uint64_t *mem_tile, *mem_chip;  /* (mem_npos) bytes live at each program position: the peak tile, chip 0 */
    size_t mem_npos, mem_decode_pos; /* the decode program's positions start at mem_decode_pos */
    uint32_t *tokens;               /* functional runs: (batch, 1 + ndecode) ids; NULL otherwise */
    double speedup_vs_fp16;
} FormatReport;

/* A format that did not run (it does not fit, its group size does not
 * divide a layer): the others still do. */
typedef struct FormatFailure {
    char format[32];
    char message[IPU_ERR_MSG_BYTES];
} FormatFailure;

typedef struct Report {
    cJSON *config;                  /* owned: the resolved configuration echo (may be NULL) */
    FormatReport *f;                /* (n) */
    int n, cap;
    FormatFailure *failed;          /* (nfailed) in run order */
    int nfailed;
} Report;

/* config is taken over (deleted by report_free); may be NULL. */
void report_init(Report *r, cJSON *config);
void report_free(Report *r);
/* Adds one format; chips is the tensor-parallel degree the run used. */
int report_add(Report *r, const RunResult *res, uint32_t batch, uint32_t chips, const IpuArch *arch, IpuErr *err);
/* Records a format that failed with message (JSON "failed_formats"). */
int report_add_failure(Report *r, const char *format, const char *message, IpuErr *err);

const char *report_phase_name(int phase);

/* The MBU's two peaks for the first `chips` chips: streaming (each machine
 * they occupy gives min(stream.bandwidth, its chips x stream.chip_bandwidth))
 * and tile SRAM (chips x tiles x clock x REPORT_SRAM_BYTES_PER_CYCLE). */
double report_stream_peak_bytes_per_s(const IpuArch *a, uint32_t chips);
double report_sram_peak_bytes_per_s(const IpuArch *a, uint32_t chips);

/* The readable table. */
void report_print(FILE *f, const Report *r);

/* The JSON report's "schema_version" (docs/report-format.md has every field
 * and unit). Version 1 was the unversioned output before it. */
#define REPORT_SCHEMA_VERSION 2

/* A format's headline figures, declared once: the flat fields of each JSON
 * format object and the columns of the summary CSV, in this order. A
 * fraction's name ends in _frac (never a percentage); other units are in
 * the name (_s, _bytes, _hz) or in unit. */
typedef struct ReportField {
    const char *name, *unit, *doc;
    int text; /* 1: a text value, else a number */
} ReportField;
extern const ReportField report_fields[];
extern const size_t report_field_count;
/* Field i of f: its number (NaN when undefined: no decode step, no fp16
 * baseline), or for a text field NaN with *text set. */
double report_field_value(const FormatReport *f, size_t i, const char **text);

/* {"schema_version", "config", "formats": [{the report_fields..., "sram_peak_by_category",
 *  "prefill": {cycles, time_s, phases: {phase: {cycles, time_s, share_frac}}, the step bytes}, "decode", "tokens"}]} */
cJSON *report_to_json(const Report *r);
/* The JSON as text with a final newline (malloc'ed); NULL when out of memory. */
char *report_json_text(const Report *r);
int report_write_json(const Report *r, const char *path, IpuErr *err);
/* The breakdown CSV: header "format,step,phase,cycles,time_s,share_frac";
 * one row per format x step (prefill, decode) x phase, plus a "total" row per step. */
int report_write_csv(const Report *r, const char *path, IpuErr *err);
/* The same CSV as malloc'ed text (*len bytes); NULL when out of memory. */
char *report_csv_text(const Report *r, size_t *len);
/* The summary CSV: a header of the report_fields names, one row per format;
 * an undefined figure is an empty field. */
char *report_summary_csv_text(const Report *r, size_t *len);
/* Where the summary goes beside a breakdown CSV: its name with "_summary"
 * before the extension ("out/report.csv" -> "out/report_summary.csv",
 * "r" -> "r_summary"). */
void report_summary_path(const char *csv_path, char *out, size_t cap);
/* "model, arch (chips), batch, prompt, generate; formats" for titles: from the
 * config echo (run keys model, arch, chips_used, batch, prompt_len,
 * gen_tokens), or batch and chips alone without one. */
void report_config_line(const Report *r, char *out, size_t cap);

/* Plots into dir, atomically (sim/base/fileio.h: built in a temp sibling folder,
 * moved into place whole): breakdown.EXT (stacked bar of the decode step's
 * phases per format) and, with two or more q4g formats, groups.EXT (batched
 * token time against group size, bits per parameter on the second axis),
 * each with its .dat data and .gp script. EXT is png (pngcairo or png
 * terminal) or svg. The paths written are returned in written
 * (";"-separated). */
int report_plot(const Report *r, const char *dir, char *written, size_t cap, IpuErr *err);
/* The same into an existing folder (a FileioDir being built); names gets
 * the plot file names without the folder (";"-separated). */
int report_plot_into(const Report *r, const char *dir, char *names, size_t cap, IpuErr *err);
/* The file name globs report_plot writes (for fileio_dir_commit). */
extern const char *const report_plot_files[];
/* "a;b" under dir -> "dir/a;dir/b". */
void report_join_names(const char *dir, const char *names, char *out, size_t cap);
/* An output folder name usable for plots and reports: not empty, no single
 * quote (gnuplot scripts quote paths with it), at most 1000 bytes, not an
 * existing non-folder. Checked before any work so a bad name writes nothing. */
int report_check_folder(const char *dir, IpuErr *err);

#endif
