"""One entry point for every figure: :func:`make` picks the figure by kind name, with the
options that kind takes (what ``accelsim plot KIND`` calls)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from accelsim.plot.bars import cycles, energy, speedup, utilization
from accelsim.plot.data import PlotError, only_archs, sweep_keys
from accelsim.plot.mesh import mesh
from accelsim.plot.sweep import pareto, sweep

KINDS = ("speedup", "cycles", "energy", "utilization", "sweep", "pareto", "mesh")


def make(kind: str, table: pd.DataFrame, *, workload: str | None = None,
         archs: list[str] | None = None, baseline: str | None = None,
         metric: str | None = None, x: str | None = None, line: str | None = None,
         color: str | None = None, where: dict | None = None, layers: str = "all",
         zoom: bool = False) -> Figure:
    """The figure ``kind`` (one of :data:`KINDS`) from ``table``, with the options that
    kind takes (the ``accelsim plot`` command's entry point); ``archs`` keeps only those
    architectures, in that order (the speedup baseline among them); ``layers`` (conv, fc,
    all) the layers a comparison figure covers; ``zoom`` fits a sweep's axes to the data
    instead of starting them at zero."""
    if archs:
        table = only_archs(table, archs)
    if layers != "all" and kind not in ("speedup", "cycles", "energy", "utilization"):
        raise PlotError(f"--layers {layers}: the {kind} figure has no per-layer choice")
    if kind == "speedup":
        return speedup(table, baseline, metric or "speedup", kinds=layers)
    if kind == "cycles":
        if metric not in (None, "cycles", "time"):
            raise PlotError(f"metric {metric!r}: the cycles figure shows cycles or time")
        return cycles(table, workload, metric, kinds=layers)
    if kind in ("energy", "utilization"):
        return {"energy": energy, "utilization": utilization}[kind](table, workload,
                                                                     kinds=layers)
    if kind == "sweep":
        if x is None:
            raise PlotError(f"the sweep figure needs --x KEY (swept keys: "
                            f"{', '.join(sweep_keys(table))})")
        return sweep(table, x, line, metric, where, zoom=zoom)
    if kind == "pareto":
        return pareto(table, color=color, zoom=zoom)
    if kind == "mesh":
        return mesh(table, workload)
    raise PlotError(f"unknown figure {kind!r}; figures: {', '.join(KINDS)}")
