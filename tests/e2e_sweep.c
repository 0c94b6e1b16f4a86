/* e2e_sweep.c - `ipusim sweep` as a user runs it: its rows carry the same
 * figures as separate `ipusim run --json` runs of each point; a failing
 * point is an error row and the others complete; --resume after a kill
 * (results cut mid-row) and after a SIGKILL gives the same files as an
 * uninterrupted sweep; a different sweep is refused; bad definitions fail
 * before any file is written; 2 MPI ranks give byte-identical files (when
 * the build has MPI; skipped only when mpirun is absent). gptj-micro. */
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
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/fileio.h"
#include "tests/testutil.h"

#define BASE "--set model=gptj-micro --set arch=pod4 --set arch.tiles_per_chip=64 --set chips=2 " \
             "--set prompt_len=8 --set gen_tokens=3 --set formats=fp16,q4g:16 "
#define VARY "--vary batch=1,2 --vary arch.stream.bandwidth_bytes_per_s=5e9:20e9:x2 "

static char out[1 << 16];

static char *slurp(const char *path)
{
    char *t = NULL;
    IpuErr e;
    if (fileio_read(path, "test file", 1 << 26, &t, NULL, &e))
        fail_msg("%s", e.msg);
    return t;
}

static void same_file(const char *a, const char *b)
{
    char *x = slurp(a), *y = slurp(b);
    assert_string_equal(x, y);
    free(x), free(y);
}

static void sweep(const char *dir, const char *args, int want)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "sweep --quiet --no-plot " BASE VARY "%s --out '%s'", args, dir);
    int rc = tu_ipusim(NULL, cmd, 1, out, sizeof out);
    if (rc != want)
        fail_msg("exit %d, wanted %d: %s", rc, want, out);
}

/* Every row's figures against `ipusim run --json` of its point. */
static void test_rows_equal_separate_runs(void **st)
{
    (void)st;
    char dir[64], path[128];
    assert_int_equal(tu_tmpdir_create(dir, sizeof dir, "ipusim-sweep-"), 0);
    strcat(dir, "/s");
    sweep(dir, "", 0);
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    char *rows = slurp(path);
    static const char *const nums[] = {"ttft_s", "tpot_s", "latency_s", "throughput_tokens_per_s",
                                       "batched_token_s", "speedup_vs_fp16", "step_bytes", "bits_per_param"};
    static const char *const json_nums[] = {"ttft_s", "tpot_s", "latency_s", "throughput_tokens_per_s",
                                            "batched_token_s", "speedup_vs_fp16", "step_bytes", "bits_per_param"};
    int nrows = 0;
    for (char *save = NULL, *line = strtok_r(rows, "\n", &save); line; line = strtok_r(NULL, "\n", &save), nrows++) {
        cJSON *r = cJSON_Parse(line);
        assert_non_null(r);
        assert_string_equal(cJSON_GetObjectItem(r, "status")->valuestring, "ok");
        char args[512];
        snprintf(args, sizeof args, "run --json --roofline " BASE "--set batch=%s --set arch.stream.bandwidth_bytes_per_s=%s",
                 cJSON_GetObjectItem(r, "batch")->valuestring,
                 cJSON_GetObjectItem(r, "arch.stream.bandwidth_bytes_per_s")->valuestring);
        assert_int_equal(tu_ipusim(NULL, args, 0, out, sizeof out), 0);
        cJSON *j = cJSON_Parse(out);
        assert_non_null(j);
        const cJSON *f = NULL, *fmts = cJSON_GetObjectItem(j, "formats");
        cJSON_ArrayForEach(f, fmts) if (!strcmp(cJSON_GetObjectItem(f, "format")->valuestring,
                                                cJSON_GetObjectItem(r, "format")->valuestring)) break;
        assert_non_null(f);
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
            double a = cJSON_GetObjectItem(r, nums[k])->valuedouble, b = cJSON_GetObjectItem(f, json_nums[k])->valuedouble;
            if (a != b)
                fail_msg("row %d %s: sweep %.17g, run %.17g", nrows, nums[k], a, b);
        }
        assert_true(cJSON_GetObjectItem(r, "mbu_frac")->valuedouble == cJSON_GetObjectItem(f, "mbu_frac")->valuedouble);
        assert_true(cJSON_GetObjectItem(r, "sram_peak_bytes")->valuedouble ==
                    cJSON_GetObjectItem(f, "sram_peak_bytes")->valuedouble);
        assert_string_equal(cJSON_GetObjectItem(r, "placement")->valuestring,
                            cJSON_GetObjectItem(f, "placement")->valuestring);
        /* the roofline columns: the decode step's point of run --roofline */
        const cJSON *rl = cJSON_GetObjectItem(j, "roofline"), *p = NULL;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(rl, "points")) if (
            !strcmp(cJSON_GetObjectItem(p, "format")->valuestring, cJSON_GetObjectItem(r, "format")->valuestring) &&
            !strcmp(cJSON_GetObjectItem(p, "step")->valuestring, "decode") &&
            !strcmp(cJSON_GetObjectItem(p, "part")->valuestring, "step")) break;
        assert_non_null(p);
        assert_true(cJSON_GetObjectItem(r, "step_flops")->valuedouble == cJSON_GetObjectItem(p, "flops")->valuedouble);
        assert_true(cJSON_GetObjectItem(r, "intensity_flops_per_byte")->valuedouble ==
                    cJSON_GetObjectItem(p, "intensity_flops_per_byte")->valuedouble);
        assert_true(cJSON_GetObjectItem(r, "achieved_flops_per_s")->valuedouble ==
                    cJSON_GetObjectItem(p, "achieved_flops_per_s")->valuedouble);
        assert_true(cJSON_GetObjectItem(r, "peak_flops_per_s")->valuedouble ==
                    cJSON_GetObjectItem(cJSON_GetObjectItem(rl, "peaks"), "compute_flops_per_s")->valuedouble);
        cJSON_Delete(j), cJSON_Delete(r);
    }
    assert_int_equal(nrows, 2 * 3 * 2);
    free(rows);
    *strrchr(dir, '/') = '\0';
    tu_tmpdir_remove(dir);
}

