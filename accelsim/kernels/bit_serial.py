"""Bit-serial NFU timing (Stripes, Bit-Pragmatic): cycles per DianNao tile from the real bits.

Both designs (Judd et al., "Stripes: Bit-Serial Deep Neural Network Computing", MICRO 2016;
Albericio et al., "Bit-Pragmatic Deep Neural Network Computing", MICRO 2017) keep
DaDianNao's tiles, each computing ``tn`` filters x ``ti`` channels, but process ``windows``
output positions (columns) at once and feed each activation one bit (Stripes) or one
essential bit (Pragmatic) a cycle, holding the weights for as long as that takes. A *step*
is one brick (``ti`` activations of one kernel position) for every column of a window
group; the tile's steps run in DaDianNao's order within a group of ``windows`` consecutive
output positions of the spatial tile, then the next group::

    for group of windows in the tile's positions, ky in kc, brick in the kernel row: 1 step

Cycles of a column's brick (``mode``):

* ``STRIPES``: ``bits``, the layer's activation precision, whatever the values.
* ``PRAGMATIC``: the brick's essential bits ("oneffsets") through the 2-stage shifter: each
  cycle the column's common offset is the lowest remaining term of its ``ti`` activations
  and every lane consumes its lowest term if it lies within ``2**first_stage_bits - 1``
  above it (4 bits: any offset, so the brick takes its largest term count); at least one
  cycle (the brick is fetched). Terms are the one bits of ``|a|``, or with
  ``signed_digits`` the non-zero digits of its non-adjacent form (runs of ones become two
  terms: our stand-in for the paper's improved oneffset encoding).

Synchronisation: with ``registers`` 0 every column waits for the slowest before the next
step (pallet synchronisation); with ``registers`` R > 0 a column may run up to R steps ahead
of the slowest (per-column synchronisation with R weight registers per column), as
isakedo/DNNsim's ``BitPragmatic::process_mmul`` models it (read for the rule, not copied)::

    start[k] = max over columns of finish[k - 1 - R];  finish[c][k] = max(start[k],
    finish[c][k - 1]) + cycles[c][k];  tile cycles = max over columns of finish[c][last]

Tables are ``n_ob x n_st x n_kc x n_ic`` (the DianNao tiler's tiles; see
:func:`accelsim.kernels.dense.conv_tiles`, whose ``tile_cycles`` takes them). A brick's
cycles depend only on its own activations, and a brick is read by every window covering it
(9 times in a 3x3 stride-1 conv), so each channel range's bricks are worked out once into a
table (input rows in parallel) and the tiles look them up (spatial tiles in parallel); each
parallel iteration writes only its own entries, so the result cannot depend on the thread
count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from accelsim.kernels.dense import _block, _spatial_tile

STRIPES, PRAGMATIC = 0, 1
MAX_REGISTERS = 64


@njit(cache=True)
def term_mask(value, signed_digits):
    """The positions of ``|value|``'s terms as a bit mask: its one bits, or the non-zero
    digits of its non-adjacent form (at most one more position, bit 16)."""
    magnitude = abs(np.int64(value))
    if not signed_digits:
        return magnitude
    mask = np.int64(0)
    position = 0
    while magnitude:
        if magnitude & 1:
            mask |= np.int64(1) << position
            magnitude = magnitude - 1 if magnitude & 3 == 1 else magnitude + 1
        magnitude >>= 1
        position += 1
    return mask


_NO_TERM = np.int64(1) << 62
"""Stands for "no term left" in :func:`brick_cycles`: above every term's bit."""


@njit(cache=True)
def brick_cycles(masks, n, first_stage_bits):
    """Cycles the 2-stage shifter needs for the term masks ``masks[:n]`` (see the module
    docstring); at least 1. Terms are compared as their bits (``mask & -mask``, the lowest),
    and each cycle's pass both consumes and finds the next common offset: branch-free over
    the lanes, no bit-index table."""
    reach = (1 << first_stage_bits) - 1
    lowest = _NO_TERM
    for i in range(n):
        low = masks[i] & -masks[i]
        lowest = min(lowest, low if low else _NO_TERM)
    cycles = 0
    while lowest != _NO_TERM:
        limit = lowest << reach   # the lowest term's bit, ``reach`` positions up
        lowest = _NO_TERM
        for i in range(n):
            mask = masks[i]
            low = mask & -mask
            if low <= limit:   # within the first stage's reach (or no term: low is 0)
                mask ^= low
                masks[i] = mask
                low = mask & -mask
            lowest = min(lowest, low if low else _NO_TERM)
        cycles += 1
    return max(cycles, 1)


