"""One DNN layer's shape: the dimension glossary every kernel and core uses.

Glossary (descriptive field -> kernel letter -> paper notation):

=================  ======  =====================================================
field              letter  meaning (DianNao / Eyeriss notation)
=================  ======  =====================================================
in_channels        C       input feature maps (DianNao Ni, Eyeriss C)
in_h, in_w         H, W    input height / width, unpadded (DianNao Nyin / Nxin)
out_channels       M       output feature maps (DianNao Nn / No, Eyeriss M)
out_h, out_w       P, Q    output height / width (Eyeriss E / F)
kernel_h, kernel_w R, S    filter height / width (DianNao Ky / Kx)
stride             U       (vertical, horizontal) stride (DianNao sy / sx)
pad                        (top, left, bottom, right) zero padding
groups             G       grouped convolution; G == C == M is depthwise
=================  ======  =====================================================

Layer kinds:

* ``conv``: 2-D convolution, ``M x (C/G) x R x S`` weights.
* ``fc``: fully connected on the flattened ``C x H x W`` input; modelled as a conv whose
  kernel covers the whole input (R = H, S = W, no padding), so weights are ``M x C x H x W``
  and the flatten order is channel-major, as in ONNX ``Flatten``.
* ``pool``: max or average pooling per channel (``pool_op``); M == C.
* ``add``: element-wise sum of two producers of the same shape (residual); M == C.
* ``concat``: channel-wise concatenation, in ``inputs`` order, of two or more producers with
  equal H x W (GoogLeNet's inception output); C is the sum of the producers' channels and
  M == C. A pure data-layout step: the producers write into channel slices of one output
  buffer, so no core computes it (0 MACs, 0 ops; :mod:`accelsim.sim.layout`). It takes no
  kernel, stride, padding, groups or fused ReLU.
* ``act``: an element-wise activation function (``function``: one of :data:`ACT_FUNCTIONS`,
  with ``alpha`` / ``beta`` where the function has them, ONNX's meaning); M == C.
* ``eltwise``: element-wise ``function`` (one of :data:`ELTWISE_FUNCTIONS`) of two
  producers; the second may be ``C x 1 x 1``, broadcast over H x W (a squeeze-and-excite
  scale); M == C.
* ``softmax``: softmax over the channels at every position, or over each of ``groups`` runs
  of them (attention's heads); M == C.
* ``layernorm``: each position's channels normalized to mean 0 and variance 1 (``alpha``:
  the epsilon; a LayerNormalization's scale and shift are a separate per-channel step).
* ``matmul``: a product of two activations (attention), as a grouped 1x1 convolution of the
  first input whose weights are the second input's values (:mod:`accelsim.workload.matmul`;
  ``function`` says how they are read); MACs as that convolution's.

* ``conv3d``, ``pool3d``: a 3-D convolution / pooling over ``depth[0]`` frames of
  ``in_h x in_w`` (C3D's video layers): ``depth = (frames, kernel, stride, pad_front,
  pad_back)`` in time, the other fields in space. Their tensors are the frames stacked along
  H, ``C x (frames * H) x W``, so every other kind reads them unchanged (an fc layer flattens
  them in ONNX's ``C, D, H, W`` order). Weights ``M x C/G x kernel x R x S``. No core has a
  3-D mode: the simulator runs them as 2-D layers per output frame (:mod:`accelsim.sim.volume`).
* ``slice``: channels ``offset .. offset + out_channels`` of one producer (a channel split).
* ``shuffle``: ShuffleNet's channel shuffle in ``groups`` groups: output channel
  ``j * groups + i`` is input channel ``i * (C / groups) + j``.
* ``upsample``: each value repeated ``scale`` times along H and W (``function: nearest``), or
  placed ``scale`` apart with zeros between (``function: zeros``, ``(H - 1) * s + 1`` rows: the
  input of a transposed convolution run as a convolution).
* ``resize``: bilinear resize by the integers ``scale``, ``function`` naming ONNX's coordinate
  transform (:data:`RESIZE_MODES`); computed, so a host kind (:mod:`accelsim.workload.rearrange`).

``concat``, ``slice``, ``shuffle`` and ``upsample`` only move data: no core runs them
(:mod:`accelsim.sim.layout`); their consumers' loads read the rearranged tensor.
The :data:`HOST_KINDS` (act, eltwise, softmax, layernorm, resize) run on the arch's host
unit (:mod:`accelsim.sim.host`) unless a core lists them in ``Core.NATIVE_KINDS``.

``relu`` fuses a ReLU into the layer's output (DianNao's NFU-3 stage), so a Network never
holds a separate activation layer; ``relu_max`` bounds it from above (ReLU6). Tensors are
batch-free ``C x H x W``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from accelsim.errors import WorkloadError

LayerKind = Literal["conv", "fc", "pool", "add", "concat", "act", "eltwise", "softmax",
                    "layernorm", "slice", "shuffle", "upsample", "conv3d", "pool3d", "matmul",
                    "resize"]
LAYER_KINDS: tuple[str, ...] = ("conv", "fc", "pool", "add", "concat", "act", "eltwise",
                                "softmax", "layernorm", "slice", "shuffle", "upsample",
                                "conv3d", "pool3d", "matmul", "resize")
VOLUME_KINDS: tuple[str, ...] = ("conv3d", "pool3d")
"""Kinds over a stack of frames (``Layer.depth``), run per output frame as 2-D layers."""
POOL_OPS: tuple[str, ...] = ("max", "avg")
ACT_FUNCTIONS: dict[str, int] = {
    "sigmoid": 4, "hard_sigmoid": 3, "hard_swish": 4, "swish": 5, "tanh": 4,
    "leaky_relu": 2, "elu": 4, "relu": 1, "clip": 2, "identity": 1, "erf": 4, "gelu": 6}
"""Activation functions and the operations one output costs a host lane (our estimate: a
compare or a multiply-add per piece of the function; exp and tanh as a 3-op piecewise
approximation plus the rest)."""
ELTWISE_FUNCTIONS: tuple[str, ...] = ("mul", "sub", "div", "max", "min")
SOFTMAX_OPS = 4
"""Operations per output of a softmax: subtract the maximum, exp, sum, divide."""
LAYERNORM_OPS = 5
"""Operations per output of a layernorm: add to the sum and the sum of squares, subtract
the mean, multiply by the reciprocal deviation (one per position), and the rounding."""
HOST_KINDS: tuple[str, ...] = ("act", "eltwise", "softmax", "layernorm", "resize")
"""Kinds no core runs unless it declares them (``Core.NATIVE_KINDS``)."""
LAYOUT_KINDS: tuple[str, ...] = ("concat", "slice", "shuffle", "upsample")
"""Kinds that only move data (0 MACs, 0 ops)."""
UPSAMPLE_MODES: tuple[str, ...] = ("nearest", "zeros")
RESIZE_MODES: tuple[str, ...] = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric")
RESIZE_OPS = 6
"""Operations per output of a bilinear resize: three interpolations of 2 ops each."""
MATMUL_OPERANDS: tuple[str, ...] = ("transposed", "values")
"""How a matmul reads its second input as weights (:mod:`accelsim.workload.matmul`)."""


@dataclass(frozen=True)
class Layer:
    """A layer's shape and its producers; validated on construction."""

    name: str
    kind: LayerKind
    in_channels: int
    in_h: int
    in_w: int
    out_channels: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1
    relu: bool = False
    pool_op: str | None = None
    inputs: tuple[str, ...] = ()
    relu_max: float | None = None
    """Upper clamp of the fused ReLU (6.0 for ReLU6, ONNX ``Clip(0, 6)``); None: unbounded."""
    function: str | None = None
    """``act``: the activation function; ``eltwise``: the element-wise operation."""
    alpha: float | None = None
    """``act``: the function's alpha (leaky_relu slope, elu scale, hard_sigmoid slope, clip
    minimum); None: ONNX's default."""
    beta: float | None = None
    """``act``: the function's beta (hard_sigmoid offset, clip maximum); None: ONNX's default."""
    offset: int = 0
    """``slice``: the first input channel taken."""
    scale: tuple[int, int] = (1, 1)
    """``upsample``, ``resize``: the (vertical, horizontal) factor."""
    depth: tuple[int, int, int, int, int] | None = None
    """``conv3d`` / ``pool3d``: (frames, kernel, stride, pad_front, pad_back) in time."""
    quant: tuple[float, int, int, int] | None = None
    """``(scale, zero_point, qmin, qmax)``: the output, after any fused ReLU, is rounded to
    the integer grid ``scale * (q - zero_point)``, ``qmin <= q <= qmax`` (an int8 model's
    QuantizeLinear / DequantizeLinear pair); None: no such step."""

    def __post_init__(self) -> None:
        if self.relu_max is not None and not (self.relu and self.relu_max > 0):
            raise WorkloadError(f"layer {self.name!r}: relu_max={self.relu_max!r} needs "
                                "relu: true and a positive bound")
        if self.quant is not None and not _valid_quant(self.quant):
            raise WorkloadError(f"layer {self.name!r}: quant={self.quant!r} must be (scale > "
                                "0, zero_point, qmin, qmax) with qmin <= zero_point <= qmax")
        problem = self._problem()
        if problem:
            raise WorkloadError(f"layer {self.name!r}: {problem}")

    def _problem(self) -> str | None:
        if self.kind not in LAYER_KINDS:
            return f"kind {self.kind!r} is not one of {', '.join(LAYER_KINDS)}"
        for field in ("in_channels", "in_h", "in_w", "out_channels", "kernel_h", "kernel_w",
                      "groups"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                return f"{field} must be an integer >= 1, got {value!r}"
        if any(s < 1 for s in self.stride):
            return f"stride must be >= 1, got {self.stride}"
        if any(p < 0 for p in self.pad):
            return f"pad must be >= 0, got {self.pad}"
        if self.kind == "pool" and self.pool_op not in POOL_OPS:
            return f"pool_op must be one of {', '.join(POOL_OPS)}, got {self.pool_op!r}"
        if self.kind == "pool" and (max(self.pad[0], self.pad[2]) >= self.kernel_h
                                    or max(self.pad[1], self.pad[3]) >= self.kernel_w):
            return (f"pooling padding {self.pad} must be smaller than the window "
                    f"{self.kernel_h}x{self.kernel_w} (a window must see real input)")
        if (self.depth is None) != (self.kind not in VOLUME_KINDS):
            return f"depth (frames, kernel, stride, pads in time) is for {', '.join(VOLUME_KINDS)}"
        if self.depth is not None and (problem := _depth_problem(self.depth)):
            return problem
        if self.kind == "pool3d" and self.pool_op not in POOL_OPS:
            return f"pool_op must be one of {', '.join(POOL_OPS)}, got {self.pool_op!r}"
        if self.kind in ("pool", "add", "concat", "pool3d", *HOST_KINDS) and (
                self.out_channels != self.in_channels):
            return f"a {self.kind} layer keeps its channels ({self.in_channels})"
        if self.kind in ("add", "eltwise", "matmul") and len(self.inputs) != 2:
            return f"an {self.kind} layer needs exactly 2 inputs, got {list(self.inputs)}"
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.scale):
            return f"scale must be integers >= 1, got {self.scale}"
        if (self.kind not in ("slice", "shuffle", "upsample") and self.offset != 0) or (
                self.kind not in ("upsample", "resize") and tuple(self.scale) != (1, 1)):
            return f"a {self.kind} layer takes no offset or scale"
        if self.kind == "concat":
            return self._concat_problem()
        if self.kind == "matmul" and (self.function not in MATMUL_OPERANDS or any(self.pad) or (
                self.kernel_h, self.kernel_w, *self.stride) != (1, 1, 1, 1)):
            return (f"a matmul takes no kernel, stride or pad, and a function of "
                    f"{', '.join(MATMUL_OPERANDS)}; got {self.function!r}")
        if self.kind in HOST_KINDS:
            return self._elementwise_problem()
        if self.kind in ("slice", "shuffle", "upsample"):
            return self._rearrange_problem()
        if (self.function is not None and self.kind != "matmul") or self.alpha is not None or (
                self.beta is not None):
            return f"a {self.kind} layer takes no function, alpha or beta"
        if self.kind not in ("pool", "pool3d") and self.pool_op is not None:
            return f"a {self.kind} layer takes no op (pooling's max / avg)"
        if self.in_channels % self.groups or self.out_channels % self.groups:
            return (f"groups={self.groups} must divide in_channels={self.in_channels} "
                    f"and out_channels={self.out_channels}")
        padded_h = self.in_h + self.pad[0] + self.pad[2]
        padded_w = self.in_w + self.pad[1] + self.pad[3]
        if self.kernel_h > padded_h or self.kernel_w > padded_w:
            return (f"kernel {self.kernel_h}x{self.kernel_w} is larger than the padded input "
                    f"{padded_h}x{padded_w}")
        return None

    def _concat_problem(self) -> str | None:
        if len(self.inputs) < 2:
            return f"a concat layer needs at least 2 inputs, got {list(self.inputs)}"
        if len(self.inputs) > self.in_channels:
            return (f"a concat of {len(self.inputs)} inputs needs at least that many "
                    f"channels, got in_channels={self.in_channels}")
        if ((self.kernel_h, self.kernel_w), self.stride, self.pad, self.groups) != (
                (1, 1), (1, 1), (0, 0, 0, 0), 1):
            return "a concat layer takes no kernel, stride, pad or groups"
        if self.relu or self.pool_op is not None:
            return ("a concat layer fuses no ReLU and has no pool op (fuse the ReLU into "
                    "its producers)")
        return None

    def _elementwise_problem(self) -> str | None:
        if ((self.kernel_h, self.kernel_w), self.stride, self.pad) != ((1, 1), (1, 1),
                                                                     (0, 0, 0, 0)) or (
                self.in_channels % self.groups or self.kind != "softmax" and self.groups > 1):
            return (f"an {self.kind} layer takes no kernel, stride or pad, and groups only "
                    "for a softmax (dividing its channels)")
        if self.pool_op is not None:
            return f"an {self.kind} layer has no pool op"
        known = {"act": tuple(ACT_FUNCTIONS), "eltwise": ELTWISE_FUNCTIONS,
                 "softmax": (None,), "layernorm": (None,), "resize": RESIZE_MODES}[self.kind]
        if self.function not in known:
            return (f"function must be one of {', '.join(map(str, known))}, "
                    f"got {self.function!r}")
        if self.kind not in ("act", "layernorm") and (
                self.alpha is not None or self.beta is not None):
            return f"an {self.kind} layer takes no alpha or beta"
        if self.kind == "layernorm" and (self.beta is not None or not (self.alpha or 0) > 0):
            return f"a layernorm takes its epsilon > 0 as alpha (no beta), got {self.alpha!r}"
        if any(v is not None and not math.isfinite(v) for v in (self.alpha, self.beta)):
            return f"alpha and beta must be finite, got {self.alpha!r} and {self.beta!r}"
        return None

    def _rearrange_problem(self) -> str | None:
        if len(self.inputs) != 1:
            return f"a {self.kind} layer needs exactly 1 input, got {list(self.inputs)}"
        if ((self.kernel_h, self.kernel_w), self.stride, self.pad) != ((1, 1), (1, 1),
                                                                     (0, 0, 0, 0)):
            return f"a {self.kind} layer takes no kernel, stride or pad"
        if self.relu or self.pool_op is not None or self.alpha is not None or (
                self.beta is not None):
            return f"a {self.kind} layer fuses no ReLU and takes no op, alpha or beta"
        if self.kind != "upsample" and (self.function is not None or self.scale != (1, 1)):
            return f"a {self.kind} layer takes no function or scale"
        if self.kind != "slice" and self.offset != 0:
            return f"a {self.kind} layer takes no offset"
        if self.kind != "shuffle" and self.groups != 1:
            return f"a {self.kind} layer takes no groups"
        if self.kind == "slice" and not (
                0 <= self.offset and self.offset + self.out_channels <= self.in_channels):
            return (f"channels {self.offset}..{self.offset + self.out_channels - 1} are not "
                    f"all among the input's {self.in_channels}")
        if self.kind != "slice" and self.out_channels != self.in_channels:
            return f"a {self.kind} layer keeps its channels ({self.in_channels})"
        if self.kind == "shuffle" and (self.groups < 2 or self.in_channels % self.groups):
            return f"shuffle groups={self.groups} must be >= 2 and divide {self.in_channels}"
        if self.kind == "upsample" and self.function not in UPSAMPLE_MODES:
            return (f"function must be one of {', '.join(UPSAMPLE_MODES)}, "
                    f"got {self.function!r}")
        return None

    # ---- derived shape -------------------------------------------------------------------
    @property
    def out_h(self) -> int:
        if self.kind in ("upsample", "resize"):
            return _upsampled(self.in_h, self.scale[0], self.function)
        return (self.in_h + self.pad[0] + self.pad[2] - self.kernel_h) // self.stride[0] + 1

    @property
    def out_w(self) -> int:
        if self.kind in ("upsample", "resize"):
            return _upsampled(self.in_w, self.scale[1], self.function)
        return (self.in_w + self.pad[1] + self.pad[3] - self.kernel_w) // self.stride[1] + 1

    @property
    def out_frames(self) -> int:
        """Output frames of a conv3d / pool3d; 1 for the 2-D kinds."""
        if self.depth is None:
            return 1
        frames, kernel, stride, front, back = self.depth
        return (frames + front + back - kernel) // stride + 1

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """``C x H x W`` (a 3-D kind's frames stacked along H)."""
        frames = 1 if self.depth is None else self.depth[0]
        return (self.in_channels, frames * self.in_h, self.in_w)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.out_channels, self.out_frames * self.out_h, self.out_w)

    @property
    def in_channels_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_channels_per_group(self) -> int:
        return self.out_channels // self.groups

    @property
    def is_depthwise(self) -> bool:
        return self.kind == "conv" and self.groups == self.in_channels == self.out_channels

    @property
    def has_weights(self) -> bool:
        return self.kind in ("conv", "fc", "conv3d")

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """``M x C/G x R x S`` for conv and fc (fc: R, S = H, W), ``M x C/G x T x R x S`` for
        conv3d; empty for the others."""
        if not self.has_weights:
            return (0, 0, 0, 0)
        taps = () if self.depth is None else (self.depth[1],)
        return (self.out_channels, self.in_channels_per_group, *taps, self.kernel_h,
                self.kernel_w)

    @property
    def weight_count(self) -> int:
        return math.prod(self.weight_shape)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of a dense execution (0 for pool, add and concat)."""
        if self.kind == "matmul":
            return self.in_h * self.in_w * self.out_channels * self.in_channels_per_group
        if not self.has_weights:
            return 0
        positions = self.out_frames * self.out_h * self.out_w
        return positions * self.weight_count

    @property
    def ops(self) -> int:
        """Arithmetic operations: 2 per MAC; one compare/add per window element for pool;
        one per output element for add and eltwise; :data:`ACT_FUNCTIONS`' cost per output
        for act, :data:`SOFTMAX_OPS` for softmax; none for concat (data layout only)."""
        outputs = math.prod(self.out_shape)
        if self.kind in LAYOUT_KINDS:
            return 0
        if self.kind in ("pool", "pool3d"):
            taps = 1 if self.depth is None else self.depth[1]
            return outputs * taps * self.kernel_h * self.kernel_w
        if self.kind in ("add", "eltwise"):
            return outputs
        if self.kind == "act":
            return outputs * ACT_FUNCTIONS[self.function]
        if self.kind in ("softmax", "layernorm", "resize"):
            return outputs * {"softmax": SOFTMAX_OPS, "layernorm": LAYERNORM_OPS,
                              "resize": RESIZE_OPS}[self.kind]
        return 2 * self.macs


def _upsampled(size: int, factor: int, mode: str | None) -> int:
    return (size - 1) * factor + 1 if mode == "zeros" else size * factor


def _valid_quant(quant) -> bool:
    try:
        scale, zero, low, high = quant
    except (TypeError, ValueError):
        return False
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (zero, low, high))
    return bool(ints and isinstance(scale, float) and math.isfinite(scale) and scale > 0
                and low <= zero <= high)


def _depth_problem(depth) -> str | None:
    """Why ``(frames, kernel, stride, pad_front, pad_back)`` is not a valid time axis."""
    if (not isinstance(depth, tuple) or len(depth) != 5
            or any(isinstance(v, bool) or not isinstance(v, int) for v in depth)):
        return ("depth must be 5 integers (frames, kernel, stride, pad_front, pad_back), "
                f"got {depth!r}")
    frames, kernel, stride, front, back = depth
    if min(frames, kernel, stride) < 1 or min(front, back) < 0:
        return f"depth {depth}: frames, kernel and stride must be >= 1, pads >= 0"
    if max(front, back) >= kernel or frames + front + back < kernel:
        return (f"depth {depth}: the time kernel must see a real frame in every window and "
                "fit the padded frames")
    return None
