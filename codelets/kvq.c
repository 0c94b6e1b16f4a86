/* kvq.c - the KV cache codelets (see kvq.h): the specification, the tile
 * versions (codelets/isa.h, isa_ext.h only) and their vertex types. */
#include "codelets/kvq.h"

#include <stdlib.h>
#include <string.h>

#include "base/kv_quant.h"
#include "codelets/isa.h"
#include "codelets/isa_ext.h"
#include "codelets/q4_isa.h"

#define F32_MAGIC 12582912.0f /* 1.5 x 2^23: adding it rounds to an integer (half to even) in the low bits */
#define FP16_1024 0x6400u
#define FP16_1152 0x6480u

uint32_t kvq_scale_slots(uint32_t n, uint32_t group) { return group ? (n / group + 1) / 2 * 2 : 2; }

/* ---- the specification ---- */

void kvq_ref(const KvqArgs *a)
{
    uint32_t slots = kvq_scale_slots(a->n, a->group);
    for (uint32_t r = 0; r < a->rows; r++) {
        const uint16_t *x = a->x + (size_t)r * a->n;
        uint16_t *s = a->scale + (size_t)r * slots;
        memset(s, 0, slots * 2);
        if (!a->group) {
            kvq_i8_ref(x, a->n, (uint8_t *)a->codes + (size_t)r * a->n, s);
            continue;
        }
        uint16_t *b = a->bias + (size_t)r * slots;
        memset(b, 0, slots * 2);
        kvq_q4g_ref(x, a->n, a->group, (uint16_t *)a->codes + (size_t)r * a->n / 4, s, b);
    }
}

void kvd_ref(const KvdArgs *a)
{
    for (uint32_t d = a->d0; d < a->d0 + a->rows; d++)
        for (uint32_t p = 0; p < a->sb; p++) {
            uint16_t *o = &a->out[(size_t)d * a->sb + p];
            if (!a->group) {
                *o = i8_dequant_ref(((const uint8_t *)a->codes)[(size_t)d * a->sb + p], a->scale[p]);
                continue;
            }
            uint16_t word = ((const uint16_t *)a->codes)[(size_t)(d / 4) * a->sb + p];
            size_t g = (size_t)(d / a->group) * a->sb + p;
            *o = q4_dequant_ref(q4_code(word, d % 4), a->scale[g], a->bias[g]);
        }
}

/* ---- tile building blocks ---- */

static uint32_t fbits(float f) { return fp16_f32_bits(f); } /* register views */
static float bitsf(uint32_t u) { return fp16_bits_f32(u); }

/* The largest lane of m, in lane 0 (fold the halves, then the pairs). */
static uint32_t fold_max(Worker *w, Half4 m)
{
    uint64_t v = isa_h4_bits(m);
    uint64_t m2 = isa_h4_bits(isa_f16v4max(w, m, isa_bits_h4(isa_pair(isa_hi32(v), isa_lo32(v)))));
    uint32_t sw = isa_roll16(w, isa_lo32(m2), isa_lo32(m2));
    return isa_lo32(isa_h4_bits(isa_f16v4max(w, isa_bits_h4(m2), isa_bits_h4(isa_pair(sw, sw)))));
}

/* 1 / s in fp32, 0 for a zero scale (a divide and a select). */
static float recip(Worker *w, uint32_t s)
{
    float q = isa_f32div(w, 1.0f, isa_f16tof32(w, s));
    uint32_t zero = isa_cmpeq(w, isa_and(w, s, 0x7fffu), 0);
    return bitsf(isa_select32(w, zero, 0, fbits(q)));
}

/* rne(clamp(v, lo, hi)) + the magic, two lanes: the integers sit in the low bits. */
static Float2 to_int(Worker *w, Float2 v, Float2 lo, Float2 hi, Float2 magic)
{
    v = isa_f32v2max(w, v, lo);
    v = isa_f32v2select(w, isa_f32v2cmplt(w, v, hi), v, hi);
    return isa_f32v2add(w, v, magic);
}

