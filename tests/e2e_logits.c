/* e2e_logits.c - logits in and out through the ipusim program: `run --ids
 * --logits` on gptj-micro's synthetic weights against `model forward` on
 * the same ids and weights (per format), --logits-all's last row ==
 * --logits, --ids-file == --ids, teacher forcing, a checkpoint's
 * config.json defining the model (a checkpoint from `model synth`), `bench
 * functional --checkpoint`, every usage and input error, and a run's
 * figures unchanged by --logits.
 *
 * Tolerance: the lowering tests', derived in tests/lower_fixture.h:
 * LF_LOGIT_REL_TOL x the RMS of the reference's logits at the position (at
 * least 0.05, lf_tolerance); the machine
 * keeps activations in fp16 with fp16 partials, the reference computes in
 * fp32 on the weights the machine holds (model forward --format). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "models/npy.h"
#include "tests/lower_fixture.h"

/* gptj-micro on a small machine, three tokens: a run of milliseconds */
#define MICRO "run --set model=gptj-micro --set weights=synthetic --set arch=gc200 --set gen_tokens=3"

static char tmpdir[256];
static char out[65536];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_logits_") || !getenv("IPUSIM_BIN") ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

/* Runs ipusim ARGS in the test's folder, stdout (and stderr when with_stderr) into out; the exit code. */
static int ipusim_v(int with_stderr, const char *fmt, va_list ap)
{
    char args[4096];
    vsnprintf(args, sizeof args, fmt, ap);
    return tu_ipusim(tmpdir, args, with_stderr, out, sizeof out);
}

