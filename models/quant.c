/* quant.c - the weight formats f32, f16, q4g, spec parsing and the model
 * policy (see quant.h); the other formats are in quant_int.c, quant_nf4.c
 * and quant_fp8.c. */
#include "models/quant.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "base/quant_format.h"
#include "models/quant_internal.h"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

/* ---- helpers ---------------------------------------------------------- */

/* An fp16 value as a double. With F16C through the instruction: the
 * compiler would otherwise fold fp16 -> float -> double into one
 * conversion that x86 lacks (a libgcc call per value). */
static inline double f16_to_f64(uint16_t h)
{
#if defined(__F16C__) && defined(__AVX__)
    return (double)_cvtsh_ss(h);
#else
    return (double)fp16_to_f32(h);
#endif
}

uint16_t quant_f16_from_f64(double x)
{
    IPU_ASSERT(x >= 0.0);
    uint16_t h = fp16_from_f32((float)x);
    if (h >= FP16_POS_INF)
        return h;
    uint16_t best = h;
    double best_d = fabs(f16_to_f64(h) - x);
    for (int d = -1; d <= 1; d += 2) {
        int c = (int)h + d;
        if (c < 0 || c > (int)FP16_MAX)
            continue;
        double dist = fabs(f16_to_f64((uint16_t)c) - x);
        if (dist < best_d || (dist == best_d && !(c & 1))) {
            best = (uint16_t)c;
            best_d = dist;
        }
    }
    return best;
}

/* The error for the first weight of w (n) that is not a finite fp16 value. */
static int quant_bad_weight(const char *name, const float *w, size_t n, IpuErr *e)
{
    for (size_t i = 0; i < n; i++) { /* serial, so the first bad index is named */
        if (!isfinite(w[i]))
            return ipu_err(e, "tensor '%s': non-finite weight %g at flat index %zu", name, (double)w[i], i);
        if (!fp16_isfinite(fp16_from_f32(w[i])))
            return ipu_err(e, "tensor '%s': weight %g at flat index %zu is outside the fp16 range (|w| < 65520)",
                           name, (double)w[i], i);
    }
    IPU_ASSERT(0); /* the caller saw a non-finite value */
    return -1;
}

int quant_to_f16_checked(const char *name, const float *w, size_t n, uint16_t *out, IpuErr *e)
{
    int bad = 0;
    #pragma omp parallel for schedule(static) reduction(|| : bad)
    for (size_t i = 0; i < n; i++) {
        out[i] = fp16_from_f32(w[i]);
        bad = bad || !fp16_isfinite(out[i]);
    }
    return bad ? quant_bad_weight(name, w, n, e) : 0;
}

void *quant_alloc(size_t count, size_t size, const char *name, IpuErr *e)
{
    void *p = count ? calloc(count, size) : malloc(1);
    if (!p)
        ipu_err(e, "tensor '%s': out of memory for %zu x %zu bytes", name, count, size);
    return p;
}

/* ---- f32 -------------------------------------------------------------- */

static double f32_bits(const QuantSpec *s, int64_t rows, int64_t cols) { return 32.0; }

static int f32_quantize(const QuantSpec *s, const char *name, const float *w, int64_t rows, int64_t cols,
                        QuantTensor *out, IpuErr *e)
{
    size_t n = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(w[i]))
            return ipu_err(e, "tensor '%s': non-finite weight %g at flat index %zu", name, (double)w[i], i);
    if (!(out->f32 = quant_alloc(n, sizeof(float), name, e)))
        return -1;
    memcpy(out->f32, w, n * sizeof(float));
    out->data_bytes = n * sizeof(float);
    return 0;
}

static void f32_dequantize(const QuantTensor *q, float *out)
{
    memcpy(out, q->f32, (size_t)q->rows * (size_t)q->cols * sizeof(float));
}

/* ---- f16 -------------------------------------------------------------- */

static double f16_bits(const QuantSpec *s, int64_t rows, int64_t cols) { return 16.0; }

