/* cli_tradeoff.c - `ipusim tradeoff`: Graphcore's speed-against-accuracy
 * figure, one point per weight format: the batched token time of a timing
 * run (the run machinery of `ipusim run`: defaults, --scenario,
 * --arch-file, --set) on x, and the mean KL against fp16 or the perplexity
 * of `model eval` (host/model_eval.h: the reference forward layer by layer,
 * on the run's model and weights) on y, each point labelled with its group
 * size and bits per parameter. Writes tradeoff.csv, tradeoff.dat,
 * tradeoff.gp and tradeoff.png into the out folder (built whole, then
 * moved into place) and prints a table (or JSON). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/fileio.h"
#include "host/cli.h"
#include "host/cli_model.h"
#include "host/model_eval.h"
#include "host/plot.h"
#include "host/report.h"
#include "host/report_priv.h"
#include "host/run_timing.h"
#include "host/runcfg.h"

#define TRADEOFF_DEFAULT_FORMATS "fp16,q4g:16,q4g:32,q4g:64,q4g:128,q4g:256"

enum {
    T_SCENARIO, T_ARCH_FILE, T_SET, T_TEXT, T_TOKENS, T_MAX_TOKENS, T_WINDOW, T_STRIDE, T_VOCAB, T_RESUME, T_ON_SIM,
    T_METRIC, T_OUT, T_JSON, T_QUIET, T_HELP, T_COUNT
};

static const CliOpt tradeoff_opts[T_COUNT] = {
    [T_SCENARIO] = {"scenario", 1, "scenario file of run keys (as ipusim run), applied after the defaults; repeatable",
                    0, {0}},
    [T_ARCH_FILE] = {"arch-file", 1, "JSON arch file (as ipusim run)", 0, {0}},
    [T_SET] = {"set", 1, "key=value, a run or arch key (as ipusim run), applied last; repeatable. formats (default "
                         TRADEOFF_DEFAULT_FORMATS ") are the points; model, weights, checkpoint and seed are the "
                         "eval's too", 0, {0}},
    [T_TEXT] = {"text", 1, "the eval's UTF-8 text file (GPT-2 BPE)", 0, {0}},
    [T_TOKENS] = {"tokens", 1, "the eval's token ids (default: 64 synthetic ids)", 0, {0}},
    [T_MAX_TOKENS] = {"max-tokens", 1, "evaluate at most this many tokens (default 256; 0: all)", 0, {0}},
    [T_WINDOW] = {"window", 1, "the eval's window (as model eval)", 0, {0}},
    [T_STRIDE] = {"stride", 1, "the eval's stride (as model eval)", 0, {0}},
    [T_VOCAB] = {"vocab", 1, "BPE vocabulary folder for --text", 0, {0}},
    [T_RESUME] = {"resume", 1, "the eval's state file (as model eval --resume)", 0, {0}},
    [T_ON_SIM] = {"on-sim", 0, "the eval's logits from the simulated machine's functional mode on the same run keys "
                               "(as model eval --on-sim) instead of the fp32 host reference", 0, {0}},
    [T_METRIC] = {"metric", 1, "y axis: kl (mean KL against fp16, default) or perplexity", 0, {0}},
    [T_OUT] = {"out", 1, "output folder (same as --set out=DIR; default out)", 0, {0}},
    [T_JSON] = {"json", 0, "print JSON on stdout instead of the table", 0, {0}},
    [T_QUIET] = {"quiet", 0, "no progress lines", 0, {0}},
    [T_HELP] = {"help", 0, "show this help", 0, {0}},
};

/* One point of the figure. */
typedef struct TradeoffPoint {
    char format[32];
    unsigned group;           /* 0: not grouped */
    double bits, model_bits;  /* per parameter (models/quant_model.h) */
    double token_s;           /* batched token time */
    const EvalResult *r;
} TradeoffPoint;

typedef struct Tradeoff {
    RunConfig rc;
    RunConfig sim_base; /* --on-sim: the run keys as given, before the timing runs drop the weights */
    ModelEval m;
    Report rep;
    TradeoffPoint pt[RUNCFG_MAX_FORMATS];
    int n, perplexity; /* perplexity: the y axis, else KL */
} Tradeoff;

/* The run configuration: defaults, tradeoff's formats, scenarios, arch
 * files, --set, --out; fp16 added to the formats when missing (the eval's
 * reference is a point too). */
