/* test_roofline.c - the roofline: peaks of the arch worked out by hand,
 * FLOPs against an independent count (the model's parameter count, and
 * the attention pairs added up one query at a time), the bound each point
 * hits on hand-built reports, JSON, table and plot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/testutil.h"
#include "host/roofline.h"
#include "models/gptj_config.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tu_tmpdir_create(tmpdir, sizeof tmpdir, "ipusim_test_roofline_");
}

static int teardown(void **state)
{
    (void)state;
    return tu_tmpdir_remove(tmpdir);
}

static void near(double got, double want)
{
    if (!(fabs(got - want) <= 1e-12 * fabs(want)))
        fail_msg("got %.15g, want %.15g", got, want);
}

static RooflineShape shape_6b(uint32_t prompt, uint32_t seq, int kv_cache)
{
    RooflineShape s;
    IpuErr e;
    assert_int_equal(gptj_config_preset(&s.cfg, "gptj-6b", &e), 0);
    s.prompt_len = prompt, s.seq_len = seq, s.kv_cache = kv_cache;
    return s;
}

static void test_peaks(void **state)
{
    (void)state;
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset("pod16", &a, &e), 0);
    Roofline rl;
    roofline_init(&rl, &a, 16);
    near(rl.peak[ROOF_COMPUTE], 16.0 * 1472 * 64 * 2 * 1.33e9); /* 4.0 PFLOP/s: 16 x GC200's 250 TFLOPS */
    near(rl.peak[ROOF_STREAM], 4 * 2.16517e10);                /* four machines, each below 4 x 16e9 */
    near(rl.peak[ROOF_SRAM], 16.0 * 1472 * 1.33e9 * 24);
    near(rl.peak[ROOF_EXCHANGE], 16.0 * 1472 * 4 * 1.33e9);
    roofline_init(&rl, &a, 1); /* one chip: its link caps the stream */
    near(rl.peak[ROOF_STREAM], 16e9);
    assert_int_equal(rl.n, 0);
    roofline_free(&rl);
    roofline_free(NULL);
}

/* Attention pairs of one step counted one query at a time. */
static double pairs_by_loop(uint32_t first_pos, uint32_t queries)
{
    double n = 0;
    for (uint32_t q = 0; q < queries; q++)
        n += first_pos + q + 1; /* the query at position p sees keys 0..p */
    return n;
}

static void test_flops(void **state)
{
    (void)state;
    RooflineShape s = shape_6b(128, 132, 1);
    const GptjConfig *c = &s.cfg;
    /* the wte matrix is a gather, not a product: every other matrix weight
     * is one multiply-add per row */
    double lin_params = (double)gptj_config_n_matrix_params(c) - (double)c->vocab_size * c->n_embd;
    double per_pair = 2.0 * 2 * c->n_layer * c->n_embd; /* q k and p v, 2 FLOPs per multiply-add, all heads */
    double lin, att;
    /* decode, batch 2, 3 decode steps at positions 128, 129, 130: the mean */
    roofline_step_flops(&s, 2, 3, 1, &lin, &att);
    near(lin, 2.0 * 2 * lin_params);
    near(att, 2 * per_pair * (pairs_by_loop(128, 1) + pairs_by_loop(129, 1) + pairs_by_loop(130, 1)) / 3);
    assert_true(lin / 2 > 11.5e9 && lin / 2 < 12.1e9); /* ~12 GFLOP a sequence: 2 per parameter */
    /* prefill: 128 rows a sequence through the layers, the head on the last */
    roofline_step_flops(&s, 2, 3, 0, &lin, &att);
    double head = (double)c->vocab_size * c->n_embd;
    near(lin, 2.0 * 2 * 128 * (lin_params - head) + 2.0 * 2 * head);
    near(att, 2 * per_pair * pairs_by_loop(0, 128));
    /* without a KV cache every step runs the padded 132 positions */
    s = shape_6b(128, 132, 0);
    double lin_d, att_d;
    roofline_step_flops(&s, 3, 3, 1, &lin_d, &att_d);
    roofline_step_flops(&s, 3, 3, 0, &lin, &att);
    near(lin_d, lin);
    near(att_d, att);
    near(lin, 2.0 * 3 * 132 * (lin_params - head) + 2.0 * 3 * head);
    near(att, 3 * per_pair * pairs_by_loop(0, 132));
}

