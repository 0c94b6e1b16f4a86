/* cli_codelet.c - `ipusim codelet list|validate`: the codelet registry and
 * bit-exact validation of the decompress variants against decompress_q4_ref. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/decompress.h"
#include "codelets/decompress_validate.h"
#include "codelets/registry.h"
#include "host/cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: ipusim codelet list\n"
               "       ipusim codelet validate decompress [--variant V] [--seed S]\n");
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
    CliOpt opts[] = {
        {"variant", 1, "validate one variant (default: all)", 0, {0}},
        {"seed", 1, "seed of the random tensors (default 1)", 0, {0}},
        {"help", 0, "this help", 0, {0}},
    };
    const int nopts = sizeof opts / sizeof opts[0];
    const char *pos[2];
    int npos;
    if (cli_parse("codelet validate", argc, argv, opts, nopts, pos, 2, &npos))
        return 2;
    if (opts[2].count) {
        usage(stdout);
        cli_print_options(stdout, opts, nopts);
        return 0;
    }
    if (npos != 1) {
        usage(stderr);
        return 2;
    }
    char *end;
    const char *seed_text = cli_value(&opts[1], "1");
    uint64_t seed = strtoull(seed_text, &end, 0);
    if (*end || !*seed_text) {
        fprintf(stderr, "ipusim codelet validate: --seed '%s' is not an integer\n", seed_text);
        return 1;
    }
    const CodeletFamily *f;
    const CodeletVariant *vars;
    size_t nvar;
    if (pick_variants(pos[0], cli_value(&opts[0], NULL), &f, &vars, &nvar))
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
    fprintf(stderr, "ipusim codelet: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
