"""DRAM and buffer specs (validation, channel occupancy) and the Pool and Port components."""

import math

import numpy as np
import pytest
import simpy

from accelsim.engine import BufferSpec, DramSpec, MemorySpec
from accelsim.engine.memory import DATAPATH_PRIORITY, TRANSFER_PRIORITY, Dram, Pool, Port


@pytest.mark.parametrize("make, field", [
    (lambda: DramSpec(bytes_per_cycle=0), "bytes_per_cycle"),
    (lambda: DramSpec(bytes_per_cycle=-2.0), "bytes_per_cycle"),
    (lambda: DramSpec(bytes_per_cycle=math.nan), "bytes_per_cycle"),
    (lambda: DramSpec(bytes_per_cycle="16"), "bytes_per_cycle"),
    (lambda: DramSpec(latency_cycles=-1), "latency_cycles"),
    (lambda: DramSpec(latency_cycles=1.5), "latency_cycles"),
    (lambda: DramSpec(channels=0), "channels"),
    (lambda: DramSpec(channels=True), "channels"),
    (lambda: BufferSpec(slots=0), "slots"),
    (lambda: BufferSpec(ports=3), "ports"),
    (lambda: BufferSpec(ports=0), "ports"),
    (lambda: MemorySpec(DramSpec(), BufferSpec(), BufferSpec(), max_steps=0), "max_steps"),
    (lambda: MemorySpec(DramSpec(), "nbin", BufferSpec()), "load_buffer"),
    (lambda: MemorySpec(DramSpec(), BufferSpec(), None), "store_buffer"),
    (lambda: MemorySpec(BufferSpec(), BufferSpec(), BufferSpec()), "dram"),
])
def test_invalid_spec_raises_naming_the_field(make, field):
    with pytest.raises(ValueError, match=rf"\.{field} "):
        make()


def test_valid_specs_are_accepted():
    spec = MemorySpec(DramSpec(math.inf, 0, 4), BufferSpec(1, 1), BufferSpec(3, 2), 1)
    assert spec.dram.channels == 4 and spec.load_buffer.ports == 1


def test_occupancy_is_rounded_up_streaming_time_without_latency():
    spec = DramSpec(bytes_per_cycle=4.0, latency_cycles=7)
    got = spec.occupancy_cycles([0, 1, 4, 5, 8, 4_000_001])
    assert got.tolist() == [0, 1, 1, 2, 2, 1_000_001]
    assert got.dtype == np.int64


def test_occupancy_with_unlimited_bandwidth_is_zero():
    assert DramSpec(math.inf, 3).occupancy_cycles([0, 1, 10**12]).tolist() == [0, 0, 0]


def test_occupancy_tolerates_inexact_float_bandwidth():
    assert DramSpec(12.8).occupancy_cycles([128, 129, 1280]).tolist() == [10, 11, 100]


def test_pool_grants_free_units_at_once_and_waiters_in_order():
    env = simpy.Environment()
    pool = Pool(env, 2)
    log = []

    def user(name, hold_cycles):
        yield from pool.take()
        log.append((name, env.now))
        yield env.timeout(hold_cycles)
        pool.give()

    for name, hold in (("a", 5), ("b", 3), ("c", 1), ("d", 1)):
        env.process(user(name, hold))
    env.run()
    assert log == [("a", 0), ("b", 0), ("c", 3), ("d", 4)]
    assert pool.free == 2


def test_dram_transfer_holds_a_channel_and_returns_its_grant():
    env = simpy.Environment()
    dram = Dram(env, DramSpec(channels=1))
    starts = []

    def transfer(occupancy):
        starts.append((yield from dram.transfer(occupancy)))

    for occupancy in (4, 6, 0):
        env.process(transfer(occupancy))
    env.run()
    assert starts == [0, 0, 4]  # the 0-cycle transfer needs no channel
    assert env.now == 10


def test_dram_latency_runs_off_the_channel_and_does_not_block_the_requester():
    """One channel, latency 10: a holds it [0,3] -> usable 13, b [3,5] -> usable 15, c [5,6]
    with latency 0 -> usable 6. The requester issues each transfer as soon as the previous
    one leaves the channel (old model: a [0,13], b [13,25])."""
    env = simpy.Environment()
    dram = Dram(env, DramSpec(latency_cycles=10, channels=1))
    log = []

    def requester():
        for name, occupancy, latency in (("a", 3, 10), ("b", 2, 10), ("c", 1, 0)):
            granted = yield from dram.transfer(occupancy)
            log.append((name, "granted", granted))
            dram.after_latency(latency, lambda name=name: log.append((name, "usable", env.now)))

    env.process(requester())
    env.run()
    assert log == [
        ("a", "granted", 0), ("b", "granted", 3), ("c", "granted", 5), ("c", "usable", 6),
        ("a", "usable", 13), ("b", "usable", 15)]


def test_port_gives_the_datapath_priority_at_the_same_instant_then_fifo():
    env = simpy.Environment()
    port = Port(env)
    log = []

    def user(name, priority, arrive_cycles, hold_cycles):
        yield env.timeout(arrive_cycles)
        yield port.acquire(priority)
        log.append((name, env.now))
        yield env.timeout(hold_cycles)
        port.release()

    env.process(user("fill_a", TRANSFER_PRIORITY, 0, 2))
    env.process(user("datapath", DATAPATH_PRIORITY, 0, 5))
    env.process(user("fill_b", TRANSFER_PRIORITY, 1, 1))
    env.process(user("fill_c", TRANSFER_PRIORITY, 3, 1))
    env.run()
    assert log == [("datapath", 0), ("fill_a", 5), ("fill_b", 7), ("fill_c", 8)]
