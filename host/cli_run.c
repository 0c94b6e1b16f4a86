/* cli_run.c - `ipusim run` and `ipusim compare`: resolve a RunConfig, run
 * gptj_run once per weight format, and report (table, JSON, CSVs, traces,
 * plots, the roofline). stdout carries only the requested output (the
 * table, or the JSON); every message (files written, traces, the memory
 * report with --json) goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "host/cli.h"
#include "host/cli_logits.h"
#include "host/gptj_run.h"
#include "host/progress.h"
#include "host/report.h"
#include "host/roofline.h"
#include "host/runcfg.h"
#include "models/bpe.h"
#include "models/gptj_weights.h"

/* Events kept in a trace; more are counted as dropped (a 6B run has millions). */
#define RUN_TRACE_MAX_EVENTS 400000

enum {
    O_SCENARIO, O_ARCH_FILE, O_SET, O_JSON, O_CSV, O_TRACE, O_PLOT, O_OUT, O_ROOFLINE, O_ROOFLINE_BATCHES,
    O_MEMORY_REPORT, O_IDS, O_IDS_FILE, O_LOGITS, O_LOGITS_ALL, O_TEACHER, O_TEACHER_FILE, O_LIST_KEYS,
    O_PRINT_CONFIG, O_HELP, O_COUNT
};

static void usage(FILE *f, const char *cmd, const CliOpt *opts)
{
    if (!strcmp(cmd, "compare"))
        fprintf(f, "usage: ipusim compare [options]\n"
                   "  GPT-J 6B, timing mode, pod4, prompt 512, 20 generated tokens, batch 1, fp16 against q4g:64;\n"
                   "  table on stdout; report.json, report.csv, report_summary.csv, config.conf and plots in the\n"
                   "  out folder (default out/).\n");
    else
        fprintf(f, "usage: ipusim run [options]\n"
                   "  runs GPT-J once per weight format of the configuration and prints the report.\n");
    cli_print_options(f, opts, O_COUNT);
}

/* (batch, n) ids: the given ones (ids->n = n) in every row, or a
 * deterministic sequence inside the GPT-2 range; n > 0. */
static uint32_t *make_rows(const RunConfig *rc, const CliIds *ids, uint32_t n, IpuErr *err)
{
    uint32_t *p = malloc((size_t)rc->batch * n * sizeof *p);
    if (!p) {
        ipu_err(err, "out of memory for the ids");
        return NULL;
    }
    uint32_t vocab = (uint32_t)rc->cfg.vocab_size < 50257u ? (uint32_t)rc->cfg.vocab_size : 50257u;
    for (uint32_t b = 0; b < rc->batch; b++)
        for (uint32_t i = 0; i < n; i++)
            p[(size_t)b * n + i] = ids->n ? ids->ids[i] : (1000u + 37u * i + 101u * b) % vocab;
    return p;
}

/* Prints each sequence's generated ids and, with a vocabulary, their text. */
static void print_tokens(const FormatReport *f, Bpe *bpe)
{
    uint32_t n = f->ndecode + 1;
    for (uint32_t b = 0; b < f->batch; b++) {
        char label[64];
        snprintf(label, sizeof label, "%-8s seq %u", f->format, b);
        cli_print_ids(stdout, label, f->tokens + (size_t)b * n, n, bpe);
    }
}

/* Files an output folder owns (fileio_dir_commit replaces and removes these only). */
static const char *const compare_files[] = {"config.conf", "report.json", "report.csv", "report_summary.csv",
                                            "breakdown.*", "groups.*", "formats.*", "memory.*", "roofline.*", NULL};
static const char *const plot_files[] = {"breakdown.*", "groups.*", "formats.*", "memory.*", "roofline.*", NULL};
static const char *const roofline_files[] = {"roofline.*", NULL};

/* What is written where: every output is staged (temp files and folders,
 * complete and synced), then all are renamed into place, so a failure
 * leaves none. */
typedef struct RunOut {
    FileioFile csv, summary, traces[RUNCFG_MAX_FORMATS], logits[RUNCFG_MAX_FORMATS];
    FileioDir plot, cmp, roof; /* roof: the out folder, for `run --roofline` without --plot */
    char plot_names[512], cmp_names[512], roof_names[64];
} RunOut;

