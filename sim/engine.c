/* engine.c - the superstep loop: walking the tree, timing and running each
 * leaf step (see engine.h for the rules). Costs of Copy, StreamCopy,
 * collective and Sync steps depend only on the graph and arch, so
 * engine_start computes them once while validating; Execute costs come from
 * running the vertices (functional) or from the measure cache (timing). */
#include <stdlib.h>
#include <string.h>

#include "sim/engine_priv.h"
#include "sim/layout.h"
#include "sim/links.h"

Engine *engine_create(Graph *g, IpuErr *err)
{
    Engine *e = calloc(1, sizeof *e);
    uint32_t tiles = arch_total_tiles(&g->arch);
    if (e) {
        e->g = g;
        e->cx.g = g;
        e->cx.tile_a = calloc(tiles, sizeof *e->cx.tile_a);
        e->cx.tile_b = calloc(tiles, sizeof *e->cx.tile_b);
        e->pre.exec_step = -1;
        e->skip.b_step = -1;
        e->fast = ENGINE_FAST_ALL;
    }
    if (!e || !e->cx.tile_a || !e->cx.tile_b) {
        engine_destroy(e);
        ipu_err(err, "engine: out of host memory");
        return NULL;
    }
    return e;
}

static void free_costs(Engine *e)
{
    for (size_t i = 0; i < e->ncost; i++)
        free(e->cost[i].chip_cycles), free(e->cost[i].chip_bytes), free(e->cost[i].chip_recv_cycles);
    free(e->cost);
    e->cost = NULL;
    e->ncost = 0;
}

void engine_destroy(Engine *e)
{
    if (!e)
        return;
    free_costs(e);
    for (size_t i = 0; i < e->ncsc; i++)
        exec_cache_free(&e->csc[i]);
    free(e->csc);
    free(e->mtab);
    free(e->cx.tile_a);
    free(e->cx.tile_b);
    if (e->g)
        alias_materialize_all(e); /* a run left unfinished: the graph outlives the engine */
    fuse_free(e);
    alias_free(&e->alias);
    free(e);
}

void engine_set_trace(Engine *e, Trace *t) { e->trace = t; }
void engine_set_native(Engine *e, int on) { e->timed_functional = !on; }
void engine_set_poison(Engine *e, int on) { e->poison = on; }
void engine_set_fast(Engine *e, unsigned paths) { e->fast = paths & ENGINE_FAST_ALL; }
void engine_set_fusions(Engine *e, const VertexFusion *fusions, size_t n) { e->fusions = fusions, e->nfusions = n; }

int engine_fast_on(const Engine *e, unsigned f)
{
    return e->g->mode == GRAPH_FUNCTIONAL && !e->timed_functional && (e->fast & f);
}
uint64_t engine_cycles(const Engine *e) { return e->now; }
const Stats *engine_stats(const Engine *e) { return &e->stats; }

void engine_reset(Engine *e)
{
    e->now = 0;
    e->pending_cycles = 0;
    stats_clear(&e->stats);
}

static void cost_sync(const IpuArch *a, const Step *s, StepCost *c)
{
    uint64_t cyc = s->scope == SYNC_SYSTEM && a->chips > 1 ? a->sync_system_cycles : a->sync_chip_cycles;
    for (uint32_t ch = 0; ch < a->chips; ch++)
        c->chip_cycles[ch] = cyc;
}

/* The step lasts as long as its busiest chip. */
static void cost_busiest(const IpuArch *a, StepCost *c)
{
    c->cycles = 0;
    for (uint32_t ch = 0; ch < a->chips; ch++)
        if (c->chip_cycles[ch] > c->cycles)
            c->cycles = c->chip_cycles[ch];
}

