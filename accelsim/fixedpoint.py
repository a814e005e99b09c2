"""16-bit dynamic fixed point: the number format of the ``fixed16`` precision.

A tensor is int16 values ``q`` with one fractional-bit count ``frac`` per tensor
(``real = q * 2**-frac``), chosen from the tensor's own range so that its largest magnitude
uses the top bit (Ristretto-style dynamic fixed point; DianNao computes in 16-bit fixed
point, the per-tensor radix point is our choice, calibrated on the simulated input itself).
Accumulators are int64, rounding is round-half-up, results saturate to int16.

``tests/reference.py`` implements the same rules independently; the kernels are checked
bit-exactly against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

Q_MAX = 32767
Q_MIN = -32768


@dataclass(frozen=True)
class Fixed:
    """An int16 tensor with its fractional-bit count."""

    q: np.ndarray
    frac: int

    def to_float(self) -> np.ndarray:
        return self.q.astype(np.float64) * 2.0 ** -self.frac


def raw(tensor) -> np.ndarray:
    """The array a kernel works on: a :class:`Fixed` tensor's int16 codes, a float array as is."""
    return tensor.q if isinstance(tensor, Fixed) else tensor


def frac_bits_for(max_abs: float) -> int:
    """Fractional bits so that ``max_abs < 2**(15 - frac)``: e = least int with max < 2**e."""
    if max_abs <= 0 or not np.isfinite(max_abs):
        return 15
    _, exponent = math.frexp(max_abs)  # max_abs = m * 2**exponent, 0.5 <= m < 1: exact
    return 15 - exponent


def quantize(x: np.ndarray) -> Fixed:
    """Round a float tensor to int16 with the frac bits its range allows."""
    flat = np.ascontiguousarray(x, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    frac = frac_bits_for(float(_max_abs(flat.ravel())) if x.size else 0.0)
    q = _round_to_int16(flat.ravel(), flat.dtype.type(2.0 ** frac)).reshape(x.shape)
    return Fixed(q, frac)


@njit(cache=True)
def _max_abs(flat):
    peak = 0.0
    for value in flat:
        peak = max(peak, abs(value))
    return peak


@njit(cache=True, parallel=True)
def _round_to_int16(flat, scale):
    """floor(x * scale + 0.5) saturated to int16. Exact in float32 too: |x * scale| < 2**15,
    so adding 0.5 needs at most 24 mantissa bits."""
    out = np.empty(flat.size, dtype=np.int16)
    half = flat.dtype.type(0.5)
    for i in prange(flat.size):
        value = np.floor(flat[i] * scale + half)
        out[i] = min(max(value, Q_MIN), Q_MAX)
    return out


def quantize_at(x: np.ndarray, frac: int) -> np.ndarray:
    """Round a float tensor to int64 at a given frac (biases join the accumulator this way)."""
    return np.floor(x.astype(np.float64) * 2.0 ** frac + 0.5).astype(np.int64)


def round_shift(acc: np.ndarray, shift: int) -> np.ndarray:
    """``acc * 2**-shift`` rounded half up (arithmetic shift); exact left shift if shift <= 0."""
    if shift <= 0:
        return acc << -shift
    return (acc + (1 << (shift - 1))) >> shift


def requantize(acc: np.ndarray, acc_frac: int, relu: bool) -> Fixed:
    """NFU-3: int64 accumulators (``acc_frac`` fractional bits) -> int16 at a data-chosen frac.

    The output frac makes the largest magnitude fill 15 bits: ``shift = bitlen(max|acc|) - 15``.
    """
    if relu:
        acc = np.maximum(acc, 0)
    peak = int(np.max(np.abs(acc))) if acc.size else 0
    shift = peak.bit_length() - 15 if peak else acc_frac - 15
    q = np.clip(round_shift(acc, shift), Q_MIN, Q_MAX).astype(np.int16)
    return Fixed(q, acc_frac - shift)
