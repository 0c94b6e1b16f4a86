/* q4mm_simd.c - the AVX-512 path of the fused decompress + matmul (see
 * q4mm.h). Compiled for x86-64 with GCC or Clang whatever the build flags:
 * the functions carry their own target attribute and run only where
 * q4mm_simd_cpu() says the CPU has the instructions.
 *
 * Lanes are weight rows: a 16-row block's output chains (one per token)
 * advance one k at a time, the exact order of matmul_native. Per 64 k
 * (a chunk) and block:
 *   - the 16 rows' packed words are transposed so that dword d of row l
 *     sits in lane l of S_d (codes of k = 8d .. 8d + 7: the word 2d holds
 *     8d..8d+3 in bits 15..0, element 0 in the top nibble; word 2d+1 the
 *     next four in bits 31..16);
 *   - per group, the table T[c][l] = q4_dequant_ref(c, scale_l, bias_l) of
 *     the 16 rows, as its low bytes (lo) and high bytes (hi), byte c*16 + l
 *     of a 256-byte table (four zmm each);
 *   - vpmultishiftqb puts each code in bits 7..4 of a byte, vpermb orders
 *     the bytes as (k, lane), the lane goes into bits 3..0: the index c*16 + l;
 *     two vpermi2b look up codes 0..7 and 8..15 (bit 7 picks), the low and
 *     high bytes interleave into the fp16 weights W[k][l], stored to a
 *     buffer of (64, 16) fp16;
 *   - the chains read W[k] (vcvtph2ps: exact), multiply by the token's
 *     activation and add, rounding the partial to fp16 after every 16 k
 *     but the last (fp16 partials). The multiply and add are one fused
 *     multiply-add: the product of two fp16 numbers (11-bit significands,
 *     exponents -24..15) is exact in fp32, so rounding it first changes
 *     nothing and fma(w, x, acc) == acc + w * x bit for bit, Inf and NaN
 *     included (the build's -ffp-contract=off keeps the compiler from
 *     fusing where that does not hold).
 */
#include "codelets/q4mm_simd.h"

#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define Q4MM_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#ifndef Q4MM_X86

int q4mm_simd_cpu(void) { return 0; }
int q4mm_simd_matmul(const Q4Run *r, const Q4Use *u, const MatmulArgs *p, LayerDtype t, const VertexMem *mem)
{
    (void)r, (void)u, (void)p, (void)t, (void)mem;
    return 0;
}

#else

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,f16c,fma")))
#define TGT_INLINE TGT static inline __attribute__((always_inline))

#define LANES 16
#define CHUNK 64   /* k per chunk: 16 words = 8 dwords per row */
#define TOKENS 4   /* token chains per pass over the decoded weights */
#define BLOCKS 4   /* 16-row blocks per pass: independent chains to hide the add latency */

/* CPUID and XGETBV directly (not every compiler's __builtin_cpu_supports
 * knows VBMI): the instructions, and the OS saving the AVX-512 registers. */
static int simd_probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_F16C))
        return 0;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xe6) != 0xe6) /* SSE, AVX, opmask, ZMM state */
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    const unsigned f = 1u << 16, bw = 1u << 30, vl = 1u << 31, vbmi = 1u << 1;
    return (b & f) && (b & bw) && (b & vl) && (c & vbmi);
}

/* The probe once per process (CPUID traps to the hypervisor in a VM): a
 * fact about the CPU, the same for every caller, so a benign cache. */
