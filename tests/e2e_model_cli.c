/* e2e_model_cli.c - `ipusim model synth|info|eval` and `ipusim bench forward`
 * through the real program: outputs, files and exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "models/gptj_weights.h"

static char tmpdir[256];
static char out[65536];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_cli_") || !getenv("IPUSIM_BIN") ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

/* Runs ipusim ARGS (stdout and stderr into out); returns the exit code. */
static int ipusim(const char *args) { return tu_ipusim(NULL, args, 1, out, sizeof out); }

static void test_synth_then_load(void **state)
{
    (void)state;
    char args[1024], dir[400];
    snprintf(dir, sizeof dir, "%s/micro", tmpdir);
    snprintf(args, sizeof args, "model synth --config gptj-micro --seed 9 --dtype f32 --out %s", dir);
    assert_int_equal(ipusim(args), 0);
    assert_non_null(strstr(out, "165376 parameters as F32, seed 9, 1 shard"));
    GptjWeights w, ref;
    IpuErr e;
    if (gptj_weights_load(&w, NULL, dir, GPTJ_F32, 1, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(gptj_weights_synth(&ref, &w.cfg, GPTJ_F32, 9, &e), 0);
    assert_memory_equal(w.matrix_slab, ref.matrix_slab, gptj_config_n_matrix_params(&w.cfg) * 4);
    gptj_weights_free(&w);
    gptj_weights_free(&ref);
    snprintf(args, sizeof args, "model eval --checkpoint %s --group 16,32 --max-tokens 20", dir);
    assert_int_equal(ipusim(args), 0);
    assert_non_null(strstr(out, "20 tokens"));
    assert_non_null(strstr(out, "q4g:16"));
    assert_non_null(strstr(out, "q4g:32"));
    snprintf(args, sizeof args, "model check --checkpoint %s --scan", dir);
    assert_int_equal(ipusim(args), 0);
    assert_non_null(strstr(out, ": ok, every GPT-J tensor present with its shape and finite fp16 values; 0 warnings"));
    snprintf(args, sizeof args, "bench forward --checkpoint %s --prompt 3 --tokens 2 --threads 1", dir);
    assert_int_equal(ipusim(args), 0);
    assert_non_null(strstr(out, "loaded weights"));
    assert_non_null(strstr(out, "tokens/s"));
    snprintf(args, sizeof args, "model check --checkpoint %s --config gptj-tiny", dir);
    assert_int_equal(ipusim(args), 1);
    assert_non_null(strstr(out, "tensor 'transformer.wte.weight': shape [512, 64], expected [50400, 256]"));
    /* sharded through the CLI, loaded back the same */
    snprintf(dir, sizeof dir, "%s/micro_sharded", tmpdir);
    snprintf(args, sizeof args, "model synth --config gptj-micro --seed 9 --dtype f32 --shard-gb 0.0002 --out %s", dir);
    assert_int_equal(ipusim(args), 0);
    assert_non_null(strstr(out, "seed 9, 4 shards"));
    if (gptj_weights_load(&w, NULL, dir, GPTJ_F32, 1, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(gptj_weights_synth(&ref, &w.cfg, GPTJ_F32, 9, &e), 0);
    assert_memory_equal(w.matrix_slab, ref.matrix_slab, gptj_config_n_matrix_params(&w.cfg) * 4);
    gptj_weights_free(&w);
    gptj_weights_free(&ref);
    snprintf(args, sizeof args, "model synth --config gptj-micro --shard-gb 0 --out %s", dir);
    assert_int_equal(ipusim(args), 2);
    snprintf(args, sizeof args, "model eval --checkpoint %s --group 128", dir);
    assert_int_equal(ipusim(args), 1);
    assert_non_null(strstr(out, "--group 128 does not divide the input axis"));
    /* issue 12: bad group sizes fail before any work, as usage errors */
    snprintf(args, sizeof args, "model eval --checkpoint %s --group 0", dir);
    assert_int_equal(ipusim(args), 2);
    assert_non_null(strstr(out, "--group 0: weight format 'q4g:0'"));
    assert_null(strstr(out, "fp16"));
    assert_null(strstr(out, "reference fp32 forward"));
    snprintf(args, sizeof args, "model eval --checkpoint %s --group 32,128", dir);
    assert_int_equal(ipusim(args), 1);
    assert_null(strstr(out, "reference fp32 forward"));
}

static void test_info_bench_and_usage(void **state)
{
    (void)state;
    assert_int_equal(ipusim("model info --config gptj-6b"), 0);
    assert_non_null(strstr(out, "parameters: 6050882784"));
    assert_non_null(strstr(out, "q4g:64 (Graphcore policy)"));
    assert_int_equal(ipusim("bench forward --config gptj-micro --prompt 4 --tokens 2"), 0);
    assert_non_null(strstr(out, "ms/token"));
    assert_non_null(strstr(out, "peak resident memory"));
    assert_int_equal(ipusim("model info --config no-such-model"), 1);
    assert_non_null(strstr(out, "unknown model config 'no-such-model'"));
    assert_int_equal(ipusim("model synth --config gptj-micro"), 2);
    assert_int_equal(ipusim("model frobnicate"), 2);
    assert_int_equal(ipusim("bench forward --batch 0"), 2);
    assert_int_equal(ipusim("model eval --config gptj-micro --tokens 1,2,99999"), 1);
    assert_non_null(strstr(out, "token 99999"));
    assert_null(strstr(out, "reference fp32 forward")); /* checked before any work */
    /* --text goes through the GPT-2 BPE: its ids do not fit micro's 512-entry vocabulary */
    char args[1024];
    snprintf(args, sizeof args, "model eval --config gptj-micro --text '%s/README.md'", getenv("IPUSIM_SOURCE_DIR"));
    assert_int_equal(ipusim(args), 1);
    assert_non_null(strstr(out, "outside the vocabulary 0..511"));
    assert_null(strstr(out, "reference fp32 forward"));
    assert_int_equal(ipusim("model eval --config gptj-micro --tokens 5"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_then_load),
        cmocka_unit_test(test_info_bench_and_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
