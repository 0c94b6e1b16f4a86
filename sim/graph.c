/* graph.c - tensors, remote buffers, compute sets and vertices (see graph.h). */
#include "sim/graph.h"
#include "sim/layout.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

const char *const graph_dtype_names[DTYPE_COUNT] = {"fp16", "fp32", "u16", "u8", "i32"};

size_t graph_dtype_bytes(GraphDType t)
{
    static const size_t bytes[DTYPE_COUNT] = {2, 4, 2, 1, 4};
    IPU_ASSERT(t < DTYPE_COUNT);
    return bytes[t];
}

/* Grows *arr (of *cap elements of size sz) to hold n + 1. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, c * sz);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* Sorts interval indices by (tile, index): a bottom-up merge sort (stable).
 * -1 when out of host memory. */
static int sort_by_tile(size_t *idx, size_t n, const TileInterval *map)
{
    size_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return -1;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = map[idx[j]].tile < map[idx[i]].tile ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
    free(tmp);
    return 0;
}

Graph *graph_create(const IpuArch *arch, GraphMode mode, IpuErr *err)
{
    if (arch_validate(arch, err))
        return NULL;
    Graph *g = calloc(1, sizeof *g);
    if (!g) {
        ipu_err(err, "graph: out of host memory");
        return NULL;
    }
    g->arch = *arch;
    g->mode = mode;
    g->sram = sram_create(arch_total_tiles(arch), arch->tiles_per_chip, arch->sram_bytes_per_tile);
    g->remote_bytes_per_machine = calloc(arch_machines(arch), sizeof(double));
    if (!g->sram || !g->remote_bytes_per_machine) {
        graph_destroy(g);
        ipu_err(err, "graph: out of host memory");
        return NULL;
    }
    return g;
}

static void tensor_unalloc(Graph *g, Tensor *t)
{
    if (t->placed == TENSOR_IN_SRAM)
        for (size_t b = 0; b < t->nblocks; b++)
            sram_free(g->sram, t->blocks[b].tile, t->blocks[b].offset);
    for (size_t b = 0; b < t->nblocks; b++)
        t->blocks[b].offset = -1;
    graph_tensor_set_offsets(t);
    t->placed = TENSOR_UNPLACED;
}

static int tensor_alloc(Graph *g, Tensor *t, IpuErr *err);

static void tensor_release(Graph *g, Tensor *t)
{
    tensor_unalloc(g, t);
    free(t->map);
    free(t->sram_offset);
    free(t->blocks);
    free(t->block_of);
    free(t->inner);
    free(t->data);
    t->map = NULL;
    t->sram_offset = NULL;
    t->blocks = NULL;
    t->block_of = NULL;
    t->inner = NULL;
    t->data = NULL;
    t->nmap = t->nblocks = 0;
}

void graph_destroy(Graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->ntensors; i++)
        tensor_release(g, &g->tensors[i]);
    free(g->tensors);
    for (size_t i = 0; i < g->nremotes; i++)
        free(g->remotes[i].data);
    free(g->remotes);
    for (size_t i = 0; i < g->ncs; i++) {
        for (size_t j = 0; j < g->cs[i].count; j++)
            free(g->cs[i].v[j].args);
        free(g->cs[i].v);
        free(g->cs[i].uses);
    }
    free(g->cs);
    free(g->remote_bytes_per_machine);
    layout_free(g->layout);
    sram_destroy(g->sram);
    free(g);
}

int graph_add_tensor(Graph *g, const char *name, GraphDType dtype, uint64_t elems, SramCategory cat,
                     const TileInterval *map, size_t nmap, IpuErr *err)
{
    int always = cat == SRAM_WEIGHTS || cat == SRAM_KV_CACHE || cat == SRAM_CODE || cat == SRAM_STACK;
    return graph_add_tensor_life(g, name, dtype, elems, cat, always, map, nmap, err);
}

