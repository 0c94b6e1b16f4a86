/* sweep_plot.h - a sweep's plots, drawn with gnuplot from the rows of
 * DIR/results.jsonl into DIR/plots (built whole in a temp folder, then
 * moved into place; each PNG's .gp script and .dat data are kept beside it
 * and the script redraws the PNG when run again, host/plot.h):
 *   METRIC-vs-KEY: the metric against each varied key, one line per
 *     format (the other varied keys at their first values, or all points
 *     when the keys are zipped); a key whose values are not numbers is
 *     drawn as categories;
 *   tradeoff: Graphcore's figure, batched token time against bits per
 *     parameter, each marker labelled with its format (group size), one
 *     line per point that ran two formats or more (the first 8 such).
 *
 * Not here: the rows (sweep.h), running (sweep_exec.h).
 */
#ifndef IPUSIM_SWEEP_PLOT_H
#define IPUSIM_SWEEP_PLOT_H

#include <stddef.h>

#include "base/err.h"
#include "host/sweep.h"

/* metric: a metric column of the rows (sweep_metric_name). names (cap
 * bytes) gets the pictures written, relative to dir, ';'-separated. */
int sweep_plot(const Sweep *s, const char *dir, const char *metric, char *names, size_t cap, IpuErr *err);
/* The file name globs of DIR/plots (for fileio_dir_commit). */
extern const char *const sweep_plot_files[];

#endif
