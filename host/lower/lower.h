/* lower.h - lowering GPT-J onto the simulated machine: graph, tile mapping,
 * programs (host/lower/). gptj_run.c drives it; tests read its state.
 *
 * The pieces, one file each:
 * - builder.c: LowerBuilder, the graph and program being built; vertex
 *   args that declare their tensor uses (lower_in / lower_out /
 *   lower_inout, which the memory layout's live ranges come from); tile
 *   helpers (row, block and interleaved tensors); BSP helpers (a Sync then
 *   a Copy).
 * - linear.c, linear_plan.c: the linear layer. lower_plan_linear
 *   (linear_plan.c) picks a grid of N blocks
 *   x K blocks, repeated over row groups (weights copied to each group by
 *   exchange); an instance copies activations to per-tile slices in chunks
 *   of rows, runs AMP matmuls (or embedding gathers) into partials,
 *   reduce-scatters the partials over the N block's tiles, reduces (+ bias)
 *   and copies the sums to a row-major output.
 * - attention.c: per (sequence, head) a grid of query waves x key blocks
 *   over tiles, K cache (keys, hd) and V^T cache (hd, keys).
 * - layernorm.c: a LayerNorm of few long rows split over slice tiles.
 * - model.c (state in model.h): tensor parallel over chips, weight
 *   placement, the memory layout of both programs; step.c: one step graph
 *   per distinct rows-per-step (prefill / decode).
 * - io.c: functional weights, per-step ids and positions, reading tokens
 *   and logits.
 *
 * Not here: the run loop and results (gptj_run.c), reports.
 */
#ifndef IPUSIM_LOWER_H
#define IPUSIM_LOWER_H

#include <stdint.h>

#include "codelets/wdec.h"
#include "host/run_options.h"
#include "models/gptj_weights.h"
#include "models/quant.h"
#include "sim/engine.h"
#include "sim/graph.h"
#include "sim/program.h"

#define LOWER_MAX_CHIPS 64
/* The default share of what always-live tensors leave on a tile that one
 * linear's temporaries plan for: Poplar's availableMemoryProportion default
 * (docs/reference/poplin-matmul.md). */
#define LOWER_MEMORY_PROPORTION 0.6

/* Measured decompress cycles of one and two units (groups; nf4g+dq:
 * segments of seg groups) per (vertex type, group size, seg), kept for the
 * planner: it prices thousands of candidate grids, a measure() runs the
 * codelet on scratch data, and every variant's cycles are affine in the
 * units (tests/test_decompress.c checks it), so two measures give all. */
#define LOWER_DEC_MEMO 64
typedef struct DecMemo {
    const void *vt[LOWER_DEC_MEMO];
    uint32_t seg[LOWER_DEC_MEMO];
    uint32_t group[LOWER_DEC_MEMO];
    uint64_t one[LOWER_DEC_MEMO], two[LOWER_DEC_MEMO]; /* worker cycles of 1 and 2 groups */
    int n;
} DecMemo;

