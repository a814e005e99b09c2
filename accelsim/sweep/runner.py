"""Running a sweep: its points and runs, store keys, execution, and the two tables.

The spec is :mod:`accelsim.sweep.spec`. A *point* is one config (a base arch with one value
per key; grid order, base archs outermost, the last key fastest); a *run* is a point on one
workload. A config the loader rejects, or a run whose layer cannot be mapped
(:class:`~accelsim.errors.MappingError`), is recorded as failed with its reason and the sweep
goes on.

:func:`run_sweep` returns (and with ``output`` writes) two tables: ``layers``, one row per
(point, workload, layer) with the point's keys as columns, and ``points``, one row per run
with its status, error and :attr:`~accelsim.sim.results.Result.summary` figures. Runs execute in
local processes (:mod:`accelsim.sweep.executor`) or on a Dask cluster (``scheduler=``); each
process computes a workload's values once and then only counts (:mod:`accelsim.sim.values`).
Finished runs are stored one file each, atomically (:mod:`accelsim.sweep.store`), so an
interrupted sweep, even killed, resumes with only the missing runs.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelsim._version import __version__
from accelsim.config import ArchConfig, with_overrides
from accelsim.errors import AccelsimError, ConfigError
from accelsim.sim.values import value_key
from accelsim.sweep.executor import RunTask, execute_runs
from accelsim.sweep.report import SweepStats, progress_bar
from accelsim.sweep.spec import Sweep, SweepError, load_sweep, reason
from accelsim.sweep.store import MemoryStore, RunStore, assemble_tables, write_atomically
from accelsim.workload import Network


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
            config = with_overrides(base, settings)
            value_key(config)   # builds the core, which may refuse what loads
            found.append(Point(index, base.name, settings, config))
        except ConfigError as err:
            found.append(Point(index, base.name, settings, None, reason(err, base)))
        except AccelsimError as err:   # any other refusal of the point by its core
            found.append(Point(index, base.name, settings, None, str(err)))
    return found


def network_digest(network: Network) -> str:
    """What identifies a workload's simulation: its name, input and layers."""
    text = repr((network.name, tuple(network.input_shape), network.layers))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def code_digest() -> str:
    """accelsim's version and a hash of its source: a stored run is reused only by the code
    that made it (editing a core during development invalidates its results)."""
    package = Path(__file__).resolve().parents[1]   # all of accelsim
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
            key = hashlib.sha256(json.dumps([code_digest(), config, digest, sweep.seed,
                                             sweep.values]).encode()).hexdigest()[:24]
            task = (RunTask(key, point.arch, network, digest, sweep.seed, sweep.values)
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
    worker's few cached values (:mod:`accelsim.sweep.executor`) serve runs in a row."""
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
