/* test_gptj_config.c - models/gptj_config: presets, Hugging Face config.json
 * parsing and the errors for unsupported values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "models/gptj_config.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_cfg_");
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

static const char *write_cfg(const char *name, const char *json)
{
    static char path[400];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    return path;
}

static void test_presets(void **state)
{
    (void)state;
    GptjConfig c;
    IpuErr e = {{0}};
    assert_int_equal(gptj_config_preset(&c, "gptj-6b", &e), 0);
    assert_int_equal(c.n_layer, 28);
    assert_int_equal(c.n_embd, 4096);
    assert_int_equal(c.n_head, 16);
    assert_int_equal(c.head_dim, 256);
    assert_int_equal(c.rotary_dim, 64);
    assert_int_equal(c.n_inner, 16384);
    assert_int_equal(c.vocab_size, 50400);
    assert_int_equal(c.n_positions, 2048);
    /* 2 V C + L (4 C^2 + 2 I C) matrices + L (3C + I) + 2C + V gains and biases */
    assert_true(gptj_config_n_matrix_params(&c) == 6050021376ull);
    assert_true(gptj_config_n_params(&c) == 6050882784ull);
    assert_int_equal(gptj_config_validate(&c, "x", &e), 0);
    assert_int_equal(gptj_config_preset(&c, "gptj-tiny", &e), 0);
    assert_int_equal(c.n_embd, 256);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.rotary_dim, 32);
    assert_int_equal(gptj_config_preset(&c, "gptj-micro", &e), 0);
    assert_true(c.vocab_size <= 1024);
    assert_int_equal(gptj_config_validate(&c, "x", &e), 0);
    assert_int_equal(gptj_config_preset(&c, "gpt-neo", &e), -1);
    assert_non_null(strstr(e.msg, "unknown model config 'gpt-neo'"));
}

static void test_load_hf_ok(void **state)
{
    (void)state;
    /* the shape of the real GPT-J 6B config.json, extra keys included */
    const char *p = write_cfg("config.json",
                              "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPTJForCausalLM\"],"
                              " \"attn_pdrop\": 0.0, \"bos_token_id\": 50256, \"embd_pdrop\": 0.0,"
                              " \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gptj\", \"n_embd\": 4096,"
                              " \"n_head\": 16, \"n_inner\": null, \"n_layer\": 28, \"n_positions\": 2048,"
                              " \"rotary\": true, \"rotary_dim\": 64, \"tie_word_embeddings\": false,"
                              " \"vocab_size\": 50400, \"torch_dtype\": \"float16\"}");
    GptjConfig c, ref;
    IpuErr e = {{0}};
    assert_int_equal(gptj_config_load_hf(&c, p, &e), 0);
    gptj_config_preset(&ref, "gptj-6b", &e);
    assert_int_equal(c.n_inner, 16384); /* null means 4 * n_embd */
    assert_int_equal(c.n_layer, ref.n_layer);
    assert_int_equal(c.head_dim, ref.head_dim);
    assert_int_equal(c.rotary_dim, ref.rotary_dim);
    assert_true(c.layer_norm_eps == 1e-5f);
    assert_true(gptj_config_n_params(&c) == gptj_config_n_params(&ref));
    /* resolve accepts the directory too */
    assert_int_equal(gptj_config_resolve(&c, tmpdir, &e), 0);
    assert_int_equal(c.n_embd, 4096);
    /* rotary_dim null: the whole head rotates */
    p = write_cfg("c2.json", "{\"n_embd\": 64, \"n_head\": 4, \"n_layer\": 1, \"vocab_size\": 10, \"rotary_dim\": null}");
    assert_int_equal(gptj_config_load_hf(&c, p, &e), 0);
    assert_int_equal(c.rotary_dim, 16);
    assert_int_equal(c.n_positions, 2048);
}

static void test_write_roundtrip(void **state)
{
    (void)state;
    GptjConfig a, b;
    IpuErr e = {{0}};
    char path[400];
    snprintf(path, sizeof path, "%s/written.json", tmpdir);
    gptj_config_preset(&a, "gptj-micro", &e);
    assert_int_equal(gptj_config_write_hf(&a, path, &e), 0);
    assert_int_equal(gptj_config_load_hf(&b, path, &e), 0);
    assert_int_equal(b.n_layer, a.n_layer);
    assert_int_equal(b.n_embd, a.n_embd);
    assert_int_equal(b.n_head, a.n_head);
    assert_int_equal(b.rotary_dim, a.rotary_dim);
    assert_int_equal(b.n_inner, a.n_inner);
    assert_int_equal(b.n_positions, a.n_positions);
    assert_int_equal(b.vocab_size, a.vocab_size);
    assert_true(b.layer_norm_eps == a.layer_norm_eps);
}

