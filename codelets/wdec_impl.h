/* wdec_impl.h - what the wdec codelet files share (codelets/wdec.c,
 * wdec_int.c, wdec_nf4.c, wdec_fp8.c): the vertex-type machinery and a few
 * tile building blocks. Internal to codelets/: callers use codelets/wdec.h.
 */
#ifndef IPUSIM_WDEC_IMPL_H
#define IPUSIM_WDEC_IMPL_H

#include "codelets/isa.h"
#include "codelets/q4_isa.h"
#include "codelets/wdec.h"

/* A key equal for args of the same shape: groups, group size, seg_groups. */
uint64_t wdec_shape_key(const void *args);
/* Runs run (a variant's VertexType.run) on deterministic scratch data of
 * args' shape: its worker cycles, or VERTEX_MEASURE_FAULT if it faulted. */
uint64_t wdec_measure_with(WdecFormat f, void (*run)(Worker *, const void *), const IsaCosts *isa, const void *args);
/* The native version: wdec_ref's bits; declines (non-zero) where run()
 * would fault (a NULL or misaligned buffer). */
int wdec_native(WdecFormat f, const void *args);

#define WDEC_VERTEX(fmt, name)                                                                                    \
    static void run_##name(Worker *w, const void *args) { wdec_##name(w, args); }                               \
    static uint64_t measure_##name(const IsaCosts *isa, const void *args)                                       \
    {                                                                                                             \
        return wdec_measure_with(fmt, run_##name, isa, args);                                                   \
    }                                                                                                             \
    static int native_##name(const IsaCosts *isa, const void *args) { return wdec_native(fmt, args); }          \
    static const VertexType name##_vertex = {"wdec." #name, sizeof(WdecArgs), run_##name, wdec_shape_key,      \
                                             measure_##name, native_##name};

/* The group's fp16 scale in four lanes (ld16 + splat: 4 issues). */
static inline Half4 wdec_scale4(Worker *w, const WdecArgs *a, uint32_t g)
{
    return splat_h4(w, isa_ld16(w, a->scale + g));
}

/* Four 16-bit constants as one register (setzi + mov). */
static inline Half4 wdec_const4(Worker *w, uint16_t c) { return const_h4(w, (uint32_t)c | (uint32_t)c << 16); }

#endif
