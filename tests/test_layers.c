/* test_layers.c - the layer codelets (reduce, layernorm, softmax, gelu,
 * rotary, add, gather, argmax): each tile version is bit-exact with its _ref
 * (they perform the same roundings in the same order), each _ref is within a
 * named tolerance of a double-precision formula, cycles do not depend on the
 * data and equal the vertex's measure(), and bad args are rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/add.h"
#include "codelets/argmax.h"
#include "codelets/gather.h"
#include "codelets/gelu.h"
#include "codelets/layernorm.h"
#include "codelets/matmul.h"
#include "codelets/registry.h"
#include "codelets/reduce.h"
#include "codelets/rotary.h"
#include "codelets/softmax.h"

typedef struct Rng { uint64_t s; } Rng;
static uint32_t rng_u32(Rng *r)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}
static float rng_f(Rng *r, float amp) { return amp * ((float)rng_u32(r) / 2147483648.0f - 1.0f); }
static uint16_t *rand_h(size_t n, float amp, uint64_t seed)
{
    Rng r = {seed};
    uint16_t *p = malloc(n * 2 + 16);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = fp16_from_f32(rng_f(&r, amp));
    return p;
}
static void *rand_t(size_t n, LayerDtype t, float amp, uint64_t seed)
{
    Rng r = {seed};
    void *p = malloc(n * layer_dtype_bytes(t) + 16);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        layer_store(p, t, i, rng_f(&r, amp));
    return p;
}
static double h2d(uint16_t h) { return fp16_to_f32(h); }

static IsaCosts costs(void)
{
    IsaCosts c;
    isa_costs_default(&c);
    return c;
}

/* Runs vt on args, checks no model fault and cycles == measure(); returns cycles. */
static uint64_t run_vertex(const VertexType *vt, const void *args)
{
    IsaCosts isa = costs();
    Worker w;
    worker_init(&w, &isa, 0);
    vt->run(&w, args);
    if (w.faulted)
        fail_msg("%s faulted: %s", vt->name, w.fault);
    assert_int_equal(vt->measure(&isa, args), w.cycles);
    return w.cycles;
}

/* ---- reduce ---- */

static void test_reduce(void **state)
{
    (void)state;
    const uint32_t parts = 5, n = 38;
    for (int it = 0; it < 2; it++)
        for (int ot = 0; ot < 2; ot++) {
            uint64_t cyc[2];
            for (int seed = 0; seed < 2; seed++) {
                void *in = rand_t((size_t)parts * n, (LayerDtype)it, 100.0f, 10 + seed);
                void *o1 = malloc(n * 4), *o2 = malloc(n * 4);
                ReduceArgs a = {.in = in, .out = o1, .parts = parts, .n = n, .in_type = (LayerDtype)it, .out_type = (LayerDtype)ot};
                assert_int_equal(reduce_check(&a, 1, NULL), 0);
                reduce_ref(&a);
                a.out = o2;
                cyc[seed] = run_vertex(&reduce_vertex, &a);
                assert_memory_equal(o1, o2, n * layer_dtype_bytes((LayerDtype)ot));
                for (uint32_t i = 0; i < n; i++) {
                    double s = 0;
                    for (uint32_t p = 0; p < parts; p++)
                        s += layer_load(in, (LayerDtype)it, (size_t)p * n + i);
                    double tol = ot ? 1e-4 : 0.5; /* fp16 out: half an ulp at |s| < 512 */
                    if (fabs(layer_load(o1, (LayerDtype)ot, i) - s) > tol)
                        fail_msg("reduce %u: %g vs %g", i, (double)layer_load(o1, (LayerDtype)ot, i), s);
                }
                free(in), free(o1), free(o2);
            }
            assert_int_equal(cyc[0], cyc[1]);
        }
    IpuErr e;
    ReduceArgs bad = {.parts = 2, .n = 3};
    assert_int_equal(reduce_check(&bad, 0, &e), -1);
    assert_non_null(strstr(e.msg, "n=3"));
}

/* ---- layernorm ---- */

