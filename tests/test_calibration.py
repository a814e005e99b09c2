"""The calibrated default values (issue 18): activation statistics from published tables,
checked on the simulator's own per-layer table, made by the network's own arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

import accelsim
from accelsim.compare import compare
from accelsim.errors import AccelsimError
from accelsim.workload import calibration, load_network, load_tensors, make_tensors
from accelsim.workload.stats import layer_stats, zero_runs
from accelsim.workload.tensors import he_normal
from accelsim.workload.transforms.profiles import load_profile

BAND = 0.05   # the acceptance's "within 5 points"


def _input_zeros(arch: str, network: str, values: str = "calibrated") -> dict[str, float]:
    net = load_network(network)
    result = accelsim.simulate(arch, net, tensors=load_tensors(net, 0, values=values))
    return result.layers.set_index("layer")["input_zero_fraction"].to_dict()


def _off_by(zeros: dict[str, float], profile: str) -> dict[str, float]:
    """Layer -> |simulated - published| for every layer the profile names."""
    published = load_profile(profile).layers
    return {name: abs(zeros[name] - target) for name, target in published.items()}


@pytest.fixture(scope="module")
def alexnet_result():
    """The default AlexNet on DaDianNao (no arguments: the CLI's defaults)."""
    return accelsim.simulate("dadiannao", "alexnet")


def test_alexnet_conv_inputs_follow_the_eyeriss_table_on_the_simulator(alexnet_result):
    zeros = alexnet_result.layers.set_index("layer")["input_zero_fraction"].to_dict()
    off = _off_by(zeros, "alexnet_eyeriss2016")   # CONV2..5
    assert set(off) == {"conv2", "conv3", "conv4", "conv5"}
    assert max(off.values()) <= BAND, off
    assert zeros["conv1"] <= 0.0001 + BAND   # the table's CONV1: 0.01 % (the image)
    fc = _off_by(zeros, "alexnet_han2015_activations")
    assert max(fc[name] for name in ("fc6", "fc7", "fc8")) <= BAND, fc


def test_the_check_fails_on_the_synthetic_values():
    """The same check on He-normal, zero-bias tensors: CONV3-5 are ~25 points short."""
    off = _off_by(_input_zeros("dadiannao", "alexnet", "synthetic"), "alexnet_eyeriss2016")
    assert max(off.values()) > BAND, off


@pytest.mark.slow
def test_vgg16_inputs_follow_the_documented_profile_on_the_simulator():
    """Conv inputs: the Eyeriss chip's dense VGG-16 table; fc inputs: Han et al.'s."""
    zeros = _input_zeros("dadiannao", "vgg16")
    off = _off_by(zeros, "vgg16_eyeriss2017")
    assert len(off) == 12 and max(off.values()) <= BAND, off
    fc = _off_by(zeros, "vgg16_han2015_activations")
    assert max(fc[name] for name in ("fc6", "fc7", "fc8")) <= BAND, fc


@pytest.fixture(scope="module")
def defaults_comparison():
    return compare(["dadiannao", "cnvlutin"], ["alexnet", "vgg16"])


def _conv_speedups(comparison, workload: str):
    layers = comparison.layers
    chosen = layers[(layers["arch"] == "cnvlutin") & (layers["kind"] == "conv")
                    & (layers["workload"] == workload)]
    return chosen.set_index("layer")["speedup"]


@pytest.mark.slow
def test_cnvlutin_conv_speedup_of_the_defaults_is_in_the_paper_range(defaults_comparison):
    """Acceptance: the mean of AlexNet's and VGG-16's conv speedups is in 1.24-1.55
    (Albericio et al., ISCA 2016), and no conv layer where Cnvlutin is slower."""
    conv = defaults_comparison.networks.set_index(["workload", "arch"])["conv_speedup"]
    mean = np.mean([conv["alexnet", "cnvlutin"], conv["vgg16", "cnvlutin"]])
    assert 1.24 <= mean <= 1.55, conv
    for network in ("alexnet", "vgg16"):
        speedups = _conv_speedups(defaults_comparison, network)
        assert (speedups >= 1.0).all(), speedups


def test_calibration_is_deterministic_and_depends_on_the_seed():
    net = load_network("lenet5")
    first = calibration._calibrate(net, 3, calibration.load_recipe())
    again = calibration._calibrate(net, 3, calibration.load_recipe())
    other = calibration._calibrate(net, 4, calibration.load_recipe())
    for name in first.weights:
        assert first.weights[name].tobytes() == again.weights[name].tobytes()
        assert first.biases[name].tobytes() == again.biases[name].tobytes()
        assert not np.array_equal(first.weights[name], other.weights[name])
    assert first.provenance == again.provenance
    assert load_tensors(net, 3) is load_tensors(net, 3)   # cached within the process


def test_laplace_weights_have_he_variance_and_heavy_tails():
    layer = load_network("vgg16").layer("conv3_2")   # fan_in 2304
    w = calibration.laplace_weights(layer, np.random.default_rng(0)).astype(np.float64)
    assert w.var() == pytest.approx(2 / 2304, rel=0.01)
    kurtosis = np.mean((w - w.mean()) ** 4) / w.var() ** 2
    assert 5.5 < kurtosis < 6.5   # Laplace: 6; a Gaussian (He-normal) 3
    he = he_normal(layer, np.random.default_rng(0)).astype(np.float64)
    assert np.mean(he ** 4) / he.var() ** 2 == pytest.approx(3, abs=0.2)


def test_zeros_come_in_spatial_runs_not_scattered():
    """Runs along a feature-map row are longer than independent zeros would make them."""
    net = load_network("alexnet")
    stats = layer_stats(net, load_tensors(net, 0)).set_index("layer")
    for name in ("conv3", "conv4", "conv5"):
        p = stats.loc[name, "input_zero_fraction"]
        assert stats.loc[name, "mean_zero_run"] > 1.5 / (1 - p)   # i.i.d.: 1 / (1 - p)


def test_zero_runs_counts_runs_in_memory_order():
    assert zero_runs(np.array([[0, 0, 1], [0, 2, 0]])) == (4, 3)
    assert zero_runs(np.ones(5)) == (0, 0)


def test_networks_without_a_table_follow_the_depth_profile():
    net = load_network("mobilenet_v1")
    tensors = load_tensors(net, 0)
    assert "depth profile" in tensors.provenance["calibration"]
    stats = layer_stats(net, tensors).set_index("layer")
    targets, _ = calibration.targets(net, calibration.load_recipe())
    for unit in calibration.units(net):
        assert stats.loc[unit.read_by[0], "input_zero_fraction"] == pytest.approx(
            targets[unit.layer], abs=0.01)
    deepest = calibration.depth_target(1.0)   # the mean of the two published fc8 inputs
    fc8 = [load_profile(p).layers["fc8"] for p in ("alexnet_han2015_activations",
                                                   "vgg16_han2015_activations")]
    assert deepest == pytest.approx(np.mean(fc8))


def _target_achieved(provenance: str) -> list[tuple[float, float]]:
    """The (target, achieved) percentages the calibration provenance lists."""
    table = provenance.split("(float32): ")[1]
    return [tuple(float(v) for v in item.rsplit(" ", 1)[1].split("/"))
            for item in table.split(", ")]


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "nin",
                                  pytest.param("c3d", marks=pytest.mark.slow)])
