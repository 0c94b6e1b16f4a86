/* rotary.h - GPT-J rotary position embedding ("rotate every two").
 *
 * Layout: x, out (tokens, heads, head_dim) fp16; on each head the first
 * rotary_dim dims hold interleaved pairs (2i, 2i+1), i < rotary_dim/2, each
 * rotated by angle(pos, i) = pos * 10000^(-2i/rotary_dim); dims from
 * rotary_dim on are copied unchanged. head_dim and rotary_dim even,
 * rotary_dim <= head_dim (GPT-J: 256 and 64).
 * table (tokens, rotary_dim/2, 4) fp32: {cos, cos, -sin, sin} per pair, built
 * on the host by rotary_table_ref (angles in double, then rounded to fp32)
 * and kept in tile memory like any constant; 8-byte aligned.
 *
 * Rounding (rotary_ref), with e = x[2i], o = x[2i+1] widened to fp32:
 *   even' = fp16(fl(e*cos) + fl(o*(-sin))), odd' = fp16(fl(o*cos) + fl(e*sin)).
 * (fl(e*cos) + fl(-(o*sin)) equals fl(e*cos) - fl(o*sin) exactly.)
 *
 * Cycles (rotary_tile): per rotated pair ld32, roll16 (swap the two halves),
 * 2 f16v2tof32, 2 ld64 (table), 2 f32v2mul, f32v2add, f32v2tof16, st32; per
 * copied pair ld32 + st32. Depend only on the shape.
 *
 * Not here: computing sin/cos on the tile (the table is a host constant).
 */
#ifndef IPUSIM_ROTARY_H
#define IPUSIM_ROTARY_H

#include <stdint.h>

#include "codelets/layer_dtype.h"
#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"

#define ROTARY_BASE 10000.0

typedef struct RotaryArgs {
    const uint16_t *x;   /* (tokens, heads, head_dim) fp16 */
    const float *table;  /* (tokens, rotary_dim/2, 4) {cos, cos, -sin, sin} */
    uint16_t *out;       /* like x; may equal x */
    uint32_t tokens, heads, head_dim, rotary_dim;
} RotaryArgs;

/* table (tokens, rotary_dim/2, 4) for positions pos0 .. pos0+tokens-1. */
void rotary_table_ref(float *table, uint32_t pos0, uint32_t tokens, uint32_t rotary_dim);
void rotary_ref(const RotaryArgs *args);
void rotary_tile(Worker *w, const RotaryArgs *args);
int rotary_check(const RotaryArgs *args, int need_data, IpuErr *err);

/* "rotary.interleaved": args RotaryArgs. */
extern const VertexType rotary_vertex;

/* The registry entry (codelets/registry.c). */
extern const CodeletFamily codelet_family_rotary;

#endif
