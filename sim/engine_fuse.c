/* engine_fuse.c - the functional fast paths over an Execute and the next
 * one (see engine.h): tile by tile, and dead writes skipped.
 *
 * Both rest on two rules. A vertex touches only its own tile's memory (the
 * rule that lets the engine run tiles in parallel). And when Execute(A) is
 * followed, through Sync steps and Copy steps that touch no tensor of A's
 * footprint (sim/footprint.h), by Execute(B), those Copies commute with A.
 *
 * Tile by tile: running the Copies first and then, tile by tile, A's
 * vertices and B's gives the same memory as the program order (B's
 * vertices on a tile read only that tile's memory, which A's vertices on
 * other tiles never write); A's freshly written outputs are still in the
 * host cache when B reads them. Cycles are computed per compute set as
 * always and charged at each step; B's result (or fault) waits in e->pre
 * until its step, and the moved Copies skip their data movement then.
 *
 * Dead writes skipped: when every tensor A writes dies at B (sim/layout.h:
 * nothing reads it after B before it is written again), and a registered
 * VertexFusion takes A's vertex type then B's, A's vertices are not run on
 * the tiles the fusion accepts (its check, which also promises every
 * vertex's native() would run, so A's cycles are measure()'s as on the
 * native path). At B's step the fusion computes B's outputs there from
 * A's inputs, which are still as A would have read them: nothing between
 * A and B writes them. A tile with A's vertices and none of B's skips
 * them outright. Outputs of A on the deferred tiles are never written.
 * Poisoning keeps the check strong: A's written tensors are poisoned at
 * A's step and watched until their next write (fuse_watch), and A's
 * inputs must live until B (a deferred read of a value the layout let die
 * would escape the poison otherwise). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine_priv.h"
#include "sim/layout.h"

#define FUSE_MAX_GROUP 64     /* vertices of one set on one tile a fusion is handed */
#define FUSE_PREFETCH_AHEAD 2 /* tiles: a fusion is asked to prefetch this far ahead (host speed only) */

/* The step id of B for the Execute of compute set a being run, the Copy
 * steps before it (copies, *ncopies) and how many leaves on B is (*dist),
 * or -1 when there is none. */
static int fuse_partner(Engine *e, int a, int *copies, int *ncopies, int *dist)
{
    Frame st[ENGINE_MAX_DEPTH];
    int sp = e->sp;
    memcpy(st, e->stack, (size_t)sp * sizeof *st);
    const uint8_t *touched = NULL;
    *ncopies = 0;
    for (int look = 0; look < 4 * PRERUN_MAX; look++) {
        int id = exec_walk_next_leaf(e->prog, st, &sp);
        if (id < 0)
            return -1;
        const Step *s = &e->prog->steps[id];
        *dist = look + 1;
        if (s->kind == STEP_SYNC)
            continue;
        if (s->kind == STEP_EXECUTE)
            return s->cs != a ? id : -1;
        if (s->kind != STEP_COPY || *ncopies == PRERUN_MAX)
            return -1;
        if (!touched && !(touched = exec_cache_touched(&e->csc[a], e->g, &e->g->cs[a])))
            return -1;
        for (size_t i = 0; i < s->npairs; i++)
            if (touched[s->pairs[i].src] || touched[s->pairs[i].dst])
                return -1;
        copies[(*ncopies)++] = id;
    }
    return -1;
}

/* Both sets' tile groups merged by tile: m[k] = (group of A or -1, group of B or -1). */
static size_t merge_groups(const ComputeSet *ca, const CsCache *a, const ComputeSet *cb, const CsCache *bc,
                           int32_t (*m)[2])
{
    size_t nm = 0;
    for (size_t i = 0, j = 0; i < a->ngroups || j < bc->ngroups;) {
        uint32_t ta = i < a->ngroups ? ca->v[a->order[a->group_start[i]]].tile : UINT32_MAX;
        uint32_t tb = j < bc->ngroups ? cb->v[bc->order[bc->group_start[j]]].tile : UINT32_MAX;
        m[nm][0] = ta <= tb ? (int32_t)i++ : -1;
        m[nm][1] = tb <= ta ? (int32_t)j++ : -1;
        nm++;
    }
    return nm;
}

