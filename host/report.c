/* report.c - report arithmetic, table, JSON, CSV and atomic files (see report.h). */
#include "host/report.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host/plot.h"
#include "sim/fileio.h"
#include "sim/sram.h"

/* Same order as RunPhase. */
static const char *const phase_names[PHASE_COUNT] = {
    "stream", "decompress", "matmul", "attention", "other", "exchange", "sync", "collective",
};
_Static_assert(PHASE_COUNT == 8, "phase_names follows RunPhase");

const char *report_phase_name(int phase)
{
    IPU_ASSERT(phase >= 0 && phase < PHASE_COUNT);
    return phase_names[phase];
}

void report_init(Report *r, cJSON *config)
{
    memset(r, 0, sizeof *r);
    r->config = config;
}

void report_free(Report *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        free(r->f[i].tokens), free(r->f[i].mem_tile), free(r->f[i].mem_chip);
    free(r->f);
    cJSON_Delete(r->config);
    memset(r, 0, sizeof *r);
}

/* Streaming peak of the first `chips` chips: each machine they occupy gives
 * min(its shared bandwidth, its streaming chips x the per-chip cap). */
static double stream_peak_bytes_per_s(const IpuArch *a, uint32_t chips)
{
    double peak = 0;
    for (uint32_t left = chips; left > 0;) {
        uint32_t in_machine = left < a->chips_per_machine ? left : a->chips_per_machine;
        double links = in_machine * a->stream_chip_bandwidth_bytes_per_s;
        peak += links < a->stream_bandwidth_bytes_per_s ? links : a->stream_bandwidth_bytes_per_s;
        left -= in_machine;
    }
    return peak;
}

static void sum_phases(const StepResult *s, double *phase, double *total)
{
    for (int p = 0; p < PHASE_COUNT; p++)
        phase[p] += (double)s->phase_cycles[p];
    *total += (double)s->cycles;
}

/* Bytes the MBU counts: what crossed the streaming path when weights stream
 * (weights and any KV that streamed; the resident embedding and an SRAM KV
 * cache do not load the streaming link), every weight and KV byte read from
 * SRAM when resident. */
static double step_bytes(const StepResult *s, int resident)
{
    return resident ? (double)(s->weight_bytes_read + s->kv_bytes_read) : (double)s->stream_bytes;
}

