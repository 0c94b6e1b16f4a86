/* graph.h - what lives where: tensors on tiles, remote buffers, compute sets
 * and vertices, over all chips of an arch.
 *
 * Tiles are numbered globally: chip * tiles_per_chip + tile. A tensor is a
 * flat array of elements of one dtype with a tile mapping: sorted intervals
 * [begin, end) of element indices, each on one tile, covering the tensor
 * exactly. Each interval is allocated in that tile's SRAM (sim/sram.h) when
 * the tensor is added, so a graph that does not fit fails at construction
 * with the tile named. In functional mode every tensor and remote buffer
 * also has a host data buffer: the host reads and writes it through the
 * backdoor (no cycles, no stats) and vertex args point into it.
 *
 * Remote buffers live in streaming memory, one chip's each, capacity-checked
 * per machine. Compute sets hold vertices (tile, VertexType, copied args).
 * Not here: programs (sim/program.h) and running them (sim/engine.h).
 */
#ifndef IPUSIM_GRAPH_H
#define IPUSIM_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "sim/arch.h"
#include "sim/sram.h"
#include "sim/vertex.h"

typedef enum GraphDType { DTYPE_FP16, DTYPE_FP32, DTYPE_U16, DTYPE_U8, DTYPE_I32, DTYPE_COUNT } GraphDType;
extern const char *const graph_dtype_names[DTYPE_COUNT];
size_t graph_dtype_bytes(GraphDType t);

typedef enum GraphMode { GRAPH_TIMING, GRAPH_FUNCTIONAL } GraphMode;

/* Elements [begin, end) of a tensor live on global tile `tile`. */
typedef struct TileInterval {
    uint64_t begin, end;
    uint32_t tile;
} TileInterval;

/* A tensor's intervals on one tile form one SRAM block (each interval
 * 8-byte aligned inside it, in element order). */
typedef struct TileBlock {
    uint32_t tile;
    uint64_t bytes;
    int64_t offset;       /* byte offset in the tile's SRAM; -1 until placed */
} TileBlock;

typedef enum TensorPlacement {
    TENSOR_UNPLACED,      /* not-always-live, waiting for sim/layout */
    TENSOR_IN_SRAM,       /* blocks allocated in the Sram (always-live) */
    TENSOR_LAID_OUT,      /* blocks placed by sim/layout among tensors of disjoint lives */
} TensorPlacement;

typedef struct Tensor {
    char name[64];
    GraphDType dtype;
    uint64_t elems;
    SramCategory cat;
    int always_live;      /* 1: holds its bytes for the whole program (weights, KV cache, code, stack, or set
                           * by graph_tensor_set_always_live); 0: lives only from a write to its last read,
                           * and shares bytes with tensors whose lives do not overlap (graph_layout) */
    TileInterval *map;    /* (nmap) sorted, covering [0, elems) */
    size_t nmap;
    int64_t *sram_offset; /* (nmap) byte offset of each interval in its tile's SRAM; -1 until placed */
    TileBlock *blocks;    /* (nblocks) sorted by tile */
    size_t nblocks;
    uint32_t *block_of;   /* (nmap) the block of each interval */
    uint64_t *inner;      /* (nmap) each interval's byte offset inside its block */
    TensorPlacement placed;
    void *data;           /* functional mode: (elems) host copy; NULL in timing mode */
} Tensor;

typedef struct RemoteBuffer {
    char name[64];
    uint32_t chip;
    uint64_t bytes;
    void *data;           /* functional mode: (bytes); NULL in timing mode */
} RemoteBuffer;

typedef struct Vertex {
    uint32_t tile;
    const VertexType *type;
    void *args;           /* owned copy, type->args_bytes */
} Vertex;

/* How a compute set's vertices use a tensor. */
typedef enum TensorAccess { ACCESS_READ = 1, ACCESS_WRITE = 2, ACCESS_READ_WRITE = 3 } TensorAccess;

typedef struct TensorUse {
    int tensor;
    unsigned access;      /* TensorAccess bits, OR-ed over every declaration */
} TensorUse;

typedef struct ComputeSet {
    char name[64];
    Vertex *v;
    size_t count, cap;
    TensorUse *uses;      /* (nuses) sorted by tensor id: what the vertices read and write */
    size_t nuses, cap_uses;
} ComputeSet;

