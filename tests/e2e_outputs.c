/* e2e_outputs.c - outputs a tool can trust, through the real program on
 * gptj-micro: stdout holds only the requested output, file modes follow
 * the umask, the summary CSV agrees with the JSON, plot titles name the
 * configuration and their scripts redraw them, trace names, arch options
 * spelled one way with --arch-file everywhere, and the roofline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static char tmpdir[256];
static char out[1 << 18];

/* A small run: the micro model on pod4, 4-way tensor parallel. */
#define MICRO "--set model=gptj-micro --set prompt_len=8 --set gen_tokens=3 --set formats=fp16,q4g:16 "

static int setup(void **state)
{
    (void)state;
    if (tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_e2e_outputs_") || !getenv("IPUSIM_BIN"))
        return -1;
    /* folders for --csv and --trace files (their parents are not made) */
    static const char *const dirs[] = {"s", "m0", "m1", "tr", "tr2", "tr3"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", tmpdir, dirs[i]);
        if (mkdir(p, 0777))
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

/* stdout alone into out; the exit code. */
static int ipusim_stdout(const char *args) { return tu_ipusim(tmpdir, args, 0, out, sizeof out); }
/* stdout and stderr into out; the exit code. */
static int ipusim_all(const char *args) { return tu_ipusim(tmpdir, args, 1, out, sizeof out); }

#define assert_out_has(s)                                     \
    do {                                                      \
        if (!strstr(out, (s)))                                \
            fail_msg("output lacks '%s':\n%.4000s", (s), out); \
    } while (0)

static const char *path_of(const char *rel)
{
    static char p[2][700];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, rel);
    return p[k];
}

/* The whole file (static buffer, NUL-terminated); fails the test when missing. */
static char *slurp(const char *rel, size_t *len)
{
    static char buf[1 << 18];
    FILE *f = fopen(path_of(rel), "rb");
    if (!f)
        fail_msg("cannot open %s", rel);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void write_rel(const char *rel, const char *text)
{
    FILE *f = fopen(path_of(rel), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int mode_of(const char *rel)
{
    struct stat st;
    return stat(path_of(rel), &st) ? -1 : (int)(st.st_mode & 0777);
}

/* stdout is the table, the JSON or nothing: every message goes to stderr. */
static void test_stdout_is_the_output(void **state)
{
    (void)state;
    static const char *const json_cmds[] = {
        "run " MICRO "--json",
        "run " MICRO "--json --csv s/r.csv --trace s/t.json --plot s/p --memory-report --roofline",
        "compare " MICRO "--json --out s/cmp --roofline",
        "arch show pod4 --json",
        "bench amp --json",
        "codelet bench decompress --json --group-size 16",
    };
    for (size_t i = 0; i < sizeof json_cmds / sizeof json_cmds[0]; i++) {
        int rv = ipusim_stdout(json_cmds[i]);
        if (rv)
            fail_msg("'%s': exit %d", json_cmds[i], rv);
        cJSON *j = cJSON_Parse(out);
        if (!j)
            fail_msg("'%s': stdout is not JSON:\n%.2000s", json_cmds[i], out);
        cJSON_Delete(j);
    }
    /* the messages are there, on stderr */
    assert_int_equal(ipusim_all("compare " MICRO "--json --out s/cmp2"), 0);
    assert_out_has("wrote s/cmp2/report.json, s/cmp2/report.csv, s/cmp2/report_summary.csv, s/cmp2/config.conf");
    /* the table alone on stdout */
    assert_int_equal(ipusim_stdout("compare " MICRO "--out s/cmp3"), 0);
    assert_out_has("TTFT, prefill (ms)");
    assert_null(strstr(out, "wrote"));
    assert_int_equal(ipusim_stdout("run " MICRO "--csv s/r2.csv --plot s/p2 --trace s/t2.json"), 0);
    assert_null(strstr(out, "plots:"));
    assert_null(strstr(out, "trace:"));
    assert_null(strstr(out, "csv:"));
    assert_int_equal(ipusim_stdout("model synth --config gptj-micro --out s/ck"), 0);
    assert_string_equal(out, "");
    assert_int_equal(ipusim_all("model synth --config gptj-micro --out s/ck"), 0);
    assert_out_has("wrote s/ck: gptj-micro");
}

/* A format that does not run (its group size does not divide a layer) is
 * reported and the others still run: their table or JSON on stdout, the
 * failure in failed_formats and on stderr, exit 1; all failing is an error. */
static void test_failing_format_keeps_the_others(void **state)
{
    (void)state;
    const char *cmd = "run --set model=gptj-micro --set prompt_len=8 --set gen_tokens=2 "
                      "--set formats=fp16,q4g:1024,q4g:16 --json";
    assert_int_equal(ipusim_stdout(cmd), 1);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *fm = cJSON_GetObjectItem(j, "formats"), *bad = cJSON_GetObjectItem(j, "failed_formats");
    assert_int_equal(cJSON_GetArraySize(fm), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(fm, 1), "format")->valuestring, "q4g:16");
    assert_int_equal(cJSON_GetArraySize(bad), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(bad, 0), "format")->valuestring, "q4g:1024");
    assert_non_null(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(bad, 0), "message")->valuestring, "does not divide"));
    cJSON_Delete(j);
    assert_int_equal(ipusim_all(cmd), 1);
    assert_out_has("ipusim run: format q4g:1024: ");
    /* nothing ran: the error alone */
    assert_int_equal(ipusim_all("run --set model=gptj-micro --set prompt_len=8 --set gen_tokens=2 --set formats=q4g:1024 --json"), 1);
    assert_out_has("ipusim run: format q4g:1024: ");
    assert_null(strstr(out, "schema_version"));
}

/* Files and folders are 0666 / 0777 less the umask, whichever writes them. */
static void test_modes_follow_umask(void **state)
{
    (void)state;
    static const int masks[] = {022, 077};
    for (int m = 0; m < 2; m++) {
        char args[512];
        snprintf(args, sizeof args, "compare " MICRO "--out m%d/cmp --csv m%d/r.csv --trace m%d/t.json --plot m%d/p",
                 m, m, m, m);
        mode_t old = umask((mode_t)masks[m]);
        int rv = ipusim_all(args);
        umask(old);
        if (rv)
            fail_msg("exit %d:\n%s", rv, out);
        static const char *const files[] = {"cmp/report.json", "cmp/report_summary.csv", "cmp/config.conf",
                                            "cmp/breakdown.png", "cmp/breakdown.gp", "r.csv", "r_summary.csv",
                                            "t-fp16.json", "p/memory.dat"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "m%d/%s", m, files[i]);
            if (mode_of(rel) != (0666 & ~masks[m]))
                fail_msg("umask %03o: %s has mode %03o", masks[m], rel, mode_of(rel));
        }
        char rel[64];
        snprintf(rel, sizeof rel, "m%d/cmp", m);
        assert_int_equal(mode_of(rel), 0777 & ~masks[m]);
    }
}

