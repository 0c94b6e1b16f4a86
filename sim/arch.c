/* arch.c - the arch key table, the presets and the arch file reader.
 *
 * One table (keys[]) drives everything: presets read their defaults from it,
 * arch_set parses by its type, arch_validate checks its bounds, arch_print
 * and the CLI print its unit and doc. "ref:" in a doc names the row of
 * docs/reference/ipu-figures.md the value comes from (the published source is
 * cited there); "assumption:" marks
 * a value no public source gives, with the reasoning.
 */
#include "sim/arch.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/fileio.h"

typedef enum { KEY_U32, KEY_F64, KEY_BOOL } KeyType;

enum { GEN_GC2, GEN_GC200, GEN_BOW, GEN_COUNT };

typedef struct ArchKey {
    const char *name;
    KeyType type;
    size_t offset;
    const char *unit;
    double def[GEN_COUNT]; /* default per chip generation; NAN = rule below */
    double min, max;       /* valid range, inclusive */
    const char *doc;
} ArchKey;

#define F(field) offsetof(IpuArch, field)
#define RULE NAN

static const ArchKey keys[] = {
    {"chips", KEY_U32, F(chips), "chips", {1, 1, 1}, 1, 1024,
     "chips in the system (systems pod4/pod16 set 4/16); ref: docs/reference/ipu-figures.md 'streaming memory capacity' row (IPU-M2000 / Bow-2000 datasheets: 4 IPUs per machine)"},
    {"chips_per_machine", KEY_U32, F(chips_per_machine), "chips", {1, 1, 1}, 1, 64,
     "chips sharing one machine's streaming memory; ref: docs/reference/ipu-figures.md 'streaming memory capacity' row, 4 IPUs per IPU-Machine"},
    {"tiles_per_chip", KEY_U32, F(tiles_per_chip), "tiles", {1216, 1472, 1472}, 1, 1u << 20,
     "ref: docs/reference/ipu-figures.md 'tiles per chip' row (Jia et al. 2019; Programmer's Guide)"},
    {"sram_bytes_per_tile", KEY_U32, F(sram_bytes_per_tile), "bytes", {262144, 638976, 638976}, 64, 1u << 30,
     "usable tile SRAM; ref: docs/reference/ipu-figures.md 'SRAM per tile' row (Mk1 256 KiB; Mk2/Bow 638,976 B usable)"},
    {"clock_hz", KEY_F64, F(clock_hz), "Hz", {1.6e9, 1.33e9, 1.85e9}, 1e6, 1e11,
     "tile clock; ref: docs/reference/ipu-figures.md 'clock' row (Mk1 derived from 31.1 TFLOPS, Mk2 ~1.33 GHz derived from 250 TFLOPS, Bow device-reported); c600 1.486 GHz derived from its 280 TFLOPS fp16 (docs/reference/weight-formats-sources.md 'Graphcore C600')"},
    {"workers_per_tile", KEY_U32, F(workers_per_tile), "workers", {6, 6, 6}, 1, ARCH_MAX_WORKERS_PER_TILE,
     "barrel worker contexts; ref: docs/reference/ipu-figures.md 'worker contexts per tile' and 'issue model' rows"},
    {"amp_macs_per_cycle_fp16", KEY_U32, F(amp_macs_per_cycle_fp16), "MAC/cycle", {32, 64, 64}, 1, 4096,
     "per tile, fp16 inputs; ref: docs/reference/ipu-figures.md 'MACs per cycle per tile, fp16' row (derived)"},
    {"amp_macs_per_cycle_fp32", KEY_U32, F(amp_macs_per_cycle_fp32), "MAC/cycle", {8, 16, 16}, 1, 4096,
     "per tile, fp32 inputs; ref: docs/reference/ipu-figures.md 'MACs per cycle per tile, fp32' row (derived)"},
    {"amp_macs_per_cycle_fp8", KEY_U32, F(amp_macs_per_cycle_fp8), "MAC/cycle", {0, 0, 0}, 0, 4096,
     "per tile, fp8 weights straight into the AMP; 0 = no fp8 mode (gc2, gc200, bow: fp8 weights are widened to fp16 "
     "on the tiles); c600 128, derived: 560 TFLOPS fp8 = 2 x its 280 fp16 (docs/reference/weight-formats-sources.md "
     "'Graphcore C600')"},
    {"supervisor_launch_cycles", KEY_U32, F(supervisor_launch_cycles), "cycles", {30, 30, 30}, 0, 1u << 20,
     "per tile per compute set; assumption: the supervisor's entry, vertex-list walk setup and exit, ~5 supervisor issues of 6 cycles (no public figure)"},
    {"vertex_launch_cycles", KEY_U32, F(vertex_launch_cycles), "cycles", {12, 12, 12}, 0, 1u << 20,
     "per vertex, on the worker that runs it; assumption: the supervisor's run instruction plus loading the vertex state pointer, 2 issues of 6 cycles"},
    {"exchange.bytes_per_cycle", KEY_F64, F(exchange_bytes_per_cycle), "bytes/cycle", {4, 4, 4}, 1e-3, 1e6,
     "per tile, send and receive each; ref: docs/reference/ipu-figures.md 'exchange bandwidth per tile' row (IPUModel exchangeBytesPerCycle = 4)"},
    {"exchange.latency_cycles", KEY_U32, F(exchange_latency_cycles), "cycles", {60, 60, 60}, 0, 1u << 24,
     "once per exchange phase; assumption: tile-to-tile distance across the column layout (ref: docs/reference/ipu-figures.md 'on-chip exchange under congestion' row) puts it at tens of cycles; 60 chosen, no public figure"},
    {"sync.chip_cycles", KEY_U32, F(sync_chip_cycles), "cycles", {90, 90, 90}, 0, 1u << 24,
     "on-chip BSP sync; ref: docs/reference/ipu-figures.md 'sync latency' row (poplibs planner assumes 90 cycles) - a proxy, not an official figure"},
    {"sync.system_cycles", KEY_U32, F(sync_system_cycles), "cycles", {RULE, RULE, RULE}, 0, 1u << 24,
     "sync across chips; rule: sync.chip_cycles + 2 x 15 ns at clock_hz; ref: docs/reference/ipu-figures.md 'sync latency' row (poplibs test model 15 ns per hop x 2)"},
    {"stream.bandwidth_bytes_per_s", KEY_F64, F(stream_bandwidth_bytes_per_s), "bytes/s", {16e9, 21.6517e9, 21.6517e9}, 1, 1e15,
     "per machine, shared by its chips streaming at once; no official figure (docs/reference/ipu-figures.md 'streaming memory bandwidth' row); calibrated: `ipusim calibrate --scenario scenarios/graphcore-mnli.conf --target-ms 61.9` fits 2.16517e10 on docs/reference/gptj-on-ipu.md's one fp16 point (docs/validation.md), within the row's 16-107 GB/s; bow assumption: the same gateway as gc200; gc2 assumption: one chip on PCIe Gen4 x8, 16 GB/s; c600 assumption: remote buffers in host memory over the card's PCIe Gen4 x8, 16 GB/s"},
    {"stream.chip_bandwidth_bytes_per_s", KEY_F64, F(stream_chip_bandwidth_bytes_per_s), "bytes/s", {16e9, 16e9, 16e9}, 1, 1e15,
     "per chip cap; assumption: PCIe Gen4 x8 per IPU (docs/reference/ipu-figures.md 'streaming memory path' row) = 16 GT/s x 8 lanes ~ 16 GB/s per direction; 20x below 320 GB/s of IPU-Links, the slow end of the tutorial's '3x-20x slower' ('streaming memory bandwidth' row)"},
    {"stream.latency_s", KEY_F64, F(stream_latency_s), "s", {2e-6, 2e-6, 2e-6}, 0, 1,
     "per StreamCopy step; assumption: a PCIe Gen4 round trip plus gateway DMA setup, order 1-2 us (no public figure)"},
    {"stream.capacity_bytes", KEY_F64, F(stream_capacity_bytes), "bytes", {256e9, 256e9, 256e9}, 0, 1e15,
     "per machine; ref: docs/reference/ipu-figures.md 'streaming memory capacity' row (up to 256 GB DDR4 per IPU-Machine); gc2 given the same as an assumption"},
    {"stream.io_tiles", KEY_U32, F(io_tiles), "tiles", {0, 0, 0}, 0, 1u << 20,
     "tiles per chip reserved for streaming; >0 lets a StreamCopy marked overlap run under the next compute step; ref: docs/reference/ipu-figures.md 'I/O tiles' row (GPT-J fine-tuning used 64 or 128)"},
    {"link.count", KEY_U32, F(link_count), "links", {10, 10, 10}, 0, 1024,
     "IPU-Links per chip; ref: docs/reference/ipu-figures.md 'IPU-Links (Mk2)' row (10 links); Mk1 and Bow assumed the same"},
    {"link.bandwidth_bytes_per_s", KEY_F64, F(link_bandwidth_bytes_per_s), "bytes/s", {16e9, 16e9, 16e9}, 1, 1e15,
     "per link per direction; ref: docs/reference/ipu-figures.md 'IPU-Link model used by poplibs tests' row (128 Gbit/s), consistent with 10 links = 320 GB/s per chip both ways"},
    {"link.efficiency", KEY_F64, F(link_efficiency), "fraction", {0.85, 0.85, 0.85}, 1e-3, 1,
     "achieved fraction of link bandwidth; ref: docs/reference/ipu-figures.md 'IPU-Link model used by poplibs tests' row (0.85)"},
    {"link.ring_links", KEY_U32, F(link_ring_links), "links", {2, 2, 2}, 1, 1024,
     "parallel links a ring uses between neighbours; assumption: the ladder topology (docs/reference/ipu-figures.md 'IPU-Link model used by poplibs tests' row) gives each chip 2 links toward its ring neighbour"},
    {"link.latency_cycles", KEY_U32, F(link_latency_cycles), "cycles", {RULE, RULE, RULE}, 0, 1u << 24,
     "per ring step; rule: = sync.system_cycles (assumption: each ring step is a cross-chip BSP superstep, so it pays one cross-chip sync)"},
    {"host.bandwidth_bytes_per_s", KEY_F64, F(host_link_bytes_per_s), "bytes/s", {32e9, 64e9, 64e9}, 1, 1e15,
     "host link; ref: docs/reference/ipu-figures.md 'host link' row (PCIe Gen4 x16, 64 GB/s); gc2 assumption: PCIe Gen3 x16, half; c600: its PCIe Gen4 x8 (16 GT/s x 8 lanes), 16 GB/s"},
};
#define NKEYS (sizeof keys / sizeof keys[0])

