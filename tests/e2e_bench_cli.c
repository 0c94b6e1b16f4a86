/* e2e_bench_cli.c - the command lines whose options are declared by name
 * (issue 12): `ipusim bench` dispatching through its table (an unknown
 * benchmark lists every one, exit 2), and one option of each of arch, bench
 * (built-ins, amp, matmul, forward, gptj, sweep), calibrate and tokenize
 * read as the option it names. Cheap runs only: micro models, error paths
 * that quote the value read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

static char tmpdir[256];
static char out[1 << 16];

/* Every benchmark `ipusim bench` dispatches, as its usage lists them. */
static const char *const benchmarks[] = {"exchange", "sync", "stream", "allreduce", "engine", "all",
                                         "amp", "matmul", "forward", "gptj", "functional", "sweep"};

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_e2e_bench_cli_") || !getenv("IPUSIM_BIN") ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

/* Runs ipusim ARGS in tmpdir (stdout and stderr into out); returns the exit code. */
static int ipusim(const char *args) { return tu_ipusim(tmpdir, args, 1, out, sizeof out); }

/* The same with stdout only (for JSON). */
static int ipusim_stdout(const char *args) { return tu_ipusim(tmpdir, args, 0, out, sizeof out); }

#define assert_out_has(s)                                                   \
    do {                                                                    \
        if (!strstr(out, (s)))                                              \
            fail_msg("output lacks '%s':\n%s", (s), out);                   \
    } while (0)

/* out lists each benchmark on a line of its own ("  NAME  summary"). */
static void assert_lists_every_benchmark(void)
{
    for (size_t i = 0; i < sizeof benchmarks / sizeof *benchmarks; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n  %s ", benchmarks[i]);
        assert_out_has(line);
    }
}

static void test_bench_unknown_lists_every_benchmark(void **state)
{
    (void)state;
    assert_int_equal(ipusim("bench nope"), 2);
    assert_out_has("unknown benchmark 'nope'");
    assert_lists_every_benchmark();
    assert_int_equal(ipusim("bench --json nope"), 2);
    assert_out_has("unknown benchmark 'nope'");
    assert_int_equal(ipusim("bench"), 2);
    assert_lists_every_benchmark();
    assert_int_equal(ipusim("bench --help"), 0);
    assert_lists_every_benchmark();
    assert_out_has("--supersteps");
    /* a built-in's --help is the bench usage; the others have their own */
    assert_int_equal(ipusim("bench sync --help"), 0);
    assert_lists_every_benchmark();
    assert_int_equal(ipusim("bench amp --help"), 0);
    assert_out_has("usage: ipusim bench amp");
    /* a benchmark with its own options takes them after its name */
    assert_int_equal(ipusim("bench --json amp"), 2);
    assert_out_has("after its name");
    assert_int_equal(ipusim("bench sync extra"), 2);
    assert_out_has("unexpected argument 'extra'");
}

/* --arch, --set and --json of a built-in, after or before its name. */
static void test_bench_builtin_options(void **state)
{
    (void)state;
    const char *lines[] = {"bench sync --json --arch gc200 --set clock_hz=1e9",
                           "bench --arch gc200 --set clock_hz=1e9 --json sync"};
    for (int k = 0; k < 2; k++) {
        int rv = ipusim_stdout(lines[k]);
        if (rv)
            fail_msg("%s: exit %d:\n%s", lines[k], rv, out);
        cJSON *j = cJSON_Parse(out);
        if (!j)
            fail_msg("%s: not JSON:\n%s", lines[k], out);
        assert_int_equal(cJSON_GetArraySize(j), 1);
        cJSON *t = cJSON_GetArrayItem(j, 0);
        assert_string_equal(cJSON_GetObjectItem(t, "arch")->valuestring, "gc200");
        assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "set"), 0)->valuestring, "clock_hz=1e9");
        assert_non_null(strstr(cJSON_GetObjectItem(t, "title")->valuestring, "sync"));
        cJSON_Delete(j);
    }
    /* the default arch of each built-in, echoed before its table */
    assert_int_equal(ipusim("bench sync"), 0);
    assert_out_has("arch: pod16 (16 chips)");
    assert_int_equal(ipusim("bench engine --supersteps 0"), 2);
    assert_out_has("--supersteps '0'");
    assert_int_equal(ipusim("bench engine --arch gc2 --supersteps 12 --trace e.json"), 0);
    assert_out_has("arch: gc2 (1 chips)");
    assert_out_has("| 1216 | 1216 | 12 |"); /* tiles, vertices, supersteps */
    char path[400];
    snprintf(path, sizeof path, "%s/e.json", tmpdir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 0);
}

