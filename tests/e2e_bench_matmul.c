/* e2e_bench_matmul.c - `ipusim bench matmul`: runs the program on a small
 * chip (64 tiles, so it is quick and most shapes do not fit), reads its JSON
 * and checks that a shape that does not fit is a row with the lowering's
 * error, that the fitting rows are self-consistent (cycles split into their
 * phases, no faster than the bound, the busiest tile's bytes within what
 * the Copy steps moved), and the exit codes for a bad arch (1) and a bad
 * option (2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/testutil.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run(const char *args, char *out, size_t cap) { return tu_ipusim(NULL, args, 0, out, cap); }

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("row has no number '%s'", key);
    return v->valuedouble;
}

static void test_small_chip_rows(void **state)
{
    (void)state;
    static char buf[1 << 17];
    assert_int_equal(run("bench matmul --json --set tiles_per_chip=64", buf, sizeof buf), 0);
    cJSON *j = cJSON_Parse(buf);
    if (!j)
        fail_msg("not JSON: %.200s", buf);
    assert_int_equal((int)num(j, "tiles"), 64);
    double peak = num(j, "peak_tflops");
    cJSON *rows = cJSON_GetObjectItem(j, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 5 + 4 * 5);
    int errors = 0, fits = 0;
    cJSON *r;
    cJSON_ArrayForEach(r, rows) {
        const cJSON *e = cJSON_GetObjectItem(r, "error");
        if (e) {
            assert_true(cJSON_IsString(e));
            /* the lowering's out-of-memory errors: no grid, no row of activations, a tensor */
            if (!strstr(e->valuestring, "no tile grid fits") && !strstr(e->valuestring, "no row of activations") &&
                !strstr(e->valuestring, "out of tile memory"))
                fail_msg("unexpected error row: %s", e->valuestring);
            errors++;
            continue;
        }
        fits++;
        double cycles = num(r, "cycles");
        assert_true(cycles > 0);
        assert_true(cycles == num(r, "amp_cycles") + num(r, "reduce_cycles") + num(r, "copy_cycles") +
                                   num(r, "sync_cycles"));
        assert_true(num(r, "tflops") < peak);
        assert_true(num(r, "cycles_over_bound") >= 1.0);
        assert_true(num(r, "nb") * num(r, "kb") * num(r, "mb") <= 64);
        /* every row group's rows go through its chunks */
        assert_true(num(r, "rows_per_chunk") * num(r, "chunks") * num(r, "mb") >= num(r, "m"));
        /* the busiest tile sends and receives at most every byte moved, at least its share */
        double tb = num(r, "tile_xchg_bytes"), cb = num(r, "copy_bytes");
        assert_true(tb <= 2 * cb);
        assert_true(tb * 64 >= 2 * cb);
    }
    /* on 64 tiles the 4096-wide GPT-J weights and the biggest squares do not fit; the small ones do */
    assert_true(errors > 0);
    assert_true(fits > 0);
    cJSON_Delete(j);
}

static void test_exit_codes(void **state)
{
    (void)state;
    static char buf[16384];
    assert_int_equal(run("bench matmul --arch nosuch", buf, sizeof buf), 1);
    assert_int_equal(run("bench matmul --bogus", buf, sizeof buf), 2);
    assert_int_equal(run("bench matmul --help", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "usage: ipusim bench matmul"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_chip_rows),
        cmocka_unit_test(test_exit_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
