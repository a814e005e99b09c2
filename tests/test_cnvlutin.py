"""DaDianNao (the multi-tile DianNao core) and Cnvlutin (zero-skipping subunits).

Cycle expectations are derived here from the hardware rules (one brick a cycle on
DaDianNao; per brick group, the fullest brick on Cnvlutin), never read from the code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from accelsim import simulate
from accelsim.arch import cnvlutin, diannao
from accelsim.config import load_arch, with_overrides
from accelsim.errors import ConfigError
from accelsim.fixedpoint import Fixed
from accelsim.workload import Layer
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from tests import reference

STAGES = 3   # pipeline drain, once per layer

SPARSE_NET = network_from_dict({
    "name": "sparse", "input": [3, 14, 13],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 40, "kernel": 3, "pad": 1, "relu": True},
        {"name": "c2", "kind": "conv", "out_channels": 300, "kernel": 3, "pad": 1,
         "relu": True},
        {"name": "g3", "kind": "conv", "out_channels": 60, "kernel": 3, "groups": 2,
         "stride": 2, "relu": True},
        {"name": "dw", "kind": "conv", "groups": "depthwise", "kernel": 3, "pad": 1,
         "relu": True},
        {"name": "mp", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
        {"name": "fc", "kind": "fc", "out_channels": 10},
    ]}, "sparse")


@pytest.fixture(scope="module")
def pair():
    tensors = make_tensors(SPARSE_NET, 3)
    runs = {name: simulate(name, SPARSE_NET, tensors=tensors, keep_outputs=True)
            for name in ("dadiannao", "cnvlutin")}
    return tensors, runs


def _one_layer_core(arch_name: str, **overrides):
    arch = load_arch(arch_name)
    if overrides:
        arch = with_overrides(arch, {f"core_params.{k}": v for k, v in overrides.items()})
    return (cnvlutin if arch.core == "cnvlutin" else diannao).Core(arch)


def _fed_conv(c: int, m: int, k: int, h: int, w: int, **kw) -> Layer:
    """A conv fed by another layer (not the image), so Cnvlutin runs it zero-skipping."""
    return Layer(name="conv", kind="conv", in_channels=c, in_h=h, in_w=w, out_channels=m,
                 kernel_h=k, kernel_w=k, inputs=("prev",), **kw)


def _run(core, layer, q_in, seed=0):
    rng = np.random.default_rng(seed)
    weights = Fixed(rng.integers(-300, 300, layer.weight_shape).astype(np.int16), 12)
    bias = np.zeros(layer.out_channels, dtype=np.float32)
    return core.run_layer(layer, [Fixed(q_in.astype(np.int16), 8)], weights, bias)


# ---- functional equivalence ---------------------------------------------------------------

def test_cnvlutin_outputs_equal_dadiannao_and_reference(pair):
    tensors, runs = pair
    dadn, cnv = runs["dadiannao"], runs["cnvlutin"]
    for layer in SPARSE_NET:
        a, b = dadn.outputs[layer.name], cnv.outputs[layer.name]
        np.testing.assert_array_equal(a.q, b.q, err_msg=layer.name)
        q, frac = reference.run_layer(layer, [(cnv.outputs[n].q, cnv.outputs[n].frac)
                                              for n in layer.inputs],
                                      tensors.weights.get(layer.name),
                                      tensors.biases.get(layer.name), "fixed16")
        np.testing.assert_array_equal(b.q, q, err_msg=layer.name)
        assert b.frac == frac


def test_fp32_cnvlutin_is_bit_identical_to_dadiannao():
    tensors = make_tensors(SPARSE_NET, 5)
    runs = [simulate(with_overrides(load_arch(name), {"precision": "fp32"}), SPARSE_NET,
                     tensors=tensors, keep_outputs=True) for name in ("dadiannao", "cnvlutin")]
    for layer in SPARSE_NET:
        np.testing.assert_array_equal(runs[0].outputs[layer.name], runs[1].outputs[layer.name])


def test_threshold_equals_reference_on_thresholded_inputs():
    t = 0.05
    arch = with_overrides(load_arch("cnvlutin"), {"core_params.ineffectual_threshold": t})
    tensors = make_tensors(SPARSE_NET, 3)
    run = simulate(arch, SPARSE_NET, tensors=tensors, keep_outputs=True)
    changed = 0
    for layer in SPARSE_NET:
        inputs = [(run.outputs[n].q, run.outputs[n].frac) for n in layer.inputs]
        if layer.kind == "conv" and "input" not in layer.inputs:
            q, frac = inputs[0]
            small = np.abs(q / 2.0 ** frac) <= t          # |a| <= t in the real values
            changed += int(np.count_nonzero(small & (q != 0)))
            inputs = [(np.where(small, 0, q).astype(np.int16), frac)]
        q, frac = reference.run_layer(layer, inputs, tensors.weights.get(layer.name),
                                      tensors.biases.get(layer.name), "fixed16")
        np.testing.assert_array_equal(run.outputs[layer.name].q, q, err_msg=layer.name)
    assert changed > 0, "the threshold must have removed some non-zero neurons"


# ---- cycles -------------------------------------------------------------------------------

def test_dadiannao_cycles_are_one_brick_a_cycle(pair):
    _, runs = pair
    layers = runs["dadiannao"].layers.set_index("layer")
    for layer in SPARSE_NET:
        if not layer.has_weights:
            continue
        cg, mg = layer.in_channels_per_group, layer.out_channels_per_group
        cycles = 0
        for m0 in range(0, layer.out_channels, 256):         # 16 tiles x 16 filters
            m1 = min(m0 + 256, layer.out_channels)
            union = ((m1 - 1) // mg - m0 // mg + 1) * cg
            # one 16-neuron row a cycle; a layer thinner than 16 channels packs its window
            # rows (S x C consecutive neurons), others read one pixel's 16 channels
            per_row = math.ceil(layer.kernel_w * union / 16) if union < 16 \
                else layer.kernel_w * math.ceil(union / 16)
            cycles += layer.out_h * layer.out_w * layer.kernel_h * per_row
        assert layers.loc[layer.name, "compute_cycles"] == cycles + STAGES - 1, layer.name


def test_cnvlutin_never_slower_on_real_sparse_layers(pair):
    _, runs = pair
    dadn = runs["dadiannao"].layers.set_index("layer")
    cnv = runs["cnvlutin"].layers.set_index("layer")
    assert (cnv["cycles"] <= dadn["cycles"]).all()
    skipped = cnv.loc[["c2", "g3", "dw"]]
    assert (skipped["cycles"] < dadn.loc[skipped.index, "cycles"]).all()
    # Baseline-mode layers (the first conv and fc) take exactly DaDianNao's cycles.
    assert (cnv.loc[["c1", "fc"], "cycles"] == dadn.loc[["c1", "fc"], "cycles"]).all()


def test_no_zero_activations_gives_dadiannao_cycles():
    layer = _fed_conv(256, 64, 3, 6, 5, pad=(1, 1, 1, 1))   # 9 x 16 bricks per window
    q = np.random.default_rng(1).integers(1, 100, layer.in_shape)
    dadn = _run(_one_layer_core("dadiannao"), layer, q)
    cnv = _run(_one_layer_core("cnvlutin"), layer, q)
    np.testing.assert_array_equal(dadn.output.q, cnv.output.q)
    # Padding bricks are all zero, so only interior windows can tie: pad 0 for the tie.
    layer = _fed_conv(256, 64, 3, 6, 5)
    dadn = _run(_one_layer_core("dadiannao"), layer, q)
    cnv = _run(_one_layer_core("cnvlutin"), layer, q)
    expected = layer.out_h * layer.out_w * 9 * 16 + STAGES - 1
    assert dadn.work.compute_cycles.sum() == cnv.work.compute_cycles.sum() == expected


def test_lane_imbalance_costs_exact_cycles():
    """16 non-zero neurons per position: all in one subunit's brick take 16 cycles, one per
    subunit's brick takes 1."""
    layer = _fed_conv(256, 32, 1, 4, 3)     # 1x1 kernel: 16 bricks = one group a position
    core = _one_layer_core("cnvlutin")
    one_lane = np.zeros(layer.in_shape, dtype=np.int64)
    one_lane[0:16] = 7                       # brick 0 -> subunit 0
    spread = np.zeros(layer.in_shape, dtype=np.int64)
    spread[0::16] = 7                        # channel 0 of every brick -> every subunit
    positions = layer.out_h * layer.out_w
    imbalanced = _run(core, layer, one_lane)
    balanced = _run(core, layer, spread)
    assert imbalanced.work.compute_cycles.sum() == positions * 16 + STAGES - 1
    assert balanced.work.compute_cycles.sum() == positions * 1 + STAGES - 1
    assert imbalanced.stats["subunit_00_busy_cycles"] == positions * 16
    assert imbalanced.stats["subunit_01_busy_cycles"] == 0
    assert imbalanced.stats["subunit_idle_cycles"] == positions * 16 * 15
    assert balanced.stats["subunit_idle_cycles"] == 0
    for lane in range(16):
        assert balanced.stats[f"subunit_{lane:02d}_busy_cycles"] == positions
    for run in (imbalanced, balanced):
        # 16 effectual neurons a position, each read by all 32 filters: 2 SB tiles of 16,
        # so 2 subunit-slice reads; DaDianNao reads 16 slices a brick, 16 bricks a position.
        assert run.counts.get_count("nfu", "mac") == positions * 16 * 32
        assert run.counts.get_count("nfu", "mac_skipped") == layer.macs - positions * 16 * 32
        assert run.counts.get_count("sb", "read") == positions * 16 * 2
        assert run.stats["sb_slice_reads_saved"] == positions * (16 * 16 - 16) * 2


