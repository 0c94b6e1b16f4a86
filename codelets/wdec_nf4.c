/* wdec_nf4.c - decompress variants of NF4 (nf4g) and NF4 with
 * double-quantized scales (nf4g+dq): w = fp16(cb[c] x scale) per
 * sim/base/quant_nf4.h. Layout: codelets/wdec.h.
 *
 * A code is an index, so each weight costs an indexed 16-bit load from a
 * table in tile memory: four nibble extractions (shr / and), four ld16,
 * two sort4x16lo to pack the four results, one st64 per word. The variants
 * differ in which table:
 *   lut - per group the 16 outputs cb[c] x scale (4 x ld64 of the
 *         codebook, f16v4mul, st64 into a 32-byte table on the worker's
 *         stack), then the loads give the weights themselves;
 *   cb  - the codebook itself, then one f16v4mul by the scale per word.
 * Both round cb[c] x scale once, so both give nf4_dequant_ref's bits; lut
 * pays 12 issues a group to save one a word.
 *
 * +dq: the group's scale is decoded on the tile from its byte u, exactly as
 * nf4_dq_scale_ref: the 16-bit word holding u is loaded (ld16 of the
 * even address, a shift by 8 x the address's low bit), u | 0x4b000000 is
 * the fp32 2^23 + u, minus 2^23 + 128 gives q exactly; then f32 multiply by
 * the segment's step, f32 add of its mean, conversion to fp16, each
 * rounded once. The mean and the block's phase are one ld64 per vertex
 * (with a multiply and an add for the vertex's first segment); per segment
 * the step's index is (phase + t x stride) >> 8 (a shift, an add for the
 * next segment's t, an add for the address) and one ld32.
 */
#include "base/quant_nf4.h"
#include "codelets/isa_ext.h"
#include "codelets/wdec_impl.h"

#define F32_2P23_BITS 0x4b000000u /* 2^23: the fraction's low bits are integers */
#define F32_2P23_P128 8388736.0f  /* 2^23 + 128 */

/* The 16 outputs cb[c] x s into table (8-byte aligned). */
static void nf4_table(Worker *w, uint16_t *table, Half4 s)
{
    for (int k = 0; k < 4; k++)
        isa_st64_h4(w, table + 4 * k, isa_f16v4mul(w, isa_ld64_h4(w, NF4_CODEBOOK_F16 + 4 * k), s));
}

/* One word's four codes looked up in table (as a 64-bit register). */
static uint64_t nf4_lookup(Worker *w, const uint16_t *table, uint32_t x)
{
    uint32_t i0 = isa_shr(w, x, 12);
    uint32_t i1 = isa_and(w, isa_shr(w, x, 8), 0xfu);
    uint32_t i2 = isa_and(w, isa_shr(w, x, 4), 0xfu);
    uint32_t i3 = isa_and(w, x, 0xfu);
    uint32_t lo = isa_sort4x16lo(w, isa_ld16_idx(w, table, i0), isa_ld16_idx(w, table, i1));
    uint32_t hi = isa_sort4x16lo(w, isa_ld16_idx(w, table, i2), isa_ld16_idx(w, table, i3));
    return isa_pair(lo, hi);
}

/* Group g's words: through a scaled table (lut) or the codebook then x s (cb). */
static void nf4_group(Worker *w, const WdecArgs *a, uint32_t g, Half4 s, int lut, uint16_t *table)
{
    uint32_t words = a->group_size / 4;
    const uint16_t *in = (const uint16_t *)a->codes + (size_t)g * words;
    uint16_t *o = a->out + (size_t)g * a->group_size;
    if (lut)
        nf4_table(w, table, s);
    const uint16_t *t = lut ? table : NF4_CODEBOOK_F16;
    isa_rpt(w);
    for (uint32_t j = 0; j < words; j++) {
        uint64_t v = nf4_lookup(w, t, isa_ld16(w, in + j));
        if (!lut)
            v = isa_h4_bits(isa_f16v4mul(w, isa_bits_h4(v), s));
        isa_st64(w, o + 4 * j, v);
    }
    isa_brnzdec(w);
}

