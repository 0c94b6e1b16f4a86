/* test_wdec.c - codelets/wdec and its harness: every variant of every
 * weight format is bit-exact with wdec_ref at every code and edge scale and
 * on random tensors, its cycles do not depend on the data and follow the
 * pinned formulas, the native version equals run(), bad args are refused,
 * and the harness notices a wrong variant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/quant_format.h"
#include "base/quant_fp8.h"
#include "codelets/registry.h"
#include "codelets/wdec.h"
#include "codelets/wdec_validate.h"

static IsaCosts isa_default(void)
{
    IsaCosts c;
    isa_costs_default(&c);
    return c;
}

static void print_failures(const char *name, const WdecValidation *v)
{
    for (uint32_t i = 0; i < v->reported; i++) {
        const WdecMismatch *m = &v->first[i];
        printf("%s: group %u element %u code 0x%x scale 0x%04x qscale %u step %g mean %g n %u: got 0x%04x want "
               "0x%04x\n",
               name, m->group, m->element, m->code, m->scale, m->qscale, (double)m->step, (double)m->mean,
               m->group_size, m->got, m->want);
    }
    if (v->faulted)
        printf("%s: fault: %s\n", name, v->fault);
}

/* Every format, every variant: every code with every edge scale (or
 * second-level pair), and random tensors at several group sizes. */
static void test_every_variant_bit_exact(void **state)
{
    (void)state;
    IsaCosts isa = isa_default();
    const uint32_t sizes[] = {4, 8, 12, 16, 60, 64, 128, 256, 4096};
    for (int f = 0; f < WDEC_FORMATS; f++) {
        const CodeletFamily *fam = wdec_family((WdecFormat)f);
        uint32_t nedge;
        wdec_edge_scales((WdecFormat)f, &nedge);
        if (f == WDEC_NF4DQ)
            nedge = wdec_edge_dq_count;
        for (size_t k = 0; k < fam->variant_count; k++) {
            const VertexType *vt = fam->variants[k].vertex;
            WdecValidation v;
            wdec_validation_init(&v);
            for (uint32_t e = 0; e < nedge; e++)
                wdec_validate_every_code(vt, (WdecFormat)f, &isa, e, &v);
            uint64_t codes = v.checked;
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                wdec_validate_random(vt, (WdecFormat)f, &isa, sizes[s], sizes[s] >= 1024 ? 3 : 37, 77 + s, &v);
            print_failures(fam->variants[k].vertex->name, &v);
            assert_false(v.faulted);
            assert_int_equal(v.mismatches, 0);
            assert_true(codes >= (uint64_t)nedge * (wdec_code_bits((WdecFormat)f) == 4 ? 65536 * 4 : 1024));
        }
    }
}

/* A variant that is right everywhere but one code: the harness notices. */
static void wrong_run(Worker *w, const void *args)
{
    const WdecArgs *a = args;
    wdec_ref(WDEC_I8, a->out, a);
    const uint8_t *c = a->codes;
    for (size_t i = 0; i < (size_t)a->groups * a->group_size; i++)
        if (c[i] == 0x81)
            a->out[i] ^= 1;
}

static void test_harness_catches_wrong_variant(void **state)
{
    (void)state;
    IsaCosts isa = isa_default();
    VertexType bad = *wdec_family(WDEC_I8)->variants[0].vertex;
    bad.run = wrong_run;
    WdecValidation v;
    wdec_validation_init(&v);
    assert_int_equal(wdec_validate_every_code(&bad, WDEC_I8, &isa, 3, &v), -1);
    assert_int_equal(v.mismatches, 4); /* code 0x81 once in each of the four positions */
    assert_int_equal(v.first[0].code, 0x81);
    /* and a right variant used for another format (s4g's words read as i8 bytes) fails too */
    wdec_validation_init(&v);
    assert_int_equal(wdec_validate_random(wdec_family(WDEC_S4G)->variants[0].vertex, WDEC_I8, &isa, 64, 8, 1, &v), -1);
    assert_true(v.mismatches > 0);
}

