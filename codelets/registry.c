/* registry.c - the table of codelet families (see registry.h). */
#include "codelets/registry.h"

#include <stdio.h>
#include <string.h>

#include "codelets/decompress.h"
#include "codelets/kvq.h"
#include "codelets/wdec.h"
/* layer families (codelets2) */
#include "codelets/matmul.h"
#include "codelets/matmul_fp8.h"
#include "codelets/reduce.h"
#include "codelets/layernorm.h"
#include "codelets/layernorm_split.h"
#include "codelets/softmax.h"
#include "codelets/gelu.h"
#include "codelets/rotary.h"
#include "codelets/add.h"
#include "codelets/gather.h"
#include "codelets/argmax.h"

/* One line per family. */
static const CodeletFamily *const families[] = {
    &codelet_family_decompress,
    &codelet_family_dec_s4g,
    &codelet_family_dec_nf4g,
    &codelet_family_dec_nf4dq,
    &codelet_family_dec_i8,
    &codelet_family_dec_fp8e4m3,
    &codelet_family_dec_fp8e5m2,
    &codelet_family_matmul,
    &codelet_family_matmul_fp8,
    &codelet_family_partscale,
    &codelet_family_reduce,
    &codelet_family_layernorm,
    &codelet_family_layernorm_stats,
    &codelet_family_layernorm_combine,
    &codelet_family_layernorm_apply,
    &codelet_family_softmax,
    &codelet_family_gelu,
    &codelet_family_rotary,
    &codelet_family_add,
    &codelet_family_gather,
    &codelet_family_argmax,
    &codelet_family_kvq,
    &codelet_family_kvd,
};

size_t codelet_family_count(void) { return sizeof families / sizeof families[0]; }

const CodeletFamily *codelet_family_at(size_t i)
{
    IPU_ASSERT(i < codelet_family_count());
    return families[i];
}

const CodeletFamily *codelet_family_find(const char *name, IpuErr *err)
{
    char known[256] = "";
    for (size_t i = 0; i < codelet_family_count(); i++) {
        if (name && !strcmp(families[i]->name, name))
            return families[i];
        size_t len = strlen(known);
        snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", families[i]->name);
    }
    ipu_err(err, "unknown codelet family '%s' (known: %s)", name ? name : "(null)", known);
    return NULL;
}

const CodeletVariant *codelet_variant_find(const CodeletFamily *f, const char *name, IpuErr *err)
{
    IPU_ASSERT(f && f->variant_count > 0);
    if (!name)
        return &f->variants[0];
    char known[256] = "";
    for (size_t i = 0; i < f->variant_count; i++) {
        if (!strcmp(f->variants[i].name, name))
            return &f->variants[i];
        size_t len = strlen(known);
        snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", f->variants[i].name);
    }
    ipu_err(err, "unknown variant '%s' of codelet family '%s' (known: %s)", name, f->name, known);
    return NULL;
}
