"""EIE's compressed sparse column (CSC) format and its PEs, cycle by cycle on the real data.

Format (Han et al., ISCA 2016, section III). A weight matrix ``W`` (``rows x cols``, or
``groups`` such matrices of a grouped conv, each encoded on its own) is interleaved over
``n_pes`` PEs by row: row ``i`` of a group goes to PE ``i mod n_pes`` as that PE's local row
``i // n_pes``. Each PE stores, column by column, one *entry* per non-zero of its slice: the
weight (a codebook index in hardware) and a relative row index, the number of zero local
rows skipped since the previous entry of that column. The relative index has
``row_index_bits`` (4) bits: a gap of ``z`` zero rows with ``z > 2**bits - 1`` first emits
``z // 2**bits`` *padding* entries (a zero weight standing on the ``2**bits``-th zero row,
having skipped ``2**bits - 1``). ``ptr[pe, c]:ptr[pe, c + 1]`` are column ``c``'s entries
in PE ``pe``'s own array (the pointer array, ``cols + 1`` per PE); columns of group ``g`` are
numbered ``g * cols + c``. :func:`encode` builds the entries (:func:`decode` reads them
back); the PEs' timing and counts need only how many entries and non-zeros each PE holds in
each column, which :func:`count_columns` computes without building them.

The PEs (:func:`run_pes`). The input activations arrive as *tokens* ``(column, position,
value)``: the leading non-zero detection (LNZD) skips zero activations and broadcasts one
non-zero a cycle to every PE's activation queue (depth ``queue_depth``), but only when no
queue is full; it examines ``scan_width`` activations a cycle (one per PE: each PE holds an
interleaved slice of the source activations), so token ``k``, the ``scan[k]``-th activation
of the scan, cannot leave before cycle ``scan[k] // scan_width``. A PE pops a token, reads
the column's two pointers (two banks: one cycle) and then processes its entries of that
column, one a cycle (sparse-matrix SRAM read, codebook decode, multiply-accumulate into the
destination register of the entry's row); the pointer read of the next token overlaps the
last entry, so a token costs the PE ``max(entries, 1)`` cycles. Token ``k`` is broadcast
at cycle ``b[k]``, started by PE ``p`` at ``s[p, k]`` and finished at ``f[p, k]``::

    b[k]    = max(b[k - 1] + 1, scan[k] // scan_width, max_p s[p, k - depth])
    s[p, k] = max(f[p, k - 1], b[k] + 1)
    f[p, k] = s[p, k] + max(entries(p, column(k)), 1)

This recurrence is the cycle-by-cycle machine itself (each quantity is the cycle an event
happens), evaluated per token instead of per idle cycle: queue-full stalls (``b`` held back)
and load imbalance between PEs (a PE with more entries in a column delays its later tokens)
come out of the data. The tokens are read window by window from the padded input in the
LNZD's scan order (the im2col matrix is never built) and run through the recurrence as they
are read; a token whose column costs every PE the same updates all PEs' finish cycles by
one composed map instead of PE by PE (the same recurrence, not an approximation: see
``_walk``). A PE's counts are its per-column figures times the tokens of each column.

The sums. Every PE adds each product into its own accumulator, so an output's sum is the
layer's dense sum: fixed-point layers take it from :mod:`accelsim.kernels.exact_sums` (exact
int64, in any order), so these PEs only count; :func:`column_sums` adds the products token
by token (float64 for fp32, whose order matters: each accumulator adds its products in
token order, as its PE does, in one thread, so no value depends on the thread count).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

# Per-PE statistics columns of run_pes.
BUSY, ENTRIES, MACS, PADDING, SRAM_READS = range(5)
N_STATS = 5

MAC_CHUNKS = 64
"""Token ranges of the parallel MAC pass (fixed: the thread count changes no cut)."""


@dataclass(frozen=True)
class ColumnCounts:
    """How many entries (padding included) and non-zero weights each PE holds in each column
    of a matrix's CSC (``n_pes x columns`` each): all the PEs' timing and counts need."""

    n_pes: int
    shape: tuple[int, int, int]      # groups, rows per group, cols per group
    row_index_bits: int
    column_entries: np.ndarray       # n_pes x (groups * cols), int64
    column_nonzeros: np.ndarray      # n_pes x (groups * cols), int64

    @property
    def entries(self) -> int:
        return int(self.column_entries.sum())

    @property
    def nonzeros(self) -> int:
        return int(self.column_nonzeros.sum())

    @property
    def padding(self) -> int:
        return self.entries - self.nonzeros

    def pe_entries(self) -> np.ndarray:
        """Each PE's entries (the length of its array)."""
        return self.column_entries.sum(axis=1)

    def ptr(self) -> np.ndarray:
        """The pointer arrays: ``n_pes x (columns + 1)``, offsets within each PE's array."""
        ptr = np.zeros((self.n_pes, self.column_entries.shape[1] + 1), np.int64)
        np.cumsum(self.column_entries, axis=1, out=ptr[:, 1:])
        return ptr

    def sram_reads(self, entries_per_read: int) -> np.ndarray:
        """64-bit (``entries_per_read``-entry) words each PE reads for each column: the
        words its column's entries touch in the PE's SRAM (``n_pes x columns``)."""
        ptr = self.ptr()
        start, end = ptr[:, :-1], ptr[:, 1:]
        touched = (end - 1) // entries_per_read - start // entries_per_read + 1
        return np.where(end > start, touched, 0)


