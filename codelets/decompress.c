/* decompress.c - int4-group decompress: the scalar specification, the tile
 * variants (written only with codelets/isa.h) and their vertex types.
 * Layout and rounding: see decompress.h. */
#include "codelets/decompress.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSSE3__) || defined(__F16C__)
#include <immintrin.h>
#endif

#include "base/quant_format.h"
#include "codelets/isa.h"
#include "codelets/q4_isa.h"

/* ---- the specification ---- */

void decompress_q4_ref(uint16_t *out, const uint16_t *packed, const uint16_t *scale,
                       const uint16_t *bias, uint32_t groups, uint32_t group_size)
{
    uint32_t words = group_size / Q4_CODES_PER_WORD;
    for (uint32_t g = 0; g < groups; g++)
        for (uint32_t j = 0; j < words; j++) {
            uint16_t word = packed[(size_t)g * words + j];
            for (unsigned i = 0; i < Q4_CODES_PER_WORD; i++)
                out[(size_t)g * group_size + 4u * j + i] = q4_dequant_ref(q4_code(word, i), scale[g], bias[g]);
        }
}

int decompress_q4_check(const DecompressQ4Args *a, uint64_t row_elems, IpuErr *err)
{
    uint32_t n = a->group_size;
    if (n < Q4_MIN_GROUP || n > Q4_MAX_GROUP || n % Q4_CODES_PER_WORD)
        return ipu_err(err, "decompress_q4: group_size %u is not a multiple of 4 in %d..%d", n, Q4_MIN_GROUP, Q4_MAX_GROUP);
    if (row_elems == 0 || row_elems % n)
        return ipu_err(err, "decompress_q4: group_size %u does not divide the row of %llu elements", n,
                       (unsigned long long)row_elems);
    if (a->groups == 0)
        return 0;
    const struct { const char *name; const void *p; unsigned align; } bufs[] = {
        {"packed", a->packed, 2}, {"scale", a->scale, 2}, {"bias", a->bias, 2}, {"out", a->out, 8},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (!bufs[i].p)
            return ipu_err(err, "decompress_q4: %s buffer is NULL for %u groups", bufs[i].name, a->groups);
        if ((uintptr_t)bufs[i].p % bufs[i].align)
            return ipu_err(err, "decompress_q4: %s buffer at %p is not %u-byte aligned", bufs[i].name, bufs[i].p,
                           bufs[i].align);
    }
    return 0;
}

uint32_t decompress_q4_split(const DecompressQ4Args *all, uint32_t workers, DecompressQ4Args *parts)
{
    IPU_ASSERT(workers > 0);
    uint32_t base = all->groups / workers, extra = all->groups % workers, g0 = 0, used = 0;
    size_t words = all->group_size / Q4_CODES_PER_WORD;
    for (uint32_t k = 0; k < workers; k++) {
        uint32_t ng = base + (k < extra);
        DecompressQ4Args *p = &parts[k];
        *p = *all;
        p->groups = ng;
        /* pointers of an empty part stay at the range's end: never dereferenced */
        if (all->packed) p->packed = all->packed + g0 * words;
        if (all->scale) p->scale = all->scale + g0;
        if (all->bias) p->bias = all->bias + g0;
        if (all->out) p->out = all->out + (size_t)g0 * all->group_size;
        g0 += ng;
        used += ng > 0;
    }
    return used;
}

/* ---- building blocks shared by the variants ---- */

/* Per group: the scale and bias broadcast to four lanes. */
static void load_scale_bias(Worker *w, const DecompressQ4Args *a, uint32_t g, Half4 *s, Half4 *b)
{
    *s = splat_h4(w, isa_ld16(w, a->scale + g));
    *b = splat_h4(w, isa_ld16(w, a->bias + g));
}

/* ---- variants ---- */

/* Graphcore's two passes: unpack every word of the range into fp16 codes
 * in out, then per group a separate elementwise pass out = out*scale+bias. */