/* run() on two different random tensors of one shape charges what measure() says. */
static void test_cycles_data_independent(void **state)
{
    (void)state;
    IsaCosts isa = isa_default();
    for (int f = 0; f < WDEC_FORMATS; f++) {
        const CodeletFamily *fam = wdec_family((WdecFormat)f);
        for (size_t k = 0; k < fam->variant_count; k++) {
            const VertexType *vt = fam->variants[k].vertex;
            for (uint32_t n = 4; n <= 68; n += 32) { /* 4 and 68: odd word counts; 36: even */
                enum { G = 12 };
                size_t bytes = (size_t)G * n;
                _Alignas(8) uint8_t codes[12 * 68 + 8];
                _Alignas(8) uint16_t out[12 * 68], scale[G];
                _Alignas(8) float dq[2 * G];
                uint8_t qs[G];
                WdecArgs shape = {.groups = G, .group_size = n, .seg_groups = f == WDEC_NF4DQ ? 3 : 0};
                uint64_t want = vt->measure(&isa, &shape);
                for (int trial = 0; trial < 2; trial++) {
                    for (size_t i = 0; i < sizeof codes; i++)
                        codes[i] = (uint8_t)(i * (trial ? 37u : 101u) + 5u);
                    for (int g = 0; g < G; g++)
                        scale[g] = trial ? 0x3c00 : 0x0001, qs[g] = (uint8_t)(g * 31 * trial),
                        dq[g] = trial ? 0.5f : 1e-3f;
                    dq[1] = 0.0f; /* phase 0, stride 0: every segment uses dq[2] */
                    WdecArgs a = {codes, f == WDEC_NF4DQ ? NULL : scale, qs, dq, out, G, n, shape.seg_groups, 0, 0};
                    Worker w;
                    worker_init(&w, &isa, 0);
                    vt->run(&w, &a);
                    assert_false(w.faulted);
                    assert_int_equal(w.cycles, want);
                    /* an odd word count may start 2-byte aligned: the same cycles */
                    if (wdec_code_bits((WdecFormat)f) == 4 && (n / 4) % 2) {
                        a.codes = codes + 2, a.groups = G - 1;
                        if (f == WDEC_NF4DQ)
                            a.seg_groups = 1;
                        WdecArgs s2 = a;
                        s2.codes = NULL;
                        worker_init(&w, &isa, 0);
                        vt->run(&w, &a);
                        assert_false(w.faulted);
                        assert_int_equal(w.cycles, vt->measure(&isa, &s2));
                    }
                }
                (void)bytes;
            }
        }
    }
}

static const VertexType *variant(WdecFormat f, const char *name)
{
    const CodeletVariant *v = codelet_variant_find(wdec_family(f), name, NULL);
    assert_non_null(v);
    return v->vertex;
}

/* Each variant's instruction mix, pinned (worker cycles at the default
 * costs: call 3, every other instruction 1); see the variants' comments. */
