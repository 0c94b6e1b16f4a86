/* engine_cost.c - cost of Copy, StreamCopy and collective steps (see engine_cost.h). */
#include "sim/engine_cost.h"

#include <stdlib.h>
#include <string.h>

#include "sim/links.h"

static uint32_t chip_of(const Graph *g, uint32_t tile) { return tile / g->arch.tiles_per_chip; }

static int tensor_live(const Graph *g, int id, const Step *s, const char *role, IpuErr *err, const Tensor **out)
{
    const Tensor *t = graph_tensor(g, id);
    if (!t)
        return ipu_err(err, "step '%s': %s tensor id %d does not exist", s->label, role, id);
    if (t->nmap == 0 && t->elems > 0)
        return ipu_err(err, "step '%s': %s tensor '%s' was freed", s->label, role, t->name);
    *out = t;
    return 0;
}

static int range_ok(const Tensor *t, uint64_t first, uint64_t n, const Step *s, IpuErr *err)
{
    if (first > t->elems || n > t->elems - first)
        return ipu_err(err, "step '%s': elements [%llu, %llu) outside tensor '%s' of %llu", s->label,
                       (unsigned long long)first, (unsigned long long)(first + n), t->name,
                       (unsigned long long)t->elems);
    return 0;
}

/* Exchange: chip time = busiest tile's max(sent, received) / bytes per cycle + latency. */
static void tile_traffic_to_chips(CostScratch *cx, uint64_t *chip_cycles, uint64_t latency)
{
    const IpuArch *a = &cx->g->arch;
    uint32_t tiles = arch_total_tiles(a);
    for (uint32_t t = 0; t < tiles; t++) {
        uint64_t b = cx->tile_a[t] > cx->tile_b[t] ? cx->tile_a[t] : cx->tile_b[t];
        if (!b)
            continue;
        uint64_t c = cost_cycles_ceil((double)b / a->exchange_bytes_per_cycle) + latency;
        uint32_t chip = t / a->tiles_per_chip;
        if (c > chip_cycles[chip])
            chip_cycles[chip] = c;
        cx->tile_a[t] = cx->tile_b[t] = 0;
    }
}

/* Index of the interval of t holding element i (< t->elems). A pair's runs
 * walk the intervals in order, so search forward from hint (the last
 * answer) by galloping; a binary search over all when i lies before it. */
