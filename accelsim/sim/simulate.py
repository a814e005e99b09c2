"""The one layer loop: workload -> core -> kernels -> engine -> counts -> Result.

Each layer's inputs are the outputs the simulated hardware itself produced for the layers
before it (in the arch's precision), so every zero a core sees is a real zero of this run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import core_module
from accelsim.arch.activation_unit import ActivationUnit
from accelsim.config import ArchConfig, load_arch
from accelsim.cost.energy import energy_table, price
from accelsim.engine import run as run_engine
from accelsim.errors import AccelsimError, ConfigError, MappingError
from accelsim.sim import invariants, layout
from accelsim.sim.area import design_area
from accelsim.sim.binarized import run_xnor
from accelsim.sim.host import HostUnit
from accelsim.sim.matmul import run_matmul
from accelsim.sim.results import Result, layer_row
from accelsim.sim.trace import Timeline
from accelsim.sim.values import NetworkValues, value_key
from accelsim.sim.volume import run_volume
from accelsim.workload import INPUT, Layer, Network, load_network, load_tensors
from accelsim.workload.elementwise import fake_quantized
from accelsim.workload.forward import binarizes_input
from accelsim.workload.layer import VOLUME_KINDS
from accelsim.workload.precision import rounded_input
from accelsim.workload.tensors import NetworkTensors, natural_image

Progress = Callable[[int, int, Layer], None]


def _to_precision(x: np.ndarray, precision: str):
    return fixedpoint.quantize(x) if precision == "fixed16" else x.astype(np.float32)


def _weights_in_precision(w: np.ndarray, precision: str):
    """A network's weights (they outlive the run): fixed16 codes are remembered per array
    (:func:`~accelsim.fixedpoint.quantize_kept`), so a run on the same tensors reuses them."""
    return fixedpoint.quantize_kept(w) if precision == "fixed16" else w.astype(np.float32)


def _on_grid(tensor, quant):
    """The output rounded to an int8 model's grid (:func:`fake_quantized`), kept in the
    arch's precision (fixed16: requantized with the frac its range allows)."""
    if isinstance(tensor, fixedpoint.Fixed):
        grid = fixedpoint.quantize(fake_quantized(tensor.to_float(), quant))
        return dataclasses.replace(grid, saturated=grid.saturated + tensor.saturated)
    return fake_quantized(tensor, quant).astype(np.float32)


def _bits(quant) -> int:
    return (quant[3] - quant[2]).bit_length()


def _clamp(tensor, bound: float):
    """ReLU6-style upper bound of a layer's output, applied in the core's output stage.

    Fixed point: the bound is taken at the output's own frac (the core chose it from the
    unclamped range), rounded down to the grid.
    """
    if isinstance(tensor, fixedpoint.Fixed):
        limit = min(math.floor(bound * 2.0 ** tensor.frac), fixedpoint.Q_MAX)
        return tensor.with_codes(np.minimum(tensor.q, limit).astype(np.int16))
    return np.minimum(tensor, np.float32(bound))


def _check_batch(batch: int, core, arch: ArchConfig) -> None:
    if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
        raise AccelsimError(f"batch must be an integer >= 1, got {batch!r}")
    if batch > 1 and not getattr(core, "BATCHED", False):
        raise AccelsimError(f"{arch.origin or arch.name}: core {arch.core!r} runs one image "
                            "at a time; use batch 1")


def _batch_input(image: np.ndarray, seed: int, batch: int) -> np.ndarray:
    """``image`` (C x H x W) for batch 1; else N x C x H x W: ``image``, then seeded natural
    images, each from its own random stream (key ``[seed, 2, i]``; streams 0 and 1 are the
    seeded input's and the weights')."""
    if batch == 1:
        return image
    extra = [natural_image(image.shape, np.random.default_rng([seed, 2, i]))
             for i in range(1, batch)]
    return np.stack([image, *extra]).astype(np.float32)


def _zero_fraction(tensor) -> float:
    values = fixedpoint.raw(tensor)   # zeros counted without a boolean copy of the tensor
    return float((values.size - np.count_nonzero(values)) / values.size) if values.size \
        else 0.0


