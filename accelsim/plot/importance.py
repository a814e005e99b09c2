"""A search's trials table: its keys and objectives, and which keys matter.

:func:`importances` is Optuna's PED-ANOVA importance of each searched key for one objective,
from the table alone (a finished search, or several, studied without running anything):
how much the key's values among the best trials (its top 10 %) differ from its values
among all of them, so it says what the best designs share, over the region sampled.
PED-ANOVA needs no extra package and no random forest, so the same table always gives the
same importances. Optuna is imported only when importances are asked for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from accelsim.plot.data import PlotError


def trial_keys(trials: pd.DataFrame) -> list[str]:
    """The searched keys: the trials table's columns between ``sampler`` and ``status``."""
    columns = list(trials.columns)
    return columns[columns.index("sampler") + 1:columns.index("status")]


def objective_columns(trials: pd.DataFrame) -> list[str]:
    """The objectives: the columns between ``error`` and ``pareto``."""
    columns = list(trials.columns)
    return columns[columns.index("error") + 1:columns.index("pareto")]


def importances(trials: pd.DataFrame, objective: str) -> pd.Series:
    """Importance of each key for ``objective`` over the ok trials (they sum to 1)."""
    if objective not in objective_columns(trials):
        raise PlotError(f"importance: {objective!r} is not an objective of the search "
                            f"({', '.join(objective_columns(trials))})")
    ok = trials[trials["status"] == "ok"]
    keys = [k for k in trial_keys(trials) if ok[k].nunique() > 1]
    if len(ok) < 4 or not keys:
        raise PlotError("importance: needs at least 4 ok trials that vary a key")
    import optuna
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spaces = {k: _distribution(ok[k]) for k in keys}
    study = optuna.create_study()
    study.add_trials([create_trial(params={k: _plain(row[k]) for k in keys},
                                   distributions=spaces, value=float(row[objective]))
                      for _, row in ok.iterrows()])
    found = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(), normalize=True)
    return pd.Series({k: found.get(k, 0.0) for k in keys}, name=objective).sort_values(
        ascending=False, kind="stable")


def _distribution(values: pd.Series):
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return FloatDistribution(float(values.min()), float(values.max()))
    return CategoricalDistribution(sorted(values.map(_plain).unique(), key=str))


def _plain(value):
    return float(value) if isinstance(value, int | float | np.number) and not isinstance(
        value, bool | np.bool_) else value
