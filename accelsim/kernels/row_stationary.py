"""The row-stationary loop nest of Eyeriss: real outputs and per-pass counts in one pass.

Hardware (Chen et al., ISCA 2016 and JSSC 2017): a PE keeps ``p`` filter rows of ``q``
channels (``S`` taps each) in its filter spad, slides one ifmap row per channel through its
ifmap spad and produces one row of ``p`` psums: a 1-D convolution. A *PE set* of ``R`` rows x
``e`` columns computes ``e`` output rows: PE (ky, y) convolves filter row ``ky`` with ifmap
row ``y * U + ky``; the psums of a column flow up the local PE-to-PE links and are summed
(vertical accumulation). Sets for ``r`` channel groups are stacked vertically so their
columns form one longer accumulation chain; ``t`` sets with different filters share the
ifmap (multicast); ``g`` sets run different groups of a grouped / depthwise layer.

One row of the *pass table* (columns ``T_*``, built by
:mod:`accelsim.arch._row_stationary_mapping`) is one processing pass: groups
``[g0, g0 + gn)``, filters ``[m0, m1)`` and channels ``[c0, c1)`` (local to the group),
images ``[i0, i1)``, output rows ``[y0, y1)``, filter rows ``[ky0, ky1)`` and taps
``[kx0, kx1)``. Passes of one *block* (same groups, filter chunk, images and output rows)
accumulate into the same psums in the global buffer; blocks write disjoint outputs, and so
do a block's filter groups: each (block, filter group) runs in parallel, its passes in order.

Value-dependent counts (zero gating): an ifmap zero (padding included) gates the filter-spad
read, the MAC and the psum-spad update of every filter it meets; the ifmap-spad read still
happens. Everything else a pass moves is set by its shape (:func:`_pass_structure`).
Those counts need only the ifmap's zeros (:func:`count_passes`), and int16 sums are exact in
any order, so a fixed16 layer takes its sums from one GEMM (:func:`exact_sums`; with the
counting, about 1.5x less CPU than the walk on VGG-16) and only counts its passes; fp32 keeps
:func:`conv_passes`, whose psums add in table order.

Arrays: ``x`` is the *padded* input ``N x C x Hp x Wp`` (int16 or float32); ``w`` holds the
weights as ``M x C/G x R x S`` (same dtype); ``acc`` is ``N x E x F x M`` float64 (exact
integer sums of int16 products). RLC sizes follow the chip's format: 64-bit words of three
(5-bit run, 16-bit level) pairs plus a termination bit, one stream per channel plane.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from accelsim.kernels import dense_gemm

# ---- pass table columns ----------------------------------------------------------------
(T_G0, T_GN, T_MC0, T_MC1, T_M0, T_M1, T_I0, T_I1, T_Y0, T_Y1, T_C0, T_C1, T_KY0, T_KY1,
 T_KX0, T_KX1, T_FIRST, T_LAST, T_REFILL, T_READOUT, T_BLOCK) = range(21)
N_TABLE_COLUMNS = 21

# ---- count columns (one row per pass) ----------------------------------------------------
(ARRAY_CYCLES, MAC, MAC_SKIPPED, ACC_OPS, IFMAP_SPAD_READ, IFMAP_SPAD_WRITE,
 FILTER_SPAD_READ, FILTER_SPAD_WRITE, PSUM_SPAD_READ, PSUM_SPAD_WRITE, GLB_IFMAP_READ,
 GLB_PSUM_READ, GLB_PSUM_WRITE, GLB_FILL, GIN_IFMAP, GIN_FILTER, GIN_PSUM, GON, LOCAL,
 FILTER_WORDS, ACTIVE_PES, PSUMS_OUT) = range(22)
N_COLUMNS = 22

RLC_WORD_BITS = 64
RLC_RUN_BITS = 5
RLC_MAX_RUN = (1 << RLC_RUN_BITS) - 1


@njit(cache=True)
def _pass_values(x, w, acc, row, cg, mg, sh, sw, gate):
    """The MACs of one pass; returns (effectual MACs, gated MACs). The pass's weights are
    gathered filter-innermost and widened to float64 once (the filter spads' contents), not
    at every MAC."""
    g0, gn = row[T_G0], row[T_GN]
    m0, m1, c0, c1 = row[T_M0], row[T_M1], row[T_C0], row[T_C1]
    ky0, ky1, kx0, kx1 = row[T_KY0], row[T_KY1], row[T_KX0], row[T_KX1]
    f_out = acc.shape[2]
    mm = m1 - m0
    spad = np.empty((c1 - c0, ky1 - ky0, kx1 - kx0, mm))
    macs = 0
    gated = 0
    for gi in range(g0, g0 + gn):
        mlo = gi * mg + m0
        for k in range(mm):
            for cl in range(c0, c1):
                for ky in range(ky0, ky1):
                    for kx in range(kx0, kx1):
                        spad[cl - c0, ky - ky0, kx - kx0, k] = w[mlo + k, cl, ky, kx]
        for img in range(row[T_I0], row[T_I1]):
            for y in range(row[T_Y0], row[T_Y1]):
                for cl in range(c0, c1):
                    c = gi * cg + cl
                    for ky in range(ky0, ky1):
                        xrow = x[img, c, y * sh + ky]
                        for ox in range(f_out):
                            psums = acc[img, y, ox, mlo:mlo + mm]
                            for kx in range(kx0, kx1):
                                value = xrow[ox * sw + kx]
                                if value == 0:
                                    if gate:
                                        gated += mm
                                    else:
                                        macs += mm
                                    continue
                                weights = spad[cl - c0, ky - ky0, kx - kx0]
                                v = np.float64(value)
                                for k in range(mm):
                                    psums[k] += v * weights[k]
                                macs += mm
    return macs, gated


@njit(cache=True)
def _ceil_div(a, b):
    return (a + b - 1) // b


@njit(cache=True)
def _pass_structure(row, geometry, macs, gated, out):
    """Shape-set counts of one pass (see the module docstring) into ``out``."""
    (sh, sw, f_out, p, q, wp) = geometry
    gn = row[T_GN]
    mm = row[T_M1] - row[T_M0]
    nn = row[T_I1] - row[T_I0]
    ee = row[T_Y1] - row[T_Y0]
    cc = row[T_C1] - row[T_C0]
    rr = row[T_KY1] - row[T_KY0]
    ss = row[T_KX1] - row[T_KX0]
    first = row[T_FIRST] != 0
    t_used = _ceil_div(mm, p)
    r_used = _ceil_div(cc, q)
    p_max = min(p, mm)
    q_max = min(q, cc)
    chain = rr * r_used
    accumulates = chain > 1 or not first
    cols = (f_out - 1) * sw + ss
    rows_in = (ee - 1) * sh + rr
    psums = nn * gn * mm * ee * f_out
    out[ARRAY_CYCLES] = nn * f_out * (p_max * q_max * ss + (p_max if accumulates else 0))
    out[MAC] = macs
    out[MAC_SKIPPED] = gated
    out[ACC_OPS] = (chain - 1) * psums + (0 if first else psums)
    out[IFMAP_SPAD_READ] = macs + gated
    out[IFMAP_SPAD_WRITE] = nn * gn * t_used * cc * rr * ee * cols
    out[FILTER_SPAD_READ] = macs
    out[FILTER_WORDS] = gn * mm * cc * rr * ss
    out[FILTER_SPAD_WRITE] = out[FILTER_WORDS] * ee
    out[PSUM_SPAD_READ] = macs + out[ACC_OPS]
    out[PSUM_SPAD_WRITE] = macs + out[ACC_OPS]
    out[GLB_IFMAP_READ] = nn * gn * cc * rows_in * cols
    out[GLB_PSUM_READ] = (0 if first else psums) + (psums if row[T_LAST] != 0 else 0)
    out[GLB_PSUM_WRITE] = psums
    out[GLB_FILL] = nn * gn * cc * rows_in * wp if row[T_REFILL] != 0 else 0
    out[GIN_IFMAP] = out[IFMAP_SPAD_WRITE]
    out[GIN_FILTER] = out[FILTER_SPAD_WRITE]
    out[GIN_PSUM] = 0 if first else psums
    out[GON] = psums
    out[LOCAL] = (chain - 1) * psums
    out[ACTIVE_PES] = gn * t_used * r_used * rr * ee
    out[PSUMS_OUT] = psums


@njit(cache=True, parallel=True)
def _conv_kernel(x, w, acc, table, order, unit_starts, geometry, cg, mg, gate, counts):
    """Units in parallel: a unit is one block's passes over one filter group (see
    :func:`_pass_units`), so units write disjoint psums; a unit's passes run in table order.
    Every psum thus adds its terms in the same order whatever the thread count."""
    sh, sw = geometry[0], geometry[1]
    for unit in prange(len(unit_starts) - 1):
        for j in range(unit_starts[unit], unit_starts[unit + 1]):
            index = order[j]
            row = table[index]
            macs, gated = _pass_values(x, w, acc, row, cg, mg, sh, sw, gate)
            _pass_structure(row, geometry, macs, gated, counts[index])


def _pass_units(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, unit_starts)``: the passes grouped by (block, first filter), table order kept
    within a group. A block's filter groups touch disjoint psums, so they can run apart; a
    group walks the channels of its few filters, one stride through the weights instead of
    every filter of the block per channel (VGG-16 fc6: one block of 37 filter groups)."""
    order = np.lexsort((table[:, T_M0], table[:, T_BLOCK]))
    keys = table[order][:, [T_BLOCK, T_M0]]
    starts = np.flatnonzero((np.diff(keys, axis=0) != 0).any(axis=1)) + 1
    return order, np.concatenate(([0], starts, [len(table)])).astype(np.int64)


