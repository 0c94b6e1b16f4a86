/* e2e_bench_amp.c - `ipusim bench amp`: runs the program, reads its JSON and
 * checks the figures against the published Bow points; exit codes for a bad
 * arch (1) and a bad option (2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/testutil.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static int run(const char *args, char *out, size_t cap) { return tu_ipusim(NULL, args, 0, out, cap); }

static void test_json_figures(void **state)
{
    (void)state;
    static char buf[16384];
    assert_int_equal(run("bench amp --json", buf, sizeof buf), 0);
    cJSON *j = cJSON_Parse(buf);
    if (!j)
        fail_msg("not JSON: %.200s", buf);
    assert_int_equal(cJSON_GetObjectItem(j, "tiles")->valueint, 1472);
    cJSON *pts = cJSON_GetObjectItem(j, "points");
    assert_int_equal(cJSON_GetArraySize(pts), 8);
    int published = 0;
    double prev = 0;
    cJSON *pt;
    cJSON_ArrayForEach(pt, pts) {
        double tflops = cJSON_GetObjectItem(pt, "tflops")->valuedouble;
        assert_true(tflops > prev); /* larger N amortises the fixed cost */
        prev = tflops;
        /* barrel model: 6 tile cycles per worker cycle, plus the engine's launch overheads */
        double tile = cJSON_GetObjectItem(pt, "tile_cycles")->valuedouble;
        double worker = cJSON_GetObjectItem(pt, "worker_cycles")->valuedouble;
        assert_true(tile >= 6 * worker && tile < 6 * worker + 200);
        cJSON *pub = cJSON_GetObjectItem(pt, "published_tflops");
        if (cJSON_IsNumber(pub)) {
            published++;
            if (fabs(tflops / pub->valuedouble - 1.0) > 0.08)
                fail_msg("N=%d: %.1f vs published %.1f", cJSON_GetObjectItem(pt, "n")->valueint, tflops, pub->valuedouble);
        }
    }
    assert_int_equal(published, 3);
    assert_true(prev < cJSON_GetObjectItem(j, "peak_tflops")->valuedouble);
    cJSON_Delete(j);
}

/* A what-if setting reaches the codelets: no AMP fill saves 6 x 16 tile
 * cycles at every N. */
static void test_set_changes_cycles(void **state)
{
    (void)state;
    static char a[16384], b[16384];
    assert_int_equal(run("bench amp --json", a, sizeof a), 0);
    assert_int_equal(run("bench amp --json --set isa.amp_fill.cycles=0", b, sizeof b), 0);
    cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
    assert_non_null(ja), assert_non_null(jb);
    cJSON *pa = cJSON_GetObjectItem(ja, "points"), *pb = cJSON_GetObjectItem(jb, "points");
    for (int i = 0; i < cJSON_GetArraySize(pa); i++) {
        double ca = cJSON_GetObjectItem(cJSON_GetArrayItem(pa, i), "tile_cycles")->valuedouble;
        double cb = cJSON_GetObjectItem(cJSON_GetArrayItem(pb, i), "tile_cycles")->valuedouble;
        assert_true(ca - cb == 6 * 16);
    }
    cJSON_Delete(ja), cJSON_Delete(jb);
}

static void test_exit_codes(void **state)
{
    (void)state;
    static char buf[16384];
    assert_int_equal(run("bench amp --arch nosuch", buf, sizeof buf), 1);
    assert_int_equal(run("bench amp --bogus", buf, sizeof buf), 2);
    assert_int_equal(run("bench amp --help", buf, sizeof buf), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_figures),
        cmocka_unit_test(test_set_changes_cycles),
        cmocka_unit_test(test_exit_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
