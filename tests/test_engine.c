/* test_engine.c - sim/engine: each step kind's cycles against hand-computed
 * values, worker scheduling, overlap, functional results, functional ==
 * timing cycles, determinism across thread counts, faults and the trace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/fp16.h"
#include "sim/engine.h"

/* Test vertex: doubles n fp16 values in place; charges 2 worker cycles per
 * element + extra, independent of the data. */
typedef struct DoubleArgs {
    uint16_t *x;
    uint32_t n, extra;
    int fault; /* 1: report a model fault */
} DoubleArgs;

static void double_run(Worker *w, const void *args)
{
    const DoubleArgs *a = args;
    for (uint32_t i = 0; i < a->n; i++)
        a->x[i] = fp16_add(a->x[i], a->x[i]);
    w->cycles += 2ull * a->n + a->extra;
    if (a->fault) {
        w->faulted = 1;
        snprintf(w->fault, sizeof w->fault, "misaligned ld128 at 0x%x", 0x1234);
    }
}
static uint64_t double_key(const void *args)
{
    const DoubleArgs *a = args;
    return (uint64_t)a->n << 32 | a->extra;
}
static uint64_t double_measure(const IsaCosts *isa, const void *args)
{
    (void)isa;
    const DoubleArgs *a = args;
    return a->fault ? VERTEX_MEASURE_FAULT : 2ull * a->n + a->extra;
}
static const VertexType double_vt = {"test.double", sizeof(DoubleArgs), double_run, double_key, double_measure, NULL};

static IpuArch arch_of(const char *preset)
{
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset(preset, &a, &e), 0);
    return a;
}

static Graph *graph_of(const IpuArch *a, GraphMode mode)
{
    IpuErr e;
    Graph *g = graph_create(a, mode, &e);
    assert_non_null(g);
    return g;
}

static uint64_t run_cycles(Graph *g, Program *p)
{
    IpuErr e;
    Engine *en = engine_create(g, &e);
    assert_non_null(en);
    if (engine_run(en, p, &e))
        fail_msg("%s", e.msg);
    uint64_t c = engine_cycles(en);
    engine_destroy(en);
    return c;
}

/* One compute set of vertices with the given worker cycles (via extra), all on `tile`. */
static uint64_t execute_cycles(const IpuArch *a, GraphMode mode, uint32_t tile, const uint32_t *wc, int n)
{
    Graph *g = graph_of(a, mode);
    Program *p = program_create();
    IpuErr e;
    int cs = graph_add_compute_set(g, "cs", &e);
    for (int i = 0; i < n; i++) {
        DoubleArgs args = {NULL, 0, wc[i], 0};
        assert_int_equal(graph_add_vertex(g, cs, tile, &double_vt, &args, &e), 0);
    }
    program_execute(p, cs, "exec", -1, &e);
    uint64_t c = run_cycles(g, p);
    program_destroy(p);
    graph_destroy(g);
    return c;
}

