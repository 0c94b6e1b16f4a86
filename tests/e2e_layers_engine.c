/* e2e_layers_engine.c - the layer codelets on the real engine: a small MLP
 * block (layernorm -> matmul fc_in -> add bias -> gelu -> matmul fc_out
 * split over two workers -> reduce -> residual add -> argmax) and a small
 * attention (gather -> q, k, v^T -> rotary -> scores -> softmax -> probs x v),
 * each built as a graph,
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
#include "codelets/gather.h"
#include "codelets/gelu.h"
#include "codelets/layernorm.h"
#include "codelets/matmul.h"
#include "codelets/reduce.h"
#include "codelets/rotary.h"
#include "codelets/softmax.h"
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

/* ---- attention: gather -> q, k, v^T projections -> rotary -> per head
 * scores, causal softmax, probs x v ---- */

#define AV 8  /* vocabulary rows of the shard */
#define AH 2  /* heads */
#define AD 8  /* head_dim */
#define AC (AH * AD)
#define AT 4  /* tokens */
#define AR 4  /* rotary_dim */

typedef struct AttnIds {
    int wte, zeros, ids, x, wq, wk, wv, q, k, vt, tab, sc, pr, o;
} AttnIds;

/* The argument structs of the whole chain, pointing into the graph's (or
 * the reference's) buffers: the same code builds both. */
typedef struct AttnArgs {
    GatherArgs ga;
    MatmulArgs pq, pk, pv;
    RotaryArgs rq, rk;
    MatmulArgs qk[AH], av[AH];
    SoftmaxArgs sm[AH];
} AttnArgs;

typedef struct AttnBufs {
    const uint16_t *wte, *zeros, *wq, *wk, *wv;
    const uint32_t *ids;
    const float *tab;
    uint16_t *x, *q, *k, *vt, *sc, *pr, *o;
} AttnBufs;

static uint16_t *at(uint16_t *p, size_t i) { return p ? p + i : NULL; }

static void attn_args(const AttnBufs *b, uint32_t macs, AttnArgs *a)
{
    a->ga = (GatherArgs){b->wte, b->zeros, b->ids, b->x, AV, AC, AT, 100};
    a->pq = (MatmulArgs){.a = b->x, .w = b->wq, .out = b->q, .m = AT, .k = AC, .n = AC, .amp_macs_per_cycle = macs};
    a->pk = a->pq, a->pk.w = b->wk, a->pk.out = b->k;
    /* v^T (AC, AT) = W_v x^T: a = W_v, w = x */
    a->pv = (MatmulArgs){.a = b->wv, .w = b->x, .out = b->vt, .m = AC, .k = AC, .n = AT, .amp_macs_per_cycle = macs};
    a->rq = (RotaryArgs){b->q, b->tab, b->q, AT, AH, AD, AR};
    a->rk = a->rq, a->rk.x = b->k, a->rk.out = b->k;
    for (int h = 0; h < AH; h++) {
        a->qk[h] = (MatmulArgs){.a = at(b->q, h * AD), .w = at(b->k, h * AD), .out = at(b->sc, h * AT * AT), .m = AT,
                                .k = AD, .n = AT, .a_stride = AC, .w_stride = AC, .amp_macs_per_cycle = macs};
        a->sm[h] = (SoftmaxArgs){.in = at(b->sc, h * AT * AT), .out = at(b->pr, h * AT * AT), .rows = AT, .len = AT,
                                 .pos0 = 0, .q_len = AT, .scale = 0.35355339f, .in_type = LAYER_F16, .out_type = LAYER_F16};
        a->av[h] = (MatmulArgs){.a = at(b->pr, h * AT * AT), .w = at(b->vt, h * AD * AT), .out = at(b->o, h * AD), .m = AT,
                                .k = AT, .n = AD, .out_stride = AC, .amp_macs_per_cycle = macs};
    }
}

static void attn_ref(const AttnArgs *a)
{
    gather_ref(&a->ga);
    matmul_ref(&a->pq, LAYER_F16), matmul_ref(&a->pk, LAYER_F16), matmul_ref(&a->pv, LAYER_F16);
    rotary_ref(&a->rq), rotary_ref(&a->rk);
    for (int h = 0; h < AH; h++)
        matmul_ref(&a->qk[h], LAYER_F16), softmax_ref(&a->sm[h]), matmul_ref(&a->av[h], LAYER_F16);
}

