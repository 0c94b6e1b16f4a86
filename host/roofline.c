/* roofline.c - roofs from the arch, points from a report, FLOPs from the
 * model's shapes; table, JSON and the gnuplot plot (see roofline.h). */
#include "host/roofline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/plot.h"
#include "host/report_priv.h"

const char *const roofline_roof_names[ROOF_COUNT] = {"compute", "stream", "sram", "exchange"};
const char *const roofline_part_names[ROOFLINE_PART_COUNT] = {"step", "linears", "attention"};

/* How the roofs are named on the plot and in the table. */
static const char *const roof_labels[ROOF_COUNT] = {"AMP fp16 peak", "streaming memory", "tile SRAM",
                                                    "on-chip exchange"};

void roofline_init(Roofline *rl, const IpuArch *a, uint32_t chips)
{
    memset(rl, 0, sizeof *rl);
    rl->chips = chips;
    double tiles = (double)chips * a->tiles_per_chip;
    rl->peak[ROOF_COMPUTE] = tiles * a->amp_macs_per_cycle_fp16 * 2.0 * a->clock_hz;
    rl->peak[ROOF_STREAM] = report_stream_peak_bytes_per_s(a, chips);
    rl->peak[ROOF_SRAM] = report_sram_peak_bytes_per_s(a, chips);
    rl->peak[ROOF_EXCHANGE] = tiles * a->exchange_bytes_per_cycle * a->clock_hz;
}

void roofline_free(Roofline *rl)
{
    if (!rl)
        return;
    free(rl->p);
    memset(rl, 0, sizeof *rl);
}

void roofline_step_flops(const RooflineShape *s, uint32_t batch, uint32_t ndecode, int decode, double *linears,
                         double *attention)
{
    const GptjConfig *c = &s->cfg;
    double C = c->n_embd, I = c->n_inner, V = c->vocab_size, L = c->n_layer, D = (double)c->head_dim * c->n_head;
    double B = batch, P = s->prompt_len, S = s->seq_len;
    double rows, pairs; /* rows through the layers; causal (query, key) pairs per layer */
    if (!s->kv_cache) { /* Graphcore's scheme: every step runs the padded sequence */
        rows = B * S;
        pairs = B * S * (S + 1) / 2;
    } else if (decode) { /* decode step k: one row per sequence at position P + k, P + k + 1 keys */
        rows = B;
        pairs = B * (P + 1 + (ndecode ? (ndecode - 1) / 2.0 : 0));
    } else {
        rows = B * P;
        pairs = B * P * (P + 1) / 2;
    }
    /* q, k, v, out_proj (C x C each), fc_in (C -> I), fc_out (I -> C); the head on each sequence's last row */
    *linears = 2 * L * rows * (4 * C * C + 2 * C * I) + 2 * B * C * V;
    /* q k^T and p v: head_dim x heads multiply-adds each per pair */
    *attention = 2 * 2 * L * pairs * D;
}

static int add_point(Roofline *rl, const RooflinePoint *pt, IpuErr *err)
{
    if (rl->n == rl->cap) {
        int cap = rl->cap ? 2 * rl->cap : 16;
        RooflinePoint *p = realloc(rl->p, (size_t)cap * sizeof *p);
        if (!p)
            return ipu_err(err, "roofline: out of memory");
        rl->p = p;
        rl->cap = cap;
    }
    rl->p[rl->n++] = *pt;
    return 0;
}

/* Fills the derived figures of pt from the lower bounds lb[] (seconds; 0
 * for a roof that does not apply) and adds it; a point with no bytes or no
 * time is left out. */
static int finish_point(Roofline *rl, RooflinePoint *pt, const double *lb, IpuErr *err)
{
    if (!(pt->bytes > 0) || !(pt->time_s > 0) || !(pt->flops > 0))
        return 0;
    pt->intensity = pt->flops / pt->bytes;
    pt->achieved_flops_per_s = pt->flops / pt->time_s;
    pt->bound = ROOF_COMPUTE;
    for (int k = 1; k < ROOF_COUNT; k++)
        if (lb[k] > lb[pt->bound])
            pt->bound = (RoofKind)k;
    pt->bound_frac = lb[pt->bound] / pt->time_s;
    return add_point(rl, pt, err);
}

