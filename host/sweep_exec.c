/* sweep_exec.c - planning a sweep's cells into units that share a
 * lowering, running them on threads and ranks, writing rows in point order
 * (see sweep_exec.h). */
#include "host/sweep_exec.h"

#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "host/gptj_run.h"
#include "host/report.h"
#include "host/runcfg.h"

/* A unit of fewer cells than twice this is not split for parallelism: the
 * split costs one more lowering (about a second for 6B). */
#define SWEEP_SPLIT_MIN_CELLS 8

typedef struct Cell {
    size_t point;
    int fmt;
} Cell;

/* Cells that share one lowering; key and arch: what they share. */
typedef struct Unit {
    Cell *cells;
    size_t n, cap;
    char *key;        /* the run keys but formats and arch.* lines, and the format */
    unsigned long long hash;
    IpuArch arch;     /* the first cell's machine */
} Unit;

/* Per point, from the plan: its first row (over all points from first_point), its format count, the error of
 * a point whose keys conflict. */
typedef struct Plan {
    size_t first, npoints;  /* points first .. first + npoints - 1 */
    size_t *row0;           /* (npoints + 1) */
    char (*names)[32];      /* (rows) format names */
    char **point_err;       /* (npoints) NULL or the runcfg_finish message */
    Unit *units;
    size_t nunits, cap;
} Plan;

static void plan_free(Plan *pl)
{
    for (size_t i = 0; i < pl->nunits; i++)
        free(pl->units[i].cells), free(pl->units[i].key);
    for (size_t i = 0; pl->point_err && i < pl->npoints; i++)
        free(pl->point_err[i]);
    free(pl->units), free(pl->row0), free(pl->names), free(pl->point_err);
    memset(pl, 0, sizeof *pl);
}

/* The run keys that decide the lowering, as text: runcfg_print but the
 * formats line and the arch.<key> lines (the arch is compared field by
 * field: gptj_arch_same_graph), then the format. */
static char *unit_key(const RunConfig *rc, const char *format)
{
    char *text = NULL, *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    runcfg_print(f, rc);
    if (fclose(f))
        return free(text), NULL;
    size_t olen = 0;
    FILE *g = open_memstream(&out, &olen);
    if (!g)
        return free(text), NULL;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "arch.", 5) && strncmp(line, "formats = ", 10))
            fprintf(g, "%s\n", line);
    fprintf(g, "format = %s\n", format);
    free(text);
    if (fclose(g))
        return free(out), NULL;
    return out;
}

static unsigned long long text_hash(const char *s)
{
    unsigned long long h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int unit_add(Unit *u, size_t point, int fmt)
{
    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 8;
        Cell *c = realloc(u->cells, cap * sizeof *c);
        if (!c)
            return -1;
        u->cells = c, u->cap = cap;
    }
    u->cells[u->n++] = (Cell){point, fmt};
    return 0;
}

/* The unit of a cell: an existing one with the same key and a machine of
 * the same graph, else a new one. Linear in the units: a sweep has few
 * distinct lowerings (each costs a lowering's time anyway). */
static int plan_cell(Plan *pl, const RunConfig *rc, size_t point, int fmt, IpuErr *err)
{
    char *key = unit_key(rc, pl->names[pl->row0[point - pl->first] + (size_t)fmt]);
    if (!key)
        return ipu_err(err, "out of memory");
    unsigned long long h = text_hash(key);
    for (size_t i = pl->nunits; i-- > 0;) {
        Unit *u = &pl->units[i];
        if (u->hash == h && !strcmp(u->key, key) && gptj_arch_same_graph(&u->arch, &rc->arch)) {
            free(key);
            return unit_add(u, point, fmt) ? ipu_err(err, "out of memory") : 0;
        }
    }
    if (pl->nunits == pl->cap) {
        size_t cap = pl->cap ? 2 * pl->cap : 16;
        Unit *n = realloc(pl->units, cap * sizeof *n);
        if (!n)
            return free(key), ipu_err(err, "out of memory");
        pl->units = n, pl->cap = cap;
    }
    Unit *u = &pl->units[pl->nunits++];
    memset(u, 0, sizeof *u);
    u->key = key, u->hash = h, u->arch = rc->arch;
    return unit_add(u, point, fmt) ? ipu_err(err, "out of memory") : 0;
}