/* ---- tile by tile ---- */

/* The run records of compute sets A (ca, a) and B (cb, bc) and the table
 * of their merged groups (merge_groups); 0, or -1 with nothing allocated. */
static int pair_alloc(ExecRun *ra, ExecRun *rb, int32_t (**m)[2], const ComputeSet *ca, const CsCache *a,
                      const ComputeSet *cb, const CsCache *bc, IpuErr *err)
{
    *m = malloc((a->ngroups + bc->ngroups + 1) * sizeof **m);
    if (exec_run_alloc(ra, ca->count, a->ngroups) | exec_run_alloc(rb, cb->count, bc->ngroups) | (*m ? 0 : -1)) {
        exec_run_free(ra), exec_run_free(rb), free(*m);
        return ipu_err(err, "engine: out of host memory");
    }
    return 0;
}

/* Execute(A) at step s fused with Execute(B) at step b (see above). */
static int run_fused(Engine *e, const Step *s, int b, const int *copies, int ncopies, IpuErr *err)
{
    Graph *g = e->g;
    const Step *s2 = &e->prog->steps[b];
    const ComputeSet *ca = &g->cs[s->cs], *cb = &g->cs[s2->cs];
    if (engine_cs_group(e, s2->cs) || engine_native_cycles(e, cb, &e->csc[s2->cs]))
        return ipu_err(err, "engine: out of host memory");
    CsCache *a = &e->csc[s->cs], *bc = &e->csc[s2->cs]; /* after engine_cs_group: e->csc may move */
    if (e->alias.n) { /* both sets read host buffers */
        const uint8_t *ta = exec_cache_touched(a, g, ca), *tb = exec_cache_touched(bc, g, cb);
        if (!ta || !tb)
            return ipu_err(err, "engine: out of host memory");
        alias_materialize_touched(e, ta);
        alias_materialize_touched(e, tb);
    }
    ExecRun ra, rb;
    int32_t(*m)[2];
    if (pair_alloc(&ra, &rb, &m, ca, a, cb, bc, err))
        return -1;
    for (int i = 0; i < ncopies; i++)
        engine_do_copy(e, &e->prog->steps[copies[i]]);
    const long n = (long)merge_groups(ca, a, cb, bc, m);
    const IpuArch *arch = &g->arch;
    int par = n > 1 && (a->native_work >= ENGINE_PARALLEL_MIN_WORK || bc->native_work >= ENGINE_PARALLEL_MIN_WORK ||
                        a->native_work + bc->native_work >= ENGINE_PARALLEL_MIN_WORK);
#pragma omp parallel for schedule(dynamic, 8) if (par)
    for (long k = 0; k < n; k++) {
        if (m[k][0] >= 0)
            exec_run_group(arch, ca, a, a->native_wc, m[k][0], &ra);
        if (m[k][1] >= 0)
            exec_run_group(arch, cb, bc, bc->native_wc, m[k][1], &rb);
    }
    int rc = exec_fault(e->g, s, ca, a, &ra, err);
    if (!rc) {
        exec_schedule(e->g, ca, a, &ra);
        exec_schedule(e->g, cb, bc, &rb);
        IpuErr berr;
        e->pre.rc = exec_fault(e->g, s2, cb, bc, &rb, &berr);
        if (e->pre.rc)
            snprintf(e->pre.msg, sizeof e->pre.msg, "%s", berr.msg);
        e->pre.ncopies = ncopies, e->pre.next = 0;
        memcpy(e->pre.copies, copies, (size_t)ncopies * sizeof *copies);
        e->pre.exec_step = b;
    }
    exec_run_free(&ra), exec_run_free(&rb), free(m);
    return rc;
}

