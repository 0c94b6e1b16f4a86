/* sram.c - first-fit aligned allocator per tile, with per-category stats (see sram.h). */
#include "sim/sram.h"

#include <stdlib.h>
#include <string.h>

const char *const sram_category_names[SRAM_CATEGORY_COUNT] = {
    "weights", "activations", "kv_cache", "code", "stack", "exchange",
};

typedef struct SramBlock {
    uint64_t offset, bytes;
    SramCategory cat;
} SramBlock;

typedef struct SramTile {
    SramBlock *blocks; /* allocated blocks sorted by offset */
    uint32_t count, cap;
    uint64_t used, peak;
    uint64_t cat_used[SRAM_CATEGORY_COUNT], cat_peak[SRAM_CATEGORY_COUNT];
} SramTile;

struct Sram {
    uint32_t tiles, tiles_per_chip, capacity;
    SramTile *tile;
};

Sram *sram_create(uint32_t tiles, uint32_t tiles_per_chip, uint32_t bytes_per_tile)
{
    Sram *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->tiles = tiles;
    s->tiles_per_chip = tiles_per_chip ? tiles_per_chip : tiles;
    s->capacity = bytes_per_tile;
    s->tile = calloc(tiles ? tiles : 1, sizeof *s->tile);
    if (!s->tile) {
        free(s);
        return NULL;
    }
    return s;
}

void sram_destroy(Sram *s)
{
    if (!s)
        return;
    for (uint32_t t = 0; t < s->tiles; t++)
        free(s->tile[t].blocks);
    free(s->tile);
    free(s);
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }

int64_t sram_alloc(Sram *s, uint32_t tile, uint64_t bytes, uint32_t align, SramCategory cat, const char *name,
                   IpuErr *err)
{
    IPU_ASSERT(align && (align & (align - 1)) == 0);
    IPU_ASSERT(cat < SRAM_CATEGORY_COUNT);
    if (tile >= s->tiles)
        return ipu_err(err, "tensor '%s': tile %u does not exist (%u tiles)", name, tile, s->tiles);
    SramTile *t = &s->tile[tile];
    if (bytes == 0)
        return s->capacity; /* one past the end: never a block's offset, so freeing it is a no-op */
    /* first fit: the gap before block i, then after the last block */
    uint64_t prev_end = 0, largest_gap = 0;
    uint32_t at = t->count;
    uint64_t offset = 0;
    for (uint32_t i = 0; i <= t->count; i++) {
        uint64_t gap_end = i < t->count ? t->blocks[i].offset : s->capacity;
        uint64_t start = align_up(prev_end, align);
        if (gap_end > prev_end && gap_end - prev_end > largest_gap)
            largest_gap = gap_end - prev_end;
        if (start <= gap_end && gap_end - start >= bytes) {
            at = i;
            offset = start;
            break;
        }
        if (i < t->count)
            prev_end = t->blocks[i].offset + t->blocks[i].bytes;
        if (i == t->count)
            at = UINT32_MAX;
    }
    if (at == UINT32_MAX)
        return ipu_err(err,
                       "out of tile memory: chip %u tile %u (global tile %u): tensor '%s' needs %llu bytes (%s, "
                       "align %u), %llu bytes free (largest gap %llu) of %u",
                       tile / s->tiles_per_chip, tile % s->tiles_per_chip, tile, name, (unsigned long long)bytes,
                       sram_category_names[cat], align, (unsigned long long)(s->capacity - t->used),
                       (unsigned long long)largest_gap, s->capacity);
    if (t->count == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 8;
        SramBlock *b = realloc(t->blocks, cap * sizeof *b);
        if (!b)
            return ipu_err(err, "tensor '%s': out of host memory", name);
        t->blocks = b;
        t->cap = cap;
    }
    memmove(&t->blocks[at + 1], &t->blocks[at], (t->count - at) * sizeof *t->blocks);
    t->blocks[at] = (SramBlock){offset, bytes, cat};
    t->count++;
    t->used += bytes;
    if (t->used > t->peak)
        t->peak = t->used;
    t->cat_used[cat] += bytes;
    if (t->cat_used[cat] > t->cat_peak[cat])
        t->cat_peak[cat] = t->cat_used[cat];
    return (int64_t)offset;
}

void sram_free(Sram *s, uint32_t tile, int64_t offset)
{
    IPU_ASSERT(tile < s->tiles);
    SramTile *t = &s->tile[tile];
    uint32_t lo = 0, hi = t->count;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (t->blocks[mid].offset < (uint64_t)offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->count || t->blocks[lo].offset != (uint64_t)offset)
        return; /* a zero-byte allocation has no block */
    t->used -= t->blocks[lo].bytes;
    t->cat_used[t->blocks[lo].cat] -= t->blocks[lo].bytes;
    memmove(&t->blocks[lo], &t->blocks[lo + 1], (t->count - lo - 1) * sizeof *t->blocks);
    t->count--;
}

uint32_t sram_tiles(const Sram *s) { return s->tiles; }
uint32_t sram_capacity_bytes(const Sram *s) { return s->capacity; }
uint64_t sram_used_bytes(const Sram *s, uint32_t tile, SramCategory cat) { return s->tile[tile].cat_used[cat]; }
uint64_t sram_peak_bytes(const Sram *s, uint32_t tile, SramCategory cat) { return s->tile[tile].cat_peak[cat]; }
uint64_t sram_tile_used_bytes(const Sram *s, uint32_t tile) { return s->tile[tile].used; }
uint64_t sram_tile_peak_bytes(const Sram *s, uint32_t tile) { return s->tile[tile].peak; }

uint32_t sram_block_count(const Sram *s, uint32_t tile) { return s->tile[tile].count; }

void sram_block(const Sram *s, uint32_t tile, uint32_t i, uint64_t *offset, uint64_t *bytes, SramCategory *cat)
{
    const SramBlock *b = &s->tile[tile].blocks[i];
    *offset = b->offset, *bytes = b->bytes, *cat = b->cat;
}

