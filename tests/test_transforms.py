"""Sparsity and precision transforms: each checked against its definition, not its code."""

from __future__ import annotations

import math

import numpy as np
import pytest

import accelsim
from accelsim import fixedpoint
from accelsim.cli import main
from accelsim.errors import WorkloadError
from accelsim.workload import INPUT, Layer, Network, load_network, load_tensors
from accelsim.workload.forward import forward
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms import (
    apply_transform,
    apply_transforms,
    load_recipe,
    parse_transform,
)
from accelsim.workload.transforms.profiles import load_profile
from accelsim.workload.transforms.pruning import keep_largest, weight_densities
from accelsim.workload.transforms.quantization import quantize_array
from tests import reference


@pytest.fixture(scope="module")
def alexnet():
    network = load_network("alexnet")
    return network, make_tensors(network, seed=0)


def small_net() -> Network:
    layers = (
        Layer("conv1", "conv", 3, 16, 16, 16, 3, 3, pad=(1, 1, 1, 1), relu=True,
              inputs=(INPUT,)),
        Layer("pool1", "pool", 16, 16, 16, 16, 2, 2, stride=(2, 2), pool_op="max",
              inputs=("conv1",)),
        Layer("conv2", "conv", 16, 8, 8, 32, 3, 3, pad=(1, 1, 1, 1), groups=2, relu=True,
              inputs=("pool1",)),
        Layer("fc", "fc", 32, 8, 8, 10, 8, 8, inputs=("conv2",)),
    )
    return Network("small", (3, 16, 16), layers)


# ---- magnitude pruning ---------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["alexnet_han2015", "vgg16_han2015"])
def test_per_layer_profile_densities_within_half_a_point(profile, alexnet):
    targets = load_profile(profile).layers
    network, tensors = alexnet
    if profile.startswith("vgg16"):   # 138 M weights: the 13 conv layers (fc6 has 103 M)
        vgg = load_network("vgg16")
        network = Network("vgg16_convs", vgg.input_shape, vgg.layers[:18])
        targets = {k: v for k, v in targets.items() if k.startswith("conv")}
        tensors = make_tensors(network, seed=0)
    pruned = apply_transform(network, tensors, {"kind": "prune", "density": targets})
    densities = weight_densities(network, pruned)
    for name, target in targets.items():
        assert abs(densities[name] - target) < 0.005, name
        w, p = np.abs(tensors.weights[name]), pruned.weights[name]
        assert np.abs(w[p != 0]).min() >= w[p == 0].max()   # the largest survive
    if profile == "alexnet_han2015":   # Han et al.: 6.7 M of 61 M weights (11 %)
        kept = sum(np.count_nonzero(pruned.weights[n]) for n in targets)
        assert 6.6e6 < kept < 6.9e6


def test_global_density_uses_one_threshold(alexnet):
    network, tensors = alexnet
    pruned = apply_transform(network, tensors, parse_transform("prune:density=0.2"))
    kept = {n: pruned.weights[n] != 0 for n in pruned.weights}
    total = sum(k.size for k in kept.values())
    assert abs(sum(int(k.sum()) for k in kept.values()) / total - 0.2) < 1e-6
    smallest_kept = min(np.abs(tensors.weights[n][k]).min() for n, k in kept.items())
    largest_cut = max(np.abs(tensors.weights[n][~k]).max() for n, k in kept.items())
    assert smallest_kept >= largest_cut
    densities = weight_densities(network, pruned)
    assert densities["conv1"] > densities["fc6"]   # He init: small fan-in, large weights


def test_pruning_is_pure_and_deterministic(alexnet):
    network, tensors = alexnet
    before = {n: w.copy() for n, w in tensors.weights.items() if n.startswith("conv")}
    spec = {"kind": "prune", "density": 0.3, "scope": "layer", "layers": list(before)}
    first = apply_transform(network, tensors, spec)
    second = apply_transform(network, tensors, spec)
    for name in before:
        assert np.array_equal(tensors.weights[name], before[name])
        assert np.array_equal(first.weights[name], second.weights[name])
    assert first.weights["fc6"] is tensors.weights["fc6"]   # untouched layers are shared


def test_keep_largest_breaks_ties_by_position():
    scores = np.array([1.0, 3.0, 3.0, 0.0, 3.0, 2.0])
    assert keep_largest(scores, 2).tolist() == [False, True, True, False, False, False]
    assert keep_largest(scores, 5).tolist() == [True, True, True, False, True, True]
    assert keep_largest(scores, 6).all() and not keep_largest(scores, 0).any()


# ---- structured pruning --------------------------------------------------------------------

