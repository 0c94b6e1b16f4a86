/* sweep.c - a sweep's definition, its points and its rows (see sweep.h). */
#include "host/sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/fileio.h"
#include "host/cli.h"
#include "host/roofline.h"

void sweep_init(Sweep *s) { memset(s, 0, sizeof *s); }

void sweep_free(Sweep *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nscenarios; i++)
        free(s->scenarios[i]);
    for (int i = 0; i < s->narch_files; i++)
        free(s->arch_files[i]);
    for (int i = 0; i < s->nsets; i++)
        free(s->sets[i]);
    free(s->scenarios);
    free(s->arch_files);
    free(s->sets);
    for (int i = 0; i < s->nvary; i++)
        free(s->vary[i].spec), free(s->vary[i].values);
    memset(s, 0, sizeof *s);
}

static int push(char ***list, int *n, const char *text, IpuErr *err)
{
    char **l = realloc(*list, (size_t)(*n + 1) * sizeof *l);
    if (!l)
        return ipu_err(err, "out of memory");
    *list = l;
    if (!(l[*n] = strdup(text)))
        return ipu_err(err, "out of memory");
    (*n)++;
    return 0;
}

int sweep_add_scenario(Sweep *s, const char *path, IpuErr *err) { return push(&s->scenarios, &s->nscenarios, path, err); }
int sweep_add_arch_file(Sweep *s, const char *path, IpuErr *err)
{
    return push(&s->arch_files, &s->narch_files, path, err);
}
int sweep_add_set(Sweep *s, const char *kv, IpuErr *err) { return push(&s->sets, &s->nsets, kv, err); }

static int add_value(SweepVary *v, const char *text, size_t len, IpuErr *err)
{
    if (len == 0)
        return ipu_err(err, "--vary %s: an empty value in '%s'", v->key, v->spec);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20)
            return ipu_err(err, "--vary %s: a value in '%s' holds a control character", v->key, v->spec);
    if (len >= SWEEP_VALUE_BYTES)
        return ipu_err(err, "--vary %s: value '%.40s...' longer than %d bytes", v->key, text, SWEEP_VALUE_BYTES - 1);
    if (v->nvalues >= SWEEP_MAX_VALUES)
        return ipu_err(err, "--vary %s: more than %d values", v->key, SWEEP_MAX_VALUES);
    if ((v->nvalues & (v->nvalues - 1)) == 0) { /* grow at powers of two */
        void *n = realloc(v->values, (v->nvalues ? 2 * v->nvalues : 1) * sizeof *v->values);
        if (!n)
            return ipu_err(err, "out of memory");
        v->values = n;
    }
    memcpy(v->values[v->nvalues], text, len);
    v->values[v->nvalues++][len] = '\0';
    return 0;
}

/* "lo:hi:xF" or "lo:hi:+S": 1 and the values added, 0 when spec is no range, -1 on error. */
static int parse_range(SweepVary *v, IpuErr *err)
{
    char a[128], b[128], c[128];
    const char *p1 = strchr(v->spec, ':'), *p2 = p1 ? strchr(p1 + 1, ':') : NULL;
    if (!p2 || strchr(p2 + 1, ':') || strlen(v->spec) >= sizeof a)
        return 0;
    snprintf(a, sizeof a, "%.*s", (int)(p1 - v->spec), v->spec);
    snprintf(b, sizeof b, "%.*s", (int)(p2 - p1 - 1), p1 + 1);
    snprintf(c, sizeof c, "%s", p2 + 1);
    if (!cli_is_decimal(a) || !cli_is_decimal(b))
        return 0; /* a list value such as q4g:64 */
    double lo = strtod(a, NULL), hi = strtod(b, NULL), step = NAN;
    int geo = c[0] == 'x';
    if ((c[0] == 'x' || c[0] == '+') && cli_is_decimal(c + 1))
        step = strtod(c + 1, NULL);
    if (isnan(step))
        return ipu_err(err, "--vary %s: range '%s': the step '%s' must be xF (times F) or +S (plus S)", v->key,
                       v->spec, c);
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        return ipu_err(err, "--vary %s: range '%s': lo %s is above hi %s", v->key, v->spec, a, b);
    if (geo && !(step > 1 && lo > 0))
        return ipu_err(err, "--vary %s: range '%s': a geometric range needs a factor above 1 and lo above 0",
                       v->key, v->spec);
    if (!geo && !(step > 0))
        return ipu_err(err, "--vary %s: range '%s': the step must be above 0", v->key, v->spec);
    double n = geo ? floor(log(hi / lo) / log(step) + 1e-9) + 1 : floor((hi - lo) / step + 1e-9) + 1;
    if (!(n <= SWEEP_MAX_VALUES))
        return ipu_err(err, "--vary %s: range '%s' has more than %d values", v->key, v->spec, SWEEP_MAX_VALUES);
    for (size_t i = 0; i < (size_t)n; i++) {
        char t[64];
        int len = snprintf(t, sizeof t, "%.10g", geo ? lo * pow(step, (double)i) : lo + step * (double)i);
        if (add_value(v, t, (size_t)len, err))
            return -1;
    }
    return 1;
}

