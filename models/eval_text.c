/* eval_text.c - strided windows over a text, their sums, and the resume state (see eval_text.h). */
#include "models/eval_text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"

#define EVAL_STATE_MAGIC "ipusim model eval state 1"
#define EVAL_STATE_MAX_BYTES (64u << 10)

int eval_text_count(int T, int window, int stride)
{
    if (T < 2 || window < 2 || stride < 1 || stride > window)
        return 0;
    if (T <= window)
        return 1;
    return 1 + (T - window + stride - 1) / stride;
}

void eval_text_window(int T, int window, int stride, int k, int *begin, int *end, int *first_target)
{
    *begin = k * stride;
    *end = *begin + window < T ? *begin + window : T;
    int prev_end = k == 0 ? 1 : ((k - 1) * stride + window < T ? (k - 1) * stride + window : T);
    *first_target = prev_end > *begin + 1 ? prev_end : *begin + 1;
}

static uint64_t fnv1a(const int *tok, int T)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < T; i++)
        for (int b = 0; b < 4; b++)
            h = (h ^ (((uint32_t)tok[i] >> (8 * b)) & 0xffu)) * 0x100000001b3ull;
    return h;
}

void eval_text_free(EvalText *t)
{
    if (!t)
        return;
    for (int f = 0; f < EVAL_MAX_FORMATS; f++)
        free(t->logits[f]);
    free(t->scratch);
    memset(t, 0, sizeof *t);
}

int eval_text_init(EvalText *t, const int *tok, int T, int window, int stride, const QuantSpec *specs, int nf, int ref,
                   int V, const char *weights, IpuErr *e)
{
    memset(t, 0, sizeof *t);
    if (window > T) /* one window: the stride does not matter */
        window = T, stride = stride > T ? T : stride;
    if (!eval_text_count(T, window, stride))
        return ipu_err(e, "eval: %d tokens, window %d, stride %d: need at least 2 tokens, a window of at least 2 "
                          "and a stride in 1..window",
                       T, window, stride);
    if (nf < 1 || nf > EVAL_MAX_FORMATS || ref < 0 || ref >= nf)
        return ipu_err(e, "eval: %d formats with reference %d", nf, ref);
    *t = (EvalText){.tok = tok, .T = T, .window = window, .stride = stride, .V = V, .nf = nf, .ref = ref};
    t->nwindows = eval_text_count(T, window, stride);
    t->hash = fnv1a(tok, T);
    snprintf(t->weights, sizeof t->weights, "%s", weights);
    for (char *c = t->weights; *c; c++) /* one line of the state */
        *c = *c == '\n' || *c == '\r' ? '?' : *c;
    for (int f = 0; f < nf; f++) {
        size_t n = strlen(t->formats);
        quant_spec_format(&specs[f], t->formats + n + (f > 0), sizeof t->formats - n - (f > 0));
        if (f > 0)
            t->formats[n] = ',';
        t->logits[f] = malloc((size_t)window * (size_t)V * sizeof(float));
        if (!t->logits[f])
            break;
    }
    t->scratch = malloc(2 * (size_t)V * sizeof *t->scratch);
    for (int f = 0; f < nf; f++)
        if (!t->logits[f] || !t->scratch) {
            eval_text_free(t);
            return ipu_err(e, "eval: out of memory for %d formats' logits over a window of %d", nf, window);
        }
    return 0;
}

/* Format f's name: item f of the canonical list. */
static const char *format_name(const EvalText *t, int f, char *buf, size_t cap)
{
    const char *p = t->formats;
    for (int k = 0; k < f && p; k++)
        p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
    snprintf(buf, cap, "%.*s", p ? (int)strcspn(p, ",") : 1, p ? p : "?");
    return buf;
}

int eval_text_step(EvalText *t, const EvalSource *src, IpuErr *e)
{
    char name[64];
    if (t->next >= t->nwindows)
        return ipu_err(e, "eval: all %d windows already ran", t->nwindows);
    int begin, end, first;
    eval_text_window(t->T, t->window, t->stride, t->next, &begin, &end, &first);
    if (src->logits(src->ctx, t->tok + begin, end - begin, t->logits, e))
        return ipu_err_prefix(e, "window %d (tokens %d..%d)", t->next, begin, end - 1);
    size_t V = (size_t)t->V;
    for (int f = 0; f < t->nf; f++) /* a sum that is not finite would hide it (and no state could keep it) */
        for (size_t i = (size_t)(first - 1 - begin) * V; i < (size_t)(end - 1 - begin) * V; i++)
            if (!isfinite(t->logits[f][i]))
                return ipu_err(e, "window %d: format %s gives a non-finite logit (%g) at position %d, token %zu",
                               t->next, format_name(t, f, name, sizeof name), (double)t->logits[f][i], begin + (int)(i / V), i % V);
    for (int target = first; target < end; target++) {
        size_t row = (size_t)(target - 1 - begin) * V;
        for (int f = 0; f < t->nf; f++)
            eval_sums_add(&t->sums[f], t->logits[t->ref] + row, t->logits[f] + row, t->V, t->tok[target],
                          t->scratch);
    }
    t->next++;
    return 0;
}

void eval_text_result(const EvalText *t, int f, EvalResult *out)
{
    const EvalSums *s = &t->sums[f];
    double n = (double)s->positions;
    *out = (EvalResult){s->targets ? exp(s->nll / (double)s->targets) : NAN, n ? s->kl / n : NAN,
                        n ? (double)s->agree / n : NAN, s->max_logit_diff, s->targets};
}

