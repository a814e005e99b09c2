"""A run's timeline as Chrome Trace Event JSON, which Perfetto (ui.perfetto.dev) and
chrome://tracing open.

The engine simulates each layer's steps (tiles, coarsened to at most ``max_steps`` per core;
:mod:`accelsim.engine.pipeline`) through three phases per core: **fetch** (DRAM -> load
buffer, from the channel grant until the data is usable), **compute** (the datapath) and
**drain** (store buffer -> DRAM). :class:`Timeline` keeps the engine's per-step timeline of
every layer and :func:`write_chrome_trace` lays the layers end to end, as the simulator runs
them:

* one process (``pid``) per unit that ran layers (the core, its host, its activation unit,
  a data-layout step), and one per core of the chip with that core's fetch, compute and
  drain as threads (``tid``): a multi-core design shows its load imbalance as idle gaps;
* a ``layers`` track with one span per layer, whose durations add up to the run's cycles;
* timestamps in microseconds at the design's clock (``ts = cycle / clock_mhz``), and every
  event's ``args`` carrying its cycles, so nothing is lost to rounding.

Phases of 0 cycles are left out. A run with more than ``max_events`` phase events keeps every
k-th step of each layer (k the same for the whole run) and says so in the trace's metadata
(``accelsim.sampled_every``), so a whole VGG-16 on a 168-PE design stays a few MB.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from accelsim.errors import AccelsimError

MAX_EVENTS = 400_000
"""Phase events kept before sampling steps (about 150 bytes each: ~60 MB at most)."""

PHASES = (("fetch", "fetch_start", "fetch_end"), ("compute", "compute_start", "compute_end"),
          ("drain", "drain_start", "drain_end"))
LAYERS_PID = 0


@dataclass
class Timeline:
    """The per-step timelines of a run's layers, in the order they ran."""

    layers: list[tuple[str, str, int, pd.DataFrame]] = field(default_factory=list)

    def add(self, layer: str, ran_on: str, cycles: int, steps: pd.DataFrame) -> None:
        """A layer that took ``cycles`` on ``ran_on``; ``steps``: the engine's timeline."""
        self.layers.append((layer, ran_on, int(cycles), steps))

    @property
    def cycles(self) -> int:
        return sum(cycles for _, _, cycles, _ in self.layers)


def chrome_trace(timeline: Timeline, clock_mhz: float, name: str,
                 max_events: int = MAX_EVENTS) -> dict:
    """The trace as a dict in the Trace Event Format (JSON object form)."""
    phase_events = sum(3 * len(steps) for *_, steps in timeline.layers)
    every = max(1, math.ceil(phase_events / max_events))
    events = [_meta("process_name", LAYERS_PID, 0, {"name": "layers"})]
    pids: dict[tuple[str, int], int] = {}
    start = 0
    for layer, ran_on, cycles, steps in timeline.layers:
        events.append(_span(layer, "layer", start, cycles, clock_mhz, LAYERS_PID, 0,
                            {"ran_on": ran_on}))
        for core, rows in steps.groupby("core", sort=True):
            pid = pids.get((ran_on, int(core)))
            if pid is None:
                pid = pids[(ran_on, int(core))] = len(pids) + 1
                events.append(_meta("process_name", pid, 0, {"name": f"{ran_on} core {core}"}))
                events.extend(_meta("thread_name", pid, tid, {"name": phase})
                              for tid, (phase, _, _) in enumerate(PHASES))
            for row in rows.iloc[::every].itertuples(index=False):
                for tid, (phase, begin, end) in enumerate(PHASES):
                    first, last = getattr(row, begin), getattr(row, end)
                    if last > first:
                        events.append(_span(f"{layer} {phase}", phase, start + first,
                                            last - first, clock_mhz, pid, tid,
                                            {"layer": layer, "step": int(row.step)}))
        start += cycles
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"accelsim.run": name, "accelsim.clock_mhz": clock_mhz,
                          "accelsim.cycles": start, "accelsim.sampled_every": every}}


def write_chrome_trace(path: Path, timeline: Timeline, clock_mhz: float, name: str,
                       max_events: int = MAX_EVENTS) -> Path:
    """Write :func:`chrome_trace` to ``path`` (compact JSON); returns the path."""
    path = Path(path)
    trace = chrome_trace(timeline, clock_mhz, name, max_events)
    try:
        with path.open("w") as out:
            json.dump(trace, out, separators=(",", ":"))
    except OSError as err:
        raise AccelsimError(f"{path}: cannot write the trace ({err.strerror or err})") from None
    return path


def _span(name: str, category: str, first: int, cycles: int, clock_mhz: float, pid: int,
          tid: int, args: dict) -> dict:
    return {"name": name, "cat": category, "ph": "X", "ts": first / clock_mhz,
            "dur": cycles / clock_mhz, "pid": pid, "tid": tid,
            "args": {**args, "start_cycle": int(first), "cycles": int(cycles)}}


def _meta(kind: str, pid: int, tid: int, args: dict) -> dict:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid, "args": args}
