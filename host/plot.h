/* plot.h - drawing with gnuplot: which terminal this machine's gnuplot
 * has, and rendering a script kept beside its picture so that running the
 * script again redraws the same picture.
 *
 * A plot is NAME.gp, its data files and NAME.EXT in one folder. The script
 * starts by setting dir to its own folder (gnuplot names the script it runs
 * in ARG0; read from stdin, it takes dir from -e, else FINAL), then
 *     set output dir.'/NAME.EXT'
 * and refers to its data as dir.'/x.dat', so `gnuplot PATH/NAME.gp`, run
 * from any folder, redraws the picture beside the script, wherever the
 * folder has been moved or copied. Outputs are built in a temp folder first
 * (sim/base/fileio.h FileioDir) and moved to FINAL whole: plot_render draws them
 * in that folder.
 *
 * Not here: what a plot shows (host/report_plot.c, host/roofline.c,
 * host/sweep_plot.c).
 */
#ifndef IPUSIM_PLOT_H
#define IPUSIM_PLOT_H

#include <stddef.h>

#include "base/err.h"

/* The first of pngcairo, png and svg this gnuplot has ("pngcairo size
 * 900,540"), its file extension in *ext; NULL when gnuplot is missing. */
const char *plot_terminal(const char **ext);
/* Writes build_dir/NAME.gp (the preamble above, then body, which sets the
 * terminal and plots) and runs it, drawing build_dir/NAME.EXT. final_dir:
 * the folder the outputs will live in, the script's fallback when gnuplot
 * does not say where the script is; NULL: ".". A failure names the plot
 * and carries gnuplot's first message line. */
int plot_render(const char *build_dir, const char *final_dir, const char *name, const char *ext, const char *body,
                IpuErr *err);
/* A gnuplot single-quoted string can hold any text but a single quote and a line break. */
int plot_quotable(const char *s);

#endif
