/* model.c - GPT-J on the machine: tensor parallel over chips, plans,
 * weight placement, caches, the step graphs (prefill, decode; built in
 * step.c) and their memory layout (see lower.h).
 *
 * Per chip c of C: heads c*H/C.. (q, k, v and fc_in split by output rows of
 * the weight), out_proj and fc_out split by input columns; their partial
 * outputs are added on the chip (GPT-J's parallel residual: attention and
 * MLP read the same ln_1 output) and summed over chips by ONE all-reduce per
 * layer. Embedding and LM head are split by (padded) vocabulary: each chip
 * gathers its rows (zeros for ids outside its shard) and an all-reduce sums
 * them; each chip computes its logits and argmax, the host combines the
 * chips' winners (ties to the lower id).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/decompress.h"
#include "codelets/matmul.h"
#include "codelets/registry.h"
#include "codelets/wdec.h"
#include "host/lower/lower.h"
#include "sim/layout.h"

#include "host/lower/model.h"

const char *const lower_lin_names[NLIN] = {"q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"};

static uint32_t rup(uint32_t a, uint32_t m) { return (a + m - 1) / m * m; }

Graph *lower_graph(Lowered *L) { return L->b.g; }
const Program *lower_program(Lowered *L) { return L->b.p; }
Placement lower_placement(const Lowered *L) { return L->placement; }
double lower_memory_proportion(const Lowered *L) { return L->b.mem_prop; }
uint64_t lower_weight_bytes(const Lowered *L) { return L->weight_bytes; }
uint64_t lower_kv_bytes_per_step(const Lowered *L) { return L->kv_bytes; }

uint32_t lower_symmetry_factor(const Lowered *L) { return L->b.chips / L->b.vchips; }

uint64_t lower_weight_bytes_read(const Lowered *L, int decode)
{
    const StepGraph *sg = decode && L->opt.kv_cache ? &L->sg[1] : &L->sg[0];
    uint64_t emb_all = (uint64_t)L->b.chips * lower_linear_weight_bytes(&L->pemb);
    return L->weight_bytes - emb_all + (uint64_t)sg->m * (uint64_t)L->cfg.n_embd * 2;
}

void lower_destroy(Lowered *L)
{
    if (!L)
        return;
    graph_destroy(L->b.g);
    program_destroy(L->b.p);
    free(L->b.dec_memo);
    free(L->lw), free(L->tile0), free(L->ln1), free(L->remote), free(L->kc), free(L->vtc), free(L->kv_tile0);
    free(L->kaux);
    for (int i = 0; i < 2; i++)
        free(L->sg[i].kv_copy), free(L->sg[i].smx_cs), free(L->sg[i].kvstage);
    free(L);
}

/* How a tensor in spec s is stored on the tiles: its group size along the
 * input axis (0: fp16, or one scale per row segment) and wfmt (0: fp16 or
 * q4g; else 1 + its WdecFormat). Errors name the tensor. */
static int spec_fmt(const Lowered *L, const QuantSpec *s, const char *name, uint32_t *group, uint8_t *wfmt,
                    IpuErr *err)
{
    char text[64];
    quant_spec_format(s, text, sizeof text);
    *group = 0, *wfmt = 0;
    if (s->fmt == &quant_format_f16)
        return 0;
    if (s->fmt == &quant_format_q4g && s->axis == QUANT_AXIS_IN) {
        *group = s->group;
        return 0;
    }
    WdecFormat f;
    if (s->fmt == &quant_format_f32 || s->fmt == &quant_format_q4g ||
        wdec_format_find(s->fmt->name, s->dq, &f, NULL))
        return ipu_err(err, "%s: weight format '%s'%s is not supported on the tiles (fp16, q4g along the input axis, "
                            "s4g, nf4g[+dq], i8g, i8c, fp8e4m3, fp8e5m2)",
                       name, text, s->axis == QUANT_AXIS_OUT ? " (grouped along the output axis)" : "");
    if (L->opt.scheme == SCHEME_GRAPHCORE)
        return ipu_err(err, "%s: weight format '%s': scheme = graphcore is Graphcore's q4g pipeline; run it with "
                            "scheme = ipusim",
                       name, text);
    *group = quant_spec_grouped(s) ? s->group : 0;
    *wfmt = (uint8_t)(1 + f);
    if ((f == WDEC_FP8E4M3 || f == WDEC_FP8E5M2) && L->opt.fp8_amp == 1 && !L->b.g->arch.amp_macs_per_cycle_fp8)
        return ipu_err(err, "%s: weight format '%s' with fp8_amp = direct: arch '%s' has no fp8 AMP "
                            "(amp_macs_per_cycle_fp8 = 0; the c600 preset has one, or fp8_amp = auto widens to fp16)",
                       name, text, L->b.g->arch.name);
    return 0;
}

