/* q4mm.c - decompress + matmul as one native step (see q4mm.h): the
 * structure checks, the scalar path, the fusion table. The AVX-512 path is
 * in q4mm_simd.c. */
#include "codelets/q4mm.h"

#include <stdlib.h>
#include <string.h>

#include "codelets/decompress.h"
#include "codelets/q4mm_simd.h"

/* The tile's decompress vertices, checked to be one run of consecutive
 * groups, with their inputs where mem says they can be read. check: also
 * that each vertex's own native() would run (the CHECK contract; RUN and
 * PREFETCH compute the same bits whatever the alignment). */
static int producer_run(const IsaCosts *isa, const VertexType *vt, const void *const *fa, size_t nf,
                        const VertexMem *mem, int check, Q4Run *r)
{
    if (!nf)
        return -1;
    const DecompressQ4Args *d0 = fa[0];
    uint32_t gs = d0->group_size;
    uint64_t groups = 0;
    for (size_t i = 0; i < nf; i++) {
        const DecompressQ4Args *d = fa[i];
        if (d->group_size != gs || !d->groups || (check && !decompress_q4_native_accepts(vt, isa, d)))
            return -1;
        if (d->packed != d0->packed + groups * gs / 4 || d->scale != d0->scale + groups ||
            d->bias != d0->bias + groups || d->out != d0->out + groups * gs)
            return -1;
        groups += d->groups;
    }
    r->gs = gs;
    r->groups = groups;
    r->out = d0->out;
    r->packed = mem->at(mem, d0->packed, groups * gs / 2);
    r->scale = mem->at(mem, d0->scale, groups * 2);
    r->bias = mem->at(mem, d0->bias, groups * 2);
    return r->packed && r->scale && r->bias ? 0 : -1;
}

static int overlaps(const void *p, uint64_t bytes, const uint16_t *lo, uint64_t elems)
{
    const char *a = p, *b = (const char *)lo;
    return a < b + elems * 2 && b < a + bytes;
}

/* Bytes a matrix operand of rows x cols elements of esz at stride spans. */
static uint64_t span_bytes(uint64_t rows, uint64_t cols, uint64_t stride, size_t esz)
{
    return rows && cols ? ((rows - 1) * stride + cols) * esz : 0;
}

/* How matmul p reads the scratch r->out: not at all (role 0), as its w
 * operand (1) or its a operand (2), each weight row starting on a group;
 * -1 for anything else (both operands, out inside the scratch, a row off
 * a group boundary). */
static int consumer_use(const Q4Run *r, const MatmulArgs *p, LayerDtype t, Q4Use *u)
{
    uint32_t as = p->a_stride ? p->a_stride : p->k, ws = p->w_stride ? p->w_stride : p->k;
    uint32_t os = p->out_stride ? p->out_stride : p->n;
    uint64_t e = r->groups * r->gs;
    if (!p->a || !p->w || !p->out || !p->m || !p->n || !p->k)
        return -1;
    int in_a = overlaps(p->a, span_bytes(p->m, p->k, as, 2), r->out, e);
    int in_w = overlaps(p->w, span_bytes(p->n, p->k, ws, 2), r->out, e);
    if ((in_a && in_w) || overlaps(p->out, span_bytes(p->m, p->n, os, layer_dtype_bytes(t)), r->out, e))
        return -1;
    memset(u, 0, sizeof *u);
    if (!in_a && !in_w)
        return 0;
    const uint16_t *x = in_w ? p->w : p->a;
    if (x < r->out)
        return -1;
    u->role = in_w ? Q4_ROLE_W : Q4_ROLE_A;
    u->rows = in_w ? p->n : p->m;
    u->xs = in_w ? ws : as;
    u->off = (uint64_t)(x - r->out);
    if (u->off % r->gs || u->xs % r->gs || p->k % r->gs || u->off + span_bytes(u->rows, p->k, u->xs, 1) > e)
        return -1;
    return 0;
}

