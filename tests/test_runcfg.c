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
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "host/runcfg.h"
#include "models/gptj_config.h"

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

/* One spelling everywhere: an arch key is taken with or without "arch.";
 * `chips` stays the run key. */
static void test_arch_key_spellings(void **state)
{
    (void)state;
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    assert_int_equal(runcfg_set(&rc, "stream.io_tiles", "32", "--set", &e), 0);
    assert_int_equal(runcfg_set(&rc, "arch.clock_hz", "1e9", "--set", &e), 0);
    assert_int_equal(runcfg_set(&rc, "chips", "2", "--set", &e), 0);
    assert_int_equal(runcfg_finish(&rc, &e), 0);
    assert_int_equal(rc.arch.io_tiles, 32);
    assert_true(rc.arch.clock_hz == 1e9);
    assert_int_equal(rc.chips_used, 2);
    assert_int_equal(rc.arch.chips, 4); /* the run key, not arch.chips */
    assert_int_equal(rc.narch_sets, 2);
    assert_string_equal(rc.arch_sets[0].key, "stream.io_tiles"); /* echoed as arch.stream.io_tiles */
    assert_int_equal(runcfg_set(&rc, "stream.io_tilez", "32", "--set", &e), -1);
    assert_err_has(e, "unknown key 'stream.io_tilez'");
    assert_err_has(e, "with or without 'arch.'");
    assert_int_equal(runcfg_set(&rc, "tiles_per_chip", "0x10", "scenario s.conf:2", &e), -1);
    assert_err_has(e, "scenario s.conf:2: arch key 'tiles_per_chip': '0x10' is not a decimal number");
}

/* An arch file: its preset is key arch, its keys arch.<key>; a preset other
 * than one set elsewhere is an error naming both, in either order. */
