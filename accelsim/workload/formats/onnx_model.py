"""ONNX import: a model's graph becomes a Network, its initializers the layer weights.

Supported operators (default domain, any opset from 7): ``Conv`` (groups, strides, pads,
``auto_pad``; dilation 1), ``Gemm`` and ``MatMul`` on a flattened input (fc layers),
``MaxPool`` / ``AveragePool`` (``ceil_mode`` becomes extra bottom/right padding, which never
enters a window; ``count_include_pad`` only without padding), ``GlobalAveragePool`` /
``GlobalMaxPool``, ``Relu`` and ``Clip(0, max)`` (ReLU6) fused into their producer,
``Add`` (residual add of two tensors, or a constant bias folded into the preceding Conv /
Gemm / MatMul), ``BatchNormalization`` (folded into the preceding Conv or fc; elsewhere a
depthwise 1x1 conv), ``Concat`` on channels, and the layout-only ``Flatten``, flattening
``Reshape``, ``Identity``, ``Dropout`` and ``Constant``. Anything else is a WorkloadError
naming the node and its operator.

A layer is made per Conv / Gemm / MatMul / pool / Add / Concat node and named after it;
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
from accelsim.workload.network import Network
from accelsim.workload.tensors import Normalization

SUPPORTED_OPS = tuple(HANDLERS)


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


def import_onnx(path: str | Path) -> OnnxModel:
    """Read an ONNX file (cached per file version); arrays are shared, treat as read-only."""
    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"{path}: ONNX file not found")
    stat = path.stat()
    return _import_cached(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _import_cached(path: str, _mtime_ns: int, _size: int) -> OnnxModel:
    try:
        model = onnx.load(path)
    except Exception as err:  # protobuf raises its own DecodeError; onnx wraps others
        raise WorkloadError(f"{path}: not a readable ONNX model ({err})") from None
    graph = GraphImporter(model.graph, path)
    input_name, shape = graph.run()
    meta = {p.key: p.value for p in model.metadata_props}
    network = Network(name=model.graph.name or Path(path).stem, input_shape=shape,
                      layers=tuple(graph.layers.values()), source=_source(model, path),
                      origin=path)
    return OnnxModel(network, graph.weights, graph.biases, graph.tensor_names, input_name,
                     meta.get("accelsim.provenance", f"imported: {path}"),
                     _normalization(meta, path))


def _source(model: onnx.ModelProto, path: str) -> str:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), "?")
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