/* Query rows per wave of attention (up to 128 and t): a key-block tile's
 * q, scores, probabilities and P V partials, plus its share of the
 * group's softmax rows and reducer partials, within mem_prop of what the
 * always-live tensors (caches, weights) leave on the fullest home tile of
 * chip 0; 0 if not one row fits. */
static uint32_t attn_wave_rows(const Lowered *L, uint32_t t, uint32_t sb, uint32_t nkb, uint32_t ncache, uint32_t homes)
{
    const LowerBuilder *b = &L->b;
    uint64_t cap = sram_capacity_bytes(b->g->sram), used = 0;
    for (uint32_t l = 0; l < ncache; l++)
        for (uint32_t i = 0; i < homes; i++) {
            uint64_t u = sram_tile_used_bytes(b->g->sram, lower_tile(b, 0, L->kv_tile0[l] + i));
            used = u > used ? u : used;
        }
    double budget = used < cap ? (double)(cap - used) * b->mem_prop : 0;
    uint64_t ps = layer_dtype_bytes(L->opt.partials), hd = (uint64_t)L->cfg.head_dim;
    for (uint32_t mqb = t < 128 ? t : 128; mqb >= 1; mqb--) {
        uint64_t share = (mqb + nkb - 1) / nkb;
        uint64_t bytes = (uint64_t)mqb * (sb * (ps + 2) + hd * (2 + ps)) +
                         share * ((uint64_t)nkb * sb * (ps + 2) + (uint64_t)nkb * hd * ps + hd * 2);
        if ((double)bytes <= budget)
            return mqb;
    }
    return 0;
}

/* ---- the whole lowering ---- */

/* The graph, program and builder of one try (arch, mode, codelets,
 * categories, the per-tile code and stack reservations). */
static int lower_setup(Lowered *L, const IpuArch *arch, const GptjWeights *w, double mem_prop, IpuErr *err)
{
    const RunOptions *o = &L->opt;
    LowerBuilder *b = &L->b;
    if (!(b->g = graph_create(arch, w ? GRAPH_FUNCTIONAL : GRAPH_TIMING, err)) || !(b->p = program_create()))
        return -1;
    b->chips = o->chips, b->vchips = w ? o->chips : 1, b->tiles = arch->tiles_per_chip;
    b->usable = arch->tiles_per_chip - arch->io_tiles;
    b->functional = w != NULL, b->partials = o->partials, b->mem_prop = mem_prop;
    b->gc_unpack_estimate = o->gc_unpack_estimate;
    if (!(b->dec_memo = calloc(1, sizeof *b->dec_memo)))
        return ipu_err(err, "out of host memory");
    b->matmul_vt = o->partials == LAYER_F16 ? &matmul_amp_f16_vertex : &matmul_amp_f32_vertex;
    const CodeletVariant *dv = codelet_variant_find(&codelet_family_decompress, o->decompress[0] ? o->decompress : NULL, err);
    if (!dv)
        return -1;
    b->decompress_vt = dv->vertex;
    for (int f = 0; f < WDEC_FORMATS; f++)
        b->wdec_vt[f] = wdec_family((WdecFormat)f)->variants[0].vertex;
    for (int i = 0; i < PHASE_COUNT; i++)
        if (program_category(b->p, run_phase_names[i], err) != i)
            return -1;
    /* reserved per tile: code + vertex state, worker stacks (documented assumptions) */
    for (uint32_t t = 0; t < arch_total_tiles(arch); t++)
        if (sram_alloc(b->g->sram, t, CODE_BYTES_PER_TILE, 8, SRAM_CODE, "code+vertex state", err) < 0 ||
            sram_alloc(b->g->sram, t, STACK_BYTES_PER_TILE, 8, SRAM_STACK, "worker stacks", err) < 0)
            return -1;
    return 0;
}

