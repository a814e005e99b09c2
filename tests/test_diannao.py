"""DianNao core: outputs against the numpy reference, cycles against the closed form."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from accelsim import simulate
from accelsim.config import load_arch, with_overrides
from accelsim.errors import MappingError
from accelsim.kernels import dense
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from tests import reference

# Every layer kind the zoo uses, at awkward sizes: channels not multiples of 16, asymmetric
# padding, non-square kernels and strides, groups straddling NFU blocks, depthwise, residual
# add, padded max and average pooling, fc after conv and after fc.
MIXED = {
    "name": "mixed", "input": [20, 15, 13],
    "layers": [
        {"name": "conv_a", "kind": "conv", "out_channels": 24, "kernel": 3, "pad": 1,
         "relu": True},
        {"name": "conv_s2", "kind": "conv", "out_channels": 40, "kernel": [3, 5], "stride": 2,
         "pad": [0, 1, 1, 2], "relu": True},
        {"name": "grouped", "kind": "conv", "out_channels": 40, "kernel": 3, "pad": 1,
         "groups": 4, "relu": True},
        {"name": "avg_pad", "kind": "pool", "op": "avg", "kernel": 3, "pad": 1},
        {"name": "dw", "kind": "conv", "groups": "depthwise", "kernel": 3, "stride": 2,
         "pad": [0, 0, 1, 1], "relu": True},
        {"name": "pw", "kind": "conv", "out_channels": 40, "kernel": 1},
        {"name": "res", "kind": "add", "inputs": ["pw", "dw"], "relu": True},
        {"name": "max_pad", "kind": "pool", "op": "max", "kernel": 3, "stride": 2, "pad": 1},
        {"name": "avg", "kind": "pool", "op": "avg", "kernel": 2},
        {"name": "fc", "kind": "fc", "out_channels": 19, "relu": True},
        {"name": "fc_out", "kind": "fc", "out_channels": 7},
    ],
}


@pytest.fixture(scope="module")
def mixed():
    return network_from_dict(MIXED, "mixed")


def arch(precision="fixed16", **overrides):
    return with_overrides(load_arch("diannao"), {"precision": precision, **overrides})


UNLIMITED_DRAM = {"dram.bytes_per_cycle": None, "dram.latency_cycles": 0}


def assert_bit_exact(network, tensors, result):
    """Every layer's fixed16 output equals the integer reference on the same inputs."""
    for layer in network:
        q_ref, frac_ref = _reference_output(layer, result, tensors, "fixed16")
        out = result.outputs[layer.name]
        assert out.frac == frac_ref, layer.name
        np.testing.assert_array_equal(out.q, q_ref, err_msg=layer.name)


def _reference_output(layer, result, tensors, precision):
    inputs = [result.outputs[name] for name in layer.inputs]
    if precision == "fixed16":
        inputs = [(x.q, x.frac) for x in inputs]
    weight = tensors.weights.get(layer.name)
    bias = tensors.biases.get(layer.name)
    return reference.run_layer(layer, inputs, weight, bias, precision)


@pytest.mark.parametrize("seed", [0, 7])
def test_fixed16_outputs_bit_exact(mixed, seed):
    tensors = make_tensors(mixed, seed)
    result = simulate(arch("fixed16"), mixed, tensors=tensors, keep_outputs=True)
    assert_bit_exact(mixed, tensors, result)


def test_fp32_outputs_match_reference(mixed):
    tensors = make_tensors(mixed, 3)
    result = simulate(arch("fp32"), mixed, tensors=tensors, keep_outputs=True)
    for layer in mixed:
        ref = _reference_output(layer, result, tensors, "fp32")
        out = result.outputs[layer.name]
        assert out.dtype == np.float32 and out.shape == ref.shape
        scale = max(float(np.max(np.abs(ref))), 1e-30)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * scale, err_msg=layer.name)


def test_outputs_are_not_trivial(mixed):
    """Guard for the tests above: real data flows, ReLU makes real zeros, nothing is all 0."""
    result = simulate(arch("fixed16"), mixed, keep_outputs=True)
    for layer in mixed:
        q = result.outputs[layer.name].q
        assert np.count_nonzero(q) > 0, layer.name
    zeros = result.layers.set_index("layer")["input_zero_fraction"]
    assert 0.2 < zeros["conv_s2"] < 0.8


