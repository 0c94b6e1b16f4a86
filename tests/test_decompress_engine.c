/* test_decompress_engine.c - the decompress vertices inside the sim engine:
 * functional mode gives decompress_q4_ref's bits, timing mode (measure()
 * on scratch data) gives the same cycles, and those cycles are the engine's
 * formula applied to the per-worker split (what `ipusim codelet bench`
 * reports as "+launch"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/decompress.h"
#include "codelets/decompress_validate.h"
#include "sim/engine.h"

enum { TILES = 3, GROUPS_PER_TILE = 13, N = 64 };

typedef struct Built {
    Graph *g;
    Program *p;
    int packed, scale, bias, out;
} Built;

/* Packed/scale/bias/out of TILES x GROUPS_PER_TILE groups, one tile's
 * groups split over 6 worker vertices, one Execute step. */
static Built build(const IpuArch *arch, GraphMode mode, const VertexType *vt)
{
    IpuErr e = {{0}};
    Built b;
    b.g = graph_create(arch, mode, &e);
    assert_non_null(b.g);
    uint64_t groups = (uint64_t)TILES * GROUPS_PER_TILE;
    b.packed = graph_add_tensor_linear(b.g, "w.packed", DTYPE_U16, groups * N / 4, SRAM_WEIGHTS, 0, TILES, N / 4, &e);
    b.scale = graph_add_tensor_linear(b.g, "w.scale", DTYPE_FP16, groups, SRAM_WEIGHTS, 0, TILES, 1, &e);
    b.bias = graph_add_tensor_linear(b.g, "w.bias", DTYPE_FP16, groups, SRAM_WEIGHTS, 0, TILES, 1, &e);
    b.out = graph_add_tensor_linear(b.g, "w", DTYPE_FP16, groups * N, SRAM_ACTIVATIONS, 0, TILES, N, &e);
    assert_true(b.packed >= 0 && b.scale >= 0 && b.bias >= 0 && b.out >= 0);
    uint16_t *pk = graph_tensor_data(b.g, b.packed), *sc = graph_tensor_data(b.g, b.scale);
    uint16_t *bi = graph_tensor_data(b.g, b.bias), *out = graph_tensor_data(b.g, b.out);
    if (mode == GRAPH_FUNCTIONAL) {
        uint64_t s = 12345;
        for (uint64_t j = 0; j < groups * N / 4; j++)
            pk[j] = (uint16_t)((s = s * 6364136223846793005ull + 1442695040888963407ull) >> 48);
        for (uint64_t k = 0; k < groups; k++) {
            sc[k] = (uint16_t)(0x0800 + 0x2f1 * k);
            bi[k] = (uint16_t)(0x8400 + 0x1a3 * k);
        }
    }
    int cs = graph_add_compute_set(b.g, "decompress", &e);
    for (uint32_t t = 0; t < TILES; t++) {
        uint64_t g0 = (uint64_t)t * GROUPS_PER_TILE;
        DecompressQ4Args all = {pk ? pk + g0 * N / 4 : NULL, sc ? sc + g0 : NULL, bi ? bi + g0 : NULL,
                                out ? out + g0 * N : NULL, GROUPS_PER_TILE, N}, parts[6];
        if (mode == GRAPH_FUNCTIONAL)
            assert_int_equal(decompress_q4_check(&all, 4096, &e), 0);
        uint32_t used = decompress_q4_split(&all, arch->workers_per_tile, parts);
        for (uint32_t k = 0; k < used; k++)
            assert_int_equal(graph_add_vertex(b.g, cs, t, vt, &parts[k], &e), 0);
    }
    b.p = program_create();
    assert_true(program_execute(b.p, cs, "decompress", -1, &e) >= 0);
    return b;
}

static uint64_t run(Built *b)
{
    IpuErr e = {{0}};
    Engine *en = engine_create(b->g, &e);
    assert_non_null(en);
    if (engine_run(en, b->p, &e))
        fail_msg("%s", e.msg);
    uint64_t c = engine_cycles(en);
    engine_destroy(en);
    return c;
}

