"""Bar charts of comparisons and runs: speedup, per-layer cycles, energy, utilization.

Every function takes a DataFrame and returns a :class:`matplotlib.figure.Figure` (built
without pyplot, so nothing global changes and no display is needed). Inputs:

* ``speedup``: a comparison's ``layers`` or ``networks`` table (:mod:`accelsim.compare`);
* ``cycles``, ``energy``, ``utilization``: per-layer rows with an ``arch`` column (a
  comparison's ``layers``; ``Result.layers`` with ``arch`` added; :func:`read_tables`
  adds it from a run's ``.meta.json``);

An architecture keeps its colour in every figure (two in one figure never share one), and
so does a common energy component (:mod:`accelsim.plot.style`). Axis labels come from
:mod:`accelsim.columns`; ``kinds`` (``all``, ``conv``, ``fc``) picks the layers; figures stay
within :data:`~accelsim.plot.style.MAX_WIDTH_IN` for up to 12 architectures (layers wrap
into rows, the legend into columns).
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter, FuncFormatter, PercentFormatter

from accelsim.columns import DOMINANT_SHARE, axis_label
from accelsim.plot.data import (
    clock_mhz,
    clocks_differ,
    group_shares,
    network_speedups,
    one_workload,
    select_layers,
)
from accelsim.plot.style import (
    MAX_WIDTH_IN,
    STYLE,
    arch_colors,
    by_color,
    component_colors,
    legend_columns,
    new_figure,
    styled,
    text_color,
)

MINOR_SHARE = 0.015
"""Components below this share of every architecture's energy are drawn as one "other"."""


@styled
def speedup(table: pd.DataFrame, baseline: str | None = None,
            metric: str = "speedup", kinds: str = "all") -> Figure:
    """Grouped bars: each architecture's speedup (or ``energy_ratio``) over ``baseline``
    per network, over layer group ``kinds`` (``all``, ``conv``, ``fc``), each labelled
    with its value, and their geometric mean when there are several networks. A log axis
    when the ratios span more than 20x. A network whose fc layers take most of the time
    says so under its name (a whole-network ratio is then mostly the fc layers')."""
    ratios, baseline = network_speedups(table, baseline, metric, kinds)
    archs = [a for a in ratios.columns if a != baseline] or [baseline]
    colors = arch_colors(list(ratios.columns))
    groups = list(ratios.index)
    n_bars = len(groups) * len(archs)
    figure, (ax,) = new_figure(
        min(MAX_WIDTH_IN, max(5.0, 1.4 + len(groups) * (0.3 * len(archs) + 0.4))), 4.2)
    width = 0.8 / len(archs)
    x = np.arange(len(groups))
    values = ratios[archs].to_numpy(dtype=float)
    log = np.nanmin(values) > 0 and np.nanmax(values) / np.nanmin(values) > 20
    base = 1.0 if log else 0.0   # on a log axis bars grow from the baseline, up or down
    for i, arch in enumerate(archs):
        bars = ax.bar(x + (i - (len(archs) - 1) / 2) * width, ratios[arch] - base,
                      width * 0.9, bottom=base, color=colors[arch], label=arch)
        ax.bar_label(bars, labels=[_ratio_label(v) for v in ratios[arch]], padding=2,
                     fontsize=7 if n_bars <= 16 else 6.5 if n_bars <= 40 else 5.5,
                     rotation=0 if n_bars <= 16 else 90)
    ax.axhline(1.0, color=colors[baseline], linestyle="--", linewidth=1.2,
               label=f"{baseline} (baseline)")
    if "geomean" in groups:
        ax.axvline(len(groups) - 1.5, color="#999999", linewidth=0.8, linestyle=":")
    ax.set_xticks(x, _group_names(table, groups, list(ratios.columns), kinds))
    ax.set_xlim(-0.6, len(groups) - 0.4)
    top = float(np.nanmax(values)) if len(values) else 1.0
    if log:
        ax.set_yscale("log")
        ax.set_ylim(min(float(np.nanmin(values)), 1.0) / (6 if n_bars > 16 else 3),
                    max(top, 1.0) * (6 if n_bars > 16 else 3))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    else:
        ax.set_ylim(0, max(1.0, top) * (1.3 if n_bars > 16 else 1.15))
    column = {"all": metric, "conv": "conv_speedup", "fc": "fc_speedup"}[kinds] \
        if metric == "speedup" else metric
    ax.set_ylabel(axis_label(column, f"over {baseline}"))
    scope = "whole network" if kinds == "all" else f"{kinds} layers only"
    ax.set_title(f"{axis_label(column, unit='')} over {baseline}, {scope}")
    handles, labels = ax.get_legend_handles_labels()
    order = [labels.index(a) for a in archs] + [labels.index(f"{baseline} (baseline)")]
    figure.legend([handles[i] for i in order], [labels[i] for i in order],
                  loc="outside lower center", ncols=legend_columns(len(order)), frameon=False)
    return figure


