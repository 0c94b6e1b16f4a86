/* add.h - fp16 elementwise add, add-bias and scale (residual adds, the
 * biases of fc_in / fc_out / lm_head, scaling).
 *
 * Layout: out, a (rows, cols) fp16 row-major; b is (rows, cols) for
 * ADD_OP_ADD and (cols) broadcast over rows for ADD_OP_BIAS; ADD_OP_SCALE
 * multiplies by the fp16 scalar `scale` and ignores b. cols % 4 == 0 and the
 * buffers 8-byte aligned (f16v4 lanes).
 *
 * Rounding (add_ref): one fp16 rounding per element: out = fp16(a + b) or
 * fp16(a * scale) (sim/base/fp16.h fp16_add / fp16_mul). The GPT-J block output
 * x + attn + mlp is two ADD vertices, (x + attn) + mlp.
 *
 * Cycles (add_tile): per 4 elements ld64 a, ld64 b (not for SCALE), one
 * f16v4add / f16v4mul, st64; one rpt per row. Depend only on the shape and op.
 *
 * Not here: fp32 accumulation of many terms (reduce.h).
 */
#ifndef IPUSIM_ADD_H
#define IPUSIM_ADD_H

#include <stdint.h>

#include "codelets/layer_dtype.h"
#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"

typedef enum AddOp {
    ADD_OP_ADD = 0,   /* out = a + b, b (rows, cols) */
    ADD_OP_BIAS = 1,  /* out = a + b[col], b (cols) */
    ADD_OP_SCALE = 2, /* out = a * scale */
} AddOp;

typedef struct AddArgs {
    uint16_t *out;       /* (rows, cols) fp16; may equal a */
    const uint16_t *a;   /* (rows, cols) fp16 */
    const uint16_t *b;   /* (rows, cols) or (cols) fp16; unused for SCALE */
    uint32_t rows, cols;
    AddOp op;
    uint16_t scale;      /* fp16, for ADD_OP_SCALE */
} AddArgs;

void add_ref(const AddArgs *args);
void add_tile(Worker *w, const AddArgs *args);
int add_check(const AddArgs *args, int need_data, IpuErr *err);

/* "add.f16" (op in the args): args AddArgs. */
extern const VertexType add_vertex;

/* The registry entry (codelets/registry.c). */
extern const CodeletFamily codelet_family_add;

#endif
