/* test_native.c - the native versions of the codelets (VertexType.native,
 * the functional fast path): bit-identical to run() for random shapes and
 * data with edge cases, declining exactly where run() would fault or charge
 * other cycles, and inside the engine the same outputs, cycles and fault
 * messages as the timed path at 1 and 2 OpenMP threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/decompress.h"
#include "codelets/matmul.h"
#include "sim/engine.h"

typedef struct Rng { uint64_t s; } Rng;
static uint32_t rng_u32(Rng *r)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}
static float rng_unit(Rng *r) { return (float)rng_u32(r) / 2147483648.0f - 1.0f; } /* [-1, 1) */

/* ---- decompress ---- */

/* An fp16 scale or bias: mostly ordinary, with the edge cases the format
 * meets (zero: a constant group; subnormal; large enough to overflow
 * code * scale; negative; Inf; NaN). */
static uint16_t edge_h(Rng *r, int bias)
{
    switch (rng_u32(r) % 12) {
    case 0: return 0x0000;                              /* constant group */
    case 1: return (uint16_t)(0x0001 + rng_u32(r) % 0x3ff); /* subnormal */
    case 2: return (uint16_t)(0x7000 + rng_u32(r) % 0xbff); /* 8192..65504: 15x overflows */
    case 3: return bias ? 0xfbff : 0x8400;              /* -65504, or a negative scale */
    case 4: return rng_u32(r) % 2 ? 0x7c00 : 0xfc00;    /* +-Inf */
    case 5: return (uint16_t)(0x7c01 + rng_u32(r) % 0x3fe); /* NaN with a payload */
    case 6: return 0x3c00;                              /* 1: codes exact */
    default: return fp16_from_f32((bias ? 2.0f : 0.1f) * rng_unit(r));
    }
}

/* Each variant's run() and its native() give the same bits (and both the
 * reference's), for group sizes 4..256, 1..40 groups, 2-byte-aligned and
 * 4-byte-aligned packed buffers (fused2's native declines the former and
 * leaves out untouched). */
static void test_decompress_native_equals_run(void **state)
{
    (void)state;
    const CodeletFamily *f = codelet_family_find("decompress", NULL);
    assert_non_null(f);
    IsaCosts isa;
    isa_costs_default(&isa);
    isa.nibunpack4_enabled = true;
    static const uint32_t sizes[] = {4, 8, 12, 28, 32, 36, 64, 128, 256};
    Rng r = {7};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int trial = 0; trial < 4; trial++) {
            uint32_t n = sizes[si], groups = 1 + rng_u32(&r) % 40, words = groups * n / 4;
            uint32_t off = trial % 2; /* packed at +2 bytes on odd trials */
            uint16_t *packed = aligned_alloc(16, ((size_t)words + 8) * 2 / 16 * 16 + 16);
            uint16_t *sb = malloc((size_t)groups * 4);
            uint16_t *ref = malloc((size_t)groups * n * 2);
            uint16_t *o_run = aligned_alloc(16, ((size_t)groups * n * 2 + 15) / 16 * 16);
            uint16_t *o_nat = aligned_alloc(16, ((size_t)groups * n * 2 + 15) / 16 * 16);
            assert_true(packed && sb && ref && o_run && o_nat);
            for (uint32_t j = 0; j < words; j++)
                packed[off + j] = (uint16_t)rng_u32(&r);
            for (uint32_t g = 0; g < groups; g++) {
                sb[g] = edge_h(&r, 0), sb[groups + g] = edge_h(&r, 1);
                /* NaN + NaN: which payload survives depends on the compiled
                 * operand order (x86 keeps the first's), so the variants
                 * themselves differ there; not a case the format meets */
                if (!fp16_isfinite(sb[g]) && fp16_isnan(sb[groups + g]))
                    sb[groups + g] = 0x3c00;
            }
            decompress_q4_ref(ref, packed + off, sb, sb + groups, groups, n);
            DecompressQ4Args a = {packed + off, sb, sb + groups, NULL, groups, n};
            for (size_t v = 0; v < f->variant_count; v++) {
                const VertexType *vt = f->variants[v].vertex;
                assert_non_null(vt->native);
                memset(o_run, 0xa5, (size_t)groups * n * 2);
                memset(o_nat, 0x5a, (size_t)groups * n * 2);
                a.out = o_run;
                Worker w;
                worker_init(&w, &isa, 0);
                vt->run(&w, &a);
                assert_false(w.faulted);
                for (size_t i = 0; i < (size_t)groups * n; i++)
                    if (o_run[i] != ref[i])
                        fail_msg("%s n=%u g=%zu: run %04x ref %04x scale %04x bias %04x", vt->name, n, i / n, o_run[i], ref[i], sb[i / n], sb[groups + i / n]);
                a.out = o_nat;
                int declined = vt->native(&isa, &a);
                if (vt == &decompress_q4_fused2_vertex && off) {
                    assert_int_not_equal(declined, 0);
                    for (size_t i = 0; i < (size_t)groups * n; i++)
                        assert_int_equal(o_nat[i], 0x5a5a);
                    continue;
                }
                assert_int_equal(declined, 0);
                if (memcmp(o_nat, ref, (size_t)groups * n * 2))
                    fail_msg("%s: n=%u groups=%u off=%u: native differs from run()", vt->name, n, groups, off);
            }
            free(packed), free(sb), free(ref), free(o_run), free(o_nat);
        }
}

