"""EIE: outputs against numpy on the decoded matrices, the PE timing against a literal
cycle-by-cycle machine, the cycle bound, and the CLI."""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from accelsim import simulate
from accelsim.arch import eie as eie_core
from accelsim.cli import main
from accelsim.config import load_arch, with_overrides
from accelsim.errors import ConfigError, MappingError
from accelsim.fixedpoint import quantize
from accelsim.kernels import eie, exact_sums
from accelsim.sim.simulate import record_values
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms import apply_transforms
from tests.test_diannao import assert_bit_exact
from tests.thread_digests import run_digests

NET = network_from_dict({
    "name": "fcs", "input": [16, 3, 3],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 12, "kernel": 3, "pad": 1, "groups": 2,
         "relu": True},
        {"name": "p1", "kind": "pool", "op": "max", "kernel": 3},
        {"name": "fc1", "kind": "fc", "out_channels": 700, "relu": True},
        {"name": "fc2", "kind": "fc", "out_channels": 90},
    ]}, "fcs")
COMPRESS = [{"kind": "prune", "density": 0.08, "scope": "layer"}, {"kind": "share"}]


def eie_arch(**params):
    return with_overrides(load_arch("eie"), {f"core_params.{k}": v for k, v in params.items()})


@pytest.fixture(scope="module")
def compressed():
    return apply_transforms(NET, make_tensors(NET, 0), COMPRESS)


@pytest.fixture(scope="module")
def run(compressed):
    return simulate(eie_arch(n_pes=16), NET, tensors=compressed, keep_outputs=True)


def activation_columns(layer, x):
    """``positions x groups x C/G*R*S``: each output position's input window (im2col; an
    fc layer has one position, its whole input), the matrix the core's tokens come from."""
    top, left, bottom, right = layer.pad
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right)))
    windows = sliding_window_view(padded, (layer.kernel_h, layer.kernel_w), axis=(1, 2))
    windows = windows[:, ::layer.stride[0], ::layer.stride[1]][:, :layer.out_h, :layer.out_w]
    cg = layer.in_channels_per_group
    grouped = windows.reshape(layer.groups, cg, layer.out_h * layer.out_w,
                              layer.kernel_h * layer.kernel_w)
    return grouped.transpose(2, 0, 1, 3).reshape(layer.out_h * layer.out_w, layer.groups, -1)


def tokens(columns):
    """The LNZD's broadcast order of an activation matrix ``columns`` (``positions x groups
    x cols``), straight from the matrix: group by group, position by position, the non-zeros
    in column order; ``(column group * cols + c, position, value, index in the scan)``."""
    by_group = np.ascontiguousarray(columns.transpose(1, 0, 2))      # groups x positions x cols
    scan = np.flatnonzero(by_group)
    g, pos, c = np.unravel_index(scan, by_group.shape)
    return g * columns.shape[2] + c, pos, by_group.ravel()[scan], scan


def as_windows(columns):
    """An activation matrix (``positions x groups x cols``) as the padded input of 1 x 1
    windows over one row of ``positions``: the ``window`` arguments of the kernels."""
    positions, groups, cols = columns.shape
    x = np.ascontiguousarray(columns.reshape(positions, groups * cols).T)[:, None, :]
    return x, ((1, 1), (1, 1), (1, positions), groups)


def layer_windows(layer, x):
    """The padded input and the window arguments of ``layer`` on its input ``x``."""
    top, left, bottom, right = layer.pad
    return (np.pad(x, ((0, 0), (top, bottom), (left, right))),
            ((layer.kernel_h, layer.kernel_w), layer.stride, (layer.out_h, layer.out_w),
             layer.groups))


WINDOW_LAYERS = [
    {"name": "c", "kind": "conv", "out_channels": 6, "kernel": 3, "pad": 1, "groups": 2},
    {"name": "c", "kind": "conv", "out_channels": 4, "kernel": [3, 2], "stride": [2, 1]},
    {"name": "c", "kind": "conv", "out_channels": 4, "kernel": 5, "stride": 3, "pad": 2},
    {"name": "c", "kind": "conv", "out_channels": 12, "kernel": 3, "groups": 4, "pad": 1},
    {"name": "c", "kind": "fc", "out_channels": 9}]


