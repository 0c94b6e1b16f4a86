/* sweep_plot.c - a sweep's plots from its results.jsonl (see sweep_plot.h). */
#include "host/sweep_plot.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/fileio.h"
#include "host/cli.h"
#include "host/plot.h"

#define SWEEP_PLOT_MAX_JSONL (1ull << 31)
#define SWEEP_PLOT_TRADEOFF_LINES 8

const char *const sweep_plot_files[] = {"*.png", "*.svg", "*.gp", "*.dat", NULL};

typedef struct PlotRow {
    size_t point;
    char format[32];
    int ok;
    double y, bits, token_s;
    double intensity, achieved, peak_flops, peak_bytes; /* the roofline's */
} PlotRow;

/* A number field of a results row, NaN when absent or null. */
static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A plot's two texts, its data (NAME.dat) and its script body, built in memory. */
typedef struct PlotText {
    char *data, *body;
    size_t dlen, blen;
    FILE *d, *b;
} PlotText;

static int plot_text_open(PlotText *t, IpuErr *err)
{
    memset(t, 0, sizeof *t);
    t->d = open_memstream(&t->data, &t->dlen), t->b = open_memstream(&t->body, &t->blen);
    if (t->d && t->b)
        return 0;
    if (t->d)
        fclose(t->d), free(t->data);
    if (t->b)
        fclose(t->b), free(t->body);
    return ipu_err(err, "out of memory");
}

/* Closes both texts; when draw, writes NAME.dat into build and renders NAME.ext from the body. */
static int plot_text_finish(PlotText *t, const char *build, const char *final, const char *name, const char *ext,
                            int draw, IpuErr *err)
{
    int bad = fclose(t->d) | fclose(t->b);
    int rv = bad ? ipu_err(err, "out of memory") : 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.dat", build, name);
    if (!rv && draw)
        rv = fileio_write(path, t->data, t->dlen, err);
    if (!rv && draw)
        rv = plot_render(build, final, name, ext, t->body, err);
    free(t->data), free(t->body);
    return rv;
}

/* The rows of results.jsonl: point, format, status, the metric, bits and token time. */
static int read_rows(const char *dir, const char *metric, PlotRow **out, size_t *n, IpuErr *err)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    char *text = NULL;
    size_t len = 0;
    if (fileio_read(path, "sweep results", SWEEP_PLOT_MAX_JSONL, &text, &len, err))
        return -1;
    size_t cap = 16, k = 0;
    PlotRow *r = malloc(cap * sizeof *r);
    int rv = r ? 0 : ipu_err(err, "out of memory");
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && !rv; line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *pt = cJSON_GetObjectItem(o, "point"), *fm = cJSON_GetObjectItem(o, "format");
        const cJSON *st = cJSON_GetObjectItem(o, "status"), *y = cJSON_GetObjectItem(o, metric);
        if (!cJSON_IsNumber(pt) || !cJSON_IsString(fm) || !cJSON_IsString(st)) {
            cJSON_Delete(o);
            rv = ipu_err(err, "'%s': row %zu is not a sweep row", path, k + 1);
            break;
        }
        if (k == cap) {
            PlotRow *m = realloc(r, 2 * cap * sizeof *r);
            if (!m) {
                cJSON_Delete(o);
                rv = ipu_err(err, "out of memory");
                break;
            }
            r = m, cap *= 2;
        }
        r[k] = (PlotRow){(size_t)pt->valuedouble,
                         "",
                         !strcmp(st->valuestring, "ok"),
                         cJSON_IsNumber(y) ? y->valuedouble : NAN,
                         num(o, "bits_per_param"),
                         num(o, "batched_token_s"),
                         num(o, "intensity_flops_per_byte"),
                         num(o, "achieved_flops_per_s"),
                         num(o, "peak_flops_per_s"),
                         num(o, "peak_bytes_per_s")};
        snprintf(r[k].format, sizeof r[k].format, "%s", fm->valuestring);
        k++;
        cJSON_Delete(o);
    }
    free(text);
    if (rv) {
        free(r);
        return -1;
    }
    *out = r, *n = k;
    return 0;
}

/* The distinct formats of the rows, in first-seen order (up to 64). */
static int formats_of(const PlotRow *r, size_t n, char f[][32])
{
    int nf = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < nf && !seen; j++)
            seen = !strcmp(f[j], r[i].format);
        if (!seen && nf < 64)
            snprintf(f[nf++], 32, "%s", r[i].format);
    }
    return nf;
}

