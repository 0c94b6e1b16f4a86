/* q4mm_simd.h - private to codelets/q4mm*.c: the shared view of one
 * tile's decompress run and of how a matmul reads it, the scalar rows
 * fallback, and the AVX-512 path (q4mm_simd.c). */
#ifndef IPUSIM_Q4MM_SIMD_H
#define IPUSIM_Q4MM_SIMD_H

#include <stdint.h>

#include "codelets/matmul.h"
#include "sim/vertex.h"

/* One tile's decompress vertices as one run: groups x gs weights written
 * to out (host address, never read here); packed, scale and bias where
 * they can be read (VertexMem). */
typedef struct Q4Run {
    const uint16_t *packed; /* (groups, gs / 4) */
    const uint16_t *scale;  /* (groups) fp16 */
    const uint16_t *bias;   /* (groups) fp16 */
    const uint16_t *out;    /* (groups, gs): the scratch the matmuls read */
    uint64_t groups;
    uint32_t gs;
} Q4Run;

enum { Q4_ROLE_W = 1, Q4_ROLE_A = 2 };

/* How one matmul reads the scratch: weight row i (of rows) is the k
 * elements at out + off + i * xs, which start group (off + i * xs) / gs. */
typedef struct Q4Use {
    int role;         /* 0: not at all; Q4_ROLE_W: its w operand; Q4_ROLE_A: its a operand */
    uint32_t rows, xs;
    uint64_t off;
} Q4Use;

/* Weight rows [row0, row0 + nrows) against tokens [tok0, tok0 + ntok) of
 * matmul p: decoded into a private buffer, then matmul_native. */
void q4mm_scalar_rows(const Q4Run *r, const Q4Use *u, const MatmulArgs *p, LayerDtype t, uint32_t row0, uint32_t nrows,
                      uint32_t tok0, uint32_t ntok, const VertexMem *mem);

/* 1 if the AVX-512 path is compiled in and the CPU has what it needs. */
int q4mm_simd_cpu(void);
/* The whole matmul p on the AVX-512 path (blocks it cannot do exactly go
 * to q4mm_scalar_rows); 0 if the shape is not one it takes (nothing
 * written: the caller runs the scalar path). */
int q4mm_simd_matmul(const Q4Run *r, const Q4Use *u, const MatmulArgs *p, LayerDtype t, const VertexMem *mem);

#endif
