/* bench_matmul.c - one linear layer lowered alone and run in timing mode (see bench_matmul.h). */
#include "host/bench_matmul.h"

#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"

double bench_matmul_min_xchg_bytes(const LinearPlan *pl, uint32_t m, uint32_t partial_bytes)
{
    double rows = (double)((m + pl->mb - 1) / pl->mb); /* a row group's */
    double in = rows * pl->kblk * 2;
    double part = pl->kb > 1 ? rows * pl->nblk * partial_bytes * (pl->kb - 1) / pl->kb : 0;
    double out = rows * pl->nblk * 2 / pl->kb;
    double copy = pl->mb > 1 ? (double)pl->nblk * pl->kblk * 2 : 0; /* a row group's weight block */
    return in + part + out + copy;
}

/* Adds each tile's bytes sent and received by Copy step s to sent / recv
 * (tiles each): every run of every pair walked interval by interval over
 * the two tensors' tile mappings; elements staying on their tile count
 * nothing (the engine's rule, sim/engine_cost.c, which keeps only the
 * busiest tile of each step). */
static void copy_tile_bytes(const Graph *g, const Step *s, uint64_t *sent, uint64_t *recv)
{
    for (size_t i = 0; i < s->npairs; i++) {
        const CopyPair *p = &s->pairs[i];
        const Tensor *src = graph_tensor(g, p->src), *dst = graph_tensor(g, p->dst);
        uint64_t esz = graph_dtype_bytes(src->dtype);
        for (uint64_t r = 0; r < p->rows; r++) {
            uint64_t sp = p->src_first + r * p->src_stride, dp = p->dst_first + r * p->dst_stride, left = p->n;
            size_t si, di;
            graph_tensor_tile_of(src, sp, &si);
            graph_tensor_tile_of(dst, dp, &di);
            while (left) { /* the mappings cover [0, elems) in order: the next interval follows */
                const TileInterval *sm = &src->map[si], *dm = &dst->map[di];
                uint64_t len = left;
                if (sm->end - sp < len)
                    len = sm->end - sp;
                if (dm->end - dp < len)
                    len = dm->end - dp;
                if (sm->tile != dm->tile)
                    sent[sm->tile] += len * esz, recv[dm->tile] += len * esz;
                left -= len, sp += len, dp += len;
                si += sp == sm->end;
                di += dp == dm->end;
            }
        }
    }
}

static int run_engine(LowerBuilder *b, int root, MatmulRun *out, IpuErr *err)
{
    uint32_t tiles = b->tiles;
    uint64_t *sent = calloc(tiles, sizeof *sent), *recv = calloc(tiles, sizeof *recv);
    Engine *en = NULL;
    int rc = -1;
    if (!sent || !recv) {
        ipu_err(err, "out of host memory");
        goto done;
    }
    if (!(en = engine_create(b->g, err)) || engine_start(en, b->p, root, err))
        goto done;
    EngineStepInfo info;
    int st;
    while ((st = engine_step(en, &info, err)) == 1) {
        const Step *s = &b->p->steps[info.step];
        if (info.kind == STEP_COPY) {
            out->copy_cycles += info.cycles, out->copy_bytes += info.bytes;
            copy_tile_bytes(b->g, s, sent, recv);
        } else if (info.kind == STEP_EXECUTE) {
            const ComputeSet *cs = graph_compute_set(b->g, s->cs);
            if (cs->count && cs->v[0].type == b->matmul_vt)
                out->amp_cycles += info.cycles;
            else
                out->reduce_cycles += info.cycles;
        } else if (info.kind == STEP_SYNC) {
            out->sync_cycles += info.cycles;
        }
    }
    if (st < 0)
        goto done;
    out->cycles = engine_cycles(en);
    /* every cycle is in one of the four sums; the walk moved what the engine costed */
    IPU_ASSERT(out->cycles == out->amp_cycles + out->reduce_cycles + out->copy_cycles + out->sync_cycles);
    uint64_t total = 0;
    for (uint32_t t = 0; t < tiles; t++) {
        total += sent[t];
        if (sent[t] + recv[t] > out->tile_xchg_bytes)
            out->tile_xchg_bytes = sent[t] + recv[t], out->tile_xchg_tile = t;
    }
    IPU_ASSERT(total == out->copy_bytes);
    rc = 0;
done:
    engine_destroy(en);
    free(sent);
    free(recv);
    return rc;
}

int bench_matmul_run(const IpuArch *a, uint32_t m, uint32_t k, uint32_t n, MatmulRun *out, IpuErr *err)
{
    memset(out, 0, sizeof *out);
    out->m = m, out->k = k, out->n = n;
    LowerBuilder b;
    if (lower_builder_standalone(&b, a, LAYER_F16, err))
        return -1;
    LinearWeights w;
    LinearScratch scr = {0};
    int x, y, seq_a, seq_b, root, rc = -1;
    if (lower_plan_linear(&b, "matmul", LIN_MATMUL, m, k, n, 0, 0, &out->plan, err) ||
        lower_linear_alloc_weights(&b, "matmul", &out->plan, SRAM_WEIGHTS, &w, err) ||
        (x = lower_tensor_interleaved(&b, "x", DTYPE_FP16, 0, m, k, err)) < 0 ||
        (y = lower_tensor_rows(&b, "y", DTYPE_FP16, 0, m, n, 0, b.usable, SRAM_ACTIVATIONS, err)) < 0 ||
        lower_linear_build(&b, "matmul", &out->plan, &w, m, &x, &y, 0, &scr, &seq_a, &seq_b, err))
        goto done;
    out->rows_per_chunk = scr.mc;
    out->chunks = ((m + out->plan.mb - 1) / out->plan.mb + scr.mc - 1) / scr.mc;
    if ((root = program_sequence(b.p, "root", err)) < 0 || lower_append(&b, root, seq_a, err) < 0 ||
        lower_append(&b, root, seq_b, err) < 0)
        goto done;
    program_set_root(b.p, root);
    if (run_engine(&b, root, out, err))
        goto done;
    const IpuArch *ga = &b.g->arch;
    out->compute_bound_cycles = (double)m * k * n / ((double)ga->tiles_per_chip * ga->amp_macs_per_cycle_fp16);
    out->xchg_bound_cycles = bench_matmul_min_xchg_bytes(&out->plan, m, 2) / ga->exchange_bytes_per_cycle;
    rc = 0;
done:
    free(scr.copies);
    lower_builder_free(&b);
    return rc ? ipu_err_prefix(err, "matmul M=%u K=%u N=%u", m, k, n) : 0;
}
