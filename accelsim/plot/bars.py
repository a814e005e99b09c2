"""Bar charts of comparisons and runs: speedup, per-layer cycles, energy, utilization.

Every function takes a DataFrame and returns a :class:`matplotlib.figure.Figure` (built
without pyplot, so nothing global changes and no display is needed). Inputs:

* ``speedup``: a comparison's ``layers`` or ``networks`` table (:mod:`accelsim.compare`);
* ``cycles``, ``energy``, ``utilization``: per-layer rows with an ``arch`` column (a
  comparison's ``layers``; ``Result.layers`` with ``arch`` added; :func:`read_tables`
  adds it from a run's ``.meta.json``);

An architecture keeps its colour in every figure, and so does a common energy component
(:mod:`accelsim.plot.style`).
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter, FuncFormatter, PercentFormatter

from accelsim.plot.data import network_speedups, one_workload
from accelsim.plot.style import (
    STYLE,
    arch_color,
    by_color,
    component_colors,
    new_figure,
    styled,
    text_color,
)

MINOR_SHARE = 0.015
"""Components below this share of every architecture's energy are drawn as one "other"."""


@styled
def speedup(table: pd.DataFrame, baseline: str | None = None,
            metric: str = "speedup") -> Figure:
    """Grouped bars: each architecture's speedup (or ``energy_ratio``) over ``baseline``
    per network, each labelled with its value, and their geometric mean when there are
    several networks. A log axis when the ratios span more than 20x."""
    ratios, baseline = network_speedups(table, baseline, metric)
    archs = [a for a in ratios.columns if a != baseline] or [baseline]
    groups = list(ratios.index)
    n_bars = len(groups) * len(archs)
    figure, (ax,) = new_figure(min(12.0, max(5.0, 1.4 + len(groups) * (0.3 * len(archs) + 0.4))),
                            4.2)
    width = 0.8 / len(archs)
    x = np.arange(len(groups))
    values = ratios[archs].to_numpy(dtype=float)
    log = np.nanmin(values) > 0 and np.nanmax(values) / np.nanmin(values) > 20
    base = 1.0 if log else 0.0   # on a log axis bars grow from the baseline, up or down
    for i, arch in enumerate(archs):
        bars = ax.bar(x + (i - (len(archs) - 1) / 2) * width, ratios[arch] - base,
                      width * 0.9, bottom=base, color=arch_color(arch), label=arch)
        ax.bar_label(bars, labels=[_ratio_label(v) for v in ratios[arch]], padding=2,
                     fontsize=7 if n_bars <= 16 else 6.5, rotation=0 if n_bars <= 16 else 90)
    ax.axhline(1.0, color=arch_color(baseline), linestyle="--", linewidth=1.2,
               label=f"{baseline} (baseline)")
    if "geomean" in groups:
        ax.axvline(len(groups) - 1.5, color="#999999", linewidth=0.8, linestyle=":")
    ax.set_xticks(x, groups)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    top = float(np.nanmax(values)) if len(values) else 1.0
    if log:
        ax.set_yscale("log")
        ax.set_ylim(min(float(np.nanmin(values)), 1.0) / (6 if n_bars > 16 else 3),
                    max(top, 1.0) * (6 if n_bars > 16 else 3))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    else:
        ax.set_ylim(0, max(1.0, top) * (1.3 if n_bars > 16 else 1.15))
    what = "speedup" if metric == "speedup" else "energy efficiency"
    ax.set_ylabel(f"{what} over {baseline} (x)")
    ax.set_title(f"{what.capitalize()} over {baseline}, whole network")
    handles, labels = ax.get_legend_handles_labels()
    order = [labels.index(a) for a in archs] + [labels.index(f"{baseline} (baseline)")]
    figure.legend([handles[i] for i in order], [labels[i] for i in order],
                  loc="outside lower center", ncols=len(order), frameon=False)
    return figure


def _ratio_label(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


@styled
def cycles(layers: pd.DataFrame, workload: str | None = None) -> Figure:
    """Per-layer cycles, one bar per architecture, stacked into compute and stall; below,
    each bar's stall share, readable also for layers dwarfed by the longest one."""
    layers, workload = one_workload(layers, workload)
    archs, names = _archs_and_layers(layers)
    width_in, height_in = _per_layer_size(len(names), len(archs))
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(width_in, height_in + 1.6), layout="constrained")
        ax, share = figure.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
    x, width = np.arange(len(names)), 0.8 / len(archs)
    for i, arch in enumerate(archs):
        rows = layers[layers["arch"] == arch].set_index("layer").reindex(names)
        offset = x + (i - (len(archs) - 1) / 2) * width
        color, stall = arch_color(arch), dict(alpha=0.35, hatch="////", linewidth=0)
        ax.bar(offset, rows["compute_cycles"], width * 0.92, color=color)
        ax.bar(offset, rows["stall_cycles"], width * 0.92, bottom=rows["compute_cycles"],
               color=color, edgecolor=color, **stall)
        share.bar(offset, 100 * rows["stall_cycles"] / rows["cycles"].clip(lower=1),
                  width * 0.92, color=color, edgecolor=color, **stall)
    ax.yaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_ylabel("cycles")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.05)
    ax.set_title(f"Cycles per layer, compute and stall: {workload}")
    share.set_ylim(0, 100)
    share.yaxis.set_major_formatter(PercentFormatter())
    share.set_ylabel("stall share")
    _layer_axis(share, names)
    handles = [Patch(color=arch_color(a), label=a) for a in archs]
    handles.append(Patch(facecolor="white", edgecolor="#555555", hatch="////",
                         label="stall (waiting\non memory)"))
    figure.legend(handles=handles, loc="outside right upper", frameon=False)
    return figure


