/* test_layout.c - sim/layout: tensors whose lives are disjoint share bytes,
 * overlapping lives never do (checked by running random programs on real
 * shared tile memory), values carried between runs stay, the out-of-memory
 * error names the step, the peak and curves, and the engine's poisoning
 * catches a program that breaks the write rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"
#include "sim/layout.h"

static Graph *make(const char *preset, GraphMode mode)
{
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset(preset, &a, &e), 0);
    Graph *g = graph_create(&a, mode, &e);
    assert_non_null(g);
    return g;
}

/* A tensor of n fp32 on one tile. */
static int on_tile(Graph *g, const char *name, uint64_t n, uint32_t tile)
{
    TileInterval m = {0, n, tile};
    IpuErr e;
    int id = graph_add_tensor(g, name, DTYPE_FP32, n, SRAM_ACTIVATIONS, &m, 1, &e);
    assert_true(id >= 0);
    return id;
}

/* Test vertex: out[i] = a[i] + (b ? b[i] : 0) + 1. */
typedef struct MixArgs {
    const float *a, *b;
    float *out;
    uint32_t n;
} MixArgs;

static void mix_run(Worker *w, const void *args)
{
    const MixArgs *m = args;
    for (uint32_t i = 0; i < m->n; i++)
        m->out[i] = (m->a ? m->a[i] : 0.0f) + (m->b ? m->b[i] : 0.0f) + 1.0f;
    w->cycles += m->n;
}
static uint64_t mix_key(const void *args) { return ((const MixArgs *)args)->n; }
static uint64_t mix_measure(const IsaCosts *isa, const void *args)
{
    (void)isa;
    return ((const MixArgs *)args)->n;
}
static const VertexType mix_vt = {"test.mix", sizeof(MixArgs), mix_run, mix_key, mix_measure, NULL};

/* An Execute step of one mix vertex on tile 0: out = a + b + 1 (a, b may be -1), uses declared. */
static int mix_step(Graph *g, Program *p, const char *label, int a, int b, int out, TensorAccess out_access)
{
    IpuErr e;
    int cs = graph_add_compute_set(g, label, &e);
    float *pa = a >= 0 ? graph_tensor_data(g, a) : NULL, *pb = b >= 0 ? graph_tensor_data(g, b) : NULL;
    MixArgs m = {pa, pb, graph_tensor_data(g, out), (uint32_t)graph_tensor(g, out)->elems};
    assert_int_equal(graph_add_vertex(g, cs, graph_tensor(g, out)->map[0].tile, &mix_vt, &m, &e), 0);
    if (a >= 0)
        assert_int_equal(graph_cs_use(g, cs, a, ACCESS_READ, &e), 0);
    if (b >= 0)
        assert_int_equal(graph_cs_use(g, cs, b, ACCESS_READ, &e), 0);
    assert_int_equal(graph_cs_use(g, cs, out, out_access, &e), 0);
    return program_execute(p, cs, label, -1, &e);
}

static int64_t offset_of(const Graph *g, int id) { return graph_tensor(g, id)->sram_offset[0]; }

