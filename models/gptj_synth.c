/* gptj_synth.c - synthetic GPT-J weights (see gptj_weights.h): the
 * counter-based generator, stored and on-demand (lazy) weights, and
 * synthetic checkpoints.
 *
 * Element i of tensor T under seed S is 0.02 z (gains 1 + 0.02 z), z a
 * Box-Muller normal of one 64-bit hash of (S, T's name, i) computed in
 * binary32 with the host's logf, cosf and sqrtf. That is the definition,
 * and the exact path computes it so.
 *
 * The fp16 weights (what bench functional and most runs quantize) are
 * 6 billion of them for GPT-J 6B, too many for two libm calls each. The
 * fast path computes the same real number y = 0.02f sqrt(-2 ln u1) cos(t)
 * (u1, t the binary32 values the exact path feeds libm) in binary64 with
 * its own polynomials (relative error below 2^-24), and accepts the fp16
 * value y rounds to only when y and every number within 2^-20 of it
 * (relative) round to it. The exact path's binary32 chain lies within 3
 * binary32 ulps (3 x 2^-23, relative: logf and cosf within 1 ulp, as the
 * glibc manual's error table gives them, sqrtf and the products rounded
 * once) of y, so it rounds to the same fp16 value; anything closer to a
 * rounding boundary, and y = 0 (whose sign the exact path decides), goes
 * the exact path. tests/test_gptj_weights.c compares both paths over
 * millions of elements. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "base/fp16.h"
#include "models/gptj_weights.h"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t tensor_key(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the name */
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return mix64(mix64(seed + 0x9e3779b97f4a7c15ull) ^ h);
}

/* The two binary32 uniforms of element i: u1 in (0, 1], u2 in (0, 1). */
static inline void uniforms(uint64_t key, uint64_t i, float *u1, float *u2)
{
    uint64_t r = mix64(key ^ mix64(i * 0x9e3779b97f4a7c15ull + 1));
    *u1 = ((float)(r >> 40) + 0.5f) * 0x1p-24f;
    *u2 = ((float)(r & 0xffffffu) + 0.5f) * 0x1p-24f;
}

