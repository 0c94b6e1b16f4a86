/* st_check.h - the invariants of an accepted safetensors checkpoint, shared
 * by fuzz_safetensors.c and fuzz_safetensors_sharded.c. */
#ifndef IPUSIM_FUZZ_ST_CHECK_H
#define IPUSIM_FUZZ_ST_CHECK_H

#include "models/safetensors.h"
#include "tests/fuzz/fuzz.h"

/* Every tensor lies inside its file's data area with the bytes its dtype and
 * shape need; names are sorted and unique; st_find finds each; float tensors
 * convert or fail with an error naming them; and the tensors written back
 * with st_write reopen as the same names, dtypes, shapes and bytes. */
static inline void st_check_accepted(const StCheckpoint *ck)
{
    uint64_t total = 0;
    for (int i = 0; i < ck->n_tensors; i++) {
        const StTensor *t = &ck->tensors[i];
        FUZZ_CHECK(t->file >= 0 && t->file < ck->n_files, "tensor %d: file %d of %d", i, t->file, ck->n_files);
        const StFile *f = &ck->files[t->file];
        const unsigned char *base = f->map;
        FUZZ_CHECK(t->data >= base + 8 && t->data + t->n_bytes <= base + f->map_bytes,
                   "tensor '%s' outside its file", t->name);
        uint64_t n = 1;
        for (int d = 0; d < t->ndim; d++)
            n *= (uint64_t)t->shape[d];
        FUZZ_CHECK(n == t->n_elems && t->n_bytes == n * st_dtype_bytes(t->dtype), "tensor '%s': size", t->name);
        FUZZ_CHECK(i == 0 || strcmp(ck->tensors[i - 1].name, t->name) < 0, "names not sorted and unique at %d", i);
        FUZZ_CHECK(st_find(ck, t->name) == t, "st_find('%s')", t->name);
        if ((t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16) && t->n_elems <= (1u << 16)) {
            float *out = malloc((size_t)t->n_elems * sizeof *out + 1);
            IpuErr e = {{0}};
            if (st_read_f32(ck, t, out, &e))
                FUZZ_CHECK(strstr(e.msg, t->name) != NULL, "conversion error lacks the tensor name: %s", e.msg);
            free(out);
        }
        total += t->n_bytes;
    }
    FUZZ_CHECK(st_find(ck, "\x01 no such tensor") == NULL, "st_find of a missing name");
    if (total > (1u << 20))
        return;
    StWriteTensor *w = calloc((size_t)ck->n_tensors + 1, sizeof *w);
    FUZZ_CHECK(w != NULL, "out of memory");
    for (int i = 0; i < ck->n_tensors; i++) {
        const StTensor *t = &ck->tensors[i];
        w[i].name = t->name;
        w[i].dtype = t->dtype;
        w[i].ndim = t->ndim;
        memcpy(w[i].shape, t->shape, sizeof t->shape);
        w[i].data = t->data;
    }
    IpuErr e = {{0}};
    const char *p = fuzz_path("roundtrip.safetensors");
    FUZZ_CHECK(st_write(p, w, ck->n_tensors, NULL, NULL, &e) == 0, "write back: %s", e.msg);
    free(w);
    StCheckpoint *back = st_open(p, &e);
    FUZZ_CHECK(back != NULL, "written checkpoint does not reopen: %s", e.msg);
    FUZZ_CHECK(back->n_tensors == ck->n_tensors, "%d tensors reopened, %d written", back->n_tensors, ck->n_tensors);
    for (int i = 0; i < ck->n_tensors; i++) {
        const StTensor *a = &ck->tensors[i], *b = &back->tensors[i];
        FUZZ_CHECK(!strcmp(a->name, b->name) && a->dtype == b->dtype && a->ndim == b->ndim &&
                       !memcmp(a->shape, b->shape, sizeof a->shape) && a->n_bytes == b->n_bytes &&
                       (a->n_bytes == 0 || !memcmp(a->data, b->data, a->n_bytes)),
                   "tensor '%s' changed in the round trip", a->name);
    }
    st_close(back);
    unlink(p);
}

#endif
