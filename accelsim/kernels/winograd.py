"""Winograd minimal filtering F(m x m, 3 x 3): real outputs and per-tile counts in one pass.

Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016 (Sec. 4):
an ``m x m`` tile of outputs of a 3x3, stride-1 correlation is

    Y = A^T [ (G g G^T) * (B^T d B) ] A

with ``g`` the 3x3 filter, ``d`` the ``a x a`` input tile (``a = m + 2``, tiles overlapping
by 2) and ``*`` the element-wise product: ``a**2`` multiplies per tile and (filter, channel)
pair instead of ``9 m**2``. Summed over channels, the element-wise products at each of the
``a**2`` positions form one GEMM (Lavin's Sec. 4.1): ``M[xi] = U[xi] (K x C) @ V[xi] (C x T)``
over the ``T`` tiles, which is what the NFU computes (:mod:`accelsim.arch._winograd`).

The matrices are Lavin and Gray's (their Sec. 4.1 F(2x2,3x3) and Sec. 4.2 F(4x4,3x3)), held
as integers: ``G`` times a denominator (2 and 24: F(4,3)'s ``G`` has 1/4, 1/6, 1/12, 1/24),
``B^T`` and ``A^T`` exactly (F(4,3)'s have 4, 5, 2, 8: shifts and one shift-add).

Values here are integer codes held exactly in float64 (int16 x int16 products summed over
fewer than 2**22 channels, then small integer combinations: checked below 2**53), so every
step is exact and the thread count cannot change a value: the rounding a fixed-point core
adds happens only where the caller rounds ``U`` and ``V`` to 16 bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# (B^T, G x denominator, denominator, A^T) per output tile size m.
MATRICES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),
        np.array([[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]]), 2,
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]])),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]),
        np.array([[6, 0, 0], [-4, -4, -4], [-4, 4, -4], [1, 2, 4], [1, -2, 4], [0, 0, 24]]),
        24,
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]])),
}
EXACT_LIMIT = 2.0 ** 53


def matrices(m: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """``(B^T, G * den, den, A^T)`` of F(m x m, 3 x 3), int64."""
    bt, g, den, at = MATRICES[m]
    return bt.astype(np.int64), g.astype(np.int64), den, at.astype(np.int64)


def adds_1d(transform: np.ndarray) -> int:
    """Adders of a 1-D transform ``y = T x`` as shift-and-add logic: per row, one add per
    non-zero term after the first, plus one per extra set bit of a coefficient that is not a
    power of two (5x = 4x + x); powers of two and signs are wiring."""
    total = 0
    for row in np.asarray(transform):
        nonzero = [abs(int(v)) for v in row if v]
        total += max(len(nonzero) - 1, 0) + sum(bin(v).count("1") - 1 for v in nonzero)
    return total


def transform_adds(m: int) -> tuple[int, int]:
    """Adds of one channel's 2-D input transform ``B^T d B`` (``2 a`` 1-D transforms of
    ``B^T``) and of one output channel's inverse transform ``A^T M A`` (``a + m`` 1-D
    transforms of ``A^T``), done separably."""
    bt, _, _, at = matrices(m)
    alpha = m + 2
    return 2 * alpha * adds_1d(bt), (alpha + m) * adds_1d(at)


def filter_transform(w: np.ndarray, m: int) -> np.ndarray:
    """``G g G^T * den**2`` for filters ``w`` (K x C x 3 x 3): a**2 x K x C (position-major,
    the GEMM's layout), exact int64 for integer codes, float64 for float filters."""
    _, g, _, _ = matrices(m)
    dtype = np.float64 if np.issubdtype(w.dtype, np.floating) else np.int64
    u = np.einsum("ir,kcrs,js->ijkc", g, w.astype(dtype), g, optimize=True)
    return np.ascontiguousarray(u.reshape(g.shape[0] ** 2, w.shape[0], w.shape[1]))


@njit(cache=True, parallel=True)
def _input_transform(x, bt, tiles_y, tiles_x, out):
    """``out[xi, c, t] = (B^T d B)[xi]`` of tile ``t`` (row-major) and channel ``c``; ``d``
    reads the padded input ``x`` (H x W x C), zeros past its end (an edge tile's outputs
    beyond the layer are computed and dropped). Tile rows in parallel: each writes its own."""
    alpha = bt.shape[0]
    m = alpha - 2
    h, w, channels = x.shape
    for ty in prange(tiles_y):
        d = np.zeros((alpha, alpha))
        tmp = np.zeros((alpha, alpha))
        for tx in range(tiles_x):
            t = ty * tiles_x + tx
            for c in range(channels):
                for i in range(alpha):
                    for j in range(alpha):
                        iy = ty * m + i
                        ix = tx * m + j
                        d[i, j] = x[iy, ix, c] if iy < h and ix < w else 0.0
                for i in range(alpha):          # tmp = B^T d
                    for j in range(alpha):
                        s = 0.0
                        for k in range(alpha):
                            if bt[i, k] != 0:
                                s += bt[i, k] * d[k, j]
                        tmp[i, j] = s
                for i in range(alpha):          # (B^T d) B
                    for j in range(alpha):
                        s = 0.0
                        for k in range(alpha):
                            if bt[j, k] != 0:
                                s += tmp[i, k] * bt[j, k]
                        out[i * alpha + j, c, t] = s


def input_transform(x_padded: np.ndarray, m: int, tiles_y: int, tiles_x: int) -> np.ndarray:
    """``B^T d B`` of every tile and channel: a**2 x C x T float64 (exact for integer codes)."""
    bt = matrices(m)[0].astype(np.float64)
    alpha = m + 2
    out = np.empty((alpha * alpha, x_padded.shape[2], tiles_y * tiles_x), dtype=np.float64)
    _input_transform(np.ascontiguousarray(x_padded), bt, tiles_y, tiles_x, out)
    return out


@njit(cache=True, parallel=True)
def _element_products(u, v, out):
    """``out[xi, k, :] = sum_c u[xi, k, c] * v[xi, c, :]``: the NFU's element-wise products
    summed over channels; rows (xi, k) in parallel, channels in order within a row."""
    positions, k_total, channels = u.shape
    for row in prange(positions * k_total):
        xi = row // k_total
        k = row % k_total
        acc = out[xi, k]
        tiles = acc.shape[0]
        for t in range(tiles):
            acc[t] = 0.0
        for c in range(channels):
            weight = u[xi, k, c]
            if weight != 0.0:
                row = v[xi, c]
                for t in range(tiles):
                    acc[t] += weight * row[t]


@njit(cache=True, parallel=True)
def _output_transform(mm, at, tiles_x, out):
    """``A^T M A`` of every tile into ``out`` (P x Q x K), dropping outputs past its edge."""
    m, alpha = at.shape
    p_out, q_out, k_total = out.shape
    tiles = mm.shape[2]
    for t in prange(tiles):
        ty = t // tiles_x
        tx = t % tiles_x
        tmp = np.zeros((m, alpha))
        for k in range(k_total):
            for i in range(m):                  # tmp = A^T M
                for j in range(alpha):
                    s = 0.0
                    for r in range(alpha):
                        if at[i, r] != 0:
                            s += at[i, r] * mm[r * alpha + j, k, t]
                    tmp[i, j] = s
            for i in range(m):                  # (A^T M) A
                oy = ty * m + i
                if oy >= p_out:
                    continue
                for j in range(m):
                    ox = tx * m + j
                    if ox >= q_out:
                        continue
                    s = 0.0
                    for r in range(alpha):
                        if at[j, r] != 0:
                            s += tmp[i, r] * at[j, r]
                    out[oy, ox, k] = s


def winograd_sums(u: np.ndarray, v: np.ndarray, m: int, p_out: int, q_out: int) -> np.ndarray:
    """``A^T [sum_c U V] A`` for transformed filters ``u`` (a**2 x K x C) and inputs ``v``
    (a**2 x C x T): P x Q x K float64. For integer codes every sum is exact; ValueError if a
    sum could pass 2**53."""
    at = matrices(m)[3]
    reach = float(np.abs(at).sum(axis=1).max()) ** 2
    peak = float(np.abs(u).sum(axis=2).max(initial=0.0)) * float(np.abs(v).max(initial=0.0))
    if peak * reach >= EXACT_LIMIT:
        raise ValueError("Winograd sums too large for exact float64 accumulation")
    mm = np.empty((u.shape[0], u.shape[1], v.shape[2]), dtype=np.float64)
    _element_products(np.ascontiguousarray(u, dtype=np.float64), v, mm)
    out = np.zeros((p_out, q_out, u.shape[1]), dtype=np.float64)
    _output_transform(mm, at.astype(np.float64), -(-q_out // m), out)
    return out


@njit(cache=True)
def _tile_table(p_out, q_out, th, tw, m, m_total, tn, ti, mg, cg, chunk, table, totals):
    """Per hardware tile (output block, spatial tile, channel chunk): NFU cycles, and the
    layer's multiplies, Winograd tiles and transformed channel / output-channel tiles."""
    alpha2 = (m + 2) * (m + 2)
    n_tx = (q_out + tw - 1) // tw
    n_st = ((p_out + th - 1) // th) * n_tx
    for ob in range(table.shape[0]):
        m0 = ob * tn
        m1 = min(m0 + tn, m_total)
        u0 = (m0 // mg) * cg
        u1 = ((m1 - 1) // mg + 1) * cg
        n_ic = (u1 - u0 + chunk - 1) // chunk
        for st in range(n_st):
            oy0 = (st // n_tx) * th
            ox0 = (st % n_tx) * tw
            rows = min(oy0 + th, p_out) - oy0
            cols = min(ox0 + tw, q_out) - ox0
            tiles = ((rows + m - 1) // m) * ((cols + m - 1) // m)
            for ic in range(n_ic):
                c0 = u0 + ic * chunk
                c1 = min(c0 + chunk, u1)
                table[ob, st, 0, ic] = tiles * alpha2 * ((c1 - c0 + ti - 1) // ti)
                pairs = 0
                for k in range(m0, m1):
                    g0 = (k // mg) * cg
                    pairs += max(min(c1, g0 + cg) - max(c0, g0), 0)
                totals[0] += tiles * alpha2 * pairs      # multiplies
                totals[2] += tiles * (c1 - c0)           # input tiles transformed
                totals[3] += tiles * (m1 - m0)           # output tiles inverse-transformed
            if ob == 0:
                totals[1] += tiles                       # Winograd tiles of the layer


MULTIPLIES, TILES, INPUT_TILES, OUTPUT_TILES = range(4)


def tile_counts(p_out, q_out, th, tw, m, m_total, tn, ti, mg, cg, chunk, n_ic_max):
    """``(table, totals)``: the NFU cycles of every hardware tile as an ``n_ob x n_st x 1 x
    n_ic`` table (``accelsim.kernels.dense.conv_tiles``'s ``tile_cycles``: ``a**2`` cycles per
    Winograd tile and ``ti``-channel row group) and the totals indexed by ``MULTIPLIES``
    (products of real filter-channel pairs), ``TILES``, ``INPUT_TILES`` (tile x channel
    transforms) and ``OUTPUT_TILES`` (tile x output-channel inverse transforms, one per
    channel chunk)."""
    n_ob = -(-m_total // tn)
    n_st = -(-p_out // th) * -(-q_out // tw)
    table = np.zeros((n_ob, n_st, 1, n_ic_max), dtype=np.int64)
    totals = np.zeros(4, dtype=np.int64)
    _tile_table(p_out, q_out, th, tw, m, m_total, tn, ti, mg, cg, chunk, table, totals)
    return table, totals