static size_t interval_at(const Tensor *t, uint64_t i, size_t hint)
{
    if (hint >= t->nmap || t->map[hint].begin > i) {
        size_t k;
        graph_tensor_tile_of(t, i, &k);
        return k;
    }
    /* intervals as long as hint's all the way (grains): a direct guess */
    const TileInterval *h = &t->map[hint];
    size_t g = hint + (i - h->begin) / (h->end - h->begin);
    if (g < t->nmap && t->map[g].begin <= i && i < t->map[g].end)
        return g;
    /* gallop forward from hint: map[lo].begin <= i < map[hi].begin (hi = nmap: past the end) */
    size_t lo = hint, hi = hint + 1, step = 1;
    while (hi < t->nmap && t->map[hi].begin <= i) {
        lo = hi;
        step *= 2;
        hi = hi + step < t->nmap ? hi + step : t->nmap;
    }
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->map[mid].begin <= i)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int cost_copy(CostScratch *cx, const Step *s, StepCost *c, IpuErr *err)
{
    size_t si = 0, di = 0; /* interval hints, kept while the tensors stay the same (pairs come in order) */
    for (size_t i = 0; i < s->npairs; i++) {
        const CopyPair *p = &s->pairs[i];
        if (i && p->src != s->pairs[i - 1].src)
            si = 0;
        if (i && p->dst != s->pairs[i - 1].dst)
            di = 0;
        const Tensor *src = NULL, *dst = NULL;
        if (tensor_live(cx->g, p->src, s, "source", err, &src) || tensor_live(cx->g, p->dst, s, "destination", err, &dst))
            return -1;
        if (p->rows == 0)
            return ipu_err(err, "step '%s': copy '%s' -> '%s' has 0 rows", s->label, src->name, dst->name);
        uint64_t last = p->rows - 1;
        if ((p->rows > 1 && (last > (UINT64_MAX - p->src_first) / (p->src_stride ? p->src_stride : 1) ||
                             last > (UINT64_MAX - p->dst_first) / (p->dst_stride ? p->dst_stride : 1))) ||
            range_ok(src, p->src_first + last * p->src_stride, p->n, s, err) ||
            range_ok(dst, p->dst_first + last * p->dst_stride, p->n, s, err))
            return -1;
        if (src->dtype != dst->dtype)
            return ipu_err(err, "step '%s': copy '%s' (%s) -> '%s' (%s): dtypes differ", s->label, src->name,
                           graph_dtype_names[src->dtype], dst->name, graph_dtype_names[dst->dtype]);
        size_t esz = graph_dtype_bytes(src->dtype);
        uint32_t tpc = cx->g->arch.tiles_per_chip;
        /* a run's first intervals: the previous run's plus how far that one moved (exact for grains) */
        size_t s_prev = si, d_prev = di, s_step = 0, d_step = 0;
        for (uint64_t r = 0; r < p->rows && p->n; r++) {
            /* one search per run; inside it the intervals follow one another */
            uint64_t sp = p->src_first + r * p->src_stride, dp = p->dst_first + r * p->dst_stride;
            uint64_t left = p->n;
            size_t sg = s_prev + s_step, dg = d_prev + d_step;
            si = sg < src->nmap && src->map[sg].begin <= sp && sp < src->map[sg].end ? sg : interval_at(src, sp, si);
            di = dg < dst->nmap && dst->map[dg].begin <= dp && dp < dst->map[dg].end ? dg : interval_at(dst, dp, di);
            if (r)
                s_step = si - s_prev, d_step = di - d_prev;
            s_prev = si, d_prev = di;
            uint32_t dlo = dst->map[di].tile / tpc * tpc; /* first tile of the destination's chip */
            for (;;) {
                const TileInterval *sm = &src->map[si], *dm = &dst->map[di];
                uint64_t len = left;
                if (sm->end - sp < len)
                    len = sm->end - sp;
                if (dm->end - dp < len)
                    len = dm->end - dp;
                if (sm->tile != dm->tile) {
                    if (sm->tile - dlo >= tpc || dm->tile - dlo >= tpc)
                        return ipu_err(err,
                                       "step '%s': copy '%s' -> '%s' crosses chips (tile %u on chip %u -> tile %u "
                                       "on chip %u); use a collective",
                                       s->label, src->name, dst->name, sm->tile, chip_of(cx->g, sm->tile), dm->tile,
                                       chip_of(cx->g, dm->tile));
                    cx->tile_a[sm->tile] += len * esz;
                    cx->tile_b[dm->tile] += len * esz;
                    c->bytes += len * esz;
                }
                if (!(left -= len))
                    break;
                sp += len, dp += len;
                si += sp == sm->end;
                if (dp == dm->end && dst->map[++di].tile - dlo >= tpc)
                    dlo = dst->map[di].tile / tpc * tpc;
            }
        }
    }
    tile_traffic_to_chips(cx, c->chip_cycles, cx->g->arch.exchange_latency_cycles);
    return 0;
}

