/* argmax.c - argmax: specification, tile version, vertex type. */
#include "codelets/argmax.h"

#include <math.h>
#include <stdlib.h>

#include "codelets/isa_ext.h"
#include "codelets/native_util.h"

void argmax_ref(const ArgmaxArgs *p)
{
    for (size_t r = 0; r < p->rows; r++) {
        float best = -INFINITY;
        uint32_t at = 0;
        for (uint32_t j = 0; j < p->n; j++) {
            float v = layer_load(p->in, p->in_type, r * p->n + j);
            if (v > best)
                best = v, at = j;
        }
        p->out_index[r] = p->index_base + at;
        if (p->want_value)
            p->out_value[r] = best;
    }
}

void argmax_tile(Worker *w, const ArgmaxArgs *p)
{
    isa_call(w);
    for (size_t r = 0; r < p->rows; r++) {
        Float2 best = isa_f32v2splat(w, -INFINITY);
        uint32_t at[2] = {isa_setzi(w, 0), isa_setzi(w, 1)}; /* lane 0: even columns, lane 1: odd */
        isa_rpt(w);
        for (uint32_t j = 0; j < p->n; j += 2) {
            size_t i = r * p->n + j;
            Float2 v = p->in_type == LAYER_F16
                           ? isa_f16v2tof32(w, isa_ld32(w, p->in ? (const uint16_t *)p->in + i : NULL))
                           : isa_ld64_f2(w, p->in ? (const float *)p->in + i : NULL);
            uint32_t gt = isa_f32v2cmplt(w, best, v); /* bit l: lane l found a larger value */
            best = isa_f32v2select(w, gt, v, best);
            at[0] = isa_select32(w, gt & 1u, j, at[0]);
            at[1] = isa_select32(w, gt & 2u, j + 1, at[1]);
        }
        /* merge the lanes: odd wins if strictly larger, or equal with a lower index */
        (void)isa_mov(w, 0); /* lane swap of best */
        Float2 sw = {{best.f[1], best.f[0]}};
        uint32_t m = isa_f32v2cmplt(w, best, sw); /* bit 0: even < odd; bit 1: odd < even */
        uint32_t odd_first = isa_cmpult(w, at[1], at[0]);
        uint32_t odd = isa_select32(w, (m & 1u) || ((m & 2u) == 0 && odd_first), 1, 0);
        isa_st32(w, p->out_index ? p->out_index + r : NULL, isa_add(w, p->index_base, at[odd]));
        if (p->want_value)
            isa_st32(w, p->out_value ? p->out_value + r : NULL, fp16_f32_bits(best.f[odd]));
    }
}

int argmax_check(const ArgmaxArgs *p, int need_data, IpuErr *err)
{
    if (!p->rows || !p->n || p->n % 2)
        return ipu_err(err, "argmax: rows=%u n=%u: need rows > 0 and n even, > 0", p->rows, p->n);
    if (need_data && (!p->in || !p->out_index || (p->want_value && !p->out_value)))
        return ipu_err(err, "argmax: NULL %s pointer", !p->in ? "in" : !p->out_index ? "out_index" : "out_value");
    return 0;
}

static void run(Worker *w, const void *args) { argmax_tile(w, args); }

/* argmax_tile's outputs: even and odd columns in two lanes (a lane takes a
 * value only when strictly larger, so NaN never wins), then the merge. */
static int native(const IsaCosts *isa, const void *args)
{
    const ArgmaxArgs *p = args;
    size_t ib = layer_dtype_bytes(p->in_type);
    if (!p->rows)
        return 0;
    if (!nat_aligned(p->in, 2 * ib) || !nat_aligned(p->out_index, 4) || (p->want_value && !nat_aligned(p->out_value, 4)))
        return -1;
    size_t inb = (size_t)p->rows * p->n * ib;
    if (nat_overlap(p->out_index, p->rows * 4u, p->in, inb) ||
        (p->want_value && (nat_overlap(p->out_value, p->rows * 4u, p->in, inb) ||
                           nat_overlap(p->out_value, p->rows * 4u, p->out_index, p->rows * 4u))))
        return -1;
    for (size_t r = 0; r < p->rows; r++) {
        float best[2] = {-INFINITY, -INFINITY};
        uint32_t at[2] = {0, 1};
        for (uint32_t j = 0; j < p->n; j += 2)
            for (int l = 0; l < 2; l++) {
                float v = layer_load(p->in, p->in_type, r * p->n + j + l);
                if (best[l] < v)
                    best[l] = v, at[l] = j + (uint32_t)l;
            }
        int odd = best[0] < best[1] || (!(best[1] < best[0]) && at[1] < at[0]);
        p->out_index[r] = p->index_base + at[odd];
        if (p->want_value)
            p->out_value[r] = best[odd];
    }
    return 0;
}

static uint64_t shape_key(const void *args)
{
    const ArgmaxArgs *p = args;
    uint64_t h = layer_key_mix(layer_key_mix(0, p->rows), p->n);
    return layer_key_mix(h, (uint64_t)p->in_type << 1 | (p->want_value != 0));
}

static uint64_t measure(const IsaCosts *isa, const void *args)
{
    ArgmaxArgs s = *(const ArgmaxArgs *)args;
    size_t cnt = (size_t)s.rows * s.n;
    void *in = malloc(cnt * layer_dtype_bytes(s.in_type));
    uint32_t *idx = malloc((size_t)s.rows * sizeof *idx);
    float *val = malloc((size_t)s.rows * sizeof *val);
    if (in)
        for (size_t i = 0; i < cnt; i++)
            layer_store(in, s.in_type, i, (float)(int)((i * 7) % 23));
    s.in = in, s.out_index = idx, s.out_value = val; /* on allocation failure the run faults: reported */
    uint64_t cycles = vertex_measure_run(isa, run, &s);
    free(in), free(idx), free(val);
    return cycles;
}

const VertexType argmax_vertex = {"argmax.row", sizeof(ArgmaxArgs), run, shape_key, measure, native};

static const CodeletVariant variants[] = {
    {"row", "two f32 lanes merged, fp16 or fp32 input", &argmax_vertex},
};
const CodeletFamily codelet_family_argmax = {"argmax", "index of the row maximum, ties to the lowest index", variants, sizeof variants / sizeof variants[0]};
