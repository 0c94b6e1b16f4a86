/* test_native_layers.c - the native versions of the layer codelets (add,
 * gelu, reduce, gather, argmax, layernorm, the split LayerNorm's three
 * vertices, softmax, rotary): for random shapes and data with edge values
 * (signed zeros, subnormals, Inf, NaN, values that overflow fp16), in
 * place where the codelet allows it, native() writes exactly what run()
 * writes (the whole memory compared, so a stray write shows too); with a
 * misaligned or missing buffer run() faults and native() declines having
 * written nothing. */
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
#include "codelets/layernorm_split.h"
#include "codelets/reduce.h"
#include "codelets/rotary.h"
#include "codelets/softmax.h"

typedef struct Rng { uint64_t s; } Rng;
static uint32_t rng_u32(Rng *r)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}
static float rng_unit(Rng *r) { return (float)rng_u32(r) / 2147483648.0f - 1.0f; }
static uint32_t rng_below(Rng *r, uint32_t n) { return rng_u32(r) % n; }

/* A value with the edge cases now and then (wild: more often). No NaN
 * inputs: which of two NaNs an addition passes on depends on the compiled
 * operand order, for run() as for native(); NaNs made inside (Inf - Inf,
 * 0 x Inf) are all the one default NaN, so those cases are in. */
static float edge_f(Rng *r, float scale, int wild)
{
    switch (rng_below(r, wild ? 16 : 200)) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return 3e-6f * rng_unit(r); /* an fp16 subnormal */
    case 3: return 70000.0f;            /* Inf in fp16 */
    case 4: case 5: return rng_below(r, 2) ? INFINITY : -INFINITY;
    default: return scale * rng_unit(r);
    }
}

/* One memory image holding every buffer of a case; args point into it. */
enum { ARENA = 1 << 18 };
typedef struct Arena {
    _Alignas(64) unsigned char b[ARENA];
    size_t used;
} Arena;

static void *take(Arena *a, size_t bytes)
{
    a->used = (a->used + 63) / 64 * 64;
    assert_true(a->used + bytes <= ARENA);
    void *p = a->b + a->used;
    a->used += bytes;
    return p;
}

static void fill_f16(Rng *r, uint16_t *p, size_t n, float scale, int wild)
{
    for (size_t i = 0; i < n; i++)
        p[i] = fp16_from_f32(edge_f(r, scale, wild));
}

static void fill_f32(Rng *r, float *p, size_t n, float scale, int wild)
{
    for (size_t i = 0; i < n; i++)
        p[i] = edge_f(r, scale, wild);
}

/* Builds one case of a codelet into an arena: fills args (pointers into it). */
typedef void (*Build)(Rng *r, Arena *a, void *args, int wild);

static void build_add(Rng *r, Arena *a, void *args, int wild)
{
    AddArgs *p = args;
    memset(p, 0, sizeof *p);
    p->rows = 1 + rng_below(r, 5), p->cols = 4 * (1 + rng_below(r, 40));
    p->op = (AddOp)rng_below(r, 3);
    size_t n = (size_t)p->rows * p->cols;
    uint16_t *x = take(a, n * 2), *b = take(a, n * 2);
    fill_f16(r, x, n, 4, wild), fill_f16(r, b, n, 4, wild);
    p->a = x, p->b = b, p->scale = fp16_from_f32(edge_f(r, 2, wild));
    p->out = rng_below(r, 2) ? x : take(a, n * 2); /* in place or not */
}

static void build_gelu(Rng *r, Arena *a, void *args, int wild)
{
    GeluArgs *p = args;
    p->n = 2 * (1 + rng_below(r, 300));
    uint16_t *x = take(a, p->n * 2u);
    fill_f16(r, x, p->n, 6, wild);
    p->x = x, p->out = rng_below(r, 2) ? x : take(a, p->n * 2u);
}