static void test_arch_file(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/a16.json", tmpdir);
    write_file(path, "{\"stream.io_tiles\": 64, \"preset\": \"pod16\", \"clock_hz\": 1.5e9, "
                     "\"isa.nibunpack4.enabled\": true}");
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    if (runcfg_load_arch_file(&rc, path, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(runcfg_finish(&rc, &e), 0);
    assert_string_equal(rc.arch_name, "pod16");
    assert_int_equal(rc.arch.chips, 16);
    assert_int_equal(rc.arch.io_tiles, 64);
    assert_true(rc.arch.clock_hz == 1.5e9);
    assert_true(rc.arch.isa.nibunpack4_enabled);
    assert_int_equal(rc.narch_sets, 3);
    assert_non_null(strstr(rc.arch_sets[0].source, "arch file "));
    /* the same preset given again is fine; another is not, whichever comes first */
    assert_int_equal(runcfg_set(&rc, "arch", "pod16", "--set", &e), 0);
    assert_int_equal(runcfg_set(&rc, "arch", "pod4", "--set", &e), -1);
    assert_err_has(e, "--set names arch preset 'pod4' but arch file ");
    assert_err_has(e, "names 'pod16'");
    runcfg_init(&rc);
    assert_int_equal(runcfg_set(&rc, "arch", "pod4", "scenario x.conf:3", &e), 0);
    assert_int_equal(runcfg_load_arch_file(&rc, path, &e), -1);
    assert_err_has(e, "a16.json names arch preset 'pod16' but scenario x.conf:3 names 'pod4'");
    /* a file without a preset takes the configured one; --set later overrides its keys */
    snprintf(path, sizeof path, "%s/keys.json", tmpdir);
    write_file(path, "{\"stream.bandwidth_bytes_per_s\": 4e10}");
    runcfg_init(&rc);
    assert_int_equal(runcfg_set(&rc, "arch", "pod4", "--set", &e), 0);
    assert_int_equal(runcfg_load_arch_file(&rc, path, &e), 0);
    assert_int_equal(runcfg_set(&rc, "stream.bandwidth_bytes_per_s", "5e10", "--set", &e), 0);
    assert_int_equal(runcfg_finish(&rc, &e), 0);
    assert_string_equal(rc.arch.name, "pod4");
    assert_true(rc.arch.stream_bandwidth_bytes_per_s == 5e10);
    /* errors name the file and key */
    write_file(path, "{\"clock_hz\": 0}");
    runcfg_init(&rc);
    assert_int_equal(runcfg_load_arch_file(&rc, path, &e), -1);
    assert_err_has(e, "keys.json: arch key 'clock_hz'");
    write_file(path, "{\"clock_hz\": \"fast\"}");
    assert_int_equal(runcfg_load_arch_file(&rc, path, &e), -1);
    assert_err_has(e, "keys.json': key 'clock_hz' must be a number or bool");
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

/* issue 12: a folder or /dev/zero as --scenario is an error naming the file
 * (not ignored, not a hang), and so is a file over the 1 MiB cap. */
static void test_scenario_not_a_file(void **state)
{
    (void)state;
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    assert_int_equal(runcfg_load_file(&rc, tmpdir, &e), -1);
    assert_err_has(e, tmpdir);
    assert_err_has(e, "not a regular file");
    assert_int_equal(runcfg_load_file(&rc, "/dev/zero", &e), -1);
    assert_err_has(e, "scenario '/dev/zero': not a regular file");
    char path[400];
    snprintf(path, sizeof path, "%s/huge.conf", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 70000; i++)
        fputs("batch = 1\n# padding\n", f);
    fclose(f);
    assert_int_equal(runcfg_load_file(&rc, path, &e), -1);
    assert_err_has(e, "huge.conf");
    assert_err_has(e, "more than the limit of 1048576 bytes");
}

/* issue 12: `batch = 5\0junk` was read as `batch = 5`. */
static void test_scenario_nul_byte(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/nul.conf", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    static const char text[] = "model = gptj-micro\nbatch = 5\0junk\n";
    fwrite(text, 1, sizeof text - 1, f);
    fclose(f);
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    assert_int_equal(runcfg_load_file(&rc, path, &e), -1);
    assert_err_has(e, "nul.conf:2: NUL byte at column 10");
}

/* issue 12: arch values went through strtod, which takes 0x10 and " 5". */
static void test_arch_values_decimal(void **state)
{
    (void)state;
    expect_set_error("arch.tiles_per_chip=0x10", "--set", "arch key 'tiles_per_chip': '0x10' is not a decimal number");
    expect_set_error("arch.clock_hz=0x1p30", "--set", "not a decimal number");
    expect_set_error("arch.tiles_per_chip= 16", "--set", "not a decimal number");
    expect_set_error("arch.clock_hz=inf", "--set", "clock_hz");
    expect_file_error("arch.tiles_per_chip = 0X10\n", "bad.conf:1", "not a decimal number");
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    const char *ok[] = {"arch.tiles_per_chip=1216", "arch.clock_hz=1.33e9", "arch.clock_hz=+1.5E9",
                        "arch.isa.nibunpack4.enabled=true", "arch.stream.latency_s=.5e-6"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (runcfg_set_kv(&rc, ok[i], "--set", &e))
            fail_msg("%s: %s", ok[i], e.msg);
}

/* issue 12: more keep_fp16 globs than the policy has rules for failed only at run time. */
static void test_keep_fp16_rule_count(void **state)
{
    (void)state;
    char kv[600] = "keep_fp16=";
    for (int i = 0; i < 29; i++)
        snprintf(kv + strlen(kv), sizeof kv - strlen(kv), "%sp%d", i ? "," : "", i);
    expect_set_error(kv, "key 'keep_fp16'", "29 patterns, at most 28");
    kv[strrchr(kv, ',') - kv] = '\0'; /* 28 fit, and run */
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    if (runcfg_set_kv(&rc, kv, "--set", &e) || runcfg_finish(&rc, &e))
        fail_msg("%s", e.msg);
    RunOptions o;
    for (int i = 0; i < rc.nformats; i++)
        if (runcfg_options(&rc, i, &o, &e))
            fail_msg("%s", e.msg);
}

/* Prints rc as a scenario, loads it into a fresh config, prints that again. */
static void print_reload(const RunConfig *rc, char *first, char *second, size_t cap)
{
    char path[400];
    snprintf(path, sizeof path, "%s/printed.conf", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    runcfg_print(f, rc);
    fclose(f);
    f = fopen(path, "r");
    size_t n = fread(first, 1, cap - 1, f);
    first[n] = '\0';
    fclose(f);
    RunConfig back;
    IpuErr e;
    runcfg_init(&back);
    if (runcfg_load_file(&back, path, &e))
        fail_msg("%s\n%s", e.msg, first);
    f = fmemopen(second, cap, "w");
    runcfg_print(f, &back);
    fclose(f);
}

/* issue 12: --print-config wrote `prompt = a #b`, read back as `a`. Values
 * that would not read back as themselves are quoted (docs/user-guide.md). */
static void test_print_config_round_trip(void **state)
{
    (void)state;
    static const char *const prompts[] = {
        "a #b", "#x", " lead", "trail ", "\"quoted\"", "back\\slash", "tab\there", "new\nline", "cr\r", "\x01\x7f",
        "plain text", "", "a\"b # c\\", "= = =",
    };
    static char first[16384], second[16384];
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++) {
        RunConfig rc;
        IpuErr e;
        runcfg_init(&rc);
        if (runcfg_set(&rc, "prompt", prompts[i], "test", &e) || runcfg_set(&rc, "out", prompts[i], "test", &e))
            fail_msg("%s", e.msg);
        print_reload(&rc, first, second, sizeof first);
        assert_string_equal(first, second);
        RunConfig back;
        runcfg_init(&back);
        char path[400];
        snprintf(path, sizeof path, "%s/printed.conf", tmpdir);
        assert_int_equal(runcfg_load_file(&back, path, &e), 0);
        assert_string_equal(back.prompt, prompts[i]);
        assert_string_equal(back.out, prompts[i]);
    }
    /* the longest value, every byte escaped, still fits a scenario line */
    {
        char worst[RUNCFG_TEXT_BYTES];
        memset(worst, 1, sizeof worst - 1);
        worst[sizeof worst - 1] = '\0';
        RunConfig rc;
        IpuErr e;
        runcfg_init(&rc);
        assert_int_equal(runcfg_set(&rc, "prompt", worst, "test", &e), 0);
        print_reload(&rc, first, second, sizeof first);
        assert_string_equal(first, second);
    }
    /* the quoting a user may write */
    char path[400];
    snprintf(path, sizeof path, "%s/q.conf", tmpdir);
    write_file(path, "prompt = \"a #b\"   # comment\nout = \"x\\x41\\\\\"\n");
    RunConfig rc;
    IpuErr e;
    runcfg_init(&rc);
    if (runcfg_load_file(&rc, path, &e))
        fail_msg("%s", e.msg);
    assert_string_equal(rc.prompt, "a #b");
    assert_string_equal(rc.out, "xA\\");
    expect_file_error("prompt = \"open\n", "bad.conf:1", "no closing quote");
    expect_file_error("prompt = \"a\" b\n", "bad.conf:1", "text after the closing quote");
    expect_file_error("prompt = \"\\q\"\n", "bad.conf:1", "unknown escape");
    expect_file_error("prompt = \"\\x00\"\n", "bad.conf:1", "not 00");
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

/* A checkpoint's config.json defines the model when key model is not
 * given; a model given with it must be the same model. */
static void test_checkpoint_model(void **state)
{
    (void)state;
    char dir[400], path[450], v[460];
    snprintf(dir, sizeof dir, "%s/ck", tmpdir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(mkdir(dir, 0777), 0);
    GptjConfig micro;
    IpuErr e;
    assert_int_equal(gptj_config_preset(&micro, "gptj-micro", &e), 0);
    assert_int_equal(gptj_config_write_hf(&micro, path, &e), 0);
    RunConfig *rc = malloc(sizeof *rc);
    assert_non_null(rc);
    runcfg_init(rc);
    snprintf(v, sizeof v, "checkpoint=%s", dir);
    assert_int_equal(runcfg_set_kv(rc, v, "--set", &e), 0);
    assert_int_equal(runcfg_set_kv(rc, "weights=checkpoint", "--set", &e), 0);
    assert_int_equal(runcfg_set_kv(rc, "prompt_len=4", "--set", &e), 0);
    if (runcfg_finish(rc, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(rc->cfg.n_embd, micro.n_embd);
    assert_int_equal(rc->cfg.vocab_size, micro.vocab_size);
    assert_string_equal(rc->model, dir); /* the echo names the checkpoint */
    RunConfig *again = malloc(sizeof *again); /* finish twice (the roofline's extra runs): the same */
    assert_non_null(again);
    *again = *rc;
    assert_int_equal(runcfg_finish(again, &e), 0);
    assert_int_equal(again->cfg.n_layer, micro.n_layer);
    assert_int_equal(runcfg_set_kv(rc, "model=gptj-micro", "scenario s.conf:3", &e), 0); /* the same model: fine */
    assert_int_equal(runcfg_finish(rc, &e), 0);
    assert_int_equal(runcfg_set_kv(rc, "model=gptj-tiny", "scenario s.conf:4", &e), 0);
    assert_int_equal(runcfg_finish(rc, &e), -1);
    assert_err_has(e, "key 'model' = gptj-tiny (scenario s.conf:4) and key 'checkpoint' = ");
    assert_err_has(e, "/ck (its config.json) are different models, n_embd 256 vs 64");
    runcfg_init(rc);
    assert_int_equal(runcfg_set_kv(rc, "checkpoint=/nonexistent/ck", "--set", &e), 0);
    assert_int_equal(runcfg_finish(rc, &e), -1);
    assert_err_has(e, "key 'checkpoint' (its config.json defines the model)");
    assert_err_has(e, "/nonexistent/ck");
    free(again);
    free(rc);
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
        cmocka_unit_test(test_checkpoint_model),
        cmocka_unit_test(test_scenario_not_a_file), cmocka_unit_test(test_scenario_nul_byte),
        cmocka_unit_test(test_arch_values_decimal), cmocka_unit_test(test_keep_fp16_rule_count),
        cmocka_unit_test(test_print_config_round_trip),
        cmocka_unit_test(test_arch_key_spellings), cmocka_unit_test(test_arch_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
