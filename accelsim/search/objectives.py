"""A trial's objectives from its runs, the trials table, and its Pareto front.

An objective is a run's summary column (``cycles``, ``time_ms``, ``energy_uj``,
``area_mm2``, any ``energy_<part>_uj`` ...), ``edp`` (energy_uj x time_ms, µJ·ms), or a
per-layer column aggregated over the layers (``{metric: stall_cycles, layers: max}``); it is
combined over the workloads by the search's ``combine`` (sum or mean). Area is the
design's, not a workload's: it is never summed over workloads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from accelsim.search.spec import Objective, Search, SearchError

DESIGN_METRICS = ("area_",)
"""Metrics of the design, the same on every workload (taken once, never summed)."""


def objective_values(search: Search, runs, store, infeasible: str) -> tuple[str, list[float]]:
    """``(status, values)`` of one trial: ``values`` in the order of the objectives when
    every run is ok; otherwise the first run's status that is not ok."""
    if infeasible:
        return "infeasible", []
    per_run = []
    for run in runs:
        if run.task is None:
            return "failed", []
        record, layers = store.get(run.key)
        if record["status"] != "ok":
            return record["status"], []
        per_run.append([_metric(o, record["summary"], layers, search.origin)
                        for o in search.objectives])
    values = np.array(per_run, dtype=np.float64)
    combined = []
    for i, objective in enumerate(search.objectives):
        design = objective.metric.startswith(DESIGN_METRICS) and objective.layers is None
        column = values[:, i]
        combined.append(float(column[0] if design else
                              column.sum() if search.combine == "sum" else column.mean()))
    return "ok", combined


def _metric(objective: Objective, summary: dict, layers: pd.DataFrame | None,
            origin: str) -> float:
    if objective.layers is not None:
        if layers is None or objective.metric not in layers.columns:
            raise SearchError(f"{origin}: objectives: {objective.metric!r} is not a column of "
                              "the per-layer table (accelsim columns lists them)")
        return float(layers[objective.metric].agg(objective.layers))
    if objective.metric == "edp":
        return float(summary["energy_uj"]) * float(summary["time_ms"])
    if objective.metric not in summary:
        raise SearchError(f"{origin}: objectives: {objective.metric!r} is not a column of the "
                          f"runs' summary (it has {', '.join(sorted(summary)[:20])}, ...)")
    return float(summary[objective.metric])


def trials_table(search: Search, study, statuses: dict, points: pd.DataFrame) -> pd.DataFrame:
    """A row per trial: ``trial``, ``sampler``, the keys, ``status``, ``error``, the
    objectives (combined over workloads) and ``pareto`` (on the front of the ok trials)."""
    errors = (points[points["status"] != "ok"].groupby("point")["error"].first()
              if len(points) else pd.Series(dtype=object))
    rows = []
    for trial in study.trials:
        status = statuses[trial.number][0]
        row = {"trial": trial.number, "sampler": search.sampler,
               **{key: trial.params[key] for key in search.keys}, "status": status,
               "error": errors.get(trial.number, "") if status != "ok" else ""}
        for i, objective in enumerate(search.objectives):
            row[objective.name] = trial.values[i] if status == "ok" else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    table["pareto"] = pareto_mask(table, search)
    return table


def minimised(table: pd.DataFrame, search: Search) -> np.ndarray:
    """The ok trials' objectives as a matrix, each turned so that lower is better."""
    signs = [1.0 if o.direction == "minimize" else -1.0 for o in search.objectives]
    return table[[o.name for o in search.objectives]].to_numpy(np.float64) * signs


def pareto_mask(table: pd.DataFrame, search: Search) -> np.ndarray:
    """True for the ok trials no other ok trial dominates (at least as good in every
    objective, better in one); a single objective's front is its best trials."""
    ok = (table["status"] == "ok").to_numpy()
    values = minimised(table, search)
    return ok & non_dominated(values, ok)


def non_dominated(values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``values`` (lower is better) that no other valid row dominates."""
    valid = np.ones(len(values), bool) if valid is None else valid
    mask = valid.copy()
    for i in np.flatnonzero(valid):
        others = values[valid]
        dominated = np.all(others <= values[i], axis=1) & np.any(others < values[i], axis=1)
        mask[i] = not dominated.any()
    return mask


def hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    """Area dominated by ``points`` (two objectives, lower is better) up to ``reference``."""
    inside = points[np.all(points < reference, axis=1)]
    if not len(inside):
        return 0.0
    front = inside[non_dominated(inside)]
    front = front[np.argsort(front[:, 0])]
    area, ceiling = 0.0, reference[1]
    for x, y in front:
        if y < ceiling:
            area += (reference[0] - x) * (ceiling - y)
            ceiling = y
    return float(area)