static void run_out_abort(RunOut *o)
{
    fileio_file_abort(&o->csv);
    fileio_file_abort(&o->summary);
    for (int i = 0; i < RUNCFG_MAX_FORMATS; i++)
        fileio_file_abort(&o->traces[i]), fileio_file_abort(&o->logits[i]);
    fileio_dir_abort(&o->plot);
    fileio_dir_abort(&o->cmp);
    fileio_dir_abort(&o->roof);
}

/* What a functional run is fed and what it hands back (run_formats). */
typedef struct RunFeed {
    const uint32_t *prompt;  /* (batch, prompt_len); NULL in timing mode */
    const uint32_t *teacher; /* (batch, gen_tokens) --teacher-force, or NULL */
    RunLogits logits;        /* --logits / --logits-all */
    const char *logits_path; /* --logits FILE, or NULL */
    const char *trace_path;  /* --trace FILE, or NULL */
    FILE *memory_report;     /* where to print each format's ten fullest tiles (NULL: nowhere) */
} RunFeed;

/* Format i's trace and logits staged into o (written, fsync'ed, not yet
 * renamed into place) so that all outputs appear together at the end. */
static int stage_format(const RunConfig *rc, const RunFeed *fd, int i, const char *format, Trace *t,
                        const RunResult *res, RunOut *o, IpuErr *err)
{
    char path[RUNCFG_TEXT_BYTES + 64];
    if (t) {
        cli_format_name(fd->trace_path, format, rc->nformats > 1, path, sizeof path);
        if (fileio_file_open(&o->traces[i], path, err))
            return ipu_err_prefix(err, "trace");
        trace_write_stream(t, o->traces[i].f);
        if (fileio_file_close(&o->traces[i], err))
            return ipu_err_prefix(err, "trace");
        fprintf(stderr, "trace: %s (%zu events; %llu later ones dropped beyond the limit of %d)\n", path, t->count,
                (unsigned long long)t->dropped, RUN_TRACE_MAX_EVENTS);
    }
    if (!fd->logits_path)
        return 0;
    cli_format_name(fd->logits_path, format, rc->nformats > 1, path, sizeof path);
    if (cli_logits_stage(&o->logits[i], path, res->logits, rc->batch, res->logits_positions,
                         (uint32_t)rc->cfg.vocab_size, fd->logits == RUN_LOGITS_ALL, err))
        return ipu_err_prefix(err, "--logits");
    return 0;
}

/* Runs each format (run_formats: with a progress line), its outputs staged
 * into o (NULL: none, for --roofline-batches' extra runs).
 * A format whose run fails (it does not fit, a group size that does not
 * divide) is recorded in rep->failed and the others still run; an error
 * only when none ran, or on an output's failure. */
static int run_formats_progress(const RunConfig *rc, const GptjWeights *w, const RunFeed *fd, Report *rep, RunOut *o,
                                Progress *pr, IpuErr *err)
{
    for (int i = 0; i < rc->nformats; i++) {
        RunOptions opt;
        if (runcfg_options(rc, i, &opt, err))
            return -1;
        opt.teacher = fd->teacher, opt.logits = fd->logits;
        Trace *t = NULL;
        if (fd->trace_path && !(t = trace_create(rc->arch.clock_hz, RUN_TRACE_MAX_EVENTS)))
            return ipu_err(err, "out of memory for the trace");
        RunResult res;
        memset(&res, 0, sizeof res);
        int rv = gptj_run(&rc->arch, &opt, w, fd->prompt, t, &res, err);
        if (rv) {
            char spec[32];
            quant_spec_format(&rc->specs[i], spec, sizeof spec);
            trace_destroy(t);
            run_result_free(&res);
            if (report_add_failure(rep, spec, err->msg, err))
                return -1;
            progress_update(pr, (size_t)i + 1, (size_t)rep->nfailed);
            continue;
        }
        rv = report_add(rep, &res, rc->batch, rc->chips_used, &rc->arch, err);
        if (rv == 0 && fd->memory_report)
            fprintf(fd->memory_report, "memory layout, %s: the ten fullest tiles at their peaks\n%s\n", res.format,
                    res.memory_report);
        if (rv == 0 && o)
            rv = stage_format(rc, fd, i, rep->f[rep->n - 1].format, t, &res, o, err);
        trace_destroy(t);
        run_result_free(&res);
        if (rv) {
            char spec[32];
            quant_spec_format(&rc->specs[i], spec, sizeof spec);
            return ipu_err_prefix(err, "format %s", spec);
        }
        progress_update(pr, (size_t)i + 1, (size_t)rep->nfailed);
    }
    if (rep->n == 0 && rep->nfailed) /* the first failure is the message */
        return ipu_err(err, "format %s: %s", rep->failed[0].format, rep->failed[0].message);
    return 0;
}