/* Where run() faults (a NULL or misaligned buffer; run() needs args that
 * passed decompress_q4_check, which rejects NULL), native() declines and
 * writes nothing; zero groups is a no-op for both. */
static void test_decompress_native_declines_faults(void **state)
{
    (void)state;
    IsaCosts isa;
    isa_costs_default(&isa);
    _Alignas(16) uint16_t packed[16] = {0x1234, 0x5678}, sb[2] = {0x3c00, 0x0000}, out[40];
    const DecompressQ4Args bad[] = {
        {packed, sb, sb + 1, out + 1, 1, 8},                            /* out 2-byte aligned: st64 faults */
        {(const uint16_t *)((const char *)packed + 1), sb, sb + 1, out, 1, 8}, /* odd packed */
        {packed, NULL, sb + 1, out, 1, 8},                              /* NULL scale */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Worker w;
        worker_init(&w, &isa, 3);
        decompress_q4_fused_vertex.run(&w, &bad[i]);
        assert_true(w.faulted);
        memset(out, 0x77, sizeof out);
        assert_int_not_equal(decompress_q4_fused_vertex.native(&isa, &bad[i]), 0);
        for (size_t k = 0; k < 40; k++)
            assert_int_equal(out[k], 0x7777);
    }
    DecompressQ4Args none = {NULL, NULL, NULL, NULL, 0, 8};
    assert_int_equal(decompress_q4_twopass_vertex.native(&isa, &none), 0);
}

/* ---- matmul ---- */

/* Activations and weights with edge cases: ties of the fp16 rounding of
 * partials come from exact small products; large values overflow fp16
 * partials to Inf; some cases carry Inf and NaN activations. */
static uint16_t mm_h(Rng *r, int special, float amp)
{
    uint32_t u = rng_u32(r) % 64;
    if (special && u == 0)
        return rng_u32(r) % 2 ? 0x7c00 : 0xfc00;
    if (special && u == 1)
        return (uint16_t)(0x7e00 | rng_u32(r) % 0x1ff);
    if (u < 8)
        return fp16_from_f32((float)(int)(rng_u32(r) % 9) - 4.0f); /* small integers: exact sums, ties */
    if (u < 10)
        return (uint16_t)(rng_u32(r) % 0x400); /* subnormal */
    if (u < 12)
        return fp16_from_f32(3000.0f * rng_unit(r)); /* large: fp16 partials overflow */
    return fp16_from_f32(amp * rng_unit(r));
}

