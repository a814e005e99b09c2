"""Published per-layer sparsity profiles: ``workloads/profiles/<name>.yaml`` or any file.

::

    version: 1
    name: alexnet_han2015
    quantity: weight_density        # or input_zero_fraction
    network: alexnet                # the shipped network whose layer names it uses
    source: Han et al., NIPS 2015, Table 4
    layers: {conv1: 0.84, conv2: 0.38, fc6: 0.09}

``weight_density`` is the fraction of a layer's weights kept (pruning targets);
``input_zero_fraction`` the fraction of zeros in a layer's input activations (the
activation-profile transform); ``precision_bits`` the bits of a layer's input activations
and weights (the precision transform): ``conv1: 9`` (activations) or ``conv1: {activations:
9, weights: 8}``, integers from 1 (weights: 2) to the 16-bit datapath. Layers a profile does
not name are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import WorkloadError, did_you_mean
from accelsim.files import data_dir, read_yaml
from accelsim.workload.network import Network
from accelsim.workload.precision import DATAPATH_BITS

QUANTITIES = ("weight_density", "input_zero_fraction", "precision_bits")
_KEYS = ("version", "name", "quantity", "network", "source", "layers")


@dataclass(frozen=True)
class Profile:
    """A per-layer figure from a paper, by layer name."""

    name: str
    quantity: str
    layers: dict[str, float] | dict[str, dict[str, int]]
    """Layer -> fraction; for ``precision_bits``, layer -> ``{activations: n, weights: n}``."""
    source: str
    origin: str


def shipped_profiles() -> dict[str, Path]:
    folder = data_dir("workloads") / "profiles"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (``alexnet_han2015``) or a profile YAML file."""
    if not isinstance(name_or_path, str | Path):
        raise WorkloadError(f"profile: expected a profile name or file path, got "
                            f"{name_or_path!r}")
    path = Path(name_or_path)
    known = shipped_profiles()
    if not path.suffix and str(name_or_path) in known:
        path = known[str(name_or_path)]
    elif not path.is_file():
        raise WorkloadError(f"{name_or_path}: unknown profile; shipped ones are "
                            f"{', '.join(known) or 'none'}, or give a file path")
    data, origin = read_yaml(path, WorkloadError), str(path)
    if not isinstance(data, dict):
        raise WorkloadError(f"{origin}: expected a mapping with keys {', '.join(_KEYS)}")
    for key in data:
        if key not in _KEYS:
            raise WorkloadError(f"{origin}: unknown key {key!r}{did_you_mean(key, _KEYS)}")
    if data.get("quantity") not in QUANTITIES:
        raise WorkloadError(f"{origin}: quantity: expected one of {', '.join(QUANTITIES)}, "
                            f"got {data.get('quantity')!r}")
    layers = data.get("layers")
    if not isinstance(layers, dict) or not layers:
        raise WorkloadError(f"{origin}: layers: expected a mapping of layer name -> fraction")
    checked = (precision_bits(layers, f"{origin}: layers") if data["quantity"] == "precision_bits"
               else fractions(layers, f"{origin}: layers"))
    return Profile(str(data.get("name") or path.stem), data["quantity"], checked,
                   str(data.get("source", "")), origin)


def fractions(values: Mapping, where: str) -> dict[str, float]:
    """Check a layer -> fraction mapping: string keys, numbers in [0, 1]."""
    checked = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0.0 <= value <= 1.0):
            raise WorkloadError(f"{where}.{name}: expected a fraction in [0, 1], got {value!r}")
        checked[str(name)] = float(value)
    return checked


BIT_RANGES = {"activations": (1, DATAPATH_BITS), "weights": (2, DATAPATH_BITS)}
"""Operand -> the bits a precision may give it (1-bit weights: the binarize transform)."""


def precision_bits(values: Mapping, where: str) -> dict[str, dict[str, int]]:
    """Check a layer -> bits mapping (``n`` for the activations, or ``{activations: n,
    weights: n}``): integers in :data:`BIT_RANGES`."""
    checked = {}
    for name, value in values.items():
        entry = value if isinstance(value, Mapping) else {"activations": value}
        if not entry:
            raise WorkloadError(f"{where}.{name}: expected bits or {{activations: n, weights: n}}")
        for operand, bits in entry.items():
            if operand not in BIT_RANGES:
                raise WorkloadError(f"{where}.{name}: unknown key {operand!r}"
                                    f"{did_you_mean(operand, tuple(BIT_RANGES), list_all=True)}")
            low, high = BIT_RANGES[operand]
            if isinstance(bits, bool) or not isinstance(bits, int) or not low <= bits <= high:
                key = f"{where}.{name}" + (f".{operand}" if isinstance(value, Mapping) else "")
                raise WorkloadError(f"{key}: expected an integer number of {operand} bits in "
                                    f"[{low}, {high}] (the datapath is {DATAPATH_BITS} bits), "
                                    f"got {bits!r}")
        checked[str(name)] = {operand: int(bits) for operand, bits in entry.items()}
    return checked


def check_layer_names(targets: Mapping[str, float], network: Network, where: str,
                      kinds: tuple[str, ...] = ("conv", "fc")) -> None:
    """Every named layer exists in ``network`` and is of one of ``kinds``."""
    names = [layer.name for layer in network.layers]
    for name in targets:
        if name not in names:
            raise WorkloadError(f"{where}: layer {name!r} is not in network "
                                f"{network.name!r}{did_you_mean(name, names)}")
        kind = network.layer(name).kind
        if kind not in kinds:
            raise WorkloadError(f"{where}: layer {name!r} is a {kind} layer; expected "
                                f"{' or '.join(kinds)}")
