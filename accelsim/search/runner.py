"""Running a search: ask the sampler for a batch of trials, simulate them on the sweep
executor, tell it their objectives, until the trial budget is spent.

A trial is one config (the base arch with the sampled values) on every workload of the
search. Its runs are planned, keyed and stored exactly as a sweep's
(:func:`accelsim.sweep.runner.plan`, :class:`~accelsim.sweep.store.RunStore`), so a killed
search, rerun, replays the sampler from its seed, finds the runs it already did in the store
and simulates only the rest; a config two trials share is simulated once. A batch's trials
are told back in trial order, so results do not depend on the number of processes.

A trial is ``ok``; ``infeasible`` (a constraint broken: never run); ``failed`` (the config
loader or the core refuses it, or a layer cannot be mapped); or ``error`` (a bug). Only ok
trials have objectives; the others are told to the sampler as failed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pandas as pd

from accelsim.progress import Progress, choose_mode
from accelsim.search.objectives import objective_values, trials_table
from accelsim.search.samplers import distributions, make_sampler
from accelsim.search.spec import Search, SearchError, load_search
from accelsim.sweep.executor import available_cpus, execute_runs, local_pool
from accelsim.sweep.report import SweepStats
from accelsim.sweep.runner import Run, plan, runs_directory
from accelsim.sweep.spec import Sweep
from accelsim.sweep.store import MemoryStore, RunStore, assemble_tables, write_atomically


@dataclass
class SearchResult:
    """``trials``: a row per trial (params, objectives, status, ``pareto``); ``points`` and
    ``layers``: the sweep's tables of every run (``point`` is the trial number)."""

    search: Search
    trials: pd.DataFrame
    points: pd.DataFrame
    layers: pd.DataFrame
    stats: SweepStats = field(default_factory=SweepStats)
    paths: list[Path] = field(default_factory=list)

    def save(self, path: str | Path) -> list[Path]:
        """``path`` gets the layers table, ``<stem>.points`` the runs, ``<stem>.trials``
        the trials."""
        path = Path(path)
        self.paths = [write_atomically(frame, path.with_name(path.stem + suffix + path.suffix))
                      for suffix, frame in (("", self.layers), (".points", self.points),
                                            (".trials", self.trials))]
        return self.paths


def run_search(search: Search | str | Path, output: str | Path | None = None, *,
               jobs: int | None = None, scheduler=None, restart: bool = False,
               progress: bool | None = None) -> SearchResult:
    """Run ``search`` (see the module docstring); with ``output`` (.parquet or .csv) its
    finished runs are kept in ``<stem>.runs/`` beside it and the tables written there."""
    search = search if isinstance(search, Search) else load_search(search)
    if output is not None and Path(output).suffix not in (".parquet", ".csv"):
        raise SearchError(f"{output}: output must end in .parquet or .csv")
    store = RunStore(runs_directory(output), restart) if output is not None else MemoryStore()
    study = optuna.create_study(directions=[o.direction for o in search.objectives],
                                sampler=make_sampler(search))
    space = distributions(search)
    stats, statuses, all_runs = SweepStats(runs=search.trials), {}, []
    started = time.perf_counter()
    bar = Progress(search.trials, desc=f"search {search.name}", label="search", unit="trial",
                   mode=choose_mode(progress, log=True))
    with bar, _workers(jobs, scheduler) as pool:
        while len(study.trials) < search.trials:
            asked = [study.ask(space) for _ in range(min(search.batch,
                                                         search.trials - len(study.trials)))]
            batch = {trial.number: _trial_runs(search, trial) for trial in asked}
            pending = {run.key: run.task for runs, _ in batch.values() for run in runs
                       if run.task is not None and run.key not in store}

            def finished(outcome) -> None:
                store.put(outcome)
                stats.count(outcome)

            stats.workers = execute_runs(list(pending.values()), finished, jobs=1 if pool is None
                                         and scheduler is None else jobs,
                                         scheduler=scheduler, pool=pool) or stats.workers
            for trial in asked:
                runs, infeasible = batch[trial.number]
                status, values = objective_values(search, runs, store, infeasible)
                statuses[trial.number] = (status, infeasible)
                study.tell(trial, values if status == "ok" else None,
                           state=None if status == "ok" else optuna.trial.TrialState.FAIL)
                all_runs += runs
                bar.update(1, status=f"{stats.failed} failed")
    stats.seconds = time.perf_counter() - started
    layers, points = assemble_tables(all_runs, store, search.keys)
    for number, (status, _) in statuses.items():
        if status == "infeasible":
            points.loc[points["point"] == number, "status"] = "infeasible"
    result = SearchResult(search, trials_table(search, study, statuses, points), points,
                          layers, stats)
    if output is not None:
        result.save(output)
    return result


@contextlib.contextmanager
def _workers(jobs: int | None, scheduler):
    """One pool of local processes for the whole search (their values are kept), or None
    (this process, or a Dask cluster, whose workers keep theirs anyway)."""
    jobs = jobs or available_cpus()
    if scheduler is not None or jobs <= 1:
        yield None
        return
    with local_pool(jobs) as pool:
        yield pool


def _trial_runs(search: Search, trial) -> tuple[list[Run], str]:
    """The trial's runs (one per workload, keyed as a sweep's) and, when a constraint is
    broken, why (its runs then have no task: they are never simulated)."""
    settings = {key: trial.params[key] for key in search.keys}
    sweep = Sweep(search.name, (search.arch,), search.workloads,
                  {key: (value,) for key, value in settings.items()}, search.seed,
                  values=search.values)
    runs = [dataclasses.replace(run, point=dataclasses.replace(run.point, index=trial.number))
            for run in plan(sweep)]
    arch = runs[0].point.arch
    broken = [c.text for c in search.constraints if arch is not None and not c.holds(arch)]
    if not broken:
        return runs, ""
    reason = f"infeasible: {'; '.join(broken)} does not hold"
    point = dataclasses.replace(runs[0].point, arch=None, error=reason)
    return [dataclasses.replace(run, point=point, task=None) for run in runs], reason
