/* layout.h - tile memory with lifetimes: where every tensor's bytes go
 * once the program is known, the way Poplar lays out a tile's memory.
 *
 * Always-live tensors (Tensor.always_live: weights, KV cache, code,
 * stacks, and whatever the builder marks) hold their bytes for the whole
 * program; graph_add_tensor allocates them at once. Every other tensor
 * lives only while its value is needed, and tensors whose lives do not
 * overlap may share bytes.
 *
 * Live ranges. The leaf steps of the given roots, run one after another,
 * are numbered 0.. (positions). A step uses a tensor: an Execute through
 * its compute set's declared uses (graph_cs_use), a Copy reads its pairs'
 * sources and writes their destinations, a StreamCopy writes (to tiles) or
 * reads (from tiles) its tensors, a collective reads and writes its. Per
 * tensor, in position order, a segment runs from a step that writes it to
 * the last use before the next step that only writes it after a read: a
 * pure write that follows a read starts a new value. So the lowering must
 * never overwrite part of a tensor whose other part is still to be read;
 * poisoning (engine_set_poison) catches a break of that rule. A tensor's
 * live range is the union of its segments. Inside a Repeat (more than one
 * iteration) every use counts as a read and a write at both ends of the
 * Repeat, so values carried between iterations stay live. A tensor whose
 * first use in a root's run is a read gets its value from outside the run
 * (the host, or an earlier run) and is made always-live, as is a tensor no
 * step uses. A tensor the host reads after a run must be marked always-live
 * by its builder: nothing in the program says its value is still wanted.
 *
 * Placement, per tile, deterministic: the not-always-live tensors' blocks
 * in order of their first position (ties: tensor id), each at the lowest
 * 8-aligned offset free of the always-live blocks and of the blocks
 * already placed whose live ranges overlap its own (first fit on an
 * interval graph). A block that fits nowhere below the tile's capacity is
 * the out-of-memory error: chip, tile, tensor, bytes, and the step at
 * which the tile overflows.
 *
 * Not here: timing (addresses never change cycles), the bank rules of the
 * real tile memory.
 */
#ifndef IPUSIM_LAYOUT_H
#define IPUSIM_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "sim/graph.h"
#include "sim/program.h"

typedef struct Layout Layout;

/* Lays out g's tiles of chips [0, chips) (0: every chip) for the leaf
 * steps of roots[0..nroots) run in that order. Tensors wholly on other
 * chips are left unplaced (a builder that builds the vertices of one chip
 * and lets the others mirror it, as timing mode does). Replaces an earlier
 * layout. Errors: out of tile memory (see above), a step the program
 * does not have. */
int layout_graph(Graph *g, const Program *p, const int *roots, size_t nroots, uint32_t chips, IpuErr *err);
void layout_free(Layout *l);

/* One tile at its peak: the position where always-live plus live bytes are
 * highest (the first such), and what is live there by category. */
typedef struct LayoutPeak {
    uint32_t tile;
    uint64_t bytes;                               /* always-live + live not-always-live bytes at the peak */
    int64_t pos;                                  /* the peak's position; -1: only always-live bytes */
    int step;                                     /* the step at that position, -1 with pos */
    uint64_t always[SRAM_CATEGORY_COUNT];         /* always-live bytes by category */
    uint64_t live[SRAM_CATEGORY_COUNT];           /* not-always-live bytes live at the peak, by category */
    uint64_t top;                                 /* one past the highest byte any block uses (>= bytes) */
} LayoutPeak;

/* Positions of the layout (leaf steps of all its roots), and the step at one. */
size_t layout_positions(const Layout *l);
int layout_step_at(const Layout *l, size_t pos);
/* The first position of root index r (r = nroots: the end), and the index
 * of a root step (-1 if the layout was not made for it). */
size_t layout_root_pos(const Layout *l, size_t r);
int layout_root_index(const Layout *l, int root);
/* Chips laid out. */
uint32_t layout_chips(const Layout *l);
/* The tile's peak; -1 if the tile was not laid out. */
int layout_tile_peak(const Graph *g, uint32_t tile, LayoutPeak *out);
/* The laid-out tile with the highest peak (ties: the lower tile). */
uint32_t layout_peak_tile(const Graph *g);
/* Bytes live at each position (always-live included) on one tile, or
 * summed over one chip's tiles: out has layout_positions() entries. */
int layout_tile_curve(const Graph *g, uint32_t tile, uint64_t *out);
int layout_chip_curve(const Graph *g, uint32_t chip, uint64_t *out);
/* Tensors whose last use ends a segment at pos (for poisoning dead bytes):
 * their ids in *ids, how many returned. */
size_t layout_deaths(const Layout *l, size_t pos, const int **ids);
/* 1 if the step at pos is a StreamCopy to tiles each of whose tensors is
 * only read from there until it is next written without being read, or
 * its root's run ends (a use that reads and writes it, a collective for
 * one, counts as a write): the engine may then leave the bytes in the
 * remote buffer and let readers read them there (zero-copy streaming). */
int layout_stream_in_place(const Layout *l, size_t pos);
/* The memory report: the n fullest tiles, and for each what is live at its
 * peak (always-live by category, then each live tensor with its bytes and
 * live range as step labels). */
void layout_report(const Graph *g, const Program *p, FILE *f, uint32_t n);

#endif
