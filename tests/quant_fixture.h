/* quant_fixture.h - what the quantization tests share: a spec from its
 * text and a tensor quantized, each failing the test with the parser's or
 * the quantizer's message. */
#ifndef IPUSIM_TESTS_QUANT_FIXTURE_H
#define IPUSIM_TESTS_QUANT_FIXTURE_H

#include <stdint.h>

#include "models/quant.h"

QuantSpec qf_spec(const char *text);
/* w (rows, cols) under spec into q, as tensor "t". */
void qf_quantize(const char *spec, const float *w, int64_t rows, int64_t cols, QuantTensor *q);

#endif
