/* layernorm.c - LayerNorm: specification, tile version, vertex type. */
#include "codelets/layernorm.h"

#include <math.h>
#include <stdlib.h>

#include "codelets/isa_ext.h"
#include "codelets/native_util.h"

void layernorm_ref(const LayernormArgs *p)
{
    for (size_t r = 0; r < p->rows; r++) {
        const uint16_t *x = p->x + r * p->cols;
        uint16_t *y = p->out + r * p->cols;
        float s[2] = {0, 0}, q[2] = {0, 0};
        for (size_t i = 0; i < p->cols; i++)
            s[i % 2] += fp16_to_f32(x[i]);
        float mean = (s[0] + s[1]) / (float)p->cols;
        for (size_t i = 0; i < p->cols; i++) {
            float d = fp16_to_f32(x[i]) - mean;
            q[i % 2] += layer_mul(d, d);
        }
        float var = (q[0] + q[1]) / (float)p->cols;
        float rstd = 1.0f / sqrtf(var + p->eps);
        for (size_t i = 0; i < p->cols; i++) {
            float d = fp16_to_f32(x[i]) - mean;
            float t = layer_mul(layer_mul(d, rstd), fp16_to_f32(p->gain[i]));
            y[i] = fp16_from_f32(t + fp16_to_f32(p->bias[i]));
        }
    }
}

void layernorm_tile(Worker *w, const LayernormArgs *p)
{
    isa_call(w);
    float cols_f = (float)p->cols; /* the divisor, set once per vertex */
    for (size_t r = 0; r < p->rows; r++) {
        const uint16_t *x = p->x ? p->x + r * p->cols : NULL;
        uint16_t *y = p->out ? p->out + r * p->cols : NULL;
        Float2 s = isa_f32v2splat(w, 0.0f), q = s;
        isa_rpt(w);
        for (size_t i = 0; i < p->cols; i += 2)
            s = isa_f32v2add(w, s, isa_f16v2tof32(w, isa_ld32(w, x ? x + i : NULL)));
        float mean = isa_f32div(w, isa_f32add(w, s.f[0], s.f[1]), cols_f);
        Float2 mean2 = isa_f32v2splat(w, mean);
        isa_rpt(w);
        for (size_t i = 0; i < p->cols; i += 2) {
            Float2 d = isa_f32v2sub(w, isa_f16v2tof32(w, isa_ld32(w, x ? x + i : NULL)), mean2);
            q = isa_f32v2axpy(w, q, d, d);
        }
        float var = isa_f32div(w, isa_f32add(w, q.f[0], q.f[1]), cols_f);
        float rstd = isa_f32div(w, 1.0f, isa_f32sqrt(w, isa_f32add(w, var, p->eps)));
        Float2 rstd2 = isa_f32v2splat(w, rstd);
        isa_rpt(w);
        for (size_t i = 0; i < p->cols; i += 2) {
            Float2 d = isa_f32v2sub(w, isa_f16v2tof32(w, isa_ld32(w, x ? x + i : NULL)), mean2);
            Float2 g = isa_f16v2tof32(w, isa_ld32(w, p->gain ? p->gain + i : NULL));
            Float2 b = isa_f16v2tof32(w, isa_ld32(w, p->bias ? p->bias + i : NULL));
            Float2 t = isa_f32v2mul(w, isa_f32v2mul(w, d, rstd2), g);
            isa_st32(w, y ? y + i : NULL, isa_f32v2tof16(w, isa_f32v2add(w, t, b)));
        }
    }
}

int layernorm_check(const LayernormArgs *p, int need_data, IpuErr *err)
{
    if (!p->rows || !p->cols || p->cols % 2)
        return ipu_err(err, "layernorm: rows=%u cols=%u: need rows > 0 and cols even, > 0", p->rows, p->cols);
    if (!(p->eps > 0.0f))
        return ipu_err(err, "layernorm: eps %g must be > 0", (double)p->eps);
    if (need_data && (!p->x || !p->gain || !p->bias || !p->out))
        return ipu_err(err, "layernorm: NULL %s pointer", !p->x ? "x" : !p->gain ? "gain" : !p->bias ? "bias" : "out");
    return 0;
}

