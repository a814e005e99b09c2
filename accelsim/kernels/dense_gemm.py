"""Exact sums of a fixed16 conv / fc layer by one float64 GEMM per row chunk (BLAS).

What the NFU's adder trees add up (:mod:`accelsim.kernels.dense`) is, for every output
``(oy, ox, m)``, the sum of the int16 products of its window and its filter. With int16
operands every product is an integer of magnitude <= 2**30, so while a reduction has fewer
than 2**23 terms (checked) every partial sum, in *any* order or grouping, is an integer below
2**53: float64 represents it exactly, and an FMA rounds nothing. So a BLAS ``dgemm`` over
the im2col matrix gives bit for bit the float64 accumulator the NFU's tile loop gives; the
tile walk then only counts (``dense.conv_tiles`` ties the two together: the walk must cover
exactly the products this GEMM computed). fp32 operands are not exact in float64 sums, so
they keep the tile loop and its summation order.

Three paths, same numbers:

* many output positions (``P * Q >= GEMM_MIN_ROWS``): the weights become one float64
  ``M x K`` matrix (``K = C/G * R * S``, channel-major like the weights), and each chunk of
  output positions an im2col block ``G x rows x K`` (:func:`_patches`), multiplied by one
  (batched over groups) ``matmul`` on BLAS's threads; chunks bound the block's memory;
* few positions (an fc layer: one): converting the weights would cost more than the
  products, so :func:`_int_dot` multiplies the int16 window by the int16 weights in int64,
  output channels in parallel.
* a 3x3 stride-1 one-group layer with enough channels takes the exact integer Winograd
  F(2x2, 3x3) of :mod:`accelsim.kernels.exact_winograd` (2.25x fewer multiplies; 16 GEMMs a
  chunk, dealt to threads). Every caller gets it: measured side by side on VGG-16 (load 3),
  CPU seconds of a whole simulation fell 1.6-2.0 -> 1.0 (diannao), 4.2 -> 2.7 (systolic_ws),
  3.4 -> 2.2 (eie), 4.5 -> 3.5 (scnn), 2.0 -> 1.55 (eyeriss).

All write disjoint outputs from independent exact sums: no result depends on the thread
count (numba's or BLAS's).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numpy.lib.stride_tricks import sliding_window_view

from accelsim.kernels import exact_winograd

GEMM_MIN_ROWS = 16
"""Output positions from which a layer takes the GEMM (our choice): below it (an fc layer has
one) the float64 copy of the weights would cost more than the products it serves."""

MAX_PATCH_ELEMENTS = 1 << 23
"""Elements (float64) of one im2col chunk: 64 MB (VGG-16's conv1_2 needs 4 chunks, not one
of 231 MB); fewer, larger chunks also mean fewer BLAS calls (each wakes its threads)."""


@njit(cache=True)
def _patches(x, r0, q_out, sh, sw, kh, kw, cg, out):
    """im2col of output positions ``r0 + r`` (row-major ``oy, ox``):
    ``out[g, r, (ky, kx, cl)] = x[oy * sh + ky, ox * sw + kx, g * cg + cl]`` (float64).

    Serial on purpose: BLAS runs the GEMM on its own threads right after, and numba's pool
    spinning in between competes with them (ResNet-50's sums on the loaded 2-core machine
    of issue 22: 3.5 s with this loop parallel, 1.6-2.8 s serial)."""
    groups, rows = out.shape[0], out.shape[1]
    for r in range(rows):
        oy = (r0 + r) // q_out
        ox = (r0 + r) % q_out
        for g in range(groups):
            k = 0
            for ky in range(kh):
                for kx in range(kw):
                    pixel = x[oy * sh + ky, ox * sw + kx]
                    for cl in range(cg):
                        out[g, r, k] = pixel[g * cg + cl]
                        k += 1


@njit(cache=True, parallel=True)
def _int_dot(windows, w2, mg, out):
    """``out[r, m] = sum_k windows[r, g * K + k] * w2[m, k]`` with ``g = m // mg``, in int64
    (exact), stored in float64; output channels in parallel."""
    k_len = w2.shape[1]
    for m in prange(w2.shape[0]):
        k0 = (m // mg) * k_len
        for r in range(windows.shape[0]):
            total = 0
            for k in range(k_len):
                total += np.int64(windows[r, k0 + k]) * np.int64(w2[m, k])
            out[r, m] = total


def conv_sums(x_padded: np.ndarray, weights: np.ndarray, stride: tuple[int, int], *,
              max_patch_elements: int = MAX_PATCH_ELEMENTS) -> np.ndarray:
    """The exact sums of a conv / fc layer: ``P x Q x M`` float64 (integers).

    ``x_padded`` is the padded input H x W x C and ``weights`` M x C/G x R x S, both int16
    (the arrays :func:`accelsim.kernels.dense.conv_tiles` takes); the groups follow from
    ``C / (C/G)``. ``max_patch_elements`` bounds an im2col chunk (tests make it small).
    A layer :func:`exact_winograd.applies` to (3x3, stride 1, one group, enough channels)
    takes its exact integer F(2x2, 3x3): the same numbers from 2.25x fewer multiplies.
    """
    if x_padded.dtype != np.int16 or weights.dtype != np.int16:
        raise TypeError(f"exact GEMM sums need int16 operands, got {x_padded.dtype}, "
                        f"{weights.dtype}")
    m_total, cg, kh, kw = weights.shape
    sh, sw = (int(s) for s in stride)
    k_len = cg * kh * kw
    if k_len >= 2 ** 23:
        raise ValueError("reduction too long for exact float64 sums of int16 products")
    groups = x_padded.shape[2] // cg
    mg = m_total // groups
    p_out = (x_padded.shape[0] - kh) // sh + 1
    q_out = (x_padded.shape[1] - kw) // sw + 1
    positions = p_out * q_out
    acc = np.empty((positions, m_total), dtype=np.float64)
    if positions < GEMM_MIN_ROWS:
        windows = sliding_window_view(x_padded, (kh, kw), axis=(0, 1))[::sh, ::sw]
        windows = np.ascontiguousarray(windows[:p_out, :q_out]).reshape(positions, -1)
        _int_dot(windows, np.ascontiguousarray(weights).reshape(m_total, k_len), mg, acc)
        return acc.reshape(p_out, q_out, m_total)
    if exact_winograd.applies(weights, (sh, sw), groups):
        return exact_winograd.conv_sums(x_padded, weights, max_patch_elements)
    # G x K x mg, K in (ky, kx, cl) order like the patches
    w_t = weights.transpose(0, 2, 3, 1).astype(np.float64, order="C").reshape(groups, mg, k_len)
    w_t = w_t.transpose(0, 2, 1)
    x = np.ascontiguousarray(x_padded)
    rows = max(1, min(positions, max_patch_elements // (groups * k_len)))
    patches = np.empty((groups, rows, k_len), dtype=np.float64)
    for r0 in range(0, positions, rows):
        n = min(rows, positions - r0)
        block = patches[:, :n]
        _patches(x, r0, q_out, sh, sw, kh, kw, cg, block)
        if groups == 1:
            np.matmul(block[0], w_t[0], out=acc[r0:r0 + n])
        else:
            acc[r0:r0 + n] = np.matmul(block, w_t).transpose(1, 0, 2).reshape(n, m_total)
    return acc.reshape(p_out, q_out, m_total)
