/* cli_calibrate.c - `ipusim calibrate`: fit one arch key (by default
 * arch.stream.bandwidth_bytes_per_s) so one format's batched token time
 * matches a measured value, by bisection in log space. The token time must
 * fall as the key grows (true of any bandwidth); the command checks the
 * bracket before bisecting and says so when the target lies outside it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli.h"
#include "host/gptj_run.h"
#include "host/report.h"
#include "host/runcfg.h"

enum { O_SCENARIO, O_ARCH_FILE, O_SET, O_KEY, O_TARGET, O_FORMAT, O_LO, O_HI, O_TOL, O_HELP, O_COUNT };

/* The options of calibrate (copied: cli_parse fills count and values). */
static const CliOpt calibrate_opts[] = {
    [O_SCENARIO] = {"scenario", 1, "scenario file (e.g. scenarios/graphcore-mnli.conf)", 0, {0}},
    [O_ARCH_FILE] = {"arch-file", 1, "JSON arch file, as for ipusim run (its preset and keys), after the scenario", 0,
                     {0}},
    [O_SET] = {"set", 1, "key=value (a run key, or an arch key with or without arch.) after the arch file; repeatable",
               0, {0}},
    [O_KEY] = {"key", 1, "the key to fit (default arch.stream.bandwidth_bytes_per_s; an arch key with or without "
                         "arch.)", 0, {0}},
    [O_TARGET] = {"target-ms", 1, "measured batched token time in ms (required)", 0, {0}},
    [O_FORMAT] = {"format", 1, "which of the configured formats the measurement is of (default fp16)", 0, {0}},
    [O_LO] = {"lo", 1, "bracket low end of the key (default 1e9)", 0, {0}},
    [O_HI] = {"hi", 1, "bracket high end (default 1e12)", 0, {0}},
    [O_TOL] = {"tol", 1, "relative tolerance on the key (default 1e-4)", 0, {0}},
    [O_HELP] = {"help", 0, "this help", 0, {0}},
};
_Static_assert(sizeof calibrate_opts / sizeof *calibrate_opts == O_COUNT, "one entry per option");

/* Batched token time (s) of format fi with key = v. */
static int token_time(const RunConfig *base, const char *key, double v, int fi, double *out, IpuErr *err)
{
    RunConfig *rc = malloc(sizeof *rc);
    if (!rc)
        return ipu_err(err, "out of memory");
    *rc = *base;
    char val[64];
    snprintf(val, sizeof val, "%.9g", v);
    int rv = runcfg_set(rc, key, val, "calibrate", err);
    if (!rv)
        rv = runcfg_finish(rc, err);
    RunOptions o;
    if (!rv)
        rv = runcfg_options(rc, fi, &o, err);
    RunResult res;
    memset(&res, 0, sizeof res);
    if (!rv)
        rv = gptj_run(&rc->arch, &o, NULL, NULL, NULL, &res, err);
    Report rep;
    report_init(&rep, NULL);
    if (!rv)
        rv = report_add(&rep, &res, rc->batch, rc->chips_used, &rc->arch, err);
    if (!rv)
        *out = rep.f[0].batched_token_s;
    report_free(&rep);
    run_result_free(&res);
    free(rc);
    return rv;
}

/* The run configuration of the command line (scenarios, arch files, --set, in that order), finished. */
static int load_config(RunConfig *rc, const CliOpt *opts, IpuErr *err)
{
    runcfg_init(rc);
    for (int i = 0; i < opts[O_SCENARIO].count; i++)
        if (runcfg_load_file(rc, opts[O_SCENARIO].values[i], err))
            return -1;
    for (int i = 0; i < opts[O_ARCH_FILE].count; i++)
        if (runcfg_load_arch_file(rc, opts[O_ARCH_FILE].values[i], err))
            return -1;
    for (int i = 0; i < opts[O_SET].count; i++)
        if (runcfg_set_kv(rc, opts[O_SET].values[i], "--set", err))
            return -1;
    return runcfg_finish(rc, err);
}

