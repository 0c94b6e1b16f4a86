/* report.c - report arithmetic, table, JSON and CSV (see report.h); plots in report_plot.c. */
#include "host/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "host/report_priv.h"
#include "sim/sram.h"

const char *report_phase_name(int phase)
{
    IPU_ASSERT(phase >= 0 && phase < PHASE_COUNT);
    return run_phase_names[phase];
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
    free(r->failed);
    cJSON_Delete(r->config);
    memset(r, 0, sizeof *r);
}

double report_stream_peak_bytes_per_s(const IpuArch *a, uint32_t chips)
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

double report_sram_peak_bytes_per_s(const IpuArch *a, uint32_t chips)
{
    return (double)chips * a->tiles_per_chip * a->clock_hz * REPORT_SRAM_BYTES_PER_CYCLE;
}

static void sum_phases(const StepResult *s, double *phase, double *total, ReportStepBytes *bytes)
{
    for (int p = 0; p < PHASE_COUNT; p++)
        phase[p] += (double)s->phase_cycles[p];
    *total += (double)s->cycles;
#define REPORT_X(field, doc) bytes->field += (double)s->field;
    REPORT_STEP_BYTES(REPORT_X)
#undef REPORT_X
}

/* Bytes the MBU counts: what crossed the streaming path when weights stream
 * (weights and any KV that streamed; the resident embedding and an SRAM KV
 * cache do not load the streaming link), every weight and KV byte read from
 * SRAM when resident. */
static double step_bytes(const StepResult *s, int resident)
{
    return resident ? (double)(s->weight_bytes_read + s->kv_bytes_read) : (double)s->stream_bytes;
}

/* The timing figures of f from res: per-phase cycles (decode averaged over
 * the steps), TTFT, TPOT, latency, throughput, bytes per step and the MBU. */
