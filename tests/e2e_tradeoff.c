/* e2e_tradeoff.c - `ipusim tradeoff` through the real program: the table,
 * the out folder's files (CSV with a row per format, its bits per
 * parameter falling with the group size, the plot and its script), JSON,
 * and usage and input errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/fileio.h"
#include "tests/testutil.h"

static char tmpdir[256];
static char out[65536];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_tradeoff_") || !getenv("IPUSIM_BIN") ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

#define MICRO "tradeoff --set model=gptj-micro --set arch=gc200 --set prompt_len=4 --set gen_tokens=2 " \
              "--set formats=q4g:16,q4g:32,q4g:64 --max-tokens 16 --quiet"

static void test_files_and_table(void **state)
{
    (void)state;
    char args[1024], path[512];
    snprintf(args, sizeof args, MICRO " --out %s/t", tmpdir);
    assert_int_equal(tu_ipusim(NULL, args, 1, out, sizeof out), 0);
    assert_non_null(strstr(out, "eval: gptj-micro synthetic seed 1, 16 tokens"));
    assert_non_null(strstr(out, "q4g:64             64     4.500"));
    const char *files[] = {"tradeoff.csv", "tradeoff.dat", "tradeoff.gp"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/t/%s", tmpdir, files[i]);
        if (access(path, R_OK))
            fail_msg("%s is missing", path);
    }
    snprintf(path, sizeof path, "%s/t/tradeoff.png", tmpdir);
    char svg[512];
    snprintf(svg, sizeof svg, "%s/t/tradeoff.svg", tmpdir);
    assert_true(access(path, R_OK) == 0 || access(svg, R_OK) == 0);
    /* one row per format, fp16 (the reference) added first; bits per parameter falls with the group */
    char *csv;
    IpuErr e;
    snprintf(path, sizeof path, "%s/t/tradeoff.csv", tmpdir);
    assert_int_equal(fileio_read(path, "csv", 1 << 16, &csv, NULL, &e), 0);
    const char *want[] = {"fp16,0,16,", "q4g:16,16,6,", "q4g:32,32,5,", "q4g:64,64,4.5,"};
    char *line = strchr(csv, '\n') + 1;
    double prev = 1e9;
    int rows = 0;
    for (; *line; line = strchr(line, '\n') + 1, rows++) {
        assert_true(rows < 4);
        assert_memory_equal(line, want[rows], strlen(want[rows]));
        double bits = strtod(strchr(strchr(line, ',') + 1, ',') + 1, NULL);
        assert_true(bits < prev);
        prev = bits;
    }
    assert_int_equal(rows, 4);
    free(csv);
}

static void test_json_and_errors(void **state)
{
    (void)state;
    char args[1024];
    snprintf(args, sizeof args, MICRO " --metric perplexity --json --out %s/j", tmpdir);
    assert_int_equal(tu_ipusim(NULL, args, 0, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "metric")), "perplexity");
    const cJSON *pts = cJSON_GetObjectItem(j, "points");
    assert_int_equal(cJSON_GetArraySize(pts), 4);
    const cJSON *p = cJSON_GetArrayItem(pts, 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "format")), "q4g:32");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(p, "batched_token_s")) > 0);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(p, "mean_kl_nats")) > 0);
    cJSON_Delete(j);
    snprintf(args, sizeof args, MICRO " --metric bogus --out %s/x", tmpdir);
    assert_int_equal(tu_ipusim(NULL, args, 1, out, sizeof out), 2);
    assert_non_null(strstr(out, "--metric 'bogus'"));
    snprintf(args, sizeof args, MICRO " --set keep_fp16=lm_head.weight --out %s/x", tmpdir);
    assert_int_equal(tu_ipusim(NULL, args, 1, out, sizeof out), 1);
    assert_non_null(strstr(out, "key 'keep_fp16'"));
    snprintf(args, sizeof args, MICRO " --set formats=q4g:128 --out %s/x", tmpdir);
    assert_int_equal(tu_ipusim(NULL, args, 1, out, sizeof out), 1);
    assert_non_null(strstr(out, "does not divide"));
    snprintf(args, sizeof args, "%s/x", tmpdir);
    assert_int_equal(access(args, F_OK), -1); /* nothing written by the failures */
}

/* --on-sim: the eval on the machine, same points; KL near the host reference's */
static void test_on_sim(void **state)
{
    (void)state;
    char args[1024];
    double kl[2];
    for (int sim = 0; sim < 2; sim++) {
        snprintf(args, sizeof args, MICRO " --json %s--out %s/s%d", sim ? "--on-sim " : "", tmpdir, sim);
        assert_int_equal(tu_ipusim(NULL, args, 0, out, sizeof out), 0);
        cJSON *j = cJSON_Parse(out);
        assert_non_null(j);
        assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(j, "logits_source")),
                               sim ? "simulated machine" : "host reference"));
        const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "points"), 2);
        kl[sim] = cJSON_GetNumberValue(cJSON_GetObjectItem(p, "mean_kl_nats"));
        cJSON_Delete(j);
    }
    assert_true(kl[1] > 0 && fabs(kl[1] - kl[0]) < 0.1 * kl[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_and_table),
        cmocka_unit_test(test_json_and_errors),
        cmocka_unit_test(test_on_sim),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
