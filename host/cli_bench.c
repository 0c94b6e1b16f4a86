/* cli_bench.c - `ipusim bench BENCHMARK`: one table of the benchmarks, each
 * with its function and a line for the usage. The built-in ones (exchange,
 * sync, stream, allreduce, engine, all) print host/bench.h's tables and share
 * the options below; amp, matmul, forward, gptj, functional and sweep take
 * their own options (host/cli_bench_*.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/bench.h"
#include "host/cli.h"

enum { O_ARCH, O_ARCH_FILE, O_SET, O_JSON, O_SUPERSTEPS, O_TRACE, O_HELP, O_COUNT };

/* The options of the built-in benchmarks (copied: cli_parse fills count and values). */
static const CliOpt bench_opts[] = {
    [O_ARCH] = {"arch", 1, "arch preset (default: gc200 exchange, pod16 sync/allreduce/engine, pod4 stream)", 0, {0}},
    [O_ARCH_FILE] = {"arch-file", 1, "JSON arch file applied after the preset", 0, {0}},
    [O_SET] = {"set", 1, "key=value arch setting; repeatable", 0, {0}},
    [O_JSON] = {"json", 0, "print JSON instead of markdown tables", 0, {0}},
    [O_SUPERSTEPS] = {"supersteps", 1, "engine: supersteps to simulate (default 1000)", 0, {0}},
    [O_TRACE] = {"trace", 1, "engine: write a Perfetto trace of the run to this file", 0, {0}},
    [O_HELP] = {"help", 0, "this help", 0, {0}},
};
_Static_assert(sizeof bench_opts / sizeof *bench_opts == O_COUNT, "one entry per option");

/* The built-in benchmarks of host/bench.h, in the order `all` runs them. */
typedef enum { B_EXCHANGE, B_SYNC, B_STREAM, B_ALLREDUCE, B_ENGINE, B_COUNT } Builtin;

/* The arch each measures unless --arch or an arch file names one. */
static const char *const builtin_arch[] = {
    [B_EXCHANGE] = "gc200", [B_SYNC] = "pod16", [B_STREAM] = "pod4", [B_ALLREDUCE] = "pod16", [B_ENGINE] = "pod16",
};
_Static_assert(sizeof builtin_arch / sizeof *builtin_arch == B_COUNT, "one default arch per built-in");

/* A benchmark of `ipusim bench`. */
typedef struct BenchCommand {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the name */
    const char *summary;               /* one line for the usage */
    int shared_opts;                   /* 1: takes bench_opts; 0: its own (ipusim bench NAME --help) */
} BenchCommand;

static void usage(FILE *f, const CliOpt *opts);

/* Runs built-in b on the arch of the command line into *t, and echoes that arch (JSON into out, else a line
 * before the table on stdout); 0, or 1 after printing the error. */
static int run_builtin(Builtin b, const CliOpt *opts, long steps, cJSON *out)
{
    IpuArch a;
    IpuErr err;
    BenchTable t;
    if (cli_arch_resolve(cli_value(&opts[O_ARCH], NULL), builtin_arch[b], cli_value(&opts[O_ARCH_FILE], NULL),
                         &opts[O_SET], &a, &err)) {
        fprintf(stderr, "ipusim bench: %s\n", err.msg);
        return 1;
    }
    int r = b == B_EXCHANGE    ? bench_exchange(&a, &t, &err)
            : b == B_SYNC      ? bench_sync(&a, &t, &err)
            : b == B_STREAM    ? bench_stream(&a, &t, &err)
            : b == B_ALLREDUCE ? bench_allreduce(&a, &t, &err)
                               : bench_engine(&a, (int)steps, cli_value(&opts[O_TRACE], NULL), &t, &err);
    if (r) {
        fprintf(stderr, "ipusim bench: %s\n", err.msg);
        return 1;
    }
    if (out) {
        cJSON *j = bench_to_json(&t);
        cJSON_AddStringToObject(j, "arch", a.name);
        cJSON *sets = cJSON_AddArrayToObject(j, "set");
        for (int k = 0; k < opts[O_SET].count; k++)
            cJSON_AddItemToArray(sets, cJSON_CreateString(opts[O_SET].values[k]));
        if (opts[O_ARCH_FILE].count)
            cJSON_AddStringToObject(j, "arch_file", cli_value(&opts[O_ARCH_FILE], ""));
        cJSON_AddItemToArray(out, j);
        return 0;
    }
    /* echo the resolved config source so the table can be reproduced */
    printf("arch: %s (%u chips)", a.name, a.chips);
    if (opts[O_ARCH_FILE].count)
        printf(" --arch-file %s", cli_value(&opts[O_ARCH_FILE], ""));
    for (int k = 0; k < opts[O_SET].count; k++)
        printf(" --set %s", opts[O_SET].values[k]);
    printf("\n");
    bench_print(stdout, &t);
    return 0;
}

/* Built-ins first..last (argv[0] is the benchmark's name), stopping at the first that fails; with --json one
 * array of their tables. */
