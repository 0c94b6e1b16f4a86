/* quant_nf4.h - NF4, QLoRA's 4-bit NormalFloat codebook with a per-group
 * absmax scale (nf4g:n), optionally with its scales double-quantized
 * (nf4g:n+dq). Layout and the scalar dequantizers, the specification every
 * tile codelet matches bit for bit (codelets/wdec.h). Sources of the
 * codebook and of the double quantization: docs/reference/weight-formats-sources.md.
 *
 * The codebook: 16 values in [-1, 1], code 7 = 0 exactly, NF4_CODEBOOK_F32
 * as published (fp32). The tiles compute in fp16, so the format's codebook
 * is those values rounded once to fp16 (NF4_CODEBOOK_F16; tests check the
 * rounding); the largest change is 1.9e-4 (code 1).
 *
 * nf4g:n - groups of n weights along the input axis (n % 4 == 0, 4..4096):
 * - scale = the group's absmax (of the weights rounded to fp16: an fp16);
 * - code = the c whose dequantized value fp16(cb[c] x scale) is nearest to
 *   the weight (ties to the lower code);
 * - four codes per uint16 word, element 0 in bits 15..12 (as q4g);
 * - packed (rows, groups, n/4) uint16, scale (rows, groups) fp16.
 * Dequantization: w = fp16(cb[c] x scale), one rounding (the product of two
 * fp16 is exact in binary32).
 *
 * +dq - the groups' absmax values a_g, in the tensor's row-major group
 * order, are stored in 8 bits, as QLoRA's double quantization does:
 * - mean = the mean of all a_g (fp32, one per tensor; QLoRA's offset);
 * - blocks of NF4_DQ_BLOCK = 256 consecutive groups (the last may be
 *   shorter), each with step = max |a_g - mean| / 127 (fp32, rounded once);
 * - q_g = round_half_even((a_g - mean) / step) clamped to -127..127 (0 when
 *   step is 0), stored as the byte q_g + 128;
 * - the group's scale is decoded as fp16(fp32(fp32(q_g x step) + mean)),
 *   three roundings to nearest even (an fp32 multiply, an fp32 add, a
 *   conversion to fp16), and the codes are chosen against that scale.
 * QLoRA quantizes (a_g - mean) with bitsandbytes' 8-bit dynamic code; this
 * format uses linear int8 steps instead (one fp32 multiply on the tile).
 * Stored: packed (rows, groups, n/4), qscale (rows x groups) bytes, step
 * (ceil(groups / 256)) fp32, mean fp32.
 *
 * Header-only: codelets include it; models/quant_nf4.c quantizes.
 */
#ifndef IPUSIM_QUANT_NF4_H
#define IPUSIM_QUANT_NF4_H

#include <stdint.h>

#include "base/fp16.h"

#define NF4_CODES 16
#define NF4_ZERO_CODE 7
#define NF4_DQ_BLOCK 256 /* group scales per second-level block */
#define NF4_DQ_OFFSET 128
#define NF4_DQ_QMAX 127

/* As published (QLoRA, bitsandbytes' get_4bit_type("nf4")). */
static const float NF4_CODEBOOK_F32[NF4_CODES] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

/* The format's codebook: each value above rounded to nearest fp16 (8-byte
 * aligned: the tile codelets read it four at a time). */
static _Alignas(8) const uint16_t NF4_CODEBOOK_F16[NF4_CODES] = {
    0xbc00, 0xb992, 0xb833, 0xb652, 0xb48d, 0xb1ea, 0xadd4, 0x0000,
    0x2d18, 0x3126, 0x33e0, 0x3568, 0x370d, 0x3880, 0x39c9, 0x3c00,
};

/* Bits per parameter of a (rows, cols) matrix: codes, then scales (16 bits
 * a group, or 8 with +dq plus 32 per 256-group block and 32 for the mean). */
static inline double nf4_bits_per_param(unsigned n, int dq, double rows, double cols)
{
    if (!dq)
        return 4.0 + 16.0 / n;
    double groups = rows * cols / n, blocks = (double)(((uint64_t)groups + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK);
    return 4.0 + (8.0 * groups + 32.0 * blocks + 32.0) / (rows * cols);
}

/* The dequantization of one code (0..15) with an fp16 scale. */
static inline uint16_t nf4_dequant_ref(unsigned code, uint16_t scale)
{
    return fp16_from_f32(fp16_to_f32(NF4_CODEBOOK_F16[code & 0xfu]) * fp16_to_f32(scale));
}

/* The decoded scale of a +dq group: fp16(fp32(fp32(q x step) + mean)),
 * q = byte - 128. Each step is stored through a volatile so the compiler
 * cannot fuse the multiply and the add (the tile rounds them separately). */
static inline uint16_t nf4_dq_scale_ref(unsigned byte, float step, float mean)
{
    volatile float prod = (float)((int)(byte & 0xffu) - NF4_DQ_OFFSET) * step;
    volatile float sum = prod + mean;
    return fp16_from_f32(sum);
}

#endif