int graph_add_tensor_life(Graph *g, const char *name, GraphDType dtype, uint64_t elems, SramCategory cat,
                          int always_live, const TileInterval *map, size_t nmap, IpuErr *err)
{
    if (dtype >= DTYPE_COUNT || cat >= SRAM_CATEGORY_COUNT)
        return ipu_err(err, "tensor '%s': bad dtype or SRAM category", name);
    if (strlen(name) >= sizeof g->tensors[0].name)
        return ipu_err(err, "tensor '%s': name longer than %zu characters", name, sizeof g->tensors[0].name - 1);
    uint32_t tiles = arch_total_tiles(&g->arch);
    uint64_t expect = 0;
    for (size_t i = 0; i < nmap; i++) {
        if (map[i].tile >= tiles)
            return ipu_err(err, "tensor '%s': tile %u does not exist (%u chips x %u tiles = %u tiles)", name,
                           map[i].tile, g->arch.chips, g->arch.tiles_per_chip, tiles);
        if (map[i].begin != expect || map[i].end <= map[i].begin)
            return ipu_err(err, "tensor '%s': mapping interval %zu [%llu, %llu) must start at %llu and be non-empty",
                           name, i, (unsigned long long)map[i].begin, (unsigned long long)map[i].end,
                           (unsigned long long)expect);
        expect = map[i].end;
    }
    if (expect != elems)
        return ipu_err(err, "tensor '%s': mapping covers %llu of %llu elements", name, (unsigned long long)expect,
                       (unsigned long long)elems);
    if (grow((void **)&g->tensors, &g->cap_tensors, g->ntensors, sizeof *g->tensors))
        return ipu_err(err, "tensor '%s': out of host memory", name);
    Tensor *t = &g->tensors[g->ntensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dtype;
    t->elems = elems;
    t->cat = cat;
    t->always_live = always_live != 0;
    size_t n1 = nmap ? nmap : 1;
    t->map = malloc(n1 * sizeof *t->map);
    t->sram_offset = malloc(n1 * sizeof *t->sram_offset);
    t->blocks = malloc(n1 * sizeof *t->blocks);
    t->block_of = malloc(n1 * sizeof *t->block_of);
    t->inner = malloc(n1 * sizeof *t->inner);
    size_t *order = malloc(n1 * sizeof *order);
    if (g->mode == GRAPH_FUNCTIONAL)
        t->data = calloc(elems ? elems : 1, graph_dtype_bytes(dtype));
    if (!t->map || !t->sram_offset || !t->blocks || !t->block_of || !t->inner || !order ||
        (g->mode == GRAPH_FUNCTIONAL && !t->data)) {
        free(order);
        tensor_release(g, t);
        return ipu_err(err, "tensor '%s': out of host memory", name);
    }
    memcpy(t->map, map, nmap * sizeof *map);
    t->nmap = nmap;
    for (size_t i = 0; i < nmap; i++)
        order[i] = i, t->sram_offset[i] = -1;
    if (nmap > 1 && sort_by_tile(order, nmap, t->map)) {
        free(order);
        tensor_release(g, t);
        return ipu_err(err, "tensor '%s': out of host memory", name);
    }
    /* The intervals a tile holds are one block: a tensor interleaved over
     * tiles in small grains costs one allocation per tile, not per grain.
     * Each interval starts 8-aligned; the last one's padding is not counted. */
    size_t esz = graph_dtype_bytes(dtype);
    for (size_t a = 0; a < nmap;) {
        uint32_t tile = t->map[order[a]].tile;
        uint64_t bytes = 0;
        for (; a < nmap && t->map[order[a]].tile == tile; a++) {
            bytes = (bytes + 7) / 8 * 8;
            t->block_of[order[a]] = (uint32_t)t->nblocks;
            t->inner[order[a]] = bytes;
            bytes += (t->map[order[a]].end - t->map[order[a]].begin) * esz;
        }
        t->blocks[t->nblocks++] = (TileBlock){tile, bytes, -1};
    }
    free(order);
    g->layout_stale = 1;
    if (t->always_live && tensor_alloc(g, t, err)) {
        tensor_release(g, t);
        return -1;
    }
    return (int)g->ntensors++;
}

int graph_add_tensor_linear(Graph *g, const char *name, GraphDType dtype, uint64_t elems, SramCategory cat,
                            uint32_t first_tile, uint32_t ntiles, uint64_t grain, IpuErr *err)
{
    if (ntiles == 0 || grain == 0)
        return ipu_err(err, "tensor '%s': linear mapping needs ntiles > 0 and grain > 0", name);
    uint64_t grains = (elems + grain - 1) / grain;
    TileInterval *map = malloc(ntiles * sizeof *map);
    if (!map)
        return ipu_err(err, "tensor '%s': out of host memory", name);
    size_t n = 0;
    uint64_t begin = 0;
    for (uint32_t i = 0; i < ntiles && begin < elems; i++) {
        /* tile i gets grains [i*G/n, (i+1)*G/n) */
        uint64_t gend = grains * (i + 1) / ntiles;
        uint64_t end = gend * grain < elems ? gend * grain : elems;
        if (end > begin)
            map[n++] = (TileInterval){begin, end, first_tile + i};
        begin = end;
    }
    int id = graph_add_tensor(g, name, dtype, elems, cat, map, n, err);
    free(map);
    return id;
}

void graph_tensor_set_offsets(Tensor *t)
{
    for (size_t i = 0; i < t->nmap; i++) {
        int64_t off = t->blocks[t->block_of[i]].offset;
        t->sram_offset[i] = off < 0 ? -1 : off + (int64_t)t->inner[i];
    }
}

static int tensor_alloc(Graph *g, Tensor *t, IpuErr *err)
{
    tensor_unalloc(g, t);
    t->placed = TENSOR_IN_SRAM;
    for (size_t b = 0; b < t->nblocks; b++) {
        int64_t off = sram_alloc(g->sram, t->blocks[b].tile, t->blocks[b].bytes, 8, t->cat, t->name, err);
        if (off < 0) {
            for (size_t q = 0; q < b; q++)
                sram_free(g->sram, t->blocks[q].tile, t->blocks[q].offset);
            for (size_t q = 0; q < t->nblocks; q++)
                t->blocks[q].offset = -1;
            t->placed = TENSOR_UNPLACED;
            return -1;
        }
        t->blocks[b].offset = off;
    }
    graph_tensor_set_offsets(t);
    return 0;
}

int graph_tensor_alloc(Graph *g, int id, IpuErr *err)
{
    IPU_ASSERT(id >= 0 && (size_t)id < g->ntensors);
    return tensor_alloc(g, &g->tensors[id], err);
}

void graph_tensor_unplace(Graph *g, int id)
{
    IPU_ASSERT(id >= 0 && (size_t)id < g->ntensors);
    tensor_unalloc(g, &g->tensors[id]);
}

void graph_free_tensor(Graph *g, int id)
{
    IPU_ASSERT(id >= 0 && (size_t)id < g->ntensors);
    tensor_release(g, &g->tensors[id]);
    g->layout_stale = 1;
}

const Tensor *graph_tensor(const Graph *g, int id)
{
    if (id < 0 || (size_t)id >= g->ntensors)
        return NULL;
    return &g->tensors[id];
}

void *graph_tensor_data(Graph *g, int id)
{
    const Tensor *t = graph_tensor(g, id);
    return t ? t->data : NULL;
}

static int check_range(const Graph *g, int id, uint64_t first, uint64_t n, IpuErr *err, const Tensor **out)
{
    const Tensor *t = graph_tensor(g, id);
    if (!t)
        return ipu_err(err, "tensor id %d does not exist", id);
    if (!t->data)
        return ipu_err(err, "tensor '%s': no host data (timing mode or freed)", t->name);
    if (first > t->elems || n > t->elems - first)
        return ipu_err(err, "tensor '%s': elements [%llu, %llu) outside its %llu", t->name,
                       (unsigned long long)first, (unsigned long long)(first + n), (unsigned long long)t->elems);
    *out = t;
    return 0;
}

int graph_tensor_write(Graph *g, int id, uint64_t first, const void *src, uint64_t n, IpuErr *err)
{
    const Tensor *t = NULL;
    if (check_range(g, id, first, n, err, &t))
        return -1;
    size_t esz = graph_dtype_bytes(t->dtype);
    memcpy((char *)t->data + first * esz, src, n * esz);
    return 0;
}

int graph_tensor_read(const Graph *g, int id, uint64_t first, void *dst, uint64_t n, IpuErr *err)
{
    const Tensor *t = NULL;
    if (check_range(g, id, first, n, err, &t))
        return -1;
    size_t esz = graph_dtype_bytes(t->dtype);
    memcpy(dst, (const char *)t->data + first * esz, n * esz);
    return 0;
}

uint32_t graph_tensor_tile_of(const Tensor *t, uint64_t i, size_t *interval)
{
    IPU_ASSERT(i < t->elems && t->nmap > 0);
    size_t lo = 0, hi = t->nmap;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (t->map[mid].begin <= i)
            lo = mid;
        else
            hi = mid;
    }
    if (interval)
        *interval = lo;
    return t->map[lo].tile;
}