static int load_config(RunConfig *rc, const CliOpt *o, IpuErr *e)
{
    runcfg_init(rc);
    if (runcfg_set(rc, "formats", TRADEOFF_DEFAULT_FORMATS, "ipusim tradeoff's default", e))
        return -1;
    for (int i = 0; i < o[T_SCENARIO].count; i++)
        if (runcfg_load_file(rc, o[T_SCENARIO].values[i], e))
            return -1;
    for (int i = 0; i < o[T_ARCH_FILE].count; i++)
        if (runcfg_load_arch_file(rc, o[T_ARCH_FILE].values[i], e))
            return -1;
    for (int i = 0; i < o[T_SET].count; i++)
        if (runcfg_set_kv(rc, o[T_SET].values[i], "--set", e))
            return -1;
    if ((o[T_OUT].count && runcfg_set(rc, "out", cli_value(&o[T_OUT], ""), "--out", e)) || runcfg_finish(rc, e))
        return -1;
    if (rc->keep_fp16[0])
        return ipu_err(e, "key 'keep_fp16': the eval quantizes under Graphcore's policy alone; not supported here");
    int has16 = 0;
    for (int i = 0; i < rc->nformats; i++)
        has16 |= rc->specs[i].fmt == &quant_format_f16;
    if (!has16) {
        char list[RUNCFG_TEXT_BYTES + 8];
        snprintf(list, sizeof list, "fp16,%s", rc->formats);
        if (runcfg_set(rc, "formats", list, "ipusim tradeoff (fp16, the reference)", e) || runcfg_finish(rc, e))
            return -1;
    }
    return report_check_folder(rc->out, e) ? ipu_err_prefix(e, "key 'out'") : 0;
}

/* The eval's inputs from the run configuration and the options. 0, 1 or 2. */
static int eval_setup(Tradeoff *t, const CliOpt *o, IpuErr *e)
{
    ModelEval *m = &t->m;
    RunConfig *rc = &t->rc;
    uint64_t max_tokens, window, stride;
    if (cli_model_u64("tradeoff", "max-tokens", cli_value(&o[T_MAX_TOKENS], "256"), MODEL_EVAL_MAX_TOKENS,
                      &max_tokens) ||
        cli_model_u64("tradeoff", "window", cli_value(&o[T_WINDOW], "0"), 1 << 20, &window) ||
        cli_model_u64("tradeoff", "stride", cli_value(&o[T_STRIDE], "0"), 1 << 20, &stride))
        return 2;
    if ((o[T_WINDOW].count && window < 2) || (o[T_STRIDE].count && stride < 1) || (window && stride > window) ||
        window > (uint64_t)rc->cfg.n_positions)
        return ipu_err(e, "--window %llu --stride %llu: need a window of 2..%d (the context of %s) and a stride in "
                          "1..window", (unsigned long long)window, (unsigned long long)stride, rc->cfg.n_positions,
                       rc->cfg.name), 2;
    m->cfg = rc->cfg, m->seed = rc->seed, m->window = (int)window, m->stride = (int)stride;
    m->checkpoint = rc->weights == RUN_WEIGHTS_CHECKPOINT ? rc->checkpoint : NULL;
    m->quiet = o[T_QUIET].count > 0;
    m->resume = cli_value(&o[T_RESUME], NULL);
    if ((m->on_sim = o[T_ON_SIM].count > 0)) {
        t->sim_base = *rc;
        m->sim_base = &t->sim_base, m->sets = o[T_SET].values, m->nsets = o[T_SET].count;
    }
    char list[RUNCFG_MAX_FORMATS * 32] = "";
    for (int i = 0; i < rc->nformats; i++) {
        size_t n = strlen(list);
        if (i)
            list[n++] = ',';
        quant_spec_format(&rc->specs[i], list + n, sizeof list - n);
    }
    int rv = model_eval_formats(m, list, "key 'formats'", e);
    return rv ? rv
              : model_eval_tokens(m, cli_value(&o[T_TOKENS], NULL), cli_value(&o[T_TEXT], NULL),
                                  cli_value(&o[T_VOCAB], NULL), max_tokens, e);
}

/* Each format in timing mode, as ipusim run runs it. */
static int run_timing(Tradeoff *t, IpuErr *e)
{
    RunConfig *rc = &t->rc;
    rc->weights = RUN_WEIGHTS_NONE; /* the eval has the weights; the token time is timing mode's */
    if (runcfg_finish(rc, e))
        return -1;
    report_init(&t->rep, runcfg_to_json(rc));
    return run_timing_formats(rc, &t->rep, e);
}

/* The points: each run format with its eval row. */
static void join(Tradeoff *t)
{
    t->n = 0;
    for (int i = 0; i < t->rep.n; i++)
        for (int k = 0; k < t->m.nf; k++) {
            char name[32];
            quant_spec_format(&t->m.specs[k], name, sizeof name);
            if (strcmp(name, t->rep.f[i].format))
                continue;
            TradeoffPoint *p = &t->pt[t->n++];
            snprintf(p->format, sizeof p->format, "%s", name);
            p->group = quant_spec_grouped(&t->m.specs[k]) ? t->m.specs[k].group : 0;
            p->bits = quant_model_bits_per_param(&t->m.bits[k]);
            p->model_bits = quant_model_bits_per_param_all(&t->m.bits[k]);
            p->token_s = t->rep.f[i].batched_token_s;
            p->r = &t->m.res[k];
            break;
        }
}