static int validate(Engine *e, const Program *p, int id, int depth, IpuErr *err)
{
    if (depth >= ENGINE_MAX_DEPTH)
        return ipu_err(err, "program nests deeper than %d steps at step %d (a cycle?)", ENGINE_MAX_DEPTH, id);
    if (id < 0 || (size_t)id >= p->nsteps)
        return ipu_err(err, "program: step %d does not exist", id);
    const Step *s = &p->steps[id];
    StepCost *c = &e->cost[id];
    if (c->valid)
        return 0;
    if (s->category >= p->ncategories)
        return ipu_err(err, "step '%s': category %d does not exist", s->label, s->category);
    const IpuArch *a = &e->g->arch;
    int rc = 0;
    switch (s->kind) {
    case STEP_SEQUENCE:
        for (size_t i = 0; i < s->nchildren && !rc; i++)
            rc = validate(e, p, s->children[i], depth + 1, err);
        break;
    case STEP_REPEAT:
        rc = validate(e, p, s->body, depth + 1, err);
        break;
    case STEP_EXECUTE: {
        const ComputeSet *cs = graph_compute_set(e->g, s->cs);
        if (!cs)
            return ipu_err(err, "step '%s': compute set id %d does not exist", s->label, s->cs);
        for (size_t i = 0; i < cs->count; i++) {
            const VertexType *vt = cs->v[i].type;
            if (e->g->mode == GRAPH_TIMING && !vt->measure)
                return ipu_err(err, "step '%s': vertex type '%s' has no measure() for timing mode", s->label,
                               vt->name);
            if (e->g->mode == GRAPH_FUNCTIONAL && !vt->run)
                return ipu_err(err, "step '%s': vertex type '%s' has no run()", s->label, vt->name);
        }
        break;
    }
    case STEP_COPY:
        rc = cost_copy(&e->cx, s, c, err);
        /* moving the data in parallel: only for a functional step big enough to pay the team */
        if (!rc && e->g->mode == GRAPH_FUNCTIONAL && c->bytes >= ENGINE_PARALLEL_COPY_BYTES &&
            (c->par = cost_copy_independent(s)) < 0)
            rc = ipu_err(err, "engine: out of host memory");
        break;
    case STEP_STREAM:
        rc = cost_stream(&e->cx, s, c, err);
        break;
    case STEP_COLLECTIVE:
        rc = cost_collective(e->g, s, c, err);
        break;
    case STEP_SYNC:
        cost_sync(a, s, c);
        break;
    default:
        IPU_ASSERT(0);
    }
    if (rc)
        return -1;
    cost_busiest(a, c);
    c->sig = step_signature(s);
    c->valid = 1;
    return 0;
}

/* Keeps the costs of the leaf data-movement steps of the program last
 * started whose steps are unchanged on an unchanged graph (functional runs
 * start every step: the lowering patches a few Copy pairs in between);
 * everything else is validated afresh. 0 if nothing could be kept. */
static int keep_costs(Engine *e, const Program *p)
{
    if (!e->cost || e->costed != p || e->ncost != p->nsteps || e->cost_ntensors != e->g->ntensors ||
        e->cost_nremotes != e->g->nremotes || e->g->layout_stale)
        return 0;
    for (size_t i = 0; i < p->nsteps; i++) {
        const Step *s = &p->steps[i];
        StepCost *c = &e->cost[i];
        int leaf = s->kind == STEP_COPY || s->kind == STEP_STREAM || s->kind == STEP_COLLECTIVE || s->kind == STEP_SYNC;
        if (c->valid && !(leaf && c->sig == step_signature(s))) { /* as calloc'd: the costing adds up */
            uint64_t *cc = c->chip_cycles, *cb = c->chip_bytes, *cr = c->chip_recv_cycles;
            memset(cc, 0, e->g->arch.chips * sizeof *cc);
            *c = (StepCost){0};
            c->chip_cycles = cc, c->chip_bytes = cb, c->chip_recv_cycles = cr;
        }
    }
    return 1;
}

/* keep: the costs of steps validated by an earlier start of p stay
 * (engine_start_kept); otherwise keep_costs decides. */
