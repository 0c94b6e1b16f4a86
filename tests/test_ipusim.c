/* test_ipusim.c - the public library API (host/ipusim.h): one group per
 * function, on gptj-micro so every run takes milliseconds. The installed
 * library and its example are tests/e2e_install.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "host/ipusim.h"

#define assert_has(text, s)                                                    \
    do {                                                                       \
        if (!strstr((text), (s)))                                              \
            fail_msg("'%s' lacks '%s'", (text), (s));                          \
    } while (0)

static ipusim_results res, res2; /* 8 KiB each */

/* gptj-micro, 8-token prompt, 2 tokens, fp16 and q4g:8 (q4g:64 does not divide micro's per-chip axes). */
static const ipusim_run_config micro = {.model = "gptj-micro", .formats = "fp16,q4g:8", .prompt_len = 8, .gen_tokens = 2};

static void test_version(void **state)
{
    (void)state;
    int major = -1, minor = -1;
    assert_int_equal(sscanf(ipusim_version(), "%d.%d", &major, &minor), 2);
    assert_true(major >= 0 && minor >= 0);
}

static void test_arch_preset_name(void **state)
{
    (void)state;
    size_t n = 0;
    int pod16 = 0;
    while (ipusim_arch_preset_name(n)) {
        pod16 |= !strcmp(ipusim_arch_preset_name(n), "pod16");
        n++;
    }
    assert_true(n >= 5 && pod16);
    assert_string_equal(ipusim_arch_preset_name(0), "gc2");
    assert_null(ipusim_arch_preset_name(n + 100));
}

static void test_arch_create(void **state)
{
    (void)state;
    ipusim_error err;
    ipusim_arch *a = NULL;
    char v[64];
    /* NULL preset: the run default, pod4 */
    assert_int_equal(ipusim_arch_create(NULL, NULL, 0, &a, &err), 0);
    assert_int_equal(ipusim_arch_get(a, "chips", v, sizeof v, &err), 0);
    assert_string_equal(v, "4");
    ipusim_arch_destroy(a);
    /* overrides in order, with or without the arch. prefix */
    const char *ov[] = {"arch.tiles_per_chip=100", "tiles_per_chip=368", "stream.bandwidth_bytes_per_s=40e9"};
    assert_int_equal(ipusim_arch_create("pod16", ov, 3, &a, &err), 0);
    assert_int_equal(ipusim_arch_get(a, "tiles_per_chip", v, sizeof v, &err), 0);
    assert_string_equal(v, "368");
    assert_int_equal(ipusim_arch_get(a, "chips", v, sizeof v, &err), 0);
    assert_string_equal(v, "16");
    ipusim_arch_destroy(a);
    ipusim_arch_destroy(NULL);

    /* errors: *out NULL, the message names the function and what is at fault */
    a = (ipusim_arch *)&err;
    assert_int_equal(ipusim_arch_create("pod3", NULL, 0, &a, &err), -1);
    assert_null(a);
    assert_has(err.msg, "ipusim_arch_create: unknown arch preset 'pod3' (presets: gc2");
    const char *bad_key[] = {"tiles_per_chip=368", "tiles=3"};
    assert_int_equal(ipusim_arch_create("pod4", bad_key, 2, &a, &err), -1);
    assert_has(err.msg, "override 1");
    assert_has(err.msg, "'tiles'");
    const char *no_eq[] = {"tiles_per_chip"};
    assert_int_equal(ipusim_arch_create("pod4", no_eq, 1, &a, &err), -1);
    assert_has(err.msg, "override 0 'tiles_per_chip': expected key=value");
    const char *bad_value[] = {"clock_hz=fast"};
    assert_int_equal(ipusim_arch_create("pod4", bad_value, 1, &a, &err), -1);
    assert_has(err.msg, "clock_hz");
    /* each value possible alone, the machine not: checked after every override */
    const char *bad_machine[] = {"chips=3"};
    assert_int_equal(ipusim_arch_create("pod4", bad_machine, 1, &a, &err), -1);
    assert_has(err.msg, "arch 'pod4' with its 1 overrides");
    assert_has(err.msg, "chips_per_machine");
    assert_int_equal(ipusim_arch_create("pod4", NULL, 1, &a, &err), -1);
    assert_has(err.msg, "overrides is NULL");
    assert_int_equal(ipusim_arch_create("pod4", NULL, 0, NULL, NULL), -1); /* err may be NULL */
}

