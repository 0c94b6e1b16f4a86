/* test_sweep.c - host/sweep.h: --vary parsing (lists, ';' lists, ranges and
 * their errors), the points (Cartesian order, zip), the definition's checks,
 * the definition text, rows as CSV and JSON lines, and the line counting
 * that --resume relies on. One group per public function. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "host/sweep.h"

static void vary_ok(Sweep *s, const char *spec)
{
    IpuErr e;
    if (sweep_add_vary(s, spec, &e))
        fail_msg("%s: %s", spec, e.msg);
}

static void vary_fails(const char *spec, const char *needle)
{
    Sweep s;
    IpuErr e;
    sweep_init(&s);
    assert_int_equal(sweep_add_vary(&s, spec, &e), -1);
    if (!strstr(e.msg, needle))
        fail_msg("'%s': message '%s' lacks '%s'", spec, e.msg, needle);
    sweep_free(&s);
}

static void test_add_vary_lists(void **st)
{
    (void)st;
    Sweep s;
    sweep_init(&s);
    vary_ok(&s, "batch=1,4,16");
    vary_ok(&s, "formats=fp16,q4g:64;q4g:128");
    vary_ok(&s, "placement=auto");
    assert_int_equal(s.nvary, 3);
    assert_string_equal(s.vary[0].key, "batch");
    assert_int_equal(s.vary[0].nvalues, 3);
    assert_string_equal(s.vary[0].values[2], "16");
    assert_int_equal(s.vary[1].nvalues, 2); /* split at ';': a value holds commas */
    assert_string_equal(s.vary[1].values[0], "fp16,q4g:64");
    assert_string_equal(s.vary[1].values[1], "q4g:128");
    assert_int_equal(s.vary[2].nvalues, 1);
    sweep_free(&s);
}

