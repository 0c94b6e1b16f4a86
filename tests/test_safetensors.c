/* test_safetensors.c - models/safetensors: a valid file and its dtype
 * conversions, every class of corrupt header with its exact error text, and
 * a sharded checkpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "models/gptj_weights.h"
#include "models/safetensors.h"
#include "base/fp16.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_st_");
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

static const char *tpath(const char *name)
{
    static char path[400];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

/* A file with header length hlen (as stored), header text, then data. */
static const char *write_raw(const char *name, uint64_t hlen, const char *header, const void *data, size_t n)
{
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    unsigned char lb[8];
    for (int i = 0; i < 8; i++)
        lb[i] = (unsigned char)(hlen >> (8 * i));
    fwrite(lb, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
    return p;
}

static const char *write_hdr(const char *name, const char *header, size_t data_bytes)
{
    static unsigned char zeros[256];
    assert_true(data_bytes <= sizeof zeros);
    return write_raw(name, strlen(header), header, zeros, data_bytes);
}

static void expect_open_error(const char *path, const char *frag)
{
    IpuErr e = {{0}};
    StCheckpoint *ck = st_open(path, &e);
    if (ck) {
        st_close(ck);
        fail_msg("opened %s, want error '%s'", path, frag);
    }
    if (!strstr(e.msg, frag) || !strstr(e.msg, path))
        fail_msg("got '%s', want '%s' naming %s", e.msg, frag, path);
}

static void test_write_read_dtypes(void **state)
{
    (void)state;
    const float a[6] = {1.0f, -2.5f, 0.1f, 3.0f, 65504.0f, -0.0f};
    const uint16_t h[4] = {0x3c00, 0xc000, 0x0001, 0x7bff}; /* 1, -2, smallest subnormal, 65504 */
    const uint16_t bf[3] = {0x3f80, 0xc040, 0x3dcd};         /* 1, -3, 0.10009765625 */
    StWriteTensor t[3] = {
        {"a", ST_F32, 2, {2, 3}, a},
        {"h", ST_F16, 1, {4}, h},
        {"bf", ST_BF16, 3, {1, 3, 1}, bf},
    };
    IpuErr e = {{0}};
    assert_int_equal(st_write(tpath("ok.safetensors"), t, 3, NULL, NULL, &e), 0);
    StCheckpoint *ck = st_open(tpath("ok.safetensors"), &e);
    assert_non_null(ck);
    assert_int_equal(ck->n_tensors, 3);
    const int64_t sa[2] = {2, 3}, sb[3] = {1, 3, 1}, sh[1] = {4};
    const StTensor *ta = st_expect(ck, "a", 2, sa, &e), *th = st_expect(ck, "h", 1, sh, &e);
    const StTensor *tb = st_expect(ck, "bf", 3, sb, &e);
    assert_non_null(ta);
    assert_non_null(th);
    assert_non_null(tb);
    assert_int_equal((uintptr_t)(ta->data - (const unsigned char *)ck->files[0].map) % 8, 0); /* data area aligned */
    float f[6];
    uint16_t o[6];
    assert_int_equal(st_read_f32(ck, ta, f, &e), 0);
    assert_memory_equal(f, a, sizeof a);
    assert_int_equal(st_read_f16(ck, ta, o, &e), 0);
    assert_int_equal(o[0], 0x3c00);
    assert_int_equal(o[1], 0xc100);
    assert_int_equal(o[2], 0x2e66); /* 0.1 rounds to nearest even */
    assert_int_equal(o[4], 0x7bff);
    assert_int_equal(o[5], 0x8000);
    assert_int_equal(st_read_f32(ck, th, f, &e), 0);
    assert_true(f[0] == 1.0f && f[1] == -2.0f && f[2] == 0x1p-24f && f[3] == 65504.0f);
    assert_int_equal(st_read_f16(ck, th, o, &e), 0);
    assert_memory_equal(o, h, sizeof h);
    assert_int_equal(st_read_f32(ck, tb, f, &e), 0);
    assert_true(f[0] == 1.0f && f[1] == -3.0f && f[2] == 0.10009765625f);
    assert_int_equal(st_read_f16(ck, tb, o, &e), 0);
    assert_int_equal(o[0], 0x3c00);
    assert_int_equal(o[1], 0xc200);
    assert_int_equal(o[2], 0x2e68); /* exact in fp16 */
    st_close(ck);
    /* no tensors at all is a valid (empty) file */
    ck = st_open(write_hdr("empty.safetensors", "{\"__metadata__\": {\"format\": \"pt\"}}", 0), &e);
    assert_non_null(ck);
    assert_int_equal(ck->n_tensors, 0);
    assert_null(st_find(ck, "a"));
    st_close(ck);
}

/* A tensor spanning many pages reads the same twice (its pages are dropped
 * from the mapping after the first read and come back from the file). */
static void test_reread_after_drop(void **state)
{
    (void)state;
    enum { N = 50000 };
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    uint16_t *h = malloc(N * sizeof *h);
    for (int i = 0; i < N; i++)
        a[i] = (float)i * 0.25f - 3.0f;
    StWriteTensor t = {"big", ST_F32, 1, {N}, a};
    IpuErr e = {{0}};
    assert_int_equal(st_write(tpath("big.safetensors"), &t, 1, NULL, NULL, &e), 0);
    StCheckpoint *ck = st_open(tpath("big.safetensors"), &e);
    assert_non_null(ck);
    const StTensor *x = st_find(ck, "big");
    assert_int_equal(st_read_f32(ck, x, b, &e), 0);
    assert_memory_equal(a, b, N * sizeof *a);
    memset(b, 0, N * sizeof *b);
    assert_int_equal(st_read_f16(ck, x, h, &e), 0);
    assert_int_equal(st_read_f32(ck, x, b, &e), 0);
    assert_memory_equal(a, b, N * sizeof *a);
    assert_int_equal(h[N - 1], fp16_from_f32(a[N - 1]));
    st_close(ck);
    free(a);
    free(b);
    free(h);
}

/* Every corrupt header is refused with a message naming file and tensor. */
static void test_corrupt_headers(void **state)
{
    (void)state;
    expect_open_error(write_raw("zero.safetensors", 0, "", "\x01\x02\x03", 3), "header length 0 not in 2..104857600");
    /* genuinely shorter than the length field */
    FILE *f = fopen(tpath("tiny.safetensors"), "wb");
    fwrite("\x10\x00\x00", 1, 3, f);
    fclose(f);
    expect_open_error(tpath("tiny.safetensors"), "truncated: 3 bytes, shorter than the 8-byte header length");
    expect_open_error(write_raw("hlen.safetensors", 1000, "{}", NULL, 0),
                      "header length 1000 past the end of the file (10 bytes)");
    expect_open_error(write_raw("hlen2.safetensors", UINT64_MAX, "{}", NULL, 0),
                      "header length 18446744073709551615 past the end of the file");
    expect_open_error(write_hdr("json.safetensors", "{\"a\": {\"dtype\": \"F32\",", 0), "header is not valid JSON");
    expect_open_error(write_hdr("notobj.safetensors", "[1,2,3]", 0), "header is not valid JSON");
    expect_open_error(write_hdr("past.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4),
                      "tensor 'a': data_offsets [0, 8] past the end of the data area (4 bytes)");
    expect_open_error(
        write_hdr("overlap.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                  12),
        "tensors 'a' and 'b' overlap in the data area");
    expect_open_error(write_hdr("rev.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4),
                      "tensor 'a': data_offsets end 0 before begin 4");
    expect_open_error(write_hdr("size.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8),
                      "tensor 'a': data_offsets span 8 bytes but dtype F32 x shape needs 12");
    expect_open_error(write_hdr("dtype.safetensors", "{\"a\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                      "tensor 'a': unknown dtype 'F17'");
    expect_open_error(
        write_hdr("ovf.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8),
        "tensor 'a': size of shape overflows 64 bits");
    expect_open_error(write_hdr("neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8),
                      "tensor 'a': shape[0] is not a non-negative integer");
    expect_open_error(write_hdr("offs.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8),
                      "tensor 'a': data_offsets must be two non-negative integers");
    expect_open_error(
        write_hdr("dup.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  8),
        "tensor 'a' defined twice");
    expect_open_error(write_hdr("meta.safetensors", "{\"__metadata__\": 3}", 0), "__metadata__ is not an object");
    /* a valid file cut short: its data area no longer holds the tensor */
    const float a[4] = {1, 2, 3, 4};
    StWriteTensor t = {"x", ST_F32, 1, {4}, a};
    IpuErr e = {{0}};
    assert_int_equal(st_write(tpath("cut.safetensors"), &t, 1, NULL, NULL, &e), 0);
    struct stat st;
    assert_int_equal(stat(tpath("cut.safetensors"), &st), 0);
    assert_int_equal(truncate(tpath("cut.safetensors"), st.st_size - 10), 0); /* 6 of 16 data bytes left */
    expect_open_error(tpath("cut.safetensors"), "tensor 'x': data_offsets [0, 16] past the end of the data area");
    expect_open_error(tpath("missing.safetensors"), "cannot open");
}

/* Checks against what the model expects, and value checks while converting. */
static void test_expect_and_values(void **state)
{
    (void)state;
    const int32_t ints[6] = {0};
    const float bad[3] = {1.0f, NAN, 2.0f};
    const float big[2] = {1.0f, 1e6f};
    const float ok[6] = {0};
    const uint16_t hinf[3] = {0x3c00, 0x0000, 0x7c00}; /* F16 +inf at index 2 */
    const uint16_t bnan[2] = {0x7fc1, 0x3f80};         /* BF16 NaN at index 0 */
    StWriteTensor t[6] = {
        {"hinf", ST_F16, 1, {3}, hinf},
        {"bnan", ST_BF16, 1, {2}, bnan},
        {"ints", ST_I32, 2, {2, 3}, ints},
        {"nan", ST_F32, 1, {3}, bad},
        {"big", ST_F32, 1, {2}, big},
        {"m", ST_F32, 2, {2, 3}, ok},
    };
    IpuErr e = {{0}};
    const char *p = tpath("expect.safetensors");
    assert_int_equal(st_write(p, t, 6, NULL, NULL, &e), 0);
    StCheckpoint *ck = st_open(p, &e);
    assert_non_null(ck);
    const int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s3[1] = {3}, s2[1] = {2};
    assert_null(st_expect(ck, "ints", 2, s23, &e));
    assert_non_null(strstr(e.msg, "expect.safetensors: tensor 'ints': dtype I32, expected F32, F16 or BF16"));
    assert_null(st_expect(ck, "m", 2, s32, &e));
    assert_non_null(strstr(e.msg, "expect.safetensors: tensor 'm': shape [2, 3], expected [3, 2]"));
    assert_null(st_expect(ck, "m", 1, s3, &e));
    assert_non_null(strstr(e.msg, "shape [2, 3], expected [3]"));
    assert_null(st_expect(ck, "lm_head.weight", 2, s23, &e));
    assert_non_null(strstr(e.msg, "expect.safetensors: required tensor 'lm_head.weight' missing"));
    float f[6];
    uint16_t h[6];
    const StTensor *tn = st_expect(ck, "nan", 1, s3, &e);
    assert_non_null(tn);
    assert_int_equal(st_read_f32(ck, tn, f, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'nan': non-finite value nan at index 1"));
    const StTensor *tb = st_expect(ck, "big", 1, s2, &e);
    assert_int_equal(st_read_f32(ck, tb, f, &e), 0);
    assert_int_equal(st_read_f16(ck, tb, h, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'big': value 1e+06 at index 1 is out of range in fp16"));
    assert_int_equal(st_read_f16(ck, st_find(ck, "hinf"), h, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'hinf': value inf at index 2 is non-finite"));
    assert_int_equal(st_read_f32(ck, st_find(ck, "hinf"), f, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'hinf': non-finite value inf at index 2"));
    assert_int_equal(st_read_f16(ck, st_find(ck, "bnan"), h, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'bnan': value nan at index 0 is non-finite"));
    assert_int_equal(st_read_f32(ck, st_find(ck, "ints"), f, &e), -1);
    assert_non_null(strstr(e.msg, "tensor 'ints': dtype I32 cannot convert to float"));
    st_close(ck);
    st_close(NULL);
}

static int fill_index(void *ctx, int index, void *dst, uint64_t n_bytes, IpuErr *e)
{
    (void)ctx;
    (void)e;
    float *f = dst;
    for (uint64_t i = 0; i < n_bytes / 4; i++)
        f[i] = (float)(index * 1000 + (int)i);
    return 0;
}

/* Sharded: writes five 64-byte tensors with 150-byte shards, reads them back. */
static void test_sharded(void **state)
{
    (void)state;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
    assert_int_equal(mkdir(dir, 0777), 0);
    StWriteTensor t[5];
    const char *names[5] = {"t0", "t1", "t2", "t3", "t4"};
    for (int i = 0; i < 5; i++)
        t[i] = (StWriteTensor){names[i], ST_F32, 2, {4, 4}, NULL};
    IpuErr e = {{0}};
    int ns = 0;
    assert_int_equal(st_write_model(dir, t, 5, 150, fill_index, NULL, &ns, &e), 0);
    assert_int_equal(ns, 3); /* 2 + 2 + 1 tensors */
    char p[500];
    snprintf(p, sizeof p, "%s/model-00003-of-00003.safetensors", dir);
    assert_int_equal(access(p, R_OK), 0);
    StCheckpoint *ck = st_open(dir, &e);
    if (!ck)
        fail_msg("%s", e.msg);
    assert_int_equal(ck->n_files, 3);
    assert_int_equal(ck->n_tensors, 5);
    for (int i = 0; i < 5; i++) {
        const StTensor *x = st_find(ck, names[i]);
        assert_non_null(x);
        assert_int_equal(x->file, i / 2);
        float f[16];
        assert_int_equal(st_read_f32(ck, x, f, &e), 0);
        assert_true(f[0] == (float)(i * 1000) && f[15] == (float)(i * 1000 + 15));
    }
    st_close(ck);
    /* an index whose map disagrees with the shards */
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(p, "w");
    fputs("{\"weight_map\": {\"t0\": \"model-00001-of-00003.safetensors\", \"t1\": \"model-00002-of-00003.safetensors\"}}",
          f);
    fclose(f);
    ck = st_open(dir, &e);
    assert_null(ck);
    assert_non_null(strstr(e.msg, "index.json: tensor 't1' in shard model-00001-of-00003.safetensors is not mapped"));
    f = fopen(p, "w");
    fputs("{\"weight_map\": {\"t0\": \"../evil.safetensors\"}}", f);
    fclose(f);
    assert_null(st_open(p, &e));
    assert_non_null(strstr(e.msg, "shard name '../evil.safetensors' must be a .safetensors file in the same directory"));
    f = fopen(p, "w");
    fputs("{\"weight_map\": {\"t0\": \"model-00001-of-00003.safetensors\", \"t1\": \"model-00001-of-00003.safetensors\","
          " \"zz\": \"model-00001-of-00003.safetensors\"}}",
          f);
    fclose(f);
    assert_null(st_open(p, &e));
    assert_non_null(strstr(e.msg, "tensor 'zz' listed in weight_map is missing from shard"));
    f = fopen(p, "w");
    fputs("{\"weights\": {}}", f);
    fclose(f);
    assert_null(st_open(p, &e));
    assert_non_null(strstr(e.msg, "not valid JSON with a \"weight_map\" object"));
}

/* issue 12: an index with an empty weight_map reached bsearch with a NULL
 * table (UBSan); a checkpoint with no tensors must answer st_find with NULL. */
static void test_empty_checkpoints(void **state)
{
    (void)state;
    char dir[400], p[500];
    snprintf(dir, sizeof dir, "%s/empty_map", tmpdir);
    assert_int_equal(mkdir(dir, 0777), 0);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(p, "w");
    fputs("{\"metadata\": {}, \"weight_map\": {}}", f);
    fclose(f);
    IpuErr e = {{0}};
    assert_null(st_open(dir, &e));
    assert_non_null(strstr(e.msg, "\"weight_map\" lists no tensors"));
    GptjWeights w;
    assert_int_equal(gptj_weights_load(&w, NULL, dir, GPTJ_F32, 1, &e), -1);
    /* a single file whose header holds no tensor opens; every lookup misses */
    const char *one = write_hdr("none.safetensors", "{\"__metadata__\": {}}", 0);
    StCheckpoint *ck = st_open(one, &e);
    if (!ck)
        fail_msg("%s", e.msg);
    assert_int_equal(ck->n_tensors, 0);
    assert_null(st_find(ck, "anything"));
    int64_t shape[1] = {4};
    assert_null(st_expect(ck, "anything", 1, shape, &e));
    assert_non_null(strstr(e.msg, "required tensor 'anything' missing"));
    st_close(ck);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_dtypes),
        cmocka_unit_test(test_reread_after_drop),
        cmocka_unit_test(test_corrupt_headers),
        cmocka_unit_test(test_expect_and_values),
        cmocka_unit_test(test_sharded),
        cmocka_unit_test(test_empty_checkpoints),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