static void test_layernorm(void **state)
{
    (void)state;
    const uint32_t rows = 3, cols = 256;
    uint64_t cyc[2];
    for (int seed = 0; seed < 2; seed++) {
        uint16_t *x = rand_h(rows * cols, 4.0f, 20 + seed), *g = rand_h(cols, 2.0f, 30), *b = rand_h(cols, 1.0f, 31);
        uint16_t *y1 = malloc(rows * cols * 2), *y2 = malloc(rows * cols * 2);
        x[5] = fp16_from_f32(3000.0f); /* a large outlier */
        LayernormArgs a = {.x = x, .gain = g, .bias = b, .out = y1, .rows = rows, .cols = cols, .eps = LAYERNORM_EPS};
        assert_int_equal(layernorm_check(&a, 1, NULL), 0);
        layernorm_ref(&a);
        a.out = y2;
        cyc[seed] = run_vertex(&layernorm_vertex, &a);
        assert_memory_equal(y1, y2, rows * cols * 2);
        for (uint32_t r = 0; r < rows; r++) {
            double mean = 0, var = 0;
            for (uint32_t i = 0; i < cols; i++)
                mean += h2d(x[r * cols + i]);
            mean /= cols;
            for (uint32_t i = 0; i < cols; i++)
                var += (h2d(x[r * cols + i]) - mean) * (h2d(x[r * cols + i]) - mean);
            var /= cols;
            for (uint32_t i = 0; i < cols; i++) {
                double want = (h2d(x[r * cols + i]) - mean) / sqrt(var + 1e-5) * h2d(g[i]) + h2d(b[i]);
                /* fp16 output: 1 ulp of the result + fp32 statistics error */
                double tol = fabs(want) * 0x1p-10 + 1e-3;
                if (fabs(h2d(y1[r * cols + i]) - want) > tol)
                    fail_msg("layernorm [%u][%u]: %g vs %g", r, i, h2d(y1[r * cols + i]), want);
            }
        }
        free(x), free(g), free(b), free(y1), free(y2);
    }
    assert_int_equal(cyc[0], cyc[1]);
    IpuErr e;
    LayernormArgs bad = {.rows = 1, .cols = 4, .eps = 0};
    assert_int_equal(layernorm_check(&bad, 0, &e), -1);
    assert_non_null(strstr(e.msg, "eps"));
}

/* ---- softmax ---- */

static void test_softmax(void **state)
{
    (void)state;
    const uint32_t heads = 2, q_len = 3, len = 10, pos0 = 4; /* queries at 4, 5, 6 */
    const uint32_t rows = heads * q_len;
    for (int it = 0; it < 2; it++)
        for (int ot = 0; ot < 2; ot++) {
            uint64_t cyc[3];
            for (int seed = 0; seed < 3; seed++) {
                void *in = rand_t(rows * len, (LayerDtype)it, 40.0f, 40 + seed);
                void *o1 = malloc(rows * len * 4), *o2 = malloc(rows * len * 4);
                SoftmaxArgs a = {.in = in, .out = o1, .rows = rows, .len = len, .pos0 = seed == 2 ? 0 : pos0,
                                 .q_len = q_len, .scale = 1.0f / 16.0f, .in_type = (LayerDtype)it, .out_type = (LayerDtype)ot};
                assert_int_equal(softmax_check(&a, 1, NULL), 0);
                softmax_ref(&a);
                a.out = o2;
                cyc[seed] = run_vertex(&softmax_vertex, &a);
                assert_memory_equal(o1, o2, rows * len * layer_dtype_bytes((LayerDtype)ot));
                for (uint32_t r = 0; r < rows; r++) {
                    uint32_t qp = a.pos0 + r % q_len;
                    double mx = -INFINITY, z = 0, sum = 0;
                    for (uint32_t j = 0; j <= qp && j < len; j++)
                        mx = fmax(mx, layer_load(in, (LayerDtype)it, r * len + j) / 16.0);
                    for (uint32_t j = 0; j <= qp && j < len; j++)
                        z += exp(layer_load(in, (LayerDtype)it, r * len + j) / 16.0 - mx);
                    for (uint32_t j = 0; j < len; j++) {
                        double got = layer_load(o1, (LayerDtype)ot, r * len + j);
                        double want = j <= qp ? exp(layer_load(in, (LayerDtype)it, r * len + j) / 16.0 - mx) / z : 0.0;
                        if (j > qp)
                            assert_true(got == 0.0); /* masked exactly */
                        if (fabs(got - want) > (ot ? 1e-6 : 1e-3))
                            fail_msg("softmax [%u][%u]: %g vs %g", r, j, got, want);
                        sum += got;
                    }
                    assert_true(fabs(sum - 1.0) < (ot ? 1e-5 : 1e-2));
                }
                free(in), free(o1), free(o2);
            }
            assert_int_equal(cyc[0], cyc[1]);
            assert_int_equal(cyc[0], cyc[2]); /* the position does not change cycles */
        }
}