def test_dense_windows_of_few_bricks_with_and_without_spanning_groups():
    """A 1x1 layer over 96 dense channels: 6 bricks a window. Groups spanning windows take
    DaDianNao's one brick a cycle; groups restarting at each window are partial (6 bricks)
    and run in baseline mode, one brick a cycle: the same cycles."""
    layer = _fed_conv(96, 32, 1, 4, 4)          # 16 positions x 6 bricks = 6 full groups
    q = np.random.default_rng(2).integers(1, 100, layer.in_shape)
    dadn = _run(_one_layer_core("dadiannao"), layer, q)
    spanning = _run(_one_layer_core("cnvlutin"), layer, q)
    per_window = _run(_one_layer_core("cnvlutin", groups_span_windows=False), layer, q)
    positions = 16
    assert dadn.work.compute_cycles.sum() == positions * 6 + STAGES - 1
    assert spanning.work.compute_cycles.sum() == positions * 6 + STAGES - 1
    assert per_window.work.compute_cycles.sum() == positions * 6 + STAGES - 1
    np.testing.assert_array_equal(spanning.output.q, per_window.output.q)


def test_partial_brick_group_lasts_its_fullest_brick_or_its_brick_count():
    """75 bricks per window (AlexNet conv2's shape) = 4 full groups + one of 11, groups
    restarting at each window. Dense: the partial group runs in baseline mode, 11 cycles
    (DaDianNao's 75 in all). With at most 3 effectual neurons a brick: 5 groups x 3."""
    layer = _fed_conv(48, 32, 5, 5, 5)
    q = np.random.default_rng(2).integers(1, 100, layer.in_shape)
    cnv = _run(_one_layer_core("cnvlutin", groups_span_windows=False), layer, q)
    assert cnv.work.compute_cycles.sum() == 4 * 16 + 11 + STAGES - 1
    sparse = q.copy()
    sparse[3:] = 0                                   # 3 of every 16 channels non-zero
    cnv = _run(_one_layer_core("cnvlutin", groups_span_windows=False), layer, sparse)
    assert cnv.work.compute_cycles.sum() == 5 * 3 + STAGES - 1