static void destroy(Built *b)
{
    program_destroy(b->p);
    graph_destroy(b->g);
}

static void test_functional_equals_timing(void **state)
{
    (void)state;
    IpuArch arch;
    IpuErr e = {{0}};
    assert_int_equal(arch_preset("gc200", &arch, &e), 0);
    arch.isa.nibunpack4_enabled = true;
    const CodeletFamily *f = codelet_family_find("decompress", &e);
    assert_non_null(f);
    for (size_t k = 0; k < f->variant_count; k++) {
        const VertexType *vt = f->variants[k].vertex;
        Built fb = build(&arch, GRAPH_FUNCTIONAL, vt), tb = build(&arch, GRAPH_TIMING, vt);
        uint64_t cf = run(&fb), ct = run(&tb);
        assert_int_equal(cf, ct);
        /* the engine's formula: supervisor launch + vertex launch + 6 x the
         * longest worker (13 groups over 6 workers: 3 groups at most) */
        uint64_t want = arch.supervisor_launch_cycles + arch.vertex_launch_cycles +
                        decompress_q4_tile_cycles(vt, &arch.isa, N, GROUPS_PER_TILE, arch.workers_per_tile);
        assert_int_equal(cf, want);
        assert_int_equal(cf, arch.supervisor_launch_cycles + arch.vertex_launch_cycles +
                                 6 * decompress_q4_worker_cycles(vt, &arch.isa, N, 3));
        /* functional results are the reference's bits */
        uint64_t groups = (uint64_t)TILES * GROUPS_PER_TILE;
        uint16_t *want_w = malloc(groups * N * 2);
        assert_non_null(want_w);
        decompress_q4_ref(want_w, graph_tensor_data(fb.g, fb.packed), graph_tensor_data(fb.g, fb.scale),
                          graph_tensor_data(fb.g, fb.bias), (uint32_t)groups, N);
        assert_memory_equal(graph_tensor_data(fb.g, fb.out), want_w, groups * N * 2);
        free(want_w);
        destroy(&fb);
        destroy(&tb);
    }
}

/* A run with the what-if instruction off faults in functional mode with the
 * tile named, and is not silently timed in timing mode. */
static void test_whatif_disabled_in_engine(void **state)
{
    (void)state;
    IpuArch arch;
    IpuErr e = {{0}};
    assert_int_equal(arch_preset("gc200", &arch, &e), 0);
    Built fb = build(&arch, GRAPH_FUNCTIONAL, &decompress_q4_nibunpack_vertex);
    Engine *en = engine_create(fb.g, &e);
    assert_non_null(en);
    assert_int_equal(engine_run(en, fb.p, &e), -1);
    assert_non_null(strstr(e.msg, "nibunpack4"));
    assert_non_null(strstr(e.msg, "tile"));
    engine_destroy(en);
    destroy(&fb);
    assert_int_equal(decompress_q4_worker_cycles(&decompress_q4_nibunpack_vertex, &arch.isa, N, 3), UINT64_MAX);
}

/* Same cycles and bits with 1 or 2 OpenMP threads. */
static void test_thread_count_independent(void **state)
{
    (void)state;
    IpuArch arch;
    IpuErr e = {{0}};
    assert_int_equal(arch_preset("gc200", &arch, &e), 0);
    uint64_t c[2];
    uint16_t first[16];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        Built fb = build(&arch, GRAPH_FUNCTIONAL, &decompress_q4_fused2_vertex);
        c[t] = run(&fb);
        uint16_t *o = graph_tensor_data(fb.g, fb.out);
        if (t == 0)
            memcpy(first, o + (uint64_t)TILES * GROUPS_PER_TILE * N - 16, sizeof first);
        else
            assert_memory_equal(first, o + (uint64_t)TILES * GROUPS_PER_TILE * N - 16, sizeof first);
        destroy(&fb);
    }
    assert_int_equal(c[0], c[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_functional_equals_timing),
        cmocka_unit_test(test_whatif_disabled_in_engine),
        cmocka_unit_test(test_thread_count_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
