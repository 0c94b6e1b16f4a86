/* fuzz_npy.c - libFuzzer harness: the bytes are a .npy file (what tools
 * comparing logits read). Rejected: an error naming the file. Accepted: 1
 * to NPY_MAX_DIMS dimensions whose product is the data's length / 4; written
 * back (npy_write_f32) and read again, the same shape and the same bits. */
#include "tests/fuzz/fuzz.h"
#include "models/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write("in.npy", data, size);
    float *v, *w;
    uint64_t shape[NPY_MAX_DIMS], shape2[NPY_MAX_DIMS];
    int nd, nd2;
    IpuErr e = {{0}};
    if (npy_read_f32(p, 1u << 20, &v, shape, &nd, &e)) {
        FUZZ_CHECK(strstr(e.msg, "in.npy") != NULL, "error does not name the file: %s", e.msg);
        return 0;
    }
    FUZZ_CHECK(nd >= 1 && nd <= NPY_MAX_DIMS, "%d dimensions accepted", nd);
    uint64_t count = 1;
    for (int i = 0; i < nd; i++)
        count *= shape[i];
    FUZZ_CHECK(count * 4 < size, "%llu values from %zu bytes", (unsigned long long)count, size);
    const char *q = fuzz_path("out.npy");
    FUZZ_CHECK(npy_write_f32(q, v, shape, nd, &e) == 0, "write back: %s", e.msg);
    FUZZ_CHECK(npy_read_f32(q, 1u << 21, &w, shape2, &nd2, &e) == 0, "read back: %s", e.msg);
    FUZZ_CHECK(nd2 == nd && !memcmp(shape, shape2, (size_t)nd * sizeof *shape), "read back, another shape");
    FUZZ_CHECK(!memcmp(v, w, count * sizeof *v), "read back, other values");
    free(v);
    free(w);
    return 0;
}
