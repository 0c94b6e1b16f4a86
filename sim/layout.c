/* layout.c - tile memory with lifetimes (see layout.h). */
#include "sim/layout.h"

#include <stdlib.h>
#include <string.h>

#define LAYOUT_MAX_DEPTH 64

typedef struct Seg {
    uint32_t start, end; /* positions, inclusive */
} Seg;

/* One not-always-live tensor's block on one tile. */
typedef struct TBlock {
    int tensor;
    uint32_t block;      /* index into the tensor's blocks */
    uint64_t bytes;
    uint32_t seg0, nseg; /* the tensor's segments in Layout.segs */
    uint32_t start;      /* its first position (the placement order) */
} TBlock;

typedef struct Event {
    int tensor;
    uint32_t pos;
    unsigned access;
} Event;

struct Layout {
    uint32_t chips, tiles;     /* chips laid out; their tiles [0, tiles) */
    uint32_t *pos_step;        /* (npos) the step at each position */
    size_t npos, cap_pos;
    size_t *root_pos;          /* (nroots + 1) first position of each root */
    int *roots;                /* (nroots) their step ids */
    size_t nroots;
    Seg *segs;                 /* every tensor's segments */
    size_t nsegs;
    uint32_t *tseg0, *tnseg;   /* (ntensors) a tensor's segments; tnseg 0: not laid out among the lives */
    TBlock *blocks;            /* by tile: tile t's are [tile_block[t], tile_block[t + 1]) */
    size_t *tile_block;        /* (tiles + 1) */
    LayoutPeak *peak;          /* (tiles) */
    int *death;                /* tensors whose segment ends at a position: [death_at[p], death_at[p + 1]) */
    size_t *death_at;          /* (npos + 1) */
    uint8_t *in_place;         /* (npos) 1: a StreamCopy to tiles whose tensors are only read until next written */
};

void layout_free(Layout *l)
{
    if (!l)
        return;
    free(l->pos_step), free(l->root_pos), free(l->roots), free(l->segs), free(l->tseg0), free(l->tnseg);
    free(l->blocks), free(l->tile_block), free(l->peak), free(l->death), free(l->death_at), free(l->in_place);
    free(l);
}

/* ---- the walk: positions and the uses at each ---- */

typedef struct Walk {
    const Graph *g;
    const Program *p;
    Layout *l;
    Event *ev;
    size_t nev, cap_ev;
    size_t *last;            /* (ntensors) index + 1 of the tensor's last event */
    IpuErr *err;
} Walk;

static int grow(void **a, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 256;
    void *q = realloc(*a, c * sz);
    if (!q)
        return -1;
    *a = q, *cap = c;
    return 0;
}

static int use(Walk *w, int tensor, unsigned access)
{
    uint32_t pos = (uint32_t)w->l->npos;
    size_t k = w->last[tensor];
    if (k && w->ev[k - 1].pos == pos) { /* the step's second use of the tensor */
        w->ev[k - 1].access |= access;
        return 0;
    }
    if (grow((void **)&w->ev, &w->cap_ev, w->nev, sizeof *w->ev))
        return ipu_err(w->err, "layout: out of host memory");
    w->ev[w->nev++] = (Event){tensor, pos, access};
    w->last[tensor] = w->nev;
    return 0;
}

static int leaf_uses(Walk *w, const Step *s)
{
    int rc = 0;
    switch (s->kind) {
    case STEP_EXECUTE: {
        const ComputeSet *cs = graph_compute_set(w->g, s->cs);
        if (!cs)
            return ipu_err(w->err, "layout: step '%s': compute set id %d does not exist", s->label, s->cs);
        for (size_t i = 0; i < cs->nuses && !rc; i++)
            rc = use(w, cs->uses[i].tensor, cs->uses[i].access);
        break;
    }
    case STEP_COPY:
        for (size_t i = 0; i < s->npairs && !rc; i++)
            rc = use(w, s->pairs[i].src, ACCESS_READ) || use(w, s->pairs[i].dst, ACCESS_WRITE) ? -1 : 0;
        break;
    case STEP_STREAM:
        for (size_t i = 0; i < s->nxfers && !rc; i++)
            rc = use(w, s->xfers[i].tensor, s->dir == STREAM_TO_TILES ? ACCESS_WRITE : ACCESS_READ);
        break;
    case STEP_COLLECTIVE:
        for (size_t i = 0; i < s->ntensors && !rc; i++)
            rc = use(w, s->tensors[i], ACCESS_READ_WRITE);
        break;
    default:
        break;
    }
    return rc;
}

