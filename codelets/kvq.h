/* kvq.h - the KV cache codelets of kv_format i8 and q4g:N: quantizing
 * new keys and values as they are written, and widening the cached V^T
 * blocks for the attention's P x V (the K blocks widen with the weight
 * decompress codelets: codelets/wdec.h's i8, codelets/decompress.h's q4g).
 * Every one is bit-exact with sim/base/kv_quant.h.
 *
 * Quantize (kvq.i8, kvq.q4g): rows (rows, n) fp16, row stride n, n % 8 ==
 * 0, 8-byte aligned; out per row: codes (i8: n bytes; q4g: n/4 words,
 * element 0 in bits 15..12), 4-byte aligned, row stride the same sizes;
 * scales (and q4g's biases) per row padded to an even count of fp16 (i8:
 * 2 per row, the second a copy; q4g: n/group rounded up to even), because
 * the tile stores 32 bits at a time; the Copy into the cache takes only
 * the real ones. Per row the i8 codelet finds the absmax (f16v4max of the
 * values with their sign bit masked, the four lanes folded by a swap and a
 * roll16), the scale and its reciprocal (an f32 multiply, a divide, a
 * select for 0), then per four values: two f16v2tof32, two f32v2mul, the
 * clamp (f32v2max, then f32v2cmplt and a select), two f32v2add of the
 * magic 1.5 x 2^23 + 128 (round half to even; the byte is then the low
 * byte of each lane's bits), two shuf8x8lo and a sort4x16lo to pack them,
 * one st32. q4g does the same per group with a min (the max of the
 * negated values) and a subtraction of the min, and packs nibbles with
 * ands, shifts and ors.
 *
 * V^T widen (kvd.vt_i8, kvd.vt_q4g): a block's V^T codes (hd, sb) - i8:
 * bytes, row d holding position p at byte p; q4g: (hd/4, sb) words, word
 * (d/4, p) holding dims d..d+3 of position p - and the per-position scales
 * (i8: (sb); q4g: (hd/group, sb) scales and biases) into out (hd, sb)
 * fp16, for dims [d0, d0 + rows): out[d][p] = i8_dequant_ref(code,
 * scale[p]) or q4_dequant_ref(nibble d % 4 of word (d/4, p), scale[d /
 * group][p], bias[d / group][p]). Four positions per step: the scales of
 * four positions are one ld64, so every lane gets its own scale.
 *
 * Cycles depend only on the shape (tests/test_kvq.c).
 */
#ifndef IPUSIM_KVQ_H
#define IPUSIM_KVQ_H

#include <stdint.h>

#include "codelets/registry.h"
#include "sim/vertex.h"
#include "sim/worker.h"

typedef struct KvqArgs {
    const uint16_t *x;  /* (rows, n) fp16 */
    void *codes;        /* (rows, n) bytes (i8) or (rows, n/4) words (q4g) */
    uint16_t *scale;    /* (rows, kvq_scale_slots) fp16 */
    uint16_t *bias;     /* q4g: (rows, kvq_scale_slots) fp16; i8: NULL */
    uint32_t rows, n;
    uint32_t group;     /* q4g's group (divides n, % 4 == 0); i8: 0 */
} KvqArgs;

/* Scale (and bias) slots per row: i8 2, q4g n/group rounded up to even. */
uint32_t kvq_scale_slots(uint32_t n, uint32_t group);

void kvq_ref(const KvqArgs *a);       /* sim/base/kv_quant.h row by row; the padding slots as the tile writes them */
void kvq_i8(Worker *w, const KvqArgs *a);
void kvq_q4g(Worker *w, const KvqArgs *a);

typedef struct KvdArgs {
    const void *codes;     /* i8: (hd, sb) bytes; q4g: (hd/4, sb) words; the block's */
    const uint16_t *scale; /* i8: (sb); q4g: (hd/group, sb) */
    const uint16_t *bias;  /* q4g: (hd/group, sb); i8: NULL */
    uint16_t *out;         /* (hd, sb) fp16, the block's */
    uint32_t d0, rows;     /* this vertex's dims [d0, d0 + rows) */
    uint32_t sb;           /* positions, % 4 == 0 */
    uint32_t group;        /* q4g's group; i8: 0 */
} KvdArgs;

void kvd_ref(const KvdArgs *a);
void kvd_vt_i8(Worker *w, const KvdArgs *a);
void kvd_vt_q4g(Worker *w, const KvdArgs *a);

extern const VertexType kvq_i8_vertex, kvq_q4g_vertex, kvd_vt_i8_vertex, kvd_vt_q4g_vertex;

/* Families "kvq" (i8, q4g) and "kvd" (vt_i8, vt_q4g). */
extern const CodeletFamily codelet_family_kvq;
extern const CodeletFamily codelet_family_kvd;

#endif