@styled
def energy(layers: pd.DataFrame, workload: str | None = None) -> Figure:
    """Energy by component, stacked: per layer for one architecture, per architecture
    (whole network) for several; beside it, each component's share of the total.
    Components under 1.5% of every architecture's energy are lumped as "other"."""
    layers, workload = one_workload(layers, workload)
    archs, names = _archs_and_layers(layers)
    layers, parts = _energy_parts(layers)
    colors = component_colors([p[len("energy_"):-len("_pj")] for p in parts])
    by_arch = layers.groupby("arch", sort=False)[parts].sum().reindex(archs).fillna(0) / 1e6
    if len(archs) == 1:
        table = layers.set_index("layer").reindex(names)[parts].fillna(0) / 1e6
        width_in, height_in = _per_layer_size(len(names), 1)
        title = f"Energy per layer by component: {workload} on {archs[0]}"
    else:
        table, width_in, height_in = by_arch, max(4.5, 1.5 + 1.0 * len(archs)), 4.2
        title = f"Energy by component: {workload}"
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(width_in + 1.2 + 0.5 * len(archs), height_in),
                        layout="constrained")
        ax, share = figure.subplots(1, 2, width_ratios=[len(table) + 1, 1.2 * len(archs)])
    handles = _stacked(ax, table, parts, colors)
    if len(archs) == 1:
        _layer_axis(ax, names)
    else:
        _arch_ticks(ax, archs)
    ax.set_ylabel("energy (uJ)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylim(top=ax.get_ylim()[1] * 1.05)
    ax.set_title(title)
    shares = 100 * by_arch.div(by_arch.sum(axis=1).replace(0, 1), axis=0)
    _stacked(share, shares, parts, colors, label_percent=True)
    _arch_ticks(share, archs if len(archs) > 1 else ["network"], archs)
    share.set_ylim(0, 100)
    share.yaxis.set_major_formatter(PercentFormatter())
    share.set_title("share", fontsize=9)
    handles, labels = by_color(handles[::-1], colors)
    figure.legend(handles, labels, loc="outside right upper", frameon=False,
                  title="component")
    return figure


def _energy_parts(layers: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The ``energy_<component>_pj`` columns worth a colour, the minor ones summed into
    ``energy_other_pj`` (when there are at least two of them)."""
    parts = [c for c in layers.columns if c.startswith("energy_") and c.endswith("_pj")
             and c != "energy_pj" and layers[c].fillna(0).sum() > 0]
    totals = layers.groupby("arch")[parts].sum()
    shares = totals.div(totals.sum(axis=1).replace(0, 1), axis=0)
    minor = [p for p in parts if (shares[p] < MINOR_SHARE).all()]
    if len(minor) < 2:
        return layers, parts
    layers = layers.assign(energy_other_pj=layers[minor].fillna(0).sum(axis=1))
    return layers, [p for p in parts if p not in minor] + ["energy_other_pj"]


def _stacked(ax, table: pd.DataFrame, parts: list[str], colors: dict[str, str],
             label_percent: bool = False) -> list:
    """Stack ``table``'s ``parts`` columns as bars, one per row; label segments of >= 6%."""
    bottom, x, handles = np.zeros(len(table)), np.arange(len(table)), []
    for part in parts:
        name = part[len("energy_"):-len("_pj")]
        bars = ax.bar(x, table[part], 0.7, bottom=bottom, color=colors[name], label=name)
        if label_percent:
            ax.bar_label(bars, labels=[f"{v:.0f}%" if v >= 6 else "" for v in table[part]],
                         label_type="center", fontsize=7, color=text_color(colors[name]))
        handles.append(bars)
        bottom += table[part].to_numpy()
    return handles


def _arch_ticks(ax, labels: list[str], archs: list[str] | None = None) -> None:
    """Tick labels under the bars, coloured as their architectures."""
    ax.set_xticks(np.arange(len(labels)), labels, rotation=0 if len(labels) < 4 else 45)
    for tick, arch in zip(ax.get_xticklabels(), archs or labels, strict=False):
        tick.set_color(arch_color(arch))


@styled
def utilization(layers: pd.DataFrame, workload: str | None = None) -> Figure:
    """Per-layer datapath utilization (effectual work / peak), one bar per architecture."""
    layers, workload = one_workload(layers, workload)
    archs, names = _archs_and_layers(layers)
    figure, (ax,) = new_figure(*_per_layer_size(len(names), len(archs)))
    x, width = np.arange(len(names)), 0.8 / len(archs)
    for i, arch in enumerate(archs):
        rows = layers[layers["arch"] == arch].set_index("layer").reindex(names)
        ax.bar(x + (i - (len(archs) - 1) / 2) * width, 100 * rows["utilization"], width * 0.92,
               color=arch_color(arch), label=arch)
    _layer_axis(ax, names)
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_ylabel("utilization of the datapath")
    ax.set_title(f"Utilization per layer: {workload}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return figure


def _archs_and_layers(layers: pd.DataFrame) -> tuple[list[str], list[str]]:
    return list(dict.fromkeys(layers["arch"])), list(dict.fromkeys(layers["layer"]))


def _per_layer_size(n_layers: int, n_archs: int) -> tuple[float, float]:
    return max(6.0, 1.5 + n_layers * (0.22 + 0.12 * n_archs)), 4.2


def _layer_axis(ax, names: list[str]) -> None:
    ax.set_xticks(np.arange(len(names)), names, rotation=90)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xlabel("layer")
