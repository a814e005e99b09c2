"""Constant folding for the ONNX importer: the shape arithmetic exporters write, evaluated.

PyTorch, Paddle and TensorFlow exporters surround the layers with small subgraphs on
constants: ``x.view(x.size(0), -1)`` becomes ``Shape -> Gather -> Unsqueeze -> Concat ->
Reshape``, weights sit behind ``Identity`` nodes, bounds come from ``Constant ->
ConstantOfShape -> Cast -> Slice`` chains. None of that is a layer: :func:`fold` evaluates such
a node with numpy when every input is a constant (``Shape`` / ``Size`` also when the input is
a feature map of known shape), and the importer stores the results as constants.

Each operator is one small function following the ONNX operator spec for opsets 7 to 21,
including the forms that moved from attributes to inputs (``Slice`` at 10, ``Clip`` at 11,
``Squeeze`` / ``Unsqueeze`` at 13; a node carrying the attribute uses it). Nothing from the
file is executed: the only code that runs is the numpy below. Outputs that would be larger
than :data:`MAX_ELEMENTS` are refused, so a hostile shape cannot exhaust memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import reduce

import numpy as np
import onnx
from onnx import helper, numpy_helper

MAX_ELEMENTS = 1 << 26
"""Largest constant a fold may create (64 Mi elements)."""

SHAPE_READERS = frozenset({"Shape", "Size"})
"""Operators that read only the shape of their input, so they fold on feature maps too."""


class FoldError(ValueError):
    """A foldable node whose constant inputs or attributes break the operator's rules."""


def fold(node: onnx.NodeProto, consts: Mapping[str, np.ndarray],
         shape_of: Callable[[str], list[int] | None]) -> dict[str, np.ndarray] | None:
    """The node's outputs by name when it folds, else None (the node is left to a handler).

    A node folds when its operator is in :data:`FOLDABLE` (default domain) and every input is
    in ``consts``; for ``Shape`` / ``Size`` an input that ``shape_of`` knows (a feature map,
    ``[1, C, H, W]`` or ``[1, K]``) also does, and an input it does not know is an error.
    Raises :class:`FoldError` (or numpy's ValueError / IndexError / TypeError) when the
    constants do not fit the operator.
    """
    if node.domain not in ("", "ai.onnx") or node.op_type not in _FOLDERS:
        return None
    inputs: list[np.ndarray | None] = []
    for name in node.input:
        if not name:
            inputs.append(None)   # an omitted optional input
        elif name in consts:
            inputs.append(np.asarray(consts[name]))
        elif node.op_type in SHAPE_READERS:   # the shape only: a view of one zero, no data
            if (shape := shape_of(name)) is None:
                raise FoldError(f"input {name!r} is neither a constant nor a feature map "
                                "made by an earlier node")
            inputs.append(np.broadcast_to(np.float32(0), tuple(shape)))
        else:
            return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    outputs = _FOLDERS[node.op_type](inputs, attrs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return {name: np.asarray(value) for name, value in zip(node.output, outputs, strict=False)
            if name}


# ---- helpers -------------------------------------------------------------------------------

def _ints(value) -> list[int] | None:
    """A 1-D integer input or attribute as Python ints (None stays None)."""
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def _input(inputs: list, index: int):
    return inputs[index] if index < len(inputs) else None


def _attr_or_input(attrs: dict, key: str, inputs: list, index: int) -> list[int] | None:
    """``key`` as an attribute (older opsets) or as input ``index`` (newer ones)."""
    return _ints(attrs[key]) if key in attrs else _ints(_input(inputs, index))


def _checked(shape) -> tuple[int, ...]:
    """``shape`` as a tuple, if it is a valid shape no larger than MAX_ELEMENTS."""
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise FoldError(f"negative dimension in shape {list(shape)}")
    if math.prod(shape) > MAX_ELEMENTS:
        raise FoldError(f"a constant of shape {list(shape)} is larger than the "
                        f"{MAX_ELEMENTS} elements folding allows")
    return shape


def _np_dtype(onnx_type: int) -> np.dtype:
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(onnx_type))
    if dtype.kind not in "biuf":
        raise FoldError(f"element type {onnx.TensorProto.DataType.Name(onnx_type)} does not "
                        "fold (only bool, integer and float types)")
    return dtype


