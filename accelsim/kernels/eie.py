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
come out of the data. The sums are exact (int64 for fixed point, float64 for fp32); each PE
writes only its own rows, so the parallel loop over PEs cannot change a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

# Per-PE statistics columns of run_pes.
BUSY, ENTRIES, MACS, PADDING, SRAM_READS = range(5)
N_STATS = 5


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
def _sweep(w, n_pes, span, ptr, skip, value, out_row, fill):
    """One row-major sweep of ``w`` (``groups x rows x cols``): count each PE column's
    entries (``fill`` false: into ``ptr[p, column + 1]``) or write them at the cursor
    ``ptr[p, column]``. Rows come in increasing order, so each (PE, column) sees its local
    rows in order and its last one (``last``) gives the gap."""
    groups, rows, cols = w.shape
    last = np.full((n_pes, groups * cols), -1, dtype=np.int64)
    cursor = ptr[:, :-1].copy()
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
                    skip[p, q] = span - 1
                    out_row[p, q] = -1
                    q += 1
                skip[p, q] = gap - pads * span
                value[p, q] = v
                out_row[p, q] = g * rows + i
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
    _sweep(w, n_pes, span, ptr, np.zeros((n_pes, 0), np.int8), np.zeros((n_pes, 0), w.dtype),
           np.zeros((n_pes, 0), np.int32), False)
    ptr = np.cumsum(ptr, axis=1)
    width = max(int(ptr[:, -1].max()), 1)       # entries of the fullest PE
    skip = np.zeros((n_pes, width), dtype=np.int8)
    value = np.zeros((n_pes, width), dtype=w.dtype)
    out_row = np.full((n_pes, width), -1, dtype=np.int32)
    _sweep(w, n_pes, span, ptr, skip, value, out_row, True)
    base = np.concatenate([[0], np.cumsum(ptr[:, -1])]).astype(np.int64)
    used = np.arange(width)[None, :] < ptr[:, -1:]       # each PE's array, end to end
    return Csc(n_pes, (groups, rows, cols), row_index_bits, ptr, base, skip[used],
               value[used], out_row[used])


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
def _timing(token_col, token_scan, entries, depth, scan_width, stats):
    """The recurrence of the module docstring; returns the cycle the last PE finishes and
    the cycles the LNZD waited on a full queue. ``stats[:, BUSY]`` gets each PE's busy
    cycles."""
    n_pes = entries.shape[0]
    n = len(token_col)
    started = np.zeros((n_pes, depth), dtype=np.int64)   # ring: s[p, k - depth .. k - 1]
    finish = np.zeros(n_pes, dtype=np.int64)
    broadcast = -1
    stalls = 0
    for k in range(n):
        b = max(broadcast + 1, token_scan[k] // scan_width)
        ready = b
        if k >= depth:
            slot = k % depth
            for p in range(n_pes):
                if started[p, slot] > b:
                    b = started[p, slot]
        stalls += b - ready
        broadcast = b
        column = token_col[k]
        for p in range(n_pes):
            s = max(finish[p], b + 1)
            started[p, k % depth] = s
            cost = max(entries[p, column], 1)
            finish[p] = s + cost
            stats[p, BUSY] += cost
    return finish.max(), stalls


@njit(cache=True, parallel=True)
def _macs(token_col, token_pos, token_val, ptr, base, value, out_row, reads, compute, acc,
          stats):
    """Each PE's entries for every token: MACs into its own rows of ``acc`` (positions x
    rows), and its entry, MAC, padding and SRAM-read counts."""
    n_pes = ptr.shape[0]
    for p in prange(n_pes):
        entries = macs = padding = sram = 0
        for k in range(len(token_col)):
            column = token_col[k]
            e0, e1 = base[p] + ptr[p, column], base[p] + ptr[p, column + 1]
            entries += e1 - e0
            sram += reads[p, column]
            for e in range(e0, e1):
                w = value[e]
                if w == 0:
                    padding += 1
                    continue
                macs += 1
                if compute:
                    acc[token_pos[k], out_row[e]] += w * token_val[k]
        stats[p, ENTRIES] = entries
        stats[p, MACS] = macs
        stats[p, PADDING] = padding
        stats[p, SRAM_READS] = sram


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
    end, stalls = _timing(token_col, np.ascontiguousarray(token_scan, np.int64),
                          np.ascontiguousarray(csc.column_entries()), queue_depth, scan_width,
                          stats)
    value = np.concatenate([csc.value.astype(kind), np.zeros(1, kind)])
    _macs(token_col, np.ascontiguousarray(token_pos, np.int64),
          np.ascontiguousarray(token_val).astype(kind), csc.ptr, csc.base, value,
          np.concatenate([csc.out_row, np.zeros(1, np.int32)]),
          np.ascontiguousarray(csc.sram_reads(entries_per_read)), compute, acc, stats)
    return acc, int(end), int(stalls), stats
