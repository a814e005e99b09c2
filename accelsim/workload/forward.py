"""A plain float32 numpy forward pass of a Network, for transforms that need activations.

Imposing an activation-sparsity profile (:func:`accelsim.workload.transforms.activations.
impose_input_zeros`) calibrates each layer on the values that reach it, so it needs every
layer's pre-activation output. Running the simulator for that would be slow and tied to one
arch's precision; this is the arithmetic of each layer kind and nothing else: convolution
as one matrix product per group (BLAS), fc as a matrix-vector product, matmul as a grouped
1x1 convolution (:mod:`accelsim.workload.matmul`), pooling over in-bounds elements only (as
the cores pool), add, concat and the element-wise kinds (:mod:`accelsim.workload.elementwise`);
an XNOR-Net layer (``binarize`` transform) from the signs of its input, scaled by XNOR-Net's
``K`` (:func:`xnor_pre_activation`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from accelsim.workload import matmul, volume
from accelsim.workload.elementwise import elementwise, fake_quantized
from accelsim.workload.layer import HOST_KINDS, VOLUME_KINDS, Layer
from accelsim.workload.network import INPUT, Network
from accelsim.workload.precision import LayerPrecision, rounded_input
from accelsim.workload.rearrange import rearrange
from accelsim.workload.tensors import NetworkTensors


def pre_activation(layer: Layer, inputs: list[np.ndarray], weights: np.ndarray | None,
                   bias: np.ndarray | None) -> np.ndarray:
    """The layer's output before its fused ReLU, float32 ``C x H x W``."""
    if layer.kind in VOLUME_KINDS:
        return _volume(layer, inputs[0].astype(np.float32), weights, bias)
    if layer.has_weights:
        return _conv(layer, inputs[0], weights) + bias.astype(np.float32)[:, None, None]
    if layer.kind == "matmul":   # the second input as a grouped 1x1 conv's weights
        return _conv(matmul.conv_step(layer), inputs[0], matmul.operand_weights(
            layer, inputs[1].astype(np.float32)))
    if layer.kind == "pool":
        return _pool(layer, inputs[0])
    if layer.kind == "add":
        return (inputs[0] + inputs[1]).astype(np.float32)
    if layer.kind == "concat":
        return np.concatenate(inputs, axis=0).astype(np.float32)
    if layer.kind in HOST_KINDS:
        return elementwise(layer, inputs).astype(np.float32)
    if layer.kind in ("slice", "shuffle", "upsample"):
        return rearrange(layer, inputs[0]).astype(np.float32)
    raise ValueError(f"layer {layer.name!r}: no forward rule for kind {layer.kind!r}")


def activate(layer: Layer, x: np.ndarray) -> np.ndarray:
    """The fused ReLU (and its ``relu_max`` clamp) of ``layer``, then its output
    quantization (``quant``), if any."""
    if layer.relu:
        x = np.maximum(x, 0)
        x = x if layer.relu_max is None else np.minimum(x, np.float32(layer.relu_max))
    return x if layer.quant is None else fake_quantized(x, layer.quant).astype(np.float32)


def forward(network: Network, tensors: NetworkTensors) -> Iterator[tuple[Layer, np.ndarray]]:
    """Each layer with its (activated) output, in network order; frees dead tensors."""
    values = {INPUT: tensors.input.astype(np.float32)}
    last_use = network.last_use()
    for index, layer in enumerate(network.layers):
        inputs = [rounded_input(tensors.precision, layer.name, values[name])
                  for name in layer.inputs]   # at the layer's precision, if one is set
        weights, bias = tensors.weights.get(layer.name), tensors.biases.get(layer.name)
        out = activate(layer, xnor_pre_activation(layer, inputs[0], weights, bias)
                       if binarizes_input(tensors.precision, layer.name)
                       else pre_activation(layer, inputs, weights, bias))
        values[layer.name] = out
        yield layer, out
        for name in layer.inputs:
            if last_use.get(name) == index:
                values.pop(name, None)