/* ---- gelu ---- */

static void test_gelu(void **state)
{
    (void)state;
    const uint32_t n = 2048;
    uint64_t cyc[2];
    for (int seed = 0; seed < 2; seed++) {
        uint16_t *x = rand_h(n, 8.0f, 50 + seed), *y1 = malloc(n * 2), *y2 = malloc(n * 2);
        x[0] = 0, x[1] = fp16_from_f32(-20.0f), x[2] = fp16_from_f32(20.0f), x[3] = 0x8000;
        GeluArgs a = {.x = x, .out = y1, .n = n};
        assert_int_equal(gelu_check(&a, 1, NULL), 0);
        gelu_ref(&a);
        a.out = y2;
        cyc[seed] = run_vertex(&gelu_vertex, &a);
        assert_memory_equal(y1, y2, n * 2);
        for (uint32_t i = 0; i < n; i++) {
            double v = h2d(x[i]);
            double want = 0.5 * v * (1.0 + tanh(0.7978845608 * (v + 0.044715 * v * v * v)));
            if (fabs(h2d(y1[i]) - want) > fabs(want) * 0x1p-10 + 1e-6)
                fail_msg("gelu(%g) = %g, want %g", v, h2d(y1[i]), want);
        }
        assert_int_equal(y1[2], fp16_from_f32(20.0f));
        free(x), free(y1), free(y2);
    }
    assert_int_equal(cyc[0], cyc[1]);
}

/* Every fp16 input (subnormals, Inf, NaN included): tile == ref, bit for bit. */
static void test_gelu_exhaustive(void **state)
{
    (void)state;
    uint16_t *x = malloc(65536 * 2), *y1 = malloc(65536 * 2), *y2 = malloc(65536 * 2);
    for (uint32_t i = 0; i < 65536; i++)
        x[i] = (uint16_t)i;
    GeluArgs a = {.x = x, .out = y1, .n = 65536};
    gelu_ref(&a);
    a.out = y2;
    run_vertex(&gelu_vertex, &a);
    assert_memory_equal(y1, y2, 65536 * 2);
    assert_int_equal(y1[FP16_POS_INF], FP16_POS_INF);
    assert_true(fp16_isnan(y1[FP16_QNAN]));
    free(x), free(y1), free(y2);
}

/* ---- rotary ---- */

static void test_rotary(void **state)
{
    (void)state;
    const uint32_t tokens = 3, heads = 2, hd = 16, rd = 8, pos0 = 7;
    size_t cnt = tokens * heads * hd;
    float *tab = malloc(tokens * rd / 2 * 4 * sizeof(float));
    rotary_table_ref(tab, pos0, tokens, rd);
    uint64_t cyc[2];
    for (int seed = 0; seed < 2; seed++) {
        uint16_t *x = rand_h(cnt, 3.0f, 60 + seed), *y1 = malloc(cnt * 2), *y2 = malloc(cnt * 2);
        RotaryArgs a = {.x = x, .table = tab, .out = y1, .tokens = tokens, .heads = heads, .head_dim = hd, .rotary_dim = rd};
        assert_int_equal(rotary_check(&a, 1, NULL), 0);
        rotary_ref(&a);
        a.out = y2;
        cyc[seed] = run_vertex(&rotary_vertex, &a);
        assert_memory_equal(y1, y2, cnt * 2);
        for (uint32_t t = 0; t < tokens; t++)
            for (uint32_t h = 0; h < heads; h++) {
                size_t row = (t * heads + h) * hd;
                for (uint32_t i = 0; i < rd / 2; i++) {
                    double ang = (pos0 + t) * pow(10000.0, -2.0 * i / rd);
                    double e = h2d(x[row + 2 * i]), o = h2d(x[row + 2 * i + 1]);
                    double we = e * cos(ang) - o * sin(ang), wo = o * cos(ang) + e * sin(ang);
                    assert_true(fabs(h2d(y1[row + 2 * i]) - we) <= fabs(we) * 0x1p-10 + 1e-6);
                    assert_true(fabs(h2d(y1[row + 2 * i + 1]) - wo) <= fabs(wo) * 0x1p-10 + 1e-6);
                }
                assert_memory_equal(y1 + row + rd, x + row + rd, (hd - rd) * 2); /* pass-through dims */
            }
        free(x), free(y1), free(y2);
    }
    assert_int_equal(cyc[0], cyc[1]);
    /* position 0 is the identity on representable values */
    rotary_table_ref(tab, 0, 1, rd);
    uint16_t x0[16], y0[16];
    for (int i = 0; i < 16; i++)
        x0[i] = fp16_from_f32((float)i - 7.5f);
    RotaryArgs a0 = {.x = x0, .table = tab, .out = y0, .tokens = 1, .heads = 1, .head_dim = 16, .rotary_dim = 8};
    rotary_ref(&a0);
    assert_memory_equal(x0, y0, sizeof x0);
    IpuErr e;
    RotaryArgs bad = {.tokens = 1, .heads = 1, .head_dim = 16, .rotary_dim = 18};
    assert_int_equal(rotary_check(&bad, 0, &e), -1);
    assert_non_null(strstr(e.msg, "rotary_dim 18"));
    free(tab);
}

