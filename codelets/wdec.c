/* wdec.c - the specification, argument checks, worker split and
 * vertex-type machinery of the weight-format decompress codelets (see
 * wdec.h); the variants are in wdec_int.c, wdec_nf4.c and wdec_fp8.c. */
#include <stdlib.h>
#include <string.h>

#include "base/quant_format.h"
#include "base/quant_fp8.h"
#include "base/quant_int.h"
#include "base/quant_nf4.h"
#include "codelets/wdec_impl.h"

const char *const wdec_format_names[WDEC_FORMATS] = {"s4g", "nf4g", "nf4g+dq", "i8", "fp8e4m3", "fp8e5m2"};

int wdec_code_bits(WdecFormat f) { return f == WDEC_S4G || f == WDEC_NF4G || f == WDEC_NF4DQ ? 4 : 8; }

int wdec_format_find(const char *name, int dq, WdecFormat *out, IpuErr *err)
{
    static const struct { const char *name; WdecFormat f; } names[] = {
        {"s4g", WDEC_S4G}, {"nf4g", WDEC_NF4G}, {"i8g", WDEC_I8}, {"i8c", WDEC_I8}, {"i8", WDEC_I8},
        {"fp8e4m3", WDEC_FP8E4M3}, {"fp8e5m2", WDEC_FP8E5M2},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i].name, name)) {
            *out = names[i].f == WDEC_NF4G && dq ? WDEC_NF4DQ : names[i].f;
            return 0;
        }
    return ipu_err(err, "weight format '%s': no tile decompress codelet (known: s4g, nf4g, nf4g+dq, i8g, i8c, fp8e4m3, "
                        "fp8e5m2; q4g is codelets/decompress.h)",
                   name);
}

/* ---- the specification ---- */

static unsigned code_at(WdecFormat f, const WdecArgs *a, size_t i)
{
    if (wdec_code_bits(f) == 4)
        return q4_code(((const uint16_t *)a->codes)[i / 4], (unsigned)(i % 4));
    return ((const uint8_t *)a->codes)[i];
}

void wdec_ref(WdecFormat f, uint16_t *out, const WdecArgs *a)
{
    uint32_t n = a->group_size;
    for (uint32_t g = 0; g < a->groups; g++) {
        uint16_t s;
        if (f == WDEC_NF4DQ) {
            s = nf4_dq_scale_ref(a->qscale[g], wdec_dq_step(a, g / a->seg_groups), a->dq[0]);
        } else {
            s = a->scale[g];
        }
        for (uint32_t i = 0; i < n; i++) {
            unsigned c = code_at(f, a, (size_t)g * n + i);
            uint16_t *o = &out[(size_t)g * n + i];
            switch (f) {
            case WDEC_S4G: *o = s4_dequant_ref(c, s); break;
            case WDEC_NF4G:
            case WDEC_NF4DQ: *o = nf4_dequant_ref(c, s); break;
            case WDEC_I8: *o = i8_dequant_ref(c, s); break;
            case WDEC_FP8E4M3: *o = fp8_dequant_ref(FP8_E4M3, c, s); break;
            default: *o = fp8_dequant_ref(FP8_E5M2, c, s); break;
            }
        }
    }
}

/* ---- checks and split ---- */

/* The alignment the variants need of the codes: 8-bit 4 bytes (ld32);
 * 4-bit 2 bytes, or 4 when a group has an even number of words (the
 * two-word loads then never need a lone first word). */
static unsigned codes_align(WdecFormat f, uint32_t n)
{
    return wdec_code_bits(f) == 8 ? 4 : (n / 4) % 2 ? 2 : 4;
}

int wdec_check(WdecFormat f, const WdecArgs *a, uint64_t row_elems, IpuErr *err)
{
    const char *fn = wdec_format_names[f];
    uint32_t n = a->group_size;
    if (n < Q4_MIN_GROUP || n > Q4_MAX_GROUP || n % 4)
        return ipu_err(err, "decompress %s: group_size %u is not a multiple of 4 in %d..%d", fn, n, Q4_MIN_GROUP,
                       Q4_MAX_GROUP);
    if (row_elems == 0 || row_elems % n)
        return ipu_err(err, "decompress %s: group_size %u does not divide the row of %llu elements", fn, n,
                       (unsigned long long)row_elems);
    if (f == WDEC_NF4DQ && (!a->seg_groups || a->groups % a->seg_groups))
        return ipu_err(err, "decompress %s: seg_groups %u does not divide the %u groups", fn, a->seg_groups,
                       a->groups);
    if (a->groups == 0)
        return 0;
    const struct { const char *name; const void *p; unsigned align; int need; } bufs[] = {
        {"codes", a->codes, codes_align(f, n), 1},    {"scale", a->scale, 2, f != WDEC_NF4DQ},
        {"qscale", a->qscale, 1, f == WDEC_NF4DQ},   {"dq", a->dq, 8, f == WDEC_NF4DQ},
        {"out", a->out, 8, 1},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (!bufs[i].need)
            continue;
        if (!bufs[i].p)
            return ipu_err(err, "decompress %s: %s buffer is NULL for %u groups", fn, bufs[i].name, a->groups);
        if ((uintptr_t)bufs[i].p % bufs[i].align)
            return ipu_err(err, "decompress %s: %s buffer at %p is not %u-byte aligned", fn, bufs[i].name,
                           bufs[i].p, bufs[i].align);
    }
    return 0;
}

