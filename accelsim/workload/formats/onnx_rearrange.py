"""ONNX handlers for operators that move data or change resolution: channel ``Split`` and
``Slice``, ShuffleNet's channel shuffle (``Reshape`` to ``[1, g, C/g, H, W]``, ``Transpose
[0, 2, 1, 3, 4]``, ``Reshape`` back), nearest and linear ``Resize`` / ``Upsample`` by
integer factors, and ``ConvTranspose``.

A mixin of :class:`~accelsim.workload.formats.onnx_graph.GraphImporter`. Splits, slices and
shuffles become ``slice`` / ``shuffle`` layers and a nearest resize an ``upsample`` layer
(layout steps: :mod:`accelsim.sim.layout`); a linear one computes new values, a ``resize``
layer on the host unit (:func:`accelsim.workload.rearrange.resized`). A transposed
convolution becomes what a core without a transposed mode runs: the input with ``stride - 1``
zeros between values (an ``upsample`` layer, ``zeros``) and a convolution with the kernel
flipped and its in / out channels swapped, padded ``k - 1 - pad`` (plus ``output_padding`` at
the end). Its MACs on the inserted zeros are counted, and a zero-skipping core skips them.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from accelsim.workload.layer import RESIZE_MODES


class RearrangeHandlers:
    """Handlers named in ``onnx_graph.HANDLERS``; see the module docstring."""

    # ---- channel split and slice --------------------------------------------------------
    def _split(self, node):
        x = self._value(node)
        a = self._attrs(node)
        sizes = a.get("split")
        if sizes is None and len(node.input) > 1 and node.input[1]:
            sizes = self._const(node, 1, "split").tolist()
        count = len(node.output)
        if not self._plain(x):   # tokens, heads (onnx_views)
            index, axis = self._axis(node, x, a.get("axis", 0))
            return self._split_view(node, x, axis,
                                    sizes or [index.shape[axis] // count] * count)
        self._channel_axis(x, a.get("axis", 0), "split")
        if sizes is None:
            if x.shape[0] % count:
                self._fail(f"{x.shape[0]} channels do not split into {count} equal parts")
            sizes = [x.shape[0] // count] * count
        if sum(sizes) != x.shape[0] or len(sizes) != count or min(sizes) < 1:
            self._fail(f"split sizes {sizes} do not cover the {x.shape[0]} channels")
        for index, offset in enumerate(np.cumsum([0, *sizes[:-1]])):
            self._slice_layer(node, x, int(offset), int(sizes[index]), index)

    def _slice(self, node):
        x = self._value(node)
        if len(node.input) > 1:   # opset >= 10: starts, ends, axes, steps are inputs
            starts, ends, axes, steps = (
                None if i >= len(node.input) or not node.input[i]
                else self._const(node, i, what).tolist()
                for i, what in enumerate(("starts", "ends", "axes", "steps"), start=1))
        else:
            a = self._attrs(node)
            starts, ends, axes, steps = a.get("starts"), a.get("ends"), a.get("axes"), None
        axes = axes if axes is not None else list(range(len(starts)))
        if not self._plain(x):   # tokens, heads (onnx_views)
            return self._slice_view(node, x, starts, ends, axes, steps)
        if len(axes) != 1 or any(s != 1 for s in steps or [1]):
            self._fail(f"slicing axes {axes} with steps {steps} is not supported (only one "
                       "range of channels, step 1)")
        self._channel_axis(x, axes[0], "slice")
        start, stop, _ = slice(starts[0], ends[0]).indices(x.shape[0])
        if stop <= start:
            self._fail(f"the channel range {starts[0]}..{ends[0]} is empty")
        if (start, stop) == (0, x.shape[0]):
            return self._alias(node, flat=x.flat)
        self._slice_layer(node, x, start, stop - start, 0)

    def _channel_axis(self, x, axis: int, what: str) -> None:
        if axis not in ((1, -1) if x.flat else (1, -3)):
            self._fail(f"{what} along axis {axis} is not supported (only the channels)")

    def _slice_layer(self, node, x, offset: int, channels: int, output: int) -> None:
        c, h, w = x.shape
        self._add_layer(node, dict(kind="slice", in_channels=c, in_h=h, in_w=w,
                                   out_channels=channels, offset=offset, inputs=(x.layer,)),
                        flat=x.flat, output=output)

    # ---- zero padding before a convolution -------------------------------------------------
    def _pad(self, node):
        x, a = self._value(node), self._attrs(node)
        if len(node.input) > 1:   # opset >= 11: pads (and the value) are inputs
            pads = self._const(node, 1, "pads").tolist()
            value = self._const(node, 2, "constant value", required=False)
        else:
            pads, value = list(a.get("pads", [])), a.get("value", 0.0)
        mode = _text(a.get("mode", "constant"))
        if len(node.input) > 3 and node.input[3]:
            self._fail("Pad with an axes input is not supported")
        value = 0.0 if value is None else float(np.asarray(value).ravel()[0])
        if mode != "constant" or value != 0.0 or x.flat or len(pads) != 8 or min(pads) < 0:
            self._fail(f"only zero padding of H and W is supported, got mode {mode!r}, "
                       f"value {value}, pads {pads}")
        if any(pads[i] for i in (0, 1, 4, 5)):
            self._fail(f"padding the batch or channels (pads {pads}) is not supported")
        top, left, bottom, right = pads[2], pads[3], pads[6], pads[7]
        self.values[node.output[0]] = replace(
            x, path=(*x.path, node.output[0]),
            pad=tuple(p + q for p, q in zip(x.pad, (top, left, bottom, right), strict=True)))

    # ---- channel shuffle ---------------------------------------------------------------
    def _transpose(self, node):
        x = self._value(node)
        perm = list(self._attrs(node).get("perm", []))
        if not x.groups and not self.frames_of(x):   # NCHW <-> NHWC, tokens, heads: a view
            return self._transpose_view(node, x, perm)
        if x.groups <= 0 or perm != [0, 2, 1, 3, 4]:
            self._fail(f"transposing a feature map (perm {perm}) is supported only inside a "
                       "channel shuffle (Reshape to [1, g, C/g, H, W], Transpose "
                       "[0, 2, 1, 3, 4], Reshape back)")
        self._aliased(node, x, groups=-x.groups)

    def _shuffle_reshape(self, node, x, target: list[int]) -> bool:
        """Reshape steps of a channel shuffle; False when ``target`` is not one of them."""
        c, h, w = x.shape
        if x.groups == 0 and not x.flat and len(target) == 5 and target[3:] == [h, w]:
            groups = target[1] if target[1] > 0 else c // target[2]
            if groups > 1 and groups * (c // groups) == c and target[2] in (-1, c // groups):
                self._aliased(node, x, groups=groups)
                return True
        if x.groups and len(target) == 4 and target[2:] == [h, w] and target[1] in (-1, c):
            if x.groups > 0:   # straight back: nothing moved
                self._aliased(node, x, groups=0)
            else:
                self._add_layer(node, dict(kind="shuffle", in_channels=c, in_h=h, in_w=w,
                                           out_channels=c, groups=-x.groups,
                                           inputs=(x.layer,)))
            return True
        return False

    def _aliased(self, node, x, groups: int) -> None:
        self.values[node.output[0]] = type(x)(x.layer, x.shape, x.flat,
                                              (*x.path, node.output[0]), groups)

    # ---- resize --------------------------------------------------------------------------
    def _resize(self, node):
        x, a = self._value(node), self._attrs(node)
        mode = _text(a.get("mode", "nearest"))
        c, h, w = x.shape
        scales = self._resize_scales(node, x)
        if mode == "linear" and not x.flat and scales[:2] == (1.0, 1.0):
            return self._linear_resize(node, x, scales[2:], a)
        if mode != "nearest" or x.flat or scales[:2] != (1.0, 1.0):
            self._fail(f"only nearest or linear resizing of H and W is supported, got mode "
                       f"{mode!r}, "
                       f"scales {list(scales)}")
        factors = []
        for size, scale in zip((h, w), scales[2:], strict=True):
            factor = round(scale)
            if factor < 1 or abs(scale - factor) > 1e-6 or not _repeats(
                    size, factor, _text(a.get("coordinate_transformation_mode", "half_pixel")),
                    _text(a.get("nearest_mode", "round_prefer_floor"))):
                self._fail(f"resizing by {scale} with these coordinate and rounding modes is "
                           "not a repetition of each value (only integer factors are)")
            factors.append(factor)
        self._add_layer(node, dict(kind="upsample", in_channels=c, in_h=h, in_w=w,
                                   out_channels=c, function="nearest", scale=tuple(factors),
                                   inputs=(x.layer,)))

    def _linear_resize(self, node, x, scales, a) -> None:
        """Bilinear, by integer factors: a ``resize`` layer (host: computed values)."""
        transform = _text(a.get("coordinate_transformation_mode", "half_pixel"))
        factors = tuple(round(s) for s in scales)
        if transform not in RESIZE_MODES or min(factors) < 1 or any(
                abs(s - f) > 1e-6 for s, f in zip(scales, factors, strict=True)):
            self._fail(f"linear resizing by {list(scales)} with coordinate_transformation_mode "
                       f"{transform!r} is not supported (integer factors; "
                       f"{', '.join(RESIZE_MODES)})")
        c, h, w = x.shape
        self._add_layer(node, dict(kind="resize", in_channels=c, in_h=h, in_w=w,
                                   out_channels=c, function=transform, scale=factors,
                                   inputs=(x.layer,)))

    def _resize_scales(self, node, x) -> tuple[float, ...]:
        """(N, C, H, W) scales from the ``scales`` or ``sizes`` input (or attribute)."""
        a = self._attrs(node)
        if "scales" in a:                                  # Upsample, opset 7
            return tuple(float(s) for s in a["scales"])
        named = {2: "scales", 3: "sizes"} if node.op_type == "Resize" and len(
            node.input) > 2 else {1: "scales"}
        for index, what in named.items():
            if index < len(node.input) and node.input[index]:
                value = self._const(node, index, what).astype(np.float64)
                if what == "sizes":
                    value = value / np.array([1, *x.shape], dtype=np.float64)
                return tuple(float(v) for v in value)
        self._fail("neither scales nor sizes given")

    # ---- transposed convolution ------------------------------------------------------------
    def _conv_transpose(self, node):
        x, w = self._value(node), self._const(node, 1, "weights").astype(np.float64)
        a = self._attrs(node)
        if x.flat or w.ndim != 4:
            self._fail("only 2-D transposed convolutions of feature maps are supported")
        if "output_shape" in a or _text(a.get("auto_pad", "NOTSET")) != "NOTSET":
            self._fail("output_shape and auto_pad are not supported (give pads)")
        groups, (sh, sw) = int(a.get("group", 1)), tuple(a.get("strides", [1, 1]))
        c, h, width = x.shape
        if w.shape[0] != c or c % groups:
            self._fail(f"weights {list(w.shape)} in {groups} groups do not fit {c} channels")
        kernel = _flipped(w, groups, a.get("dilations", [1, 1]))
        kh, kw = kernel.shape[2:]
        top, left, bottom, right = a.get("pads", [0, 0, 0, 0])
        extra_h, extra_w = a.get("output_padding", [0, 0])
        pad = (kh - 1 - top, kw - 1 - left, kh - 1 - bottom + extra_h,
               kw - 1 - right + extra_w)
        if min(pad) < 0:
            self._fail(f"pads {a.get('pads')} larger than the kernel - 1 are not supported")
        if (sh, sw) != (1, 1):
            zeros = self._add_layer(node, dict(
                kind="upsample", in_channels=c, in_h=h, in_w=width, out_channels=c,
                function="zeros", scale=(sh, sw), inputs=(x.layer,)), output=None)
            x, (h, width) = zeros, zeros.shape[1:]
        bias = self._const(node, 2, "bias", required=False)
        m = kernel.shape[0]
        self._add_layer(node, dict(kind="conv", in_channels=c, in_h=h, in_w=width,
                                   out_channels=m, kernel_h=kh, kernel_w=kw, pad=pad,
                                   groups=groups, inputs=(x.layer,)),
                        kernel, np.zeros(m) if bias is None else bias)


def _flipped(w: np.ndarray, groups: int, dilations) -> np.ndarray:
    """A ConvTranspose kernel ``C x M/g x R x S`` as the equivalent convolution's
    ``M x C/g x R' x S'``: in / out channels swapped per group, flipped in space, dilated."""
    c, mg, r, s = w.shape
    out = w.reshape(groups, c // groups, mg, r, s).transpose(0, 2, 1, 3, 4)
    out = out.reshape(groups * mg, c // groups, r, s)[:, :, ::-1, ::-1]
    dh, dw = (int(d) for d in dilations)
    dilated = np.zeros((*out.shape[:2], (r - 1) * dh + 1, (s - 1) * dw + 1))
    dilated[:, :, ::dh, ::dw] = out
    return dilated


def _repeats(size: int, factor: int, transform: str, rounding: str) -> bool:
    """True when ONNX's nearest resize by ``factor`` maps output i to input i // factor."""
    out = size * factor
    for i in range(out):
        if transform == "asymmetric":
            x = i / factor
        elif transform in ("half_pixel", "pytorch_half_pixel"):
            x = (i + 0.5) / factor - 0.5 if out > 1 else 0.0
        elif transform == "tf_half_pixel_for_nn":
            x = (i + 0.5) / factor
        elif transform == "align_corners":
            x = i * (size - 1) / (out - 1) if out > 1 else 0.0
        else:
            return False
        nearest = {"floor": math.floor(x), "ceil": math.ceil(x),
                   "round_prefer_ceil": math.floor(x + 0.5),
                   "round_prefer_floor": math.ceil(x - 0.5)}.get(rounding)
        if nearest is None or min(max(nearest, 0), size - 1) != i // factor:
            return False
    return True


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