@njit(cache=True, parallel=True)
def _window_nonzeros(x, sw, f_out, kw, out):
    """``out[n, c, row, kx]``: the non-zero values among ``x[n, c, row, kx + sw * ox]`` for the
    ``f_out`` outputs ``ox``: what tap ``kx`` of one ifmap row meets across the output row."""
    n_img, channels, rows = x.shape[0], x.shape[1], x.shape[2]
    for plane in prange(n_img * channels):
        img = plane // channels
        c = plane % channels
        for row in range(rows):
            xrow = x[img, c, row]
            for kx in range(kw):
                count = 0
                for ox in range(f_out):
                    if xrow[kx + sw * ox] != 0:
                        count += 1
                out[img, c, row, kx] = count


@njit(cache=True)
def _pass_taps(nonzeros, row, cg, sh, f_out):
    """(non-zero, zero) ifmap values a pass's (output, tap) pairs meet, over its groups: the
    taps :func:`_pass_values` multiplies or gates, each once per filter of the pass."""
    nonzero = 0
    total = 0
    kx0, kx1 = row[T_KX0], row[T_KX1]
    for gi in range(row[T_G0], row[T_G0] + row[T_GN]):
        for img in range(row[T_I0], row[T_I1]):
            for y in range(row[T_Y0], row[T_Y1]):
                for cl in range(row[T_C0], row[T_C1]):
                    for ky in range(row[T_KY0], row[T_KY1]):
                        counts = nonzeros[img, gi * cg + cl, y * sh + ky]
                        for kx in range(kx0, kx1):
                            nonzero += counts[kx]
                        total += f_out * (kx1 - kx0)
    return nonzero, total - nonzero