static int run_formats(const RunConfig *rc, const GptjWeights *w, const RunFeed *fd, Report *rep, RunOut *o,
                       IpuErr *err)
{
    Progress pr; /* on a terminal only, and not for --roofline-batches' extra runs (o NULL) */
    progress_init(&pr, stderr, "formats", (size_t)rc->nformats, 0, o == NULL);
    progress_update(&pr, 0, 0);
    int rv = run_formats_progress(rc, w, fd, rep, o, &pr, err);
    progress_finish(&pr);
    return rv;
}

/* The most batch sizes --roofline-batches takes. */
#define RUN_ROOFLINE_MAX_BATCHES 16

/* The report as JSON text, with the roofline when there is one (NULL: out of memory). */
static char *json_text(const Report *rep, const Roofline *rl)
{
    cJSON *j = report_to_json(rep);
    if (rl)
        cJSON_AddItemToObject(j, "roofline", roofline_to_json(rl));
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *t = malloc(n + 2);
    if (t)
        memcpy(t, s, n), t[n] = '\n', t[n + 1] = '\0';
    cJSON_free(s);
    return t;
}

/* Stages text as a file at path (for commit with the other outputs). */
static int stage_text(FileioFile *f, const char *path, char *text, size_t len, IpuErr *err)
{
    int rv = text ? fileio_file_stage(f, path, text, len, err) : ipu_err(err, "'%s': out of memory", path);
    free(text);
    return rv;
}

/* roofline.EXT into dir, its name appended to names (";"-separated). */
static int roofline_into(const Roofline *rl, const Report *rep, const char *dir, char *names, size_t cap, IpuErr *err)
{
    char name[64];
    if (roofline_plot_into(rl, rep, dir, name, sizeof name, err))
        return -1;
    size_t n = strlen(names);
    if (snprintf(names + n, cap - n, "%s%s", n ? ";" : "", name) >= (int)(cap - n))
        return ipu_err(err, "roofline: the list of plot names is too long");
    return 0;
}

/* Writes text (len bytes, malloc'ed; NULL: out of memory) to dir/name and frees it. */
static int write_text(const char *dir, const char *name, char *text, size_t len, IpuErr *err)
{
    char path[RUNCFG_TEXT_BYTES + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rv = text ? fileio_write(path, text, len, err) : ipu_err(err, "'%s': out of memory", path);
    free(text);
    return rv;
}

/* The compare folder's files into dir (a FileioDir's temp folder). */
static int compare_files_into(const RunConfig *rc, const Report *rep, const Roofline *rl, const char *dir,
                              char *names, size_t cap, IpuErr *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&text, &len);
    if (!mf)
        return ipu_err(err, "out of memory");
    runcfg_print(mf, rc);
    fclose(mf);
    if (write_text(dir, "config.conf", text, len, err))
        return -1;
    text = json_text(rep, rl);
    if (write_text(dir, "report.json", text, text ? strlen(text) : 0, err))
        return -1;
    text = report_csv_text(rep, &len);
    if (write_text(dir, "report.csv", text, len, err))
        return -1;
    text = report_summary_csv_text(rep, &len);
    if (write_text(dir, "report_summary.csv", text, len, err) || report_plot_into(rep, dir, names, cap, err))
        return -1;
    return rl ? roofline_into(rl, rep, dir, names, cap, err) : 0;
}

