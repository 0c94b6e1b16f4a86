/* softmax.c - causal softmax: specification, tile version, vertex type. */
#include "codelets/softmax.h"

#include <math.h>
#include <stdlib.h>

#include "codelets/isa_ext.h"
#include "codelets/native_util.h"

static uint32_t query_pos(const SoftmaxArgs *p, uint32_t r)
{
    return p->pos0 + r % (p->q_len ? p->q_len : p->rows);
}

static float ref_max(float a, float b) { return (isnan(a) || isnan(b)) ? NAN : (b > a ? b : a); }

void softmax_ref(const SoftmaxArgs *p)
{
    for (uint32_t r = 0; r < p->rows; r++) {
        size_t base = (size_t)r * p->len;
        uint32_t qp = query_pos(p, r);
        float m = -INFINITY, z[2] = {0, 0};
        for (uint32_t j = 0; j < p->len; j++)
            if (j <= qp)
                m = ref_max(m, layer_mul(layer_load(p->in, p->in_type, base + j), p->scale));
        for (uint32_t j = 0; j < p->len; j++) {
            float s = j <= qp ? layer_mul(layer_load(p->in, p->in_type, base + j), p->scale) : -INFINITY;
            z[j % 2] += expf(s - m);
        }
        float inv = 1.0f / (z[0] + z[1]);
        for (uint32_t j = 0; j < p->len; j++) {
            float s = j <= qp ? layer_mul(layer_load(p->in, p->in_type, base + j), p->scale) : -INFINITY;
            layer_store(p->out, p->out_type, base + j, layer_mul(expf(s - m), inv));
        }
    }
}

/* Scaled scores of pair (j, j+1), masked lanes -inf. */
static Float2 scores(Worker *w, const SoftmaxArgs *p, size_t at, uint32_t j, uint32_t qp, Float2 scale2, Float2 ninf2)
{
    Float2 v;
    if (p->in_type == LAYER_F16)
        v = isa_f16v2tof32(w, isa_ld32(w, p->in ? (const uint16_t *)p->in + at : NULL));
    else
        v = isa_ld64_f2(w, p->in ? (const float *)p->in + at : NULL);
    v = isa_f32v2mul(w, v, scale2);
    /* lane mask of unmasked keys: j <= qp, j + 1 <= qp */
    uint32_t keep = isa_cmpult(w, j, qp + 1) | isa_cmpult(w, j + 1, qp + 1) << 1;
    return isa_f32v2select(w, keep, v, ninf2);
}

static Float2 exps(Worker *w, Float2 s, Float2 m2)
{
    Float2 d = isa_f32v2sub(w, s, m2);
    Float2 e = {{isa_f32exp(w, d.f[0]), isa_f32exp(w, d.f[1])}};
    return e;
}

void softmax_tile(Worker *w, const SoftmaxArgs *p)
{
    isa_call(w);
    Float2 scale2 = isa_f32v2splat(w, p->scale), ninf2 = isa_f32v2splat(w, -INFINITY);
    for (uint32_t r = 0; r < p->rows; r++) {
        size_t base = (size_t)r * p->len;
        uint32_t qp = query_pos(p, r);
        Float2 mx = ninf2, z = isa_f32v2splat(w, 0.0f);
        isa_rpt(w);
        for (uint32_t j = 0; j < p->len; j += 2)
            mx = isa_f32v2max(w, mx, scores(w, p, base + j, j, qp, scale2, ninf2));
        Float2 m2 = isa_f32v2splat(w, isa_f32max(w, mx.f[0], mx.f[1]));
        isa_rpt(w);
        for (uint32_t j = 0; j < p->len; j += 2)
            z = isa_f32v2add(w, z, exps(w, scores(w, p, base + j, j, qp, scale2, ninf2), m2));
        Float2 inv2 = isa_f32v2splat(w, isa_f32div(w, 1.0f, isa_f32add(w, z.f[0], z.f[1])));
        isa_rpt(w);
        for (uint32_t j = 0; j < p->len; j += 2) {
            Float2 y = isa_f32v2mul(w, exps(w, scores(w, p, base + j, j, qp, scale2, ninf2), m2), inv2);
            if (p->out_type == LAYER_F16)
                isa_st32(w, p->out ? (uint16_t *)p->out + base + j : NULL, isa_f32v2tof16(w, y));
            else
                isa_st64_f2(w, p->out ? (float *)p->out + base + j : NULL, y);
        }
    }
}

