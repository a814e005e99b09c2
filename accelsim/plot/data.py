"""Reading and shaping the tables :mod:`accelsim.plot` draws: which file holds what, the
per-network ratios, one workload's layers, one slice of a sweep."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from accelsim.columns import LAYER_GROUPS, in_group
from accelsim.errors import AccelsimError
from accelsim.files import parse_yaml_value


class PlotError(AccelsimError):
    """A table cannot make the asked-for figure (a missing column, an unknown key)."""


def read_tables(paths: list[str | Path], kind: str) -> pd.DataFrame:
    """The rows a figure of ``kind`` needs from accelsim's output files.

    ``sweep``/``pareto``: a sweep's points table (given it, or the layers table beside it).
    Others: comparison tables, or run tables (``accelsim run --output``), whose ``arch``
    and ``workload`` come from the ``.meta.json`` beside them; several files are stacked.
    """
    frames = []
    for path in map(Path, paths):
        frame = _read(path)
        if kind in ("sweep", "pareto") and "layer" in frame.columns and "point" in frame:
            frame = _read(path.with_name(path.stem + ".points" + path.suffix))
        elif "arch" not in frame.columns:
            frame = _with_run_identity(frame, path)
        if frame.empty:
            raise PlotError(f"{path}: the table has no rows to plot")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _read(path: Path) -> pd.DataFrame:
    if path.suffix not in (".parquet", ".csv"):
        raise PlotError(f"{path}: expected a .parquet or .csv table written by accelsim")
    if not path.is_file():
        raise PlotError(f"{path}: file not found")
    try:   # pandas and pyarrow raise ValueError subclasses for empty or corrupt files
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise PlotError(f"{path}: not a readable {path.suffix} table ({reason})") from None
    return frame


def _with_run_identity(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    meta_path = path.with_name(path.stem + ".meta.json")
    try:
        meta = json.loads(meta_path.read_text())["meta"] if meta_path.is_file() else {}
        meta.get("arch")
    except (ValueError, OSError, KeyError, TypeError, AttributeError):
        raise PlotError(f"{meta_path}: not a run's .meta.json (expected JSON with a 'meta' "
                        "mapping)") from None
    return frame.assign(arch=meta.get("arch", path.stem),
                        workload=meta.get("network", path.stem))


def require(table: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise PlotError(f"the {what} figure needs column(s) {', '.join(missing)}; the table "
                        f"has {', '.join(map(str, table.columns[:12]))}...")


def only_archs(table: pd.DataFrame, archs: list[str]) -> pd.DataFrame:
    """The rows of ``archs``, in that order."""
    require(table, ("arch",), "--archs")
    known = list(dict.fromkeys(table["arch"]))
    unknown = [a for a in archs if a not in known]
    if unknown:
        raise PlotError(f"--archs {', '.join(unknown)}: not in the table (it has "
                        f"{', '.join(known)})")
    rank = {arch: i for i, arch in enumerate(archs)}
    kept = table[table["arch"].isin(rank)]
    return kept.iloc[np.argsort(kept["arch"].map(rank).to_numpy(), kind="stable")]


def select_layers(table: pd.DataFrame, layers: str) -> pd.DataFrame:
    """The rows of layer group ``layers`` (``conv``, ``fc`` or ``all``), by ``kind``."""
    if layers not in LAYER_GROUPS:
        raise PlotError(f"--layers {layers}: expected one of {', '.join(LAYER_GROUPS)}")
    if layers == "all":
        return table
    if "kind" not in table.columns:
        raise PlotError(f"--layers {layers} needs a per-layer table (a comparison's or a "
                        "run's), not a per-network one")
    kept = table[in_group(table["kind"], layers)]
    if kept.empty:
        raise PlotError(f"--layers {layers}: the table has no {layers} layers")
    return kept


def clock_mhz(table: pd.DataFrame) -> pd.Series:
    """Each architecture's clock (MHz), read back from its cycles over its time."""
    time = table["time_us"] if "time_us" in table.columns else 1000 * table["time_ms"]
    ok = time > 0
    return (table["cycles"][ok] / time[ok]).groupby(table["arch"][ok], sort=False).median()


def clocks_differ(table: pd.DataFrame) -> bool:
    """True when the table's rows (architectures, or a sweep's runs) ran at different
    clocks, so their cycles do not compare."""
    if "cycles" not in table.columns or not {"time_us", "time_ms"} & set(table.columns):
        return False
    time = table["time_us"] if "time_us" in table.columns else 1000 * table["time_ms"]
    clocks = (table["cycles"] / time.where(time > 0)).dropna()
    return len(clocks) > 1 and not np.allclose(clocks, clocks.iloc[0], rtol=1e-6)


