"""The one layer loop: workload -> core -> kernels -> engine -> counts -> Result.

Each layer's inputs are the outputs the simulated hardware itself produced for the layers
before it (in the arch's precision), so every zero a core sees is a real zero of this run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import core_module
from accelsim.config import ArchConfig, load_arch
from accelsim.energy import energy_table, price
from accelsim.engine import run as run_engine
from accelsim.errors import MappingError
from accelsim.results import Result, layer_row
from accelsim.workload import INPUT, Layer, Network, load_network
from accelsim.workload.tensors import NetworkTensors, make_tensors

Progress = Callable[[int, int, Layer], None]


def _to_precision(x: np.ndarray, precision: str):
    return fixedpoint.quantize(x) if precision == "fixed16" else x.astype(np.float32)


def _zero_fraction(tensor) -> float:
    values = tensor.q if isinstance(tensor, fixedpoint.Fixed) else tensor
    return float(np.count_nonzero(values == 0) / values.size) if values.size else 0.0


def simulate(arch: ArchConfig | str | Path, network: Network | str | Path, *, seed: int = 0,
             tensors: NetworkTensors | None = None, keep_outputs: bool = False,
             progress: Progress | None = None) -> Result:
    """Simulate ``network`` on ``arch`` with the seeded (or given) real tensors.

    ``arch`` and ``network`` may be shipped names or file paths. With ``keep_outputs`` every
    layer's output (and ``"input"``) stays in ``Result.outputs``; otherwise tensors are freed
    after their last use.
    """
    arch = arch if isinstance(arch, ArchConfig) else load_arch(arch)
    network = network if isinstance(network, Network) else load_network(network)
    tensors = tensors if tensors is not None else make_tensors(network, seed)
    core = core_module(arch.core).Core(arch)
    memory = core.memory_spec()
    table = energy_table(core.components(), arch.precision, arch.energy_pj, arch.origin)
    values = {INPUT: _to_precision(tensors.input, arch.precision)}
    last_use = network.last_use()
    rows, counts_by_layer = [], {}
    outputs = {INPUT: values[INPUT]} if keep_outputs else {}
    for index, layer in enumerate(network.layers):
        if progress:
            progress(index, len(network.layers), layer)
        inputs = [values[name] for name in layer.inputs]
        weights = bias = None
        if layer.has_weights:
            weights = _to_precision(tensors.weights[layer.name], arch.precision)
            bias = tensors.biases[layer.name].astype(np.float32)
        try:
            run = core.run_layer(layer, inputs, weights, bias)
        except MappingError as err:
            raise MappingError(f"{arch.origin or arch.name}: {err}") from None
        stats = run_engine(run.work, memory, run.counts)
        energy = price(run.counts, table)
        rows.append(layer_row(layer, run, stats, energy, core, arch,
                              _zero_fraction(inputs[0])))
        counts_by_layer[layer.name] = run.counts
        values[layer.name] = run.output
        if keep_outputs:
            outputs[layer.name] = run.output
        for name in layer.inputs:
            if last_use[name] == index:
                values.pop(name, None)
    meta = {
        "arch": arch.name, "arch_file": arch.origin, "arch_digest": arch.digest,
        "core": arch.core, "precision": arch.precision, "clock_mhz": arch.clock_mhz,
        "network": network.name, "network_source": network.source, "seed": seed,
        "tensors": dict(tensors.provenance),
    }
    return Result.build(rows, counts_by_layer, table, meta, outputs)
