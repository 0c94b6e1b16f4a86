/* isa.h - the timed intrinsics of one tile worker (vector unit, loads and
 * stores, integer and permute ops, loop control).
 *
 * A codelet is C code written only with these functions. Each one computes
 * its result exactly as the tile would and adds its issue cost, in worker
 * cycles, from w->isa (sim/isa_cost.def; every default of 1 is the named
 * assumption of docs/reference/ipu-figures.md "Not public"). The barrel model (6 tile
 * cycles per worker issue) is the engine's business, not this file's.
 *
 * Values:
 * - fp16 is uint16_t bits (sim/base/fp16.h); arithmetic rounds once to nearest
 *   even as IEEE binary16 does. fp32 is C float (binary32, SSE on x86-64).
 * - Half4 is a 64-bit register of four fp16 lanes; lane i sits at bits
 *   16i..16i+15 and at byte 2i in memory (the IPU is little-endian). Half2
 *   and a uint32_t are the same 32 bits; Float2 is a 64-bit register of two
 *   fp32 lanes. A 64-bit register is a pair of 32-bit ones: the isa_h4_* /
 *   isa_pair views below are free, because the producing instructions write
 *   the halves of the pair directly.
 *
 * Memory: pointers are host addresses of tile SRAM data. Alignment is
 * natural (2/4/8/16 bytes for 16/32/64/128-bit accesses). A misaligned or
 * NULL access is a model fault: the first one is recorded in the Worker
 * (faulted, fault[] with the address and instruction), the access is not
 * performed (a load returns 0) and the cost is still charged. ld128 also
 * needs the operand in the interleaved memory region (docs/reference/ipu-figures.md,
 * "memory organisation"): that is a guarantee of the lowering, which places
 * every tensor a vertex reads with ld128 in region 1; isa.h checks only the
 * 16-byte alignment.
 *
 * Loops: isa_rpt charges the hardware repeat once per loop (its body then
 * has no per-iteration overhead); isa_brnzdec charges a software loop's
 * decrement-and-branch once per iteration.
 *
 * Not here: the AMP matrix unit (codelets/isa_amp.h), scheduling of vertices
 * onto workers (sim engine).
 */
#ifndef IPUSIM_ISA_H
#define IPUSIM_ISA_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/fp16.h"
#include "sim/worker.h"

typedef struct Half4 { uint16_t h[4]; } Half4;   /* lane i = bits 16i.. */
typedef struct Half2 { uint16_t h[2]; } Half2;
typedef struct Float2 { float f[2]; } Float2;
typedef struct U128 { uint64_t lo, hi; } U128;   /* lo at the lower address */

/* Records the first model fault of this worker; later ones are dropped so
 * the message names the cause, not its consequences. */
static inline void isa_fault(Worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void isa_fault(Worker *w, const char *fmt, ...)
{
    if (w->faulted)
        return;
    w->faulted = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->fault, sizeof w->fault, fmt, ap);
    va_end(ap);
}

/* ---- free register views (no instruction) ---- */

static inline uint64_t isa_h4_bits(Half4 v)
{
    return (uint64_t)v.h[0] | (uint64_t)v.h[1] << 16 | (uint64_t)v.h[2] << 32 | (uint64_t)v.h[3] << 48;
}
static inline Half4 isa_bits_h4(uint64_t b)
{
    Half4 v = {{(uint16_t)b, (uint16_t)(b >> 16), (uint16_t)(b >> 32), (uint16_t)(b >> 48)}};
    return v;
}
static inline uint64_t isa_pair(uint32_t lo, uint32_t hi) { return (uint64_t)lo | (uint64_t)hi << 32; }
static inline uint32_t isa_lo32(uint64_t r) { return (uint32_t)r; }
static inline uint32_t isa_hi32(uint64_t r) { return (uint32_t)(r >> 32); }
static inline uint32_t isa_h2_bits(Half2 v) { return (uint32_t)v.h[0] | (uint32_t)v.h[1] << 16; }
static inline Half2 isa_bits_h2(uint32_t b) { Half2 v = {{(uint16_t)b, (uint16_t)(b >> 16)}}; return v; }