static int check_ids(Walk *w, const Step *s)
{
    size_t nt = w->g->ntensors;
    for (size_t i = 0; i < s->npairs; i++)
        if ((size_t)s->pairs[i].src >= nt || (size_t)s->pairs[i].dst >= nt)
            return ipu_err(w->err, "layout: step '%s': Copy pair %zu names a tensor that does not exist", s->label, i);
    for (size_t i = 0; i < s->nxfers; i++)
        if ((size_t)s->xfers[i].tensor >= nt)
            return ipu_err(w->err, "layout: step '%s': stream transfer %zu names a tensor that does not exist",
                           s->label, i);
    for (size_t i = 0; i < s->ntensors; i++)
        if ((size_t)s->tensors[i] >= nt)
            return ipu_err(w->err, "layout: step '%s': collective names a tensor that does not exist", s->label);
    return 0;
}

static int walk(Walk *w, int id, int depth)
{
    if (depth >= LAYOUT_MAX_DEPTH)
        return ipu_err(w->err, "layout: program nests deeper than %d steps at step %d", LAYOUT_MAX_DEPTH, id);
    if (id < 0 || (size_t)id >= w->p->nsteps)
        return ipu_err(w->err, "layout: step %d does not exist", id);
    const Step *s = &w->p->steps[id];
    if (s->kind == STEP_SEQUENCE) {
        for (size_t i = 0; i < s->nchildren; i++)
            if (walk(w, s->children[i], depth + 1))
                return -1;
        return 0;
    }
    if (s->kind == STEP_REPEAT) {
        if (s->times == 0)
            return 0;
        size_t e0 = w->nev, p0 = w->l->npos;
        if (walk(w, s->body, depth + 1))
            return -1;
        if (s->times == 1 || w->l->npos == p0)
            return 0;
        /* every use inside counts as read + write at both ends of the Repeat */
        uint32_t last = (uint32_t)w->l->npos - 1;
        size_t e1 = w->nev;
        for (size_t i = e0; i < e1; i++) {
            w->ev[i].pos = (uint32_t)p0, w->ev[i].access = ACCESS_READ_WRITE;
            if (grow((void **)&w->ev, &w->cap_ev, w->nev, sizeof *w->ev))
                return ipu_err(w->err, "layout: out of host memory");
            w->ev[w->nev++] = (Event){w->ev[i].tensor, last, ACCESS_READ_WRITE};
        }
        return 0;
    }
    if (check_ids(w, s) || leaf_uses(w, s))
        return -1;
    if (grow((void **)&w->l->pos_step, &w->l->cap_pos, w->l->npos, sizeof *w->l->pos_step))
        return ipu_err(w->err, "layout: out of host memory");
    w->l->pos_step[w->l->npos++] = (uint32_t)id;
    return 0;
}

/* ---- segments ---- */

static size_t root_of(const Layout *l, uint32_t pos)
{
    size_t r = 0;
    while (r + 1 < l->nroots && l->root_pos[r + 1] <= pos)
        r++;
    return r;
}

/* A tensor's events (position order, one per position) into segments; 1 if
 * its value comes from outside a run (first use in a root is a read). */
static int segments(Layout *l, const Event *ev, size_t n, size_t *cap_segs, int *carried)
{
    *carried = 0;
    size_t root = SIZE_MAX;
    int had_read = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = root_of(l, ev[i].pos);
        if (r != root && (ev[i].access & ACCESS_READ)) {
            *carried = 1;
            return 0;
        }
        root = r;
        int open = i > 0;
        if (open && ev[i].access == ACCESS_WRITE && had_read)
            open = 0, had_read = 0;
        if (!open) {
            if (grow((void **)&l->segs, cap_segs, l->nsegs, sizeof *l->segs))
                return -1;
            l->segs[l->nsegs++] = (Seg){ev[i].pos, ev[i].pos};
        }
        l->segs[l->nsegs - 1].end = ev[i].pos;
        had_read |= (ev[i].access & ACCESS_READ) != 0;
    }
    return 0;
}

