"""Fast float32 numpy forward pass: the denominator of "simulation time / inference time".

A plain BLAS-backed inference of an accelsim ``Network`` (im2col + matmul for convolutions,
shifted-slice arithmetic for depthwise convolutions and pools), so the speed benchmark can
say how many times slower than a straightforward CPU inference the simulator is. It is
checked against ``tests/reference.py`` in ``tests/test_reference.py``; it is not part of
the simulator and the simulator never imports it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from accelsim.workload.layer import Layer
from accelsim.workload.network import INPUT, Network

DTYPE = np.float32


def _padded(x: np.ndarray, layer: Layer, value: float) -> np.ndarray:
    top, left, bottom, right = layer.pad
    if not any(layer.pad):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right)), constant_values=value)


def _shifted(x_padded: np.ndarray, layer: Layer, r: int, s: int) -> np.ndarray:
    """The ``C x P x Q`` input elements that kernel offset (r, s) meets at every output."""
    sh, sw = layer.stride
    return x_padded[:, r:r + sh * (layer.out_h - 1) + 1:sh, s:s + sw * (layer.out_w - 1) + 1:sw]


def _depthwise(x_padded: np.ndarray, w: np.ndarray, layer: Layer) -> np.ndarray:
    """One input channel per group: a sum of R*S shifted, per-channel-scaled slices."""
    multiplier = layer.out_channels_per_group
    source = np.repeat(x_padded, multiplier, axis=0) if multiplier > 1 else x_padded
    out = np.zeros(layer.out_shape, dtype=DTYPE)
    for r in range(layer.kernel_h):
        for s in range(layer.kernel_w):
            out += w[:, 0, r, s, None, None] * _shifted(source, layer, r, s)
    return out


def _im2col(x_padded: np.ndarray, layer: Layer) -> np.ndarray:
    """``G x (C/G * R * S) x (P * Q)`` columns, rows ordered as the ``M x C/G x R x S`` weights."""
    groups, positions = layer.groups, layer.out_h * layer.out_w
    if layer.kernel_h == layer.kernel_w == 1:
        return _shifted(x_padded, layer, 0, 0).reshape(groups, -1, positions)
    windows = sliding_window_view(x_padded, (layer.kernel_h, layer.kernel_w), axis=(1, 2))
    windows = windows[:, ::layer.stride[0], ::layer.stride[1]][:, :layer.out_h, :layer.out_w]
    return windows.transpose(0, 3, 4, 1, 2).reshape(groups, -1, positions)


def _conv(x: np.ndarray, w: np.ndarray, layer: Layer) -> np.ndarray:
    x_padded = _padded(x, layer, 0.0)
    if layer.in_channels_per_group == 1 and layer.groups > 1:
        return _depthwise(x_padded, w, layer)
    group_weights = w.reshape(layer.groups, layer.out_channels_per_group, -1)
    return np.matmul(group_weights, _im2col(x_padded, layer)).reshape(layer.out_shape)


def _fc(x: np.ndarray, w: np.ndarray, layer: Layer) -> np.ndarray:
    return (w.reshape(layer.out_channels, -1) @ x.reshape(-1)).reshape(layer.out_shape)


def _pool(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Max pool (padding never wins) or average over real elements (count_include_pad=0)."""
    is_max = layer.pool_op == "max"
    x_padded = _padded(x, layer, -np.inf if is_max else 0.0)
    combine = np.maximum if is_max else np.add
    out = _shifted(x_padded, layer, 0, 0).copy()
    for r in range(layer.kernel_h):
        for s in range(layer.kernel_w):
            if r or s:
                combine(out, _shifted(x_padded, layer, r, s), out=out)
    if not is_max:
        real = _padded(np.ones((1, layer.in_h, layer.in_w), dtype=DTYPE), layer, 0.0)
        counts = sum(_shifted(real, layer, r, s)
                     for r in range(layer.kernel_h) for s in range(layer.kernel_w))
        out /= counts
    return out


def _run(layer: Layer, inputs: list[np.ndarray], weight, bias) -> np.ndarray:
    if layer.kind == "conv":
        out = _conv(inputs[0], weight, layer)
    elif layer.kind == "fc":
        out = _fc(inputs[0], weight, layer)
    elif layer.kind == "pool":
        out = _pool(inputs[0], layer)
    else:
        out = inputs[0] + inputs[1]
    if bias is not None:
        out += bias.reshape(-1, 1, 1)
    if layer.relu:
        np.maximum(out, 0.0, out=out)
    return out


def infer(network: Network, weights: Mapping, biases: Mapping, x: np.ndarray,
          keep: str = "all") -> dict[str, np.ndarray]:
    """Run ``network`` on the ``C x H x W`` input ``x`` in float32.

    ``weights[name]`` and ``biases[name]`` hold each conv/fc layer's tensors (a missing bias
    means none). Returns every layer's output by name (``keep="all"``) or only the last
    layer's (``keep="last"``, freeing each tensor after its last reader).
    """
    if keep not in ("all", "last"):
        raise ValueError(f"keep must be 'all' or 'last', got {keep!r}")
    last_reader = network.last_use()
    final = network.layers[-1].name
    live = {INPUT: np.asarray(x, dtype=DTYPE)}
    for index, layer in enumerate(network.layers):
        weight = weights.get(layer.name) if layer.has_weights else None
        if weight is not None:
            weight = np.asarray(weight, dtype=DTYPE)
        bias = biases.get(layer.name) if layer.has_weights else None
        if bias is not None:
            bias = np.asarray(bias, dtype=DTYPE)
        live[layer.name] = _run(layer, [live[p] for p in layer.inputs], weight, bias)
        if keep == "last":
            for name in [*layer.inputs, layer.name]:
                if name != final and last_reader.get(name, -1) <= index:
                    live.pop(name, None)
    if keep == "last":
        return {final: live[final]}
    live.pop(INPUT)
    return live


def time_inference(network: Network, tensors, repeats: int = 3) -> float:
    """Best-of-``repeats`` wall seconds of :func:`infer` (``keep="last"``).

    ``tensors`` is a ``NetworkTensors`` (anything with ``input``, ``weights`` and ``biases``).
    They are made float32 and contiguous before the clock starts, so only inference is timed.
    """
    weights = {k: np.ascontiguousarray(v, dtype=DTYPE) for k, v in tensors.weights.items()}
    biases = {k: np.ascontiguousarray(v, dtype=DTYPE) for k, v in tensors.biases.items()}
    x = np.ascontiguousarray(tensors.input, dtype=DTYPE)
    best_s = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        infer(network, weights, biases, x, keep="last")
        best_s = min(best_s, time.perf_counter() - start)
    return best_s
