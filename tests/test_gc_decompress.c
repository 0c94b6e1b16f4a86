/* test_gc_decompress.c - Graphcore's unpack vertex and popops' broadcast
 * ops (codelets/gc_decompress.h): unpack bit-exact against its reference
 * with data-independent cycles; unpack, multiply, add together bit-exact
 * against decompress_q4_ref (the same fp16 roundings, so scheme = graphcore
 * must give the ipusim scheme's weights); each estimator against popops'
 * formula worked by hand; popxl's interval split; and the per-tile choice
 * of poplibs' broadcast vertex (gc_bcast_tile_kind). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/decompress.h"
#include "codelets/gc_decompress.h"
#include "sim/isa_cost.h"

static uint32_t lcg(uint32_t *s) { return *s = *s * 1664525u + 1013904223u; }

static void test_unpack_matches_ref_and_cycles_data_independent(void **st)
{
    (void)st;
    IsaCosts isa;
    isa_costs_default(&isa);
    uint32_t seed = 5;
    for (uint32_t words = 1; words <= 97; words += 16) {
        uint16_t *packed = malloc(words * 2), *ref = malloc(words * 8), *zeros = calloc(words, 2);
        uint16_t *out = aligned_alloc(8, words * 8);
        for (uint32_t j = 0; j < words; j++)
            packed[j] = (uint16_t)lcg(&seed);
        gc_unpack_ref(ref, packed, words);
        Worker w;
        worker_init(&w, &isa, -1);
        GcUnpackArgs a = {packed, out, words, 0};
        gc_unpack(&w, &a);
        assert_false(w.faulted);
        assert_memory_equal(out, ref, words * 8);
        assert_int_equal(w.cycles, gc_unpack_vertex.measure(&isa, &a));
        Worker w0;
        worker_init(&w0, &isa, -1);
        GcUnpackArgs a0 = {zeros, out, words, 0};
        gc_unpack(&w0, &a0);
        assert_int_equal(w0.cycles, w.cycles);
        /* the what-if: the same outputs at popxl's placeholder estimate, 100 + 30 x the interval's words */
        GcUnpackArgs ae = {packed, out, words, 6 * words};
        Worker we;
        worker_init(&we, &isa, -1);
        memset(out, 0, words * 8);
        gc_unpack(&we, &ae);
        assert_memory_equal(out, ref, words * 8);
        assert_int_equal(we.cycles, 100 + 30 * 6 * words);
        assert_int_equal(gc_unpack_vertex.measure(&isa, &ae), we.cycles);
        free(packed), free(ref), free(zeros), free(out);
    }
}

/* unpack -> x scale -> + bias over ranges cut anywhere (not at groups) ==
 * decompress_q4_ref, bit for bit, for every kind and both operand forms */
static void test_pipeline_bit_exact_with_decompress_ref(void **st)
{
    (void)st;
    const uint32_t g = 32, groups = 12, n = g * groups;
    uint32_t seed = 11;
    uint16_t packed[n / 4], scale[groups], bias[groups], want[n];
    for (uint32_t j = 0; j < n / 4; j++)
        packed[j] = (uint16_t)lcg(&seed);
    for (uint32_t k = 0; k < groups; k++) { /* scales 2^-12 .. ~0.5 (subnormal products too), biases of both signs */
        scale[k] = (uint16_t)(0x0c00 + lcg(&seed) % 0x2c00);
        bias[k] = (uint16_t)(lcg(&seed) % 0x3c00 | (k & 1) << 15);
    }
    decompress_q4_ref(want, packed, scale, bias, groups, g);
    uint16_t *u = aligned_alloc(8, n * 2), p[n], y[n], xs[n], xb[n];
    gc_unpack_ref(u, packed, n / 4);
    for (uint32_t i = 0; i < n; i++)
        xs[i] = scale[i / g], xb[i] = bias[i / g];
    const uint32_t cuts[] = {0, 20, 52, 53 * 4, 300, n};
    for (int expanded = 0; expanded < 2; expanded++) {
        memset(y, 0, sizeof y);
        for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++) {
            uint32_t e0 = cuts[c], e1 = cuts[c + 1];
            GcBcastArgs m = {u + e0, expanded ? xs + e0 : scale + e0 / g, p + e0, e1 - e0, e0 % g, g, e1 - e0,
                             GC_OP_MUL, expanded ? GC_BINARY1D : GC_SCALAR2D, (uint8_t)expanded};
            gc_bcast_ref(&m);
            GcBcastArgs ad = m;
            ad.in = p + e0, ad.b = expanded ? xb + e0 : bias + e0 / g, ad.out = y + e0, ad.op = GC_OP_ADD;
            gc_bcast_ref(&ad);
        }
        assert_memory_equal(y, want, sizeof want);
    }
    free(u);
}

