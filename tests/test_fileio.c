/* test_fileio.c - sim/base/fileio: bounded reads, atomic files and folders. A
 * full disk is simulated with RLIMIT_FSIZE (SIGXFSZ ignored, so a write past
 * the limit fails with EFBIG): nothing half-written may appear, and an
 * earlier good output must survive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "models/gptj_config.h"
#include "models/gptj_weights.h"
#include "base/fileio.h"
#include "sim/trace.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    signal(SIGXFSZ, SIG_IGN);
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_fileio_");
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

static const char *tpath(const char *name)
{
    static char path[2][400];
    static int k;
    k ^= 1;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The text of path (at most 4 KiB), or "" when it does not exist. */
static const char *get(const char *path)
{
    static char buf[4096];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

/* Files bigger than bytes fail to write (EFBIG) until fsize_unlimit. */
static struct rlimit saved_limit;
static void fsize_limit(rlim_t bytes)
{
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    struct rlimit r = saved_limit;
    r.rlim_cur = bytes;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &r), 0);
}
static void fsize_unlimit(void) { assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved_limit), 0); }

static void test_read(void **state)
{
    (void)state;
    char *text;
    size_t len;
    IpuErr e;
    put(tpath("a.txt"), "hello");
    assert_int_equal(fileio_read(tpath("a.txt"), "thing", 5, &text, &len, &e), 0);
    assert_int_equal(len, 5);
    assert_string_equal(text, "hello");
    free(text);
    assert_int_equal(fileio_read(tpath("a.txt"), "thing", 4, &text, &len, &e), -1);
    assert_null(text);
    assert_non_null(strstr(e.msg, "thing '"));
    assert_non_null(strstr(e.msg, "a.txt': 5 bytes, more than the limit of 4 bytes"));
    assert_int_equal(fileio_read(tmpdir, "scenario", 100, &text, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "not a regular file"));
    assert_int_equal(fileio_read("/dev/zero", "arch file", 100, &text, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "arch file '/dev/zero': not a regular file"));
    assert_int_equal(fileio_read(tpath("missing"), "scenario", 100, &text, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "cannot open: No such file or directory"));
    assert_int_equal(mkfifo(tpath("fifo"), 0600), 0); /* opening must not block */
    assert_int_equal(fileio_read(tpath("fifo"), "scenario", 100, &text, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "not a regular file"));
}