def window_layer(spec, channels=4):
    return network_from_dict({"name": "w", "input": [channels, 9, 8], "layers": [spec]},
                             "w").layer("c")


@pytest.mark.parametrize(("spec", "dtype"), [(s, d) for s in WINDOW_LAYERS
                                             for d in (np.int16, np.float32)])
def test_window_tokens_equal_the_im2col_matrix_tokens(spec, dtype):
    """The tokens read window by window from the padded input equal those of the im2col
    matrix (column, position and value, in order)."""
    layer = window_layer(spec)
    rng = np.random.default_rng(len(str(spec)))
    x = (rng.integers(-99, 99, (4, 9, 8)) * (rng.random((4, 9, 8)) < 0.5)).astype(dtype)
    expected = tokens(activation_columns(layer, x))[:3]
    padded, window = layer_windows(layer, x)
    got = eie.window_tokens(padded, *window)
    assert len(got[0]) > 0
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == b.dtype or a.dtype == np.int64
        np.testing.assert_array_equal(a, b)


# ---- values ---------------------------------------------------------------------------------
def test_outputs_equal_the_integer_reference(run, compressed):
    assert_bit_exact(NET, compressed, run)


def test_each_layer_equals_numpy_on_the_decoded_matrix(run, compressed):
    """The exact sums: numpy's product of the decoded (pruned, shared, quantized) matrix and
    the layer's input codes, then the same bias / ReLU / rounding the reference applies."""
    layer = NET.layer("fc1")
    x = run.outputs["p1"]
    codes = quantize(compressed.weights["fc1"]).q
    stored = eie_core.storage(layer, codes, eie_core.Params(n_pes=16))
    decoded = eie.decode(stored.csc)[0].astype(np.int64)
    exact = decoded @ x.q.reshape(-1).astype(np.int64)
    acc_frac = x.frac + quantize(compressed.weights["fc1"]).frac
    expected = np.maximum(np.floor(exact * 2.0 ** -acc_frac * 2.0 ** run.outputs["fc1"].frac
                                   + 0.5), 0)
    np.testing.assert_array_equal(run.outputs["fc1"].q.reshape(-1),
                                  np.clip(expected, -32768, 32767))


def test_kernel_sums_are_the_matrix_vector_products():
    rng = np.random.default_rng(1)
    w = (rng.integers(-8, 8, (2, 150, 60)) * (rng.random((2, 150, 60)) < 0.1)).astype(np.int16)
    x = (rng.integers(-50, 50, (5, 2, 60)) * (rng.random((5, 2, 60)) < 0.4)).astype(np.int16)
    padded, window = as_windows(x)
    acc = eie.column_sums(w, padded, *window)
    expected = np.einsum("grc,pgc->pgr", w.astype(np.int64), x.astype(np.int64))
    np.testing.assert_array_equal(acc, expected.reshape(5, -1))


@pytest.mark.parametrize("density", [0.0, 0.15, 0.5, 1.0])
@pytest.mark.parametrize("spec", WINDOW_LAYERS)
def test_exact_sums_equal_the_pes_token_order_sums(spec, density):
    """The fixed-point run's sums (:mod:`accelsim.kernels.exact_sums`, one GEMM) equal the
    PEs' products added token by token (:func:`eie.column_sums`), bit for bit: padding,
    stride, groups, fc, weight densities 0-100 %."""
    layer = window_layer(spec)
    rng = np.random.default_rng(int(density * 100) + len(str(spec)))
    x = (rng.integers(-32768, 32767, (4, 9, 8)) * (rng.random((4, 9, 8)) < 0.6)
         ).astype(np.int16)
    w = (rng.integers(-32768, 32767, layer.weight_shape)
         * (rng.random(layer.weight_shape) < density)).astype(np.int16)
    sums = exact_sums.conv_sums(x, w, layer.stride, layer.pad)
    padded, window = layer_windows(layer, x)
    tokenwise = eie.column_sums(eie_core.weight_matrices(layer, w), padded, *window)
    assert sums.dtype == tokenwise.dtype == np.int64
    np.testing.assert_array_equal(sums.reshape(layer.out_channels, -1), tokenwise.T)


