"""The fast paths of ``fixedpoint.quantize`` and the weights it remembers (issue 22).

``max_abs`` takes the peak as an integer max over the bit patterns; ``quantize`` writes its
codes into a numpy-allocated array; ``quantize_kept`` returns the codes of an unchanged array
again. All three must give exactly what the plain numpy rules give.
"""

import gc
import math

import numpy as np
import pytest

from accelsim import fixedpoint


def numpy_quantize(x: np.ndarray):
    """The format's rules in plain numpy: frac from the peak, floor(x * 2**frac + 0.5),
    saturated to int16 and counted."""
    peak = float(np.abs(x).max()) if x.size else 0.0
    frac = 15 - math.frexp(peak)[1] if peak > 0 else 15
    scaled = np.floor(x * x.dtype.type(2.0 ** frac) + x.dtype.type(0.5))
    saturated = int(np.count_nonzero((scaled > 32767) | (scaled < -32768)))
    return np.clip(scaled, -32768, 32767).astype(np.int16), frac, saturated


def tensors():
    rng = np.random.default_rng(5)
    yield np.zeros(0, np.float32)
    yield np.zeros((2, 3), np.float32)
    yield np.array([-0.0, 0.0], np.float32)
    yield np.array([np.inf, -1.0], np.float32)
    yield np.array([-4.0, 3.99], np.float64)                       # a negative peak
    for dtype in (np.float32, np.float64):
        for scale in (1e-20, 0.01, 1.0, 300.0, 1e30):
            x = (rng.standard_normal((5, 7, 3)) * scale).astype(dtype)
            yield x
            yield x[:, ::2]                                        # not contiguous
            yield np.round(x / scale * 8) / 8 * dtype(scale)       # many exact halves


@pytest.mark.parametrize("x", list(tensors()), ids=lambda x: f"{x.dtype}{x.shape}")
def test_max_abs_and_quantize_match_numpy(x):
    flat = np.ascontiguousarray(x).ravel()
    expected_peak = float(np.abs(flat).max()) if flat.size else 0.0
    assert fixedpoint.max_abs(flat) == expected_peak
    codes, frac, saturated = numpy_quantize(x)
    got = fixedpoint.quantize(x)
    assert (got.q.dtype, got.q.shape, got.frac, got.saturated) == (np.int16, x.shape, frac,
                                                                   saturated)
    np.testing.assert_array_equal(got.q, codes)


def test_quantize_kept_returns_the_same_codes_until_the_array_changes():
    x = np.random.default_rng(1).standard_normal((16, 3, 3, 3)).astype(np.float32)
    first = fixedpoint.quantize_kept(x)
    np.testing.assert_array_equal(first.q, fixedpoint.quantize(x).q)
    assert fixedpoint.quantize_kept(x) is first
    x[7, 1, 2, 0] *= 3                                             # changed in place
    changed = fixedpoint.quantize_kept(x)
    assert changed is not first
    expected = fixedpoint.quantize(x)
    np.testing.assert_array_equal(changed.q, expected.q)
    assert changed.frac == expected.frac


@pytest.mark.parametrize("size", [1, 7, 8, 9, 17, 64])
def test_quantize_kept_sees_a_change_in_any_word(size):
    """Every element, also those past the last whole 8-byte word, and two swapped words."""
    x = np.arange(1, size + 1, dtype=np.float32)
    for i in range(size):
        kept = fixedpoint.quantize_kept(x)
        x[i] = -x[i]
        np.testing.assert_array_equal(fixedpoint.quantize_kept(x).q, fixedpoint.quantize(x).q)
        assert fixedpoint.quantize_kept(x) is not kept
    if size >= 4:
        kept = fixedpoint.quantize_kept(x)
        x[[0, 2]] = x[[2, 0]]
        np.testing.assert_array_equal(fixedpoint.quantize_kept(x).q, fixedpoint.quantize(x).q)


def test_quantize_kept_forgets_an_array_when_it_dies():
    x = np.ones((4, 4), np.float32)
    fixedpoint.quantize_kept(x)
    key = id(x)
    assert key in fixedpoint._KEPT
    del x
    gc.collect()
    assert key not in fixedpoint._KEPT


def output_stage_cases():
    """(sums N x M, bias M, acc_frac): GEMM-sized sums, a bias too large for the sums' frac
    (rounded first), all zeros, tiny sums (a left shift), sums that round up to 2**15, and
    int64 sums (exact beyond float64's integers)."""
    rng = np.random.default_rng(11)
    big = rng.integers(-2 ** 40, 2 ** 40, (37, 19)).astype(np.float64)
    yield big, rng.standard_normal(19).astype(np.float32), 26
    yield big, (rng.standard_normal(19) * 1e6).astype(np.float32), 60
    yield np.zeros((5, 3)), np.zeros(3, np.float32), 24
    yield rng.integers(-40, 40, (70, 16)).astype(np.float64), np.zeros(16, np.float32), 20
    edge = np.array([[2 ** 20 - 1, -5], [2 ** 19, 3]], dtype=np.float64)   # saturates
    yield edge, np.zeros(2, np.float32), 18
    yield rng.integers(-2 ** 62, 2 ** 62, (9, 4)), np.zeros(4, np.float32), 30
    yield rng.integers(-2 ** 30, 2 ** 30, (1, 300)).astype(np.float64), \
        rng.standard_normal(300).astype(np.float32), 22


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("case", range(7))
def test_channels_last_output_stage_is_with_bias_then_requantize(case, relu):
    sums, bias, acc_frac = list(output_stage_cases())[case]
    acc, frac = fixedpoint.with_bias(sums.astype(np.int64), bias, acc_frac, np.s_[:])
    expected = fixedpoint.requantize(acc, frac, relu)
    got = fixedpoint.requantize_channels_last(sums, bias, acc_frac, relu)
    np.testing.assert_array_equal(got.q, expected.q.T)
    assert (got.frac, got.saturated) == (expected.frac, expected.saturated)
    assert got.q.dtype == np.int16 and got.q.flags.c_contiguous
    if case == 4:
        assert got.saturated == 1
