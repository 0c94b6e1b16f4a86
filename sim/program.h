/* program.h - what the machine does, as a tree of steps.
 *
 * Leaf steps are BSP supersteps the engine times: Execute (a compute set),
 * Copy (tensor intervals to other tiles of the same chip: on-chip exchange;
 * one Copy step may carry many pairs, which share one exchange phase),
 * StreamCopy (remote buffer <-> tensor intervals; one step may carry
 * transfers of several chips, which then share their machine's streaming
 * bandwidth), Collective (all-reduce / all-gather / reduce-scatter over
 * IPU-Links of one tensor per chip) and Sync. Sequence and Repeat(n) shape
 * the tree. Every step may carry a label (e.g. "layer3.fc_in") and a host
 * category (program_category, e.g. "decompress") that reports group by.
 *
 * A program refers to graph ids (compute sets, tensors, remote buffers) but
 * does not check them: engine_start validates a program against its graph
 * and names the step and tensor at fault. Not here: timing (engine.h).
 */
#ifndef IPUSIM_PROGRAM_H
#define IPUSIM_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "sim/stats.h"

typedef enum StepKind {
    STEP_SEQUENCE,
    STEP_REPEAT,
    STEP_EXECUTE,
    STEP_COPY,
    STEP_STREAM,
    STEP_COLLECTIVE,
    STEP_SYNC,
    STEP_KIND_COUNT
} StepKind;
extern const char *const program_step_kind_names[STEP_KIND_COUNT];

typedef enum StreamDir { STREAM_TO_TILES, STREAM_FROM_TILES } StreamDir;
typedef enum CollectiveKind { COLL_ALL_REDUCE, COLL_ALL_GATHER, COLL_REDUCE_SCATTER } CollectiveKind;
typedef enum SyncScope { SYNC_CHIP, SYNC_SYSTEM } SyncScope;

/* rows runs of n elements: run r is src[src_first + r * src_stride ..] ->
 * dst[dst_first + r * dst_stride ..]; strides are only read when rows > 1.
 * program_copy_add builds these by coalescing, so a lowering that adds one
 * pair per row stores one pair per block. */
typedef struct CopyPair {
    int src, dst;
    uint64_t src_first, dst_first, n;
    uint64_t rows, src_stride, dst_stride;
} CopyPair;

/* n elements of tensor from element first <-> remote bytes from remote_offset_bytes */
typedef struct StreamXfer {
    int remote, tensor;
    uint64_t remote_offset_bytes, first, n;
} StreamXfer;

typedef struct Step {
    StepKind kind;
    char label[48];
    int category;          /* program category id, or -1 */
    /* Sequence */
    int *children;
    size_t nchildren, cap_children;
    /* Repeat */
    int body;
    uint64_t times;
    /* Execute */
    int cs;
    /* Copy */
    CopyPair *pairs;
    size_t npairs, cap_pairs;
    /* StreamCopy */
    StreamXfer *xfers;
    size_t nxfers, cap_xfers;
    StreamDir dir;
    int overlap;           /* 1: may run under the next Execute when the arch has I/O tiles */
    /* Collective */
    CollectiveKind coll;
    int *tensors;          /* one per chip, ring order = array order */
    size_t ntensors;
    /* Sync */
    SyncScope scope;
} Step;

typedef struct Program {
    Step *steps;
    size_t nsteps, cap_steps;
    int root;              /* the step engine_start runs; -1: the one step no other step contains */
    char *categories[STATS_MAX_CATEGORIES];
    int ncategories;
} Program;

Program *program_create(void);
void program_destroy(Program *p);

/* Id of the named host category (created on first use); -1 if there are
 * already STATS_MAX_CATEGORIES. */
int program_category(Program *p, const char *name, IpuErr *err);

/* Each constructor returns the new step id, or -1 (out of host memory). label may be NULL. */
int program_sequence(Program *p, const char *label, IpuErr *err);
/* Appends child to the sequence seq. */
int program_append(Program *p, int seq, int child, IpuErr *err);
int program_repeat(Program *p, uint64_t times, int body, const char *label, int category, IpuErr *err);
int program_execute(Program *p, int cs, const char *label, int category, IpuErr *err);
int program_copy(Program *p, const char *label, int category, IpuErr *err);
/* Adds n elements src[src_first ..] -> dst[dst_first ..] to the Copy step.
 * Coalesces it into the step's last pair when that pair has the same
 * tensors and src != dst: when both ranges continue the last run (and the
 * pair has one run), it grows n; when it is one more run of the same n at
 * the pair's strides (any strides the second run sets, both > 0), it grows
 * rows. Coalescing changes neither the data moved nor its order, so nor
 * the step's cost (tests/test_engine.c). Callers that patch pairs after
 * building must allow for it (they see fewer pairs than they added). */
int program_copy_add(Program *p, int step, int src, uint64_t src_first, int dst, uint64_t dst_first, uint64_t n,
                     IpuErr *err);
/* rows runs of n elements at the given strides, as if added run by run
 * with program_copy_add (and coalesced the same way), in one call. */
int program_copy_add_rows(Program *p, int step, int src, uint64_t src_first, uint64_t src_stride, int dst,
                          uint64_t dst_first, uint64_t dst_stride, uint64_t n, uint64_t rows, IpuErr *err);
/* One pair of rows runs of n elements at the given strides, not coalesced;
 * src_stride may be 0 (the same source run to every row: a broadcast). */
int program_copy_add_strided(Program *p, int step, int src, uint64_t src_first, uint64_t src_stride, int dst,
                             uint64_t dst_first, uint64_t dst_stride, uint64_t n, uint64_t rows, IpuErr *err);
int program_stream(Program *p, StreamDir dir, int overlap, const char *label, int category, IpuErr *err);
int program_stream_add(Program *p, int step, int remote, uint64_t remote_offset_bytes, int tensor, uint64_t first,
                       uint64_t n, IpuErr *err);
int program_collective(Program *p, CollectiveKind kind, const int *tensors, size_t ntensors, const char *label,
                       int category, IpuErr *err);
int program_sync(Program *p, SyncScope scope, const char *label, int category, IpuErr *err);
/* Sets the step engine_start(p, -1) runs. */
void program_set_root(Program *p, int step);
/* The root: p->root if set, else the only step that no Sequence or Repeat
 * contains; -1 with err if there are none or several. */
int program_root(const Program *p, IpuErr *err);

#endif