static void test_worker_scheduling(void **state)
{
    (void)state;
    IpuArch a = arch_of("gc200"); /* supervisor 30, vertex launch 12, 6 workers */
    uint32_t seven[7] = {10, 10, 10, 10, 10, 10, 10};
    /* each vertex 12 + 10 x 6 = 72; 7 on 6 workers take 2 rounds */
    assert_int_equal(execute_cycles(&a, GRAPH_TIMING, 0, seven, 7), 30 + 144);
    assert_int_equal(execute_cycles(&a, GRAPH_FUNCTIONAL, 0, seven, 7), 30 + 144);
    assert_int_equal(execute_cycles(&a, GRAPH_TIMING, 0, seven, 6), 30 + 72);
    /* long first: 72 on worker 0, the 7 short ones (18 each) fill workers 1-5 then 1, 2 */
    uint32_t long_first[8] = {10, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(execute_cycles(&a, GRAPH_TIMING, 3, long_first, 8), 30 + 72);
    /* long last: six short (18) then the long one on worker 0 at 18 */
    uint32_t long_last[7] = {1, 1, 1, 1, 1, 1, 10};
    assert_int_equal(execute_cycles(&a, GRAPH_TIMING, 3, long_last, 7), 30 + 18 + 72);
    assert_int_equal(execute_cycles(&a, GRAPH_FUNCTIONAL, 3, long_last, 7), 30 + 18 + 72);
}

static void test_execute_slowest_chip(void **state)
{
    (void)state;
    IpuArch a = arch_of("pod4");
    Graph *g = graph_of(&a, GRAPH_TIMING);
    Program *p = program_create();
    IpuErr e;
    int cs = graph_add_compute_set(g, "cs", &e);
    DoubleArgs a10 = {NULL, 0, 10, 0}, a20 = {NULL, 0, 20, 0};
    graph_add_vertex(g, cs, 0, &double_vt, &a10, &e);
    graph_add_vertex(g, cs, 2 * 1472 + 5, &double_vt, &a20, &e);
    program_execute(p, cs, "exec", -1, &e);
    Trace *t = trace_create(a.clock_hz, 0);
    Engine *en = engine_create(g, &e);
    engine_set_trace(en, t);
    assert_int_equal(engine_run(en, p, &e), 0);
    assert_int_equal(engine_cycles(en), 30 + 12 + 120);
    assert_int_equal(t->count, 2);
    assert_int_equal(t->ev[0].chip, 0);
    assert_int_equal(t->ev[0].cycles, 30 + 72);
    assert_int_equal(t->ev[1].chip, 2);
    assert_int_equal(engine_stats(en)->vertices_run, 2);
    engine_destroy(en);
    trace_destroy(t);
    program_destroy(p);
    graph_destroy(g);
}

static void test_copy_exchange(void **state)
{
    (void)state;
    IpuArch a = arch_of("gc200"); /* 4 bytes/cycle, latency 60 */
    Graph *g = graph_of(&a, GRAPH_FUNCTIONAL);
    Program *p = program_create();
    IpuErr e;
    TileInterval m0[] = {{0, 100, 0}}, m1[] = {{0, 100, 1}}, m2[] = {{0, 30, 2}, {30, 40, 0}};
    int x = graph_add_tensor(g, "x", DTYPE_FP16, 100, SRAM_ACTIVATIONS, m0, 1, &e);
    int y = graph_add_tensor(g, "y", DTYPE_FP16, 100, SRAM_ACTIVATIONS, m1, 1, &e);
    int z = graph_add_tensor(g, "z", DTYPE_FP16, 40, SRAM_ACTIVATIONS, m2, 2, &e);
    uint16_t v[100];
    for (int i = 0; i < 100; i++)
        v[i] = fp16_from_f32((float)i);
    graph_tensor_write(g, x, 0, v, 100, &e);
    int c1 = program_copy(p, "one", -1, &e);
    program_copy_add(p, c1, x, 0, y, 0, 100, &e); /* 200 bytes: 50 cycles */
    assert_int_equal(run_cycles(g, p), 50 + 60);
    uint16_t out[100];
    graph_tensor_read(g, y, 0, out, 100, &e);
    assert_memory_equal(out, v, sizeof v);

    /* tile 0 also sends 30 elements to tile 2; its last 10 go to itself (free) */
    program_copy_add(p, c1, x, 60, z, 0, 40, &e);
    assert_int_equal(run_cycles(g, p), (200 + 60) / 4 + 60);
    graph_tensor_read(g, z, 0, out, 40, &e);
    assert_memory_equal(out, v + 60, 40 * sizeof *v);

    /* out of range names the tensor */
    int c2 = program_copy(p, "bad", -1, &e);
    program_copy_add(p, c2, x, 90, y, 0, 20, &e);
    Engine *en = engine_create(g, &e);
    assert_int_equal(engine_start(en, p, c2, &e), -1);
    assert_non_null(strstr(e.msg, "'bad'"));
    assert_non_null(strstr(e.msg, "'x'"));
    engine_destroy(en);
    program_destroy(p);
    graph_destroy(g);
}

static void test_copy_across_chips_is_error(void **state)
{
    (void)state;
    IpuArch a = arch_of("pod4");
    Graph *g = graph_of(&a, GRAPH_TIMING);
    Program *p = program_create();
    IpuErr e;
    TileInterval m0[] = {{0, 8, 0}}, m1[] = {{0, 8, 1472}};
    int x = graph_add_tensor(g, "x", DTYPE_FP32, 8, SRAM_ACTIVATIONS, m0, 1, &e);
    int y = graph_add_tensor(g, "y", DTYPE_FP32, 8, SRAM_ACTIVATIONS, m1, 1, &e);
    int c = program_copy(p, "cross", -1, &e);
    program_copy_add(p, c, x, 0, y, 0, 8, &e);
    Engine *en = engine_create(g, &e);
    assert_int_equal(engine_run(en, p, &e), -1);
    assert_non_null(strstr(e.msg, "crosses chips"));
    assert_non_null(strstr(e.msg, "chip 1"));
    engine_destroy(en);
    program_destroy(p);
    graph_destroy(g);
}

/* clock 1 GHz, machine 8 GB/s, chip cap 4 GB/s, latency 1 us = 1000 cycles */
static IpuArch stream_arch(void)
{
    IpuArch a = arch_of("pod4");
    IpuErr e;
    assert_int_equal(arch_set(&a, "clock_hz", "1e9", &e), 0);
    assert_int_equal(arch_set(&a, "stream.bandwidth_bytes_per_s", "8e9", &e), 0);
    assert_int_equal(arch_set(&a, "stream.chip_bandwidth_bytes_per_s", "4e9", &e), 0);
    assert_int_equal(arch_set(&a, "stream.latency_s", "1e-6", &e), 0);
    return a;
}

static uint64_t stream_cycles(const IpuArch *a, int nchips, int overlap, EngineStepInfo *last)
{
    Graph *g = graph_of(a, GRAPH_FUNCTIONAL);
    Program *p = program_create();
    IpuErr e;
    int seq = program_sequence(p, "seq", &e);
    int st = program_stream(p, STREAM_TO_TILES, overlap, "load", program_category(p, "stream", &e), &e);
    for (int c = 0; c < nchips; c++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", c);
        /* 2000 fp16 = 4000 bytes over 10 tiles: 100 cycles of tile exchange each */
        int t = graph_add_tensor_linear(g, name, DTYPE_FP16, 2000, SRAM_WEIGHTS, (uint32_t)c * 1472, 10, 1, &e);
        int r = graph_add_remote(g, name, (uint32_t)c, 4000, &e);
        memset(graph_remote_data(g, r), 0x3c, 4000);
        program_stream_add(p, st, r, 0, t, 0, 2000, &e);
    }
    program_append(p, seq, st, &e);
    int cs = graph_add_compute_set(g, "cs", &e);
    DoubleArgs args = {NULL, 0, 10, 0};
    graph_add_vertex(g, cs, 0, &double_vt, &args, &e);
    program_append(p, seq, program_execute(p, cs, "exec", -1, &e), &e);
    Engine *en = engine_create(g, &e);
    assert_int_equal(engine_start(en, p, seq, &e), 0);
    EngineStepInfo info;
    while (engine_step(en, &info, &e) == 1)
        *last = info;
    uint16_t h;
    graph_tensor_read(g, 0, 1999, &h, 1, &e);
    assert_int_equal(h, 0x3c3c);
    uint64_t cyc = engine_cycles(en) - (30 + 72); /* minus the compute step */
    if (overlap && a->io_tiles) {
        assert_int_equal(engine_stats(en)->stream_hidden_cycles, 102);
        assert_int_equal(engine_stats(en)->category_cycles[0], cyc);
        cyc += 30 + 72; /* the compute step hid under the stream */
    }
    engine_destroy(en);
    program_destroy(p);
    graph_destroy(g);
    return cyc;
}

static void test_stream_bandwidth_sharing_and_overlap(void **state)
{
    (void)state;
    IpuArch a = stream_arch();
    EngineStepInfo last;
    /* one chip: min(4e9, 8e9) -> 4000 B / 4 GB/s = 1000 cycles, + 1000 latency */
    assert_int_equal(stream_cycles(&a, 1, 0, &last), 2000);
    /* two chips share 8 GB/s: still 4 GB/s each */
    assert_int_equal(stream_cycles(&a, 2, 0, &last), 2000);
    /* four chips: 2 GB/s each -> 2000 + 1000 */
    assert_int_equal(stream_cycles(&a, 4, 0, &last), 3000);
    /* overlap requested but no I/O tiles: serial */
    assert_int_equal(stream_cycles(&a, 1, 1, &last), 2000);
    /* with I/O tiles the compute step (102) hides under the stream (2000) */
    a.io_tiles = 64;
    assert_int_equal(stream_cycles(&a, 1, 1, &last), 2000);
    assert_int_equal(last.kind, STEP_EXECUTE);
    assert_int_equal(last.cycles, 2000);
    assert_int_equal(last.hidden_cycles, 102);
    /* slow tile exchange bounds it: 4000 B on 10 tiles at 0.25 B/cycle = 1600 per tile */
    a.io_tiles = 0;
    a.exchange_bytes_per_cycle = 0.25;
    assert_int_equal(stream_cycles(&a, 1, 0, &last), 1600 + 1000);
}

static int make_per_chip(Graph *g, GraphDType dt, uint64_t n, int *ids, int C)
{
    IpuErr e;
    for (int c = 0; c < C; c++) {
        char name[16];
        snprintf(name, sizeof name, "part%d", c);
        ids[c] = graph_add_tensor_linear(g, name, dt, n, SRAM_ACTIVATIONS, (uint32_t)c * g->arch.tiles_per_chip, 4,
                                         1, &e);
        assert_true(ids[c] >= 0);
    }
    return 0;
}

static void test_collectives(void **state)
{
    (void)state;
    IpuArch a = arch_of("pod4");
    IpuErr e;
    arch_set(&a, "clock_hz", "1e9", &e);
    arch_set(&a, "link.bandwidth_bytes_per_s", "1e9", &e);
    arch_set(&a, "link.efficiency", "1", &e);
    arch_set(&a, "link.ring_links", "1", &e);
    arch_set(&a, "link.latency_cycles", "100", &e);
    Graph *g = graph_of(&a, GRAPH_FUNCTIONAL);
    int f32[4], f16[4];
    make_per_chip(g, DTYPE_FP32, 400, f32, 4);
    make_per_chip(g, DTYPE_FP16, 400, f16, 4);
    for (int c = 0; c < 4; c++) {
        float v[400];
        uint16_t h[400];
        for (int i = 0; i < 400; i++) {
            v[i] = (float)(c * 1000 + i);
            h[i] = fp16_from_f32(c == 0 ? 2048.0f : 1.0f);
        }
        graph_tensor_write(g, f32[c], 0, v, 400, &e);
        graph_tensor_write(g, f16[c], 0, h, 400, &e);
    }
    Program *p = program_create();
    /* 1600 B / 4 chips = 400 B per step at 1 B/cycle + 100 latency; 6 steps */
    program_set_root(p, program_collective(p, COLL_ALL_REDUCE, f32, 4, "ar32", -1, &e));
    assert_int_equal(run_cycles(g, p), 6 * 500);
    for (int c = 0; c < 4; c++) {
        float v;
        graph_tensor_read(g, f32[c], 7, &v, 1, &e);
        assert_true(v == 6000.0f + 4 * 7);
    }
    /* fp16 in chip order: 2048 + 1 rounds to 2048 each time (tie to even) */
    program_set_root(p, program_collective(p, COLL_ALL_REDUCE, f16, 4, "ar16", -1, &e));
    assert_int_equal(run_cycles(g, p), 6 * (200 + 100));
    uint16_t h;
    graph_tensor_read(g, f16[3], 399, &h, 1, &e);
    assert_int_equal(h, fp16_from_f32(2048.0f));
    /* all-gather: C-1 = 3 steps; chip 2's segment [200, 300) reaches chip 0 */
    float mark = -5.0f;
    graph_tensor_write(g, f32[2], 250, &mark, 1, &e);
    program_set_root(p, program_collective(p, COLL_ALL_GATHER, f32, 4, "ag", -1, &e));
    assert_int_equal(run_cycles(g, p), 3 * 500);
    float got;
    graph_tensor_read(g, f32[0], 250, &got, 1, &e);
    assert_true(got == -5.0f);
    /* reduce-scatter: chip 1's segment [100, 200) = sum; stays elsewhere */
    program_set_root(p, program_collective(p, COLL_REDUCE_SCATTER, f32, 4, "rs", -1, &e));
    assert_int_equal(run_cycles(g, p), 3 * 500);
    graph_tensor_read(g, f32[1], 150, &got, 1, &e);
    assert_true(got == 4 * (6000.0f + 4 * 150));
    graph_tensor_read(g, f32[1], 50, &got, 1, &e);
    assert_true(got == 6000.0f + 4 * 50);
    /* two tensors on one chip are an error */
    int same[2] = {f32[0], f16[0]};
    program_set_root(p, program_collective(p, COLL_ALL_REDUCE, same, 2, "bad", -1, &e));
    Engine *en = engine_create(g, &e);
    assert_int_equal(engine_run(en, p, &e), -1);
    assert_non_null(strstr(e.msg, "chip 0"));
    engine_destroy(en);
    program_destroy(p);
    graph_destroy(g);
}

static void test_sync_and_repeat(void **state)
{
    (void)state;
    IpuArch a = arch_of("pod4");
    Graph *g = graph_of(&a, GRAPH_TIMING);
    Program *p = program_create();
    IpuErr e;
    int cs = graph_add_compute_set(g, "cs", &e);
    DoubleArgs args = {NULL, 0, 10, 0};
    graph_add_vertex(g, cs, 1, &double_vt, &args, &e);
    int mm = program_category(p, "matmul", &e);
    int body = program_sequence(p, "body", &e);
    program_append(p, body, program_execute(p, cs, "layer.exec", mm, &e), &e);
    program_append(p, body, program_sync(p, SYNC_CHIP, "sync", -1, &e), &e);
    program_append(p, body, program_sync(p, SYNC_SYSTEM, "xsync", -1, &e), &e);
    int rep = program_repeat(p, 5, body, "layers", -1, &e);
    Engine *en = engine_create(g, &e);
    assert_int_equal(engine_start(en, p, rep, &e), 0);
    EngineStepInfo info;
    int n = 0;
    StepKind kinds[3] = {STEP_EXECUTE, STEP_SYNC, STEP_SYNC};
    uint64_t cyc[3] = {102, 90, 130};
    while (engine_step(en, &info, &e) == 1) {
        assert_int_equal(info.kind, kinds[n % 3]);
        assert_int_equal(info.cycles, cyc[n % 3]);
        assert_int_equal(info.start_cycles, (uint64_t)(n / 3) * 322 + (n % 3 > 0) * 102 + (n % 3 > 1) * 90);
        n++;
    }
    assert_int_equal(n, 15);
    const Stats *s = engine_stats(en);
    assert_int_equal(s->cycles_total, 5 * 322);
    assert_int_equal(s->cycles_compute, 5 * 102);
    assert_int_equal(s->cycles_sync, 5 * 220);
    assert_int_equal(s->category_cycles[mm], 5 * 102);
    assert_int_equal(s->supersteps, 15);
    /* a restart runs it again from the root with the same costs */
    assert_int_equal(engine_restart(en, &e), 0);
    while (engine_step(en, &info, &e) == 1)
        ;
    assert_int_equal(engine_cycles(en), 2 * 5 * 322);
    engine_reset(en);
    assert_int_equal(engine_restart(en, &e), 0);
    while (engine_step(en, &info, &e) == 1)
        ;
    assert_int_equal(engine_cycles(en), 5 * 322);
    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    stats_print(f, s, a.clock_hz, (const char *const *)p->categories, p->ncategories);
    fclose(f);
    assert_non_null(strstr(buf, "cycles_total"));
    assert_non_null(strstr(buf, "category matmul"));
    assert_non_null(strstr(buf, "510 cycles"));
    engine_destroy(en);
    program_destroy(p);
    graph_destroy(g);
}

/* A many-tile functional graph: cycles and data must not depend on threads. */
static void run_many(int threads, uint64_t *cycles, uint16_t *out, size_t n_out)
{
    omp_set_num_threads(threads);
    IpuArch a = arch_of("pod4");
    Graph *g = graph_of(&a, GRAPH_FUNCTIONAL);
    Program *p = program_create();
    IpuErr e;
    int x = graph_add_tensor_linear(g, "x", DTYPE_FP16, n_out, SRAM_ACTIVATIONS, 0, 4 * 1472, 4, &e);
    uint16_t *d = graph_tensor_data(g, x);
    for (size_t i = 0; i < n_out; i++)
        d[i] = fp16_from_f32((float)(i % 1000) * 0.37f);
    int cs = graph_add_compute_set(g, "cs", &e);
    const Tensor *t = graph_tensor(g, x);
    for (size_t i = 0; i < t->nmap; i++) {
        /* uneven: a vertex per 4 elements */
        for (uint64_t b = t->map[i].begin; b < t->map[i].end; b += 4) {
            DoubleArgs args = {d + b, (uint32_t)(t->map[i].end - b < 4 ? t->map[i].end - b : 4), (uint32_t)(i % 7),
                               0};
            graph_add_vertex(g, cs, t->map[i].tile, &double_vt, &args, &e);
        }
    }
    int seq = program_sequence(p, "s", &e);
    program_append(p, seq, program_execute(p, cs, "exec", -1, &e), &e);
    program_append(p, seq, program_sync(p, SYNC_SYSTEM, "sync", -1, &e), &e);
    *cycles = run_cycles(g, p);
    memcpy(out, d, n_out * sizeof *out);
    program_destroy(p);
    graph_destroy(g);
}

static void test_determinism_across_threads(void **state)
{
    (void)state;
    enum { N = 4 * 1472 * 9 + 5 };
    uint16_t *o1 = malloc(N * sizeof *o1), *o2 = malloc(N * sizeof *o2);
    uint64_t c1, c2;
    run_many(1, &c1, o1, N);
    run_many(2, &c2, o2, N);
    assert_int_equal(c1, c2);
    assert_memory_equal(o1, o2, N * sizeof *o1);
    assert_int_equal(o1[1], fp16_add(fp16_from_f32(0.37f), fp16_from_f32(0.37f)));
    free(o1);
    free(o2);
}

static void test_functional_equals_timing(void **state)
{
    (void)state;
    IpuArch a = arch_of("pod4");
    uint64_t cyc[2];
    for (int m = 0; m < 2; m++) {
        Graph *g = graph_of(&a, m ? GRAPH_FUNCTIONAL : GRAPH_TIMING);
        Program *p = program_create();
        IpuErr e;
        int x = graph_add_tensor_linear(g, "x", DTYPE_FP16, 4096, SRAM_ACTIVATIONS, 0, 100, 4, &e);
        int y = graph_add_tensor_linear(g, "y", DTYPE_FP16, 4096, SRAM_ACTIVATIONS, 50, 100, 4, &e);
        uint16_t *d = graph_tensor_data(g, x);
        int cs = graph_add_compute_set(g, "cs", &e);
        const Tensor *t = graph_tensor(g, x);
        for (size_t i = 0; i < t->nmap; i++)
            for (int k = 0; k < 9; k++) {
                DoubleArgs args = {d ? d + t->map[i].begin : NULL, (uint32_t)(t->map[i].end - t->map[i].begin),
                                   (uint32_t)k, 0};
                graph_add_vertex(g, cs, t->map[i].tile, &double_vt, &args, &e);
            }
        int seq = program_sequence(p, "s", &e);
        program_append(p, seq, program_execute(p, cs, "exec", -1, &e), &e);
        int c = program_copy(p, "mv", -1, &e);
        program_copy_add(p, c, x, 0, y, 0, 4096, &e);
        program_append(p, seq, c, &e);
        program_append(p, seq, program_sync(p, SYNC_CHIP, "sync", -1, &e), &e);
        int rep = program_repeat(p, 3, seq, "rep", -1, &e);
        (void)rep;
        cyc[m] = run_cycles(g, p);
        program_destroy(p);
        graph_destroy(g);
    }
    assert_int_equal(cyc[0], cyc[1]);
    assert_true(cyc[0] > 3 * 90);
}

/* A compute set "layer0.decompress" whose vertex on chip 1 tile 3 faults
 * (in functional mode with a good vertex on tile 10 beside it) fails the
 * run with an error naming the tile, the vertex type and what. */
static void expect_vertex_fault(GraphMode mode, const char *what)
{
    IpuArch a = arch_of("pod4");
    Graph *g = graph_of(&a, mode);
    Program *p = program_create();
    IpuErr e;
    uint16_t buf[4] = {0};
    int cs = graph_add_compute_set(g, "decomp", &e);
    DoubleArgs ok = {buf, 4, 0, 0}, bad = {mode == GRAPH_FUNCTIONAL ? buf : NULL, 4, 0, 1};
    if (mode == GRAPH_FUNCTIONAL)
        graph_add_vertex(g, cs, 10, &double_vt, &ok, &e);
    graph_add_vertex(g, cs, 1472 + 3, &double_vt, &bad, &e);
    program_execute(p, cs, "layer0.decompress", -1, &e);
    Engine *en = engine_create(g, &e);
    assert_int_equal(engine_run(en, p, &e), -1);
    assert_non_null(strstr(e.msg, "chip 1 tile 3"));
    assert_non_null(strstr(e.msg, what));
    engine_destroy(en);
    program_destroy(p);
    graph_destroy(g);
}

static void test_worker_fault_is_error(void **state)
{
    (void)state;
    expect_vertex_fault(GRAPH_FUNCTIONAL, "misaligned ld128");
    expect_vertex_fault(GRAPH_FUNCTIONAL, "'test.double'");
}

/* In timing mode a shape whose measure() faults is an error naming the tile, not a huge cycle count. */
static void test_measure_fault_is_error(void **state)
{
    (void)state;
    expect_vertex_fault(GRAPH_TIMING, "faults when measured");
}

static void test_trace_file(void **state)
{
    (void)state;
    IpuArch a = arch_of("pod4");
    Graph *g = graph_of(&a, GRAPH_TIMING);
    Program *p = program_create();
    IpuErr e;
    int seq = program_sequence(p, "s", &e);
    program_append(p, seq, program_sync(p, SYNC_SYSTEM, "layer \"0\" sync", program_category(p, "sync", &e), &e),
                   &e);
    Trace *t = trace_create(a.clock_hz, 0);
    Engine *en = engine_create(g, &e);
    engine_set_trace(en, t);
    assert_int_equal(engine_run(en, p, &e), 0);
    char path[] = "/tmp/ipusim_trace_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(trace_write(t, path, &e), 0);
    FILE *f = fopen(path, "rb");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    cJSON *root = cJSON_Parse(buf);
    assert_non_null(root);
    cJSON *ev = cJSON_GetObjectItem(root, "traceEvents");
    int xs = 0;
    for (cJSON *it = ev->child; it; it = it->next)
        if (!strcmp(cJSON_GetObjectItem(it, "ph")->valuestring, "X")) {
            xs++;
            assert_string_equal(cJSON_GetObjectItem(it, "name")->valuestring, "layer \"0\" sync");
            assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(it, "args"), "cycles")->valueint, 130);
        }
    assert_int_equal(xs, 4); /* one per chip */
    cJSON_Delete(root);
    unlink(path);
    assert_int_equal(trace_write(t, "/nonexistent-dir/t.json", &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent-dir/t.json"));
    engine_destroy(en);
    trace_destroy(t);
    program_destroy(p);
    graph_destroy(g);
}

static void test_program_cycle_rejected(void **state)
{
    (void)state;
    IpuArch a = arch_of("gc200");
    Graph *g = graph_of(&a, GRAPH_TIMING);
    Program *p = program_create();
    IpuErr e;
    int s1 = program_sequence(p, "a", &e), s2 = program_sequence(p, "b", &e);
    program_append(p, s1, s2, &e);
    program_append(p, s2, s1, &e);
    Engine *en = engine_create(g, &e);
    assert_int_equal(engine_start(en, p, s1, &e), -1);
    assert_non_null(strstr(e.msg, "deeper"));
    engine_destroy(en);
    program_destroy(p);
    graph_destroy(g);
}


/* Overlap paid by a following non-Execute step and at the end; stream from
 * tiles back to a remote buffer; remote range errors. */
static void test_stream_pending_and_direction(void **state)
{
    (void)state;
    IpuArch a = stream_arch();
    a.io_tiles = 64;
    Graph *g = graph_of(&a, GRAPH_FUNCTIONAL);
    Program *p = program_create();
    IpuErr e;
    int t = graph_add_tensor_linear(g, "w", DTYPE_FP16, 2000, SRAM_WEIGHTS, 0, 10, 1, &e);
    int r = graph_add_remote(g, "w", 0, 4000, &e);
    uint16_t v[2000];
    for (int i = 0; i < 2000; i++)
        v[i] = (uint16_t)i;
    graph_tensor_write(g, t, 0, v, 2000, &e);
    int seq = program_sequence(p, "seq", &e);
    int out = program_stream(p, STREAM_FROM_TILES, 1, "store", -1, &e);
    program_stream_add(p, out, r, 0, t, 0, 2000, &e);
    program_append(p, seq, out, &e);
    program_append(p, seq, program_sync(p, SYNC_CHIP, "sync", -1, &e), &e); /* waits for the stream: 2000 + 90 */
    program_append(p, seq, out, &e);                                         /* pending at the end: + 2000 */
    Engine *en = engine_create(g, &e);
    assert_int_equal(engine_run(en, p, &e), 0);
    assert_int_equal(engine_cycles(en), 2000 + 90 + 2000);
    assert_int_equal(engine_stats(en)->cycles_stream, 4000);
    assert_int_equal(engine_stats(en)->stream_hidden_cycles, 0);
    assert_int_equal(engine_stats(en)->bytes_stream, 8000);
    assert_memory_equal(graph_remote_data(g, r), v, sizeof v);
    const Stats *st = engine_stats(en);
    assert_int_equal(st->cycles_total,
                     st->cycles_compute + st->cycles_exchange + st->cycles_sync + st->cycles_stream +
                         st->cycles_collective);
    /* a transfer past the end of the remote buffer names it */
    int bad = program_stream(p, STREAM_TO_TILES, 0, "bad", -1, &e);
    program_stream_add(p, bad, r, 2, t, 0, 2000, &e);
    assert_int_equal(engine_start(en, p, bad, &e), -1);
    assert_non_null(strstr(e.msg, "remote buffer 'w'"));
    /* a tensor on another chip than the buffer */
    int t1 = graph_add_tensor_linear(g, "w1", DTYPE_FP16, 10, SRAM_WEIGHTS, 1472, 1, 1, &e);
    int wrong = program_stream(p, STREAM_TO_TILES, 0, "wrong", -1, &e);
    program_stream_add(p, wrong, r, 0, t1, 0, 10, &e);
    assert_int_equal(engine_start(en, p, wrong, &e), -1);
    assert_non_null(strstr(e.msg, "chip 1"));
    assert_non_null(strstr(e.msg, "'w1'"));
    engine_destroy(en);
    program_destroy(p);
    graph_destroy(g);
}

/* A failed write leaves neither the target nor a temp file behind. */
static void test_trace_write_is_atomic(void **state)
{
    (void)state;
    char dir[] = "/tmp/ipusim_tdir_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char target[128];
    snprintf(target, sizeof target, "%s/trace.json", dir);
    assert_int_equal(mkdir(target, 0755), 0); /* a directory where the file should go: rename fails */
    Trace *t = trace_create(1e9, 0);
    trace_add(t, 0, 0, "x", "y", 0, 10, 0);
    IpuErr e;
    assert_int_equal(trace_write(t, target, &e), -1);
    assert_non_null(strstr(e.msg, target));
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *de; (de = readdir(d));)
        entries += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1); /* only the directory we made */
    rmdir(target);
    assert_int_equal(trace_write(t, target, &e), 0);
    unlink(target);
    rmdir(dir);
    trace_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_scheduling),
        cmocka_unit_test(test_execute_slowest_chip),
        cmocka_unit_test(test_copy_exchange),
        cmocka_unit_test(test_copy_across_chips_is_error),
        cmocka_unit_test(test_stream_bandwidth_sharing_and_overlap),
        cmocka_unit_test(test_collectives),
        cmocka_unit_test(test_sync_and_repeat),
        cmocka_unit_test(test_determinism_across_threads),
        cmocka_unit_test(test_functional_equals_timing),
        cmocka_unit_test(test_worker_fault_is_error),
        cmocka_unit_test(test_measure_fault_is_error),
        cmocka_unit_test(test_trace_file),
        cmocka_unit_test(test_program_cycle_rejected),
        cmocka_unit_test(test_stream_pending_and_direction),
        cmocka_unit_test(test_trace_write_is_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