/* The summary CSV holds the JSON's headline fields, row for row. */
static void test_summary_matches_json(void **state)
{
    (void)state;
    int rv = ipusim_all("compare " MICRO "--out sm");
    if (rv)
        fail_msg("exit %d:\n%s", rv, out);
    cJSON *j = cJSON_Parse(slurp("sm/report.json", NULL));
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "schema_version")->valueint, 2);
    char *csv = slurp("sm/report_summary.csv", NULL);
    char *save = NULL, *header = strtok_r(csv, "\n", &save);
    assert_non_null(header);
    cJSON *fmts = cJSON_GetObjectItem(j, "formats");
    for (int row = 0; row < cJSON_GetArraySize(fmts); row++) {
        char *line = strtok_r(NULL, "\n", &save);
        assert_non_null(line);
        cJSON *f = cJSON_GetArrayItem(fmts, row);
        char hbuf[2048], *hs = NULL;
        snprintf(hbuf, sizeof hbuf, "%s", header);
        char *name = strtok_r(hbuf, ",", &hs), *cell = line;
        int ncols = 0;
        for (; name; name = strtok_r(NULL, ",", &hs), ncols++) {
            char *comma = strchr(cell, ',');
            if (comma)
                *comma = '\0';
            cJSON *v = cJSON_GetObjectItem(f, name);
            if (!v)
                fail_msg("CSV column %s is not a JSON field", name);
            if (cJSON_IsString(v))
                assert_string_equal(cell, v->valuestring);
            else if (cJSON_IsNull(v))
                assert_string_equal(cell, "");
            else if (fabs(strtod(cell, NULL) - v->valuedouble) > 1e-8 * fabs(v->valuedouble))
                fail_msg("%s: CSV %s, JSON %.12g", name, cell, v->valuedouble);
            cell = comma ? comma + 1 : cell + strlen(cell);
        }
        assert_true(ncols >= 20);
    }
    assert_null(strtok_r(NULL, "\n", &save));
    cJSON_Delete(j);
}