static int start(Engine *e, const Program *p, int root, int keep, IpuErr *err)
{
    if (root < 0 && (root = program_root(p, err)) < 0)
        return -1;
    alias_materialize_all(e);
    int kept = (keep && e->costed == p && e->ncost == p->nsteps) || keep_costs(e, p);
    e->prog = e->started = NULL;
    e->sp = 0;
    e->pre.exec_step = -1;
    e->skip.b_step = -1;
    if (!kept) {
        free_costs(e);
        e->costed = NULL;
        e->cost = calloc(p->nsteps, sizeof *e->cost);
        if (!e->cost)
            return ipu_err(err, "engine: out of host memory");
        e->ncost = p->nsteps;
        for (size_t i = 0; i < p->nsteps; i++)
            if (!(e->cost[i].chip_cycles = calloc(e->g->arch.chips, sizeof(uint64_t))))
                return ipu_err(err, "engine: out of host memory");
        e->costed = p;
    }
    e->cost_ntensors = SIZE_MAX; /* keep_costs trusts only a whole validation */
    if (validate(e, p, root, 0, err))
        return -1;
    e->cost_ntensors = e->g->ntensors, e->cost_nremotes = e->g->nremotes;
    if ((e->g->layout_stale || !e->g->layout) && layout_graph(e->g, p, &root, 1, 0, err))
        return -1;
    if (e->poison && e->g->mode == GRAPH_FUNCTIONAL && layout_root_index(e->g->layout, root) < 0)
        return ipu_err(err, "engine: poisoning needs a memory layout made for the root step '%s'",
                       p->steps[root].label);
    e->prog = e->started = p;
    e->started_root = root;
    return engine_restart(e, err);
}

int engine_start(Engine *e, const Program *p, int root, IpuErr *err) { return start(e, p, root, 0, err); }
int engine_start_kept(Engine *e, const Program *p, int root, IpuErr *err) { return start(e, p, root, 1, err); }

/* What the kept costs (Copy steps, compute sets, measured worker cycles) depend on. */
static int same_kept_costs(const IpuArch *a, const IpuArch *b)
{
    if (a->chips != b->chips || a->chips_per_machine != b->chips_per_machine || a->tiles_per_chip != b->tiles_per_chip ||
        a->workers_per_tile != b->workers_per_tile || a->supervisor_launch_cycles != b->supervisor_launch_cycles ||
        a->vertex_launch_cycles != b->vertex_launch_cycles || a->exchange_bytes_per_cycle != b->exchange_bytes_per_cycle ||
        a->exchange_latency_cycles != b->exchange_latency_cycles || a->amp_macs_per_cycle_fp16 != b->amp_macs_per_cycle_fp16 ||
        a->amp_macs_per_cycle_fp32 != b->amp_macs_per_cycle_fp32)
        return 0;
    for (size_t i = 0; i < isa_cost_key_count; i++) {
        const IsaCostKey *k = &isa_cost_keys[i];
        const char *x = (const char *)&a->isa, *y = (const char *)&b->isa;
        if (*(const uint32_t *)(x + k->cycles_offset) != *(const uint32_t *)(y + k->cycles_offset) ||
            (k->enabled_offset != SIZE_MAX && *(const bool *)(x + k->enabled_offset) != *(const bool *)(y + k->enabled_offset)))
            return 0;
    }
    return 1;
}

int engine_set_arch(Engine *e, const IpuArch *a, IpuErr *err)
{
    if (!same_kept_costs(&e->g->arch, a))
        return ipu_err(err, "engine_set_arch: the new arch changes tiles, workers, launch, exchange, AMP or ISA "
                            "costs (make a new engine)");
    if (arch_validate(a, err))
        return -1;
    e->g->arch = *a;
    for (size_t i = 0; i < e->ncost; i++) {
        StepCost *c = &e->cost[i];
        const Step *s = &e->costed->steps[i];
        if (!c->valid)
            continue;
        if (s->kind == STEP_STREAM && cost_stream_time(a, c, err))
            return -1;
        if (s->kind == STEP_COLLECTIVE) {
            memset(c->chip_cycles, 0, a->chips * sizeof *c->chip_cycles);
            c->bytes = 0;
            if (cost_collective(e->g, s, c, err))
                return -1;
        }
        if (s->kind == STEP_SYNC)
            cost_sync(a, s, c);
        cost_busiest(a, c);
    }
    return 0;
}

