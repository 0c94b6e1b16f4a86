/* quant_format.h - the 4-bit group-quantized weight format (int4-group).
 *
 * Graphcore's layout (docs/reference/gptj-on-ipu.md):
 * - the quantized axis is cut into contiguous groups of n weights,
 *   n % 4 == 0 and n divides the axis;
 * - per group, fp16 bias = min and fp16 scale = (max - min) / 15;
 * - code = round_half_even((w - bias) / scale), clamped to 0..15; a constant
 *   group has scale 0 and every code 0;
 * - four codes per uint16 word, element 0 in bits 15..12, element 3 in 3..0;
 * - packed shape (rows, groups, n/4) uint16; scale, bias (rows, groups) fp16.
 *
 * Decompression, the specification every codelet variant must match bit for
 * bit: w = fp16(fp16(code * scale) + bias), two roundings to nearest even, the
 * order an f16v4mul followed by an f16v4add gives. code * scale is exact in
 * binary32 (4 x 11 bits), so each rounding is the binary16 one.
 *
 * Header-only: codelets include it for the layout; models/quant.c quantizes.
 */
#ifndef IPUSIM_QUANT_FORMAT_H
#define IPUSIM_QUANT_FORMAT_H

#include <stdint.h>

#include "base/fp16.h"

#define Q4_BITS 4
#define Q4_CODES_PER_WORD 4
#define Q4_MAX_CODE 15
#define Q4_MIN_GROUP 4
#define Q4_MAX_GROUP 4096

/* Bits per parameter of int4-group with group size n: 4 + 32 / n. */
static inline double q4_bits_per_param(unsigned n) { return (4.0 * n + 32.0) / n; }

/* Code of element i (0..3) of a packed word: element 0 in the top nibble. */
static inline unsigned q4_code(uint16_t word, unsigned i) { return (word >> (12u - 4u * i)) & 0xfu; }

static inline uint16_t q4_pack(unsigned c0, unsigned c1, unsigned c2, unsigned c3)
{
    return (uint16_t)(((c0 & 0xfu) << 12) | ((c1 & 0xfu) << 8) | ((c2 & 0xfu) << 4) | (c3 & 0xfu));
}

/* The decompression of one code: fp16(fp16(code * scale) + bias). */
static inline uint16_t q4_dequant_ref(unsigned code, uint16_t scale, uint16_t bias)
{
    uint16_t t = fp16_from_f32((float)code * fp16_to_f32(scale));
    return fp16_add(t, bias);
}

#endif
