/* fuzz_arch_json.c - libFuzzer harness: the bytes are an arch JSON file
 * applied to the gc200 preset. Rejected: an error naming the file. Accepted
 * and valid: every key dumped by arch_key_at (what `arch show --json` and the
 * report echo print), written as an arch file and loaded onto a fresh gc200,
 * gives the same keys again. */
#include <cjson/cJSON.h>

#include "sim/arch.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write("arch.json", data, size);
    IpuArch a, b;
    IpuErr e = {{0}};
    FUZZ_CHECK(arch_preset("gc200", &a, &e) == 0, "%s", e.msg);
    if (arch_load_file(&a, p, &e)) {
        FUZZ_CHECK(strstr(e.msg, "arch.json") != NULL, "error does not name the file: %s", e.msg);
        return 0;
    }
    if (arch_validate(&a, &e))
        return 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "preset", a.name);
    for (size_t i = 0; i < arch_key_count(); i++) {
        ArchKeyInfo k;
        arch_key_at(&a, i, &k);
        if (!strcmp(k.type, "bool"))
            cJSON_AddBoolToObject(root, k.name, !strcmp(k.value, "true"));
        else
            cJSON_AddRawToObject(root, k.name, k.value);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    const char *q = fuzz_write("dumped.json", text, strlen(text));
    FUZZ_CHECK(arch_preset("gc200", &b, &e) == 0, "%s", e.msg);
    FUZZ_CHECK(arch_load_file(&b, q, &e) == 0, "the dumped arch does not load: %s\n%s", e.msg, text);
    FUZZ_CHECK(arch_validate(&b, &e) == 0, "the dumped arch does not validate: %s", e.msg);
    for (size_t i = 0; i < arch_key_count(); i++) {
        ArchKeyInfo ka, kb;
        arch_key_at(&a, i, &ka);
        arch_key_at(&b, i, &kb);
        FUZZ_CHECK(!strcmp(ka.value, kb.value), "key %s: %s, reloaded %s", ka.name, ka.value, kb.value);
    }
    cJSON_free(text);
    return 0;
}
