"""Architecture configs: frozen dataclasses are the schema, read by one strict loader.

An ``arch_configs/<name>.yaml`` file maps key for key onto :class:`ArchConfig`::

    version: 1
    name: diannao
    core: diannao                 # -> accelsim/arch/diannao.py
    clock_mhz: 980
    precision: fixed16            # fixed16 | fp32
    buffers:                      # exactly the core module's BUFFERS
      nbin:  {size_kib: 2}
      sb:    {size_kib: 32, slots: 2, ports: 2}
    core_params: {tn: 16}         # checked against the core module's Params
    dram: {bytes_per_cycle: 16, latency_cycles: 100, channels: 1}   # null = unlimited
    energy_pj: {sb: {read: 1.7}}  # overrides of accelsim.cost.energy's defaults
    engine: {max_steps_per_layer: 512}
    host: {ops_per_cycle: 16}     # the unit running what the core cannot (optional)

The loader (:func:`arch_from_dict`) walks ``dataclasses.fields``: unknown keys (with the
closest known key suggested), wrong types, out-of-range values and missing keys are all
collected and raised as one :class:`ConfigError`, one ``FILE: dotted.key: problem`` line
each. Ranges live beside the fields as metadata (``gt``/``ge``/``le``; every number has an
upper bound, :data:`MAX_CORE_PARAM` where a field states none, so a huge size is refused here
and not met as a MemoryError); a core's cross-field checks live in its
``Params.__post_init__``. Build configs through the loader or
:func:`with_overrides`: constructing the dataclasses directly checks nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from accelsim import arch, files
from accelsim.arch.activation_unit import UNIT_FUNCTIONS
from accelsim.errors import AccelsimError, ConfigError, did_you_mean
from accelsim.files import read_yaml

Precision = Literal["fixed16", "fp32"]
FORMAT_VERSION = 1
_NOT_A_KEY = {"not_a_key": True}  # field metadata: kept out of YAML and to_dict()
_INVALID = object()  # what from_dict returns for a value that has problems
_TOO_LARGE = object()  # what _scalar returns for a number above its bound
MAX_SIZE = 2 ** 20
"""Upper bound of the config's own sizes, rates and prices (``le`` metadata): 1 GiB
buffers, 2**20 bytes a cycle, cycles or pJ; beyond any chip, and the simulator's arrays and
events grow with them."""
MAX_CORE_PARAM = 2 ** 14
"""Upper bound of every number in ``core_params`` whose ``Params`` field states no ``le`` of
its own (rates, ``*_per_cycle``, excepted: :data:`MAX_SIZE`): 16384 rows, PEs, lanes or
entries, beyond any chip. The cores allocate arrays that
grow with their parameters, so a larger value would end in a MemoryError mid-run instead of
one line here (several parameters near the bound at once can still be too much)."""


@dataclass(frozen=True)
class DramConfig:
    """Off-chip memory: bandwidth per channel, fixed access latency, channel count."""

    bytes_per_cycle: float | None = field(
        default=16.0, metadata={"gt": 0, "le": MAX_SIZE, "null": "unlimited"})  # None = unlimited
    latency_cycles: int = field(default=100, metadata={"ge": 0, "le": MAX_SIZE})
    channels: int = field(default=1, metadata={"ge": 1, "le": 1024})


@dataclass(frozen=True)
class BufferConfig:
    """One on-chip buffer; ``slots`` = 2 is double buffering."""

    size_kib: float = field(metadata={"gt": 0, "le": MAX_SIZE})
    slots: int = field(default=2, metadata={"ge": 1, "le": 64})
    ports: Literal[1, 2] = 2


@dataclass(frozen=True)
class HostConfig:
    """The host (vector) unit that runs the layer kinds the core's own units do not
    (activation functions, element-wise products, softmax: see ``Core.NATIVE_KINDS``):
    ``ops_per_cycle`` lanes at the arch's clock, its operands read from and its results
    written to DRAM (:mod:`accelsim.sim.host`)."""

    ops_per_cycle: int = field(default=16, metadata={"ge": 1, "le": 2 ** 16})


@dataclass(frozen=True)
class ActivationUnitConfig:
    """The core's own activation unit, if it has one (DianNao's NFU-3): the ``act``
    functions it evaluates (others run on the host unit), its lanes, and its
    piecewise-linear table (``segments`` over ``[-input_range, input_range]``; 0 = exact).
    See :mod:`accelsim.arch.activation_unit`."""

    functions: tuple[str, ...] = ()
    ops_per_cycle: int = field(default=16, metadata={"ge": 1, "le": 2 ** 16})
    segments: int = field(default=0, metadata={"ge": 0, "le": 2 ** 16})
    input_range: float = field(default=8.0, metadata={"gt": 0, "le": 2 ** 16})

    def __post_init__(self) -> None:
        for name in self.functions:
            if name not in UNIT_FUNCTIONS:
                raise ValueError(f"functions: {name!r} is not a function an activation unit "
                                 f"evaluates; known: {', '.join(UNIT_FUNCTIONS)}"
                                 + did_you_mean(name, list(UNIT_FUNCTIONS)))


@dataclass(frozen=True)
class EngineConfig:
    """Limits on the event-level engine."""

    max_steps_per_layer: int = field(default=512, metadata={"ge": 1, "le": 2 ** 16})


@dataclass(frozen=True)
class ArchConfig:
    """A whole accelerator: the core (by module name), its buffers, memory and prices."""

    name: str
    core: str
    clock_mhz: float = field(metadata={"gt": 0, "le": MAX_SIZE})
    buffers: dict[str, BufferConfig]
    core_params: object  # an instance of the core module's Params
    precision: Precision = "fixed16"
    dram: DramConfig = DramConfig()
    energy_pj: dict[str, dict[str, float]] = field(default_factory=dict,
                                                   metadata={"ge": 0, "le": MAX_SIZE})
    engine: EngineConfig = EngineConfig()
    host: HostConfig = HostConfig()
    activation_unit: ActivationUnitConfig = ActivationUnitConfig()
    description: str = ""
    version: Literal[1] = FORMAT_VERSION
    origin: str = field(default="", compare=False, metadata=_NOT_A_KEY)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-able data that :func:`arch_from_dict` turns back into this config."""
        return _plain(self)

    @property
    def digest(self) -> str:
        """First 16 hex digits of the sha256 of the canonical JSON of :meth:`to_dict`."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def __hash__(self) -> int:
        return hash(self.digest)


def load_arch(name_or_path: str | Path) -> ArchConfig:
    """A shipped architecture by name (``arch_configs/<name>.yaml``) or a YAML file path."""
    try:
        path = files.resolve("arch_configs", name_or_path, "architecture")
    except AccelsimError as err:
        raise ConfigError(str(err)) from None
    return arch_from_dict(read_yaml(path, ConfigError), str(path))


def arch_from_dict(data: Any, origin: str) -> ArchConfig:
    """Validate parsed YAML into an ArchConfig; ``origin`` names the file in every problem."""
    problems = _Problems(origin or "<arch config>")
    module = _checked_core(data, problems)
    if isinstance(data, dict):  # an omitted core_params section means the core's defaults
        data = {"core_params": {}, **data}
        if module is not None and "buffers" in data:
            data["buffers"] = _checked_buffers(data["buffers"], module, problems)
    params_type = module.Params if module is not None else object
    config = from_dict(ArchConfig, data, "", problems, {"core_params": params_type})
    if problems:
        raise ConfigError(list(problems))
    return dataclasses.replace(config, origin=origin)


def with_overrides(config: ArchConfig, overrides: dict[str, object]) -> ArchConfig:
    """A copy with dotted keys (``"buffers.sb.size_kib"``) replaced, validated as on load."""
    label = f"{config.origin or '<arch config>'} (overrides)"
    data, problems = config.to_dict(), _Problems(label)
    for dotted, value in overrides.items():
        *sections, last = dotted.split(".")
        node = data
        for depth, key in enumerate(sections):
            node = node.setdefault(key, {}) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                problems.add(dotted, f"{'.'.join(sections[:depth + 1])} is not a section")
                break
        else:
            node[last] = value
    if problems:
        raise ConfigError(list(problems))
    return dataclasses.replace(arch_from_dict(data, label), origin=config.origin)


def from_dict(cls: type, data: Any, where: str, problems: _Problems,
              hints: dict[str, Any] | None = None) -> Any:
    """Build dataclass ``cls`` from a mapping, adding every problem found to ``problems``.

    Returns the instance, or ``_INVALID`` if anything inside it had a problem. ``hints``
    replaces field types (the loader gives ``core_params`` the core's ``Params``).
    """
    data = {} if data is None else data  # an empty YAML section is an empty mapping
    if not isinstance(data, dict):
        problems.add(where, f"expected a mapping, got {_show(data)}")
        return _INVALID
    fields = {f.name: f for f in dataclasses.fields(cls)
              if f.init and not f.metadata.get("not_a_key")}
    types_by_name = {**typing.get_type_hints(cls), **(hints or {})}
    start = len(problems)
    for key in data:
        if key not in fields:
            problems.add(_join(where, key), "unknown key" + did_you_mean(key, list(fields), True))
    values = {}
    for name, spec in fields.items():
        if name in data:
            values[name] = _value(types_by_name[name], data[name], _join(where, name),
                                  problems, _bounded(name, spec.metadata))
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            problems.add(_join(where, name), "missing required key")
    if len(problems) > start:
        return _INVALID
    try:
        return cls(**values)
    except ValueError as err:  # a cross-field check in __post_init__
        problems.add(where, str(err))
        return _INVALID


def _value(hint: Any, value: Any, where: str, problems: _Problems, meta: Any) -> Any:
    """Check one value against a field type: dataclass, dict, tuple, Optional or scalar."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is object:  # core_params of an unknown core: nothing to check against
        return value
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where, problems)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None or (meta.get("null") is not None and value == meta["null"]):
            return None
        inner = next(a for a in args if a is not type(None))
        return _value(inner, value, where, problems, {**meta, "nullable": True})
    if origin is dict:
        return _mapping(args[1], value, where, problems, meta)
    if origin is tuple:
        return _sequence(args, value, where, problems, meta)
    checked = _scalar(hint, value, meta)
    if checked is _TOO_LARGE:
        bound = f"{meta['le']}" if "le" in meta else \
            f"{MAX_CORE_PARAM} (the bound of every core parameter)"
        problems.add(where, f"expected at most {bound}, got {_show(value)}")
        return _INVALID
    if checked is _INVALID:
        choices = [c for c in args if isinstance(c, str)] if origin is Literal else []
        hint_text = did_you_mean(value, choices) if isinstance(value, str) else ""
        problems.add(where, f"expected {_expected(hint, meta)}, got {_show(value)}{hint_text}")
    return checked