/* Constants a quantize vertex sets up once. */
typedef struct KvqConst {
    uint64_t abs_mask;
    Half4 zero, minus1;
    Float2 lo, hi, magic;
} KvqConst;

static KvqConst kvq_const(Worker *w, float lo, float hi, float magic)
{
    KvqConst k;
    k.abs_mask = isa_h4_bits(const_h4(w, 0x7fff7fffu));
    k.zero = const_h4(w, 0);
    k.minus1 = const_h4(w, 0xbc00bc00u);
    k.lo = isa_f32v2splat(w, lo), k.hi = isa_f32v2splat(w, hi), k.magic = isa_f32v2splat(w, magic);
    return k;
}

/* ---- i8 ---- */

static void i8_row(Worker *w, const KvqConst *k, const uint16_t *x, uint32_t n, uint8_t *codes, uint16_t *scale)
{
    Half4 m = k->zero;
    isa_rpt(w);
    for (uint32_t j = 0; j < n; j += 4)
        m = isa_f16v4max(w, m, isa_bits_h4(isa_and64(w, isa_ld64(w, x + j), k->abs_mask)));
    float a = isa_f16tof32(w, fold_max(w, m));
    uint32_t s = isa_f32tof16(w, isa_f32mul(w, a, KVQ_INV127));
    isa_st32(w, scale, s); /* the pair (s, 0) */
    Float2 r = isa_f32v2splat(w, recip(w, s));
    isa_rpt(w);
    for (uint32_t j = 0; j < n; j += 4) {
        uint64_t v = isa_ld64(w, x + j);
        Float2 p = to_int(w, isa_f32v2mul(w, isa_f16v2tof32(w, isa_lo32(v)), r), k->lo, k->hi, k->magic);
        Float2 q = to_int(w, isa_f32v2mul(w, isa_f16v2tof32(w, isa_hi32(v)), r), k->lo, k->hi, k->magic);
        uint32_t p01 = isa_shuf8x8lo(w, fbits(p.f[0]), fbits(p.f[1])), p23 = isa_shuf8x8lo(w, fbits(q.f[0]), fbits(q.f[1]));
        isa_st32(w, codes + j, isa_sort4x16lo(w, p01, p23));
    }
}

void kvq_i8(Worker *w, const KvqArgs *a)
{
    isa_call(w);
    KvqConst k = kvq_const(w, -127.0f, 127.0f, F32_MAGIC + 128.0f);
    for (uint32_t r = 0; r < a->rows; r++) {
        i8_row(w, &k, a->x + (size_t)r * a->n, a->n, (uint8_t *)a->codes + (size_t)r * a->n, a->scale + (size_t)r * 2);
        isa_brnzdec(w);
    }
}

/* ---- q4g ---- */

/* Four values' codes as one word, element 0 in bits 15..12. */
static uint32_t q4_word(Worker *w, const KvqConst *k, uint64_t v, Float2 lo, Float2 r)
{
    Float2 p = isa_f32v2mul(w, isa_f32v2sub(w, isa_f16v2tof32(w, isa_lo32(v)), lo), r);
    Float2 q = isa_f32v2mul(w, isa_f32v2sub(w, isa_f16v2tof32(w, isa_hi32(v)), lo), r);
    p = to_int(w, p, k->lo, k->hi, k->magic);
    q = to_int(w, q, k->lo, k->hi, k->magic);
    uint32_t c0 = isa_and(w, fbits(p.f[0]), 0xfu), c1 = isa_and(w, fbits(p.f[1]), 0xfu);
    uint32_t c2 = isa_and(w, fbits(q.f[0]), 0xfu), c3 = isa_and(w, fbits(q.f[1]), 0xfu);
    return isa_or(w, isa_or(w, isa_shl(w, c0, 12), isa_shl(w, c1, 8)), isa_or(w, isa_shl(w, c2, 4), c3));
}

