/* test_graph.c - sim/graph: tensor mappings, SRAM allocation at creation,
 * backdoor data access, remote buffer capacity, vertices and tile range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sim/graph.h"

static Graph *make(const char *preset, GraphMode mode)
{
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset(preset, &a, &e), 0);
    Graph *g = graph_create(&a, mode, &e);
    assert_non_null(g);
    return g;
}

static void test_tensor_mapping_and_sram(void **state)
{
    (void)state;
    Graph *g = make("pod4", GRAPH_FUNCTIONAL);
    IpuErr e;
    TileInterval m[] = {{0, 10, 3}, {10, 25, 1472 + 7}};
    /* an always-live tensor (weights) is allocated when added; an activation waits for sim/layout */
    int t = graph_add_tensor(g, "x", DTYPE_FP32, 25, SRAM_WEIGHTS, m, 2, &e);
    assert_true(t >= 0);
    assert_int_equal(sram_used_bytes(g->sram, 3, SRAM_WEIGHTS), 40);
    assert_int_equal(sram_used_bytes(g->sram, 1472 + 7, SRAM_WEIGHTS), 60);
    int act = graph_add_tensor(g, "act", DTYPE_FP32, 25, SRAM_ACTIVATIONS, m, 2, &e);
    assert_true(act >= 0);
    assert_int_equal(graph_tensor(g, act)->placed, TENSOR_UNPLACED);
    assert_int_equal(graph_tensor(g, act)->sram_offset[0], -1);
    assert_int_equal(sram_used_bytes(g->sram, 3, SRAM_ACTIVATIONS), 0);
    graph_tensor_set_always_live(g, act, 1);
    assert_int_equal(graph_tensor_alloc(g, act, &e), 0);
    assert_int_equal(sram_used_bytes(g->sram, 3, SRAM_ACTIVATIONS), 40);
    graph_free_tensor(g, act);
    assert_int_equal(sram_used_bytes(g->sram, 3, SRAM_ACTIVATIONS), 0);
    const Tensor *x = graph_tensor(g, t);
    assert_int_equal(graph_tensor_tile_of(x, 9, NULL), 3);
    assert_int_equal(graph_tensor_tile_of(x, 10, NULL), 1479);
    uint32_t chip;
    assert_int_equal(graph_tensor_chip(g, x, &chip), 0); /* spans chips 0 and 1 */
    float in[3] = {1, 2, 3}, out[3];
    assert_int_equal(graph_tensor_write(g, t, 22, in, 3, &e), 0);
    assert_int_equal(graph_tensor_read(g, t, 22, out, 3, &e), 0);
    assert_memory_equal(in, out, sizeof in);
    assert_int_equal(graph_tensor_write(g, t, 23, in, 3, &e), -1);
    assert_non_null(strstr(e.msg, "'x'"));
    graph_free_tensor(g, t);
    assert_int_equal(sram_tile_used_bytes(g->sram, 3), 0);
    graph_destroy(g);
    graph_destroy(NULL);
}

static void test_mapping_errors(void **state)
{
    (void)state;
    Graph *g = make("gc200", GRAPH_TIMING);
    IpuErr e;
    TileInterval gap[] = {{0, 10, 0}, {11, 20, 1}};
    assert_int_equal(graph_add_tensor(g, "gappy", DTYPE_FP16, 20, SRAM_WEIGHTS, gap, 2, &e), -1);
    assert_non_null(strstr(e.msg, "'gappy'"));
    TileInterval short_map[] = {{0, 10, 0}};
    assert_int_equal(graph_add_tensor(g, "short", DTYPE_FP16, 20, SRAM_WEIGHTS, short_map, 1, &e), -1);
    assert_non_null(strstr(e.msg, "covers 10 of 20"));
    TileInterval bad_tile[] = {{0, 10, 1472}};
    assert_int_equal(graph_add_tensor(g, "far", DTYPE_FP16, 10, SRAM_WEIGHTS, bad_tile, 1, &e), -1);
    assert_non_null(strstr(e.msg, "tile 1472 does not exist"));
    assert_non_null(strstr(e.msg, "'far'"));
    /* one tile holds 638976 bytes: 319489 fp16 do not fit */
    TileInterval big[] = {{0, 319489, 5}};
    assert_int_equal(graph_add_tensor(g, "huge", DTYPE_FP16, 319489, SRAM_WEIGHTS, big, 1, &e), -1);
    assert_non_null(strstr(e.msg, "chip 0 tile 5"));
    assert_non_null(strstr(e.msg, "'huge'"));
    assert_non_null(strstr(e.msg, "needs 638978 bytes"));
    assert_non_null(strstr(e.msg, "638976 bytes free"));
    /* a tensor failing on its second interval leaves the first tile empty */
    TileInterval half[] = {{0, 100, 6}, {100, 319589, 7}};
    assert_int_equal(graph_add_tensor(g, "half", DTYPE_FP16, 319589, SRAM_WEIGHTS, half, 2, &e), -1);
    assert_int_equal(sram_tile_used_bytes(g->sram, 6), 0);
    assert_null(graph_tensor_data(g, 0));
    graph_destroy(g);
}

/* Intervals of one tensor on one tile are one SRAM block: each starts
 * 8-aligned inside it, the used bytes are as if packed one after another,
 * another tensor fits after it, and freeing the tensor frees the block. */
