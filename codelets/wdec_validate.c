/* wdec_validate.c - bit-exact checks and cycle measurements of the
 * weight-format decompress variants (see wdec_validate.h). */
#include "codelets/wdec_validate.h"

#include <stdlib.h>
#include <string.h>

#include "base/quant_format.h"
#include "base/quant_fp8.h"
#include "codelets/validate_util.h"

static const WdecEdgeScale edge_scales[] = {
    {0x0000, "zero"},
    {0x8000, "-0 (signed zeros)"},
    {0x3c00, "one: the codes' own values"},
    {0x2c00, "typical 1/16"},
    {0xb666, "negative -0.4"},
    {0x3c01, "1 + 2^-10: products round, ties"},
    {0x0001, "smallest subnormal 2^-24: most products underflow"},
    {0x03ff, "largest subnormal"},
    {0x0400, "smallest normal 2^-14"},
    {0x1400, "2^-10"},
    {0x5bff, "255.875, the largest below fp8's limit of 256"},
    {0xdbff, "-255.875"},
    {0x6c43, "4364: 15 x scale near 65504 (fp8e4m3: outside its domain)"},
    {0x7bff, "65504: products overflow to Inf (fp8e4m3: outside its domain)"},
};
enum { EDGE_FP8_OK = 12 }; /* the first 12 are below 256 in magnitude */

const WdecEdgeDq wdec_edge_dq[] = {
    {0.0f, 0.0f, "step 0, mean 0: every scale 0"},
    {0.0f, 0.5f, "step 0: every scale the mean"},
    {1e-3f, 0.05f, "typical"},
    {1e-3f, -0.2f, "negative scales"},
    {1.0f / 3, 1.0f / 7, "inexact fp32 products and sums"},
    {3e-8f, 0.0f, "fp16 subnormal and zero scales"},
    {5.9604645e-8f, 6.1035156e-5f, "around the fp16 subnormal boundary"},
    {600.0f, 65000.0f, "scales overflow to Inf"},
    {1e30f, 0.0f, "huge fp32 products, Inf scales"},
};
const uint32_t wdec_edge_dq_count = sizeof wdec_edge_dq / sizeof wdec_edge_dq[0];

const WdecEdgeScale *wdec_edge_scales(WdecFormat f, uint32_t *count)
{
    *count = f == WDEC_FP8E4M3 ? EDGE_FP8_OK : (uint32_t)(sizeof edge_scales / sizeof edge_scales[0]);
    return edge_scales;
}

void wdec_validation_init(WdecValidation *v) { memset(v, 0, sizeof *v); }

static unsigned code_of(WdecFormat f, const WdecArgs *a, size_t i)
{
    if (wdec_code_bits(f) == 4)
        return q4_code(((const uint16_t *)a->codes)[i / 4], (unsigned)(i % 4));
    return ((const uint8_t *)a->codes)[i];
}

/* Runs vt on a (out is replaced) and compares with wdec_ref. */
static int run_and_compare(const VertexType *vt, WdecFormat f, const IsaCosts *isa, WdecArgs a, WdecValidation *v)
{
    size_t elems = (size_t)a.groups * a.group_size;
    uint16_t *out = aligned_alloc(8, (elems * 2 + 7) / 8 * 8), *want = malloc(elems * 2 + 2);
    IPU_ASSERT(out && want);
    memset(out, 0xff, elems * 2); /* NaN pattern: a skipped store shows up */
    wdec_ref(f, want, &a);
    a.out = out;
    Worker w;
    worker_init(&w, isa, -1);
    vt->run(&w, &a);
    int bad = 0;
    if (w.faulted) {
        if (!v->faulted)
            memcpy(v->fault, w.fault, sizeof v->fault);
        v->faulted = bad = 1;
    }
    for (size_t i = 0; i < elems; i++) {
        v->checked++;
        if (out[i] == want[i])
            continue;
        bad = 1;
        v->mismatches++;
        if (v->reported < WDEC_MAX_REPORTED) {
            uint32_t g = (uint32_t)(i / a.group_size);
            WdecMismatch *m = &v->first[v->reported++];
            memset(m, 0, sizeof *m);
            m->group = g, m->element = (uint32_t)(i % a.group_size), m->group_size = a.group_size;
            m->code = code_of(f, &a, i);
            if (f == WDEC_NF4DQ) {
                m->qscale = a.qscale[g];
                m->step = wdec_dq_step(&a, g / a.seg_groups), m->mean = a.dq[0];
            } else {
                m->scale = a.scale[g];
            }
            m->got = out[i], m->want = want[i];
        }
    }
    free(out);
    free(want);
    return bad ? -1 : 0;
}