int engine_restart(Engine *e, IpuErr *err)
{
    if (!e->started)
        return ipu_err(err, "engine_restart: no program was started");
    alias_materialize_all(e); /* a run left unfinished */
    e->nwatch = 0;
    e->skip.b_step = -1;
    e->prog = e->started;
    e->pre.exec_step = -1;
    e->stack[0] = (Frame){e->started_root, 0, 0};
    e->sp = 1;
    int r = e->g->layout ? layout_root_index(e->g->layout, e->started_root) : -1;
    e->pos = r < 0 ? SIZE_MAX : layout_root_pos(e->g->layout, (size_t)r);
    return 0;
}

/* ---- Execute ---- */

int engine_cs_group(Engine *e, int id)
{
    if ((size_t)id >= e->ncsc) {
        CsCache *n = realloc(e->csc, e->g->ncs * sizeof *n);
        if (!n)
            return -1;
        memset(n + e->ncsc, 0, (e->g->ncs - e->ncsc) * sizeof *n);
        e->csc = n;
        e->ncsc = e->g->ncs;
    }
    return exec_cache_group(&e->csc[id], e->g, &e->g->cs[id]);
}

static uint64_t measure_cached(Engine *e, const Vertex *v)
{
    uint64_t key = v->type->shape_key ? v->type->shape_key(v->args) : 0;
    if (e->mcount * 2 >= e->mcap) {
        size_t cap = e->mcap ? e->mcap * 2 : 256;
        MeasureEntry *n = calloc(cap, sizeof *n);
        IPU_ASSERT(n);
        for (size_t i = 0; i < e->mcap; i++) {
            if (!e->mtab[i].type)
                continue;
            size_t h = (size_t)((e->mtab[i].key * 0x9E3779B97F4A7C15ull) ^ (uintptr_t)e->mtab[i].type) & (cap - 1);
            while (n[h].type)
                h = (h + 1) & (cap - 1);
            n[h] = e->mtab[i];
        }
        free(e->mtab);
        e->mtab = n;
        e->mcap = cap;
    }
    size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) ^ (uintptr_t)v->type) & (e->mcap - 1);
    while (e->mtab[h].type) {
        if (e->mtab[h].type == v->type && e->mtab[h].key == key)
            return e->mtab[h].cycles;
        h = (h + 1) & (e->mcap - 1);
    }
    e->mtab[h] = (MeasureEntry){v->type, key, v->type->measure(&e->g->arch.isa, v->args)};
    e->mcount++;
    return e->mtab[h].cycles;
}

/* One worker cycle through run() and the timed intrinsics costs the host
 * about this many times what it costs natively (host speed only). */
#define ENGINE_RUN_HOST_FACTOR 64
/* Host work of a native call beyond its cycles (the call, its checks, its
 * loop setup), in the same units: a set of thousands of one-row vertices is
 * worth a thread team even when their cycles are few. Host speed only. */
#define ENGINE_NATIVE_CALL_WORK 400

/* The functional native path's worker cycles of each vertex of cs, once per
 * compute set: measure() + 1 for a type with native(), 0 for one without or
 * whose shape faults when measured (run() then reports the fault); and
 * native_work, the set's host work in native worker cycles (a vertex
 * through run() counted ENGINE_RUN_HOST_FACTOR times, one whose measure()
 * faults as unbounded). Serial: measure_cached is not thread-safe. */
int engine_native_cycles(Engine *e, const ComputeSet *cs, CsCache *c)
{
    if (c->native_wc)
        return 0;
    c->native_wc = calloc(cs->count ? cs->count : 1, sizeof *c->native_wc);
    if (!c->native_wc)
        return -1;
    c->native_work = 0;
    for (size_t i = 0; i < cs->count; i++) {
        const Vertex *v = &cs->v[i];
        uint64_t m = v->type->measure ? measure_cached(e, v) : VERTEX_MEASURE_FAULT;
        c->native_wc[i] = m == VERTEX_MEASURE_FAULT || !v->type->native ? 0 : m + 1;
        uint64_t w = m == VERTEX_MEASURE_FAULT ? UINT64_MAX
                     : v->type->native            ? m + ENGINE_NATIVE_CALL_WORK
                                                  : m * ENGINE_RUN_HOST_FACTOR;
        c->native_work = w == UINT64_MAX || c->native_work == UINT64_MAX ? UINT64_MAX : c->native_work + w;
    }
    return 0;
}

