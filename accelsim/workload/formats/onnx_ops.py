"""ONNX handlers for the element-wise operators: activation functions, products, quotients,
differences, softmax, and arithmetic with constants.

A mixin of :class:`~accelsim.workload.formats.onnx_graph.GraphImporter` (it uses the
importer's ``_value``, ``_const``, ``_add_layer``, ``_foldable``, ``_produce`` and ``_fail``).
What each operator becomes:

* ``Relu`` and ``Clip(0, max)`` (ReLU6): fused into the producing layer when nothing else
  reads its output; otherwise (and for any other ``Clip``) an ``act`` layer.
* ``Sigmoid``, ``HardSigmoid``, ``HardSwish``, ``Tanh``, ``LeakyRelu``, ``Elu``, and ``PRelu``
  with one slope: an ``act`` layer; ``Softmax`` on the channel axis: a ``softmax`` layer.
* ``Mul``, ``Sub``, ``Div``, ``Max``, ``Min`` of two feature maps: an ``eltwise`` layer (the
  second operand may be ``C x 1 x 1``, a squeeze-and-excite gate; a commutative operator puts
  the gate second).
* ``Add`` of two feature maps of one shape: an ``add`` layer (a residual connection).
* ``Add``, ``Sub``, ``Mul``, ``Div`` of a feature map and a scalar or per-channel constant,
  and ``BatchNormalization``: a per-channel affine step ``x * gain + offset``, folded into the
  conv / fc that produces ``x`` when nothing else reads it and no activation lies between,
  otherwise a depthwise 1x1 conv layer (what a core runs as MACs).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from accelsim.workload.layer import ACT_FUNCTIONS
from accelsim.workload.network import INPUT

ACTIVATIONS = {"Sigmoid": "sigmoid", "HardSigmoid": "hard_sigmoid", "HardSwish": "hard_swish",
               "Tanh": "tanh", "LeakyRelu": "leaky_relu", "Elu": "elu", "Erf": "erf",
               "Gelu": "gelu"}
"""ONNX activation operator -> act layer function."""
ELTWISE = {"Mul": "mul", "Sub": "sub", "Div": "div", "Max": "max", "Min": "min"}
COMMUTATIVE = ("mul", "max", "min")


class ElementwiseHandlers:
    """Handlers named in ``onnx_graph.HANDLERS``; see the module docstring."""

    # ---- ReLU and Clip: fused where they can be -------------------------------------------
    def _relu(self, node):
        self._relu_or_clip(node, 0.0, None)

    def _clip(self, node):
        a = self._attrs(node)
        low, high = a.get("min"), a.get("max")
        if len(node.input) > 1:   # opset >= 11: bounds are optional inputs
            low = self._const(node, 1, "min", required=False)
            high = self._const(node, 2, "max", required=False)
        low, high = (None if v is None else float(np.asarray(v).reshape(-1)[0])
                     for v in (low, high))
        high = high if high is not None and math.isfinite(high) else None
        self._relu_or_clip(node, low, high)

    def _relu_or_clip(self, node, low: float | None, high: float | None) -> None:
        """A ReLU (``low`` 0) bounded by ``high``: fused into its producer if it may change
        that layer's output; else, and for any other bounds, an act layer."""
        x = self._value(node)
        producer = self.layers.get(x.layer)
        fusable = (low == 0.0 and (high is None or high > 0) and x.layer != INPUT
                   and self._sole_reader(x) and producer.kind != "concat"
                   and (producer.quant is None or high is None))   # ReLU commutes with it
        if not fusable:
            relu = low == 0.0 and high is None
            return self._act_layer(node, "relu" if relu else "clip", None if relu else low,
                                   None if relu else high)
        bounds = [b for b in (high, producer.relu_max) if b is not None]
        self.layers[producer.name] = replace(producer, relu=True,
                                             relu_max=min(bounds) if bounds else None)
        self._produce(node.output[0], self._renamed(x, node.output[0]))

    # ---- int8 (QDQ): a QuantizeLinear / DequantizeLinear pair on a feature map ------------
    def _quantize_linear(self, node):
        x = self._value(node)
        self.values[node.output[0]] = replace(x, path=(*x.path, node.output[0]),
                                              quant=self._grid(node))

    def _dequantize_linear(self, node):
        x = self._value(node)
        grid = self._grid(node)
        if x.quant is None:
            self._fail("dequantizing a feature map that no QuantizeLinear made (an integer "
                       "input) is not supported")
        if grid != x.quant:
            self._fail(f"scale / zero point {grid[:2]} differ from the QuantizeLinear's "
                       f"{x.quant[:2]}")
        producer = self.layers.get(x.layer)
        if producer is not None and self._sole_reader(x) and producer.quant in (None, grid):
            self.layers[producer.name] = replace(producer, quant=grid)
            return self._produce(node.output[0], replace(x, path=(node.output[0],),
                                                         quant=None))
        c, h, w = x.shape   # the network input, or a tensor read elsewhere too
        self._add_layer(node, dict(kind="act", in_channels=c, in_h=h, in_w=w, out_channels=c,
                                   function="identity", quant=grid, inputs=(x.layer,)),
                        flat=x.flat)

    def _grid(self, node) -> tuple[float, int, int, int]:
        """(scale, zero point, qmin, qmax) of a per-tensor QuantizeLinear / DequantizeLinear."""
        scale = np.asarray(self._const(node, 1, "scale"), dtype=np.float64)
        zero = self._const(node, 2, "zero point", required=False)
        zero = np.zeros((), np.uint8) if zero is None else np.asarray(zero)
        if scale.size != 1 or zero.size != 1:
            self._fail("per-axis quantization of a feature map is not supported")
        if zero.dtype.kind not in "iu" or zero.dtype.itemsize > 2:
            self._fail(f"{zero.dtype} quantization is not supported (8 and 16-bit integers)")
        info = np.iinfo(zero.dtype)
        return (float(scale.ravel()[0]), int(zero.ravel()[0]), int(info.min), int(info.max))

    # ---- activations -------------------------------------------------------------------
    def _act_node(self, node):
        a = self._attrs(node)
        function = ACTIVATIONS[node.op_type]
        alpha, beta = a.get("alpha"), a.get("beta")
        if function in ("hard_swish", "erf"):
            alpha = beta = None
        if function == "gelu":
            if _text(a.get("approximate", "none")) != "none":
                self._fail("only the exact (erf) Gelu is supported, not approximate='tanh'")
            alpha = beta = None
        self._act_layer(node, function, alpha, beta if function == "hard_sigmoid" else None)

    def _p_relu(self, node):
        """One slope: an act layer. Per channel: ``max(x, slope * x)`` (slopes <= 1; ``min``
        for slopes >= 1), the product a depthwise 1x1 conv on the core, the max on the host."""
        slope = np.asarray(self._const(node, 1, "slope"), dtype=np.float64)
        if slope.size == 1:
            return self._act_layer(node, "leaky_relu", float(slope.ravel()[0]), None)
        x = self._value(node)
        slope = self._per_channel(x, slope, node.input[0])
        if not (np.all(slope <= 1) or np.all(slope >= 1)):
            self._fail("per-channel slopes on both sides of 1 are not supported")
        c, h, w = x.shape
        if x.flat and h * w > 1:
            self._fail("a per-channel slope on a flattened feature map is not supported")
        scaled = self._add_layer(node, dict(kind="conv", in_channels=c, in_h=h, in_w=w,
                                            out_channels=c, groups=c, inputs=(x.layer,)),
                                 slope.reshape(c, 1, 1, 1), np.zeros(c), flat=x.flat,
                                 output=None)
        self._add_layer(node, dict(kind="eltwise", in_channels=c, in_h=h, in_w=w,
                                   out_channels=c, inputs=(x.layer, scaled.layer),
                                   function="max" if np.all(slope <= 1) else "min"),
                        flat=x.flat)

    def _act_layer(self, node, function: str, alpha, beta) -> None:
        assert function in ACT_FUNCTIONS
        x = self._value(node)
        c, h, w = x.shape
        self._add_layer(node, dict(kind="act", in_channels=c, in_h=h, in_w=w, out_channels=c,
                                   function=function,
                                   alpha=None if alpha is None else float(alpha),
                                   beta=None if beta is None else float(beta),
                                   inputs=(x.layer,)), flat=x.flat)

    def _softmax(self, node):
        """Over the channels, or each head's channels of a view (onnx_views)."""
        x = self._value(node)
        index, axis = self._axis(node, x, self._attrs(node).get(
            "axis", 1 if self.opset < 13 else -1))
        # before opset 13 a softmax spans every axis from ``axis`` on (flattened)
        if self.opset < 13 and math.prod(index.shape[axis + 1:]) > 1:
            self._fail(f"softmax over axes {axis}.. of shape {list(index.shape)} (opset "
                       f"{self.opset}) is not supported (only over the channels)")
        groups = self._channel_groups(node, x, axis, "softmax")
        c, h, w = x.shape
        self._add_layer(node, dict(kind="softmax", in_channels=c, in_h=h, in_w=w,
                                   out_channels=c, groups=groups, inputs=(x.layer,)),
                        flat=x.flat)

    # ---- two operands --------------------------------------------------------------------
    def _add(self, node):
        constant = [i for i, name in enumerate(node.input) if name in self.consts]
        if constant:
            return self._with_constant(node, "add", constant[0])
        a, b = self._value(node, 0), self._value(node, 1)
        if a.shape != b.shape or a.flat != b.flat:
            self._fail(f"operands of shapes {list(a.shape)} and {list(b.shape)}: "
                       "broadcasting is not supported")
        self._same_layout(a, b)
        c, h, w = a.shape
        self._add_layer(node, dict(kind="add", in_channels=c, in_h=h, in_w=w,
                                   out_channels=c, inputs=(a.layer, b.layer)), flat=a.flat)

    def _layer_normalization(self, node):
        """Over the channels only: the last axis of a channels-last view (as ConvNeXt
        writes it). A layernorm layer on the host, then its scale and shift."""
        x, a = self._value(node), self._attrs(node)
        rank = self._index(x).ndim
        if not x.channels_last or a.get("axis", -1) not in (-1, rank - 1):
            self._fail(f"layer normalization over axis {a.get('axis', -1)} is supported only "
                       "over the channels (the last axis of a [1, H, W, C] view)")
        c, h, w = x.shape
        normalized = self._add_layer(node, dict(kind="layernorm", in_channels=c, in_h=h,
                                                in_w=w, out_channels=c,
                                                alpha=float(a.get("epsilon", 1e-5)),
                                                inputs=(x.layer,)), output=None)
        scale = np.asarray(self._const(node, 1, "scale"), dtype=np.float64).ravel()
        shift = self._const(node, 2, "bias", required=False)
        shift = np.zeros(c) if shift is None else np.asarray(shift, dtype=np.float64).ravel()
        self._affine(node, normalized, np.broadcast_to(scale, (c,)),
                     np.broadcast_to(shift, (c,)))

    def _batch_normalization(self, node):
        x = self._value(node)
        if self._attrs(node).get("training_mode", 0) or any(node.output[1:]):
            self._fail("training-mode batch normalization is not supported")
        scale, shift, mean, var = (self._const(node, i, what).astype(np.float64) for i, what
                                   in enumerate(("scale", "B", "mean", "var"), start=1))
        gain = scale / np.sqrt(var + self._attrs(node).get("epsilon", 1e-5))
        self._affine(node, x, gain, shift - mean * gain)

    def _eltwise_node(self, node):
        op = ELTWISE[node.op_type]
        if len(node.input) != 2:
            self._fail(f"expected 2 operands, got {len(node.input)}")
        constant = [i for i, name in enumerate(node.input) if name in self.consts]
        if constant:
            return self._with_constant(node, op, constant[0])
        a, b = self._value(node, 0), self._value(node, 1)
        if op in COMMUTATIVE and a.shape[1:] == (1, 1) and b.shape[1:] != (1, 1):
            a, b = b, a   # the full feature map first, the gate second
        if a.shape == b.shape:
            self._same_layout(a, b)
        elif not (self._plain(a) and self._plain(b)):
            self._fail(f"operands {list(self._index(a).shape)} and "
                       f"{list(self._index(b).shape)}: broadcasting a view is not supported")
        if a.flat != b.flat and a.shape != b.shape:
            self._fail(f"operands {list(a.shape)} and {list(b.shape)} do not broadcast")
        c, h, w = a.shape
        self._add_layer(node, dict(kind="eltwise", in_channels=c, in_h=h, in_w=w,
                                   out_channels=c, function=op, inputs=(a.layer, b.layer)),
                        flat=a.flat)

    def _with_constant(self, node, op: str, index: int) -> None:
        """A feature map and a scalar or per-channel constant: one affine step."""
        x = self._value(node, 1 - index)
        value = self._per_channel(x, self.consts[node.input[index]], node.input[1 - index])
        m = x.shape[0]
        ones, zeros = np.ones(m), np.zeros(m)
        if op == "mul":
            gain, offset = value, zeros
        elif op == "div" and index == 1:
            if not np.all(value):
                self._fail("division by a constant zero")
            gain, offset = 1.0 / value, zeros
        elif op == "sub":   # x - c, or c - x
            gain, offset = (ones, -value) if index == 1 else (-ones, value)
        elif op == "add":
            gain, offset = ones, value
        else:
            self._fail(f"{node.op_type} with a constant operand is not supported")
        self._affine(node, x, gain, offset)

    def _per_channel(self, x, constant, tensor: str) -> np.ndarray:
        """A scalar or per-channel ``constant`` applied to feature map ``x`` (ONNX tensor
        ``tensor``), one value per channel."""
        value, m = np.asarray(constant, dtype=np.float64), x.shape[0]
        per_channel = ((m,), (1, m)) if x.flat else (
            ((m,), (1, 1, m), (1, 1, 1, m)) if x.channels_last else ((m, 1, 1), (1, m, 1, 1)))
        if value.size != 1 and (value.shape not in per_channel or (
                x.view is not None and not x.channels_last)):
            self._fail(f"a constant of shape {list(value.shape)} is supported only as a "
                       f"scalar or per-channel ({m}) operand of a {self._shape_of(tensor)} "
                       "tensor")
        return np.broadcast_to(value.ravel(), (m,))

    def _affine(self, node, x, gain: np.ndarray, offset: np.ndarray) -> None:
        """``x * gain + offset`` per channel: folded into x's conv / fc, or a 1x1 depthwise
        conv layer."""
        if self._foldable(x):
            w = self.weights[x.layer].astype(np.float64)
            self.weights[x.layer] = (w * gain.reshape(-1, *[1] * (w.ndim - 1))).astype(np.float32)
            self.biases[x.layer] = (self.biases[x.layer] * gain + offset).astype(np.float32)
            self._produce(node.output[0], self._renamed(x, node.output[0]))
            return
        c, h, w = x.shape
        if x.flat and h * w > 1:
            self._fail("a per-channel step on a flattened feature map is not supported")
        self._add_layer(node, dict(kind="conv", in_channels=c, in_h=h, in_w=w, out_channels=c,
                                   groups=c, inputs=(x.layer,)),
                        np.asarray(gain, dtype=np.float64).reshape(c, 1, 1, 1), offset,
                        flat=x.flat)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
