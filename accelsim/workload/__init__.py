"""Workloads: layer shapes, networks, their loaders and their real tensors.

A workload is a shipped name or a file: a network YAML (``.yaml``), an ONNX model
(``.onnx``, with its own weights) or a SCALE-Sim topology (``.csv``). ``layer`` and
``network`` are the shapes, ``tensors`` the values (seeded, imported or an input image),
``forward`` a float reference pass; ``formats/`` reads the files, ``transforms/`` changes
values. May import errors, files and fixed point only: cores and the simulator build on it.
"""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import AccelsimError
from accelsim.files import resolve, shipped
from accelsim.workload.formats.yaml_network import load_yaml_network
from accelsim.workload.layer import Layer
from accelsim.workload.network import INPUT, Network
from accelsim.workload.tensors import (
    NetworkTensors,
    load_input,
    make_tensors,
    seeded_input,
    with_input,
)

__all__ = ["INPUT", "Layer", "Network", "NetworkTensors", "load_network", "load_tensors",
           "make_tensors"]

MODEL_SUFFIXES = (".onnx",)
"""Shipped workloads that are models (weights included) rather than network YAMLs."""


def load_network(name_or_path: str | Path,
                 input_shape: tuple[int, ...] | None = None) -> Network:
    """A shipped network by name (``vgg16``, ``digits_cnn``) or a YAML, ONNX or CSV file.

    ``input_shape`` (``(C, H, W)``, or ``(K,)`` for a 2-D input) gives an ONNX model's
    symbolic input dims (``--input-shape C,H,W``); other workloads have fixed shapes.
    """
    if isinstance(name_or_path, Network):
        return name_or_path
    path, name = Path(name_or_path), str(name_or_path)
    models = shipped("workloads", MODEL_SUFFIXES)
    if not path.suffix and name in models and name not in shipped("workloads"):
        path = models[name]
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from accelsim.workload.formats.onnx_model import import_onnx

        return import_onnx(path, input_shape).network
    if input_shape is not None:
        raise AccelsimError(f"{name_or_path}: an input shape can be given only for an ONNX "
                            "model (other workloads fix their input shape)")
    if suffix == ".csv":
        from accelsim.workload.formats.topology_csv import load_topology_csv

        if not path.is_file():
            raise AccelsimError(f"{path}: workload file not found")
        return load_topology_csv(path)   # one row; more rows are several networks
    return load_yaml_network(resolve("workloads", name_or_path, "workload"))


def load_tensors(network: Network, seed: int = 0,
                 input_from: str | Path | None = None) -> NetworkTensors:
    """The tensors a network runs with.

    Weights: an ONNX network's own (the file it was loaded from is ``network.origin``,
    re-imported with the network's input shape, so models with symbolic dims work too),
    otherwise seeded He-normal ones. Input: ``input_from`` (a ``.npy``, an image or
    ``sample:NAME``, normalised as the model's metadata says) or the seeded natural image.
    """
    normalization = None
    if Path(network.origin).suffix.lower() == ".onnx":
        from accelsim.workload.formats.onnx_model import import_onnx

        model = import_onnx(network.origin, network.input_shape)
        _check_weights(network, model.weights)
        tensors = NetworkTensors(
            input=seeded_input(network.input_shape, seed), weights=model.weights,
            biases=model.biases,
            provenance={"weights": model.provenance, "biases": model.provenance,
                        "input": f"natural-image(seed={seed})"})
        normalization = model.normalization
    else:
        tensors = make_tensors(network, seed)
    if input_from is not None:
        array, description = load_input(input_from, network.input_shape, normalization)
        tensors = with_input(tensors, array, description)
    return tensors


def _check_weights(network: Network, weights: dict) -> None:
    for layer in network.layers:
        if layer.has_weights and getattr(weights.get(layer.name), "shape",
                                         None) != layer.weight_shape:
            raise AccelsimError(f"{network.origin}: layer {layer.name!r} has no weights of "
                                f"shape {layer.weight_shape} in the model")
