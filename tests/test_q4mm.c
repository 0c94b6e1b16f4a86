/* test_q4mm.c - codelets/q4mm: the fused int4 decompress + matmul gives
 * the bits of running the decompress vertices then the matmul vertices
 * through the timed intrinsics (every decompress variant, fp16 and fp32
 * partials, the weights as the matmul's w or a operand, several tokens,
 * accumulate, group sizes 8..256, rows not a multiple of 16, scales and
 * biases with the edge cases that make weights Inf or NaN, activations
 * that make the sums overflow), on the AVX-512 path where the CPU has it
 * and on the scalar path; never writes the scratch; reads the producers'
 * inputs where VertexMem says; declines (writing nothing) where the
 * vertices are not one contiguous run or a matmul reads the scratch off a
 * group, and where a decompress vertex's own native() would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/decompress.h"
#include "codelets/matmul.h"
#include "codelets/q4mm.h"

typedef struct Rng { uint64_t s; } Rng;
static uint32_t rng_u32(Rng *r)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}
static float rng_unit(Rng *r) { return (float)rng_u32(r) / 2147483648.0f - 1.0f; }

/* A scale or bias: mostly ordinary (the synthetic weights' magnitudes),
 * with zero, subnormals, overflowing scales and, when wild, Inf and NaN. */
static uint16_t edge_h(Rng *r, int bias, int wild)
{
    switch (rng_u32(r) % (wild ? 40 : 400)) {
    case 0: return 0x0000;
    case 1: return (uint16_t)(0x0001 + rng_u32(r) % 0x3ff);
    case 2: return (uint16_t)(0x7000 + rng_u32(r) % 0xbff);
    case 3: return rng_u32(r) % 2 ? 0x7c00 : 0xfc00;
    case 4: return (uint16_t)(0x7c01 + rng_u32(r) % 0x3fe);
    default: return fp16_from_f32((bias ? 0.05f : 0.01f) * rng_unit(r));
    }
}

/* VertexMem that reads the producers' inputs from a copy (as the engine
 * reads a stream left in a remote buffer) and everything else in place. */
typedef struct Remap {
    const char *lo[3], *hi[3], *to[3];
} Remap;
static const void *remap_at(const VertexMem *m, const void *p, size_t n)
{
    const Remap *r = m->ctx;
    for (int i = 0; i < 3; i++)
        if ((const char *)p >= r->lo[i] && (const char *)p < r->hi[i])
            return (const char *)p + n <= r->hi[i] ? r->to[i] + ((const char *)p - r->lo[i]) : NULL;
    return p;
}

typedef struct Case {
    uint32_t rows, k, gs, tokens, workers;
    int role_a, accumulate, wild;
    LayerDtype pt;
} Case;

/* The producers' inputs, scratch, activations and outputs of one case. */
typedef struct Bufs {
    uint16_t *packed, *scale, *bias, *dec, *act, *shadow; /* shadow: packed, scale, bias copies the remap reads */
    void *out;
    uint32_t groups;
} Bufs;

static void fill(const Case *c, Rng *r, Bufs *b)
{
    b->groups = c->rows * c->k / c->gs;
    size_t words = (size_t)b->groups * c->gs / 4, esz = layer_dtype_bytes(c->pt);
    b->packed = malloc(words * 2), b->scale = malloc(b->groups * 2), b->bias = malloc(b->groups * 2);
    b->shadow = malloc(words * 2 + b->groups * 4);
    b->dec = aligned_alloc(8, ((size_t)c->rows * c->k * 2 + 7) / 8 * 8);
    b->act = malloc((size_t)c->tokens * c->k * 2);
    b->out = malloc((size_t)c->rows * c->tokens * esz);
    assert_true(b->packed && b->scale && b->bias && b->shadow && b->dec && b->act && b->out);
    for (size_t i = 0; i < words; i++)
        b->packed[i] = (uint16_t)rng_u32(r);
    for (uint32_t g = 0; g < b->groups; g++) {
        b->scale[g] = edge_h(r, 0, c->wild), b->bias[g] = edge_h(r, 1, c->wild);
        /* NaN + NaN: which payload survives depends on the variant's operand
         * order (tests/test_native.c), so the variants differ there */
        if (!fp16_isfinite(b->scale[g]) && fp16_isnan(b->bias[g]))
            b->bias[g] = 0x3c00;
    }
    for (size_t i = 0; i < (size_t)c->tokens * c->k; i++)
        b->act[i] = fp16_from_f32(rng_u32(r) % 97 == 0 && c->wild ? 60000.0f * rng_unit(r) : 4.0f * rng_unit(r));
    for (size_t i = 0; i < (size_t)c->rows * c->tokens; i++)
        layer_store(b->out, c->pt, i, 2.0f * rng_unit(r));
    memcpy(b->shadow, b->packed, words * 2);
    memcpy(b->shadow + words, b->scale, b->groups * 2);
    memcpy(b->shadow + words + b->groups, b->bias, b->groups * 2);
}

