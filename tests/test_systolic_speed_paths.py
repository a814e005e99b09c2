"""The systolic core's fast paths (issue 22) against the plain computations they replace:
the exact int16 sums, the zero-operand count, the one-walk prefetch sets of a filter, the
USER-mode read without CSR pointers, the write buffer's quiet words in one step, CALC
mode's counted folds, and USER mode's ws rows served without set tables (positions in the
prefetch sequence), on random layers and stressing GEMMs."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.kernels import scalesim_memory as mem
from accelsim.kernels import systolic as sk

LAYERS = [  # (channels, H, W, filters, kernel, stride, groups)
    (5, 9, 8, 7, (3, 3), (1, 1), 1), (6, 11, 10, 9, (3, 2), (2, 1), 3),
    (8, 7, 7, 8, (3, 3), (2, 2), 8), (40, 3, 3, 11, (3, 3), (1, 1), 1),   # fc-like: 1 position
    (4, 6, 6, 5, (1, 1), (1, 1), 1)]


def random_layer(rng, channels, h, w, filters, kernel, groups, dtype=np.int16):
    x = rng.integers(-32768, 32768, (h, w, channels)) * (rng.random((h, w, channels)) < 0.6)
    weights = rng.integers(-32768, 32768, (filters, channels // groups, *kernel)) * (
        rng.random((filters, channels // groups, *kernel)) < 0.7)
    return x.astype(dtype), weights.astype(dtype)


def reference_sums(x, weights, stride, groups):
    """``P x Q x M`` int64 sums, window by window (the definition)."""
    m_total, cg, kh, kw = weights.shape
    p_out, q_out = (x.shape[0] - kh) // stride[0] + 1, (x.shape[1] - kw) // stride[1] + 1
    out = np.zeros((p_out, q_out, m_total), np.int64)
    mg = m_total // groups
    for oy in range(p_out):
        for ox in range(q_out):
            patch = x[oy * stride[0]:oy * stride[0] + kh, ox * stride[1]:ox * stride[1] + kw]
            for m in range(m_total):
                g = m // mg
                window = patch[:, :, g * cg:(g + 1) * cg].astype(np.int64)      # ky, kx, c
                out[oy, ox, m] = (window * weights[m].transpose(1, 2, 0)).sum()
    return out


@pytest.mark.parametrize("case", range(len(LAYERS)))
def test_int16_sums_and_zero_operand_macs_equal_the_definition(case):
    channels, h, w, filters, kernel, stride, groups = LAYERS[case]
    rng = np.random.default_rng(case)
    x, weights = random_layer(rng, channels, h, w, filters, kernel, groups)
    expected = reference_sums(x, weights, stride, groups)
    got = sk.conv_values(x, weights, stride, groups)
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected.astype(np.float64))
    ones_x, ones_w = (x != 0).astype(np.int16), (weights != 0).astype(np.int16)
    nonzero_products = reference_sums(ones_x, ones_w, stride, groups).sum()
    all_products = expected.size * (channels // groups) * kernel[0] * kernel[1]
    assert sk.zero_operand_macs(x, weights, stride, groups) == all_products - nonzero_products


@pytest.mark.parametrize(("dataflow", "faithful"), [("os", False), ("ws", False),
                                                    ("ws", True), ("is", True)])
def test_filter_sets_from_one_walk_equal_the_stored_sequence(dataflow, faithful):
    """A filter's prefetch matrix holds each weight once: its set ids from the walk equal
    build_sets on the stored sequence, whose pointers are then 0, 1, ..., n; an ifmap
    operand that repeats addresses is caught (and falls back)."""
    g = sk.geometry(dataflow, 4, 3, (9, 8), 5, (3, 3), (1, 1), 7, (7, 6), faithful)
    tables = sk.address_tables(g)
    fmat = np.full((1, 1), -1, np.int64)
    none = np.empty(0, np.int64)
    for operand, n_addresses, single in ((sk.FILTER, int(g[sk.G_WIN] * g[sk.G_M]), True),
                                         (sk.IFMAP, int(g[sk.G_HP] * g[sk.G_WP] * 5), False)):
        rows, cols, rolled = sk.prefetch_shape(g, operand)
        sequence = np.empty(rows * cols, np.int64)
        n, _ = sk._prefetch_walk(g, *tables, fmat, operand, rows, cols, rolled, sequence,
                                 none, 3)
        ptr, ids = mem.build_sets(sequence[:n], n_addresses, 3)
        state, ptr_fast, ids_fast = sk._user_buffer(g, tables, fmat, operand, 300, 2,
                                                    n_addresses)
        assert state[mem.USR_SETS] == n // 3 + 1
        if single:
            np.testing.assert_array_equal(ptr, np.arange(n_addresses + 1))
            assert len(ptr_fast) == 0
        else:
            np.testing.assert_array_equal(ptr_fast, ptr)
        np.testing.assert_array_equal(ids_fast, ids)
        assert (len(ptr_fast) == 0) == single


@pytest.mark.parametrize("faithful", [False, True])
def test_user_read_without_pointers_equals_the_csr(faithful):
    """Random demand rows through a USER-mode buffer whose addresses sit in one set each:
    stalls, DRAM words and state equal with ``ptr`` empty and with ``ptr = 0, 1, ..., n``."""
    rng = np.random.default_rng(7)
    n_addresses, set_words = 500, 5
    ids = rng.permutation(n_addresses) // set_words
    demand = [rng.integers(0, n_addresses, 6) if cycle % 3 else np.empty(0, np.int64)
              for cycle in range(200)]
    runs = []
    for ptr, id_type in ((np.arange(n_addresses + 1), np.int64),
                         (np.empty(0, np.int64), np.int32)):
        state = mem.user_state(100, 3, n_addresses, n_addresses, set_words)
        fold_words = np.zeros(4, np.int64)
        stalls = [mem.user_read(state, ptr, ids.astype(id_type), addrs, len(addrs), cycle,
                                cycle // 50, fold_words, faithful)
                  for cycle, addrs in enumerate(demand)]
        runs.append((stalls, state, fold_words))
    assert runs[0][0] == runs[1][0] and any(runs[0][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


def write_row_word_by_word(st, lines, n_words, cycle, fold, fold_words, faithful):
    """SCALE-Sim's ``service_writes`` as written: every word's bookkeeping in turn."""
    now = cycle
    bw = st[mem.WR_BW]
    for _ in range(n_words):
        st[mem.WR_FREE] -= 1
        st[mem.WR_LINE_IDX] += 1
        if st[mem.WR_LINE_IDX] == bw:
            mem._flush_line(st, lines)
        if now < st[mem.WR_DRAIN_END]:
            if st[mem.WR_FREE] <= 0:
                now = st[mem.WR_DRAIN_END]
        elif st[mem.WR_FREE] < st[mem.WR_ACTIVE]:
            mem._flush_line(st, lines)
            st[mem.WR_DRAIN_END] = mem._drain(st, lines, now, fold, fold_words, faithful)
    return now


@pytest.mark.parametrize(("words", "bandwidth"), [(7, 1), (40, 3), (33, 10), (300, 32)])
@pytest.mark.parametrize("faithful", [False, True])
def test_write_row_in_steps_equals_word_by_word(words, bandwidth, faithful):
    """Random rows of 0 to 4 x bandwidth + 9 outputs, at cycles that sometimes fall inside a
    drain: the serviced cycles (stalls), the buffer's state, its lines and DRAM words equal."""
    rng = np.random.default_rng(words * bandwidth)
    runs = []
    for write in (mem.write_row, write_row_word_by_word):
        state = mem.write_state(words, bandwidth)
        lines = np.zeros(20000, np.int64)
        fold_words = np.zeros(5, np.int64)
        cycle, serviced = 0, []
        for row in range(2000):
            n = int(rng.integers(0, 4 * bandwidth + 10)) if row % 7 else 0
            cycle = write(state, lines, n, cycle, row // 400, fold_words, faithful) + 1
            serviced.append(cycle)
        mem.drain_all(state, lines, cycle, 4, fold_words, faithful)
        runs.append((serviced, state, lines, fold_words))
        rng = np.random.default_rng(words * bandwidth)
    (fast, state, lines, fold_words), (slow, state_ref, lines_ref, fold_ref) = runs
    assert fast == slow
    assert np.diff(slow).max() > 1                          # some row waited for a drain
    np.testing.assert_array_equal(state, state_ref)
    np.testing.assert_array_equal(lines, lines_ref)
    np.testing.assert_array_equal(fold_words, fold_ref)


GEMMS = [  # (dataflow, rows, cols, padded (H, W), channels, kernel, stride, filters, kept)
    ("os", 4, 3, (9, 8), 5, (3, 3), (1, 1), 7, None),
    ("os", 4, 4, (6, 6), 8, (1, 1), (1, 1), 9, None),           # 1 x 1: repeat-free ifmap
    ("os", 3, 5, (3, 3), 40, (3, 3), (1, 1), 11, None),         # fc-like, batch 1
    ("ws", 4, 3, (10, 9), 8, (3, 3), (2, 2), 7, None),          # stride overrun (quirk 1)
    ("ws", 4, 4, (9, 8), 8, (3, 2), (1, 1), 6, None),           # blocks within one (ky, kx)
    ("ws", 3, 4, (9, 8), 5, (3, 3), (1, 1), 7, None),           # blocks across (ky, kx)
    ("ws", 4, 3, (8, 8), 4, (3, 3), (3, 3), 5, None),           # stride = kernel
    ("ws", 5, 4, (3, 3), 40, (3, 3), (1, 1), 13, None),         # fc-like, batch 1
    ("is", 4, 3, (9, 8), 8, (3, 3), (1, 1), 7, None),
    ("is", 4, 5, (11, 10), 3, (3, 3), (2, 2), 9, None),         # overrun, odd sizes
    ("is", 3, 3, (8, 8), 4, (2, 2), (1, 1), 5, np.array([0, 3, 5, 6, 9, 10, 12, 15])),
    ("ws", 4, 3, (8, 8), 4, (2, 2), (1, 1), 5, np.array([1, 2, 4, 7, 8, 11, 13, 14])),
    ("os", 4, 3, (8, 8), 4, (2, 2), (2, 2), 10, None),          # os, stride = kernel
    ("is", 3, 4, (3, 3), 40, (3, 3), (1, 1), 13, None),         # is, fc-like
    ("is", 4, 3, (9, 9), 4, (3, 3), (3, 3), 6, None),           # is, stride = kernel
    ("os", 7, 3, (7, 5), 3, (3, 3), (1, 1), 5, None),           # a last fold of 1 pixel
    ("is", 4, 7, (7, 5), 3, (3, 3), (1, 1), 5, None),           # a last fold of 1 pixel
    ("ws", 5, 5, (7, 8), 12, (3, 1), (2, 1), 7, None),          # held-back folds go stale
    ("os", 4, 3, (8, 9), 3, (3, 3), (1, 1), 11, None),          # os filter: a block's folds
    ("os", 3, 4, (6, 6), 8, (3, 3), (1, 1), 10, None),          # below / above an epoch
]


@pytest.mark.parametrize("case", range(len(GEMMS)))
@pytest.mark.parametrize("sram", [(300, 200, 120), (700, 900, 64), (5000, 5000, 5000)])
def test_calc_counted_folds_equal_the_address_walk(case, sram):
    """CALC mode's shortcuts (a repeat-free fold's rest counted after an epoch ends in it,
    an os filter's misses counted per fold) against the lookup of every address: the fold
    table, summary, utilization and DRAM figures equal, on small SRAMs (epochs end inside
    folds, data is refetched) and large."""
    dataflow, rows, cols, hw, channels, kernel, stride, filters, kept = GEMMS[case]
    out_hw = tuple(-(-(size - k + u) // u) for size, k, u in zip(hw, kernel, stride, strict=True))
    g = sk.geometry(dataflow, rows, cols, hw, channels, kernel, stride, filters, out_hw, False,
                    None if kept is None else len(kept))
    runs = [sk.simulate_layer(g, calc=True, sram_words=sram, words_per_cycle=(10, 10, 10),
                              kept=kept, shortcuts=counted) for counted in (True, False)]
    fast, walked = runs
    np.testing.assert_array_equal(fast["folds"], walked["folds"])
    np.testing.assert_array_equal(fast["summary"], walked["summary"])
    assert fast["dram"] == walked["dram"]
    assert fast["compute_utilization"] == walked["compute_utilization"]
    assert walked["dram"][0][0] > 0 and walked["dram"][1][0] > 0


WS_GEMMS = [  # (rows, cols, padded (H, W), channels, kernel, stride, filters): no overrun
    (4, 3, (7, 6), 5, (3, 3), (1, 1), 7),       # win 45 % 4 != 0, 7 % 3 != 0
    (5, 4, (9, 9), 4, (3, 3), (2, 2), 8),       # stride 2, the last fold's lanes padding
    (3, 5, (1, 1), 40, (1, 1), (1, 1), 13),     # fc at batch 1
    (8, 8, (6, 6), 2, (2, 2), (1, 1), 3),       # one row fold, one column fold
    (4, 4, (5, 8), 6, (1, 3), (1, 2), 9),       # 1 x 3 kernel, stride (1, 2)
]


def ws_geometry(case, faithful):
    rows, cols, hw, channels, kernel, stride, filters = WS_GEMMS[case]
    out_hw = tuple((size - k) // u + 1 for size, k, u in zip(hw, kernel, stride, strict=True))
    return sk.geometry("ws", rows, cols, hw, channels, kernel, stride, filters, out_hw,
                       faithful)


@pytest.mark.parametrize("case", range(len(WS_GEMMS)))
def test_ws_positions_and_filter_row_sets_match_the_prefetch_walk(case):
    """Without the sequence: each ws ifmap (pixel, element) entry's index from the diagonal
    starts holds that entry's address in the walked sequence, and each ws filter row's
    weights sit in consecutive sets first..last, as the walk's set ids say."""
    for faithful in (False, True):
        g = ws_geometry(case, faithful)
        assert sk._no_overrun(g)
        tables = sk.address_tables(g)
        fmat = np.full((1, 1), -1, np.int64)
        none = np.empty(0, np.int64)
        rows, cols, rolled = sk.prefetch_shape(g, sk.IFMAP)
        sequence = np.empty(rows * cols, np.int64)
        n, _ = sk._prefetch_walk(g, *tables, fmat, sk.IFMAP, rows, cols, rolled, sequence,
                                 none, 1)
        starts = sk.ws_ifmap_diagonals(g)
        assert starts[-1] == n
        pixels, window = tables
        for p in range(int(g[sk.G_PX])):
            for t in range(int(g[sk.G_WIN])):
                assert sequence[sk._ws_position(g, starts, p, t)] == pixels[p, 0] + window[t, 0]
        set_words = 3
        rows, cols, rolled = sk.prefetch_shape(g, sk.FILTER)
        ids = np.full(int(g[sk.G_WIN] * g[sk.G_M]), -1, np.int64)
        sk._prefetch_walk(g, *tables, fmat, sk.FILTER, rows, cols, rolled, none, ids,
                          set_words)
        out = np.empty(int(g[sk.G_C]), np.int64)
        for fc in range(int(g[sk.G_COL_FOLDS])):
            for fr in range(int(g[sk.G_ROW_FOLDS])):
                for k in range(int(g[sk.G_FOLD_ROWS])):
                    n = sk._filter_row(g, out, k, fc, fr)
                    first, last = sk._filter_row_sets(g, set_words, n, k, fc, fr)
                    row_sets = ids[out[:n]]
                    assert list(row_sets) == sorted(row_sets)
                    assert sorted(set(row_sets)) == list(range(first, last + 1))


@pytest.mark.parametrize("case", range(len(WS_GEMMS)))
@pytest.mark.parametrize("faithful", [False, True])
def test_user_ws_shortcuts_equal_the_set_tables(case, faithful):
    """USER mode, ws: the filter served a set at a time and the ifmap by its rows' places in
    the sequence (no set tables) against every address looked up in the tables: fold
    table, summary and DRAM figures equal, on SRAMs small enough to stall on refetches
    (data overflowing them) and on large ones."""
    g = ws_geometry(case, faithful)
    stalled = False
    for sram, bandwidth in (((90, 60, 40), (2, 3, 2)), ((300, 150, 64), (7, 1, 5)),
                            ((5000, 5000, 5000), (10, 10, 10))):
        runs = [sk.simulate_layer(g, calc=False, sram_words=sram, words_per_cycle=bandwidth,
                                  shortcuts=fast) for fast in (True, False)]
        fast, walked = runs
        np.testing.assert_array_equal(fast["folds"], walked["folds"])
        np.testing.assert_array_equal(fast["summary"], walked["summary"])
        assert fast["dram"] == walked["dram"]
        stalled = stalled or walked["summary"][sk.S_STALL] > 0
    assert stalled
