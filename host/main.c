/* main.c - the ipusim program: dispatches to a subcommand (host/cli_*.c). */
#include <stdio.h>
#include <string.h>

#include "host/cli.h"

static const CliCommand commands[] = {
    {"tokenize", cli_tokenize, "GPT-2 BPE: text to token ids, or --decode ids to text"},
    {"model", cli_model, "GPT-J models: synth (synthetic checkpoint), info (sizes), eval (fp16/int4 accuracy)"},
    {"bench", cli_bench, "host benchmarks: forward (fp32 reference forward, ms/token)"},
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
