/* test_report.c - report arithmetic on hand-built RunResults (every figure
 * worked out by hand here), JSON parsed back, CSV rows, plots and atomic files. */
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
#include "host/report.h"
#include "sim/sram.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_report_");
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

static void near(double got, double want)
{
    if (!(fabs(got - want) <= 1e-9 * fabs(want) + 1e-15))
        fail_msg("got %.12g, want %.12g", got, want);
}

static StepResult step(uint64_t stream, uint64_t matmul, uint64_t other, uint64_t wbytes, uint64_t kvbytes)
{
    StepResult s;
    memset(&s, 0, sizeof s);
    s.phase_cycles[PHASE_STREAM] = stream;
    s.phase_cycles[PHASE_MATMUL] = matmul;
    s.phase_cycles[PHASE_OTHER] = other;
    s.cycles = stream + matmul + other;
    s.weight_bytes_read = wbytes;
    s.kv_bytes_read = kvbytes;
    s.stream_bytes = wbytes - wbytes / 10; /* a tenth (the embedding) stays resident */
    s.exchange_bytes = 2 * stream; /* fp16's decode steps: 1e6 and 5e6 */
    return s;
}

/* fp16 at 1 GHz: prefill 2e6 cycles; decode steps of 1e6 and 3e6 cycles
 * reading 5e7 weight bytes each and 2e7, 6e7 KV bytes. */
static void fp16_result(RunResult *r, StepResult *dec)
{
    memset(r, 0, sizeof *r);
    snprintf(r->format, sizeof r->format, "fp16");
    r->bits_per_param = 16;
    r->placement = PLACE_STREAM;
    r->clock_hz = 1e9;
    r->prefill = step(1000000, 600000, 400000, 50000000, 0);
    dec[0] = step(500000, 400000, 100000, 50000000, 20000000);
    dec[1] = step(2500000, 400000, 100000, 50000000, 60000000);
    r->decode = dec;
    r->ndecode = 2;
    r->weight_bytes = 123456789;
    r->sram.bytes = 500000;
    r->sram.tile = 1471;
    r->sram.always[SRAM_WEIGHTS] = 300000;
    r->sram.live[SRAM_ACTIVATIONS] = 200000;
    snprintf(r->sram.step, sizeof r->sram.step, "layer0.fc_in");
}

/* q4g:G: every decode step 1e6 cycles (half fp16's mean step). */
static void q4_result(RunResult *r, StepResult *dec, unsigned g)
{
    memset(r, 0, sizeof *r);
    snprintf(r->format, sizeof r->format, "q4g:%u", g);
    r->bits_per_param = (4.0 * g + 32) / g;
    r->placement = PLACE_STREAM;
    r->clock_hz = 1e9;
    r->prefill = step(500000, 600000, 400000, 15000000, 0);
    dec[0] = step(250000, 400000, 100000, 15000000, 20000000);
    dec[0].phase_cycles[PHASE_DECOMPRESS] = 250000;
    dec[0].cycles += 250000;
    dec[1] = dec[0];
    r->decode = dec;
    r->ndecode = 2;
}

static void test_arithmetic_values(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset("pod4", &a, &e), 0);
    a.stream_bandwidth_bytes_per_s = 64e9; /* this test's own machine figure, not the preset's */
    Report rep;
    report_init(&rep, NULL);
    RunResult r;
    StepResult dec[2], dq[2];
    q4_result(&r, dq, 64); /* the q4 format first: speedups must not depend on order */
    assert_int_equal(report_add(&rep, &r, 4, 4, &a, &e), 0);
    assert_true(isnan(rep.f[0].speedup_vs_fp16));
    fp16_result(&r, dec);
    assert_int_equal(report_add(&rep, &r, 4, 4, &a, &e), 0);
    const FormatReport *f = &rep.f[1], *q = &rep.f[0];
    near(f->ttft_s, 2e-3);
    near(f->tpot_s, 2e-3);               /* (1e6 + 3e6) / 2 cycles at 1 GHz */
    near(f->latency_s, 6e-3);            /* 2e6 + 1e6 + 3e6 cycles */
    near(f->throughput_tok_per_s, 2000); /* 4 sequences x 3 tokens / 6 ms */
    near(f->batched_token_s, 0.5e-3);    /* 2 ms / 4 */
    near(f->step_bytes, 4.5e7);          /* streamed: 9/10 of 5e7 per step; the SRAM KV cache does not count */
    near(f->achieved_bytes_per_s, 2.25e10);
    near(f->peak_bytes_per_s, 64e9);     /* one machine: min(64e9, 4 x 16e9) */
    near(f->mbu, 2.25e10 / 64e9);
    near(f->decode_cycles[PHASE_STREAM], 1.5e6);
    near(f->decode_total_cycles, 2e6);
    near(f->prefill_cycles[PHASE_OTHER], 4e5);
    near(f->speedup_vs_fp16, 1.0);
    near(q->batched_token_s, 0.25e-3);
    near(q->speedup_vs_fp16, 2.0);
    near(q->decode_cycles[PHASE_DECOMPRESS], 2.5e5);
    near(q->bits_per_param, 4.5);
    assert_int_equal(f->sram.tile, 1471);
    assert_int_equal(f->sram.always[SRAM_WEIGHTS], 300000);
    assert_int_equal(f->sram.live[SRAM_ACTIVATIONS], 200000);
    assert_string_equal(f->sram.step, "layer0.fc_in");
    report_free(&rep);
    report_free(NULL);
}

