"""Eyeriss v2's PEs in the compressed domain: CSC weights and input activations, the real
outputs and the cycles of every PE pass in one walk over the non-zeros.

The reduction of a conv or fc output ``(m, p)`` (filter ``m``, output position ``p``) runs
over ``K = C/G x R x S`` elements ``k`` in ``(c, r, s)`` order (an fc is a conv whose kernel
covers its input). The layer is cut into:

* **lanes** ``l = (g, mb)``: group ``g`` and a block of ``m_block`` of its output channels
  (the psums of one position a PE keeps in its psum spad);
* **k-ranges** ``r``: contiguous reduction ranges ``k_cuts[r]:k_cuts[r + 1]``, the same for
  every lane (the weights of one PE pass);
* **segments** ``s``: contiguous output positions ``seg_cuts[s]:seg_cuts[s + 1]``.

A *task* (PE pass) is one ``(g, r, mb, s)``: a PE holds the lane's weights of k-range ``r``
and streams the segment's positions through them.

CSC weights (:func:`weight_csc`): one column per ``(lane, k)``; an entry is a SIMD word of
``simd`` consecutive output channels of the lane (slot = the first channel's offset in the
block, the count vector of the chip in index form) stored when any of them is non-zero, its
``simd`` values beside it (zeros included: the word is stored whole). ``ptr`` is the address
vector. CSC iacts (:func:`iact_csc`): one column per ``(g, r, p)``, the non-zero elements of
position ``p``'s input window in k-range ``r``: row (``k - k_cuts[r]``) and value.

The walk (:func:`run_tasks`), per task and position: ``iact_addr_cycles`` to read the iact
column's address, then for each non-zero iact ``weight_addr_cycles`` to read its weight
column's address plus one cycle per stored SIMD word of that column; each word drives the
``simd`` MACs at once, a zero value in it leaves its MAC idle. Every non-zero weight times
the iact is added to ``acc[p, m]`` (int64 for fixed point, exact; float64 for fp32), so the
sums equal a dense execution's; the MACs are the column's non-zeros, counted once per
column. (A fixed-point column holding all its lane's words adds them as one vector, its
zero values included: the same exact sums, faster; fp32 keeps the order of the walk.)

:func:`count_tasks` (with :func:`weight_counts`) gives the walk's statistics, the same numbers,
without the CSC data or the sums: for fixed-point layers whose sums come from
:mod:`accelsim.kernels.exact_sums` (the PEs add exactly those integers). It counts how many
of a segment's positions have each window row non-zero from summed-area tables of the
padded input's non-zeros, so its work is per window row and segment, not per product.

Layout helpers: :func:`segments` (positions per task) and :class:`TaskLayout` (where each task
runs, where its psums go, and the per-(cluster, round) and per-round piece accounting the NoC
model uses, in one pass over the tasks in slot order).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Per-task statistics columns.
(CYCLES, MACS, IACTS, WORDS, POSITIONS) = range(5)
N_STATS = 5


def lanes_of(out_channels: int, groups: int, m_block: int) -> tuple[int, int, int]:
    """``(channels per group, blocks per group, lanes)`` for a lane block of ``m_block``."""
    mg = out_channels // groups
    m_block = min(m_block, mg)
    n_mb = -(-mg // m_block)
    return mg, n_mb, groups * n_mb


@njit(cache=True, parallel=True)
def _word_counts(w, groups, m_block, simd, words, nonzeros):
    """Add the SIMD words (``words[col]``) and non-zero weights (``nonzeros[col]``) of every
    ``(lane, k)`` column of ``w`` (``M x K``): each word's rows are read as whole rows of
    ``w``, branch-free (the loops over ``k`` vectorize; two-row words, ``simd`` 2, in one
    loop). Lanes own disjoint columns (``prange``)."""
    m_total, k_len = w.shape
    mg = m_total // groups
    n_mb = (mg + m_block - 1) // m_block
    for lane in prange(groups * n_mb):
        m0 = (lane // n_mb) * mg + (lane % n_mb) * m_block
        mc = min(m_block, mg - (lane % n_mb) * m_block)
        words_l = words[lane * k_len:(lane + 1) * k_len]
        nonzeros_l = nonzeros[lane * k_len:(lane + 1) * k_len]
        held = np.zeros(k_len, np.int64)          # whether the word holds a non-zero at k
        for j0 in range(0, mc, simd):
            first, n_rows = w[m0 + j0], min(j0 + simd, mc) - j0
            if n_rows == 2:
                second = w[m0 + j0 + 1]
                for k in range(k_len):
                    a, b = np.int64(first[k] != 0), np.int64(second[k] != 0)
                    words_l[k] += a | b
                    nonzeros_l[k] += a + b
                continue
            for k in range(k_len):
                held[k] = first[k] != 0
            for i in range(1, n_rows):
                row = w[m0 + j0 + i]
                for k in range(k_len):
                    held[k] |= row[k] != 0
                    nonzeros_l[k] += row[k] != 0
            for k in range(k_len):
                words_l[k] += held[k]
                nonzeros_l[k] += first[k] != 0


@njit(cache=True, parallel=True)
def _fill_words(w, groups, m_block, simd, ptr, slots, vals):
    """Write the SIMD words of every ``(lane, k)`` column at ``ptr[col]`` (a word when any of
    its ``simd`` channels is non-zero); a column's words land in increasing channel order.
    Lanes own disjoint columns (``prange``)."""
    m_total, k_len = w.shape
    mg = m_total // groups
    n_mb = (mg + m_block - 1) // m_block
    cursor = ptr.copy()
    for lane in prange(groups * n_mb):
        m0 = (lane // n_mb) * mg + (lane % n_mb) * m_block
        mc = min(m_block, mg - (lane % n_mb) * m_block)
        for j0 in range(0, mc, simd):
            first, n_rows = m0 + j0, min(j0 + simd, mc) - j0
            for k in range(k_len):
                hits = 0
                for i in range(n_rows):
                    hits += w[first + i, k] != 0
                if hits == 0:
                    continue
                col = lane * k_len + k
                q = cursor[col]
                slots[q] = j0
                for i in range(n_rows):
                    vals[q, i] = w[first + i, k]
                cursor[col] = q + 1


def weight_csc(w: np.ndarray, groups: int, m_block: int, simd: int):
    """CSC of ``w`` (``M x K``) by lane and column: ``(ptr, slots, vals, nonzeros)``;
    ``ptr`` has ``lanes * K + 1`` entries, ``vals`` is ``words x simd`` in ``w``'s dtype
    (int16 codes or float32: no wider copy), ``nonzeros`` the non-zero weights of each
    ``(lane, k)`` column."""
    mg = lanes_of(w.shape[0], groups, m_block)[0]
    ptr, nonzeros = weight_counts(w, groups, m_block, simd)
    slots = np.zeros(int(ptr[-1]), np.int64)
    vals = np.zeros((int(ptr[-1]), simd), w.dtype)
    _fill_words(np.ascontiguousarray(w), groups, min(m_block, mg), simd, ptr, slots, vals)
    return ptr, slots, vals, nonzeros


@njit(cache=True)
def k_cuts(words, lanes, k_len, max_columns, max_words):
    """Greedy common k-ranges: a range grows while it has at most ``max_columns`` columns
    and no lane holds more than ``max_words`` weight words in it (``words``: per
    ``(lane, k)`` word counts, lane-major)."""
    cuts = [0]
    held = np.zeros(lanes, np.int64)
    start = 0
    for k in range(k_len):
        fits = k - start < max_columns
        if fits:
            for lane in range(lanes):
                if held[lane] + words[lane * k_len + k] > max_words:
                    fits = False
                    break
        if not fits:
            cuts.append(k)
            start = k
            held[:] = 0
        for lane in range(lanes):
            held[lane] += words[lane * k_len + k]
    cuts.append(k_len)
    return np.array(cuts, dtype=np.int64)


@njit(cache=True, parallel=True)
def _iact_pass(xpad, cuts, geometry, ptr, rows, vals, fill):
    """Count (``fill`` false: into ``ptr[col + 1]``) or fill one column per (g, r, p); the
    window element ``(c, ky, kx)`` of ``k`` steps along the k-range (no division)."""
    cg, kh, kw, sh, sw, out_w, positions = geometry
    n_r = len(cuts) - 1
    groups = xpad.shape[0] // cg
    for gr in prange(groups * n_r):
        g, r = gr // n_r, gr % n_r
        k0 = cuts[r]
        c0, ky0, kx0 = g * cg + k0 // (kh * kw), (k0 // kw) % kh, k0 % kw
        for p in range(positions):
            y0, x0 = (p // out_w) * sh, (p % out_w) * sw
            col = gr * positions + p
            q = ptr[col] if fill else 0
            c, ky, kx = c0, ky0, kx0
            for k in range(k0, cuts[r + 1]):
                v = xpad[c, y0 + ky, x0 + kx]
                if v != 0:
                    if fill:
                        rows[q] = k - k0
                        vals[q] = v
                    q += 1
                kx += 1
                if kx == kw:
                    kx = 0
                    ky += 1
                    if ky == kh:
                        ky = 0
                        c += 1
            if not fill:
                ptr[col + 1] = q


def iact_csc(xpad: np.ndarray, cuts: np.ndarray, geometry: tuple):
    """CSC of the input windows, one column per ``(g, r, p)``: ``(ptr, rows, vals)``.
    ``xpad`` is the zero-padded ``C x H x W`` input; ``geometry`` is ``(C/G, R, S,
    stride_h, stride_w, out_w, positions)``."""
    groups = xpad.shape[0] // geometry[0]
    n_cols = groups * (len(cuts) - 1) * geometry[6]
    ptr = np.zeros(n_cols + 1, np.int64)
    rows = np.zeros(0, np.int16)
    vals = np.zeros(0, xpad.dtype)
    geometry = tuple(int(v) for v in geometry)
    _iact_pass(xpad, cuts, geometry, ptr, rows, vals, False)
    ptr = np.cumsum(ptr)
    rows = np.zeros(int(ptr[-1]), np.int16)
    vals = np.zeros(int(ptr[-1]), xpad.dtype)
    _iact_pass(xpad, cuts, geometry, ptr, rows, vals, True)
    return ptr, rows, vals


@njit(cache=True, parallel=True)
def _run_lanes(wptr, wslots, wvals, wflat, wnonzeros, iptr, irows, ivals, cuts, seg_cuts,
               shape, timing, compute, zero, exact, full_columns, acc, stats):
    groups, n_mb, mg, m_block, k_len, positions = shape
    iact_addr_cycles, weight_addr_cycles = timing
    simd = wvals.shape[1]
    n_r, n_s = len(cuts) - 1, len(seg_cuts) - 1
    for lane in prange(groups * n_mb):
        g, mb = lane // n_mb, lane % n_mb
        m0 = g * mg + mb * m_block
        mc = min(m_block, mg - mb * m_block)
        full = (mc + simd - 1) // simd                   # the words of a full column
        whole_words = exact and mc % simd == 0           # no padding value past the lane
        for r in range(n_r):
            column0 = lane * k_len + cuts[r]
            for s in range(n_s):
                cycles = macs = iacts = words = 0
                for p in range(seg_cuts[s], seg_cuts[s + 1]):
                    cycles += iact_addr_cycles
                    col = (g * n_r + r) * positions + p
                    for e in range(iptr[col], iptr[col + 1]):
                        a = ivals[e]
                        wc = column0 + irows[e]
                        e0, e1 = wptr[wc], wptr[wc + 1]
                        cycles += weight_addr_cycles + e1 - e0
                        iacts += 1
                        words += e1 - e0
                        macs += wnonzeros[wc]
                        if not compute:
                            continue
                        # unsigned indices below: no negative-index wrap (vectorizes)
                        row = np.uint64(p)
                        if exact and full_columns and e1 - e0 == full:
                            # the column's values are the lane's channels in order
                            at, first = np.uint64(m0), np.uint64(e0 * simd)
                            for i in range(np.uint64(mc)):
                                acc[row, at + i] += (zero + wflat[first + i]) * a
                            continue
                        if whole_words:      # a zero value adds an exact 0 in its lane
                            for q in range(np.uint64(e0), np.uint64(e1)):
                                at = np.uint64(m0 + wslots[q])
                                for i in range(np.uint64(simd)):
                                    acc[row, at + i] += (zero + wvals[q, i]) * a
                            continue
                        for q in range(e0, e1):
                            base = m0 + wslots[q]
                            for i in range(simd):
                                wv = wvals[q, i]
                                if wv != 0:
                                    acc[p, base + i] += (zero + wv) * a
                t = ((g * n_r + r) * n_mb + mb) * n_s + s
                stats[t, CYCLES] = cycles
                stats[t, MACS] = macs
                stats[t, IACTS] = iacts
                stats[t, WORDS] = words
                stats[t, POSITIONS] = seg_cuts[s + 1] - seg_cuts[s]


def run_tasks(weights: tuple, iacts: tuple, cuts: np.ndarray, seg_cuts: np.ndarray, *,
              groups: int, out_channels: int, m_block: int, k_len: int,
              iact_addr_cycles: int, weight_addr_cycles: int, compute: bool = True,
              full_columns: bool = True):
    """Walk every task (module docstring). ``weights`` and ``iacts`` are the
    :func:`weight_csc` and :func:`iact_csc` tuples. With ``full_columns`` (the tests turn
    it off to compare), a fixed-point column that stores every word of its lane adds its
    values as one contiguous vector; other fixed-point columns add every value of their
    words when the lane's channels fill whole words (zeros included: exact, and cheaper
    than testing each value). Returns ``(acc positions x M, stats tasks x N_STATS)`` with tasks in
    ``(g, r, mb, s)`` order."""
    wptr, wslots, wvals, wnonzeros = weights
    iptr, irows, ivals = iacts
    mg, n_mb, lanes = lanes_of(out_channels, groups, m_block)
    positions = (len(iptr) - 1) // (groups * (len(cuts) - 1))
    integer = np.issubdtype(wvals.dtype, np.integer)
    kind = np.int64 if integer else np.float64
    acc = np.zeros((positions if compute else 0, out_channels), kind)
    n_tasks = lanes * (len(cuts) - 1) * (len(seg_cuts) - 1)
    stats = np.zeros((n_tasks, N_STATS), np.int64)
    shape = (groups, n_mb, mg, min(m_block, mg), k_len, positions)
    _run_lanes(wptr, wslots, wvals, wvals.reshape(-1), wnonzeros, iptr, irows, ivals,
               np.ascontiguousarray(cuts, np.int64), np.ascontiguousarray(seg_cuts, np.int64),
               shape, (int(iact_addr_cycles), int(weight_addr_cycles)), compute, kind(0),
               integer, full_columns, acc, stats)
    return acc, stats


def weight_counts(w: np.ndarray, groups: int, m_block: int, simd: int):
    """``(ptr, nonzeros)`` of :func:`weight_csc` without the words themselves: all
    :func:`count_tasks` needs (a layer whose sums come from elsewhere), and where
    :func:`weight_csc` writes the words."""
    m_total, k_len = w.shape
    mg, _, lanes = lanes_of(m_total, groups, m_block)
    ptr = np.zeros(lanes * k_len + 1, np.int64)
    nonzeros = np.zeros(lanes * k_len, np.int64)
    _word_counts(np.ascontiguousarray(w), groups, min(m_block, mg), simd, ptr[1:], nonzeros)
    return np.cumsum(ptr), nonzeros


@njit(cache=True)
def _nonzero_tables(xpad, sh, sw, tables):
    """Summed-area tables of the non-zeros of the padded input on each stride phase's
    lattice: ``tables[c, py * sw + px, i, j]`` is how many of ``xpad[c, py + a * sh,
    px + b * sw]`` with ``a < i``, ``b < j`` are non-zero. One pass over the input."""
    channels, height, width = xpad.shape
    for c in range(channels):
        for py in range(sh):
            for px in range(sw):
                table = tables[c, py * sw + px]
                for i in range((height - py + sh - 1) // sh):
                    run = 0
                    for j in range((width - px + sw - 1) // sw):
                        run += xpad[c, py + i * sh, px + j * sw] != 0
                        table[i + 1, j + 1] = table[i, j + 1] + run


@njit(cache=True)
def _box(table, y0, y1, x0, x1):
    """Non-zeros of the lattice rectangle ``[y0, y1) x [x0, x1)`` of a summed-area table."""
    return table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]


@njit(cache=True)
def _count_ranges(tables, words, nonzeros, cuts, seg_cuts, geometry, n_mb, timing, stats):
    """:func:`_run_lanes`'s statistics without the walk: per ``(g, r)`` and segment,
    ``hits[k]`` is how many of the segment's positions have window row ``k`` non-zero, read
    from the summed-area tables of :func:`_nonzero_tables` (a segment's positions are at most
    three rectangles of output rows; window row ``k`` shifts them by its ``(ky, kx)``); a
    lane block walks column ``k`` that often, so its words and MACs are the sums of ``hits``
    times the columns' ``words`` and ``nonzeros`` (lane-major, ``lanes x K``). A task's
    cycles: per position ``iact_addr_cycles``, per non-zero iact ``weight_addr_cycles``, per
    word one (integer sums: the same in any order). Serial: a few loads per (window row,
    segment) cost less than waking a thread pool (VGG-16's 16 layers: ~45 ms, one thread)."""
    cg, kh, kw, sh, sw, out_w, positions = geometry
    iact_addr_cycles, weight_addr_cycles = timing
    k_len = cg * kh * kw
    n_r, n_s = len(cuts) - 1, len(seg_cuts) - 1
    groups = tables.shape[0] // cg
    for gr in range(groups * n_r):
        g, r = gr // n_r, gr % n_r
        k0, k1 = cuts[r], cuts[r + 1]
        lane0 = g * n_mb
        hits = np.zeros(k1 - k0, np.int64)
        for s in range(n_s):
            p0, p1 = seg_cuts[s], seg_cuts[s + 1]
            oy0, ox0 = p0 // out_w, p0 % out_w
            oy1, ox1 = (p1 - 1) // out_w, (p1 - 1) % out_w + 1
            c, ky, kx = g * cg + k0 // (kh * kw), (k0 // kw) % kh, k0 % kw
            for k in range(k1 - k0):        # stepping (c, ky, kx) as _iact_pass does
                table = tables[c, (ky % sh) * sw + kx % sw]
                dy, dx = ky // sh, kx // sw
                if p1 <= p0:
                    hits[k] = 0
                elif oy0 == oy1:
                    hits[k] = _box(table, oy0 + dy, oy0 + dy + 1, ox0 + dx, ox1 + dx)
                else:                       # first row's tail, whole rows, last row's head
                    hits[k] = (_box(table, oy0 + dy, oy0 + dy + 1, ox0 + dx, out_w + dx)
                               + _box(table, oy0 + dy + 1, oy1 + dy, dx, out_w + dx)
                               + _box(table, oy1 + dy, oy1 + dy + 1, dx, ox1 + dx))
                kx += 1
                if kx == kw:
                    kx = 0
                    ky += 1
                    if ky == kh:
                        ky = 0
                        c += 1
            iacts = hits.sum()
            n_pos = p1 - p0
            for mb in range(n_mb):
                column0 = (lane0 + mb) * k_len + k0
                held = macs = 0
                for k in range(k1 - k0):
                    held += hits[k] * words[column0 + k]
                    macs += hits[k] * nonzeros[column0 + k]
                t = (gr * n_mb + mb) * n_s + s
                stats[t, CYCLES] = (n_pos * iact_addr_cycles + iacts * weight_addr_cycles
                                    + held)
                stats[t, MACS] = macs
                stats[t, IACTS] = iacts
                stats[t, WORDS] = held
                stats[t, POSITIONS] = n_pos


def count_tasks(xpad: np.ndarray, weights: tuple, cuts: np.ndarray, seg_cuts: np.ndarray,
                geometry: tuple, *, n_mb: int, iact_addr_cycles: int,
                weight_addr_cycles: int) -> np.ndarray:
    """:func:`run_tasks`'s ``stats`` (same tasks, same order, same numbers) without its
    sums or the iact CSC: for fixed-point layers whose sums come from
    :mod:`accelsim.kernels.exact_sums`. ``weights`` is :func:`weight_counts`'s
    ``(ptr, nonzeros)``; ``xpad`` and ``geometry`` as for :func:`iact_csc`."""
    ptr, nonzeros = weights
    geometry = tuple(int(v) for v in geometry)
    cg, sh, sw = geometry[0], geometry[3], geometry[4]
    groups = xpad.shape[0] // cg
    n_tasks = groups * n_mb * (len(cuts) - 1) * (len(seg_cuts) - 1)
    stats = np.zeros((n_tasks, N_STATS), np.int64)
    channels, height, width = xpad.shape
    tables = np.zeros((channels, sh * sw, -(-height // sh) + 1, -(-width // sw) + 1), np.int32)
    _nonzero_tables(np.ascontiguousarray(xpad), sh, sw, tables)
    _count_ranges(tables, np.diff(ptr), nonzeros, np.ascontiguousarray(cuts, np.int64),
                  np.ascontiguousarray(seg_cuts, np.int64), geometry, n_mb,
                  (int(iact_addr_cycles), int(weight_addr_cycles)), stats)
    return stats


def segments(blocks: int, positions: int, pes: int) -> int:
    """Position segments per block: of ``s <= min(positions, ceil(pes / blocks))``, the one
    minimising ``ceil(blocks * s / pes) / s`` (rounds per unit of work; the fewest segments
    on a tie), so small layers fill the array and large ones keep whole-layer passes."""
    best, best_time = 1, float("inf")
    for s in range(1, min(positions, -(-pes // blocks)) + 1):
        time = -(-blocks * s // pes) / s
        if time < best_time - 1e-12:
            best, best_time = s, time
    return best


class TaskLayout:
    """Index arrays of a layer's tasks in the kernel's ``(group, k-range, lane block,
    segment)`` order, where they run (round-robin over ``pes`` PEs, in chains) and where
    their psums go (to the next PE of the chain, from / to the psum GLB); and the per-row
    (``(cluster, round)``) and per-round totals of per-task figures the NoC model takes."""

    def __init__(self, groups: int, mg: int, n_mb: int, n_r: int, n_s: int, *, m_block: int,
                 pes: int, pes_per_cluster: int, chain: int) -> None:
        self.mg = mg
        self.m_block = min(m_block, mg)
        self.n_mb, self.n_r, self.n_s = n_mb, n_r, n_s
        self.pes, self.pes_per_cluster = pes, pes_per_cluster
        self.lanes = groups * n_mb
        t = np.arange(self.lanes * n_r * n_s, dtype=np.int64)
        self.s = t % n_s
        self.mb = (t // n_s) % n_mb
        self.r = (t // (n_s * n_mb)) % n_r
        self.g = t // (n_s * n_mb * n_r)
        self.lane = self.g * n_mb + self.mb
        # Placement: chains of ``chain`` consecutive k-ranges of one (lane, segment) on
        # consecutive PEs of a cluster (their psums flow PE to PE), then round-robin: a
        # task's slot is its rank in (group, chain, lane block, segment, k-range) order.
        link = self.r // chain
        link_len = np.minimum(chain, n_r - link * chain)
        slot = (self.g * (n_r * n_mb * n_s) + link * (chain * n_mb * n_s)
                + (self.mb * n_s + self.s) * link_len + self.r - link * chain)
        self.order = np.empty_like(t)            # the task in each slot
        self.order[slot] = t
        self.round = slot // pes
        self.rounds = int(self.round.max()) + 1 if len(t) else 0
        chain_last = (self.r % chain == chain - 1) | (self.r == n_r - 1)
        self.psum_to_next = ~chain_last
        self.psum_from_glb = (self.r % chain == 0) & (self.r > 0)
        self.psum_to_glb = chain_last & (self.r < n_r - 1)
        self.iact_piece = (self.g * n_r + self.r) * n_s + self.s
        self.weight_piece = self.lane * n_r + self.r
        self.psum_piece = self.lane * n_s + self.s
        # rows: (cluster, round) pairs holding a task, cluster by cluster (round-major slots
        # transposed); row_cluster is each row's cluster
        clusters = pes // pes_per_cluster
        held = (np.arange(self.rounds * clusters) * pes_per_cluster < len(t))
        self._rows = held.reshape(self.rounds, clusters).T.ravel()
        self.row_cluster = np.repeat(np.arange(clusters), self.rounds)[self._rows]

    def _by_row(self, per_slot_row: np.ndarray) -> np.ndarray:
        """Figures of the rows in slot order (round by round) -> cluster by cluster."""
        clusters = self.pes // self.pes_per_cluster
        full = np.zeros(self.rounds * clusters, per_slot_row.dtype)
        full[:len(per_slot_row)] = per_slot_row
        return full.reshape(self.rounds, clusters).T.ravel()[self._rows]

    def _slots(self, per_task: np.ndarray, width: int) -> np.ndarray:
        """``per_task`` in slot order, zero-padded to whole groups of ``width`` slots."""
        out = np.zeros(-(-len(per_task) // width) * width, np.int64)
        out[:len(per_task)] = per_task[self.order]
        return out.reshape(-1, width)

    def row_max(self, per_task: np.ndarray) -> np.ndarray:
        """Per row, the largest of its tasks' (non-negative) figures."""
        return self._by_row(self._slots(per_task, self.pes_per_cluster).max(axis=1))

    def row_sum(self, per_task: np.ndarray) -> np.ndarray:
        """Per row, the sum of its tasks' figures."""
        return self._by_row(self._slots(per_task, self.pes_per_cluster).sum(axis=1))

    def row_distinct(self, piece: np.ndarray, size: np.ndarray) -> np.ndarray:
        """Per row, the bytes of the distinct pieces its tasks need (each delivered once)."""
        _, sizes = _distinct_pieces(self.order, self.pes_per_cluster, piece, size,
                                    int(piece.max(initial=0)) + 1)
        return self._by_row(sizes)

    def round_distinct(self, piece: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, int]:
        """Per round, the distinct pieces its tasks need; and their bytes over all rounds
        (each read once a round at its source)."""
        count, sizes = _distinct_pieces(self.order, self.pes, piece, size,
                                        int(piece.max(initial=0)) + 1)
        return count, int(sizes.sum())

    def delivery_mode(self, piece: np.ndarray) -> tuple[str, float]:
        """Delivery mode of a data type over a layer and its mean fan-out (receivers per
        piece per round; the rule is in accelsim/arch/eyeriss_v2.py)."""
        per_round, _ = self.round_distinct(piece, np.zeros(len(piece), np.int64))
        fanout = len(piece) / int(per_round.sum())
        if fanout == 1:
            return "unicast", 1.0
        if (per_round == 1).all():
            return "broadcast", fanout
        return "multicast", fanout


@njit(cache=True)
def _distinct_pieces(order, width, piece, size, n_pieces):
    """Per group of ``width`` consecutive slots (``order``: the task in each slot), how many
    distinct pieces its tasks need and their ``size`` sum (a piece's size is the same for
    every task needing it); ``seen`` keeps the last group that counted each piece."""
    n_groups = (len(order) + width - 1) // width
    count = np.zeros(n_groups, np.int64)
    sizes = np.zeros(n_groups, np.int64)
    seen = np.full(n_pieces, -1, np.int64)
    for slot in range(len(order)):
        t = order[slot]
        group = slot // width
        if seen[piece[t]] != group:
            seen[piece[t]] = group
            count[group] += 1
            sizes[group] += size[t]
    return count, sizes