static void add_timing(FormatReport *f, const RunResult *res, uint32_t batch, uint32_t chips, const IpuArch *arch)
{
    double hz = res->clock_hz;
    sum_phases(&res->prefill, f->prefill_cycles, &f->prefill_total_cycles, &f->prefill_bytes);
    int resident = res->placement == PLACE_RESIDENT;
    double decode_bytes = 0, decode_sum = 0;
    for (uint32_t i = 0; i < res->ndecode; i++) {
        sum_phases(&res->decode[i], f->decode_cycles, &decode_sum, &f->decode_bytes);
        decode_bytes += step_bytes(&res->decode[i], resident);
    }
    if (res->ndecode) {
        for (int p = 0; p < PHASE_COUNT; p++)
            f->decode_cycles[p] /= res->ndecode;
        f->decode_total_cycles = decode_sum / res->ndecode;
#define REPORT_X(field, doc) f->decode_bytes.field /= res->ndecode;
        REPORT_STEP_BYTES(REPORT_X)
#undef REPORT_X
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
    f->peak_bytes_per_s = resident ? report_sram_peak_bytes_per_s(arch, chips) : report_stream_peak_bytes_per_s(arch, chips);
    f->mbu = f->achieved_bytes_per_s / f->peak_bytes_per_s;
}

/* A malloc'ed copy of n bytes of src; NULL when n is 0 or out of memory. */
static void *dup_bytes(const void *src, size_t n)
{
    void *p = n ? malloc(n) : NULL;
    if (p)
        memcpy(p, src, n);
    return p;
}

/* f's memory figures and tokens, copied from res; -1 when out of memory
 * (f then holds what was copied: the caller frees it). */
static int add_tables(FormatReport *f, const RunResult *res, uint32_t batch)
{
    f->weight_bytes = res->weight_bytes;
    f->sram = res->sram;
    f->memory_proportion = res->memory_proportion;
    f->mem_npos = res->mem_npos, f->mem_decode_pos = res->mem_decode_pos;
    size_t npos = res->mem_npos, ntok = res->tokens ? (size_t)batch * (1 + res->ndecode) : 0;
    f->mem_tile = dup_bytes(res->mem_tile, npos * sizeof *f->mem_tile);
    f->mem_chip = dup_bytes(res->mem_chip, npos * sizeof *f->mem_chip);
    f->tokens = dup_bytes(res->tokens, ntok * sizeof *f->tokens);
    return (npos && (!f->mem_tile || !f->mem_chip)) || (ntok && !f->tokens) ? -1 : 0;
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
    add_timing(f, res, batch, chips, arch);
    if (add_tables(f, res, batch)) {
        free(f->tokens), free(f->mem_tile), free(f->mem_chip);
        return ipu_err(err, "report: out of memory");
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
        fprintf(out, "  %-11s", p < PHASE_COUNT ? run_phase_names[p] : "total");
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

/* ---- the headline figures, declared once (report.h ReportField) ---- */

static const char *placement_text(Placement p) { return p == PLACE_RESIDENT ? "resident" : "stream"; }

/* TEXT(name, value, doc) and NUM(name, unit, value, doc), value an expression of f. */
#define REPORT_FIELDS(TEXT, NUM)                                                                                 \
    TEXT(format, f->format, "weight format of the quantized matrices: fp16, q4g:N, s4g:N, nf4g:N[+dq], i8g:N, i8c, fp8e4m3, fp8e5m2 (docs/weight-formats.md)") \
    TEXT(placement, placement_text(f->placement), "where the weights lived: stream or resident (what auto chose)") \
    NUM(bits_per_param, "bits", f->bits_per_param, "stored bits per parameter of the quantized matrices")         \
    NUM(batch, "sequences", f->batch, "sequences per step")                                                       \
    NUM(chips, "chips", f->chips, "tensor-parallel degree the run used")                                          \
    NUM(decode_steps, "steps", f->ndecode, "decode steps after the prefill (generated tokens - 1)")               \
    NUM(clock_hz, "Hz", f->clock_hz, "tile clock of the arch")                                                    \
    NUM(memory_proportion_frac, "fraction", f->memory_proportion,                                                 \
        "memory_proportion the lowering laid the linears out with (halved from the key's when it did not fit)")    \
    NUM(ttft_s, "s", f->ttft_s, "time to first token: the prefill step")                                         \
    NUM(tpot_s, "s", f->tpot_s, "time per output token: the mean decode step (null without one)")                 \
    NUM(latency_s, "s", f->latency_s, "end to end: prefill + every decode step")                                  \
    NUM(throughput_tokens_per_s, "tokens/s", f->throughput_tok_per_s, "batch x (1 + decode steps) / latency")      \
    NUM(batched_token_s, "s", f->batched_token_s, "the mean decode step (or the prefill without one) / batch")     \
    NUM(speedup_vs_fp16, "ratio", f->speedup_vs_fp16, "fp16's batched token time / this one's (null without fp16)") \
    NUM(step_bytes, "bytes", f->step_bytes, "bytes the MBU counts in that step (streamed: through streaming memory; resident: weights and KV read from SRAM)") \
    NUM(achieved_bytes_per_s, "B/s", f->achieved_bytes_per_s, "step_bytes / step time")                         \
    NUM(peak_bytes_per_s, "B/s", f->peak_bytes_per_s, "streaming peak of the chips used, or their aggregate SRAM bandwidth when resident") \
    NUM(mbu_frac, "fraction", f->mbu, "memory bandwidth utilisation: achieved / peak bandwidth")                  \
    NUM(weight_bytes, "bytes", (double)f->weight_bytes, "every weight of the system in its stored format")         \
    NUM(sram_peak_tile, "tile", f->sram.tile, "global id of the fullest tile (chip x tiles_per_chip + tile)")       \
    NUM(sram_peak_bytes, "bytes", (double)f->sram.bytes, "that tile's peak: always-live plus live bytes")         \
    TEXT(sram_peak_step, f->sram.step, "the program step at that peak (empty: always-live bytes only)")           \
    TEXT(weights_into_amp, f->weight_path, "how the weights reach the AMP: fp16, decompressed to fp16, or fp8 direct") \
    NUM(weight_read_bytes, "bytes", f->weight_read_bytes, "weights read in that step, all chips, stored formats") \
    NUM(kv_read_bytes, "bytes", f->kv_read_bytes, "KV cache read in that step, all chips, at the cache's format")

const ReportField report_fields[] = {
#define RF_TEXT(name, value, doc) {#name, "-", doc, 1},
#define RF_NUM(name, unit, value, doc) {#name, unit, doc, 0},
    REPORT_FIELDS(RF_TEXT, RF_NUM)
#undef RF_TEXT
#undef RF_NUM
};
const size_t report_field_count = sizeof report_fields / sizeof report_fields[0];

double report_field_value(const FormatReport *f, size_t i, const char **text)
{
    size_t k = 0;
    *text = NULL;
#define RF_TEXT(name, value, doc) \
    if (i == k++) {               \
        *text = (value);          \
        return NAN;               \
    }
#define RF_NUM(name, unit, value, doc) \
    if (i == k++)                      \
        return (double)(value);
    REPORT_FIELDS(RF_TEXT, RF_NUM)
#undef RF_TEXT
#undef RF_NUM
    IPU_ASSERT(0 && "report field index out of range");
    return NAN;
}

/* ---- JSON ---- */

/* NaN is not JSON: such a figure is written as null. */
static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

/* {cycles, time_s, phases: {phase: {cycles, time_s, share_frac}}, the step's bytes} */
static cJSON *step_json(const double *cycles, double total, double hz, const ReportStepBytes *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "cycles", total);
    cJSON_AddNumberToObject(o, "time_s", total / hz);
    cJSON *phases = cJSON_AddObjectToObject(o, "phases");
    for (int p = 0; p < PHASE_COUNT; p++) {
        cJSON *ph = cJSON_AddObjectToObject(phases, run_phase_names[p]);
        cJSON_AddNumberToObject(ph, "cycles", cycles[p]);
        cJSON_AddNumberToObject(ph, "time_s", cycles[p] / hz);
        cJSON_AddNumberToObject(ph, "share_frac", total > 0 ? cycles[p] / total : 0.0);
    }
#define REPORT_X(field, doc) cJSON_AddNumberToObject(o, #field, b->field);
    REPORT_STEP_BYTES(REPORT_X)
#undef REPORT_X
    return o;
}

static cJSON *format_json(const FormatReport *f)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < report_field_count; i++) {
        const char *text;
        double v = report_field_value(f, i, &text);
        if (text)
            cJSON_AddStringToObject(o, report_fields[i].name, text);
        else
            add_num(o, report_fields[i].name, v);
    }
    cJSON *sp = cJSON_AddObjectToObject(o, "sram_peak_by_category");
    cJSON *al = cJSON_AddObjectToObject(sp, "always_live"), *lv = cJSON_AddObjectToObject(sp, "not_always_live");
    for (int c = 0; c < SRAM_CATEGORY_COUNT; c++) {
        cJSON_AddNumberToObject(al, sram_category_names[c], (double)f->sram.always[c]);
        cJSON_AddNumberToObject(lv, sram_category_names[c], (double)f->sram.live[c]);
    }
    cJSON_AddItemToObject(o, "prefill",
                          step_json(f->prefill_cycles, f->prefill_total_cycles, f->clock_hz, &f->prefill_bytes));
    if (f->ndecode)
        cJSON_AddItemToObject(o, "decode",
                              step_json(f->decode_cycles, f->decode_total_cycles, f->clock_hz, &f->decode_bytes));
    if (f->tokens) {
        cJSON *t = cJSON_AddArrayToObject(o, "tokens");
        for (uint32_t b = 0; b < f->batch; b++) {
            cJSON *row = cJSON_CreateArray();
            for (uint32_t j = 0; j <= f->ndecode; j++)
                cJSON_AddItemToArray(row, cJSON_CreateNumber(f->tokens[(size_t)b * (f->ndecode + 1) + j]));
            cJSON_AddItemToArray(t, row);
        }
    }
    return o;
}

