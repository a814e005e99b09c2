"""Figures of a sweep's points table: a metric against a swept key, and the Pareto front.

Axis labels come from :mod:`accelsim.columns`; linear value axes start at zero (a 6%
change should look like 6%) unless ``zoom`` asks to fit the data; without a metric, runs
at different clocks are compared in time, not cycles."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, FixedLocator, LogLocator, NullFormatter, NullLocator

from accelsim.columns import axis_label
from accelsim.plot.data import clocks_differ, sweep_slice
from accelsim.plot.style import arch_color, new_figure, styled
from accelsim.sweep.report import pareto_front


@styled
def sweep(points: pd.DataFrame, x: str, line: str | None = None, metric: str | None = None,
          where: dict | None = None, zoom: bool = False) -> Figure:
    """``metric`` against swept key ``x``, one line per value of key ``line``, one panel
    per workload. Other swept keys are held at ``where``'s values (default: each key's
    middle value), named in the title. ``metric`` defaults to cycles, or time_ms when the
    runs' clocks differ; the value axis starts at zero unless ``zoom``."""
    metric = metric or time_or_cycles(points)
    table, fixed, hidden = sweep_slice(points, x, line, metric, where)
    workloads = list(dict.fromkeys(table["workload"]))
    figure, axes = new_figure(max(4.8, 4.0 * len(workloads)), 3.8, len(workloads))
    values = list(dict.fromkeys(sorted(table[line].dropna().unique()))) if line else [None]
    colors = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, max(len(values), 1)))
    for ax, workload in zip(axes, workloads, strict=True):
        rows = table[table["workload"] == workload]
        for value, color in zip(values, colors, strict=True):
            series = rows if value is None else rows[rows[line] == value]
            series = series.sort_values(x)
            color = arch_color(value) if line == "arch" else color
            ax.plot(series[x], series[metric], marker="o", markersize=4, color=color,
                    label=f"{value}" if value is not None else None)
        _sweep_axes(ax, table[x], rows[metric], zoom)
        ax.set_title(workload, fontsize=10)
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(metric))
        ax.grid(True, axis="both", alpha=0.35)
    if line:
        axes[-1].legend(title=axis_label(line), loc="upper left", bbox_to_anchor=(1.0, 1.0),
                        frameon=False)
    note = ", ".join(f"{k}={v}" for k, v in fixed.items())
    figure.suptitle(f"{axis_label(metric, unit='')} vs {axis_label(x, unit='').lower()}"
                    + (f" ({note})" if note else "")
                    + (f"; {hidden} failed runs not shown" if hidden else ""),
                    fontweight="bold", fontsize=11)
    return figure


def time_or_cycles(points: pd.DataFrame) -> str:
    """``time_ms`` when the runs' clocks differ (cycles would not compare), else cycles."""
    return "time_ms" if clocks_differ(points) else "cycles"


def _sweep_axes(ax, xs: pd.Series, ys: pd.Series, zoom: bool = False) -> None:
    """Log scales for ranges that span a decade-ish; ticks at the swept values; a linear
    value axis from zero unless ``zoom``."""
    xs = np.array(sorted({float(v) for v in xs.dropna()}))
    if len(xs) and xs.min() > 0 and xs.max() / xs.min() >= 8:
        ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(xs, [f"{v:g}" for v in xs])
    ys = ys.dropna()
    _value_axis(ax, "y", len(ys) and ys.min() > 0 and ys.max() / ys.min() >= 30, zoom)


def _value_axis(ax, which: str, log: bool, zoom: bool = False) -> None:
    """Engineering tick labels (20k, 1.5M); on a log axis at 1, 2 and 5 per decade, with no
    minor labels (they collide when the range is short); a linear axis from zero."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    if log:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    elif not zoom:
        (ax.set_xlim if which == "x" else ax.set_ylim)(0, None)
    axis.set_major_formatter(EngFormatter(sep=""))


@styled
def pareto(points: pd.DataFrame, x: str | None = None, y: str = "energy_uj",
           color: str | None = None, zoom: bool = False) -> Figure:
    """Every ok run as a dot (coloured by key ``color``), the Pareto-optimal ones (no run
    beats them in both ``x`` and ``y``) ringed and joined, one panel per workload. ``x``
    defaults to cycles, or time_ms when the runs' clocks differ; linear axes start at
    zero unless ``zoom``."""
    x = x or time_or_cycles(points)
    ok = points[points["status"] == "ok"].copy()
    front = pareto_front(ok, x, y)
    workloads = list(dict.fromkeys(ok["workload"]))
    figure, axes = new_figure(max(4.8, 4.2 * len(workloads)), 4.0, len(workloads))
    values = sorted(ok[color].dropna().unique()) if color else [None]
    colors = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, len(values)))
    for ax, workload in zip(axes, workloads, strict=True):
        rows = ok[ok["workload"] == workload]
        for value, shade in zip(values, colors, strict=True):
            dots = rows if value is None else rows[rows[color] == value]
            shade = arch_color(value) if color == "arch" else shade
            ax.scatter(dots[x], dots[y], s=18, color=shade, alpha=0.8, linewidths=0,
                       label=f"{value}" if value is not None else "run")
        best = rows[front[rows.index]].sort_values(x)
        ax.plot(best[x], best[y], drawstyle="steps-post", color="black", linewidth=1.0)
        ax.scatter(best[x], best[y], s=46, facecolors="none", edgecolors="black",
                   linewidths=1.1, label="Pareto front")
        for which, values_ in (("x", rows[x]), ("y", rows[y])):
            _value_axis(ax, which, values_.min() > 0 and values_.max() / values_.min() >= 10,
                        zoom)
        ax.set_title(workload, fontsize=10)
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        ax.grid(True, axis="both", alpha=0.35)
    axes[-1].legend(title=axis_label(color) if color else None, loc="upper left",
                    bbox_to_anchor=(1.0, 1.0), frameon=False)
    figure.suptitle(f"{axis_label(y, unit='')} vs {axis_label(x, unit='').lower()}: "
                    "Pareto front", fontweight="bold", fontsize=11)
    return figure
