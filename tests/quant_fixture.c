/* quant_fixture.c - see quant_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/quant_fixture.h"

QuantSpec qf_spec(const char *text)
{
    QuantSpec s;
    IpuErr e = {{0}};
    if (quant_spec_parse(text, &s, &e) < 0)
        fail_msg("quant_spec_parse(%s): %s", text, e.msg);
    return s;
}

void qf_quantize(const char *spec, const float *w, int64_t rows, int64_t cols, QuantTensor *q)
{
    QuantSpec s = qf_spec(spec);
    IpuErr e = {{0}};
    if (quant_tensor(&s, "t", w, rows, cols, q, &e) < 0)
        fail_msg("quant_tensor(%s): %s", spec, e.msg);
}
