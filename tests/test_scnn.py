"""SCNN: outputs against the reference, bank conflicts, strided waste, Kc groups, the dense
weakness, and the pruned networks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from accelsim import simulate
from accelsim.config import load_arch, with_overrides
from accelsim.errors import ConfigError
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms import apply_transforms
from tests.sparse_workloads import pruned_network
from tests.test_diannao import assert_bit_exact

UNLIMITED = {"dram.bytes_per_cycle": None, "dram.latency_cycles": 0,
             "core_params.noc_bytes_per_cycle": 1 << 20}
ONE_PE = {"core_params.pe_rows": 1, "core_params.pe_cols": 1, **UNLIMITED}


def scnn(**overrides):
    return with_overrides(load_arch("scnn"), overrides)


def one_layer(kind="conv", kernel=1, channels=1, filters=4, size=2, stride=1, pad=0):
    layer = {"name": "l", "kind": kind, "out_channels": filters}
    if kind == "conv":
        layer.update(kernel=kernel, pad=pad, stride=stride)
    return network_from_dict({"name": "one", "input": [channels, size, size],
                              "layers": [layer]}, "one")


def dense_tensors(net, seed=3):
    """No zero activation or weight (even after rounding to fixed16)."""
    tensors = make_tensors(net, seed)
    tensors.input[...] = np.abs(tensors.input) + 0.1
    for w in tensors.weights.values():
        w[...] = np.where(w < 0, -1, 1) * (np.abs(w) + 0.05)
    return tensors


def run(net, tensors, arch):
    result = simulate(arch, net, tensors=tensors, keep_outputs=True)
    assert_bit_exact(net, tensors, result)
    return result.layers.iloc[0]


def xor_bank(k, x, y, banks=32):
    """DNNsim's hash, written out independently of the kernel."""
    high = ((k & 4) << 2) ^ ((x & 2) << 3) ^ ((y & 2) << 3)
    return (high + ((x & 1) << 3) + ((y & 1) << 2) + (k & 3)) % banks


# ---- the crossbar and its banks, by hand ----------------------------------------------------
@pytest.mark.parametrize("bank_hash", ["single", "xor", "linear"])
def test_bank_conflicts_stall_by_the_busiest_bank(bank_hash):
    # 1 PE, 1x1 conv, 1 input channel, 4 filters, 2x2 input, all non-zero: one vector cycle
    # of 4 weights (k = 0..3) x 4 activations (x, y in {0, 1}), all 16 products land.
    net = one_layer()
    row = run(net, dense_tensors(net), scnn(**ONE_PE, **{"core_params.bank_hash": bank_hash}))
    bank = {"single": lambda k, x, y: 0, "xor": xor_bank,
            "linear": lambda k, x, y: (k + x + 3 * y) % 32}[bank_hash]
    busiest = max(Counter(bank(k, x, y) for k in range(4) for x in range(2)
                          for y in range(2)).values())
    assert row["bank_stall_cycles"] == busiest - 1
    assert row["compute_cycles"] == busiest
    assert row["products"] == row["multipliers_mac"] == 16
    if bank_hash == "single":
        assert row["bank_stall_cycles"] == 15


def test_stride_two_discards_the_off_grid_products():
    # 1x1 kernel, stride 2, 4x4 input, 1 filter: 16 products (4 activation vectors x 1
    # weight vector = 4 cycles), of which only the 4 on the stride grid land.
    net = one_layer(filters=1, size=4, stride=2)
    row = run(net, dense_tensors(net), scnn(**ONE_PE))
    assert row["products"] == 16
    assert row["multipliers_mac"] == row["macs"] == 4
    assert row["wasted_multiplies"] == row["discarded_products"] == 12
    assert row["multipliers_op"] == 12
    assert row["compute_cycles"] == 4
    assert row["idle_vector_slots"] == 4 * 16 - 16


