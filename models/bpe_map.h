/* bpe_map.h - a byte-string -> (int32, int32) hash map, the tokenizer's vocab
 * and word cache (models/bpe.c). Open addressing, keys copied, grows at half
 * full. Not a general container: no removal (free and start again).
 */
#ifndef IPUSIM_BPE_MAP_H
#define IPUSIM_BPE_MAP_H

#include <stddef.h>
#include <stdint.h>

/* Byte string -> (a, b). Keys are copied; hash 0 marks an empty slot. */
typedef struct BpeStrMap {
    uint64_t *hash;
    char **key;
    uint32_t *klen;
    int32_t *a, *b;
    size_t cap, n;
} BpeStrMap;

/* FNV-1a of n bytes, never 0 (0 marks an empty slot). */
uint64_t bpe_hash_bytes(const char *s, size_t n);
/* 1 and (a, b) when key (k, n) is present (b may be NULL), else 0. */
int bpe_strmap_find(const BpeStrMap *m, const char *k, size_t n, int32_t *a, int32_t *b);
/* Returns 1 inserted, 0 already present (unchanged), -1 out of memory. */
int bpe_strmap_put(BpeStrMap *m, const char *k, size_t n, int32_t a, int32_t b);
/* Frees all keys and slots; the map is then empty and reusable. */
void bpe_strmap_free(BpeStrMap *m);

#endif