static void matmul_case(uint32_t m, uint32_t k, uint32_t n, uint32_t as, uint32_t ws, uint32_t os, int acc,
                        int special, LayerDtype t, uint64_t seed)
{
    Rng r = {seed};
    size_t esz = layer_dtype_bytes(t), orows = (size_t)(m - 1) * (os ? os : n) + n;
    uint16_t *a = malloc(((size_t)(m - 1) * (as ? as : k) + k) * 2);
    uint16_t *w = malloc(((size_t)(n - 1) * (ws ? ws : k) + k) * 2);
    char *o_run = malloc(orows * esz), *o_nat = malloc(orows * esz);
    assert_true(a && w && o_run && o_nat);
    for (size_t i = 0; i < (size_t)(m - 1) * (as ? as : k) + k; i++)
        a[i] = mm_h(&r, special, 2.0f);
    for (size_t i = 0; i < (size_t)(n - 1) * (ws ? ws : k) + k; i++)
        w[i] = mm_h(&r, 0, 0.5f);
    for (size_t i = 0; i < orows; i++)
        layer_store(o_run, t, i, special && i % 29 == 3 ? 1.0f / 0.0f : 4.0f * rng_unit(&r));
    memcpy(o_nat, o_run, orows * esz);
    MatmulArgs p = {.a = a, .w = w, .out = o_run, .m = m, .k = k, .n = n, .a_stride = as, .w_stride = ws,
                    .out_stride = os, .accumulate = (uint32_t)acc, .amp_macs_per_cycle = 64};
    const VertexType *vt = t == LAYER_F16 ? &matmul_amp_f16_vertex : &matmul_amp_f32_vertex;
    IsaCosts isa;
    isa_costs_default(&isa);
    Worker wk;
    worker_init(&wk, &isa, 0);
    vt->run(&wk, &p);
    assert_false(wk.faulted);
    p.out = o_nat;
    assert_int_equal(vt->native(&isa, &p), 0);
    if (memcmp(o_run, o_nat, orows * esz))
        fail_msg("%s m=%u k=%u n=%u strides %u/%u/%u acc=%d special=%d: native differs from run()", vt->name, m, k, n,
                 as, ws, os, acc, special);
    free(a), free(w), free(o_run), free(o_nat);
}

static void test_matmul_native_equals_run(void **state)
{
    (void)state;
    static const uint32_t shapes[][3] = {{1, 16, 16}, {1, 256, 48}, {1, 64, 8},  {1, 72, 13}, {1, 5, 9},
                                         {2, 4096, 16}, {3, 40, 20}, {5, 7, 3},  {16, 64, 32}, {70, 33, 17},
                                         {1, 1, 1},   {1, 24, 200}, {129, 16, 8}};
    uint64_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 2; t++)
            for (int acc = 0; acc < 2; acc++)
                for (int special = 0; special < 2; special++) {
                    uint32_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
                    LayerDtype dt = t ? LAYER_F32 : LAYER_F16;
                    matmul_case(m, k, n, 0, 0, 0, acc, special, dt, seed++);
                    matmul_case(m, k, n, k + 3, k + 8, n + 5, acc, special, dt, seed++); /* strided */
                }
}

/* With a NULL pointer matmul_amp does no arithmetic; neither does native. */
static void test_matmul_native_null_data(void **state)
{
    (void)state;
    uint16_t w[16] = {0};
    float out[1] = {42.0f};
    MatmulArgs p = {.a = NULL, .w = w, .out = out, .m = 1, .k = 16, .n = 1, .amp_macs_per_cycle = 64};
    assert_int_equal(matmul_amp_f32_vertex.native(NULL, &p), 0);
    assert_true(out[0] == 42.0f);
}

/* ---- in the engine ---- */

enum { TILES = 4, GROUPS = 9, GN = 64, MK = 64 * 9 / 4 };

typedef struct Sys {
    Graph *g;
    Program *p;
    int packed, scale, bias, w, x, y, x0;
} Sys;

/* Between the two Execute steps: a Sync and a Copy x0 -> x (the matvec's
 * input, untouched by the decompress: the steps may run tile by tile), or
 * with copy_into_w a Copy into w (the decompress output: they may not). */
enum { COPY_X = 1, COPY_INTO_W = 2 };

/* Per tile: decompress GROUPS groups of GN into w (MK/... rows), then a
 * matvec y = w x over them (fp32 partials) in a second compute set.
 * out_shift != 0 misaligns one tile's decompress output by 2 bytes. */
