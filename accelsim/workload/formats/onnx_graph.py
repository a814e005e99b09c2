"""The graph walk behind :mod:`~accelsim.workload.formats.onnx_model`: ONNX nodes -> layers
and weights.

Each supported node either makes a layer (Conv, Gemm, MatMul, pools, Add of two tensors,
Concat, a BatchNormalization with nothing to fold into; LSTM and GRU the layers of their
unrolled steps, :mod:`.onnx_recurrent`), changes the layer it reads (a fused
Relu / Clip, a folded BatchNormalization or bias Add), or only renames a tensor (Flatten,
Reshape, Identity, Dropout; tokens and attention heads as views, :mod:`.onnx_views`). A
node may change its producer only when nothing else reads the producer's output (``Shape`` /
``Size`` read no values), so every layer's output stays one ONNX tensor.
:mod:`.onnx_preflight` checks the input and lists every node nothing handles; each node is
then offered to :mod:`.onnx_fold` first (shape arithmetic on constants).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import onnx
from onnx import helper, numpy_helper

from accelsim.errors import WorkloadError
from accelsim.workload.formats.onnx_fold import fold
from accelsim.workload.formats.onnx_ops import ACTIVATIONS, ELTWISE, ElementwiseHandlers
from accelsim.workload.formats.onnx_pool import PoolHandlers
from accelsim.workload.formats.onnx_preflight import (
    check_operators,
    graph_input,
    input_frames,
    value_readers,
)
from accelsim.workload.formats.onnx_rearrange import RearrangeHandlers
from accelsim.workload.formats.onnx_recurrent import RecurrentHandlers
from accelsim.workload.formats.onnx_views import ViewHandlers
from accelsim.workload.formats.onnx_volume import VolumeHandlers
from accelsim.workload.layer import LAYER_KINDS, Layer
from accelsim.workload.network import INPUT

HANDLERS = {  # ONNX operator -> GraphImporter method (element-wise ones: onnx_ops)
    "Conv": "_conv", "Gemm": "_gemm", "MatMul": "_mat_mul", "MaxPool": "_max_pool",
    "AveragePool": "_average_pool", "GlobalAveragePool": "_global_average_pool",
    "GlobalMaxPool": "_global_max_pool", "ReduceMean": "_reduce_mean", "Relu": "_relu",
    "Clip": "_clip", "Add": "_add", "BatchNormalization": "_batch_normalization",
    "Concat": "_concat", "Flatten": "_flatten", "Reshape": "_reshape", "Identity": "_identity",
    "Dropout": "_dropout", "Constant": "_constant", "PRelu": "_p_relu", "Softmax": "_softmax",
    "Split": "_split", "Slice": "_slice", "Transpose": "_transpose", "Resize": "_resize",
    "Upsample": "_resize", "ConvTranspose": "_conv_transpose",
    "QuantizeLinear": "_quantize_linear", "DequantizeLinear": "_dequantize_linear",
    "LayerNormalization": "_layer_normalization", "Pad": "_pad", "Gather": "_gather",
    "Squeeze": "_squeeze", "Unsqueeze": "_unsqueeze", "LSTM": "_lstm", "GRU": "_gru",
    **{op: "_act_node" for op in ACTIVATIONS}, **{op: "_eltwise_node" for op in ELTWISE},
}


@dataclass(frozen=True)
class _Value:
    """An ONNX tensor as our layers see it: the layer that produces it, its C x H x W shape,
    whether it is flattened, and the alias chain from the layer's output to it. ``groups``:
    the tensor is the 5-D view ``[1, g, C/g, H, W]`` of a channel shuffle (negative: after
    its Transpose), which only a Transpose or Reshape may read."""

    layer: str
    shape: tuple[int, int, int]
    flat: bool
    path: tuple[str, ...]
    groups: int = 0
    quant: tuple[float, int, int, int] | None = None
    """Set on a QuantizeLinear's output: the grid its DequantizeLinear must match."""
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    """Zeros a Pad node put around it (top, left, bottom, right), taken by the Conv that
    reads it (a 'valid' conv after an explicit padding, as TensorFlow exports write it)."""
    channels_last: bool = False
    """The ``[1, H, W, C]`` view of the feature map (a Transpose [0, 2, 3, 1]), or its
    ``[1, N, C]`` tokens: the same values, read by LayerNormalization, MatMul and
    element-wise operators on its last axis."""
    view: np.ndarray | None = field(default=None, compare=False)
    """Another ONNX shape of the map (tokens, attention heads): where each of its elements
    lives in the map (:mod:`.onnx_views`); None: ``[1, C, H, W]``, flat or ``[1, H, W, C]``."""


