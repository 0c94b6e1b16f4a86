/* cli_codelet.c - `ipusim codelet list|validate|bench`: the codelet
 * registry, bit-exact validation of the decompress variants against
 * decompress_q4_ref, and their cycles per weight on an arch; with
 * --format F (or the family decompress.F) the weight formats beyond q4g
 * (host/cli_codelet_wdec.c). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/decompress.h"
#include "codelets/decompress_validate.h"
#include "codelets/registry.h"
#include "codelets/gc_decompress.h"
#include "host/cli.h"
#include "host/cli_codelet_wdec.h"
#include "host/runcfg.h"
#include "sim/arch.h"

/* Weights one tile decompresses in the bench: 3 x 4096, so every power-of-
 * two group size up to 4096 and 6 workers divide it evenly (a block of a
 * GPT-J 4096-wide row). */
#define BENCH_TILE_WEIGHTS 12288u

static void usage(FILE *f)
{
    fprintf(f, "usage: ipusim codelet list\n"
               "       ipusim codelet validate decompress [--format F] [--variant V] [--seed S]\n"
               "       ipusim codelet bench decompress [--format F] [--arch NAME] [--set KEY=VALUE]... [--variant V]\n"
               "                                       [--group-size N] [--json]\n"
               "F: q4g (default), s4g, nf4g, nf4g+dq, i8 (i8g, i8c), fp8e4m3, fp8e5m2; a full spec such as\n"
               "nf4g:64+dq names its format\n");
}

/* The options of validate and bench, by name (copied before parsing: cli_parse fills count and values). */
enum { V_VARIANT, V_SEED, V_FORMAT, V_HELP, V_COUNT };
static const CliOpt validate_opts[V_COUNT] = {
    [V_VARIANT] = {"variant", 1, "validate one variant (default: all)", 0, {0}},
    [V_SEED] = {"seed", 1, "seed of the random tensors (default 1)", 0, {0}},
    [V_FORMAT] = {"format", 1, "weight format: q4g (default), s4g, nf4g, nf4g+dq, i8, fp8e4m3, fp8e5m2", 0, {0}},
    [V_HELP] = {"help", 0, "this help", 0, {0}},
};
enum { B_ARCH, B_SET, B_VARIANT, B_GROUP_SIZE, B_JSON, B_FORMAT, B_HELP, B_COUNT };
static const CliOpt bench_opts[B_COUNT] = {
    [B_ARCH] = {"arch", 1, "arch preset (default bow)", 0, {0}},
    [B_SET] = {"set", 1, "change one arch key, e.g. isa.nibunpack4.cycles=2 (repeatable)", 0, {0}},
    [B_VARIANT] = {"variant", 1, "bench one variant, or graphcore: Graphcore's pipeline (default: all)", 0, {0}},
    [B_GROUP_SIZE] = {"group-size", 1, "bench one group size (default: 4 8 16 32 64 128 256)", 0, {0}},
    [B_JSON] = {"json", 0, "print JSON instead of a table", 0, {0}},
    [B_FORMAT] = {"format", 1, "weight format: q4g (default), s4g, nf4g, nf4g+dq, i8, fp8e4m3, fp8e5m2", 0, {0}},
    [B_HELP] = {"help", 0, "this help", 0, {0}},
};

/* Parses a subcommand taking one codelet family name; opts[help] is --help.
 * Returns -1 to go on with *name set, else the exit status. */
static int parse_family(const char *cmd, int argc, char **argv, CliOpt *opts, int nopts, int help, const char **name)
{
    const char *pos[2];
    int npos;
    if (cli_parse(cmd, argc, argv, opts, nopts, pos, 2, &npos))
        return 2;
    if (opts[help].count) {
        usage(stdout);
        cli_print_options(stdout, opts, nopts);
        return 0;
    }
    if (npos != 1) {
        usage(stderr);
        return 2;
    }
    *name = pos[0];
    return -1;
}

/* --format F, or a family decompress.F: the weight format to validate or
 * bench (*wdec = 0: q4g, the decompress family). -1 on a bad name. */
static int pick_format(const char *family, const char *format, int *wdec, WdecFormat *f)
{
    IpuErr err = {{0}};
    int q4 = 1;
    *wdec = 0;
    if (!format && !strncmp(family, "decompress.", 11))
        format = family + 11;
    else if (format && strcmp(family, "decompress") != 0) {
        fprintf(stderr, "ipusim codelet: --format applies to the decompress family (got '%s')\n", family);
        return -1;
    }
    if (format && cli_wdec_format(format, &q4, f, &err)) {
        fprintf(stderr, "ipusim codelet: --format '%s': %s\n", format, err.msg);
        return -1;
    }
    *wdec = !q4;
    return 0;
}

