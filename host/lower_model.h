/* lower_model.h - the lowered model's state, shared by host/lower_gptj.c
 * (building the graph and programs) and host/lower_io.c (functional
 * weights, per-step ids and positions, reading results). Private to the
 * lowering: everything else uses host/lower.h.
 */
#ifndef IPUSIM_LOWER_MODEL_H
#define IPUSIM_LOWER_MODEL_H

#include "host/lower.h"

#define MC LOWER_MAX_CHIPS
/* Rows of the residual stream (and every row-major activation) are spread
 * one or more whole rows per tile over up to this fraction of the tiles. */
#define ROW_TILES_FRACTION 2
/* Assumption: one wave of attention takes at most this fraction of a key-block tile. */
#define ATTN_ROWS_FRACTION 0.15
/* The vocabulary shard may be padded by up to this percentage to tile better. */
#define VOCAB_PAD_PERCENT 8
/* Assumptions (documented in docs/architecture.md): per-tile code + vertex state and worker stacks. */
#define CODE_BYTES_PER_TILE 16384
#define STACK_BYTES_PER_TILE 7 * 1024

enum { LQ, LK, LV, LO, LFI, LFO, NLIN };
extern const char *const lower_lin_names[NLIN];

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