int fuse_tiles(Engine *e, const Step *s, IpuErr *err)
{
    if (!engine_fast_on(e, ENGINE_FAST_TILES) || e->poison)
        return 0;
    int copies[PRERUN_MAX], ncopies, dist, b = fuse_partner(e, s->cs, copies, &ncopies, &dist);
    if (b < 0)
        return 0;
    return run_fused(e, s, b, copies, ncopies, err) ? -1 : 1;
}

int fuse_prerun_copy(Engine *e, int id)
{
    if (e->pre.exec_step < 0 || e->pre.next >= e->pre.ncopies || e->pre.copies[e->pre.next] != id)
        return 0;
    e->pre.next++;
    return 1;
}

int fuse_prerun_exec(Engine *e, const Step *s, IpuErr *err)
{
    int id = (int)(s - e->prog->steps);
    if (e->pre.exec_step != id) {
        e->pre.exec_step = -1;
        return 0;
    }
    IPU_ASSERT(e->pre.next == e->pre.ncopies);
    e->pre.exec_step = -1;
    e->stats.executes_fused++;
    if (e->pre.rc) {
        ipu_err(err, "%s", e->pre.msg);
        return -1;
    }
    return 1;
}

/* ---- dead writes skipped ---- */

/* The one vertex type of a set's vertices, NULL if they mix types. */
static const VertexType *set_type(const ComputeSet *cs)
{
    const VertexType *t = cs->count ? cs->v[0].type : NULL;
    for (size_t i = 1; i < cs->count && t; i++)
        if (cs->v[i].type != t)
            t = NULL;
    return t;
}

static const VertexFusion *find_fusion(const Engine *e, const CsCache *a, const CsCache *b)
{
    for (size_t i = 0; i < e->nfusions; i++)
        if (e->fusions[i].first == a->vtype && e->fusions[i].second == b->vtype)
            return &e->fusions[i];
    return NULL;
}

static int has_id(const int *ids, size_t n, int id)
{
    size_t lo = 0, hi = n; /* layout_deaths lists are sorted */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id;
}

/* 1 if every tensor cs writes dies at position pb. */
static int writes_die_at(const Layout *l, const ComputeSet *cs, size_t pb)
{
    const int *ids;
    size_t n = layout_deaths(l, pb, &ids), nw = 0;
    for (size_t u = 0; u < cs->nuses; u++) {
        if (!(cs->uses[u].access & ACCESS_WRITE))
            continue;
        nw++;
        if (!has_id(ids, n, cs->uses[u].tensor))
            return 0;
    }
    return nw > 0;
}

/* 1 if a tensor of the footprint dies at a position in [p0, p1). */
static int dies_between(const Layout *l, const uint8_t *touched, size_t p0, size_t p1)
{
    for (size_t p = p0; p < p1; p++) {
        const int *ids;
        size_t n = layout_deaths(l, p, &ids);
        for (size_t i = 0; i < n; i++)
            if (touched[ids[i]])
                return 1;
    }
    return 0;
}

/* 1 if the engine is inside, or the walk to B went into, a Repeat of more
 * than one iteration: positions are not a straight count there. */
static int in_repeat(const Engine *e)
{
    for (int i = 0; i < e->sp; i++) {
        const Step *s = &e->prog->steps[e->stack[i].step];
        if (s->kind == STEP_REPEAT && s->times > 1)
            return 1;
    }
    return 0;
}

/* Args of group gi of (cs, c) into out; how many, 0 if more than FUSE_MAX_GROUP. */
static size_t group_args(const ComputeSet *cs, const CsCache *c, long gi, const void **out)
{
    size_t n = c->group_start[gi + 1] - c->group_start[gi];
    if (n > FUSE_MAX_GROUP)
        return 0;
    for (size_t k = 0; k < n; k++)
        out[k] = cs->v[c->order[c->group_start[gi] + k]].args;
    return n;
}

/* 1 if every vertex of group gi runs natively (measure() + 1 known). */
static int group_native(const CsCache *c, long gi)
{
    for (uint32_t k = c->group_start[gi]; k < c->group_start[gi + 1]; k++)
        if (!c->native_wc[c->order[k]])
            return 0;
    return 1;
}