def test_long_zero_runs_store_placeholders_that_are_multiplied():
    # One activation at the end of a 20-element tile: a run of 19 zeros needs one placeholder
    # (16 elements) and then the value with run 3: 2 entries, 2 products, 1 effectual.
    net = network_from_dict({"name": "row", "input": [1, 1, 20], "layers": [
        {"name": "l", "kind": "conv", "out_channels": 1, "kernel": 1}]}, "row")
    tensors = dense_tensors(net)
    tensors.input[...] = 0
    tensors.input[0, 0, 19] = 1.0
    row = run(net, tensors, scnn(**ONE_PE))
    assert row["products"] == 2
    assert row["multipliers_mac"] == 1
    assert row["compressed_input_bytes"] == -(-2 * 20 // 8)


def test_trailing_zeros_need_no_entries():
    net = network_from_dict({"name": "row", "input": [1, 1, 40], "layers": [
        {"name": "l", "kind": "conv", "out_channels": 1, "kernel": 1}]}, "row")
    tensors = dense_tensors(net)
    tensors.input[...] = 0
    tensors.input[0, 0, 0] = 1.0
    row = run(net, tensors, scnn(**ONE_PE))
    assert row["products"] == row["multipliers_mac"] == 1
    assert row["compressed_input_bytes"] == -(-20 // 8)


# ---- layer-level behaviour ------------------------------------------------------------------
def test_dense_layer_is_no_faster_than_the_dense_baseline_at_1024_multipliers():
    net = one_layer(kernel=3, channels=16, filters=32, size=32)
    tensors = dense_tensors(net)
    dense = with_overrides(load_arch("phantom2d_dense"), {
        "core_params.mesh_rows": 8, "core_params.mesh_cols": 8, "core_params.threads": 16,
        **UNLIMITED})
    sparse_row = run(net, tensors, scnn(**UNLIMITED))
    dense_row = run(net, tensors, dense)
    assert sparse_row["multipliers_mac"] == net.layers[0].macs     # no padding: all effectual
    assert sparse_row["compute_cycles"] >= dense_row["compute_cycles"]
    assert sparse_row["cycles"] >= dense_row["cycles"]


def test_pruned_strided_layer_counters_add_up():
    net = one_layer(kernel=3, channels=16, filters=24, size=20, stride=2, pad=1)
    tensors = apply_transforms(net, make_tensors(net, 5), [{"kind": "prune", "density": 0.4}])
    row = run(net, tensors, scnn())
    assert 0 < row["multipliers_mac"] <= row["macs"]
    assert row["effectual_multiplies"] == row["multipliers_mac"]
    assert row["products"] == row["multipliers_mac"] + row["wasted_multiplies"]
    assert row["discarded_products"] > 0                          # stride 2 wastes products
    assert row["bank_stall_cycles"] >= 0 and row["barrier_idle_pe_cycles"] >= 0
    assert 0 < row["multiplier_utilization"] <= 1


def test_kc_comes_from_the_accumulator_size():
    # 16x16 input on 8x8 PEs: 2x2 tiles, a 3x3 pad-1 kernel reaches a 4x4 output region.
    net = one_layer(kernel=3, channels=4, filters=20, size=16, pad=1)
    tensors = make_tensors(net, 2)
    big = run(net, tensors, scnn())
    small = run(net, tensors, scnn(**{"core_params.accumulator_entries": 64}))
    assert (big["kc"], big["kc_groups"]) == (20, 1)
    assert (small["kc"], small["kc_groups"]) == (4, 5)
    assert small["multipliers_mac"] == big["multipliers_mac"]
    assert small["halo_bytes"] == big["halo_bytes"]               # same halos, in 5 pieces


def test_fc_runs_on_one_pe_and_the_others_wait_at_the_barrier():
    net = one_layer(kind="fc", channels=6, filters=10, size=3)
    row = run(net, make_tensors(net, 4), scnn(**UNLIMITED))
    pes = 64
    assert row["barrier_idle_pe_cycles"] == (pes - 1) * row["compute_cycles"]
    assert row["kc_groups"] == 1


def test_bad_params_name_the_key():
    with pytest.raises(ConfigError, match="bank_hash"):
        scnn(**{"core_params.bank_hash": "modulo"})
    with pytest.raises(ConfigError, match="mult_f"):
        scnn(**{"core_params.mult_f": 0})


# ---- whole networks -------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("workload", ["vgg16", "mobilenet_v1"])
def test_pruned_network_bit_exact(workload):
    network, tensors = pruned_network(workload)
    result = simulate(scnn(), network, tensors=tensors, keep_outputs=True)
    assert_bit_exact(network, tensors, result)
    layers = result.layers
    assert (layers["utilization"] <= 1).all()
    conv = layers[layers["kind"].isin(["conv", "fc"])]
    assert (conv["multipliers_mac"] < conv["macs"]).all()
    assert (conv["multiplier_utilization"] <= 1).all()
    assert conv["bank_stall_cycles"].sum() > 0


# ---- the kernel against a plain loop over the vector cycles --------------------------------
def _entries(seq, max_run):
    """(value, position) of SCNN's compressed entries of ``seq`` (placeholders included)."""
    entries, run, kept = [], 0, 0
    for pos, v in enumerate(seq):
        if v != 0 or run == max_run:
            entries.append((v, pos))
            run = 0
            kept = len(entries) if v != 0 else kept
        else:
            run += 1
    return entries[:kept]


def _reference_pes(x, w, t, f_vec, i_vec, banks, bank):
    """Per PE: group cycles and (products, effectual, landed, stalls, vector cycles), and the
    summed outputs, from the module docstring's rules, one vector cycle at a time."""
    c_all, cg, rr, ss, sh, sw, pt, pl, out_h, out_w, h1, w1 = t.geom
    cycles = np.zeros((len(t.tiles), len(t.kgroups)), np.int64)
    stats = np.zeros((len(t.tiles), 5), np.int64)
    out = np.zeros((w.shape[0], out_h, out_w), np.int64)
    for pe, (y0, y1, x0, x1) in enumerate(t.tiles):
        for g, (k0, k1, c0, n_c) in enumerate(t.kgroups):
            for ci in range(n_c):
                acts = [(v, y0 + p // (x1 - x0) + pt, x0 + p % (x1 - x0) + pl) for v, p in
                        _entries(x[c0 + ci, y0:y1, x0:x1].ravel(), 15)]
                wts = [(v, k0 + p // (rr * ss), p // ss % rr, p % ss) for v, p in
                       _entries(w[k0:k1, ci].ravel(), 15)]
                for i0 in range(0, len(acts) if wts else 0, i_vec):
                    for j0 in range(0, len(wts), f_vec):
                        load = Counter()
                        for wv, k, r, s in wts[j0:j0 + f_vec]:
                            for av, ay, ax in acts[i0:i0 + i_vec]:
                                stats[pe, 0] += 1
                                oy, ox = ay - r, ax - s
                                if not (0 <= oy < h1 and 0 <= ox < w1) or oy % sh or ox % sw:
                                    continue
                                load[bank(k, ox // sw, oy // sh) % banks] += 1
                                stats[pe, 2] += 1
                                if av and wv:
                                    stats[pe, 1] += 1
                                    out[k, oy // sh, ox // sw] += int(av) * int(wv)
                        worst = max(load.values(), default=0)
                        cycles[pe, g] += max(worst, 1)
                        stats[pe, 3] += max(worst - 1, 0)
                        stats[pe, 4] += 1
    return cycles, stats, out


@pytest.mark.parametrize("stride,banks,bank_hash", [(1, 32, "xor"), (2, 32, "xor"),
                                                    (1, 64, "xor"), (1, 7, "linear"),
                                                    (2, 5, "single")])
def test_kernel_matches_a_plain_loop_over_vector_cycles(stride, banks, bank_hash):
    """With the sums (product by product) and counting only (at stride 1 under the XOR hash
    with >= 32 banks: bank counters as bytes of a word, ``cartesian._xor_counts``)."""
    from accelsim.arch.scnn import Core
    from accelsim.kernels import cartesian as cp
    rng = np.random.default_rng(stride * banks)
    net = one_layer(kernel=3, channels=3, filters=5, size=9, stride=stride, pad=1)
    layer = net.layers[-1]
    core = Core(scnn(**{"core_params.pe_rows": 2, "core_params.pe_cols": 2,
                        "core_params.banks": banks, "core_params.bank_hash": bank_hash,
                        "core_params.accumulator_entries": 40}))
    t = core.tile(layer)
    x = (rng.integers(-9, 10, (3, 9, 9)) * (rng.random((3, 9, 9)) < 0.5)).astype(np.int16)
    x[0, :, :] = 0                                # a channel without entries
    x[1, 0, 0], x[1, 8, 8] = 5, 6                 # a zero run longer than 15: a placeholder
    x[1, 1:8] = 0
    w = (rng.integers(-9, 10, (5, 3, 3, 3)) * (rng.random((5, 3, 3, 3)) < 0.6)).astype(np.int16)
    acc, cycles, stats = cp.run_pes(
        t.geom, t.tiles, t.origin, t.extent, t.kgroups, cp.encode_tiles(x, t.tiles, 15),
        cp.encode_weights(w, t.kgroups, 15), f_vec=4, i_vec=4, banks=banks,
        hash_kind=cp.HASH_XOR if bank_hash == "xor" else
        cp.HASH_LINEAR if bank_hash == "linear" else cp.HASH_SINGLE, compute=True, n_out=5)
    bank = {"xor": lambda k, ox, oy: xor_bank(k, ox, oy, 1 << 10),
            "linear": lambda k, ox, oy: k + ox + 3 * oy, "single": lambda k, ox, oy: 0}
    want_cycles, want_stats, want_out = _reference_pes(x, w, t, 4, 4, banks, bank[bank_hash])
    assert len(t.kgroups) > 1 and want_stats[:, 3].sum() > 0 and (want_stats[:, 0] >
                                                                   want_stats[:, 2]).any()
    np.testing.assert_array_equal(cycles, want_cycles)
    np.testing.assert_array_equal(stats[:, [cp.PRODUCTS, cp.EFFECTUAL, cp.LANDED, cp.STALLS,
                                            cp.VECTOR_CYCLES]], want_stats)
    np.testing.assert_array_equal(core._merge(layer, acc, t), want_out)
    _, count_cycles, count_stats = cp.run_pes(
        t.geom, t.tiles, t.origin, t.extent, t.kgroups, cp.encode_tiles(x, t.tiles, 15),
        cp.encode_weights(w, t.kgroups, 15), f_vec=4, i_vec=4, banks=banks,
        hash_kind=cp.HASH_XOR if bank_hash == "xor" else
        cp.HASH_LINEAR if bank_hash == "linear" else cp.HASH_SINGLE, compute=False, n_out=5)
    np.testing.assert_array_equal(count_cycles, want_cycles)
    np.testing.assert_array_equal(count_stats, stats)
