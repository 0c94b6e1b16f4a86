/* test_matmul.c - codelets/matmul: the AMP tile version is bit-exact with
 * matmul_ref, matmul_ref is close to an exact dot product, cycles follow the
 * block model and do not depend on the data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/isa_amp.h"
#include "codelets/matmul.h"

typedef struct Rng { uint64_t s; } Rng;
static uint32_t rng_u32(Rng *r)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}
/* uniform in [-amp, amp), rounded to fp16 */
static uint16_t rng_h(Rng *r, float amp) { return fp16_from_f32(amp * ((float)rng_u32(r) / 2147483648.0f - 1.0f)); }

typedef struct Case {
    uint16_t *a, *w;
    void *out_ref, *out_tile;
    MatmulArgs args;
} Case;

static void case_make(Case *c, uint32_t m, uint32_t k, uint32_t n, LayerDtype t, int accumulate, uint64_t seed)
{
    Rng r = {seed};
    c->a = malloc((size_t)m * k * 2);
    c->w = malloc((size_t)n * k * 2);
    c->out_ref = malloc((size_t)m * n * layer_dtype_bytes(t));
    c->out_tile = malloc((size_t)m * n * layer_dtype_bytes(t));
    assert_non_null(c->a), assert_non_null(c->w), assert_non_null(c->out_ref), assert_non_null(c->out_tile);
    for (size_t i = 0; i < (size_t)m * k; i++)
        c->a[i] = rng_h(&r, 2.0f);
    for (size_t i = 0; i < (size_t)n * k; i++)
        c->w[i] = rng_h(&r, 0.5f);
    for (size_t i = 0; i < (size_t)m * n; i++)
        layer_store(c->out_ref, t, i, (float)(int)(rng_u32(&r) % 9) - 4.0f);
    memcpy(c->out_tile, c->out_ref, (size_t)m * n * layer_dtype_bytes(t));
    c->args = (MatmulArgs){.a = c->a, .w = c->w, .m = m, .k = k, .n = n, .accumulate = (uint32_t)accumulate,
                           .amp_macs_per_cycle = 64};
}

static void case_free(Case *c) { free(c->a), free(c->w), free(c->out_ref), free(c->out_tile); }

static void test_amp_bit_exact_with_ref(void **state)
{
    (void)state;
    static const uint32_t shapes[][3] = {{1, 16, 16}, {1, 256, 48}, {5, 40, 20}, {16, 64, 32}, {3, 7, 3}, {2, 4096, 16}};
    IsaCosts isa;
    isa_costs_default(&isa);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 2; t++)
            for (int acc = 0; acc < 2; acc++) {
                Case c;
                LayerDtype dt = t ? LAYER_F32 : LAYER_F16;
                case_make(&c, shapes[s][0], shapes[s][1], shapes[s][2], dt, acc, 100 + s);
                MatmulArgs ar = c.args, at = c.args;
                ar.out = c.out_ref, at.out = c.out_tile;
                assert_int_equal(matmul_check(&at, 1, NULL), 0);
                matmul_ref(&ar, dt);
                Worker w;
                worker_init(&w, &isa, 0);
                (t ? matmul_amp_f32_vertex : matmul_amp_f16_vertex).run(&w, &at);
                size_t bytes = (size_t)shapes[s][0] * shapes[s][2] * layer_dtype_bytes(dt);
                if (memcmp(c.out_ref, c.out_tile, bytes) != 0)
                    fail_msg("shape %u x %u x %u %s acc=%d: tile differs from ref", shapes[s][0], shapes[s][1],
                             shapes[s][2], layer_dtype_name(dt), acc);
                case_free(&c);
            }
}

/* Splitting one matmul over workers, by rows (a_stride/out_stride) or by
 * output columns (w and out offset, out_stride kept), gives the same bits. */