const char *const arch_preset_names[] = {"gc2", "gc200", "bow", "pod4", "pod16", "bow-pod16", "c600", NULL};
const char *const arch_preset_docs[] = {
    "one Mk1 GC2 chip (1216 tiles, 256 KiB, 1.6 GHz)",
    "one Mk2 GC200 chip (1472 tiles, 624 KiB, 1.33 GHz)",
    "one Bow chip (1472 tiles, 624 KiB, 1.85 GHz)",
    "one IPU-M2000: 4 GC200 chips sharing one streaming memory",
    "IPU-POD16: four IPU-M2000 machines, 16 GC200 chips",
    "Bow-POD16: four Bow-2000 machines, 16 Bow chips",
    "a C600-like PCIe card: one Mk2 chip with an fp8 AMP (128 fp8 MACs/cycle/tile), 1.486 GHz, remote buffers in host memory over PCIe Gen4 x8",
};

static void *field(IpuArch *a, const ArchKey *k) { return (char *)a + k->offset; }
static const void *cfield(const IpuArch *a, const ArchKey *k) { return (const char *)a + k->offset; }

static double key_get(const IpuArch *a, const ArchKey *k)
{
    if (k->type == KEY_U32)
        return *(const uint32_t *)cfield(a, k);
    return *(const double *)cfield(a, k);
}