static void release(Bufs *b)
{
    free(b->packed), free(b->scale), free(b->bias), free(b->shadow), free(b->dec), free(b->act), free(b->out);
}

/* The tile's vertices: decompress of every group split over the workers,
 * the matmul reading the scratch (as w: y = x W^T; as a: y^T = W x^T) split too. */
static void vertices(const Case *c, const Bufs *b, void *out, DecompressQ4Args *dp, uint32_t *nd, MatmulArgs *mp,
                     uint32_t *nm)
{
    DecompressQ4Args all = {b->packed, b->scale, b->bias, b->dec, b->groups, c->gs};
    *nd = decompress_q4_split(&all, c->workers, dp);
    MatmulArgs whole = {.k = c->k, .accumulate = (uint32_t)c->accumulate, .amp_macs_per_cycle = 64, .out = out};
    if (c->role_a)
        whole.a = b->dec, whole.m = c->rows, whole.w = b->act, whole.n = c->tokens;
    else
        whole.a = b->act, whole.m = c->tokens, whole.w = b->dec, whole.n = c->rows;
    *nm = matmul_split(&whole, c->pt, c->workers, mp);
}

static void run_timed(const VertexType *dvt, const VertexType *mvt, const DecompressQ4Args *dp, uint32_t nd,
                      const MatmulArgs *mp, uint32_t nm)
{
    IsaCosts isa;
    isa_costs_default(&isa);
    isa.nibunpack4_enabled = true;
    for (uint32_t i = 0; i < nd; i++) {
        Worker w;
        worker_init(&w, &isa, 0);
        dvt->run(&w, &dp[i]);
        assert_false(w.faulted);
    }
    for (uint32_t i = 0; i < nm; i++) {
        Worker w;
        worker_init(&w, &isa, 0);
        mvt->run(&w, &mp[i]);
    }
}

/* One case against every decompress variant and both tables. */
static void check_case(const Case *c, Rng *r)
{
    Bufs b;
    fill(c, r, &b);
    size_t obytes = (size_t)c->rows * c->tokens * layer_dtype_bytes(c->pt), dbytes = (size_t)c->rows * c->k * 2;
    void *want = malloc(obytes), *got = malloc(obytes), *dec_before = malloc(dbytes);
    assert_true(want && got && dec_before);
    IsaCosts isa;
    isa_costs_default(&isa);
    isa.nibunpack4_enabled = true;
    size_t words = (size_t)b.groups * c->gs / 4;
    Remap rm = {{(const char *)b.packed, (const char *)b.scale, (const char *)b.bias},
                {(const char *)(b.packed + words), (const char *)(b.scale + b.groups), (const char *)(b.bias + b.groups)},
                {(const char *)b.shadow, (const char *)(b.shadow + words), (const char *)(b.shadow + words + b.groups)}};
    VertexMem mem = {remap_at, &rm};
    for (size_t f = 0; f < q4mm_fusion_count; f++)
        for (int table = 0; table < 2; table++) {
            const VertexFusion *fu = table ? &q4mm_fusions_scalar[f] : &q4mm_fusions[f];
            if ((fu->second == &matmul_amp_f16_vertex) != (c->pt == LAYER_F16))
                continue;
            DecompressQ4Args dp[8];
            MatmulArgs mp[8];
            uint32_t nd, nm;
            memcpy(want, b.out, obytes);
            vertices(c, &b, want, dp, &nd, mp, &nm);
            run_timed(fu->first, fu->second, dp, nd, mp, nm);
            /* the fused step: the scratch holds garbage, the producers' inputs only in the shadow */
            memset(b.dec, 0x5a, dbytes);
            memcpy(dec_before, b.dec, dbytes);
            memcpy(got, b.out, obytes);
            vertices(c, &b, got, dp, &nd, mp, &nm);
            const void *fa[8], *fb[8];
            for (uint32_t i = 0; i < nd; i++)
                fa[i] = &dp[i];
            for (uint32_t i = 0; i < nm; i++)
                fb[i] = &mp[i];
            memset(b.packed, 0xa5, words * 2), memset(b.scale, 0xa5, b.groups * 2), memset(b.bias, 0xa5, b.groups * 2);
            /* with the note CHECK leaves for RUN (the engine's way) and without one */
            _Alignas(16) unsigned char note[4096];
            assert_true(fu->note_bytes <= sizeof note);
            int kept = (int)(table + c->rows + c->k) % 2;
            assert_int_equal(fu->native(&isa, fa, nd, fb, nm, &mem, VERTEX_FUSE_CHECK, kept ? note : NULL), 0);
            assert_int_equal(fu->native(&isa, fa, nd, fb, nm, &mem, VERTEX_FUSE_PREFETCH, kept ? note : NULL), 0);
            assert_int_equal(fu->native(&isa, fa, nd, fb, nm, &mem, VERTEX_FUSE_RUN, kept ? note : NULL), 0);
            if (memcmp(got, want, obytes))
                fail_msg("%s + %s (%s table): rows %u k %u gs %u tokens %u role %s acc %d wild %d: outputs differ",
                         fu->first->name, fu->second->name, table ? "scalar" : "fast", c->rows, c->k, c->gs,
                         c->tokens, c->role_a ? "a" : "w", c->accumulate, c->wild);
            assert_memory_equal(b.dec, dec_before, dbytes); /* the dead write: never made */
            memcpy(b.packed, b.shadow, words * 2);
            memcpy(b.scale, b.shadow + words, b.groups * 2), memcpy(b.bias, b.shadow + words + b.groups, b.groups * 2);
        }
    free(want), free(got), free(dec_before);
    release(&b);
}

