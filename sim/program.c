/* program.c - building the step tree (see program.h). */
#include "sim/program.h"

#include <stdlib.h>
#include <string.h>

const char *const program_step_kind_names[STEP_KIND_COUNT] = {
    "sequence", "repeat", "execute", "copy", "stream", "collective", "sync",
};

Program *program_create(void)
{
    Program *p = calloc(1, sizeof *p);
    if (p)
        p->root = -1;
    return p;
}

void program_destroy(Program *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nsteps; i++) {
        free(p->steps[i].children);
        free(p->steps[i].pairs);
        free(p->steps[i].xfers);
        free(p->steps[i].tensors);
    }
    free(p->steps);
    for (int i = 0; i < p->ncategories; i++)
        free(p->categories[i]);
    free(p);
}

int program_category(Program *p, const char *name, IpuErr *err)
{
    for (int i = 0; i < p->ncategories; i++)
        if (!strcmp(p->categories[i], name))
            return i;
    if (p->ncategories == STATS_MAX_CATEGORIES)
        return ipu_err(err, "program category '%s': more than %d categories", name, STATS_MAX_CATEGORIES);
    if (!(p->categories[p->ncategories] = strdup(name)))
        return ipu_err(err, "program category '%s': out of host memory", name);
    return p->ncategories++;
}

static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 4;
    void *q = realloc(*arr, c * sz);
    if (!q)
        return -1;
    *arr = q;
    *cap = c;
    return 0;
}

static int add_step(Program *p, StepKind kind, const char *label, int category, IpuErr *err)
{
    if (grow((void **)&p->steps, &p->cap_steps, p->nsteps, sizeof *p->steps))
        return ipu_err(err, "program: out of host memory");
    Step *s = &p->steps[p->nsteps];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    snprintf(s->label, sizeof s->label, "%s", label ? label : program_step_kind_names[kind]);
    s->category = category;
    s->body = s->cs = -1;
    return (int)p->nsteps++;
}

static Step *step_of(Program *p, int id, StepKind kind, IpuErr *err)
{
    if (id < 0 || (size_t)id >= p->nsteps || p->steps[id].kind != kind) {
        ipu_err(err, "program: step %d is not a %s step", id, program_step_kind_names[kind]);
        return NULL;
    }
    return &p->steps[id];
}

int program_sequence(Program *p, const char *label, IpuErr *err) { return add_step(p, STEP_SEQUENCE, label, -1, err); }

int program_append(Program *p, int seq, int child, IpuErr *err)
{
    Step *s = step_of(p, seq, STEP_SEQUENCE, err);
    if (!s)
        return -1;
    if (child < 0 || (size_t)child >= p->nsteps || child == seq)
        return ipu_err(err, "program: sequence '%s': child step %d does not exist", s->label, child);
    if (grow((void **)&s->children, &s->cap_children, s->nchildren, sizeof *s->children))
        return ipu_err(err, "program: out of host memory");
    s->children[s->nchildren++] = child;
    return 0;
}

int program_repeat(Program *p, uint64_t times, int body, const char *label, int category, IpuErr *err)
{
    if (body < 0 || (size_t)body >= p->nsteps)
        return ipu_err(err, "program: repeat '%s': body step %d does not exist", label ? label : "", body);
    int id = add_step(p, STEP_REPEAT, label, category, err);
    if (id >= 0) {
        p->steps[id].body = body;
        p->steps[id].times = times;
    }
    return id;
}

int program_execute(Program *p, int cs, const char *label, int category, IpuErr *err)
{
    int id = add_step(p, STEP_EXECUTE, label, category, err);
    if (id >= 0)
        p->steps[id].cs = cs;
    return id;
}

int program_copy(Program *p, const char *label, int category, IpuErr *err)
{
    return add_step(p, STEP_COPY, label, category, err);
}

int program_copy_add(Program *p, int step, int src, uint64_t src_first, int dst, uint64_t dst_first, uint64_t n,
                     IpuErr *err)
{
    Step *s = step_of(p, step, STEP_COPY, err);
    if (!s)
        return -1;
    if (s->npairs && src != dst && n) {
        CopyPair *l = &s->pairs[s->npairs - 1];
        if (l->src == src && l->dst == dst) {
            if (l->rows == 1 && src_first == l->src_first + l->n && dst_first == l->dst_first + l->n) {
                l->n += n;
                return 0;
            }
            if (n == l->n && src_first > l->src_first && dst_first > l->dst_first) {
                uint64_t ss = src_first - l->src_first, ds = dst_first - l->dst_first;
                if (l->rows == 1) {
                    l->src_stride = ss, l->dst_stride = ds, l->rows = 2;
                    return 0;
                }
                if (ss == l->rows * l->src_stride && ds == l->rows * l->dst_stride) {
                    l->rows++;
                    return 0;
                }
            }
        }
    }
    if (grow((void **)&s->pairs, &s->cap_pairs, s->npairs, sizeof *s->pairs))
        return ipu_err(err, "program: out of host memory");
    s->pairs[s->npairs++] = (CopyPair){src, dst, src_first, dst_first, n, 1, 0, 0};
    return 0;
}