int report_add(Report *r, const RunResult *res, uint32_t batch, uint32_t chips, const IpuArch *arch, IpuErr *err)
{
    if (batch == 0 || chips == 0 || !(res->clock_hz > 0))
        return ipu_err(err, "report of '%s': batch %u, chips %u, clock %g Hz must be positive", res->format, batch, chips,
                       res->clock_hz);
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 4;
        FormatReport *f = realloc(r->f, (size_t)cap * sizeof *f);
        if (!f)
            return ipu_err(err, "report: out of memory");
        r->f = f;
        r->cap = cap;
    }
    FormatReport *f = &r->f[r->n];
    memset(f, 0, sizeof *f);
    snprintf(f->format, sizeof f->format, "%s", res->format);
    f->bits_per_param = res->bits_per_param;
    f->placement = res->placement;
    snprintf(f->weight_path, sizeof f->weight_path, "%s", res->weight_path);
    f->batch = batch;
    f->chips = chips;
    f->ndecode = res->ndecode;
    f->clock_hz = res->clock_hz;
    double hz = res->clock_hz;

    sum_phases(&res->prefill, f->prefill_cycles, &f->prefill_total_cycles);
    int resident = res->placement == PLACE_RESIDENT;
    double decode_bytes = 0, decode_sum = 0;
    for (uint32_t i = 0; i < res->ndecode; i++) {
        sum_phases(&res->decode[i], f->decode_cycles, &decode_sum);
        decode_bytes += step_bytes(&res->decode[i], resident);
    }
    if (res->ndecode) {
        for (int p = 0; p < PHASE_COUNT; p++)
            f->decode_cycles[p] /= res->ndecode;
        f->decode_total_cycles = decode_sum / res->ndecode;
    }
    f->ttft_s = f->prefill_total_cycles / hz;
    f->tpot_s = res->ndecode ? f->decode_total_cycles / hz : NAN;
    f->latency_s = (f->prefill_total_cycles + decode_sum) / hz;
    f->throughput_tok_per_s = f->latency_s > 0 ? (double)batch * (1.0 + res->ndecode) / f->latency_s : NAN;
    double step_s = res->ndecode ? f->tpot_s : f->ttft_s;
    f->batched_token_s = step_s / batch;

    f->step_bytes = res->ndecode ? decode_bytes / res->ndecode : step_bytes(&res->prefill, resident);
    const StepResult *st = res->ndecode ? &res->decode[0] : &res->prefill; /* every decode step reads the same */
    f->weight_read_bytes = (double)st->weight_bytes_read, f->kv_read_bytes = (double)st->kv_bytes_read;
    f->achieved_bytes_per_s = step_s > 0 ? f->step_bytes / step_s : NAN;
    f->peak_bytes_per_s = res->placement == PLACE_RESIDENT
                              ? (double)chips * arch->tiles_per_chip * arch->clock_hz * REPORT_SRAM_BYTES_PER_CYCLE
                              : stream_peak_bytes_per_s(arch, chips);
    f->mbu = f->achieved_bytes_per_s / f->peak_bytes_per_s;

    f->weight_bytes = res->weight_bytes;
    f->sram = res->sram;
    f->memory_proportion = res->memory_proportion;
    f->mem_npos = res->mem_npos, f->mem_decode_pos = res->mem_decode_pos;
    if (res->mem_npos) {
        f->mem_tile = malloc(res->mem_npos * sizeof *f->mem_tile);
        f->mem_chip = malloc(res->mem_npos * sizeof *f->mem_chip);
        if (!f->mem_tile || !f->mem_chip)
            return ipu_err(err, "report: out of memory");
        memcpy(f->mem_tile, res->mem_tile, res->mem_npos * sizeof *f->mem_tile);
        memcpy(f->mem_chip, res->mem_chip, res->mem_npos * sizeof *f->mem_chip);
    }
    if (res->tokens) {
        size_t n = (size_t)batch * (1 + res->ndecode);
        if (!(f->tokens = malloc(n * sizeof *f->tokens)))
            return ipu_err(err, "report: out of memory");
        memcpy(f->tokens, res->tokens, n * sizeof *f->tokens);
    }
    r->n++;
    /* speedups against the fp16 format, whichever order the formats came in */
    const FormatReport *base = NULL;
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->f[i].format, "fp16"))
            base = &r->f[i];
    for (int i = 0; i < r->n; i++)
        r->f[i].speedup_vs_fp16 = base ? base->batched_token_s / r->f[i].batched_token_s : NAN;
    return 0;
}

static double pct(double part, double total) { return total > 0 ? 100.0 * part / total : 0.0; }

static void print_breakdown(FILE *out, const Report *r, int decode)
{
    fprintf(out, "\n%s by phase (cycles, ms, %% of the step):\n  %-11s", decode ? "decode step (mean)" : "prefill", "phase");
    for (int i = 0; i < r->n; i++)
        fprintf(out, " %28s", r->f[i].format);
    fprintf(out, "\n");
    for (int p = 0; p <= PHASE_COUNT; p++) {
        fprintf(out, "  %-11s", p < PHASE_COUNT ? phase_names[p] : "total");
        for (int i = 0; i < r->n; i++) {
            const FormatReport *f = &r->f[i];
            double total = decode ? f->decode_total_cycles : f->prefill_total_cycles;
            double c = p < PHASE_COUNT ? (decode ? f->decode_cycles[p] : f->prefill_cycles[p]) : total;
            fprintf(out, " %14.0f %7.3f %4.1f%%", c, 1e3 * c / f->clock_hz, pct(c, total));
        }
        fprintf(out, "\n");
    }
}

