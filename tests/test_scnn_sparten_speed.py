"""Issue 22's counting paths of SCNN and SparTen give the general paths' numbers.

SCNN (``kernels/cartesian.py``): without the sums, under the XOR hash at stride 1,
``_xor_counts`` counts input channel by input channel, equal weight vectors once (merged
by a packed key), by word tables or product by product; it must give the product-by-product
walk's (``compute=True``) cycles and statistics on shapes that stress it: padding, groups,
depthwise, fc, odd sizes, 5 x 5 and 7 x 7 kernels, densities 0 / 15 / 50 / 100 % (dense
weights repeat their weight vectors), vector widths whose keys do not pack; and the weight
encoder (rows gathered block by block) a plain one. SparTen (``kernels/inner_join.py``):
joins that only count (``count_layer``) give the multiplying joins' counts, whose fixed-point
sums are ``kernels/exact_sums.py``'s and make the core's output.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import fixedpoint
from accelsim.arch import base, scnn, sparten
from accelsim.config import load_arch, with_overrides
from accelsim.kernels import cartesian as cp
from accelsim.kernels import exact_sums, inner_join
from accelsim.workload.formats.yaml_network import network_from_dict

LAYERS = [
    {"kind": "conv", "out_channels": 13, "kernel": 3, "pad": 1},
    {"kind": "conv", "out_channels": 9, "kernel": 3, "pad": 0},
    {"kind": "conv", "out_channels": 6, "kernel": 5, "pad": 2},
    {"kind": "conv", "out_channels": 4, "kernel": 7, "pad": 3},
    {"kind": "conv", "out_channels": 12, "kernel": 3, "pad": 1, "groups": 4},
    {"kind": "conv", "out_channels": 8, "kernel": 3, "pad": 1, "groups": 8},
    {"kind": "conv", "out_channels": 10, "kernel": 1},
    {"kind": "fc", "out_channels": 9}]
DENSITIES = (0.0, 0.15, 0.5, 1.0)


def _layer(spec, seed, density, weight_density=None):
    net = network_from_dict({"name": "t", "input": [8, 11, 13],
                             "layers": [{"name": "l", **spec}]}, "t")
    layer = net.layers[-1]
    rng = np.random.default_rng(seed)
    x = rng.integers(-300, 301, layer.in_shape) * (rng.random(layer.in_shape) < density)
    density = density if weight_density is None else weight_density
    w = rng.integers(1, 301, layer.weight_shape) * (rng.random(layer.weight_shape) < density)
    return layer, x.astype(np.int16), w.astype(np.int16)


def _scnn_runs(layer, x, w, f_vec, i_vec, banks, pe_rows=3, pe_cols=2, entries=90):
    core = scnn.Core(with_overrides(load_arch("scnn"), {
        "core_params.pe_rows": pe_rows, "core_params.pe_cols": pe_cols,
        "core_params.mult_f": f_vec, "core_params.mult_i": i_vec,
        "core_params.banks": banks, "core_params.accumulator_entries": entries}))
    t = core.tile(layer)
    x = x.reshape(-1, 1, 1) if layer.kind == "fc" else x
    w = w.reshape(layer.out_channels, *t.geom[1:4])
    assert cp.by_words(t.geom, f_vec, i_vec, banks, cp.HASH_XOR, False)
    return [cp.run_pes(t.geom, t.tiles, t.origin, t.extent, t.kgroups,
                       cp.encode_tiles(x, t.tiles, 15), cp.encode_weights(w, t.kgroups, 15),
                       f_vec=f_vec, i_vec=i_vec, banks=banks, hash_kind=cp.HASH_XOR,
                       compute=compute, n_out=layer.out_channels) for compute in (True, False)]


def _assert_same_counts(runs):
    (_, cycles, stats), (_, count_cycles, count_stats) = runs
    np.testing.assert_array_equal(count_cycles, cycles)
    np.testing.assert_array_equal(count_stats, stats)


@pytest.mark.parametrize("spec", LAYERS)
@pytest.mark.parametrize("density", DENSITIES)
def test_scnn_channel_counting_equals_the_product_walk(spec, density):
    for seed, weight_density in enumerate((None, 1.0)):
        layer, x, w = _layer(spec, seed, density, weight_density)
        runs = _scnn_runs(layer, x, w, 4, 4, 32)
        _assert_same_counts(runs)
        assert (runs[0][2][:, cp.PRODUCTS].sum() > 0) == bool(x.any() and w.any())


@pytest.mark.parametrize("f_vec,i_vec,banks", [(3, 5, 32), (8, 4, 64), (16, 7, 33),
                                               (1, 1, 32), (4, 4, 128)])
def test_scnn_channel_counting_for_other_vector_widths(f_vec, i_vec, banks):
    """Keys that pack (3 x 5, 1 x 1) and do not (8 and 16 weights of 3 x 3 taps)."""
    for spec in (LAYERS[0], LAYERS[3], LAYERS[-1]):
        for seed, density in enumerate((0.5, 1.0)):
            layer, x, w = _layer(spec, seed, density, 1.0)
            _assert_same_counts(_scnn_runs(layer, x, w, f_vec, i_vec, banks))


def test_scnn_channel_counting_with_many_pes_and_groups_of_output_channels():
    """More PEs than rows (empty tiles), and Kc small enough for many groups per channel."""
    layer, x, w = _layer(LAYERS[0], 3, 0.5, 1.0)
    runs = _scnn_runs(layer, x, w, 4, 4, 32, pe_rows=12, pe_cols=5, entries=20)
    assert runs[0][1].shape[1] > 4
    _assert_same_counts(runs)


def test_dense_weight_vectors_repeat_so_merging_has_work():
    """Dense 3 x 3 filters give few distinct weight-vector keys per channel."""
    layer, _, w = _layer(LAYERS[0], 0, 1.0)
    wv = np.ascontiguousarray(w[:, 0]).ravel()              # (k, r, s) order, channel 0
    index = np.arange(len(wv))
    wk, wr, ws = index // 9, index // 3 % 3, index % 3
    keys = {cp._weight_vector_key(wk, wr, ws, wv, j0, min(j0 + 4, len(wv)), 2, 2)
            for j0 in range(0, len(wv), 4)}
    assert 1 < len(keys) < -(-len(wv) // 4)


# ---- SparTen ----------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", LAYERS + [{"kind": "conv", "out_channels": 6, "kernel": 3,
                                             "stride": 2, "pad": 1}])
@pytest.mark.parametrize("density", DENSITIES)
def test_sparten_counting_joins_equal_the_multiplying_joins(spec, density):
    core = sparten.Core(with_overrides(load_arch("sparten"), {
        "core_params.clusters": 3, "core_params.cus_per_cluster": 2,
        "core_params.chunk": 4}))
    layer, x, w = _layer(spec, 1, density)
    ops = core._operands(layer, x, w)
    p = core.params
    slots = sparten.assign_slots(ops["w_nnz"], p.balancing, p.cus_per_cluster,
                                 p.filters_per_cu)
    positions = layer.out_h * layer.out_w
    items = np.arange(slots.shape[0] * positions)
    item_ptr = (np.arange(p.clusters + 1) * len(items)) // p.clusters
    runs = [inner_join.run_clusters(
        item_ptr, items // positions, items % positions, slots,
        np.arange(layer.out_channels) // layer.out_channels_per_group, ops["wmask"],
        ops["w_chunks"], ops["amask"], ops["a_chunks"], kernel_w=layer.kernel_w,
        stride=layer.stride, out_w=layer.out_w, multipliers=1, overhead=1,
        n_positions=positions, compute=compute) for compute in (True, False)]
    (acc, item_cycles, stats), (_, count_item_cycles, count_stats) = runs
    np.testing.assert_array_equal(count_item_cycles, item_cycles)
    np.testing.assert_array_equal(count_stats, stats)
    sums = exact_sums.conv_sums(x, w, layer.stride, layer.pad)
    np.testing.assert_array_equal(sums.reshape(acc.shape), acc)
    bias = np.linspace(-1, 1, layer.out_channels).astype(np.float32)
    x_fixed, w_fixed = fixedpoint.Fixed(x, 6), fixedpoint.Fixed(w, 7)
    run = core.compute(layer, [x_fixed], w_fixed, bias, core.tile(layer))
    want = base.conv_output(layer, acc, x_fixed, w_fixed, bias)
    np.testing.assert_array_equal(run.output.q, want.q)
    assert run.output.frac == want.frac


@pytest.mark.parametrize("shape,kgroups", [
    ((70, 130, 1, 1), [(0, 70, 0, 130)]),                 # fc-like: 3 blocks of channels
    ((9, 4, 3, 3), [(0, 4, 0, 4), (4, 9, 0, 4)]),
    ((6, 2, 5, 5), [(0, 3, 0, 2), (3, 6, 2, 2)])])        # two conv groups
@pytest.mark.parametrize("density", DENSITIES)
def test_weight_rows_encode_as_a_plain_encoder(shape, kgroups, density):
    """Entries of each (group, channel) row in (k, r, s) order, long zero runs as
    placeholders, trailing ones dropped (tests/test_scnn.py's plain encoder)."""
    from tests.test_scnn import _entries
    rng = np.random.default_rng(int(density * 100))
    w = (rng.integers(-9, 10, shape) * (rng.random(shape) < density)).astype(np.int16)
    ptr, vals, runs = cp.encode_weights(w, np.array(kgroups, np.int64), 15)
    cg = shape[1]
    for g, (k0, k1, _c0, _n) in enumerate(kgroups):
        for c in range(cg):
            want = _entries(w[k0:k1, c].ravel(), 15)
            row = slice(ptr[g * cg + c], ptr[g * cg + c + 1])
            assert vals[row].tolist() == [int(v) for v, _ in want]
            positions = np.cumsum(runs[row].astype(np.int64) + 1) - 1
            assert positions.tolist() == [pos for _, pos in want]
    assert ptr[-1] == len(vals) == len(runs)
