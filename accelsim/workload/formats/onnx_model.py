"""ONNX import: a model's graph becomes a Network, its initializers the layer weights.

Supported operators (default domain, any opset from 7) and what each becomes:
:data:`~accelsim.workload.formats.onnx_support.OPERATORS` (the README's table is made from
it). Shape arithmetic on constants (``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` as
``x.view(x.size(0), -1)`` exports, ``Identity`` over initializers, ``Constant``,
``ConstantOfShape``, ``Cast``, ``Slice``, ``Range``, arithmetic, ...;
:data:`~accelsim.workload.formats.onnx_fold.FOLDABLE`) is folded into constants. Any other
node is unsupported: one WorkloadError lists every such operator with its count and first
node.

The input must be ``[N, C, H, W]`` or ``[N, K]`` with batch N 1 or symbolic (taken as 1).
Symbolic C / H / W / K dims (``dim_param`` such as ``"height"``) need the shape:
``import_onnx(path, input_shape=(3, 224, 224))`` (``--input-shape 3,224,224``); a given
shape must agree with the model's fixed dims. A network is named after its graph, or after
the file when the graph name is empty or an exporter's generic one (``main_graph``,
``torch-jit-export``, ``torch_jit``), so two exported models keep apart in comparisons.

A layer is made per node that computes (not per fused or folded one), named after it;
:attr:`OnnxModel.tensor_names` maps each layer to the ONNX tensor that holds the same values
(after any fused BatchNormalization, bias and activation), which is what the ONNX Runtime
check compares. Model metadata ``accelsim.provenance``, ``accelsim.input_mean`` and
``accelsim.input_std`` (comma-separated, pixels in [0, 1]) say how the weights were made and
how to normalise an image for the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnx

from accelsim.errors import WorkloadError
from accelsim.workload.formats.onnx_graph import HANDLERS, GraphImporter
from accelsim.workload.formats.onnx_preflight import check_operators, graph_input
from accelsim.workload.formats.onnx_qoperator import expand_qoperators
from accelsim.workload.network import Network
from accelsim.workload.tensors import Normalization

SUPPORTED_OPS = tuple(HANDLERS)
GENERIC_GRAPH_NAMES = ("main_graph", "torch-jit-export", "torch_jit")
"""Graph names exporters give every model (PyTorch); such a network is named after its file."""


@dataclass(frozen=True)
class OnnxModel:
    """An imported model: its network, its own weights and where each layer's output is."""

    network: Network
    weights: dict[str, np.ndarray]
    biases: dict[str, np.ndarray]
    tensor_names: dict[str, str]
    """Layer name -> the ONNX tensor holding that layer's output."""
    input_name: str
    provenance: str
    normalization: Normalization | None
    channels_last: frozenset[str] = frozenset()
    """ONNX tensors of ``tensor_names`` laid out ``[1, H, W, C]`` (ours are ``C x H x W``)."""
    views: dict[str, np.ndarray] = field(default_factory=dict, compare=False)
    """ONNX tensors of ``tensor_names`` in another shape (tokens, attention heads): each
    element's index in the layer's flattened ``C x H x W`` output."""


