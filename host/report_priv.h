/* report_priv.h - what host/report.c, host/report_plot.c,
 * host/roofline.c and host/cli_tradeoff.c share, private to them: a growable text buffer for CSV,
 * plot data and scripts, and drawing one plot in an output folder being
 * built (through host/plot.h, whose scripts redraw their picture from any
 * folder).
 *
 * Not a public interface: the report's users include host/report.h only.
 */
#ifndef IPUSIM_REPORT_PRIV_H
#define IPUSIM_REPORT_PRIV_H

#include <stddef.h>

#include "base/err.h"
#include "host/report.h"

typedef struct ReportText {
    char *s;
    size_t n, cap;
    int oom; /* an allocation failed: s holds what came before */
} ReportText;

void report_text_add(ReportText *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a gnuplot double-quoted string ("\n" in s stays a line break; quotes
 * and backslashes escaped). */
void report_text_gp_string(ReportText *t, const char *s);

/* report_config_line with batches ("batches 1, 16") in place of the
 * report's own "batch N"; NULL: the report's. */
void report_config_line_with(const Report *r, const char *batches, char *out, size_t cap);
/* Writes dir/NAME.dat from data (atomically); data is freed. */
int report_plot_data(const char *dir, const char *name, ReportText *data, IpuErr *err);
/* Draws dir/NAME.EXT through host/plot.h plot_render: the terminal, then
 * body, which refers to its data as dir.'/NAME.dat'; body is freed. */
int report_gnuplot(const char *dir, const char *name, const char *term, const char *ext, ReportText *body,
                   IpuErr *err);

#endif
