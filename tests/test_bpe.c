/* test_bpe.c - models/bpe: GPT-2 encodings against gpt-3-encoder's own
 * output (tests/data/bpe_cases.json, see tests/data/README.md), round trips,
 * invalid input, malformed vocabulary files, vocabulary lookup, the CLI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "models/bpe.h"

static Bpe *gpt2;

static int setup_gpt2(void **state)
{
    (void)state;
    IpuErr e = {{0}};
    char dir[BPE_PATH_BYTES];
    if (bpe_find_vocab(NULL, dir, sizeof dir, &e) < 0 || !(gpt2 = bpe_create(dir, &e))) {
        fprintf(stderr, "test_bpe: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown_gpt2(void **state)
{
    (void)state;
    bpe_destroy(gpt2);
    return 0;
}

static void encode_ok(Bpe *b, const char *text, size_t len, unsigned flags, BpeIds *out)
{
    IpuErr e = {{0}};
    out->n = 0;
    if (bpe_encode(b, text, len, flags, out, &e) < 0)
        fail_msg("encode: %s", e.msg);
}

static void assert_roundtrip(Bpe *b, const char *text, size_t len)
{
    BpeIds ids = {0};
    IpuErr e = {{0}};
    encode_ok(b, text, len, 0, &ids);
    size_t n;
    char *back = bpe_decode(b, ids.ids, ids.n, &n, &e);
    if (!back)
        fail_msg("decode: %s", e.msg);
    assert_int_equal(n, len);
    assert_memory_equal(back, text, len);
    free(back);
    bpe_ids_free(&ids);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Every fixture case encodes to exactly the ids gpt-3-encoder gave, and they
 * decode back to the text. */
static void test_known_encodings(void **state)
{
    (void)state;
    char path[1024];
    const char *src = getenv("IPUSIM_SOURCE_DIR");
    assert_non_null(src);
    snprintf(path, sizeof path, "%s/tests/data/bpe_cases.json", src);
    char *text = slurp(path);
    if (!text)
        fail_msg("cannot read %s", path);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    cJSON *cases = cJSON_GetObjectItem(root, "cases");
    assert_true(cJSON_GetArraySize(cases) >= 20);
    BpeIds got = {0};
    int checked = 0;
    for (cJSON *c = cases->child; c; c = c->next) {
        const char *t = cJSON_GetObjectItem(c, "text")->valuestring;
        int special = cJSON_IsTrue(cJSON_GetObjectItem(c, "special"));
        cJSON *want = cJSON_GetObjectItem(c, "ids");
        encode_ok(gpt2, t, strlen(t), special ? BPE_ALLOW_SPECIAL : 0, &got);
        int n = cJSON_GetArraySize(want), i = 0;
        int same = got.n == (size_t)n;
        for (cJSON *w = want->child; w && same; w = w->next, i++)
            same = got.ids[i] == (int32_t)w->valuedouble;
        if (!same) {
            fprintf(stderr, "text \"%s\": got", t);
            for (size_t k = 0; k < got.n; k++)
                fprintf(stderr, " %d", got.ids[k]);
            fprintf(stderr, "\n");
            fail_msg("encoding of \"%s\" differs from gpt-3-encoder", t);
        }
        IpuErr e = {{0}};
        size_t len;
        char *back = bpe_decode(gpt2, got.ids, got.n, &len, &e);
        assert_non_null(back);
        assert_string_equal(back, t);
        free(back);
        checked++;
    }
    assert_true(checked >= 20);
    bpe_ids_free(&got);
    cJSON_Delete(root);
}

static void test_special_token(void **state)
{
    (void)state;
    assert_int_equal(bpe_endoftext_id(gpt2), 50256);
    assert_int_equal(bpe_vocab_size(gpt2), 50257);
    BpeIds ids = {0};
    encode_ok(gpt2, BPE_ENDOFTEXT, strlen(BPE_ENDOFTEXT), BPE_ALLOW_SPECIAL, &ids);
    assert_int_equal(ids.n, 1);
    assert_int_equal(ids.ids[0], 50256);
    encode_ok(gpt2, BPE_ENDOFTEXT, strlen(BPE_ENDOFTEXT), 0, &ids);
    assert_true(ids.n > 1); /* plain text unless asked */
    bpe_ids_free(&ids);
}

