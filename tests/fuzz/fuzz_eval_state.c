/* fuzz_eval_state.c - libFuzzer harness: the bytes are a `model eval
 * --resume` state (models/eval_text.h) for one fixed run (20 tokens, fp16
 * and q4g:64, window 8, stride 4, weights "fuzz"). Rejected: an error
 * naming --resume and the file. Accepted: the next window in 0..windows,
 * every format's sums finite and not negative, agreements <= positions;
 * saved and loaded again, the same state. */
#include <math.h>

#include "tests/fuzz/fuzz.h"
#include "models/eval_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void init(EvalText *t, const int *tok)
{
    QuantSpec sp[2];
    IpuErr e = {{0}};
    FUZZ_CHECK(quant_spec_parse("fp16", &sp[0], &e) == 0 && quant_spec_parse("q4g:64", &sp[1], &e) == 0, "%s",
               e.msg);
    FUZZ_CHECK(eval_text_init(t, tok, 20, 8, 4, sp, 2, 0, 16, "fuzz", &e) == 0, "%s", e.msg);
}

/* a == b, NaN-free by the accepted invariant, so bit for bit. */
static int same(const EvalText *a, const EvalText *b)
{
    return a->next == b->next && !memcmp(a->sums, b->sums, 2 * sizeof a->sums[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write("state", data, size);
    int tok[20];
    for (int i = 0; i < 20; i++)
        tok[i] = i % 16;
    EvalText t, again;
    IpuErr e = {{0}};
    init(&t, tok);
    if (eval_text_load(&t, p, &e)) {
        FUZZ_CHECK(strstr(e.msg, "--resume") && strstr(e.msg, "state"), "error does not name the file: %s", e.msg);
        eval_text_free(&t);
        return 0;
    }
    FUZZ_CHECK(t.next >= 0 && t.next <= t.nwindows, "next window %d of %d accepted", t.next, t.nwindows);
    for (int f = 0; f < 2; f++) {
        const EvalSums *s = &t.sums[f];
        FUZZ_CHECK(isfinite(s->kl) && isfinite(s->nll) && isfinite(s->max_logit_diff) && s->kl >= 0 && s->nll >= 0 &&
                       s->max_logit_diff >= 0 && s->agree <= s->positions,
                   "format %d: sums accepted out of range", f);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/again", fuzz_dir());
    FUZZ_CHECK(eval_text_save(&t, path, &e) == 0, "save: %s", e.msg);
    init(&again, tok);
    FUZZ_CHECK(eval_text_load(&again, path, &e) == 0, "saved state refused: %s", e.msg);
    FUZZ_CHECK(same(&t, &again), "saved and loaded again, the state differs");
    eval_text_free(&again);
    eval_text_free(&t);
    return 0;
}
