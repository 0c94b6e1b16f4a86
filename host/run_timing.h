/* run_timing.h - every format of a resolved run configuration through
 * gptj_run in timing mode, into a report: what the library's
 * ipusim_run_timing and `ipusim tradeoff` run (`ipusim run` adds traces,
 * functional weights and failures that do not stop the others).
 *
 * Not here: resolving the configuration (runcfg.h), printing (report.h).
 */
#ifndef IPUSIM_RUN_TIMING_H
#define IPUSIM_RUN_TIMING_H

#include "base/err.h"
#include "host/report.h"
#include "host/runcfg.h"

/* rc finished (runcfg_finish); an error names the format that failed. */
int run_timing_formats(const RunConfig *rc, Report *rep, IpuErr *e);

#endif