int graph_tensor_chip(const Graph *g, const Tensor *t, uint32_t *chip)
{
    if (t->nmap == 0)
        return 0;
    uint32_t c = t->map[0].tile / g->arch.tiles_per_chip;
    for (size_t i = 1; i < t->nmap; i++)
        if (t->map[i].tile / g->arch.tiles_per_chip != c)
            return 0;
    *chip = c;
    return 1;
}

/* Zeroed host memory for a remote buffer's bytes: a large one on 2 MiB
 * boundaries with transparent huge pages asked for. Functional runs write
 * all of it once and stream through it every step: 4 KiB pages would cost
 * a page fault each to fill and a TLB miss each to read. */
static void *remote_alloc(uint64_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t huge = (size_t)2 << 20;
    if (bytes >= huge) {
        void *p = NULL;
        size_t sz = ((size_t)bytes + huge - 1) & ~(huge - 1);
        if (posix_memalign(&p, huge, sz))
            return NULL;
        (void)madvise(p, sz, MADV_HUGEPAGE); /* a hint: refused, nothing changes but the speed */
        memset(p, 0, sz);
        return p;
    }
#endif
    return calloc(bytes ? bytes : 1, 1);
}

int graph_add_remote(Graph *g, const char *name, uint32_t chip, uint64_t bytes, IpuErr *err)
{
    if (chip >= g->arch.chips)
        return ipu_err(err, "remote buffer '%s': chip %u does not exist (%u chips)", name, chip, g->arch.chips);
    uint32_t m = chip / g->arch.chips_per_machine;
    if (g->remote_bytes_per_machine[m] + (double)bytes > g->arch.stream_capacity_bytes)
        return ipu_err(err,
                       "remote buffer '%s' (chip %u): %llu bytes do not fit in machine %u's streaming memory "
                       "(%.0f of %.0f bytes used)",
                       name, chip, (unsigned long long)bytes, m, g->remote_bytes_per_machine[m],
                       g->arch.stream_capacity_bytes);
    if (grow((void **)&g->remotes, &g->cap_remotes, g->nremotes, sizeof *g->remotes))
        return ipu_err(err, "remote buffer '%s': out of host memory", name);
    RemoteBuffer *r = &g->remotes[g->nremotes];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->chip = chip;
    r->bytes = bytes;
    if (g->mode == GRAPH_FUNCTIONAL && !(r->data = remote_alloc(bytes)))
        return ipu_err(err, "remote buffer '%s': out of host memory for %llu bytes", name, (unsigned long long)bytes);
    g->remote_bytes_per_machine[m] += (double)bytes;
    return (int)g->nremotes++;
}