/* The three points of one step of format f. */
static int add_step(Roofline *rl, const FormatReport *f, const RooflineShape *shape, int decode, IpuErr *err)
{
    const double *cyc = decode ? f->decode_cycles : f->prefill_cycles;
    const ReportStepBytes *b = decode ? &f->decode_bytes : &f->prefill_bytes;
    double total = decode ? f->decode_total_cycles : f->prefill_total_cycles, hz = f->clock_hz;
    double lin, att;
    roofline_step_flops(shape, f->batch, f->ndecode, decode, &lin, &att);
    int resident = f->placement == PLACE_RESIDENT;
    RoofKind src = resident ? ROOF_SRAM : ROOF_STREAM;
    double sram_bytes = b->weight_bytes_read + b->kv_bytes_read;
    RooflinePoint pt = {.batch = f->batch, .decode = decode, .source = src};
    snprintf(pt.format, sizeof pt.format, "%s", f->format);

    pt.part = ROOFLINE_STEP, pt.flops = lin + att, pt.time_s = total / hz;
    pt.bytes = resident ? sram_bytes : b->stream_bytes;
    double lb[ROOF_COUNT] = {pt.flops / rl->peak[ROOF_COMPUTE], b->stream_bytes / rl->peak[ROOF_STREAM],
                             sram_bytes / rl->peak[ROOF_SRAM], b->exchange_bytes / rl->peak[ROOF_EXCHANGE]};
    if (finish_point(rl, &pt, lb, err))
        return -1;

    pt.part = ROOFLINE_LINEARS, pt.flops = lin, pt.bytes = resident ? b->weight_bytes_read : b->stream_bytes;
    pt.time_s = (cyc[PHASE_STREAM] + cyc[PHASE_DECOMPRESS] + cyc[PHASE_MATMUL]) / hz;
    double ll[ROOF_COUNT] = {lin / rl->peak[ROOF_COMPUTE], 0, 0, 0};
    ll[src] = pt.bytes / rl->peak[src];
    if (finish_point(rl, &pt, ll, err))
        return -1;

    pt.part = ROOFLINE_ATTENTION, pt.source = ROOF_SRAM, pt.flops = att, pt.bytes = b->kv_bytes_read;
    pt.time_s = cyc[PHASE_ATTENTION] / hz;
    double la[ROOF_COUNT] = {att / rl->peak[ROOF_COMPUTE], 0, pt.bytes / rl->peak[ROOF_SRAM], 0};
    return finish_point(rl, &pt, la, err);
}

/* Where format sits among the formats in the order first added. */
static int format_rank(const char (*fmts)[32], int nf, const char *format)
{
    for (int k = 0; k < nf; k++)
        if (!strcmp(fmts[k], format))
            return k;
    return nf;
}

/* a goes before b in the order the table reads best: format (as first
 * added), prefill before decode, part, then batch, so one batch's point
 * sits beside another's. */
static int before(const char (*fmts)[32], int nf, const RooflinePoint *a, const RooflinePoint *b)
{
    int fa = format_rank(fmts, nf, a->format), fb = format_rank(fmts, nf, b->format);
    if (fa != fb)
        return fa < fb;
    if (a->decode != b->decode)
        return a->decode < b->decode;
    if (a->part != b->part)
        return a->part < b->part;
    return a->batch < b->batch;
}

