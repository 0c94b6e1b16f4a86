/* stats.h - what the engine counts while it runs a program.
 *
 * Every counter is declared once in STATS_FIELDS (field, unit, description)
 * so printing, JSON and tests never look one up by string. Cycles are
 * system cycles at the arch clock: a step lasts as long as its slowest chip.
 * Per-kind cycle counters (compute, exchange, sync, stream, collective) sum
 * to cycles_total; stream cycles hidden under compute by I/O-tile overlap
 * are counted apart in stream_hidden_cycles. category_cycles[] groups the
 * same cycles by the category the host gave each step (program_category).
 *
 * Not here: timing formulas (engine.c) or the trace (trace.h).
 */
#ifndef IPUSIM_STATS_H
#define IPUSIM_STATS_H

#include <stdint.h>
#include <stdio.h>

#define STATS_FIELDS(X)                                                                           \
    X(cycles_total, "cycles", "all steps, end to end")                                            \
    X(cycles_compute, "cycles", "Execute steps (compute phases)")                                 \
    X(cycles_exchange, "cycles", "Copy steps (on-chip exchange)")                                 \
    X(cycles_sync, "cycles", "Sync steps")                                                        \
    X(cycles_stream, "cycles", "StreamCopy steps, exposed (not hidden under compute)")            \
    X(cycles_collective, "cycles", "collectives over IPU-Links")                                  \
    X(stream_hidden_cycles, "cycles", "StreamCopy time hidden under compute by I/O tiles")        \
    X(bytes_exchange, "bytes", "bytes moved tile to tile by Copy steps")                          \
    X(bytes_stream, "bytes", "bytes moved between streaming memory and tiles")                    \
    X(bytes_collective, "bytes", "bytes sent over IPU-Links by collectives, all chips")           \
    X(supersteps, "steps", "leaf steps run (Execute, Copy, StreamCopy, collective, Sync)")        \
    X(vertices_run, "vertices", "vertex executions (functional runs or timed reuses)")            \
    X(executes_fused, "steps", "functional fast path: Execute steps run tile by tile with the one before")         \
    X(executes_skipped, "steps", "functional fast path: Execute steps that computed the one before's dead writes") \
    X(vertices_skipped, "vertices", "functional fast path: vertices whose dead outputs were never written")         \
    X(bytes_stream_in_place, "bytes", "functional fast path: streamed bytes left in the remote buffer (zero-copy)")

#define STATS_MAX_CATEGORIES 32

typedef struct Stats {
#define STATS_X(field, unit, doc) uint64_t field;
    STATS_FIELDS(STATS_X)
#undef STATS_X
    uint64_t category_cycles[STATS_MAX_CATEGORIES]; /* by program category id */
} Stats;

typedef struct StatsField {
    const char *name, *unit, *doc;
    size_t offset;
} StatsField;

extern const StatsField stats_fields[];
extern const size_t stats_field_count;

void stats_clear(Stats *s);
/* Table of every field, then the categories with non-zero cycles, at clock_hz
 * (seconds shown beside cycles). names[i] names category i (ncat of them). */
void stats_print(FILE *f, const Stats *s, double clock_hz, const char *const *names, int ncat);

#endif