@dataclass(frozen=True)
class Csc:
    """A matrix in EIE's interleaved CSC (module docstring). Entry arrays are per PE, laid
    end to end (PE ``p``'s entries start at ``base[p]``); ``ptr`` is ``n_pes x (cols + 1)``,
    offsets within each PE's own array."""

    n_pes: int
    shape: tuple[int, int, int]      # groups, rows per group, cols per group
    row_index_bits: int
    ptr: np.ndarray                  # n_pes x (groups * cols + 1), int64
    base: np.ndarray                 # n_pes + 1, int64
    skip: np.ndarray                 # entries: relative row index, int8 (< 2**bits)
    value: np.ndarray                # entries: the weight (0 for padding)
    out_row: np.ndarray              # entries: output row (group * rows + i; -1 padding), int32

    @property
    def entries(self) -> int:
        return int(self.base[-1])

    @property
    def padding(self) -> int:
        return int(np.count_nonzero(self.value == 0))


def _as_groups(matrix: np.ndarray, n_pes: int, row_index_bits: int) -> np.ndarray:
    if n_pes < 1 or not 1 <= row_index_bits <= 7:
        raise ValueError("n_pes must be >= 1 and row_index_bits in 1..7")
    return np.ascontiguousarray(matrix[None] if matrix.ndim == 2 else matrix)


@njit(cache=True, parallel=True)
def _count(w, n_pes, bits, entries, nonzeros):
    """Each PE's entries and non-zeros per column of ``w`` (``groups x rows x cols``): a PE
    reads its own rows in increasing order, so its last row of each column gives the gap
    (``gap >> bits`` padding entries before the entry). Branch-free over a row (it
    vectorizes); PEs own disjoint rows and outputs (``prange``; integer counts)."""
    groups, rows, cols = w.shape
    for p in prange(n_pes):
        last = np.full(groups * cols, -1, dtype=np.int64)
        for g in range(groups):
            at = g * cols
            for i in range(p, rows, n_pes):
                local = i // n_pes
                for c in range(cols):
                    hit = np.int64(w[g, i, c] != 0)
                    entries[p, at + c] += hit * (((local - last[at + c] - 1) >> bits) + 1)
                    nonzeros[p, at + c] += hit
                    last[at + c] += hit * (local - last[at + c])


def count_columns(matrix: np.ndarray, n_pes: int, row_index_bits: int = 4) -> ColumnCounts:
    """:func:`encode`'s entries and non-zeros per PE and column, without the entries."""
    w = _as_groups(matrix, n_pes, row_index_bits)
    groups, rows, cols = w.shape
    entries = np.zeros((n_pes, groups * cols), np.int64)
    nonzeros = np.zeros((n_pes, groups * cols), np.int64)
    _count(w, n_pes, row_index_bits, entries, nonzeros)
    return ColumnCounts(n_pes, (groups, rows, cols), row_index_bits, entries, nonzeros)


@njit(cache=True, parallel=True)
def _fill(w, n_pes, span, ptr, base, skip, value, out_row):
    """Write every PE's entries at its cursor ``base[p] + ptr[p, column]``: a PE reads its
    own rows in increasing order (the gap to its last row of the column), into its own
    array (``prange``)."""
    groups, rows, cols = w.shape
    for p in prange(n_pes):
        last = np.full(groups * cols, -1, dtype=np.int64)
        cursor = ptr[p, :-1] + base[p]
        for g in range(groups):
            for i in range(p, rows, n_pes):
                local = i // n_pes
                for c in range(cols):
                    v = w[g, i, c]
                    if v == 0:
                        continue
                    column = g * cols + c
                    gap = local - last[column] - 1
                    pads = gap // span
                    last[column] = local
                    q = cursor[column]
                    for _ in range(pads):
                        skip[q] = span - 1
                        out_row[q] = -1
                        q += 1
                    skip[q] = gap - pads * span
                    value[q] = v
                    out_row[q] = g * rows + i
                    cursor[column] = q + 1


