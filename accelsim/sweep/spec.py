"""Sweep specs: a grid over config keys on several workloads, from a file or from Python.

A sweep file (``arch_configs/sweeps/diannao.yaml`` is the shipped example)::

    version: 1
    name: diannao-memory
    arch: diannao                  # or archs: [dadiannao, cnvlutin]; names or paths
    workloads: [alexnet, mobilenet_v1]
    seed: 0
    values: calibrated             # or synthetic (see accelsim.workload.load_tensors)
    grid:                          # any config key by its dotted path, as --set takes it
      buffers.sb.size_kib: [8, 32, 128]
      dram.bytes_per_cycle: [4, 16, 64]
    sample: {count: 20, seed: 1}   # optional: a random subset of the grid's points

Every problem of a spec is reported at once, one ``FILE: key: problem`` line each. A key that
no value makes valid on a base arch is a mistake in the sweep, refused here; a value the
config loader rejects is a design point, recorded as failed when the sweep runs.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim import files
from accelsim.config import ArchConfig, load_arch, with_overrides
from accelsim.errors import AccelsimError, ConfigError, did_you_mean
from accelsim.sim.rows import load_workloads
from accelsim.workload import VALUES, Network

MAX_POINTS = 1 << 22
"""The most points a grid may have (4,194,304): the points are listed before sampling."""
SPEC_KEYS = ("version", "name", "description", "arch", "archs", "workloads", "seed", "values",
             "grid", "sample")


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
    values: str = "calibrated"
    """Values of networks without their own weights: ``calibrated`` or ``synthetic``."""

    @property
    def keys(self) -> list[str]:
        return list(self.grid)


def spec_path(name_or_path: str | Path, folder: str) -> Path:
    """A spec file's path, or the shipped ``arch_configs/<folder>/<name>.yaml`` for a bare
    name (sweeps and searches)."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = files.data_dir("arch_configs") / folder / f"{name_or_path}.yaml"
    return path


def load_sweep(name_or_path: str | Path) -> Sweep:
    """A sweep YAML file, or the name of a shipped one (``arch_configs/sweeps/<name>``)."""
    path = spec_path(name_or_path, "sweeps")
    return sweep_from_dict(files.read_yaml(path, SweepError), str(path), path.parent)


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
    archs = load_each(data.get("archs", data.get("arch", [])), "archs", load_arch, base_dir,
                       where, problems)
    workloads = load_each(data.get("workloads", []), "workloads", load_workloads, base_dir,
                           where, problems)   # a SCALE-Sim topology: one workload per row
    grid = _grid(data.get("grid", {}), where, problems)
    _unique_names(archs, "archs", where, problems)
    _unique_names(workloads, "workloads", where, problems)
    _grid_size(archs, grid, where, problems)
    seed = _integer(data.get("seed", 0), "seed", where, problems)
    count, sample_seed = _sample(data.get("sample"), where, problems)
    values = data.get("values", VALUES[0])
    if values not in VALUES:
        problems.append(f"{where}: values: expected one of {', '.join(VALUES)}, got {values!r}")
    if not problems:
        problems += _unusable_keys(archs, grid, where)
    if problems:
        raise SweepError("\n".join(problems))
    name = str(data.get("name") or Path(where).stem)
    return Sweep(name, tuple(archs), tuple(workloads), grid, seed, count, sample_seed, where,
                 values)


def make_sweep(archs: Sequence[ArchConfig | str | Path] | ArchConfig | str,
               workloads: Sequence[Network | str | Path] | Network | str,
               grid: Mapping[str, Sequence], *, seed: int = 0, sample: int | None = None,
               sample_seed: int = 0, name: str = "sweep", values: str = "calibrated") -> Sweep:
    """The Python form of a sweep file: names, paths or loaded objects."""
    archs = [archs] if isinstance(archs, ArchConfig | str | Path) else list(archs)
    workloads = [workloads] if isinstance(workloads, Network | str | Path) else list(workloads)
    data = {"name": name, "archs": archs, "workloads": workloads,
            "grid": {key: list(values) if isinstance(values, tuple | range) else values
                     for key, values in grid.items()}, "seed": seed, "values": values}
    if sample is not None:
        data["sample"] = {"count": sample, "seed": sample_seed}
    return sweep_from_dict(data, name)