/* One format's report by hand at 1 GHz on pod16: each step 1e8 cycles (0.1 s). */
static FormatReport hand_format(const char *fmt, uint32_t batch, Placement place)
{
    FormatReport f;
    memset(&f, 0, sizeof f);
    snprintf(f.format, sizeof f.format, "%s", fmt);
    f.batch = batch, f.chips = 16, f.ndecode = 1, f.clock_hz = 1e9, f.placement = place;
    f.prefill_total_cycles = f.decode_total_cycles = 1e8;
    f.prefill_cycles[PHASE_MATMUL] = 1e8;
    f.decode_cycles[PHASE_STREAM] = 6e7, f.decode_cycles[PHASE_MATMUL] = 2e7, f.decode_cycles[PHASE_ATTENTION] = 2e7;
    return f;
}

static const RooflinePoint *point(const Roofline *rl, const char *fmt, int decode, RooflinePart part)
{
    for (int i = 0; i < rl->n; i++)
        if (!strcmp(rl->p[i].format, fmt) && rl->p[i].decode == decode && rl->p[i].part == part)
            return &rl->p[i];
    return NULL;
}

/* The exchange peak of pod16 at 1 GHz: 16 chips x 1472 tiles x 4 B/cycle. */
#define XCH_PEAK (16.0 * 1472 * 4 * 1e9)

/* A roofline of two hand-built formats on pod16 at 1 GHz (r points at f):
 * fp16 streamed (decode stream-bound, prefill compute-bound) and q4g:64
 * resident (its exchange binds). The fixture of the tests below. */
typedef struct TwoFormats {
    Roofline rl;
    FormatReport f[2];
    Report r;
} TwoFormats;

static void two_formats(Roofline *rl, FormatReport f[2], Report *r)
{
    IpuArch a;
    IpuErr e;
    assert_int_equal(arch_preset("pod16", &a, &e), 0);
    a.clock_hz = 1e9; /* the peaks at the reports' clock */
    roofline_init(rl, &a, 16);
    RooflineShape s = shape_6b(2048, 2049, 1);
    f[0] = hand_format("fp16", 16, PLACE_STREAM), f[1] = hand_format("q4g:64", 1, PLACE_RESIDENT);
    /* fp16 decode: 6.928e9 bytes streamed, 0.08 s at 86.6 GB/s of the 0.1 s step */
    f[0].decode_bytes = (ReportStepBytes){.stream_bytes = 0.8 * 8.66068e10, .weight_bytes_read = 7e9, .kv_bytes_read = 1e9};
    /* fp16 prefill: 2 x 16 x 2048 rows x ~6 G weights ~ 4e14 FLOPs in 0.2 s: compute-bound at 3 PFLOP/s */
    f[0].prefill_total_cycles = f[0].prefill_cycles[PHASE_MATMUL] = 2e8;
    f[0].prefill_bytes = (ReportStepBytes){.stream_bytes = 7e9, .weight_bytes_read = 7e9};
    /* q4g:64 resident: its exchange binds (0.05 s of 0.1 s at 94.2 TB/s) */
    f[1].prefill_bytes = (ReportStepBytes){.exchange_bytes = 0.5 * XCH_PEAK * 0.1, .weight_bytes_read = 3e9};
    f[1].decode_bytes =
        (ReportStepBytes){.exchange_bytes = 0.5 * XCH_PEAK * 0.1, .weight_bytes_read = 3e9, .kv_bytes_read = 5e7};
    *r = (Report){.f = f, .n = 2};
    if (roofline_add(rl, r, &s, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(rl->n, 2 + 3 + 2 + 3); /* no KV read in the prefills: no attention points */
}

static int two_formats_setup(void **state)
{
    TwoFormats *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    two_formats(&t->rl, t->f, &t->r);
    *state = t;
    return 0;
}

static int two_formats_teardown(void **state)
{
    TwoFormats *t = *state;
    roofline_free(&t->rl);
    free(t);
    return 0;
}

static void test_points_and_bounds(void **state)
{
    TwoFormats *t = *state;
    const Roofline *rl = &t->rl;
    assert_null(point(rl, "fp16", 0, ROOFLINE_ATTENTION));
    assert_null(point(rl, "q4g:64", 0, ROOFLINE_ATTENTION));

    const RooflinePoint *p = point(rl, "fp16", 1, ROOFLINE_STEP);
    assert_int_equal(p->source, ROOF_STREAM);
    near(p->bytes, 0.8 * 8.66068e10);
    assert_int_equal(p->bound, ROOF_STREAM);
    near(p->bound_frac, 0.8 * 8.66068e10 / rl->peak[ROOF_STREAM] / 0.1);
    near(p->intensity, p->flops / p->bytes);
    near(p->achieved_flops_per_s, p->flops / 0.1);
    /* its linears: the stream, decompress and matmul phases (0.08 s), the streamed bytes */
    p = point(rl, "fp16", 1, ROOFLINE_LINEARS);
    near(p->time_s, 0.08);
    near(p->bytes, 0.8 * 8.66068e10);
    assert_int_equal(p->bound, ROOF_STREAM);
    /* attention: 0.02 s, KV bytes from SRAM */
    p = point(rl, "fp16", 1, ROOFLINE_ATTENTION);
    assert_int_equal(p->source, ROOF_SRAM);
    near(p->time_s, 0.02);
    near(p->bytes, 1e9);
    p = point(rl, "fp16", 0, ROOFLINE_STEP);
    assert_int_equal(p->bound, ROOF_COMPUTE);
    near(p->bound_frac, p->flops / rl->peak[ROOF_COMPUTE] / 0.2);
    assert_true(p->bound_frac > 0.6 && p->bound_frac < 0.7);
    p = point(rl, "q4g:64", 1, ROOFLINE_STEP);
    assert_int_equal(p->source, ROOF_SRAM);
    near(p->bytes, 3e9 + 5e7); /* resident: weights and KV from SRAM */
    assert_int_equal(p->bound, ROOF_EXCHANGE);
    near(p->bound_frac, 0.5);
    p = point(rl, "q4g:64", 1, ROOFLINE_LINEARS);
    near(p->bytes, 3e9);
    assert_int_equal(p->bound, ROOF_SRAM); /* the linears' bound looks at compute and their source only */
}

/* JSON carries the peaks and every point. */
static void test_json(void **state)
{
    TwoFormats *t = *state;
    const Roofline *rl = &t->rl;
    cJSON *j = roofline_to_json(rl);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "points")), rl->n);
    near(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "peaks"), "exchange_bytes_per_s")->valuedouble, XCH_PEAK);
    cJSON *q = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "points"), 0);
    assert_string_equal(cJSON_GetObjectItem(q, "bound")->valuestring, "compute");
    assert_string_equal(cJSON_GetObjectItem(q, "step")->valuestring, "prefill");
    assert_string_equal(cJSON_GetObjectItem(q, "part")->valuestring, "step");
    cJSON_Delete(j);
}

