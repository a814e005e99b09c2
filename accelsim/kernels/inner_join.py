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

How it is computed (issue 22; the numbers are the definitions above): a step counts all its
slots' pairs at once, one input mask word ANDed with the slots' mask words gathered
contiguously per pass and chunk (:func:`slot_tables`; a pass whose filters read several
input groups finds each slot's input row instead). The sums: fp32 joins walk their pairs
in element order and add in chunk order (float sums keep the order); fixed-point sums are
exact integers in any order, so a layer with many positions sums by input chunk (each
non-zero input element times the pass's weights of that element, one vector of
accumulators per pass: :func:`_add_input_chunk`), and the others join by join
(:func:`join_sum`).
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

INPUT_CHUNK_MIN_POSITIONS = 16
"""From this many output positions a fixed-point layer whose passes each read one input
group sums by input chunk (:func:`_add_input_chunk`: each non-zero input element times the
pass's weights of that element, on a slot-ordered copy of the weights) instead of join by
join; below it (an fc layer has one position) the copy would cost more than it saves (our
choice; a speed choice only: the sums are exact and equal)."""


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
    of word ``w`` set when element ``64 w + b`` is non-zero) and non-zeros per row (each
    word built branch-free, its non-zeros its popcount)."""
    rows, width = chunks.shape
    masks = np.zeros((rows, (width + 63) // 64), np.uint64)
    nonzeros = np.zeros(rows, np.int64)
    for row in range(rows):
        for word in range(masks.shape[1]):
            bits = np.uint64(0)
            for b in range(min(64, width - 64 * word)):
                bits |= np.uint64(chunks[row, 64 * word + b] != 0) << np.uint64(b)
            masks[row, word] = bits
            nonzeros[row] += _popcount(bits)
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
def join_pairs(wmask, amask, w_row, a_row):
    """Effectual pairs of filter chunk ``w_row`` and input chunk ``a_row``: the popcount
    of their masks' AND."""
    pairs = 0
    for word in range(wmask.shape[1]):
        pairs += _popcount(wmask[w_row, word] & amask[a_row, word])
    return pairs


@njit(cache=True, inline="always")
def join_sum(wmask, wdense, amask, adense, w_row, a_row, pairs, zero, exact):
    """The sum of the ``pairs`` matched products of a join in ``zero``'s type. ``zero + w``
    widens an operand before the product (int64, or float64 for fp32, as the accumulator).
    With ``exact`` (integer sums) a chunk with many pairs takes the dense dot product (its
    zero products add nothing; SIMD makes it cheaper than walking the bits); a sparse
    chunk, and every float chunk (its sum keeps the element order), walks the AND's set
    bits."""
    words, width = wmask.shape[1], wdense.shape[1]
    total = zero
    if exact and pairs * DENSE_DOT_DENSITY >= width:
        for i in range(width):
            total += (zero + wdense[w_row, i]) * adense[a_row, i]
        return total
    for word in range(words):
        both = wmask[w_row, word] & amask[a_row, word]
        while both:
            i = 64 * word + _trailing_zeros(both)
            total += (zero + wdense[w_row, i]) * adense[a_row, i]
            both &= both - np.uint64(1)
    return total


@njit(cache=True, inline="always")
def join(wmask, wdense, amask, adense, w_row, a_row, compute, zero, exact):
    """One join: its pairs (:func:`join_pairs`) and, with ``compute``, the sum of their
    products (:func:`join_sum`; ``zero`` without ``compute`` or pairs)."""
    pairs = join_pairs(wmask, amask, w_row, a_row)
    if not compute or pairs == 0:
        return pairs, zero
    return pairs, join_sum(wmask, wdense, amask, adense, w_row, a_row, pairs, zero, exact)


