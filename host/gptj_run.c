/* gptj_run.c - lower GPT-J, run the prefill and the decode steps on one
 * engine, and fill the RunResult (see gptj_run.h). */
#include "host/gptj_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/gptj_step.h"
#include "host/lower/lower.h"
#include "codelets/q4mm.h"
#include "sim/engine.h"
#include "sim/layout.h"

const char *const run_phase_names[PHASE_COUNT] = {"stream", "decompress", "matmul",    "attention",
                                                  "other",  "exchange",   "sync",      "collective"};

void run_result_free(RunResult *r)
{
    if (!r)
        return;
    free(r->decode);
    free(r->tokens);
    free(r->memory_report);
    free(r->mem_tile);
    free(r->mem_chip);
    r->decode = NULL, r->tokens = NULL, r->memory_report = NULL, r->mem_tile = r->mem_chip = NULL;
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
    const Program *p = lower_program(L); /* its root: the step graph lower_prepare_* chose */
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

/* The fullest tile of the memory layout at its peak, the memory report and
 * the liveness curves of that tile and of chip 0. */
static int memory_result(Graph *g, const Program *p, RunResult *out, IpuErr *err)
{
    const Layout *l = g->layout;
    LayoutPeak pk;
    if (!l || layout_tile_peak(g, layout_peak_tile(g), &pk))
        return ipu_err(err, "gptj_run: the graph has no memory layout");
    out->sram = (SramPeak){.bytes = pk.bytes, .tile = pk.tile};
    if (pk.step >= 0)
        snprintf(out->sram.step, sizeof out->sram.step, "%s", p->steps[pk.step].label);
    memcpy(out->sram.always, pk.always, sizeof pk.always);
    memcpy(out->sram.live, pk.live, sizeof pk.live);
    out->mem_npos = layout_positions(l);
    out->mem_decode_pos = layout_root_pos(l, 1);
    size_t len = 0;
    FILE *f = open_memstream(&out->memory_report, &len);
    out->mem_tile = malloc((out->mem_npos ? out->mem_npos : 1) * sizeof *out->mem_tile);
    out->mem_chip = malloc((out->mem_npos ? out->mem_npos : 1) * sizeof *out->mem_chip);
    if (!f || !out->mem_tile || !out->mem_chip) {
        if (f)
            fclose(f);
        return ipu_err(err, "out of host memory");
    }
    layout_report(g, p, f, 10);
    fclose(f);
    if (layout_tile_curve(g, pk.tile, out->mem_tile) || layout_chip_curve(g, 0, out->mem_chip))
        return ipu_err(err, "out of host memory");
    return 0;
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
    if (e) {
        engine_set_native(e, !opt->functional_timed);
        engine_set_fusions(e, q4mm_fusions, q4mm_fusion_count);
        engine_set_poison(e, opt->check_liveness);
    }
    quant_spec_format(&opt->weights, out->format, sizeof out->format);
    out->bits_per_param = quant_bits_per_param(&opt->weights, opt->cfg.n_embd, opt->cfg.n_embd);
    out->placement = lower_placement(L);
    out->memory_proportion = lower_memory_proportion(L);
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
        rc = memory_result(lower_graph(L), lower_program(L), out, err);
    engine_destroy(e);
    lower_destroy(L);
    if (rc)
        run_result_free(out);
    return rc;
}
