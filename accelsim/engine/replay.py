"""The pipeline's simpy processes replayed in numba, event for event (2-port buffers).

simpy costs 1-4 us per event in Python; a layer has up to ``max_steps`` steps per core and
about 7 events per step (VGG-16 on Eyeriss v2: ~540 k events). :func:`replay` runs the same
processes as :class:`accelsim.engine.pipeline._CorePipeline` (fetch, compute, drain and the
NoC link) as state machines over one event heap ordered as simpy's is, by
``(time, priority, event id)``, and it schedules an event (taking the next id) at exactly
the points where the simpy code does: a process's start (urgent), its end, a timeout, a
pool unit handed to a waiter, an ``Event.succeed``. Every tie is therefore broken as simpy
breaks it, so the timeline and the event count are simpy's, bit for bit
(``tests/engine/test_replay.py`` compares them on random step sequences).

Only buffers with 2 ports: a 1-port buffer's :class:`~accelsim.engine.memory.Port` runs in
simpy (``pipeline``).
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

URGENT, NORMAL = 0, 1
"""simpy's event priorities (a process's start is urgent)."""
RESUME, ARRIVED, FETCHED, COMPUTED, FETCH_LANDED, DRAIN_LANDED, ENDED = range(7)
"""What a heap entry does when popped: resume process ``a``; mark step ``b`` of core ``a``
arrived / fetched (after the NoC) / computed and resume its waiter; a fetch's or drain's
latency is over (the ``deliver`` closure of ``_CorePipeline._transfer``); a process ended."""
FETCH, COMPUTE, DRAIN, LINK = range(4)
"""Process roles; process ``p`` is role ``p % 4`` of core ``p // 4``."""
START, SLOT_WAIT, SIGNAL_WAIT, CHANNEL_WAIT, BUSY, DONE, TRANSFER, LANDING = range(8)
"""Where a process continues: the first six are where it waits (for a buffer slot, a step's
event, a DRAM channel, a timeout) or has ended; the last two are points within a run."""
PROCESSED = 2
"""An event's state once popped (0 pending, 1 scheduled)."""


@njit(cache=True)
def _push(heap, eid, time, priority, kind, a, b):
    heapq.heappush(heap, (time, priority, eid[0], kind, a, b))
    eid[0] += 1


