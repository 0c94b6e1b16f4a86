/* bpe.c - GPT-2 byte-level BPE: vocabulary loading, encode, decode (see bpe.h). */
#define _GNU_SOURCE /* memmem */
#include "models/bpe.h"
#include "models/bpe_map.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h"

/* The GPT-2 pre-tokenizer: contractions, letters, digits, other symbols,
 * each with an optional leading space; whitespace not followed by a
 * non-space (so "  x" gives " " then " x"); other whitespace. */
static const char bpe_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

#define BPE_MAX_ID (1 << 24)
#define BPE_CACHE_MAX_WORDS 65536

/* ---- pair map --------------------------------------------------------- */

/* (left id, right id) -> (rank, merged id). */
typedef struct BpePairMap {
    uint64_t *key; /* (left << 32 | right) + 1; 0 marks an empty slot */
    int32_t *rank, *merged;
    size_t cap;
} BpePairMap;

static size_t bpe_pair_slot(const BpePairMap *m, uint64_t k)
{
    size_t i = (size_t)((k * 0x9e3779b97f4a7c15ull) >> 20) & (m->cap - 1);
    while (m->key[i] && m->key[i] != k)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static uint64_t bpe_pair_key(int32_t l, int32_t r) { return (((uint64_t)(uint32_t)l << 32) | (uint32_t)r) + 1; }

/* ---- the tokenizer ---------------------------------------------------- */

struct Bpe {
    char vocab_path[BPE_PATH_BYTES], merges_path[BPE_PATH_BYTES];
    uint32_t byte_cp[256];        /* byte -> printable code point */
    int32_t cp_byte[512];         /* code point -> byte, -1 if none; all are < 512 */
    int32_t byte_id[256];         /* id of each one-byte token */
    BpeStrMap vocab;              /* token bytes -> id */
    int32_t nids;                 /* max id + 1 */
    uint32_t *tok_off, *tok_len;  /* (nids) into tok_bytes; tok_len UINT32_MAX = no token */
    char *tok_bytes;
    BpePairMap pairs;
    int32_t eot_id;
    pcre2_code *re;
    pcre2_match_data *md;
    BpeStrMap cache;              /* word bytes -> (offset, count) in cache_ids */
    BpeIds cache_ids;
    int ranks_ordered;            /* every pair using a token ranks after all merges making it */
    BpeIds word;                  /* scratch: the word being merged */
    int32_t *link;                /* scratch: (2, word cap) next and previous position */
    size_t link_cap;
    struct BpeHeapItem *heap;     /* scratch: candidate merges */
    size_t heap_n, heap_cap;
};

static void bpe_byte_table(Bpe *b)
{
    int next = 256;
    for (int i = 0; i < 512; i++)
        b->cp_byte[i] = -1;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff);
        b->byte_cp[c] = printable ? (uint32_t)c : (uint32_t)next++;
        b->cp_byte[b->byte_cp[c]] = c;
    }
}

/* Decodes one UTF-8 sequence at s (valid or not); returns its length, 0 if invalid. */
static size_t bpe_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t min;
    if ((s[0] & 0xe0) == 0xc0) { len = 2; min = 0x80; *cp = s[0] & 0x1fu; }
    else if ((s[0] & 0xf0) == 0xe0) { len = 3; min = 0x800; *cp = s[0] & 0x0fu; }
    else if ((s[0] & 0xf8) == 0xf0) { len = 4; min = 0x10000; *cp = s[0] & 0x07u; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3fu);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return len;
}

int bpe_utf8_check(const char *text, size_t len, size_t *bad_offset)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = bpe_utf8_next(s + i, len - i, &cp);
        if (!k) {
            if (bad_offset)
                *bad_offset = i;
            return -1;
        }
        i += k;
    }
    return 0;
}

/* A vocab/merges string in the printable alphabet -> bytes (out has room for n). */
static int bpe_unmap(const Bpe *b, const char *s, size_t n, char *out, size_t *out_len, uint32_t *bad_cp)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t k = bpe_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (!k || cp >= 512 || b->cp_byte[cp] < 0) {
            *bad_cp = k ? cp : 0xfffd;
            return -1;
        }
        out[o++] = (char)b->cp_byte[cp];
        i += k;
    }
    *out_len = o;
    return 0;
}

