"""Checks the ONNX importer makes before walking a graph: its input and its operators.

:func:`graph_input` turns the graph input's declared dims into the network's ``C x H x W``:
a symbolic batch dim (``dim_param`` such as ``"batch"``, or no value at all) becomes 1, and
symbolic C / H / W (or K) dims take their size from the shape the user gives
(``import_onnx(path, input_shape=(3, 224, 224))``, ``--input-shape C,H,W``); a given shape
must agree with every fixed dim. :func:`check_operators` lists every node the importer
cannot take, at once, so a user sees the whole gap of a model and not only its first node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from numbers import Integral

import onnx

from accelsim.errors import WorkloadError
from accelsim.workload.formats.onnx_fold import FOLDABLE, SHAPE_READERS

_FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
_DEFAULT_DOMAINS = ("", "ai.onnx")


def graph_input(graph: onnx.GraphProto, origin: str, given: Sequence[int] | None = None
                ) -> tuple[str, tuple[int, int, int], bool]:
    """The feature-map input's name, ``C x H x W`` (``(K, 1, 1)`` for a 2-D input) and
    whether it is flat.

    ``given`` is ``(C, H, W)``, or ``(K,)`` for a 2-D input (``(K, 1, 1)`` also, which is the
    form :attr:`Network.input_shape` has); it fills symbolic dims and must equal fixed ones.
    """
    constants = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]   # old exporters list both
    if len(inputs) != 1:
        raise WorkloadError(f"{origin}: expected one graph input, got "
                            f"{[i.name for i in inputs]}")
    shape, flat = _input_shape(inputs[0], origin, given)
    return inputs[0].name, shape, flat


def _input_shape(info: onnx.ValueInfoProto, origin: str,
                 given: Sequence[int] | None) -> tuple[tuple[int, int, int], bool]:
    """Check the input's element type, rank and batch, then size its dims (:func:`_sizes`)."""
    tensor, where = info.type.tensor_type, f"{origin}: input {info.name!r}"
    if tensor.elem_type not in _FLOAT_TYPES:
        raise WorkloadError(f"{where}: element type must be a float type")
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in tensor.shape.dim]
    if len(dims) not in (2, 4, 5):
        raise WorkloadError(f"{where}: expected shape [1, C, H, W], [1, C, D, H, W] (a "
                            f"clip) or [1, K], got {dims}")
    if isinstance(dims[0], int) and dims[0] != 1:
        raise WorkloadError(f"{where}: batch dim is {dims[0]}; only batch 1 (or a symbolic "
                            "batch, taken as 1) is supported")
    if len(dims) == 5:   # a clip: its D frames stacked along H, as 3-D layers read them
        if not all(isinstance(d, int) for d in dims[1:]):
            raise WorkloadError(f"{where}: a clip's C, D, H, W must be fixed, got {dims}")
        c, d, h, w = dims[1:]
        if given is not None and tuple(given) != (c, d * h, w):
            raise WorkloadError(f"{where}: the clip is fixed at C, D, H, W = {c}, {d}, {h}, "
                                f"{w}; an input shape cannot change it")
        return (c, d * h, w), False
    sizes = _sizes(dims, where, given)
    return ((sizes[0], 1, 1), True) if len(sizes) == 1 else (tuple(sizes), False)


def input_frames(graph: onnx.GraphProto) -> int:
    """D of a clip input ``[1, C, D, H, W]``; 0 for an image or vector input."""
    constants = {t.name for t in graph.initializer}
    info = next(i for i in graph.input if i.name not in constants)
    dims = info.type.tensor_type.shape.dim
    return dims[2].dim_value if len(dims) == 5 else 0


def _sizes(dims: list, where: str, given: Sequence[int] | None) -> list[int]:
    """The non-batch dims, symbolic ones taken from ``given``."""
    flag = "K" if len(dims) == 2 else "C,H,W"
    if given is None:
        for index, dim in enumerate(dims[1:], start=1):
            if not isinstance(dim, int):
                name = "unnamed" if dim is None else repr(dim)
                raise WorkloadError(f"{where} dim {index} ({name}) is symbolic, not fixed: "
                                    f"give the input shape (--input-shape {flag})")
        return dims[1:]
    given = list(given)
    if len(dims) == 2 and len(given) == 3 and given[1:] == [1, 1]:
        given = given[:1]
    if len(given) != len(dims) - 1 or not all(_is_size(v) for v in given):
        raise WorkloadError(f"{where}: input shape {tuple(given)} does not fit a rank-"
                            f"{len(dims)} input: give {flag} as positive integers")
    for index, (dim, size) in enumerate(zip(dims[1:], given, strict=True), start=1):
        if isinstance(dim, int) and dim != size:
            raise WorkloadError(f"{where} dim {index} is fixed at {dim} in the model, but "
                                f"the given input shape {tuple(given)} says {size}")
    return [int(v) for v in given]


def value_readers(graph: onnx.GraphProto) -> Counter:
    """How many nodes (and graph outputs) read each tensor's values; ``Shape`` and ``Size``
    read only its shape, so they do not count (a layer read by one may still be fused)."""
    readers = Counter(name for node in graph.node if node.op_type not in SHAPE_READERS
                      for name in node.input if name)
    readers.update(output.name for output in graph.output)
    return readers


def _is_size(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value > 0


def check_operators(graph: onnx.GraphProto, handled: Iterable[str], origin: str) -> None:
    """Raise one WorkloadError naming every node that neither folds nor has a handler.

    Folding is traced the way the walk does it: a foldable node folds when its inputs are
    constants (initializers or outputs of folded nodes), ``Shape`` / ``Size`` always; a
    foldable operator with no handler is unsupported when it reads a feature map.
    """
    handled = list(handled)
    constants = {t.name for t in graph.initializer}
    unsupported: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        default = node.domain in _DEFAULT_DOMAINS
        if default and node.op_type in FOLDABLE and (node.op_type in SHAPE_READERS or all(
                name in constants for name in node.input if name)):
            constants.update(node.output)
        elif not (default and node.op_type in handled):
            unsupported.setdefault(_label(node), []).append(node)
    if not unsupported:
        return
    supported = (f"supported: {', '.join(handled)}; folded when their inputs are constants: "
                 f"{', '.join(sorted(FOLDABLE))}")
    if sum(len(nodes) for nodes in unsupported.values()) == 1:
        ((node,),) = unsupported.values()
        where = " on feature maps" if _label(node) != _op(node) else ""
        raise WorkloadError(f"{origin}: node {_name(node)!r} ({node.op_type}): operator "
                            f"{_op(node)!r} is not supported{where} ({supported})")
    listing = ", ".join(f"{label} (x{len(nodes)}, first {_name(nodes[0])!r})"
                        for label, nodes in unsupported.items())
    count = len(unsupported)
    raise WorkloadError(f"{origin}: {count} unsupported operator{'s' * (count > 1)}: "
                        f"{listing}; {supported}")


def _op(node: onnx.NodeProto) -> str:
    """The operator, with its domain when that is not the default one."""
    return node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}:{node.op_type}"


def _label(node: onnx.NodeProto) -> str:
    """The operator as the listing groups it: a foldable one apart when it reads feature maps."""
    on_maps = node.domain in _DEFAULT_DOMAINS and node.op_type in FOLDABLE
    return f"{node.op_type} on feature maps" if on_maps else _op(node)


def _name(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)
