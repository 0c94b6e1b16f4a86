/* model.h - the lowered model's state, shared by host/lower/model.c
 * (building the graph and programs) and host/lower/io.c (functional
 * weights, per-step ids and positions, reading results). Private to the
 * lowering: everything else uses host/lower/lower.h.
 */
#ifndef IPUSIM_LOWER_MODEL_H
#define IPUSIM_LOWER_MODEL_H

#include "host/lower/lower.h"

#define MC LOWER_MAX_CHIPS /* per chip arrays below: [c] is chip c's tensor id */
/* The vocabulary shard may be padded by up to this percentage to tile better. */
#define VOCAB_PAD_PERCENT 8
/* Assumptions (documented in docs/architecture.md): per-tile code + vertex state and worker stacks. */
#define CODE_BYTES_PER_TILE 16384
#define STACK_BYTES_PER_TILE 7 * 1024

/* A layer's linears, in the order they run: q_proj, k_proj, v_proj
 * (computed transposed, V^T), out_proj, fc_in, fc_out. */
typedef enum LayerLinear { LQ, LK, LV, LO, LFI, LFO, NLIN } LayerLinear;
extern const char *const lower_lin_names[NLIN];

/* A LayerNorm of few long rows spread over slice tiles (host/lower/layernorm.c). */
typedef struct LnSplit {
    uint32_t rows, nt, w, ns; /* rows; slice tiles per row; vertices per tile; slices per row (nt * w) */
    uint32_t tile0;           /* row r's slice tile j is local tile tile0 + r * nt + j */
    int xs[MC];               /* (rows, C) fp16: the rows, cut into slices over the slice tiles */
    int pb[MC];               /* (rows, 2C) fp16: each slice's gain and bias */
    int part[MC];             /* (rows, ns, 2) fp32: each slice's partial sums (on its slice tile) */
    int sts[MC];              /* (slice tiles, 2) fp32: {mean, rstd} copied back to each slice tile */
    int pall[MC];             /* (rows, ns, 2) fp32: a row's partials gathered on its combining tile */
    int stc[MC];              /* (rows, 2) fp32: {mean, rstd} as combined */
    int cs[5];                /* compute sets: stats pass 1, combine 1, stats pass 2, combine 2, apply */
} LnSplit;

/* Slice tiles per row (0: one tile per row is estimated faster) for rows
 * of C, rows_per_tile of them on the busiest row tile; *est_cycles the
 * chosen estimate. Deterministic. */
uint32_t lower_ln_plan(const LowerBuilder *b, uint32_t rows, uint32_t rows_per_tile, uint32_t C, double *est_cycles);
/* Tensors and compute sets (all chips; vertices for vchips) from b->cursor. */
int lower_ln_build(Lowered *L, LnSplit *ls, const char *name, uint32_t rows, uint32_t nt, IpuErr *err);
/* Appends to seq: params (2C per chip) to the slices, src rows (R, C) to
 * the slices, the passes and their exchanges, the result into dst (R*C
 * elements, any mapping). */
int lower_ln_seq(Lowered *L, const LnSplit *ls, int seq, const int *params, const int *src, const int *dst,
                 const char *label, IpuErr *err);

/* One step graph: the tensors and program of a step of t rows per
 * sequence (prefill, or a decode step of one). Row tensors are per chip,
 * whole rows on the row tiles; m = batch x t rows; C = n_embd; cc = the
 * chip's heads x head_dim; ic = the chip's share of n_inner; vc = the
 * chip's vocabulary shard. */