/* fp8 weights (wfmt) that go into the AMP as they are: fp8_amp = direct,
 * or auto on an arch with an fp8 AMP (spec_fmt refused direct without one). */
static int fp8_direct(const Lowered *L, uint8_t wfmt)
{
    int fp8 = wfmt == 1 + WDEC_FP8E4M3 || wfmt == 1 + WDEC_FP8E5M2;
    return fp8 && (L->opt.fp8_amp == 1 || (L->opt.fp8_amp == 0 && L->b.g->arch.amp_macs_per_cycle_fp8 > 0));
}

const char *lower_weight_path(const Lowered *L)
{
    for (int li = 0; li < NLIN; li++)
        if (L->pl[li].fp8_amp)
            return "fp8 direct";
    for (int li = 0; li < NLIN; li++)
        if (lower_plan_quantized(&L->pl[li]))
            return "decompressed";
    return "fp16";
}

/* Under scheme = graphcore poplin plans the matmul of decompressed fp16
 * weights: the plan is made for group 0, then marked int4 in the load
 * layout. The group must divide the quantized axis (k per chip). */
static uint32_t plan_group(const Lowered *L, uint32_t group) { return L->opt.scheme == SCHEME_GRAPHCORE ? 0 : group; }

static int mark_gc(const Lowered *L, LinearPlan *pl, uint32_t group, const char *name, IpuErr *err)
{
    if (L->opt.scheme != SCHEME_GRAPHCORE || !group)
        return 0;
    if (pl->k % group)
        return ipu_err(err, "%s: group size %u does not divide its %u inputs per chip", name, group, pl->k);
    pl->group = group, pl->gc = 1;
    return 0;
}

/* Each layer linear's format and plan for the prefill's rows; the LM head
 * and embedding over the vocabulary shard that plans fastest. */
static int plan_linears(Lowered *L, IpuErr *err)
{
    const RunOptions *o = &L->opt;
    LowerBuilder *b = &L->b;
    uint32_t C = (uint32_t)L->cfg.n_embd, chips = o->chips;
    uint32_t m0 = o->batch * (o->kv_cache ? o->prompt_len : L->s);
    /* with a KV cache the same weights then serve gen_tokens - 1 decode steps of batch rows */
    double decode_steps = o->kv_cache ? (double)o->gen_tokens - 1 : 0;
    uint32_t kin[NLIN] = {C, C, C, L->cc, C, L->ic}, nout[NLIN] = {L->cc, L->cc, L->cc, C, L->ic, C};
    static const char *const hf[NLIN] = {"attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.out_proj", "mlp.fc_in",
                                         "mlp.fc_out"};
    for (int li = 0; li < NLIN; li++) {
        char nm[96];
        snprintf(nm, sizeof nm, "transformer.h.0.%s.weight", hf[li]);
        L->spec[li] = *quant_policy_lookup(&o->policy, nm);
        uint32_t group = 0;
        uint8_t wf = 0;
        int err_fmt = spec_fmt(L, &L->spec[li], nm, &group, &wf, err);
        LinearFmt lf = {plan_group(L, group), wf, li == LO || li == LFO ? kin[li] * chips : kin[li],
                        fp8_direct(L, wf) && li != LV};
        if (err_fmt ||
            lower_plan_linear_fmt(b, nm, li == LV ? LIN_MATMUL_T : LIN_MATMUL, m0, o->batch, decode_steps, kin[li],
                                  nout[li], &lf, li == LFI || li == LFO, &L->pl[li], err) ||
            mark_gc(L, &L->pl[li], group, nm, err))
            return -1;
    }
    L->spec_lm = *quant_policy_lookup(&o->policy, "lm_head.weight");
    uint32_t glm = 0;
    uint8_t wlm = 0;
    if (spec_fmt(L, &L->spec_lm, "lm_head.weight", &glm, &wlm, err))
        return -1;
    /* the vocabulary shard: the smallest multiple of 64 rows >= V / chips, or
     * up to VOCAB_PAD_PERCENT more, whichever gives the fastest LM head +
     * embedding estimate (a shard size with more divisors tiles better) */
    uint32_t vmin = rup(((uint32_t)L->cfg.vocab_size + chips - 1) / chips, 64);
    int found = 0;
    IpuErr e1;
    for (uint32_t vc = vmin; vc <= vmin + vmin * VOCAB_PAD_PERCENT / 100; vc += 64) {
        LinearPlan lm, emb;
        LinearFmt lf = {plan_group(L, glm), wlm, C, fp8_direct(L, wlm)};
        if (lower_plan_linear_fmt(b, "lm_head.weight", LIN_MATMUL, o->batch, 0, 0, C, vc, &lf, 1, &lm,
                                  found ? &e1 : err) ||
            lower_plan_linear(b, "transformer.wte.weight", LIN_GATHER, m0, vc, C, 0, 0, &emb, found ? &e1 : err))
            continue;
        if (!found || lm.est_cycles + emb.est_cycles < L->plm.est_cycles + L->pemb.est_cycles)
            L->plm = lm, L->pemb = emb, L->vc = vc, found = 1;
    }
    if (!found || mark_gc(L, &L->plm, glm, "lm_head.weight", err))
        return -1;
    L->vp = L->vc * chips;
    return 0;
}