def test_every_zoo_shape_reaches_its_targets(name):
    """Residual adds (through the conv feeding them), concats, average pools, 3-D layers."""
    net = load_network(name)
    found = calibration.units(net)
    assert found and len(calibration.targets(net, calibration.load_recipe())[0]) == len(found)
    if name == "resnet18":
        assert any(net.layer(u.layer).kind == "add" for u in found)
    pairs = _target_achieved(load_tensors(net, 0).provenance["calibration"])
    assert len(pairs) == len(found)
    assert max(abs(target - got) for target, got in pairs) <= 1.0, pairs


def test_provenance_names_the_calibration_in_the_result(alexnet_result):
    result = alexnet_result
    meta = result.meta["tensors"]
    assert meta["weights"] == "laplace-he(seed=0)"
    assert "alexnet_eyeriss2016" in meta["calibration"] and "conv3 72.5/72.5" in (
        meta["calibration"])
    assert result.summary["tensors_calibration"] == meta["calibration"]


def test_synthetic_values_are_the_he_normal_tensors():
    net = load_network("lenet5")
    synthetic, seeded = load_tensors(net, 2, values="synthetic"), make_tensors(net, 2)
    assert all(np.array_equal(synthetic.weights[k], seeded.weights[k]) for k in seeded.weights)
    assert synthetic.provenance == seeded.provenance
    with pytest.raises(AccelsimError, match="values must be one of"):
        load_tensors(net, 0, values="trained")


def test_onnx_models_keep_their_own_weights():
    net = load_network("digits_cnn")
    tensors = load_tensors(net, 0)
    assert "calibration" not in tensors.provenance
    assert tensors.provenance["weights"].startswith("trained: digits CNN")
    synthetic = load_tensors(net, 0, values="synthetic")   # an ONNX model's own, either way
    assert synthetic.provenance == tensors.provenance