/* Group v of n values: its codes into out (n/4 words), its scale and bias (fp16 in the low 16 bits). */
static void q4_group(Worker *w, const KvqConst *k, const uint16_t *v, uint32_t n, uint16_t *out, uint32_t *s,
                     uint32_t *b)
{
    Half4 hi = isa_ld64_h4(w, v), nlo = isa_f16v4mul(w, hi, k->minus1);
    isa_rpt(w);
    for (uint32_t j = 4; j < n; j += 4) {
        Half4 x = isa_ld64_h4(w, v + j);
        hi = isa_f16v4max(w, hi, x);
        nlo = isa_f16v4max(w, nlo, isa_f16v4mul(w, x, k->minus1));
    }
    /* canonical zeros: hi + 0 and 0 - (-lo) are never -0 */
    float hif = isa_f32add(w, isa_f16tof32(w, fold_max(w, hi)), 0.0f);
    float lof = isa_f32sub(w, 0.0f, isa_f16tof32(w, fold_max(w, nlo)));
    *s = isa_f32tof16(w, isa_f32mul(w, isa_f32sub(w, hif, lof), KVQ_INV15));
    *b = isa_f32tof16(w, lof);
    Float2 lo2 = isa_f32v2splat(w, lof), r2 = isa_f32v2splat(w, recip(w, *s));
    isa_rpt(w);
    for (uint32_t j = 0; j < n; j += 8) {
        uint32_t w0 = q4_word(w, k, isa_ld64(w, v + j), lo2, r2), w1 = q4_word(w, k, isa_ld64(w, v + j + 4), lo2, r2);
        isa_st32(w, out + j / 4, isa_sort4x16lo(w, w0, w1));
    }
}

void kvq_q4g(Worker *w, const KvqArgs *a)
{
    uint32_t ng = a->n / a->group, slots = kvq_scale_slots(a->n, a->group);
    isa_call(w);
    KvqConst k = kvq_const(w, 0.0f, 15.0f, F32_MAGIC);
    for (uint32_t r = 0; r < a->rows; r++) {
        const uint16_t *x = a->x + (size_t)r * a->n;
        uint16_t *codes = (uint16_t *)a->codes + (size_t)r * a->n / 4;
        for (uint32_t g = 0; g < ng; g += 2) { /* scales and biases stored in pairs (st32) */
            uint32_t s0, b0, s1 = 0, b1 = 0;
            q4_group(w, &k, x + (size_t)g * a->group, a->group, codes + (size_t)g * a->group / 4, &s0, &b0);
            if (g + 1 < ng)
                q4_group(w, &k, x + (size_t)(g + 1) * a->group, a->group, codes + (size_t)(g + 1) * a->group / 4, &s1,
                         &b1);
            isa_st32(w, a->scale + (size_t)r * slots + g, isa_or(w, s0, isa_shl(w, s1, 16)));
            isa_st32(w, a->bias + (size_t)r * slots + g, isa_or(w, b0, isa_shl(w, b1, 16)));
            isa_brnzdec(w);
        }
        isa_brnzdec(w);
    }
}

/* ---- V^T widen ---- */

void kvd_vt_i8(Worker *w, const KvdArgs *a)
{
    isa_call(w);
    uint32_t zero = isa_setzi(w, 0);
    uint64_t magic = isa_h4_bits(const_h4(w, FP16_1024 | FP16_1024 << 16));
    Half4 off = const_h4(w, FP16_1152 | FP16_1152 << 16);
    for (uint32_t d = a->d0; d < a->d0 + a->rows; d++) {
        const uint8_t *c = (const uint8_t *)a->codes + (size_t)d * a->sb;
        uint16_t *o = a->out + (size_t)d * a->sb;
        isa_rpt(w);
        for (uint32_t p = 0; p < a->sb; p += 4) {
            uint32_t x = isa_ld32(w, c + p);
            uint64_t b = isa_pair(isa_shuf8x8lo(w, x, zero), isa_shuf8x8hi(w, x, zero));
            Half4 q = isa_f16v4sub(w, isa_bits_h4(isa_or64(w, b, magic)), off);
            isa_st64_h4(w, o + p, isa_f16v4mul(w, q, isa_ld64_h4(w, a->scale + p)));
        }
        isa_brnzdec(w);
    }
}

