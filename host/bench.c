/* bench.c - microbenchmarks: each one a real graph + program on the engine (see bench.h). */
#include "host/bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/engine.h"

/* A vertex that only spends worker cycles: the engine benchmark's load. */
typedef struct SpinArgs {
    uint32_t worker_cycles;
} SpinArgs;
static void spin_run(Worker *w, const void *args) { w->cycles += ((const SpinArgs *)args)->worker_cycles; }
static uint64_t spin_key(const void *args) { return ((const SpinArgs *)args)->worker_cycles; }
static uint64_t spin_measure(const IsaCosts *isa, const void *args)
{
    (void)isa;
    return ((const SpinArgs *)args)->worker_cycles;
}
static const VertexType spin_vertex = {"bench.spin", sizeof(SpinArgs), spin_run, spin_key, spin_measure, NULL};

static void table_init(BenchTable *t, const char *title, const char *const *cols, int ncols)
{
    memset(t, 0, sizeof *t);
    snprintf(t->title, sizeof t->title, "%s", title);
    for (int i = 0; i < ncols; i++)
        t->cols[i] = cols[i];
    t->ncols = ncols;
}

static double *table_row(BenchTable *t)
{
    IPU_ASSERT(t->nrows < BENCH_MAX_ROWS);
    return t->rows[t->nrows++];
}

/* Runs program p (root step) on g in timing mode; returns the cycles or -1. */
static int64_t run_on(Graph *g, Program *p, int root, Trace *trace, IpuErr *err)
{
    Engine *e = engine_create(g, err);
    if (!e)
        return -1;
    engine_set_trace(e, trace);
    int64_t cyc = -1;
    if (engine_start(e, p, root, err) == 0) {
        EngineStepInfo info;
        int rc;
        while ((rc = engine_step(e, &info, err)) == 1)
            ;
        if (rc == 0)
            cyc = (int64_t)engine_cycles(e);
    }
    engine_destroy(e);
    return cyc;
}

int bench_exchange(const IpuArch *a, BenchTable *t, IpuErr *err)
{
    static const char *cols[] = {"bytes_per_tile", "one_pair_cycles", "one_pair_GB_per_s", "all_tiles_cycles",
                                 "chip_TB_per_s", "bytes_per_cycle_per_tile"};
    table_init(t, "on-chip exchange: tile -> next tile, one pair and every tile at once", cols, 6);
    IpuArch one = *a;
    one.chips = one.chips_per_machine = 1;
    uint32_t T = one.tiles_per_chip;
    for (uint64_t bytes = 8; bytes <= 128 * 1024; bytes *= 4) {
        if (2 * bytes + 64 > one.sram_bytes_per_tile)
            break;
        Graph *g = graph_create(&one, GRAPH_TIMING, err);
        Program *p = program_create();
        if (!g || !p)
            goto fail;
        /* x and y spread over every tile, `bytes` each; copying x[0, N-b) to
         * y[b, N) moves each tile's block to the next tile */
        int x = graph_add_tensor_linear(g, "x", DTYPE_U8, bytes * T, SRAM_EXCHANGE, 0, T, bytes, err);
        int y = graph_add_tensor_linear(g, "y", DTYPE_U8, bytes * T, SRAM_EXCHANGE, 0, T, bytes, err);
        int pair = program_copy(p, "pair", -1, err), all = program_copy(p, "all", -1, err);
        if (x < 0 || y < 0 || pair < 0 || all < 0 || program_copy_add(p, pair, x, 0, y, bytes, bytes, err) ||
            program_copy_add(p, all, x, 0, y, bytes, bytes * (T - 1), err)) {
            program_destroy(p);
            graph_destroy(g);
            goto fail;
        }
        int64_t c1 = run_on(g, p, pair, NULL, err), ca = run_on(g, p, all, NULL, err);
        program_destroy(p);
        graph_destroy(g);
        if (c1 < 0 || ca < 0)
            goto fail;
        double *r = table_row(t);
        r[0] = (double)bytes;
        r[1] = (double)c1;
        r[2] = (double)bytes / ((double)c1 / one.clock_hz) / 1e9;
        r[3] = (double)ca;
        r[4] = (double)bytes * (T - 1) / ((double)ca / one.clock_hz) / 1e12;
        r[5] = (double)bytes / (double)(ca - one.exchange_latency_cycles);
    }
    snprintf(t->note, sizeof t->note,
             "published (docs/reference/ipu-figures.md, 'exchange bandwidth per tile'): 4 bytes/cycle per tile (IPUModel "
             "exchangeBytesPerCycle); whole chip '8 TB/s any pattern' (GC200). Model at %.3g GHz: %u tiles x %.3g "
             "B/cycle = %.2f TB/s peak. Latency %u cycles is an assumption (no public figure).",
             one.clock_hz / 1e9, T, one.exchange_bytes_per_cycle,
             T * one.exchange_bytes_per_cycle * one.clock_hz / 1e12, one.exchange_latency_cycles);
    return 0;
fail:
    return ipu_err_prefix(err, "bench exchange");
}

