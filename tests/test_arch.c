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

/* arch_file_each: the preset first wherever it stands, then the keys in
 * file order, numbers in their shortest decimal text, bools as words. */
typedef struct Seen {
    char text[512];
    int stop_at; /* entry index whose callback fails, -1 none */
    int n;
} Seen;

static int note(void *ctx, const char *key, const char *value, IpuErr *err)
{
    Seen *s = ctx;
    snprintf(s->text + strlen(s->text), sizeof s->text - strlen(s->text), "%s=%s;", key, value);
    return s->n++ == s->stop_at ? ipu_err(err, "stopped at %s", key) : 0;
}

static void test_file_each(void **state)
{
    (void)state;
    IpuErr e;
    char *p = write_tmp("{\"clock_hz\": 1.33e9, \"preset\": \"pod4\", \"stream.io_tiles\": 64, "
                        "\"isa.nibunpack4.enabled\": false, \"stream.latency_s\": 0.1}");
    Seen s = {"", -1, 0};
    assert_int_equal(arch_file_each(p, note, &s, &e), 0);
    assert_string_equal(s.text, "preset=pod4;clock_hz=1330000000;stream.io_tiles=64;isa.nibunpack4.enabled=false;"
                                "stream.latency_s=0.1;");
    s = (Seen){"", 2, 0}; /* the callback's error comes back as it wrote it */
    assert_int_equal(arch_file_each(p, note, &s, &e), -1);
    assert_string_equal(e.msg, "stopped at stream.io_tiles");
    unlink(p);
    p = write_tmp("{\"nope\": 1}");
    s = (Seen){"", -1, 0};
    assert_int_equal(arch_file_each(p, note, &s, &e), -1);
    assert_non_null(strstr(e.msg, "unknown arch key 'nope'"));
    assert_non_null(strstr(e.msg, p));
    assert_string_equal(s.text, "");
    unlink(p);
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

/* Runs `ipusim ARGS` with stderr into out; the exit code. */
static int ipusim_arch(const char *args, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", getenv("IPUSIM_BIN"), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* The value column of key's line in `arch show` text ("" when absent). */
static const char *shown(const char *out, const char *key)
{
    static char v[64];
    v[0] = '\0';
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, key, strlen(key)) && l[strlen(key)] == ' ') {
            const char *eq = strchr(l, '=');
            if (eq)
                sscanf(eq + 1, "%63s", v);
            break;
        }
    return v;
}

/* `arch show` takes arch.<key> as `run --set` does, and an arch file naming
 * another preset than NAME is an error naming both. */
static void test_cli_spellings_and_presets(void **state)
{
    (void)state;
    static char out[65536];
    char args[600];
    assert_int_equal(ipusim_arch("arch show pod4 --set arch.stream.io_tiles=96 --set clock_hz=1e9", out, sizeof out), 0);
    assert_string_equal(shown(out, "stream.io_tiles"), "96");
    assert_string_equal(shown(out, "clock_hz"), "1e+09");
    char *p = write_tmp("{\"preset\": \"pod16\", \"stream.io_tiles\": 64}");
    snprintf(args, sizeof args, "arch show pod4 --arch-file %s", p);
    assert_int_equal(ipusim_arch(args, out, sizeof out), 1);
    if (!strstr(out, "names preset 'pod16' but the command line names 'pod4'") || !strstr(out, p))
        fail_msg("%s", out);
    snprintf(args, sizeof args, "arch show pod16 --arch-file %s", p);
    assert_int_equal(ipusim_arch(args, out, sizeof out), 0);
    assert_string_equal(shown(out, "stream.io_tiles"), "64");
    snprintf(args, sizeof args, "arch show --arch-file %s --json", p); /* the file names the preset */
    assert_int_equal(ipusim_arch(args, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "preset")->valuestring, "pod16");
    cJSON_Delete(j);
    snprintf(args, sizeof args, "bench stream --arch pod4 --arch-file %s", p);
    assert_int_equal(ipusim_arch(args, out, sizeof out), 1);
    assert_non_null(strstr(out, "names preset 'pod16' but the command line names 'pod4'"));
    unlink(p);
    p = write_tmp("{\"stream.io_tiles\": 64}");
    snprintf(args, sizeof args, "arch show --arch-file %s", p);
    assert_int_equal(ipusim_arch(args, out, sizeof out), 1);
    assert_non_null(strstr(out, "comes with no preset"));
    unlink(p);
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
        cmocka_unit_test(test_file_each),
        cmocka_unit_test(test_cli_bad_set_exits_1),
        cmocka_unit_test(test_cli_spellings_and_presets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
