/* wdec_int.c - decompress variants of the symmetric integer formats: s4g
 * (4-bit, nibble = q + 8) and i8 (i8g, i8c: byte = q + 128), each
 * w = fp16(q x scale) per sim/base/quant_int.h. Layout: codelets/wdec.h.
 *
 * Both turn codes into exact fp16 integers with the "magic number" trick:
 * a code c placed in the low fraction bits of an fp16 whose exponent makes
 * those bits worth 1 reads as (2^e + c); one exact subtraction of
 * 2^e + offset leaves q = c - offset (|q| <= 128, exact in fp16), and one
 * f16v4mul by the scale rounds once, as s4_dequant_ref and i8_dequant_ref.
 */
#include "codelets/wdec_impl.h"

/* fp16 bit patterns of the magic numbers. */
#define FP16_64 0x5400u    /* 2^6: fraction bit 4 worth 1, so bits 7..4 hold a nibble as an integer */
#define FP16_72 0x5480u    /* 2^6 + 8: s4g's offset removed */
#define FP16_1024 0x6400u  /* 2^10: fraction bits 7..0 worth 1 */
#define FP16_1152 0x6480u  /* 2^10 + 128: i8's offset removed */
#define NIB_HI_MASK 0x00f000f000f000f0ull

/* ---- s4g ---- */

/* One word x to q lanes: the subnormal-free unpack of q4_isa.h's pattern
 * (nibble i at bits 7..4 of lane i), masked, made 64 + c by the magic
 * exponent, then 64 + 8 subtracted. */
static Half4 s4_word(Worker *w, uint32_t x, uint64_t mask, uint64_t magic, Half4 off)
{
    uint32_t lo = isa_or(w, isa_shr(w, x, 8), isa_shl(w, x, 12));
    uint32_t hi = isa_or(w, x, isa_shl(w, x, 20));
    uint64_t c = isa_or64(w, isa_and64(w, isa_pair(lo, hi), mask), magic);
    return isa_f16v4sub(w, isa_bits_h4(c), off);
}

/* One word at a time. */
static void wdec_s4g_fused(Worker *w, const WdecArgs *a)
{
    uint32_t words = a->group_size / 4;
    isa_call(w);
    uint64_t mask = isa_h4_bits(const_h4(w, (uint32_t)NIB_HI_MASK));
    uint64_t magic = isa_h4_bits(wdec_const4(w, FP16_64));
    Half4 off = wdec_const4(w, FP16_72);
    for (uint32_t g = 0; g < a->groups; g++) {
        Half4 s = wdec_scale4(w, a, g);
        const uint16_t *in = (const uint16_t *)a->codes + (size_t)g * words;
        uint16_t *o = a->out + (size_t)g * a->group_size;
        isa_rpt(w);
        for (uint32_t j = 0; j < words; j++)
            isa_st64_h4(w, o + 4 * j, isa_f16v4mul(w, s4_word(w, isa_ld16(w, in + j), mask, magic, off), s));
        isa_brnzdec(w);
    }
}

/* Nibble patterns (bits 7..4 of each lane, unmasked) of one word, by the
 * permute of decompress.c's fused2: A = sort4x16lo(x, x << 4) holds c2, c3
 * in the high nibbles of its lanes' low bytes, A >> 8 holds c0, c1. */
static uint64_t s4_perm1(Worker *w, uint32_t x)
{
    uint32_t p = isa_sort4x16lo(w, x, isa_shl(w, x, 4));
    return isa_pair(isa_shr(w, p, 8), p);
}

/* Masked, magic, offset removed, scaled, stored. */
static void s4_finish(Worker *w, uint16_t *o, uint64_t pat, uint64_t mask, uint64_t magic, Half4 off, Half4 s)
{
    Half4 q = isa_f16v4sub(w, isa_bits_h4(isa_or64(w, isa_and64(w, pat, mask), magic)), off);
    isa_st64_h4(w, o, isa_f16v4mul(w, q, s));
}

/* Two words per ld32. A group of an odd number of words takes its lone
 * word first when its words start 2-byte aligned, last when 4-byte
 * aligned: the same steps either way, so cycles do not depend on the
 * alignment (wdec_check asks 4-byte alignment when the count is even). */