/* Whether producer step s (A) may leave its vertices to a fusion at B, and B: -1 if not. */
static int skip_partner(Engine *e, const Step *s, const VertexFusion **fu, IpuErr *err)
{
    Graph *g = e->g;
    if (!engine_fast_on(e, ENGINE_FAST_DEAD) || !e->nfusions || e->pos == SIZE_MAX || !g->layout || in_repeat(e))
        return -1;
    const ComputeSet *ca = &g->cs[s->cs];
    CsCache *a = &e->csc[s->cs];
    if (!a->vtype_known)
        a->vtype = set_type(ca), a->vtype_known = 1;
    if (!a->vtype)
        return -1;
    int copies[PRERUN_MAX], ncopies, dist, b = fuse_partner(e, s->cs, copies, &ncopies, &dist);
    if (b < 0)
        return -1;
    const Step *sb = &e->prog->steps[b];
    size_t pb = e->pos + (size_t)dist;
    if (layout_step_at(g->layout, pb) != b || !writes_die_at(g->layout, ca, pb))
        return -1;
    if (engine_cs_group(e, sb->cs) || engine_native_cycles(e, &g->cs[sb->cs], &e->csc[sb->cs])) {
        ipu_err(err, "engine: out of host memory");
        return -2;
    }
    CsCache *bc = &e->csc[sb->cs];
    a = &e->csc[s->cs];
    if (!bc->vtype_known)
        bc->vtype = set_type(&g->cs[sb->cs]), bc->vtype_known = 1;
    if (!(*fu = find_fusion(e, a, bc)))
        return -1;
    if (e->poison) { /* A's inputs are read at B: they must live that long */
        const uint8_t *ta = exec_cache_touched(a, g, ca);
        if (!ta || dies_between(g->layout, ta, e->pos, pb))
            return -1;
    }
    return b;
}

/* Group gi's note (VertexFusion.note), NULL when the fusion keeps none. */
static void *fuse_note(const Skip *sk, long gi)
{
    return sk->fu->note_bytes ? sk->notes + (size_t)gi * sk->fu->note_bytes : NULL;
}

/* The tile groups of A deferred to B: checked by the fusion, in parallel. */
static void skip_check(Engine *e, const ComputeSet *ca, const CsCache *a, const ComputeSet *cb, const CsCache *bc,
                       const VertexFusion *fu, int32_t (*m)[2], long n, uint8_t *deferred)
{
    const IsaCosts *isa = &e->g->arch.isa;
#pragma omp parallel if (n > 64)
    {
        AliasReader rd; /* per thread */
        alias_reader_init(&rd, e);
        VertexMem mem = {alias_at, &rd};
#pragma omp for schedule(dynamic, 8)
        for (long k = 0; k < n; k++) {
            if (m[k][0] < 0)
                continue;
            const void *fa[FUSE_MAX_GROUP], *fb[FUSE_MAX_GROUP];
            size_t na = group_args(ca, a, m[k][0], fa), nb = m[k][1] >= 0 ? group_args(cb, bc, m[k][1], fb) : 0;
            deferred[m[k][0]] = na && (m[k][1] < 0 || nb) && group_native(a, m[k][0]) &&
                                (m[k][1] < 0 || group_native(bc, m[k][1])) &&
                                fu->native(isa, fa, na, fb, nb, &mem, VERTEX_FUSE_CHECK, fuse_note(&e->skip, m[k][0])) == 0;
        }
    }
}

