"""Self-checks of the numpy reference (tests/reference.py) and of the fast benchmark inference.

The reference is the oracle for every kernel, so it is checked here against independent
formulations: explicit loops, matmuls, hand-worked pooling examples and error bounds.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from accelsim.workload import load_network
from accelsim.workload.layer import Layer
from accelsim.workload.network import Network
from accelsim.workload.tensors import make_tensors
from benchmarks.numpy_inference import infer, time_inference
from tests import reference as ref


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def loop_conv(x, w, b, stride, pad, groups):
    """Convolution by explicit loops, reading padding as out-of-bounds zeros."""
    channels, height, width = x.shape
    out_channels, channels_per_group, kernel_h, kernel_w = w.shape
    top, left, bottom, right = pad
    out_h = (height + top + bottom - kernel_h) // stride[0] + 1
    out_w = (width + left + right - kernel_w) // stride[1] + 1
    outs_per_group = out_channels // groups
    y = np.zeros((out_channels, out_h, out_w), dtype=np.result_type(x.dtype, w.dtype))
    for m, p, q in itertools.product(range(out_channels), range(out_h), range(out_w)):
        total = b[m]
        for c, r, s in itertools.product(range(channels_per_group), range(kernel_h),
                                         range(kernel_w)):
            row = p * stride[0] + r - top
            col = q * stride[1] + s - left
            if 0 <= row < height and 0 <= col < width:
                total += x[(m // outs_per_group) * channels_per_group + c, row, col] * w[m, c, r, s]
        y[m, p, q] = total
    return y


CONV_CASES = {
    # name: (C, H, W, M, R, S, stride, pad, groups)
    "plain": (3, 6, 5, 4, 3, 3, (1, 1), (0, 0, 0, 0), 1),
    "grouped": (4, 7, 7, 6, 3, 2, (1, 1), (1, 1, 1, 1), 2),
    "depthwise": (3, 6, 6, 3, 3, 3, (1, 1), (1, 1, 1, 1), 3),
    "depthwise_multiplier": (2, 5, 5, 4, 3, 3, (2, 1), (1, 0, 1, 0), 2),
    "strided": (2, 9, 8, 3, 3, 3, (2, 3), (0, 0, 0, 0), 1),
    "asymmetric_pad": (2, 5, 6, 3, 3, 2, (1, 2), (1, 0, 2, 1), 1),
}


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv2d_equals_explicit_loops(rng, case):
    channels, height, width, out_channels, kernel_h, kernel_w, stride, pad, groups = case
    x = rng.standard_normal((channels, height, width))
    w = rng.standard_normal((out_channels, channels // groups, kernel_h, kernel_w))
    b = rng.standard_normal(out_channels)
    got = ref.conv2d(x, w, b, stride, pad, groups)
    np.testing.assert_allclose(got, loop_conv(x, w, b, stride, pad, groups), rtol=1e-12,
                               atol=1e-12)


def test_pointwise_conv_is_a_matmul(rng):
    x = rng.standard_normal((5, 4, 3))
    w = rng.standard_normal((7, 5, 1, 1))
    expected = (w[:, :, 0, 0] @ x.reshape(5, -1)).reshape(7, 4, 3)
    np.testing.assert_allclose(ref.conv2d(x, w), expected, rtol=1e-12)


def test_fc_equals_conv_with_a_full_kernel(rng):
    x = rng.standard_normal((3, 4, 5))
    w = rng.standard_normal((6, 3, 4, 5))
    b = rng.standard_normal(6)
    assert ref.fc(x, w, b).shape == (6, 1, 1)
    np.testing.assert_allclose(ref.fc(x, w, b), ref.conv2d(x, w, b), rtol=1e-12)
    flat = (w.reshape(6, -1) @ x.reshape(-1) + b).reshape(6, 1, 1)
    np.testing.assert_allclose(ref.fc(x, w, b), flat, rtol=1e-12)


def test_grouped_conv_is_concatenated_per_group_convs(rng):
    x = rng.standard_normal((6, 5, 5))
    w = rng.standard_normal((9, 2, 3, 3))
    b = rng.standard_normal(9)
    per_group = [ref.conv2d(x[2 * g:2 * g + 2], w[3 * g:3 * g + 3], b[3 * g:3 * g + 3],
                            (2, 1), (1, 1, 0, 2)) for g in range(3)]
    np.testing.assert_allclose(ref.conv2d(x, w, b, (2, 1), (1, 1, 0, 2), groups=3),
                               np.concatenate(per_group), rtol=1e-12)


# ---- pooling on hand-worked 4x4 examples ----------------------------------------------------

RAMP = np.arange(16.0).reshape(1, 4, 4)  # rows [0..3], [4..7], [8..11], [12..15]


def test_max_pool_2x2_stride_2():
    np.testing.assert_array_equal(ref.max_pool(RAMP, (2, 2), (2, 2)), [[[5, 7], [13, 15]]])


def test_max_pool_padding_never_wins():
    negative = -(RAMP + 1)  # -1 .. -16: a zero pad would win everywhere on the border
    expected = [[[-1, -1, -2, -3], [-1, -1, -2, -3], [-5, -5, -6, -7], [-9, -9, -10, -11]]]
    np.testing.assert_array_equal(ref.max_pool(negative, (3, 3), (1, 1), (1, 1, 1, 1)),
                                  expected)


def test_avg_pool_divides_by_real_elements_only():
    # 3x3 windows, stride 2, pad 1: windows hold 4, 6, 6 and 9 real elements.
    # (0,0): 0+1+4+5 = 10 / 4; (0,1): 1+2+3+5+6+7 = 24 / 6;
    # (1,0): 4+5+8+9+12+13 = 51 / 6; (1,1): 5+6+7+9+10+11+13+14+15 = 90 / 9.
    expected = [[[2.5, 4.0], [8.5, 10.0]]]
    np.testing.assert_allclose(ref.avg_pool(RAMP, (3, 3), (2, 2), (1, 1, 1, 1)), expected)


def test_fixed_pools_round_half_up_and_keep_the_fraction():
    q = RAMP.astype(np.int16)
    got, frac = ref.avg_pool_fixed(q, 7, (3, 3), (2, 2), (1, 1, 1, 1))
    assert frac == 7
    np.testing.assert_array_equal(got, [[[3, 4], [9, 10]]])  # 2.5 -> 3, 8.5 -> 9
    got, _ = ref.avg_pool_fixed(-q, 7, (3, 3), (2, 2), (1, 1, 1, 1))
    np.testing.assert_array_equal(got, [[[-2, -4], [-8, -10]]])  # -2.5 -> -2, -8.5 -> -8
    got, frac = ref.max_pool_fixed(-(q + 1), 3, (3, 3), (1, 1), (1, 1, 1, 1))
    assert frac == 3 and got.dtype == np.int16
    np.testing.assert_array_equal(got[0, 3], [-9, -9, -10, -11])
    got, _ = ref.max_pool_fixed(q - 6, 3, (2, 2), (2, 2), relu=True)
    np.testing.assert_array_equal(got, [[[0, 1], [7, 9]]])


def test_pool_window_of_only_padding_is_an_error():
    with pytest.raises(ValueError, match="only padding"):
        ref.max_pool(RAMP, (2, 2), (2, 2), (2, 0, 0, 0))


# ---- fixed point ----------------------------------------------------------------------------

@pytest.mark.parametrize("max_abs, frac_bits", [
    (0.0, 15), (0.4, 16), (0.5, 15), (0.75, 15), (1.0, 14), (3.0, 13), (100.0, 8)])
def test_frac_bits_for(max_abs, frac_bits):
    assert ref.frac_bits_for(max_abs) == frac_bits


def test_quantize_rounds_and_saturates():
    q, frac = ref.quantize(np.array([1.0, -0.25, 0.3]))
    assert frac == 14
    np.testing.assert_array_equal(q, [16384, -4096, 4915])  # 0.3 * 16384 = 4915.2
    q, frac = ref.quantize(np.array([0.99999, -1.0]))
    assert frac == 14
    q, frac = ref.quantize(np.array([0.99999]))
    assert frac == 15 and q[0] == 32767  # 32767.67 rounds to 32768, saturates


@pytest.mark.parametrize("value, shift, expected", [
    (-3, 1, -1), (-5, 1, -2), (5, 1, 3), (-6, 2, -1), (-7, 2, -2), (6, 2, 2), (7, 0, 7),
    (-3, -2, -12)])
def test_round_shift_rounds_half_up(value, shift, expected):
    assert int(ref.round_shift(np.int64(value), shift)) == expected


@pytest.mark.parametrize("scale", [3, 1000, 2**20, 2**40])
def test_requantize_uses_the_full_int16_range(rng, scale):
    acc = rng.integers(-scale, scale + 1, size=(4, 5, 5), dtype=np.int64)
    q, frac = ref.requantize(acc, 24)
    assert 16384 <= np.abs(q.astype(np.int64)).max() <= 32768
    error = np.abs(q * 2.0**-frac - acc * 2.0**-24)
    assert error.max() <= 2.0**-frac  # half an LSB, or one LSB where it saturates


def test_requantize_of_zeros_and_relu():
    q, frac = ref.requantize(np.zeros((2, 2), dtype=np.int64), 30)
    assert frac == 15 and not q.any()
    q, frac = ref.requantize(np.array([-5000, 3, 100]), 10, relu=True)
    assert q[0] == 0 and q[2] == 100 << 8 and frac == 18  # 100 has 7 bits: shift -8


def test_add_fixed_aligns_fractions_exactly(rng):
    qa = rng.integers(-200, 200, size=(3, 4, 4)).astype(np.int16)
    qb = rng.integers(-200, 200, size=(3, 4, 4)).astype(np.int16)
    q, frac = ref.add_fixed(qa, 9, qb, 4)
    exact = qa * 2.0**-9 + qb * 2.0**-4  # fits in 15 bits after alignment: no rounding
    np.testing.assert_array_equal(q * 2.0**-frac, exact)
    q, frac = ref.add_fixed(np.array([3], np.int16), 4, np.array([5], np.int16), 2)
    assert (int(q[0]), frac) == (23 << 10, 14)  # 3/16 + 5/4 = 23/16


def conv_error_bound(x, w, fx, fw, f_out, stride, pad):
    """Worst-case |fixed - float| of a conv from input, weight, bias and output rounding."""
    half_x, half_w = 0.5 * 2.0**-fx, 0.5 * 2.0**-fw
    ones_w, ones_x = np.ones_like(w), np.ones_like(x)
    propagated = (ref.conv2d(np.abs(x), ones_w * half_w, None, stride, pad)
                  + ref.conv2d(ones_x * half_x, np.abs(w), None, stride, pad)
                  + ref.conv2d(ones_x * half_x, ones_w * half_w, None, stride, pad))
    return propagated + 0.5 * 2.0**-(fx + fw) + 2.0**-f_out


@pytest.mark.parametrize("relu", [False, True])
def test_fixed_conv_matches_float_within_the_quantisation_bound(rng, relu):
    x = rng.standard_normal((4, 7, 6)) * 3
    w = rng.standard_normal((5, 4, 3, 3)) * 0.2
    b = rng.standard_normal(5)
    stride, pad = (1, 2), (1, 0, 2, 1)
    (qx, fx), (qw, fw) = ref.quantize(x), ref.quantize(w)
    q, f_out = ref.conv2d_fixed(qx, fx, qw, fw, b, stride, pad, relu=relu)
    expected = ref.conv2d(x, w, b, stride, pad)
    if relu:
        expected = ref.relu(expected)
    bound = conv_error_bound(x, w, fx, fw, f_out, stride, pad)
    assert bound.max() < 1e-2 * np.abs(expected).max()  # the check is not vacuous
    assert np.all(np.abs(q * 2.0**-f_out - expected) <= bound)
    # On the dequantised inputs, only bias and output rounding remain.
    exact_inputs = ref.conv2d(qx * 2.0**-fx, qw * 2.0**-fw, b, stride, pad)
    if relu:
        exact_inputs = ref.relu(exact_inputs)
    rounding = 0.5 * 2.0**-(fx + fw) + 2.0**-f_out
    assert np.all(np.abs(q * 2.0**-f_out - exact_inputs) <= rounding)


def test_fixed_conv_integer_sum_is_exact_on_both_paths(rng):
    qx = rng.integers(-32768, 32768, size=(3, 5, 5), dtype=np.int64)
    qw = rng.integers(-32768, 32768, size=(2, 3, 3, 3), dtype=np.int64)
    expected = loop_conv(qx.astype(object), qw.astype(object), [0, 0], (1, 1), (0, 0, 0, 0), 1)
    windows = ref._windows(qx, (3, 3), (1, 1))
    assert np.array_equal(ref._exact_integer_window_dot(windows, qw), expected.astype(np.int64))
    huge = 2**20  # 27 terms of 2**40 * 2**20: beyond float64's exact range, int64 path
    big = ref._exact_integer_window_dot(windows * huge, qw)
    assert np.array_equal(big, expected.astype(np.int64) * huge)


def test_fc_fixed_matches_fixed_conv_and_float(rng):
    x = rng.standard_normal((2, 3, 3))
    w = rng.standard_normal((4, 2, 3, 3))
    (qx, fx), (qw, fw) = ref.quantize(x), ref.quantize(w)
    q, frac = ref.fc_fixed(qx, fx, qw, fw, None)
    q_conv, frac_conv = ref.conv2d_fixed(qx, fx, qw, fw)
    assert frac == frac_conv and np.array_equal(q, q_conv) and q.shape == (4, 1, 1)
    np.testing.assert_allclose(q * 2.0**-frac, ref.fc(x, w), atol=0.05)


# ---- run_layer and the fast benchmark inference ---------------------------------------------

def small_network() -> Network:
    """Every layer kind and shape feature: asymmetric pad, stride, groups, depthwise, add."""
    layers = (
        Layer("stem", "conv", 3, 12, 10, 8, 3, 3, (2, 1), (1, 0, 2, 1), relu=True,
              inputs=("input",)),
        Layer("dw", "conv", 8, 7, 9, 8, 3, 3, pad=(1, 1, 1, 1), groups=8, relu=True,
              inputs=("stem",)),
        Layer("grouped", "conv", 8, 7, 9, 8, 3, 3, pad=(1, 1, 1, 1), groups=2,
              inputs=("dw",)),
        Layer("pw", "conv", 8, 7, 9, 8, inputs=("stem",)),
        Layer("res", "add", 8, 7, 9, 8, relu=True, inputs=("grouped", "pw")),
        Layer("maxp", "pool", 8, 7, 9, 8, 3, 3, (2, 2), (1, 1, 1, 1), pool_op="max",
              inputs=("res",)),
        Layer("avgp", "pool", 8, 4, 5, 8, 2, 3, (1, 2), (0, 1, 1, 1), pool_op="avg",
              inputs=("maxp",)),
        Layer("dwx2", "conv", 8, 4, 3, 16, 2, 2, (1, 1), (0, 0, 1, 1), groups=8,
              inputs=("avgp",)),
        Layer("head", "fc", 16, 4, 3, 5, 4, 3, inputs=("dwx2",)),
    )
    return Network("small", (3, 12, 10), layers)


def random_tensors(network: Network, rng):
    weights = {layer.name: rng.standard_normal(layer.weight_shape) * 0.3
               for layer in network.layers if layer.has_weights}
    biases = {name: rng.standard_normal(w.shape[0]) for name, w in weights.items()}
    return weights, biases, rng.standard_normal(network.input_shape)


def reference_outputs(network: Network, weights, biases, x, precision="fp32"):
    outputs = {"input": x}
    for layer in network.layers:
        outputs[layer.name] = ref.run_layer(
            layer, [outputs[p] for p in layer.inputs], weights.get(layer.name),
            biases.get(layer.name), precision)
    return outputs


@pytest.mark.parametrize("network", [small_network(), load_network("lenet5")],
                         ids=["small", "lenet5"])
def test_fast_inference_matches_the_reference(rng, network):
    weights, biases, x = random_tensors(network, rng)
    expected = reference_outputs(network, weights, biases, x)
    got = infer(network, weights, biases, x)
    assert list(got) == [layer.name for layer in network.layers]
    for layer in network.layers:
        assert got[layer.name].dtype == np.float32 and got[layer.name].shape == layer.out_shape
        scale = np.abs(expected[layer.name]).max()
        np.testing.assert_allclose(got[layer.name], expected[layer.name], rtol=1e-4,
                                   atol=1e-5 * scale, err_msg=layer.name)


def test_fast_inference_keep_last_and_timing():
    network = small_network()
    tensors = make_tensors(network, seed=3)
    last = infer(network, tensors.weights, tensors.biases, tensors.input, keep="last")
    assert list(last) == ["head"]
    every = infer(network, tensors.weights, tensors.biases, tensors.input)
    np.testing.assert_array_equal(last["head"], every["head"])
    assert 0 < time_inference(network, tensors, repeats=2) < 5


def test_run_layer_fixed16_tracks_fp32(rng):
    network = small_network()
    weights, biases, x = random_tensors(network, rng)
    floats = reference_outputs(network, weights, biases, x)
    fixed = reference_outputs(network, weights, biases, ref.quantize(x), "fixed16")
    for layer in network.layers:
        q, frac = fixed[layer.name]
        assert q.dtype == np.int16 and q.shape == layer.out_shape
        scale = np.abs(floats[layer.name]).max()
        np.testing.assert_allclose(q * 2.0**-frac, floats[layer.name], atol=2e-3 * scale,
                                   err_msg=layer.name)
    with pytest.raises(ValueError, match="precision"):
        ref.run_layer(network.layers[0], [x], weights["stem"], None, "int8")