/* ---- loads and stores ---- */

static inline int isa_check_addr_(Worker *w, const char *op, const void *p, uintptr_t align)
{
    if (!p) {
        isa_fault(w, "%s: NULL address (tile %d)", op, w->tile);
        return 0;
    }
    if ((uintptr_t)p % align) {
        isa_fault(w, "%s: address %p is not %u-byte aligned (tile %d)", op, p, (unsigned)align, w->tile);
        return 0;
    }
    return 1;
}

/* 16-bit load, zero-extended. */
static inline uint32_t isa_ld16(Worker *w, const void *p)
{
    w->cycles += w->isa->ld16;
    uint16_t v = 0;
    if (isa_check_addr_(w, "ld16", p, 2))
        memcpy(&v, p, 2);
    return v;
}
/* 16-bit load from base + 2 * idx (register-indexed addressing, one issue). */
static inline uint32_t isa_ld16_idx(Worker *w, const void *base, uint32_t idx)
{
    return isa_ld16(w, base ? (const char *)base + 2u * (size_t)idx : NULL);
}
static inline uint32_t isa_ld32(Worker *w, const void *p)
{
    w->cycles += w->isa->ld32;
    uint32_t v = 0;
    if (isa_check_addr_(w, "ld32", p, 4))
        memcpy(&v, p, 4);
    return v;
}
static inline uint64_t isa_ld64(Worker *w, const void *p)
{
    w->cycles += w->isa->ld64;
    uint64_t v = 0;
    if (isa_check_addr_(w, "ld64", p, 8))
        memcpy(&v, p, 8);
    return v;
}
static inline Half4 isa_ld64_h4(Worker *w, const void *p) { return isa_bits_h4(isa_ld64(w, p)); }
/* 128-bit load; the interleaved-region rule is the lowering's guarantee. */
static inline U128 isa_ld128(Worker *w, const void *p)
{
    w->cycles += w->isa->ld128;
    U128 v = {0, 0};
    if (isa_check_addr_(w, "ld128", p, 16)) {
        memcpy(&v.lo, p, 8);
        memcpy(&v.hi, (const char *)p + 8, 8);
    }
    return v;
}
static inline void isa_st32(Worker *w, void *p, uint32_t v)
{
    w->cycles += w->isa->st32;
    if (isa_check_addr_(w, "st32", p, 4))
        memcpy(p, &v, 4);
}
static inline void isa_st64(Worker *w, void *p, uint64_t v)
{
    w->cycles += w->isa->st64;
    if (isa_check_addr_(w, "st64", p, 8))
        memcpy(p, &v, 8);
}
static inline void isa_st64_h4(Worker *w, void *p, Half4 v) { isa_st64(w, p, isa_h4_bits(v)); }

/* ---- integer and bitwise (32-bit unless named 64) ---- */