static void test_fused_equals_timed(void **state)
{
    (void)state;
    static const uint32_t gss[] = {8, 16, 32, 64, 128, 256};
    Rng r = {11};
    for (int trial = 0; trial < 60; trial++) {
        Case c;
        c.gs = gss[trial % 6];
        c.k = c.gs * (1 + rng_u32(&r) % (c.gs >= 128 ? 3 : 6));
        c.rows = 1 + rng_u32(&r) % 150; /* up to 3 passes of the SIMD path's 64-row blocks */
        c.tokens = trial % 4 == 3 ? 1 + rng_u32(&r) % 9 : 1;
        c.workers = 1 + rng_u32(&r) % 6;
        c.role_a = trial % 3 == 1;
        c.accumulate = trial % 5 == 2;
        c.wild = trial % 4 == 1;
        c.pt = trial % 2 ? LAYER_F32 : LAYER_F16;
        check_case(&c, &r);
    }
}

/* The shapes of GPT-J 6B's decode blocks (pod4, q4g:64). */
static void test_gptj_blocks(void **state)
{
    (void)state;
    static const Case cases[] = {
        {16, 256, 64, 1, 6, 0, 0, 0, LAYER_F16}, {32, 512, 64, 1, 6, 0, 0, 0, LAYER_F16},
        {32, 128, 64, 1, 6, 0, 0, 0, LAYER_F16}, {64, 128, 64, 1, 6, 1, 0, 0, LAYER_F16},
        {32, 512, 64, 4, 6, 0, 0, 1, LAYER_F16}, {32, 512, 64, 1, 6, 0, 1, 0, LAYER_F32}, {64, 64, 64, 1, 6, 0, 0, 0, LAYER_F16},
        {64, 256, 64, 4, 6, 0, 0, 0, LAYER_F16}, {64, 256, 64, 1, 6, 0, 0, 0, LAYER_F16},
    };
    Rng r = {5};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i], &r);
}

/* Declines, and checks that decline too, write nothing. */
static void test_declines(void **state)
{
    (void)state;
    Rng r = {3};
    Case c = {32, 128, 64, 1, 4, 0, 0, 0, LAYER_F16};
    Bufs b;
    fill(&c, &r, &b);
    IsaCosts isa;
    isa_costs_default(&isa);
    Remap rm = {{0}, {0}, {0}};
    VertexMem mem = {remap_at, &rm};
    const VertexFusion *fu = &q4mm_fusions[0]; /* twopass + amp_f16 */
    DecompressQ4Args dp[8];
    MatmulArgs mp[8];
    uint32_t nd, nm;
    size_t obytes = (size_t)c.rows * c.tokens * 2;
    void *before = malloc(obytes);
    assert_non_null(before);
    memcpy(before, b.out, obytes);
    for (int what = 0; what < 6; what++) {
        vertices(&c, &b, b.out, dp, &nd, mp, &nm);
        const void *fa[8], *fb[8];
        for (uint32_t i = 0; i < nd; i++)
            fa[i] = &dp[i];
        for (uint32_t i = 0; i < nm; i++)
            fb[i] = &mp[i];
        switch (what) {
        case 0: dp[0].out = (uint16_t *)((char *)dp[0].out + 2); break; /* misaligned: native() declines */
        case 1: fa[0] = &dp[1], fa[1] = &dp[0]; break;                   /* not in order */
        case 2: mp[0].w = mp[0].w + 4; break;                             /* a row off its group */
        case 3: mp[0].out = b.dec; break;                                 /* writes into the scratch */
        case 4: mp[0].a = b.dec; break;                                   /* reads it twice */
        case 5: dp[1].group_size = 32; break;                             /* not one run */
        }
        _Alignas(16) unsigned char note[4096];
        assert_int_not_equal(fu->native(&isa, fa, nd, fb, nm, &mem, VERTEX_FUSE_CHECK, note), 0);
        assert_int_not_equal(fu->native(&isa, fa, nd, fb, nm, &mem, VERTEX_FUSE_RUN, note), 0); /* CHECK said no */
        assert_int_not_equal(fu->native(&isa, fa, nd, fb, nm, &mem, VERTEX_FUSE_RUN, NULL), 0);
        assert_memory_equal(b.out, before, obytes);
    }
    free(before);
    release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused_equals_timed),
        cmocka_unit_test(test_gptj_blocks),
        cmocka_unit_test(test_declines),
    };
    print_message("q4mm: AVX-512 path %s on this CPU\n", q4mm_simd_available() ? "taken" : "not available");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
