/* gather.h - embedding gather: rows of a table by token id (GPT-J wte).
 *
 * Layout: table (vocab_rows, cols) fp16, the shard of the embedding this
 * tile holds: global rows id_base .. id_base + vocab_rows - 1 (vocabulary-
 * split embedding, as Graphcore's GPT-J); ids (tokens) uint32; out (tokens,
 * cols) fp16. A token whose id is outside the shard gets a row of zeros, so
 * summing the shards' outputs (all-reduce) gives the embedding. cols % 4 == 0,
 * buffers 8-byte aligned. zeros: a (cols) fp16 row of +0 in tile memory (a
 * constant the lowering provides once per tile).
 *
 * Result (gather_ref): a copy, bit for bit; no arithmetic.
 *
 * Cycles (gather_tile): per token ld32 (id), add + 2 cmp + select (address
 * of the row, or of the zero row), then per 4 elements ld64 + st64. The
 * out-of-shard path reads the zero row instead of skipping, so cycles depend
 * only on (tokens, cols), not on the ids.
 *
 * Not here: the all-reduce that sums the shards (sim collectives).
 */
#ifndef IPUSIM_GATHER_H
#define IPUSIM_GATHER_H

#include <stdint.h>

#include "codelets/layer_dtype.h"
#include "base/err.h"
#include "codelets/registry.h"
#include "sim/vertex.h"

typedef struct GatherArgs {
    const uint16_t *table; /* (vocab_rows, cols) fp16 */
    const uint16_t *zeros; /* (cols) fp16 zeros */
    const uint32_t *ids;   /* (tokens) global token ids */
    uint16_t *out;         /* (tokens, cols) fp16 */
    uint32_t vocab_rows, cols, tokens;
    uint32_t id_base;      /* global id of table row 0 */
} GatherArgs;

void gather_ref(const GatherArgs *args);
void gather_tile(Worker *w, const GatherArgs *args);
int gather_check(const GatherArgs *args, int need_data, IpuErr *err);

/* "gather.rows": args GatherArgs. */
extern const VertexType gather_vertex;

/* The registry entry (codelets/registry.c). */
extern const CodeletFamily codelet_family_gather;

#endif