static inline uint32_t isa_setzi(Worker *w, uint32_t imm) { w->cycles += w->isa->setzi; return imm; }
static inline uint32_t isa_mov(Worker *w, uint32_t a) { w->cycles += w->isa->mov; return a; }
static inline uint32_t isa_add(Worker *w, uint32_t a, uint32_t b) { w->cycles += w->isa->add; return a + b; }
static inline uint32_t isa_sub(Worker *w, uint32_t a, uint32_t b) { w->cycles += w->isa->add; return a - b; }
static inline uint32_t isa_mul(Worker *w, uint32_t a, uint32_t b) { w->cycles += w->isa->mul; return a * b; }
/* Shift counts use the low 5 bits, as a 32-bit shifter does. */
static inline uint32_t isa_shl(Worker *w, uint32_t a, uint32_t n) { w->cycles += w->isa->shl; return a << (n & 31u); }
static inline uint32_t isa_shr(Worker *w, uint32_t a, uint32_t n) { w->cycles += w->isa->shr; return a >> (n & 31u); }
static inline uint32_t isa_and(Worker *w, uint32_t a, uint32_t b) { w->cycles += w->isa->and; return a & b; }
/* a & ~b */
static inline uint32_t isa_andc(Worker *w, uint32_t a, uint32_t b) { w->cycles += w->isa->andc; return a & ~b; }
static inline uint32_t isa_or(Worker *w, uint32_t a, uint32_t b) { w->cycles += w->isa->or; return a | b; }
static inline uint64_t isa_and64(Worker *w, uint64_t a, uint64_t b) { w->cycles += w->isa->and; return a & b; }
static inline uint64_t isa_andc64(Worker *w, uint64_t a, uint64_t b) { w->cycles += w->isa->andc; return a & ~b; }
static inline uint64_t isa_or64(Worker *w, uint64_t a, uint64_t b) { w->cycles += w->isa->or; return a | b; }
/* 1 if a < b (unsigned), else 0. */
static inline uint32_t isa_cmpult(Worker *w, uint32_t a, uint32_t b) { w->cycles += w->isa->cmp; return a < b; }
/* 1 if a == b, else 0. */
static inline uint32_t isa_cmpeq(Worker *w, uint32_t a, uint32_t b) { w->cycles += w->isa->cmp; return a == b; }

/* ---- f16v4: four fp16 lanes, each rounded once ---- */

/* max/min: a NaN operand gives the quiet NaN 0x7e00 (assumption: the IPU's
 * NaN propagation is not documented); -0 and +0 compare equal and give a. */
static inline uint16_t isa_f16max_(uint16_t a, uint16_t b)
{
    if (fp16_isnan(a) || fp16_isnan(b))
        return FP16_QNAN;
    return fp16_to_f32(b) > fp16_to_f32(a) ? b : a;
}
static inline Half4 isa_f16v4add(Worker *w, Half4 a, Half4 b)
{
    w->cycles += w->isa->f16v4add;
    for (int i = 0; i < 4; i++) a.h[i] = fp16_add(a.h[i], b.h[i]);
    return a;
}
static inline Half4 isa_f16v4sub(Worker *w, Half4 a, Half4 b)
{
    w->cycles += w->isa->f16v4sub;
    for (int i = 0; i < 4; i++) a.h[i] = fp16_sub(a.h[i], b.h[i]);
    return a;
}
static inline Half4 isa_f16v4mul(Worker *w, Half4 a, Half4 b)
{
    w->cycles += w->isa->f16v4mul;
    for (int i = 0; i < 4; i++) a.h[i] = fp16_mul(a.h[i], b.h[i]);
    return a;
}
static inline Half4 isa_f16v4max(Worker *w, Half4 a, Half4 b)
{
    w->cycles += w->isa->f16v4max;
    for (int i = 0; i < 4; i++) a.h[i] = isa_f16max_(a.h[i], b.h[i]);
    return a;
}
/* Lane = 0xffff where a < b, else 0 (false for NaN). */
static inline Half4 isa_f16v4cmplt(Worker *w, Half4 a, Half4 b)
{
    w->cycles += w->isa->f16v4cmp;
    for (int i = 0; i < 4; i++) a.h[i] = fp16_to_f32(a.h[i]) < fp16_to_f32(b.h[i]) ? 0xffffu : 0;
    return a;
}
/* Lane = 0xffff where a == b (so +0 == -0, NaN != NaN), else 0. */
static inline Half4 isa_f16v4cmpeq(Worker *w, Half4 a, Half4 b)
{
    w->cycles += w->isa->f16v4cmp;
    for (int i = 0; i < 4; i++) a.h[i] = fp16_to_f32(a.h[i]) == fp16_to_f32(b.h[i]) ? 0xffffu : 0;
    return a;
}

/* ---- f32v2 and scalar fp32 ---- */

/* Hides a value from the optimiser so a*b+c is never contracted to an FMA:
 * the tile rounds the product and the sum separately. */
