/* test_matmul_fp8.c - codelets/matmul_fp8: the AMP matmul with fp8 weights
 * is bit-exact with matmul_fp8_ref (every code, both encodings, fp16 and
 * fp32 partials, accumulate), equals the fp16 matmul on the widened
 * weights, charges cycles from the shape alone (half weight loads, the fp8
 * rate), splits over workers without changing results, and its native
 * version agrees; partscale against its reference and formula. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/quant_fp8.h"
#include "codelets/matmul.h"
#include "codelets/matmul_fp8.h"

enum { M = 7, K = 40, N = 37 };

static IsaCosts isa_default(void)
{
    IsaCosts c;
    isa_costs_default(&c);
    return c;
}

/* Finite codes, each code value appearing (skipping the NaN / Inf codes). */
static void fill(uint16_t *a, uint8_t *v, int e5m2, unsigned seed)
{
    for (int i = 0; i < M * K; i++)
        a[i] = fp16_from_f32((float)((int)((i * 7 + seed) % 23) - 11) * 0.125f);
    for (int i = 0; i < N * K; i++) {
        uint8_t c = (uint8_t)(i * 11 + seed);
        int special = e5m2 ? (c & 0x7c) == 0x7c : (c & 0x7f) == 0x7f;
        v[i] = special ? (uint8_t)(c & 0x83) : c;
    }
}

static void test_bit_exact_and_cycles(void **state)
{
    (void)state;
    IsaCosts isa = isa_default();
    uint16_t a[M * K], wide[N * K];
    uint8_t v[N * K];
    float out1[M * N], out2[M * N], out3[M * N];
    for (int e5m2 = 0; e5m2 < 2; e5m2++)
        for (int pt = 0; pt < 2; pt++)
            for (int acc = 0; acc < 2; acc++) {
                LayerDtype t = pt ? LAYER_F32 : LAYER_F16;
                fill(a, v, e5m2, 3u + (unsigned)(e5m2 * 4 + pt * 2 + acc));
                for (int i = 0; i < N * K; i++)
                    wide[i] = fp8_to_fp16(e5m2 ? FP8_E5M2 : FP8_E4M3, v[i]);
                for (int i = 0; i < M * N; i++) { /* the incoming partials (accumulate) in their type */
                    if (pt)
                        out1[i] = 0.5f;
                    else
                        ((uint16_t *)out1)[i] = fp16_from_f32(0.5f), ((uint16_t *)out1)[M * N + i] = 0;
                }
                memcpy(out2, out1, sizeof out1), memcpy(out3, out1, sizeof out1);
                MatmulFp8Args f = {{a, NULL, out1, M, K, N, 0, 0, 0, (uint32_t)acc, 128}, v, (uint32_t)e5m2};
                Worker w;
                worker_init(&w, &isa, 0);
                matmul_fp8(&w, &f, t);
                assert_int_equal(w.cycles, matmul_fp8_cycles(&isa, M, K, N, 128, t));
                f.mm.out = out2;
                matmul_fp8_ref(&f, t);
                assert_memory_equal(out1, out2, sizeof out1);
                MatmulArgs h = {a, wide, out3, M, K, N, 0, 0, 0, (uint32_t)acc, 128};
                matmul_ref(&h, t); /* the same arithmetic as fp16 weights holding the fp8 values */
                assert_memory_equal(out1, out3, sizeof out1);
                const VertexType *vt = pt ? &matmul_fp8_f32_vertex : &matmul_fp8_f16_vertex;
                f.mm.out = out2;
                if (!acc) { /* native gives the same bits */
                    memset(out2, 0, sizeof out2);
                    assert_int_equal(vt->native(&isa, &f), 0);
                    assert_memory_equal(out1, out2, sizeof out1);
                }
                assert_int_equal(vt->measure(&isa, &f), w.cycles);
            }
    /* half the weight loads of the fp16 AMP, the fp8 rate's issues per row */
    uint64_t blocks = 3 * 3; /* ceil(37/16) x ceil(40/16) */
    assert_int_equal(matmul_fp8_cycles(&isa, M, K, N, 128, LAYER_F16),
                     isa.call + blocks * (isa.amp_weight_load / 2 + isa.amp_fill + M * 2 * isa.f16v4hihoamp));
}

static void test_split(void **state)
{
    (void)state;
    IsaCosts isa = isa_default();
    uint16_t a[M * K];
    uint8_t v[N * K];
    float whole[M * N], parts_out[M * N];
    fill(a, v, 0, 9);
    for (uint32_t m = 1; m <= M; m += 6) { /* m = 1: by column blocks; m = 7: by rows */
        MatmulFp8Args f = {{a, NULL, whole, m, K, N, 0, 0, 0, 0, 128}, v, 0}, parts[6];
        Worker w;
        worker_init(&w, &isa, 0);
        matmul_fp8(&w, &f, LAYER_F32);
        f.mm.out = parts_out;
        uint32_t np = matmul_fp8_split(&f, LAYER_F32, 6, parts);
        assert_true(np >= 2);
        for (uint32_t i = 0; i < np; i++) {
            worker_init(&w, &isa, 0);
            matmul_fp8(&w, &parts[i], LAYER_F32);
        }
        assert_memory_equal(whole, parts_out, m * N * sizeof(float));
    }
}

static void test_partscale(void **state)
{
    (void)state;
    IsaCosts isa = isa_default();
    _Alignas(8) float p[3 * 12], want[3 * 12];
    _Alignas(8) uint16_t s[8];
    for (int i = 0; i < 36; i++)
        p[i] = want[i] = 0.25f * (float)(i - 17) * 57344.0f; /* beyond fp16: fp32 keeps it */
    for (int c = 0; c < 8; c++)
        s[c] = fp16_from_f32(1.0f / (float)(c + 3));
    PartScaleArgs a = {p + 4, s, 3, 8, 12}; /* columns 4..11 of three rows of 12 */
    Worker w;
    worker_init(&w, &isa, 0);
    partscale(&w, &a);
    a.p = want + 4;
    partscale_ref(&a);
    assert_memory_equal(p, want, sizeof p);
    assert_true(p[0] == 0.25f * -17 * 57344.0f); /* columns outside untouched */
    assert_true(p[5] == 0.25f * (5 - 17) * 57344.0f * fp16_to_f32(s[1]));
    assert_int_equal(w.cycles, partscale_vertex.measure(&isa, &a));
    assert_int_equal(w.cycles, isa.call + 3 * (isa.rpt + isa.brnzdec + 4 * (isa.ld64 + isa.ld32 + isa.f16v2tof32 +
                                                                         isa.f32v2mul + isa.st64)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bit_exact_and_cycles),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_partscale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
