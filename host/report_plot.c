/* report_plot.c - the report's gnuplot plots (breakdown, groups, memory),
 * drawn through host/plot.h (see report.h, report_priv.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "host/plot.h"
#include "host/report.h"
#include "host/report_priv.h"

void report_text_gp_string(ReportText *t, const char *s)
{
    report_text_add(t, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '\n')
            report_text_add(t, "\\n");
        else if (*p == '"' || *p == '\\')
            report_text_add(t, "\\%c", *p);
        else if ((unsigned char)*p >= 0x20)
            report_text_add(t, "%c", *p);
    }
    report_text_add(t, "\"");
}

int report_plot_data(const char *dir, const char *name, ReportText *data, IpuErr *err)
{
    char dat[1200];
    snprintf(dat, sizeof dat, "%s/%s.dat", dir, name);
    int rv = data->oom ? ipu_err(err, "'%s': out of memory", dat) : fileio_write(dat, data->s, data->n, err);
    free(data->s);
    *data = (ReportText){0};
    return rv;
}

int report_gnuplot(const char *dir, const char *name, const char *term, const char *ext, ReportText *body,
                   IpuErr *err)
{
    ReportText full = {0};
    report_text_add(&full, "set terminal %s\n%s", term, body->s ? body->s : "");
    int oom = full.oom || body->oom;
    free(body->s);
    *body = (ReportText){0};
    int rv = oom ? ipu_err(err, "plot '%s': out of memory", name) : plot_render(dir, NULL, name, ext, full.s, err);
    free(full.s);
    return rv;
}

/* `set title "WHAT\nthe configuration" noenhanced` (names hold '_' and '@',
 * which enhanced text would typeset). */
static void title(ReportText *s, const Report *r, const char *what)
{
    char line[600], full[800];
    report_config_line(r, line, sizeof line);
    snprintf(full, sizeof full, "%s\n%s", what, line);
    report_text_add(s, "set title ");
    report_text_gp_string(s, full);
    report_text_add(s, " noenhanced\n");
}

static int plot_breakdown(const Report *r, const char *dir, const char *term, const char *ext, IpuErr *err)
{
    ReportText data = {0}, s = {0};
    int decode = r->f[0].ndecode > 0;
    report_text_add(&data, "format");
    for (int p = 0; p < PHASE_COUNT; p++)
        report_text_add(&data, " %s", report_phase_name(p));
    report_text_add(&data, "\n");
    for (int i = 0; i < r->n; i++) {
        const FormatReport *f = &r->f[i];
        report_text_add(&data, "%s", f->format);
        for (int p = 0; p < PHASE_COUNT; p++)
            report_text_add(&data, " %.6f", 1e3 * (decode ? f->decode_cycles[p] : f->prefill_cycles[p]) / f->clock_hz);
        report_text_add(&data, "\n");
    }
    if (report_plot_data(dir, "breakdown", &data, err))
        return -1;
    title(&s, r, decode ? "decode step (mean) by phase" : "prefill by phase");
    report_text_add(&s, "set ylabel 'ms'\nset style data histograms\nset style histogram rowstacked\n"
                        "set style fill solid 0.8 border -1\nset boxwidth 0.6\nset key outside right top noenhanced\n"
                        "set grid ytics\nplot for [c=2:%d] dir.'/breakdown.dat' using c:xtic(1) title columnheader(c)\n",
                    PHASE_COUNT + 1);
    return report_gnuplot(dir, "breakdown", term, ext, &s, err);
}

