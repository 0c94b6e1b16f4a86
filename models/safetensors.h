/* safetensors.h - reading and writing Hugging Face safetensors checkpoints.
 *
 * The format: an 8-byte little-endian header length N, N bytes of JSON
 * mapping tensor name -> {dtype, shape, data_offsets: [begin, end]} (plus an
 * optional "__metadata__" object of strings), then the data area; offsets
 * are relative to the start of the data area. A model may be one
 * model.safetensors or several shards listed by model.safetensors.index.json
 * ({"weight_map": {name: shard file}}).
 *
 * The header is untrusted input. st_open validates all of it before any data
 * is touched: header length inside the file, valid JSON, known dtype, shape of
 * non-negative integers, begin <= end inside the data area, end - begin equal
 * to dtype size x product(shape) (overflow-checked), no two tensors
 * overlapping, no duplicate names. Files are memory-mapped read-only; every
 * later read stays inside the validated range. Errors name the file and the
 * tensor.
 *
 * What the checkpoint must contain (names, shapes) is not known here: the
 * model loader (gptj_weights.h) asks with st_expect. The writer st_write
 * writes atomically (sim/base/fileio.h: temp file, fsync, rename), tensor by
 * tensor through a fill callback so a model larger than memory can be
 * written shard by shard.
 */
#ifndef IPUSIM_SAFETENSORS_H
#define IPUSIM_SAFETENSORS_H

#include <stdint.h>

#include "base/err.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_BYTES (100u << 20) /* 100 MiB: the reference readers' limit */

typedef enum StDtype {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E4M3, ST_F8_E5M2, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64, ST_DTYPE_COUNT
} StDtype;

const char *st_dtype_name(StDtype d);
unsigned st_dtype_bytes(StDtype d);
/* Parses "F16" etc.; -1 if unknown. */
int st_dtype_parse(const char *s);

typedef struct StTensor {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t n_elems;
    uint64_t n_bytes;
    const unsigned char *data; /* inside the mapping of its file; may be unaligned */
    int file;                  /* index into StCheckpoint.files */
} StTensor;

typedef struct StFile {
    char *path;
    void *map;
    uint64_t map_bytes;
} StFile;

typedef struct StCheckpoint {
    char *source; /* the path given to st_open: file, index or folder */
    int n_files;
    StFile *files;
    int n_tensors;
    StTensor *tensors; /* sorted by name */
} StCheckpoint;

/* path: a .safetensors file, a model.safetensors.index.json, or a directory
 * holding model.safetensors or model.safetensors.index.json. */
StCheckpoint *st_open(const char *path, IpuErr *e);
void st_close(StCheckpoint *ck); /* NULL is a no-op */

const StTensor *st_find(const StCheckpoint *ck, const char *name);
const char *st_tensor_file(const StCheckpoint *ck, const StTensor *t);
/* The tensor must exist with a float dtype (F32, F16, BF16) and this shape. */
const StTensor *st_expect(const StCheckpoint *ck, const char *name, int ndim, const int64_t *shape, IpuErr *e);

/* Converts a float tensor (F32, F16, BF16) into out[n_elems]. A NaN or
 * infinite value (also one that overflows fp16 in st_read_f16) is an error
 * naming the tensor and the element index. */
int st_read_f32(const StCheckpoint *ck, const StTensor *t, float *out, IpuErr *e);
int st_read_f16(const StCheckpoint *ck, const StTensor *t, uint16_t *out, IpuErr *e);
/* Elements [first, first + n) of a float tensor as fp32 into out, each
 * rounded to fp16 first when f16 (the values st_read_f16 gives). Unchecked:
 * for a tensor that st_read_f32 (f16: st_read_f16) has accepted. */
void st_window_f32(const StTensor *t, uint64_t first, uint64_t n, int f16, float *out);
/* Drops the mapped pages wholly inside elements [first, first + n) of t
 * from the process (they read back from the file when touched again). */
void st_drop_window(const StTensor *t, uint64_t first, uint64_t n);

/* Writing. data may be NULL: then fill(ctx, index, dst, n_bytes, e) produces
 * the bytes of tensor index (little-endian) into dst. */
typedef struct StWriteTensor {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} StWriteTensor;
typedef int (*StFillFn)(void *ctx, int index, void *dst, uint64_t n_bytes, IpuErr *e);

uint64_t st_write_tensor_bytes(const StWriteTensor *t);
int st_write(const char *path, const StWriteTensor *t, int n, StFillFn fill, void *ctx, IpuErr *e);
/* Writes dir/model.safetensors, or when the total is over max_shard_bytes,
 * dir/model-0000i-of-0000n.safetensors shards (in tensor order, each at most
 * max_shard_bytes unless one tensor is larger) and
 * dir/model.safetensors.index.json. Sets *n_shards (1 for a single file). */
int st_write_model(const char *dir, const StWriteTensor *t, int n, uint64_t max_shard_bytes, StFillFn fill,
                   void *ctx, int *n_shards, IpuErr *e);

#endif