/* Splits the largest unit in two (cells in point order) while there are
 * fewer units than workers. The copies keep key and arch. */
static int plan_split(Plan *pl, size_t workers, IpuErr *err)
{
    while (pl->nunits < workers) {
        size_t big = 0;
        for (size_t i = 1; i < pl->nunits; i++)
            if (pl->units[i].n > pl->units[big].n)
                big = i;
        if (pl->nunits == 0 || pl->units[big].n < 2 * SWEEP_SPLIT_MIN_CELLS)
            return 0;
        if (pl->nunits == pl->cap) {
            size_t cap = 2 * pl->cap;
            Unit *n = realloc(pl->units, cap * sizeof *n);
            if (!n)
                return ipu_err(err, "out of memory");
            pl->units = n, pl->cap = cap;
        }
        Unit *u = &pl->units[big], *v = &pl->units[pl->nunits];
        size_t half = u->n / 2;
        memset(v, 0, sizeof *v);
        v->hash = u->hash, v->arch = u->arch, v->key = strdup(u->key);
        if (!v->key)
            return ipu_err(err, "out of memory");
        pl->nunits++;
        for (size_t i = half; i < u->n; i++)
            if (unit_add(v, u->cells[i].point, u->cells[i].fmt))
                return ipu_err(err, "out of memory");
        u->n = half;
    }
    return 0;
}

static int unit_cmp(const void *a, const void *b)
{
    const Unit *x = a, *y = b;
    return x->cells[0].point < y->cells[0].point ? -1 : x->cells[0].point > y->cells[0].point;
}

/* Resolves every point from first: its formats (rows), its conflict if
 * any, and its cells into units. */
static int plan_make(const Sweep *s, size_t first, size_t workers, Plan *pl, IpuErr *err)
{
    memset(pl, 0, sizeof *pl);
    pl->first = first, pl->npoints = s->npoints - first;
    RunConfig *rc = malloc(sizeof *rc);
    pl->row0 = calloc(pl->npoints + 1, sizeof *pl->row0);
    pl->point_err = calloc(pl->npoints ? pl->npoints : 1, sizeof *pl->point_err);
    pl->names = malloc((pl->npoints ? pl->npoints : 1) * RUNCFG_MAX_FORMATS * sizeof *pl->names);
    int rv = rc && pl->row0 && pl->point_err && pl->names ? 0 : ipu_err(err, "out of memory");
    for (size_t i = 0; i < pl->npoints && !rv; i++) {
        size_t p = first + i;
        if ((rv = sweep_point_config(s, p, rc, err)))
            break;
        int nf = sweep_format_names(rc, &pl->names[pl->row0[i]]);
        pl->row0[i + 1] = pl->row0[i] + (size_t)nf;
        IpuErr fe;
        if (runcfg_finish(rc, &fe)) {
            if (!(pl->point_err[i] = strdup(fe.msg)))
                rv = ipu_err(err, "out of memory");
            continue;
        }
        for (int f = 0; f < nf && !rv; f++)
            rv = plan_cell(pl, rc, p, f, err);
    }
    free(rc);
    if (!rv)
        rv = plan_split(pl, workers, err);
    if (!rv && pl->nunits)
        qsort(pl->units, pl->nunits, sizeof *pl->units, unit_cmp);
    return rv;
}

int sweep_points_in_rows(const Sweep *s, size_t rows, size_t *points, size_t *rows_used, IpuErr *err)
{
    RunConfig *rc = malloc(sizeof *rc);
    if (!rc)
        return ipu_err(err, "out of memory");
    char names[RUNCFG_MAX_FORMATS][32];
    size_t used = 0, p = 0;
    int rv = 0;
    for (; p < s->npoints; p++) {
        if ((rv = sweep_point_config(s, p, rc, err)))
            break;
        size_t n = (size_t)sweep_format_names(rc, names);
        if (used + n > rows)
            break;
        used += n;
    }
    free(rc);
    *points = p, *rows_used = used;
    return rv;
}

/* ---- running ---- */