typedef struct Graph {
    IpuArch arch;
    GraphMode mode;
    Sram *sram;
    Tensor *tensors;
    size_t ntensors, cap_tensors;
    RemoteBuffer *remotes;
    size_t nremotes, cap_remotes;
    double *remote_bytes_per_machine; /* (machines) */
    ComputeSet *cs;
    size_t ncs, cap_cs;
    struct Layout *layout;            /* sim/layout.h: the last memory layout, NULL before one */
    int layout_stale;                 /* tensors or their uses changed since it was made */
} Graph;

/* The arch is validated and copied. NULL with err on a bad arch or no host memory. */
Graph *graph_create(const IpuArch *arch, GraphMode mode, IpuErr *err);
void graph_destroy(Graph *g);

/* Adds a tensor; returns its id (>= 0) or -1. Errors name the tensor and the
 * tile (nonexistent tile, interval gaps/overlaps, out of tile memory).
 * An always-live tensor (category weights, KV cache, code or stack) is
 * allocated now, one block per tile; any other waits for sim/layout, which
 * places it by its live range once the program is known. */
int graph_add_tensor(Graph *g, const char *name, GraphDType dtype, uint64_t elems, SramCategory cat,
                     const TileInterval *map, size_t nmap, IpuErr *err);
/* The same with the tensor's life given: 1 always-live, 0 not (whatever its category). */
int graph_add_tensor_life(Graph *g, const char *name, GraphDType dtype, uint64_t elems, SramCategory cat,
                          int always_live, const TileInterval *map, size_t nmap, IpuErr *err);
/* Convenience: elems spread over tiles [first_tile, first_tile + ntiles) in
 * near-equal contiguous intervals of multiples of `grain` elements. */
int graph_add_tensor_linear(Graph *g, const char *name, GraphDType dtype, uint64_t elems, SramCategory cat,
                            uint32_t first_tile, uint32_t ntiles, uint64_t grain, IpuErr *err);
/* Recomputes each interval's sram_offset from its block's offset (after sim/layout placed the blocks). */
void graph_tensor_set_offsets(Tensor *t);
/* Allocates the tensor's blocks in the Sram now (always-live); -1 with the
 * allocator's out-of-memory error, nothing left allocated. */
int graph_tensor_alloc(Graph *g, int id, IpuErr *err);
/* Forgets where the tensor's blocks are (frees them if in the Sram). */
void graph_tensor_unplace(Graph *g, int id);
/* Frees a tensor's tile SRAM (its id stays valid for names; using it in a step is an error). */
void graph_free_tensor(Graph *g, int id);
const Tensor *graph_tensor(const Graph *g, int id);
/* Functional mode: the tensor's host data (elems elements); NULL in timing mode. */
void *graph_tensor_data(Graph *g, int id);
/* Backdoor host access in elements; no cycles, no stats. -1 on a bad range or in timing mode. */
int graph_tensor_write(Graph *g, int id, uint64_t first, const void *src, uint64_t n, IpuErr *err);
int graph_tensor_read(const Graph *g, int id, uint64_t first, void *dst, uint64_t n, IpuErr *err);
/* The tile holding element i, and the index of its interval. */
uint32_t graph_tensor_tile_of(const Tensor *t, uint64_t i, size_t *interval);
/* 1 if the whole tensor is on one chip; *chip receives it. */
int graph_tensor_chip(const Graph *g, const Tensor *t, uint32_t *chip);

/* Remote buffer in the streaming memory of `chip`'s machine; -1 if the
 * machine's capacity is exceeded (names the buffer, chip and bytes). */
int graph_add_remote(Graph *g, const char *name, uint32_t chip, uint64_t bytes, IpuErr *err);
const RemoteBuffer *graph_remote(const Graph *g, int id);
void *graph_remote_data(Graph *g, int id);

int graph_add_compute_set(Graph *g, const char *name, IpuErr *err);
/* Copies args (type->args_bytes). Error names the tile when it does not exist. */
int graph_add_vertex(Graph *g, int cs, uint32_t tile, const VertexType *type, const void *args, IpuErr *err);
const ComputeSet *graph_compute_set(const Graph *g, int id);
/* Declares that cs's vertices access tensor (OR-ed into an earlier
 * declaration). Tensor liveness (graph_layout) takes a tensor's uses from
 * these and from the Copy, StreamCopy and collective steps that name it, so
 * every tensor a vertex's args point into must be declared: a write that
 * does not also read is taken to start a new value. Errors name the set. */
int graph_cs_use(Graph *g, int cs, int tensor, TensorAccess access, IpuErr *err);
/* Keeps the tensor's bytes for the whole program (e.g. written by the host
 * and read by several runs). */
void graph_tensor_set_always_live(Graph *g, int id, int on);

#endif