int report_add_failure(Report *r, const char *format, const char *message, IpuErr *err)
{
    FormatFailure *m = realloc(r->failed, (size_t)(r->nfailed + 1) * sizeof *m);
    if (!m)
        return ipu_err(err, "out of memory");
    r->failed = m;
    snprintf(m[r->nfailed].format, sizeof m->format, "%s", format);
    snprintf(m[r->nfailed].message, sizeof m->message, "%s", message);
    r->nfailed++;
    return 0;
}

cJSON *report_to_json(const Report *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema_version", REPORT_SCHEMA_VERSION);
    cJSON_AddItemToObject(root, "config", r->config ? cJSON_Duplicate(r->config, 1) : cJSON_CreateNull());
    cJSON *arr = cJSON_AddArrayToObject(root, "formats");
    for (int i = 0; i < r->n; i++)
        cJSON_AddItemToArray(arr, format_json(&r->f[i]));
    cJSON *bad = cJSON_AddArrayToObject(root, "failed_formats");
    for (int i = 0; i < r->nfailed; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "format", r->failed[i].format);
        cJSON_AddStringToObject(o, "message", r->failed[i].message);
        cJSON_AddItemToArray(bad, o);
    }
    return root;
}

char *report_json_text(const Report *r)
{
    cJSON *j = report_to_json(r);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *t = malloc(n + 2);
    if (t) {
        memcpy(t, s, n);
        t[n] = '\n', t[n + 1] = '\0';
    }
    cJSON_free(s);
    return t;
}

int report_write_json(const Report *r, const char *path, IpuErr *err)
{
    char *t = report_json_text(r);
    if (!t)
        return ipu_err(err, "'%s': out of memory printing JSON", path);
    int rv = fileio_write(path, t, strlen(t), err);
    free(t);
    return rv;
}

/* ---- text buffers (report_priv.h) and CSV ---- */

void report_text_add(ReportText *t, const char *fmt, ...)
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

