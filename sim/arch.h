/* arch.h - the numbers of the simulated machine, as data.
 *
 * An IpuArch is a preset (gc2, gc200, bow; systems pod4, pod16) whose every
 * value traces to shared/reference/ipu-figures.md or is a named assumption,
 * optionally changed by a JSON arch file and `key=value` settings. Every key
 * has a type, a unit, a default and a doc line in one table (arch.c); an
 * unknown key, a wrong type or an impossible value is an error naming the key.
 * The ISA cost table (isa_cost.def) is part of the arch: keys isa.<id>.cycles
 * and isa.<id>.enabled.
 *
 * Not here: timing formulas (engine, exchange, stream, links do those).
 */
#ifndef IPUSIM_ARCH_H
#define IPUSIM_ARCH_H

#include <stdint.h>
#include <stdio.h>

#include "sim/err.h"
#include "sim/isa_cost.h"

typedef struct IpuArch {
    char name[32];                     /* preset it started from */
    /* system */
    uint32_t chips;                    /* chips in the system */
    uint32_t chips_per_machine;        /* chips sharing one streaming memory */
    /* chip */
    uint32_t tiles_per_chip;
    uint32_t sram_bytes_per_tile;      /* usable bytes of tile SRAM */
    double clock_hz;                   /* tile clock */
    uint32_t workers_per_tile;         /* barrel worker contexts (6) */
    uint32_t amp_macs_per_cycle_fp16;  /* per tile, fp16 inputs */
    uint32_t amp_macs_per_cycle_fp32;  /* per tile, fp32 inputs */
    /* The exchange, sync, streaming-memory, IPU-Link and host-link fields
     * follow; see arch.c's key table for each one's unit and source. */
    IsaCosts isa;                      /* per-instruction worker cycles */
} IpuArch;

/* Fills out with a named preset; error names the unknown preset and lists them. */
int arch_preset(const char *name, IpuArch *out, IpuErr *err);
/* Sets one key from text, e.g. ("stream.bandwidth_bytes_per_s", "20e9"). */
int arch_set(IpuArch *a, const char *key, const char *value, IpuErr *err);
/* Applies a JSON object of keys (a "preset" key, if present, is applied first). */
int arch_load_file(IpuArch *a, const char *path, IpuErr *err);
/* Checks every value is possible (no 0 tiles, no negative bandwidth, ...). */
int arch_validate(const IpuArch *a, IpuErr *err);

#endif