static void build_reduce(Rng *r, Arena *a, void *args, int wild)
{
    ReduceArgs *p = args;
    memset(p, 0, sizeof *p);
    p->parts = 1 + rng_below(r, 9), p->n = 2 * (1 + rng_below(r, 200));
    p->in_stride = rng_below(r, 2) ? p->n + 2 * rng_below(r, 5) : 0;
    p->in_type = (LayerDtype)rng_below(r, 2), p->out_type = (LayerDtype)rng_below(r, 2);
    size_t st = p->in_stride ? p->in_stride : p->n, n = (p->parts - 1) * st + p->n;
    void *in = take(a, n * layer_dtype_bytes(p->in_type));
    for (size_t i = 0; i < n; i++)
        layer_store(in, p->in_type, i, edge_f(r, 8, wild));
    p->in = in, p->out = take(a, p->n * layer_dtype_bytes(p->out_type));
}

static void build_gather(Rng *r, Arena *a, void *args, int wild)
{
    GatherArgs *p = args;
    p->vocab_rows = 1 + rng_below(r, 30), p->cols = 4 * (1 + rng_below(r, 20)), p->tokens = 1 + rng_below(r, 8);
    p->id_base = rng_below(r, 50);
    uint16_t *t = take(a, (size_t)p->vocab_rows * p->cols * 2), *z = take(a, p->cols * 2u);
    fill_f16(r, t, (size_t)p->vocab_rows * p->cols, 1, wild);
    memset(z, 0, p->cols * 2u);
    uint32_t *ids = take(a, p->tokens * 4u);
    for (uint32_t i = 0; i < p->tokens; i++)
        ids[i] = rng_below(r, p->vocab_rows + 100); /* some outside the shard, some below id_base */
    p->table = t, p->zeros = z, p->ids = ids, p->out = take(a, (size_t)p->tokens * p->cols * 2);
}

static void build_argmax(Rng *r, Arena *a, void *args, int wild)
{
    ArgmaxArgs *p = args;
    memset(p, 0, sizeof *p);
    p->rows = 1 + rng_below(r, 4), p->n = 2 * (1 + rng_below(r, 100)), p->in_type = (LayerDtype)rng_below(r, 2);
    size_t n = (size_t)p->rows * p->n;
    void *in = take(a, n * layer_dtype_bytes(p->in_type));
    for (size_t i = 0; i < n; i++) /* few levels: ties between the lanes */
        layer_store(in, p->in_type, i, wild ? edge_f(r, 3, 1) : (float)(int)rng_below(r, 5));
    p->in = in, p->out_index = take(a, p->rows * 4u), p->out_value = take(a, p->rows * 4u);
    p->want_value = rng_below(r, 2), p->index_base = rng_below(r, 1000);
}

static void build_layernorm(Rng *r, Arena *a, void *args, int wild)
{
    LayernormArgs *p = args;
    memset(p, 0, sizeof *p);
    p->rows = 1 + rng_below(r, 3), p->cols = 2 * (1 + rng_below(r, 200)), p->eps = 1e-5f;
    size_t n = (size_t)p->rows * p->cols;
    uint16_t *x = take(a, n * 2), *g = take(a, p->cols * 2u), *b = take(a, p->cols * 2u);
    fill_f16(r, x, n, 3, wild), fill_f16(r, g, p->cols, 2, 0), fill_f16(r, b, p->cols, 1, 0);
    p->x = x, p->gain = g, p->bias = b, p->out = rng_below(r, 2) ? x : take(a, n * 2);
}

static void build_ln_stats(Rng *r, Arena *a, void *args, int wild)
{
    LnStatsArgs *p = args;
    memset(p, 0, sizeof *p);
    p->n = 2 * (1 + rng_below(r, 150)), p->pass = 1 + rng_below(r, 2);
    uint16_t *x = take(a, p->n * 2u);
    fill_f16(r, x, p->n, 3, wild);
    float *st = take(a, 8);
    st[0] = edge_f(r, 1, wild), st[1] = 1;
    p->x = x, p->stats = st, p->part = take(a, 8);
}

