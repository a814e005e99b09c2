"""The exact int64 sums of a fixed16 conv / fc layer, for the sparse cores that only count.

SCNN (:mod:`accelsim.kernels.cartesian`) and Phantom (:mod:`accelsim.kernels.bitmask`) add
every effectual product of two int16 operands into an int64 accumulator; the products they
skip or discard have a zero factor or land on no output, so each output's sum is the layer's
dense sum, an integer. :func:`accelsim.kernels.dense_gemm.conv_sums` computes exactly those
integers (float64 is exact for them, in any order: see its module docstring), so these
cores take their outputs from it and their cycle-level loops only count (no accumulator
update per product). fp32 operands keep the loops' own float sums (their order matters).
"""

from __future__ import annotations

import numpy as np

from accelsim.kernels import dense_gemm


def applies(x: np.ndarray, weights: np.ndarray) -> bool:
    """Whether the sums can come from here: int16 (fixed16) operands."""
    return x.dtype == np.int16 and weights.dtype == np.int16


def conv_sums(x: np.ndarray, weights: np.ndarray, stride: tuple[int, int],
              pad: tuple[int, int, int, int]) -> np.ndarray:
    """``M x P x Q`` int64 sums of input ``x`` (``C x H x W`` int16) with ``weights``
    (``M x C/G x R x S`` int16), ``stride`` (rows, cols) and ``pad`` (top, left, bottom,
    right), zero padding."""
    top, left, bottom, right = pad
    channels, height, width = x.shape
    padded = np.zeros((height + top + bottom, width + left + right, channels), np.int16)
    padded[top:top + height, left:left + width] = x.transpose(1, 2, 0)
    sums = dense_gemm.conv_sums(padded, np.ascontiguousarray(weights), stride)
    return sums.transpose(2, 0, 1).astype(np.int64)
