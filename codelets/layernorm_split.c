/* layernorm_split.c - LayerNorm spread over slices: specification, tile
 * versions of the three vertex kinds, vertex types (see layernorm_split.h). */
#include "codelets/layernorm_split.h"

#include <math.h>
#include <stdlib.h>

#include "codelets/isa_ext.h"
#include "codelets/native_util.h"

void layernorm_split_ref(const LayernormArgs *p, uint32_t ns)
{
    IPU_ASSERT(ns >= 1 && ns <= p->cols / 2);
    for (size_t r = 0; r < p->rows; r++) {
        const uint16_t *x = p->x + r * p->cols;
        uint16_t *y = p->out + r * p->cols;
        float sum[2] = {0, 0}, sq[2] = {0, 0};
        for (uint32_t k = 0; k < ns; k++) {
            float s[2] = {0, 0};
            for (uint32_t i = layernorm_slice_begin(p->cols, ns, k); i < layernorm_slice_begin(p->cols, ns, k + 1); i++)
                s[i % 2] += fp16_to_f32(x[i]);
            sum[0] += s[0], sum[1] += s[1];
        }
        float mean = (sum[0] + sum[1]) / (float)p->cols;
        for (uint32_t k = 0; k < ns; k++) {
            float q[2] = {0, 0};
            for (uint32_t i = layernorm_slice_begin(p->cols, ns, k); i < layernorm_slice_begin(p->cols, ns, k + 1); i++) {
                float d = fp16_to_f32(x[i]) - mean;
                q[i % 2] += layer_mul(d, d);
            }
            sq[0] += q[0], sq[1] += q[1];
        }
        float var = (sq[0] + sq[1]) / (float)p->cols;
        float rstd = 1.0f / sqrtf(var + p->eps);
        for (size_t i = 0; i < p->cols; i++) {
            float d = fp16_to_f32(x[i]) - mean;
            float t = layer_mul(layer_mul(d, rstd), fp16_to_f32(p->gain[i]));
            y[i] = fp16_from_f32(t + fp16_to_f32(p->bias[i]));
        }
    }
}

void layernorm_stats_tile(Worker *w, const LnStatsArgs *p)
{
    isa_call(w);
    Float2 acc = isa_f32v2splat(w, 0.0f);
    if (p->pass == 1) {
        isa_rpt(w);
        for (uint32_t i = 0; i < p->n; i += 2)
            acc = isa_f32v2add(w, acc, isa_f16v2tof32(w, isa_ld32(w, p->x ? p->x + i : NULL)));
    } else {
        Float2 mean2 = isa_f32v2splat(w, isa_ld64_f2(w, p->stats).f[0]);
        isa_rpt(w);
        for (uint32_t i = 0; i < p->n; i += 2) {
            Float2 d = isa_f32v2sub(w, isa_f16v2tof32(w, isa_ld32(w, p->x ? p->x + i : NULL)), mean2);
            acc = isa_f32v2axpy(w, acc, d, d);
        }
    }
    isa_st64_f2(w, p->part, acc);
}

void layernorm_combine_tile(Worker *w, const LnCombineArgs *p)
{
    isa_call(w);
    Float2 s = isa_f32v2splat(w, 0.0f);
    isa_rpt(w);
    for (uint32_t k = 0; k < p->nparts; k++)
        s = isa_f32v2add(w, s, isa_ld64_f2(w, p->parts ? p->parts + 2 * k : NULL));
    float cols_f = (float)p->cols; /* set once per vertex */
    float v = isa_f32div(w, isa_f32add(w, s.f[0], s.f[1]), cols_f);
    Float2 out;
    if (p->pass == 1) {
        out.f[0] = v;
        out.f[1] = (float)isa_setzi(w, 0);
    } else {
        out.f[0] = isa_ld64_f2(w, p->stats).f[0];
        out.f[1] = isa_f32div(w, 1.0f, isa_f32sqrt(w, isa_f32add(w, v, p->eps)));
    }
    isa_st64_f2(w, p->stats, out);
}

