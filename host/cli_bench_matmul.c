/* cli_bench_matmul.c - `ipusim bench matmul`: whole-chip fp16 matmuls
 * y = x W^T planned and built by the GPT-J lowering's linear-layer code
 * (host/bench_matmul.h), run on the engine in timing mode, against the
 * chip's AMP peak and a compute / exchange bound of the chosen plan.
 *
 * Shapes: square M = K = N from 512 to 8192, and GPT-J 6B's per-chip
 * linears at 4-way tensor parallelism (q/k/v fused, out_proj, fc_in,
 * fc_out) at M = 1, 12, 256, 3072, 4096 rows. A shape that does not fit is
 * a row with the lowering's error. Dispatched from host/cli_bench.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "host/bench_matmul.h"
#include "host/cli.h"
#include "sim/arch.h"

typedef struct MatmulShape {
    const char *name;
    uint32_t m, k, n;
} MatmulShape;

/* GPT-J 6B per chip at 4-way tensor parallelism: n_embd 4096, n_inner 16384. */
static const struct {
    const char *name;
    uint32_t k, n;
} gptj_linears[] = {{"qkv", 4096, 3072}, {"out_proj", 1024, 4096}, {"fc_in", 4096, 4096}, {"fc_out", 4096, 4096}};
static const uint32_t gptj_rows[] = {1, 12, 256, 3072, 4096};

#define MAX_SHAPES 32

static int shapes_list(MatmulShape *s)
{
    int ns = 0;
    for (uint32_t d = 512; d <= 8192; d *= 2)
        s[ns++] = (MatmulShape){"square", d, d, d};
    for (size_t l = 0; l < sizeof gptj_linears / sizeof gptj_linears[0]; l++)
        for (size_t r = 0; r < sizeof gptj_rows / sizeof gptj_rows[0]; r++)
            s[ns++] = (MatmulShape){gptj_linears[l].name, gptj_rows[r], gptj_linears[l].k, gptj_linears[l].n};
    return ns;
}

typedef struct Row {
    MatmulShape sh;
    int ok;
    MatmulRun r;
    char error[IPU_ERR_MSG_BYTES];
} Row;

static double row_ms(const IpuArch *a, const Row *w) { return (double)w->r.cycles / a->clock_hz * 1e3; }
static double row_tflops(const IpuArch *a, const Row *w)
{
    return 2.0 * w->sh.m * w->sh.k * w->sh.n / ((double)w->r.cycles / a->clock_hz) / 1e12;
}
static double row_bound(const Row *w)
{
    return w->r.compute_bound_cycles > w->r.xchg_bound_cycles ? w->r.compute_bound_cycles : w->r.xchg_bound_cycles;
}
static const char *row_binds(const Row *w)
{
    return w->r.compute_bound_cycles >= w->r.xchg_bound_cycles ? "compute" : "exchange";
}
static double pct(uint64_t part, uint64_t whole) { return whole ? 100.0 * (double)part / (double)whole : 0.0; }

enum { O_ARCH, O_ARCH_FILE, O_SET, O_JSON, O_HELP, O_COUNT };

/* The options of bench matmul (copied: cli_parse fills count and values). */
static const CliOpt matmul_opts[] = {
    [O_ARCH] = {"arch", 1, "arch preset (default gc200); only chip 0 is used", 0, {0}},
    [O_ARCH_FILE] = {"arch-file", 1, "JSON arch file applied after the preset", 0, {0}},
    [O_SET] = {"set", 1, "key=value arch setting, e.g. exchange.bytes_per_cycle=8; repeatable", 0, {0}},
    [O_JSON] = {"json", 0, "print JSON instead of a table", 0, {0}},
    [O_HELP] = {"help", 0, "show this help", 0, {0}},
};
_Static_assert(sizeof matmul_opts / sizeof *matmul_opts == O_COUNT, "one entry per option");

