/* test_layernorm_split.c - the split LayerNorm (codelets/layernorm_split.h):
 * with one slice the specification is layernorm_ref bit for bit; the tile
 * pipeline (stats, combine, stats, combine, apply over the slices) is
 * bit-exact with layernorm_split_ref; the reference is within a named
 * tolerance of a double-precision LayerNorm; cycles do not depend on the
 * data and equal each vertex's measure(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/layernorm_split.h"
#include "codelets/registry.h"
#include "sim/isa_cost.h"

/* fp16 output: half an ulp of rounding (2^-11 relative) plus the fp32
 * statistics' error carried through gain (|gain| <= 2 here); measured
 * worst excess over the relative part: 1e-7. */
#define LN_SPLIT_REL_TOL (1.0 / 1024)
#define LN_SPLIT_ABS_TOL 1e-4

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}
static void fill(uint16_t *p, size_t n, float amp, float off, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = fp16_from_f32(off + amp * ((float)lcg(&seed) / 2147483648.0f - 1.0f));
}

typedef struct Cyc { uint64_t stats1, comb1, stats2, comb2, apply; } Cyc;

/* Runs the tile pipeline on one row with ns slices; cycles of slice 0's
 * vertices (every slice of equal length costs the same). */
static void tile_row(const LayernormArgs *a, uint32_t ns, Cyc *cyc)
{
    IsaCosts isa;
    isa_costs_default(&isa);
    float *parts = malloc((size_t)ns * 2 * sizeof *parts), stats[2] = {0, 0};
    assert_non_null(parts);
    memset(cyc, 0, sizeof *cyc);
    for (uint32_t pass = 1; pass <= 2; pass++) {
        for (uint32_t k = 0; k < ns; k++) {
            uint32_t b0 = layernorm_slice_begin(a->cols, ns, k), b1 = layernorm_slice_begin(a->cols, ns, k + 1);
            LnStatsArgs s = {a->x + b0, stats, parts + 2 * k, b1 - b0, pass};
            Worker w;
            worker_init(&w, &isa, 0);
            layernorm_stats_tile(&w, &s);
            assert_false(w.faulted);
            if (k == 0) {
                *(pass == 1 ? &cyc->stats1 : &cyc->stats2) = w.cycles;
                assert_int_equal(w.cycles, layernorm_stats_vertex.measure(&isa, &s));
            }
        }
        LnCombineArgs c = {parts, stats, ns, a->cols, pass, a->eps};
        Worker w;
        worker_init(&w, &isa, 0);
        layernorm_combine_tile(&w, &c);
        assert_false(w.faulted);
        *(pass == 1 ? &cyc->comb1 : &cyc->comb2) = w.cycles;
        assert_int_equal(w.cycles, layernorm_combine_vertex.measure(&isa, &c));
    }
    for (uint32_t k = 0; k < ns; k++) {
        uint32_t b0 = layernorm_slice_begin(a->cols, ns, k), b1 = layernorm_slice_begin(a->cols, ns, k + 1);
        LnApplyArgs p = {a->x + b0, a->gain + b0, a->bias + b0, stats, a->out + b0, b1 - b0};
        Worker w;
        worker_init(&w, &isa, 0);
        layernorm_apply_tile(&w, &p);
        assert_false(w.faulted);
        if (k == 0) {
            cyc->apply = w.cycles;
            assert_int_equal(w.cycles, layernorm_apply_vertex.measure(&isa, &p));
        }
    }
    free(parts);
}

static void test_split(void **state)
{
    (void)state;
    const uint32_t cols = 4096;
    uint16_t *x = malloc(cols * 2), *g = malloc(cols * 2), *b = malloc(cols * 2), *y0 = malloc(cols * 2),
             *y1 = malloc(cols * 2), *y2 = malloc(cols * 2);
    assert_true(x && g && b && y0 && y1 && y2);
    fill(g, cols, 1.0f, 1.0f, 2), fill(b, cols, 0.5f, 0.0f, 3);
    static const uint32_t nss[] = {1, 6, 7, 96, 683, 2048};
    static const float offs[] = {0.0f, 3.0f, -20.0f};
    for (size_t oi = 0; oi < 3; oi++) {
        fill(x, cols, 4.0f, offs[oi], 10 + oi);
        LayernormArgs a = {x, g, b, y0, 1, cols, LAYERNORM_EPS};
        layernorm_ref(&a);
        a.out = y1;
        layernorm_split_ref(&a, 1);
        assert_memory_equal(y0, y1, cols * 2); /* one slice: the same specification */
        /* double-precision LayerNorm */
        double mean = 0, var = 0;
        for (uint32_t i = 0; i < cols; i++)
            mean += fp16_to_f32(x[i]);
        mean /= cols;
        for (uint32_t i = 0; i < cols; i++)
            var += (fp16_to_f32(x[i]) - mean) * (fp16_to_f32(x[i]) - mean);
        double rstd = 1.0 / sqrt(var / cols + LAYERNORM_EPS);
        for (size_t ni = 0; ni < sizeof nss / sizeof nss[0]; ni++) {
            uint32_t ns = nss[ni];
            a.out = y1;
            layernorm_split_ref(&a, ns);
            a.out = y2;
            Cyc c;
            tile_row(&a, ns, &c);
            assert_memory_equal(y1, y2, cols * 2);
            double worst = 0;
            for (uint32_t i = 0; i < cols; i++) {
                double want = (fp16_to_f32(x[i]) - mean) * rstd * fp16_to_f32(g[i]) + fp16_to_f32(b[i]);
                double e = fabs(fp16_to_f32(y1[i]) - want) - LN_SPLIT_REL_TOL * fabs(want);
                worst = e > worst ? e : worst;
            }
            if (worst > LN_SPLIT_ABS_TOL)
                fail_msg("offset %g, %u slices: error beyond tolerance by %g", (double)offs[oi], ns, worst);
            /* cycles depend on the shape only: other data, same cycles */
            uint16_t *x2 = malloc(cols * 2);
            assert_non_null(x2);
            fill(x2, cols, 100.0f, 7.0f, 99 + ni);
            LayernormArgs a2 = a;
            a2.x = x2;
            Cyc c2;
            tile_row(&a2, ns, &c2);
            assert_memory_equal(&c, &c2, sizeof c);
            free(x2);
            if (ns == 96 && oi == 0)
                print_message("4096 over 96 slices: stats %llu, combine %llu, apply %llu worker cycles\n",
                              (unsigned long long)c.stats1, (unsigned long long)c.comb1, (unsigned long long)c.apply);
        }
    }
    free(x), free(g), free(b), free(y0), free(y1), free(y2);
}

static void test_registered(void **state)
{
    (void)state;
    IpuErr e;
    const char *fam[3] = {"layernorm_stats", "layernorm_combine", "layernorm_apply"};
    const VertexType *vt[3] = {&layernorm_stats_vertex, &layernorm_combine_vertex, &layernorm_apply_vertex};
    for (int i = 0; i < 3; i++) {
        const CodeletFamily *f = codelet_family_find(fam[i], &e);
        assert_non_null(f);
        assert_ptr_equal(codelet_variant_find(f, NULL, &e)->vertex, vt[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_split), cmocka_unit_test(test_registered)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