/* A metric's scale and axis label: seconds in ms, bytes in GB, the rest as they are. */
static double metric_scale(const char *metric, char *label, size_t cap)
{
    size_t l = strlen(metric);
    if (l > 2 && !strcmp(metric + l - 2, "_s")) {
        snprintf(label, cap, "%s (in ms)", metric);
        return 1e3;
    }
    if (l > 6 && !strcmp(metric + l - 6, "_bytes")) {
        snprintf(label, cap, "%s (in GB)", metric);
        return 1e-9;
    }
    snprintf(label, cap, "%s", metric);
    return 1;
}

/* Does point p hold the first value of every varied key but k (or is the sweep zipped)? */
static int on_slice(const Sweep *s, size_t p, int k)
{
    if (s->zip)
        return 1;
    size_t idx[SWEEP_MAX_VARY];
    sweep_point_index(s, p, idx);
    for (int j = 0; j < s->nvary; j++)
        if (j != k && idx[j] != 0)
            return 0;
    return 1;
}

/* One plot: the metric against varied key k, one line per format. */
static int plot_key(const Sweep *s, int k, const char *metric, const PlotRow *r, size_t n, const char *build,
                    const char *final, const char *term, const char *ext, char *name, size_t ncap, IpuErr *err)
{
    const SweepVary *v = &s->vary[k];
    int numeric = 1;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < v->nvalues; i++) {
        numeric &= cli_is_decimal(v->values[i]);
        double x = strtod(v->values[i], NULL);
        lo = x < lo ? x : lo, hi = x > hi ? x : hi;
    }
    size_t len = (size_t)snprintf(name, ncap, "%s-vs-", metric);
    for (const char *c = v->key; *c && len + 1 < ncap; c++)
        name[len++] = strchr("./:", *c) ? '_' : *c;
    name[len < ncap ? len : ncap - 1] = '\0';
    char label[96], fmts[64][32];
    double scale = metric_scale(metric, label, sizeof label);
    int nf = formats_of(r, n, fmts);
    PlotText pt;
    if (plot_text_open(&pt, err))
        return -1;
    FILE *d = pt.d, *b = pt.b;
    for (int f = 0; f < nf; f++) {
        fprintf(d, "# %s: %s %s\n", fmts[f], v->key, metric);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(r[i].format, fmts[f]) || !r[i].ok || !isfinite(r[i].y) || !on_slice(s, r[i].point, k))
                continue;
            size_t idx[SWEEP_MAX_VARY];
            sweep_point_index(s, r[i].point, idx);
            if (numeric)
                fprintf(d, "%s %.9g\n", v->values[idx[k]], r[i].y * scale);
            else
                fprintf(d, "%zu %.9g \"%s\"\n", idx[k], r[i].y * scale, v->values[idx[k]]);
        }
        fprintf(d, "\n\n");
    }
    fprintf(b, "set terminal %s\nset title \"%s against %s", term, label, v->key);
    if (s->nvary > 1)
        fprintf(b, s->zip ? "\\n(keys zipped)" : "\\n(the other varied keys at their first values)");
    fprintf(b, "\" noenhanced\nset xlabel \"%s\" noenhanced\nset ylabel \"%s\" noenhanced\nset grid\nset key outside right top noenhanced\n",
            v->key, label);
    if (numeric && lo > 0 && hi / lo > 20)
        fprintf(b, "set logscale x\n");
    fprintf(b, "plot");
    for (int f = 0; f < nf; f++)
        fprintf(b, "%s dir.'/%s.dat' index %d using 1:2%s with linespoints lw 2 title '%s'", f ? "," : "", name, f,
                numeric ? "" : ":xtic(3)", fmts[f]);
    fprintf(b, "\n");
    return plot_text_finish(&pt, build, final, name, ext, 1, err);
}

/* A line's title: the point's varied keys and values (quotes made double). */
static void point_title(const Sweep *s, size_t point, char *title, size_t cap)
{
    size_t idx[SWEEP_MAX_VARY];
    sweep_point_index(s, point, idx);
    title[0] = '\0';
    for (int k = 0; k < s->nvary; k++)
        snprintf(title + strlen(title), cap - strlen(title), "%s%s=%s", k ? " " : "", s->vary[k].key,
                 s->vary[k].values[idx[k]]);
    for (char *c = title; *c; c++)
        *c = *c == '\'' ? '"' : *c;
}

