"""Result of a simulation: a per-layer table, raw counts, a summary and provenance.

``Result.layers`` columns (one row per layer; component columns depend on the core):

=========================  ================================================================
layer, kind                layer name and kind (conv, fc, pool, add, concat, act, eltwise,
                           softmax)
ran_on                     the unit that ran it: the core's name, ``host`` (the arch's host
                           unit, for kinds the core has no unit for) or ``layout`` (concat)
macs, ops                  analytical multiply-accumulates / arithmetic ops of the layer,
                           for all the images of the batch
cycles                     simulated cycles, DRAM stalls included (engine)
compute_cycles             cycles the datapath is busy (kernel)
stall_cycles               cycles - compute_cycles: waiting on DRAM / buffers
ideal_cycles               effectual work at full datapath utilization (lower bound)
utilization                effectual work / (cycles x peak work per cycle), <= 1 (effectual:
                           the MACs a core really performed, zero-skipping cores fewer)
time_us                    cycles at the arch clock
dram_read_bytes, ..._write_bytes, dram_bytes   off-chip traffic
input_zero_fraction        fraction of zeros in the layer's (first) input tensor
<component>_<action>       raw counts, e.g. nbin_read, sb_fill, nfu_mac (see Result.counts)
<core statistics>          figures a core reports beyond priced events (``LayerRun.stats``),
                           e.g. Cnvlutin's subunit busy/idle cycles and ZFNAf bytes
energy_<component>_pj      energy per component; energy_pj is their sum
mapping                    the tiling the core chose
tiles, engine_steps, engine_events   work units: hardware tiles, engine rows, simpy events
=========================  ================================================================

``Result.counts`` is the long table (layer, component, action, count); energy can be
re-priced from it with :meth:`Result.reprice` without simulating again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from accelsim._version import __version__
from accelsim.cost.counts import Counts
from accelsim.cost.energy import price
from accelsim.errors import AccelsimError
from accelsim.sim import invariants


def layer_row(layer, run, stats, energy: pd.DataFrame, unit, arch,
              input_zero_fraction: float, batch: int = 1, ran_on: str = "") -> dict:
    """One row of ``Result.layers`` from a unit's LayerRun (the core's or the host's) and
    the engine's stats; work columns cover all ``batch`` images."""
    work = unit.useful_work(layer, run.counts, batch)
    peak = unit.peak_per_cycle(layer)
    row = {
        "layer": layer.name, "kind": layer.kind, "ran_on": ran_on or arch.core,
        "macs": layer.macs * batch,
        "ops": layer.ops * batch, "cycles": stats.cycles,
        "compute_cycles": stats.compute_cycles, "stall_cycles": stats.stall_cycles,
        "ideal_cycles": unit.ideal_cycles(layer, run.counts, batch),
        "utilization": work / (stats.cycles * peak) if stats.cycles else 0.0,
        "time_us": stats.cycles / arch.clock_mhz,
        "dram_read_bytes": stats.dram_read_bytes, "dram_write_bytes": stats.dram_write_bytes,
        "dram_bytes": stats.dram_read_bytes + stats.dram_write_bytes,
        "input_zero_fraction": input_zero_fraction,
        "saturated_values": int(getattr(run.output, "saturated", 0)),
    }
    for (component, action), count in sorted(run.counts.items()):
        row[f"{component}_{action}"] = int(count)
    row.update(run.stats)
    by_component = energy.groupby("component")["energy_pj"].sum()
    for component, pj in by_component.items():
        row[f"energy_{component}_pj"] = float(pj)
    row["energy_pj"] = float(by_component.sum())
    row.update({"mapping": run.mapping, "tiles": run.tiles, "engine_steps": stats.steps,
                "engine_events": stats.events})
    return row


