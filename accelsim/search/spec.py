"""Search specs: a space of config values, constraints, objectives and a sampler.

A search file (``arch_configs/searches/diannao.yaml`` is the shipped example)::

    version: 1
    name: diannao-memory-search
    arch: diannao                      # one base arch, a name or a path
    workloads: [lenet5]                # objectives combine over them (combine: sum | mean)
    seed: 0
    values: calibrated                 # or synthetic
    space:                             # dotted config keys, as --set takes them
      buffers.sb.size_kib: {low: 2, high: 128, log: true}       # int range (ints given)
      dram.bytes_per_cycle: {low: 2.0, high: 32.0, step: 2.0}   # float range
      buffers.nbin.size_kib: {choices: [1, 2, 4, 8]}            # categorical
    constraints: ["sram_kib <= 512"]   # over keys and derived quantities (see constraints)
    objectives:                        # minimise unless goal: max
      - time_ms
      - {metric: energy_uj}
      - {metric: stall_cycles, layers: max}   # a per-layer column, aggregated over layers
    combine: sum
    sampler: {name: nsga2, seed: 1}    # tpe, gp, cmaes, random, nsga2, annealing, grid
    trials: 200
    batch: 4                           # trials asked at once (run in parallel)

Every problem is reported at once, one ``FILE: key: problem`` line each.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim import files
from accelsim.config import ArchConfig, load_arch
from accelsim.errors import AccelsimError, did_you_mean
from accelsim.search.constraints import Constraint, check_names, parse_constraint
from accelsim.sweep.spec import SweepError, load_each, no_valid_value, spec_path
from accelsim.workload import VALUES, Network, load_network

SPEC_KEYS = ("version", "name", "description", "arch", "workloads", "seed", "values",
             "space", "constraints", "objectives", "combine", "sampler", "trials", "batch")
SAMPLERS = ("tpe", "gp", "cmaes", "random", "nsga2", "annealing", "grid")
SUMMARY_METRICS = ("cycles", "time_ms", "energy_uj", "area_mm2", "edp", "dram_bytes",
                   "stall_cycles", "compute_cycles", "utilization_vs_ideal")
"""Named objectives; ``edp`` is energy_uj x time_ms per workload. Any other summary column
(``energy_sb_uj``, ...) is accepted too, and checked when the first trial ran."""
LAYER_AGGREGATES = ("sum", "mean", "max", "min")
GOALS = {"min": "minimize", "minimize": "minimize", "max": "maximize", "maximize": "maximize"}


class SearchError(SweepError):
    """A search file is malformed; one ``FILE: key: problem`` line per problem."""


@dataclass(frozen=True)
class Param:
    """One dimension of the space: a range (``low``..``high``, ints when both are ints,
    ``log`` scale, ``step``) or ``choices``."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None

    @property
    def integer(self) -> bool:
        return self.choices is None and isinstance(self.low, int) and isinstance(self.high, int)


@dataclass(frozen=True)
class Objective:
    """``metric`` of each run (a summary column, ``edp``, or a per-layer column aggregated
    by ``layers``), combined over workloads, minimised or maximised."""

    metric: str
    direction: str = "minimize"
    layers: str | None = None

    @property
    def name(self) -> str:
        return f"{self.metric}_{self.layers}" if self.layers else self.metric