/* The weights: embedding and LM head resident, the layers' linears
 * resident (a set per layer) or in per-layer remote buffers streamed into
 * one or two sets; the int4 decompress scratch; the LayerNorm parameters. */
static int alloc_weights(Lowered *L, IpuErr *err)
{
    const RunOptions *o = &L->opt;
    LowerBuilder *b = &L->b;
    uint32_t chips = o->chips, C = (uint32_t)L->cfg.n_embd, nl = (uint32_t)L->cfg.n_layer;
    L->pemb.tile0 = b->cursor, b->cursor += L->pemb.nb * L->pemb.kb;
    L->plm.tile0 = b->cursor, b->cursor += L->plm.nb * L->plm.kb;
    /* one decompress scratch for every int4 linear (all sets and layers): the largest block */
    uint64_t pool = lower_plan_decompressed(&L->plm) ? (uint64_t)L->plm.nblk * L->plm.kblk : 0;
    for (int li = 0; li < NLIN; li++)
        if (lower_plan_decompressed(&L->pl[li]) && (uint64_t)L->pl[li].nblk * L->pl[li].kblk > pool)
            pool = (uint64_t)L->pl[li].nblk * L->pl[li].kblk;
    if ((pool && lower_dec_pool(b, pool, err)) ||
        lower_linear_alloc_weights(b, "wte", &L->pemb, SRAM_WEIGHTS, &L->emb, err) ||
        lower_linear_alloc_weights(b, "lm_head", &L->plm, SRAM_WEIGHTS, &L->lm, err))
        return -1;
    L->weight_bytes = chips * (lower_linear_weight_bytes(&L->pemb) + lower_linear_weight_bytes(&L->plm));
    L->nsets = L->placement == PLACE_STREAM ? (o->overlap ? 2 : 1) : (int)nl;
    L->lw = calloc((size_t)L->nsets * NLIN, sizeof *L->lw);
    L->tile0 = calloc((size_t)L->nsets * NLIN, sizeof *L->tile0);
    L->ln1 = calloc((size_t)nl * chips, sizeof *L->ln1);
    L->remote = calloc((size_t)nl * chips, sizeof *L->remote);
    if (!L->lw || !L->tile0 || !L->ln1 || !L->remote)
        return ipu_err(err, "out of host memory");
    uint64_t layer_bytes = 0;
    for (int li = 0; li < NLIN; li++)
        layer_bytes += lower_linear_weight_bytes(&L->pl[li]);
    L->weight_bytes += (uint64_t)chips * nl * layer_bytes;
    char nm[64];
    for (int s = 0; s < L->nsets; s++)
        for (int li = 0; li < NLIN; li++) {
            /* every set (stream buffer sets, resident layers) of a linear lies on the same
             * tiles, so they share one int4 scratch and the activation buffers */
            if (s == 0)
                L->pl[li].tile0 = b->cursor, b->cursor += L->pl[li].nb * L->pl[li].kb;
            L->tile0[s * NLIN + li] = L->pl[li].tile0;
            snprintf(nm, sizeof nm, "%s%d.%s", L->placement == PLACE_STREAM ? "set" : "layer", s, lower_lin_names[li]);
            if (lower_linear_alloc_weights(b, nm, &L->pl[li], SRAM_WEIGHTS, &L->lw[s * NLIN + li], err))
                return -1;
        }
    for (uint32_t l = 0; l < nl; l++)
        for (uint32_t c = 0; c < chips; c++) {
            snprintf(nm, sizeof nm, "layer%u.ln_1.%u", l, c);
            if ((L->ln1[l * chips + c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, 1, 2 * C, b->cursor + l, SRAM_WEIGHTS,
                                                             err)) < 0)
                return -1;
            snprintf(nm, sizeof nm, "layer%u.weights.%u", l, c);
            if (L->placement == PLACE_STREAM && (L->remote[l * chips + c] = graph_add_remote(b->g, nm, c, layer_bytes, err)) < 0)
                return -1;
        }
    for (uint32_t c = 0; c < chips; c++) {
        snprintf(nm, sizeof nm, "ln_f.%u", c);
        if ((L->lnf[c] = lower_tensor_blocks(b, nm, DTYPE_FP16, c, 1, 2 * C, b->cursor + nl, SRAM_WEIGHTS, err)) < 0)
            return -1;
    }
    b->cursor += nl + 1;
    return 0;
}

