/* test_engine_fast.c - the engine's functional fast paths on a small
 * int4 linear of three tiles: weights streamed from a remote buffer,
 * decompressed into a scratch, a Copy of the activations, the AMP matmul.
 *   - every combination of the fast paths (tile by tile, dead writes
 *     skipped, zero-copy streaming) gives the timed path's bits, with
 *     poisoning too, at 1 and 2 threads, and the counters say which ran;
 *   - the layout keeps a stream in place only where its tensors are only
 *     read until written again (a use that reads and writes one is not);
 *   - a step that reads a skipped write through an undeclared pointer is
 *     an error under poisoning (and silently stale without it: the check
 *     is what catches it);
 *   - a stream left in place is copied home for a Copy that writes it, for
 *     a stream back into its remote buffer, and at the end of the run;
 *   - an engine started again on the same program keeps the costs of the
 *     steps that did not change and validates a patched one afresh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/add.h"
#include "codelets/decompress.h"
#include "codelets/matmul.h"
#include "codelets/q4mm.h"
#include "sim/engine.h"
#include "sim/layout.h"

enum { TILES = 3, ROWS = 20, K = 128, G = 32, GPT = ROWS * K / G /* groups per tile */ };

typedef struct Net {
    Graph *g;
    Program *p;
    int w, s, b, d, x0, x, y, z, wc, remote;
    int stream_pos;       /* the StreamCopy's layout position */
} Net;

enum { WORDS = TILES * GPT * G / 4, GROUPS = TILES * GPT };

/* The graph and its tensors; the remote buffer holds the packed words,
 * scales and biases one after another, x0 the activations. */
static void build_tensors(Net *n)
{
    IpuErr e = {{0}};
    IpuArch a;
    assert_int_equal(arch_preset("gc200", &a, &e), 0);
    assert_non_null(n->g = graph_create(&a, GRAPH_FUNCTIONAL, &e));
    Graph *g = n->g;
    n->w = graph_add_tensor_linear(g, "w", DTYPE_U16, WORDS, SRAM_WEIGHTS, 0, TILES, GPT * G / 4, &e);
    n->s = graph_add_tensor_linear(g, "s", DTYPE_FP16, GROUPS, SRAM_WEIGHTS, 0, TILES, GPT, &e);
    n->b = graph_add_tensor_linear(g, "b", DTYPE_FP16, GROUPS, SRAM_WEIGHTS, 0, TILES, GPT, &e);
    TileInterval map[TILES];
    for (uint32_t t = 0; t < TILES; t++)
        map[t] = (TileInterval){(uint64_t)t * ROWS * K, (uint64_t)(t + 1) * ROWS * K, t};
    n->d = graph_add_tensor_life(g, "d", DTYPE_FP16, (uint64_t)TILES * ROWS * K, SRAM_ACTIVATIONS, 0, map, TILES, &e);
    n->x0 = graph_add_tensor_linear(g, "x0", DTYPE_FP16, TILES * K, SRAM_WEIGHTS, 0, TILES, K, &e);
    n->x = graph_add_tensor_linear(g, "x", DTYPE_FP16, TILES * K, SRAM_ACTIVATIONS, 0, TILES, K, &e);
    n->y = graph_add_tensor_linear(g, "y", DTYPE_FP16, TILES * ROWS, SRAM_WEIGHTS, 0, TILES, ROWS, &e);
    n->z = graph_add_tensor_linear(g, "z", DTYPE_FP16, TILES * 8, SRAM_WEIGHTS, 0, TILES, 8, &e);
    n->wc = graph_add_tensor_linear(g, "wc", DTYPE_U16, TILES * 8, SRAM_WEIGHTS, 0, TILES, 8, &e);
    n->remote = graph_add_remote(g, "weights", 0, (WORDS + 2 * GROUPS) * 2 + 4096, &e);
    assert_true(n->w >= 0 && n->s >= 0 && n->b >= 0 && n->d >= 0 && n->x0 >= 0 && n->x >= 0 && n->y >= 0 &&
                n->z >= 0 && n->wc >= 0 && n->remote >= 0);
    uint16_t *r = graph_remote_data(g, n->remote), *x0 = graph_tensor_data(g, n->x0);
    uint64_t st = 99;
    for (uint64_t i = 0; i < WORDS; i++)
        r[i] = (uint16_t)((st = st * 6364136223846793005ull + 1442695040888963407ull) >> 48);
    for (uint64_t i = 0; i < GROUPS; i++) {
        r[WORDS + i] = fp16_from_f32(0.01f + 0.001f * (float)(i % 7));
        r[WORDS + GROUPS + i] = fp16_from_f32(-0.05f + 0.01f * (float)(i % 5));
    }
    for (uint64_t i = 0; i < TILES * K; i++)
        x0[i] = fp16_from_f32(0.25f * (float)((int)(i % 9) - 4));
}

