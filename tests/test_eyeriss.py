"""Eyeriss: bit-exact row-stationary outputs, the chip's mappings, its JSSC AlexNet table, zero
gating and RLC.

Published figures come from Chen et al., JSSC 2017, per-layer AlexNet table at batch 4
(published-anchors.md section 5); activations get the table's own "zeros in ifmap" profile
(:func:`impose_input_zeros`), since DRAM bytes under RLC depend on them. The VGG-16 channel
limit (``max_channel_row_words``) is checked on the mapper alone (the full VGG comparison is
benchmarks/reproduce_eyeriss.py --vgg). The reference
outputs are tests/reference.py's, requantized over the whole batch (one frac per tensor).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from accelsim import simulate
from accelsim.arch import _row_stationary_mapping as rsmap
from accelsim.arch import eyeriss
from accelsim.cli import main
from accelsim.config import load_arch, with_overrides
from accelsim.errors import AccelsimError, ConfigError, MappingError
from accelsim.fixedpoint import Fixed
from accelsim.kernels import row_stationary as rs
from accelsim.sim.simulate import record_values
from accelsim.workload import load_network
from accelsim.workload.layer import Layer
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms.activations import impose_input_zeros
from tests import reference
from tests.thread_digests import run_digests

CONVS = ("conv1", "conv2", "conv3", "conv4", "conv5")
# JSSC 2017, AlexNet, 200 MHz, N = 4: latency (ms), active PEs, GLB and DRAM accesses (MB).
JSSC_LATENCY_MS = dict(zip(CONVS, (20.9, 41.9, 23.6, 18.4, 10.5), strict=True))
JSSC_ACTIVE_PES = dict(zip(CONVS, (154, 135, 156, 156, 156), strict=True))
JSSC_GLB_MB = dict(zip(CONVS, (18.5, 77.6, 50.2, 37.4, 24.9), strict=True))
JSSC_DRAM_MB = dict(zip(CONVS, (5.0, 4.0, 3.0, 2.1, 1.3), strict=True))
JSSC_INPUT_ZEROS = {"conv2": 0.387, "conv3": 0.725, "conv4": 0.793, "conv5": 0.776}
BATCH = 4


@pytest.fixture(scope="module")
def alexnet():
    """AlexNet CONV1-POOL5 at batch 4 on the shipped Eyeriss, with the JSSC zero profile."""
    network = _prefix(load_network("alexnet"), "pool5")
    tensors = impose_input_zeros(network, make_tensors(network, 0), JSSC_INPUT_ZEROS)
    result = simulate("eyeriss", network, tensors=tensors, batch=BATCH, keep_outputs=True)
    return network, tensors, result, result.layers.set_index("layer")


def _prefix(network, last: str):
    """The network's layers up to and including ``last``."""
    names = [layer.name for layer in network.layers]
    return dataclasses.replace(network, layers=network.layers[:names.index(last) + 1])


def reference_conv(layer: Layer, x: Fixed, weights, bias) -> tuple[np.ndarray, int]:
    """The reference conv of every image, requantized over the batch (one frac)."""
    qw, fw = reference.quantize(weights)
    acc = np.stack([reference.conv2d(image.astype(np.float64), qw.astype(np.float64), None,
                                     layer.stride, layer.pad, layer.groups)
                    for image in x.q]).astype(np.int64)
    frac = x.frac + fw
    acc += np.floor(np.ldexp(bias.astype(np.float64), frac) + 0.5).astype(np.int64)[:, None, None]
    return reference.requantize(acc, frac, layer.relu)


def test_alexnet_conv_outputs_equal_the_reference(alexnet):
    network, tensors, result, _ = alexnet
    for name in CONVS:
        layer = network.layer(name)
        x = result.outputs[layer.inputs[0]]
        assert x.q.shape[0] == BATCH
        q, frac = reference_conv(layer, x, tensors.weights[name], tensors.biases[name])
        np.testing.assert_array_equal(result.outputs[name].q, q, err_msg=name)
        assert result.outputs[name].frac == frac


