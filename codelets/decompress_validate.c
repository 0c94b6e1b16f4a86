/* decompress_validate.c - bit-exact checks and cycle measurements of the
 * decompress variants (see decompress_validate.h). */
#include "codelets/decompress_validate.h"

#include <stdlib.h>
#include <string.h>

#include "base/quant_format.h"
#include "codelets/decompress.h"
#include "codelets/validate_util.h"

const DecompressQ4EdgePair decompress_q4_edge_pairs[] = {
    {0x0000, 0x0000, "zero scale, zero bias"},
    {0x0000, 0xc500, "zero scale (constant group), bias -5"},
    {0x8000, 0x8000, "scale -0, bias -0 (signed zeros)"},
    {0x2c00, 0xb800, "typical: scale 1/16, bias -0.5"},
    {0xb666, 0x4900, "negative scale -0.4, bias 10"},
    {0x3c01, 0x6400, "scale 1+2^-10, bias 1024 (products and sums round, ties)"},
    {0x0001, 0x0000, "smallest subnormal scale 2^-24"},
    {0x0001, 0x8001, "subnormal scale and negative subnormal bias"},
    {0x03ff, 0x0400, "largest subnormal scale, smallest normal bias"},
    {0x1400, 0xa3ff, "tiny normal scale 2^-10, tiny negative bias"},
    {0x5bff, 0xd800, "large scale ~256, bias -128"},
    {0x6c43, 0x5000, "near-overflow scale 4364, bias 32 (15*scale+bias rounds to 65504)"},
    {0x6c44, 0x0000, "scale 4368: 15*scale = 65520 ties to Inf"},
    {0x7bff, 0xfbff, "scale 65504, bias -65504 (overflow to Inf, exact zero)"},
};
const uint32_t decompress_q4_edge_pair_count = sizeof decompress_q4_edge_pairs / sizeof decompress_q4_edge_pairs[0];

void decompress_q4_validation_init(DecompressQ4Validation *v) { memset(v, 0, sizeof *v); }

/* Any finite fp16: an all-ones exponent loses its top bit. */
static uint16_t finite_fp16(uint64_t r)
{
    uint16_t h = (uint16_t)r;
    return (h & 0x7c00u) == 0x7c00u ? (uint16_t)(h & 0xbfffu) : h;
}

/* Runs vt on (packed, scale, bias) and compares with the reference. */
static int run_and_compare(const VertexType *vt, const IsaCosts *isa, const uint16_t *packed, const uint16_t *scale,
                           const uint16_t *bias, uint32_t groups, uint32_t group_size, DecompressQ4Validation *v)
{
    size_t elems = (size_t)groups * group_size;
    uint16_t *out = aligned_alloc(8, (elems * 2 + 7) / 8 * 8), *want = malloc(elems * 2);
    IPU_ASSERT(out && want);
    memset(out, 0xff, elems * 2); /* NaN pattern: a skipped store shows up */
    decompress_q4_ref(want, packed, scale, bias, groups, group_size);
    DecompressQ4Args a = {packed, scale, bias, out, groups, group_size};
    Worker w;
    worker_init(&w, isa, -1);
    vt->run(&w, &a);
    v->cycles += w.cycles;
    int bad = 0;
    if (w.faulted) {
        if (!v->faulted)
            memcpy(v->fault, w.fault, sizeof v->fault);
        v->faulted = 1;
        bad = 1;
    }
    uint32_t words = group_size / Q4_CODES_PER_WORD;
    for (size_t i = 0; i < elems; i++) {
        v->checked++;
        if (out[i] == want[i])
            continue;
        bad = 1;
        v->mismatches++;
        if (v->reported < DQV_MAX_REPORTED) {
            size_t g = i / group_size, j = (i % group_size) / 4;
            DecompressQ4Mismatch *m = &v->first[v->reported++];
            m->word = packed[g * words + j];
            m->scale = scale[g];
            m->bias = bias[g];
            m->element = (uint32_t)(i % 4);
            m->group_size = group_size;
            m->got = out[i];
            m->want = want[i];
        }
    }
    free(out);
    free(want);
    return bad ? -1 : 0;
}

int decompress_q4_validate_exhaustive(const VertexType *vt, const IsaCosts *isa, uint16_t scale, uint16_t bias,
                                      DecompressQ4Validation *v)
{
    enum { N = Q4_MAX_GROUP, GROUPS = 65536 / (N / 4) };
    uint16_t *packed = malloc(65536 * sizeof(uint16_t)), sc[GROUPS], bi[GROUPS];
    IPU_ASSERT(packed);
    for (uint32_t x = 0; x < 65536; x++)
        packed[x] = (uint16_t)x;
    for (int g = 0; g < GROUPS; g++) {
        sc[g] = scale;
        bi[g] = bias;
    }
    int rc = run_and_compare(vt, isa, packed, sc, bi, GROUPS, N, v);
    free(packed);
    return rc;
}

int decompress_q4_validate_random(const VertexType *vt, const IsaCosts *isa, uint32_t group_size, uint32_t groups,
                                  uint64_t seed, DecompressQ4Validation *v)
{
    IPU_ASSERT(group_size % 4 == 0 && group_size >= Q4_MIN_GROUP && group_size <= Q4_MAX_GROUP);
    size_t words = (size_t)groups * group_size / 4;
    uint16_t *packed = malloc(words * 2 + 2), *sb = malloc((size_t)groups * 4 + 4);
    IPU_ASSERT(packed && sb);
    uint64_t s = seed;
    for (size_t j = 0; j < words; j++)
        packed[j] = (uint16_t)validate_splitmix64(&s);
    for (uint32_t g = 0; g < groups; g++) {
        sb[g] = finite_fp16(validate_splitmix64(&s));
        sb[groups + g] = finite_fp16(validate_splitmix64(&s));
    }
    int rc = run_and_compare(vt, isa, packed, sb, sb + groups, groups, group_size, v);
    free(packed);
    free(sb);
    return rc;
}

uint64_t decompress_q4_worker_cycles(const VertexType *vt, const IsaCosts *isa, uint32_t group_size, uint32_t groups)
{
    DecompressQ4Args shape = {NULL, NULL, NULL, NULL, groups, group_size};
    return vt->measure(isa, &shape);
}

uint64_t decompress_q4_tile_cycles(const VertexType *vt, const IsaCosts *isa, uint32_t group_size,
                                   uint32_t tile_groups, uint32_t workers)
{
    IPU_ASSERT(workers > 0 && workers <= 64);
    DecompressQ4Args all = {NULL, NULL, NULL, NULL, tile_groups, group_size}, parts[64];
    decompress_q4_split(&all, workers, parts);
    const void *args[64];
    for (uint32_t k = 0; k < workers; k++)
        args[k] = parts[k].groups ? &parts[k] : NULL;
    return validate_tile_cycles(vt, isa, args, workers);
}