static void test_arch_get(void **state)
{
    (void)state;
    ipusim_error err;
    ipusim_arch *a;
    char v[64];
    assert_int_equal(ipusim_arch_create("gc200", NULL, 0, &a, &err), 0);
    assert_int_equal(ipusim_arch_get(a, "arch.tiles_per_chip", v, sizeof v, &err), 0);
    assert_string_equal(v, "1472");
    assert_int_equal(ipusim_arch_get(a, "tiles", v, sizeof v, &err), -1);
    assert_has(err.msg, "ipusim_arch_get: key 'tiles': unknown arch key");
    assert_int_equal(ipusim_arch_get(a, "tiles_per_chip", v, 3, &err), -1);
    assert_has(err.msg, "needs 5 bytes, cap is 3");
    ipusim_arch_destroy(a);
}

static void test_phase_name(void **state)
{
    (void)state;
    assert_string_equal(ipusim_phase_name(IPUSIM_PHASE_STREAM), "stream");
    assert_string_equal(ipusim_phase_name(IPUSIM_PHASE_COLLECTIVE), "collective");
    assert_null(ipusim_phase_name(IPUSIM_PHASE_COUNT));
    assert_null(ipusim_phase_name(-1));
}

/* Every figure of a step adds up: phases to the total, seconds to cycles / clock. */
static void check_step(const ipusim_step *s, double hz)
{
    double sum = 0;
    for (int p = 0; p < IPUSIM_PHASE_COUNT; p++) {
        sum += s->cycles[p];
        assert_true(fabs(s->s[p] - s->cycles[p] / hz) <= 1e-12 * (1 + s->s[p]));
    }
    assert_true(s->total_cycles > 0);
    assert_true(fabs(sum - s->total_cycles) <= 1e-6 * s->total_cycles);
    assert_true(fabs(s->total_s - s->total_cycles / hz) <= 1e-12);
}

static void test_run_timing(void **state)
{
    (void)state;
    ipusim_error err;
    assert_int_equal(ipusim_run_timing(NULL, &micro, &res, &err), 0);
    assert_int_equal(res.nformats, 2);
    assert_string_equal(res.formats[0].format, "fp16");
    assert_string_equal(res.formats[1].format, "q4g:8");
    for (int i = 0; i < 2; i++) {
        const ipusim_format_result *f = &res.formats[i];
        assert_string_equal(f->placement, "stream");
        assert_int_equal(f->batch, 1);
        assert_int_equal(f->chips, 4);
        assert_int_equal(f->decode_steps, 1);
        assert_true(f->ttft_s > 0 && f->tpot_s > 0 && f->batched_token_s == f->tpot_s);
        assert_true(f->mbu > 0 && f->mbu <= 1 && f->step_bytes > 0 && f->sram_peak_bytes > 0);
        assert_true(fabs(f->throughput_tokens_per_s - 2 / f->latency_s) <= 1e-9 * f->throughput_tokens_per_s);
        check_step(&f->prefill, f->clock_hz);
        check_step(&f->decode, f->clock_hz);
        assert_true(fabs(f->tpot_s - f->decode.total_s) <= 1e-12);
    }
    assert_true(res.formats[1].bits_per_param < res.formats[0].bits_per_param);
    assert_true(res.formats[1].decode.cycles[IPUSIM_PHASE_DECOMPRESS] > 0);
    assert_true(fabs(res.formats[0].speedup_vs_fp16 - 1) < 1e-12);

    /* an arch handle is the same machine as its keys given as run keys */
    const char *ov[] = {"stream.bandwidth_bytes_per_s=40e9"};
    ipusim_arch *a;
    assert_int_equal(ipusim_arch_create("pod4", ov, 1, &a, &err), 0);
    assert_int_equal(ipusim_run_timing(a, &micro, &res2, &err), 0);
    ipusim_run_config viasets = micro;
    const char *sets[] = {"arch.stream.bandwidth_bytes_per_s=40e9"};
    viasets.sets = sets;
    viasets.nsets = 1;
    static ipusim_results res3;
    assert_int_equal(ipusim_run_timing(NULL, &viasets, &res3, &err), 0);
    assert_memory_equal(&res2, &res3, sizeof res2);
    /* ... and the faster streaming memory shortens the exposed streaming */
    assert_true(res2.formats[0].decode.cycles[IPUSIM_PHASE_STREAM] < res.formats[0].decode.cycles[IPUSIM_PHASE_STREAM]);
    assert_true(res2.formats[0].tpot_s < res.formats[0].tpot_s);
    /* its preset replaces the config's arch key */
    const char *pod16[] = {"arch=pod16", "batch=2"};
    viasets.sets = pod16;
    viasets.nsets = 2;
    assert_int_equal(ipusim_run_timing(a, &viasets, &res3, &err), 0);
    assert_int_equal(res3.formats[0].chips, 4);
    assert_int_equal(res3.formats[0].batch, 2);
    ipusim_arch_destroy(a);
}

