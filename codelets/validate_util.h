/* validate_util.h - what the codelet validation harnesses share
 * (decompress_validate.c, wdec_validate.c): their seeded generator and
 * the cycles of one tile's worth of vertices.
 *
 * Not here: the checks themselves, or printing (host CLI).
 */
#ifndef IPUSIM_VALIDATE_UTIL_H
#define IPUSIM_VALIDATE_UTIL_H

#include <stdint.h>

#include "sim/vertex.h"

/* SplitMix64: the next value of the sequence seeded by *s (deterministic,
 * so a failing seed can be rerun). */
static inline uint64_t validate_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A tile's compute set of vt with one vertex per worker (args[k], NULL for
 * an idle worker), as the engine times it: the longest measure() x workers
 * (the barrel); UINT64_MAX if one faults. */
static inline uint64_t validate_tile_cycles(const VertexType *vt, const IsaCosts *isa, const void *const *args,
                                            uint32_t workers)
{
    uint64_t worst = 0;
    for (uint32_t k = 0; k < workers; k++) {
        if (!args[k])
            continue;
        uint64_t c = vt->measure(isa, args[k]);
        if (c == VERTEX_MEASURE_FAULT)
            return UINT64_MAX;
        worst = c > worst ? c : worst;
    }
    return worst * workers;
}

#endif
