/* test_decompress.c - codelets/decompress and its harness: every variant is
 * bit-exact with decompress_q4_ref, its cycles do not depend on the data,
 * the what-if instruction changes cycles only, bad args are rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/quant_format.h"
#include "codelets/decompress.h"
#include "codelets/decompress_validate.h"
#include "codelets/registry.h"

static IsaCosts isa_with_whatif(void)
{
    IsaCosts c;
    isa_costs_default(&c);
    c.nibunpack4_enabled = true;
    return c;
}

/* The reference is q4_dequant_ref per element, element 0 in the top nibble. */
static void test_ref_layout(void **state)
{
    (void)state;
    uint16_t packed[2] = {q4_pack(1, 2, 3, 15), q4_pack(0, 4, 8, 12)};
    uint16_t scale = fp16_from_f32(0.5f), bias = fp16_from_f32(-1.0f), out[8];
    decompress_q4_ref(out, packed, &scale, &bias, 1, 8);
    const float want[8] = {-0.5f, 0.0f, 0.5f, 6.5f, -1.0f, 1.0f, 3.0f, 5.0f};
    for (int i = 0; i < 8; i++)
        assert_int_equal(out[i], fp16_from_f32(want[i]));
    /* the two roundings: fp16(15 * 4368) = Inf (65520 ties up), Inf + -16 stays Inf */
    uint16_t p = q4_pack(15, 15, 15, 15), s = 0x6c44, b = fp16_from_f32(-16.0f);
    decompress_q4_ref(out, &p, &s, &b, 1, 4);
    assert_int_equal(out[0], FP16_POS_INF);
}

static void print_mismatch(const char *variant, const DecompressQ4Validation *v)
{
    for (uint32_t i = 0; i < v->reported; i++) {
        const DecompressQ4Mismatch *m = &v->first[i];
        printf("%s: word 0x%04x element %u scale 0x%04x bias 0x%04x n %u: got 0x%04x want 0x%04x\n", variant,
               m->word, m->element, m->scale, m->bias, m->group_size, m->got, m->want);
    }
    if (v->faulted)
        printf("%s: fault: %s\n", variant, v->fault);
}

/* Exhaustive words for a few edge pairs, random tensors at several sizes. */
static void test_variants_bit_exact(void **state)
{
    (void)state;
    IsaCosts isa = isa_with_whatif();
    const CodeletFamily *f = codelet_family_find("decompress", NULL);
    assert_non_null(f);
    assert_true(f->variant_count >= 5);
    const uint32_t pairs[] = {0, 2, 5, 7, 12, 13}; /* indices into the edge table */
    const uint32_t sizes[] = {4, 8, 12, 16, 60, 64, 128, 256, 4096};
    for (size_t k = 0; k < f->variant_count; k++) {
        const VertexType *vt = f->variants[k].vertex;
        DecompressQ4Validation v;
        decompress_q4_validation_init(&v);
        for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
            const DecompressQ4EdgePair *e = &decompress_q4_edge_pairs[pairs[p]];
            decompress_q4_validate_exhaustive(vt, &isa, e->scale, e->bias, &v);
        }
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            decompress_q4_validate_random(vt, &isa, sizes[s], sizes[s] >= 1024 ? 3 : 37, 1000 + s, &v);
        print_mismatch(f->variants[k].name, &v);
        assert_false(v.faulted);
        assert_int_equal(v.mismatches, 0);
        assert_true(v.checked > 6 * 65536 * 4);
    }
}

/* The harness itself notices a wrong variant: a variant that skips the bias
 * (written here as a deliberately broken vertex) must mismatch. */
static void broken_run(Worker *w, const void *args)
{
    const DecompressQ4Args *a = args;
    uint16_t zero[1] = {0};
    for (uint32_t g = 0; g < a->groups; g++)
        decompress_q4_ref(a->out + (size_t)g * a->group_size, a->packed + (size_t)g * a->group_size / 4,
                          a->scale + g, g == a->groups - 1 ? zero : a->bias + g, 1, a->group_size);
    w->cycles += 1;
}

