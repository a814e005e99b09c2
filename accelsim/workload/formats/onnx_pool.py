"""ONNX handlers for pooling: ``MaxPool``, ``AveragePool``, the global pools and a spatial
``ReduceMean``, as pool layers (2-D) or, on a clip, pool3d layers (:mod:`.onnx_volume`).

A mixin of :class:`~accelsim.workload.formats.onnx_graph.GraphImporter`. ``ceil_mode``
becomes extra bottom / right padding, which never enters a window (our pools average their
in-bounds elements only); an average that counts its padding (``count_include_pad``) is a
depthwise convolution of weights 1 / window, as a core without that pooling mode runs it.
"""

from __future__ import annotations

import numpy as np


class PoolHandlers:
    """Handlers named in ``onnx_graph.HANDLERS``."""

    def _max_pool(self, node):
        self._pool(node, "max")

    def _average_pool(self, node):
        self._pool(node, "avg")

    def _pool(self, node, op: str) -> None:
        x, a = self._value(node), self._attrs(node)
        if self.frames_of(x):
            return self._pool3d(node, x, op, tuple(a["kernel_shape"]), a)
        if len(node.output) > 1 and node.output[1]:
            self._fail("the Indices output is not supported")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self._fail(f"dilations {a['dilations']} are not supported (only 1)")
        kernel, stride = tuple(a["kernel_shape"]), tuple(a.get("strides", [1, 1]))
        pad = list(self._pads(a, x.shape[1:], kernel, stride))
        if op == "avg" and a.get("count_include_pad", 0) and any(pad):
            return self._padded_average(node, x, kernel, stride, tuple(pad),
                                        a.get("ceil_mode", 0))
        if a.get("ceil_mode", 0):
            for axis in (0, 1):
                pad[axis + 2] += _ceil_mode_extra(x.shape[1 + axis], kernel[axis],
                                                  stride[axis], pad[axis], pad[axis + 2])
        self._pool_layer(node, x, op, kernel, stride, tuple(pad))

    def _padded_average(self, node, x, kernel, stride, pad, ceil_mode) -> None:
        """An average that counts the padding (``count_include_pad``): a depthwise conv
        with every weight 1 / window, which is how a core without that pooling mode runs it
        (our pool layers average in-bounds elements only)."""
        if ceil_mode:
            self._fail("count_include_pad=1 with ceil_mode=1 is not supported")
        c, h, w = x.shape
        weights = np.full((c, 1, *kernel), 1.0 / (kernel[0] * kernel[1]))
        self._add_layer(node, dict(kind="conv", in_channels=c, in_h=h, in_w=w, out_channels=c,
                                   kernel_h=kernel[0], kernel_w=kernel[1], stride=stride,
                                   pad=pad, groups=c, inputs=(x.layer,)), weights, np.zeros(c))

    def _global_average_pool(self, node):
        x = self._value(node)
        if self.frames_of(x):
            return self._global_pool3d(node, x, "avg")
        self._pool_layer(node, x, "avg", x.shape[1:], (1, 1), (0, 0, 0, 0))

    def _global_max_pool(self, node):
        x = self._value(node)
        if self.frames_of(x):
            return self._global_pool3d(node, x, "max")
        self._pool_layer(node, x, "max", x.shape[1:], (1, 1), (0, 0, 0, 0))

    def _reduce_mean(self, node):
        x, a = self._value(node), self._attrs(node)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:   # opset 18: axes are an input
            axes = self._const(node, 1, "axes").tolist()
        if not self._plain(x) and axes:   # tokens: the mean over them (onnx_views)
            return self._reduce_view(node, x, axes, bool(a.get("keepdims", 1)))
        if x.flat or sorted(v % 4 for v in (axes or [])) != [2, 3]:
            self._fail(f"only a mean over H and W (axes [2, 3]) is supported, got {axes}")
        self._pool_layer(node, x, "avg", x.shape[1:], (1, 1), (0, 0, 0, 0),
                         flat=not a.get("keepdims", 1))

    def _pool_layer(self, node, x, op, kernel, stride, pad, flat=False, layout=None) -> None:
        if x.flat:
            self._fail("pooling a flattened tensor is not supported")
        c, h, w = x.shape
        self._add_layer(node, dict(kind="pool", in_channels=c, in_h=h, in_w=w, out_channels=c,
                                   kernel_h=kernel[0], kernel_w=kernel[1], stride=stride,
                                   pad=pad, pool_op=op, inputs=(x.layer,)), flat=flat,
                        layout=layout)


def _ceil_mode_extra(size: int, kernel: int, stride: int, begin: int, end: int) -> int:
    """Extra end padding that makes floor-mode pooling produce the ceil-mode output size.

    ONNX (like PyTorch) drops a last window that would start inside the end padding.
    """
    span = size + begin + end - kernel
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + begin:
        out -= 1
    return max(0, (out - 1) * stride + kernel - (size + begin + end))
