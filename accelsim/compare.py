"""Several architectures on the same workloads and the same tensors, against a baseline.

Speedup is baseline time / architecture time (time, not cycles, so architectures with
different clocks compare fairly); energy ratio is baseline energy / architecture energy, so
both are "higher is better". Every architecture of a workload sees the same seeded (or
given) weights and input, so differences come from the hardware alone.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from accelsim.columns import DOMINANT_SHARE, LAYER_GROUPS, in_group
from accelsim.config import ArchConfig, load_arch
from accelsim.errors import AccelsimError
from accelsim.sim.results import Result, write_tables
from accelsim.sim.rows import load_workloads, topology_row
from accelsim.sim.simulate import simulate
from accelsim.workload import Network, load_tensors
from accelsim.workload.tensors import NetworkTensors

LAYER_COLUMNS = ("workload", "layer", "kind", "arch", "ran_on", "macs", "cycles",
                 "compute_cycles", "stall_cycles", "utilization", "time_us", "dram_bytes",
                 "energy_pj", "input_zero_fraction")
"""Per-layer columns of the comparison table, followed by each architecture's
``energy_<component>_pj`` (0 where an architecture has no such component)."""


@dataclass
class Comparison:
    """``layers``: one row per (workload, layer, arch) with ``speedup`` and ``energy_ratio``
    against the baseline; ``networks``: the same per (workload, arch), over all layers,
    over conv layers only (``conv_speedup``, the figure zero-skipping papers report) and
    fc layers only (``fc_speedup``), with the fc layers' share of the time (``fc_share``)."""

    baseline: str
    layers: pd.DataFrame
    networks: pd.DataFrame
    results: dict[tuple[str, str], Result]

    @classmethod
    def of(cls, results: dict[tuple[str, str], Result], baseline: str) -> Comparison:
        """The tables of finished runs keyed by (workload, arch name) against ``baseline``
        (for callers that run the designs themselves, e.g. counting on recorded values)."""
        layers = _layer_table(results, baseline)
        return cls(baseline, layers, _network_table(layers, baseline), results)

    def save(self, path: str | Path) -> list[Path]:
        """Write the per-layer table and the per-network table (``<stem>.networks``)."""
        return write_tables(path, {"": self.layers, ".networks": self.networks})


def compare(archs: Sequence[ArchConfig | str | Path], workloads: Sequence[Network | str | Path],
            *, baseline: str | None = None, seed: int = 0,
            tensors: Mapping[str, NetworkTensors] | None = None, progress=None,
            values: str = "calibrated") -> Comparison:
    """Simulate every architecture on every workload; ``baseline`` is an architecture name
    (default: the first). ``tensors`` maps a workload name to the tensors to use (e.g.
    pruned); others get their default ones (an ONNX model's own weights, else ``values``:
    ``calibrated`` or ``synthetic``, see :func:`accelsim.workload.load_tensors`).
    ``progress(workload, arch)`` is called before each run."""
    if not archs or not workloads:
        raise AccelsimError(f"compare: give at least one architecture and one workload, got "
                            f"{len(archs)} architectures and {len(workloads)} workloads")
    configs = [a if isinstance(a, ArchConfig) else load_arch(a) for a in archs]
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise AccelsimError(f"compare: architecture names must differ, got {names}")
    baseline = baseline or names[0]
    if baseline not in names:
        raise AccelsimError(f"compare: baseline {baseline!r} is not one of {', '.join(names)}")
    results = {}
    for network in _networks(workloads):
        given = (tensors or {}).get(network.name)
        shared = given if given is not None else load_tensors(network, seed, values=values)
        for config in configs:
            if progress:
                progress(network.name, config.name)
            row_config, row_tensors = topology_row(config, network, shared)   # a row's N:M
            results[(network.name, config.name)] = simulate(row_config, network, seed=seed,
                                                            tensors=row_tensors)
    return Comparison.of(results, baseline)