int bench_sync(const IpuArch *a, BenchTable *t, IpuErr *err)
{
    static const char *cols[] = {"chips", "scope_system", "cycles", "ns"};
    table_init(t, "BSP sync: on-chip and across all chips", cols, 4);
    for (int scope = 0; scope < 2; scope++) {
        Graph *g = graph_create(a, GRAPH_TIMING, err);
        Program *p = program_create();
        if (!g || !p) {
            graph_destroy(g);
            program_destroy(p);
            return ipu_err_prefix(err, "bench sync");
        }
        int s = program_sync(p, scope ? SYNC_SYSTEM : SYNC_CHIP, "sync", -1, err);
        int64_t c = run_on(g, p, s, NULL, err);
        program_destroy(p);
        graph_destroy(g);
        if (c < 0)
            return ipu_err_prefix(err, "bench sync");
        double *r = table_row(t);
        r[0] = a->chips;
        r[1] = scope;
        r[2] = (double)c;
        r[3] = (double)c / a->clock_hz * 1e9;
    }
    snprintf(t->note, sizeof t->note,
             "published (docs/reference/ipu-figures.md, 'sync latency'): no official figure; proxies: poplibs planner assumes 90 "
             "cycles on-chip; poplibs test model 15 ns per hop x 2 across chips (the model adds 30 ns to the on-chip "
             "sync).");
    return 0;
}

int bench_stream(const IpuArch *a, BenchTable *t, IpuErr *err)
{
    static const char *cols[] = {"bytes_per_chip", "chips_streaming", "cycles", "us", "GB_per_s_per_chip",
                                 "GB_per_s_per_machine"};
    table_init(t, "streaming memory -> tiles (remote buffer load spread over every tile)", cols, 6);
    uint32_t T = a->tiles_per_chip;
    uint32_t chip_counts[2] = {1, a->chips_per_machine};
    for (int o = 0; o < (a->chips_per_machine > 1 ? 2 : 1); o++) {
        uint32_t nc = chip_counts[o];
        for (uint64_t bytes = 4096; bytes <= (64ull << 20); bytes *= 8) {
            Graph *g = graph_create(a, GRAPH_TIMING, err);
            Program *p = program_create();
            int st = p ? program_stream(p, STREAM_TO_TILES, 0, "load", -1, err) : -1;
            if (!g || !p || st < 0)
                goto fail_gp;
            for (uint32_t c = 0; c < nc; c++) {
                char name[32];
                snprintf(name, sizeof name, "w%u", c);
                int x = graph_add_tensor_linear(g, name, DTYPE_U8, bytes, SRAM_WEIGHTS, c * T, T, 8, err);
                int r = graph_add_remote(g, name, c, bytes, err);
                if (x < 0 || r < 0 || program_stream_add(p, st, r, 0, x, 0, bytes, err))
                    goto fail_gp;
            }
            int64_t cyc = run_on(g, p, st, NULL, err);
            program_destroy(p);
            graph_destroy(g);
            if (cyc < 0)
                return ipu_err_prefix(err, "bench stream");
            double s = (double)cyc / a->clock_hz, *r = table_row(t);
            r[0] = (double)bytes;
            r[1] = nc;
            r[2] = (double)cyc;
            r[3] = s * 1e6;
            r[4] = (double)bytes / s / 1e9;
            r[5] = (double)bytes * nc / s / 1e9;
            continue;
        fail_gp:
            program_destroy(p);
            graph_destroy(g);
            return ipu_err_prefix(err, "bench stream");
        }
    }
    snprintf(t->note, sizeof t->note,
             "published (docs/reference/ipu-figures.md, 'streaming memory bandwidth'): NO official figure; streaming memory is "
             "'between 3x and 20x slower than IPU-Links' (320 GB/s per chip -> 16-107 GB/s). The model's figures: "
             "%.4g GB/s per machine shared by its streaming chips (gc200/bow: calibrated on Graphcore's GPT-J fp16 "
             "point, docs/validation.md), capped at %.3g GB/s per chip (assumption: PCIe Gen4 x8 per IPU), %.3g us "
             "latency (assumption).",
             a->stream_bandwidth_bytes_per_s / 1e9, a->stream_chip_bandwidth_bytes_per_s / 1e9,
             a->stream_latency_s * 1e6);
    return 0;
}

