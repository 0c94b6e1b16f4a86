/* engine_exec.c - the engine's Execute-step machinery (see engine_exec.h). */
#include "sim/engine_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/footprint.h"

static uint32_t chip_of_(const IpuArch *a, uint32_t tile) { return tile / a->tiles_per_chip; }

void exec_cache_free(CsCache *c)
{
    free(c->order);
    free(c->group_start);
    free(c->chip_cycles);
    free(c->native_wc);
    free(c->touched);
    memset(c, 0, sizeof *c);
}

int exec_cache_group(CsCache *c, const Graph *g, const ComputeSet *cs)
{
    if (c->order && c->nverts == cs->count)
        return 0;
    exec_cache_free(c);
    uint32_t tiles = arch_total_tiles(&g->arch);
    /* counting sort by tile keeps insertion order within a tile */
    uint32_t *count = calloc(tiles + 1, sizeof *count);
    c->order = malloc((cs->count ? cs->count : 1) * sizeof *c->order);
    c->group_start = malloc((cs->count + 1) * sizeof *c->group_start);
    c->chip_cycles = calloc(g->arch.chips, sizeof *c->chip_cycles);
    if (!count || !c->order || !c->group_start || !c->chip_cycles) {
        free(count);
        return -1;
    }
    for (size_t i = 0; i < cs->count; i++)
        count[cs->v[i].tile + 1]++;
    for (uint32_t t = 0; t < tiles; t++) {
        if (count[t + 1])
            c->group_start[c->ngroups++] = count[t];
        count[t + 1] += count[t];
    }
    c->group_start[c->ngroups] = (uint32_t)cs->count;
    for (size_t i = 0; i < cs->count; i++)
        c->order[count[cs->v[i].tile]++] = (uint32_t)i;
    free(count);
    c->nverts = cs->count;
    return 0;
}

/* Tile time of one tile's vertices given their worker cycles, in order. */
static uint64_t schedule_tile(const IpuArch *a, const uint64_t *wc, const uint32_t *order, uint32_t n)
{
    uint64_t free_at[EXEC_MAX_WORKERS] = {0};
    uint32_t w = a->workers_per_tile < EXEC_MAX_WORKERS ? a->workers_per_tile : EXEC_MAX_WORKERS;
    uint64_t end = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t best = 0;
        for (uint32_t k = 1; k < w; k++)
            if (free_at[k] < free_at[best])
                best = k;
        free_at[best] += a->vertex_launch_cycles + wc[order[i]] * a->workers_per_tile;
        if (free_at[best] > end)
            end = free_at[best];
    }
    return a->supervisor_launch_cycles + end;
}

/* One compute set's functional results: worker cycles and per-group faults. */

int exec_run_alloc(ExecRun *r, size_t nverts, size_t ngroups)
{
    r->wc = malloc((nverts ? nverts : 1) * sizeof *r->wc);
    r->fault = malloc((ngroups ? ngroups : 1) * sizeof *r->fault);
    r->msg = malloc((ngroups ? ngroups : 1) * sizeof *r->msg);
    return r->wc && r->fault && r->msg ? 0 : -1;
}

void exec_run_free(ExecRun *r)
{
    free(r->wc);
    free(r->fault);
    free(r->msg);
}

/* Runs group gi (one tile's vertices, in order), natively where nwc says so,
 * stopping at the tile's first fault. */
void exec_run_group(const IpuArch *a, const ComputeSet *cs, const CsCache *c, const uint64_t *nwc, long gi,
                      ExecRun *r)
{
    r->fault[gi] = -1;
    for (uint32_t k = c->group_start[gi]; k < c->group_start[gi + 1]; k++) {
        uint32_t vi = c->order[k];
        const Vertex *v = &cs->v[vi];
        if (nwc && nwc[vi] && !v->type->native(&a->isa, v->args)) {
            r->wc[vi] = nwc[vi] - 1;
            continue;
        }
        Worker w;
        worker_init(&w, &a->isa, (int)v->tile);
        v->type->run(&w, v->args);
        r->wc[vi] = w.cycles;
        r->fault[gi] = -2;
        if (w.faulted) {
            r->fault[gi] = vi;
            memcpy(r->msg[gi], w.fault, sizeof w.fault);
            return;
        }
    }
}