int sweep_add_vary(Sweep *s, const char *spec, IpuErr *err)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return ipu_err(err, "--vary '%s': expected key=v1,v2,... or key=lo:hi:xF or key=lo:hi:+S", spec);
    if (s->nvary >= SWEEP_MAX_VARY)
        return ipu_err(err, "--vary '%s': more than %d varied keys", spec, SWEEP_MAX_VARY);
    SweepVary *v = &s->vary[s->nvary];
    memset(v, 0, sizeof *v);
    if ((size_t)(eq - spec) >= sizeof v->key)
        return ipu_err(err, "--vary '%.60s': key too long", spec);
    snprintf(v->key, sizeof v->key, "%.*s", (int)(eq - spec), spec);
    for (int i = 0; i < s->nvary; i++)
        if (!strcmp(s->vary[i].key, v->key))
            return ipu_err(err, "--vary %s: the key is varied twice", v->key);
    if (!(v->spec = strdup(eq + 1)))
        return ipu_err(err, "out of memory");
    s->nvary++; /* owned from here: sweep_free releases it */
    int r = parse_range(v, err);
    if (r)
        return r < 0 ? -1 : 0;
    char sep = strchr(v->spec, ';') ? ';' : ',';
    for (const char *p = v->spec;;) {
        const char *q = strchr(p, sep);
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (add_value(v, p, len, err))
            return -1;
        if (!q)
            return 0;
        p = q + 1;
    }
}

/* Keys a timing sweep has no use for. */
static const char *const refused_keys[] = {"weights", "checkpoint", "prompt", "out", NULL};

static int base_config(const Sweep *s, RunConfig *rc, IpuErr *err)
{
    runcfg_init(rc);
    for (int i = 0; i < s->nscenarios; i++)
        if (runcfg_load_file(rc, s->scenarios[i], err))
            return -1;
    for (int i = 0; i < s->narch_files; i++)
        if (runcfg_load_arch_file(rc, s->arch_files[i], err))
            return -1;
    for (int i = 0; i < s->nsets; i++)
        if (runcfg_set_kv(rc, s->sets[i], "--set", err))
            return -1;
    return 0;
}

