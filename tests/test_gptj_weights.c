/* test_gptj_weights.c - models/gptj_weights: the tensor table, synthetic
 * weights (determinism, thread independence, statistics), synth -> file ->
 * load round trips, and checkpoint errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "models/gptj_weights.h"
#include "base/fp16.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_w_");
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

static GptjConfig micro(void)
{
    GptjConfig c;
    IpuErr e;
    assert_int_equal(gptj_config_preset(&c, "gptj-micro", &e), 0);
    return c;
}

static uint64_t matrix_bytes(const GptjWeights *w)
{
    return gptj_config_n_matrix_params(&w->cfg) * (w->wdtype == GPTJ_F16 ? 2 : 4);
}

static uint64_t small_bytes(const GptjWeights *w)
{
    return (gptj_config_n_params(&w->cfg) - gptj_config_n_matrix_params(&w->cfg)) * 4;
}

static void test_tensor_table(void **state)
{
    (void)state;
    GptjConfig c = micro();
    int n = gptj_tensor_count(&c);
    assert_int_equal(n, 1 + 10 * c.n_layer + 4);
    GptjTensorInfo t;
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        gptj_tensor_info(&c, i, &t);
        total += gptj_tensor_elems(&t);
    }
    assert_true(total == gptj_config_n_params(&c));
    gptj_tensor_info(&c, 0, &t);
    assert_string_equal(t.name, "transformer.wte.weight");
    assert_true(t.shape[0] == c.vocab_size && t.shape[1] == c.n_embd && t.kind == GPTJ_MATRIX);
    gptj_tensor_info(&c, 1 + 10 + 6, &t);
    assert_string_equal(t.name, "transformer.h.1.mlp.fc_in.weight");
    assert_true(t.shape[0] == c.n_inner && t.shape[1] == c.n_embd && t.layer == 1);
    gptj_tensor_info(&c, 1 + 10 + 8, &t);
    assert_string_equal(t.name, "transformer.h.1.mlp.fc_out.weight");
    assert_true(t.shape[0] == c.n_embd && t.shape[1] == c.n_inner);
    gptj_tensor_info(&c, n - 1, &t);
    assert_string_equal(t.name, "lm_head.bias");
    assert_true(t.ndim == 1 && t.shape[0] == c.vocab_size && t.kind == GPTJ_BIAS);
    GptjWeights w;
    IpuErr e;
    assert_int_equal(gptj_weights_init(&w, &c, GPTJ_F32, &e), 0);
    assert_ptr_equal(gptj_weights_tensor(&w, 1 + 10 + 6), w.h[1].fc_in);
    assert_ptr_equal(gptj_weights_tensor(&w, n - 2), w.lm_head);
    assert_ptr_equal(gptj_weights_tensor(&w, n - 3), w.ln_f_b);
    gptj_weights_free(&w);
    gptj_weights_free(&w); /* zeroed: no-op */
}

static void test_synth_deterministic(void **state)
{
    (void)state;
    GptjConfig c = micro();
    c.vocab_size = 4096; /* wte and lm_head over the 65536 elements that go parallel */
    GptjWeights a, b, d;
    IpuErr e;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(gptj_weights_synth(&a, &c, GPTJ_F32, 7, &e), 0);
    omp_set_num_threads(2);
    assert_int_equal(gptj_weights_synth(&b, &c, GPTJ_F32, 7, &e), 0);
    omp_set_num_threads(saved);
    assert_memory_equal(a.matrix_slab, b.matrix_slab, matrix_bytes(&a));
    assert_memory_equal(a.small_slab, b.small_slab, small_bytes(&a));
    assert_int_equal(gptj_weights_synth(&d, &c, GPTJ_F32, 8, &e), 0);
    assert_memory_not_equal(a.matrix_slab, d.matrix_slab, 64);
    /* any element can be made on its own */
    GptjTensorInfo t;
    gptj_tensor_info(&c, 3, &t);
    assert_true(((float *)a.h[0].q_proj)[77] == gptj_synth_value(7, &t, 77));
    /* statistics of the largest matrix and of the gains */
    double s = 0, sq = 0, n = (double)c.vocab_size * c.n_embd;
    for (size_t i = 0; i < (size_t)n; i++) {
        double v = ((float *)a.wte)[i];
        s += v;
        sq += v * v;
    }
    double mean = s / n, sd = sqrt(sq / n - mean * mean);
    if (fabs(mean) > 0.0005 || fabs(sd - 0.02) > 0.0005)
        fail_msg("wte mean %g sd %g, want 0 and 0.02", mean, sd);
    s = 0;
    for (int i = 0; i < c.n_embd; i++)
        s += a.h[0].ln_1_w[i];
    assert_true(fabs(s / c.n_embd - 1.0) < 0.01);
    /* fp16 storage is the rounding of the fp32 values */
    GptjWeights h;
    assert_int_equal(gptj_weights_synth(&h, &c, GPTJ_F16, 7, &e), 0);
    for (size_t i = 0; i < (size_t)n; i += 97)
        assert_int_equal(((uint16_t *)h.wte)[i], fp16_from_f32(((float *)a.wte)[i]));
    assert_memory_equal(a.small_slab, h.small_slab, small_bytes(&a));
    gptj_weights_free(&a);
    gptj_weights_free(&b);
    gptj_weights_free(&d);
    gptj_weights_free(&h);
}

