/* stats.c - the counter table and its printing (see stats.h). */
#include "sim/stats.h"

#include <stddef.h>
#include <string.h>

const StatsField stats_fields[] = {
#define STATS_X(field, unit, doc) {#field, unit, doc, offsetof(Stats, field)},
    STATS_FIELDS(STATS_X)
#undef STATS_X
};
const size_t stats_field_count = sizeof stats_fields / sizeof stats_fields[0];

void stats_clear(Stats *s) { memset(s, 0, sizeof *s); }

void stats_print(FILE *f, const Stats *s, double clock_hz, const char *const *names, int ncat)
{
    for (size_t i = 0; i < stats_field_count; i++) {
        uint64_t v = *(const uint64_t *)((const char *)s + stats_fields[i].offset);
        fprintf(f, "%-22s %16llu %-8s", stats_fields[i].name, (unsigned long long)v, stats_fields[i].unit);
        if (!strcmp(stats_fields[i].unit, "cycles"))
            fprintf(f, " %12.3f us", (double)v / clock_hz * 1e6);
        fprintf(f, "  # %s\n", stats_fields[i].doc);
    }
    for (int c = 0; c < ncat && c < STATS_MAX_CATEGORIES; c++)
        if (s->category_cycles[c])
            fprintf(f, "category %-13s %16llu cycles   %12.3f us\n", names[c],
                    (unsigned long long)s->category_cycles[c], (double)s->category_cycles[c] / clock_hz * 1e6);
}
