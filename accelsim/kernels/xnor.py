"""XNOR-popcount convolution (XNOR-Net, Rastegari et al., ECCV 2016, sec. 3.2): real outputs
and their bit-operation counts in one pass.

A binarized conv or fc layer (fc: a conv whose kernel is the whole input) approximates
``I * W`` by ``(sign(I) (*) sign(W)) . K alpha``: ``alpha_m`` is filter ``m``'s mean
``|W|``, ``K`` the input's scaling map (given: :func:`accelsim.workload.forward.
scaling_map`), and the binary convolution ``(*)`` of +-1 tensors is, per output,
``2 * popcount(XNOR(i_bits, w_bits)) - n`` over the ``n`` taps it reads. ``sign(0) = +1``
(BinaryNet's rule, Courbariaux et al. 2016, so a bit is ``value >= 0``): a pruned (zero)
weight becomes +1 like any other. :func:`xnor_layer` runs one layer on real operands.

Packing. The input's signs are packed per pixel along channels (``C/G`` bits of one group
at one (y, x), 64 to a uint64 word, :func:`pack_pixels`); each filter's per (r, s)
likewise (:func:`pack_filters`). Bits past ``C/G`` in a pixel's last word are masked off.

Padding, as XNOR-Net's own code does it (``allenai/XNOR-Net``, ``models/alexnetxnor.lua``:
``BinActiveZ`` (sign) and then a zero-padded ``SpatialConvolution``): the padding is added
*after* binarization, so a tap on a padded pixel is 0, neither +1 nor -1. One bit cannot
hold a 0, so padded taps are skipped: no XNOR, no popcount, and ``n`` counts only the taps
inside the input. The result equals a float convolution of the zero-padded sign tensor.

Counts (per output channel, summed by the caller): ``POPCOUNT_WORDS``, the 64-bit
XNOR-and-popcount word operations, and ``XNOR_OPS``, the one-bit products they hold
(binary MACs; the real taps times ``C/G``). Output channels run in parallel (``prange``);
each writes only its own rows, so no result depends on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

WORD_BITS = 64
POPCOUNT_WORDS, XNOR_OPS = range(2)
N_COUNTS = 2

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@njit(cache=True)
def popcount64(v):
    """Set bits of a uint64 (the SWAR popcount of Hacker's Delight, sec. 5-1)."""
    v = v - ((v >> np.uint64(1)) & _M1)
    v = (v & _M2) + ((v >> np.uint64(2)) & _M2)
    v = (v + (v >> np.uint64(4))) & _M4
    return np.int64((v * _H01) >> np.uint64(56))


def words_for(bits: int) -> int:
    """uint64 words that hold ``bits`` bits."""
    return -(-bits // WORD_BITS)


@njit(cache=True)
def _pack_rows(values):
    """(n, length) floats -> (n, words) uint64, bit ``b`` of a row set when its value >= 0."""
    n, length = values.shape
    words = np.zeros((n, (length + WORD_BITS - 1) // WORD_BITS), dtype=np.uint64)
    for i in range(n):
        for b in range(length):
            if values[i, b] >= 0:
                words[i, b // WORD_BITS] |= np.uint64(1) << np.uint64(b % WORD_BITS)
    return words


def pack_pixels(x: np.ndarray, groups: int) -> np.ndarray:
    """C x H x W input -> G x H x W x words: each pixel's sign bits, one group's channels."""
    c, h, w = x.shape
    cg = c // groups
    rows = np.ascontiguousarray(x.reshape(groups, cg, h, w).transpose(0, 2, 3, 1))
    return _pack_rows(rows.reshape(-1, cg)).reshape(groups, h, w, -1)


def pack_filters(weights: np.ndarray) -> np.ndarray:
    """M x C/G x R x S weights -> M x R x S x words: each tap's sign bits over channels."""
    m, cg, r, s = weights.shape
    rows = np.ascontiguousarray(weights.transpose(0, 2, 3, 1)).reshape(-1, cg)
    return _pack_rows(rows).reshape(m, r, s, -1)


@njit(cache=True)
def _channel_masks(cg, n_words):
    masks = np.full(n_words, ~np.uint64(0), dtype=np.uint64)
    tail = cg % WORD_BITS
    if tail:
        masks[n_words - 1] = (np.uint64(1) << np.uint64(tail)) - np.uint64(1)
    return masks


@njit(cache=True, parallel=True)
def xnor_conv(x_words, w_words, alpha, k_map, geometry):
    """Binary convolution by XNOR and popcount, scaled by ``alpha`` (M,) and ``k_map`` (P x Q).

    ``geometry``: ``(C/G, M/G, stride_h, stride_w, pad_top, pad_left, P, Q)``. Returns the
    integer dot products ``2 * popcount - n`` (M x P x Q int64), the scaled outputs
    ``alpha_m * K[p, q] * dot`` (float64) and the counts (M x ``N_COUNTS`` int64).
    """
    cg, mg, sh, sw, pad_t, pad_l, p_out, q_out = geometry
    _, h, w, n_words = x_words.shape
    m_out, r_k, s_k, _ = w_words.shape
    masks = _channel_masks(cg, n_words)
    dots = np.zeros((m_out, p_out, q_out), dtype=np.int64)
    scaled = np.zeros((m_out, p_out, q_out), dtype=np.float64)
    counts = np.zeros((m_out, N_COUNTS), dtype=np.int64)
    for m in prange(m_out):
        g = m // mg
        for p in range(p_out):
            for q in range(q_out):
                matches = 0
                taps = 0
                for r in range(r_k):
                    y = p * sh - pad_t + r
                    if y < 0 or y >= h:
                        continue
                    for s in range(s_k):
                        xx = q * sw - pad_l + s
                        if xx < 0 or xx >= w:
                            continue
                        taps += 1
                        for k in range(n_words):
                            same = ~(x_words[g, y, xx, k] ^ w_words[m, r, s, k])
                            matches += popcount64(same & masks[k])
                dot = 2 * matches - taps * cg
                dots[m, p, q] = dot
                scaled[m, p, q] = alpha[m] * k_map[p, q] * dot
                counts[m, POPCOUNT_WORDS] += taps * n_words
                counts[m, XNOR_OPS] += taps * cg
    return dots, scaled, counts


def xnor_layer(x: np.ndarray, weights: np.ndarray, k_map: np.ndarray, geometry: tuple,
               groups: int) -> tuple[np.ndarray, np.ndarray]:
    """One XNOR-Net layer on real operands: ``x`` (C x H x W) and ``weights`` (M x C/G x R x S,
    +-alpha per filter or any real values: only their signs and mean ``|w|`` per filter are
    used), ``k_map`` and ``geometry`` as :func:`xnor_conv` takes them. Returns the scaled sums
    ``alpha_m * K * (2 * popcount - n)`` (M x P x Q float64, before bias and ReLU) and the
    counts summed over filters (``N_COUNTS`` int64)."""
    alpha = np.abs(weights.astype(np.float64)).reshape(weights.shape[0], -1).mean(axis=1)
    _, scaled, counts = xnor_conv(pack_pixels(x, groups), pack_filters(weights), alpha,
                                  np.ascontiguousarray(k_map, dtype=np.float64), geometry)
    return scaled, counts.sum(axis=0)