static void test_arch_options(void **state)
{
    (void)state;
    int rv = ipusim_stdout("arch show pod16 --json --set clock_hz=1.5e9");
    if (rv)
        fail_msg("exit %d:\n%s", rv, out);
    cJSON *j = cJSON_Parse(out);
    if (!j)
        fail_msg("not JSON:\n%s", out);
    assert_string_equal(cJSON_GetObjectItem(j, "preset")->valuestring, "pod16");
    int seen = 0;
    cJSON *k;
    cJSON_ArrayForEach(k, cJSON_GetObjectItem(j, "keys")) {
        if (!strcmp(cJSON_GetObjectItem(k, "name")->valuestring, "clock_hz")) {
            assert_true(cJSON_GetObjectItem(k, "value")->valuedouble == 1.5e9);
            seen = 1;
        }
    }
    assert_true(seen);
    cJSON_Delete(j);
    /* --arch-file names the preset when NAME is left out */
    char path[400];
    snprintf(path, sizeof path, "%s/a.json", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"preset\": \"gc2\"}\n", f);
    fclose(f);
    assert_int_equal(ipusim("arch show --arch-file a.json"), 0);
    assert_out_has("gc2");
}

/* One option of each benchmark with its own options, read as the option it names. */
static void test_bench_own_options(void **state)
{
    (void)state;
    assert_int_equal(ipusim("bench amp --arch-file no-such.json"), 1);
    assert_out_has("ipusim bench amp: arch file 'no-such.json'");
    assert_int_equal(ipusim("bench matmul --set nokey=1"), 1);
    assert_out_has("ipusim bench matmul: --set: unknown arch key 'nokey'");
    int rv = ipusim("bench forward --config gptj-micro --batch 2 --prompt 3 --tokens 2 --threads 1 --dtype f32");
    if (rv)
        fail_msg("exit %d:\n%s", rv, out);
    assert_out_has("bench forward: gptj-micro, f32 matrices, batch 2, prompt 3, 2 decode steps, 1 threads");
    assert_int_equal(ipusim("bench forward --checkpoint no-such-ckpt --prompt 3 --tokens 2"), 1);
    assert_out_has("no-such-ckpt");
    assert_int_equal(ipusim("bench gptj --scenario no-such.conf"), 1);
    assert_out_has("ipusim bench gptj: scenario 'no-such.conf'");
    rv = ipusim("bench sweep --points 2 --separate 1 --threads 1 --set model=gptj-micro --set arch=pod4 "
                "--set prompt_len=8 --set gen_tokens=2 --set formats=fp16");
    if (rv)
        fail_msg("exit %d:\n%s", rv, out);
    assert_out_has("bench sweep: 2 points");
    assert_out_has("1 threads");
    assert_out_has("separate runs");
}

static void test_calibrate_and_tokenize_options(void **state)
{
    (void)state;
    assert_int_equal(ipusim("calibrate --target-ms 5 --set model=gptj-micro --set arch=pod4 --set prompt_len=8 "
                            "--set gen_tokens=2 --format q4g:32"),
                     1);
    assert_out_has("format 'q4g:32' is not among the configured formats 'fp16,q4g:64'");
    assert_int_equal(ipusim("calibrate --target-ms 5 --lo 10 --hi 1"), 2);
    assert_out_has("0 < --lo < --hi");
    assert_int_equal(ipusim("tokenize --vocab no-such-vocab hi"), 1);
    assert_out_has("--vocab folder 'no-such-vocab'");
    assert_int_equal(ipusim("tokenize --decode"), 2);
    assert_out_has("usage: ipusim tokenize");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_unknown_lists_every_benchmark),
        cmocka_unit_test(test_bench_builtin_options),
        cmocka_unit_test(test_arch_options),
        cmocka_unit_test(test_bench_own_options),
        cmocka_unit_test(test_calibrate_and_tokenize_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
