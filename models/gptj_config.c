/* gptj_config.c - GPT-J presets and Hugging Face config.json (see gptj_config.h). */
#include "models/gptj_config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"

typedef struct Preset {
    const char *name;
    int n_layer, n_embd, n_head, rotary_dim, n_positions, vocab_size;
} Preset;

/* gptj-6b from docs/reference/gptj-on-ipu.md. gptj-tiny and gptj-micro are
 * ours, small enough for tests and demos; micro also shrinks the vocabulary. */
static const Preset presets[] = {
    {"gptj-6b", 28, 4096, 16, 64, 2048, 50400},
    {"gptj-tiny", 2, 256, 4, 32, 2048, 50400},
    {"gptj-micro", 2, 64, 4, 8, 128, 512},
};
static const char *const preset_names[] = {"gptj-6b", "gptj-tiny", "gptj-micro", NULL};

const char *const *gptj_config_preset_names(void) { return preset_names; }

int gptj_config_preset(GptjConfig *c, const char *name, IpuErr *e)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const Preset *p = &presets[i];
        if (strcmp(p->name, name) != 0)
            continue;
        memset(c, 0, sizeof *c);
        snprintf(c->name, sizeof c->name, "%s", p->name);
        c->n_layer = p->n_layer;
        c->n_embd = p->n_embd;
        c->n_head = p->n_head;
        c->head_dim = p->n_embd / p->n_head;
        c->rotary_dim = p->rotary_dim;
        c->n_inner = 4 * p->n_embd;
        c->n_positions = p->n_positions;
        c->vocab_size = p->vocab_size;
        c->layer_norm_eps = 1e-5f;
        return 0;
    }
    return ipu_err(e, "unknown model config '%s' (presets: gptj-6b, gptj-tiny, gptj-micro; or a config.json path)", name);
}

int gptj_config_validate(const GptjConfig *c, const char *src, IpuErr *e)
{
    if (c->n_layer < 1 || c->n_layer > 1024)
        return ipu_err(e, "%s: n_layer %d out of range 1..1024", src, c->n_layer);
    if (c->n_embd < 1 || c->n_embd > GPTJ_MAX_EMBD)
        return ipu_err(e, "%s: n_embd %d out of range 1..%d", src, c->n_embd, GPTJ_MAX_EMBD);
    if (c->n_head < 1 || c->n_embd % c->n_head != 0)
        return ipu_err(e, "%s: n_embd %d not divisible by n_head %d", src, c->n_embd, c->n_head);
    if (c->head_dim != c->n_embd / c->n_head)
        return ipu_err(e, "%s: head_dim %d is not n_embd / n_head = %d", src, c->head_dim, c->n_embd / c->n_head);
    if (c->rotary_dim < 0 || c->rotary_dim % 2 != 0)
        return ipu_err(e, "%s: rotary_dim %d must be even and >= 0", src, c->rotary_dim);
    if (c->rotary_dim > c->head_dim)
        return ipu_err(e, "%s: rotary_dim %d larger than head_dim %d", src, c->rotary_dim, c->head_dim);
    if (c->n_inner < 1 || c->n_inner > 1 << 20)
        return ipu_err(e, "%s: n_inner %d out of range 1..1048576", src, c->n_inner);
    if (c->n_positions < 1 || c->n_positions > 1 << 20)
        return ipu_err(e, "%s: n_positions %d out of range 1..1048576", src, c->n_positions);
    if (c->vocab_size < 1 || c->vocab_size > 1 << 22)
        return ipu_err(e, "%s: vocab_size %d out of range 1..4194304", src, c->vocab_size);
    if (!(c->layer_norm_eps > 0.0f && c->layer_norm_eps < 1.0f))
        return ipu_err(e, "%s: layer_norm_epsilon %g must be in (0, 1)", src, (double)c->layer_norm_eps);
    return 0;
}

