/* model.h - the lowered model's state, shared by host/lower/model.c
 * (building the graph and programs) and host/lower/io.c (functional
 * weights, per-step ids and positions, reading results). Private to the
 * lowering: everything else uses host/lower.h.
 */
#ifndef IPUSIM_LOWER_MODEL_H
#define IPUSIM_LOWER_MODEL_H

#include "host/lower/lower.h"

#define MC LOWER_MAX_CHIPS
/* The vocabulary shard may be padded by up to this percentage to tile better. */
#define VOCAB_PAD_PERCENT 8
/* Assumptions (documented in docs/architecture.md): per-tile code + vertex state and worker stacks. */
#define CODE_BYTES_PER_TILE 16384
#define STACK_BYTES_PER_TILE 7 * 1024

enum { LQ, LK, LV, LO, LFI, LFO, NLIN };
extern const char *const lower_lin_names[NLIN];

/* A LayerNorm of few long rows spread over slice tiles (host/lower/layernorm.c). */
typedef struct LnSplit {
    uint32_t rows, nt, w, ns; /* rows; slice tiles per row; vertices per tile; slices per row (nt * w) */
    uint32_t tile0;           /* row r's slice tile j is local tile tile0 + r * nt + j */
    int xs[MC], pb[MC], part[MC], sts[MC], pall[MC], stc[MC];
    int cs[5];                /* stats pass 1, combine 1, stats pass 2, combine 2, apply */
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

typedef struct StepGraph {
    uint32_t t, m;            /* rows per sequence, rows in all */
    int root;
    AttnPlan ap;
    int ids[MC], rot[MC], x[MC], h[MC], lnbuf[MC], q[MC], k[MC], vt[MC], att[MC], ao[MC], u[MC], mo[MC], s[MC];
    int last[MC], lnfbuf[MC], logits[MC], aidx[MC], aval[MC];
    int hs[MC], atts[MC], us[MC], lasts[MC]; /* linear inputs spread over the chip's tiles (see spread_copy) */
    int emb_a, emb_b, select_copy;
    int *kv_copy, *smx_cs;    /* (L) */
    int rt0, nrt, lrt0, nlrt; /* row tiles of the residual rows and of the last rows */
    int split_ln1, split_lnf; /* ln_1 / ln_f over slice tiles (ln1s, lnfs), else one tile per row */
    LnSplit ln1s, lnfs;
} StepGraph;

struct Lowered {
    LowerBuilder b;
    RunOptions opt;
    GptjConfig cfg;
    Placement placement;
    uint32_t hc, cc, ic, vp, vc, s;
    LinearPlan pl[NLIN], plm, pemb;
    QuantSpec spec[NLIN], spec_lm;
    LinearWeights *lw; /* (nsets, NLIN) */
    uint32_t *tile0;   /* (nsets, NLIN) first tile of each set's grid */
    int nsets;
    LinearWeights emb, lm;
    int *ln1;          /* (L, chips) gain then bias, fp16 (2C) */
    int lnf[MC];
    int *remote;       /* (L, chips) */
    int *kc, *vtc;     /* (L, chips) caches (KV on), or (1, chips) scratch (KV off) */
    uint32_t *kv_tile0; /* (L or 1) first home tile of each layer's cache */
    StepGraph sg[2];
    int nsg;
    uint64_t weight_bytes, kv_bytes;
};


/* Functional mode: converts and writes every weight of w into its tensors
 * (resident) or remote buffers (stream), in the planned block layout. */
int lower_write_weights(Lowered *L, const GptjWeights *w, IpuErr *err);

#endif