static int cmd_list(void)
{
    for (size_t i = 0; i < codelet_family_count(); i++) {
        const CodeletFamily *f = codelet_family_at(i);
        printf("%s: %s\n", f->name, f->doc);
        for (size_t k = 0; k < f->variant_count; k++)
            printf("  %-12s %s%s (vertex %s)\n", f->variants[k].name, f->variants[k].doc, k ? "" : " [default]",
                   f->variants[k].vertex->name);
    }
    return 0;
}

/* The variants to run: one by name, or all of the family. */
static int pick_variants(const char *family, const char *variant, const CodeletFamily **f,
                         const CodeletVariant **first, size_t *count)
{
    IpuErr err = {{0}};
    *f = codelet_family_find(family, &err);
    if (!*f) {
        fprintf(stderr, "ipusim codelet: %s\n", err.msg);
        return -1;
    }
    if (strcmp((*f)->name, "decompress") != 0) {
        fprintf(stderr, "ipusim codelet: validate/bench support the decompress family only (got '%s')\n", family);
        return -1;
    }
    if (variant) {
        *first = codelet_variant_find(*f, variant, &err);
        if (!*first) {
            fprintf(stderr, "ipusim codelet: %s\n", err.msg);
            return -1;
        }
        *count = 1;
    } else {
        *first = (*f)->variants;
        *count = (*f)->variant_count;
    }
    return 0;
}

static void print_failures(const char *name, const DecompressQ4Validation *v)
{
    if (v->faulted)
        printf("  %s: model fault: %s\n", name, v->fault);
    for (uint32_t i = 0; i < v->reported; i++) {
        const DecompressQ4Mismatch *m = &v->first[i];
        printf("  %s: mismatch: word 0x%04x element %u (code %u) scale 0x%04x bias 0x%04x group %u: "
               "got 0x%04x want 0x%04x\n",
               name, m->word, m->element, (m->word >> (12 - 4 * m->element)) & 0xfu, m->scale, m->bias,
               m->group_size, m->got, m->want);
    }
}

static int cmd_validate(int argc, char **argv)
{
    CliOpt opts[V_COUNT];
    memcpy(opts, validate_opts, sizeof opts);
    const char *family;
    int st = parse_family("codelet validate", argc, argv, opts, V_COUNT, V_HELP, &family);
    if (st >= 0)
        return st;
    char *end;
    const char *seed_text = cli_value(&opts[V_SEED], "1");
    errno = 0;
    uint64_t seed = strtoull(seed_text, &end, 10);
    if (*end || !isdigit((unsigned char)seed_text[0]) || errno) { /* digits only: no hex, no sign */
        fprintf(stderr, "ipusim codelet validate: --seed '%s' is not a decimal integer\n", seed_text);
        return 2;
    }
    int wdec;
    WdecFormat wf;
    if (pick_format(family, cli_value(&opts[V_FORMAT], NULL), &wdec, &wf))
        return 2;
    if (wdec)
        return cli_wdec_validate(wf, cli_value(&opts[V_VARIANT], NULL), seed);
    const CodeletFamily *f;
    const CodeletVariant *vars;
    size_t nvar;
    if (pick_variants(family, cli_value(&opts[V_VARIANT], NULL), &f, &vars, &nvar))
        return 1;
    /* Validation is about results: the what-if instruction is switched on so
     * the nibunpack variant can be checked too. */
    IsaCosts isa;
    isa_costs_default(&isa);
    isa.nibunpack4_enabled = true;
    printf("validating %s against decompress_q4_ref: all 65536 words x %u scale/bias pairs, "
           "random tensors at group sizes 4..256 (step 4), seed %llu\n",
           f->name, decompress_q4_edge_pair_count, (unsigned long long)seed);
    int failed = 0;
    for (size_t k = 0; k < nvar; k++) {
        const CodeletVariant *cv = &vars[k];
        DecompressQ4Validation v;
        decompress_q4_validation_init(&v);
        for (uint32_t p = 0; p < decompress_q4_edge_pair_count; p++) {
            uint64_t before = v.mismatches;
            const DecompressQ4EdgePair *e = &decompress_q4_edge_pairs[p];
            if (decompress_q4_validate_exhaustive(cv->vertex, &isa, e->scale, e->bias, &v) && v.mismatches > before)
                printf("  %s: %llu mismatches with %s\n", cv->name, (unsigned long long)(v.mismatches - before), e->what);
        }
        for (uint32_t n = 4; n <= 256; n += 4) {
            uint32_t groups = 4096 / n + 3;
            decompress_q4_validate_random(cv->vertex, &isa, n, groups, seed * 1000003u + n, &v);
        }
        int ok = v.mismatches == 0 && !v.faulted;
        printf("%-12s %s  %llu weights checked, %llu mismatches\n", cv->name, ok ? "PASS" : "FAIL",
               (unsigned long long)v.checked, (unsigned long long)v.mismatches);
        if (!ok) {
            print_failures(cv->name, &v);
            failed = 1;
        }
    }
    return failed;
}

