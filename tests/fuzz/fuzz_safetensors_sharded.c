/* fuzz_safetensors_sharded.c - libFuzzer harness: a sharded checkpoint.
 * The bytes are cut at each "\n--\n": the first part is
 * model.safetensors.index.json, the next (up to 4) are the shards
 * model-0000K-of-0000N.safetensors; st_open reads the folder. Accepted: the
 * invariants of st_check_accepted, and every tensor sits in a shard of the
 * folder. Rejected: an error naming a file of the folder. */
#define _GNU_SOURCE /* memmem */
#include "tests/fuzz/st_check.h"

#define SEP "\n--\n"
#define MAX_SHARDS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_clear();
    const uint8_t *part[MAX_SHARDS + 1];
    size_t len[MAX_SHARDS + 1];
    int n = 0;
    const uint8_t *p = data, *end = data + size;
    while (n < MAX_SHARDS + 1) {
        const uint8_t *cut = n < MAX_SHARDS ? memmem(p, (size_t)(end - p), SEP, 4) : NULL;
        part[n] = p;
        len[n] = cut ? (size_t)(cut - p) : (size_t)(end - p);
        n++;
        if (!cut)
            break;
        p = cut + 4;
    }
    fuzz_write("model.safetensors.index.json", part[0], len[0]);
    int shards = n - 1;
    for (int k = 1; k < n; k++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k, shards);
        fuzz_write(name, part[k], len[k]);
    }
    IpuErr e = {{0}};
    StCheckpoint *ck = st_open(fuzz_dir(), &e);
    if (!ck) {
        FUZZ_CHECK(strstr(e.msg, fuzz_dir()) != NULL, "error does not name a file of the folder: %s", e.msg);
        return 0;
    }
    for (int i = 0; i < ck->n_files; i++)
        FUZZ_CHECK(!strncmp(ck->files[i].path, fuzz_dir(), strlen(fuzz_dir())) &&
                       !strchr(ck->files[i].path + strlen(fuzz_dir()) + 1, '/'),
                   "shard %s outside the folder", ck->files[i].path);
    st_check_accepted(ck);
    st_close(ck);
    return 0;
}