@njit(cache=True)
def _tile(table, geometry, tiling, params, ob, st, kc, ic, columns, finish, history):
    """Cycles and steps of one tile (see the module docstring); ``table`` holds the cycles
    of every brick the tile's channels can form (:func:`_brick_table`)."""
    (cg, mg, m_total, kh, kw, sh, sw, pad_l, in_w, tn, ti, windows, packed_rows) = geometry
    (th, tw, kr, chunk) = tiling
    registers = params[4]
    p_out = (table.shape[0] - kh) // sh + 1
    q_out = (table.shape[1] - kw) // sw + 1
    n_tx = (q_out + tw - 1) // tw
    _, _, u0, u1, _ = _block(ob, tn, m_total, mg, cg, chunk)
    oy0, oy1, ox0, ox1, positions, _ = _spatial_tile(st, n_tx, th, tw, p_out, q_out, sw, kw,
                                                     pad_l, in_w)
    ky0, ky1 = kc * kr, min(kc * kr + kr, kh)
    c0 = u0 + ic * chunk
    c1 = min(c0 + chunk, u1)
    packed = packed_rows and c1 - c0 < ti
    bricks = (c1 - c0 + ti - 1) // ti   # channel bricks at one kernel position
    per_row = (kw * (c1 - c0) + ti - 1) // ti if packed else kw * bricks
    width = ox1 - ox0
    for c in range(windows):
        finish[c] = 0
    for r in range(registers + 1):
        history[r] = 0
    step = 0
    for g0 in range(0, positions, windows):
        n_cols = min(windows, positions - g0)
        for ky in range(ky0, ky1):
            for j in range(per_row):
                kx_start = 0 if packed else j // bricks
                brick = j if packed else j % bricks
                for c in range(n_cols):
                    oy = oy0 + (g0 + c) // width
                    ox = ox0 + (g0 + c) % width
                    columns[c] = table[oy * sh + ky, ox * sw + kx_start, brick]
                start = history[step % (registers + 1)]
                slowest = 0
                for c in range(n_cols):
                    finish[c] = max(start, finish[c]) + columns[c]
                    slowest = max(slowest, finish[c])
                for c in range(n_cols, windows):
                    slowest = max(slowest, finish[c])
                history[step % (registers + 1)] = slowest
                step += 1
    total = 0
    for c in range(windows):
        total = max(total, finish[c])
    return total, step


