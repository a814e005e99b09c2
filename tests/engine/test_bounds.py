"""Invariants of run() on random small TileWork and memory specs (hypothesis)."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.engine import BufferSpec, DramSpec, MemorySpec, TileWork, run


@st.composite
def tile_works(draw, max_cores=3, min_bytes=0):
    n_tiles = draw(st.integers(1, 12))
    n_cores = draw(st.integers(1, max_cores))

    def column(low):
        return draw(st.lists(st.integers(low, 50), min_size=n_tiles, max_size=n_tiles))

    cores = draw(st.lists(st.integers(0, n_cores - 1), min_size=n_tiles, max_size=n_tiles))
    return TileWork(column(0), column(min_bytes), column(0), column(min_bytes), cores)


buffers = st.builds(BufferSpec, slots=st.integers(1, 3), ports=st.integers(1, 2))
drams = st.builds(DramSpec, bytes_per_cycle=st.sampled_from([0.5, 1.0, 3.0, 16.0]),
                  latency_cycles=st.integers(0, 5), channels=st.integers(1, 3))


def busiest_core_compute(work: TileWork) -> int:
    return max(int(work.compute_cycles[work.core_id == core].sum())
               for core in np.unique(work.core_id))


@settings(max_examples=50, deadline=None)
@given(work=tile_works(max_cores=1), load=buffers, store=buffers,
       channels=st.integers(1, 3))
def test_unlimited_bandwidth_costs_exactly_the_compute(work, load, store, channels):
    spec = MemorySpec(DramSpec(math.inf, 0, channels), load, store)
    stats = run(work, spec)
    assert stats.cycles == int(work.compute_cycles.sum())
    assert stats.stall_cycles == 0


@settings(max_examples=50, deadline=None)
@given(work=tile_works(min_bytes=1), load=buffers, store=buffers,
       bytes_per_cycle=st.sampled_from([0.01, 0.05, 0.1]))
def test_tiny_bandwidth_is_dram_bound(work, load, store, bytes_per_cycle):
    stats = run(work, MemorySpec(DramSpec(bytes_per_cycle), load, store))
    total_bytes = int(work.in_bytes.sum() + work.weight_bytes.sum() + work.out_bytes.sum())
    assert stats.cycles >= total_bytes / bytes_per_cycle
    assert stats.stall_cycles > 0


@settings(max_examples=50, deadline=None)
@given(work=tile_works(), dram=drams, load=buffers, store=buffers,
       max_steps=st.integers(1, 6))
def test_cycles_lie_between_the_busiest_resource_and_full_serialisation(work, dram, load,
                                                                        store, max_steps):
    """Lower: the busiest core's datapath, the channels' summed occupancy, one latency if any
    byte moves. Upper: every phase one after another, each transfer paying its latency
    (coarsening only ever merges latencies)."""
    stats = run(work, MemorySpec(dram, load, store, max_steps), trace=True)
    fetch_bytes, drain_bytes = work.in_bytes + work.weight_bytes, work.out_bytes
    occupancy_cycles = int(dram.occupancy_cycles(fetch_bytes).sum()
                           + dram.occupancy_cycles(drain_bytes).sum())
    transfers = int(np.count_nonzero(fetch_bytes) + np.count_nonzero(drain_bytes))
    some_latency = dram.latency_cycles if transfers else 0
    lower = max(busiest_core_compute(work), occupancy_cycles / dram.channels, some_latency)
    upper = int(work.compute_cycles.sum()) + occupancy_cycles + transfers * dram.latency_cycles
    assert lower <= stats.cycles <= upper
    assert stats.compute_cycles == busiest_core_compute(work)
    assert stats.stall_cycles == stats.cycles - stats.compute_cycles


@settings(max_examples=50, deadline=None)
@given(work=tile_works(), dram=drams, load=buffers, store=buffers)
def test_timeline_respects_the_pipeline_order_and_the_ports(work, dram, load, store):
    timeline = run(work, MemorySpec(dram, load, store), trace=True).timeline
    assert (timeline.fetch_end >= timeline.fetch_start).all()
    assert (timeline.compute_start >= timeline.fetch_end).all()
    assert (timeline.drain_start >= timeline.compute_end).all()
    for _core, steps in timeline.groupby("core"):
        assert steps.compute_start.is_monotonic_increasing
        assert (steps.compute_start.values[1:] >= steps.compute_end.values[:-1]).all()
        for ports, phase in ((load.ports, "fetch"), (store.ports, "drain")):
            if ports == 1:
                assert_no_overlap(steps, phase, "compute")


def assert_no_overlap(steps, phase, other):
    starts, ends = steps[f"{phase}_start"].values, steps[f"{phase}_end"].values
    for begin, end in zip(steps[f"{other}_start"].values, steps[f"{other}_end"].values,
                          strict=True):
        overlap = (np.minimum(ends, end) - np.maximum(starts, begin)) > 0
        assert not overlap.any(), (phase, other, steps)
