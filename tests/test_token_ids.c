/* test_token_ids.c - models/token_ids: lists with commas and any
 * whitespace, and every error naming its source, the position and the
 * text or id at fault (a file's also the line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "models/token_ids.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_ids_");
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

static void test_parse(void **state)
{
    (void)state;
    uint32_t *ids;
    size_t n;
    IpuErr e;
    assert_int_equal(token_ids_parse("464,3290, 318\t\n 0 ,,2147483647", "--ids", 0, NULL, &ids, &n, &e), 0);
    uint32_t want[] = {464, 3290, 318, 0, 2147483647u};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    assert_int_equal(token_ids_parse("7", "--ids", 8, "m", &ids, &n, &e), 0); /* the vocabulary's last id */
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 7);
    free(ids);
}

/* token_ids_parse of text fails with every piece of want in its message. */
static void parse_fails(const char *text, int vocab, const char *want1, const char *want2)
{
    uint32_t *ids = (uint32_t *)1;
    size_t n;
    IpuErr e;
    assert_int_equal(token_ids_parse(text, "--ids", vocab, "gptj-micro", &ids, &n, &e), -1);
    assert_null(ids);
    if (!strstr(e.msg, "--ids") || !strstr(e.msg, want1) || !strstr(e.msg, want2))
        fail_msg("'%s': got '%s', want '%s' and '%s'", text, e.msg, want1, want2);
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_fails("", 0, "no token ids", "464,3290,318");
    parse_fails(" ,\n", 0, "no token ids", "");
    parse_fails("1,2,x7", 0, "'x7' at position 2", "is not a token id");
    parse_fails("1 -1", 0, "'-1' at position 1", "decimal integer");
    parse_fails("12a", 0, "'12a' at position 0", "");
    parse_fails("1;2", 0, "'1;2' at position 0", "");
    parse_fails("2147483648", 0, "'2147483648' at position 0", "0..2147483647");
    parse_fails("99999999999999999999", 0, "position 0", "not a token id");
    parse_fails("3 512 4", 512, "id 512 at position 1", "outside the vocabulary of gptj-micro (0..511)");
}

static void test_read(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/ids.txt", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("10, 11\n12\n\n13 14,\n", f);
    fclose(f);
    uint32_t *ids;
    size_t n;
    IpuErr e;
    assert_int_equal(token_ids_read(path, "--ids-file", 0, NULL, &ids, &n, &e), 0);
    uint32_t want[] = {10, 11, 12, 13, 14};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    assert_int_equal(token_ids_read(path, "--ids-file", 14, "gptj-x", &ids, &n, &e), -1);
    assert_non_null(strstr(e.msg, "--ids-file '"));
    assert_non_null(strstr(e.msg, "ids.txt': id 14 at position 4 is outside the vocabulary of gptj-x (0..13)"));
    f = fopen(path, "w");
    fputs("10 11\n12 1e3\n", f);
    fclose(f);
    assert_int_equal(token_ids_read(path, "--ids-file", 0, NULL, &ids, &n, &e), -1);
    assert_non_null(strstr(e.msg, "ids.txt': line 2: '1e3' at position 3 is not a token id"));
    f = fopen(path, "w");
    fwrite("1 2\0 3", 1, 6, f);
    fclose(f);
    assert_int_equal(token_ids_read(path, "--ids-file", 0, NULL, &ids, &n, &e), -1);
    assert_non_null(strstr(e.msg, "a NUL byte at offset 3"));
    snprintf(path, sizeof path, "%s/missing.txt", tmpdir);
    assert_int_equal(token_ids_read(path, "--ids-file", 0, NULL, &ids, &n, &e), -1);
    assert_non_null(strstr(e.msg, "missing.txt"));
    assert_non_null(strstr(e.msg, "No such file or directory"));
}

static void test_check(void **state)
{
    (void)state;
    uint32_t ids[3] = {0, 50399, 50400};
    IpuErr e;
    assert_int_equal(token_ids_check(ids, 2, "--teacher-force", 50400, "gptj-6b", &e), 0);
    assert_int_equal(token_ids_check(ids, 3, "--teacher-force", 50400, "gptj-6b", &e), -1);
    assert_string_equal(e.msg, "--teacher-force: id 50400 at position 2 is outside the vocabulary of gptj-6b (0..50399)");
    assert_int_equal(token_ids_check(ids, 3, "--ids", 0, NULL, &e), 0); /* no vocabulary: unchecked */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