static int run_execute(Engine *e, const Step *s, uint64_t *cycles, const uint64_t **chip_cycles, IpuErr *err)
{
    Graph *g = e->g;
    const ComputeSet *cs = &g->cs[s->cs];
    if (engine_cs_group(e, s->cs))
        return ipu_err(err, "engine: out of host memory");
    CsCache *c = &e->csc[s->cs];
    e->stats.vertices_run += cs->count;
    if (g->mode == GRAPH_TIMING && c->timed) {
        *cycles = c->cycles;
        *chip_cycles = c->chip_cycles;
        return 0;
    }
    int rc = 0;
    if (g->mode == GRAPH_FUNCTIONAL && !e->timed_functional) {
        /* the fast paths: a consumer of skipped writes, the second half of a
         * tile-by-tile pair, a producer whose writes are dead, a pair */
        if (engine_native_cycles(e, cs, c))
            return ipu_err(err, "engine: out of host memory");
        rc = fuse_consume(e, s, err);
        if (!rc)
            rc = fuse_prerun_exec(e, s, err);
        if (!rc)
            rc = fuse_skip(e, s, err);
        if (!rc)
            rc = fuse_tiles(e, s, err);
        if (rc) {
            c = &e->csc[s->cs]; /* the fast paths may have grown e->csc */
            *cycles = c->cycles;
            *chip_cycles = c->chip_cycles;
            return rc < 0 ? -1 : 0;
        }
    }
    ExecRun r;
    if (exec_run_alloc(&r, cs->count, c->ngroups)) {
        exec_run_free(&r);
        return ipu_err(err, "engine: out of host memory");
    }
    if (g->mode == GRAPH_TIMING) {
        for (size_t i = 0; i < cs->count && !rc; i++) {
            r.wc[i] = measure_cached(e, &cs->v[i]);
            if (r.wc[i] == VERTEX_MEASURE_FAULT) {
                const Vertex *v = &cs->v[i];
                rc = ipu_err(err, "step '%s': compute set '%s': vertex '%s' on chip %u tile %u (global %u) faults "
                             "when measured (run it in functional mode for the message)",
                             s->label, cs->name, v->type->name, v->tile / g->arch.tiles_per_chip,
                             v->tile % g->arch.tiles_per_chip, v->tile);
            }
        }
    } else {
        const uint64_t *nwc = e->timed_functional ? NULL : c->native_wc;
        const uint8_t *touched = e->alias.n ? exec_cache_touched(c, g, cs) : NULL;
        if (e->alias.n && !touched) {
            exec_run_free(&r);
            return ipu_err(err, "engine: out of host memory");
        }
        if (touched)
            alias_materialize_touched(e, touched); /* its vertices read host buffers */
        const long ng = (long)c->ngroups;
        const IpuArch *a = &g->arch;
        int par = ng > 1 && (!nwc || c->native_work >= ENGINE_PARALLEL_MIN_WORK);
#pragma omp parallel for schedule(dynamic, 8) if (par)
        for (long gi = 0; gi < ng; gi++)
            exec_run_group(a, cs, c, nwc, gi, &r);
        rc = exec_fault(e->g, s, cs, c, &r, err);
    }
    if (!rc) {
        exec_schedule(e->g, cs, c, &r);
        *cycles = c->cycles;
        *chip_cycles = c->chip_cycles;
    }
    exec_run_free(&r);
    return rc;
}

/* ---- functional data movement ---- */

/* Pair i of Copy step s. */
static void copy_pair(Engine *e, const Step *s, size_t i)
{
    const CopyPair *p = &s->pairs[i];
    const Tensor *src = graph_tensor(e->g, p->src), *dst = graph_tensor(e->g, p->dst);
    const char *from = e->alias.n ? alias_data(e, p->src) : src->data;
    size_t esz = graph_dtype_bytes(src->dtype);
    for (uint64_t r = 0; r < p->rows; r++)
        memmove((char *)dst->data + (p->dst_first + r * p->dst_stride) * esz,
                from + (p->src_first + r * p->src_stride) * esz, p->n * esz);
}

