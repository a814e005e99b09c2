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

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnx

from accelsim.errors import WorkloadError
from accelsim.workload.formats.onnx_graph import HANDLERS, GraphImporter
from accelsim.workload.formats.onnx_preflight import graph_input
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
        return onnx.load(path)
    except Exception as err:  # protobuf raises its own DecodeError; onnx wraps others
        raise WorkloadError(f"{path}: not a readable ONNX model ({err})") from None


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
    meta = {p.key: p.value for p in model.metadata_props}
    name = model.graph.name
    network = Network(name=Path(path).stem if name in ("", *GENERIC_GRAPH_NAMES) else name,
                      input_shape=shape,
                      layers=tuple(graph.layers.values()), source=_source(model, path),
                      origin=path)
    return OnnxModel(network, graph.weights, graph.biases, graph.tensor_names, input_name,
                     meta.get("accelsim.provenance", f"imported: {path}"),
                     _normalization(meta, path))


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