def test_dense_tile_ending_in_a_partial_group_takes_dadiannaos_cycles():
    """A tile whose brick count is not a multiple of 16 ends in a partial group; dense, it
    runs in baseline mode: 3 x 3 positions x 6 bricks = 54 = 3 groups + 6 bricks: 54
    cycles, as on DaDianNao (the full-group cost would be 64)."""
    layer = _fed_conv(96, 32, 1, 3, 3)
    q = np.random.default_rng(2).integers(1, 100, layer.in_shape)
    dadn = _run(_one_layer_core("dadiannao"), layer, q)
    cnv = _run(_one_layer_core("cnvlutin"), layer, q)
    assert cnv.tiles == dadn.tiles == 1
    assert dadn.work.compute_cycles.sum() == 54 + STAGES - 1
    assert cnv.work.compute_cycles.sum() == 54 + STAGES - 1


def test_empty_groups_cost_min_group_cycles():
    layer = _fed_conv(256, 16, 1, 3, 3)
    zeros = np.zeros(layer.in_shape, dtype=np.int64)
    for floor in (0, 1, 2):
        run = _run(_one_layer_core("cnvlutin", min_group_cycles=floor), layer, zeros)
        assert run.work.compute_cycles.sum() == 9 * floor + STAGES - 1


# ---- counters and energy ------------------------------------------------------------------