void q4mm_scalar_rows(const Q4Run *r, const Q4Use *u, const MatmulArgs *p, LayerDtype t, uint32_t row0, uint32_t nrows,
                      uint32_t tok0, uint32_t ntok, const VertexMem *mem)
{
    uint32_t k = p->k, gpr = k / r->gs;
    uint32_t as = p->a_stride ? p->a_stride : p->k, ws = p->w_stride ? p->w_stride : p->k;
    uint32_t os = p->out_stride ? p->out_stride : p->n;
    uint16_t *buf = malloc((size_t)nrows * k * sizeof *buf);
    IPU_ASSERT(buf); /* host out of memory: not a model error */
    for (uint32_t i = 0; i < nrows; i++) {
        uint64_t g0 = (u->off + (uint64_t)(row0 + i) * u->xs) / r->gs;
        DecompressQ4Args d = {r->packed + g0 * r->gs / 4, r->scale + g0, r->bias + g0, buf + (size_t)i * k, gpr, r->gs};
        decompress_q4_native(&d);
    }
    MatmulArgs q = *p;
    size_t esz = layer_dtype_bytes(t);
    if (u->role == Q4_ROLE_W) { /* y (tokens m, rows n) */
        q.w = buf, q.w_stride = k, q.n = nrows, q.m = ntok;
        q.a = mem->at(mem, p->a + (size_t)tok0 * as, span_bytes(ntok, k, as, 2)), q.a_stride = as;
        q.out = (char *)p->out + ((size_t)tok0 * os + row0) * esz, q.out_stride = os;
    } else { /* y^T (rows m, tokens n) */
        q.a = buf, q.a_stride = k, q.m = nrows, q.n = ntok;
        q.w = mem->at(mem, p->w + (size_t)tok0 * ws, span_bytes(ntok, k, ws, 2)), q.w_stride = ws;
        q.out = (char *)p->out + ((size_t)row0 * os + tok0) * esz, q.out_stride = os;
    }
    IPU_ASSERT(q.a && q.w); /* checked before anything was written */
    matmul_native(&q, t);
    free(buf);
}

/* A run's packed words, scales and biases on their way to the cache. */
static int q4mm_prefetch_run(const Q4Run *r)
{
    const char *p = (const char *)r->packed;
    for (const char *end = p + r->groups * r->gs / 2; p < end; p += 64)
        __builtin_prefetch(p);
    for (uint64_t g = 0; g < r->groups; g += 32)
        __builtin_prefetch(r->scale + g), __builtin_prefetch(r->bias + g);
    return 0;
}

/* The same from the args (no note). */
static int q4mm_prefetch(const void *const *fa, size_t nf, const VertexMem *mem)
{
    if (!nf)
        return -1;
    const DecompressQ4Args *d0 = fa[0];
    uint64_t groups = 0;
    for (size_t i = 0; i < nf; i++)
        groups += ((const DecompressQ4Args *)fa[i])->groups;
    const char *p = mem->at(mem, d0->packed, groups * d0->group_size / 2);
    const uint16_t *sc = mem->at(mem, d0->scale, groups * 2), *bi = mem->at(mem, d0->bias, groups * 2);
    if (!p || !sc || !bi)
        return -1;
    for (const char *end = p + groups * d0->group_size / 2; p < end; p += 64)
        __builtin_prefetch(p);
    for (uint64_t g = 0; g < groups; g += 32)
        __builtin_prefetch(sc + g), __builtin_prefetch(bi + g);
    return 0;
}

/* A matmul that does not read the scratch: as its own native() would. */
static void plain_matmul(const MatmulArgs *p, LayerDtype t, const VertexMem *mem)
{
    uint32_t as = p->a_stride ? p->a_stride : p->k, ws = p->w_stride ? p->w_stride : p->k;
    MatmulArgs q = *p;
    q.a = mem->at(mem, p->a, span_bytes(p->m, p->k, as, 2));
    q.w = mem->at(mem, p->w, span_bytes(p->n, p->k, ws, 2));
    IPU_ASSERT(q.a && q.w);
    matmul_native(&q, t);
}

