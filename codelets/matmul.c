/* matmul.c - AMP matmul: specification, tile version, vertex types. */
#include "codelets/matmul.h"

#include <stdlib.h>
#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

#include "codelets/isa_amp.h"

static uint32_t a_stride_of(const MatmulArgs *p) { return p->a_stride ? p->a_stride : p->k; }
static uint32_t w_stride_of(const MatmulArgs *p) { return p->w_stride ? p->w_stride : p->k; }
static uint32_t out_stride_of(const MatmulArgs *p) { return p->out_stride ? p->out_stride : p->n; }

/* What the partial looks like after a trip through memory. */
static float partial_round(float v, LayerDtype t)
{
    return t == LAYER_F16 ? fp16_to_f32(fp16_from_f32(v)) : v;
}

void matmul_ref(const MatmulArgs *p, LayerDtype partials)
{
    uint32_t as = a_stride_of(p), ws = w_stride_of(p), os = out_stride_of(p);
    for (uint32_t m = 0; m < p->m; m++)
        for (uint32_t n = 0; n < p->n; n++) {
            size_t o = (size_t)m * os + n;
            float acc = p->accumulate ? layer_load(p->out, partials, o) : 0.0f;
            for (uint32_t k0 = 0; k0 < p->k; k0 += AMP_BLOCK_K) {
                uint32_t k1 = k0 + AMP_BLOCK_K < p->k ? k0 + AMP_BLOCK_K : p->k;
                for (uint32_t k = k0; k < k1; k++)
                    acc += fp16_to_f32(p->a[(size_t)m * as + k]) * fp16_to_f32(p->w[(size_t)n * ws + k]);
                if (k1 < p->k)
                    acc = partial_round(acc, partials);
            }
            layer_store(p->out, partials, o, acc);
        }
}

void matmul_amp_blocks(Worker *wk, const MatmulArgs *p, LayerDtype partials, int data, MatmulLoadBlock load,
                       const void *ctx)
{
    uint32_t as = a_stride_of(p), os = out_stride_of(p);
    int f16 = partials == LAYER_F16;
    AmpState amp;
    amp.macs_per_cycle = p->amp_macs_per_cycle;
    wk->cycles += wk->isa->call;
    for (uint32_t n0 = 0; n0 < p->n; n0 += AMP_BLOCK_N) {
        uint32_t nn = p->n - n0 < AMP_BLOCK_N ? p->n - n0 : AMP_BLOCK_N;
        for (uint32_t k0 = 0; k0 < p->k; k0 += AMP_BLOCK_K) {
            uint32_t nk = p->k - k0 < AMP_BLOCK_K ? p->k - k0 : AMP_BLOCK_K;
            int first = k0 == 0 && !p->accumulate;
            load(wk, &amp, ctx, n0, k0, nn, nk);
            amp_fill(wk);
            for (uint32_t m = 0; m < p->m; m++) {
                float acc[AMP_BLOCK_N] = {0};
                size_t o = (size_t)m * os + n0;
                if (data && !first)
                    for (uint32_t n = 0; n < nn; n++)
                        acc[n] = layer_load(p->out, partials, o + n);
                amp_row(wk, &amp, data ? p->a + (size_t)m * as + k0 : NULL, nk, data ? acc : NULL, f16);
                if (data)
                    for (uint32_t n = 0; n < nn; n++)
                        layer_store(p->out, partials, o + n, acc[n]);
            }
        }
    }
}

/* matmul_amp's block load: rows n0.. of w from input k0 (none without data). */
static void load_f16_block(Worker *wk, AmpState *amp, const void *ctx, uint32_t n0, uint32_t k0, uint32_t nn,
                           uint32_t nk)
{
    const MatmulArgs *p = ctx;
    uint32_t ws = w_stride_of(p);
    amp_load_weights(wk, amp, p->a && p->w && p->out ? p->w + (size_t)n0 * ws + k0 : NULL, ws, nn, nk);
}