/* The vocabulary files are about 1 MB; anything past this is not one. */
#define BPE_FILE_MAX_BYTES (64u << 20)

static char *bpe_read_file(const char *path, size_t *len, IpuErr *e)
{
    char *text;
    return fileio_read(path, "vocabulary file", BPE_FILE_MAX_BYTES, &text, len, e) ? NULL : text;
}

/* The first pass over a vocab file's object: every id an integer in range;
 * the largest id and the total bytes of the token strings. */
static int vocab_scan(const cJSON *root, const char *path, int32_t *max_id, size_t *bytes_total, IpuErr *e)
{
    if (!cJSON_IsObject(root))
        return ipu_err(e, "vocab file '%s': expected a JSON object {\"token\": id, ...}", path);
    *max_id = -1, *bytes_total = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        double v = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (!cJSON_IsNumber(it) || v < 0 || v >= BPE_MAX_ID || v != (double)(int32_t)v)
            return ipu_err(e, "vocab file '%s': token \"%.60s\" has id %s, not an integer in 0..%d", path, it->string,
                           cJSON_IsNumber(it) ? "out of range" : "of the wrong type", BPE_MAX_ID - 1);
        if ((int32_t)v > *max_id)
            *max_id = (int32_t)v;
        *bytes_total += strlen(it->string);
    }
    if (*max_id < 0)
        return ipu_err(e, "vocab file '%s': no tokens", path);
    return 0;
}

/* One vocab entry (checked by vocab_scan) into b: its bytes (through tmp)
 * at *used in tok_bytes, and the vocab map. */
static int vocab_add(Bpe *b, const char *path, const cJSON *it, char *tmp, size_t *used, IpuErr *e)
{
    int32_t id = (int32_t)it->valuedouble;
    size_t n;
    uint32_t cp;
    if (bpe_unmap(b, it->string, strlen(it->string), tmp, &n, &cp) < 0)
        return ipu_err(e, "vocab file '%s': token \"%.60s\" (id %d) has character U+%04X outside the byte alphabet",
                       path, it->string, id, (unsigned)cp);
    if (b->tok_len[id] != UINT32_MAX)
        return ipu_err(e, "vocab file '%s': id %d is given to two tokens (second: \"%.60s\")", path, id, it->string);
    int put = bpe_strmap_put(&b->vocab, tmp, n, id, 0);
    if (put <= 0)
        return ipu_err(e, put < 0 ? "vocab file '%s': out of memory" : "vocab file '%s': token \"%.60s\" appears twice",
                       path, it->string);
    memcpy(b->tok_bytes + *used, tmp, n);
    b->tok_off[id] = (uint32_t)*used;
    b->tok_len[id] = (uint32_t)n;
    *used += n;
    return 0;
}

/* b's token tables from the vocab file's parsed object root. */
static int vocab_build(Bpe *b, const cJSON *root, const char *path, IpuErr *e)
{
    int32_t max_id = -1;
    size_t bytes_total = 0, used = 0;
    if (vocab_scan(root, path, &max_id, &bytes_total, e))
        return -1;
    b->nids = max_id + 1;
    b->tok_off = calloc((size_t)b->nids, sizeof *b->tok_off);
    b->tok_len = malloc((size_t)b->nids * sizeof *b->tok_len);
    b->tok_bytes = malloc(bytes_total + 1);
    char *tmp = malloc(bytes_total + 1);
    int rc = 0;
    if (!b->tok_off || !b->tok_len || !b->tok_bytes || !tmp)
        rc = ipu_err(e, "vocab file '%s': out of memory", path);
    else
        memset(b->tok_len, 0xff, (size_t)b->nids * sizeof *b->tok_len);
    for (const cJSON *it = root->child; it && !rc; it = it->next)
        rc = vocab_add(b, path, it, tmp, &used, e);
    free(tmp);
    if (rc)
        return -1;
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        if (!bpe_strmap_find(&b->vocab, &ch, 1, &b->byte_id[c], NULL))
            return ipu_err(e, "vocab file '%s': no token for byte 0x%02x (U+%04X)", path, c, (unsigned)b->byte_cp[c]);
    }
    b->eot_id = -1;
    bpe_strmap_find(&b->vocab, BPE_ENDOFTEXT, strlen(BPE_ENDOFTEXT), &b->eot_id, NULL);
    return 0;
}