/* The compute sets: per tile, decompress w, s, b into d (twopass), then
 * y = x . d^T on the AMP; both declare what they read and write. */
static void build_compute_sets(Net *n, int *dec, int *mm)
{
    IpuErr e = {{0}};
    Graph *g = n->g;
    uint16_t *w = graph_tensor_data(g, n->w), *s = graph_tensor_data(g, n->s), *b = graph_tensor_data(g, n->b);
    uint16_t *d = graph_tensor_data(g, n->d), *x = graph_tensor_data(g, n->x), *y = graph_tensor_data(g, n->y);
    *dec = graph_add_compute_set(g, "dec", &e), *mm = graph_add_compute_set(g, "mm", &e);
    for (uint32_t t = 0; t < TILES; t++) {
        DecompressQ4Args all = {w + (size_t)t * GPT * G / 4, s + t * GPT, b + t * GPT, d + (size_t)t * ROWS * K, GPT, G};
        DecompressQ4Args parts[6];
        uint32_t nd = decompress_q4_split(&all, 6, parts);
        for (uint32_t q = 0; q < nd; q++)
            assert_int_equal(graph_add_vertex(g, *dec, t, &decompress_q4_twopass_vertex, &parts[q], &e), 0);
        MatmulArgs whole = {.a = x + t * K, .w = d + (size_t)t * ROWS * K, .out = y + t * ROWS, .m = 1, .k = K,
                            .n = ROWS, .amp_macs_per_cycle = 64};
        MatmulArgs mp[6];
        uint32_t nm = matmul_split(&whole, LAYER_F16, 6, mp);
        for (uint32_t q = 0; q < nm; q++)
            assert_int_equal(graph_add_vertex(g, *mm, t, &matmul_amp_f16_vertex, &mp[q], &e), 0);
    }
    int uses[] = {graph_cs_use(g, *dec, n->w, ACCESS_READ, &e), graph_cs_use(g, *dec, n->s, ACCESS_READ, &e),
                  graph_cs_use(g, *dec, n->b, ACCESS_READ, &e), graph_cs_use(g, *dec, n->d, ACCESS_WRITE, &e),
                  graph_cs_use(g, *mm, n->d, ACCESS_READ, &e), graph_cs_use(g, *mm, n->x, ACCESS_READ, &e),
                  graph_cs_use(g, *mm, n->y, ACCESS_WRITE, &e)};
    for (size_t i = 0; i < sizeof uses / sizeof uses[0]; i++)
        assert_int_equal(uses[i], 0);
}

/* extra = 1: an Execute that reads d through its args and declares only z. */
static void add_peek(Net *n, int seq)
{
    IpuErr e = {{0}};
    Graph *g = n->g;
    uint16_t *d = graph_tensor_data(g, n->d);
    int cs = graph_add_compute_set(g, "peek", &e);
    for (uint32_t t = 0; t < TILES; t++) {
        AddArgs ad;
        memset(&ad, 0, sizeof ad);
        ad.a = d + (size_t)t * ROWS * K, ad.b = ad.a, ad.out = (uint16_t *)graph_tensor_data(g, n->z) + t * 8;
        ad.rows = 1, ad.cols = 8, ad.op = ADD_OP_ADD;
        assert_int_equal(graph_add_vertex(g, cs, t, &add_vertex, &ad, &e), 0);
    }
    assert_int_equal(graph_cs_use(g, cs, n->z, ACCESS_WRITE, &e), 0);
    assert_true(program_append(n->p, seq, program_execute(n->p, cs, "peek", -1, &e), &e) >= 0);
}

/* extra = 2: a Copy reading w, then one writing it; x0 streamed into the remote buffer's tail. */
static void add_rewrites(Net *n, int seq)
{
    IpuErr e = {{0}};
    Program *p = n->p;
    int c1 = program_copy(p, "w to wc", -1, &e), c2 = program_copy(p, "wc to w", -1, &e);
    int out = program_stream(p, STREAM_FROM_TILES, 0, "out", -1, &e);
    assert_true(program_copy_add(p, c1, n->w, 0, n->wc, 0, 8, &e) >= 0);
    assert_true(program_copy_add(p, c2, n->wc, 8, n->w, 0, 8, &e) >= 0);
    assert_true(program_stream_add(p, out, n->remote, (WORDS + 2 * GROUPS) * 2, n->x0, 0, 8, &e) >= 0);
    assert_true(program_append(p, seq, c1, &e) >= 0 && program_append(p, seq, c2, &e) >= 0);
    assert_true(program_append(p, seq, out, &e) >= 0);
}