int sweep_finish(Sweep *s, int zip, IpuErr *err)
{
    s->zip = zip;
    if (s->nvary == 0)
        return ipu_err(err, "no --vary given: a sweep varies at least one key");
    double n = zip ? (double)s->vary[0].nvalues : 1;
    for (int i = 0; i < s->nvary; i++) {
        if (zip && s->vary[i].nvalues != s->vary[0].nvalues)
            return ipu_err(err, "--zip: --vary %s has %zu values but %s has %zu; zipped keys need as many each",
                           s->vary[i].key, s->vary[i].nvalues, s->vary[0].key, s->vary[0].nvalues);
        if (!zip)
            n *= (double)s->vary[i].nvalues;
        for (int k = 0; refused_keys[k]; k++)
            if (!strcmp(s->vary[i].key, refused_keys[k]))
                return ipu_err(err, "--vary %s: a sweep runs timing mode; the key cannot be varied", refused_keys[k]);
    }
    if (n > SWEEP_MAX_POINTS)
        return ipu_err(err, "the sweep has %.0f points, more than %d", n, SWEEP_MAX_POINTS);
    s->npoints = (size_t)n;
    RunConfig *base = malloc(sizeof *base), *rc = malloc(sizeof *rc);
    int rv = base && rc ? base_config(s, base, err) : ipu_err(err, "out of memory");
    if (!rv && (base->weights != RUN_WEIGHTS_NONE || base->prompt[0]))
        rv = ipu_err(err, "key '%s': a sweep runs timing mode only (weights = none, no prompt text)",
                     base->prompt[0] ? "prompt" : "weights");
    /* every value on the base: key known, value valid for its type */
    for (int i = 0; i < s->nvary && !rv; i++)
        for (size_t j = 0; j < s->vary[i].nvalues && !rv; j++) {
            char source[SWEEP_VALUE_BYTES + 112];
            snprintf(source, sizeof source, "--vary %s=%s", s->vary[i].key, s->vary[i].values[j]);
            *rc = *base;
            rv = runcfg_set(rc, s->vary[i].key, s->vary[i].values[j], source, err);
        }
    free(base);
    free(rc);
    return rv;
}

void sweep_point_index(const Sweep *s, size_t p, size_t *idx)
{
    IPU_ASSERT(p < s->npoints);
    for (int i = s->nvary - 1; i >= 0; i--) {
        size_t n = s->vary[i].nvalues;
        idx[i] = s->zip ? p : p % n;
        if (!s->zip)
            p /= n;
    }
}

int sweep_point_config(const Sweep *s, size_t p, RunConfig *rc, IpuErr *err)
{
    size_t idx[SWEEP_MAX_VARY];
    sweep_point_index(s, p, idx);
    if (base_config(s, rc, err))
        return -1;
    for (int i = 0; i < s->nvary; i++)
        if (runcfg_set(rc, s->vary[i].key, s->vary[i].values[idx[i]], "--vary", err))
            return ipu_err_prefix(err, "point %zu", p);
    return 0;
}

int sweep_format_names(const RunConfig *rc, char names[][32])
{
    char buf[sizeof rc->formats];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", rc->formats);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < RUNCFG_MAX_FORMATS;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        QuantSpec q;
        IpuErr e;
        if (quant_spec_parse(tok, &q, &e) == 0)
            quant_spec_format(&q, names[n], 32);
        else
            snprintf(names[n], 32, "%s", tok);
        n++;
    }
    return n;
}

/* FNV-1a of a file's bytes, so a resumed sweep notices a changed scenario. */
static unsigned long long file_hash(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    IpuErr e;
    unsigned long long h = 0xcbf29ce484222325ull;
    if (fileio_read(path, "scenario", FILEIO_CONFIG_MAX_BYTES, &text, &len, &e))
        return 0;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 0x100000001b3ull;
    free(text);
    return h;
}

char *sweep_definition_text(const Sweep *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "# ipusim sweep: the definition of the results in this folder (--resume checks it)\n");
    fprintf(f, "schema_version = %d\n", SWEEP_SCHEMA_VERSION);
    for (int i = 0; i < s->nscenarios; i++)
        fprintf(f, "scenario = %s\nscenario_fnv1a64 = %016llx\n", s->scenarios[i], file_hash(s->scenarios[i]));
    for (int i = 0; i < s->narch_files; i++)
        fprintf(f, "arch_file = %s\narch_file_fnv1a64 = %016llx\n", s->arch_files[i], file_hash(s->arch_files[i]));
    for (int i = 0; i < s->nsets; i++)
        fprintf(f, "set = %s\n", s->sets[i]);
    for (int i = 0; i < s->nvary; i++)
        fprintf(f, "vary = %s=%s\n", s->vary[i].key, s->vary[i].spec);
    fprintf(f, "zip = %s\npoints = %zu\n", s->zip ? "on" : "off", s->npoints);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- rows ---- */