def simulate(arch: ArchConfig | str | Path, network: Network | str | Path, *, seed: int = 0,
             tensors: NetworkTensors | None = None, keep_outputs: bool = False,
             progress: Progress | None = None, batch: int = 1,
             reuse: NetworkValues | None = None, trace: Timeline | None = None) -> Result:
    """Simulate ``network`` on ``arch`` with the given tensors, or its default ones
    (:func:`accelsim.workload.load_tensors`: an ONNX model's own weights, else seeded).

    ``arch`` and ``network`` may be shipped names or file paths. With ``keep_outputs`` every
    layer's output (and ``"input"``) stays in ``Result.outputs``; otherwise tensors are freed
    after their last use. ``batch`` > 1 runs that many images at once (``N x C x H x W``
    tensors: the input, then seeded natural images) on a core with ``BATCHED = True``.
    ``reuse``: this network's values recorded by :func:`accelsim.sim.simulate.record_values` on
    a core with the same value key (``tensors`` is then ignored); the core only counts,
    and the result is identical to a full run. ``trace``: a :class:`~accelsim.sim.trace.
    Timeline` that receives every layer's engine timeline (for ``accelsim run --trace``).
    """
    arch = arch if isinstance(arch, ArchConfig) else load_arch(arch)
    network = network if isinstance(network, Network) else load_network(network)
    tensors = reuse.tensors if reuse is not None else tensors
    tensors = tensors if tensors is not None else load_tensors(network, seed)
    core = core_module(arch.core).Core(arch)
    core.layer_precision = tensors.precision   # per-layer bits (a bit-serial core reads them)
    problem = core.network_problem(network)
    if problem:
        raise ConfigError(f"{arch.origin or arch.name}: {problem}")
    host, act_unit = HostUnit(arch), ActivationUnit(arch)
    memory = core.memory_spec()
    table = energy_table(core.components() + host.components() + act_unit.components(),
                         arch.precision, {**act_unit.default_prices(), **arch.energy_pj},
                         arch.origin)
    _check_batch(batch, core, arch)
    if batch > 1 and any(layer.kind in VOLUME_KINDS for layer in network.layers):
        raise AccelsimError(f"network {network.name!r}: 3-D layers run one clip at a time; "
                            "use batch 1")
    if reuse is not None:
        reuse.check(arch, network, core, batch)
    values = {INPUT: reuse.outputs[INPUT] if reuse is not None else
              _to_precision(_batch_input(tensors.input, seed, batch), arch.precision)}
    last_use = network.last_use()
    rows, counts_by_layer = [], {}
    outputs = {INPUT: values[INPUT]} if keep_outputs else {}
    for index, layer in enumerate(network.layers):
        if progress:
            progress(index, len(network.layers), layer)
        inputs = [rounded_input(tensors.precision, layer.name, values[name])
                  for name in layer.inputs]   # at the layer's precision, if one is set
        weights = bias = None
        if layer.has_weights:
            weights = (reuse.weights[layer.name] if reuse is not None else
                       _weights_in_precision(tensors.weights[layer.name], arch.precision))
            bias = tensors.biases[layer.name].astype(np.float32)
        unit, ran_on = core, arch.core
        try:
            if layer.kind in layout.LAYOUT_KINDS:   # data layout only: no core computes it
                run, ran_on = layout.run_layer(layer, inputs), layout.RAN_ON
            elif layer.kind in VOLUME_KINDS:   # 3-D: frame by frame on the core's 2-D path
                run, unit = run_volume(core, layer, inputs, weights, bias)
                if reuse is not None:
                    run.output = reuse.outputs[layer.name]
            elif layer.kind == "matmul":   # two activations: a grouped 1x1 conv on the core
                run, unit = run_matmul(core, layer, inputs)
                run.output = reuse.outputs[layer.name] if reuse is not None else run.output
            elif act_unit.runs(layer):   # the core's own activation unit (NFU-3)
                run, unit, ran_on = act_unit.run_layer(layer, inputs, batch), act_unit, \
                    act_unit.ran_on
            elif layer.kind not in core.NATIVE_KINDS:   # the core has no unit for it
                run, unit, ran_on = host.run_layer(layer, inputs, batch), host, "host"
            elif binarizes_input(tensors.precision, layer.name):   # XNOR-Net: +-1 inputs
                run = run_xnor(core, layer, inputs[0], weights, bias)
            elif reuse is not None:   # the output is known: the core only counts
                run = core.count_layer(layer, inputs, weights, bias, reuse.outputs[layer.name])
            else:
                run = core.run_layer(layer, inputs, weights, bias)
        except MappingError as err:
            raise MappingError(f"{arch.origin or arch.name}: {err}") from None
        if layer.relu_max is not None:
            run.output = _clamp(run.output, layer.relu_max)
        if layer.quant is not None:   # an int8 model's requantization, in the output stage
            run.output = _on_grid(run.output, layer.quant)
            run.mapping += (f"; output on an int{_bits(layer.quant)} grid (scale "
                            f"{layer.quant[0]:.4g}), datapath widened to {arch.precision}")
        stats = run_engine(run.work, memory, run.counts, trace=trace is not None)
        if trace is not None:
            trace.add(layer.name, ran_on, stats.cycles, stats.timeline)
        energy = price(run.counts, table)
        rows.append(layer_row(layer, run, stats, energy, unit, arch,
                              _zero_fraction(inputs[0]), batch, ran_on))
        invariants.check_layer(arch, rows[-1], run.counts, run.output, unit.word_bytes)
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
        "batch": batch,
        "tensors": dict(tensors.provenance),
        "area": design_area(arch),   # area_mm2 and its parts, in the summary like energy
    }
    if act_unit.config.functions:   # what its act layers' values went through
        meta["activation_unit"] = dataclasses.asdict(act_unit.config)
    return Result.build(rows, counts_by_layer, table, meta, outputs)


def record_values(arch: ArchConfig | str | Path, network: Network | str | Path, *,
                  seed: int = 0, tensors: NetworkTensors | None = None,
                  batch: int = 1) -> tuple[Result, NetworkValues]:
    """A full run of ``network`` on ``arch`` and the values it computed, for reuse."""
    arch = arch if isinstance(arch, ArchConfig) else load_arch(arch)
    network = network if isinstance(network, Network) else load_network(network)
    tensors = tensors if tensors is not None else load_tensors(network, seed)
    result = simulate(arch, network, seed=seed, tensors=tensors, keep_outputs=True,
                      batch=batch)
    weights = {layer.name: _weights_in_precision(tensors.weights[layer.name], arch.precision)
               for layer in network.layers if layer.has_weights}
    values = NetworkValues(network, value_key(arch), batch, tensors, weights,
                           dict(result.outputs))
    result.outputs.clear()   # the caller asked for a result, not for a second copy
    return result, values