static void build_ln_combine(Rng *r, Arena *a, void *args, int wild)
{
    LnCombineArgs *p = args;
    memset(p, 0, sizeof *p);
    p->nparts = 1 + rng_below(r, 90), p->cols = 2 * (1 + rng_below(r, 4000)), p->pass = 1 + rng_below(r, 2);
    p->eps = 1e-5f;
    float *parts = take(a, p->nparts * 8u), *st = take(a, 8);
    fill_f32(r, parts, 2 * (size_t)p->nparts, 10, wild);
    st[0] = edge_f(r, 1, wild), st[1] = 7;
    p->parts = parts, p->stats = st;
}

static void build_ln_apply(Rng *r, Arena *a, void *args, int wild)
{
    LnApplyArgs *p = args;
    memset(p, 0, sizeof *p);
    p->n = 2 * (1 + rng_below(r, 150));
    uint16_t *x = take(a, p->n * 2u), *g = take(a, p->n * 2u), *b = take(a, p->n * 2u);
    fill_f16(r, x, p->n, 3, wild), fill_f16(r, g, p->n, 2, 0), fill_f16(r, b, p->n, 1, 0);
    float *st = take(a, 8);
    st[0] = edge_f(r, 1, wild), st[1] = 0.5f + (float)rng_below(r, 4);
    p->x = x, p->gain = g, p->bias = b, p->stats = st, p->out = rng_below(r, 2) ? x : take(a, p->n * 2u);
}

static void build_softmax(Rng *r, Arena *a, void *args, int wild)
{
    SoftmaxArgs *p = args;
    memset(p, 0, sizeof *p);
    p->rows = 1 + rng_below(r, 4), p->len = 2 * (1 + rng_below(r, 64)), p->pos0 = rng_below(r, 130);
    p->q_len = rng_below(r, 2) ? 0 : 1 + rng_below(r, p->rows), p->scale = 0.125f * (1 + rng_below(r, 8));
    p->in_type = (LayerDtype)rng_below(r, 2), p->out_type = (LayerDtype)rng_below(r, 2);
    size_t n = (size_t)p->rows * p->len;
    void *in = take(a, n * layer_dtype_bytes(p->in_type));
    for (size_t i = 0; i < n; i++)
        layer_store(in, p->in_type, i, edge_f(r, 10, wild));
    p->in = in;
    p->out = p->in_type == p->out_type && rng_below(r, 2) ? in : take(a, n * layer_dtype_bytes(p->out_type));
}

static void build_rotary(Rng *r, Arena *a, void *args, int wild)
{
    RotaryArgs *p = args;
    memset(p, 0, sizeof *p);
    p->tokens = 1 + rng_below(r, 3), p->heads = 1 + rng_below(r, 3), p->head_dim = 2 * (1 + rng_below(r, 16));
    p->rotary_dim = 2 * rng_below(r, p->head_dim / 2 + 1);
    size_t n = (size_t)p->tokens * p->heads * p->head_dim;
    uint16_t *x = take(a, n * 2);
    fill_f16(r, x, n, 4, wild);
    float *tab = take(a, ((size_t)p->tokens * (p->rotary_dim / 2) + 1) * 16);
    rotary_table_ref(tab, rng_below(r, 2000), p->tokens, p->rotary_dim);
    p->x = x, p->table = tab, p->out = rng_below(r, 2) ? x : take(a, n * 2);
}

typedef struct Codelet {
    const VertexType *vt;
    Build build;
} Codelet;

static const Codelet codelets[] = {
    {&add_vertex, build_add},           {&gelu_vertex, build_gelu},
    {&reduce_vertex, build_reduce},     {&gather_vertex, build_gather},
    {&argmax_vertex, build_argmax},     {&layernorm_vertex, build_layernorm},
    {&layernorm_stats_vertex, build_ln_stats}, {&layernorm_combine_vertex, build_ln_combine},
    {&layernorm_apply_vertex, build_ln_apply}, {&softmax_vertex, build_softmax},
    {&rotary_vertex, build_rotary},
};

