/* fuzz_gptj_config.c - libFuzzer harness: the bytes are a Hugging Face
 * config.json. Accepted: the config validates, and written back with
 * gptj_config_write_hf it reloads to the same values. Rejected: an error
 * naming the file. */
#include "models/gptj_config.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write("config.json", data, size);
    GptjConfig c, back;
    IpuErr e = {{0}};
    if (gptj_config_load_hf(&c, p, &e)) {
        FUZZ_CHECK(strstr(e.msg, "config.json") != NULL, "error does not name the file: %s", e.msg);
        return 0;
    }
    FUZZ_CHECK(gptj_config_validate(&c, "accepted", &e) == 0, "accepted config does not validate: %s", e.msg);
    const char *q = fuzz_path("written.json");
    FUZZ_CHECK(gptj_config_write_hf(&c, q, &e) == 0, "write: %s", e.msg);
    FUZZ_CHECK(gptj_config_load_hf(&back, q, &e) == 0, "written config does not reload: %s", e.msg);
    FUZZ_CHECK(c.n_layer == back.n_layer && c.n_embd == back.n_embd && c.n_head == back.n_head &&
                   c.head_dim == back.head_dim && c.rotary_dim == back.rotary_dim && c.n_inner == back.n_inner &&
                   c.n_positions == back.n_positions && c.vocab_size == back.vocab_size &&
                   c.layer_norm_eps == back.layer_norm_eps,
               "reloaded config differs (n_embd %d/%d, n_inner %d/%d, eps %.9g/%.9g)", c.n_embd, back.n_embd,
               c.n_inner, back.n_inner, (double)c.layer_norm_eps, (double)back.layer_norm_eps);
    return 0;
}
