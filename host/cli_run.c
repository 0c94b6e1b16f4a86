/* cli_run.c - `ipusim run` and `ipusim compare`: resolve a RunConfig, run
 * gptj_run once per weight format, and report (table, JSON, CSV, trace, plots). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli.h"
#include "host/gptj_run.h"
#include "host/report.h"
#include "host/runcfg.h"
#include "models/bpe.h"
#include "models/gptj_weights.h"
#include "sim/fileio.h"

/* Events kept in a trace; more are counted as dropped (a 6B run has millions). */
#define RUN_TRACE_MAX_EVENTS 400000

enum { O_SCENARIO, O_SET, O_JSON, O_CSV, O_TRACE, O_PLOT, O_OUT, O_MEMORY_REPORT, O_LIST_KEYS, O_PRINT_CONFIG, O_HELP, O_COUNT };

static void usage(FILE *f, const char *cmd, const CliOpt *opts)
{
    if (!strcmp(cmd, "compare"))
        fprintf(f, "usage: ipusim compare [options]\n"
                   "  GPT-J 6B, timing mode, pod4, prompt 512, 20 generated tokens, batch 1, fp16 against q4g:64;\n"
                   "  table on stdout, report.json, report.csv, config.conf and plots in the out folder (default out/).\n");
    else
        fprintf(f, "usage: ipusim run [options]\n"
                   "  runs GPT-J once per weight format of the configuration and prints the report.\n");
    cli_print_options(f, opts, O_COUNT);
}

/* Tokenizes the prompt text into rc->prompt_len ids (set before runcfg_finish). */
static int prompt_ids(RunConfig *rc, BpeIds *ids, IpuErr *err)
{
    char dir[BPE_PATH_BYTES];
    if (bpe_find_vocab(NULL, dir, sizeof dir, err))
        return ipu_err_prefix(err, "key 'prompt' needs the GPT-2 vocabulary (scripts/setup)");
    Bpe *b = bpe_create(dir, err);
    if (!b)
        return -1;
    int rv = bpe_encode(b, rc->prompt, strlen(rc->prompt), 0, ids, err);
    bpe_destroy(b);
    if (rv)
        return ipu_err_prefix(err, "key 'prompt'");
    if (ids->n == 0)
        return ipu_err(err, "key 'prompt': the text has no tokens");
    char n[32];
    snprintf(n, sizeof n, "%zu", ids->n);
    return runcfg_set(rc, "prompt_len", n, "key 'prompt' (its token count)", err);
}

/* (batch, prompt_len) ids: the prompt text's in every row, or a
 * deterministic sequence inside the GPT-2 range. */
static uint32_t *make_prompt(const RunConfig *rc, const BpeIds *ids, IpuErr *err)
{
    size_t n = (size_t)rc->batch * rc->prompt_len;
    uint32_t *p = malloc(n * sizeof *p);
    if (!p) {
        ipu_err(err, "out of memory for the prompt");
        return NULL;
    }
    uint32_t vocab = (uint32_t)rc->cfg.vocab_size < 50257u ? (uint32_t)rc->cfg.vocab_size : 50257u;
    for (uint32_t b = 0; b < rc->batch; b++)
        for (uint32_t i = 0; i < rc->prompt_len; i++) {
            uint32_t id = ids->n ? (uint32_t)ids->ids[i] : (1000u + 37u * i + 101u * b) % vocab;
            if (id >= (uint32_t)rc->cfg.vocab_size) {
                ipu_err(err, "key 'prompt': token %u at position %u is outside the vocabulary of %s (%d)", id, i,
                        rc->model, rc->cfg.vocab_size);
                free(p);
                return NULL;
            }
            p[(size_t)b * rc->prompt_len + i] = id;
        }
    return p;
}

/* Prints each sequence's generated ids and, with a vocabulary, their text. */
static void print_tokens(const FormatReport *f, Bpe *bpe)
{
    uint32_t n = f->ndecode + 1;
    for (uint32_t b = 0; b < f->batch; b++) {
        const uint32_t *t = f->tokens + (size_t)b * n;
        printf("%-8s seq %u ids:", f->format, b);
        for (uint32_t i = 0; i < n; i++)
            printf(" %u", t[i]);
        if (bpe) {
            printf("\n%-8s seq %u text: \"", f->format, b);
            for (uint32_t i = 0; i < n; i++) {
                int32_t id = (int32_t)t[i];
                size_t len;
                IpuErr e;
                char *s = id < bpe_vocab_size(bpe) ? bpe_decode(bpe, &id, 1, &len, &e) : NULL;
                if (s)
                    fwrite(s, 1, len, stdout);
                else
                    printf("<%u>", t[i]); /* GPT-J's padding rows beyond GPT-2's vocabulary */
                free(s);
            }
            printf("\"");
        }
        printf("\n");
    }
}