void kvd_vt_q4g(Worker *w, const KvdArgs *a)
{
    isa_call(w);
    uint64_t mask = isa_h4_bits(const_h4(w, 0x000f000fu));
    uint64_t magic = isa_h4_bits(const_h4(w, FP16_1024 | FP16_1024 << 16));
    Half4 off = const_h4(w, FP16_1024 | FP16_1024 << 16);
    for (uint32_t d = a->d0; d < a->d0 + a->rows; d++) {
        /* this dim's nibble: element d % 4 of each word, at bits 4 (3 - d % 4) */
        uint32_t sh = isa_shl(w, isa_sub(w, 3, isa_and(w, d, 3u)), 2);
        const uint16_t *c = (const uint16_t *)a->codes + (size_t)(d / 4) * a->sb;
        const uint16_t *s = a->scale + (size_t)(d / a->group) * a->sb, *b = a->bias + (size_t)(d / a->group) * a->sb;
        uint16_t *o = a->out + (size_t)d * a->sb;
        isa_rpt(w);
        for (uint32_t p = 0; p < a->sb; p += 4) {
            uint64_t v = isa_ld64(w, c + p);
            uint64_t n = isa_and64(w, isa_pair(isa_shr(w, isa_lo32(v), sh), isa_shr(w, isa_hi32(v), sh)), mask);
            Half4 q = isa_f16v4sub(w, isa_bits_h4(isa_or64(w, n, magic)), off);
            Half4 y = isa_f16v4add(w, isa_f16v4mul(w, q, isa_ld64_h4(w, s + p)), isa_ld64_h4(w, b + p));
            isa_st64_h4(w, o + p, y);
        }
        isa_brnzdec(w);
    }
}

/* ---- vertex types ---- */

static uint64_t kvq_key(const void *args)
{
    const KvqArgs *a = args;
    return (uint64_t)a->rows << 40 | (uint64_t)a->n << 16 | a->group;
}

static uint64_t kvd_key(const void *args)
{
    const KvdArgs *a = args;
    return (uint64_t)a->rows << 40 | (uint64_t)a->sb << 16 | a->group;
}

/* Deterministic scratch rows of the shape; cycles or VERTEX_MEASURE_FAULT. */
static uint64_t kvq_measure(const IsaCosts *isa, const void *args, void (*run)(Worker *, const void *))
{
    KvqArgs s = *(const KvqArgs *)args;
    size_t e = (size_t)s.rows * s.n, slots = (size_t)s.rows * kvq_scale_slots(s.n, s.group);
    uint16_t *x = aligned_alloc(8, (e * 2 + 8) / 8 * 8), *sc = aligned_alloc(8, (slots * 2 + 8) / 8 * 8);
    uint16_t *bi = aligned_alloc(8, (slots * 2 + 8) / 8 * 8);
    void *codes = aligned_alloc(8, (e + 8) / 8 * 8);
    IPU_ASSERT(x && sc && bi && codes); /* host out of memory: not a user error */
    for (size_t i = 0; i < e; i++)
        x[i] = fp16_from_f32((float)((int)(i * 37 % 101) - 50) * 0.01f);
    s.x = x, s.codes = codes, s.scale = sc, s.bias = s.group ? bi : NULL;
    uint64_t cycles = vertex_measure_run(isa, run, &s);
    free(x), free(sc), free(bi), free(codes);
    return cycles;
}