static void test_write_file(void **state)
{
    (void)state;
    IpuErr e;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/wf", tmpdir);
    assert_int_equal(mkdir(dir, 0777), 0);
    char path[500];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    assert_int_equal(fileio_write(path, "good\n", 5, &e), 0);
    assert_string_equal(get(path), "good\n");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    mode_t um = umask(0);
    umask(um);
    assert_int_equal(st.st_mode & 0777, 0666 & ~um); /* 0644 under the usual umask 022 */
    /* a write that fails midway: the error has the reason, the old file stays, no temp file */
    static char big[200000];
    memset(big, 'x', sizeof big);
    fsize_limit(65536);
    int rv = fileio_write(path, big, sizeof big, &e);
    fsize_unlimit();
    assert_int_equal(rv, -1);
    assert_non_null(strstr(e.msg, "out.txt': write error: File too large"));
    assert_string_equal(get(path), "good\n");
    assert_string_equal(tu_listing(dir), "out.txt");
    /* split open / close / commit: nothing at the target until commit */
    FileioFile af;
    snprintf(path, sizeof path, "%s/staged.txt", dir);
    assert_int_equal(fileio_file_open(&af, path, &e), 0);
    fputs("staged", af.f);
    assert_int_equal(fileio_file_close(&af, &e), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(fileio_file_commit(&af, &e), 0);
    assert_string_equal(get(path), "staged");
    assert_int_equal(fileio_file_open(&af, path, &e), 0);
    fputs("dropped", af.f);
    fileio_file_abort(&af);
    fileio_file_abort(&af); /* twice is harmless */
    assert_string_equal(get(path), "staged");
    assert_string_equal(tu_listing(dir), "out.txt staged.txt");
    /* bad names */
    snprintf(path, sizeof path, "%s/no/such/dir/x.txt", dir);
    assert_int_equal(fileio_write(path, "x", 1, &e), -1);
    assert_non_null(strstr(e.msg, "cannot create a temp file beside it: No such file or directory"));
    assert_int_equal(fileio_write(dir, "x", 1, &e), -1); /* a folder as the target */
    /* "cannot create directory" carries the reason (issue 12) */
    snprintf(path, sizeof path, "%s/out.txt/sub/deeper", dir);
    assert_int_equal(fileio_mkdirs(path, &e), -1);
    assert_non_null(strstr(e.msg, "cannot create directory"));
    assert_non_null(strstr(e.msg, "Not a directory"));
    assert_string_equal(tu_listing(dir), "out.txt staged.txt");
}

/* Files are 0666 and folders 0777 less the umask, as any file the user
 * creates (mkstemp's 0600 and mkdtemp's 0700 are not). */
static void test_modes_follow_umask(void **state)
{
    (void)state;
    static const mode_t masks[] = {022, 077, 002, 027};
    IpuErr e;
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        char file[500], dir[500], inner[600];
        snprintf(file, sizeof file, "%s/mode-%zu.txt", tmpdir, i);
        snprintf(dir, sizeof dir, "%s/mode-%zu.d", tmpdir, i);
        mode_t old = umask(masks[i]);
        FileioDir d;
        int rv = fileio_write(file, "m", 1, &e);
        if (!rv && !(rv = fileio_dir_begin(&d, dir, &e))) {
            snprintf(inner, sizeof inner, "%s/report.json", d.tmp);
            rv = fileio_write(inner, "{}", 2, &e) || fileio_dir_commit(&d, NULL, &e) ? -1 : 0;
        }
        umask(old);
        if (rv)
            fail_msg("umask %03o: %s", (unsigned)masks[i], e.msg);
        struct stat st;
        snprintf(inner, sizeof inner, "%s/report.json", dir);
        assert_int_equal(stat(file, &st), 0);
        if ((st.st_mode & 0777) != (0666 & ~masks[i]))
            fail_msg("umask %03o: file mode %03o, want %03o", (unsigned)masks[i], (unsigned)(st.st_mode & 0777),
                     (unsigned)(0666 & ~masks[i]));
        assert_int_equal(stat(inner, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0666 & ~masks[i]);
        assert_int_equal(stat(dir, &st), 0);
        if ((st.st_mode & 0777) != (0777 & ~masks[i]))
            fail_msg("umask %03o: folder mode %03o, want %03o", (unsigned)masks[i], (unsigned)(st.st_mode & 0777),
                     (unsigned)(0777 & ~masks[i]));
    }
}

static const char *const owned[] = {"report.*", "plot-*.png", NULL};

/* Builds dir with the given files through FileioDir; fail_at >= 0 makes the
 * fail_at'th file's write fail (too large), aborting. Returns 0 or -1. */
static int build_dir(const char *dir, const char *const *names, int fail_at, IpuErr *e)
{
    FileioDir d;
    if (fileio_dir_begin(&d, dir, e))
        return -1;
    for (int i = 0; names[i]; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", d.tmp, names[i]);
        static char big[100000];
        memset(big, 'y', sizeof big);
        if (i == fail_at)
            fsize_limit(4096);
        int rv = i == fail_at ? fileio_write(p, big, sizeof big, e) : fileio_write(p, names[i], strlen(names[i]), e);
        if (i == fail_at)
            fsize_unlimit();
        if (rv) {
            fileio_dir_abort(&d);
            return -1;
        }
    }
    if (fileio_dir_commit(&d, owned, e)) {
        fileio_dir_abort(&d);
        return -1;
    }
    return 0;
}

static void test_write_dir(void **state)
{
    (void)state;
    IpuErr e;
    char base[400], dir[500];
    snprintf(base, sizeof base, "%s/wd", tmpdir);
    snprintf(dir, sizeof dir, "%s/out", base); /* parents are made */
    const char *first[] = {"report.json", "report.csv", "plot-a.png", "plot-b.png", NULL};
    if (build_dir(dir, first, -1, &e))
        fail_msg("%s", e.msg);
    assert_string_equal(tu_listing(dir), "plot-a.png plot-b.png report.csv report.json");
    assert_string_equal(tu_listing(base), "out");
    /* a failure midway: the earlier output is intact, no temp folder left */
    const char *second[] = {"report.json", "report.csv", "plot-a.png", NULL};
    assert_int_equal(build_dir(dir, second, 1, &e), -1);
    assert_non_null(strstr(e.msg, "File too large"));
    assert_string_equal(tu_listing(dir), "plot-a.png plot-b.png report.csv report.json");
    assert_string_equal(get(tpath("wd/out/report.json")), "report.json");
    assert_string_equal(tu_listing(base), "out");
    /* success over an output of owned files only: swapped whole, stale plot-b gone */
    if (build_dir(dir, second, -1, &e))
        fail_msg("%s", e.msg);
    assert_string_equal(tu_listing(dir), "plot-a.png report.csv report.json");
    assert_string_equal(tu_listing(base), "out");
    /* a folder holding a file of the user's: kept, owned files replaced, stale ones removed */
    put(tpath("wd/out/notes.txt"), "mine");
    const char *third[] = {"report.json", NULL};
    put(tpath("wd/out/report.json"), "old");
    if (build_dir(dir, third, -1, &e))
        fail_msg("%s", e.msg);
    assert_string_equal(tu_listing(dir), "notes.txt report.json");
    assert_string_equal(get(tpath("wd/out/report.json")), "report.json");
    assert_string_equal(get(tpath("wd/out/notes.txt")), "mine");
    assert_string_equal(tu_listing(base), "out");
    /* a link to a folder: the folder is filled, the link stays */
    char real[500], link[500];
    snprintf(real, sizeof real, "%s/real", base);
    snprintf(link, sizeof link, "%s/link", base);
    assert_int_equal(mkdir(real, 0777), 0);
    assert_int_equal(symlink("real", link), 0);
    if (build_dir(link, third, -1, &e))
        fail_msg("%s", e.msg);
    assert_string_equal(tu_listing(real), "report.json");
    assert_int_equal(unlink(link), 0);
    assert_int_equal(unlink(tpath("wd/real/report.json")), 0);
    assert_int_equal(rmdir(real), 0);
    /* bad names: a file where the folder should be, '.', '..', '/' */
    put(tpath("wd/afile"), "x");
    snprintf(dir, sizeof dir, "%s/afile", base);
    assert_int_equal(build_dir(dir, third, -1, &e), -1);
    assert_non_null(strstr(e.msg, "exists and is not a folder"));
    const char *bad[] = {".", "..", "/", "", "a/.."};
    FileioDir d;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(fileio_dir_begin(&d, bad[i], &e), -1);
        assert_null(d.tmp);
    }
    assert_string_equal(tu_listing(base), "afile out");
}