def excess_traffic(layers: pd.DataFrame, network_layers, precision: str, batch: int = 1,
                   factor: float = 2.0) -> str | None:
    """A summary line naming the conv / fc layers whose DRAM traffic exceeds ``factor`` x
    their compulsory traffic (weights once, each image's input and output once), with the
    ratio, or None: a mapping or buffer model that re-fetches from DRAM is not hidden."""
    word = 2 if precision == "fixed16" else 4
    dram = dict(zip(layers["layer"], layers["dram_bytes"], strict=True))
    over = []
    for layer in (lyr for lyr in network_layers if lyr.has_weights and lyr.name in dram):
        compulsory = word * (layer.weight_count + batch * (int(np.prod(layer.in_shape))
                                                           + int(np.prod(layer.out_shape))))
        if dram[layer.name] > factor * compulsory:
            over.append(f"{layer.name} {dram[layer.name] / compulsory:,.1f}x")
    if not over:
        return None
    return (f"  ! DRAM      {len(over)} layer(s) move over {factor:g}x their compulsory traffic "
            f"(weights, inputs, outputs once): {', '.join(over)}")


def result_paths(path: str | Path) -> list[Path]:
    """The files :meth:`Result.save` writes for ``path``: the table, counts, meta."""
    path = Path(path)
    return [path, path.with_name(path.stem + ".counts" + path.suffix),
            path.with_name(path.stem + ".meta.json")]


def refuse_overwriting(outputs: list[Path], inputs: list) -> None:
    """One line if an output would replace one of the run's input files."""
    given = {Path(p).resolve() for p in inputs if p is not None and Path(p).is_file()}
    for target in outputs:
        if target.resolve() in given:
            raise AccelsimError(f"{target}: refusing to overwrite an input of this run")


def write_tables(path: str | Path, frames: dict[str, pd.DataFrame],
                 protect: tuple[str | Path, ...] = (), also: tuple[Path, ...] = ()
                 ) -> list[Path]:
    """Write ``{name suffix: frame}`` as ``<stem><suffix>.csv`` (or ``.parquet``, by
    ``path``'s own suffix) beside ``path``; returns the paths in order. ``also``: other
    files the caller writes next, checked with them; no target may be a directory or one of
    the ``protect`` files (the run's inputs: an output never overwrites an input)."""
    path = Path(path)
    if path.suffix not in (".csv", ".parquet"):
        raise AccelsimError(f"{path}: output must end in .csv or .parquet")
    targets = [path.with_name(path.stem + name + path.suffix) for name in frames]
    refuse_overwriting([*targets, *also], list(protect))
    for parent in (path.parent, *path.parent.parents):   # the nearest existing ancestor
        if parent.exists():
            if not parent.is_dir():
                raise AccelsimError(f"{path}: cannot write the output: {parent} is a file, "
                                    "not a directory")
            break
    for target in (*targets, *also):
        if target.is_dir():
            raise AccelsimError(f"{target}: cannot write the output: it is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, frame in zip(targets, frames.values(), strict=True):
            if path.suffix == ".csv":
                frame.to_csv(target, index=False)
            else:
                frame.to_parquet(target, index=False)
    except OSError as err:
        raise AccelsimError(f"{err.filename or path}: cannot write the output "
                            f"({err.strerror or err})") from None
    return targets


def _layer_table(rows: list[dict]) -> pd.DataFrame:
    """The per-layer table, built column by column: counts (and integer core statistics)
    as int64 and energies as float64, a layer without the column counting 0; fractions
    and text as given. (A column at a time: pandas' per-column assignment after
    ``DataFrame(rows)`` cost ~0.1 s a run, most of a one-layer run's time.)"""
    columns = {}
    for name in dict.fromkeys(key for row in rows for key in row):
        values = [row.get(name) for row in rows]
        present = [v for v in values if not _missing(v)]
        if name.startswith("energy_"):
            columns[name] = np.array([0.0 if _missing(v) else v for v in values],
                                     dtype=np.float64)
        elif name not in _FIXED_COLUMNS and _integral(present):
            columns[name] = np.array([0 if _missing(v) else v for v in values],
                                     dtype=np.int64)
        else:
            columns[name] = values
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)   # None or NaN


def _integral(values: list) -> bool:
    """Counts (and integer core statistics) are stored as int64; fractions stay float."""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):   # text
        return False
    return bool(np.all(np.mod(numbers, 1) == 0))


