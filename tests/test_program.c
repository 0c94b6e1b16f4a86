/* test_program.c - sim/program: program_copy_add coalescing (rows of a
 * block become one strided pair; the same data and cycles either way),
 * program_copy_add_rows against adding the runs one by one, and contiguous
 * runs merging. The other step kinds' costs: tests/test_engine.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "sim/engine.h"

/* The copies below: x (CR, CW) in grains of 8 over tiles 0..4; y: CKB
 * blocks of (CR, CKBLK) on tiles 10, 11; x holds 0, 1, 2, ... */
enum { CR = 12, CW = 40, CKB = 2, CKBLK = CW / CKB };
typedef struct CopyFixture {
    Graph *g;
    int x, y;
    uint16_t v[CR * CW]; /* x's values */
} CopyFixture;

static int copy_setup(void **state)
{
    CopyFixture *c = calloc(1, sizeof *c);
    IpuArch a;
    IpuErr e;
    if (!c || arch_preset("gc200", &a, &e) || !(c->g = graph_create(&a, GRAPH_FUNCTIONAL, &e)))
        return -1;
    TileInterval mx[CR * CW / 8], my[CKB];
    for (int i = 0; i < CR * CW / 8; i++)
        mx[i] = (TileInterval){8u * i, 8u * (i + 1), (uint32_t)(i % 5)};
    for (int j = 0; j < CKB; j++)
        my[j] = (TileInterval){(uint64_t)j * CR * CKBLK, (uint64_t)(j + 1) * CR * CKBLK, 10u + j};
    c->x = graph_add_tensor(c->g, "x", DTYPE_FP16, CR * CW, SRAM_ACTIVATIONS, mx, CR * CW / 8, &e);
    c->y = graph_add_tensor(c->g, "y", DTYPE_FP16, CR * CW, SRAM_ACTIVATIONS, my, CKB, &e);
    for (int i = 0; i < CR * CW; i++)
        c->v[i] = fp16_from_f32((float)i);
    if (c->x < 0 || c->y < 0 || graph_tensor_write(c->g, c->x, 0, c->v, CR * CW, &e))
        return -1;
    *state = c;
    return 0;
}

static int copy_teardown(void **state)
{
    CopyFixture *c = *state;
    graph_destroy(c->g);
    free(c);
    return 0;
}

/* Adds row r of block j (x's columns j x CKBLK.., y's block j) to Copy c. */
static int add_row(Program *p, int c, int x, int y, int j, int r, IpuErr *e)
{
    return program_copy_add(p, c, x, (uint64_t)r * CW + (uint64_t)j * CKBLK, y,
                            (uint64_t)j * CR * CKBLK + (uint64_t)r * CKBLK, CKBLK, e);
}

/* program_copy_add coalescing: one pair per row of a block, added in order,
 * becomes one strided pair; added in reverse (blocks and rows) it cannot
 * coalesce. Both move the same data and cost the same cycles and bytes. */