/* Encode then decode returns valid UTF-8 exactly: every ASCII byte including
 * NUL and controls, odd spaces (NBSP, NEL, BOM, U+3000), and pseudo-random
 * code points from all four UTF-8 lengths. */
static void test_roundtrip(void **state)
{
    (void)state;
    char ascii[128];
    for (int i = 0; i < 128; i++)
        ascii[i] = (char)i;
    assert_roundtrip(gpt2, ascii, sizeof ascii);
    const char odd[] = "a\xc2\xa0" "b\xc2\x85" "c\xef\xbb\xbf" "d\xe3\x80\x80" "e  \n \t\r\n\v\f x";
    assert_roundtrip(gpt2, odd, sizeof odd - 1);
    assert_roundtrip(gpt2, "", 0);

    uint64_t s = 0x2545f4914f6cdd1dull;
    char buf[4096];
    for (int round = 0; round < 50; round++) {
        size_t n = 0;
        while (n + 4 < sizeof buf) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            uint32_t pick = (uint32_t)(s >> 40) % 4, cp;
            uint32_t r = (uint32_t)(s & 0xffffffu);
            if (pick == 0)
                cp = r % 0x80;
            else if (pick == 1)
                cp = 0x80 + r % (0x800 - 0x80);
            else if (pick == 2)
                cp = 0x800 + r % (0x10000 - 0x800);
            else
                cp = 0x10000 + r % (0x110000 - 0x10000);
            if (cp >= 0xd800 && cp <= 0xdfff)
                continue;
            if (cp < 0x80) {
                buf[n++] = (char)cp;
            } else if (cp < 0x800) {
                buf[n++] = (char)(0xc0 | cp >> 6);
                buf[n++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                buf[n++] = (char)(0xe0 | cp >> 12);
                buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                buf[n++] = (char)(0x80 | (cp & 0x3f));
            } else {
                buf[n++] = (char)(0xf0 | cp >> 18);
                buf[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                buf[n++] = (char)(0x80 | (cp & 0x3f));
            }
        }
        assert_roundtrip(gpt2, buf, n);
    }
}

/* More distinct words than the cache holds: the cache is flushed and the
 * answers stay the same. */
static void test_cache_flush(void **state)
{
    (void)state;
    enum { WORDS = 70000 };
    char *text = malloc(WORDS * 12);
    size_t n = 0;
    for (int i = 0; i < WORDS; i++)
        n += (size_t)sprintf(text + n, " w%dq", i);
    BpeIds a = {0}, b = {0};
    encode_ok(gpt2, text, n, 0, &a);
    encode_ok(gpt2, text, n, 0, &b);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.ids, b.ids, a.n * sizeof *a.ids);
    assert_roundtrip(gpt2, text, n);
    bpe_ids_free(&a);
    bpe_ids_free(&b);
    free(text);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const struct { const char *s; size_t len, offset; } bad[] = {
        {"abc\xff", 4, 3},
        {"ok \xc0\xaf", 5, 3},          /* overlong '/' */
        {"x\xed\xa0\x80y", 5, 1},       /* surrogate U+D800 */
        {"tail \xe6\x97", 7, 5},        /* truncated */
        {"\xf4\x90\x80\x80", 4, 0},     /* above U+10FFFF */
        {"caf\xc3\xa9 \x80", 7, 6},     /* stray continuation after a valid char */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        BpeIds ids = {0};
        IpuErr e = {{0}};
        char want[64];
        assert_int_equal(bpe_encode(gpt2, bad[i].s, bad[i].len, 0, &ids, &e), -1);
        snprintf(want, sizeof want, "byte offset %zu", bad[i].offset);
        if (!strstr(e.msg, want))
            fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, want);
        bpe_ids_free(&ids);
    }
}

static void test_decode_unknown_id(void **state)
{
    (void)state;
    const int32_t ids[] = {15496, 50257};
    IpuErr e = {{0}};
    assert_null(bpe_decode(gpt2, ids, 2, NULL, &e));
    assert_non_null(strstr(e.msg, "50257"));
    assert_non_null(strstr(e.msg, "position 1"));
    const int32_t neg[] = {-1};
    assert_null(bpe_decode(gpt2, neg, 1, NULL, &e));
    assert_non_null(strstr(e.msg, "-1"));
}