int fuse_skip(Engine *e, const Step *s, IpuErr *err)
{
    const VertexFusion *fu = NULL;
    int b = skip_partner(e, s, &fu, err);
    if (b < 0)
        return b == -2 ? -1 : 0;
    Graph *g = e->g;
    const ComputeSet *ca = &g->cs[s->cs], *cb = &g->cs[e->prog->steps[b].cs];
    CsCache *a = &e->csc[s->cs], *bc = &e->csc[e->prog->steps[b].cs];
    Skip *sk = &e->skip;
    if (sk->cap < a->ngroups) {
        uint8_t *d = realloc(sk->deferred, a->ngroups);
        if (!d)
            return ipu_err(err, "engine: out of host memory");
        sk->deferred = d, sk->cap = a->ngroups;
    }
    if (sk->cap_notes < a->ngroups * fu->note_bytes) {
        unsigned char *nt = realloc(sk->notes, a->ngroups * fu->note_bytes);
        if (!nt)
            return ipu_err(err, "engine: out of host memory");
        sk->notes = nt, sk->cap_notes = a->ngroups * fu->note_bytes;
    }
    sk->fu = fu; /* fuse_note's */
    int32_t(*m)[2] = malloc((a->ngroups + bc->ngroups + 1) * sizeof *m);
    ExecRun ra;
    if (exec_run_alloc(&ra, ca->count, a->ngroups) || !m) {
        exec_run_free(&ra), free(m);
        return ipu_err(err, "engine: out of host memory");
    }
    if (e->poison) /* the values A would write: poisoned now, A's vertices that do run write theirs over it */
        for (size_t u = 0; u < ca->nuses; u++)
            if (ca->uses[u].access & ACCESS_WRITE) {
                const Tensor *t = graph_tensor(g, ca->uses[u].tensor);
                alias_forget(e, ca->uses[u].tensor);
                memset(t->data, 0xff, t->elems * graph_dtype_bytes(t->dtype));
            }
    const long n = (long)merge_groups(ca, a, cb, bc, m);
    memset(sk->deferred, 0, a->ngroups);
    if (alias_index(e)) {
        exec_run_free(&ra), free(m);
        return ipu_err(err, "engine: out of host memory");
    }
    skip_check(e, ca, a, cb, bc, fu, m, n, sk->deferred);
    size_t run = 0, skipped = 0;
    for (size_t gi = 0; gi < a->ngroups; gi++)
        if (sk->deferred[gi])
            skipped += a->group_start[gi + 1] - a->group_start[gi];
        else
            run++;
    const uint8_t *ta = run && e->alias.n ? exec_cache_touched(a, g, ca) : NULL;
    if (ta)
        alias_materialize_touched(e, ta); /* A's vertices that run read host buffers */
    const IpuArch *arch = &g->arch;
    const long ng = (long)a->ngroups;
    int par = run > 1 && a->native_work >= ENGINE_PARALLEL_MIN_WORK;
#pragma omp parallel for schedule(dynamic, 8) if (par)
    for (long gi = 0; gi < ng; gi++) {
        if (!sk->deferred[gi]) {
            exec_run_group(arch, ca, a, a->native_wc, gi, &ra);
            continue;
        }
        ra.fault[gi] = -1;
        for (uint32_t k = a->group_start[gi]; k < a->group_start[gi + 1]; k++)
            ra.wc[a->order[k]] = a->native_wc[a->order[k]] - 1;
    }
    int rc = exec_fault(g, s, ca, a, &ra, err);
    if (!rc) {
        exec_schedule(g, ca, a, &ra);
        sk->b_step = b, sk->a_step = (int)(s - e->prog->steps), sk->a_cs = s->cs, sk->fu = fu;
        e->stats.vertices_skipped += skipped;
    }
    exec_run_free(&ra), free(m);
    return rc ? -1 : 1;
}

/* Poisoning: A's written tensors are watched from B on. */
static int watch_add(Engine *e, const ComputeSet *ca, int producer)
{
    for (size_t u = 0; u < ca->nuses; u++) {
        if (!(ca->uses[u].access & ACCESS_WRITE))
            continue;
        if (e->nwatch == e->cap_watch) {
            size_t cap = e->cap_watch ? 2 * e->cap_watch : 16;
            Watch *w = realloc(e->watch, cap * sizeof *w);
            if (!w)
                return -1;
            e->watch = w, e->cap_watch = cap;
        }
        e->watch[e->nwatch++] = (Watch){ca->uses[u].tensor, producer};
    }
    return 0;
}

