/* progress.c - the progress line (see progress.h). */
#include "host/progress.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(Progress *p, FILE *f, const char *what, size_t total, size_t start, int quiet)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->enabled = !quiet && f && isatty(fileno(f));
    snprintf(p->what, sizeof p->what, "%s", what);
    p->total = total, p->start = p->done = start;
    p->t0_s = now_s();
    p->last_draw_s = -1;
}

/* h:mm:ss, or m:ss under an hour. */
static void clock_text(char *buf, size_t cap, double s)
{
    if (!(s >= 0) || !isfinite(s)) {
        snprintf(buf, cap, "-");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%lu:%02lu", t / 60, t % 60);
}

void progress_format(char *buf, size_t cap, const char *what, size_t done, size_t total, size_t failed,
                     double elapsed_s, double eta_s)
{
    char el[32], eta[32];
    clock_text(el, sizeof el, elapsed_s);
    clock_text(eta, sizeof eta, eta_s);
    snprintf(buf, cap, "%s %zu/%zu, %zu failed, %s elapsed, ETA %s", what, done, total, failed, el, eta);
}

double progress_eta_s(size_t start, size_t done, size_t total, double elapsed_s)
{
    if (done >= total)
        return 0;
    if (done <= start || !(elapsed_s > 0))
        return -1;
    return elapsed_s / (double)(done - start) * (double)(total - done);
}

static void draw(Progress *p, double t)
{
    char line[160];
    double el = t - p->t0_s;
    progress_format(line, sizeof line, p->what, p->done, p->total, p->failed, el,
                    progress_eta_s(p->start, p->done, p->total, el));
    fprintf(p->f, "\r%-78s", line);
    fflush(p->f);
    p->drawn = 1;
    p->last_draw_s = t;
}

void progress_update(Progress *p, size_t done, size_t failed)
{
    p->done = done, p->failed = failed;
    if (!p->enabled)
        return;
    double t = now_s();
    if (p->last_draw_s < 0 || t - p->last_draw_s >= 0.2 || done >= p->total)
        draw(p, t);
}

void progress_finish(Progress *p)
{
    if (!p->enabled)
        return;
    draw(p, now_s());
    fputc('\n', p->f);
    fflush(p->f);
}