static inline float isa_round_f32_(float x) { volatile float v = x; return v; }

static inline Float2 isa_f32v2add(Worker *w, Float2 a, Float2 b)
{
    w->cycles += w->isa->f32v2add;
    for (int i = 0; i < 2; i++) a.f[i] = a.f[i] + b.f[i];
    return a;
}
static inline Float2 isa_f32v2sub(Worker *w, Float2 a, Float2 b)
{
    w->cycles += w->isa->f32v2sub;
    for (int i = 0; i < 2; i++) a.f[i] = a.f[i] - b.f[i];
    return a;
}
static inline Float2 isa_f32v2mul(Worker *w, Float2 a, Float2 b)
{
    w->cycles += w->isa->f32v2mul;
    for (int i = 0; i < 2; i++) a.f[i] = a.f[i] * b.f[i];
    return a;
}
/* NaN operand gives NaN; ties give a. */
static inline float isa_f32max_(float a, float b) { return (isnan(a) || isnan(b)) ? NAN : (b > a ? b : a); }
static inline Float2 isa_f32v2max(Worker *w, Float2 a, Float2 b)
{
    w->cycles += w->isa->f32v2max;
    for (int i = 0; i < 2; i++) a.f[i] = isa_f32max_(a.f[i], b.f[i]);
    return a;
}
/* Lane mask: bit i set where a[i] < b[i]. */
static inline uint32_t isa_f32v2cmplt(Worker *w, Float2 a, Float2 b)
{
    w->cycles += w->isa->f32v2cmp;
    return (uint32_t)(a.f[0] < b.f[0]) | (uint32_t)(a.f[1] < b.f[1]) << 1;
}
/* acc + a * b per lane, product and sum each rounded to fp32. */
static inline Float2 isa_f32v2axpy(Worker *w, Float2 acc, Float2 a, Float2 b)
{
    w->cycles += w->isa->f32v2axpy;
    for (int i = 0; i < 2; i++) acc.f[i] = acc.f[i] + isa_round_f32_(a.f[i] * b.f[i]);
    return acc;
}
static inline float isa_f32add(Worker *w, float a, float b) { w->cycles += w->isa->f32add; return a + b; }
static inline float isa_f32sub(Worker *w, float a, float b) { w->cycles += w->isa->f32add; return a - b; }
static inline float isa_f32mul(Worker *w, float a, float b) { w->cycles += w->isa->f32mul; return a * b; }
static inline float isa_f32max(Worker *w, float a, float b) { w->cycles += w->isa->f32max; return isa_f32max_(a, b); }
static inline float isa_f32min(Worker *w, float a, float b)
{
    w->cycles += w->isa->f32max;
    return (isnan(a) || isnan(b)) ? NAN : (b < a ? b : a);
}
/* Correctly rounded (IEEE division and square root). */
static inline float isa_f32div(Worker *w, float a, float b) { w->cycles += w->isa->f32div; return a / b; }
static inline float isa_f32sqrt(Worker *w, float a) { w->cycles += w->isa->f32sqrt; return sqrtf(a); }
/* exp and tanh come from the host libm: deterministic on one build, but not
 * a statement about the tile's own approximation (not public). */
static inline float isa_f32exp(Worker *w, float a) { w->cycles += w->isa->f32exp; return expf(a); }
static inline float isa_f32tanh(Worker *w, float a) { w->cycles += w->isa->f32tanh; return tanhf(a); }

/* ---- conversions ---- */