/* ---- tiny vocabularies written by the test ------------------------------ */

static char tmpdir[256];

/* GPT-2's byte-to-character table, written out here independently. */
static unsigned byte_char(int c)
{
    int next = 256;
    for (int i = 0; i < 256; i++) {
        int printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
        unsigned cp = printable ? (unsigned)i : (unsigned)next++;
        if (i == c)
            return cp;
    }
    return 0;
}

static void put_char(FILE *f, unsigned cp)
{
    if (cp == '"' || cp == '\\')
        fprintf(f, "\\%c", cp);
    else if (cp < 0x80)
        fputc((int)cp, f);
    else
        fprintf(f, "%c%c", 0xc0 | cp >> 6, 0x80 | (cp & 0x3f));
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* vocab.json: the 256 byte tokens (ids = byte values, byte `skip` left out
 * when skip >= 0), then `extra` ("\"he\": 256, ..."). */
static void write_vocab(const char *name, int skip, const char *extra)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    const char *sep = "{";
    for (int c = 0; c < 256; c++) {
        if (c == skip)
            continue;
        fprintf(f, "%s\"", sep);
        put_char(f, byte_char(c));
        fprintf(f, "\": %d", c);
        sep = ", ";
    }
    fprintf(f, "%s%s}", *extra ? ", " : "", extra);
    fclose(f);
}

static const char tiny_extra[] = "\"he\": 256, \"ll\": 257, \"hell\": 258, \"hello\": 259, \"aa\": 260, \"aaa\": 261, "
                                 "\"<|endoftext|>\": 262";
static const char tiny_merges[] = "#version: 0.2\nh e\nl l\nhe ll\nhell o\na a\naa a\n";

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ipusim_test_bpe_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    const char *names[] = {"vocab.json", "merges.txt", "encoder.json", "vocab.bpe", "bad.json", "bad.txt"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return 0;
}

static void test_tiny_vocab(void **state)
{
    (void)state;
    write_vocab("vocab.json", -1, tiny_extra);
    write_file("merges.txt", tiny_merges);
    IpuErr e = {{0}};
    Bpe *b = bpe_create(tmpdir, &e);
    if (!b)
        fail_msg("%s", e.msg);
    BpeIds ids = {0};
    encode_ok(b, "hello", 5, 0, &ids);
    assert_int_equal(ids.n, 1);
    assert_int_equal(ids.ids[0], 259);
    encode_ok(b, "hel", 3, 0, &ids);
    assert_int_equal(ids.n, 2);
    assert_int_equal(ids.ids[0], 256);
    assert_int_equal(ids.ids[1], 'l');
    /* "aaaa": the best pair (a a) is merged everywhere in one pass -> aa aa;
     * merging only its leftmost occurrence would then prefer (aa a) -> aaa a. */
    encode_ok(b, "aaaa", 4, 0, &ids);
    assert_int_equal(ids.n, 2);
    assert_int_equal(ids.ids[0], 260);
    assert_int_equal(ids.ids[1], 260);
    encode_ok(b, "aaa", 3, 0, &ids);
    assert_int_equal(ids.n, 1);
    assert_int_equal(ids.ids[0], 261);
    assert_int_equal(bpe_endoftext_id(b), 262);
    assert_roundtrip(b, "hello aaaa <|endoftext|>", 24);
    bpe_ids_free(&ids);
    bpe_destroy(b);
}

/* Loads vocab/merges from the tmp dir and expects an error naming `file`
 * and containing `what`. */
static void expect_load_error(const char *vocab, const char *merges, const char *file, const char *what)
{
    char vp[512], mp[512];
    snprintf(vp, sizeof vp, "%s/%s", tmpdir, vocab);
    snprintf(mp, sizeof mp, "%s/%s", tmpdir, merges);
    IpuErr e = {{0}};
    Bpe *b = bpe_create_files(vp, mp, &e);
    if (b) {
        bpe_destroy(b);
        fail_msg("%s + %s loaded, expected an error about %s", vocab, merges, what);
    }
    if (!strstr(e.msg, file) || !strstr(e.msg, what))
        fail_msg("error '%s' should name '%s' and say '%s'", e.msg, file, what);
}

