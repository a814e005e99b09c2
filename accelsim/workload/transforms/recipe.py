"""Sparsity and precision transforms, composable from Python, the command line and YAML.

Design: a transform is a pure function ``(network, tensors, **options) -> tensors``. None of
them changes a shape (a pruned weight stays in place as a zero, which is what a sparse core
must meet and a dense core still computes), so the Network passes through unchanged and
only the values that accompany it change. Each returns new :class:`NetworkTensors` (arrays
it did not touch are shared, never modified) and appends a line to
``provenance["transforms"]``, which every Result records. Transforms compose in order:

=====================  ==================================================================
kind                   options
=====================  ==================================================================
prune                  ``density`` (a fraction, or ``{layer: fraction}``) or ``profile``
                       (a ``weight_density`` profile); ``scope``: ``global`` (one
                       magnitude threshold over all layers, default) or ``layer``;
                       ``layers``: which layers (default: every conv and fc)
prune_groups           ``density`` or ``profile``; ``filters_per_group`` (default: all
                       filters of a conv group); ``layers`` (default: every conv)
prune_filters          ``density`` or ``profile``; ``layers`` (default: every conv)
activation_profile     ``profile`` (an ``input_zero_fraction`` profile) or ``zeros``
                       (``{layer: fraction}``)
quantize               ``bits`` (2-16); ``per_channel`` (default false); ``layers``
share                  ``values`` (codebook size a layer, default 16: 4-bit indices);
                       ``iterations`` (k-means steps, default 20); ``layers``
precision              ``profile`` (a ``precision_bits`` profile) or ``activations`` /
                       ``weights`` (bits, or ``{layer: bits}``): per-layer operand bits
                       (:mod:`~accelsim.workload.transforms.precision`)
binarize               ``mode``: ``weights`` (BinaryConnect / BWN: ``alpha * sign(W)``) or
                       ``xnor`` (XNOR-Net: weights and input activations, default);
                       ``layers`` (default: every conv and fc but the first and last, as
                       XNOR-Net; :mod:`~accelsim.workload.transforms.binarize`)
=====================  ==================================================================

On the command line: ``--transform prune:profile=alexnet_han2015`` (``KIND:KEY=VALUE,...``,
values read as YAML, e.g. ``layers=[conv1, conv2]``), repeatable. In YAML (``--transforms
FILE``)::

    version: 1
    transforms:
      - {kind: prune, profile: alexnet_han2015}
      - {kind: activation_profile, profile: alexnet_eyeriss2016}
      - {kind: quantize, bits: 8, per_channel: true}

Implementations (in this package): :mod:`~accelsim.workload.transforms.pruning`,
:mod:`~accelsim.workload.transforms.quantization`,
:mod:`~accelsim.workload.transforms.activations`,
:mod:`~accelsim.workload.transforms.sharing`; profiles:
:mod:`~accelsim.workload.transforms.profiles`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from accelsim.errors import WorkloadError, did_you_mean
from accelsim.files import parse_yaml_value, read_yaml
from accelsim.workload.network import Network
from accelsim.workload.tensors import NetworkTensors
from accelsim.workload.transforms.activations import impose_input_zeros
from accelsim.workload.transforms.binarize import binarize
from accelsim.workload.transforms.precision import apply_precision
from accelsim.workload.transforms.profiles import load_profile, shipped_profiles
from accelsim.workload.transforms.pruning import prune_filters, prune_groups, prune_magnitude
from accelsim.workload.transforms.quantization import quantize_weights
from accelsim.workload.transforms.sharing import ITERATIONS, share_weights

TRANSFORM_KEYS = {
    "prune": ("density", "profile", "scope", "layers"),
    "prune_groups": ("density", "profile", "filters_per_group", "layers"),
    "prune_filters": ("density", "profile", "layers"),
    "activation_profile": ("profile", "zeros"),
    "quantize": ("bits", "per_channel", "layers"),
    "share": ("values", "iterations", "layers"),
    "precision": ("profile", "activations", "weights"),
    "binarize": ("mode", "layers"),
}
"""Transform kind -> the options it takes (besides ``kind``)."""


def apply_transforms(network: Network, tensors: NetworkTensors,
                     specs: Sequence[Mapping[str, Any]],
                     where: str = "transforms") -> NetworkTensors:
    """Apply transform specs in order; errors name ``where`` and the spec's index."""
    for index, spec in enumerate(specs):
        tensors = apply_transform(network, tensors, spec, f"{where}[{index}]")
    return tensors


def apply_transform(network: Network, tensors: NetworkTensors, spec: Mapping[str, Any],
                    where: str = "transform") -> NetworkTensors:
    """Apply one spec ``{kind: ..., option: value}``; a profile's name (a shipped one) or
    file joins the provenance note."""
    kind, options = _checked(spec, where)
    result = _apply(network, tensors, kind, options, where)
    if "profile" not in options:
        return result
    profile = load_profile(options["profile"])
    done = tensors.provenance.get("transforms")
    notes = result.provenance["transforms"]
    note = notes[len(done) + 2:] if done else notes
    shipped = shipped_profiles().get(profile.name)
    label = profile.name if shipped and str(shipped) == profile.origin else profile.origin
    cited = f"{note} [profile {label}]"
    return replace(result, provenance={**result.provenance,
                                       "transforms": f"{done}; {cited}" if done else cited})


