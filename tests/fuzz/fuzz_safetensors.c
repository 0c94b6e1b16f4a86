/* fuzz_safetensors.c - libFuzzer harness: the bytes are one .safetensors
 * file. st_open accepts it (then st_check_accepted's invariants hold) or
 * rejects it with an error naming the file. */
#include "tests/fuzz/st_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write("model.safetensors", data, size);
    IpuErr e = {{0}};
    StCheckpoint *ck = st_open(p, &e);
    if (!ck) {
        FUZZ_CHECK(strstr(e.msg, "model.safetensors") != NULL, "error does not name the file: %s", e.msg);
        return 0;
    }
    st_check_accepted(ck);
    st_close(ck);
    return 0;
}
