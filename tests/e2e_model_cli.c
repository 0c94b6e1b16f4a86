/* e2e_model_cli.c - `ipusim model synth|info|eval` and `ipusim bench forward`
 * through the real program: outputs, files and exit codes; eval's windows,
 * resume state and CSV, and bits per parameter equal in eval and run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tests/testutil.h"
#include "base/fileio.h"
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
    assert_non_null(strstr(out, "--group q4g:128 does not divide the input axis"));
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

/* A number of format fmt's row in eval's JSON. */
static double json_num(const char *text, const char *fmt, const char *key)
{
    cJSON *j = cJSON_Parse(strchr(text, '{'));
    double v = NAN;
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(j, "formats"))
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(f, "format")), fmt))
            v = cJSON_GetNumberValue(cJSON_GetObjectItem(f, key));
    cJSON_Delete(j);
    return v;
}

static void test_bits_per_param_one_definition(void **state)
{
    (void)state;
    const char *run = "run --set model=gptj-micro --set prompt_len=4 --set gen_tokens=2 --set arch=gc200 "
                      "--set formats=fp16,q4g:32,nf4g:16+dq --json";
    char args[512];
    assert_int_equal(tu_ipusim(NULL, "model eval --config gptj-micro --max-tokens 8 --formats q4g:32,nf4g:16+dq "
                                     "--json --quiet", 0, out, sizeof out), 0);
    double e32 = json_num(out, "q4g:32", "bits_per_param"), enf = json_num(out, "nf4g:16+dq", "bits_per_param");
    assert_int_equal(tu_ipusim(NULL, run, 0, out, sizeof out), 0);
    assert_true(e32 == 5.0 && json_num(out, "q4g:32", "bits_per_param") == e32);
    assert_true(enf > 4.5 && enf < 4.52 && json_num(out, "nf4g:16+dq", "bits_per_param") == enf);
    /* the LM head kept fp16: run counts it, as the definition says */
    snprintf(args, sizeof args, "%s --set keep_fp16=lm_head.weight", run);
    assert_int_equal(tu_ipusim(NULL, args, 0, out, sizeof out), 0);
    assert_true(json_num(out, "q4g:32", "bits_per_param") > 7.7 && json_num(out, "q4g:32", "bits_per_param") < 7.8);
}

static void test_eval_windows_and_resume(void **state)
{
    (void)state;
    char args[1024], state_path[400], csv_a[400], csv_b[400];
    const char *ids = "1,5,9,13,2,6,10,14,3,7,11,15,4,8,12,16,100,200,300,400,17,18,19,20,21,22,23,24,25,26";
    snprintf(state_path, sizeof state_path, "%s/eval.state", tmpdir);
    snprintf(csv_a, sizeof csv_a, "%s/a.csv", tmpdir);
    snprintf(csv_b, sizeof csv_b, "%s/b.csv", tmpdir);
    const char *base = "model eval --config gptj-micro --formats q4g:16 --window 12 --stride 5 --quiet";
    snprintf(args, sizeof args, "%s --tokens %s --csv %s", base, ids, csv_a);
    assert_int_equal(ipusim(args), 0);
    assert_non_null(strstr(out, "30 tokens, window 12, stride 5: 5 windows, 29 tokens scored; reference fp16"));
    /* with a state: the same figures; run again, the finished state alone gives them */
    snprintf(args, sizeof args, "%s --tokens %s --resume %s --csv %s", base, ids, state_path, csv_b);
    assert_int_equal(ipusim(args), 0);
    char *a, *b;
    IpuErr e;
    assert_int_equal(fileio_read(csv_a, "csv", 1 << 16, &a, NULL, &e), 0);
    assert_int_equal(fileio_read(csv_b, "csv", 1 << 16, &b, NULL, &e), 0);
    assert_string_equal(a, b);
    free(b);
    assert_int_equal(ipusim(args), 0);
    assert_int_equal(fileio_read(csv_b, "csv", 1 << 16, &b, NULL, &e), 0);
    const char *q = strstr(a, "\nq4g:16,"), *r = strstr(b, "\nq4g:16,");
    assert_non_null(q);
    assert_non_null(r);
    for (int k = 0; k < 7; k++) /* every column up to the weight error, which no window of this run measured */
        q = strchr(q + 1, ','), r = strchr(r + 1, ',');
    assert_memory_equal(strstr(a, "\nq4g:16,"), strstr(b, "\nq4g:16,"), (size_t)(q - strstr(a, "\nq4g:16,")));
    free(a), free(b);
    /* another window: refused, naming it; nothing printed */
    snprintf(args, sizeof args, "model eval --config gptj-micro --formats q4g:16 --window 10 --stride 5 --tokens %s "
                                "--resume %s", ids, state_path);
    assert_int_equal(ipusim(args), 1);
    assert_non_null(strstr(out, "the window was '12', this run has '10'"));
    assert_null(strstr(out, "perplexity"));
    assert_int_equal(ipusim("model eval --config gptj-micro --window 4 --stride 5"), 2);
    /* window and stride past the text are cut to it; --tokens with --text and --max-tokens 1 are usage errors */
    assert_int_equal(ipusim("model eval --config gptj-micro --formats q4g:16 --window 100 --stride 100 --quiet"), 0);
    assert_non_null(strstr(out, "64 tokens, window 64, stride 64"));
    snprintf(args, sizeof args, "model eval --config gptj-micro --tokens 1,2,3 --text %s", csv_a);
    assert_int_equal(ipusim(args), 2);
    assert_non_null(strstr(out, "give --tokens or --text, not both"));
    assert_int_equal(ipusim("model eval --config gptj-micro --max-tokens 1"), 2);
    assert_int_equal(ipusim("model eval --config gptj-micro --window 4000"), 2);
}

