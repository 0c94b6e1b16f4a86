/* token_ids.c - token ids given as text (see token_ids.h). */
#include "models/token_ids.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"

#define TOKEN_ID_MAX 2147483647u /* the ids are int32 elsewhere (BpeIds, the reference forward) */

int token_ids_check(const uint32_t *ids, size_t n, const char *what, int vocab, const char *model, IpuErr *e)
{
    for (size_t i = 0; vocab > 0 && i < n; i++)
        if (ids[i] >= (uint32_t)vocab)
            return ipu_err(e, "%s: id %u at position %zu is outside the vocabulary of %s (0..%d)", what, ids[i], i,
                           model, vocab - 1);
    return 0;
}

static int is_sep(char c) { return c == ',' || isspace((unsigned char)c); }

/* One id at *p (advanced past it); src names the source (with its line for files). */
static int parse_one(const char **p, size_t pos, const char *src, uint32_t *out, IpuErr *e)
{
    const char *s = *p, *end = s;
    while (*end && !is_sep(*end))
        end++;
    int len = (int)(end - s);
    unsigned long v = 0;
    int ok = len > 0 && len <= 10;
    for (const char *c = s; ok && c < end; c++)
        ok = *c >= '0' && *c <= '9';
    if (ok) {
        errno = 0;
        v = strtoul(s, NULL, 10);
        ok = !errno && v <= TOKEN_ID_MAX;
    }
    if (!ok)
        return ipu_err(e, "%s: '%.*s' at position %zu is not a token id (a decimal integer 0..%u)", src,
                       len > 40 ? 40 : len, s, pos, TOKEN_ID_MAX);
    *out = (uint32_t)v;
    *p = end;
    return 0;
}

/* The ids of text; lines: name the line of each error (a file's text). */
static int parse_text(const char *text, const char *what, int lines, uint32_t **ids, size_t *n, IpuErr *e)
{
    size_t cap = 64;
    uint32_t *v = malloc(cap * sizeof *v);
    if (!v)
        return ipu_err(e, "%s: out of memory", what);
    *n = 0;
    int line = 1;
    for (const char *p = text;;) {
        for (; is_sep(*p); p++)
            line += *p == '\n';
        if (!*p)
            break;
        char src[600];
        snprintf(src, sizeof src, lines ? "%s: line %d" : "%s", what, line);
        if (*n == TOKEN_IDS_MAX) {
            free(v);
            return ipu_err(e, "%s: more than %u ids", src, TOKEN_IDS_MAX);
        }
        if (*n == cap) {
            uint32_t *g = realloc(v, 2 * cap * sizeof *v);
            if (!g) {
                free(v);
                return ipu_err(e, "%s: out of memory", what);
            }
            v = g, cap *= 2;
        }
        if (parse_one(&p, *n, src, &v[*n], e)) {
            free(v);
            return -1;
        }
        (*n)++;
    }
    if (!*n) {
        free(v);
        return ipu_err(e, "%s: no token ids (give decimal ids separated by commas or blanks, e.g. 464,3290,318)",
                       what);
    }
    *ids = v;
    return 0;
}

int token_ids_parse(const char *text, const char *what, int vocab, const char *model, uint32_t **ids, size_t *n,
                    IpuErr *e)
{
    *ids = NULL;
    if (parse_text(text, what, 0, ids, n, e))
        return -1;
    if (token_ids_check(*ids, *n, what, vocab, model, e)) {
        free(*ids);
        *ids = NULL;
        return -1;
    }
    return 0;
}

int token_ids_read(const char *path, const char *what, int vocab, const char *model, uint32_t **ids, size_t *n,
                   IpuErr *e)
{
    char *text, src[600];
    size_t len;
    *ids = NULL;
    snprintf(src, sizeof src, "%s '%s'", what, path);
    if (fileio_read(path, what, TOKEN_IDS_FILE_MAX_BYTES, &text, &len, e))
        return -1;
    int rc = strlen(text) != len ? ipu_err(e, "%s: a NUL byte at offset %zu", src, strlen(text))
                                 : parse_text(text, src, 1, ids, n, e);
    free(text);
    if (!rc && token_ids_check(*ids, *n, src, vocab, model, e)) {
        free(*ids);
        *ids = NULL;
        rc = -1;
    }
    return rc;
}