int cost_stream(CostScratch *cx, const Step *s, StepCost *c, IpuErr *err)
{
    const IpuArch *a = &cx->g->arch;
    if (!c->chip_bytes && !(c->chip_bytes = calloc(a->chips, sizeof *c->chip_bytes)))
        return ipu_err(err, "engine: out of host memory");
    if (!c->chip_recv_cycles && !(c->chip_recv_cycles = calloc(a->chips, sizeof *c->chip_recv_cycles)))
        return ipu_err(err, "engine: out of host memory");
    memset(c->chip_bytes, 0, a->chips * sizeof *c->chip_bytes);
    memset(c->chip_recv_cycles, 0, a->chips * sizeof *c->chip_recv_cycles);
    int rc = 0;
    for (size_t i = 0; i < s->nxfers && !rc; i++) {
        const StreamXfer *x = &s->xfers[i];
        const RemoteBuffer *r = graph_remote(cx->g, x->remote);
        const Tensor *t = NULL;
        if (!r) {
            rc = ipu_err(err, "step '%s': remote buffer id %d does not exist", s->label, x->remote);
            break;
        }
        if (tensor_live(cx->g, x->tensor, s, "tile", err, &t) || range_ok(t, x->first, x->n, s, err)) {
            rc = -1;
            break;
        }
        size_t esz = graph_dtype_bytes(t->dtype);
        if (x->remote_offset_bytes > r->bytes || x->n * esz > r->bytes - x->remote_offset_bytes) {
            rc = ipu_err(err, "step '%s': bytes [%llu, %llu) outside remote buffer '%s' of %llu", s->label,
                         (unsigned long long)x->remote_offset_bytes,
                         (unsigned long long)(x->remote_offset_bytes + x->n * esz), r->name,
                         (unsigned long long)r->bytes);
            break;
        }
        size_t ti = 0;
        for (uint64_t k = 0; k < x->n;) {
            ti = interval_at(t, x->first + k, ti);
            uint32_t tile = t->map[ti].tile;
            uint64_t len = t->map[ti].end - (x->first + k);
            if (len > x->n - k)
                len = x->n - k;
            if (chip_of(cx->g, tile) != r->chip) {
                rc = ipu_err(err, "step '%s': tensor '%s' has elements on tile %u (chip %u) but remote buffer '%s' "
                                  "belongs to chip %u",
                             s->label, t->name, tile, chip_of(cx->g, tile), r->name, r->chip);
                break;
            }
            cx->tile_a[tile] += len * esz;
            k += len;
        }
        c->chip_bytes[r->chip] += x->n * esz;
        c->bytes += x->n * esz;
    }
    if (rc) {
        memset(cx->tile_a, 0, arch_total_tiles(a) * sizeof *cx->tile_a);
        return rc;
    }
    /* the busiest tile's receive bounds each chip */
    tile_traffic_to_chips(cx, c->chip_recv_cycles, 0);
    return cost_stream_time(a, c, err);
}

int cost_stream_time(const IpuArch *a, StepCost *c, IpuErr *err)
{
    uint32_t *streaming = calloc(arch_machines(a), sizeof *streaming);
    if (!streaming)
        return ipu_err(err, "engine: out of host memory");
    for (uint32_t ch = 0; ch < a->chips; ch++)
        streaming[ch / a->chips_per_machine] += c->chip_bytes[ch] > 0;
    uint64_t latency = cost_cycles_ceil(a->stream_latency_s * a->clock_hz);
    for (uint32_t ch = 0; ch < a->chips; ch++) {
        c->chip_cycles[ch] = c->chip_recv_cycles[ch];
        if (!c->chip_bytes[ch])
            continue;
        double bw = a->stream_bandwidth_bytes_per_s / streaming[ch / a->chips_per_machine];
        if (bw > a->stream_chip_bandwidth_bytes_per_s)
            bw = a->stream_chip_bandwidth_bytes_per_s;
        uint64_t link = cost_cycles_ceil((double)c->chip_bytes[ch] / bw * a->clock_hz);
        if (link > c->chip_cycles[ch])
            c->chip_cycles[ch] = link;
        c->chip_cycles[ch] += latency;
    }
    free(streaming);
    return 0;
}

