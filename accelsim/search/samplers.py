"""The samplers a search can use: Optuna's, and a seeded simulated annealing of our own.

``tpe`` (Bayesian, tree-structured Parzen estimators), ``gp`` (Gaussian process; needs
torch and scipy), ``cmaes`` (needs the ``cmaes`` package), ``random``, ``nsga2`` (a genetic
algorithm for several objectives), ``annealing`` (:class:`AnnealingSampler`) and ``grid``
(every point of a space of choices once, for comparison). Each is
seeded, and a search tells its trials back in trial order, so a seed gives the same trials
whatever the number of processes.
"""

from __future__ import annotations

import math

import numpy as np
import optuna

from accelsim.errors import AccelsimError
from accelsim.search.spec import Param, Search

optuna.logging.set_verbosity(optuna.logging.WARNING)


def distributions(search: Search) -> dict:
    """Each key's Optuna distribution."""
    dist = optuna.distributions
    found = {}
    for p in search.space:
        if p.choices is not None:
            found[p.key] = dist.CategoricalDistribution(p.choices)
        elif p.integer:
            found[p.key] = dist.IntDistribution(p.low, p.high, log=p.log,
                                                step=int(p.step or 1))
        else:
            found[p.key] = dist.FloatDistribution(p.low, p.high, log=p.log, step=p.step)
    return found


def make_sampler(search: Search):
    """The search's sampler, seeded with its ``sampler.seed``."""
    samplers, seed = optuna.samplers, search.sampler_seed
    if search.sampler == "tpe":
        return samplers.TPESampler(seed=seed, multivariate=True,
                                   n_startup_trials=min(10, max(2, search.trials // 10)))
    if search.sampler == "grid":   # every point once, in a seeded order
        return _GridSampler({p.key: list(p.choices) for p in search.space}, seed=seed)
    if search.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    if search.sampler == "nsga2":
        return samplers.NSGAIISampler(seed=seed,
                                      population_size=max(4, min(50, search.trials // 8)))
    if search.sampler == "cmaes":
        _need("cmaes", "the cmaes sampler needs the cmaes package (pip install cmaes)")
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if search.sampler == "gp":
        _need("torch", "the gp sampler needs torch and scipy (pip install torch scipy)")
        _need("scipy", "the gp sampler needs torch and scipy (pip install torch scipy)")
        return samplers.GPSampler(seed=seed)
    return AnnealingSampler(search.space, seed=seed, trials=search.trials)


def _need(module: str, message: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise AccelsimError(message) from None


class AnnealingSampler(optuna.samplers.BaseSampler):
    """Simulated annealing over the space, one objective, as an Optuna sampler.

    The state is the last accepted trial; each new trial is a neighbour of it (every
    range moved by a normal step of ``spread`` x its width, log-scaled where the range is,
    each categorical changed with probability ``1/len(space)``). A finished trial is
    accepted when better, or with probability ``exp(-relative worsening / T)``, with
    ``T`` cooling geometrically from ``t0`` to ``t0 / 100`` over the search. Trials are
    accepted in trial-number order with one seeded generator, so a seed gives one path.
    """

    def __init__(self, space: tuple[Param, ...], seed: int = 0, trials: int = 100,
                 t0: float = 0.1, spread: float = 0.25) -> None:
        self.space, self.rng = space, np.random.default_rng(seed)
        self.t0, self.cooling = t0, 0.01 ** (1.0 / max(trials, 1))
        self.spread = spread
        self.current: tuple[dict, float] | None = None
        self.seen = 0
        self._random = optuna.samplers.RandomSampler(seed=seed)

    def infer_relative_search_space(self, study, trial) -> dict:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict:
        return {}

    def before_trial(self, study, trial) -> None:
        self._accept(study)

    def after_trial(self, study, trial, state, values) -> None:
        return None

    def reseed_rng(self) -> None:
        return None

    def sample_independent(self, study, trial, name, distribution):
        if self.current is None:
            return self._random.sample_independent(study, trial, name, distribution)
        param = next(p for p in self.space if p.key == name)
        return self._neighbour(param, self.current[0][name])

    def _accept(self, study) -> None:
        done = optuna.trial.TrialState.COMPLETE
        trials = sorted((t for t in study.get_trials(deepcopy=False) if t.state == done),
                        key=lambda t: t.number)
        sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
        for trial in trials[self.seen:]:
            value = sign * trial.value
            temperature = self.t0 * self.cooling ** trial.number
            if self.current is None or value <= self.current[1]:
                self.current = (dict(trial.params), value)
            else:
                worse = (value - self.current[1]) / max(abs(self.current[1]), 1e-12)
                if self.rng.random() < math.exp(-worse / max(temperature, 1e-12)):
                    self.current = (dict(trial.params), value)
        self.seen = len(trials)

    def _neighbour(self, param: Param, value):
        if param.choices is not None:
            if self.rng.random() < 1.0 / len(self.space) or len(self.space) == 1:
                others = [c for c in param.choices if c != value] or list(param.choices)
                return others[int(self.rng.integers(len(others)))]
            return value
        low, high = (math.log(param.low), math.log(param.high)) if param.log else (param.low,
                                                                                  param.high)
        where = math.log(value) if param.log else value
        moved = min(high, max(low, where + self.rng.normal(0.0, self.spread) * (high - low)))
        moved = math.exp(moved) if param.log else moved
        if param.step:
            moved = param.low + round((moved - param.low) / param.step) * param.step
        if param.integer:
            moved = int(round(moved))
        return min(param.high, max(param.low, moved))


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, without stopping the study when the grid is done (its
    ``study.stop()`` works only inside ``study.optimize``; a search asks and tells)."""

    def after_trial(self, study, trial, state, values) -> None:
        return None
