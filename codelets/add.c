/* add.c - fp16 add / add-bias / scale: specification, tile version, vertex. */
#include "codelets/add.h"

#include <stdlib.h>

#include "codelets/isa_ext.h"
#include "codelets/native_util.h"

void add_ref(const AddArgs *p)
{
    for (size_t r = 0; r < p->rows; r++)
        for (size_t c = 0; c < p->cols; c++) {
            size_t i = r * p->cols + c;
            if (p->op == ADD_OP_SCALE)
                p->out[i] = fp16_mul(p->a[i], p->scale);
            else
                p->out[i] = fp16_add(p->a[i], p->b[p->op == ADD_OP_BIAS ? c : i]);
        }
}

void add_tile(Worker *w, const AddArgs *p)
{
    isa_call(w);
    Half4 s4 = isa_bits_h4(isa_pair(isa_setzi(w, (uint32_t)p->scale * 0x10001u), (uint32_t)p->scale * 0x10001u));
    for (size_t r = 0; r < p->rows; r++) {
        isa_rpt(w);
        for (size_t c = 0; c < p->cols; c += 4) {
            size_t i = r * p->cols + c;
            Half4 a = isa_ld64_h4(w, p->a ? p->a + i : NULL), y;
            if (p->op == ADD_OP_SCALE) {
                y = isa_f16v4mul(w, a, s4);
            } else {
                size_t bi = p->op == ADD_OP_BIAS ? c : i;
                y = isa_f16v4add(w, a, isa_ld64_h4(w, p->b ? p->b + bi : NULL));
            }
            isa_st64_h4(w, p->out ? p->out + i : NULL, y);
        }
    }
}

int add_check(const AddArgs *p, int need_data, IpuErr *err)
{
    if (!p->rows || !p->cols || p->cols % 4)
        return ipu_err(err, "add: rows=%u cols=%u: need rows > 0 and cols a multiple of 4", p->rows, p->cols);
    if (p->op != ADD_OP_ADD && p->op != ADD_OP_BIAS && p->op != ADD_OP_SCALE)
        return ipu_err(err, "add: unknown op %d", (int)p->op);
    if (need_data && (!p->a || !p->out || (p->op != ADD_OP_SCALE && !p->b)))
        return ipu_err(err, "add: NULL %s pointer", !p->a ? "a" : !p->out ? "out" : "b");
    return 0;
}

static void run(Worker *w, const void *args) { add_tile(w, args); }

/* add_tile's outputs (add_ref's: one fp16 rounding per element), element
 * by element; out may be a, or b for ADD_OP_ADD, but no other overlap. */
static int native(const IsaCosts *isa, const void *args)
{
    const AddArgs *p = args;
    size_t cnt = (size_t)p->rows * p->cols, bytes = cnt * 2;
    int uses_b = p->op != ADD_OP_SCALE;
    size_t bb = p->op == ADD_OP_BIAS ? (size_t)p->cols * 2 : bytes;
    if (!cnt)
        return 0;
    if (!nat_aligned(p->a, 8) || !nat_aligned(p->out, 8) || (uses_b && !nat_aligned(p->b, 8)))
        return -1;
    if (nat_partial_overlap(p->out, bytes, p->a, bytes) ||
        (uses_b && nat_overlap(p->out, bytes, p->b, bb) && !(p->op == ADD_OP_ADD && p->out == p->b)))
        return -1;
    add_ref(p);
    return 0;
}

static uint64_t shape_key(const void *args)
{
    const AddArgs *p = args;
    return layer_key_mix(layer_key_mix(layer_key_mix(0, p->rows), p->cols), p->op);
}

static uint64_t measure(const IsaCosts *isa, const void *args)
{
    AddArgs s = *(const AddArgs *)args;
    size_t cnt = (size_t)s.rows * s.cols;
    uint16_t *a = malloc(cnt * 2), *b = malloc(cnt * 2), *y = malloc(cnt * 2);
    if (a && b)
        for (size_t i = 0; i < cnt; i++)
            a[i] = fp16_from_f32((float)(int)(i % 7)), b[i] = fp16_from_f32(0.5f);
    s.a = a, s.b = b, s.out = y; /* on allocation failure the run faults: reported */
    uint64_t cycles = vertex_measure_run(isa, run, &s);
    free(a), free(b), free(y);
    return cycles;
}

const VertexType add_vertex = {"add.f16", sizeof(AddArgs), run, shape_key, measure, native};

static const CodeletVariant variants[] = {
    {"f16", "f16v4 lanes, one rounding per element", &add_vertex},
};
const CodeletFamily codelet_family_add = {"add", "fp16 elementwise add, add-bias (broadcast row) and scale", variants, sizeof variants / sizeof variants[0]};