static void test_copy_coalesced_equals_uncoalesced(void **state)
{
    CopyFixture *cf = *state;
    Graph *g = cf->g;
    const uint16_t *v = cf->v;
    IpuErr e;
    int x = cf->x, y = cf->y;
    uint16_t fwd[CR * CW], rev[CR * CW];
    uint64_t cyc[2], bytes[2];
    for (int order = 0; order < 2; order++) {
        Program *p = program_create();
        int c = program_copy(p, "blocks", -1, &e);
        for (int jj = 0; jj < CKB; jj++)
            for (int rr = 0; rr < CR; rr++) {
                int r = order ? CR - 1 - rr : rr, j = order ? CKB - 1 - jj : jj;
                assert_int_equal(add_row(p, c, x, y, j, r, &e), 0);
            }
        assert_int_equal(p->steps[c].npairs, order ? CR * CKB : CKB);
        if (!order) {
            assert_int_equal(p->steps[c].pairs[0].rows, CR);
            assert_int_equal(p->steps[c].pairs[0].src_stride, CW);
            assert_int_equal(p->steps[c].pairs[0].dst_stride, CKBLK);
        }
        Engine *en = engine_create(g, &e);
        EngineStepInfo info;
        assert_int_equal(engine_start(en, p, c, &e), 0);
        assert_int_equal(engine_step(en, &info, &e), 1);
        cyc[order] = info.cycles, bytes[order] = info.bytes;
        engine_destroy(en);
        assert_int_equal(graph_tensor_read(g, y, 0, order ? rev : fwd, CR * CW, &e), 0);
        uint16_t zero[CR * CW] = {0};
        assert_int_equal(graph_tensor_write(g, y, 0, zero, CR * CW, &e), 0);
        program_destroy(p);
    }
    assert_int_equal(cyc[0], cyc[1]);
    assert_int_equal(bytes[0], bytes[1]);
    assert_int_equal(bytes[0], CR * CW * 2);
    assert_memory_equal(fwd, rev, sizeof fwd);
    for (int j = 0; j < CKB; j++)
        for (int r = 0; r < CR; r++)
            assert_memory_equal(fwd + j * CR * CKBLK + r * CKBLK, v + r * CW + j * CKBLK, CKBLK * sizeof *v);
}

/* program_copy_add_rows builds the same pairs as adding the runs one by
 * one; rows at stride n are one contiguous run. */
static void test_copy_add_rows_equals_runs(void **state)
{
    CopyFixture *cf = *state;
    IpuErr e;
    int x = cf->x, y = cf->y;
    Program *p = program_create();
    int one = program_copy(p, "one", -1, &e), all = program_copy(p, "all", -1, &e);
    for (int j = 0; j < CKB; j++) {
        for (int r = 0; r < CR; r++)
            assert_int_equal(add_row(p, one, x, y, j, r, &e), 0);
        assert_int_equal(program_copy_add_rows(p, all, x, (uint64_t)j * CKBLK, CW, y, (uint64_t)j * CR * CKBLK, CKBLK,
                                               CKBLK, CR, &e), 0);
    }
    assert_int_equal(program_copy_add_rows(p, one, x, 0, 8, y, 0, 8, 8, 5, &e), 0);
    assert_int_equal(program_copy_add_rows(p, all, x, 0, 8, y, 0, 8, 8, 5, &e), 0);
    assert_int_equal(p->steps[one].npairs, CKB + 1);
    assert_int_equal(p->steps[one].pairs[CKB].n, 40);
    assert_int_equal(p->steps[all].npairs, p->steps[one].npairs);
    assert_memory_equal(p->steps[all].pairs, p->steps[one].pairs, p->steps[one].npairs * sizeof(CopyPair));
    program_destroy(p);
}

/* Contiguous runs grow one pair; a tensor copied into itself is never merged. */
static void test_copy_runs_merge(void **state)
{
    CopyFixture *cf = *state;
    IpuErr e;
    int x = cf->x, y = cf->y;
    Program *p = program_create();
    int c = program_copy(p, "runs", -1, &e);
    assert_int_equal(program_copy_add(p, c, x, 0, y, 0, 8, &e), 0);
    assert_int_equal(program_copy_add(p, c, x, 8, y, 8, 16, &e), 0);
    assert_int_equal(p->steps[c].npairs, 1);
    assert_int_equal(p->steps[c].pairs[0].n, 24);
    assert_int_equal(program_copy_add(p, c, x, 0, x, 100, 8, &e), 0);
    assert_int_equal(program_copy_add(p, c, x, 8, x, 108, 8, &e), 0);
    assert_int_equal(p->steps[c].npairs, 3);
    program_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_coalesced_equals_uncoalesced, copy_setup, copy_teardown),
        cmocka_unit_test_setup_teardown(test_copy_add_rows_equals_runs, copy_setup, copy_teardown),
        cmocka_unit_test_setup_teardown(test_copy_runs_merge, copy_setup, copy_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
