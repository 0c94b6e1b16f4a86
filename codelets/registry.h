/* registry.h - the codelet families and their variants, by name.
 *
 * A family (decompress, matmul, layernorm, ...) is one kind of vertex with
 * one or more interchangeable variants: same args struct, same results (bit
 * for bit, where the family promises it), different code and cycles. The
 * lowering and `ipusim codelet ...` pick a variant by name here.
 *
 * Adding a family: define a `const CodeletFamily codelet_family_<name>` in
 * its codelet file, declare it in its header, and add one line to the table
 * in registry.c.
 *
 * Not here: validating or benchmarking a variant (that is the family's own
 * harness, e.g. codelets/decompress_validate.h).
 */
#ifndef IPUSIM_CODELET_REGISTRY_H
#define IPUSIM_CODELET_REGISTRY_H

#include <stddef.h>

#include "base/err.h"
#include "sim/vertex.h"

typedef struct CodeletVariant {
    const char *name;          /* e.g. "fused" */
    const char *doc;           /* one line */
    const VertexType *vertex;
} CodeletVariant;

typedef struct CodeletFamily {
    const char *name;          /* e.g. "decompress" */
    const char *doc;           /* one line */
    const CodeletVariant *variants; /* the first is the default */
    size_t variant_count;
} CodeletFamily;

size_t codelet_family_count(void);
/* i < codelet_family_count(). */
const CodeletFamily *codelet_family_at(size_t i);
/* NULL and an error listing the families if name is unknown. */
const CodeletFamily *codelet_family_find(const char *name, IpuErr *err);
/* name NULL gives the default (first) variant; an unknown name is an error
 * listing the family's variants. */
const CodeletVariant *codelet_variant_find(const CodeletFamily *f, const char *name, IpuErr *err);

#endif