void report_print(FILE *out, const Report *r)
{
    if (r->n == 0)
        return;
    fprintf(out, "%-34s", "");
    for (int i = 0; i < r->n; i++)
        fprintf(out, " %14s", r->f[i].format);
    fprintf(out, "\n");
/* A figure that is undefined for this run (NaN: no decode step, no fp16
 * baseline) prints as "-". */
#define ROW(label, fmt, expr)                                            \
    do {                                                                 \
        fprintf(out, "%-34s", label);                                    \
        for (int i = 0; i < r->n; i++) {                                 \
            const FormatReport *f = &r->f[i];                            \
            if (isnan((double)(expr)))                                   \
                fprintf(out, " %14s", "-");                              \
            else                                                         \
                fprintf(out, " " fmt, expr);                             \
        }                                                                \
        fprintf(out, "\n");                                              \
    } while (0)
    ROW("bits per parameter (matrices)", "%14.2f", f->bits_per_param);
    ROW("weights stored, all chips (MB)", "%14.1f", f->weight_bytes / 1e6);
    fprintf(out, "%-34s", "placement");
    for (int i = 0; i < r->n; i++)
        fprintf(out, " %14s", r->f[i].placement == PLACE_RESIDENT ? "resident" : "stream");
    fprintf(out, "\n");
    fprintf(out, "%-34s", "weights into the AMP"); /* fp16, decompressed to fp16, or fp8 direct */
    for (int i = 0; i < r->n; i++)
        fprintf(out, " %14s", r->f[i].weight_path[0] ? r->f[i].weight_path : "-");
    fprintf(out, "\n");
    ROW("memory_proportion planned for", "%14.4g", f->memory_proportion);
    ROW("TTFT, prefill (ms)", "%14.3f", 1e3 * f->ttft_s);
    ROW("TPOT, mean decode step (ms)", "%14.3f", 1e3 * f->tpot_s);
    ROW("end-to-end latency (ms)", "%14.3f", 1e3 * f->latency_s);
    ROW("throughput (tokens/s, batch)", "%14.1f", f->throughput_tok_per_s);
    ROW("batched token time (ms)", "%14.3f", 1e3 * f->batched_token_s);
    ROW("speedup vs fp16", "%13.2fx", f->speedup_vs_fp16);
    ROW("bytes moved per step (MB)", "%14.1f", f->step_bytes / 1e6);
    ROW("  weights read per step (MB)", "%14.1f", f->weight_read_bytes / 1e6);
    ROW("  KV cache read per step (MB)", "%14.1f", f->kv_read_bytes / 1e6);
    ROW("achieved bandwidth (GB/s)", "%14.1f", f->achieved_bytes_per_s / 1e9);
    ROW("peak bandwidth (GB/s)", "%14.1f", f->peak_bytes_per_s / 1e9);
    ROW("MBU (%)", "%14.1f", 100 * f->mbu);
    ROW("SRAM peak tile", "%14u", f->sram.tile);
    ROW("SRAM peak (KiB)", "%14.1f", f->sram.bytes / 1024.0);
    for (int live = 0; live < 2; live++)
        for (int c = 0; c < SRAM_CATEGORY_COUNT; c++) {
            char label[48];
            snprintf(label, sizeof label, "  %s %s (KiB)", live ? "live" : "always-live", sram_category_names[c]);
            uint64_t any = 0;
            for (int i = 0; i < r->n; i++)
                any |= live ? r->f[i].sram.live[c] : r->f[i].sram.always[c];
            if (any)
                ROW(label, "%14.1f", (live ? f->sram.live[c] : f->sram.always[c]) / 1024.0);
        }
    fprintf(out, "%-34s", "SRAM peak at step");
    for (int i = 0; i < r->n; i++)
        fprintf(out, " %14.14s", r->f[i].sram.step[0] ? r->f[i].sram.step : "-");
    fputc('\n', out);
#undef ROW
    print_breakdown(out, r, 0);
    if (r->f[0].ndecode)
        print_breakdown(out, r, 1);
}

