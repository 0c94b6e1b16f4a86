/* footprint.c - conservative scan of vertex args for tensor pointers (see footprint.h). */
#include "sim/footprint.h"

#include <stdlib.h>
#include <string.h>

typedef struct Range {
    uintptr_t lo, hi; /* [lo, hi]: hi is one past the last byte */
    int id;
} Range;

static int range_cmp(const void *a, const void *b)
{
    const Range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int footprint_compute_set(const Graph *g, const ComputeSet *cs, uint8_t *touched)
{
    memset(touched, 0, g->ntensors);
    Range *r = malloc((g->ntensors ? g->ntensors : 1) * sizeof *r);
    if (!r)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < g->ntensors; i++) {
        const Tensor *t = &g->tensors[i];
        if (t->data)
            r[n++] = (Range){(uintptr_t)t->data, (uintptr_t)t->data + t->elems * graph_dtype_bytes(t->dtype), (int)i};
    }
    qsort(r, n, sizeof *r, range_cmp);
    for (size_t v = 0; v < cs->count; v++) {
        const Vertex *vx = &cs->v[v];
        for (size_t off = 0; off + sizeof(uintptr_t) <= vx->type->args_bytes; off += sizeof(uintptr_t)) {
            uintptr_t p;
            memcpy(&p, (const char *)vx->args + off, sizeof p);
            /* buffers do not overlap, so only the last range starting at or
             * below p can contain it (one-past-end pointers may also equal
             * the next buffer's start: mark both) */
            size_t lo = 0, hi = n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (r[mid].lo <= p)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (size_t k = lo; k > 0 && k + 2 > lo; k--)
                if (p >= r[k - 1].lo && p <= r[k - 1].hi)
                    touched[r[k - 1].id] = 1;
        }
    }
    free(r);
    return 0;
}