static double y_of(const Tradeoff *t, const TradeoffPoint *p)
{
    return t->perplexity ? p->r->perplexity : p->r->mean_kl;
}

static const char *y_label(const Tradeoff *t)
{
    return t->perplexity ? "perplexity" : "mean KL against fp16 (nats)";
}

static void print_table(const Tradeoff *t)
{
    char line[600];
    report_config_line(&t->rep, line, sizeof line);
    printf("tradeoff: %s\neval: %s, %d tokens, window %d, stride %d, %d tokens scored; logits: %s\n", line,
           t->m.weights_id, t->m.T, t->m.window, t->m.stride, t->m.scored, t->m.source);
    printf("%-14s %6s %9s %9s %12s %12s %12s %12s\n", "format", "group", "bits/par", "model b/p", "token (ms)",
           "perplexity", "mean KL", "top-1 agree");
    for (int i = 0; i < t->n; i++) {
        const TradeoffPoint *p = &t->pt[i];
        printf("%-14s %6u %9.3f %9.3f %12.4f %12.4g %12.3e %11.2f%%\n", p->format, p->group, p->bits, p->model_bits,
               1e3 * p->token_s, p->r->perplexity, p->r->mean_kl, 100 * p->r->top1_agree);
    }
}

static int print_json(const Tradeoff *t)
{
    cJSON *j = cJSON_CreateObject(), *a = cJSON_CreateArray();
    cJSON_AddNumberToObject(j, "schema_version", 1);
    cJSON_AddItemToObject(j, "config", cJSON_Duplicate(t->rep.config, 1));
    cJSON_AddStringToObject(j, "weights", t->m.weights_id);
    cJSON_AddStringToObject(j, "logits_source", t->m.source);
    cJSON_AddNumberToObject(j, "tokens", t->m.T);
    cJSON_AddNumberToObject(j, "scored_tokens", t->m.scored);
    cJSON_AddStringToObject(j, "metric", t->perplexity ? "perplexity" : "mean_kl_nats");
    for (int i = 0; i < t->n; i++) {
        const TradeoffPoint *p = &t->pt[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "format", p->format);
        cJSON_AddNumberToObject(o, "group", p->group);
        cJSON_AddNumberToObject(o, "bits_per_param", p->bits);
        cJSON_AddNumberToObject(o, "model_bits_per_param", p->model_bits);
        cJSON_AddNumberToObject(o, "batched_token_s", p->token_s);
        cJSON_AddNumberToObject(o, "perplexity", p->r->perplexity);
        cJSON_AddNumberToObject(o, "mean_kl_nats", p->r->mean_kl);
        cJSON_AddNumberToObject(o, "top1_agree_frac", p->r->top1_agree);
        cJSON_AddItemToArray(a, o);
    }
    cJSON_AddItemToObject(j, "points", a);
    return cli_print_json(j);
}