/* The table: a roofs line, a header, one row per point. */
static void test_table(void **state)
{
    TwoFormats *t = *state;
    const Roofline *rl = &t->rl;
    char path[400];
    snprintf(path, sizeof path, "%s/table.txt", tmpdir);
    FILE *tf = fopen(path, "w+");
    assert_non_null(tf);
    roofline_print(tf, rl);
    rewind(tf);
    char line[512];
    int rows = 0, stream_rows = 0;
    while (fgets(line, sizeof line, tf)) {
        rows++;
        stream_rows += strstr(line, " stream ") && strstr(line, "fp16") && strstr(line, "decode") ? 1 : 0;
    }
    fclose(tf);
    assert_int_equal(rows, 1 + 2 + rl->n); /* a blank line first */
    assert_int_equal(stream_rows, 2);
}

/* The plot: data blocks per format, a script naming no folder. */
static void test_plot(void **state)
{
    TwoFormats *t = *state;
    const Roofline *rl = &t->rl;
    IpuErr e;
    char dir[400], names[64];
    snprintf(dir, sizeof dir, "%s/plot", tmpdir);
    assert_int_equal(mkdir(dir, 0777), 0);
    if (roofline_plot_into(rl, &t->r, dir, names, sizeof names, &e))
        fail_msg("%s", e.msg);
    assert_true(!strcmp(names, "roofline.png") || !strcmp(names, "roofline.svg"));
    assert_string_equal(tu_listing(dir), !strcmp(names, "roofline.png") ? "roofline.dat roofline.gp roofline.png"
                                                                          : "roofline.dat roofline.gp roofline.svg");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peaks),
        cmocka_unit_test(test_flops),
        cmocka_unit_test_setup_teardown(test_points_and_bounds, two_formats_setup, two_formats_teardown),
        cmocka_unit_test_setup_teardown(test_json, two_formats_setup, two_formats_teardown),
        cmocka_unit_test_setup_teardown(test_table, two_formats_setup, two_formats_teardown),
        cmocka_unit_test_setup_teardown(test_plot, two_formats_setup, two_formats_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
