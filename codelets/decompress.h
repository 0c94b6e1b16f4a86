/* decompress.h - the int4-group decompress codelets: packed 4-bit codes to
 * fp16 weights on a tile, in several variants that all give the bits of
 * decompress_q4_ref.
 *
 * Data layout (sim/base/quant_format.h, Graphcore's format):
 * - a vertex gets a contiguous range of whole groups of one tensor row
 *   block; each group is group_size (n) weights along the quantized axis,
 *   n % 4 == 0, 4 <= n <= 4096, n divides the row;
 * - packed: (groups, n/4) uint16 words, four codes per word, element 0 in
 *   bits 15..12, element 3 in bits 3..0; 2-byte aligned (a vertex range may
 *   start at any word);
 * - scale, bias: (groups) fp16, 2-byte aligned;
 * - out: (groups, n) fp16, 8-byte aligned (each word becomes one st64);
 * - w = fp16(fp16(code * scale) + bias): code * scale is exact in binary32,
 *   rounded once to binary16 (nearest even; may overflow to +-Inf or fall to
 *   a subnormal or zero), then the sum with bias is rounded once more. This
 *   is what an f16v4mul then an f16v4add give; it is not a fused
 *   multiply-add.
 *
 * The graph gives each of a tile's 6 workers ~1/6 of a tile's groups
 * (decompress_q4_split), as Graphcore's graph construction did.
 *
 * Cost accounting common to the variants: address post-increment is part
 * of a load or store (the IPU's ld/st with post-increment), so pointer
 * advances are free; the inner loop over a group's words is a hardware
 * repeat (isa_rpt once per group), the loop over groups a brnzdec per group;
 * constants are set up once per vertex (isa_setzi, isa_mov). The hardware
 * repeat's count limit and body-size rules are not modelled (a real vertex
 * would split a long loop). Every variant's cycles depend only on (groups,
 * group_size), never on the data (fused2 also on the packed buffer's
 * 4-byte alignment, see decompress.c).
 *
 * Not here: quantizing (models/quant.c), the validation harness
 * (codelets/decompress_validate.h).
 */
#ifndef IPUSIM_DECOMPRESS_H
#define IPUSIM_DECOMPRESS_H

#include <stdint.h>

#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"
#include "sim/worker.h"

typedef struct DecompressQ4Args {
    const uint16_t *packed; /* (groups, group_size/4) packed words */
    const uint16_t *scale;  /* (groups) fp16 */
    const uint16_t *bias;   /* (groups) fp16 */
    uint16_t *out;          /* (groups, group_size) fp16, 8-byte aligned */
    uint32_t groups;        /* whole groups in this vertex's range */
    uint32_t group_size;    /* n: weights per group */
} DecompressQ4Args;

/* The scalar specification: out[g*n + i] = q4_dequant_ref(code i of group
 * g, scale[g], bias[g]). Host code, not timed. */
void decompress_q4_ref(uint16_t *out, const uint16_t *packed, const uint16_t *scale,
                       const uint16_t *bias, uint32_t groups, uint32_t group_size);

/* Checks args before a vertex is built: group size (multiple of 4, 4..4096),
 * row_elems (the quantized axis length) a multiple of the group size, no NULL
 * buffer when groups > 0, alignment of each buffer. Returns 0 or -1 with a
 * message naming the field and value. */
int decompress_q4_check(const DecompressQ4Args *a, uint64_t row_elems, IpuErr *err);

/* Splits a tile's range into `workers` consecutive ranges of whole groups
 * whose sizes differ by at most one (the first ones get the extra group).
 * Fills parts[0..workers-1]; returns how many are non-empty. */
uint32_t decompress_q4_split(const DecompressQ4Args *all, uint32_t workers, DecompressQ4Args *parts);

/* The tile variants; args must have passed decompress_q4_check. A bad
 * address becomes a model fault in w, never a host crash. */
void decompress_q4_twopass(Worker *w, const DecompressQ4Args *a);   /* unpack all, then scale+bias */
void decompress_q4_fused(Worker *w, const DecompressQ4Args *a);     /* unpack+scale+bias per word */
void decompress_q4_lut(Worker *w, const DecompressQ4Args *a);       /* 16-entry table per group */
void decompress_q4_nibunpack(Worker *w, const DecompressQ4Args *a); /* what-if nibunpack4 */
void decompress_q4_fused2(Worker *w, const DecompressQ4Args *a);    /* fused, two words per step */

/* The native version (functional fast path): decompress_q4_ref's bits,
 * computed with host SIMD where the build has it; no cycles, no checks
 * (the vertex types' native functions check what run() would fault on). */
void decompress_q4_native(const DecompressQ4Args *a);
/* 1 if vt (a decompress vertex type) would run a natively: what its
 * native() checks before it writes anything (alignment, the what-if
 * instruction of nibunpack: isa may be NULL to leave that out). */
int decompress_q4_native_accepts(const VertexType *vt, const IsaCosts *isa, const DecompressQ4Args *a);

/* The vertex types (args struct DecompressQ4Args). measure() runs the
 * variant on deterministic scratch data of the args' shape and returns its
 * worker cycles, or UINT64_MAX if the run faulted (nibunpack with the
 * what-if instruction disabled). */
extern const VertexType decompress_q4_twopass_vertex;
extern const VertexType decompress_q4_fused_vertex;
extern const VertexType decompress_q4_lut_vertex;
extern const VertexType decompress_q4_nibunpack_vertex;
extern const VertexType decompress_q4_fused2_vertex;

/* Family "decompress" for the registry; "twopass" (Graphcore's) is the default. */
extern const CodeletFamily codelet_family_decompress;

#endif
