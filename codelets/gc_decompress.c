/* gc_decompress.c - Graphcore's unpack vertex and popops' broadcast binary
 * ops (see gc_decompress.h): specifications, tile versions, vertex types. */
#include "codelets/gc_decompress.h"

#include <stdlib.h>

#include "base/err.h"
#include "base/quant_format.h"
#include "codelets/isa.h"
#include "codelets/q4_isa.h"

/* ---- unpack ---- */

void gc_unpack_ref(uint16_t *out, const uint16_t *packed, uint32_t words)
{
    for (uint32_t j = 0; j < words; j++)
        for (unsigned i = 0; i < Q4_CODES_PER_WORD; i++)
            out[4 * (size_t)j + i] = fp16_from_f32((float)q4_code(packed[j], i));
}

/* One word -> one half4 per loop step: the subnormal trick, two exact
 * multiplications by 2^10, a 64-bit store (the vertex's loop). */
void gc_unpack(Worker *w, const GcUnpackArgs *a)
{
    if (a->estimate_words) {
        gc_unpack_ref(a->out, a->packed, a->words);
        w->cycles += 100 + 30 * (uint64_t)a->estimate_words;
        return;
    }
    isa_call(w);
    uint64_t mask = isa_h4_bits(const_h4(w, NIB_MASK32));
    Half4 p10 = const_h4(w, FP16_2P10_X2);
    isa_rpt(w);
    for (uint32_t j = 0; j < a->words; j++) {
        Half4 c = unpack_subnormal(w, isa_ld16(w, a->packed + j), mask);
        isa_st64_h4(w, a->out + 4 * (size_t)j, isa_f16v4mul(w, isa_f16v4mul(w, c, p10), p10));
    }
}

uint32_t gc_unpack_split(const GcUnpackArgs *all, uint32_t workers, GcUnpackArgs *parts)
{
    IPU_ASSERT(workers > 0);
    uint32_t base = all->words / workers, extra = all->words % workers, j0 = 0, used = 0;
    for (uint32_t k = 0; k < workers; k++) {
        uint32_t n = base + (k < extra);
        if (!n)
            continue;
        parts[used++] = (GcUnpackArgs){all->packed + j0, all->out + 4 * (size_t)j0, n, all->estimate_words};
        j0 += n;
    }
    return used;
}

static void unpack_run(Worker *w, const void *args) { gc_unpack(w, args); }
static uint64_t unpack_key(const void *args)
{
    const GcUnpackArgs *a = args;
    return (uint64_t)a->estimate_words << 32 | a->words;
}

static uint64_t unpack_measure(const IsaCosts *isa, const void *args)
{
    uint32_t words = ((const GcUnpackArgs *)args)->words;
    uint16_t *packed = calloc((size_t)words + 1, 2);
    uint16_t *out = aligned_alloc(8, 8 * ((size_t)words + 1));
    IPU_ASSERT(packed && out); /* host out of memory: not a user error */
    GcUnpackArgs a = {packed, out, words, ((const GcUnpackArgs *)args)->estimate_words};
    uint64_t cycles = vertex_measure_run(isa, unpack_run, &a);
    free(packed);
    free(out);
    return cycles;
}

static int unpack_native(const IsaCosts *isa, const void *args)
{
    (void)isa;
    const GcUnpackArgs *a = args;
    if ((uintptr_t)a->out % 8 || (uintptr_t)a->packed % 2)
        return -1; /* run() faults on these */
    gc_unpack_ref(a->out, a->packed, a->words);
    return 0;
}

const VertexType gc_unpack_vertex = {"gc.unpack4", sizeof(GcUnpackArgs), unpack_run, unpack_key, unpack_measure,
                                     unpack_native};

/* ---- broadcast binary ops ---- */

const char *const gc_bcast_kind_names[GC_BCAST_KINDS] = {
    "BroadcastScalar2D", "BroadcastScalar1D", "BroadcastVectorOuterByRow1D", "BroadcastVectorOuterByColumn1D",
    "BinaryOp1D",
};

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* poplibs gives up the scalar broadcast above this many distinct values on a tile. */
#define GC_MAX_SCALARS 256

void gc_bcast_ref(const GcBcastArgs *a)
{
    for (uint32_t i = 0; i < a->n; i++) {
        uint16_t b = a->expanded ? a->b[i] : a->b[(a->phase + i) / a->group];
        a->out[i] = a->op == GC_OP_MUL ? fp16_mul(a->in[i], b) : fp16_add(a->in[i], b);
    }
}

