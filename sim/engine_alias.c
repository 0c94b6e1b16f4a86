/* engine_alias.c - zero-copy streaming (see engine.h): a StreamCopy to
 * tiles whose tensors the layout says are only read until next written
 * leaves their bytes in the remote buffer; readers that can (fusions
 * through VertexMem, Copy steps) read them there, and everything else
 * copies them home first. */
#include <stdlib.h>
#include <string.h>

#include "sim/engine_priv.h"
#include "sim/layout.h"

void alias_free(Alias *a)
{
    free(a->at), free(a->remote), free(a->done), free(a->ids), free(a->next), free(a->stamp), free(a->base);
    free(a->index);
    memset(a, 0, sizeof *a);
}

static uint64_t tensor_bytes(const Tensor *t) { return t->elems * graph_dtype_bytes(t->dtype); }

/* Per-tensor arrays for n tensors; -1 on no host memory. */
static int alias_grow(Alias *a, size_t n)
{
    if (n <= a->cap)
        return 0;
    const char **at = realloc(a->at, n * sizeof *at);
    if (at)
        a->at = at;
    int *remote = realloc(a->remote, n * sizeof *remote);
    if (remote)
        a->remote = remote;
    uint8_t *done = realloc(a->done, n);
    if (done)
        a->done = done;
    uint64_t *next = realloc(a->next, n * sizeof *next);
    if (next)
        a->next = next;
    uint32_t *stamp = realloc(a->stamp, n * sizeof *stamp);
    if (stamp)
        a->stamp = stamp;
    int64_t *base = realloc(a->base, n * sizeof *base);
    if (base)
        a->base = base;
    int *ids = realloc(a->ids, n * sizeof *ids);
    if (ids)
        a->ids = ids, a->cap_ids = n;
    if (!at || !remote || !done || !next || !stamp || !base || !ids)
        return -1;
    for (size_t i = a->cap; i < n; i++)
        a->at[i] = NULL, a->remote[i] = -1, a->done[i] = 0, a->stamp[i] = 0;
    a->cap = n;
    return 0;
}

void alias_forget(Engine *e, int id)
{
    Alias *a = &e->alias;
    if ((size_t)id >= a->cap || !a->at[id])
        return;
    a->at[id] = NULL, a->done[id] = 0;
    a->stale = 1;
    for (size_t i = 0; i < a->n; i++)
        if (a->ids[i] == id) {
            a->ids[i] = a->ids[--a->n];
            break;
        }
}

/* memcpy in pieces over the threads: a layer's weights are tens of MB. */
static void copy_parallel(char *dst, const char *src, uint64_t bytes)
{
    const uint64_t piece = (uint64_t)1 << 20;
    long n = (long)((bytes + piece - 1) / piece);
#pragma omp parallel for schedule(static) if (n > 4)
    for (long i = 0; i < n; i++) {
        uint64_t o = (uint64_t)i * piece;
        memcpy(dst + o, src + o, bytes - o < piece ? bytes - o : piece);
    }
}

void alias_materialize(Engine *e, int id)
{
    Alias *a = &e->alias;
    if ((size_t)id >= a->cap || !a->at[id])
        return;
    const Tensor *t = graph_tensor(e->g, id);
    if (!a->done[id])
        copy_parallel(t->data, a->at[id], tensor_bytes(t));
    alias_forget(e, id);
}

void alias_materialize_shared(Engine *e, int id)
{
    Alias *a = &e->alias;
    if ((size_t)id >= a->cap || !a->at[id] || __atomic_load_n(&a->done[id], __ATOMIC_ACQUIRE))
        return;
#pragma omp critical
    if (!a->done[id]) {
        const Tensor *t = graph_tensor(e->g, id);
        memcpy(t->data, a->at[id], tensor_bytes(t));
        __atomic_store_n(&a->done[id], 1, __ATOMIC_RELEASE);
    }
}

void alias_settle(Engine *e)
{
    Alias *a = &e->alias;
    for (size_t i = a->n; i > 0; i--)
        if (a->done[a->ids[i - 1]])
            alias_forget(e, a->ids[i - 1]);
}

void alias_materialize_all(Engine *e)
{
    while (e->alias.n)
        alias_materialize(e, e->alias.ids[e->alias.n - 1]);
}

int alias_any_touched(const Engine *e, const uint8_t *touched)
{
    for (size_t i = 0; i < e->alias.n; i++)
        if (touched[e->alias.ids[i]])
            return 1;
    return 0;
}

void alias_materialize_touched(Engine *e, const uint8_t *touched)
{
    for (size_t i = e->alias.n; i > 0; i--)
        if (i <= e->alias.n && touched[e->alias.ids[i - 1]])
            alias_materialize(e, e->alias.ids[i - 1]);
}

const char *alias_data(const Engine *e, int id)
{
    const Alias *a = &e->alias;
    if ((size_t)id < a->cap && a->at[id] && !__atomic_load_n(&a->done[id], __ATOMIC_ACQUIRE))
        return a->at[id];
    return graph_tensor(e->g, id)->data;
}

