/* test_kvq.c - codelets/kvq: quantizing KV rows (i8, q4g) and widening
 * V^T blocks are bit-exact with sim/base/kv_quant.h on edge rows (zeros,
 * signed zeros, constant, tiny rows with subnormal scales, huge values,
 * ties) and random ones, every code of the widening, cycles from the shape
 * alone, the native versions equal run(), and the round trip's error is
 * within half a step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/kv_quant.h"
#include "codelets/kvq.h"

enum { N = 64, ROWS = 9 };

static IsaCosts isa_default(void)
{
    IsaCosts c;
    isa_costs_default(&c);
    return c;
}

/* Row r of the test set: edge rows first, then pseudo-random ones. */
static void fill_row(uint16_t *x, int r, unsigned seed)
{
    for (int i = 0; i < N; i++) {
        float v;
        switch (r) {
        case 0: v = 0.0f; break;
        case 1: v = (i % 2) ? -0.0f : 0.0f; break;
        case 2: v = 1.5f; break;                                      /* constant */
        case 3: v = (float)(i - 31) * 1e-7f; break;                   /* tiny: subnormal scales */
        case 4: v = (i % 3 - 1) * 3.0e4f; break; /* huge (a group spanning more than 65504 would overflow) */
        case 5: v = (float)(i % 16) * 0.5f - 3.75f; break;            /* halves: ties */
        default: v = (float)((int)((unsigned)(i * 7919 + r * 104729 + seed) % 2001) - 1000) * 0.003f; break;
        }
        x[i] = fp16_from_f32(v);
    }
}

static void check_quantize(void (*fn)(Worker *, const KvqArgs *), uint32_t group, const VertexType *vt)
{
    IsaCosts isa = isa_default();
    uint32_t slots = kvq_scale_slots(N, group);
    _Alignas(8) uint16_t x[ROWS * N];
    _Alignas(8) uint8_t c1[ROWS * N], c2[ROWS * N];
    _Alignas(8) uint16_t s1[ROWS * 16], s2[ROWS * 16], b1[ROWS * 16], b2[ROWS * 16];
    for (unsigned seed = 0; seed < 3; seed++) {
        for (int r = 0; r < ROWS; r++)
            fill_row(x + r * N, r, seed);
        memset(c1, 0xee, sizeof c1), memset(s1, 0xee, sizeof s1), memset(b1, 0xee, sizeof b1);
        memset(c2, 0xee, sizeof c2), memset(s2, 0xee, sizeof s2), memset(b2, 0xee, sizeof b2);
        KvqArgs a = {x, c1, s1, group ? b1 : NULL, ROWS, N, group};
        Worker w;
        worker_init(&w, &isa, 0);
        fn(&w, &a);
        assert_false(w.faulted);
        assert_int_equal(w.cycles, vt->measure(&isa, &a)); /* cycles from the shape alone */
        KvqArgs ref = {x, c2, s2, group ? b2 : NULL, ROWS, N, group};
        kvq_ref(&ref);
        assert_memory_equal(c1, c2, group ? ROWS * N / 2 : ROWS * N);
        assert_memory_equal(s1, s2, ROWS * slots * 2);
        if (group)
            assert_memory_equal(b1, b2, ROWS * slots * 2);
        memset(c1, 0xee, sizeof c1); /* native writes the same bits */
        assert_int_equal(vt->native(&isa, &a), 0);
        assert_memory_equal(c1, c2, group ? ROWS * N / 2 : ROWS * N);
    }
}

static void test_quantize_bit_exact(void **state)
{
    (void)state;
    check_quantize(kvq_i8, 0, &kvq_i8_vertex);
    check_quantize(kvq_q4g, 8, &kvq_q4g_vertex);
    check_quantize(kvq_q4g, 16, &kvq_q4g_vertex);
    check_quantize(kvq_q4g, 64, &kvq_q4g_vertex);
}

