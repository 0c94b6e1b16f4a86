/* cli_logits.h - what `ipusim run` and `ipusim model forward` share for
 * logits in and out: token ids from a pair of options (--ids LIST or
 * --ids-file FILE; --teacher-force or --teacher-force-file), an output's
 * name per weight format, and the logits as a .npy file (models/npy.h).
 *
 * Not here: running the model (host/gptj_run.h, models/gptj_forward.h).
 */
#ifndef IPUSIM_CLI_LOGITS_H
#define IPUSIM_CLI_LOGITS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "base/fileio.h"
#include "host/cli.h"

/* Ids from a list option or a file option; n = 0 when neither was given. */
typedef struct CliIds {
    uint32_t *ids;  /* (n) */
    size_t n;
    char what[32];  /* the option they came from, "--ids" or "--ids-file", for messages */
} CliIds;

/* Parses list (--NAME LIST) or file (--NAME-file FILE), whichever was
 * given, without a vocabulary yet: 0; 2 (usage: both given, a malformed
 * list) or 1 (the file cannot be read or is malformed) with err filled. */
int cli_ids_get(const CliOpt *list, const CliOpt *file, CliIds *out, IpuErr *err);
/* The GPT-2 BPE ids of text (len bytes) into out (at least one), with the
 * vocabulary in vocab_dir (NULL: found as ipusim tokenize finds it); what
 * names the text's source in errors and in out->what. */
int cli_ids_from_text(const char *text, size_t len, const char *vocab_dir, const char *what, CliIds *out,
                      IpuErr *err);
/* Every id below vocab (model names the model): 0, or -1 naming the
 * option, the position and the id. */
int cli_ids_check(const CliIds *ids, int vocab, const char *model, IpuErr *err);
void cli_ids_free(CliIds *ids);

/* "LABEL ids: 1 2 3" and, with a vocabulary (bpe may be NULL), "LABEL
 * text: "..."" (an id beyond it as <id>), each on its own line. */
void cli_print_ids(FILE *f, const char *label, const uint32_t *ids, size_t n, Bpe *bpe);

/* An output's name for one of several weight formats: "out.json" +
 * "q4g:64" -> "out-q4g-64.json" (':' as '-', before the extension); base
 * itself when several is 0. */
void cli_format_name(const char *base, const char *format, int several, char *out, size_t cap);

/* Stages logits (batch, positions, vocab) at path as a .npy: shape (batch,
 * vocab) when all is 0 (positions must be 1), else (batch, positions,
 * vocab). */
int cli_logits_stage(FileioFile *f, const char *path, const float *logits, uint32_t batch, uint32_t positions,
                     uint32_t vocab, int all, IpuErr *err);

#endif