/* Graphcore's trade-off: batched token time against bits per parameter,
 * each format's marker labelled, one line per point (the first few). 0 and
 * no plot when no point has two formats that ran. */
static int plot_tradeoff(const Sweep *s, const PlotRow *r, size_t n, const char *build, const char *final,
                         const char *term, const char *ext, int *drawn, IpuErr *err)
{
    *drawn = 0;
    size_t lines = 0;
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < n; i++)
        if (r[i].ok && r[i].token_s > 0)
            lo = r[i].token_s < lo ? r[i].token_s : lo, hi = r[i].token_s > hi ? r[i].token_s : hi;
    PlotText pt;
    if (plot_text_open(&pt, err))
        return -1;
    FILE *d = pt.d, *b = pt.b;
    fprintf(b, "set terminal %s\nset title 'batched token time against bits per parameter (labels: format)'\n"
               "set xlabel 'bits per parameter'\nset ylabel 'batched token time (ms)'\nset grid\n"
               "set key below noenhanced\n%s"
               "plot",
            term, hi > 20 * lo ? "set logscale y\n" : "");
    for (size_t i = 0; i < n && lines < SWEEP_PLOT_TRADEOFF_LINES;) {
        size_t j = i, ok = 0;
        while (j < n && r[j].point == r[i].point)
            ok += r[j].ok && isfinite(r[j].bits) && isfinite(r[j].token_s), j++;
        if (ok >= 2) {
            char title[256];
            point_title(s, r[i].point, title, sizeof title);
            fprintf(d, "# point %zu\n", r[i].point);
            for (size_t q = i; q < j; q++)
                if (r[q].ok && isfinite(r[q].bits) && isfinite(r[q].token_s))
                    fprintf(d, "%.6g %.9g \"%s\"\n", r[q].bits, 1e3 * r[q].token_s, r[q].format);
            fprintf(d, "\n\n");
            fprintf(b, "%s dir.'/tradeoff.dat' index %zu using 1:2 with linespoints lw 2 title '%s', "
                       "'' index %zu using 1:2:3 with labels offset 0,1 notitle",
                    lines ? "," : "", lines, title, lines);
            lines++;
        }
        i = j;
    }
    fprintf(b, "\n");
    int rv = plot_text_finish(&pt, build, final, "tradeoff", ext, lines > 0, err);
    *drawn = !rv && lines > 0;
    return rv;
}

/* The group size of a grouped format ("q4g:64", "s4g:32+dq": the number
 * after ':'); 0 for others (fp16). */
static uint32_t group_of(const char *format)
{
    const char *c = strchr(format, ':');
    return c ? (uint32_t)strtoul(c + 1, NULL, 10) : 0;
}

#define SWEEP_PLOT_MAX_GROUPS 32

/* Batched token time against the group size of the grouped formats, one
 * line per point, bits per parameter on the top axis (Graphcore's study,
 * by group size). 0 and no plot when no point has two grouped formats. */
