"""The precision transform: per-layer bits for activations and weights (Judd et al.'s
per-layer precision profiles; Stripes, MICRO 2016).

Weights named with bits are rounded now, per tensor, to the n-bit power-of-two grid of
:func:`~accelsim.workload.transforms.quantization.quantize_array` (exact in fixed16). The
activation bits are recorded in ``NetworkTensors.precision`` and applied where activations
exist: the layer loop and the float forward pass round each named layer's input just
before the layer reads it (:func:`accelsim.workload.precision.rounded_input`), so the bits
act on the values the simulated hardware itself produced. Cores read the bits from the
same record (a bit-serial core's time depends on them).

Options: ``profile`` (a ``precision_bits`` profile, :mod:`~accelsim.workload.transforms.
profiles`) or ``activations`` / ``weights``: bits for every conv and fc layer (an integer)
or ``{layer: bits}``. Later transforms override earlier ones layer by layer.
"""

from __future__ import annotations

from collections.abc import Mapping

from accelsim.errors import WorkloadError
from accelsim.workload.network import Network
from accelsim.workload.precision import LayerPrecision
from accelsim.workload.tensors import NetworkTensors, with_transform_note
from accelsim.workload.transforms.profiles import check_layer_names, load_profile, precision_bits
from accelsim.workload.transforms.quantization import quantize_array

OPERANDS = ("activations", "weights")


def apply_precision(network: Network, tensors: NetworkTensors,
                    options: Mapping) -> NetworkTensors:
    """The precision transform's options (see the module docstring) applied to ``tensors``."""
    if "profile" in options and any(key in options for key in OPERANDS):
        raise WorkloadError("give either 'profile' or 'activations' / 'weights', not both")
    if "profile" in options:
        profile = load_profile(options["profile"])
        if profile.quantity != "precision_bits":
            raise WorkloadError(f"profile {profile.origin} holds {profile.quantity}, this "
                                f"transform needs precision_bits")
        return set_precision(network, tensors, profile.layers, f"{profile.origin}: layers")
    if not any(key in options for key in OPERANDS):
        raise WorkloadError("give 'profile', 'activations' or 'weights'")
    per_layer: dict[str, dict[str, int]] = {}
    names = [layer.name for layer in network.layers if layer.has_weights]
    for operand in OPERANDS:
        value = options.get(operand)
        if value is None:
            continue
        targets = value if isinstance(value, Mapping) else dict.fromkeys(names, value)
        for name, bits in targets.items():
            per_layer.setdefault(str(name), {})[operand] = bits
    return set_precision(network, tensors, per_layer, "layers")


def set_precision(network: Network, tensors: NetworkTensors,
                  per_layer: Mapping[str, Mapping[str, int]], where: str) -> NetworkTensors:
    """Record ``{layer: {activations: n, weights: n}}`` and round the named weights;
    ``where`` names the mapping's origin in errors (a profile file and key)."""
    checked = precision_bits(per_layer, where)
    check_layer_names(checked, network, where)
    weights = dict(tensors.weights)
    precision = dict(tensors.precision)
    for name, bits in checked.items():
        if "weights" in bits:
            weights[name] = quantize_array(weights[name], bits["weights"])
        entry = LayerPrecision(bits.get("activations"), bits.get("weights"))
        precision[name] = precision.get(name, LayerPrecision()).merged(entry)
    changes = {"precision": precision}
    if any("weights" in bits for bits in checked.values()):
        changes["weights"] = weights
    return with_transform_note(tensors, f"precision({_summary(checked)})", **changes)


def _summary(checked: Mapping[str, Mapping[str, int]]) -> str:
    """``activations conv1 9, conv2 8; weights fc6 8`` (or one figure when all agree)."""
    parts = []
    for operand in OPERANDS:
        bits = {name: entry[operand] for name, entry in checked.items() if operand in entry}
        if not bits:
            continue
        values = set(bits.values())
        listed = (f"{values.pop()} bits, {len(bits)} layers" if len(values) == 1
                  else ", ".join(f"{name} {n}" for name, n in bits.items()))
        parts.append(f"{operand} {listed}")
    return "; ".join(parts)
