/* builder.c - the builder: a standalone one-chip builder, vertex args
 * that declare their tensor uses, tile-mapped tensors, and BSP step helpers
 * (see lower.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codelets/matmul.h"
#include "host/lower/lower.h"
#include "host/lower/model.h" /* CODE_BYTES_PER_TILE, STACK_BYTES_PER_TILE */


int lower_builder_standalone(LowerBuilder *b, const IpuArch *a, LayerDtype partials, IpuErr *err)
{
    memset(b, 0, sizeof *b);
    IpuArch one = *a;
    one.chips = one.chips_per_machine = 1;
    if (!(b->g = graph_create(&one, GRAPH_TIMING, err)))
        return -1;
    if (!(b->p = program_create())) {
        lower_builder_free(b);
        return ipu_err(err, "out of host memory");
    }
    b->chips = b->vchips = 1, b->tiles = one.tiles_per_chip, b->usable = one.tiles_per_chip - one.io_tiles;
    b->partials = partials;
    b->mem_prop = LOWER_MEMORY_PROPORTION;
    b->matmul_vt = partials == LAYER_F16 ? &matmul_amp_f16_vertex : &matmul_amp_f32_vertex;
    for (int i = 0; i < PHASE_COUNT; i++)
        if (program_category(b->p, run_phase_names[i], err) != i)
            goto fail;
    for (uint32_t t = 0; t < one.tiles_per_chip; t++)
        if (sram_alloc(b->g->sram, t, CODE_BYTES_PER_TILE, 8, SRAM_CODE, "code+vertex state", err) < 0 ||
            sram_alloc(b->g->sram, t, STACK_BYTES_PER_TILE, 8, SRAM_STACK, "worker stacks", err) < 0)
            goto fail;
    return 0;
fail:
    lower_builder_free(b);
    return -1;
}

void lower_builder_free(LowerBuilder *b)
{
    free(b->dec_memo);
    program_destroy(b->p);
    graph_destroy(b->g);
    memset(b, 0, sizeof *b);
}

static void *use(LowerBuilder *b, int cs, int id, uint64_t first, TensorAccess access)
{
    IpuErr e;
    if (graph_cs_use(b->g, cs, id, access, &e) && !b->use_failed)
        b->use_failed = 1, b->use_err = e;
    char *d = graph_tensor_data(b->g, id);
    return d ? d + first * graph_dtype_bytes(graph_tensor(b->g, id)->dtype) : NULL;
}

void *lower_in(LowerBuilder *b, int cs, int id, uint64_t first) { return use(b, cs, id, first, ACCESS_READ); }
void *lower_out(LowerBuilder *b, int cs, int id, uint64_t first) { return use(b, cs, id, first, ACCESS_WRITE); }
void *lower_inout(LowerBuilder *b, int cs, int id, uint64_t first) { return use(b, cs, id, first, ACCESS_READ_WRITE); }

int lower_uses_ok(const LowerBuilder *b, IpuErr *err)
{
    if (!b->use_failed)
        return 0;
    *err = b->use_err;
    return -1;
}

int lower_vertex(LowerBuilder *b, int cs, uint32_t tile, const VertexType *type, const void *args, IpuErr *err)
{
    if (lower_uses_ok(b, err))
        return -1;
    return graph_add_vertex(b->g, cs, tile, type, args, err);
}

int lower_tensor_blocks_life(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint32_t nblocks,
                             uint64_t block_elems, uint32_t tile0, SramCategory cat, int always_live, IpuErr *err)
{
    TileInterval *map = malloc(nblocks * sizeof *map);
    if (!map)
        return ipu_err(err, "tensor '%s': out of host memory", name);
    for (uint32_t i = 0; i < nblocks; i++)
        map[i] = (TileInterval){i * block_elems, (i + 1) * block_elems, lower_tile(b, chip, tile0 + i)};
    int id = graph_add_tensor_life(b->g, name, dt, nblocks * block_elems, cat, always_live, map, nblocks, err);
    free(map);
    return id;
}

int lower_tensor_blocks(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint32_t nblocks,
                        uint64_t block_elems, uint32_t tile0, SramCategory cat, IpuErr *err)
{
    int always = cat == SRAM_WEIGHTS || cat == SRAM_KV_CACHE || cat == SRAM_CODE || cat == SRAM_STACK;
    return lower_tensor_blocks_life(b, name, dt, chip, nblocks, block_elems, tile0, cat, always, err);
}

int lower_tensor_rows(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint64_t rows, uint64_t width,
                      uint32_t tile0, uint32_t ntiles, SramCategory cat, IpuErr *err)
{
    if (ntiles > rows)
        ntiles = (uint32_t)rows;
    TileInterval *map = malloc(ntiles * sizeof *map);
    if (!map)
        return ipu_err(err, "tensor '%s': out of host memory", name);
    size_t n = 0;
    for (uint32_t i = 0; i < ntiles; i++) {
        uint64_t r0 = rows * i / ntiles, r1 = rows * (i + 1) / ntiles;
        if (r1 > r0)
            map[n++] = (TileInterval){r0 * width, r1 * width, lower_tile(b, chip, tile0 + i)};
    }
    int id = graph_add_tensor(b->g, name, dt, rows * width, cat, map, n, err);
    free(map);
    return id;
}

int lower_append(LowerBuilder *b, int seq, int step, IpuErr *err)
{
    if (step < 0)
        return -1;
    return program_append(b->p, seq, step, err) < 0 ? -1 : step;
}

int lower_copy(LowerBuilder *b, int seq, const char *label, IpuErr *err)
{
    if (lower_append(b, seq, program_sync(b->p, SYNC_CHIP, label, PHASE_SYNC, err), err) < 0)
        return -1;
    return lower_append(b, seq, program_copy(b->p, label, PHASE_EXCHANGE, err), err);
}

int lower_exec(LowerBuilder *b, int seq, int cs, const char *label, RunPhase ph, IpuErr *err)
{
    return lower_append(b, seq, program_execute(b->p, cs, label, (int)ph, err), err);
}

int lower_tensor_interleaved(LowerBuilder *b, const char *name, GraphDType dt, uint32_t chip, uint64_t rows,
                             uint64_t width, IpuErr *err)
{
    uint64_t grain = LOWER_INTERLEAVE_GRAIN;
    while (grain > 4 && width % grain)
        grain /= 2;
    if (width % grain)
        grain = width;
    uint64_t per_row = width / grain, n = rows * per_row;
    TileInterval *map = malloc(n * sizeof *map);
    if (!map)
        return ipu_err(err, "tensor '%s': out of host memory", name);
    for (uint64_t i = 0; i < n; i++) /* grain i = (row, g) on local tile i mod usable */
        map[i] = (TileInterval){i * grain, (i + 1) * grain, lower_tile(b, chip, (uint32_t)(i % b->usable))};
    int id = graph_add_tensor(b->g, name, dt, rows * width, SRAM_ACTIVATIONS, map, n, err);
    free(map);
    return id;
}