void matmul_amp(Worker *wk, const MatmulArgs *p, LayerDtype partials)
{
    matmul_amp_blocks(wk, p, partials, p->a && p->w && p->out, load_f16_block, p);
}

uint64_t matmul_amp_cycles(const IsaCosts *isa, uint32_t m, uint32_t k, uint32_t n,
                           uint32_t amp_macs_per_cycle, LayerDtype partials)
{
    uint32_t per = partials == LAYER_F16 ? isa->f16v4hihoamp : isa->f16v4sisoamp;
    uint64_t blocks = (uint64_t)((n + AMP_BLOCK_N - 1) / AMP_BLOCK_N) * ((k + AMP_BLOCK_K - 1) / AMP_BLOCK_K);
    return isa->call + blocks * (isa->amp_weight_load + isa->amp_fill +
                                 (uint64_t)m * amp_instrs_per_row(amp_macs_per_cycle) * per);
}

/* out advanced by `elems` partials of type t (NULL stays NULL). */
static void *out_at(void *out, LayerDtype t, size_t elems)
{
    return out ? (char *)out + elems * layer_dtype_bytes(t) : NULL;
}

uint32_t matmul_split(const MatmulArgs *whole, LayerDtype partials, uint32_t workers, MatmulArgs *parts)
{
    IPU_ASSERT(workers >= 1 && whole->m && whole->n && whole->k);
    uint32_t as = a_stride_of(whole), ws = w_stride_of(whole), os = out_stride_of(whole);
    if (whole->m >= workers) {
        uint32_t r0 = 0;
        for (uint32_t i = 0; i < workers; i++) {
            uint32_t rows = whole->m / workers + (i < whole->m % workers);
            parts[i] = *whole;
            parts[i].m = rows;
            parts[i].a_stride = as, parts[i].w_stride = ws, parts[i].out_stride = os;
            parts[i].a = whole->a ? whole->a + (size_t)r0 * as : NULL;
            parts[i].out = out_at(whole->out, partials, (size_t)r0 * os);
            r0 += rows;
        }
        return workers;
    }
    uint32_t blocks = (whole->n + AMP_BLOCK_N - 1) / AMP_BLOCK_N;
    uint32_t count = blocks < workers ? blocks : workers, b0 = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t nb = blocks / count + (i < blocks % count);
        uint32_t n0 = b0 * AMP_BLOCK_N, n1 = (b0 + nb) * AMP_BLOCK_N;
        n1 = n1 < whole->n ? n1 : whole->n;
        parts[i] = *whole;
        parts[i].n = n1 - n0;
        parts[i].a_stride = as, parts[i].w_stride = ws, parts[i].out_stride = os;
        parts[i].w = whole->w ? whole->w + (size_t)n0 * ws : NULL;
        parts[i].out = out_at(whole->out, partials, n0);
        b0 += nb;
    }
    return count;
}

int matmul_check(const MatmulArgs *p, int need_data, IpuErr *err)
{
    if (!p->m || !p->k || !p->n)
        return ipu_err(err, "matmul: zero size (m=%u k=%u n=%u)", p->m, p->k, p->n);
    if (p->a_stride && p->a_stride < p->k)
        return ipu_err(err, "matmul: a_stride %u is less than k=%u", p->a_stride, p->k);
    if (p->w_stride && p->w_stride < p->k)
        return ipu_err(err, "matmul: w_stride %u is less than k=%u", p->w_stride, p->k);
    if (p->out_stride && p->out_stride < p->n)
        return ipu_err(err, "matmul: out_stride %u is less than n=%u", p->out_stride, p->n);
    if (p->amp_macs_per_cycle < 1 || p->amp_macs_per_cycle > AMP_BLOCK_MACS)
        return ipu_err(err, "matmul: amp_macs_per_cycle %u outside 1..%d", p->amp_macs_per_cycle, AMP_BLOCK_MACS);
    if (need_data && (!p->a || !p->w || !p->out))
        return ipu_err(err, "matmul: NULL %s pointer", !p->a ? "a" : !p->w ? "w" : "out");
    return 0;
}

