/* cli_bench_amp.c - `ipusim bench-amp`: AMP matmul throughput of a whole
 * chip, [N,16] x [16,16] fp16 on every tile, beside the published Bow
 * measurement (ipu-figures.md, "measured AMP throughput").
 *
 * Per tile, the rows are shared by the workers_per_tile workers as the
 * lowering would (first workers take one extra row when N does not divide);
 * each worker runs the matmul.amp_f16 vertex (fp16 partials) functionally on deterministic
 * data. Tile cycles = workers_per_tile x the longest worker's cycles (the
 * barrel model: one issue per worker every workers_per_tile tile cycles); no
 * supervisor launch overhead is added (the engine owns that). Every tile runs
 * the same work, so the chip time is one tile's time.
 *
 * The chip numbers come from a small table below (tiles, clock, AMP width),
 * each from ipu-figures.md, until sim/arch.c's presets are on this branch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/matmul.h"
#include "host/cli.h"
#include "sim/isa_cost.h"

/* ipu-figures.md, "Chip" and "Arithmetic" tables. */
typedef struct BenchChip {
    const char *name;
    uint32_t tiles;
    double clock_hz;
    uint32_t amp_macs_per_cycle_fp16;
    uint32_t workers_per_tile;
} BenchChip;

static const BenchChip bench_chips[] = {
    {"bow", 1472, 1.85e9, 64, 6},   /* Bow-2000: device-reported clock */
    {"gc200", 1472, 1.33e9, 64, 6}, /* Mk2: clock derived from 250 TFLOPS */
    {"gc2", 1216, 1.6e9, 32, 6},    /* Mk1: clock derived from 31.1 TFLOPS fp32 */
};

/* Published Bow measurements (tessellate-ipu notebook), TFLOPS; 0: none. */
static double published_bow_tflops(uint32_t n)
{
    return n == 16 ? 55.5 : n == 256 ? 264.0 : n == 2048 ? 334.9 : 0.0;
}

typedef struct AmpPoint {
    uint32_t n;
    uint64_t worker_cycles; /* longest worker */
    uint64_t tile_cycles;
    double tflops;
} AmpPoint;

/* One tile's [n,16]x[16,16] split over the workers; returns 0 or -1 (error printed). */
static int bench_point(const BenchChip *c, const IsaCosts *isa, uint32_t n, AmpPoint *pt)
{
    uint16_t *a = malloc((size_t)n * 16 * sizeof *a), w[16 * 16];
    uint16_t *out = calloc((size_t)n * 16, sizeof *out);
    if (!a || !out) {
        free(a), free(out);
        fprintf(stderr, "ipusim bench-amp: out of memory at N=%u\n", n);
        return -1;
    }
    for (size_t i = 0; i < (size_t)n * 16; i++)
        a[i] = fp16_from_f32((float)(int)(i % 5) - 2.0f);
    for (int i = 0; i < 256; i++)
        w[i] = fp16_from_f32(0.25f * (float)(i % 3));
    uint64_t longest = 0;
    uint32_t row = 0;
    for (uint32_t k = 0; k < c->workers_per_tile; k++) {
        uint32_t rows = n / c->workers_per_tile + (k < n % c->workers_per_tile);
        if (!rows)
            continue;
        MatmulArgs args = {.a = a + (size_t)row * 16, .w = w, .out = out + (size_t)row * 16, .m = rows, .k = 16,
                           .n = 16, .amp_macs_per_cycle = c->amp_macs_per_cycle_fp16};
        IpuErr err;
        if (matmul_check(&args, 1, &err)) {
            fprintf(stderr, "ipusim bench-amp: %s\n", err.msg);
            free(a), free(out);
            return -1;
        }
        Worker wk;
        worker_init(&wk, isa, 0);
        matmul_amp_f16_vertex.run(&wk, &args);
        longest = wk.cycles > longest ? wk.cycles : longest;
        row += rows;
    }
    free(a), free(out);
    pt->n = n;
    pt->worker_cycles = longest;
    pt->tile_cycles = longest * c->workers_per_tile;
    double flops = 2.0 * n * 16 * 16 * c->tiles;
    pt->tflops = flops / ((double)pt->tile_cycles / c->clock_hz) / 1e12;
    return 0;
}

