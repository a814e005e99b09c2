"""Workloads: layer shapes, networks, their loaders and their real tensors.

A workload is a shipped name or a file: a network YAML (``.yaml``), an ONNX model
(``.onnx``, with its own weights) or a SCALE-Sim topology (``.csv``). ``layer`` and
``network`` are the shapes, ``tensors`` the values (seeded, imported or an input image),
``calibration`` the default values' recipe, ``weights_file`` trained weights for a network,
``stats`` what the cores are fed, ``forward`` a float reference pass; ``formats/`` reads the
files, ``transforms/`` changes values. May import errors, files and fixed point only: cores
and the simulator build on it.
"""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import AccelsimError
from accelsim.files import resolve, shipped
from accelsim.workload.formats.yaml_network import load_yaml_network, network_from_dict
from accelsim.workload.layer import Layer
from accelsim.workload.network import INPUT, Network
from accelsim.workload.tensors import (
    NetworkTensors,
    load_input,
    make_tensors,
    seeded_input,
    with_input,
)

__all__ = ["INPUT", "VALUES", "Layer", "Network", "NetworkTensors", "load_network",
           "load_tensors", "make_tensors"]

MODEL_SUFFIXES = (".onnx",)
"""Shipped workloads that are models (weights included) rather than network YAMLs."""


def load_network(name_or_path: str | Path,
                 input_shape: tuple[int, ...] | None = None, **options) -> Network:
    """A shipped network by name (``vgg16``, ``digits_cnn``) or a YAML, ONNX or CSV file.

    ``input_shape`` (``(C, H, W)``, or ``(K,)`` for a 2-D input) gives an ONNX model's
    symbolic input dims (``--input-shape C,H,W``); other workloads have fixed shapes.
    ``options`` build a family member (``load_network("mobilenet_v1", alpha=0.5,
    resolution=128)``, the same network as the name ``mobilenet_v1_050_128``; see
    :mod:`accelsim.workload.variants`).
    """
    if isinstance(name_or_path, Network):
        if not options:
            return name_or_path
        name_or_path = name_or_path.name     # options rebuild a family member by name
    path, name = Path(name_or_path), str(name_or_path)
    variant = _variant(name, options, input_shape)
    if variant is not None:
        return variant
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


def _variant(name: str, options: dict, input_shape) -> Network | None:
    """A family member named (``mobilenet_v1_050_128``) or asked for with options."""
    from accelsim.workload import variants

    parsed = variants.parse_variant(name) if not options else (
        name, variants.check_options(name, options))
    if parsed is None:
        return None
    if input_shape is not None:
        raise AccelsimError(f"{name}: an input shape can be given only for an ONNX model "
                            "(a MobileNet variant takes resolution=...)")
    data, origin = variants.variant_dict(*parsed)
    return network_from_dict(data, origin)


VALUES = ("calibrated", "synthetic")
"""Default values of a network without its own weights: ``calibrated`` (the recipe of
:mod:`accelsim.workload.calibration`) or ``synthetic`` (:func:`make_tensors`: He-normal
weights, zero biases)."""


def load_tensors(network: Network, seed: int = 0, input_from: str | Path | None = None,
                 values: str = "calibrated",
                 weights_from: str | Path | None = None) -> NetworkTensors:
    """The tensors a network runs with.

    Weights: an ONNX network's own (the file it was loaded from is ``network.origin``,
    re-imported with the network's input shape, so models with symbolic dims work too);
    else trained ones from ``weights_from`` (a ``.npz`` or ONNX file, checked by layer name
    and shape); else ``values``: ``calibrated`` (default) or ``synthetic``. Input:
    ``input_from`` (a ``.npy``, an image or ``sample:NAME``, normalised as the model's
    metadata says) or the seeded natural image.
    """
    if values not in VALUES:
        raise AccelsimError(f"values must be one of {', '.join(VALUES)}, got {values!r}")
    normalization = None
    onnx = Path(network.origin).suffix.lower() == ".onnx"
    if onnx and weights_from is not None:
        raise AccelsimError(f"--weights {weights_from}: {network.origin} is an ONNX model "
                            "and runs with its own weights")
    if onnx:
        from accelsim.workload.formats.onnx_model import import_onnx

        model = import_onnx(network.origin, network.input_shape)
        _check_weights(network, model.weights)
        tensors = NetworkTensors(
            input=seeded_input(network.input_shape, seed), weights=model.weights,
            biases=model.biases,
            provenance={"weights": model.provenance, "biases": model.provenance,
                        "input": f"natural-image(seed={seed})"})
        normalization = model.normalization
    elif weights_from is not None:
        from accelsim.workload.weights_file import load_weights_file

        weights, biases, note = load_weights_file(weights_from, network)
        tensors = NetworkTensors(input=seeded_input(network.input_shape, seed),
                                 weights=weights, biases=biases,
                                 provenance={"weights": note, "biases": note,
                                             "input": f"natural-image(seed={seed})"})
    elif values == "calibrated":
        from accelsim.workload.calibration import calibrated_tensors

        tensors = calibrated_tensors(network, seed)
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