/* The net: stream w, s, b in; decompress; sync; copy x0 to x; the matmul.
 * Options: extra = 1 adds an Execute that reads the scratch without
 * declaring it; extra = 2 a Copy of the weights, a write of the weights
 * and a stream from tiles into their remote buffer. */
static void build(Net *n, int extra)
{
    IpuErr e = {{0}};
    build_tensors(n);
    int dec, mm;
    build_compute_sets(n, &dec, &mm);
    Program *p = n->p = program_create();
    int seq = program_sequence(p, "net", &e), sin = program_stream(p, STREAM_TO_TILES, 0, "in", -1, &e);
    assert_true(program_stream_add(p, sin, n->remote, 0, n->w, 0, WORDS, &e) >= 0);
    assert_true(program_stream_add(p, sin, n->remote, WORDS * 2, n->s, 0, GROUPS, &e) >= 0);
    assert_true(program_stream_add(p, sin, n->remote, (WORDS + GROUPS) * 2, n->b, 0, GROUPS, &e) >= 0);
    int cp = program_copy(p, "x", -1, &e);
    for (uint32_t t = 0; t < TILES; t++)
        assert_true(program_copy_add(p, cp, n->x0, t * K, n->x, t * K, K, &e) >= 0);
    int steps[] = {sin, program_execute(p, dec, "dec", -1, &e), program_sync(p, SYNC_CHIP, "sync", -1, &e), cp,
                   program_execute(p, mm, "mm", -1, &e)};
    for (size_t i = 0; i < 5; i++)
        assert_true(program_append(p, seq, steps[i], &e) >= 0);
    if (extra == 1)
        add_peek(n, seq);
    if (extra == 2)
        add_rewrites(n, seq);
    program_set_root(p, seq);
    n->stream_pos = 0;
}

static void destroy(Net *n)
{
    program_destroy(n->p);
    graph_destroy(n->g);
}

typedef struct Result {
    uint16_t y[TILES * ROWS], z[TILES * 8], wc[TILES * 8], w[8];
    Stats stats;
} Result;

/* One run: native or timed, the fast paths allowed, poisoning. */
static int run(Net *n, int native, unsigned fast, int poison, Result *r, IpuErr *e)
{
    Engine *en = engine_create(n->g, e);
    assert_non_null(en);
    engine_set_native(en, native);
    engine_set_fast(en, fast);
    engine_set_poison(en, poison);
    engine_set_fusions(en, q4mm_fusions, q4mm_fusion_count);
    memset(graph_tensor_data(n->g, n->y), 0, sizeof r->y);
    int rc = engine_run(en, n->p, e);
    if (!rc) {
        memcpy(r->y, graph_tensor_data(n->g, n->y), sizeof r->y);
        memcpy(r->z, graph_tensor_data(n->g, n->z), sizeof r->z);
        memcpy(r->wc, graph_tensor_data(n->g, n->wc), sizeof r->wc);
        memcpy(r->w, graph_tensor_data(n->g, n->w), sizeof r->w);
        r->stats = *engine_stats(en);
    }
    engine_destroy(en);
    return rc;
}

static void test_every_fast_path_equals_timed(void **state)
{
    (void)state;
    Net n;
    build(&n, 0);
    IpuErr e = {{0}};
    Result ref, got;
    assert_int_equal(run(&n, 0, ENGINE_FAST_ALL, 0, &ref, &e), 0);
    assert_int_equal(ref.stats.executes_skipped + ref.stats.bytes_stream_in_place, 0);
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        for (unsigned fast = 0; fast <= ENGINE_FAST_ALL; fast++)
            for (int poison = 0; poison < 2; poison++) {
                if (run(&n, 1, fast, poison, &got, &e))
                    fail_msg("fast %u poison %d: %s", fast, poison, e.msg);
                if (memcmp(got.y, ref.y, sizeof ref.y))
                    fail_msg("fast %u poison %d threads %d: outputs differ from the timed path", fast, poison, threads);
                assert_int_equal(got.stats.cycles_total, ref.stats.cycles_total);
                /* what ran: the skip (poisoning keeps it: the inputs live until the matmul) and the stream in place */
                assert_int_equal(got.stats.executes_skipped, (fast & ENGINE_FAST_DEAD) ? 1 : 0);
                assert_int_equal(got.stats.vertices_skipped, (fast & ENGINE_FAST_DEAD) ? TILES * 6 : 0);
                assert_true(((fast & ENGINE_FAST_ZERO_COPY) != 0) == (got.stats.bytes_stream_in_place > 0));
                assert_int_equal(got.stats.executes_fused,
                                 (fast & ENGINE_FAST_TILES) && !(fast & ENGINE_FAST_DEAD) && !poison ? 1 : 0);
            }
    }
    omp_set_num_threads(2);
    /* the layout kept the stream in place: only read until the end of the run */
    assert_true(layout_stream_in_place(n.g->layout, 0));
    destroy(&n);
}