static void key_put(IpuArch *a, const ArchKey *k, double v)
{
    if (k->type == KEY_U32)
        *(uint32_t *)field(a, k) = (uint32_t)v;
    else
        *(double *)field(a, k) = v;
}

/* The C600-like card (docs/reference/weight-formats-sources.md 'Graphcore
 * C600'): a GC200-class chip whose published peaks, 280 TFLOPS fp16 and
 * 560 fp8, give the clock (280e12 / (2 x 1472 x 64), derived) and 128 fp8
 * MACs per cycle per tile; one chip on a PCIe card, so its remote buffers
 * live in host memory behind the card's link (PCIe Gen4 x8, as Graphcore's
 * gc-info output for a C600 reports: 16 GT/s, 8 lanes; ~16 GB/s, the same
 * assumption as gc2's streaming path). */
static void preset_c600(IpuArch *a)
{
    a->clock_hz = 280e12 / (2.0 * 1472 * 64);
    a->amp_macs_per_cycle_fp8 = 128;
    a->stream_bandwidth_bytes_per_s = 16e9;
    a->host_link_bytes_per_s = 16e9;
}

/* Rule keys follow their inputs until set explicitly. */
static void apply_rules(IpuArch *a)
{
    if (!a->sync_system_is_set)
        a->sync_system_cycles = a->sync_chip_cycles + (uint32_t)ceil(30e-9 * a->clock_hz);
    if (!a->link_latency_is_set)
        a->link_latency_cycles = a->sync_system_cycles;
}