/* Graphcore's pipeline (codelets/gc_decompress.h) on the same tile block:
 * a tile's interval starts on the linear mapping's 16-weight grain, so a
 * group of more than 16 is cut at its edge (phase 16), a smaller one not. */
static void bench_gc_rows(const IpuArch *arch, const uint32_t *sizes, uint32_t nsizes, cJSON *rows)
{
    for (uint32_t s = 0; s < nsizes; s++) {
        uint32_t n = sizes[s], phase = n > 16 ? 16 : 0;
        double weights = BENCH_TILE_WEIGHTS;
        GcBcastKind kind;
        int use1d;
        uint64_t tc = gc_pipeline_tile_cycles(&arch->isa, n, phase, BENCH_TILE_WEIGHTS, &kind, &use1d);
        /* three compute sets: unpack, multiply, add */
        uint64_t tl = tc + 3 * ((uint64_t)arch->supervisor_launch_cycles + arch->vertex_launch_cycles);
        const char *vx = kind == GC_SCALAR2D && use1d ? gc_bcast_kind_names[GC_SCALAR1D] : gc_bcast_kind_names[kind];
        if (rows) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "variant", "graphcore");
            cJSON_AddStringToObject(r, "broadcast_vertex", vx);
            cJSON_AddNumberToObject(r, "group_size", n);
            cli_codelet_cycles_json(r, weights, UINT64_MAX, tc, tl, arch->clock_hz);
            cJSON_AddItemToArray(rows, r);
        } else {
            printf("%-12s %6u %13s %11.3f %12llu %13.3f %9.3f  %s\n", "graphcore", n, "-", tc / weights,
                   (unsigned long long)tc, tl / weights, tl / arch->clock_hz * 1e6, vx);
        }
    }
    if (!rows)
        printf("\ngraphcore: Graphcore's popxl pipeline: unpack vertex (ISA model), then x scale and + bias as\n"
               "popops' broadcast vertices priced by popops' estimators (vertex named), 3 compute sets;\n"
               "without the exchange of the scales and biases to the tile (docs/validation.md)\n");
}

/* --group-size N: one size, checked as the decompress codelets check it; 0, or -1 after the message. */
static int parse_group_size(const char *gs, uint32_t *sizes, uint32_t *nsizes)
{
    IpuErr err = {{0}};
    char *end;
    unsigned long n = strtoul(gs, &end, 10);
    DecompressQ4Args shape = {NULL, NULL, NULL, NULL, 0, (uint32_t)n};
    int digits = isdigit((unsigned char)gs[0]);
    if (*end || !digits || n > UINT32_MAX || decompress_q4_check(&shape, n ? n : 1, &err)) {
        fprintf(stderr, "ipusim codelet bench: --group-size '%s': %s\n", gs, *end || !digits ? "not an integer" : err.msg);
        return -1;
    }
    sizes[0] = (uint32_t)n;
    *nsizes = 1;
    return 0;
}

/* One row per (variant, group size) into rows (JSON) or as a table line; 1 when a what-if row was benched. */
static int bench_variant_rows(const IpuArch *arch, const CodeletVariant *vars, size_t nvar, const uint32_t *sizes,
                              uint32_t nsizes, cJSON *rows)
{
    uint32_t workers = arch->workers_per_tile;
    int any_whatif = 0;
    for (size_t k = 0; k < nvar; k++) {
        const CodeletVariant *cv = &vars[k];
        IsaCosts isa = arch->isa;
        /* nibunpack is a what-if: benched with the instruction switched on */
        int whatif = cv->vertex == &decompress_q4_nibunpack_vertex && !isa.nibunpack4_enabled;
        if (whatif)
            isa.nibunpack4_enabled = true;
        for (uint32_t s = 0; s < nsizes; s++) {
            uint32_t n = sizes[s], groups = (BENCH_TILE_WEIGHTS + n - 1) / n;
            double weights = (double)groups * n;
            uint64_t wc = decompress_q4_worker_cycles(cv->vertex, &isa, n, groups);
            uint64_t tc = decompress_q4_tile_cycles(cv->vertex, &isa, n, groups, workers);
            IPU_ASSERT(wc != UINT64_MAX && tc != UINT64_MAX);
            /* as the engine times one vertex per worker: + supervisor and vertex launch */
            uint64_t tl = tc + arch->supervisor_launch_cycles + arch->vertex_launch_cycles;
            any_whatif |= whatif;
            if (rows) {
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "variant", cv->name);
                cJSON_AddBoolToObject(r, "whatif", whatif);
                cJSON_AddNumberToObject(r, "group_size", n);
                cli_codelet_cycles_json(r, weights, wc, tc, tl, arch->clock_hz);
                cJSON_AddItemToArray(rows, r);
            } else {
                char name[24];
                snprintf(name, sizeof name, "%s%s", cv->name, whatif ? "*" : "");
                printf("%-12s %6u %13.3f %11.3f %12llu %13.3f %9.3f\n", name, n, wc / weights, tc / weights,
                       (unsigned long long)tc, tl / weights, tl / arch->clock_hz * 1e6);
            }
        }
    }
    return any_whatif;
}