typedef struct LowerBuilder {
    Graph *g;             /* the graph being built (owned by the Lowered, or by a standalone builder) */
    Program *p;           /* its program: every step graph's steps */
    uint32_t chips;       /* chips used (tensor-parallel degree) */
    uint32_t vchips;      /* chips whose vertices and Copy pairs are built: all in functional mode;
                           * chip 0 only in timing mode (tensor-parallel symmetry: every chip runs
                           * the same shapes and chip 0 has the most work (fc_out bias), so a step's
                           * time, the max over chips, is chip 0's; streams and collectives still
                           * name every chip). tests/test_lower.c checks timing == functional. */
    uint32_t tiles;       /* tiles per chip */
    uint32_t usable;      /* tiles per chip for compute (tiles - io_tiles) */
    uint32_t cursor;      /* next local tile a new grid starts on (spreads memory) */
    int functional;       /* 1: functional mode (tensors have host data, every chip's vertices are built) */
    LayerDtype partials;  /* matmul partial sums: fp16 or fp32 */
    double mem_prop;      /* share of what always-live tensors leave on a tile that one linear's
                           * temporaries may plan for (RunOptions.memory_proportion) */
    const VertexType *matmul_vt;     /* the AMP matmul vertex for `partials` */
    const VertexType *decompress_vt; /* the int4 decompress variant (run key decompress); NULL: fp16 only */
    const VertexType *wdec_vt[WDEC_FORMATS]; /* each WdecFormat's decompress variant (its family's default) */
    /* int4 decompress scratch shared by every linear (they run one after
     * another): per chip a tensor of dec_pool_elems fp16 on each usable tile
     * (local tile i at element i * dec_pool_elems); dec_pool_elems = 0: none,
     * each linear allocates its own (lower_linear_alloc_weights) */
    int dec_pool[LOWER_MAX_CHIPS];
    uint64_t dec_pool_elems;
    /* the first failed use declaration (lower_in / lower_out / lower_inout
     * return a pointer, so they keep their error here for lower_vertex) */
    int use_failed;
    IpuErr use_err;
    DecMemo *dec_memo;    /* owned; NULL: measure every time */
    uint32_t gc_rot;      /* scheme = graphcore: the local tile the next linearly mapped tensor starts on */
    int gc_unpack_estimate; /* scheme = graphcore what-if: the unpack vertex costs its popxl perf estimate */
} LowerBuilder;

/* A builder of its own graph and program for one chip of arch a in timing
 * mode (chips = vchips = 1), with the model's per-tile code and stack
 * reservations and the RunPhase categories: for benches and tests that
 * lower one layer alone (fp16 weights: no decompress vertex). */
int lower_builder_standalone(LowerBuilder *b, const IpuArch *a, LayerDtype partials, IpuErr *err);
/* Frees what lower_builder_standalone created; zeroes b. */
void lower_builder_free(LowerBuilder *b);

/* Global tile of local tile t (taken modulo usable) on chip c. */
static inline uint32_t lower_tile(const LowerBuilder *b, uint32_t chip, uint32_t t)
{
    return chip * b->tiles + t % b->usable;
}
/* Vertex args: a pointer to element `first` of a tensor's host data (NULL
 * in timing mode) that also declares the tensor's use by compute set cs
 * (graph_cs_use; tensor liveness takes a tensor's uses from these, so every
 * pointer in a vertex's args comes from one of them):
 *   lower_in     the vertices read it;
 *   lower_out    they write it without reading it first: a new value, so the
 *                tensor's previous value is dead once last read before this;
 *   lower_inout  they read and write it (in place: out == in, accumulate).
 * A failed declaration is kept in the builder; lower_vertex returns it. */
void *lower_in(LowerBuilder *b, int cs, int id, uint64_t first);
void *lower_out(LowerBuilder *b, int cs, int id, uint64_t first);
void *lower_inout(LowerBuilder *b, int cs, int id, uint64_t first);
/* graph_add_vertex, or -1 with the builder's first failed use declaration.
 * Args structs with padding bytes are memset to 0 before their fields are
 * set: sim/footprint.c reads every pointer-sized word, and stack garbage in
 * the padding (often the upper half of a heap pointer) can look like a
 * pointer into a tensor. */
int lower_vertex(LowerBuilder *b, int cs, uint32_t tile, const VertexType *type, const void *args, IpuErr *err);
/* 0, or -1 with the builder's first failed use declaration. */
int lower_uses_ok(const LowerBuilder *b, IpuErr *err);
/* A tensor of nblocks blocks of block_elems elements, block i on local tile
 * tile0 + i (mod usable) of chip. */
int lower_tensor_blocks(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint32_t nblocks,
                        uint64_t block_elems, uint32_t tile0, SramCategory cat, IpuErr *err);
/* The same with the tensor's life given (graph_add_tensor_life). */
int lower_tensor_blocks_life(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint32_t nblocks,
                             uint64_t block_elems, uint32_t tile0, SramCategory cat, int always_live, IpuErr *err);
/* A tensor (rows, width) of whole rows spread over ntiles local tiles from tile0. */
int lower_tensor_rows(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint64_t rows, uint64_t width,
                      uint32_t tile0, uint32_t ntiles, SramCategory cat, IpuErr *err);
