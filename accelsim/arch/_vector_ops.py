"""Pooling and residual adds on a core's vector path (lanes or threads doing one window element
or one addition each per cycle): their values (:func:`vector_output`, for every such core)
and, for cores whose path is identical units each taking an equal share of the channels,
their timing and counts (:func:`vector_layer_run`). Fixed point follows
:mod:`accelsim.fixedpoint` (average pooling rounds half up over the in-bounds elements; adds
align the operands' frac bits)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from accelsim import fixedpoint
from accelsim.arch.base import LayerRun
from accelsim.cost.counts import Counts
from accelsim.engine import TileWork
from accelsim.workload.layer import Layer


def pool_output(layer: Layer, x):
    """Max or average pooling over in-bounds elements, reduced one axis at a time (a window's
    max or sum is that of its rows' maxima or sums)."""
    fixed = isinstance(x, fixedpoint.Fixed)
    is_max = layer.pool_op == "max"
    values = (x.q.astype(np.int64) if fixed else x.astype(np.float64))
    top, left, bottom, right = layer.pad
    fill = (np.iinfo(np.int64).min if fixed else -np.inf) if is_max else 0
    pad = ((0, 0), (top, bottom), (left, right))

    def reduce(array):
        for axis, k, step in ((2, layer.kernel_w, layer.stride[1]),
                              (1, layer.kernel_h, layer.stride[0])):
            view = np.moveaxis(sliding_window_view(array, k, axis=axis), axis, -2)
            view = view[..., ::step, :]
            array = np.moveaxis(view.max(axis=-1) if is_max else view.sum(axis=-1), -1, axis)
        return array

    acc = reduce(np.pad(values, pad, constant_values=fill))
    n = np.maximum(reduce(np.pad(np.ones((1, layer.in_h, layer.in_w), np.int64), pad)), 1) \
        if not is_max else 1
    if fixed:
        q = acc if is_max else (2 * acc + n) // (2 * n)
        q = np.maximum(q, 0) if layer.relu else q
        return fixedpoint.Fixed(np.clip(q, fixedpoint.Q_MIN, fixedpoint.Q_MAX)
                                .astype(np.int16), x.frac)
    out = acc if is_max else acc / n
    return (np.maximum(out, 0) if layer.relu else out).astype(np.float32)


def add_output(layer: Layer, operands):
    """Element-wise sum of the two producers (residual add), with the fused ReLU."""
    if isinstance(operands[0], fixedpoint.Fixed):
        frac = max(a.frac for a in operands)
        acc = sum(a.q.astype(np.int64) << (frac - a.frac) for a in operands)
        return fixedpoint.requantize(acc, frac, layer.relu)
    out = operands[0].astype(np.float64) + operands[1].astype(np.float64)
    return (np.maximum(out, 0) if layer.relu else out).astype(np.float32)


def vector_output(layer: Layer, inputs: list):
    """The output of a pool or add layer."""
    return pool_output(layer, inputs[0]) if layer.kind == "pool" else add_output(layer, inputs)


def channel_nonzeros(tensor, bounds: np.ndarray) -> np.ndarray:
    """Non-zeros of a C x H x W tensor in each channel range ``bounds[i]:bounds[i + 1]``."""
    values = fixedpoint.raw(tensor)
    per_channel = np.count_nonzero(values.reshape(values.shape[0], -1), axis=1)
    return np.diff(np.concatenate([[0], np.cumsum(per_channel)])[bounds])


@dataclass(frozen=True)
class VectorUnits:
    """A core's pooling / add path: ``units`` that each take an equal share of the output
    channels, ``lanes`` window elements or additions per unit per cycle, a fixed
    ``overhead_cycles`` per busy unit, how data is stored (``stored_bytes(nonzeros,
    elements)``) and the (component, action) names its ops, reads and writes are counted as."""

    units: int
    lanes: int
    overhead_cycles: int
    stored_bytes: Callable
    op: tuple[str, str]
    read: tuple[str, str]
    write: tuple[str, str]
    label: str


def vector_layer_run(layer: Layer, inputs: list, path: VectorUnits):
    """A pool or add layer on ``path``: its values, one tile per unit, and the counts."""
    output = vector_output(layer, inputs)
    per_output = layer.kernel_h * layer.kernel_w if layer.kind == "pool" else 1
    bounds = (np.arange(path.units + 1) * layer.out_channels) // path.units
    channels = np.diff(bounds)
    in_words = channels * layer.in_h * layer.in_w * len(inputs)
    out_words = channels * layer.out_h * layer.out_w
    cycles = -(-(out_words * per_output) // path.lanes) + path.overhead_cycles * (channels > 0)
    in_bytes = sum(path.stored_bytes(channel_nonzeros(x, bounds),
                                     channels * layer.in_h * layer.in_w) for x in inputs)
    out_bytes = path.stored_bytes(channel_nonzeros(output, bounds), out_words)
    work = TileWork(cycles, in_bytes, np.zeros(path.units, np.int64), out_bytes,
                    np.arange(path.units))
    counts = Counts()
    counts.add(*path.op, layer.ops)
    counts.add(*path.read, layer.ops if layer.kind == "pool" else int(in_words.sum()))
    counts.add(*path.write, int(out_words.sum()))
    stats = {f"core_{unit:03d}_cycles": int(c) for unit, c in enumerate(cycles)}
    return LayerRun(output=output, work=work, counts=counts, mapping=f"vector: {path.label}",
                    tiles=path.units, stats=stats)