/* tradeoff.csv into dir. */
static int write_csv(const Tradeoff *t, const char *dir, IpuErr *e)
{
    ReportText s = {0};
    report_text_add(&s, "format,group,bits_per_param,model_bits_per_param,batched_token_ms,perplexity,mean_kl_nats,"
                        "top1_agree_frac,max_logit_diff\n");
    for (int i = 0; i < t->n; i++) {
        const TradeoffPoint *p = &t->pt[i];
        report_text_add(&s, "%s,%u,%.6g,%.6g,%.9g,%.9g,%.9g,%.9g,%.9g\n", p->format, p->group, p->bits, p->model_bits,
                        1e3 * p->token_s, p->r->perplexity, p->r->mean_kl, p->r->top1_agree, p->r->max_logit_diff);
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/tradeoff.csv", dir);
    int rv = s.oom ? ipu_err(e, "'%s': out of memory", path) : fileio_write(path, s.s, s.n, e);
    free(s.s);
    return rv;
}

/* tradeoff.dat and the figure: the grouped formats of one kind joined in
 * group order, every point labelled with its format and bits per parameter. */
static int write_plot(const Tradeoff *t, const char *dir, const char *term, const char *ext, IpuErr *e)
{
    ReportText data = {0}, s = {0};
    char line[600], title[800];
    report_text_add(&data, "# batched_token_ms %s label\n", t->perplexity ? "perplexity" : "mean_kl_nats");
    for (int grouped = 1; grouped >= 0; grouped--) { /* index 0: the grouped formats; 1: the others */
        for (int i = 0; i < t->n; i++)
            if ((t->pt[i].group > 0) == grouped)
                report_text_add(&data, "%.9g %.9g \"%s\\n%.3g bits\"\n", 1e3 * t->pt[i].token_s, y_of(t, &t->pt[i]),
                                t->pt[i].format, t->pt[i].bits);
        report_text_add(&data, "\n\n");
    }
    if (report_plot_data(dir, "tradeoff", &data, e))
        return -1;
    report_config_line(&t->rep, line, sizeof line);
    char *formats = strstr(line, "; "); /* the format list on a line of its own: a long one is cut otherwise */
    if (formats) {
        formats[0] = '\n';
        memmove(formats + 1, formats + 2, strlen(formats + 2) + 1);
    }
    snprintf(title, sizeof title, "%s against batched token time\n%s", y_label(t), line);
    report_text_add(&s, "set title ");
    report_text_gp_string(&s, title);
    report_text_add(&s, " noenhanced\nset xlabel 'batched token time (ms)'\nset ylabel '%s'\nset grid\n"
                        "set offsets graph 0.08, graph 0.2, graph 0.12, graph 0.08\nset key off\n"
                        "plot dir.'/tradeoff.dat' index 0 using 1:2 with linespoints lw 2 pt 7 ps 1.3, "
                        "'' index 1 using 1:2 with points pt 5 ps 1.5, "
                        "'' index 0 using 1:2:3 with labels offset 1, 1 left noenhanced, "
                        "'' index 1 using 1:2:3 with labels offset 1, 1 left noenhanced\n",
                    y_label(t));
    return report_gnuplot(dir, "tradeoff", term, ext, &s, e);
}

/* The out folder's files, built whole, then moved into place. */
static int write_outputs(const Tradeoff *t, IpuErr *e)
{
    static const char *const owned[] = {"tradeoff.*", NULL};
    const char *ext = NULL, *term = plot_terminal(&ext);
    if (!term)
        return ipu_err(e, "plot: gnuplot is missing or has none of the pngcairo, png, svg terminals "
                          "(install gnuplot-nox: scripts/setup)");
    FileioDir d = {0};
    int rv = fileio_dir_begin(&d, t->rc.out, e) || write_csv(t, d.tmp, e) || write_plot(t, d.tmp, term, ext, e) ||
                     fileio_dir_commit(&d, owned, e)
                 ? -1
                 : 0;
    fileio_dir_abort(&d);
    if (!rv)
        fprintf(stderr, "wrote %s/tradeoff.csv, %s/tradeoff.%s (%s/tradeoff.gp redraws it)\n", t->rc.out, t->rc.out,
                ext, t->rc.out);
    return rv;
}

/* Everything after the options: 0, 1 or 2. */
static int tradeoff_main(Tradeoff *t, const CliOpt *o, IpuErr *e)
{
    const char *metric = cli_value(&o[T_METRIC], "kl");
    if (strcmp(metric, "kl") && strcmp(metric, "perplexity"))
        return ipu_err(e, "--metric '%s': kl or perplexity", metric), 2;
    t->perplexity = !strcmp(metric, "perplexity");
    if (load_config(&t->rc, o, e))
        return 1;
    int rv = eval_setup(t, o, e);
    if (rv)
        return rv;
    if (run_timing(t, e) || model_eval_run(&t->m, e))
        return 1;
    join(t);
    if (o[T_JSON].count ? print_json(t) : (print_table(t), 0))
        return ipu_err(e, "out of memory printing JSON"), 1;
    return write_outputs(t, e) ? 1 : 0;
}

int cli_tradeoff(int argc, char **argv)
{
    CliOpt o[T_COUNT];
    memcpy(o, tradeoff_opts, sizeof o);
    const char *pos[1];
    int npos;
    if (cli_parse("tradeoff", argc, argv, o, T_COUNT, pos, 0, &npos) < 0)
        return 2;
    if (o[T_HELP].count) {
        printf("usage: ipusim tradeoff [options]\n  batched token time (timing mode) against the mean KL or "
               "perplexity of model eval, one point per format: table, and tradeoff.csv/.png in the out folder\n");
        cli_print_options(stdout, o, T_COUNT);
        return 0;
    }
    Tradeoff *t = calloc(1, sizeof *t);
    if (!t)
        return 1;
    IpuErr e = {{0}};
    int rc = tradeoff_main(t, o, &e);
    if (rc && e.msg[0]) { /* an option's number printed its own message */
        fflush(stdout);
        fprintf(stderr, "ipusim tradeoff: %s\n", e.msg);
    }
    model_eval_free(&t->m);
    report_free(&t->rep);
    free(t);
    return rc;
}