def binarizes_input(precision: dict[str, LayerPrecision], layer_name: str) -> bool:
    """The layer is an XNOR-Net layer (:mod:`accelsim.workload.transforms.binarize`)."""
    entry = precision.get(layer_name)
    return entry is not None and entry.binarized == "xnor"


def xnor_pre_activation(layer: Layer, x: np.ndarray, weights: np.ndarray,
                        bias: np.ndarray) -> np.ndarray:
    """An XNOR-Net layer before its ReLU: ``sign(x)`` (0 -> +1) convolved with the (+-alpha)
    weights, times :func:`scaling_map`, plus the bias."""
    signs = np.where(x >= 0, 1.0, -1.0).astype(np.float32)
    k_map = scaling_map(layer, x)
    return (_conv(layer, signs, weights) * k_map + bias.astype(np.float64)[:, None, None]
            ).astype(np.float32)


def scaling_map(layer: Layer, x: np.ndarray) -> np.ndarray:
    """XNOR-Net's ``K = A * k`` (sec. 3.2) for ``layer``'s real C x H x W input: ``A`` the mean
    ``|x|`` over channels, ``k`` = ``1 / (w h)`` over each output's window with the layer's
    stride and zero padding (padded taps count as zeros). P x Q float64."""
    a = np.abs(np.asarray(x, dtype=np.float64)).mean(axis=0, keepdims=True)
    return _windows(layer, _padded(a, layer.pad, 0.0)).mean(axis=(-2, -1))[0]


def _padded(x: np.ndarray, pad: tuple[int, int, int, int], value: float) -> np.ndarray:
    top, left, bottom, right = pad
    if not any(pad):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right)), constant_values=value)


def _windows(layer: Layer, x_padded: np.ndarray) -> np.ndarray:
    """``C x P x Q x R x S`` view: the window of every output position."""
    view = sliding_window_view(x_padded, (layer.kernel_h, layer.kernel_w), axis=(1, 2))
    return view[:, ::layer.stride[0], ::layer.stride[1]][:, :layer.out_h, :layer.out_w]


def _conv(layer: Layer, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    windows = _windows(layer, _padded(x.astype(np.float32), layer.pad, 0.0))
    cg, mg = layer.in_channels_per_group, layer.out_channels_per_group
    out = np.empty(layer.out_shape, dtype=np.float32)
    w = weights.astype(np.float32)
    for g in range(layer.groups):
        out[g * mg:(g + 1) * mg] = np.tensordot(
            w[g * mg:(g + 1) * mg], windows[g * cg:(g + 1) * cg], axes=([1, 2, 3], [0, 3, 4]))
    return out


def _pool(layer: Layer, x: np.ndarray) -> np.ndarray:
    if layer.pool_op == "max":
        return _windows(layer, _padded(x, layer.pad, -np.inf)).max(axis=(-2, -1))
    sums = _windows(layer, _padded(x, layer.pad, 0.0)).sum(axis=(-2, -1))
    ones = np.ones((1, layer.in_h, layer.in_w), dtype=np.float32)
    counts = _windows(layer, _padded(ones, layer.pad, 0.0)).sum(axis=(-2, -1))
    return (sums / counts).astype(np.float32)


def _volume(layer: Layer, x: np.ndarray, weights, bias) -> np.ndarray:
    """A conv3d / pool3d as its frame steps (:mod:`accelsim.workload.volume`)."""
    frames = []
    for t, indices, taps in volume.windows(layer):
        if layer.kind == "conv3d":
            step = volume.conv_frame_layer(layer, t, len(taps))
            out = _conv(step, volume.stacked_frames(x, layer, indices),
                        volume.tap_weights(weights, taps))
            frames.append(out + bias.astype(np.float32)[:, None, None])
            continue
        space = volume.spatial_pool_layer(layer, relu=False)
        pooled = [_pool(space, volume.frame(x, layer, f)) for f in indices]
        frames.append(pooled[0] if len(pooled) == 1 else _pool(
            volume.time_pool_layer(layer, t, len(pooled)), volume.as_rows(pooled)))
    return volume.joined(frames, layer).astype(np.float32)