def _group_names(table: pd.DataFrame, groups: list[str], archs: list[str],
                 kinds: str) -> list[str]:
    """Tick labels: a network whose fc layers take more than :data:`DOMINANT_SHARE` of
    some architecture's time gets the range of those shares under its name."""
    shares = group_shares(table, "fc") if kinds == "all" else None
    names = []
    for group in groups:
        row = shares.loc[group, [a for a in archs if a in shares.columns]] \
            if shares is not None and group in shares.index else pd.Series(dtype=float)
        if row.notna().any() and row.max() > DOMINANT_SHARE:
            low, high = 100 * row.min(), 100 * row.max()
            span = f"{high:.0f}%" if round(low) == round(high) else f"{low:.0f}-{high:.0f}%"
            names.append(f"{group}\nfc: {span} of time")
        else:
            names.append(group)
    return names


def _ratio_label(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


@styled
def cycles(layers: pd.DataFrame, workload: str | None = None, metric: str | None = None,
           kinds: str = "all") -> Figure:
    """Per-layer time (or ``metric="cycles"``), one bar per architecture, stacked into
    compute and stall; below, each bar's stall share, readable also for layers dwarfed
    by the longest one. By default cycles when every architecture runs at one clock, time
    when clocks differ (cycles of different clocks do not compare). Layers of group
    ``kinds``; rows of layers wrap so the figure stays under :data:`MAX_WIDTH_IN`."""
    layers, workload = one_workload(layers, workload)
    layers = select_layers(layers, kinds)
    archs, names = _archs_and_layers(layers)
    colors, differ = arch_colors(archs), clocks_differ(layers)
    metric = metric or ("time" if differ else "cycles")
    scale, column = _time_scale(layers) if metric == "time" else (1.0, "cycles")
    clocks = clock_mhz(layers) if metric == "time" else pd.Series(1.0, index=archs)
    rows = _LayerRows(len(names), len(archs))
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(rows.width, (2.7 if rows.count > 1 else 4.2) * rows.count
                                 + 1.6 * rows.count), layout="constrained")
        axes = figure.subplots(2 * rows.count, 1, height_ratios=[2.2, 1] * rows.count)
    mains, shares, top = axes[0::2], axes[1::2], 0.0
    for ax, share, chunk in zip(mains, shares, rows.chunks(names), strict=True):
        x, width = np.arange(len(chunk)), 0.8 / len(archs)
        for i, arch in enumerate(archs):
            data = layers[layers["arch"] == arch].set_index("layer").reindex(chunk)
            offset = x + (i - (len(archs) - 1) / 2) * width
            color, stall = colors[arch], dict(alpha=0.35, hatch="////", linewidth=0)
            compute = data["compute_cycles"] / clocks.get(arch, 1.0) / scale
            ax.bar(offset, compute, width * 0.92, color=color)
            stalled = data["stall_cycles"] / clocks.get(arch, 1.0) / scale
            ax.bar(offset, stalled, width * 0.92, bottom=compute, color=color,
                   edgecolor=color, **stall)
            top = max(top, float((compute + stalled).max()))
            share.bar(offset, 100 * data["stall_cycles"] / data["cycles"].clip(lower=1),
                      width * 0.92, color=color, edgecolor=color, **stall)
        ax.yaxis.set_major_formatter(EngFormatter(sep=""))
        ax.set_ylabel(axis_label(column))
        share.set_ylim(0, 100)
        share.yaxis.set_major_formatter(PercentFormatter())
        share.set_ylabel(axis_label("stall_cycles", unit="% of cycles"))
        _layer_axis(share, chunk, rows.per_row, last=share is shares[-1])
        ax.set_xticks(x, [""] * len(chunk))
        ax.set_xlim(share.get_xlim())
    for ax in mains:   # one scale for every row, so rows compare
        ax.set_ylim(0, (top or 1.0) * 1.05)
    note = "\n(cycles at different clocks do not compare)" if differ and metric == "cycles" \
        else ""
    mains[0].set_title(f"{axis_label(column, unit='')} per layer, compute and stall: "
                       f"{workload}{_kinds_note(kinds)}{note}")
    handles = [Patch(color=colors[a], label=a) for a in archs]
    handles.append(Patch(facecolor="white", edgecolor="#555555", hatch="////",
                         label="stall (waiting\non memory)"))
    figure.legend(handles=handles, loc="outside right upper", frameon=False)
    return figure