/* ---- the state ---- */

int eval_text_save(const EvalText *t, const char *path, IpuErr *e)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return ipu_err(e, "--resume '%s': out of memory", path);
    fprintf(f, EVAL_STATE_MAGIC "\ntokens %d %016" PRIx64 "\nweights %s\nformats %s\nwindow %d\nstride %d\nnext %d\n",
            t->T, t->hash, t->weights, t->formats, t->window, t->stride, t->next);
    for (int k = 0; k < t->nf; k++) {
        const EvalSums *s = &t->sums[k];
        fprintf(f, "sums %d %" PRIu64 " %a %" PRIu64 " %a %" PRIu64 " %a\n", k, s->positions, s->kl, s->agree,
                s->max_logit_diff, s->targets, s->nll);
    }
    if (fclose(f)) {
        free(text);
        return ipu_err(e, "--resume '%s': out of memory", path);
    }
    int rv = fileio_write(path, text, len, e) ? ipu_err_prefix(e, "--resume") : 0;
    free(text);
    return rv;
}

/* The value after "key " on its own line of text, into buf; -1 when absent. */
static int field(const char *text, const char *key, char *buf, size_t cap)
{
    size_t k = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncmp(l, key, k) && l[k] == ' ') {
            size_t n = strcspn(l + k + 1, "\n");
            snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), l + k + 1);
            return 0;
        }
    }
    return -1;
}

/* Compares each identifying line of the saved state with this run's. */
static int check_identity(const EvalText *t, const char *text, const char *path, IpuErr *e)
{
    char want[EVAL_ID_BYTES + 64], got[EVAL_ID_BYTES + 64];
    static const char *const keys[] = {"tokens", "weights", "formats", "window", "stride"};
    static const char *const what[] = {"the text (token count and hash)", "the weights", "the format list",
                                       "the window", "the stride"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        switch (i) {
        case 0: snprintf(want, sizeof want, "%d %016" PRIx64, t->T, t->hash); break;
        case 1: snprintf(want, sizeof want, "%s", t->weights); break;
        case 2: snprintf(want, sizeof want, "%s", t->formats); break;
        case 3: snprintf(want, sizeof want, "%d", t->window); break;
        default: snprintf(want, sizeof want, "%d", t->stride); break;
        }
        if (field(text, keys[i], got, sizeof got))
            return ipu_err(e, "--resume '%s': not an eval state (no '%s' line)", path, keys[i]);
        if (strcmp(want, got))
            return ipu_err(e, "--resume '%s': saved for another run: %s was '%s', this run has '%s'", path, what[i],
                           got, want);
    }
    return 0;
}

/* Sums a run can reach: finite, not negative, no more agreements than positions. */
static int sums_valid(const EvalSums *s)
{
    return isfinite(s->kl) && isfinite(s->max_logit_diff) && isfinite(s->nll) && s->kl >= 0 &&
           s->max_logit_diff >= 0 && s->nll >= 0 && s->agree <= s->positions;
}

/* A '-' on the line other than a hex float's exponent sign ("0x1p-3"). */
static int minus_sign(const char *line)
{
    for (const char *c = line; *c && *c != '\n'; c++)
        if (*c == '-' && (c == line || (c[-1] != 'p' && c[-1] != 'P')))
            return 1;
    return 0;
}

/* The "next" and "sums" lines into t. */
static int read_sums(EvalText *t, const char *text, const char *path, IpuErr *e)
{
    char buf[64];
    char *end;
    if (field(text, "next", buf, sizeof buf))
        return ipu_err(e, "--resume '%s': not an eval state (no 'next' line)", path);
    errno = 0;
    long next = strtol(buf, &end, 10);
    if (*end || errno || next < 0 || next > t->nwindows)
        return ipu_err(e, "--resume '%s': next window '%s' is not in 0..%d", path, buf, t->nwindows);
    int seen = 0;
    for (const char *l = strstr(text, "\nsums "); l; l = strstr(l + 1, "\nsums ")) {
        int k, n = 0;
        EvalSums s;
        if (minus_sign(l + 1) || /* counts and sums are never negative (SCNu64 would wrap a '-') */
            sscanf(l + 6, "%d %" SCNu64 " %la %" SCNu64 " %la %" SCNu64 " %la%n", &k, &s.positions, &s.kl, &s.agree,
                   &s.max_logit_diff, &s.targets, &s.nll, &n) != 7 ||
            k < 0 || k >= t->nf || (l[6 + n] != '\n' && l[6 + n] != '\0') || !sums_valid(&s))
            return ipu_err(e, "--resume '%s': a 'sums' line is malformed", path);
        t->sums[k] = s;
        seen |= 1 << k;
    }
    if (seen != (1 << t->nf) - 1)
        return ipu_err(e, "--resume '%s': the sums of some formats are missing", path);
    t->next = (int)next;
    return 0;
}

int eval_text_load(EvalText *t, const char *path, IpuErr *e)
{
    char *text;
    if (fileio_read(path, "eval state", EVAL_STATE_MAX_BYTES, &text, NULL, e))
        return ipu_err_prefix(e, "--resume");
    int rv = strncmp(text, EVAL_STATE_MAGIC "\n", strlen(EVAL_STATE_MAGIC) + 1)
                 ? ipu_err(e, "--resume '%s': not an eval state (its first line is not '%s')", path, EVAL_STATE_MAGIC)
                 : 0;
    if (!rv)
        rv = check_identity(t, text, path, e);
    if (!rv)
        rv = read_sums(t, text, path, e);
    free(text);
    return rv;
}
