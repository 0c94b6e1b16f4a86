/* links.c - ring collectives over IPU-Links: cost and functional result (see links.h). */
#include "sim/links.h"

#include <math.h>
#include <string.h>

#include "base/fp16.h"

#define LINKS_MAX_CHIPS 1024

uint64_t links_ring_cycles(const IpuArch *a, CollectiveKind kind, uint64_t C, uint64_t bytes, uint64_t *link_bytes)
{
    *link_bytes = 0;
    if (C < 2)
        return 0;
    uint64_t steps = kind == COLL_ALL_REDUCE ? 2 * (C - 1) : C - 1;
    uint64_t chunk_bytes = (bytes + C - 1) / C;
    double bw = a->link_bandwidth_bytes_per_s * a->link_efficiency * a->link_ring_links;
    double x = (double)chunk_bytes / bw * a->clock_hz;
    uint64_t step_cycles = a->link_latency_cycles + (x <= 0 ? 0 : (uint64_t)ceil(x - 1e-9 * x));
    *link_bytes = steps * chunk_bytes * C;
    return steps * step_cycles;
}

/* Element j of the sum over chips 0..C-1, added in that order and rounded
 * to the dtype after each addition, written to out[j] for each out. */
static void reduce_elems(GraphDType dt, void *const *in, size_t C, void *const *out, size_t nout, uint64_t lo,
                         uint64_t hi)
{
    long n = (long)(hi - lo);
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long k = 0; k < n; k++) {
        uint64_t j = lo + (uint64_t)k;
        if (dt == DTYPE_FP16) {
            uint16_t acc = ((const uint16_t *)in[0])[j];
            for (size_t c = 1; c < C; c++)
                acc = fp16_add(acc, ((const uint16_t *)in[c])[j]);
            for (size_t o = 0; o < nout; o++)
                ((uint16_t *)out[o])[j] = acc;
        } else {
            float acc = ((const float *)in[0])[j];
            for (size_t c = 1; c < C; c++)
                acc += ((const float *)in[c])[j];
            for (size_t o = 0; o < nout; o++)
                ((float *)out[o])[j] = acc;
        }
    }
}

void links_collective_run(Graph *g, CollectiveKind kind, const int *tensors, size_t C)
{
    if (C < 2)
        return;
    void *data[LINKS_MAX_CHIPS];
    IPU_ASSERT(C <= LINKS_MAX_CHIPS);
    for (size_t c = 0; c < C; c++)
        data[c] = graph_tensor(g, tensors[c])->data;
    const Tensor *t0 = graph_tensor(g, tensors[0]);
    size_t esz = graph_dtype_bytes(t0->dtype);
    if (kind == COLL_ALL_REDUCE) {
        reduce_elems(t0->dtype, data, C, data, C, 0, t0->elems);
        return;
    }
    for (size_t i = 0; i < C; i++) {
        /* chip i owns segment i = [i*E/C, (i+1)*E/C) */
        uint64_t lo = t0->elems * i / C, hi = t0->elems * (i + 1) / C;
        if (kind == COLL_REDUCE_SCATTER) {
            reduce_elems(t0->dtype, data, C, &data[i], 1, lo, hi);
            continue;
        }
        for (size_t c = 0; c < C; c++)
            if (c != i)
                memcpy((char *)data[c] + lo * esz, (const char *)data[i] + lo * esz, (hi - lo) * esz);
    }
}