/* N(0, 1) from one 64-bit counter hash: Box-Muller on two 24-bit uniforms. */
static inline float normal_at(uint64_t key, uint64_t i)
{
    float u1, u2;
    uniforms(key, i, &u1, &u2);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

static inline float synth_at(uint64_t key, GptjTensorKind kind, uint64_t i)
{
    float z = 0.02f * normal_at(key, i);
    return kind == GPTJ_GAIN ? 1.0f + z : z;
}

float gptj_synth_value(uint64_t seed, const GptjTensorInfo *t, uint64_t i)
{
    return synth_at(tensor_key(seed, t->name), t->kind, i);
}

/* ---- the fast fp16 path ---- */

/* ln x for a normal x > 0: x = 2^e m, m in [sqrt(1/2), sqrt(2)), ln m =
 * 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^9
 * (the rest is below 2^-24 of the sum). Branch-free, so loops of it
 * vectorize. */
static inline double fast_log(double x)
{
    uint64_t b;
    memcpy(&b, &x, 8);
    double e = (double)((int64_t)((b >> 52) & 0x7ff) - 1023);
    uint64_t mb = (b & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &mb, 8);
    int big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    e = big ? e + 1.0 : e;
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double p = 2.0 / 9 * s2 + 2.0 / 7;
    p = p * s2 + 2.0 / 5;
    p = p * s2 + 2.0 / 3;
    p = p * s2 + 2.0;
    return e * 0.69314718055994530942 + s * p;
}

/* cos t for 0 <= t < 8: t = k pi/2 + r, |r| <= pi/4 (pi/2 split so k pi/2
 * is exact), then the cos or sin series of r (to r^8, r^9: the rest is
 * below 2^-25 of the result). Near a zero of cos the result is a sin(r)
 * of small r, accurate relative to itself. */
static inline double fast_cos(double t)
{
    const double pio2_hi = 1.5707963267341256, pio2_lo = 6.077100506506192e-11, round = 6755399441055744.0;
    double k = (t * 0.63661977236758134 + round) - round;
    double r = (t - k * pio2_hi) - k * pio2_lo, r2 = r * r;
    double c = r2 * (1.0 / 40320) - 1.0 / 720;
    c = c * r2 + 1.0 / 24;
    c = c * r2 - 0.5;
    c = c * r2 + 1.0;
    double sn = r2 * (1.0 / 362880) - 1.0 / 5040;
    sn = sn * r2 + 1.0 / 120;
    sn = sn * r2 - 1.0 / 6;
    sn = (sn * r2 + 1.0) * r;
    int q = (int)k & 3, odd = q & 1, neg = ((q + 1) >> 1) & 1; /* k = 1, 2: negative */
    double v = odd ? sn : c;
    return neg ? -v : v;
}

/* The fp16 value (bits in *h) that every number within SYNTH_MARGIN of y
 * (relative) rounds to: 1, or 0 if some of them round elsewhere, or y is
 * 0. In units of the fp16 quantum at |y| (2^(E-10), E the binade, at
 * least -14: subnormals share the quantum of the lowest binade), |y| is
 * s = n + d with n the nearest integer; the interval rounds to n's value
 * when |d| + s SYNTH_MARGIN < 1/2. A value just above a power of two has
 * finer steps below it, a quarter quantum away: far beyond the margin.
 * Branch-free (loops of it vectorize). */
#define SYNTH_MARGIN 0x1.002p-20
static inline int certain_f16(double y, uint16_t *h)
{
    double a = fabs(y);
    uint64_t b;
    memcpy(&b, &a, 8);
    int64_t e = (int64_t)(b >> 52) - 1023;
    e = e < -14 ? -14 : e;
    uint64_t ib = (uint64_t)(1023 + 10 - e) << 52; /* 1 / quantum */
    double inv;
    memcpy(&inv, &ib, 8);
    const double round = 4503599627370496.0; /* 2^52 */
    double sc = a * inv, n = (sc + round) - round, d = sc - n;
    *h = (uint16_t)((uint16_t)(((e + 14) << 10) + (int64_t)n) | (y < 0) << 15);
    return (a > 0.0) & (a < 60000.0) & (fabs(d) + sc * SYNTH_MARGIN < 0.5);
}

#define SYNTH_BLOCK 256

/* fp16 bits of 0.02 z for elements i0 .. i0 + n (n <= SYNTH_BLOCK), and
 * their values in outf unless NULL. */
static void synth_f16_block(uint64_t key, uint64_t i0, unsigned n, uint16_t *out, float *outf)
{
    double y[SYNTH_BLOCK];
    unsigned char ok[SYNTH_BLOCK];
    for (unsigned j = 0; j < n; j++) { /* these two loops vectorize: no calls, no branches */
        float u1, u2;
        uniforms(key, i0 + j, &u1, &u2);
        float t = 6.28318530717958647692f * u2;
        y[j] = (double)0.02f * sqrt(-2.0 * fast_log((double)u1)) * fast_cos((double)t);
    }
    unsigned all = 1;
    for (unsigned j = 0; j < n; j++) {
        ok[j] = (unsigned char)certain_f16(y[j], &out[j]);
        all &= ok[j];
    }
    for (unsigned j = 0; !all && j < n; j++)
        if (!ok[j])
            out[j] = fp16_from_f32(0.02f * normal_at(key, i0 + j));
    unsigned j = 0;
#if defined(__F16C__) && defined(__AVX__)
    for (; outf && j + 8 <= n; j += 8)
        _mm256_storeu_ps(outf + j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(out + j))));
#endif
    for (; outf && j < n; j++)
        outf[j] = fp16_to_f32(out[j]);
}

void gptj_synth_fill_f16_exact(uint64_t seed, const GptjTensorInfo *t, uint64_t first, uint64_t n, uint16_t *dst)
{
    uint64_t key = tensor_key(seed, t->name);
    for (uint64_t j = 0; j < n; j++)
        dst[j] = fp16_from_f32(synth_at(key, t->kind, first + j));
}