@dataclass
class Result:
    """Per-layer table, long counts, summary, provenance and (optionally) layer outputs."""

    layers: pd.DataFrame
    counts: pd.DataFrame
    energy_table: dict
    meta: dict
    outputs: dict = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, rows, counts_by_layer: dict[str, Counts], table, meta, outputs) -> Result:
        """The run's tables from its layer rows and counts, checked by
        :func:`accelsim.sim.invariants.check_result` (InvariantError) before it is returned."""
        layers = _layer_table(rows)
        long = [(name, component, action, int(count))   # Counts.to_frame's rows, one frame
                for name, counts in counts_by_layer.items()
                for (component, action), count in sorted(counts.items())]
        columns = ["layer", "component", "action", "count"]   # none: e.g. only a concat ran
        counts = pd.DataFrame(long, columns=columns) if long else pd.DataFrame(
            {c: pd.Series(dtype=np.int64 if c == "count" else object) for c in columns})
        meta = {"accelsim_version": __version__, **meta}
        result = cls(layers, counts, dict(table), meta, outputs)
        invariants.check_result(result)   # before anyone prints or writes it
        return result

    @property
    def summary(self) -> pd.Series:
        """Whole-network totals: cycles, time, utilization, traffic, energy, fJ per MAC, and
        where the tensors came from (``tensors_weights``, ``tensors_input``, ...)."""
        df = self.layers
        cycles = int(df["cycles"].sum())
        macs = int(df["macs"].sum())
        ideal = int(df["ideal_cycles"].sum())
        energy = {c[len("energy_"):-len("_pj")]: float(df[c].sum())
                  for c in df.columns if c.startswith("energy_") and c != "energy_pj"}
        total_pj = float(df["energy_pj"].sum())
        summary = {
            "network": self.meta.get("network"), "arch": self.meta.get("arch"),
            "layers": len(df), "macs": macs, "cycles": cycles,
            "compute_cycles": int(df["compute_cycles"].sum()),
            "stall_cycles": int(df["stall_cycles"].sum()), "ideal_cycles": ideal,
            "time_ms": float(df["time_us"].sum()) / 1000.0,
            "utilization_vs_ideal": ideal / cycles if cycles else 0.0,
            "dram_bytes": int(df["dram_bytes"].sum()), "energy_uj": total_pj / 1e6,
            "saturated_values": int(df["saturated_values"].sum())
            if "saturated_values" in df else 0,
        }
        for column in ("cycles_incl_prefetch", "prefetch_cycles"):   # the systolic core's
            if column in df:
                summary[column] = int(df[column].sum())
        for component, pj in energy.items():
            summary[f"energy_{component}_uj"] = pj / 1e6
        for component, pj in energy.items():
            summary[f"fj_per_mac_{component}"] = 1000.0 * pj / macs if macs else 0.0
        summary.update(self.meta.get("area", {}))   # area_mm2, area_<part>_mm2 (sim.area)
        for what, origin in self.meta.get("tensors", {}).items():   # provenance of the run
            summary[f"tensors_{what}"] = origin   # weights, biases, input, transforms
        return pd.Series(summary)

    def reprice(self, table: dict) -> pd.DataFrame:
        """Per-layer, per-component energy (pJ) under another table, from the raw counts."""
        frames = [price(Counts({(r.component, r.action): r.count
                                for r in group.itertuples()}), table).assign(layer=name)
                  for name, group in self.counts.groupby("layer", sort=False)]
        energy = pd.concat(frames, ignore_index=True)
        return energy.pivot_table(index="layer", columns="component", values="energy_pj",
                                  aggfunc="sum", sort=False).fillna(0.0)

    def save(self, path: str | Path, protect: tuple[str | Path, ...] = ()) -> list[Path]:
        """Write layers (.csv or .parquet), counts and meta beside it; returns the paths.
        ``protect``: the run's input files, which no output may overwrite."""
        meta_path = result_paths(path)[2]
        path, counts_path = write_tables(path, {"": self.layers, ".counts": self.counts},
                                         protect, also=(meta_path,))
        summary = {k: (v.item() if hasattr(v, "item") else v)
                   for k, v in self.summary.items()}
        try:
            meta_path.write_text(json.dumps({"meta": self.meta, "summary": summary},
                                            indent=2))
        except OSError as err:
            raise AccelsimError(f"{meta_path}: cannot write the output "
                                f"({err.strerror or err})") from None
        return [path, counts_path, meta_path]


_FIXED_COLUMNS = {"layer", "kind", "ran_on", "utilization", "time_us", "input_zero_fraction",
                  "mapping"}
