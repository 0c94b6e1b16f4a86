/* npy.c - fp32 arrays as NumPy .npy version 1.0 files (see npy.h). */
#include "models/npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
/* magic, version (1, 0), header length (uint16 little-endian) */
#define NPY_PREAMBLE 10

size_t npy_header_f32(char *buf, size_t cap, const uint64_t *shape, int ndim)
{
    if (ndim < 1 || ndim > NPY_MAX_DIMS)
        return 0;
    char dict[512]; /* at most 51 + NPY_MAX_DIMS x 22 + 4 characters */
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++) /* a 1-tuple keeps its comma: (5,) */
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%" PRIu64 "%s", shape[i],
                      i + 1 < ndim ? ", " : ndim == 1 ? "," : "");
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    size_t total = (NPY_PREAMBLE + (size_t)n + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    if (total > cap || total - NPY_PREAMBLE > UINT16_MAX)
        return 0;
    size_t hlen = total - NPY_PREAMBLE;
    memcpy(buf, npy_magic, sizeof npy_magic);
    buf[6] = 1, buf[7] = 0;
    buf[8] = (char)(hlen & 0xff), buf[9] = (char)(hlen >> 8);
    memcpy(buf + NPY_PREAMBLE, dict, (size_t)n);
    memset(buf + NPY_PREAMBLE + n, ' ', hlen - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

/* The values as little-endian fp32, whatever the host's byte order. */
static int write_values(FILE *f, const float *data, uint64_t count)
{
    unsigned char buf[4096];
    size_t fill = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        for (int b = 0; b < 4; b++)
            buf[fill++] = (unsigned char)(u >> (8 * b));
        if (fill == sizeof buf || i + 1 == count) {
            if (fwrite(buf, 1, fill, f) != fill)
                return -1;
            fill = 0;
        }
    }
    return 0;
}

int npy_stage_f32(FileioFile *f, const char *path, const float *data, const uint64_t *shape, int ndim, IpuErr *e)
{
    char head[NPY_ALIGN * 8];
    size_t hlen = npy_header_f32(head, sizeof head, shape, ndim);
    if (!hlen)
        return ipu_err(e, "'%s': %d dimensions: a .npy array here has 1 to %d", path, ndim, NPY_MAX_DIMS);
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= shape[i];
    if (fileio_file_open(f, path, e))
        return -1;
    if (fwrite(head, 1, hlen, f->f) != hlen || write_values(f->f, data, count)) {
        int er = errno;
        fileio_file_abort(f);
        return ipu_err(e, "'%s': write error: %s", path, strerror(er));
    }
    return fileio_file_close(f, e); /* it removes the temp file on failure */
}

int npy_write_f32(const char *path, const float *data, const uint64_t *shape, int ndim, IpuErr *e)
{
    FileioFile f = {0};
    return npy_stage_f32(&f, path, data, shape, ndim, e) ? -1 : fileio_file_commit(&f, e);
}

/* The value of 'key' in the header dict h: a pointer just past "'key': ". */
static const char *dict_value(const char *h, const char *key)
{
    char k[32];
    snprintf(k, sizeof k, "'%s':", key);
    const char *p = strstr(h, k);
    if (!p)
        return NULL;
    p += strlen(k);
    while (*p == ' ')
        p++;
    return p;
}

/* "(2, 3)", "(5,)" or "()" after the 'shape' key. */
static int parse_shape(const char *p, uint64_t *shape, int *ndim)
{
    *ndim = 0;
    if (!p || *p++ != '(')
        return -1;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == ')')
            return *ndim ? 0 : -1; /* a 0-d array (a scalar) is not one of ours */
        if (*ndim == NPY_MAX_DIMS || *p < '0' || *p > '9')
            return -1;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno)
            return -1;
        shape[(*ndim)++] = v;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p != ')')
            return -1;
    }
}

/* The shape and the data's offset from a file's bytes; -1 naming what is wrong. */
static int parse_header(const char *path, const unsigned char *b, size_t len, uint64_t *shape, int *ndim,
                        size_t *data_off, IpuErr *e)
{
    if (len < NPY_PREAMBLE || memcmp(b, npy_magic, sizeof npy_magic))
        return ipu_err(e, "'%s': not a .npy file (no \\x93NUMPY magic)", path);
    if (b[6] != 1 || b[7] != 0)
        return ipu_err(e, "'%s': .npy version %u.%u, only 1.0 is read", path, b[6], b[7]);
    size_t hlen = (size_t)b[8] | (size_t)b[9] << 8;
    if (NPY_PREAMBLE + hlen > len)
        return ipu_err(e, "'%s': the header (%zu bytes) runs past the end of the file", path, hlen);
    char h[UINT16_MAX + 1];
    memcpy(h, b + NPY_PREAMBLE, hlen);
    h[hlen] = '\0';
    const char *d = dict_value(h, "descr"), *fo = dict_value(h, "fortran_order");
    if (!d || strncmp(d, "'<f4'", 5))
        return ipu_err(e, "'%s': dtype is not '<f4' (little-endian fp32)", path);
    if (!fo || strncmp(fo, "False", 5))
        return ipu_err(e, "'%s': not in C order (fortran_order is not False)", path);
    if (parse_shape(dict_value(h, "shape"), shape, ndim))
        return ipu_err(e, "'%s': no shape tuple of 1 to %d dimensions in the header", path, NPY_MAX_DIMS);
    *data_off = NPY_PREAMBLE + hlen;
    return 0;
}

int npy_read_f32(const char *path, size_t max_bytes, float **data, uint64_t *shape, int *ndim, IpuErr *e)
{
    char *text;
    size_t len, off;
    *data = NULL;
    if (fileio_read(path, ".npy file", max_bytes, &text, &len, e))
        return -1;
    const unsigned char *b = (const unsigned char *)text;
    if (parse_header(path, b, len, shape, ndim, &off, e)) {
        free(text);
        return -1;
    }
    uint64_t count = 1;
    for (int i = 0; i < *ndim; i++)
        count = shape[i] && count > UINT64_MAX / shape[i] ? UINT64_MAX : count * shape[i];
    if (count > (len - off) / 4 || len - off != count * 4) {
        free(text);
        return ipu_err(e, "'%s': %zu data bytes, the shape needs %" PRIu64 " values", path, len - off, count);
    }
    float *out = malloc((count ? count : 1) * sizeof *out);
    for (uint64_t i = 0; out && i < count; i++) {
        const unsigned char *q = b + off + 4 * i;
        uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
        memcpy(&out[i], &u, 4);
    }
    free(text);
    if (!out)
        return ipu_err(e, "'%s': out of memory", path);
    *data = out;
    return 0;
}