static int f16_quantize(const QuantSpec *s, const char *name, const float *w, int64_t rows, int64_t cols,
                        QuantTensor *out, IpuErr *e)
{
    size_t n = (size_t)rows * (size_t)cols;
    if (!(out->f16 = quant_alloc(n, sizeof(uint16_t), name, e)))
        return -1;
    if (quant_to_f16_checked(name, w, n, out->f16, e) < 0)
        return -1;
    out->data_bytes = n * sizeof(uint16_t);
    return 0;
}

static void f16_dequantize(const QuantTensor *q, float *out)
{
    size_t n = (size_t)q->rows * (size_t)q->cols;
    for (size_t i = 0; i < n; i++)
        out[i] = fp16_to_f32(q->f16[i]);
}

/* ---- q4g -------------------------------------------------------------- */

static double q4g_bits(const QuantSpec *s, int64_t rows, int64_t cols) { return q4_bits_per_param(s->group); }

/* One group of n fp16 values v into n/4 packed words and its scale, bias.
 * The code quotient (v - bias) / scale is a ratio of fp16 numbers: v - bias
 * is a multiple of 2^-24 below 2^17 (exact in double), scale has 11
 * significant bits. A quotient that is not a tie sits at least 2^-41 from
 * one, far more than the 2^-48 ulp of a double near 16, so rounding the
 * double quotient half to even gives the exact round-half-even code.
 * Written as plain loops that vectorize: the extremes through an integer
 * key that orders fp16 bits as their values do (-0 below +0, which only
 * the first element equal to the minimum decides, as a compare would). */
/* x[i] = v[i] as fp32 (exact), n a multiple of 4. */
static void f16_row_to_f32(const uint16_t *v, unsigned n, float *x)
{
    unsigned i = 0;
#if defined(__F16C__) && defined(__AVX__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i))));
#endif
    for (; i < n; i++)
        x[i] = fp16_to_f32(v[i]);
}

/* v[i] = w[i] rounded to fp16 (fp16_from_f32's bits for every finite
 * result); 0 when one is not a finite fp16 value. */
static int f32_row_to_f16(const float *w, unsigned n, uint16_t *v)
{
    unsigned i = 0, bad = 0;
#if defined(__F16C__) && defined(__AVX__)
    const __m128i expo = _mm_set1_epi16(0x7c00);
    __m128i acc = _mm_setzero_si128();
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(w + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(v + i), h);
        acc = _mm_or_si128(acc, _mm_cmpeq_epi16(_mm_and_si128(h, expo), expo));
    }
    bad = (unsigned)_mm_movemask_epi8(acc);
#endif
    for (; i < n; i++) {
        v[i] = fp16_from_f32(w[i]);
        bad |= !fp16_isfinite(v[i]);
    }
    return !bad;
}

static inline int16_t f16_key(uint16_t h) { return (int16_t)(h & 0x8000u ? ~(h & 0x7fffu) : h); }

static void q4g_group(const uint16_t *v, unsigned n, uint16_t *packed, uint16_t *scale, uint16_t *bias)
{
    float x[Q4_MAX_GROUP];
    f16_row_to_f32(v, n, x);
    int16_t kmin = f16_key(v[0]), kmax = kmin;
    for (unsigned i = 0; i < n; i++) {
        int16_t k = f16_key(v[i]);
        kmin = k < kmin ? k : kmin;
        kmax = k > kmax ? k : kmax;
    }
    float lo = fp16_to_f32(kmin < 0 ? (uint16_t)(~kmin | 0x8000) : (uint16_t)kmin);
    float hi = fp16_to_f32(kmax < 0 ? (uint16_t)(~kmax | 0x8000) : (uint16_t)kmax);
    unsigned first = 0;
    while (x[first] != lo)
        first++;
    uint16_t s = quant_f16_from_f64(((double)hi - (double)lo) / 15.0);
    *scale = s;
    *bias = v[first];
    double sd = f16_to_f64(s), dlo = lo;
    uint8_t c[Q4_MAX_GROUP];
    for (unsigned i = 0; i < n; i++) {
        double q = nearbyint(((double)x[i] - dlo) / sd);
        c[i] = (uint8_t)(q < 0 ? 0 : q > Q4_MAX_CODE ? Q4_MAX_CODE : q);
    }
    if (s == 0)
        memset(c, 0, n);
    for (unsigned i = 0; i < n; i += 4)
        packed[i / 4] = q4_pack(c[i], c[i + 1], c[i + 2], c[i + 3]);
}