void decompress_q4_twopass(Worker *w, const DecompressQ4Args *a)
{
    uint32_t words = a->group_size / Q4_CODES_PER_WORD;
    size_t total_words = (size_t)a->groups * words;
    isa_call(w);
    uint64_t mask = isa_h4_bits(const_h4(w, NIB_MASK32));
    Half4 p10 = const_h4(w, FP16_2P10_X2);
    isa_rpt(w); /* pass 1: one loop over the whole contiguous range */
    for (size_t j = 0; j < total_words; j++) {
        Half4 c = unpack_subnormal(w, isa_ld16(w, a->packed + j), mask);
        c = isa_f16v4mul(w, isa_f16v4mul(w, c, p10), p10);
        isa_st64_h4(w, a->out + 4 * j, c);
    }
    for (uint32_t g = 0; g < a->groups; g++) { /* pass 2 */
        Half4 s, b;
        load_scale_bias(w, a, g, &s, &b);
        uint16_t *o = a->out + (size_t)g * a->group_size;
        isa_rpt(w);
        for (uint32_t j = 0; j < words; j++) {
            Half4 v = isa_ld64_h4(w, o + 4 * j);
            isa_st64_h4(w, o + 4 * j, isa_f16v4add(w, isa_f16v4mul(w, v, s), b));
        }
        isa_brnzdec(w);
    }
}

/* One pass: unpack, scale and bias in registers, one store per word. */
void decompress_q4_fused(Worker *w, const DecompressQ4Args *a)
{
    uint32_t words = a->group_size / Q4_CODES_PER_WORD;
    isa_call(w);
    uint64_t mask = isa_h4_bits(const_h4(w, NIB_MASK32));
    Half4 p10 = const_h4(w, FP16_2P10_X2);
    for (uint32_t g = 0; g < a->groups; g++) {
        Half4 s, b;
        load_scale_bias(w, a, g, &s, &b);
        const uint16_t *in = a->packed + (size_t)g * words;
        uint16_t *o = a->out + (size_t)g * a->group_size;
        isa_rpt(w);
        for (uint32_t j = 0; j < words; j++) {
            Half4 c = unpack_subnormal(w, isa_ld16(w, in + j), mask);
            c = isa_f16v4mul(w, isa_f16v4mul(w, c, p10), p10);
            isa_st64_h4(w, o + 4 * j, isa_f16v4add(w, isa_f16v4mul(w, c, s), b));
        }
        isa_brnzdec(w);
    }
}

/* Per group, a 16-entry table of every possible output (computed with the
 * same f16v4mul + f16v4add, so it holds exactly the reference values), then
 * four indexed 16-bit loads per word, packed back with sort4x16lo. The table
 * lives on the worker's stack (32 bytes of tile memory). */
void decompress_q4_lut(Worker *w, const DecompressQ4Args *a)
{
    uint32_t words = a->group_size / Q4_CODES_PER_WORD;
    _Alignas(8) uint16_t table[16];
    isa_call(w);
    Half4 codes[4]; /* fp16 0..15, four per register */
    for (int k = 0; k < 4; k++) {
        uint32_t lo = isa_setzi(w, (uint32_t)fp16_from_f32((float)(4 * k)) | (uint32_t)fp16_from_f32((float)(4 * k + 1)) << 16);
        uint32_t hi = isa_setzi(w, (uint32_t)fp16_from_f32((float)(4 * k + 2)) | (uint32_t)fp16_from_f32((float)(4 * k + 3)) << 16);
        codes[k] = isa_bits_h4(isa_pair(lo, hi));
    }
    for (uint32_t g = 0; g < a->groups; g++) {
        Half4 s, b;
        load_scale_bias(w, a, g, &s, &b);
        for (int k = 0; k < 4; k++)
            isa_st64_h4(w, table + 4 * k, isa_f16v4add(w, isa_f16v4mul(w, codes[k], s), b));
        const uint16_t *in = a->packed + (size_t)g * words;
        uint16_t *o = a->out + (size_t)g * a->group_size;
        isa_rpt(w);
        for (uint32_t j = 0; j < words; j++) {
            uint32_t x = isa_ld16(w, in + j);
            uint32_t i0 = isa_shr(w, x, 12);
            uint32_t i1 = isa_and(w, isa_shr(w, x, 8), 0xfu);
            uint32_t i2 = isa_and(w, isa_shr(w, x, 4), 0xfu);
            uint32_t i3 = isa_and(w, x, 0xfu);
            uint32_t lo = isa_sort4x16lo(w, isa_ld16_idx(w, table, i0), isa_ld16_idx(w, table, i1));
            uint32_t hi = isa_sort4x16lo(w, isa_ld16_idx(w, table, i2), isa_ld16_idx(w, table, i3));
            isa_st64(w, o + 4 * j, isa_pair(lo, hi));
        }
        isa_brnzdec(w);
    }
}