static int bpe_load_vocab(Bpe *b, IpuErr *e)
{
    const char *path = b->vocab_path;
    size_t len;
    char *text = bpe_read_file(path, &len, e);
    if (!text)
        return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        ipu_err(e, "vocab file '%s': not valid JSON (near byte %td)", path, end ? end - text : (ptrdiff_t)0);
        free(text);
        return -1;
    }
    free(text);
    int rc = vocab_build(b, root, path, e);
    cJSON_Delete(root);
    return rc;
}

/* The merges file's scratch: the two parts' and their merge's bytes; per
 * token made[t], the highest rank of a merge producing t, and used[t], the
 * lowest rank of a merge with t as a part; the next rank. */
typedef struct MergeScratch {
    char *l, *r, *both;
    int32_t *made, *used;
    int32_t rank;
} MergeScratch;

/* One merges line "LEFT RIGHT" (n bytes, no newline) into b->pairs at the next rank. */
static int merge_add(Bpe *b, const char *path, const char *line, size_t n, size_t lineno, MergeScratch *m, IpuErr *e)
{
    const char *sp = memchr(line, ' ', n);
    int shown = (int)(n > 60 ? 60 : n);
    if (!sp || sp == line || sp + 1 == line + n || memchr(sp + 1, ' ', (size_t)(line + n - sp - 1)))
        return ipu_err(e, "merges file '%s' line %zu: expected two tokens separated by one space, got \"%.*s\"", path,
                       lineno, shown, line);
    size_t ln, rn;
    uint32_t cp;
    int32_t lid, rid, mid;
    if (bpe_unmap(b, line, (size_t)(sp - line), m->l, &ln, &cp) < 0 ||
        bpe_unmap(b, sp + 1, (size_t)(line + n - sp - 1), m->r, &rn, &cp) < 0)
        return ipu_err(e, "merges file '%s' line %zu: character U+%04X outside the byte alphabet", path, lineno,
                       (unsigned)cp);
    memcpy(m->both, m->l, ln);
    memcpy(m->both + ln, m->r, rn);
    if (!bpe_strmap_find(&b->vocab, m->l, ln, &lid, NULL) || !bpe_strmap_find(&b->vocab, m->r, rn, &rid, NULL) ||
        !bpe_strmap_find(&b->vocab, m->both, ln + rn, &mid, NULL))
        return ipu_err(e, "merges file '%s' line %zu: \"%.*s\", its parts or their merge are not in vocab file '%s'",
                       path, lineno, shown, line, b->vocab_path);
    uint64_t k = bpe_pair_key(lid, rid);
    size_t slot = bpe_pair_slot(&b->pairs, k);
    if (b->pairs.key[slot])
        return ipu_err(e, "merges file '%s' line %zu: the pair \"%.*s\" appears twice", path, lineno, shown, line);
    int32_t rank = m->rank++;
    b->pairs.key[slot] = k;
    b->pairs.rank[slot] = rank;
    b->pairs.merged[slot] = mid;
    if (rank > m->made[mid])
        m->made[mid] = rank;
    if (rank < m->used[lid])
        m->used[lid] = rank;
    if (rank < m->used[rid])
        m->used[rid] = rank;
    return 0;
}

/* Every line of the merges file text (len bytes) into b->pairs, in rank order. */
static int merges_parse(Bpe *b, const char *path, const char *text, size_t len, MergeScratch *m, IpuErr *e)
{
    size_t lineno = 0;
    for (const char *line = text; line < text + len;) {
        const char *nl = memchr(line, '\n', (size_t)(text + len - line));
        const char *stop = nl ? nl : text + len, *next = nl ? nl + 1 : text + len;
        lineno++;
        size_t n = (size_t)(stop - line);
        if (n && line[n - 1] == '\r')
            n--;
        int skip = n == 0 || (lineno == 1 && n >= 8 && !memcmp(line, "#version", 8));
        if (!skip && merge_add(b, path, line, n, lineno, m, e))
            return -1;
        line = next;
    }
    return 0;
}

