/* cli_codelet_wdec.c - `ipusim codelet validate|bench decompress --format F`
 * for the weight formats beyond q4g (codelets/wdec.h): bit-exact checks
 * against wdec_ref and tile cycles per weight. cli_codelet.c parses the
 * command line and calls these. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/wdec.h"
#include "codelets/wdec_validate.h"
#include "host/cli.h"
#include "host/cli_codelet_wdec.h"
#include "models/quant.h"

/* Weights one tile decompresses in the bench, as cli_codelet.c's. */
#define BENCH_TILE_WEIGHTS 12288u
/* nf4g+dq in the bench: a second-level pair per row segment of up to this
 * many weights (a linear's K block on a pod4 decode is 256..1024 wide). */
#define BENCH_DQ_SEGMENT 1024u

void cli_codelet_cycles_json(cJSON *r, double weights, uint64_t wc, uint64_t tc, uint64_t tl, double clock_hz)
{
    cJSON_AddNumberToObject(r, "weights", weights);
    if (wc != UINT64_MAX) {
        cJSON_AddNumberToObject(r, "worker_cycles", (double)wc);
        cJSON_AddNumberToObject(r, "worker_cycles_per_weight", wc / weights);
    }
    cJSON_AddNumberToObject(r, "tile_cycles", (double)tc);
    cJSON_AddNumberToObject(r, "tile_cycles_per_weight", tc / weights);
    cJSON_AddNumberToObject(r, "tile_cycles_with_launch", (double)tl);
    cJSON_AddNumberToObject(r, "tile_cycles_with_launch_per_weight", tl / weights);
    cJSON_AddNumberToObject(r, "tile_s_with_launch", tl / clock_hz);
}

int cli_wdec_format(const char *text, int *is_q4g, WdecFormat *f, IpuErr *err)
{
    QuantSpec s;
    *is_q4g = 0;
    if (!strcmp(text, "i8")) { /* the codelet's own name: i8g and i8c share it */
        *f = WDEC_I8;
        return 0;
    }
    if (quant_spec_parse(text, &s, err))
        return -1;
    if (s.fmt == &quant_format_q4g) {
        *is_q4g = 1;
        return 0;
    }
    return wdec_format_find(s.fmt->name, s.dq, f, err);
}

static void print_failures(const char *name, const WdecValidation *v)
{
    if (v->faulted)
        printf("  %s: model fault: %s\n", name, v->fault);
    for (uint32_t i = 0; i < v->reported; i++) {
        const WdecMismatch *m = &v->first[i];
        if (m->step != 0 || m->mean != 0 || m->qscale)
            printf("  %s: mismatch: group %u element %u code 0x%x scale byte %u step %.9g mean %.9g group %u: "
                   "got 0x%04x want 0x%04x\n",
                   name, m->group, m->element, m->code, m->qscale, (double)m->step, (double)m->mean, m->group_size,
                   m->got, m->want);
        else
            printf("  %s: mismatch: group %u element %u code 0x%x scale 0x%04x group %u: got 0x%04x want 0x%04x\n",
                   name, m->group, m->element, m->code, m->scale, m->group_size, m->got, m->want);
    }
}

/* The variants of f to run: one by name (NULL: all). */
static const CodeletVariant *pick(WdecFormat f, const char *variant, size_t *count)
{
    const CodeletFamily *fam = wdec_family(f);
    IpuErr err = {{0}};
    *count = fam->variant_count;
    if (!variant)
        return fam->variants;
    const CodeletVariant *v = codelet_variant_find(fam, variant, &err);
    if (!v)
        fprintf(stderr, "ipusim codelet: %s\n", err.msg);
    *count = 1;
    return v;
}

int cli_wdec_validate(WdecFormat f, const char *variant, uint64_t seed)
{
    size_t nvar;
    const CodeletVariant *vars = pick(f, variant, &nvar);
    if (!vars)
        return 1;
    uint32_t nedge;
    wdec_edge_scales(f, &nedge);
    if (f == WDEC_NF4DQ)
        nedge = wdec_edge_dq_count;
    IsaCosts isa;
    isa_costs_default(&isa);
    printf("validating decompress %s against wdec_ref: every code (%s) x %u %s, random tensors at group sizes "
           "4..256 (step 4), seed %llu\n",
           wdec_format_names[f], wdec_code_bits(f) == 4 ? "all 65536 words" : "each byte in each ld32 position",
           nedge, f == WDEC_NF4DQ ? "{step, mean} pairs with all 256 scale bytes" : "edge scales",
           (unsigned long long)seed);
    int failed = 0;
    for (size_t k = 0; k < nvar; k++) {
        WdecValidation v;
        wdec_validation_init(&v);
        for (uint32_t e = 0; e < nedge; e++)
            wdec_validate_every_code(vars[k].vertex, f, &isa, e, &v);
        for (uint32_t n = 4; n <= 256; n += 4)
            wdec_validate_random(vars[k].vertex, f, &isa, n, 4096 / n + 3, seed * 1000003u + n, &v);
        int ok = v.mismatches == 0 && !v.faulted;
        printf("%-12s %s  %llu weights checked, %llu mismatches\n", vars[k].name, ok ? "PASS" : "FAIL",
               (unsigned long long)v.checked, (unsigned long long)v.mismatches);
        if (!ok) {
            print_failures(vars[k].name, &v);
            failed = 1;
        }
    }
    return failed;
}