VIEW_READERS = frozenset({
    "Transpose", "Reshape", "Flatten", "MatMul", "Softmax", "ReduceMean", "Add", "Sub", "Mul",
    "Div", "Max", "Min", "Relu", "Clip", "Erf", "Gelu", "Sigmoid", "HardSigmoid", "HardSwish",
    "Tanh", "LeakyRelu", "Elu", "Identity", "Dropout", "Gather", "Squeeze", "Unsqueeze",
    "Split", "Slice", "LSTM", "GRU"})
"""Operators that read a view (tokens, heads: :mod:`.onnx_views`) of a feature map."""
LAST_AXIS_READERS = frozenset({"LayerNormalization", "PRelu", "Gemm"})
CHANNELS_LAST_READERS = VIEW_READERS | LAST_AXIS_READERS
"""Operators that read a channels-last view the way the feature map itself is laid out."""


class GraphImporter(ElementwiseHandlers, PoolHandlers, RearrangeHandlers, VolumeHandlers,
                    ViewHandlers, RecurrentHandlers):
    """Walks the graph once, in its (topological) node order."""

    def __init__(self, graph: onnx.GraphProto, origin: str, input_shape=None,
                 opset: int = 13):
        self.origin, self.graph, self.input_shape = origin, graph, input_shape
        self.opset = opset
        self.frames = {INPUT: input_frames(graph)}   # layer -> D of its clip output (0: image)
        self.consts = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.values: dict[str, _Value] = {}
        self.layers: dict[str, Layer] = {}
        self.weights: dict[str, np.ndarray] = {}
        self.biases: dict[str, np.ndarray] = {}
        self.tensor_names: dict[str, str] = {}
        self.channels_last_tensors: set[str] = set()
        self.tensor_views: dict[str, np.ndarray] = {}
        self.uses = value_readers(self.graph)
        self.node, self.index = None, 0

    def run(self) -> tuple[str, tuple[int, int, int]]:
        """Convert every node; returns the graph input's name and C x H x W shape."""
        check_operators(self.graph, HANDLERS, self.origin)
        input_name, shape, flat = self._graph_input()
        self.values[input_name] = _Value(INPUT, shape, flat, (input_name,))
        for index, node in enumerate(self.graph.node):
            self.node, self.index = node, index
            if not self._fold(node):
                getattr(self, HANDLERS[node.op_type])(node)
        if not self.layers:
            raise WorkloadError(f"{self.origin}: the model has no Conv, Gemm or pool node")
        for out in self.graph.output:   # a rearranged output would be our layer's, unsaid
            v = self.values.get(out.name)
            if v is not None and v.view is not None and not v.channels_last:
                raise WorkloadError(f"{self.origin}: graph output {out.name!r} is a "
                                    f"{list(v.view.shape)} view of a feature map; not supported")
        return input_name, shape

    # ---- helpers -------------------------------------------------------------------------
    def _fail(self, problem: str):
        node = self.node
        raise WorkloadError(f"{self.origin}: node {node.name or node.output[0]!r} "
                            f"({node.op_type}): {problem}")

    def _graph_input(self) -> tuple[str, tuple[int, int, int], bool]:
        """The input's name, C x H x W (symbolic dims from ``input_shape``, ``(C, H, W)`` or
        ``(K,)``) and flatness."""
        return graph_input(self.graph, self.origin, self.input_shape)

    def _fold(self, node) -> bool:
        """Store the node's outputs as constants if it folds (see onnx_fold); else False."""
        try:
            outputs = fold(node, self.consts, self._shape_of)
        except (ValueError, IndexError, TypeError) as err:
            self._fail(f"cannot fold it: {err}")
        self.consts.update(outputs or {})
        return outputs is not None

    def _shape_of(self, name: str) -> list[int] | None:
        """A feature map's ONNX shape, ``[1, C, H, W]`` or ``[1, K]``; None for others."""
        v = self.values.get(name)
        if v is None or v.flat:
            return None if v is None else [1, math.prod(v.shape)]
        if v.view is not None or v.channels_last:
            return list(self._index(v).shape)
        frames = self.frames_of(v)
        if frames:
            return [1, v.shape[0], frames, v.shape[1] // frames, v.shape[2]]
        top, left, bottom, right = v.pad   # a Pad's output is larger than its layer's
        return [1, v.shape[0], v.shape[1] + top + bottom, v.shape[2] + left + right]

    def _attrs(self, node) -> dict:
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def _value(self, node, index: int = 0) -> _Value:
        name = node.input[index]
        if name not in self.values:
            what = "a constant" if name in self.consts else "not produced by an earlier node"
            self._fail(f"input {name!r} is {what}; expected a feature map")
        value = self.values[name]
        if any(value.pad) and node.op_type not in ("Conv", "Pad"):
            self._fail(f"input {name!r} is zero-padded by a Pad node; only a Conv may read "
                       "it (the padding joins the conv's own)")
        if value.quant is not None and node.op_type != "DequantizeLinear":
            self._fail(f"input {name!r} is an int8 tensor (a QuantizeLinear's output); only a "
                       "DequantizeLinear or a QOperator node (QLinearConv, ...) may read it")
        if value.channels_last and node.op_type not in CHANNELS_LAST_READERS:
            self._fail(f"input {name!r} is a channels-last ([1, H, W, C]) view of a feature "
                       f"map; {node.op_type} of it is not supported")
        if value.view is not None and node.op_type not in CHANNELS_LAST_READERS - (
                set() if value.channels_last else LAST_AXIS_READERS):
            self._fail(f"input {name!r} is a {list(value.view.shape)} view of a feature map "
                       f"(tokens or attention heads); {node.op_type} of it is not supported")
        if value.groups and node.op_type not in ("Transpose", "Reshape"):
            self._fail(f"input {name!r} is a 5-D view of a feature map, supported only as "
                       "a channel shuffle (Reshape, Transpose [0, 2, 1, 3, 4], Reshape)")
        return value

    def _const(self, node, index: int, what: str, required: bool = True) -> np.ndarray | None:
        name = node.input[index] if index < len(node.input) else ""
        if not name:
            if required:
                self._fail(f"missing {what}")
            return None
        if name not in self.consts:
            self._fail(f"{what} ({name!r}) must be a constant initializer")
        return self.consts[name]

    def _layer_name(self, node, suffix: str = "") -> str:
        base = (node.name or f"{node.op_type.lower()}_{self.index}") + suffix
        name, suffix = base, 2
        while name in self.layers or name == INPUT:
            name, suffix = f"{base}_{suffix}", suffix + 1
        return name

    def _add_layer(self, node, layer_kwargs: dict, weights=None, bias=None,
                   flat: bool = False, output: int | None = 0, layout: dict | None = None
                   ) -> _Value:
        """A layer made by ``node``, producing its ``output``-th tensor (None: an internal
        layer with no ONNX tensor of its own, such as a transposed conv's zero insertion);
        ``layout``: its output's flat / channels_last / view (default: as its input's)."""
        name = self._layer_name(node, "" if output is not None else "_internal")
        try:
            layer = Layer(name=name, **layer_kwargs)
        except WorkloadError as err:
            self._fail(str(err).split(": ", 1)[-1])
        self.layers[name] = layer
        self.frames[name] = layer.out_frames if layer.depth else (
            0 if layer.kind == "fc" else self.frames.get(layer.inputs[0], 0))
        if weights is not None:
            self.weights[name] = np.ascontiguousarray(weights, dtype=np.float32)
            self.biases[name] = np.ascontiguousarray(bias, dtype=np.float32)
        layout = {"flat": flat, **(self._output_layout(node, layer.out_shape)
                                   if layout is None else layout)}
        if output is None:
            return _Value(name, layer.out_shape, path=(), **layout)
        value = _Value(name, layer.out_shape, path=(node.output[output],), **layout)
        self._produce(node.output[output], value)
        return value

    def _produce(self, tensor: str, value: _Value) -> None:
        self.values[tensor] = value
        if value.layer != INPUT:
            self.tensor_names[value.layer] = tensor
            if value.channels_last:
                self.channels_last_tensors.add(tensor)
            if value.view is not None:
                self.tensor_views[tensor] = value.view

    def _sole_reader(self, value: _Value) -> bool:
        """True when nothing but the current node reads the layer's output (or its aliases)."""
        return all(self.uses[t] == 1 for t in value.path)

    @staticmethod
    def _renamed(value: _Value, tensor: str) -> _Value:
        """``value`` as the (same-valued) output ``tensor`` of a node fused into its layer."""
        return replace(value, path=(tensor,))

    def _foldable(self, value: _Value) -> bool:
        """True when a per-channel affine step can fold into the producing conv / fc."""
        if value.layer == INPUT or not self._sole_reader(value):
            return False
        layer = self.layers[value.layer]
        return layer.has_weights and not layer.relu and layer.quant is None

    # ---- operators -----------------------------------------------------------------------
    def _conv(self, node):
        x, w = self._value(node), self._const(node, 1, "weights")
        if self.frames_of(x):
            return self._conv3d(node, x, w)
        if x.flat or w.ndim != 4:
            self._fail("only 2-D convolutions of feature maps are supported")
        a = self._attrs(node)
        w = _dilated(w, a.get("dilations", [1, 1]))
        kernel, stride = w.shape[2:], tuple(a.get("strides", [1, 1]))
        groups = int(a.get("group", 1))
        if w.shape[1] * groups != x.shape[0]:
            self._fail(f"weights {list(w.shape)} in {groups} groups do not fit "
                       f"{x.shape[0]} input channels")
        bias = self._const(node, 2, "bias", required=False)
        pads = self._pads(a, x.shape[1:], kernel, stride)
        if any(x.pad) and any(pads) and "auto_pad" in a:
            self._fail("a Pad before a Conv with auto_pad is not supported (give pads)")
        self._add_layer(node, dict(
            kind="conv", in_channels=x.shape[0], in_h=x.shape[1], in_w=x.shape[2],
            out_channels=w.shape[0], kernel_h=kernel[0], kernel_w=kernel[1], stride=stride,
            pad=tuple(p + q for p, q in zip(pads, x.pad, strict=True)), groups=groups,
            inputs=(x.layer,)), w, np.zeros(w.shape[0]) if bias is None else bias)

    def _pads(self, a: dict, size, kernel, stride) -> tuple[int, int, int, int]:
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("NOTSET", "VALID"):
            pads = a.get("pads", [0, 0, 0, 0]) if auto == "NOTSET" else [0, 0, 0, 0]
            return tuple(int(p) for p in pads)
        total = [max((math.ceil(n / s) - 1) * s + k - n, 0)
                 for n, k, s in zip(size, kernel, stride, strict=True)]
        first = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in total]
        return (first[0], first[1], total[0] - first[0], total[1] - first[1])

    def _gemm(self, node):
        a = self._attrs(node)
        if a.get("transA", 0):
            self._fail("transA=1 is not supported")
        b = self._const(node, 1, "weights")
        matrix = b if a.get("transB", 0) else b.T
        bias = self._const(node, 2, "bias", required=False)
        bias = 0.0 if bias is None else a.get("beta", 1.0) * bias
        if self._value(node).channels_last:   # [N, C] tokens: a 1x1 conv (onnx_views)
            return self._pointwise(node, a.get("alpha", 1.0) * matrix, bias)
        self._fc(node, a.get("alpha", 1.0) * matrix, bias)

    def _mat_mul(self, node):
        if node.input[1] not in self.consts:   # two activations: attention (onnx_views)
            return self._mat_mul_activations(node)
        x, w = self._value(node), self._const(node, 1, "weights (second input)")
        if not x.channels_last:
            return self._fc(node, w.T, 0.0)
        self._pointwise(node, w.T, 0.0)   # over the last axis of [1, H, W, C]: a 1x1 conv

    def _fc(self, node, matrix: np.ndarray, bias) -> None:
        x = self._value(node)
        c, h, w = x.shape
        if not (x.flat or h == w == 1) or matrix.ndim != 2 or matrix.shape[1] != c * h * w:
            self._fail(f"expects a flattened input of {c * h * w} values and a 2-D weight "
                       f"matrix; got input {'flat' if x.flat else 'C x H x W'} {list(x.shape)}"
                       f" and weights {list(matrix.shape)}")
        m = matrix.shape[0]
        bias = np.asarray(bias, dtype=np.float64)
        if bias.size not in (1, m):
            self._fail(f"bias of shape {list(bias.shape)} does not broadcast to {m} outputs")
        self._add_layer(node, dict(kind="fc", in_channels=c, in_h=h, in_w=w, out_channels=m,
                                   kernel_h=h, kernel_w=w, inputs=(x.layer,)),
                        matrix.reshape(m, c, h, w), np.broadcast_to(bias.ravel(), (m,)),
                        flat=True)

    def _concat(self, node):
        values = [self._value(node, i) for i in range(len(node.input))]
        if len(values) == 1:   # torch.cat([x]): the tensor itself
            return self._alias(node, flat=values[0].flat)
        if "concat" not in LAYER_KINDS or self._attrs(node).get("axis") not in (1, -3):
            self._fail("only channel concatenation (axis 1) of feature maps is supported")
        if any(v.flat for v in values):
            self._fail("concatenating flattened tensors is not supported")
        c, (h, w) = sum(v.shape[0] for v in values), values[0].shape[1:]
        self._add_layer(node, dict(kind="concat", in_channels=c, in_h=h, in_w=w,
                                   out_channels=c, inputs=tuple(v.layer for v in values)))

    def _flatten(self, node):
        x, axis = self._value(node), self._attrs(node).get("axis", 1)
        if self.frames_of(x) or (self._plain(x) and axis in (0, 1)):
            if axis not in (0, 1):
                self._fail("only Flatten with axis 1 (keep the batch) is supported")
            return self._alias(node, flat=True)
        self._flatten_view(node, x, axis)   # onnx_views

    def _reshape(self, node):
        x, target = self._value(node), self._const(node, 1, "shape").astype(np.int64)
        if self._shuffle_reshape(node, x, target.tolist()):
            return
        if x.groups:
            self._fail(f"reshape of a channel-shuffle view to {target.tolist()}")
        self._reshape_view(node, x, target.tolist())   # onnx_views

    def _identity(self, node):
        self._alias(node, flat=self._value(node).flat)

    def _dropout(self, node):
        if any(node.output[1:]):
            self._fail("the mask output is not supported")
        self._alias(node, flat=self._value(node).flat)

    def _constant(self, node):
        a = self._attrs(node)
        if "value" not in a and not any(k in a for k in ("value_float", "value_floats",
                                                             "value_int", "value_ints")):
            self._fail("only tensor or numeric constants are supported")
        value = a.get("value")
        value = numpy_helper.to_array(value) if value is not None else np.asarray(
            next(a[k] for k in ("value_float", "value_floats", "value_int", "value_ints")
                 if k in a))
        self.consts[node.output[0]] = value

    def _alias(self, node, flat: bool) -> None:
        x = self._value(node)
        self.values[node.output[0]] = replace(x, flat=flat, path=(*x.path, node.output[0]))


def _dilated(w: np.ndarray, dilations) -> np.ndarray:
    """A dilated kernel as the plain kernel it equals: zeros between the taps. Cores without
    a dilation mode run it so (a zero-skipping core skips the inserted zeros)."""
    dh, dw = (int(d) for d in dilations)
    if (dh, dw) == (1, 1):
        return w
    m, c, r, s = w.shape
    out = np.zeros((m, c, (r - 1) * dh + 1, (s - 1) * dw + 1), dtype=w.dtype)
    out[:, :, ::dh, ::dw] = w
    return out
