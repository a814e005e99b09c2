"""Figures of a search's trials table: the Pareto front of two objectives, every trial in
parallel coordinates, progress (best so far against trials, a line per sampler) and the
parameters' importance.

``accelsim plot pareto|parallel|progress|importance SEARCH.parquet`` (the search's output,
or its ``.trials`` table; several searches' tables are stacked, e.g. one per sampler).
Axis labels come from :mod:`accelsim.columns`; value axes start at zero unless ``zoom``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from accelsim.columns import axis_label
from accelsim.plot.data import PlotError, _read
from accelsim.plot.importance import importances, objective_columns, trial_keys
from accelsim.plot.style import PALETTE, new_figure, styled
from accelsim.plot.sweep import _value_axis

KINDS = ("pareto", "parallel", "progress", "importance")


def read_trials(paths: list[str | Path]) -> pd.DataFrame | None:
    """The trials tables of the given search outputs, stacked; None when a path is not a
    search's (a sweep's tables then make the figure)."""
    frames = []
    for path in map(Path, paths):
        trials = path if path.stem.endswith(".trials") else path.with_name(
            path.stem + ".trials" + path.suffix)
        if not trials.is_file():
            return None
        frames.append(_read(trials))
    return pd.concat(frames, ignore_index=True)


def make(kind: str, trials: pd.DataFrame, *, x: str | None = None, y: str | None = None,
         metric: str | None = None, zoom: bool = False) -> Figure:
    """The figure ``kind`` of :data:`KINDS` from a trials table."""
    objectives = objective_columns(trials)
    for name in (x, y, metric):
        if name is not None and name not in objectives:
            raise PlotError(f"{name!r} is not an objective of the search "
                            f"({', '.join(objectives)})")
    if kind == "pareto":
        if len(objectives) < 2 and (x is None or y is None):
            raise PlotError("the pareto figure needs two objectives; the search has "
                            f"{', '.join(objectives)}")
        return front(trials, x or objectives[0], y or objectives[1], zoom)
    if kind == "parallel":
        return parallel(trials, metric or objectives[0])
    if kind == "progress":
        return progress(trials, metric or objectives[0], zoom)
    if kind == "importance":
        return importance(trials, metric or objectives[0])
    raise PlotError(f"unknown search figure {kind!r}; figures: {', '.join(KINDS)}")


@styled
def front(trials: pd.DataFrame, x: str, y: str, zoom: bool = False) -> Figure:
    """Every ok trial faint, the Pareto-optimal ones (of all the search's objectives)
    ringed and joined, one panel per sampler."""
    ok = trials[trials["status"] == "ok"]
    samplers = list(dict.fromkeys(ok["sampler"]))
    figure, axes = new_figure(max(4.8, 4.2 * len(samplers)), 4.0, len(samplers))
    for ax, sampler, color in zip(axes, samplers, PALETTE, strict=False):
        rows = ok[ok["sampler"] == sampler]
        ax.scatter(rows[x], rows[y], s=16, color="#9a9a9a", alpha=0.45, linewidths=0,
                   label=f"trial ({len(rows)} ok)")
        best = rows[rows["pareto"]].sort_values([x, y])
        ax.plot(best[x], best[y], drawstyle="steps-post", color=color, linewidth=1.2)
        ax.scatter(best[x], best[y], s=40, color=color, edgecolors="black", linewidths=0.6,
                   label="Pareto front", zorder=3)
        for which in ("x", "y"):
            _value_axis(ax, which, False, zoom)
        ax.set_title(sampler, fontsize=10)
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        ax.grid(True, axis="both", alpha=0.35)
        ax.legend(loc="upper right", frameon=False)
    figure.suptitle(f"{axis_label(y, unit='')} vs {axis_label(x, unit='').lower()}: "
                    "Pareto front of the search", fontweight="bold", fontsize=11)
    return figure


@styled
def parallel(trials: pd.DataFrame, metric: str) -> Figure:
    """A line per ok trial across the keys and objectives (each axis from its least to its
    greatest value), coloured by ``metric``; the front's trials drawn on top."""
    ok = trials[trials["status"] == "ok"]
    columns = trial_keys(trials) + objective_columns(trials)
    numeric = pd.DataFrame({c: _as_number(ok[c]) for c in columns})
    low, high = numeric.min(), numeric.max()
    scaled = (numeric - low) / (high - low).replace(0, 1)
    figure, (ax,) = new_figure(max(6.0, 1.6 * len(columns)), 4.0)
    shade = (ok[metric] - ok[metric].min()) / max(np.ptp(ok[metric]), 1e-300)
    colors = mpl.colormaps["viridis"](shade.to_numpy())
    order = np.argsort(ok["pareto"].to_numpy(), kind="stable")
    for i in order:
        front_trial = bool(ok["pareto"].iloc[i])
        ax.plot(range(len(columns)), scaled.iloc[i], color=colors[i],
                alpha=0.9 if front_trial else 0.3, linewidth=1.6 if front_trial else 0.8)
    ax.set_xticks(range(len(columns)), [axis_label(c) for c in columns], rotation=20,
                  ha="right")
    ax.set_yticks([0, 1], ["least", "greatest"])
    for i, column in enumerate(columns):
        ax.axvline(i, color="#555555", linewidth=0.6)
        ax.annotate(f"{high[column]:.4g}", (i, 1.0), xytext=(0, 3),
                    textcoords="offset points", ha="center", fontsize=7)
        ax.annotate(f"{low[column]:.4g}", (i, 0.0), xytext=(0, -10),
                    textcoords="offset points", ha="center", fontsize=7)
    ax.grid(False)
    figure.suptitle(f"{len(ok)} ok trials, coloured by {axis_label(metric).lower()} "
                    "(bold: the Pareto front)", fontweight="bold", fontsize=11)
    return figure


@styled
def progress(trials: pd.DataFrame, metric: str, zoom: bool = False) -> Figure:
    """Best ``metric`` so far against the trial number, a line per sampler (lower is
    better unless every trial of the objective says otherwise: it is taken as minimised)."""
    figure, (ax,) = new_figure(6.0, 4.0)
    for (sampler, rows), color in zip(trials.groupby("sampler", sort=False), PALETTE,
                                      strict=False):
        rows = rows.sort_values("trial")
        best = rows[metric].where(rows["status"] == "ok").cummin()
        ax.plot(rows["trial"] + 1, best, drawstyle="steps-post", color=color, label=sampler)
    ax.set_xlabel("Trials")
    ax.set_ylabel(f"Best {axis_label(metric)[:1].lower()}{axis_label(metric)[1:]} so far")
    _value_axis(ax, "y", False, zoom)
    ax.set_xlim(0, None)
    ax.grid(True, axis="both", alpha=0.35)
    ax.legend(title="sampler", frameon=False)
    figure.suptitle("Search progress", fontweight="bold", fontsize=11)
    return figure


@styled
def importance(trials: pd.DataFrame, metric: str) -> Figure:
    """Each key's importance for ``metric`` (Optuna's PED-ANOVA), a bar per sampler."""
    samplers = list(dict.fromkeys(trials["sampler"]))
    found = pd.DataFrame({s: importances(trials[trials["sampler"] == s], metric)
                          for s in samplers}).fillna(0.0)
    figure, (ax,) = new_figure(6.0, 1.2 + 0.5 * len(found) * max(1, len(samplers) / 2))
    height = 0.8 / len(samplers)
    for i, (sampler, color) in enumerate(zip(samplers, PALETTE, strict=False)):
        ax.barh(np.arange(len(found)) + i * height, found[sampler], height, color=color,
                label=sampler)
    ax.set_yticks(np.arange(len(found)) + 0.4 - height / 2, [axis_label(k) for k in found.index])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"Importance for the best {axis_label(metric)[:1].lower()}"
                  f"{axis_label(metric)[1:]} (PED-ANOVA, sums to 1)")
    ax.grid(True, axis="x", alpha=0.35)
    ax.legend(title="sampler", frameon=False)
    figure.suptitle("Which parameters matter", fontweight="bold", fontsize=11)
    return figure


def _as_number(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    codes = {v: i for i, v in enumerate(sorted(values.unique(), key=str))}
    return values.map(codes).astype(float)