#define Q4MM_MAX_CONSUMERS 64
#define Q4MM_NOTE_USES 8

/* What CHECK found, kept by the engine for PREFETCH and RUN (VertexFusion.note). */
typedef struct Q4Note {
    uint32_t ok, nuse;         /* ok: r and use[0..nuse) hold */
    Q4Run r;
    Q4Use use[Q4MM_NOTE_USES];
} Q4Note;

/* 1 if matmul q continues *p over the next weight rows (the pieces
 * matmul_split cuts one matmul into): *p and *u then cover both. Each
 * output is the same chain either way, so the bits do not change; more
 * rows at once give the SIMD path independent chains. */
static int merge(MatmulArgs *p, Q4Use *u, const MatmulArgs *q, const Q4Use *v, LayerDtype t)
{
    uint32_t as = p->a_stride ? p->a_stride : p->k, ws = p->w_stride ? p->w_stride : p->k;
    uint32_t os = p->out_stride ? p->out_stride : p->n;
    uint32_t qas = q->a_stride ? q->a_stride : q->k, qws = q->w_stride ? q->w_stride : q->k;
    uint32_t qos = q->out_stride ? q->out_stride : q->n;
    size_t esz = layer_dtype_bytes(t);
    if (!u->role || v->role != u->role || v->xs != u->xs || v->off != u->off + (uint64_t)u->rows * u->xs ||
        q->k != p->k || q->accumulate != p->accumulate || as != qas || ws != qws || os != qos)
        return 0;
    if (u->role == Q4_ROLE_W) { /* y (m tokens, n rows): the next columns */
        if (q->a != p->a || q->m != p->m || (const char *)q->out != (const char *)p->out + (size_t)p->n * esz)
            return 0;
        p->n += q->n;
    } else { /* y^T (m rows, n tokens): the next rows */
        if (q->w != p->w || q->n != p->n || (const char *)q->out != (const char *)p->out + (size_t)p->m * os * esz)
            return 0;
        p->m += q->m;
    }
    p->a_stride = as, p->w_stride = ws, p->out_stride = os;
    u->rows += v->rows;
    return 1;
}

/* The producers and consumers of a tile, checked (CHECK also that every
 * vertex's own native() would run, and that the operands can be read). */
static int q4mm_check(const IsaCosts *isa, const VertexType *vt, LayerDtype t, const void *const *fa, size_t nf,
                      const void *const *sa, size_t ns, const VertexMem *mem, int check, Q4Run *r, Q4Use *use)
{
    if (ns > Q4MM_MAX_CONSUMERS || producer_run(isa, vt, fa, nf, mem, check, r))
        return -1;
    for (size_t i = 0; i < ns; i++) {
        const MatmulArgs *p = sa[i];
        uint32_t as = p->a_stride ? p->a_stride : p->k, ws = p->w_stride ? p->w_stride : p->k;
        if (consumer_use(r, p, t, &use[i]))
            return -1;
        if (check && ((use[i].role != Q4_ROLE_A && !mem->at(mem, p->a, span_bytes(p->m, p->k, as, 2))) ||
                      (use[i].role != Q4_ROLE_W && !mem->at(mem, p->w, span_bytes(p->n, p->k, ws, 2)))))
            return -1;
    }
    return 0;
}

/* The fusion itself: checks everything first (nothing is written unless
 * all of it holds), then computes the matmuls in order. RUN and PREFETCH
 * take CHECK's findings from the note when it has them. */
