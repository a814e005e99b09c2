"""Phantom's counting fast paths (:func:`accelsim.kernels.bitmask._walk_runs`: runs of a weight
chunk, cumulative pairs from per-bit counts, closed-form stretches, reused cumulative pairs and
reused rests of a run after the window empties; :func:`~accelsim.kernels.bitmask._walk_static`
for the static schedule) against the item-by-item walk (the same kernel computing the sums
takes it), on operands that stress them: densities 0 / 15 / 50 / 100 %, repeated and distinct
weight codes, zero stretches, groups, split reductions, short and odd runs, with and without
skipping."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

from accelsim.arch import _mesh_mapping as mesh
from accelsim.kernels import bitmask
from accelsim.workload.formats.yaml_network import network_from_dict


def both_walks(filters, filter_ptr, ranges, wcodes, acodes, chunk_len, chunk, *,
               filters_per_group, threads, lookahead, skip, n_parts=1, mode=bitmask.DYNAMIC):
    """(entry cycles, stats) of the counting path and of the item walk (values all zero:
    they do not enter the schedule). The counting path runs with and without the per-bit
    counts (whichever :func:`~accelsim.kernels.bitmask._counts_pay` would pick), and must
    agree with itself."""
    kwargs = dict(filters_per_group=filters_per_group, threads=threads, lookahead=lookahead,
                  mode=mode, skip=skip, n_parts=n_parts)
    fast = []
    for pay in (True, False):
        with mock.patch.object(bitmask, "_counts_pay", lambda *args, pay=pay: pay):
            fast.append(bitmask.run_cores(filters, filter_ptr, ranges, wcodes, acodes, None,
                                          None, chunk_len, compute=False, chunk=chunk,
                                          **kwargs))
    for counted, popcounted in zip(*fast, strict=True):
        np.testing.assert_array_equal(counted, popcounted)
    _, fast_cycles, fast_stats = fast[0]
    wvals = np.zeros((*wcodes.shape, chunk), np.int16)
    avals = np.zeros((*acodes.shape, chunk), np.int16)
    _, walk_cycles, walk_stats = bitmask.run_cores(
        filters, filter_ptr, ranges, wcodes, acodes, wvals, avals, chunk_len, compute=True,
        **kwargs)
    return (fast_cycles, fast_stats), (walk_cycles, walk_stats)


def random_codes(rng, shape, density, chunk, zero_stretches=False):
    bits = rng.random((*shape, chunk)) < density
    if zero_stretches:                               # dark regions: runs of empty items
        for _ in range(3):
            start = int(rng.integers(0, shape[-1]))
            bits[..., start:start + int(rng.integers(5, 40)), :] = False
    return (bits << np.arange(chunk)).sum(-1).astype(np.int64)


@pytest.mark.parametrize("density", [0.0, 0.15, 0.5, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_counting_path_equals_the_item_walk_on_random_masks(density, seed):
    rng = np.random.default_rng(seed)
    chunk = int(rng.choice([9, 4, 16]))
    n_chunks, positions, m, groups = int(rng.integers(1, 7)), int(rng.integers(20, 90)), 12, \
        int(rng.choice([1, 3]))
    acodes = random_codes(rng, (groups, n_chunks, positions), density, chunk,
                          zero_stretches=bool(seed % 2))
    wcodes = random_codes(rng, (m, n_chunks), max(density, 0.3), chunk)
    wcodes[rng.random(m) < 0.5] = wcodes[0]           # shared codes: cached runs and rests
    wcodes[1] = 0                                     # a filter with no weights at all
    chunk_len = np.full(n_chunks, chunk, np.int64)
    chunk_len[-1] = int(rng.integers(1, chunk + 1))   # a short last chunk
    rows, cols = 2, 2
    cuts = [0, int(rng.integers(1, positions)), positions]
    ranges = np.array([(cuts[i], cuts[i + 1], 0, n_chunks, 0)
                       for i in range(rows) for _ in range(cols)], np.int64)
    column = np.arange(m) % cols
    per_core = [np.flatnonzero(column == j) for _ in range(rows) for j in range(cols)]
    filters = np.concatenate(per_core)
    filter_ptr = np.concatenate([[0], np.cumsum([len(f) for f in per_core])])
    # The static schedule only with skipping (Params.mode: no skipping is dynamic).
    for mode, skip in ((bitmask.DYNAMIC, True), (bitmask.DYNAMIC, False),
                       (bitmask.STATIC, True)):
        for threads, lookahead in ((9, 16), (4, 3), (13, 5), (1, 1)):
            fast, walk = both_walks(filters, filter_ptr, ranges, wcodes, acodes, chunk_len,
                                    chunk, filters_per_group=m // groups, threads=threads,
                                    lookahead=lookahead, skip=skip, mode=mode)
            np.testing.assert_array_equal(fast[1], walk[1])
            np.testing.assert_array_equal(fast[0], walk[0])


LAYERS = [
    {"kind": "conv", "out_channels": 10, "kernel": 3, "pad": 1},
    {"kind": "conv", "out_channels": 6, "kernel": 3, "stride": 2},
    {"kind": "conv", "out_channels": 8, "kernel": [1, 3], "stride": [2, 1], "pad": [0, 1],
     "groups": 4},
    {"kind": "conv", "out_channels": 8, "kernel": 3, "pad": 1, "groups": 8},   # depthwise
    {"kind": "fc", "out_channels": 7},
]


@pytest.mark.parametrize("spec", LAYERS)
@pytest.mark.parametrize("density", [0.0, 0.15, 0.5, 1.0])
def test_counting_path_equals_the_item_walk_on_layers(spec, density):
    """Real operands and mesh splits (padding, stride, groups, depthwise, fc's split
    reduction) of an odd-sized input."""
    net = network_from_dict({"name": "t", "input": [8, 23, 19],
                             "layers": [{"name": "l", "relu": True, **spec}]}, "t")
    layer = net.layers[-1]
    rng = np.random.default_rng(1)
    x = (rng.integers(1, 4, layer.in_shape) * (rng.random(layer.in_shape) < density))
    w = rng.integers(-3, 4, (layer.out_channels, layer.in_channels_per_group, layer.kernel_h,
                             layer.kernel_w)) * (rng.random(layer.weight_shape) < 0.4)
    ops = mesh.layer_operands(layer, x.astype(np.int16), w.astype(np.int16), 9, values=False)
    popcount = bitmask.popcount_table(9)
    for balance in (True, False):
        split = mesh.assign(layer, ops, popcount, 2, 2, balance, 9, 4)
        for mode, skip in ((bitmask.DYNAMIC, True), (bitmask.DYNAMIC, False),
                           (bitmask.STATIC, True)):
            fast, walk = both_walks(split.filters, split.filter_ptr, split.ranges, ops.wcodes,
                                    ops.acodes, ops.chunk_len, 9,
                                    filters_per_group=layer.out_channels_per_group,
                                    threads=9, lookahead=4, skip=skip, n_parts=split.n_parts,
                                    mode=mode)
            np.testing.assert_array_equal(fast[1], walk[1])
            np.testing.assert_array_equal(fast[0], walk[0])


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
@pytest.mark.parametrize("width, chunk", [(27, 9), (25, 9), (7, 16), (40, 4)])
def test_mask_codes_equal_numpys_chunked_masks(dtype, width, chunk):
    rng = np.random.default_rng(width)
    matrix = (rng.integers(-2, 3, (5, width)) * (rng.random((5, width)) < 0.5)).astype(dtype)
    padded = np.zeros((5, -(-width // chunk) * chunk), dtype)
    padded[:, :width] = matrix
    want = ((padded.reshape(5, -1, chunk) != 0) << np.arange(chunk)).sum(-1)
    np.testing.assert_array_equal(bitmask.mask_codes(matrix, chunk), want)


def test_bit_counts_are_built_only_where_runs_are_worked_out_often():
    """One weight code per chunk (dense weights: a core's runs are reused) -> popcounts;
    a different code for every filter (pruned) -> the per-bit counts; static: every run."""
    positions, n_chunks, m = 64, 4, 32
    acodes = np.zeros((1, n_chunks, positions), np.int64)
    ranges = np.array([(0, positions, 0, n_chunks, 0)], np.int64)
    filters, filter_ptr = np.arange(m), np.array([0, m])
    shared = np.full((m, n_chunks), 0b101, np.int64)
    distinct = (np.arange(m * n_chunks).reshape(m, n_chunks) % 511 + 1).astype(np.int64)

    def pays(wcodes, mode):
        return bitmask._counts_pay(filters, filter_ptr, ranges, wcodes, acodes.size * 9, mode,
                                   False, 9, 16)

    assert not pays(shared, bitmask.DYNAMIC)
    assert pays(distinct, bitmask.DYNAMIC)
    assert pays(shared, bitmask.STATIC)


def reference_loads(layer, ops, popcount, splits_reduction, threads, lookahead):
    """The balancing loads as first written (float copies of the popcounts, each filter's
    group densities gathered, 0/1 floats summed): :func:`mesh.loads` must equal it bit for
    bit."""
    a_bits = popcount[ops.acodes].astype(np.float64)
    w_bits = popcount[ops.wcodes].astype(np.float64)
    per_group = layer.out_channels_per_group
    group_of = np.arange(layer.out_channels) // per_group
    a_density = a_bits.mean(axis=2) / ops.chunk_len
    w_density = w_bits.reshape(layer.groups, per_group, -1).mean(axis=1) / ops.chunk_len
    live = (ops.wcodes != 0).astype(np.float64)
    live_per_group = live.reshape(layer.groups, per_group, -1).sum(axis=1)
    filter_load = ((w_bits * a_density[group_of]).sum(axis=1) / threads
                   + live.sum(axis=1) * ops.n_positions / lookahead)
    if splits_reduction:
        return filter_load, ((w_bits * a_density[group_of]).sum(axis=0) / threads
                             + live.sum(axis=0) / lookahead)
    return filter_load, (np.einsum("gkp,gk->p", a_bits, w_density * per_group) / threads
                         + live_per_group.sum() / lookahead)


@pytest.mark.parametrize("spec", LAYERS)
@pytest.mark.parametrize("density", [0.0, 0.15, 0.5, 1.0])
def test_balancing_loads_equal_the_reference_bit_for_bit(spec, density):
    """Padding, stride, groups, depthwise, fc (split reduction) on an odd-sized input,
    threads and lookahead that do not divide the sums."""
    net = network_from_dict({"name": "t", "input": [8, 23, 19],
                             "layers": [{"name": "l", "relu": True, **spec}]}, "t")
    layer = net.layers[-1]
    rng = np.random.default_rng(7)
    x = rng.standard_normal(layer.in_shape) * (rng.random(layer.in_shape) < density)
    w = rng.standard_normal(layer.weight_shape) * (rng.random(layer.weight_shape) < density)
    ops = mesh.layer_operands(layer, x.astype(np.float32), w.astype(np.float32), 9,
                              values=False)
    popcount = bitmask.popcount_table(9)
    for rows in (2, 7, 400):                 # 400 rows: a conv's reduction split too
        split = ops.n_positions < rows
        for threads, lookahead in ((9, 16), (7, 3)):
            got = mesh.loads(layer, ops, popcount, split, threads, lookahead)
            want = reference_loads(layer, ops, popcount, split, threads, lookahead)
            for g, r in zip(got, want, strict=True):
                assert g.dtype == r.dtype == np.float64
                np.testing.assert_array_equal(g, r)
