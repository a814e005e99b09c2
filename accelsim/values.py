"""A network's values, computed once and reused by runs that only count.

Every core computes the reference outputs for its precision (``tests/test_cores.py``), so a
layer's output does not depend on buffer sizes, DRAM, tiling or array shape: only on the
network, its tensors and what :meth:`accelsim.arch.base.Core.value_key` names. A sweep
records the values with one full run (:func:`record_values`) and hands them to
:func:`accelsim.simulate.simulate` (``reuse=``) for every other point with the same key: the
layer loop then reads each layer's inputs, quantized weights and output from here, and the
core only counts (:meth:`~accelsim.arch.base.Core.count_layer`). Counts, cycles and energy
are identical to a full run (``tests/test_sweep.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.arch import core_module
from accelsim.config import ArchConfig, load_arch
from accelsim.results import Result
from accelsim.workload import Network, load_network, load_tensors
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


def record_values(arch: ArchConfig | str | Path, network: Network | str | Path, *,
                  seed: int = 0, tensors: NetworkTensors | None = None,
                  batch: int = 1) -> tuple[Result, NetworkValues]:
    """A full run of ``network`` on ``arch`` and the values it computed, for reuse."""
    from accelsim.simulate import _to_precision, simulate  # simulate imports this module

    arch = arch if isinstance(arch, ArchConfig) else load_arch(arch)
    network = network if isinstance(network, Network) else load_network(network)
    tensors = tensors if tensors is not None else load_tensors(network, seed)
    result = simulate(arch, network, seed=seed, tensors=tensors, keep_outputs=True,
                      batch=batch)
    weights = {layer.name: _to_precision(tensors.weights[layer.name], arch.precision)
               for layer in network.layers if layer.has_weights}
    values = NetworkValues(network, value_key(arch), batch, tensors, weights,
                           dict(result.outputs))
    result.outputs.clear()   # the caller asked for a result, not for a second copy
    return result, values
