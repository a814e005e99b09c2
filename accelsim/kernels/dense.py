"""The DianNao NFU loop nest: real outputs and per-tile counts in one pass.

Hardware (Chen et al., ASPLOS 2014, Sec. 4-5): each cycle NFU-1 multiplies one NBin row of
``ti`` input neurons (broadcast) by one SB row of ``tn x ti`` synapses; NFU-2's ``tn`` adder
trees reduce the ``ti`` products into ``tn`` partial sums held in NBout.

Dataflow of :func:`conv_tiles`, order 0 (outer to inner)::

    for ob in output blocks          (tn consecutive output channels)
      for st in spatial tiles        (th x tw output positions)
        for kc in kernel-row chunks  (kr filter rows)
          for ic in channel chunks   (chunk input channels of the block's groups)
            DMA: NBin <- input patch, SB <- synapses   (unless resident)
            for (oy, ox) in st, ky in kc, kx, ci in ceil(chunk / ti) rows:  1 cycle each
            NBout <- partial sums; DRAM <- outputs after the last chunk

Order 1 swaps the two outer loops (``st`` outermost: an input patch can stay in NBin across
output blocks). Order 2 runs ``ob > kc > ic > st``: a chunk of synapses stays in SB across
all spatial tiles, and partial sums (``psum_bytes`` each) go to DRAM and come back between
chunks, through NBout's DMA.

An output block reads the union of the input channels of the groups its channels belong to,
so dense (G = 1), grouped and depthwise layers share one loop: a depthwise block of 16
channels uses the 16 diagonal multipliers only (off-block synapses are zero in SB).

Outputs and counts. With fp32 operands the walk computes the sums tile by tile
(:func:`_conv_tile`, the NFU's order: float64 sums of float32 products round, so the order
matters). With int16 operands (fixed16) every partial sum is an exact integer below 2**53 in
any order, so :func:`conv_tiles` takes the sums from one BLAS GEMM per row chunk
(:mod:`accelsim.kernels.dense_gemm`; 3x3 stride-1 layers from its exact integer Winograd,
:mod:`accelsim.kernels.exact_winograd`), bit-identical to this loop and faster, while the
same walk counts; it checks that the walk counted exactly the products the GEMM computed
(``tests/test_dense_speed_paths.py`` checks GEMM against loop on random layers).

Arrays: ``x`` is the *padded* input, H x W x C (channels innermost, NBin row order);
``sb`` holds SB rows (see :func:`_pack_sb_rows`); ``acc`` is P x Q x M float64 (exact
integers for fixed16).
Count columns are the module constants below; rows are engine steps (tiles are assigned to
``n_steps`` contiguous steps by ``step = tile * n_steps // n_tiles``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from accelsim.kernels import dense_gemm

# Count columns: one per (role, action); roles are mapped to component names by the core.
CYCLES, MACS, OPS, IN_READ, W_READ, OUT_READ, OUT_WRITE, IN_FILL, W_FILL, OUT_FILL, \
    IN_BYTES, W_BYTES, OUT_BYTES, TILES = range(14)
N_COLUMNS = 14


@njit(cache=True)
def _valid_span(start, length, pad, size):
    """How many of padded coordinates [start, start+length) fall inside [pad, pad+size)."""
    lo = max(start, pad)
    hi = min(start + length, pad + size)
    return max(hi - lo, 0)


@njit(cache=True)
def _spatial_tile(st, n_tx, th, tw, p_out, q_out, sw, kw, pad_l, in_w):
    """Output rows [oy0, oy1) x columns [ox0, ox1) of spatial tile ``st`` (row-major), its
    position count, and how many input columns of its patch are real (not padding)."""
    oy0 = (st // n_tx) * th
    ox0 = (st % n_tx) * tw
    oy1 = min(oy0 + th, p_out)
    ox1 = min(ox0 + tw, q_out)
    valid_cols = _valid_span(ox0 * sw, (ox1 - ox0 - 1) * sw + kw, pad_l, in_w)
    return oy0, oy1, ox0, ox1, (oy1 - oy0) * (ox1 - ox0), valid_cols


@njit(cache=True)
def _conv_tile(x, sb, acc, ob, u0, oy0, oy1, ox0, ox1, m0, m1, ky0, ky1, c0, c1, kw, sh, sw):
    """One tile on the NFU: each NBin value is broadcast across a ``tn``-wide SB row.

    ``sb`` holds the synapses as SB rows, ``sb[ob, ky, kx, c - u0, :tn]`` (zeros off the
    block's groups), so the innermost loop is the ``tn`` adder-tree lanes. Sums are float64:
    exact integers for int16 operands.
    """
    tn = sb.shape[4]
    lanes = m1 - m0
    partial = np.zeros(tn, dtype=np.float64)
    for oy in range(oy0, oy1):
        for ox in range(ox0, ox1):
            for lane in range(tn):
                partial[lane] = 0.0
            for ky in range(ky0, ky1):
                iy = oy * sh + ky
                for kx in range(kw):
                    ix = ox * sw + kx
                    for c in range(c0, c1):
                        neuron = np.float64(x[iy, ix, c])
                        row = sb[ob, ky, kx, c - u0]
                        for lane in range(tn):
                            partial[lane] += neuron * row[lane]
            for lane in range(lanes):
                acc[oy, ox, m0 + lane] += partial[lane]


@njit(cache=True, parallel=True)
def _pack_sb_rows(w, tn, cg, mg, union):
    """Weights M x C/G x R x S -> SB rows n_blocks x R x S x union x tn (block-diagonal).

    Keeps the weights' dtype (int16 or float32); blocks are packed in parallel (each writes
    only its own rows), each read in source order, which is fastest.
    """
    m_total, _, kh, kw = w.shape
    n_ob = (m_total + tn - 1) // tn
    sb = np.zeros((n_ob, kh, kw, union, tn), dtype=w.dtype)
    for ob in prange(n_ob):
        u0 = ((ob * tn) // mg) * cg
        for m in range(ob * tn, min(ob * tn + tn, m_total)):
            g0 = (m // mg) * cg - u0
            lane = m - ob * tn
            for cl in range(cg):
                for ky in range(kh):
                    for kx in range(kw):
                        sb[ob, ky, kx, g0 + cl, lane] = w[m, cl, ky, kx]
    return sb


@njit(cache=True)
def _block_synapses(m0, m1, c0, c1, cg, mg):
    """Real (non-padding) synapses of output channels [m0, m1) over input channels [c0, c1):
    group by group (one for a dense layer), each group's outputs times its channels in range."""
    synapses = 0
    for g in range(m0 // mg, (m1 - 1) // mg + 1):
        span = min(c1, g * cg + cg) - max(c0, g * cg)
        if span > 0:
            synapses += (min(m1, g * mg + mg) - max(m0, g * mg)) * span
    return synapses


@njit(cache=True)
def _block(ob, tn, m_total, mg, cg, chunk):
    """Output channels [m0, m1) of block ``ob``, the input channels [u0, u1) its groups read,
    and how many channel chunks cover them."""
    m0 = ob * tn
    m1 = min(m0 + tn, m_total)
    u0 = (m0 // mg) * cg
    u1 = ((m1 - 1) // mg + 1) * cg
    return m0, m1, u0, u1, (u1 - u0 + chunk - 1) // chunk


@njit(cache=True)
def _conv_step(x, sb, acc, compute, geometry, tiling, ob, st, kc, ic, tile, n_steps, n_tiles,
               tile_cycles, counts):
    """Compute (if ``compute``) and count one tile; ``counts`` is this part's n_steps x N.

    ``tile_cycles[ob, st, kc, ic]``, when not empty, replaces the dense cycle count (a
    zero-skipping core measures its own); ``geometry``'s tail (added by :func:`conv_tiles`)
    is SB lanes per tile, bits per stored neuron and whether window rows are packed.
    """
    (cin, cg, mg, m_total, kh, kw, sh, sw, pad_t, pad_l, in_h, in_w, tn, ti,
     word_bytes, psum_bytes, sb_lanes, neuron_bits, pack_rows) = geometry
    (order, th, tw, kr, chunk, w_res, x_res) = tiling
    p_out, q_out = acc.shape[0], acc.shape[1]
    n_tx = (q_out + tw - 1) // tw
    n_kc = (kh + kr - 1) // kr
    m0, m1, u0, u1, n_ic = _block(ob, tn, m_total, mg, cg, chunk)
    oy0, oy1, ox0, ox1, positions, valid_cols = _spatial_tile(
        st, n_tx, th, tw, p_out, q_out, sw, kw, pad_l, in_w)
    ky0 = kc * kr
    ky1 = min(ky0 + kr, kh)
    c0 = u0 + ic * chunk
    c1 = min(c0 + chunk, u1)
    row_groups = (c1 - c0 + ti - 1) // ti
    rows_per_kernel_row = kw * row_groups
    if pack_rows and c1 - c0 < ti:   # a window row of S x (c1 - c0) neurons, ti at a time
        rows_per_kernel_row = (kw * (c1 - c0) + ti - 1) // ti
    cycles = positions * (ky1 - ky0) * rows_per_kernel_row
    if tile_cycles.size:
        cycles = tile_cycles[ob, st, kc, ic]
    synapses = _block_synapses(m0, m1, c0, c1, cg, mg)
    if compute:
        _conv_tile(x, sb, acc, ob, u0, oy0, oy1, ox0, ox1, m0, m1, ky0, ky1, c0, c1, kw, sh, sw)
    tile_counts = counts[tile * n_steps // n_tiles]
    first = kc == 0 and ic == 0
    last = kc == n_kc - 1 and ic == n_ic - 1
    # DMA into NBin: every tile, once per spatial tile (x_res 1), or once (x_res 2).
    if x_res == 0:
        rows = (oy1 - oy0 - 1) * sh + (ky1 - ky0)
        pixels = _valid_span(oy0 * sh + ky0, rows, pad_t, in_h) * valid_cols
        tile_counts[IN_BYTES] += (pixels * (c1 - c0) * neuron_bits + 7) // 8
        tile_counts[IN_FILL] += pixels * row_groups
    elif (x_res == 1 and ob == 0 and first) or (x_res == 2 and tile == 0):
        if x_res == 1:
            full_rows = (oy1 - oy0 - 1) * sh + kh
            pixels = _valid_span(oy0 * sh, full_rows, pad_t, in_h) * valid_cols
        else:
            pixels = in_h * in_w
        tile_counts[IN_BYTES] += (pixels * cin * neuron_bits + 7) // 8
        tile_counts[IN_FILL] += pixels * ((cin + ti - 1) // ti)
    # DMA into SB: every tile, or only on the first spatial tile (resident across tiles).
    if w_res == 0 or st == 0:
        tile_counts[W_BYTES] += synapses * (ky1 - ky0) * kw * word_bytes
        tile_counts[W_FILL] += (ky1 - ky0) * rows_per_kernel_row
    tile_counts[CYCLES] += cycles
    tile_counts[MACS] += synapses * (ky1 - ky0) * kw * positions
    tile_counts[IN_READ] += cycles
    tile_counts[W_READ] += cycles * ((m1 - m0 + sb_lanes - 1) // sb_lanes)   # per SB tile
    tile_counts[OUT_WRITE] += positions
    if not first:
        tile_counts[OUT_READ] += positions
        if order == 2:   # the partial sums come back from DRAM into NBout
            tile_counts[IN_BYTES] += positions * (m1 - m0) * psum_bytes
            tile_counts[OUT_FILL] += positions
    if last:
        tile_counts[OUT_BYTES] += (positions * (m1 - m0) * neuron_bits + 7) // 8
    elif order == 2:     # the partial sums go out to DRAM until the last chunk
        tile_counts[OUT_BYTES] += positions * (m1 - m0) * psum_bytes
    tile_counts[TILES] += 1


@njit(cache=True)
def _walk(x, sb, acc, compute, geometry, tiling, a0, a1, tile_start, n_steps, n_tiles,
          tile_cycles, counts):
    """Walk the outer-loop iterations ``[a0, a1)`` in the dataflow order ``tiling[0]`` (see
    the module docstring), into ``counts`` (n_steps x N); returns the tiles walked."""
    cg, mg, m_total, kh = geometry[1], geometry[2], geometry[3], geometry[4]
    tn = geometry[12]
    order, th, tw, kr, chunk = tiling[0], tiling[1], tiling[2], tiling[3], tiling[4]
    n_st = ((acc.shape[0] + th - 1) // th) * ((acc.shape[1] + tw - 1) // tw)
    n_ob = (m_total + tn - 1) // tn
    n_kc = (kh + kr - 1) // kr
    walked = 0
    for a in range(a0, a1):
        tile = tile_start[a]
        if order == 2:       # ob > kc > ic > st: weights stay, partial sums spill
            n_ic = _block(a, tn, m_total, mg, cg, chunk)[4]
            for kc in range(n_kc):
                for ic in range(n_ic):
                    for st in range(n_st):
                        _conv_step(x, sb, acc, compute, geometry, tiling, a, st, kc, ic,
                                   tile, n_steps, n_tiles, tile_cycles, counts)
                        tile += 1
        else:                # ob > st (order 0) or st > ob (order 1), then kc > ic
            for b in range(n_st if order == 0 else n_ob):
                ob = a if order == 0 else b
                st = b if order == 0 else a
                n_ic = _block(ob, tn, m_total, mg, cg, chunk)[4]
                for kc in range(n_kc):
                    for ic in range(n_ic):
                        _conv_step(x, sb, acc, compute, geometry, tiling, ob, st, kc, ic,
                                   tile, n_steps, n_tiles, tile_cycles, counts)
                        tile += 1
        walked += tile - tile_start[a]
    return walked


@njit(cache=True, parallel=True)
def _conv_kernel(x, sb, acc, geometry, tiling, part_bounds, tile_start, n_steps, n_tiles,
                 tile_cycles, counts, walked):
    """Compute and count: the outer loop's index range is split into parts run in
    parallel; parts write disjoint outputs (whole output blocks, or whole spatial tiles) and
    their own count rows."""
    for part in prange(len(part_bounds) - 1):
        walked[part] = _walk(x, sb, acc, True, geometry, tiling, part_bounds[part],
                             part_bounds[part + 1], tile_start, n_steps, n_tiles,
                             tile_cycles, counts[part])


def _outer_tile_starts(geometry, tiling, p_out, q_out) -> tuple[np.ndarray, int]:
    """First global tile index of each outer-loop iteration (exclusive prefix sum), and the
    widest block union (input channels an output block reads)."""
    cg, mg, m_total, kh = geometry[1], geometry[2], geometry[3], geometry[4]
    tn = geometry[12]
    order, th, tw, kr, chunk = tiling[:5]
    n_st = -(-p_out // th) * -(-q_out // tw)
    m0 = np.arange(0, m_total, tn)
    m1 = np.minimum(m0 + tn, m_total)
    unions = ((m1 - 1) // mg - m0 // mg + 1) * cg
    per_block = -(-kh // kr) * -(-unions // chunk)
    per_outer = per_block * n_st if order != 1 else np.full(n_st, per_block.sum())
    starts = np.concatenate(([0], np.cumsum(per_outer)[:-1])).astype(np.int64)
    return starts, int(unions.max())


def conv_tiles(x_padded, weights, geometry, tiling, n_steps, n_tiles, *, compute=True,
               sb_lanes=None, neuron_bits=None, tile_cycles=None, pack_rows=False):
    """Run the conv/fc loop nest; returns ``(acc, counts)``.

    Options for multi-tile and zero-skipping cores: ``sb_lanes`` output lanes per SB tile
    (SB reads are counted per tile; default: one tile of ``tn``), ``neuron_bits`` bits a
    stored neuron takes in DRAM transfers (default: the word size; ZFNAf adds an offset),
    ``tile_cycles`` an ``n_ob x n_st x n_kc x n_ic`` table of measured cycles per tile,
    ``pack_rows``: when a tile holds fewer than ``ti`` channels (a first layer's 3), an NBin
    row carries ``ti`` consecutive neurons of a window row (S x C of them, contiguous with
    channels innermost) instead of one pixel's channels.

    ``x_padded`` is H x W x C and ``weights`` M x C/G x R x S, both int16 (fixed16) or both
    float32 (fp32); ``geometry`` and ``tiling`` are int tuples built by the
    core (fields: see :func:`_conv_step`). ``acc`` is P x Q x M float64 (P x Q x 0 with
    ``compute`` False); for int16 operands it holds exact integers while a reduction has
    < 2**23 terms (checked), from :func:`dense_gemm.conv_sums` (see the module docstring).
    ``counts`` is ``n_steps x N_COLUMNS`` int64.
    """
    if x_padded.dtype != weights.dtype or x_padded.dtype not in (np.int16, np.float32):
        raise TypeError(f"inputs must be both int16 or both float32, got {x_padded.dtype}, "
                        f"{weights.dtype}")
    geometry = tuple(int(v) for v in geometry)
    tn, word_bytes = geometry[12], geometry[14]
    geometry += (int(sb_lanes or tn), int(neuron_bits or 8 * word_bytes), int(bool(pack_rows)))
    tiling = tuple(int(v) for v in tiling)
    cg, mg, m_total, kh, kw, sh, sw = geometry[1:8]
    if tile_cycles is None:
        tile_cycles = np.zeros((0, 0, 0, 0), dtype=np.int64)
    if cg * kh * kw >= 2 ** 23:
        raise ValueError("reduction too long for exact float64 accumulation of int16 products")
    p_out = (x_padded.shape[0] - kh) // sh + 1
    q_out = (x_padded.shape[1] - kw) // sw + 1
    tile_start, union = _outer_tile_starts(geometry, tiling, p_out, q_out)
    x = np.ascontiguousarray(x_padded)
    if compute and x.dtype == np.float32:     # the loop computes; int16 sums: the GEMM below
        n_parts = max(1, min(numba.get_num_threads(), len(tile_start)))
        part_bounds = np.linspace(0, len(tile_start), n_parts + 1).astype(np.int64)
        sb = _pack_sb_rows(np.ascontiguousarray(weights), tn, cg, mg, union)
        acc = np.zeros((p_out, q_out, m_total), dtype=np.float64)
        counts = np.zeros((n_parts, n_steps, N_COLUMNS), dtype=np.int64)
        walked = np.zeros(n_parts, dtype=np.int64)
        _conv_kernel(x, sb, acc, geometry, tiling, part_bounds, tile_start, n_steps, n_tiles,
                     tile_cycles, counts, walked)
        walked, counts = walked.sum(), counts.sum(axis=0)
    else:                                     # counting only: one serial walk, no outputs
        acc = np.zeros((p_out, q_out, 0), dtype=np.float64)
        counts = np.zeros((n_steps, N_COLUMNS), dtype=np.int64)
        walked = _walk(x, np.zeros((1, 1, 1, 1, tn), dtype=weights.dtype), acc, False,
                       geometry, tiling, 0, len(tile_start), tile_start, n_steps, n_tiles,
                       tile_cycles, counts)
    if walked != n_tiles:
        raise AssertionError(f"tile count mismatch: walked {walked}, expected {n_tiles}")
    if compute and x.dtype == np.int16:
        acc = dense_gemm.conv_sums(x, weights, (sh, sw))
        if counts[:, MACS].sum() != acc.size * cg * kh * kw:
            raise AssertionError(f"the tile walk counted {counts[:, MACS].sum()} MACs, the "
                                 f"GEMM computed {acc.size * cg * kh * kw}")
    return acc, counts


@njit(cache=True)
def _pool_kernel(x, out, n_valid, is_max, geometry, tiling, n_steps, n_tiles, counts):
    """Pooling on NFU-2: per channel block of ``ti``, spatial tile and chunk of ``kr`` window
    rows, one NBin row a cycle; partial maxima / sums wait in NBout between row chunks."""
    (channels, kh, kw, sh, sw, pad_t, pad_l, in_h, in_w, ti, word_bytes) = geometry
    (th, tw, kr) = tiling
    p_out, q_out = out.shape[0], out.shape[1]
    n_tx = (q_out + tw - 1) // tw
    n_st = ((p_out + th - 1) // th) * n_tx
    n_cb = (channels + ti - 1) // ti
    n_kc = (kh + kr - 1) // kr
    tile = 0
    for cb in range(n_cb):
        c0 = cb * ti
        c1 = min(c0 + ti, channels)
        for st in range(n_st):
            oy0, oy1, ox0, ox1, positions, valid_cols = _spatial_tile(
                st, n_tx, th, tw, p_out, q_out, sw, kw, pad_l, in_w)
            for kc in range(n_kc):
                ky0 = kc * kr
                ky1 = min(ky0 + kr, kh)
                for oy in range(oy0, oy1):
                    for ox in range(ox0, ox1):
                        if kc == 0:
                            n_valid[oy, ox] = 0
                        for ky in range(ky0, ky1):
                            iy = oy * sh + ky
                            if iy < pad_t or iy >= pad_t + in_h:
                                continue
                            for kx in range(kw):
                                ix = ox * sw + kx
                                if ix < pad_l or ix >= pad_l + in_w:
                                    continue
                                first = n_valid[oy, ox] == 0
                                for c in range(c0, c1):
                                    if is_max and first:
                                        out[oy, ox, c] = x[iy, ix, c]
                                    elif is_max:
                                        out[oy, ox, c] = max(out[oy, ox, c], x[iy, ix, c])
                                    else:
                                        out[oy, ox, c] += x[iy, ix, c]
                                n_valid[oy, ox] += 1
                rows = (oy1 - oy0 - 1) * sh + (ky1 - ky0)
                pixels = _valid_span(oy0 * sh + ky0, rows, pad_t, in_h) * valid_cols
                step = tile * n_steps // n_tiles
                cycles = positions * (ky1 - ky0) * kw
                counts[step, CYCLES] += cycles
                counts[step, OPS] += cycles * (c1 - c0)
                counts[step, IN_READ] += cycles
                counts[step, OUT_WRITE] += positions
                if kc > 0:
                    counts[step, OUT_READ] += positions
                counts[step, IN_FILL] += pixels
                counts[step, IN_BYTES] += pixels * (c1 - c0) * word_bytes
                if kc == n_kc - 1:
                    counts[step, OUT_BYTES] += positions * (c1 - c0) * word_bytes
                counts[step, TILES] += 1
                tile += 1
    return tile


def pool_tiles(x_padded, is_max, geometry, tiling, n_steps, n_tiles):
    """Run the pooling loop nest; returns ``(acc, n_valid, counts)``.

    ``acc`` (P x Q x C, int64 or float64) holds window maxima or window sums over the
    in-bounds elements (padding never contributes); ``n_valid`` (P x Q) the in-bounds counts.
    ``tiling`` is ``(th, tw, kr)``.
    """
    kh, kw, sh, sw = geometry[1], geometry[2], geometry[3], geometry[4]
    p_out = (x_padded.shape[0] - kh) // sh + 1
    q_out = (x_padded.shape[1] - kw) // sw + 1
    acc_dtype = np.int64 if x_padded.dtype == np.int16 else np.float64
    acc = np.zeros((p_out, q_out, x_padded.shape[2]), dtype=acc_dtype)
    n_valid = np.zeros((p_out, q_out), dtype=np.int64)
    counts = np.zeros((n_steps, N_COLUMNS), dtype=np.int64)
    walked = _pool_kernel(np.ascontiguousarray(x_padded), acc, n_valid,   # widened as read
                          bool(is_max), tuple(int(v) for v in geometry),
                          tuple(int(v) for v in tiling), n_steps, n_tiles, counts)
    if walked != n_tiles:
        raise AssertionError(f"tile count mismatch: walked {walked}, expected {n_tiles}")
    return acc, n_valid, counts


@njit(cache=True)
def _add_kernel(a, b, out, ti, word_bytes, positions_per_tile, n_steps, n_tiles, counts):
    """Element-wise add on NFU-2: per ``ti``-channel row, one cycle per operand."""
    h, w, channels = a.shape
    n_pix = h * w
    n_cb = (channels + ti - 1) // ti
    tile = 0
    for cb in range(n_cb):
        c0 = cb * ti
        c1 = min(c0 + ti, channels)
        for p0 in range(0, n_pix, positions_per_tile):
            p1 = min(p0 + positions_per_tile, n_pix)
            for p in range(p0, p1):
                y = p // w
                x = p % w
                for c in range(c0, c1):
                    out[y, x, c] = a[y, x, c] + b[y, x, c]
            positions = p1 - p0
            step = tile * n_steps // n_tiles
            counts[step, CYCLES] += 2 * positions
            counts[step, OPS] += positions * (c1 - c0)
            counts[step, IN_READ] += 2 * positions
            counts[step, OUT_WRITE] += positions
            counts[step, IN_FILL] += 2 * positions
            counts[step, IN_BYTES] += 2 * positions * (c1 - c0) * word_bytes
            counts[step, OUT_BYTES] += positions * (c1 - c0) * word_bytes
            counts[step, TILES] += 1
            tile += 1
    return tile


def add_tiles(a, b, ti, word_bytes, positions_per_tile, n_steps, n_tiles):
    """Element-wise ``a + b`` (H x W x C, both int64 already aligned to one frac, or both
    float64); returns ``(acc, counts)``."""
    out = np.zeros(a.shape, dtype=a.dtype)
    counts = np.zeros((n_steps, N_COLUMNS), dtype=np.int64)
    walked = _add_kernel(np.ascontiguousarray(a), np.ascontiguousarray(b), out,
                         int(ti), int(word_bytes),
                         int(positions_per_tile), n_steps, n_tiles, counts)
    if walked != n_tiles:
        raise AssertionError(f"tile count mismatch: walked {walked}, expected {n_tiles}")
    return out, counts