/* B's tile group of m[k]: the fusion where A's group was deferred, else
 * B's vertices as usual; a fusion that declines after all runs A then B. */
static void consume_tile(Engine *e, const ComputeSet *ca, const CsCache *a, const ComputeSet *cb, const CsCache *bc,
                         int32_t (*m)[2], long n, long k, const uint8_t *ta, ExecRun *ra, ExecRun *rb,
                         const VertexMem *mem)
{
    const Skip *sk = &e->skip;
    const IpuArch *arch = &e->g->arch;
    int32_t ga = m[k][0], gb = m[k][1];
    if (gb < 0)
        return; /* A's vertices there: run at A's step, or skipped outright */
    if (ga < 0 || !sk->deferred[ga]) {
        exec_run_group(arch, cb, bc, bc->native_wc, gb, rb);
        return;
    }
    const void *fa[FUSE_MAX_GROUP], *fb[FUSE_MAX_GROUP];
    /* the inputs of the tile after next on their way (the next one's are already): streamed weights
     * arrive from DRAM in about the time one tile's fused work takes */
    if (k + FUSE_PREFETCH_AHEAD < n && m[k + FUSE_PREFETCH_AHEAD][0] >= 0 && m[k + FUSE_PREFETCH_AHEAD][1] >= 0 &&
        sk->deferred[m[k + FUSE_PREFETCH_AHEAD][0]]) {
        size_t na = group_args(ca, a, m[k + FUSE_PREFETCH_AHEAD][0], fa);
        size_t nb = group_args(cb, bc, m[k + FUSE_PREFETCH_AHEAD][1], fb);
        sk->fu->native(&arch->isa, fa, na, fb, nb, mem, VERTEX_FUSE_PREFETCH,
                       fuse_note(sk, m[k + FUSE_PREFETCH_AHEAD][0]));
    }
    size_t na = group_args(ca, a, ga, fa), nb = group_args(cb, bc, gb, fb);
    if (sk->fu->native(&arch->isa, fa, na, fb, nb, mem, VERTEX_FUSE_RUN, fuse_note(sk, ga)) == 0) {
        rb->fault[gb] = -1;
        for (uint32_t q = bc->group_start[gb]; q < bc->group_start[gb + 1]; q++)
            rb->wc[bc->order[q]] = bc->native_wc[bc->order[q]] - 1;
        return;
    }
    for (size_t i = 0; ta && i < e->alias.n; i++) /* A's inputs home (read concurrently: the shared form) */
        if (ta[e->alias.ids[i]])
            alias_materialize_shared(e, e->alias.ids[i]);
    exec_run_group(arch, ca, a, a->native_wc, ga, ra);
    exec_run_group(arch, cb, bc, bc->native_wc, gb, rb);
}

/* B's tile groups, in parallel. */
static void consume_groups(Engine *e, const ComputeSet *ca, const CsCache *a, const ComputeSet *cb, const CsCache *bc,
                           int32_t (*m)[2], long n, const uint8_t *ta, ExecRun *ra, ExecRun *rb)
{
    int par = n > 1 && (a->native_work >= ENGINE_PARALLEL_MIN_WORK || bc->native_work >= ENGINE_PARALLEL_MIN_WORK ||
                        a->native_work + bc->native_work >= ENGINE_PARALLEL_MIN_WORK);
#pragma omp parallel if (par)
    {
        AliasReader rd; /* per thread */
        alias_reader_init(&rd, e);
        VertexMem mem = {alias_at, &rd};
#pragma omp for schedule(dynamic, 8)
        for (long k = 0; k < n; k++)
            consume_tile(e, ca, a, cb, bc, m, n, k, ta, ra, rb, &mem);
    }
}

