"""The Core base class: what every accelerator module implements.

A core turns one layer and its real input tensors into (a) the layer's real output tensor,
(b) a :class:`~accelsim.engine.TileWork` for the engine and (c) raw event counts. The layer
loop in :mod:`accelsim.sim.simulate` is the same for every core.

Hooks a subclass implements (SimPy ``BaseResource`` style: the base names them, a core fills
them in):

* ``tile(layer) -> tiling``: map the layer onto the hardware; raise
  :class:`~accelsim.errors.MappingError` with the reason (and the config key to change) if it
  cannot be mapped.
* ``compute(layer, inputs, weights, bias, tiling) -> LayerRun``: call the numba kernels;
  return the output, the TileWork and the counts, in one pass over the data.
* ``components() -> list[Component]``: the energy model's view of the hardware.
* ``peak_per_cycle(layer) -> int``: datapath work (MACs, or ops for pool/add) per cycle at
  full utilization; ``ideal_cycles`` divides the layer's work by it.

Class attributes ``LOAD_BUFFERS`` / ``STORE_BUFFERS`` name the buffers a tile's inputs land
in and its outputs leave from; the engine's double buffering uses their slots and ports.
``NATIVE_KINDS`` lists the layer kinds the core's own units execute; the layer loop sends
any other kind to the arch's host unit (:mod:`accelsim.sim.host`).

Tensors: ``fixed16`` cores exchange :class:`accelsim.fixedpoint.Fixed` (int16 C x H x W plus
frac bits), ``fp32`` cores float32 C x H x W arrays. Weights come in the same precision;
biases always as float32 (a core quantizes them at its accumulator's frac).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from accelsim import fixedpoint
from accelsim.cost.counts import Counts
from accelsim.engine import BufferSpec, DramSpec, MemorySpec, TileWork
from accelsim.workload.layer import Layer


def require_ints(params, names, minimum: int = 1) -> None:
    """A core ``Params.__post_init__`` check: each named field is an int (not a bool)
    >= ``minimum``; the config loader turns the ValueError into a line naming the key."""
    for name in names:
        value = getattr(params, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def require_flags(params, names) -> None:
    """Each named field is ``true`` or ``false``."""
    for name in names:
        if not isinstance(getattr(params, name), bool):
            raise ValueError(f"{name} must be true or false, got {getattr(params, name)!r}")


def conv_output(layer: Layer, acc, x, weights, bias):
    """A conv / fc layer's output from its exact sums ``acc`` (M x positions, int64 for
    fixed16, float64 for fp32): the bias joins at the accumulator's frac bits, then the
    fused ReLU and the requantization to 16 bits (fp32: bias, ReLU, float32)."""
    acc = acc.reshape(layer.out_shape)
    if isinstance(x, fixedpoint.Fixed):
        acc, acc_frac = fixedpoint.with_bias(acc, bias, x.frac + weights.frac)
        return fixedpoint.requantize(acc, acc_frac, layer.relu)
    out = acc + bias.astype(np.float64)[:, None, None]
    return (np.maximum(out, 0) if layer.relu else out).astype(np.float32)


@dataclass
class LayerRun:
    """What a core returns for one layer.

    ``stats`` holds the core's own per-layer figures that are not priced events (lane busy
    and idle cycles, a compressed format's size, ...); each becomes a column of
    ``Result.layers`` under its key, so keys carry their unit (``_cycles``, ``_bytes``).
    """

    output: Any
    work: TileWork
    counts: Counts
    mapping: str
    tiles: int
    stats: dict[str, float] = field(default_factory=dict)


class Unit:
    """What the result table asks of whatever ran a layer (a core, the host unit, a core
    running 3-D frames): ``arch``, the word size, the layer's useful work and its no-stall
    cycles at ``peak_per_cycle``."""

    arch: Any

    @property
    def word_bytes(self) -> int:
        return 2 if self.arch.precision == "fixed16" else 4

    def ideal_cycles(self, layer: Layer, counts: Counts | None = None, batch: int = 1) -> int:
        """No-stall lower bound: the layer's work at full datapath utilization. With the
        layer's ``counts``, the work is its *effectual* MACs (the ``mac`` events a core
        counted), so a core that skips ineffectual MACs is held to what it really did."""
        return math.ceil(self.useful_work(layer, counts, batch) / self.peak_per_cycle(layer))

    @staticmethod
    def useful_work(layer: Layer, counts: Counts | None = None, batch: int = 1) -> int:
        """MACs (effectual ones, given the counts) for conv/fc; ops for pool/add; for all
        ``batch`` images (counts already cover them)."""
        if not layer.has_weights:
            return layer.ops * batch
        if counts is None:
            return layer.macs * batch
        return sum(n for (_, action), n in counts.items() if action == "mac")

    def peak_per_cycle(self, layer: Layer) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement peak_per_cycle()")


class Core(Unit):
    """Base of every accelerator core; see the module docstring for the hooks."""

    LOAD_BUFFERS: tuple[str, ...] = ()
    STORE_BUFFERS: tuple[str, ...] = ()
    NATIVE_KINDS: tuple[str, ...] = ("conv", "fc", "pool", "add")

    def __init__(self, arch) -> None:
        self.arch = arch
        self.params = arch.core_params
        # Per-layer bits from a precision / binarize transform (layer name -> LayerPrecision);
        # simulate() replaces it with the run's tensors.precision. Empty: the arch's precision.
        self.layer_precision: dict = {}

    def network_problem(self, network) -> str | None:
        """What in this core's params cannot apply to ``network`` (a per-layer setting naming
        a layer it lacks), as a one-line message naming the key; None when all is well."""
        return None

    def buffer_words(self, name: str) -> int:
        """Words one slot of buffer ``name`` holds at this precision."""
        buffer = self.arch.buffers[name]
        return int(buffer.size_kib * 1024) // self.word_bytes // buffer.slots

    def memory_spec(self) -> MemorySpec:
        dram = self.arch.dram
        bandwidth = math.inf if dram.bytes_per_cycle is None else dram.bytes_per_cycle
        return MemorySpec(
            dram=DramSpec(bytes_per_cycle=bandwidth, latency_cycles=dram.latency_cycles,
                          channels=dram.channels),
            load_buffer=self._buffer_spec(self.LOAD_BUFFERS),
            store_buffer=self._buffer_spec(self.STORE_BUFFERS),
            max_steps=self.arch.engine.max_steps_per_layer)

    def _buffer_spec(self, names: tuple[str, ...]) -> BufferSpec:
        buffers = [self.arch.buffers[name] for name in names]
        if not buffers:
            return BufferSpec()
        return BufferSpec(slots=min(b.slots for b in buffers),
                          ports=min(b.ports for b in buffers))

    def run_layer(self, layer: Layer, inputs: list, weights, bias) -> LayerRun:
        return self.compute(layer, inputs, weights, bias, self.tile(layer))

    # ---- reusing known values (sweeps) ---------------------------------------------------
    def value_key(self) -> tuple:
        """What a layer's output values depend on besides the network and its tensors.
        Configs with equal keys compute bit-identical outputs, so a sweep computes them
        once (:class:`accelsim.sim.values.NetworkValues`) and later runs only count.

        Default: for ``fixed16``, the precision alone (integer sums are exact, so tiling,
        loop order and buffer sizes cannot change a value; ``tests/test_cores.py`` holds
        every core to the reference bit for bit); for ``fp32``, the whole config (float
        sums depend on their order). A core with knobs that change values adds them; an
        activation unit that interpolates (:mod:`accelsim.arch.activation_unit`) adds its
        table.
        """
        unit = getattr(self.arch, "activation_unit", None)
        table = ((("activation_unit", unit.functions, unit.segments, unit.input_range),)
                 if unit is not None and unit.functions and unit.segments else ())
        if self.arch.precision == "fixed16":
            return ("fixed16", *table)
        return ("fp32", self.arch.digest)

    def count_layer(self, layer: Layer, inputs: list, weights, bias, output) -> LayerRun:
        """:meth:`run_layer` for a layer whose ``output`` is already known (from a run with
        the same :meth:`value_key`): identical counts, work and stats; the run carries
        ``output``. A conv/fc layer goes to :meth:`count_weighted`; any other layer, or one
        that hook declines, runs whole."""
        run = self.count_weighted(layer, inputs, weights, bias, output) \
            if layer.has_weights else None
        if run is None:
            run = self.run_layer(layer, inputs, weights, bias)
            run.output = output
        return run

    def count_weighted(self, layer: Layer, inputs: list, weights, bias,
                       output) -> LayerRun | None:
        """Hook: a conv/fc layer's run counted without the arithmetic (``output`` known, and
        carried by the run), or None to run it whole. Cores whose kernels can count alone
        override it."""
        return None

    # ---- hooks ---------------------------------------------------------------------------
    def tile(self, layer: Layer):
        raise NotImplementedError(f"{type(self).__name__} must implement tile()")

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling) -> LayerRun:
        raise NotImplementedError(f"{type(self).__name__} must implement compute()")

    def components(self) -> list:
        raise NotImplementedError(f"{type(self).__name__} must implement components()")
