"""ONNX Runtime's QOperator int8 format, rewritten into the QDQ format before importing.

``quantize_static(..., quant_format=QOperator)`` writes integer operators: ``QLinearConv``
and ``QLinearMatMul`` (standard), and from the ``com.microsoft`` domain ``QLinearAdd``,
``QLinearGlobalAveragePool``, ``QLinearConcat``, ``QLinearSigmoid``, ``QLinearLeakyRelu``
and ``QGemm``. Each means its float operator between a DequantizeLinear of its int8 inputs
and a QuantizeLinear of its output (the ONNX and ONNX Runtime operator specs define them so),
which is how :func:`expand_qoperators` writes them: int8 weights become float constants
``(w - w_zero) * w_scale`` (per output channel when the scale is), an int32 bias ``B``
becomes ``B * x_scale * w_scale``, and feature maps get DequantizeLinear / QuantizeLinear
nodes, one DequantizeLinear per quantized tensor however many nodes read it. Operators that
QOperator models apply to int8 tensors directly because they only move or select values
(:data:`PASS_THROUGH`: Flatten, Reshape, MaxPool, ...) get a DequantizeLinear before and a
QuantizeLinear to the same grid after, which changes no value. The importer's
QDQ handling then puts each layer's output on its grid (:mod:`.onnx_ops`), so both formats
of one model import to the same network. Dynamic quantization (``ConvInteger``,
``MatMulInteger``: scales computed at run time from the data) is not rewritten.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import helper, numpy_helper

from accelsim.errors import WorkloadError

MS = "com.microsoft"
QOPERATORS = ("QLinearConv", "QLinearMatMul", f"{MS}:QLinearAdd",
              f"{MS}:QLinearGlobalAveragePool", f"{MS}:QLinearConcat", f"{MS}:QLinearSigmoid",
              f"{MS}:QLinearLeakyRelu", f"{MS}:QGemm")
"""The operators rewritten here (``domain:op`` outside the default domain)."""
PASS_THROUGH = frozenset({"Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
                          "MaxPool", "Resize", "Slice", "Identity", "Dropout"})
"""Operators an int8 model applies to int8 tensors: values moved or selected, grid kept."""


def expand_qoperators(model: onnx.ModelProto, origin: str) -> onnx.ModelProto:
    """``model`` with every QOperator node rewritten as DequantizeLinear -> float op ->
    QuantizeLinear (the same object if it has none)."""
    if not any(_label(node) in QOPERATORS for node in model.graph.node):
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    _Rewriter(model.graph, origin).run()
    return model


def _method(label: str) -> str:
    """``com.microsoft:QLinearAdd`` -> ``_q_linear_add``."""
    return "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", label.split(":")[-1]).lower()


def _label(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}:{node.op_type}"


class _Rewriter:
    def __init__(self, graph: onnx.GraphProto, origin: str) -> None:
        self.graph, self.origin = graph, origin
        self.consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.dequantized: dict[tuple[str, str, str], str] = {}
        self.grids: dict[str, tuple[str, str]] = {}   # int8 tensor -> (scale, zero point)
        self.nodes: list[onnx.NodeProto] = []
        self.node = None

    def run(self) -> None:
        for node in self.graph.node:
            self.node = node
            label = _label(node)
            if label in QOPERATORS:
                getattr(self, _method(label))(node)
            elif label in PASS_THROUGH and node.input and node.input[0] in self.grids:
                self._pass_through(node)
            else:
                if label == "QuantizeLinear":
                    zero = node.input[2] if len(node.input) > 2 else ""
                    self.grids[node.output[0]] = (node.input[1], zero)
                self.nodes.append(node)
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)

    # ---- pieces ----------------------------------------------------------------------------
    def _fail(self, problem: str):
        node = self.node
        raise WorkloadError(f"{self.origin}: node {node.name or node.output[0]!r} "
                            f"({node.op_type}): {problem}")

    def _const(self, name: str, what: str) -> np.ndarray:
        if name not in self.consts:
            self._fail(f"{what} ({name!r}) must be a constant initializer")
        return self.consts[name]

    def _add_const(self, name: str, array: np.ndarray) -> str:
        self.graph.initializer.append(numpy_helper.from_array(
            np.ascontiguousarray(array, dtype=np.float32), name))
        self.consts[name] = array
        return name

    def _float_input(self, x: str, scale: str, zero: str) -> str:
        """A float version of int8 ``x``: a constant dequantized now, a feature map through
        one shared DequantizeLinear node."""
        if x in self.consts:
            return self._add_const(f"{x}::float", self._dequantize(x, scale, zero, 1))
        key = (x, scale, zero)
        if key not in self.dequantized:
            out = self.dequantized[key] = f"{x}::dequantized"
            self.nodes.append(helper.make_node("DequantizeLinear", [x, scale, zero], [out],
                                               name=f"{x}::dequantize"))
        return self.dequantized[key]

    def _dequantize(self, name: str, scale: str, zero: str, channel_axis: int) -> np.ndarray:
        """``(q - zero) * scale``, per channel along ``channel_axis`` when the scale is 1-D."""
        q = self._const(name, "an int8 constant").astype(np.float64)
        s = self._const(scale, "scale").astype(np.float64)
        z = (self._const(zero, "zero point") if zero else np.zeros(())).astype(np.float64)
        if s.size > 1:
            shape = [1] * q.ndim
            shape[channel_axis] = s.size
            s, z = s.reshape(shape), (z.reshape(shape) if z.size > 1 else z)
        return (q - z) * s

    def _weights(self, node, index: int, axis: int) -> str:
        """Input ``index`` (with its scale and zero point after it) as float weights."""
        w, scale, zero = node.input[index:index + 3]
        return self._add_const(f"{node.name or node.output[0]}::weights",
                               self._dequantize(w, scale, zero, axis))

    def _bias(self, node, bias: str, x_scale: str, w_scale: str) -> str:
        """An int32 bias in accumulator units: ``B * x_scale * w_scale``."""
        b = self._const(bias, "bias").astype(np.float64)
        scale = (self._const(x_scale, "scale").astype(np.float64)
                 * self._const(w_scale, "scale").astype(np.float64).ravel())
        return self._add_const(f"{node.name or node.output[0]}::bias", b * scale)

    def _emit(self, node, op: str, inputs: list[str], y_scale: str | None = None,
              y_zero: str | None = None, **attrs) -> None:
        """The float ``op`` named after ``node``, quantized to its output grid if given."""
        out = node.output[0]
        middle = f"{out}::float" if y_scale else out
        self.nodes.append(helper.make_node(op, inputs, [middle], name=node.name or None,
                                           **attrs))
        if y_scale:
            self.nodes.append(helper.make_node("QuantizeLinear", [middle, y_scale, y_zero],
                                               [out], name=f"{out}::quantize"))
            self.grids[out] = (y_scale, y_zero or "")

    def _pass_through(self, node) -> None:
        """``node`` on the float values of its int8 input, its output back on that grid."""
        scale, zero = self.grids[node.input[0]]
        rewritten = onnx.NodeProto()
        rewritten.CopyFrom(node)
        rewritten.input[0] = self._float_input(node.input[0], scale, zero)
        out = node.output[0]
        rewritten.output[0] = f"{out}::float"
        self.nodes.append(rewritten)
        self.nodes.append(helper.make_node("QuantizeLinear", [rewritten.output[0], scale, zero],
                                           [out], name=f"{out}::quantize"))
        self.grids[out] = (scale, zero)

    @staticmethod
    def _attrs(node) -> dict:
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    # ---- operators -------------------------------------------------------------------------
    def _q_linear_conv(self, node):
        x, xs, xz, _, ws, _, ys, yz, *bias = list(node.input) + [""] * (9 - len(node.input))
        inputs = [self._float_input(x, xs, xz), self._weights(node, 3, 0)]
        if bias and bias[0]:
            inputs.append(self._bias(node, bias[0], xs, ws))
        self._emit(node, "Conv", inputs, ys, yz, **self._attrs(node))

    def _q_linear_mat_mul(self, node):
        a, as_, az, b, bs, bz, ys, yz = node.input
        right = (self._weights(node, 3, 1) if b in self.consts
                 else self._float_input(b, bs, bz))
        self._emit(node, "MatMul", [self._float_input(a, as_, az), right], ys, yz)

    def _q_gemm(self, node):
        names = list(node.input) + [""] * (9 - len(node.input))
        a, as_, az, _, bs, _, c, ys, yz = names
        attrs = self._attrs(node)
        inputs = [self._float_input(a, as_, az),
                  self._weights(node, 3, 0 if attrs.get("transB", 0) else 1)]
        if c:
            inputs.append(self._bias(node, c, as_, bs))
        self._emit(node, "Gemm", inputs, ys or None, yz or None,
                   **{k: v for k, v in attrs.items() if k in ("alpha", "transA", "transB")})

    def _q_linear_add(self, node):
        a, as_, az, b, bs, bz, cs, cz = node.input
        self._emit(node, "Add", [self._float_input(a, as_, az), self._float_input(b, bs, bz)],
                   cs, cz)

    def _q_linear_global_average_pool(self, node):
        if self._attrs(node).get("channels_last", 0):
            self._fail("channels_last=1 is not supported")
        x, xs, xz, ys, yz = node.input
        self._emit(node, "GlobalAveragePool", [self._float_input(x, xs, xz)], ys, yz)

    def _q_linear_concat(self, node):
        ys, yz, *triples = node.input
        inputs = [self._float_input(*triples[i:i + 3]) for i in range(0, len(triples), 3)]
        self._emit(node, "Concat", inputs, ys, yz, axis=self._attrs(node)["axis"])

    def _q_linear_sigmoid(self, node):
        x, xs, xz, ys, yz = node.input
        self._emit(node, "Sigmoid", [self._float_input(x, xs, xz)], ys, yz)

    def _q_linear_leaky_relu(self, node):
        x, xs, xz, ys, yz = node.input
        self._emit(node, "LeakyRelu", [self._float_input(x, xs, xz)], ys, yz,
                   alpha=self._attrs(node).get("alpha", 0.01))
