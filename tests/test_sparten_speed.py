"""SparTen's step-at-once kernel (``kernels/inner_join.py``, issue 22) against the join's
definition.

A step counts every slot's pairs at once from slot-ordered mask words (``slot_tables``), and
fixed-point layers with many positions sum by input chunk (``_add_input_chunk``: each
non-zero input element times the pass's weights of that element) instead of join by join.
Both must give what the module docstring defines, computed here in numpy and plain loops:
``pairs(f, k, p)`` = matched non-zeros, ``step = max_u sum_s ceil(pairs / multipliers) +
overhead``, exact int64 sums (fixed point) or float64 joins in element order added in chunk
order (fp32), on shapes that stress it: padding, stride, groups (passes mixing input groups
take the join path), depthwise, 5 x 5, 1 x 1, fc (one position: the join path), channel
counts that are not a multiple of the chunk, chunks of 1-4 mask words, densities 0 / 15 /
50 / 100 %, full-range int16 operands (-32768 included), every balancing mode, several
multipliers and overheads. The masks (``chunk_masks``, built branch-free) must be numpy's
packed bits.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.arch import sparten
from accelsim.config import load_arch, with_overrides
from accelsim.kernels import inner_join
from accelsim.workload.formats.yaml_network import network_from_dict

SPECS = [
    ([8, 11, 13], {"kind": "conv", "out_channels": 13, "kernel": 3, "pad": 1}),
    ([8, 11, 13], {"kind": "conv", "out_channels": 9, "kernel": 3, "stride": 2}),
    ([8, 11, 13], {"kind": "conv", "out_channels": 6, "kernel": 5, "pad": 2}),
    ([8, 11, 13], {"kind": "conv", "out_channels": 12, "kernel": 3, "pad": 1, "groups": 4}),
    ([8, 11, 13], {"kind": "conv", "out_channels": 8, "kernel": 3, "pad": 1, "groups": 8}),
    ([8, 11, 13], {"kind": "conv", "out_channels": 10, "kernel": 1}),
    ([8, 11, 13], {"kind": "fc", "out_channels": 9}),
    ([130, 5, 6], {"kind": "conv", "out_channels": 7, "kernel": 3, "pad": 1}),
    ([130, 3, 3], {"kind": "fc", "out_channels": 5})]
DENSITIES = (0.0, 0.15, 0.5, 1.0)
# (clusters, cus_per_cluster, filters_per_cu, chunk, multipliers, overhead, balancing)
CORES = [(3, 2, 2, 4, 1, 1, "gb_h"), (2, 3, 2, 64, 3, 0, "gb_s"),
         (4, 2, 3, 100, 1, 2, "none"), (1, 4, 1, 200, 2, 1, "gb_h")]


def _operands(shape, spec, density, dtype, seed):
    layer = network_from_dict({"name": "t", "input": shape, "layers": [{"name": "l", **spec}]},
                              "t").layers[-1]
    rng = np.random.default_rng(seed)

    def values(n_shape, d):
        if dtype == np.int16:
            v = rng.integers(-32768, 32768, n_shape)
            v.flat[0] = -32768
        else:
            v = rng.standard_normal(n_shape)
        return (v * (rng.random(n_shape) < d)).astype(dtype)

    return layer, values(layer.in_shape, density), values(layer.weight_shape, 1 - density / 2)


def _run(core, layer, x, w, compute=True):
    p = core.params
    ops = core._operands(layer, x, w)
    slots = sparten.assign_slots(ops["w_nnz"], p.balancing, p.cus_per_cluster,
                                 p.filters_per_cu)
    positions = layer.out_h * layer.out_w
    items = np.arange(slots.shape[0] * positions)
    item_ptr = (np.arange(p.clusters + 1) * len(items)) // p.clusters
    run = inner_join.run_clusters(
        item_ptr, items // positions, items % positions, slots,
        np.arange(layer.out_channels) // layer.out_channels_per_group, ops["wmask"],
        ops["w_chunks"], ops["amask"], ops["a_chunks"], kernel_w=layer.kernel_w,
        stride=layer.stride, out_w=layer.out_w, multipliers=p.multipliers_per_cu,
        overhead=p.chunk_overhead_cycles, n_positions=positions, compute=compute)
    return run, ops, slots, item_ptr


def _reference(layer, ops, slots, item_ptr, multipliers, overhead):
    """The kernel's numbers from the module docstring's definitions."""
    w, a = ops["w_chunks"], ops["a_chunks"]        # M x K x c, G x Hp x Wp x n_sub x c
    m, n_chunks, _ = w.shape
    n_sub, positions = a.shape[3], layer.out_h * layer.out_w
    group = np.arange(m) // layer.out_channels_per_group
    oy, ox = np.divmod(np.arange(positions), layer.out_w)
    tap, sub = np.divmod(np.arange(n_chunks), n_sub)
    ys = oy[:, None] * layer.stride[0] + tap[None] // layer.kernel_w
    xs = ox[:, None] * layer.stride[1] + tap[None] % layer.kernel_w
    windows = a[group][:, ys, xs, sub[None]]       # M x P x K x c, each filter's input group
    both = (w[:, None] != 0) & (windows != 0)
    pairs = both.sum(axis=-1)                                   # M x P x K
    if w.dtype == np.int16:
        sums = (w[:, None].astype(np.int64) * windows).sum(axis=(2, 3))
    else:
        sums = np.zeros((m, positions))
        for k in range(n_chunks):                               # joins in chunk order ...
            join = np.zeros((m, positions))
            for i in range(w.shape[2]):                         # ... each in element order
                join += np.where(both[:, :, k, i], w[:, None, k, i].astype(np.float64)
                                 * windows[:, :, k, i], 0.0)
            sums += join
    passes, _, cus, _ = slots.shape
    step, step_pairs, step_joins = np.zeros((3, passes, positions, n_chunks), np.int64)
    for j in range(passes):
        for k in range(n_chunks):
            for u in range(cus):
                filled = slots[j, k, u][slots[j, k, u] >= 0]
                cu_cycles = (-(-pairs[filled, :, k] // multipliers) + overhead).sum(axis=0)
                step[j, :, k] = np.maximum(step[j, :, k], cu_cycles)
                step_pairs[j, :, k] += pairs[filled, :, k].sum(axis=0)
                step_joins[j, :, k] += len(filled)
    per_item = np.stack([step.sum(axis=2), step_pairs.sum(axis=2), step_joins.sum(axis=2),
                         np.full((passes, positions), n_chunks), step_pairs.sum(axis=2),
                         (step * cus * multipliers - step_pairs).sum(axis=2)], axis=-1)
    per_item = per_item.reshape(passes * positions, -1)          # items j * P + p
    stats = np.array([per_item[item_ptr[c]:item_ptr[c + 1]].sum(axis=0)
                      for c in range(len(item_ptr) - 1)])
    return sums, per_item[:, 0], stats


@pytest.mark.parametrize("shape,spec", SPECS)
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_kernel_gives_the_joins_definition(shape, spec, density, dtype):
    """Two of ``CORES`` per case, so that over the densities each shape meets every core."""
    first = DENSITIES.index(density)
    for seed in (first, first + 2):
        clusters, cus, per_cu, chunk, mult, overhead, mode = CORES[seed % len(CORES)]
        core = sparten.Core(with_overrides(load_arch("sparten"), {
            "core_params.clusters": clusters, "core_params.cus_per_cluster": cus,
            "core_params.filters_per_cu": per_cu, "core_params.chunk": chunk,
            "core_params.multipliers_per_cu": mult,
            "core_params.chunk_overhead_cycles": overhead, "core_params.balancing": mode}))
        layer, x, w = _operands(shape, spec, density, dtype, seed)
        (acc, item_cycles, stats), ops, slots, item_ptr = _run(core, layer, x, w)
        sums, want_cycles, want_stats = _reference(layer, ops, slots, item_ptr, mult, overhead)
        np.testing.assert_array_equal(item_cycles, want_cycles)
        np.testing.assert_array_equal(stats, want_stats)
        np.testing.assert_array_equal(acc, sums.reshape(acc.shape))
        assert acc.dtype == (np.int64 if dtype == np.int16 else np.float64)
        _, count_cycles, count_stats = _run(core, layer, x, w, compute=False)[0]
        np.testing.assert_array_equal(count_cycles, item_cycles)
        np.testing.assert_array_equal(count_stats, stats)


@pytest.mark.parametrize("density", DENSITIES)
def test_input_chunk_sums_equal_the_join_sums(density, monkeypatch):
    """The same fixed-point layers summed by input chunk and (the threshold out of reach)
    join by join: equal, and each path ran where it applies (one-group passes with enough
    positions; passes mixing groups always join)."""
    core = sparten.Core(with_overrides(load_arch("sparten"), {
        "core_params.clusters": 3, "core_params.cus_per_cluster": 2,
        "core_params.chunk": 4}))
    for shape, spec in SPECS[:5] + SPECS[7:8]:
        layer, x, w = _operands(shape, spec, density, np.int16, 7)
        by_input, ops, slots, _ = _run(core, layer, x, w)
        monkeypatch.setattr(inner_join, "INPUT_CHUNK_MIN_POSITIONS", 10 ** 9)
        by_join = _run(core, layer, x, w)[0]
        monkeypatch.undo()
        for got, want in zip(by_input, by_join, strict=True):
            np.testing.assert_array_equal(got, want)
        group_rows = np.prod(ops["a_chunks"].shape[1:4])
        pass_row = inner_join.slot_tables(slots, np.arange(layer.out_channels)
                                          // layer.out_channels_per_group, ops["wmask"],
                                          group_rows, 1)[3]
        assert (pass_row >= 0).all() == (layer.groups == 1)


@pytest.mark.parametrize("width", [1, 3, 63, 64, 65, 128, 200])
def test_chunk_masks_are_numpys_packed_bits(width):
    rng = np.random.default_rng(width)
    chunks = (rng.integers(-5, 6, (40, width)) * (rng.random((40, width)) < 0.4)).astype(
        np.int16)
    chunks[0] = 0
    chunks[1] = 7
    masks, nonzeros = inner_join.chunk_masks(chunks)
    bits = np.zeros((40, 64 * masks.shape[1]), bool)
    bits[:, :width] = chunks != 0
    np.testing.assert_array_equal(masks, np.packbits(bits, axis=1, bitorder="little")
                                  .view("<u8"))
    np.testing.assert_array_equal(nonzeros, (chunks != 0).sum(axis=1))