int cost_collective(const Graph *g, const Step *s, StepCost *c, IpuErr *err)
{
    const IpuArch *a = &g->arch;
    if (s->ntensors == 0)
        return ipu_err(err, "step '%s': collective over no tensors", s->label);
    const Tensor *t0 = NULL;
    for (size_t i = 0; i < s->ntensors; i++) {
        const Tensor *t = NULL;
        uint32_t chip;
        if (tensor_live(g, s->tensors[i], s, "collective", err, &t))
            return -1;
        if (!graph_tensor_chip(g, t, &chip))
            return ipu_err(err, "step '%s': collective tensor '%s' spans chips; give one tensor per chip", s->label,
                           t->name);
        if (c->chip_cycles[chip] == UINT64_MAX)
            return ipu_err(err, "step '%s': two collective tensors on chip %u ('%s')", s->label, chip, t->name);
        c->chip_cycles[chip] = UINT64_MAX; /* marks the chip taken; set to the cost below */
        if (i == 0)
            t0 = t;
        else if (t->dtype != t0->dtype || t->elems != t0->elems)
            return ipu_err(err, "step '%s': collective tensor '%s' differs from '%s' in dtype or size", s->label,
                           t->name, t0->name);
    }
    if (s->coll != COLL_ALL_GATHER && t0->dtype != DTYPE_FP16 && t0->dtype != DTYPE_FP32)
        return ipu_err(err, "step '%s': reductions need fp16 or fp32 tensors, '%s' is %s", s->label, t0->name,
                       graph_dtype_names[t0->dtype]);
    uint64_t cycles = links_ring_cycles(a, s->coll, s->ntensors, t0->elems * graph_dtype_bytes(t0->dtype), &c->bytes);
    for (uint32_t ch = 0; ch < a->chips; ch++)
        if (c->chip_cycles[ch] == UINT64_MAX)
            c->chip_cycles[ch] = cycles;
    return 0;
}

typedef struct DstSpan {
    int dst;
    uint64_t lo, hi;
} DstSpan;

static int cmp_span(const void *a, const void *b)
{
    const DstSpan *x = a, *y = b;
    if (x->dst != y->dst)
        return x->dst < y->dst ? -1 : 1;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int cost_copy_independent(const Step *s)
{
    size_t n = s->npairs;
    DstSpan *sp = malloc((n ? n : 1) * sizeof *sp);
    int *dsts = malloc((n ? n : 1) * sizeof *dsts);
    if (!sp || !dsts) {
        free(sp), free(dsts);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const CopyPair *p = &s->pairs[i];
        sp[i] = (DstSpan){p->dst, p->dst_first, p->dst_first + (p->rows - 1) * p->dst_stride + p->n};
        dsts[i] = p->dst;
    }
    qsort(sp, n, sizeof *sp, cmp_span);
    qsort(dsts, n, sizeof *dsts, cmp_int);
    int ok = 1;
    for (size_t i = 1; i < n && ok; i++)
        ok = sp[i].dst != sp[i - 1].dst || sp[i].lo >= sp[i - 1].hi;
    for (size_t i = 0; i < n && ok; i++)
        ok = !bsearch(&s->pairs[i].src, dsts, n, sizeof *dsts, cmp_int);
    free(sp), free(dsts);
    return ok;
}

/* A word at a time (the arrays hashed are of 8-byte fields), then the tail. */
static uint64_t sig_mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t step_signature(const Step *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    int head[5] = {(int)s->kind, s->category, (int)s->dir, s->overlap, (int)s->scope};
    h = sig_mix(h, head, sizeof head);
    h = sig_mix(h, &s->coll, sizeof s->coll);
    h = sig_mix(h, &s->npairs, sizeof s->npairs);
    h = sig_mix(h, s->pairs, s->npairs * sizeof *s->pairs);
    h = sig_mix(h, &s->nxfers, sizeof s->nxfers);
    h = sig_mix(h, s->xfers, s->nxfers * sizeof *s->xfers);
    h = sig_mix(h, &s->ntensors, sizeof s->ntensors);
    return sig_mix(h, s->tensors, s->ntensors * sizeof *s->tensors);
}
