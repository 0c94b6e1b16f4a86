/* quant.h - weight formats on the host: fp32, fp16, int4-group (q4g) and
 * the formats beyond Graphcore's: symmetric int4 (s4g), NF4 with optional
 * double-quantized scales (nf4g, nf4g+dq), int8 per group or per output
 * channel (i8g, i8c) and fp8 (fp8e4m3, fp8e5m2) with a per-channel or
 * per-tensor scale.
 *
 * A WeightFormat is a small vtable (name, bits per parameter, quantize,
 * dequantize, free), one per format, so callers do not change when a
 * format is added. A QuantSpec is a format plus its parameters (group
 * size, grouped axis, +dq, per-tensor scale), parsed from text such as
 * "fp16", "q4g:64:out", "s4g:64", "nf4g:64+dq", "i8c", "i8g:128",
 * "fp8e4m3" or "fp8e5m2:tensor". quant_tensor() turns an fp32 matrix into a
 * QuantTensor in that spec; quant_dequantize() gives the values back as
 * fp32 (every format but f32 dequantizes to fp16 numbers, so the fp32 copy
 * is exact). The layouts and the scalar dequantizers that specify every
 * tile codelet are in the header-only sim/base/quant_format.h (q4g),
 * quant_int.h (s4g, i8), quant_nf4.h (nf4g) and quant_fp8.h (fp8); the
 * formats beyond q4g group along the input axis only.
 *
 * q4g follows sim/base/quant_format.h, whose q4_dequant_ref() is the
 * specification the tile codelets match bit for bit. Quantizing a group of n
 * values (all in fp16, each value first rounded to fp16):
 *   bias  = min
 *   scale = max - min over 15, computed exactly (double) and rounded once to
 *           fp16, nearest even
 *   code  = round_half_even((w - bias) / scale) with w - bias exact and the
 *           quotient in double (it cannot land on a false tie: see quant.c),
 *           clamped to 0..15
 * A constant group, or one whose range is so small that scale rounds to 0,
 * gets scale 0 and codes 0: it decompresses to bias (the group's min).
 * Decompression overflows to infinity only when a group spans more than the
 * fp16 range (|max - min| close to 2 x 65504); real weights never do.
 *
 * Layout (matrix [rows, cols], PyTorch Linear [out, in]):
 * - axis QUANT_AXIS_IN (default): groups run along cols, contiguous in
 *   memory. packed (rows, cols/n, n/4) uint16, element 0 of four in bits
 *   15..12; scale, bias (rows, cols/n) fp16.
 * - axis QUANT_AXIS_OUT: groups run along rows, i.e. down each column. The
 *   matrix is quantized as its transpose [cols, rows] with the IN layout:
 *   packed (cols, rows/n, n/4), scale, bias (cols, rows/n). Dequantize
 *   transposes back, so callers always see [rows, cols].
 * QuantTensor.qrows, .qlen give the quantized view (rows, cols for IN; cols,
 * rows for OUT).
 *
 * The whole-model policy (QuantPolicy) maps a tensor name to a QuantSpec by
 * ordered glob rules (first match wins, '*' matches any run of characters).
 *
 * Not here: applying a policy to a model's weights (models/gptj does that),
 * and any tile-side decompression (codelets/decompress).
 */
#ifndef IPUSIM_QUANT_H
#define IPUSIM_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum QuantAxis {
    QUANT_AXIS_IN = 0,  /* groups along cols (the input axis of a Linear) */
    QUANT_AXIS_OUT = 1, /* groups along rows (the output axis) */
} QuantAxis;

#define QUANT_DEFAULT_GROUP 64
#define QUANT_NAME_BYTES 128

typedef struct WeightFormat WeightFormat;

/* A format with its parameters. */
typedef struct QuantSpec {
    const WeightFormat *fmt;
    unsigned group;  /* group size n of q4g, s4g, nf4g, i8g (unused otherwise) */
    QuantAxis axis;  /* q4g only; the other formats group along the input axis */
    int dq;          /* nf4g: 1 = scales double-quantized (+dq) */
    int per_tensor;  /* fp8: 1 = one scale per tensor (:tensor), 0 = one per output channel */
} QuantSpec;

/* One quantized matrix. Owns its buffers; release with quant_tensor_free. */
typedef struct QuantTensor {
    QuantSpec spec;
    char name[QUANT_NAME_BYTES];
    int64_t rows, cols;    /* logical shape [rows, cols] */
    int64_t qrows, qlen;   /* quantized view: groups run along qlen */
    float *f32;            /* f32: (rows, cols) */
    uint16_t *f16;         /* f16: (rows, cols) fp16 bits */
    uint16_t *packed;      /* q4g, s4g, nf4g: (qrows, qlen/n, n/4) 4-bit codes */
    uint16_t *scale;       /* q4g, s4g, nf4g, i8g: (qrows, qlen/n); i8c and fp8 per channel: (rows);
                            * fp8 per tensor: (1); fp16 (nf4g+dq: none, see qscale) */
    uint16_t *bias;        /* q4g: (qrows, qlen/n) fp16 */
    uint8_t *codes8;       /* i8g, i8c, fp8: (rows, cols) one byte per weight */
    uint8_t *qscale;       /* nf4g+dq: (rows x cols/n) the groups' 8-bit scale codes */
    float *dq_step;        /* nf4g+dq: (ceil(groups / 256)) the second-level steps */
    float dq_mean;         /* nf4g+dq: the mean group absmax */
    size_t data_bytes;     /* bytes of the stored form (all buffers) */
} QuantTensor;

