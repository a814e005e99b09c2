"""Phantom-2D: outputs against the reference, the cycle-level schedule, balancing, counters."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from accelsim import simulate
from accelsim.config import load_arch, with_overrides
from accelsim.kernels import bitmask
from accelsim.workload import load_network
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms import apply_transforms
from tests.sparse_workloads import one_conv, pruned_network
from tests.test_diannao import assert_bit_exact

UNLIMITED = {"dram.bytes_per_cycle": None, "dram.latency_cycles": 0,
             "core_params.noc_bytes_per_cycle": 1 << 20}


def phantom(**overrides):
    return with_overrides(load_arch("phantom2d"), overrides)


# ---- the schedule, by hand ------------------------------------------------------------------
def schedule(pairs, *, threads, lookahead, mode):
    """One core, one filter, one chunk of 9 elements walked over len(pairs) positions whose
    activation codes have ``pairs[p]`` low bits set (weights all non-zero)."""
    n = len(pairs)
    acodes = np.array([(1 << e) - 1 for e in pairs], dtype=np.int64).reshape(1, 1, n)
    wcodes = np.full((1, 1), (1 << 9) - 1, dtype=np.int64)
    avals = np.zeros((1, 1, n, 9), np.int16)
    for p, e in enumerate(pairs):
        avals[0, 0, p, :e] = p + 1
    wvals = np.ones((1, 1, 9), np.int16)
    ranges = np.array([[0, n, 0, 1, 0]])
    acc, entry_cycles, stats = bitmask.run_cores(
        np.array([0]), np.array([0, 1]), ranges, wcodes, acodes, wvals, avals,
        np.array([9]), filters_per_group=1, threads=threads, lookahead=lookahead, mode=mode,
        skip=True, compute=True, n_parts=1)
    np.testing.assert_array_equal(acc[0, 0], [(p + 1) * e for p, e in enumerate(pairs)])
    assert entry_cycles.sum() == stats[0, bitmask.CYCLES]
    return stats[0]


def test_dynamic_schedule_packs_pairs_of_several_items_into_one_cycle():
    # threads 4, window 2: [3, 5] -> cycle 1 takes 3 + 1; [4, 0] -> cycle 2 takes 4 and the
    # empty item retires with it; [2] -> cycle 3 takes 2 (2 threads idle).
    stats = schedule([3, 5, 0, 2], threads=4, lookahead=2, mode=bitmask.DYNAMIC)
    assert stats[bitmask.CYCLES] == 3
    assert stats[bitmask.IDLE_THREAD_CYCLES] == 2
    assert stats[bitmask.PAIRS] == 10


def test_static_schedule_issues_one_item_at_a_time():
    # 3 pairs: 1 cycle; 5 pairs on 4 threads: 2; the empty item is passed over while the
    # last one issues: 1.
    stats = schedule([3, 5, 0, 2], threads=4, lookahead=2, mode=bitmask.STATIC)
    assert stats[bitmask.CYCLES] == 4
    assert stats[bitmask.IDLE_THREAD_CYCLES] == 4 * 4 - 10


def test_empty_items_pass_the_window_lookahead_per_cycle():
    stats = schedule([0] * 10 + [1], threads=4, lookahead=4, mode=bitmask.DYNAMIC)
    # cycles 1-2 retire 8 empty items; cycle 3 sees [0, 0, 1] and finishes.
    assert stats[bitmask.CYCLES] == 3


def _cycle_by_cycle(pairs, threads, lookahead):
    """The dynamic window one cycle at a time (module docstring of the kernel): refill to
    ``lookahead`` items, hand out up to ``threads`` pairs oldest first, retire the items
    whose pairs are all out. Returns (cycles, idle thread-cycles)."""
    window, waiting, cycles, idle = [], list(pairs), 0, 0
    while window or waiting:
        while waiting and len(window) < lookahead:
            window.append(waiting.pop(0))
        left = threads
        for i, remaining in enumerate(window):
            window[i] -= min(remaining, left)
            left -= min(remaining, left)
        idle += left
        cycles += 1
        while window and window[0] == 0:
            window.pop(0)
    return cycles, idle


@pytest.mark.parametrize("seed", range(4))
def test_dynamic_schedule_matches_a_cycle_by_cycle_window(seed):
    rng = np.random.default_rng(seed)
    for _ in range(10):
        pairs = rng.integers(0, 10, int(rng.integers(1, 60))) * (rng.random() < 0.8)
        pairs[rng.random(len(pairs)) < rng.random()] = 0
        threads, lookahead = int(rng.integers(1, 12)), int(rng.integers(1, 20))
        stats = schedule(list(pairs), threads=threads, lookahead=lookahead,
                         mode=bitmask.DYNAMIC)
        assert (stats[bitmask.CYCLES], stats[bitmask.IDLE_THREAD_CYCLES]) == \
            _cycle_by_cycle(list(pairs), threads, lookahead)


@pytest.mark.parametrize("spec", [
    {"kind": "conv", "out_channels": 4, "kernel": 3, "pad": 1},
    {"kind": "conv", "out_channels": 6, "kernel": 3, "stride": 2},
    {"kind": "conv", "out_channels": 8, "kernel": [1, 3], "stride": [2, 1], "pad": [0, 1],
     "groups": 4},
    {"kind": "fc", "out_channels": 3}])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_operands_match_numpy_windows(spec, dtype):
    """The one-pass window chunks against numpy's sliding windows, chunked and masked."""
    from numpy.lib.stride_tricks import sliding_window_view

    from accelsim.arch import _mesh_mapping as mesh
    net = network_from_dict({"name": "t", "input": [8, 7, 9],
                             "layers": [{"name": "l", "relu": True, **spec}]}, "t")
    layer = net.layers[-1]
    rng = np.random.default_rng(0)
    x = (rng.integers(-3, 4, layer.in_shape) * (rng.random(layer.in_shape) < 0.5)).astype(dtype)
    w = rng.integers(-3, 4, (layer.out_channels, layer.in_channels_per_group, layer.kernel_h,
                             layer.kernel_w)).astype(dtype)
    top, left, bottom, right = layer.pad
    windows = sliding_window_view(np.pad(x, ((0, 0), (top, bottom), (left, right))),
                                  (layer.kernel_h, layer.kernel_w), axis=(1, 2))
    windows = windows[:, ::layer.stride[0], ::layer.stride[1]][:, :layer.out_h, :layer.out_w]
    matrix = windows.reshape(layer.groups, layer.in_channels_per_group, -1, layer.kernel_h,
                             layer.kernel_w).transpose(0, 2, 1, 3, 4).reshape(
        layer.groups, layer.out_h * layer.out_w, -1)
    for chunk in (9, 4, 16):
        ops = mesh.layer_operands(layer, x, w, chunk)
        padded = np.zeros((*matrix.shape[:2], ops.n_chunks * chunk), dtype)
        padded[..., :matrix.shape[2]] = matrix
        want = padded.reshape(*matrix.shape[:2], -1, chunk).transpose(0, 2, 1, 3)
        assert ops.avals.dtype == dtype
        np.testing.assert_array_equal(ops.avals, want)
        np.testing.assert_array_equal(ops.acodes, ((want != 0) << np.arange(chunk)).sum(-1))