int q4mm_simd_cpu(void)
{
    static int known; /* 0: not yet; 1: no; 2: yes */
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (!k) {
        k = simd_probe() ? 2 : 1;
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k == 2;
}

/* One 16-row block: each lane's row (a row past the block's end repeats
 * its last row; those lanes are computed and never stored) and the table
 * of its current group. */
typedef struct Block {
    const uint16_t *row[LANES]; /* the row's packed words */
    uint64_t gbase[LANES];      /* the row's first group */
    uint32_t nrows;
    int64_t group;              /* group (from the row's first) whose table is loaded; -1: none */
    __m512i lo[4], hi[4];       /* table bytes c*16 + l, 64 per zmm */
} Block;

/* Byte i*2 (+1: odd) of a 128-byte pair of registers, for i = 0..63. */
static const uint8_t even_bytes[64] = {
    0,   2,   4,   6,   8,   10,  12,  14,  16,  18,  20,  22,  24,  26,  28,  30,  32,  34,  36,  38,  40,  42,
    44,  46,  48,  50,  52,  54,  56,  58,  60,  62,  64,  66,  68,  70,  72,  74,  76,  78,  80,  82,  84,  86,
    88,  90,  92,  94,  96,  98,  100, 102, 104, 106, 108, 110, 112, 114, 116, 118, 120, 122, 124, 126};

/* The table of group j for the block. A weight that is Inf or NaN needs no
 * care here: its products are the IEEE ones matmul_native makes, and a
 * NaN they make sends the block to the scalar path at the end. */
TGT static int block_table(Block *b, const Q4Run *r, uint64_t j)
{
    uint16_t sh[LANES], bh[LANES];
    for (int l = 0; l < LANES; l++)
        sh[l] = r->scale[b->gbase[l] + j], bh[l] = r->bias[b->gbase[l] + j];
    __m512 sv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sh));
    __m512 bv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)bh));
    __m256i v[16];
    for (int c = 0; c < 16; c++) {
        __m512 x = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_mul_ps(_mm512_set1_ps((float)c), sv), _MM_FROUND_TO_NEAREST_INT));
        v[c] = _mm512_cvtps_ph(_mm512_add_ps(x, bv), _MM_FROUND_TO_NEAREST_INT);
    }
    const __m512i ev = _mm512_loadu_si512(even_bytes), od = _mm512_add_epi8(ev, _mm512_set1_epi8(1));
    for (int q = 0; q < 4; q++) {
        __m512i z0 = _mm512_inserti64x4(_mm512_castsi256_si512(v[4 * q]), v[4 * q + 1], 1);
        __m512i z1 = _mm512_inserti64x4(_mm512_castsi256_si512(v[4 * q + 2]), v[4 * q + 3], 1);
        b->lo[q] = _mm512_permutex2var_epi8(z0, ev, z1);
        b->hi[q] = _mm512_permutex2var_epi8(z0, od, z1);
    }
    b->group = (int64_t)j;
    return 0;
}

/* S[d] lane l = dword d (words 2d, 2d+1) of row l's chunk at k0, d < nd. */
TGT_INLINE void block_words(const Block *b, uint32_t k0, uint32_t nd, __m512i S[8])
{
    __mmask8 m = (__mmask8)((1u << nd) - 1);
    __m512i r[8];
    for (int l = 0; l < 8; l++) {
        __m256i x = _mm256_maskz_loadu_epi32(m, b->row[l] + k0 / 4);
        __m256i y = _mm256_maskz_loadu_epi32(m, b->row[l + 8] + k0 / 4);
        r[l] = _mm512_inserti64x4(_mm512_castsi256_si512(x), y, 1);
    }
    /* an 8 x 8 dword transpose in each 256-bit half (rows l, l + 8) */
    __m512i t0 = _mm512_unpacklo_epi32(r[0], r[1]), t1 = _mm512_unpackhi_epi32(r[0], r[1]);
    __m512i t2 = _mm512_unpacklo_epi32(r[2], r[3]), t3 = _mm512_unpackhi_epi32(r[2], r[3]);
    __m512i t4 = _mm512_unpacklo_epi32(r[4], r[5]), t5 = _mm512_unpackhi_epi32(r[4], r[5]);
    __m512i t6 = _mm512_unpacklo_epi32(r[6], r[7]), t7 = _mm512_unpackhi_epi32(r[6], r[7]);
    __m512i u[8] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2), _mm512_unpacklo_epi64(t1, t3),
                    _mm512_unpackhi_epi64(t1, t3), _mm512_unpacklo_epi64(t4, t6), _mm512_unpackhi_epi64(t4, t6),
                    _mm512_unpacklo_epi64(t5, t7), _mm512_unpackhi_epi64(t5, t7)};
    /* u[i] (i < 4) 128-bit lanes: rows 0-3 dword i, rows 0-3 dword i+4 | rows 8-11 dword i, rows 8-11
     * dword i+4; u[i+4] the same for rows 4-7 and 12-15 */
    const __m512i lo_sel = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0), hi_sel = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    for (int i = 0; i < 4; i++) {
        S[i] = _mm512_permutex2var_epi64(u[i], lo_sel, u[i + 4]);
        S[i + 4] = _mm512_permutex2var_epi64(u[i], hi_sel, u[i + 4]);
    }
}