/* The what-if instruction: one nibunpack4 replaces the shifts, masks and
 * the two power-of-two multiplications. */
void decompress_q4_nibunpack(Worker *w, const DecompressQ4Args *a)
{
    uint32_t words = a->group_size / Q4_CODES_PER_WORD;
    isa_call(w);
    for (uint32_t g = 0; g < a->groups; g++) {
        Half4 s, b;
        load_scale_bias(w, a, g, &s, &b);
        const uint16_t *in = a->packed + (size_t)g * words;
        uint16_t *o = a->out + (size_t)g * a->group_size;
        isa_rpt(w);
        for (uint32_t j = 0; j < words; j++) {
            Half4 c = isa_nibunpack4(w, isa_ld16(w, in + j));
            isa_st64_h4(w, o + 4 * j, isa_f16v4add(w, isa_f16v4mul(w, c, s), b));
        }
        isa_brnzdec(w);
    }
}

/* Unpacking with permutes instead of shifts. With y = x << 4 the high
 * nibble of each byte of y is the low nibble of the same byte of x, so
 * for a 16-bit word (c0 c1 | c2 c3 as bytes B1 | B0):
 *   A = sort4x16lo(x, y) = bytes {x.B0, x.B1, y.B0, y.B1}
 * has c2, c3 in the high nibbles of its lanes' low bytes, and A >> 8 has
 * c0, c1 there; the 0x00f0 lane mask then leaves the subnormals ci * 2^-20
 * as in unpack_subnormal. For a 32-bit x (two words, word 0 low),
 * sort4x16hi(x, y) does the same for word 1. */
static Half4 unpack_perm1(Worker *w, uint32_t x, uint64_t mask)
{
    uint32_t a = isa_sort4x16lo(w, x, isa_shl(w, x, 4));
    return isa_bits_h4(isa_and64(w, isa_pair(isa_shr(w, a, 8), a), mask));
}

/* c -> fp16(fp16(c * 2^10 * 2^10) * s + b), stored as one st64. */
static void finish_word(Worker *w, uint16_t *o, Half4 c, Half4 p10, Half4 s, Half4 b)
{
    c = isa_f16v4mul(w, isa_f16v4mul(w, c, p10), p10);
    isa_st64_h4(w, o, isa_f16v4add(w, isa_f16v4mul(w, c, s), b));
}

/* Fused, unrolled: two words per step from one ld32, unpacked with the
 * permutes above (7 integer ops for two words instead of 12). A group whose
 * words do not start 4-byte aligned does its first word alone; a leftover
 * last word is done alone too. Cycles depend on the packed buffer's
 * alignment but never on the data; the lowering allocates packed tensors
 * 4-byte aligned, which measure() assumes. */
