/* e2e_formats.c - the weight formats beyond q4g as a user reaches them:
 * `ipusim codelet validate|bench decompress --format F`, `ipusim model eval
 * --formats`, `ipusim run` with a formats list (timing and functional),
 * and their errors; output and exit codes (0 ok, 1 user error, 2 usage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static char buf[1 << 17];

static int run_ipusim(const char *args) { return tu_ipusim(NULL, args, 1, buf, sizeof buf); }

static void test_validate_every_format(void **state)
{
    (void)state;
    static const char *const fmts[] = {"s4g", "nf4g", "nf4g+dq", "i8", "i8c", "fp8e4m3", "fp8e5m2:tensor"};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        char args[128];
        snprintf(args, sizeof args, "codelet validate decompress --format %s", fmts[i]);
        if (run_ipusim(args) != 0 || !strstr(buf, "PASS") || strstr(buf, "FAIL"))
            fail_msg("%s:\n%s", args, buf);
    }
    /* the family name works as well, one variant */
    assert_int_equal(run_ipusim("codelet validate decompress.nf4g --variant cb"), 0);
    assert_non_null(strstr(buf, "cb           PASS"));
    assert_null(strstr(buf, "lut "));
    /* q4g still goes to the q4g harness */
    assert_int_equal(run_ipusim("codelet validate decompress --format q4g:64 --variant fused"), 0);
    assert_non_null(strstr(buf, "decompress_q4_ref"));
}

static void test_bench_json(void **state)
{
    (void)state;
    assert_int_equal(run_ipusim("codelet bench decompress --format i8c --group-size 256 --json"), 0);
    cJSON *root = cJSON_Parse(buf);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "format")->valuestring, "i8");
    cJSON *rows = cJSON_GetObjectItem(root, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 1);
    double cpw = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "tile_cycles_per_weight")->valuedouble;
    assert_true(cpw > 1.7 && cpw < 1.9); /* 7 per 4 codes + 6 per 256: 1.77 */
    cJSON_Delete(root);
    assert_int_equal(run_ipusim("codelet bench decompress --format nf4g+dq --group-size 64"), 0);
    assert_non_null(strstr(buf, "lut "));
    assert_non_null(strstr(buf, "cb "));
}

static void test_codelet_errors(void **state)
{
    (void)state;
    assert_int_equal(run_ipusim("codelet validate decompress --format nf5g"), 2);
    assert_non_null(strstr(buf, "unknown format"));
    assert_int_equal(run_ipusim("codelet bench decompress --format fp16"), 2);
    assert_non_null(strstr(buf, "no tile decompress codelet"));
    assert_int_equal(run_ipusim("codelet validate decompress --format s4g --variant fastest"), 1);
    assert_non_null(strstr(buf, "unknown variant 'fastest'"));
    assert_int_equal(run_ipusim("codelet validate matmul --format s4g"), 2);
    assert_non_null(strstr(buf, "applies to the decompress family"));
}

static void test_model_eval_formats(void **state)
{
    (void)state;
    assert_int_equal(run_ipusim("model eval --config gptj-micro --max-tokens 16 --formats s4g:16,nf4g:16+dq,i8c,fp8e5m2"), 0);
    const char *want[] = {"w SQNR", "fp16 ", "s4g:16 ", "nf4g:16+dq ", "i8c ", "fp8e5m2 "};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(buf, want[i]))
            fail_msg("model eval lacks '%s':\n%s", want[i], buf);
    assert_int_equal(run_ipusim("model eval --config gptj-micro --formats s4g:48"), 1);
    assert_non_null(strstr(buf, "does not divide the input axis"));
    assert_int_equal(run_ipusim("model eval --config gptj-micro --formats bogus"), 2);
    assert_int_equal(run_ipusim("model eval --config gptj-micro --group 16 --formats i8c"), 2);
}

static void test_run_formats(void **state)
{
    (void)state;
    /* timing mode, 6B on pod4 would take seconds: gptj-tiny shows the same table */
    assert_int_equal(run_ipusim("run --set model=gptj-tiny --set formats=fp16,s4g:64,nf4g:64+dq,i8c,fp8e4m3 --set out= "
                                "--set gen_tokens=3 --set prompt_len=4"),
                     0);
    assert_non_null(strstr(buf, "nf4g:64+dq"));
    assert_non_null(strstr(buf, "4.13")); /* nf4g:64+dq's bits per parameter on 256 x 256 */
    assert_non_null(strstr(buf, "8.06")); /* i8c's and fp8's 8 + 16/256 */
    /* functional: tokens come out for every format */
    assert_int_equal(run_ipusim("run --set model=gptj-micro --set weights=synthetic --set formats=s4g:16,fp8e5m2:tensor "
                                "--set prompt_len=3 --set gen_tokens=2 --set out="),
                     0);
    assert_non_null(strstr(buf, "s4g:16   seq 0 ids:"));
    assert_non_null(strstr(buf, "fp8e5m2:tensor seq 0 ids:"));
    /* graphcore's pipeline is q4g only: refused before any work */
    assert_int_equal(run_ipusim("run --set scheme=graphcore --set formats=q4g:64,nf4g:64 --set out="), 1);
    assert_non_null(strstr(buf, "format 'nf4g:64' needs scheme = ipusim"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_every_format),
        cmocka_unit_test(test_bench_json),
        cmocka_unit_test(test_codelet_errors),
        cmocka_unit_test(test_model_eval_formats),
        cmocka_unit_test(test_run_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
