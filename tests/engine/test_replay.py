"""The numba replay of the pipeline against the simpy processes it copies, event for event.

Every 2-port layer runs in ``replay``; the simpy pipeline stays the reference (and runs
1-port buffers). Random step sequences, many of them tie-heavy (durations and transfers of
0-3 cycles, so fetches, drains and computes of several cores meet at the same cycle), must
give the same per-step timeline, busiest compute and simpy event count.
"""

import numpy as np
import pytest

from accelsim.engine import BufferSpec, DramSpec, MemorySpec, TileWork, pipeline, run


def random_case(rng: np.random.Generator, ties: bool):
    n_tiles = int(rng.integers(1, 80))
    n_cores = int(rng.integers(1, 5))
    cycles_high, bytes_high = (4, 5) if ties else (60, 200)

    def column(high: int, zeros: float = 0.3) -> np.ndarray:
        values = rng.integers(0, high, n_tiles)
        values[rng.random(n_tiles) < zeros] = 0
        return values

    noc = column(cycles_high, 0.5) if rng.random() < 0.5 else None
    work = TileWork(column(cycles_high), column(bytes_high), column(bytes_high),
                    column(bytes_high), rng.integers(0, n_cores, n_tiles), noc)
    bandwidth = float(rng.choice([1, 2, 3.5, 16, np.inf]))
    dram = DramSpec(bandwidth, int(rng.choice([0, 1, 3, 100])), int(rng.integers(1, 4)))
    memory = MemorySpec(dram, BufferSpec(int(rng.integers(1, 4)), 2),
                        BufferSpec(int(rng.integers(1, 4)), 2), int(rng.integers(1, 30)))
    return work, memory


def assert_same_as_simpy(work: TileWork, memory: MemorySpec) -> None:
    cores, phases, compute, events = pipeline._simulate(work, memory)
    ref_cores, ref_phases, ref_compute, ref_events = pipeline._simulate(work, memory,
                                                                        simpy_only=True)
    np.testing.assert_array_equal(cores, ref_cores)
    np.testing.assert_array_equal(phases, ref_phases)
    assert (compute, events) == (ref_compute, ref_events)


@pytest.mark.parametrize("ties", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_replay_equals_simpy_on_random_step_sequences(seed, ties):
    rng = np.random.default_rng([seed, ties])
    for _ in range(60):
        assert_same_as_simpy(*random_case(rng, ties))


def test_replay_equals_simpy_on_long_coarsened_layers():
    """Thousands of tiles on 4 cores, merged to 512 steps each: a layer as cores make them."""
    rng = np.random.default_rng(7)
    n_tiles = 5000
    work = TileWork(rng.integers(0, 300, n_tiles), rng.integers(0, 2048, n_tiles),
                    rng.integers(0, 512, n_tiles), rng.integers(0, 1024, n_tiles),
                    rng.integers(0, 4, n_tiles), rng.integers(0, 40, n_tiles))
    for slots in (1, 2, 3):
        assert_same_as_simpy(work, MemorySpec(DramSpec(16.0, 100, 1), BufferSpec(slots, 2),
                                              BufferSpec(2, 2), 512))


def test_run_reports_the_replayed_timeline_and_events():
    """run() on 2-port buffers: its stats are the simpy pipeline's."""
    work = TileWork([5, 0, 7, 2], [16, 0, 32, 8], [0, 4, 0, 0], [8, 8, 0, 3], [0, 1, 0, 1])
    memory = MemorySpec(DramSpec(4.0, 10, 1), BufferSpec(2, 2), BufferSpec(1, 2))
    stats = run(work, memory, trace=True)
    _cores, phases, compute, events = pipeline._simulate(work, memory, simpy_only=True)
    np.testing.assert_array_equal(stats.timeline[list(pipeline.PHASE_COLUMNS)].to_numpy(),
                                  phases)
    assert (stats.compute_cycles, stats.events, stats.cycles) == (
        compute, events, int(phases[:, pipeline.DRAIN_END].max()))
