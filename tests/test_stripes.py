"""Stripes: bit-serial activations at each layer's precision on DaDianNao's tiles.

Cycle expectations come from the hardware rule (a brick of 16 activations for a group of 16
windows takes p cycles; fc one brick a cycle, as DaDianNao), worked out here by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate
from accelsim.arch import diannao, stripes
from accelsim.config import load_arch, with_overrides
from accelsim.errors import ConfigError, MappingError
from accelsim.fixedpoint import Fixed, quantize
from accelsim.workload import Layer, load_network
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.precision import LayerPrecision, quantize_activations
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms import apply_transform, parse_transform
from tests import reference
from tests.thread_digests import run_digests

SMALL = network_from_dict({
    "name": "small", "input": [3, 16, 16],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 24, "kernel": 3, "pad": 1, "relu": True},
        {"name": "c2", "kind": "conv", "out_channels": 40, "kernel": 3, "pad": 1,
         "relu": True},
        {"name": "g3", "kind": "conv", "out_channels": 32, "kernel": 3, "groups": 2,
         "stride": 2, "relu": True},
        {"name": "mp", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
        {"name": "fc", "kind": "fc", "out_channels": 10},
    ]}, "small")
BITS = "precision:activations={c1: 9, c2: 5, g3: 3, fc: 6}"


@pytest.fixture(scope="module")
def runs():
    tensors = apply_transform(SMALL, make_tensors(SMALL, 4), parse_transform(BITS))
    return tensors, {name: simulate(name, SMALL, tensors=tensors, keep_outputs=True)
                     for name in ("dadiannao", "stripes")}


def _core(**overrides) -> stripes.Core:
    arch = load_arch("stripes")
    if overrides:
        arch = with_overrides(arch, {f"core_params.{k}": v for k, v in overrides.items()})
    return stripes.Core(arch)


def _conv(c: int, m: int, k: int, h: int, w: int, **kw) -> Layer:
    return Layer(name="conv", kind="conv", in_channels=c, in_h=h, in_w=w, out_channels=m,
                 kernel_h=k, kernel_w=k, inputs=("prev",), **kw)


def _operands(layer: Layer, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = quantize(np.maximum(rng.standard_normal((layer.in_channels, layer.in_h, layer.in_w)),
                            0).astype(np.float32))
    w = quantize(rng.standard_normal(layer.weight_shape).astype(np.float32))
    return x, w, np.zeros(layer.out_channels, dtype=np.float32)


def _cycles(core, layer, bits: int | None) -> int:
    core.layer_precision = {layer.name: LayerPrecision(activations=bits)} if bits else {}
    x, w, b = _operands(layer)
    run = core.run_layer(layer, [quantize_activations(x, bits)], w, b)
    return int(run.work.compute_cycles.sum())


def test_outputs_are_dadiannaos_on_the_same_rounded_activations(runs):
    _, result = runs
    for name in ("c1", "c2", "g3", "mp", "fc"):
        a, b = result["dadiannao"].outputs[name], result["stripes"].outputs[name]
        assert a.frac == b.frac, name
        np.testing.assert_array_equal(a.q, b.q, err_msg=name)


def test_a_bit_serial_sum_is_numpys_conv_at_the_profile_precision(runs):
    """Bit-plane by bit-plane (what the SIPs add, shifted) equals numpy's conv of the
    p-bit activations, and equals the simulated layer's output."""
    tensors, result = runs
    layer = SMALL.layer("c2")
    x = quantize_activations(result["stripes"].outputs["c1"], 5)
    w = quantize(tensors.weights["c2"])
    planes = sum((((x.q.astype(np.int64) >> bit) & 1) << bit) for bit in range(15))
    np.testing.assert_array_equal(planes, x.q)
    bit_serial = sum(
        reference.conv2d(((x.q.astype(np.int64) >> bit) & 1).astype(np.float64),
                         w.q.astype(np.float64), None, layer.stride, layer.pad) * 2.0 ** bit
        for bit in range(15))
    whole = reference.conv2d(x.q.astype(np.float64), w.q.astype(np.float64), None,
                             layer.stride, layer.pad)
    np.testing.assert_array_equal(bit_serial, whole)
    q, frac = reference.conv2d_fixed(x.q, x.frac, w.q, w.frac, tensors.biases["c2"],
                                     layer.stride, layer.pad, relu=True)
    out = result["stripes"].outputs["c2"]
    assert frac == out.frac
    np.testing.assert_array_equal(q, out.q)


