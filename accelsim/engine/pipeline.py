"""The tile pipeline: per core, simpy processes fetch, compute and drain a layer's tiles.

Contract (what ``tests/engine`` checks):

* Per core, three processes walk that core's steps (tiles, see coarsening) in order.
  **fetch**: take a free load-buffer slot (wait if none), request ``in_bytes + weight_bytes``
  from DRAM; once the transfer leaves its channel, move on to the next step while the data
  is in flight; the step is handed to compute when its data is usable. **compute**: take a
  free store-buffer slot (wait if none), wait for the step to be fetched, hold the datapath
  for ``compute_cycles``, free the load slot, hand the step to drain. **drain**: write
  ``out_bytes`` to DRAM, moving on to the next step once the channel is freed; the store slot
  is freed when the write completes. All cores share the DRAM channels (FIFO in request
  order, see ``memory.Dram``); each core has its own load and store buffers. Cores start in
  ascending ``core_id`` order, so requests made at the same cycle queue lower cores first;
  a core's fetches and drains are requested in step order.
* DRAM time (``memory`` docstring): a transfer of ``b > 0`` bytes holds a channel for its
  occupancy ``ceil(b / bytes_per_cycle)`` cycles, then its data is usable ``latency_cycles``
  later while the channel serves others. So several requests are in flight at once, up to
  the free buffer slots: latency overlaps with other transfers and with compute.
* Ports. With ``load_buffer.ports == 1`` a fetch transfer and a compute of the same core
  never overlap in time; with ``store_buffer.ports == 1`` the same holds for a drain and a
  compute. The port is a lock (``memory.Port``): a transfer takes it after its slot and
  *before* queueing for a DRAM channel (so a waiting transfer can delay its own core's
  datapath, never another core's transfers) and keeps it until its data is usable
  (occupancy + latency); at the same instant the datapath wins. With 2 ports everything
  overlaps freely. Phases lasting 0 cycles (0 bytes, or 0 compute) take neither a port nor
  a channel.
* NoC (``TileWork.noc_cycles``, used by mesh cores): a core with any NoC cycles gets a
  fourth process, its link: a step whose DRAM data is usable then holds the link for its
  NoC cycles (one step at a time, in order) before compute may start it, so the deliveries
  overlap with compute of earlier steps. Cores without NoC cycles are unchanged.
* So with unlimited bandwidth and no latency a single core takes exactly the sum of its
  ``compute_cycles``; with a tiny bandwidth it takes at least total bytes / bandwidth.
* Where it runs: with 2-port buffers :func:`replay.replay` runs these processes in numba,
  event for event in simpy's order (same timeline, same ``events``; ``tests/engine/
  test_replay.py``), about 15x faster; a 1-port buffer's port runs in simpy itself.
* Coarsening (:func:`coarsen`). simpy costs 1-4 us per event and a layer may have 10^6
  tiles, so each core's tiles are merged into at most ``memory.max_steps`` contiguous steps.
  A step's fetch, compute and drain each act as one phase. Occupancy is rounded per tile and
  summed over the step's tiles (``DramSpec.occupancy_cycles``), so totals of compute time,
  channel time and bytes are unchanged. Latency is charged **once per step and direction**
  that moves any bytes (once for the step's fetch, once for its drain): a DMA stream of
  consecutive tiles pipelines its requests and exposes only one latency. A core with
  <= ``max_steps`` tiles is not merged, and each tile pays its own latency, overlapped with
  other transfers as above. What coarsening loses is the overlap *inside* a step: the
  pipeline's fill (the first fetch) and drain (the last write) last one step instead of one
  tile. And where few buffer slots limit the requests in flight, a tile-by-tile run may
  expose more latency than the merged steps do, up to ``latency_cycles`` per merged tile.
* The timeline (``trace=True``) has one row per step. ``fetch_start``/``drain_start`` are
  the cycles the DRAM channel was granted (after the slot and port), or the cycle the request
  was made when it needs no channel (unlimited bandwidth); ``fetch_end``/``drain_end`` are
  the cycles the data is usable / written (grant + occupancy + latency). ``compute_start``
  is the cycle the datapath began. A 0-cycle phase starts and ends at the cycle it became
  ready.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import simpy
from simpy.core import EmptySchedule

from accelsim.cost.counts import Counts
from accelsim.engine import replay
from accelsim.engine.memory import (
    DATAPATH_PRIORITY,
    TRANSFER_PRIORITY,
    Buffer,
    Dram,
    DramSpec,
    MemorySpec,
)
from accelsim.engine.tilework import TileWork

PHASE_COLUMNS = ("fetch_start", "fetch_end", "compute_start", "compute_end", "drain_start",
                 "drain_end")
FETCH_START, FETCH_END, COMPUTE_START, COMPUTE_END, DRAIN_START, DRAIN_END = range(6)


@dataclass(frozen=True)
class EngineStats:
    """Cycles and DRAM traffic of one layer on the chip.

    ``cycles`` is when the last drain of the last core ends; ``compute_cycles`` is the
    busiest core's summed compute; ``stall_cycles = cycles - compute_cycles``; ``steps`` is
    the number of simulated rows after coarsening (all cores); ``events`` counts simpy events
    processed. ``timeline`` is only built with ``trace=True``: one row per step with ``core``,
    ``step`` (index within the core) and the ``PHASE_COLUMNS``.
    """

    cycles: int
    compute_cycles: int
    stall_cycles: int
    dram_read_bytes: int
    dram_write_bytes: int
    steps: int
    events: int
    timeline: pd.DataFrame | None = None


def _step_groups(core_id: np.ndarray, max_steps: int):
    """Split each core's tiles into at most ``max_steps`` contiguous, near-equal groups.

    Returns ``(order, starts, step_core)``: ``order`` sorts tiles by core (stable, so each
    core's order is kept), ``starts`` are the group starts in that sorted order (for
    ``np.add.reduceat``) and ``step_core`` is each group's core. The first
    ``tiles % steps`` groups of a core get one tile more than the others.
    """
    order = np.argsort(core_id, kind="stable")
    cores, tiles_per_core = np.unique(core_id, return_counts=True)
    steps_per_core = np.minimum(tiles_per_core, max_steps)
    base_size, extra = np.divmod(tiles_per_core, steps_per_core)
    first_tile = np.cumsum(tiles_per_core) - tiles_per_core
    first_step = np.cumsum(steps_per_core) - steps_per_core
    core_index = np.repeat(np.arange(len(cores)), steps_per_core)
    step_in_core = np.arange(len(core_index)) - first_step[core_index]
    starts = (first_tile[core_index] + step_in_core * base_size[core_index]
              + np.minimum(step_in_core, extra[core_index]))
    return order, starts, cores[core_index]


def _check_max_steps(max_steps: int) -> None:
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer):
        raise ValueError(f"max_steps must be an int, got {max_steps!r}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")


def coarsen(work: TileWork, max_steps: int) -> TileWork:
    """Merge each core's consecutive tiles into at most ``max_steps`` steps, summing columns.

    Group sizes are as equal as possible and tile order is kept. If no core has more than
    ``max_steps`` tiles, ``work`` is returned unchanged; otherwise rows come out grouped by
    core (ascending ``core_id``) and a core with <= ``max_steps`` tiles keeps its rows as they
    were. Vectorised: no Python loop over tiles.
    """
    _check_max_steps(max_steps)
    if len(work) == 0 or np.bincount(work.core_id).max() <= max_steps:
        return work
    order, starts, step_core = _step_groups(work.core_id, max_steps)

    def merged(column: np.ndarray) -> np.ndarray:
        return np.add.reduceat(column[order], starts)

    return TileWork(merged(work.compute_cycles), merged(work.in_bytes),
                    merged(work.weight_bytes), merged(work.out_bytes), step_core,
                    merged(work.noc_cycles))


def _run_counting_events(env: simpy.Environment) -> int:
    """``env.run()`` to the end, returning the number of events processed."""
    step = env.step
    events = 0
    try:
        while True:
            step()
            events += 1
    except EmptySchedule:
        return events


@dataclass(frozen=True)
class _Transfers:
    """One core's DRAM transfers in one direction, per step: channel time and latency."""

    occupancy_cycles: list[int]
    latency_cycles: list[int]


