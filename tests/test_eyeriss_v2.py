"""Eyeriss v2: outputs against the reference, PE cycles by hand, sparsity, NoC modes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from accelsim import simulate
from accelsim.cli import main
from accelsim.config import load_arch, with_overrides
from accelsim.errors import ConfigError
from accelsim.kernels import csc, exact_sums
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from tests.sparse_workloads import pruned_network
from tests.test_cores import TINY
from tests.test_diannao import assert_bit_exact

UNICAST, MULTICAST, BROADCAST = 0, 1, 2


def eyeriss_v2(**overrides):
    return with_overrides(load_arch("eyeriss_v2"), overrides)


def net_of(layers, shape, name="one"):
    return network_from_dict({"name": name, "input": list(shape), "layers": layers}, name)


def conv(name="conv", filters=8, kernel=3, pad=0, **extra):
    return {"name": name, "kind": "conv", "out_channels": filters, "kernel": kernel,
            "pad": pad, **extra}


def run(network, tensors, arch=None):
    result = simulate(arch or eyeriss_v2(), network, tensors=tensors, keep_outputs=True)
    assert_bit_exact(network, tensors, result)
    return result


# ---- one PE, by hand ------------------------------------------------------------------------
def hand_case():
    """A 1x1 conv on one position: 4 input channels (iact 1 is zero), 4 filters."""
    network = net_of([conv(filters=4, kernel=1)], (4, 1, 1))
    tensors = make_tensors(network, 0)
    tensors.input[...] = np.array([0.5, 0.0, 0.75, 0.25]).reshape(4, 1, 1)
    w = np.zeros((4, 4), np.float32)
    w[0, 0], w[1, 0] = 0.5, -0.25      # column 0: one SIMD word (filters 0, 1), both live
    w[2, 1] = 0.5                      # column 1: its iact is zero, never walked
    w[0, 2], w[3, 2] = 0.25, 0.5       # column 2: two words, each with one zero weight
    tensors.weights["conv"][...] = w.reshape(4, 4, 1, 1)    # column 3: empty
    return network, tensors


@pytest.mark.parametrize("overrides, cycles, idle", [
    # 1 (iact column address) + 3 non-zero iacts x (1 weight-column address + its words)
    ({}, 1 + (1 + 1) + (1 + 2) + (1 + 0), 2),
    ({"core_params.iact_addr_cycles": 2, "core_params.weight_addr_cycles": 0}, 2 + 1 + 2, 2),
    # one MAC per PE: column 0 takes two words
    ({"core_params.macs_per_pe": 1}, 1 + (1 + 2) + (1 + 2) + 1, 0)])
def test_pe_cycles_on_a_known_pattern(overrides, cycles, idle):
    network, tensors = hand_case()
    row = run(network, tensors, eyeriss_v2(**overrides)).layers.iloc[0]
    assert row["compute_cycles"] == cycles
    assert row["pe_mac"] == 4 and row["pe_mac_skipped"] == 16 - 4
    assert row["simd_idle_mac_slots"] == idle
    assert row["tasks"] == 1


# ---- sparsity -------------------------------------------------------------------------------
def effectual_pairs(x: np.ndarray, w: np.ndarray) -> int:
    """Pairs with both factors non-zero of a stride-1, unpadded conv (numpy, independent)."""
    m, c, r, s = w.shape
    windows = np.lib.stride_tricks.sliding_window_view(x != 0, (r, s), axis=(1, 2))
    a = windows.transpose(1, 2, 0, 3, 4).reshape(-1, c * r * s).astype(np.int64)
    return int((a @ (w.reshape(m, -1) != 0).T.astype(np.int64)).sum())


def test_zeros_in_weights_or_iacts_cut_cycles():
    network = net_of([conv(filters=40, kernel=3)], (24, 12, 12))
    dense = make_tensors(network, 4)
    dense.input[...] = np.abs(dense.input) + 0.1
    w = dense.weights["conv"]
    w[...] = np.where(w < 0, -1, 1) * (np.abs(w) + 0.05)
    rng = np.random.default_rng(0)
    sparse_w = make_tensors(network, 4)
    sparse_w.input[...], sparse_w.weights["conv"][...] = dense.input, w * (
        rng.random(w.shape) < 0.3)
    sparse_x = make_tensors(network, 4)
    sparse_x.input[...] = dense.input * (rng.random(dense.input.shape) < 0.4)
    sparse_x.weights["conv"][...] = w
    rows = {}
    for name, tensors in (("dense", dense), ("weights", sparse_w), ("iacts", sparse_x)):
        rows[name] = run(network, tensors).layers.iloc[0]
        assert rows[name]["pe_mac"] == effectual_pairs(tensors.input,
                                                       tensors.weights["conv"])
    assert rows["dense"]["pe_mac"] == network.layers[0].macs
    for name in ("weights", "iacts"):
        assert rows[name]["compute_cycles"] < 0.7 * rows["dense"]["compute_cycles"]
        assert rows[name]["cycles"] < rows["dense"]["cycles"]


# ---- the count-only path (fixed16 sums from exact_sums) against the CSC walk ---------------
@pytest.mark.parametrize("density", [0.0, 0.15, 0.5, 1.0])
@pytest.mark.parametrize("shape", [
    # channels, height, width, filters, kernel, stride, pad, groups
    (5, 9, 11, 7, 3, 1, (1, 1, 1, 1), 1),       # odd sizes, padding, a part lane
    (6, 10, 7, 40, (3, 2), (2, 1), (0, 1, 2, 0), 2),   # groups, stride, uneven pad
    (8, 6, 6, 8, 3, 2, (1, 1, 1, 1), 8),         # depthwise
    (70, 3, 3, 33, 3, 1, (0, 0, 0, 0), 1),      # fc-like: one position, many k-ranges
    (12, 13, 12, 6, 1, 2, (0, 0, 0, 0), 1),      # 1 x 1, stride 2: every other input
    (3, 14, 11, 5, (5, 3), (3, 2), (2, 1, 2, 1), 1)])   # strides above the kernel's rows
def test_count_tasks_equal_the_walks_stats(shape, density):
    c, h, w_, m, kernel, stride, pad, groups = shape
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    rng = np.random.default_rng(int(density * 100) + c)
    x = (rng.integers(-50, 50, (c, h, w_)) * (rng.random((c, h, w_)) < density)).astype(np.int16)
    w = (rng.integers(-50, 50, (m, c // groups * kh * kw))
         * (rng.random((m, c // groups * kh * kw)) < max(density, 0.3))).astype(np.int16)
    top, left, bottom, right = pad
    xpad = np.ascontiguousarray(np.pad(x, ((0, 0), (top, bottom), (left, right))))
    out_h, out_w = (xpad.shape[1] - kh) // sh + 1, (xpad.shape[2] - kw) // sw + 1
    positions = out_h * out_w
    wcsc = csc.weight_csc(w, groups, 16, 2)
    ptr, nonzeros = csc.weight_counts(w, groups, 16, 2)
    assert (ptr == wcsc[0]).all() and (nonzeros == wcsc[3]).all()
    _, n_mb, lanes = csc.lanes_of(m, groups, 16)
    cuts = csc.k_cuts(np.diff(ptr), lanes, w.shape[1], 5, 6)
    seg_cuts = (np.arange(4) * positions) // 3 if positions >= 3 else np.array([0, positions])
    geometry = (c // groups, kh, kw, sh, sw, out_w, positions)
    _, walked = csc.run_tasks(wcsc, csc.iact_csc(xpad, cuts, geometry), cuts, seg_cuts,
                              groups=groups, out_channels=m, m_block=16, k_len=w.shape[1],
                              iact_addr_cycles=1, weight_addr_cycles=2, compute=False)
    counted = csc.count_tasks(xpad, (ptr, nonzeros), cuts, seg_cuts, geometry, n_mb=n_mb,
                              iact_addr_cycles=1, weight_addr_cycles=2)
    assert counted.shape == walked.shape and (counted == walked).all()
    assert len(cuts) > 2                 # several k-ranges per lane


def test_fixed_sums_do_not_depend_on_the_path():
    """A whole layer through the core: the count-only fixed16 path against the walk."""
    network = net_of([conv(filters=36, kernel=3, pad=1, stride=2, relu=True),
                      {"name": "fc", "kind": "fc", "out_channels": 10}], (6, 11, 9), "paths")
    tensors = make_tensors(network, 5)
    fast = run(network, tensors).layers
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(exact_sums, "applies", lambda x, w: False)
        walked = run(network, tensors).layers
    pd.testing.assert_frame_equal(fast, walked)


# ---- NoC delivery modes -----------------------------------------------------------------------
def test_noc_mode_follows_the_layers_reuse():
    network = net_of([
        conv("bcast", filters=8, kernel=1),                    # one weight block, 192 PEs
        conv("dw", filters=8, groups="depthwise", pad=1),       # one filter per group
        {"name": "fc", "kind": "fc", "out_channels": 256}],     # one position
        (4, 20, 20), "modes")
    layers = run(network, make_tensors(network, 2)).layers.set_index("layer")
    expected = {"bcast": (UNICAST, BROADCAST, UNICAST), "dw": (UNICAST, None, None),
                "fc": (MULTICAST, UNICAST, MULTICAST)}
    names = ("unicast", "multicast", "broadcast")
    for layer, modes in expected.items():
        for kind, mode in zip(("iact", "weight", "psum"), modes, strict=True):
            if mode is None:
                continue
            assert layers.loc[layer, f"noc_{kind}_mode"] == mode, (layer, kind)
            assert f"{kind}s {names[mode]}" in layers.loc[layer, "mapping"]
    assert layers.loc["bcast", "noc_weight_fanout"] == layers.loc["bcast", "tasks"] == 192
    assert layers.loc["fc", "noc_iact_fanout"] > 1


def test_depthwise_network_runs_from_the_cli(tmp_path):
    workload = tmp_path / "dw.yaml"
    workload.write_text(yaml.safe_dump({"name": "dw", "input": [16, 14, 14], "layers": [
        conv("c1", filters=32, pad=1, relu=True),
        conv("dw", filters=32, groups="depthwise", pad=1, stride=2, relu=True),
        conv("pw", filters=24, kernel=1)]}))
    out = tmp_path / "dw.csv"
    assert main(["run", "--arch", "eyeriss_v2", "--workload", str(workload), "-q",
                 "--output", str(out)]) == 0
    layers = pd.read_csv(out).set_index("layer")
    assert layers.loc["dw", "noc_iact_mode"] == UNICAST
    assert layers.loc["dw", "m_lanes"] == 32 and layers.loc["dw", "k_ranges"] == 1
    assert (layers["pe_mac"] <= layers["macs"]).all()


# ---- configuration ----------------------------------------------------------------------------
def test_scaled_to_144_multipliers_stays_exact():
    arch = eyeriss_v2(**{"core_params.cluster_rows": 3})
    result = run(TINY, make_tensors(TINY, 3), arch)
    layers = result.layers
    conv_rows = layers[layers["kind"].isin(["conv", "fc"])]
    assert (conv_rows["pes"] == 72).all()
    assert (layers["utilization"] <= 1).all()
    assert (layers["cycles"] >= layers["ideal_cycles"]).all()


def test_bad_params_name_the_key():
    with pytest.raises(ConfigError, match="macs_per_pe"):
        eyeriss_v2(**{"core_params.macs_per_pe": 0})
    with pytest.raises(ConfigError, match="weight_spad_words"):
        eyeriss_v2(**{"core_params.weight_spad_words": 8})


# ---- whole networks -------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("workload", ["vgg16", "mobilenet_v1"])
def test_pruned_network_bit_exact(workload):
    network, tensors = pruned_network(workload)
    layers = run(network, tensors).layers
    assert (layers["utilization"] <= 1).all()
    assert (layers["cycles"] >= layers["ideal_cycles"]).all()
    weighted = layers[layers["kind"].isin(["conv", "fc"])]
    assert (weighted["pe_mac"] < weighted["macs"]).all()
    assert weighted["noc_iact_mode"].notna().all()
    depthwise = [layer.name for layer in network if layer.has_weights and layer.is_depthwise]
    if depthwise:
        assert (layers.set_index("layer").loc[depthwise, "noc_iact_mode"] == UNICAST).all()