int arch_preset(const char *name, IpuArch *out, IpuErr *err)
{
    static const struct { const char *name; int gen; uint32_t chips, per_machine; void (*adjust)(IpuArch *); } presets[] = {
        {"gc2", GEN_GC2, 1, 1, NULL},      {"gc200", GEN_GC200, 1, 1, NULL}, {"bow", GEN_BOW, 1, 1, NULL},
        {"pod4", GEN_GC200, 4, 4, NULL},   {"pod16", GEN_GC200, 16, 4, NULL}, {"bow-pod16", GEN_BOW, 16, 4, NULL},
        {"c600", GEN_GC200, 1, 1, preset_c600},
    };
    for (size_t p = 0; p < sizeof presets / sizeof presets[0]; p++) {
        if (strcmp(name, presets[p].name))
            continue;
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", name);
        for (size_t i = 0; i < NKEYS; i++)
            if (!isnan(keys[i].def[presets[p].gen]))
                key_put(out, &keys[i], keys[i].def[presets[p].gen]);
        if (presets[p].adjust)
            presets[p].adjust(out);
        apply_rules(out);
        out->chips = presets[p].chips;
        out->chips_per_machine = presets[p].per_machine;
        isa_costs_default(&out->isa);
        return 0;
    }
    char list[256] = "";
    for (const char *const *n = arch_preset_names; *n; n++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", n == arch_preset_names ? "" : ", ", *n);
    return ipu_err(err, "unknown arch preset '%s' (presets: %s)", name, list);
}

/* Parses a whole-string number; rejects trailing junk, NaN and infinities. */
static int parse_number(const char *s, double *v)
{
    errno = 0;
    char *end;
    *v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(*v))
        return -1;
    return 0;
}

static int parse_bool(const char *s, int *b)
{
    if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "on")) { *b = 1; return 0; }
    if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "off")) { *b = 0; return 0; }
    return -1;
}

static int set_table_key(IpuArch *a, const ArchKey *k, double v, IpuErr *err)
{
    if (k->type == KEY_U32 && v != floor(v))
        return ipu_err(err, "arch key '%s': value %g is not an integer", k->name, v);
    if (v < k->min || v > k->max)
        return ipu_err(err, "arch key '%s': value %g out of range [%g, %g] %s", k->name, v, k->min, k->max, k->unit);
    key_put(a, k, v);
    return 0;
}

/* isa.<id>.cycles or isa.<id>.enabled: finds the cost row; *is_enabled says which. */
static const IsaCostKey *find_isa_key(const char *key, int *is_enabled)
{
    if (strncmp(key, "isa.", 4))
        return NULL;
    const char *id = key + 4, *dot = strrchr(id, '.');
    if (!dot)
        return NULL;
    size_t len = (size_t)(dot - id);
    for (size_t i = 0; i < isa_cost_key_count; i++) {
        const IsaCostKey *c = &isa_cost_keys[i];
        if (strlen(c->id) != len || strncmp(c->id, id, len))
            continue;
        if (!strcmp(dot, ".cycles")) { *is_enabled = 0; return c; }
        if (!strcmp(dot, ".enabled") && c->enabled_offset != SIZE_MAX) { *is_enabled = 1; return c; }
        return NULL;
    }
    return NULL;
}