int fuse_consume(Engine *e, const Step *s, IpuErr *err)
{
    Skip *sk = &e->skip;
    if (sk->b_step < 0)
        return 0;
    IPU_ASSERT(sk->b_step == (int)(s - e->prog->steps)); /* nothing but Syncs and Copies in between */
    sk->b_step = -1;
    Graph *g = e->g;
    const ComputeSet *ca = &g->cs[sk->a_cs], *cb = &g->cs[s->cs];
    CsCache *a = &e->csc[sk->a_cs], *bc = &e->csc[s->cs];
    const uint8_t *ta = e->alias.n ? exec_cache_touched(a, g, ca) : NULL;
    const uint8_t *tb = e->alias.n ? exec_cache_touched(bc, g, cb) : NULL;
    if (e->alias.n && (!ta || !tb))
        return ipu_err(err, "engine: out of host memory");
    if (tb)
        alias_materialize_touched(e, tb); /* B's own vertices read host buffers */
    if (alias_index(e))
        return ipu_err(err, "engine: out of host memory");
    ExecRun ra, rb;
    int32_t(*m)[2];
    if (pair_alloc(&ra, &rb, &m, ca, a, cb, bc, err))
        return -1;
    for (size_t gi = 0; gi < a->ngroups; gi++)
        ra.fault[gi] = -1;
    const long n = (long)merge_groups(ca, a, cb, bc, m);
    consume_groups(e, ca, a, cb, bc, m, n, ta, &ra, &rb);
    alias_settle(e);
    int rc = exec_fault(g, &e->prog->steps[sk->a_step], ca, a, &ra, err) || exec_fault(g, s, cb, bc, &rb, err);
    if (!rc) {
        exec_schedule(g, cb, bc, &rb);
        e->stats.executes_skipped++;
        if (e->poison && watch_add(e, ca, sk->a_step))
            rc = ipu_err(err, "engine: out of host memory");
    }
    exec_run_free(&ra), exec_run_free(&rb), free(m);
    return rc ? -1 : 1;
}

/* How step s uses tensor t: 0 not at all, 1 reads it, 2 writes it whole
 * (a pure write: a new value). */
static int step_use(Engine *e, const Step *s, int t, IpuErr *err)
{
    int use = 0;
    switch (s->kind) {
    case STEP_EXECUTE: {
        const ComputeSet *cs = &e->g->cs[s->cs];
        if (engine_cs_group(e, s->cs))
            return ipu_err(err, "engine: out of host memory");
        const uint8_t *touched = exec_cache_touched(&e->csc[s->cs], e->g, cs);
        if (!touched)
            return ipu_err(err, "engine: out of host memory");
        unsigned acc = 0;
        for (size_t u = 0; u < cs->nuses; u++)
            if (cs->uses[u].tensor == t)
                acc = cs->uses[u].access;
        return acc == ACCESS_WRITE ? 2 : acc || touched[t] ? 1 : 0;
    }
    case STEP_COPY:
        for (size_t i = 0; i < s->npairs; i++) {
            if (s->pairs[i].src == t)
                return 1;
            if (s->pairs[i].dst == t)
                use = 2;
        }
        return use;
    case STEP_STREAM:
        for (size_t i = 0; i < s->nxfers; i++)
            if (s->xfers[i].tensor == t)
                return s->dir == STREAM_TO_TILES ? 2 : 1;
        return 0;
    case STEP_COLLECTIVE:
        for (size_t i = 0; i < s->ntensors; i++)
            if (s->tensors[i] == t)
                return 1;
        return 0;
    default:
        return 0;
    }
}

int fuse_watch(Engine *e, const Step *s, IpuErr *err)
{
    for (size_t i = 0; i < e->nwatch;) {
        int t = e->watch[i].tensor, use = step_use(e, s, t, err);
        if (use < 0)
            return -1;
        if (use == 1)
            return ipu_err(err, "step '%s' reads tensor '%s', whose write at step '%s' the engine skipped as dead "
                                "after the next Execute (sim/layout): a use the program does not declare",
                           s->label, graph_tensor(e->g, t)->name, e->prog->steps[e->watch[i].producer].label);
        if (use == 2)
            e->watch[i] = e->watch[--e->nwatch];
        else
            i++;
    }
    return 0;
}

void fuse_free(Engine *e)
{
    free(e->skip.deferred);
    free(e->skip.notes);
    free(e->watch);
}