void engine_do_copy(Engine *e, const Step *s)
{
    for (size_t i = 0; i < s->npairs && e->alias.n; i++)
        alias_materialize(e, s->pairs[i].dst); /* copy-on-write (the layout kept such a stream in place: never here) */
    const StepCost *c = &e->cost[s - e->prog->steps];
    long n = (long)s->npairs;
#pragma omp parallel for schedule(dynamic, 16) if (c->par && n > 1)
    for (long i = 0; i < n; i++)
        copy_pair(e, s, (size_t)i);
}

/* ---- the step loop ---- */

static void account(Engine *e, const Step *s, uint64_t cycles, uint64_t *kind_counter)
{
    *kind_counter += cycles;
    e->stats.cycles_total += cycles;
    if (s->category >= 0)
        e->stats.category_cycles[s->category] += cycles;
}

static void trace_chips(Engine *e, const Step *s, uint32_t tid, uint64_t start, const uint64_t *chip_cycles,
                        uint64_t bytes)
{
    if (!e->trace)
        return;
    const char *cat = s->category >= 0 ? e->prog->categories[s->category] : program_step_kind_names[s->kind];
    for (uint32_t ch = 0; ch < e->g->arch.chips; ch++)
        if (chip_cycles[ch])
            trace_add(e->trace, ch, tid, s->label, cat, start, chip_cycles[ch], bytes);
}

/* Pays a deferred stream before a step that cannot hide it. */
static void pay_pending(Engine *e)
{
    if (!e->pending_cycles)
        return;
    e->stats.cycles_stream += e->pending_cycles;
    e->stats.cycles_total += e->pending_cycles;
    if (e->pending_category >= 0)
        e->stats.category_cycles[e->pending_category] += e->pending_cycles;
    e->now += e->pending_cycles;
    e->pending_cycles = 0;
}

static int run_leaf(Engine *e, int id, EngineStepInfo *info, IpuErr *err)
{
    const Step *s = &e->prog->steps[id];
    const StepCost *c = &e->cost[id];
    const IpuArch *a = &e->g->arch;
    int functional = e->g->mode == GRAPH_FUNCTIONAL;
    *info = (EngineStepInfo){id, s->kind, s->label, s->category, 0, 0, c->bytes, 0};
    if (s->kind != STEP_EXECUTE)
        pay_pending(e);
    info->start_cycles = e->now;
    e->stats.supersteps++;
    switch (s->kind) {
    case STEP_EXECUTE: {
        uint64_t cyc = 0;
        const uint64_t *chip_cycles = NULL;
        if (run_execute(e, s, &cyc, &chip_cycles, err))
            return -1;
        uint64_t exposed = e->pending_cycles > cyc ? e->pending_cycles - cyc : 0;
        info->hidden_cycles = e->pending_cycles - exposed;
        e->stats.stream_hidden_cycles += info->hidden_cycles;
        if (exposed) {
            e->stats.cycles_stream += exposed;
            e->stats.cycles_total += exposed;
            if (e->pending_category >= 0)
                e->stats.category_cycles[e->pending_category] += exposed;
        }
        e->pending_cycles = 0;
        account(e, s, cyc, &e->stats.cycles_compute);
        trace_chips(e, s, TRACE_TID_TILES, e->now, chip_cycles, 0);
        info->cycles = cyc + exposed;
        info->bytes = 0;
        break;
    }
    case STEP_COPY:
        if (functional && !fuse_prerun_copy(e, id))
            engine_do_copy(e, s);
        e->stats.bytes_exchange += c->bytes;
        account(e, s, c->cycles, &e->stats.cycles_exchange);
        trace_chips(e, s, TRACE_TID_TILES, e->now, c->chip_cycles, c->bytes);
        info->cycles = c->cycles;
        break;
    case STEP_STREAM:
        if (functional && alias_stream(e, s))
            return ipu_err(err, "engine: out of host memory");
        e->stats.bytes_stream += c->bytes;
        if (s->overlap && a->io_tiles > 0) {
            /* runs on the I/O tiles under the next Execute step */
            e->pending_cycles = c->cycles;
            e->pending_category = s->category;
            info->hidden_cycles = c->cycles;
            trace_chips(e, s, TRACE_TID_STREAM, e->now, c->chip_cycles, c->bytes);
            return 1;
        }
        account(e, s, c->cycles, &e->stats.cycles_stream);
        trace_chips(e, s, TRACE_TID_TILES, e->now, c->chip_cycles, c->bytes);
        info->cycles = c->cycles;
        break;
    case STEP_COLLECTIVE:
        if (functional) {
            for (size_t i = 0; i < s->ntensors && e->alias.n; i++)
                alias_materialize(e, s->tensors[i]);
            links_collective_run(e->g, s->coll, s->tensors, s->ntensors);
        }
        e->stats.bytes_collective += c->bytes;
        account(e, s, c->cycles, &e->stats.cycles_collective);
        trace_chips(e, s, TRACE_TID_TILES, e->now, c->chip_cycles, c->bytes);
        info->cycles = c->cycles;
        break;
    case STEP_SYNC:
        account(e, s, c->cycles, &e->stats.cycles_sync);
        trace_chips(e, s, TRACE_TID_TILES, e->now, c->chip_cycles, 0);
        info->cycles = c->cycles;
        break;
    default:
        IPU_ASSERT(0);
    }
    e->now += info->cycles;
    return 1;
}

