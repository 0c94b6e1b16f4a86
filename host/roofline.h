/* roofline.h - a run on the machine's rooflines: the teaching view of why
 * token generation is memory-bound.
 *
 * A piece of work that does F FLOPs and moves B bytes from a memory of
 * bandwidth W cannot take less than max(F / peak, B / W): plotted as
 * achieved FLOP/s against arithmetic intensity I = F / B (FLOP/byte), it
 * sits under min(peak, W x I), a flat compute roof and one slanted roof per
 * memory. The roofs here are those of the chips a run uses, from the arch:
 * the AMP fp16 peak (chips x tiles x amp_macs_per_cycle_fp16 x 2 x clock),
 * streaming memory and tile SRAM (the MBU's peaks, host/report.h), and the
 * on-chip exchange (chips x tiles x exchange.bytes_per_cycle x clock).
 *
 * A run's points, per format, batch and step (the prefill, the mean decode
 * step), in three parts:
 *   step       every matrix product of the step; its bytes are those the
 *              MBU counts (streamed: through streaming memory; resident:
 *              weights and KV cache read from SRAM)
 *   linears    the linear layers and the LM head: their FLOPs per byte of
 *              weights from the weights' source (streamed: the bytes through
 *              streaming memory, the resident LM head's FLOPs coming free;
 *              resident: every weight byte read, stored format); time = the
 *              step's stream + decompress + matmul phases
 *   attention  scores and probabilities x V: FLOPs per KV-cache byte read;
 *              time = the attention phase (no point without a KV cache: K
 *              and V are then computed in the step, none is read)
 * and for each, the bound: the roof whose lower bound on its time is the
 * longest (compute; streaming memory, SRAM and exchange for the step; the
 * weights' source for the linears; SRAM for attention), and that lower
 * bound as a fraction of the time taken (1: on the roof).
 *
 * FLOPs are counted from the model's shapes, 2 per multiply-add of the
 * matrix products the step's scheme computes (roofline_step_flops): with a
 * KV cache the prefill's batch x prompt rows and a decode step's batch
 * rows; without, every step's batch x seq_len rows; attention over causal
 * (query, key) pairs; the LM head on one row per sequence. Masked keys,
 * padding and the elementwise layers (LayerNorm, GELU, softmax, rotary:
 * under 1% of the FLOPs) are not counted.
 *
 * Not here: running (host/gptj_run.h), the report's own figures (host/report.h).
 */
#ifndef IPUSIM_ROOFLINE_H
#define IPUSIM_ROOFLINE_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "host/report.h"
#include "models/gptj_config.h"
#include "sim/arch.h"

typedef enum RoofKind { ROOF_COMPUTE, ROOF_STREAM, ROOF_SRAM, ROOF_EXCHANGE, ROOF_COUNT } RoofKind;
/* "compute", "stream", "sram", "exchange" */
extern const char *const roofline_roof_names[ROOF_COUNT];

typedef enum RooflinePart { ROOFLINE_STEP, ROOFLINE_LINEARS, ROOFLINE_ATTENTION, ROOFLINE_PART_COUNT } RooflinePart;
/* "step", "linears", "attention" */
extern const char *const roofline_part_names[ROOFLINE_PART_COUNT];

/* What the FLOP count needs besides a FormatReport's batch and decode steps. */
typedef struct RooflineShape {
    GptjConfig cfg;
    uint32_t prompt_len;
    uint32_t seq_len;  /* resolved (prompt_len + gen_tokens when the key is 0) */
    int kv_cache;
} RooflineShape;

typedef struct RooflinePoint {
    char format[32];
    uint32_t batch;
    int decode;             /* 0: the prefill; 1: the mean decode step */
    RooflinePart part;
    RoofKind source;        /* where its bytes come from: ROOF_STREAM or ROOF_SRAM */
    double flops;           /* FLOP */
    double bytes;           /* bytes from the source */
    double time_s;
    double intensity;       /* flops / bytes, FLOP/byte */
    double achieved_flops_per_s;
    RoofKind bound;         /* the roof with the longest lower bound on time_s */
    double bound_frac;      /* that lower bound / time_s */
} RooflinePoint;

typedef struct Roofline {
    uint32_t chips;
    double peak[ROOF_COUNT]; /* [ROOF_COMPUTE] FLOP/s, the others bytes/s */
    RooflinePoint *p;        /* (n) in the order added */
    int n, cap;
} Roofline;

/* The roofs of the first `chips` chips of arch; no points yet. */
void roofline_init(Roofline *rl, const IpuArch *arch, uint32_t chips);
void roofline_free(Roofline *rl);
/* Every format x step x part point of r (its runs of the model in shape). */
int roofline_add(Roofline *rl, const Report *r, const RooflineShape *shape, IpuErr *err);

/* FLOPs of one step's matrix products at batch sequences: the linears with
 * the LM head, and attention; decode: the mean of ndecode decode steps. */
void roofline_step_flops(const RooflineShape *s, uint32_t batch, uint32_t ndecode, int decode, double *linears,
                         double *attention);

/* The roofs, then one row per point: format, batch, step, part, GFLOP,
 * bytes and source, intensity, achieved GFLOP/s, bound and % of it. */
void roofline_print(FILE *f, const Roofline *rl);
/* {"chips", "peaks": {compute_flops_per_s, stream_bytes_per_s, sram_bytes_per_s,
 *  exchange_bytes_per_s}, "points": [{format, batch, step, part, source, flops, bytes,
 *  time_s, intensity_flops_per_byte, achieved_flops_per_s, bound, bound_frac}]} */
cJSON *roofline_to_json(const Roofline *rl);
/* roofline.EXT with its .dat and .gp into dir (a folder being built, as
 * report_plot_into); title from r's configuration; names gets "roofline.EXT". */
int roofline_plot_into(const Roofline *rl, const Report *r, const char *dir, char *names, size_t cap, IpuErr *err);

#endif
