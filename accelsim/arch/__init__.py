"""Accelerator cores, one module each; the module name is the core's name.

``core_module("diannao")`` imports ``accelsim.arch.diannao``. A core module defines:

* ``Params``: a frozen dataclass of the core's own knobs (the YAML ``core_params:`` section),
  checking its ranges in ``__post_init__`` (raise ``ValueError`` naming the field);
* ``BUFFERS``: the names of the on-chip buffers the YAML ``buffers:`` section must give;
* ``Core``: a subclass of :class:`accelsim.arch.base.Core`.

No registry to edit: adding ``accelsim/arch/<name>.py`` is enough. ``base`` holds the Core
contract; modules starting with ``_`` are mapping helpers shared by some cores. May import
kernels, the engine, cost models, workloads (layer shapes), errors and fixed point; never
configs' loader, the simulator, the CLI, sweeps or plots.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

_NOT_CORES = {"base"}


def available_cores() -> list[str]:
    """Names of the core modules in this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if m.name not in _NOT_CORES and not m.name.startswith("_"))


def core_module(name: str) -> ModuleType:
    """The module of core ``name``; KeyError (with the available names) if there is none."""
    if name not in available_cores():
        raise KeyError(name)
    return importlib.import_module(f"{__name__}.{name}")