def group_shares(table: pd.DataFrame, layers: str = "fc") -> pd.DataFrame | None:
    """Workload x arch share of the time spent in layer group ``layers`` (per-layer
    tables only, else None)."""
    if not {"kind", "time_us", "workload", "arch"} <= set(table.columns):
        return None
    keys = ["workload", "arch"]
    total = table.groupby(keys, sort=False)["time_us"].sum()
    part = table[in_group(table["kind"], layers)].groupby(keys, sort=False)["time_us"].sum()
    return (part.reindex(total.index).fillna(0) / total.where(total > 0)).unstack("arch")


def network_speedups(table: pd.DataFrame, baseline: str | None,
                     metric: str, layers: str = "all") -> tuple[pd.DataFrame, str]:
    """Workload x arch ratios of the baseline's total time (``speedup``) or energy
    (``energy_ratio``) to each arch's over layer group ``layers``, plus a ``geomean`` row
    for several workloads."""
    column = {"speedup": "time_us", "energy_ratio": "energy_pj"}.get(metric)
    if column is None:
        raise PlotError(f"metric {metric!r}: the speedup figure shows speedup or energy_ratio")
    require(table, ("workload", "arch", column), "speedup")
    table = select_layers(table, layers)
    totals = table.groupby(["workload", "arch"], sort=False)[column].sum().unstack("arch")
    archs = list(dict.fromkeys(table["arch"]))
    baseline = baseline or _baseline_of(table, archs)
    if baseline not in archs:
        raise PlotError(f"baseline {baseline!r} is not in the table (archs: {', '.join(archs)})")
    ratios = totals[archs].rdiv(totals[baseline], axis=0)
    ratios = ratios.reindex(list(dict.fromkeys(table["workload"])))
    if len(ratios) > 1:
        ratios.loc["geomean"] = np.exp(np.log(ratios).mean())
    return ratios, baseline


def _baseline_of(table: pd.DataFrame, archs: list[str]) -> str:
    """The arch a comparison table was made against (speedup 1 everywhere), else the first."""
    if "speedup" in table.columns:
        for arch in archs:
            if np.allclose(table.loc[table["arch"] == arch, "speedup"], 1.0):
                return arch
    return archs[0]


def one_workload(layers: pd.DataFrame, workload: str | None) -> tuple[pd.DataFrame, str]:
    """The rows of ``workload`` (default: the first in the table)."""
    require(layers, ("layer", "arch", "workload"), "per-layer")
    names = list(dict.fromkeys(layers["workload"]))
    workload = workload or names[0]
    if workload not in names:
        raise PlotError(f"workload {workload!r} is not in the table (it has {', '.join(names)})")
    return layers[layers["workload"] == workload], workload


def sweep_keys(points: pd.DataFrame) -> list[str]:
    """The swept keys: the points table's columns between ``workload`` and ``status``."""
    require(points, ("point", "workload", "status"), "sweep")
    columns = list(points.columns)
    return columns[columns.index("workload") + 1:columns.index("status")]


def sweep_slice(points: pd.DataFrame, x: str, line: str | None, metric: str,
                where: dict | None) -> tuple[pd.DataFrame, dict, int]:
    """The ok runs with every swept key but ``x`` and ``line`` held at one value (given in
    ``where``, else the key's middle value); also those values and the non-ok count."""
    keys = sweep_keys(points) + (["arch"] if points["arch"].nunique() > 1 else [])
    for key in (x, line):
        if key is not None and key not in keys:
            raise PlotError(f"{key!r} is not a swept key; the sweep varies {', '.join(keys)}")
    require(points, (metric,), "sweep")
    where = {k: _typed(k, v) for k, v in (where or {}).items()}
    for key in where:
        if key not in keys:
            raise PlotError(f"--where {key}: not a swept key ({', '.join(keys)})")
    fixed, rows = {}, points
    for key in keys:
        values = sorted(points[key].dropna().unique(), key=_order)
        if key in (x, line) or len(values) < 2:
            continue
        fixed[key] = where.get(key, values[(len(values) - 1) // 2])
        rows = rows[rows[key] == fixed[key]]
        if rows.empty:
            raise PlotError(f"no run has {key}={fixed[key]!r} (values: "
                            f"{', '.join(map(str, values))})")
    ok = rows["status"] == "ok"
    return rows[ok], fixed, int((~ok).sum())


def _typed(key: str, value):
    """``--where`` values arrive as text: '64' -> 64, 'null' -> None."""
    return parse_yaml_value(value, f"--where {key}={value}", PlotError) \
        if isinstance(value, str) else value


def _order(value):
    return (0, value, "") if isinstance(value, int | float | np.number) else (1, 0, str(value))
