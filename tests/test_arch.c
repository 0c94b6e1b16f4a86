/* test_arch.c - sim/arch: presets, key setting, arch files, validation and
 * the `ipusim arch` CLI error path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sim/arch.h"

static void test_presets_match_reference(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset("gc200", &a, &e), 0);
    assert_int_equal(a.tiles_per_chip, 1472);
    assert_int_equal(a.sram_bytes_per_tile, 638976);
    assert_int_equal(a.workers_per_tile, 6);
    assert_int_equal(a.amp_macs_per_cycle_fp16, 64);
    assert_int_equal(a.isa.call, 3);
    assert_int_equal(arch_validate(&a, &e), 0);
    assert_int_equal(arch_preset("gc2", &a, &e), 0);
    assert_int_equal(a.tiles_per_chip, 1216);
    assert_int_equal(a.sram_bytes_per_tile, 262144);
    assert_true(a.clock_hz == 1.6e9);
    assert_int_equal(arch_preset("bow", &a, &e), 0);
    assert_true(a.clock_hz == 1.85e9);
    assert_int_equal(arch_preset("pod16", &a, &e), 0);
    assert_int_equal(a.chips, 16);
    assert_int_equal(a.chips_per_machine, 4);
    assert_int_equal(arch_machines(&a), 4);
    assert_int_equal(arch_total_tiles(&a), 16 * 1472);
    /* rule: 90 + ceil(30 ns x 1.33 GHz) = 90 + 40 */
    assert_int_equal(a.sync_system_cycles, 130);
    for (int i = 0; arch_preset_names[i]; i++) {
        assert_int_equal(arch_preset(arch_preset_names[i], &a, &e), 0);
        assert_int_equal(arch_validate(&a, &e), 0);
    }
}

static void test_unknown_preset(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset("gc300", &a, &e), -1);
    assert_non_null(strstr(e.msg, "'gc300'"));
    assert_non_null(strstr(e.msg, "pod16"));
}

static void test_set_keys(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    arch_preset("gc200", &a, &e);
    assert_int_equal(arch_set(&a, "stream.bandwidth_bytes_per_s", "20e9", &e), 0);
    assert_true(a.stream_bandwidth_bytes_per_s == 20e9);
    assert_int_equal(arch_set(&a, "isa.f16v4mul.cycles", "2", &e), 0);
    assert_int_equal(a.isa.f16v4mul, 2);
    assert_int_equal(arch_set(&a, "isa.nibunpack4.enabled", "true", &e), 0);
    assert_true(a.isa.nibunpack4_enabled);
    assert_int_equal(arch_set(&a, "sync.chip_cycles", "100", &e), 0);
    assert_int_equal(a.sync_system_cycles, 140);
    assert_int_equal(a.link_latency_cycles, 140);
    /* a rule key set explicitly stays put when its inputs change */
    assert_int_equal(arch_set(&a, "link.latency_cycles", "500", &e), 0);
    assert_int_equal(arch_set(&a, "clock_hz", "1e9", &e), 0);
    assert_int_equal(a.sync_system_cycles, 130);
    assert_int_equal(a.link_latency_cycles, 500);
}

static void test_set_errors_name_key(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    arch_preset("gc200", &a, &e);
    assert_int_equal(arch_set(&a, "tiles_per_chp", "4", &e), -1);
    assert_non_null(strstr(e.msg, "unknown arch key 'tiles_per_chp'"));
    assert_int_equal(arch_set(&a, "tiles_per_chip", "many", &e), -1);
    assert_non_null(strstr(e.msg, "'tiles_per_chip'"));
    assert_non_null(strstr(e.msg, "not a number"));
    assert_int_equal(arch_set(&a, "tiles_per_chip", "0", &e), -1);
    assert_non_null(strstr(e.msg, "out of range"));
    assert_int_equal(arch_set(&a, "tiles_per_chip", "2.5", &e), -1);
    assert_non_null(strstr(e.msg, "not an integer"));
    assert_int_equal(arch_set(&a, "link.bandwidth_bytes_per_s", "-1e9", &e), -1);
    assert_non_null(strstr(e.msg, "'link.bandwidth_bytes_per_s'"));
    assert_int_equal(arch_set(&a, "isa.ld32.enabled", "true", &e), -1); /* not a what-if */
    assert_int_equal(arch_set(&a, "isa.nibunpack4.enabled", "maybe", &e), -1);
    assert_non_null(strstr(e.msg, "not a bool"));
    assert_int_equal(a.tiles_per_chip, 1472); /* failed sets changed nothing */
}