/* The writer's state (rank 0), touched under its lock only. */
typedef struct Writer {
    const Sweep *s;
    const SweepRunOptions *o;
    const Plan *pl;
    SweepRow *rows;       /* (plan rows) */
    int *left;            /* (npoints) cells still to come */
    size_t next;          /* the next point to write, from 0 (= first_point) */
    size_t failed;
    int rc;               /* first error of writing or of the transport */
    IpuErr err;
    omp_lock_t lock;      /* the threads take turns here (a lock, not a named critical section,
                           * whose global symbol the shared library would export) */
} Writer;

static int write_point(Writer *w, size_t i)
{
    const Plan *pl = w->pl;
    SweepRow *r = &w->rows[pl->row0[i]];
    int n = (int)(pl->row0[i + 1] - pl->row0[i]), bad = 0;
    sweep_rows_speedup(r, n);
    for (int k = 0; k < n; k++) {
        bad |= !r[k].ok;
        char *c = sweep_csv_row(w->s, &r[k]), *j = sweep_jsonl_row(w->s, &r[k]);
        int rv = c && j ? 0 : ipu_err(&w->err, "out of memory");
        if (!rv && w->o->csv && (fputs(c, w->o->csv) == EOF || fputs(j, w->o->jsonl) == EOF))
            rv = ipu_err(&w->err, "writing the results: %s", strerror(errno));
        free(c), free(j);
        if (rv)
            return -1;
    }
    if (w->o->csv && (fflush(w->o->csv) || fflush(w->o->jsonl)))
        return ipu_err(&w->err, "writing the results: %s", strerror(errno));
    w->failed += bad;
    return 0;
}

/* Takes one row (rank 0) and writes every point that is now complete. */
static void writer_take(Writer *w, const SweepRow *r)
{
    const Plan *pl = w->pl;
    IPU_ASSERT(r->point >= pl->first && r->point < pl->first + pl->npoints);
    size_t i = (size_t)r->point - pl->first;
    IPU_ASSERT(r->fmt >= 0 && (size_t)r->fmt < pl->row0[i + 1] - pl->row0[i] && w->left[i] > 0);
    w->rows[pl->row0[i] + (size_t)r->fmt] = *r;
    w->left[i]--;
    while (!w->rc && w->next < pl->npoints && w->left[w->next] == 0)
        if ((w->rc = write_point(w, w->next++)))
            break;
    if (w->o->progress)
        progress_update(w->o->progress, pl->first + w->next, w->failed);
}

/* A finished cell: to the writer (rank 0) or to rank 0; then, on rank 0, any rows the other ranks sent. */
static void deliver(Writer *w, const SweepRow *r)
{
    const SweepTransport *t = w->o->comm;
    omp_set_lock(&w->lock);
    {
        if (t && t->rank != 0) {
            if (!w->rc && t->send_row(t->ctx, r))
                w->rc = ipu_err(&w->err, "sending a row to rank 0 failed");
        } else {
            writer_take(w, r);
            SweepRow in;
            int got;
            while (t && t->size > 1 && !w->rc && (got = t->recv_row(t->ctx, &in, 0)) != 0) {
                if (got < 0) {
                    w->rc = ipu_err(&w->err, "receiving rows from the other ranks failed");
                    break;
                }
                writer_take(w, &in);
            }
        }
    }
    omp_unset_lock(&w->lock);
}

/* Runs one unit's cells on one session (this thread's). */
static void run_unit(Writer *w, const Unit *u, RunConfig *rc, size_t *lowerings)
{
    const Plan *pl = w->pl;
    GptjSession *ses = NULL;
    char lower_err[IPU_ERR_MSG_BYTES] = "";
    for (size_t k = 0; k < u->n; k++) {
        const Cell *c = &u->cells[k];
        const char *fname = pl->names[pl->row0[c->point - pl->first] + (size_t)c->fmt];
        SweepRow row;
        IpuErr e;
        RunOptions o;
        int rv = sweep_point_config(w->s, c->point, rc, &e) || runcfg_finish(rc, &e) ||
                         runcfg_options(rc, c->fmt, &o, &e)
                     ? -1
                     : 0;
        if (!rv && !ses && !lower_err[0]) {
            if (!(ses = gptj_session_create(&rc->arch, &o, &e)))
                snprintf(lower_err, sizeof lower_err, "%s", e.msg); /* the same for every cell of the unit */
            else
                (*lowerings)++;
        }
        if (!rv && !ses)
            rv = ipu_err(&e, "%s", lower_err);
        RunResult res;
        Report rep;
        report_init(&rep, NULL);
        memset(&res, 0, sizeof res);
        if (!rv)
            rv = gptj_session_run(ses, &rc->arch, &res, &e);
        if (!rv)
            rv = report_add(&rep, &res, rc->batch, rc->chips_used, &rc->arch, &e);
        if (!rv) {
            sweep_row_from_report(&row, c->point, c->fmt, &rep.f[0]);
            sweep_row_roofline(&row, rc, &rep.f[0]);
        } else
            sweep_row_error(&row, c->point, c->fmt, fname, e.msg);
        run_result_free(&res);
        report_free(&rep);
        deliver(w, &row);
    }
    gptj_session_destroy(ses);
}