static void test_add_vary_ranges(void **st)
{
    (void)st;
    Sweep s;
    sweep_init(&s);
    vary_ok(&s, "batch=1:16:x2");
    vary_ok(&s, "arch.stream.bandwidth_bytes_per_s=10e9:12e9:+0.5e9");
    vary_ok(&s, "memory_proportion=0.1:0.3:+0.1"); /* 0.1 steps: no lost last value to rounding */
    vary_ok(&s, "formats=q4g:64"); /* colons but no range */
    static const char *const geo[] = {"1", "2", "4", "8", "16"};
    assert_int_equal(s.vary[0].nvalues, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(s.vary[0].values[i], geo[i]);
    assert_int_equal(s.vary[1].nvalues, 5);
    assert_string_equal(s.vary[1].values[1], "1.05e+10"); /* %.10g: arch keys read it */
    assert_int_equal(s.vary[2].nvalues, 3);
    assert_string_equal(s.vary[2].values[2], "0.3");
    assert_int_equal(s.vary[3].nvalues, 1);
    assert_string_equal(s.vary[3].values[0], "q4g:64");
    sweep_free(&s);
}

static void test_add_vary_errors(void **st)
{
    (void)st;
    vary_fails("batch", "expected key=");
    vary_fails("=1,2", "expected key=");
    vary_fails("batch=", "expected key=");
    vary_fails("batch=1,,2", "empty value");
    vary_fails("batch=1:8:*2", "must be xF");
    vary_fails("batch=8:1:x2", "above hi");
    vary_fails("batch=0:8:x2", "factor above 1 and lo above 0");
    vary_fails("batch=1:8:x1", "factor above 1");
    vary_fails("batch=1:8:+0", "above 0");
    vary_fails("batch=1:1e9:+1", "more than");
    vary_fails("prompt_len=1,\x01", "control character");
    Sweep s;
    IpuErr e;
    sweep_init(&s);
    vary_ok(&s, "batch=1,2");
    assert_int_equal(sweep_add_vary(&s, "batch=3", &e), -1);
    assert_non_null(strstr(e.msg, "varied twice"));
    sweep_free(&s);
}

/* A definition on gptj-micro with varied keys kv. */
static int make(Sweep *s, int zip, const char *const *kv, int n, IpuErr *e)
{
    sweep_init(s);
    if (sweep_add_set(s, "model=gptj-micro", e) || sweep_add_set(s, "prompt_len=8", e))
        return -1;
    for (int i = 0; i < n; i++)
        if (sweep_add_vary(s, kv[i], e))
            return -1;
    return sweep_finish(s, zip, e);
}

static void test_finish_and_points(void **st)
{
    (void)st;
    Sweep s;
    IpuErr e;
    const char *kv[] = {"batch=1,2,3", "arch.clock_hz=1e9,2e9", "kv_cache=on,off"};
    if (make(&s, 0, kv, 3, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(s.npoints, 12);
    size_t idx[SWEEP_MAX_VARY];
    sweep_point_index(&s, 0, idx);
    assert_true(idx[0] == 0 && idx[1] == 0 && idx[2] == 0);
    sweep_point_index(&s, 1, idx); /* the last key varies fastest */
    assert_true(idx[0] == 0 && idx[1] == 0 && idx[2] == 1);
    sweep_point_index(&s, 7, idx); /* 7 = 1*4 + 1*2 + 1 */
    assert_true(idx[0] == 1 && idx[1] == 1 && idx[2] == 1);
    sweep_point_index(&s, 11, idx);
    assert_true(idx[0] == 2 && idx[1] == 1 && idx[2] == 1);
    sweep_free(&s);
    const char *z[] = {"batch=1,2,3", "prompt_len=4,5,6"};
    if (make(&s, 1, z, 2, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(s.npoints, 3);
    sweep_point_index(&s, 2, idx);
    assert_true(idx[0] == 2 && idx[1] == 2);
    sweep_free(&s);
}

static void finish_fails(int zip, const char *const *kv, int n, const char *needle)
{
    Sweep s;
    IpuErr e;
    assert_int_equal(make(&s, zip, kv, n, &e), -1);
    if (!strstr(e.msg, needle))
        fail_msg("message '%s' lacks '%s'", e.msg, needle);
    sweep_free(&s);
}

static void test_finish_errors(void **st)
{
    (void)st;
    const char *unknown[] = {"batchez=1"};
    finish_fails(0, unknown, 1, "unknown key 'batchez'");
    const char *bad[] = {"batch=1,0"};
    finish_fails(0, bad, 1, "--vary batch=0");
    const char *arch[] = {"arch.tiles_per_chip=64,zero"};
    finish_fails(0, arch, 1, "arch.tiles_per_chip=zero");
    const char *zip[] = {"batch=1,2", "prompt_len=4,5,6"};
    finish_fails(1, zip, 2, "zipped keys need as many");
    const char *weights[] = {"weights=synthetic"};
    finish_fails(0, weights, 1, "timing mode");
    const char *many[] = {"batch=1:1000:+1", "prompt_len=1:1000:+1"};
    finish_fails(0, many, 2, "more than");
    finish_fails(0, NULL, 0, "no --vary");
    Sweep s;
    IpuErr e;
    sweep_init(&s);
    assert_int_equal(sweep_add_set(&s, "prompt=hello", &e), 0);
    assert_int_equal(sweep_add_vary(&s, "batch=1", &e), 0);
    assert_int_equal(sweep_finish(&s, 0, &e), -1);
    assert_non_null(strstr(e.msg, "key 'prompt'"));
    sweep_free(&s);
}

static void test_point_config(void **st)
{
    (void)st;
    Sweep s;
    IpuErr e;
    const char *kv[] = {"batch=2,3", "arch.clock_hz=1e9,2e9", "formats=fp16;fp16,q4g:16"};
    if (make(&s, 0, kv, 3, &e))
        fail_msg("%s", e.msg);
    RunConfig *rc = malloc(sizeof *rc);
    assert_non_null(rc);
    assert_int_equal(sweep_point_config(&s, 7, rc, &e), 0); /* batch 3, 2 GHz, fp16 and q4g:16 */
    if (runcfg_finish(rc, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(rc->batch, 3);
    assert_true(rc->arch.clock_hz == 2e9);
    assert_string_equal(rc->model, "gptj-micro");
    char names[RUNCFG_MAX_FORMATS][32];
    assert_int_equal(sweep_format_names(rc, names), 2);
    assert_string_equal(names[0], "fp16");
    assert_string_equal(names[1], "q4g:16");
    free(rc);
    sweep_free(&s);
}

static void test_definition_text(void **st)
{
    (void)st;
    Sweep a, b;
    IpuErr e;
    const char *k1[] = {"batch=1,2"}, *k2[] = {"batch=1,3"};
    if (make(&a, 0, k1, 1, &e) || make(&b, 0, k2, 1, &e))
        fail_msg("%s", e.msg);
    char *ta = sweep_definition_text(&a), *ta2 = sweep_definition_text(&a), *tb = sweep_definition_text(&b);
    assert_non_null(ta), assert_non_null(tb);
    assert_string_equal(ta, ta2);
    assert_string_not_equal(ta, tb);
    assert_non_null(strstr(ta, "set = model=gptj-micro\n"));
    assert_non_null(strstr(ta, "vary = batch=1,2\n"));
    assert_non_null(strstr(ta, "points = 2\n"));
    free(ta), free(ta2), free(tb);
    sweep_free(&a), sweep_free(&b);
}

/* --arch-file: applied after the scenarios and before the sets, named
 * (with its hash) in the definition; a varied preset against the file's is
 * a definition error naming both. */
static void test_arch_file(void **st)
{
    (void)st;
    char path[] = "/tmp/ipusim-sweep-archXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "{\"preset\": \"pod16\", \"stream.io_tiles\": 64}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    Sweep s;
    IpuErr e;
    sweep_init(&s);
    assert_int_equal(sweep_add_arch_file(&s, path, &e), 0);
    assert_int_equal(sweep_add_set(&s, "model=gptj-micro", &e), 0);
    assert_int_equal(sweep_add_set(&s, "chips=4", &e), 0);
    assert_int_equal(sweep_add_set(&s, "prompt_len=8", &e), 0);
    assert_int_equal(sweep_add_vary(&s, "clock_hz=1e9,2e9", &e), 0); /* an arch key without its prefix */
    if (sweep_finish(&s, 0, &e))
        fail_msg("%s", e.msg);
    RunConfig *rc = malloc(sizeof *rc);
    assert_non_null(rc);
    assert_int_equal(sweep_point_config(&s, 1, rc, &e), 0);
    if (runcfg_finish(rc, &e))
        fail_msg("%s", e.msg);
    assert_string_equal(rc->arch.name, "pod16");
    assert_int_equal(rc->arch.io_tiles, 64);
    assert_true(rc->arch.clock_hz == 2e9);
    free(rc);
    char *def = sweep_definition_text(&s);
    assert_non_null(def);
    char line[128];
    snprintf(line, sizeof line, "arch_file = %s\narch_file_fnv1a64 = ", path);
    assert_non_null(strstr(def, line));
    free(def);
    sweep_free(&s);
    sweep_init(&s);
    assert_int_equal(sweep_add_arch_file(&s, path, &e), 0);
    assert_int_equal(sweep_add_vary(&s, "arch=pod4,pod16", &e), 0);
    assert_int_equal(sweep_finish(&s, 0, &e), -1);
    if (!strstr(e.msg, "names arch preset 'pod4' but arch file ") || !strstr(e.msg, "names 'pod16'"))
        fail_msg("%s", e.msg);
    sweep_free(&s);
    unlink(path);
}

static void test_rows(void **st)
{
    (void)st;
    Sweep s;
    IpuErr e;
    const char *kv[] = {"formats=fp16,q4g:16;q4g:16"};
    if (make(&s, 0, kv, 1, &e))
        fail_msg("%s", e.msg);
    char *h = sweep_csv_header(&s);
    assert_non_null(h);
    const char *head = "formats,format,placement,bits_per_param,ttft_s,";
    assert_true(!strncmp(h, head, strlen(head)));
    assert_non_null(strstr(h, ",mbu_frac,"));
    assert_non_null(strstr(h, ",collective_frac,status,message\n"));
    FormatReport f16 = {.format = "fp16", .bits_per_param = 16, .placement = PLACE_STREAM, .ndecode = 1,
                        .batched_token_s = 0.004, .ttft_s = 0.01, .tpot_s = NAN, .mbu = 0.5, .decode_total_cycles = 100},
                 q4 = f16;
    snprintf(q4.format, sizeof q4.format, "q4g:16");
    q4.batched_token_s = 0.001, q4.decode_cycles[PHASE_STREAM] = 25;
    SweepRow r[2];
    sweep_row_from_report(&r[0], 0, 0, &f16);
    sweep_row_from_report(&r[1], 0, 1, &q4);
    sweep_rows_speedup(r, 2);
    assert_true(r[1].speedup_vs_fp16 == 4 && r[0].speedup_vs_fp16 == 1 && r[1].phase_frac[PHASE_STREAM] == 0.25);
    char *c = sweep_csv_row(&s, &r[1]);
    assert_non_null(c);
    const char *lead = "\"fp16,q4g:16\",q4g:16,stream,16,0.01,"; /* a value with a comma is quoted */
    assert_true(!strncmp(c, lead, strlen(lead)));
    assert_non_null(strstr(c, ",ok,\n"));
    char *j = sweep_jsonl_row(&s, &r[1]);
    assert_non_null(j);
    assert_true(j[strlen(j) - 1] == '\n');
    cJSON *o = cJSON_Parse(j);
    assert_int_equal(cJSON_GetObjectItem(o, "schema_version")->valueint, SWEEP_SCHEMA_VERSION);
    assert_string_equal(cJSON_GetObjectItem(o, "formats")->valuestring, "fp16,q4g:16");
    assert_true(cJSON_GetObjectItem(o, "speedup_vs_fp16")->valuedouble == 4);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "tpot_s"))); /* NaN */
    cJSON_Delete(o);
    free(c), free(j);
    SweepRow bad;
    sweep_row_error(&bad, 1, 0, "q4g:16", "out of tile memory:\nchip 0, \"tile\" 3");
    assert_true(isnan(bad.ttft_s));
    c = sweep_csv_row(&s, &bad);
    assert_non_null(strstr(c, "q4g:16,q4g:16,,,,")); /* empty metrics */
    assert_non_null(strstr(c, ",error,\"out of tile memory: chip 0, \"\"tile\"\" 3\"\n")); /* one line, quoted */
    free(c);
    free(h);
    sweep_free(&s);
}

static void test_complete_lines(void **st)
{
    (void)st;
    size_t lines, end;
    const char *t = "h\na\nb\nc";
    sweep_complete_lines(t, strlen(t), 1, &lines, &end);
    assert_int_equal(lines, 2);
    assert_int_equal(end, 6);
    sweep_complete_lines(t, strlen(t), 0, &lines, &end);
    assert_int_equal(lines, 3);
    sweep_complete_lines("hea", 3, 1, &lines, &end);
    assert_int_equal(lines, 0);
    assert_int_equal(end, 0);
}

static void test_metrics(void **st)
{
    (void)st;
    assert_int_equal(sweep_metric_count(), 19 + PHASE_COUNT);
    for (size_t i = 0; i < sweep_metric_count(); i++) {
        const char *n = sweep_metric_name(i);
        size_t l = strlen(n);
        /* units in the names; fractions are _frac, never percentages */
        assert_true(strstr(n, "_s") || strstr(n, "_bytes") || strstr(n, "_frac") || strstr(n, "bits_per_param") ||
                    strstr(n, "tile") || strstr(n, "speedup") || strstr(n, "memory_proportion") ||
                    strstr(n, "_flops") || l == 0);
        assert_null(strstr(n, "pct"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_vary_lists),   cmocka_unit_test(test_add_vary_ranges),
        cmocka_unit_test(test_add_vary_errors),  cmocka_unit_test(test_finish_and_points),
        cmocka_unit_test(test_finish_errors),    cmocka_unit_test(test_point_config),
        cmocka_unit_test(test_definition_text),  cmocka_unit_test(test_arch_file),  cmocka_unit_test(test_rows),
        cmocka_unit_test(test_complete_lines),   cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