/* Every code in every position of a V^T row, with per-position scales. */
static void test_widen_every_code(void **state)
{
    (void)state;
    IsaCosts isa = isa_default();
    enum { HD = 16, SB = 256 };
    _Alignas(8) uint8_t c8[HD * SB];
    _Alignas(8) uint16_t c4[HD / 4 * SB], sc[HD * SB], bi[HD * SB], o1[HD * SB], o2[HD * SB];
    for (int i = 0; i < HD * SB; i++)
        c8[i] = (uint8_t)(i * 1 + i / SB * 77);
    for (int i = 0; i < HD / 4 * SB; i++)
        c4[i] = (uint16_t)(i * 0x1111u + i / SB * 0x0123u);
    static const uint16_t scales[] = {0x0000, 0x8000, 0x3c00, 0x2c00, 0xb666, 0x0001, 0x03ff, 0x7bff, 0x3c01};
    for (int i = 0; i < HD * SB; i++)
        sc[i] = scales[i % 9], bi[i] = scales[(i * 5 + 3) % 9] ^ 0x8000;
    for (int g = 0; g < 2; g++) {
        KvdArgs a = {g ? (const void *)c4 : c8, sc, g ? bi : NULL, o1, 0, HD, SB, g ? 4u : 0u};
        Worker w;
        worker_init(&w, &isa, 0);
        (g ? kvd_vt_q4g : kvd_vt_i8)(&w, &a);
        assert_false(w.faulted);
        assert_int_equal(w.cycles, (g ? &kvd_vt_q4g_vertex : &kvd_vt_i8_vertex)->measure(&isa, &a));
        a.out = o2;
        kvd_ref(&a);
        assert_memory_equal(o1, o2, sizeof o1);
        /* a vertex for dims 5..11 only touches those rows */
        memset(o1, 0, sizeof o1);
        a.out = o1, a.d0 = 5, a.rows = 7;
        worker_init(&w, &isa, 0);
        (g ? kvd_vt_q4g : kvd_vt_i8)(&w, &a);
        assert_memory_equal(o1 + 5 * SB, o2 + 5 * SB, 7 * SB * 2);
        assert_int_equal(o1[4 * SB], 0);
    }
    /* cycles: per 4 positions 8 (i8) and 11 (q4g) issues, per row rpt + brnzdec (+ 3 for q4g's shift) */
    KvdArgs s = {NULL, NULL, NULL, NULL, 0, HD, SB, 0};
    assert_int_equal(kvd_vt_i8_vertex.measure(&isa, &s), 3 + 5 + HD * (2 + SB / 4 * 8));
    s.group = 4;
    assert_int_equal(kvd_vt_q4g_vertex.measure(&isa, &s), 3 + 6 + HD * (2 + 3 + SB / 4 * 11));
}

/* The round trip stays within half a step of the row (plus the fp16 roundings). */
static void test_roundtrip_error(void **state)
{
    (void)state;
    uint16_t x[N], y[N];
    for (int r = 2; r < ROWS; r++) {
        fill_row(x, r, 11);
        for (int f = 0; f < 2; f++) {
            KvSpec sp = {f ? KV_Q4G : KV_I8, 16};
            memcpy(y, x, sizeof x);
            kvq_roundtrip_ref(&sp, y, N);
            for (int g = 0; g < N; g += 16) {
                float lo = INFINITY, hi = -INFINITY, a = 0;
                for (int i = g; i < g + 16; i++) {
                    float v = fp16_to_f32(x[i]);
                    lo = fminf(lo, v), hi = fmaxf(hi, v);
                }
                for (int i = 0; i < N; i++)
                    a = fmaxf(a, fabsf(fp16_to_f32(x[i])));
                double step = f ? (hi - lo) / 15.0 : a / 127.0;
                for (int i = g; i < g + 16; i++) {
                    double e = fabs((double)fp16_to_f32(y[i]) - fp16_to_f32(x[i]));
                    /* row 3's scales are subnormal or zero (a tiny row): its error is only bounded by the row */
                    double tol = r == 3 ? a : 0.5 * step * 1.002 + 2e-3 * fabs(fp16_to_f32(x[i])) + 6e-8;
                    if (!(e <= tol))
                        fail_msg("row %d %s: element %d error %g > %g", r, f ? "q4g" : "i8", i, e, tol);
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_bit_exact),
        cmocka_unit_test(test_widen_every_code),
        cmocka_unit_test(test_roundtrip_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