static cJSON *phases_json(const double *cycles, double total, double hz)
{
    cJSON *o = cJSON_CreateObject();
    for (int p = 0; p < PHASE_COUNT; p++) {
        cJSON *ph = cJSON_AddObjectToObject(o, phase_names[p]);
        cJSON_AddNumberToObject(ph, "cycles", cycles[p]);
        cJSON_AddNumberToObject(ph, "s", cycles[p] / hz);
        cJSON_AddNumberToObject(ph, "pct", pct(cycles[p], total));
    }
    cJSON *t = cJSON_AddObjectToObject(o, "total");
    cJSON_AddNumberToObject(t, "cycles", total);
    cJSON_AddNumberToObject(t, "s", total / hz);
    return o;
}

/* NaN is not JSON: such a figure is written as null. */
static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

cJSON *report_to_json(const Report *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "config", r->config ? cJSON_Duplicate(r->config, 1) : cJSON_CreateNull());
    cJSON *arr = cJSON_AddArrayToObject(root, "formats");
    for (int i = 0; i < r->n; i++) {
        const FormatReport *f = &r->f[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "format", f->format);
        add_num(o, "bits_per_param", f->bits_per_param);
        cJSON_AddStringToObject(o, "placement", f->placement == PLACE_RESIDENT ? "resident" : "stream");
        cJSON_AddStringToObject(o, "weights_into_amp", f->weight_path);
        cJSON_AddNumberToObject(o, "memory_proportion", f->memory_proportion);
        cJSON_AddNumberToObject(o, "batch", f->batch);
        cJSON_AddNumberToObject(o, "chips", f->chips);
        cJSON_AddNumberToObject(o, "decode_steps", f->ndecode);
        cJSON_AddNumberToObject(o, "clock_hz", f->clock_hz);
        add_num(o, "ttft_s", f->ttft_s);
        add_num(o, "tpot_s", f->tpot_s);
        add_num(o, "latency_s", f->latency_s);
        add_num(o, "throughput_tokens_per_s", f->throughput_tok_per_s);
        add_num(o, "batched_token_s", f->batched_token_s);
        add_num(o, "speedup_vs_fp16", f->speedup_vs_fp16);
        add_num(o, "step_bytes", f->step_bytes);
        add_num(o, "weight_read_bytes", f->weight_read_bytes);
        add_num(o, "kv_read_bytes", f->kv_read_bytes);
        add_num(o, "achieved_bytes_per_s", f->achieved_bytes_per_s);
        add_num(o, "peak_bytes_per_s", f->peak_bytes_per_s);
        add_num(o, "mbu", f->mbu);
        cJSON_AddNumberToObject(o, "weight_bytes", (double)f->weight_bytes);
        cJSON *sp = cJSON_AddObjectToObject(o, "sram_peak");
        cJSON_AddNumberToObject(sp, "tile", f->sram.tile);
        cJSON_AddNumberToObject(sp, "bytes", (double)f->sram.bytes);
        cJSON_AddStringToObject(sp, "step", f->sram.step);
        cJSON *al = cJSON_AddObjectToObject(sp, "always_live"), *lv = cJSON_AddObjectToObject(sp, "not_always_live");
        for (int c = 0; c < SRAM_CATEGORY_COUNT; c++) {
            cJSON_AddNumberToObject(al, sram_category_names[c], (double)f->sram.always[c]);
            cJSON_AddNumberToObject(lv, sram_category_names[c], (double)f->sram.live[c]);
        }
        cJSON_AddItemToObject(o, "prefill", phases_json(f->prefill_cycles, f->prefill_total_cycles, f->clock_hz));
        if (f->ndecode)
            cJSON_AddItemToObject(o, "decode", phases_json(f->decode_cycles, f->decode_total_cycles, f->clock_hz));
        if (f->tokens) {
            cJSON *t = cJSON_AddArrayToObject(o, "tokens");
            for (uint32_t b = 0; b < f->batch; b++) {
                cJSON *row = cJSON_CreateArray();
                for (uint32_t j = 0; j <= f->ndecode; j++)
                    cJSON_AddItemToArray(row, cJSON_CreateNumber(f->tokens[(size_t)b * (f->ndecode + 1) + j]));
                cJSON_AddItemToArray(t, row);
            }
        }
        cJSON_AddItemToArray(arr, o);
    }
    return root;
}