static void print_config_line(const RunConfig *rc)
{
    printf("run: model %s, arch %s, %u chips, batch %u, prompt %u, generate %u, seq %u, weights %s, placement %s, "
           "kv_cache %s, overlap %s, partials %s, scheme %s, decompress %s",
           rc->model, rc->arch_name, rc->chips_used, rc->batch, rc->prompt_len, rc->gen_tokens, rc->seq_len_used,
           rc->weights == RUN_WEIGHTS_NONE ? "none (timing)" : rc->weights == RUN_WEIGHTS_SYNTHETIC ? "synthetic" : "checkpoint",
           runcfg_placement_name(rc->placement), rc->kv_cache ? "on" : "off", rc->overlap ? "on" : "off",
           rc->partials ? "fp32" : "fp16", rc->scheme == SCHEME_GRAPHCORE ? "graphcore" : "ipusim",
           rc->scheme == SCHEME_GRAPHCORE ? "(not used: Graphcore's unpack + broadcast ops)"
           : rc->decompress[0]            ? rc->decompress
                                          : "(default)");
    for (int i = 0; i < rc->narch_sets; i++)
        printf(", arch.%s=%s", rc->arch_sets[i].key, rc->arch_sets[i].value);
    printf("\n\n");
}

/* The ids a run is given: the prompt's (--ids, --ids-file or key 'prompt')
 * and the continuation's (--teacher-force[-file]). */
typedef struct RunIds {
    CliIds prompt, teacher;
} RunIds;

/* The configuration from the defaults, --scenario, --arch-file, --set and
 * --out, in that order, with the prompt's tokens; the id counts set
 * prompt_len and gen_tokens; resolved. 0, or 1 (input) or 2 (usage) with
 * err filled. */
static int load_config(RunConfig *rc, const CliOpt *opts, RunIds *ids, IpuErr *err)
{
    for (int i = 0; i < opts[O_SCENARIO].count; i++)
        if (runcfg_load_file(rc, opts[O_SCENARIO].values[i], err))
            return 1;
    for (int i = 0; i < opts[O_ARCH_FILE].count; i++)
        if (runcfg_load_arch_file(rc, opts[O_ARCH_FILE].values[i], err))
            return 1;
    for (int i = 0; i < opts[O_SET].count; i++)
        if (runcfg_set_kv(rc, opts[O_SET].values[i], "--set", err))
            return 1;
    if (opts[O_OUT].count && runcfg_set(rc, "out", cli_value(&opts[O_OUT], ""), "--out", err))
        return 1;
    if (ids->prompt.n && rc->prompt[0]) {
        ipu_err(err, "%s and key 'prompt' both give the prompt: give one of them", ids->prompt.what);
        return 2;
    }
    if (rc->prompt[0] && cli_ids_from_text(rc->prompt, strlen(rc->prompt), NULL, "key 'prompt'", &ids->prompt, err))
        return 1;
    const CliIds *counted[2] = {&ids->prompt, &ids->teacher};
    static const char *const keys[2] = {"prompt_len", "gen_tokens"};
    for (int k = 0; k < 2; k++) {
        char n[32], src[64];
        snprintf(n, sizeof n, "%zu", counted[k]->n);
        snprintf(src, sizeof src, "%s (its id count)", counted[k]->what);
        if (counted[k]->n && runcfg_set(rc, keys[k], n, src, err))
            return 1;
    }
    if (runcfg_finish(rc, err))
        return 1;
    if ((opts[O_LOGITS].count || ids->teacher.n) && rc->weights == RUN_WEIGHTS_NONE) {
        ipu_err(err, "%s needs functional mode, and weights = none is timing mode (no arithmetic): set "
                     "weights=synthetic or weights=checkpoint",
                opts[O_LOGITS].count ? "--logits" : ids->teacher.what);
        return 2;
    }
    return cli_ids_check(&ids->prompt, rc->cfg.vocab_size, rc->model, err) ||
                   cli_ids_check(&ids->teacher, rc->cfg.vocab_size, rc->model, err)
               ? 1
               : 0;
}

