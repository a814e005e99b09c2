"""SparTen: outputs against the reference, the inner-join timing by hand, greedy balancing."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate
from accelsim.config import load_arch, with_overrides
from accelsim.errors import ConfigError
from accelsim.sim.simulate import record_values
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms import apply_transforms
from tests.sparse_workloads import one_conv, pruned_network
from tests.test_diannao import assert_bit_exact

MODES = ("none", "gb_s", "gb_h")


def sparten(**overrides):
    return with_overrides(load_arch("sparten"), overrides)


# ---- one cluster, by hand -------------------------------------------------------------------
def hand_built():
    """One 1x1 pixel of 8 channels (channel 0 zero) against 4 filters, 2 chunks of 4
    channels. Weight non-zeros: f0 channels 0-3, f1 1-3, f2 4-7, f3 5-7; so the ANDs give
    f0 3 pairs (chunk 0), f1 3 (chunk 0), f2 4 (chunk 1), f3 3 (chunk 1), 0 elsewhere."""
    net = one_conv(kernel=1, channels=8, filters=4, size=1)
    tensors = make_tensors(net, 0)
    tensors.input[...] = np.array([0, 1, 2, 3, 4, 5, 6, 7], np.float32).reshape(8, 1, 1) / 8
    w = np.zeros((4, 8, 1, 1), np.float32)
    for f, channels in enumerate((range(0, 4), range(1, 4), range(4, 8), range(5, 8))):
        w[f, list(channels), 0, 0] = 0.25 * (f + 1)
    tensors.weights["conv"][...] = w
    return net, tensors


# Two CUs of two filter slots, 1 cycle of overhead per join, 1 multiplier per CU:
# * none: CU0 = {f0, f1}, CU1 = {f2, f3}: chunk 0 max((3+1)+(3+1), 1+1) = 8, chunk 1
#   max(1+1, (4+1)+(3+1)) = 9: 17 cycles;
# * gb_s: whole-filter non-zeros (4, 3, 4, 3), greedy: f0 -> CU0, f2 -> CU1, f1 -> CU0
#   (tie: the first), f3 -> CU1: the same CUs as none, 17 cycles;
# * gb_h: chunk 0 weight non-zeros (4, 3, 0, 0): f0 -> CU0, f1 -> CU1, f2 -> CU1,
#   f3 -> CU0: max(4+1, 4+1) = 5; chunk 1 (0, 0, 4, 3): f2 -> CU0, f3 -> CU1, f0 -> CU1,
#   f1 -> CU0: max(5+1, 4+1) = 6: 11 cycles;
# * gb_h with 2 multipliers per CU: chunk 0 max(2+1 + 1, 2+1 + 1) = 4, chunk 1
#   max(2+1 + 1, 2+1 + 1) = 4: 8 cycles.
@pytest.mark.parametrize("balancing, multipliers, cycles", [
    ("none", 1, 17), ("gb_s", 1, 17), ("gb_h", 1, 11), ("gb_h", 2, 8)])
def test_hand_built_joins_take_the_slowest_cus_cycles(balancing, multipliers, cycles):
    net, tensors = hand_built()
    arch = sparten(**{"core_params.clusters": 1, "core_params.cus_per_cluster": 2,
                      "core_params.filters_per_cu": 2, "core_params.chunk": 4,
                      "core_params.chunk_overhead_cycles": 1,
                      "core_params.multipliers_per_cu": multipliers,
                      "core_params.balancing": balancing})
    result = simulate(arch, net, tensors=tensors, keep_outputs=True)
    assert_bit_exact(net, tensors, result)
    row = result.layers.iloc[0]
    assert row["core_000_cycles"] == cycles
    assert row["compute_cycles"] == cycles
    assert row["cu_mac"] == 3 + 3 + 4 + 3
    assert row["joins"] == 4 * 2
    assert row["idle_in_cluster_mult_cycles"] == cycles * 2 * multipliers - 13


# ---- layer-level behaviour ------------------------------------------------------------------
def test_balancing_modes_compute_identical_outputs_and_count_the_permutation():
    net = one_conv(kernel=3, channels=40, filters=24, size=9, stride=2)
    tensors = apply_transforms(net, make_tensors(net, 4), [{"kind": "prune", "density": 0.3}])
    arch_overrides = {"core_params.clusters": 3, "core_params.cus_per_cluster": 4,
                      "core_params.chunk": 16}
    rows, outputs = {}, {}
    for mode in MODES:
        result = simulate(sparten(**arch_overrides, **{"core_params.balancing": mode}), net,
                          tensors=tensors, keep_outputs=True)
        assert_bit_exact(net, tensors, result)
        rows[mode], outputs[mode] = result.layers.iloc[0], result.outputs["conv"].q
    for mode in MODES[1:]:
        np.testing.assert_array_equal(outputs[mode], outputs["none"])
        assert rows[mode]["cu_mac"] == rows["none"]["cu_mac"]
    layer = net.layers[0]
    n_outputs = layer.out_channels * layer.out_h * layer.out_w
    assert rows["none"].get("permute_op", 0) == 0
    assert rows["gb_s"]["permute_op"] == n_outputs
    assert rows["gb_h"]["permute_op"] == rows["gb_h"]["joins"]
    assert rows["gb_s"]["output_buffer_read"] == n_outputs
    for row in rows.values():       # idle multiplier-cycles by cause add up
        per_cluster = [row[f"core_{c:03d}_cycles"] for c in range(3)]
        busy = max(per_cluster) * 3 * 4
        assert row["idle_in_cluster_mult_cycles"] + row["idle_between_clusters_mult_cycles"] \
            + row["cu_mac"] == busy
        assert 0 < row["cu_utilization"] <= 1


def test_all_zero_weights_cost_only_the_join_overheads():
    net = one_conv(kernel=1, channels=8, filters=4, size=4)
    tensors = make_tensors(net, 3)
    tensors.weights["conv"][...] = 0
    tensors.biases["conv"][...] = np.linspace(-1, 1, 4)
    arch = sparten(**{"core_params.clusters": 1, "core_params.cus_per_cluster": 2})
    result = simulate(arch, net, tensors=tensors, keep_outputs=True)
    assert_bit_exact(net, tensors, result)
    row = result.layers.iloc[0]
    # 16 positions x 1 chunk, each CU joins its 2 filters: 2 overhead cycles per step
    assert row["compute_cycles"] == 16 * 2
    assert row.get("cu_mac", 0) == 0


def test_bad_params_name_the_key():
    with pytest.raises(ConfigError, match="balancing"):
        sparten(**{"core_params.balancing": "gb_x"})
    with pytest.raises(ConfigError, match="cus_per_cluster"):
        sparten(**{"core_params.cus_per_cluster": 0})


# ---- whole networks -------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["vgg16", "mobilenet_v1"])
def pruned_run(request):
    """A full run (gb_h) and its values, which the other balancing modes reuse: their outputs
    are the same (fixed point), so they only count (tests/test_sweep.py checks that
    counting on reused values equals a full run)."""
    network, tensors = pruned_network(request.param)
    result, values = record_values(sparten(), network, tensors=tensors)
    return network, tensors, result, values


@pytest.mark.slow
def test_pruned_network_bit_exact_with_utilization_at_most_one(pruned_run):
    network, tensors, result, values = pruned_run
    assert_bit_exact(network, tensors, values)     # values.outputs: every layer's output
    layers = result.layers
    assert (layers["utilization"] <= 1).all()
    conv = layers[layers["kind"].isin(["conv", "fc"])]
    assert (conv["cu_utilization"] <= 1).all()
    assert (conv["cu_mac"] < conv["macs"]).all()


@pytest.mark.slow
def test_greedy_balancing_shortens_pruned_vgg16(pruned_run):
    network, tensors, gb_h, values = pruned_run
    if network.name != "vgg16":
        pytest.skip("VGG-16 only")
    assert load_arch("sparten").core_params.balancing == "gb_h"
    runs = {mode: simulate(sparten(**{"core_params.balancing": mode}), network,
                           reuse=values).layers for mode in ("none", "gb_s")}
    runs["gb_h"] = gb_h.layers
    cycles = {mode: layers["cycles"].sum() for mode, layers in runs.items()}
    idle = {mode: layers["idle_in_cluster_mult_cycles"].sum() for mode, layers in runs.items()}
    assert cycles["gb_h"] < cycles["gb_s"] <= cycles["none"]
    assert idle["gb_h"] < idle["gb_s"] <= idle["none"]
    assert (runs["gb_h"]["cu_mac"] == runs["none"]["cu_mac"]).all()   # same work, placed
