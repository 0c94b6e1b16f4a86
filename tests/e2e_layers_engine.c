/* e2e_layers_engine.c - the layer codelets on the real engine: a small MLP
 * block (layernorm -> matmul fc_in -> add bias -> gelu -> matmul fc_out
 * split over two tiles -> reduce -> residual add -> argmax) built as a graph,
 * run in functional mode and checked bit for bit against the _ref chain, and
 * run in timing mode with the same cycles (the codelets' cycles do not
 * depend on the data, so the two modes must agree). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/add.h"
#include "codelets/argmax.h"
#include "codelets/gelu.h"
#include "codelets/layernorm.h"
#include "codelets/matmul.h"
#include "codelets/reduce.h"
#include "sim/engine.h"
#include "sim/graph.h"
#include "sim/program.h"

#define C 32  /* model width */
#define F 64  /* feed-forward width */
#define T 2   /* tokens (rows) */

typedef struct Ids {
    int x, g, b, h, w1, b1, u, w2a, w2b, parts, mlp, y, idx, val;
} Ids;

static int tensor(Graph *g, const char *name, GraphDType t, uint64_t n, uint32_t tile)
{
    IpuErr e;
    TileInterval m = {0, n, tile};
    int id = graph_add_tensor(g, name, t, n, SRAM_ACTIVATIONS, &m, 1, &e);
    if (id < 0)
        fail_msg("%s", e.msg);
    return id;
}

static void *data(Graph *g, int id) { return graph_tensor_data(g, id); }

static uint16_t host_h(uint32_t i, float amp) { return fp16_from_f32(amp * (float)((int)((i * 2654435761u) >> 27) - 16) / 16.0f); }

/* Builds the block; fills inputs in functional mode. Returns the program's root. */
static int build(Graph *g, Program *p, Ids *d)
{
    IpuErr e;
    d->x = tensor(g, "x", DTYPE_FP16, T * C, 0);
    d->g = tensor(g, "ln.g", DTYPE_FP16, C, 0);
    d->b = tensor(g, "ln.b", DTYPE_FP16, C, 0);
    d->h = tensor(g, "h", DTYPE_FP16, T * C, 0);
    d->w1 = tensor(g, "fc_in.w", DTYPE_FP16, F * C, 0);
    d->b1 = tensor(g, "fc_in.b", DTYPE_FP16, F, 0);
    d->u = tensor(g, "u", DTYPE_FP16, T * F, 0);
    d->w2a = tensor(g, "fc_out.w.0", DTYPE_FP16, C * F / 2, 0); /* (C, F/2): in_features 0..F/2 */
    d->w2b = tensor(g, "fc_out.w.1", DTYPE_FP16, C * F / 2, 0); /* (C, F/2): in_features F/2..F */
    d->parts = tensor(g, "fc_out.partials", DTYPE_FP32, 2 * T * C, 0);
    d->mlp = tensor(g, "mlp", DTYPE_FP16, T * C, 0);
    d->y = tensor(g, "y", DTYPE_FP16, T * C, 0);
    d->idx = tensor(g, "argmax.idx", DTYPE_I32, T, 0);
    d->val = tensor(g, "argmax.val", DTYPE_FP32, T, 0);
    if (g->mode == GRAPH_FUNCTIONAL) {
        uint16_t *x = data(g, d->x), *gg = data(g, d->g), *b = data(g, d->b), *w1 = data(g, d->w1);
        uint16_t *b1 = data(g, d->b1), *w2a = data(g, d->w2a), *w2b = data(g, d->w2b);
        for (uint32_t i = 0; i < T * C; i++)
            x[i] = host_h(i, 3.0f);
        for (uint32_t i = 0; i < C; i++)
            gg[i] = host_h(i + 7, 1.0f), b[i] = host_h(i + 9, 0.5f);
        for (uint32_t i = 0; i < F * C; i++)
            w1[i] = host_h(i + 11, 0.3f);
        for (uint32_t i = 0; i < F; i++)
            b1[i] = host_h(i + 13, 0.2f);
        for (uint32_t i = 0; i < C * F / 2; i++)
            w2a[i] = host_h(i + 17, 0.3f), w2b[i] = host_h(i + 19, 0.3f);
    }
    int cs[8];
    static const char *names[8] = {"ln", "fc_in", "bias", "gelu", "fc_out", "reduce", "residual", "argmax"};
    for (int i = 0; i < 8; i++)
        cs[i] = graph_add_compute_set(g, names[i], &e);
    LayernormArgs ln = {data(g, d->x), data(g, d->g), data(g, d->b), data(g, d->h), T, C, LAYERNORM_EPS};
    MatmulArgs fc_in = {.a = data(g, d->h), .w = data(g, d->w1), .out = data(g, d->u), .m = T, .k = C, .n = F,
                        .amp_macs_per_cycle = g->arch.amp_macs_per_cycle_fp16};
    AddArgs bias = {.out = data(g, d->u), .a = data(g, d->u), .b = data(g, d->b1), .rows = T, .cols = F, .op = ADD_OP_BIAS};
    GeluArgs ge = {data(g, d->u), data(g, d->u), T * F};
    float *parts = data(g, d->parts);
    uint16_t *u = data(g, d->u);
    /* fc_out split along in_features over two workers: each reads half of u's row */
    MatmulArgs fo0 = {.a = u, .w = data(g, d->w2a), .out = parts, .m = T, .k = F / 2, .n = C, .a_stride = F,
                      .amp_macs_per_cycle = g->arch.amp_macs_per_cycle_fp16};
    MatmulArgs fo1 = fo0;
    fo1.a = u ? u + F / 2 : NULL, fo1.w = data(g, d->w2b), fo1.out = parts ? parts + T * C : NULL;
    ReduceArgs red = {.in = parts, .out = data(g, d->mlp), .parts = 2, .n = T * C, .in_type = LAYER_F32, .out_type = LAYER_F16};
    AddArgs res = {.out = data(g, d->y), .a = data(g, d->x), .b = data(g, d->mlp), .rows = T, .cols = C, .op = ADD_OP_ADD};
    ArgmaxArgs am = {.in = data(g, d->y), .out_index = data(g, d->idx), .out_value = data(g, d->val), .want_value = 1, .rows = T, .n = C,
                     .in_type = LAYER_F16};
    if (graph_add_vertex(g, cs[0], 0, &layernorm_vertex, &ln, &e) ||
        graph_add_vertex(g, cs[1], 0, &matmul_amp_f16_vertex, &fc_in, &e) ||
        graph_add_vertex(g, cs[2], 0, &add_vertex, &bias, &e) || graph_add_vertex(g, cs[3], 0, &gelu_vertex, &ge, &e) ||
        graph_add_vertex(g, cs[4], 0, &matmul_amp_f32_vertex, &fo0, &e) ||
        graph_add_vertex(g, cs[4], 0, &matmul_amp_f32_vertex, &fo1, &e) ||
        graph_add_vertex(g, cs[5], 0, &reduce_vertex, &red, &e) || graph_add_vertex(g, cs[6], 0, &add_vertex, &res, &e) ||
        graph_add_vertex(g, cs[7], 0, &argmax_vertex, &am, &e))
        fail_msg("%s", e.msg);
    int root = program_sequence(p, "mlp", &e);
    int cat = program_category(p, "compute", &e);
    for (int i = 0; i < 8; i++)
        if (program_append(p, root, program_execute(p, cs[i], names[i], cat, &e), &e))
            fail_msg("%s", e.msg);
    return root;
}