/* Two fp16 (a 32-bit register, lane 0 low) to two fp32: exact. */
static inline Float2 isa_f16v2tof32(Worker *w, uint32_t h2)
{
    w->cycles += w->isa->f16v2tof32;
    Float2 r = {{fp16_to_f32((uint16_t)h2), fp16_to_f32((uint16_t)(h2 >> 16))}};
    return r;
}
/* Two fp32 to two fp16, round to nearest even (overflow gives Inf). */
static inline uint32_t isa_f32v2tof16(Worker *w, Float2 f)
{
    w->cycles += w->isa->f32v2tof16;
    return (uint32_t)fp16_from_f32(f.f[0]) | (uint32_t)fp16_from_f32(f.f[1]) << 16;
}
static inline float isa_f16tof32(Worker *w, uint32_t h)
{
    w->cycles += w->isa->f16v2tof32;
    return fp16_to_f32((uint16_t)h);
}
static inline uint16_t isa_f32tof16(Worker *w, float f)
{
    w->cycles += w->isa->f32v2tof16;
    return fp16_from_f32(f);
}

/* ---- permutes (32-bit operands; semantics as modelled here) ---- */

/* {a.lo16, b.lo16}: a's low half to bits 15..0, b's low half to 31..16. */
static inline uint32_t isa_sort4x16lo(Worker *w, uint32_t a, uint32_t b)
{
    w->cycles += w->isa->sort4x16lo;
    return (a & 0xffffu) | (b << 16);
}
/* {a.hi16, b.hi16}. */
static inline uint32_t isa_sort4x16hi(Worker *w, uint32_t a, uint32_t b)
{
    w->cycles += w->isa->sort4x16hi;
    return (a >> 16) | (b & 0xffff0000u);
}
/* Bits 47..16 of the 64-bit pair {b:a} (a low): {a.hi16, b.lo16}. */
static inline uint32_t isa_roll16(Worker *w, uint32_t a, uint32_t b)
{
    w->cycles += w->isa->roll16;
    return (a >> 16) | (b << 16);
}
/* Swaps the two bytes of each 16-bit lane. */
static inline uint32_t isa_swap8(Worker *w, uint32_t a)
{
    w->cycles += w->isa->swap8;
    return ((a & 0x00ff00ffu) << 8) | ((a >> 8) & 0x00ff00ffu);
}
/* Bytes interleaved from the low halves: {a.b0, b.b0, a.b1, b.b1} (byte 0 first). */
static inline uint32_t isa_shuf8x8lo(Worker *w, uint32_t a, uint32_t b)
{
    w->cycles += w->isa->shuf8x8lo;
    return (a & 0xffu) | (b & 0xffu) << 8 | ((a >> 8) & 0xffu) << 16 | ((b >> 8) & 0xffu) << 24;
}
/* {a.b2, b.b2, a.b3, b.b3}. */
static inline uint32_t isa_shuf8x8hi(Worker *w, uint32_t a, uint32_t b)
{
    w->cycles += w->isa->shuf8x8hi;
    return ((a >> 16) & 0xffu) | ((b >> 16) & 0xffu) << 8 | ((a >> 24) & 0xffu) << 16 | ((b >> 24) & 0xffu) << 24;
}

/* ---- control ---- */

static inline void isa_rpt(Worker *w) { w->cycles += w->isa->rpt; }
static inline void isa_brnzdec(Worker *w) { w->cycles += w->isa->brnzdec; }
static inline void isa_call(Worker *w) { w->cycles += w->isa->call; }

/* ---- what-if instructions (isa_cost.def ISA_WHATIF) ---- */

/* nibunpack4: the four nibbles of a uint16 (element 0 in bits 15..12, the
 * int4-group order) to four fp16 integers 0..15, element i in lane i. A
 * model fault (result 0) unless isa->nibunpack4_enabled. */
static inline Half4 isa_nibunpack4(Worker *w, uint32_t word)
{
    w->cycles += w->isa->nibunpack4;
    Half4 r = {{0, 0, 0, 0}};
    if (!w->isa->nibunpack4_enabled) {
        isa_fault(w, "nibunpack4: what-if instruction used but isa.nibunpack4.enabled is false (tile %d)", w->tile);
        return r;
    }
    for (unsigned i = 0; i < 4; i++)
        r.h[i] = fp16_from_f32((float)((word >> (12u - 4u * i)) & 0xfu));
    return r;
}

#endif
