/* token_ids.h - token ids given as text: `--ids 464,3290,318` or a file of
 * them, for `ipusim run` (the prompt and --teacher-force) and `ipusim model
 * forward`.
 *
 * A list is decimal ids separated by commas and/or whitespace (blanks,
 * tabs, newlines); a file holds one such list, spread over any lines. Each
 * id is checked against the vocabulary when its size is known. Errors name
 * the source (the option, or the file and line), the id's position in the
 * list (0-based) and the text at fault.
 *
 * Not here: text to ids (models/bpe.h tokenizes).
 */
#ifndef IPUSIM_TOKEN_IDS_H
#define IPUSIM_TOKEN_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* The most ids one list takes, and the largest ids file. */
#define TOKEN_IDS_MAX (1u << 20)
#define TOKEN_IDS_FILE_MAX_BYTES (16u << 20)

/* Parses text into *ids (malloc'ed, *n of them; at least one). what names
 * the source in errors ("--ids"). vocab > 0: each id must be below it
 * (model names the model in that error); 0: any id up to 2^31 - 1. */
int token_ids_parse(const char *text, const char *what, int vocab, const char *model, uint32_t **ids, size_t *n,
                    IpuErr *e);
/* The same for a file's contents (a regular file of at most
 * TOKEN_IDS_FILE_MAX_BYTES); errors name path and the line. */
int token_ids_read(const char *path, const char *what, int vocab, const char *model, uint32_t **ids, size_t *n,
                   IpuErr *e);
/* Each of ids[0 .. n) below vocab: -1 naming what, the position and the id. */
int token_ids_check(const uint32_t *ids, size_t n, const char *what, int vocab, const char *model, IpuErr *e);

#endif
