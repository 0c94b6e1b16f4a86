/* progress.h - a one-line progress report on a terminal: items done of a
 * total, failures, elapsed time and an estimate of the time left, redrawn
 * in place (carriage return) at most a few times a second.
 *
 * Progress is silent unless enabled: progress_init enables it only when the
 * stream is a terminal and the caller did not ask for quiet, so output
 * piped to a file or a test never carries it. The estimate counts only the
 * items done since progress_init (items skipped at the start, as by a
 * resumed sweep, do not make it optimistic).
 *
 * Not here: what the items are; one caller drives one Progress (no locking).
 */
#ifndef IPUSIM_PROGRESS_H
#define IPUSIM_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

typedef struct Progress {
    FILE *f;           /* where the line goes (stderr) */
    int enabled;
    char what[32];     /* "points" */
    size_t total, start, done, failed;
    double t0_s, last_draw_s; /* monotonic seconds */
    int drawn;         /* a line is on the screen */
} Progress;

/* Starts at `start` of `total` items done; enabled when !quiet and f is a terminal. */
void progress_init(Progress *p, FILE *f, const char *what, size_t total, size_t start, int quiet);
/* Records done and failed items so far; redraws when enabled and 0.2 s passed (or all are done). */
void progress_update(Progress *p, size_t done, size_t failed);
/* The final line (when enabled), ending it with a newline. */
void progress_finish(Progress *p);
/* The line: "points 120/1000, 2 failed, 0:12 elapsed, ETA 1:30" (ETA "-" before any item of this run). */
void progress_format(char *buf, size_t cap, const char *what, size_t done, size_t total, size_t failed,
                     double elapsed_s, double eta_s);
/* The seconds left at the rate of the items done since the start; negative when unknown. */
double progress_eta_s(size_t start, size_t done, size_t total, double elapsed_s);

#endif