/* "out.json" + "q4g:64" -> "out-q4g-64.json" when several formats share one trace name. */
static void trace_name(const char *base, const char *format, int several, char *out, size_t cap)
{
    if (!several) {
        snprintf(out, cap, "%s", base);
        return;
    }
    const char *dot = strrchr(base, '.'), *slash = strrchr(base, '/');
    if (!dot || (slash && dot < slash))
        dot = base + strlen(base);
    char fmt[32];
    snprintf(fmt, sizeof fmt, "%s", format);
    for (char *c = fmt; *c; c++)
        if (*c == ':')
            *c = '-';
    snprintf(out, cap, "%.*s-%s%s", (int)(dot - base), base, fmt, dot);
}

/* Runs each format; a trace is staged in traces[i] (written, fsync'ed, not yet
 * renamed into place) so that all outputs appear together at the end.
 * memory_report: where to print each format's ten fullest tiles (NULL: nowhere). */
static int run_formats(const RunConfig *rc, const GptjWeights *w, const uint32_t *prompt, const char *trace_path,
                       FILE *memory_report, Report *rep, FileioFile *traces, IpuErr *err)
{
    for (int i = 0; i < rc->nformats; i++) {
        RunOptions o;
        if (runcfg_options(rc, i, &o, err))
            return -1;
        Trace *t = NULL;
        if (trace_path && !(t = trace_create(rc->arch.clock_hz, RUN_TRACE_MAX_EVENTS)))
            return ipu_err(err, "out of memory for the trace");
        RunResult res;
        memset(&res, 0, sizeof res);
        int rv = gptj_run(&rc->arch, &o, w, prompt, t, &res, err);
        if (rv == 0)
            rv = report_add(rep, &res, rc->batch, rc->chips_used, &rc->arch, err);
        if (rv == 0 && memory_report)
            fprintf(memory_report, "memory layout, %s: the ten fullest tiles at their peaks\n%s\n", res.format,
                    res.memory_report);
        if (rv == 0 && t) {
            char path[RUNCFG_TEXT_BYTES + 64];
            trace_name(trace_path, rep->f[rep->n - 1].format, rc->nformats > 1, path, sizeof path);
            rv = fileio_file_open(&traces[i], path, err);
            if (rv == 0) {
                trace_write_stream(t, traces[i].f);
                rv = fileio_file_close(&traces[i], err);
            }
            if (rv == 0)
                fprintf(stderr, "trace: %s (%zu events; %llu later ones dropped beyond the limit of %d)\n", path,
                        t->count, (unsigned long long)t->dropped, RUN_TRACE_MAX_EVENTS);
            else
                ipu_err_prefix(err, "trace");
        }
        trace_destroy(t);
        run_result_free(&res);
        if (rv) {
            char spec[32];
            quant_spec_format(&rc->specs[i], spec, sizeof spec);
            return ipu_err_prefix(err, "format %s", spec);
        }
    }
    return 0;
}

/* Files of the compare folder (for fileio_dir_commit: these are replaced). */
static const char *const compare_files[] = {"config.conf", "report.json", "report.csv", "breakdown.*", "groups.*",
                                            NULL};

/* Builds the compare folder's files in dir (a FileioDir's temp folder). */
static int compare_files_into(const RunConfig *rc, const Report *rep, const char *dir, char *names, size_t cap,
                              IpuErr *err)
{
    char path[RUNCFG_TEXT_BYTES + 64];
    char *conf = NULL;
    size_t conf_len = 0;
    FILE *mf = open_memstream(&conf, &conf_len);
    if (!mf)
        return ipu_err(err, "out of memory");
    runcfg_print(mf, rc);
    fclose(mf);
    snprintf(path, sizeof path, "%s/config.conf", dir);
    int rv = fileio_write(path, conf, conf_len, err);
    free(conf);
    if (rv)
        return -1;
    snprintf(path, sizeof path, "%s/report.json", dir);
    if (report_write_json(rep, path, err))
        return -1;
    snprintf(path, sizeof path, "%s/report.csv", dir);
    if (report_write_csv(rep, path, err))
        return -1;
    return report_plot_into(rep, dir, names, cap, err);
}