void decompress_q4_fused2(Worker *w, const DecompressQ4Args *a)
{
    uint32_t words = a->group_size / Q4_CODES_PER_WORD;
    isa_call(w);
    uint64_t mask = isa_h4_bits(const_h4(w, NIB_MASK32));
    Half4 p10 = const_h4(w, FP16_2P10_X2);
    for (uint32_t g = 0; g < a->groups; g++) {
        Half4 s, b;
        load_scale_bias(w, a, g, &s, &b);
        const uint16_t *in = a->packed + (size_t)g * words;
        uint16_t *o = a->out + (size_t)g * a->group_size;
        uint32_t left = words;
        if (isa_and(w, (uint32_t)(uintptr_t)in, 2u)) { /* word-aligned only: one word first */
            finish_word(w, o, unpack_perm1(w, isa_ld16(w, in), mask), p10, s, b);
            in++, o += 4, left--;
        }
        isa_rpt(w);
        for (uint32_t j = 0; j + 2 <= left; j += 2) {
            uint32_t x = isa_ld32(w, in + j);
            uint32_t y = isa_shl(w, x, 4);
            uint32_t lo = isa_sort4x16lo(w, x, y), hi = isa_sort4x16hi(w, x, y);
            Half4 c0 = isa_bits_h4(isa_and64(w, isa_pair(isa_shr(w, lo, 8), lo), mask));
            Half4 c1 = isa_bits_h4(isa_and64(w, isa_pair(isa_shr(w, hi, 8), hi), mask));
            finish_word(w, o + 4 * j, c0, p10, s, b);
            finish_word(w, o + 4 * j + 4, c1, p10, s, b);
        }
        if (left % 2)
            finish_word(w, o + 4 * (left - 1), unpack_perm1(w, isa_ld16(w, in + left - 1), mask), p10, s, b);
        isa_brnzdec(w);
    }
}

/* ---- native (functional fast path, see sim/vertex.h) ---- */

/* Every variant computes decompress_q4_ref, so one native function serves
 * them all: per group the 16 possible outputs (the specification itself,
 * q4_dequant_ref of each code), then one table lookup per code. With
 * F16C/AVX the table is built eight codes at a time: one binary32 multiply
 * or add of binary16 operands rounded once to binary16 is the correctly
 * rounded binary16 result, which is what q4_dequant_ref computes; a group
 * whose table holds a NaN is rebuilt with q4_dequant_ref so NaN bits follow
 * fp16_from_f32. With SSSE3 the lookups are byte shuffles, 32 codes per
 * step. tests/test_native.c checks the bits against every variant. */
static void native_table(uint16_t t[16], uint16_t scale, uint16_t bias)
{
#if defined(__F16C__) && defined(__AVX__)
    const __m256 c0 = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), c1 = _mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15);
    __m256 s = _mm256_set1_ps(fp16_to_f32(scale)), b = _mm256_set1_ps(fp16_to_f32(bias));
    __m128i p0 = _mm256_cvtps_ph(_mm256_mul_ps(c0, s), _MM_FROUND_TO_NEAREST_INT);
    __m128i p1 = _mm256_cvtps_ph(_mm256_mul_ps(c1, s), _MM_FROUND_TO_NEAREST_INT);
    __m128i r0 = _mm256_cvtps_ph(_mm256_add_ps(_mm256_cvtph_ps(p0), b), _MM_FROUND_TO_NEAREST_INT);
    __m128i r1 = _mm256_cvtps_ph(_mm256_add_ps(_mm256_cvtph_ps(p1), b), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128((__m128i *)t, r0);
    _mm_storeu_si128((__m128i *)(t + 8), r1);
    /* a NaN lane: exponent all ones and a non-zero fraction, i.e. |x| > 0x7c00 */
    const __m128i inf = _mm_set1_epi16(0x7c00), abs = _mm_set1_epi16(0x7fff);
    __m128i nan = _mm_or_si128(_mm_cmpgt_epi16(_mm_and_si128(r0, abs), inf), _mm_cmpgt_epi16(_mm_and_si128(r1, abs), inf));
    if (!_mm_movemask_epi8(nan))
        return;
#endif
    for (unsigned c = 0; c < 16; c++)
        t[c] = q4_dequant_ref(c, scale, bias);
}

