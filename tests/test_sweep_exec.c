/* test_sweep_exec.c - host/sweep_exec.h: a sweep's rows are, byte for byte,
 * the rows of separate fresh runs of each point; the same at any thread
 * count; a resumed run from point k continues the files exactly; cells that
 * share a lowering share a session (the lowering count); conflicting and
 * failing points give error rows and the others complete; the row count
 * --resume maps back to whole points. gptj-micro on a small pod4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/gptj_run.h"
#include "host/report.h"
#include "host/sweep_exec.h"

static void define(Sweep *s, const char *extra_vary)
{
    IpuErr e;
    sweep_init(s);
    const char *sets[] = {"model=gptj-micro", "arch=pod4", "arch.tiles_per_chip=64", "chips=2",
                          "prompt_len=8", "gen_tokens=3", "formats=fp16,q4g:16"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (sweep_add_set(s, sets[i], &e))
            fail_msg("%s", e.msg);
    if (sweep_add_vary(s, "batch=1,2", &e) || sweep_add_vary(s, "arch.stream.bandwidth_bytes_per_s=4e9,9e9,30e9", &e) ||
        (extra_vary && sweep_add_vary(s, extra_vary, &e)) || sweep_finish(s, 0, &e))
        fail_msg("%s", e.msg);
}

/* Runs from point first on threads; the CSV and JSONL text. */
static void run(const Sweep *s, int threads, size_t first, char **csv, char **jsonl, SweepStats *st)
{
    size_t n1 = 0, n2 = 0;
    FILE *c = open_memstream(csv, &n1), *j = open_memstream(jsonl, &n2);
    assert_non_null(c), assert_non_null(j);
    SweepRunOptions o = {threads, first, c, j, NULL, NULL};
    IpuErr e;
    if (sweep_run(s, &o, st, &e))
        fail_msg("%s", e.msg);
    fclose(c), fclose(j);
}

/* The CSV rows of fresh gptj_run's of every point, as `ipusim run` computes them. */
static char *fresh_rows(const Sweep *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    RunConfig *rc = malloc(sizeof *rc);
    assert_non_null(rc);
    IpuErr e;
    for (size_t p = 0; p < s->npoints; p++) {
        if (sweep_point_config(s, p, rc, &e) || runcfg_finish(rc, &e))
            fail_msg("%s", e.msg);
        Report rep;
        report_init(&rep, NULL);
        for (int i = 0; i < rc->nformats; i++) {
            RunOptions o;
            RunResult r;
            if (runcfg_options(rc, i, &o, &e) || gptj_run(&rc->arch, &o, NULL, NULL, NULL, &r, &e) ||
                report_add(&rep, &r, rc->batch, rc->chips_used, &rc->arch, &e))
                fail_msg("%s", e.msg);
            run_result_free(&r);
        }
        for (int i = 0; i < rep.n; i++) {
            SweepRow row;
            sweep_row_from_report(&row, p, i, &rep.f[i]);
            sweep_row_roofline(&row, rc, &rep.f[i]);
            row.speedup_vs_fp16 = rep.f[i].speedup_vs_fp16; /* report_add's own */
            char *line = sweep_csv_row(s, &row);
            fputs(line, f);
            free(line);
        }
        report_free(&rep);
    }
    free(rc);
    fclose(f);
    return text;
}

static void test_rows_equal_fresh_runs_at_any_thread_count(void **st_)
{
    (void)st_;
    Sweep s;
    define(&s, NULL);
    char *fresh = fresh_rows(&s);
    for (int threads = 1; threads <= 3; threads++) {
        char *csv, *jsonl;
        SweepStats st;
        run(&s, threads, 0, &csv, &jsonl, &st);
        assert_string_equal(csv, fresh);
        assert_int_equal(st.points, 6);
        assert_int_equal(st.cells, 12);
        assert_int_equal(st.units, 4);     /* batch x format: the bandwidths share a lowering */
        assert_int_equal(st.lowerings, 4);
        assert_int_equal(st.failed_points, 0);
        free(csv), free(jsonl);
    }
    free(fresh);
    sweep_free(&s);
}

static void test_resume_continues_the_files(void **st_)
{
    (void)st_;
    Sweep s;
    define(&s, NULL);
    char *csv, *jsonl, *c2, *j2;
    SweepStats st;
    run(&s, 2, 0, &csv, &jsonl, &st);
    /* a kill after 7 whole rows and part of the 8th: 3 whole points (6 rows) are kept */
    size_t points, rows;
    IpuErr e;
    if (sweep_points_in_rows(&s, 7, &points, &rows, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(points, 3);
    assert_int_equal(rows, 6);
    run(&s, 2, points, &c2, &j2, &st);
    assert_int_equal(st.points, 3);
    size_t cut = 0, jcut = 0;
    for (size_t k = 0; k < rows; k++)
        cut += strcspn(csv + cut, "\n") + 1, jcut += strcspn(jsonl + jcut, "\n") + 1;
    assert_int_equal(cut + strlen(c2), strlen(csv));
    assert_string_equal(csv + cut, c2);
    assert_string_equal(jsonl + jcut, j2);
    free(csv), free(jsonl), free(c2), free(j2);
    sweep_free(&s);
}

static void test_failing_points_are_rows(void **st_)
{
    (void)st_;
    /* chips 3 does not divide the heads; q4g:64 does not divide micro's per-chip axis (32) */
    Sweep s;
    IpuErr e;
    sweep_init(&s);
    const char *sets[] = {"model=gptj-micro", "arch=pod4", "arch.tiles_per_chip=64", "prompt_len=8", "gen_tokens=2"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        assert_int_equal(sweep_add_set(&s, sets[i], &e), 0);
    if (sweep_add_vary(&s, "chips=2,3", &e) || sweep_add_vary(&s, "formats=fp16,q4g:16;q4g:64", &e) ||
        sweep_finish(&s, 0, &e))
        fail_msg("%s", e.msg);
    char *csv, *jsonl;
    SweepStats st;
    run(&s, 2, 0, &csv, &jsonl, &st);
    assert_int_equal(st.points, 4);
    assert_int_equal(st.cells, 6);
    assert_int_equal(st.failed_points, 3);
    /* point 0 (chips 2, fp16 and q4g:16) ran; the others are error rows with their reason */
    const char *l = csv;
    for (int row = 0; row < 6; row++, l = strchr(l, '\n') + 1) {
        size_t len = strcspn(l, "\n");
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)len, l);
        if (row < 2)
            assert_non_null(strstr(line, ",ok,"));
        else
            assert_non_null(strstr(line, ",error,"));
        if (row == 2)
            assert_non_null(strstr(line, "group size 64 does not divide"));
        if (row >= 3)
            assert_non_null(strstr(line, "chips"));
    }
    free(csv), free(jsonl);
    sweep_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_equal_fresh_runs_at_any_thread_count),
        cmocka_unit_test(test_resume_continues_the_files),
        cmocka_unit_test(test_failing_points_are_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