int roofline_add(Roofline *rl, const Report *r, const RooflineShape *shape, IpuErr *err)
{
    for (int i = 0; i < r->n; i++)
        for (int d = 0; d < (r->f[i].ndecode ? 2 : 1); d++)
            if (add_step(rl, &r->f[i], shape, d, err))
                return -1;
    char(*fmts)[32] = malloc((size_t)(rl->n ? rl->n : 1) * sizeof *fmts);
    if (!fmts)
        return ipu_err(err, "roofline: out of memory");
    int nf = 0;
    for (int i = 0; i < rl->n; i++)
        if (format_rank((const char(*)[32])fmts, nf, rl->p[i].format) == nf)
            snprintf(fmts[nf++], sizeof fmts[0], "%s", rl->p[i].format);
    for (int i = 1; i < rl->n; i++) { /* insertion sort: stable, a few dozen points */
        RooflinePoint x = rl->p[i];
        int j = i;
        while (j > 0 && before((const char(*)[32])fmts, nf, &x, &rl->p[j - 1]))
            rl->p[j] = rl->p[j - 1], j--;
        rl->p[j] = x;
    }
    free(fmts);
    return 0;
}

/* "86.6 GB/s", "1001.2 TFLOP/s": value in the largest unit that keeps it >= 1. */
static void si(char *out, size_t cap, double v, const char *unit)
{
    static const char *const pre[] = {"", "k", "M", "G", "T", "P", "E"};
    int k = 0;
    while (k < 6 && fabs(v) >= 1000)
        v /= 1000, k++;
    snprintf(out, cap, "%.1f %s%s", v, pre[k], unit);
}

static void roof_text(char *out, size_t cap, const Roofline *rl, int k)
{
    si(out, cap, rl->peak[k], k == ROOF_COMPUTE ? "FLOP/s" : "B/s");
}

void roofline_print(FILE *f, const Roofline *rl)
{
    char v[ROOF_COUNT][32];
    for (int k = 0; k < ROOF_COUNT; k++)
        roof_text(v[k], sizeof v[k], rl, k);
    fprintf(f, "\nroofline of %u chips: %s %s, %s %s, %s %s, %s %s\n", rl->chips, roof_labels[0], v[0], roof_labels[1],
            v[1], roof_labels[2], v[2], roof_labels[3], v[3]);
    fprintf(f, "  %-10s %-8s %-10s %6s %12s %12s %-7s %10s %12s %-9s %8s\n", "format", "step", "part", "batch",
            "GFLOP", "bytes (MB)", "from", "FLOP/byte", "GFLOP/s", "bound", "of bound");
    for (int i = 0; i < rl->n; i++) {
        const RooflinePoint *p = &rl->p[i];
        fprintf(f, p->flops >= 1e7 ? "  %-10s %-8s %-10s %6u %12.2f" : "  %-10s %-8s %-10s %6u %12.3e", p->format,
                p->decode ? "decode" : "prefill", roofline_part_names[p->part], p->batch, p->flops / 1e9);
        fprintf(f, " %12.1f %-7s %10.2f %12.1f %-9s %7.1f%%\n", p->bytes / 1e6,
                roofline_roof_names[p->source], p->intensity, p->achieved_flops_per_s / 1e9,
                roofline_roof_names[p->bound], 100 * p->bound_frac);
    }
}

cJSON *roofline_to_json(const Roofline *rl)
{
    static const char *const peak_keys[ROOF_COUNT] = {"compute_flops_per_s", "stream_bytes_per_s", "sram_bytes_per_s",
                                                      "exchange_bytes_per_s"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "chips", rl->chips);
    cJSON *pk = cJSON_AddObjectToObject(o, "peaks");
    for (int k = 0; k < ROOF_COUNT; k++)
        cJSON_AddNumberToObject(pk, peak_keys[k], rl->peak[k]);
    cJSON *arr = cJSON_AddArrayToObject(o, "points");
    for (int i = 0; i < rl->n; i++) {
        const RooflinePoint *p = &rl->p[i];
        cJSON *q = cJSON_CreateObject();
        cJSON_AddStringToObject(q, "format", p->format);
        cJSON_AddNumberToObject(q, "batch", p->batch);
        cJSON_AddStringToObject(q, "step", p->decode ? "decode" : "prefill");
        cJSON_AddStringToObject(q, "part", roofline_part_names[p->part]);
        cJSON_AddStringToObject(q, "source", roofline_roof_names[p->source]);
        cJSON_AddNumberToObject(q, "flops", p->flops);
        cJSON_AddNumberToObject(q, "bytes", p->bytes);
        cJSON_AddNumberToObject(q, "time_s", p->time_s);
        cJSON_AddNumberToObject(q, "intensity_flops_per_byte", p->intensity);
        cJSON_AddNumberToObject(q, "achieved_flops_per_s", p->achieved_flops_per_s);
        cJSON_AddStringToObject(q, "bound", roofline_roof_names[p->bound]);
        cJSON_AddNumberToObject(q, "bound_frac", p->bound_frac);
        cJSON_AddItemToArray(arr, q);
    }
    return o;
}

