/* cli.c - the option parser shared by the subcommands (see cli.h). */
#include "host/cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int cli_parse(const char *cmd, int argc, char **argv, CliOpt *opts, int nopts,
              const char **positional, int max_positional, int *npositional)
{
    *npositional = 0;
    for (int i = 0; i < nopts; i++) {
        IPU_ASSERT(opts[i].name); /* an index left out of a command's designated table */
        opts[i].count = 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (*npositional >= max_positional) {
                fprintf(stderr, "ipusim %s: unexpected argument '%s'\n", cmd, a);
                return -1;
            }
            positional[(*npositional)++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        CliOpt *o = NULL;
        for (int j = 0; j < nopts; j++)
            if (strlen(opts[j].name) == len && !strncmp(opts[j].name, name, len))
                o = &opts[j];
        if (!o) {
            fprintf(stderr, "ipusim %s: unknown option '--%.*s' (see ipusim %s --help)\n", cmd, (int)len, name, cmd);
            return -1;
        }
        const char *value = NULL;
        if (o->takes_value) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else {
                fprintf(stderr, "ipusim %s: option '--%s' needs a value\n", cmd, o->name);
                return -1;
            }
        } else if (eq) {
            fprintf(stderr, "ipusim %s: option '--%s' takes no value\n", cmd, o->name);
            return -1;
        }
        if (o->count >= CLI_MAX_VALUES) {
            fprintf(stderr, "ipusim %s: option '--%s' given more than %d times\n", cmd, o->name, CLI_MAX_VALUES);
            return -1;
        }
        o->values[o->count++] = value;
    }
    return 0;
}

const char *cli_value(const CliOpt *o, const char *def)
{
    return o->count ? o->values[o->count - 1] : def;
}

void cli_print_options(FILE *f, const CliOpt *opts, int nopts)
{
    for (int i = 0; i < nopts; i++)
        fprintf(f, "  --%s%s\n      %s\n", opts[i].name, opts[i].takes_value ? " VALUE" : "", opts[i].help);
}

double cli_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double cli_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

int cli_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi || !(isdigit((unsigned char)s[0]) || s[0] == '-')) {
        fprintf(stderr, "ipusim %s: --%s '%s' must be an integer in %ld..%ld\n", cmd, opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_is_decimal(const char *s)
{
    const char *p = s + (*s == '+' || *s == '-');
    size_t digits = strspn(p, "0123456789");
    p += digits;
    if (*p == '.') {
        size_t frac = strspn(p + 1, "0123456789");
        digits += frac;
        p += 1 + frac;
    }
    if (!digits)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '+' || *p == '-';
        size_t ed = strspn(p, "0123456789");
        if (!ed)
            return 0;
        p += ed;
    }
    return *p == '\0';
}

int cli_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out)
{
    errno = 0;
    double v = cli_is_decimal(s) ? strtod(s, NULL) : NAN;
    if (errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "ipusim %s: --%s '%s' must be a decimal number in %g..%g\n", cmd, opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}
