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
import weakref
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
    flat = _flat(x)
    return _rounded(x.shape, flat, max_abs(flat))


_KEPT: dict[int, tuple[tuple, Fixed]] = {}
"""``id(array)`` -> (its shape, dtype and digest; its codes), while the array lives."""


def quantize_kept(x: np.ndarray) -> Fixed:
    """:func:`quantize` of a tensor that outlives a run (a network's weights), remembered.

    A later call on the very same array returns the same codes when its contents are
    unchanged: same shape, dtype and 64-bit digest of its bytes (one pass, about a third of
    the quantization's time). So a second simulation of the same tensors skips the rounding pass and
    its 2 fresh bytes per weight, and an array changed in place is quantized anew. An entry
    lives as long as its array (``weakref.finalize``). The codes are shared, as
    ``NetworkValues.weights`` already are between a sweep's runs: cores never write them.
    """
    flat = _flat(x)
    whole = flat.nbytes - flat.nbytes % 8
    raw_bytes = flat.view(np.uint8)
    key = (x.shape, flat.dtype.str, int(_digest(raw_bytes[:whole].view(np.uint64))),
           raw_bytes[whole:].tobytes())
    kept = _KEPT.get(id(x))
    if kept is not None and kept[0] == key:
        return kept[1]
    fixed = _rounded(x.shape, flat, max_abs(flat))
    if kept is None:
        weakref.finalize(x, _KEPT.pop, id(x), None)
    _KEPT[id(x)] = (key, fixed)
    return fixed


def _flat(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64 if x.dtype == np.float64
                                else np.float32).ravel()


def _rounded(shape: tuple, flat: np.ndarray, peak: float) -> Fixed:
    frac = frac_bits_for(peak)
    q = np.empty(flat.size, dtype=np.int16)   # numpy's pages: first touch far cheaper than NRT's
    saturated = _round_to_int16(flat, flat.dtype.type(2.0 ** frac), q)
    return Fixed(q.reshape(shape), frac, int(saturated))


_MAGNITUDE_BITS = {np.dtype(np.float32): (np.uint32, np.uint32(0x7FFF_FFFF)),
                   np.dtype(np.float64): (np.uint64, np.uint64(0x7FFF_FFFF_FFFF_FFFF))}


def max_abs(flat: np.ndarray) -> float:
    """The largest magnitude of a contiguous 1-D float32 / float64 array (0.0 if empty).

    An IEEE float's magnitude orders as its bit pattern without the sign bit, read as an
    unsigned integer, so the peak is an integer max (SIMD; a float max with NaN semantics
    does not vectorise): exact, the same value as ``np.abs(flat).max()`` for any non-NaN
    input (a NaN, rejected upstream, comes out as a NaN)."""
    unsigned, mask = _MAGNITUDE_BITS[flat.dtype]
    return _as_float(_max_bits(flat.view(unsigned), mask), flat.dtype)


def _as_float(bits: int, dtype: np.dtype) -> float:
    """The float whose bit pattern is ``bits``."""
    return float(np.array([bits], dtype=_MAGNITUDE_BITS[dtype][0]).view(dtype)[0])


@njit(cache=True)
def _max_bits(bits, mask):
    peak = bits.dtype.type(0)
    for value in bits:
        peak = max(peak, value & mask)
    return peak


_PRIME_1 = np.uint64(0x9E3779B185EBCA87)
_PRIME_2 = np.uint64(0xC2B2AE3D27D4EB4F)


@njit(cache=True)
def _mix(lane, word):
    """One xxHash64 round: a lane absorbs a word."""
    lane = lane + np.uint64(word) * _PRIME_2
    return ((lane << np.uint64(31)) | (lane >> np.uint64(33))) * _PRIME_1


@njit(cache=True)
def _rotl(lane, bits):
    return (lane << np.uint64(bits)) | (lane >> np.uint64(64 - bits))


@njit(cache=True)
def _digest(words):
    """A 64-bit digest of uint64 words: xxHash64's rounds over eight lanes (a word's
    position matters) and its merge of the lanes, without its length and avalanche steps
    (the caller keys on the shape too). Eight independent lanes keep the multipliers busy."""
    lanes = np.arange(1, 9).astype(np.uint64)
    whole = words.size - words.size % 8
    for i in range(0, whole, 8):
        for lane in range(8):
            lanes[lane] = _mix(lanes[lane], words[i + lane])
    for i in range(whole, words.size):
        lanes[0] = _mix(lanes[0], words[i])
    digest = np.uint64(0)
    for lane in range(8):
        digest = digest + _rotl(lanes[lane], 1 + 7 * lane)
    return digest