/* Byte b of a multishift result (qword q: rows 2q, 2q+1, four codes each)
 * for the output byte (128-bit lane L, i): i < 8 is k = L/2 of row
 * 8(L%2) + i, i >= 8 is k = 2 + L/2 of row 8(L%2) + i - 8; and that row. */
static const uint8_t order_bytes[64] = {
    0,  4,  8,  12, 16, 20, 24, 28, 2,  6,  10, 14, 18, 22, 26, 30, 32, 36, 40, 44, 48, 52,
    56, 60, 34, 38, 42, 46, 50, 54, 58, 62, 1,  5,  9,  13, 17, 21, 25, 29, 3,  7,  11, 15,
    19, 23, 27, 31, 33, 37, 41, 45, 49, 53, 57, 61, 35, 39, 43, 47, 51, 55, 59, 63};
static const uint8_t lane_bytes[64] = {
    0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15,
    0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15};

/* Decodes the block's chunk at k0 (nd dwords: 8 nd k) into buf (8 nd, 16)
 * fp16; -1 if a group's table holds a non-finite weight. */
TGT static int block_decode(Block *b, const Q4Run *r, uint32_t k0, uint32_t nd, uint16_t *buf)
{
    __m512i S[8];
    block_words(b, k0, nd, S);
    /* multishift windows start 4 bits below each code (mod 64): k0..k3 of the
     * low word at bits 12, 8, 4, 0, the high word's at 28..16; +32: the odd row */
    const __m512i win_lo = _mm512_set1_epi64((long long)(8ull | 4ull << 8 | 0ull << 16 | 60ull << 24 | 40ull << 32 |
                                                         36ull << 40 | 32ull << 48 | 28ull << 56));
    const __m512i win_hi = _mm512_set1_epi64((long long)(24ull | 20ull << 8 | 16ull << 16 | 12ull << 24 |
                                                         56ull << 32 | 52ull << 40 | 48ull << 48 | 44ull << 56));
    const __m512i order = _mm512_loadu_si512(order_bytes), lanes = _mm512_loadu_si512(lane_bytes);
    const __m512i top = _mm512_set1_epi8((char)0xf0);
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t j = (k0 + 8 * d) / r->gs;
        if ((int64_t)j != b->group && block_table(b, r, j))
            return -1;
        for (int h = 0; h < 2; h++) {
            __m512i m = _mm512_multishift_epi64_epi8(h ? win_hi : win_lo, S[d]);
            __m512i x = _mm512_ternarylogic_epi32(_mm512_permutexvar_epi8(order, m), top, lanes, 0xea); /* (a&b)|c */
            /* codes 0..7 from the first 128 table bytes, then 8..15 (bit 7 of the index) from the
             * other 128: each lookup keeps its index in the lanes it leaves */
            __mmask64 high = _mm512_movepi8_mask(x);
            __m512i lo = _mm512_mask2_permutex2var_epi8(b->lo[0], x, (__mmask64)~high, b->lo[1]);
            lo = _mm512_mask2_permutex2var_epi8(b->lo[2], lo, high, b->lo[3]);
            __m512i hi = _mm512_mask2_permutex2var_epi8(b->hi[0], x, (__mmask64)~high, b->hi[1]);
            hi = _mm512_mask2_permutex2var_epi8(b->hi[2], hi, high, b->hi[3]);
            uint16_t *o = buf + (size_t)(8 * d + 4 * h) * LANES;
            _mm512_storeu_si512(o, _mm512_unpacklo_epi8(lo, hi));              /* k, k + 1 */
            _mm512_storeu_si512(o + 2 * LANES, _mm512_unpackhi_epi8(lo, hi)); /* k + 2, k + 3 */
        }
    }
    return 0;
}