static void test_intervals_on_one_tile_share_a_block(void **state)
{
    (void)state;
    Graph *g = make("gc200", GRAPH_TIMING);
    IpuErr e;
    /* fp16 grains of 3 (6 bytes) alternating between tiles 2 and 4 */
    TileInterval m[8];
    for (uint32_t i = 0; i < 8; i++)
        m[i] = (TileInterval){3u * i, 3u * (i + 1), i % 2 ? 4u : 2u};
    int t = graph_add_tensor(g, "grains", DTYPE_FP16, 24, SRAM_WEIGHTS, m, 8, &e);
    assert_true(t >= 0);
    const Tensor *x = graph_tensor(g, t);
    /* tile 2 holds grains 0, 2, 4, 6 at 0, 8, 16, 24 of one block: 30 bytes */
    assert_int_equal(sram_tile_used_bytes(g->sram, 2), 30);
    assert_int_equal(sram_tile_used_bytes(g->sram, 4), 30);
    for (int i = 2; i < 8; i += 2)
        assert_int_equal(x->sram_offset[i] - x->sram_offset[i - 2], 8);
    /* the rest of the tile still fits one allocation */
    TileInterval rest[] = {{0, (638976 - 32) / 2, 2}};
    int r = graph_add_tensor(g, "rest", DTYPE_FP16, (638976 - 32) / 2, SRAM_WEIGHTS, rest, 1, &e);
    assert_true(r >= 0);
    graph_free_tensor(g, r);
    graph_free_tensor(g, t);
    assert_int_equal(sram_tile_used_bytes(g->sram, 2), 0);
    assert_int_equal(sram_tile_used_bytes(g->sram, 4), 0);
    /* a tile's grains that do not fit name the tile and the block's bytes; nothing stays allocated */
    TileInterval big[] = {{0, 200000, 9}, {200000, 200010, 8}, {200010, 400000, 9}};
    assert_int_equal(graph_add_tensor(g, "big", DTYPE_FP16, 400000, SRAM_WEIGHTS, big, 3, &e), -1);
    assert_non_null(strstr(e.msg, "tile 9"));
    assert_non_null(strstr(e.msg, "needs 799980 bytes"));
    assert_int_equal(sram_tile_used_bytes(g->sram, 8), 0);
    assert_int_equal(sram_tile_used_bytes(g->sram, 9), 0);
    graph_destroy(g);
}

static void test_linear_mapping(void **state)
{
    (void)state;
    Graph *g = make("gc200", GRAPH_TIMING);
    IpuErr e;
    int t = graph_add_tensor_linear(g, "lin", DTYPE_U16, 100, SRAM_WEIGHTS, 10, 3, 4, &e);
    assert_true(t >= 0);
    const Tensor *x = graph_tensor(g, t);
    /* 25 grains of 4 over 3 tiles: 8, 8, 9 grains */
    assert_int_equal(x->nmap, 3);
    assert_int_equal(x->map[0].end, 32);
    assert_int_equal(x->map[1].end, 64);
    assert_int_equal(x->map[2].end, 100);
    assert_int_equal(x->map[2].tile, 12);
    graph_destroy(g);
}

static void test_remote_capacity(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    arch_preset("pod16", &a, &e);
    a.stream_capacity_bytes = 1000;
    Graph *g = graph_create(&a, GRAPH_TIMING, &e);
    assert_true(graph_add_remote(g, "r0", 0, 600, &e) >= 0);
    assert_true(graph_add_remote(g, "r4", 4, 600, &e) >= 0); /* other machine */
    assert_int_equal(graph_add_remote(g, "r3", 3, 500, &e), -1);
    assert_non_null(strstr(e.msg, "'r3'"));
    assert_non_null(strstr(e.msg, "machine 0"));
    assert_int_equal(graph_add_remote(g, "r16", 16, 1, &e), -1);
    assert_non_null(strstr(e.msg, "chip 16 does not exist"));
    graph_destroy(g);
}

static void nop_run(Worker *w, const void *args) { (void)args; w->cycles += 1; }
static const VertexType nop = {"nop", sizeof(int), nop_run, NULL, NULL, NULL};

static void test_vertex_tile_range(void **state)
{
    (void)state;
    Graph *g = make("pod4", GRAPH_FUNCTIONAL);
    IpuErr e;
    int cs = graph_add_compute_set(g, "cs0", &e);
    int arg = 7;
    assert_int_equal(graph_add_vertex(g, cs, 4 * 1472 - 1, &nop, &arg, &e), 0);
    assert_int_equal(graph_add_vertex(g, cs, 4 * 1472, &nop, &arg, &e), -1);
    assert_non_null(strstr(e.msg, "tile 5888 which does not exist"));
    assert_non_null(strstr(e.msg, "'cs0'"));
    arg = 9; /* args were copied */
    assert_int_equal(*(int *)graph_compute_set(g, cs)->v[0].args, 7);
    graph_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_mapping_and_sram),
        cmocka_unit_test(test_mapping_errors),
        cmocka_unit_test(test_intervals_on_one_tile_share_a_block),
        cmocka_unit_test(test_linear_mapping),
        cmocka_unit_test(test_remote_capacity),
        cmocka_unit_test(test_vertex_tile_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
