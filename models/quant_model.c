/* quant_model.c - stored bits of GPT-J under a policy (see quant_model.h). */
#include "models/quant_model.h"

#include <string.h>

#include "models/gptj_weights.h"

int quant_model_is_linear(const char *name)
{
    static const char *const tails[] = {".attn.q_proj.weight", ".attn.k_proj.weight", ".attn.v_proj.weight",
                                        ".attn.out_proj.weight", ".mlp.fc_in.weight", ".mlp.fc_out.weight"};
    if (!strcmp(name, "lm_head.weight"))
        return 1;
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        size_t t = strlen(tails[i]);
        if (n > t && !strcmp(name + n - t, tails[i]) && !strncmp(name, "transformer.h.", 14))
            return 1;
    }
    return 0;
}

void quant_model_bits(const GptjConfig *c, const QuantPolicy *p, QuantModelBits *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < gptj_tensor_count(c); i++) {
        GptjTensorInfo t;
        gptj_tensor_info(c, i, &t);
        int64_t rows = t.ndim == 2 ? t.shape[0] : 1, cols = t.ndim == 2 ? t.shape[1] : t.shape[0];
        uint64_t n = (uint64_t)rows * (uint64_t)cols;
        double bits = quant_bits_per_param(quant_policy_lookup(p, t.name), rows, cols) * (double)n;
        out->model_params += n, out->model_bits += bits;
        if (quant_model_is_linear(t.name))
            out->linear_params += n, out->linear_bits += bits;
    }
}

double quant_model_bits_per_param(const QuantModelBits *b)
{
    return b->linear_params ? b->linear_bits / (double)b->linear_params : 0;
}

double quant_model_bits_per_param_all(const QuantModelBits *b)
{
    return b->model_params ? b->model_bits / (double)b->model_params : 0;
}
