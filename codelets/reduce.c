/* reduce.c - partial-sum reduce: specification, tile version, vertex type. */
#include "codelets/reduce.h"

#include <stdlib.h>
#include <string.h>

#include "codelets/isa_ext.h"
#include "codelets/native_util.h"

static uint32_t stride_of(const ReduceArgs *p) { return p->in_stride ? p->in_stride : p->n; }

void reduce_ref(const ReduceArgs *p)
{
    size_t st = stride_of(p);
    for (size_t i = 0; i < p->n; i++) {
        float acc = layer_load(p->in, p->in_type, i);
        for (size_t q = 1; q < p->parts; q++)
            acc += layer_load(p->in, p->in_type, q * st + i);
        layer_store(p->out, p->out_type, i, acc);
    }
}

/* A NULL base stays NULL (the load then faults, as it must). */
static Float2 load_pair(Worker *w, const void *base, LayerDtype t, size_t i)
{
    if (t == LAYER_F16)
        return isa_f16v2tof32(w, isa_ld32(w, base ? (const uint16_t *)base + i : NULL));
    return isa_ld64_f2(w, base ? (const float *)base + i : NULL);
}

void reduce_tile(Worker *w, const ReduceArgs *p)
{
    size_t st = stride_of(p);
    isa_call(w);
    isa_rpt(w);
    for (size_t i = 0; i < p->n; i += 2) {
        Float2 acc = load_pair(w, p->in, p->in_type, i);
        for (size_t q = 1; q < p->parts; q++) {
            acc = isa_f32v2add(w, acc, load_pair(w, p->in, p->in_type, q * st + i));
            isa_brnzdec(w);
        }
        if (p->out_type == LAYER_F16)
            isa_st32(w, p->out ? (uint16_t *)p->out + i : NULL, isa_f32v2tof16(w, acc));
        else
            isa_st64_f2(w, p->out ? (float *)p->out + i : NULL, acc);
    }
}

int reduce_check(const ReduceArgs *p, int need_data, IpuErr *err)
{
    if (!p->parts || !p->n || p->n % 2)
        return ipu_err(err, "reduce: parts=%u n=%u: need parts >= 1 and n even, > 0", p->parts, p->n);
    if (p->in_stride && p->in_stride < p->n)
        return ipu_err(err, "reduce: in_stride %u is less than n=%u", p->in_stride, p->n);
    if (need_data && (!p->in || !p->out))
        return ipu_err(err, "reduce: NULL %s pointer", !p->in ? "in" : "out");
    return 0;
}

static void run(Worker *w, const void *args) { reduce_tile(w, args); }

/* reduce_tile's outputs: per element the parts added in order in fp32
 * (reduce_ref), the loops turned so the elements go side by side. */
static int native(const IsaCosts *isa, const void *args)
{
    const ReduceArgs *p = args;
    size_t st = stride_of(p), ib = layer_dtype_bytes(p->in_type), ob = layer_dtype_bytes(p->out_type);
    if (!p->n || !p->parts)
        return 0;
    /* pairs: ld32 / ld64 at in + (q st + i), st32 / st64 at out + i */
    if (!nat_aligned(p->in, 2 * ib) || !nat_aligned(p->out, 2 * ob) || (p->parts > 1 && st % 2))
        return -1;
    if (nat_overlap(p->out, p->n * ob, p->in, ((p->parts - 1) * st + p->n) * ib))
        return -1;
    enum { CHUNK = 256 };
    float acc[CHUNK], x[CHUNK];
    for (size_t i0 = 0; i0 < p->n; i0 += CHUNK) {
        size_t m = p->n - i0 < CHUNK ? p->n - i0 : CHUNK;
        for (size_t q = 0; q < p->parts; q++) {
            if (p->in_type == LAYER_F16)
                nat_f16_to_f32((const uint16_t *)p->in + q * st + i0, x, m);
            else
                memcpy(x, (const float *)p->in + q * st + i0, m * sizeof *x);
            if (q == 0)
                memcpy(acc, x, m * sizeof *acc);
            else
                for (size_t i = 0; i < m; i++)
                    acc[i] += x[i];
        }
        if (p->out_type == LAYER_F16)
            nat_f32_to_f16(acc, (uint16_t *)p->out + i0, m);
        else
            memcpy((float *)p->out + i0, acc, m * sizeof *acc);
    }
    return 0;
}

static uint64_t shape_key(const void *args)
{
    const ReduceArgs *p = args;
    uint64_t h = layer_key_mix(0, p->parts);
    h = layer_key_mix(h, p->n);
    return layer_key_mix(h, (uint64_t)p->in_type << 8 | p->out_type);
}

static uint64_t measure(const IsaCosts *isa, const void *args)
{
    ReduceArgs s = *(const ReduceArgs *)args;
    s.in_stride = 0;
    size_t cnt = (size_t)s.parts * s.n;
    float *in = malloc(cnt * layer_dtype_bytes(s.in_type));
    float *out = malloc((size_t)s.n * layer_dtype_bytes(s.out_type));
    if (in)
        for (size_t i = 0; i < cnt; i++)
            layer_store(in, s.in_type, i, (float)(int)(i % 11) - 5.0f);
    s.in = in, s.out = out; /* on allocation failure the run faults: reported */
    uint64_t cycles = vertex_measure_run(isa, run, &s);
    free(in), free(out);
    return cycles;
}

const VertexType reduce_vertex = {"reduce.sum", sizeof(ReduceArgs), run, shape_key, measure, native};

static const CodeletVariant variants[] = {
    {"sum", "f32v2 lanes, parts in order", &reduce_vertex},
};
const CodeletFamily codelet_family_reduce = {"reduce", "sum P partial vectors (fp16/fp32 in, fp16/fp32 out), fp32 accumulation", variants, sizeof variants / sizeof variants[0]};