static int segs_overlap(const Layout *l, const TBlock *a, const TBlock *b)
{
    const Seg *x = &l->segs[a->seg0], *y = &l->segs[b->seg0];
    for (uint32_t i = 0, j = 0; i < a->nseg && j < b->nseg;) { /* both lists are in position order */
        if (x[i].end < y[j].start)
            i++;
        else if (y[j].end < x[i].start)
            j++;
        else
            return 1;
    }
    return 0;
}

/* ---- placement ---- */

typedef struct Range {
    uint64_t lo, hi;
} Range;

static int cmp_range(const void *a, const void *b)
{
    const Range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp_tblock(const void *a, const void *b)
{
    const TBlock *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->tensor < y->tensor ? -1 : x->tensor > y->tensor;
}

/* Bytes live at each position on tile t counting blocks [b0, b1) of it
 * (always-live included) into out (npos). */
static void tile_curve(const Graph *g, const Layout *l, uint32_t t, size_t b0, size_t b1, uint64_t *out)
{
    int64_t *d = (int64_t *)out; /* difference array in place: npos entries suffice, the end is dropped */
    memset(d, 0, l->npos * sizeof *d);
    for (size_t k = b0; k < b1; k++) {
        const TBlock *tb = &l->blocks[k];
        for (uint32_t s = 0; s < tb->nseg; s++) {
            const Seg *sg = &l->segs[tb->seg0 + s];
            d[sg->start] += (int64_t)tb->bytes;
            if (sg->end + 1 < l->npos)
                d[sg->end + 1] -= (int64_t)tb->bytes;
        }
    }
    int64_t run = (int64_t)sram_tile_used_bytes(g->sram, t);
    for (size_t p = 0; p < l->npos; p++) {
        run += d[p];
        out[p] = (uint64_t)run;
    }
}

static int oom(const Graph *g, const Program *p, const Layout *l, uint32_t t, size_t b0, size_t k, IpuErr *err)
{
    const TBlock *tb = &l->blocks[k];
    const Tensor *x = &g->tensors[tb->tensor];
    uint32_t tpc = g->arch.tiles_per_chip, cap = sram_capacity_bytes(g->sram);
    uint64_t *curve = malloc((l->npos ? l->npos : 1) * sizeof *curve);
    if (!curve)
        return ipu_err(err, "layout: out of host memory");
    tile_curve(g, l, t, b0, k + 1, curve);
    size_t at = l->segs[tb->seg0].start; /* fragmentation: where the block starts */
    for (size_t q = 0; q < l->npos; q++)
        if (curve[q] > cap) {
            at = q;
            break;
        }
    const char *why = curve[at] > cap ? "overflows" : "is too fragmented";
    ipu_err(err,
            "out of tile memory at step '%s' (position %zu): chip %u tile %u (global tile %u) %s: tensor '%s' needs "
            "%llu bytes (%s), %llu bytes live there (%llu always-live) of %u",
            p->steps[l->pos_step[at]].label, at, t / tpc, t % tpc, t, why, x->name, (unsigned long long)tb->bytes,
            sram_category_names[x->cat], (unsigned long long)curve[at],
            (unsigned long long)sram_tile_used_bytes(g->sram, t), cap);
    free(curve);
    return -1;
}

/* Places tile t's blocks; ranges is scratch for (always-live + placed) ranges. */
static int place_tile(Graph *g, const Program *p, Layout *l, uint32_t t, Range **ranges, size_t *cap_r, IpuErr *err)
{
    size_t b0 = l->tile_block[t], b1 = l->tile_block[t + 1];
    if (b0 == b1)
        return 0;
    qsort(l->blocks + b0, b1 - b0, sizeof *l->blocks, cmp_tblock);
    uint32_t nfix = sram_block_count(g->sram, t), cap = sram_capacity_bytes(g->sram);
    for (size_t k = b0; k < b1; k++) {
        TBlock *tb = &l->blocks[k];
        size_t n = 0;
        for (uint32_t i = 0; i < nfix; i++) {
            uint64_t off, bytes;
            SramCategory c;
            sram_block(g->sram, t, i, &off, &bytes, &c);
            if (grow((void **)ranges, cap_r, n, sizeof **ranges))
                return ipu_err(err, "layout: out of host memory");
            (*ranges)[n++] = (Range){off, off + bytes};
        }
        for (size_t q = b0; q < k; q++) {
            const TBlock *o = &l->blocks[q];
            if (!o->bytes || !segs_overlap(l, tb, o))
                continue;
            int64_t off = g->tensors[o->tensor].blocks[o->block].offset;
            if (grow((void **)ranges, cap_r, n, sizeof **ranges))
                return ipu_err(err, "layout: out of host memory");
            (*ranges)[n++] = (Range){(uint64_t)off, (uint64_t)off + o->bytes};
        }
        if (n > 1)
            qsort(*ranges, n, sizeof **ranges, cmp_range);
        uint64_t at = 0;
        for (size_t i = 0; i < n && (*ranges)[i].lo < at + tb->bytes; i++)
            if ((*ranges)[i].hi > at)
                at = ((*ranges)[i].hi + 7) / 8 * 8;
        if (tb->bytes && at + tb->bytes > cap)
            return oom(g, p, l, t, b0, k, err);
        g->tensors[tb->tensor].blocks[tb->block].offset = tb->bytes ? (int64_t)at : (int64_t)cap;
    }
    return 0;
}

/* ---- peaks ---- */

typedef struct Delta {
    uint32_t pos;
    int64_t bytes;
} Delta;

static int cmp_delta(const void *a, const void *b)
{
    const Delta *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The tile's peak: a sweep over its blocks' segment starts and ends (not a
 * curve over every position: a program has thousands, a tile a few dozen
 * blocks). d is scratch, grown as needed; -1 on no host memory. */
static int tile_peak(const Graph *g, const Layout *l, uint32_t t, Delta **d, size_t *cap_d, LayoutPeak *pk)
{
    size_t b0 = l->tile_block[t], b1 = l->tile_block[t + 1];
    memset(pk, 0, sizeof *pk);
    pk->tile = t, pk->pos = -1, pk->step = -1;
    uint32_t nfix = sram_block_count(g->sram, t);
    for (uint32_t i = 0; i < nfix; i++) {
        uint64_t off, bytes;
        SramCategory c;
        sram_block(g->sram, t, i, &off, &bytes, &c);
        pk->always[c] += bytes;
        if (off + bytes > pk->top)
            pk->top = off + bytes;
    }
    pk->bytes = sram_tile_used_bytes(g->sram, t);
    if (b0 == b1)
        return 0;
    size_t n = 0;
    for (size_t k = b0; k < b1; k++)
        for (uint32_t s = 0; s < l->blocks[k].nseg; s++) {
            const Seg *sg = &l->segs[l->blocks[k].seg0 + s];
            if (n + 2 > *cap_d && grow((void **)d, cap_d, n + 1, sizeof **d))
                return -1;
            (*d)[n++] = (Delta){sg->start, (int64_t)l->blocks[k].bytes};
            (*d)[n++] = (Delta){sg->end + 1, -(int64_t)l->blocks[k].bytes};
        }
    qsort(*d, n, sizeof **d, cmp_delta);
    int64_t cur = (int64_t)pk->bytes, best = -1;
    for (size_t i = 0; i < n;) { /* the bytes from position (*d)[i].pos on: every delta there applied */
        uint32_t pos = (*d)[i].pos;
        for (; i < n && (*d)[i].pos == pos; i++)
            cur += (*d)[i].bytes;
        if (pos < l->npos && cur > best)
            best = cur, pk->pos = pos;
    }
    pk->bytes = (uint64_t)best;
    pk->step = (int)l->pos_step[pk->pos];
    for (size_t k = b0; k < b1; k++) {
        const TBlock *tb = &l->blocks[k];
        const Tensor *x = &g->tensors[tb->tensor];
        int64_t off = x->blocks[tb->block].offset;
        if (tb->bytes && (uint64_t)off + tb->bytes > pk->top)
            pk->top = (uint64_t)off + tb->bytes;
        for (uint32_t s = 0; s < tb->nseg; s++) {
            const Seg *sg = &l->segs[tb->seg0 + s];
            if (sg->start <= pk->pos && pk->pos <= sg->end)
                pk->live[x->cat] += tb->bytes;
        }
    }
    return 0;
}

/* ---- the whole layout ---- */

static int build_deaths(Layout *l, size_t ntensors)
{
    l->death_at = calloc(l->npos + 1, sizeof *l->death_at);
    if (!l->death_at)
        return -1;
    for (size_t i = 0; i < ntensors; i++)
        for (uint32_t s = 0; s < l->tnseg[i]; s++)
            l->death_at[l->segs[l->tseg0[i] + s].end + 1]++;
    for (size_t q = 0; q < l->npos; q++)
        l->death_at[q + 1] += l->death_at[q];
    l->death = malloc((l->death_at[l->npos] ? l->death_at[l->npos] : 1) * sizeof *l->death);
    size_t *fill = calloc(l->npos + 1, sizeof *fill);
    if (!l->death || !fill) {
        free(fill);
        return -1;
    }
    for (size_t i = 0; i < ntensors; i++) /* tensor order: each position's list is sorted */
        for (uint32_t s = 0; s < l->tnseg[i]; s++) {
            uint32_t e = l->segs[l->tseg0[i] + s].end;
            l->death[l->death_at[e] + fill[e]++] = (int)i;
        }
    free(fill);
    return 0;
}

/* Zero-copy streaming (layout_stream_in_place): a StreamCopy to tiles
 * stays in place unless one of its tensors is written (READ_WRITE, a use
 * that also reads) before its next pure write in the same root's run. ev:
 * one tensor's events in position order (a Repeat's may share a position). */
static void stream_in_place(const Program *p, Layout *l, const Event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Step *st = &p->steps[l->pos_step[ev[i].pos]];
        if (!l->in_place[ev[i].pos] || st->kind != STEP_STREAM || st->dir != STREAM_TO_TILES)
            continue;
        size_t r = root_of(l, ev[i].pos);
        for (size_t k = i + 1; k < n && root_of(l, ev[k].pos) == r; k++) {
            unsigned acc = ev[k].access;
            for (; k + 1 < n && ev[k + 1].pos == ev[k].pos; k++)
                acc |= ev[k + 1].access;
            if (ev[k].pos == ev[i].pos)
                continue; /* the stream's own second transfer */
            if (acc & ACCESS_WRITE) {
                if (acc & ACCESS_READ)
                    l->in_place[ev[i].pos] = 0;
                break;
            }
        }
    }
}

/* 1 if any block of t is on a laid-out tile. */
static int on_laid_tiles(const Layout *l, const Tensor *t)
{
    return t->nblocks && t->blocks[0].tile < l->tiles; /* blocks are sorted by tile */
}

static int lay(Graph *g, const Program *p, Layout *l, const int *roots, IpuErr *err)
{
    size_t nt = g->ntensors;
    Walk w = {g, p, l, NULL, 0, 0, calloc(nt ? nt : 1, sizeof *w.last), err};
    l->tseg0 = calloc(nt ? nt : 1, sizeof *l->tseg0);
    l->tnseg = calloc(nt ? nt : 1, sizeof *l->tnseg);
    size_t *first = calloc(nt + 1, sizeof *first);
    Event *sorted = NULL;
    int rc = !w.last || !l->tseg0 || !l->tnseg || !first ? ipu_err(err, "layout: out of host memory") : 0;
    for (size_t r = 0; r < l->nroots && !rc; r++) {
        l->root_pos[r] = l->npos;
        rc = walk(&w, roots[r], 0);
    }
    l->root_pos[l->nroots] = l->npos;
    /* events by tensor, each tensor's in position order (a stable counting sort) */
    if (!rc && !(sorted = malloc((w.nev ? w.nev : 1) * sizeof *sorted)))
        rc = ipu_err(err, "layout: out of host memory");
    for (size_t i = 0; i < w.nev && !rc; i++)
        first[w.ev[i].tensor + 1]++;
    for (size_t i = 0; i < nt && !rc; i++)
        first[i + 1] += first[i];
    for (size_t i = 0; i < w.nev && !rc; i++)
        sorted[first[w.ev[i].tensor]++] = w.ev[i];
    size_t cap_segs = 0;
    for (size_t i = nt; i > 0 && !rc; i--) /* first[] was advanced past each tensor's events: restore it */
        first[i] = first[i - 1];
    if (!rc)
        first[0] = 0;
    if (!rc && !(l->in_place = malloc(l->npos ? l->npos : 1)))
        rc = ipu_err(err, "layout: out of host memory");
    for (size_t q = 0; q < l->npos && !rc; q++) {
        const Step *st = &p->steps[l->pos_step[q]];
        l->in_place[q] = st->kind == STEP_STREAM && st->dir == STREAM_TO_TILES;
    }
    for (size_t i = 0; i < nt && !rc; i++)
        stream_in_place(p, l, sorted + first[i], first[i + 1] - first[i]);
    for (size_t i = 0; i < nt && !rc; i++) {
        Tensor *t = &g->tensors[i];
        if (!on_laid_tiles(l, t) || t->placed == TENSOR_IN_SRAM)
            continue;
        /* merge each position's events (a Repeat's ends may repeat one) */
        size_t n = 0;
        for (size_t k = first[i]; k < first[i + 1]; k++) {
            if (n && sorted[first[i] + n - 1].pos == sorted[k].pos)
                sorted[first[i] + n - 1].access |= sorted[k].access;
            else
                sorted[first[i] + n++] = sorted[k];
        }
        int carried = 0;
        size_t s0 = l->nsegs;
        if (!t->always_live && n) {
            if (segments(l, sorted + first[i], n, &cap_segs, &carried)) {
                rc = ipu_err(err, "layout: out of host memory");
                break;
            }
        }
        if (t->always_live || !n || carried) { /* held for the whole program */
            l->nsegs = s0;
            rc = graph_tensor_alloc(g, (int)i, err);
            if (rc)
                ipu_err_prefix(err, "always-live (%s)", t->always_live ? "marked" : n ? "read before written in a run"
                                                                                      : "used by no step");
            continue;
        }
        l->tseg0[i] = (uint32_t)s0, l->tnseg[i] = (uint32_t)(l->nsegs - s0);
    }
    free(w.ev), free(w.last), free(sorted), free(first);
    return rc;
}

int layout_graph(Graph *g, const Program *p, const int *roots, size_t nroots, uint32_t chips, IpuErr *err)
{
    if (chips == 0 || chips > g->arch.chips)
        chips = g->arch.chips;
    /* forget the previous layout: not-always-live tensors (and those it made always-live) are unplaced */
    for (size_t i = 0; i < g->ntensors; i++) {
        Tensor *t = &g->tensors[i];
        if (t->placed == TENSOR_LAID_OUT || (t->placed == TENSOR_IN_SRAM && !t->always_live))
            graph_tensor_unplace(g, (int)i);
    }
    layout_free(g->layout);
    g->layout = NULL;
    Layout *l = calloc(1, sizeof *l);
    if (!l || !(l->root_pos = calloc(nroots + 1, sizeof *l->root_pos)) ||
        !(l->roots = malloc((nroots ? nroots : 1) * sizeof *l->roots))) {
        layout_free(l);
        return ipu_err(err, "layout: out of host memory");
    }
    l->chips = chips, l->tiles = chips * g->arch.tiles_per_chip, l->nroots = nroots;
    memcpy(l->roots, roots, nroots * sizeof *roots);
    int rc = lay(g, p, l, roots, err);
    /* blocks by tile (counting sort), placed tile by tile */
    if (!rc && !(l->tile_block = calloc(l->tiles + 1, sizeof *l->tile_block)))
        rc = ipu_err(err, "layout: out of host memory");
    size_t nb = 0;
    for (size_t i = 0; i < g->ntensors && !rc; i++)
        for (size_t b = 0; l->tnseg[i] && b < g->tensors[i].nblocks && g->tensors[i].blocks[b].tile < l->tiles; b++)
            l->tile_block[g->tensors[i].blocks[b].tile + 1]++, nb++;
    for (uint32_t t = 0; t < l->tiles && !rc; t++)
        l->tile_block[t + 1] += l->tile_block[t];
    if (!rc && !(l->blocks = malloc((nb ? nb : 1) * sizeof *l->blocks)))
        rc = ipu_err(err, "layout: out of host memory");
    for (size_t i = 0; i < g->ntensors && !rc; i++) {
        Tensor *t = &g->tensors[i];
        for (size_t b = 0; l->tnseg[i] && b < t->nblocks && t->blocks[b].tile < l->tiles; b++)
            l->blocks[l->tile_block[t->blocks[b].tile]++] =
                (TBlock){(int)i, (uint32_t)b, t->blocks[b].bytes, l->tseg0[i], l->tnseg[i], l->segs[l->tseg0[i]].start};
    }
    for (uint32_t t = l->tiles; t > 0 && !rc; t--)
        l->tile_block[t] = l->tile_block[t - 1];
    if (!rc)
        l->tile_block[0] = 0;
    Range *ranges = NULL;
    size_t cap_r = 0;
    for (uint32_t t = 0; t < l->tiles && !rc; t++)
        rc = place_tile(g, p, l, t, &ranges, &cap_r, err);
    free(ranges);
    for (size_t i = 0; i < g->ntensors && !rc; i++)
        if (l->tnseg[i]) {
            g->tensors[i].placed = TENSOR_LAID_OUT;
            graph_tensor_set_offsets(&g->tensors[i]);
        }
    Delta *d = NULL;
    size_t cap_d = 0;
    if (!rc && (!(l->peak = calloc(l->tiles ? l->tiles : 1, sizeof *l->peak)) || build_deaths(l, g->ntensors)))
        rc = ipu_err(err, "layout: out of host memory");
    for (uint32_t t = 0; t < l->tiles && !rc; t++)
        if (tile_peak(g, l, t, &d, &cap_d, &l->peak[t]))
            rc = ipu_err(err, "layout: out of host memory");
    free(d);
    if (rc) {
        for (size_t i = 0; i < g->ntensors; i++)
            if (g->tensors[i].placed == TENSOR_LAID_OUT || (g->tensors[i].placed == TENSOR_IN_SRAM &&
                                                            !g->tensors[i].always_live))
                graph_tensor_unplace(g, (int)i);
            else if (g->tensors[i].placed == TENSOR_UNPLACED)
                for (size_t b = 0; b < g->tensors[i].nblocks; b++)
                    g->tensors[i].blocks[b].offset = -1;
        layout_free(l);
        g->layout_stale = 1;
        return -1;
    }
    g->layout = l;
    g->layout_stale = 0;
    return 0;
}

/* ---- queries ---- */

size_t layout_positions(const Layout *l) { return l->npos; }
int layout_step_at(const Layout *l, size_t pos) { return pos < l->npos ? (int)l->pos_step[pos] : -1; }
size_t layout_root_pos(const Layout *l, size_t r) { return l->root_pos[r <= l->nroots ? r : l->nroots]; }

int layout_root_index(const Layout *l, int root)
{
    for (size_t r = 0; r < l->nroots; r++)
        if (l->roots[r] == root)
            return (int)r;
    return -1;
}
uint32_t layout_chips(const Layout *l) { return l->chips; }

int layout_tile_peak(const Graph *g, uint32_t tile, LayoutPeak *out)
{
    if (!g->layout || tile >= g->layout->tiles)
        return -1;
    *out = g->layout->peak[tile];
    return 0;
}

uint32_t layout_peak_tile(const Graph *g)
{
    const Layout *l = g->layout;
    uint32_t best = 0;
    for (uint32_t t = 1; l && t < l->tiles; t++)
        if (l->peak[t].bytes > l->peak[best].bytes)
            best = t;
    return best;
}

int layout_tile_curve(const Graph *g, uint32_t tile, uint64_t *out)
{
    const Layout *l = g->layout;
    if (!l || tile >= l->tiles)
        return -1;
    tile_curve(g, l, tile, l->tile_block[tile], l->tile_block[tile + 1], out);
    return 0;
}

int layout_chip_curve(const Graph *g, uint32_t chip, uint64_t *out)
{
    const Layout *l = g->layout;
    if (!l || chip >= l->chips)
        return -1;
    uint64_t *one = malloc((l->npos ? l->npos : 1) * sizeof *one);
    if (!one)
        return -1;
    memset(out, 0, l->npos * sizeof *out);
    uint32_t tpc = g->arch.tiles_per_chip;
    for (uint32_t t = chip * tpc; t < (chip + 1) * tpc; t++) {
        tile_curve(g, l, t, l->tile_block[t], l->tile_block[t + 1], one);
        for (size_t q = 0; q < l->npos; q++)
            out[q] += one[q];
    }
    free(one);
    return 0;
}

int layout_stream_in_place(const Layout *l, size_t pos) { return pos < l->npos && l->in_place[pos]; }

size_t layout_deaths(const Layout *l, size_t pos, const int **ids)
{
    if (pos >= l->npos) {
        *ids = NULL;
        return 0;
    }
    *ids = l->death + l->death_at[pos];
    return l->death_at[pos + 1] - l->death_at[pos];
}

void layout_report(const Graph *g, const Program *p, FILE *f, uint32_t n)
{
    const Layout *l = g->layout;
    if (!l) {
        fprintf(f, "no memory layout\n");
        return;
    }
    uint32_t *top = calloc(n ? n : 1, sizeof *top), have = 0;
    if (!top)
        return;
    for (uint32_t t = 0; t < l->tiles; t++) { /* a sorted top n: larger peak first, lower tile on ties */
        uint32_t at = have;
        while (at > 0 && l->peak[top[at - 1]].bytes < l->peak[t].bytes)
            at--;
        if (at >= n)
            continue;
        uint32_t last = have < n ? have : n - 1;
        memmove(&top[at + 1], &top[at], (last - at) * sizeof *top);
        top[at] = t;
        if (have < n)
            have++;
    }
    uint32_t tpc = g->arch.tiles_per_chip, cap = sram_capacity_bytes(g->sram);
    for (uint32_t i = 0; i < have; i++) {
        const LayoutPeak *pk = &l->peak[top[i]];
        uint32_t t = pk->tile;
        fprintf(f, "chip %u tile %u (global %u): peak %llu of %u bytes (%.1f%%)", t / tpc, t % tpc, t,
                (unsigned long long)pk->bytes, cap, 100.0 * (double)pk->bytes / cap);
        if (pk->pos >= 0)
            fprintf(f, " at step '%s' (position %lld)", p->steps[pk->step].label, (long long)pk->pos);
        fprintf(f, ", highest address %llu\n", (unsigned long long)pk->top);
        for (int c = 0; c < SRAM_CATEGORY_COUNT; c++)
            if (pk->always[c])
                fprintf(f, "  always-live %-12s %10llu\n", sram_category_names[c], (unsigned long long)pk->always[c]);
        for (size_t k = l->tile_block[t]; pk->pos >= 0 && k < l->tile_block[t + 1]; k++) {
            const TBlock *tb = &l->blocks[k];
            for (uint32_t s = 0; s < tb->nseg; s++) {
                const Seg *sg = &l->segs[tb->seg0 + s];
                if (sg->start <= pk->pos && pk->pos <= sg->end)
                    fprintf(f, "  live %-40s %10llu  '%s' .. '%s'\n", g->tensors[tb->tensor].name,
                            (unsigned long long)tb->bytes, p->steps[l->pos_step[sg->start]].label,
                            p->steps[l->pos_step[sg->end]].label);
            }
        }
    }
    free(top);
}