# ---- sources and layout --------------------------------------------------------------------

def _constant(inputs, attrs):
    """``Constant``: a tensor, or one of the numeric ``value_*`` forms (opset 12)."""
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    raise FoldError(f"Constant with {sorted(attrs)} does not fold (only tensors and numbers)")


def _constant_of_shape(inputs, attrs):
    value = attrs.get("value")
    value = numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
    return np.full(_checked(_ints(inputs[0])), value.reshape(-1)[0], dtype=value.dtype)


def _shape(inputs, attrs):
    """``Shape`` (``start`` / ``end`` from opset 15 slice the dims, clamped)."""
    return np.array(inputs[0].shape[attrs.get("start", 0):attrs.get("end")], dtype=np.int64)


def _size(inputs, attrs):
    return np.array(inputs[0].size, dtype=np.int64)


def _cast(inputs, attrs):
    return inputs[0].astype(_np_dtype(attrs["to"]))


def _cast_like(inputs, attrs):
    return inputs[0].astype(inputs[1].dtype)


def _gather(inputs, attrs):
    """``Gather``: ``np.take``, which also counts negative indices from the end."""
    return np.take(inputs[0], inputs[1].astype(np.int64), axis=attrs.get("axis", 0))


def _slice(inputs, attrs):
    """``Slice``: attributes ``starts`` / ``ends`` / ``axes`` up to opset 9, inputs from 10."""
    data = inputs[0]
    if "starts" in attrs:
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    else:
        starts, ends, axes, steps = (_ints(_input(inputs, i)) for i in range(1, 5))
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if 0 in steps:
        raise FoldError("Slice step 0")
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        # ONNX's bounds are Python's: negatives count from the end, then clamp to [0, dim]
        # ([-1, dim - 1] stepping backwards); Python ints do not overflow at INT64_MIN.
        index[axis] = slice(int(start), int(end), int(step))
    return data[tuple(index)]


def _concat(inputs, attrs):
    return np.concatenate(inputs, axis=attrs["axis"])


def _unsqueeze(inputs, attrs):
    """``Unsqueeze``: ``axes`` an attribute up to opset 12, an input from 13; negative axes
    count in the output's rank."""
    axes = _attr_or_input(attrs, "axes", inputs, 1)
    if axes is None:
        raise FoldError("Unsqueeze without axes")
    return np.expand_dims(inputs[0], tuple(axes))


def _squeeze(inputs, attrs):
    """``Squeeze``: ``axes`` as for Unsqueeze; none removes every dim of size 1."""
    axes = _attr_or_input(attrs, "axes", inputs, 1)
    return np.squeeze(inputs[0], axis=None if axes is None else tuple(axes))


def _reshape(inputs, attrs):
    """``Reshape``: 0 copies the input's dim (unless ``allowzero``), -1 is inferred."""
    data, shape = inputs[0], _ints(inputs[1])
    if not attrs.get("allowzero", 0):
        shape = [data.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return data.reshape(shape)


def _flatten(inputs, attrs):
    data = inputs[0]
    axis = attrs.get("axis", 1)
    axis = axis + data.ndim if axis < 0 else axis
    return data.reshape(math.prod(data.shape[:axis]), math.prod(data.shape[axis:]))


def _transpose(inputs, attrs):
    return np.transpose(inputs[0], attrs.get("perm"))


def _expand(inputs, attrs):
    """``Expand``: broadcasting both ways (a dim of 1 in the shape keeps the input's)."""
    shape = np.broadcast_shapes(inputs[0].shape, tuple(_ints(inputs[1])))
    return np.broadcast_to(inputs[0], _checked(shape)).copy()


def _tile(inputs, attrs):
    data, repeats = inputs[0], _ints(inputs[1])
    _checked(d * r for d, r in zip(data.shape, repeats, strict=True))
    return np.tile(data, repeats)


def _range(inputs, attrs):
    start, limit, delta = (v.reshape(()) for v in inputs)
    if delta == 0:
        raise FoldError("Range with delta 0")
    _checked([max(math.ceil((float(limit) - float(start)) / float(delta)), 0)])
    return np.arange(start, limit, delta, dtype=start.dtype)


# ---- arithmetic ----------------------------------------------------------------------------

def _same_type(fn):
    """An element-wise numpy function whose result keeps the first input's element type."""
    return lambda inputs, attrs: np.asarray(fn(*inputs)).astype(inputs[0].dtype, copy=False)


def _boolean(fn):
    return lambda inputs, attrs: np.asarray(fn(*inputs), dtype=bool)


def _div(a, b):
    """Integer ``Div`` truncates towards zero (C semantics), unlike numpy's floor division."""
    if a.dtype.kind not in "iu":
        return a / b
    if np.any(b == 0):
        raise FoldError("integer division by zero")
    return np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))


