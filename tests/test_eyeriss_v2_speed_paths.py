"""Eyeriss v2's counting shortcuts (``kernels/csc.py``) against their definitions: the weight
word counts against numpy on the weights, the CSC words against the weights they encode, and
the task layout's placement and per-row / per-round totals against a sort and ``np.unique``
over every task (how the layer's NoC model first computed them)."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.kernels import csc


def lane_rows(m_total, groups, m_block):
    """``(lane, first channel, channels)`` of every lane, lanes tiling each group's
    channels in blocks of ``m_block``."""
    mg, n_mb, lanes = csc.lanes_of(m_total, groups, m_block)
    block = min(m_block, mg)
    for lane in range(lanes):
        m0 = (lane // n_mb) * mg + (lane % n_mb) * block
        yield lane, m0, min(block, (lane // n_mb + 1) * mg - m0)


def words_by_definition(w, groups, m_block, simd):
    """Per ``(lane, k)`` column: the SIMD words holding a non-zero and the non-zeros."""
    k_len = w.shape[1]
    words, nonzeros = [], []
    for _, m0, mc in lane_rows(w.shape[0], groups, m_block):
        nz = w[m0:m0 + mc] != 0
        held = [nz[j:j + simd].any(axis=0) for j in range(0, mc, simd)]
        words.append(np.sum(held, axis=0) if held else np.zeros(k_len, int))
        nonzeros.append(nz.sum(axis=0))
    return np.concatenate(words), np.concatenate(nonzeros)


@pytest.mark.parametrize("density", [0.0, 0.15, 0.5, 1.0])
@pytest.mark.parametrize(("m_total", "groups", "m_block", "simd"), [
    (40, 1, 16, 2),      # whole two-row words
    (42, 2, 8, 2),       # groups, a one-row word closing each part lane
    (33, 1, 32, 3),      # three-row words, a part word
    (24, 3, 5, 4),       # words wider than the rest of a lane
    (7, 1, 32, 1)])      # one-row words
def test_word_counts_equal_their_definition(m_total, groups, m_block, simd, density):
    rng = np.random.default_rng(int(density * 100) + m_total)
    k_len = 37
    w = (rng.integers(-9, 9, (m_total, k_len)) * (rng.random((m_total, k_len)) < density)
         ).astype(np.int16)
    ptr, nonzeros = csc.weight_counts(w, groups, m_block, simd)
    words, nonzeros_ref = words_by_definition(w, groups, m_block, simd)
    assert (np.diff(ptr) == words).all() and (nonzeros == nonzeros_ref).all()
    # the CSC's words decode to the weights, in increasing channel order per column
    ptr_csc, slots, vals, nonzeros_csc = csc.weight_csc(w.astype(np.float32), groups,
                                                        m_block, simd)
    assert (ptr_csc == ptr).all() and (nonzeros_csc == nonzeros).all()
    decoded = np.zeros_like(w)
    for lane, m0, mc in lane_rows(m_total, groups, m_block):
        for k in range(k_len):
            at = range(ptr[lane * k_len + k], ptr[lane * k_len + k + 1])
            assert list(slots[at]) == sorted(slots[at])
            for q in at:
                for i in range(min(simd, mc - slots[q])):
                    decoded[m0 + slots[q] + i, k] = vals[q, i]
    assert (decoded == w).all()


def layout_by_definition(t, groups, pes, ppc, chain):
    """The layout's slots, rows and rounds as a lexsort and ``np.unique`` give them."""
    order = np.lexsort((t.r, t.s, t.mb, t.r // chain, t.g))
    slot = np.empty_like(order)
    slot[order] = np.arange(len(order))
    rounds, clusters = slot // pes, (slot % pes) // ppc
    keys, row_of = np.unique(clusters * (rounds.max() + 1) + rounds, return_inverse=True)
    return slot, rounds, row_of, len(keys), keys // (rounds.max() + 1)


def distinct_pairs(a, b):
    _, first = np.unique(a * (int(b.max()) + 1) + b, return_index=True)
    return first


@pytest.mark.parametrize(("groups", "mg", "n_mb", "n_r", "n_s", "pes", "ppc", "chain"), [
    (1, 64, 2, 7, 3, 192, 12, 3),       # a part last round, a part last chain
    (2, 16, 1, 5, 4, 24, 4, 2),
    (1, 8, 1, 1, 1, 192, 12, 3),        # one task
    (3, 32, 4, 9, 1, 12, 3, 4),         # many rounds, chains longer than a cluster
    (1, 4096, 128, 40, 1, 192, 12, 3)])  # fc-like: many lanes and k-ranges
def test_task_layout_equals_the_sort_and_unique_definitions(groups, mg, n_mb, n_r, n_s,
                                                           pes, ppc, chain):
    t = csc.TaskLayout(groups, mg, n_mb, n_r, n_s, m_block=32, pes=pes, pes_per_cluster=ppc,
                       chain=chain)
    slot, rounds, row_of, n_rows, row_cluster = layout_by_definition(t, groups, pes, ppc,
                                                                    chain)
    assert (t.round == rounds).all() and (t.order[slot] == np.arange(len(slot))).all()
    assert (t.row_cluster == row_cluster).all()
    rng = np.random.default_rng(n_r)
    cycles = rng.integers(0, 1000, len(slot))
    assert (t.row_max(cycles) == [cycles[row_of == i].max() for i in range(n_rows)]).all()
    assert (t.row_sum(cycles) == np.bincount(row_of, cycles, minlength=n_rows)).all()
    for piece in (t.iact_piece, t.weight_piece, t.psum_piece):
        size = rng.integers(1, 500, int(piece.max()) + 1)[piece]   # one size per piece
        first = distinct_pairs(row_of, piece)
        assert (t.row_distinct(piece, size)
                == np.bincount(row_of[first], size[first], minlength=n_rows)).all()
        first = distinct_pairs(rounds, piece)
        per_round, total = t.round_distinct(piece, size)
        assert (per_round == np.bincount(rounds[first])).all()
        assert total == size[first].sum()
        fanout = len(piece) / len(first)
        mode = ("unicast" if fanout == 1 else "broadcast" if (per_round == 1).all()
                else "multicast")
        assert t.delivery_mode(piece) == (mode, fanout if mode != "unicast" else 1.0)
