"""Issue 22's fifth SCNN round (``kernels/cartesian.py``): each count-only path gives the
general path's numbers.

* ``count_fc``: an fc layer counted straight from the dense weights (no encoding, only the
  input channels with an entry walked) must give ``run_pes``' product walk (``compute=True``)
  and the encoders' entries, under every bank hash, vector widths, zero-run limits and
  densities 0 / 15 / 50 / 100 %, long zero runs (placeholders) and several groups;
* ``_xor_counts`` on planes large enough (>= ``SET_MIN_VECTORS`` activation vectors a
  channel) that activation vectors landing whole are costed once per key multiset, and
  weight vectors once per table class: the product walk's cycles and statistics, with
  borders (padding or not), 1 x 1 / 3 x 3 / 5 x 5 kernels, groups, vector widths with and
  without table classes (``f_vec`` <= 5 or not), densities 0 / 15 / 50 / 100 %, dense
  and sparse weights;
* ``encode_tiles`` (its PEs in parallel) and ``tile_entries`` (counting only): a plain
  encoder's entries of every (PE, channel) tile, empty tiles and long zero runs included.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.arch import scnn
from accelsim.config import load_arch, with_overrides
from accelsim.kernels import cartesian as cp
from accelsim.workload.formats.yaml_network import network_from_dict

DENSITIES = (0.0, 0.15, 0.5, 1.0)


def _layer(spec, seed, density, weight_density, in_shape=(8, 11, 13)):
    net = network_from_dict({"name": "t", "input": list(in_shape),
                             "layers": [{"name": "l", **spec}]}, "t")
    layer = net.layers[-1]
    rng = np.random.default_rng(seed)
    x = rng.integers(-300, 301, layer.in_shape) * (rng.random(layer.in_shape) < density)
    w = rng.integers(-300, 301, layer.weight_shape) \
        * (rng.random(layer.weight_shape) < weight_density)
    return layer, x.astype(np.int16), w.astype(np.int16)


def _core(bank_hash, banks, f_vec, i_vec, entries, index_bits):
    return scnn.Core(with_overrides(load_arch("scnn"), {
        "core_params.pe_rows": 3, "core_params.pe_cols": 2, "core_params.mult_f": f_vec,
        "core_params.mult_i": i_vec, "core_params.banks": banks,
        "core_params.bank_hash": bank_hash, "core_params.accumulator_entries": entries,
        "core_params.index_bits": index_bits}))


@pytest.mark.parametrize("bank_hash,banks,f_vec,i_vec,entries,index_bits", [
    ("xor", 32, 4, 4, 90, 4), ("xor", 64, 3, 5, 7, 2), ("xor", 8, 8, 4, 1000, 3),
    ("linear", 32, 4, 4, 90, 4), ("linear", 7, 5, 2, 4, 1), ("single", 32, 4, 4, 90, 4)])
@pytest.mark.parametrize("density", DENSITIES)
def test_fc_counts_equal_the_product_walk(bank_hash, banks, f_vec, i_vec, entries,
                                          index_bits, density):
    core = _core(bank_hash, banks, f_vec, i_vec, entries, index_bits)
    max_run = (1 << index_bits) - 1
    kinds = {"f_vec": f_vec, "i_vec": i_vec, "banks": banks,
             "hash_kind": scnn.HASHES[bank_hash]}
    for seed, weight_density in enumerate((density, 1.0, 0.05)):
        layer, x, w = _layer({"kind": "fc", "out_channels": 37}, seed, density,
                             weight_density, in_shape=(7, 5, 4))
        t = _check_fc(core, layer, x, w, max_run, kinds)
    assert len(t.kgroups) > 1 or entries >= 37   # the small accumulators split the filters


def _check_fc(core, layer, x, w, max_run, kinds):
    """``count_fc`` of ``layer`` on ``x``, ``w`` against the product walk and the encoders."""
    t = core.tile(layer)
    x = x.reshape(-1, 1, 1)
    w = w.reshape(layer.out_channels, *t.geom[1:4])
    acts, wts = cp.encode_tiles(x, t.tiles, max_run), cp.encode_weights(w, t.kgroups,
                                                                        max_run)
    _, cycles, stats = cp.run_pes(t.geom, t.tiles, t.origin, t.extent, t.kgroups, acts,
                                  wts, compute=True, n_out=layer.out_channels, **kinds)
    got = cp.count_fc(x, w, t.tiles, t.kgroups, max_run, **kinds)
    np.testing.assert_array_equal(got[0], cycles)
    np.testing.assert_array_equal(got[1], stats)
    np.testing.assert_array_equal(got[2], np.diff(acts[0]).reshape(len(t.tiles), -1))
    np.testing.assert_array_equal(got[3], np.diff(wts[0]).reshape(len(t.kgroups), -1))
    assert (stats[:, cp.PRODUCTS].sum() > 0) == bool(x.any() and w.any())
    return t


@pytest.mark.parametrize("entries,index_bits", [(2000, 2), (300, 4), (5000, 1)])
@pytest.mark.parametrize("density", DENSITIES)
def test_fc_counts_across_row_steps_and_channel_blocks(entries, index_bits, density):
    """``_fc_rows`` walks ``FC_BLOCK`` channels ``FC_ROWS`` filter rows at a time: more
    filters than two steps (groups of 300 too: steps restart per group), more walked
    channels than three blocks (an odd last one), zero runs and vectors crossing the steps'
    boundaries (runs of zeros placed across them) give the product walk's numbers."""
    core = _core("xor", 32, 4, 4, entries, index_bits)
    kinds = {"f_vec": 4, "i_vec": 4, "banks": 32, "hash_kind": cp.HASH_XOR}
    n_out = 2 * cp.FC_ROWS + 37
    for seed, weight_density in enumerate((density, 0.9, 0.05)):
        layer, x, w = _layer({"kind": "fc", "out_channels": n_out}, seed, density,
                             weight_density, in_shape=(3, 7, 11))
        w = w.reshape(n_out, -1)
        for edge in range(cp.FC_ROWS, n_out, cp.FC_ROWS):    # runs across the boundaries
            w[edge - 5 - seed:edge + 7, ::3] = 0
        t = _check_fc(core, layer, x, w, (1 << index_bits) - 1, kinds)
        assert x.size > 3 * cp.FC_BLOCK and n_out > 2 * cp.FC_ROWS
    assert len(t.kgroups) == (2 if entries == 300 else 1)


