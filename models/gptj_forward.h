/* gptj_forward.h - the fp32 reference forward pass of GPT-J, with a KV
 * cache, a batch of equal-length sequences, prefill then decode, and greedy
 * or seeded temperature / top-k sampling.
 *
 * This is the numerical ground truth the simulator's functional mode and the
 * quantization study compare against. Each layer is one small function,
 * outputs first, then inputs, then sizes (llm.c style); they are public so
 * tests can check each against hand-worked cases. Matrices may be stored in
 * fp32 or fp16 (gptj_weights.h); arithmetic is fp32 throughout.
 *
 * Deterministic: OpenMP splits work by output element (or row), each element
 * is computed by exactly one thread in a fixed order, so logits are bit-equal
 * at any thread count. Dot products use eight interleaved partial sums
 * (element i goes to sum i % 8), added pairwise at the end.
 *
 * Not here: anything about tiles, cycles or quantized formats.
 */
#ifndef IPUSIM_GPTJ_FORWARD_H
#define IPUSIM_GPTJ_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "models/gptj_weights.h"

/* ---- layers ---- */

/* out[n] = (in[n] - mean) / sqrt(var + eps) * w + b per row; in, out (N, C). */
void gptj_layernorm(float *out, const float *in, const float *w, const float *b, int N, int C, float eps);
/* out (N, OC) = in (N, IC) x weight^T + bias; weight (OC, IC) in wdtype;
 * bias (OC) or NULL. f16_table (65536) maps fp16 bits to fp32, needed when
 * wdtype is GPTJ_F16 (gptj_f16_table_init). */
void gptj_matmul(float *out, const float *in, const void *weight, GptjDtype wdtype, const float *bias, int N, int IC,
                 int OC, const float *f16_table);
void gptj_f16_table_init(float *table);
/* GELU, tanh form ("gelu_new"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void gptj_gelu(float *out, const float *in, int n);
/* Rotary embedding in place on one token's q or k, x (NH, HS): in each head
 * the first rotary_dim dims rotate in interleaved pairs (2i, 2i+1) by angle
 * pos * 10000^(-2i / rotary_dim). */
void gptj_rotary(float *x, int pos, int n_head, int head_dim, int rotary_dim);
/* Softmax of x[0 .. n_valid) into out[0 .. n_valid); out[n_valid .. n) = 0
 * (the causal mask). */
void gptj_softmax_masked(float *out, const float *x, int n, int n_valid);
/* Causal attention for T new tokens of each of B sequences at positions
 * n_past .. n_past + T - 1. out, q (B, T, C); k_cache, v_cache (B, max_t, C)
 * already holding positions 0 .. n_past + T - 1; scores scaled by 1/sqrt(HS). */
void gptj_attention(float *out, const float *q, const float *k_cache, const float *v_cache, int B, int T, int n_past,
                    int max_t, int n_head, int head_dim);

/* ---- one decoder block (the forward's unit; layer-by-layer callers) ---- */

/* Where a block's new tokens sit: B sequences of T new tokens at positions
 * n_past .. n_past + T - 1 of caches max_t positions long; kv_round as in
 * GptjState (NULL: none). */
typedef struct GptjBlockShape {
    int batch, T, n_past, max_t;
    void (*kv_round)(float *row, int n_embd, int n_head, void *ctx);
    void *kv_ctx;
} GptjBlockShape;

/* Floats of a block's scratch for N = B T tokens: 6 N C + N I. */
size_t gptj_block_buf_floats(const GptjConfig *c, int N);
/* One decoder block on x (B, T, C) in place: x = (attn(ln_1 x) + mlp(ln_1 x)) + x.
 * kc, vc (B, max_t, C): this layer's cache, which receives the new keys
 * (after rotary) and values; L's matrices in wdtype (tab: the fp16 table
 * when GPTJ_F16); buf: gptj_block_buf_floats floats. gptj_forward is
 * embedding, this per layer, ln_f and the LM head. */
void gptj_block(float *x, float *kc, float *vc, const GptjConfig *c, const GptjLayerWeights *L, GptjDtype wdtype,
                const GptjBlockShape *sh, const float *tab, float *buf);

/* ---- the model ---- */

typedef struct GptjState {
    const GptjWeights *w;
    int batch;        /* B sequences, advanced together */
    int max_t;        /* cache capacity per sequence */
    int n_past;       /* positions already in the cache */
    float *k_cache;   /* (L, B, max_t, C), after rotary */
    float *v_cache;   /* (L, B, max_t, C) */
    float *f16_table; /* (65536) */
    /* Optional (NULL: none): applied to each new key and value row (C
     * values, every head) as it enters the cache, before the attention
     * reads it; a test's model of a quantized KV cache. */
    void (*kv_round)(float *row, int n_embd, int n_head, void *ctx);
    void *kv_ctx;
} GptjState;

int gptj_state_init(GptjState *s, const GptjWeights *w, int batch, int max_t, IpuErr *e);
void gptj_state_free(GptjState *s); /* safe on a zeroed struct */
void gptj_state_reset(GptjState *s); /* forget the cache */

/* Appends T tokens to each sequence: tokens (B, T). logits (B, T, V), or
 * (B, V) for the last new token only when last_only. Errors: a token outside
 * 0..V-1, or the cache (max_t) or context (n_positions) full. */
int gptj_forward(GptjState *s, const int *tokens, int T, float *logits, int last_only, IpuErr *e);

/* ---- sampling ---- */

typedef struct GptjSampler {
    float temperature; /* <= 0: greedy (argmax, lowest index on ties) */
    int top_k;         /* 0: the whole vocabulary */
    uint64_t seed;
    uint64_t draws;    /* counter: draw n uses hash(seed, n) */
} GptjSampler;

int gptj_sample(GptjSampler *s, const float *logits, int V);

/* Prefill prompt (B, T0), then n_new decode steps; out (B, n_new) tokens.
 * Resets the state first. */
int gptj_generate(GptjState *s, const int *prompt, int T0, int n_new, GptjSampler *samp, int *out, IpuErr *e);

#endif