int report_write_json(const Report *r, const char *path, IpuErr *err)
{
    cJSON *j = report_to_json(r);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s)
        return ipu_err(err, "'%s': out of memory printing JSON", path);
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        cJSON_free(s);
        return ipu_err(err, "'%s': out of memory", path);
    }
    t[n] = '\n';
    int rv = fileio_write(path, t, n + 1, err);
    free(t);
    return rv;
}

/* A growable text buffer for CSV and plot data. */
typedef struct Text {
    char *s;
    size_t n, cap;
    int oom;
} Text;

static void text_add(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(Text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0 || t->oom) {
            t->oom = 1;
            return;
        }
        if (t->s && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = (t->cap ? 2 * t->cap : 4096) + (size_t)k;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

char *report_csv_text(const Report *r, size_t *len)
{
    Text t = {0};
    text_add(&t, "format,step,phase,cycles,seconds,percent\n");
    for (int i = 0; i < r->n; i++) {
        const FormatReport *f = &r->f[i];
        for (int d = 0; d < (f->ndecode ? 2 : 1); d++) {
            const double *c = d ? f->decode_cycles : f->prefill_cycles;
            double total = d ? f->decode_total_cycles : f->prefill_total_cycles;
            for (int p = 0; p <= PHASE_COUNT; p++) {
                double v = p < PHASE_COUNT ? c[p] : total;
                text_add(&t, "%s,%s,%s,%.0f,%.9g,%.3f\n", f->format, d ? "decode" : "prefill",
                         p < PHASE_COUNT ? phase_names[p] : "total", v, v / f->clock_hz, pct(v, total));
            }
        }
    }
    if (t.oom) {
        free(t.s);
        return NULL;
    }
    *len = t.n;
    return t.s ? t.s : calloc(1, 1);
}

int report_write_csv(const Report *r, const char *path, IpuErr *err)
{
    size_t n;
    char *s = report_csv_text(r, &n);
    int rv = s ? fileio_write(path, s, n, err) : ipu_err(err, "'%s': out of memory", path);
    free(s);
    return rv;
}

/* ---- plots ------------------------------------------------------------ */

/* Draws NAME.EXT in dir, a folder being built (FileioDir), through
 * host/plot.h (the script kept as NAME.gp). */
static int run_gnuplot(const char *dir, const char *name, const char *ext, Text *script, IpuErr *err)
{
    return plot_render(dir, NULL, name, ext, script->s ? script->s : "", err);
}

static int plot_breakdown(const Report *r, const char *dir, const char *term, const char *ext, IpuErr *err)
{
    Text data = {0}, s = {0};
    int decode = r->f[0].ndecode > 0;
    text_add(&data, "format");
    for (int p = 0; p < PHASE_COUNT; p++)
        text_add(&data, " %s", phase_names[p]);
    text_add(&data, "\n");
    for (int i = 0; i < r->n; i++) {
        const FormatReport *f = &r->f[i];
        text_add(&data, "%s", f->format);
        for (int p = 0; p < PHASE_COUNT; p++)
            text_add(&data, " %.6f", 1e3 * (decode ? f->decode_cycles[p] : f->prefill_cycles[p]) / f->clock_hz);
        text_add(&data, "\n");
    }
    char dat[1200];
    snprintf(dat, sizeof dat, "%s/breakdown.dat", dir);
    int rv = data.oom ? ipu_err(err, "'%s': out of memory", dat) : fileio_write(dat, data.s, data.n, err);
    free(data.s);
    if (rv)
        return -1;
    text_add(&s, "set terminal %s\nset title '%s by phase'\nset ylabel 'ms'\n"
                 "set style data histograms\nset style histogram rowstacked\nset style fill solid 0.8 border -1\n"
                 "set boxwidth 0.6\nset key outside right top\nset grid ytics\n"
                 "plot for [c=2:%d] '%s' using c:xtic(1) title columnheader(c)\n",
             term, decode ? "decode step (mean)" : "prefill", PHASE_COUNT + 1, dat);
    rv = s.oom ? ipu_err(err, "plot: out of memory") : run_gnuplot(dir, "breakdown", ext, &s, err);
    free(s.s);
    return rv;
}

static int plot_groups(const Report *r, const char *dir, const char *term, const char *ext, IpuErr *err)
{
    Text data = {0}, s = {0};
    double fp16_ms = NAN;
    text_add(&data, "# group batched_token_ms bits_per_param\n");
    for (int i = 0; i < r->n; i++) {
        const FormatReport *f = &r->f[i];
        unsigned g;
        if (sscanf(f->format, "q4g:%u", &g) == 1)
            text_add(&data, "%u %.6f %.4f\n", g, 1e3 * f->batched_token_s, f->bits_per_param);
        else if (!strcmp(f->format, "fp16"))
            fp16_ms = 1e3 * f->batched_token_s;
    }
    char dat[1200];
    snprintf(dat, sizeof dat, "%s/groups.dat", dir);
    int rv = data.oom ? ipu_err(err, "'%s': out of memory", dat) : fileio_write(dat, data.s, data.n, err);
    free(data.s);
    if (rv)
        return -1;
    text_add(&s, "set terminal %s\nset title 'batched token time against group size'\n"
                 "set logscale x 2\nset xlabel 'group size (elements)'\nset ylabel 'batched token time (ms)'\n"
                 "set y2label 'bits per parameter'\nset ytics nomirror\nset y2tics\nset grid\nset key bottom right\n",
             term);
    if (isfinite(fp16_ms))
        text_add(&s, "plot '%s' using 1:2 with linespoints lw 2 title 'q4g token time', "
                     "%.6f with lines dt 2 title 'fp16 token time', "
                     "'%s' using 1:3 axes x1y2 with linespoints title 'bits per parameter'\n",
                 dat, fp16_ms, dat);
    else
        text_add(&s, "plot '%s' using 1:2 with linespoints lw 2 title 'q4g token time', "
                     "'%s' using 1:3 axes x1y2 with linespoints title 'bits per parameter'\n",
                 dat, dat);
    rv = s.oom ? ipu_err(err, "plot: out of memory") : run_gnuplot(dir, "groups", ext, &s, err);
    free(s.s);
    return rv;
}

/* Any mix of formats: batched token time against bits per parameter, one
 * labelled point per format (the trade-off of docs/user-guide.md's study). */
static int plot_formats(const Report *r, const char *dir, const char *term, const char *ext, IpuErr *err)
{
    Text data = {0}, s = {0};
    text_add(&data, "# bits_per_param batched_token_ms format\n");
    for (int i = 0; i < r->n; i++)
        text_add(&data, "%.4f %.6f \"%s\"\n", r->f[i].bits_per_param, 1e3 * r->f[i].batched_token_s, r->f[i].format);
    char dat[1200];
    snprintf(dat, sizeof dat, "%s/formats.dat", dir);
    int rv = data.oom ? ipu_err(err, "'%s': out of memory", dat) : fileio_write(dat, data.s, data.n, err);
    free(data.s);
    if (rv)
        return -1;
    text_add(&s, "set terminal %s\nset title 'batched token time against bits per parameter'\n"
                 "set xlabel 'bits per parameter (matrices)'\nset ylabel 'batched token time (ms)'\nset grid\n"
                 "set offsets graph 0.05, graph 0.15, graph 0.1, graph 0.1\nset key off\n"
                 "plot '%s' using 1:2 with points pt 7 ps 1.5, '' using 1:2:3 with labels offset 1, 1 left\n",
             term, dat);
    rv = s.oom ? ipu_err(err, "plot: out of memory") : run_gnuplot(dir, "formats", ext, &s, err);
    free(s.s);
    return rv;
}

/* Bytes live at each program step (prefill, then decode) on each format's
 * fullest tile and on chip 0: the liveness curves of the memory layout. */
static int plot_memory(const Report *r, const char *dir, const char *term, const char *ext, IpuErr *err)
{
    Text data = {0}, s = {0};
    for (int i = 0; i < r->n; i++) {
        const FormatReport *f = &r->f[i];
        text_add(&data, "# %s: position tile_KiB chip_MiB (fullest tile %u)\n", f->format, f->sram.tile);
        for (size_t q = 0; q < f->mem_npos; q++)
            text_add(&data, "%zu %.3f %.3f\n", q, f->mem_tile[q] / 1024.0, f->mem_chip[q] / 1048576.0);
        text_add(&data, "\n\n");
    }
    char dat[1200];
    snprintf(dat, sizeof dat, "%s/memory.dat", dir);
    int rv = data.oom ? ipu_err(err, "'%s': out of memory", dat) : fileio_write(dat, data.s, data.n, err);
    free(data.s);
    if (rv)
        return -1;
    text_add(&s, "set terminal %s\nset multiplot layout 2,1 title 'tile memory live at each program step'\n"
                 "set grid\nset key outside right top\nset xlabel 'program step (prefill, then decode from the dashed line)'\n",
             term);
    if (r->f[0].mem_decode_pos < r->f[0].mem_npos)
        text_add(&s, "set arrow from %zu, graph 0 to %zu, graph 1 nohead dt 2\n", r->f[0].mem_decode_pos,
                 r->f[0].mem_decode_pos);
    for (int panel = 0; panel < 2; panel++) {
        text_add(&s, "set ylabel '%s'\nplot", panel ? "chip 0 (MiB)" : "fullest tile (KiB)");
        for (int i = 0; i < r->n; i++)
            text_add(&s, "%s '%s' index %d using 1:%d with lines title '%s'", i ? "," : "", dat, i, panel ? 3 : 2,
                     r->f[i].format);
        text_add(&s, "\n");
    }
    text_add(&s, "unset multiplot\n");
    rv = s.oom ? ipu_err(err, "plot: out of memory") : run_gnuplot(dir, "memory", ext, &s, err);
    free(s.s);
    return rv;
}

const char *const report_plot_files[] = {"breakdown.*", "groups.*", "formats.*", "memory.*", NULL};

int report_check_folder(const char *dir, IpuErr *err)
{
    if (!dir[0])
        return ipu_err(err, "folder name is empty");
    if (strchr(dir, '\'') || strlen(dir) > 1000) /* the name goes into gnuplot scripts in single quotes */
        return ipu_err(err, "folder '%s': quotes and paths over 1000 bytes are not supported", dir);
    return fileio_dir_check(dir, err);
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
    if (names)
        snprintf(names, cap, "breakdown.%s", ext);
    int nq = 0, nother = 0; /* q4g formats; formats beyond fp16 and q4g */
    for (int i = 0; i < r->n; i++) {
        nq += !strncmp(r->f[i].format, "q4g:", 4);
        nother += strncmp(r->f[i].format, "q4g:", 4) && strcmp(r->f[i].format, "fp16");
    }
    if (nother && r->n >= 2) {
        if (plot_formats(r, dir, term, ext, err))
            return -1;
        if (names)
            snprintf(names + strlen(names), cap - strlen(names), ";formats.%s", ext);
    }
    if (nq >= 2) {
        if (plot_groups(r, dir, term, ext, err))
            return -1;
        if (names)
            snprintf(names + strlen(names), cap - strlen(names), ";groups.%s", ext);
    }
    if (r->f[0].mem_npos) {
        if (plot_memory(r, dir, term, ext, err))
            return -1;
        if (names)
            snprintf(names + strlen(names), cap - strlen(names), ";memory.%s", ext);
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
