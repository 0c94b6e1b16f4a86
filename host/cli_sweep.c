/* cli_sweep.c - `ipusim sweep`: a sweep definition from the command line,
 * its output folder (fresh or resumed), the run, the plots. */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "host/cli.h"
#include "host/progress.h"
#include "host/report.h"
#include "host/sweep.h"
#include "host/sweep_exec.h"
#include "host/sweep_plot.h"

enum { O_SCENARIO, O_ARCH_FILE, O_SET, O_VARY, O_ZIP, O_RESUME, O_QUIET, O_THREADS, O_OUT, O_METRIC, O_NO_PLOT, O_HELP, O_COUNT };

#define SWEEP_MAX_RESULTS_BYTES (1ull << 31)

static void usage(FILE *f, const CliOpt *opts)
{
    fprintf(f, "usage: ipusim sweep [--scenario F] [--arch-file F] [--set k=v]... --vary KEY=VALUES... [--zip] [--resume] "
               "--out DIR\n"
               "  runs GPT-J (timing mode) at every point of the varied keys: a run key or arch.<key>, values\n"
               "  v1,v2,... (split at ';' instead when a value holds commas: formats=fp16,q4g:64;q4g:128),\n"
               "  lo:hi:xF (geometric) or lo:hi:+S (arithmetic). One row per point and format in\n"
               "  DIR/results.csv and DIR/results.jsonl, the definition in DIR/sweep.conf, plots in DIR/plots.\n"
               "  Under mpirun the points are split over the ranks (docs/user-guide.md, \"Sweeps\").\n");
    cli_print_options(f, opts, O_COUNT);
}

/* First differing line of two texts, for the resume error. */
static void first_difference(const char *a, const char *b, char *out, size_t cap)
{
    int line = 1;
    while (*a && *a == *b) {
        line += *a == '\n';
        a++, b++;
    }
    while (line > 1 && a[-1] != '\n')
        a--, b--;
    snprintf(out, cap, "line %d: '%.*s' in the folder, '%.*s' given", line, (int)strcspn(a, "\n"), a,
             (int)strcspn(b, "\n"), b);
}

static int path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Truncates path to len bytes, after checking its first line is header (when given). */
static int cut_file(const char *path, const char *header, size_t rows, size_t *have, IpuErr *err)
{
    char *text = NULL;
    size_t len = 0;
    if (fileio_read(path, "sweep results", SWEEP_MAX_RESULTS_BYTES, &text, &len, err))
        return -1;
    size_t skip = header ? 1 : 0, lines, end;
    if (header && (len < strlen(header) || memcmp(text, header, strlen(header)))) {
        free(text);
        return ipu_err(err, "'%s': its header is not this sweep's columns", path);
    }
    sweep_complete_lines(text, len, skip, &lines, &end);
    if (have) { /* first call: only count */
        *have = lines;
        free(text);
        return 0;
    }
    /* keep the header and `rows` lines */
    size_t off = 0, seen = 0;
    for (size_t i = 0; i < len && seen < skip + rows; i++)
        if (text[i] == '\n')
            seen++, off = i + 1;
    free(text);
    if (truncate(path, (off_t)off))
        return ipu_err(err, "'%s': cannot cut it to its complete rows: %s", path, strerror(errno));
    return 0;
}

/* Prepares DIR (rank 0): a new sweep's files, or a resumed one's checked
 * and cut to the whole points they hold; *first = the next point to run. */
