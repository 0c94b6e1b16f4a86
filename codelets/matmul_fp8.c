/* matmul_fp8.c - the AMP matmul with fp8 weights and the column scale
 * (see matmul_fp8.h): specifications first, then the tile versions and
 * their vertex types. */
#include "codelets/matmul_fp8.h"

#include <stdlib.h>
#include <string.h>

#include "codelets/isa.h"
#include "codelets/isa_ext.h"
#include "codelets/isa_amp.h"
#include "sim/arch.h"
#include "base/quant_fp8.h"

static Fp8Kind kind_of(const MatmulFp8Args *p) { return p->e5m2 ? FP8_E5M2 : FP8_E4M3; }
static uint32_t v_stride_of(const MatmulFp8Args *p) { return p->mm.w_stride ? p->mm.w_stride : p->mm.k; }

/* v (n, k) widened to a dense fp16 (n, k); NULL when out of host memory. */
static uint16_t *widen(const MatmulFp8Args *p)
{
    uint32_t vs = v_stride_of(p);
    uint16_t *w = malloc((size_t)p->mm.n * p->mm.k * sizeof *w + 2);
    if (w)
        for (uint32_t n = 0; n < p->mm.n; n++)
            for (uint32_t k = 0; k < p->mm.k; k++)
                w[(size_t)n * p->mm.k + k] = fp8_to_fp16(kind_of(p), p->v[(size_t)n * vs + k]);
    return w;
}

void matmul_fp8_ref(const MatmulFp8Args *p, LayerDtype partials)
{
    uint16_t *w = widen(p);
    IPU_ASSERT(w); /* host out of memory: not a user error */
    MatmulArgs m = p->mm;
    m.w = w, m.w_stride = 0;
    matmul_ref(&m, partials);
    free(w);
}

/* The AMP's fp8 weight load: the block's codes as their exact fp16 values,
 * zero padded; half of isa.amp_weight_load (256 bytes, half an fp16 block's
 * ld128s: assumption, see the header). */
static void amp_load_weights_fp8(Worker *wk, AmpState *amp, const uint8_t *v, uint32_t stride, uint32_t nn,
                                 uint32_t nk, Fp8Kind kind)
{
    memset(amp->w, 0, sizeof amp->w);
    if (v)
        for (uint32_t n = 0; n < nn; n++)
            for (uint32_t k = 0; k < nk; k++)
                amp->w[n][k] = fp8_to_fp16(kind, v[(size_t)n * stride + k]);
    wk->cycles += (wk->isa->amp_weight_load + 1) / 2;
}

/* matmul_fp8's block load: the codes of rows n0.. from input k0 (none without data). */
static void load_fp8_block(Worker *wk, AmpState *amp, const void *ctx, uint32_t n0, uint32_t k0, uint32_t nn,
                           uint32_t nk)
{
    const MatmulFp8Args *pf = ctx;
    uint32_t vs = v_stride_of(pf);
    int data = pf->mm.a && pf->v && pf->mm.out;
    amp_load_weights_fp8(wk, amp, data ? pf->v + (size_t)n0 * vs + k0 : NULL, vs, nn, nk, kind_of(pf));
}

void matmul_fp8(Worker *wk, const MatmulFp8Args *pf, LayerDtype partials)
{
    matmul_amp_blocks(wk, &pf->mm, partials, pf->mm.a && pf->v && pf->mm.out, load_fp8_block, pf);
}

uint64_t matmul_fp8_cycles(const IsaCosts *isa, uint32_t m, uint32_t k, uint32_t n, uint32_t amp_macs_per_cycle,
                           LayerDtype partials)
{
    uint64_t blocks = (uint64_t)((n + AMP_BLOCK_N - 1) / AMP_BLOCK_N) * ((k + AMP_BLOCK_K - 1) / AMP_BLOCK_K);
    return matmul_amp_cycles(isa, m, k, n, amp_macs_per_cycle, partials) -
           blocks * (isa->amp_weight_load - (isa->amp_weight_load + 1) / 2);
}

uint32_t matmul_fp8_split(const MatmulFp8Args *whole, LayerDtype partials, uint32_t workers, MatmulFp8Args *parts)
{
    MatmulArgs mp[ARCH_MAX_WORKERS_PER_TILE];
    IPU_ASSERT(workers <= ARCH_MAX_WORKERS_PER_TILE);
    uint32_t count = matmul_split(&whole->mm, partials, workers, mp), n0 = 0;
    for (uint32_t i = 0; i < count; i++) {
        parts[i] = *whole;
        parts[i].mm = mp[i];
        if (whole->mm.m < workers) { /* by column blocks: the codes follow the outputs */
            parts[i].v = whole->v ? whole->v + (size_t)n0 * v_stride_of(whole) : NULL;
            n0 += mp[i].n;
        }
    }
    return count;
}

/* ---- vertex types ---- */

static void run_f16(Worker *w, const void *args) { matmul_fp8(w, args, LAYER_F16); }
static void run_f32(Worker *w, const void *args) { matmul_fp8(w, args, LAYER_F32); }