static void test_harness_catches_mismatch(void **state)
{
    (void)state;
    IsaCosts isa = isa_with_whatif();
    VertexType broken = decompress_q4_fused_vertex;
    broken.run = broken_run;
    DecompressQ4Validation v;
    decompress_q4_validation_init(&v);
    assert_int_equal(decompress_q4_validate_exhaustive(&broken, &isa, 0x2c00, 0xb800, &v), -1);
    assert_true(v.mismatches > 0);
    assert_int_equal(v.reported, DQV_MAX_REPORTED);
    assert_int_equal(v.first[0].scale, 0x2c00);
    assert_int_equal(v.first[0].want, q4_dequant_ref(q4_code(v.first[0].word, v.first[0].element), 0x2c00, 0xb800));
}

/* Same shape, different data: same cycles, and measure() agrees with run(). */
/* Every variant's cycles are affine in the groups: the lowering's planner
 * prices a block's decompress from the measures of one and two groups
 * (host/lower/linear_plan.c measure_decompress). */
static void test_cycles_affine_in_groups(void **state)
{
    (void)state;
    IsaCosts isa = isa_with_whatif();
    const CodeletFamily *f = codelet_family_find("decompress", NULL);
    for (size_t k = 0; k < f->variant_count; k++) {
        const VertexType *vt = f->variants[k].vertex;
        for (uint32_t n = 8; n <= 256; n *= 2) {
            DecompressQ4Args one = {NULL, NULL, NULL, NULL, 1, n}, two = one;
            two.groups = 2;
            uint64_t c1 = vt->measure(&isa, &one), c2 = vt->measure(&isa, &two);
            for (uint32_t g = 3; g <= 300; g += g < 12 ? 1 : 41) {
                DecompressQ4Args a = one;
                a.groups = g;
                if (vt->measure(&isa, &a) != c1 + (uint64_t)(g - 1) * (c2 - c1))
                    fail_msg("%s, group size %u: %u groups take %llu cycles, not %llu", vt->name, n, g,
                             (unsigned long long)vt->measure(&isa, &a),
                             (unsigned long long)(c1 + (uint64_t)(g - 1) * (c2 - c1)));
            }
        }
    }
}

static void test_cycles_data_independent(void **state)
{
    (void)state;
    IsaCosts isa = isa_with_whatif();
    const CodeletFamily *f = codelet_family_find("decompress", NULL);
    enum { G = 5, N = 64 };
    uint16_t packed[G * N / 4], sc[G], bi[G];
    _Alignas(8) uint16_t out[G * N];
    for (size_t k = 0; k < f->variant_count; k++) {
        const VertexType *vt = f->variants[k].vertex;
        uint64_t first = 0;
        for (int trial = 0; trial < 4; trial++) {
            uint64_t s = 77 + (uint64_t)trial * 1315423911u;
            for (size_t j = 0; j < G * N / 4; j++)
                packed[j] = (uint16_t)(s = s * 6364136223846793005ull + 1442695040888963407ull, s >> 40);
            for (int g = 0; g < G; g++) {
                sc[g] = trial == 0 ? 0 : (uint16_t)(0x1000 + 0x777 * g * trial);
                bi[g] = trial == 3 ? 0x7bff : (uint16_t)(0x8000 + 0x321 * g);
            }
            DecompressQ4Args a = {packed, sc, bi, out, G, N};
            Worker w;
            worker_init(&w, &isa, 0);
            vt->run(&w, &a);
            assert_false(w.faulted);
            if (trial == 0)
                first = w.cycles;
            assert_int_equal(w.cycles, first);
            assert_int_equal(vt->measure(&isa, &a), first);
        }
        DecompressQ4Args a = {NULL, NULL, NULL, NULL, G, N}, b = a;
        b.groups = G + 1;
        assert_int_equal(vt->shape_key(&a), vt->shape_key(&a));
        assert_int_not_equal(vt->shape_key(&a), vt->shape_key(&b));
        assert_true(vt->measure(&isa, &b) > first);
    }
}

