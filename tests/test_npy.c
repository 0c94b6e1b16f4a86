/* test_npy.c - models/npy: the .npy v1.0 header as NumPy writes it (magic,
 * version, length, dict, 64-byte alignment, the 1-tuple's comma), the data
 * bytes little-endian in C order, reading back, the reader's errors, and
 * atomic writing (a full disk, simulated with RLIMIT_FSIZE, leaves an
 * earlier file as it was and no temp file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tests/testutil.h"
#include "models/npy.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    signal(SIGXFSZ, SIG_IGN);
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_npy_");
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

static const char *tpath(const char *name)
{
    static char p[2][512];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* The whole file (malloc'ed), its length in *len. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(1 << 20);
    assert_non_null(b);
    *len = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static void test_header(void **state)
{
    (void)state;
    char h[256];
    uint64_t s2[2] = {2, 50400}, s1[1] = {5}, s3[3] = {1, 6, 512};
    size_t n = npy_header_f32(h, sizeof h, s2, 2);
    assert_int_equal(n, 128); /* 10 + a dict of 70 characters + '\n', padded to a multiple of 64 */
    assert_memory_equal(h, "\x93NUMPY\x01\x00", 8);
    assert_int_equal((unsigned char)h[8] | (unsigned char)h[9] << 8, n - 10);
    const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 50400), }";
    assert_memory_equal(h + 10, dict, strlen(dict));
    for (size_t i = 10 + strlen(dict); i + 1 < n; i++)
        assert_int_equal(h[i], ' ');
    assert_int_equal(h[n - 1], '\n');
    n = npy_header_f32(h, sizeof h, s1, 1);
    assert_int_equal(n % NPY_ALIGN, 0);
    assert_non_null(strstr(h + 10, "'shape': (5,), }")); /* a 1-tuple keeps its comma, as Python prints it */
    n = npy_header_f32(h, sizeof h, s3, 3);
    assert_int_equal(n % NPY_ALIGN, 0);
    assert_non_null(strstr(h + 10, "'shape': (1, 6, 512), }"));
    assert_int_equal(npy_header_f32(h, sizeof h, s3, 0), 0);
    assert_int_equal(npy_header_f32(h, sizeof h, s3, NPY_MAX_DIMS + 1), 0);
    assert_int_equal(npy_header_f32(h, 64, s2, 2), 0); /* too small a buffer */
}

static void test_write_read(void **state)
{
    (void)state;
    enum { B = 2, P = 3, V = 5 };
    float v[B * P * V];
    for (int i = 0; i < B * P * V; i++)
        v[i] = (float)i * 0.25f - 3.0f;
    v[7] = -0.0f, v[8] = INFINITY;
    uint64_t shape[3] = {B, P, V};
    IpuErr e;
    assert_int_equal(npy_write_f32(tpath("a.npy"), v, shape, 3, &e), 0);
    size_t len;
    unsigned char *b = slurp(tpath("a.npy"), &len);
    assert_int_equal(len, 128 + sizeof v); /* the header, then the values and nothing else */
    for (int i = 0; i < B * P * V; i++) { /* little-endian fp32, C order: element (b, p, v) at (b * P + p) * V + v */
        uint32_t u;
        memcpy(&u, &v[i], 4);
        const unsigned char *q = b + 128 + 4 * i;
        assert_int_equal(q[0] | q[1] << 8 | q[2] << 16 | (uint32_t)q[3] << 24, u);
    }
    free(b);
    float *got;
    uint64_t gs[NPY_MAX_DIMS];
    int nd;
    assert_int_equal(npy_read_f32(tpath("a.npy"), 1 << 20, &got, gs, &nd, &e), 0);
    assert_int_equal(nd, 3);
    assert_int_equal(gs[0], B), assert_int_equal(gs[1], P), assert_int_equal(gs[2], V);
    assert_memory_equal(got, v, sizeof v); /* bit for bit: -0 and inf too */
    free(got);
    /* a file as NumPy 1.x writes it (header padded to 16 bytes, not 64) reads too */
    FILE *f = fopen(tpath("np.npy"), "wb");
    const char h[] = "\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
                     "            \n";
    fwrite(h, 1, sizeof h - 1, f);
    fwrite(v, 4, 2, f);
    fclose(f);
    assert_int_equal((sizeof h - 1) % 16, 0);
    assert_int_equal(npy_read_f32(tpath("np.npy"), 1 << 20, &got, gs, &nd, &e), 0);
    assert_int_equal(nd, 1);
    assert_int_equal(gs[0], 2);
    assert_memory_equal(got, v, 8);
    free(got);
}