static int cmd_bench(int argc, char **argv)
{
    CliOpt opts[B_COUNT];
    memcpy(opts, bench_opts, sizeof opts);
    const char *family;
    int st = parse_family("codelet bench", argc, argv, opts, B_COUNT, B_HELP, &family);
    if (st >= 0)
        return st;
    IpuErr err = {{0}};
    IpuArch arch;
    if (cli_arch_resolve(cli_value(&opts[B_ARCH], NULL), "bow", NULL, &opts[B_SET], &arch, &err)) {
        fprintf(stderr, "ipusim codelet bench: %s\n", err.msg);
        return 1;
    }
    uint32_t sizes[8] = {4, 8, 16, 32, 64, 128, 256}, nsizes = 7;
    if (opts[B_GROUP_SIZE].count && parse_group_size(cli_value(&opts[B_GROUP_SIZE], ""), sizes, &nsizes))
        return 2;
    int wdec;
    WdecFormat wf;
    if (pick_format(family, cli_value(&opts[B_FORMAT], NULL), &wdec, &wf))
        return 2;
    int json = opts[B_JSON].count > 0;
    const char *variant = cli_value(&opts[B_VARIANT], NULL);
    if (wdec)
        return cli_wdec_bench(&arch, wf, variant, sizes, nsizes, json);
    const CodeletFamily *f;
    const CodeletVariant *vars;
    size_t nvar;
    int gc_only = variant && !strcmp(variant, "graphcore");
    if (pick_variants(family, gc_only ? NULL : variant, &f, &vars, &nvar))
        return 1;
    if (gc_only)
        nvar = 0;
    uint32_t workers = arch.workers_per_tile;
    cJSON *root = json ? cJSON_CreateObject() : NULL, *rows = NULL;
    if (json) {
        cJSON_AddStringToObject(root, "family", f->name);
        cJSON_AddStringToObject(root, "arch", arch.name);
        cJSON_AddNumberToObject(root, "clock_hz", arch.clock_hz);
        cJSON_AddNumberToObject(root, "workers_per_tile", workers);
        cJSON_AddNumberToObject(root, "tile_weights", BENCH_TILE_WEIGHTS);
        rows = cJSON_AddArrayToObject(root, "rows");
    } else {
        printf("decompress cycles per weight, arch %s (%.3g GHz, %u workers), a tile block of %u weights\n"
               "worker: one worker decompresses the whole block; tile: the block split over %u workers,\n"
               "tile cycles = longest worker x %u (barrel); +launch adds supervisor (%u) and vertex (%u) launch;\n"
               "tile us includes the launches\n\n",
               arch.name, arch.clock_hz / 1e9, workers, BENCH_TILE_WEIGHTS, workers, workers,
               arch.supervisor_launch_cycles, arch.vertex_launch_cycles);
        printf("%-12s %6s %13s %11s %12s %13s %9s\n", "variant", "group", "worker cyc/w", "tile cyc/w", "tile cycles",
               "+launch cyc/w", "tile us");
    }
    int any_whatif = bench_variant_rows(&arch, vars, nvar, sizes, nsizes, rows);
    if (!variant || gc_only)
        bench_gc_rows(&arch, sizes, nsizes, rows);
    if (json)
        return cli_print_json(root);
    if (any_whatif)
        printf("\n* what-if: isa.nibunpack4.enabled switched on for this row\n");
    return 0;
}

int cli_codelet(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "list"))
        return argc == 2 ? cmd_list() : (usage(stderr), 2);
    if (!strcmp(argv[1], "validate"))
        return cmd_validate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench"))
        return cmd_bench(argc - 1, argv + 1);
    fprintf(stderr, "ipusim codelet: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