static void test_split_by_rows_and_columns(void **state)
{
    (void)state;
    const uint32_t m = 7, k = 48, n = 40;
    IsaCosts isa;
    isa_costs_default(&isa);
    Case c;
    case_make(&c, m, k, n, LAYER_F16, 0, 42);
    MatmulArgs whole = c.args;
    whole.out = c.out_ref;
    matmul_ref(&whole, LAYER_F16);
    uint16_t *out = c.out_tile;
    /* columns: 0..15, 16..39 */
    for (int part = 0; part < 2; part++) {
        uint32_t n0 = part ? 16 : 0, nn = part ? n - 16 : 16;
        MatmulArgs p = {.a = c.a, .w = c.w + (size_t)n0 * k, .out = out + n0, .m = m, .k = k, .n = nn,
                        .out_stride = n, .amp_macs_per_cycle = 64};
        assert_int_equal(matmul_check(&p, 1, NULL), 0);
        Worker w;
        worker_init(&w, &isa, 0);
        matmul_amp(&w, &p, LAYER_F16);
    }
    assert_memory_equal(c.out_ref, out, (size_t)m * n * 2);
    memset(out, 0, (size_t)m * n * 2);
    /* rows: 0..3, 4..6, with a as a strided view of a wider buffer */
    uint16_t *wide = malloc((size_t)m * (k + 8) * 2);
    for (uint32_t i = 0; i < m; i++)
        memcpy(wide + (size_t)i * (k + 8), c.a + (size_t)i * k, (size_t)k * 2);
    for (int part = 0; part < 2; part++) {
        uint32_t r0 = part ? 4 : 0, rr = part ? 3 : 4;
        MatmulArgs p = {.a = wide + (size_t)r0 * (k + 8), .w = c.w, .out = out + (size_t)r0 * n, .m = rr, .k = k,
                        .n = n, .a_stride = k + 8, .amp_macs_per_cycle = 64};
        Worker w;
        worker_init(&w, &isa, 0);
        matmul_amp(&w, &p, LAYER_F16);
    }
    assert_memory_equal(c.out_ref, out, (size_t)m * n * 2);
    free(wide);
    case_free(&c);
}

/* matmul_split: rows for large M, column blocks for a matvec; the parts give
 * the whole's bits, and the busiest part is about 1/workers of the work. */
static void test_matmul_split(void **state)
{
    (void)state;
    static const uint32_t shapes[][3] = {{13, 32, 24}, {1, 64, 100}, {2, 16, 16}, {6, 48, 40}};
    IsaCosts isa;
    isa_costs_default(&isa);
    for (size_t s = 0; s < 4; s++)
        for (int t = 0; t < 2; t++) {
            LayerDtype dt = t ? LAYER_F32 : LAYER_F16;
            uint32_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
            Case c;
            case_make(&c, m, k, n, dt, 1, 300 + s);
            MatmulArgs whole = c.args;
            whole.out = c.out_ref;
            matmul_ref(&whole, dt);
            whole.out = c.out_tile;
            MatmulArgs parts[6];
            uint32_t count = matmul_split(&whole, dt, 6, parts);
            assert_true(count >= 1 && count <= 6);
            uint64_t busiest = 0, rows = 0, cols = 0;
            for (uint32_t i = 0; i < count; i++) {
                assert_int_equal(matmul_check(&parts[i], 1, NULL), 0);
                Worker w;
                worker_init(&w, &isa, 0);
                matmul_amp(&w, &parts[i], dt);
                busiest = w.cycles > busiest ? w.cycles : busiest;
                rows += parts[i].m, cols += parts[i].n;
            }
            assert_true(rows == m || cols == n); /* a partition of rows or of columns */
            if (memcmp(c.out_ref, c.out_tile, (size_t)m * n * layer_dtype_bytes(dt)))
                fail_msg("split of %u x %u x %u (%s) differs from the whole", m, k, n, layer_dtype_name(dt));
            if (s == 1) { /* matvec, 7 column blocks over 6 workers: busiest has 2 blocks */
                assert_int_equal(count, 6);
                assert_int_equal(busiest, matmul_amp_cycles(&isa, 1, k, 32, 64, dt));
            }
            case_free(&c);
        }
}

/* matmul_ref against a double-precision dot product: fp32 partials within a
 * few fp32 ulps of the sum of |terms|; fp16 partials within K/16 + 1 fp16
 * roundings of it. */