static int ipusim(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ipusim(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ipusim_v(1, fmt, ap);
    va_end(ap);
    return rc;
}

/* The same with stdout alone. */
static int ipusim_stdout(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ipusim_stdout(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ipusim_v(0, fmt, ap);
    va_end(ap);
    return rc;
}

static void expect_out(const char *want)
{
    if (!strstr(out, want))
        fail_msg("output lacks '%s':\n%s", want, out);
}

typedef struct Npy {
    float *v;
    uint64_t shape[NPY_MAX_DIMS];
    int ndim;
} Npy;

static Npy load(const char *name)
{
    char path[512];
    Npy a;
    IpuErr e;
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    if (npy_read_f32(path, 64u << 20, &a.v, a.shape, &a.ndim, &e))
        fail_msg("%s", e.msg);
    return a;
}

/* Every row (of the last axis) of got within the tolerance of want's. */
static void near(const Npy *got, const Npy *want, const char *what)
{
    assert_int_equal(got->ndim, want->ndim);
    uint64_t n = 1, V = want->shape[want->ndim - 1];
    for (int i = 0; i < want->ndim; i++)
        assert_int_equal(got->shape[i], want->shape[i]), n *= want->shape[i];
    for (uint64_t r = 0; r < n / V; r++) {
        double tol = lf_tolerance(want->v + r * V, (int)V), maxd = lf_max_diff(got->v + r * V, want->v + r * V, (int)V);
        if (!(maxd <= tol))
            fail_msg("%s: row %llu: max |logit diff| %g > tol %g", what, (unsigned long long)r, maxd, tol);
    }
}

/* The machine's logits (each format's file) against the reference's, every
 * position and the last. The continuation is teacher-forced: synthetic
 * weights give near-ties (logits within a few tenths), so greedy tokens may
 * part at any rounding and the positions after it would hold other text. */
static void test_run_vs_forward(void **state)
{
    (void)state;
    assert_int_equal(ipusim(MICRO " --set formats=fp16,q4g:16 --ids 11,400,7,99,310 --teacher-force 40,41,42 "
                                  "--logits l.npy --logits-all"),
                     0);
    expect_out("logits: l-fp16.npy");
    expect_out("logits: l-q4g-16.npy");
    expect_out("fp16     seq 0 ids: 40 41 42\n");
    static const char *const fmts[2][2] = {{"fp16", "l-fp16.npy"}, {"q4g:16", "l-q4g-16.npy"}};
    for (int f = 0; f < 2; f++) {
        assert_int_equal(ipusim("model forward --config gptj-micro --ids 11,400,7,99,310 --teacher-force 40,41,42 "
                                "--format %s --logits ref.npy --logits-all",
                                fmts[f][0]),
                         0);
        expect_out("reference fp32 forward");
        Npy got = load(fmts[f][1]), want = load("ref.npy");
        assert_int_equal(got.ndim, 3);
        assert_int_equal(got.shape[0], 1), assert_int_equal(got.shape[1], 5 + 3 - 1), assert_int_equal(got.shape[2], 512);
        near(&got, &want, fmts[f][0]);
        free(got.v), free(want.v);
    }
    /* the last position's alone: the last row of every position's, bit for bit; --ids-file the same ids */
    char path[512];
    snprintf(path, sizeof path, "%s/ids.txt", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("11 400\n7, 99\n310\n", f);
    fclose(f);
    assert_int_equal(ipusim(MICRO " --set formats=q4g:16 --ids-file ids.txt --teacher-force 40,41,42 --logits last.npy"),
                     0);
    Npy last = load("last.npy"), all = load("l-q4g-16.npy");
    assert_int_equal(last.ndim, 2);
    assert_int_equal(last.shape[0], 1), assert_int_equal(last.shape[1], 512);
    assert_memory_equal(last.v, all.v + 6 * 512, 512 * sizeof(float));
    free(last.v), free(all.v);
}

/* Teacher forcing: the tokens are the given ones, batch rows alike; the logits the reference's. */
static void test_teacher_force(void **state)
{
    (void)state;
    assert_int_equal(ipusim(MICRO " --set formats=fp16 --set batch=2 --ids 5,9,300 --teacher-force 7,8,9,10 "
                                  "--logits t.npy --logits-all"),
                     0);
    expect_out("tokens (teacher-forced: the given continuation):");
    expect_out("fp16     seq 0 ids: 7 8 9 10\n");
    expect_out("fp16     seq 1 ids: 7 8 9 10\n");
    expect_out("generate 4"); /* gen_tokens is the continuation's length */
    assert_int_equal(ipusim("model forward --config gptj-micro --ids 5,9,300 --teacher-force 7,8,9,10 --format fp16 "
                            "--logits r.npy --logits-all"),
                     0);
    expect_out("teacher-forced ids: 7 8 9 10\n");
    Npy got = load("t.npy"), want = load("r.npy");
    assert_int_equal(got.shape[0], 2), assert_int_equal(got.shape[1], 6);
    want.shape[0] = 1;
    Npy row1 = got;
    row1.shape[0] = 1;
    near(&row1, &want, "sequence 0");
    row1.v = got.v + 6 * 512;
    near(&row1, &want, "sequence 1");
    free(got.v), free(want.v);
}

/* Text (key prompt, --text) gives the same logits as its GPT-2 ids (tokenize "Hello world": 15496 995). */
static void test_text(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/hello.txt", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("Hello world", f);
    fclose(f);
    assert_int_equal(ipusim("model forward --config gptj-tiny --text hello.txt --logits a.npy"), 0);
    expect_out("prompt 2 ids");
    assert_int_equal(ipusim("model forward --config gptj-tiny --ids 15496,995 --logits b.npy"), 0);
    const char *tiny = "run --set model=gptj-tiny --set weights=synthetic --set arch=gc200 --set gen_tokens=1 "
                       "--set formats=fp16";
    assert_int_equal(ipusim("%s --set prompt=\"Hello world\" --logits c.npy", tiny), 0);
    expect_out("prompt 2, generate 1");
    assert_int_equal(ipusim("%s --ids 15496,995 --logits d.npy", tiny), 0);
    assert_int_equal(ipusim("model forward --config gptj-micro --text hello.txt"), 1);
    expect_out("--text: id 15496 at position 0 is outside the vocabulary of gptj-micro (0..511)");
    Npy a = load("a.npy"), b = load("b.npy"), c = load("c.npy"), d = load("d.npy");
    assert_int_equal(a.shape[1], 50400);
    assert_memory_equal(a.v, b.v, 50400 * sizeof(float));
    assert_memory_equal(c.v, d.v, 50400 * sizeof(float));
    free(a.v), free(b.v), free(c.v), free(d.v);
}

/* A run's figures do not change when the last position's logits are written. */
static void test_figures_unchanged(void **state)
{
    (void)state;
    static char plain[sizeof out];
    assert_int_equal(ipusim_stdout(MICRO " --set formats=q4g:16 --ids 3,4,5 --json"), 0);
    memcpy(plain, out, sizeof out);
    assert_non_null(strstr(plain, "\"prefill\""));
    assert_int_equal(ipusim_stdout(MICRO " --set formats=q4g:16 --ids 3,4,5 --json --logits j.npy"), 0);
    assert_string_equal(out, plain);
    assert_string_equal(tu_listing(tmpdir), "j.npy");
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(ipusim(MICRO " --ids 1,2 --ids-file x.txt"), 2);
    expect_out("give --ids or --ids-file, not both");
    assert_int_equal(ipusim(MICRO " --ids 1,2 --set prompt=Hello"), 2);
    expect_out("--ids and key 'prompt' both give the prompt");
    assert_int_equal(ipusim("run --set model=gptj-micro --set gen_tokens=2 --ids 1,2 --logits x.npy"), 2);
    expect_out("--logits needs functional mode");
    expect_out("weights=synthetic");
    assert_int_equal(ipusim("run --set model=gptj-micro --set prompt_len=4 --teacher-force 3"), 2);
    expect_out("--teacher-force needs functional mode");
    assert_int_equal(ipusim(MICRO " --ids 1,2 --logits-all"), 2);
    expect_out("--logits-all needs --logits");
    assert_int_equal(ipusim(MICRO " --ids 1,x2"), 2);
    expect_out("--ids: 'x2' at position 1 is not a token id");
    assert_int_equal(ipusim(MICRO " --ids 1,2,512"), 1);
    expect_out("--ids: id 512 at position 2 is outside the vocabulary of gptj-micro (0..511)");
    assert_int_equal(ipusim(MICRO " --ids 1 --teacher-force 4,600"), 1);
    expect_out("--teacher-force: id 600 at position 1 is outside the vocabulary");
    char path[512];
    snprintf(path, sizeof path, "%s/bad.txt", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("1 2\n3 -4\n", f);
    fclose(f);
    assert_int_equal(ipusim(MICRO " --ids-file bad.txt"), 1);
    expect_out("--ids-file 'bad.txt': line 2: '-4' at position 3 is not a token id");
    assert_int_equal(ipusim(MICRO " --ids-file missing.txt"), 1);
    expect_out("missing.txt");
    expect_out("No such file or directory");
    assert_int_equal(ipusim(MICRO " --ids 1 --logits no/such/dir/l.npy"), 1);
    expect_out("No such file or directory");
    assert_string_equal(tu_listing(tmpdir), "bad.txt"); /* nothing written */
    assert_int_equal(ipusim("model forward --ids 1"), 2);
    expect_out("give --config or --checkpoint");
    assert_int_equal(ipusim("model forward --config gptj-micro"), 2);
    expect_out("give the prompt as one of --ids, --ids-file or --text");
    assert_int_equal(ipusim("model forward --config gptj-micro --ids 1 --teacher-force 2,3 --gen-tokens 3"), 2);
    expect_out("--gen-tokens 3 and --teacher-force (2 ids) disagree");
    assert_int_equal(ipusim("model forward --config gptj-micro --ids 1 --format q4g:5"), 2);
    expect_out("--format");
}

/* A checkpoint from model synth: its config.json defines the model; a
 * different model is an error naming both; its logits; bench functional on it. */
static void test_checkpoint(void **state)
{
    (void)state;
    assert_int_equal(ipusim("model synth --config gptj-micro --seed 4 --out ck"), 0);
    assert_int_equal(ipusim("run --set weights=checkpoint --set checkpoint=ck --set arch=gc200 --set formats=fp16 "
                            "--ids 20,30,40 --teacher-force 50,60 --logits ck.npy --logits-all"),
                     0);
    expect_out("run: model ck, arch gc200");
    assert_int_equal(ipusim("model forward --checkpoint ck --ids 20,30,40 --teacher-force 50,60 --format fp16 "
                            "--logits ckref.npy --logits-all"),
                     0);
    Npy got = load("ck.npy"), want = load("ckref.npy");
    near(&got, &want, "checkpoint");
    free(got.v), free(want.v);
    assert_int_equal(ipusim("run --set weights=checkpoint --set checkpoint=ck --set model=gptj-tiny --ids 1"), 1);
    expect_out("key 'model' = gptj-tiny (--set) and key 'checkpoint' = ck (its config.json) are different models, "
               "n_embd 256 vs 64");
    assert_int_equal(ipusim("model forward --config gptj-tiny --checkpoint ck --ids 1"), 1);
    expect_out("--config gptj-tiny and --checkpoint ck (its config.json) are different models, n_embd 256 vs 64");
    assert_int_equal(ipusim("bench functional --checkpoint ck --arch gc200 --format q4g:16 --steps 1 --threads 1"), 0);
    expect_out("functional ck on gc200 (1 chips), q4g:16, checkpoint weights");
    expect_out("setup: checkpoint (gains, biases; matrices checked)");
    expect_out("mean decode step, fast");
    assert_int_equal(ipusim("bench functional --checkpoint ck --config gptj-tiny --steps 1"), 1);
    expect_out("different models");
    assert_int_equal(ipusim("bench functional --checkpoint missing --steps 1"), 1);
    expect_out("key 'checkpoint' (its config.json defines the model)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_vs_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_teacher_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_figures_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
