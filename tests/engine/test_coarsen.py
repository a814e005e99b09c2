"""coarsen(): per-core grouping of consecutive tiles, checked against np.array_split."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.engine import BufferSpec, DramSpec, MemorySpec, TileWork, coarsen, run

COLUMNS = ("compute_cycles", "in_bytes", "weight_bytes", "out_bytes")


def reference_coarsen(work: TileWork, max_steps: int) -> dict[int, np.ndarray]:
    """Per core: its tiles in order, split by np.array_split, each group's columns summed."""
    table = np.stack([getattr(work, name) for name in COLUMNS], axis=1)
    merged = {}
    for core in np.unique(work.core_id):
        rows = table[work.core_id == core]
        groups = np.array_split(rows, min(len(rows), max_steps))
        merged[int(core)] = np.array([group.sum(axis=0) for group in groups])
    return merged


def per_core(work: TileWork) -> dict[int, np.ndarray]:
    table = np.stack([getattr(work, name) for name in COLUMNS], axis=1)
    return {int(core): table[work.core_id == core] for core in np.unique(work.core_id)}


@st.composite
def tile_works(draw, max_tiles=40, max_cores=3):
    n_tiles = draw(st.integers(0, max_tiles))
    column = st.lists(st.integers(0, 1000), min_size=n_tiles, max_size=n_tiles)
    cores = st.lists(st.integers(0, max_cores - 1), min_size=n_tiles, max_size=n_tiles)
    return TileWork(draw(column), draw(column), draw(column), draw(column), draw(cores))


@settings(max_examples=50, deadline=None)
@given(work=tile_works(), max_steps=st.integers(1, 12))
def test_coarsen_matches_array_split_reference(work, max_steps):
    coarse = coarsen(work, max_steps)
    expected = reference_coarsen(work, max_steps)
    got = per_core(coarse)
    assert got.keys() == expected.keys()
    for core, rows in expected.items():
        np.testing.assert_array_equal(got[core], rows)
        assert len(got[core]) <= max_steps


@settings(max_examples=50, deadline=None)
@given(work=tile_works(), max_steps=st.integers(1, 12))
def test_coarsen_keeps_every_column_sum_per_core(work, max_steps):
    coarse = coarsen(work, max_steps)
    for core, rows in per_core(work).items():
        np.testing.assert_array_equal(per_core(coarse)[core].sum(axis=0), rows.sum(axis=0))


def test_coarsen_leaves_small_work_untouched():
    work = TileWork([3, 1, 2], [1, 1, 1], [0, 0, 0], [2, 2, 2], [1, 0, 1])
    assert coarsen(work, 2) is work


def test_coarsen_keeps_a_small_core_tile_for_tile_next_to_a_coarsened_one():
    work = TileWork([1, 2, 3, 4, 5, 6], [0] * 6, [0] * 6, [0] * 6, [0, 1, 0, 0, 1, 0])
    coarse = coarsen(work, 2)
    assert coarse.core_id.tolist() == [0, 0, 1, 1]
    assert coarse.compute_cycles.tolist() == [1 + 3, 4 + 6, 2, 5]


def test_coarsen_makes_near_equal_groups_larger_first():
    work = TileWork.single_core(np.arange(10), [0] * 10, [0] * 10, [0] * 10)
    assert coarsen(work, 4).compute_cycles.tolist() == [0 + 1 + 2, 3 + 4 + 5, 6 + 7, 8 + 9]


def test_coarsen_handles_a_million_tiles_quickly():
    n_tiles = 1_000_000
    ones = np.ones(n_tiles, dtype=np.int64)
    work = TileWork(ones, ones, ones, ones, np.arange(n_tiles) % 4)
    coarse = coarsen(work, 2048)
    assert len(coarse) == 4 * 2048
    assert coarse.compute_cycles.sum() == n_tiles


@pytest.mark.parametrize("max_steps", [0, -3, 2.5, True])
def test_coarsen_rejects_bad_max_steps(max_steps):
    with pytest.raises(ValueError, match="max_steps"):
        coarsen(TileWork.single_core([1], [1], [1], [1]), max_steps)