class _CorePipeline:
    """One core's buffers and its fetch, compute and drain processes over its steps."""

    def __init__(self, env: simpy.Environment, dram: Dram, memory: MemorySpec,
                 fetches: _Transfers, compute_cycles: list[int], drains: _Transfers,
                 noc_cycles: list[int]):
        self.env = env
        self.dram = dram
        self.load = Buffer(env, memory.load_buffer)
        self.store = Buffer(env, memory.store_buffer)
        self.fetches = fetches
        self.compute_cycles = compute_cycles
        self.drains = drains
        n_steps = len(compute_cycles)
        self.fetched = [env.event() for _ in range(n_steps)]
        self.computed = [env.event() for _ in range(n_steps)]
        self.timeline = [[0] * n_steps for _ in PHASE_COLUMNS]
        # A NoC link only where the core has deliveries (other cores keep their events).
        self.noc_cycles = noc_cycles
        self.arrived = self.fetched
        if any(noc_cycles):
            self.arrived = [env.event() for _ in range(n_steps)]
        self.processes = [env.process(self.fetch()), env.process(self.compute()),
                          env.process(self.drain())]
        if any(noc_cycles):
            self.processes.append(env.process(self.deliver()))

    def _transfer(self, buffer: Buffer, transfers: _Transfers, step: int, start_column: int,
                  done: simpy.Event | None):
        """Request one step's transfer; return once its channel is free again.

        Logs the grant in ``start_column`` now and, when the data is usable, that cycle in the
        next column (the matching ``*_end``); then releases ``buffer``'s port (if held) and
        succeeds ``done`` (if given) or frees a ``buffer`` slot.
        """
        occupancy = transfers.occupancy_cycles[step]
        latency = transfers.latency_cycles[step]
        holds_port = yield from buffer.use_port(TRANSFER_PRIORITY, occupancy + latency)
        self.timeline[start_column][step] = yield from self.dram.transfer(occupancy)

        def deliver() -> None:
            self.timeline[start_column + 1][step] = self.env.now
            if holds_port:
                buffer.port.release()
            if done is None:
                buffer.slots.give()
            else:
                done.succeed()

        self.dram.after_latency(latency, deliver)

    def fetch(self):
        for step in range(len(self.compute_cycles)):
            yield from self.load.slots.take()
            yield from self._transfer(self.load, self.fetches, step, FETCH_START,
                                      self.arrived[step])

    def deliver(self):
        """The core's NoC link: each step's data, once arrived, takes its NoC cycles."""
        for step, duration in enumerate(self.noc_cycles):
            yield self.arrived[step]
            if duration:
                yield self.env.timeout(duration)
            self.fetched[step].succeed()

    def compute(self):
        env, log = self.env, self.timeline
        for step, duration in enumerate(self.compute_cycles):
            yield from self.store.slots.take()
            yield self.fetched[step]
            holds_load_port = yield from self.load.use_port(DATAPATH_PRIORITY, duration)
            holds_store_port = yield from self.store.use_port(DATAPATH_PRIORITY, duration)
            log[COMPUTE_START][step] = env.now
            if duration:
                yield env.timeout(duration)
            log[COMPUTE_END][step] = env.now
            if holds_load_port:
                self.load.port.release()
            if holds_store_port:
                self.store.port.release()
            self.load.slots.give()
            self.computed[step].succeed()

    def drain(self):
        for step in range(len(self.compute_cycles)):
            yield self.computed[step]
            yield from self._transfer(self.store, self.drains, step, DRAIN_START, None)


