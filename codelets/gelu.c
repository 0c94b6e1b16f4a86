/* gelu.c - GELU (tanh approximation): specification, tile version, vertex. */
#include "codelets/gelu.h"

#include <math.h>
#include <stdlib.h>

#include "codelets/isa_ext.h"
#include "codelets/native_util.h"

#define GELU_C0 0.7978845608f /* sqrt(2/pi) */
#define GELU_C1 0.044715f

void gelu_ref(const GeluArgs *p)
{
    for (size_t i = 0; i < p->n; i++) {
        float x = fp16_to_f32(p->x[i]);
        float x3 = layer_mul(layer_mul(x, x), x);
        float inner = x + layer_mul(GELU_C1, x3);
        float a = 1.0f + tanhf(layer_mul(GELU_C0, inner));
        p->out[i] = fp16_from_f32(layer_mul(layer_mul(0.5f, x), a));
    }
}

void gelu_tile(Worker *w, const GeluArgs *p)
{
    isa_call(w);
    Float2 c0 = isa_f32v2splat(w, GELU_C0), c1 = isa_f32v2splat(w, GELU_C1);
    Float2 one = isa_f32v2splat(w, 1.0f), half = isa_f32v2splat(w, 0.5f);
    isa_rpt(w);
    for (size_t i = 0; i < p->n; i += 2) {
        Float2 x = isa_f16v2tof32(w, isa_ld32(w, p->x ? p->x + i : NULL));
        Float2 x3 = isa_f32v2mul(w, isa_f32v2mul(w, x, x), x);
        Float2 inner = isa_f32v2add(w, x, isa_f32v2mul(w, c1, x3));
        Float2 u = isa_f32v2mul(w, c0, inner);
        Float2 th = {{isa_f32tanh(w, u.f[0]), isa_f32tanh(w, u.f[1])}};
        Float2 y = isa_f32v2mul(w, isa_f32v2mul(w, half, x), isa_f32v2add(w, one, th));
        isa_st32(w, p->out ? p->out + i : NULL, isa_f32v2tof16(w, y));
    }
}

int gelu_check(const GeluArgs *p, int need_data, IpuErr *err)
{
    if (!p->n || p->n % 2)
        return ipu_err(err, "gelu: n=%u: need n even, > 0", p->n);
    if (need_data && (!p->x || !p->out))
        return ipu_err(err, "gelu: NULL %s pointer", !p->x ? "x" : "out");
    return 0;
}

static void run(Worker *w, const void *args) { gelu_tile(w, args); }

/* gelu_tile's outputs: per element its f32v2 operations in their order,
 * tanhf from the host libm as isa_f32tanh. out may be x. */
static int native(const IsaCosts *isa, const void *args)
{
    const GeluArgs *p = args;
    if (!p->n)
        return 0;
    if (!nat_aligned(p->x, 4) || !nat_aligned(p->out, 4) || nat_partial_overlap(p->out, p->n * 2u, p->x, p->n * 2u))
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        float x = fp16_to_f32(p->x[i]);
        float x3 = x * x * x;
        float inner = x + GELU_C1 * x3;
        float th = tanhf(GELU_C0 * inner);
        p->out[i] = fp16_from_f32((0.5f * x) * (1.0f + th));
    }
    return 0;
}
static uint64_t shape_key(const void *args) { return layer_key_mix(0, ((const GeluArgs *)args)->n); }

static uint64_t measure(const IsaCosts *isa, const void *args)
{
    GeluArgs s = *(const GeluArgs *)args;
    uint16_t *x = malloc((size_t)s.n * 2), *y = malloc((size_t)s.n * 2);
    if (x)
        for (size_t i = 0; i < s.n; i++)
            x[i] = fp16_from_f32(0.125f * (float)(int)(i % 41) - 2.5f);
    s.x = x, s.out = y; /* on allocation failure the run faults: reported */
    uint64_t cycles = vertex_measure_run(isa, run, &s);
    free(x), free(y);
    return cycles;
}

const VertexType gelu_vertex = {"gelu.tanh", sizeof(GeluArgs), run, shape_key, measure, native};

static const CodeletVariant variants[] = {
    {"tanh", "f32v2 arithmetic, scalar tanh", &gelu_vertex},
};
const CodeletFamily codelet_family_gelu = {"gelu", "GELU, tanh approximation (gelu_new), fp16 in/out", variants, sizeof variants / sizeof variants[0]};
