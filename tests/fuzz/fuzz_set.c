/* fuzz_set.c - libFuzzer harness: `--set key=value` arguments. The bytes
 * are cut at newlines and NULs into up to 8 settings applied in order; each
 * is accepted, or rejected with an error naming "--set" and the config left
 * as it was. Then runcfg_check_round_trip. */
#include "tests/fuzz/runcfg_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_string(data, size);
    RunConfig *rc = malloc(2 * sizeof *rc);
    FUZZ_CHECK(rc != NULL, "out of memory");
    RunConfig *before = rc + 1;
    runcfg_init(rc);
    char *p = s, *end = s + size;
    for (int n = 0; n < 8 && p < end; n++) {
        char *cut = p;
        while (cut < end && *cut != '\n' && *cut != '\0')
            cut++;
        *cut = '\0';
        memcpy(before, rc, sizeof *rc);
        IpuErr e = {{0}};
        if (runcfg_set_kv(rc, p, "--set", &e)) {
            FUZZ_CHECK(strstr(e.msg, "--set") != NULL, "error does not name its source: %s", e.msg);
            FUZZ_CHECK(!memcmp(before, rc, sizeof *rc), "a rejected setting changed the config: %s", p);
        }
        p = cut + 1;
    }
    runcfg_check_round_trip(rc);
    free(rc);
    free(s);
    return 0;
}
