/* quant_internal.h - helpers the weight formats of models/ share (quant.c,
 * quant_int.c, quant_nf4.c, quant_fp8.c). Private to models/: callers use
 * models/quant.h.
 */
#ifndef IPUSIM_QUANT_INTERNAL_H
#define IPUSIM_QUANT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "models/quant.h"

/* Rounds a non-negative double to the nearest fp16, ties to even, with one
 * rounding (narrowing through float could round twice). */
uint16_t quant_f16_from_f64(double x);
/* Checks w (n values) and rounds it to fp16 into out; errors name the
 * tensor and the first bad flat index. */
int quant_to_f16_checked(const char *name, const float *w, size_t n, uint16_t *out, IpuErr *e);
/* calloc that names the tensor when out of memory (count 0: one byte). */
void *quant_alloc(size_t count, size_t size, const char *name, IpuErr *e);
/* The group size of s checked for a tensor whose groups run along cols: a
 * multiple of 4 in 4..4096 that divides cols; errors name the tensor. */
int quant_check_group(const QuantSpec *s, const char *name, int64_t cols, IpuErr *e);
/* Releases every buffer of q (each format's free). */
void quant_free_buffers(QuantTensor *q);

#endif
