"""ONNX handlers for tensors that hold a feature map in another shape (tokens, attention
heads) and for MatMul of two such tensors (attention).

A transformer holds a ``C x H x W`` map as ``[1, N, C]`` tokens (a ViT's patch embedding
flattened and transposed, ``N = H * W``), then as heads ``[1, N, h, C/h]`` and their
transposes. Each such tensor is a *view*: the same values, and an index array of its ONNX
shape saying where each element lives in the map (flattened, channel-major). Reshape,
Flatten, Squeeze, Unsqueeze and Transpose only change the index (no layer, no data moved); a
view equal to the map itself, its ``[1, H, W, C]`` form or its flattening is that plain value
again, and the token view ``[1, N, C]`` (or ``[N, C]``) reads like ``[1, H, W, C]``
(LayerNormalization, MatMul or Gemm by a constant, per-channel constants on its last axis).
Gather, Split and Slice of a view (q, k and v of a packed projection) take a run of its
channels at every token: a slice layer (a layout step) seen as the rest of the view.

MatMul of two activations becomes a ``matmul`` layer (:mod:`accelsim.workload.matmul`) when
the first operand's rows are each one pixel's run of channels inside a group (a head), and
the second operand is one of the two layouts a grouped 1x1 convolution reads as weights
(``Q @ K^T``: keys' channels; ``P @ V``: values' pixels). Softmax over a view's axis is a
softmax over groups of channels when that axis walks channels; a ReduceMean over the tokens
is a global average pool. Anything else names the node and the shapes.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np


def _base(shape) -> np.ndarray:
    """The map ``C x H x W`` as ONNX ``[1, C, H, W]`` indices."""
    return np.arange(math.prod(shape)).reshape(1, *shape)


def _tokens(shape, rank: int = 3) -> np.ndarray:
    """``[1, H * W, C]`` (rank 3) or ``[H * W, C]`` (rank 2) indices of a map."""
    c, h, w = shape
    index = _base(shape).reshape(c, h * w).T
    return index[None] if rank == 3 else index


def layout(index: np.ndarray, shape) -> dict:
    """The ``_Value`` fields (flat, channels_last, view) for ONNX ``index`` of a map."""
    base = _base(shape)
    forms = {"plain": base, "flat": base.reshape(1, -1), "last": base.transpose(0, 2, 3, 1)}
    for name, form in forms.items():
        if index.shape == form.shape and np.array_equal(index, form):
            return dict(flat=name == "flat", channels_last=name == "last", view=None)
    tokens = any(index.shape == _tokens(shape, r).shape and np.array_equal(
        index, _tokens(shape, r)) for r in (2, 3))
    return dict(flat=False, channels_last=tokens, view=index)


class ViewHandlers:
    """Methods of :class:`~accelsim.workload.formats.onnx_graph.GraphImporter`."""

    def _index(self, x) -> np.ndarray:
        """``x``'s ONNX tensor as indices into its map."""
        if x.view is not None:
            return x.view
        base = _base(x.shape)
        if x.flat:
            return base.reshape(1, -1)
        return base.transpose(0, 2, 3, 1) if x.channels_last else base

    def _plain(self, x) -> bool:
        return x.view is None and not x.channels_last

    def _as_view(self, node, x, index: np.ndarray) -> None:
        """The node's output: ``x``'s values seen as ``index`` (an alias, no layer)."""
        self.values[node.output[0]] = replace(x, path=(*x.path, node.output[0]),
                                              **layout(index, x.shape))

    def _output_layout(self, node, out_shape) -> dict:
        """How a layer reading ``node``'s first feature map lays out its output: as that
        map when the shape is kept; tokens stay tokens, ``[1, H, W, C]`` stays so."""
        x = next((self.values[n] for n in node.input if n in self.values), None)
        if x is None or self._plain(x):
            return {}
        if tuple(out_shape) == tuple(x.shape):
            return dict(channels_last=x.channels_last, view=x.view)
        if x.channels_last:
            view = None if x.view is None else _tokens(out_shape, x.view.ndim)
            return dict(channels_last=True, view=view)
        return {}

    def _same_layout(self, a, b) -> None:
        """Two operands of an element-wise node hold their values in the same layout."""
        if self._plain(a) and self._plain(b):
            return
        ia, ib = self._index(a), self._index(b)
        if ia.shape != ib.shape or not np.array_equal(ia, ib):
            self._fail(f"operands of ONNX shapes {list(ia.shape)} and {list(ib.shape)} lay "
                       "their values out differently (or broadcast); not supported")

    # ---- shape-only nodes ----------------------------------------------------------------
    def _reshape_view(self, node, x, target: list[int]) -> None:
        index = self._index(x)
        current = list(index.shape)
        if self.frames_of(x):   # a clip: flattening, or keeping the shape
            current = [1, math.prod(x.shape)] if x.flat else [1, *x.shape]
        resolved = [current[i] if v == 0 and i < len(current) else v
                    for i, v in enumerate(target)]
        if resolved.count(-1) == 1:
            known = math.prod(v for v in resolved if v != -1)
            resolved[resolved.index(-1)] = index.size // max(known, 1)
        if math.prod(resolved) != index.size or min(resolved) < 1:
            self._fail(f"cannot reshape {current} to {target}")
        if self.frames_of(x):
            if len(resolved) == 2 and resolved[0] == 1:
                return self._alias(node, flat=True)
            if resolved != current:
                self._fail(f"reshape of a clip to {target} is not supported (only "
                           "flattening to [1, -1] or keeping the shape)")
            return self._alias(node, flat=x.flat)
        self._as_view(node, x, index.reshape(resolved))

    def _squeeze(self, node):
        self._squeezed(node, squeeze=True)

    def _unsqueeze(self, node):
        self._squeezed(node, squeeze=False)

    def _squeezed(self, node, squeeze: bool) -> None:
        """Squeeze / Unsqueeze of a feature map: a reshape (a view, or the map again)."""
        x, axes = self._value(node), self._attrs(node).get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:   # opset >= 13
            axes = self._const(node, 1, "axes").tolist()
        index = self._index(x)
        if self.frames_of(x) or (axes is None and not squeeze):
            self._fail(f"{node.op_type} of a clip, or without axes, is not supported")
        shape = list(index.shape)
        if squeeze:
            axes = [a % len(shape) for a in axes] if axes is not None else [
                a for a, n in enumerate(shape) if n == 1]
            if any(shape[a] != 1 for a in axes):
                self._fail(f"cannot squeeze axes {axes} of shape {shape}")
            shape = [n for a, n in enumerate(shape) if a not in axes]
        else:
            for a in sorted(a % (len(shape) + len(axes)) for a in axes):
                shape.insert(a, 1)
        self._as_view(node, x, index.reshape(shape))

    def _gather(self, node):
        """Gather of a feature map along one axis (e.g. q, k, v out of a fused projection)."""
        x, indices = self._value(node), self._const(node, 1, "indices")
        index, axis = self._axis(node, x, self._attrs(node).get("axis", 0))
        if self.frames_of(x):
            self._fail("gathering from a clip is not supported")
        try:
            part = np.take(index, indices.astype(np.int64), axis=axis)
        except IndexError:
            self._fail(f"indices {indices.tolist()} out of range for axis {axis} of "
                       f"{list(index.shape)}")
        self._sub_view(node, x, part)

    def _sub_view(self, node, x, index: np.ndarray, output: int = 0) -> None:
        """A part of a view: the whole map (a view again), or one run of its channels at
        every pixel (a slice layer, a layout step, seen as ``index``)."""
        c, h, w = x.shape
        pixels, flat = h * w, np.sort(index.ravel())
        first, count = int(flat[0]) // pixels if flat.size else 0, flat.size // pixels
        if flat.size != pixels * count or not np.array_equal(
                flat, np.arange(first * pixels, (first + count) * pixels)):
            self._fail(f"the part {list(index.shape)} of shape {list(self._index(x).shape)} "
                       "taken is not a run of channels at every token")
        if count == c:
            self.values[node.output[output]] = replace(
                x, path=(*x.path, node.output[output]), **layout(index, x.shape))
            return
        self._add_layer(node, dict(kind="slice", in_channels=c, in_h=h, in_w=w,
                                   out_channels=count, offset=first, inputs=(x.layer,)),
                        output=output, layout=layout(index - first * pixels, (count, h, w)))

    def _split_view(self, node, x, axis: int, sizes: list[int]) -> None:
        index, axis = self._axis(node, x, axis)
        if sum(sizes) != index.shape[axis] or len(sizes) != len(node.output):
            self._fail(f"split sizes {sizes} do not cover axis {axis} of {list(index.shape)}")
        parts = np.split(index, np.cumsum(sizes)[:-1], axis=axis)
        for output, part in enumerate(parts):
            self._sub_view(node, x, part, output)

    def _slice_view(self, node, x, starts, ends, axes, steps) -> None:
        index = self._index(x)
        region = [slice(None)] * index.ndim
        steps = steps or [1] * len(axes)
        if not len(starts) == len(ends) == len(axes) == len(steps):
            self._fail(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ "
                       "in length")
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
            region[self._axis(node, x, axis)[1]] = slice(start, end, step)
        self._sub_view(node, x, index[tuple(region)])

    def _pointwise(self, node, matrix: np.ndarray, bias) -> None:
        """``x @ matrix.T + bias`` over the channels of a channels-last view (tokens): a
        1x1 conv."""
        x = self._value(node)
        (c, h, w), bias = x.shape, np.asarray(bias, dtype=np.float64).ravel()
        if matrix.ndim != 2 or matrix.shape[1] != c or bias.size not in (1, matrix.shape[0]):
            self._fail(f"weights {list(matrix.T.shape)} and bias {list(bias.shape)} do not "
                       f"multiply {c} channels")
        m = matrix.shape[0]
        self._add_layer(node, dict(kind="conv", in_channels=c, in_h=h, in_w=w, out_channels=m,
                                   inputs=(x.layer,)), matrix.reshape(m, c, 1, 1),
                        np.broadcast_to(bias, (m,)))

    def _flatten_view(self, node, x, axis: int) -> None:
        index = self._index(x)
        axis = axis + index.ndim if axis < 0 else axis
        self._as_view(node, x, index.reshape(math.prod(index.shape[:axis]), -1))

    def _transpose_view(self, node, x, perm: list[int]) -> None:
        index = self._index(x)
        perm = perm or list(range(index.ndim))[::-1]
        if sorted(perm) != list(range(index.ndim)):
            self._fail(f"perm {perm} does not fit a tensor of shape {list(index.shape)}")
        self._as_view(node, x, index.transpose(perm))

    # ---- nodes over one axis -------------------------------------------------------------
    def _axis(self, node, x, axis: int) -> tuple[np.ndarray, int]:
        index = self._index(x)
        if not -index.ndim <= axis < index.ndim:
            self._fail(f"axis {axis} is out of range for shape {list(index.shape)}")
        return index, axis % index.ndim

    def _channel_groups(self, node, x, axis: int, what: str) -> int:
        """``G`` when the ONNX ``axis`` of ``x`` walks the channels of one of ``G`` equal
        channel groups at every pixel (a softmax over it is one over each group)."""
        index, axis = self._axis(node, x, axis)
        c, h, w = x.shape
        pixels, size = h * w, index.shape[axis]
        rows = np.moveaxis(index, axis, -1).reshape(-1, size)
        start = rows[:, :1]
        if not (c % size == 0 and np.array_equal(rows, start + np.arange(size) * pixels)
                and np.all(start // pixels % size == 0)):
            self._fail(f"{what} over axis {axis} of shape {list(index.shape)} is supported "
                       "only over the channels (or the channels of each attention head)")
        return c // size

    def _reduce_view(self, node, x, axes: list[int], keepdims: bool) -> None:
        """ReduceMean of a view over its tokens: a global average pool."""
        index = self._index(x)
        axes = sorted({a % index.ndim for a in axes})
        c, h, w = x.shape
        kept = [a for a in range(index.ndim) if a not in axes]
        rows = index.transpose(kept + axes).reshape(-1, math.prod(index.shape[a] for a in axes))
        channel = rows[:, 0] // (h * w)
        if not (rows.shape[1] == h * w and np.array_equal(np.sort(rows, axis=1),
                                                          (channel * h * w)[:, None]
                                                          + np.arange(h * w))):
            self._fail(f"a mean over axes {axes} of shape {list(index.shape)} is supported "
                       "only over all the tokens (H and W)")
        shape = [1 if a in axes else n for a, n in enumerate(index.shape)
                 if keepdims or a not in axes]
        self._pool_layer(node, x, "avg", (h, w), (1, 1), (0, 0, 0, 0),
                         layout=layout(channel.reshape(shape), (c, 1, 1)))

    # ---- MatMul of two activations -------------------------------------------------------
    def _mat_mul_activations(self, node) -> None:
        a, b = self._value(node, 0), self._value(node, 1)
        ia, ib = self._index(a), self._index(b)
        shapes = f"{list(ia.shape)} @ {list(ib.shape)}"
        if ia.ndim < 2 or ib.ndim < 2 or ia.shape[-1] != ib.shape[-2]:
            self._fail(f"operands {shapes} do not multiply")
        try:
            batch = np.broadcast_shapes(ia.shape[:-2], ib.shape[:-2])
        except ValueError:
            self._fail(f"the batch dims of {shapes} do not broadcast")
        (n, k), p = ia.shape[-2:], ib.shape[-1]
        ia = np.broadcast_to(ia, (*batch, n, k)).reshape(-1, n, k)
        ib = np.broadcast_to(ib, (*batch, k, p)).reshape(-1, k, p)
        (c, h, w), pixels = a.shape, a.shape[1] * a.shape[2]
        start = ia[:, :, 0]
        group, pixel = start // pixels // k, start % pixels
        rows_ok = (c % k == 0 and np.array_equal(ia, start[..., None] + np.arange(k) * pixels)
                   and np.all(start // pixels % k == 0))
        groups = c // k
        cover = np.sort((group * pixels + pixel).ravel())
        if not (rows_ok and np.array_equal(cover, np.arange(groups * pixels))):
            self._fail(f"operands {shapes}: the first must hold each token's features, per "
                       "head, as rows (attention's Q or P), which it does not")
        entry = np.zeros(groups, dtype=np.int64)   # the batch entry of each head
        entry[group.ravel()] = np.repeat(np.arange(len(ia)), n)
        if not np.all(entry[group] == np.arange(len(ia))[:, None]):
            self._fail(f"operands {shapes}: a head's rows lie in several batch entries")
        operand = ib[entry]                        # G x k x p indices into b's map
        function = self._operand_layout(b, operand, groups, k, p)
        if function is None:
            self._fail(f"operands {shapes}: the second is laid out neither as keys to "
                       "transpose (K^T) nor as values (V) of each head, so no grouped 1x1 "
                       "convolution reads it as weights")
        out = (group[..., None] * p + np.arange(p)) * pixels + pixel[..., None]
        self._add_layer(node, dict(kind="matmul", in_channels=c, in_h=h, in_w=w,
                                   out_channels=groups * p, groups=groups, function=function,
                                   inputs=(a.layer, b.layer)),
                        layout=layout(out.reshape(*batch, n, p), (groups * p, h, w)))

    @staticmethod
    def _operand_layout(b, operand: np.ndarray, groups: int, k: int, p: int) -> str | None:
        """``transposed`` or ``values`` (:mod:`accelsim.workload.matmul`), or None."""
        channels, pixels = b.shape[0], b.shape[1] * b.shape[2]
        g, j, m = np.ogrid[:groups, :k, :p]
        if (channels, pixels) == (groups * k, p) and np.array_equal(
                operand, (g * k + j) * pixels + m):
            return "transposed"
        if (channels, pixels) == (groups * p, k) and np.array_equal(
                operand, (g * p + m) * pixels + j):
            return "values"
        return None