/* Poisoning: the bytes of each tensor whose value dies at this leaf's
 * position become 0xff (NaN in fp16 and fp32), so a later read of bytes the
 * layout may have given to another tensor shows in the results. Not inside
 * a Repeat with iterations to come (its values live to its end). */
static void poison_deaths(Engine *e)
{
    for (int i = 0; i < e->sp; i++) {
        const Step *s = &e->prog->steps[e->stack[i].step];
        if (s->kind == STEP_REPEAT && e->stack[i].idx < s->times)
            return;
    }
    const int *ids;
    size_t n = layout_deaths(e->g->layout, e->pos, &ids);
    for (size_t i = 0; i < n; i++) {
        const Tensor *t = graph_tensor(e->g, ids[i]);
        alias_forget(e, ids[i]);
        if (t->data)
            memset(t->data, 0xff, t->elems * graph_dtype_bytes(t->dtype));
    }
}

int engine_step(Engine *e, EngineStepInfo *info, IpuErr *err)
{
    if (!e->prog)
        return ipu_err(err, "engine_step: no program started");
    while (e->sp > 0) {
        Frame *f = &e->stack[e->sp - 1];
        const Step *s = &e->prog->steps[f->step];
        if (s->kind == STEP_SEQUENCE || s->kind == STEP_REPEAT) {
            uint64_t n = s->kind == STEP_SEQUENCE ? s->nchildren : s->times;
            if (f->idx >= n) {
                e->sp--;
                continue;
            }
            int child = s->kind == STEP_SEQUENCE ? s->children[f->idx] : s->body;
            if (s->kind == STEP_REPEAT && f->idx == 0)
                f->pos0 = e->pos;
            else if (s->kind == STEP_REPEAT && e->pos != SIZE_MAX)
                e->pos = f->pos0; /* every iteration runs the body's positions again */
            f->idx++;
            IPU_ASSERT(e->sp < ENGINE_MAX_DEPTH); /* validate() bounded the depth */
            e->stack[e->sp++] = (Frame){child, 0, 0};
            continue;
        }
        e->sp--;
        if (e->nwatch && fuse_watch(e, &e->prog->steps[f->step], err))
            return -1;
        int rc = run_leaf(e, f->step, info, err);
        if (rc == 1 && e->pos != SIZE_MAX) {
            if (e->poison && e->g->mode == GRAPH_FUNCTIONAL)
                poison_deaths(e);
            e->pos++;
        }
        return rc;
    }
    pay_pending(e);
    alias_materialize_all(e); /* the host sees every tensor's bytes in its host buffer */
    e->nwatch = 0;
    e->prog = NULL;
    return 0;
}

int engine_run(Engine *e, const Program *p, IpuErr *err)
{
    if (engine_start(e, p, -1, err))
        return -1;
    EngineStepInfo info;
    int rc;
    while ((rc = engine_step(e, &info, err)) == 1)
        ;
    return rc;
}
