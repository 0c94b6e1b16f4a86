/* isa_cost.h - the per-instruction cost table of a tile, as data.
 *
 * IsaCosts has one field per instruction in isa_cost.def (worker cycles) and
 * an <id>_enabled flag per what-if instruction. It is part of the arch, so
 * `--set isa.f16v4mul.cycles=2` changes it like any other machine number.
 * This header only describes the table; codelets/isa.h charges from it.
 */
#ifndef IPUSIM_ISA_COST_H
#define IPUSIM_ISA_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct IsaCosts {
#define ISA_COST(id, cycles, doc) uint32_t id;
#define ISA_WHATIF(id, cycles, doc) uint32_t id; bool id##_enabled;
#include "sim/isa_cost.def"
#undef ISA_COST
#undef ISA_WHATIF
} IsaCosts;

/* One row per instruction, for the arch key table and reports. */
typedef struct IsaCostKey {
    const char *id;          /* instruction name, e.g. "f16v4mul" */
    size_t cycles_offset;    /* offsetof(IsaCosts, id) */
    size_t enabled_offset;   /* offsetof(IsaCosts, id_enabled), or SIZE_MAX */
    uint32_t default_cycles;
    const char *doc;
} IsaCostKey;

extern const IsaCostKey isa_cost_keys[];
extern const size_t isa_cost_key_count;

/* Every cost at its default; every what-if instruction disabled. */
void isa_costs_default(IsaCosts *c);

#endif