/* Output names are checked before any work, so a bad one writes nothing. */
static int check_outputs(const RunConfig *rc, const CliOpt *opts, int compare, IpuErr *err)
{
    const char *plot_dir = cli_value(&opts[O_PLOT], NULL);
    if (plot_dir && report_check_folder(plot_dir, err))
        return ipu_err_prefix(err, "--plot");
    if ((compare || (opts[O_ROOFLINE].count && !plot_dir)) && report_check_folder(rc->out, err))
        return ipu_err_prefix(err, "key 'out'");
    static const int file_opts[] = {O_CSV, O_TRACE, O_LOGITS};
    for (int k = 0; k < 3; k++)
        if (opts[file_opts[k]].count && !cli_value(&opts[file_opts[k]], "")[0])
            return ipu_err(err, "--%s: empty file name", opts[file_opts[k]].name);
    return 0;
}

/* --roofline-batches LIST: comma-separated batch sizes; 0 or -1 after a usage message. */
static int parse_batches(const char *cmd, const char *list, uint32_t *b, int *n)
{
    char buf[256];
    *n = 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (cli_long(cmd, "roofline-batches", tok, 1, 1 << 16, &v))
            return -1;
        if (*n == RUN_ROOFLINE_MAX_BATCHES) {
            fprintf(stderr, "ipusim %s: --roofline-batches: at most %d batch sizes\n", cmd, RUN_ROOFLINE_MAX_BATCHES);
            return -1;
        }
        b[(*n)++] = (uint32_t)v;
    }
    if (!*n) {
        fprintf(stderr, "ipusim %s: --roofline-batches '%s': give batch sizes, e.g. 1,4,16\n", cmd, list);
        return -1;
    }
    return 0;
}

static RooflineShape shape_of(const RunConfig *rc)
{
    return (RooflineShape){rc->cfg, rc->prompt_len, rc->seq_len_used, rc->kv_cache};
}

/* The roofline of the run in rep, and of the same configuration at each
 * other batch size in b (timing mode: the cycles functional runs give). */
static int build_roofline(const RunConfig *rc, const Report *rep, const uint32_t *b, int nb, Roofline *rl, IpuErr *err)
{
    roofline_init(rl, &rc->arch, rc->chips_used);
    RooflineShape shape = shape_of(rc);
    if (roofline_add(rl, rep, &shape, err))
        return -1;
    RunConfig *rb = malloc(sizeof *rb);
    if (!rb)
        return ipu_err(err, "out of memory");
    int rv = 0;
    for (int i = 0; i < nb && !rv; i++) {
        int seen = b[i] == rc->batch;
        for (int j = 0; j < i; j++)
            seen |= b[j] == b[i];
        if (seen)
            continue;
        char v[16];
        snprintf(v, sizeof v, "%u", b[i]);
        *rb = *rc;
        rb->weights = RUN_WEIGHTS_NONE;
        Report extra;
        RunFeed none = {0};
        report_init(&extra, NULL);
        rv = runcfg_set(rb, "batch", v, "--roofline-batches", err) || runcfg_finish(rb, err) ||
                     run_formats(rb, NULL, &none, &extra, NULL, err)
                 ? -1
                 : 0;
        shape = shape_of(rb);
        if (!rv)
            rv = roofline_add(rl, &extra, &shape, err);
        else
            ipu_err_prefix(err, "--roofline-batches: batch %u", b[i]);
        report_free(&extra);
    }
    free(rb);
    return rv;
}

/* stdout: the JSON, or the table (then the roofline, then any generated tokens). */
static int print_results(const RunConfig *rc, const Report *rep, const Roofline *rl, int json, int teacher, Bpe **bpe,
                         IpuErr *err)
{
    if (json) {
        char *s = json_text(rep, rl);
        if (!s)
            return ipu_err(err, "out of memory printing JSON");
        fputs(s, stdout);
        free(s);
        return 0;
    }
    print_config_line(rc);
    report_print(stdout, rep);
    if (rl)
        roofline_print(stdout, rl);
    if (rc->weights != RUN_WEIGHTS_NONE) {
        char dir[BPE_PATH_BYTES];
        IpuErr e2;
        *bpe = bpe_find_vocab(NULL, dir, sizeof dir, &e2) ? NULL : bpe_create(dir, &e2);
        printf("\n%s%s:\n", teacher ? "tokens (teacher-forced: the given continuation)" : "generated tokens (greedy)",
               *bpe ? "" : " (no GPT-2 vocabulary found: ids only)");
        for (int i = 0; i < rep->n; i++)
            print_tokens(&rep->f[i], *bpe);
    }
    return 0;
}

