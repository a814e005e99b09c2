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
:func:`accelsim.kernels.dense.conv_tiles`, whose ``tile_cycles`` takes them). Spatial tiles
run in parallel (``prange``): each writes only its own entries, so the result cannot depend
on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from accelsim.kernels.dense import _block, _spatial_tile

STRIPES, PRAGMATIC = 0, 1
MAX_REGISTERS = 64


LOWEST_BIT = np.zeros(1 << 17, dtype=np.int8)
"""Index of the lowest set bit of every 17-bit term mask (entry 0 unused)."""
LOWEST_BIT[1:] = np.log2(np.arange(1, 1 << 17) & -np.arange(1, 1 << 17)).astype(np.int8)


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


@njit(cache=True)
def brick_cycles(masks, n, first_stage_bits, lowest_bit):
    """Cycles the 2-stage shifter needs for the term masks ``masks[:n]`` (see the module
    docstring); at least 1. ``lowest_bit``: :data:`LOWEST_BIT`."""
    reach = (1 << first_stage_bits) - 1
    cycles = 0
    while True:
        offset = 64
        for i in range(n):
            if masks[i]:
                offset = min(offset, lowest_bit[masks[i]])
        if offset == 64:
            break
        for i in range(n):
            if masks[i] and lowest_bit[masks[i]] <= offset + reach:
                masks[i] &= masks[i] - 1
        cycles += 1
    return max(cycles, 1)