def _mapping(item_hint: Any, value: Any, where: str, problems: _Problems, meta: Any) -> Any:
    value = {} if value is None else value
    if not isinstance(value, dict):
        problems.add(where, f"expected a mapping, got {_show(value)}")
        return _INVALID
    for key in value:
        if not isinstance(key, str):
            problems.add(_join(where, key), "expected a name (a string key)")
    return {key: _value(item_hint, item, _join(where, key), problems, meta)
            for key, item in value.items()}


def _sequence(args: tuple, value: Any, where: str, problems: _Problems, meta: Any) -> Any:
    variadic = len(args) == 2 and args[1] is Ellipsis
    if not isinstance(value, list | tuple) or (not variadic and len(value) != len(args)):
        size = "a list" if variadic else f"a list of {len(args)}"
        problems.add(where, f"expected {size}, got {_show(value)}")
        return _INVALID
    hints = [args[0]] * len(value) if variadic else list(args)
    return tuple(_value(hint, item, f"{where}[{index}]", problems, meta)
                 for index, (hint, item) in enumerate(zip(hints, value, strict=False)))


def _bounded(name: str, meta: Any) -> Any:
    """A rate (``*_per_cycle``) sizes no array: without its own ``le`` it is bounded as the
    config's rates are (:data:`MAX_SIZE`), not by :data:`MAX_CORE_PARAM`."""
    if name.endswith("_per_cycle") and "le" not in meta:
        return {**meta, "le": MAX_SIZE}
    return meta


