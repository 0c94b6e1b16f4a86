/* e2e_hardening.c - the bad inputs and half-written outputs of issue 12,
 * through the real program: each case fails with exit 1 (input) or 2
 * (usage), names the file or key at fault, and leaves nothing behind. A full
 * disk is simulated with `ulimit -f` (SIGXFSZ ignored, writes fail EFBIG). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"

static char tmpdir[256];
static char out[1 << 16];

#define MICRO "--set model=gptj-micro --set arch=pod4 --set prompt_len=8 --set gen_tokens=3 "

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_e2e_hard_") || !getenv("IPUSIM_BIN") ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

/* Runs ipusim ARGS in tmpdir; with fsize_blocks > 0 files are limited to
 * that many 512-byte blocks. stdout and stderr into out; the exit code. */
static int ipusim_limited(const char *args, int fsize_blocks)
{
    const char *bin = getenv("IPUSIM_BIN");
    char cmd[4096];
    char limit[64] = "";
    if (fsize_blocks > 0)
        snprintf(limit, sizeof limit, "ulimit -f %d && trap '' XFSZ && ", fsize_blocks);
    snprintf(cmd, sizeof cmd, "cd '%s' && %sOMP_NUM_THREADS=2 exec '%s' %s 2>&1", tmpdir, limit, bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}
static int ipusim(const char *args) { return ipusim_limited(args, 0); }

#define assert_out_has(s)                                                   \
    do {                                                                    \
        if (!strstr(out, (s)))                                              \
            fail_msg("output lacks '%s':\n%s", (s), out);                   \
    } while (0)

/* The names in tmpdir/rel (tu_listing). */
static const char *listing(const char *rel)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, rel);
    return tu_listing(dir);
}

static void mkdir_rel(const char *rel)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, rel);
    assert_int_equal(mkdir(dir, 0777), 0);
}

/* Config-like inputs: folders and devices are errors naming the file and
 * the cap; hex numbers are not numbers. */
static void test_bad_inputs(void **state)
{
    (void)state;
    mkdir_rel("adir");
    assert_int_equal(ipusim("run --scenario adir"), 1);
    assert_out_has("scenario 'adir': not a regular file (this must be a regular file of at most 1048576 bytes)");
    assert_int_equal(ipusim("run --scenario /dev/zero"), 1);
    assert_out_has("scenario '/dev/zero': not a regular file");
    assert_int_equal(ipusim("arch show gc200 --arch-file /dev/zero"), 1);
    assert_out_has("arch file '/dev/zero': not a regular file (this must be a regular file of at most 1048576 bytes)");
    assert_int_equal(ipusim("arch show gc200 --arch-file adir"), 1);
    assert_out_has("arch file 'adir': not a regular file");
    assert_int_equal(ipusim("arch show gc200 --set tiles_per_chip=0x10"), 1);
    assert_out_has("arch key 'tiles_per_chip': '0x10' is not a decimal number");
    assert_int_equal(ipusim("run --set arch.tiles_per_chip=0x10 --print-config"), 1);
    assert_out_has("'0x10' is not a decimal number");
    assert_int_equal(ipusim("bench sync --set tiles_per_chip=0x10"), 1);
    assert_out_has("not a decimal number");
    assert_int_equal(ipusim("codelet bench decompress --set isa.ld64.cycles=0x2"), 1);
    assert_out_has("not a decimal number");
    /* hex through strtod / strtoull base 0 in options: usage errors */
    assert_int_equal(ipusim("calibrate --target-ms 0x10"), 2);
    assert_out_has("--target-ms '0x10' must be a decimal number");
    assert_int_equal(ipusim("model synth --config gptj-micro --out x --shard-gb 0x1"), 2);
    assert_int_equal(ipusim("bench sync --supersteps 0x10"), 2);
    assert_int_equal(ipusim("codelet validate decompress --seed 0x10"), 2);
    assert_int_equal(ipusim("model info --config /dev/zero"), 1);
    assert_out_has("'/dev/zero': not a regular file");
    assert_int_equal(ipusim("run --set model=/dev/zero --print-config"), 1);
    assert_out_has("not a regular file");
    assert_int_equal(ipusim("model eval --config gptj-micro --group 16 --text /dev/zero"), 1);
    assert_out_has("--text '/dev/zero': not a regular file");
    assert_int_equal(ipusim("tokenize --vocab /dev/zero hi"), 1);
    assert_int_equal(ipusim("model check --checkpoint /dev/zero"), 1);
    assert_out_has("not a regular file");
}

/* --print-config writes a scenario that reads back to the same config, '#'
 * and quotes included. */