static void test_peaks(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    Report rep;
    RunResult r;
    StepResult dec[2];
    assert_int_equal(arch_preset("pod16", &a, &e), 0);
    a.stream_bandwidth_bytes_per_s = 64e9; /* this test's own machine figure, not the preset's */
    report_init(&rep, NULL);
    fp16_result(&r, dec);
    assert_int_equal(report_add(&rep, &r, 1, 2, &a, &e), 0);  /* 2 chips of one machine: 2 x 16e9 */
    assert_int_equal(report_add(&rep, &r, 1, 8, &a, &e), 0);  /* 2 machines x 64e9 */
    assert_int_equal(report_add(&rep, &r, 1, 6, &a, &e), 0);  /* 64e9 + min(64e9, 2 x 16e9) */
    r.placement = PLACE_RESIDENT;
    assert_int_equal(report_add(&rep, &r, 1, 16, &a, &e), 0); /* 16 x 1472 tiles x 1.33e9 x 24 */
    near(rep.f[0].peak_bytes_per_s, 32e9);
    near(rep.f[1].peak_bytes_per_s, 128e9);
    near(rep.f[2].peak_bytes_per_s, 96e9);
    near(rep.f[3].peak_bytes_per_s, 16.0 * 1472 * 1.33e9 * 24);
    near(rep.f[3].step_bytes, 9e7);       /* resident: weights 5e7 + KV (2e7 + 6e7) / 2 read from SRAM */
    near(rep.f[3].mbu, (9e7 / 2e-3) / (16.0 * 1472 * 1.33e9 * 24));
    near(rep.f[0].batched_token_s, 2e-3); /* batch 1 */
    /* a single prefill (no decode): token time and MBU come from the prefill */
    r.placement = PLACE_STREAM;
    r.ndecode = 0;
    assert_int_equal(report_add(&rep, &r, 2, 4, &a, &e), 0);
    assert_true(isnan(rep.f[4].tpot_s));
    near(rep.f[4].batched_token_s, 1e-3);
    near(rep.f[4].throughput_tok_per_s, 1000);
    near(rep.f[4].mbu, (4.5e7 / 2e-3) / 64e9);
    r.clock_hz = 0;
    assert_int_equal(report_add(&rep, &r, 2, 4, &a, &e), -1);
    assert_non_null(strstr(e.msg, "fp16"));
    report_free(&rep);
}