def load_each(value, key, loader, base_dir, where, problems) -> list:
    """Each name or path of ``value`` loaded (a path relative to the file's directory
    first; a loader's tuple, e.g. a topology's rows, adds each); a problem per item that
    does not load. Used by sweep and search files."""
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
            found = loader(relative if relative.suffix and relative.exists() else item)
            loaded.extend(found if isinstance(found, tuple) else [found])
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
        elif len({_identity(v) for v in values}) != len(values):
            problems.append(f"{where}: grid.{key}: values repeat: {values!r}")
        elif len({_kind(v) for v in values if v is not None}) > 1:
            problems.append(f"{where}: grid.{key}: values of different kinds (numbers, text, "
                            f"true/false, lists): {values!r}")
        else:
            grid[str(key)] = tuple(values)
    return grid


def _identity(value) -> str:
    """Equal values give equal identities (16 and 16.0 repeat; true and 1 do not)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(float(value))
    return json.dumps(value, sort_keys=True)


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else type(value).__name__


def _unique_names(items: list, key: str, where: str, problems: list) -> None:
    """Two archs (or workloads) of one name would share their rows in every table."""
    names = [item.name for item in items]
    for name in dict.fromkeys(n for n in names if names.count(n) > 1):
        problems.append(f"{where}: {key}: {names.count(name)} entries named {name!r}; each "
                        "needs its own name (its rows in the tables are keyed by it)")


def _grid_size(archs: list, grid: dict, where: str, problems: list) -> None:
    size = len(archs) * math.prod(len(values) for values in grid.values())
    if size > MAX_POINTS:
        problems.append(f"{where}: grid: {size:,} points (archs x values), more than "
                        f"{MAX_POINTS:,}; split the sweep or give fewer values")


def _integer(value, key, where, problems, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"{where}: {key}: expected an integer >= {minimum}, got {value!r}")
        return minimum
    return value


def _sample(value, where, problems) -> tuple[int | None, int]:
    if value is None:
        return None, 0
    spec = {"count": value} if isinstance(value, int) else value
    if not isinstance(spec, dict) or set(spec) - {"count", "seed"} or "count" not in spec:
        problems.append(f"{where}: sample: expected a count or {{count: N, seed: S}}, "
                        f"got {value!r}")
        return None, 0
    count = _integer(spec["count"], "sample.count", where, problems, minimum=1)
    return count, _integer(spec.get("seed", 0), "sample.seed", where, problems)


def _unusable_keys(archs: list[ArchConfig], grid: dict[str, tuple], where: str) -> list[str]:
    """A key that no value makes valid on some base arch is a mistake in the sweep (an
    unknown key, a key of another core), not a design point to record as failed."""
    problems = []
    for arch, (key, values) in itertools.product(archs, grid.items()):
        error = no_valid_value(arch, key, values)
        if error:
            problems.append(f"{where}: grid.{key}: no value is valid for {arch.name}: {error}")
    return problems


def no_valid_value(arch: ArchConfig, key: str, values) -> str | None:
    """The config's reason for refusing the first of ``values`` when it refuses every one of
    them for ``key``; None as soon as one is valid."""
    first = None
    for value in values:
        try:
            with_overrides(arch, {key: value})
            return None
        except ConfigError as err:
            first = reason(err, arch) if first is None else first
    return first


def reason(err: ConfigError, arch: ArchConfig) -> str:
    """The config problem without the '<file> (overrides): ' (or '<file>: ', from the core)
    prefix every line carries."""
    origin = arch.origin or '<arch config>'
    return "; ".join(p.removeprefix(f"{origin} (overrides): ").removeprefix(f"{origin}: ")
                     for p in err.problems)