def per_pe_walk(csc, col, pos, val, positions, entries_per_read):
    """Each PE walks its entries of every token's column in its own array: sums in float64
    or int64, in token order per accumulator, and the entry, MAC, padding, read counts
    (the read counts from the encoded pointers)."""
    groups, rows, _ = csc.shape
    kind = np.int64 if np.issubdtype(csc.value.dtype, np.integer) else np.float64
    acc = np.zeros((positions, groups * rows), kind)
    stats = np.zeros((csc.n_pes, eie.N_STATS), np.int64)
    for p in range(csc.n_pes):
        for k in range(len(col)):
            e0, e1 = csc.base[p] + csc.ptr[p, col[k]], csc.base[p] + csc.ptr[p, col[k] + 1]
            stats[p, eie.ENTRIES] += e1 - e0
            stats[p, eie.BUSY] += max(e1 - e0, 1)
            if e1 > e0:
                first, end = csc.ptr[p, col[k]], csc.ptr[p, col[k] + 1]
                stats[p, eie.SRAM_READS] += (end - 1) // entries_per_read \
                    - first // entries_per_read + 1
            for e in range(e0, e1):
                if csc.value[e] == 0:
                    stats[p, eie.PADDING] += 1
                    continue
                stats[p, eie.MACS] += 1
                acc[pos[k], csc.out_row[e]] += kind(csc.value[e]) * kind(val[k])
    return acc, stats


@pytest.mark.parametrize(("dtype", "groups", "bits", "seed"), [
    (np.int16, 1, 4, 0), (np.int16, 3, 2, 1), (np.float32, 1, 2, 2), (np.float32, 2, 4, 3)])
def test_column_runs_equal_the_per_pe_walk(dtype, groups, bits, seed):
    """The MAC pass (a token's column in one run, token ranges in parallel) and the counts
    from each column's tokens equal every PE walking its own entries, bit for bit: random
    sparse matrices with padding entries, many positions (several ranges)."""
    rng = np.random.default_rng(seed)
    rows, cols, positions = 200, 24, 90
    density = rng.random(cols) * 0.5                              # uneven columns
    w = rng.integers(-300, 300, (groups, rows, cols)) * (rng.random((groups, rows, cols))
                                                         < density)
    x = rng.integers(-900, 900, (positions, groups, cols)) * (
        rng.random((positions, groups, cols)) < 0.5)
    if dtype == np.float32:
        w, x = w * rng.random(w.shape) / 7, x * rng.random(x.shape) / 3
    w, x = w.astype(dtype), x.astype(dtype)
    csc = eie.encode(w, 5, bits)
    assert csc.padding > 0
    padded, window = as_windows(x)
    acc = eie.column_sums(w, padded, *window)
    _, _, stats, _ = eie.run_pes(eie.count_columns(w, 5, bits), padded, *window,
                                 queue_depth=3, entries_per_read=4, scan_width=5)
    col, pos, val, _ = tokens(x)
    acc_ref, stats_ref = per_pe_walk(csc, col, pos, val, positions, 4)
    assert acc.dtype == acc_ref.dtype
    np.testing.assert_array_equal(acc, acc_ref)
    np.testing.assert_array_equal(stats, stats_ref)


@pytest.mark.parametrize("density", [0.0, 0.15, 0.5, 1.0])
@pytest.mark.parametrize(("n_pes", "groups", "bits"), [(1, 1, 4), (5, 2, 2), (64, 1, 4),
                                                       (300, 1, 1), (7, 3, 3)])