static int q4mm_run(const IsaCosts *isa, const VertexType *vt, LayerDtype t, int simd, const void *const *fa,
                    size_t nf, const void *const *sa, size_t ns, const VertexMem *mem, int mode, void *note)
{
    Q4Note *kept = note;
    int have = kept && mode != VERTEX_FUSE_CHECK && kept->ok && kept->nuse == ns;
    if (mode == VERTEX_FUSE_PREFETCH)
        return have ? q4mm_prefetch_run(&kept->r) : q4mm_prefetch(fa, nf, mem);
    Q4Run r;
    Q4Use use[Q4MM_MAX_CONSUMERS];
    if (have) {
        r = kept->r;
        memcpy(use, kept->use, ns * sizeof *use);
    } else if (q4mm_check(isa, vt, t, fa, nf, sa, ns, mem, mode == VERTEX_FUSE_CHECK, &r, use)) {
        if (kept)
            kept->ok = 0;
        return -1;
    }
    if (mode == VERTEX_FUSE_CHECK) {
        if (kept && (kept->ok = ns <= Q4MM_NOTE_USES)) {
            kept->nuse = (uint32_t)ns, kept->r = r;
            memcpy(kept->use, use, ns * sizeof *use);
        }
        return 0;
    }
    for (size_t i = 0; i < ns;) {
        MatmulArgs whole = *(const MatmulArgs *)sa[i];
        Q4Use u = use[i];
        size_t j = i + 1;
        while (j < ns && use[j].role && merge(&whole, &u, sa[j], &use[j], t))
            j++;
        if (u.role == 0)
            plain_matmul(&whole, t, mem);
        else if (!(simd && q4mm_simd_matmul(&r, &u, &whole, t, mem)))
            q4mm_scalar_rows(&r, &u, &whole, t, 0, u.rows, 0, u.role == Q4_ROLE_W ? whole.m : whole.n, mem);
        i = j;
    }
    return 0;
}

int q4mm_simd_available(void) { return q4mm_simd_cpu(); }

#define Q4MM_FUSION(variant, pt, dtype)                                                                        \
    static int fuse_##variant##_##pt(const IsaCosts *isa, const void *const *fa, size_t nf, const void *const *sa, \
                                     size_t ns, const VertexMem *mem, int mode, void *note)                                        \
    {                                                                                                          \
        return q4mm_run(isa, &decompress_q4_##variant##_vertex, dtype, q4mm_simd_cpu(), fa, nf, sa, ns, mem,   \
                        mode, note);                                                                                   \
    }                                                                                                          \
    static int scalar_##variant##_##pt(const IsaCosts *isa, const void *const *fa, size_t nf,                  \
                                       const void *const *sa, size_t ns, const VertexMem *mem, int mode, void *note)               \
    {                                                                                                          \
        return q4mm_run(isa, &decompress_q4_##variant##_vertex, dtype, 0, fa, nf, sa, ns, mem, mode, note);            \
    }

#define Q4MM_VARIANT(variant) Q4MM_FUSION(variant, f16, LAYER_F16) Q4MM_FUSION(variant, f32, LAYER_F32)
Q4MM_VARIANT(twopass)
Q4MM_VARIANT(fused)
Q4MM_VARIANT(lut)
Q4MM_VARIANT(fused2)
Q4MM_VARIANT(nibunpack)

#define Q4MM_ROWS(prefix, variant)                                                                             \
    {&decompress_q4_##variant##_vertex, &matmul_amp_f16_vertex, prefix##_##variant##_f16, sizeof(Q4Note)},     \
        {&decompress_q4_##variant##_vertex, &matmul_amp_f32_vertex, prefix##_##variant##_f32, sizeof(Q4Note)}

const VertexFusion q4mm_fusions[] = {
    Q4MM_ROWS(fuse, twopass), Q4MM_ROWS(fuse, fused), Q4MM_ROWS(fuse, lut), Q4MM_ROWS(fuse, fused2),
    Q4MM_ROWS(fuse, nibunpack),
};
const VertexFusion q4mm_fusions_scalar[] = {
    Q4MM_ROWS(scalar, twopass), Q4MM_ROWS(scalar, fused), Q4MM_ROWS(scalar, lut), Q4MM_ROWS(scalar, fused2),
    Q4MM_ROWS(scalar, nibunpack),
};
const size_t q4mm_fusion_count = sizeof q4mm_fusions / sizeof q4mm_fusions[0];