static int builtin_main(int argc, char **argv, Builtin first, Builtin last)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, bench_opts, sizeof opts);
    const char *pos[1];
    int npos;
    if (cli_parse("bench", argc, argv, opts, O_COUNT, pos, 0, &npos))
        return 2;
    if (opts[O_HELP].count) {
        usage(stdout, opts);
        return 0;
    }
    long steps;
    if (cli_long("bench", "supersteps", cli_value(&opts[O_SUPERSTEPS], "1000"), 1, 100000000, &steps))
        return 2;
    cJSON *out = opts[O_JSON].count ? cJSON_CreateArray() : NULL;
    int rc = 0;
    for (Builtin b = first; b <= last && !rc; b++)
        rc = run_builtin(b, opts, steps, out);
    if (out) {
        if (!rc) {
            char *s = cJSON_Print(out);
            puts(s);
            cJSON_free(s);
        }
        cJSON_Delete(out);
    }
    return rc;
}

static int bench_exchange_main(int argc, char **argv) { return builtin_main(argc, argv, B_EXCHANGE, B_EXCHANGE); }
static int bench_sync_main(int argc, char **argv) { return builtin_main(argc, argv, B_SYNC, B_SYNC); }
static int bench_stream_main(int argc, char **argv) { return builtin_main(argc, argv, B_STREAM, B_STREAM); }
static int bench_allreduce_main(int argc, char **argv) { return builtin_main(argc, argv, B_ALLREDUCE, B_ALLREDUCE); }
static int bench_engine_main(int argc, char **argv) { return builtin_main(argc, argv, B_ENGINE, B_ENGINE); }
static int bench_all_main(int argc, char **argv) { return builtin_main(argc, argv, 0, B_COUNT - 1); }

static const BenchCommand benchmarks[] = {
    {"exchange", bench_exchange_main, "on-chip exchange, tile to next tile: one pair and every tile at once", 1},
    {"sync", bench_sync_main, "BSP sync on one chip and across all chips", 1},
    {"stream", bench_stream_main, "streaming memory to tiles: bandwidth per chip and per machine", 1},
    {"allreduce", bench_allreduce_main, "fp16 sum all-reduce, ring over IPU-Links", 1},
    {"engine", bench_engine_main, "engine speed in timing mode (--supersteps, --trace)", 1},
    {"all", bench_all_main, "the five above, one after another", 1},
    {"amp", cli_bench_amp, "AMP matmul throughput of a whole chip, beside the published Bow figures", 0},
    {"matmul", cli_bench_matmul, "whole-chip fp16 matmuls as the lowering plans and builds them", 0},
    {"forward", cli_bench_forward, "host speed of the fp32 reference forward (ms/token, peak memory)", 0},
    {"gptj", cli_bench_gptj, "host wall time of lowering and simulating GPT-J", 0},
    {"functional", cli_bench_functional, "host speed of functional GPT-J decode steps", 0},
    {"sweep", cli_bench_sweep, "points per second of ipusim sweep", 0},
    {NULL, NULL, NULL, 0},
};

static const BenchCommand *find_benchmark(const char *name)
{
    for (const BenchCommand *c = benchmarks; c->name; c++)
        if (!strcmp(name, c->name))
            return c;
    return NULL;
}

static void usage(FILE *f, const CliOpt *opts)
{
    fprintf(f, "usage: ipusim bench BENCHMARK [options]   (ipusim bench BENCHMARK --help for its options)\n\n"
               "benchmarks:\n");
    for (const BenchCommand *c = benchmarks; c->name; c++)
        fprintf(f, "  %-11s %s\n", c->name, c->summary);
    fprintf(f, "\noptions of");
    const char *sep = " ";
    for (const BenchCommand *c = benchmarks; c->name; c++)
        if (c->shared_opts) {
            fprintf(f, "%s%s", sep, c->name);
            sep = ", ";
        }
    fprintf(f, " (the others take their own):\n");
    cli_print_options(f, opts, O_COUNT);
}

/* `ipusim bench [options] NAME [options]`: the built-in options may come before the name; the benchmark then
 * runs with its name first and the rest in their order. */
static int options_first(int argc, char **argv)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, bench_opts, sizeof opts);
    const char *pos[1];
    int npos;
    if (cli_parse("bench", argc, argv, opts, O_COUNT, pos, 1, &npos))
        return 2;
    if (opts[O_HELP].count || npos != 1) {
        usage(opts[O_HELP].count ? stdout : stderr, opts);
        return opts[O_HELP].count ? 0 : 2;
    }
    const BenchCommand *c = find_benchmark(pos[0]);
    if (!c) {
        fprintf(stderr, "ipusim bench: unknown benchmark '%s'\n", pos[0]);
        usage(stderr, opts);
        return 2;
    }
    if (!c->shared_opts) {
        fprintf(stderr, "ipusim bench: %s takes its own options, after its name (ipusim bench %s --help)\n", c->name,
                c->name);
        return 2;
    }
    char **args = malloc((size_t)argc * sizeof *args);
    if (!args) {
        fprintf(stderr, "ipusim bench: out of memory\n");
        return 1;
    }
    int n = 0;
    args[n++] = (char *)pos[0];
    for (int i = 1; i < argc; i++)
        if (argv[i] != pos[0])
            args[n++] = argv[i];
    int rc = c->run(n, args);
    free(args);
    return rc;
}

int cli_bench(int argc, char **argv)
{
    const BenchCommand *c = argc > 1 ? find_benchmark(argv[1]) : NULL;
    return c ? c->run(argc - 1, argv + 1) : options_first(argc, argv);
}