/* Writes bytes to name and expects npy_read_f32 to fail with want in the message. */
static void bad_file(const char *name, const void *bytes, size_t n, const char *want)
{
    FILE *f = fopen(tpath(name), "wb");
    assert_non_null(f);
    fwrite(bytes, 1, n, f);
    fclose(f);
    float *d = (float *)1;
    uint64_t s[NPY_MAX_DIMS];
    int nd;
    IpuErr e;
    assert_int_equal(npy_read_f32(tpath(name), 1 << 20, &d, s, &nd, &e), -1);
    assert_null(d);
    if (!strstr(e.msg, want) || !strstr(e.msg, name))
        fail_msg("%s: got '%s', want '%s'", name, e.msg, want);
}

static void test_read_errors(void **state)
{
    (void)state;
    char h[256];
    uint64_t s2[2] = {2, 3};
    size_t n = npy_header_f32(h, sizeof h, s2, 2);
    float v[6] = {0};
    char buf[512] = {0};
    memcpy(buf, h, n);
    memcpy(buf + n, v, sizeof v);
    bad_file("short.npy", buf, n + sizeof v - 4, "20 data bytes, the shape needs 6 values");
    bad_file("long.npy", buf, n + sizeof v + 4, "28 data bytes, the shape needs 6 values");
    buf[0] = 'X';
    bad_file("magic.npy", buf, n + sizeof v, "not a .npy file");
    buf[0] = h[0], buf[6] = 2;
    bad_file("v2.npy", buf, n + sizeof v, "version 2.0");
    buf[6] = 1;
    memcpy(strstr(buf + 10, "<f4"), "<f8", 3);
    bad_file("f8.npy", buf, n + sizeof v, "dtype is not '<f4'");
    memcpy(buf, h, n);
    memcpy(strstr(buf + 10, "False"), "True ", 5);
    bad_file("fortran.npy", buf, n + sizeof v, "not in C order");
    memcpy(buf, h, n);
    memcpy(strstr(buf + 10, "(2, 3)"), "[2, 3]", 6);
    bad_file("shape.npy", buf, n + sizeof v, "no shape tuple");
    memcpy(buf, h, n);
    memcpy(strstr(buf + 10, "(2, 3)"), "()    ", 6);
    bad_file("scalar.npy", buf, n + sizeof v, "no shape tuple of 1 to 8 dimensions");
    memcpy(buf, h, n);
    buf[8] = (char)0xff, buf[9] = 0x7f;
    bad_file("hlen.npy", buf, n + sizeof v, "runs past the end");
    bad_file("empty.npy", "", 0, "not a .npy file");
}

static void test_atomic(void **state)
{
    (void)state;
    float v[4096];
    for (int i = 0; i < 4096; i++)
        v[i] = (float)i;
    uint64_t s1[1] = {4096}, s2[1] = {16};
    IpuErr e;
    assert_int_equal(npy_write_f32(tpath("keep.npy"), v, s2, 1, &e), 0);
    struct rlimit old, r;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    r = old, r.rlim_cur = 4096; /* the new file cannot be written whole */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &r), 0);
    int rv = npy_write_f32(tpath("keep.npy"), v, s1, 1, &e);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rv, -1);
    assert_non_null(strstr(e.msg, "keep.npy"));
    assert_non_null(strstr(e.msg, "File too large")); /* strerror(EFBIG) */
    assert_string_equal(tu_listing(tmpdir), "keep.npy"); /* no temp file left */
    float *got;
    uint64_t gs[NPY_MAX_DIMS];
    int nd;
    assert_int_equal(npy_read_f32(tpath("keep.npy"), 1 << 20, &got, gs, &nd, &e), 0);
    assert_int_equal(gs[0], 16); /* the earlier file, as it was */
    assert_memory_equal(got, v, 16 * sizeof *v);
    free(got);
    assert_int_equal(npy_write_f32(tpath("no/such/dir.npy"), v, s2, 1, &e), -1);
    assert_non_null(strstr(e.msg, "No such file or directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
