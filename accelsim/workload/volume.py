"""3-D layers (``conv3d``, ``pool3d``) as the 2-D layers a core without a 3-D mode runs.

A 3-D tensor is its frames stacked along H (``C x (D * H) x W``). Output frame ``t`` of a
3-D convolution reads the input frames ``t * stride - pad_front + tau`` for the time taps
``tau`` that land on a real frame (padding frames are zeros, so their products are not run):
stacking those frames along the channels turns the frame into one 2-D convolution with
``taps x C`` input channels and the kernel's matching time slices as its weights. A 3-D
pooling window pools each of its frames in space (a 2-D pool), then pools the pooled frames
across time (a 2-D pool of kernel ``taps x 1`` over the frames stacked as rows); max and
in-bounds average both come out exact that way.

These are pure array and shape steps, shared by the float forward pass and by the simulator
(:mod:`accelsim.sim.volume`, which runs each 2-D layer on the core and adds up its work).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from accelsim.workload.layer import Layer


def frame(x: np.ndarray, layer: Layer, index: int) -> np.ndarray:
    """Input frame ``index`` of a 3-D layer's ``C x (D * H) x W`` input."""
    return x[..., index * layer.in_h:(index + 1) * layer.in_h, :]


def windows(layer: Layer) -> Iterator[tuple[int, list[int], list[int]]]:
    """Per output frame: ``(t, input frames, their time taps)``, in-bounds frames only."""
    frames, kernel, stride, front, _ = layer.depth
    for t in range(layer.out_frames):
        taps = [tau for tau in range(kernel) if 0 <= t * stride - front + tau < frames]
        yield t, [t * stride - front + tau for tau in taps], taps


# ---- conv3d ---------------------------------------------------------------------------------
def conv_frame_layer(layer: Layer, t: int, taps: int) -> Layer:
    """The 2-D convolution computing output frame ``t`` from ``taps`` stacked frames."""
    return Layer(f"{layer.name}@t{t}", "conv", taps * layer.in_channels, layer.in_h,
                 layer.in_w, layer.out_channels, layer.kernel_h, layer.kernel_w,
                 stride=layer.stride, pad=layer.pad, groups=layer.groups, relu=layer.relu,
                 inputs=layer.inputs[:1])


def stacked_frames(x: np.ndarray, layer: Layer, frames: list[int]) -> np.ndarray:
    """The input frames stacked along the channels, group by group (each group's channels
    of every frame together, frame-major), as the frame's 2-D convolution reads them."""
    parts = [frame(x, layer, f) for f in frames]
    groups, cg = layer.groups, layer.in_channels_per_group
    return np.concatenate([p[..., g * cg:(g + 1) * cg, :, :] for g in range(groups)
                           for p in parts], axis=-3)


def tap_weights(w: np.ndarray, taps: list[int]) -> np.ndarray:
    """``M x C/G x T x R x S`` weights -> the frame convolution's ``M x (taps * C/G) x R x S``
    (frame-major within each group, as :func:`stacked_frames` orders the input)."""
    m, cg, _, r, s = w.shape
    return np.ascontiguousarray(w[:, :, taps].transpose(0, 2, 1, 3, 4)).reshape(
        m, len(taps) * cg, r, s)


# ---- pool3d ---------------------------------------------------------------------------------
def spatial_pool_layer(layer: Layer, relu: bool) -> Layer:
    """The 2-D pool of one frame of a pool3d window (``relu``: when it is the last step)."""
    return Layer(f"{layer.name}@space", "pool", layer.in_channels, layer.in_h, layer.in_w,
                 layer.in_channels, layer.kernel_h, layer.kernel_w, stride=layer.stride,
                 pad=layer.pad, pool_op=layer.pool_op, relu=relu, inputs=layer.inputs[:1])


def time_pool_layer(layer: Layer, t: int, frames: int) -> Layer:
    """The 2-D pool across ``frames`` pooled frames stacked as rows (``C x frames x H'W'``)."""
    return Layer(f"{layer.name}@t{t}", "pool", layer.in_channels, frames,
                 layer.out_h * layer.out_w, layer.in_channels, frames, 1,
                 stride=(frames, 1), pool_op=layer.pool_op, relu=layer.relu,
                 inputs=layer.inputs[:1])


def as_rows(pooled: list[np.ndarray]) -> np.ndarray:
    """Pooled frames ``C x H' x W'`` stacked as rows: ``C x frames x H'W'``."""
    return np.stack([p.reshape(*p.shape[:-2], -1) for p in pooled], axis=-2)


def joined(frames: list[np.ndarray], layer: Layer) -> np.ndarray:
    """Output frames (``C x H' x W'``, or time-pooled ``C x 1 x H'W'``) as the 3-D output."""
    shaped = [f.reshape(*f.shape[:-3], layer.out_channels, layer.out_h, layer.out_w)
              for f in frames]
    return np.concatenate(shaped, axis=-2)