def _scalar(hint: Any, value: Any, meta: Any) -> Any:
    """The value (ints widened for float fields) if it fits type and range, else _INVALID
    (or _TOO_LARGE above the field's ``le``, :data:`MAX_CORE_PARAM` without one)."""
    if typing.get_origin(hint) is Literal:
        fits = any(value == c and type(value) is type(c) for c in typing.get_args(hint))
        return value if fits else _INVALID
    if hint not in (int, float, str, bool):
        raise TypeError(f"config field type {hint!r} is not supported by the loader")
    if isinstance(value, bool) and hint is not bool:
        return _INVALID
    if hint is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, hint) or (hint is float and not math.isfinite(value)):
        return _INVALID
    if ("gt" in meta and not value > meta["gt"]) or ("ge" in meta and not value >= meta["ge"]):
        return _INVALID
    if hint in (int, float) and not value <= meta.get("le", MAX_CORE_PARAM):
        return _TOO_LARGE
    return value


def _expected(hint: Any, meta: Any) -> str:
    """What a field accepts, in words: 'a number > 0 or null (unlimited)'."""
    if typing.get_origin(hint) is Literal:
        choices = [_show(c) for c in typing.get_args(hint)]
        text = choices[0] if len(choices) == 1 else "one of " + ", ".join(choices)
    else:
        text = {int: "an integer", float: "a number", str: "a string",
                bool: "true or false"}[hint]
    if "gt" in meta:
        text += f" > {meta['gt']}"
    if "ge" in meta:
        text += f" >= {meta['ge']}"
    if meta.get("nullable"):
        text += f" or null ({meta['null']})" if meta.get("null") else " or null"
    return text


