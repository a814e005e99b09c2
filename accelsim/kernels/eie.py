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
numbered ``g * cols + c``.

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
come out of the data. The sums are exact (int64 for fixed point, float64 for fp32). The
MAC pass reads a token's column of all PEs as one run (the PEs' entries regrouped by
column) and its per-PE counts are each column's figures times the tokens of that column;
its parallel token ranges are cut where the position changes, so every accumulator still
adds its products in token order, in one thread: no value depends on the thread count.
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

    def column_entries(self) -> np.ndarray:
        """Entries of each PE in each column: ``n_pes x columns``."""
        return np.diff(self.ptr, axis=1)

    def sram_reads(self, entries_per_read: int) -> np.ndarray:
        """64-bit (``entries_per_read``-entry) words each PE reads for each column: the
        words its column's entries touch in the PE's SRAM (``n_pes x columns``)."""
        start, end = self.ptr[:, :-1], self.ptr[:, 1:]
        touched = (end - 1) // entries_per_read - start // entries_per_read + 1
        return np.where(end > start, touched, 0)


@njit(cache=True)
def _sweep(w, n_pes, span, ptr, base, skip, value, out_row, fill):
    """One row-major sweep of ``w`` (``groups x rows x cols``): count each PE column's
    entries (``fill`` false: into ``ptr[p, column + 1]``) or write them at the cursor
    ``base[p] + ptr[p, column]`` of the end-to-end entry arrays. Rows come in increasing
    order, so each (PE, column) sees its local rows in order and its last one (``last``)
    gives the gap."""
    groups, rows, cols = w.shape
    last = np.full((n_pes, groups * cols), -1, dtype=np.int64)
    cursor = ptr[:, :-1] + base[:n_pes].reshape(-1, 1)
    for g in range(groups):
        for i in range(rows):
            p, local = i % n_pes, i // n_pes
            for c in range(cols):
                v = w[g, i, c]
                if v == 0:
                    continue
                column = g * cols + c
                gap = local - last[p, column] - 1
                pads = gap // span
                last[p, column] = local
                if not fill:
                    ptr[p, column + 1] += pads + 1
                    continue
                q = cursor[p, column]
                for _ in range(pads):
                    skip[q] = span - 1
                    out_row[q] = -1
                    q += 1
                skip[q] = gap - pads * span
                value[q] = v
                out_row[q] = g * rows + i
                cursor[p, column] = q + 1