/* Stages every output but the traces (staged by run_formats). */
static int stage_outputs(const RunConfig *rc, const CliOpt *opts, int compare, const Report *rep, const Roofline *rl,
                         RunOut *o, IpuErr *err)
{
    if (opts[O_CSV].count) {
        const char *path = cli_value(&opts[O_CSV], "");
        char spath[RUNCFG_TEXT_BYTES + 16];
        size_t len = 0;
        report_summary_path(path, spath, sizeof spath);
        char *csv = report_csv_text(rep, &len);
        if (stage_text(&o->csv, path, csv, len, err))
            return -1;
        char *summary = report_summary_csv_text(rep, &len);
        if (stage_text(&o->summary, spath, summary, len, err))
            return -1;
    }
    const char *plot_dir = cli_value(&opts[O_PLOT], NULL);
    if (plot_dir && (fileio_dir_begin(&o->plot, plot_dir, err) ||
                     report_plot_into(rep, o->plot.tmp, o->plot_names, sizeof o->plot_names, err) ||
                     (rl && roofline_into(rl, rep, o->plot.tmp, o->plot_names, sizeof o->plot_names, err))))
        return -1;
    if (compare && (fileio_dir_begin(&o->cmp, rc->out, err) ||
                    compare_files_into(rc, rep, rl, o->cmp.tmp, o->cmp_names, sizeof o->cmp_names, err)))
        return -1;
    if (rl && !plot_dir && !compare &&
        (fileio_dir_begin(&o->roof, rc->out, err) ||
         roofline_into(rl, rep, o->roof.tmp, o->roof_names, sizeof o->roof_names, err)))
        return -1;
    return 0;
}

/* Renames every staged output into place; says on stderr what was written. */
static int commit_outputs(const RunConfig *rc, const CliOpt *opts, RunOut *o, IpuErr *err)
{
    char written[4096];
    if (o->csv.tmp && (fileio_file_commit(&o->csv, err) || fileio_file_commit(&o->summary, err)))
        return -1;
    if (opts[O_CSV].count) {
        report_summary_path(cli_value(&opts[O_CSV], ""), written, sizeof written);
        fprintf(stderr, "csv: %s, %s\n", cli_value(&opts[O_CSV], ""), written);
    }
    for (int i = 0; i < rc->nformats; i++) {
        if (o->traces[i].tmp && fileio_file_commit(&o->traces[i], err))
            return -1;
        if (o->logits[i].tmp) {
            snprintf(written, sizeof written, "%s", o->logits[i].path);
            if (fileio_file_commit(&o->logits[i], err))
                return -1;
            fprintf(stderr, "logits: %s\n", written);
        }
    }
    const char *plot_dir = cli_value(&opts[O_PLOT], NULL);
    if (o->plot.tmp) {
        if (fileio_dir_commit(&o->plot, plot_files, err))
            return -1;
        report_join_names(plot_dir, o->plot_names, written, sizeof written);
        fprintf(stderr, "plots: %s\n", written);
    }
    if (o->cmp.tmp) {
        if (fileio_dir_commit(&o->cmp, compare_files, err))
            return -1;
        report_join_names(rc->out, o->cmp_names, written, sizeof written);
        fprintf(stderr, "wrote %s/report.json, %s/report.csv, %s/report_summary.csv, %s/config.conf, %s\n", rc->out,
                rc->out, rc->out, rc->out, written);
    }
    if (o->roof.tmp) {
        if (fileio_dir_commit(&o->roof, roofline_files, err))
            return -1;
        report_join_names(rc->out, o->roof_names, written, sizeof written);
        fprintf(stderr, "roofline: %s\n", written);
    }
    return 0;
}