/* Merges whose ranks are not ordered ("aa a" ranks before the "a a" that
 * makes aa): the tokenizer must fall back to whole merge passes. "aaaa":
 * the only pair present at first is (a a), merged everywhere -> aa aa, and
 * (aa aa) is no merge. Popping candidates one at a time instead would merge
 * (a a) at 0, then the new (aa a) of rank 0 -> aaa a. */
static void test_unordered_merges(void **state)
{
    (void)state;
    write_vocab("vocab.json", -1, tiny_extra);
    write_file("merges.txt", "aa a\na a\n");
    IpuErr e = {{0}};
    Bpe *b = bpe_create(tmpdir, &e);
    if (!b)
        fail_msg("%s", e.msg);
    BpeIds ids = {0};
    encode_ok(b, "aaaa", 4, 0, &ids);
    assert_int_equal(ids.n, 2);
    assert_int_equal(ids.ids[0], 260);
    assert_int_equal(ids.ids[1], 260);
    encode_ok(b, "aaa", 3, 0, &ids);
    assert_int_equal(ids.n, 1);
    assert_int_equal(ids.ids[0], 261);
    bpe_ids_free(&ids);
    bpe_destroy(b);
}

static void test_malformed_vocab(void **state)
{
    (void)state;
    write_vocab("vocab.json", -1, tiny_extra);
    write_file("merges.txt", tiny_merges);
    write_file("bad.json", "{\"a\": 1, \"b\": ");
    expect_load_error("bad.json", "merges.txt", "bad.json", "not valid JSON");
    write_file("bad.json", "[1, 2, 3]");
    expect_load_error("bad.json", "merges.txt", "bad.json", "JSON object");
    write_file("bad.json", "{\"a\": 1.5}");
    expect_load_error("bad.json", "merges.txt", "bad.json", "not an integer");
    write_file("bad.json", "{\"a\": \"one\"}");
    expect_load_error("bad.json", "merges.txt", "bad.json", "wrong type");
    write_file("bad.json", "{\"a\": 1, \"b\": 1}");
    expect_load_error("bad.json", "merges.txt", "bad.json", "two tokens");
    write_file("bad.json", "{\"a\": 1, \" \": 2}"); /* a raw space is not in the byte alphabet */
    expect_load_error("bad.json", "merges.txt", "bad.json", "U+0020");
    write_vocab("bad.json", 'q', "");
    expect_load_error("bad.json", "merges.txt", "bad.json", "byte 0x71");
    expect_load_error("missing.json", "merges.txt", "missing.json", "cannot open");

    write_file("bad.txt", "#version: 0.2\nh e\nl l l\n");
    expect_load_error("vocab.json", "bad.txt", "bad.txt", "line 3");
    write_file("bad.txt", "h e\nx y\n");
    expect_load_error("vocab.json", "bad.txt", "bad.txt", "line 2");
    write_file("bad.txt", "h e\nh e\n");
    expect_load_error("vocab.json", "bad.txt", "bad.txt", "twice");
    write_file("bad.txt", "h  e\n");
    expect_load_error("vocab.json", "bad.txt", "bad.txt", "line 1");
}