/* The KV caches (each layer's on its own home tiles), or without a cache
 * one scratch for every layer, and the attention plans of both step graphs. */
static int alloc_caches(Lowered *L, IpuErr *err)
{
    const RunOptions *o = &L->opt;
    LowerBuilder *b = &L->b;
    uint32_t chips = o->chips, nl = (uint32_t)L->cfg.n_layer, hd = (uint32_t)L->cfg.head_dim;
    uint32_t sb = L->s < 64 ? rup(L->s, 16) : 64, nkb = rup(L->s, sb) / sb;
    uint32_t t0 = o->kv_cache ? o->prompt_len : L->s, homes = o->batch * L->hc * nkb, ncache = o->kv_cache ? nl : 1;
    L->kc = calloc((size_t)ncache * chips, sizeof *L->kc);
    L->vtc = calloc((size_t)ncache * chips, sizeof *L->vtc);
    L->kaux = calloc((size_t)ncache * chips * 4, sizeof *L->kaux);
    L->kv_tile0 = calloc(ncache, sizeof *L->kv_tile0);
    if (!L->kc || !L->vtc || !L->kaux || !L->kv_tile0)
        return ipu_err(err, "out of host memory");
    for (uint32_t l = 0; l < ncache; l++) {
        L->kv_tile0[l] = b->cursor, b->cursor += homes;
        AttnPlan cp = {o->batch, t0, L->hc, hd, nkb * sb, sb, nkb, 0, 0, L->kv_tile0[l], o->kv};
        char nm[64];
        snprintf(nm, sizeof nm, "layer%u.kv", l);
        if (lower_attn_cache(b, nm, &cp, o->kv_cache ? SRAM_KV_CACHE : SRAM_ACTIVATIONS, &L->kc[l * chips],
                             &L->vtc[l * chips], &L->kaux[(size_t)l * chips * 4], err))
            return -1;
        /* Without a cache the scratch is rewritten each layer, but only for the
         * positions of the run: the padding keys past seq_len are read (masked
         * scores, zero probabilities times V) and must stay the zeros they
         * start as, so the scratch keeps its bytes (one set, shared by the layers). */
        for (uint32_t c = 0; !o->kv_cache && c < chips; c++) {
            graph_tensor_set_always_live(b->g, L->kc[l * chips + c], 1);
            graph_tensor_set_always_live(b->g, L->vtc[l * chips + c], 1);
        }
    }
    uint32_t mqb = attn_wave_rows(L, t0, sb, nkb, ncache, homes);
    if (!mqb)
        return ipu_err(err, "attention: not one query row's buffers fit %.3g of what the KV caches and weights leave "
                            "on the key-block tiles",
                       b->mem_prop);
    L->sg[0].ap = (AttnPlan){o->batch, t0, L->hc, hd, nkb * sb, sb, nkb, mqb, (t0 + mqb - 1) / mqb, L->kv_tile0[0], o->kv};
    L->sg[1].ap = (AttnPlan){o->batch, 1, L->hc, hd, nkb * sb, sb, nkb, 1, 1, L->kv_tile0[0], o->kv};
    /* K and V^T of every position slot, at the cache's format (codes and scales) */
    L->kv_bytes = o->kv_cache ? (uint64_t)chips * nl * o->batch * L->hc * nkb * sb * 2 * kvq_row_bytes(&o->kv, hd) : 0;
    return 0;
}