static int cmp_range(const void *x, const void *y)
{
    const struct AliasRange *a = x, *b = y;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

int alias_index(Engine *e)
{
    Alias *a = &e->alias;
    if (!a->stale)
        return 0;
    if (a->n > a->cap_index) {
        struct AliasRange *r = realloc(a->index, a->n * sizeof *r);
        if (!r)
            return -1;
        a->index = r, a->cap_index = a->n;
    }
    for (size_t i = 0; i < a->n; i++) {
        const Tensor *t = &e->g->tensors[a->ids[i]];
        a->index[i] = (struct AliasRange){t->data, (const char *)t->data + tensor_bytes(t), a->ids[i]};
    }
    qsort(a->index, a->n, sizeof *a->index, cmp_range);
    a->stale = 0;
    return 0;
}

void alias_reader_init(AliasReader *r, const Engine *e)
{
    memset(r, 0, sizeof *r);
    r->e = e;
}

const void *alias_at(const VertexMem *m, const void *p, size_t n)
{
    AliasReader *rd = m->ctx;
    const Alias *a = &rd->e->alias;
    const char *q = p;
    for (unsigned i = 0; i < ALIAS_READER_HITS; i++)
        if (q >= rd->hit[i].lo && q < rd->hit[i].hi) {
            if ((uint64_t)(rd->hit[i].hi - q) < n)
                break; /* a gap too short for the range: look it up */
            return rd->hit[i].to == rd->hit[i].lo ? p : rd->hit[i].to + (q - rd->hit[i].lo);
        }
    IPU_ASSERT(!a->stale || !a->n); /* alias_index ran before the parallel loop */
    size_t lo = 0, hi = a->n; /* the last range starting at or below q */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->index[mid].lo <= q)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || q >= a->index[lo - 1].hi) { /* in no alias: remember the gap (to == lo: as it is) */
        const char *glo = lo ? a->index[lo - 1].hi : NULL, *ghi = lo < a->n ? a->index[lo].lo : (const char *)UINTPTR_MAX;
        if ((uint64_t)(ghi - q) >= n) {
            rd->hit[rd->next % ALIAS_READER_HITS].lo = glo, rd->hit[rd->next % ALIAS_READER_HITS].hi = ghi;
            rd->hit[rd->next++ % ALIAS_READER_HITS].to = glo;
        }
        return p;
    }
    const struct AliasRange *r = &a->index[lo - 1];
    if ((uint64_t)(r->hi - q) < n)
        return NULL; /* a range across tensors: not one slice */
    const char *to = alias_data(rd->e, r->id);
    if (to != r->lo) { /* remembered only while in the remote buffer (a copy home makes it moot) */
        rd->hit[rd->next % ALIAS_READER_HITS].lo = r->lo, rd->hit[rd->next % ALIAS_READER_HITS].hi = r->hi;
        rd->hit[rd->next++ % ALIAS_READER_HITS].to = to;
    }
    return to + (q - r->lo);
}

/* Groups the step's transfers by tensor: a->next[id] ends at the tensor's
 * element count when its transfers cover it from element 0 in order, from
 * one remote buffer at one base (so its bytes lie there contiguously). */
static void group_xfers(Engine *e, const Step *s)
{
    Alias *a = &e->alias;
    int64_t *base = a->base;
    if (++a->now == 0) { /* stamps wrapped: start over */
        memset(a->stamp, 0, a->cap * sizeof *a->stamp);
        a->now = 1;
    }
    for (size_t i = 0; i < s->nxfers; i++) {
        const StreamXfer *x = &s->xfers[i];
        int id = x->tensor;
        size_t esz = graph_dtype_bytes(graph_tensor(e->g, id)->dtype);
        int64_t b = (int64_t)x->remote_offset_bytes - (int64_t)(x->first * esz);
        if (a->stamp[id] != a->now) {
            a->stamp[id] = a->now;
            a->next[id] = 0;
            a->remote[id] = x->remote;
            base[id] = b;
        }
        if (a->next[id] == UINT64_MAX)
            continue;
        if (x->first != a->next[id] || x->remote != a->remote[id] || b != base[id])
            a->next[id] = UINT64_MAX;
        else
            a->next[id] += x->n;
    }
}

int alias_stream(Engine *e, const Step *s)
{
    Alias *a = &e->alias;
    Graph *g = e->g;
    if (s->dir == STREAM_FROM_TILES) {
        for (size_t i = 0; i < s->nxfers; i++) /* the remote buffer changes: its aliases go home first */
            for (size_t k = a->n; k > 0; k--)
                if (k <= a->n && a->remote[a->ids[k - 1]] == s->xfers[i].remote)
                    alias_materialize(e, a->ids[k - 1]);
        for (size_t i = 0; i < s->nxfers; i++) {
            const StreamXfer *x = &s->xfers[i];
            size_t esz = graph_dtype_bytes(graph_tensor(g, x->tensor)->dtype);
            memcpy((char *)graph_remote_data(g, x->remote) + x->remote_offset_bytes,
                   (e->alias.n ? alias_data(e, x->tensor) : (const char *)graph_tensor(g, x->tensor)->data) +
                       x->first * esz,
                   x->n * esz);
        }
        return 0;
    }
    int in_place = engine_fast_on(e, ENGINE_FAST_ZERO_COPY) && e->pos != SIZE_MAX && g->layout &&
                   layout_stream_in_place(g->layout, e->pos);
    if (in_place) {
        if (alias_grow(a, g->ntensors))
            return -1;
        group_xfers(e, s);
    }
    for (size_t i = 0; i < s->nxfers; i++) {
        const StreamXfer *x = &s->xfers[i];
        const Tensor *t = graph_tensor(g, x->tensor);
        size_t esz = graph_dtype_bytes(t->dtype);
        const char *r = (const char *)graph_remote_data(g, x->remote);
        if (in_place && a->next[x->tensor] == t->elems) { /* whole, in order: leave it there */
            if (!a->at[x->tensor])
                a->ids[a->n++] = x->tensor, a->stale = 1;
            a->at[x->tensor] = r + a->base[x->tensor];
            a->done[x->tensor] = 0;
            e->stats.bytes_stream_in_place += x->n * esz;
            continue;
        }
        alias_materialize(e, x->tensor); /* a partial write: the rest must be home */
        memcpy((char *)t->data + x->first * esz, r + x->remote_offset_bytes, x->n * esz);
    }
    return 0;
}