/* ---- add ---- */

static void test_add(void **state)
{
    (void)state;
    const uint32_t rows = 3, cols = 20;
    for (int op = 0; op < 3; op++) {
        uint64_t cyc[2];
        for (int seed = 0; seed < 2; seed++) {
            uint16_t *a = rand_h(rows * cols, 1000.0f, 70 + seed), *b = rand_h(rows * cols, 1000.0f, 80 + seed);
            uint16_t *y1 = malloc(rows * cols * 2), *y2 = malloc(rows * cols * 2);
            a[0] = FP16_MAX, b[0] = FP16_MAX; /* overflows to Inf in ADD and BIAS */
            AddArgs p = {.out = y1, .a = a, .b = b, .rows = rows, .cols = cols, .op = (AddOp)op, .scale = fp16_from_f32(0.3f)};
            assert_int_equal(add_check(&p, 1, NULL), 0);
            add_ref(&p);
            p.out = y2;
            cyc[seed] = run_vertex(&add_vertex, &p);
            assert_memory_equal(y1, y2, rows * cols * 2);
            for (uint32_t r = 0; r < rows; r++)
                for (uint32_t c = 0; c < cols; c++) {
                    size_t i = r * cols + c;
                    float want = op == ADD_OP_SCALE ? fp16_to_f32(a[i]) * 0.30004883f /* fp16(0.3) */
                                                    : fp16_to_f32(a[i]) + fp16_to_f32(b[op == ADD_OP_BIAS ? c : i]);
                    assert_int_equal(y1[i], fp16_from_f32(want));
                }
            if (op != ADD_OP_SCALE)
                assert_int_equal(y1[0], FP16_POS_INF);
            free(a), free(b), free(y1), free(y2);
        }
        assert_int_equal(cyc[0], cyc[1]);
    }
    IpuErr e;
    AddArgs bad = {.rows = 1, .cols = 6};
    assert_int_equal(add_check(&bad, 0, &e), -1);
    assert_non_null(strstr(e.msg, "cols=6"));
}

/* ---- gather ---- */

static void test_gather(void **state)
{
    (void)state;
    const uint32_t vocab = 5, cols = 8, tokens = 4, base = 100;
    uint16_t *tab = rand_h(vocab * cols, 1.0f, 90), zeros[8] = {0};
    uint16_t y1[32], y2[32];
    uint32_t ids_a[4] = {100, 104, 102, 100}, ids_b[4] = {7, 105, 99, 50400}; /* b: all outside the shard */
    uint64_t cyc[2];
    for (int k = 0; k < 2; k++) {
        GatherArgs a = {.table = tab, .zeros = zeros, .ids = k ? ids_b : ids_a, .out = y1, .vocab_rows = vocab,
                        .cols = cols, .tokens = tokens, .id_base = base};
        assert_int_equal(gather_check(&a, 1, NULL), 0);
        gather_ref(&a);
        a.out = y2;
        memset(y2, 0xff, sizeof y2);
        cyc[k] = run_vertex(&gather_vertex, &a);
        assert_memory_equal(y1, y2, sizeof y1);
        for (uint32_t t = 0; t < tokens; t++) {
            uint32_t id = a.ids[t];
            if (id >= base && id < base + vocab)
                assert_memory_equal(y1 + t * cols, tab + (id - base) * cols, cols * 2);
            else
                assert_memory_equal(y1 + t * cols, zeros, cols * 2);
        }
    }
    assert_int_equal(cyc[0], cyc[1]);
    free(tab);
}