@pytest.mark.parametrize("filters_per_group", [None, 4])
def test_group_wise_pruning_zeroes_whole_crs_groups(alexnet, filters_per_group):
    network, tensors = alexnet
    spec = {"kind": "prune_groups", "density": 0.4, "filters_per_group": filters_per_group}
    pruned = apply_transform(network, tensors, spec)
    for layer in network.layers:
        if layer.kind != "conv":
            if layer.has_weights:   # fc layers are not group-pruned by default
                assert pruned.weights[layer.name] is tensors.weights[layer.name]
            continue
        size = filters_per_group or layer.out_channels_per_group
        w = pruned.weights[layer.name]
        blocks = w.reshape(w.shape[0] // size, size, -1)
        zero = blocks == 0
        assert (zero.all(axis=1) | ~zero.any(axis=1)).all(), layer.name   # whole groups
        groups_kept = (~zero.all(axis=1)).mean()
        assert abs(groups_kept - 0.4) <= 1 / zero[:, 0].size, layer.name
        norms = np.linalg.norm(tensors.weights[layer.name].reshape(blocks.shape), axis=1)
        kept = ~zero.all(axis=1)
        assert norms[kept].min() >= norms[~kept].max()   # the strongest groups survive


def test_filter_pruning_zeroes_filters_and_their_outputs():
    network = small_net()
    tensors = make_tensors(network, seed=1)
    tensors = apply_transform(network, tensors, {"kind": "prune_filters", "density": 0.5})
    w, b = tensors.weights["conv2"], tensors.biases["conv2"]
    dead = ~w.reshape(32, -1).any(axis=1)
    assert dead.sum() == 16 and (b[dead] == 0).all()
    result = accelsim.simulate("diannao", network, tensors=tensors, keep_outputs=True)
    assert (result.outputs["conv2"].q[dead] == 0).all()
    assert result.outputs["conv2"].q[~dead].any()
    with pytest.raises(WorkloadError, match="filters_per_group"):
        apply_transform(network, tensors, {"kind": "prune_groups", "density": 0.5,
                                           "filters_per_group": 3})


# ---- quantization --------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantized_weights_sit_on_an_n_bit_grid_held_exactly_by_fixed16(bits, per_channel):
    rng = np.random.default_rng(bits)
    w = (rng.standard_normal((8, 4, 3, 3)) * rng.uniform(0.01, 2, (8, 1, 1, 1))).astype(
        np.float32)
    q = quantize_array(w, bits, per_channel)
    rows = q.reshape(8, -1) if per_channel else q.reshape(1, -1)
    for row in rows:
        exponent = math.frexp(float(np.abs(row).max()))[1]   # row < 2**exponent
        integers = row.astype(np.float64) * 2.0 ** (bits - 1 - exponent)
        assert np.array_equal(integers, np.round(integers))
        assert np.abs(integers).max() <= 2 ** (bits - 1) - 1
    assert np.abs(q - w).max() <= np.abs(w).max() * 2.0 ** (1 - bits)
    held = fixedpoint.quantize(q)
    assert np.array_equal(held.to_float(), q.astype(np.float64))   # lossless in fixed16


@pytest.mark.parametrize("bits, per_channel", [(8, False), (16, False), (8, True)])
def test_quantized_weights_run_bit_exactly_on_the_fixed16_kernels(bits, per_channel):
    """The simulated conv equals an int64 convolution with the n-bit integers themselves
    (per channel: on the tensor's 16-bit grid, which every channel's n-bit grid is on;
    that each channel is n-bit is checked above)."""
    network = small_net()
    tensors = apply_transform(network, make_tensors(network, seed=2), {
        "kind": "quantize", "bits": bits, "per_channel": per_channel})
    result = accelsim.simulate("diannao", network, tensors=tensors, keep_outputs=True)
    x = result.outputs["input"]
    w = tensors.weights["conv1"]
    exponent = math.frexp(float(np.abs(w).max()))[1]
    frac = (15 if per_channel else bits - 1) - exponent
    integers = w.astype(np.float64) * 2.0 ** frac
    assert np.array_equal(integers, np.round(integers))
    w_int = integers.astype(np.int64)
    assert np.abs(w_int).max() <= 2 ** (15 if per_channel else bits - 1) - 1
    q, out_frac = reference.conv2d_fixed(x.q, x.frac, w_int, frac, None, pad=(1, 1, 1, 1),
                                         relu=True)
    out = result.outputs["conv1"]
    assert np.array_equal(out.q, q) and out.frac == out_frac


# ---- activation profile --------------------------------------------------------------------

def test_eyeriss_profile_on_pruned_alexnet_reaches_the_targets_in_simulation(alexnet):
    network, tensors = alexnet
    targets = load_profile("alexnet_eyeriss2016").layers
    tensors = apply_transforms(network, tensors, [
        parse_transform("prune:profile=alexnet_han2015"),
        parse_transform("activation_profile:profile=alexnet_eyeriss2016")])
    result = accelsim.simulate("diannao", network, tensors=tensors)
    zeros = result.layers.set_index("layer")["input_zero_fraction"]
    for name, target in targets.items():
        assert abs(zeros[name] - target) < 0.005, name
    notes = result.summary["tensors_transforms"]   # in order, each citing its profile
    assert notes.startswith("prune(magnitude") and "activation_profile(" in notes
    assert notes.index("[profile alexnet_han2015]") < notes.index("activation_profile(")
    assert notes.endswith("[profile alexnet_eyeriss2016]")


def test_imposed_zeros_are_spatially_clustered(alexnet):
    """A zero's right neighbour is zero far more often than the zero fraction (i.i.d.)."""
    network, tensors = alexnet
    spec = {"kind": "activation_profile", "zeros": {"conv2": 0.5}}
    tensors, again = (apply_transform(network, tensors, spec) for _ in range(2))
    assert np.array_equal(tensors.biases["conv1"], again.biases["conv1"])   # deterministic
    pooled = {layer.name: out for layer, out in forward(network, tensors)}["pool1"]
    zero = pooled == 0
    fraction = zero.mean()
    neighbour = (zero[:, :, :-1] & zero[:, :, 1:]).sum() / zero[:, :, :-1].sum()
    assert abs(fraction - 0.5) < 0.005
    assert neighbour > fraction + 0.15


def test_activation_profile_rejects_what_it_cannot_control(alexnet):
    network, tensors = alexnet
    with pytest.raises(WorkloadError, match="network input"):
        apply_transform(network, tensors, {"kind": "activation_profile", "zeros": {"conv1": 0.1}})
    with pytest.raises(WorkloadError, match="fc8"):
        apply_transform(network, tensors, {"kind": "activation_profile",
                                           "zeros": {"fc8x": 0.1}})


# ---- specs, recipes, command line ----------------------------------------------------------

def test_parse_transform_reads_values_as_yaml():
    assert parse_transform("prune:density=0.3,scope=layer,layers=[conv1, conv2]") == {
        "kind": "prune", "density": 0.3, "scope": "layer", "layers": ["conv1", "conv2"]}
    assert parse_transform("quantize:bits=8,per_channel=true") == {
        "kind": "quantize", "bits": 8, "per_channel": True}


@pytest.mark.parametrize("spec, needle", [
    ({"kind": "prunne", "density": 0.1}, "did you mean 'prune'"),
    ({"kind": "prune", "densty": 0.1}, "unknown option 'densty'"),
    ({"kind": "prune", "density": 0.1, "profile": "alexnet_han2015"}, "exactly one"),
    ({"kind": "prune", "profile": "alexnet_eyeriss2016"}, "weight_density"),
    ({"kind": "prune", "density": 1.5}, "fraction"),
    ({"kind": "prune", "density": {"conv9": 0.5}}, "conv9"),
    ({"kind": "quantize", "bits": 1}, "bits"),
    ({"kind": "activation_profile", "zeros": 0.3}, "mapping"),
    ({"kind": "prune", "profile": "nonexistent"}, "unknown profile"),
])
def test_bad_specs_are_one_line_errors(alexnet, spec, needle):
    network, tensors = alexnet
    with pytest.raises(WorkloadError) as info:
        apply_transform(network, tensors, spec)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_recipe_file_composes_transforms_and_results_record_them(tmp_path, write_yaml,
                                                                capsys):
    recipe = write_yaml("recipe.yaml", {"version": 1, "transforms": [
        {"kind": "prune_filters", "density": 0.5},
        {"kind": "quantize", "bits": 8, "per_channel": True}]})
    assert len(load_recipe(recipe)) == 2
    assert main(["run", "--workload", "lenet5", "--transforms", str(recipe),
                 "--transform", "prune:density=0.25", "-q"]) == 0
    out = capsys.readouterr().out
    assert out.index("prune_filters") < out.index("quantize(8-bit") < out.index("magnitude")
    bad = write_yaml("bad.yaml", {"version": 1, "transforms": [{"kind": "prune", "x": 1}]})
    assert main(["run", "--workload", "lenet5", "--transforms", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "'x'" in err[0]


def test_profiles_ship_the_published_numbers():
    han = load_profile("alexnet_han2015")
    assert han.quantity == "weight_density" and han.layers["fc6"] == 0.09
    eyeriss = load_profile("alexnet_eyeriss2016")
    assert eyeriss.layers == {"conv2": 0.387, "conv3": 0.725, "conv4": 0.793, "conv5": 0.776}
    assert len(load_profile("vgg16_han2015").layers) == 16


def test_calibrated_tensors_default_for_yaml_networks():
    network = load_network("lenet5")
    tensors = load_tensors(network, seed=4)
    assert tensors.provenance["weights"] == "laplace-he(seed=4)"
    assert np.array_equal(tensors.input, make_tensors(network, seed=4).input)
    synthetic = load_tensors(network, seed=4, values="synthetic")
    assert synthetic.provenance["weights"] == "he-normal(seed=4)"