int cli_bench_amp(int argc, char **argv)
{
    CliOpt opts[] = {
        {"arch", 1, "chip: bow (default), gc200, gc2 (numbers from shared/reference/ipu-figures.md)", 0, {0}},
        {"json", 0, "print JSON instead of a table", 0, {0}},
        {"help", 0, "show this help", 0, {0}},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    if (cli_parse("bench-amp", argc, argv, opts, nopts, pos, 0, &npos))
        return 2;
    if (opts[2].count) {
        printf("usage: ipusim bench-amp [--arch NAME] [--json]\n"
               "AMP throughput, [N,16]x[16,16] fp16 (fp16 partials) on every tile, N = 16 .. 2048.\n\n");
        cli_print_options(stdout, opts, nopts);
        return 0;
    }
    const char *name = cli_value(&opts[0], "bow");
    const BenchChip *c = NULL;
    for (size_t i = 0; i < sizeof bench_chips / sizeof bench_chips[0]; i++)
        if (!strcmp(bench_chips[i].name, name))
            c = &bench_chips[i];
    if (!c) {
        fprintf(stderr, "ipusim bench-amp: unknown arch '%s' (known: bow, gc200, gc2)\n", name);
        return 1;
    }
    IsaCosts isa;
    isa_costs_default(&isa);
    double peak = 2.0 * c->amp_macs_per_cycle_fp16 * c->tiles * c->clock_hz / 1e12;
    AmpPoint pts[8];
    int np = 0;
    for (uint32_t n = 16; n <= 2048; n *= 2)
        if (bench_point(c, &isa, n, &pts[np++]))
            return 1;
    int bow = !strcmp(c->name, "bow");
    if (opts[1].count) {
        printf("{\"arch\": \"%s\", \"tiles\": %u, \"clock_hz\": %.6g, \"amp_macs_per_cycle_fp16\": %u, "
               "\"workers_per_tile\": %u, \"peak_tflops\": %.2f, \"points\": [",
               c->name, c->tiles, c->clock_hz, c->amp_macs_per_cycle_fp16, c->workers_per_tile, peak);
        for (int i = 0; i < np; i++) {
            double pub = bow ? published_bow_tflops(pts[i].n) : 0.0;
            printf("%s\n  {\"n\": %u, \"worker_cycles\": %llu, \"tile_cycles\": %llu, \"tflops\": %.2f, "
                   "\"fit_4n_330_cycles\": %u, \"published_tflops\": ",
                   i ? "," : "", pts[i].n, (unsigned long long)pts[i].worker_cycles,
                   (unsigned long long)pts[i].tile_cycles, pts[i].tflops, 4 * pts[i].n + 330);
            if (pub > 0)
                printf("%.1f}", pub);
            else
                printf("null}");
        }
        printf("\n]}\n");
        return 0;
    }
    printf("AMP [N,16]x[16,16] fp16 -> fp16 partials, every tile of %s: %u tiles, %.3g GHz, %u MACs/cycle/tile, "
           "peak %.1f TFLOPS\n",
           c->name, c->tiles, c->clock_hz / 1e9, c->amp_macs_per_cycle_fp16, peak);
    printf("%6s %14s %12s %16s %9s %7s %16s\n", "N", "worker_cycles", "tile_cycles", "Bow fit 4N+330", "TFLOPS",
           "%peak", "published (Bow)");
    for (int i = 0; i < np; i++) {
        double pub = bow ? published_bow_tflops(pts[i].n) : 0.0;
        char pubs[32] = "-";
        if (pub > 0)
            snprintf(pubs, sizeof pubs, "%.1f", pub);
        printf("%6u %14llu %12llu %16u %9.1f %6.1f%% %16s\n", pts[i].n, (unsigned long long)pts[i].worker_cycles,
               (unsigned long long)pts[i].tile_cycles, 4 * pts[i].n + 330, pts[i].tflops, 100.0 * pts[i].tflops / peak,
               pubs);
    }
    return 0;
}
