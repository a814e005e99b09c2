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
:mod:`accelsim.kernels.exact_sums` (the PEs add exactly those integers).

Layout helpers (numpy, no numba): :func:`segments` (positions per task),
:class:`TaskLayout` (where each task runs and where its psums go) and the per-round piece
accounting the NoC model uses (:func:`delivery_mode`, :func:`per_row_unique`).
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
def _words(w, groups, m_block, simd, ptr, nonzeros, slots, vals, fill):
    """Count (``fill`` false: the words into ``ptr[col + 1]``, the non-zero weights into
    ``nonzeros[col]``) or fill the SIMD words of every ``(lane, k)`` column; rows of ``w``
    (``M x K``) are read contiguously, and a column's words land in increasing channel order
    through the cursor ``ptr[col]``. Lanes own disjoint columns (``prange``)."""
    m_total, k_len = w.shape
    mg = m_total // groups
    n_mb = (mg + m_block - 1) // m_block
    cursor = ptr.copy()
    for lane in prange(groups * n_mb):
        m0 = (lane // n_mb) * mg + (lane % n_mb) * m_block
        mc = min(m_block, mg - (lane % n_mb) * m_block)
        for j0 in range(0, mc, simd):
            # the word's rows; unsigned indices: no negative-index wrap in the inner loops
            first, n_rows = np.uint64(m0 + j0), np.uint64(min(j0 + simd, mc) - j0)
            for k in range(np.uint64(k_len)):
                hits = 0
                for i in range(n_rows):
                    if w[first + i, k] != 0:
                        hits += 1
                if hits == 0:
                    continue
                col = lane * k_len + k
                if fill:
                    q = cursor[col]
                    slots[q] = j0
                    for i in range(n_rows):
                        vals[q, i] = w[first + i, k]
                    cursor[col] = q + 1
                else:
                    ptr[col + 1] += 1
                    nonzeros[col] += hits


def weight_csc(w: np.ndarray, groups: int, m_block: int, simd: int):
    """CSC of ``w`` (``M x K``) by lane and column: ``(ptr, slots, vals, nonzeros)``;
    ``ptr`` has ``lanes * K + 1`` entries, ``vals`` is ``words x simd`` in ``w``'s dtype
    (int16 codes or float32: no wider copy), ``nonzeros`` the non-zero weights of each
    ``(lane, k)`` column."""
    m_total, k_len = w.shape
    mg, _, lanes = lanes_of(m_total, groups, m_block)
    m_block = min(m_block, mg)
    w = np.ascontiguousarray(w)
    ptr = np.zeros(lanes * k_len + 1, np.int64)
    nonzeros = np.zeros(lanes * k_len, np.int64)
    slots = np.zeros(0, np.int64)
    vals = np.zeros((0, simd), w.dtype)
    _words(w, groups, m_block, simd, ptr, nonzeros, slots, vals, False)
    ptr = np.cumsum(ptr)
    slots = np.zeros(int(ptr[-1]), np.int64)
    vals = np.zeros((int(ptr[-1]), simd), w.dtype)
    _words(w, groups, m_block, simd, ptr, nonzeros, slots, vals, True)
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
    """The count half of :func:`weight_csc`: ``(ptr, nonzeros)`` without the words
    themselves, for a layer whose sums come from elsewhere (:func:`count_tasks`)."""
    m_total, k_len = w.shape
    mg, _, lanes = lanes_of(m_total, groups, m_block)
    ptr = np.zeros(lanes * k_len + 1, np.int64)
    nonzeros = np.zeros(lanes * k_len, np.int64)
    _words(np.ascontiguousarray(w), groups, min(m_block, mg), simd, ptr, nonzeros,
           np.zeros(0, np.int64), np.zeros((0, simd), w.dtype), False)
    return np.cumsum(ptr), nonzeros


@njit(cache=True, parallel=True)
def _count_ranges(xpad, words, nonzeros, cuts, seg_cuts, geometry, n_mb, timing, stats):
    """:func:`_run_lanes`'s statistics, counted from the padded input: per ``(g, r)``
    (``prange``: each owns its tasks' rows) and segment, ``hits[k]`` is how many of the
    segment's positions have window row ``k`` non-zero (stepping as :func:`_iact_pass`
    does); a lane block walks column ``k`` that often, so its words and MACs are the sums of
    ``hits`` times the columns' ``words`` and ``nonzeros`` (``K x lanes``). A task's cycles:
    per position ``iact_addr_cycles``, per non-zero iact ``weight_addr_cycles``, per word
    one (integer sums: the same in any order)."""
    cg, kh, kw, sh, sw, out_w, positions = geometry
    iact_addr_cycles, weight_addr_cycles = timing
    n_r, n_s = len(cuts) - 1, len(seg_cuts) - 1
    channels, height, width = xpad.shape
    groups = channels // cg
    xflat = xpad.reshape(-1)
    corner = np.empty(positions, np.int64)        # each position's window corner
    for p in range(positions):
        corner[p] = (p // out_w) * sh * width + (p % out_w) * sw
    for gr in prange(groups * n_r):
        g, r = gr // n_r, gr % n_r
        k0, k1 = cuts[r], cuts[r + 1]
        c0, ky0, kx0 = g * cg + k0 // (kh * kw), (k0 // kw) % kh, k0 % kw
        lane0 = g * n_mb
        offset = np.empty(k1 - k0, np.int64)       # window row k's place in the plane stack
        c, ky, kx = c0, ky0, kx0
        for k in range(k1 - k0):
            offset[k] = (c * height + ky) * width + kx
            kx += 1
            if kx == kw:
                kx = 0
                ky += 1
                if ky == kh:
                    ky = 0
                    c += 1
        hits = np.zeros(k1 - k0, np.int64)
        for s in range(n_s):
            for k in range(k1 - k0):        # one window row at a time: along the input rows
                n = 0
                for p in range(seg_cuts[s], seg_cuts[s + 1]):
                    n += xflat[corner[p] + offset[k]] != 0
                hits[k] = n
            iacts = hits.sum()
            n_pos = seg_cuts[s + 1] - seg_cuts[s]
            for mb in range(n_mb):
                held = macs = 0
                for k in range(k1 - k0):
                    held += hits[k] * words[k0 + k, lane0 + mb]
                    macs += hits[k] * nonzeros[k0 + k, lane0 + mb]
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
    groups = xpad.shape[0] // geometry[0]
    lanes, k_len = groups * n_mb, geometry[0] * geometry[1] * geometry[2]
    n_tasks = lanes * (len(cuts) - 1) * (len(seg_cuts) - 1)
    stats = np.zeros((n_tasks, N_STATS), np.int64)

    def by_k(per_column):
        return np.ascontiguousarray(per_column.reshape(lanes, k_len).T)

    _count_ranges(xpad, by_k(np.diff(ptr)), by_k(nonzeros),
                  np.ascontiguousarray(cuts, np.int64), np.ascontiguousarray(seg_cuts, np.int64),
                  tuple(int(v) for v in geometry), n_mb,
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
    their psums go (to the next PE of the chain, from / to the psum GLB)."""

    def __init__(self, groups: int, mg: int, n_mb: int, n_r: int, n_s: int, *, m_block: int,
                 pes: int, pes_per_cluster: int, chain: int) -> None:
        self.mg = mg
        self.m_block = min(m_block, mg)
        self.n_mb, self.n_r, self.n_s = n_mb, n_r, n_s
        self.lanes = groups * n_mb
        t = np.arange(self.lanes * n_r * n_s, dtype=np.int64)
        self.s = t % n_s
        self.mb = (t // n_s) % n_mb
        self.r = (t // (n_s * n_mb)) % n_r
        self.g = t // (n_s * n_mb * n_r)
        self.lane = self.g * n_mb + self.mb
        # Placement: chains of ``chain`` consecutive k-ranges of one (lane, segment) on
        # consecutive PEs of a cluster (their psums flow PE to PE), then round-robin.
        link = self.r // chain
        order = np.lexsort((self.r, self.s, self.mb, link, self.g))
        slot = np.empty_like(t)
        slot[order] = t
        self.round = slot // pes
        self.cluster = (slot % pes) // pes_per_cluster
        self.rounds = int(self.round.max()) + 1 if len(t) else 0
        chain_last = (self.r % chain == chain - 1) | (self.r == n_r - 1)
        self.psum_to_next = ~chain_last
        self.psum_from_glb = (self.r % chain == 0) & (self.r > 0)
        self.psum_to_glb = chain_last & (self.r < n_r - 1)
        self.iact_piece = (self.g * n_r + self.r) * n_s + self.s
        self.weight_piece = self.lane * n_r + self.r
        self.psum_piece = self.lane * n_s + self.s


def first_of_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Index of the first occurrence of every distinct ``(a, b)`` pair (non-negative)."""
    _, first = np.unique(a * (int(b.max(initial=0)) + 1) + b, return_index=True)
    return first


def delivery_mode(rounds: np.ndarray, piece: np.ndarray) -> tuple[str, float]:
    """Delivery mode of a data type over a layer and its mean fan-out (receivers per piece
    per round; the rule is in accelsim/arch/eyeriss_v2.py)."""
    first = first_of_pairs(rounds, piece)
    fanout = len(rounds) / len(first)
    per_round_pieces = np.bincount(rounds[first])
    if fanout == 1:
        return "unicast", 1.0
    if (per_round_pieces[per_round_pieces > 0] == 1).all():
        return "broadcast", fanout
    return "multicast", fanout


def per_row_unique(row_of, piece, size, n_rows) -> np.ndarray:
    """Per row, the bytes of the distinct pieces its tasks need (each delivered once)."""
    first = first_of_pairs(row_of, piece)
    return np.bincount(row_of[first], size[first], minlength=n_rows).astype(np.int64)


def unique_sum(rounds, piece, size) -> int:
    """Bytes of the distinct pieces of every round (each read once at its source)."""
    return int(size[first_of_pairs(rounds, piece)].sum())