/* a -> b -> c -> d: a and c never live together, so c reuses a's bytes; b overlaps both. */
static void test_disjoint_lives_share_bytes(void **state)
{
    (void)state;
    Graph *g = make("gc200", GRAPH_TIMING);
    Program *p = program_create();
    IpuErr e;
    int a = on_tile(g, "a", 50000, 0), b = on_tile(g, "b", 50000, 0), c = on_tile(g, "c", 50000, 0);
    int d = on_tile(g, "d", 16, 0);
    int root = program_sequence(p, "root", &e);
    program_append(p, root, mix_step(g, p, "make_a", -1, -1, a, ACCESS_WRITE), &e);
    program_append(p, root, mix_step(g, p, "a_to_b", a, -1, b, ACCESS_WRITE), &e);
    program_append(p, root, mix_step(g, p, "b_to_c", b, -1, c, ACCESS_WRITE), &e);
    program_append(p, root, mix_step(g, p, "c_to_d", c, -1, d, ACCESS_WRITE), &e);
    assert_int_equal(layout_graph(g, p, &root, 1, 0, &e), 0);
    assert_int_equal(offset_of(g, a), offset_of(g, c));
    assert_true(offset_of(g, b) >= offset_of(g, a) + 200000 || offset_of(g, b) + 200000 <= offset_of(g, a));
    assert_int_equal(graph_tensor(g, a)->placed, TENSOR_LAID_OUT);
    /* d (64 bytes) is live with c only: it fits in a gap below... or after c, never inside c or b while live */
    LayoutPeak pk;
    assert_int_equal(layout_tile_peak(g, 0, &pk), 0);
    assert_int_equal(pk.bytes, 400000); /* a+b at a_to_b (first of the equal peaks) */
    assert_int_equal(pk.pos, 1);
    assert_int_equal(pk.live[SRAM_ACTIVATIONS], 400000);
    assert_int_equal(layout_peak_tile(g), 0);
    uint64_t curve[4], chip[4];
    assert_int_equal(layout_tile_curve(g, 0, curve), 0);
    assert_int_equal(curve[0], 200000);
    assert_int_equal(curve[1], 400000);
    assert_int_equal(curve[2], 400000);
    assert_int_equal(curve[3], 200064);
    assert_int_equal(layout_chip_curve(g, 0, chip), 0);
    assert_memory_equal(curve, chip, sizeof curve);
    /* the report names the peak step and what is live there */
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    layout_report(g, p, f, 3);
    fclose(f);
    assert_non_null(strstr(buf, "chip 0 tile 0 (global 0): peak 400000"));
    assert_non_null(strstr(buf, "at step 'a_to_b'"));
    assert_non_null(strstr(buf, "live a"));
    assert_non_null(strstr(buf, "'make_a' .. 'a_to_b'"));
    graph_destroy(g);
    program_destroy(p);
}

static void test_overflow_names_step_and_tile(void **state)
{
    (void)state;
    Graph *g = make("gc200", GRAPH_TIMING);
    Program *p = program_create();
    IpuErr e;
    /* 3 x 250000 bytes live together at 'sum' on tile 5: one too many */
    int x = on_tile(g, "x", 62500, 5), y = on_tile(g, "y", 62500, 5), z = on_tile(g, "z", 62500, 5);
    int root = program_sequence(p, "root", &e);
    program_append(p, root, mix_step(g, p, "make_x", -1, -1, x, ACCESS_WRITE), &e);
    program_append(p, root, mix_step(g, p, "make_y", -1, -1, y, ACCESS_WRITE), &e);
    program_append(p, root, mix_step(g, p, "sum", x, y, z, ACCESS_WRITE), &e);
    assert_int_equal(layout_graph(g, p, &root, 1, 0, &e), -1);
    assert_non_null(strstr(e.msg, "out of tile memory at step 'sum'"));
    assert_non_null(strstr(e.msg, "chip 0 tile 5"));
    assert_non_null(strstr(e.msg, "'z' needs 250000 bytes"));
    assert_non_null(strstr(e.msg, "750000 bytes live there"));
    /* nothing stays placed; the engine reports the same error when it lays out */
    assert_int_equal(graph_tensor(g, x)->placed, TENSOR_UNPLACED);
    Engine *en = engine_create(g, &e);
    assert_int_equal(engine_start(en, p, root, &e), -1);
    assert_non_null(strstr(e.msg, "step 'sum'"));
    engine_destroy(en);
    graph_destroy(g);
    program_destroy(p);
}

/* Read before written in the run: the value comes from the host or the
 * last run, so the tensor is always-live (allocated in the Sram). So is a
 * tensor no step uses. */
static void test_carried_values_are_always_live(void **state)
{
    (void)state;
    Graph *g = make("gc200", GRAPH_TIMING);
    Program *p = program_create();
    IpuErr e;
    int in = on_tile(g, "in", 100, 0), out = on_tile(g, "out", 100, 0), unused = on_tile(g, "unused", 100, 0);
    int acc = on_tile(g, "acc", 100, 0);
    int root = program_sequence(p, "root", &e);
    program_append(p, root, mix_step(g, p, "use_in", in, -1, out, ACCESS_WRITE), &e);
    program_append(p, root, mix_step(g, p, "accumulate", out, -1, acc, ACCESS_READ_WRITE), &e);
    assert_int_equal(layout_graph(g, p, &root, 1, 0, &e), 0);
    assert_int_equal(graph_tensor(g, in)->placed, TENSOR_IN_SRAM);
    assert_int_equal(graph_tensor(g, unused)->placed, TENSOR_IN_SRAM);
    assert_int_equal(graph_tensor(g, acc)->placed, TENSOR_IN_SRAM);
    assert_int_equal(graph_tensor(g, out)->placed, TENSOR_LAID_OUT);
    assert_int_equal(sram_used_bytes(g->sram, 0, SRAM_ACTIVATIONS), 1200);
    /* laid out again (the graph changed): the always-live ones are not counted twice */
    on_tile(g, "late", 10, 1);
    assert_int_equal(layout_graph(g, p, &root, 1, 0, &e), 0);
    assert_int_equal(sram_used_bytes(g->sram, 0, SRAM_ACTIVATIONS), 1200);
    graph_destroy(g);
    program_destroy(p);
}

