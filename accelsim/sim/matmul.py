"""A ``matmul`` layer (two activations: attention) on the core, as a grouped 1x1 convolution.

No shipped core multiplies two activations natively, but each runs a grouped 1x1
convolution: the first input is its input (tokens as pixels, features as channels, one group
per head) and the second input, rearranged (:mod:`accelsim.workload.matmul`), its weights,
in the arch's precision as the producer left them (fixed16: its int16 codes and frac). The
core then counts reading the operand as it counts reading weights, which is what the
hardware does. The row's MACs are the convolution's; its mapping column says it was lowered.
"""

from __future__ import annotations

import numpy as np

from accelsim import fixedpoint
from accelsim.arch.base import Core, LayerRun, Unit
from accelsim.errors import AccelsimError
from accelsim.workload import matmul
from accelsim.workload.layer import Layer


class MatmulUnit(Unit):
    """The row's unit: the core, its peak and useful work those of the convolution it ran
    (MACs; the layer has no weights of its own)."""

    def __init__(self, core: Core, step: Layer) -> None:
        self.arch, self.core, self.step = core.arch, core, step

    def peak_per_cycle(self, layer: Layer) -> int:
        return self.core.peak_per_cycle(self.step)

    @staticmethod
    def useful_work(layer: Layer, counts=None, batch: int = 1) -> int:
        if counts is None:
            return layer.macs * batch
        return sum(n for (_, action), n in counts.items() if action == "mac")


def run_matmul(core: Core, layer: Layer, inputs: list) -> tuple[LayerRun, MatmulUnit]:
    """``layer`` run on ``core`` as a grouped 1x1 convolution weighted by its second input."""
    a, b = inputs
    if np.ndim(fixedpoint.raw(a)) != 3:
        raise AccelsimError(f"layer {layer.name!r}: a matmul of two activations runs one "
                            "image at a time (its weights are that image's); use batch 1")
    step = matmul.conv_step(layer)
    codes = matmul.operand_weights(layer, fixedpoint.raw(b))
    weights = (fixedpoint.Fixed(codes, b.frac) if isinstance(b, fixedpoint.Fixed)
               else codes.astype(np.float32))
    run = core.run_layer(step, [a], weights, np.zeros(layer.out_channels, np.float32))
    heads = f"{layer.groups} groups" if layer.groups > 1 else "1 group"
    run.mapping = (f"matmul as a grouped 1x1 conv ({heads}), weights read from "
                   f"{layer.inputs[1]!r} ({layer.function}); {run.mapping}")
    return run, MatmulUnit(core, step)