/* Args built for arena `from`, moved to point into arena `to` (same layout). */
static void move_args(void *args, size_t bytes, const Arena *from, Arena *to)
{
    for (size_t off = 0; off + sizeof(uintptr_t) <= bytes; off += sizeof(uintptr_t)) {
        uintptr_t p;
        memcpy(&p, (char *)args + off, sizeof p);
        if (p >= (uintptr_t)from->b && p < (uintptr_t)from->b + ARENA) {
            p = p - (uintptr_t)from->b + (uintptr_t)to->b;
            memcpy((char *)args + off, &p, sizeof p);
        }
    }
}

static void test_native_equals_run(void **state)
{
    (void)state;
    static Arena ra, na;
    IsaCosts isa;
    isa_costs_default(&isa);
    Rng r = {2024};
    for (size_t c = 0; c < sizeof codelets / sizeof codelets[0]; c++) {
        const VertexType *vt = codelets[c].vt;
        assert_non_null(vt->native);
        for (int trial = 0; trial < 300; trial++) {
            _Alignas(16) unsigned char args[256];
            assert_true(vt->args_bytes <= sizeof args);
            memset(&ra, 0x3c, sizeof ra);
            ra.used = 0;
            codelets[c].build(&r, &ra, args, trial % 3 == 0);
            memcpy(&na, &ra, sizeof na);
            Worker w;
            worker_init(&w, &isa, 0);
            vt->run(&w, args);
            assert_false(w.faulted);
            move_args(args, vt->args_bytes, &ra, &na);
            assert_int_equal(vt->native(&isa, args), 0);
            if (memcmp(ra.b, na.b, ra.used))
                fail_msg("%s trial %d: native() and run() leave different memory", vt->name, trial);
        }
    }
}

/* Misaligns (by 2 bytes) or drops the pointer field at byte offset off. */
static void break_pointer(void *args, size_t off, int drop)
{
    uintptr_t p;
    memcpy(&p, (char *)args + off, sizeof p);
    p = drop ? 0 : p + 2;
    memcpy((char *)args + off, &p, sizeof p);
}

static void test_native_declines_where_run_faults(void **state)
{
    (void)state;
    static Arena ra, na;
    IsaCosts isa;
    isa_costs_default(&isa);
    Rng r = {99};
    for (size_t c = 0; c < sizeof codelets / sizeof codelets[0]; c++) {
        const VertexType *vt = codelets[c].vt;
        int declined = 0;
        for (int trial = 0; trial < 200; trial++) {
            _Alignas(16) unsigned char args[256];
            memset(&ra, 0x3c, sizeof ra);
            ra.used = 0;
            codelets[c].build(&r, &ra, args, 0);
            /* a pointer field: the args' words that point into the arena */
            size_t ptrs[8], np = 0;
            for (size_t off = 0; off + 8 <= vt->args_bytes && np < 8; off += 8) {
                uintptr_t p;
                memcpy(&p, args + off, 8);
                if (p >= (uintptr_t)ra.b && p < (uintptr_t)ra.b + ARENA)
                    ptrs[np++] = off;
            }
            assert_true(np > 0);
            break_pointer(args, ptrs[rng_below(&r, (uint32_t)np)], rng_below(&r, 2));
            memcpy(&na, &ra, sizeof na);
            Worker w;
            worker_init(&w, &isa, 0);
            vt->run(&w, args);
            move_args(args, vt->args_bytes, &ra, &na);
            memcpy(&ra, &na, sizeof ra); /* the native starts from the untouched image */
            int rc = vt->native(&isa, args);
            if (w.faulted) {
                assert_int_not_equal(rc, 0);
                assert_memory_equal(ra.b, na.b, na.used); /* declined: nothing written */
                declined++;
            }
        }
        assert_true(declined > 0); /* the breaks did make run() fault */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native_equals_run),
        cmocka_unit_test(test_native_declines_where_run_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
