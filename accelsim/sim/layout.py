"""Layers that only rearrange data: the simulation loop runs them itself, no core does.

The kinds are :data:`~accelsim.workload.layer.LAYOUT_KINDS`. On DianNao-family hardware a
concatenation costs nothing: each producer's NFU-3 writes its outputs into its own channel
slice of one output buffer (NBout, or the central eDRAM), so the layer takes 0 cycles, 0
energy and no DRAM traffic. A channel slice or shuffle is the same address arithmetic on the
reading side, and an upsampled tensor (nearest, or with zeros between the values for a
transposed convolution) is what the consumer's loads read: its larger size is counted in the
consumer's own traffic and work, not here. Each layout row in ``Result.layers`` has empty
tile work, empty counts and mapping ``layout only``; ``ran_on`` is ``layout``.

Concat in fixed16 (our choice; no paper pins it): one tensor has one ``frac``, but the
producers were requantized independently and may differ. Every slice is brought to the
*smallest* frac among the producers (the coarsest step, so the largest magnitude still fits:
this is the frac a requantization of the whole tensor would pick) by an arithmetic right
shift that rounds half up, ``(q + 2**(s-1)) >> s``, as NFU-3 rounds. A right shift of an
int16 never overflows, so nothing saturates. A producer whose frac is already the smallest
is copied unchanged. The result is rounded twice (accumulator -> producer frac -> shared
frac), as a layout pass over stored int16 values would be. ``tests/reference.py`` mirrors
this rule.
"""

from __future__ import annotations

import numpy as np

from accelsim import fixedpoint
from accelsim.arch.base import LayerRun
from accelsim.cost.counts import Counts
from accelsim.engine import TileWork
from accelsim.workload.layer import LAYOUT_KINDS, Layer
from accelsim.workload.rearrange import rearrange

__all__ = ["LAYOUT_KINDS", "MAPPING", "RAN_ON", "concat", "run_layer"]
MAPPING = "layout only"
RAN_ON = "layout"
"""``Result.layers.ran_on`` of a layout layer: no unit computes it."""


def concat(tensors: list, axis: int = -3):
    """Channel-wise (``axis`` -3; -2 stacks along H) concatenation of ``C x H x W`` (or
    ``N x C x H x W``) tensors (float32 or Fixed), in order."""
    fixed = [isinstance(t, fixedpoint.Fixed) for t in tensors]
    if any(fixed) and not all(fixed):
        raise TypeError("concat of fixed16 and float tensors")
    if not any(fixed):
        return np.concatenate([np.asarray(t, dtype=np.float32) for t in tensors], axis=axis)
    frac = min(t.frac for t in tensors)
    slices = [t.q if t.frac == frac else
              fixedpoint.round_shift(t.q.astype(np.int64), t.frac - frac).astype(np.int16)
              for t in tensors]
    return fixedpoint.Fixed(np.concatenate(slices, axis=axis), frac)


def run_layer(layer: Layer, inputs: list) -> LayerRun:
    """A layout layer's output with no work: empty TileWork and Counts, 0 tiles."""
    if layer.kind not in LAYOUT_KINDS:
        raise ValueError(f"layer {layer.name!r}: {layer.kind} is not a layout kind")
    if layer.kind == "concat":
        output = concat(inputs)
    elif isinstance(inputs[0], fixedpoint.Fixed):   # moving values keeps their frac
        output = fixedpoint.Fixed(rearrange(layer, inputs[0].q), inputs[0].frac)
    else:
        output = rearrange(layer, inputs[0])
    empty = np.zeros(0, dtype=np.int64)
    return LayerRun(output=output, work=TileWork.single_core(empty, empty, empty, empty),
                    counts=Counts(), mapping=MAPPING, tiles=0)