/* ---- native (functional fast path, see sim/vertex.h) ---- */

/* Output columns [n_lo, n_hi) in matmul_amp's exact order: per (m, n) start
 * from the incoming partial (or +0), add the exact fp32 products of each
 * 16-wide block of K one at a time in k order, round the partial to its
 * type after each block (a trip through memory). */
static void native_scalar(const MatmulArgs *p, LayerDtype t, uint32_t n_lo, uint32_t n_hi)
{
    uint32_t as = a_stride_of(p), ws = w_stride_of(p), os = out_stride_of(p);
    for (uint32_t m = 0; m < p->m; m++)
        for (uint32_t n = n_lo; n < n_hi; n++) {
            size_t o = (size_t)m * os + n;
            float acc = p->accumulate ? layer_load(p->out, t, o) : 0.0f;
            const uint16_t *a = p->a + (size_t)m * as, *w = p->w + (size_t)n * ws;
            for (uint32_t k0 = 0; k0 < p->k; k0 += AMP_BLOCK_K) {
                uint32_t k1 = k0 + AMP_BLOCK_K < p->k ? k0 + AMP_BLOCK_K : p->k;
                for (uint32_t k = k0; k < k1; k++)
                    acc += fp16_to_f32(a[k]) * fp16_to_f32(w[k]);
                if (k1 < p->k)
                    acc = partial_round(acc, t);
            }
            layer_store(p->out, t, o, acc);
        }
}

#if defined(__F16C__) && defined(__AVX__)
#define NATIVE_LANES 8
#define NATIVE_BLOCKS 4 /* blocks of 8 outputs per pass: independent addition chains */
#define NATIVE_MAX_ROWS 32

/* Lanes j of the weights w[row j][k0 .. k1) of one block of 8 rows, one
 * vector per k (wc[k - k0]), by 8 x 8 fp16 transposes. */
static inline __attribute__((always_inline)) void native_transpose(__m256 *wc, const uint16_t *const *wr, uint32_t k0,
                                                                   uint32_t k1)
{
    uint32_t k = k0;
    for (; k + 8 <= k1; k += 8) {
        __m128i r[8];
        for (int j = 0; j < 8; j++)
            r[j] = _mm_loadu_si128((const __m128i *)(wr[j] + k));
        __m128i a0 = _mm_unpacklo_epi16(r[0], r[1]), a1 = _mm_unpackhi_epi16(r[0], r[1]);
        __m128i a2 = _mm_unpacklo_epi16(r[2], r[3]), a3 = _mm_unpackhi_epi16(r[2], r[3]);
        __m128i a4 = _mm_unpacklo_epi16(r[4], r[5]), a5 = _mm_unpackhi_epi16(r[4], r[5]);
        __m128i a6 = _mm_unpacklo_epi16(r[6], r[7]), a7 = _mm_unpackhi_epi16(r[6], r[7]);
        __m128i b0 = _mm_unpacklo_epi32(a0, a2), b1 = _mm_unpackhi_epi32(a0, a2);
        __m128i b2 = _mm_unpacklo_epi32(a1, a3), b3 = _mm_unpackhi_epi32(a1, a3);
        __m128i b4 = _mm_unpacklo_epi32(a4, a6), b5 = _mm_unpackhi_epi32(a4, a6);
        __m128i b6 = _mm_unpacklo_epi32(a5, a7), b7 = _mm_unpackhi_epi32(a5, a7);
        __m256 *d = wc + (k - k0);
        d[0] = _mm256_cvtph_ps(_mm_unpacklo_epi64(b0, b4));
        d[1] = _mm256_cvtph_ps(_mm_unpackhi_epi64(b0, b4));
        d[2] = _mm256_cvtph_ps(_mm_unpacklo_epi64(b1, b5));
        d[3] = _mm256_cvtph_ps(_mm_unpackhi_epi64(b1, b5));
        d[4] = _mm256_cvtph_ps(_mm_unpacklo_epi64(b2, b6));
        d[5] = _mm256_cvtph_ps(_mm_unpackhi_epi64(b2, b6));
        d[6] = _mm256_cvtph_ps(_mm_unpacklo_epi64(b3, b7));
        d[7] = _mm256_cvtph_ps(_mm_unpackhi_epi64(b3, b7));
    }
    for (; k < k1; k++) {
        float v[NATIVE_LANES];
        for (int j = 0; j < NATIVE_LANES; j++)
            v[j] = fp16_to_f32(wr[j][k]);
        wc[k - k0] = _mm256_loadu_ps(v);
    }
}