# ---- layer-level behaviour ------------------------------------------------------------------
def run_one(network, tensors, arch):
    return simulate(arch, network, tensors=tensors, keep_outputs=True)


@pytest.mark.parametrize("kernel", [3, 1])
def test_dense_layer_takes_the_dense_baselines_cycles(kernel):
    net = one_conv(kernel=kernel, channels=20, pad=0)     # no padding zeros either
    tensors = make_tensors(net, 3)
    tensors.input[...] = np.abs(tensors.input) + 0.1             # no zero activations
    w = tensors.weights["conv"]
    w[...] = np.where(w < 0, -1, 1) * (np.abs(w) + 0.05)          # none rounds to 0 either
    sparse = run_one(net, tensors, phantom(**UNLIMITED))
    dense = run_one(net, tensors, with_overrides(load_arch("phantom2d_dense"), UNLIMITED))
    assert_bit_exact(net, tensors, sparse)
    assert_bit_exact(net, tensors, dense)
    s, d = sparse.layers.iloc[0], dense.layers.iloc[0]
    assert s["compute_cycles"] == d["compute_cycles"]
    assert abs(s["cycles"] - d["cycles"]) <= 0.03 * d["cycles"]
    assert s["threads_mac"] == d["threads_mac"] == net.layers[0].macs


def test_all_zero_weights_cost_only_the_fixed_overhead():
    net = one_conv()
    tensors = make_tensors(net, 3)
    tensors.weights["conv"][...] = 0
    tensors.biases["conv"][...] = np.linspace(-1, 1, 12)
    arch = phantom(**UNLIMITED)
    result = run_one(net, tensors, arch)
    assert_bit_exact(net, tensors, result)
    row = result.layers.iloc[0]
    assert row["compute_cycles"] == arch.core_params.pipeline_cycles
    assert row.get("threads_mac", 0) == 0
    assert row["threads_mac_skipped"] == net.layers[0].macs