static void wdec_s4g_fused2(Worker *w, const WdecArgs *a)
{
    uint32_t words = a->group_size / 4;
    isa_call(w);
    uint64_t mask = isa_h4_bits(const_h4(w, (uint32_t)NIB_HI_MASK));
    uint64_t magic = isa_h4_bits(wdec_const4(w, FP16_64));
    Half4 off = wdec_const4(w, FP16_72);
    for (uint32_t g = 0; g < a->groups; g++) {
        Half4 s = wdec_scale4(w, a, g);
        const uint16_t *in = (const uint16_t *)a->codes + (size_t)g * words;
        uint16_t *o = a->out + (size_t)g * a->group_size;
        /* odd count: is this group's first word 2-byte aligned (one and, every group alike)? */
        uint32_t pairs = words / 2, first = words % 2 ? isa_and(w, (uint32_t)(uintptr_t)in, 2u) : 0;
        if (first) {
            s4_finish(w, o, s4_perm1(w, isa_ld16(w, in)), mask, magic, off, s);
            in++, o += 4;
        }
        isa_rpt(w);
        for (uint32_t j = 0; j < pairs; j++) {
            uint32_t x = isa_ld32(w, in + 2 * j), y = isa_shl(w, x, 4);
            uint32_t lo = isa_sort4x16lo(w, x, y), hi = isa_sort4x16hi(w, x, y);
            s4_finish(w, o + 8 * j, isa_pair(isa_shr(w, lo, 8), lo), mask, magic, off, s);
            s4_finish(w, o + 8 * j + 4, isa_pair(isa_shr(w, hi, 8), hi), mask, magic, off, s);
        }
        if (words % 2 && !first)
            s4_finish(w, o + 8 * pairs, s4_perm1(w, isa_ld16(w, in + 2 * pairs)), mask, magic, off, s);
        isa_brnzdec(w);
    }
}

/* ---- i8 ---- */

/* Four bytes per ld32: shuf8x8lo / hi with a zero register put byte i in
 * the low byte of lane i; | 0x6400 reads as 1024 + byte; - 1152 = q. */
static void wdec_i8_magic(Worker *w, const WdecArgs *a)
{
    uint32_t quads = a->group_size / 4;
    isa_call(w);
    uint32_t zero = isa_setzi(w, 0);
    uint64_t magic = isa_h4_bits(wdec_const4(w, FP16_1024));
    Half4 off = wdec_const4(w, FP16_1152);
    for (uint32_t g = 0; g < a->groups; g++) {
        Half4 s = wdec_scale4(w, a, g);
        const uint8_t *in = (const uint8_t *)a->codes + (size_t)g * a->group_size;
        uint16_t *o = a->out + (size_t)g * a->group_size;
        isa_rpt(w);
        for (uint32_t j = 0; j < quads; j++) {
            uint32_t x = isa_ld32(w, in + 4 * j);
            uint64_t b = isa_pair(isa_shuf8x8lo(w, x, zero), isa_shuf8x8hi(w, x, zero));
            Half4 q = isa_f16v4sub(w, isa_bits_h4(isa_or64(w, b, magic)), off);
            isa_st64_h4(w, o + 4 * j, isa_f16v4mul(w, q, s));
        }
        isa_brnzdec(w);
    }
}

WDEC_VERTEX(WDEC_S4G, s4g_fused2)
WDEC_VERTEX(WDEC_S4G, s4g_fused)
WDEC_VERTEX(WDEC_I8, i8_magic)

static const CodeletVariant s4g_variants[] = {
    {"fused2", "two words per ld32, sort4x16 permute unpack, magic-number exponent, - 72, x scale", &s4g_fused2_vertex},
    {"fused", "one word per ld16, shift unpack, magic-number exponent, - 72, x scale", &s4g_fused_vertex},
};
const CodeletFamily codelet_family_dec_s4g = {
    "decompress.s4g", "symmetric int4 groups to fp16 (sim/base/quant_int.h), bit-exact with s4_dequant_ref",
    s4g_variants, sizeof s4g_variants / sizeof s4g_variants[0],
};

static const CodeletVariant i8_variants[] = {
    {"magic", "four bytes per ld32, byte shuffles into lanes, magic-number exponent, - 1152, x scale", &i8_magic_vertex},
};
const CodeletFamily codelet_family_dec_i8 = {
    "decompress.i8", "int8 per group or per channel to fp16 (sim/base/quant_int.h), bit-exact with i8_dequant_ref",
    i8_variants, sizeof i8_variants / sizeof i8_variants[0],
};