/* Appends a Sync (chip) then a new Copy step to seq; returns the Copy id. */
int lower_copy(LowerBuilder *b, int seq, const char *label, IpuErr *err);
int lower_exec(LowerBuilder *b, int seq, int cs, const char *label, RunPhase ph, IpuErr *err);
int lower_append(LowerBuilder *b, int seq, int step, IpuErr *err);

/* ---- linear layers ---- */

typedef enum LinearKind {
    LIN_MATMUL,     /* y (M, N) = x (M, K) W^T */
    LIN_MATMUL_T,   /* y^T (N, M) = W x^T: the AMP's weights are x (for V^T) */
    LIN_GATHER,     /* embedding: K = vocabulary rows of the shard, x = token ids */
} LinearKind;

typedef struct LinearPlan {
    LinearKind kind;
    uint32_t k, n;        /* per chip */
    uint32_t nb, kb;      /* grid: nb blocks of outputs x kb blocks of inputs */
    uint32_t nblk, kblk;  /* n / nb, k / kb */
    uint32_t mb;          /* row groups, each on its own copy of the grid (group 0 holds the weights,
                           * the others get a copy by exchange); chosen per instance's rows */
    uint32_t group;       /* group size along k (q4g, s4g, nf4g, nf4g+dq, i8g); 0 = fp16 weights, or one
                           * scale per row segment of a block (i8c, fp8: wfmt set) */
    uint8_t wfmt;         /* 0: fp16 (group 0) or q4g; else 1 + the WdecFormat (codelets/wdec.h) of the
                           * weights, decompressed by that format's codelet (lower_plan_wdec) */
    uint32_t row_len;     /* the whole matrix's row length (all chips): nf4g+dq's second-level blocks of 256
                           * groups run over its row-major groups */
    uint8_t fp8_amp;      /* fp8 weights go into the AMP as they are (arch amp_macs_per_cycle_fp8): no
                           * decompress, fp32 partials, each block's partials multiplied by the rows'
                           * scales (partscale) before the reduce */
    int gc;               /* int4 under scheme = graphcore: codes, scales and biases in the load layout,
                           * decompressed by Graphcore's pipeline (linear_gc.c); planned as fp16 */
    uint32_t tile0;       /* block (i, j) of row group g is on local tile tile0 + (g * nb + i) * kb + j */
    int has_bias;
    double est_cycles;    /* the planner's estimate for m_plan rows */
    uint32_t m_plan;
} LinearPlan;

/* The WdecFormat of pl's weights, or -1 (fp16, q4g). */
static inline int lower_plan_wdec(const LinearPlan *pl) { return (int)pl->wfmt - 1; }
/* 1 when pl's weights are stored in a quantized format (any but fp16). */
static inline int lower_plan_quantized(const LinearPlan *pl) { return pl->group || pl->wfmt; }
/* 1 when they are decompressed to fp16 on the tiles before the matmul. */
static inline int lower_plan_decompressed(const LinearPlan *pl) { return lower_plan_quantized(pl) && !pl->fp8_amp; }
/* The partials pl's matmuls write: the run's, or fp32 for fp8 weights into
 * the AMP (unscaled fp8 values, up to 448 or 57344, would overflow fp16). */
static inline LayerDtype lower_plan_partials(const LowerBuilder *b, const LinearPlan *pl)
{
    return pl->fp8_amp ? LAYER_F32 : b->partials;
}
/* Weights per scale along a block's row: the group, or the row segment (kblk). */
static inline uint32_t lower_plan_qgroup(const LinearPlan *pl) { return pl->group ? pl->group : pl->kblk; }

/* The stored tensors of one block of pl: elements and dtype of w (fp16
 * weights or codes), scale (per group: fp16, or nf4g+dq's 8-bit codes) and
 * aux (q4g's group biases, nf4g+dq's {step, mean} per row); 0 elements: no
 * such tensor. The bias is separate (LinearWeights.bias). */