static int prepare_dir(const Sweep *s, const char *dir, int resume, size_t *first, IpuErr *err)
{
    char conf[1100], csv[1100], jsonl[1100];
    snprintf(conf, sizeof conf, "%s/sweep.conf", dir);
    snprintf(csv, sizeof csv, "%s/results.csv", dir);
    snprintf(jsonl, sizeof jsonl, "%s/results.jsonl", dir);
    char *def = sweep_definition_text(s), *header = sweep_csv_header(s), *old = NULL;
    int rv = def && header ? 0 : ipu_err(err, "out of memory");
    *first = 0;
    if (!rv && path_exists(conf)) {
        if (!resume)
            rv = ipu_err(err, "--out %s: holds a sweep already (sweep.conf); --resume continues it, or give another folder",
                         dir);
        else if (!(rv = fileio_read(conf, "sweep definition", FILEIO_CONFIG_MAX_BYTES, &old, NULL, err)) &&
                 strcmp(old, def)) {
            char diff[600];
            first_difference(old, def, diff, sizeof diff);
            rv = ipu_err(err, "--resume: '%s' defines another sweep (%s); give the same options or another --out", conf,
                         diff);
        }
        size_t ncsv = 0, njsonl = 0, points = 0, rows = 0;
        if (!rv && path_exists(csv) && path_exists(jsonl) && !(rv = cut_file(csv, header, 0, &ncsv, err)) &&
            !(rv = cut_file(jsonl, NULL, 0, &njsonl, err)) &&
            !(rv = sweep_points_in_rows(s, ncsv < njsonl ? ncsv : njsonl, &points, &rows, err)) &&
            !(rv = cut_file(csv, header, rows, NULL, err)))
            rv = cut_file(jsonl, NULL, rows, NULL, err);
        if (!rv && (!path_exists(csv) || !path_exists(jsonl)))
            rv = fileio_write(csv, header, strlen(header), err) || fileio_write(jsonl, "", 0, err) ? -1 : 0;
        *first = points;
    } else if (!rv) {
        if (path_exists(csv) || path_exists(jsonl))
            rv = ipu_err(err, "--out %s: holds results.csv or results.jsonl but no sweep.conf; give another folder", dir);
        else if (!(rv = fileio_mkdirs(dir, err)))
            rv = fileio_write(conf, def, strlen(def), err) || fileio_write(csv, header, strlen(header), err) ||
                         fileio_write(jsonl, "", 0, err)
                     ? -1
                     : 0;
    }
    free(def), free(header), free(old);
    return rv;
}

/* The whole run on rank 0 or another rank; status 0 / 1. */
static int sweep_main(Sweep *s, const CliOpt *opts, int threads, const SweepTransport *t)
{
    const char *dir = cli_value(&opts[O_OUT], "");
    const char *metric = cli_value(&opts[O_METRIC], "batched_token_s");
    int rank0 = !t || t->rank == 0;
    IpuErr err;
    int64_t first = -1;
    FILE *csv = NULL, *jsonl = NULL;
    if (rank0) {
        size_t f;
        if (prepare_dir(s, dir, opts[O_RESUME].count > 0, &f, &err) == 0) {
            char p1[1100], p2[1100];
            snprintf(p1, sizeof p1, "%s/results.csv", dir);
            snprintf(p2, sizeof p2, "%s/results.jsonl", dir);
            csv = fopen(p1, "a"), jsonl = fopen(p2, "a");
            if (csv && jsonl)
                first = (int64_t)f;
            else
                ipu_err(&err, "'%s': cannot append: %s", csv ? p2 : p1, strerror(errno));
        }
    }
    if (t && t->size > 1 && t->bcast(t->ctx, &first, sizeof first))
        first = -1, ipu_err(&err, "MPI broadcast failed");
    int status = 1;
    if (first < 0) {
        if (rank0)
            fprintf(stderr, "ipusim sweep: %s\n", err.msg);
        goto done;
    }
    Progress pr;
    progress_init(&pr, stderr, "points", s->npoints, (size_t)first, opts[O_QUIET].count > 0 || !rank0);
    SweepRunOptions ro = {threads, (size_t)first, csv, jsonl, rank0 ? &pr : NULL, t};
    SweepStats st;
    double t0 = cli_now_s();
    if (sweep_run(s, &ro, &st, &err)) {
        progress_finish(&pr);
        fprintf(stderr, "ipusim sweep: rank %d: %s\n", t ? t->rank : 0, err.msg);
        if (t && t->size > 1)
            t->abort(t->ctx, 1); /* the others would wait for this rank */
        goto done;
    }
    progress_finish(&pr);
    if (!rank0) {
        status = 0;
        goto done;
    }
    int bad = fclose(csv) | fclose(jsonl);
    csv = jsonl = NULL;
    if (bad) {
        fprintf(stderr, "ipusim sweep: closing the results: %s\n", strerror(errno));
        goto done;
    }
    if (!opts[O_QUIET].count)
        fprintf(stderr, "sweep: %zu points run (%zu before), %zu with errors, %zu lowerings on rank 0, %.1f s; %s/results.csv, "
                        "%s/results.jsonl\n",
                st.points, (size_t)first, st.failed_points, st.lowerings, cli_now_s() - t0, dir, dir);
    char names[2048];
    if (!opts[O_NO_PLOT].count) {
        if (sweep_plot(s, dir, metric, names, sizeof names, &err)) {
            fprintf(stderr, "ipusim sweep: %s (the results are complete)\n", err.msg);
            goto done;
        }
        if (!opts[O_QUIET].count)
            fprintf(stderr, "plots in %s: %s\n", dir, names);
    }
    status = 0;
done:
    if (csv)
        fclose(csv);
    if (jsonl)
        fclose(jsonl);
    return status;
}