static Report two_formats(RunResult *r, StepResult *dec, StepResult *dq)
{
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset("pod4", &a, &e), 0);
    Report rep;
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(cfg, "run"), "model", "gptj-6b");
    report_init(&rep, cfg);
    fp16_result(r, dec);
    assert_int_equal(report_add(&rep, r, 4, 4, &a, &e), 0);
    q4_result(r, dq, 64);
    assert_int_equal(report_add(&rep, r, 4, 4, &a, &e), 0);
    q4_result(r, dq, 16);
    assert_int_equal(report_add(&rep, r, 4, 4, &a, &e), 0);
    return rep;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_json(void **state)
{
    (void)state;
    RunResult r;
    StepResult dec[2], dq[2];
    Report rep = two_formats(&r, dec, dq);
    char path[400];
    IpuErr e;
    snprintf(path, sizeof path, "%s/r.json", tmpdir);
    if (report_write_json(&rep, path, &e))
        fail_msg("%s", e.msg);
    cJSON *j = cJSON_Parse(slurp(path));
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "config"), "run"), "model")->valuestring,
                        "gptj-6b");
    cJSON *fs = cJSON_GetObjectItem(j, "formats");
    assert_int_equal(cJSON_GetArraySize(fs), 3);
    assert_int_equal(cJSON_GetObjectItem(j, "schema_version")->valueint, REPORT_SCHEMA_VERSION);
    cJSON *f0 = cJSON_GetArrayItem(fs, 0);
    /* every headline field, in the table's order, and nothing named as a percentage */
    cJSON *it = f0->child;
    for (size_t i = 0; i < report_field_count; i++, it = it->next) {
        assert_non_null(it);
        assert_string_equal(it->string, report_fields[i].name);
        assert_null(strstr(it->string, "pct"));
    }
    const char *keys[] = {"sram_peak_by_category", "prefill", "decode"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!cJSON_GetObjectItem(f0, keys[i]))
            fail_msg("key %s missing", keys[i]);
    assert_null(cJSON_GetObjectItem(f0, "mbu")); /* version 1's name of mbu_frac */
    near(cJSON_GetObjectItem(f0, "mbu_frac")->valuedouble, 4.5e7 / 2e-3 / 2.16517e10); /* pod4: one machine's streaming */
    near(cJSON_GetObjectItem(f0, "tpot_s")->valuedouble, 2e-3);
    near(cJSON_GetObjectItem(cJSON_GetArrayItem(fs, 1), "speedup_vs_fp16")->valuedouble, 2.0);
    cJSON *dj = cJSON_GetObjectItem(f0, "decode");
    near(cJSON_GetObjectItem(dj, "cycles")->valuedouble, 2e6);
    near(cJSON_GetObjectItem(dj, "time_s")->valuedouble, 2e-3);
    cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(dj, "phases"), "stream");
    near(cJSON_GetObjectItem(st, "share_frac")->valuedouble, 0.75);
    near(cJSON_GetObjectItem(st, "time_s")->valuedouble, 1.5e-3);
    /* the step's bytes: the mean of the decode steps */
    near(cJSON_GetObjectItem(dj, "kv_bytes_read")->valuedouble, 4e7);
    near(cJSON_GetObjectItem(dj, "stream_bytes")->valuedouble, 4.5e7);
    near(cJSON_GetObjectItem(dj, "exchange_bytes")->valuedouble, 3e6);
    near(cJSON_GetObjectItem(cJSON_GetObjectItem(f0, "prefill"), "kv_bytes_read")->valuedouble, 0);
    near(cJSON_GetObjectItem(f0, "sram_peak_tile")->valuedouble, 1471);
    assert_string_equal(cJSON_GetObjectItem(f0, "sram_peak_step")->valuestring, "layer0.fc_in");
    near(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(f0, "sram_peak_by_category"), "always_live"),
                             "weights")->valuedouble,
         300000);
    cJSON_Delete(j);
    /* no temp file left beside it */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp >/dev/null", tmpdir);
    assert_int_not_equal(system(cmd), 0);
    report_free(&rep);
}