typedef struct LinearBlockTensors {
    uint64_t elems[3];
    GraphDType dt[3];
} LinearBlockTensors;
void lower_linear_block_tensors(const LinearPlan *pl, LinearBlockTensors *t);

/* Per chip weight tensors of one linear (one set: a layer's own when
 * resident, the shared buffers when streaming); per block as
 * lower_linear_block_tensors gives. */
typedef struct LinearWeights {
    int w[LOWER_MAX_CHIPS];     /* fp16 (blocks, nblk, kblk); 4-bit codes u16 (blocks, nblk, kblk/4); 8-bit u8 (blocks, nblk, kblk) */
    int scale[LOWER_MAX_CHIPS]; /* quantized: (blocks, nblk, kblk/qgroup) fp16; nf4g+dq: u8 codes */
    int bias_q[LOWER_MAX_CHIPS];/* q4g: (blocks, nblk, kblk/group) fp16 the groups' biases (offsets);
                                 * nf4g+dq: (blocks, 2 + lower_dq_steps) fp32 {mean, phase, steps} (codelets/wdec.h); else -1 */
    int bias[LOWER_MAX_CHIPS];  /* (nb, kb, nblk) fp16, each N block's bias on each of its tiles; -1 if none */
    int dec[LOWER_MAX_CHIPS];   /* quantized: (blocks, nblk, kblk) fp16 decompress scratch, shared by every
                                 * instance of these weights (and by the other stream buffer set);
                                 * or the builder's dec_pool when it has one */
} LinearWeights;

/* Picks the grid for (m rows, k, n) minimising the estimated cycles subject
 * to the per-tile budget; deterministic. Errors name the layer when no grid
 * divides the axes (group size not dividing a split). group: q4g's (0:
 * fp16); lower_plan_linear_fmt takes any stored format. */
int lower_plan_linear(const LowerBuilder *b, const char *name, LinearKind kind, uint32_t m, uint32_t k, uint32_t n,
                      uint32_t group, int has_bias, LinearPlan *out, IpuErr *err);
/* The same for weights that serve two step graphs: the grid minimising the
 * estimate for m rows plus steps2 x the estimate for m2 rows (each with its
 * own row groups: a prefill once, then steps2 decode steps). out->mb and
 * out->est_cycles are m's. */
int lower_plan_linear_steps(const LowerBuilder *b, const char *name, LinearKind kind, uint32_t m, uint32_t m2,
                            double steps2, uint32_t k, uint32_t n, uint32_t group, int has_bias, LinearPlan *out,
                            IpuErr *err);
/* A linear's stored format, as LinearPlan's fields of the same names. */
typedef struct LinearFmt {
    uint32_t group;
    uint8_t wfmt;
    uint32_t row_len;
    uint8_t fp8_amp;
} LinearFmt;
/* The same for weights stored in fmt. nf4g+dq also needs each row segment
 * (kblk / group groups) to divide its 256-group second-level block. */
int lower_plan_linear_fmt(const LowerBuilder *b, const char *name, LinearKind kind, uint32_t m, uint32_t m2,
                          double steps2, uint32_t k, uint32_t n, const LinearFmt *fmt, int has_bias, LinearPlan *out,
                          IpuErr *err);
/* nf4g+dq: second-level steps a block keeps (the most any block's row
 * segments can touch), after its mean and phase. */
uint32_t lower_dq_steps(const LinearPlan *pl);
/* An N block's partials are reduced in at most this many pieces, one per tile of the block. */
#define LOWER_REDUCE_PIECES 16
/* Bytes of temporaries per row of a chunk on a grid tile: input slice, partials, reducer buffers. */
uint64_t lower_linear_row_bytes(const LinearPlan *pl, LayerDtype partials);
/* Rows whose temporaries fit b->mem_prop of what the always-live tensors
 * (allocated before the step graphs) leave on every tile of every group;
 * *tightest / *tightest_used: the tile that limits it and its always-live bytes. */
uint32_t lower_linear_rows_fit(const LowerBuilder *b, const LinearPlan *pl, uint32_t *tightest,
                               uint64_t *tightest_used);