static Sys sys_build(const IpuArch *arch, int out_shift, int copy)
{
    IpuErr e = {{0}};
    Sys s;
    s.g = graph_create(arch, GRAPH_FUNCTIONAL, &e);
    assert_non_null(s.g);
    uint64_t groups = (uint64_t)TILES * GROUPS;
    s.packed = graph_add_tensor_linear(s.g, "w.packed", DTYPE_U16, groups * GN / 4, SRAM_WEIGHTS, 0, TILES, GN / 4, &e);
    s.scale = graph_add_tensor_linear(s.g, "w.scale", DTYPE_FP16, groups, SRAM_WEIGHTS, 0, TILES, 1, &e);
    s.bias = graph_add_tensor_linear(s.g, "w.bias", DTYPE_FP16, groups, SRAM_WEIGHTS, 0, TILES, 1, &e);
    s.w = graph_add_tensor_linear(s.g, "w", DTYPE_FP16, groups * GN + 4, SRAM_ACTIVATIONS, 0, TILES, 4, &e);
    s.x = graph_add_tensor_linear(s.g, "x", DTYPE_FP16, (uint64_t)TILES * 64, SRAM_ACTIVATIONS, 0, TILES, 64, &e);
    s.y = graph_add_tensor_linear(s.g, "y", DTYPE_FP32, (uint64_t)TILES * 9, SRAM_ACTIVATIONS, 0, TILES, 9, &e);
    s.x0 = graph_add_tensor_linear(s.g, "x0", DTYPE_FP16, (uint64_t)TILES * 64, SRAM_ACTIVATIONS, 0, TILES, 64, &e);
    assert_true(s.packed >= 0 && s.scale >= 0 && s.bias >= 0 && s.w >= 0 && s.x >= 0 && s.y >= 0);
    uint16_t *pk = graph_tensor_data(s.g, s.packed), *sc = graph_tensor_data(s.g, s.scale);
    uint16_t *bi = graph_tensor_data(s.g, s.bias), *w = graph_tensor_data(s.g, s.w), *x = graph_tensor_data(s.g, s.x);
    float *y = graph_tensor_data(s.g, s.y);
    Rng r = {99};
    for (uint64_t j = 0; j < groups * GN / 4; j++)
        pk[j] = (uint16_t)rng_u32(&r);
    for (uint64_t g = 0; g < groups; g++)
        sc[g] = fp16_from_f32(0.01f * (1.0f + rng_unit(&r))), bi[g] = fp16_from_f32(-0.08f * (1.0f + rng_unit(&r)));
    uint16_t *x0 = graph_tensor_data(s.g, s.x0);
    for (uint64_t i = 0; i < (uint64_t)TILES * 64; i++)
        x[i] = fp16_from_f32(rng_unit(&r)), x0[i] = fp16_from_f32(rng_unit(&r));
    int dq = graph_add_compute_set(s.g, "decompress", &e), mm = graph_add_compute_set(s.g, "matvec", &e);
    assert_true(dq >= 0 && mm >= 0);
    for (uint32_t t = 0; t < TILES; t++) {
        uint64_t g0 = (uint64_t)t * GROUPS;
        uint16_t *wt = w + g0 * GN + (t == 1 && out_shift ? 1 : 0);
        DecompressQ4Args all = {pk + g0 * GN / 4, sc + g0, bi + g0, wt, GROUPS, GN}, parts[6];
        uint32_t used = decompress_q4_split(&all, arch->workers_per_tile, parts);
        for (uint32_t k = 0; k < used; k++)
            assert_int_equal(graph_add_vertex(s.g, dq, t, &decompress_q4_lut_vertex, &parts[k], &e), 0);
        /* w block of this tile as (9, 64): 9 outputs of 64 inputs */
        MatmulArgs whole = {.a = x + (uint64_t)t * 64, .w = wt, .out = y + (uint64_t)t * 9, .m = 1, .k = 64, .n = 9,
                            .amp_macs_per_cycle = 64}, mp[6];
        uint32_t nm = matmul_split(&whole, LAYER_F32, arch->workers_per_tile, mp);
        for (uint32_t k = 0; k < nm; k++)
            assert_int_equal(graph_add_vertex(s.g, mm, t, &matmul_amp_f32_vertex, &mp[k], &e), 0);
    }
    s.p = program_create();
    int a = program_execute(s.p, dq, "decompress", -1, &e), b = program_execute(s.p, mm, "matvec", -1, &e);
    assert_true(a >= 0 && b >= 0);
    int root = program_sequence(s.p, "step", &e);
    assert_true(root >= 0);
    assert_int_equal(program_append(s.p, root, a, &e), 0);
    if (copy) {
        int sy = program_sync(s.p, SYNC_CHIP, "sync", -1, &e), cp = program_copy(s.p, "copy", -1, &e);
        assert_true(sy >= 0 && cp >= 0);
        for (uint32_t t = 0; t < TILES; t++) /* tile t's x0 slice to tile t's x slice, or into w on tile t */
            assert_true(program_copy_add(s.p, cp, s.x0, (uint64_t)t * 64, copy == COPY_X ? s.x : s.w,
                                         copy == COPY_X ? (uint64_t)t * 64 : (uint64_t)t * GROUPS * GN + 8, 48, &e) >= 0);
        assert_int_equal(program_append(s.p, root, sy, &e), 0);
        assert_int_equal(program_append(s.p, root, cp, &e), 0);
    }
    assert_int_equal(program_append(s.p, root, b, &e), 0);
    program_set_root(s.p, root);
    return s;
}