/* Activations of nt tokens at k0 .. k0 + n (n a multiple of 8) to fp32. */
TGT_INLINE void load_acts(const uint16_t *const *act, uint32_t nt, uint32_t k0, uint32_t n, float af[][CHUNK])
{
    for (uint32_t t = 0; t < nt; t++)
        for (uint32_t k = 0; k < n; k += 16) {
            __mmask16 m = (__mmask16)(n - k >= 16 ? 0xffff : (1u << (n - k)) - 1);
            _mm512_storeu_ps(af[t] + k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, act[t] + k0 + k)));
        }
}

/* The chains of nb blocks x nt tokens over n k from global k kg0 (a
 * multiple of 16): acc[t][b] += W_b[k] * x_t[k], k in order; fp16 partials
 * rounded at each 16-k boundary short of K. Inlined with nb and nt
 * constant (chains_for), so the chains stay in registers. */
TGT_INLINE void chains(__m512 acc[TOKENS][BLOCKS], const uint16_t (*buf)[CHUNK * LANES], int nb, uint32_t nt,
                       float af[][CHUNK], uint32_t kg0, uint32_t n, uint32_t K, int f16)
{
    for (uint32_t kb = 0; kb < n; kb += 16) {
        uint32_t len = n - kb < 16 ? n - kb : 16;
        for (uint32_t k = kb; k < kb + len; k++) {
            __m512 w[BLOCKS];
            for (int b = 0; b < nb; b++)
                w[b] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(buf[b] + (size_t)k * LANES)));
            for (uint32_t t = 0; t < nt; t++) {
                __m512 x = _mm512_set1_ps(af[t][k]);
                for (int b = 0; b < nb; b++)
                    acc[t][b] = _mm512_fmadd_ps(w[b], x, acc[t][b]);
            }
        }
        if (f16 && kg0 + kb + len < K)
            for (uint32_t t = 0; t < nt; t++)
                for (int b = 0; b < nb; b++)
                    acc[t][b] = _mm512_cvtph_ps(_mm512_cvtps_ph(acc[t][b], _MM_FROUND_TO_NEAREST_INT));
    }
}

/* chains() for the common shapes with nb and nt known to the compiler. */
TGT static void chains_for(__m512 acc[TOKENS][BLOCKS], const uint16_t (*buf)[CHUNK * LANES], int nb, uint32_t nt,
                           float af[][CHUNK], uint32_t kg0, uint32_t n, uint32_t K, int f16)
{
    if (nt == 1 && nb == BLOCKS)
        chains(acc, buf, BLOCKS, 1, af, kg0, n, K, f16);
    else if (nt == TOKENS && nb == BLOCKS)
        chains(acc, buf, BLOCKS, TOKENS, af, kg0, n, K, f16);
    else
        chains(acc, buf, nb, nt, af, kg0, n, K, f16);
}

/* Where output (token s, weight row i) of p lives, in elements. */
static size_t out_index(const Q4Use *u, uint32_t os, uint32_t s, uint32_t i)
{
    return u->role == Q4_ROLE_W ? (size_t)s * os + i : (size_t)i * os + s;
}

/* The incoming partials of a block (rows row0.., nrows) for token s (0
 * unless accumulate). As the weights' w operand the rows' outputs are
 * adjacent: one masked load (vcvtph2ps is fp16_to_f32 exactly). */
