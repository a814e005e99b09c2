"""What the data-layout kinds compute (``slice``, ``shuffle``, ``upsample``) on plain arrays,
and the ``resize`` kind's bilinear interpolation.

One definition shared by the float forward pass (:mod:`accelsim.workload.forward`) and the
simulator's layout step (:mod:`accelsim.sim.layout`, which applies it to a fixed16 tensor's
int16 codes: moving values never changes them). Arrays are ``C x H x W`` or batched
``N x C x H x W``; the channel axis is -3. A ``resize`` computes new values, so it runs on the
host unit (:mod:`accelsim.workload.elementwise` calls :func:`resized`): there is no edge
case to get wrong in a conv lowering (align_corners weights change along the axis), and
its cost is the host's, counted.
"""

from __future__ import annotations

import numpy as np

from accelsim.workload.layer import Layer


def rearrange(layer: Layer, x: np.ndarray) -> np.ndarray:
    """The output of a slice, shuffle or upsample layer for input ``x``."""
    if layer.kind == "slice":
        return np.ascontiguousarray(x[..., layer.offset:layer.offset + layer.out_channels, :, :])
    if layer.kind == "shuffle":
        *batch, c, h, w = x.shape
        grouped = x.reshape(*batch, layer.groups, c // layer.groups, h, w)
        return np.ascontiguousarray(np.swapaxes(grouped, -4, -3)).reshape(x.shape)
    if layer.kind == "upsample":
        sh, sw = layer.scale
        if layer.function == "nearest":
            return np.repeat(np.repeat(x, sh, axis=-2), sw, axis=-1)
        out = np.zeros((*x.shape[:-2], layer.out_h, layer.out_w), dtype=x.dtype)
        out[..., ::sh, ::sw] = x
        return out
    raise ValueError(f"layer {layer.name!r}: {layer.kind!r} is not a rearranging kind")


def _interpolation(size: int, factor: int, mode: str) -> np.ndarray:
    """``(size * factor) x size`` matrix of ONNX's linear Resize along one axis: the source
    coordinate of each output (``mode``: the coordinate transform), clamped to the input,
    between its two neighbours."""
    out = size * factor
    i = np.arange(out, dtype=np.float64)
    if mode == "align_corners":
        x = i * (size - 1) / (out - 1) if out > 1 else np.zeros(out)
    elif mode == "asymmetric":
        x = i / factor
    else:   # half_pixel; pytorch_half_pixel differs only for a one-pixel output
        x = (i + 0.5) / factor - 0.5 if out > 1 or mode == "half_pixel" else np.zeros(out)
    x = np.clip(x, 0.0, size - 1)
    low = np.floor(x).astype(np.int64)
    high = np.minimum(low + 1, size - 1)
    matrix = np.zeros((out, size))
    np.add.at(matrix, (np.arange(out), low), 1.0 - (x - low))
    np.add.at(matrix, (np.arange(out), high), x - low)
    return matrix


def resized(layer: Layer, x: np.ndarray) -> np.ndarray:
    """A ``resize`` layer's output (bilinear, float64) for input ``x``."""
    rows = _interpolation(layer.in_h, layer.scale[0], layer.function)
    cols = _interpolation(layer.in_w, layer.scale[1], layer.function)
    return np.einsum("ph,...hw,qw->...pq", rows, np.asarray(x, dtype=np.float64), cols)