static int bpe_load_merges(Bpe *b, IpuErr *e)
{
    const char *path = b->merges_path;
    size_t len;
    char *text = bpe_read_file(path, &len, e);
    if (!text)
        return -1;
    int rc = -1;
    size_t nlines = 1;
    for (size_t i = 0; i < len; i++)
        nlines += text[i] == '\n';
    size_t cap = 16;
    while (cap < 2 * nlines)
        cap *= 2;
    b->pairs.cap = cap;
    b->pairs.key = calloc(cap, sizeof *b->pairs.key);
    b->pairs.rank = malloc(cap * sizeof *b->pairs.rank);
    b->pairs.merged = malloc(cap * sizeof *b->pairs.merged);
    MergeScratch m = {malloc(len + 1), malloc(len + 1), malloc(len + 1), malloc((size_t)b->nids * sizeof *m.made),
                      malloc((size_t)b->nids * sizeof *m.used), 0};
    if (!b->pairs.key || !b->pairs.rank || !b->pairs.merged || !m.l || !m.r || !m.both || !m.made || !m.used) {
        ipu_err(e, "merges file '%s': out of memory", path);
        goto out;
    }
    for (int32_t t = 0; t < b->nids; t++) {
        m.made[t] = -1;
        m.used[t] = INT32_MAX;
    }
    if (merges_parse(b, path, text, len, &m, e))
        goto out;
    b->ranks_ordered = 1;
    for (int32_t t = 0; t < b->nids; t++)
        if (m.used[t] <= m.made[t])
            b->ranks_ordered = 0;
    rc = 0;
out:
    free(m.made), free(m.used), free(m.l), free(m.r), free(m.both);
    free(text);
    return rc;
}

