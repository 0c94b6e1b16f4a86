/* wdec_fp8.c - decompress variants of fp8 weights (fp8e4m3, fp8e5m2) with
 * a per-channel or per-tensor scale: w = fp16(fp8_to_fp16(code) x scale)
 * per sim/base/quant_fp8.h. Layout: codelets/wdec.h.
 *
 * E5M2 is binary16's top byte: shuf8x8lo / hi of a zero register and four
 * codes put each code in the high byte of its lane, which is then its
 * fp16, and one f16v4mul by the scale rounds once.
 *
 * E4M3 has one exponent bit fewer: with L = code << 8 in a lane (the same
 * shuffles), M = (L >> 1) & 0x3f80 is the fp16 of the code's magnitude
 * times 2^-8 (exponent field e, fraction m << 7; subnormals land on fp16
 * subnormals of the same ratio), and the sign is L & 0x8000. The arith
 * variant folds the exact x 2^8 into the scale (x 256 once per group: the
 * format's scales are below 256, so it is exact) and fixes the NaN code
 * S.1111.111, whose M = 0x3f80 (1.875) would otherwise give 480 x scale:
 * an f16v4cmpeq with 1.875 and an and / or set its exponent bits, giving
 * the quiet NaN sign | 0x7f80 of fp8_to_fp16. The lut variant loads each
 * code's fp16 from a 256-entry table (fp8_to_fp16 of every code, 512 bytes
 * of the vertex's code; tests/test_wdec.c checks it against the function)
 * with four byte extractions, four indexed ld16 and two sort4x16lo.
 */
#include "codelets/wdec_impl.h"

#define FP16_256 0x5c00u
#define FP16_1P875 0x3f80u

/* fp8_to_fp16(FP8_E4M3, c) for c = 0..255. */
static _Alignas(8) const uint16_t e4m3_table[256] = {
    0x0000, 0x1800, 0x1c00, 0x1e00, 0x2000, 0x2100, 0x2200, 0x2300,
    0x2400, 0x2480, 0x2500, 0x2580, 0x2600, 0x2680, 0x2700, 0x2780,
    0x2800, 0x2880, 0x2900, 0x2980, 0x2a00, 0x2a80, 0x2b00, 0x2b80,
    0x2c00, 0x2c80, 0x2d00, 0x2d80, 0x2e00, 0x2e80, 0x2f00, 0x2f80,
    0x3000, 0x3080, 0x3100, 0x3180, 0x3200, 0x3280, 0x3300, 0x3380,
    0x3400, 0x3480, 0x3500, 0x3580, 0x3600, 0x3680, 0x3700, 0x3780,
    0x3800, 0x3880, 0x3900, 0x3980, 0x3a00, 0x3a80, 0x3b00, 0x3b80,
    0x3c00, 0x3c80, 0x3d00, 0x3d80, 0x3e00, 0x3e80, 0x3f00, 0x3f80,
    0x4000, 0x4080, 0x4100, 0x4180, 0x4200, 0x4280, 0x4300, 0x4380,
    0x4400, 0x4480, 0x4500, 0x4580, 0x4600, 0x4680, 0x4700, 0x4780,
    0x4800, 0x4880, 0x4900, 0x4980, 0x4a00, 0x4a80, 0x4b00, 0x4b80,
    0x4c00, 0x4c80, 0x4d00, 0x4d80, 0x4e00, 0x4e80, 0x4f00, 0x4f80,
    0x5000, 0x5080, 0x5100, 0x5180, 0x5200, 0x5280, 0x5300, 0x5380,
    0x5400, 0x5480, 0x5500, 0x5580, 0x5600, 0x5680, 0x5700, 0x5780,
    0x5800, 0x5880, 0x5900, 0x5980, 0x5a00, 0x5a80, 0x5b00, 0x5b80,
    0x5c00, 0x5c80, 0x5d00, 0x5d80, 0x5e00, 0x5e80, 0x5f00, 0x7f80,
    0x8000, 0x9800, 0x9c00, 0x9e00, 0xa000, 0xa100, 0xa200, 0xa300,
    0xa400, 0xa480, 0xa500, 0xa580, 0xa600, 0xa680, 0xa700, 0xa780,
    0xa800, 0xa880, 0xa900, 0xa980, 0xaa00, 0xaa80, 0xab00, 0xab80,
    0xac00, 0xac80, 0xad00, 0xad80, 0xae00, 0xae80, 0xaf00, 0xaf80,
    0xb000, 0xb080, 0xb100, 0xb180, 0xb200, 0xb280, 0xb300, 0xb380,
    0xb400, 0xb480, 0xb500, 0xb580, 0xb600, 0xb680, 0xb700, 0xb780,
    0xb800, 0xb880, 0xb900, 0xb980, 0xba00, 0xba80, 0xbb00, 0xbb80,
    0xbc00, 0xbc80, 0xbd00, 0xbd80, 0xbe00, 0xbe80, 0xbf00, 0xbf80,
    0xc000, 0xc080, 0xc100, 0xc180, 0xc200, 0xc280, 0xc300, 0xc380,
    0xc400, 0xc480, 0xc500, 0xc580, 0xc600, 0xc680, 0xc700, 0xc780,
    0xc800, 0xc880, 0xc900, 0xc980, 0xca00, 0xca80, 0xcb00, 0xcb80,
    0xcc00, 0xcc80, 0xcd00, 0xcd80, 0xce00, 0xce80, 0xcf00, 0xcf80,
    0xd000, 0xd080, 0xd100, 0xd180, 0xd200, 0xd280, 0xd300, 0xd380,
    0xd400, 0xd480, 0xd500, 0xd580, 0xd600, 0xd680, 0xd700, 0xd780,
    0xd800, 0xd880, 0xd900, 0xd980, 0xda00, 0xda80, 0xdb00, 0xdb80,
    0xdc00, 0xdc80, 0xdd00, 0xdd80, 0xde00, 0xde80, 0xdf00, 0xff80,
};

