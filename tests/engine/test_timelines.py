"""Exact engine timelines on tiny cases, each derived by hand in the test's docstring.

Each row of an expected timeline is one step:
(core, step, fetch_start, fetch_end, compute_start, compute_end, drain_start, drain_end).
"""

import math

import pandas as pd
import pytest

from accelsim.cost.counts import Counts
from accelsim.engine import BufferSpec, DramSpec, MemorySpec, TileWork, run

COLUMNS = ["core", "step", "fetch_start", "fetch_end", "compute_start", "compute_end",
           "drain_start", "drain_end"]


def memory(bytes_per_cycle=1.0, latency_cycles=0, channels=1, load=(2, 2), store=(2, 2),
           max_steps=2048) -> MemorySpec:
    return MemorySpec(DramSpec(bytes_per_cycle, latency_cycles, channels), BufferSpec(*load),
                      BufferSpec(*store), max_steps)


def tiles(compute, in_bytes, out_bytes, weight_bytes=None, core_id=None) -> TileWork:
    weight_bytes = [0] * len(compute) if weight_bytes is None else weight_bytes
    core_id = [0] * len(compute) if core_id is None else core_id
    return TileWork(compute, in_bytes, weight_bytes, out_bytes, core_id)


def assert_timeline(work, spec, expected_rows):
    stats = run(work, spec, trace=True)
    expected = pd.DataFrame(expected_rows, columns=COLUMNS).astype("int64")
    pd.testing.assert_frame_equal(stats.timeline, expected)
    return stats


def test_double_buffering_overlaps_the_next_fetch_with_compute():
    """Two load slots: fetch 1 runs during compute 0; fetch 2 waits for slot 0 (freed at 14).

    f0 [0,4]  c0 [4,14]   f1 [4,8]   c1 [14,24]   f2 [14,18]   c2 [24,34]; no output bytes.
    """
    work = tiles([10, 10, 10], [4, 4, 4], [0, 0, 0])
    stats = assert_timeline(work, memory(), [
        (0, 0, 0, 4, 4, 14, 14, 14),
        (0, 1, 4, 8, 14, 24, 24, 24),
        (0, 2, 14, 18, 24, 34, 34, 34),
    ])
    assert (stats.cycles, stats.compute_cycles, stats.stall_cycles) == (34, 30, 4)
    assert (stats.dram_read_bytes, stats.dram_write_bytes, stats.steps) == (12, 0, 3)


def test_single_load_slot_serialises_fetch_and_compute():
    """One slot: each fetch waits for the previous compute to free it: 3 x (4 + 10) = 42."""
    work = tiles([10, 10, 10], [4, 4, 4], [0, 0, 0])
    stats = assert_timeline(work, memory(load=(1, 2)), [
        (0, 0, 0, 4, 4, 14, 14, 14),
        (0, 1, 14, 18, 18, 28, 28, 28),
        (0, 2, 28, 32, 32, 42, 42, 42),
    ])
    assert stats.cycles == 42


def test_single_load_port_gives_the_datapath_priority_over_a_fill():
    """Two slots but one port: at t=4 compute 0 and fetch 1 both want the port, compute wins.

    Fill and compute then alternate: f0 [0,4] c0 [4,14] f1 [14,18] c1 [18,28] ...
    """
    work = tiles([10, 10, 10], [4, 4, 4], [0, 0, 0])
    assert_timeline(work, memory(load=(2, 1)), [
        (0, 0, 0, 4, 4, 14, 14, 14),
        (0, 1, 14, 18, 18, 28, 28, 28),
        (0, 2, 28, 32, 32, 42, 42, 42),
    ])


def test_single_load_port_still_prefetches_while_the_datapath_waits():
    """One load port, two load slots, one store slot, two DRAM channels (no contention).

    Compute 2, fetch 2 B, drain 6 B per tile. f0 [0,2]; at 2 compute 0 wins the port:
    c0 [2,4], d0 [4,10]. f1 got the port at 4: [4,6]; compute 1 waits for the store slot
    (until 10), so the port is idle and f2 uses the second load slot: [6,8]. Then
    c1 [10,12] d1 [12,18] c2 [18,20] d2 [20,26]. No fetch overlaps a compute.
    """
    work = tiles([2, 2, 2], [2, 2, 2], [6, 6, 6])
    assert_timeline(work, memory(channels=2, load=(2, 1), store=(1, 2)), [
        (0, 0, 0, 2, 2, 4, 4, 10),
        (0, 1, 4, 6, 10, 12, 12, 18),
        (0, 2, 6, 8, 18, 20, 20, 26),
    ])