static uint64_t run(Graph *g, Program *p, int root)
{
    IpuErr e;
    Engine *en = engine_create(g, &e);
    assert_non_null(en);
    if (engine_start(en, p, root, &e))
        fail_msg("%s", e.msg);
    EngineStepInfo info;
    int rc;
    while ((rc = engine_step(en, &info, &e)) == 1)
        ;
    if (rc)
        fail_msg("%s", e.msg);
    uint64_t c = engine_cycles(en);
    engine_destroy(en);
    return c;
}

static void test_block_functional_equals_ref_and_timing(void **state)
{
    (void)state;
    IpuErr e;
    IpuArch a;
    if (arch_preset("bow", &a, &e))
        fail_msg("%s", e.msg);
    uint64_t cyc[2];
    for (int mode = 0; mode < 2; mode++) {
        Graph *g = graph_create(&a, mode ? GRAPH_FUNCTIONAL : GRAPH_TIMING, &e);
        Program *p = program_create();
        assert_non_null(g), assert_non_null(p);
        Ids d;
        int root = build(g, p, &d);
        cyc[mode] = run(g, p, root);
        if (mode) { /* the same chain through the references */
            uint16_t h[T * C], u[T * F], mlp[T * C], y[T * C];
            float parts[2 * T * C], val[T];
            uint32_t idx[T];
            LayernormArgs ln = {data(g, d.x), data(g, d.g), data(g, d.b), h, T, C, LAYERNORM_EPS};
            layernorm_ref(&ln);
            MatmulArgs fc_in = {.a = h, .w = data(g, d.w1), .out = u, .m = T, .k = C, .n = F, .amp_macs_per_cycle = 64};
            matmul_ref(&fc_in, LAYER_F16);
            AddArgs bias = {.out = u, .a = u, .b = data(g, d.b1), .rows = T, .cols = F, .op = ADD_OP_BIAS};
            add_ref(&bias);
            GeluArgs ge = {u, u, T * F};
            gelu_ref(&ge);
            MatmulArgs fo0 = {.a = u, .w = data(g, d.w2a), .out = parts, .m = T, .k = F / 2, .n = C, .a_stride = F,
                              .amp_macs_per_cycle = 64};
            MatmulArgs fo1 = fo0;
            fo1.a = u + F / 2, fo1.w = data(g, d.w2b), fo1.out = parts + T * C;
            matmul_ref(&fo0, LAYER_F32), matmul_ref(&fo1, LAYER_F32);
            ReduceArgs red = {.in = parts, .out = mlp, .parts = 2, .n = T * C, .in_type = LAYER_F32, .out_type = LAYER_F16};
            reduce_ref(&red);
            AddArgs res = {.out = y, .a = data(g, d.x), .b = mlp, .rows = T, .cols = C, .op = ADD_OP_ADD};
            add_ref(&res);
            ArgmaxArgs am = {.in = y, .out_index = idx, .out_value = val, .want_value = 1, .rows = T, .n = C, .in_type = LAYER_F16};
            argmax_ref(&am);
            assert_memory_equal(data(g, d.u), u, sizeof u);
            assert_memory_equal(data(g, d.parts), parts, sizeof parts);
            assert_memory_equal(data(g, d.mlp), mlp, sizeof mlp);
            assert_memory_equal(data(g, d.y), y, sizeof y);
            assert_memory_equal(data(g, d.idx), idx, sizeof idx);
            assert_memory_equal(data(g, d.val), val, sizeof val);
            int nonzero = 0;
            for (int i = 0; i < T * C; i++)
                nonzero += y[i] != ((uint16_t *)data(g, d.x))[i];
            assert_true(nonzero > T * C / 2); /* the block did change x */
        }
        program_destroy(p);
        graph_destroy(g);
    }
    assert_int_equal(cyc[0], cyc[1]);
    assert_true(cyc[0] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_functional_equals_ref_and_timing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