/* native_group's accumulators of rows m0 .. m0 + mr: the incoming partials
 * (0 unless accumulating), a block's spare lanes repeating its last output. */
static inline void native_acc_load(__m256 acc[][NATIVE_BLOCKS], const MatmulArgs *p, LayerDtype t, uint32_t m0,
                                   uint32_t mr, uint32_t n0, uint32_t nn)
{
    uint32_t os = out_stride_of(p);
    for (uint32_t r = 0; r < mr; r++)
        for (uint32_t bl = 0; bl < NATIVE_BLOCKS; bl++) {
            float v[NATIVE_LANES];
            for (uint32_t j = 0; j < NATIVE_LANES; j++) {
                uint32_t n = bl * NATIVE_LANES + j;
                v[j] = p->accumulate ? layer_load(p->out, t, (size_t)(m0 + r) * os + n0 + (n < nn ? n : nn - 1)) : 0.0f;
            }
            acc[r][bl] = _mm256_loadu_ps(v);
        }
}

/* Stores native_group's accumulators of rows m0 .. m0 + mr, outputs n0 .. n0 + nn only. */
static inline void native_acc_store(__m256 acc[][NATIVE_BLOCKS], const MatmulArgs *p, LayerDtype t, uint32_t m0,
                                    uint32_t mr, uint32_t n0, uint32_t nn)
{
    uint32_t os = out_stride_of(p), nb = (nn + NATIVE_LANES - 1) / NATIVE_LANES;
    for (uint32_t r = 0; r < mr; r++)
        for (uint32_t bl = 0; bl < nb; bl++) {
            size_t o = (size_t)(m0 + r) * os + n0 + bl * NATIVE_LANES;
            uint32_t valid = nn - bl * NATIVE_LANES < NATIVE_LANES ? nn - bl * NATIVE_LANES : NATIVE_LANES;
            if (valid < NATIVE_LANES) {
                _Alignas(32) float v[NATIVE_LANES];
                _mm256_store_ps(v, acc[r][bl]);
                for (uint32_t j = 0; j < valid; j++)
                    layer_store(p->out, t, o + j, v[j]);
            } else if (t == LAYER_F16) {
                _mm_storeu_si128((__m128i *)((uint16_t *)p->out + o),
                                 _mm256_cvtps_ph(acc[r][bl], _MM_FROUND_TO_NEAREST_INT));
            } else {
                _mm256_storeu_ps((float *)p->out + o, acc[r][bl]);
            }
        }
}

/* Outputs n0 .. n0 + nn (nn <= 8 x NATIVE_BLOCKS), eight per vector: for
 * each k the eight weights w[n][k] of a block come from a transpose, so
 * each lane runs its own output's additions in k order (the same roundings
 * as native_scalar; a product of two fp16 values is exact in fp32), and the
 * blocks' chains are independent, which hides the adder latency. A block
 * of fewer than 8 outputs repeats its last row in the spare lanes (computed,
 * never stored). Rows m in chunks of NATIVE_MAX_ROWS share each transposed
 * block. A NaN anywhere sends the outputs to native_scalar, so NaN bits
 * follow the scalar code. */