@pytest.mark.parametrize("config", ["eyeriss", "eyeriss_normalized"])
def test_active_pes_are_the_chips(config):
    core = eyeriss.Core(load_arch(config))
    network = load_network("alexnet")
    for name in CONVS:
        assert core.tile(network.layer(name), BATCH).active_pes == JSSC_ACTIVE_PES[name], name


def test_active_pes_and_glb_accesses_match_the_jssc_table(alexnet):
    layers = alexnet[3]
    for name in CONVS:
        assert layers.loc[name, "active_pes"] == JSSC_ACTIVE_PES[name]
        glb_mb = 2 * (layers.loc[name, "glb_read"] + layers.loc[name, "glb_write"]) / 1e6
        assert glb_mb == pytest.approx(JSSC_GLB_MB[name], rel=0.05), name


def test_latency_within_20_percent_per_layer_and_15_percent_in_total(alexnet):
    layers = alexnet[3]
    ms = {name: layers.loc[name, "time_us"] / 1000 for name in CONVS}
    for name in CONVS:
        assert ms[name] == pytest.approx(JSSC_LATENCY_MS[name], rel=0.20), name
    total = sum(ms.values())
    assert total == pytest.approx(sum(JSSC_LATENCY_MS.values()), rel=0.15)
    assert BATCH / (total / 1000) == pytest.approx(35, rel=0.15)   # frames per second


def test_dram_with_rlc_within_25_percent_per_layer(alexnet):
    layers = alexnet[3]
    for name in CONVS:
        assert layers.loc[name, "dram_bytes"] / 1e6 == pytest.approx(JSSC_DRAM_MB[name],
                                                                     rel=0.25), name
        assert layers.loc[name, "rlc_ofmap"] == 1


def test_engine_events_stay_in_the_low_thousands(alexnet):
    assert alexnet[3]["engine_events"].max() < 5000


# ---- zero gating and RLC ------------------------------------------------------------------

def _conv_layer(name="c", channels=24, size=15, out_channels=32, **extra) -> Layer:
    return Layer(name, "conv", channels, size, size, out_channels, kernel_h=3, kernel_w=3,
                 pad=(1, 1, 1, 1), relu=True, inputs=("input",), **extra)


def _sparse_input(shape, zero_fraction: float, seed: int = 0) -> Fixed:
    rng = np.random.default_rng(seed)
    q = rng.integers(1, 2000, size=shape).astype(np.int16)
    q[rng.random(shape) < zero_fraction] = 0
    return Fixed(q, 12)


def _run(arch, layer, x, seed=0):
    rng = np.random.default_rng(seed)
    w = Fixed(rng.integers(-300, 300, size=layer.weight_shape).astype(np.int16), 14)
    return eyeriss.Core(arch).run_layer(layer, [x], w, np.zeros(layer.out_channels, np.float32))


def test_zero_gating_changes_energy_not_cycles():
    short = _prefix(load_network("alexnet"), "pool2")
    runs = {gate: simulate(with_overrides(load_arch("eyeriss"),
                                          {"core_params.zero_gating": gate}), short, batch=2)
            for gate in (True, False)}
    on, off = runs[True].layers, runs[False].layers
    np.testing.assert_array_equal(on["cycles"], off["cycles"])
    np.testing.assert_array_equal(on["dram_bytes"], off["dram_bytes"])
    convs = on["kind"] == "conv"
    np.testing.assert_array_equal(on.loc[convs, "pe_mac"] + on.loc[convs, "pe_mac_skipped"],
                                  off.loc[convs, "pe_mac"])
    assert (on.loc[convs, "energy_pj"] <= off.loc[convs, "energy_pj"]).all()
    conv2_on, conv2_off = on.set_index("layer").loc["conv2"], off.set_index("layer").loc["conv2"]
    assert conv2_on["pe_mac_skipped"] > 0.2 * conv2_off["pe_mac"]   # zeros and padding
    assert conv2_on["energy_pj"] < 0.95 * conv2_off["energy_pj"]
    assert conv2_on["filter_spad_read"] < conv2_off["filter_spad_read"]