static void test_failing_point_is_a_row(void **st)
{
    (void)st;
    char dir[64], path[128];
    assert_int_equal(tu_tmpdir_create(dir, sizeof dir, "ipusim-sweep-"), 0);
    strcat(dir, "/s");
    /* q4g:64 does not divide micro's per-chip input axis; tiny tiles do not fit */
    sweep(dir, "--vary \"formats=fp16;q4g:64\" --vary arch.sram_bytes_per_tile=20000,600000", 0);
    snprintf(path, sizeof path, "%s/results.csv", dir);
    char *csv = slurp(path);
    int ok = 0, bad = 0;
    for (char *save = NULL, *l = strtok_r(csv, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        ok += strstr(l, ",ok,") != NULL;
        bad += strstr(l, ",error,") != NULL;
        if (strstr(l, ",600000,q4g:64,"))
            assert_non_null(strstr(l, "group size 64"));
        if (strstr(l, ",20000,fp16,"))
            assert_non_null(strstr(l, "does not fit"));
    }
    assert_int_equal(ok, 6);       /* fp16 at 600000 bytes: batch 2 x bandwidth 3 */
    assert_int_equal(bad, 18);
    free(csv);
    *strrchr(dir, '/') = '\0';
    tu_tmpdir_remove(dir);
}

/* Cuts a file to n bytes. */
static void cut(const char *path, long n) { assert_int_equal(truncate(path, n), 0); }

static void test_resume_after_kill(void **st)
{
    (void)st;
    char root[64], full[128], part[128], a[256], b[256], cmd[4096];
    assert_int_equal(tu_tmpdir_create(root, sizeof root, "ipusim-sweep-"), 0);
    snprintf(full, sizeof full, "%s/full", root);
    snprintf(part, sizeof part, "%s/part", root);
    sweep(full, "", 0);
    /* a kill mid-row: the files hold 3 rows and part of a 4th, the JSON lines fewer */
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", full, part);
    assert_int_equal(system(cmd), 0);
    snprintf(a, sizeof a, "%s/results.csv", part);
    char *csv = slurp(a);
    long off = 0;
    for (int k = 0; k < 4; k++)
        off += (long)strcspn(csv + off, "\n") + 1;
    free(csv);
    cut(a, off + 17);
    snprintf(b, sizeof b, "%s/results.jsonl", part);
    cut(b, 300);
    sweep(part, "--resume", 0);
    same_file(a, (snprintf(cmd, sizeof cmd, "%s/results.csv", full), cmd));
    same_file(b, (snprintf(cmd, sizeof cmd, "%s/results.jsonl", full), cmd));
    /* resuming a complete sweep changes nothing */
    sweep(part, "--resume", 0);
    same_file(a, (snprintf(cmd, sizeof cmd, "%s/results.csv", full), cmd));
    /* a real SIGKILL part way through a longer sweep, then --resume */
    char k1[128], k2[128];
    snprintf(k1, sizeof k1, "%s/long", root);
    snprintf(k2, sizeof k2, "%s/long-ref", root);
    const char *more = "--threads 1 --vary kv_cache=on,off --vary memory_proportion=0.3:0.6:+0.1";
    sweep(k2, more, 0);
    snprintf(cmd, sizeof cmd,
             "OMP_NUM_THREADS=1 '%s' sweep --quiet --no-plot " BASE VARY "%s --out '%s' & pid=$!; sleep 0.4; "
             "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; exit 0",
             getenv("IPUSIM_BIN"), more, k1);
    assert_int_equal(system(cmd), 0);
    snprintf(a, sizeof a, "%s/sweep.conf", k1);
    struct stat sb;
    if (stat(a, &sb) == 0) { /* started before the kill: without --resume the folder is refused */
        sweep(k1, more, 1);
        assert_non_null(strstr(out, "--resume continues it"));
    }
    sweep(k1, (snprintf(cmd, sizeof cmd, "%s --resume", more), cmd), 0);
    snprintf(a, sizeof a, "%s/results.csv", k1);
    snprintf(b, sizeof b, "%s/results.csv", k2);
    same_file(a, b);
    snprintf(a, sizeof a, "%s/results.jsonl", k1);
    snprintf(b, sizeof b, "%s/results.jsonl", k2);
    same_file(a, b);
    /* another sweep in the same folder is refused, naming the difference */
    sweep(part, "--vary kv_cache=off --resume", 1);
    assert_non_null(strstr(out, "defines another sweep"));
    tu_tmpdir_remove(root);
}

static void test_bad_definitions_write_nothing(void **st)
{
    (void)st;
    char root[64], dir[128];
    assert_int_equal(tu_tmpdir_create(root, sizeof root, "ipusim-sweep-"), 0);
    snprintf(dir, sizeof dir, "%s/s", root);
    static const char *const bad[][2] = {
        {"--vary gen_tokens=2,0", "--vary gen_tokens=0"},
        {"--vary nokey=1", "unknown key 'nokey'"},
        {"--vary seq_len=64:32:x2", "above hi"},
        {"--vary batch=4", "varied twice"},
        {"--vary prompt_len=4,5,6 --zip", "zipped keys need as many"},
        {"--set weights=synthetic", "timing mode"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sweep(dir, bad[i][0], 1);
        if (!strstr(out, bad[i][1]))
            fail_msg("'%s': '%s' lacks '%s'", bad[i][0], out, bad[i][1]);
        assert_string_equal(tu_listing(root), "");
    }
    assert_int_equal(tu_ipusim(NULL, "sweep --vary batch=1,2", 1, out, sizeof out), 2); /* no --out */
    assert_int_equal(tu_ipusim(NULL, "sweep --out x --vary batch=1 --metric nope", 1, out, sizeof out), 2);
    tu_tmpdir_remove(root);
}

static void test_plots(void **st)
{
    (void)st;
    char root[64], dir[128], cmd[4096];
    assert_int_equal(tu_tmpdir_create(root, sizeof root, "ipusim-sweep-"), 0);
    snprintf(dir, sizeof dir, "%s/s", root);
    snprintf(cmd, sizeof cmd, "sweep --quiet " BASE "--set formats=fp16,q4g:16,q4g:32 " VARY "--out '%s'", dir);
    assert_int_equal(tu_ipusim(NULL, cmd, 1, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "%s/plots", dir);
    const char *ls = tu_listing(cmd);
    assert_non_null(strstr(ls, "batched_token_s-vs-batch.gp"));
    assert_non_null(strstr(ls, "batched_token_s-vs-arch_stream_bandwidth_bytes_per_s.png"));
    assert_non_null(strstr(ls, "tradeoff.png"));
    assert_non_null(strstr(ls, "groups.png")); /* two group sizes: token time against the group size */
    assert_non_null(strstr(ls, "roofline.png"));
    snprintf(cmd, sizeof cmd, "%s/plots/groups.gp", dir);
    FILE *f = fopen(cmd, "r");
    assert_non_null(f);
    char gp[4096];
    size_t got = fread(gp, 1, sizeof gp - 1, f);
    gp[got] = '\0';
    fclose(f);
    assert_non_null(strstr(gp, "set x2tics (\"6\" 4, \"5\" 5)")); /* bits per parameter over q4g:16 and q4g:32 */
    /* the script redraws its picture, run from anywhere */
    snprintf(cmd, sizeof cmd, "cd / && rm '%s/plots/tradeoff.png' && gnuplot '%s/plots/tradeoff.gp' && test -s '%s/plots/tradeoff.png'",
             dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    tu_tmpdir_remove(root);
}

static void test_mpi_two_ranks_same_bytes(void **st)
{
    (void)st;
    const char *mpi = getenv("IPUSIM_MPI");
    if (!mpi || strcmp(mpi, "ON"))
        skip(); /* built without MPI (IPUSIM_MPI=OFF) */
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        skip(); /* scripts/setup installs openmpi-bin */
    char root[64], one[128], two[128], a[160], b[160], cmd[4096];
    assert_int_equal(tu_tmpdir_create(root, sizeof root, "ipusim-sweep-"), 0);
    snprintf(one, sizeof one, "%s/one", root);
    snprintf(two, sizeof two, "%s/two", root);
    sweep(one, "--vary kv_cache=on,off", 0);
    /* Open MPI keeps allocations of its own to the end (ompi_op_base_op_select...), which a
     * sanitizer build's leak check reports at exit: leaks are checked in every other test */
    snprintf(cmd, sizeof cmd,
             "ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\" "
             "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
             "mpirun -np 2 --oversubscribe '%s' sweep --quiet --no-plot --threads 1 " BASE VARY
             "--vary kv_cache=on,off --out '%s' >'%s.log' 2>&1",
             getenv("IPUSIM_BIN"), two, root);
    if (system(cmd) != 0) {
        snprintf(a, sizeof a, "%s.log", root);
        char *log = slurp(a);
        fail_msg("mpirun failed: %s", log);
    }
    snprintf(a, sizeof a, "%s/results.csv", one), snprintf(b, sizeof b, "%s/results.csv", two);
    same_file(a, b);
    snprintf(a, sizeof a, "%s/results.jsonl", one), snprintf(b, sizeof b, "%s/results.jsonl", two);
    same_file(a, b);
    snprintf(a, sizeof a, "%s.log", root);
    unlink(a);
    tu_tmpdir_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_equal_separate_runs),
        cmocka_unit_test(test_failing_point_is_a_row),
        cmocka_unit_test(test_resume_after_kill),
        cmocka_unit_test(test_bad_definitions_write_nothing),
        cmocka_unit_test(test_plots),
        cmocka_unit_test(test_mpi_two_ranks_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