/* Rows per chunk so one tile's temporaries fit the budget (0: not one). */
uint32_t lower_linear_chunk(const LowerBuilder *b, const LinearPlan *pl, uint32_t m);
/* The row groups (pl->mb) with the lowest estimate for m rows on pl's grid,
 * and that estimate; 0 if no row fits. */
uint32_t lower_linear_groups(const LowerBuilder *b, const LinearPlan *pl, uint32_t m, double *est_cycles);
uint64_t lower_linear_weight_bytes(const LinearPlan *pl); /* per chip, stored */
/* Creates the builder's shared decompress scratch: elems fp16 per usable
 * tile of every chip (the largest int4 weight block of the linears). */
int lower_dec_pool(LowerBuilder *b, uint64_t elems, IpuErr *err);
int lower_linear_alloc_weights(LowerBuilder *b, const char *name, const LinearPlan *pl, SramCategory cat,
                               LinearWeights *w, IpuErr *err);

/* The activation buffers of a linear instance, shared by the instances of
 * the same plan on the same tiles (the two stream buffer sets): NULL, or a
 * zeroed struct filled by the first instance. */
typedef struct LinearScratch {
    int built;
    int in[LOWER_MAX_CHIPS], part[LOWER_MAX_CHIPS], red_in[LOWER_MAX_CHIPS], out[LOWER_MAX_CHIPS];
    int zeros[LOWER_MAX_CHIPS]; /* gather: zeros for ids outside the shard */
    int rw[LOWER_MAX_CHIPS], rscale[LOWER_MAX_CHIPS], rbq[LOWER_MAX_CHIPS], rbias[LOWER_MAX_CHIPS]; /* row groups' weight copies */
    int *copies; /* (chunks, 3) the Copy sub-sequences, shared too; free() it after the last instance */
    uint32_t mc; /* rows per chunk the first instance chose (by the tiles' free memory) */
} LinearScratch;

/* One instance for m rows: x (m, k) per chip (ids (m) for gather; a row
 * tensor), y per chip: (m, n) rows, or (n, m) for LIN_MATMUL_T. Its steps
 * go to two new sequences, *seq_a (decompress, first chunk's activations)
 * and *seq_b (the rest), so a caller may put a step (an overlapped stream)
 * just before the first matmul, and may append both to several layers'
 * sequences. bias_chips: chips whose reducers add the bias (bitmask). */
int lower_linear_build(LowerBuilder *b, const char *name, const LinearPlan *pl, const LinearWeights *w, uint32_t m,
                       const int *x, const int *y, uint64_t bias_chips, LinearScratch *scratch, int *seq_a, int *seq_b,
                       IpuErr *err);

/* Element of block bi's decompressed weights in the scratch tensor D (the
 * builder's dec pool, or a linear's own). */
uint64_t lower_linear_dec_first(const LowerBuilder *b, const LinearPlan *pl, int D, uint32_t c, uint32_t bi);

/* ---- scheme = graphcore (linear_gc.c) ---- */

/* The codes (n, k/4) u16, scales and biases (n, k/g) fp16 of pl's weights
 * on every chip, into w->w, w->scale, w->bias_q: each in popart's linear
 * mapping of a remote-loaded tensor, started at b->gc_rot (advanced). */
int lower_gc_alloc_weights(LowerBuilder *b, const char *name, const LinearPlan *pl, SramCategory cat, int always,
                           LinearWeights *w, IpuErr *err);
/* Appends to seq Graphcore's decompress of w into the dec blocks of the
 * first `blocks` blocks (every row group): unpack, the scales' exchange,
 * multiply, the biases' exchange, add, and the rearrangement Copy. */
int lower_gc_decompress(LowerBuilder *b, const char *name, const LinearPlan *pl, const LinearWeights *w,
                        uint32_t blocks, int seq, IpuErr *err);

/* ---- attention ---- */

