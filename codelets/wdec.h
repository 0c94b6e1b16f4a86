/* wdec.h - the decompress codelets of the weight formats beyond q4g:
 * s4g, nf4g, nf4g+dq, i8 (i8g and i8c), fp8e4m3 and fp8e5m2 codes to fp16
 * weights on a tile, each variant bit-exact with its format's scalar
 * dequantizer (sim/base/quant_int.h, quant_nf4.h, quant_fp8.h), which
 * wdec_ref applies element by element: the specification.
 *
 * Data layout (one vertex: a contiguous range of whole groups of one
 * tensor block; a group is group_size (n) consecutive weights of a row,
 * n % 4 == 0, 4 <= n <= 4096; i8c and fp8 use one group per row segment,
 * its scale the channel's or the tensor's):
 * - 4-bit formats (s4g, nf4g, nf4g+dq): codes (groups, n/4) uint16 words,
 *   four codes a word, element 0 in bits 15..12; 2-byte aligned, and
 *   4-byte aligned at the range's start when n/4 is even (the variants
 *   that load two words at once rely on it; see wdec_check);
 * - 8-bit formats (i8, fp8e4m3, fp8e5m2): codes (groups, n) bytes, element
 *   0 at the lowest address; 4-byte aligned;
 * - scale (groups) fp16, 2-byte aligned; none for nf4g+dq, whose group g
 *   has the byte qscale[g] (any address; the variants load the aligned
 *   16-bit word holding it, so the byte after the last group must be
 *   readable: the lowering pads each block's bytes to an even count),
 *   and whose tile block keeps its
 *   second level in dq (8-byte aligned): dq[0] the tensor's mean (fp32),
 *   dq[1] a phase (uint32 bits), dq[2 + i] the steps of the 256-group
 *   second-level blocks the tile block touches, in order. A block is
 *   cut into segments of seg_groups groups (a row segment of the matrix);
 *   segment t of the block (t = seg0 + the vertex's own segment index)
 *   starts at flat group phase + t x dq_stride counted from the first
 *   touched second-level block, so it uses step
 *   dq[2 + ((phase + t x dq_stride) >> 8)]; the lowering keeps a segment
 *   inside one second-level block, so a vertex holds whole segments;
 * - out (groups, n) fp16, 8-byte aligned.
 * fp8e4m3's scales are below 256 in magnitude (sim/base/quant_fp8.h: the
 * quantizer's are at most 65504 / 448 = 146.2): its arith variant folds the
 * widening's exact x 2^8 into the scale.
 *
 * Constant tables (the NF4 codebook, the E4M3 widening table) are read
 * from the vertex's code, whose tile memory is the per-tile code
 * reservation; their loads are timed like any other.
 *
 * Cost accounting as in codelets/decompress.h: post-increment addressing
 * is free, an inner loop over a group's words or codes is one isa_rpt, the
 * loops over groups and segments a brnzdec per iteration, constants are
 * set up once per vertex. Cycles depend only on (groups, group_size,
 * seg_groups), never on the data (tests/test_wdec.c checks it).
 *
 * Not here: quantizing (models/), the validation harness
 * (codelets/wdec_validate.h), q4g (codelets/decompress.h).
 */
#ifndef IPUSIM_WDEC_H
#define IPUSIM_WDEC_H

#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"
#include "sim/worker.h"

typedef enum WdecFormat { WDEC_S4G, WDEC_NF4G, WDEC_NF4DQ, WDEC_I8, WDEC_FP8E4M3, WDEC_FP8E5M2, WDEC_FORMATS } WdecFormat;
/* "s4g", "nf4g", "nf4g+dq", "i8", "fp8e4m3", "fp8e5m2" */
extern const char *const wdec_format_names[WDEC_FORMATS];

typedef struct WdecArgs {
    const void *codes;     /* 4-bit: (groups, n/4) uint16 words; 8-bit: (groups, n) bytes */
    const uint16_t *scale; /* (groups) fp16; NULL for nf4g+dq */
    const uint8_t *qscale; /* nf4g+dq: (groups) 8-bit scale codes; else NULL */
    const float *dq;       /* nf4g+dq: the block's {mean, phase, steps...} (see above); else NULL */
    uint16_t *out;         /* (groups, n) fp16, 8-byte aligned */
    uint32_t groups;       /* whole groups in this vertex's range */
    uint32_t group_size;   /* n: weights per group */
    uint32_t seg_groups;   /* nf4g+dq: groups per segment (divides groups); else 0 */
    uint32_t seg0;         /* nf4g+dq: the block's index of this vertex's first segment */
    uint32_t dq_stride;    /* nf4g+dq: flat groups from one segment to the next (the matrix row's groups) */
} WdecArgs;

/* nf4g+dq: the step of the vertex's segment s. */
static inline float wdec_dq_step(const WdecArgs *a, uint32_t s)
{
    uint32_t phase;
    memcpy(&phase, &a->dq[1], 4);
    return a->dq[2 + ((phase + (a->seg0 + s) * a->dq_stride) >> 8)];
}

/* Bits of one code: 4 or 8. */
int wdec_code_bits(WdecFormat f);
/* The format of a weight format's name ("s4g", "nf4g", "i8g", "i8c",
 * "fp8e4m3", "fp8e5m2") and +dq; -1 (and an error naming it) otherwise. */
int wdec_format_find(const char *name, int dq, WdecFormat *out, IpuErr *err);

/* The specification: out[g n + i] = the format's dequantizer of code i of
 * group g with its scale. Host code, not timed. */
void wdec_ref(WdecFormat f, uint16_t *out, const WdecArgs *a);

/* Checks args before a vertex is built: group size, row_elems (the
 * quantized axis) a multiple of it, seg_groups, no NULL buffer when groups
 * > 0, each buffer's alignment. 0 or -1 with a message naming the field. */
int wdec_check(WdecFormat f, const WdecArgs *a, uint64_t row_elems, IpuErr *err);

/* Splits a tile's range into `workers` consecutive ranges of whole groups
 * (whole segments for nf4g+dq, each part's seg0 advanced) whose sizes
 * differ by at most one unit, the first ones larger. Fills
 * parts[0..workers-1]; returns the non-empty ones. */
uint32_t wdec_split(WdecFormat f, const WdecArgs *all, uint32_t workers, WdecArgs *parts);

/* The family of a format: its variants in the registry (the first is the
 * default, the fastest at n = 64). */
const CodeletFamily *wdec_family(WdecFormat f);
/* The format a vertex type decompresses, or -1 if it is none of these. */
int wdec_vertex_format(const VertexType *vt);

/* The E4M3 widening table the fp8e4m3 lut variant loads from: the fp16 of
 * each of the 256 codes (tests compare it with fp8_to_fp16). */
const uint16_t *wdec_e4m3_table(void);

extern const CodeletFamily codelet_family_dec_s4g;
extern const CodeletFamily codelet_family_dec_nf4g;
extern const CodeletFamily codelet_family_dec_nf4dq;
extern const CodeletFamily codelet_family_dec_i8;
extern const CodeletFamily codelet_family_dec_fp8e4m3;
extern const CodeletFamily codelet_family_dec_fp8e5m2;

#endif
