/* test_sram.c - sim/sram: first-fit aligned allocation, per-category current
 * and peak bytes, the out-of-memory message and the fullest-tiles report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sram.h"

static void test_alloc_align_free_reuse(void **state)
{
    (void)state;
    Sram *s = sram_create(4, 2, 1024);
    IpuErr e;
    assert_int_equal(sram_alloc(s, 1, 10, 1, SRAM_WEIGHTS, "a", &e), 0);
    assert_int_equal(sram_alloc(s, 1, 8, 16, SRAM_ACTIVATIONS, "b", &e), 16); /* aligned past a's 10 bytes */
    assert_int_equal(sram_alloc(s, 1, 4, 4, SRAM_STACK, "c", &e), 12); /* first fit: the hole before b */
    assert_int_equal(sram_tile_used_bytes(s, 1), 22);
    assert_int_equal(sram_used_bytes(s, 1, SRAM_ACTIVATIONS), 8);
    sram_free(s, 1, 16);
    assert_int_equal(sram_used_bytes(s, 1, SRAM_ACTIVATIONS), 0);
    assert_int_equal(sram_peak_bytes(s, 1, SRAM_ACTIVATIONS), 8);
    assert_int_equal(sram_tile_peak_bytes(s, 1), 22);
    /* first fit reuses b's hole */
    assert_int_equal(sram_alloc(s, 1, 6, 2, SRAM_KV_CACHE, "d", &e), 16);
    assert_int_equal(sram_alloc(s, 1, 2, 2, SRAM_KV_CACHE, "e", &e), 10);
    assert_int_equal(sram_tile_used_bytes(s, 0), 0);
    assert_int_equal(sram_alloc(s, 0, 0, 8, SRAM_CODE, "empty", &e), 1024);
    assert_int_equal(sram_tile_used_bytes(s, 0), 0);
    /* freeing the empty allocation leaves tile 1's block at offset 0 alone */
    sram_free(s, 1, 1024);
    assert_int_equal(sram_used_bytes(s, 1, SRAM_WEIGHTS), 10);
    sram_destroy(s);
    sram_destroy(NULL);
}

static void test_fill_exactly_then_oom_message(void **state)
{
    (void)state;
    Sram *s = sram_create(4, 2, 1024);
    IpuErr e;
    assert_int_equal(sram_alloc(s, 3, 1000, 8, SRAM_WEIGHTS, "w", &e), 0);
    assert_int_equal(sram_alloc(s, 3, 24, 8, SRAM_WEIGHTS, "w2", &e), 1000);
    assert_int_equal(sram_alloc(s, 3, 1, 1, SRAM_EXCHANGE, "layer0.fc_in.weight", &e), -1);
    assert_non_null(strstr(e.msg, "chip 1 tile 1"));
    assert_non_null(strstr(e.msg, "'layer0.fc_in.weight'"));
    assert_non_null(strstr(e.msg, "needs 1 bytes"));
    assert_non_null(strstr(e.msg, "0 bytes free"));
    sram_free(s, 3, 0);
    /* 1000 bytes free but alignment/size: ask for 1001 */
    assert_int_equal(sram_alloc(s, 3, 1001, 8, SRAM_WEIGHTS, "big", &e), -1);
    assert_non_null(strstr(e.msg, "1000 bytes free"));
    assert_int_equal(sram_alloc(s, 4, 1, 1, SRAM_WEIGHTS, "x", &e), -1);
    assert_non_null(strstr(e.msg, "tile 4 does not exist"));
    sram_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_align_free_reuse),
        cmocka_unit_test(test_fill_exactly_then_oom_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