#define METRIC(name) {#name, offsetof(SweepRow, name)}
static const struct {
    const char *name;
    size_t off;
} metrics[] = {
    METRIC(bits_per_param),    METRIC(ttft_s),           METRIC(tpot_s),
    METRIC(batched_token_s),   METRIC(latency_s),        METRIC(throughput_tokens_per_s),
    METRIC(mbu_frac),          METRIC(step_bytes),       METRIC(achieved_bytes_per_s),
    METRIC(peak_bytes_per_s),  METRIC(sram_peak_bytes),  METRIC(sram_peak_tile),
    METRIC(speedup_vs_fp16),   METRIC(memory_proportion), METRIC(weight_bytes),
    METRIC(step_flops),        METRIC(intensity_flops_per_byte), METRIC(achieved_flops_per_s),
    METRIC(peak_flops_per_s),
};
#undef METRIC
#define NMETRICS (sizeof metrics / sizeof metrics[0])

size_t sweep_metric_count(void) { return NMETRICS + PHASE_COUNT; }

const char *sweep_metric_name(size_t i)
{
#define FRAC_COLUMN(n) n "_frac",
    static const char *const phase_cols[PHASE_COUNT] = {RUN_PHASE_NAMES(FRAC_COLUMN)};
#undef FRAC_COLUMN
    IPU_ASSERT(i < sweep_metric_count());
    return i < NMETRICS ? metrics[i].name : phase_cols[i - NMETRICS];
}

double sweep_metric_value(const SweepRow *r, size_t i)
{
    IPU_ASSERT(i < sweep_metric_count());
    return i < NMETRICS ? *(const double *)((const char *)r + metrics[i].off) : r->phase_frac[i - NMETRICS];
}

static void row_clear(SweepRow *r, uint64_t point, int fmt)
{
    memset(r, 0, sizeof *r);
    r->point = point, r->fmt = fmt;
    for (size_t i = 0; i < NMETRICS; i++)
        *(double *)((char *)r + metrics[i].off) = NAN;
    for (int p = 0; p < PHASE_COUNT; p++)
        r->phase_frac[p] = NAN;
}

void sweep_row_from_report(SweepRow *r, uint64_t point, int fmt, const FormatReport *f)
{
    row_clear(r, point, fmt);
    r->ok = 1;
    snprintf(r->format, sizeof r->format, "%s", f->format);
    snprintf(r->placement, sizeof r->placement, "%s", runcfg_placement_name(f->placement));
    r->bits_per_param = f->bits_per_param, r->ttft_s = f->ttft_s, r->tpot_s = f->tpot_s;
    r->batched_token_s = f->batched_token_s, r->latency_s = f->latency_s;
    r->throughput_tokens_per_s = f->throughput_tok_per_s, r->mbu_frac = f->mbu, r->step_bytes = f->step_bytes;
    r->achieved_bytes_per_s = f->achieved_bytes_per_s, r->peak_bytes_per_s = f->peak_bytes_per_s;
    r->sram_peak_bytes = (double)f->sram.bytes, r->sram_peak_tile = f->sram.tile;
    r->memory_proportion = f->memory_proportion, r->weight_bytes = (double)f->weight_bytes;
    const double *c = f->ndecode ? f->decode_cycles : f->prefill_cycles;
    double total = f->ndecode ? f->decode_total_cycles : f->prefill_total_cycles;
    for (int p = 0; p < PHASE_COUNT; p++)
        r->phase_frac[p] = total > 0 ? c[p] / total : NAN;
}

