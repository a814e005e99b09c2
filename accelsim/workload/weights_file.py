"""Trained weights attached to a network that has none (``--weights FILE``).

A ``.npz`` holds ``<layer>.weight`` (or ``<layer>``) arrays of the layer's weight shape
``(M, C/G, R, S)`` (``(M, K)`` flattened is accepted for fc layers) and optional
``<layer>.bias`` of shape ``(M,)``; an ONNX model gives the weights of its own layers, which
must carry the network's layer names. Every weighted layer must be present with its exact
shape and every array must belong to a layer: a mismatch is one line naming the file, the
key or layer, and both shapes. Trained values are used as they are (no calibration).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from accelsim.errors import WorkloadError, did_you_mean
from accelsim.workload.network import Network


def load_weights_file(path: str | Path, network: Network
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], str]:
    """Weights and biases of ``network``'s layers from ``path``, and a provenance line."""
    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"{path}: weights file not found")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = _npz(path)
    elif suffix == ".onnx":
        arrays = _onnx(path)
    else:
        raise WorkloadError(f"{path}: weights must be a .npz archive or an .onnx model")
    weights, biases = _match(path, network, arrays)
    missing = [name for name in weights if name not in biases]
    for name in missing:
        biases[name] = np.zeros(network.layer(name).out_channels, dtype=np.float32)
    note = f"; zero biases for {len(missing)} layers without one" if missing else ""
    return weights, biases, f"trained: {path}{note}"


def _npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError) as err:
        raise WorkloadError(f"{path}: not a readable .npz archive ({err})") from None


def _onnx(path: Path) -> dict[str, np.ndarray]:
    from accelsim.workload.formats.onnx_model import import_onnx

    model = import_onnx(path)
    arrays = {f"{name}.weight": w for name, w in model.weights.items()}
    arrays.update({f"{name}.bias": b for name, b in model.biases.items()})
    return arrays


def _match(path: Path, network: Network, arrays: dict[str, np.ndarray]):
    layers = {layer.name: layer for layer in network.layers if layer.has_weights}
    weights: dict[str, np.ndarray] = {}
    biases: dict[str, np.ndarray] = {}
    for key, array in arrays.items():
        name, _, part = key.rpartition(".") if key.endswith((".weight", ".bias")) else (
            key, "", "weight")
        if name not in layers:
            raise WorkloadError(f"{path}: {key!r} names no weighted layer of network "
                                f"{network.name!r}{did_you_mean(name, list(layers))}")
        layer = layers[name]
        shape = layer.weight_shape if part == "weight" else (layer.out_channels,)
        if part == "weight" and layer.kind == "fc" and array.shape == (
                shape[0], int(np.prod(shape[1:]))):
            array = array.reshape(shape)
        if tuple(array.shape) != tuple(shape) or not np.issubdtype(array.dtype, np.floating):
            raise WorkloadError(f"{path}: {key!r}: layer {name!r} needs a float array of "
                                f"shape {list(shape)}, got {array.dtype} {list(array.shape)}")
        target = weights if part == "weight" else biases
        if name in target:
            raise WorkloadError(f"{path}: layer {name!r} has two {part} arrays")
        target[name] = np.ascontiguousarray(array, dtype=np.float32)
    for name, layer in layers.items():
        if name not in weights:
            raise WorkloadError(f"{path}: no weights for layer {name!r} (expected "
                                f"'{name}.weight' of shape {list(layer.weight_shape)})")
    return weights, biases