@dataclass(frozen=True)
class Search:
    name: str
    arch: ArchConfig
    workloads: tuple[Network, ...]
    space: tuple[Param, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    combine: str = "sum"
    sampler: str = "tpe"
    sampler_seed: int = 0
    trials: int = 50
    batch: int = 4
    seed: int = 0
    values: str = "calibrated"
    origin: str = ""

    @property
    def keys(self) -> list[str]:
        return [param.key for param in self.space]

    def replace(self, **changes) -> Search:
        return dataclasses.replace(self, **changes)


def load_search(name_or_path: str | Path) -> Search:
    """A search YAML file, or the name of a shipped one (``arch_configs/searches/<name>``)."""
    path = spec_path(name_or_path, "searches")
    return search_from_dict(files.read_yaml(path, SearchError), str(path), path.parent)


def search_from_dict(data: Any, origin: str = "<search>", base_dir: Path | None = None) -> Search:
    """Validate a parsed search spec; every problem is reported at once, naming the key."""
    where, problems = origin or "<search>", []
    if not isinstance(data, dict):
        raise SearchError(f"{where}: expected a mapping with keys {', '.join(SPEC_KEYS)}")
    for key in data:
        if key not in SPEC_KEYS:
            problems.append(f"{where}: {key}: unknown key{did_you_mean(key, SPEC_KEYS)}")
    if data.get("version", 1) != 1:
        problems.append(f"{where}: version: expected 1, got {data.get('version')!r}")
    archs = load_each(data.get("arch", []), "arch", load_arch, base_dir, where, problems)
    if len(archs) > 1:
        problems.append(f"{where}: arch: expected one architecture, got {len(archs)}")
    workloads = load_each(data.get("workloads", []), "workloads", load_network, base_dir,
                           where, problems)
    _unique_names(workloads, "workloads", where, problems)
    space = _space(data.get("space"), where, problems)
    objectives = _objectives(data.get("objectives"), where, problems)
    constraints = []
    for i, text in enumerate(_as_list(data.get("constraints", []))):
        try:
            constraints.append(parse_constraint(text, f"{where}: constraints[{i}]"))
        except AccelsimError as err:
            problems.append(str(err))
    sampler, sampler_seed = _sampler(data.get("sampler", "tpe"), len(objectives), where,
                                     problems)
    combine = data.get("combine", "sum")
    if combine not in ("sum", "mean"):
        problems.append(f"{where}: combine: expected sum or mean, got {combine!r}")
    values = data.get("values", VALUES[0])
    if values not in VALUES:
        problems.append(f"{where}: values: expected one of {', '.join(VALUES)}, got {values!r}")
    numbers = {key: _integer(data.get(key, default), key, where, problems, minimum)
               for key, default, minimum in (("seed", 0, 0), ("trials", 50, 1),
                                             ("batch", 4, 1))}
    if sampler == "grid" and any(p.choices is None for p in space):
        problems.append(f"{where}: sampler.name: grid needs choices for every key of space")
    if not problems and archs:
        problems += _unusable_keys(archs[0], space, where)
        problems += check_names(constraints, archs[0], where)
    if problems:
        raise SearchError("\n".join(problems))
    return Search(str(data.get("name") or Path(where).stem), archs[0], tuple(workloads),
                  tuple(space), tuple(objectives), tuple(constraints), combine, sampler,
                  sampler_seed, numbers["trials"], numbers["batch"], numbers["seed"],
                  values, where)


def _unique_names(items: list, key: str, where: str, problems: list) -> None:
    """Two workloads of one name would share their rows in the tables."""
    names = [item.name for item in items]
    for name in dict.fromkeys(n for n in names if names.count(n) > 1):
        problems.append(f"{where}: {key}: {names.count(name)} entries named {name!r}")


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _integer(value, key, where, problems, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"{where}: {key}: expected an integer >= {minimum}, got {value!r}")
        return minimum
    return value


def _space(value, where, problems) -> list[Param]:
    if not isinstance(value, dict) or not value:
        problems.append(f"{where}: space: expected a mapping of dotted keys to ranges "
                        "({low, high[, log, step]}) or {choices: [...]}")
        return []
    return [p for key, spec in value.items()
            if (p := _param(str(key), spec, f"{where}: space.{key}", problems))]


def _param(key: str, spec, where: str, problems: list) -> Param | None:
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, dict) or set(spec) - {"low", "high", "log", "step", "choices"}:
        problems.append(f"{where}: expected {{low, high[, log, step]}} or {{choices: [...]}}, "
                        f"got {spec!r}")
        return None
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
            problems.append(f"{where}: choices: expected a non-empty list alone, got {spec!r}")
            return None
        if len({repr(c) for c in choices}) != len(choices):
            problems.append(f"{where}: choices: values repeat: {choices!r}")
            return None
        return Param(key, choices=tuple(choices))
    low, high, log, step = (spec.get("low"), spec.get("high"), spec.get("log", False),
                            spec.get("step"))
    numbers = [v for v in (low, high, step) if v is not None]
    if low is None or high is None or any(isinstance(v, bool) or not isinstance(v, int | float)
                                          for v in numbers):
        problems.append(f"{where}: expected numbers low and high (and step), got {spec!r}")
        return None
    if not low < high:
        problems.append(f"{where}: bad range: low {low} must be below high {high}")
    elif not isinstance(log, bool):
        problems.append(f"{where}: log: expected true or false, got {log!r}")
    elif log and (low <= 0 or step is not None):
        problems.append(f"{where}: a log range needs low > 0 and no step, got {spec!r}")
    elif step is not None and (step <= 0 or step > high - low):
        problems.append(f"{where}: step: expected 0 < step <= high - low, got {step}")
    else:
        return Param(key, low, high, log, step)
    return None


