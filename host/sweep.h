/* sweep.h - a design-space sweep: GPT-J in timing mode at many points, one
 * result row per (point, weight format).
 *
 * A Sweep is a base configuration (scenario files, arch files and
 * key=value sets, as for `ipusim run`) and varied keys: each --vary gives one run key or
 * arch.<key> and its values, as a list ("batch=1,4,16"; with a ';' in it the
 * list is split at ';' instead, so a value may hold commas:
 * "formats=fp16,q4g:64;q4g:128") or a range of decimal numbers
 * ("lo:hi:xF", geometric, lo, lo*F, ... <= hi; "lo:hi:+S", arithmetic).
 * The points are the Cartesian product of the varied keys, the first key
 * varying slowest, or with zip the i-th value of every key. sweep_finish
 * checks everything before any run: every key, every value on the base,
 * the ranges, the point count; functional runs (weights, prompt text) are
 * refused. A point whose keys conflict (runcfg_finish) is not a definition
 * error: it becomes an error row, like a point that does not fit.
 *
 * Rows: the varied keys' values, the format, the headline metrics (names
 * carry their units: _s, _bytes, _frac, _tokens_per_s), status (ok or
 * error) and a one-line message; as CSV (results.csv) and as JSON lines
 * with a schema_version (results.jsonl). The text of a row depends only
 * on its numbers, so rows written in point order give the same bytes
 * whatever ran them (threads, ranks, resumed runs).
 *
 * The definition as text (sweep.conf) lets --resume check that a folder
 * holds the same sweep; sweep_resume_rows finds the complete rows of a
 * folder's files.
 *
 * Not here: running the points (sweep_exec.h), plots (sweep_plot.c), the
 * command line (cli_sweep.c).
 */
#ifndef IPUSIM_SWEEP_H
#define IPUSIM_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "host/report.h"
#include "host/run_options.h"
#include "host/runcfg.h"

#define SWEEP_MAX_VARY 16
#define SWEEP_MAX_POINTS 200000      /* rows are kept until written: ~700 bytes each */
#define SWEEP_MAX_VALUES 100000       /* values of one varied key */
#define SWEEP_VALUE_BYTES 256
#define SWEEP_MESSAGE_BYTES 400
#define SWEEP_SCHEMA_VERSION 1

typedef struct SweepVary {
    char key[96];                      /* run key or arch.<key> */
    char *spec;                        /* owned: the values as given */
    char (*values)[SWEEP_VALUE_BYTES]; /* owned: (nvalues) as text */
    size_t nvalues;
} SweepVary;

typedef struct Sweep {
    char **scenarios; /* owned: (nscenarios) paths, applied first */
    int nscenarios;
    char **arch_files; /* owned: (narch_files) JSON arch files (runcfg_load_arch_file), after the scenarios */
    int narch_files;
    char **sets;      /* owned: (nsets) "key=value", applied after the scenarios */
    int nsets;
    SweepVary vary[SWEEP_MAX_VARY];
    int nvary;
    int zip;          /* 1: point i takes value i of every key */
    size_t npoints;   /* set by sweep_finish */
} Sweep;

void sweep_init(Sweep *s);
void sweep_free(Sweep *s);
int sweep_add_scenario(Sweep *s, const char *path, IpuErr *err);
int sweep_add_arch_file(Sweep *s, const char *path, IpuErr *err);
int sweep_add_set(Sweep *s, const char *kv, IpuErr *err);
/* "key=values" (see above); errors name the option, the key and the value. */
int sweep_add_vary(Sweep *s, const char *spec, IpuErr *err);
/* Counts the points and checks the whole definition (see above). */
int sweep_finish(Sweep *s, int zip, IpuErr *err);

/* idx (nvary) = the value index of each varied key at point p < npoints. */
void sweep_point_index(const Sweep *s, size_t p, size_t *idx);
/* rc = the defaults, the scenarios, the sets, then point p's values (not
 * finished: the caller runs runcfg_finish, whose failure is the point's). */
int sweep_point_config(const Sweep *s, size_t p, RunConfig *rc, IpuErr *err);
/* The weight formats of a configuration's formats key, as the report names
 * them ("fp16", "q4g:64"), into names (up to RUNCFG_MAX_FORMATS); their count. */
int sweep_format_names(const RunConfig *rc, char names[][32]);

/* The definition as sweep.conf text (malloc'ed): what --resume compares. */
char *sweep_definition_text(const Sweep *s);

/* One (point, format) result: a row of the files; also what MPI ranks send. */
typedef struct SweepRow {
    uint64_t point;
    int32_t fmt;        /* index among the point's formats */
    int32_t ok;         /* 1 ok, 0 error */
    char format[32];
    char placement[16]; /* stream or resident (what auto chose); "" on error */
    char message[SWEEP_MESSAGE_BYTES]; /* error: one line */
    double bits_per_param, ttft_s, tpot_s, batched_token_s, latency_s, throughput_tokens_per_s, mbu_frac;
    double step_bytes, achieved_bytes_per_s, peak_bytes_per_s, sram_peak_bytes, sram_peak_tile;
    double speedup_vs_fp16, memory_proportion, weight_bytes;
    /* the roofline (host/roofline.h) of the step behind batched_token_s: its
     * matrix products' FLOPs, per byte of step_bytes, per second, and the
     * compute roof of the chips used */
    double step_flops, intensity_flops_per_byte, achieved_flops_per_s, peak_flops_per_s;
    double phase_frac[PHASE_COUNT]; /* shares of the step behind batched_token_s */
} SweepRow;

/* The row of one format's report (ok), or of an error (message made one line). */
void sweep_row_from_report(SweepRow *r, uint64_t point, int fmt, const FormatReport *f);
void sweep_row_error(SweepRow *r, uint64_t point, int fmt, const char *format, const char *message);
/* The roofline fields of an ok row, from the configuration rc ran (finished) and its format report f. */
void sweep_row_roofline(SweepRow *r, const RunConfig *rc, const FormatReport *f);
/* Speedups of a point's rows (n, in format order) against its fp16 row, as report_add does. */
void sweep_rows_speedup(SweepRow *rows, int n);

/* The CSV header line (with '\n'), and one row's CSV and JSONL lines,
 * malloc'ed; NULL when out of memory. */
char *sweep_csv_header(const Sweep *s);
char *sweep_csv_row(const Sweep *s, const SweepRow *r);
char *sweep_jsonl_row(const Sweep *s, const SweepRow *r);

/* The metric columns (after the varied keys, format and placement): name and the row's value. */
size_t sweep_metric_count(void);
const char *sweep_metric_name(size_t i);
double sweep_metric_value(const SweepRow *r, size_t i);

/* Complete lines of text (len bytes) after its first `skip` lines: *lines
 * gets their count, *end the byte offset just past the last one. */
void sweep_complete_lines(const char *text, size_t len, size_t skip, size_t *lines, size_t *end);

#endif
