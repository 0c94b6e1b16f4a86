/* sweep_exec.h - running a sweep's points: in parallel on the local cores,
 * and over MPI ranks through a transport, with the rows written in point
 * order by one writer.
 *
 * Cells, one per (point, format), that share a lowering (the same run keys
 * but the arch's free keys, and the same format: gptj_arch_same_graph) form
 * a unit: one GptjSession lowers once and runs each of its cells on its own
 * machine, so points that differ in streaming bandwidth, clock, links or
 * system sync cost an engine run each, not a lowering. Units run in
 * parallel (OpenMP threads; ranks take units in turn); a large unit is
 * split while there are fewer units than workers. A point whose keys
 * conflict, or a cell that does not lower or run (out of memory, a group
 * size that does not divide a split), gives error rows; the others go on.
 *
 * Rank 0 writes each point's rows as soon as it and every point before it
 * are complete, and flushes them, so the files hold a prefix of the rows
 * whatever the threads and ranks did; the bytes equal a one-thread run's.
 *
 * Not here: the definition and row text (sweep.h), the command (cli_sweep.c),
 * MPI itself (host/sweep_mpi.c, built into the program with IPUSIM_MPI).
 */
#ifndef IPUSIM_SWEEP_EXEC_H
#define IPUSIM_SWEEP_EXEC_H

#include <stddef.h>
#include <stdio.h>

#include "base/err.h"
#include "host/progress.h"
#include "host/sweep.h"

/* How ranks talk (MPI). NULL, or size 1: one process. Rank 0 writes. */
struct SweepTransport {
    int rank, size;
    void *ctx;
    /* rank 0's n bytes at buf to every rank (collective); 0 or -1 */
    int (*bcast)(void *ctx, void *buf, size_t n);
    /* a row to rank 0; 0 or -1 */
    int (*send_row)(void *ctx, const SweepRow *r);
    /* rank 0: a row from another rank; 1 got one, 0 none waiting (block: wait for one), -1 error */
    int (*recv_row)(void *ctx, SweepRow *r, int block);
    /* collective: 1 when ok is 1 on every rank, else 0 (-1 on a transport error) */
    int (*agree)(void *ctx, int ok);
    /* ends every rank (a rank that fails while the others run) */
    void (*abort)(void *ctx, int code);
};
typedef struct SweepTransport SweepTransport;

typedef struct SweepRunOptions {
    int threads;                 /* local worker threads, >= 1 */
    size_t first_point;          /* the points before it are in the files already (resume) */
    FILE *csv, *jsonl;           /* rank 0: rows are appended and flushed here (NULL: not written) */
    Progress *progress;          /* rank 0, may be NULL */
    const SweepTransport *comm;  /* NULL: one process */
} SweepRunOptions;

typedef struct SweepStats {
    size_t points, cells;        /* run now (after first_point), all ranks */
    size_t failed_points;        /* points with an error row */
    size_t units, lowerings;     /* units planned; sessions created (this rank) */
} SweepStats;

/* Runs points first_point.. of s. Errors are what stops the sweep (host
 * memory, a write to the files, the transport), not a failing point. */
int sweep_run(const Sweep *s, const SweepRunOptions *o, SweepStats *st, IpuErr *err);

/* For --resume: the whole points (*points) that `rows` complete rows hold
 * from the start, and how many rows those are (*rows_used <= rows). Each
 * point has one row per format its formats key names, even a point whose
 * keys conflict. */
int sweep_points_in_rows(const Sweep *s, size_t rows, size_t *points, size_t *rows_used, IpuErr *err);

#endif