@njit(cache=True)
def _round_to_int16(flat, scale, out):
    """``out`` = floor(x * scale + 0.5) saturated to int16; returns how many saturated. Exact
    in float32 too: |x * scale| < 2**15, so adding 0.5 needs at most 24 mantissa bits. One
    thread: the branch-free loop vectorises and runs at memory speed (a parallel loop was
    slower, and far slower on a busy machine). ``out`` is allocated by numpy: writing a
    fresh array allocated by numba was 3x slower (VGG-16's weights: 1.2 of 1.7 s)."""
    half = flat.dtype.type(0.5)
    saturated = 0
    for i in range(flat.size):
        value = np.floor(flat[i] * scale + half)
        saturated += (value > Q_MAX) | (value < Q_MIN)
        out[i] = min(max(value, Q_MIN), Q_MAX)
    return saturated


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


def requantize_channels_last(sums: np.ndarray, bias: np.ndarray, acc_frac: int,
                             relu: bool) -> Fixed:
    """:func:`with_bias` then :func:`requantize` of ``N x M`` sums (channels last: a core's
    P x Q x M accumulators, reshaped), bit for bit, as ``M x N`` codes (channels first).

    ``sums`` are float64 holding exact integers (an exact GEMM's) or int64. One pass finds
    the peak, a second rounds, saturates and transposes, instead of a dozen numpy passes
    over the layer's outputs (``tests/test_fixedpoint_speed.py`` checks it against the two
    functions)."""
    peak = float(np.max(np.abs(bias))) if np.size(bias) else 0.0
    frac = acc_frac if peak == 0 else min(acc_frac, BIAS_CODE_BITS - math.frexp(peak)[1])
    bias_codes = quantize_at(np.broadcast_to(bias, sums.shape[1:]), frac)
    sums = np.ascontiguousarray(sums)
    top = int(_biased_peak(sums, bias_codes, acc_frac - frac, relu))
    shift = top.bit_length() - 15 if top else frac - 15
    out = np.zeros((sums.shape[1], sums.shape[0]), dtype=np.int16)
    saturated = 0
    if top:   # else every code is 0 (and shift may be any size)
        saturated = _biased_codes(sums, bias_codes, acc_frac - frac, relu, shift, out)
    return Fixed(out, frac - shift, int(saturated))


# Serial on purpose: a core's BLAS GEMM runs just before on both cores, and numba's pool
# spinning beside BLAS's slows both (see accelsim.kernels.dense_gemm._patches).
@njit(cache=True)
def _biased_peak(sums, bias_codes, pre_shift, relu):
    """Largest magnitude of the biased accumulators (:func:`_biased_codes`' ``acc``); the
    running max and min vectorise, an ``abs`` would not."""
    half = np.int64(1) << max(pre_shift - 1, 0)
    high = np.int64(0)
    low = np.int64(0)
    for n in range(sums.shape[0]):
        for m in range(sums.shape[1]):
            acc = np.int64(sums[n, m])
            if pre_shift > 0:
                acc = (acc + half) >> pre_shift
            acc += bias_codes[m]
            high = max(high, acc)
            low = min(low, acc)
    return high if relu else max(high, -low)


@njit(cache=True)
def _biased_codes(sums, bias_codes, pre_shift, relu, shift, out):
    """``out[m, n]``: accumulator ``(n, m)`` at the bias's frac (rounded by ``pre_shift``)
    plus the bias, through ReLU, rounded by ``shift`` (half up; a left shift if negative)
    and saturated to int16, as :func:`with_bias` and :func:`requantize` do it; returns how
    many saturated. Blocks of 256 rows, output channels outer within a block: the reads
    stay in cache and the writes are contiguous."""
    half = np.int64(1) << max(pre_shift - 1, 0)
    out_half = np.int64(1) << max(shift - 1, 0)
    floor = np.int64(0) if relu else np.iinfo(np.int64).min
    saturated = 0
    for n0 in range(0, sums.shape[0], 256):
        n1 = min(n0 + 256, sums.shape[0])
        for m in range(sums.shape[1]):
            bias_code = bias_codes[m]
            column = sums[n0:n1, m]   # 1-D views: the loop vectorises (3x faster)
            codes = out[m, n0:n1]
            for i in range(n1 - n0):
                acc = np.int64(column[i])
                if pre_shift > 0:
                    acc = (acc + half) >> pre_shift
                acc = max(acc + bias_code, floor)
                code = (acc + out_half) >> shift if shift > 0 else acc << -shift
                saturated += (code > Q_MAX) | (code < Q_MIN)
                codes[i] = min(max(code, Q_MIN), Q_MAX)
    return saturated
