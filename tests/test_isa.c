/* test_isa.c - codelets/isa.h: intrinsic results are IEEE binary16/binary32
 * exact, costs come from the IsaCosts table, misaligned accesses fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "codelets/isa.h"

static Half4 h4(uint16_t a, uint16_t b, uint16_t c, uint16_t d)
{
    Half4 v = {{a, b, c, d}};
    return v;
}

static void assert_h4(Half4 v, uint16_t a, uint16_t b, uint16_t c, uint16_t d)
{
    assert_int_equal(v.h[0], a);
    assert_int_equal(v.h[1], b);
    assert_int_equal(v.h[2], c);
    assert_int_equal(v.h[3], d);
}

/* f16v4 arithmetic rounds once, as binary16: subnormals, overflow, ties. */
static void test_f16v4_rounding(void **state)
{
    (void)state;
    IsaCosts isa;
    isa_costs_default(&isa);
    Worker w;
    worker_init(&w, &isa, 0);
    /* 1 + 2^-11 ties to even (1); (1+2^-10) + 2^-11 ties up to 1+2^-9;
     * 65504 + 16 = 65520 ties to Inf; smallest subnormal + itself */
    Half4 r = isa_f16v4add(&w, h4(0x3c00, 0x3c01, 0x7bff, 0x0001), h4(0x1000, 0x1000, 0x4c00, 0x0001));
    assert_h4(r, 0x3c00, 0x3c02, 0x7c00, 0x0002);
    /* 2^-24 * 0.5 ties to 0 (even); 3*2^-24 * 0.5 = 1.5 ulp ties to 2 ulp;
     * 256 * 256 overflows; -2 * 2^-14 stays normal */
    r = isa_f16v4mul(&w, h4(0x0001, 0x0003, 0x5c00, 0xc000), h4(0x3800, 0x3800, 0x5c00, 0x0400));
    assert_h4(r, 0x0000, 0x0002, 0x7c00, 0x8800);
    /* subtraction to exact zero gives +0; underflow of a difference to a subnormal is exact */
    r = isa_f16v4sub(&w, h4(0x3c00, 0x0401, 0x7c00, 0xfbff), h4(0x3c00, 0x0400, 0x7c00, 0x7bff));
    assert_true(fp16_isnan(r.h[2])); /* Inf - Inf */
    r.h[2] = 0;
    assert_h4(r, 0x0000, 0x0001, 0, 0xfc00);
    r = isa_f16v4max(&w, h4(0x3c00, 0x8000, 0xfc00, 0x7e00), h4(0x4000, 0x0000, 0xbc00, 0x3c00));
    assert_h4(r, 0x4000, 0x8000, 0xbc00, FP16_QNAN);
    r = isa_f16v4cmplt(&w, h4(0x3c00, 0x4000, 0x8000, 0x7e00), h4(0x4000, 0x3c00, 0x0000, 0x3c00));
    assert_h4(r, 0xffff, 0, 0, 0);
    r = isa_f16v4cmpeq(&w, h4(0x3c00, 0x4000, 0x8000, 0x7e00), h4(0x3c00, 0x3c00, 0x0000, 0x7e00));
    assert_h4(r, 0xffff, 0, 0xffff, 0);
    assert_int_equal(w.cycles, 6);
    assert_false(w.faulted);
}

/* Each intrinsic charges its own table entry, so a what-if cost change
 * shows up exactly where that instruction is used. */
static void test_costs_from_table(void **state)
{
    (void)state;
    IsaCosts isa;
    isa_costs_default(&isa);
    isa.f16v4mul = 7;
    isa.ld64 = 3;
    isa.brnzdec = 5;
    isa.rpt = 11;
    isa.call = 13;
    Worker w;
    worker_init(&w, &isa, 0);
    _Alignas(8) uint16_t buf[4] = {0x3c00, 0x4000, 0x4200, 0x4400};
    Half4 v = isa_ld64_h4(&w, buf);
    assert_int_equal(w.cycles, 3);
    v = isa_f16v4mul(&w, v, v);
    assert_int_equal(w.cycles, 10);
    assert_h4(v, 0x3c00, 0x4400, 0x4880, 0x4c00);
    isa_brnzdec(&w);
    isa_rpt(&w);
    isa_call(&w);
    assert_int_equal(w.cycles, 10 + 5 + 11 + 13);
}

/* Misaligned 32/64/128-bit accesses fault, name the instruction, address
 * and tile, and are not performed; the first fault is the one kept. */
