/* e2e_codelet.c - the `ipusim codelet` subcommand as a user runs it: output
 * and exit codes (0 ok, 1 user error, 2 usage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

/* Runs `ipusim ARGS` and returns its exit code; out gets stdout+stderr. */
static int run_ipusim(const char *args, char *out, size_t cap) { return tu_ipusim(NULL, args, 1, out, cap); }

static char buf[1 << 16];

static void test_list(void **state)
{
    (void)state;
    assert_int_equal(run_ipusim("codelet list", buf, sizeof buf), 0);
    const char *names[] = {"decompress:", "twopass", "fused", "lut", "fused2", "nibunpack", "decompress_q4.fused"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strstr(buf, names[i]))
            fail_msg("'codelet list' lacks '%s':\n%s", names[i], buf);
}

static void test_validate_one_variant(void **state)
{
    (void)state;
    assert_int_equal(run_ipusim("codelet validate decompress --variant fused2", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "fused2       PASS"));
    assert_non_null(strstr(buf, " 0 mismatches"));
    assert_null(strstr(buf, "twopass"));
}

static void test_errors_and_usage(void **state)
{
    (void)state;
    assert_int_equal(run_ipusim("codelet validate decompress --variant fastest", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "unknown variant 'fastest'"));
    assert_int_equal(run_ipusim("codelet validate decompres", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "unknown codelet family 'decompres'"));
    assert_int_equal(run_ipusim("codelet validate matmul", buf, sizeof buf), 1);
    /* exit codes as in host/cli.h: a malformed option value is usage (2) */
    assert_int_equal(run_ipusim("codelet validate decompress --seed x1", buf, sizeof buf), 2);
    assert_int_equal(run_ipusim("codelet validate decompress --seed 0x10", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "--seed '0x10' is not a decimal integer"));
    assert_int_equal(run_ipusim("codelet validate", buf, sizeof buf), 2);
    assert_int_equal(run_ipusim("codelet validate decompress --bogus", buf, sizeof buf), 2);
    assert_int_equal(run_ipusim("codelet frobnicate", buf, sizeof buf), 2);
    assert_int_equal(run_ipusim("codelet", buf, sizeof buf), 2);
    assert_int_equal(run_ipusim("codelet --help", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "codelet validate"));
}

static const cJSON *row_item(const cJSON *rows, const char *variant, int n, const char *key)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        if (!strcmp(cJSON_GetObjectItem(r, "variant")->valuestring, variant) &&
            cJSON_GetObjectItem(r, "group_size")->valueint == n)
            return cJSON_GetObjectItem(r, key);
    }
    fail_msg("no row %s n=%d", variant, n);
    return NULL;
}

static double row_num(const cJSON *rows, const char *variant, int n, const char *key)
{
    const cJSON *it = row_item(rows, variant, n, key);
    assert_true(cJSON_IsNumber(it));
    return it->valuedouble;
}

/* JSON rows for every variant x group size; the orderings the docs state;
 * a --set what-if moves only the variant that uses the instruction. */
static void test_bench_json(void **state)
{
    (void)state;
    assert_int_equal(run_ipusim("codelet bench decompress --arch bow --json", buf, sizeof buf), 0);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    const cJSON *rows = cJSON_GetObjectItem(j, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 6 * 7); /* 5 variants and Graphcore's pipeline */
    assert_string_equal(cJSON_GetObjectItem(j, "arch")->valuestring, "bow");
    /* Graphcore's pipeline: the broadcast vertex poplibs picks, and at least its unpack costs more than fused2 */
    assert_string_equal(row_item(rows, "graphcore", 16, "broadcast_vertex")->valuestring, "BroadcastVectorOuterByRow1D");
    assert_string_equal(row_item(rows, "graphcore", 32, "broadcast_vertex")->valuestring, "BinaryOp1D");
    assert_string_equal(row_item(rows, "graphcore", 64, "broadcast_vertex")->valuestring, "BroadcastScalar2D");
    assert_true(row_num(rows, "graphcore", 64, "tile_cycles_per_weight") > row_num(rows, "twopass", 64, "tile_cycles_per_weight"));
    double twopass = row_num(rows, "twopass", 64, "tile_cycles_per_weight");
    double fused = row_num(rows, "fused", 64, "tile_cycles_per_weight");
    double fused2 = row_num(rows, "fused2", 64, "tile_cycles_per_weight");
    double nib = row_num(rows, "nibunpack", 64, "tile_cycles");
    assert_true(fused2 < fused && fused < twopass);
    assert_true(cJSON_IsTrue(row_item(rows, "nibunpack", 64, "whatif")));
    assert_true(cJSON_IsFalse(row_item(rows, "fused", 64, "whatif")));
    /* bigger groups amortise the per-group scale/bias work */
    assert_true(row_num(rows, "fused", 256, "worker_cycles_per_weight") < row_num(rows, "fused", 16, "worker_cycles_per_weight"));
    cJSON_Delete(j);

    assert_int_equal(run_ipusim("codelet bench decompress --json --group-size 64 --set isa.nibunpack4.enabled=1 "
                                "--set isa.nibunpack4.cycles=3", buf, sizeof buf), 0);
    j = cJSON_Parse(buf);
    assert_non_null(j);
    rows = cJSON_GetObjectItem(j, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 6);
    assert_true(cJSON_IsFalse(row_item(rows, "nibunpack", 64, "whatif"))); /* enabled by the arch, not by the bench */
    /* 2 more worker cycles per word: 12288 / 4 / 6 words per worker, x 6 tile cycles */
    assert_true(row_num(rows, "nibunpack", 64, "tile_cycles") == nib + 2.0 * 12288 / 4 / 6 * 6);
    assert_true(row_num(rows, "fused", 64, "tile_cycles_per_weight") == fused);
    cJSON_Delete(j);

    assert_int_equal(run_ipusim("codelet bench decompress --arch gc200 --variant lut --group-size 32", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "arch gc200"));
    assert_non_null(strstr(buf, "lut"));
    assert_int_equal(run_ipusim("codelet bench decompress --arch nope", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "nope"));
    assert_int_equal(run_ipusim("codelet bench decompress --group-size 6", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "group_size 6"));
    assert_int_equal(run_ipusim("codelet bench decompress --set isa.bogus=1", buf, sizeof buf), 1);
    assert_int_equal(run_ipusim("codelet bench decompress --set nokeyvalue", buf, sizeof buf), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_validate_one_variant),
        cmocka_unit_test(test_errors_and_usage),
        cmocka_unit_test(test_bench_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
