"""Find a per-layer activation precision profile that keeps a network's output close to full
precision, the way Judd et al. found theirs ("Reduced-precision strategies for bounded
memory in deep neural nets", 2015; the profiles Stripes ran, MICRO 2016).

On the float32 forward pass (:mod:`accelsim.workload.forward`) of the tensors' own input:

1. per layer, alone: the fewest bits (1-16, by bisection, assuming fewer bits never help)
   for which the output still *holds*: the same top-1 class as full precision and a
   largest deviation within ``tolerance`` of the full-precision output's peak;
2. together: while the combined profile does not hold, every layer gets one more bit
   (Judd et al. searched the combination more finely; this keeps the search to a handful of
   passes and stops at 16 bits, where the output is the full-precision one).

Each trial reruns only the layers from the one it changes onwards (earlier outputs are
cached), so the search costs about ``layers x 5`` partial passes: quick on small networks,
minutes on VGG-16. One image decides; a profile meant for a data set should be checked on
more (``--input``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload.forward import activate, pre_activation
from accelsim.workload.network import INPUT, Network
from accelsim.workload.precision import DATAPATH_BITS, quantize_activations
from accelsim.workload.tensors import NetworkTensors
from accelsim.workload.transforms.profiles import check_layer_names


@dataclass(frozen=True)
class SearchResult:
    """The profile found, how far its output is from full precision and what it cost."""

    bits: dict[str, int]
    error: float
    """Largest output deviation / full-precision output peak, with every layer at ``bits``."""
    same_top1: bool
    evaluations: int


class _Trials:
    """Forward passes that reuse the full-precision outputs before the first changed layer."""

    def __init__(self, network: Network, tensors: NetworkTensors) -> None:
        self.network, self.tensors = network, tensors
        self.cache = {INPUT: tensors.input.astype(np.float32)}
        self.index = {layer.name: i for i, layer in enumerate(network.layers)}
        self.reference = self.run({})   # fills the cache with every full-precision output
        self.evaluations = 0

    def run(self, bits: dict[str, int]) -> np.ndarray:
        """The network's output with each named layer's input at its bits."""
        start = min((self.index[name] for name in bits), default=len(self.network.layers))
        values = dict(self.cache) if bits else self.cache
        for layer in self.network.layers[start:] if bits else self.network.layers:
            inputs = [quantize_activations(values[name], bits.get(layer.name))
                      for name in layer.inputs]
            values[layer.name] = activate(layer, pre_activation(
                layer, inputs, self.tensors.weights.get(layer.name),
                self.tensors.biases.get(layer.name)))
        return values[self.network.layers[-1].name]

    def holds(self, bits: dict[str, int], tolerance: float) -> tuple[bool, float, bool]:
        """Whether the output at ``bits`` holds, its relative error and top-1 agreement."""
        self.evaluations += 1
        out, ref = self.run(bits).astype(np.float64), self.reference.astype(np.float64)
        peak = float(np.max(np.abs(ref))) or 1.0
        error = float(np.max(np.abs(out - ref))) / peak
        same = int(np.argmax(out)) == int(np.argmax(ref))
        return same and error <= tolerance, error, same


def search_precision(network: Network, tensors: NetworkTensors, tolerance: float = 0.01,
                     layers: Sequence[str] | None = None) -> SearchResult:
    """The per-layer activation bits of the module docstring's search, for ``layers``
    (default: every conv and fc layer)."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not (
            0 <= tolerance < 1):
        raise WorkloadError(f"tolerance: expected a fraction in [0, 1), got {tolerance!r}")
    names = list(layers) if layers is not None else [
        layer.name for layer in network.layers if layer.has_weights]
    check_layer_names(dict.fromkeys(names, 0.0), network, "layers")
    trials = _Trials(network, tensors)
    bits = {name: _fewest_bits(trials, name, tolerance) for name in names}
    while True:
        ok, error, same = trials.holds(bits, tolerance)
        if ok or all(b == DATAPATH_BITS for b in bits.values()):
            return SearchResult(bits, error, same, trials.evaluations)
        bits = {name: min(b + 1, DATAPATH_BITS) for name, b in bits.items()}


def _fewest_bits(trials: _Trials, name: str, tolerance: float) -> int:
    low, high = 1, DATAPATH_BITS   # the answer is in [low, high]; 16 bits always holds
    while low < high:
        middle = (low + high) // 2
        if trials.holds({name: middle}, tolerance)[0]:
            high = middle
        else:
            low = middle + 1
    return high


def profile_yaml(result: SearchResult, network: Network, tolerance: float, source: str) -> str:
    """The result as a ``precision_bits`` profile file (for ``--transform
    precision:profile=FILE``)."""
    lines = ["version: 1", f"name: {network.name}_searched", "quantity: precision_bits",
             f"network: {network.name}", "source: >-",
             f"  accelsim precision-search, tolerance {tolerance:g} (same top-1, largest output "
             f"deviation within that fraction of the full-precision peak) on {source}; "
             f"combined error {result.error:.4g}, {result.evaluations} trials",
             "layers:"]
    lines += [f"  '{name}': {bits}" for name, bits in result.bits.items()]
    return "\n".join(lines) + "\n"