/* ---- the plot ---- */

/* Point type: open (prefill) or filled (decode) circle, square, triangle by part. */
static int point_type(const RooflinePoint *p) { return (int[]){6, 4, 8}[p->part] + p->decode; }

/* The data: one block per format (in first-seen order), rows "I FLOP/s pt
 * label"; the label is the batch when the plot holds several, else "-". */
static int plot_data(const Roofline *rl, const char *dir, const char **fmts, int nf, int batches, IpuErr *err)
{
    ReportText d = {0};
    for (int k = 0; k < nf; k++) {
        report_text_add(&d, "# %s: intensity_flops_per_byte achieved_flops_per_s point_type label\n", fmts[k]);
        for (int i = 0; i < rl->n; i++) {
            const RooflinePoint *p = &rl->p[i];
            if (strcmp(p->format, fmts[k]))
                continue;
            report_text_add(&d, "%.6g %.6g %d ", p->intensity, p->achieved_flops_per_s, point_type(p));
            if (batches > 1)
                report_text_add(&d, "b%u\n", p->batch);
            else
                report_text_add(&d, "-\n");
        }
        report_text_add(&d, "\n\n");
    }
    return report_plot_data(dir, "roofline", &d, err);
}

/* Axis ranges that hold every point, the compute roof and the ridge of the lowest memory roof. */
static void ranges(const Roofline *rl, double *x0, double *x1, double *y0, double *y1)
{
    double imin = INFINITY, imax = 0, amin = INFINITY, ridge = 0;
    for (int i = 0; i < rl->n; i++) {
        imin = fmin(imin, rl->p[i].intensity), imax = fmax(imax, rl->p[i].intensity);
        amin = fmin(amin, rl->p[i].achieved_flops_per_s);
    }
    for (int k = 1; k < ROOF_COUNT; k++)
        if (rl->peak[k] > 0)
            ridge = fmax(ridge, rl->peak[ROOF_COMPUTE] / rl->peak[k]);
    *x0 = pow(10, floor(log10(imin / 2)));
    *x1 = pow(10, ceil(log10(fmax(imax * 2, ridge * 2))));
    *y0 = pow(10, floor(log10(fmin(amin, rl->peak[ROOF_COMPUTE]) / 3)));
    *y1 = pow(10, ceil(log10(rl->peak[ROOF_COMPUTE] * 3)));
}

/* "batches 1, 16" (in the order first added), or NULL with one batch. */
static const char *batch_list(const Roofline *rl, char *out, size_t cap)
{
    int k = 0;
    snprintf(out, cap, "batches");
    for (int i = 0; i < rl->n; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= rl->p[j].batch == rl->p[i].batch;
        if (!seen && strlen(out) + 16 < cap)
            snprintf(out + strlen(out), cap - strlen(out), "%s %u", k++ ? "," : "", rl->p[i].batch);
    }
    return k > 1 ? out : NULL;
}