static void test_find_vocab(void **state)
{
    (void)state;
    char out[BPE_PATH_BYTES], data[512], sub[600];
    IpuErr e = {{0}};
    /* the npm spelling in a data folder's gpt2/ */
    snprintf(data, sizeof data, "%s/data", tmpdir);
    snprintf(sub, sizeof sub, "%s/gpt2", data);
    assert_int_equal(mkdir(data, 0700), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    char vp[700], mp[700];
    snprintf(vp, sizeof vp, "%s/encoder.json", sub);
    snprintf(mp, sizeof mp, "%s/vocab.bpe", sub);
    write_vocab("vocab.json", -1, tiny_extra);
    write_file("merges.txt", tiny_merges);
    char src[512];
    snprintf(src, sizeof src, "%s/vocab.json", tmpdir);
    assert_int_equal(link(src, vp), 0);
    snprintf(src, sizeof src, "%s/merges.txt", tmpdir);
    assert_int_equal(link(src, mp), 0);

    const char *old_data = getenv("IPUSIM_DATA"), *old_vocab = getenv("IPUSIM_VOCAB");
    char *saved = old_data ? strdup(old_data) : NULL, *saved_vocab = old_vocab ? strdup(old_vocab) : NULL;
    setenv("IPUSIM_DATA", data, 1);
    unsetenv("IPUSIM_VOCAB");
    assert_int_equal(bpe_find_vocab(NULL, out, sizeof out, &e), 0);
    assert_string_equal(out, sub);
    Bpe *b = bpe_create(out, &e);
    assert_non_null(b);
    bpe_destroy(b);
    /* $IPUSIM_VOCAB beats the data folder; an explicit folder beats both */
    setenv("IPUSIM_VOCAB", tmpdir, 1);
    assert_int_equal(bpe_find_vocab(NULL, out, sizeof out, &e), 0);
    assert_string_equal(out, tmpdir);
    assert_int_equal(bpe_find_vocab(sub, out, sizeof out, &e), 0);
    assert_string_equal(out, sub);
    /* a folder without the files is an error naming it, never a fallback */
    assert_int_equal(bpe_find_vocab(data, out, sizeof out, &e), -1);
    assert_non_null(strstr(e.msg, data));
    setenv("IPUSIM_VOCAB", data, 1);
    assert_int_equal(bpe_find_vocab(NULL, out, sizeof out, &e), -1);
    assert_non_null(strstr(e.msg, "IPUSIM_VOCAB"));
    unsetenv("IPUSIM_VOCAB");
    setenv("IPUSIM_DATA", tmpdir, 1);
    assert_int_equal(bpe_find_vocab(NULL, out, sizeof out, &e), -1);
    assert_non_null(strstr(e.msg, "scripts/setup"));

    if (saved)
        setenv("IPUSIM_DATA", saved, 1);
    else
        unsetenv("IPUSIM_DATA");
    free(saved);
    if (saved_vocab)
        setenv("IPUSIM_VOCAB", saved_vocab, 1);
    free(saved_vocab);
    unlink(vp);
    unlink(mp);
    rmdir(sub);
    rmdir(data);
}

/* ---- the CLI ------------------------------------------------------------ */

/* Runs `ipusim tokenize ARGS`, returns its exit code, stdout in out. */
static int run_cli(const char *args, char *out, size_t cap)
{
    char a[2048];
    snprintf(a, sizeof a, "tokenize %s", args);
    return tu_ipusim(NULL, a, 0, out, cap);
}

static void test_cli(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(run_cli("'Hello world'", out, sizeof out), 0);
    assert_string_equal(out, "15496 995\n");
    assert_int_equal(run_cli("--decode 15496 995", out, sizeof out), 0);
    assert_string_equal(out, "Hello world\n");
    assert_int_equal(run_cli("--special 'x<|endoftext|>y'", out, sizeof out), 0);
    assert_string_equal(out, "87 50256 88\n");
    assert_int_equal(run_cli("--decode 99999", out, sizeof out), 1);
    assert_int_equal(run_cli("--decode 12x", out, sizeof out), 2);
    assert_int_equal(run_cli("", out, sizeof out), 2);
    assert_int_equal(run_cli("--bogus x", out, sizeof out), 2);
    char args[600];
    snprintf(args, sizeof args, "--vocab '%s' 'x'", "/nonexistent-vocab-dir");
    assert_int_equal(run_cli(args, out, sizeof out), 1);
}

int main(void)
{
    const struct CMUnitTest gpt2_tests[] = {
        cmocka_unit_test(test_known_encodings),
        cmocka_unit_test(test_special_token),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_cache_flush),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_decode_unknown_id),
        cmocka_unit_test(test_cli),
    };
    const struct CMUnitTest file_tests[] = {
        cmocka_unit_test(test_tiny_vocab),
        cmocka_unit_test(test_unordered_merges),
        cmocka_unit_test(test_malformed_vocab),
        cmocka_unit_test(test_find_vocab),
    };
    int fails = cmocka_run_group_tests_name("gpt2", gpt2_tests, setup_gpt2, teardown_gpt2);
    fails += cmocka_run_group_tests_name("files", file_tests, setup_tmp, teardown_tmp);
    return fails;
}