def _timeline_frame(step_core: np.ndarray, phases: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(phases.astype(np.int64), columns=list(PHASE_COLUMNS))
    _cores, first_index, steps_per_core = np.unique(step_core, return_index=True,
                                                   return_counts=True)
    step_in_core = np.arange(len(step_core)) - np.repeat(first_index, steps_per_core)
    frame.insert(0, "step", step_in_core.astype(np.int64))
    frame.insert(0, "core", step_core.astype(np.int64))
    return frame


def _step_transfers(dram: DramSpec, n_bytes: np.ndarray, order: np.ndarray,
                    starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per step: summed per-tile occupancy, and one latency if the step moves any bytes."""
    occupancy = np.add.reduceat(dram.occupancy_cycles(n_bytes)[order], starts)
    step_bytes = np.add.reduceat(n_bytes[order], starts)
    return occupancy, np.where(step_bytes > 0, dram.latency_cycles, 0).astype(np.int64)


def _simulate(work: TileWork, memory: MemorySpec, *,
              simpy_only: bool = False) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Run the coarsened steps; return (step_core, phase times per step, compute, events).

    Buffers with 2 ports run in :func:`replay.replay` (simpy's events in numba, same
    timeline and event count); 1-port buffers, or ``simpy_only``, in simpy itself.
    """
    order, starts, step_core = _step_groups(work.core_id, memory.max_steps)
    columns = [*_step_transfers(memory.dram, work.in_bytes + work.weight_bytes, order, starts),
               np.add.reduceat(work.compute_cycles[order], starts),
               *_step_transfers(memory.dram, work.out_bytes, order, starts),
               np.add.reduceat(work.noc_cycles[order], starts)]
    core_bounds = np.flatnonzero(np.diff(step_core)) + 1
    if simpy_only or memory.load_buffer.ports == 1 or memory.store_buffer.ports == 1:
        return (step_core, *_simulate_in_simpy(columns, core_bounds, memory))
    first = np.concatenate([[0], core_bounds, [len(step_core)]]).astype(np.int64)
    has_link = np.logical_or.reduceat(columns[-1] > 0, first[:-1])
    phases, events, finished = replay.replay(first, *columns, has_link,
                                             memory.load_buffer.slots,
                                             memory.store_buffer.slots, memory.dram.channels)
    if not finished:
        raise RuntimeError("engine deadlock: a pipeline stopped before its last drain")
    busiest_compute = int(np.add.reduceat(columns[2], first[:-1]).max())
    return step_core, phases, busiest_compute, int(events)


def _simulate_in_simpy(columns: list[np.ndarray], core_bounds: np.ndarray,
                       memory: MemorySpec) -> tuple[np.ndarray, int, int]:
    """The steps' ``_CorePipeline`` processes in simpy: (phases, busiest compute, events)."""
    env = simpy.Environment()
    dram = Dram(env, memory.dram)
    pipelines = []
    for core_columns in zip(*(np.split(column, core_bounds) for column in columns),
                            strict=True):
        fetch_occupancy, fetch_latency, compute, drain_occupancy, drain_latency, noc = (
            part.tolist() for part in core_columns)
        pipelines.append(_CorePipeline(env, dram, memory,
                                       _Transfers(fetch_occupancy, fetch_latency), compute,
                                       _Transfers(drain_occupancy, drain_latency), noc))
    events = _run_counting_events(env)
    if any(process.is_alive for p in pipelines for process in p.processes):
        raise RuntimeError("engine deadlock: a pipeline stopped before its last drain")
    phases = np.concatenate([np.array(p.timeline, dtype=np.int64).T for p in pipelines])
    busiest_compute = max(sum(p.compute_cycles) for p in pipelines)
    return phases, busiest_compute, events


def run(work: TileWork, memory: MemorySpec, counts: Counts | None = None, *,
        trace: bool = False) -> EngineStats:
    """Simulate ``work`` on ``memory`` (coarsened to ``memory.max_steps`` per core).

    Adds ``("dram", "read_byte")`` and ``("dram", "write_byte")`` to ``counts`` if given.
    An empty ``work`` gives all-zero stats.
    """
    read_bytes = int(work.in_bytes.sum() + work.weight_bytes.sum())
    write_bytes = int(work.out_bytes.sum())
    if counts is not None:
        for action, total in (("read_byte", read_bytes), ("write_byte", write_bytes)):
            if total:
                counts.add("dram", action, total)
    if len(work) == 0:
        step_core, phases = np.zeros(0, np.int64), np.zeros((0, len(PHASE_COLUMNS)), np.int64)
        cycles = compute_cycles = events = 0
    else:
        step_core, phases, compute_cycles, events = _simulate(work, memory)
        cycles = int(phases[:, DRAIN_END].max())
    return EngineStats(
        cycles=cycles,
        compute_cycles=int(compute_cycles),
        stall_cycles=cycles - int(compute_cycles),
        dram_read_bytes=read_bytes,
        dram_write_bytes=write_bytes,
        steps=len(step_core),
        events=events,
        timeline=_timeline_frame(step_core, phases) if trace else None,
    )
