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

#define RUN_PHASE_NAME(n) n,
const char *const run_phase_names[PHASE_COUNT] = {RUN_PHASE_NAMES(RUN_PHASE_NAME)};
#undef RUN_PHASE_NAME

void run_result_free(RunResult *r)
{
    if (!r)
        return;
    free(r->decode);
    free(r->tokens);
    free(r->logits);
    free(r->memory_report);
    free(r->mem_tile);
    free(r->mem_chip);
    r->decode = NULL, r->tokens = NULL, r->logits = NULL, r->memory_report = NULL, r->mem_tile = r->mem_chip = NULL;
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
    if (timing) {
        /* the other root's costs (and, in a session, every step's) are kept */
        EngineStepInfo info;
        int rc;
        if (p->root == *last_root ? engine_restart(e, err) : engine_start_kept(e, p, p->root, err))
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

/* The fields of out that come from the lowering and the arch, not from running. */
static void result_header(Lowered *L, const IpuArch *arch, const RunOptions *opt, RunResult *out)
{
    quant_spec_format(&opt->weights, out->format, sizeof out->format);
    out->bits_per_param = quant_bits_per_param(&opt->weights, opt->cfg.n_embd, opt->cfg.n_embd);
    out->placement = lower_placement(L);
    snprintf(out->weight_path, sizeof out->weight_path, "%s", lower_weight_path(L));
    out->memory_proportion = lower_memory_proportion(L);
    out->clock_hz = arch->clock_hz;
    out->weight_bytes = lower_weight_bytes(L);
    out->ndecode = opt->gen_tokens - 1;
}

/* After step k (0: the prefill; k: the decode step at position P + k - 1),
 * the logits opt->logits asks for into out->logits. */
static int read_logits(Lowered *L, const RunOptions *opt, uint32_t k, RunResult *out, IpuErr *err)
{
    uint32_t P = opt->prompt_len;
    uint64_t V = (uint64_t)opt->cfg.vocab_size, stride = out->logits_positions * V;
    if (opt->logits == RUN_LOGITS_ALL) /* the prefill: every prompt position; a decode step: its one */
        return k == 0 ? lower_read_logits_at(L, 0, 0, P, out->logits, stride, err)
                      : lower_read_logits_at(L, 1, P - 1 + k, 1, out->logits + (P - 1 + k) * V, stride, err);
    if (opt->logits == RUN_LOGITS_LAST && k + 1 == opt->gen_tokens)
        return lower_read_logits_at(L, k > 0, P - 1 + k, 1, out->logits, stride, err);
    return 0;
}

/* The tokens of step k into out->tokens and tok (fed to the next step):
 * the greedy ones, or the teacher's. */
static int step_tokens(Lowered *L, const RunOptions *opt, uint32_t k, uint32_t *tok, RunResult *out, IpuErr *err)
{
    uint32_t B = opt->batch, G = opt->gen_tokens;
    if (lower_read_tokens(L, k > 0, tok, err))
        return -1;
    for (uint32_t s = 0; s < B; s++) {
        if (opt->teacher)
            tok[s] = opt->teacher[(size_t)s * G + k];
        out->tokens[(size_t)s * G + k] = tok[s];
    }
    return 0;
}

/* The output buffers of a run: decode steps; functional: tokens, logits. */
static int alloc_outputs(const RunOptions *opt, int functional, RunResult *out, IpuErr *err)
{
    uint32_t B = opt->batch, G = opt->gen_tokens, V = (uint32_t)opt->cfg.vocab_size;
    if (out->ndecode && !(out->decode = calloc(out->ndecode, sizeof *out->decode)))
        return ipu_err(err, "out of host memory");
    if (functional && !(out->tokens = calloc((size_t)B * G, sizeof *out->tokens)))
        return ipu_err(err, "out of host memory");
    if (!functional || !opt->logits)
        return 0;
    out->logits_positions = opt->logits == RUN_LOGITS_ALL ? opt->prompt_len + G - 1 : 1;
    if (!(out->logits = calloc((size_t)B * out->logits_positions * V, sizeof *out->logits)))
        return ipu_err(err, "out of host memory for the logits (%u x %u x %u)", B, out->logits_positions, V);
    return 0;
}

/* The prefill then gen_tokens - 1 decode steps on e, the way every run does
 * them (the decode positions P, P + 1, ...); functional mode reads the
 * tokens and the logits asked for. */
static int run_steps(Engine *e, Lowered *L, const RunOptions *opt, const GptjWeights *weights, const uint32_t *prompt,
                     RunResult *out, IpuErr *err)
{
    uint32_t B = opt->batch, G = opt->gen_tokens, P = opt->prompt_len;
    if (alloc_outputs(opt, weights != NULL, out, err))
        return -1;
    uint32_t *tok = calloc(B, sizeof *tok);
    if (!tok)
        return ipu_err(err, "out of host memory");
    int last_root = -1;
    int rc = lower_prepare_prefill(L, prompt, err) || gptj_run_step(e, L, 0, &last_root, !weights, &out->prefill, err)
                 ? -1
                 : 0;
    for (uint32_t k = 0; !rc && k < G; k++) {
        if (weights && (step_tokens(L, opt, k, tok, out, err) || read_logits(L, opt, k, out, err))) {
            rc = -1;
            break;
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
    return rc;
}

/* What only functional mode takes, and the ids it is given. */
static int check_io(const RunOptions *opt, const GptjWeights *weights, const uint32_t *prompt, IpuErr *err)
{
    if (!weights)
        return opt->logits || opt->teacher ? ipu_err(err, "gptj_run: logits and teacher forcing need functional "
                                                          "mode (weights)")
                                           : 0;
    if (!prompt)
        return ipu_err(err, "gptj_run: functional mode needs a prompt");
    uint32_t V = (uint32_t)opt->cfg.vocab_size;
    for (uint32_t s = 0; s < opt->batch; s++)
        for (uint32_t i = 0; i < opt->prompt_len + opt->gen_tokens; i++) {
            int forced = i >= opt->prompt_len;
            if (forced && !opt->teacher)
                break;
            uint32_t id = forced ? opt->teacher[(size_t)s * opt->gen_tokens + i - opt->prompt_len]
                                 : prompt[(size_t)s * opt->prompt_len + i];
            if (id >= V)
                return ipu_err(err, "gptj_run: %s token %u of sequence %u is %u, outside the vocabulary of %s (%u)",
                               forced ? "teacher" : "prompt", forced ? i - opt->prompt_len : i, s, id, opt->cfg.name,
                               V);
        }
    return 0;
}

int gptj_run(const IpuArch *arch, const RunOptions *opt, const GptjWeights *weights, const uint32_t *prompt,
             Trace *trace, RunResult *out, IpuErr *err)
{
    memset(out, 0, sizeof *out);
    if (check_io(opt, weights, prompt, err))
        return -1;
    Lowered *L = NULL;
    if (lower_gptj(arch, opt, weights, &L, err))
        return -1;
    Engine *e = engine_create(lower_graph(L), err);
    int rc = e ? 0 : -1;
    if (e) {
        engine_set_native(e, !opt->functional_timed);
        engine_set_fusions(e, q4mm_fusions, q4mm_fusion_count);
        engine_set_poison(e, opt->check_liveness);
        engine_set_trace(e, trace);
    }
    result_header(L, arch, opt, out);
    if (!rc)
        rc = run_steps(e, L, opt, weights, prompt, out, err);
    if (!rc)
        rc = memory_result(lower_graph(L), lower_program(L), out, err);
    engine_destroy(e);
    lower_destroy(L);
    if (rc)
        run_result_free(out);
    return rc;
}

/* ---- sessions: one lowering, runs on machines that share its graph ---- */

int gptj_arch_same_graph(const IpuArch *a, const IpuArch *b)
{
    /* Every field the lowering (host/lower/), the graph and the memory
     * layout read, and the Execute costs the engine keeps (worker cycles
     * from the ISA table, launch overheads). Not compared, so free to
     * differ: clock_hz, the streaming bandwidths and latency, the
     * IPU-Links, sync.system_cycles and the host link, which only the
     * engine's Copy/Stream/collective/Sync costs at engine_start and the
     * report read. tests/test_gptj_run.c checks runs against fresh ones. */
#define SAME(f) (a->f == b->f)
    if (!(SAME(chips) && SAME(chips_per_machine) && SAME(tiles_per_chip) && SAME(sram_bytes_per_tile) &&
          SAME(workers_per_tile) && SAME(amp_macs_per_cycle_fp16) && SAME(amp_macs_per_cycle_fp32) &&
          SAME(amp_macs_per_cycle_fp8) &&
          SAME(supervisor_launch_cycles) && SAME(vertex_launch_cycles) && SAME(exchange_bytes_per_cycle) &&
          SAME(exchange_latency_cycles) && SAME(sync_chip_cycles) && SAME(stream_capacity_bytes) && SAME(io_tiles)))
        return 0;
#undef SAME
    for (size_t i = 0; i < isa_cost_key_count; i++) {
        const IsaCostKey *k = &isa_cost_keys[i];
        if (memcmp((const char *)&a->isa + k->cycles_offset, (const char *)&b->isa + k->cycles_offset, sizeof(uint32_t)))
            return 0;
        if (k->enabled_offset != SIZE_MAX &&
            *(const bool *)((const char *)&a->isa + k->enabled_offset) !=
                *(const bool *)((const char *)&b->isa + k->enabled_offset))
            return 0;
    }
    return 1;
}

struct GptjSession {
    Lowered *L;
    Engine *e;
    RunOptions opt;
    IpuArch arch; /* the machine it was lowered for */
    RunResult mem; /* the memory layout's results (sram, report, curves), made by the first run */
    int have_mem;
};

GptjSession *gptj_session_create(const IpuArch *arch, const RunOptions *opt, IpuErr *err)
{
    GptjSession *s = calloc(1, sizeof *s);
    if (!s) {
        ipu_err(err, "out of host memory");
        return NULL;
    }
    s->opt = *opt;
    s->arch = *arch;
    if (lower_gptj(arch, opt, NULL, &s->L, err) || !(s->e = engine_create(lower_graph(s->L), err))) {
        gptj_session_destroy(s);
        return NULL;
    }
    return s;
}

void gptj_session_destroy(GptjSession *s)
{
    if (!s)
        return;
    engine_destroy(s->e);
    lower_destroy(s->L);
    run_result_free(&s->mem);
    free(s);
}

/* out's memory fields: a copy of the session's. */
static int copy_memory(const RunResult *m, RunResult *out, IpuErr *err)
{
    out->sram = m->sram;
    out->mem_npos = m->mem_npos, out->mem_decode_pos = m->mem_decode_pos;
    size_t n = (m->mem_npos ? m->mem_npos : 1) * sizeof *m->mem_tile;
    out->memory_report = strdup(m->memory_report ? m->memory_report : "");
    out->mem_tile = malloc(n);
    out->mem_chip = malloc(n);
    if (!out->memory_report || !out->mem_tile || !out->mem_chip)
        return ipu_err(err, "out of host memory");
    memcpy(out->mem_tile, m->mem_tile, m->mem_npos * sizeof *m->mem_tile);
    memcpy(out->mem_chip, m->mem_chip, m->mem_npos * sizeof *m->mem_chip);
    return 0;
}

int gptj_session_run(GptjSession *s, const IpuArch *arch, RunResult *out, IpuErr *err)
{
    memset(out, 0, sizeof *out);
    if (!gptj_arch_same_graph(&s->arch, arch))
        return ipu_err(err, "gptj_session_run: the arch differs from the session's in a key the lowering reads");
    Graph *g = lower_graph(s->L);
    if (engine_set_arch(s->e, arch, err)) /* re-times the kept StreamCopy, collective and Sync steps */
        return -1;
    engine_reset(s->e);
    result_header(s->L, arch, &s->opt, out);
    int rc = run_steps(s->e, s->L, &s->opt, NULL, NULL, out, err);
    if (!rc && !s->have_mem) {
        rc = memory_result(g, lower_program(s->L), &s->mem, err);
        s->have_mem = !rc;
    }
    if (!rc)
        rc = copy_memory(&s->mem, out, err);
    if (rc)
        run_result_free(out);
    return rc;
}