/* An integer key: missing -> def (or an error when def < 0 means required). */
static int get_int(const cJSON *root, const char *path, const char *key, int def, int *out, IpuErr *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) {
        if (def < 0)
            return ipu_err(e, "%s: key '%s' missing", path, key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(it))
        return ipu_err(e, "%s: key '%s' must be a number", path, key);
    double v = it->valuedouble;
    if (!(v >= 0 && v <= 2147483647.0) || v != floor(v))
        return ipu_err(e, "%s: key '%s' = %g is not a non-negative integer", path, key, v);
    *out = (int)v;
    return 0;
}

int gptj_config_load_hf(GptjConfig *c, const char *path, IpuErr *e)
{
    char *text;
    if (fileio_read(path, "model config", FILEIO_CONFIG_MAX_BYTES, &text, NULL, e))
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ipu_err(e, "%s: not a valid JSON object", path);
    }
    int rc = -1;
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "hf");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (it && !(cJSON_IsString(it) && !strcmp(it->valuestring, "gptj"))) {
        ipu_err(e, "%s: key 'model_type' must be \"gptj\"", path);
        goto out;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "activation_function");
    if (it && !(cJSON_IsString(it) && !strcmp(it->valuestring, "gelu_new"))) {
        ipu_err(e, "%s: key 'activation_function' = %s unsupported (only \"gelu_new\")", path,
                cJSON_IsString(it) ? it->valuestring : "(not a string)");
        goto out;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (it && !cJSON_IsFalse(it)) {
        ipu_err(e, "%s: key 'tie_word_embeddings' must be false (GPT-J has its own lm_head)", path);
        goto out;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "rotary");
    if (it && !cJSON_IsTrue(it)) {
        ipu_err(e, "%s: key 'rotary' must be true", path);
        goto out;
    }
    if (get_int(root, path, "n_layer", -1, &c->n_layer, e) || get_int(root, path, "n_embd", -1, &c->n_embd, e) ||
        get_int(root, path, "n_head", -1, &c->n_head, e) || get_int(root, path, "vocab_size", -1, &c->vocab_size, e) ||
        get_int(root, path, "n_positions", 2048, &c->n_positions, e))
        goto out;
    if (c->n_embd < 1 || c->n_embd > GPTJ_MAX_EMBD) { /* before 4 * n_embd, the n_inner default */
        ipu_err(e, "%s: key 'n_embd' = %d out of range 1..%d", path, c->n_embd, GPTJ_MAX_EMBD);
        goto out;
    }
    if (c->n_head < 1 || c->n_embd % c->n_head != 0) {
        ipu_err(e, "%s: key 'n_embd' = %d not divisible by 'n_head' = %d", path, c->n_embd, c->n_head);
        goto out;
    }
    c->head_dim = c->n_embd / c->n_head;
    /* rotary_dim null means the whole head rotates (Hugging Face semantics). */
    if (get_int(root, path, "rotary_dim", c->head_dim, &c->rotary_dim, e) ||
        get_int(root, path, "n_inner", 4 * c->n_embd, &c->n_inner, e))
        goto out;
    if (c->rotary_dim % 2 != 0 || c->rotary_dim > c->head_dim) {
        ipu_err(e, "%s: key 'rotary_dim' = %d unsupported (must be even and <= head_dim %d)", path, c->rotary_dim,
                c->head_dim);
        goto out;
    }
    c->layer_norm_eps = 1e-5f;
    it = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    if (it && !cJSON_IsNull(it)) {
        if (!cJSON_IsNumber(it)) {
            ipu_err(e, "%s: key 'layer_norm_epsilon' must be a number", path);
            goto out;
        }
        c->layer_norm_eps = (float)it->valuedouble;
    }
    rc = gptj_config_validate(c, path, e);
out:
    cJSON_Delete(root);
    return rc;
}