def _networks(workloads: Sequence[Network | str | Path]) -> list[Network]:
    """The workloads loaded, all before any run; two with the same name are an error naming
    both sources, since results are keyed by name (one would silently replace the other)."""
    networks, sources = [], {}
    loaded = [(number, workload, network) for number, workload in enumerate(workloads, 1)
              for network in load_workloads(workload)]   # a SCALE-Sim topology: its rows
    for number, workload, network in loaded:
        source = network.origin or (f"#{number}" if isinstance(workload, Network)
                                    else str(workload))
        if sources.get(network.name) == source:
            raise AccelsimError(f"compare: workload {source} is given twice")
        if network.name in sources:
            raise AccelsimError(
                f"compare: workloads {sources[network.name]} and {source} are both named "
                f"{network.name!r}; rename one (results are kept by workload name)")
        sources[network.name] = source
        networks.append(network)
    return networks


def _layer_table(results: dict[tuple[str, str], Result], baseline: str) -> pd.DataFrame:
    frames = [result.layers.assign(workload=workload, arch=arch)[
        list(LAYER_COLUMNS) + [c for c in result.layers.columns
                               if c.startswith("energy_") and c != "energy_pj"]]
              for (workload, arch), result in results.items()]
    layers = pd.concat(frames, ignore_index=True)
    parts = [c for c in layers.columns if c.startswith("energy_") and c != "energy_pj"]
    layers[parts] = layers[parts].fillna(0.0)
    base = layers[layers["arch"] == baseline].set_index(["workload", "layer"])
    key = pd.MultiIndex.from_frame(layers[["workload", "layer"]])
    layers["speedup"] = base["time_us"].reindex(key).to_numpy() / layers["time_us"]
    layers["energy_ratio"] = base["energy_pj"].reindex(key).to_numpy() / layers["energy_pj"]
    return layers