void gptj_synth_fill(uint64_t seed, const GptjTensorInfo *t, uint64_t first, uint64_t n, StDtype dtype, void *dst)
{
    uint64_t key = tensor_key(seed, t->name);
    GptjTensorKind kind = t->kind;
    IPU_ASSERT(dtype == ST_F32 || dtype == ST_F16 || dtype == ST_BF16);
    if (dtype == ST_F16 && kind != GPTJ_GAIN) {
        long long nb = (long long)((n + SYNTH_BLOCK - 1) / SYNTH_BLOCK);
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long long b = 0; b < nb; b++) {
            uint64_t j0 = (uint64_t)b * SYNTH_BLOCK, m = n - j0 < SYNTH_BLOCK ? n - j0 : SYNTH_BLOCK;
            synth_f16_block(key, first + j0, (unsigned)m, (uint16_t *)dst + j0, NULL);
        }
        return;
    }
    long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (nn > 65536)
    for (long long j = 0; j < nn; j++) {
        float v = synth_at(key, kind, first + (uint64_t)j);
        if (dtype == ST_F32) {
            ((float *)dst)[j] = v;
        } else if (dtype == ST_F16) {
            ((uint16_t *)dst)[j] = fp16_from_f32(v);
        } else { /* bf16, round to nearest even; values here are finite */
            uint32_t u = fp16_f32_bits(v);
            u += 0x7fffu + ((u >> 16) & 1u);
            ((uint16_t *)dst)[j] = (uint16_t)(u >> 16);
        }
    }
}

/* ---- stored and lazy synthetic weights ---- */

int gptj_weights_synth(GptjWeights *w, const GptjConfig *cfg, GptjDtype wdtype, uint64_t seed, IpuErr *e)
{
    if (gptj_weights_init(w, cfg, wdtype, e))
        return -1;
    int n = gptj_tensor_count(cfg);
    for (int i = 0; i < n; i++) {
        GptjTensorInfo t;
        gptj_tensor_info(cfg, i, &t);
        StDtype d = t.kind == GPTJ_MATRIX && wdtype == GPTJ_F16 ? ST_F16 : ST_F32;
        gptj_synth_fill(seed, &t, 0, gptj_tensor_elems(&t), d, gptj_weights_tensor(w, i));
    }
    return 0;
}

int gptj_weights_synth_lazy(GptjWeights *w, const GptjConfig *cfg, GptjDtype wdtype, uint64_t seed, IpuErr *e)
{
    if (gptj_weights_init_small(w, cfg, wdtype, e))
        return -1;
    w->lazy_synth = 1;
    w->seed = seed;
    int n = gptj_tensor_count(cfg);
    for (int i = 0; i < n; i++) {
        GptjTensorInfo t;
        gptj_tensor_info(cfg, i, &t);
        if (t.kind != GPTJ_MATRIX)
            gptj_synth_fill(seed, &t, 0, gptj_tensor_elems(&t), ST_F32, gptj_weights_tensor(w, i));
    }
    return 0;
}

/* gptj_weights_rows of lazy checkpoint weights: converted from the
 * mapping; the pages of whole rows read are dropped from the process after. */
static void ck_rows(const GptjWeights *w, int index, int64_t row0, int64_t nrows, int64_t col0, int64_t ncols,
                    float *dst, int64_t ld)
{
    const StTensor *st = w->ck_tensor[index];
    uint64_t cols = (uint64_t)st->shape[1];
    int f16 = w->wdtype == GPTJ_F16;
#pragma omp parallel for schedule(dynamic, 4) if (nrows * ncols > 65536)
    for (int64_t r = 0; r < nrows; r++)
        st_window_f32(st, (uint64_t)(row0 + r) * cols + (uint64_t)col0, (uint64_t)ncols, f16, dst + r * ld);
    if (col0 == 0 && (uint64_t)ncols == cols)
        st_drop_window(st, (uint64_t)row0 * cols, (uint64_t)nrows * cols);
}