static void test_cycle_formulas(void **state)
{
    (void)state;
    IsaCosts isa = isa_default();
    const uint64_t G = 6, N = 32, W = N / 4, Q = N / 4, S = 2;
    assert_int_equal(wdec_worker_cycles(variant(WDEC_S4G, "fused"), &isa, N, G, 0), 9 + G * (6 + 11 * W));
    assert_int_equal(wdec_worker_cycles(variant(WDEC_S4G, "fused2"), &isa, N, G, 0), 9 + G * (6 + 8 * W));
    assert_int_equal(wdec_worker_cycles(variant(WDEC_S4G, "fused2"), &isa, 12, G, 0), 9 + G * (6 + 1 + 9 + 16));
    assert_int_equal(wdec_worker_cycles(variant(WDEC_I8, "magic"), &isa, N, G, 0), 8 + G * (6 + 7 * Q));
    assert_int_equal(wdec_worker_cycles(variant(WDEC_NF4G, "lut"), &isa, N, G, 0), 3 + G * (18 + 14 * W));
    assert_int_equal(wdec_worker_cycles(variant(WDEC_NF4G, "cb"), &isa, N, G, 0), 3 + G * (6 + 15 * W));
    /* nf4g+dq: + ld64 {mean, phase}, mul, add per vertex; shr, add, ld32, add, brnzdec per segment */
    assert_int_equal(wdec_worker_cycles(variant(WDEC_NF4DQ, "lut"), &isa, N, G, G / S),
                     3 + 3 + 5 * S + G * (28 + 14 * W));
    assert_int_equal(wdec_worker_cycles(variant(WDEC_NF4DQ, "cb"), &isa, N, G, G / S), 3 + 3 + 5 * S + G * (16 + 15 * W));
    assert_int_equal(wdec_worker_cycles(variant(WDEC_FP8E5M2, "shuf"), &isa, N, G, 0), 4 + G * (6 + 5 * Q));
    assert_int_equal(wdec_worker_cycles(variant(WDEC_FP8E4M3, "arith"), &isa, N, G, 0), 14 + G * (7 + 13 * Q));
    assert_int_equal(wdec_worker_cycles(variant(WDEC_FP8E4M3, "lut"), &isa, N, G, 0), 3 + G * (6 + 15 * Q));
    /* tile: 6 workers share 12 groups, two each */
    const VertexType *vt = variant(WDEC_I8, "magic");
    assert_int_equal(wdec_tile_cycles(vt, WDEC_I8, &isa, N, 12, 0, 6), 6 * wdec_worker_cycles(vt, &isa, N, 2, 0));
}

/* The native version (functional fast path) gives run()'s bits, and
 * declines a buffer run() would fault on. */
static void test_native_equals_run(void **state)
{
    (void)state;
    IsaCosts isa = isa_default();
    enum { G = 8, N = 64 };
    _Alignas(8) uint8_t codes[G * N];
    _Alignas(8) uint16_t out1[G * N], out2[G * N], scale[G];
    _Alignas(8) float dq[2 * G];
    uint8_t qs[G];
    for (int i = 0; i < G * N; i++)
        codes[i] = (uint8_t)(i * 53 + 7);
    for (int g = 0; g < G; g++)
        scale[g] = (uint16_t)(0x2400 + 97 * g), qs[g] = (uint8_t)(40 * g), dq[2 * g] = 2e-3f * (float)(g + 1),
        dq[2 * g + 1] = 1e-3f;
    const uint32_t phase = 200;
    dq[0] = 0.1f;
    memcpy(&dq[1], &phase, 4); /* stride 100: segments 0..3 use steps 0, 1, 1, 1 (of 200, 300, 400, 500) */
    for (int f = 0; f < WDEC_FORMATS; f++) {
        const CodeletFamily *fam = wdec_family((WdecFormat)f);
        for (size_t k = 0; k < fam->variant_count; k++) {
            const VertexType *vt = fam->variants[k].vertex;
            int dq4 = f == WDEC_NF4DQ;
            WdecArgs a = {codes, dq4 ? NULL : scale, qs, dq, out1, G, N, dq4 ? 2 : 0, 0, dq4 ? 100 : 0};
            Worker w;
            worker_init(&w, &isa, 0);
            vt->run(&w, &a);
            a.out = out2;
            memset(out2, 0, sizeof out2);
            assert_int_equal(vt->native(&isa, &a), 0);
            assert_memory_equal(out1, out2, sizeof out1);
            a.out = out2 + 1; /* misaligned: declined, nothing written */
            assert_int_not_equal(vt->native(&isa, &a), 0);
        }
    }
}

