/* test_lower_linear.c - a large-M (many rows) linear layer, lowered alone in
 * timing mode: it fits, and its exchange moves no more bytes and takes no
 * more cycles than bounds derived from its plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/matmul.h"
#include "host/gptj_run.h"
#include "host/lower/lower.h"
#include "sim/engine.h"

typedef struct Measured {
    LinearPlan pl;
    uint32_t chunks;
    uint64_t xchg_cycles, xchg_bytes, copy_steps;
} Measured;

/* One chip of `tiles` tiles, fp16 weights (n, k), x (m, k) interleaved, y (m, n) rows. */
static void lower_one(uint32_t tiles, uint32_t m, uint32_t k, uint32_t n, Measured *out)
{
    IpuErr e;
    IpuArch a;
    char v[16];
    snprintf(v, sizeof v, "%u", tiles);
    if (arch_preset("pod4", &a, &e) || arch_set(&a, "tiles_per_chip", v, &e))
        fail_msg("%s", e.msg);
    LowerBuilder b = {0};
    b.g = graph_create(&a, GRAPH_TIMING, &e);
    b.p = program_create();
    assert_non_null(b.g);
    assert_non_null(b.p);
    b.chips = b.vchips = 1, b.tiles = a.tiles_per_chip, b.usable = a.tiles_per_chip - a.io_tiles;
    b.partials = LAYER_F16, b.matmul_vt = &matmul_amp_f16_vertex, b.mem_prop = 0.6;
    for (int i = 0; i < PHASE_COUNT; i++)
        assert_int_equal(program_category(b.p, run_phase_names[i], &e), i);
    LinearWeights w;
    LinearScratch scr = {0};
    int x, y, sa, sb;
    if (lower_plan_linear(&b, "big", LIN_MATMUL, m, k, n, 0, 0, &out->pl, &e) ||
        lower_linear_alloc_weights(&b, "big", &out->pl, SRAM_WEIGHTS, &w, &e) ||
        (x = lower_tensor_interleaved(&b, "x", DTYPE_FP16, 0, m, k, &e)) < 0 ||
        (y = lower_tensor_rows(&b, "y", DTYPE_FP16, 0, m, n, 0, b.usable, SRAM_ACTIVATIONS, &e)) < 0 ||
        lower_linear_build(&b, "big", &out->pl, &w, m, &x, &y, 0, &scr, &sa, &sb, &e))
        fail_msg("%s", e.msg);
    uint32_t rows_g = (m + out->pl.mb - 1) / out->pl.mb; /* rows per row group */
    out->chunks = (rows_g + scr.mc - 1) / scr.mc;
    free(scr.copies);
    int root = program_sequence(b.p, "root", &e);
    assert_true(root >= 0);
    assert_true(lower_append(&b, root, sa, &e) >= 0 && lower_append(&b, root, sb, &e) >= 0);
    program_set_root(b.p, root);
    Engine *en = engine_create(b.g, &e);
    assert_non_null(en);
    if (engine_start(en, b.p, root, &e))
        fail_msg("%s", e.msg);
    EngineStepInfo info;
    int rc;
    out->xchg_cycles = out->xchg_bytes = out->copy_steps = 0;
    while ((rc = engine_step(en, &info, &e)) == 1)
        if (info.kind == STEP_COPY)
            out->xchg_cycles += info.cycles, out->xchg_bytes += info.bytes, out->copy_steps++;
    if (rc < 0)
        fail_msg("%s", e.msg);
    engine_destroy(en);
    program_destroy(b.p);
    graph_destroy(b.g);
}

static void test_large_m_fits_and_exchange_bound(void **s)
{
    (void)s;
    const uint32_t tiles = 128, m = 4096, k = 512, n = 512;
    Measured r;
    lower_one(tiles, m, k, n, &r);
    const LinearPlan *pl = &r.pl;
    assert_true(r.chunks >= 1);
    uint32_t levels = 0; /* the row groups' weight copies: a doubling tree */
    while ((1u << levels) < pl->mb)
        levels++;
    assert_int_equal(r.copy_steps, 3u * r.chunks + levels);
    /* bytes: every grid tile (i, j) receives x[:, block j] (nb copies of x),
     * each N block's kb partials go to its reducers, the sums go to y once,
     * and each row group but the first receives the weights */
    uint64_t bound_bytes = (uint64_t)pl->nb * m * k * 2 + (uint64_t)pl->kb * m * n * 2 + (uint64_t)m * n * 2 +
                           (uint64_t)(pl->mb - 1) * n * k * 2;
    assert_true(r.xchg_bytes > 0);
    assert_true(r.xchg_bytes <= bound_bytes);
    /* cycles: a balanced exchange would spread those bytes over the tiles at
     * 4 B/cycle each; allow 3x that (the output rows of a chunk sit on few
     * tiles) plus a latency per step. Row chunks on a linear layout (the
     * layout before the interleaved one) took ~35x: 7.25M cycles here. */
    double xb = 4.0, usable = tiles;
    double balanced = (double)bound_bytes / usable / xb;
    double bound_cycles = 3.0 * balanced + (double)r.copy_steps * 200.0;
    printf("large M: grid %u x %u x %u row groups, %u chunks, exchange %llu bytes (bound %llu), %llu cycles (balanced %.0f, bound %.0f)\n",
           pl->nb, pl->kb, pl->mb, r.chunks, (unsigned long long)r.xchg_bytes, (unsigned long long)bound_bytes,
           (unsigned long long)r.xchg_cycles, balanced, bound_cycles);
    assert_true((double)r.xchg_cycles <= bound_cycles);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_m_fits_and_exchange_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
