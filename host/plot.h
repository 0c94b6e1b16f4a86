/* plot.h - drawing with gnuplot: which terminal this machine's gnuplot
 * has, and rendering a script kept beside its picture so that running the
 * script again redraws the same picture.
 *
 * A plot is NAME.gp, its data files and NAME.EXT in one folder. The script
 * starts with
 *     if (!exists("dir")) dir = 'FINAL'
 *     set output dir.'/NAME.EXT'
 * and refers to its data as dir.'/x.dat', so `gnuplot FINAL/NAME.gp` run
 * later from anywhere redraws FINAL/NAME.EXT from FINAL's data. Outputs are
 * built in a temp folder first (sim/fileio.h FileioDir) and moved to FINAL
 * whole: plot_render draws there by giving gnuplot dir = that folder.
 *
 * Not here: what a plot shows (host/report.c, host/sweep_plot.c).
 */
#ifndef IPUSIM_PLOT_H
#define IPUSIM_PLOT_H

#include <stddef.h>

#include "sim/err.h"

/* The first of pngcairo, png and svg this gnuplot has ("pngcairo size
 * 900,540"), its file extension in *ext; NULL when gnuplot is missing. */
const char *plot_terminal(const char **ext);
/* Writes build_dir/NAME.gp (the preamble above, then body, which sets the
 * terminal and plots) and runs gnuplot on it with dir = build_dir. final_dir:
 * the folder the outputs will live in (absolute, so the script works from
 * anywhere); NULL: build_dir. A failure names the plot and carries
 * gnuplot's first message line. */
int plot_render(const char *build_dir, const char *final_dir, const char *name, const char *ext, const char *body,
                IpuErr *err);
/* A gnuplot single-quoted string can hold any text but a single quote and a line break. */
int plot_quotable(const char *s);

#endif