const RemoteBuffer *graph_remote(const Graph *g, int id)
{
    if (id < 0 || (size_t)id >= g->nremotes)
        return NULL;
    return &g->remotes[id];
}

void *graph_remote_data(Graph *g, int id)
{
    const RemoteBuffer *r = graph_remote(g, id);
    return r ? r->data : NULL;
}

int graph_add_compute_set(Graph *g, const char *name, IpuErr *err)
{
    if (grow((void **)&g->cs, &g->cap_cs, g->ncs, sizeof *g->cs))
        return ipu_err(err, "compute set '%s': out of host memory", name);
    ComputeSet *c = &g->cs[g->ncs];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    return (int)g->ncs++;
}

int graph_add_vertex(Graph *g, int cs, uint32_t tile, const VertexType *type, const void *args, IpuErr *err)
{
    if (cs < 0 || (size_t)cs >= g->ncs)
        return ipu_err(err, "compute set id %d does not exist", cs);
    ComputeSet *c = &g->cs[cs];
    if (tile >= arch_total_tiles(&g->arch))
        return ipu_err(err, "compute set '%s': vertex '%s' on tile %u which does not exist (%u chips x %u tiles)",
                       c->name, type->name, tile, g->arch.chips, g->arch.tiles_per_chip);
    if (grow((void **)&c->v, &c->cap, c->count, sizeof *c->v))
        return ipu_err(err, "compute set '%s': out of host memory", c->name);
    void *copy = malloc(type->args_bytes ? type->args_bytes : 1);
    if (!copy)
        return ipu_err(err, "compute set '%s': out of host memory", c->name);
    memcpy(copy, args, type->args_bytes);
    c->v[c->count++] = (Vertex){tile, type, copy};
    return 0;
}

