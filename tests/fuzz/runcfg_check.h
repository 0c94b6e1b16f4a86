/* runcfg_check.h - the round trip of an accepted run configuration, shared
 * by fuzz_scenario.c and fuzz_set.c: every arch value is a decimal number or
 * a word; printed as a scenario (runcfg_print), loaded into a fresh config and
 * printed again, the text is the same. */
#ifndef IPUSIM_FUZZ_RUNCFG_CHECK_H
#define IPUSIM_FUZZ_RUNCFG_CHECK_H

#include "host/cli.h"
#include "host/runcfg.h"
#include "tests/fuzz/fuzz.h"

static inline void runcfg_check_round_trip(const RunConfig *rc)
{
    /* numbers are decimal: an arch value is a decimal number or a word (a bool) */
    for (int i = 0; i < rc->narch_sets; i++) {
        const char *v = rc->arch_sets[i].value;
        size_t letters = 0;
        while (v[letters] && ((v[letters] | 32) >= 'a' && (v[letters] | 32) <= 'z'))
            letters++;
        FUZZ_CHECK((v[0] && !v[letters]) || cli_is_decimal(v), "arch.%s = '%s' accepted", rc->arch_sets[i].key, v);
    }
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    FILE *f = open_memstream(&a, &alen);
    runcfg_print(f, rc);
    fclose(f);
    const char *p = fuzz_write("printed.conf", a, alen);
    RunConfig *back = malloc(sizeof *back);
    FUZZ_CHECK(back != NULL, "out of memory");
    runcfg_init(back);
    IpuErr e = {{0}};
    FUZZ_CHECK(runcfg_load_file(back, p, &e) == 0, "the printed config does not load: %s\n%s", e.msg, a);
    f = open_memstream(&b, &blen);
    runcfg_print(f, back);
    fclose(f);
    FUZZ_CHECK(alen == blen && !memcmp(a, b, alen), "the printed config reads back differently:\n%s---\n%s", a, b);
    FUZZ_CHECK(!strcmp(rc->prompt, back->prompt) && !strcmp(rc->out, back->out) &&
                   !strcmp(rc->keep_fp16, back->keep_fp16) && !strcmp(rc->model, back->model),
               "text keys differ after the round trip");
    free(back);
    free(a);
    free(b);
}

#endif