/* ---- argmax ---- */

static void test_argmax(void **state)
{
    (void)state;
    const uint32_t rows = 3, n = 50;
    for (int it = 0; it < 2; it++) {
        uint64_t cyc[2];
        for (int seed = 0; seed < 2; seed++) {
            void *in = rand_t(rows * n, (LayerDtype)it, 10.0f, 95 + seed);
            layer_store(in, (LayerDtype)it, 7, 50.0f); /* row 0: tie at 7, 9 and 30 */
            layer_store(in, (LayerDtype)it, 9, 50.0f);
            layer_store(in, (LayerDtype)it, 30, 50.0f);
            layer_store(in, (LayerDtype)it, n + 13, 60.0f); /* row 1: odd lane wins */
            layer_store(in, (LayerDtype)it, n + 20, NAN);
            for (uint32_t j = 0; j < n; j++) /* row 2: all -inf */
                layer_store(in, (LayerDtype)it, 2 * n + j, -INFINITY);
            uint32_t i1[3], i2[3];
            float v1[3], v2[3];
            ArgmaxArgs a = {.in = in, .out_index = i1, .out_value = v1, .want_value = 1, .rows = rows, .n = n, .index_base = 1000,
                            .in_type = (LayerDtype)it};
            assert_int_equal(argmax_check(&a, 1, NULL), 0);
            argmax_ref(&a);
            a.out_index = i2, a.out_value = v2;
            cyc[seed] = run_vertex(&argmax_vertex, &a);
            assert_memory_equal(i1, i2, sizeof i1);
            assert_memory_equal(v1, v2, sizeof v1);
            assert_int_equal(i1[0], 1007);
            assert_true(v1[0] == 50.0f);
            assert_int_equal(i1[1], 1013);
            assert_int_equal(i1[2], 1000);
            assert_true(v1[2] == -INFINITY);
            free(in);
        }
        assert_int_equal(cyc[0], cyc[1]);
    }
    /* ties between lanes: even lane at 4, odd lane at 3 -> 3 */
    uint16_t h[6] = {0, 0, 0, FP16_ONE, FP16_ONE, 0};
    uint32_t idx;
    ArgmaxArgs a = {.in = h, .out_index = &idx, .rows = 1, .n = 6, .in_type = LAYER_F16};
    IsaCosts isa = costs();
    Worker w;
    worker_init(&w, &isa, 0);
    argmax_tile(&w, &a);
    assert_int_equal(idx, 3);
}

/* Every layer family is in the registry, its default variant runnable. */
static void test_registered(void **state)
{
    (void)state;
    static const struct { const char *family, *vertex; } want[] = {
        {"matmul", "matmul.amp_f16"}, {"reduce", "reduce.sum"}, {"layernorm", "layernorm.f16"},
        {"softmax", "softmax.causal"}, {"gelu", "gelu.tanh"}, {"rotary", "rotary.interleaved"},
        {"add", "add.f16"}, {"gather", "gather.rows"}, {"argmax", "argmax.row"},
    };
    IpuErr e;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const CodeletFamily *f = codelet_family_find(want[i].family, &e);
        if (!f)
            fail_msg("%s", e.msg);
        const CodeletVariant *v = codelet_variant_find(f, NULL, &e);
        assert_non_null(v);
        assert_string_equal(v->vertex->name, want[i].vertex);
        assert_non_null(v->vertex->run), assert_non_null(v->vertex->measure), assert_non_null(v->vertex->shape_key);
    }
    const CodeletFamily *m = codelet_family_find("matmul", &e);
    assert_non_null(codelet_variant_find(m, "amp_f32", &e));
    assert_null(codelet_variant_find(m, "vector", &e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduce),  cmocka_unit_test(test_layernorm), cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_gelu), cmocka_unit_test(test_gelu_exhaustive),    cmocka_unit_test(test_rotary),    cmocka_unit_test(test_add),
        cmocka_unit_test(test_gather),  cmocka_unit_test(test_argmax), cmocka_unit_test(test_registered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
