"""Pooling and residual-add values for cores that run them on a vector path (their lanes or
threads do one window element or one addition each per cycle); only the values live here,
each core times them itself. Fixed point follows :mod:`accelsim.fixedpoint` (average pooling
rounds half up over the in-bounds elements; adds align the operands' frac bits)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from accelsim import fixedpoint
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
