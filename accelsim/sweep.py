"""Design-space sweeps: a grid over config keys, on several workloads, resumable.

A sweep file (``arch_configs/sweeps/diannao.yaml`` is the shipped example)::

    version: 1
    name: diannao-memory
    arch: diannao                  # or archs: [dadiannao, cnvlutin]; names or paths
    workloads: [alexnet, mobilenet_v1]
    seed: 0
    grid:                          # any config key by its dotted path, as --set takes it
      buffers.sb.size_kib: [8, 32, 128]
      dram.bytes_per_cycle: [4, 16, 64]
    sample: {count: 20, seed: 1}   # optional: a random subset of the grid's points

A *point* is one config (a base arch with one value per key; grid order, base archs
outermost, the last key fastest); a *run* is a point on one workload. A config the loader
rejects, or a run whose layer cannot be mapped (:class:`~accelsim.errors.MappingError`), is
recorded as failed with its reason and the sweep goes on.

:func:`run_sweep` returns (and with ``output`` writes) two tables: ``layers``, one row per
(point, workload, layer) with the point's keys as columns, and ``points``, one row per run
with its status, error and :attr:`~accelsim.results.Result.summary` figures. Runs execute in
local processes (:mod:`accelsim.sweep_exec`) or on a Dask cluster (``scheduler=``); each
process computes a workload's values once and then only counts (:mod:`accelsim.values`).
Finished runs are stored one file each, atomically (:mod:`accelsim.sweep_store`), so an
interrupted sweep, even killed, resumes with only the missing runs.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelsim import __version__, resources
from accelsim.config import ArchConfig, load_arch, with_overrides
from accelsim.errors import AccelsimError, ConfigError
from accelsim.sweep_exec import RunTask, execute_runs
from accelsim.sweep_report import SweepStats, progress_bar
from accelsim.sweep_store import MemoryStore, RunStore, assemble_tables, write_atomically
from accelsim.values import value_key
from accelsim.workload import Network, load_network
from accelsim.yamlio import did_you_mean, read_yaml

SPEC_KEYS = ("version", "name", "description", "arch", "archs", "workloads", "seed", "grid",
             "sample")


class SweepError(AccelsimError):
    """A sweep file or spec is malformed; one ``FILE: key: problem`` line per problem."""


@dataclass(frozen=True)
class Sweep:
    """Base configs x a grid of dotted-key values, on workloads, with one seed.

    ``sample``: run only that many of the grid's points, drawn without replacement with
    ``sample_seed`` (a larger count keeps the smaller count's points).
    """

    name: str
    archs: tuple[ArchConfig, ...]
    workloads: tuple[Network, ...]
    grid: dict[str, tuple]
    seed: int = 0
    sample: int | None = None
    sample_seed: int = 0
    origin: str = ""

    @property
    def keys(self) -> list[str]:
        return list(self.grid)


@dataclass(frozen=True)
class Point:
    """One config of the sweep: ``arch`` is None when the loader rejected it (``error``)."""

    index: int
    base: str
    settings: dict[str, Any]
    arch: ArchConfig | None
    error: str = ""


@dataclass(frozen=True)
class Run:
    """A point on one workload; ``key`` identifies its result in a store."""

    point: Point
    workload: str
    key: str
    task: RunTask | None


@dataclass
class SweepResult:
    """``layers``: a row per (point, workload, layer); ``points``: a row per run."""

    sweep: Sweep
    layers: pd.DataFrame
    points: pd.DataFrame
    stats: SweepStats = field(default_factory=SweepStats)
    paths: list[Path] = field(default_factory=list)

    def save(self, path: str | Path) -> list[Path]:
        """``path`` (.parquet or .csv) gets the layers table, ``<stem>.points`` the runs."""
        path = Path(path)
        points_path = path.with_name(path.stem + ".points" + path.suffix)
        write_atomically(self.layers, path)
        write_atomically(self.points, points_path)
        self.paths = [path, points_path]
        return self.paths


# ---- the spec ------------------------------------------------------------------------------
def load_sweep(name_or_path: str | Path) -> Sweep:
    """A sweep YAML file, or the name of a shipped one (``arch_configs/sweeps/<name>``)."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = resources.data_dir("arch_configs") / "sweeps" / f"{name_or_path}.yaml"
    return sweep_from_dict(read_yaml(path, SweepError), str(path), path.parent)


def sweep_from_dict(data: Any, origin: str = "<sweep>", base_dir: Path | None = None) -> Sweep:
    """Validate a parsed sweep spec; every problem is reported at once, naming the key.
    Arch and workload paths are taken relative to ``base_dir`` (the file's directory)."""
    where, problems = origin or "<sweep>", []
    if not isinstance(data, dict):
        raise SweepError(f"{where}: expected a mapping with keys {', '.join(SPEC_KEYS)}")
    for key in data:
        if key not in SPEC_KEYS:
            problems.append(f"{where}: {key}: unknown key{did_you_mean(key, SPEC_KEYS)}")
    if "arch" in data and "archs" in data:
        problems.append(f"{where}: arch, archs: give one of them")
    if data.get("version", 1) != 1:
        problems.append(f"{where}: version: expected 1, got {data.get('version')!r}")
    archs = _load_each(data.get("archs", data.get("arch", [])), "archs", load_arch, base_dir,
                       where, problems)
    workloads = _load_each(data.get("workloads", []), "workloads", load_network, base_dir,
                           where, problems)
    grid = _grid(data.get("grid", {}), where, problems)
    seed = _integer(data.get("seed", 0), "seed", where, problems)
    count, sample_seed = _sample(data.get("sample"), where, problems)
    if not problems:
        problems += _unusable_keys(archs, grid, where)
    if problems:
        raise SweepError("\n".join(problems))
    name = str(data.get("name") or Path(where).stem)
    return Sweep(name, tuple(archs), tuple(workloads), grid, seed, count, sample_seed, where)


def make_sweep(archs: Sequence[ArchConfig | str | Path] | ArchConfig | str,
               workloads: Sequence[Network | str | Path] | Network | str,
               grid: Mapping[str, Sequence], *, seed: int = 0, sample: int | None = None,
               sample_seed: int = 0, name: str = "sweep") -> Sweep:
    """The Python form of a sweep file: names, paths or loaded objects."""
    archs = [archs] if isinstance(archs, ArchConfig | str | Path) else list(archs)
    workloads = [workloads] if isinstance(workloads, Network | str | Path) else list(workloads)
    data = {"name": name, "archs": archs, "workloads": workloads,
            "grid": {key: list(values) if isinstance(values, tuple | range) else values
                     for key, values in grid.items()}, "seed": seed}
    if sample is not None:
        data["sample"] = {"count": sample, "seed": sample_seed}
    return sweep_from_dict(data, name)


def _load_each(value, key, loader, base_dir, where, problems) -> list:
    items = value if isinstance(value, list) else [value]
    if not items or any(not isinstance(v, str | Path | ArchConfig | Network) for v in items):
        problems.append(f"{where}: {key}: expected a name or a list of names/paths, "
                        f"got {value!r}")
        return []
    loaded = []
    for item in items:
        if isinstance(item, ArchConfig | Network):
            loaded.append(item)
            continue
        relative = base_dir / item if base_dir is not None else Path(item)
        try:
            loaded.append(loader(relative if relative.suffix and relative.exists() else item))
        except AccelsimError as err:
            problems.append(f"{where}: {key}: {item}: {err}".replace("\n", "; "))
    return loaded


def _grid(value, where, problems) -> dict[str, tuple]:
    if not isinstance(value, dict) or not value:
        problems.append(f"{where}: grid: expected a mapping of dotted keys to value lists")
        return {}
    grid = {}
    for key, values in value.items():
        if not isinstance(values, list) or not values:
            problems.append(f"{where}: grid.{key}: expected a non-empty list of values, "
                            f"got {values!r}")
        elif len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            problems.append(f"{where}: grid.{key}: values repeat: {values!r}")
        else:
            grid[str(key)] = tuple(values)
    return grid


def _integer(value, key, where, problems) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{where}: {key}: expected an integer >= 0, got {value!r}")
        return 0
    return value


def _sample(value, where, problems) -> tuple[int | None, int]:
    if value is None:
        return None, 0
    spec = {"count": value} if isinstance(value, int) else value
    if not isinstance(spec, dict) or set(spec) - {"count", "seed"} or "count" not in spec:
        problems.append(f"{where}: sample: expected a count or {{count: N, seed: S}}, "
                        f"got {value!r}")
        return None, 0
    count = _integer(spec["count"], "sample.count", where, problems)
    return count or None, _integer(spec.get("seed", 0), "sample.seed", where, problems)


def _unusable_keys(archs: list[ArchConfig], grid: dict[str, tuple], where: str) -> list[str]:
    """A key that no value makes valid on some base arch is a mistake in the sweep (an
    unknown key, a key of another core), not a design point to record as failed."""
    problems = []
    for arch, (key, values) in itertools.product(archs, grid.items()):
        errors = []
        for value in values:
            try:
                with_overrides(arch, {key: value})
                break
            except ConfigError as err:
                errors.append(_reason(err, arch))
        else:
            problems.append(f"{where}: grid.{key}: no value is valid for {arch.name}: "
                            f"{errors[0]}")
    return problems


def _reason(err: ConfigError, arch: ArchConfig) -> str:
    """The config problem without the '<file> (overrides): ' prefix every line carries."""
    prefix = f"{arch.origin or '<arch config>'} (overrides): "
    return "; ".join(p.removeprefix(prefix) for p in err.problems)


# ---- points and runs -----------------------------------------------------------------------
def points(sweep: Sweep) -> list[Point]:
    """Every config of the grid (or the sampled ones), in grid order."""
    combos = list(itertools.product(sweep.archs, itertools.product(*sweep.grid.values())))
    chosen = range(len(combos))
    if sweep.sample is not None and sweep.sample < len(combos):
        order = np.random.default_rng(sweep.sample_seed).permutation(len(combos))
        chosen = sorted(int(i) for i in order[:sweep.sample])
    found = []
    for index in chosen:
        base, values = combos[index]
        settings = dict(zip(sweep.grid, values, strict=True))
        try:
            found.append(Point(index, base.name, settings, with_overrides(base, settings)))
        except ConfigError as err:
            found.append(Point(index, base.name, settings, None, _reason(err, base)))
    return found


def network_digest(network: Network) -> str:
    """What identifies a workload's simulation: its name, input and layers."""
    text = repr((network.name, tuple(network.input_shape), network.layers))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def code_digest() -> str:
    """accelsim's version and a hash of its source: a stored run is reused only by the code
    that made it (editing a core during development invalidates its results)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def plan(sweep: Sweep) -> list[Run]:
    """Every (point, workload) run with its store key (code, config, network, seed)."""
    runs = []
    for point in points(sweep):
        for network in sweep.workloads:
            digest = network_digest(network)
            config = point.arch.digest if point.arch else json.dumps(
                [point.base, point.settings], sort_keys=True, default=str)
            key = hashlib.sha256(json.dumps([code_digest(), config, digest, sweep.seed])
                                 .encode()).hexdigest()[:24]
            task = (RunTask(key, point.arch, network, digest, sweep.seed)
                    if point.arch else None)
            runs.append(Run(point, network.name, key, task))
    return runs


# ---- running -------------------------------------------------------------------------------
def run_sweep(sweep: Sweep | str | Path, output: str | Path | None = None, *,
              jobs: int | None = None, scheduler=None, restart: bool = False,
              progress: bool | None = None) -> SweepResult:
    """Run every run of ``sweep`` not already stored; return (and write) the tables.

    ``output`` (.parquet or .csv): the tables' path; finished runs are kept one file each
    in ``<stem>.runs/`` beside it, so a rerun (after an interrupt, or with more grid
    values) runs only what is missing; ``restart`` empties it first. ``jobs``: local
    processes (default: one per CPU; 1 runs in this process). ``scheduler``: a Dask
    scheduler address or ``distributed.Client``, used instead of local processes.
    ``progress``: a bar on stderr (default: when stderr is a terminal).
    """
    sweep = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    if output is not None and Path(output).suffix not in (".parquet", ".csv"):
        raise SweepError(f"{output}: output must end in .parquet or .csv")
    runs = plan(sweep)
    store = RunStore(runs_directory(output), restart) if output is not None else MemoryStore()
    tasks = [run.task for run in runs if run.task is not None]
    pending = _grouped([task for task in tasks if task.key not in store])
    stats = SweepStats(runs=len(runs), invalid=len(runs) - len(tasks),
                       stored_before=len(tasks) - len(pending),
                       stored_other=store.others(run.key for run in runs))
    started = time.perf_counter()
    with progress_bar(sweep, stats, progress) as bar:
        def finished(outcome) -> None:
            store.put(outcome)
            stats.count(outcome)
            bar.update(outcome)

        stats.workers = execute_runs(pending, finished, jobs=jobs, scheduler=scheduler)
    stats.seconds = time.perf_counter() - started
    layers, table = assemble_tables(runs, store, sweep.keys)
    result = SweepResult(sweep, layers, table, stats)
    if output is not None:
        result.save(output)
    return result


def _grouped(tasks: list[RunTask]) -> list[RunTask]:
    """Tasks in the order workers should take them: by workload, then by value key, so a
    worker's few cached values (:mod:`accelsim.sweep_exec`) serve runs in a row."""
    workloads = {digest: i for i, digest in enumerate(dict.fromkeys(
        task.network_digest for task in tasks))}
    keys = {}
    for task in tasks:
        keys.setdefault(task.arch.digest, repr(value_key(task.arch)))
    return sorted(tasks, key=lambda t: (workloads[t.network_digest], keys[t.arch.digest]))


def runs_directory(output: str | Path) -> Path:
    """Where the finished runs of a sweep writing ``output`` are stored."""
    output = Path(output)
    return output.with_name(output.stem + ".runs")


def pareto_front(points_table: pd.DataFrame, x: str = "cycles",
                 y: str = "energy_uj") -> pd.Series:
    """True for the ok runs no other ok run of the same workload beats in both ``x`` and
    ``y`` (lower is better in both)."""
    front = pd.Series(False, index=points_table.index)
    ok = points_table[points_table["status"] == "ok"]
    for _, group in ok.groupby("workload", sort=False):
        ordered = group.sort_values([x, y], kind="stable")
        best_y = np.inf
        for index, value in ordered[y].items():
            if value < best_y:
                front[index] = True
                best_y = value
    return front
