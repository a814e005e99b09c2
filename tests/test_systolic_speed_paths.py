"""The systolic core's fast paths (issue 22) against the plain computations they replace:
the exact int16 sums, the zero-operand count, the one-walk prefetch sets of a filter and the
USER-mode read without CSR pointers, on random layers."""

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