def _pow(a, b):
    return np.power(a.astype(np.float64), b.astype(np.float64))


def _clip(inputs, attrs):
    """``Clip``: bounds are attributes up to opset 10, optional inputs from 11."""
    data = inputs[0]
    low, high = (attrs.get(key) if key in attrs else _input(inputs, index)
                 for index, key in ((1, "min"), (2, "max")))
    if low is not None:
        data = np.maximum(data, np.asarray(low).astype(data.dtype))
    if high is not None:
        data = np.minimum(data, np.asarray(high).astype(data.dtype))
    return data


def _variadic(fn):
    return lambda inputs, attrs: reduce(fn, inputs).astype(inputs[0].dtype, copy=False)


def _along_axis(value: np.ndarray, x: np.ndarray, attrs: dict) -> np.ndarray:
    """A per-tensor (scalar) or per-axis (1-D, along ``axis``) quantization parameter,
    shaped to broadcast against ``x``."""
    if value.size == 1 or value.ndim == 0:
        return value.reshape(())
    axis = int(attrs.get("axis", 1)) % x.ndim
    shape = [1] * x.ndim
    shape[axis] = value.size
    return value.reshape(shape)


def _dequantize(inputs, attrs):
    x, scale, zero = inputs[0], inputs[1], _input(inputs, 2)
    zero = np.zeros((), x.dtype) if zero is None else zero
    if "block_size" in attrs and attrs["block_size"]:
        raise FoldError("blocked dequantization is not supported")
    values = x.astype(np.float64) - _along_axis(zero, x, attrs).astype(np.float64)
    return (values * _along_axis(scale, x, attrs)).astype(scale.dtype)


def _quantize(inputs, attrs):
    x, scale, zero = inputs[0], inputs[1], _input(inputs, 2)
    zero = np.zeros((), np.uint8) if zero is None else zero
    info = np.iinfo(zero.dtype)
    q = np.rint(x.astype(np.float64) / _along_axis(scale, x, attrs)) + _along_axis(
        zero, x, attrs)
    return np.clip(q, info.min, info.max).astype(zero.dtype)


_FOLDERS: dict[str, Callable[[list, dict], np.ndarray | tuple]] = {
    "Identity": lambda inputs, attrs: inputs[0], "Constant": _constant,
    "ConstantOfShape": _constant_of_shape, "Shape": _shape, "Size": _size, "Cast": _cast,
    "CastLike": _cast_like, "Gather": _gather, "Slice": _slice, "Concat": _concat,
    "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Reshape": _reshape, "Flatten": _flatten,
    "Transpose": _transpose, "Expand": _expand, "Tile": _tile, "Range": _range,
    "Add": _same_type(np.add), "Sub": _same_type(np.subtract),
    "Mul": _same_type(np.multiply), "Div": _same_type(_div), "Pow": _same_type(_pow),
    "Neg": _same_type(np.negative), "Abs": _same_type(np.abs),
    "Floor": _same_type(np.floor), "Ceil": _same_type(np.ceil),
    "Sqrt": _same_type(np.sqrt), "Reciprocal": _same_type(np.reciprocal),
    "Min": _variadic(np.minimum), "Max": _variadic(np.maximum), "Clip": _clip,
    "Equal": _boolean(np.equal), "Less": _boolean(np.less),
    "Greater": _boolean(np.greater), "LessOrEqual": _boolean(np.less_equal),
    "GreaterOrEqual": _boolean(np.greater_equal), "Not": _boolean(np.logical_not),
    "And": _boolean(np.logical_and), "Or": _boolean(np.logical_or),
    "Where": lambda inputs, attrs: np.where(*inputs),
    "DequantizeLinear": _dequantize, "QuantizeLinear": _quantize,
}

FOLDABLE = frozenset(_FOLDERS)
"""Operators :func:`fold` evaluates when their inputs are constants."""
