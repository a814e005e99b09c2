"""The XNOR-popcount kernel against numpy's binarized reference: a plain float convolution of
the zero-padded sign tensors, times the scales."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from accelsim.kernels import xnor

# (C, H, W, M, R, S, stride, pad (top, left, bottom, right), groups)
LAYERS = {
    "3x3_pad1": (3, 7, 6, 5, 3, 3, (1, 1), (1, 1, 1, 1), 1),
    "grouped_strided_uneven_pad": (70, 5, 5, 8, 3, 3, (2, 1), (1, 0, 1, 2), 2),
    "two_words_a_pixel": (130, 4, 4, 3, 2, 2, (1, 1), (0, 0, 0, 0), 1),
    "fc_as_whole_input_conv": (64, 3, 3, 6, 3, 3, (1, 1), (0, 0, 0, 0), 1),
}


def signs(a: np.ndarray) -> np.ndarray:
    return np.where(a >= 0, 1.0, -1.0)


def reference(x, w, stride, pad, groups):
    """Float conv of the zero-padded sign of ``x`` with the sign of ``w``; and the taps each
    output reads inside the input (the same conv on ones)."""
    c, h, width = x.shape
    m, cg, r, s = w.shape
    top, left, bottom, right = pad

    def conv(inp, filters):
        padded = np.pad(inp, ((0, 0), (top, bottom), (left, right)))
        view = np.lib.stride_tricks.sliding_window_view(padded, (r, s), axis=(1, 2))
        view = view[:, ::stride[0], ::stride[1]]
        mg = m // groups
        return np.concatenate([np.einsum("mcrs,cpqrs->mpq", filters[g * mg:(g + 1) * mg],
                                         view[g * cg:(g + 1) * cg]) for g in range(groups)])

    return conv(signs(x), signs(w)), conv(np.ones_like(x), np.ones_like(w))


def run(x, w, stride, pad, groups, alpha=None, k_map=None):
    m, _, r, s = w.shape
    p = (x.shape[1] + pad[0] + pad[2] - r) // stride[0] + 1
    q = (x.shape[2] + pad[1] + pad[3] - s) // stride[1] + 1
    geometry = (x.shape[0] // groups, m // groups, *stride, pad[0], pad[1], p, q)
    alpha = np.ones(m) if alpha is None else alpha
    k_map = np.ones((p, q)) if k_map is None else k_map
    return xnor.xnor_conv(xnor.pack_pixels(x, groups), xnor.pack_filters(w), alpha, k_map,
                          geometry), geometry


def layer_tensors(name, seed=0):
    c, h, width, m, r, s, stride, pad, groups = LAYERS[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c, h, width)).astype(np.float32)
    w = rng.standard_normal((m, c // groups, r, s)).astype(np.float32)
    x[0, 0, 0] = w[0, 0, 0, 0] = 0.0   # sign(0) = +1
    return x, w, stride, pad, groups


@pytest.mark.parametrize("name", LAYERS)
def test_dot_products_equal_the_float_conv_of_sign_tensors_exactly(name):
    x, w, stride, pad, groups = layer_tensors(name)
    (dots, _, counts), _ = run(x, w, stride, pad, groups)
    expected, taps = reference(x, w, stride, pad, groups)
    np.testing.assert_array_equal(dots, expected.astype(np.int64))
    assert counts[:, xnor.XNOR_OPS].sum() == taps.sum()
    words = xnor.words_for(x.shape[0] // groups)
    assert counts[:, xnor.POPCOUNT_WORDS].sum() == taps.sum() // (x.shape[0] // groups) * words


def test_padded_taps_are_skipped_not_read_as_minus_one():
    x = -np.ones((1, 2, 2), np.float32)   # all -1: every real tap matches a -1 weight
    w = -np.ones((1, 1, 3, 3), np.float32)
    (dots, _, counts), _ = run(x, w, (1, 1), (1, 1, 1, 1), 1)
    np.testing.assert_array_equal(dots[0], [[4, 4], [4, 4]])   # 4 real taps of 9
    assert counts[0, xnor.XNOR_OPS] == 16


@pytest.mark.parametrize("name", LAYERS)
def test_scaled_outputs_are_alpha_times_k_times_the_binary_conv(name):
    x, w, stride, pad, groups = layer_tensors(name, seed=1)
    alpha = np.abs(w).reshape(w.shape[0], -1).mean(axis=1).astype(np.float64)
    expected, _ = reference(x, w, stride, pad, groups)
    k_map = np.random.default_rng(5).uniform(0.1, 2.0, expected.shape[1:])
    (_, scaled, _), _ = run(x, w, stride, pad, groups, alpha, k_map)
    np.testing.assert_allclose(scaled, alpha[:, None, None] * k_map[None] * expected,
                               rtol=1e-12, atol=0)


def test_popcount_of_random_words():
    values = np.random.default_rng(3).integers(0, 2 ** 63, 200, dtype=np.uint64) * np.uint64(2) \
        + np.uint64(1)
    for value in values:
        assert xnor.popcount64(value) == bin(int(value)).count("1")


def test_results_do_not_depend_on_the_thread_count():
    x, w, stride, pad, groups = layer_tensors("grouped_strided_uneven_pad", seed=4)
    threads = numba.get_num_threads()
    (many, _) = run(x, w, stride, pad, groups)
    numba.set_num_threads(1)
    try:
        (one, _) = run(x, w, stride, pad, groups)
    finally:
        numba.set_num_threads(threads)
    for a, b in zip(many, one, strict=True):
        np.testing.assert_array_equal(a, b)