static void test_split(void **state)
{
    (void)state;
    WdecArgs all = {.groups = 14, .group_size = 64}, parts[6];
    assert_int_equal(wdec_split(WDEC_S4G, &all, 6, parts), 6);
    uint32_t sum = 0;
    for (int k = 0; k < 6; k++)
        sum += parts[k].groups, assert_int_equal(parts[k].groups, k < 2 ? 3 : 2);
    assert_int_equal(sum, 14);
    /* nf4g+dq: whole segments of 4 groups, 5 segments over 6 workers */
    _Alignas(8) float dq[10];
    uint8_t qs[20];
    all = (WdecArgs){.qscale = qs, .dq = dq, .groups = 20, .group_size = 64, .seg_groups = 4, .seg0 = 1, .dq_stride = 64};
    assert_int_equal(wdec_split(WDEC_NF4DQ, &all, 6, parts), 5);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(parts[k].groups, 4);
        assert_ptr_equal(parts[k].dq, dq); /* the block's second level, */
        assert_int_equal(parts[k].seg0, 1 + k); /* from the part's own segment */
        assert_ptr_equal(parts[k].qscale, qs + 4 * k);
    }
    assert_int_equal(parts[5].groups, 0);
}

static void test_check_rejects_bad_args(void **state)
{
    (void)state;
    _Alignas(8) uint8_t codes[256];
    _Alignas(8) uint16_t out[256], scale[4];
    IpuErr e;
    WdecArgs a = {.codes = codes, .scale = scale, .out = out, .groups = 2, .group_size = 64};
    assert_int_equal(wdec_check(WDEC_I8, &a, 128, &e), 0);
    a.group_size = 6;
    assert_int_equal(wdec_check(WDEC_I8, &a, 128, &e), -1);
    assert_non_null(strstr(e.msg, "group_size 6"));
    a.group_size = 64;
    assert_int_equal(wdec_check(WDEC_I8, &a, 96, &e), -1);
    assert_non_null(strstr(e.msg, "does not divide"));
    a.codes = codes + 2; /* i8 needs 4-byte aligned codes */
    assert_int_equal(wdec_check(WDEC_I8, &a, 128, &e), -1);
    assert_non_null(strstr(e.msg, "codes buffer"));
    a.codes = codes, a.scale = NULL;
    assert_int_equal(wdec_check(WDEC_S4G, &a, 128, &e), -1);
    assert_non_null(strstr(e.msg, "scale buffer is NULL"));
    a.scale = scale, a.seg_groups = 0;
    assert_int_equal(wdec_check(WDEC_NF4DQ, &a, 128, &e), -1);
    assert_non_null(strstr(e.msg, "seg_groups"));
}

static void test_tables_and_registry(void **state)
{
    (void)state;
    const uint16_t *t = wdec_e4m3_table();
    for (unsigned c = 0; c < 256; c++)
        assert_int_equal(t[c], fp8_to_fp16(FP8_E4M3, c));
    WdecFormat f;
    assert_int_equal(wdec_format_find("nf4g", 1, &f, NULL), 0);
    assert_int_equal(f, WDEC_NF4DQ);
    assert_int_equal(wdec_format_find("i8c", 0, &f, NULL), 0);
    assert_int_equal(f, WDEC_I8);
    IpuErr e;
    assert_int_equal(wdec_format_find("q4g", 0, &f, &e), -1);
    assert_non_null(strstr(e.msg, "'q4g'"));
    for (int k = 0; k < WDEC_FORMATS; k++) {
        const CodeletFamily *fam = wdec_family((WdecFormat)k);
        assert_ptr_equal(codelet_family_find(fam->name, NULL), fam);
        assert_int_equal(wdec_vertex_format(fam->variants[0].vertex), k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_variant_bit_exact),
        cmocka_unit_test(test_harness_catches_wrong_variant),
        cmocka_unit_test(test_cycles_data_independent),
        cmocka_unit_test(test_cycle_formulas),
        cmocka_unit_test(test_native_equals_run),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_check_rejects_bad_args),
        cmocka_unit_test(test_tables_and_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