@njit(cache=True)
def slot_tables(slots, group_of, wmask, group_rows, overhead):
    """Per pass and chunk, what a step needs from its slots, gathered once per layer:

    * ``masks[j, k, word, u * per_cu + s]``: the mask word of the filter chunk in slot
      ``(u, s)`` (zero when empty), so a step ANDs one input word with contiguous words;
    * ``cu_overhead[j, k, u]``: ``overhead`` times CU ``u``'s filled slots;
    * ``joins_at[j, k]``: the filled slots;
    * ``pass_row[j]``: the input row offset of the pass's group when all its filters read
      one group (else ``-1``: each slot finds its own row);
    * ``local_of[f]``: filter ``f``'s slot at chunk 0, its accumulator within the pass."""
    passes, n_chunks, cus, per_cu = slots.shape
    words = wmask.shape[1]
    masks = np.zeros((passes, n_chunks, words, cus * per_cu), np.uint64)
    cu_overhead = np.zeros((passes, n_chunks, cus), np.int64)
    joins_at = np.zeros((passes, n_chunks), np.int64)
    pass_row = np.full(passes, -1, np.int64)
    local_of = np.zeros(len(group_of), np.int64)
    for j in range(passes):
        first, mixed = -1, False
        for k in range(n_chunks):
            for u in range(cus):
                for s in range(per_cu):
                    f = slots[j, k, u, s]
                    if f < 0:
                        continue
                    for word in range(words):
                        masks[j, k, word, u * per_cu + s] = wmask[f * n_chunks + k, word]
                    cu_overhead[j, k, u] += overhead
                    joins_at[j, k] += 1
                    if k == 0:
                        local_of[f] = u * per_cu + s
                    row = group_of[f] * group_rows
                    mixed |= first >= 0 and row != first
                    first = row if first < 0 else first
        pass_row[j] = -1 if mixed else first
    return masks, cu_overhead, joins_at, pass_row, local_of


