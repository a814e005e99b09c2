"""Seeded tensors: determinism, per-layer streams, He scale, natural-image input statistics."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import AccelsimError
from accelsim.workload import INPUT, Layer, Network
from accelsim.workload.tensors import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    he_normal,
    layer_rng,
    make_tensors,
    natural_image,
)


def small_network(middle_kernel: int = 3, with_extra: bool = True) -> Network:
    """conv -> conv (kernel chosen, same output size) -> [extra conv] -> pool -> add -> fc."""
    layers = [
        Layer("conv1", "conv", 3, 16, 16, 8, 3, 3, pad=(1, 1, 1, 1), relu=True, inputs=(INPUT,)),
        Layer("conv2", "conv", 8, 16, 16, 8, middle_kernel, middle_kernel,
              pad=(middle_kernel // 2,) * 4, relu=True, inputs=("conv1",)),
    ]
    if with_extra:
        layers.append(Layer("extra", "conv", 8, 16, 16, 8, 3, 3, pad=(1, 1, 1, 1),
                            groups=8, inputs=("conv2",)))
    last = layers[-1].name
    layers += [
        Layer("pool", "pool", 8, 16, 16, 8, 2, 2, stride=(2, 2), pool_op="max", inputs=(last,)),
        Layer("shortcut", "conv", 8, 16, 16, 8, 1, 1, stride=(2, 2), inputs=("conv1",)),
        Layer("sum", "add", 8, 8, 8, 8, inputs=("pool", "shortcut")),
        Layer("fc", "fc", 8, 8, 8, 10, 8, 8, inputs=("sum",)),
    ]
    return Network("small", (3, 16, 16), tuple(layers))


def assert_identical(first: np.ndarray, second: np.ndarray) -> None:
    assert first.dtype == second.dtype and first.shape == second.shape
    assert first.tobytes() == second.tobytes()


# ---- whole-network tensors ----------------------------------------------------------------

def test_shapes_dtypes_and_zero_biases():
    network = small_network()
    tensors = make_tensors(network, seed=3)
    assert tensors.input.shape == network.input_shape and tensors.input.dtype == np.float32
    with_weights = [layer for layer in network.layers if layer.kind in ("conv", "fc")]
    assert list(tensors.weights) == [layer.name for layer in with_weights]
    for layer in with_weights:
        assert tensors.weights[layer.name].shape == layer.weight_shape
        assert tensors.weights[layer.name].dtype == np.float32
        assert tensors.biases[layer.name].shape == (layer.out_channels,)
        assert tensors.biases[layer.name].dtype == np.float32
        assert not tensors.biases[layer.name].any()
    assert tensors.weights["fc"].shape == (10, 8, 8, 8)
    assert tensors.provenance == {"weights": "he-normal(seed=3)", "biases": "zeros",
                                  "input": "natural-image(seed=3)"}


def test_same_seed_gives_bit_identical_tensors_and_other_seeds_differ():
    network = small_network()
    first, again, other = (make_tensors(network, seed) for seed in (5, 5, 6))
    assert_identical(first.input, again.input)
    for name in first.weights:
        assert_identical(first.weights[name], again.weights[name])
        assert not np.array_equal(first.weights[name], other.weights[name])
    assert not np.array_equal(first.input, other.input)


def test_reshaping_or_removing_a_layer_leaves_the_others_unchanged():
    base = make_tensors(small_network(), seed=1)
    reshaped = make_tensors(small_network(middle_kernel=5), seed=1)
    removed = make_tensors(small_network(with_extra=False), seed=1)
    assert reshaped.weights["conv2"].shape == (8, 8, 5, 5)
    assert "extra" not in removed.weights
    for name in ("conv1", "shortcut", "fc"):
        assert_identical(base.weights[name], reshaped.weights[name])
        assert_identical(base.weights[name], removed.weights[name])
    assert_identical(base.input, reshaped.input)


def test_each_layer_name_has_its_own_stream():
    layer = small_network().layer("conv2")
    weights = he_normal(layer, layer_rng(0, "conv2"))
    assert_identical(weights, he_normal(layer, layer_rng(0, "conv2")))
    assert not np.array_equal(weights, he_normal(layer, layer_rng(0, "conv3")))
    assert not np.array_equal(weights, he_normal(layer, layer_rng(1, "conv2")))
    assert_identical(weights, make_tensors(small_network(), seed=0).weights["conv2"])


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed_is_one_clear_error(seed):
    with pytest.raises(AccelsimError, match="seed must be an integer >= 0"):
        make_tensors(small_network(), seed)


# ---- He-normal ------------------------------------------------------------------------------

@pytest.mark.parametrize("layer, fan_in", [
    (Layer("big", "conv", 128, 8, 8, 256, 3, 3, pad=(1, 1, 1, 1)), 128 * 9),
    (Layer("dw", "conv", 1024, 8, 8, 1024, 3, 3, pad=(1, 1, 1, 1), groups=1024), 9),
    (Layer("grouped", "conv", 512, 8, 8, 512, 3, 3, groups=2), 256 * 9),
    (Layer("fc", "fc", 64, 4, 4, 1000, 4, 4), 64 * 16),
])
def test_he_normal_std_is_sqrt_two_over_fan_in(layer, fan_in):
    weights = he_normal(layer, np.random.default_rng(0)).astype(np.float64)
    expected_std = np.sqrt(2.0 / fan_in)
    assert weights.shape == layer.weight_shape and weights.size >= 9000
    assert abs(weights.std() / expected_std - 1) < 0.03
    assert abs(weights.mean()) < 0.05 * expected_std


def test_he_normal_refuses_layers_without_weights():
    pool = Layer("pool", "pool", 4, 8, 8, 4, 2, 2, stride=(2, 2), pool_op="max")
    with pytest.raises(ValueError, match="pool"):
        he_normal(pool, np.random.default_rng(0))


# ---- natural-image input ------------------------------------------------------------------

def neighbour_correlation(channel: np.ndarray) -> float:
    return float(np.corrcoef(channel[:, :-1].ravel(), channel[:, 1:].ravel())[0, 1])


def spectrum_slope(channel: np.ndarray) -> float:
    """Log-log slope of the radially averaged power spectrum (about -2 for photographs)."""
    height, width = channel.shape
    power = np.abs(np.fft.fft2(channel - channel.mean())) ** 2
    radius = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])
    ring = np.round(radius * min(height, width)).astype(int)
    inside = (ring >= 1) & (ring <= min(height, width) // 2)
    ring_power = np.bincount(ring[inside], power[inside]) / np.maximum(
        np.bincount(ring[inside]), 1)
    rings = np.nonzero(ring_power)[0]
    return float(np.polyfit(np.log(rings), np.log(ring_power[rings]), 1)[0])


def test_the_statistics_tell_white_noise_apart():
    noise = np.random.default_rng(0).standard_normal((224, 224))
    assert abs(neighbour_correlation(noise)) < 0.05
    assert abs(spectrum_slope(noise)) < 0.2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_input_has_natural_image_statistics(seed):
    image = natural_image((3, 224, 224), np.random.default_rng(seed))
    assert image.shape == (3, 224, 224) and image.dtype == np.float32
    assert np.isfinite(image).all()
    for channel in image:
        assert neighbour_correlation(channel) > 0.8
        assert -2.6 < spectrum_slope(channel) < -1.4
        assert abs(channel.mean()) < 0.3 and 0.7 < channel.std() < 1.3
    for first, second in ((0, 1), (1, 2), (0, 2)):
        assert np.corrcoef(image[first].ravel(), image[second].ravel())[0, 1] > 0.5


def test_input_is_imagenet_normalised_8_bit_pixels():
    image = natural_image((3, 64, 64), np.random.default_rng(4)).astype(np.float64)
    mean = np.array(IMAGENET_MEAN)[:, None, None]
    std = np.array(IMAGENET_STD)[:, None, None]
    levels = (image * std + mean) * 255
    assert levels.min() > -1e-3 and levels.max() < 255 + 1e-3
    assert np.abs(levels - np.round(levels)).max() < 1e-3


def test_single_channel_input_uses_mid_grey_statistics():
    image = natural_image((1, 32, 32), np.random.default_rng(0)).astype(np.float64)
    levels = (image * 0.25 + 0.5) * 255
    assert levels.min() > -1e-3 and levels.max() < 255 + 1e-3
    assert np.abs(levels - np.round(levels)).max() < 1e-3
    assert neighbour_correlation(image[0]) > 0.5


@pytest.mark.parametrize("shape", [(3, 1, 1), (2, 1, 7), (4, 5, 3)])
def test_tiny_and_odd_inputs_are_finite(shape):
    image = natural_image(shape, np.random.default_rng(0))
    assert image.shape == shape and np.isfinite(image).all()
