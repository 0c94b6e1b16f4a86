/* gptj_run.c - lower GPT-J, run the prefill and the decode steps on one
 * engine, and fill the RunResult (see gptj_run.h). */
#include "host/gptj_run.h"

#include <stdlib.h>
#include <string.h>

#include "host/gptj_step.h"
#include "host/lower.h"
#include "sim/engine.h"

const char *const run_phase_names[PHASE_COUNT] = {"stream", "decompress", "matmul",    "attention",
                                                  "other",  "exchange",   "sync",      "collective"};

void run_result_free(RunResult *r)
{
    if (!r)
        return;
    free(r->decode);
    free(r->tokens);
    r->decode = NULL, r->tokens = NULL;
}

/* Runs the program from its current root; *s gets the difference of the
 * engine's stats over the run (the engine keeps running time across steps,
 * so a trace shows the steps one after another). Functional mode validates
 * the program at every step (engine_start: the position patches are costed
 * afresh); timing mode restarts a root it has run before, reusing the step
 * costs: the patched Copy pairs move the same bytes per tile at every
 * position, and tests/test_lower.c checks timing == functional per step. */
int gptj_run_step(Engine *e, Lowered *L, int decode, int *last_root, int timing, StepResult *s, IpuErr *err)
{
    Stats before = *engine_stats(e);
    const Program *p = lower_program(L, decode);
    if (timing && p->root == *last_root) {
        EngineStepInfo info;
        int rc;
        if (engine_restart(e, err))
            return -1;
        while ((rc = engine_step(e, &info, err)) == 1)
            ;
        if (rc)
            return -1;
    } else if (engine_run(e, p, err)) {
        return -1;
    }
    *last_root = p->root;
    const Stats *a = engine_stats(e);
    memset(s, 0, sizeof *s);
    s->cycles = a->cycles_total - before.cycles_total;
    for (int i = 0; i < PHASE_COUNT; i++)
        s->phase_cycles[i] = a->category_cycles[i] - before.category_cycles[i];
    s->stream_hidden_cycles = a->stream_hidden_cycles - before.stream_hidden_cycles;
    s->stream_bytes = a->bytes_stream - before.bytes_stream;
    s->exchange_bytes = (a->bytes_exchange - before.bytes_exchange) * lower_symmetry_factor(L); /* timing: chip 0 built */
    s->link_bytes = a->bytes_collective - before.bytes_collective;
    s->weight_bytes_read = lower_weight_bytes_read(L, decode);
    s->kv_bytes_read = lower_kv_bytes_per_step(L);
    uint64_t sum = 0;
    for (int i = 0; i < PHASE_COUNT; i++)
        sum += s->phase_cycles[i];
    IPU_ASSERT(sum == s->cycles); /* every step carries a phase */
    return 0;
}

static void sram_peak(Graph *g, RunResult *out)
{
    uint32_t n = sram_tiles(g->sram);
    out->sram_peak_bytes = 0, out->sram_peak_tile = 0;
    for (uint32_t t = 0; t < n; t++) {
        uint64_t p = sram_tile_peak_bytes(g->sram, t);
        if (p > out->sram_peak_bytes)
            out->sram_peak_bytes = p, out->sram_peak_tile = t;
    }
    for (int c = 0; c < SRAM_CATEGORY_COUNT && c < 8; c++)
        out->sram_peak_by_category[c] = sram_peak_bytes(g->sram, out->sram_peak_tile, (SramCategory)c);
}

int gptj_run(const IpuArch *arch, const RunOptions *opt, const GptjWeights *weights, const uint32_t *prompt,
             Trace *trace, RunResult *out, IpuErr *err)
{
    memset(out, 0, sizeof *out);
    if (weights && !prompt)
        return ipu_err(err, "gptj_run: functional mode needs a prompt");
    Lowered *L = NULL;
    if (lower_gptj(arch, opt, weights, &L, err))
        return -1;
    Engine *e = engine_create(lower_graph(L), err);
    int rc = e ? 0 : -1;
    if (e)
        engine_set_native(e, !opt->functional_timed);
    quant_spec_format(&opt->weights, out->format, sizeof out->format);
    out->bits_per_param = quant_bits_per_param(&opt->weights, opt->cfg.n_embd, opt->cfg.n_embd);
    out->placement = lower_placement(L);
    out->clock_hz = arch->clock_hz;
    out->weight_bytes = lower_weight_bytes(L);
    out->ndecode = opt->gen_tokens - 1;
    uint32_t B = opt->batch, G = opt->gen_tokens, P = opt->prompt_len;
    if (!rc && out->ndecode && !(out->decode = calloc(out->ndecode, sizeof *out->decode)))
        rc = ipu_err(err, "out of host memory");
    if (!rc && weights && !(out->tokens = calloc((size_t)B * G, sizeof *out->tokens)))
        rc = ipu_err(err, "out of host memory");
    uint32_t *tok = calloc(B, sizeof *tok);
    int last_root = -1;
    if (!tok)
        rc = ipu_err(err, "out of host memory");
    if (!rc) {
        engine_set_trace(e, trace);
        rc = lower_prepare_prefill(L, prompt, err) || gptj_run_step(e, L, 0, &last_root, !weights, &out->prefill, err) ? -1 : 0;
    }
    for (uint32_t k = 0; !rc && k < G; k++) {
        if (weights) {
            if ((rc = lower_read_tokens(L, k > 0, tok, err)))
                break;
            for (uint32_t s = 0; s < B; s++)
                out->tokens[(size_t)s * G + k] = tok[s];
        }
        if (k + 1 == G)
            break;
        /* the token just produced goes in at position P + k */
        rc = lower_prepare_decode(L, P + k, weights ? tok : NULL, err) ||
                     gptj_run_step(e, L, 1, &last_root, !weights, &out->decode[k], err)
                 ? -1
                 : 0;
    }
    free(tok);
    if (!rc)
        sram_peak(lower_graph(L), out);
    engine_destroy(e);
    lower_destroy(L);
    if (rc)
        run_result_free(out);
    return rc;
}