const ComputeSet *graph_compute_set(const Graph *g, int id)
{
    if (id < 0 || (size_t)id >= g->ncs)
        return NULL;
    return &g->cs[id];
}

int graph_cs_use(Graph *g, int cs, int tensor, TensorAccess access, IpuErr *err)
{
    if (cs < 0 || (size_t)cs >= g->ncs)
        return ipu_err(err, "compute set id %d does not exist", cs);
    ComputeSet *c = &g->cs[cs];
    if (tensor < 0 || (size_t)tensor >= g->ntensors)
        return ipu_err(err, "compute set '%s': tensor id %d does not exist", c->name, tensor);
    if (access < ACCESS_READ || access > ACCESS_READ_WRITE)
        return ipu_err(err, "compute set '%s': bad access %d to tensor '%s'", c->name, (int)access,
                       g->tensors[tensor].name);
    size_t lo = 0, hi = c->nuses; /* first use with tensor id >= tensor */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->uses[mid].tensor < tensor)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c->nuses && c->uses[lo].tensor == tensor) {
        c->uses[lo].access |= access;
        g->layout_stale = 1;
        return 0;
    }
    if (grow((void **)&c->uses, &c->cap_uses, c->nuses, sizeof *c->uses))
        return ipu_err(err, "compute set '%s': out of host memory", c->name);
    memmove(c->uses + lo + 1, c->uses + lo, (c->nuses - lo) * sizeof *c->uses);
    c->uses[lo] = (TensorUse){tensor, access};
    c->nuses++;
    g->layout_stale = 1;
    return 0;
}

void graph_tensor_set_always_live(Graph *g, int id, int on)
{
    IPU_ASSERT(id >= 0 && (size_t)id < g->ntensors);
    g->tensors[id].always_live = on != 0;
    g->layout_stale = 1;
}
