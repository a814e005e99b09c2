"""What a sweep tells its user: a progress bar while it runs, a summary when it ends."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from accelsim.progress import Progress, choose_mode

MAX_REASONS = 5


@dataclass
class SweepStats:
    """Counts of this invocation: ``runs`` in the sweep, ``invalid`` of them with a config
    the loader rejects (never run), ``stored_before`` found done by an earlier one,
    ``stored_other`` stored runs this sweep does not use (other grid values or code)."""

    runs: int = 0
    invalid: int = 0
    stored_before: int = 0
    stored_other: int = 0
    ran: int = 0
    counted: int = 0
    failed: int = 0
    errors: int = 0
    seconds: float = 0.0
    workers: str = ""

    def count(self, outcome) -> None:
        self.ran += 1
        self.counted += outcome.counted
        self.failed += outcome.status == "failed"
        self.errors += outcome.status == "error"


class _Bar:
    """The sweep's view of :class:`accelsim.progress.Progress`: a run finished, and how
    many have failed so far."""

    def __init__(self, progress: Progress, stats: SweepStats) -> None:
        self.progress, self.stats = progress, stats

    def update(self, outcome) -> None:
        stats, postfix = self.stats, None
        if outcome.status != "ok":
            errors = f", {stats.errors} errors" if stats.errors else ""
            postfix = f"{stats.failed} failed{errors}"
        self.progress.update(1, postfix=postfix, status=f"{stats.failed} failed")


@contextmanager
def progress_bar(sweep, stats: SweepStats, show: bool | None):
    """Runs done (those found stored count as done), rate and ETA: a tqdm bar when
    ``show`` is true, or by default when stderr is a terminal (else a line per tenth;
    ``ACCELSIM_PROGRESS`` overrides the default, see :mod:`accelsim.progress`)."""
    progress = Progress(stats.runs, desc=f"sweep {sweep.name}", label="sweep", unit="run",
                        mode=choose_mode(show, log=True),
                        initial=stats.stored_before + stats.invalid)
    try:
        yield _Bar(progress, stats)
    finally:
        progress.close()


def format_summary(result) -> str:
    """Counts, time, the failure reasons and the best runs per workload, as text."""
    sweep, stats, table = result.sweep, result.stats, result.points
    n_points = table["point"].nunique()
    ok = table[table["status"] == "ok"]
    rate = f", {stats.ran / stats.seconds:.2f} runs/s" if stats.ran and stats.seconds else ""
    lines = [
        f"sweep {sweep.name}: {n_points} points x {_plural(len(sweep.workloads), 'workload')} = "
        f"{len(table)} runs: {len(ok)} ok, {(table['status'] == 'failed').sum()} failed, "
        f"{(table['status'] == 'error').sum()} errors",
        f"  this time: ran {stats.ran} ({stats.counted} on reused values), "
        f"{stats.stored_before} found done, {stats.invalid} with an invalid config; "
        f"{stats.seconds:.1f} s{rate}"
        + (f" on {stats.workers}" if stats.workers else ""),
    ]
    if stats.stored_other:
        lines.append(f"  {stats.stored_other} stored runs are not this sweep's (other grid "
                     "values, or made by another accelsim version or source); kept, "
                     "--restart deletes them")
    lines += _reasons(table)
    lines += _best(ok, sweep.keys)
    return "\n".join(lines)


def _reasons(table: pd.DataFrame) -> list[str]:
    """Failures grouped by reason (numbers masked), with one example each."""
    failed = table[table["status"] != "ok"]
    if failed.empty:
        return []
    groups = failed.groupby(failed["error"].map(lambda e: re.sub(r"\d+", "#", e)), sort=False)
    lines = ["  not ok, by reason:"]
    for _, group in sorted(groups, key=lambda item: -len(item[1]))[:MAX_REASONS]:
        first = group.iloc[0]
        lines.append(f"    {len(group):4d} x [{first['status']}] {_short(first['error'])} "
                     f"(e.g. point {first['point']}, {first['workload']})")
    if groups.ngroups > MAX_REASONS:
        lines.append(f"    ... {groups.ngroups - MAX_REASONS} more reasons in the points table")
    return lines


def _best(ok: pd.DataFrame, keys: list[str]) -> list[str]:
    if ok.empty:
        return []
    front = pareto_front(ok)
    lines = ["  best per workload:"]
    for workload, group in ok.groupby("workload", sort=False):
        for label, order in (("fastest", ["time_ms", "energy_uj"]),
                             ("least energy", ["energy_uj", "time_ms"])):
            row = group.sort_values(order, kind="stable").iloc[0]
            lines.append(f"    {workload:14s} {label:12s} point {row['point']:<4} "
                         f"{row['cycles']:>14,} cycles {row['time_ms']:10.3f} ms "
                         f"{row['energy_uj']:12,.1f} uJ  {_settings(row, keys)}")
        lines.append(f"    {workload:14s} Pareto front (cycles vs energy): points "
                     + ", ".join(str(p) for p in group.loc[front[group.index], "point"]))
    return lines


def _settings(row: pd.Series, keys: list[str]) -> str:
    return ", ".join(f"{key}={row[key]}" for key in keys)


def _short(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


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