def _network_table(layers: pd.DataFrame, baseline: str) -> pd.DataFrame:
    def totals(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.groupby(["workload", "arch"], sort=False)[
            ["macs", "cycles", "time_us", "energy_pj"]].sum()

    every = totals(layers)   # group totals NaN where a workload has no such layer
    workloads = every.index.get_level_values("workload")
    table = every.reset_index()
    table["speedup"] = _ratio(every, every, baseline, "time_us", workloads)
    table["energy_ratio"] = _ratio(every, every, baseline, "energy_pj", workloads)
    for group in ("conv", "fc"):
        part = totals(layers[in_group(layers["kind"], group)]).reindex(every.index)
        table[f"{group}_speedup"] = _ratio(part, part, baseline, "time_us", workloads)
    fc_time = totals(layers[in_group(layers["kind"], "fc")]).reindex(every.index)["time_us"]
    table["fc_share"] = (fc_time.fillna(0) / every["time_us"].where(every["time_us"] > 0)
                         ).to_numpy()
    return table


def _ratio(base: pd.DataFrame, each: pd.DataFrame, baseline: str, column: str,
           workloads) -> object:
    """Baseline's ``column`` over each row's, per workload (higher is better)."""
    reference = base.xs(baseline, level="arch")[column]
    return reference.reindex(workloads).to_numpy() / each[column].to_numpy()


def _by_arch(frame: pd.DataFrame, values: str, archs: list[str]) -> pd.DataFrame:
    """Layer x arch table of one column; NaN rows stay (a concat's 0 / 0 speedup)."""
    return frame.pivot_table(index="layer", columns="arch", values=values, sort=False,
                             dropna=False)[archs]


def format_comparison(comparison: Comparison, layers: str = "all",
                      width: int | None = None) -> str:
    """Per-layer speedups, energies (uJ, every architecture) and energy ratios, and
    per-network totals over layer group ``layers`` (conv, fc, all), as text no wider than
    ``width`` (default: the terminal's): the architectures are split into blocks that fit,
    each under its name. A note names the networks whose fc layers take most of the time."""
    if layers not in LAYER_GROUPS:
        raise AccelsimError(f"--layers {layers}: expected one of {', '.join(LAYER_GROUPS)}")
    width = width or shutil.get_terminal_size((100, 24)).columns
    baseline, every = comparison.baseline, comparison.layers
    chosen = every[in_group(every["kind"], layers)]
    if chosen.empty:
        raise AccelsimError(f"--layers {layers}: no workload has {layers} layers")
    archs = list(dict.fromkeys(every["arch"]))
    scope = "per layer" if layers == "all" else f"per {layers} layer"
    blocks = [f"{workload}: speedup and energy ratio over {baseline} {scope}\n"
              + _fit(_layer_block(frame, baseline, archs), width)
              for workload, frame in chosen.groupby("workload", sort=False)]
    networks = _network_table(chosen, baseline) if layers != "all" else comparison.networks
    networks = networks.assign(time_ms=networks["time_us"] / 1000,
                               energy_uj=networks["energy_pj"] / 1e6)
    columns = ["cycles", "time_ms", "energy_uj", "speedup", "energy_ratio"]
    if layers == "all":
        columns += ["conv_speedup", "fc_speedup", "fc_share"]
    title = "whole networks" if layers == "all" else f"{layers} layers of each network"
    blocks.append(f"{title} (baseline {baseline})\n"
                  + _fit(networks.set_index(["workload", "arch"])[columns], width))
    notes = [textwrap.fill(note, width, subsequent_indent="  ")
             for note in _fc_notes(comparison.networks)] if layers == "all" else []
    return "\n\n".join(blocks + (["\n".join(notes)] if notes else []))


def _layer_block(frame: pd.DataFrame, baseline: str, archs: list[str]) -> pd.DataFrame:
    """Layer rows; columns (arch, measure): the baseline's cycles and energy, the others'
    speedup, energy and energy ratio, after the layer's kind and input zeros."""
    base = frame[frame["arch"] == baseline].set_index("layer")
    table = pd.DataFrame({("", "kind"): base["kind"],
                          ("", "zeros_in%"): 100 * base["input_zero_fraction"]})
    for arch in archs:
        measures = ["cycles", "energy_uj"] if arch == baseline else \
            ["speedup", "energy_uj", "energy_ratio"]
        rows = frame[frame["arch"] == arch].set_index("layer").reindex(base.index)
        rows = rows.assign(energy_uj=rows["energy_pj"] / 1e6)
        for measure in measures:
            table[(arch, measure)] = rows[measure]
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def _fit(table: pd.DataFrame, width: int) -> str:
    """``table`` as text in blocks of whole column groups (an architecture's, under its
    name, for two-level columns; single columns otherwise), each as wide as fits, the
    index and the ``""`` group repeated in each."""
    keys = list(dict.fromkeys(table.columns.get_level_values(0)))
    fixed = [k for k in keys if k == ""]
    groups, blocks, current = [k for k in keys if k != ""], [], []
    for key in groups:
        candidate = current + [key]
        if current and _width(_render(table, fixed + candidate)) > width:
            blocks.append(_render(table, fixed + current))
            candidate = [key]
        current = candidate
    blocks.append(_render(table, fixed + current))
    return "\n\n".join(blocks)


def _render(table: pd.DataFrame, keys: list) -> str:
    part = table[keys] if not isinstance(table.columns, pd.MultiIndex) else \
        table.loc[:, table.columns.get_level_values(0).isin(keys)]
    return part.to_string(float_format=lambda v: f"{v:,.3f}",
                          formatters={c: "{:,.0f}".format for c in part.columns
                                      if (c[-1] if isinstance(c, tuple) else c) == "cycles"})


def _width(text: str) -> int:
    return max(map(len, text.splitlines()), default=0)


def _fc_notes(networks: pd.DataFrame) -> list[str]:
    """A line per network whose fc layers take more than :data:`DOMINANT_SHARE` of some
    architecture's time: its whole-network ratios are then mostly the fc layers'."""
    notes = []
    for workload, rows in networks.groupby("workload", sort=False):
        heavy = rows[rows["fc_share"] > DOMINANT_SHARE]
        if len(heavy):
            top = heavy.loc[heavy["fc_share"].idxmax()]
            notes.append(f"note: on {workload}, fc layers take {100 * top['fc_share']:.0f}% "
                         f"of {top['arch']}'s time ({len(heavy)} of {len(rows)} "
                         "architectures over half): the whole-network ratios are mostly "
                         "theirs; conv_speedup (or --layers conv) shows the conv layers alone")
    return notes