/* The index in rc of the format named name (the last that matches), or -1 with err. */
static int find_format(const RunConfig *rc, const char *name, IpuErr *err)
{
    QuantSpec want;
    if (quant_spec_parse(name, &want, err))
        return -1;
    int fi = -1;
    for (int i = 0; i < rc->nformats; i++)
        if (rc->specs[i].fmt == want.fmt && (want.fmt != &quant_format_q4g || rc->specs[i].group == want.group))
            fi = i;
    if (fi < 0)
        ipu_err(err, "format '%s' is not among the configured formats '%s'", name, rc->formats);
    return fi;
}

/* The fit: key in [lo, hi] (token time falling as it grows) so format fi's token time is target_s, printing each
 * step. */
static int bisect(const RunConfig *rc, const char *key, const char *format, int fi, double target_s, double lo,
                  double hi, double tol, IpuErr *err)
{
    double t_lo, t_hi;
    if (token_time(rc, key, lo, fi, &t_lo, err) || token_time(rc, key, hi, fi, &t_hi, err))
        return -1;
    printf("calibrate %s on %s batched token time %.4f ms\n", key, format, 1e3 * target_s);
    printf("  %-14.6g -> %.4f ms\n  %-14.6g -> %.4f ms\n", lo, 1e3 * t_lo, hi, 1e3 * t_hi);
    if (!(t_lo >= target_s && target_s >= t_hi))
        return ipu_err(err, "the target %.4f ms is outside [%.4f, %.4f] ms given by %s in [%g, %g]: widen --lo/--hi, "
                            "or another part of the model dominates",
                       1e3 * target_s, 1e3 * t_hi, 1e3 * t_lo, key, lo, hi);
    int iter = 0;
    while (hi / lo > 1 + tol && iter < 200) {
        double mid = sqrt(lo * hi), t;
        if (token_time(rc, key, mid, fi, &t, err))
            return -1;
        printf("  %-14.6g -> %.4f ms\n", mid, 1e3 * t);
        if (t > target_s)
            lo = mid;
        else
            hi = mid;
        iter++;
    }
    double fit = sqrt(lo * hi), t_fit;
    if (token_time(rc, key, fit, fi, &t_fit, err))
        return -1;
    printf("fitted %s = %.6g (%d bisection steps): %.4f ms against %.4f ms measured\n", key, fit, iter, 1e3 * t_fit,
           1e3 * target_s);
    return 0;
}

int cli_calibrate(int argc, char **argv)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, calibrate_opts, sizeof opts);
    const char *pos[1];
    int npos;
    if (cli_parse("calibrate", argc, argv, opts, O_COUNT, pos, 0, &npos))
        return 2;
    if (opts[O_HELP].count || !opts[O_TARGET].count) {
        FILE *f = opts[O_HELP].count ? stdout : stderr;
        fprintf(f, "usage: ipusim calibrate --target-ms MS [options]\n"
                   "  fits one arch key so a format's batched token time equals MS (bisection, timing mode).\n");
        cli_print_options(f, opts, O_COUNT);
        return opts[O_HELP].count ? 0 : 2;
    }
    const char *key = cli_value(&opts[O_KEY], "arch.stream.bandwidth_bytes_per_s");
    const char *format = cli_value(&opts[O_FORMAT], "fp16");
    double target, lo, hi, tol;
    if (cli_double("calibrate", "target-ms", cli_value(&opts[O_TARGET], ""), 0, 1e12, &target) ||
        cli_double("calibrate", "lo", cli_value(&opts[O_LO], "1e9"), 0, 1e300, &lo) ||
        cli_double("calibrate", "hi", cli_value(&opts[O_HI], "1e12"), 0, 1e300, &hi) ||
        cli_double("calibrate", "tol", cli_value(&opts[O_TOL], "1e-4"), 0, 1, &tol))
        return 2;
    target *= 1e-3;
    if (!(target > 0) || !(lo > 0) || !(hi > lo) || !(tol > 0)) {
        fprintf(stderr, "ipusim calibrate: need --target-ms > 0, 0 < --lo < --hi, --tol > 0\n");
        return 2;
    }
    RunConfig *rc = malloc(sizeof *rc);
    if (!rc)
        return 1;
    IpuErr err;
    int fi, status = 0;
    if (load_config(rc, opts, &err) || (fi = find_format(rc, format, &err)) < 0 ||
        bisect(rc, key, format, fi, target, lo, hi, tol, &err)) {
        fprintf(stderr, "ipusim calibrate: %s\n", err.msg);
        status = 1;
    }
    free(rc);
    return status;
}