static void native_group(const MatmulArgs *p, LayerDtype t, uint32_t n0, uint32_t nn)
{
    uint32_t as = a_stride_of(p), ws = w_stride_of(p), os = out_stride_of(p);
    uint32_t nb = (nn + NATIVE_LANES - 1) / NATIVE_LANES;
    const uint16_t *wr[NATIVE_BLOCKS * NATIVE_LANES];
    for (uint32_t j = 0; j < NATIVE_BLOCKS * NATIVE_LANES; j++)
        wr[j] = p->w + (size_t)(n0 + (j < nn ? j : nn - 1)) * ws;
    for (uint32_t m0 = 0; m0 < p->m; m0 += NATIVE_MAX_ROWS) {
        uint32_t mr = p->m - m0 < NATIVE_MAX_ROWS ? p->m - m0 : NATIVE_MAX_ROWS;
        __m256 acc[NATIVE_MAX_ROWS][NATIVE_BLOCKS];
        __m256 nan = _mm256_setzero_ps();
        native_acc_load(acc, p, t, m0, mr, n0, nn);
        for (uint32_t k0 = 0; k0 < p->k; k0 += AMP_BLOCK_K) {
            uint32_t k1 = k0 + AMP_BLOCK_K < p->k ? k0 + AMP_BLOCK_K : p->k;
            __m256 wc[NATIVE_BLOCKS][AMP_BLOCK_K]; /* wc[block][k - k0] lane j = w[n0 + 8 block + j][k] */
            for (uint32_t bl = 0; bl < nb; bl++)
                native_transpose(wc[bl], wr + bl * NATIVE_LANES, k0, k1);
            for (uint32_t r = 0; r < mr; r++) {
                const uint16_t *a = p->a + (size_t)(m0 + r) * as;
                float af[AMP_BLOCK_K];
                for (uint32_t k = k0; k < k1; k++)
                    af[k - k0] = fp16_to_f32(a[k]);
                __m256 x0 = acc[r][0], x1 = acc[r][1], x2 = acc[r][2], x3 = acc[r][3];
                if (nb == NATIVE_BLOCKS) {
                    for (uint32_t k = 0; k < k1 - k0; k++) {
                        __m256 av = _mm256_broadcast_ss(&af[k]);
                        x0 = _mm256_add_ps(x0, _mm256_mul_ps(av, wc[0][k]));
                        x1 = _mm256_add_ps(x1, _mm256_mul_ps(av, wc[1][k]));
                        x2 = _mm256_add_ps(x2, _mm256_mul_ps(av, wc[2][k]));
                        x3 = _mm256_add_ps(x3, _mm256_mul_ps(av, wc[3][k]));
                    }
                } else {
                    for (uint32_t k = 0; k < k1 - k0; k++) {
                        __m256 av = _mm256_broadcast_ss(&af[k]);
                        x0 = _mm256_add_ps(x0, _mm256_mul_ps(av, wc[0][k]));
                        if (nb > 1)
                            x1 = _mm256_add_ps(x1, _mm256_mul_ps(av, wc[1][k]));
                        if (nb > 2)
                            x2 = _mm256_add_ps(x2, _mm256_mul_ps(av, wc[2][k]));
                    }
                }
                __m256 *x[NATIVE_BLOCKS] = {&x0, &x1, &x2, &x3};
                for (uint32_t bl = 0; bl < nb; bl++) {
                    if (k1 < p->k && t == LAYER_F16)
                        *x[bl] = _mm256_cvtph_ps(_mm256_cvtps_ph(*x[bl], _MM_FROUND_TO_NEAREST_INT));
                    nan = _mm256_or_ps(nan, _mm256_cmp_ps(*x[bl], *x[bl], _CMP_UNORD_Q));
                    acc[r][bl] = *x[bl];
                }
            }
        }
        if (_mm256_movemask_ps(nan)) {
            /* out still holds the incoming partials of rows >= m0 */
            MatmulArgs q = *p;
            q.m = mr;
            q.a = p->a + (size_t)m0 * as;
            q.out = (char *)p->out + (size_t)m0 * os * layer_dtype_bytes(t);
            q.a_stride = as, q.w_stride = ws, q.out_stride = os;
            native_scalar(&q, t, n0, n0 + nn);
            continue;
        }
        native_acc_store(acc, p, t, m0, mr, n0, nn);
    }
}
#endif