int cli_sweep_with(int argc, char **argv, const SweepTransport *t)
{
    CliOpt opts[O_COUNT] = {
        {"scenario", 1, "scenario file of `key = value` lines, applied first (repeatable)", 0, {0}},
        {"arch-file", 1, "JSON arch file, as for ipusim run (its preset and keys), after the scenarios", 0, {0}},
        {"set", 1, "key=value (run key, or arch key with or without arch.) for every point; repeatable", 0, {0}},
        {"vary", 1, "KEY=v1,v2,... | KEY=a;b;... | KEY=lo:hi:xF | KEY=lo:hi:+S: a varied key; repeatable", 0, {0}},
        {"zip", 0, "point i takes the i-th value of every varied key (default: every combination)", 0, {0}},
        {"resume", 0, "continue the sweep in --out: skip the points it holds (the definition must match)", 0, {0}},
        {"quiet", 0, "no progress line and no summary on stderr", 0, {0}},
        {"threads", 1, "points run in parallel on this many threads (default: OpenMP's, i.e. the cores)", 0, {0}},
        {"out", 1, "the folder of sweep.conf, results.csv, results.jsonl and plots/ (required)", 0, {0}},
        {"metric", 1, "the metric of the plots against each key (a results column; default batched_token_s)", 0, {0}},
        {"no-plot", 0, "write no plots", 0, {0}},
        {"help", 0, "this help", 0, {0}},
    };
    const char *pos[1];
    int npos;
    if (cli_parse("sweep", argc, argv, opts, O_COUNT, pos, 0, &npos))
        return 2;
    if (opts[O_HELP].count) {
        usage(stdout, opts);
        return 0;
    }
    int rank0 = !t || t->rank == 0;
    if (!opts[O_OUT].count || !opts[O_VARY].count) {
        if (rank0)
            fprintf(stderr, "ipusim sweep: --out DIR and at least one --vary are required (ipusim sweep --help)\n");
        return 2;
    }
    long threads = omp_get_max_threads();
    if (opts[O_THREADS].count && cli_long("sweep", "threads", cli_value(&opts[O_THREADS], ""), 1, 1024, &threads))
        return 2;
    const char *metric = cli_value(&opts[O_METRIC], "batched_token_s");
    int known = 0;
    for (size_t i = 0; i < sweep_metric_count(); i++)
        known |= !strcmp(sweep_metric_name(i), metric);
    if (!known) {
        if (rank0)
            fprintf(stderr, "ipusim sweep: --metric '%s': not a metric column (ttft_s, tpot_s, batched_token_s, mbu_frac, ...)\n",
                    metric);
        return 2;
    }
    Sweep s;
    sweep_init(&s);
    IpuErr err;
    int rv = 0;
    for (int i = 0; i < opts[O_SCENARIO].count && !rv; i++)
        rv = sweep_add_scenario(&s, opts[O_SCENARIO].values[i], &err);
    for (int i = 0; i < opts[O_ARCH_FILE].count && !rv; i++)
        rv = sweep_add_arch_file(&s, opts[O_ARCH_FILE].values[i], &err);
    for (int i = 0; i < opts[O_SET].count && !rv; i++)
        rv = sweep_add_set(&s, opts[O_SET].values[i], &err);
    for (int i = 0; i < opts[O_VARY].count && !rv; i++)
        rv = sweep_add_vary(&s, opts[O_VARY].values[i], &err);
    if (!rv)
        rv = sweep_finish(&s, opts[O_ZIP].count > 0, &err);
    if (!rv && report_check_folder(cli_value(&opts[O_OUT], ""), &err))
        rv = ipu_err_prefix(&err, "--out");
    int status = 1;
    if (rv)
        fprintf(stderr, "ipusim sweep%s: %s\n", rank0 ? "" : " (a rank other than 0)", err.msg);
    /* every rank checked the same definition; a file one node lacks fails them all */
    int all_ok = t && t->size > 1 ? t->agree(t->ctx, !rv) : !rv;
    if (all_ok == 1)
        status = sweep_main(&s, opts, (int)threads, t);
    sweep_free(&s);
    return status;
}

int cli_sweep(int argc, char **argv) { return cli_sweep_with(argc, argv, NULL); }
