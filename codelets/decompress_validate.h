/* decompress_validate.h - the harness that checks a decompress variant bit
 * for bit against decompress_q4_ref, and measures its cycles per weight.
 *
 * Two kinds of check, both deterministic:
 * - exhaustive: all 65536 packed words, decompressed with one (scale, bias)
 *   pair (as 64 groups of 4096 weights);
 * - random: random words and random finite (scale, bias) per group, for a
 *   given group size, seeded.
 * A run also fails if the variant's worker faulted (the message is kept).
 *
 * Not here: the variants (codelets/decompress.h), printing (host CLI).
 */
#ifndef IPUSIM_DECOMPRESS_VALIDATE_H
#define IPUSIM_DECOMPRESS_VALIDATE_H

#include <stdint.h>

#include "sim/isa_cost.h"
#include "sim/vertex.h"

#define DQV_MAX_REPORTED 4

typedef struct DecompressQ4Mismatch {
    uint16_t word, scale, bias; /* the inputs */
    uint32_t element;           /* 0..3 within the word */
    uint32_t group_size;
    uint16_t got, want;         /* fp16 bits */
} DecompressQ4Mismatch;

typedef struct DecompressQ4Validation {
    uint64_t checked;           /* weights compared */
    uint64_t mismatches;
    uint32_t reported;          /* first[0..reported-1] */
    DecompressQ4Mismatch first[DQV_MAX_REPORTED];
    int faulted;
    char fault[192];
    uint64_t cycles;            /* worker cycles of the variant runs */
} DecompressQ4Validation;

/* A (scale, bias) pair that exercises one corner of fp16 rounding. */
typedef struct DecompressQ4EdgePair {
    uint16_t scale, bias;
    const char *what;
} DecompressQ4EdgePair;

/* Zero, negative, subnormal/tiny, large and near-overflow scales. */
extern const DecompressQ4EdgePair decompress_q4_edge_pairs[];
extern const uint32_t decompress_q4_edge_pair_count;

/* Zeroes v. */
void decompress_q4_validation_init(DecompressQ4Validation *v);

/* Accumulate into v; return 0 if this run matched and did not fault, else -1. */
int decompress_q4_validate_exhaustive(const VertexType *vt, const IsaCosts *isa, uint16_t scale, uint16_t bias,
                                      DecompressQ4Validation *v);
int decompress_q4_validate_random(const VertexType *vt, const IsaCosts *isa, uint32_t group_size, uint32_t groups,
                                  uint64_t seed, DecompressQ4Validation *v);

/* Worker cycles of one worker running `groups` groups of group_size, and
 * the tile cycles when the same groups x workers are split over `workers`
 * barrel workers (max worker cycles x workers). UINT64_MAX if it faulted. */
uint64_t decompress_q4_worker_cycles(const VertexType *vt, const IsaCosts *isa, uint32_t group_size, uint32_t groups);
uint64_t decompress_q4_tile_cycles(const VertexType *vt, const IsaCosts *isa, uint32_t group_size,
                                   uint32_t tile_groups, uint32_t workers);

#endif
