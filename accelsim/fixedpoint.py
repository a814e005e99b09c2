"""16-bit dynamic fixed point: the number format of the ``fixed16`` precision.

A tensor is int16 values ``q`` with one fractional-bit count ``frac`` per tensor
(``real = q * 2**-frac``), chosen from the tensor's own range so that its largest magnitude
uses the top bit (Ristretto-style dynamic fixed point; DianNao computes in 16-bit fixed
point, the per-tensor radix point is our choice, calibrated on the simulated input itself).
Accumulators are int64, rounding is round-half-up, results saturate to int16. The range
chosen from the peak leaves room for every value but one case: a value just below the top
that rounds up to ``2**15``. Each tensor counts its values that saturated
(``Fixed.saturated``; ``Result.layers.saturated_values``), so a run shows when 16 bits were
not enough instead of hiding it.

``tests/reference.py`` implements the same rules independently; the kernels are checked
bit-exactly against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numba import njit

Q_MAX = 32767
Q_MIN = -32768


@dataclass(frozen=True)
class Fixed:
    """An int16 tensor with its fractional-bit count and how many of its values saturated
    when it was made (not part of its value: equal codes and frac are equal tensors)."""

    q: np.ndarray
    frac: int
    saturated: int = field(default=0, compare=False)

    def to_float(self) -> np.ndarray:
        return self.q.astype(np.float64) * 2.0 ** -self.frac

    def with_codes(self, q: np.ndarray) -> Fixed:
        """The same values laid out anew (transposed, reshaped): frac and count kept."""
        return replace(self, q=q)


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
    q, saturated = _round_to_int16(flat.ravel(), flat.dtype.type(2.0 ** frac))
    return Fixed(q.reshape(x.shape), frac, int(saturated))


@njit(cache=True)
def _max_abs(flat):
    peak = 0.0
    for value in flat:
        peak = max(peak, abs(value))
    return peak


@njit(cache=True)
def _round_to_int16(flat, scale):
    """floor(x * scale + 0.5) saturated to int16, and how many saturated. Exact in float32
    too: |x * scale| < 2**15, so adding 0.5 needs at most 24 mantissa bits. One thread: the
    branch-free loop vectorises and runs at memory speed (a parallel loop was slower, and
    far slower on a busy machine)."""
    out = np.empty(flat.size, dtype=np.int16)
    half = flat.dtype.type(0.5)
    saturated = 0
    for i in range(flat.size):
        value = np.floor(flat[i] * scale + half)
        saturated += (value > Q_MAX) | (value < Q_MIN)
        out[i] = min(max(value, Q_MIN), Q_MAX)
    return out, saturated


def quantize_at(x: np.ndarray, frac: int) -> np.ndarray:
    """Round a float tensor to int64 at a given frac (biases join the accumulator this way)."""
    return np.floor(x.astype(np.float64) * 2.0 ** frac + 0.5).astype(np.int64)


BIAS_CODE_BITS = 61
"""A bias code stays below ``2**61``, so the sum of it and the products fits int64."""


def with_bias(acc: np.ndarray, bias: np.ndarray, acc_frac: int,
              index=(slice(None), None, None)) -> tuple[np.ndarray, int]:
    """``acc`` (int64 sums at ``acc_frac``) plus the bias (``bias[index]`` broadcasts it over
    the outputs), and the frac of the result.

    The bias joins at the accumulator's frac; when its codes would not fit there (tiny
    activations make ``acc_frac`` large: ``|bias| * 2**acc_frac >= 2**61``), the sums are
    first rounded to the largest frac that holds the bias, far finer than the output's step,
    instead of overflowing into a wrong number."""
    peak = float(np.max(np.abs(bias))) if np.size(bias) else 0.0
    frac = acc_frac if peak == 0 else min(acc_frac, BIAS_CODE_BITS - math.frexp(peak)[1])
    if frac < acc_frac:
        acc = round_shift(acc, acc_frac - frac)
    return acc + quantize_at(bias, frac)[index], frac


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
    shifted = round_shift(acc, shift)
    saturated = int(np.count_nonzero((shifted > Q_MAX) | (shifted < Q_MIN)))
    return Fixed(np.clip(shifted, Q_MIN, Q_MAX).astype(np.int16), acc_frac - shift, saturated)