/* 0 when the variant's run() would neither fault nor charge other cycles
 * than measure() (fused2's cycles depend on the packed buffer's 4-byte
 * alignment, which measure() assumes). */
static int native_ok(const DecompressQ4Args *a, unsigned packed_align)
{
    if (!a->groups)
        return 0;
    if (!a->packed || !a->scale || !a->bias || !a->out)
        return -1;
    if ((uintptr_t)a->packed % packed_align || (uintptr_t)a->scale % 2 || (uintptr_t)a->bias % 2 ||
        (uintptr_t)a->out % 8)
        return -1;
    return 0;
}

void decompress_q4_native(const DecompressQ4Args *a)
{
    uint32_t n = a->group_size, words = n / Q4_CODES_PER_WORD;
    _Alignas(16) uint16_t t[16];
    for (uint32_t g = 0; g < a->groups; g++) {
        native_table(t, a->scale[g], a->bias[g]);
        const uint16_t *in = a->packed + (size_t)g * words;
        uint16_t *o = a->out + (size_t)g * n;
        uint32_t j = 0;
#if defined(__SSSE3__)
        if (words >= 8) {
            /* the table's low bytes and high bytes, each a 16-byte shuffle table */
            const __m128i lo_hi = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
            __m128i ta = _mm_shuffle_epi8(_mm_load_si128((const __m128i *)t), lo_hi);
            __m128i tb = _mm_shuffle_epi8(_mm_load_si128((const __m128i *)(t + 8)), lo_hi);
            __m128i tlo = _mm_unpacklo_epi64(ta, tb), thi = _mm_unpackhi_epi64(ta, tb);
            /* word bytes (low, high) hold codes (c2 c3, c0 c1): interleaving low and
             * high nibbles gives c3 c2 c1 c0 per word, reversed by `rev` */
            const __m128i rev = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
            const __m128i m4 = _mm_set1_epi8(0x0f);
            for (; j + 8 <= words; j += 8) {
                __m128i v = _mm_loadu_si128((const __m128i *)(in + j));
                __m128i ln = _mm_and_si128(v, m4), hn = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
                __m128i i0 = _mm_shuffle_epi8(_mm_unpacklo_epi8(ln, hn), rev);
                __m128i i1 = _mm_shuffle_epi8(_mm_unpackhi_epi8(ln, hn), rev);
                __m128i l0 = _mm_shuffle_epi8(tlo, i0), h0 = _mm_shuffle_epi8(thi, i0);
                __m128i l1 = _mm_shuffle_epi8(tlo, i1), h1 = _mm_shuffle_epi8(thi, i1);
                __m128i *d = (__m128i *)(o + 4 * j);
                _mm_storeu_si128(d, _mm_unpacklo_epi8(l0, h0));
                _mm_storeu_si128(d + 1, _mm_unpackhi_epi8(l0, h0));
                _mm_storeu_si128(d + 2, _mm_unpacklo_epi8(l1, h1));
                _mm_storeu_si128(d + 3, _mm_unpackhi_epi8(l1, h1));
            }
        }
#endif
        for (; j < words; j++)
            for (unsigned i = 0; i < Q4_CODES_PER_WORD; i++)
                o[4 * j + i] = t[q4_code(in[j], i)];
    }
}

static int native_any(const IsaCosts *isa, const void *args)
{
    if (native_ok(args, 2))
        return -1;
    decompress_q4_native(args);
    return 0;
}

static int native_fused2(const IsaCosts *isa, const void *args)
{
    if (native_ok(args, 4))
        return -1;
    decompress_q4_native(args);
    return 0;
}