def _time_scale(layers: pd.DataFrame) -> tuple[float, str]:
    """Microseconds, or milliseconds when the longest layer takes more than 10 ms."""
    return (1000.0, "time_ms") if layers["time_us"].max() > 10_000 else (1.0, "time_us")


def _kinds_note(kinds: str) -> str:
    return "" if kinds == "all" else f" ({kinds} layers)"


@styled
def energy(layers: pd.DataFrame, workload: str | None = None, kinds: str = "all") -> Figure:
    """Energy by component, stacked: per layer for one architecture, per architecture
    (whole network, or layer group ``kinds``) for several; beside it (below it, for more
    than 4 architectures), each component's share of the total. Components under 1.5% of
    every architecture's energy are lumped as "other"."""
    layers, workload = one_workload(layers, workload)
    layers = select_layers(layers, kinds)
    archs, names = _archs_and_layers(layers)
    layers, parts = _energy_parts(layers)
    colors = component_colors([p[len("energy_"):-len("_pj")] for p in parts])
    by_arch = layers.groupby("arch", sort=False)[parts].sum().reindex(archs).fillna(0) / 1e6
    below = len(archs) > 4   # many architectures: the share panel under the bars
    if len(archs) == 1:
        table = layers.set_index("layer").reindex(names)[parts].fillna(0) / 1e6
        width_in, height_in = _LayerRows(len(names), 1).width, 4.2
        title = f"Energy per layer by component: {workload} on {archs[0]}"
    else:
        table, height_in = by_arch, 4.2
        width_in = max(4.5, 1.5 + (0.6 if below else 1.0) * len(archs))
        title = f"Energy by component: {workload}{_kinds_note(kinds)}"
    with mpl.rc_context(STYLE):
        if below:
            figure = Figure(figsize=(width_in + 1.2, height_in + 2.6), layout="constrained")
            ax, share = figure.subplots(2, 1, height_ratios=[2, 1.2])
        else:
            figure = Figure(figsize=(width_in + 1.2 + 0.5 * len(archs), height_in),
                            layout="constrained")
            ax, share = figure.subplots(1, 2, width_ratios=[len(table) + 1,
                                                            1.2 * len(archs)])
    handles = _stacked(ax, table, parts, colors)
    if len(archs) == 1:
        _layer_axis(ax, names)
    else:
        _arch_ticks(ax, archs)
    ax.set_ylabel(axis_label("energy_pj", unit="µJ"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylim(top=ax.get_ylim()[1] * 1.05)
    ax.set_title(title)
    shares = 100 * by_arch.div(by_arch.sum(axis=1).replace(0, 1), axis=0)
    _stacked(share, shares, parts, colors, label_percent=True)
    _arch_ticks(share, archs if len(archs) > 1 else ["network"], archs)
    share.set_ylim(0, 100)
    share.yaxis.set_major_formatter(PercentFormatter())
    share.set_ylabel(axis_label("energy_pj", "share", unit="%") if below else "")
    share.set_title("" if below else "share", fontsize=9)
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
    ax.set_xticks(np.arange(len(labels)), labels, rotation=0 if len(labels) < 4 else 45,
                  ha="center" if len(labels) < 4 else "right", rotation_mode="anchor")
    colors = arch_colors(archs or labels)
    for tick, arch in zip(ax.get_xticklabels(), archs or labels, strict=False):
        tick.set_color(colors[arch])


@styled
def utilization(layers: pd.DataFrame, workload: str | None = None,
                kinds: str = "all") -> Figure:
    """Per-layer datapath utilization (effectual work / peak), one bar per architecture;
    rows of layers wrap as in :func:`cycles`."""
    layers, workload = one_workload(layers, workload)
    layers = select_layers(layers, kinds)
    archs, names = _archs_and_layers(layers)
    colors, rows = arch_colors(archs), _LayerRows(len(names), len(archs))
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(rows.width, 4.2 if rows.count == 1 else 3.0 * rows.count),
                        layout="constrained")
        axes = figure.subplots(rows.count, 1, squeeze=False)[:, 0]
    for ax, chunk in zip(axes, rows.chunks(names), strict=True):
        x, width = np.arange(len(chunk)), 0.8 / len(archs)
        for i, arch in enumerate(archs):
            data = layers[layers["arch"] == arch].set_index("layer").reindex(chunk)
            ax.bar(x + (i - (len(archs) - 1) / 2) * width, 100 * data["utilization"],
                   width * 0.92, color=colors[arch], label=arch)
        _layer_axis(ax, chunk, rows.per_row, last=ax is axes[-1])
        ax.set_ylim(0, 105)
        ax.yaxis.set_major_formatter(PercentFormatter())
        ax.set_ylabel(axis_label("utilization", unit="%"))
    axes[0].set_title(f"Utilization per layer: {workload}{_kinds_note(kinds)}")
    figure.legend(handles=[Patch(color=colors[a], label=a) for a in archs],
                  loc="outside right upper", frameon=False)
    return figure


def _archs_and_layers(layers: pd.DataFrame) -> tuple[list[str], list[str]]:
    return list(dict.fromkeys(layers["arch"])), list(dict.fromkeys(layers["layer"]))


class _LayerRows:
    """Layers wrapped into rows: ``per_row`` groups of bars each, ``count`` rows, a
    figure ``width`` in inches (at most :data:`MAX_WIDTH_IN`)."""

    def __init__(self, n_layers: int, n_archs: int) -> None:
        group = 0.22 + 0.12 * n_archs   # inches per layer: its bars and a gap
        fits = max(1, int((MAX_WIDTH_IN - 2.0) // group))
        self.count = -(-n_layers // fits)
        self.per_row = -(-n_layers // self.count)
        self.width = min(MAX_WIDTH_IN, max(6.0, 2.0 + self.per_row * group))

    def chunks(self, names: list[str]) -> list[list[str]]:
        return [names[i:i + self.per_row] for i in range(0, len(names), self.per_row)]




def _layer_axis(ax, names: list[str], per_row: int | None = None, last: bool = True) -> None:
    ax.set_xticks(np.arange(len(names)), names, rotation=90)
    ax.set_xlim(-0.6, (per_row or len(names)) - 0.4)
    ax.set_xlabel(axis_label("layer") if last else "")