static uint64_t shape_key(const void *args)
{
    const MatmulFp8Args *p = args;
    uint64_t h = layer_key_mix(0, p->mm.m);
    h = layer_key_mix(h, p->mm.k);
    h = layer_key_mix(h, p->mm.n);
    return layer_key_mix(h, p->mm.amp_macs_per_cycle);
}

/* Cycles depend on the shape only: the data-free path charges what the
 * arithmetic path does (matmul_fp8 runs the same loops either way). */
static uint64_t measure(const IsaCosts *isa, const void *args, LayerDtype partials)
{
    MatmulFp8Args s = *(const MatmulFp8Args *)args;
    s.mm.a = NULL, s.v = NULL, s.mm.out = NULL;
    return vertex_measure_run(isa, partials == LAYER_F16 ? run_f16 : run_f32, &s);
}
static uint64_t measure_f16(const IsaCosts *isa, const void *args) { return measure(isa, args, LAYER_F16); }
static uint64_t measure_f32(const IsaCosts *isa, const void *args) { return measure(isa, args, LAYER_F32); }

/* Native: the codes widened once, then the fp16 matmul's native path. */
static int native(const void *args, LayerDtype partials)
{
    const MatmulFp8Args *p = args;
    if (!p->mm.a || !p->v || !p->mm.out)
        return -1;
    uint16_t *w = widen(p);
    if (!w)
        return -1;
    MatmulArgs m = p->mm;
    m.w = w, m.w_stride = 0;
    matmul_native(&m, partials);
    free(w);
    return 0;
}
static int native_f16(const IsaCosts *isa, const void *args) { return native(args, LAYER_F16); }
static int native_f32(const IsaCosts *isa, const void *args) { return native(args, LAYER_F32); }

const VertexType matmul_fp8_f16_vertex = {"matmul.fp8_f16", sizeof(MatmulFp8Args), run_f16, shape_key, measure_f16,
                                          native_f16};
const VertexType matmul_fp8_f32_vertex = {"matmul.fp8_f32", sizeof(MatmulFp8Args), run_f32, shape_key, measure_f32,
                                          native_f32};

/* ---- partscale ---- */

void partscale_ref(const PartScaleArgs *a)
{
    for (uint32_t r = 0; r < a->rows; r++)
        for (uint32_t c = 0; c < a->cols; c++) {
            float *p = &a->p[(size_t)r * a->stride + c];
            *p = *p * fp16_to_f32(a->s[c]);
        }
}

void partscale(Worker *w, const PartScaleArgs *a)
{
    isa_call(w);
    for (uint32_t r = 0; r < a->rows; r++) {
        float *p = a->p + (size_t)r * a->stride;
        isa_rpt(w);
        for (uint32_t c = 0; c < a->cols; c += 2)
            isa_st64_f2(w, p + c, isa_f32v2mul(w, isa_ld64_f2(w, p + c), isa_f16v2tof32(w, isa_ld32(w, a->s + c))));
        isa_brnzdec(w);
    }
}

uint64_t partscale_cycles(const IsaCosts *isa, uint32_t rows, uint32_t cols)
{
    return isa->call +
           (uint64_t)rows * (isa->rpt + isa->brnzdec +
                             (uint64_t)cols / 2 * (isa->ld64 + isa->ld32 + isa->f16v2tof32 + isa->f32v2mul + isa->st64));
}

static void run_partscale(Worker *w, const void *args) { partscale(w, args); }

static uint64_t partscale_key(const void *args)
{
    const PartScaleArgs *a = args;
    return (uint64_t)a->rows << 32 | a->cols;
}

static uint64_t partscale_measure(const IsaCosts *isa, const void *args)
{
    const PartScaleArgs *a = args;
    return partscale_cycles(isa, a->rows, a->cols);
}

static int partscale_native(const IsaCosts *isa, const void *args)
{
    const PartScaleArgs *a = args;
    if (a->rows && (!a->p || !a->s || (uintptr_t)a->s % 4 || (uintptr_t)a->p % 8 || a->stride % 2))
        return -1;
    partscale_ref(a);
    return 0;
}

const VertexType partscale_vertex = {"partscale.f32", sizeof(PartScaleArgs), run_partscale, partscale_key,
                                     partscale_measure, partscale_native};

static const CodeletVariant fp8_variants[] = {
    {"fp8_f16", "fp8 weights into the AMP (exact fp16 inside), fp16 partials", &matmul_fp8_f16_vertex},
    {"fp8_f32", "fp8 weights into the AMP (exact fp16 inside), fp32 partials", &matmul_fp8_f32_vertex},
};
const CodeletFamily codelet_family_matmul_fp8 = {
    "matmul_fp8", "AMP matrix product with fp8 weights (an arch with amp_macs_per_cycle_fp8), bit-exact with matmul_fp8_ref",
    fp8_variants, sizeof fp8_variants / sizeof fp8_variants[0],
};

static const CodeletVariant partscale_variants[] = {
    {"f32", "p[r][c] x= s[c] in fp32, two columns per f32v2mul", &partscale_vertex},
};
const CodeletFamily codelet_family_partscale = {
    "partscale", "per-column scale of fp32 partials (fp8 weights' channel or tensor scale), bit-exact with partscale_ref",
    partscale_variants, sizeof partscale_variants / sizeof partscale_variants[0],
};