TGT_INLINE __m512 acc_init(const Q4Use *u, const MatmulArgs *p, LayerDtype t, uint32_t os, uint32_t s, uint32_t row0,
                           uint32_t nrows)
{
    if (!p->accumulate)
        return _mm512_setzero_ps();
    __mmask16 m = (__mmask16)((1u << nrows) - 1);
    size_t at = out_index(u, os, s, row0);
    if (u->role == Q4_ROLE_W)
        return t == LAYER_F16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p->out + at))
                              : _mm512_maskz_loadu_ps(m, (const float *)p->out + at);
    float v[LANES] = {0};
    for (uint32_t l = 0; l < nrows; l++)
        v[l] = layer_load(p->out, t, out_index(u, os, s, row0 + l));
    return _mm512_loadu_ps(v);
}

/* Stores a block's sums (its valid lanes) for token s; as the w operand one
 * masked store (vcvtps2ph rounds to nearest even, as fp16_from_f32). */
TGT_INLINE void acc_store(const Q4Use *u, const MatmulArgs *p, LayerDtype t, uint32_t os, uint32_t s, uint32_t row0,
                          uint32_t nrows, __m512 acc)
{
    __mmask16 m = (__mmask16)((1u << nrows) - 1);
    size_t at = out_index(u, os, s, row0);
    if (u->role == Q4_ROLE_W && t == LAYER_F16) {
        _mm256_mask_storeu_epi16((uint16_t *)p->out + at, m, _mm512_cvtps_ph(acc, _MM_FROUND_TO_NEAREST_INT));
        return;
    }
    if (u->role == Q4_ROLE_W) {
        _mm512_mask_storeu_ps((float *)p->out + at, m, acc);
        return;
    }
    float v[LANES];
    _mm512_storeu_ps(v, acc);
    for (uint32_t l = 0; l < nrows; l++)
        layer_store(p->out, t, out_index(u, os, s, row0 + l), v[l]);
}

/* Rows row0.. (up to BLOCKS blocks) against tokens tok0.. (nt): 0, or -1 when a
 * table held a non-finite weight (nothing stored). *nan gets a bit per
 * block whose sums hold a NaN (that block's outputs not stored). */
TGT static int pass(const Q4Run *r, const Q4Use *u, const MatmulArgs *p, LayerDtype t, Block *blk, int nb,
                    const uint16_t *const *act, uint32_t tok0, uint32_t nt, uint32_t row0, int *nan)
{
    uint32_t K = p->k, os = p->out_stride ? p->out_stride : p->n;
    _Alignas(64) uint16_t buf[BLOCKS][CHUNK * LANES];
    float af[TOKENS][CHUNK];
    __m512 acc[TOKENS][BLOCKS];
    for (uint32_t s = 0; s < nt; s++)
        for (int b = 0; b < nb; b++)
            acc[s][b] = acc_init(u, p, t, os, tok0 + s, row0 + 16 * (uint32_t)b, blk[b].nrows);
    for (int b = 0; b < nb; b++)
        blk[b].group = -1;
    for (uint32_t k0 = 0; k0 < K; k0 += CHUNK) {
        uint32_t n = K - k0 < CHUNK ? K - k0 : CHUNK;
        for (int b = 0; b < nb; b++)
            if (block_decode(&blk[b], r, k0, n / 8, buf[b]))
                return -1;
        load_acts(act, nt, k0, n, af);
        chains_for(acc, (const uint16_t(*)[CHUNK * LANES])buf, nb, nt, af, k0, n, K, t == LAYER_F16);
    }
    /* a block with a NaN anywhere stores nothing: the scalar path redoes all its tokens */
    *nan = 0;
    for (uint32_t s = 0; s < nt; s++)
        for (int b = 0; b < nb; b++) {
            __mmask16 valid = (__mmask16)((1u << blk[b].nrows) - 1);
            if (_mm512_mask_cmp_ps_mask(valid, acc[s][b], acc[s][b], _CMP_UNORD_Q))
                *nan |= 1 << b;
        }
    for (uint32_t s = 0; s < nt; s++)
        for (int b = 0; b < nb; b++)
            if (!(*nan >> b & 1))
                acc_store(u, p, t, os, tok0 + s, row0 + 16 * (uint32_t)b, blk[b].nrows, acc[s][b]);
    return 0;
}

