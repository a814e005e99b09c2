"""SparTen's inner join, chunk by chunk on SparseMaps: real outputs and per-cluster cycles.

SparseMap. A tensor piece (a *chunk*: up to ``chunk`` consecutive channels of one filter tap
or of one input pixel) is a bit mask (``words`` uint64 words, bit ``b`` of word ``w`` set
when element ``64 w + b`` is non-zero) plus its non-zero values. The kernel takes the masks
and the chunks' values in place (``wdense[f * n_chunks + k]``, ``adense[row]``, ``chunk``
values each): a matched pair's operands are read at its bit's position, the values the
prefix-sum circuit fetches from the packed ones. ``wmask[f * n_chunks + k]`` is the mask of
chunk ``k`` of filter ``f``; ``k = (r * S + s) * n_sub + c`` walks the reduction tap by tap,
``n_sub`` chunks of channels per tap. ``amask[((g * Hp + y) * Wp + x) * n_sub + c]`` is the
mask of the (zero-padded) input of group ``g`` at pixel ``(y, x)``, channel chunk ``c``.

The join of a filter chunk with an input chunk (one compute unit, CU): AND the masks; each
set bit of the AND is an effectual pair; the CU multiplies ``multipliers`` pairs a cycle, so
the join takes ``ceil(pairs / multipliers) + overhead`` cycles, ``pairs`` the popcount of
the AND.

A cluster runs *items* ``(pass j, output position p)``: for each reduction chunk ``k`` of the
window at ``p`` (gathered at the layer's stride) it broadcasts the input chunk to its CUs;
CU ``u`` joins it with each of its filters ``slots[j, k, u, :]`` (``-1``: empty slot) and
the cluster moves to the next chunk when its slowest CU is done (the load imbalance)::

    step(j, p, k) = max_u  sum_{f in slots[j, k, u]}  ceil(pairs(f, k, p) / multipliers) + overhead

Clusters are independent (``prange``; item ``(j, p)`` is one cluster's, and so are the
outputs ``(f, p)`` of the pass's filters); the values are exact (int64 for fixed point).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

# Per-cluster statistics columns.
CYCLES, PAIRS, JOINS, STEPS, BUSY_CU_CYCLES, IDLE_CU_CYCLES = range(6)
N_STATS = 6

DENSE_DOT_DENSITY = 16
"""A fixed-point join sums the dense dot product of the two chunks when its pairs are at
least ``1 / DENSE_DOT_DENSITY`` of the chunk's elements, else it walks the AND's set bits
(a speed choice only: both sums are exact and equal)."""


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
    return types.int64(types.uint64), codegen


@njit(cache=True)
def chunk_masks(chunks):
    """``rows x chunk`` values -> their SparseMap masks (``rows x words`` uint64, bit ``b``
    of word ``w`` set when element ``64 w + b`` is non-zero) and non-zeros per row."""
    rows, width = chunks.shape
    masks = np.zeros((rows, (width + 63) // 64), np.uint64)
    nonzeros = np.zeros(rows, np.int64)
    for row in range(rows):
        for i in range(width):
            if chunks[row, i] != 0:
                masks[row, i >> 6] |= np.uint64(1) << np.uint64(i & 63)
                nonzeros[row] += 1
    return masks, nonzeros


@njit(cache=True)
def greedy(loads, bins, capacity):
    """Greedy balancing of each row of ``loads`` (``rows x n``, integers) -> the bin of each
    item: items taken heaviest first (ties in item order), each to the least-loaded bin with
    a free slot (ties: the first such bin)."""
    rows, n = loads.shape
    target_of = np.empty((rows, n), np.int64)
    for row in range(rows):
        order = np.argsort(-loads[row], kind="mergesort")
        totals = np.zeros(bins, np.int64)
        filled = np.zeros(bins, np.int64)
        for item in order:
            target = -1
            for b in range(bins):
                if filled[b] < capacity and (target < 0 or totals[b] < totals[target]):
                    target = b
            target_of[row, item] = target
            totals[target] += loads[row, item]
            filled[target] += 1
    return target_of


@njit(cache=True)
def fill_slots(slots, j, members, bin_of_member):
    """``slots[j, k, bin, :]`` <- the members in bin ``bin_of_member[k, i]`` at chunk
    ``k``, in member order."""
    for k in range(bin_of_member.shape[0]):
        used = np.zeros(slots.shape[2], np.int64)
        for i in range(len(members)):
            b = bin_of_member[k, i]
            slots[j, k, b, used[b]] = members[i]
            used[b] += 1


@njit(cache=True, inline="always")
def join(wmask, wdense, amask, adense, w_row, a_row, compute, zero, exact):
    """Effectual pairs of filter chunk ``w_row`` and input chunk ``a_row`` (the popcount of
    their masks' AND) and the sum of their products in ``zero``'s type (``zero`` without
    ``compute``). ``zero + w`` widens an operand before the product (int64, or float64 for
    fp32, as the accumulator). With ``exact`` (integer sums) a chunk with many pairs takes
    the dense dot product (its zero products add nothing; SIMD makes it cheaper than
    walking the bits); a sparse chunk, and every float chunk (its sum keeps the element
    order), walks the AND's set bits."""
    words, width = wmask.shape[1], wdense.shape[1]
    pairs = 0
    for word in range(words):
        pairs += _popcount(wmask[w_row, word] & amask[a_row, word])
    total = zero
    if not compute or pairs == 0:
        return pairs, total
    if exact and pairs * DENSE_DOT_DENSITY >= width:
        for i in range(width):
            total += (zero + wdense[w_row, i]) * adense[a_row, i]
        return pairs, total
    for word in range(words):
        both = wmask[w_row, word] & amask[a_row, word]
        while both:
            i = 64 * word + _trailing_zeros(both)
            total += (zero + wdense[w_row, i]) * adense[a_row, i]
            both &= both - np.uint64(1)
    return pairs, total


@njit(cache=True)
def _run_cluster(cl, item_ptr, item_pass, item_pos, slots, group_of, wmask, wdense, amask,
                 adense, geometry, multipliers, overhead, compute, zero, exact, acc,
                 item_cycles, stats):
    kernel_w, stride_h, stride_w, out_w, n_sub, in_h, in_w = geometry
    n_chunks, cus, per_cu = slots.shape[1], slots.shape[2], slots.shape[3]
    group_rows = in_h * in_w * n_sub
    cycles = pairs_total = joins = steps = busy = idle = 0
    for item in range(item_ptr[cl], item_ptr[cl + 1]):
        j, p = item_pass[item], item_pos[item]
        y0, x0 = (p // out_w) * stride_h, (p % out_w) * stride_w
        start = cycles
        for k in range(n_chunks):
            tap, c = k // n_sub, k % n_sub
            a_pixel = ((y0 + tap // kernel_w) * in_w + x0 + tap % kernel_w) * n_sub + c
            slowest = 0
            for u in range(cus):
                t = 0
                for s in range(per_cu):
                    f = slots[j, k, u, s]
                    if f < 0:
                        continue
                    n, total = join(wmask, wdense, amask, adense, f * n_chunks + k,
                                    group_of[f] * group_rows + a_pixel, compute, zero, exact)
                    if n and compute:
                        acc[f, p] += total
                    pairs_total += n
                    joins += 1
                    # (no division in the common one-multiplier CU)
                    t += (n if multipliers == 1 else (n + multipliers - 1) // multipliers) \
                        + overhead
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
def _run_clusters(item_ptr, item_pass, item_pos, slots, group_of, wmask, wdense, amask,
                  adense, geometry, multipliers, overhead, compute, zero, exact, acc,
                  item_cycles, stats):
    for cl in prange(len(item_ptr) - 1):
        _run_cluster(cl, item_ptr, item_pass, item_pos, slots, group_of, wmask, wdense,
                     amask, adense, geometry, multipliers, overhead, compute, zero, exact,
                     acc, item_cycles, stats)


def run_clusters(item_ptr, item_pass, item_pos, slots, group_of, wmask, wchunks, amask,
                 achunks, *, kernel_w: int, stride: tuple[int, int], out_w: int,
                 multipliers: int, overhead: int, n_positions: int, compute: bool = True):
    """Run every cluster on its items (module docstring).

    * ``item_ptr``: cluster ``c`` runs items ``item_ptr[c]:item_ptr[c + 1]``, each the pass
      ``item_pass[i]`` at output position ``item_pos[i]`` (row-major);
    * ``slots`` ``passes x chunks x cus x per_cu``: the filter each CU slot joins at each
      chunk of a pass (``-1``: empty); ``group_of[f]``: the input group filter ``f`` reads;
    * ``wchunks`` ``M x chunks x chunk`` and ``achunks`` ``G x Hp x Wp x n_sub x chunk``:
      the chunks' values (int16 codes or float32), ``wmask`` / ``amask`` their masks in
      the same order, a row of ``words`` per chunk (:func:`chunk_masks`).

    Returns ``(acc filters x positions, cycles per item, stats clusters x N_STATS)`` (``acc``
    all zero without ``compute``: the pairs are counted, not multiplied); a
    step's CU-cycles not spent multiplying count as idle (``IDLE_CU_CYCLES``, in multiplier
    cycles: ``steps' cycles x cus x multipliers - pairs``).
    """
    if multipliers < 1 or overhead < 0:
        raise ValueError("multipliers must be >= 1 and overhead >= 0")
    integer = np.issubdtype(wchunks.dtype, np.integer)
    kind = np.int64 if integer else np.float64
    acc = np.zeros((len(group_of), n_positions), dtype=kind)
    item_cycles = np.zeros(len(item_pass), dtype=np.int64)
    stats = np.zeros((len(item_ptr) - 1, N_STATS), dtype=np.int64)
    _, in_h, in_w, n_sub, width = achunks.shape
    geometry = np.array([kernel_w, stride[0], stride[1], out_w, n_sub, in_h, in_w],
                        dtype=np.int64)
    words = wmask.shape[-1]
    i64 = np.int64
    _run_clusters(np.ascontiguousarray(item_ptr, i64), np.ascontiguousarray(item_pass, i64),
                  np.ascontiguousarray(item_pos, i64), np.ascontiguousarray(slots, i64),
                  np.ascontiguousarray(group_of, i64),
                  np.ascontiguousarray(wmask, np.uint64).reshape(-1, words),
                  np.ascontiguousarray(wchunks).reshape(-1, width),
                  np.ascontiguousarray(amask, np.uint64).reshape(-1, words),
                  np.ascontiguousarray(achunks, wchunks.dtype).reshape(-1, width),
                  geometry, multipliers, overhead, compute, kind(0), integer, acc, item_cycles,
                  stats)
    return acc, item_cycles, stats