def test_skipping_is_never_slower_and_idle_causes_add_up():
    net = one_conv(kernel=3, channels=16, filters=20, size=14, stride=2)
    tensors = make_tensors(net, 5)
    tensors = apply_transforms(net, tensors, [{"kind": "prune", "density": 0.3}])
    rows = {}
    for name, arch in (("dynamic", phantom()), ("static", phantom(**{
            "core_params.dynamic_threads": False})),
            ("dense", load_arch("phantom2d_dense"))):
        result = run_one(net, tensors, arch)
        assert_bit_exact(net, tensors, result)
        rows[name] = result.layers.iloc[0]
    assert rows["dynamic"]["compute_cycles"] <= rows["static"]["compute_cycles"] \
        <= rows["dense"]["compute_cycles"]
    row = rows["dynamic"]
    cores = int(row["mesh_rows"] * row["mesh_cols"])
    per_core = [row[f"core_{c:03d}_cycles"] for c in range(cores)]
    threads = int(row["threads_per_core"])
    busy = max(per_core) * cores * threads
    assert row["idle_lookahead_thread_cycles"] + row["idle_imbalance_thread_cycles"] \
        + row["threads_mac"] == busy
    assert 0 < row["thread_utilization"] <= 1


def test_bad_params_name_the_key(tmp_path):
    from accelsim.errors import ConfigError
    with pytest.raises(ConfigError, match="mask_chunk"):
        phantom(**{"core_params.mask_chunk": 17})
    with pytest.raises(ConfigError, match="lookahead"):
        phantom(**{"core_params.lookahead": 0})


# ---- whole networks -------------------------------------------------------------------------
# Peak memory (the suite's, issue 27): the dense VGG-16 run comes first, before a pruned
# VGG-16 run is held, and only the last pruned run is kept (each holds 0.55 GB of tensors).
@pytest.mark.slow
@pytest.mark.parametrize("workload", ["vgg16", "mobilenet_v1"])
def test_dense_network_bit_exact(workload):
    network = load_network(workload)
    tensors = make_tensors(network, 1)
    result = simulate(phantom(), network, tensors=tensors, keep_outputs=True)
    assert_bit_exact(network, tensors, result)


@functools.lru_cache(maxsize=1)
def pruned(name):
    """A pruned zoo network, its tensors and its (balanced) Phantom-2D run, made once."""
    network, tensors = pruned_network(name)
    return network, tensors, simulate(phantom(), network, tensors=tensors, keep_outputs=True)


@pytest.mark.slow
def test_inter_core_balancing_shortens_pruned_vgg16():
    network, tensors, balanced = pruned("vgg16")
    unbalanced = simulate(phantom(**{"core_params.inter_core_balancing": False}), network,
                          tensors=tensors)
    on, off = balanced.layers, unbalanced.layers
    assert off["cycles"].sum() > on["cycles"].sum()
    assert off["compute_cycles"].sum() > on["compute_cycles"].sum()
    assert off["idle_imbalance_thread_cycles"].sum() > on["idle_imbalance_thread_cycles"].sum()
    assert (on["threads_mac"] == off["threads_mac"]).all()   # same work, placed differently


@pytest.fixture(params=["vgg16", "mobilenet_v1"])
def pruned_run(request):
    return pruned(request.param)


@pytest.mark.slow
def test_pruned_network_bit_exact_with_utilization_at_most_one(pruned_run):
    network, tensors, result = pruned_run
    assert_bit_exact(network, tensors, result)
    layers = result.layers
    assert (layers["utilization"] <= 1).all()
    conv = layers[layers["kind"].isin(["conv", "fc"])]
    assert (conv["thread_utilization"] <= 1).all()
    assert (conv["threads_mac"] < conv["macs"]).all()


# ---- the mesh heat map ------------------------------------------------------------------------
def test_mesh_heat_map_from_a_real_run(tmp_path):
    from accelsim import plot
    from accelsim.plot.data import PlotError
    from accelsim.plot.mesh import core_utilization

    net = network_from_dict({
        "name": "two", "input": [6, 12, 12],
        "layers": [{"name": "c1", "kind": "conv", "out_channels": 10, "kernel": 3, "pad": 1,
                    "relu": True},
                   {"name": "p1", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
                   {"name": "fc", "kind": "fc", "out_channels": 5}]}, "two")
    tensors = make_tensors(net, 2)
    frames = []
    for balance in (True, False):
        arch = phantom(**{"core_params.inter_core_balancing": balance})
        layers = simulate(arch, net, tensors=tensors).layers
        frames.append(layers.assign(arch=f"balance={balance}", workload="two"))
    table = __import__("pandas").concat(frames, ignore_index=True)
    row = table.iloc[0]
    util = core_utilization(row)
    assert util.shape == (4, 4) and (util >= 0).all() and (util <= 1).all()
    assert util.sum() * row["cycles"] * row["threads_per_core"] == row["threads_mac"]
    figure = plot.make("mesh", table)
    assert len([ax for ax in figure.axes if ax.images]) == 4      # 2 archs x (conv, fc)
    written = plot.save(figure, tmp_path / "mesh.png", tmp_path / "mesh.svg")
    assert all(path.stat().st_size > 1000 for path in written)
    with pytest.raises(PlotError, match="mesh"):
        plot.make("mesh", table.drop(columns="mesh_rows"))