/* each kind's cycles, worked by hand from poplibs' popopsCycleEstimators.cpp */
static void test_estimators(void **st)
{
    (void)st;
    GcBcastArgs a = {.n = 64, .phase = 0, .group = 64, .kind = GC_SCALAR2D};
    assert_int_equal(gc_bcast_cycles(&a), 20 + 28 + 5 * 16);
    a.n = 100, a.phase = 40; /* pieces of 24, 64, 12 elements */
    assert_int_equal(gc_bcast_cycles(&a), 20 + (28 + 5 * 6) + (28 + 5 * 16) + (28 + 5 * 3));
    GcBcastArgs s1 = {.cost_a = 64, .group = 64, .kind = GC_SCALAR1D}; /* ceil(64/6) = 11 -> 3 vectors */
    assert_int_equal(gc_bcast_cycles(&s1), 20 + 2 * 3);
    GcBcastArgs row = {.cost_a = 100, .group = 16, .kind = GC_OUTER_ROW}; /* ceil(100/6) = 17 rows a worker */
    assert_int_equal(gc_bcast_cycles(&row), 15 + 17 * (7 + 2 * 4));
    GcBcastArgs col = {.cost_a = 50, .group = 64, .kind = GC_OUTER_COL}; /* 11 columns a worker -> 3 vectors */
    assert_int_equal(gc_bcast_cycles(&col), 15 + 50 * (7 + 2 * 3));
    GcBcastArgs bin = {.cost_a = 11404, .group = 32, .kind = GC_BINARY1D}; /* 1901 a worker -> 476 vectors */
    assert_int_equal(gc_bcast_cycles(&bin), 26 + 3 * 476);
    /* the vertex charges what its measure() says, whatever the data */
    IsaCosts isa;
    isa_costs_default(&isa);
    uint16_t in[100] = {0}, b[4] = {0}, out[100];
    GcBcastArgs v = {in, b, out, 100, 40, 64, 0, GC_OP_ADD, GC_SCALAR2D, 0};
    Worker w;
    worker_init(&w, &isa, -1);
    gc_bcast(&w, &v);
    assert_int_equal(w.cycles, gc_bcast_vertex.measure(&isa, &v));
}

/* poplibs' comparison of the 2D scalar vertex with one 1D vertex per piece */
static void test_scalar_2d_or_1d(void **st)
{
    (void)st;
    int use1d;
    /* few long pieces (240, 256, 16 of groups of 256): 1D, per piece
     * 6 (20 + 2 ceil(ceil(len/6)/4)) + 11 = 251 + 263 + 143; the 2D vertex's
     * busiest worker (two pieces, 64 + 24) would cost 6 x 186 + 11 */
    assert_int_equal(gc_bcast_tile_cycles(GC_SCALAR2D, 16, 528, 256, &use1d), 251 + 263 + 143);
    assert_true(use1d);
    /* many short pieces: the 2D vertex */
    gc_bcast_tile_cycles(GC_SCALAR2D, 16, 16 + 178 * 64, 64, &use1d);
    assert_false(use1d);
    /* a MultiVertex: 6 x the per-worker estimate + 11 */
    assert_int_equal(gc_bcast_tile_cycles(GC_BINARY1D, 8, 8 + 11404, 32, &use1d), 6 * (26 + 3 * 476) + 11);
    assert_int_equal(gc_worker_share(512), 88);
    assert_int_equal(gc_worker_share(20), 8);
}

static void test_unpack_split_like_popxl(void **st)
{
    (void)st;
    uint16_t packed[20];
    uint16_t out[80];
    GcUnpackArgs all = {packed, out, 20, 0}, parts[6];
    assert_int_equal(gc_unpack_split(&all, 6, parts), 6);
    const uint32_t want[6] = {4, 4, 3, 3, 3, 3}; /* the first 20 % 6 get one more */
    for (int q = 0, j = 0; q < 6; j += (int)want[q], q++) {
        assert_int_equal(parts[q].words, want[q]);
        assert_ptr_equal(parts[q].packed, packed + j);
        assert_ptr_equal(parts[q].out, out + 4 * j);
    }
    all.words = 4;
    assert_int_equal(gc_unpack_split(&all, 6, parts), 4); /* shorter than 6 words: empty vertices dropped */
}

static void test_tile_kind_follows_poplibs(void **st)
{
    (void)st;
    uint64_t nb;
    /* a group cut at the tile's edge, <= 256 scales: scalar broadcast */
    assert_int_equal(gc_bcast_tile_kind(40, 40 + 178 * 64, 64, &nb), GC_SCALAR2D);
    assert_int_equal(nb, 179);
    /* whole groups only: outer vector, by row below 24 columns, else by column */
    assert_int_equal(gc_bcast_tile_kind(64, 64 + 64 * 300, 64, &nb), GC_OUTER_COL);
    assert_int_equal(nb, 300);
    assert_int_equal(gc_bcast_tile_kind(32, 32 + 16 * 700, 16, &nb), GC_OUTER_ROW);
    /* a group cut and more than 256 scales: the general BinaryOp1D, operand materialised */
    assert_int_equal(gc_bcast_tile_kind(8, 8 + 11404, 32, &nb), GC_BINARY1D);
    assert_int_equal(nb, 11404);
    /* a tile inside one group: a single scalar */
    assert_int_equal(gc_bcast_tile_kind(128, 192, 64, &nb), GC_SCALAR2D);
    assert_int_equal(nb, 1);
    assert_int_equal(gc_bcast_tile_kind(100, 120, 64, &nb), GC_SCALAR2D);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpack_matches_ref_and_cycles_data_independent),
        cmocka_unit_test(test_pipeline_bit_exact_with_decompress_ref),
        cmocka_unit_test(test_estimators),
        cmocka_unit_test(test_scalar_2d_or_1d),
        cmocka_unit_test(test_unpack_split_like_popxl),
        cmocka_unit_test(test_tile_kind_follows_poplibs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
