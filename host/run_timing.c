/* run_timing.c - every format through gptj_run in timing mode (see run_timing.h). */
#include "host/run_timing.h"

#include <string.h>

#include "host/gptj_run.h"

int run_timing_formats(const RunConfig *rc, Report *rep, IpuErr *e)
{
    for (int i = 0; i < rc->nformats; i++) {
        RunOptions o;
        RunResult res;
        memset(&res, 0, sizeof res);
        int rv = runcfg_options(rc, i, &o, e);
        if (rv == 0)
            rv = gptj_run(&rc->arch, &o, NULL, NULL, NULL, &res, e);
        if (rv == 0)
            rv = report_add(rep, &res, rc->batch, rc->chips_used, &rc->arch, e);
        run_result_free(&res);
        if (rv) {
            char spec[32];
            quant_spec_format(&rc->specs[i], spec, sizeof spec);
            return ipu_err_prefix(e, "format %s", spec);
        }
    }
    return 0;
}