void layernorm_apply_tile(Worker *w, const LnApplyArgs *p)
{
    isa_call(w);
    Float2 st = isa_ld64_f2(w, p->stats);
    Float2 mean2 = isa_f32v2splat(w, st.f[0]), rstd2 = isa_f32v2splat(w, st.f[1]);
    isa_rpt(w);
    for (uint32_t i = 0; i < p->n; i += 2) {
        Float2 d = isa_f32v2sub(w, isa_f16v2tof32(w, isa_ld32(w, p->x ? p->x + i : NULL)), mean2);
        Float2 g = isa_f16v2tof32(w, isa_ld32(w, p->gain ? p->gain + i : NULL));
        Float2 b = isa_f16v2tof32(w, isa_ld32(w, p->bias ? p->bias + i : NULL));
        Float2 t = isa_f32v2mul(w, isa_f32v2mul(w, d, rstd2), g);
        isa_st32(w, p->out ? p->out + i : NULL, isa_f32v2tof16(w, isa_f32v2add(w, t, b)));
    }
}

/* ---- natives: the tile versions' operations in their order ---- */

static int native_stats(const IsaCosts *isa, const void *args)
{
    const LnStatsArgs *p = args;
    if (!nat_aligned(p->part, 8) || (p->n && !nat_aligned(p->x, 4)) || (p->pass != 1 && !nat_aligned(p->stats, 8)))
        return -1;
    if (nat_overlap(p->part, 8, p->x, p->n * 2u))
        return -1;
    float a0 = 0, a1 = 0;
    if (p->pass == 1) {
        for (uint32_t i = 0; i < p->n; i += 2)
            a0 += fp16_to_f32(p->x[i]), a1 += fp16_to_f32(p->x[i + 1]);
    } else {
        float mean = p->stats[0];
        for (uint32_t i = 0; i < p->n; i += 2) {
            float d0 = fp16_to_f32(p->x[i]) - mean, d1 = fp16_to_f32(p->x[i + 1]) - mean;
            a0 += d0 * d0, a1 += d1 * d1;
        }
    }
    p->part[0] = a0, p->part[1] = a1;
    return 0;
}

static int native_combine(const IsaCosts *isa, const void *args)
{
    const LnCombineArgs *p = args;
    if (!nat_aligned(p->stats, 8) || (p->nparts && !nat_aligned(p->parts, 8)) ||
        nat_overlap(p->stats, 8, p->parts, p->nparts * 8u))
        return -1;
    float s0 = 0, s1 = 0;
    for (uint32_t k = 0; k < p->nparts; k++)
        s0 += p->parts[2 * k], s1 += p->parts[2 * k + 1];
    float v = (s0 + s1) / (float)p->cols;
    if (p->pass == 1) {
        p->stats[0] = v, p->stats[1] = 0.0f;
    } else {
        float mean = p->stats[0];
        p->stats[0] = mean, p->stats[1] = 1.0f / sqrtf(v + p->eps);
    }
    return 0;
}

static int native_apply(const IsaCosts *isa, const void *args)
{
    const LnApplyArgs *p = args;
    size_t bytes = p->n * 2u;
    if (!nat_aligned(p->stats, 8) || (p->n && (!nat_aligned(p->x, 4) || !nat_aligned(p->gain, 4) ||
                                               !nat_aligned(p->bias, 4) || !nat_aligned(p->out, 4))))
        return -1;
    if (nat_partial_overlap(p->out, bytes, p->x, bytes) || nat_overlap(p->out, bytes, p->gain, bytes) ||
        nat_overlap(p->out, bytes, p->bias, bytes) || nat_overlap(p->out, bytes, p->stats, 8))
        return -1;
    float mean = p->stats[0], rstd = p->stats[1];
    for (uint32_t i = 0; i < p->n; i++) {
        float t = (fp16_to_f32(p->x[i]) - mean) * rstd * fp16_to_f32(p->gain[i]);
        p->out[i] = fp16_from_f32(t + fp16_to_f32(p->bias[i]));
    }
    return 0;
}

/* ---- vertex types: measure runs the tile version on scratch data ---- */