static void test_ref_close_to_exact(void **state)
{
    (void)state;
    const uint32_t m = 4, k = 1024, n = 8;
    for (int t = 0; t < 2; t++) {
        LayerDtype dt = t ? LAYER_F32 : LAYER_F16;
        Case c;
        case_make(&c, m, k, n, dt, 0, 7);
        MatmulArgs ar = c.args;
        ar.out = c.out_ref;
        matmul_ref(&ar, dt);
        double worst = 0;
        for (uint32_t i = 0; i < m; i++)
            for (uint32_t j = 0; j < n; j++) {
                double exact = 0, mag = 0;
                for (uint32_t q = 0; q < k; q++) {
                    double term = (double)fp16_to_f32(c.a[i * k + q]) * fp16_to_f32(c.w[j * k + q]);
                    exact += term, mag += fabs(term);
                }
                double err = fabs(layer_load(c.out_ref, dt, (size_t)i * n + j) - exact) / mag;
                worst = err > worst ? err : worst;
            }
        double tol = t ? k * 0x1p-24 : (k / 16 + 1) * 0x1p-11;
        if (worst > tol)
            fail_msg("%s partials: relative error %g above %g", layer_dtype_name(dt), worst, tol);
        if (!t)
            assert_true(worst > 0); /* fp16 partials do round */
        case_free(&c);
    }
}

/* Known values: a row of ones against w[n][k] = n gives k*n; fp16 partials
 * round each 16-input block (2049 is not an fp16 value, 2048 is). */
static void test_known_values(void **state)
{
    (void)state;
    uint16_t a[32], w[2 * 32];
    float out32[2];
    uint16_t out16[2];
    for (int i = 0; i < 32; i++)
        a[i] = FP16_ONE, w[i] = fp16_from_f32(0.0f), w[32 + i] = fp16_from_f32(3.0f);
    MatmulArgs p = {.a = a, .w = w, .out = out32, .m = 1, .k = 32, .n = 2, .amp_macs_per_cycle = 64};
    matmul_ref(&p, LAYER_F32);
    assert_true(out32[0] == 0.0f && out32[1] == 96.0f);
    /* incoming partial 2048 + 1 (k=1, w=1) stays 2049 in fp32, rounds to 2048 in fp16 */
    uint16_t w1[1] = {FP16_ONE};
    out32[0] = 2048.0f, out16[0] = fp16_from_f32(2048.0f);
    MatmulArgs q = {.a = a, .w = w1, .out = out32, .m = 1, .k = 1, .n = 1, .accumulate = 1, .amp_macs_per_cycle = 64};
    matmul_ref(&q, LAYER_F32);
    assert_true(out32[0] == 2049.0f);
    q.out = out16;
    matmul_ref(&q, LAYER_F16);
    assert_int_equal(out16[0], fp16_from_f32(2048.0f));
}

static void test_cycles_block_model_and_data_independent(void **state)
{
    (void)state;
    IsaCosts isa;
    isa_costs_default(&isa);
    /* [N,16]x[16,16]: call + weight load + fill + 4 N */
    assert_int_equal(matmul_amp_cycles(&isa, 100, 16, 16, 64, LAYER_F16),
                     isa.call + isa.amp_weight_load + isa.amp_fill + 4 * 100);
    /* Mk1-like width: 8 issues per row; partial blocks cost full blocks */
    assert_int_equal(matmul_amp_cycles(&isa, 1, 17, 33, 32, LAYER_F32),
                     isa.call + 6 * (isa.amp_weight_load + isa.amp_fill + 8));
    for (int t = 0; t < 2; t++) {
        LayerDtype dt = t ? LAYER_F32 : LAYER_F16;
        const VertexType *vt = t ? &matmul_amp_f32_vertex : &matmul_amp_f16_vertex;
        uint64_t cyc[3];
        for (int s = 0; s < 3; s++) {
            Case c;
            case_make(&c, 6, 48, 40, dt, s & 1, 1000 + s);
            c.args.out = c.out_tile;
            if (s == 2) /* all zeros and infinities */
                for (size_t i = 0; i < 6 * 48; i++)
                    c.a[i] = i % 2 ? FP16_POS_INF : 0;
            Worker w;
            worker_init(&w, &isa, 0);
            vt->run(&w, &c.args);
            cyc[s] = w.cycles;
            assert_int_equal(vt->measure(&isa, &c.args), w.cycles);
            assert_int_equal(vt->shape_key(&c.args), matmul_amp_f16_vertex.shape_key(&c.args));
            case_free(&c);
        }
        assert_int_equal(cyc[0], cyc[1]);
        assert_int_equal(cyc[0], cyc[2]);
        assert_int_equal(cyc[0], matmul_amp_cycles(&isa, 6, 48, 40, 64, dt));
    }
    /* the data-free path charges what the data path charges, and a shape
     * above MATMUL_MEASURE_MAX_MACS is measured by it */
    MatmulArgs nodata = {.m = 6, .k = 48, .n = 40, .amp_macs_per_cycle = 64};
    Worker w0;
    worker_init(&w0, &isa, 0);
    matmul_amp(&w0, &nodata, LAYER_F16);
    assert_int_equal(w0.cycles, matmul_amp_cycles(&isa, 6, 48, 40, 64, LAYER_F16));
    MatmulArgs big = {.m = 3072, .k = 4096, .n = 64, .amp_macs_per_cycle = 64};
    assert_int_equal(matmul_amp_f32_vertex.measure(&isa, &big), matmul_amp_cycles(&isa, 3072, 4096, 64, 64, LAYER_F32));
    /* the cost table drives the cycles */
    isa.amp_weight_load = 64;
    MatmulArgs p = {.m = 2, .k = 16, .n = 16, .amp_macs_per_cycle = 64};
    assert_int_equal(matmul_amp_f16_vertex.measure(&isa, &p), isa.call + 64 + isa.amp_fill + 8);
    MatmulArgs p2 = p;
    p2.m = 3;
    assert_true(matmul_amp_f16_vertex.shape_key(&p) != matmul_amp_f16_vertex.shape_key(&p2));
}

