/* main.c - the ipusim program: dispatches to a subcommand (host/cli_*.c). */
#include <stdio.h>
#include <string.h>

#include "host/cli.h"
#ifdef IPUSIM_HAVE_MPI
#include "host/sweep_mpi.h"
#endif

static const CliCommand commands[] = {
    {"compare", cli_compare, "GPT-J 6B on pod4, fp16 against q4g:64: token times, MBU, breakdown, plots into out/"},
    {"run", cli_run, "run GPT-J as configured (--scenario FILE, --set key=value): report per weight format"},
    {"arch", cli_arch, "list the arch presets; show one with every key, unit and source"},
    {"bench", cli_bench, "benchmarks: exchange, sync, stream, allreduce, engine, amp, matmul, forward, gptj, functional, sweep (ipusim bench --help)"},
#ifdef IPUSIM_HAVE_MPI
    {"sweep", cli_sweep_mpi, "run GPT-J over a grid of keys (--vary): results.csv/.jsonl, plots; splits over MPI ranks"},
#else
    {"sweep", cli_sweep, "run GPT-J over a grid of keys (--vary): results.csv/.jsonl, plots"},
#endif
    {"calibrate", cli_calibrate, "fit one arch key (streaming bandwidth) to a measured token time by bisection"},
    {"codelet", cli_codelet, "list codelet variants; validate or bench the decompress family"},
    {"model", cli_model, "GPT-J models: synth (synthetic checkpoint), info (sizes), check, eval (accuracy of weight formats)"},
    {"tradeoff", cli_tradeoff, "token time (timing mode) against accuracy (model eval) per format: table, tradeoff.png"},
    {"tokenize", cli_tokenize, "GPT-2 BPE: text to token ids, or --decode ids to text"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ipusim COMMAND [ARGS]   (ipusim COMMAND --help for its options)\n\ncommands:\n");
    for (const CliCommand *c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const CliCommand *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "ipusim: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
