/* q4_isa.h - tile building blocks of the int4 unpack, shared by the
 * decompress variants (codelets/decompress.c) and Graphcore's unpack vertex
 * (codelets/gc_decompress.c). Internal to codelets/: timed intrinsics of
 * codelets/isa.h only. */
#ifndef IPUSIM_Q4_ISA_H
#define IPUSIM_Q4_ISA_H

#include <stdint.h>

#include "codelets/isa.h"

/* A 64-bit register holding c in all four lanes: a 32-bit pair then a copy. */
static inline Half4 splat_h4(Worker *w, uint32_t c16)
{
    uint32_t lo = isa_or(w, c16, isa_shl(w, c16, 16));
    uint32_t hi = isa_mov(w, lo);
    return isa_bits_h4(isa_pair(lo, hi));
}

static inline Half4 const_h4(Worker *w, uint32_t c32)
{
    uint32_t lo = isa_setzi(w, c32);
    return isa_bits_h4(isa_pair(lo, isa_mov(w, lo)));
}

/* The subnormal trick. For word x with nibbles c0 (bits 15..12) .. c3
 * (bits 3..0), place nibble i at bits 7..4 of lane i:
 *   lanes 0,1 = (x >> 8) | (x << 12)   lanes 2,3 = x | (x << 20)
 * and keep only bits 7..4 of each lane (mask 0x00f0 per lane). Lane i is
 * then the fp16 bit pattern ci * 16, a subnormal (exponent field 0) of value
 * ci * 16 * 2^-24 = ci * 2^-20. Two exact multiplications by 2^10 (the
 * largest power of two below 2^20 that fp16 holds is 2^15) give ci. */
#define NIB_MASK32 0x00f000f0u
#define FP16_2P10_X2 0x64006400u /* 1024.0 in both halves */

static inline Half4 unpack_subnormal(Worker *w, uint32_t x, uint64_t mask)
{
    uint32_t lo = isa_or(w, isa_shr(w, x, 8), isa_shl(w, x, 12));
    uint32_t hi = isa_or(w, x, isa_shl(w, x, 20));
    return isa_bits_h4(isa_and64(w, isa_pair(lo, hi), mask));
}

#endif
