/* engine_priv.h - the engine's state and the functions its files share,
 * private to sim/engine*.c: engine.c (the step loop), engine_fuse.c (the
 * functional fast paths over two Executes: tile by tile, and dead writes
 * skipped), engine_alias.c (zero-copy streaming).
 *
 * Not a public interface.
 */
#ifndef IPUSIM_ENGINE_PRIV_H
#define IPUSIM_ENGINE_PRIV_H

#include <stdint.h>

#include "sim/engine.h"
#include "sim/engine_cost.h"
#include "sim/engine_exec.h"

#define ENGINE_MAX_DEPTH EXEC_MAX_DEPTH

/* Below this much host work (native worker cycles) a compute set takes a
 * few microseconds: an OpenMP team would cost more than it saves (and much
 * more on a loaded machine, where a descheduled thread holds the barrier).
 * Host speed only; results do not depend on it. */
#define ENGINE_PARALLEL_MIN_WORK (1ull << 20)
/* The same for a Copy step's data movement, in bytes. */
#define ENGINE_PARALLEL_COPY_BYTES (256u << 10)

/* Functional fast path: leaves whose data effects a fused Execute already
 * performed (see engine_fuse.c): Copy steps, then the second Execute, whose
 * result (cycles in its CsCache, or a fault) waits here. */
#define PRERUN_MAX 8
typedef struct Prerun {
    int ncopies, next;       /* Copy step ids done early, and how many were reached */
    int copies[PRERUN_MAX];
    int exec_step;           /* the second Execute's step id; -1: nothing pending */
    int rc;                  /* its result: 0, or -1 with msg */
    char msg[512];
} Prerun;

/* Dead writes skipped: the producer Execute whose vertices on the deferred
 * tiles were left to a fusion at the consumer's step. */
typedef struct Skip {
    int b_step;              /* the consumer's step id; -1: none pending */
    int a_step, a_cs;        /* the producer's step and compute set */
    const VertexFusion *fu;
    uint8_t *deferred;       /* (the producer's tile groups) 1: not run, the fusion computes the consumer there */
    size_t cap;
    unsigned char *notes;    /* (the producer's tile groups, fu->note_bytes each) from CHECK to RUN */
    size_t cap_notes;
} Skip;

/* Poisoning: a tensor whose write the engine skipped, watched until its
 * next write, so that a step reading it is an error. */
typedef struct Watch {
    int tensor;
    int producer;            /* the step whose write was skipped */
} Watch;

/* Zero-copy streaming: tensors whose bytes are still in a remote buffer. */
typedef struct Alias {
    const char **at;         /* (cap) per tensor: where its bytes are; NULL: in its host buffer */
    int *remote;             /* (cap) that remote buffer */
    uint8_t *done;           /* (cap) copied to the host buffer inside a parallel loop (alias_settle forgets it) */
    size_t cap;
    int *ids;                /* (n) the tensors with bytes elsewhere */
    size_t n, cap_ids;
    /* a StreamCopy's transfers grouped by tensor (alias_stream scratch, per tensor) */
    uint64_t *next;          /* the element the tensor's next transfer must start at; UINT64_MAX: not in place */
    int64_t *base;           /* its byte offset in the remote buffer, less first * element size */
    uint32_t *stamp, now;
    /* ids' host-buffer ranges sorted by address, for alias_at (rebuilt by alias_index when stale) */
    struct AliasRange { const char *lo, *hi; int id; } *index;
    size_t cap_index;
    int stale;
} Alias;

typedef struct MeasureEntry {
    const VertexType *type;
    uint64_t key, cycles;
} MeasureEntry;