int bench_allreduce(const IpuArch *a, BenchTable *t, IpuErr *err)
{
    static const char *cols[] = {"bytes_per_chip", "chips", "cycles", "us", "algbw_GB_per_s", "busbw_GB_per_s"};
    table_init(t, "all-reduce (fp16 sum, ring over IPU-Links)", cols, 6);
    if (a->chips < 2)
        return ipu_err(err, "bench allreduce: arch '%s' has one chip; use pod4 or pod16", a->name);
    uint32_t T = a->tiles_per_chip, C = a->chips;
    for (uint64_t bytes = 1024; bytes <= (64ull << 20); bytes *= 8) {
        Graph *g = graph_create(a, GRAPH_TIMING, err);
        Program *p = program_create();
        int ids[1024];
        int ok = g && p && C <= 1024;
        for (uint32_t c = 0; ok && c < C; c++) {
            char name[32];
            snprintf(name, sizeof name, "part%u", c);
            ids[c] = graph_add_tensor_linear(g, name, DTYPE_FP16, bytes / 2, SRAM_ACTIVATIONS, c * T, T, 4, err);
            ok = ids[c] >= 0;
        }
        int s = ok ? program_collective(p, COLL_ALL_REDUCE, ids, C, "allreduce", -1, err) : -1;
        int64_t cyc = s >= 0 ? run_on(g, p, s, NULL, err) : -1;
        program_destroy(p);
        graph_destroy(g);
        if (cyc < 0)
            return ipu_err_prefix(err, "bench allreduce");
        double sec = (double)cyc / a->clock_hz, *r = table_row(t);
        r[0] = (double)bytes;
        r[1] = C;
        r[2] = (double)cyc;
        r[3] = sec * 1e6;
        r[4] = (double)bytes / sec / 1e9;
        r[5] = r[4] * 2.0 * (C - 1) / C; /* bytes each chip must move, NCCL convention */
    }
    snprintf(t->note, sizeof t->note,
             "published (docs/reference/ipu-figures.md, 'IPU-Link model used by poplibs tests'): 128 Gbit/s (16 GB/s) per link x "
             "0.85 efficiency; 10 links, 320 GB/s per chip. The ring uses %u link(s) per neighbour (assumption), so "
             "its bus bandwidth tends to %.3g GB/s; per-step latency %u cycles (= cross-chip sync, assumption).",
             a->link_ring_links, a->link_bandwidth_bytes_per_s * a->link_efficiency * a->link_ring_links / 1e9,
             a->link_latency_cycles);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int bench_engine(const IpuArch *a, int supersteps, const char *trace_path, BenchTable *t, IpuErr *err)
{
    static const char *cols[] = {"chips", "tiles", "vertices", "supersteps", "build_s", "simulate_s",
                                 "supersteps_per_s", "simulated_cycles"};
    table_init(t, "engine speed: timing mode, one vertex per tile, compute/sync/exchange/sync supersteps", cols, 8);
    double t0 = now_s();
    uint32_t T = a->tiles_per_chip, N = arch_total_tiles(a);
    Graph *g = graph_create(a, GRAPH_TIMING, err);
    Program *p = program_create();
    Trace *tr = trace_path ? trace_create(a->clock_hz, 0) : NULL;
    int rc = -1;
    if (!g || !p || (trace_path && !tr))
        goto done;
    int cs = graph_add_compute_set(g, "spin", err);
    /* a few shapes so the measure cache has work: 100..103 worker cycles */
    for (uint32_t tile = 0; cs >= 0 && tile < N; tile++) {
        SpinArgs s = {100 + tile % 4};
        if (graph_add_vertex(g, cs, tile, &spin_vertex, &s, err))
            goto done;
    }
    int x = graph_add_tensor_linear(g, "x", DTYPE_FP16, (uint64_t)N * 64, SRAM_ACTIVATIONS, 0, N, 64, err);
    int y = graph_add_tensor_linear(g, "y", DTYPE_FP16, (uint64_t)N * 64, SRAM_ACTIVATIONS, 0, N, 64, err);
    int body = program_sequence(p, "superstep", err);
    int cp = program_copy(p, "shift", program_category(p, "exchange", err), err);
    if (cs < 0 || x < 0 || y < 0 || body < 0 || cp < 0)
        goto done;
    for (uint32_t c = 0; c < a->chips; c++) /* each chip: every tile's 64 elements to the next tile */
        if (program_copy_add(p, cp, x, (uint64_t)c * T * 64, y, (uint64_t)c * T * 64 + 64, (uint64_t)(T - 1) * 64,
                             err))
            goto done;
    if (program_append(p, body, program_execute(p, cs, "compute", program_category(p, "compute", err), err), err) ||
        program_append(p, body, program_sync(p, SYNC_SYSTEM, "sync", -1, err), err) ||
        program_append(p, body, cp, err) || program_append(p, body, program_sync(p, SYNC_SYSTEM, "sync", -1, err), err))
        goto done;
    int root = program_repeat(p, (uint64_t)(supersteps + 3) / 4, body, "run", -1, err);
    if (root < 0)
        goto done;
    double t1 = now_s();
    int64_t cyc = run_on(g, p, root, tr, err);
    double t2 = now_s();
    if (cyc < 0)
        goto done;
    if (tr && trace_write(tr, trace_path, err))
        goto done;
    double *r = table_row(t);
    r[0] = a->chips;
    r[1] = N;
    r[2] = N;
    r[3] = (double)((supersteps + 3) / 4 * 4);
    r[4] = t1 - t0;
    r[5] = t2 - t1;
    r[6] = r[3] / (t2 - t1);
    r[7] = (double)cyc;
    snprintf(t->note, sizeof t->note,
             "target: simulate 1000 supersteps over 16 chips x 1472 tiles in under 0.5 s (wall time, this machine). "
             "Timing mode caches each compute set's cost and each Copy/Sync step's cost, so repeats are cheap.");
    rc = 0;
done:
    trace_destroy(tr);
    program_destroy(p);
    graph_destroy(g);
    return rc ? ipu_err_prefix(err, "bench engine") : 0;
}

void bench_print(FILE *f, const BenchTable *t)
{
    fprintf(f, "## %s\n\n|", t->title);
    for (int c = 0; c < t->ncols; c++)
        fprintf(f, " %s |", t->cols[c]);
    fprintf(f, "\n|");
    for (int c = 0; c < t->ncols; c++)
        fprintf(f, "---:|");
    fputc('\n', f);
    for (int r = 0; r < t->nrows; r++) {
        fputc('|', f);
        for (int c = 0; c < t->ncols; c++) {
            double v = t->rows[r][c];
            if (v == (double)(long long)v && v < 1e15)
                fprintf(f, " %lld |", (long long)v);
            else
                fprintf(f, " %.4g |", v);
        }
        fputc('\n', f);
    }
    fprintf(f, "\n%s\n\n", t->note);
}

cJSON *bench_to_json(const BenchTable *t)
{
    cJSON *o = cJSON_CreateObject(), *rows = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "title", t->title);
    cJSON_AddItemToObject(o, "rows", rows);
    for (int r = 0; r < t->nrows; r++) {
        cJSON *row = cJSON_CreateObject();
        for (int c = 0; c < t->ncols; c++)
            cJSON_AddNumberToObject(row, t->cols[c], t->rows[r][c]);
        cJSON_AddItemToArray(rows, row);
    }
    cJSON_AddStringToObject(o, "note", t->note);
    return o;
}