@njit(cache=True)
def replay(first, fetch_occupancy, fetch_latency, compute_cycles, drain_occupancy,
           drain_latency, noc_cycles, has_link, load_slots, store_slots, channels):
    """Run every core's steps; return ``(phases, events, finished)``.

    ``first[c]:first[c + 1]`` are core ``c``'s steps in the per-step arrays (cores in
    ascending id); ``phases`` is ``(steps, 6)`` in ``pipeline.PHASE_COLUMNS`` order;
    ``finished`` is False if a process never ended (a deadlock).
    """
    n_cores = len(first) - 1
    n = len(compute_cycles)
    phases = np.zeros((n, 6), dtype=np.int64)
    state = np.zeros((3, n), dtype=np.int8)            # arrived, fetched, computed
    step = np.zeros(4 * n_cores, dtype=np.int64)
    pc = np.full(4 * n_cores, DONE, dtype=np.int64)
    load_free = np.full(n_cores, load_slots, dtype=np.int64)
    store_free = np.full(n_cores, store_slots, dtype=np.int64)
    load_waiting = np.zeros(n_cores, dtype=np.bool_)
    store_waiting = np.zeros(n_cores, dtype=np.bool_)
    channel_queue = np.zeros(4 * n_cores + 1, dtype=np.int64)   # FIFO ring of processes
    queue_head = 0
    queue_length = 0
    channels_free = channels
    eid = np.zeros(1, dtype=np.int64)
    heap = [(np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0))]
    heap.pop()
    for c in range(n_cores):                            # the processes, created in order
        for role in range(4 if has_link[c] else 3):
            pc[4 * c + role] = START
            _push(heap, eid, 0, URGENT, RESUME, 4 * c + role, 0)
    events = 0
    while len(heap):
        now, _priority, _eid, kind, a, b = heapq.heappop(heap)
        events += 1
        p = -1
        if kind == RESUME:
            p = a
        elif kind == ENDED:
            continue
        elif kind == FETCH_LANDED:                      # the fetch's deliver(): done.succeed()
            g = first[a] + b
            phases[g, 1] = now
            state[0, g] = 1
            _push(heap, eid, now, NORMAL, ARRIVED, a, b)
            continue
        elif kind == DRAIN_LANDED:                      # the drain's deliver(): slot freed
            phases[first[a] + b, 5] = now
            if store_waiting[a]:
                store_waiting[a] = False
                _push(heap, eid, now, NORMAL, RESUME, 4 * a + COMPUTE, 0)
            else:
                store_free[a] += 1
            continue
        else:                                           # a step's event: resume its waiter
            state[kind - ARRIVED, first[a] + b] = PROCESSED
            if kind == ARRIVED and has_link[a]:
                waiter = 4 * a + LINK
            elif kind == COMPUTED:
                waiter = 4 * a + DRAIN
            else:
                waiter = 4 * a + COMPUTE
            if pc[waiter] == SIGNAL_WAIT and step[waiter] == b:
                p = waiter
        if p < 0:
            continue
        # Run process p until it waits again: one resumption of its simpy generator.
        c = p // 4
        role = p % 4
        s = step[p]
        where = pc[p]
        while True:
            g = first[c] + s
            if role == FETCH or role == DRAIN:
                occupancy = fetch_occupancy if role == FETCH else drain_occupancy
                latency = fetch_latency if role == FETCH else drain_latency
                column = 0 if role == FETCH else 4
                if where == SLOT_WAIT or where == SIGNAL_WAIT:   # resumed: slot / data ready
                    where = TRANSFER
                elif where == START:                    # top of the loop, step s
                    if s == first[c + 1] - first[c]:
                        where = DONE
                        _push(heap, eid, now, NORMAL, ENDED, p, 0)
                        break
                    if role == FETCH:                   # load.slots.take()
                        if load_free[c] == 0:
                            load_waiting[c] = True
                            where = SLOT_WAIT
                            break
                        load_free[c] -= 1
                    elif state[2, g] != PROCESSED:      # yield computed[step]
                        where = SIGNAL_WAIT
                        break
                    where = TRANSFER
                if where == TRANSFER:                   # dram.transfer(occupancy)
                    if occupancy[g] == 0:
                        phases[g, column] = now
                        where = LANDING
                    elif channels_free == 0:
                        channel_queue[(queue_head + queue_length) % len(channel_queue)] = p
                        queue_length += 1
                        where = CHANNEL_WAIT
                        break
                    else:
                        channels_free -= 1
                        where = CHANNEL_WAIT
                if where == CHANNEL_WAIT:               # granted: hold the channel
                    phases[g, column] = now
                    _push(heap, eid, now + occupancy[g], NORMAL, RESUME, p, 0)
                    where = BUSY
                    break
                if where == BUSY:                       # channels.give()
                    if queue_length:
                        _push(heap, eid, now, NORMAL, RESUME, channel_queue[queue_head], 0)
                        queue_head = (queue_head + 1) % len(channel_queue)
                        queue_length -= 1
                    else:
                        channels_free += 1
                # LANDING: after_latency(latency, deliver), then the next step
                if latency[g]:
                    _push(heap, eid, now + latency[g], NORMAL,
                          FETCH_LANDED if role == FETCH else DRAIN_LANDED, c, s)
                elif role == FETCH:
                    phases[g, 1] = now
                    state[0, g] = 1
                    _push(heap, eid, now, NORMAL, ARRIVED, c, s)
                else:
                    phases[g, 5] = now
                    if store_waiting[c]:
                        store_waiting[c] = False
                        _push(heap, eid, now, NORMAL, RESUME, 4 * c + COMPUTE, 0)
                    else:
                        store_free[c] += 1
                s += 1
                where = START
            elif role == COMPUTE:
                if where == START:
                    if s == first[c + 1] - first[c]:
                        where = DONE
                        _push(heap, eid, now, NORMAL, ENDED, p, 0)
                        break
                    if store_free[c] == 0:              # store.slots.take()
                        store_waiting[c] = True
                        where = SLOT_WAIT
                        break
                    store_free[c] -= 1
                    where = SLOT_WAIT
                if where == SLOT_WAIT:                  # yield fetched[step]
                    if state[1 if has_link[c] else 0, g] != PROCESSED:
                        where = SIGNAL_WAIT
                        break
                    where = SIGNAL_WAIT
                if where == SIGNAL_WAIT:
                    phases[g, 2] = now
                    if compute_cycles[g]:
                        _push(heap, eid, now + compute_cycles[g], NORMAL, RESUME, p, 0)
                        where = BUSY
                        break
                phases[g, 3] = now                      # BUSY: the datapath is done
                if load_waiting[c]:                     # load.slots.give()
                    load_waiting[c] = False
                    _push(heap, eid, now, NORMAL, RESUME, 4 * c + FETCH, 0)
                else:
                    load_free[c] += 1
                state[2, g] = 1                         # computed[step].succeed()
                _push(heap, eid, now, NORMAL, COMPUTED, c, s)
                s += 1
                where = START
            else:                                       # LINK
                if where == START:
                    if s == first[c + 1] - first[c]:
                        where = DONE
                        _push(heap, eid, now, NORMAL, ENDED, p, 0)
                        break
                    if state[0, g] != PROCESSED:        # yield arrived[step]
                        where = SIGNAL_WAIT
                        break
                    where = SIGNAL_WAIT
                if where == SIGNAL_WAIT and noc_cycles[g]:
                    _push(heap, eid, now + noc_cycles[g], NORMAL, RESUME, p, 0)
                    where = BUSY
                    break
                state[1, g] = 1                         # fetched[step].succeed()
                _push(heap, eid, now, NORMAL, FETCHED, c, s)
                s += 1
                where = START
        step[p] = s
        pc[p] = where
    finished = True
    for p in range(4 * n_cores):
        if pc[p] != DONE:
            finished = False
    return phases, events, finished
