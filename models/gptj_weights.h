/* gptj_weights.h - the parameters of a GPT-J model in host memory: loaded
 * from a Hugging Face safetensors checkpoint or made synthetically from a seed.
 *
 * Plain structs, llm.c style: every pointer points into one of two slabs and
 * carries its shape. Matrices (wte, q/k/v/out_proj, fc_in, fc_out, lm_head;
 * Linear weights stored [out_features, in_features] as PyTorch does) are
 * stored in one dtype chosen at creation, fp32 or fp16 (GPT-J 6B in fp32 is
 * 24 GB, in fp16 12 GB); LayerNorm gains and all biases are always fp32. The
 * forward pass computes in fp32 either way.
 *
 * The tensor table (gptj_tensor_info) lists every tensor with its Hugging
 * Face name, shape and kind, in checkpoint order; loading, synthesis,
 * quantization and reports all walk that one table.
 *
 * Synthetic weights come from a counter-based generator: element i of tensor
 * T under seed S is a pure function of (S, T's name, i), so any tensor (or
 * any slice of one) is made independently, in parallel, with the same bits at
 * any thread count. Matrices ~ N(0, 0.02); LayerNorm gains 1 + N(0, 0.02);
 * every bias (LayerNorm, fc_in, fc_out, lm_head) ~ N(0, 0.02), non-zero so
 * the bias paths are exercised.
 *
 * Not here: quantization (quant.h), the forward pass (gptj_forward.h).
 */
#ifndef IPUSIM_GPTJ_WEIGHTS_H
#define IPUSIM_GPTJ_WEIGHTS_H

#include <stdint.h>

#include "base/err.h"
#include "models/gptj_config.h"
#include "models/safetensors.h"

typedef enum GptjDtype { GPTJ_F32, GPTJ_F16 } GptjDtype;

typedef enum GptjTensorKind {
    GPTJ_MATRIX, /* stored in the weights' matrix dtype */
    GPTJ_GAIN,   /* LayerNorm weight, fp32 */
    GPTJ_BIAS,   /* fp32 */
} GptjTensorKind;

typedef struct GptjTensorInfo {
    char name[64];     /* Hugging Face name, e.g. transformer.h.3.attn.q_proj.weight */
    GptjTensorKind kind;
    int layer;         /* block index, -1 outside the blocks */
    int ndim;          /* 1 or 2 */
    int64_t shape[2];
} GptjTensorInfo;

/* 1 + 10 * n_layer + 4 tensors. */
int gptj_tensor_count(const GptjConfig *c);
void gptj_tensor_info(const GptjConfig *c, int index, GptjTensorInfo *out);
uint64_t gptj_tensor_elems(const GptjTensorInfo *t);

typedef struct GptjLayerWeights {
    float *ln_1_w;    /* (C) */
    float *ln_1_b;    /* (C) */
    void *q_proj;     /* (C, C) matrix dtype */
    void *k_proj;     /* (C, C) */
    void *v_proj;     /* (C, C) */
    void *out_proj;   /* (C, C) */
    void *fc_in;      /* (I, C) */
    float *fc_in_b;   /* (I) */
    void *fc_out;     /* (C, I) */
    float *fc_out_b;  /* (C) */
} GptjLayerWeights;

typedef struct GptjWeights {
    GptjConfig cfg;
    GptjDtype wdtype;     /* dtype of every matrix */
    void *wte;            /* (V, C) */
    GptjLayerWeights *h;  /* (L) */
    float *ln_f_w;        /* (C) */
    float *ln_f_b;        /* (C) */
    void *lm_head;        /* (V, C) */
    float *lm_head_b;     /* (V) */
    void *matrix_slab;    /* every matrix, in tensor-table order; NULL for lazy weights */
    float *small_slab;    /* every gain and bias */
    int lazy_synth;       /* 1: synthetic matrices made on demand (gptj_weights_rows), never stored */
    uint64_t seed;        /* their seed */
    StCheckpoint *ck;     /* lazy checkpoint weights: the open checkpoint the matrices are read from */
    const StTensor **ck_tensor; /* (tensor count) each matrix's tensor in ck, NULL for the others */
    int n_warnings;       /* load warnings (unknown tensors), one line each */
    char **warnings;
} GptjWeights;

/* Allocates (uninitialised) storage for cfg; cfg must be valid. */
int gptj_weights_init(GptjWeights *w, const GptjConfig *cfg, GptjDtype wdtype, IpuErr *e);
/* The same without the matrices: their pointers NULL (lazy weights). */
int gptj_weights_init_small(GptjWeights *w, const GptjConfig *cfg, GptjDtype wdtype, IpuErr *e);
void gptj_weights_free(GptjWeights *w); /* safe on a zeroed struct */
/* Pointer to tensor index's storage (matrix dtype for GPTJ_MATRIX, else
 * fp32); NULL for a matrix of lazy weights. */