/* nibunpack: fewer cycles than fused, same bits; a fault when disabled. */
static void test_whatif_nibunpack(void **state)
{
    (void)state;
    IsaCosts on = isa_with_whatif(), off;
    isa_costs_default(&off);
    uint64_t c_nib = decompress_q4_worker_cycles(&decompress_q4_nibunpack_vertex, &on, 64, 8);
    uint64_t c_fused = decompress_q4_worker_cycles(&decompress_q4_fused_vertex, &on, 64, 8);
    assert_true(c_nib < c_fused);
    assert_int_equal(decompress_q4_worker_cycles(&decompress_q4_nibunpack_vertex, &off, 64, 8), UINT64_MAX);
    /* fused does not depend on the switch */
    assert_int_equal(decompress_q4_worker_cycles(&decompress_q4_fused_vertex, &off, 64, 8), c_fused);
    /* a dearer nibunpack4 costs exactly that much more per word */
    IsaCosts dear = on;
    dear.nibunpack4 = 3;
    assert_int_equal(decompress_q4_worker_cycles(&decompress_q4_nibunpack_vertex, &dear, 64, 8), c_nib + 2 * 8 * 16);

    DecompressQ4Validation v;
    decompress_q4_validation_init(&v);
    assert_int_equal(decompress_q4_validate_random(&decompress_q4_nibunpack_vertex, &off, 16, 4, 1, &v), -1);
    assert_true(v.faulted);
    assert_non_null(strstr(v.fault, "isa.nibunpack4.enabled"));
}

/* Cycles follow the documented instruction counts (a change in a variant
 * must be deliberate): per word fused 12, twopass 10 + 4, lut 14,
 * nibunpack 5, fused2 18 per two words (10 for a lone word); per group
 * 8 (scale/bias) + rpt + brnzdec (+ an alignment test in fused2). */
static void test_cycle_formulas(void **state)
{
    (void)state;
    IsaCosts isa = isa_with_whatif();
    const uint64_t G = 6, N = 32, W = N / 4;
    assert_int_equal(decompress_q4_worker_cycles(&decompress_q4_fused_vertex, &isa, N, G), 3 + 4 + G * (10 + 12 * W));
    assert_int_equal(decompress_q4_worker_cycles(&decompress_q4_twopass_vertex, &isa, N, G),
                     3 + 4 + 1 + G * W * 10 + G * (10 + 4 * W));
    assert_int_equal(decompress_q4_worker_cycles(&decompress_q4_lut_vertex, &isa, N, G), 3 + 8 + G * (10 + 12 + 14 * W));
    assert_int_equal(decompress_q4_worker_cycles(&decompress_q4_nibunpack_vertex, &isa, N, G), 3 + G * (10 + 5 * W));
    assert_int_equal(decompress_q4_worker_cycles(&decompress_q4_fused2_vertex, &isa, N, G), 3 + 4 + G * (11 + 18 * W / 2));
    assert_int_equal(decompress_q4_worker_cycles(&decompress_q4_fused2_vertex, &isa, 12, G), 3 + 4 + G * (11 + 18 + 10));
    /* tile: 6 workers share 12 groups, two each */
    assert_int_equal(decompress_q4_tile_cycles(&decompress_q4_fused_vertex, &isa, N, 12, 6),
                     6 * decompress_q4_worker_cycles(&decompress_q4_fused_vertex, &isa, N, 2));
}

/* fused2 takes a lone first word when a group's words start only 2-byte
 * aligned: still bit-exact, no fault, one more step than aligned. */
static void test_fused2_misaligned_words(void **state)
{
    (void)state;
    IsaCosts isa = isa_with_whatif();
    enum { G = 3, N = 24, W = N / 4 };
    _Alignas(8) uint16_t packed[G * W + 1], out[G * N], want[G * N];
    uint16_t sc[G] = {0x2c00, 0xb666, 0x0001}, bi[G] = {0xb800, 0x4900, 0x8001};
    for (int j = 0; j < G * W + 1; j++)
        packed[j] = (uint16_t)(0x1357u * (unsigned)j + 0xbeefu);
    for (int off = 0; off < 2; off++) {
        DecompressQ4Args a = {packed + off, sc, bi, out, G, N};
        memset(out, 0, sizeof out);
        decompress_q4_ref(want, packed + off, sc, bi, G, N);
        Worker w;
        worker_init(&w, &isa, 0);
        decompress_q4_fused2(&w, &a);
        assert_false(w.faulted);
        assert_memory_equal(out, want, sizeof out);
        uint64_t aligned = 3 + 4 + G * (11 + 18 * W / 2);
        assert_int_equal(w.cycles, off ? aligned + G * (10 + 10 - 18) : aligned);
    }
}

