/* report.h - what a run means to a reader: token times, throughput, memory
 * bandwidth utilisation, per-phase breakdown, SRAM peak, int4 vs fp16.
 *
 * A Report gathers one FormatReport per weight format, each computed from a
 * RunResult (host/gptj_run.h) by report_add, plus the resolved configuration
 * echo (host/runcfg.h). It prints a table, writes JSON and CSV, and draws
 * plots with gnuplot. Every file is written atomically (sim/fileio.h), so a
 * failure leaves no half file.
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
 * Not here: running the model (gptj_run), parsing options (runcfg).
 */
#ifndef IPUSIM_REPORT_H
#define IPUSIM_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "host/gptj_run.h"
#include "sim/arch.h"
#include "sim/err.h"

/* Per tile, per cycle: the published aggregate SRAM bandwidth divided by
 * tiles x clock (GC200 47.5 TB/s / (1472 x 1.33 GHz) = 24.3; Mk1 45 TB/s /
 * (1216 x 1.6 GHz) = 23.1), rounded to 24; derived, see docs/user-guide.md. */
#define REPORT_SRAM_BYTES_PER_CYCLE 24.0

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
    double achieved_bytes_per_s, peak_bytes_per_s, mbu;
    double prefill_cycles[PHASE_COUNT], decode_cycles[PHASE_COUNT]; /* decode: mean per step */
    double prefill_total_cycles, decode_total_cycles;
    uint64_t weight_bytes;
    SramPeak sram;                  /* the fullest tile at its peak */
    uint64_t *mem_tile, *mem_chip;  /* (mem_npos) bytes live at each program position: the peak tile, chip 0 */
    size_t mem_npos, mem_decode_pos; /* the decode program's positions start at mem_decode_pos */
    uint32_t *tokens;               /* functional runs: (batch, 1 + ndecode) ids; NULL otherwise */
    double speedup_vs_fp16;
} FormatReport;

typedef struct Report {
    cJSON *config;                  /* owned: the resolved configuration echo (may be NULL) */
    FormatReport *f;                /* (n) */
    int n, cap;
} Report;

/* config is taken over (deleted by report_free); may be NULL. */
void report_init(Report *r, cJSON *config);
void report_free(Report *r);
/* Adds one format; chips is the tensor-parallel degree the run used. */
int report_add(Report *r, const RunResult *res, uint32_t batch, uint32_t chips, const IpuArch *arch, IpuErr *err);

const char *report_phase_name(int phase);

/* The readable table. */
void report_print(FILE *f, const Report *r);
/* {"config": ..., "formats": [{format, ..., "prefill": {phase: {cycles, s, pct}}, "decode": ...}]} */
cJSON *report_to_json(const Report *r);
int report_write_json(const Report *r, const char *path, IpuErr *err);
/* Header "format,step,phase,cycles,seconds,percent"; one row per format x
 * step (prefill, decode) x phase, plus a "total" row per step. */
int report_write_csv(const Report *r, const char *path, IpuErr *err);
/* The same CSV as malloc'ed text (*len bytes); NULL when out of memory. */
char *report_csv_text(const Report *r, size_t *len);

/* Plots into dir, atomically (sim/fileio.h: built in a temp sibling folder,
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
