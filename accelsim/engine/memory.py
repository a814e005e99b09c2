"""Off-chip DRAM and on-chip tile buffers: their specs and their simpy components.

* :class:`Dram` is shared by all cores: ``channels`` concurrent transfers (a :class:`Pool`,
  granted FIFO in request order). A transfer of ``b > 0`` bytes *occupies* one channel for
  ``ceil(b / bytes_per_cycle)`` cycles (:meth:`DramSpec.occupancy_cycles`), then frees it; its
  data is usable ``latency_cycles`` after that. The requester waits out the latency but the
  channel serves other transfers meanwhile, as a DMA engine with several requests in flight
  does, so latency overlaps with other traffic instead of serialising it. With unlimited
  bandwidth (occupancy 0) a transfer takes no channel and only waits the latency; a 0-byte
  transfer costs nothing, not even latency.
* :class:`Buffer` is per core: ``slots`` tiles may be resident at once (a :class:`Pool` of
  free slots; 2 slots = double buffering, the next tile loads while this one computes).
  With 2 ports, DRAM transfers and the datapath use the buffer freely in parallel. With 1 port
  they take turns through a :class:`Port`; a transfer keeps the port until its data is usable
  (occupancy + latency).

Components take ``env`` in their constructor and expose generator methods named as verbs,
as simpy's own resources do. :class:`Pool` replaces ``simpy.Resource``/``Container`` because
those cost two scheduled events per use even when a unit is free; the pool grants a free unit
at once (no event): measured 13 -> about 7 events per step, 2048 steps in ~20 ms.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy
from simpy.events import NORMAL

DATAPATH_PRIORITY = 0
"""Port priority of the datapath: it wins over a transfer waiting at the same time."""
TRANSFER_PRIORITY = 1
"""Port priority of a fill (fetch) or a drain transfer."""
_SETTLED = NORMAL + 1
"""simpy event priority processed after every ordinary event of the same instant."""
_ROUNDING_TOLERANCE = 1e-9


def _check_int(owner: str, name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{owner}.{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}.{name} must be >= {minimum}, got {value}")


@dataclass(frozen=True)
class DramSpec:
    """Off-chip memory: bandwidth (``math.inf`` = unlimited), access latency, channels.

    ``latency_cycles`` is the delay from a transfer leaving its channel to its data being
    usable; it does not hold the channel (see the module docstring).
    """

    bytes_per_cycle: float = 16.0
    latency_cycles: int = 0
    channels: int = 1

    def __post_init__(self) -> None:
        bandwidth = self.bytes_per_cycle
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, int | float | np.number):
            raise ValueError(f"DramSpec.bytes_per_cycle must be a number, got {bandwidth!r}")
        if math.isnan(bandwidth) or bandwidth <= 0:
            raise ValueError(f"DramSpec.bytes_per_cycle must be > 0, got {bandwidth}")
        _check_int("DramSpec", "latency_cycles", self.latency_cycles, 0)
        _check_int("DramSpec", "channels", self.channels, 1)

    def occupancy_cycles(self, n_bytes) -> np.ndarray:
        """Cycles a transfer holds a channel: ``ceil(bytes / bandwidth)``; 0 for 0 B.

        0 as well for any size at unlimited bandwidth. Latency is not included: it is paid
        after the channel is freed (see the module docstring).

        Vectorised over an int array of transfer sizes. Exact for an integral bandwidth; for a
        fractional one a quotient within 1e-9 (relative) of an integer counts as that integer,
        so 128 B at 12.8 B/cycle is 10 cycles, not 11.
        """
        n_bytes = np.asarray(n_bytes, dtype=np.int64)
        bandwidth = self.bytes_per_cycle
        if math.isinf(bandwidth):
            streaming_cycles = np.zeros(n_bytes.shape, dtype=np.int64)
        elif float(bandwidth).is_integer():
            streaming_cycles = -(-n_bytes // int(bandwidth))  # exact integer ceil
        else:
            quotient = n_bytes / float(bandwidth)
            nearest = np.rint(quotient)
            close = np.abs(quotient - nearest) <= _ROUNDING_TOLERANCE * np.maximum(1.0, quotient)
            streaming_cycles = np.where(close, nearest, np.ceil(quotient)).astype(np.int64)
        return np.where(n_bytes > 0, streaming_cycles, 0)


@dataclass(frozen=True)
class BufferSpec:
    """An on-chip tile buffer: resident tiles (``slots``) and read/write ``ports`` (1 or 2)."""

    slots: int = 2
    ports: int = 2

    def __post_init__(self) -> None:
        _check_int("BufferSpec", "slots", self.slots, 1)
        if isinstance(self.ports, bool) or self.ports not in (1, 2):
            raise ValueError(f"BufferSpec.ports must be 1 or 2, got {self.ports!r}")


@dataclass(frozen=True)
class MemorySpec:
    """DRAM, the per-core load buffer (inputs + weights) and store buffer (outputs).

    ``max_steps`` bounds the simulated steps per core (see ``pipeline.coarsen``).
    """

    dram: DramSpec
    load_buffer: BufferSpec
    store_buffer: BufferSpec
    max_steps: int = 2048

    def __post_init__(self) -> None:
        for name, kind in (("dram", DramSpec), ("load_buffer", BufferSpec),
                           ("store_buffer", BufferSpec)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"MemorySpec.{name} must be a {kind.__name__}, "
                                 f"got {getattr(self, name)!r}")
        _check_int("MemorySpec", "max_steps", self.max_steps, 1)


class Pool:
    """``size`` interchangeable units (DRAM channels, buffer slots), granted FIFO.

    A free unit is taken without any simpy event; a waiter is handed the unit directly by
    :meth:`give`, so a unit is never taken ahead of an earlier waiter.
    """

    def __init__(self, env: simpy.Environment, size: int):
        self.env = env
        self.free = size
        self._waiting: deque[simpy.Event] = deque()

    def take(self):
        """Wait until a unit is ours (no wait, no event if one is free)."""
        if self.free:
            self.free -= 1
            return
        granted = self.env.event()
        self._waiting.append(granted)
        yield granted

    def give(self) -> None:
        """Return a unit: to the longest waiter if any, else to the free units."""
        if self._waiting:
            self._waiting.popleft().succeed()
        else:
            self.free += 1


class Dram:
    """The shared DRAM: ``spec.channels`` transfers at a time, FIFO in request order."""

    def __init__(self, env: simpy.Environment, spec: DramSpec):
        self.env = env
        self.spec = spec
        self.channels = Pool(env, spec.channels)

    def transfer(self, occupancy_cycles: int):
        """Hold one channel for ``occupancy_cycles``; return the cycle the channel was granted.

        A 0-cycle transfer takes no channel and is granted (and done) now. The latency is
        not waited here, so the caller may issue its next transfer at once: see
        :meth:`after_latency`.
        """
        if occupancy_cycles == 0:
            return self.env.now
        yield from self.channels.take()
        granted_cycles = self.env.now
        yield self.env.timeout(occupancy_cycles)
        self.channels.give()
        return granted_cycles

    def after_latency(self, latency_cycles: int, deliver: Callable[[], None]) -> None:
        """Call ``deliver()`` when data that left its channel now is usable.

        Without blocking the caller: ``deliver`` runs ``latency_cycles`` from now, or at once
        (no simpy event) when the latency is 0.
        """
        if latency_cycles == 0:
            deliver()
            return
        arrival = self.env.timeout(latency_cycles)
        arrival.callbacks.append(lambda _arrival: deliver())


class Port:
    """The single port of a 1-port buffer, shared by the datapath and DRAM transfers.

    A mutual-exclusion lock. A grant is decided once every ordinary simpy event of the
    current instant has run, so all requests waiting by then compete: the datapath first
    (``DATAPATH_PRIORITY``), then transfers in request order. A grant takes no time.
    """

    def __init__(self, env: simpy.Environment):
        self.env = env
        self._busy = False
        self._waiting: list[tuple[int, int, simpy.Event]] = []
        self._request_order = itertools.count()
        self._grant_scheduled = False

    def acquire(self, priority: int) -> simpy.Event:
        """An event that fires when the caller holds the port; call :meth:`release` after."""
        granted = self.env.event()
        heapq.heappush(self._waiting, (priority, next(self._request_order), granted))
        self._schedule_grant()
        return granted

    def release(self) -> None:
        self._busy = False
        self._schedule_grant()

    def _schedule_grant(self) -> None:
        if self._busy or self._grant_scheduled or not self._waiting:
            return
        self._grant_scheduled = True
        settled = simpy.Event(self.env)
        settled._ok = True  # triggered by hand, as simpy's own run(until=...) does
        settled._value = None
        settled.callbacks.append(self._grant)
        self.env.schedule(settled, _SETTLED)

    def _grant(self, _settled: simpy.Event) -> None:
        self._grant_scheduled = False
        if self._busy or not self._waiting:
            return
        _priority, _order, granted = heapq.heappop(self._waiting)
        self._busy = True
        granted.succeed()


class Buffer:
    """One core's tile buffer: a :class:`Pool` of free slots, plus a :class:`Port` if 1-ported."""

    def __init__(self, env: simpy.Environment, spec: BufferSpec):
        self.spec = spec
        self.slots = Pool(env, spec.slots)
        self.port = Port(env) if spec.ports == 1 else None

    def use_port(self, priority: int, duration_cycles: int):
        """Wait for the port if this buffer has one port and the use lasts > 0 cycles.

        Returns whether the port is now held (the caller then calls ``port.release()``).
        """
        if self.port is None or duration_cycles == 0:
            return False
        yield self.port.acquire(priority)
        return True