/* ---- random programs run on real shared tile memory ----
 *
 * Each leaf step reads some tensors and writes others (whole tensors, as
 * the write rule asks); a step's result is a hash of its step number and
 * every word it reads, written into every word of what it writes. Running
 * the program once with a buffer per tensor and once with every tensor's
 * words at its laid-out offset in its tile's memory must see the same
 * hashes: any two tensors that share bytes while both live would differ. */

#define RT 24      /* tensors */
#define RTILES 3
#define RSTEPS 40

typedef struct RStep {
    int kind;                /* 0 execute, 1 copy (src -> dst), 2 repeat start, 3 repeat end */
    int cs;
    unsigned access[RT];     /* execute: per tensor */
    int src, dst;
} RStep;

static uint32_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static uint32_t step_hash(uint32_t step, uint32_t h, const uint32_t *w, uint64_t n)
{
    h = h * 2654435761u + step;
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ w[i]) * 16777619u;
    return h;
}

/* Runs the steps; word(t) gives tensor t's words. Returns the hash of everything read. */
static uint32_t interpret(const RStep *st, size_t n, const uint64_t *elems, uint32_t *(*word)(void *, int), void *ctx)
{
    uint32_t all = 0;
    for (size_t i = 0, rep_i = 0, rep_left = 0; i < n; i++) {
        const RStep *s = &st[i];
        if (s->kind == 2) {
            rep_i = i, rep_left = 1; /* the body runs twice */
            continue;
        }
        if (s->kind == 3) {
            if (rep_left) {
                rep_left = 0;
                i = rep_i;
            }
            continue;
        }
        uint32_t h = (uint32_t)i;
        if (s->kind == 1) {
            memcpy(word(ctx, s->dst), word(ctx, s->src), elems[s->src] * 4);
            h = step_hash((uint32_t)i, h, word(ctx, s->src), elems[s->src]);
        } else {
            for (int t = 0; t < RT; t++)
                if (s->access[t] & ACCESS_READ)
                    h = step_hash((uint32_t)i, h, word(ctx, t), elems[t]);
            for (int t = 0; t < RT; t++)
                if (s->access[t] & ACCESS_WRITE)
                    for (uint64_t k = 0; k < elems[t]; k++)
                        word(ctx, t)[k] = h + (uint32_t)k;
        }
        all = all * 31 + h;
    }
    return all;
}

typedef struct Sep {
    uint32_t *buf[RT];
} Sep;
static uint32_t *sep_word(void *ctx, int t) { return ((Sep *)ctx)->buf[t]; }

typedef struct Shared {
    const Graph *g;
    uint8_t *mem[RTILES];
} Shared;
static uint32_t *shared_word(void *ctx, int t)
{
    Shared *s = ctx;
    const Tensor *x = graph_tensor(s->g, t);
    return (uint32_t *)(s->mem[x->map[0].tile] + x->sram_offset[0]);
}

/* RSTEPS random steps over the RT tensors into st (Copies between tensors
 * of one size, else compute sets using up to three tensors), with one
 * Repeat(2) around 5 of them (kind 2 opens it, kind 3 closes it); the count. */
