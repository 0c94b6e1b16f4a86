/* fuzz_scenario.c - libFuzzer harness: the bytes are a scenario file.
 * Rejected: an error naming the scenario. Accepted: it holds no NUL byte,
 * and runcfg_check_round_trip. */
#include "tests/fuzz/runcfg_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write("scenario.conf", data, size);
    RunConfig *rc = malloc(sizeof *rc);
    FUZZ_CHECK(rc != NULL, "out of memory");
    runcfg_init(rc);
    IpuErr e = {{0}};
    if (runcfg_load_file(rc, p, &e))
        FUZZ_CHECK(strstr(e.msg, "scenario.conf") != NULL, "error does not name the scenario: %s", e.msg);
    else {
        FUZZ_CHECK(memchr(data, 0, size) == NULL, "a scenario with a NUL byte was accepted");
        runcfg_check_round_trip(rc);
    }
    free(rc);
    return 0;
}