int gptj_config_resolve(GptjConfig *c, const char *name_or_path, IpuErr *e)
{
    struct stat st;
    if (stat(name_or_path, &st) != 0) {
        if (strchr(name_or_path, '/') || strstr(name_or_path, ".json"))
            return ipu_err(e, "%s: cannot open: %s", name_or_path, strerror(errno));
        return gptj_config_preset(c, name_or_path, e);
    }
    if (S_ISDIR(st.st_mode)) {
        char path[4096];
        snprintf(path, sizeof path, "%s/config.json", name_or_path);
        return gptj_config_load_hf(c, path, e);
    }
    return gptj_config_load_hf(c, name_or_path, e);
}

int gptj_config_write_hf(const GptjConfig *c, const char *path, IpuErr *e)
{
    FileioFile af;
    if (fileio_file_open(&af, path, e))
        return -1;
    fprintf(af.f,
            "{\n  \"model_type\": \"gptj\",\n  \"architectures\": [\"GPTJForCausalLM\"],\n"
            "  \"activation_function\": \"gelu_new\",\n  \"n_layer\": %d,\n  \"n_embd\": %d,\n  \"n_head\": %d,\n"
            "  \"rotary_dim\": %d,\n  \"n_inner\": %d,\n  \"n_positions\": %d,\n  \"vocab_size\": %d,\n"
            "  \"layer_norm_epsilon\": %.9g,\n  \"tie_word_embeddings\": false,\n  \"ipusim_preset\": \"%s\"\n}\n",
            c->n_layer, c->n_embd, c->n_head, c->rotary_dim, c->n_inner, c->n_positions, c->vocab_size,
            (double)c->layer_norm_eps, c->name);
    return fileio_file_commit(&af, e);
}

int gptj_config_diff(const GptjConfig *a, const GptjConfig *b, char *buf, size_t cap)
{
#define DIFF_INT(f)                                                 \
    if (a->f != b->f) {                                             \
        snprintf(buf, cap, "%s %d vs %d", #f, a->f, b->f);          \
        return 1;                                                   \
    }
    DIFF_INT(n_layer) DIFF_INT(n_embd) DIFF_INT(n_head) DIFF_INT(head_dim) DIFF_INT(rotary_dim) DIFF_INT(n_inner)
    DIFF_INT(n_positions) DIFF_INT(vocab_size)
#undef DIFF_INT
    if (a->layer_norm_eps != b->layer_norm_eps) {
        snprintf(buf, cap, "layer_norm_eps %g vs %g", (double)a->layer_norm_eps, (double)b->layer_norm_eps);
        return 1;
    }
    buf[0] = '\0';
    return 0;
}

uint64_t gptj_config_n_matrix_params(const GptjConfig *c)
{
    uint64_t C = (uint64_t)c->n_embd, V = (uint64_t)c->vocab_size, I = (uint64_t)c->n_inner;
    return 2 * V * C + (uint64_t)c->n_layer * (4 * C * C + 2 * I * C);
}

uint64_t gptj_config_n_params(const GptjConfig *c)
{
    uint64_t C = (uint64_t)c->n_embd, V = (uint64_t)c->vocab_size, I = (uint64_t)c->n_inner;
    /* per layer: ln_1 (2C), fc_in bias (I), fc_out bias (C); then ln_f (2C), lm_head bias (V) */
    return gptj_config_n_matrix_params(c) + (uint64_t)c->n_layer * (3 * C + I) + 2 * C + V;
}

void gptj_config_print(FILE *f, const GptjConfig *c)
{
    fprintf(f,
            "config %s: n_layer=%d n_embd=%d n_head=%d head_dim=%d rotary_dim=%d n_inner=%d n_positions=%d "
            "vocab_size=%d layer_norm_eps=%g params=%llu\n",
            c->name, c->n_layer, c->n_embd, c->n_head, c->head_dim, c->rotary_dim, c->n_inner, c->n_positions,
            c->vocab_size, (double)c->layer_norm_eps, (unsigned long long)gptj_config_n_params(c));
}