def test_run_coarsens_to_max_steps_per_core():
    work = TileWork([1] * 10, [1] * 10, [0] * 10, [1] * 10, [0] * 7 + [1] * 3)
    spec = MemorySpec(DramSpec(), BufferSpec(), BufferSpec(), max_steps=2)
    stats = run(work, spec, trace=True)
    assert stats.steps == 4
    assert stats.timeline[["core", "step"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert (stats.dram_read_bytes, stats.dram_write_bytes, stats.compute_cycles) == (10, 10, 7)


@pytest.mark.parametrize("max_steps, cycles", [
    (1, 8 + 5),   # one step of 8 B: channel [0,8], usable at 13
    (2, 13),      # 2 steps of 4 B: [0,4] -> 9, [4,8] -> 13
    (4, 16),      # 4 steps of 2 B, 2 load slots: [0,2]->7, [2,4]->9, [7,9]->14, [9,11]->16
    (8, 25),      # 8 tiles of 1 B, 2 slots: pairs at 0, 6, 12, 18: [18,19]->24, [19,20]->25
])
def test_run_charges_latency_once_per_step(max_steps, cycles):
    """8 tiles of 1 B at 1 B/cycle, latency 5, no compute, 2 load slots. Occupancy is summed
    over a step's tiles, latency is paid once per step; a step's fetch is usable once its
    latency has passed, which frees its slot for the step after next. (Old model: 48 always.)
    """
    work = TileWork.single_core([0] * 8, [1] * 8, [0] * 8, [0] * 8)
    spec = MemorySpec(DramSpec(1.0, 5), BufferSpec(), BufferSpec(), max_steps)
    assert run(work, spec).cycles == cycles


def test_run_charges_latency_once_per_direction_of_a_step():
    """One step of 8 tiles reading and writing 1 B each: fetch [0,8] usable 13, no compute,
    drain channel [13,21] written 26 = 2 x (8 + 5); a step that moves no bytes pays none."""
    spec = MemorySpec(DramSpec(1.0, 5), BufferSpec(), BufferSpec(), max_steps=1)
    assert run(TileWork.single_core([0] * 8, [1] * 8, [0] * 8, [1] * 8), spec).cycles == 26
    assert run(TileWork.single_core([3] * 8, [0] * 8, [0] * 8, [0] * 8), spec).cycles == 24


uniform = st.integers(0, 20)
two_slot_buffers = st.sampled_from([(1, 2), (2, 2), (2, 1)])


@settings(max_examples=50, deadline=None)
@given(n_tiles=st.integers(1, 60), max_steps=st.integers(1, 8), compute=uniform,
       in_bytes=uniform, out_bytes=uniform, latency=st.integers(0, 6),
       bytes_per_cycle=st.sampled_from([1.0, 2.0, 3.0]), load=two_slot_buffers,
       store=st.sampled_from([(2, 2), (3, 2)]))
def test_coarsened_run_of_uniform_tiles_is_within_one_step(n_tiles, max_steps, compute,
                                                          in_bytes, out_bytes, latency,
                                                          bytes_per_cycle, load, store):
    """Coarse is at most one step slower than tile-by-tile, and faster by at most one step
    plus the latencies merging removed (2 per merged tile): with few load slots the fine run
    may expose each tile's latency where a step exposes one.

    The store buffer has 2 ports and >= 2 slots: with 1 store slot or port, a step's drain
    contends with the next steps' fetches for the channel at step granularity, and the error
    can exceed one step even without latency (the old engine too: 56 tiles of compute 14,
    15 B in and out at 1 B/cycle, store slots 1: 1694 cycles fine, 2189 at 6 steps).
    """
    work = TileWork.single_core([compute] * n_tiles, [in_bytes] * n_tiles, [0] * n_tiles,
                                [out_bytes] * n_tiles)
    dram = DramSpec(bytes_per_cycle, latency)
    fine = run(work, MemorySpec(dram, BufferSpec(*load), BufferSpec(*store), n_tiles))
    coarse = run(work, MemorySpec(dram, BufferSpec(*load), BufferSpec(*store), max_steps))
    tiles_per_step = -(-n_tiles // max_steps)
    tile_cycles = compute + dram.occupancy_cycles([in_bytes, out_bytes]).sum() + 2 * latency
    merged_latency = 2 * latency * (n_tiles - min(n_tiles, max_steps))
    assert coarse.cycles - fine.cycles <= tiles_per_step * tile_cycles
    assert fine.cycles - coarse.cycles <= tiles_per_step * tile_cycles + merged_latency
    assert coarse.compute_cycles == fine.compute_cycles
