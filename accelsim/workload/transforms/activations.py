"""Imposing an activation-sparsity profile when no trained model is at hand.

Targets are zero fractions of some layers' inputs, e.g. the AlexNet profile Eyeriss
measured (Chen et al., JSSC 2017: 38.7 / 72.5 / 79.3 / 77.6 % zeros into conv2-5). For each
target, the conv or fc layer with a fused ReLU that feeds it (directly or through pooling
layers) gets its biases shifted until the target's input has that zero fraction: output
channel ``m`` moves by ``t * sigma_m`` (``sigma_m``: the channel's pre-activation deviation
on this input), with ``t`` a quantile of the normalized pre-activations (max pooling
commutes with the shift; average pooling is solved by bisection; values tied at the
threshold, as all-zero windows make, are split by whole channels). Zeros therefore appear
where the layer's own pre-activations are lowest, so they are spatially clustered the way
feature maps are (not i.i.d.), pass through the real pooling in between, and every later
layer computes on exactly these activations. Layers are calibrated in network order on a
float32 forward pass (:mod:`accelsim.workload.forward`) of the tensors' own input; the
simulated hardware then reproduces the fractions (fixed16 rounding moves them by a small
fraction of a point).

Only biases change; the function is pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload.forward import activate, pre_activation
from accelsim.workload.layer import LAYER_KINDS, Layer
from accelsim.workload.network import INPUT, Network
from accelsim.workload.tensors import NetworkTensors, with_transform_note
from accelsim.workload.transforms.profiles import check_layer_names, fractions

_BISECTION_STEPS = 60


def impose_input_zeros(network: Network, tensors: NetworkTensors,
                       zero_fraction: Mapping[str, float],
                       label: str = "activation_profile") -> NetworkTensors:
    """Shift biases so each named layer's input has the given zero fraction."""
    if not isinstance(zero_fraction, Mapping):
        raise WorkloadError(f"{label}: expected a mapping layer -> input zero fraction, got "
                            f"{zero_fraction!r}")
    targets = fractions(zero_fraction, label)
    check_layer_names(targets, network, "zeros", kinds=LAYER_KINDS)
    plan = {layer: BiasShift(target_name, layer, tuple(chain), targets[target_name])
            for layer, (target_name, chain) in _plan(network, targets, label).items()}
    biases, achieved = shift_biases(network, tensors.input, tensors.weights, tensors.biases,
                                    plan)
    note = ", ".join(f"{name} {targets[name]:.1%} (float: {achieved[name]:.1%})"
                     for name in targets)
    return with_transform_note(tensors, f"{label}(input zeros {note}; biases shifted)",
                               biases=biases)


@dataclass(frozen=True)
class BiasShift:
    """At one layer's pre-activations: shift the biases of ``control`` (the layer itself, or
    the conv feeding a residual add) so the activations read through ``chain`` (pools) have
    ``target`` zeros; ``label`` names the result."""

    label: str
    control: str
    chain: tuple[Layer, ...]
    target: float


def shift_biases(network: Network, image: np.ndarray, weights: Mapping, biases: Mapping,
                 plan: Mapping[str, BiasShift]) -> tuple[dict, dict[str, float]]:
    """One float32 forward pass of ``image`` that applies ``plan`` (layer -> shift) in network
    order, so each layer sees the activations the earlier shifts made; returns the new
    biases and, per label, the zero fraction reached. Shared by the activation-profile
    transform and the calibrated default values."""
    biases = dict(biases)
    values = {INPUT: image.astype(np.float32)}
    achieved, last_use = {}, network.last_use()
    for index, layer in enumerate(network.layers):
        if len(achieved) == len(plan):
            break
        pre = pre_activation(layer, [values[name] for name in layer.inputs],
                             weights.get(layer.name), biases.get(layer.name))
        step = plan.get(layer.name)
        if step is not None:
            shift, achieved[step.label] = zero_shift(layer, pre, list(step.chain), step.target)
            pre = pre + _column(shift, pre)
            biases[step.control] = (biases[step.control] + shift).astype(np.float32)
        values[layer.name] = activate(layer, pre)
        for name in layer.inputs:
            if last_use.get(name) == index:
                values.pop(name, None)
    return biases, achieved


