/* test_progress.c - host/progress.h: the line's text, the time left from
 * the items done in this run (a resumed start does not count), and that a
 * stream that is not a terminal gets nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/progress.h"

static void test_format(void **st)
{
    (void)st;
    char buf[160];
    progress_format(buf, sizeof buf, "points", 120, 1000, 2, 12.4, 90.0);
    assert_string_equal(buf, "points 120/1000, 2 failed, 0:12 elapsed, ETA 1:30");
    progress_format(buf, sizeof buf, "points", 0, 10, 0, 0, -1);
    assert_string_equal(buf, "points 0/10, 0 failed, 0:00 elapsed, ETA -");
    progress_format(buf, sizeof buf, "rows", 5, 9, 1, 3725, 7322);
    assert_string_equal(buf, "rows 5/9, 1 failed, 1:02:05 elapsed, ETA 2:02:02");
}

static void test_eta(void **st)
{
    (void)st;
    assert_true(progress_eta_s(0, 10, 100, 5.0) == 45.0);
    /* resumed at 50: the rate is of the 10 items done since, not of 60 */
    assert_true(progress_eta_s(50, 60, 100, 5.0) == 20.0);
    assert_true(progress_eta_s(50, 50, 100, 5.0) < 0); /* nothing done yet: unknown */
    assert_true(progress_eta_s(0, 100, 100, 5.0) == 0);
}

static void test_silent_off_a_terminal(void **st)
{
    (void)st;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    Progress p;
    progress_init(&p, f, "points", 10, 0, 0);
    assert_false(p.enabled);
    progress_update(&p, 5, 1);
    progress_finish(&p);
    assert_int_equal(p.done, 5);
    assert_int_equal(p.failed, 1);
    fclose(f);
    assert_int_equal(len, 0);
    free(text);
    progress_init(&p, stderr, "points", 10, 0, 1); /* quiet */
    assert_false(p.enabled);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_silent_off_a_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