def closed_form_cycles(layer, tn=16, ti=16, stages=3):
    """DianNao module docstring's formula, computed here from the shapes alone."""
    fill = stages - 1
    if layer.kind in ("conv", "fc"):
        cg = layer.in_channels // layer.groups
        mg = layer.out_channels // layer.groups
        total = 0
        for m0 in range(0, layer.out_channels, tn):
            m1 = min(m0 + tn, layer.out_channels)
            groups_touched = (m1 - 1) // mg - m0 // mg + 1
            total += (layer.out_h * layer.out_w * layer.kernel_h * layer.kernel_w
                      * math.ceil(groups_touched * cg / ti))
        return total + fill
    rows = math.ceil(layer.in_channels / ti)
    if layer.kind == "pool":
        return layer.out_h * layer.out_w * layer.kernel_h * layer.kernel_w * rows + fill
    return 2 * layer.in_h * layer.in_w * rows + fill


SHAPES = [
    {"input": [3, 8, 8], "layer": {"kind": "conv", "out_channels": 16, "kernel": 3}},
    {"input": [20, 9, 7], "layer": {"kind": "conv", "out_channels": 24, "kernel": 3, "pad": 1}},
    {"input": [33, 11, 10], "layer": {"kind": "conv", "out_channels": 17, "kernel": 5,
                                      "stride": 2, "pad": [1, 2, 0, 1]}},
    {"input": [48, 9, 9], "layer": {"kind": "conv", "out_channels": 96, "kernel": 3,
                                    "groups": 2}},
    {"input": [40, 12, 12], "layer": {"kind": "conv", "groups": "depthwise", "kernel": 3,
                                      "stride": 2, "pad": 1}},
    {"input": [12, 5, 5], "layer": {"kind": "conv", "out_channels": 20, "kernel": 1,
                                    "groups": 4}},
    {"input": [50, 3, 3], "layer": {"kind": "fc", "out_channels": 37}},
    {"input": [20, 9, 9], "layer": {"kind": "pool", "op": "max", "kernel": 3, "stride": 2}},
    {"input": [18, 6, 7], "layer": {"kind": "pool", "op": "avg", "kernel": 2, "stride": 2}},
    {"input": [21, 6, 5], "layer": {"kind": "add", "inputs": ["input", "input"]}},
]


def _single(shape):
    return network_from_dict({"name": "one", "input": shape["input"],
                              "layers": [{"name": "l", **shape["layer"]}]}, "one")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s['layer']['kind']}{s['input']}")
@pytest.mark.parametrize("buffers", ["paper", "large"])
def test_unlimited_dram_gives_closed_form_cycles(shape, buffers):
    overrides = dict(UNLIMITED_DRAM)
    if buffers == "large":   # the whole layer fits on chip
        overrides.update({"buffers.nbin.size_kib": 1024, "buffers.sb.size_kib": 4096,
                          "buffers.nbout.size_kib": 1024})
    network = _single(shape)
    row = simulate(arch(**overrides), network).layers.iloc[0]
    expected = closed_form_cycles(network.layers[0])
    assert row["compute_cycles"] == expected
    assert row["cycles"] == expected
    assert row["stall_cycles"] == 0


def test_tiny_dram_bandwidth_stalls():
    network = _single(SHAPES[1])
    row = simulate(arch(**{"dram.bytes_per_cycle": 0.05}), network).layers.iloc[0]
    assert row["dram_bytes"] > 0
    assert row["cycles"] >= row["dram_bytes"] / 0.05
    assert row["stall_cycles"] > 0
    assert row["compute_cycles"] == closed_form_cycles(network.layers[0])


def test_resident_layer_reads_each_byte_once():
    """With buffers large enough, inputs and weights come from DRAM once and outputs go once."""
    network = _single(SHAPES[1])
    layer = network.layers[0]
    big = {"buffers.nbin.size_kib": 1024, "buffers.sb.size_kib": 4096,
           "buffers.nbout.size_kib": 1024}
    row = simulate(arch(**big), network).layers.iloc[0]
    words_in = layer.in_channels * layer.in_h * layer.in_w + layer.weight_count
    assert row["dram_read_bytes"] == 2 * words_in
    assert row["dram_write_bytes"] == 2 * layer.out_channels * layer.out_h * layer.out_w


def test_small_buffers_refetch_more():
    network = _single(SHAPES[1])
    paper = simulate(arch(), network).layers.iloc[0]
    big = simulate(arch(**{"buffers.nbin.size_kib": 1024, "buffers.sb.size_kib": 4096,
                           "buffers.nbout.size_kib": 1024}), network).layers.iloc[0]
    assert paper["dram_read_bytes"] > big["dram_read_bytes"]