typedef struct StepGraph {
    uint32_t t, m;            /* rows per sequence, rows in all */
    uint32_t hrows;           /* rows per sequence the head (ln_f, LM head, argmax) runs on: 1, each sequence's
                               * last (the default), or t: every position's logits (RunOptions.logits = all) */
    int root;                 /* the program's root step */
    AttnPlan ap;              /* the attention's grid for t rows */
    int ids[MC];              /* (m) i32 token ids, written by the host before a run */
    int rot[MC];              /* (m, 2 rotary_dim) fp32 cos/sin rows of the step's positions, written by the host */
    int x[MC];                /* (m, C) fp16 the residual stream */
    int h[MC];                /* (m, C) fp16 ln_1(x) (one tile per row; the split path writes hs directly) */
    int lnbuf[MC];            /* (row tiles, 2C) fp16 ln_1's gain and bias on every row tile; -1 when split */
    int q[MC], k[MC];         /* (m, cc) fp16 queries and keys (rotated in place) */
    int vt[MC];               /* (cc, m) fp16 values, transposed */
    int att[MC];              /* (m, cc) fp16 attention output */
    int ao[MC];               /* (m, C) fp16 out_proj partial output (this chip's heads) */
    int u[MC];                /* (m, ic) fp16 fc_in output, gelu in place */
    int mo[MC];               /* (m, C) fp16 fc_out partial output */
    int s[MC];                /* (m, C) fp16 ao + mo, then summed over chips by an all-reduce */
    int last[MC];             /* (batch x hrows, C) fp16 each sequence's head rows, ln_f in place */
    int lnfbuf[MC];           /* (last row tiles, 2C) fp16 ln_f's gain and bias; -1 when split */
    int logits[MC];           /* (batch x hrows, vc) fp16 this chip's logits, read by the host */
    int aidx[MC], aval[MC];   /* (batch x hrows) i32 / fp32 this chip's argmax and its value, read by the host */
    int hs[MC], atts[MC], us[MC], lasts[MC]; /* h, att, u, last spread over the chip's tiles: the linears' inputs (spread_copy) */
    int emb_a, emb_b;         /* the embedding's two sequences (lower_linear_build) */
    int select_copy;          /* the Copy of each sequence's last row into last (KV off: patched per position) */
    int *kv_copy;             /* (n_layer) each layer's Copy writing the new keys and values into its cache */
    int *kvstage;             /* (n_layer, chips, LOWER_KV_STAGE) a quantized cache's staging of each layer */
    int *smx_cs;              /* (n_layer) each layer's first softmax compute set (pos0 patched per decode step) */
    int rt0, nrt;             /* row tiles of the residual rows: nrt tiles from local tile rt0 */
    int lrt0, nlrt;           /* row tiles of the head rows */
    int split_ln1, split_lnf; /* ln_1 / ln_f over slice tiles (ln1s, lnfs), else one tile per row */
    LnSplit ln1s, lnfs;
} StepGraph;

struct Lowered {
    LowerBuilder b;
    RunOptions opt;
    GptjConfig cfg;
    Placement placement;     /* resident or stream (what auto chose) */
    uint32_t hc;             /* heads per chip */
    uint32_t cc;             /* hc x head_dim: a chip's width of q, k, v and att */
    uint32_t ic;             /* n_inner / chips: a chip's width of the MLP hidden layer */
    uint32_t vc, vp;         /* vocabulary rows per chip (padded shard) and over all chips */
    uint32_t s;              /* sequence length (padded) */
    LinearPlan pl[NLIN];     /* each layer linear's plan (grid for the prefill's rows) */
    LinearPlan plm, pemb;    /* the LM head's and the embedding's plans */
    QuantSpec spec[NLIN], spec_lm; /* the weight format of each linear and of the LM head */
    LinearWeights *lw;       /* (nsets, NLIN) weight tensors of each set */
    uint32_t *tile0;         /* (nsets, NLIN) first tile of each set's grid */
    int nsets;               /* weight sets: n_layer resident, 1 streamed, 2 streamed with overlap */
    LinearWeights emb, lm;   /* the embedding's and LM head's weights (resident) */
    int *ln1;                /* (n_layer, chips) ln_1's gain then bias, fp16 (2C) */
    int lnf[MC];             /* ln_f's gain then bias, fp16 (2C) */
    int *remote;             /* (n_layer, chips) each layer's weights in streaming memory (stream) */
    int *kc, *vtc;           /* (n_layer, chips) K and V^T caches (KV on), or (1, chips) scratch (KV off) */
    int *kaux;               /* (n_layer, chips, 4) a quantized cache's K scales, K biases, V scales, V biases */
    uint32_t *kv_tile0;      /* (n_layer or 1) first home tile of each layer's cache */
    StepGraph sg[2];         /* prefill, decode (KV on) */
    int nsg;                 /* step graphs: 2 with a KV cache, 1 without (every step re-runs the sequence) */
    uint32_t pos;            /* the position of each sequence's last row in the step prepared last */
    uint64_t weight_bytes;   /* all chips, stored formats */
    uint64_t kv_bytes;       /* KV cache bytes attention reads per step, all chips */
};


/* The step graph of t rows per sequence from position pos0 (host/lower/step.c):
 * its tensors, compute sets and the program under sg->root. */
int lower_step_graph(Lowered *L, StepGraph *sg, uint32_t t, uint32_t pos0, IpuErr *err);

/* Functional mode: converts and writes every weight of w into its tensors
 * (resident) or remote buffers (stream), in the planned block layout. */
int lower_write_weights(Lowered *L, const GptjWeights *w, IpuErr *err);

#endif