def test_column_counts_equal_the_encoded_entries(n_pes, groups, bits, density):
    """:func:`eie.count_columns` gives each PE's entries (padding included) and non-zeros
    per column as the encoded CSC holds them, without the entries."""
    rng = np.random.default_rng(n_pes + int(100 * density))
    w = (rng.integers(1, 9, (groups, 250, 19)) * (rng.random((groups, 250, 19)) < density)
         ).astype(np.int16)
    w[0, :, 3] = 0                                                 # an empty column
    w[-1, 200:, 5] = 0                                             # a long gap
    counts = eie.count_columns(w, n_pes, bits)
    csc = eie.encode(w, n_pes, bits)
    np.testing.assert_array_equal(counts.column_entries, np.diff(csc.ptr, axis=1))
    np.testing.assert_array_equal(counts.ptr(), csc.ptr)
    nonzero = np.array([[np.count_nonzero(csc.value[csc.base[p] + csc.ptr[p, c]:
                                                    csc.base[p] + csc.ptr[p, c + 1]])
                         for c in range(groups * 19)] for p in range(n_pes)])
    np.testing.assert_array_equal(counts.column_nonzeros, nonzero.reshape(n_pes, -1))
    assert (counts.entries, counts.padding, counts.nonzeros) == (
        csc.entries, csc.padding, np.count_nonzero(w))
    np.testing.assert_array_equal(counts.pe_entries(), np.diff(csc.base))
    np.testing.assert_array_equal(eie.decode(csc), w)


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_distinct_nonzero_equals_numpys_unique(dtype):
    rng = np.random.default_rng(5)
    for high in (1, 3, 40, 32768):
        w = rng.integers(-high, high, (3, 50, 70)) * (rng.random((3, 50, 70)) < 0.3)
        w = w.astype(dtype)
        assert eie.distinct_nonzero(w) == len(np.unique(w[w != 0]))
    assert eie.distinct_nonzero(np.array([-32768, 32767, 0, -32768], np.int16)) == 2


# ---- timing ---------------------------------------------------------------------------------
def cycle_by_cycle(entries, token_col, token_scan, depth, scan_width):
    """A literal clocked machine: each cycle every idle PE pops its queue's head (if it
    arrived last cycle or before) and every busy PE does one entry, then the LNZD pushes the
    next non-zero to all queues if it has been scanned and no queue is full."""
    n_pes = entries.shape[0]
    queues = [deque() for _ in range(n_pes)]
    left = [0] * n_pes
    busy = [0] * n_pes
    finish = [0] * n_pes
    k, t, stalls = 0, 0, 0
    while k < len(token_col) or any(queues) or any(left):
        for p in range(n_pes):
            if not left[p] and queues[p] and queues[p][0][1] <= t:
                column, _ = queues[p].popleft()
                left[p] = max(int(entries[p, column]), 1)
            if left[p]:
                left[p] -= 1
                busy[p] += 1
                if not left[p]:
                    finish[p] = t + 1
        if k < len(token_col) and token_scan[k] // scan_width <= t:
            if all(len(q) < depth for q in queues):
                for q in queues:
                    q.append((token_col[k], t + 1))
                k += 1
            else:
                stalls += 1
        t += 1
    return max(finish), stalls, busy


