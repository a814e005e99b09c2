"""A SCALE-Sim systolic array, cycle for cycle: fold walk, demand rows, SRAM models.

SCALE-Sim 3.0.0 maps a convolution onto an ``R x C`` array as a GEMM of the ifmap operand
matrix (``px x win``: output pixels x window elements, ``window = (ky, kx, c)``) and the
filter operand matrix (``win x M``); the dataflow picks which two GEMM dimensions are spread
over the array (``Sr`` rows, ``Sc`` columns) and which is streamed in time (``T``)::

    os: Sr = px,  Sc = M,   T = win      ws: Sr = win, Sc = M,  T = px
    is: Sr = win, Sc = px,  T = M

``ceil(Sr / R) x ceil(Sc / C)`` folds run one after the other (column folds outer). Each
fold is a block of demand rows, one per cycle (``scalesim/compute/systolic_compute_*.py``):
``T + R + C - 2`` rows for os (operands skewed in, outputs drained), ``2R + T + C - 2`` for
ws and is (``R`` rows to load the stationary operand, ``2R - 1`` before the first output).
Each row's ifmap and filter addresses go through the read buffers and its outputs through the
write buffer (:mod:`accelsim.kernels.scalesim_memory`); a row waits for the slowest of the
three, and that wait is a stall. The layer's cycles are the last row's serviced cycle.

:func:`simulate_layer` walks all rows in numba (no traces are stored) and returns SCALE-Sim's
report figures; :func:`conv_values` computes the real outputs of the same GEMM. In CALC mode a
fold that demands each address once and none in the read buffer's window (or whose window an
epoch has just emptied) is counted, not looked up (:func:`_walk`): reads never stall
there, so only how many addresses each row demands matters; so are an os filter's misses,
the first addresses of each fold. In USER mode a ws layer needs no per-address set tables: a
filter row is one row of the prefetch matrix, an ifmap row a run of consecutive entries of
the prefetch sequence, whose sets follow from their places in it.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.lib.stride_tricks import sliding_window_view

from accelsim.kernels import dense_gemm
from accelsim.kernels import scalesim_memory as mem

OS, WS, IS = 0, 1, 2
DATAFLOWS = {"os": OS, "ws": WS, "is": IS}

# Geometry vector (int64), built by :func:`geometry`.
G_R, G_C, G_HP, G_WP, G_CH, G_KH, G_KW, G_SH, G_SW, G_E, G_F, G_M, G_PX, G_WIN, G_SR, \
    G_SC, G_T, G_COL_FOLDS, G_ROW_FOLDS, G_FOLD_ROWS, G_DF, G_FAITHFUL, G_BLOCK = range(23)
N_GEOMETRY = 23

# Per-fold columns of the ``folds`` table.
F_ROWS, F_STALL, F_IFMAP_WORDS, F_FILTER_WORDS, F_OFMAP_WORDS = range(5)
N_FOLD_COLUMNS = 5

# Summary vector (int64).
S_CYCLES, S_STALL, S_IFMAP_READS, S_FILTER_READS, S_OFMAP_WRITES, \
    S_IFMAP_SRAM_START, S_IFMAP_SRAM_STOP, S_FILTER_SRAM_START, S_FILTER_SRAM_STOP, \
    S_OFMAP_SRAM_START, S_OFMAP_SRAM_STOP = range(11)
N_SUMMARY = 11


def geometry(dataflow: str, rows: int, cols: int, padded_hw, channels: int, kernel, stride,
             filters: int, out_hw, faithful: bool, window: int | None = None,
             compressed: int = 0, block: int = 0) -> np.ndarray:
    """The geometry vector of one GEMM (one group of a layer).

    ``padded_hw``: the input with its padding (SCALE-Sim's IFMAP); ``out_hw``: the output
    size the array computes; ``window``: the window elements the GEMM keeps (N:M sparsity
    compresses the reduction, see :func:`address_tables`), all of them by default.
    ``compressed``, ``block``: ws with SCALE-Sim's optimized sparse mapping, the compressed
    filter's rows and ``BlockSize`` (see :func:`_demand_row_optimized`).
    """
    df = DATAFLOWS[dataflow]
    px = out_hw[0] * out_hw[1]
    win = kernel[0] * kernel[1] * channels if window is None else window
    sr, sc, t = {OS: (px, filters, win), WS: (compressed or win, filters, px),
                 IS: (win, px, filters)}[df]
    fold_rows = t + rows + cols - 2 if df == OS else 2 * rows + t + cols - 2
    values = (rows, cols, padded_hw[0], padded_hw[1], channels, kernel[0], kernel[1],
              stride[0], stride[1], out_hw[0], out_hw[1], filters, px, win, sr, sc, t,
              -(-sc // cols), -(-sr // rows), fold_rows, df, int(faithful), block)
    return np.array(values, dtype=np.int64)


def address_tables(g: np.ndarray, kept: np.ndarray | None = None) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """``pixels`` (px x 3: the window corner's address, row, column in the padded HWC input)
    and ``window`` (win x 3: each element's address offset, row, column): an ifmap address is
    ``pixels[p, 0] + window[t, 0]``, or -1 where row or column runs past the input.
    ``kept``: the window elements (``(ky, kx, c)`` order) of a compressed reduction, in order:
    SCALE-Sim's sparse filter operand keeps only those rows and its ifmap operand only those
    columns, so the GEMM runs dense on them (a filter address is then ``m * win + t``)."""
    p = np.arange(int(g[G_PX]), dtype=np.int64)
    oy, ox = np.divmod(p, g[G_F])
    iy, ix = oy * g[G_SH], ox * g[G_SW]
    t = np.arange(int(g[G_WIN]), dtype=np.int64) if kept is None else \
        np.asarray(kept, dtype=np.int64)
    ky, rest = np.divmod(t, g[G_KW] * g[G_CH])
    kx, c = np.divmod(rest, g[G_CH])
    pixels = np.stack([(iy * g[G_WP] + ix) * g[G_CH], iy, ix], axis=1)
    window = np.stack([(ky * g[G_WP] + kx) * g[G_CH] + c, ky, kx], axis=1)
    return np.ascontiguousarray(pixels), np.ascontiguousarray(window)


@njit(cache=True)
def _ifmap_row(g, pixels, window, out, k, fc, fr):
    """Row ``k`` of fold (``fc``, ``fr``): its ifmap addresses into ``out`` (row order,
    padding dropped); returns their number. Lanes are the demand matrix's columns; a skewed
    block's lane ``l`` holds source row ``k - l - offset``."""
    r_arr, c_arr, t_len = g[G_R], g[G_C], g[G_T]
    hp, wp, df = g[G_HP], g[G_WP], g[G_DF]
    n = 0
    if df != IS:   # os: lane l streams pixel fr*R + l; ws: window element fr*R + l
        rows_used = min(r_arr, g[G_SR] - fr * r_arr)
        offset = 0 if df == OS else r_arr
        for lane in range(max(0, k - offset - t_len + 1), min(rows_used, k - offset + 1)):
            s = k - lane - offset
            p, t = (fr * r_arr + lane, s) if df == OS else (s, fr * r_arr + lane)
            if pixels[p, 1] + window[t, 1] < hp and pixels[p, 2] + window[t, 2] < wp:
                out[n] = pixels[p, 0] + window[t, 0]
                n += 1
        return n
    stationary = fr * r_arr + r_arr - 1 - k      # is: element loaded at row k (flipped)
    if k < r_arr and stationary < g[G_WIN]:
        for lane in range(min(c_arr, g[G_SC] - fc * c_arr)):
            p = fc * c_arr + lane
            if (pixels[p, 1] + window[stationary, 1] < hp
                    and pixels[p, 2] + window[stationary, 2] < wp):
                out[n] = pixels[p, 0] + window[stationary, 0]
                n += 1
    return n


@njit(cache=True)
def _filter_row(g, out, k, fc, fr):
    """Row ``k`` of fold (``fc``, ``fr``): its filter addresses into ``out``; their number."""
    r_arr, c_arr, t_len, win, df = g[G_R], g[G_C], g[G_T], g[G_WIN], g[G_DF]
    n = 0
    if df == OS:   # lane l streams filter fc*C + l
        for lane in range(max(0, k - t_len + 1), min(c_arr, g[G_SC] - fc * c_arr, k + 1)):
            out[n] = (fc * c_arr + lane) * win + k - lane
            n += 1
    elif df == WS:   # element loaded at row k (flipped) of every filter
        stationary = fr * r_arr + r_arr - 1 - k
        if k < r_arr and stationary < win:
            for lane in range(min(c_arr, g[G_SC] - fc * c_arr)):
                out[n] = (fc * c_arr + lane) * win + stationary
                n += 1
    else:          # is: lane l streams window element fr*R + l of every filter
        rows_used = min(r_arr, g[G_SR] - fr * r_arr)
        for lane in range(max(0, k - r_arr - t_len + 1), min(rows_used, k - r_arr + 1)):
            out[n] = (k - lane - r_arr) * win + fr * r_arr + lane
            n += 1
    return n


@njit(cache=True)
def _row_outputs(g, k, fc, fr):
    """Outputs row ``k`` of fold (``fc``, ``fr``) writes (os: they leave flipped, bottom row
    first; ws / is: one per column from row ``2R - 2``)."""
    r_arr, t_len = g[G_R], g[G_T]
    rows_used = min(r_arr, g[G_SR] - fr * r_arr)
    cols_used = min(g[G_C], g[G_SC] - fc * g[G_C])
    if g[G_DF] == OS:
        first = max(0, k - t_len + 2 - r_arr)
        last = min(cols_used - 1, k - t_len + 1 - r_arr + rows_used)
        return max(0, last - first + 1)
    return max(0, min(cols_used, k - 2 * r_arr + 2) - max(0, k - 2 * r_arr - t_len + 2))


@njit(cache=True)
def _row_count(g, operand, k, fc, fr):
    """How many addresses :func:`_ifmap_row` / :func:`_filter_row` give row ``k`` when no
    ifmap address is padding (:func:`_no_overrun`): a skewed band's lanes or a stationary
    row's columns, without making the addresses."""
    r_arr, c_arr, t_len, df = g[G_R], g[G_C], g[G_T], g[G_DF]
    rows_used = min(r_arr, g[G_SR] - fr * r_arr)
    cols_used = min(c_arr, g[G_SC] - fc * c_arr)
    if (df == IS and operand == IFMAP) or (df == WS and operand == FILTER):   # stationary
        return cols_used if k < r_arr and fr * r_arr + r_arr - 1 - k < g[G_SR] else 0
    offset = r_arr if df == IS or df == WS else 0
    lanes = cols_used if df == OS and operand == FILTER else rows_used
    return max(0, min(lanes, k - offset + 1) - max(0, k - offset - t_len + 1))


@njit(cache=True)
def _demand_row_optimized(g, pixels, window, fmat, buf, k, fc, fr):
    """Row ``k`` of fold (``fc``, ``fr``) of SCALE-Sim's ws optimized sparse mapping
    (``skew_matrix_row_sparsity``): the stationary rows are the compressed filter ``fmat``
    (``Sr x M`` addresses, -1 where a block's kept weights run out); the ifmap side streams
    ``2R`` window elements a fold in blocks of ``B``, each block repeated on ``B / 2``
    consecutive lanes, lane ``j`` one pixel behind lane ``j - 1``."""
    r_arr, c_arr, t_len, win, block = g[G_R], g[G_C], g[G_T], g[G_WIN], g[G_BLOCK]
    hp, wp = g[G_HP], g[G_WP]
    cols_used = min(c_arr, g[G_SC] - fc * c_arr)
    n_if = n_fi = 0
    stationary = fr * r_arr + r_arr - 1 - k
    if k < r_arr and stationary < g[G_SR]:
        for lane in range(cols_used):
            address = fmat[stationary, fc * c_arr + lane]
            if address >= 0:
                buf[1, n_fi] = address
                n_fi += 1
    i = k - r_arr
    start = fr * 2 * r_arr
    end = min(start + 2 * r_arr, win)
    for lane in range(max(0, i - t_len + 1), min(r_arr, i + 1)):
        p = i - lane
        first = start + (lane // (block // 2)) * block
        for t in range(first, min(first + block, end)):
            if pixels[p, 1] + window[t, 1] < hp and pixels[p, 2] + window[t, 2] < wp:
                buf[0, n_if] = pixels[p, 0] + window[t, 0]
                n_if += 1
    outputs = min(cols_used, k - 2 * r_arr + 2) - max(0, k - 2 * r_arr - t_len + 2)
    return n_if, n_fi, max(0, outputs)


@njit(cache=True)
def _fold_utilization(g, fc, fr):
    """SCALE-Sim's mapping efficiency and compute utilization of one fold."""
    r_arr, c_arr = g[G_R], g[G_C]
    used = min(r_arr, g[G_SR] - fr * r_arr) * min(c_arr, g[G_SC] - fc * c_arr)
    cells = r_arr * c_arr
    cycles = g[G_FOLD_ROWS]
    if g[G_DF] != OS and g[G_FAITHFUL] == 0:
        cycles = g[G_FOLD_ROWS] + c_arr - 1    # ws/is count the demand width twice
    return used / cells, (used * g[G_T]) / (cells * cycles)


@njit(cache=True)
def _track(summary, start, stop, serviced, present):
    if present:
        if summary[start] == -(2 ** 62):
            summary[start] = serviced
        summary[stop] = serviced


@njit(cache=True)
def _no_overrun(g):
    """True if no window runs past the padded input (no ifmap address is padding)."""
    return ((g[G_E] - 1) * g[G_SH] + g[G_KH] <= g[G_HP]
            and (g[G_F] - 1) * g[G_SW] + g[G_KW] <= g[G_WP])


@njit(cache=True)
def _repeat_free(g, window, operand, fc, fr):
    """True if fold (``fc``, ``fr``) demands each of its ``operand`` addresses at most once.
    A filter address is a (filter, window element) pair, each demanded once a fold. An ifmap
    address is a pixel's window corner plus an element's offset: distinct pixels' windows
    cannot share an input when the fold has one pixel or the strides are at least the kernel,
    nor can elements at one kernel position (``ky``, ``kx``: their offsets differ by channel
    only, corners by a pixel)."""
    if operand == FILTER:
        return True
    r_arr, c_arr, df = g[G_R], g[G_C], g[G_DF]
    if df == OS:
        first, end, n_pixels = 0, g[G_WIN], min(r_arr, g[G_SR] - fr * r_arr)
    else:
        first = fr * r_arr
        end = min(first + r_arr, g[G_WIN])
        n_pixels = g[G_PX] if df == WS else min(c_arr, g[G_SC] - fc * c_arr)
    if n_pixels == 1 or (g[G_SH] >= g[G_KH] and g[G_SW] >= g[G_KW]):
        return True
    for t in range(first + 1, end):
        if window[t, 1] != window[first, 1] or window[t, 2] != window[first, 2]:
            return False
    return True


@njit(cache=True)
def _channels(g, window, fr):
    """The lowest and highest channel of row fold ``fr``'s window elements (ws / is)."""
    first = fr * g[G_R]
    low, high = g[G_CH], -1
    for t in range(first, min(first + g[G_R], g[G_WIN])):
        low = min(low, window[t, 0] % g[G_CH])
        high = max(high, window[t, 0] % g[G_CH])
    return low, high


@njit(cache=True)
def _ifmap_disjoint(g, window, f1, f2):
    """True if folds ``f1`` and ``f2`` cannot demand a common ifmap address: ws / is, their
    window elements (row folds) have no channel in common or (one pixel) are other elements;
    os, their pixels' windows do not overlap (other pixels, strides at least the kernel)."""
    fr1, fr2 = f1 % g[G_ROW_FOLDS], f2 % g[G_ROW_FOLDS]
    if g[G_DF] == OS:
        return fr1 != fr2 and g[G_SH] >= g[G_KH] and g[G_SW] >= g[G_KW]
    if fr1 == fr2:
        return False
    if g[G_PX] == 1:
        return True
    low1, high1 = _channels(g, window, fr1)
    low2, high2 = _channels(g, window, fr2)
    return high1 < low2 or high2 < low1


_FRESH_LOOKBACK = 64   # folds an ifmap fold is compared with before it is walked instead


@njit(cache=True)
def _fresh(g, window, operand, fold, epoch_fold):
    """True if fold ``fold`` demands none of the addresses in the CALC window, which holds
    only addresses of folds ``epoch_fold .. fold - 1`` (an epoch ended in ``epoch_fold``).
    A filter address is demanded by the folds of one window block (is) or by one fold (ws;
    os filters: :func:`_os_filter_misses`)."""
    if operand == FILTER:
        return g[G_DF] == WS or fold - g[G_ROW_FOLDS] < epoch_fold
    if fold - epoch_fold > _FRESH_LOOKBACK:
        return False
    for other in range(epoch_fold, fold):
        if not _ifmap_disjoint(g, window, other, fold):
            return False
    return True


@njit(cache=True)
def _os_filter_misses(g, est, fold, epoch_fold):
    """How many of os fold ``fold``'s filter addresses miss in CALC mode, all of them the
    first in demand order. The folds of a column fold demand the same ``D`` weights (its
    filters' windows) in the same order, once each; the first meets only other filters in
    the window: all miss. A later one, when no epoch ended since the previous fold began,
    finds all ``D`` in the window: none miss. After an epoch in the previous fold the window
    holds that fold's last ``W`` addresses (each demanded once since), so this fold's first
    ``D - W`` miss and the rest hit; unless ``D`` reaches an epoch's 50 sets: an epoch then
    ends among those misses and empties the window before the hits, and so on: all miss."""
    fc, fr = fold // g[G_ROW_FOLDS], fold % g[G_ROW_FOLDS]
    demanded = min(g[G_C], g[G_SC] - fc * g[G_C]) * g[G_T]
    if fr == 0 or demanded >= mem.ESTIMATE_SETS * est[mem.EST_ITEMS]:
        return demanded
    if epoch_fold < fold - 1:
        return 0
    return demanded - mem.estimate_window_size(est)


@njit(cache=True)
def _filter_demanded_again(g, fold):
    """False if no later fold looks a filter address of ``fold`` up (its counted addresses
    then need no place in the window; os folds count theirs: :func:`_os_filter_misses`)."""
    fc = fold // g[G_ROW_FOLDS]
    return g[G_DF] == IS and fc < g[G_COL_FOLDS] - 1


@njit(cache=True)
def _operand_row(g, pixels, window, operand, out, k, fc, fr):
    if operand == IFMAP:
        return _ifmap_row(g, pixels, window, out, k, fc, fr)
    return _filter_row(g, out, k, fc, fr)


@njit(cache=True)
def _calc_mark(g, pixels, window, operand, est, last_set, out, fold, first_row, left):
    """Put the last ``left`` addresses of a fold counted from row ``first_row`` (those since
    the last epoch) in the window, walking its rows backwards."""
    fc, fr = fold // g[G_ROW_FOLDS], fold % g[G_ROW_FOLDS]
    k = g[G_FOLD_ROWS] - 1
    while left > 0 and k >= first_row:
        n = _operand_row(g, pixels, window, operand, out, k, fc, fr)
        take = min(n, left)
        mem.estimate_mark(est, last_set, out[n - take:n], take)
        left -= take
        k -= 1


_PENDING = 16   # counted fold ends a read buffer holds back from its window


@njit(cache=True)
def _mark_pending(g, pixels, window, operand, est, last_set, out, pending, n_pending):
    """Put the counted fold ends held back (``pending[operand]``: fold, first counted row,
    addresses in the window) in the window: a fold that looks its addresses up is next. Held
    back because a fresh fold (:func:`_fresh`) needs no lookups and an epoch's end makes them
    moot."""
    for i in range(n_pending[operand]):
        _calc_mark(g, pixels, window, operand, est, last_set, out, pending[operand, i, 0],
                   pending[operand, i, 1], pending[operand, i, 2])
    n_pending[operand] = 0


@njit(cache=True)
def _hold_back(g, pixels, window, operand, est, last_set, out, pending, n_pending, fold,
               first_row):
    """Fold ``fold`` was counted from row ``first_row``: hold its window entries back."""
    if n_pending[operand] == _PENDING:
        _mark_pending(g, pixels, window, operand, est, last_set, out, pending, n_pending)
    i = n_pending[operand]
    pending[operand, i, 0] = fold
    pending[operand, i, 1] = first_row
    pending[operand, i, 2] = mem.estimate_window_size(est)
    n_pending[operand] = i + 1


@njit(cache=True)
def _ws_padding(g, diag, low, top):
    """Padding entries in rows ``low .. top`` of anti-diagonal ``diag`` of a ws ifmap's
    prefetch matrix with no window overrun (:func:`_no_overrun`): the last row fold's
    columns past the last window element."""
    r_arr, t_len, win = g[G_R], g[G_T], g[G_WIN]
    last_fold = (win - 1) // r_arr
    first = max(low, last_fold * t_len)
    last = min(top, diag - (win - last_fold * r_arr))
    return max(0, last - first + 1)


@njit(cache=True)
def ws_ifmap_diagonals(g):
    """Sequence index of each anti-diagonal's first entry in a ws ifmap's prefetch matrix
    (no window overrun, window not compressed; the last entry: the sequence's length), so
    that :func:`_ws_position` finds any entry's index without the sequence."""
    n_rows, n_cols = -(-g[G_WIN] // g[G_R]) * g[G_T], g[G_R]
    starts = np.zeros(n_rows + n_cols, dtype=np.int64)
    for diag in range(n_rows + n_cols - 1):
        top, low = min(diag, n_rows - 1), max(0, diag - n_cols + 1)
        starts[diag + 1] = starts[diag] + top - low + 1 - _ws_padding(g, diag, low, top)
    return starts


@njit(cache=True)
def _ws_position(g, starts, pixel, element):
    """Sequence index of the ws ifmap prefetch entry of ``pixel`` and window ``element``
    (row ``element // R * T + pixel``, column ``element % R``): its diagonal's start plus
    the valid entries walked before it, those of the rows below it."""
    row = element // g[G_R] * g[G_T] + pixel
    diag = row + element % g[G_R]
    top = min(diag, len(starts) - 1 - g[G_R])
    return starts[diag] + top - row - _ws_padding(g, diag, row + 1, top)


@njit(cache=True)
def _ws_ifmap_held(g, st, starts, pixel, element):
    """USER mode's test (``mem.user_read``) for the ifmap address of ``pixel`` and window
    ``element``, ws, no overrun, window not compressed: is a set holding it in the window?
    The entries holding the same input are the (pixel, element) pairs of the kernel
    positions over it, the same channel; this pair's own set is tried first."""
    set_words = st[mem.USR_SET_WORDS]
    if mem.user_holds(st, _ws_position(g, starts, pixel, element) // set_words):
        return True
    sh, sw, kh, kw, ch, n_e, n_f = g[G_SH], g[G_SW], g[G_KH], g[G_KW], g[G_CH], g[G_E], g[G_F]
    oy, ox = pixel // n_f, pixel % n_f
    ky, rest = element // (kw * ch), element % (kw * ch)
    kx, c = rest // ch, rest % ch
    y, x = oy * sh + ky, ox * sw + kx
    for ky2 in range(kh):
        if y < ky2 or (y - ky2) % sh or (y - ky2) // sh >= n_e:
            continue
        for kx2 in range(kw):
            if x < kx2 or (x - kx2) % sw or (x - kx2) // sw >= n_f:
                continue
            other = ((y - ky2) // sh * n_f + (x - kx2) // sw, (ky2 * kw + kx2) * ch + c)
            if mem.user_holds(st, _ws_position(g, starts, *other) // set_words):
                return True
    return False


@njit(cache=True)
def _ws_ifmap_read(g, st, starts, n, k, fr, cycle, fold, fold_words, faithful):
    """``mem.user_read`` of ws ifmap row ``k`` of row fold ``fr`` (``n`` addresses; no
    overrun, window not compressed) without addresses or set tables: the row's entries
    are consecutive in the prefetch sequence (one anti-diagonal's part in this fold), so
    when their own sets are all in the window every address hits; else each address is
    tested in turn (:func:`_ws_ifmap_held`). Returns the row's stall."""
    mem.user_first(st, cycle, fold, fold_words)
    if n == 0:
        return 0
    r_arr = g[G_R]
    lane = max(0, k - r_arr - g[G_T] + 1)      # the first lane: pixel k - lane - R
    pixel, element = k - lane - r_arr, fr * r_arr + lane
    first = _ws_position(g, starts, pixel, element)
    set_words = st[mem.USR_SET_WORDS]
    held = True
    for set_id in range(first // set_words, (first + n - 1) // set_words + 1):
        held = held and mem.user_holds(st, set_id)
    if held:
        return 0
    offset = 1
    for j in range(n):
        while not _ws_ifmap_held(g, st, starts, pixel - j, element + j):
            offset = mem.user_miss(st, cycle, offset, fold, fold_words, faithful)
    return offset - 1


@njit(cache=True)
def _filter_row_sets(g, set_words, n, k, fc, fr):
    """The first and last prefetch set of row ``k``'s ``n`` weights of fold (``fc``, ``fr``),
    ws, not compressed (an empty range if none): they are one row of the filter's prefetch
    matrix (:func:`_prefetch_index`), the stationary element's, entries ``fc * Sr * C + t *
    n + lane`` with ``t`` its load order (a reversal within each row fold: its own inverse),
    so each weight's set is known without a table (VGG-16's fc6: 102 M of them)."""
    if n == 0:
        return 1, 0
    r_arr, sr = g[G_R], g[G_SR]
    t = _load_order(g[G_FAITHFUL] == 1, r_arr, fr * r_arr + r_arr - 1 - k, sr)
    first = fc * sr * g[G_C] + t * n
    return first // set_words, (first + n - 1) // set_words


@njit(cache=True)
def _walk(g, pixels, window, fmat, calc, shortcuts, ifmap_sram, filter_sram, diagonals, wr,
          lines, folds, summary, utilization):
    """Every demand row of every fold through the three buffers (see the module docstring).

    ``ifmap_sram`` / ``filter_sram``: ``(CALC state, last set per address plus one, USER
    state, set ptr, set ids)`` (the unused mode's arrays are dummies); ``wr``, ``lines``: the
    ofmap SRAM.
    ``shortcuts``: in CALC mode, count (:func:`_row_count`; made only if some could be
    padding), not look up, the addresses of a repeat-free fold that are sure to miss: all of
    a fresh fold (:func:`_fresh`), the rest of one after an epoch ends in it (the window then
    holds only this fold's addresses, each demanded once); enter them in the window only
    when a later fold looks addresses up (:func:`_hold_back`); an os filter's misses, the
    first of each fold (:func:`_os_filter_misses`), are counted and its hits skipped. In
    USER mode, a filter without a set table (``fi_ids`` empty: a ws filter,
    :func:`_user_buffer`) is served a set at a time (:func:`_filter_row_sets`), and an ifmap
    with ``diagonals`` (:func:`ws_ifmap_diagonals`) by its rows' places in the sequence
    (:func:`_ws_ifmap_read`). False looks every address up (the reference, for tests).
    """
    faithful = g[G_FAITHFUL] == 1
    if_est, if_last, if_usr, if_ptr, if_ids = ifmap_sram
    fi_est, fi_last, fi_usr, fi_ptr, fi_ids = filter_sram
    optimized = g[G_BLOCK] > 0
    counting = calc and shortcuts and not optimized
    exact_counts = _no_overrun(g)
    filter_by_sets = not calc and len(fi_ids) == 0
    ifmap_by_positions = not calc and len(diagonals) > 0
    buf = np.empty((2, max(g[G_R] * max(1, g[G_BLOCK]), g[G_C])), dtype=np.int64)
    ifmap, filt = buf[0], buf[1]
    if_words = folds[:, F_IFMAP_WORDS]
    fi_words = folds[:, F_FILTER_WORDS]
    of_words = folds[:, F_OFMAP_WORDS]
    stall = 0
    last_out = 0
    if_epoch = fi_epoch = 0        # the fold in which each read buffer's last epoch ended
    pending = np.zeros((2, _PENDING, 3), dtype=np.int64)    # per operand, _hold_back
    n_pending = np.zeros(2, dtype=np.int64)
    n_rows = g[G_FOLD_ROWS]
    for fold in range(g[G_COL_FOLDS] * g[G_ROW_FOLDS]):
        fc = fold // g[G_ROW_FOLDS]
        fr = fold - fc * g[G_ROW_FOLDS]
        mapping, compute = _fold_utilization(g, fc, fr)
        if optimized:   # the cells holding a kept weight, not -1
            block = fmat[fr * g[G_R]:fr * g[G_R] + g[G_R], fc * g[G_C]:fc * g[G_C] + g[G_C]]
            mapping = (block >= 0).sum() / (g[G_R] * g[G_C])
        utilization[0] += mapping
        utilization[1] += compute
        folds[fold, F_ROWS] = n_rows
        if_free = counting and _repeat_free(g, window, IFMAP, fc, fr)
        fi_free = counting
        if_from = 0 if if_free and _fresh(g, window, IFMAP, fold, if_epoch) else n_rows
        if counting and g[G_DF] == OS:     # counted: its first fi_left addresses miss
            fi_from, fi_left = 0, _os_filter_misses(g, fi_est, fold, fi_epoch)
        else:                             # counted from fi_from on: all miss
            fi_from = 0 if fi_free and _fresh(g, window, FILTER, fold, fi_epoch) else n_rows
            fi_left = 2 ** 62
        if if_from > 0 and n_pending[IFMAP]:
            _mark_pending(g, pixels, window, IFMAP, if_est, if_last, ifmap, pending, n_pending)
        if fi_from > 0 and n_pending[FILTER]:
            _mark_pending(g, pixels, window, FILTER, fi_est, fi_last, filt, pending, n_pending)
        for k in range(n_rows):
            cycle = fold * n_rows + k + stall
            if optimized:
                n_if, n_fi, n_of = _demand_row_optimized(g, pixels, window, fmat, buf, k, fc,
                                                         fr)
            elif calc:   # from row *_from on, sure misses: counted, not looked up
                if_start, fi_start = if_est[mem.EST_START], fi_est[mem.EST_START]
                if k < if_from:
                    n_if = _ifmap_row(g, pixels, window, ifmap, k, fc, fr)
                    mem.estimate_read(if_est, if_last, ifmap, n_if, cycle, fold, if_words)
                else:
                    n_if = _row_count(g, IFMAP, k, fc, fr) if exact_counts else \
                        _ifmap_row(g, pixels, window, ifmap, k, fc, fr)
                    mem.estimate_misses(if_est, n_if, cycle, fold, if_words)
                if k < fi_from:
                    n_fi = _filter_row(g, filt, k, fc, fr)
                    mem.estimate_read(fi_est, fi_last, filt, n_fi, cycle, fold, fi_words)
                else:
                    n_fi = _row_count(g, FILTER, k, fc, fr)
                    misses = min(n_fi, fi_left)
                    fi_left -= misses
                    mem.estimate_misses(fi_est, misses, cycle, fold, fi_words)
                if if_est[mem.EST_START] != if_start:     # an epoch ended in the row
                    if_epoch = fold
                    n_pending[IFMAP] = 0
                    if if_free and if_from == n_rows:    # count the rest of the fold
                        if_from = k + 1
                if fi_est[mem.EST_START] != fi_start:
                    fi_epoch = fold
                    n_pending[FILTER] = 0
                    if fi_free and fi_from == n_rows:
                        fi_from = k + 1
                n_of = _row_outputs(g, k, fc, fr)
            else:
                n_if = _row_count(g, IFMAP, k, fc, fr) if ifmap_by_positions else \
                    _ifmap_row(g, pixels, window, ifmap, k, fc, fr)
                n_fi = _row_count(g, FILTER, k, fc, fr) if filter_by_sets else \
                    _filter_row(g, filt, k, fc, fr)
                n_of = _row_outputs(g, k, fc, fr)
            if optimized and calc:
                mem.estimate_read(if_est, if_last, ifmap, n_if, cycle, fold, if_words)
                mem.estimate_read(fi_est, fi_last, filt, n_fi, cycle, fold, fi_words)
            if calc:
                if_stall = fi_stall = 0
            else:
                if ifmap_by_positions:
                    if_stall = _ws_ifmap_read(g, if_usr, diagonals, n_if, k, fr, cycle, fold,
                                              if_words, faithful)
                else:
                    if_stall = mem.user_read(if_usr, if_ptr, if_ids, ifmap, n_if, cycle, fold,
                                             if_words, faithful)
                if filter_by_sets:
                    first, last = _filter_row_sets(g, fi_usr[mem.USR_SET_WORDS], n_fi, k, fc,
                                                   fr)
                    fi_stall = mem.user_read_sets(fi_usr, first, last, cycle, fold, fi_words,
                                                  faithful)
                else:
                    fi_stall = mem.user_read(fi_usr, fi_ptr, fi_ids, filt, n_fi, cycle, fold,
                                             fi_words, faithful)
            out = mem.write_row(wr, lines, n_of, cycle, fold, of_words, faithful)
            _track(summary, S_IFMAP_SRAM_START, S_IFMAP_SRAM_STOP, cycle + 1 + if_stall,
                   n_if > 0)
            _track(summary, S_FILTER_SRAM_START, S_FILTER_SRAM_STOP, cycle + 1 + fi_stall,
                   n_fi > 0)
            _track(summary, S_OFMAP_SRAM_START, S_OFMAP_SRAM_STOP, out, n_of > 0)
            row_stall = max(if_stall, fi_stall, out - cycle)
            stall += row_stall
            folds[fold, F_STALL] += row_stall
            last_out = out
            summary[S_CYCLES] = max(summary[S_CYCLES], out)
        if if_from < n_rows:
            _hold_back(g, pixels, window, IFMAP, if_est, if_last, ifmap, pending, n_pending,
                       fold, if_from)
        if fi_from < n_rows and _filter_demanded_again(g, fold):
            _hold_back(g, pixels, window, FILTER, fi_est, fi_last, filt, pending, n_pending,
                       fold, fi_from)
    last_fold = g[G_COL_FOLDS] * g[G_ROW_FOLDS] - 1
    if calc:
        mem.estimate_finish(if_est, last_fold, if_words)
        mem.estimate_finish(fi_est, last_fold, fi_words)
    mem.drain_all(wr, lines, last_out, last_fold, of_words, faithful)
    summary[S_STALL] = stall


# ---- prefetch order (USER mode) -------------------------------------------------------------
IFMAP, FILTER = 0, 1


@njit(cache=True)
def _load_order(faithful, r_arr, t, size):
    """Faithful: the stationary operand's element streamed ``t``-th within its row fold. The
    array loads a fold's ``R`` rows from the last (``stationary = fr R + R - 1 - k``) while
    SCALE-Sim prefetches them from the first, so when the operand overflows the SRAM its
    window slides past a fold's first rows and wraps around the whole operand to find them."""
    if not faithful:
        return t
    base = t - t % r_arr
    return base + min(r_arr, size - base) - 1 - (t - base)


@njit(cache=True)
def _prefetch_index(df, operand, r_arr, c_arr, t_len, win, sr, n_pixels, n_filters, faithful,
                    row, col):
    """Entry (row, col) of SCALE-Sim's prefetch matrix of ``operand`` as GEMM indices: ifmap
    (output pixel, window element), filter (filter, window element); (-1, -1) past the GEMM
    (padding). See :func:`prefetch_shape` for the layouts (the stationary operand in load
    order when faithful: :func:`_load_order`). Scalars only, the address made by the walk
    itself: per-entry helpers taking the tables made VGG-16's conv1_2 ifmap walk (29 M
    entries) about 5x slower."""
    if operand == IFMAP:
        if df == IS:                              # fc * win + t, lane -> pixel
            fold, t = row // win, _load_order(faithful, r_arr, row % win, win)
            p = fold * c_arr + col
            return (p, t) if p < n_pixels else (-1, -1)
        fold, s = row // t_len, row % t_len      # os: t; ws: pixel
        lane = fold * r_arr + col
        if df == OS:
            return (lane, s) if lane < sr else (-1, -1)
        return (s, lane) if lane < win else (-1, -1)   # ws
    if df == IS:                                  # fr * M + m, lane -> window element
        fold, m = row // n_filters, row % n_filters
        t = fold * r_arr + col
        return (m, t) if t < win else (-1, -1)
    period = t_len if df == OS else sr            # fc * T + t (os) or fc * Sr + t (ws)
    fold, t = row // period, row % period
    if df == WS:
        t = _load_order(faithful, r_arr, t, period)
    m = fold * c_arr + col
    return (m, t) if m < n_filters else (-1, -1)


def prefetch_shape(g: np.ndarray, operand: int) -> tuple[int, int, bool]:
    """Rows, columns and anti-diagonal rollout of SCALE-Sim's prefetch matrix
    (``create_*_prefetch_mat``): folds of the operand stacked, padded with -1."""
    df = int(g[G_DF])
    r_arr, c_arr, t_len = int(g[G_R]), int(g[G_C]), int(g[G_T])
    row_folds, col_folds = int(g[G_ROW_FOLDS]), int(g[G_COL_FOLDS])
    if operand == IFMAP:
        if df == IS:
            return col_folds * int(g[G_WIN]), c_arr, False
        if df == WS:   # the dense ifmap operand, also under the optimized sparse mapping
            return -(-int(g[G_WIN]) // r_arr) * t_len, r_arr, True
        return row_folds * t_len, r_arr, True
    if df == IS:
        return row_folds * int(g[G_M]), r_arr, True
    if df == WS:
        return col_folds * int(g[G_SR]), c_arr, False
    return col_folds * t_len, c_arr, True


@njit(cache=True)
def _prefetch_walk(g, pixels, window, fmat, operand, n_rows, n_cols, rolled, sequence, ids,
                   set_words):
    """The prefetch matrix's valid entries in SCALE-Sim's order, stored in ``sequence`` and /
    or given their set in ``ids`` (empty arrays: not wanted). Rolled: anti-diagonals, each
    from its lowest row up ("Fixing ISSUE #15, #16"); else row by row. Returns the entries
    walked and True, or, with ``ids``, False at the first address seen twice (the walk stops
    there)."""
    df, r_arr, c_arr, t_len, win = g[G_DF], g[G_R], g[G_C], g[G_T], g[G_WIN]
    sr, n_pixels, n_filters, faithful = g[G_SR], g[G_PX], g[G_M], g[G_FAITHFUL] == 1
    hp, wp, compressed = g[G_HP], g[G_WP], g[G_BLOCK] > 0
    store, index = len(sequence) > 0, len(ids) > 0
    n = 0
    for line in range(n_rows + n_cols - 1 if rolled else n_rows):
        top = min(line, n_rows - 1) if rolled else line
        length = top - max(0, line - n_cols + 1) + 1 if rolled else n_cols
        for j in range(length):
            row, col = (top - j, line - top + j) if rolled else (line, j)
            a, b = _prefetch_index(df, operand, r_arr, c_arr, t_len, win, sr, n_pixels,
                                   n_filters, faithful, row, col)
            if a < 0:
                continue
            if operand == IFMAP:
                if pixels[a, 1] + window[b, 1] >= hp or pixels[a, 2] + window[b, 2] >= wp:
                    continue
                addr = pixels[a, 0] + window[b, 0]
            else:
                addr = fmat[b, a] if compressed else a * win + b
                if addr < 0:
                    continue
            if store:
                sequence[n] = addr
            if index:
                if ids[addr] >= 0:
                    return n, False
                ids[addr] = n // set_words
            n += 1
    return n, True


# ---- the public wrapper ----------------------------------------------------------------------
def _user_buffer(g, tables, fmat, operand, words, bandwidth, n_addresses, n_entries=None):
    """A USER-mode read buffer's state and its addresses' prefetch sets. An operand whose
    prefetch matrix holds every address once (a filter) gets each address's one set id in
    one walk, the sequence never stored, and no CSR pointers (``mem.user_read``'s empty
    ``ptr``): VGG-16's fc6 would need 2.4 GB for sequence, ids and pointers in int64.
    ``n_entries`` (the sequence's length) when :func:`_walk` works each row's sets out
    itself (:func:`_filter_row_sets`, :func:`_ws_ifmap_read`): no table at all."""
    n_rows, n_cols, rolled = prefetch_shape(g, operand)
    set_words = -(-words // 100)
    none = np.empty(0, dtype=np.int64)
    if n_entries is not None:
        return mem.user_state(words, bandwidth, n_entries, n_rows * n_cols, set_words), \
            none, none
    id_type = np.int32 if n_addresses < 2 ** 31 else np.int64
    ids = np.full(n_addresses, -1, dtype=id_type)
    n, single = _prefetch_walk(g, *tables, fmat, operand, n_rows, n_cols, rolled, none, ids,
                               set_words)
    if single and n == n_addresses:
        ptr = none
    else:
        sequence = np.empty(n_rows * n_cols, dtype=np.int64)
        n, _ = _prefetch_walk(g, *tables, fmat, operand, n_rows, n_cols, rolled, sequence,
                              none, set_words)
        ptr, ids = mem.build_sets(sequence[:n], n_addresses, set_words)
    state = mem.user_state(words, bandwidth, n, n_rows * n_cols, set_words)
    return state, ptr, ids


def output_writes(g: np.ndarray) -> int:
    """Outputs the array writes to the ofmap SRAM (ws / is: partial sums every row fold)."""
    outputs = int(g[G_PX]) * int(g[G_M])
    return outputs if g[G_DF] == OS else outputs * int(g[G_ROW_FOLDS])


def simulate_layer(g: np.ndarray, *, calc: bool, sram_words: tuple[int, int, int],
                   words_per_cycle: tuple[int, int, int], kept: np.ndarray | None = None,
                   fmat: np.ndarray | None = None, shortcuts: bool = True) -> dict:
    """Run one GEMM's demand rows through SCALE-Sim's memory system.

    ``sram_words``: ifmap, filter, ofmap SRAM capacities in words; ``words_per_cycle``:
    their DRAM interface widths (USER mode; in CALC mode SCALE-Sim drains the ofmap SRAM at
    ``C`` words a cycle). Returns the per-fold table (``folds``), the summary vector, the
    mean mapping efficiency and compute utilization, and each buffer's DRAM words and
    first / last DRAM cycle. ``kept``: see :func:`address_tables`; ``fmat``: the compressed
    filter of the optimized sparse mapping (:func:`_demand_row_optimized`).
    ``shortcuts``: CALC mode's counted repeat-free folds and os filter misses, USER mode's
    ws rows served without set tables (:func:`_walk`); False looks every address up (the
    reference the tests hold them to).
    """
    g = np.ascontiguousarray(g, dtype=np.int64)
    tables = address_tables(g, kept)
    fmat = np.full((1, 1), -1, np.int64) if fmat is None else np.ascontiguousarray(fmat,
                                                                                   np.int64)
    n_folds = int(g[G_COL_FOLDS] * g[G_ROW_FOLDS])
    ifmap_space = int(g[G_HP] * g[G_WP] * g[G_CH])
    filter_space = int(g[G_WIN] * g[G_M])
    dummy = np.zeros(1, dtype=np.int64)
    diagonals = np.empty(0, dtype=np.int64)
    if calc:   # a set id never exceeds the addresses demanded: int32 while they fit
        demanded = n_folds * int(g[G_FOLD_ROWS]) * max(int(g[G_R]) * max(1, int(g[G_BLOCK])),
                                                       int(g[G_C]))
        set_type = np.int32 if demanded < 2 ** 31 - 1 else np.int64
        ifmap_sram = (mem.estimate_state(sram_words[0]), np.zeros(ifmap_space, set_type),
                      dummy, dummy, dummy)
        filter_sram = (mem.estimate_state(sram_words[1]), np.zeros(filter_space, set_type),
                       dummy, dummy, dummy)
        write_bw = int(g[G_C])
    else:
        # ws, not compressed: _walk works the sets out, so no set tables are built
        ws_dense = shortcuts and g[G_DF] == WS and g[G_BLOCK] == 0
        if ws_dense and kept is None and _no_overrun(g):
            diagonals = ws_ifmap_diagonals(g)
        ifmap_sram = (dummy, dummy, *_user_buffer(
            g, tables, fmat, IFMAP, sram_words[0], words_per_cycle[0], ifmap_space,
            int(diagonals[-1]) if len(diagonals) else None))
        filter_sram = (dummy, dummy, *_user_buffer(
            g, tables, fmat, FILTER, sram_words[1], words_per_cycle[1], filter_space,
            filter_space if ws_dense else None))
        write_bw = words_per_cycle[2]
    wr = mem.write_state(sram_words[2], write_bw)
    lines = np.zeros(output_writes(g) + 1, dtype=np.int64)
    folds = np.zeros((n_folds, N_FOLD_COLUMNS), dtype=np.int64)
    summary = np.zeros(N_SUMMARY, dtype=np.int64)
    summary[[S_IFMAP_SRAM_START, S_FILTER_SRAM_START, S_OFMAP_SRAM_START]] = -(2 ** 62)
    utilization = np.zeros(2, dtype=np.float64)
    _walk(g, *tables, fmat, calc, shortcuts, ifmap_sram, filter_sram, diagonals, wr, lines,
          folds, summary, utilization)
    dram = [_read_dram(buffer, calc) for buffer in (ifmap_sram, filter_sram)]
    dram.append((wr[mem.WR_ACCESS], wr[mem.WR_TRACE_START], wr[mem.WR_TRACE_STOP]))
    return {"folds": folds, "summary": summary,
            "mapping_efficiency": utilization[0] / n_folds,
            "compute_utilization": utilization[1] / n_folds,
            "dram": tuple(tuple(int(v) for v in d) for d in dram)}


def _read_dram(buffer: tuple, calc: bool) -> tuple[int, int, int]:
    """A read SRAM's DRAM words and first / last DRAM response cycle."""
    if calc:
        state = buffer[0]
        return state[mem.EST_ACCESS], state[mem.EST_TRACE_START], state[mem.EST_TRACE_STOP]
    state = buffer[2]
    return state[mem.USR_ACCESS], state[mem.USR_TRACE_START], state[mem.USR_LAST_PREFETCH]


# ---- real outputs ----------------------------------------------------------------------------
_CHUNK_WORDS = 1 << 22   # im2col rows are built in chunks of about this many words


def conv_values(x_padded_hwc: np.ndarray, weights: np.ndarray, stride, groups: int):
    """The layer's GEMM on real values: ``P x Q x M`` float64.

    int16 operands: :func:`accelsim.kernels.dense_gemm.conv_sums`, every product and partial
    sum an integer below 2**53, so the sums are exact whatever the order (an fc layer's
    int64 dot product reads the weights in place: no float64 copy of VGG-16's fc6). float32:
    the ifmap operand matrix (im2col, window order ``(ky, kx, c)`` as SCALE-Sim's) times the
    filter matrix, group by group, in float64 through BLAS.
    """
    if x_padded_hwc.dtype == np.int16 and weights.dtype == np.int16:
        return dense_gemm.conv_sums(x_padded_hwc, weights, stride)
    m_total, cg, kh, kw = weights.shape
    win = cg * kh * kw
    windows = sliding_window_view(x_padded_hwc, (kh, kw), axis=(0, 1))[::stride[0], ::stride[1]]
    p_out, q_out = windows.shape[:2]
    mg = m_total // groups
    # views: pixel rows x columns x groups x channels x ky x kx -> group-major, (ky, kx, c)
    windows = windows.reshape(p_out, q_out, groups, cg, kh, kw).transpose(2, 0, 1, 4, 5, 3)
    w = weights.reshape(groups, mg, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, win, mg)
    w = w.astype(np.float64)
    acc = np.empty((groups, p_out * q_out, mg), dtype=np.float64)
    step = max(1, _CHUNK_WORDS // max(1, q_out * win * groups))
    for r0 in range(0, p_out, step):
        rows = min(step, p_out - r0)
        cols = np.empty((groups, rows, q_out, kh, kw, cg), dtype=np.float64)
        cols[...] = windows[:, r0:r0 + rows]          # the one im2col copy, as float64
        np.matmul(cols.reshape(groups, rows * q_out, win), w,
                  out=acc[:, r0 * q_out:(r0 + rows) * q_out])
    return acc.transpose(1, 0, 2).reshape(p_out, q_out, m_total)


def zero_operand_macs(x_padded_hwc: np.ndarray, weights: np.ndarray, stride, groups: int) -> int:
    """MACs of the layer's GEMM with a zero ifmap or filter operand (value-aware: SCALE-Sim
    is not): per window element ``t``, ``zx * M + zw * px - zx * zw`` for ``zx`` zero inputs
    under it over all pixels and ``zw`` zero weights of it over the filters."""
    m_total, cg, kh, kw = weights.shape
    hp, wp, _ = x_padded_hwc.shape
    p_out, q_out = (hp - kh) // stride[0] + 1, (wp - kw) // stride[1] + 1
    zero = x_padded_hwc == 0
    x_zero = np.empty((kh, kw, zero.shape[2]), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            x_zero[ky, kx] = zero[ky:ky + stride[0] * (p_out - 1) + 1:stride[0],
                                  kx:kx + stride[1] * (q_out - 1) + 1:stride[1]].sum(axis=(0, 1))
    x_zero = x_zero.reshape(kh, kw, groups, cg).transpose(2, 0, 1, 3).reshape(groups, -1)
    mg = m_total // groups
    w_zero = _zero_weights(np.ascontiguousarray(weights).reshape(groups, mg, cg * kh * kw))
    w_zero = w_zero.reshape(groups, cg, kh, kw).transpose(0, 2, 3, 1).reshape(groups, -1)
    return int((x_zero * mg + w_zero * (p_out * q_out) - x_zero * w_zero).sum())


@njit(cache=True)
def _zero_weights(w):
    """Zero weights of each window element (``(c, ky, kx)`` order) over a group's filters:
    ``groups x K`` from ``groups x M/G x K``, read in place (no transposed copy: VGG-16's fc6
    has 102 M weights)."""
    groups, filters, k_len = w.shape
    zeros = np.zeros((groups, k_len), dtype=np.int64)
    for g in range(groups):
        for m in range(filters):
            for k in range(k_len):
                if w[g, m, k] == 0:
                    zeros[g, k] += 1
    return zeros