@njit(cache=True, parallel=True)
def _count_kernel(nonzeros, table, geometry, cg, gate, counts):
    """Each pass's counts without its arithmetic (passes are independent here)."""
    sh, f_out = geometry[0], geometry[2]
    for index in prange(len(table)):
        row = table[index]
        nonzero, zeros = _pass_taps(nonzeros, row, cg, sh, f_out)
        filters = row[T_M1] - row[T_M0]
        if gate:
            macs, gated = nonzero * filters, zeros * filters
        else:
            macs, gated = (nonzero + zeros) * filters, 0
        _pass_structure(row, geometry, macs, gated, counts[index])


def count_passes(x_padded, table, geometry, *, groups: int, zero_gating: bool):
    """The ``counts`` of :func:`conv_passes` without the outputs (a run whose outputs are
    already known): only the ifmap's zeros are read, once per row and tap (not per pass).
    Same arguments, less the weights."""
    table, geometry = _checked(x_padded, table, geometry)
    counts = np.zeros((len(table), N_COLUMNS), dtype=np.int64)
    if len(table):
        kw = int(table[:, T_KX1].max())
        nonzeros = np.zeros((*x_padded.shape[:3], kw), dtype=np.int64)
        _window_nonzeros(np.ascontiguousarray(x_padded), geometry[1], geometry[2], kw,
                         nonzeros)
        _count_kernel(nonzeros, table, geometry, x_padded.shape[1] // groups,
                      bool(zero_gating), counts)
    return counts