static void sys_destroy(Sys *s)
{
    program_destroy(s->p);
    graph_destroy(s->g);
}

/* Same outputs and cycles with the native and the timed path, at 1 and 2
 * threads, with the two Execute steps back to back, separated by a Copy
 * they may run across (tile by tile: executes_fused counts it) or by one
 * they may not; a misaligned decompress output faults with the same
 * message (the fused run reports the first step's fault at that step). */
static void test_engine_native_equals_timed(void **state)
{
    (void)state;
    IpuArch arch;
    IpuErr e = {{0}};
    assert_int_equal(arch_preset("gc200", &arch, &e), 0);
    for (int copy = 0; copy <= COPY_INTO_W; copy++) {
        uint64_t cyc0 = 0;
        float y0[TILES * 9];
        for (int threads = 1; threads <= 2; threads++)
            for (int native = 0; native < 2; native++) {
                omp_set_num_threads(threads);
                Sys s = sys_build(&arch, 0, copy);
                Engine *en = engine_create(s.g, &e);
                assert_non_null(en);
                engine_set_native(en, native);
                if (engine_run(en, s.p, &e))
                    fail_msg("%s", e.msg);
                float *y = graph_tensor_data(s.g, s.y);
                /* tile by tile only on the native path, and only past a Copy the decompress does not touch */
                assert_int_equal(engine_stats(en)->executes_fused, native && copy != COPY_INTO_W);
                if (threads == 1 && !native) {
                    cyc0 = engine_cycles(en);
                    memcpy(y0, y, sizeof y0);
                } else {
                    assert_int_equal(engine_cycles(en), cyc0);
                    assert_memory_equal(y, y0, sizeof y0);
                }
                engine_destroy(en);
                sys_destroy(&s);
            }
    }
    char msg[2][512];
    for (int native = 0; native < 2; native++) {
        Sys s = sys_build(&arch, 1, COPY_X);
        Engine *en = engine_create(s.g, &e);
        assert_non_null(en);
        engine_set_native(en, native);
        assert_int_equal(engine_run(en, s.p, &e), -1);
        snprintf(msg[native], sizeof msg[native], "%s", e.msg);
        engine_destroy(en);
        sys_destroy(&s);
    }
    /* the two graphs are separate allocations: compare with the addresses masked */
    for (int k = 0; k < 2; k++)
        for (char *x = strstr(msg[k], "0x"); x; x = strstr(x, "0x"))
            for (x += 2; (*x >= '0' && *x <= '9') || (*x >= 'a' && *x <= 'f'); x++)
                *x = '#';
    assert_string_equal(msg[0], msg[1]);
    assert_non_null(strstr(msg[1], "not 8-byte aligned"));
    assert_non_null(strstr(msg[1], "tile 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decompress_native_equals_run),
        cmocka_unit_test(test_decompress_native_declines_faults),
        cmocka_unit_test(test_matmul_native_equals_run),
        cmocka_unit_test(test_matmul_native_null_data),
        cmocka_unit_test(test_engine_native_equals_timed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
