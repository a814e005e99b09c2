"""Exact sums of a 3x3, stride-1 fixed16 conv by integer Winograd F(2x2, 3x3) and BLAS.

The sums :mod:`accelsim.kernels.dense_gemm` computes by one GEMM over the im2col matrix
(``9 C`` terms an output) come out of Lavin and Gray's F(2x2, 3x3) (CVPR 2016, Sec. 4.1)
with 16 GEMMs of ``C`` terms per 2x2 outputs: 2.25x fewer multiplies, and the input
transform writes 4 ``C``-wide rows per 4 outputs instead of im2col's 9. This is a way of
computing the same integers, not the ``conv_algorithm: winograd`` of a simulated core
(:mod:`accelsim.kernels.winograd`, whose fixed-point transforms round).

Exact, bit for bit: with ``G' = 2 G`` (integer: rows ``[2,0,0], [1,1,1], [1,-1,1], [0,0,2]``)
the transformed filter ``U = G' g G'^T`` is 4 times the paper's, so the transformed output
``Y' = A^T [U (.) (B^T d B)] A`` is 4 times the true sum ``Y``, an integer. Bounds with
int16 operands (``|d|, |g| <= 2**15``): ``|B^T d B| <= 2**17``, ``|U| <= 9 * 2**15``, a
product ``<= 9 * 2**32``, a GEMM's partial sums ``<= C * 9 * 2**32`` in any order, and ``Y'``
adds at most 9 of them: ``<= 81 C * 2**32``, below 2**53 while ``C <= MAX_CHANNELS``. So every
value on the way is an integer float64 holds exactly, every BLAS order gives the same
numbers, and ``Y' / 4`` is ``Y`` exactly (``tests/test_dense_speed_paths.py`` checks it
against int64 sums on full-range and extreme operands). The 16 GEMMs of a chunk are
independent: :mod:`accelsim.kernels.blas_threads` deals them to threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.kernels import blas_threads

MAX_CHANNELS = (1 << 53) // (81 << 32)
"""Largest input-channel count whose transformed sums stay below 2**53 (25,890)."""

MIN_CHANNELS = 16
"""Input channels from which a layer takes this path (our choice, with a margin: VGG-16's
conv1_1, 3 channels, took 2x the im2col GEMM's CPU time this way; 8 channels at 56 x 56
were already faster; load 7-9)."""


def applies(weights: np.ndarray, stride: tuple[int, int], groups: int) -> bool:
    """Whether :func:`conv_sums` serves this layer: one group of 3x3 filters, stride 1, and
    between ``MIN_CHANNELS`` and ``MAX_CHANNELS`` input channels."""
    _, cg, kh, kw = weights.shape
    return (groups == 1 and kh == 3 and kw == 3 and tuple(stride) == (1, 1)
            and MIN_CHANNELS <= cg <= MAX_CHANNELS)


@njit(cache=True)
def _filter_transform(w, out):
    """``out[4 i + j, c, m] = (G' g G'^T)[i, j]`` with ``g = w[c, :, :, m]``: the weights as
    C x 3 x 3 x M (output channels innermost, so the loop vectorises) -> 16 x C x M."""
    h = np.empty((4, 3, w.shape[3]), dtype=np.float64)      # G' g, for one channel
    for c in range(w.shape[0]):
        for col in range(3):    # G' g: rows 2 g0, g0 + g1 + g2, g0 - g1 + g2, 2 g2
            for m in range(w.shape[3]):
                g0 = np.float64(w[c, 0, col, m])
                g1 = np.float64(w[c, 1, col, m])
                g2 = np.float64(w[c, 2, col, m])
                h[0, col, m] = 2.0 * g0
                h[1, col, m] = g0 + g1 + g2
                h[2, col, m] = g0 - g1 + g2
                h[3, col, m] = 2.0 * g2
        for i in range(4):      # (G' g) G'^T: the same on the columns
            for m in range(w.shape[3]):
                out[4 * i, c, m] = 2.0 * h[i, 0, m]
                out[4 * i + 1, c, m] = h[i, 0, m] + h[i, 1, m] + h[i, 2, m]
                out[4 * i + 2, c, m] = h[i, 0, m] - h[i, 1, m] + h[i, 2, m]
                out[4 * i + 3, c, m] = 2.0 * h[i, 2, m]


@njit(cache=True)
def _input_transform(x, t0, n_tx, out):
    """``out[4 i + j, t, c] = (B^T d B)[i, j]`` for tiles ``t0 + t`` (row-major, ``n_tx`` a
    row), ``d`` the 4x4 patch of ``x`` (H x W x C int16, at least ``2 n_tx + 2`` wide) at
    ``(2 ty, 2 tx)``. Channels innermost, so every loop vectorises.

    Serial, as :func:`accelsim.kernels.dense_gemm._patches`: the GEMMs' threads run next."""
    channels = x.shape[2]
    h = np.empty((4, 4, channels), dtype=np.float64)    # d B, row by row
    for t in range(out.shape[1]):
        y0 = 2 * ((t0 + t) // n_tx)
        x0 = 2 * ((t0 + t) % n_tx)
        for a in range(4):      # d B: columns d0 - d2, d1 + d2, d2 - d1, d1 - d3
            row = x[y0 + a]
            for c in range(channels):
                d0 = np.float64(row[x0, c])
                d1 = np.float64(row[x0 + 1, c])
                d2 = np.float64(row[x0 + 2, c])
                d3 = np.float64(row[x0 + 3, c])
                h[a, 0, c] = d0 - d2
                h[a, 1, c] = d1 + d2
                h[a, 2, c] = d2 - d1
                h[a, 3, c] = d1 - d3
        for j in range(4):      # B^T (d B): the same on the rows
            for c in range(channels):
                out[j, t, c] = h[0, j, c] - h[2, j, c]
                out[4 + j, t, c] = h[1, j, c] + h[2, j, c]
                out[8 + j, t, c] = h[2, j, c] - h[1, j, c]
                out[12 + j, t, c] = h[1, j, c] - h[3, j, c]


@njit(cache=True)
def _output_transform(prod, t0, n_tx, acc):
    """``acc[2 ty + i, 2 tx + j, m] = (A^T prod[:, t, m] A)[i, j] / 4`` for tiles ``t0 + t``
    (outputs past ``acc``'s edge are dropped); ``prod`` is 16 x tiles x M."""
    p_out, q_out, m_total = acc.shape
    s = np.empty((2, 4, m_total), dtype=np.float64)     # A^T p
    for t in range(prod.shape[1]):
        y0 = 2 * ((t0 + t) // n_tx)
        x0 = 2 * ((t0 + t) % n_tx)
        for b in range(4):      # A^T p: rows p0 + p1 + p2, p1 - p2 - p3
            for m in range(m_total):
                s[0, b, m] = prod[b, t, m] + prod[4 + b, t, m] + prod[8 + b, t, m]
                s[1, b, m] = prod[4 + b, t, m] - prod[8 + b, t, m] - prod[12 + b, t, m]
        for i in range(min(2, p_out - y0)):     # (A^T p) A, / 4: exact (see the docstring)
            for m in range(m_total):
                acc[y0 + i, x0, m] = (s[i, 0, m] + s[i, 1, m] + s[i, 2, m]) * 0.25
            if x0 + 1 < q_out:
                for m in range(m_total):
                    acc[y0 + i, x0 + 1, m] = (s[i, 1, m] - s[i, 2, m] - s[i, 3, m]) * 0.25


def conv_sums(x_padded: np.ndarray, weights: np.ndarray, max_elements: int) -> np.ndarray:
    """``P x Q x M`` float64 sums (exact integers) of ``x_padded`` (padded H x W x C int16)
    with 3x3 ``weights`` (M x C x 3 x 3 int16), stride 1, one group (:func:`applies`).
    ``max_elements`` bounds one chunk's transformed inputs and products (float64 each)."""
    m_total, channels = weights.shape[0], weights.shape[1]
    p_out, q_out = x_padded.shape[0] - 2, x_padded.shape[1] - 2
    n_tx = (q_out + 1) // 2
    tiles = ((p_out + 1) // 2) * n_tx
    u = np.empty((16, channels, m_total), dtype=np.float64)
    _filter_transform(np.ascontiguousarray(weights.transpose(1, 2, 3, 0)), u)
    x = np.ascontiguousarray(x_padded)
    if p_out % 2 or q_out % 2:    # whole 4x4 patches: a zero row / column past the edge
        x = np.pad(x, ((0, p_out % 2), (0, q_out % 2), (0, 0)))
    acc = np.empty((p_out, q_out, m_total), dtype=np.float64)
    rows = max(1, min(tiles, max_elements // (16 * max(channels, m_total))))
    v = np.empty((16, rows, channels), dtype=np.float64)
    prod = np.empty((16, rows, m_total), dtype=np.float64)
    for t0 in range(0, tiles, rows):
        n = min(rows, tiles - t0)
        _input_transform(x, t0, n_tx, v[:, :n])
        blas_threads.matmuls(v[:, :n], u, prod[:, :n])
        _output_transform(prod[:, :n], t0, n_tx, acc)
    return acc
