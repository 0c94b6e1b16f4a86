/* sram.h - the tile SRAM allocator of the always-live bytes: code, stacks
 * and always-live tensors, held for the whole program. The other tensors
 * share the gaps by their live ranges (sim/layout.h), which also gives a
 * tile's peak over the program.
 *
 * One Sram covers all tiles of a system (global tile id = chip *
 * tiles_per_chip + tile). Each allocation has a category (weights,
 * activations, kv cache, code/vertex state, stack, exchange buffers); the
 * allocator keeps current and peak bytes per category per tile, and the peak
 * of the tile's total. An allocation that does not fit fails with an error
 * naming the chip, tile, tensor, bytes needed and bytes free - the simulated
 * equivalent of Poplar's out-of-memory report.
 *
 * It is an address allocator only (first fit, aligned); it holds no data.
 * The bank/region rules of the real tile memory are not modelled.
 */
#ifndef IPUSIM_SRAM_H
#define IPUSIM_SRAM_H

#include <stdint.h>

#include "base/err.h"

typedef enum SramCategory {
    SRAM_WEIGHTS,
    SRAM_ACTIVATIONS,
    SRAM_KV_CACHE,
    SRAM_CODE,      /* code and vertex state */
    SRAM_STACK,
    SRAM_EXCHANGE,  /* exchange / streaming landing buffers */
    SRAM_CATEGORY_COUNT
} SramCategory;

extern const char *const sram_category_names[SRAM_CATEGORY_COUNT];

typedef struct Sram Sram;

/* tiles in total, tiles_per_chip for messages, capacity of each tile. NULL if out of host memory. */
Sram *sram_create(uint32_t tiles, uint32_t tiles_per_chip, uint32_t bytes_per_tile);
void sram_destroy(Sram *s);

/* Allocates bytes aligned to align (a power of two, >= 1) on a tile; returns
 * the byte offset in that tile's SRAM, or -1 with err naming chip, tile,
 * tensor name, bytes needed and bytes free. bytes == 0 is allowed, takes
 * no space and returns the capacity (one past the end). */
int64_t sram_alloc(Sram *s, uint32_t tile, uint64_t bytes, uint32_t align, SramCategory cat, const char *name,
                   IpuErr *err);
/* Frees what sram_alloc returned at offset on tile; an offset that starts no block (a zero-byte allocation) is a no-op. */
void sram_free(Sram *s, uint32_t tile, int64_t offset);

uint32_t sram_tiles(const Sram *s);
uint32_t sram_capacity_bytes(const Sram *s);
uint64_t sram_used_bytes(const Sram *s, uint32_t tile, SramCategory cat);
uint64_t sram_peak_bytes(const Sram *s, uint32_t tile, SramCategory cat);
uint64_t sram_tile_used_bytes(const Sram *s, uint32_t tile);
uint64_t sram_tile_peak_bytes(const Sram *s, uint32_t tile);

/* The tile's allocated blocks, sorted by offset: how many, and block i. */
uint32_t sram_block_count(const Sram *s, uint32_t tile);
void sram_block(const Sram *s, uint32_t tile, uint32_t i, uint64_t *offset, uint64_t *bytes, SramCategory *cat);

#endif