def _checked(x_padded, table, geometry):
    """The pass table as int64 rows and the geometry with the padded width appended."""
    table = np.ascontiguousarray(table, dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != N_TABLE_COLUMNS:
        raise ValueError(f"pass table must be passes x {N_TABLE_COLUMNS}, got {table.shape}")
    return table, (*(int(v) for v in geometry), int(x_padded.shape[3]))


def conv_passes(x_padded, weights, table, geometry, *, groups: int, zero_gating: bool):
    """Run a conv/fc layer's passes; returns ``(acc, counts)``.

    ``x_padded`` is ``N x C x Hp x Wp`` and ``weights`` ``M x C/G x R x S``, both int16 or both
    float32. ``table`` is the int64 pass table (blocks contiguous, in order); ``geometry`` is
    ``(U_h, U_w, F, p, q)``: strides, output width, filters and channels per PE (the padded
    width is appended here). ``acc`` is
    ``N x E x F x M`` float64; ``counts`` is ``passes x N_COLUMNS`` int64.
    """
    if x_padded.dtype != weights.dtype or x_padded.dtype not in (np.int16, np.float32):
        raise TypeError(f"inputs must be both int16 or both float32, got {x_padded.dtype}, "
                        f"{weights.dtype}")
    table, geometry = _checked(x_padded, table, geometry)
    m_total, cg, kh, kw = weights.shape
    if cg * kh * kw >= 2 ** 23:
        raise ValueError("reduction too long for exact float64 accumulation of int16 products")
    n_img, _, hp, _ = x_padded.shape
    e_out = (hp - kh) // geometry[0] + 1
    acc = np.zeros((n_img, e_out, geometry[2], m_total), dtype=np.float64)
    counts = np.zeros((len(table), N_COLUMNS), dtype=np.int64)
    if len(table):
        order, unit_starts = _pass_units(table)
        _conv_kernel(np.ascontiguousarray(x_padded), np.ascontiguousarray(weights), acc, table,
                     order, unit_starts, geometry, cg, m_total // groups, bool(zero_gating),
                     counts)
    return acc, counts


def exact_sums(x_padded, weights, stride):
    """The ``acc`` of :func:`conv_passes` for int16 operands (``N x E x F x M`` float64), from
    one exact GEMM per image (:func:`accelsim.kernels.dense_gemm.conv_sums`) instead of the
    pass walk: every int16 product is an integer and their float64 sums are exact in any
    order, and zero gating skips only products with a zero factor. A fixed16 layer then
    walks its passes only to count them (:func:`count_passes`)."""
    n_img, _, hp, wp = x_padded.shape
    m_total, _, kh, kw = weights.shape
    e_out, f_out = (hp - kh) // stride[0] + 1, (wp - kw) // stride[1] + 1
    acc = np.empty((n_img, e_out, f_out, m_total), dtype=np.float64)
    for img in range(n_img):
        acc[img] = dense_gemm.conv_sums(x_padded[img].transpose(1, 2, 0), weights, stride)
    return acc


# ---- run-length compression ----------------------------------------------------------------

@njit(cache=True, parallel=True)
def _rlc_plane_pairs(planes, cum):
    """Planes in parallel: each is its own stream, its counts its own row of ``cum``."""
    for i in prange(planes.shape[0]):
        pairs = 0
        run = 0
        for y in range(planes.shape[1]):
            for value in planes[i, y]:
                if value != 0:
                    pairs += 1
                    run = 0
                elif run == RLC_MAX_RUN:   # 31 zeros pending: this zero is the level of (31, 0)
                    pairs += 1
                    run = 0
                else:
                    run += 1
            cum[i, y + 1] = pairs
        if run > 0:                        # trailing zeros: one (run - 1, 0) pair
            cum[i, planes.shape[1]] = pairs + 1


def rlc_pairs_per_word(level_bits: int = 16) -> int:
    """(run, level) pairs in one 64-bit RLC word: 3 at 16 bits (+ a termination bit)."""
    return (RLC_WORD_BITS - 1) // (RLC_RUN_BITS + level_bits)


def rlc_cumulative_pairs(tensor: np.ndarray) -> np.ndarray:
    """RLC pairs before each row of every ``H x W`` plane: ``... x (H + 1)`` int64.

    A plane (one channel of one image) is one stream, row-major: pairs of (run of up to 31
    zeros, next value); a zero that would make the run 32 is emitted as the level of a
    (31, 0) pair, and the plane's trailing zeros as one last pair.
    """
    planes = np.ascontiguousarray(tensor).reshape(-1, *tensor.shape[-2:])
    cum = np.zeros((len(planes), tensor.shape[-2] + 1), dtype=np.int64)
    _rlc_plane_pairs(planes, cum)
    return cum.reshape(*tensor.shape[:-2], tensor.shape[-2] + 1)


@njit(cache=True)
def _region_bytes(cum, per_word, table, select_col, ch_lo, ch_hi, ch_per_group, input_rows,
                  sh, pad_t, out):
    """For every pass whose ``select_col`` flag is set: the DRAM bytes of its images'
    channels ``[ch_lo, ch_hi)`` (columns of the table, local to each group) over its rows: the
    ifmap rows its reduction group reads (``input_rows``) or its output rows.

    ``cum`` is ``N x C x (H + 1)``: cumulative bytes before each row (``per_word`` = 0), or
    cumulative RLC pairs (``per_word`` pairs per 64-bit word: a fetch reads every word that
    holds one of its pairs)."""
    height = cum.shape[2] - 1
    for index in range(len(table)):
        row = table[index]
        if row[select_col] == 0:
            continue
        lo, hi = row[T_Y0], row[T_Y1]
        if input_rows:
            lo = lo * sh + row[T_KY0] - pad_t
            hi = (hi - 1) * sh + row[T_KY1] - pad_t
        lo = max(lo, 0)
        hi = min(hi, height)
        if hi <= lo:
            continue
        total = 0
        for gi in range(row[T_G0], row[T_G0] + row[T_GN]):
            for img in range(row[T_I0], row[T_I1]):
                for cl in range(row[ch_lo], row[ch_hi]):
                    c = gi * ch_per_group + cl
                    if per_word == 0:
                        total += cum[img, c, hi] - cum[img, c, lo]
                    else:
                        words = (cum[img, c, hi] + per_word - 1) // per_word \
                            - cum[img, c, lo] // per_word
                        total += words * (RLC_WORD_BITS // 8)
        out[index] = total


def refill_bytes(cum, per_word, table, *, channels_per_group, stride_h, pad_top):
    """DRAM bytes of each pass's ifmap refill (the ifmap rows its reduction group needs);
    ``cum``/``per_word`` describe the stored input (see :func:`_region_bytes`)."""
    return _region_sums(cum, per_word, table, T_REFILL, T_C0, T_C1, channels_per_group, True,
                        stride_h, pad_top)


def readout_bytes(cum, per_word, table, *, filters_per_group):
    """DRAM bytes of the ofmap rows each block writes after its last pass."""
    return _region_sums(cum, per_word, table, T_READOUT, T_MC0, T_MC1, filters_per_group,
                        False, 0, 0)


def _region_sums(cum, per_word, table, select_col, ch_lo, ch_hi, ch_per_group, input_rows,
                 sh, pad_t):
    out = np.zeros(len(table), dtype=np.int64)
    _region_bytes(np.ascontiguousarray(cum, dtype=np.int64), int(per_word),
                  np.ascontiguousarray(table, dtype=np.int64), select_col, ch_lo, ch_hi,
                  ch_per_group, bool(input_rows), int(sh), int(pad_t), out)
    return out


# ---- pooling (our extension: the chip runs only CONV layers) ------------------------------

@njit(cache=True, parallel=True)
def _pool_kernel(x, out, n_valid, is_max, kh, kw, sh, sw, pad_t, pad_l):
    n_img, channels, in_h, in_w = x.shape
    p_out, q_out = out.shape[2], out.shape[3]
    for plane in prange(n_img * channels):
        img = plane // channels
        c = plane % channels
        for oy in range(p_out):
            for ox in range(q_out):
                count = 0
                best = out.dtype.type(0)
                for ky in range(kh):
                    iy = oy * sh + ky - pad_t
                    if iy < 0 or iy >= in_h:
                        continue
                    for kx in range(kw):
                        ix = ox * sw + kx - pad_l
                        if ix < 0 or ix >= in_w:
                            continue
                        value = out.dtype.type(x[img, c, iy, ix])
                        if count == 0:
                            best = value
                        elif is_max:
                            best = max(best, value)
                        else:
                            best += value
                        count += 1
                out[img, c, oy, ox] = best
                n_valid[oy, ox] = count


def pool_values(x, *, is_max: bool, kernel, stride, pad, out_hw):
    """Window maxima or sums over in-bounds elements (``N x C x P x Q``, int64 for int16
    input, float64 otherwise) and the in-bounds counts (``P x Q``)."""
    acc_dtype = np.int64 if x.dtype == np.int16 else np.float64
    out = np.zeros((x.shape[0], x.shape[1], *out_hw), dtype=acc_dtype)
    n_valid = np.zeros(out_hw, dtype=np.int64)
    _pool_kernel(np.ascontiguousarray(x), out, n_valid, bool(is_max), int(kernel[0]),
                 int(kernel[1]), int(stride[0]), int(stride[1]), int(pad[0]), int(pad[1]))
    return out, n_valid
