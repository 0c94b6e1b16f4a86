/* npy.h - fp32 arrays as NumPy .npy files: what `ipusim run --logits` and
 * `ipusim model forward --logits` write, so any NumPy reads them
 * (np.load(path) gives a float32 array of the shape written).
 *
 * The format written is NumPy's version 1.0: the magic "\x93NUMPY", bytes
 * 1 and 0, a little-endian uint16 header length, then an ASCII dict
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 50400), }" padded
 * with blanks and ended by '\n' so that the data starts at a multiple of
 * 64 bytes, then the values as little-endian IEEE fp32 in C (row-major)
 * order. Files are written atomically (sim/base/fileio.h): whole or not at all.
 *
 * npy_read_f32 reads back exactly that kind of file (version 1.0, '<f4',
 * C order; any header NumPy writes for one): for tests and tools that
 * compare logits. Not here: other dtypes, Fortran order, .npz archives.
 */
#ifndef IPUSIM_NPY_H
#define IPUSIM_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/fileio.h"

#define NPY_MAX_DIMS 8
/* The header, padding and '\n' included, is a multiple of this. */
#define NPY_ALIGN 64

/* The header of a (shape[0], ..., shape[ndim-1]) fp32 array into buf (not
 * NUL-terminated); its length in bytes (a multiple of NPY_ALIGN), or 0 when
 * ndim is outside 1..NPY_MAX_DIMS or cap is too small. */
size_t npy_header_f32(char *buf, size_t cap, const uint64_t *shape, int ndim);

/* Stages the array at path (complete and synced in a temp file, waiting
 * for fileio_file_commit with a command's other outputs, or abort). */
int npy_stage_f32(FileioFile *f, const char *path, const float *data, const uint64_t *shape, int ndim, IpuErr *e);
/* Writes the array to path atomically (stage + commit). */
int npy_write_f32(const char *path, const float *data, const uint64_t *shape, int ndim, IpuErr *e);

/* Reads a version 1.0 '<f4' C-order .npy file of at most max_bytes into
 * *data (malloc'ed), its shape into shape[0 .. *ndim). Errors name the file
 * and what in it is not such an array. */
int npy_read_f32(const char *path, size_t max_bytes, float **data, uint64_t *shape, int *ndim, IpuErr *e);

#endif