/* Progress: called once per tensor, in order, with the count. */
static void count_tensors(void *ctx, size_t done, size_t total)
{
    size_t *seen = ctx;
    assert_int_equal(done, seen[0] + 1);
    seen[0] = done, seen[1] = total;
}

static void roundtrip(StDtype file_dtype, GptjDtype wdtype, uint64_t shard_bytes, int want_shards)
{
    GptjConfig c = micro();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/rt_%s_%d_%llu", tmpdir, st_dtype_name(file_dtype), (int)wdtype,
             (unsigned long long)shard_bytes);
    IpuErr e;
    int ns = 0;
    size_t seen[2] = {0, 0};
    assert_int_equal(gptj_synth_write(&c, 11, file_dtype, dir, shard_bytes, &ns, count_tensors, seen, &e), 0);
    assert_int_equal(ns, want_shards);
    assert_int_equal(seen[0], (size_t)gptj_tensor_count(&c));
    assert_int_equal(seen[1], seen[0]);
    GptjWeights ref, got;
    assert_int_equal(gptj_weights_synth(&ref, &c, wdtype, 11, &e), 0);
    if (gptj_weights_load(&got, NULL, dir, wdtype, 1, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(got.cfg.n_embd, c.n_embd);
    assert_int_equal(got.n_warnings, 0);
    assert_memory_equal(ref.matrix_slab, got.matrix_slab, matrix_bytes(&ref));
    if (file_dtype == ST_F32) {
        assert_memory_equal(ref.small_slab, got.small_slab, small_bytes(&ref));
    } else { /* gains and biases went through fp16 in the file */
        for (size_t i = 0; i < small_bytes(&ref) / 4; i++)
            assert_true(got.small_slab[i] == fp16_to_f32(fp16_from_f32(ref.small_slab[i])));
    }
    /* the same checkpoint lazily: the gains and biases read, every matrix's rows the stored ones' values */
    GptjWeights lz;
    if (gptj_weights_load_lazy(&lz, NULL, dir, wdtype, 1, &e))
        fail_msg("%s", e.msg);
    assert_null(lz.matrix_slab);
    assert_non_null(lz.ck);
    assert_memory_equal(got.small_slab, lz.small_slab, small_bytes(&got));
    for (int i = 0; i < gptj_tensor_count(&c); i++) {
        GptjTensorInfo t;
        gptj_tensor_info(&c, i, &t);
        if (t.kind != GPTJ_MATRIX)
            continue;
        size_t n = (size_t)gptj_tensor_elems(&t);
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        assert_true(a && b);
        gptj_weights_rows(&got, i, 0, t.shape[0], 0, t.shape[1], a, t.shape[1]);
        gptj_weights_rows(&lz, i, 0, t.shape[0], 0, t.shape[1], b, t.shape[1]); /* drops the pages it read */
        assert_memory_equal(a, b, n * sizeof *a);
        gptj_weights_rows(&lz, i, 3, 5, 7, 9, b, 9); /* read back from the file */
        for (int r = 0; r < 5; r++)
            assert_memory_equal(a + (size_t)(3 + r) * t.shape[1] + 7, b + r * 9, 9 * sizeof *a);
        free(a), free(b);
    }
    gptj_weights_free(&lz);
    gptj_weights_free(&ref);
    gptj_weights_free(&got);
}

/* The fp16 fast path (models/gptj_synth.c) gives the bits of the
 * definition (libm per element) for matrices and biases, over millions of
 * elements of several tensors and seeds; lazy weights give the stored
 * weights' values, row by row and in any window. */
static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void test_synth_f16_fast_path(void **state)
{
    (void)state;
    GptjConfig c;
    IpuErr e;
    assert_int_equal(gptj_config_preset(&c, "gptj-6b", &e), 0);
    enum { N = 1 << 21 };
    uint16_t *fast = malloc(N * sizeof *fast), *exact = malloc(N * sizeof *exact);
    assert_true(fast && exact);
    static const int tensors[] = {3, 7 + 10 * 17, 8 + 10 * 27}; /* q_proj of layer 0, fc_in of 17, its bias of 27 */
    double t_fast = 0, t_exact = 0;
    for (int k = 0; k < 3; k++) {
        GptjTensorInfo t;
        gptj_tensor_info(&c, tensors[k], &t);
        uint64_t first = (uint64_t)k * 123456789u % (gptj_tensor_elems(&t) - N);
        double t0 = now_s();
        gptj_synth_fill(1 + (uint64_t)k, &t, first, N, ST_F16, fast);
        double t1 = now_s();
        gptj_synth_fill_f16_exact(1 + (uint64_t)k, &t, first, N, exact);
        t_fast += t1 - t0, t_exact += now_s() - t1;
        for (size_t i = 0; i < N; i++)
            if (fast[i] != exact[i])
                fail_msg("tensor %s element %llu: fast %04x, exact %04x", t.name,
                         (unsigned long long)(first + i), fast[i], exact[i]);
    }
    print_message("synthetic fp16: fast %.1f ns/element, exact %.1f ns/element\n", 1e9 * t_fast / (3.0 * N),
                  1e9 * t_exact / (3.0 * N));
    free(fast), free(exact);
    /* lazy weights: the stored ones' values, any window */
    GptjConfig m = micro();
    for (int f16 = 0; f16 < 2; f16++) {
        GptjDtype wd = f16 ? GPTJ_F16 : GPTJ_F32;
        GptjWeights st, lz;
        assert_int_equal(gptj_weights_synth(&st, &m, wd, 3, &e), 0);
        assert_int_equal(gptj_weights_synth_lazy(&lz, &m, wd, 3, &e), 0);
        assert_null(lz.matrix_slab);
        assert_memory_equal(st.small_slab, lz.small_slab, small_bytes(&st));
        int idx = 1 + 10 + 6; /* layer 1's fc_in: (n_inner, n_embd) */
        GptjTensorInfo t;
        gptj_tensor_info(&m, idx, &t);
        float a[64 * 64], b[64 * 64];
        gptj_weights_rows(&st, idx, 5, 20, 7, 40, a, 64);
        gptj_weights_rows(&lz, idx, 5, 20, 7, 40, b, 64);
        for (int r = 0; r < 20; r++)
            for (int col = 0; col < 40; col++) {
                uint64_t at = (uint64_t)(5 + r) * (uint64_t)t.shape[1] + 7 + (uint64_t)col;
                const void *fc = st.h[1].fc_in;
                float want = f16 ? fp16_to_f32(((const uint16_t *)fc)[at]) : ((const float *)fc)[at];
                assert_true(a[r * 64 + col] == want && b[r * 64 + col] == want);
            }
        gptj_weights_free(&st);
        gptj_weights_free(&lz);
    }
}

static void test_synth_load_roundtrip(void **state)
{
    (void)state;
    roundtrip(ST_F32, GPTJ_F32, 1ull << 30, 1);
    roundtrip(ST_F16, GPTJ_F16, 1ull << 30, 1);
    roundtrip(ST_F32, GPTJ_F16, 1ull << 30, 1); /* rounded to fp16 as they load */
    roundtrip(ST_F32, GPTJ_F32, 100000, 8); /* ~390 KB in <= 100 KB shards; wte and lm_head (131 KB) alone */
}

static int fill_synth(void *ctx, int index, void *dst, uint64_t n_bytes, IpuErr *e)
{
    (void)e;
    const GptjConfig *c = ctx;
    GptjTensorInfo t;
    gptj_tensor_info(c, index, &t);
    gptj_synth_fill(3, &t, 0, n_bytes / 4, ST_F32, dst);
    return 0;
}

/* Writes a micro checkpoint from the table plus extras; poison (if >= 0)
 * makes that tensor's element 5 NaN; skip (if >= 0) leaves it out. */
static const char *write_ckpt(const char *name, const StWriteTensor *extra, int n_extra, int poison, int skip)
{
    static char dir[400];
    GptjConfig c = micro();
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0777);
    int n = gptj_tensor_count(&c);
    StWriteTensor *wt = calloc((size_t)(n + n_extra), sizeof *wt);
    GptjTensorInfo *info = calloc((size_t)n, sizeof *info);
    float **bufs = calloc((size_t)n, sizeof *bufs);
    int k = 0;
    for (int i = 0; i < n; i++) {
        gptj_tensor_info(&c, i, &info[i]);
        if (i == skip)
            continue;
        uint64_t ne = gptj_tensor_elems(&info[i]);
        bufs[i] = malloc(ne * 4);
        gptj_synth_fill(3, &info[i], 0, ne, ST_F32, bufs[i]);
        if (i == poison)
            bufs[i][5] = NAN;
        wt[k++] = (StWriteTensor){info[i].name, ST_F32, info[i].ndim, {info[i].shape[0], info[i].shape[1]}, bufs[i]};
    }
    for (int i = 0; i < n_extra; i++)
        wt[k++] = extra[i];
    char path[500];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    IpuErr e;
    assert_int_equal(st_write(path, wt, k, fill_synth, &c, &e), 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(gptj_config_write_hf(&c, path, &e), 0);
    for (int i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(info);
    free(wt);
    return dir;
}

static void test_load_hf_extras_and_errors(void **state)
{
    (void)state;
    static const uint8_t mask[16] = {1};
    static const float masked = -1e9f;
    static const float junk[2] = {0};
    StWriteTensor extra[3] = {
        {"transformer.h.0.attn.bias", ST_BOOL, 4, {1, 1, 4, 4}, mask},
        {"transformer.h.1.attn.masked_bias", ST_F32, 0, {0}, &masked},
        {"transformer.h.0.attn.rotary.inv_freq", ST_F32, 1, {2}, junk},
    };
    IpuErr e;
    GptjWeights w;
    const char *dir = write_ckpt("hf", extra, 3, -1, -1);
    if (gptj_weights_load(&w, NULL, dir, GPTJ_F32, 0, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(w.n_warnings, 1); /* the buffers are ignored by name, the unknown one reported */
    assert_non_null(strstr(w.warnings[0], "unknown tensor 'transformer.h.0.attn.rotary.inv_freq'"));
    GptjTensorInfo t;
    gptj_tensor_info(&w.cfg, 4, &t);
    assert_true(((float *)w.h[0].k_proj)[9] == gptj_synth_value(3, &t, 9));
    gptj_weights_free(&w);
    assert_int_equal(gptj_weights_load(&w, NULL, dir, GPTJ_F32, 1, &e), -1);
    assert_non_null(strstr(e.msg, "model.safetensors: unknown tensor 'transformer.h.0.attn.rotary.inv_freq'"));
    if (gptj_weights_load_lazy(&w, NULL, dir, GPTJ_F32, 0, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(w.n_warnings, 1);
    float k9;
    gptj_weights_rows(&w, 4, 0, 1, 9, 1, &k9, 1);
    assert_true(k9 == gptj_synth_value(3, &t, 9));
    gptj_weights_free(&w);
    assert_int_equal(gptj_weights_load_lazy(&w, NULL, dir, GPTJ_F32, 1, &e), -1);

    dir = write_ckpt("nan", NULL, 0, 7, -1);
    assert_int_equal(gptj_weights_load(&w, NULL, dir, GPTJ_F16, 0, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'transformer.h.0.mlp.fc_in.weight': value nan at index 5 is non-finite"));
    assert_int_equal(gptj_weights_load(&w, NULL, dir, GPTJ_F32, 0, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'transformer.h.0.mlp.fc_in.weight': non-finite value nan at index 5"));
    assert_int_equal(gptj_weights_load_lazy(&w, NULL, dir, GPTJ_F16, 0, &e), -1); /* lazy checks every matrix too */
    assert_non_null(strstr(e.msg, "tensor 'transformer.h.0.mlp.fc_in.weight': value nan at index 5 is non-finite"));
    assert_null(w.ck);
    /* checking without values passes; scanning the values finds the NaN */
    assert_int_equal(gptj_checkpoint_check(&w, NULL, dir, GPTJ_F32, 1, 0, &e), 0);
    assert_int_equal(w.cfg.n_embd, 64);
    assert_null(w.matrix_slab);
    gptj_weights_free(&w);
    assert_int_equal(gptj_checkpoint_check(&w, NULL, dir, GPTJ_F32, 1, 1, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'transformer.h.0.mlp.fc_in.weight': non-finite value nan at index 5"));

    dir = write_ckpt("missing", NULL, 0, -1, 4);
    assert_int_equal(gptj_weights_load(&w, NULL, dir, GPTJ_F32, 0, &e), -1);
    assert_non_null(strstr(e.msg, "/missing: required tensor 'transformer.h.0.attn.k_proj.weight' missing"));

    /* a config that disagrees with the checkpoint's shapes */
    GptjConfig c = micro();
    c.n_inner = 128;
    dir = write_ckpt("shape", NULL, 0, -1, -1);
    assert_int_equal(gptj_weights_load(&w, &c, dir, GPTJ_F32, 0, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'transformer.h.0.mlp.fc_in.weight': shape [256, 64], expected [128, 64]"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_table),
        cmocka_unit_test(test_synth_deterministic),
        cmocka_unit_test(test_synth_f16_fast_path),
        cmocka_unit_test(test_synth_load_roundtrip),
        cmocka_unit_test(test_load_hf_extras_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