static void test_alignment_faults(void **state)
{
    (void)state;
    IsaCosts isa;
    isa_costs_default(&isa);
    _Alignas(16) uint8_t mem[64];
    for (int i = 0; i < 64; i++)
        mem[i] = (uint8_t)i;
    Worker w;
    worker_init(&w, &isa, 42);
    assert_int_equal(isa_ld64(&w, mem + 8), 0x0f0e0d0c0b0a0908ull);
    U128 q = isa_ld128(&w, mem + 16);
    assert_int_equal(q.lo, 0x1716151413121110ull);
    assert_int_equal(q.hi, 0x1f1e1d1c1b1a1918ull);
    assert_int_equal(isa_ld32(&w, mem + 4), 0x07060504u);
    assert_int_equal(isa_ld16(&w, mem + 2), 0x0302u);
    assert_int_equal(isa_ld16_idx(&w, mem, 3), 0x0706u);
    assert_false(w.faulted);
    assert_int_equal(w.cycles, 5);

    assert_int_equal(isa_ld64(&w, mem + 4), 0); /* 4-aligned is not enough */
    assert_true(w.faulted);
    assert_non_null(strstr(w.fault, "ld64"));
    assert_non_null(strstr(w.fault, "8-byte aligned"));
    assert_non_null(strstr(w.fault, "tile 42"));
    char first[sizeof w.fault];
    memcpy(first, w.fault, sizeof first);
    q = isa_ld128(&w, mem + 8); /* 8-aligned is not enough for ld128 */
    assert_int_equal(q.lo, 0);
    assert_int_equal(q.hi, 0);
    assert_string_equal(w.fault, first);
    assert_int_equal(w.cycles, 7); /* faulting accesses are still charged */

    worker_init(&w, &isa, 1);
    q = isa_ld128(&w, mem + 8);
    assert_true(w.faulted);
    assert_non_null(strstr(w.fault, "ld128"));
    worker_init(&w, &isa, 1);
    isa_st64(&w, mem + 2, ~0ull);
    assert_true(w.faulted);
    for (int i = 0; i < 16; i++)
        assert_int_equal(mem[i], i); /* the store was not performed */
    worker_init(&w, &isa, 1);
    isa_st32(&w, mem + 6, 0);
    assert_true(w.faulted);
    assert_int_equal(mem[6], 6);
    worker_init(&w, &isa, 1);
    assert_int_equal(isa_ld32(&w, mem + 1), 0);
    assert_true(w.faulted);
    worker_init(&w, &isa, 1);
    assert_int_equal(isa_ld16(&w, NULL), 0);
    assert_non_null(strstr(w.fault, "NULL"));
    worker_init(&w, &isa, 1);
    isa_st64(&w, mem + 8, 0x0102030405060708ull);
    assert_false(w.faulted);
    assert_int_equal(mem[8], 0x08);
    assert_int_equal(mem[15], 1);
}

static void test_integer_and_permutes(void **state)
{
    (void)state;
    IsaCosts isa;
    isa_costs_default(&isa);
    Worker w;
    worker_init(&w, &isa, 0);
    assert_int_equal(isa_add(&w, 0xffffffffu, 2), 1);
    assert_int_equal(isa_sub(&w, 1, 2), 0xffffffffu);
    assert_int_equal(isa_shl(&w, 0x80000001u, 1), 2);
    assert_int_equal(isa_shl(&w, 1, 33), 2); /* count modulo 32 */
    assert_int_equal(isa_shr(&w, 0x80000000u, 31), 1);
    assert_int_equal(isa_and(&w, 0xf0f0, 0xff00), 0xf000);
    assert_int_equal(isa_andc(&w, 0xf0f0, 0xff00), 0x00f0);
    assert_int_equal(isa_or(&w, 0xf000, 0x000f), 0xf00f);
    assert_int_equal(isa_andc64(&w, ~0ull, 0xffull << 56), 0x00ffffffffffffffull);
    assert_int_equal(isa_cmpult(&w, 1, 2), 1);
    assert_int_equal(isa_cmpeq(&w, 1, 2), 0);
    assert_int_equal(isa_sort4x16lo(&w, 0x11112222u, 0x33334444u), 0x44442222u);
    assert_int_equal(isa_sort4x16hi(&w, 0x11112222u, 0x33334444u), 0x33331111u);
    assert_int_equal(isa_roll16(&w, 0x11112222u, 0x33334444u), 0x44441111u);
    assert_int_equal(isa_swap8(&w, 0x11223344u), 0x22114433u);
    assert_int_equal(isa_shuf8x8lo(&w, 0x44332211u, 0x88776655u), 0x66225511u);
    assert_int_equal(isa_shuf8x8hi(&w, 0x44332211u, 0x88776655u), 0x88447733u);
    assert_int_equal(isa_setzi(&w, 0xdeadbeefu), 0xdeadbeefu);
    assert_int_equal(isa_mov(&w, 5), 5);
    assert_int_equal(w.cycles, 19);
    /* the free register views are lane 0 low, and cost nothing */
    assert_int_equal(isa_h4_bits(h4(1, 2, 3, 4)), 0x0004000300020001ull);
    assert_h4(isa_bits_h4(isa_pair(0x00020001u, 0x00040003u)), 1, 2, 3, 4);
    assert_int_equal(w.cycles, 19);
}