Bpe *bpe_create_files(const char *vocab_path, const char *merges_path, IpuErr *e)
{
    Bpe *b = calloc(1, sizeof *b);
    if (!b) {
        ipu_err(e, "out of memory");
        return NULL;
    }
    if (strlen(vocab_path) >= BPE_PATH_BYTES || strlen(merges_path) >= BPE_PATH_BYTES) {
        ipu_err(e, "vocabulary path too long: '%s'", vocab_path);
        bpe_destroy(b);
        return NULL;
    }
    strcpy(b->vocab_path, vocab_path);
    strcpy(b->merges_path, merges_path);
    bpe_byte_table(b);
    if (bpe_load_vocab(b, e) < 0 || bpe_load_merges(b, e) < 0) {
        bpe_destroy(b);
        return NULL;
    }
    int err;
    PCRE2_SIZE off;
    b->re = pcre2_compile((PCRE2_SPTR)bpe_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    IPU_ASSERT(b->re != NULL); /* a fixed pattern: failing to compile is a build problem */
    pcre2_jit_compile(b->re, PCRE2_JIT_COMPLETE); /* optional speed-up; the interpreter is the fallback */
    b->md = pcre2_match_data_create_from_pattern(b->re, NULL);
    if (!b->md) {
        ipu_err(e, "out of memory");
        bpe_destroy(b);
        return NULL;
    }
    return b;
}

static int bpe_pair_files(const char *dir, const char *v, const char *m, char *vp, char *mp)
{
    struct stat st;
    snprintf(vp, BPE_PATH_BYTES, "%s/%s", dir, v);
    snprintf(mp, BPE_PATH_BYTES, "%s/%s", dir, m);
    return stat(vp, &st) == 0 && S_ISREG(st.st_mode) && stat(mp, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds the file pair in dir: encoder.json + vocab.bpe, else vocab.json + merges.txt. */
static int bpe_dir_files(const char *dir, char *vp, char *mp)
{
    return bpe_pair_files(dir, "encoder.json", "vocab.bpe", vp, mp) ||
           bpe_pair_files(dir, "vocab.json", "merges.txt", vp, mp);
}

Bpe *bpe_create(const char *dir, IpuErr *e)
{
    char vp[BPE_PATH_BYTES], mp[BPE_PATH_BYTES];
    if (!bpe_dir_files(dir, vp, mp)) {
        ipu_err(e, "vocabulary folder '%s' holds neither encoder.json + vocab.bpe nor vocab.json + merges.txt", dir);
        return NULL;
    }
    return bpe_create_files(vp, mp, e);
}

int bpe_find_vocab(const char *dir, char *out, size_t cap, IpuErr *e)
{
    char vp[BPE_PATH_BYTES], mp[BPE_PATH_BYTES], data[BPE_PATH_BYTES];
    const char *env = getenv("IPUSIM_VOCAB"), *src = "--vocab";
    if (!dir && env && *env) {
        dir = env;
        src = "$IPUSIM_VOCAB";
    }
    if (dir) {
        if (!bpe_dir_files(dir, vp, mp))
            return ipu_err(e, "%s folder '%s' holds neither encoder.json + vocab.bpe nor vocab.json + merges.txt",
                           src, dir);
    } else {
        const char *d = getenv("IPUSIM_DATA"), *home = getenv("HOME");
        if (d && *d)
            snprintf(data, sizeof data, "%s/gpt2", d);
        else
            snprintf(data, sizeof data, "%s/.cache/ipusim/gpt2", home ? home : ".");
        if (!bpe_dir_files(data, vp, mp))
            return ipu_err(e, "no GPT-2 vocabulary found in '%s' (run scripts/setup, or give --vocab DIR or "
                              "$IPUSIM_VOCAB)", data);
        dir = data;
    }
    if (strlen(dir) >= cap)
        return ipu_err(e, "vocabulary folder path too long: '%s'", dir);
    strcpy(out, dir);
    return 0;
}

void bpe_destroy(Bpe *b)
{
    if (!b)
        return;
    bpe_strmap_free(&b->vocab);
    bpe_strmap_free(&b->cache);
    bpe_ids_free(&b->cache_ids);
    bpe_ids_free(&b->word);
    free(b->link);
    free(b->heap);
    free(b->tok_off);
    free(b->tok_len);
    free(b->tok_bytes);
    free(b->pairs.key);
    free(b->pairs.rank);
    free(b->pairs.merged);
    pcre2_match_data_free(b->md);
    pcre2_code_free(b->re);
    free(b);
}

int32_t bpe_vocab_size(const Bpe *b) { return b->nids; }
int32_t bpe_endoftext_id(const Bpe *b) { return b->eot_id; }

int bpe_ids_push(BpeIds *l, int32_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        int32_t *p = realloc(l->ids, cap * sizeof *p);
        if (!p)
            return -1;
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return 0;
}

void bpe_ids_free(BpeIds *l)
{
    free(l->ids);
    memset(l, 0, sizeof *l);
}

/* ---- encode ----------------------------------------------------------- */

static int bpe_pair_lookup(const Bpe *b, int32_t l, int32_t r, int32_t *rank, int32_t *merged)
{
    size_t i = bpe_pair_slot(&b->pairs, bpe_pair_key(l, r));
    if (!b->pairs.key[i])
        return 0;
    *rank = b->pairs.rank[i];
    *merged = b->pairs.merged[i];
    return 1;
}

/* The merge rule on w (in place): repeatedly take the adjacent pair of lowest
 * merge rank and merge every occurrence of it, left to right, until no
 * adjacent pair is a merge. This direct form costs O(length) per merge pass. */
static void bpe_merge_passes(const Bpe *b, BpeIds *w)
{
    while (w->n > 1) {
        int32_t best = INT32_MAX, left = -1, right = -1, merged = -1, rank, m;
        for (size_t i = 0; i + 1 < w->n; i++)
            if (bpe_pair_lookup(b, w->ids[i], w->ids[i + 1], &rank, &m) && rank < best) {
                best = rank;
                left = w->ids[i];
                right = w->ids[i + 1];
                merged = m;
            }
        if (best == INT32_MAX)
            break;
        size_t o = 0;
        for (size_t i = 0; i < w->n;) {
            if (i + 1 < w->n && w->ids[i] == left && w->ids[i + 1] == right) {
                w->ids[o++] = merged;
                i += 2;
            } else {
                w->ids[o++] = w->ids[i++];
            }
        }
        w->n = o;
    }
}

/* A candidate merge of the pair (left, right) starting at position pos. */
typedef struct BpeHeapItem {
    int32_t rank, pos, left, right, merged;
} BpeHeapItem;

static int bpe_heap_before(const BpeHeapItem *x, const BpeHeapItem *y)
{
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static int bpe_heap_push(Bpe *b, const int32_t *ids, int32_t pos, int32_t next)
{
    BpeHeapItem it = {0, pos, ids[pos], ids[next], 0};
    if (!bpe_pair_lookup(b, it.left, it.right, &it.rank, &it.merged))
        return 0;
    if (b->heap_n == b->heap_cap) {
        size_t cap = b->heap_cap ? 2 * b->heap_cap : 256;
        BpeHeapItem *h = realloc(b->heap, cap * sizeof *h);
        if (!h)
            return -1;
        b->heap = h;
        b->heap_cap = cap;
    }
    size_t i = b->heap_n++;
    while (i > 0 && bpe_heap_before(&it, &b->heap[(i - 1) / 2])) {
        b->heap[i] = b->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    b->heap[i] = it;
    return 0;
}

static BpeHeapItem bpe_heap_pop(Bpe *b)
{
    BpeHeapItem top = b->heap[0], last = b->heap[--b->heap_n];
    size_t i = 0, n = b->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && bpe_heap_before(&b->heap[c + 1], &b->heap[c]))
            c++;
        if (!bpe_heap_before(&b->heap[c], &last))
            break;
        b->heap[i] = b->heap[c];
        i = c;
    }
    if (n)
        b->heap[i] = last;
    return top;
}

/* The same rule in O(length log length), for vocabularies whose ranks are
 * ordered (ranks_ordered: a pair using a token always ranks after every merge
 * that makes it, true of a trained BPE such as GPT-2's). Candidates are popped
 * by (rank, position): all pairs of the lowest rank go first, left to right,
 * and a merge only creates pairs with its new token, which rank later; so the
 * order of merges is that of bpe_merge_passes. A popped pair that no longer
 * stands at its position is stale and skipped (a position's token only ever
 * grows, so it cannot come back). */
static int bpe_merge_heap(Bpe *b, BpeIds *w)
{
    size_t n = w->n;
    if (n > INT32_MAX / 2)
        return -1;
    if (b->link_cap < n) {
        int32_t *l = realloc(b->link, 2 * n * sizeof *l);
        if (!l)
            return -1;
        b->link = l;
        b->link_cap = n;
    }
    int32_t *ids = w->ids, *next = b->link, *prev = b->link + n;
    b->heap_n = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        prev[i] = (int32_t)i - 1;
        if (i + 1 < n && bpe_heap_push(b, ids, (int32_t)i, (int32_t)i + 1) < 0)
            return -1;
    }
    while (b->heap_n) {
        BpeHeapItem it = bpe_heap_pop(b);
        int32_t i = it.pos, j = next[i];
        if (ids[i] != it.left || j < 0 || ids[j] != it.right)
            continue;
        ids[i] = it.merged;
        ids[j] = -1; /* j joins i; position 0 is never removed */
        next[i] = next[j];
        if (next[j] >= 0)
            prev[next[j]] = i;
        if (prev[i] >= 0 && bpe_heap_push(b, ids, prev[i], i) < 0)
            return -1;
        if (next[i] >= 0 && bpe_heap_push(b, ids, i, next[i]) < 0)
            return -1;
    }
    size_t o = 0;
    for (int32_t i = 0; i >= 0; i = next[i])
        ids[o++] = ids[i];
    w->n = o;
    return 0;
}

/* One pre-tokenized word: its bytes as one-byte tokens, then the merges. */
static int bpe_word(Bpe *b, const char *s, size_t n, BpeIds *out, IpuErr *e)
{
    int32_t off, cnt;
    if (bpe_strmap_find(&b->cache, s, n, &off, &cnt)) {
        for (int32_t i = 0; i < cnt; i++)
            if (bpe_ids_push(out, b->cache_ids.ids[off + i]) < 0)
                return ipu_err(e, "out of memory");
        return 0;
    }
    BpeIds *w = &b->word;
    w->n = 0;
    for (size_t i = 0; i < n; i++)
        if (bpe_ids_push(w, b->byte_id[(unsigned char)s[i]]) < 0)
            return ipu_err(e, "out of memory");
    if (b->ranks_ordered && w->n > 1) {
        if (bpe_merge_heap(b, w) < 0)
            return ipu_err(e, "out of memory");
    } else {
        bpe_merge_passes(b, w);
    }
    if (b->cache.n >= BPE_CACHE_MAX_WORDS) { /* bound the memory of long runs */
        bpe_strmap_free(&b->cache);
        b->cache_ids.n = 0;
    }
    size_t start = b->cache_ids.n;
    for (size_t i = 0; i < w->n; i++)
        if (bpe_ids_push(&b->cache_ids, w->ids[i]) < 0 || bpe_ids_push(out, w->ids[i]) < 0)
            return ipu_err(e, "out of memory");
    if (start <= INT32_MAX && bpe_strmap_put(&b->cache, s, n, (int32_t)start, (int32_t)w->n) < 0)
        return ipu_err(e, "out of memory");
    return 0;
}

/* Ordinary text (no special tokens), already checked to be valid UTF-8. */
static int bpe_encode_plain(Bpe *b, const char *text, size_t len, BpeIds *out, IpuErr *e)
{
    size_t pos = 0;
    while (pos < len) {
        int rc = pcre2_match(b->re, (PCRE2_SPTR)text, len, pos, PCRE2_NO_UTF_CHECK, b->md, NULL);
        size_t s = len, t = len;
        if (rc >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(b->md);
            s = ov[0];
            t = ov[1];
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            return ipu_err(e, "pre-tokenizer failed at byte %zu (PCRE2 error %d)", pos, rc);
        }
        /* Every character is a letter, digit, space or other, so the pattern
         * matches at pos; a gap would only come from a Unicode-table corner
         * case, and its bytes still go through BPE so nothing is lost. */
        if (s > pos && bpe_word(b, text + pos, s - pos, out, e) < 0)
            return -1;
        if (t > s && bpe_word(b, text + s, t - s, out, e) < 0)
            return -1;
        IPU_ASSERT(t > pos || t == len);
        pos = t;
    }
    return 0;
}

int bpe_encode(Bpe *b, const char *text, size_t len, unsigned flags, BpeIds *out, IpuErr *e)
{
    size_t bad;
    if (bpe_utf8_check(text, len, &bad) < 0)
        return ipu_err(e, "text is not valid UTF-8: bad byte 0x%02x at byte offset %zu", (unsigned char)text[bad], bad);
    const size_t sl = strlen(BPE_ENDOFTEXT);
    size_t pos = 0;
    if ((flags & BPE_ALLOW_SPECIAL) && b->eot_id >= 0) {
        for (;;) {
            const char *hit = memmem(text + pos, len - pos, BPE_ENDOFTEXT, sl);
            if (!hit)
                break;
            size_t at = (size_t)(hit - text);
            if (bpe_encode_plain(b, text + pos, at - pos, out, e) < 0)
                return -1;
            if (bpe_ids_push(out, b->eot_id) < 0)
                return ipu_err(e, "out of memory");
            pos = at + sl;
        }
    }
    return bpe_encode_plain(b, text + pos, len - pos, out, e);
}

/* ---- decode ----------------------------------------------------------- */

char *bpe_decode(const Bpe *b, const int32_t *ids, size_t n, size_t *len, IpuErr *e)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= b->nids || b->tok_len[ids[i]] == UINT32_MAX) {
            ipu_err(e, "token id %d at position %zu is not in vocab file '%s' (ids 0..%d)", ids[i], i, b->vocab_path,
                    b->nids - 1);
            return NULL;
        }
        total += b->tok_len[ids[i]];
    }
    char *s = malloc(total + 1);
    if (!s) {
        ipu_err(e, "out of memory");
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(s + o, b->tok_bytes + b->tok_off[ids[i]], b->tok_len[ids[i]]);
        o += b->tok_len[ids[i]];
    }
    s[o] = '\0';
    if (len)
        *len = o;
    return s;
}