/* The text of t for a caller that owns it (NULL when an allocation failed). */
static char *text_take(ReportText *t, size_t *len)
{
    if (t->oom) {
        free(t->s);
        return NULL;
    }
    *len = t->n;
    return t->s ? t->s : calloc(1, 1);
}

char *report_csv_text(const Report *r, size_t *len)
{
    ReportText t = {0};
    report_text_add(&t, "format,step,phase,cycles,time_s,share_frac\n");
    for (int i = 0; i < r->n; i++) {
        const FormatReport *f = &r->f[i];
        for (int d = 0; d < (f->ndecode ? 2 : 1); d++) {
            const double *c = d ? f->decode_cycles : f->prefill_cycles;
            double total = d ? f->decode_total_cycles : f->prefill_total_cycles;
            for (int p = 0; p <= PHASE_COUNT; p++) {
                double v = p < PHASE_COUNT ? c[p] : total;
                report_text_add(&t, "%s,%s,%s,%.0f,%.9g,%.6f\n", f->format, d ? "decode" : "prefill",
                                p < PHASE_COUNT ? run_phase_names[p] : "total", v, v / f->clock_hz,
                                total > 0 ? v / total : 0.0);
            }
        }
    }
    return text_take(&t, len);
}

int report_write_csv(const Report *r, const char *path, IpuErr *err)
{
    size_t n;
    char *s = report_csv_text(r, &n);
    int rv = s ? fileio_write(path, s, n, err) : ipu_err(err, "'%s': out of memory", path);
    free(s);
    return rv;
}

/* A CSV field: as is, or in double quotes (quotes doubled) when it holds a
 * comma, a quote or a line break (RFC 4180). */
static void csv_field(ReportText *t, const char *v)
{
    if (!strpbrk(v, ",\"\r\n")) {
        report_text_add(t, "%s", v);
        return;
    }
    report_text_add(t, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            report_text_add(t, "\"");
        report_text_add(t, "%c", *p);
    }
    report_text_add(t, "\"");
}

char *report_summary_csv_text(const Report *r, size_t *len)
{
    ReportText t = {0};
    for (size_t i = 0; i < report_field_count; i++)
        report_text_add(&t, "%s%s", i ? "," : "", report_fields[i].name);
    report_text_add(&t, "\n");
    for (int k = 0; k < r->n; k++) {
        for (size_t i = 0; i < report_field_count; i++) {
            const char *text;
            double v = report_field_value(&r->f[k], i, &text);
            if (i)
                report_text_add(&t, ",");
            if (text)
                csv_field(&t, text);
            else if (isfinite(v))
                report_text_add(&t, "%.9g", v);
        }
        report_text_add(&t, "\n");
    }
    return text_take(&t, len);
}

void report_summary_path(const char *csv_path, char *out, size_t cap)
{
    const char *dot = strrchr(csv_path, '.'), *slash = strrchr(csv_path, '/');
    if (!dot || (slash && dot < slash) || dot == (slash ? slash + 1 : csv_path)) /* no extension, or a dot file */
        dot = csv_path + strlen(csv_path);
    snprintf(out, cap, "%.*s_summary%s", (int)(dot - csv_path), csv_path, dot);
}

void report_config_line_with(const Report *r, const char *batches, char *out, size_t cap)
{
    const cJSON *run = r->config ? cJSON_GetObjectItemCaseSensitive(r->config, "run") : NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(run, "model"), *arch = cJSON_GetObjectItemCaseSensitive(run, "arch");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(run, "prompt_len");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(run, "gen_tokens");
    char b[64];
    snprintf(b, sizeof b, "batch %u", r->n ? r->f[0].batch : 0);
    uint32_t chips = r->n ? r->f[0].chips : 0;
    if (batches)
        snprintf(b, sizeof b, "%s", batches);
    if (cJSON_IsString(model) && cJSON_IsString(arch) && cJSON_IsNumber(prompt) && cJSON_IsNumber(gen))
        snprintf(out, cap, "%s on %s (%u chip%s), %s, prompt %d, generate %d", model->valuestring, arch->valuestring,
                 chips, chips == 1 ? "" : "s", b, prompt->valueint, gen->valueint);
    else
        snprintf(out, cap, "%u chip%s, %s", chips, chips == 1 ? "" : "s", b);
    size_t n = strlen(out);
    for (int i = 0; i < r->n && n < cap; i++, n = strlen(out))
        snprintf(out + n, cap - n, "%s%s", i ? ", " : "; ", r->f[i].format);
}

void report_config_line(const Report *r, char *out, size_t cap) { report_config_line_with(r, NULL, out, cap); }