int wdec_validate_every_code(const VertexType *vt, WdecFormat f, const IsaCosts *isa, uint32_t e, WdecValidation *v)
{
    /* 4-bit: the 65536 words as 256 groups of 1024; 8-bit: one group of 1024
     * bytes, byte 4c + j = c + 64 j, so position j holds every code once */
    enum { N = 1024 };
    uint32_t groups = wdec_code_bits(f) == 4 ? 65536 * 4 / N : 1;
    uint16_t *codes = aligned_alloc(8, 131072), *scale = malloc(groups * 2);
    uint8_t *qs = malloc(groups + 1); /* + the last word's other byte */
    float *dq = aligned_alloc(8, 16);
    IPU_ASSERT(codes && scale && qs && dq);
    if (wdec_code_bits(f) == 4)
        for (uint32_t x = 0; x < 65536; x++)
            codes[x] = (uint16_t)x;
    else
        for (uint32_t i = 0; i < N; i++)
            ((uint8_t *)codes)[i] = (uint8_t)(i / 4 + 64 * (i % 4));
    for (uint32_t g = 0; g < groups; g++)
        scale[g] = edge_scales[e].scale, qs[g] = (uint8_t)g;
    WdecArgs a = {.codes = codes, .scale = scale, .groups = groups, .group_size = N};
    if (f == WDEC_NF4DQ) { /* one segment, phase 0: every group uses step dq[2] */
        dq[0] = wdec_edge_dq[e].mean, dq[1] = 0.0f, dq[2] = wdec_edge_dq[e].step;
        a.scale = NULL, a.qscale = qs, a.dq = dq, a.seg_groups = groups;
    }
    int rc = run_and_compare(vt, f, isa, a, v);
    free(codes), free(scale), free(qs), free(dq);
    return rc;
}

/* A random finite fp16 (fp8e4m3: below 256 in magnitude). */
static uint16_t random_scale(WdecFormat f, uint64_t r)
{
    uint16_t h = (uint16_t)r;
    if (f == WDEC_FP8E4M3)
        return (uint16_t)(h & 0x8000u) | (uint16_t)((h & 0x7fffu) % 0x5c00u);
    return (h & 0x7c00u) == 0x7c00u ? (uint16_t)(h & 0xbfffu) : h;
}

int wdec_validate_random(const VertexType *vt, WdecFormat f, const IsaCosts *isa, uint32_t group_size,
                         uint32_t groups, uint64_t seed, WdecValidation *v)
{
    IPU_ASSERT(group_size % 4 == 0 && group_size >= 4 && group_size <= 4096 && groups > 0);
    size_t code_bytes = (size_t)groups * group_size * (size_t)wdec_code_bits(f) / 8;
    /* nf4g+dq: segments of the largest of 1..4 groups dividing the groups,
     * a random phase, seg0 and stride, and as many random steps as they index */
    uint64_t s = seed;
    uint32_t seg = 1, phase = (uint32_t)(validate_splitmix64(&s) % 256), seg0 = (uint32_t)(validate_splitmix64(&s) % 4);
    uint32_t stride = (uint32_t)(validate_splitmix64(&s) % 5) * 37;
    for (uint32_t d = 2; d <= 4; d++)
        seg = groups % d ? seg : d;
    size_t nsteps = (((uint64_t)phase + (uint64_t)(seg0 + groups / seg - 1) * stride) >> 8) + 1;
    uint8_t *codes = aligned_alloc(8, (code_bytes + 8) / 8 * 8), *qs = malloc(groups + 1); /* + the word's other byte */
    uint16_t *scale = malloc((size_t)groups * 2);
    float *dq = aligned_alloc(8, (nsteps + 3) / 2 * 8);
    IPU_ASSERT(codes && qs && scale && dq);
    for (size_t i = 0; i < code_bytes; i++)
        codes[i] = (uint8_t)validate_splitmix64(&s);
    for (uint32_t g = 0; g < groups; g++) {
        scale[g] = random_scale(f, validate_splitmix64(&s));
        qs[g] = (uint8_t)validate_splitmix64(&s);
    }
    dq[0] = ((float)(validate_splitmix64(&s) >> 11) * 0x1p-53f - 0.5f) * 0.2f;
    memcpy(&dq[1], &phase, 4);
    for (size_t k = 0; k < nsteps; k++)
        dq[2 + k] = (float)(validate_splitmix64(&s) >> 11) * 0x1p-53f * 0.01f;
    WdecArgs a = {.codes = codes, .scale = scale, .groups = groups, .group_size = group_size};
    if (f == WDEC_NF4DQ)
        a.scale = NULL, a.qscale = qs, a.dq = dq, a.seg_groups = seg, a.seg0 = seg0, a.dq_stride = stride;
    int rc = run_and_compare(vt, f, isa, a, v);
    free(codes), free(qs), free(scale), free(dq);
    return rc;
}

uint64_t wdec_worker_cycles(const VertexType *vt, const IsaCosts *isa, uint32_t group_size, uint32_t groups,
                            uint32_t seg_groups)
{
    WdecArgs shape = {.groups = groups, .group_size = group_size, .seg_groups = seg_groups, .dq_stride = 64};
    return vt->measure(isa, &shape);
}

uint64_t wdec_tile_cycles(const VertexType *vt, WdecFormat f, const IsaCosts *isa, uint32_t group_size,
                          uint32_t tile_groups, uint32_t seg_groups, uint32_t workers)
{
    IPU_ASSERT(workers > 0 && workers <= 64);
    WdecArgs all = {.groups = tile_groups, .group_size = group_size, .seg_groups = seg_groups, .dq_stride = 64},
             parts[64];
    wdec_split(f, &all, workers, parts);
    const void *args[64];
    for (uint32_t k = 0; k < workers; k++)
        args[k] = parts[k].groups ? &parts[k] : NULL;
    return validate_tile_cycles(vt, isa, args, workers);
}