def test_rlc_dram_bytes_fall_as_activation_sparsity_rises():
    layer = _conv_layer()
    arch = load_arch("eyeriss")
    raw = with_overrides(arch, {"core_params.rlc": False})
    fetched, fetched_raw = [], []
    for zeros in (0.3, 0.5, 0.7, 0.9, 0.99):
        x = _sparse_input((2, *layer.in_shape), zeros)
        fetched.append(_run(arch, layer, x).stats["dram_ifmap_bytes"])
        fetched_raw.append(_run(raw, layer, x).stats["dram_ifmap_bytes"])
    assert all(a > b for a, b in zip(fetched, fetched[1:], strict=False))
    assert len(set(fetched_raw)) == 1 and fetched[0] < fetched_raw[0]


def _encode_rlc(values: np.ndarray) -> list[int]:
    """An independent bit-level RLC encoder: 64-bit words of three (5-bit run, 16-bit level)
    pairs, the top bit marks the last word."""
    pairs, run = [], 0
    for value in values.tolist():
        if value == 0 and run < 31:
            run += 1
            continue
        pairs.append((run, value & 0xFFFF))   # a zero after 31 zeros is a (31, 0) level
        run = 0
    if run:
        pairs.append((run - 1, 0))
    words = []
    for start in range(0, len(pairs), 3):
        word = 0
        for slot, (run_length, level) in enumerate(pairs[start:start + 3]):
            word |= ((run_length << 16) | level) << (21 * slot)
        words.append(word)
    words[-1] |= 1 << 63
    return words


def _decode_rlc(words: list[int], count: int) -> np.ndarray:
    values = []
    for word in words:
        for slot in range(3):
            pair = (word >> (21 * slot)) & ((1 << 21) - 1)
            values += [0] * (pair >> 16) + [pair & 0xFFFF]
    return np.array(values[:count], dtype=np.uint16).view(np.int16)


