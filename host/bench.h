/* bench.h - microbenchmarks of the simulated machine.
 *
 * Each benchmark builds a real graph and program, runs it on the engine in
 * timing mode (no formula shortcut) and fills a table of what the model
 * gives, with the published figure (docs/reference/ipu-figures.md) or the named assumption
 * it should be read against in the notes. `ipusim bench` prints them.
 * Not here: timing rules (sim/engine.c).
 */
#ifndef IPUSIM_BENCH_H
#define IPUSIM_BENCH_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "sim/arch.h"

#define BENCH_MAX_COLS 8
#define BENCH_MAX_ROWS 48

typedef struct BenchTable {
    char title[160];
    const char *cols[BENCH_MAX_COLS];
    int ncols;
    double rows[BENCH_MAX_ROWS][BENCH_MAX_COLS];
    int nrows;
    char note[1536];  /* published figure / assumption to compare with */
} BenchTable;

/* Each returns 0 or -1 with err. a is the arch to measure. */
int bench_exchange(const IpuArch *a, BenchTable *t, IpuErr *err);
int bench_sync(const IpuArch *a, BenchTable *t, IpuErr *err);
int bench_stream(const IpuArch *a, BenchTable *t, IpuErr *err);
int bench_allreduce(const IpuArch *a, BenchTable *t, IpuErr *err);
/* supersteps leaf steps over every tile of a; trace_path (may be NULL) gets a Perfetto trace. */
int bench_engine(const IpuArch *a, int supersteps, const char *trace_path, BenchTable *t, IpuErr *err);

void bench_print(FILE *f, const BenchTable *t);
cJSON *bench_to_json(const BenchTable *t);

#endif