/* Four codes of x, each in the high byte of its lane: code << 8. */
static uint64_t fp8_lanes(Worker *w, uint32_t x, uint32_t zero)
{
    return isa_pair(isa_shuf8x8lo(w, zero, x), isa_shuf8x8hi(w, zero, x));
}

static void wdec_fp8e5m2_shuf(Worker *w, const WdecArgs *a)
{
    uint32_t quads = a->group_size / 4;
    isa_call(w);
    uint32_t zero = isa_setzi(w, 0);
    for (uint32_t g = 0; g < a->groups; g++) {
        Half4 s = wdec_scale4(w, a, g);
        const uint8_t *in = (const uint8_t *)a->codes + (size_t)g * a->group_size;
        uint16_t *o = a->out + (size_t)g * a->group_size;
        isa_rpt(w);
        for (uint32_t j = 0; j < quads; j++)
            isa_st64_h4(w, o + 4 * j, isa_f16v4mul(w, isa_bits_h4(fp8_lanes(w, isa_ld32(w, in + 4 * j), zero)), s));
        isa_brnzdec(w);
    }
}

static void wdec_fp8e4m3_arith(Worker *w, const WdecArgs *a)
{
    uint32_t quads = a->group_size / 4;
    isa_call(w);
    uint32_t zero = isa_setzi(w, 0);
    Half4 p8 = wdec_const4(w, FP16_256), nan_m = wdec_const4(w, FP16_1P875);
    uint64_t mag = isa_h4_bits(wdec_const4(w, 0x3f80u)), sgn = isa_h4_bits(wdec_const4(w, 0x8000u));
    uint64_t exp = isa_h4_bits(wdec_const4(w, 0x4000u));
    for (uint32_t g = 0; g < a->groups; g++) {
        Half4 s = isa_f16v4mul(w, wdec_scale4(w, a, g), p8);
        const uint8_t *in = (const uint8_t *)a->codes + (size_t)g * a->group_size;
        uint16_t *o = a->out + (size_t)g * a->group_size;
        isa_rpt(w);
        for (uint32_t j = 0; j < quads; j++) {
            uint64_t l = fp8_lanes(w, isa_ld32(w, in + 4 * j), zero);
            uint64_t m = isa_and64(w, isa_pair(isa_shr(w, isa_lo32(l), 1), isa_shr(w, isa_hi32(l), 1)), mag);
            uint64_t nan = isa_h4_bits(isa_f16v4cmpeq(w, isa_bits_h4(m), nan_m));
            m = isa_or64(w, m, isa_and64(w, nan, exp));
            Half4 v = isa_bits_h4(isa_or64(w, m, isa_and64(w, l, sgn)));
            isa_st64_h4(w, o + 4 * j, isa_f16v4mul(w, v, s));
        }
        isa_brnzdec(w);
    }
}

