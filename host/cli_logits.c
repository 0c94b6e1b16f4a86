/* cli_logits.c - ids options, per-format output names and .npy logits
 * for ipusim run and ipusim model forward (see cli_logits.h). */
#include "host/cli_logits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int cli_ids_check(const CliIds *ids, int vocab, const char *model, IpuErr *err)
{
    return token_ids_check(ids->ids, ids->n, ids->what, vocab, model, err);
}

void cli_ids_free(CliIds *ids)
{
    free(ids->ids);
    memset(ids, 0, sizeof *ids);
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
