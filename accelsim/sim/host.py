"""The host unit: runs the layers whose kind the core's own units cannot execute.

Most accelerators in the papers compute convolutions, fc layers, pooling and residual adds;
a real network also has activation functions (sigmoid, hard-swish, ...), element-wise
products (squeeze-and-excite) and a softmax. Those layers (kinds outside
``Core.NATIVE_KINDS``) run here, never skipped: a vector unit of ``host.ops_per_cycle``
lanes at the arch's clock (the arch YAML's ``host`` section), one layer at a time. Its
operands come from DRAM and its result goes back to DRAM, as between an accelerator and the
host or vector processor beside it, so the engine sees one tile: the layer's operand bytes
in, ``ceil(ops / ops_per_cycle)`` cycles, the result's bytes out. ``ops`` is
:attr:`~accelsim.workload.layer.Layer.ops` (each function's cost per output, our estimate).
Energy: ``host.op`` events, priced as one add at the datapath's precision unless the YAML's
``energy_pj.host.op`` says otherwise.

Values: the function of :mod:`accelsim.workload.elementwise` in float64 on the layer's real
inputs; ``fixed16`` results are requantized with the fraction bits their range allows, as the
cores' output stage does.
"""

from __future__ import annotations

import math

import numpy as np

from accelsim import fixedpoint
from accelsim.arch.base import LayerRun, Unit
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component
from accelsim.engine import TileWork
from accelsim.errors import AccelsimError
from accelsim.workload.elementwise import elementwise
from accelsim.workload.layer import Layer

NAME = "host"
"""The unit's name in ``Result.layers.ran_on`` and its energy component's name."""


class HostUnit(Unit):
    """The arch's host unit, ``host.ops_per_cycle`` lanes wide."""

    def __init__(self, arch) -> None:
        self.arch = arch
        self.lanes = arch.host.ops_per_cycle

    @staticmethod
    def components() -> list[Component]:
        return [Component(NAME, "logic")]

    def peak_per_cycle(self, layer: Layer) -> int:
        return self.lanes

    def run_layer(self, layer: Layer, inputs: list, batch: int = 1) -> LayerRun:
        """The layer's output, one tile of work (operands in, result out) and its ops."""
        values = [x.to_float() if isinstance(x, fixedpoint.Fixed) else x for x in inputs]
        out = elementwise(layer, values)
        if layer.relu:
            out = np.maximum(out, 0.0)
        if not np.all(np.isfinite(out)):
            raise AccelsimError(f"layer {layer.name!r} ({layer.kind} {layer.function}): "
                                "non-finite results (a division by zero?)")
        output = (fixedpoint.quantize(out) if self.arch.precision == "fixed16"
                  else out.astype(np.float32))
        ops = layer.ops * batch
        in_bytes = sum(int(np.asarray(fixedpoint.raw(x)).size) for x in inputs) * self.word_bytes
        out_bytes = int(out.size) * self.word_bytes
        work = TileWork.single_core([math.ceil(ops / self.lanes)], [in_bytes], [0], [out_bytes])
        counts = Counts()
        counts.add(NAME, "op", ops)
        return LayerRun(output=output, work=work, counts=counts,
                        mapping=f"{NAME}: {self.lanes} ops/cycle", tiles=1)