static void test_print_config_round_trip(void **state)
{
    (void)state;
    assert_int_equal(ipusim("run --set 'out=a #b' --set 'keep_fp16=*x#y*' --set arch.clock_hz=1.5e9 --print-config"), 0);
    assert_out_has("out = \"a #b\"\n");
    static char first[sizeof out];
    memcpy(first, out, sizeof out);
    char path[600];
    snprintf(path, sizeof path, "%s/printed.conf", tmpdir);
    FILE *f = fopen(path, "w");
    fputs(first, f);
    fclose(f);
    assert_int_equal(ipusim("run --scenario printed.conf --print-config"), 0);
    assert_string_equal(out, first);
}

/* A command checks every output name before any work, and writes nothing
 * when one is bad. */
static void test_bad_output_names(void **state)
{
    (void)state;
    mkdir_rel("names");
    assert_int_equal(ipusim("compare " MICRO "--out \"names/dir'q\""), 1);
    assert_out_has("key 'out': folder 'names/dir'q': quotes and paths over 1000 bytes are not supported");
    assert_null(strstr(out, "TTFT"));
    assert_string_equal(listing("names"), "");
    assert_int_equal(ipusim("run " MICRO "--csv names/r.csv --plot \"names/p'q\""), 1);
    assert_out_has("--plot: folder 'names/p'q': quotes");
    assert_null(strstr(out, "TTFT"));
    assert_string_equal(listing("names"), "");
    assert_int_equal(ipusim("run " MICRO "--csv names/r.csv --trace ''"), 1);
    assert_out_has("--trace: empty file name");
    assert_string_equal(listing("names"), "");
    assert_int_equal(ipusim("compare " MICRO "--out names/.."), 1);
    assert_out_has("name a folder of its own");
    assert_null(strstr(out, "TTFT"));
    assert_string_equal(listing("names"), "");
    /* a file where the output folder goes */
    char path[600];
    snprintf(path, sizeof path, "%s/names/afile", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("mine", f);
    fclose(f);
    assert_int_equal(ipusim("compare " MICRO "--out names/afile"), 1);
    assert_out_has("exists and is not a folder");
    assert_string_equal(listing("names"), "afile");
}

/* On a full disk nothing half-written appears and the earlier good output
 * stays: compare's folder, run's traces, CSV and plots, model synth. */
static void test_full_disk(void **state)
{
    (void)state;
    mkdir_rel("full");
    int rv = ipusim("compare " MICRO "--set formats=fp16,q4g:16 --out full/cmp");
    if (rv)
        fail_msg("exit %d:\n%s", rv, out);
    char before[2048];
    snprintf(before, sizeof before, "%s", listing("full/cmp"));
    assert_non_null(strstr(before, "report.json"));
    rv = ipusim_limited("compare " MICRO "--set formats=fp16,q4g:16 --set batch=2 --out full/cmp", 8);
    assert_int_equal(rv, 1);
    assert_out_has("File too large");
    assert_string_equal(listing("full/cmp"), before);
    assert_string_equal(listing("full"), "cmp");
    /* the traces of every format, the CSV and the plots appear together or not at all */
    rv = ipusim_limited("run " MICRO "--set formats=fp16,q4g:16 --trace full/t.json --csv full/r.csv --plot full/p", 8);
    assert_int_equal(rv, 1);
    assert_out_has("File too large");
    assert_string_equal(listing("full"), "cmp");
    rv = ipusim("run " MICRO "--set formats=fp16,q4g:16 --trace full/t.json --csv full/r.csv --plot full/p");
    if (rv)
        fail_msg("exit %d:\n%s", rv, out);
    assert_string_equal(listing("full"), "cmp p r.csv r_summary.csv t-fp16.json t-q4g-16.json");
    /* model synth: a sharded checkpoint that cannot be finished leaves the old one */
    assert_int_equal(ipusim("model synth --config gptj-micro --seed 1 --shard-gb 0.0002 --out full/ck"), 0);
    snprintf(before, sizeof before, "%s", listing("full/ck"));
    assert_non_null(strstr(before, "model.safetensors.index.json"));
    rv = ipusim_limited("model synth --config gptj-micro --seed 2 --shard-gb 0.0002 --out full/ck", 300);
    assert_int_equal(rv, 1);
    assert_out_has("File too large");
    assert_string_equal(listing("full/ck"), before);
    assert_string_equal(listing("full"), "ck cmp p r.csv r_summary.csv t-fp16.json t-q4g-16.json");
    assert_int_equal(ipusim("model check --checkpoint full/ck"), 0);
    assert_int_equal(ipusim("model synth --config gptj-micro --seed 2 --out 'full/x/../..'"), 1);
    assert_int_equal(ipusim("model synth --config gptj-micro --seed 2 --out ."), 1);
    assert_out_has("name a folder of its own");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_print_config_round_trip),
        cmocka_unit_test(test_bad_output_names),
        cmocka_unit_test(test_full_disk),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