static void test_csv_and_table(void **state)
{
    (void)state;
    RunResult r;
    StepResult dec[2], dq[2];
    Report rep = two_formats(&r, dec, dq);
    char path[400];
    IpuErr e;
    snprintf(path, sizeof path, "%s/r.csv", tmpdir);
    if (report_write_csv(&rep, path, &e))
        fail_msg("%s", e.msg);
    char *csv = slurp(path);
    int lines = 0;
    for (char *p = csv; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1 + 3 * 2 * (PHASE_COUNT + 1));
    assert_true(!strncmp(csv, "format,step,phase,cycles,time_s,share_frac\n", 43));
    assert_non_null(strstr(csv, "\nfp16,decode,stream,1500000,0.0015,0.750000\n"));
    assert_non_null(strstr(csv, "\nfp16,prefill,total,2000000,0.002,1.000000\n"));
    assert_non_null(strstr(csv, "\nq4g:64,decode,decompress,250000,0.00025,0.250000\n"));
    /* the table names the figures */
    snprintf(path, sizeof path, "%s/table.txt", tmpdir);
    FILE *f = fopen(path, "w");
    report_print(f, &rep);
    fclose(f);
    char *t = slurp(path);
    assert_non_null(strstr(t, "TTFT"));
    assert_non_null(strstr(t, "MBU"));
    assert_non_null(strstr(t, "2.00x"));
    assert_non_null(strstr(t, "decode step (mean) by phase"));
    /* without fp16 the speedup is undefined and printed as "-", not "nan" */
    {
        IpuArch a;
        assert_int_equal(arch_preset("pod4", &a, &e), 0);
        Report solo;
        report_init(&solo, NULL);
        RunResult q;
        StepResult qd[2];
        q4_result(&q, qd, 32);
        assert_int_equal(report_add(&solo, &q, 1, 4, &a, &e), 0);
        snprintf(path, sizeof path, "%s/solo.txt", tmpdir);
        FILE *sf = fopen(path, "w");
        report_print(sf, &solo);
        fclose(sf);
        char *st = slurp(path);
        assert_null(strstr(st, "nan"));
        assert_non_null(strstr(st, "speedup vs fp16                                 -\n"));
        report_free(&solo);
    }
    /* an unwritable path is an error naming it, not a crash */
    assert_int_equal(report_write_csv(&rep, "/nonexistent/dir/r.csv", &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/dir/r.csv"));
    report_free(&rep);
}

/* The summary CSV: the field table's names as the header, one row per
 * format, undefined figures empty; its path beside a breakdown CSV. */
static void test_summary_csv(void **state)
{
    (void)state;
    RunResult r;
    StepResult dec[2], dq[2];
    Report rep = two_formats(&r, dec, dq);
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset("pod4", &a, &e), 0);
    q4_result(&r, dq, 32);
    r.ndecode = 0; /* a prefill alone: no TPOT */
    assert_int_equal(report_add(&rep, &r, 4, 4, &a, &e), 0);
    size_t len;
    char *csv = report_summary_csv_text(&rep, &len);
    assert_non_null(csv);
    assert_int_equal(strlen(csv), len);
    char header[2048] = "";
    for (size_t i = 0; i < report_field_count; i++)
        snprintf(header + strlen(header), sizeof header - strlen(header), "%s%s", i ? "," : "", report_fields[i].name);
    assert_true(!strncmp(csv, header, strlen(header)) && csv[strlen(header)] == '\n');
    int lines = 0;
    for (char *p = csv; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1 + 4);
    /* fp16's row: format, placement, bits, batch, chips, decode steps, clock, memory_proportion, TTFT, TPOT */
    if (!strstr(csv, "\nfp16,stream,16,4,4,2,1e+09,0,0.002,0.002,0.006,2000,0.0005,1,45000000,"))
        fail_msg("fp16 row:\n%s", csv);
    /* q4g:32 without a decode step: TPOT empty (not "nan"), throughput from the prefill */
    if (!strstr(csv, "\nq4g:32,stream,5,4,4,0,1e+09,0,0.0015,,0.0015,"))
        fail_msg("q4g:32 row:\n%s", csv);
    assert_null(strstr(csv, "nan"));
    free(csv);
    char path[64];
    report_summary_path("out/report.csv", path, sizeof path);
    assert_string_equal(path, "out/report_summary.csv");
    report_summary_path("a.b/r", path, sizeof path);
    assert_string_equal(path, "a.b/r_summary");
    report_summary_path(".csv", path, sizeof path);
    assert_string_equal(path, ".csv_summary");
    /* the plot titles' configuration line, from the config echo's run keys */
    cJSON *run = cJSON_GetObjectItem(rep.config, "run");
    cJSON_AddStringToObject(run, "arch", "pod4");
    cJSON_AddNumberToObject(run, "prompt_len", 512);
    cJSON_AddNumberToObject(run, "gen_tokens", 20);
    char line[256];
    report_config_line(&rep, line, sizeof line);
    assert_string_equal(line, "gptj-6b on pod4 (4 chips), batch 4, prompt 512, generate 20; fp16, q4g:64, q4g:16, q4g:32");
    report_free(&rep);
}

/* docs/report-format.md names every field of the JSON and summary CSV
 * with its unit, and every field of the per-step objects. */
static void test_fields_documented(void **state)
{
    (void)state;
    const char *src = getenv("IPUSIM_SOURCE_DIR");
    assert_non_null(src);
    char path[600];
    snprintf(path, sizeof path, "%s/docs/report-format.md", src);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    static char doc[1 << 17];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    for (size_t i = 0; i < report_field_count; i++) {
        char row[160];
        snprintf(row, sizeof row, "| `%s` | %s |", report_fields[i].name, report_fields[i].unit);
        if (!strstr(doc, row))
            fail_msg("docs/report-format.md lacks the row '%s'", row);
    }
    static const char *const more[] = {"`schema_version`", "`share_frac`", "`time_s`", "`stream_bytes`",
                                       "`exchange_bytes`", "`link_bytes`", "`weight_bytes_read`", "`kv_bytes_read`",
                                       "`sram_peak_by_category`", "`bound_frac`", "`intensity_flops_per_byte`"};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        if (!strstr(doc, more[i]))
            fail_msg("docs/report-format.md lacks %s", more[i]);
    char v[64];
    snprintf(v, sizeof v, "`\"schema_version\": %d`", REPORT_SCHEMA_VERSION);
    if (!strstr(doc, v))
        fail_msg("docs/report-format.md does not give the current version as %s", v);
}

static void test_plots(void **state)
{
    (void)state;
    RunResult r;
    StepResult dec[2], dq[2];
    Report rep = two_formats(&r, dec, dq);
    char dir[400], written[2048], path[600];
    IpuErr e;
    snprintf(dir, sizeof dir, "%s/plots", tmpdir);
    if (report_plot(&rep, dir, written, sizeof written, &e))
        fail_msg("%s", e.msg);
    assert_non_null(strstr(written, "breakdown."));
    assert_non_null(strstr(written, "groups."));
    const char *ext = strstr(written, ".png") ? "png" : "svg";
    struct stat st;
    snprintf(path, sizeof path, "%s/breakdown.%s", dir, ext);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 1000);
    snprintf(path, sizeof path, "%s/groups.%s", dir, ext);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 1000);
    /* groups.dat holds one row per q4g format */
    snprintf(path, sizeof path, "%s/groups.dat", dir);
    char *d = slurp(path);
    assert_non_null(strstr(d, "\n64 0.250000 4.5000\n"));
    assert_non_null(strstr(d, "\n16 0.250000 6.0000\n"));
    /* titles name the configuration and the formats */
    snprintf(path, sizeof path, "%s/breakdown.gp", dir);
    d = slurp(path);
    if (!strstr(d, "by phase\\n4 chips, batch 4; fp16, q4g:64, q4g:16\" noenhanced"))
        fail_msg("breakdown.gp title:\n%s", d);
    /* the script names no folder: re-run from elsewhere, it redraws the same picture beside itself */
    assert_null(strstr(d, tmpdir));
    static char orig[1 << 17];
    snprintf(path, sizeof path, "%s/breakdown.%s", dir, ext);
    FILE *pf = fopen(path, "rb");
    assert_non_null(pf);
    size_t n = fread(orig, 1, sizeof orig, pf);
    fclose(pf);
    assert_true(n > 1000 && n < sizeof orig);
    assert_int_equal(unlink(path), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd / && gnuplot '%s/breakdown.gp' >/dev/null 2>&1", dir);
    assert_int_equal(system(cmd), 0);
    pf = fopen(path, "rb");
    assert_non_null(pf);
    static char again[1 << 17];
    size_t m = fread(again, 1, sizeof again, pf);
    fclose(pf);
    assert_int_equal(m, n);
    assert_memory_equal(again, orig, n);
    /* without gnuplot: a clear error and no image */
    const char *old = getenv("PATH");
    char saved[4096];
    snprintf(saved, sizeof saved, "%s", old ? old : "");
    snprintf(dir, sizeof dir, "%s/plots2", tmpdir);
    mkdir(dir, 0755);
    setenv("PATH", "/nonexistent", 1);
    int rv = report_plot(&rep, dir, written, sizeof written, &e);
    setenv("PATH", saved, 1);
    assert_int_equal(rv, -1);
    assert_non_null(strstr(e.msg, "gnuplot"));
    snprintf(path, sizeof path, "%s/breakdown.png", dir);
    assert_int_not_equal(stat(path, &st), 0);
    report_free(&rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arithmetic_values), cmocka_unit_test(test_peaks),
        cmocka_unit_test(test_json),              cmocka_unit_test(test_csv_and_table),
        cmocka_unit_test(test_summary_csv),       cmocka_unit_test(test_fields_documented),
        cmocka_unit_test(test_plots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
