"""The fast paths of issue 22 in SparTen's and Eyeriss v2's kernels give the slow paths'
numbers.

SparTen (``kernels/inner_join.py``): a fixed-point join of a dense enough chunk pair sums
the chunks' dense dot product, any other join walks the AND's set bits; both must equal
numpy's count and sum of the matched pairs. Eyeriss v2 (``kernels/csc.py``): a fixed-point
weight column that stores every word of its lane adds its values as one vector, the others
word by word; with and without that path the sums and every statistic must be equal, and
equal numpy's. No number may depend on the thread count.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.kernels import csc, inner_join
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


# ---- thread count -----------------------------------------------------------------------------
THREAD_SETUP = """
from tests.test_speed_golden import NETWORK as network, golden_tensors
tensors = golden_tensors()
"""
THREAD_CONFIGS = ("sparten", "eyeriss_v2")


def test_tables_and_outputs_do_not_depend_on_the_thread_count():
    one, two = (run_digests(THREAD_CONFIGS, THREAD_SETUP, n) for n in (1, 2))
    assert len(one) == len(THREAD_CONFIGS)
    assert one == two
