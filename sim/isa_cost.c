/* isa_cost.c - the instruction cost table built from isa_cost.def. */
#include "sim/isa_cost.h"

const IsaCostKey isa_cost_keys[] = {
#define ISA_COST(id, cycles, doc) {#id, offsetof(IsaCosts, id), SIZE_MAX, cycles, doc},
#define ISA_WHATIF(id, cycles, doc) {#id, offsetof(IsaCosts, id), offsetof(IsaCosts, id##_enabled), cycles, doc},
#include "sim/isa_cost.def"
#undef ISA_COST
#undef ISA_WHATIF
};
const size_t isa_cost_key_count = sizeof isa_cost_keys / sizeof isa_cost_keys[0];

void isa_costs_default(IsaCosts *c)
{
#define ISA_COST(id, cycles, doc) c->id = cycles;
#define ISA_WHATIF(id, cycles, doc) c->id = cycles; c->id##_enabled = false;
#include "sim/isa_cost.def"
#undef ISA_COST
#undef ISA_WHATIF
}