/* The options of run and compare (copied: cli_parse fills count and values). */
static const CliOpt run_opts[O_COUNT] = {
    {"scenario", 1, "scenario file of `key = value` lines, applied after the defaults; repeatable", 0, {0}},
    {"arch-file", 1, "JSON arch file (as for ipusim arch show): its \"preset\" as key arch, its keys as arch.<key>; "
                     "applied after the scenario. A preset other than one set elsewhere is an error", 0, {0}},
    {"set", 1, "key=value (a run key, or an arch key with or without arch.), applied last; repeatable", 0, {0}},
    {"json", 0, "print the report as JSON on stdout instead of the table (messages go to stderr)", 0, {0}},
    {"csv", 1, "write the per-phase CSV to FILE and the headline figures to FILE_summary (before the extension)",
     0, {0}},
    {"trace", 1, "write the Perfetto trace of the run; with several formats one per format, -FORMAT before the "
                 "extension, ':' as '-' (t.json: t-fp16.json, t-q4g-64.json)", 0, {0}},
    {"plot", 1, "write plots (breakdown, memory, group sizes, roofline) into this folder", 0, {0}},
    {"out", 1, "the out folder (same as --set out=DIR): compare's files; run --roofline's plot without --plot", 0,
     {0}},
    {"roofline", 0, "the roofline: a table (or JSON \"roofline\") and roofline.png in the --plot folder, else the "
                    "out folder", 0, {0}},
    {"roofline-batches", 1, "comma list of batch sizes added to the roofline (runs the configuration at each, "
                            "timing mode); implies --roofline", 0, {0}},
    {"memory-report", 0, "print each format's ten fullest tiles and what is live on each at its peak "
                         "(stderr with --json)", 0, {0}},
    {"ids", 1, "the prompt as token ids (decimal, comma or blank separated, e.g. 464,3290,318), in every sequence "
               "of the batch; prompt_len becomes their count (not with key prompt)", 0, {0}},
    {"ids-file", 1, "the same from a file (ids separated by commas, blanks or newlines)", 0, {0}},
    {"logits", 1, "write the fp32 logits of the last position to FILE.npy, shape (batch, vocab); functional mode; "
                  "with several formats one file per format, -FORMAT before the extension (l-q4g-64.npy)", 0, {0}},
    {"logits-all", 0, "--logits holds every position's logits, shape (batch, prompt_len + gen_tokens - 1, vocab): "
                      "the LM head runs over every prompt row", 0, {0}},
    {"teacher-force", 1, "ids fed to the decode steps instead of the greedy tokens (the logits of a given "
                         "continuation); gen_tokens becomes their count; functional mode", 0, {0}},
    {"teacher-force-file", 1, "the same from a file", 0, {0}},
    {"list-keys", 0, "print the run keys (markdown table) and exit", 0, {0}},
    {"print-config", 0, "print the resolved configuration as a scenario file and exit", 0, {0}},
    {"help", 0, "this help", 0, {0}},
};

/* The functional run's weights, made or mapped lazily (a matrix at a time); none in timing mode. */
static int load_weights(const RunConfig *rc, GptjWeights *w, IpuErr *err)
{
    if (rc->weights == RUN_WEIGHTS_SYNTHETIC)
        return gptj_weights_synth_lazy(w, &rc->cfg, GPTJ_F32, rc->seed, err);
    if (rc->weights == RUN_WEIGHTS_CHECKPOINT)
        return gptj_weights_load_lazy(w, &rc->cfg, rc->checkpoint, GPTJ_F32, 0, err);
    return 0;
}

/* Runs the configuration rc (resolved, with its ids) and writes the
 * outputs: 0; 1 with err filled; -1 when formats failed and were reported
 * (the others' outputs are written). */
