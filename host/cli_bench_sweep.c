/* cli_bench_sweep.c - `ipusim bench sweep`: points per second of a sweep
 * over keys that keep the lowering (streaming bandwidth x clock), GPT-J 6B
 * decode on pod16 by default, through the sweep machinery itself (rows
 * written to a temp folder, then removed), against separate runs. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/cli.h"
#include "host/gptj_run.h"
#include "host/runcfg.h"
#include "host/sweep.h"
#include "host/sweep_exec.h"

enum { O_POINTS, O_THREADS, O_SET, O_SEPARATE, O_HELP, O_COUNT };

/* The options of bench sweep (copied: cli_parse fills count and values). */
static const CliOpt sweep_opts[] = {
    [O_POINTS] = {"points", 1, "points: streaming bandwidth x clock, near-square grid (default 1000)", 0, {0}},
    [O_THREADS] = {"threads", 1, "worker threads (default: OpenMP's)", 0, {0}},
    [O_SET] = {"set", 1, "key=value on top of the bench's model=gptj-6b arch=pod16 formats=q4g:64 (repeatable)", 0,
               {0}},
    [O_SEPARATE] = {"separate", 1, "also time this many points as separate runs, for comparison (default 2)", 0, {0}},
    [O_HELP] = {"help", 0, "this help", 0, {0}},
};
_Static_assert(sizeof sweep_opts / sizeof *sweep_opts == O_COUNT, "one entry per option");

/* Times `n` separate gptj_run of the sweep's first points (every format): seconds per point. */
static int time_separate(const Sweep *s, long n, double *per_point, IpuErr *err)
{
    RunConfig *rc = malloc(sizeof *rc);
    if (!rc)
        return ipu_err(err, "out of memory");
    double t0 = cli_now_s();
    int rv = 0;
    for (long p = 0; p < n && !rv; p++) {
        rv = sweep_point_config(s, (size_t)p, rc, err) || runcfg_finish(rc, err) ? -1 : 0;
        for (int f = 0; f < rc->nformats && !rv; f++) {
            RunOptions o;
            RunResult r;
            rv = runcfg_options(rc, f, &o, err) || gptj_run(&rc->arch, &o, NULL, NULL, NULL, &r, err) ? -1 : 0;
            if (!rv)
                run_result_free(&r);
        }
    }
    free(rc);
    *per_point = (cli_now_s() - t0) / (double)(n ? n : 1);
    return rv;
}

/* The bench's grid of about `points` points (streaming bandwidth x clock, near square) with the --set values. */
static int make_sweep(Sweep *s, long points, const CliOpt *sets, IpuErr *err)
{
    long nb = (long)ceil(sqrt((double)points)), nc = (points + nb - 1) / nb;
    char vb[128], vc[128];
    snprintf(vb, sizeof vb, "arch.stream.bandwidth_bytes_per_s=10e9:%.6g:+1e9", 10e9 + (double)(nb - 1) * 1e9);
    snprintf(vc, sizeof vc, "arch.clock_hz=1.0e9:%.6g:+0.01e9", 1.0e9 + (double)(nc - 1) * 0.01e9);
    if (sweep_add_set(s, "model=gptj-6b", err) || sweep_add_set(s, "arch=pod16", err) ||
        sweep_add_set(s, "formats=q4g:64", err))
        return -1;
    for (int i = 0; i < sets->count; i++)
        if (sweep_add_set(s, sets->values[i], err))
            return -1;
    return sweep_add_vary(s, vb, err) || sweep_add_vary(s, vc, err) || sweep_finish(s, 0, err) ? -1 : 0;
}

/* Runs the sweep with its rows written into a temp folder, removed after: wall seconds in *wall_s. */
static int run_to_temp(const Sweep *s, int threads, SweepStats *st, double *wall_s, IpuErr *err)
{
    char dir[] = "/tmp/ipusim-bench-sweep-XXXXXX";
    if (!mkdtemp(dir))
        return ipu_err(err, "cannot make a temp folder");
    char p1[64], p2[64];
    snprintf(p1, sizeof p1, "%s/results.csv", dir), snprintf(p2, sizeof p2, "%s/results.jsonl", dir);
    FILE *csv = NULL, *jsonl = NULL;
    int rv = 0;
    if (!(csv = fopen(p1, "w")) || !(jsonl = fopen(p2, "w")))
        rv = ipu_err(err, "cannot write into %s", dir);
    double t0 = cli_now_s();
    if (!rv) {
        SweepRunOptions ro = {threads, 0, csv, jsonl, NULL, NULL};
        rv = sweep_run(s, &ro, st, err);
        *wall_s = cli_now_s() - t0;
    }
    if (csv)
        fclose(csv);
    if (jsonl)
        fclose(jsonl);
    unlink(p1), unlink(p2), rmdir(dir);
    return rv;
}

int cli_bench_sweep(int argc, char **argv)
{
    CliOpt opts[O_COUNT];
    memcpy(opts, sweep_opts, sizeof opts);
    const char *pos[1];
    int npos;
    if (cli_parse("bench sweep", argc, argv, opts, O_COUNT, pos, 0, &npos))
        return 2;
    if (opts[O_HELP].count) {
        printf("usage: ipusim bench sweep [options]\n  points per second of `ipusim sweep` over keys that keep the "
               "lowering; results to a temp folder\n");
        cli_print_options(stdout, opts, O_COUNT);
        return 0;
    }
    long points = 1000, threads = omp_get_max_threads(), separate = 2;
    if ((opts[O_POINTS].count && cli_long("bench sweep", "points", cli_value(&opts[O_POINTS], ""), 1, 100000, &points)) ||
        (opts[O_THREADS].count && cli_long("bench sweep", "threads", cli_value(&opts[O_THREADS], ""), 1, 1024, &threads)) ||
        (opts[O_SEPARATE].count && cli_long("bench sweep", "separate", cli_value(&opts[O_SEPARATE], ""), 0, 100, &separate)))
        return 2;
    Sweep s;
    sweep_init(&s);
    IpuErr err;
    SweepStats st;
    double wall = 0, sep = 0;
    int rv = make_sweep(&s, points, &opts[O_SET], &err);
    if (!rv)
        rv = run_to_temp(&s, (int)threads, &st, &wall, &err);
    if (!rv && separate)
        rv = time_separate(&s, separate < (long)s.npoints ? separate : (long)s.npoints, &sep, &err);
    if (!rv) {
        printf("bench sweep: %zu points (%s x %s), %zu rows, %d threads: %zu lowerings, %zu failed\n", s.npoints,
               s.vary[0].key, s.vary[1].key, st.cells, (int)threads, st.lowerings, st.failed_points);
        printf("  wall %.2f s, %.1f points/s, peak RSS %.0f MiB\n", wall, (double)s.npoints / wall, cli_peak_rss_mib());
        if (separate)
            printf("  separate runs: %.3f s per point (%.1f points/s on one thread): %.0fx\n", sep, 1 / sep,
                   sep * (double)s.npoints / wall);
    } else {
        fprintf(stderr, "ipusim bench sweep: %s\n", err.msg);
    }
    sweep_free(&s);
    return rv ? 1 : 0;
}
