/* quant_model.h - a QuantPolicy over GPT-J's tensor table: the bits the
 * model stores, and the one definition of bits per parameter that every
 * report of the project uses (`ipusim run`, `compare`, `sweep`, `model
 * eval`, `model info`, `tradeoff`).
 *
 * Bits per parameter (the headline figure): the stored bits of the linear
 * layers' weight matrices over their parameter count. The linear matrices
 * are q_proj, k_proj, v_proj, out_proj, fc_in and fc_out of every block,
 * and lm_head: the tensors Graphcore's policy quantizes, which the decode
 * step streams. Each is counted with its spec under the policy and its own
 * shape (quant_bits_per_param), so q4g:N gives (4N + 32) / N exactly and a
 * tensor kept fp16 (run key keep_fp16) raises the figure.
 *
 * Whole-model bits per parameter: every tensor's stored bits (the embedding,
 * LayerNorm gains and every bias too, each under its spec: fp16 in
 * Graphcore's policy) over every parameter. Padding the lowering adds (the
 * LM head's vocabulary shard) is not a parameter and is not counted.
 *
 * Not here: the formats' own bits (quant.h), storing anything.
 */
#ifndef IPUSIM_QUANT_MODEL_H
#define IPUSIM_QUANT_MODEL_H

#include <stdint.h>

#include "models/gptj_config.h"
#include "models/quant.h"

typedef struct QuantModelBits {
    uint64_t linear_params; /* the linear layers' matrices (see above) */
    double linear_bits;     /* their stored bits */
    uint64_t model_params;  /* every tensor */
    double model_bits;      /* their stored bits */
} QuantModelBits;

void quant_model_bits(const GptjConfig *c, const QuantPolicy *p, QuantModelBits *out);
/* Bits per parameter: linear_bits / linear_params. */
double quant_model_bits_per_param(const QuantModelBits *b);
/* Whole-model bits per parameter: model_bits / model_params. */
double quant_model_bits_per_param_all(const QuantModelBits *b);
/* 1 when tensor `name` of the table is one of the linear matrices. */
int quant_model_is_linear(const char *name);

#endif