static size_t random_steps(Graph *g, const uint64_t *elems, uint64_t *seed, RStep *st)
{
    IpuErr e;
    size_t n = 0;
    int rep_at = (int)(rng_next(seed) % (RSTEPS - 5));
    for (int i = 0; i < RSTEPS; i++) {
        if (i == rep_at)
            st[n++] = (RStep){.kind = 2};
        RStep s = {0};
        int src = (int)(rng_next(seed) % RT), dst = (int)(rng_next(seed) % RT);
        if (rng_next(seed) % 3 == 0 && src != dst && elems[src] == elems[dst]) {
            s.kind = 1, s.src = src, s.dst = dst;
        } else {
            char label[32];
            snprintf(label, sizeof label, "cs%d", i);
            s.cs = graph_add_compute_set(g, label, &e);
            for (int k = 0; k < 3; k++)
                s.access[rng_next(seed) % RT] |= 1 + rng_next(seed) % 3;
            for (int t = 0; t < RT; t++)
                if (s.access[t])
                    assert_int_equal(graph_cs_use(g, s.cs, t, (TensorAccess)s.access[t], &e), 0);
        }
        st[n++] = s;
        if (i == rep_at + 4)
            st[n++] = (RStep){.kind = 3};
    }
    return n;
}

/* The program of st[0..n): its root sequence. */
static int steps_program(Program *p, const RStep *st, size_t n, const uint64_t *elems)
{
    IpuErr e;
    int root = program_sequence(p, "root", &e), seq = root;
    for (size_t i = 0; i < n; i++) {
        char label[32];
        snprintf(label, sizeof label, "s%zu", i);
        if (st[i].kind == 2) {
            seq = program_sequence(p, "body", &e);
            program_append(p, root, program_repeat(p, 2, seq, "rep", -1, &e), &e);
            continue;
        }
        if (st[i].kind == 3) {
            seq = root;
            continue;
        }
        int id = st[i].kind == 1 ? program_copy(p, label, -1, &e) : program_execute(p, st[i].cs, label, -1, &e);
        if (st[i].kind == 1)
            program_copy_add(p, id, st[i].src, 0, st[i].dst, 0, elems[st[i].src], &e);
        program_append(p, seq, id, &e);
    }
    return root;
}

/* The steps run with each tensor in its own buffer and with the tensors
 * where the layout put them in shared tile memory read the same values. */
static void check_same_values(const Graph *g, const RStep *st, size_t n, const uint64_t *elems)
{
    Sep sep;
    Shared sh = {g, {0}};
    for (int t = 0; t < RT; t++)
        sep.buf[t] = calloc(elems[t], 4);
    for (int t = 0; t < RTILES; t++)
        sh.mem[t] = calloc(g->arch.sram_bytes_per_tile, 1);
    assert_int_equal(interpret(st, n, elems, sep_word, &sep), interpret(st, n, elems, shared_word, &sh));
    for (int t = 0; t < RT; t++)
        free(sep.buf[t]);
    for (int t = 0; t < RTILES; t++)
        free(sh.mem[t]);
}

static void test_random_programs_never_share_live_bytes(void **state)
{
    (void)state;
    static const uint64_t sizes[4] = {64, 200, 1000, 1500};
    uint64_t seed = 12345;
    int laid = 0;
    for (int trial = 0; trial < 80; trial++) {
        IpuArch a;
        IpuErr e;
        assert_int_equal(arch_preset("gc200", &a, &e), 0);
        a.sram_bytes_per_tile = 1 << 15;
        Graph *g = graph_create(&a, GRAPH_TIMING, &e);
        Program *p = program_create();
        uint64_t elems[RT];
        for (int t = 0; t < RT; t++) {
            char nm[16];
            snprintf(nm, sizeof nm, "t%d", t);
            elems[t] = sizes[rng_next(&seed) % 4];
            on_tile(g, nm, elems[t], rng_next(&seed) % RTILES);
        }
        RStep st[RSTEPS + 2];
        size_t n = random_steps(g, elems, &seed, st);
        int root = steps_program(p, st, n, elems);
        if (layout_graph(g, p, &root, 1, 0, &e)) {
            assert_non_null(strstr(e.msg, "out of tile memory")); /* a random program may not fit */
        } else {
            laid++;
            check_same_values(g, st, n, elems);
        }
        graph_destroy(g);
        program_destroy(p);
    }
    assert_true(laid > 40); /* most fit: the check ran */
}

/* The write rule broken on purpose: x is written whole and read, then only
 * its first half is written again (a pure write: a new value) and the whole
 * of it read. The second half's bytes died at the first read; with
 * poisoning the last read sees NaN, without it the old values. A program
 * that keeps the rule gives the same results either way. */