/* Asks for the packed words (and scales, biases) of weight rows
 * [row0, row0 + n) ahead of their use: the rows sit at a stride, so the
 * hardware's stream prefetchers do not see them coming. */
TGT static void prefetch_rows(const Q4Run *r, const Q4Use *u, uint32_t k, uint32_t row0, uint32_t n)
{
    for (uint32_t i = row0; i < row0 + n && i < u->rows; i++) {
        uint64_t e = u->off + (uint64_t)i * u->xs;
        const char *p = (const char *)(r->packed + e / 4), *end = p + k / 2;
        for (p = (const char *)((uintptr_t)p & ~(uintptr_t)63); p < end; p += 64)
            _mm_prefetch(p, _MM_HINT_T0);
        _mm_prefetch((const char *)(r->scale + e / r->gs), _MM_HINT_T0);
        _mm_prefetch((const char *)(r->bias + e / r->gs), _MM_HINT_T0);
    }
}

TGT int q4mm_simd_matmul(const Q4Run *r, const Q4Use *u, const MatmulArgs *p, LayerDtype t, const VertexMem *mem)
{
    if (p->k % 8 || r->gs % 8)
        return 0;
    uint32_t T = u->role == Q4_ROLE_W ? p->m : p->n;
    uint32_t astr = u->role == Q4_ROLE_W ? (p->a_stride ? p->a_stride : p->k) : (p->w_stride ? p->w_stride : p->k);
    const uint16_t *act0 = u->role == Q4_ROLE_W ? p->a : p->w;
    Block blk[BLOCKS];
    prefetch_rows(r, u, p->k, 0, BLOCKS * LANES);
    for (uint32_t row0 = 0; row0 < u->rows; row0 += BLOCKS * LANES) {
        int nb = (int)((u->rows - row0 + LANES - 1) / LANES);
        nb = nb < BLOCKS ? nb : BLOCKS;
        prefetch_rows(r, u, p->k, row0 + BLOCKS * LANES, BLOCKS * LANES);
        for (int b = 0; b < nb; b++) {
            uint32_t first = row0 + LANES * (uint32_t)b, left = u->rows - first;
            blk[b].nrows = left < LANES ? left : LANES;
            for (uint32_t l = 0; l < LANES; l++) {
                uint64_t e = u->off + (uint64_t)(first + (l < blk[b].nrows ? l : blk[b].nrows - 1)) * u->xs;
                blk[b].row[l] = r->packed + e / 4;
                blk[b].gbase[l] = e / r->gs;
            }
        }
        for (uint32_t tok0 = 0; tok0 < T; tok0 += TOKENS) {
            uint32_t nt = T - tok0 < TOKENS ? T - tok0 : TOKENS;
            const uint16_t *act[TOKENS];
            for (uint32_t s = 0; s < nt; s++)
                act[s] = mem->at(mem, act0 + (size_t)(tok0 + s) * astr, (size_t)p->k * 2);
            int nan = 0;
            uint32_t rows = u->rows - row0 < BLOCKS * LANES ? u->rows - row0 : BLOCKS * LANES;
            if (pass(r, u, p, t, blk, nb, act, tok0, nt, row0, &nan)) {
                q4mm_scalar_rows(r, u, p, t, row0, rows, tok0, nt, mem);
                continue;
            }
            for (int b = 0; b < nb; b++)
                if (nan >> b & 1)
                    q4mm_scalar_rows(r, u, p, t, row0 + LANES * (uint32_t)b, blk[b].nrows, tok0, nt, mem);
        }
    }
    return 1;
}

#endif