void *gptj_weights_tensor(const GptjWeights *w, int index);
/* Rows [row0, row0 + nrows) x columns [col0, col0 + ncols) of matrix
 * tensor index, as fp32 (the values the matrix holds in its dtype), into
 * dst with rows ld floats apart; stored or lazy weights alike. */
void gptj_weights_rows(const GptjWeights *w, int index, int64_t row0, int64_t nrows, int64_t col0, int64_t ncols,
                       float *dst, int64_t ld);
uint64_t gptj_weights_bytes(const GptjWeights *w);

/* Synthetic weights, see the header comment. */
int gptj_weights_synth(GptjWeights *w, const GptjConfig *cfg, GptjDtype wdtype, uint64_t seed, IpuErr *e);
/* The same weights with the matrices made on demand, row by row, by
 * gptj_weights_rows (GPT-J 6B in fp16 without a 12 GB copy: what the
 * lowering packs straight into its formats); only the lowering and
 * gptj_weights_rows take lazy weights. */
int gptj_weights_synth_lazy(GptjWeights *w, const GptjConfig *cfg, GptjDtype wdtype, uint64_t seed, IpuErr *e);
/* The synthetic value of element i of a tensor (fp32, before any narrowing). */
float gptj_synth_value(uint64_t seed, const GptjTensorInfo *t, uint64_t i);
/* Fills dst (n elements from element first, little-endian F32, F16 or
 * BF16). F16 matrices and biases take the certified fast path of
 * models/gptj_synth.c: the same bits as the exact path below. */
void gptj_synth_fill(uint64_t seed, const GptjTensorInfo *t, uint64_t first, uint64_t n, StDtype dtype, void *dst);
/* F16, always by the definition (libm per element): what the fast path is tested against. */
void gptj_synth_fill_f16_exact(uint64_t seed, const GptjTensorInfo *t, uint64_t first, uint64_t n, uint16_t *dst);

/* Loads a checkpoint: path is a directory (config.json + model.safetensors or
 * the sharded index) or a safetensors file / index. cfg may be NULL to read
 * path/config.json. Every table tensor must be present with a float dtype and
 * its shape; attn.bias and attn.masked_bias buffers are ignored by name;
 * other extra tensors become warnings, or an error when strict. */
int gptj_weights_load(GptjWeights *w, const GptjConfig *cfg, const char *path, GptjDtype wdtype, int strict,
                      IpuErr *e);

/* gptj_weights_load with the matrices left in the checkpoint's memory
 * mapping: the gains and biases are read, every matrix is checked as
 * gptj_weights_load checks it (one at a time through a scratch buffer) and
 * then read on demand, converted to wdtype's values, by gptj_weights_rows
 * (GPT-J 6B without a 12 or 24 GB copy: the lowering quantizes a matrix at a
 * time from it). The checkpoint stays open until gptj_weights_free; only
 * the lowering and gptj_weights_rows take lazy weights. */
int gptj_weights_load_lazy(GptjWeights *w, const GptjConfig *cfg, const char *path, GptjDtype wdtype, int strict,
                           IpuErr *e);

/* Checks a checkpoint exactly as gptj_weights_load would, without keeping
 * the weights: w receives only cfg and warnings (no storage; release with
 * gptj_weights_free). With scan, every value is also read and checked
 * (NaN/Inf; fp16 range when wdtype is GPTJ_F16), one tensor at a time. */
int gptj_checkpoint_check(GptjWeights *w, const GptjConfig *cfg, const char *path, GptjDtype wdtype, int strict,
                          int scan, IpuErr *e);

/* Writes config.json and the safetensors file(s) of synthetic weights to dir,
 * tensor by tensor in dtype (F32, F16 or BF16), sharding above
 * max_shard_bytes. Memory use is one tensor. The folder appears whole or not
 * at all (a FileioDir, sim/base/fileio.h): on failure an earlier dir is left as it was. */
typedef void (*GptjProgressFn)(void *ctx, size_t done, size_t total);
/* progress (may be NULL) is called after each tensor with the tensors written and their count. */
int gptj_synth_write(const GptjConfig *cfg, uint64_t seed, StDtype dtype, const char *dir, uint64_t max_shard_bytes,
                     int *n_shards, GptjProgressFn progress, void *progress_ctx, IpuErr *e);

#endif
