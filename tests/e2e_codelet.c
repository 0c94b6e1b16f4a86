/* e2e_codelet.c - the `ipusim codelet` subcommand as a user runs it: output
 * and exit codes (0 ok, 1 user error, 2 usage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs `ipusim ARGS` and returns its exit code; out gets stdout+stderr. */
static int run_ipusim(const char *args, char *out, size_t cap)
{
    const char *bin = getenv("IPUSIM_BIN");
    assert_non_null(bin);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static char buf[1 << 16];

static void test_list(void **state)
{
    (void)state;
    assert_int_equal(run_ipusim("codelet list", buf, sizeof buf), 0);
    const char *names[] = {"decompress:", "twopass", "fused", "lut", "fused2", "nibunpack", "decompress_q4.fused"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strstr(buf, names[i]))
            fail_msg("'codelet list' lacks '%s':\n%s", names[i], buf);
}

static void test_validate_one_variant(void **state)
{
    (void)state;
    assert_int_equal(run_ipusim("codelet validate decompress --variant fused2", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "fused2       PASS"));
    assert_non_null(strstr(buf, " 0 mismatches"));
    assert_null(strstr(buf, "twopass"));
}

static void test_errors_and_usage(void **state)
{
    (void)state;
    assert_int_equal(run_ipusim("codelet validate decompress --variant fastest", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "unknown variant 'fastest'"));
    assert_int_equal(run_ipusim("codelet validate decompres", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "unknown codelet family 'decompres'"));
    assert_int_equal(run_ipusim("codelet validate matmul", buf, sizeof buf), 1);
    assert_int_equal(run_ipusim("codelet validate decompress --seed x1", buf, sizeof buf), 1);
    assert_int_equal(run_ipusim("codelet validate", buf, sizeof buf), 2);
    assert_int_equal(run_ipusim("codelet validate decompress --bogus", buf, sizeof buf), 2);
    assert_int_equal(run_ipusim("codelet frobnicate", buf, sizeof buf), 2);
    assert_int_equal(run_ipusim("codelet", buf, sizeof buf), 2);
    assert_int_equal(run_ipusim("codelet --help", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "codelet validate"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_validate_one_variant),
        cmocka_unit_test(test_errors_and_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