int softmax_check(const SoftmaxArgs *p, int need_data, IpuErr *err)
{
    if (!p->rows || !p->len || p->len % 2)
        return ipu_err(err, "softmax: rows=%u len=%u: need rows > 0 and len even, > 0", p->rows, p->len);
    if (!isfinite(p->scale) || !(p->scale > 0.0f))
        return ipu_err(err, "softmax: scale %g must be finite and > 0", (double)p->scale);
    if (need_data && (!p->in || !p->out))
        return ipu_err(err, "softmax: NULL %s pointer", !p->in ? "in" : "out");
    return 0;
}

static void run(Worker *w, const void *args) { softmax_tile(w, args); }

/* The scaled score j of row base (masked keys -inf), as scores() gives it. */
static inline float native_score(const SoftmaxArgs *p, size_t at, uint32_t j, uint32_t qp)
{
    float v = layer_load(p->in, p->in_type, at) * p->scale;
    return j <= qp ? v : -INFINITY;
}

/* softmax_tile's outputs: per row the even and odd keys' maxima and sums
 * in two lanes, merged as the tile merges them, expf from the host libm
 * as isa_f32exp. out may be in when the types match. */
static int native(const IsaCosts *isa, const void *args)
{
    const SoftmaxArgs *p = args;
    size_t ib = layer_dtype_bytes(p->in_type), ob = layer_dtype_bytes(p->out_type), cnt = (size_t)p->rows * p->len;
    if (!cnt)
        return 0;
    if (!nat_aligned(p->in, 2 * ib) || !nat_aligned(p->out, 2 * ob))
        return -1;
    if (nat_overlap(p->out, cnt * ob, p->in, cnt * ib) && !(p->out == p->in && ib == ob))
        return -1;
    for (uint32_t r = 0; r < p->rows; r++) {
        size_t base = (size_t)r * p->len;
        uint32_t qp = query_pos(p, r);
        float mx[2] = {-INFINITY, -INFINITY}, z[2] = {0, 0};
        for (uint32_t j = 0; j < p->len; j++)
            mx[j % 2] = ref_max(mx[j % 2], native_score(p, base + j, j, qp));
        float m = ref_max(mx[0], mx[1]);
        for (uint32_t j = 0; j < p->len; j++)
            z[j % 2] += expf(native_score(p, base + j, j, qp) - m);
        float inv = 1.0f / (z[0] + z[1]);
        for (uint32_t j = 0; j < p->len; j++)
            layer_store(p->out, p->out_type, base + j, expf(native_score(p, base + j, j, qp) - m) * inv);
    }
    return 0;
}

static uint64_t shape_key(const void *args)
{
    const SoftmaxArgs *p = args;
    uint64_t h = layer_key_mix(layer_key_mix(0, p->rows), p->len);
    return layer_key_mix(h, (uint64_t)p->in_type << 8 | p->out_type);
}

static uint64_t measure(const IsaCosts *isa, const void *args)
{
    SoftmaxArgs s = *(const SoftmaxArgs *)args;
    size_t cnt = (size_t)s.rows * s.len;
    void *in = malloc(cnt * layer_dtype_bytes(s.in_type)), *out = malloc(cnt * layer_dtype_bytes(s.out_type));
    if (in)
        for (size_t i = 0; i < cnt; i++)
            layer_store(in, s.in_type, i, (float)(int)(i % 17) - 8.0f);
    s.in = in, s.out = out; /* on allocation failure the run faults: reported */
    uint64_t cycles = vertex_measure_run(isa, run, &s);
    free(in), free(out);
    return cycles;
}

const VertexType softmax_vertex = {"softmax.causal", sizeof(SoftmaxArgs), run, shape_key, measure, native};

static const CodeletVariant variants[] = {
    {"causal", "three passes, masked keys by select (cycles independent of position)", &softmax_vertex},
};
const CodeletFamily codelet_family_softmax = {"softmax", "causal softmax over score rows, scaled, fp32 arithmetic", variants, sizeof variants / sizeof variants[0]};