def test_single_store_port_keeps_drains_off_the_datapath():
    """Compute 4, drain 3 B per tile, no input. At 4, compute 1 beats drain 0 to the port:
    c0 [0,4] c1 [4,8] d0 [8,11]; compute 2 waits for a store slot until 11 and then beats
    drain 1: c2 [11,15] d1 [15,18] d2 [18,21]. The 0 B fetch 2 waits for load slot 0 (at 4).
    """
    work = tiles([4, 4, 4], [0, 0, 0], [3, 3, 3])
    stats = assert_timeline(work, memory(store=(2, 1)), [
        (0, 0, 0, 0, 0, 4, 8, 11),
        (0, 1, 0, 0, 4, 8, 15, 18),
        (0, 2, 4, 4, 11, 15, 18, 21),
    ])
    assert stats.cycles == 21


def test_latency_overlaps_the_next_transfer_and_fetch_and_drain_share_the_channel():
    """Latency 2, 1 B/cycle: a fetch (3 B in + 1 B weight) holds the channel 4 cycles, a
    drain (2 B) 2; data is usable 2 cycles after the channel is freed.
    f0 channel [0,4] usable 6; f1 is requested when the channel frees: [4,8] usable 10.
    c0 [6,7]; d0 queues behind f1 for the channel: granted 8, freed 10, written 12.
    c1 [10,11]; d1 [11,13] written 15. (Old model, latency on the channel: 20 cycles.)
    """
    work = tiles([1, 1], [3, 3], [2, 2], weight_bytes=[1, 1])
    stats = assert_timeline(work, memory(latency_cycles=2), [
        (0, 0, 0, 6, 6, 7, 8, 12),
        (0, 1, 4, 10, 10, 11, 11, 15),
    ])
    assert (stats.cycles, stats.dram_read_bytes, stats.dram_write_bytes) == (15, 8, 4)


def test_latency_overlaps_across_tiles_when_slots_allow_many_requests_in_flight():
    """8 tiles, 4 B each at 1 B/cycle (occupancy 4), latency 10, no compute, 8 load slots:
    fetch i holds the channel [4i, 4i+4] and is usable at 4i+14, so the run takes
    8 x 4 + 10 = 42 cycles, not 8 x (4 + 10) = 112 as with latency on the channel.
    """
    work = tiles([0] * 8, [4] * 8, [0] * 8)
    assert_timeline(work, memory(latency_cycles=10, load=(8, 2)), [
        (0, i, 4 * i, 4 * i + 14, 4 * i + 14, 4 * i + 14, 4 * i + 14, 4 * i + 14)
        for i in range(8)
    ])