@pytest.mark.parametrize("spec", [
    {"kind": "conv", "out_channels": 11, "kernel": 3, "pad": 1},
    {"kind": "conv", "out_channels": 7, "kernel": 3, "pad": 0},
    {"kind": "conv", "out_channels": 5, "kernel": 5, "pad": 2},
    {"kind": "conv", "out_channels": 6, "kernel": 3, "pad": 1, "groups": 2},
    {"kind": "conv", "out_channels": 9, "kernel": 1}])
@pytest.mark.parametrize("f_vec,i_vec,banks", [(4, 4, 32), (3, 5, 64), (8, 4, 32)])
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("weight_density", (1.0, 0.4))
def test_large_plane_counts_equal_the_product_walk(spec, f_vec, i_vec, banks, density,
                                                   weight_density):
    core = _core("xor", banks, f_vec, i_vec, 700, 4)
    layer, x, w = _layer(spec, 3, density, weight_density, in_shape=(2, 45, 47))
    t = core.tile(layer)
    w = w.reshape(layer.out_channels, *t.geom[1:4])
    acts, wts = cp.encode_tiles(x, t.tiles, 15), cp.encode_weights(w, t.kgroups, 15)
    vectors = -(-np.diff(acts[0]).reshape(len(t.tiles), -1) // i_vec)
    assert density < 1.0 or vectors.sum(axis=0).min() >= cp.SET_MIN_VECTORS
    runs = [cp.run_pes(t.geom, t.tiles, t.origin, t.extent, t.kgroups, acts, wts,
                       f_vec=f_vec, i_vec=i_vec, banks=banks, hash_kind=cp.HASH_XOR,
                       compute=compute, n_out=layer.out_channels) for compute in (True, False)]
    assert cp.by_words(t.geom, f_vec, i_vec, banks, cp.HASH_XOR, False)
    np.testing.assert_array_equal(runs[1][1], runs[0][1])
    np.testing.assert_array_equal(runs[1][2], runs[0][2])
    assert (runs[0][2][:, cp.PRODUCTS].sum() > 0) == bool(x.any())


@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("max_run", (0, 3, 15))
def test_tile_encoding_equals_a_plain_encoder(density, max_run):
    core = _core("xor", 32, 4, 4, 90, 4)
    layer, x, _ = _layer({"kind": "conv", "out_channels": 4, "kernel": 3, "pad": 1}, 5,
                         density, 1.0, in_shape=(3, 2, 41))
    t = core.tile(layer)
    ptr, vals, runs = cp.encode_tiles(x, t.tiles, max_run)
    np.testing.assert_array_equal(cp.tile_entries(x, t.tiles, max_run), np.diff(ptr))
    for pe, (y0, y1, x0, x1) in enumerate(t.tiles):
        for c in range(len(x)):
            expected, run, kept = [], 0, 0
            for v in x[c, y0:y1, x0:x1].ravel():
                if v != 0 or run == max_run:
                    expected.append((v, run))
                    run = 0
                    kept = len(expected) if v != 0 else kept
                else:
                    run += 1
            row = slice(ptr[pe * len(x) + c], ptr[pe * len(x) + c + 1])
            assert list(zip(vals[row], runs[row], strict=True)) == expected[:kept]
    assert (t.tiles[:, 1] == t.tiles[:, 0]).any()          # 2 rows over 3 PEs: some empty
