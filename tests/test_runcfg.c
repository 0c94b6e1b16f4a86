/* test_runcfg.c - run configuration: defaults, --set, scenario files, arch.*
 * pass-through, cross-key checks, and that every error names key and source. */
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
#include "host/runcfg.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_runcfg_");
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define assert_err_has(e, s)                                                       \
    do {                                                                           \
        if (!strstr((e).msg, (s)))                                                 \
            fail_msg("error '%s' does not contain '%s'", (e).msg, (s));            \
    } while (0)

static void test_defaults_finish(void **state)
{
    (void)state;
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    if (runcfg_finish(&rc, &e))
        fail_msg("%s", e.msg);
    assert_string_equal(rc.cfg.name, "gptj-6b");
    assert_int_equal(rc.arch.chips, 4);
    assert_int_equal(rc.chips_used, 4);
    assert_int_equal(rc.nformats, 2);
    assert_int_equal(rc.specs[1].group, 64);
    assert_int_equal(rc.seq_len_used, 512 + 20);
    assert_int_equal(rc.weights, RUN_WEIGHTS_NONE);
    RunOptions o;
    assert_int_equal(runcfg_options(&rc, 1, &o, &e), 0);
    assert_int_equal(o.chips, 4);
    assert_int_equal(o.batch, 1);
    assert_int_equal(o.prompt_len, 512);
    assert_int_equal(o.gen_tokens, 20);
    assert_true(o.partials == LAYER_F16);
    assert_true(o.placement == PLACE_STREAM);
    /* Graphcore's policy: q/k/v quantized, embedding fp16 */
    assert_ptr_equal(quant_policy_lookup(&o.policy, "transformer.h.0.attn.q_proj.weight")->fmt, &quant_format_q4g);
    assert_ptr_equal(quant_policy_lookup(&o.policy, "transformer.wte.weight")->fmt, &quant_format_f16);
}