static int run_and_report(const char *cmd, RunConfig *rc, const CliOpt *opts, const RunIds *ids, int compare,
                          const uint32_t *batches, int nbatch, IpuErr *err)
{
    int json = opts[O_JSON].count > 0;
    RunOut out;
    memset(&out, 0, sizeof out);
    Report rep;
    report_init(&rep, runcfg_to_json(rc));
    Roofline rl = {0};
    GptjWeights w;
    memset(&w, 0, sizeof w);
    Bpe *bpe = NULL;
    RunFeed fd = {.logits = !opts[O_LOGITS].count      ? RUN_LOGITS_NONE
                            : opts[O_LOGITS_ALL].count ? RUN_LOGITS_ALL
                                                       : RUN_LOGITS_LAST,
                  .logits_path = cli_value(&opts[O_LOGITS], NULL), .trace_path = cli_value(&opts[O_TRACE], NULL),
                  .memory_report = !opts[O_MEMORY_REPORT].count ? NULL : json ? stderr : stdout};
    uint32_t *prompt = make_rows(rc, &ids->prompt, rc->prompt_len, err);
    uint32_t *teacher = ids->teacher.n ? make_rows(rc, &ids->teacher, rc->gen_tokens, err) : NULL;
    fd.prompt = rc->weights == RUN_WEIGHTS_NONE ? NULL : prompt, fd.teacher = teacher;
    int rv = !prompt || (ids->teacher.n && !teacher) || load_weights(rc, &w, err) ||
                     run_formats(rc, rc->weights == RUN_WEIGHTS_NONE ? NULL : &w, &fd, &rep, &out, err) ||
                     (opts[O_ROOFLINE].count && build_roofline(rc, &rep, batches, nbatch, &rl, err))
                 ? 1
                 : 0;
    const Roofline *rlp = opts[O_ROOFLINE].count ? &rl : NULL;
    if (!rv && (print_results(rc, &rep, rlp, json, teacher != NULL, &bpe, err) ||
                stage_outputs(rc, opts, compare, &rep, rlp, &out, err) || commit_outputs(rc, opts, &out, err)))
        rv = 1;
    /* formats that did not run: the others' outputs are written; exit 1 */
    for (int i = 0; !rv && i < rep.nfailed; i++)
        fprintf(stderr, "ipusim %s: format %s: %s\n", cmd, rep.failed[i].format, rep.failed[i].message);
    if (!rv && rep.nfailed)
        rv = -1; /* reported */
    run_out_abort(&out);
    roofline_free(&rl);
    bpe_destroy(bpe);
    free(prompt);
    free(teacher);
    gptj_weights_free(&w);
    report_free(&rep);
    return rv;
}

static int run_main(const char *cmd, int argc, char **argv, int compare)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, run_opts, sizeof opts);
    const char *pos[1];
    int npos, nbatch = 0;
    uint32_t batches[RUN_ROOFLINE_MAX_BATCHES];
    if (cli_parse(cmd, argc, argv, opts, O_COUNT, pos, 0, &npos))
        return 2;
    if (opts[O_HELP].count) {
        usage(stdout, cmd, opts);
        return 0;
    }
    if (opts[O_LIST_KEYS].count) {
        runcfg_print_keys(stdout);
        return 0;
    }
    if (opts[O_ROOFLINE_BATCHES].count) {
        if (parse_batches(cmd, cli_value(&opts[O_ROOFLINE_BATCHES], ""), batches, &nbatch))
            return 2;
        opts[O_ROOFLINE].count = 1;
    }
    RunConfig *rc = malloc(sizeof *rc);
    if (!rc)
        return 1;
    runcfg_init(rc);
    IpuErr err;
    RunIds ids;
    memset(&ids, 0, sizeof ids);
    int status = cli_ids_get(&opts[O_IDS], &opts[O_IDS_FILE], &ids.prompt, &err);
    if (!status)
        status = cli_ids_get(&opts[O_TEACHER], &opts[O_TEACHER_FILE], &ids.teacher, &err);
    if (!status && opts[O_LOGITS_ALL].count && !opts[O_LOGITS].count) {
        ipu_err(&err, "--logits-all needs --logits FILE.npy");
        status = 2;
    }
    if (!status)
        status = load_config(rc, opts, &ids, &err);
    if (!status && check_outputs(rc, opts, compare, &err))
        status = 1;
    if (!status && opts[O_PRINT_CONFIG].count)
        runcfg_print(stdout, rc);
    else if (!status)
        status = run_and_report(cmd, rc, opts, &ids, compare, batches, nbatch, &err);
    if (status > 0) {
        fflush(stdout);
        fprintf(stderr, "ipusim %s: %s\n", cmd, err.msg);
    }
    cli_ids_free(&ids.prompt);
    cli_ids_free(&ids.teacher);
    free(rc);
    return status < 0 ? 1 : status;
}

int cli_run(int argc, char **argv) { return run_main("run", argc, argv, 0); }
int cli_compare(int argc, char **argv) { return run_main("compare", argc, argv, 1); }