/* popops' estimators (gc_decompress.h); vector width 4 halves, 6 workers. */
uint64_t gc_bcast_cycles(const GcBcastArgs *a)
{
    uint64_t g = a->group;
    switch ((GcBcastKind)a->kind) {
    case GC_SCALAR2D: { /* one region per group piece of the range */
        uint64_t c = 20;
        for (uint64_t e = 0; e < a->n;) {
            uint64_t len = g - (a->phase + e) % g;
            if (len > a->n - e)
                len = a->n - e;
            c += 28 + 5 * ceil_div(len, 4);
            e += len;
        }
        return c;
    }
    case GC_SCALAR1D:
        return 20 + 2 * ceil_div(ceil_div(a->cost_a, 6), 4);
    case GC_OUTER_ROW:
        return 15 + ceil_div(a->cost_a, 6) * (7 + 2 * ceil_div(g, 4));
    case GC_OUTER_COL:
        return 15 + a->cost_a * (7 + 2 * ceil_div(ceil_div(g, 6), 4));
    case GC_BINARY1D:
        return 26 + 3 * ceil_div(ceil_div(a->cost_a, 6), 4);
    default:
        IPU_ASSERT(!"gc_bcast: unknown kind");
        return 0;
    }
}

void gc_bcast(Worker *w, const GcBcastArgs *a)
{
    gc_bcast_ref(a);
    w->cycles += gc_bcast_cycles(a);
}

GcBcastKind gc_bcast_tile_kind(uint64_t e0, uint64_t e1, uint32_t g, uint64_t *nb)
{
    uint64_t distinct = ceil_div(e1, g) - e0 / g;
    int aligned = e0 % g == 0 && e1 % g == 0;
    *nb = distinct;
    if ((!aligned || distinct == 1) && distinct <= GC_MAX_SCALARS)
        return GC_SCALAR2D;
    if (aligned)
        return g < 24 ? GC_OUTER_ROW : GC_OUTER_COL; /* 6 workers x vector width 4 */
    *nb = e1 - e0;
    return GC_BINARY1D;
}

uint64_t gc_worker_share(uint64_t len)
{
    uint64_t per = ceil_div(ceil_div(len, 4), 6);
    return 4 * (per < 2 ? 2 : per);
}

uint64_t gc_bcast_tile_cycles(GcBcastKind kind, uint64_t e0, uint64_t e1, uint32_t g, int *scalar_1d)
{
    uint64_t len = e1 - e0;
    GcBcastArgs a = {.group = g, .kind = (uint8_t)kind};
    *scalar_1d = 0;
    if (kind != GC_SCALAR2D) {
        a.cost_a = (uint32_t)(kind == GC_BINARY1D ? len : len / g);
        return 6 * gc_bcast_cycles(&a) + 11;
    }
    uint64_t per = gc_worker_share(len), busiest = 0, sum1d = 0;
    for (uint64_t e = 0; e < len; e += per) {
        a.n = (uint32_t)(len - e < per ? len - e : per), a.phase = (uint32_t)((e0 + e) % g);
        uint64_t c = gc_bcast_cycles(&a);
        busiest = c > busiest ? c : busiest;
    }
    a.kind = GC_SCALAR1D;
    for (uint64_t e = e0; e < e1;) {
        uint64_t piece = g - e % g < e1 - e ? g - e % g : e1 - e;
        a.cost_a = (uint32_t)piece;
        sum1d += 6 * gc_bcast_cycles(&a) + 11;
        e += piece;
    }
    *scalar_1d = sum1d < 6 * busiest + 11;
    return *scalar_1d ? sum1d : 6 * busiest + 11;
}

uint64_t gc_pipeline_tile_cycles(const IsaCosts *isa, uint32_t g, uint64_t phase, uint64_t weights,
                                 GcBcastKind *kind, int *scalar_1d)
{
    GcUnpackArgs all = {NULL, NULL, (uint32_t)(weights / 4), 0}, parts[6];
    uint32_t np = gc_unpack_split(&all, 6, parts);
    uint64_t busiest = 0, nb;
    for (uint32_t k = 0; k < np; k++) {
        uint64_t c = gc_unpack_vertex.measure(isa, &parts[k]);
        busiest = c > busiest ? c : busiest;
    }
    *kind = gc_bcast_tile_kind(phase, phase + weights, g, &nb);
    return 6 * busiest + 2 * gc_bcast_tile_cycles(*kind, phase, phase + weights, g, scalar_1d);
}

static void bcast_run(Worker *w, const void *args) { gc_bcast(w, args); }

static uint64_t bcast_key(const void *args)
{
    const GcBcastArgs *a = args;
    /* n < 2^24, phase and group < 2^13, cost_a < 2^20, kind < 8: what the cycles depend on */
    uint64_t k = a->kind == GC_SCALAR2D ? (uint64_t)a->n << 13 | a->phase : a->cost_a;
    return ((k << 13 | a->group) << 3 | a->kind);
}

static uint64_t bcast_measure(const IsaCosts *isa, const void *args)
{
    (void)isa;
    return gc_bcast_cycles(args);
}

static int bcast_native(const IsaCosts *isa, const void *args)
{
    (void)isa;
    gc_bcast_ref(args);
    return 0;
}

const VertexType gc_bcast_vertex = {"gc.bcast", sizeof(GcBcastArgs), bcast_run, bcast_key, bcast_measure,
                                    bcast_native};
