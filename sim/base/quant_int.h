/* quant_int.h - the symmetric integer weight formats: s4g (int4, absmax
 * per group) and i8 (int8, absmax per group: i8g, or per output channel:
 * i8c). Layout and the scalar dequantizers, which are the specification
 * every tile codelet matches bit for bit (codelets/wdec.h).
 *
 * s4g:n - groups of n weights along the input axis (n % 4 == 0, 4..4096):
 * - q = round_half_even(w / scale) clamped to -8..7, scale = absmax / 7
 *   rounded once to fp16 (so the quantizer never writes -8; the
 *   dequantizer accepts it);
 * - stored offset binary, nibble = q + 8, four per uint16 word, element 0
 *   in bits 15..12 (the q4g order of sim/base/quant_format.h);
 * - packed (rows, groups, n/4) uint16; scale (rows, groups) fp16.
 *
 * i8g:n and i8c - one byte per weight, offset binary, byte = q + 128,
 * q = round_half_even(w / scale) clamped to -128..127, scale = absmax / 127
 * rounded once to fp16 (the quantizer writes -127..127). Bytes in element
 * order (element 0 at the lowest address, as an int8 array). i8g: groups of
 * n along the input axis (n % 4 == 0), scale (rows, groups); i8c: one scale
 * per output channel (row), scale (rows).
 *
 * Dequantization: w = fp16(q * scale), one rounding to nearest even. q x
 * scale is exact in binary32 (4 or 8 bits times 11), so it is the correctly
 * rounded binary16 product (an f16v4mul of q and scale).
 *
 * Header-only: codelets include it; models/quant_int.c quantizes.
 */
#ifndef IPUSIM_QUANT_INT_H
#define IPUSIM_QUANT_INT_H

#include <stdint.h>

#include "base/fp16.h"

#define S4_OFFSET 8     /* nibble = q + 8 */
#define S4_QMAX 7       /* absmax maps to 7 */
#define I8_OFFSET 128   /* byte = q + 128 */
#define I8_QMAX 127     /* absmax maps to 127 */

/* Stored bits per parameter: s4g 4 + 16/n, i8g 8 + 16/n, i8c 8 + 16/cols. */
static inline double s4_bits_per_param(unsigned n) { return 4.0 + 16.0 / n; }
static inline double i8_bits_per_param(double weights_per_scale) { return 8.0 + 16.0 / weights_per_scale; }

/* The dequantization of one s4g nibble (0..15). */
static inline uint16_t s4_dequant_ref(unsigned nibble, uint16_t scale)
{
    return fp16_from_f32((float)((int)(nibble & 0xfu) - S4_OFFSET) * fp16_to_f32(scale));
}

/* The dequantization of one i8 byte (0..255). */
static inline uint16_t i8_dequant_ref(unsigned byte, uint16_t scale)
{
    return fp16_from_f32((float)((int)(byte & 0xffu) - I8_OFFSET) * fp16_to_f32(scale));
}

#endif
