"""A network's values, computed once and reused by runs that only count.

Every core computes the reference outputs for its precision (``tests/test_cores.py``), so a
layer's output does not depend on buffer sizes, DRAM, tiling or array shape: only on the
network, its tensors and what :meth:`accelsim.arch.base.Core.value_key` names. A sweep
records the values with one full run (:func:`accelsim.sim.simulate.record_values`) and hands them to
:func:`accelsim.sim.simulate.simulate` (``reuse=``) for every other point with the same key: the
layer loop then reads each layer's inputs, quantized weights and output from here, and the
core only counts (:meth:`~accelsim.arch.base.Core.count_layer`). Counts, cycles and energy
are identical to a full run (``tests/test_sweep.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accelsim.arch import core_module
from accelsim.config import ArchConfig
from accelsim.workload import Network
from accelsim.workload.tensors import NetworkTensors


@dataclass(frozen=True)
class NetworkValues:
    """The input, weights (in the precision) and every layer's output of one run.

    ``value_key`` is the recording core's :meth:`~accelsim.arch.base.Core.value_key`;
    ``tensors`` the float tensors the run started from (kept for provenance and biases).
    """

    network: Network
    value_key: tuple
    batch: int
    tensors: NetworkTensors
    weights: dict[str, Any]
    outputs: dict[str, Any]

    def check(self, arch: ArchConfig, network: Network, core, batch: int) -> None:
        """Refuse reuse by a run whose outputs could differ from these."""
        if network != self.network:
            raise ValueError(f"values of network {self.network.name!r} cannot be reused "
                             f"for network {network.name!r}")
        if core.value_key() != self.value_key or batch != self.batch:
            raise ValueError(f"values recorded with value key {self.value_key} (batch "
                             f"{self.batch}) cannot be reused by {arch.name} (value key "
                             f"{core.value_key()}, batch {batch})")


def value_key(arch: ArchConfig) -> tuple:
    """The value key of ``arch``'s core (see :meth:`accelsim.arch.base.Core.value_key`)."""
    return core_module(arch.core).Core(arch).value_key()