def _objectives(value, where, problems) -> list[Objective]:
    items = _as_list(value) if value is not None else []
    if not items:
        problems.append(f"{where}: objectives: expected a list of metrics, e.g. [time_ms, "
                        "energy_uj]")
    found = []
    for i, item in enumerate(items):
        spec = {"metric": item} if isinstance(item, str) else item
        here = f"{where}: objectives[{i}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("metric"), str) \
                or set(spec) - {"metric", "goal", "layers"}:
            problems.append(f"{here}: expected a metric name or {{metric, goal, layers}}, "
                            f"got {item!r}")
            continue
        goal, layers = spec.get("goal", "min"), spec.get("layers")
        if goal not in GOALS:
            problems.append(f"{here}: goal: expected min or max, got {goal!r}")
        elif layers is not None and layers not in LAYER_AGGREGATES:
            problems.append(f"{here}: layers: expected one of {', '.join(LAYER_AGGREGATES)}, "
                            f"got {layers!r}")
        elif layers is None and not _known_summary_metric(spec["metric"]):
            problems.append(f"{here}: unknown objective {spec['metric']!r}"
                            f"{did_you_mean(spec['metric'], SUMMARY_METRICS, True)}; a "
                            "per-layer column needs layers: sum|mean|max|min")
        else:
            found.append(Objective(spec["metric"], GOALS[goal], layers))
    names = [o.name for o in found]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(f"{where}: objectives: {name} is listed twice")
    return found


def _known_summary_metric(metric: str) -> bool:
    """Named metrics and the summary's families: energy_<part>_uj, area_<part>_mm2,
    fj_per_mac_<part>."""
    return (metric in SUMMARY_METRICS or metric.startswith("fj_per_mac_")
            or (metric.startswith("energy_") and metric.endswith("_uj"))
            or (metric.startswith("area_") and metric.endswith("_mm2")))


def _sampler(value, objectives: int, where, problems) -> tuple[str, int]:
    spec = {"name": value} if isinstance(value, str) else value
    if not isinstance(spec, dict) or set(spec) - {"name", "seed"} or "name" not in spec:
        problems.append(f"{where}: sampler: expected a name or {{name, seed}}, got {value!r}")
        return "tpe", 0
    name = spec["name"]
    if name not in SAMPLERS:
        problems.append(f"{where}: sampler.name: unknown sampler {name!r}"
                        f"{did_you_mean(name, SAMPLERS, True)}")
    elif objectives > 1 and name in ("cmaes", "annealing", "gp"):
        problems.append(f"{where}: sampler.name: {name} optimises one objective; "
                        f"{objectives} are given (use nsga2, tpe or random)")
    return name, _integer(spec.get("seed", 0), "sampler.seed", where, problems, 0)


def _unusable_keys(arch: ArchConfig, space: list[Param], where: str) -> list[str]:
    """A key that the config refuses at both ends of its range (or for every choice) is a
    mistake in the spec, not a design point."""
    problems = []
    for param in space:
        values = param.choices if param.choices is not None else (param.low, param.high)
        error = no_valid_value(arch, param.key, values)
        if error:
            problems.append(f"{where}: space.{param.key}: no value is valid for {arch.name}: "
                            f"{error}")
    return problems