@pytest.mark.parametrize("zeros", [0.0, 0.6, 0.97, 1.0])
def test_rlc_word_counts_match_a_bit_level_encoder(zeros):
    planes = _sparse_input((3, 4, 9, 23), zeros, seed=3).q
    planes[0, 0, :3] = 0                     # a run of 69 zeros crosses rows
    planes[1, 2] = -np.arange(207).reshape(9, 23) % 7
    pairs = rs.rlc_cumulative_pairs(planes)
    for index in np.ndindex(planes.shape[:2]):
        words = _encode_rlc(planes[index].ravel())
        np.testing.assert_array_equal(_decode_rlc(words, planes[index].size),
                                      planes[index].ravel())
        assert len(words) == -(-pairs[index][-1] // rs.rlc_pairs_per_word(16))


# ---- other layer kinds, batch, errors -----------------------------------------------------

@pytest.mark.parametrize("name", ["conv2_dw", "conv2_pw", "conv13_dw", "fc"])
def test_mobilenet_depthwise_and_pointwise_layers_equal_the_reference(name):
    layer = load_network("mobilenet_v1").layer(name)
    x = _sparse_input((2, *layer.in_shape), 0.5, seed=1)
    rng = np.random.default_rng(2)
    weights = rng.standard_normal(layer.weight_shape).astype(np.float32) * 0.1
    bias = rng.standard_normal(layer.out_channels).astype(np.float32) * 0.01
    qw, fw = reference.quantize(weights)
    run = eyeriss.Core(load_arch("eyeriss")).run_layer(layer, [x], Fixed(qw, fw), bias)
    q, frac = reference_conv(layer, x, weights, bias) if layer.kind == "conv" else \
        _reference_fc(layer, x, weights, bias)
    np.testing.assert_array_equal(run.output.q, q)
    assert run.output.frac == frac
    assert run.stats["active_pes"] > 0 and run.counts.get_count("pe", "mac") > 0


def _reference_fc(layer, x, weights, bias):
    qw, fw = reference.quantize(weights)
    acc = np.stack([reference.fc(image.astype(np.float64), qw.astype(np.float64))
                    for image in x.q]).astype(np.int64)
    acc += np.floor(np.ldexp(bias.astype(np.float64), x.frac + fw) + 0.5).astype(
        np.int64)[:, None, None]
    return reference.requantize(acc, x.frac + fw, layer.relu)


def test_batch_is_honoured_and_refused_by_cores_that_do_not_batch():
    layer = _conv_layer()
    arch = load_arch("eyeriss")
    one = _run(arch, layer, _sparse_input(layer.in_shape, 0.5))
    four = _run(arch, layer, _sparse_input((4, *layer.in_shape), 0.5))
    assert one.output.q.shape == layer.out_shape
    assert four.output.q.shape == (4, *layer.out_shape) and four.stats["batch"] == 4
    assert four.counts.get_count("pe", "mac") > 3 * one.counts.get_count("pe", "mac")
    with pytest.raises(AccelsimError, match="one image at a time"):
        simulate("diannao", "lenet5", batch=2)


def test_bad_core_params_and_a_tiny_glb_are_reported_by_key():
    arch = load_arch("eyeriss")
    with pytest.raises(ConfigError, match="core_params.*ifmap_spad_words"):
        with_overrides(arch, {"core_params.ifmap_spad_words": 0})
    with pytest.raises(ConfigError, match="core_params.mapper_objective"):
        with_overrides(arch, {"core_params.mapper_objective": "fastest"})
    tiny = with_overrides(arch, {"buffers.glb.size_kib": 0.5})
    with pytest.raises(MappingError, match="buffers.glb.size_kib"):
        eyeriss.Core(tiny).tile(load_network("alexnet").layer("conv1"), 1)


@pytest.mark.slow
def test_vgg16_conv_layers_equal_the_reference():
    network = _prefix(load_network("vgg16"), "pool5")
    tensors = make_tensors(network, 0)
    result = simulate("eyeriss", network, tensors=tensors, keep_outputs=True)
    for layer in network.layers:
        if layer.kind == "conv":
            x = result.outputs[layer.inputs[0]]
            batched = Fixed(x.q[None], x.frac)
            q, frac = reference_conv(layer, batched, tensors.weights[layer.name],
                                     tensors.biases[layer.name])
            np.testing.assert_array_equal(result.outputs[layer.name].q, q[0], err_msg=layer.name)
            assert result.outputs[layer.name].frac == frac


def test_normalized_config_prices_the_papers_costs():
    layers = simulate("eyeriss_normalized", "lenet5", batch=2).layers
    np.testing.assert_allclose(layers["energy_dram_pj"], 200 * layers["dram_bytes"] / 2)
    glb = layers["glb_read"] + layers["glb_write"] + layers["glb_fill"]
    np.testing.assert_allclose(layers["energy_glb_pj"], 6 * glb)
    np.testing.assert_allclose(layers["energy_pe_pj"], layers["pe_mac"] + layers["pe_op"])
    np.testing.assert_allclose(layers["energy_local_pj"], 2 * layers["local_hop"])


def test_cli_runs_a_batch_and_refuses_it_for_cores_that_do_not_batch(capsys):
    assert main(["run", "--arch", "eyeriss", "--workload", "lenet5", "--batch", "2",
                 "--quiet"]) == 0
    assert "lenet5 on eyeriss" in capsys.readouterr().out
    assert main(["run", "--arch", "diannao", "--workload", "lenet5", "--batch", "2"]) == 2
    assert "one image at a time" in capsys.readouterr().err


def test_channel_row_limit_sets_the_vgg_channel_passes_and_psum_traffic():
    """VGG-16 at N = 3: the chip's GLB accesses are about 2 C / (q r) psum words per output
    with q r = 1 / 1 / 2 / 4 for CONV1-4 (JSSC table); ``max_channel_row_words`` = 128 over
    the padded width gives exactly those, leaves AlexNet's q r (1 / 2 / 6) alone, and the
    mapper without the limit reduces more channels a pass (the old 3-4x lower GLB)."""
    arch = load_arch("eyeriss")
    assert arch.core_params.max_channel_row_words == 128
    vgg = load_network("vgg16")
    core = eyeriss.Core(arch)
    for name, qr in (("conv1_2", 1), ("conv2_2", 1), ("conv3_2", 2), ("conv4_2", 4)):
        mapping = core.tile(vgg.layer(name), 3)
        assert mapping.q * mapping.r == qr, (name, mapping.describe())
    alexnet = load_network("alexnet")
    assert [core.tile(alexnet.layer(name), BATCH).q * core.tile(alexnet.layer(name), BATCH).r
            for name in CONVS] == [1, 2, 6, 6, 6]
    free = eyeriss.Core(with_overrides(arch, {"core_params.max_channel_row_words": 0}))
    assert free.tile(vgg.layer("conv1_2"), 3).q * free.tile(vgg.layer("conv1_2"), 3).r > 1
    with pytest.raises(ConfigError, match="max_channel_row_words must be"):
        with_overrides(arch, {"core_params.max_channel_row_words": -1})


def test_a_block_waits_for_the_previous_blocks_ofmap_to_drain():
    """The GLB holds one block of psums: the first pass of a block starts after the previous
    block's read-out bytes have crossed the 3.6 B/cycle link; other passes do not wait."""
    core = eyeriss.Core(load_arch("eyeriss"))
    out_bytes = np.array([0, 36, 0, 0, 7, 0])
    assert core._drain_waits(out_bytes).tolist() == [0, 0, 10, 0, 0, 2]
    unlimited = eyeriss.Core(with_overrides(load_arch("eyeriss"),
                                            {"dram.bytes_per_cycle": None}))
    assert not unlimited._drain_waits(out_bytes).any()


def test_a_short_last_strip_is_counted_with_its_real_rows():
    """E = 15 output rows in strips of e = 4 (4, 4, 4 and a short 3): the mapper's cycles
    equal a hand count and the kernel's passes, where counting the last strip as full
    (the old closed form) gives 6,752. Set 3 x 4, t = 4 sets of p = 1 filter, q r = 1
    channel, 2 channels, 16 filters: 2 x 4 = 8 passes a strip; 3 x 3 taps, F = 15, 17 padded
    ifmap columns, unlimited DRAM link (latency 100 cycles)."""
    arch = with_overrides(load_arch("eyeriss"), {"dram.bytes_per_cycle": None})
    core = eyeriss.Core(arch)
    layer = _conv_layer(channels=2, size=15, out_channels=16)
    shape = rsmap.ConvShape.of(layer, 1)
    candidate = dict(e=4, strips=1, r=1, t=4, g=1, p=1, q=1, n=1, m=16)
    fill = 4 * 9 * 16 // 64 + 100            # 36 filter words on the 64-bit filter GIN
    array = 15 * (1 * 1 * 3 + 1)             # 60: F x (p q S MACs + p psum adds)
    psum_bus = 4 * 4 * 15 * 16 // 64         # 60: p t e F psums on the 64-bit GON / GIN
    full = max(array, psum_bus, 1 * 6 * 17)  # 102: 6 ifmap rows x 17 words, 16-bit GIN
    short = max(array, 4 * 3 * 15 * 16 // 64, 1 * 5 * 17)   # 85: 5 ifmap rows
    hand = 3 * 8 * (full + fill) + 8 * (short + fill)
    _, cycles, _ = rsmap._estimate(shape, core.hardware, core.prices, **candidate)
    assert cycles == hand == 6616
    mapping = rsmap.RsMapping(shape, rc=3, sc=3, estimated_energy=0.0, estimated_cycles=cycles,
                              **candidate)
    table = mapping.pass_table()
    assert sorted(set((table[:, rs.T_Y1] - table[:, rs.T_Y0]).tolist())) == [3, 4]
    x = _sparse_input((1, *layer.in_shape), 0.5).q
    w = np.ones(layer.weight_shape, dtype=np.int16)
    _, counts = rs.conv_passes(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), w, table,
                               (1, 1, 15, 1, 1), groups=1, zero_gating=True)
    assert core._pass_cycles(counts).sum() == hand


def test_strip_widths_include_the_widest_of_each_strip_count():
    """E = 56 (VGG-16 CONV3): the chip's e = 13 (strips 13 x 4 + 4, JSSC Table VI's 156 PEs)
    is tried beside the balanced 12 (5 strips) and 14 (4 strips); a width between the
    narrowest and the widest of a strip count (15-17 for 4 strips) is not."""
    widths = rsmap._widths(56, 56)
    assert {12, 13, 14, 18, 56} <= set(widths) and not {15, 16, 17} & set(widths)
    assert rsmap._widths(56, 13)[-1] == 13 and rsmap._widths(1, 14) == [1]


# ---- the kernel's pass order (issue 22) ---------------------------------------------------

# (name, layer fields): fc-like (one output position, 600 filters: a block of many filter
# groups), strided with asymmetric padding and odd sizes, grouped, depthwise with fewer
# output positions than the exact GEMM's row minimum, and a VGG-like 3 x 3 stride-1 layer
# (the shapes dense_gemm.conv_sums may serve by a path of its own).
PASS_SHAPES = [
    ("fc_like", dict(in_channels=64, in_h=5, in_w=5, out_channels=600, kernel_h=5, kernel_w=5,
                     pad=(0, 0, 0, 0))),
    ("strided", dict(in_channels=7, in_h=13, in_w=11, out_channels=40, kernel_h=3, kernel_w=5,
                     stride=(2, 2), pad=(1, 2, 0, 1))),
    ("grouped", dict(in_channels=24, in_h=9, in_w=7, out_channels=36, kernel_h=3, kernel_w=3,
                     groups=4, pad=(1, 1, 1, 1))),
    ("depthwise_few", dict(in_channels=8, in_h=6, in_w=5, out_channels=8, kernel_h=3,
                           kernel_w=3, groups=8, stride=(2, 2), pad=(1, 1, 1, 1))),
    ("dense_3x3", dict(in_channels=16, in_h=7, in_w=6, out_channels=20, kernel_h=3,
                       kernel_w=3, pad=(1, 1, 1, 1))),
]


@pytest.mark.parametrize("density", [0.0, 0.15, 0.5, 1.0])
@pytest.mark.parametrize("name,fields", PASS_SHAPES, ids=[s[0] for s in PASS_SHAPES])
def test_passes_run_by_filter_group_equal_one_pass_at_a_time_and_numpy(name, fields, density):
    """The kernel runs a block's filter groups apart (in parallel); each psum still adds its
    terms in table order, so the sums and every pass's counts equal running the table one
    pass at a time, and the sums equal numpy's convolution. Counting alone gives the same
    counts, with and without zero gating, and the exact GEMM (fixed16 runs) the same sums."""
    layer = Layer(name, "conv", relu=False, inputs=("input",), **fields)
    mapping = eyeriss.Core(load_arch("eyeriss")).tile(layer, 2)
    table = mapping.pass_table()
    order, unit_starts = rs._pass_units(table)
    assert sorted(order.tolist()) == list(range(len(table)))
    if name == "fc_like":
        assert len(unit_starts) - 1 > len(set(table[:, rs.T_BLOCK].tolist()))
    rng = np.random.default_rng(5)
    x = _sparse_input((2, *layer.in_shape), 1 - density, seed=4).q
    top, left, bottom, right = layer.pad
    x_pad = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    w = rng.integers(-300, 300, size=layer.weight_shape).astype(np.int16)
    geometry = (*layer.stride, layer.out_w, mapping.p, mapping.q)
    acc, counts = rs.conv_passes(x_pad, w, table, geometry, groups=layer.groups,
                                 zero_gating=True)
    one_acc = np.zeros_like(acc)
    one_counts = np.zeros_like(counts)
    for index in range(len(table)):
        part, one_counts[index] = rs.conv_passes(x_pad, w, table[index:index + 1], geometry,
                                                 groups=layer.groups, zero_gating=True)
        one_acc += part
    np.testing.assert_array_equal(acc, one_acc)
    np.testing.assert_array_equal(counts, one_counts)
    for gate in (True, False):     # the count-only walk (reuse runs) gives the same counts
        _, with_values = rs.conv_passes(x_pad, w, table, geometry, groups=layer.groups,
                                        zero_gating=gate)
        np.testing.assert_array_equal(
            rs.count_passes(x_pad, table, geometry, groups=layer.groups, zero_gating=gate),
            with_values)
    expected = np.stack([reference.conv2d(image, w, None, layer.stride, layer.pad,
                                          layer.groups) for image in x])
    np.testing.assert_array_equal(acc.transpose(0, 3, 1, 2), expected)
    np.testing.assert_array_equal(rs.exact_sums(x_pad, w, layer.stride), acc)
    assert counts[:, rs.MAC].sum() + counts[:, rs.MAC_SKIPPED].sum() == 2 * layer.macs


def test_thread_count_does_not_change_eyeriss_results():
    setup = ("from accelsim.workload import load_network\n"
             "from accelsim.workload.tensors import make_tensors\n"
             "network = load_network('lenet5')\ntensors = make_tensors(network, 1)\n")
    one, two = (run_digests(("eyeriss",), setup, threads) for threads in (1, 2))
    assert len(one) == 1 and one == two


def test_a_pe_may_fill_its_ifmap_spad_with_q_windows():
    """q S <= ifmap spad (JSSC Table III: AlexNet CONV3 at q = 4, S = 3 fills the 12 words):
    VGG-16 CONV5 then reduces q r = 8 channels a pass (the chip's GLB count: 90 MB), while
    AlexNet keeps q = 1 / 2 / 3 / 3 / 3; a 2-word spad allows no 3-tap channel pair."""
    core = eyeriss.Core(load_arch("eyeriss"))
    conv5 = core.tile(load_network("vgg16").layer("conv5_2"), 3)
    assert (conv5.q, conv5.q * conv5.r, conv5.active_pes) == (4, 8, 168)
    alexnet = load_network("alexnet")
    assert [core.tile(alexnet.layer(name), BATCH).q for name in CONVS] == [1, 2, 3, 3, 3]
    small = eyeriss.Core(with_overrides(load_arch("eyeriss"),
                                        {"core_params.ifmap_spad_words": 5}))
    assert small.tile(load_network("vgg16").layer("conv5_2"), 3).q == 1


def test_filter_fill_cycles_of_an_int_equal_the_array_form():
    """The mapper prices candidates with plain-int fills; the engine with the array form."""
    for overrides in ({}, {"dram.bytes_per_cycle": None}, {"dram.bytes_per_cycle": 0.7}):
        hw = eyeriss.Core(with_overrides(load_arch("eyeriss"), overrides)).hardware
        words = [0, 1, 3, 4, 5, 63, 64, 65, 999, 12_345, 2 ** 40 + 7]
        assert [hw.fill_cycles(n) for n in words] == hw.fill_cycles(np.array(words)).tolist()


@pytest.mark.parametrize("network,batch", [("lenet5", 2), ("mobilenet_v1", 1)])
def test_a_reuse_run_counts_the_tables_of_a_full_run(network, batch):
    """simulate(reuse=...) runs count_layer (no conv arithmetic): every table column equals
    the full run's (conv, depthwise, pointwise, fc, pooling)."""
    net = load_network(network)
    if network == "mobilenet_v1":
        net = _prefix(net, "conv3_pw")
    full, values = record_values("eyeriss", net, seed=3, batch=batch)
    counted = simulate("eyeriss", net, reuse=values, batch=batch)
    pd.testing.assert_frame_equal(counted.layers, full.layers)
