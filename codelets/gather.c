/* gather.c - embedding gather: specification, tile version, vertex type. */
#include "codelets/gather.h"

#include <stdlib.h>
#include <string.h>

#include "codelets/isa_ext.h"
#include "codelets/native_util.h"

void gather_ref(const GatherArgs *p)
{
    for (size_t t = 0; t < p->tokens; t++) {
        uint32_t id = p->ids[t];
        uint16_t *y = p->out + t * p->cols;
        if (id >= p->id_base && id - p->id_base < p->vocab_rows)
            memcpy(y, p->table + (size_t)(id - p->id_base) * p->cols, (size_t)p->cols * 2);
        else
            memset(y, 0, (size_t)p->cols * 2);
    }
}

void gather_tile(Worker *w, const GatherArgs *p)
{
    isa_call(w);
    for (size_t t = 0; t < p->tokens; t++) {
        uint32_t rel = isa_sub(w, isa_ld32(w, p->ids ? p->ids + t : NULL), p->id_base);
        /* unsigned: ids below id_base wrap to large values */
        uint32_t in = isa_cmpult(w, rel, p->vocab_rows);
        const uint16_t *src = in && p->table ? p->table + (size_t)rel * p->cols : p->zeros;
        isa_select32(w, in, 0, 0); /* the address select */
        uint16_t *y = p->out ? p->out + t * p->cols : NULL;
        isa_rpt(w);
        for (size_t c = 0; c < p->cols; c += 4)
            isa_st64(w, y ? y + c : NULL, isa_ld64(w, src ? src + c : NULL));
    }
}

int gather_check(const GatherArgs *p, int need_data, IpuErr *err)
{
    if (!p->vocab_rows || !p->tokens || !p->cols || p->cols % 4)
        return ipu_err(err, "gather: vocab_rows=%u tokens=%u cols=%u: need all > 0 and cols a multiple of 4",
                       p->vocab_rows, p->tokens, p->cols);
    if (need_data && (!p->table || !p->zeros || !p->ids || !p->out))
        return ipu_err(err, "gather: NULL %s pointer",
                       !p->table ? "table" : !p->zeros ? "zeros" : !p->ids ? "ids" : "out");
    return 0;
}

static void run(Worker *w, const void *args) { gather_tile(w, args); }

/* gather_tile's outputs: each token's row (or the zeros) copied. */
static int native(const IsaCosts *isa, const void *args)
{
    const GatherArgs *p = args;
    if (!p->tokens)
        return 0;
    size_t row = (size_t)p->cols * 2, ob = p->tokens * row;
    if (!nat_aligned(p->ids, 4) || !nat_aligned(p->out, 8) || nat_overlap(p->out, ob, p->ids, p->tokens * 4u))
        return -1;
    for (size_t t = 0; t < p->tokens; t++) { /* the sources the tile version would read */
        uint32_t rel = p->ids[t] - p->id_base;
        const uint16_t *src = rel < p->vocab_rows && p->table ? p->table + (size_t)rel * p->cols : p->zeros;
        if (p->cols && (!nat_aligned(src, 8) || nat_overlap(p->out, ob, src, row)))
            return -1;
    }
    for (size_t t = 0; t < p->tokens; t++) {
        uint32_t rel = p->ids[t] - p->id_base;
        const uint16_t *src = rel < p->vocab_rows && p->table ? p->table + (size_t)rel * p->cols : p->zeros;
        memcpy(p->out + t * p->cols, src, row);
    }
    return 0;
}

static uint64_t shape_key(const void *args)
{
    const GatherArgs *p = args;
    return layer_key_mix(layer_key_mix(0, p->tokens), p->cols);
}

static uint64_t measure(const IsaCosts *isa, const void *args)
{
    GatherArgs s = *(const GatherArgs *)args;
    uint16_t *tab = calloc((size_t)s.cols * 2, 2), *y = malloc((size_t)s.tokens * s.cols * 2);
    uint32_t *ids = malloc((size_t)s.tokens * sizeof *ids);
    if (ids)
        for (size_t t = 0; t < s.tokens; t++)
            ids[t] = (uint32_t)(t % 2); /* scratch shard of one row: rows 0 and 1 */
    s.table = tab, s.zeros = tab ? tab + s.cols : NULL, s.ids = ids, s.out = y, s.vocab_rows = 1, s.id_base = 0;
    uint64_t cycles = vertex_measure_run(isa, run, &s);
    free(tab), free(y), free(ids);
    return cycles;
}

const VertexType gather_vertex = {"gather.rows", sizeof(GatherArgs), run, shape_key, measure, native};

static const CodeletVariant variants[] = {
    {"rows", "ld64/st64 copy, data-independent cycles", &gather_vertex},
};
const CodeletFamily codelet_family_gather = {"gather", "embedding rows by token id from a vocabulary shard (zeros outside it)", variants, sizeof variants / sizeof variants[0]};
