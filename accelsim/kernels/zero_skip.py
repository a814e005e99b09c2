"""Cnvlutin's zero-skipping NFU: real outputs and per-brick-group cycles in one pass.

Hardware (Albericio et al., ISCA 2016, Sec. IV): DaDianNao's 16 neuron lanes are decoupled
into ``lanes`` subunits. Input neurons are stored in ZFNAf: bricks of ``ti`` consecutive
channels at one (y, x), keeping only the effectual neurons, each with its offset in the brick.
The bricks of a tile (an output block, its spatial tile, kernel-row chunk and channel chunk,
as the DianNao tiler cut it) stream in DaDianNao's order (output position, then kernel row,
kernel column, channel brick) and are dealt round-robin to the subunits: brick ``b`` goes to
subunit ``b % lanes``. Each subunit takes one (neuron, offset) pair a cycle from its brick and
multiplies it by the synapse row its offset selects (one synapse per filter) in its own SB
slice. The subunits re-synchronise after each *brick group* (one brick per subunit), which
lasts as long as its fullest brick::

    group cycles = max(min_group_cycles, max over its bricks of effectual neurons)

so lane imbalance costs cycles. DaDianNao spends one cycle per brick, ``lanes`` per full group.
A neuron is effectual when ``|value| > threshold`` (0: only zeros are skipped).

``span_windows`` (our reading, default in the config): the brick stream runs on across the
output positions of a tile, so a window of fewer than ``lanes`` bricks (a 1x1 layer over 96
channels has 6) does not leave subunits idle. Off, every window starts a new group. A
partial group (fewer than ``lanes`` bricks) lasts ``min(fullest brick, its bricks)``
(:func:`_partial_group`: baseline mode when that is faster), so a dense layer takes exactly
DaDianNao's cycles either way.

Two passes: :func:`_zero_skip_kernel` (output rows in parallel) computes the outputs through
the zero-skipping loop and records every brick's effectual count; :func:`_group_cycles` deals
the bricks and times the groups, tile by tile::

    for oy (parallel), ox, ob, kc, ic, ky in kc, kx, brick in ic:
        for c in brick: if effectual: partial[:] += x * synapse row;  brick_nnz += 1
    for ob, kc, ic, st: for the tile's bricks in order: group cycles as above

``x`` is the padded input H x W x C; ``sb`` the SB rows of :func:`dense._pack_sb_rows` (the
same synapses DaDianNao reads, so the sums, in the same order, are bit-identical to its).
That is the fp32 path. With int16 operands the kernel only counts and the sums come from
:func:`dense_gemm.conv_sums` on the input with its ineffectual neurons zeroed: every partial
sum is an exact integer, so they equal the loop's (and DaDianNao's) bit for bit; the
effectual MACs the kernel counted are checked not to exceed the products the GEMM computed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from accelsim.kernels import dense, dense_gemm

# Per-row statistics columns (summed over rows by the wrapper). SB_SLICE_SAVED: the SB slice
# reads DaDianNao makes and Cnvlutin does not (``ti`` slices per brick per active SB tile,
# minus the effectual ones), so SB_SLICE_READS + SB_SLICE_SAVED = ti x DaDianNao's row reads.
(EFFECTUAL_NEURONS, SKIPPED_NEURONS, EFFECTUAL_MACS, BRICKS, GROUPS, SB_SLICE_READS,
 SB_SLICE_SAVED) = range(7)
N_STATS = 7


@njit(cache=True)
def _outputs_reading(c, m0, m1, cg, mg):
    """How many of the block's output channels [m0, m1) read input channel ``c``."""
    g0 = (c // cg) * mg
    return max(0, min(m1, g0 + mg) - max(m0, g0))


@njit(cache=True)
def _position(x, sb, acc, compute, oy, ox, ob, m0, m1, u0, ky0, ky1, c0, c1, geometry,
              threshold, partial, brick_nnz, stats):
    """One output position's part of one tile: accumulate its effectual products and
    record each brick's effectual neurons in ``brick_nnz`` (window order)."""
    (cg, mg, kw, sh, sw, ti, sb_lanes) = geometry
    tn = sb.shape[4]
    active_tiles = (m1 - m0 + sb_lanes - 1) // sb_lanes
    for lane in range(tn):
        partial[lane] = 0.0
    brick = 0
    for ky in range(ky0, ky1):
        iy = oy * sh + ky
        for kx in range(kw):
            ix = ox * sw + kx
            for lo in range(c0, c1, ti):
                effectual = 0
                for c in range(lo, min(lo + ti, c1)):
                    neuron = np.float64(x[iy, ix, c])
                    if abs(neuron) <= threshold:
                        continue
                    effectual += 1
                    stats[EFFECTUAL_MACS] += _outputs_reading(c, m0, m1, cg, mg)
                    if compute:
                        row = sb[ob, ky, kx, c - u0]
                        for lane in range(tn):
                            partial[lane] += neuron * row[lane]
                stats[EFFECTUAL_NEURONS] += effectual
                stats[SB_SLICE_READS] += effectual * active_tiles
                stats[SB_SLICE_SAVED] += (ti - effectual) * active_tiles
                stats[SKIPPED_NEURONS] += min(lo + ti, c1) - lo - effectual
                brick_nnz[brick] = effectual
                brick += 1
    if compute:
        for lane in range(m1 - m0):
            acc[oy, ox, m0 + lane] += partial[lane]


@njit(cache=True)
def _same_bricks(brick_nnz, ob, oy, ox, m0, m1, n_ic, kr, kh, kw, chunk, cg, ti, sb_lanes,
                 stats):
    """Block ``ob`` of a one-group layer reads the very bricks block 0 read at this position:
    copy their effectual counts and add the statistics the scan would have added (every
    effectual neuron feeds all ``m1 - m0`` outputs of the block)."""
    active_tiles = (m1 - m0 + sb_lanes - 1) // sb_lanes
    for kc in range(brick_nnz.shape[1]):
        rows = min(kr, kh - kc * kr)
        for ic in range(n_ic):
            channels = min(chunk, cg - ic * chunk)
            n_bricks = rows * kw * ((channels + ti - 1) // ti)
            effectual = 0
            for j in range(n_bricks):
                nnz = brick_nnz[0, kc, ic, oy, ox, j]
                brick_nnz[ob, kc, ic, oy, ox, j] = nnz
                effectual += nnz
            stats[EFFECTUAL_NEURONS] += effectual
            stats[SKIPPED_NEURONS] += rows * kw * channels - effectual
            stats[EFFECTUAL_MACS] += effectual * (m1 - m0)
            stats[SB_SLICE_READS] += effectual * active_tiles
            stats[SB_SLICE_SAVED] += (n_bricks * ti - effectual) * active_tiles


@njit(cache=True, parallel=True)
def _zero_skip_kernel(x, sb, acc, compute, geometry, tiling, threshold, brick_nnz, stats):
    """Outputs, and ``brick_nnz[ob, kc, ic, oy, ox, brick]``; rows of outputs in parallel.
    Counting only a one-group layer, blocks after the first reuse its scan
    (:func:`_same_bricks`)."""
    (cg, mg, m_total, kh, kw, sh, sw, tn, ti, sb_lanes) = geometry
    kr, chunk = tiling
    p_out, q_out = acc.shape[0], acc.shape[1]
    n_ob = (m_total + tn - 1) // tn
    n_kc = (kh + kr - 1) // kr
    inner = (cg, mg, kw, sh, sw, ti, sb_lanes)
    reuse = not compute and mg == m_total
    for oy in prange(p_out):
        partial = np.zeros(sb.shape[4], dtype=np.float64)
        for ox in range(q_out):
            for ob in range(n_ob):
                m0, m1, u0, u1, n_ic = dense._block(ob, tn, m_total, mg, cg, chunk)
                if reuse and ob > 0:
                    _same_bricks(brick_nnz, ob, oy, ox, m0, m1, n_ic, kr, kh, kw, chunk, cg,
                                 ti, sb_lanes, stats[oy])
                    continue
                for kc in range(n_kc):
                    ky0 = kc * kr
                    ky1 = min(ky0 + kr, kh)
                    for ic in range(n_ic):
                        c0 = u0 + ic * chunk
                        c1 = min(c0 + chunk, u1)
                        _position(x, sb, acc, compute, oy, ox, ob, m0, m1, u0, ky0, ky1, c0,
                                  c1, inner, threshold, partial,
                                  brick_nnz[ob, kc, ic, oy, ox], stats[oy])


@njit(cache=True)
def _partial_group(group_max, n_bricks, min_group_cycles):
    """A group of fewer bricks than subunits (the end of a tile, or of a window when groups
    do not span windows): its fullest brick's cycles, or, when that is more, its brick
    count: the dispatcher then feeds the bricks in baseline mode, one brick to all lanes a
    cycle, as DaDianNao does (our choice; the paper does not say)."""
    return min(max(group_max, min_group_cycles), n_bricks)


@njit(cache=True)
def _group_cycles(brick_nnz, n_bricks, th, tw, lanes, span_windows, min_group_cycles,
                  busy, stats):
    """Deal each tile's bricks round-robin to the subunits and time the brick groups.

    Per (block, spatial tile, kernel-row chunk, channel chunk), the positions are walked
    row-major and each position's ``n_bricks[ob, kc, ic]`` bricks in window order; a group
    is ``lanes`` consecutive bricks and lasts its fullest brick (at least
    ``min_group_cycles``). With ``span_windows`` the stream runs on across the positions of
    the tile (a group may hold bricks of two windows); otherwise every window starts a new
    group. Returns ``tile_cycles[ob, st, kc, ic]``.
    """
    n_ob, n_kc, n_ic, p_out, q_out, _ = brick_nnz.shape
    n_ty = (p_out + th - 1) // th
    n_tx = (q_out + tw - 1) // tw
    out = np.zeros((n_ob, n_ty * n_tx, n_kc, n_ic), dtype=np.int64)
    for ob in range(n_ob):
        for kc in range(n_kc):
            for ic in range(n_ic):
                n_b = n_bricks[ob, kc, ic]
                for st in range(n_ty * n_tx):
                    oy0 = (st // n_tx) * th
                    ox0 = (st % n_tx) * tw
                    cycles = 0
                    brick = 0
                    group_max = 0
                    for oy in range(oy0, min(oy0 + th, p_out)):
                        for ox in range(ox0, min(ox0 + tw, q_out)):
                            for j in range(n_b):
                                nnz = brick_nnz[ob, kc, ic, oy, ox, j]
                                busy[brick % lanes] += nnz
                                group_max = max(group_max, nnz)
                                brick += 1
                                if brick % lanes == 0:
                                    cycles += max(group_max, min_group_cycles)
                                    group_max = 0
                                    stats[GROUPS] += 1
                            if not span_windows and brick % lanes:
                                cycles += _partial_group(group_max, brick % lanes,
                                                         min_group_cycles)
                                group_max = 0
                                stats[GROUPS] += 1
                                brick = 0
                            stats[BRICKS] += n_b
                    if brick % lanes:
                        cycles += _partial_group(group_max, brick % lanes, min_group_cycles)
                        stats[GROUPS] += 1
                    out[ob, st, kc, ic] = cycles
    return out


def zero_skip_conv(x_padded, weights, geometry, tiling, lanes, threshold, min_group_cycles,
                   sb_lanes, span_windows, *, compute=True):
    """Run the zero-skipping loop nest of a conv layer.

    ``geometry`` and ``tiling`` are the tuples :func:`dense.conv_tiles` takes (``tiling``
    from the DianNao tiler). ``threshold`` is in the input's own units (int16 steps for
    fixed16); ``sb_lanes`` filters per SB tile (SB slice reads are counted per tile);
    ``span_windows``: brick groups run on across the windows of a tile (see
    :func:`_group_cycles`).
    Returns ``(acc, tile_cycles, busy, stats)``: ``acc`` P x Q x M float64 (exact
    integers for int16; P x Q x 0 with ``compute`` False), ``tile_cycles[ob, st, kc, ic]``
    for :func:`dense.conv_tiles`, ``busy[lane]`` effectual neurons each subunit processed,
    ``stats`` summed columns above.
    """
    if x_padded.dtype != weights.dtype or x_padded.dtype not in (np.int16, np.float32):
        raise TypeError(f"inputs must be both int16 or both float32, got {x_padded.dtype}, "
                        f"{weights.dtype}")
    cg, mg, m_total, kh, kw, sh, sw = (int(v) for v in geometry[1:8])
    tn, ti = int(geometry[12]), int(geometry[13])
    _, th, tw, kr, chunk = (int(v) for v in tiling[:5])
    p_out = (x_padded.shape[0] - kh) // sh + 1
    q_out = (x_padded.shape[1] - kw) // sw + 1
    m0 = np.arange(0, m_total, tn)
    unions = ((np.minimum(m0 + tn, m_total) - 1) // mg - m0 // mg + 1) * cg
    n_kc, n_ic = -(-kh // kr), int(-(-unions.max() // chunk))
    n_bricks = np.zeros((len(m0), n_kc, n_ic), dtype=np.int64)
    for ob, union in enumerate(unions):
        for kc in range(n_kc):
            for ic in range(-(-int(union) // chunk)):
                channels = min(chunk, int(union) - ic * chunk)
                n_bricks[ob, kc, ic] = (min(kr, kh - kc * kr) * kw * -(-channels // ti))
    in_loop = compute and x_padded.dtype == np.float32   # int16 sums come from the GEMM
    sb = dense._pack_sb_rows(np.ascontiguousarray(weights), tn, cg, mg, int(unions.max())) \
        if in_loop else np.zeros((1, 1, 1, 1, tn), dtype=weights.dtype)
    acc = np.zeros((p_out, q_out, m_total if in_loop else 0), dtype=np.float64)
    brick_nnz = np.zeros((len(m0), n_kc, n_ic, p_out, q_out, max(int(n_bricks.max()), 1)),
                         dtype=np.uint8)
    row_stats = np.zeros((p_out, N_STATS), dtype=np.int64)
    _zero_skip_kernel(np.ascontiguousarray(x_padded), sb, acc, in_loop,
                      (cg, mg, m_total, kh, kw, sh, sw, tn, ti, int(sb_lanes)), (kr, chunk),
                      float(threshold), brick_nnz, row_stats)
    stats = row_stats.sum(axis=0)
    busy = np.zeros(lanes, dtype=np.int64)
    tile_cycles = _group_cycles(brick_nnz, n_bricks, th, tw, int(lanes), bool(span_windows),
                                int(min_group_cycles), busy, stats)
    if compute and not in_loop:
        acc = dense_gemm.conv_sums(_effectual(x_padded, threshold), weights, (sh, sw))
        if stats[EFFECTUAL_MACS] > acc.size * cg * kh * kw:
            raise AssertionError(f"{stats[EFFECTUAL_MACS]} effectual MACs counted, more than "
                                 f"the {acc.size * cg * kh * kw} the GEMM computed")
    return acc, tile_cycles, busy, stats


def _effectual(x, threshold):
    """``x`` with its ineffectual neurons (``|x| <= threshold``) set to zero: what the
    subunits multiply (a skipped zero adds nothing, so threshold 0 keeps ``x``)."""
    if threshold == 0:
        return x
    return np.where((x > threshold) | (x < -threshold), x, 0).astype(x.dtype)