static uint64_t kvd_measure(const IsaCosts *isa, const void *args, void (*run)(Worker *, const void *))
{
    KvdArgs s = *(const KvdArgs *)args;
    uint32_t hd = s.d0 + s.rows, g = s.group ? s.group : 1;
    size_t e = (size_t)((hd + 3) / 4 * 4) * s.sb, ns = (size_t)((hd + g - 1) / g) * s.sb;
    uint16_t *codes = aligned_alloc(8, (e + 8) / 8 * 8), *out = aligned_alloc(8, (e * 2 + 8) / 8 * 8);
    uint16_t *sc = aligned_alloc(8, (ns * 2 + 8) / 8 * 8), *bi = aligned_alloc(8, (ns * 2 + 8) / 8 * 8);
    IPU_ASSERT(codes && out && sc && bi);
    memset(codes, 0x5a, (e + 8) / 8 * 8);
    for (size_t i = 0; i < ns; i++)
        sc[i] = 0x2e66, bi[i] = 0xb800;
    s.codes = codes, s.scale = sc, s.bias = s.group ? bi : NULL, s.out = out;
    uint64_t cycles = vertex_measure_run(isa, run, &s);
    free(codes), free(out), free(sc), free(bi);
    return cycles;
}

static int kvq_native(const IsaCosts *isa, const void *args)
{
    const KvqArgs *a = args;
    if (a->rows && (!a->x || !a->codes || !a->scale || (a->group && !a->bias) || (uintptr_t)a->x % 8 ||
                    (uintptr_t)a->codes % 4 || (uintptr_t)a->scale % 4 || (a->bias && (uintptr_t)a->bias % 4)))
        return -1;
    kvq_ref(a);
    return 0;
}

static int kvd_native(const IsaCosts *isa, const void *args)
{
    const KvdArgs *a = args;
    if (a->rows && (!a->codes || !a->scale || !a->out || (a->group && !a->bias) || (uintptr_t)a->out % 8 ||
                    (uintptr_t)a->scale % 8 || (uintptr_t)a->codes % (a->group ? 8 : 4)))
        return -1;
    kvd_ref(a);
    return 0;
}

#define KV_VERTEX(name, kind, Args, fn, vname)                                                                  \
    static void run_##name(Worker *w, const void *args) { fn(w, args); }                                      \
    static uint64_t measure_##name(const IsaCosts *isa, const void *args) { return kind##_measure(isa, args, run_##name); } \
    const VertexType name##_vertex = {vname, sizeof(Args), run_##name, kind##_key, measure_##name, kind##_native};

KV_VERTEX(kvq_i8, kvq, KvqArgs, kvq_i8, "kvq.i8")
KV_VERTEX(kvq_q4g, kvq, KvqArgs, kvq_q4g, "kvq.q4g")
KV_VERTEX(kvd_vt_i8, kvd, KvdArgs, kvd_vt_i8, "kvd.vt_i8")
KV_VERTEX(kvd_vt_q4g, kvd, KvdArgs, kvd_vt_q4g, "kvd.vt_q4g")

static const CodeletVariant kvq_variants[] = {
    {"i8", "a row of keys or values to int8 with one absmax scale (kv_format = i8)", &kvq_i8_vertex},
    {"q4g", "a row to int4 groups with a scale and a bias each (kv_format = q4g:N)", &kvq_q4g_vertex},
};
const CodeletFamily codelet_family_kvq = {
    "kvq", "quantize new keys and values into the KV cache, bit-exact with sim/base/kv_quant.h", kvq_variants,
    sizeof kvq_variants / sizeof kvq_variants[0],
};

static const CodeletVariant kvd_variants[] = {
    {"vt_i8", "a V^T block's int8 codes to fp16, one scale per position", &kvd_vt_i8_vertex},
    {"vt_q4g", "a V^T block's int4 codes (four dims a word) to fp16, per-position group scales", &kvd_vt_q4g_vertex},
};
const CodeletFamily codelet_family_kvd = {
    "kvd", "widen cached V^T blocks for P x V, bit-exact with kvd_ref", kvd_variants,
    sizeof kvd_variants / sizeof kvd_variants[0],
};