static int plot_groups(const Sweep *s, const PlotRow *r, size_t n, const char *build, const char *final,
                       const char *term, const char *ext, int *drawn, IpuErr *err)
{
    *drawn = 0;
    uint32_t gs[SWEEP_PLOT_MAX_GROUPS];
    double bits[SWEEP_PLOT_MAX_GROUPS];
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) { /* distinct group sizes, sorted, with their bits per parameter */
        uint32_t g = group_of(r[i].format);
        size_t k = 0;
        while (k < ng && gs[k] < g)
            k++;
        if (!g || !r[i].ok || !isfinite(r[i].bits) || (k < ng && gs[k] == g) || ng == SWEEP_PLOT_MAX_GROUPS)
            continue;
        memmove(gs + k + 1, gs + k, (ng - k) * sizeof *gs), memmove(bits + k + 1, bits + k, (ng - k) * sizeof *bits);
        gs[k] = g, bits[k] = r[i].bits, ng++;
    }
    size_t lines = 0;
    PlotText pt;
    if (plot_text_open(&pt, err))
        return -1;
    FILE *d = pt.d, *b = pt.b;
    fprintf(b, "set terminal %s\nset title 'batched token time against group size'\n"
               "set xlabel 'group size (weights per scale and bias)'\nset x2label 'bits per parameter'\n"
               "set ylabel 'batched token time (ms)'\nset link x2\nset offsets 0.25, 0.25, 0, 0\n"
               "set grid\nset key below noenhanced\nset xtics (",
            term);
    /* x is log2 of the group size (gnuplot links no log axis), ticks labelled with the sizes */
    for (size_t k = 0; k < ng; k++)
        fprintf(b, "%s\"%u\" %.6g", k ? ", " : "", gs[k], log2(gs[k]));
    fprintf(b, ")\nset x2tics (");
    for (size_t k = 0; k < ng; k++)
        fprintf(b, "%s\"%.3g\" %.6g", k ? ", " : "", bits[k], log2(gs[k]));
    fprintf(b, ")\nplot");
    for (size_t i = 0; i < n && lines < SWEEP_PLOT_TRADEOFF_LINES;) {
        size_t j = i, ok = 0;
        while (j < n && r[j].point == r[i].point)
            ok += r[j].ok && group_of(r[j].format) && isfinite(r[j].token_s), j++;
        if (ok >= 2) {
            char title[256];
            point_title(s, r[i].point, title, sizeof title);
            fprintf(d, "# point %zu\n", r[i].point);
            for (size_t q = i; q < j; q++)
                if (r[q].ok && group_of(r[q].format) && isfinite(r[q].token_s))
                    fprintf(d, "%.6g %.9g\n", log2(group_of(r[q].format)), 1e3 * r[q].token_s);
            fprintf(d, "\n\n");
            fprintf(b, "%s dir.'/groups.dat' index %zu using 1:2 with linespoints lw 2 title '%s'", lines ? "," : "",
                    lines, title);
            lines++;
        }
        i = j;
    }
    fprintf(b, "\n");
    int rv = plot_text_finish(&pt, build, final, "groups", ext, lines > 0, err);
    *drawn = !rv && lines > 0;
    return rv;
}

#define SWEEP_PLOT_MAX_ROOFS 6

static int roofline_usable(const PlotRow *r)
{
    return r->ok && isfinite(r->intensity) && r->intensity > 0 && isfinite(r->achieved) && r->achieved > 0 &&
           isfinite(r->peak_flops) && isfinite(r->peak_bytes);
}

/* The sweep on the rooflines: each (point, format)'s step at its FLOPs per
 * byte moved (the bytes the MBU counts) and its FLOP/s, one marker kind per
 * format, labelled with the first varied key's value; the roofs min(compute
 * peak, memory peak x intensity) of each distinct machine of the sweep (the
 * first SWEEP_PLOT_MAX_ROOFS), the memory being the MBU's (streaming memory
 * for streamed weights, SRAM for resident ones). host/roofline.h. */