/* The input-axis layout: group g is w[g n .. g n + n), rounded to fp16 group by group. */
static int q4g_quantize_in(const char *name, const float *w, size_t count, unsigned n, int64_t qrows, int64_t qlen,
                           QuantTensor *out, IpuErr *e)
{
    size_t groups = count / n;
    out->qrows = qrows;
    out->qlen = qlen;
    out->packed = quant_alloc(count / 4, sizeof(uint16_t), name, e);
    out->scale = quant_alloc(groups, sizeof(uint16_t), name, e);
    out->bias = quant_alloc(groups, sizeof(uint16_t), name, e);
    if (!out->packed || !out->scale || !out->bias)
        return -1;
    int bad = 0;
    /* groups are independent: the result is the same at any thread count */
    #pragma omp parallel for schedule(dynamic, 256) reduction(|| : bad)
    for (size_t g = 0; g < groups; g++) {
        uint16_t v[Q4_MAX_GROUP];
        if (!f32_row_to_f16(w + g * n, n, v))
            bad = 1;
        else
            q4g_group(v, n, out->packed + g * (n / 4), out->scale + g, out->bias + g);
    }
    if (bad)
        return quant_bad_weight(name, w, count, e);
    out->data_bytes = (count / 4 + 2 * groups) * sizeof(uint16_t);
    return 0;
}

static int q4g_quantize(const QuantSpec *s, const char *name, const float *w, int64_t rows, int64_t cols,
                        QuantTensor *out, IpuErr *e)
{
    unsigned n = s->group;
    int64_t qrows = s->axis == QUANT_AXIS_IN ? rows : cols;
    int64_t qlen = s->axis == QUANT_AXIS_IN ? cols : rows;
    const char *axis = s->axis == QUANT_AXIS_IN ? "input axis (cols)" : "output axis (rows)";
    if (n < Q4_MIN_GROUP || n % 4 != 0 || n > Q4_MAX_GROUP)
        return ipu_err(e, "tensor '%s': q4g group size %u must be a multiple of 4 in %d..%d (%s has length %lld)",
                       name, n, Q4_MIN_GROUP, Q4_MAX_GROUP, axis, (long long)qlen);
    if (qlen % n != 0)
        return ipu_err(e, "tensor '%s': q4g group size %u does not divide the %s of length %lld",
                       name, n, axis, (long long)qlen);
    size_t count = (size_t)rows * (size_t)cols, groups = (size_t)qrows * (size_t)(qlen / n);
    if (s->axis == QUANT_AXIS_IN) /* groups straight from w: no fp16 copy of the matrix */
        return q4g_quantize_in(name, w, count, n, qrows, qlen, out, e);
    uint16_t *v = quant_alloc(count, sizeof(uint16_t), name, e);
    if (!v)
        return -1;
    if (quant_to_f16_checked(name, w, count, v, e) < 0) {
        free(v);
        return -1;
    }
    if (s->axis == QUANT_AXIS_OUT) { /* work on the transpose (cols, rows) */
        uint16_t *t = quant_alloc(count, sizeof(uint16_t), name, e);
        if (!t) {
            free(v);
            return -1;
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++)
                t[c * rows + r] = v[r * cols + c];
        free(v);
        v = t;
    }
    out->qrows = qrows;
    out->qlen = qlen;
    out->packed = quant_alloc(count / 4, sizeof(uint16_t), name, e);
    out->scale = quant_alloc(groups, sizeof(uint16_t), name, e);
    out->bias = quant_alloc(groups, sizeof(uint16_t), name, e);
    if (!out->packed || !out->scale || !out->bias) {
        free(v);
        return -1;
    }
    /* groups are independent: the result is the same at any thread count */
    #pragma omp parallel for schedule(static)
    for (size_t g = 0; g < groups; g++)
        q4g_group(v + g * n, n, out->packed + g * (n / 4), out->scale + g, out->bias + g);
    out->data_bytes = (count / 4 + 2 * groups) * sizeof(uint16_t);
    free(v);
    return 0;
}