struct Engine {
    Graph *g;
    Trace *trace;
    Stats stats;
    uint64_t now;
    const Program *prog;   /* running program, NULL when done */
    const Program *started;/* last validated program, for engine_restart */
    int started_root;
    StepCost *cost;        /* (prog->nsteps) */
    size_t ncost;
    const Program *costed; /* the program cost[] belongs to */
    size_t cost_ntensors, cost_nremotes; /* the graph's when cost[] was last validated whole (keep_costs) */
    CsCache *csc;          /* (g->ncs) */
    size_t ncsc;
    MeasureEntry *mtab;    /* open addressing, mcap a power of two */
    size_t mcap, mcount;
    Frame stack[ENGINE_MAX_DEPTH];
    int sp;
    CostScratch cx;            /* Copy / StreamCopy costing scratch */
    uint64_t pending_cycles;   /* overlapped stream still running */
    int pending_category;
    int timed_functional;      /* 1: functional mode runs every vertex through run() */
    unsigned fast;             /* ENGINE_FAST_* paths allowed (with native codelets only) */
    Prerun pre;
    int poison;                /* functional: fill a tensor's bytes with 0xff when its value dies (sim/layout) */
    size_t pos;                /* the layout position of the next leaf step */
    const VertexFusion *fusions;
    size_t nfusions;
    Skip skip;
    Watch *watch;
    size_t nwatch, cap_watch;
    Alias alias;
};

/* 1 if fast path f (ENGINE_FAST_*) is on: functional, native codelets, allowed. */
int engine_fast_on(const Engine *e, unsigned f);

/* engine.c */
int engine_cs_group(Engine *e, int id);
/* The functional native path's worker cycles of each vertex of cs (measure() + 1, 0: none), once per set. */
int engine_native_cycles(Engine *e, const ComputeSet *cs, CsCache *c);
/* A Copy step's data movement (reading tensors left in remote buffers where they are). */
void engine_do_copy(Engine *e, const Step *s);

/* engine_fuse.c: an Execute with the one after it. Each returns 1 when it
 * ran (or deferred) the step, with its cycles in the set's CsCache, 0 when
 * it does not apply, -1 on error. */
int fuse_tiles(Engine *e, const Step *s, IpuErr *err);
int fuse_skip(Engine *e, const Step *s, IpuErr *err);
/* The consumer of a skip pending for step s: 1 done, 0 none pending, -1 error. */
int fuse_consume(Engine *e, const Step *s, IpuErr *err);
/* 1 if Copy step id already moved its data in a fused Execute (consumed now). */
int fuse_prerun_copy(Engine *e, int id);
/* The Execute step s whose result a tile-by-tile fusion left: 1 taken, 0 none. */
int fuse_prerun_exec(Engine *e, const Step *s, IpuErr *err);
/* Poisoning: the watched tensors against the step about to run: -1 when it reads one. */
int fuse_watch(Engine *e, const Step *s, IpuErr *err);
void fuse_free(Engine *e);

/* engine_alias.c */
void alias_free(Alias *a);
/* A StreamCopy's data movement: in place (remote bytes left where they are) where the layout allows. */
int alias_stream(Engine *e, const Step *s);
/* Sorts the aliased tensors' host ranges for alias_at; call outside parallel loops. -1 on no host memory. */
int alias_index(Engine *e);
/* VertexMem.at with ctx an AliasReader: one per thread (it remembers its
 * last hits, so a tile's few slices cost a compare each). */
#define ALIAS_READER_HITS 4
typedef struct AliasReader {
    const Engine *e;
    struct { const char *lo, *hi, *to; } hit[ALIAS_READER_HITS];
    unsigned next;
} AliasReader;
void alias_reader_init(AliasReader *r, const Engine *e);
const void *alias_at(const VertexMem *m, const void *p, size_t n);
/* Where tensor id's bytes can be read now. */
const char *alias_data(const Engine *e, int id);
/* Copies tensor id's bytes to its host buffer and forgets where they were. */
void alias_materialize(Engine *e, int id);
/* The same inside a parallel loop (alias_settle afterwards). */
void alias_materialize_shared(Engine *e, int id);
void alias_settle(Engine *e);
/* Every tensor touched (a footprint: g->ntensors flags) gets its bytes home. */
void alias_materialize_touched(Engine *e, const uint8_t *touched);
void alias_materialize_all(Engine *e);
/* Tensor id's value is dead or about to be overwritten whole: forget where its bytes were. */
void alias_forget(Engine *e, int id);
/* 1 if some tensor touched has its bytes elsewhere. */
int alias_any_touched(const Engine *e, const uint8_t *touched);

#endif