static void test_f32_and_conversions(void **state)
{
    (void)state;
    IsaCosts isa;
    isa_costs_default(&isa);
    Worker w;
    worker_init(&w, &isa, 0);
    Float2 a = {{1.0f, 3.0f}}, b = {{0x1p-24f, -1.0f}};
    Float2 r = isa_f32v2add(&w, a, b);
    assert_true(r.f[0] == 1.0f && r.f[1] == 2.0f); /* 1 + 2^-24 ties to even */
    r = isa_f32v2axpy(&w, (Float2){{-(1.0f + 0x1p-11f), 0.0f}}, (Float2){{1.0f + 0x1p-12f, 2.0f}},
                      (Float2){{1.0f + 0x1p-12f, 4.0f}});
    /* product 1 + 2^-11 + 2^-24 ties to 1 + 2^-11 in fp32 before the add:
     * exactly 0, where a fused multiply-add would give 2^-24 */
    assert_true(r.f[0] == 0.0f && r.f[1] == 8.0f);
    r = isa_f32v2max(&w, a, (Float2){{NAN, 4.0f}});
    assert_true(isnan(r.f[0]) && r.f[1] == 4.0f);
    assert_int_equal(isa_f32v2cmplt(&w, a, (Float2){{2.0f, 2.0f}}), 1);
    assert_true(isa_f32div(&w, 1.0f, 3.0f) == 1.0f / 3.0f);
    assert_true(isa_f32sqrt(&w, 2.0f) == sqrtf(2.0f));
    assert_true(isa_f32exp(&w, 0.0f) == 1.0f);
    assert_true(isa_f32tanh(&w, 0.0f) == 0.0f);
    assert_true(isa_f32max(&w, -1.0f, 2.0f) == 2.0f);
    assert_true(isa_f32min(&w, -1.0f, 2.0f) == -1.0f);
    assert_true(isa_f32sub(&w, 1.0f, 3.0f) == -2.0f);
    assert_true(isa_f32mul(&w, 3.0f, 0.5f) == 1.5f);
    /* fp32 -> fp16 rounds to nearest even, overflows to Inf, keeps subnormals */
    assert_int_equal(isa_f32v2tof16(&w, (Float2){{65520.0f, 0x1p-25f}}), 0x00007c00u);
    assert_int_equal(isa_f32v2tof16(&w, (Float2){{3 * 0x1p-25f, -1.0f}}), 0xbc000002u);
    assert_int_equal(isa_f32tof16(&w, 1.0f + 0x1p-11f), 0x3c00);
    Float2 c = isa_f16v2tof32(&w, 0x80010400u);
    assert_true(c.f[0] == 0x1p-14f && c.f[1] == -0x1p-24f);
    assert_true(isa_f16tof32(&w, 0x7bff) == 65504.0f);
    assert_int_equal(w.cycles, 17);
}

/* nibunpack4: element 0 (bits 15..12) in lane 0; a fault while disabled. */
static void test_nibunpack4(void **state)
{
    (void)state;
    IsaCosts isa;
    isa_costs_default(&isa);
    Worker w;
    worker_init(&w, &isa, 7);
    Half4 r = isa_nibunpack4(&w, 0xf05a);
    assert_true(w.faulted);
    assert_non_null(strstr(w.fault, "isa.nibunpack4.enabled"));
    assert_h4(r, 0, 0, 0, 0);
    isa.nibunpack4_enabled = true;
    isa.nibunpack4 = 2;
    worker_init(&w, &isa, 7);
    r = isa_nibunpack4(&w, 0xf05a);
    assert_false(w.faulted);
    assert_h4(r, 0x4b80 /* 15 */, 0x0000, 0x4500 /* 5 */, 0x4900 /* 10 */);
    assert_int_equal(w.cycles, 2);
    for (uint32_t x = 0; x < 0x10000u; x += 0x1111u) {
        r = isa_nibunpack4(&w, x);
        for (int i = 0; i < 4; i++)
            assert_int_equal(r.h[i], fp16_from_f32((float)((x >> (12 - 4 * i)) & 0xf)));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16v4_rounding),
        cmocka_unit_test(test_costs_from_table),
        cmocka_unit_test(test_alignment_faults),
        cmocka_unit_test(test_integer_and_permutes),
        cmocka_unit_test(test_f32_and_conversions),
        cmocka_unit_test(test_nibunpack4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
