/* cli_bench.c - `ipusim bench exchange|sync|stream|allreduce|engine|all`; amp, matmul, forward, gptj and
 * functional are dispatched to their own files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/bench.h"
#include "host/cli.h"

int cli_bench(int argc, char **argv)
{
    CliOpt opts[] = {
        {"arch", 1, "arch preset (default: gc200 exchange, pod16 sync/allreduce/engine, pod4 stream)", 0, {0}},
        {"arch-file", 1, "JSON arch file applied after the preset", 0, {0}},
        {"set", 1, "key=value arch setting; repeatable", 0, {0}},
        {"json", 0, "print JSON instead of markdown tables", 0, {0}},
        {"supersteps", 1, "engine: supersteps to simulate (default 1000)", 0, {0}},
        {"trace", 1, "engine: write a Perfetto trace of the run to this file", 0, {0}},
        {"help", 0, "this help", 0, {0}},
    };
    int nopts = (int)(sizeof opts / sizeof opts[0]);
    if (argc > 1 && !strcmp(argv[1], "amp")) /* AMP matmul throughput: host/cli_bench_amp.c */
        return cli_bench_amp(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "matmul")) /* whole-chip matmuls by the lowering: host/cli_bench_matmul.c */
        return cli_bench_matmul(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "forward")) /* fp32 reference forward on the host: host/cli_bench_forward.c */
        return cli_bench_forward(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "gptj")) /* wall time of the GPT-J simulation: host/cli_bench_gptj.c */
        return cli_bench_gptj(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "functional")) /* functional GPT-J speed: host/cli_bench_functional.c */
        return cli_bench_functional(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "sweep")) /* points per second of ipusim sweep: host/cli_bench_sweep.c */
        return cli_bench_sweep(argc - 1, argv + 1);
    const char *pos[1];
    int npos;
    if (cli_parse("bench", argc, argv, opts, nopts, pos, 1, &npos))
        return 2;
    static const char *names[] = {"exchange", "sync", "stream", "allreduce", "engine"};
    static const char *defaults[] = {"gc200", "pod16", "pod4", "pod16", "pod16"};
    if (opts[6].count || npos != 1) {
        FILE *f = opts[6].count ? stdout : stderr;
        fprintf(f, "usage: ipusim bench exchange|sync|stream|allreduce|engine|all [options]\n"
                   "       ipusim bench amp [options] (see ipusim bench amp --help)\n"
                   "       ipusim bench matmul [options] (whole-chip matmuls by the lowering, see --help)\n"
                   "       ipusim bench forward [options] (see ipusim bench forward --help)\n"
                   "       ipusim bench gptj [--scenario FILE] (wall time of lowering and simulating GPT-J)\n"
                   "       ipusim bench functional [options] (functional GPT-J decode speed, see --help)\n"
                   "       ipusim bench sweep [options] (points per second of ipusim sweep, see --help)\n");
        cli_print_options(f, opts, nopts);
        return opts[6].count ? 0 : 2;
    }
    int which = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(pos[0], names[i]))
            which = i;
    if (which < 0 && strcmp(pos[0], "all")) {
        fprintf(stderr, "ipusim bench: unknown benchmark '%s' (exchange, sync, stream, allreduce, engine, all)\n",
                pos[0]);
        return 2;
    }
    long steps;
    if (cli_long("bench", "supersteps", cli_value(&opts[4], "1000"), 1, 100000000, &steps))
        return 2;
    cJSON *out = opts[3].count ? cJSON_CreateArray() : NULL;
    int rc = 0;
    for (int i = 0; i < 5 && !rc; i++) {
        if (which >= 0 && i != which)
            continue;
        IpuArch a;
        IpuErr err;
        BenchTable t;
        if (cli_arch_resolve(cli_value(&opts[0], NULL), defaults[i], cli_value(&opts[1], NULL), &opts[2], &a, &err)) {
            fprintf(stderr, "ipusim bench: %s\n", err.msg);
            rc = 1;
            break;
        }
        int r = i == 0   ? bench_exchange(&a, &t, &err)
                : i == 1 ? bench_sync(&a, &t, &err)
                : i == 2 ? bench_stream(&a, &t, &err)
                : i == 3 ? bench_allreduce(&a, &t, &err)
                         : bench_engine(&a, (int)steps, cli_value(&opts[5], NULL), &t, &err);
        if (r) {
            fprintf(stderr, "ipusim bench: %s\n", err.msg);
            rc = 1;
            break;
        }
        if (out) {
            cJSON *j = bench_to_json(&t);
            cJSON_AddStringToObject(j, "arch", a.name);
            cJSON *sets = cJSON_AddArrayToObject(j, "set");
            for (int k = 0; k < opts[2].count; k++)
                cJSON_AddItemToArray(sets, cJSON_CreateString(opts[2].values[k]));
            if (opts[1].count)
                cJSON_AddStringToObject(j, "arch_file", cli_value(&opts[1], ""));
            cJSON_AddItemToArray(out, j);
        } else {
            /* echo the resolved config source so the table can be reproduced */
            printf("arch: %s (%u chips)", a.name, a.chips);
            if (opts[1].count)
                printf(" --arch-file %s", cli_value(&opts[1], ""));
            for (int k = 0; k < opts[2].count; k++)
                printf(" --set %s", opts[2].values[k]);
            printf("\n");
            bench_print(stdout, &t);
        }
    }
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