def _checked_core(data: Any, problems: _Problems) -> types.ModuleType | None:
    """The core module ``data['core']`` names, or None (a problem if the name is unknown)."""
    name = data.get("core") if isinstance(data, dict) else None
    if not isinstance(name, str):
        return None  # from_dict reports the missing or mistyped key
    try:
        return _core_module(name)
    except KeyError:
        available = arch.available_cores()
        problems.add("core", f"unknown core {name!r}{did_you_mean(name, available)}; available: "
                             f"{', '.join(available) or 'none'}")
        return None


def _checked_buffers(buffers: Any, module: types.ModuleType, problems: _Problems) -> Any:
    """Report buffer names the core does not have or lacks; keep only the known ones."""
    buffers = {} if buffers is None else buffers
    if not isinstance(buffers, dict):
        return buffers  # from_dict reports the mistyped section
    needed = list(module.BUFFERS)
    for name in buffers:
        if name not in needed:
            problems.add(f"buffers.{name}", "unknown buffer" + did_you_mean(name, needed, True))
    for name in needed:
        if name not in buffers:
            problems.add(f"buffers.{name}", "missing required buffer")
    return {name: spec for name, spec in buffers.items() if name in needed}


def _core_module(name: str) -> types.ModuleType:
    """The module of core ``name`` (KeyError if none); tests monkeypatch it to add fakes."""
    return arch.core_module(name)


class _Problems(list):
    """Problem lines, each ``ORIGIN: dotted.key: text``."""

    def __init__(self, origin: str):
        super().__init__()
        self.origin = origin

    def add(self, where: str, text: str) -> None:
        self.append(f"{self.origin}: {where}: {text}" if where else f"{self.origin}: {text}")


def _plain(value: Any) -> Any:
    """Dataclasses, dicts and tuples as plain dicts and lists (YAML- and JSON-able)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name))
                for f in dataclasses.fields(value) if not f.metadata.get("not_a_key")}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _show(value: Any) -> str:
    """A value as the YAML user wrote it: null, true, 'text', -4."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