def test_two_load_slots_allow_two_requests_in_flight():
    """As above with 2 load slots: a fetch needs a slot, freed when its tile's compute (0
    cycles) ends, i.e. when its data is usable. f0 [0,4]->14, f1 [4,8]->18; f2 takes f0's
    slot at 14: [14,18]->28, f3 at 18 ->32; so pairs repeat every 14 cycles: 60 in all.
    """
    work = tiles([0] * 8, [4] * 8, [0] * 8)
    stats = run(work, memory(latency_cycles=10), trace=True)
    pair_starts = [14 * (i // 2) + 4 * (i % 2) for i in range(8)]
    assert stats.timeline.fetch_start.tolist() == pair_starts
    assert stats.timeline.fetch_end.tolist() == [start + 14 for start in pair_starts]
    assert stats.cycles == 60


def test_single_load_port_is_held_until_the_data_is_usable():
    """One load port, latency 3, 2 B per fetch at 1 B/cycle, compute 2. f0 holds the port
    from its grant at 0 through its channel time [0,2] and latency until 5, so f1 (requested
    at 2, a slot is free) waits for the port; at 5 compute 0 wins it: c0 [5,7]; then f1 gets
    it: channel [7,9], usable 12; c1 [12,14].
    """
    work = tiles([2, 2], [2, 2], [0, 0])
    assert_timeline(work, memory(latency_cycles=3, load=(2, 1)), [
        (0, 0, 0, 5, 5, 7, 7, 7),
        (0, 1, 7, 12, 12, 14, 14, 14),
    ])


def test_unlimited_bandwidth_pays_latency_without_taking_a_channel():
    """Unlimited bandwidth, latency 5, one channel shared by two cores: no transfer needs
    the channel, so all four fetches (two slots per core) run [0,5] at once; then each core
    computes 3 + 3: c0 [5,8], c1 [8,11].
    """
    work = tiles([3, 3, 3, 3], [4, 4, 4, 4], [0, 0, 0, 0], core_id=[0, 1, 0, 1])
    stats = assert_timeline(work, memory(bytes_per_cycle=math.inf, latency_cycles=5), [
        (0, 0, 0, 5, 5, 8, 8, 8),
        (0, 1, 0, 5, 8, 11, 11, 11),
        (1, 0, 0, 5, 5, 8, 8, 8),
        (1, 1, 0, 5, 8, 11, 11, 11),
    ])
    assert stats.cycles == 11


def test_zero_byte_transfers_take_no_dram_time_and_no_channel():
    """Latency 100 is not paid for 0 B. Tile 0 drains 10 B at 10 B/cycle: channel [1,2],
    written at 102. Fetch 2 (0 B) runs at 1, when its slot frees, although d0 holds the only
    channel. Drain 1 (0 B) is requested once d0 frees the channel (2) and is done at once,
    freeing a store slot, so c2 runs [2,3] and d2 is done at 3; the run ends at 102.
    """
    work = tiles([1, 1, 1], [0, 0, 0], [10, 0, 0])
    stats = assert_timeline(work, memory(latency_cycles=100, bytes_per_cycle=10.0), [
        (0, 0, 0, 0, 0, 1, 1, 102),
        (0, 1, 0, 0, 1, 2, 2, 2),
        (0, 2, 1, 1, 2, 3, 3, 3),
    ])
    assert stats.cycles == 102


def test_two_cores_share_one_dram_channel_in_request_order():
    """Both cores fetch 4 B at t=0; core 0 asked first. The channel then alternates:
    core 0 f0 [0,4], core 1 f0 [4,8] (waiting since 0), core 0 f1 [8,12], core 1 f1 [12,16].
    Tiles are given interleaved by core; the timeline lists them by core, then step.
    """
    work = tiles([3, 3, 3, 3], [4, 4, 4, 4], [0, 0, 0, 0], core_id=[0, 1, 0, 1])
    stats = assert_timeline(work, memory(), [
        (0, 0, 0, 4, 4, 7, 7, 7),
        (0, 1, 8, 12, 12, 15, 15, 15),
        (1, 0, 4, 8, 8, 11, 11, 11),
        (1, 1, 12, 16, 16, 19, 19, 19),
    ])
    assert (stats.cycles, stats.compute_cycles, stats.stall_cycles) == (19, 6, 13)


def test_two_dram_channels_let_both_cores_fetch_at_once():
    work = tiles([3, 3, 3, 3], [4, 4, 4, 4], [0, 0, 0, 0], core_id=[0, 1, 0, 1])
    assert_timeline(work, memory(channels=2), [
        (0, 0, 0, 4, 4, 7, 7, 7),
        (0, 1, 4, 8, 8, 11, 11, 11),
        (1, 0, 0, 4, 4, 7, 7, 7),
        (1, 1, 4, 8, 8, 11, 11, 11),
    ])


def test_fractional_bandwidth_rounds_each_transfer_up():
    """10 B at 4 B/cycle is ceil(2.5) = 3 cycles; 128 B at 12.8 B/cycle is exactly 10."""
    assert run(tiles([0], [10], [0]), memory(bytes_per_cycle=4.0)).cycles == 3
    assert run(tiles([0], [128], [0]), memory(bytes_per_cycle=12.8)).cycles == 10


def test_unlimited_bandwidth_without_latency_costs_only_compute():
    work = tiles([7, 0, 5], [10**9, 3, 0], [0, 10**9, 1])
    stats = run(work, memory(bytes_per_cycle=math.inf, load=(1, 1), store=(1, 1)))
    assert (stats.cycles, stats.stall_cycles) == (12, 0)


def test_counts_get_the_dram_bytes():
    counts = Counts()
    counts.add("nfu", "mac", 5)
    run(tiles([1, 1], [3, 4], [5, 0], weight_bytes=[2, 0]), memory(), counts)
    assert counts.get_count("dram", "read_byte") == 9
    assert counts.get_count("dram", "write_byte") == 5
    assert counts.get_count("nfu", "mac") == 5


def test_empty_work_gives_zero_stats():
    counts = Counts()
    stats = run(tiles([], [], []), memory(), counts, trace=True)
    assert (stats.cycles, stats.compute_cycles, stats.stall_cycles, stats.dram_read_bytes,
            stats.dram_write_bytes, stats.steps, stats.events) == (0, 0, 0, 0, 0, 0, 0)
    assert list(stats.timeline.columns) == COLUMNS and len(stats.timeline) == 0
    assert not counts


def test_timeline_only_with_trace():
    assert run(tiles([1], [1], [1]), memory()).timeline is None


@pytest.mark.parametrize("load, store", [((2, 2), (2, 2)), ((1, 1), (2, 1)), ((3, 1), (1, 2))])
def test_rerun_gives_identical_results(load, store):
    work = tiles([5, 1, 9, 2, 2, 7], [3, 0, 8, 8, 1, 2], [4, 4, 0, 9, 1, 1],
                 core_id=[0, 1, 1, 0, 2, 0])
    spec = memory(bytes_per_cycle=1.5, latency_cycles=2, load=load, store=store)
    first, second = run(work, spec, trace=True), run(work, spec, trace=True)
    pd.testing.assert_frame_equal(first.timeline, second.timeline)
    assert (first.cycles, first.events) == (second.cycles, second.events)


def test_events_stay_a_few_per_step():
    """Budget: with 2-port buffers at most 9 simpy events per step (3 phases, hand-offs,
    and one wake-up per wait), so 2048 steps cost ~20k events, tens of milliseconds."""
    n_tiles = 500
    work = tiles([3] * n_tiles, [40] * n_tiles, [20] * n_tiles)
    stats = run(work, memory(bytes_per_cycle=8.0))
    assert 0 < stats.events <= 9 * stats.steps