static uint16_t *scratch_f16(size_t n)
{
    uint16_t *v = malloc((n ? n : 1) * 2);
    for (size_t i = 0; v && i < n; i++)
        v[i] = fp16_from_f32(0.25f * (float)(int)(i % 13) - 1.5f);
    return v;
}

static void run_stats(Worker *w, const void *a) { layernorm_stats_tile(w, a); }
static uint64_t key_stats(const void *a)
{
    const LnStatsArgs *p = a;
    return layer_key_mix(layer_key_mix(0, p->n), p->pass);
}
static uint64_t measure_stats(const IsaCosts *isa, const void *a)
{
    LnStatsArgs s = *(const LnStatsArgs *)a;
    uint16_t *x = scratch_f16(s.n);
    float st[2] = {0.5f, 1.0f}, part[2];
    s.x = x, s.stats = st, s.part = part; /* on allocation failure the run faults: reported */
    uint64_t cycles = vertex_measure_run(isa, run_stats, &s);
    free(x);
    return cycles;
}

static void run_combine(Worker *w, const void *a) { layernorm_combine_tile(w, a); }
static uint64_t key_combine(const void *a)
{
    const LnCombineArgs *p = a;
    return layer_key_mix(layer_key_mix(layer_key_mix(0, p->nparts), p->cols), p->pass);
}
static uint64_t measure_combine(const IsaCosts *isa, const void *a)
{
    LnCombineArgs s = *(const LnCombineArgs *)a;
    float *parts = malloc(((size_t)s.nparts + 1) * 2 * sizeof *parts), st[2] = {0.5f, 0};
    for (size_t i = 0; parts && i < 2 * (size_t)s.nparts; i++)
        parts[i] = (float)(i % 7) + 1.0f;
    s.parts = parts, s.stats = st;
    uint64_t cycles = vertex_measure_run(isa, run_combine, &s);
    free(parts);
    return cycles;
}

static void run_apply(Worker *w, const void *a) { layernorm_apply_tile(w, a); }
static uint64_t key_apply(const void *a) { return layer_key_mix(0, ((const LnApplyArgs *)a)->n); }
static uint64_t measure_apply(const IsaCosts *isa, const void *a)
{
    LnApplyArgs s = *(const LnApplyArgs *)a;
    uint16_t *x = scratch_f16(s.n), *g = scratch_f16(s.n), *b = scratch_f16(s.n), *y = scratch_f16(s.n);
    float st[2] = {0.5f, 2.0f};
    s.x = x, s.gain = g, s.bias = b, s.out = y, s.stats = st;
    uint64_t cycles = vertex_measure_run(isa, run_apply, &s);
    free(x), free(g), free(b), free(y);
    return cycles;
}

const VertexType layernorm_stats_vertex = {"layernorm.stats", sizeof(LnStatsArgs), run_stats, key_stats, measure_stats,
                                           native_stats};
const VertexType layernorm_combine_vertex = {"layernorm.combine", sizeof(LnCombineArgs), run_combine, key_combine,
                                             measure_combine, native_combine};
const VertexType layernorm_apply_vertex = {"layernorm.apply", sizeof(LnApplyArgs), run_apply, key_apply, measure_apply,
                                           native_apply};

static const CodeletVariant v_stats[] = {{"f32v2", "lane sums or squared deviations of a slice", &layernorm_stats_vertex}};
static const CodeletVariant v_combine[] = {{"f32v2", "slice partials in order -> mean, rstd", &layernorm_combine_vertex}};
static const CodeletVariant v_apply[] = {{"f32v2", "normalise a slice with gain and bias", &layernorm_apply_vertex}};
const CodeletFamily codelet_family_layernorm_stats = {"layernorm_stats", "split LayerNorm: slice statistics", v_stats, 1};
const CodeletFamily codelet_family_layernorm_combine = {"layernorm_combine", "split LayerNorm: combine slice partials",
                                                        v_combine, 1};
const CodeletFamily codelet_family_layernorm_apply = {"layernorm_apply", "split LayerNorm: normalise a slice", v_apply, 1};
