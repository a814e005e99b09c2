"""What the data-layout kinds compute (``slice``, ``shuffle``, ``upsample``) on plain arrays.

One definition shared by the float forward pass (:mod:`accelsim.workload.forward`) and the
simulator's layout step (:mod:`accelsim.sim.layout`, which applies it to a fixed16 tensor's
int16 codes: moving values never changes them). Arrays are ``C x H x W`` or batched
``N x C x H x W``; the channel axis is -3.
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
