"""What the host kinds compute (``act``, ``eltwise``, ``softmax``, ``layernorm``, ``resize``),
in float64.

One definition shared by the float forward pass (:mod:`accelsim.workload.forward`) and the
host unit that runs these kinds in a simulation (:mod:`accelsim.sim.host`), so both mean the
same function. The formulas and defaults are ONNX's (``HardSigmoid`` alpha 0.2, beta 0.5;
``HardSwish`` = x * HardSigmoid(x) with alpha 1/6; ``LeakyRelu`` alpha 0.01; ``Elu`` alpha 1;
``Swish`` = x * Sigmoid(x); ``Clip`` between alpha and beta). Arrays are ``C x H x W`` or
batched ``N x C x H x W``; softmax runs over the channel axis (each of its ``groups``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from accelsim.workload.layer import Layer
from accelsim.workload.rearrange import resized


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))   # no overflow, full precision for large |x|


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function to double precision (numpy has none; math.erf per value)."""
    return np.frompyfunc(math.erf, 1, 1)(x).astype(np.float64)


def _hard_sigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.clip(alpha * x + beta, 0.0, 1.0)


_ACT: dict[str, Callable[[np.ndarray, float | None, float | None], np.ndarray]] = {
    "sigmoid": lambda x, a, b: _sigmoid(x),
    "hard_sigmoid": lambda x, a, b: _hard_sigmoid(x, 0.2 if a is None else a,
                                                  0.5 if b is None else b),
    "hard_swish": lambda x, a, b: x * _hard_sigmoid(x, 1.0 / 6.0, 0.5),
    "swish": lambda x, a, b: x * _sigmoid((1.0 if a is None else a) * x),
    "tanh": lambda x, a, b: np.tanh(x),
    "leaky_relu": lambda x, a, b: np.where(x >= 0, x, (0.01 if a is None else a) * x),
    "elu": lambda x, a, b: np.where(x > 0, x, (1.0 if a is None else a)
                                    * np.expm1(np.minimum(x, 0.0))),
    "relu": lambda x, a, b: np.maximum(x, 0.0),
    "clip": lambda x, a, b: np.clip(x, -np.inf if a is None else a, np.inf if b is None else b),
    "identity": lambda x, a, b: x,
    "erf": lambda x, a, b: _erf(x),
    "gelu": lambda x, a, b: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0))),
}
_ELTWISE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "mul": np.multiply, "sub": np.subtract, "div": np.divide, "max": np.maximum,
    "min": np.minimum,
}


def fake_quantized(x: np.ndarray, quant: tuple[float, int, int, int]) -> np.ndarray:
    """``x`` rounded to an int8 model's grid: ``scale * (clip(round(x / scale) + zero,
    qmin, qmax) - zero)``, rounding half to even as ONNX's QuantizeLinear does."""
    scale, zero, low, high = quant
    q = np.clip(np.rint(np.asarray(x, dtype=np.float64) / scale) + zero, low, high)
    return (q - zero) * scale


def elementwise(layer: Layer, inputs: list[np.ndarray]) -> np.ndarray:
    """The layer's output before its fused ReLU, float64, for an act, eltwise or softmax
    layer; ``inputs`` in ``layer.inputs`` order (an eltwise's second may be ``C x 1 x 1``)."""
    x = np.asarray(inputs[0], dtype=np.float64)
    if layer.kind == "act":
        return _ACT[layer.function](x, layer.alpha, layer.beta)
    if layer.kind == "eltwise":
        with np.errstate(divide="ignore", invalid="ignore"):
            return _ELTWISE[layer.function](x, np.asarray(inputs[1], dtype=np.float64))
    if layer.kind == "softmax":   # per group of channels (attention's heads)
        grouped = x.reshape(*x.shape[:-3], layer.groups, -1, *x.shape[-2:])
        shifted = np.exp(grouped - grouped.max(axis=-3, keepdims=True))
        return (shifted / shifted.sum(axis=-3, keepdims=True)).reshape(x.shape)
    if layer.kind == "resize":
        return resized(layer, x)
    if layer.kind == "layernorm":
        centred = x - x.mean(axis=-3, keepdims=True)
        return centred / np.sqrt((centred ** 2).mean(axis=-3, keepdims=True) + layer.alpha)
    raise ValueError(f"layer {layer.name!r}: {layer.kind!r} is not an element-wise kind")
