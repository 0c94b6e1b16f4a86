/* trace.c - trace-event JSON writer (see trace.h). */
#include "sim/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"

Trace *trace_create(double clock_hz, size_t max_events)
{
    Trace *t = calloc(1, sizeof *t);
    if (t) {
        t->clock_hz = clock_hz;
        t->max_events = max_events;
    }
    return t;
}

void trace_destroy(Trace *t)
{
    if (!t)
        return;
    free(t->ev);
    free(t);
}

void trace_add(Trace *t, uint32_t chip, uint32_t tid, const char *name, const char *cat, uint64_t start_cycles, uint64_t cycles,
               uint64_t bytes)
{
    if ((t->max_events && t->count >= t->max_events)) {
        t->dropped++;
        return;
    }
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        TraceEvent *e = realloc(t->ev, cap * sizeof *e);
        if (!e) {
            t->dropped++;
            return;
        }
        t->ev = e;
        t->cap = cap;
    }
    TraceEvent *e = &t->ev[t->count++];
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->cat, sizeof e->cat, "%s", cat);
    e->chip = chip;
    e->tid = tid;
    e->start_cycles = start_cycles;
    e->cycles = cycles;
    e->bytes = bytes;
}

/* JSON string body: labels are host-chosen, so escape quotes, backslashes and controls. */
static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void trace_write_stream(const Trace *t, FILE *f)
{
    double us_per_cycle = 1e6 / t->clock_hz;
    fprintf(f, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"clock_hz\":%.17g,\"dropped_events\":%llu},\n"
               "\"traceEvents\":[\n",
            t->clock_hz, (unsigned long long)t->dropped);
    /* name each chip's track once */
    uint32_t max_chip = 0;
    for (size_t i = 0; i < t->count; i++)
        if (t->ev[i].chip > max_chip)
            max_chip = t->ev[i].chip;
    for (uint32_t c = 0; t->count && c <= max_chip; c++)
        fprintf(f, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%u,\"tid\":0,\"args\":{\"name\":\"chip %u\"}},\n",
                c, c);
    for (size_t i = 0; i < t->count; i++) {
        const TraceEvent *e = &t->ev[i];
        fputs("{\"ph\":\"X\",\"name\":", f);
        put_str(f, e->name);
        fputs(",\"cat\":", f);
        put_str(f, e->cat);
        fprintf(f, ",\"pid\":%u,\"tid\":%u,\"ts\":%.6f,\"dur\":%.6f,\"args\":{\"cycles\":%llu,\"bytes\":%llu}}%s\n",
                e->chip, e->tid, (double)e->start_cycles * us_per_cycle, (double)e->cycles * us_per_cycle,
                (unsigned long long)e->cycles, (unsigned long long)e->bytes, i + 1 < t->count ? "," : "");
    }
    fputs("]}\n", f);
}

int trace_write(const Trace *t, const char *path, IpuErr *err)
{
    FileioFile af;
    if (fileio_file_open(&af, path, err))
        return ipu_err_prefix(err, "trace");
    trace_write_stream(t, af.f);
    if (fileio_file_commit(&af, err))
        return ipu_err_prefix(err, "trace");
    return 0;
}