def _apply(network: Network, tensors: NetworkTensors, kind: str, options: dict,
           where: str) -> NetworkTensors:
    try:
        if kind == "quantize":
            return quantize_weights(network, tensors, options.get("bits"),
                                    per_channel=_flag(options, "per_channel", where),
                                    layers=_names(options, where))
        if kind == "share":
            return share_weights(network, tensors, options.get("values", 16),
                                 iterations=options.get("iterations", ITERATIONS),
                                 layers=_names(options, where))
        if kind == "binarize":
            return binarize(network, tensors, options.get("mode", "xnor"),
                            layers=_names(options, where))
        if kind == "precision":
            return apply_precision(network, tensors, options)
        if kind == "activation_profile":
            zeros = _fractions(options, "zeros", "input_zero_fraction", where)
            return impose_input_zeros(network, tensors, zeros, label=kind)
        density = _fractions(options, "density", "weight_density", where)
        if kind == "prune":
            return prune_magnitude(network, tensors, density,
                                   scope=options.get("scope", "global"),
                                   layers=_names(options, where))
        if kind == "prune_groups":
            return prune_groups(network, tensors, density,
                                filters_per_group=options.get("filters_per_group"),
                                layers=_names(options, where))
        return prune_filters(network, tensors, density, layers=_names(options, where))
    except WorkloadError as err:   # named once, whether the problem named it or not
        raise WorkloadError(f"{where} ({kind}): {str(err).removeprefix(where + ': ')}") \
            from None


def parse_transform(text: str) -> dict[str, Any]:
    """``KIND:KEY=VALUE,KEY=VALUE`` (values as YAML) -> a spec mapping."""
    kind, _, rest = text.partition(":")
    spec: dict[str, Any] = {"kind": kind.strip()}
    for item in _split_top_level(rest):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WorkloadError(f"--transform {text}: expected KIND:KEY=VALUE,..., got {item!r}")
        spec[key.strip()] = parse_yaml_value(value, f"--transform {text}: {key.strip()}",
                                             WorkloadError)
    return spec


def load_recipe(path: str | Path) -> list[dict[str, Any]]:
    """The transform list of a recipe YAML file (``version: 1``, ``transforms: [...]``)."""
    data, origin = read_yaml(Path(path), WorkloadError), str(path)
    if not isinstance(data, dict) or not isinstance(data.get("transforms"), list):
        raise WorkloadError(f"{origin}: expected a mapping with a 'transforms' list")
    for key in data:
        if key not in ("version", "transforms", "description"):
            raise WorkloadError(f"{origin}: unknown key {key!r}"
                                f"{did_you_mean(key, ('version', 'transforms', 'description'))}")
    if data.get("version", 1) != 1:
        raise WorkloadError(f"{origin}: version: only version 1 is supported")
    for index, spec in enumerate(data["transforms"]):
        _checked(spec, f"{origin}: transforms[{index}]")
    return list(data["transforms"])


def _checked(spec: Any, where: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise WorkloadError(f"{where}: expected a mapping with a 'kind' "
                            f"({', '.join(TRANSFORM_KEYS)})")
    kind = spec["kind"]
    if kind not in TRANSFORM_KEYS:
        raise WorkloadError(f"{where}.kind: unknown transform {kind!r}"
                            f"{did_you_mean(kind, tuple(TRANSFORM_KEYS), list_all=True)}")
    options = {k: v for k, v in spec.items() if k != "kind"}
    for key in options:
        if key not in TRANSFORM_KEYS[kind]:
            raise WorkloadError(f"{where}: {kind}: unknown option {key!r}"
                                f"{did_you_mean(key, TRANSFORM_KEYS[kind], list_all=True)}")
    return kind, options


def _fractions(options: dict, key: str, quantity: str, where: str):
    """The option ``key`` (a fraction or a mapping) or the named profile's layers."""
    if (key in options) == ("profile" in options):
        raise WorkloadError(f"{where}: give exactly one of {key!r} and 'profile'")
    if key in options:
        return options[key]
    profile = load_profile(options["profile"])
    if profile.quantity != quantity:
        raise WorkloadError(f"{where}: profile {profile.origin} holds {profile.quantity}, "
                            f"this transform needs {quantity}")
    return profile.layers


def _names(options: dict, where: str) -> list[str] | None:
    names = options.get("layers")
    if names is not None and not (isinstance(names, list)
                                  and all(isinstance(n, str) for n in names)):
        raise WorkloadError(f"{where}.layers: expected a list of layer names, got {names!r}")
    return names


def _flag(options: dict, key: str, where: str) -> bool:
    value = options.get(key, False)
    if not isinstance(value, bool):
        raise WorkloadError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets and braces."""
    items, depth, current = [], 0, []
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]