static void test_split(void **state)
{
    (void)state;
    enum { G = 14, N = 8 };
    uint16_t packed[G * N / 4], sc[G], bi[G];
    _Alignas(8) uint16_t out[G * N];
    DecompressQ4Args all = {packed, sc, bi, out, G, N}, parts[6];
    assert_int_equal(decompress_q4_split(&all, 6, parts), 6);
    uint32_t next = 0;
    for (int k = 0; k < 6; k++) {
        assert_int_equal(parts[k].groups, k < 2 ? 3 : 2);
        assert_ptr_equal(parts[k].packed, packed + next * N / 4);
        assert_ptr_equal(parts[k].scale, sc + next);
        assert_ptr_equal(parts[k].out, out + next * N);
        next += parts[k].groups;
    }
    all.groups = 4;
    assert_int_equal(decompress_q4_split(&all, 6, parts), 4);
    assert_int_equal(parts[5].groups, 0);
}

static void expect_check_error(const DecompressQ4Args *a, uint64_t row, const char *needle)
{
    IpuErr err = {{0}};
    assert_int_equal(decompress_q4_check(a, row, &err), -1);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_check_rejects_bad_args(void **state)
{
    (void)state;
    _Alignas(8) uint16_t buf[64];
    DecompressQ4Args ok = {buf, buf, buf, buf, 2, 16};
    IpuErr err = {{0}};
    assert_int_equal(decompress_q4_check(&ok, 4096, &err), 0);
    DecompressQ4Args a = ok;
    a.group_size = 6;
    expect_check_error(&a, 4096, "group_size 6");
    a.group_size = 0;
    expect_check_error(&a, 4096, "group_size 0");
    a.group_size = 8192;
    expect_check_error(&a, 8192, "group_size 8192");
    a = ok;
    expect_check_error(&a, 4100, "does not divide the row of 4100");
    a.out = buf + 1;
    expect_check_error(&a, 4096, "out buffer");
    a = ok;
    a.packed = (const uint16_t *)((const char *)buf + 1);
    expect_check_error(&a, 4096, "packed buffer");
    a = ok;
    a.bias = NULL;
    expect_check_error(&a, 4096, "bias buffer is NULL");

    /* if a misaligned out gets past the check anyway, the tile faults, the host does not crash */
    IsaCosts isa;
    isa_costs_default(&isa);
    uint16_t packed[4] = {0}, sc[1] = {0x3c00}, bi[1] = {0};
    a = (DecompressQ4Args){packed, sc, bi, buf + 1, 1, 16};
    Worker w;
    worker_init(&w, &isa, 3);
    decompress_q4_fused(&w, &a);
    assert_true(w.faulted);
    assert_non_null(strstr(w.fault, "st64"));
    assert_non_null(strstr(w.fault, "tile 3"));
}

static void test_registry(void **state)
{
    (void)state;
    IpuErr err = {{0}};
    const CodeletFamily *f = codelet_family_find("decompress", &err);
    assert_non_null(f);
    assert_ptr_equal(codelet_variant_find(f, NULL, &err)->vertex, &decompress_q4_twopass_vertex);
    assert_ptr_equal(codelet_variant_find(f, "lut", &err)->vertex, &decompress_q4_lut_vertex);
    assert_null(codelet_variant_find(f, "fastest", &err));
    assert_non_null(strstr(err.msg, "'fastest'"));
    assert_non_null(strstr(err.msg, "nibunpack"));
    assert_null(codelet_family_find("decompres", &err));
    assert_non_null(strstr(err.msg, "decompress"));
    int found = 0;
    for (size_t i = 0; i < codelet_family_count(); i++)
        found += codelet_family_at(i) == f;
    assert_int_equal(found, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_layout),
        cmocka_unit_test(test_variants_bit_exact),
        cmocka_unit_test(test_harness_catches_mismatch),
        cmocka_unit_test(test_cycles_data_independent),
        cmocka_unit_test(test_cycles_affine_in_groups),
        cmocka_unit_test(test_whatif_nibunpack),
        cmocka_unit_test(test_cycle_formulas),
        cmocka_unit_test(test_fused2_misaligned_words),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_check_rejects_bad_args),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
