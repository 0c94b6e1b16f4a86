/* gptj_config.h - the shape of a GPT-J model: presets and Hugging Face
 * config.json.
 *
 * A GptjConfig is plain numbers: layers, widths, heads, rotary width,
 * context, vocabulary, LayerNorm epsilon. It comes from a named preset
 * ("gptj-6b", "gptj-tiny", "gptj-micro") or from a Hugging Face config.json,
 * and is validated before use so every other module may trust it.
 *
 * Not here: weights (gptj_weights.h), the forward pass (gptj_forward.h), any
 * notion of tiles or chips (host/).
 */
#ifndef IPUSIM_GPTJ_CONFIG_H
#define IPUSIM_GPTJ_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

#define GPTJ_NAME_BYTES 64
#define GPTJ_MAX_EMBD 65536 /* n_embd range checked on load; 4 * n_embd fits an int */

typedef struct GptjConfig {
    char name[GPTJ_NAME_BYTES]; /* preset name or "hf" for a loaded file */
    int n_layer;                /* decoder blocks (L) */
    int n_embd;                 /* hidden width (C) */
    int n_head;                 /* attention heads (NH) */
    int head_dim;               /* C / NH (HS) */
    int rotary_dim;             /* leading dims of each head that rotate; even, <= HS */
    int n_inner;                /* MLP width, 4*C in GPT-J */
    int n_positions;            /* context length (maxT) */
    int vocab_size;             /* V, embedding and LM-head rows */
    float layer_norm_eps;
} GptjConfig;

/* Fills c with a preset; -1 and a message listing the presets if unknown. */
int gptj_config_preset(GptjConfig *c, const char *name, IpuErr *e);
/* The preset names, NULL-terminated. */
const char *const *gptj_config_preset_names(void);

/* Reads a Hugging Face config.json. Errors name the file and the key. */
int gptj_config_load_hf(GptjConfig *c, const char *path, IpuErr *e);
/* A preset name, a config.json path, or a directory holding config.json. */
int gptj_config_resolve(GptjConfig *c, const char *name_or_path, IpuErr *e);
/* Writes c as a Hugging Face style config.json (atomically, sim/base/fileio.h). */
int gptj_config_write_hf(const GptjConfig *c, const char *path, IpuErr *e);

/* Checks every value is supported; src names where c came from. */
int gptj_config_validate(const GptjConfig *c, const char *src, IpuErr *e);

/* The first field (in GptjConfig's order) in which a and b differ, as
 * "n_layer 28 vs 2", into buf; returns 1 then, 0 when they are the same
 * model (their names aside). */
int gptj_config_diff(const GptjConfig *a, const GptjConfig *b, char *buf, size_t cap);

/* Parameter count of the whole model (embedding, blocks, ln_f, LM head with bias). */
uint64_t gptj_config_n_params(const GptjConfig *c);
/* Parameters of the matrices only (wte, q/k/v/out, fc_in, fc_out, lm_head). */
uint64_t gptj_config_n_matrix_params(const GptjConfig *c);

void gptj_config_print(FILE *f, const GptjConfig *c);

#endif