def import_onnx(path: str | Path, input_shape: tuple[int, ...] | None = None) -> OnnxModel:
    """Read an ONNX file (cached per file version and input shape); arrays are shared, treat
    as read-only. ``input_shape``: ``(C, H, W)``, or ``(K,)`` for a 2-D input, giving the
    input's symbolic dims (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"{path}: ONNX file not found")
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    given = None if input_shape is None else tuple(input_shape)
    try:   # keyed on the resolved shape: no shape and the model's own one share an import
        return _import_cached(*key, _resolved_shape(*key, given))
    finally:
        _read.cache_clear()   # the parsed file is needed only while importing


@lru_cache(maxsize=1)
def _read(path: str, _mtime_ns: int, _size: int) -> onnx.ModelProto:
    """The parsed file, kept while one import needs it twice (shape, then graph)."""
    try:
        model = onnx.load(path)
    except Exception as err:  # protobuf raises its own DecodeError; onnx wraps others
        raise WorkloadError(f"{path}: not a readable ONNX model ({err})") from None
    model = expand_qoperators(model, path)   # QLinearConv & co. as their QDQ equivalents
    _check_model(model, path)
    return model


def _check_model(model: onnx.ModelProto, path: str) -> None:
    """Refuse what ONNX itself refuses: an opset newer than this onnx knows, the checker's
    and strict shape inference's findings (run on the inferred model, so a graph output
    declared without a shape is not a problem), and the attribute rules they leave to
    runtimes (:func:`_attribute_problem`); one line naming the node. Unsupported operators
    are listed first: that listing says more than the checker about a custom domain."""
    check_operators(model.graph, SUPPORTED_OPS, path)
    opset, newest = _opset(model), onnx.defs.onnx_opset_version()
    if opset > newest:
        raise WorkloadError(f"{path}: opset {opset} is newer than any this onnx "
                            f"{onnx.__version__} knows (up to {newest})")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        inferred.graph.name = inferred.graph.name or "unnamed"   # named after the file here
        onnx.checker.check_model(inferred)
    except Exception as err:  # ValidationError, InferenceError, protobuf's own errors
        reason = " ".join(str(err).split()) or type(err).__name__
        raise WorkloadError(f"{path}: ONNX's checker refuses the model: {reason}") from None
    initializers = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        problem = _attribute_problem(node, initializers)
        if problem:
            raise WorkloadError(f"{path}: node {node.name or node.output[0]!r} "
                                f"({node.op_type}): {problem}")


_PADDED_OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool")


def _attribute_problem(node: onnx.NodeProto, initializers: dict) -> str | None:
    """ONNX's rules for padded operators that its checker does not test: ``pads`` only
    with ``auto_pad`` NOTSET, and a Conv's ``kernel_shape`` equal to its weights' shape."""
    if node.op_type not in _PADDED_OPS or node.domain not in ("", "ai.onnx"):
        return None
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if "pads" in attrs and auto_pad != "NOTSET":
        return f"pads {list(attrs['pads'])} and auto_pad {auto_pad} cannot be used together"
    is_conv = node.op_type.startswith("Conv") and len(node.input) > 1
    weights = initializers.get(node.input[1]) if is_conv else None
    if weights is not None and list(attrs.get("kernel_shape", weights.dims[2:])) != list(
            weights.dims[2:]):
        return (f"kernel_shape {list(attrs['kernel_shape'])} disagrees with the weights "
                f"{weights.name!r} of shape {list(weights.dims)}")
    return None


@lru_cache(maxsize=16)
def _resolved_shape(path: str, mtime_ns: int, size: int,
                    given: tuple | None) -> tuple[int, int, int]:
    """The input's C x H x W with ``given`` filling its symbolic dims: the import's cache key."""
    return graph_input(_read(path, mtime_ns, size).graph, path, given)[1]


@lru_cache(maxsize=4)
def _import_cached(path: str, mtime_ns: int, size: int,
                   shape: tuple[int, int, int]) -> OnnxModel:
    model = _read(path, mtime_ns, size)
    graph = GraphImporter(model.graph, path, shape, _opset(model))
    input_name, shape = graph.run()
    _check_finite(graph, model, path)
    meta = {p.key: p.value for p in model.metadata_props}
    name = model.graph.name
    network = Network(name=Path(path).stem if name in ("", *GENERIC_GRAPH_NAMES) else name,
                      input_shape=shape,
                      layers=tuple(graph.layers.values()), source=_source(model, path),
                      origin=path)
    return OnnxModel(network, graph.weights, graph.biases, graph.tensor_names, input_name,
                     meta.get("accelsim.provenance", f"imported: {path}"),
                     _normalization(meta, path), frozenset(graph.channels_last_tensors),
                     graph.tensor_views)


def _check_finite(graph: GraphImporter, model: onnx.ModelProto, path: str) -> None:
    """Every layer's weights and bias are finite; else one line naming the layer and the
    initializers (or Constant nodes) holding NaN or infinity, or saying folding made it."""
    for what, arrays in (("weights", graph.weights), ("biases", graph.biases)):
        for layer, array in arrays.items():
            if np.all(np.isfinite(array)):
                continue
            sources = [t.name for t in model.graph.initializer]
            sources += [out for node in model.graph.node if node.op_type == "Constant"
                        for out in node.output]
            bad = [name for name in sources if name in graph.consts and np.issubdtype(
                np.asarray(graph.consts[name]).dtype, np.floating)
                and not np.all(np.isfinite(graph.consts[name]))]
            origin = (f"NaN or infinity in {', '.join(repr(n) for n in bad)}" if bad else
                      "folding made them, e.g. a BatchNormalization variance below -epsilon")
            raise WorkloadError(f"{path}: layer {layer!r}: its {what} are not finite "
                                f"({origin})")


def _opset(model: onnx.ModelProto) -> int:
    """The default domain's opset (operators such as Softmax changed meaning with it)."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)


def _source(model: onnx.ModelProto, path: str) -> str:
    opset = _opset(model)
    doc = model.doc_string.strip().splitlines()
    producer = f"{model.producer_name} {model.producer_version}".strip()
    return (f"ONNX model {Path(path).name} (opset {opset}"
            f"{', from ' + producer if producer else ''})" + (f": {doc[0]}" if doc else ""))


def _normalization(meta: dict[str, str], origin: str) -> Normalization | None:
    if "accelsim.input_mean" not in meta:
        return None
    try:
        return Normalization(
            tuple(float(v) for v in meta["accelsim.input_mean"].split(",")),
            tuple(float(v) for v in meta["accelsim.input_std"].split(",")))
    except (KeyError, ValueError):
        raise WorkloadError(f"{origin}: metadata accelsim.input_mean / accelsim.input_std "
                            "must be comma-separated numbers") from None