/* nf4g+dq: groups per second-level segment for the bench's tile block. */
static uint32_t bench_seg_groups(WdecFormat f, uint32_t n, uint32_t groups, uint32_t workers)
{
    if (f != WDEC_NF4DQ)
        return 0;
    uint32_t best = 1;
    for (uint32_t d = 1; d * n <= BENCH_DQ_SEGMENT && d <= groups / workers; d++)
        if (groups % (d * workers) == 0)
            best = d;
    return best;
}

int cli_wdec_bench(const IpuArch *arch, WdecFormat f, const char *variant, const uint32_t *sizes, uint32_t nsizes,
                   int json)
{
    size_t nvar;
    const CodeletVariant *vars = pick(f, variant, &nvar);
    if (!vars)
        return 1;
    uint32_t workers = arch->workers_per_tile;
    cJSON *root = json ? cJSON_CreateObject() : NULL, *rows = NULL;
    if (json) {
        cJSON_AddStringToObject(root, "family", wdec_family(f)->name);
        cJSON_AddStringToObject(root, "format", wdec_format_names[f]);
        cJSON_AddStringToObject(root, "arch", arch->name);
        cJSON_AddNumberToObject(root, "clock_hz", arch->clock_hz);
        cJSON_AddNumberToObject(root, "workers_per_tile", workers);
        cJSON_AddNumberToObject(root, "tile_weights", BENCH_TILE_WEIGHTS);
        rows = cJSON_AddArrayToObject(root, "rows");
    } else {
        printf("decompress %s cycles per weight, arch %s (%.3g GHz, %u workers), a tile block of %u weights\n"
               "group: weights per scale (i8c, fp8: a row segment); nf4g+dq: one {step, mean} per segment of up\n"
               "to %u weights; tile cycles = longest worker x %u; +launch adds supervisor (%u) and vertex (%u)\n\n",
               wdec_format_names[f], arch->name, arch->clock_hz / 1e9, workers, BENCH_TILE_WEIGHTS, BENCH_DQ_SEGMENT,
               workers, arch->supervisor_launch_cycles, arch->vertex_launch_cycles);
        printf("%-12s %6s %5s %13s %11s %12s %13s %9s\n", "variant", "group", "seg", "worker cyc/w", "tile cyc/w",
               "tile cycles", "+launch cyc/w", "tile us");
    }
    for (size_t k = 0; k < nvar; k++)
        for (uint32_t s = 0; s < nsizes; s++) {
            uint32_t n = sizes[s], groups = (BENCH_TILE_WEIGHTS + n - 1) / n, seg = bench_seg_groups(f, n, groups, workers);
            double weights = (double)groups * n;
            uint64_t wc = wdec_worker_cycles(vars[k].vertex, &arch->isa, n, groups, seg);
            uint64_t tc = wdec_tile_cycles(vars[k].vertex, f, &arch->isa, n, groups, seg, workers);
            IPU_ASSERT(wc != UINT64_MAX && tc != UINT64_MAX);
            uint64_t tl = tc + arch->supervisor_launch_cycles + arch->vertex_launch_cycles;
            if (json) {
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "variant", vars[k].name);
                cJSON_AddNumberToObject(r, "group_size", n);
                cJSON_AddNumberToObject(r, "seg_groups", seg);
                cli_codelet_cycles_json(r, weights, wc, tc, tl, arch->clock_hz);
                cJSON_AddItemToArray(rows, r);
            } else {
                printf("%-12s %6u %5u %13.3f %11.3f %12llu %13.3f %9.3f\n", vars[k].name, n, seg, wc / weights,
                       tc / weights, (unsigned long long)tc, tl / weights, tl / arch->clock_hz * 1e6);
            }
        }
    return json ? cli_print_json(root) : 0;
}