@njit(cache=True)
def _column_brick(terms, iy, ix0, kx_start, c0, c1, kw, j, ti, packed, params, masks,
                  lowest_bit):
    """Cycles of brick ``j`` of one window's kernel row (input row ``iy``, first column
    ``ix0``): channels ``[c0 + j*ti, ...)`` at kernel column ``kx_start``, or, ``packed``,
    the ``j``-th run of ``ti`` neurons of the row's ``kw x (c1 - c0)`` (channels innermost).
    ``terms``: the padded input's term masks (:func:`term_masks`)."""
    if params[0] == STRIPES:
        return params[1]
    n = 0
    if packed:
        width = c1 - c0
        for k in range(j * ti, min(j * ti + ti, kw * width)):
            masks[n] = terms[iy, ix0 + k // width, c0 + k % width]
            n += 1
    else:
        for c in range(c0 + j * ti, min(c0 + j * ti + ti, c1)):
            masks[n] = terms[iy, ix0 + kx_start, c]
            n += 1
    return brick_cycles(masks, n, params[2], lowest_bit)


@njit(cache=True)
def _tile(terms, geometry, tiling, params, ob, st, kc, ic, columns, finish, history, masks,
          lowest_bit):
    """Cycles and steps of one tile (see the module docstring)."""
    (cg, mg, m_total, kh, kw, sh, sw, pad_l, in_w, tn, ti, windows, packed_rows) = geometry
    (th, tw, kr, chunk) = tiling
    registers = params[4]
    p_out = (terms.shape[0] - kh) // sh + 1
    q_out = (terms.shape[1] - kw) // sw + 1
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
                for c in range(n_cols):
                    oy = oy0 + (g0 + c) // width
                    ox = ox0 + (g0 + c) % width
                    kx_start = 0 if packed else j // bricks
                    brick = j if packed else j % bricks
                    columns[c] = _column_brick(terms, oy * sh + ky, ox * sw, kx_start, c0,
                                               c1, kw, brick, ti, packed, params, masks,
                                               lowest_bit)
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
def _tables(terms, geometry, tiling, params, n_ob, n_st, n_kc, n_ic, share_blocks, cycles,
            steps, lowest_bit):
    windows, registers = geometry[11], params[4]
    ti = geometry[10]
    for st in prange(n_st):
        columns = np.zeros(windows, dtype=np.int64)
        finish = np.zeros(windows, dtype=np.int64)
        history = np.zeros(registers + 1, dtype=np.int64)
        masks = np.zeros(ti, dtype=np.int64)
        for ob in range(n_ob):
            if share_blocks and ob > 0:   # every block reads the same channels
                for kc in range(n_kc):
                    for ic in range(n_ic):
                        cycles[ob, st, kc, ic] = cycles[0, st, kc, ic]
                        steps[ob, st, kc, ic] = steps[0, st, kc, ic]
                continue
            chunks = _block(ob, geometry[9], geometry[2], geometry[1], geometry[0],
                            tiling[3])[4]
            for kc in range(n_kc):
                for ic in range(chunks):
                    total, n_steps = _tile(terms, geometry, tiling, params, ob, st, kc, ic,
                                           columns, finish, history, masks, lowest_bit)
                    cycles[ob, st, kc, ic] = total
                    steps[ob, st, kc, ic] = n_steps


def conv_tile_tables(x_padded, geometry, tiling, params) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile cycles and steps, each ``n_ob x n_st x n_kc x n_ic`` int64.

    ``x_padded``: the padded input H x W x C (int16 codes; Stripes' mode reads only its
    shape); ``geometry``: ``(cg, mg, m_total, kh, kw, sh, sw, pad_l, in_w,
    tn, ti, windows, pack_rows)``; ``tiling``: ``(th, tw, kr, chunk)``; ``params``:
    ``(mode, bits, first_stage_bits, signed_digits, registers)``.
    """
    geometry = tuple(int(v) for v in geometry)
    tiling = tuple(int(v) for v in tiling)
    params = tuple(int(v) for v in params)
    if not 0 <= params[4] <= MAX_REGISTERS:
        raise ValueError(f"registers must be in [0, {MAX_REGISTERS}], got {params[4]}")
    cg, mg, m_total, kh, kw, sh, sw = geometry[:7]
    tn, th, tw, kr, chunk = geometry[9], *tiling
    p_out = (x_padded.shape[0] - kh) // sh + 1
    q_out = (x_padded.shape[1] - kw) // sw + 1
    n_ob = -(-m_total // tn)
    n_st = -(-p_out // th) * -(-q_out // tw)
    n_kc = -(-kh // kr)
    n_ic = max(_block(ob, tn, m_total, mg, cg, chunk)[4] for ob in range(n_ob))
    cycles = np.zeros((n_ob, n_st, n_kc, n_ic), dtype=np.int64)
    steps = np.zeros_like(cycles)
    if params[0] == STRIPES:   # the bits, not the values, set the time: no masks needed
        terms = np.zeros((x_padded.shape[0], x_padded.shape[1], 0), dtype=np.int64)
    else:
        terms = term_masks(x_padded, bool(params[3]))
    _tables(terms, geometry, tiling, params, n_ob, n_st, n_kc, n_ic, mg >= m_total, cycles,
            steps, LOWEST_BIT)
    return cycles, steps


@njit(cache=True, parallel=True)
def _term_masks(x, signed_digits, out):
    for iy in prange(x.shape[0]):
        for ix in range(x.shape[1]):
            for c in range(x.shape[2]):
                out[iy, ix, c] = term_mask(x[iy, ix, c], signed_digits)


def term_masks(x_padded, signed_digits: bool) -> np.ndarray:
    """:func:`term_mask` of every value of ``x_padded`` (int64, same shape)."""
    out = np.empty(x_padded.shape, dtype=np.int64)
    _term_masks(np.ascontiguousarray(x_padded), int(signed_digits), out)
    return out


@njit(cache=True, parallel=True)
def _window_terms(terms, kh, kw, sh, sw, p_out, q_out, rows):
    for oy in prange(p_out):
        for ox in range(q_out):
            for ky in range(kh):
                for kx in range(kw):
                    for c in range(terms.shape[2]):
                        rows[oy, c] += terms[oy * sh + ky, ox * sw + kx, c]


def window_terms(x_padded, kh: int, kw: int, stride: tuple[int, int],
                 signed_digits: bool) -> np.ndarray:
    """Per input channel, the terms of every activation a window reads, summed over all
    output positions and kernel positions (int64, C): what the layer's essential-bit steps
    are made of. Rows of output positions run in parallel into their own sums (integers:
    the total cannot depend on the thread count)."""
    sh, sw = stride
    p_out = (x_padded.shape[0] - kh) // sh + 1
    q_out = (x_padded.shape[1] - kw) // sw + 1
    masks = term_masks(x_padded, signed_digits)
    terms = np.zeros(masks.shape, dtype=np.int64)
    for bit in range(17):   # popcount of every mask
        terms += (masks >> bit) & 1
    rows = np.zeros((p_out, x_padded.shape[2]), dtype=np.int64)
    _window_terms(terms, kh, kw, sh, sw, p_out, q_out, rows)
    return rows.sum(axis=0)
