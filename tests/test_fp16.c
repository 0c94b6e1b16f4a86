/* test_fp16.c - sim/base/fp16.h: conversions agree with IEEE binary16 rounding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "base/fp16.h"

/* Every binary16 value converts to binary32 and back unchanged. */
static void test_roundtrip_all_halves(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x10000u; h++) {
        float f = fp16_to_f32_portable((uint16_t)h);
        if (fp16_isnan((uint16_t)h)) {
            assert_true(isnan(f));
            assert_true(fp16_isnan(fp16_from_f32_portable(f)));
            continue;
        }
        assert_int_equal(fp16_from_f32_portable(f), h);
        assert_int_equal(fp16_from_f32(f), h);
        assert_true(f == fp16_to_f32((uint16_t)h));
    }
}

/* Ties go to even, in the normal and the subnormal range, and at overflow. */
static void test_ties_and_edges(void **state)
{
    (void)state;
    assert_int_equal(fp16_from_f32_portable(1.0f + 0x1p-11f), 0x3c00); /* tie, even stays */
    assert_int_equal(fp16_from_f32_portable(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie, odd rounds up */
    assert_int_equal(fp16_from_f32_portable(0x1p-25f), 0x0000); /* half the smallest subnormal */
    assert_int_equal(fp16_from_f32_portable(0x1.0002p-25f), 0x0001);
    assert_int_equal(fp16_from_f32_portable(3 * 0x1p-25f), 0x0002); /* 1.5 ulp ties to 2 */
    assert_int_equal(fp16_from_f32_portable(0x1.ffcp-15f), 0x0400); /* 1023.5 ulp ties up and carries into the smallest normal */
    assert_int_equal(fp16_from_f32_portable(65504.0f), 0x7bff);
    assert_int_equal(fp16_from_f32_portable(65519.99f), 0x7bff);
    assert_int_equal(fp16_from_f32_portable(65520.0f), 0x7c00); /* tie at the top rounds to Inf */
    assert_int_equal(fp16_from_f32_portable(-1e30f), 0xfc00);
    assert_int_equal(fp16_from_f32_portable(-0.0f), 0x8000);
    assert_true(fp16_isnan(fp16_from_f32_portable(NAN)));
}

/* The portable path equals the compiler's _Float16 on a dense sweep of floats. */
static void test_portable_matches_native(void **state)
{
    (void)state;
    for (uint64_t u = 0; u < 0x100000000ull; u += 4099) {
        float f = fp16_bits_f32((uint32_t)u);
        assert_int_equal(fp16_from_f32_portable(f), fp16_from_f32(f));
    }
}

static void test_arithmetic_rounds_once(void **state)
{
    (void)state;
    assert_int_equal(fp16_add(0x3c00, 0x3c00), 0x4000);           /* 1 + 1 = 2 */
    assert_int_equal(fp16_mul(0x7bff, 0x4000), 0x7c00);           /* 65504 * 2 overflows */
    assert_int_equal(fp16_add(0x3c00, 0x0001), 0x3c00);           /* 1 + tiny stays 1 */
    assert_int_equal(fp16_sub(0x3c00, 0x3c00), 0x0000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_halves),
        cmocka_unit_test(test_ties_and_edges),
        cmocka_unit_test(test_portable_matches_native),
        cmocka_unit_test(test_arithmetic_rounds_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