static int print_json(const IpuArch *a, const CliOpt *opts, double peak, const Row *rows, int nr)
{
    cJSON *j = cJSON_CreateObject();
    cli_arch_json(j, a, &opts[O_ARCH_FILE], &opts[O_SET]);
    cJSON_AddNumberToObject(j, "tiles", a->tiles_per_chip);
    cJSON_AddNumberToObject(j, "usable_tiles", a->tiles_per_chip - a->io_tiles);
    cJSON_AddNumberToObject(j, "clock_hz", a->clock_hz);
    cJSON_AddNumberToObject(j, "amp_macs_per_cycle_fp16", a->amp_macs_per_cycle_fp16);
    cJSON_AddNumberToObject(j, "exchange_bytes_per_cycle", a->exchange_bytes_per_cycle);
    cJSON_AddNumberToObject(j, "peak_tflops", peak);
    cJSON_AddStringToObject(j, "weights", "fp16");
    cJSON_AddStringToObject(j, "partials", "fp16");
    cJSON *arr = cJSON_AddArrayToObject(j, "rows");
    for (int i = 0; i < nr; i++) {
        const Row *w = &rows[i];
        const MatmulRun *r = &w->r;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", w->sh.name);
        cJSON_AddNumberToObject(o, "m", w->sh.m);
        cJSON_AddNumberToObject(o, "k", w->sh.k);
        cJSON_AddNumberToObject(o, "n", w->sh.n);
        if (!w->ok) {
            cJSON_AddStringToObject(o, "error", w->error);
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        cJSON_AddNumberToObject(o, "nb", r->plan.nb);
        cJSON_AddNumberToObject(o, "mb", r->plan.mb);
        cJSON_AddNumberToObject(o, "kb", r->plan.kb);
        cJSON_AddNumberToObject(o, "nblk", r->plan.nblk);
        cJSON_AddNumberToObject(o, "kblk", r->plan.kblk);
        cJSON_AddNumberToObject(o, "rows_per_chunk", r->rows_per_chunk);
        cJSON_AddNumberToObject(o, "chunks", r->chunks);
        cJSON_AddNumberToObject(o, "cycles", (double)r->cycles);
        cJSON_AddNumberToObject(o, "ms", row_ms(a, w));
        cJSON_AddNumberToObject(o, "tflops", row_tflops(a, w));
        cJSON_AddNumberToObject(o, "peak_pct", 100.0 * row_tflops(a, w) / peak);
        cJSON_AddNumberToObject(o, "amp_cycles", (double)r->amp_cycles);
        cJSON_AddNumberToObject(o, "reduce_cycles", (double)r->reduce_cycles);
        cJSON_AddNumberToObject(o, "copy_cycles", (double)r->copy_cycles);
        cJSON_AddNumberToObject(o, "sync_cycles", (double)r->sync_cycles);
        cJSON_AddNumberToObject(o, "copy_bytes", (double)r->copy_bytes);
        cJSON_AddNumberToObject(o, "tile_xchg_bytes", (double)r->tile_xchg_bytes);
        cJSON_AddNumberToObject(o, "tile_xchg_tile", r->tile_xchg_tile);
        cJSON_AddNumberToObject(o, "compute_bound_cycles", r->compute_bound_cycles);
        cJSON_AddNumberToObject(o, "xchg_bound_cycles", r->xchg_bound_cycles);
        cJSON_AddNumberToObject(o, "bound_cycles", row_bound(w));
        cJSON_AddStringToObject(o, "bound", row_binds(w));
        cJSON_AddNumberToObject(o, "cycles_over_bound", (double)r->cycles / row_bound(w));
        cJSON_AddNumberToObject(o, "est_cycles", r->plan.est_cycles);
        cJSON_AddItemToArray(arr, o);
    }
    return cli_print_json(j);
}

static void print_table(const IpuArch *a, const CliOpt *opts, double peak, const Row *rows, int nr)
{
    cli_arch_line(a, &opts[O_ARCH_FILE], &opts[O_SET]);
    printf("y = x W^T, fp16 weights and partials, no bias, one chip of %s (lowering's linear, engine, timing mode): "
           "%u tiles (%u usable), %.3g GHz, AMP peak %.1f TFLOPS, exchange %.3g B/cycle/tile\n",
           a->name, a->tiles_per_chip, a->tiles_per_chip - a->io_tiles, a->clock_hz / 1e9, peak,
           a->exchange_bytes_per_cycle);
    printf("grid nb x kb x mb row groups of blocks nblk x kblk; rows/chunk x chunks (per row group); xchg B/tile: busiest tile's bytes sent + received;\n"
           "bound: max(compute at AMP peak, plan's minimal exchange per tile), which binds; amp/xchg/sync/red: %% of "
           "cycles; est: planner's estimate\n");
    printf("%-8s %5s %5s %5s %11s %11s %11s %10s %8s %7s %6s %10s %10s %-4s %6s %10s %8s %5s %5s %5s %5s\n", "shape", "M",
           "K", "N", "grid", "block", "rows x ch", "cycles", "ms", "TFLOPS", "%peak", "xchgB/tile", "bound", "by",
           "x bnd", "est", "est/meas", "amp", "xchg", "sync", "red");
    for (int i = 0; i < nr; i++) {
        const Row *w = &rows[i];
        const MatmulRun *r = &w->r;
        printf("%-8s %5u %5u %5u ", w->sh.name, w->sh.m, w->sh.k, w->sh.n);
        if (!w->ok) {
            printf("error: %s\n", w->error);
            continue;
        }
        char grid[24], blk[24], ch[24];
        snprintf(grid, sizeof grid, "%ux%ux%u", r->plan.nb, r->plan.kb, r->plan.mb);
        snprintf(blk, sizeof blk, "%ux%u", r->plan.nblk, r->plan.kblk);
        snprintf(ch, sizeof ch, "%ux%u", r->rows_per_chunk, r->chunks);
        printf("%11s %11s %11s %10llu %8.3f %7.1f %5.1f%% %10llu %10.0f %-4s %6.2f %10.0f %8.2f %5.1f %5.1f %5.1f %5.1f\n",
               grid, blk, ch, (unsigned long long)r->cycles, row_ms(a, w), row_tflops(a, w),
               100.0 * row_tflops(a, w) / peak, (unsigned long long)r->tile_xchg_bytes, row_bound(w),
               row_binds(w)[0] == 'c' ? "comp" : "xchg", (double)r->cycles / row_bound(w), r->plan.est_cycles,
               r->plan.est_cycles / (double)r->cycles, pct(r->amp_cycles, r->cycles), pct(r->copy_cycles, r->cycles),
               pct(r->sync_cycles, r->cycles), pct(r->reduce_cycles, r->cycles));
    }
}

int cli_bench_matmul(int argc, char **argv)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, matmul_opts, sizeof opts);
    const char *pos[1];
    int npos;
    if (cli_parse("bench matmul", argc, argv, opts, O_COUNT, pos, 0, &npos))
        return 2;
    if (opts[O_HELP].count) {
        printf("usage: ipusim bench matmul [--arch NAME] [--arch-file F] [--set k=v]... [--json]\n"
               "Whole-chip fp16 matmuls y = x W^T (x: M x K, W: N x K) planned and built by the GPT-J\n"
               "lowering's linear layer, run on the engine in timing mode: square M = K = N = 512 .. 8192,\n"
               "and GPT-J 6B's per-chip linears at 4-way tensor parallelism (qkv fused 4096 -> 3072,\n"
               "out_proj 1024 -> 4096, fc_in and fc_out 4096 -> 4096) at M = 1, 12, 256, 3072, 4096.\n\n");
        cli_print_options(stdout, opts, O_COUNT);
        return 0;
    }
    IpuArch a;
    IpuErr err;
    if (cli_arch_resolve(cli_value(&opts[O_ARCH], NULL), "gc200", cli_value(&opts[O_ARCH_FILE], NULL), &opts[O_SET], &a,
                         &err)) {
        fprintf(stderr, "ipusim bench matmul: %s\n", err.msg);
        return 1;
    }
    a.chips = a.chips_per_machine = 1;
    double peak = 2.0 * a.amp_macs_per_cycle_fp16 * a.tiles_per_chip * a.clock_hz / 1e12;
    MatmulShape shapes[MAX_SHAPES];
    int ns = shapes_list(shapes);
    Row *rows = calloc((size_t)ns, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "ipusim bench matmul: out of host memory\n");
        return 1;
    }
    for (int i = 0; i < ns; i++) {
        rows[i].sh = shapes[i];
        rows[i].ok = !bench_matmul_run(&a, shapes[i].m, shapes[i].k, shapes[i].n, &rows[i].r, &err);
        if (!rows[i].ok) /* a shape that does not fit is a row, not an abort */
            snprintf(rows[i].error, sizeof rows[i].error, "%s", err.msg);
    }
    int rc = 0;
    if (opts[O_JSON].count)
        rc = print_json(&a, opts, peak, rows, ns);
    else
        print_table(&a, opts, peak, rows, ns);
    free(rows);
    return rc;
}
