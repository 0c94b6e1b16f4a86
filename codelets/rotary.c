/* rotary.c - rotary embedding: specification, tile version, vertex type. */
#include "codelets/rotary.h"

#include <math.h>
#include <stdlib.h>

#include "codelets/isa_ext.h"
#include "codelets/native_util.h"

void rotary_table_ref(float *table, uint32_t pos0, uint32_t tokens, uint32_t rotary_dim)
{
    uint32_t pairs = rotary_dim / 2;
    for (uint32_t t = 0; t < tokens; t++)
        for (uint32_t i = 0; i < pairs; i++) {
            double angle = (double)(pos0 + t) * pow(ROTARY_BASE, -2.0 * i / rotary_dim);
            float *e = table + ((size_t)t * pairs + i) * 4;
            e[0] = e[1] = (float)cos(angle);
            e[2] = (float)-sin(angle);
            e[3] = (float)sin(angle);
        }
}

void rotary_ref(const RotaryArgs *p)
{
    uint32_t pairs = p->rotary_dim / 2;
    for (size_t t = 0; t < p->tokens; t++)
        for (size_t h = 0; h < p->heads; h++) {
            const uint16_t *x = p->x + (t * p->heads + h) * p->head_dim;
            uint16_t *y = p->out + (t * p->heads + h) * p->head_dim;
            for (size_t i = 0; i < pairs; i++) {
                const float *c = p->table + (t * pairs + i) * 4;
                float e = fp16_to_f32(x[2 * i]), o = fp16_to_f32(x[2 * i + 1]);
                uint16_t ye = fp16_from_f32(layer_mul(e, c[0]) + layer_mul(o, c[2]));
                uint16_t yo = fp16_from_f32(layer_mul(o, c[1]) + layer_mul(e, c[3]));
                y[2 * i] = ye, y[2 * i + 1] = yo;
            }
            for (size_t d = p->rotary_dim; d < p->head_dim; d++)
                y[d] = x[d];
        }
}

void rotary_tile(Worker *w, const RotaryArgs *p)
{
    uint32_t pairs = p->rotary_dim / 2;
    isa_call(w);
    for (size_t t = 0; t < p->tokens; t++)
        for (size_t h = 0; h < p->heads; h++) {
            size_t row = (t * p->heads + h) * p->head_dim;
            const uint16_t *x = p->x ? p->x + row : NULL;
            uint16_t *y = p->out ? p->out + row : NULL;
            isa_rpt(w);
            for (size_t i = 0; i < pairs; i++) {
                const float *c = p->table ? p->table + (t * pairs + i) * 4 : NULL;
                uint32_t eo = isa_ld32(w, x ? x + 2 * i : NULL);
                Float2 v = isa_f16v2tof32(w, eo);                     /* (e, o) */
                Float2 vs = isa_f16v2tof32(w, isa_roll16(w, eo, eo)); /* (o, e) */
                Float2 cc = isa_ld64_f2(w, c), ss = isa_ld64_f2(w, c ? c + 2 : NULL);
                Float2 r = isa_f32v2add(w, isa_f32v2mul(w, v, cc), isa_f32v2mul(w, vs, ss));
                isa_st32(w, y ? y + 2 * i : NULL, isa_f32v2tof16(w, r));
            }
            isa_rpt(w);
            for (size_t d = p->rotary_dim; d < p->head_dim; d += 2)
                isa_st32(w, y ? y + d : NULL, isa_ld32(w, x ? x + d : NULL));
        }
}

int rotary_check(const RotaryArgs *p, int need_data, IpuErr *err)
{
    if (!p->tokens || !p->heads || !p->head_dim || p->head_dim % 2)
        return ipu_err(err, "rotary: tokens=%u heads=%u head_dim=%u: need all > 0 and head_dim even", p->tokens,
                       p->heads, p->head_dim);
    if (p->rotary_dim % 2 || p->rotary_dim > p->head_dim)
        return ipu_err(err, "rotary: rotary_dim %u must be even and <= head_dim %u", p->rotary_dim, p->head_dim);
    if (need_data && (!p->x || !p->out || (p->rotary_dim && !p->table)))
        return ipu_err(err, "rotary: NULL %s pointer", !p->x ? "x" : !p->out ? "out" : "table");
    return 0;
}

static void run(Worker *w, const void *args) { rotary_tile(w, args); }

/* rotary_tile's outputs: per pair (e, o) the products and sums of its
 * f32v2 operations, the rest of the row copied. out may be x. */
static int native(const IsaCosts *isa, const void *args)
{
    const RotaryArgs *p = args;
    uint32_t pairs = p->rotary_dim / 2;
    size_t bytes = (size_t)p->tokens * p->heads * p->head_dim * 2;
    if (!bytes)
        return 0;
    if (!nat_aligned(p->x, 4) || !nat_aligned(p->out, 4) || (pairs && !nat_aligned(p->table, 8)))
        return -1;
    if (nat_partial_overlap(p->out, bytes, p->x, bytes) ||
        (pairs && nat_overlap(p->out, bytes, p->table, (size_t)p->tokens * pairs * 16)))
        return -1;
    for (size_t t = 0; t < p->tokens; t++)
        for (size_t h = 0; h < p->heads; h++) {
            size_t row = (t * p->heads + h) * p->head_dim;
            const uint16_t *x = p->x + row;
            uint16_t *y = p->out + row;
            for (size_t i = 0; i < pairs; i++) {
                const float *c = p->table + (t * pairs + i) * 4;
                float e = fp16_to_f32(x[2 * i]), o = fp16_to_f32(x[2 * i + 1]);
                float r0 = e * c[0] + o * c[2], r1 = o * c[1] + e * c[3];
                y[2 * i] = fp16_from_f32(r0), y[2 * i + 1] = fp16_from_f32(r1);
            }
            if (y != x)
                memmove(y + p->rotary_dim, x + p->rotary_dim, (size_t)(p->head_dim - p->rotary_dim) * 2);
        }
    return 0;
}

static uint64_t shape_key(const void *args)
{
    const RotaryArgs *p = args;
    uint64_t h = layer_key_mix(layer_key_mix(0, p->tokens), p->heads);
    return layer_key_mix(layer_key_mix(h, p->head_dim), p->rotary_dim);
}

static uint64_t measure(const IsaCosts *isa, const void *args)
{
    RotaryArgs s = *(const RotaryArgs *)args;
    size_t cnt = (size_t)s.tokens * s.heads * s.head_dim;
    uint16_t *x = malloc(cnt * 2), *y = malloc(cnt * 2);
    float *tab = malloc(((size_t)s.tokens * (s.rotary_dim / 2) + 1) * 4 * sizeof(float));
    if (x)
        for (size_t i = 0; i < cnt; i++)
            x[i] = fp16_from_f32((float)(int)(i % 9) - 4.0f);
    if (tab)
        rotary_table_ref(tab, 3, s.tokens, s.rotary_dim);
    s.x = x, s.out = y, s.table = tab; /* on allocation failure the run faults: reported */
    uint64_t cycles = vertex_measure_run(isa, run, &s);
    free(x), free(y), free(tab);
    return cycles;
}

const VertexType rotary_vertex = {"rotary.interleaved", sizeof(RotaryArgs), run, shape_key, measure, native};

static const CodeletVariant variants[] = {
    {"interleaved", "host-built {cos,cos,-sin,sin} table, f32v2 arithmetic", &rotary_vertex},
};
const CodeletFamily codelet_family_rotary = {"rotary", "GPT-J rotary embedding on interleaved pairs of the first rotary_dim dims", variants, sizeof variants / sizeof variants[0]};
