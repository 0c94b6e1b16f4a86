/* test_plot.c - host/plot.h: a plot rendered in a build folder for its
 * final folder draws its picture there, and its script, moved with its data
 * to the final folder, redraws the same picture when gnuplot runs it from
 * another folder, and again after the folder moves; names gnuplot cannot quote are refused; a broken script
 * fails with gnuplot's message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "host/plot.h"
#include "tests/testutil.h"

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void test_render_and_rerun(void **st)
{
    (void)st;
    const char *ext = NULL, *term = plot_terminal(&ext);
    assert_non_null(term); /* scripts/setup installs gnuplot-nox */
    char root[64], build[128], final[128], path[256], body[512], cmd[600];
    assert_int_equal(tu_tmpdir_create(root, sizeof root, "ipusim-plot-"), 0);
    snprintf(build, sizeof build, "%s/build", root);
    snprintf(final, sizeof final, "%s/final", root);
    assert_int_equal(mkdir(build, 0755), 0);
    IpuErr e;
    snprintf(path, sizeof path, "%s/line.dat", build);
    assert_int_equal(fileio_write(path, "1 1\n2 4\n3 9\n", 12, &e), 0);
    snprintf(body, sizeof body, "set terminal %s\nplot dir.'/line.dat' using 1:2 with lines title 'y'\n", term);
    if (plot_render(build, final, "line", ext, body, &e))
        fail_msg("%s", e.msg);
    snprintf(path, sizeof path, "%s/line.%s", build, ext);
    assert_true(file_size(path) > 0);
    /* the outputs move to the final folder; the script redraws there, run from / */
    assert_int_equal(rename(build, final), 0);
    snprintf(path, sizeof path, "%s/line.%s", final, ext);
    assert_int_equal(unlink(path), 0);
    snprintf(cmd, sizeof cmd, "cd / && gnuplot '%s/line.gp' 2>/dev/null", final);
    assert_int_equal(system(cmd), 0);
    assert_true(file_size(path) > 0);
    snprintf(path, sizeof path, "%s/line.log", final);
    assert_true(file_size(path) < 0); /* no log left behind */
    /* moved again (a copied study, a renamed out folder): the script finds its own folder */
    char moved[160];
    snprintf(moved, sizeof moved, "%s/moved", root);
    assert_int_equal(rename(final, moved), 0);
    snprintf(path, sizeof path, "%s/line.%s", moved, ext);
    assert_int_equal(unlink(path), 0);
    snprintf(cmd, sizeof cmd, "cd / && gnuplot '%s/line.gp' 2>/dev/null", moved);
    assert_int_equal(system(cmd), 0);
    assert_true(file_size(path) > 0);
    snprintf(path, sizeof path, "%s/line.%s", final, ext);
    assert_true(file_size(path) < 0); /* not drawn at the old place */
    assert_int_equal(rename(moved, final), 0);
    /* a broken script: gnuplot's message */
    assert_int_equal(mkdir(build, 0755), 0);
    assert_int_equal(plot_render(build, final, "bad", ext, "plot nothing_here(x\n", &e), -1);
    assert_non_null(strstr(e.msg, "plot 'bad': gnuplot failed"));
    assert_int_equal(plot_render(build, "/tmp/it's", "q", ext, body, &e), -1);
    assert_non_null(strstr(e.msg, "quotes"));
    assert_false(plot_quotable("a'b"));
    assert_true(plot_quotable("/tmp/a b"));
    tu_tmpdir_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_and_rerun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