/* The writers on a full disk: a trace, a config.json, a synthetic checkpoint. */
static void test_writers_fail_whole(void **state)
{
    (void)state;
    IpuErr e;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/writers", tmpdir);
    assert_int_equal(mkdir(dir, 0777), 0);
    Trace *t = trace_create(1e9, 0);
    for (int i = 0; i < 5000; i++)
        trace_add(t, 0, 0, "superstep", "compute", (uint64_t)i * 10, 10, 0);
    char path[500];
    snprintf(path, sizeof path, "%s/trace.json", dir);
    fsize_limit(8192);
    int rv = trace_write(t, path, &e);
    fsize_unlimit();
    assert_int_equal(rv, -1);
    assert_non_null(strstr(e.msg, "trace"));
    assert_non_null(strstr(e.msg, "File too large"));
    assert_string_equal(tu_listing(dir), "");
    assert_int_equal(trace_write(t, path, &e), 0);
    trace_destroy(t);
    /* a synthetic checkpoint, sharded: a failure leaves the earlier one whole */
    GptjConfig c;
    assert_int_equal(gptj_config_preset(&c, "gptj-micro", &e), 0);
    char ck[500];
    snprintf(ck, sizeof ck, "%s/ckpt", dir);
    int shards = 0;
    if (gptj_synth_write(&c, 1, ST_F32, ck, 200000, &shards, NULL, NULL, &e))
        fail_msg("%s", e.msg);
    assert_true(shards > 2);
    const char *before = tu_listing(ck);
    char was[2048];
    snprintf(was, sizeof was, "%s", before);
    fsize_limit(100000);
    rv = gptj_synth_write(&c, 2, ST_F32, ck, 200000, &shards, NULL, NULL, &e);
    fsize_unlimit();
    assert_int_equal(rv, -1);
    assert_non_null(strstr(e.msg, "File too large"));
    assert_string_equal(tu_listing(ck), was);
    assert_string_equal(tu_listing(dir), "ckpt trace.json");
    GptjWeights w, ref;
    if (gptj_weights_load(&w, NULL, ck, GPTJ_F32, 1, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(gptj_weights_synth(&ref, &c, GPTJ_F32, 1, &e), 0); /* still seed 1 */
    assert_memory_equal(w.matrix_slab, ref.matrix_slab, gptj_config_n_matrix_params(&c) * 4);
    gptj_weights_free(&w);
    gptj_weights_free(&ref);
    /* rewritten as one file: the old shards and index go, or the loader would read them */
    if (gptj_synth_write(&c, 3, ST_F32, ck, 1u << 30, &shards, NULL, NULL, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(shards, 1);
    assert_string_equal(tu_listing(ck), "config.json model.safetensors");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_write_file),
        cmocka_unit_test(test_write_dir),
        cmocka_unit_test(test_modes_follow_umask),
        cmocka_unit_test(test_writers_fail_whole),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