@pytest.mark.parametrize("bits", [2, 5, 8, 13])
def test_conv_cycles_are_p_sixteenths_of_dadiannaos(bits):
    """8 x 8 outputs (4 groups of 16 windows), 32 channels (2 bricks), 3 x 3 kernel, 16
    filters, one tile: DaDianNao takes 64 x 9 x 2 = 1152 cycles; Stripes 4 groups x 9 x 2
    bricks x p = 72 p (plus the same 2-cycle pipeline drain)."""
    layer = _conv(32, 16, 3, 8, 8, pad=(1, 1, 1, 1))
    dadn = diannao.Core(load_arch("dadiannao"))
    x, w, b = _operands(layer)
    assert int(dadn.run_layer(layer, [x], w, b).work.compute_cycles.sum()) == 1152 + 2
    assert _cycles(_core(), layer, bits) == 72 * bits + 2
    assert _cycles(_core(), layer, None) == 72 * 16 + 2   # no profile: 16 bits


def test_a_window_group_with_few_positions_leaves_sips_idle():
    """5 x 5 outputs = 25 positions: two groups (16 + 9), 1 kernel position, 1 brick."""
    layer = _conv(16, 16, 1, 5, 5)
    assert _cycles(_core(), layer, 4) == 2 * 4 + 2
    assert _cycles(_core(windows=32), layer, 4) == 1 * 4 + 2


def test_fc_runs_at_dadiannaos_pace_whatever_the_bits():
    layer = Layer(name="fc", kind="fc", in_channels=64, in_h=2, in_w=2, out_channels=32,
                  kernel_h=2, kernel_w=2, inputs=("prev",))
    dadn = diannao.Core(load_arch("dadiannao"))
    x, w, b = _operands(layer)
    expected = int(dadn.run_layer(layer, [x], w, b).work.compute_cycles.sum())
    assert expected == 2 * 2 * 4 + 2
    for bits in (3, 16):
        assert _cycles(_core(), layer, bits) == expected


def test_counts_bit_steps_and_one_sb_read_per_brick_step(runs):
    tensors, result = runs
    rows = result["stripes"].layers.set_index("layer")
    dadn = result["dadiannao"].layers.set_index("layer")
    for name, bits in (("c1", 9), ("c2", 5), ("g3", 3), ("fc", 6)):
        macs = rows.loc[name, "macs"]
        assert rows.loc[name, "sip_mac"] == macs
        assert rows.loc[name, "sip_op"] == macs * bits
        assert rows.loc[name, "nbin_read"] == dadn.loc[name, "nbin_read"]
    assert rows.loc["c2", "activation_bits"] == 5
    assert rows.loc["c2", "sb_read"] < dadn.loc["c2", "sb_read"]
    assert (rows["cycles"] >= rows["ideal_cycles"]).all()
    conv = ["c1", "c2", "g3"]
    assert rows.loc[conv, "cycles"].sum() < dadn.loc[conv, "cycles"].sum()


def test_winograd_and_minervas_switches_are_refused():
    for key, value in (("conv_algorithm", "winograd_f2"), ("predication", True)):
        for name in ("stripes", "pragmatic"):
            with pytest.raises(ConfigError, match=key):
                with_overrides(load_arch(name), {f"core_params.{key}": value})


def test_stripes_is_a_fixed_point_design():
    arch = with_overrides(load_arch("stripes"), {"precision": "fp32"})
    layer = _conv(16, 16, 1, 4, 4)
    core = stripes.Core(arch)
    x = np.ones((16, 4, 4), dtype=np.float32)
    with pytest.raises(MappingError, match="fixed16"):
        core.run_layer(layer, [x], np.ones(layer.weight_shape, np.float32),
                       np.zeros(16, np.float32))


def test_alexnet_profile_speeds_up_conv_layers_about_as_the_bits_say():
    """Stripes' conv cycles with the AlexNet profile against 16 bits: each layer's ratio is
    its p / 16 up to the idle windows of its last group (all of AlexNet's output sizes
    leave a partial group)."""
    network = load_network("alexnet")
    layer = network.layer("conv3")   # 13 x 13 = 169 positions: 11 groups, 7 idle windows
    for bits in (5, 16):
        core = _core()
        core.layer_precision = {"conv3": LayerPrecision(activations=bits)}
        tiling = core.tile(layer)
        assert tiling.th * tiling.tw >= 169
    full, five = (_cycles(_core(), layer, b) for b in (16, 5))
    assert (full - 2) * 5 == (five - 2) * 16


def test_thread_count_changes_no_number():
    setup = ("from accelsim.workload import load_network, make_tensors\n"
             "from accelsim.workload.transforms import apply_transform, parse_transform\n"
             "network = load_network('lenet5')\n"
             "tensors = apply_transform(network, make_tensors(network, 1), parse_transform("
             "'precision:activations=7'))\n")
    configs = ("stripes", "pragmatic")
    assert run_digests(configs, setup, 1) == run_digests(configs, setup, 2)


def test_fixed_input_to_one_layer_core_keeps_its_frac():
    x = Fixed(np.full((16, 4, 4), 1000, dtype=np.int16), 12)
    layer = _conv(16, 16, 1, 4, 4)
    core = _core()
    core.layer_precision = {}
    run = core.run_layer(layer, [x], quantize(np.ones(layer.weight_shape, np.float32)),
                         np.zeros(16, np.float32))
    assert run.output.q.shape == (16, 4, 4)