@njit(cache=True, parallel=True)
def _brick_table(x, c0, c1, ti, kw, packed, params, rows_read, cols_read, table):
    """``table[iy, ix, j]``: cycles of brick ``j`` read at input row ``iy``, column ``ix``:
    channels ``[c0 + j*ti, ...)`` of pixel ``(iy, ix)``, or, ``packed``, the ``j``-th run of
    ``ti`` neurons of the window row starting there (``kw x (c1 - c0)``, channels
    innermost). A brick's cycles depend only on its activations, and every window reading
    it reads the same ones, so each is worked out once (entries never read are left 0).
    Rows in parallel: each writes only its own entries."""
    width = c1 - c0
    for iy in prange(table.shape[0]):
        if not rows_read[iy]:
            continue
        masks = np.zeros(ti, dtype=np.int64)
        for ix in range(table.shape[1]):
            if not cols_read[ix]:
                continue
            for j in range(table.shape[2]):
                if params[0] == STRIPES:
                    table[iy, ix, j] = params[1]
                    continue
                n = 0
                if packed:
                    for k in range(j * ti, min(j * ti + ti, kw * width)):
                        masks[n] = term_mask(x[iy, ix + k // width, c0 + k % width], params[3])
                        n += 1
                else:
                    for c in range(c0 + j * ti, min(c0 + j * ti + ti, c1)):
                        masks[n] = term_mask(x[iy, ix, c], params[3])
                        n += 1
                table[iy, ix, j] = brick_cycles(masks, n, params[2])


@njit(cache=True, parallel=True)
def _block_tables(table, geometry, tiling, params, ob, ic, n_kc, cycles, steps):
    """Every tile of output block ``ob`` and channel chunk ``ic``; spatial tiles run in
    parallel, each writing only its own entries."""
    windows, registers = geometry[11], params[4]
    for st in prange(cycles.shape[1]):
        columns = np.zeros(windows, dtype=np.int64)
        finish = np.zeros(windows, dtype=np.int64)
        history = np.zeros(registers + 1, dtype=np.int64)
        for kc in range(n_kc):
            total, n_steps = _tile(table, geometry, tiling, params, ob, st, kc, ic, columns,
                                   finish, history)
            cycles[ob, st, kc, ic] = total
            steps[ob, st, kc, ic] = n_steps


def coverage(size: int, n_out: int, kernel: int, stride: int) -> np.ndarray:
    """How many (output, kernel) position pairs read each of ``size`` padded input
    coordinates along one axis (int64)."""
    count = np.zeros(size, dtype=np.int64)
    for k in range(kernel):
        count[k:k + (n_out - 1) * stride + 1:stride] += 1
    return count


def conv_tile_tables(x_padded, geometry, tiling, params) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile cycles and steps, each ``n_ob x n_st x n_kc x n_ic`` int64.

    ``x_padded``: the padded input H x W x C (int16 codes; Stripes' mode reads only its
    shape); ``geometry``: ``(cg, mg, m_total, kh, kw, sh, sw, pad_l, in_w,
    tn, ti, windows, pack_rows)``; ``tiling``: ``(th, tw, kr, chunk)``; ``params``:
    ``(mode, bits, first_stage_bits, signed_digits, registers)``.

    Each channel range a tile reads gets its brick table (:func:`_brick_table`) once, then
    the tiles of every block reading that range look their bricks up.
    """
    geometry = tuple(int(v) for v in geometry)
    tiling = tuple(int(v) for v in tiling)
    params = tuple(int(v) for v in params)
    if not 0 <= params[4] <= MAX_REGISTERS:
        raise ValueError(f"registers must be in [0, {MAX_REGISTERS}], got {params[4]}")
    cg, mg, m_total, kh, kw, sh, sw = geometry[:7]
    tn, ti, packed_rows = geometry[9], geometry[10], geometry[12]
    th, tw, kr, chunk = tiling
    x = np.ascontiguousarray(x_padded)
    p_out = (x.shape[0] - kh) // sh + 1
    q_out = (x.shape[1] - kw) // sw + 1
    n_ob = -(-m_total // tn)
    n_st = -(-p_out // th) * -(-q_out // tw)
    n_kc = -(-kh // kr)
    n_ic = max(_block(ob, tn, m_total, mg, cg, chunk)[4] for ob in range(n_ob))
    cycles = np.zeros((n_ob, n_st, n_kc, n_ic), dtype=np.int64)
    steps = np.zeros_like(cycles)
    rows_read = coverage(x.shape[0], p_out, kh, sh) > 0
    share_blocks = mg >= m_total   # every block reads the same channels: work out block 0
    table, table_channels = None, None
    for ob in range(1 if share_blocks else n_ob):
        _, _, u0, u1, chunks = _block(ob, tn, m_total, mg, cg, chunk)
        for ic in range(chunks):
            c0 = u0 + ic * chunk
            c1 = min(c0 + chunk, u1)
            if (c0, c1) != table_channels:
                packed = bool(packed_rows) and c1 - c0 < ti
                per_brick = -(-kw * (c1 - c0) // ti) if packed else -(-(c1 - c0) // ti)
                cols_read = coverage(x.shape[1], q_out, 1 if packed else kw, sw) > 0
                table = np.zeros((x.shape[0], x.shape[1], per_brick), dtype=np.int64)
                _brick_table(x, c0, c1, ti, kw, packed, params, rows_read, cols_read, table)
                table_channels = (c0, c1)
            _block_tables(table, geometry, tiling, params, ob, ic, n_kc, cycles, steps)
    if share_blocks:
        cycles[1:], steps[1:] = cycles[0], steps[0]
    return cycles, steps


@njit(cache=True, parallel=True)
def _window_terms(x, signed_digits, rows_read, cols_read, rows):
    """``rows[iy, c]``: the terms of channel ``c`` in input row ``iy``, each pixel's
    weighted by the windows reading it (``rows_read[iy] * cols_read[ix]``)."""
    for iy in prange(x.shape[0]):
        if rows_read[iy] == 0:
            continue
        for ix in range(x.shape[1]):
            weight = rows_read[iy] * cols_read[ix]
            if weight == 0:
                continue
            for c in range(x.shape[2]):
                mask = term_mask(x[iy, ix, c], signed_digits)
                terms = 0
                while mask:
                    mask &= mask - 1
                    terms += 1
                rows[iy, c] += weight * terms


def window_terms(x_padded, kh: int, kw: int, stride: tuple[int, int],
                 signed_digits: bool) -> np.ndarray:
    """Per input channel, the terms of every activation a window reads, summed over all
    output positions and kernel positions (int64, C): what the layer's essential-bit steps
    are made of. A pixel is read by as many (output, kernel) pairs as its row's coverage
    times its column's (:func:`coverage`), so each pixel's terms are counted once and
    weighted. Input rows run in parallel into their own sums (integers: the total cannot
    depend on the thread count)."""
    sh, sw = stride
    x = np.ascontiguousarray(x_padded)
    p_out = (x.shape[0] - kh) // sh + 1
    q_out = (x.shape[1] - kw) // sw + 1
    rows = np.zeros((x.shape[0], x.shape[2]), dtype=np.int64)
    _window_terms(x, int(signed_digits), coverage(x.shape[0], p_out, kh, sh),
                  coverage(x.shape[1], q_out, kw, sw), rows)
    return rows.sum(axis=0)
