"""Several architectures on the same workloads and the same tensors, against a baseline.

Speedup is baseline time / architecture time (time, not cycles, so architectures with
different clocks compare fairly); energy ratio is baseline energy / architecture energy, so
both are "higher is better". Every architecture of a workload sees the same seeded (or
given) weights and input, so differences come from the hardware alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from accelsim.config import ArchConfig, load_arch
from accelsim.errors import AccelsimError
from accelsim.sim.results import Result, write_tables
from accelsim.sim.simulate import simulate
from accelsim.workload import Network, load_network, load_tensors
from accelsim.workload.tensors import NetworkTensors

LAYER_COLUMNS = ("workload", "layer", "kind", "arch", "ran_on", "macs", "cycles",
                 "compute_cycles", "stall_cycles", "utilization", "time_us", "dram_bytes",
                 "energy_pj", "input_zero_fraction")
"""Per-layer columns of the comparison table, followed by each architecture's
``energy_<component>_pj`` (0 where an architecture has no such component)."""


@dataclass
class Comparison:
    """``layers``: one row per (workload, layer, arch) with ``speedup`` and ``energy_ratio``
    against the baseline; ``networks``: the same per (workload, arch), over all layers and
    over conv layers only (``conv_speedup``), the figure zero-skipping papers report."""

    baseline: str
    layers: pd.DataFrame
    networks: pd.DataFrame
    results: dict[tuple[str, str], Result]

    def save(self, path: str | Path) -> list[Path]:
        """Write the per-layer table and the per-network table (``<stem>.networks``)."""
        return write_tables(path, {"": self.layers, ".networks": self.networks})


def compare(archs: Sequence[ArchConfig | str | Path], workloads: Sequence[Network | str | Path],
            *, baseline: str | None = None, seed: int = 0,
            tensors: Mapping[str, NetworkTensors] | None = None, progress=None) -> Comparison:
    """Simulate every architecture on every workload; ``baseline`` is an architecture name
    (default: the first). ``tensors`` maps a workload name to the tensors to use (e.g.
    pruned); others get their default ones (an ONNX model's own weights, else seeded).
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
        shared = given if given is not None else load_tensors(network, seed)
        for config in configs:
            if progress:
                progress(network.name, config.name)
            results[(network.name, config.name)] = simulate(config, network, seed=seed,
                                                            tensors=shared)
    layers = _layer_table(results, baseline)
    return Comparison(baseline, layers, _network_table(layers, baseline), results)


def _networks(workloads: Sequence[Network | str | Path]) -> list[Network]:
    """The workloads loaded, all before any run; two with the same name are an error naming
    both sources, since results are keyed by name (one would silently replace the other)."""
    networks, sources = [], {}
    for number, workload in enumerate(workloads, 1):
        network = workload if isinstance(workload, Network) else load_network(workload)
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

    every = totals(layers)   # conv totals NaN where a workload has no conv layer
    conv = totals(layers[layers["kind"].isin(["conv", "conv3d"])]).reindex(every.index)
    base_every = every.xs(baseline, level="arch")
    base_conv = conv.xs(baseline, level="arch")
    workloads = every.index.get_level_values("workload")
    table = every.reset_index()
    table["speedup"] = base_every["time_us"].reindex(workloads).to_numpy() / table["time_us"]
    table["energy_ratio"] = (base_every["energy_pj"].reindex(workloads).to_numpy()
                             / table["energy_pj"])
    conv_time = conv["time_us"].reindex(every.index).to_numpy()
    table["conv_speedup"] = base_conv["time_us"].reindex(workloads).to_numpy() / conv_time
    return table


def _by_arch(frame: pd.DataFrame, values: str, archs: list[str]) -> pd.DataFrame:
    """Layer x arch table of one column; NaN rows stay (a concat's 0 / 0 speedup)."""
    return frame.pivot_table(index="layer", columns="arch", values=values, sort=False,
                             dropna=False)[archs]


def format_comparison(comparison: Comparison) -> str:
    """Per-layer speedups, energies (uJ, every architecture) and energy ratios, and
    per-network totals, as text."""
    layers = comparison.layers
    archs = list(dict.fromkeys(layers["arch"]))
    others = [a for a in archs if a != comparison.baseline] or archs
    blocks = []
    for workload, frame in layers.groupby("workload", sort=False):
        table = _by_arch(frame, "speedup", others)
        base = frame[frame["arch"] == comparison.baseline].set_index("layer")
        table.insert(0, "kind", base["kind"])
        table.insert(1, f"{comparison.baseline} cycles", base["cycles"])
        table.insert(2, "zeros_in%", 100 * base["input_zero_fraction"])
        table.columns = [f"speedup {c}" if c in others else c for c in table.columns]
        energy_uj = _by_arch(frame, "energy_pj", archs) / 1e6
        table = table.join(energy_uj.rename(columns=lambda c: f"energy_uj {c}"))
        energy = _by_arch(frame, "energy_ratio", others)
        table = table.join(energy.rename(columns=lambda c: f"energy ratio {c}"))
        blocks.append(f"{workload}: speedup and energy ratio over {comparison.baseline} "
                      "per layer\n"
                      + table.to_string(float_format=lambda v: f"{v:,.3f}"))
    networks = comparison.networks.copy()
    networks["time_ms"] = networks.pop("time_us") / 1000
    networks["energy_uj"] = networks.pop("energy_pj") / 1e6
    columns = ["workload", "arch", "cycles", "time_ms", "energy_uj", "speedup",
               "conv_speedup", "energy_ratio"]
    blocks.append(f"whole networks (baseline {comparison.baseline})\n"
                  + networks[columns].to_string(index=False,
                                                float_format=lambda v: f"{v:,.3f}"))
    return "\n\n".join(blocks)
