/* cli_codelet_wdec.h - the weight-format part of `ipusim codelet validate |
 * bench decompress --format F` (host/cli_codelet_wdec.c): the formats of
 * codelets/wdec.h. cli_codelet.c parses the command line. */
#ifndef IPUSIM_CLI_CODELET_WDEC_H
#define IPUSIM_CLI_CODELET_WDEC_H

#include <stdint.h>

#include "base/err.h"
#include "codelets/wdec.h"
#include "sim/arch.h"

/* The format of --format text: a weight format spec ("s4g:64",
 * "nf4g+dq", "i8c", "fp8e4m3:tensor", ...) or "i8"; *is_q4g = 1 for q4g
 * (codelets/decompress.h, not a wdec format). */
int cli_wdec_format(const char *text, int *is_q4g, WdecFormat *f, IpuErr *err);
/* Prints PASS / FAIL per variant (one by name, or all); exit status. */
int cli_wdec_validate(WdecFormat f, const char *variant, uint64_t seed);
/* A bench row's figures into the JSON object r, for both benches: the
 * weights of the tile block, one worker's cycles wc (none when UINT64_MAX)
 * and the tile's tc, with the launches tl, each also per weight, and tl in
 * seconds at clock_hz. */
struct cJSON;
void cli_codelet_cycles_json(struct cJSON *r, double weights, uint64_t wc, uint64_t tc, uint64_t tl, double clock_hz);
/* Prints the cycles per weight of each variant at each group size; exit status. */
int cli_wdec_bench(const IpuArch *arch, WdecFormat f, const char *variant, const uint32_t *sizes, uint32_t nsizes,
                   int json);

#endif