/* One lowering with the weights placed `place` and the linears planning
 * for mem_prop: plans, weights, caches, the step graphs, the memory layout
 * of their programs, and in functional mode the weights' bytes. */
static int lower_try(const IpuArch *arch, const RunOptions *o, const GptjWeights *w, Placement place, double mem_prop,
                     Lowered **out, IpuErr *err)
{
    Lowered *L = calloc(1, sizeof *L);
    if (!L)
        return ipu_err(err, "out of host memory");
    *out = L;
    L->opt = *o, L->cfg = o->cfg, L->placement = place;
    L->hc = (uint32_t)L->cfg.n_head / o->chips, L->cc = L->hc * (uint32_t)L->cfg.head_dim;
    L->ic = (uint32_t)L->cfg.n_inner / o->chips;
    L->s = o->seq_len ? o->seq_len : o->prompt_len + o->gen_tokens;
    if (lower_setup(L, arch, w, mem_prop, err) || plan_linears(L, err) || alloc_weights(L, err) ||
        alloc_caches(L, err))
        return -1;
    L->nsg = o->kv_cache ? 2 : 1;
    for (int i = 0; i < L->nsg; i++)
        if (lower_step_graph(L, &L->sg[i], i ? 1 : L->sg[0].ap.t, i ? o->prompt_len : 0, err))
            return -1;
    /* tile memory with lifetimes over the prefill then the decode program; timing mode
     * lays out chip 0 (the chips it builds; the others mirror it) */
    int roots[2] = {L->sg[0].root, L->sg[L->nsg - 1].root};
    if (layout_graph(L->b.g, L->b.p, roots, (size_t)L->nsg, L->b.vchips, err))
        return -1;
    if (lower_uses_ok(&L->b, err)) /* a declaration after the last vertex of a set */
        return -1;
    return w ? lower_write_weights(L, w, err) : 0;
}