void sweep_row_roofline(SweepRow *r, const RunConfig *rc, const FormatReport *f)
{
    RooflineShape shape = {rc->cfg, rc->prompt_len, rc->seq_len_used, rc->kv_cache};
    int decode = f->ndecode > 0;
    double lin, att, t = (decode ? f->decode_total_cycles : f->prefill_total_cycles) / f->clock_hz;
    roofline_step_flops(&shape, f->batch, f->ndecode, decode, &lin, &att);
    Roofline rl;
    roofline_init(&rl, &rc->arch, f->chips);
    r->step_flops = lin + att;
    r->intensity_flops_per_byte = f->step_bytes > 0 ? r->step_flops / f->step_bytes : NAN;
    r->achieved_flops_per_s = t > 0 ? r->step_flops / t : NAN;
    r->peak_flops_per_s = rl.peak[ROOF_COMPUTE];
    roofline_free(&rl);
}

void sweep_row_error(SweepRow *r, uint64_t point, int fmt, const char *format, const char *message)
{
    row_clear(r, point, fmt);
    snprintf(r->format, sizeof r->format, "%s", format);
    snprintf(r->message, sizeof r->message, "%s", message);
    for (char *c = r->message; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
}

void sweep_rows_speedup(SweepRow *rows, int n)
{
    const SweepRow *base = NULL;
    for (int i = 0; i < n; i++)
        if (rows[i].ok && !strcmp(rows[i].format, "fp16"))
            base = &rows[i];
    for (int i = 0; i < n; i++)
        if (rows[i].ok)
            rows[i].speedup_vs_fp16 = base ? base->batched_token_s / rows[i].batched_token_s : NAN;
}

/* A CSV field: as is, or quoted ("" for a quote) when it holds , " or a line break. */
static void csv_field(FILE *f, const char *v)
{
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

char *sweep_csv_header(const Sweep *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (int i = 0; i < s->nvary; i++) {
        csv_field(f, s->vary[i].key);
        fputc(',', f);
    }
    fputs("format,placement", f);
    for (size_t i = 0; i < sweep_metric_count(); i++)
        fprintf(f, ",%s", sweep_metric_name(i));
    fputs(",status,message\n", f);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *sweep_csv_row(const Sweep *s, const SweepRow *r)
{
    size_t idx[SWEEP_MAX_VARY];
    sweep_point_index(s, (size_t)r->point, idx);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (int i = 0; i < s->nvary; i++) {
        csv_field(f, s->vary[i].values[idx[i]]);
        fputc(',', f);
    }
    csv_field(f, r->format);
    fputc(',', f);
    csv_field(f, r->placement);
    for (size_t i = 0; i < sweep_metric_count(); i++) {
        double v = sweep_metric_value(r, i);
        if (isfinite(v))
            fprintf(f, ",%.12g", v);
        else
            fputc(',', f);
    }
    fprintf(f, ",%s,", r->ok ? "ok" : "error");
    csv_field(f, r->message);
    fputc('\n', f);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *sweep_jsonl_row(const Sweep *s, const SweepRow *r)
{
    size_t idx[SWEEP_MAX_VARY];
    sweep_point_index(s, (size_t)r->point, idx);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "schema_version", SWEEP_SCHEMA_VERSION);
    cJSON_AddNumberToObject(o, "point", (double)r->point);
    for (int i = 0; i < s->nvary; i++)
        cJSON_AddStringToObject(o, s->vary[i].key, s->vary[i].values[idx[i]]);
    cJSON_AddStringToObject(o, "format", r->format);
    cJSON_AddStringToObject(o, "placement", r->placement);
    for (size_t i = 0; i < sweep_metric_count(); i++) {
        double v = sweep_metric_value(r, i);
        if (isfinite(v))
            cJSON_AddNumberToObject(o, sweep_metric_name(i), v);
        else
            cJSON_AddNullToObject(o, sweep_metric_name(i));
    }
    cJSON_AddStringToObject(o, "status", r->ok ? "ok" : "error");
    cJSON_AddStringToObject(o, "message", r->message);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        cJSON_free(text);
        return NULL;
    }
    line[n] = '\n', line[n + 1] = '\0';
    return line;
}

void sweep_complete_lines(const char *text, size_t len, size_t skip, size_t *lines, size_t *end)
{
    *lines = 0, *end = 0;
    size_t seen = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') {
            if (seen++ >= skip)
                (*lines)++;
            *end = i + 1;
        }
    if (seen < skip)
        *end = 0;
}