static void test_run_timing_errors(void **state)
{
    (void)state;
    ipusim_error err;
    ipusim_run_config c = micro;
    c.formats = "fp16,q4g:64"; /* group 64 does not divide micro's per-chip axis on 4 chips */
    res.nformats = 7;
    assert_int_equal(ipusim_run_timing(NULL, &c, &res, &err), -1);
    assert_int_equal(res.nformats, 0);
    assert_has(err.msg, "ipusim_run_timing: format q4g:64: ");
    c = micro;
    const char *sets[] = {"batch=0"};
    c.sets = sets;
    c.nsets = 1;
    assert_int_equal(ipusim_run_timing(NULL, &c, &res, &err), -1);
    assert_has(err.msg, "ipusim_run_timing: cfg.sets[0]: key 'batch'");
    const char *functional[][1] = {{"weights=synthetic"}, {"prompt=Hello"}, {"checkpoint=/tmp"}};
    const char *names[] = {"key 'weights'", "key 'prompt'", "key 'checkpoint'"};
    for (int i = 0; i < 3; i++) {
        c.sets = functional[i];
        assert_int_equal(ipusim_run_timing(NULL, &c, &res, &err), -1);
        assert_has(err.msg, names[i]);
        assert_has(err.msg, "timing");
    }
    c = micro;
    c.model = "gptj-huge";
    assert_int_equal(ipusim_run_timing(NULL, &c, &res, &err), -1);
    assert_has(err.msg, "ipusim_run_timing: key 'model': unknown model config 'gptj-huge'");
    c = micro;
    c.scenario = "/nonexistent/x.conf";
    assert_int_equal(ipusim_run_timing(NULL, &c, &res, &err), -1);
    assert_has(err.msg, "/nonexistent/x.conf");
    c = micro;
    c.nsets = 2;
    assert_int_equal(ipusim_run_timing(NULL, &c, &res, &err), -1);
    assert_has(err.msg, "cfg.sets is NULL");
    assert_int_equal(ipusim_run_timing(NULL, NULL, &res, &err), -1);
    assert_has(err.msg, "cfg is NULL");
    assert_int_equal(ipusim_run_timing(NULL, &micro, NULL, NULL), -1);
}

static void test_run_config_text(void **state)
{
    (void)state;
    ipusim_error err;
    ipusim_arch *a;
    const char *ov[] = {"tiles_per_chip=368"};
    assert_int_equal(ipusim_arch_create("gc200", ov, 1, &a, &err), 0);
    static char text[16384];
    assert_int_equal(ipusim_run_config_text(a, &micro, text, sizeof text, &err), 0);
    assert_has(text, "model = gptj-micro\n");
    assert_has(text, "formats = fp16,q4g:8\n");
    assert_has(text, "prompt_len = 8\n");
    assert_has(text, "gen_tokens = 2\n");
    assert_has(text, "arch = gc200\n");
    assert_has(text, "arch.tiles_per_chip = 368\n");
    assert_int_equal(ipusim_run_config_text(a, &micro, NULL, 0, &err), 0);
    assert_int_equal(ipusim_run_config_text(a, &micro, text, 10, &err), -1);
    assert_has(err.msg, "ipusim_run_config_text: the text needs ");
    assert_has(err.msg, "cap is 10");
    ipusim_run_config c = micro;
    c.prompt_len = 4096; /* longer than micro's context */
    assert_int_equal(ipusim_run_config_text(a, &c, text, sizeof text, &err), -1);
    assert_has(err.msg, "ipusim_run_config_text: key 'seq_len': 4098 tokens exceed the context of gptj-micro");
    ipusim_arch_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),         cmocka_unit_test(test_arch_preset_name),
        cmocka_unit_test(test_arch_create),     cmocka_unit_test(test_arch_get),
        cmocka_unit_test(test_phase_name),      cmocka_unit_test(test_run_timing),
        cmocka_unit_test(test_run_timing_errors), cmocka_unit_test(test_run_config_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