static void run_broken(int poison, int broken, float *out0, float *out_last)
{
    Graph *g = make("gc200", GRAPH_FUNCTIONAL);
    Program *p = program_create();
    IpuErr e;
    TileInterval m = {0, 8, 0};
    int x = graph_add_tensor(g, "x", DTYPE_FP32, 8, SRAM_ACTIVATIONS, &m, 1, &e);
    int y = on_tile(g, "y", 8, 0), z = on_tile(g, "z", 8, 0);
    graph_tensor_set_always_live(g, z, 1); /* the host reads it after the run */
    int root = program_sequence(p, "root", &e);
    program_append(p, root, mix_step(g, p, "make_x", -1, -1, x, ACCESS_WRITE), &e);
    program_append(p, root, mix_step(g, p, "read_x", x, -1, y, ACCESS_WRITE), &e);
    /* rewrite x: half of it (broken) or all of it */
    int cs = graph_add_compute_set(g, "rewrite_x", &e);
    MixArgs mx = {NULL, NULL, graph_tensor_data(g, x), broken ? 4 : 8};
    graph_add_vertex(g, cs, 0, &mix_vt, &mx, &e);
    graph_cs_use(g, cs, x, ACCESS_WRITE, &e);
    program_append(p, root, program_execute(p, cs, "rewrite_x", -1, &e), &e);
    program_append(p, root, mix_step(g, p, "read_x_again", x, y, z, ACCESS_WRITE), &e);
    assert_int_equal(layout_graph(g, p, &root, 1, 0, &e), 0);
    Engine *en = engine_create(g, &e);
    engine_set_poison(en, poison);
    assert_int_equal(engine_start(en, p, root, &e), 0);
    EngineStepInfo info;
    while (engine_step(en, &info, &e) == 1)
        ;
    const float *zd = graph_tensor_data(g, z);
    *out0 = zd[0], *out_last = zd[7];
    engine_destroy(en);
    graph_destroy(g);
    program_destroy(p);
}

static void test_poison_catches_a_broken_write_rule(void **state)
{
    (void)state;
    float a0, a7;
    run_broken(0, 1, &a0, &a7);
    assert_true(a0 == 4.0f && a7 == 4.0f); /* x = 1, y = 2: z = 1 + 2 + 1 */
    run_broken(1, 1, &a0, &a7);
    assert_true(a0 == 4.0f);
    assert_true(isnan(a7)); /* the dead half, read */
    run_broken(1, 0, &a0, &a7);
    assert_true(a0 == 4.0f && a7 == 4.0f);
}

/* Poisoning needs the layout made for the run's root. */
static void test_poison_needs_the_root(void **state)
{
    (void)state;
    Graph *g = make("gc200", GRAPH_FUNCTIONAL);
    Program *p = program_create();
    IpuErr e;
    int x = on_tile(g, "x", 8, 0), y = on_tile(g, "y", 8, 0);
    int r1 = program_sequence(p, "first", &e), r2 = program_sequence(p, "second", &e);
    program_append(p, r1, mix_step(g, p, "a", -1, -1, x, ACCESS_WRITE), &e);
    program_append(p, r2, mix_step(g, p, "b", -1, -1, y, ACCESS_WRITE), &e);
    assert_int_equal(layout_graph(g, p, &r1, 1, 0, &e), 0);
    Engine *en = engine_create(g, &e);
    engine_set_poison(en, 1);
    assert_int_equal(engine_start(en, p, r2, &e), -1);
    assert_non_null(strstr(e.msg, "'second'"));
    int both[2] = {r1, r2};
    assert_int_equal(layout_graph(g, p, both, 2, 0, &e), 0);
    assert_int_equal(layout_root_pos(g->layout, 1), 1);
    assert_int_equal(engine_start(en, p, r2, &e), 0);
    engine_destroy(en);
    graph_destroy(g);
    program_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disjoint_lives_share_bytes),
        cmocka_unit_test(test_overflow_names_step_and_tile),
        cmocka_unit_test(test_carried_values_are_always_live),
        cmocka_unit_test(test_random_programs_never_share_live_bytes),
        cmocka_unit_test(test_poison_catches_a_broken_write_rule),
        cmocka_unit_test(test_poison_needs_the_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