/* --on-sim: the same windows on the machine's fp16 numerics, perplexity
 * near the host reference's; its resume state is not the host run's; run
 * keys only with it, and not the keys eval sets. */
static void test_eval_on_sim(void **state)
{
    (void)state;
    char args[1024], state_path[400];
    const char *base = "model eval --config gptj-micro --formats q4g:16 --window 12 --stride 6 --max-tokens 30 --json "
                       "--quiet";
    snprintf(state_path, sizeof state_path, "%s/host.state", tmpdir);
    snprintf(args, sizeof args, "%s --resume %s", base, state_path);
    assert_int_equal(tu_ipusim(NULL, args, 0, out, sizeof out), 0);
    double host = json_num(out, "fp16", "perplexity");
    snprintf(args, sizeof args, "%s --on-sim --set kv_cache=off", base);
    assert_int_equal(tu_ipusim(NULL, args, 0, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"logits_source\":\t\"the simulated machine, functional\""));
    double sim = json_num(out, "fp16", "perplexity"), kl = json_num(out, "q4g:16", "mean_kl_nats");
    assert_true(fabs(sim - host) < 0.01 * host);
    assert_true(kl > 0 && kl < 0.01);
    snprintf(args, sizeof args, "%s --on-sim --resume %s", base, state_path);
    assert_int_equal(ipusim(args), 1);
    assert_non_null(strstr(out, "on-sim"));
    assert_int_equal(ipusim("model eval --config gptj-micro --set kv_cache=off"), 2);
    assert_int_equal(ipusim("model eval --config gptj-micro --on-sim --set batch=2"), 2);
    assert_non_null(strstr(out, "--set batch=2"));
    assert_int_equal(ipusim("model eval --config gptj-micro --on-sim --formats fp32"), 1);
    assert_int_equal(ipusim("model eval --config gptj-micro --on-sim --set keep_fp16=lm_head.weight"), 2);
    /* a window of the whole context (128): the generated token needs no place in the sequence */
    char ids[700] = "";
    for (int i = 0; i < 128; i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%d", i ? "," : "", 3 * i + 1);
    snprintf(args, sizeof args, "model eval --config gptj-micro --formats q4g:16 --on-sim --tokens %s --max-tokens 0 "
                                "--quiet", ids);
    assert_int_equal(ipusim(args), 0);
    assert_non_null(strstr(out, "128 tokens, window 128, stride 128"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_then_load),
        cmocka_unit_test(test_info_bench_and_usage),
        cmocka_unit_test(test_bits_per_param_one_definition),
        cmocka_unit_test(test_eval_windows_and_resume),
        cmocka_unit_test(test_eval_on_sim),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
