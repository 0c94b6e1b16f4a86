/* report_priv.h - what host/report.c, host/report_plot.c and
 * host/roofline.c share, private to them: a growable text buffer for CSV,
 * plot data and scripts, and running one gnuplot script in an output folder
 * being built.
 *
 * A script written by report_gnuplot starts with a preamble that makes
 * gnuplot change to the script's own folder, so its data and image are
 * named without a folder: `gnuplot DIR/NAME.gp`, from any folder, redraws
 * DIR/NAME.png (or .svg) from DIR/NAME.dat.
 *
 * Not a public interface: the report's users include host/report.h only.
 */
#ifndef IPUSIM_REPORT_PRIV_H
#define IPUSIM_REPORT_PRIV_H

#include <stddef.h>

#include "sim/err.h"

typedef struct ReportText {
    char *s;
    size_t n, cap;
    int oom; /* an allocation failed: s holds what came before */
} ReportText;

void report_text_add(ReportText *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a gnuplot double-quoted string ("\n" in s stays a line break; quotes
 * and backslashes escaped). */
void report_text_gp_string(ReportText *t, const char *s);

/* The first gnuplot terminal that works of pngcairo, png, svg (with a size);
 * *ext gets its file extension. NULL when gnuplot is missing. */
const char *report_plot_terminal(const char **ext);
/* Writes dir/NAME.dat from data (atomically); data is freed. */
int report_plot_data(const char *dir, const char *name, ReportText *data, IpuErr *err);
/* Writes dir/NAME.gp (the preamble, the terminal, `set output 'NAME.EXT'`,
 * then body) and runs it, which draws dir/NAME.EXT; body is freed. The
 * error carries gnuplot's first message line. */
int report_gnuplot(const char *dir, const char *name, const char *term, const char *ext, ReportText *body,
                   IpuErr *err);

#endif
