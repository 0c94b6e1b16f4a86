/* cli_bench_amp.c - `ipusim bench amp`: AMP matmul throughput of a whole
 * chip, [N,16] x [16,16] fp16 on every tile, beside the published Bow
 * measurement (docs/reference/ipu-figures.md, "measured AMP throughput").
 *
 * For each N it builds a real graph on one chip of the arch: on every tile,
 * workers_per_tile matmul.amp_f16 vertices sharing the N rows as
 * matmul_split shares them (the first N % workers take one extra row), in one compute
 * set, and runs it on the engine in timing mode. So the cycles include the
 * engine's supervisor and vertex launch overheads and the barrel model, and
 * each vertex's worker cycles come from its measure() (the vertex run on
 * scratch data). Dispatched from cli_bench (host/cli_bench.c) as "amp".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codelets/matmul.h"
#include "host/cli.h"
#include "sim/arch.h"
#include "sim/engine.h"
#include "sim/graph.h"
#include "sim/program.h"

/* Published Bow measurements (tessellate-ipu notebook), TFLOPS; 0: none. */
static double published_bow_tflops(uint32_t n)
{
    return n == 16 ? 55.5 : n == 256 ? 264.0 : n == 2048 ? 334.9 : 0.0;
}

typedef struct AmpPoint {
    uint32_t n;
    uint64_t worker_cycles; /* the busiest worker's vertex */
    uint64_t tile_cycles;   /* the compute step, from the engine */
    double tflops;
} AmpPoint;

/* One compute set of [n,16]x[16,16] on every tile of chip 0; 0 or -1 with err. */
static int bench_point(const IpuArch *a, uint32_t n, AmpPoint *pt, IpuErr *err)
{
    Graph *g = graph_create(a, GRAPH_TIMING, err);
    Program *p = program_create();
    Engine *e = NULL;
    MatmulArgs *parts = NULL;
    int rc = -1;
    if (!g || !p)
        goto done;
    int cs = graph_add_compute_set(g, "amp", err);
    if (cs < 0)
        goto done;
    MatmulArgs whole = {.m = n, .k = 16, .n = 16, .amp_macs_per_cycle = a->amp_macs_per_cycle_fp16};
    if (matmul_check(&whole, 0, err))
        goto done;
    parts = malloc(a->workers_per_tile * sizeof *parts);
    if (!parts) {
        ipu_err(err, "out of host memory");
        goto done;
    }
    uint32_t count = matmul_split(&whole, LAYER_F16, a->workers_per_tile, parts);
    uint64_t longest = 0;
    for (uint32_t k = 0; k < count; k++) {
        uint64_t c = matmul_amp_f16_vertex.measure(&a->isa, &parts[k]);
        longest = c > longest ? c : longest;
    }
    for (uint32_t tile = 0; tile < a->tiles_per_chip; tile++)
        for (uint32_t k = 0; k < count; k++)
            if (graph_add_vertex(g, cs, tile, &matmul_amp_f16_vertex, &parts[k], err))
                goto done;
    int root = program_execute(p, cs, "amp", program_category(p, "compute", err), err);
    if (root < 0 || !(e = engine_create(g, err)) || engine_run(e, p, err))
        goto done;
    pt->n = n;
    pt->worker_cycles = longest;
    pt->tile_cycles = engine_cycles(e);
    double flops = 2.0 * n * 16 * 16 * a->tiles_per_chip;
    pt->tflops = flops / ((double)pt->tile_cycles / a->clock_hz) / 1e12;
    rc = 0;
done:
    free(parts);
    engine_destroy(e);
    program_destroy(p);
    graph_destroy(g);
    return rc ? ipu_err_prefix(err, "bench amp N=%u", n) : 0;
}

enum { O_ARCH, O_ARCH_FILE, O_SET, O_JSON, O_HELP, O_COUNT };

/* The options of bench amp (copied: cli_parse fills count and values). */
static const CliOpt amp_opts[] = {
    [O_ARCH] = {"arch", 1, "arch preset (default bow); only chip 0 is used", 0, {0}},
    [O_ARCH_FILE] = {"arch-file", 1, "JSON arch file applied after the preset", 0, {0}},
    [O_SET] = {"set", 1, "key=value arch setting, e.g. isa.amp_fill.cycles=8; repeatable", 0, {0}},
    [O_JSON] = {"json", 0, "print JSON instead of a table", 0, {0}},
    [O_HELP] = {"help", 0, "show this help", 0, {0}},
};
_Static_assert(sizeof amp_opts / sizeof *amp_opts == O_COUNT, "one entry per option");