static void print_config_line(const RunConfig *rc)
{
    printf("run: model %s, arch %s, %u chips, batch %u, prompt %u, generate %u, seq %u, weights %s, placement %s, "
           "kv_cache %s, overlap %s, partials %s, decompress %s",
           rc->model, rc->arch_name, rc->chips_used, rc->batch, rc->prompt_len, rc->gen_tokens, rc->seq_len_used,
           rc->weights == RUN_WEIGHTS_NONE ? "none (timing)" : rc->weights == RUN_WEIGHTS_SYNTHETIC ? "synthetic" : "checkpoint",
           runcfg_placement_name(rc->placement), rc->kv_cache ? "on" : "off", rc->overlap ? "on" : "off",
           rc->partials ? "fp32" : "fp16", rc->decompress[0] ? rc->decompress : "(default)");
    for (int i = 0; i < rc->narch_sets; i++)
        printf(", arch.%s=%s", rc->arch_sets[i].key, rc->arch_sets[i].value);
    printf("\n\n");
}

static int run_main(const char *cmd, int argc, char **argv, int compare)
{
    CliOpt opts[O_COUNT] = {
        {"scenario", 1, "scenario file of `key = value` lines, applied after the defaults", 0, {0}},
        {"set", 1, "key=value (run key or arch.<key>), applied after the scenario; repeatable", 0, {0}},
        {"json", 0, "print the report as JSON on stdout instead of the table", 0, {0}},
        {"csv", 1, "write the per-phase CSV to this file", 0, {0}},
        {"trace", 1, "write the Perfetto trace of the run (FILE-<format>.json with several formats)", 0, {0}},
        {"plot", 1, "write plots (breakdown, token time against group size) into this folder", 0, {0}},
        {"out", 1, "compare: the folder for report files (same as --set out=DIR)", 0, {0}},
        {"memory-report", 0, "print each format's ten fullest tiles and what is live on each at its peak "
                             "(stderr with --json)", 0, {0}},
        {"list-keys", 0, "print the run keys (markdown table) and exit", 0, {0}},
        {"print-config", 0, "print the resolved configuration as a scenario file and exit", 0, {0}},
        {"help", 0, "this help", 0, {0}},
    };
    const char *pos[1];
    int npos;
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
    const char *plot_dir = cli_value(&opts[O_PLOT], NULL);
    FileioFile csv_out, traces[RUNCFG_MAX_FORMATS];
    FileioDir plot_out, cmp_out;
    memset(&csv_out, 0, sizeof csv_out);
    memset(traces, 0, sizeof traces);
    memset(&plot_out, 0, sizeof plot_out);
    memset(&cmp_out, 0, sizeof cmp_out);
    RunConfig *rc = malloc(sizeof *rc);
    if (!rc)
        return 1;
    runcfg_init(rc);
    IpuErr err;
    BpeIds ids = {0};
    int status = 1;
    Report rep;
    report_init(&rep, NULL);
    GptjWeights w;
    memset(&w, 0, sizeof w);
    uint32_t *prompt = NULL;
    Bpe *bpe = NULL;
    for (int i = 0; i < opts[O_SCENARIO].count; i++)
        if (runcfg_load_file(rc, opts[O_SCENARIO].values[i], &err))
            goto fail;
    for (int i = 0; i < opts[O_SET].count; i++)
        if (runcfg_set_kv(rc, opts[O_SET].values[i], "--set", &err))
            goto fail;
    if (opts[O_OUT].count && runcfg_set(rc, "out", cli_value(&opts[O_OUT], ""), "--out", &err))
        goto fail;
    if (rc->prompt[0] && prompt_ids(rc, &ids, &err))
        goto fail;
    if (runcfg_finish(rc, &err))
        goto fail;
    /* Output names are checked before any work, so a bad one writes nothing. */
    if (plot_dir && report_check_folder(plot_dir, &err)) {
        ipu_err_prefix(&err, "--plot");
        goto fail;
    }
    if (compare && report_check_folder(rc->out, &err)) {
        ipu_err_prefix(&err, "key 'out'");
        goto fail;
    }
    static const int file_opts[] = {O_CSV, O_TRACE};
    for (int k = 0; k < 2; k++)
        if (opts[file_opts[k]].count && !cli_value(&opts[file_opts[k]], "")[0]) {
            ipu_err(&err, "--%s: empty file name", opts[file_opts[k]].name);
            goto fail;
        }
    if (opts[O_PRINT_CONFIG].count) {
        runcfg_print(stdout, rc);
        status = 0;
        goto done;
    }
    if (!(prompt = make_prompt(rc, &ids, &err)))
        goto fail;
    if (rc->weights == RUN_WEIGHTS_SYNTHETIC && gptj_weights_synth(&w, &rc->cfg, GPTJ_F32, rc->seed, &err))
        goto fail;
    if (rc->weights == RUN_WEIGHTS_CHECKPOINT && gptj_weights_load(&w, &rc->cfg, rc->checkpoint, GPTJ_F32, 0, &err))
        goto fail;
    report_free(&rep);
    report_init(&rep, runcfg_to_json(rc));
    FILE *mem = !opts[O_MEMORY_REPORT].count ? NULL : opts[O_JSON].count ? stderr : stdout;
    if (run_formats(rc, rc->weights == RUN_WEIGHTS_NONE ? NULL : &w, prompt, cli_value(&opts[O_TRACE], NULL), mem,
                    &rep, traces, &err))
        goto fail;

    if (opts[O_JSON].count) {
        cJSON *j = report_to_json(&rep);
        char *s = cJSON_Print(j);
        cJSON_Delete(j);
        if (s)
            puts(s);
        cJSON_free(s);
    } else {
        print_config_line(rc);
        report_print(stdout, &rep);
        if (rc->weights != RUN_WEIGHTS_NONE) {
            char dir[BPE_PATH_BYTES];
            IpuErr e2;
            bpe = bpe_find_vocab(NULL, dir, sizeof dir, &e2) ? NULL : bpe_create(dir, &e2);
            printf("\ngenerated tokens (greedy)%s:\n", bpe ? "" : " (no GPT-2 vocabulary found: ids only)");
            for (int i = 0; i < rep.n; i++)
                print_tokens(&rep.f[i], bpe);
        }
    }
    /* Every output is staged first (temp files and folders, complete and
     * synced), then all are renamed into place: a failure leaves none. */
    char *csv = NULL;
    size_t csv_len = 0;
    if (opts[O_CSV].count) {
        if (!(csv = report_csv_text(&rep, &csv_len))) {
            ipu_err(&err, "out of memory for the CSV");
            goto fail;
        }
        int crv = fileio_file_stage(&csv_out, cli_value(&opts[O_CSV], ""), csv, csv_len, &err);
        free(csv);
        if (crv)
            goto fail;
    }
    char plot_names[256], out_names[256];
    if (opts[O_PLOT].count && (fileio_dir_begin(&plot_out, plot_dir, &err) ||
                               report_plot_into(&rep, plot_out.tmp, plot_names, sizeof plot_names, &err)))
        goto fail;
    if (compare && (fileio_dir_begin(&cmp_out, rc->out, &err) ||
                    compare_files_into(rc, &rep, cmp_out.tmp, out_names, sizeof out_names, &err)))
        goto fail;
    if (csv_out.tmp && fileio_file_commit(&csv_out, &err))
        goto fail;
    for (int i = 0; i < rc->nformats; i++)
        if (traces[i].tmp && fileio_file_commit(&traces[i], &err))
            goto fail;
    char written[4096];
    if (plot_out.tmp) {
        if (fileio_dir_commit(&plot_out, report_plot_files, &err))
            goto fail;
        report_join_names(plot_dir, plot_names, written, sizeof written);
        fprintf(stderr, "plots: %s\n", written);
    }
    if (cmp_out.tmp) {
        if (fileio_dir_commit(&cmp_out, compare_files, &err))
            goto fail;
        report_join_names(rc->out, out_names, written, sizeof written);
        printf("\nwrote %s/report.json, %s/report.csv, %s/config.conf, %s\n", rc->out, rc->out, rc->out, written);
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "ipusim %s: %s\n", cmd, err.msg);
done:
    fileio_file_abort(&csv_out);
    for (int i = 0; i < RUNCFG_MAX_FORMATS; i++)
        fileio_file_abort(&traces[i]);
    fileio_dir_abort(&plot_out);
    fileio_dir_abort(&cmp_out);
    bpe_destroy(bpe);
    free(prompt);
    gptj_weights_free(&w);
    bpe_ids_free(&ids);
    report_free(&rep);
    free(rc);
    return status;
}

int cli_run(int argc, char **argv) { return run_main("run", argc, argv, 0); }
int cli_compare(int argc, char **argv) { return run_main("compare", argc, argv, 1); }
