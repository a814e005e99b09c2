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
         color: str | None = None, where: dict | None = None) -> Figure:
    """The figure ``kind`` (one of :data:`KINDS`) from ``table``, with the options that
    kind takes (the ``accelsim plot`` command's entry point); ``archs`` keeps only those
    architectures, in that order (the speedup baseline among them)."""
    if archs:
        table = only_archs(table, archs)
    if kind == "speedup":
        return speedup(table, baseline, metric or "speedup")
    if kind in ("cycles", "energy", "utilization"):
        return {"cycles": cycles, "energy": energy, "utilization": utilization}[kind](
            table, workload)
    if kind == "sweep":
        if x is None:
            raise PlotError(f"the sweep figure needs --x KEY (swept keys: "
                            f"{', '.join(sweep_keys(table))})")
        return sweep(table, x, line, metric or "cycles", where)
    if kind == "pareto":
        return pareto(table, color=color)
    if kind == "mesh":
        return mesh(table, workload)
    raise PlotError(f"unknown figure {kind!r}; figures: {', '.join(KINDS)}")