struct WeightFormat {
    const char *name;      /* "fp32", "fp16", "q4g", "s4g", "nf4g", "i8g", "i8c", "fp8e4m3", "fp8e5m2" */
    /* Stored bits per parameter of a [rows, cols] matrix in this spec. */
    double (*bits_per_param)(const QuantSpec *s, int64_t rows, int64_t cols);
    /* Fills *out (zeroed first by the caller's quant_tensor). w: (rows, cols). */
    int (*quantize)(const QuantSpec *s, const char *name, const float *w, int64_t rows, int64_t cols,
                    QuantTensor *out, IpuErr *e);
    /* out: (rows, cols) fp32. */
    void (*dequantize)(const QuantTensor *q, float *out);
    void (*free)(QuantTensor *q);
};

extern const WeightFormat quant_format_f32;
extern const WeightFormat quant_format_f16;
extern const WeightFormat quant_format_q4g;
extern const WeightFormat quant_format_s4g;
extern const WeightFormat quant_format_nf4g;
extern const WeightFormat quant_format_i8g;
extern const WeightFormat quant_format_i8c;
extern const WeightFormat quant_format_fp8e4m3;
extern const WeightFormat quant_format_fp8e5m2;

/* Parses "f32" | "fp32" | "f16" | "fp16" | "q4g[:N[:in|:out]]" |
 * "s4g[:N]" | "nf4g[:N][+dq]" | "i8g[:N]" | "i8c" | "fp8e4m3[:tensor|:channel]" |
 * "fp8e5m2[:tensor|:channel]" (N defaults to 64). The group size is checked
 * against the axis only when a tensor is quantized (it needs the shape). */
int quant_spec_parse(const char *text, QuantSpec *out, IpuErr *e);
/* 1 for a format with a group size (q4g, s4g, nf4g, i8g). */
int quant_spec_grouped(const QuantSpec *s);
/* Writes the canonical text ("fp16", "q4g:64", "q4g:64:out", "nf4g:64+dq",
 * "fp8e4m3:tensor") into buf. */
void quant_spec_format(const QuantSpec *s, char *buf, size_t cap);
double quant_bits_per_param(const QuantSpec *s, int64_t rows, int64_t cols);
/* 1 when the values of rows [r0, r1) quantized on their own equal those
 * rows of the whole matrix quantized (no scale or group spans rows): every
 * spec but q4g:N:out, nf4g+dq (second-level scales over 256 groups, a
 * tensor-wide mean) and fp8 :tensor. Row windows of such a matrix can be
 * quantized one at a time (model eval's embedding and LM head). */
int quant_spec_row_local(const QuantSpec *s);

/* Quantizes w (rows, cols) fp32 into out. Every format first rounds the
 * weights to fp16. Errors name the tensor: a non-finite weight (flat
 * index), a weight outside the fp16 range, a group size that is not a
 * multiple of 4, below 4, or does not divide the axis. */
int quant_tensor(const QuantSpec *s, const char *name, const float *w, int64_t rows, int64_t cols,
                 QuantTensor *out, IpuErr *e);
void quant_dequantize(const QuantTensor *q, float *out);
void quant_tensor_free(QuantTensor *q);

/* Error of a quantized tensor against its input ref (rows, cols). sqnr_db is
 * 10 log10(sum ref^2 / sum err^2); +INFINITY when the error is zero. */
typedef struct QuantStats {
    double rmse;
    double max_abs_err;
    double sqnr_db;
} QuantStats;
void quant_stats(const QuantTensor *q, const float *ref, QuantStats *out);

/* The whole-model policy: ordered (glob pattern, spec) rules, first match
 * wins; a name no rule matches gets the fallback. */
#define QUANT_POLICY_MAX_RULES 32
#define QUANT_PATTERN_BYTES 96

typedef struct QuantRule {
    char pattern[QUANT_PATTERN_BYTES];
    QuantSpec spec;
} QuantRule;

typedef struct QuantPolicy {
    int nrules;
    QuantRule rules[QUANT_POLICY_MAX_RULES];
    QuantSpec fallback;
} QuantPolicy;

/* Graphcore's GPT-J policy with weights in `weights` (e.g. q4g:64): embedding
 * (*wte*), LayerNorm weights and biases (*ln_*) and every bias (*.bias) stay
 * fp16; every other *.weight (q/k/v/out_proj, fc_in, fc_out, lm_head) gets
 * `weights`, grouped along its input axis. Anything else: fp16. */
void quant_policy_graphcore(QuantPolicy *p, const QuantSpec *weights);
/* Every tensor in one spec (e.g. the fp16 baseline). */
void quant_policy_uniform(QuantPolicy *p, const QuantSpec *spec);
/* Puts a rule in front of the existing ones, so it overrides them. rule is
 * "PATTERN=SPEC", e.g. "lm_head.weight=f16" or "*.mlp.*=q4g:32". */
int quant_policy_prepend(QuantPolicy *p, const char *rule, IpuErr *e);
/* The spec for a tensor name (never NULL). */
const QuantSpec *quant_policy_lookup(const QuantPolicy *p, const char *name);
/* Glob match used by the policy: '*' matches any run, everything else itself. */
int quant_glob_match(const char *pattern, const char *name);

#endif