def test_counting_mode_equals_computing_mode():
    network = _single(SHAPES[3])
    layer = network.layers[0]
    core_arch = arch()
    from accelsim.arch.diannao import Core
    core = Core(core_arch)
    tiling = core.tile(layer)
    rng = np.random.default_rng(0)
    x = rng.integers(-100, 100, size=(9, 9, 48)).astype(np.int16)
    w = rng.integers(-100, 100, size=layer.weight_shape).astype(np.int16)
    geometry = (48, 24, 48, 96, 3, 3, 1, 1, 0, 0, 9, 9, 16, 16, 2, 4)
    _, with_values = dense.conv_tiles(x, w, geometry, tiling.as_tuple(), 5, tiling.n_tiles)
    _, counts_only = dense.conv_tiles(x, w, geometry, tiling.as_tuple(), 5, tiling.n_tiles,
                                      compute=False)
    np.testing.assert_array_equal(with_values, counts_only)


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_every_loop_order_gives_the_same_outputs_and_exact_traffic(dtype):
    """Orders 0/1/2 compute identical outputs; order 2 moves each weight once and spills
    (chunks - 1) partial sums per output each way (a layer with 2 kernel-row x 3 channel
    chunks: 48 channels in chunks of 16, 3 kernel rows in chunks of 2)."""
    c, m, h, w_in, k, word, psum = 48, 40, 9, 8, 3, 2, 4
    rng = np.random.default_rng(1)
    x = rng.integers(-300, 300, size=(h + 2, w_in + 2, c)).astype(dtype)   # padded by 1
    w = rng.integers(-300, 300, size=(m, c, k, k)).astype(dtype)
    geometry = (c, c, m, m, k, k, 1, 1, 1, 1, h, w_in, 16, 16, word, psum)
    outputs = {}
    for order in (0, 1, 2):
        tiling = (order, 3, 4, 2, 16, 1 if order == 2 else 0, 0)
        n_st, n_ob, n_red = 3 * 2, 3, 2 * 3
        acc, counts = dense.conv_tiles(x, w, geometry, tiling, 7, n_st * n_ob * n_red)
        outputs[order] = acc
        totals = counts.sum(axis=0)
        assert totals[dense.MACS] == m * h * w_in * c * k * k
        if order == 2:
            assert totals[dense.W_BYTES] == m * c * k * k * word
            assert totals[dense.OUT_BYTES] == h * w_in * m * (word + (n_red - 1) * psum)
            assert totals[dense.OUT_FILL] == (n_red - 1) * h * w_in * n_ob
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])
    x_chw = x.astype(np.float64).transpose(2, 0, 1)
    expected = reference.conv2d(x_chw, w.astype(np.float64), None, (1, 1), (0, 0, 0, 0), 1)
    np.testing.assert_array_equal(outputs[2].transpose(2, 0, 1), expected)


def test_buffer_too_small_is_a_mapping_error():
    network = _single(SHAPES[2])
    with pytest.raises(MappingError, match=r"buffers\.nbin\.size_kib|buffers\.sb\.size_kib"):
        simulate(arch(**{"buffers.nbin.size_kib": 0.0625}), network)


def test_same_seed_is_bit_identical_and_seed_matters(mixed):
    first = simulate(arch(), mixed, seed=5, keep_outputs=True)
    second = simulate(arch(), mixed, seed=5, keep_outputs=True)
    pd.testing.assert_frame_equal(first.layers, second.layers)
    pd.testing.assert_frame_equal(first.counts, second.counts)
    for name, value in first.outputs.items():
        np.testing.assert_array_equal(value.q, second.outputs[name].q)
    other = simulate(arch(), mixed, seed=6, keep_outputs=True)
    assert not np.array_equal(other.outputs["fc_out"].q, first.outputs["fc_out"].q)


def _independent_macs(layer):
    if layer.kind not in ("conv", "fc"):
        return 0
    return (layer.out_channels * layer.out_h * layer.out_w
            * (layer.in_channels // layer.groups) * layer.kernel_h * layer.kernel_w)


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["lenet5", "alexnet", "mobilenet_v1", "resnet18"])
def test_zoo_invariants(workload):
    result = simulate("diannao", workload)
    layers = result.layers.set_index("layer")
    from accelsim.workload import load_network
    for layer in load_network(workload):
        row = layers.loc[layer.name]
        assert row["macs"] == _independent_macs(layer)
        assert row.get("nfu_mac", 0) == _independent_macs(layer)
        assert 0 < row["utilization"] <= 1
        assert row["cycles"] >= row["ideal_cycles"]
        assert row["compute_cycles"] == closed_form_cycles(layer)
        assert row["cycles"] >= row["dram_bytes"] / 16
    assert result.summary["cycles"] == layers["cycles"].sum()


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["lenet5", "alexnet", "vgg16", "mobilenet_v1", "resnet18",
                                      "resnet50", "googlenet", "vgg19", "nin"])
def test_whole_zoo_network_bit_exact(workload):
    """Every layer of every shipped network, on its real chained activations, equals the
    independent integer reference exactly."""
    from accelsim.workload import load_network
    network = load_network(workload)
    tensors = make_tensors(network, 0)
    result = simulate(arch("fixed16"), network, tensors=tensors, keep_outputs=True)
    assert_bit_exact(network, tensors, result)