int decompress_q4_native_accepts(const VertexType *vt, const IsaCosts *isa, const DecompressQ4Args *a)
{
    if (vt->native == native_fused2)
        return native_ok(a, 4) == 0;
    if (vt->native != native_any)
        return 0;
    if (vt == &decompress_q4_nibunpack_vertex && isa && !isa->nibunpack4_enabled)
        return 0; /* native() would run, but run() faults: the engine reports that instead */
    return native_ok(a, 2) == 0;
}

/* ---- vertex types ---- */


static uint64_t shape_key(const void *args)
{
    const DecompressQ4Args *a = args;
    return (uint64_t)a->groups << 13 | a->group_size; /* group_size < 2^13 */
}

/* Runs run (a variant's VertexType.run) on deterministic scratch buffers of args' shape. */
static uint64_t measure_with(void (*run)(Worker *, const void *), const IsaCosts *isa, const void *args)
{
    const DecompressQ4Args *shape = args;
    size_t n = shape->group_size, g = shape->groups, words = g * n / 4;
    size_t out_bytes = (g * n * 2 + 7) / 8 * 8;
    uint16_t *packed = malloc(words * 2 + 2), *sb = malloc(g * 4 + 4);
    uint16_t *out = aligned_alloc(8, out_bytes ? out_bytes : 8);
    IPU_ASSERT(packed && sb && out); /* host out of memory: not a user error */
    for (size_t j = 0; j < words; j++)
        packed[j] = (uint16_t)(j * 0x9e37u + 0x1234u);
    for (size_t k = 0; k < g; k++) {
        sb[k] = 0x2e66; /* scale ~0.1 */
        sb[g + k] = 0xbc00; /* bias -1 */
    }
    DecompressQ4Args a = {packed, sb, sb + g, out, shape->groups, shape->group_size};
    uint64_t cycles = vertex_measure_run(isa, run, &a);
    free(packed);
    free(sb);
    free(out);
    return cycles;
}

#define DECOMPRESS_VERTEX(variant, native)                                                        \
    static void run_##variant(Worker *w, const void *args) { decompress_q4_##variant(w, args); }  \
    static uint64_t measure_##variant(const IsaCosts *isa, const void *args)                      \
    {                                                                                             \
        return measure_with(run_##variant, isa, args);                                            \
    }                                                                                             \
    const VertexType decompress_q4_##variant##_vertex = {"decompress_q4." #variant,               \
                                                         sizeof(DecompressQ4Args),                \
                                                         run_##variant,                           \
                                                         shape_key,                               \
                                                         measure_##variant,                       \
                                                         native};

/* nibunpack with the instruction disabled faults when measured, so the
 * engine runs it through run() and reports the fault */
DECOMPRESS_VERTEX(twopass, native_any)
DECOMPRESS_VERTEX(fused, native_any)
DECOMPRESS_VERTEX(lut, native_any)
DECOMPRESS_VERTEX(nibunpack, native_any)
DECOMPRESS_VERTEX(fused2, native_fused2)

static const CodeletVariant decompress_variants[] = {
    {"twopass", "Graphcore's: unpack all words (subnormal trick), then a separate scale+bias pass", &decompress_q4_twopass_vertex},
    {"fused", "one pass: subnormal-trick unpack, scale and bias in registers", &decompress_q4_fused_vertex},
    {"lut", "per group a 16-entry table of the outputs, four indexed loads per word", &decompress_q4_lut_vertex},
    {"fused2", "fused, two words per step (ld32), unpacked with sort4x16lo/hi permutes", &decompress_q4_fused2_vertex},
    {"nibunpack", "what-if: the nibunpack4 instruction (needs isa.nibunpack4.enabled)", &decompress_q4_nibunpack_vertex},
};

const CodeletFamily codelet_family_decompress = {
    "decompress", "int4-group weights to fp16 (sim/base/quant_format.h), bit-exact with decompress_q4_ref",
    decompress_variants, sizeof decompress_variants / sizeof decompress_variants[0],
};