static int plot_groups(const Report *r, const char *dir, const char *term, const char *ext, IpuErr *err)
{
    ReportText data = {0}, s = {0};
    double fp16_ms = NAN;
    report_text_add(&data, "# group batched_token_ms bits_per_param\n");
    for (int i = 0; i < r->n; i++) {
        const FormatReport *f = &r->f[i];
        unsigned g;
        if (sscanf(f->format, "q4g:%u", &g) == 1)
            report_text_add(&data, "%u %.6f %.4f\n", g, 1e3 * f->batched_token_s, f->bits_per_param);
        else if (!strcmp(f->format, "fp16"))
            fp16_ms = 1e3 * f->batched_token_s;
    }
    if (report_plot_data(dir, "groups", &data, err))
        return -1;
    title(&s, r, "batched token time against group size");
    report_text_add(&s, "set logscale x 2\nset xlabel 'group size (elements)'\nset ylabel 'batched token time (ms)'\n"
                        "set y2label 'bits per parameter'\nset ytics nomirror\nset y2tics\nset grid\n"
                        "set key bottom right\n");
    if (isfinite(fp16_ms))
        report_text_add(&s, "plot dir.'/groups.dat' using 1:2 with linespoints lw 2 title 'q4g token time', "
                            "%.6f with lines dt 2 title 'fp16 token time', "
                            "dir.'/groups.dat' using 1:3 axes x1y2 with linespoints title 'bits per parameter'\n",
                        fp16_ms);
    else
        report_text_add(&s, "plot dir.'/groups.dat' using 1:2 with linespoints lw 2 title 'q4g token time', "
                            "dir.'/groups.dat' using 1:3 axes x1y2 with linespoints title 'bits per parameter'\n");
    return report_gnuplot(dir, "groups", term, ext, &s, err);
}

/* Any mix of formats: batched token time against bits per parameter, one
 * labelled point per format (the trade-off of docs/user-guide.md's study). */
static int plot_formats(const Report *r, const char *dir, const char *term, const char *ext, IpuErr *err)
{
    ReportText data = {0}, s = {0};
    report_text_add(&data, "# bits_per_param batched_token_ms format\n");
    for (int i = 0; i < r->n; i++)
        report_text_add(&data, "%.4f %.6f \"%s\"\n", r->f[i].bits_per_param, 1e3 * r->f[i].batched_token_s,
                        r->f[i].format);
    if (report_plot_data(dir, "formats", &data, err))
        return -1;
    title(&s, r, "batched token time against bits per parameter");
    report_text_add(&s, "set xlabel 'bits per parameter (matrices)'\nset ylabel 'batched token time (ms)'\nset grid\n"
                        "set offsets graph 0.05, graph 0.15, graph 0.1, graph 0.1\nset key off\n"
                        "plot dir.'/formats.dat' using 1:2 with points pt 7 ps 1.5, "
                        "'' using 1:2:3 with labels offset 1, 1 left noenhanced\n");
    return report_gnuplot(dir, "formats", term, ext, &s, err);
}

/* Bytes live at each program step (prefill, then decode) on each format's
 * fullest tile and on chip 0: the liveness curves of the memory layout. */
static int plot_memory(const Report *r, const char *dir, const char *term, const char *ext, IpuErr *err)
{
    ReportText data = {0}, s = {0};
    for (int i = 0; i < r->n; i++) {
        const FormatReport *f = &r->f[i];
        report_text_add(&data, "# %s: position tile_KiB chip_MiB (fullest tile %u)\n", f->format, f->sram.tile);
        for (size_t q = 0; q < f->mem_npos; q++)
            report_text_add(&data, "%zu %.3f %.3f\n", q, f->mem_tile[q] / 1024.0, f->mem_chip[q] / 1048576.0);
        report_text_add(&data, "\n\n");
    }
    if (report_plot_data(dir, "memory", &data, err))
        return -1;
    char line[600], what[800];
    report_config_line(r, line, sizeof line);
    snprintf(what, sizeof what, "tile memory live at each program step\n%s", line);
    report_text_add(&s, "set multiplot layout 2,1 title ");
    report_text_gp_string(&s, what);
    report_text_add(&s, " noenhanced\nset grid\nset key outside right top noenhanced\n"
                        "set xlabel 'program step (prefill, then decode from the dashed line)'\n");
    if (r->f[0].mem_decode_pos < r->f[0].mem_npos)
        report_text_add(&s, "set arrow from %zu, graph 0 to %zu, graph 1 nohead dt 2\n", r->f[0].mem_decode_pos,
                        r->f[0].mem_decode_pos);
    for (int panel = 0; panel < 2; panel++) {
        report_text_add(&s, "set ylabel '%s'\nplot", panel ? "chip 0 (MiB)" : "fullest tile (KiB)");
        for (int i = 0; i < r->n; i++) {
            report_text_add(&s, "%s dir.'/memory.dat' index %d using 1:%d with lines title ", i ? "," : "", i,
                            panel ? 3 : 2);
            report_text_gp_string(&s, r->f[i].format);
        }
        report_text_add(&s, "\n");
    }
    report_text_add(&s, "unset multiplot\n");
    return report_gnuplot(dir, "memory", term, ext, &s, err);
}