def encode(matrix: np.ndarray, n_pes: int, row_index_bits: int = 4) -> Csc:
    """EIE's CSC of ``matrix`` (``rows x cols``, or ``groups x rows x cols``); any dtype,
    zeros are not stored (module docstring)."""
    counts = count_columns(matrix, n_pes, row_index_bits)
    w = _as_groups(matrix, n_pes, row_index_bits)
    ptr = counts.ptr()
    base = np.zeros(n_pes + 1, dtype=np.int64)
    base[1:] = np.cumsum(ptr[:, -1])                      # each PE's array, end to end
    skip = np.zeros(base[-1], dtype=np.int8)
    value = np.zeros(base[-1], dtype=w.dtype)
    out_row = np.full(base[-1], -1, dtype=np.int32)
    _fill(w, n_pes, 1 << row_index_bits, ptr, base, skip, value, out_row)
    return Csc(n_pes, counts.shape, row_index_bits, ptr, base, skip, value, out_row)


@njit(cache=True)
def _distinct_int16(values):
    """Distinct non-zero values of an int16 array: one pass over a 65,536-entry table."""
    seen = np.zeros(1 << 16, dtype=np.bool_)
    for v in values:
        seen[np.int32(v) + 32768] = True
    seen[32768] = False
    return np.count_nonzero(seen)


def distinct_nonzero(values: np.ndarray) -> int:
    """How many distinct non-zero values ``values`` holds (the codebook a layer needs,
    zero aside); int16 codes without sorting them (VGG-16's fc6: 102 M)."""
    if values.dtype == np.int16:
        return int(_distinct_int16(np.ascontiguousarray(values).reshape(-1)))
    return len(np.unique(values[values != 0]))


