/* wdec_validate.h - the harness that checks a weight-format decompress
 * variant (codelets/wdec.h) bit for bit against wdec_ref, and measures its
 * cycles per weight.
 *
 * Two kinds of check, both deterministic:
 * - every code: for a 4-bit format all 65536 packed words (every code in
 *   every lane), for an 8-bit one every byte in each of the four positions
 *   of an ld32, each with every edge scale of wdec_edge_scales (nf4g+dq:
 *   every one of the 256 scale bytes with every edge {step, mean} pair);
 * - random: random codes and random finite scales (nf4g+dq: random scale
 *   bytes, mean, phase, first segment, stride and steps) at a given group
 *   size, seeded.
 * A run also fails if the variant's worker faulted (the message is kept).
 *
 * Not here: the variants (codelets/wdec_*.c), printing (host CLI).
 */
#ifndef IPUSIM_WDEC_VALIDATE_H
#define IPUSIM_WDEC_VALIDATE_H

#include <stdint.h>

#include "codelets/wdec.h"
#include "sim/isa_cost.h"
#include "sim/vertex.h"

#define WDEC_MAX_REPORTED 4

typedef struct WdecMismatch {
    uint32_t group, element;  /* within the run */
    uint32_t group_size;
    unsigned code;            /* the code (nibble or byte) */
    uint16_t scale;           /* fp16 scale (not nf4g+dq) */
    unsigned qscale;          /* nf4g+dq: the scale byte */
    float step, mean;         /* nf4g+dq: the segment's step, the mean */
    uint16_t got, want;       /* fp16 bits */
} WdecMismatch;

typedef struct WdecValidation {
    uint64_t checked;         /* weights compared */
    uint64_t mismatches;
    uint32_t reported;
    WdecMismatch first[WDEC_MAX_REPORTED];
    int faulted;
    char fault[192];
} WdecValidation;

/* A scale that exercises one corner of the rounding. */
typedef struct WdecEdgeScale {
    uint16_t scale;
    const char *what;
} WdecEdgeScale;

/* A second level of nf4g+dq: the step of every segment, the mean. */
typedef struct WdecEdgeDq {
    float step, mean;
    const char *what;
} WdecEdgeDq;

/* The edge scales of format f (fp8e4m3: those below 256 in magnitude, its
 * domain); *count gets their number. */
const WdecEdgeScale *wdec_edge_scales(WdecFormat f, uint32_t *count);
extern const WdecEdgeDq wdec_edge_dq[];
extern const uint32_t wdec_edge_dq_count;

void wdec_validation_init(WdecValidation *v);

/* Accumulate into v; 0 if the run matched and did not fault, else -1.
 * every_code: every code with edge index e (a scale, or for nf4g+dq a pair). */
int wdec_validate_every_code(const VertexType *vt, WdecFormat f, const IsaCosts *isa, uint32_t e, WdecValidation *v);
int wdec_validate_random(const VertexType *vt, WdecFormat f, const IsaCosts *isa, uint32_t group_size,
                         uint32_t groups, uint64_t seed, WdecValidation *v);

/* Worker cycles of one worker running `groups` groups (seg_groups per
 * segment for nf4g+dq, else 0), and the tile cycles of tile_groups split
 * over `workers` (wdec_split; the slowest worker x workers). UINT64_MAX if
 * the variant faulted. */
uint64_t wdec_worker_cycles(const VertexType *vt, const IsaCosts *isa, uint32_t group_size, uint32_t groups,
                            uint32_t seg_groups);
uint64_t wdec_tile_cycles(const VertexType *vt, WdecFormat f, const IsaCosts *isa, uint32_t group_size,
                          uint32_t tile_groups, uint32_t seg_groups, uint32_t workers);

#endif