static void test_undeclared_read_of_a_skipped_write(void **state)
{
    (void)state;
    Net n;
    build(&n, 1);
    IpuErr e = {{0}};
    Result got;
    assert_int_equal(run(&n, 1, ENGINE_FAST_ALL, 1, &got, &e), -1);
    assert_non_null(strstr(e.msg, "step 'peek' reads tensor 'd'"));
    assert_non_null(strstr(e.msg, "'dec'"));
    /* without poisoning the run goes through: its results are what the check is for */
    assert_int_equal(run(&n, 1, ENGINE_FAST_ALL, 0, &got, &e), 0);
    assert_int_equal(got.stats.executes_skipped, 1);
    destroy(&n);
}

static void test_in_place_stream_copied_home(void **state)
{
    (void)state;
    Net n;
    build(&n, 2);
    IpuErr e = {{0}};
    Result ref, got;
    /* a Copy writes part of w after the stream (a pure write: in place until
     * then, copied home first), then x0 goes into the remote buffer's tail */
    if (run(&n, 0, ENGINE_FAST_ALL, 0, &ref, &e))
        fail_msg("%s", e.msg);
    assert_true(layout_stream_in_place(n.g->layout, 0));
    assert_int_equal(run(&n, 1, ENGINE_FAST_ALL, 0, &got, &e), 0);
    assert_true(got.stats.bytes_stream_in_place > 0);
    assert_memory_equal(got.y, ref.y, sizeof ref.y);
    assert_memory_equal(got.wc, ref.wc, sizeof ref.wc);
    assert_memory_equal(got.w, ref.w, sizeof ref.w);
    destroy(&n);
    /* without the write: in place; the Copy reads w where it is, the stream
     * back into the remote buffer sends w home first, and the host sees w */
    build(&n, 0);
    int c1 = program_copy(n.p, "w to wc", -1, &e), out = program_stream(n.p, STREAM_FROM_TILES, 0, "out", -1, &e);
    assert_true(program_copy_add(n.p, c1, n.w, 0, n.wc, 0, 8, &e) >= 0);
    assert_true(program_stream_add(n.p, out, n.remote, 0, n.x0, 0, 8, &e) >= 0); /* over w's own bytes */
    assert_true(program_append(n.p, n.p->root, c1, &e) >= 0 && program_append(n.p, n.p->root, out, &e) >= 0);
    uint16_t remote_w[8];
    memcpy(remote_w, graph_remote_data(n.g, n.remote), sizeof remote_w);
    assert_int_equal(run(&n, 0, ENGINE_FAST_ALL, 0, &ref, &e), 0);
    memcpy(graph_remote_data(n.g, n.remote), remote_w, sizeof remote_w); /* the stream back changed it */
    assert_int_equal(run(&n, 1, ENGINE_FAST_ALL, 0, &got, &e), 0);
    assert_true(got.stats.bytes_stream_in_place > 0);
    assert_memory_equal(got.y, ref.y, sizeof ref.y);
    assert_memory_equal(got.wc, ref.wc, sizeof ref.wc);
    assert_memory_equal(got.w, remote_w, sizeof remote_w); /* what was streamed in, not what went back out */
    destroy(&n);
}

static void test_costs_kept_unless_a_step_changed(void **state)
{
    (void)state;
    Net n;
    build(&n, 0);
    IpuErr e = {{0}};
    Engine *en = engine_create(n.g, &e);
    assert_non_null(en);
    assert_int_equal(engine_run(en, n.p, &e), 0);
    uint64_t first = engine_cycles(en);
    engine_reset(en);
    assert_int_equal(engine_run(en, n.p, &e), 0); /* kept: the same cycles */
    assert_int_equal(engine_cycles(en), first);
    /* the activations' Copy patched past the end of x: validated again, refused */
    Step *cp = NULL;
    for (size_t i = 0; i < n.p->nsteps; i++)
        if (n.p->steps[i].kind == STEP_COPY)
            cp = &n.p->steps[i];
    assert_non_null(cp);
    uint64_t was = cp->pairs[0].dst_first;
    cp->pairs[0].dst_first = TILES * K;
    assert_int_equal(engine_run(en, n.p, &e), -1);
    assert_non_null(strstr(e.msg, "step 'x'"));
    cp->pairs[0].dst_first = was;
    engine_reset(en);
    assert_int_equal(engine_run(en, n.p, &e), 0);
    assert_int_equal(engine_cycles(en), first);
    engine_destroy(en);
    destroy(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_fast_path_equals_timed),
        cmocka_unit_test(test_undeclared_read_of_a_skipped_write),
        cmocka_unit_test(test_in_place_stream_copied_home),
        cmocka_unit_test(test_costs_kept_unless_a_step_changed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