@njit(cache=True)
def pass_weights(slots, wdense):
    """``wt[j, k, e, u * per_cu + s]``: element ``e`` of chunk ``k`` of the filter in slot
    ``(u, s)`` of pass ``j`` at chunk 0 (zero when empty): a pass's weights of one element,
    contiguous, for :func:`_add_input_chunk`."""
    passes, n_chunks, cus, per_cu = slots.shape
    width = wdense.shape[1]
    wt = np.zeros((passes, n_chunks, width, cus * per_cu), wdense.dtype)
    for j in range(passes):
        for i in range(cus * per_cu):
            f = slots[j, 0, i // per_cu, i % per_cu]
            if f >= 0:
                for k in range(n_chunks):
                    wt[j, k, :, i] = wdense[f * n_chunks + k]
    return wt


@njit(cache=True, inline="always")
def _add_input_chunk(local, wt_k, amask, adense, a_row, nonzero, zero):
    """``local[i] += sum_e adense[a_row, e] * wt_k[e, i]`` over the input chunk's non-zero
    elements ``e`` (its mask's bits), four at a time: every filter of a pass takes the
    input chunk's products in one vector pass per element, exact in int64 (the same
    integers the joins sum: a zero weight adds nothing)."""
    n = 0
    for word in range(amask.shape[1]):
        bits = amask[a_row, word]
        while bits:
            nonzero[n] = 64 * word + _trailing_zeros(bits)
            n += 1
            bits &= bits - np.uint64(1)
    q = 0
    while q + 4 <= n:
        e0, e1, e2, e3 = nonzero[q], nonzero[q + 1], nonzero[q + 2], nonzero[q + 3]
        a0, a1 = zero + adense[a_row, e0], zero + adense[a_row, e1]
        a2, a3 = zero + adense[a_row, e2], zero + adense[a_row, e3]
        w0, w1, w2, w3 = wt_k[e0], wt_k[e1], wt_k[e2], wt_k[e3]
        for i in range(len(local)):
            local[i] += a0 * w0[i] + a1 * w1[i] + a2 * w2[i] + a3 * w3[i]
        q += 4
    for e in nonzero[q:n]:
        a0, w0 = zero + adense[a_row, e], wt_k[e]
        for i in range(len(local)):
            local[i] += a0 * w0[i]


@njit(cache=True)
def _run_cluster(cl, item_ptr, item_pass, item_pos, slots, group_of, tables, wt, wmask,
                 wdense, amask, adense, geometry, multipliers, compute, zero, exact, acc,
                 item_cycles, stats):
    """Cluster ``cl``'s items. A step counts every slot's pairs at once (one input mask
    word ANDed with the slots' contiguous words, :func:`slot_tables`); with ``compute`` the
    joins with pairs add their sums to the pass's accumulators, which go to ``acc`` once
    per item (a filter's sums add in chunk order, as one accumulator would)."""
    masks, cu_overhead, joins_at, pass_row, local_of = tables
    kernel_w, stride_h, stride_w, out_w, n_sub, in_h, in_w = geometry
    n_chunks, cus, per_cu = slots.shape[1], slots.shape[2], slots.shape[3]
    n_slots, words = cus * per_cu, wmask.shape[1]
    group_rows = in_h * in_w * n_sub
    pairs = np.zeros(n_slots, np.int64)
    local = np.zeros(n_slots, acc.dtype)
    nonzero = np.zeros(64 * words, np.int64)
    cycles = pairs_total = joins = steps = idle = 0
    for item in range(item_ptr[cl], item_ptr[cl + 1]):
        j, p = item_pass[item], item_pos[item]
        y0, x0 = (p // out_w) * stride_h, (p % out_w) * stride_w
        start = cycles
        local[:] = zero
        for k in range(n_chunks):
            tap, c = k // n_sub, k % n_sub
            a_pixel = ((y0 + tap // kernel_w) * in_w + x0 + tap % kernel_w) * n_sub + c
            step_masks, filters = masks[j, k], slots[j, k].ravel()
            if pass_row[j] >= 0:
                pairs[:] = 0
                for word in range(words):
                    a_word = amask[pass_row[j] + a_pixel, word]
                    for i in range(n_slots):
                        pairs[i] += _popcount(step_masks[word, i] & a_word)
            else:
                for i in range(n_slots):
                    f = filters[i]
                    pairs[i] = 0 if f < 0 else join_pairs(
                        wmask, amask, f * n_chunks + k, group_of[f] * group_rows + a_pixel)
            slowest = 0
            for u in range(cus):
                t = cu_overhead[j, k, u]
                for i in range(u * per_cu, (u + 1) * per_cu):
                    # (no division in the common one-multiplier CU)
                    t += pairs[i] if multipliers == 1 else \
                        (pairs[i] + multipliers - 1) // multipliers
                slowest = max(slowest, t)
            pairs_total += pairs.sum()
            joins += joins_at[j, k]
            cycles += slowest
            steps += 1
            idle += slowest * cus * multipliers
            if compute and len(wt) and pass_row[j] >= 0:
                _add_input_chunk(local, wt[j, k], amask, adense, pass_row[j] + a_pixel,
                                 nonzero, zero)
            elif compute:
                for i in range(n_slots):
                    if pairs[i]:
                        f = filters[i]
                        local[local_of[f]] += join_sum(
                            wmask, wdense, amask, adense, f * n_chunks + k,
                            group_of[f] * group_rows + a_pixel, pairs[i], zero, exact)
        if compute:
            for i, f in enumerate(slots[j, 0].ravel()):
                if f >= 0:
                    acc[f, p] += local[i]
        item_cycles[item] = cycles - start
    stats[cl, CYCLES] = cycles
    stats[cl, PAIRS] = pairs_total
    stats[cl, JOINS] = joins
    stats[cl, STEPS] = steps
    stats[cl, BUSY_CU_CYCLES] = pairs_total
    stats[cl, IDLE_CU_CYCLES] = idle - pairs_total


@njit(cache=True, parallel=True)
def _run_clusters(item_ptr, item_pass, item_pos, slots, group_of, tables, wt, wmask,
                  wdense, amask, adense, geometry, multipliers, compute, zero, exact, acc,
                  item_cycles, stats):
    for cl in prange(len(item_ptr) - 1):
        _run_cluster(cl, item_ptr, item_pass, item_pos, slots, group_of, tables, wt, wmask,
                     wdense, amask, adense, geometry, multipliers, compute, zero, exact, acc,
                     item_cycles, stats)


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
    slots, group_of = np.ascontiguousarray(slots, i64), np.ascontiguousarray(group_of, i64)
    wmask = np.ascontiguousarray(wmask, np.uint64).reshape(-1, words)
    wdense = np.ascontiguousarray(wchunks).reshape(-1, width)
    tables = slot_tables(slots, group_of, wmask, in_h * in_w * n_sub, overhead)
    by_input = compute and integer and n_positions >= INPUT_CHUNK_MIN_POSITIONS
    wt = pass_weights(slots, wdense) if by_input else np.zeros((0, 0, 0, 0), wdense.dtype)
    _run_clusters(np.ascontiguousarray(item_ptr, i64), np.ascontiguousarray(item_pass, i64),
                  np.ascontiguousarray(item_pos, i64), slots, group_of, tables, wt, wmask,
                  wdense, np.ascontiguousarray(amask, np.uint64).reshape(-1, words),
                  np.ascontiguousarray(achunks, wchunks.dtype).reshape(-1, width),
                  geometry, multipliers, compute, kind(0), integer, acc, item_cycles, stats)
    return acc, item_cycles, stats
