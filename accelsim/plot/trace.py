"""A picture of a run's timeline: the Chrome Trace Event JSON that ``accelsim run --trace``
writes (:mod:`accelsim.sim.trace`), drawn as one row per track.

``accelsim plot trace RUN.json`` gives a static view of what Perfetto shows interactively
(for a README, a report, a machine without a browser): the ``layers`` track on top, one span
per layer with its name, then every core's fetch (DRAM to its load buffer), compute and drain
(store buffer to DRAM) tracks, spans coloured by unit. The x axis is in cycles (every span's
``args`` carries its exact cycles); the top axis in microseconds at the trace's clock.
``layers`` keeps the named layers' spans, ``window`` a cycle range; the figure draws exactly
the trace's spans that pass both (:func:`spans` lists them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from accelsim.plot.data import PlotError
from accelsim.plot.style import (
    COMPONENT_COLORS,
    MAX_WIDTH_IN,
    PALETTE,
    new_figure,
    styled,
    text_color,
)

UNIT_COLORS = {"fetch": COMPONENT_COLORS["dram"], "compute": COMPONENT_COLORS["nfu"],
               "drain": COMPONENT_COLORS["sb"]}
"""A phase track's colour: DRAM reads dark grey, the datapath red, writes back blue."""
LAYER_COLORS = (PALETTE[8], PALETTE[9])
"""The layers track alternates two light colours, so neighbouring layers stay apart."""


@dataclass(frozen=True)
class Span:
    """One complete event of the trace, in cycles, on the row ``track``."""

    track: str
    name: str
    category: str
    layer: str
    start: int
    cycles: int


def read_trace(path: str | Path) -> dict:
    """The trace ``accelsim run --trace`` wrote to ``path``, checked for its event list."""
    path = Path(path)
    if not path.is_file():
        raise PlotError(f"{path}: file not found")
    try:
        trace = json.loads(path.read_text())
        events = trace["traceEvents"]
        if not isinstance(events, list):
            raise TypeError
    except (ValueError, OSError, KeyError, TypeError):
        raise PlotError(f"{path}: not a Chrome Trace Event JSON written by accelsim run "
                        "--trace (expected an object with a 'traceEvents' list)") from None
    return trace


def spans(trace: dict, layers: list[str] | None = None,
          window: tuple[int, int] | None = None) -> list[Span]:
    """The trace's spans (``"ph": "X"`` events), in trace order, keeping those of the
    named ``layers`` and those that overlap the cycle range ``window`` [first, last)."""
    names = _track_names(trace["traceEvents"])
    kept = []
    for event in trace["traceEvents"]:
        if event.get("ph") != "X":
            continue
        try:
            args = event["args"]
            layer = event["name"] if event.get("cat") == "layer" else args["layer"]
            span = Span(names[(event.get("pid"), event.get("tid"))], event["name"],
                        event.get("cat", ""), layer, int(args["start_cycle"]),
                        int(args["cycles"]))
        except (KeyError, TypeError, ValueError):
            raise PlotError(f"trace event {event.get('name')!r} has no args.start_cycle / "
                            "args.cycles / args.layer: not a trace of accelsim run --trace"
                            ) from None
        kept.append(span)
    if layers:
        known = list(dict.fromkeys(s.layer for s in kept))
        unknown = [name for name in layers if name not in known]
        if unknown:
            raise PlotError(f"--layers {','.join(unknown)}: not in the trace (it has "
                            f"{', '.join(known[:12])}{', ...' if len(known) > 12 else ''})")
        kept = [s for s in kept if s.layer in layers]
    if window:
        first, last = window
        if not 0 <= first < last:
            raise PlotError(f"--window {first}:{last}: expected FIRST:LAST cycles, "
                            "0 <= FIRST < LAST")
        kept = [s for s in kept if s.start < last and s.start + s.cycles > first]
    if not kept:
        raise PlotError("the trace has no spans to draw" + (" in that window" if window else ""))
    return kept


@styled
def timeline(trace: dict, layers: list[str] | None = None,
             window: tuple[int, int] | None = None, title: str | None = None) -> Figure:
    """The timeline figure of ``trace`` (see the module docstring)."""
    drawn = spans(trace, layers, window)
    by_track: dict[str, list[Span]] = {}
    for s in drawn:
        by_track.setdefault(s.track, []).append(s)
    tracks = list(by_track)
    figure, (axes,) = new_figure(MAX_WIDTH_IN * 0.8, 1.0 + 0.42 * len(tracks))
    row = {track: len(tracks) - 1 - i for i, track in enumerate(tracks)}
    layer_color = {}
    for track, on_row in by_track.items():
        colors = []
        for s in on_row:
            if s.category == "layer":
                color = layer_color.setdefault(s.layer, LAYER_COLORS[len(layer_color) % 2])
            else:
                color = UNIT_COLORS.get(s.category, PALETTE[7])
            colors.append(color)
        axes.broken_barh([(s.start, s.cycles) for s in on_row], (row[track] - 0.4, 0.8),
                         facecolors=colors, linewidth=0, gid=f"spans:{track}")
    lo = window[0] if window else min(s.start for s in drawn)
    hi = window[1] if window else max(s.start + s.cycles for s in drawn)
    axes.set_xlim(lo, hi)
    for s in drawn:   # layer names inside their spans, where they fit
        if s.category == "layer" and s.cycles > 0.04 * (hi - lo):
            middle = (max(s.start, lo) + min(s.start + s.cycles, hi)) / 2
            axes.text(middle, row[s.track], s.layer, ha="center", va="center", fontsize=8,
                      color=text_color(layer_color[s.layer]), clip_on=True)
    axes.set_yticks(range(len(tracks)), list(reversed(tracks)))
    axes.set_ylim(-0.6, len(tracks) - 0.4)
    axes.set_xlabel("cycle")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes.grid(axis="x", alpha=0.35)
    axes.grid(axis="y", visible=False)
    clock_mhz = trace.get("otherData", {}).get("accelsim.clock_mhz")
    if clock_mhz:
        top = axes.secondary_xaxis("top", functions=(lambda c: c / clock_mhz,
                                                     lambda us: us * clock_mhz))
        top.set_xlabel(f"time (µs at {clock_mhz:g} MHz)")
    units = [u for u in UNIT_COLORS if any(s.category == u for s in drawn)]
    if units:
        figure.legend([Patch(color=UNIT_COLORS[u]) for u in units], units,
                      loc="outside lower center", ncols=len(units), frameon=False)
    every = trace.get("otherData", {}).get("accelsim.sampled_every", 1)
    name = trace.get("otherData", {}).get("accelsim.run", "run")
    sampled = f" (one engine step in {every} shown)" if every > 1 else ""
    axes.set_title(title or f"Timeline of {name}{sampled}")
    return figure


def _track_names(events: list[dict]) -> dict[tuple[int, int], str]:
    """``(pid, tid)`` -> the row's label: the process's name, then the thread's, if any
    ("diannao core 0 fetch"; the layers process has one unnamed thread: "layers")."""
    processes = {e["pid"]: e["args"]["name"] for e in events
                 if e.get("ph") == "M" and e.get("name") == "process_name"}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    names = {}
    for e in events:
        if e.get("ph") == "X" and (e.get("pid"), e.get("tid")) not in names:
            key = (e.get("pid"), e.get("tid"))
            process = processes.get(key[0], f"process {key[0]}")
            names[key] = f"{process} {threads[key]}" if key in threads else process
    return names