/* Each bad config yields an error naming the file and the key. */
static void test_load_hf_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *frag;
    } cases[] = {
        {"{\"n_embd\": 64, \"n_head\": 4, \"n_layer\": 1, \"vocab_size\": 10, \"rotary_dim\": 7}",
         "key 'rotary_dim' = 7 unsupported"},
        {"{\"n_embd\": 64, \"n_head\": 4, \"n_layer\": 1, \"vocab_size\": 10, \"rotary_dim\": 32}",
         "key 'rotary_dim' = 32 unsupported (must be even and <= head_dim 16)"},
        {"{\"n_embd\": 100, \"n_head\": 16, \"n_layer\": 1, \"vocab_size\": 10}",
         "key 'n_embd' = 100 not divisible by 'n_head' = 16"},
        {"{\"n_embd\": 64, \"n_head\": 4, \"vocab_size\": 10}", "key 'n_layer' missing"},
        {"{\"n_embd\": 64.5, \"n_head\": 4, \"n_layer\": 1, \"vocab_size\": 10}",
         "key 'n_embd' = 64.5 is not a non-negative integer"},
        {"{\"n_embd\": \"64\", \"n_head\": 4, \"n_layer\": 1, \"vocab_size\": 10}", "key 'n_embd' must be a number"},
        {"{\"n_embd\": 64, \"n_head\": 4, \"n_layer\": 1, \"vocab_size\": 10, \"activation_function\": \"relu\"}",
         "key 'activation_function' = relu unsupported"},
        {"{\"n_embd\": 64, \"n_head\": 4, \"n_layer\": 1, \"vocab_size\": 10, \"model_type\": \"llama\"}",
         "key 'model_type' must be \"gptj\""},
        {"{\"n_embd\": 64, \"n_head\": 4, \"n_layer\": 1, \"vocab_size\": 10, \"tie_word_embeddings\": true}",
         "key 'tie_word_embeddings' must be false"},
        {"{\"n_embd\": 64, \"n_head\": 4, \"n_layer\": 0, \"vocab_size\": 10}", "n_layer 0 out of range"},
        {"{\"n_embd\": 64, \"n_head\": 4, \"n_layer\": 1, \"vocab_size\": 10, \"layer_norm_epsilon\": -1}",
         "layer_norm_epsilon -1 must be in (0, 1)"},
        {"{\"n_embd\": 64, \"n_head\": 4,", "not a valid JSON object"},
        {"[1, 2]", "not a valid JSON object"},
        /* issue 12: 4 * n_embd (n_inner's default) overflowed an int under UBSan */
        {"{\"n_embd\": 536870912, \"n_head\": 1, \"n_layer\": 1, \"vocab_size\": 10, \"n_inner\": 8}",
         "key 'n_embd' = 536870912 out of range 1..65536"},
        {"{\"n_embd\": 2147483647, \"n_head\": 1, \"n_layer\": 1, \"vocab_size\": 10}",
         "key 'n_embd' = 2147483647 out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_cfg("bad.json", cases[i].json);
        GptjConfig c;
        IpuErr e = {{0}};
        assert_int_equal(gptj_config_load_hf(&c, p, &e), -1);
        if (!strstr(e.msg, cases[i].frag) || !strstr(e.msg, "bad.json"))
            fail_msg("case %zu: got '%s', want '%s'", i, e.msg, cases[i].frag);
    }
    GptjConfig c;
    IpuErr e = {{0}};
    assert_int_equal(gptj_config_load_hf(&c, "/nonexistent/config.json", &e), -1);
    assert_non_null(strstr(e.msg, "'/nonexistent/config.json': cannot open: No such file"));
}

/* issue 12: a config.json must be a regular file of at most 1 MiB: a folder
 * or /dev/zero is an error naming the file (and the cap), not a hang. */
static void test_load_hf_not_a_file(void **state)
{
    (void)state;
    GptjConfig c;
    IpuErr e = {{0}};
    assert_int_equal(gptj_config_load_hf(&c, tmpdir, &e), -1);
    assert_non_null(strstr(e.msg, "not a regular file"));
    assert_non_null(strstr(e.msg, tmpdir));
    assert_int_equal(gptj_config_load_hf(&c, "/dev/zero", &e), -1);
    assert_non_null(strstr(e.msg, "'/dev/zero': not a regular file"));
    char path[400];
    snprintf(path, sizeof path, "%s/big.json", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fseek(f, 2 << 20, SEEK_SET), 0);
    fputc(' ', f);
    fclose(f);
    assert_int_equal(gptj_config_load_hf(&c, path, &e), -1);
    assert_non_null(strstr(e.msg, "big.json"));
    assert_non_null(strstr(e.msg, "more than the limit of 1048576 bytes"));
}

static void test_diff(void **state)
{
    (void)state;
    GptjConfig a, b;
    IpuErr e;
    char d[96];
    assert_int_equal(gptj_config_preset(&a, "gptj-tiny", &e), 0);
    b = a;
    snprintf(b.name, sizeof b.name, "hf");
    assert_int_equal(gptj_config_diff(&a, &b, d, sizeof d), 0); /* names aside, the same model */
    assert_string_equal(d, "");
    b.vocab_size = 512, b.n_inner = 8;
    assert_int_equal(gptj_config_diff(&a, &b, d, sizeof d), 1);
    assert_string_equal(d, "n_inner 1024 vs 8"); /* the first field in GptjConfig's order */
    b = a, b.layer_norm_eps = 1e-6f;
    assert_int_equal(gptj_config_diff(&a, &b, d, sizeof d), 1);
    assert_string_equal(d, "layer_norm_eps 1e-05 vs 1e-06");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_load_hf_ok),
        cmocka_unit_test(test_write_roundtrip),
        cmocka_unit_test(test_load_hf_errors),
        cmocka_unit_test(test_load_hf_not_a_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