int program_copy_add_rows(Program *p, int step, int src, uint64_t src_first, uint64_t src_stride, int dst,
                          uint64_t dst_first, uint64_t dst_stride, uint64_t n, uint64_t rows, IpuErr *err)
{
    for (uint64_t r = 0; r < rows; r++) {
        uint64_t s0 = src_first + r * src_stride, d0 = dst_first + r * dst_stride;
        const CopyPair *l = r ? &p->steps[step].pairs[p->steps[step].npairs - 1] : NULL;
        if (l && l->rows > 1 && l->src == src && l->dst == dst && l->n == n && l->src_stride == src_stride &&
            l->dst_stride == dst_stride && s0 == l->src_first + l->rows * src_stride &&
            d0 == l->dst_first + l->rows * dst_stride) {
            /* the pair already runs at these strides: the rest would each add one row */
            p->steps[step].pairs[p->steps[step].npairs - 1].rows += rows - r;
            return 0;
        }
        if (program_copy_add(p, step, src, s0, dst, d0, n, err))
            return -1;
    }
    return 0;
}

int program_copy_add_strided(Program *p, int step, int src, uint64_t src_first, uint64_t src_stride, int dst,
                             uint64_t dst_first, uint64_t dst_stride, uint64_t n, uint64_t rows, IpuErr *err)
{
    Step *s = step_of(p, step, STEP_COPY, err);
    if (!s)
        return -1;
    if (!rows || !n)
        return 0;
    if (grow((void **)&s->pairs, &s->cap_pairs, s->npairs, sizeof *s->pairs))
        return ipu_err(err, "program: out of host memory");
    s->pairs[s->npairs++] = (CopyPair){src, dst, src_first, dst_first, n, rows, rows > 1 ? src_stride : 0,
                                       rows > 1 ? dst_stride : 0};
    return 0;
}

int program_stream(Program *p, StreamDir dir, int overlap, const char *label, int category, IpuErr *err)
{
    int id = add_step(p, STEP_STREAM, label, category, err);
    if (id >= 0) {
        p->steps[id].dir = dir;
        p->steps[id].overlap = overlap;
    }
    return id;
}

int program_stream_add(Program *p, int step, int remote, uint64_t remote_offset_bytes, int tensor, uint64_t first,
                       uint64_t n, IpuErr *err)
{
    Step *s = step_of(p, step, STEP_STREAM, err);
    if (!s)
        return -1;
    if (grow((void **)&s->xfers, &s->cap_xfers, s->nxfers, sizeof *s->xfers))
        return ipu_err(err, "program: out of host memory");
    s->xfers[s->nxfers++] = (StreamXfer){remote, tensor, remote_offset_bytes, first, n};
    return 0;
}

int program_collective(Program *p, CollectiveKind kind, const int *tensors, size_t ntensors, const char *label,
                       int category, IpuErr *err)
{
    int *t = malloc((ntensors ? ntensors : 1) * sizeof *t);
    if (!t)
        return ipu_err(err, "program: out of host memory");
    memcpy(t, tensors, ntensors * sizeof *t);
    int id = add_step(p, STEP_COLLECTIVE, label, category, err);
    if (id < 0) {
        free(t);
        return -1;
    }
    p->steps[id].coll = kind;
    p->steps[id].tensors = t;
    p->steps[id].ntensors = ntensors;
    return id;
}

int program_sync(Program *p, SyncScope scope, const char *label, int category, IpuErr *err)
{
    int id = add_step(p, STEP_SYNC, label, category, err);
    if (id >= 0)
        p->steps[id].scope = scope;
    return id;
}

void program_set_root(Program *p, int step) { p->root = step; }

int program_root(const Program *p, IpuErr *err)
{
    if (p->root >= 0)
        return p->root;
    char *inside = calloc(p->nsteps ? p->nsteps : 1, 1);
    if (!inside)
        return ipu_err(err, "program: out of host memory");
    for (size_t i = 0; i < p->nsteps; i++) {
        const Step *s = &p->steps[i];
        for (size_t k = 0; k < s->nchildren; k++)
            inside[s->children[k]] = 1;
        if (s->kind == STEP_REPEAT)
            inside[s->body] = 1;
    }
    int root = -1, tops = 0;
    for (size_t i = 0; i < p->nsteps; i++)
        if (!inside[i]) {
            tops++;
            root = (int)i;
        }
    free(inside);
    if (tops != 1)
        return ipu_err(err, "program has %d top-level steps; wrap them in a sequence or call program_set_root", tops);
    return root;
}
