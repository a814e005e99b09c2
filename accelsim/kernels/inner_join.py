"""SparTen's inner join, chunk by chunk on SparseMaps: real outputs and per-cluster cycles.

SparseMap. A tensor piece (a *chunk*: up to ``chunk`` consecutive channels of one filter tap
or of one input pixel) is a bit mask (``words`` uint64 words, bit ``b`` of word ``w`` set
when element ``64 w + b`` is non-zero) plus its non-zero values packed in element order.
``wmask[f, k]`` / ``woff[f, k]`` are the mask and the offset of the packed values in
``wvals`` of chunk ``k`` of filter ``f``; ``k = (r * S + s) * n_sub + c`` walks the reduction
tap by tap, ``n_sub`` chunks of channels per tap. ``amask[g, y, x, c]`` / ``aoff`` are the
same for the (zero-padded) input of group ``g`` at pixel ``(y, x)``, channel chunk ``c``.

The join of a filter chunk with an input chunk (one compute unit, CU): AND the masks; each
set bit of the AND is an effectual pair, whose operands sit at the prefix popcounts of the
two masks below that bit (the prefix-sum circuit); the CU multiplies ``multipliers`` pairs a
cycle, so the join takes ``ceil(pairs / multipliers) + overhead`` cycles.

A cluster runs *items* ``(pass j, output position p)``: for each reduction chunk ``k`` of the
window at ``p`` (gathered at the layer's stride) it broadcasts the input chunk to its CUs;
CU ``u`` joins it with each of its filters ``slots[j, k, u, :]`` (``-1``: empty slot) and
the cluster moves to the next chunk when its slowest CU is done (the load imbalance)::

    step(j, p, k) = max_u  sum_{f in slots[j, k, u]}  ceil(pairs(f, k, p) / multipliers) + overhead

Clusters are independent (``prange``); the values are exact (int64 for fixed point).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

# Per-cluster statistics columns.
CYCLES, PAIRS, JOINS, STEPS, BUSY_CU_CYCLES, IDLE_CU_CYCLES = range(6)
N_STATS = 6


@intrinsic
def _popcount(typingctx, x):
    """Set bits of a uint64 (LLVM ctpop), as an int64."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.int64(types.uint64), codegen


@intrinsic
def _trailing_zeros(typingctx, x):
    """Index of the lowest set bit of a non-zero uint64 (LLVM cttz)."""
    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], context.get_constant(types.boolean, False))
    return types.uint64(types.uint64), codegen


@njit(cache=True)
def _join(wmask, woff, wvals, amask, aoff, avals, f, k, g, y, x, c, compute):
    """Effectual pairs of filter chunk ``(f, k)`` and input chunk ``(g, y, x, c)`` and
    the sum of their products, operands located by prefix popcounts (without ``compute``:
    the pairs only, the popcount of the AND)."""
    total = wvals[0] - wvals[0]
    pairs = 0
    if not compute:
        for word in range(wmask.shape[2]):
            pairs += _popcount(wmask[f, k, word] & amask[g, y, x, c, word])
        return pairs, total
    w_base = woff[f, k]
    a_base = aoff[g, y, x, c]
    for word in range(wmask.shape[2]):
        wm = wmask[f, k, word]
        am = amask[g, y, x, c, word]
        both = wm & am
        while both:
            bit = _trailing_zeros(both)
            below = (np.uint64(1) << bit) - np.uint64(1)
            total += wvals[w_base + _popcount(wm & below)] * \
                avals[a_base + _popcount(am & below)]
            pairs += 1
            both &= both - np.uint64(1)
        w_base += _popcount(wm)
        a_base += _popcount(am)
    return pairs, total


