"""The fast paths of issue 22 in SparTen's and Eyeriss v2's kernels give the slow paths'
numbers.

SparTen (``kernels/inner_join.py``): a fixed-point join of a dense enough chunk pair sums
the chunks' dense dot product, any other join walks the AND's set bits; both must equal
numpy's count and sum of the matched pairs. Eyeriss v2 (``kernels/csc.py``): a fixed-point
weight column that stores every word of its lane adds its values as one vector, the others
word by word; with and without that path the sums and every statistic must be equal, and
equal numpy's. SCNN (``kernels/cartesian.py``) counting without the sums (bank counters as
bytes of a word) and Phantom's dense baseline in closed form (``kernels/bitmask.py``) must
give the product-by-product and item-by-item walks' cycles and counts, and the exact sums
(``kernels/exact_sums.py``) the walks' sums, on random sparse layers. No number may depend
on the thread count.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.kernels import bitmask, csc, exact_sums, inner_join
from accelsim.workload.formats.yaml_network import network_from_dict
from tests.thread_digests import run_digests


# ---- SparTen: one join ----------------------------------------------------------------------
def _chunks(rng, rows, width, density, dtype):
    if dtype == np.int16:
        values = rng.integers(-32768, 32768, (rows, width)).astype(np.int16)
        values[0, 0] = -32768
    else:
        values = rng.standard_normal((rows, width)).astype(np.float32)
    values[rng.random((rows, width)) >= density] = 0
    values[values == 0] = 0                       # no -0.0
    return values


@pytest.mark.parametrize("width", [3, 64, 100, 128])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_join_counts_and_sums_the_matched_pairs(width, dtype):
    """Random chunk pairs from empty to full: pairs = matched non-zeros, sum = numpy's
    (fixed point: exact int64; fp32: float64 products added in element order)."""
    rng = np.random.default_rng(width)
    densities = np.linspace(0, 1, 9)
    w = np.concatenate([_chunks(rng, 8, width, d, dtype) for d in densities])
    a = np.concatenate([_chunks(rng, 8, width, d, dtype) for d in densities[::-1]])
    wmask, w_nnz = inner_join.chunk_masks(w)
    amask, _ = inner_join.chunk_masks(a)
    np.testing.assert_array_equal(w_nnz, (w != 0).sum(axis=1))
    integer = dtype == np.int16
    zero = np.int64(0) if integer else np.float64(0)
    paths = {"dense dot": 0, "bit walk": 0}
    for row in range(len(w)):
        both = (w[row] != 0) & (a[row] != 0)
        expected = zero
        for i in np.flatnonzero(both):
            expected += (zero + w[row, i]) * a[row, i]
        for exact in ((True, False) if integer else (False,)):
            pairs, total = inner_join.join(wmask, w, amask, a, row, row, True, zero, exact)
            assert pairs == both.sum()
            assert total == expected and isinstance(total, int if integer else float)
            if pairs:
                dense = exact and pairs * inner_join.DENSE_DOT_DENSITY >= width
                paths["dense dot" if dense else "bit walk"] += 1
        assert inner_join.join(wmask, w, amask, a, row, row, False, zero, integer) \
            == (both.sum(), 0)
    if integer:
        assert min(paths.values()) > 0            # both paths ran


def test_chunk_masks_are_packed_bits():
    rng = np.random.default_rng(1)
    chunks = _chunks(rng, 20, 130, 0.3, np.int16)
    masks, _ = inner_join.chunk_masks(chunks)
    bits = np.zeros((20, 192), bool)
    bits[:, :130] = chunks != 0
    np.testing.assert_array_equal(masks, np.packbits(bits, axis=1, bitorder="little")
                                  .view("<u8"))


def _greedy_reference(loads, bins, capacity):
    target_of = []
    for row in loads:
        totals, filled, target = [0] * bins, [0] * bins, [0] * len(row)
        for item in sorted(range(len(row)), key=lambda i: -row[i]):   # stable: ties in order
            free = [b for b in range(bins) if filled[b] < capacity]
            best = min(free, key=lambda b: totals[b])                  # first of the least
            target[item] = best
            totals[best] += row[item]
            filled[best] += 1
        target_of.append(target)
    return np.array(target_of)


def test_greedy_balancing_matches_a_plain_python_greedy():
    rng = np.random.default_rng(2)
    loads = rng.integers(0, 5, (30, 13))                      # many ties
    np.testing.assert_array_equal(inner_join.greedy(loads, 7, 2),
                                  _greedy_reference(loads, 7, 2))


# ---- Eyeriss v2: the full-column path ---------------------------------------------------------
@pytest.mark.parametrize("weight_density", [0.05, 0.6, 1.0])
@pytest.mark.parametrize("groups", [1, 2])
def test_full_columns_equal_the_word_walk_and_numpy(weight_density, groups):
    """A 3x3 conv (40 channels, 46 filters: lane blocks of 32 and 14 with groups 1, of 23
    with 2, whose last word has a padding value) on full-range int16 operands: sums and
    stats with the full-column path equal those without it (every column word by word) and
    numpy's."""
    rng = np.random.default_rng(int(weight_density * 100) + groups)
    cin, m, size = 40, 46, 7
    x = _chunks(rng, cin, size * size, 0.5, np.int16).reshape(cin, size, size)
    k_len = cin // groups * 9
    w = _chunks(rng, m, k_len, weight_density, np.int16)
    xpad = np.ascontiguousarray(np.pad(x, ((0, 0), (1, 1), (1, 1))))
    weights = csc.weight_csc(w, groups, 32, 2)
    _, _, lanes = csc.lanes_of(m, groups, 32)
    cuts = csc.k_cuts(np.diff(weights[0]), lanes, k_len, 16, 96)
    positions = size * size
    seg_cuts = np.array([0, 20, positions])
    iacts = csc.iact_csc(xpad, cuts, (cin // groups, 3, 3, 1, 1, size, positions))
    kwargs = dict(groups=groups, out_channels=m, m_block=32, k_len=k_len,
                  iact_addr_cycles=1, weight_addr_cycles=2)
    fast = csc.run_tasks(weights, iacts, cuts, seg_cuts, **kwargs)
    words_only = csc.run_tasks(weights, iacts, cuts, seg_cuts, full_columns=False, **kwargs)
    for got, expected in zip(fast, words_only, strict=True):
        np.testing.assert_array_equal(got, expected)
    windows = np.stack([xpad[:, y:y + 3, x0:x0 + 3] for y in range(size)
                        for x0 in range(size)]).astype(object)   # positions x C x 3 x 3
    w4 = w.reshape(m, cin // groups, 3, 3).astype(object)
    mg = m // groups
    expected = np.zeros((positions, m), object)
    for f in range(m):
        g = f // mg
        part = windows[:, g * cin // groups:(g + 1) * cin // groups]
        expected[:, f] = (part * w4[f]).sum(axis=(1, 2, 3))
    np.testing.assert_array_equal(fast[0], expected.astype(np.int64))
    assert fast[1][:, csc.MACS].sum() == sum(
        ((windows[:, (f // mg) * cin // groups:(f // mg + 1) * cin // groups] != 0)
         & (w4[f] != 0)).sum() for f in range(m))


# ---- SCNN and Phantom: random sparse layers ---------------------------------------------------
LAYERS = [
    {"kind": "conv", "out_channels": 9, "kernel": 3, "pad": 1},
    {"kind": "conv", "out_channels": 6, "kernel": 3, "stride": 2, "pad": 1},
    {"kind": "conv", "out_channels": 8, "kernel": [1, 3], "stride": [2, 1], "pad": [0, 1],
     "groups": 2},
    {"kind": "conv", "out_channels": 5, "kernel": 5, "pad": 2},
    {"kind": "conv", "out_channels": 8, "kernel": 1},
    {"kind": "fc", "out_channels": 7}]


def _random_layer(spec, seed, density):
    net = network_from_dict({"name": "t", "input": [8, 11, 13],
                             "layers": [{"name": "l", **spec}]}, "t")
    layer = net.layers[-1]
    rng = np.random.default_rng(seed)
    x = (rng.integers(-300, 301, layer.in_shape) * (rng.random(layer.in_shape) < density))
    w = rng.integers(-300, 301, layer.weight_shape) * (rng.random(layer.weight_shape) < density)
    return layer, x.astype(np.int16), w.astype(np.int16)


@pytest.mark.parametrize("spec", LAYERS)
@pytest.mark.parametrize("bank_hash,banks", [("xor", 32), ("xor", 64), ("linear", 32)])
def test_scnn_counting_equals_the_product_loop(spec, bank_hash, banks):
    from accelsim.arch.scnn import HASHES, Core
    from accelsim.config import load_arch, with_overrides
    from accelsim.kernels import cartesian as cp
    core = Core(with_overrides(load_arch("scnn"), {
        "core_params.pe_rows": 3, "core_params.pe_cols": 2, "core_params.banks": banks,
        "core_params.bank_hash": bank_hash, "core_params.accumulator_entries": 90}))
    for seed, density in enumerate((0.15, 0.5, 1.0)):
        layer, x, w = _random_layer(spec, seed, density)
        t = core.tile(layer)
        x = x.reshape(-1, 1, 1) if layer.kind == "fc" else x
        w = w.reshape(layer.out_channels, *t.geom[1:4])
        runs = [cp.run_pes(t.geom, t.tiles, t.origin, t.extent, t.kgroups,
                           cp.encode_tiles(x, t.tiles, 15), cp.encode_weights(w, t.kgroups, 15),
                           f_vec=4, i_vec=4, banks=banks, hash_kind=HASHES[bank_hash],
                           compute=compute, n_out=layer.out_channels) for compute in (True, False)]
        (acc, cycles, stats), (_, count_cycles, count_stats) = runs
        np.testing.assert_array_equal(count_cycles, cycles)
        np.testing.assert_array_equal(count_stats, stats)
        assert stats[:, cp.PRODUCTS].sum() > 0
        np.testing.assert_array_equal(
            exact_sums.conv_sums(x.reshape(layer.in_shape), w.reshape(layer.weight_shape),
                                 layer.stride, layer.pad), core._merge(layer, acc, t))


@pytest.mark.parametrize("spec", LAYERS)
@pytest.mark.parametrize("threads,lookahead", [(9, 16), (3, 16), (4, 2), (40, 3), (1, 1)])
def test_phantom_dense_schedule_equals_the_item_walk(spec, threads, lookahead):
    from accelsim.arch import _mesh_mapping as mesh
    for seed, chunk in ((0, 9), (1, 4), (2, 16)):
        layer, x, w = _random_layer(spec, seed, 0.5)
        ops = mesh.layer_operands(layer, x, w, chunk)
        popcount = bitmask.popcount_table(chunk)
        split = mesh.assign(layer, ops, popcount, 3, 2, seed == 1, threads, lookahead)
        runs = [bitmask.run_cores(
            split.filters, split.filter_ptr, split.ranges, ops.wcodes, ops.acodes, ops.wvals,
            ops.avals, ops.chunk_len, filters_per_group=layer.out_channels_per_group,
            threads=threads, lookahead=lookahead, mode=bitmask.DYNAMIC, skip=False,
            compute=compute, n_parts=split.n_parts) for compute in (True, False)]
        (acc, entry_cycles, stats), (_, count_cycles, count_stats) = runs
        np.testing.assert_array_equal(count_cycles, entry_cycles)
        np.testing.assert_array_equal(count_stats, stats)
        np.testing.assert_array_equal(
            exact_sums.conv_sums(x, w, layer.stride, layer.pad).reshape(acc.shape[1:]),
            acc.sum(axis=0))


def test_phantom_dense_closed_form_is_taken_only_where_every_cycle_packs():
    chunk_len = np.array([9, 9, 2])
    assert bitmask._packs_every_cycle(chunk_len, 0, 3, 9, 16)       # 15 x 2 >= 8
    assert not bitmask._packs_every_cycle(chunk_len, 0, 3, 40, 3)   # 2 x 2 < 39
    assert bitmask._packs_every_cycle(chunk_len, 0, 2, 17, 3)       # 2 x 9 >= 16


def test_exact_sums_take_the_full_int16_range():
    layer, _, _ = _random_layer(LAYERS[0], 0, 1.0)
    x = np.full(layer.in_shape, -32768, np.int16)
    w = np.full(layer.weight_shape, -32768, np.int16)
    sums = exact_sums.conv_sums(x, w, layer.stride, layer.pad)
    assert sums.dtype == np.int64
    assert sums[0, 5, 5] == 8 * 9 * 2 ** 30 and sums[0, 0, 0] == 8 * 4 * 2 ** 30


# ---- thread count -----------------------------------------------------------------------------
THREAD_SETUP = """
from tests.test_speed_golden import NETWORK as network, golden_tensors
tensors = golden_tensors()
"""
THREAD_CONFIGS = ("sparten", "eyeriss_v2", "scnn", "phantom2d", "phantom2d_dense")


def test_tables_and_outputs_do_not_depend_on_the_thread_count():
    one, two = (run_digests(THREAD_CONFIGS, THREAD_SETUP, n) for n in (1, 2))
    assert len(one) == len(THREAD_CONFIGS)
    assert one == two