/* Rank 0's rows of the points whose keys conflict: no unit runs them. */
static void conflict_rows(Writer *w)
{
    const Plan *pl = w->pl;
    for (size_t i = 0; i < pl->npoints; i++)
        for (size_t f = 0; pl->point_err[i] && f < pl->row0[i + 1] - pl->row0[i]; f++) {
            SweepRow row;
            sweep_row_error(&row, pl->first + i, (int)f, pl->names[pl->row0[i] + f], pl->point_err[i]);
            writer_take(w, &row);
        }
}

int sweep_run(const Sweep *s, const SweepRunOptions *o, SweepStats *st, IpuErr *err)
{
    memset(st, 0, sizeof *st);
    const SweepTransport *t = o->comm && o->comm->size > 1 ? o->comm : NULL;
    int rank = t ? t->rank : 0, size = t ? t->size : 1;
    Plan pl;
    if (o->first_point > s->npoints)
        return ipu_err(err, "sweep_run: first point %zu beyond the %zu points", o->first_point, s->npoints);
    if (plan_make(s, o->first_point, (size_t)size * (size_t)(o->threads > 0 ? o->threads : 1), &pl, err)) {
        plan_free(&pl);
        return -1;
    }
    Writer w = {.s = s, .o = o, .pl = &pl};
    omp_init_lock(&w.lock);
    w.rows = calloc(pl.row0[pl.npoints] ? pl.row0[pl.npoints] : 1, sizeof *w.rows);
    w.left = calloc(pl.npoints ? pl.npoints : 1, sizeof *w.left);
    if (!w.rows || !w.left) {
        omp_destroy_lock(&w.lock);
        free(w.rows), free(w.left), plan_free(&pl);
        return ipu_err(err, "out of memory");
    }
    for (size_t i = 0; i < pl.npoints; i++)
        w.left[i] = (int)(pl.row0[i + 1] - pl.row0[i]);
    st->points = pl.npoints, st->cells = pl.row0[pl.npoints], st->units = pl.nunits;
    if (rank == 0)
        conflict_rows(&w);
    long nmine = 0;
    for (size_t u = (size_t)rank; u < pl.nunits; u += (size_t)size)
        nmine++;
    size_t lowerings = 0;
#pragma omp parallel num_threads(o->threads > 0 ? o->threads : 1) reduction(+ : lowerings)
    {
        RunConfig *rc = malloc(sizeof *rc);
#pragma omp for schedule(dynamic, 1)
        for (long k = 0; k < nmine; k++) {
            if (!rc) {
                omp_set_lock(&w.lock);
                if (!w.rc)
                    w.rc = ipu_err(&w.err, "out of memory");
                omp_unset_lock(&w.lock);
                continue;
            }
            run_unit(&w, &pl.units[(size_t)rank + (size_t)k * (size_t)size], rc, &lowerings);
        }
        free(rc);
    }
    st->lowerings = lowerings;
    /* rank 0 waits for the other ranks' rows */
    while (rank == 0 && t && !w.rc && w.next < pl.npoints) {
        SweepRow in;
        int got = t->recv_row(t->ctx, &in, 1);
        if (got < 0)
            w.rc = ipu_err(&w.err, "receiving rows from the other ranks failed");
        else if (got)
            writer_take(&w, &in);
    }
    st->failed_points = w.failed;
    int rv = w.rc;
    if (rv)
        *err = w.err;
    omp_destroy_lock(&w.lock);
    free(w.rows), free(w.left), plan_free(&pl);
    return rv ? -1 : 0;
}