/* Titles name model, arch, batch, prompt and formats; a script re-run from
 * elsewhere redraws its picture byte for byte. */
static void test_plots_titles_and_scripts(void **state)
{
    (void)state;
    int rv = ipusim_all("run " MICRO "--set batch=2 --plot pl --roofline");
    if (rv)
        fail_msg("exit %d:\n%s", rv, out);
    const char *ext = access(path_of("pl/breakdown.png"), F_OK) == 0 ? "png" : "svg";
    static const char *const names[] = {"breakdown", "memory", "roofline"};
    for (size_t i = 0; i < 3; i++) {
        char rel[64], cmd[1200];
        snprintf(rel, sizeof rel, "pl/%s.gp", names[i]);
        char *gp = slurp(rel, NULL);
        if (!strstr(gp, "gptj-micro on pod4 (4 chips), batch 2, prompt 8, generate 3; fp16, q4g:16"))
            fail_msg("%s: no configuration in the title:\n%s", rel, gp);
        assert_null(strstr(gp, tmpdir));
        assert_null(strstr(gp, ".tmp"));
        snprintf(rel, sizeof rel, "pl/%s.%s", names[i], ext);
        size_t n = 0;
        static char first[1 << 18];
        char *img = slurp(rel, &n);
        memcpy(first, img, n);
        assert_int_equal(unlink(path_of(rel)), 0);
        snprintf(cmd, sizeof cmd, "cd / && gnuplot '%s/pl/%s.gp' >/dev/null 2>&1", tmpdir, names[i]);
        assert_int_equal(system(cmd), 0);
        size_t m;
        char *again = slurp(rel, &m);
        assert_int_equal(m, n);
        assert_memory_equal(again, first, n);
    }
}

/* Several formats: FILE-FORMAT before the extension, ':' as '-'; one format: FILE. */
static void test_trace_names(void **state)
{
    (void)state;
    assert_int_equal(ipusim_all("run " MICRO "--trace tr/run.json"), 0);
    assert_string_equal(tu_listing(path_of("tr")), "run-fp16.json run-q4g-16.json");
    assert_out_has("trace: tr/run-q4g-16.json");
    assert_int_equal(ipusim_all("run " MICRO "--trace tr2/trace"), 0);
    assert_string_equal(tu_listing(path_of("tr2")), "trace-fp16 trace-q4g-16");
    assert_int_equal(ipusim_all("run " MICRO "--set formats=q4g:16 --trace tr3/one.json"), 0);
    assert_string_equal(tu_listing(path_of("tr3")), "one.json");
    /* the help says so too */
    assert_int_equal(ipusim_stdout("run --help"), 0);
    assert_out_has("t-fp16.json, t-q4g-64.json");
}

/* arch keys with or without arch. in run --set; --arch-file in run, compare
 * and calibrate; a preset in the file against another on the command line. */
