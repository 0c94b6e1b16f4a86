/* fuzz_bpe.c - libFuzzer harness: the GPT-2 BPE with the real vocabulary
 * (scripts/setup installs it; bpe_find_vocab finds it as the tests do).
 * Valid UTF-8 text: decode(encode(x)) == x, with and without the special
 * token, every id inside the vocabulary. Invalid UTF-8: encode fails.
 * The same bytes read as little-endian int32 ids: decode succeeds exactly
 * when every id is inside the vocabulary. */
#include "tests/fuzz/gpt2.h"

static Bpe *gpt2;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    gpt2 = fuzz_load_gpt2();
    return 0;
}

static void round_trip(const uint8_t *data, size_t size, unsigned flags)
{
    BpeIds ids = {0};
    IpuErr e = {{0}};
    size_t bad;
    int valid = bpe_utf8_check((const char *)data, size, &bad) == 0;
    int rv = bpe_encode(gpt2, (const char *)data, size, flags, &ids, &e);
    FUZZ_CHECK((rv == 0) == valid, "encode %s valid=%d: %s", rv ? "failed" : "succeeded", valid, e.msg);
    if (rv == 0) {
        for (size_t i = 0; i < ids.n; i++)
            FUZZ_CHECK(ids.ids[i] >= 0 && ids.ids[i] < bpe_vocab_size(gpt2), "id %d outside the vocabulary",
                       ids.ids[i]);
        size_t len;
        char *text = bpe_decode(gpt2, ids.ids, ids.n, &len, &e);
        FUZZ_CHECK(text != NULL, "decode of encoded ids failed: %s", e.msg);
        FUZZ_CHECK(len == size && !memcmp(text, data, size), "decode(encode(x)) != x (%zu bytes, got %zu)", size, len);
        free(text);
    }
    bpe_ids_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!gpt2)
        LLVMFuzzerInitialize(NULL, NULL);
    round_trip(data, size, 0);
    round_trip(data, size, BPE_ALLOW_SPECIAL);
    size_t n = size / 4;
    int32_t *ids = malloc(n * sizeof *ids + 1);
    FUZZ_CHECK(ids != NULL, "out of memory");
    int known = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 | (uint32_t)data[4 * i + 2] << 16 |
                     (uint32_t)data[4 * i + 3] << 24;
        ids[i] = (int32_t)(u % 65536u) - 4096; /* mostly inside the vocabulary, some outside either end */
        known &= ids[i] >= 0 && ids[i] < bpe_vocab_size(gpt2);
    }
    size_t len;
    IpuErr e = {{0}};
    char *text = bpe_decode(gpt2, ids, n, &len, &e);
    FUZZ_CHECK((text != NULL) == known, "decode %s with known=%d: %s", text ? "succeeded" : "failed", known, e.msg);
    free(text);
    free(ids);
    return 0;
}
