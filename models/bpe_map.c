/* bpe_map.c - the byte-string hash map of the tokenizer (see bpe_map.h). */
#include "models/bpe_map.h"

#include <stdlib.h>
#include <string.h>

uint64_t bpe_hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ? h : 1;
}

static int bpe_strmap_alloc(BpeStrMap *m, size_t cap)
{
    m->cap = cap;
    m->n = 0;
    m->hash = calloc(cap, sizeof *m->hash);
    m->key = calloc(cap, sizeof *m->key);
    m->klen = calloc(cap, sizeof *m->klen);
    m->a = calloc(cap, sizeof *m->a);
    m->b = calloc(cap, sizeof *m->b);
    return m->hash && m->key && m->klen && m->a && m->b ? 0 : -1;
}

void bpe_strmap_free(BpeStrMap *m)
{
    if (m->key)
        for (size_t i = 0; i < m->cap; i++)
            free(m->key[i]);
    free(m->hash);
    free(m->key);
    free(m->klen);
    free(m->a);
    free(m->b);
    memset(m, 0, sizeof *m);
}

static size_t bpe_strmap_slot(const BpeStrMap *m, const char *k, size_t n, uint64_t h)
{
    size_t i = (size_t)h & (m->cap - 1);
    while (m->hash[i] && !(m->hash[i] == h && m->klen[i] == n && !memcmp(m->key[i], k, n)))
        i = (i + 1) & (m->cap - 1);
    return i;
}

int bpe_strmap_find(const BpeStrMap *m, const char *k, size_t n, int32_t *a, int32_t *b)
{
    if (!m->cap)
        return 0;
    size_t i = bpe_strmap_slot(m, k, n, bpe_hash_bytes(k, n));
    if (!m->hash[i])
        return 0;
    *a = m->a[i];
    if (b)
        *b = m->b[i];
    return 1;
}

int bpe_strmap_put(BpeStrMap *m, const char *k, size_t n, int32_t a, int32_t b)
{
    if (2 * (m->n + 1) > m->cap) {
        BpeStrMap big;
        if (bpe_strmap_alloc(&big, m->cap ? 2 * m->cap : 1024) < 0) {
            bpe_strmap_free(&big);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->hash[i]) {
                size_t j = bpe_strmap_slot(&big, m->key[i], m->klen[i], m->hash[i]);
                big.hash[j] = m->hash[i];
                big.key[j] = m->key[i];
                big.klen[j] = m->klen[i];
                big.a[j] = m->a[i];
                big.b[j] = m->b[i];
                m->key[i] = NULL;
                big.n++;
            }
        bpe_strmap_free(m);
        *m = big;
    }
    uint64_t h = bpe_hash_bytes(k, n);
    size_t i = bpe_strmap_slot(m, k, n, h);
    if (m->hash[i])
        return 0;
    if (!(m->key[i] = malloc(n ? n : 1)))
        return -1;
    memcpy(m->key[i], k, n);
    m->hash[i] = h;
    m->klen[i] = (uint32_t)n;
    m->a[i] = a;
    m->b[i] = b;
    m->n++;
    return 1;
}
