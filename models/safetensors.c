/* safetensors.c - validated, memory-mapped safetensors reader and an atomic
 * writer (see safetensors.h). */
#include "models/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/fp16.h"

static const char *const dtype_names[ST_DTYPE_COUNT] = {
    "BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64",
};
static const unsigned dtype_bytes[ST_DTYPE_COUNT] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};

const char *st_dtype_name(StDtype d) { return (unsigned)d < ST_DTYPE_COUNT ? dtype_names[d] : "?"; }
unsigned st_dtype_bytes(StDtype d) { return (unsigned)d < ST_DTYPE_COUNT ? dtype_bytes[d] : 0; }

int st_dtype_parse(const char *s)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (!strcmp(dtype_names[i], s))
            return i;
    return -1;
}

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp(((const StTensor *)a)->name, ((const StTensor *)b)->name);
}

static int cmp_by_offset(const void *a, const void *b)
{
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

void st_close(StCheckpoint *ck)
{
    if (!ck)
        return;
    for (int i = 0; i < ck->n_files; i++) {
        if (ck->files[i].map)
            munmap(ck->files[i].map, ck->files[i].map_bytes);
        free(ck->files[i].path);
    }
    for (int i = 0; i < ck->n_tensors; i++)
        free(ck->tensors[i].name);
    free(ck->files);
    free(ck->tensors);
    free(ck->source);
    free(ck);
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_u64(const cJSON *it, uint64_t *out)
{
    if (!cJSON_IsNumber(it))
        return -1;
    double v = it->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != floor(v))
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Parses one header entry into t (all but name, data and file) and the begin
 * offset of its bytes within the data area. */
static int parse_entry(const char *path, const char *name, const cJSON *ent, uint64_t data_bytes, StTensor *t,
                       uint64_t *begin, IpuErr *e)
{
    if (!cJSON_IsObject(ent))
        return ipu_err(e, "%s: tensor '%s': header entry is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(ent, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(ent, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(ent, "data_offsets");
    if (!cJSON_IsString(dt))
        return ipu_err(e, "%s: tensor '%s': missing or non-string dtype", path, name);
    int d = st_dtype_parse(dt->valuestring);
    if (d < 0)
        return ipu_err(e, "%s: tensor '%s': unknown dtype '%s'", path, name, dt->valuestring);
    t->dtype = (StDtype)d;
    if (!cJSON_IsArray(sh))
        return ipu_err(e, "%s: tensor '%s': missing or non-array shape", path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return ipu_err(e, "%s: tensor '%s': %d dimensions, at most %d supported", path, name, nd, ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t n = 1;
    int overflow = 0;
    for (int i = 0; i < nd; i++) {
        uint64_t v;
        if (json_u64(cJSON_GetArrayItem(sh, i), &v) || v > INT64_MAX)
            return ipu_err(e, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, i);
        t->shape[i] = (int64_t)v;
        if (v && n > UINT64_MAX / v)
            overflow = 1;
        n *= v;
    }
    unsigned eb = st_dtype_bytes(t->dtype);
    if (overflow || n > UINT64_MAX / eb)
        return ipu_err(e, "%s: tensor '%s': size of shape overflows 64 bits", path, name);
    t->n_elems = n;
    t->n_bytes = n * eb;
    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || json_u64(cJSON_GetArrayItem(off, 0), &b) ||
        json_u64(cJSON_GetArrayItem(off, 1), &en))
        return ipu_err(e, "%s: tensor '%s': data_offsets must be two non-negative integers", path, name);
    if (en < b)
        return ipu_err(e, "%s: tensor '%s': data_offsets end %llu before begin %llu", path, name,
                       (unsigned long long)en, (unsigned long long)b);
    if (en > data_bytes)
        return ipu_err(e, "%s: tensor '%s': data_offsets [%llu, %llu] past the end of the data area (%llu bytes)",
                       path, name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_bytes);
    if (en - b != t->n_bytes)
        return ipu_err(e, "%s: tensor '%s': data_offsets span %llu bytes but dtype %s x shape needs %llu", path,
                       name, (unsigned long long)(en - b), st_dtype_name(t->dtype),
                       (unsigned long long)t->n_bytes);
    *begin = b;
    return 0;
}

/* Maps path (a regular file) into f and checks its header length: 0 with
 * *hlen set, or -1 (f->map is set once mapped, for st_close to unmap). */
static int map_file(StFile *f, const char *path, uint64_t *hlen, IpuErr *e)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return ipu_err(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ipu_err(e, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        close(fd);
        return ipu_err(e, "%s: truncated: %llu bytes, shorter than the 8-byte header length", path,
                       (unsigned long long)size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return ipu_err(e, "%s: cannot map: %s", path, strerror(errno));
    f->map = map;
    f->map_bytes = size;
    const unsigned char *base = map;
    *hlen = 0;
    for (int i = 7; i >= 0; i--) /* little-endian u64 */
        *hlen = (*hlen << 8) | base[i];
    if (*hlen > size - 8)
        return ipu_err(e, "%s: header length %llu past the end of the file (%llu bytes)", path,
                       (unsigned long long)*hlen, (unsigned long long)size);
    if (*hlen < 2 || *hlen > ST_MAX_HEADER_BYTES)
        return ipu_err(e, "%s: header length %llu not in 2..%u", path, (unsigned long long)*hlen,
                       ST_MAX_HEADER_BYTES);
    return 0;
}

/* Appends the tensors of file fi's parsed header root to ck (the data area:
 * data_bytes at data). */
static int add_entries(StCheckpoint *ck, int fi, const cJSON *root, const unsigned char *data, uint64_t data_bytes,
                       IpuErr *e)
{
    const char *path = ck->files[fi].path;
    StTensor *nt = realloc(ck->tensors, (size_t)(ck->n_tensors + cJSON_GetArraySize(root) + 1) * sizeof *nt);
    if (!nt)
        return ipu_err(e, "%s: out of memory", path);
    ck->tensors = nt;
    for (const cJSON *ent = root->child; ent; ent = ent->next) {
        if (!strcmp(ent->string, "__metadata__")) {
            if (!cJSON_IsObject(ent))
                return ipu_err(e, "%s: __metadata__ is not an object", path);
            continue;
        }
        StTensor *t = &ck->tensors[ck->n_tensors];
        memset(t, 0, sizeof *t);
        uint64_t begin = 0;
        if (parse_entry(path, ent->string, ent, data_bytes, t, &begin, e))
            return -1;
        t->name = strdup(ent->string);
        if (!t->name)
            return ipu_err(e, "%s: out of memory", path);
        t->data = data + begin;
        t->file = fi;
        ck->n_tensors++;
    }
    return 0;
}

/* No two of ck's tensors first.. (one file's) share a data byte: sorted by
 * begin offset, each starts at or after the previous one's end. */
static int check_overlap(const StCheckpoint *ck, int first, const char *path, IpuErr *e)
{
    int nthis = ck->n_tensors - first, rc = 0;
    const StTensor **order = malloc((size_t)(nthis ? nthis : 1) * sizeof *order);
    if (!order)
        return ipu_err(e, "%s: out of memory", path);
    for (int i = 0; i < nthis; i++)
        order[i] = &ck->tensors[first + i];
    qsort(order, (size_t)nthis, sizeof *order, cmp_by_offset);
    const StTensor *prev = NULL;
    for (int i = 0; i < nthis; i++) {
        const StTensor *t = order[i];
        if (!t->n_bytes)
            continue;
        if (prev && t->data < prev->data + prev->n_bytes) {
            rc = ipu_err(e, "%s: tensors '%s' and '%s' overlap in the data area", path, prev->name, t->name);
            break;
        }
        prev = t;
    }
    free(order);
    return rc;
}

/* Maps and validates one file, appending its tensors to ck. */
static int open_file(StCheckpoint *ck, const char *path, IpuErr *e)
{
    StFile *nf = realloc(ck->files, (size_t)(ck->n_files + 1) * sizeof *nf);
    if (!nf)
        return ipu_err(e, "%s: out of memory", path);
    ck->files = nf;
    StFile *f = &ck->files[ck->n_files++];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path)
        return ipu_err(e, "%s: out of memory", path);
    uint64_t hlen = 0;
    if (map_file(f, path, &hlen, e))
        return -1;
    const unsigned char *base = f->map;
    cJSON *root = cJSON_ParseWithLength((const char *)base + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ipu_err(e, "%s: header is not valid JSON", path);
    }
    int first = ck->n_tensors;
    int rc = add_entries(ck, ck->n_files - 1, root, base + 8 + hlen, f->map_bytes - 8 - hlen, e);
    cJSON_Delete(root);
    return rc ? rc : check_overlap(ck, first, path, e);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Sharded: opens every shard named by weight_map and checks the map agrees
 * with the shards' contents. */
static int open_index(StCheckpoint *ck, const char *index_path, IpuErr *e)
{
    char *text;
    if (fileio_read(index_path, "checkpoint index", ST_MAX_HEADER_BYTES, &text, NULL, e))
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!root || !cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return ipu_err(e, "%s: not valid JSON with a \"weight_map\" object", index_path);
    }
    if (!wm->child) {
        cJSON_Delete(root);
        return ipu_err(e, "%s: \"weight_map\" lists no tensors", index_path);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", index_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    int rc = 0;
    for (const cJSON *ent = wm->child; ent && !rc; ent = ent->next) {
        if (!cJSON_IsString(ent)) {
            rc = ipu_err(e, "%s: weight_map entry '%s' is not a file name", index_path, ent->string);
            break;
        }
        const char *shard = ent->valuestring;
        if (strchr(shard, '/') || !strcmp(shard, "..") || !ends_with(shard, ".safetensors")) {
            rc = ipu_err(e, "%s: weight_map entry '%s': shard name '%s' must be a .safetensors file in the same directory",
                         index_path, ent->string, shard);
            break;
        }
        char full[8192];
        snprintf(full, sizeof full, "%s%s", dir, shard);
        int known = 0;
        for (int i = 0; i < ck->n_files; i++)
            known |= !strcmp(ck->files[i].path, full);
        if (!known)
            rc = open_file(ck, full, e);
    }
    if (!rc) { /* every tensor in the map lives in the shard it names, and vice versa */
        for (int i = 0; i < ck->n_tensors && !rc; i++) {
            const StTensor *t = &ck->tensors[i];
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(wm, t->name);
            const char *fname = strrchr(ck->files[t->file].path, '/');
            fname = fname ? fname + 1 : ck->files[t->file].path;
            if (!m || strcmp(m->valuestring, fname) != 0)
                rc = ipu_err(e, "%s: tensor '%s' in shard %s is not mapped to that shard by weight_map", index_path,
                             t->name, fname);
        }
        int listed = cJSON_GetArraySize(wm);
        if (!rc && listed != ck->n_tensors) /* more names in the map than in the shards */
            for (const cJSON *ent = wm->child; ent && !rc; ent = ent->next) {
                int found = 0;
                for (int i = 0; i < ck->n_tensors && !found; i++)
                    found = !strcmp(ck->tensors[i].name, ent->string);
                if (!found)
                    rc = ipu_err(e, "%s: tensor '%s' listed in weight_map is missing from shard %s", index_path,
                                 ent->string, ent->valuestring);
            }
    }
    cJSON_Delete(root);
    return rc;
}

StCheckpoint *st_open(const char *path, IpuErr *e)
{
    StCheckpoint *ck = calloc(1, sizeof *ck);
    if (!ck) {
        ipu_err(e, "%s: out of memory", path);
        return NULL;
    }
    struct stat st;
    int rc;
    ck->source = strdup(path);
    if (!ck->source) {
        rc = ipu_err(e, "%s: out of memory", path);
    } else if (stat(path, &st) != 0) {
        rc = ipu_err(e, "%s: cannot open: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        char p[4200];
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", path);
        if (access(p, R_OK) == 0) {
            rc = open_index(ck, p, e);
        } else {
            snprintf(p, sizeof p, "%s/model.safetensors", path);
            rc = open_file(ck, p, e);
        }
    } else if (ends_with(path, ".json")) {
        rc = open_index(ck, path, e);
    } else {
        rc = open_file(ck, path, e);
    }
    if (!rc && ck->n_tensors > 1) {
        qsort(ck->tensors, (size_t)ck->n_tensors, sizeof *ck->tensors, cmp_tensor);
        for (int i = 1; i < ck->n_tensors && !rc; i++)
            if (!strcmp(ck->tensors[i].name, ck->tensors[i - 1].name))
                rc = ipu_err(e, "%s: tensor '%s' defined twice (in %s and %s)", path, ck->tensors[i].name,
                             ck->files[ck->tensors[i - 1].file].path, ck->files[ck->tensors[i].file].path);
    }
    if (rc) {
        st_close(ck);
        return NULL;
    }
    return ck;
}

const StTensor *st_find(const StCheckpoint *ck, const char *name)
{
    if (ck->n_tensors == 0) /* bsearch wants a table, even for zero elements */
        return NULL;
    StTensor key;
    key.name = (char *)name;
    return bsearch(&key, ck->tensors, (size_t)ck->n_tensors, sizeof key, cmp_tensor);
}

const char *st_tensor_file(const StCheckpoint *ck, const StTensor *t) { return ck->files[t->file].path; }

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

const StTensor *st_expect(const StCheckpoint *ck, const char *name, int ndim, const int64_t *shape, IpuErr *e)
{
    const StTensor *t = st_find(ck, name);
    if (!t) {
        ipu_err(e, "%s: required tensor '%s' missing", ck->source, name);
        return NULL;
    }
    const char *path = st_tensor_file(ck, t);
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        ipu_err(e, "%s: tensor '%s': dtype %s, expected F32, F16 or BF16", path, name, st_dtype_name(t->dtype));
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char got[128], want[128];
        shape_str(got, sizeof got, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, shape);
        ipu_err(e, "%s: tensor '%s': shape %s, expected %s", path, name, got, want);
        return NULL;
    }
    return t;
}

static float elem_f32(const StTensor *t, uint64_t i)
{
    const unsigned char *p = t->data + i * st_dtype_bytes(t->dtype);
    if (t->dtype == ST_F32) {
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        return fp16_bits_f32(u);
    }
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    return t->dtype == ST_F16 ? fp16_to_f32(h) : fp16_bits_f32((uint32_t)h << 16);
}

/* Once a tensor is converted its file pages are not needed again: dropping
 * them keeps resident memory at the converted weights instead of weights +
 * mapped file (the pages would be reclaimable, but they inflate RSS). Only
 * whole pages inside the tensor go, so neighbours are untouched. */
void st_drop_window(const StTensor *t, uint64_t first, uint64_t n)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), esz = st_dtype_bytes(t->dtype);
    uintptr_t b = ((uintptr_t)(t->data + first * esz) + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)(t->data + (first + n) * esz)) & ~(page - 1);
    if (end > b)
        madvise((void *)b, end - b, MADV_DONTNEED);
}

static void drop_pages(const StTensor *t) { st_drop_window(t, 0, t->n_elems); }

void st_window_f32(const StTensor *t, uint64_t first, uint64_t n, int f16, float *out)
{
    IPU_ASSERT(first + n <= t->n_elems);
    if (t->dtype == ST_F16) { /* fp16 already: f16 changes nothing */
        const unsigned char *p = t->data + 2 * first;
        for (uint64_t i = 0; i < n; i++)
            out[i] = fp16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return;
    }
    for (uint64_t i = 0; i < n; i++) {
        float v = elem_f32(t, first + i);
        out[i] = f16 ? fp16_to_f32(fp16_from_f32(v)) : v;
    }
}

static int check_float(const StCheckpoint *ck, const StTensor *t, IpuErr *e)
{
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return ipu_err(e, "%s: tensor '%s': dtype %s cannot convert to float (F32, F16, BF16 only)",
                       st_tensor_file(ck, t), t->name, st_dtype_name(t->dtype));
    return 0;
}

int st_read_f32(const StCheckpoint *ck, const StTensor *t, float *out, IpuErr *e)
{
    if (check_float(ck, t, e))
        return -1;
    for (uint64_t i = 0; i < t->n_elems; i++) {
        float v = elem_f32(t, i);
        if (!isfinite(v))
            return ipu_err(e, "%s: tensor '%s': non-finite value %g at index %llu", st_tensor_file(ck, t), t->name,
                           (double)v, (unsigned long long)i);
        out[i] = v;
    }
    drop_pages(t);
    return 0;
}

int st_read_f16(const StCheckpoint *ck, const StTensor *t, uint16_t *out, IpuErr *e)
{
    if (check_float(ck, t, e))
        return -1;
    if (t->dtype == ST_F16) { /* same format: copy the bits, check each is finite */
        for (uint64_t i = 0; i < t->n_elems; i++) {
            uint16_t h = (uint16_t)(t->data[2 * i] | t->data[2 * i + 1] << 8);
            if (!fp16_isfinite(h))
                return ipu_err(e, "%s: tensor '%s': value %g at index %llu is non-finite", st_tensor_file(ck, t),
                               t->name, (double)fp16_to_f32(h), (unsigned long long)i);
            out[i] = h;
        }
        drop_pages(t);
        return 0;
    }
    for (uint64_t i = 0; i < t->n_elems; i++) {
        float v = elem_f32(t, i);
        uint16_t h = fp16_from_f32(v);
        if (!fp16_isfinite(h))
            return ipu_err(e, "%s: tensor '%s': value %g at index %llu is %s in fp16", st_tensor_file(ck, t),
                           t->name, (double)v, (unsigned long long)i, isfinite(v) ? "out of range" : "non-finite");
        out[i] = h;
    }
    drop_pages(t);
    return 0;
}

/* ---- writing ---- */

uint64_t st_write_tensor_bytes(const StWriteTensor *t)
{
    uint64_t n = st_dtype_bytes(t->dtype);
    for (int i = 0; i < t->ndim; i++)
        n *= (uint64_t)t->shape[i];
    return n;
}

static char *header_json(const StWriteTensor *t, int n, IpuErr *e)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *ent = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(ent, "dtype", st_dtype_name(t[i].dtype));
        cJSON *sh = cJSON_AddArrayToObject(ent, "shape");
        for (int d = 0; d < t[i].ndim; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
        uint64_t len = st_write_tensor_bytes(&t[i]);
        cJSON *o = cJSON_AddArrayToObject(ent, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + len)));
        off += len;
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s)
        ipu_err(e, "out of memory building a safetensors header");
    return s;
}