static void plot_script(ReportText *s, const Roofline *rl, const Report *r, const char **fmts, int nf, int batches)
{
    char line[600], title[800], v[32], bl[128];
    report_config_line_with(r, batch_list(rl, bl, sizeof bl), line, sizeof line);
    snprintf(title, sizeof title, "roofline: achieved FLOP/s against FLOPs per byte moved from the source\n%s%s", line,
             batches > 1 ? " (labels: batch)" : "");
    report_text_add(s, "set title ");
    report_text_gp_string(s, title);
    double x0, x1, y0, y1;
    ranges(rl, &x0, &x1, &y0, &y1);
    report_text_add(s, " noenhanced\nset logscale xy\nset xrange [%g:%g]\nset yrange [%g:%g]\nset samples 1000\n"
                       "set xlabel 'arithmetic intensity (FLOP per byte moved from its source)'\n"
                       "set ylabel 'FLOP/s'\nset format y '%%.0e'\nset grid\n"
                       "set key inside bottom right opaque box font ',9' spacing 0.9 noenhanced\n"
                       "P = %.6g\n",
                    x0, x1, y0, y1, rl->peak[ROOF_COMPUTE]);
    static const char *const fn[ROOF_COUNT] = {"", "stream", "sram", "exchange"};
    for (int k = 1; k < ROOF_COUNT; k++)
        report_text_add(s, "%s(x) = x * %.6g < P ? x * %.6g : P\n", fn[k], rl->peak[k], rl->peak[k]);
    roof_text(v, sizeof v, rl, ROOF_COMPUTE);
    report_text_add(s, "plot P with lines lw 2 lc rgb 'black' title '%s %s'", roof_labels[0], v);
    static const int dash[ROOF_COUNT] = {1, 2, 3, 4};
    for (int k = 1; k < ROOF_COUNT; k++) {
        roof_text(v, sizeof v, rl, k);
        report_text_add(s, ", \\\n  %s(x) with lines lw 2 dt %d lc rgb 'gray40' title '%s %s'", fn[k], dash[k],
                        roof_labels[k], v);
    }
    for (int k = 0; k < nf; k++) {
        report_text_add(s, ", \\\n  dir.'/roofline.dat' index %d using 1:2:3 with points pt variable ps 1.5 lc %d notitle",
                        k, k + 1);
        if (batches > 1)
            report_text_add(s, ", \\\n  dir.'/roofline.dat' index %d using 1:2:4 with labels offset 1.4,0.6 font ',9' "
                               "tc lt %d notitle",
                            k, k + 1);
        report_text_add(s, ", \\\n  NaN with points pt 7 ps 1.5 lc %d title ", k + 1);
        report_text_gp_string(s, fmts[k]);
    }
    report_text_add(s, ", \\\n  NaN with points pt 6 lc rgb 'black' title 'step: prefill (open), decode (filled)'"
                       ", \\\n  NaN with points pt 4 lc rgb 'black' title 'linears + LM head'"
                       ", \\\n  NaN with points pt 8 lc rgb 'black' title 'attention'\n");
}

int roofline_plot_into(const Roofline *rl, const Report *r, const char *dir, char *names, size_t cap, IpuErr *err)
{
    if (names && cap)
        names[0] = '\0';
    if (rl->n == 0)
        return ipu_err(err, "roofline: no points to plot");
    const char *ext = NULL, *term = plot_terminal(&ext);
    if (!term)
        return ipu_err(err, "roofline: gnuplot is missing or has none of the pngcairo, png, svg terminals "
                            "(install gnuplot-nox: scripts/setup)");
    const char **fmts = malloc((size_t)rl->n * sizeof *fmts);
    if (!fmts)
        return ipu_err(err, "roofline: out of memory");
    int nf = 0, batches = 0;
    for (int i = 0; i < rl->n; i++) {
        int seen = 0, seen_batch = 0;
        for (int k = 0; k < nf; k++)
            seen |= !strcmp(fmts[k], rl->p[i].format);
        for (int j = 0; j < i; j++)
            seen_batch |= rl->p[j].batch == rl->p[i].batch;
        if (!seen)
            fmts[nf++] = rl->p[i].format;
        batches += !seen_batch;
    }
    ReportText s = {0};
    int rv = plot_data(rl, dir, fmts, nf, batches, err);
    if (!rv) {
        plot_script(&s, rl, r, fmts, nf, batches);
        rv = report_gnuplot(dir, "roofline", term, ext, &s, err);
    }
    free(s.s);
    free(fmts);
    if (!rv && names && cap)
        snprintf(names, cap, "roofline.%s", ext);
    return rv;
}