int arch_set(IpuArch *a, const char *key, const char *value, IpuErr *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].name, key))
            continue;
        double v;
        if (parse_number(value, &v))
            return ipu_err(err, "arch key '%s': '%s' is not a number (%s, %s)", key, value,
                           keys[i].type == KEY_U32 ? "int" : "float", keys[i].unit);
        if (set_table_key(a, &keys[i], v, err))
            return -1;
        if (!strcmp(key, "sync.system_cycles"))
            a->sync_system_is_set = true;
        if (!strcmp(key, "link.latency_cycles"))
            a->link_latency_is_set = true;
        apply_rules(a);
        return 0;
    }
    int is_enabled;
    const IsaCostKey *c = find_isa_key(key, &is_enabled);
    if (c && is_enabled) {
        int b;
        if (parse_bool(value, &b))
            return ipu_err(err, "arch key '%s': '%s' is not a bool (true/false/1/0)", key, value);
        *(bool *)((char *)&a->isa + c->enabled_offset) = b;
        return 0;
    }
    if (c) {
        double v;
        if (parse_number(value, &v) || v != floor(v))
            return ipu_err(err, "arch key '%s': '%s' is not an integer (worker cycles)", key, value);
        if (v < 0 || v > 1e6)
            return ipu_err(err, "arch key '%s': value %g out of range [0, 1e6] worker cycles", key, v);
        *(uint32_t *)((char *)&a->isa + c->cycles_offset) = (uint32_t)v;
        return 0;
    }
    return ipu_err(err, "unknown arch key '%s' (see ipusim arch show gc200)", key);
}

/* 0 unknown key, 1 a number key, 2 a bool key. */
static int key_kind(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].name, key))
            return 1;
    int is_enabled;
    if (find_isa_key(key, &is_enabled))
        return is_enabled ? 2 : 1;
    return 0;
}

int arch_file_each(const char *path, ArchFileFn fn, void *ctx, IpuErr *err)
{
    char *text;
    if (fileio_read(path, "arch file", FILEIO_CONFIG_MAX_BYTES, &text, NULL, err))
        return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        long off = end ? (long)(end - text) : -1;
        free(text);
        return ipu_err(err, "arch file '%s': malformed JSON near byte %ld", path, off);
    }
    free(text);
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = ipu_err(err, "arch file '%s': top level must be a JSON object of keys", path);
        goto done;
    }
    cJSON *preset = cJSON_GetObjectItemCaseSensitive(root, "preset");
    if (preset && !cJSON_IsString(preset)) {
        rc = ipu_err(err, "arch file '%s': key 'preset' must be a string", path);
        goto done;
    }
    if (preset && fn(ctx, "preset", preset->valuestring, err)) {
        rc = -1;
        goto done;
    }
    for (cJSON *it = root->child; it; it = it->next) {
        if (!strcmp(it->string, "preset"))
            continue;
        char buf[64];
        if (cJSON_IsBool(it)) {
            snprintf(buf, sizeof buf, "%s", cJSON_IsTrue(it) ? "true" : "false");
        } else if (cJSON_IsNumber(it)) {
            for (int digits = 15; digits <= 17; digits++) { /* the shortest text that reads back the same */
                snprintf(buf, sizeof buf, "%.*g", digits, it->valuedouble);
                if (strtod(buf, NULL) == it->valuedouble)
                    break;
            }
        } else {
            rc = ipu_err(err, "arch file '%s': key '%s' must be a number or bool", path, it->string);
            goto done;
        }
        /* A bool where a number is due (or the reverse) is a type error. */
        int kind = key_kind(it->string);
        if (!kind) {
            rc = ipu_err(err, "arch file '%s': unknown arch key '%s' (see ipusim arch show gc200)", path, it->string);
            goto done;
        }
        if ((kind == 2) != (cJSON_IsBool(it) != 0)) {
            rc = ipu_err(err, "arch file '%s': key '%s' must be a %s", path, it->string, kind == 2 ? "bool" : "number");
            goto done;
        }
        if (fn(ctx, it->string, buf, err)) {
            rc = -1;
            goto done;
        }
    }
done:
    cJSON_Delete(root);
    return rc;
}

typedef struct LoadCtx {
    IpuArch *a;
    const char *path;
} LoadCtx;