static void run(Worker *w, const void *args) { layernorm_tile(w, args); }

/* layernorm_tile's outputs: per row the same lane sums (even and odd
 * columns), divisions and per-element operations. out may be x. */
static int native(const IsaCosts *isa, const void *args)
{
    const LayernormArgs *p = args;
    size_t bytes = (size_t)p->rows * p->cols * 2;
    if (!p->rows || !p->cols)
        return 0;
    if (!nat_aligned(p->x, 4) || !nat_aligned(p->gain, 4) || !nat_aligned(p->bias, 4) || !nat_aligned(p->out, 4))
        return -1;
    if (nat_partial_overlap(p->out, bytes, p->x, bytes) || nat_overlap(p->out, bytes, p->gain, p->cols * 2u) ||
        nat_overlap(p->out, bytes, p->bias, p->cols * 2u))
        return -1;
    float cols_f = (float)p->cols;
    for (size_t r = 0; r < p->rows; r++) {
        const uint16_t *x = p->x + r * p->cols;
        uint16_t *y = p->out + r * p->cols;
        float s0 = 0, s1 = 0, q0 = 0, q1 = 0;
        for (size_t i = 0; i < p->cols; i += 2)
            s0 += fp16_to_f32(x[i]), s1 += fp16_to_f32(x[i + 1]);
        float mean = (s0 + s1) / cols_f;
        for (size_t i = 0; i < p->cols; i += 2) {
            float d0 = fp16_to_f32(x[i]) - mean, d1 = fp16_to_f32(x[i + 1]) - mean;
            q0 += d0 * d0, q1 += d1 * d1;
        }
        float var = (q0 + q1) / cols_f;
        float rstd = 1.0f / sqrtf(var + p->eps);
        for (size_t i = 0; i < p->cols; i++) {
            float t = (fp16_to_f32(x[i]) - mean) * rstd * fp16_to_f32(p->gain[i]);
            y[i] = fp16_from_f32(t + fp16_to_f32(p->bias[i]));
        }
    }
    return 0;
}

static uint64_t shape_key(const void *args)
{
    const LayernormArgs *p = args;
    return layer_key_mix(layer_key_mix(0, p->rows), p->cols);
}

static uint64_t measure(const IsaCosts *isa, const void *args)
{
    LayernormArgs s = *(const LayernormArgs *)args;
    size_t cnt = (size_t)s.rows * s.cols;
    uint16_t *x = malloc(cnt * 2), *y = malloc(cnt * 2), *g = malloc((size_t)s.cols * 2), *b = malloc((size_t)s.cols * 2);
    if (x && g && b) {
        for (size_t i = 0; i < cnt; i++)
            x[i] = fp16_from_f32(0.25f * (float)(int)(i % 13) - 1.5f);
        for (size_t i = 0; i < s.cols; i++)
            g[i] = FP16_ONE, b[i] = fp16_from_f32(0.5f);
    }
    s.x = x, s.out = y, s.gain = g, s.bias = b; /* on allocation failure the run faults: reported */
    uint64_t cycles = vertex_measure_run(isa, run, &s);
    free(x), free(y), free(g), free(b);
    return cycles;
}

const VertexType layernorm_vertex = {"layernorm.f16", sizeof(LayernormArgs), run, shape_key, measure, native};

static const CodeletVariant variants[] = {
    {"f16", "three passes over the row, f32v2 lanes", &layernorm_vertex},
};
const CodeletFamily codelet_family_layernorm = {"layernorm", "LayerNorm, fp16 in/out, fp32 statistics, gain and bias", variants, sizeof variants / sizeof variants[0]};
