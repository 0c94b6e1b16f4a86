/* fuzz_token_ids.c - libFuzzer harness: the bytes are an ids file
 * (--ids-file, --teacher-force-file). Rejected: an error naming the file.
 * Accepted: at least one id, each at most 2^31 - 1 and below the
 * vocabulary checked against; the ids written back as a comma list parse
 * to the same ids. */
#include "tests/fuzz/fuzz.h"
#include "models/token_ids.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write("ids.txt", data, size);
    uint32_t *ids, *again;
    size_t n, n2;
    IpuErr e = {{0}};
    int vocab = size ? 1 + data[0] * 200 : 0; /* sometimes a vocabulary to check against */
    if (token_ids_read(p, "--ids-file", vocab, "fuzz", &ids, &n, &e)) {
        FUZZ_CHECK(strstr(e.msg, "--ids-file '") && strstr(e.msg, "ids.txt"), "error does not name the file: %s",
                   e.msg);
        return 0;
    }
    FUZZ_CHECK(n >= 1 && n <= TOKEN_IDS_MAX, "%zu ids accepted", n);
    char *text = malloc(n * 12 + 1), *t = text;
    FUZZ_CHECK(text != NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(ids[i] <= 2147483647u && (unsigned)ids[i] < (unsigned)vocab, "id %u accepted", ids[i]);
        t += sprintf(t, "%s%u", i ? "," : "", ids[i]);
    }
    FUZZ_CHECK(token_ids_parse(text, "--ids", vocab, "fuzz", &again, &n2, &e) == 0, "written back: %s", e.msg);
    FUZZ_CHECK(n2 == n && !memcmp(again, ids, n * sizeof *ids), "written back, the ids differ");
    free(again);
    free(ids);
    free(text);
    return 0;
}