def recurrence(entries, token_col, token_scan, depth, scan_width):
    """The module docstring's recurrence, every PE of every token (no shortcut for PEs that
    finish together): the cycle the last PE finishes and the LNZD's stall cycles."""
    n_pes = entries.shape[0]
    started, finish = [], [0] * n_pes
    broadcast, stalls = -1, 0
    for k, (column, scan) in enumerate(zip(token_col, token_scan, strict=True)):
        ready = max(broadcast + 1, scan // scan_width)
        b = max(ready, max(started[k - depth])) if k >= depth else ready
        stalls += b - ready
        broadcast = b
        started.append([max(finish[p], b + 1) for p in range(n_pes)])
        finish = [s + max(int(entries[p, column]), 1) for p, s in enumerate(started[k])]
    return max(finish), stalls


@pytest.mark.parametrize(("depth", "seed"), [(1, 0), (2, 1), (8, 2), (8, 3)])
def test_pe_timing_equals_a_cycle_by_cycle_machine(depth, seed):
    rng = np.random.default_rng(seed)
    w = (rng.integers(1, 4, (1, 96, 50)) * (rng.random((1, 96, 50)) < rng.random(50))
         ).astype(np.int16)                                   # columns of uneven density
    w[0, :, :10] = 1                                          # and some even ones
    x = (rng.random((3, 1, 50)) < 0.6).astype(np.int16)
    counts = eie.count_columns(w, 6)
    padded, window = as_windows(x)
    end, stalls, stats, n = eie.run_pes(counts, padded, *window, queue_depth=depth,
                                        entries_per_read=8, scan_width=6)
    col, _, _, scan = tokens(x)
    end_ref, stalls_ref, busy_ref = cycle_by_cycle(counts.column_entries, col, scan, depth, 6)
    assert (end, stalls, n) == (end_ref, stalls_ref, len(col))
    assert list(stats[:, eie.BUSY]) == busy_ref


@pytest.mark.parametrize("depth", [1, 2, 8])
@pytest.mark.parametrize("density", [0.0, 0.15, 0.5, 1.0])
@pytest.mark.parametrize("spec", WINDOW_LAYERS)
def test_pe_timing_on_windows_equals_the_plain_recurrence(spec, density, depth):
    """The window walk (PEs that finish together and a column that costs them the same as
    one number) equals the recurrence over every PE of every im2col token: padding, stride,
    groups, fc; densities 0-100 %, which make every column, some or none cost its PEs the
    same; the scan width below, at and above a window's size."""
    layer = window_layer(spec, channels=8)
    rng = np.random.default_rng(depth + int(100 * density) + len(str(spec)))
    x = (rng.integers(1, 99, (8, 9, 8)) * (rng.random((8, 9, 8)) < 0.7)).astype(np.int16)
    w = (rng.integers(1, 9, layer.weight_shape) * (rng.random(layer.weight_shape) < density)
         ).astype(np.int16)
    matrices = eie_core.weight_matrices(layer, w)
    col, _, _, scan = tokens(activation_columns(layer, x))
    padded, window = layer_windows(layer, x)
    for n_pes in (2, 3):
        counts = eie.count_columns(matrices, n_pes, 2)
        for scan_width in (1, 5, 200):
            end, stalls, _, n = eie.run_pes(counts, padded, *window, queue_depth=depth,
                                            entries_per_read=4, scan_width=scan_width)
            assert (end, stalls, n) == (*recurrence(counts.column_entries, col, scan, depth,
                                                    scan_width), len(col))


def test_deeper_queues_absorb_imbalance():
    """PE 0 is slow on columns 0-7, PE 1 on 8-15, and so on (4 entries against none): a
    queue of 1 makes the fast PE wait for the slow one, a queue of 8 lets it run ahead."""
    w = np.zeros((1, 8, 40), np.int16)
    heavy_on_0 = (np.arange(40) // 8) % 2 == 0
    w[0, 0::2, heavy_on_0] = w[0, 1::2, ~heavy_on_0] = 1
    counts = eie.count_columns(w, 2)
    padded, window = as_windows(np.ones((1, 1, 40), np.int16))
    shallow = eie.run_pes(counts, padded, *window, queue_depth=1, entries_per_read=8,
                          scan_width=2)
    deep = eie.run_pes(counts, padded, *window, queue_depth=8, entries_per_read=8,
                       scan_width=2)
    assert shallow[0] > deep[0] and shallow[1] > deep[1]
    busiest = deep[2][:, eie.BUSY].max()         # 24 columns x 4 entries + 16 x 1 cycle
    assert busiest == 24 * 4 + 16
    assert deep[0] == busiest + 1                # no PE ever waits, after the first broadcast


def test_cycles_cover_the_busiest_pe(run, compressed):
    """cycles >= the busiest PE's entries, counted here from the matrix and the input."""
    layers = run.layers.set_index("layer")
    for name in ("c1", "fc1", "fc2"):
        layer = NET.layer(name)
        inputs = run.outputs[layer.inputs[0]] if layer.inputs[0] in run.outputs else None
        x = (inputs.q if inputs is not None else quantize(compressed.input).q)
        stored = eie_core.storage(layer, quantize(compressed.weights[name]).q,
                                  eie_core.Params(n_pes=16))
        columns = activation_columns(layer, x.reshape(layer.in_shape))
        used = (columns != 0).reshape(columns.shape[0], -1)          # positions x columns
        per_pe = stored.counts.column_entries @ used.sum(axis=0)
        assert layers.loc[name, "busiest_pe_entries"] == per_pe.max()
        assert layers.loc[name, "cycles"] >= per_pe.max()
        assert 0 < layers.loc[name, "load_balance_efficiency"] <= 1
        assert layers.loc[name, "weights_shared"] == 1


def test_tables_and_outputs_do_not_depend_on_the_thread_count():
    """The CSC counts (PEs in parallel), the window walk and the exact sums (BLAS) at 1 and
    2 threads: the same per-layer table, counts and outputs."""
    setup = ("from tests.test_speed_golden import NETWORK as network, golden_tensors\n"
             "tensors = golden_tensors()")
    one, two = (run_digests(("eie",), setup, threads) for threads in (1, 2))
    assert one == two and len(one) == 1


@pytest.mark.parametrize("precision", ["fixed16", "fp32"])
def test_a_reuse_run_counts_the_tables_of_a_full_run(compressed, precision):
    """simulate(reuse=...) runs count_layer (no sums): every table column equals the full
    run's (grouped conv, pooling, fc; shared and, in fp32, unshared weights)."""
    arch = with_overrides(eie_arch(n_pes=16), {"precision": precision})
    full, values = record_values(arch, NET, tensors=compressed)
    counted = simulate(arch, NET, reuse=values)
    pd.testing.assert_frame_equal(counted.layers, full.layers)


def test_unshared_weights_run_with_raw_entries_and_say_so():
    tensors = make_tensors(NET, 0)
    result = simulate(eie_arch(n_pes=16), NET, tensors=tensors, keep_outputs=True)
    assert_bit_exact(NET, tensors, result)
    fc1 = result.layers.set_index("layer").loc["fc1"]
    assert fc1["weights_shared"] == 0 and fc1["entry_bits"] == 20
    assert "NOT shared" in fc1["mapping"]


def test_bad_queue_depth_is_one_line_naming_the_key():
    with pytest.raises(ConfigError, match="queue_depth"):
        eie_arch(queue_depth=0)


def test_cli_runs_eie_with_compression(tmp_path, capsys):
    net = tmp_path / "fcs.yaml"
    net.write_text("version: 1\nname: fcs\ninput: [64, 1, 1]\nsource: a test network of two "
                   "fc layers for the command line\nlayers:\n"
                   "  - {name: fc1, kind: fc, out_channels: 200, relu: true}\n"
                   "  - {name: fc2, kind: fc, out_channels: 10}\n")
    assert main(["run", "--arch", "eie", "--workload", str(net), "--transform",
                 "prune:density=0.1,scope=layer", "--transform", "share:values=16"]) == 0
    out = capsys.readouterr().out
    assert "on eie" in out and "share(k-means, 16 values" in out


def test_entries_wider_than_the_sram_word_are_one_line_naming_the_layer():
    net = network_from_dict({"name": "one", "input": [40, 1, 1], "layers": [
        {"name": "wide", "kind": "fc", "out_channels": 30}]}, "one")
    with pytest.raises(MappingError, match="eie.yaml: layer 'wide': its 20-bit CSC entries "
                                           ".*sram_width_bits 16"):
        simulate(eie_arch(sram_width_bits=16), net, tensors=make_tensors(net, 0))
    with pytest.raises(ConfigError, match="row_index_bits"):
        eie_arch(row_index_bits=8)