@njit(cache=True)
def _run_cluster(cl, item_ptr, item_pass, item_pos, slots, group_of, wmask, woff, wvals,
                 amask, aoff, avals, geometry, multipliers, overhead, compute, acc,
                 item_cycles, stats):
    kernel_w, stride_h, stride_w, out_w, n_sub = geometry
    n_chunks, cus, per_cu = slots.shape[1], slots.shape[2], slots.shape[3]
    cycles = pairs_total = joins = steps = busy = idle = 0
    for item in range(item_ptr[cl], item_ptr[cl + 1]):
        j, p = item_pass[item], item_pos[item]
        y0, x0 = (p // out_w) * stride_h, (p % out_w) * stride_w
        start = cycles
        for k in range(n_chunks):
            tap, c = k // n_sub, k % n_sub
            y, x = y0 + tap // kernel_w, x0 + tap % kernel_w
            slowest = 0
            for u in range(cus):
                t = 0
                for s in range(per_cu):
                    f = slots[j, k, u, s]
                    if f < 0:
                        continue
                    n, total = _join(wmask, woff, wvals, amask, aoff, avals, f, k,
                                     group_of[f], y, x, c, compute)
                    if compute and n:
                        acc[f, p] += total
                    pairs_total += n
                    joins += 1
                    t += (n + multipliers - 1) // multipliers + overhead
                    busy += n
                slowest = max(slowest, t)
            cycles += slowest
            steps += 1
            idle += slowest * cus * multipliers
        item_cycles[item] = cycles - start
    stats[cl, CYCLES] = cycles
    stats[cl, PAIRS] = pairs_total
    stats[cl, JOINS] = joins
    stats[cl, STEPS] = steps
    stats[cl, BUSY_CU_CYCLES] = busy
    stats[cl, IDLE_CU_CYCLES] = idle - busy


@njit(cache=True, parallel=True)
def _run_clusters(item_ptr, item_pass, item_pos, slots, group_of, wmask, woff, wvals, amask,
                  aoff, avals, geometry, multipliers, overhead, compute, acc, item_cycles,
                  stats):
    for cl in prange(len(item_ptr) - 1):
        _run_cluster(cl, item_ptr, item_pass, item_pos, slots, group_of, wmask, woff, wvals,
                     amask, aoff, avals, geometry, multipliers, overhead, compute, acc,
                     item_cycles, stats)


def run_clusters(item_ptr, item_pass, item_pos, slots, group_of, wmask, woff, wvals, amask,
                 aoff, avals, *, kernel_w: int, stride: tuple[int, int], out_w: int,
                 n_sub: int, multipliers: int, overhead: int, n_positions: int,
                 compute: bool = True):
    """Run every cluster on its items (module docstring).

    * ``item_ptr``: cluster ``c`` runs items ``item_ptr[c]:item_ptr[c + 1]``, each the pass
      ``item_pass[i]`` at output position ``item_pos[i]`` (row-major);
    * ``slots`` ``passes x chunks x cus x per_cu``: the filter each CU slot joins at each
      chunk of a pass (``-1``: empty); ``group_of[f]``: the input group filter ``f`` reads;
    * the SparseMaps as described above (``wvals`` / ``avals`` 1-D packed values).

    Returns ``(acc filters x positions, cycles per item, stats clusters x N_STATS)`` (``acc``
    all zero without ``compute``: the pairs are counted, not multiplied); a
    step's CU-cycles not spent multiplying count as idle (``IDLE_CU_CYCLES``, in multiplier
    cycles: ``steps' cycles x cus x multipliers - pairs``).
    """
    if multipliers < 1 or overhead < 0:
        raise ValueError("multipliers must be >= 1 and overhead >= 0")
    integer = np.issubdtype(wvals.dtype, np.integer)
    kind = np.int64 if integer else np.float64
    acc = np.zeros((len(group_of), n_positions), dtype=kind)
    # a dummy value keeps the packed arrays non-empty (an all-zero tensor packs nothing)
    wvals = np.concatenate([wvals.astype(kind), np.zeros(1, kind)])
    avals = np.concatenate([avals.astype(kind), np.zeros(1, kind)])
    item_cycles = np.zeros(len(item_pass), dtype=np.int64)
    stats = np.zeros((len(item_ptr) - 1, N_STATS), dtype=np.int64)
    geometry = np.array([kernel_w, stride[0], stride[1], out_w, n_sub], dtype=np.int64)
    i64 = np.int64
    _run_clusters(np.ascontiguousarray(item_ptr, i64), np.ascontiguousarray(item_pass, i64),
                  np.ascontiguousarray(item_pos, i64), np.ascontiguousarray(slots, i64),
                  np.ascontiguousarray(group_of, i64), np.ascontiguousarray(wmask, np.uint64),
                  np.ascontiguousarray(woff, i64), wvals, np.ascontiguousarray(amask, np.uint64),
                  np.ascontiguousarray(aoff, i64), avals, geometry, multipliers, overhead,
                  compute, acc, item_cycles, stats)
    return acc, item_cycles, stats
