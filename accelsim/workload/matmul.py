"""A ``matmul`` layer (a product of two activations: attention's ``Q @ K^T`` and ``P @ V``)
as the grouped 1x1 convolution a core runs.

The first input ``A`` (``C x H x W``) holds the rows: each pixel is a token, its channels in
``groups`` groups of ``k = C / groups`` (one group per attention head). The second input
``B`` supplies the weights, ``M x k x 1 x 1`` (``M = groups * p``), read one of two ways
(``Layer.function``):

* ``transposed`` (``Q @ K^T``): ``weights[g * p + m, j] = B[g * k + j, pixel m]``: ``B`` has
  ``C`` channels and ``p`` pixels (the keys);
* ``values`` (``P @ V``): ``weights[g * p + j, m] = B[g * p + j, pixel m]``: ``B`` has ``M``
  channels and ``k`` pixels (the keys), taken as they are.

Output channel ``g * p + m`` at pixel ``n`` is then ``sum_j A[g * k + j, n] * weights[g * p
+ m, j]``: head ``g``'s row ``n`` times its matrix. A core reads the operand as it reads
weights, so its weight traffic is the operand's. Pure shape and array steps, shared by the
float forward pass and the simulator (:mod:`accelsim.sim.matmul`).
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.workload.layer import Layer


def operand_shape(layer: Layer) -> tuple[int, int]:
    """``(channels, pixels)`` the second input of ``layer`` must have."""
    k, p = layer.in_channels_per_group, layer.out_channels_per_group
    if layer.function == "transposed":
        return layer.in_channels, p
    return layer.out_channels, k


def operand_problem(layer: Layer, shape: tuple[int, ...]) -> str | None:
    """Why a second input of ``shape`` (``C x H x W``) cannot be ``layer``'s operand."""
    channels, pixels = operand_shape(layer)
    if shape[0] != channels or math.prod(shape[1:]) != pixels:
        return (f"its second input ({layer.function}) must have {channels} channels of "
                f"{pixels} pixels, got {tuple(shape)}")
    return None


def operand_weights(layer: Layer, b: np.ndarray) -> np.ndarray:
    """The convolution's ``M x k x 1 x 1`` weights from the second input's values ``b``
    (``C x H x W``: float values, or int16 codes, which keep their frac)."""
    k = layer.in_channels_per_group
    flat = np.asarray(b).reshape(b.shape[0], -1)
    if layer.function == "transposed":
        flat = flat.reshape(layer.groups, k, -1).transpose(0, 2, 1)
    return np.ascontiguousarray(flat).reshape(layer.out_channels, k, 1, 1)


def conv_step(layer: Layer) -> Layer:
    """The grouped 1x1 convolution the core runs for ``layer`` (its fused ReLU too)."""
    return Layer(layer.name, "conv", layer.in_channels, layer.in_h, layer.in_w,
                 layer.out_channels, groups=layer.groups, relu=layer.relu,
                 inputs=layer.inputs[:1])