static void test_arch_options(void **state)
{
    (void)state;
    write_rel("a16.json", "{\"preset\": \"pod16\", \"stream.io_tiles\": 64}");
    write_rel("bw.json", "{\"stream.bandwidth_bytes_per_s\": 4e10}");
    int rv = ipusim_stdout("run " MICRO "--set stream.io_tiles=32 --set arch.clock_hz=1e9 --json");
    if (rv)
        fail_msg("exit %d", rv);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    cJSON *arch = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "config"), "arch");
    assert_int_equal(cJSON_GetObjectItem(arch, "stream.io_tiles")->valueint, 32);
    assert_true(cJSON_GetObjectItem(arch, "clock_hz")->valuedouble == 1e9);
    cJSON_Delete(j);
    /* the file's preset and keys; echoed as a scenario that needs no file */
    assert_int_equal(ipusim_stdout("run " MICRO "--arch-file a16.json --set chips=4 --print-config"), 0);
    assert_out_has("arch = pod16\n");
    assert_out_has("arch.stream.io_tiles = 64\n");
    assert_int_equal(ipusim_stdout("run " MICRO "--arch-file a16.json --set arch=pod16 --set chips=4 --json"), 0);
    j = cJSON_Parse(out);
    assert_non_null(j);
    arch = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "config"), "arch");
    assert_string_equal(cJSON_GetObjectItem(arch, "preset")->valuestring, "pod16");
    assert_int_equal(cJSON_GetObjectItem(arch, "stream.io_tiles")->valueint, 64);
    cJSON_Delete(j);
    /* another preset on the command line: an error naming both, and no run */
    assert_int_equal(ipusim_all("run " MICRO "--arch-file a16.json --set arch=pod4"), 1);
    assert_out_has("--set names arch preset 'pod4' but arch file a16.json names 'pod16'");
    assert_null(strstr(out, "TTFT"));
    assert_int_equal(ipusim_all("compare " MICRO "--set arch=pod4 --arch-file a16.json --out ao"), 1);
    assert_out_has("--set names arch preset 'pod4' but arch file a16.json names 'pod16'"); /* files before --set */
    assert_int_equal(access(path_of("ao"), F_OK), -1);
    assert_int_equal(ipusim_all("calibrate " MICRO "--set arch=pod4 --arch-file a16.json --target-ms 1"), 1);
    assert_out_has("--set names arch preset 'pod4' but arch file a16.json names 'pod16'");
    /* a file without a preset applies to the configured one */
    assert_int_equal(ipusim_stdout("compare " MICRO "--arch-file bw.json --out ao2 --json"), 0);
    j = cJSON_Parse(out);
    assert_non_null(j);
    arch = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "config"), "arch");
    assert_string_equal(cJSON_GetObjectItem(arch, "preset")->valuestring, "pod4");
    assert_true(cJSON_GetObjectItem(arch, "stream.bandwidth_bytes_per_s")->valuedouble == 4e10);
    cJSON_Delete(j);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    if (!cJSON_IsNumber(v))
        fail_msg("'%s' is not a number", k);
    return v->valuedouble;
}

static const cJSON *find_point(const cJSON *pts, const char *fmt, int batch, const char *step, const char *part)
{
    for (const cJSON *p = pts->child; p; p = p->next)
        if (!strcmp(cJSON_GetObjectItem(p, "format")->valuestring, fmt) && num(p, "batch") == batch &&
            !strcmp(cJSON_GetObjectItem(p, "step")->valuestring, step) &&
            !strcmp(cJSON_GetObjectItem(p, "part")->valuestring, part))
            return p;
    fail_msg("no roofline point %s batch %d %s %s", fmt, batch, step, part);
    return NULL;
}

/* The roofline: peaks from the arch, FLOPs from the model, no point above
 * its roofs, and the teaching facts: a decode step's linears do 2 FLOPs per
 * weight per sequence, so their intensity is batch / bytes per weight. */