typedef struct AttnPlan {
    uint32_t batch, t;       /* sequences, query rows per sequence in this step */
    uint32_t heads, hd;      /* heads per chip, head_dim */
    uint32_t s_pad, sb, nkb; /* keys (padded), keys per block, key blocks */
    uint32_t mqb, nqb;       /* query rows per wave, waves */
    uint32_t tile0;          /* home tile of cache block (b, h, j) is tile0 + (b * heads + h) * nkb + j */
    KvSpec kv;               /* the cache's format (kv_format): fp16, or quantized (attention_kv.c) */
} AttnPlan;

/* K cache (batch, heads, nkb) blocks of (sb, hd) and V^T cache blocks of
 * (hd, sb), each on its home tile. A quantized cache (ap->kv) holds codes
 * in kc, vtc and its scales and biases in kaux (per chip: K scales, K
 * biases, V scales, V biases; -1 where none); kaux is unused for fp16. */
int lower_attn_cache(LowerBuilder *b, const char *name, const AttnPlan *ap, SramCategory cat, int *kc, int *vtc,
                     int *kaux, IpuErr *err);
/* Appends the attention of one layer to seq: writes k rows (m, C/chips) and
 * vT (C/chips, m) into the caches at positions pos0.., then scores, causal
 * softmax, probs x V, reduce, into att rows (m, C/chips). *kv_copy: the Copy
 * step writing the caches (re-filled by lower_attn_kv_pairs when pos
 * changes); *softmax_cs: the first wave's softmax compute set (pos0 patched per decode step, where there is one wave). */
int lower_attn_build(LowerBuilder *b, int seq, const char *name, const AttnPlan *ap, const int *kc, const int *vtc,
                     const int *kaux, const int *q, const int *k, const int *vt, const int *att, uint32_t pos0,
                     int *kv_copy, int *softmax_cs, int *kvstage, IpuErr *err);
/* (Re)fills the cache-writing Copy step for positions pos0 ... (a quantized
 * cache: from the staging kvstage, lower_attn_kv_qpairs). */
int lower_attn_kv_pairs(LowerBuilder *b, int step, const AttnPlan *ap, const int *kc, const int *vtc, const int *kaux,
                        const int *kvstage, const int *k, const int *vt, uint32_t pos0, IpuErr *err);

/* ---- the quantized KV cache (attention_kv.c) ---- */

#define LOWER_KV_STAGE 8 /* staging tensors per chip of a quantized cache's writing (kvstage) */
/* The cache tensors of a quantized format on the blocks' tiles. */
int lower_attn_kv_cache(LowerBuilder *b, const char *name, const AttnPlan *ap, SramCategory cat, const uint32_t *tiles,
                        int *kc, int *vtc, int *kaux, IpuErr *err);
/* Appends to seq the writing of the step's new keys and values (staging
 * Copy, quantize, Copy into the slots: *kv_copy, its step) and the widening
 * of every block into kd, vd (per chip (blocks, sb, hd) and (blocks, hd,
 * sb) fp16 on the blocks' tiles wt), which the attention then reads. */
int lower_attn_kv_build(LowerBuilder *b, int seq, const char *name, const AttnPlan *ap, const uint32_t *wt,
                        const int *kc, const int *vtc, const int *kaux, const int *k, const int *vt, uint32_t pos0,
                        int *kd, int *vd, int *kv_copy, int *kvstage, IpuErr *err);
/* The quantized codes and scales of the staging into the cache slots of positions pos0 ... */
int lower_attn_kv_qpairs(LowerBuilder *b, int step, const AttnPlan *ap, const int *kc, const int *vtc, const int *kaux,
                         const int *kvstage, uint32_t pos0, IpuErr *err);

/* Functional (linear_pack.c): writes one chip's slice of the quantized
 * matrix q - rows r0 .. r0 + rows_valid (the plan's other n rows are
 * padding, zero) and columns c0 .. c0 + k - in the block layout into dst
 * buffers (one per tensor: w, scale, bias_q, bias; bias (n) fp32 or NULL).
 * The whole matrix is quantized once, so per-channel and per-tensor scales
 * and nf4g+dq's second level are the whole tensor's, as the reference's. */