def decode(csc: Csc) -> np.ndarray:
    """The dense ``groups x rows x cols`` matrix back from the pointers, the relative row
    indices and the values alone (the round-trip check)."""
    groups, rows, cols = csc.shape
    out = np.zeros((groups, rows, cols), dtype=csc.value.dtype)
    for p in range(csc.n_pes):
        for column in range(groups * cols):
            local = -1
            for e in range(csc.ptr[p, column], csc.ptr[p, column + 1]):
                local += int(csc.skip[csc.base[p] + e]) + 1
                value = csc.value[csc.base[p] + e]
                if value != 0:
                    out[column // cols, local * csc.n_pes + p, column % cols] = value
    return out


@njit(cache=True)
def _walk(x, kh, kw, sh, sw, out_h, out_w, groups, cost, even_cost, depth, scan_width,
          column_tokens):
    """Read the tokens window by window (group, position, then ``(c, r, s)``: the scan
    order) and run each through the recurrence of the module docstring; count each
    column's tokens into ``column_tokens``. A window's non-zeros are first gathered
    (branch-free: their places in the window; a 3-wide kernel row unrolled, 20-25 % faster
    on VGG-16), then run; the cycle the LNZD has scanned
    a token by is ``(window start + place) // scan_width``, the window's share of it
    looked up in ``scanned`` (no division per token). ``cost`` is ``max(entries, 1)``,
    ``columns x n_pes`` (a token's PEs contiguous: the per-PE loop vectorizes);
    ``even_cost[column]`` the cost every PE has in that column, or -1.

    A token of an even column maps every PE's finish ``f`` to ``max(f, b + 1) + c``; such
    maps compose (``f -> max(f + shift, floor)``), so they are kept as ``(shift, floor)``
    and applied to ``finish`` only when a token of an uneven column needs each PE's own
    cycle: the same numbers, one step per even token instead of one per PE. ``latest`` is
    the last PE's finish; the ring ``started`` holds ``max_p s[p, k]`` of the last
    ``depth`` tokens. Returns the cycle the last PE finishes, the cycles the LNZD waited
    on a full queue, the tokens."""
    n_pes = cost.shape[1]
    cg = x.shape[0] // groups
    cols = cg * kh * kw
    window_place = np.empty(cols, dtype=np.int64)
    scanned = np.arange(scan_width + cols, dtype=np.int64) // scan_width
    started = np.zeros(depth, dtype=np.int64)
    finish = np.zeros(n_pes, dtype=np.int64)
    shift = 0
    floor = 0
    latest = 0
    broadcast = -1
    stalls = 0
    k = 0
    slot = 0
    window = 0
    for g in range(groups):
        for oy in range(out_h):
            for ox in range(out_w):
                n = 0
                place = 0
                if kw == 3:                 # a 3-wide kernel row unrolled (most convs)
                    for ci in range(g * cg, (g + 1) * cg):
                        for r in range(oy * sh, oy * sh + kh):
                            row = x[ci, r]
                            s = ox * sw
                            window_place[n] = place
                            n += row[s] != 0
                            window_place[n] = place + 1
                            n += row[s + 1] != 0
                            window_place[n] = place + 2
                            n += row[s + 2] != 0
                            place += 3
                else:
                    for ci in range(g * cg, (g + 1) * cg):
                        for r in range(oy * sh, oy * sh + kh):
                            for s in range(ox * sw, ox * sw + kw):
                                window_place[n] = place
                                n += x[ci, r, s] != 0
                                place += 1
                first = window * cols              # the window's first scan index
                whole, part = first // scan_width, first % scan_width
                window += 1
                for j in range(n):
                    column = g * cols + window_place[j]
                    ready = max(broadcast + 1, whole + scanned[part + window_place[j]])
                    b = max(ready, started[slot])          # 0 before `depth` tokens
                    stalls += b - ready
                    broadcast = b
                    start = max(latest, b + 1)              # max_p s[p, k]
                    started[slot] = start
                    c = even_cost[column]
                    if c >= 0:
                        shift += c
                        floor = max(floor, b + 1) + c
                        latest = start + c
                    else:
                        low = max(floor, b + 1)
                        top = 0
                        for p in range(n_pes):
                            f = max(finish[p] + shift, low) + cost[column, p]
                            finish[p] = f
                            top = max(top, f)
                        shift = 0
                        floor = 0
                        latest = top
                    column_tokens[column] += 1
                    k += 1
                    slot += 1
                    if slot == depth:
                        slot = 0
    return latest, stalls, k


@njit(cache=True)
def _pe_counts(column_tokens, entries, nonzeros, reads, stats):
    """Each PE's busy cycles, entries, MACs, padding and SRAM reads: its per-column figures
    times the tokens of each column."""
    for p in range(entries.shape[0]):
        for column in range(entries.shape[1]):
            n = column_tokens[column]
            stats[p, BUSY] += n * max(entries[p, column], 1)
            stats[p, ENTRIES] += n * entries[p, column]
            stats[p, MACS] += n * nonzeros[p, column]
            stats[p, SRAM_READS] += n * reads[p, column]
        stats[p, PADDING] = stats[p, ENTRIES] - stats[p, MACS]


def run_pes(counts: ColumnCounts, x_padded: np.ndarray, kernel, stride, out_hw,
            groups: int, *, queue_depth: int, entries_per_read: int, scan_width: int):
    """Run a layer's tokens through the PEs (module docstring): the non-zeros of its padded
    ``C x H x W`` input ``x_padded`` read window by window (``kernel``, ``stride``,
    ``out_hw`` output positions; an fc layer is one position whose window is its whole
    input), on a matrix of ``counts``. Returns ``(cycles, LNZD stall cycles, stats n_pes x
    N_STATS, tokens)``; ``cycles`` is when the last PE finishes its last entry (pipeline
    drain not included); the stall cycles are those the LNZD held a ready token back
    because a queue was full (a queue slot frees when its PE pops the token)."""
    if min(queue_depth, entries_per_read, scan_width) < 1:
        raise ValueError("queue_depth, entries_per_read and scan_width must be >= 1")
    entries = counts.column_entries
    cost = np.ascontiguousarray(np.maximum(entries, 1).T)
    even_cost = np.where((cost == cost[:, :1]).all(axis=1), cost[:, 0], -1)
    column_tokens = np.zeros(entries.shape[1], np.int64)
    end, stalls, tokens = _walk(np.ascontiguousarray(x_padded), *kernel, *stride, *out_hw,
                                groups, cost, even_cost, queue_depth, scan_width,
                                column_tokens)
    stats = np.zeros((counts.n_pes, N_STATS), dtype=np.int64)
    _pe_counts(column_tokens, entries, counts.column_nonzeros,
               np.ascontiguousarray(counts.sram_reads(entries_per_read)), stats)
    return int(end), int(stalls), stats, int(tokens)


@njit(cache=True)
def _window_tokens(x, kh, kw, sh, sw, out_h, out_w, groups, col, pos, val, fill):
    """Count (``fill`` false) or write the tokens of :func:`window_tokens`; returns how
    many. Visits group, position, then the window's ``(c, r, s)`` in scan order."""
    cg = x.shape[0] // groups
    cols = cg * kh * kw
    positions = out_h * out_w
    n = 0
    for g in range(groups):
        for p in range(positions):
            oy = p // out_w
            ox = p - oy * out_w
            for ci in range(cg):
                for r in range(kh):
                    for s in range(kw):
                        v = x[g * cg + ci, oy * sh + r, ox * sw + s]
                        if v != 0:
                            if fill:
                                col[n] = g * cols + (ci * kh + r) * kw + s
                                pos[n] = p
                                val[n] = v
                            n += 1
    return n


def window_tokens(x_padded: np.ndarray, kernel, stride, out_hw, groups: int):
    """The tokens ``(column, position, value)`` of a conv layer's im2col activation matrix
    in the LNZD's broadcast order (group by group, position by position, each window's
    non-zeros in column order), read from its padded ``C x H x W`` input window by window
    (the matrix is never built). An fc layer is one position whose window is its input."""
    x = np.ascontiguousarray(x_padded)
    args = (*kernel, *stride, *out_hw, groups)
    n = _window_tokens(x, *args, np.zeros(0, np.int64), np.zeros(0, np.int64),
                       np.zeros(0, x.dtype), False)
    col, pos = np.empty(n, np.int64), np.empty(n, np.int64)
    val = np.empty(n, x.dtype)
    _window_tokens(x, *args, col, pos, val, True)
    return col, pos, val


@njit(cache=True)
def _column_runs(w):
    """The non-zeros of ``w`` (``groups x rows x cols``) column by column, so a token's
    MACs read one contiguous run: ``(col_ptr, values, output rows group * rows + i)``."""
    groups, rows, cols = w.shape
    col_ptr = np.zeros(groups * cols + 1, dtype=np.int64)
    for g in range(groups):
        for i in range(rows):
            for c in range(cols):
                if w[g, i, c] != 0:
                    col_ptr[g * cols + c + 1] += 1
    col_ptr = np.cumsum(col_ptr)
    cursor = col_ptr[:-1].copy()
    col_value = np.empty(col_ptr[-1], dtype=w.dtype)
    col_row = np.empty(col_ptr[-1], dtype=np.int32)
    for g in range(groups):
        for i in range(rows):
            for c in range(cols):
                if w[g, i, c] != 0:
                    q = cursor[g * cols + c]
                    col_value[q] = w[g, i, c]
                    col_row[q] = g * rows + i
                    cursor[g * cols + c] = q + 1
    return col_ptr, col_value, col_row


@njit(cache=True)
def _chunks(token_col, token_pos, cols, n_chunks):
    """Token ranges for the parallel MAC pass, cut only where the (group, position) changes:
    two chunks never add into the same accumulator, so no sum depends on the schedule."""
    n = len(token_col)
    bounds = np.zeros(n_chunks + 1, dtype=np.int64)
    for c in range(1, n_chunks):
        k = max(bounds[c - 1], n * c // n_chunks)
        while k > 0 and k < n and token_pos[k] == token_pos[k - 1] \
                and token_col[k] // cols == token_col[k - 1] // cols:
            k += 1
        bounds[c] = k
    bounds[n_chunks] = n
    return bounds


@njit(cache=True, parallel=True)
def _macs(token_col, token_pos, token_val, bounds, col_ptr, col_value, col_row, acc):
    """Every token's MACs, its column's non-zeros in one run, into ``acc`` (positions x
    rows; ``token_val`` in its dtype, int64 or float64); each accumulator adds its products
    in token order, as its PE does."""
    for c in prange(len(bounds) - 1):
        for k in range(bounds[c], bounds[c + 1]):
            x = token_val[k]
            pos = token_pos[k]
            column = token_col[k]
            for i in range(col_ptr[column], col_ptr[column + 1]):
                acc[pos, col_row[i]] += col_value[i] * x


def column_sums(matrices: np.ndarray, x_padded: np.ndarray, kernel, stride, out_hw,
                groups: int) -> np.ndarray:
    """The PEs' sums, product by product in token order (module docstring): ``positions x
    groups * rows`` of ``matrices`` (``groups x rows x cols``) with the windows of
    :func:`run_pes`; int64 for integer operands, float64 for float ones."""
    integer = np.issubdtype(matrices.dtype, np.integer)
    kind = np.int64 if integer else np.float64
    col, pos, val = window_tokens(x_padded, kernel, stride, out_hw, groups)
    col_ptr, col_value, col_row = _column_runs(np.ascontiguousarray(matrices))
    acc = np.zeros((out_hw[0] * out_hw[1], matrices.shape[0] * matrices.shape[1]), kind)
    bounds = _chunks(col, pos, matrices.shape[2], MAC_CHUNKS)
    _macs(col, pos, val.astype(kind), bounds, col_ptr, col_value, col_row, acc)
    return acc
