/* argmax.h - index of the largest element of each row (greedy decoding over
 * the logits of a vocabulary shard).
 *
 * Layout: in (rows, n) fp16 or fp32, n even (pairs of lanes); out_index
 * (rows) uint32 global indices (index_base + column); with want_value,
 * out_value (rows) fp32, the maximum, so the shards' winners can be combined by a second argmax
 * (over fp32 values, index_base 0 and a map back) on one tile or the host.
 *
 * Result (argmax_ref): the first column whose value is the largest; ties go
 * to the lowest index. NaN never wins (comparisons with NaN are false); a row
 * of only NaN and -inf gives column 0 with value -inf.
 *
 * Cycles (argmax_tile): per pair ld32 (fp16; ld64 fp32) [+ f16v2tof32],
 * f32v2cmp, 3 selects (value, two indices); per row a few ops to merge the
 * even and odd lanes. Depend only on (rows, n, in_type, want_value).
 *
 * Not here: sampling other than greedy (no temperature, top-k).
 */
#ifndef IPUSIM_ARGMAX_H
#define IPUSIM_ARGMAX_H

#include <stdint.h>

#include "codelets/layer_dtype.h"
#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"

typedef struct ArgmaxArgs {
    const void *in;        /* (rows, n) of in_type */
    uint32_t *out_index;   /* (rows) */
    float *out_value;      /* (rows), written when want_value */
    uint32_t want_value;   /* 1: also store the maximum (a flag, not out_value != NULL,
                            * because timing mode has no data pointers) */
    uint32_t rows, n;
    uint32_t index_base;   /* added to the column */
    LayerDtype in_type;
} ArgmaxArgs;

void argmax_ref(const ArgmaxArgs *args);
void argmax_tile(Worker *w, const ArgmaxArgs *args);
int argmax_check(const ArgmaxArgs *args, int need_data, IpuErr *err);

/* "argmax.row": args ArgmaxArgs. */
extern const VertexType argmax_vertex;

/* The registry entry (codelets/registry.c). */
extern const CodeletFamily codelet_family_argmax;

#endif
