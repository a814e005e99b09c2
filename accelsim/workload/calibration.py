"""Calibrated default values: tensors whose activations follow published measurements.

With no trained weights at hand, every network without its own (a zoo or YAML network, a
topology row) runs on values made by one recipe, ``workloads/calibration/default.yaml``:

* weights from a Laplace distribution with He variance (:func:`laplace_weights`): peaked
  at zero with the heavy tails of trained filters (the recipe file cites the source);
* the seeded natural image as input (:func:`accelsim.workload.tensors.seeded_input`);
* biases set, in network order on a float32 forward pass of that image, so the activations
  each ReLU layer's consumers read have a target zero fraction: the layer's biases move per
  output channel by ``t * sigma`` (:func:`accelsim.workload.transforms.activations.
  zero_shift`), so zeros are where its own pre-activations are lowest, in spatial runs.

Targets are per-layer input-zero fractions from the published profiles the recipe names for
a network (``workloads/profiles/``), or else the depth profile: at relative depth ``r`` the
mean of those published profiles interpolated at ``r``. Targets are activation statistics,
never cycles or speedups. Same network and seed: bit-identical tensors (cached per process).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from accelsim.errors import WorkloadError, did_you_mean
from accelsim.files import data_dir, read_yaml, resolve
from accelsim.workload.formats.yaml_network import load_yaml_network
from accelsim.workload.layer import Layer
from accelsim.workload.network import INPUT, Network
from accelsim.workload.tensors import NetworkTensors, layer_rng, seeded_input
from accelsim.workload.transforms.activations import BiasShift, shift_biases
from accelsim.workload.transforms.profiles import load_profile

_KEYS = ("version", "name", "description", "networks", "depth_profile")
_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 2
"""Networks whose calibrated tensors a process keeps (VGG-16's weigh 550 MB)."""


@dataclass(frozen=True)
class Recipe:
    """Which published profiles give which network's targets, and which make the depth
    profile every other network follows."""

    name: str
    origin: str
    networks: dict[str, tuple[str, ...]]
    depth_from: tuple[str, ...]


@dataclass(frozen=True)
class Unit:
    """A layer whose ReLU output is calibrated: ``control``'s biases move (the layer itself,
    or for a residual add the conv feeding it); ``chain`` are the pools after it, whose
    output ``read_by`` reads; ``depth``: weighted layers on the longest path to it."""

    layer: str
    control: str
    chain: tuple[str, ...]
    read_by: tuple[str, ...]
    depth: int
    label: str
    """The layer whose input this is, or ``<layer> out`` (several readers, or a reader of
    several inputs)."""


@cache
def load_recipe(path: str | None = None) -> Recipe:
    """The shipped recipe (``workloads/calibration/default.yaml``) or a recipe file."""
    where = Path(path) if path else data_dir("workloads") / "calibration" / "default.yaml"
    data = read_yaml(where, WorkloadError)
    if not isinstance(data, dict):
        raise WorkloadError(f"{where}: expected a mapping with keys {', '.join(_KEYS)}")
    for key in data:
        if key not in _KEYS:
            raise WorkloadError(f"{where}: unknown key {key!r}{did_you_mean(key, _KEYS)}")
    networks = data.get("networks") or {}
    if not isinstance(networks, dict) or not all(
            isinstance(v, list) and all(isinstance(p, str) for p in v) for v in networks.values()):
        raise WorkloadError(f"{where}: networks: expected network -> list of profile names")
    depth = data.get("depth_profile")
    if not isinstance(depth, list) or not depth or any(n not in networks for n in depth):
        raise WorkloadError(f"{where}: depth_profile: expected a list of networks named "
                            "under networks")
    return Recipe(str(data.get("name", where.stem)), str(where),
                  {str(k): tuple(v) for k, v in networks.items()}, tuple(depth))


def laplace_weights(layer: Layer, rng: np.random.Generator) -> np.ndarray:
    """Laplace weights with He variance: scale ``b = sqrt(1 / fan_in)`` (variance ``2 b**2 =
    2 / fan_in``), so activations keep their scale through ReLU layers as He-normal's do."""
    shape = layer.weight_shape
    count = int(np.prod(shape))
    weights = rng.standard_exponential(shape, dtype=np.float32)
    weights *= np.float32(np.sqrt(1.0 / max(int(np.prod(shape[1:])), 1)))
    signs = np.unpackbits(np.frombuffer(rng.bytes((count + 7) // 8), dtype=np.uint8),
                          count=count).reshape(shape).astype(bool)
    np.negative(weights, out=weights, where=signs)
    return weights


def depths(network: Network) -> dict[str, int]:
    """Layer -> weighted layers on the longest path from the input to it (itself included)."""
    depth: dict[str, int] = {INPUT: 0}
    for layer in network.layers:
        before = max(depth[name] for name in layer.inputs)
        depth[layer.name] = before + (1 if layer.has_weights else 0)
    return depth


def relative_depth(unit: Unit, network: Network) -> float:
    """``unit.depth`` over the network's depth minus one (the last layer's input is at 1)."""
    return min(unit.depth / max(max(depths(network).values()) - 1, 1), 1.0)


def units(network: Network) -> list[Unit]:
    """Every layer whose zeros the recipe can set, in network order."""
    depth = depths(network)
    found = []
    for layer in network.layers:
        control = _control(network, layer)
        if control is None:
            continue
        chain, point = [], layer.name
        while len(nexts := network.consumers(point)) == 1 and (
                network.layer(nexts[0]).kind in ("pool", "pool3d")):
            point = nexts[0]
            chain.append(point)
        readers = tuple(network.consumers(point))
        alone = len(readers) == 1 and len(network.layer(readers[0]).inputs) == 1
        found.append(Unit(layer.name, control, tuple(chain), readers, depth[layer.name],
                          readers[0] if alone else f"{layer.name} out"))
    return found


def _control(network: Network, layer: Layer) -> str | None:
    """The layer whose biases set ``layer``'s ReLU output, or None."""
    if not layer.relu or layer.quant is not None:
        return None
    if layer.has_weights:
        return layer.name
    if layer.kind == "add":
        for name in layer.inputs:
            if name != INPUT and network.layer(name).has_weights and not (
                    network.layer(name).relu) and network.consumers(name) == [layer.name]:
                return name
    return None


def named_targets(network: Network, recipe: Recipe) -> tuple[dict[str, float], list[str]]:
    """Unit layer -> target from the network's published profiles (first profile wins), and
    the profiles used; empty if the recipe names none for it or it lacks one of their layers."""
    names = recipe.networks.get(network.name, ())
    merged: dict[str, float] = {}
    layer_names = {layer.name for layer in network.layers}
    for name in names:
        profile = load_profile(name)
        if profile.quantity != "input_zero_fraction":
            raise WorkloadError(f"{recipe.origin}: profile {name!r} is a {profile.quantity} "
                                "profile; calibration needs input_zero_fraction")
        if not set(profile.layers) <= layer_names:
            return {}, []
        merged = {**profile.layers, **merged}
    targets = {}
    for unit in units(network):
        hit = next((merged[name] for name in unit.read_by if name in merged), None)
        if hit is not None:
            targets[unit.layer] = hit
    return targets, list(names) if targets else []


@cache
def depth_points(origin: str | None = None) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per depth-profile network, its (relative depth, target) points, sorted by depth."""
    recipe = load_recipe(origin)
    curves = []
    for name in recipe.depth_from:
        network = load_yaml_network(resolve("workloads", name, "workload"))
        targets, _ = named_targets(network, recipe)
        points = sorted((relative_depth(u, network), targets[u.layer])
                        for u in units(network) if u.layer in targets)
        curves.append((np.array([p[0] for p in points]), np.array([p[1] for p in points])))
    return tuple(curves)


def depth_target(at: float, origin: str | None = None) -> float:
    """The depth profile at relative depth ``at`` (0..1): the mean of the curves."""
    return float(np.mean([np.interp(at, r, z) for r, z in depth_points(origin)]))


def targets(network: Network, recipe: Recipe) -> tuple[dict[str, float], str]:
    """Unit layer -> zero-fraction target, and where the targets come from."""
    found = units(network)
    named, profiles = named_targets(network, recipe)
    result = {u.layer: named.get(u.layer, depth_target(relative_depth(u, network),
                                                       recipe.origin)) for u in found}
    depth = (f"depth profile (mean of {', '.join(recipe.depth_from)}'s profiles by relative "
             "depth)")
    if not profiles:
        return result, depth
    rest = " and the depth profile for the others" if len(named) < len(found) else ""
    return result, f"profiles {', '.join(profiles)}{rest}"


def calibrated_tensors(network: Network, seed: int = 0) -> NetworkTensors:
    """The recipe's tensors for ``network`` (cached per process; treat them as read-only)."""
    key = (network.name, tuple(network.input_shape), network.layers, seed)
    if key not in _CACHE:
        _CACHE[key] = _calibrate(network, seed, load_recipe())
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _CACHE[key]


def _calibrate(network: Network, seed: int, recipe: Recipe) -> NetworkTensors:
    image = seeded_input(network.input_shape, seed)
    weights = {layer.name: laplace_weights(layer, layer_rng(seed, layer.name))
               for layer in network.layers if layer.has_weights}
    biases = {name: np.zeros(network.layer(name).out_channels, dtype=np.float32)
              for name in weights}
    goals, source = targets(network, recipe)
    plan = {unit.layer: BiasShift(unit.label, unit.control,
                                  tuple(network.layer(name) for name in unit.chain),
                                  goals[unit.layer]) for unit in units(network)}
    biases, achieved = shift_biases(network, image, weights, biases, plan)
    table = ", ".join(f"{step.label} {100 * step.target:.1f}/{100 * achieved[step.label]:.1f}"
                      for step in plan.values())
    provenance = {
        "weights": f"laplace-he(seed={seed})",
        "biases": "calibrated (see calibration)" if achieved else "zeros",
        "input": f"natural-image(seed={seed})",
        "calibration": (f"recipe {recipe.name} ({Path(recipe.origin).name}): {source}, on "
                        f"natural-image(seed={seed}); zeros read by each layer, target/achieved "
                        f"% (float32): {table or 'no ReLU layer to calibrate'}"),
    }
    return NetworkTensors(input=image, weights=weights, biases=biases, provenance=provenance)