def encode(matrix: np.ndarray, n_pes: int, row_index_bits: int = 4) -> Csc:
    """EIE's CSC of ``matrix`` (``rows x cols``, or ``groups x rows x cols``); any dtype,
    zeros are not stored (module docstring)."""
    if n_pes < 1 or not 1 <= row_index_bits <= 7:
        raise ValueError("n_pes must be >= 1 and row_index_bits in 1..7")
    w = np.ascontiguousarray(matrix[None] if matrix.ndim == 2 else matrix)
    groups, rows, cols = w.shape
    span = 1 << row_index_bits
    ptr = np.zeros((n_pes, groups * cols + 1), dtype=np.int64)
    base = np.zeros(n_pes + 1, dtype=np.int64)
    _sweep(w, n_pes, span, ptr, base, np.zeros(0, np.int8), np.zeros(0, w.dtype),
           np.zeros(0, np.int32), False)
    ptr = np.cumsum(ptr, axis=1)
    base[1:] = np.cumsum(ptr[:, -1])                      # each PE's array, end to end
    skip = np.zeros(base[-1], dtype=np.int8)
    value = np.zeros(base[-1], dtype=w.dtype)
    out_row = np.full(base[-1], -1, dtype=np.int32)
    _sweep(w, n_pes, span, ptr, base, skip, value, out_row, True)
    return Csc(n_pes, (groups, rows, cols), row_index_bits, ptr, base, skip, value, out_row)


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
def _timing(token_col, token_scan, entries, depth, scan_width):
    """The recurrence of the module docstring; returns the cycle the last PE finishes and
    the cycles the LNZD waited on a full queue. ``entries`` is ``columns x n_pes`` and the
    ring of start cycles ``depth x n_pes``: a token's 64 PEs are contiguous (the per-PE
    loops vectorize)."""
    n_pes = entries.shape[1]
    n = len(token_col)
    started = np.zeros((depth, n_pes), dtype=np.int64)   # ring: s[p, k - depth .. k - 1]
    finish = np.zeros(n_pes, dtype=np.int64)
    broadcast = -1
    stalls = 0
    for k in range(n):
        b = max(broadcast + 1, token_scan[k] // scan_width)
        ready = b
        slot = k % depth
        if k >= depth:
            for p in range(n_pes):
                b = max(b, started[slot, p])
        stalls += b - ready
        broadcast = b
        column = token_col[k]
        for p in range(n_pes):
            s = max(finish[p], b + 1)
            started[slot, p] = s
            finish[p] = s + max(entries[column, p], 1)
    return finish.max(), stalls


@njit(cache=True)
def _by_column(ptr, base, value, out_row):
    """Every PE's non-padding entries regrouped column by column (PE by PE within a column),
    so a token's MACs read one contiguous run: ``(col_ptr, values, output rows)``; and each
    PE's non-padding entries per column (``n_pes x columns``)."""
    n_pes, n_cols = ptr.shape[0], ptr.shape[1] - 1
    nonzero = np.zeros((n_pes, n_cols), dtype=np.int64)
    col_ptr = np.zeros(n_cols + 1, dtype=np.int64)
    for p in range(n_pes):
        for column in range(n_cols):
            for e in range(base[p] + ptr[p, column], base[p] + ptr[p, column + 1]):
                if value[e] != 0:
                    nonzero[p, column] += 1
            col_ptr[column + 1] += nonzero[p, column]
    col_ptr = np.cumsum(col_ptr)
    col_value = np.empty(col_ptr[-1], dtype=value.dtype)
    col_row = np.empty(col_ptr[-1], dtype=out_row.dtype)
    i = 0
    for column in range(n_cols):
        for p in range(n_pes):
            for e in range(base[p] + ptr[p, column], base[p] + ptr[p, column + 1]):
                if value[e] != 0:
                    col_value[i] = value[e]
                    col_row[i] = out_row[e]
                    i += 1
    return col_ptr, col_value, col_row, nonzero


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
    """Every token's MACs, its column's entries of all PEs in one run, into ``acc``
    (positions x rows; ``token_val`` in its dtype, int64 or float64); each accumulator adds
    its products in token order, as its PE does."""
    for c in prange(len(bounds) - 1):
        for k in range(bounds[c], bounds[c + 1]):
            x = token_val[k]
            pos = token_pos[k]
            column = token_col[k]
            for i in range(col_ptr[column], col_ptr[column + 1]):
                acc[pos, col_row[i]] += col_value[i] * x


@njit(cache=True)
def _pe_counts(token_col, entries, nonzero, reads, stats):
    """Each PE's busy cycles, entries, MACs, padding and SRAM reads: its per-column figures
    times the tokens of each column."""
    tokens = np.zeros(entries.shape[1], dtype=np.int64)
    for k in range(len(token_col)):
        tokens[token_col[k]] += 1
    for p in range(entries.shape[0]):
        for column in range(entries.shape[1]):
            n = tokens[column]
            stats[p, BUSY] += n * max(entries[p, column], 1)
            stats[p, ENTRIES] += n * entries[p, column]
            stats[p, MACS] += n * nonzero[p, column]
            stats[p, SRAM_READS] += n * reads[p, column]
        stats[p, PADDING] = stats[p, ENTRIES] - stats[p, MACS]


@njit(cache=True)
def _window_tokens(x, kh, kw, sh, sw, out_h, out_w, groups, col, pos, val, scan, fill):
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
                                k = (ci * kh + r) * kw + s
                                col[n] = g * cols + k
                                pos[n] = p
                                val[n] = v
                                scan[n] = (g * positions + p) * cols + k
                            n += 1
    return n


def window_tokens(x_padded: np.ndarray, kernel, stride, out_hw, groups: int):
    """:func:`tokens` of a conv layer's im2col activation matrix, read from its padded
    ``C x H x W`` input window by window (the matrix is never built: VGG-16's conv1_2 has
    29 M window elements). An fc layer is one position whose window is its whole input."""
    x = np.ascontiguousarray(x_padded)
    args = (*kernel, *stride, *out_hw, groups)
    n = _window_tokens(x, *args, *(np.zeros(0, np.int64),) * 2, np.zeros(0, x.dtype),
                       np.zeros(0, np.int64), False)
    col, pos, scan = (np.empty(n, np.int64) for _ in range(3))
    val = np.empty(n, x.dtype)
    _window_tokens(x, *args, col, pos, val, scan, True)
    return col, pos, val, scan


def tokens(columns: np.ndarray, cols: int):
    """The LNZD's broadcast order of an activation matrix ``columns`` (``positions x
    groups x cols``: the input vector each position multiplies): group by group, position
    by position, the non-zeros in column order. Returns ``(column, position, value)``
    arrays, ``column`` numbered ``group * cols + c``, and each token's index in the scan
    (the activations the LNZD examined before it, zeros included)."""
    by_group = np.ascontiguousarray(columns.transpose(1, 0, 2))      # groups x positions x cols
    scan = np.flatnonzero(by_group)
    g, pos, c = np.unravel_index(scan, by_group.shape)
    return ((g * cols + c).astype(np.int64), pos.astype(np.int64), by_group.ravel()[scan],
            scan.astype(np.int64))


def run_pes(csc: Csc, token_col, token_pos, token_val, token_scan, positions: int, *,
            queue_depth: int, entries_per_read: int, scan_width: int, compute: bool = True):
    """Run the tokens through the PEs (module docstring). Returns ``(acc positions x
    groups * rows, cycles, LNZD stall cycles, stats n_pes x N_STATS)``; ``cycles`` is when
    the last PE finishes its last entry (pipeline drain not included); the stall cycles
    are those the LNZD held a ready token back because a queue was full (a queue slot frees
    when its PE pops the token)."""
    if min(queue_depth, entries_per_read, scan_width) < 1:
        raise ValueError("queue_depth, entries_per_read and scan_width must be >= 1")
    groups, rows, _ = csc.shape
    integer = np.issubdtype(csc.value.dtype, np.integer)
    kind = np.int64 if integer else np.float64
    acc = np.zeros((positions, groups * rows), dtype=kind)
    stats = np.zeros((csc.n_pes, N_STATS), dtype=np.int64)
    token_col = np.ascontiguousarray(token_col, np.int64)
    entries = np.ascontiguousarray(csc.column_entries())
    end, stalls = _timing(token_col, np.ascontiguousarray(token_scan, np.int64),
                          np.ascontiguousarray(entries.T), queue_depth, scan_width)
    col_ptr, col_value, col_row, nonzero = _by_column(csc.ptr, csc.base, csc.value,
                                                      csc.out_row)
    _pe_counts(token_col, entries, nonzero,
               np.ascontiguousarray(csc.sram_reads(entries_per_read)), stats)
    if compute:
        token_pos = np.ascontiguousarray(token_pos, np.int64)
        bounds = _chunks(token_col, token_pos, csc.shape[2], MAC_CHUNKS)
        _macs(token_col, token_pos, np.ascontiguousarray(token_val).astype(kind), bounds,
              col_ptr, col_value, col_row, acc)
    return acc, int(end), int(stalls), stats