static void test_roofline(void **state)
{
    (void)state;
    int rv = ipusim_stdout("run " MICRO "--roofline-batches 1,4 --json");
    if (rv)
        fail_msg("exit %d", rv);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *rl = cJSON_GetObjectItem(j, "roofline"), *pk = cJSON_GetObjectItem(rl, "peaks");
    const cJSON *arch = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "config"), "arch");
    double chips = num(rl, "chips"), tiles = chips * num(arch, "tiles_per_chip"), hz = num(arch, "clock_hz");
    assert_true(chips == 4);
    assert_true(fabs(num(pk, "compute_flops_per_s") / (tiles * num(arch, "amp_macs_per_cycle_fp16") * 2 * hz) - 1) < 1e-12);
    assert_true(fabs(num(pk, "exchange_bytes_per_s") / (tiles * num(arch, "exchange.bytes_per_cycle") * hz) - 1) < 1e-12);
    assert_true(fabs(num(pk, "sram_bytes_per_s") / (tiles * 24 * hz) - 1) < 1e-12);
    assert_true(num(pk, "stream_bytes_per_s") == num(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "formats"), 0),
                                                     "peak_bytes_per_s"));
    const cJSON *pts = cJSON_GetObjectItem(rl, "points");
    /* 2 formats x 2 batches x (prefill, decode) x (step, linears, attention) */
    assert_int_equal(cJSON_GetArraySize(pts), 24);
    for (const cJSON *p = pts->child; p; p = p->next) {
        const char *src = cJSON_GetObjectItem(p, "source")->valuestring;
        double roof = fmin(num(pk, "compute_flops_per_s"),
                           num(pk, !strcmp(src, "stream") ? "stream_bytes_per_s" : "sram_bytes_per_s") *
                               num(p, "intensity_flops_per_byte"));
        if (!(num(p, "achieved_flops_per_s") <= roof * (1 + 1e-9)))
            fail_msg("a point above its roof: %s", cJSON_PrintUnformatted(p));
        assert_true(num(p, "bound_frac") > 0 && num(p, "bound_frac") <= 1 + 1e-9);
        assert_true(fabs(num(p, "flops") / num(p, "bytes") / num(p, "intensity_flops_per_byte") - 1) < 1e-12);
    }
    /* gptj-micro: 2 layers, C 64, MLP 256, vocab 512: a decode step's linears
     * do 2 x batch x (2 x (4C^2 + 2C x 256) + 512 C) = 262144 x batch FLOPs */
    for (int b = 1; b <= 4; b += 3) {
        const cJSON *f16 = find_point(pts, "fp16", b, "decode", "linears");
        const cJSON *q4 = find_point(pts, "q4g:16", b, "decode", "linears");
        assert_true(num(f16, "flops") == 262144.0 * b);
        /* fp16: 2 bytes a weight streamed for the layers' 98304 matrix weights (the resident LM head's FLOPs
         * come free), so at most 262144 b / 196608 FLOP/byte; the streamed biases and LayerNorms add a little */
        double i16 = num(f16, "intensity_flops_per_byte"), i4 = num(q4, "intensity_flops_per_byte");
        if (!(i16 > 0.9 * b * 4 / 3 && i16 <= b * 4.0 / 3))
            fail_msg("fp16 decode linears at batch %d: %g FLOP/byte", b, i16);
        /* q4g:16: 6 bits a weight for the quantized matrices: up to 16/6 as many FLOPs per byte */
        if (!(i4 > 1.5 * i16 && i4 < 16.0 / 6 * i16))
            fail_msg("q4g:16 decode linears at batch %d: %g FLOP/byte against fp16's %g", b, i4, i16);
        /* decode at batch 1 is bound by streaming memory */
        if (b == 1)
            assert_string_equal(cJSON_GetObjectItem(f16, "bound")->valuestring, "stream");
    }
    /* batching moves the decode step right: 4x the FLOPs over the same weights */
    double s1 = num(find_point(pts, "fp16", 1, "decode", "step"), "intensity_flops_per_byte");
    double s4 = num(find_point(pts, "fp16", 4, "decode", "step"), "intensity_flops_per_byte");
    assert_true(s4 > 3.5 * s1);
    cJSON_Delete(j);
    /* the table, and the plot in the out folder without --plot */
    rv = ipusim_all("run " MICRO "--roofline --set out=ro");
    if (rv)
        fail_msg("exit %d:\n%s", rv, out);
    assert_out_has("roofline of 4 chips: AMP fp16 peak");
    assert_out_has("FLOP/byte");
    assert_out_has("roofline: ro/roofline.");
    assert_true(access(path_of("ro/roofline.png"), F_OK) == 0 || access(path_of("ro/roofline.svg"), F_OK) == 0);
    assert_true(strstr(slurp("ro/roofline.dat", NULL), "# q4g:16: intensity_flops_per_byte") != NULL);
    assert_non_null(strstr(slurp("ro/roofline.gp", NULL), "(4 chips), batch 1, prompt 8"));
    /* the --json run above drew into the default out folder; its title lists the batches */
    assert_non_null(strstr(slurp("out/roofline.gp", NULL), "(4 chips), batches 1, 4, prompt 8"));
    /* bad batch lists are usage errors */
    assert_int_equal(ipusim_all("run " MICRO "--roofline-batches 1,x"), 2);
    assert_out_has("--roofline-batches 'x' must be an integer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stdout_is_the_output),
        cmocka_unit_test(test_failing_format_keeps_the_others),
        cmocka_unit_test(test_modes_follow_umask),
        cmocka_unit_test(test_summary_matches_json),
        cmocka_unit_test(test_plots_titles_and_scripts),
        cmocka_unit_test(test_trace_names),
        cmocka_unit_test(test_arch_options),
        cmocka_unit_test(test_roofline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