static int print_json(const IpuArch *a, const CliOpt *opts, double peak, const AmpPoint *pts, int np)
{
    cJSON *j = cJSON_CreateObject();
    cli_arch_json(j, a, &opts[O_ARCH_FILE], &opts[O_SET]);
    cJSON_AddNumberToObject(j, "tiles", a->tiles_per_chip);
    cJSON_AddNumberToObject(j, "clock_hz", a->clock_hz);
    cJSON_AddNumberToObject(j, "amp_macs_per_cycle_fp16", a->amp_macs_per_cycle_fp16);
    cJSON_AddNumberToObject(j, "workers_per_tile", a->workers_per_tile);
    cJSON_AddNumberToObject(j, "peak_tflops", peak);
    cJSON_AddStringToObject(j, "published_arch", "bow");
    cJSON *arr = cJSON_AddArrayToObject(j, "points");
    for (int i = 0; i < np; i++) {
        cJSON *o = cJSON_CreateObject();
        double pub = published_bow_tflops(pts[i].n);
        cJSON_AddNumberToObject(o, "n", pts[i].n);
        cJSON_AddNumberToObject(o, "worker_cycles", (double)pts[i].worker_cycles);
        cJSON_AddNumberToObject(o, "tile_cycles", (double)pts[i].tile_cycles);
        cJSON_AddNumberToObject(o, "tflops", pts[i].tflops);
        cJSON_AddNumberToObject(o, "fit_4n_330_cycles", 4.0 * pts[i].n + 330);
        if (pub > 0)
            cJSON_AddNumberToObject(o, "published_tflops", pub);
        else
            cJSON_AddNullToObject(o, "published_tflops");
        cJSON_AddItemToArray(arr, o);
    }
    return cli_print_json(j);
}

static void print_table(const IpuArch *a, const CliOpt *opts, double peak, const AmpPoint *pts, int np)
{
    cli_arch_line(a, &opts[O_ARCH_FILE], &opts[O_SET]);
    printf("AMP [N,16]x[16,16] fp16 -> fp16 partials, every tile of %s (engine, timing mode): %u tiles, %.3g GHz, "
           "%u MACs/cycle/tile, peak %.1f TFLOPS\n",
           a->name, a->tiles_per_chip, a->clock_hz / 1e9, a->amp_macs_per_cycle_fp16, peak);
    printf("%6s %14s %12s %16s %9s %7s %16s\n", "N", "worker_cycles", "tile_cycles", "Bow fit 4N+330", "TFLOPS",
           "%peak", "published (Bow)");
    for (int i = 0; i < np; i++) {
        double pub = published_bow_tflops(pts[i].n);
        char pubs[32] = "-";
        if (pub > 0)
            snprintf(pubs, sizeof pubs, "%.1f", pub);
        printf("%6u %14llu %12llu %16u %9.1f %6.1f%% %16s\n", pts[i].n, (unsigned long long)pts[i].worker_cycles,
               (unsigned long long)pts[i].tile_cycles, 4 * pts[i].n + 330, pts[i].tflops, 100.0 * pts[i].tflops / peak,
               pubs);
    }
}

int cli_bench_amp(int argc, char **argv)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, amp_opts, sizeof opts);
    const char *pos[1];
    int npos;
    if (cli_parse("bench amp", argc, argv, opts, O_COUNT, pos, 0, &npos))
        return 2;
    if (opts[O_HELP].count) {
        printf("usage: ipusim bench amp [--arch NAME] [--arch-file F] [--set k=v]... [--json]\n"
               "AMP throughput, [N,16]x[16,16] fp16 (fp16 partials) on every tile, N = 16 .. 2048,\n"
               "run on the engine in timing mode, beside the published Bow measurement.\n\n");
        cli_print_options(stdout, opts, O_COUNT);
        return 0;
    }
    IpuArch a;
    IpuErr err;
    if (cli_arch_resolve(cli_value(&opts[O_ARCH], NULL), "bow", cli_value(&opts[O_ARCH_FILE], NULL), &opts[O_SET], &a,
                         &err)) {
        fprintf(stderr, "ipusim bench amp: %s\n", err.msg);
        return 1;
    }
    a.chips = a.chips_per_machine = 1;
    double peak = 2.0 * a.amp_macs_per_cycle_fp16 * a.tiles_per_chip * a.clock_hz / 1e12;
    AmpPoint pts[8];
    int np = 0;
    for (uint32_t n = 16; n <= 2048; n *= 2)
        if (bench_point(&a, n, &pts[np++], &err)) {
            fprintf(stderr, "ipusim bench amp: %s\n", err.msg);
            return 1;
        }
    if (opts[O_JSON].count)
        return print_json(&a, opts, peak, pts, np);
    print_table(&a, opts, peak, pts, np);
    return 0;
}
