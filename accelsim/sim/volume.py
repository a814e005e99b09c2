"""3-D layers on a core without a 3-D mode: each output frame as 2-D layers the core runs.

:mod:`accelsim.workload.volume` defines the frame steps (a 3-D convolution frame is one 2-D
convolution over its in-bounds input frames stacked along the channels; a 3-D pooling frame
is a 2-D pool per frame, then one across the pooled frames). Here each step runs on the core
(``Core.run_layer``), and the layer's row adds them up: the TileWork rows end to end, the
counts summed, core statistics ending in ``_cycles`` / ``_bytes`` summed (others: the first
step's). fixed16: each step's output has the frac its own range allows; the frames are
brought to the coarsest one, as a concat's producers are (:func:`accelsim.sim.layout.concat`).
The mapping column says how the layer was run.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from accelsim import fixedpoint
from accelsim.arch.base import Core, LayerRun, Unit
from accelsim.cost.counts import Counts
from accelsim.engine import TileWork
from accelsim.sim.layout import concat
from accelsim.workload import volume
from accelsim.workload.layer import Layer

SUMMED_STATS = ("_cycles", "_bytes")


class FrameUnit(Unit):
    """The row's unit: the core, its peak taken from the 2-D layers it really ran, and a
    pool's work the ops of those layers (in-bounds frames only: a window padded in time
    pools fewer frames than ``layer.ops`` counts, so its ideal would exceed the real run)."""

    def __init__(self, core: Core, steps: list[Layer]) -> None:
        self.arch, self.core, self.step = core.arch, core, steps[0]
        self.pool_ops = sum(step.ops for step in steps)

    def peak_per_cycle(self, layer: Layer) -> int:
        return self.core.peak_per_cycle(self.step)

    def useful_work(self, layer: Layer, counts=None, batch: int = 1) -> int:
        if layer.has_weights:
            return super().useful_work(layer, counts, batch)
        return self.pool_ops * batch


def run_volume(core: Core, layer: Layer, inputs: list, weights, bias) -> tuple[LayerRun,
                                                                                  FrameUnit]:
    """A conv3d or pool3d layer run frame by frame on ``core``."""
    x = inputs[0]
    if layer.kind == "conv3d":
        steps = _conv_steps(core, layer, x, weights, bias)
        widest = max(step.in_channels for step, _, _ in steps)
        how = (f"3-D as {layer.out_frames} 2-D convs over <= {layer.depth[1]} stacked frames"
               f" (<= {widest} channels)")
    else:
        steps = _pool_steps(core, layer, x)
        across = " + a pool across frames" if layer.depth[1] > 1 else ""
        how = f"3-D as {layer.out_frames} x (2-D pools per frame{across})"
    runs = [run for _, run, _ in steps]
    frames = [run.output for _, run, last in steps if last]
    shaped = [_reshaped(f, (layer.out_channels, layer.out_h, layer.out_w)) for f in frames]
    output = concat(shaped, axis=-2)
    if isinstance(output, fixedpoint.Fixed):   # the frames' own saturations, once
        output = replace(output, saturated=sum(f.saturated for f in frames))
    run = LayerRun(output=output, work=_joined_work(runs),
                   counts=_summed_counts(runs),
                   mapping=f"{how}; {runs[0].mapping}", tiles=sum(r.tiles for r in runs),
                   stats=_stats(runs))
    return run, FrameUnit(core, [step for step, _, _ in steps])


def _conv_steps(core, layer, x, weights, bias) -> list[tuple[Layer, LayerRun, bool]]:
    steps = []
    for t, frames, taps in volume.windows(layer):
        step = volume.conv_frame_layer(layer, t, len(taps))
        stacked = _like(x, volume.stacked_frames(fixedpoint.raw(x), layer, frames))
        w = _like(weights, volume.tap_weights(fixedpoint.raw(weights), taps))
        steps.append((step, core.run_layer(step, [stacked], w, bias), True))
    return steps


def _pool_steps(core, layer, x) -> list[tuple[Layer, LayerRun, bool]]:
    steps = []
    for t, frames, _ in volume.windows(layer):
        space = volume.spatial_pool_layer(layer, relu=len(frames) == 1 and layer.relu)
        pooled = []
        for f in frames:
            run = core.run_layer(space, [_like(x, volume.frame(fixedpoint.raw(x), layer, f))],
                                 None, None)
            steps.append((space, run, len(frames) == 1))
            pooled.append(run.output)
        if len(frames) > 1:
            across = volume.time_pool_layer(layer, t, len(frames))
            rows = concat([_reshaped(p, (layer.in_channels, 1, -1)) for p in pooled], axis=-2)
            steps.append((across, core.run_layer(across, [rows], None, None), True))
    return steps


def _like(template, array: np.ndarray):
    """``array`` as a tensor of ``template``'s kind (fixed16: the same frac)."""
    if isinstance(template, fixedpoint.Fixed):
        return fixedpoint.Fixed(np.ascontiguousarray(array), template.frac)
    return np.ascontiguousarray(array)


def _reshaped(tensor, shape: tuple[int, ...]):
    if isinstance(tensor, fixedpoint.Fixed):
        return tensor.with_codes(tensor.q.reshape(shape))
    return tensor.reshape(shape)


def _joined_work(runs: list[LayerRun]) -> TileWork:
    fields = ("compute_cycles", "in_bytes", "weight_bytes", "out_bytes", "core_id",
              "noc_cycles")
    return TileWork(*(np.concatenate([getattr(r.work, f) for r in runs]) for f in fields))


def _summed_counts(runs: list[LayerRun]) -> Counts:
    total = Counts()
    for run in runs:
        total.update(run.counts)   # Counter.update adds
    return total


def _stats(runs: list[LayerRun]) -> dict[str, float]:
    stats = dict(runs[0].stats)
    for key in stats:
        if key.endswith(SUMMED_STATS):
            stats[key] = sum(r.stats.get(key, 0) for r in runs)
    return stats
