/* trace.h - a Chrome / Perfetto trace of a run (trace-event JSON).
 *
 * One track per chip (pid = chip, tid 0), one complete ("X") event
 * (a second track, tid 1, holds streaming that overlaps compute) per step
 * per chip taking part, named by the step's label, with the step's category,
 * cycles and bytes in args. Timestamps are microseconds at the arch clock,
 * so the timeline reads in simulated time. The file opens in
 * ui.perfetto.dev or chrome://tracing. Writing is atomic: a temp file in the
 * same folder renamed over the target, so a failure leaves nothing half-written.
 *
 * Not here: deciding what a step costs (engine.c).
 */
#ifndef IPUSIM_TRACE_H
#define IPUSIM_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

typedef struct TraceEvent {
    char name[48];
    char cat[24];
    uint32_t chip;
    uint32_t tid;         /* TRACE_TID_TILES or TRACE_TID_STREAM */
    uint64_t start_cycles, cycles, bytes;
} TraceEvent;

typedef struct Trace {
    double clock_hz;
    TraceEvent *ev;
    size_t count, cap;
    size_t max_events; /* events beyond this are counted in dropped, not stored */
    uint64_t dropped;
} Trace;

/* max_events 0 means unlimited. NULL if out of host memory. */
Trace *trace_create(double clock_hz, size_t max_events);
void trace_destroy(Trace *t);
/* Track 0 of a chip is its tiles' supersteps; track 1 its overlapped streaming. */
enum { TRACE_TID_TILES = 0, TRACE_TID_STREAM = 1 };
void trace_add(Trace *t, uint32_t chip, uint32_t tid, const char *name, const char *cat, uint64_t start_cycles, uint64_t cycles,
               uint64_t bytes);
/* The trace-event JSON of t onto f (errors surface when f is flushed). */
void trace_write_stream(const Trace *t, FILE *f);
/* Writes path atomically (sim/base/fileio.h); error names the path. */
int trace_write(const Trace *t, const char *path, IpuErr *err);

#endif