void matmul_native(const MatmulArgs *p, LayerDtype partials)
{
    if (!p->a || !p->w || !p->out) /* matmul_amp does no arithmetic either */
        return;
#if defined(__F16C__) && defined(__AVX__)
    const uint32_t group = NATIVE_BLOCKS * NATIVE_LANES;
    for (uint32_t n = 0; n < p->n; n += group)
        native_group(p, partials, n, p->n - n < group ? p->n - n : group);
#else
    native_scalar(p, partials, 0, p->n);
#endif
}

/* ---- vertex types ---- */

static int native_f16(const IsaCosts *isa, const void *args)
{
    matmul_native(args, LAYER_F16);
    return 0;
}
static int native_f32(const IsaCosts *isa, const void *args)
{
    matmul_native(args, LAYER_F32);
    return 0;
}

static void run_f16(Worker *w, const void *args) { matmul_amp(w, args, LAYER_F16); }
static void run_f32(Worker *w, const void *args) { matmul_amp(w, args, LAYER_F32); }

static uint64_t matmul_shape_key(const void *args)
{
    const MatmulArgs *p = args;
    uint64_t h = layer_key_mix(0, p->m);
    h = layer_key_mix(h, p->k);
    h = layer_key_mix(h, p->n);
    return layer_key_mix(h, p->amp_macs_per_cycle);
}

/* Runs the vertex on deterministic scratch data of the args' shape; above
 * MATMUL_MEASURE_MAX_MACS (big prefill blocks, where the arithmetic would
 * take a noticeable share of a timing-mode run) it runs the same loops and
 * charges without data (matmul_amp's NULL-data path; tests check the two
 * paths charge the same). */
static uint64_t measure(const IsaCosts *isa, const void *args, LayerDtype partials)
{
    MatmulArgs s = *(const MatmulArgs *)args;
    s.a_stride = s.w_stride = s.out_stride = 0;
    s.a = NULL, s.w = NULL, s.out = NULL;
    uint16_t *a = NULL, *wt = NULL;
    void *out = NULL;
    if ((double)s.m * s.k * s.n <= MATMUL_MEASURE_MAX_MACS) {
        a = malloc((size_t)s.m * s.k * sizeof *a);
        wt = malloc((size_t)s.n * s.k * sizeof *wt);
        out = calloc((size_t)s.m * s.n, layer_dtype_bytes(partials));
        if (a && wt && out) {
            for (size_t i = 0; i < (size_t)s.m * s.k; i++)
                a[i] = fp16_from_f32((float)(int)(i % 7) - 3.0f);
            for (size_t i = 0; i < (size_t)s.n * s.k; i++)
                wt[i] = fp16_from_f32(0.125f * (float)(int)(i % 5));
            s.a = a, s.w = wt, s.out = out;
        }
    }
    uint64_t cycles = vertex_measure_run(isa, partials == LAYER_F16 ? run_f16 : run_f32, &s);
    free(a), free(wt), free(out);
    return cycles;
}

static uint64_t measure_f16(const IsaCosts *isa, const void *args) { return measure(isa, args, LAYER_F16); }
static uint64_t measure_f32(const IsaCosts *isa, const void *args) { return measure(isa, args, LAYER_F32); }

const VertexType matmul_amp_f16_vertex = {"matmul.amp_f16", sizeof(MatmulArgs), run_f16, matmul_shape_key, measure_f16, native_f16};
const VertexType matmul_amp_f32_vertex = {"matmul.amp_f32", sizeof(MatmulArgs), run_f32, matmul_shape_key, measure_f32, native_f32};

static const CodeletVariant variants[] = {
    {"amp_f16", "fp16 partials (f16v4hihoamp), rounded once per 16 inputs", &matmul_amp_f16_vertex},
    {"amp_f32", "fp32 partials (f16v4sisoamp)", &matmul_amp_f32_vertex},
};
const CodeletFamily codelet_family_matmul = {"matmul", "AMP matrix product out (+)= a w^T, w in PyTorch [out][in] layout", variants, sizeof variants / sizeof variants[0]};