/* The AMP model against the published Bow measurement (docs/reference/ipu-figures.md):
 * [N,16]x[16,16] per tile, rows shared by 6 workers, tile cycles = 6 x the
 * longest worker; within 8% of the measured TFLOPS at N = 16, 256, 2048. */
static void test_bow_published_throughput(void **state)
{
    (void)state;
    IsaCosts isa;
    isa_costs_default(&isa);
    static const struct { uint32_t n; double tflops; } pub[] = {{16, 55.5}, {256, 264.0}, {2048, 334.9}};
    for (size_t i = 0; i < 3; i++) {
        uint32_t rows = (pub[i].n + 5) / 6; /* the busiest worker */
        uint64_t tile = 6 * matmul_amp_cycles(&isa, rows, 16, 16, 64, LAYER_F16);
        double tflops = 2.0 * pub[i].n * 256 * 1472 / (tile / 1.85e9) / 1e12;
        if (fabs(tflops / pub[i].tflops - 1.0) > 0.08)
            fail_msg("N=%u: model %.1f TFLOPS vs published %.1f", pub[i].n, tflops, pub[i].tflops);
    }
}

/* Matvec (M = 1) is weight-load bound: under 10% of the AMP's MAC rate. */
static void test_matvec_poorly_uses_amp(void **state)
{
    (void)state;
    IsaCosts isa;
    isa_costs_default(&isa);
    uint64_t cyc = matmul_amp_cycles(&isa, 1, 4096, 64, 64, LAYER_F16);
    double macs_per_worker_cycle = 4096.0 * 64 / (double)cyc;
    assert_true(macs_per_worker_cycle < 0.1 * 64);
    assert_true(macs_per_worker_cycle > 0.02 * 64);
}

static void test_check_rejects_bad_args(void **state)
{
    (void)state;
    IpuErr e;
    uint16_t x[16];
    MatmulArgs p = {.a = x, .w = x, .out = x, .m = 1, .k = 16, .n = 1, .amp_macs_per_cycle = 64};
    assert_int_equal(matmul_check(&p, 1, &e), 0);
    MatmulArgs q = p;
    q.k = 0;
    assert_int_equal(matmul_check(&q, 1, &e), -1);
    assert_non_null(strstr(e.msg, "zero size"));
    q = p, q.amp_macs_per_cycle = 0;
    assert_int_equal(matmul_check(&q, 1, &e), -1);
    assert_non_null(strstr(e.msg, "amp_macs_per_cycle 0"));
    q = p, q.a_stride = 8;
    assert_int_equal(matmul_check(&q, 1, &e), -1);
    assert_non_null(strstr(e.msg, "a_stride 8"));
    q = p, q.w = NULL;
    assert_int_equal(matmul_check(&q, 1, &e), -1);
    assert_non_null(strstr(e.msg, "NULL w"));
    assert_int_equal(matmul_check(&q, 0, &e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amp_bit_exact_with_ref),
        cmocka_unit_test(test_ref_close_to_exact),
        cmocka_unit_test(test_split_by_rows_and_columns),
        cmocka_unit_test(test_matmul_split),
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_cycles_block_model_and_data_independent),
        cmocka_unit_test(test_bow_published_throughput),
        cmocka_unit_test(test_matvec_poorly_uses_amp),
        cmocka_unit_test(test_check_rejects_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