static int attn_build(Graph *g, Program *p, AttnIds *d, AttnArgs *args)
{
    IpuErr e;
    d->wte = tensor(g, "wte", DTYPE_FP16, AV * AC, 0);
    d->zeros = tensor(g, "zeros", DTYPE_FP16, AC, 0);
    d->ids = tensor(g, "ids", DTYPE_I32, AT, 0);
    d->x = tensor(g, "x", DTYPE_FP16, AT * AC, 0);
    d->wq = tensor(g, "q_proj", DTYPE_FP16, AC * AC, 0);
    d->wk = tensor(g, "k_proj", DTYPE_FP16, AC * AC, 0);
    d->wv = tensor(g, "v_proj", DTYPE_FP16, AC * AC, 0);
    d->q = tensor(g, "q", DTYPE_FP16, AT * AC, 0);
    d->k = tensor(g, "k", DTYPE_FP16, AT * AC, 0);
    d->vt = tensor(g, "v^T", DTYPE_FP16, AC * AT, 0);
    d->tab = tensor(g, "rotary.table", DTYPE_FP32, AT * AR / 2 * 4, 0);
    d->sc = tensor(g, "scores", DTYPE_FP16, AH * AT * AT, 0);
    d->pr = tensor(g, "probs", DTYPE_FP16, AH * AT * AT, 0);
    d->o = tensor(g, "attn", DTYPE_FP16, AT * AC, 0);
    if (g->mode == GRAPH_FUNCTIONAL) {
        uint16_t *wte = data(g, d->wte), *wq = data(g, d->wq), *wk = data(g, d->wk), *wv = data(g, d->wv);
        uint32_t *ids = data(g, d->ids);
        for (uint32_t i = 0; i < AV * AC; i++)
            wte[i] = host_h(i + 3, 1.0f);
        for (uint32_t i = 0; i < AC * AC; i++)
            wq[i] = host_h(i + 5, 0.5f), wk[i] = host_h(i + 6, 0.5f), wv[i] = host_h(i + 8, 0.5f);
        static const uint32_t tok[AT] = {103, 100, 107, 42}; /* 42: not in this shard, a zero row */
        memcpy(ids, tok, sizeof tok);
        memset(data(g, d->zeros), 0, AC * 2);
        rotary_table_ref(data(g, d->tab), 0, AT, AR);
    }
    AttnBufs b = {data(g, d->wte), data(g, d->zeros), data(g, d->wq), data(g, d->wk), data(g, d->wv),
                  data(g, d->ids), data(g, d->tab), data(g, d->x), data(g, d->q), data(g, d->k),
                  data(g, d->vt), data(g, d->sc), data(g, d->pr), data(g, d->o)};
    attn_args(&b, g->arch.amp_macs_per_cycle_fp16, args);
    int cs[6];
    static const char *names[6] = {"gather", "qkv", "rotary", "scores", "softmax", "pv"};
    for (int i = 0; i < 6; i++)
        cs[i] = graph_add_compute_set(g, names[i], &e);
    int bad = graph_add_vertex(g, cs[0], 0, &gather_vertex, &args->ga, &e) ||
              graph_add_vertex(g, cs[1], 0, &matmul_amp_f16_vertex, &args->pq, &e) ||
              graph_add_vertex(g, cs[1], 0, &matmul_amp_f16_vertex, &args->pk, &e) ||
              graph_add_vertex(g, cs[1], 0, &matmul_amp_f16_vertex, &args->pv, &e) ||
              graph_add_vertex(g, cs[2], 0, &rotary_vertex, &args->rq, &e) ||
              graph_add_vertex(g, cs[2], 0, &rotary_vertex, &args->rk, &e);
    for (int h = 0; h < AH && !bad; h++)
        bad = graph_add_vertex(g, cs[3], 0, &matmul_amp_f16_vertex, &args->qk[h], &e) ||
              graph_add_vertex(g, cs[4], 0, &softmax_vertex, &args->sm[h], &e) ||
              graph_add_vertex(g, cs[5], 0, &matmul_amp_f16_vertex, &args->av[h], &e);
    if (bad)
        fail_msg("%s", e.msg);
    int root = program_sequence(p, "attention", &e);
    int cat = program_category(p, "attention", &e);
    for (int i = 0; i < 6; i++)
        if (program_append(p, root, program_execute(p, cs[i], names[i], cat, &e), &e))
            fail_msg("%s", e.msg);
    return root;
}

static void test_attention_functional_equals_ref_and_timing(void **state)
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
        AttnIds d;
        AttnArgs args;
        int root = attn_build(g, p, &d, &args);
        cyc[mode] = run(g, p, root);
        if (mode) {
            static uint16_t x[AT * AC], q[AT * AC], k[AT * AC], vt[AC * AT], sc[AH * AT * AT], pr[AH * AT * AT],
                o[AT * AC];
            AttnBufs b = {data(g, d.wte), data(g, d.zeros), data(g, d.wq), data(g, d.wk), data(g, d.wv),
                          data(g, d.ids), data(g, d.tab), x, q, k, vt, sc, pr, o};
            AttnArgs ra;
            attn_args(&b, 64, &ra);
            attn_ref(&ra);
            assert_memory_equal(data(g, d.q), q, sizeof q);
            assert_memory_equal(data(g, d.vt), vt, sizeof vt);
            assert_memory_equal(data(g, d.pr), pr, sizeof pr);
            assert_memory_equal(data(g, d.o), o, sizeof o);
            /* causal: query 0 attends only to key 0; token 3 had a zero embedding */
            assert_int_equal(pr[0], FP16_ONE);
            assert_int_equal(pr[1], 0);
            for (int c = 0; c < AC; c++)
                assert_int_equal(x[3 * AC + c], 0);
        }
        program_destroy(p);
        graph_destroy(g);
    }
    assert_int_equal(cyc[0], cyc[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_functional_equals_ref_and_timing),
        cmocka_unit_test(test_attention_functional_equals_ref_and_timing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
