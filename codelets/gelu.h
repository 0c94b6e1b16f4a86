/* gelu.h - GELU, tanh approximation (Hugging Face "gelu_new", GPT-J's MLP):
 * y = 0.5 x (1 + tanh(0.7978845608 (x + 0.044715 x^3))).
 *
 * Layout: x, out (n) fp16, n even (pairs of lanes, 4-byte aligned).
 *
 * Rounding (gelu_ref), every op in fp32 and rounded to fp32, in this order:
 *   x2 = x*x; x3 = x2*x; t = 0.044715f*x3; inner = x + t;
 *   u = 0.7978845608f*inner; th = tanhf(u); a = 1 + th; h = 0.5f*x;
 *   out = fp16(h*a).
 * tanhf is the host libm's (isa.h f32tanh), the same in both versions.
 *
 * Cycles (gelu_tile): per pair: ld32, f16v2tof32, 7 f32v2 ops, 2 f32tanh,
 * f32v2tof16, st32; one rpt. Depend only on n.
 *
 * Not here: the fc_in bias (add.h, ADD_OP_BIAS) that precedes it.
 */
#ifndef IPUSIM_GELU_H
#define IPUSIM_GELU_H

#include <stdint.h>

#include "codelets/layer_dtype.h"
#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"

typedef struct GeluArgs {
    const uint16_t *x; /* (n) fp16 */
    uint16_t *out;     /* (n) fp16; may equal x */
    uint32_t n;
} GeluArgs;

void gelu_ref(const GeluArgs *args);
void gelu_tile(Worker *w, const GeluArgs *args);
int gelu_check(const GeluArgs *args, int need_data, IpuErr *err);

/* "gelu.tanh": args GeluArgs. */
extern const VertexType gelu_vertex;

/* The registry entry (codelets/registry.c). */
extern const CodeletFamily codelet_family_gelu;

#endif