static int load_one(void *ctx, const char *key, const char *value, IpuErr *err)
{
    const LoadCtx *c = ctx;
    if (!strcmp(key, "preset") ? arch_preset(value, c->a, err) : arch_set(c->a, key, value, err))
        return ipu_err_prefix(err, "arch file '%s'", c->path);
    return 0;
}

int arch_load_file(IpuArch *a, const char *path, IpuErr *err)
{
    LoadCtx c = {a, path};
    return arch_file_each(path, load_one, &c, err);
}

int arch_validate(const IpuArch *a, IpuErr *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        double v = key_get(a, &keys[i]);
        if (!(v >= keys[i].min && v <= keys[i].max))
            return ipu_err(err, "arch key '%s': value %g out of range [%g, %g] %s", keys[i].name, v,
                           keys[i].min, keys[i].max, keys[i].unit);
    }
    if (a->chips % a->chips_per_machine)
        return ipu_err(err, "arch key 'chips': %u chips is not a multiple of chips_per_machine (%u)", a->chips,
                       a->chips_per_machine);
    if (a->io_tiles >= a->tiles_per_chip)
        return ipu_err(err, "arch key 'stream.io_tiles': %u I/O tiles leave no compute tile of %u", a->io_tiles,
                       a->tiles_per_chip);
    if ((uint64_t)a->chips * a->tiles_per_chip > (uint64_t)INT32_MAX)
        return ipu_err(err, "arch key 'tiles_per_chip': %u chips x %u tiles is too many tiles", a->chips,
                       a->tiles_per_chip);
    if (a->chips > 1 && a->link_count < a->link_ring_links)
        return ipu_err(err, "arch key 'link.ring_links': %u ring links but only %u links per chip", a->link_ring_links,
                       a->link_count);
    return 0;
}

static size_t whatif_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < isa_cost_key_count; i++)
        n += isa_cost_keys[i].enabled_offset != SIZE_MAX;
    return n;
}

size_t arch_key_count(void) { return NKEYS + isa_cost_key_count + whatif_count(); }

void arch_key_at(const IpuArch *a, size_t i, ArchKeyInfo *out)
{
    IPU_ASSERT(i < arch_key_count());
    if (i < NKEYS) {
        const ArchKey *k = &keys[i];
        snprintf(out->name, sizeof out->name, "%s", k->name);
        if (k->type == KEY_U32)
            snprintf(out->value, sizeof out->value, "%u", *(const uint32_t *)cfield(a, k));
        else
            snprintf(out->value, sizeof out->value, "%.6g", *(const double *)cfield(a, k));
        out->type = k->type == KEY_U32 ? "int" : "float";
        out->unit = k->unit;
        out->doc = k->doc;
        return;
    }
    i -= NKEYS;
    /* isa rows: each instruction's cycles, then its enabled switch if what-if */
    for (size_t j = 0; j < isa_cost_key_count; j++) {
        const IsaCostKey *c = &isa_cost_keys[j];
        if (i == 0) {
            snprintf(out->name, sizeof out->name, "isa.%s.cycles", c->id);
            snprintf(out->value, sizeof out->value, "%u", *(const uint32_t *)((const char *)&a->isa + c->cycles_offset));
            out->type = "int";
            out->unit = "worker cycles";
            out->doc = c->doc;
            return;
        }
        i--;
        if (c->enabled_offset == SIZE_MAX)
            continue;
        if (i == 0) {
            snprintf(out->name, sizeof out->name, "isa.%s.enabled", c->id);
            snprintf(out->value, sizeof out->value, "%s",
                     *(const bool *)((const char *)&a->isa + c->enabled_offset) ? "true" : "false");
            out->type = "bool";
            out->unit = "";
            out->doc = "what-if instruction the IPU does not have; off unless set";
            return;
        }
        i--;
    }
    IPU_ASSERT(0);
}

void arch_print(FILE *f, const IpuArch *a)
{
    fprintf(f, "# arch %s\n", a->name);
    for (size_t i = 0; i < arch_key_count(); i++) {
        ArchKeyInfo k;
        arch_key_at(a, i, &k);
        fprintf(f, "%-36s = %-12s %-14s # %s\n", k.name, k.value, k.unit, k.doc);
    }
}