def test_counters_split_macs_and_save_sb_reads(pair):
    _, runs = pair
    dadn = runs["dadiannao"].layers.set_index("layer")
    cnv = runs["cnvlutin"].layers.set_index("layer")
    for name in ("c2", "g3", "dw"):
        row, layer = cnv.loc[name], SPARSE_NET.layer(name)
        assert row["nfu_mac"] + row["nfu_mac_skipped"] == layer.macs
        assert row["nfu_mac_skipped"] > 0
        # SB is read per subunit slice (1/16 of a DaDianNao row) and only for effectual
        # neurons: fewer bits than DaDianNao, in proportion to the skipped neurons.
        assert row["sb_read"] < 16 * dadn.loc[name, "sb_read"]
        assert row["energy_sb_pj"] < dadn.loc[name, "energy_sb_pj"]
        assert row["dispatcher_op"] > 0 and row["encoder_op"] == layer.out_h * layer.out_w \
            * layer.out_channels
        busy = sum(row[f"subunit_{lane:02d}_busy_cycles"] for lane in range(16))
        assert busy == row["dispatcher_op"]
    assert cnv.loc["c1", "nfu_mac_skipped"] == 0      # baseline mode


def _effectual_macs(layer, q_in) -> int:
    """MACs whose input neuron is non-zero: the reference conv of the non-zero mask with
    all-one weights counts, per output, the non-zero neurons of its window."""
    ones = np.ones(layer.weight_shape, dtype=np.float32)
    counts = reference.run_layer(layer, [(q_in != 0).astype(np.float32)], ones,
                                 np.zeros(layer.out_channels, dtype=np.float32), "fp32")
    return int(round(float(counts.sum())))


def test_effectual_macs_and_saved_sb_reads_match_independent_counts(pair):
    tensors, runs = pair
    dadn = runs["dadiannao"].layers.set_index("layer")
    cnv = runs["cnvlutin"].layers.set_index("layer")
    for name in ("c2", "g3", "dw"):
        layer = SPARSE_NET.layer(name)
        q_in = runs["cnvlutin"].outputs[layer.inputs[0]].q
        assert cnv.loc[name, "nfu_mac"] == _effectual_macs(layer, q_in), name
        # Every SB slice DaDianNao reads (ti = 16 per row) is read or saved by Cnvlutin.
        assert cnv.loc[name, "sb_read"] + cnv.loc[name, "sb_slice_reads_saved"] \
            == 16 * dadn.loc[name, "sb_read"], name
        assert cnv.loc[name, "sb_slice_reads_saved"] > 0


def test_baseline_mode_layers_cost_dadiannao_energy_with_streamed_weights():
    """SB reads and fills are counted in subunit slices but priced per bit, so a layer in
    baseline mode (first conv, fc) costs exactly DaDianNao's SB energy, fills included."""
    tensors = make_tensors(SPARSE_NET, 3)
    runs = [simulate(with_overrides(load_arch(name), {"core_params.weights_resident": False}),
                     SPARSE_NET, tensors=tensors).layers.set_index("layer")
            for name in ("dadiannao", "cnvlutin")]
    for name in ("c1", "fc"):
        assert runs[1].loc[name, "sb_fill"] == 16 * runs[0].loc[name, "sb_fill"] > 0
        assert runs[1].loc[name, "energy_sb_pj"] == pytest.approx(
            runs[0].loc[name, "energy_sb_pj"], rel=1e-12)


def test_zfnaf_sizes_follow_the_real_activations():
    layer = _fed_conv(40, 16, 1, 3, 2)      # 3 bricks a position, the last half full
    q = np.zeros(layer.in_shape, dtype=np.int64)
    q[:5] = 3
    run = _run(_one_layer_core("cnvlutin"), layer, q)
    slots = 3 * 2 * 48                       # fixed slots: ceil(40 / 16) bricks of 16
    assert run.stats["zfnaf_bytes"] == math.ceil(slots * 20 / 8)
    assert run.stats["zfnaf_effectual_bytes"] == math.ceil(5 * 6 * 20 / 8)


# ---- configuration --------------------------------------------------------------------

@pytest.mark.parametrize(("key", "value", "words"), [
    ("core_params.ineffectual_threshold", -1, "ineffectual_threshold"),
    ("core_params.ti", 12, "power of two"),
    ("core_params.min_group_cycles", -2, "min_group_cycles"),
])
def test_bad_cnvlutin_parameters_name_the_key(key, value, words):
    with pytest.raises(ConfigError, match=words):
        with_overrides(load_arch("cnvlutin"), {key: value})