static void test_set_and_options(void **state)
{
    (void)state;
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    const char *sets[] = {"model=gptj-tiny", "chips=2", "formats=fp16,q4g:16,q4g:128", "batch=3",
                          "kv_cache=on", "partials=fp32", "placement=auto", "keep_fp16=lm_head.weight,*.fc_out.weight",
                          "prompt_len=8", "gen_tokens=4", "seq_len=16", "decompress=", "arch=pod16",
                          "arch.stream.bandwidth_bytes_per_s=128e9"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (runcfg_set_kv(&rc, sets[i], "--set", &e))
            fail_msg("%s: %s", sets[i], e.msg);
    if (runcfg_finish(&rc, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(rc.arch.chips, 16);
    assert_true(rc.arch.stream_bandwidth_bytes_per_s == 128e9);
    assert_int_equal(rc.nformats, 3);
    assert_int_equal(rc.specs[2].group, 128);
    RunOptions o;
    assert_int_equal(runcfg_options(&rc, 2, &o, &e), 0);
    assert_int_equal(o.chips, 2);
    assert_int_equal(o.batch, 3);
    assert_int_equal(o.kv_cache, 1);
    assert_int_equal(o.seq_len, 16);
    assert_true(o.partials == LAYER_F32);
    assert_true(o.placement == PLACE_AUTO);
    assert_ptr_equal(quant_policy_lookup(&o.policy, "lm_head.weight")->fmt, &quant_format_f16);
    assert_ptr_equal(quant_policy_lookup(&o.policy, "transformer.h.1.mlp.fc_out.weight")->fmt, &quant_format_f16);
    assert_ptr_equal(quant_policy_lookup(&o.policy, "transformer.h.1.mlp.fc_in.weight")->fmt, &quant_format_q4g);
    /* the echo holds run keys and arch keys with their resolved values */
    cJSON *j = runcfg_to_json(&rc);
    cJSON *run = cJSON_GetObjectItem(j, "run"), *arch = cJSON_GetObjectItem(j, "arch");
    assert_string_equal(cJSON_GetObjectItem(run, "model")->valuestring, "gptj-tiny");
    assert_string_equal(cJSON_GetObjectItem(run, "kv_cache")->valuestring, "on");
    assert_int_equal(cJSON_GetObjectItem(run, "batch")->valueint, 3);
    assert_true(cJSON_GetObjectItem(arch, "stream.bandwidth_bytes_per_s")->valuedouble == 128e9);
    assert_int_equal(cJSON_GetObjectItem(arch, "chips")->valueint, 16);
    assert_int_equal(cJSON_GetArraySize(run), (int)runcfg_key_count() + 2);
    cJSON_Delete(j);
}

/* arch.* settings are applied after the preset, even when the preset comes later. */
static void test_arch_order(void **state)
{
    (void)state;
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    assert_int_equal(runcfg_set(&rc, "arch.clock_hz", "1e9", "--set", &e), 0);
    assert_int_equal(runcfg_set(&rc, "arch", "bow-pod16", "--set", &e), 0);
    assert_int_equal(runcfg_finish(&rc, &e), 0);
    assert_true(rc.arch.clock_hz == 1e9);
    assert_string_equal(rc.arch.name, "bow-pod16");
}

static void test_scenario_file(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/ok.conf", tmpdir);
    write_file(path, "# a scenario\n\nmodel = gptj-micro   # small\nprompt_len = 16\n  batch=2\nformats = q4g:32\n"
                     "arch.stream.io_tiles = 64\noverlap = on\nprompt = hello # world\n");
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    if (runcfg_load_file(&rc, path, &e))
        fail_msg("%s", e.msg);
    /* --set after the scenario wins */
    assert_int_equal(runcfg_set_kv(&rc, "batch=5", "--set", &e), 0);
    if (runcfg_finish(&rc, &e))
        fail_msg("%s", e.msg);
    assert_string_equal(rc.model, "gptj-micro");
    assert_int_equal(rc.batch, 5);
    assert_int_equal(rc.overlap, 1);
    assert_int_equal(rc.arch.io_tiles, 64);
    assert_string_equal(rc.prompt, "hello");
    assert_int_equal(rc.nformats, 1);
}

static void expect_file_error(const char *text, const char *want1, const char *want2)
{
    char path[400];
    snprintf(path, sizeof path, "%s/bad.conf", tmpdir);
    write_file(path, text);
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    assert_int_equal(runcfg_load_file(&rc, path, &e), -1);
    assert_err_has(e, want1);
    assert_err_has(e, want2);
}

static void test_scenario_errors(void **state)
{
    (void)state;
    expect_file_error("batch = 1\nbatchsize = 2\n", "bad.conf:2", "unknown key 'batchsize'");
    expect_file_error("# c\nbatch 2\n", "bad.conf:2", "expected 'key = value'");
    expect_file_error("= 3\n", "bad.conf:1", "missing key");
    expect_file_error("\n\n\nbatch = 0\n", "bad.conf:4: key 'batch'", "out of range");
    expect_file_error("arch.stream.bandwidth_bytes_per_s = fast\n", "bad.conf:1", "stream.bandwidth_bytes_per_s");
    expect_file_error("arch.no_such_key = 1\n", "bad.conf:1", "unknown arch key 'no_such_key'");
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    assert_int_equal(runcfg_load_file(&rc, "/nonexistent/x.conf", &e), -1);
    assert_err_has(e, "/nonexistent/x.conf");
}

static void expect_set_error(const char *kv, const char *want1, const char *want2)
{
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    char before[256];
    snprintf(before, sizeof before, "%s", rc.formats);
    assert_int_equal(runcfg_set_kv(&rc, kv, "--set", &e), -1);
    assert_err_has(e, want1);
    assert_err_has(e, want2);
    assert_string_equal(rc.formats, before); /* a failed set changes nothing */
}

static void test_set_errors(void **state)
{
    (void)state;
    expect_set_error("nokey=1", "--set: unknown key 'nokey'", "--list-keys");
    expect_set_error("batch", "expected key=value", "batch");
    expect_set_error("batch=two", "key 'batch'", "not a non-negative integer");
    expect_set_error("batch=-1", "key 'batch'", "not a non-negative integer");
    expect_set_error("kv_cache=maybe", "key 'kv_cache'", "not on or off");
    expect_set_error("placement=disk", "key 'placement'", "stream|resident|auto");
    expect_set_error("weights=random", "key 'weights'", "none|synthetic|checkpoint");
    expect_set_error("formats=q4g:30", "key 'formats'", "multiple of 4");
    expect_set_error("formats=fp16,int3", "key 'formats'", "int3");
    expect_set_error("formats=f32", "key 'formats'", "not f32");
    expect_set_error("formats=", "key 'formats'", "no format");
    expect_set_error("decompress=turbo", "key 'decompress'", "turbo");
    expect_set_error("arch=pod99", "key 'arch'", "unknown arch preset 'pod99'");
    expect_set_error("arch.chips=0", "--set", "'chips'");
    expect_set_error("arch.isa.nosuch.cycles=3", "--set", "unknown arch key");
    expect_set_error("chips=5000", "key 'chips'", "out of range");
}

static void expect_finish_error(const char *const *sets, size_t n, const char *want)
{
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    for (size_t i = 0; i < n; i++)
        if (runcfg_set_kv(&rc, sets[i], "--set", &e))
            fail_msg("%s: %s", sets[i], e.msg);
    assert_int_equal(runcfg_finish(&rc, &e), -1);
    assert_err_has(e, want);
}

static void test_finish_errors(void **state)
{
    (void)state;
    const char *a[] = {"prompt_len=100", "seq_len=64"};
    expect_finish_error(a, 2, "key 'prompt_len': 100 tokens do not fit seq_len 64");
    const char *b[] = {"prompt_len=60", "gen_tokens=10", "seq_len=64"};
    expect_finish_error(b, 3, "key 'gen_tokens'");
    const char *c[] = {"chips=3"};
    expect_finish_error(c, 1, "key 'chips': 3 chips do not divide the 16 heads");
    const char *d[] = {"arch=gc200", "chips=2"};
    expect_finish_error(d, 2, "key 'chips': 2 chips asked, arch 'gc200' has 1");
    const char *f[] = {"overlap=on"};
    expect_finish_error(f, 1, "key 'overlap'");
    const char *g[] = {"model=gptj-99b"};
    expect_finish_error(g, 1, "key 'model'");
    const char *h[] = {"weights=checkpoint"};
    expect_finish_error(h, 1, "key 'checkpoint'");
    const char *i[] = {"model=gptj-micro", "prompt_len=100", "gen_tokens=40"};
    expect_finish_error(i, 3, "exceed the context of gptj-micro (128)");
}

static void test_key_table(void **state)
{
    (void)state;
    RunConfig rc;
    runcfg_init(&rc);
    char buf[RUNCFG_TEXT_BYTES];
    for (size_t i = 0; i < runcfg_key_count(); i++) {
        RunKeyInfo k;
        runcfg_key_at(i, &k);
        assert_non_null(k.doc);
        assert_true(strlen(k.doc) > 10);
        runcfg_key_value(&rc, i, buf, sizeof buf);
        assert_string_equal(buf, k.def); /* the value after init is the documented default */
    }
    /* runcfg_print writes a scenario that loads back to the same config */
    IpuErr e;
    assert_int_equal(runcfg_set_kv(&rc, "arch.clock_hz=1.5e9", "--set", &e), 0);
    assert_int_equal(runcfg_set_kv(&rc, "batch=7", "--set", &e), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/echo.conf", tmpdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    runcfg_print(fp, &rc);
    fclose(fp);
    RunConfig back;
    runcfg_init(&back);
    if (runcfg_load_file(&back, path, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(runcfg_finish(&back, &e), 0);
    assert_int_equal(back.batch, 7);
    assert_true(back.arch.clock_hz == 1.5e9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_finish), cmocka_unit_test(test_set_and_options),
        cmocka_unit_test(test_arch_order),      cmocka_unit_test(test_scenario_file),
        cmocka_unit_test(test_scenario_errors), cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_finish_errors),   cmocka_unit_test(test_key_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