uint32_t wdec_split(WdecFormat f, const WdecArgs *all, uint32_t workers, WdecArgs *parts)
{
    IPU_ASSERT(workers > 0);
    uint32_t unit = f == WDEC_NF4DQ ? all->seg_groups : 1, units = unit ? all->groups / unit : 0;
    IPU_ASSERT(unit > 0 && units * unit == all->groups);
    uint32_t base = units / workers, extra = units % workers, g0 = 0, used = 0, n = all->group_size;
    size_t code_bytes = (size_t)n * (size_t)wdec_code_bits(f) / 8;
    for (uint32_t k = 0; k < workers; k++) {
        uint32_t ng = (base + (k < extra)) * unit;
        WdecArgs *p = &parts[k];
        *p = *all;
        p->groups = ng;
        /* pointers of an empty part stay at the range's end: never dereferenced */
        if (all->codes) p->codes = (const uint8_t *)all->codes + (size_t)g0 * code_bytes;
        if (all->scale) p->scale = all->scale + g0;
        if (all->qscale) p->qscale = all->qscale + g0;
        if (f == WDEC_NF4DQ) /* dq is the block's: each part starts at its own segment */
            p->seg0 = all->seg0 + g0 / unit;
        if (all->out) p->out = all->out + (size_t)g0 * n;
        g0 += ng;
        used += ng > 0;
    }
    return used;
}

/* ---- vertex machinery ---- */

uint64_t wdec_shape_key(const void *args)
{
    const WdecArgs *a = args;
    return (uint64_t)a->groups << 27 | (uint64_t)a->seg_groups << 14 | a->group_size; /* n, seg_groups < 2^13 */
}

uint64_t wdec_measure_with(WdecFormat f, void (*run)(Worker *, const void *), const IsaCosts *isa, const void *args)
{
    const WdecArgs *shape = args;
    size_t g = shape->groups, n = shape->group_size, elems = g * n, code_bytes = elems * (size_t)wdec_code_bits(f) / 8;
    /* nf4g+dq: the steps the segments index (phase 0) */
    size_t nseg = shape->seg_groups ? g / shape->seg_groups : 0;
    size_t nsteps = nseg ? ((uint64_t)(shape->seg0 + nseg - 1) * shape->dq_stride >> 8) + 1 : 0;
    uint8_t *codes = aligned_alloc(8, (code_bytes + 8) / 8 * 8), *qs = malloc(g + 1);
    uint16_t *scale = malloc(g * 2 + 2), *out = aligned_alloc(8, (elems * 2 + 8) / 8 * 8);
    float *dq = aligned_alloc(8, (nsteps + 3) / 2 * 8 + 8);
    IPU_ASSERT(codes && qs && scale && out && dq); /* host out of memory: not a user error */
    for (size_t i = 0; i < code_bytes; i++)
        codes[i] = (uint8_t)(i * 0x9du + 0x31u);
    for (size_t k = 0; k < g; k++)
        scale[k] = 0x2e66, qs[k] = (uint8_t)(k * 7u + 100u);
    dq[0] = 0.05f, dq[1] = 0.0f; /* mean, phase 0 */
    for (size_t k = 0; k < nsteps; k++)
        dq[2 + k] = 1e-3f;
    WdecArgs a = {codes, f == WDEC_NF4DQ ? NULL : scale, f == WDEC_NF4DQ ? qs : NULL, f == WDEC_NF4DQ ? dq : NULL,
                  out, shape->groups, shape->group_size, shape->seg_groups, shape->seg0, shape->dq_stride};
    uint64_t cycles = vertex_measure_run(isa, run, &a);
    free(codes), free(qs), free(scale), free(out), free(dq);
    return cycles;
}

int wdec_native(WdecFormat f, const void *args)
{
    const WdecArgs *a = args;
    if (!a->groups)
        return 0;
    if (wdec_check(f, a, a->group_size, NULL))
        return -1;
    wdec_ref(f, a->out, a);
    return 0;
}

const CodeletFamily *wdec_family(WdecFormat f)
{
    static const CodeletFamily *const fam[WDEC_FORMATS] = {
        &codelet_family_dec_s4g, &codelet_family_dec_nf4g,    &codelet_family_dec_nf4dq,
        &codelet_family_dec_i8,  &codelet_family_dec_fp8e4m3, &codelet_family_dec_fp8e5m2,
    };
    IPU_ASSERT(f >= 0 && f < WDEC_FORMATS);
    return fam[f];
}

int wdec_vertex_format(const VertexType *vt)
{
    for (int f = 0; f < WDEC_FORMATS; f++) {
        const CodeletFamily *fam = wdec_family((WdecFormat)f);
        for (size_t i = 0; i < fam->variant_count; i++)
            if (fam->variants[i].vertex == vt)
                return f;
    }
    return -1;
}