int st_write(const char *path, const StWriteTensor *t, int n, StFillFn fill, void *ctx, IpuErr *e)
{
    char *hdr = header_json(t, n, e);
    if (!hdr)
        return -1;
    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7; /* data area 8-byte aligned */
    FileioFile af;
    if (fileio_file_open(&af, path, e)) {
        free(hdr);
        return -1;
    }
    FILE *f = af.f;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int bad = fwrite(lenb, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen;
    for (size_t i = hlen; i < padded && !bad; i++)
        bad = fputc(' ', f) == EOF;
    free(hdr);
    for (int i = 0; i < n && !bad; i++) {
        uint64_t len = st_write_tensor_bytes(&t[i]);
        if (t[i].data) {
            bad = fwrite(t[i].data, 1, (size_t)len, f) != len;
            continue;
        }
        void *buf = malloc(len ? (size_t)len : 1);
        if (!buf) {
            fileio_file_abort(&af);
            return ipu_err(e, "%s: out of memory for tensor '%s' (%llu bytes)", path, t[i].name,
                           (unsigned long long)len);
        }
        if (fill(ctx, i, buf, len, e)) {
            free(buf);
            fileio_file_abort(&af);
            return ipu_err_prefix(e, "%s: tensor '%s'", path, t[i].name);
        }
        bad = fwrite(buf, 1, (size_t)len, f) != len;
        free(buf);
    }
    if (bad) {
        int er = errno;
        fileio_file_abort(&af);
        return ipu_err(e, "'%s': write error: %s", path, strerror(er));
    }
    return fileio_file_commit(&af, e);
}

typedef struct ShardCtx {
    StFillFn fill;
    void *ctx;
    int first;
} ShardCtx;

static int shard_fill(void *c, int index, void *dst, uint64_t n_bytes, IpuErr *e)
{
    ShardCtx *s = c;
    return s->fill(s->ctx, s->first + index, dst, n_bytes, e);
}

int st_write_model(const char *dir, const StWriteTensor *t, int n, uint64_t max_shard_bytes, StFillFn fill,
                   void *ctx, int *n_shards, IpuErr *e)
{
    char path[4200];
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += st_write_tensor_bytes(&t[i]);
    if (total <= max_shard_bytes) {
        *n_shards = 1;
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        return st_write(path, t, n, fill, ctx, e);
    }
    /* shard k holds tensors [start[k], start[k+1]) */
    int *start = malloc((size_t)(n + 2) * sizeof *start);
    if (!start)
        return ipu_err(e, "%s: out of memory", dir);
    int ns = 0;
    uint64_t cur = 0;
    for (int i = 0; i < n; i++) {
        uint64_t len = st_write_tensor_bytes(&t[i]);
        if (i == 0 || (cur + len > max_shard_bytes && cur > 0)) {
            start[ns++] = i;
            cur = 0;
        }
        cur += len;
    }
    start[ns] = n;
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
    cJSON_AddNumberToObject(meta, "total_size", (double)total);
    cJSON *wm = cJSON_AddObjectToObject(root, "weight_map");
    int rc = 0;
    for (int k = 0; k < ns && !rc; k++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k + 1, ns);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        ShardCtx sc = {fill, ctx, start[k]};
        rc = st_write(path, t + start[k], start[k + 1] - start[k], fill ? shard_fill : NULL, &sc, e);
        for (int i = start[k]; i < start[k + 1] && !rc; i++)
            cJSON_AddStringToObject(wm, t[i].name, name);
    }
    free(start);
    char *s = rc ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    rc = s ? fileio_write(path, s, strlen(s), e) : ipu_err(e, "%s: out of memory", path);
    cJSON_free(s);
    if (rc)
        return -1;
    *n_shards = ns;
    return 0;
}