void gptj_weights_rows(const GptjWeights *w, int index, int64_t row0, int64_t nrows, int64_t col0, int64_t ncols,
                       float *dst, int64_t ld)
{
    GptjTensorInfo t;
    gptj_tensor_info(&w->cfg, index, &t);
    IPU_ASSERT(t.kind == GPTJ_MATRIX && row0 >= 0 && col0 >= 0 && row0 + nrows <= t.shape[0] &&
               col0 + ncols <= t.shape[1]);
    int64_t cols = t.shape[1];
    if (w->ck) {
        ck_rows(w, index, row0, nrows, col0, ncols, dst, ld);
        return;
    }
    const void *m = w->lazy_synth ? NULL : gptj_weights_tensor(w, index);
    uint64_t key = tensor_key(w->seed, t.name);
#pragma omp parallel for schedule(dynamic, 4) if (nrows * ncols > 65536)
    for (int64_t r = 0; r < nrows; r++) {
        float *d = dst + r * ld;
        uint64_t first = (uint64_t)(row0 + r) * (uint64_t)cols + (uint64_t)col0;
        if (m && w->wdtype == GPTJ_F32) {
            memcpy(d, (const float *)m + first, (size_t)ncols * sizeof *d);
        } else if (m) {
            for (int64_t c = 0; c < ncols; c++)
                d[c] = fp16_to_f32(((const uint16_t *)m)[first + (uint64_t)c]);
        } else if (w->wdtype == GPTJ_F32) {
            for (int64_t c = 0; c < ncols; c++)
                d[c] = synth_at(key, t.kind, first + (uint64_t)c);
        } else {
            uint16_t h[SYNTH_BLOCK];
            for (int64_t c = 0; c < ncols; c += SYNTH_BLOCK) {
                unsigned nb = ncols - c < SYNTH_BLOCK ? (unsigned)(ncols - c) : SYNTH_BLOCK;
                synth_f16_block(key, first + (uint64_t)c, nb, h, d + c);
            }
        }
    }
}

/* ---- synthetic checkpoints ---- */

typedef struct SynthCtx {
    const GptjConfig *cfg;
    uint64_t seed;
    StDtype dtype;
    GptjProgressFn progress;
    void *progress_ctx;
    size_t done, total;
} SynthCtx;

static int synth_fill_cb(void *ctx, int index, void *dst, uint64_t n_bytes, IpuErr *e)
{
    SynthCtx *s = ctx;
    GptjTensorInfo t;
    gptj_tensor_info(s->cfg, index, &t);
    IPU_ASSERT(n_bytes == gptj_tensor_elems(&t) * st_dtype_bytes(s->dtype));
    gptj_synth_fill(s->seed, &t, 0, gptj_tensor_elems(&t), s->dtype, dst);
    if (s->progress)
        s->progress(s->progress_ctx, ++s->done, s->total);
    return 0;
}

/* The files a checkpoint folder written by gptj_synth_write consists of. */
static const char *const gptj_checkpoint_files[] = {"config.json", "model.safetensors", "model-*-of-*.safetensors",
                                                    "model.safetensors.index.json", NULL};

int gptj_synth_write(const GptjConfig *cfg, uint64_t seed, StDtype dtype, const char *dir, uint64_t max_shard_bytes,
                     int *n_shards, GptjProgressFn progress, void *progress_ctx, IpuErr *e)
{
    if (gptj_config_validate(cfg, cfg->name, e))
        return -1;
    if (dtype != ST_F32 && dtype != ST_F16 && dtype != ST_BF16)
        return ipu_err(e, "synthetic weights: dtype %s unsupported (F32, F16 or BF16)", st_dtype_name(dtype));
    FileioDir out; /* built in a temp sibling, moved into place whole */
    if (fileio_dir_begin(&out, dir, e))
        return -1;
    int n = gptj_tensor_count(cfg);
    StWriteTensor *wt = calloc((size_t)n, sizeof *wt);
    GptjTensorInfo *info = calloc((size_t)n, sizeof *info);
    if (!wt || !info) {
        free(wt);
        free(info);
        fileio_dir_abort(&out);
        return ipu_err(e, "%s: out of memory", dir);
    }
    for (int i = 0; i < n; i++) {
        gptj_tensor_info(cfg, i, &info[i]);
        wt[i].name = info[i].name;
        wt[i].dtype = dtype;
        wt[i].ndim = info[i].ndim;
        wt[i].shape[0] = info[i].shape[0];
        wt[i].shape[1] = info[i].shape[1];
    }
    SynthCtx ctx = {cfg, seed, dtype, progress, progress_ctx, 0, (size_t)n};
    int rc = st_write_model(out.tmp, wt, n, max_shard_bytes, synth_fill_cb, &ctx, n_shards, e);
    free(wt);
    free(info);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", out.tmp);
    if (rc || gptj_config_write_hf(cfg, path, e) || fileio_dir_commit(&out, gptj_checkpoint_files, e)) {
        fileio_dir_abort(&out);
        return -1;
    }
    return 0;
}