def _plan(network: Network, targets: dict[str, float],
          label: str) -> dict[str, tuple[str, list[Layer]]]:
    """Layer whose biases move -> (target layer, pooling layers between them)."""
    plan: dict[str, tuple[str, list[Layer]]] = {}
    for name in targets:
        source, chain = network.layer(name).inputs[0], []
        while source != INPUT and network.layer(source).kind == "pool":
            chain.insert(0, network.layer(source))
            source = chain[0].inputs[0]
        if source == INPUT:
            raise WorkloadError(f"{label}: layer {name!r} reads the network input (through "
                                "pooling at most), whose zeros no layer controls")
        producer = network.layer(source)
        if not (producer.has_weights and producer.relu):
            raise WorkloadError(f"{label}: layer {name!r} is fed by {source!r}, a "
                                f"{producer.kind} layer{'' if producer.relu else ' without ReLU'}"
                                "; only a conv or fc layer with a fused ReLU can be calibrated")
        if source in plan:
            raise WorkloadError(f"{label}: layers {plan[source][0]!r} and {name!r} are both fed "
                                f"by {source!r}; give a target for one of them")
        plan[source] = (name, chain)
    return plan


def zero_shift(layer: Layer, pre: np.ndarray, chain: list[Layer],
               target: float) -> tuple[np.ndarray, float]:
    """Per-channel bias shift ``t * sigma`` giving ``target`` zeros after ``layer``'s ReLU and
    the pooling ``chain``; and the zero fraction reached (they move in steps: the closest).

    ``sigma`` is each channel's pre-activation deviation. With max pooling only, ``t`` is a
    quantile of the normalized (pooled) pre-activations: a max pool commutes with the shift
    and the ReLU. Average pooling is solved by bisection.
    """
    sigma = pre.reshape(pre.shape[0], -1).std(axis=1)
    fallback = float(pre.std()) or 1.0
    sigma = np.where(sigma > 0, sigma, fallback).astype(np.float32)
    if layer.relu_max is None and layer.quant is None and all(
            p.pool_op == "max" and not p.relu and p.quant is None for p in chain):
        t = _quantile_shift(layer, pre, sigma, chain, target)
    else:
        t = np.full(sigma.shape, _bisection_shift(layer, pre, sigma, chain, target))
    shift = (t.astype(np.float32) * sigma).astype(np.float32)
    return shift, _zeros_after(layer, pre + _column(shift, pre), chain)


def _column(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    return values.reshape((-1,) + (1,) * (like.ndim - 1))


def _zeros_after(layer: Layer, pre: np.ndarray, chain: list[Layer]) -> float:
    x = activate(layer, pre)
    for pool in chain:
        x = activate(pool, pre_activation(pool, [x], None, None))
    return float(np.count_nonzero(x == 0) / x.size) if x.size else 0.0


def _quantile_shift(layer: Layer, pre: np.ndarray, sigma: np.ndarray, chain: list[Layer],
                    target: float) -> np.ndarray:
    """Per-channel ``t`` between the k-th and (k+1)-th smallest normalized value, k = target
    * size. Tied values (all-zero windows give many) are split by channel: whole channels'
    ties are zeroed, in channel order, until the count is closest to k."""
    z = pre / _column(sigma, pre)
    for pool in chain:
        z = pre_activation(pool, [z], None, None)
    flat, channels = z.ravel(), z.shape[0]
    k = int(round(target * flat.size))
    if flat.size == 0:
        return np.zeros(channels)
    if k <= 0 or k >= flat.size:
        return np.full(channels, float(-flat.min()) + 1.0 if k <= 0 else float(-flat.max()))
    below, above = np.partition(flat, (k - 1, k))[[k - 1, k]]
    if below < above:
        return np.full(channels, float(-(below + (above - below) / 2)))
    lower, higher = flat[flat < below], flat[flat > below]
    none = float(lower.max() + (below - lower.max()) / 2) if lower.size else float(below) - 1
    every = float(below + (higher.min() - below) / 2) if higher.size else float(below) + 1
    ties = np.count_nonzero(z.reshape(channels, -1) == below, axis=1)
    zeroed = np.cumsum(ties) - ties / 2 < k - lower.size
    return np.where(zeroed, -every, -none)


def _bisection_shift(layer: Layer, pre: np.ndarray, sigma: np.ndarray, chain: list[Layer],
                     target: float) -> float:
    def zeros_at(t: float) -> float:
        return _zeros_after(layer, pre + np.float32(t) * _column(sigma, pre), chain)

    low, high = -1.0, 1.0
    while zeros_at(low) < target and low > -1e6:
        low *= 2
    while zeros_at(high) > target and high < 1e6:
        high *= 2
    best, best_zeros = high, zeros_at(high)
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        zeros = zeros_at(middle)
        if abs(zeros - target) < abs(best_zeros - target):
            best, best_zeros = middle, zeros
        if zeros > target:
            low = middle
        else:
            high = middle
    return best