static void q4g_dequantize(const QuantTensor *q, float *out)
{
    unsigned n = q->spec.group;
    int64_t groups_per_row = q->qlen / n;
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < q->qrows; r++)
        for (int64_t j = 0; j < q->qlen; j++) {
            size_t g = (size_t)(r * groups_per_row + j / n);
            uint16_t word = q->packed[(size_t)(r * q->qlen + j) / 4];
            float x = fp16_to_f32(q4_dequant_ref(q4_code(word, (unsigned)(j % 4)), q->scale[g], q->bias[g]));
            if (q->spec.axis == QUANT_AXIS_IN)
                out[r * q->cols + j] = x;
            else
                out[j * q->cols + r] = x;
        }
}

void quant_free_buffers(QuantTensor *q)
{
    free(q->f32);
    free(q->f16);
    free(q->packed);
    free(q->scale);
    free(q->bias);
    free(q->codes8);
    free(q->qscale);
    free(q->dq_step);
    q->f32 = NULL;
    q->f16 = q->packed = q->scale = q->bias = NULL;
    q->codes8 = q->qscale = NULL;
    q->dq_step = NULL;
}

int quant_check_group(const QuantSpec *s, const char *name, int64_t cols, IpuErr *e)
{
    unsigned n = s->group;
    if (n < Q4_MIN_GROUP || n % 4 != 0 || n > Q4_MAX_GROUP)
        return ipu_err(e, "tensor '%s': %s group size %u must be a multiple of 4 in %d..%d (input axis (cols) has "
                          "length %lld)",
                       name, s->fmt->name, n, Q4_MIN_GROUP, Q4_MAX_GROUP, (long long)cols);
    if (cols % n != 0)
        return ipu_err(e, "tensor '%s': %s group size %u does not divide the input axis (cols) of length %lld", name,
                       s->fmt->name, n, (long long)cols);
    return 0;
}

const WeightFormat quant_format_f32 = {"fp32", f32_bits, f32_quantize, f32_dequantize, quant_free_buffers};
const WeightFormat quant_format_f16 = {"fp16", f16_bits, f16_quantize, f16_dequantize, quant_free_buffers};
const WeightFormat quant_format_q4g = {"q4g", q4g_bits, q4g_quantize, q4g_dequantize, quant_free_buffers};

/* ---- specs ------------------------------------------------------------ */

/* The names quant_spec_parse knows, and which parameters each takes. */
typedef struct SpecName {
    const char *name;
    const WeightFormat *fmt;
    int grouped;  /* takes :N */
    int axis;     /* takes :in | :out after :N (q4g) */
    int dq;       /* takes +dq (nf4g) */
    int scale;    /* takes :tensor | :channel (fp8) */
} SpecName;

static const SpecName spec_names[] = {
    {"f32", &quant_format_f32, 0, 0, 0, 0},     {"fp32", &quant_format_f32, 0, 0, 0, 0},
    {"f16", &quant_format_f16, 0, 0, 0, 0},     {"fp16", &quant_format_f16, 0, 0, 0, 0},
    {"q4g", &quant_format_q4g, 1, 1, 0, 0},     {"s4g", &quant_format_s4g, 1, 0, 0, 0},
    {"nf4g", &quant_format_nf4g, 1, 0, 1, 0},   {"i8g", &quant_format_i8g, 1, 0, 0, 0},
    {"i8c", &quant_format_i8c, 0, 0, 0, 0},     {"fp8e4m3", &quant_format_fp8e4m3, 0, 0, 0, 1},
    {"fp8e5m2", &quant_format_fp8e5m2, 0, 0, 0, 1},
};

#define SPEC_KNOWN "f32, fp32, f16, fp16, q4g[:N[:in|out]], s4g[:N], nf4g[:N][+dq], i8g[:N], i8c, " \
                   "fp8e4m3[:tensor|channel], fp8e5m2[:tensor|channel]"

/* ":N" at *p: the group size (a multiple of 4 in 4..4096); *p moves past it. */
static int parse_group(const char *text, const char **p, unsigned *group, IpuErr *e)
{
    char *end;
    errno = 0;
    long g = strtol(*p, &end, 10);
    if (end == *p || errno || (*end && *end != ':' && *end != '+'))
        return ipu_err(e, "weight format '%s': group size '%s' is not an integer", text, *p);
    if (g < Q4_MIN_GROUP || g % 4 != 0 || g > Q4_MAX_GROUP)
        return ipu_err(e, "weight format '%s': group size %ld must be a multiple of 4 in %d..%d", text, g,
                       Q4_MIN_GROUP, Q4_MAX_GROUP);
    *group = (unsigned)g;
    *p = end;
    return 0;
}

