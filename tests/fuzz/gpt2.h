/* gpt2.h - the real GPT-2 vocabulary for the BPE harnesses (fuzz_bpe.c,
 * fuzz_tokenize_cli.c), found as the tests find it (bpe_find_vocab:
 * $IPUSIM_VOCAB, then ${IPUSIM_DATA:-~/.cache/ipusim}/gpt2, which
 * scripts/setup fills). A missing vocabulary is a failure, not a skip. */
#ifndef IPUSIM_FUZZ_GPT2_H
#define IPUSIM_FUZZ_GPT2_H

#include "models/bpe.h"
#include "tests/fuzz/fuzz.h"

static inline Bpe *fuzz_load_gpt2(void)
{
    char dir[BPE_PATH_BYTES];
    IpuErr e = {{0}};
    Bpe *b = NULL;
    FUZZ_CHECK(bpe_find_vocab(NULL, dir, sizeof dir, &e) == 0 && (b = bpe_create(dir, &e)) != NULL,
               "the GPT-2 vocabulary is needed (scripts/setup): %s", e.msg);
    return b;
}

#endif