const char *const report_plot_files[] = {"breakdown.*", "groups.*", "formats.*", "memory.*", NULL};

int report_check_folder(const char *dir, IpuErr *err)
{
    if (!dir[0])
        return ipu_err(err, "folder name is empty");
    if (strchr(dir, '\'') || strlen(dir) > 1000) /* the name goes into a shell command in single quotes */
        return ipu_err(err, "folder '%s': quotes and paths over 1000 bytes are not supported", dir);
    return fileio_dir_check(dir, err);
}

/* Appends ";name.ext" (or "name.ext" first) to names. */
static void add_name(char *names, size_t cap, const char *name, const char *ext)
{
    if (names && cap)
        snprintf(names + strlen(names), cap - strlen(names), "%s%s.%s", names[0] ? ";" : "", name, ext);
}

int report_plot_into(const Report *r, const char *dir, char *names, size_t cap, IpuErr *err)
{
    if (names && cap)
        names[0] = '\0';
    if (r->n == 0)
        return ipu_err(err, "plot: no results to plot");
    if (report_check_folder(dir, err))
        return ipu_err_prefix(err, "plot");
    const char *ext = NULL, *term = plot_terminal(&ext);
    if (!term)
        return ipu_err(err, "plot: gnuplot is missing or has none of the pngcairo, png, svg terminals "
                            "(install gnuplot-nox: scripts/setup)");
    if (plot_breakdown(r, dir, term, ext, err))
        return -1;
    add_name(names, cap, "breakdown", ext);
    int nq = 0, nother = 0; /* q4g formats; formats beyond fp16 and q4g */
    for (int i = 0; i < r->n; i++) {
        nq += !strncmp(r->f[i].format, "q4g:", 4);
        nother += strncmp(r->f[i].format, "q4g:", 4) && strcmp(r->f[i].format, "fp16");
    }
    if (nother && r->n >= 2) {
        if (plot_formats(r, dir, term, ext, err))
            return -1;
        add_name(names, cap, "formats", ext);
    }
    if (nq >= 2) {
        if (plot_groups(r, dir, term, ext, err))
            return -1;
        add_name(names, cap, "groups", ext);
    }
    if (r->f[0].mem_npos) {
        if (plot_memory(r, dir, term, ext, err))
            return -1;
        add_name(names, cap, "memory", ext);
    }
    return 0;
}

int report_plot(const Report *r, const char *dir, char *written, size_t cap, IpuErr *err)
{
    char names[256];
    FileioDir d;
    if (written && cap)
        written[0] = '\0';
    if (report_check_folder(dir, err))
        return ipu_err_prefix(err, "plot");
    if (fileio_dir_begin(&d, dir, err))
        return -1;
    if (report_plot_into(r, d.tmp, names, sizeof names, err) || fileio_dir_commit(&d, report_plot_files, err)) {
        fileio_dir_abort(&d);
        return -1;
    }
    if (written)
        report_join_names(dir, names, written, cap);
    return 0;
}

void report_join_names(const char *dir, const char *names, char *out, size_t cap)
{
    if (!cap)
        return;
    out[0] = '\0';
    char buf[256];
    snprintf(buf, sizeof buf, "%s", names);
    for (char *save = NULL, *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save))
        snprintf(out + strlen(out), cap - strlen(out), "%s%s/%s", out[0] ? ";" : "", dir, tok);
}