static int plot_roofline(const Sweep *s, const PlotRow *r, size_t n, const char *build, const char *final,
                         const char *term, const char *ext, int *drawn, IpuErr *err)
{
    *drawn = 0;
    double roof[SWEEP_PLOT_MAX_ROOFS][2];
    size_t nroof = 0, nok = 0;
    double xlo = INFINITY, xhi = 0;
    for (size_t i = 0; i < n; i++) {
        if (!roofline_usable(&r[i]))
            continue;
        nok++;
        xlo = fmin(xlo, r[i].intensity), xhi = fmax(xhi, r[i].intensity);
        size_t k = 0;
        while (k < nroof && !(roof[k][0] == r[i].peak_flops && roof[k][1] == r[i].peak_bytes))
            k++;
        if (k == nroof && nroof < SWEEP_PLOT_MAX_ROOFS)
            roof[nroof][0] = r[i].peak_flops, roof[nroof][1] = r[i].peak_bytes, nroof++;
    }
    if (!nok)
        return 0;
    for (size_t k = 0; k < nroof; k++) /* show each roof's ridge, where memory stops binding */
        xhi = fmax(xhi, roof[k][0] / roof[k][1]);
    PlotText pt;
    if (plot_text_open(&pt, err))
        return -1;
    FILE *d = pt.d, *b = pt.b;
    fprintf(b, "set terminal %s\nset title 'the sweep on the rooflines (labels: %s)'\n"
               "set xlabel 'arithmetic intensity (FLOP per byte moved)'\nset ylabel 'achieved FLOP/s'\n"
               "set logscale xy\nset grid\nset key below noenhanced\nset xrange [%.6g:%.6g]\nset samples 400\n",
            term, s->nvary ? s->vary[0].key : "-", xlo / 4, xhi * 4);
    for (size_t k = 0; k < nroof; k++)
        fprintf(b, "roof%zu(x) = x * %.9g < %.9g ? x * %.9g : %.9g\n", k, roof[k][1], roof[k][0], roof[k][1], roof[k][0]);
    fprintf(b, "plot");
    for (size_t k = 0; k < nroof; k++)
        fprintf(b, "%s roof%zu(x) with lines dt 2 lw 2 title 'roof: %.3g TFLOP/s, %.3g GB/s'", k ? "," : "", k,
                roof[k][0] / 1e12, roof[k][1] / 1e9);
    char seen[RUNCFG_MAX_FORMATS][32];
    size_t nf = 0;
    for (size_t i = 0; i < n; i++) { /* one data block per format, in order of first appearance */
        if (!roofline_usable(&r[i]))
            continue;
        size_t f = 0;
        while (f < nf && strcmp(seen[f], r[i].format))
            f++;
        if (f < nf || nf == RUNCFG_MAX_FORMATS)
            continue;
        snprintf(seen[nf++], sizeof seen[0], "%s", r[i].format);
        fprintf(d, "# %s\n", r[i].format);
        for (size_t q = i; q < n; q++)
            if (roofline_usable(&r[q]) && !strcmp(r[q].format, r[i].format)) {
                size_t idx[SWEEP_MAX_VARY];
                sweep_point_index(s, r[q].point, idx);
                fprintf(d, "%.9g %.9g \"%s\"\n", r[q].intensity, r[q].achieved,
                        s->nvary ? s->vary[0].values[idx[0]] : "");
            }
        fprintf(d, "\n\n");
        fprintf(b, ", dir.'/roofline.dat' index %zu using 1:2 with points pt %zu ps 1.5 title '%s', "
                   "'' index %zu using 1:2:3 with labels offset 0,0.8 font ',8' notitle",
                nf - 1, 4 + 2 * (nf - 1), r[i].format, nf - 1);
    }
    fprintf(b, "\n");
    int rv = plot_text_finish(&pt, build, final, "roofline", ext, 1, err);
    *drawn = !rv;
    return rv;
}

int sweep_plot(const Sweep *s, const char *dir, const char *metric, char *names, size_t cap, IpuErr *err)
{
    names[0] = '\0';
    char abs[PATH_MAX], final[PATH_MAX + 16];
    if (!realpath(dir, abs))
        return ipu_err(err, "plots: folder '%s' not found", dir);
    snprintf(final, sizeof final, "%s/plots", abs);
    if (!plot_quotable(final))
        return ipu_err(err, "plots: folder '%s': quotes and line breaks are not supported", final);
    const char *ext = NULL, *term = plot_terminal(&ext);
    if (!term)
        return ipu_err(err, "plots: gnuplot is missing or has none of the pngcairo, png, svg terminals "
                            "(install gnuplot-nox: scripts/setup)");
    PlotRow *r = NULL;
    size_t n = 0;
    if (read_rows(dir, metric, &r, &n, err))
        return -1;
    FileioDir d;
    memset(&d, 0, sizeof d);
    int rv = fileio_dir_begin(&d, final, err);
    for (int k = 0; k < s->nvary && !rv; k++) {
        char name[160];
        rv = plot_key(s, k, metric, r, n, d.tmp, final, term, ext, name, sizeof name, err);
        if (!rv)
            snprintf(names + strlen(names), cap - strlen(names), "%splots/%s.%s", names[0] ? ";" : "", name, ext);
    }
    int drawn = 0;
    if (!rv)
        rv = plot_tradeoff(s, r, n, d.tmp, final, term, ext, &drawn, err);
    if (!rv && drawn)
        snprintf(names + strlen(names), cap - strlen(names), ";plots/tradeoff.%s", ext);
    if (!rv)
        rv = plot_groups(s, r, n, d.tmp, final, term, ext, &drawn, err);
    if (!rv && drawn)
        snprintf(names + strlen(names), cap - strlen(names), ";plots/groups.%s", ext);
    if (!rv)
        rv = plot_roofline(s, r, n, d.tmp, final, term, ext, &drawn, err);
    if (!rv && drawn)
        snprintf(names + strlen(names), cap - strlen(names), ";plots/roofline.%s", ext);
    if (!rv)
        rv = fileio_dir_commit(&d, sweep_plot_files, err);
    fileio_dir_abort(&d);
    free(r);
    return rv;
}