/* The fault of the lowest faulting tile as the step's error, or 0. */
int exec_fault(const Graph *g, const Step *s, const ComputeSet *cs, const CsCache *c, const ExecRun *r, IpuErr *err)
{
    const IpuArch *a = &g->arch;
    for (size_t gi = 0; gi < c->ngroups; gi++)
        if (r->fault[gi] >= 0) {
            const Vertex *v = &cs->v[r->fault[gi]];
            return ipu_err(err, "step '%s': compute set '%s': vertex '%s' on chip %u tile %u (global %u) faulted: %s",
                           s->label, cs->name, v->type->name, v->tile / a->tiles_per_chip, v->tile % a->tiles_per_chip,
                           v->tile, r->msg[gi]);
        }
    return 0;
}

/* Tile times from the worker cycles: c->cycles and c->chip_cycles. A set
 * whose vertices all ran natively (r->fault all -1) keeps them: its worker
 * cycles are measure()'s, the same at every run. */
void exec_schedule(const Graph *g, const ComputeSet *cs, CsCache *c, const ExecRun *r)
{
    const IpuArch *a = &g->arch;
    const uint64_t *wc = r->wc;
    int native = g->mode == GRAPH_FUNCTIONAL;
    for (size_t gi = 0; gi < c->ngroups && native; gi++)
        native = r->fault[gi] == -1;
    if (native && c->native_timed)
        return;
    c->native_timed = native;
    memset(c->chip_cycles, 0, a->chips * sizeof *c->chip_cycles);
    c->cycles = 0;
    for (size_t gi = 0; gi < c->ngroups; gi++) {
        uint64_t t = schedule_tile(a, wc, c->order + c->group_start[gi], c->group_start[gi + 1] - c->group_start[gi]);
        uint32_t chip = chip_of_(a, cs->v[c->order[c->group_start[gi]]].tile);
        if (t > c->chip_cycles[chip])
            c->chip_cycles[chip] = t;
        if (t > c->cycles)
            c->cycles = t;
    }
    c->timed = g->mode == GRAPH_TIMING;
}

/* The next leaf step of a walk position (a copy of the engine's stack), as
 * engine_step would reach it; -1 at the end of the program. */
int exec_walk_next_leaf(const Program *p, Frame *st, int *sp)
{
    while (*sp > 0) {
        Frame *f = &st[*sp - 1];
        const Step *s = &p->steps[f->step];
        if (s->kind == STEP_SEQUENCE || s->kind == STEP_REPEAT) {
            uint64_t n = s->kind == STEP_SEQUENCE ? s->nchildren : s->times;
            if (f->idx >= n) {
                (*sp)--;
                continue;
            }
            int child = s->kind == STEP_SEQUENCE ? s->children[f->idx] : s->body;
            f->idx++;
            if (*sp >= EXEC_MAX_DEPTH)
                return -1;
            st[(*sp)++] = (Frame){child, 0, 0};
            continue;
        }
        (*sp)--;
        return f->step;
    }
    return -1;
}

const uint8_t *exec_cache_touched(CsCache *c, const Graph *g, const ComputeSet *cs)
{
    if (c->touched && c->ntouched == g->ntensors)
        return c->touched;
    free(c->touched);
    c->touched = malloc(g->ntensors ? g->ntensors : 1);
    if (c->touched && footprint_compute_set(g, cs, c->touched)) {
        free(c->touched);
        c->touched = NULL;
    }
    c->ntouched = g->ntensors;
    return c->touched;
}

