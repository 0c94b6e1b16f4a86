/* arch.h - the numbers of the simulated machine, as data.
 *
 * An IpuArch is a preset (gc2, gc200, bow, the fp8 card c600; systems pod4,
 * pod16) whose every
 * value traces to docs/reference/ipu-figures.md or is a named assumption,
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "sim/isa_cost.h"

/* The largest workers_per_tile the arch accepts (arch.c's range): callers
 * may size per-worker arrays by it. */
#define ARCH_MAX_WORKERS_PER_TILE 64

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
    uint32_t amp_macs_per_cycle_fp8;   /* per tile, fp8 weights; 0: the AMP has no fp8 mode (gc2, gc200, bow) */
    /* The exchange, sync, streaming-memory, IPU-Link and host-link fields
     * follow; see arch.c's key table for each one's unit and source. */
    uint32_t supervisor_launch_cycles; /* per tile per compute set, tile cycles */
    uint32_t vertex_launch_cycles;     /* per vertex, on its worker, tile cycles */
    /* exchange (on-chip, BSP) */
    double exchange_bytes_per_cycle;   /* per tile, send and receive each */
    uint32_t exchange_latency_cycles;  /* added once per exchange phase */
    /* sync */
    uint32_t sync_chip_cycles;         /* on-chip BSP sync */
    uint32_t sync_system_cycles;       /* sync across chips */
    /* streaming memory (remote buffers) */
    double stream_bandwidth_bytes_per_s;      /* per machine, shared by its streaming chips */
    double stream_chip_bandwidth_bytes_per_s; /* per chip cap (its link to the gateway) */
    double stream_latency_s;                  /* per StreamCopy step */
    double stream_capacity_bytes;             /* per machine */
    uint32_t io_tiles;                 /* tiles reserved for streaming; >0 allows overlap */
    /* IPU-Links */
    uint32_t link_count;               /* per chip */
    double link_bandwidth_bytes_per_s; /* per link, per direction */
    double link_efficiency;            /* fraction of link bandwidth achieved */
    uint32_t link_ring_links;          /* parallel links one ring uses to its neighbour */
    uint32_t link_latency_cycles;      /* per ring step */
    /* host */
    double host_link_bytes_per_s;      /* host <-> system */
    IsaCosts isa;                      /* per-instruction worker cycles */
    /* rule keys set explicitly no longer follow their rule */
    bool sync_system_is_set, link_latency_is_set;
} IpuArch;

/* Fills out with a named preset; error names the unknown preset and lists them. */
int arch_preset(const char *name, IpuArch *out, IpuErr *err);
/* Sets one key from text, e.g. ("stream.bandwidth_bytes_per_s", "20e9"). */
int arch_set(IpuArch *a, const char *key, const char *value, IpuErr *err);
/* Applies a JSON object of keys (a "preset" key, if present, is applied
 * first). The file is read as fileio_read reads config files: a regular
 * file of at most FILEIO_CONFIG_MAX_BYTES. */
int arch_load_file(IpuArch *a, const char *path, IpuErr *err);
/* The same file's entries, one call each: ("preset", name) first when the
 * file names one, then every key with its value as text (a number in the
 * shortest decimal that reads back the same, or true / false). Type errors
 * (a bool where a number is due, or the reverse), unknown keys and a
 * non-object file are errors naming the file and key; an error of fn (which
 * stops the walk) is returned as fn wrote it. */
typedef int (*ArchFileFn)(void *ctx, const char *key, const char *value, IpuErr *err);
int arch_file_each(const char *path, ArchFileFn fn, void *ctx, IpuErr *err);
/* Checks every value is possible (no 0 tiles, no negative bandwidth, ...). */
int arch_validate(const IpuArch *a, IpuErr *err);

/* Names of the presets, NULL-terminated, for listings. */
extern const char *const arch_preset_names[];
/* One line per preset: what it is. Same order as arch_preset_names. */
extern const char *const arch_preset_docs[];

/* One key, resolved for printing: value as text, unit and doc line. The
 * key list is the table's rows then isa.<id>.cycles / isa.<id>.enabled. */
typedef struct ArchKeyInfo {
    char name[64];
    char value[48];
    const char *type;   /* "int", "float", "bool" */
    const char *unit;
    const char *doc;    /* with its source or "assumption: ..." */
} ArchKeyInfo;

size_t arch_key_count(void);
/* Fills out for key i < arch_key_count(). */
void arch_key_at(const IpuArch *a, size_t i, ArchKeyInfo *out);
/* Writes every key "name = value unit  # doc", one per line. */
void arch_print(FILE *f, const IpuArch *a);

/* Global tile id helpers: global = chip * tiles_per_chip + tile. */
static inline uint32_t arch_total_tiles(const IpuArch *a) { return a->chips * a->tiles_per_chip; }
static inline uint32_t arch_machines(const IpuArch *a) { return a->chips / a->chips_per_machine; }

#endif