int quant_spec_parse(const char *text, QuantSpec *out, IpuErr *e)
{
    size_t len = strcspn(text, ":+");
    const SpecName *sn = NULL;
    for (size_t i = 0; i < sizeof spec_names / sizeof spec_names[0]; i++)
        if (strlen(spec_names[i].name) == len && !strncmp(spec_names[i].name, text, len))
            sn = &spec_names[i];
    if (!sn)
        return ipu_err(e, "weight format '%s': unknown format (known: %s)", text, SPEC_KNOWN);
    QuantSpec s = {sn->fmt, QUANT_DEFAULT_GROUP, QUANT_AXIS_IN, 0, 0};
    const char *p = text + len;
    if (*p == ':' && sn->grouped) {
        p++;
        if (parse_group(text, &p, &s.group, e))
            return -1;
        if (*p == ':' && sn->axis) {
            if (!strcmp(p + 1, "in"))
                s.axis = QUANT_AXIS_IN;
            else if (!strcmp(p + 1, "out"))
                s.axis = QUANT_AXIS_OUT;
            else
                return ipu_err(e, "weight format '%s': axis '%s' must be 'in' or 'out'", text, p + 1);
            p += strlen(p);
        }
    } else if (*p == ':' && sn->scale) {
        if (!strcmp(p + 1, "tensor"))
            s.per_tensor = 1;
        else if (strcmp(p + 1, "channel"))
            return ipu_err(e, "weight format '%s': scale '%s' must be 'tensor' or 'channel'", text, p + 1);
        p += strlen(p);
    }
    if (!strcmp(p, "+dq") && sn->dq) {
        s.dq = 1;
        p += 3;
    }
    if (*p) {
        if (!sn->grouped && !sn->scale)
            return ipu_err(e, "weight format '%s': %s takes no parameters", text, sn->fmt->name);
        return ipu_err(e, "weight format '%s': unexpected '%s' (known: %s)", text, p, SPEC_KNOWN);
    }
    *out = s;
    return 0;
}

int quant_spec_grouped(const QuantSpec *s)
{
    return s->fmt == &quant_format_q4g || s->fmt == &quant_format_s4g || s->fmt == &quant_format_nf4g ||
           s->fmt == &quant_format_i8g;
}

void quant_spec_format(const QuantSpec *s, char *buf, size_t cap)
{
    if (s->fmt == &quant_format_q4g)
        snprintf(buf, cap, "q4g:%u%s", s->group, s->axis == QUANT_AXIS_OUT ? ":out" : "");
    else if (quant_spec_grouped(s))
        snprintf(buf, cap, "%s:%u%s", s->fmt->name, s->group, s->dq ? "+dq" : "");
    else
        snprintf(buf, cap, "%s%s", s->fmt->name, s->per_tensor ? ":tensor" : "");
}

int quant_spec_row_local(const QuantSpec *s)
{
    if (s->fmt == &quant_format_q4g)
        return s->axis == QUANT_AXIS_IN;
    if (s->fmt == &quant_format_nf4g)
        return !s->dq;
    return !s->per_tensor;
}

double quant_bits_per_param(const QuantSpec *s, int64_t rows, int64_t cols)
{
    return s->fmt->bits_per_param(s, rows, cols);
}

/* ---- tensors ---------------------------------------------------------- */

int quant_tensor(const QuantSpec *s, const char *name, const float *w, int64_t rows, int64_t cols,
                 QuantTensor *out, IpuErr *e)
{
    memset(out, 0, sizeof *out);
    if (rows <= 0 || cols <= 0)
        return ipu_err(e, "tensor '%s': shape [%lld, %lld] is empty", name, (long long)rows, (long long)cols);
    out->spec = *s;
    snprintf(out->name, sizeof out->name, "%s", name);
    out->rows = out->qrows = rows;
    out->cols = out->qlen = cols;
    if (s->fmt->quantize(s, name, w, rows, cols, out, e) < 0) {
        s->fmt->free(out);
        return -1;
    }
    return 0;
}

