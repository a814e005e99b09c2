"""A core's own activation unit: DianNao's NFU-3 and the like.

DianNao's third pipeline stage (NFU-3, Chen et al., ASPLOS 2014) evaluates the activation
function of each output as it leaves the adder trees, by piecewise-linear interpolation:
``f(x) ~ a_i * x + b_i`` on segment ``i``, the ``(a_i, b_i)`` pairs in a small table. An
arch YAML declares such a unit with its ``activation_unit`` section (the functions it
evaluates, ``ops_per_cycle`` lanes, the table's ``segments`` over ``[-input_range,
input_range]``); ``act`` layers with one of those functions then run here instead of on the
host unit (:mod:`accelsim.sim.host`), and ``Result.layers.ran_on`` says
``<core>.activation``. Functions the unit does not list still go to the host.

Values: with ``segments: 0`` the function is exact; otherwise the unit interpolates linearly
between the function's values at ``segments + 1`` evenly spaced knots (exact at the knots)
and continues the outermost segments' lines beyond the range. The interpolation error is
therefore part of every later layer's input, as it is on the chip; the coefficients'
own rounding to 16 bits is not modelled.

Cost: the values pass through the unit on their way out of the core, so the layer reads no
DRAM and writes its result, like every layer (none on a core whose neurons stay on chip,
``neurons_resident``). The producer's row also counts a write of the values before the
function, which on the chip never leave it: one tensor's write too many, an upper bound. It
takes ``ceil(ops / ops_per_cycle)`` cycles (one op per value; a row of its own, not
overlapped with the producer's cycles) and ``activation_unit.op`` events,
priced as a 16-bit multiply-add (one table lookup and one ``a * x + b``) unless
``energy_pj.activation_unit.op`` says otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from accelsim import fixedpoint
from accelsim.arch.base import LayerRun, Unit
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component, mac_pj
from accelsim.engine import TileWork
from accelsim.workload.elementwise import elementwise
from accelsim.workload.layer import ACT_FUNCTIONS, Layer

NAME = "activation_unit"
"""The unit's energy component and event prefix."""
UNIT_FUNCTIONS = tuple(f for f in ACT_FUNCTIONS if f not in ("relu", "identity"))
"""Functions an activation unit may list (ReLU is fused into every core's output stage)."""


def interpolated(function, x: np.ndarray, segments: int, input_range: float) -> np.ndarray:
    """``function`` evaluated by piecewise-linear interpolation between ``segments + 1``
    evenly spaced knots on ``[-input_range, input_range]``; outside, the end segments'
    lines continue. ``segments == 0``: the function itself."""
    x = np.asarray(x, dtype=np.float64)
    if segments == 0:
        return function(x)
    knots = np.linspace(-input_range, input_range, segments + 1)
    values = function(knots)
    index = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, segments - 1)
    slope = (values[index + 1] - values[index]) / (knots[index + 1] - knots[index])
    return values[index] + slope * (x - knots[index])


class ActivationUnit(Unit):
    """The arch's ``activation_unit`` section as a unit that runs ``act`` layers."""

    def __init__(self, arch) -> None:
        self.arch = arch
        self.config = arch.activation_unit
        self.ran_on = f"{arch.core}.activation"

    def runs(self, layer: Layer) -> bool:
        """Whether this unit evaluates the layer (an ``act`` of a function it lists)."""
        return layer.kind == "act" and layer.function in self.config.functions

    @staticmethod
    def components() -> list[Component]:
        return [Component(NAME, "logic")]

    def default_prices(self) -> dict[str, dict[str, float]]:
        """One op = one table lookup and one multiply-add: a MAC at the precision."""
        return {NAME: {"op": mac_pj(self.arch.precision)}}

    def peak_per_cycle(self, layer: Layer) -> int:
        return self.config.ops_per_cycle

    @staticmethod
    def useful_work(layer: Layer, counts: Counts | None = None, batch: int = 1) -> int:
        """One evaluation per value, whatever the function costs in software."""
        return math.prod(layer.out_shape) * batch

    def run_layer(self, layer: Layer, inputs: list, batch: int = 1) -> LayerRun:
        """The interpolated output, the unit's cycles (no DRAM reads) and its ops."""
        (x,) = inputs
        values = x.to_float() if isinstance(x, fixedpoint.Fixed) else x
        out = interpolated(lambda v: elementwise(layer, [v]), values, self.config.segments,
                           self.config.input_range)
        if layer.relu:
            out = np.maximum(out, 0.0)
        output = (fixedpoint.quantize(out) if self.arch.precision == "fixed16"
                  else out.astype(np.float32))
        ops = self.useful_work(layer, batch=batch)
        resident = getattr(self.arch.core_params, "neurons_resident", False)
        out_bytes = 0 if resident else int(out.size) * self.word_bytes
        work = TileWork.single_core([math.ceil(ops / self.config.ops_per_cycle)], [0], [0],
                                    [out_bytes])
        counts = Counts()
        counts.add(NAME, "op", ops)
        table = (f"{self.config.segments}-segment interpolation" if self.config.segments
                 else "exact")
        return LayerRun(output=output, work=work, counts=counts, tiles=1,
                        mapping=f"{self.ran_on}: {self.config.ops_per_cycle} ops/cycle, "
                                f"{table}, on the producer's output stream")