static void test_validate(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    arch_preset("pod4", &a, &e);
    a.chips = 6;
    assert_int_equal(arch_validate(&a, &e), -1);
    assert_non_null(strstr(e.msg, "'chips'"));
    arch_preset("gc200", &a, &e);
    a.exchange_bytes_per_cycle = -4;
    assert_int_equal(arch_validate(&a, &e), -1);
    assert_non_null(strstr(e.msg, "'exchange.bytes_per_cycle'"));
    arch_preset("gc200", &a, &e);
    a.io_tiles = 1472;
    assert_int_equal(arch_validate(&a, &e), -1);
    assert_non_null(strstr(e.msg, "'stream.io_tiles'"));
}

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/ipusim_arch_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_load_file(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    arch_preset("gc2", &a, &e);
    char *p = write_tmp("{\"preset\": \"pod4\", \"stream.io_tiles\": 64, \"isa.nibunpack4.enabled\": true}");
    assert_int_equal(arch_load_file(&a, p, &e), 0);
    assert_int_equal(a.chips, 4);
    assert_int_equal(a.io_tiles, 64);
    assert_true(a.isa.nibunpack4_enabled);
    unlink(p);

    p = write_tmp("{\"chips\": 4, \"bogus.key\": 1}");
    assert_int_equal(arch_load_file(&a, p, &e), -1);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "'bogus.key'"));
    unlink(p);

    p = write_tmp("{\"clock_hz\": \"fast\"}");
    assert_int_equal(arch_load_file(&a, p, &e), -1);
    assert_non_null(strstr(e.msg, "'clock_hz'"));
    unlink(p);

    p = write_tmp("{\"chips\": true}");
    assert_int_equal(arch_load_file(&a, p, &e), -1);
    assert_non_null(strstr(e.msg, "'chips' must be a number"));
    unlink(p);

    p = write_tmp("{\"chips\": 4,, }");
    assert_int_equal(arch_load_file(&a, p, &e), -1);
    assert_non_null(strstr(e.msg, "malformed JSON"));
    assert_non_null(strstr(e.msg, p));
    unlink(p);

    assert_int_equal(arch_load_file(&a, "/nonexistent/arch.json", &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/arch.json"));
}

static void test_key_listing(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    arch_preset("bow", &a, &e);
    int seen_isa = 0, seen_whatif = 0;
    for (size_t i = 0; i < arch_key_count(); i++) {
        ArchKeyInfo k;
        arch_key_at(&a, i, &k);
        assert_true(strlen(k.doc) > 0);
        seen_isa += !strcmp(k.name, "isa.f16v4mul.cycles");
        seen_whatif += !strcmp(k.name, "isa.nibunpack4.enabled");
        assert_null(strstr(k.name, "isa.ld32.enabled"));
        if (!strcmp(k.name, "clock_hz"))
            assert_string_equal(k.value, "1.85e+09");
    }
    assert_int_equal(seen_isa, 1);
    assert_int_equal(seen_whatif, 1);
}

static void test_cli_bad_set_exits_1(void **state)
{
    (void)state;
    const char *bin = getenv("IPUSIM_BIN");
    assert_non_null(bin);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' arch show gc200 --set tiles_per_chip=0 2>&1", bin);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[2048] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(strstr(out, "'tiles_per_chip'"));

    /* --json parses and carries every key with the --set applied */
    snprintf(cmd, sizeof cmd, "'%s' arch show pod4 --json --set stream.io_tiles=128", bin);
    p = popen(cmd, "r");
    assert_non_null(p);
    static char js[65536];
    n = fread(js, 1, sizeof js - 1, p);
    js[n] = '\0';
    assert_int_equal(WEXITSTATUS(pclose(p)), 0);
    cJSON *root = cJSON_Parse(js);
    assert_non_null(root);
    cJSON *keys = cJSON_GetObjectItem(root, "keys");
    assert_int_equal(cJSON_GetArraySize(keys), (int)arch_key_count());
    int found = 0;
    for (cJSON *k = keys->child; k; k = k->next)
        if (!strcmp(cJSON_GetObjectItem(k, "name")->valuestring, "stream.io_tiles")) {
            found = 1;
            assert_int_equal(cJSON_GetObjectItem(k, "value")->valueint, 128);
            assert_string_equal(cJSON_GetObjectItem(k, "unit")->valuestring, "tiles");
        }
    assert_true(found);
    cJSON_Delete(root);
    snprintf(cmd, sizeof cmd, "'%s' arch show nosuch 2>/dev/null", bin);
    st = system(cmd);
    assert_int_equal(WEXITSTATUS(st), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets_match_reference),
        cmocka_unit_test(test_unknown_preset),
        cmocka_unit_test(test_set_keys),
        cmocka_unit_test(test_set_errors_name_key),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_key_listing),
        cmocka_unit_test(test_cli_bad_set_exits_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
