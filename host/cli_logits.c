/* cli_logits.c - ids options, per-format output names and .npy logits
 * for ipusim run and ipusim model forward (see cli_logits.h). */
#include "host/cli_logits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/bpe.h"
#include "models/npy.h"
#include "models/token_ids.h"

int cli_ids_get(const CliOpt *list, const CliOpt *file, CliIds *out, IpuErr *err)
{
    memset(out, 0, sizeof *out);
    if (list->count && file->count) {
        ipu_err(err, "give --%s or --%s, not both", list->name, file->name);
        return 2;
    }
    if (list->count) {
        snprintf(out->what, sizeof out->what, "--%s", list->name);
        return token_ids_parse(cli_value(list, ""), out->what, 0, NULL, &out->ids, &out->n, err) ? 2 : 0;
    }
    if (file->count) {
        snprintf(out->what, sizeof out->what, "--%s", file->name);
        return token_ids_read(cli_value(file, ""), out->what, 0, NULL, &out->ids, &out->n, err) ? 1 : 0;
    }
    return 0;
}

int cli_ids_from_text(const char *text, size_t len, const char *vocab_dir, const char *what, CliIds *out,
                      IpuErr *err)
{
    char dir[BPE_PATH_BYTES];
    memset(out, 0, sizeof *out);
    snprintf(out->what, sizeof out->what, "%s", what);
    if (bpe_find_vocab(vocab_dir, dir, sizeof dir, err))
        return ipu_err_prefix(err, "%s needs the GPT-2 vocabulary (scripts/setup)", what);
    Bpe *b = bpe_create(dir, err);
    if (!b)
        return -1;
    BpeIds t = {0};
    int rv = bpe_encode(b, text, len, 0, &t, err);
    bpe_destroy(b);
    if (rv)
        return ipu_err_prefix(err, "%s", what);
    if (t.n == 0)
        rv = ipu_err(err, "%s: the text has no tokens", what);
    else if (!(out->ids = malloc(t.n * sizeof *out->ids)))
        rv = ipu_err(err, "%s: out of memory", what);
    for (size_t i = 0; !rv && i < t.n; i++)
        out->ids[i] = (uint32_t)t.ids[i];
    out->n = rv ? 0 : t.n;
    bpe_ids_free(&t);
    return rv;
}

int cli_ids_check(const CliIds *ids, int vocab, const char *model, IpuErr *err)
{
    return token_ids_check(ids->ids, ids->n, ids->what, vocab, model, err);
}

void cli_ids_free(CliIds *ids)
{
    free(ids->ids);
    memset(ids, 0, sizeof *ids);
}

void cli_print_ids(FILE *f, const char *label, const uint32_t *ids, size_t n, Bpe *bpe)
{
    fprintf(f, "%s ids:", label);
    for (size_t i = 0; i < n; i++)
        fprintf(f, " %u", ids[i]);
    if (bpe) {
        fprintf(f, "\n%s text: \"", label);
        for (size_t i = 0; i < n; i++) {
            int32_t id = (int32_t)ids[i];
            size_t len;
            IpuErr e;
            char *s = id >= 0 && id < bpe_vocab_size(bpe) ? bpe_decode(bpe, &id, 1, &len, &e) : NULL;
            if (s)
                fwrite(s, 1, len, f);
            else
                fprintf(f, "<%u>", ids[i]); /* GPT-J's padding rows beyond GPT-2's vocabulary */
            free(s);
        }
        fprintf(f, "\"");
    }
    fprintf(f, "\n");
}

void cli_format_name(const char *base, const char *format, int several, char *out, size_t cap)
{
    if (!several) {
        snprintf(out, cap, "%s", base);
        return;
    }
    const char *dot = strrchr(base, '.'), *slash = strrchr(base, '/');
    if (!dot || (slash && dot < slash))
        dot = base + strlen(base);
    char fmt[32];
    snprintf(fmt, sizeof fmt, "%s", format);
    for (char *c = fmt; *c; c++)
        if (*c == ':')
            *c = '-';
    snprintf(out, cap, "%.*s-%s%s", (int)(dot - base), base, fmt, dot);
}

int cli_logits_stage(FileioFile *f, const char *path, const float *logits, uint32_t batch, uint32_t positions,
                     uint32_t vocab, int all, IpuErr *err)
{
    IPU_ASSERT(all || positions == 1);
    uint64_t shape[3] = {batch, all ? positions : vocab, vocab};
    return npy_stage_f32(f, path, logits, shape, all ? 3 : 2, err);
}