static void wdec_fp8e4m3_lut(Worker *w, const WdecArgs *a)
{
    uint32_t quads = a->group_size / 4;
    isa_call(w);
    for (uint32_t g = 0; g < a->groups; g++) {
        Half4 s = wdec_scale4(w, a, g);
        const uint8_t *in = (const uint8_t *)a->codes + (size_t)g * a->group_size;
        uint16_t *o = a->out + (size_t)g * a->group_size;
        isa_rpt(w);
        for (uint32_t j = 0; j < quads; j++) {
            uint32_t x = isa_ld32(w, in + 4 * j);
            uint32_t b0 = isa_and(w, x, 0xffu), b1 = isa_and(w, isa_shr(w, x, 8), 0xffu);
            uint32_t b2 = isa_and(w, isa_shr(w, x, 16), 0xffu), b3 = isa_shr(w, x, 24);
            uint32_t lo = isa_sort4x16lo(w, isa_ld16_idx(w, e4m3_table, b0), isa_ld16_idx(w, e4m3_table, b1));
            uint32_t hi = isa_sort4x16lo(w, isa_ld16_idx(w, e4m3_table, b2), isa_ld16_idx(w, e4m3_table, b3));
            isa_st64_h4(w, o + 4 * j, isa_f16v4mul(w, isa_bits_h4(isa_pair(lo, hi)), s));
        }
        isa_brnzdec(w);
    }
}

WDEC_VERTEX(WDEC_FP8E5M2, fp8e5m2_shuf)
WDEC_VERTEX(WDEC_FP8E4M3, fp8e4m3_arith)
WDEC_VERTEX(WDEC_FP8E4M3, fp8e4m3_lut)

const uint16_t *wdec_e4m3_table(void) { return e4m3_table; }

static const CodeletVariant e5m2_variants[] = {
    {"shuf", "four codes per ld32 shuffled into the lanes' high bytes (their fp16), x scale", &fp8e5m2_shuf_vertex},
};
const CodeletFamily codelet_family_dec_fp8e5m2 = {
    "decompress.fp8e5m2", "fp8 E5M2 x scale (sim/base/quant_fp8.h), bit-exact with fp8_dequant_ref",
    e5m2_variants, sizeof e5m2_variants / sizeof e5m2_variants[0],
};

static const CodeletVariant e4m3_variants[] = {
    {"arith", "shuffles, a shift and masks give code x 2^-8 as fp16, NaN fixed by a compare, x (scale x 256)",
     &fp8e4m3_arith_vertex},
    {"lut", "a 256-entry fp16 table of the codes, four indexed ld16 per ld32, x scale", &fp8e4m3_lut_vertex},
};
const CodeletFamily codelet_family_dec_fp8e4m3 = {
    "decompress.fp8e4m3", "fp8 E4M3 x scale (sim/base/quant_fp8.h), bit-exact with fp8_dequant_ref (scales below 256)",
    e4m3_variants, sizeof e4m3_variants / sizeof e4m3_variants[0],
};
