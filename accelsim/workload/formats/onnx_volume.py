"""ONNX handlers for clips: ``Conv`` with a 3-D kernel and 3-D ``MaxPool`` / ``AveragePool``
/ global pools over a ``[1, C, D, H, W]`` tensor, as ``conv3d`` / ``pool3d`` layers.

A mixin of :class:`~accelsim.workload.formats.onnx_graph.GraphImporter`. A clip tensor is
held as its frames stacked along H (``C x (D * H) x W``, :mod:`accelsim.workload.volume`);
``frames_of`` tells a clip from an image. Element-wise and channel operators (ReLU, BN, Add,
Concat, Flatten, ...) read the stacked form unchanged; a flatten keeps ONNX's ``C, D, H, W``
order. Supported: strides, explicit pads (``auto_pad`` NOTSET or VALID), groups; no dilation
and no ``ceil_mode`` in 3-D.
"""

from __future__ import annotations

import numpy as np


class VolumeHandlers:
    """Called by the Conv and pool handlers when their input is a clip."""

    def frames_of(self, value) -> int:
        """D of a clip value, 0 for an image (or a vector)."""
        return self.frames.get(value.layer, 0)

    def _conv3d(self, node, x, w: np.ndarray) -> None:
        a = self._attrs(node)
        if w.ndim != 5:
            self._fail(f"a clip input needs a 3-D kernel, got weights {list(w.shape)}")
        if any(d != 1 for d in a.get("dilations", [1, 1, 1])):
            self._fail("dilated 3-D convolutions are not supported")
        groups = int(a.get("group", 1))
        c, h, width = self._frame_shape(x)
        if w.shape[1] * groups != c:
            self._fail(f"weights {list(w.shape)} in {groups} groups do not fit {c} channels")
        depth, stride, pad = self._time_and_space(node, x, w.shape[2:], a)
        bias = self._const(node, 2, "bias", required=False)
        self._add_layer(node, dict(kind="conv3d", in_channels=c, in_h=h, in_w=width,
                                   out_channels=w.shape[0], kernel_h=w.shape[3],
                                   kernel_w=w.shape[4], stride=stride, pad=pad, groups=groups,
                                   depth=depth, inputs=(x.layer,)),
                        w, np.zeros(w.shape[0]) if bias is None else bias)

    def _pool3d(self, node, x, op: str, kernel, a: dict) -> None:
        if len(kernel) != 3:
            self._fail(f"a clip input needs a 3-D pooling window, got {list(kernel)}")
        if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1, 1])):
            self._fail("ceil_mode and dilations are not supported for 3-D pooling")
        if op == "avg" and a.get("count_include_pad", 0) and any(a.get("pads", [0])):
            self._fail("count_include_pad=1 with padding is not supported for 3-D pooling")
        c, h, width = self._frame_shape(x)
        depth, stride, pad = self._time_and_space(node, x, kernel, a)
        self._add_layer(node, dict(kind="pool3d", in_channels=c, in_h=h, in_w=width,
                                   out_channels=c, kernel_h=kernel[1], kernel_w=kernel[2],
                                   stride=stride, pad=pad, pool_op=op, depth=depth,
                                   inputs=(x.layer,)))

    def _global_pool3d(self, node, x, op: str) -> None:
        c, h, width = self._frame_shape(x)
        self._pool3d(node, x, op, (self.frames_of(x), h, width), {})

    def _frame_shape(self, x) -> tuple[int, int, int]:
        """C x H x W of one frame of clip ``x``."""
        c, stacked, width = x.shape
        return c, stacked // self.frames_of(x), width

    def _time_and_space(self, node, x, kernel, a: dict):
        """(depth, spatial stride, spatial pad) from ONNX's 3-D strides and pads."""
        auto = a.get("auto_pad", b"NOTSET")
        if (auto.decode() if isinstance(auto, bytes) else auto) not in ("NOTSET", "VALID"):
            self._fail("auto_pad SAME is not supported for 3-D layers (give pads)")
        sd, sh, sw = (int(s) for s in a.get("strides", [1, 1, 1]))
        front, top, left, back, bottom, right = (int(p) for p in a.get("pads", [0] * 6))
        depth = (self.frames_of(x), int(kernel[0]), sd, front, back)
        return depth, (sh, sw), (top, left, bottom, right)