/* The decoded +dq scale of group g in four lanes: its segment's step, the mean. */
static Half4 nf4_dq_scale4(Worker *w, const WdecArgs *a, uint32_t g, float step, float mean)
{
    const uint8_t *p = a->qscale + g;
    uint32_t odd = isa_and(w, (uint32_t)(uintptr_t)p, 1u);
    (void)isa_andc(w, (uint32_t)(uintptr_t)p, 1u); /* the even address p & ~1 (a tile address is 32 bits) */
    uint32_t x = isa_ld16(w, p - odd);
    uint32_t u = isa_and(w, isa_shr(w, x, isa_shl(w, odd, 3)), 0xffu);
    float q = isa_f32sub(w, fp16_bits_f32(isa_or(w, u, F32_2P23_BITS)), F32_2P23_P128);
    float sc = isa_f32add(w, isa_f32mul(w, q, step), mean);
    return splat_h4(w, isa_f32tof16(w, sc));
}

static void nf4_body(Worker *w, const WdecArgs *a, int lut, int dq)
{
    _Alignas(8) uint16_t table[16];
    isa_call(w);
    if (!dq) {
        for (uint32_t g = 0; g < a->groups; g++)
            nf4_group(w, a, g, wdec_scale4(w, a, g), lut, table);
        return;
    }
    Float2 mp = isa_ld64_f2(w, a->dq); /* {mean, phase bits} */
    uint32_t phase;
    memcpy(&phase, &mp.f[1], 4); /* a register view */
    uint32_t t = isa_add(w, phase, isa_mul(w, a->seg0, a->dq_stride));
    for (uint32_t s = 0; s < a->groups / a->seg_groups; s++) {
        uint32_t idx = isa_shr(w, t, 8);
        (void)isa_add(w, idx, 2); /* the step's address: dq + 2 + idx */
        float step = fp16_bits_f32(isa_ld32(w, a->dq + 2 + idx));
        t = isa_add(w, t, a->dq_stride);
        for (uint32_t k = 0; k < a->seg_groups; k++) {
            uint32_t g = s * a->seg_groups + k;
            nf4_group(w, a, g, nf4_dq_scale4(w, a, g, step, mp.f[0]), lut, table);
        }
        isa_brnzdec(w);
    }
}

static void wdec_nf4g_lut(Worker *w, const WdecArgs *a) { nf4_body(w, a, 1, 0); }
static void wdec_nf4g_cb(Worker *w, const WdecArgs *a) { nf4_body(w, a, 0, 0); }
static void wdec_nf4dq_lut(Worker *w, const WdecArgs *a) { nf4_body(w, a, 1, 1); }
static void wdec_nf4dq_cb(Worker *w, const WdecArgs *a) { nf4_body(w, a, 0, 1); }

WDEC_VERTEX(WDEC_NF4G, nf4g_lut)
WDEC_VERTEX(WDEC_NF4G, nf4g_cb)
WDEC_VERTEX(WDEC_NF4DQ, nf4dq_lut)
WDEC_VERTEX(WDEC_NF4DQ, nf4dq_cb)

static const CodeletVariant nf4g_variants[] = {
    {"lut", "per group a 16-entry table of cb x scale, four indexed ld16 per word", &nf4g_lut_vertex},
    {"cb", "four indexed ld16 of the fp16 codebook per word, then x scale", &nf4g_cb_vertex},
};
const CodeletFamily codelet_family_dec_nf4g = {
    "decompress.nf4g", "NF4 codebook x per-group fp16 absmax (sim/base/quant_nf4.h), bit-exact with nf4_dequant_ref",
    nf4g_variants, sizeof nf4g_variants / sizeof nf4g_variants[0],
};

static const CodeletVariant nf4dq_variants[] = {
    {"lut", "the group's 8-bit scale decoded in fp32, then as nf4g lut", &nf4dq_lut_vertex},
    {"cb", "the group's 8-bit scale decoded in fp32, then as nf4g cb", &nf4dq_cb_vertex},
};
const CodeletFamily codelet_family_dec_nf4dq = {
    "decompress.nf4g+dq", "NF4 with double-quantized scales (sim/base/quant_nf4.h), bit-exact with nf4_dequant_ref of "
                          "nf4_dq_scale_ref",
    nf4dq_variants, sizeof nf4dq_variants / sizeof nf4dq_variants[0],
};