int lower_linear_pack(const LinearPlan *pl, const QuantTensor *q, uint64_t r0, uint64_t c0, uint32_t rows_valid,
                      const float *bias, int bias_pad_neg_inf, void *dst_w, void *dst_scale, void *dst_bias_q,
                      uint16_t *dst_bias, IpuErr *err);
/* The embedding (LIN_GATHER): rows w (rows_valid of them, stride ld) as fp16. */
void lower_gather_pack(const LinearPlan *pl, const float *w, uint64_t ld, uint32_t rows_valid, uint16_t *dst_w);

/* ---- the lowered model ---- */

typedef struct Lowered Lowered;

int lower_gptj(const IpuArch *arch, const RunOptions *opt, const GptjWeights *w, Lowered **out, IpuErr *err);
void lower_destroy(Lowered *L);
Graph *lower_graph(Lowered *L);
/* The program of both step graphs: lower_prepare_prefill and
 * lower_prepare_decode set its root to the step graph they prepare. */
const Program *lower_program(Lowered *L);
Placement lower_placement(const Lowered *L);
/* The memory_proportion the lowering fitted with (the option's, or a half,
 * quarter or eighth of it when the layout did not fit). */
double lower_memory_proportion(const Lowered *L);
uint64_t lower_weight_bytes(const Lowered *L);      /* all chips, stored formats */
/* How the layers' weights reach the AMP: "fp16", "decompressed" (to fp16
 * on the tiles) or "fp8 direct" (into an fp8 AMP; v_proj, whose weights are
 * the AMP's streamed operand, still decompressed). */
const char *lower_weight_path(const Lowered *L);
uint64_t lower_kv_bytes_per_step(const Lowered *L); /* read by attention per step */
/* Weight bytes one run of the program reads (all chips, stored formats):
 * every layer and the LM head, and the embedding rows of its tokens. */
uint64_t lower_weight_bytes_read(const Lowered *L, int decode);
/* chips / vchips: what the engine's on-chip exchange bytes are multiplied by for all chips. */
uint32_t lower_symmetry_factor(const Lowered *L);
/* Sets token ids and positions for the next run, and the program's root.
 * prefill: prompt (batch, prompt_len) at positions 0..; its logits are
 * those of position prompt_len - 1. decode: tokens (batch; NULL in timing
 * mode) at position pos; its logits predict pos + 1. Functional mode writes
 * ids and rotary rows by the backdoor; both modes patch the position-
 * dependent Copy pairs and softmax positions (cycles do not depend on them). */
int lower_prepare_prefill(Lowered *L, const uint32_t *prompt, IpuErr *err);
int lower_prepare_decode(Lowered *L, uint32_t pos, const uint32_t *tokens, IpuErr *err);
/* Functional: after a run, the greedy token of each sequence (batch). */
int lower_read_tokens(Lowered *L, int decode, uint32_t *tokens, IpuErr *err);
/* Functional: after a run, the logits of each sequence's last position
 * (batch, vocab_size) as fp32 (from fp16). */
int lower_read_logits(Lowered *L, int decode, float *logits, IpuErr *err);
/* The same for positions [first, first + n) of each sequence: sequence s's
 * position first + i at logits + s x seq_stride + i x vocab_size. A step
 * holds its last position's logits, and with RunOptions.logits = all those
 * of every position of its rows up to it (the prefill's 0 .. prompt_len - 1;
 * without a KV cache 0 .. the step's position); others are an error. */
int lower_read_logits_at(Lowered *L, int decode, uint32_t first, uint32_t n, float *logits, uint64_t seq_stride,
                         IpuErr *err);

/* A tensor (rows, width) cut into grains of up to LOWER_INTERLEAVE_GRAIN
 * elements (a divisor of width), grain i on local tile i mod usable: any
 * few consecutive rows (a linear's chunk) lie on many tiles, so the tiles
 * sending a chunk's activations to a linear's grid are many. */
#define LOWER_INTERLEAVE_GRAIN 64
int lower_tensor_interleaved(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint64_t rows,
                             uint64_t width, IpuErr *err);

#endif