void quant_dequantize(const QuantTensor *q, float *out) { q->spec.fmt->dequantize(q, out); }

void quant_tensor_free(QuantTensor *q)
{
    if (q && q->spec.fmt)
        q->spec.fmt->free(q);
}

void quant_stats(const QuantTensor *q, const float *ref, QuantStats *out)
{
    size_t n = (size_t)q->rows * (size_t)q->cols;
    float *d = malloc(n * sizeof(float));
    IPU_ASSERT(d != NULL);
    quant_dequantize(q, d);
    double sig = 0, err = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double r = ref[i], x = (double)d[i] - r;
        sig += r * r;
        err += x * x;
        if (fabs(x) > mx)
            mx = fabs(x);
    }
    free(d);
    out->rmse = sqrt(err / (double)n);
    out->max_abs_err = mx;
    out->sqnr_db = err == 0 ? INFINITY : 10.0 * log10(sig / err);
}

/* ---- policy ----------------------------------------------------------- */

int quant_glob_match(const char *pattern, const char *name)
{
    const char *star = NULL, *resume = NULL;
    while (*name) {
        if (*pattern == '*') {
            star = pattern++;
            resume = name;
        } else if (*pattern == *name) {
            pattern++;
            name++;
        } else if (star) {
            pattern = star + 1;
            name = ++resume;
        } else {
            return 0;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

static void quant_policy_add(QuantPolicy *p, const char *pattern, const QuantSpec *s)
{
    IPU_ASSERT(p->nrules < QUANT_POLICY_MAX_RULES);
    QuantRule *r = &p->rules[p->nrules++];
    snprintf(r->pattern, sizeof r->pattern, "%s", pattern);
    r->spec = *s;
}

void quant_policy_uniform(QuantPolicy *p, const QuantSpec *spec)
{
    memset(p, 0, sizeof *p);
    p->fallback = *spec;
}

void quant_policy_graphcore(QuantPolicy *p, const QuantSpec *weights)
{
    static const char *const keep_f16[] = {"*wte*", "*ln_*", "*.bias"};
    const QuantSpec f16 = {&quant_format_f16, QUANT_DEFAULT_GROUP, QUANT_AXIS_IN, 0, 0};
    QuantSpec w = *weights;
    w.axis = QUANT_AXIS_IN; /* lm_head too: its output axis need not split into groups */
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < sizeof keep_f16 / sizeof keep_f16[0]; i++)
        quant_policy_add(p, keep_f16[i], &f16);
    quant_policy_add(p, "*.weight", &w);
    p->fallback = f16;
}

int quant_policy_prepend(QuantPolicy *p, const char *rule, IpuErr *e)
{
    const char *eq = strrchr(rule, '=');
    if (!eq || eq == rule || !eq[1])
        return ipu_err(e, "quant rule '%s': expected PATTERN=FORMAT", rule);
    if ((size_t)(eq - rule) >= QUANT_PATTERN_BYTES)
        return ipu_err(e, "quant rule '%s': pattern longer than %d bytes", rule, QUANT_PATTERN_BYTES - 1);
    if (p->nrules >= QUANT_POLICY_MAX_RULES)
        return ipu_err(e, "quant rule '%s': more than %d rules", rule, QUANT_POLICY_MAX_RULES);
    QuantSpec s;
    if (quant_spec_parse(eq + 1, &s, e) < 0)
        return ipu_err_prefix(e, "quant rule '%s'", rule);
    memmove(&p->rules[1], &p->rules[0], (size_t)p->nrules * sizeof p->rules[0]);
    p->nrules++;
    memcpy(p->rules[0].pattern, rule, (size_t)(eq - rule));
    p->rules[0].pattern[eq - rule] = '\0';
    p->rules[0].spec = s;
    return 0;
}

const QuantSpec *quant_policy_lookup(const QuantPolicy *p, const char *name)
{
    for (int i = 0; i < p->nrules; i++)
        if (quant_glob_match(p->rules[i].pattern, name))
            return &p->rules[i].spec;
    return &p->fallback;
}