static int validate_opts(const IpuArch *a, const RunOptions *o, const GptjWeights *w, IpuErr *err)
{
    const GptjConfig *c = &o->cfg;
    if (gptj_config_validate(c, c->name, err))
        return -1;
    if (o->chips < 1 || o->chips > LOWER_MAX_CHIPS || o->chips > a->chips)
        return ipu_err(err, "chips %u: must be 1..%u (the arch has %u chips)", o->chips,
                       a->chips < LOWER_MAX_CHIPS ? a->chips : LOWER_MAX_CHIPS, a->chips);
    if (c->n_head % o->chips)
        return ipu_err(err, "chips %u does not divide n_head %d (heads are split between chips)", o->chips, c->n_head);
    if (c->n_inner % o->chips)
        return ipu_err(err, "chips %u does not divide n_inner %d", o->chips, c->n_inner);
    if (o->batch < 1 || o->prompt_len < 1 || o->gen_tokens < 1)
        return ipu_err(err, "batch, prompt_len and gen_tokens must be >= 1 (got %u, %u, %u)", o->batch, o->prompt_len,
                       o->gen_tokens);
    uint32_t s = o->seq_len ? o->seq_len : o->prompt_len + o->gen_tokens;
    if (o->prompt_len > s)
        return ipu_err(err, "prompt_len %u is longer than the sequence (seq_len %u)", o->prompt_len, s);
    if (o->prompt_len + o->gen_tokens - 1 > s)
        return ipu_err(err, "prompt_len %u + gen_tokens %u - 1 positions exceed seq_len %u", o->prompt_len,
                       o->gen_tokens, s);
    if (o->kv.fmt != KV_F16 && !o->kv_cache)
        return ipu_err(err, "kv_format %s needs kv_cache = on (without a cache every step recomputes the keys and "
                            "values in fp16)",
                       o->kv.fmt == KV_I8 ? "i8" : "q4g");
    int fp8 = o->weights.fmt == &quant_format_fp8e4m3 || o->weights.fmt == &quant_format_fp8e5m2;
    if (fp8 && o->fp8_amp == 1 && !a->amp_macs_per_cycle_fp8)
        return ipu_err(err, "fp8_amp = direct: arch '%s' has no fp8 AMP (amp_macs_per_cycle_fp8 = 0; the c600 preset "
                            "has one, or fp8_amp = auto widens fp8 weights to fp16)",
                       a->name);
    if ((int)s > c->n_positions)
        return ipu_err(err, "sequence length %u exceeds the model's context %d", s, c->n_positions);
    if (c->n_embd % 4 || c->head_dim % 16 || c->rotary_dim % 2)
        return ipu_err(err, "n_embd %d must be a multiple of 4 and head_dim %d of 16 for the tile codelets", c->n_embd,
                       c->head_dim);
    if (w && (w->cfg.n_layer != c->n_layer || w->cfg.n_embd != c->n_embd || w->cfg.vocab_size != c->vocab_size))
        return ipu_err(err, "weights (%s) do not match the config (%s)", w->cfg.name, c->name);
    return 0;
}

/* Out of tile memory, the linears' temporaries plan for half as much, up to
 * LOWER_MEMORY_RETRIES times (what a Poplar user does with
 * availableMemoryProportion); the first error is the one reported. */
#define LOWER_MEMORY_RETRIES 3

static int lower_fit(const IpuArch *arch, const RunOptions *o, const GptjWeights *w, Placement place, Lowered **out,
                     IpuErr *err)
{
    double prop = o->memory_proportion > 0 ? o->memory_proportion : LOWER_MEMORY_PROPORTION;
    IpuErr first;
    for (int i = 0; i <= LOWER_MEMORY_RETRIES; i++, prop /= 2) {
        Lowered *L = NULL;
        IpuErr e;
        if (!lower_try(arch, o, w, place, prop, &L, &e)) {
            *out = L;
            return 0;
        }
        lower_destroy(L);
        if (i == 0)
            first = e;
        if (!strstr(e.msg, "out of tile memory") && !strstr(e.msg, "no row of activations"))
            break;
    }
    *err = first;
    return -1;
}

int lower_gptj(const IpuArch *arch, const RunOptions *opt, const GptjWeights *w, Lowered **out, IpuErr *err)
{
    *out = NULL;
    if (validate_opts(arch, opt, w, err))
        return -1;
    Lowered *L = NULL;
    if (opt->placement != PLACE_STREAM) {
        IpuErr e1;
        if (!lower_fit(arch, opt, w, PLACE_RESIDENT, &L, &e1)) {
            *out = L;
            return 0;
        }
        if (opt->placement == PLACE_RESIDENT) {
            *err = e1;
            return ipu_err_prefix(err, "resident weights do not fit");
        }
    }
    if (lower_fit(arch, opt, w, PLACE_STREAM, &L, err))
        return ipu_err_prefix(err, "the graph does not fit even with streamed weights");
    *out = L;
    return 0;
}
