"""Slow, obvious numpy reference for every layer kind: the oracle the kernels are tested against.

Written from the specification alone (never from the simulator's code), so a bug shared by a
kernel and this file needs two independent mistakes. Tensors are batch-free ``C x H x W``;
``pad`` is ``(top, left, bottom, right)``, ``stride`` is ``(vertical, horizontal)``, conv
weights are ``M x C/G x R x S`` and fc weights ``M x C x H x W`` (output ``M x 1 x 1``).

Float functions compute in float64. The ``*_fixed`` functions implement the "fixed16"
arithmetic: int16 values ``q`` with a per-tensor fraction ``f`` (real = ``q * 2**-f``), int64
accumulators, round-half-up shifts, and a requantization that uses the full int16 range.

Integer window sums are computed in float64 when that is provably exact (every partial sum
is an integer below 2**53, whatever the summation order), because numpy's int64 matmul does
not use BLAS and is ~80x slower; beyond that bound they fall back to int64 arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from accelsim.workload.layer import Layer

INT16_MIN = -32768
INT16_MAX = 32767
FRACTION_BITS = 15  # an int16 holds 15 magnitude bits beside the sign
EXACT_FLOAT_LIMIT = 2**53  # integers below this are exact in float64
ELEMENTWISE_KINDS = ("act", "eltwise", "softmax", "layernorm", "resize")
REARRANGING_KINDS = ("slice", "shuffle", "upsample")
TRANSCENDENTAL = ("sigmoid", "swish", "tanh", "elu", "erf", "gelu")
"""Activations whose float result may differ in its last bits between two correct
implementations: compared within one int16 step in fixed16, not bit for bit."""


# ---- shared window machinery ---------------------------------------------------------------

def _pad(x: np.ndarray, pad: tuple[int, int, int, int], value) -> np.ndarray:
    top, left, bottom, right = pad
    return np.pad(x, ((0, 0), (top, bottom), (left, right)), constant_values=value)


def _windows(x_padded: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]):
    """A ``C x P x Q x R x S`` view: window (p, q) of every channel."""
    view = sliding_window_view(x_padded, kernel, axis=(1, 2))
    return view[:, ::stride[0], ::stride[1]]


def _in_bounds_counts(in_hw, kernel, stride, pad) -> np.ndarray:
    """``P x Q`` number of real (non-padding) input elements under each window."""
    ones = np.ones((1, *in_hw), dtype=np.int64)
    counts = _windows(_pad(ones, pad, 0), kernel, stride).sum(axis=(-2, -1))[0]
    if (counts == 0).any():
        raise ValueError(f"a pooling window covers only padding (kernel {kernel}, pad {pad})")
    return counts


def _window_dot(windows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_{c,r,s} windows[c,p,q,r,s] * w[m,c,r,s]`` -> ``M x P x Q``."""
    return np.einsum("cpqrs,mcrs->mpq", windows, w, optimize=True)


CHUNK_ELEMENTS = 1 << 23
"""Weights converted at a time (64 MB of float64): VGG-16's fc6 (102 M weights) in 13 blocks
of output channels instead of one 0.8 GB copy; each output's sum is the same either way."""


def _largest_magnitude(a: np.ndarray) -> int:
    return max(abs(int(a.min(initial=0))), abs(int(a.max(initial=0))))


def _exact_integer_window_dot(windows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The integer window dot product as int64, exact (see the module docstring), over blocks
    of output channels (:data:`CHUNK_ELEMENTS`)."""
    terms = w.shape[1] * w.shape[2] * w.shape[3]
    exact_in_float = terms * _largest_magnitude(windows) * _largest_magnitude(w) \
        < EXACT_FLOAT_LIMIT
    dtype = np.float64 if exact_in_float else np.int64
    windows = windows.astype(dtype)
    block = max(1, CHUNK_ELEMENTS // max(1, terms))
    return np.concatenate([_window_dot(windows, w[m0:m0 + block].astype(dtype)).astype(np.int64)
                           for m0 in range(0, w.shape[0], block)], axis=0)


def _conv_sum(x, w, stride, pad, groups, window_dot) -> np.ndarray:
    """Grouped convolution without bias: group g's outputs see only group g's inputs."""
    channels = x.shape[0]
    out_channels, channels_per_group, kernel_h, kernel_w = w.shape
    if channels % groups or out_channels % groups or channels // groups != channels_per_group:
        raise ValueError(f"weights {w.shape} do not fit input {x.shape} with groups={groups}")
    windows = _windows(_pad(x, pad, 0), (kernel_h, kernel_w), stride)
    outs_per_group = out_channels // groups
    parts = []
    for g in range(groups):
        group_in = windows[g * channels_per_group:(g + 1) * channels_per_group]
        group_w = w[g * outs_per_group:(g + 1) * outs_per_group]
        parts.append(window_dot(group_in, group_w))
    return np.concatenate(parts, axis=0)


def _bias_column(b, out_channels: int) -> np.ndarray:
    if b is None:
        return np.zeros((out_channels, 1, 1))
    return np.asarray(b, dtype=np.float64).reshape(out_channels, 1, 1)


def _fc_as_conv_weights(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    if w.shape[1:] != x.shape:
        raise ValueError(f"fc weights {w.shape} do not match input {x.shape}")
    return w


# ---- float ---------------------------------------------------------------------------------

def conv2d(x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), groups=1) -> np.ndarray:
    """Zero-padded grouped 2-D convolution (cross-correlation, as in ONNX Conv), float64."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return _conv_sum(x, w, stride, pad, groups, _window_dot) + _bias_column(b, w.shape[0])


def fc(x, w, b=None) -> np.ndarray:
    """Fully connected: ``y[m] = sum_{c,h,w} x[c,h,w] * w[m,c,h,w] + b[m]``, as ``M x 1 x 1``."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    products = np.einsum("chw,mchw->m", x, _fc_as_conv_weights(x, w), optimize=True)
    return products.reshape(-1, 1, 1) + _bias_column(b, w.shape[0])


def max_pool(x, kernel, stride, pad=(0, 0, 0, 0)) -> np.ndarray:
    """Per-channel window maximum; padding is -inf, so it never wins."""
    x = np.asarray(x, dtype=np.float64)
    _in_bounds_counts(x.shape[1:], kernel, stride, pad)
    return _windows(_pad(x, pad, -np.inf), kernel, stride).max(axis=(-2, -1))


def avg_pool(x, kernel, stride, pad=(0, 0, 0, 0)) -> np.ndarray:
    """Per-channel window mean over the real elements only (ONNX count_include_pad=0)."""
    x = np.asarray(x, dtype=np.float64)
    counts = _in_bounds_counts(x.shape[1:], kernel, stride, pad)
    sums = _windows(_pad(x, pad, 0.0), kernel, stride).sum(axis=(-2, -1))
    return sums / counts


def add(a, b) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"add of shapes {a.shape} and {b.shape}")
    return a + b


def concat(xs) -> np.ndarray:
    """Channel concatenation of ``C_i x H x W`` tensors in the given order, float64."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    if len(xs) < 2 or len({x.shape[1:] for x in xs}) != 1:
        raise ValueError(f"concat needs 2+ tensors of equal H x W, got {[x.shape for x in xs]}")
    return np.concatenate(xs, axis=0)


def relu(x) -> np.ndarray:
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def _scalar_activation(v: float, function: str, alpha, beta) -> float:
    """One value through an ONNX activation (the operator spec's formulas, in math.*)."""
    if function == "sigmoid":
        return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))
    if function == "hard_sigmoid":
        a, b = (0.2 if alpha is None else alpha), (0.5 if beta is None else beta)
        return max(0.0, min(1.0, a * v + b))
    if function == "hard_swish":
        return v * max(0.0, min(1.0, v / 6.0 + 0.5))
    if function == "swish":
        return v * _scalar_activation((1.0 if alpha is None else alpha) * v, "sigmoid", 0, 0)
    if function == "tanh":
        return math.tanh(v)
    if function == "leaky_relu":
        return v if v >= 0 else (0.01 if alpha is None else alpha) * v
    if function == "elu":
        return v if v > 0 else (1.0 if alpha is None else alpha) * (math.exp(v) - 1.0)
    if function == "relu":
        return max(v, 0.0)
    if function == "identity":
        return v
    if function == "erf":
        return math.erf(v)
    if function == "gelu":
        return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))
    if function == "clip":
        low = -math.inf if alpha is None else alpha
        return min(max(v, low), math.inf if beta is None else beta)
    raise ValueError(f"unknown activation {function!r}")


def activation(x, function: str, alpha=None, beta=None) -> np.ndarray:
    """An element-wise activation, one value at a time."""
    x = np.asarray(x, dtype=np.float64)
    return np.array([_scalar_activation(float(v), function, alpha, beta) for v in x.ravel()],
                    dtype=np.float64).reshape(x.shape)


def eltwise(a, b, function: str) -> np.ndarray:
    """``a`` (C x H x W) op ``b`` (C x H x W, or C x 1 x 1 repeated over H x W)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if b.shape != a.shape:
        b = np.repeat(np.repeat(b, a.shape[1], axis=1), a.shape[2], axis=2)
    ops = {"mul": lambda u, v: u * v, "sub": lambda u, v: u - v, "div": lambda u, v: u / v,
           "max": max, "min": min}[function]
    return np.array([ops(u, v) for u, v in zip(a.ravel(), b.ravel(), strict=True)],
                    dtype=np.float64).reshape(a.shape)


def softmax(x, groups: int = 1) -> np.ndarray:
    """Softmax over the channels at each (h, w) position (over each of ``groups`` equal
    runs of channels: attention's heads)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    size = x.shape[0] // groups
    for g in range(groups):
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                column = x[g * size:(g + 1) * size, i, j]
                exps = [math.exp(v - column.max()) for v in column]
                out[g * size:(g + 1) * size, i, j] = [e / math.fsum(exps) for e in exps]
    return out


def _matmul_operands(a, b, groups: int, function: str):
    """Per head ``g``: the rows (A's pixels, its channels ``g*k .. g*k+k-1``) and the matrix
    ``k x p``: ``transposed``: B's channels ``g*k + j`` over its pixels ``m`` (keys);
    ``values``: B's channels ``g*p + m`` over its pixels ``j`` (values)."""
    c = a.shape[0]
    k = c // groups
    b = b.reshape(b.shape[0], -1)
    rows = [a[g * k:(g + 1) * k].reshape(k, -1).T for g in range(groups)]   # N x k
    if function == "transposed":
        mats = [b[g * k:(g + 1) * k] for g in range(groups)]
    else:
        p = b.shape[0] // groups
        mats = [b[g * p:(g + 1) * p].T for g in range(groups)]
    return rows, mats


def matmul(a, b, groups: int, function: str) -> np.ndarray:
    """A matmul layer (two activations): head ``g``'s rows times its matrix, output
    channels ``g*p + m`` at each of A's pixels."""
    rows, mats = _matmul_operands(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                  groups, function)
    out = np.concatenate([(r @ m).T for r, m in zip(rows, mats, strict=True)])
    return out.reshape(-1, *np.shape(a)[1:])


def matmul_fixed(qa, fa, qb, fb, groups: int, function: str, relu=False):
    """:func:`matmul` on int16 codes: exact int64 sums at frac ``fa + fb``, requantized."""
    rows, mats = _matmul_operands(np.asarray(qa, np.int64), np.asarray(qb, np.int64),
                                  groups, function)
    acc = np.concatenate([(r @ m).T for r, m in zip(rows, mats, strict=True)])
    return requantize(acc.reshape(-1, *np.shape(qa)[1:]), fa + fb, relu)


def rearranged(layer: Layer, x) -> np.ndarray:
    """slice / shuffle / upsample by index arithmetic, one output value at a time."""
    x = np.asarray(x)
    out = np.zeros(layer.out_shape, dtype=x.dtype)
    per_group = layer.in_channels // layer.groups
    for m in range(layer.out_channels):
        for i in range(layer.out_h):
            for j in range(layer.out_w):
                if layer.kind == "slice":
                    out[m, i, j] = x[layer.offset + m, i, j]
                elif layer.kind == "shuffle":   # out j*G + g <- in g*(C/G) + j
                    out[m, i, j] = x[(m % layer.groups) * per_group + m // layer.groups, i, j]
                elif layer.function == "nearest":
                    out[m, i, j] = x[m, i // layer.scale[0], j // layer.scale[1]]
                elif i % layer.scale[0] == 0 and j % layer.scale[1] == 0:
                    out[m, i, j] = x[m, i // layer.scale[0], j // layer.scale[1]]
    return out


def resize_linear(x, scale: tuple[int, int], mode: str) -> np.ndarray:
    """ONNX Resize (mode linear) by integer factors, one output value at a time: each
    axis's source coordinate by the coordinate transform ``mode``, clamped to the input,
    between its two neighbours; rows first, then between the rows."""
    x = np.asarray(x, dtype=np.float64)

    def source(i: int, size: int, factor: int) -> tuple[int, int, float]:
        out = size * factor
        if mode == "align_corners":
            s = i * (size - 1) / (out - 1) if out > 1 else 0.0
        elif mode == "asymmetric":
            s = i / factor
        elif mode == "pytorch_half_pixel" and out == 1:
            s = 0.0
        else:
            s = (i + 0.5) / factor - 0.5
        s = min(max(s, 0.0), size - 1.0)
        low = math.floor(s)
        return low, min(low + 1, size - 1), s - low

    c, h, w = x.shape
    out = np.empty((c, h * scale[0], w * scale[1]))
    for p in range(out.shape[1]):
        y0, y1, dy = source(p, h, scale[0])
        for q in range(out.shape[2]):
            x0, x1, dx = source(q, w, scale[1])
            top = x[:, y0, x0] * (1 - dx) + x[:, y0, x1] * dx
            bottom = x[:, y1, x0] * (1 - dx) + x[:, y1, x1] * dx
            out[:, p, q] = top * (1 - dy) + bottom * dy
    return out


def layernorm(x, epsilon: float) -> np.ndarray:
    """Each position's channels to mean 0 and variance 1 (population variance)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            column = x[:, i, j]
            mean = math.fsum(column) / len(column)
            var = math.fsum((v - mean) ** 2 for v in column) / len(column)
            out[:, i, j] = (column - mean) / math.sqrt(var + epsilon)
    return out


def interpolated_activation(x, function: str, alpha, beta, segments: int,
                            input_range: float) -> np.ndarray:
    """An activation unit's table: on the segment ``i`` of width ``h = 2R / segments``
    holding ``v`` (the end segments beyond ``[-R, R]``), the line through the function's
    values at ``-R + i h`` and ``-R + (i + 1) h``."""
    width = 2.0 * input_range / segments
    out = []
    for v in np.asarray(x, dtype=np.float64).ravel():
        i = min(max(math.floor((v + input_range) / width), 0), segments - 1)
        left = -input_range + i * width
        y0 = _scalar_activation(left, function, alpha, beta)
        y1 = _scalar_activation(left + width, function, alpha, beta)
        out.append(y0 + (y1 - y0) * (v - left) / width)
    return np.array(out, dtype=np.float64).reshape(np.shape(x))


def elementwise_layer(layer: Layer, inputs: list, act_unit: dict | None = None) -> np.ndarray:
    """An act, eltwise, softmax or layernorm layer (without its fused ReLU), float inputs;
    ``act_unit``: the arch's activation unit (``Result.meta``), if it has one."""
    if layer.kind == "act" and act_unit and act_unit["segments"] and (
            layer.function in act_unit["functions"]):
        return interpolated_activation(inputs[0], layer.function, layer.alpha, layer.beta,
                                       act_unit["segments"], act_unit["input_range"])
    if layer.kind == "layernorm":
        return layernorm(inputs[0], layer.alpha)
    if layer.kind == "resize":
        return resize_linear(inputs[0], layer.scale, layer.function)
    if layer.kind == "act":
        return activation(inputs[0], layer.function, layer.alpha, layer.beta)
    if layer.kind == "eltwise":
        return eltwise(inputs[0], inputs[1], layer.function)
    return softmax(inputs[0], layer.groups)


# ---- fixed16 -------------------------------------------------------------------------------

def frac_bits_for(max_abs: float) -> int:
    """Fraction bits ``f = 15 - e``, ``e`` the smallest integer with ``max_abs < 2**e``."""
    if not math.isfinite(max_abs) or max_abs < 0:
        raise ValueError(f"max_abs must be finite and >= 0, got {max_abs}")
    if max_abs == 0:
        return FRACTION_BITS
    _, exponent = math.frexp(max_abs)  # max_abs = mantissa * 2**exponent, 0.5 <= mantissa < 1
    return FRACTION_BITS - exponent


CHUNK = 1 << 22
"""Elements per step of the large-tensor loops (VGG's fc6 has 103 M weights: whole-tensor
float64 temporaries would take several GB)."""


def quantize(x) -> tuple[np.ndarray, int]:
    """Float tensor -> (int16 q, f) with f chosen from the tensor's largest magnitude."""
    flat = np.asarray(x).reshape(-1)
    starts = range(0, flat.size, CHUNK)   # one float64 chunk at a time (fc6: 0.8 GB at once)
    frac_bits = frac_bits_for(max((float(np.abs(flat[i:i + CHUNK].astype(np.float64)).max())
                                   for i in starts), default=0.0))
    q = np.empty(flat.size, dtype=np.int16)
    for i in starts:
        scaled = np.floor(np.ldexp(flat[i:i + CHUNK].astype(np.float64), frac_bits) + 0.5)
        q[i:i + CHUNK] = np.clip(scaled, INT16_MIN, INT16_MAX)
    return q.reshape(np.shape(x)), frac_bits


def round_shift(a, s: int):
    """Right shift by ``s`` rounding half up (``floor(a / 2**s + 1/2)``); ``s <= 0``: left."""
    a = np.asarray(a, dtype=np.int64)
    if s > 0:
        return (a + (np.int64(1) << np.int64(s - 1))) >> np.int64(s)
    return a << np.int64(-s)


def requantize(acc, acc_frac: int, relu: bool = False) -> tuple[np.ndarray, int]:
    """int64 accumulators with fraction ``acc_frac`` -> int16 using the full range."""
    acc = np.asarray(acc, dtype=np.int64)
    if relu:
        acc = np.maximum(acc, 0)
    largest = int(np.abs(acc).max(initial=0))
    if largest == 0:
        return np.zeros(acc.shape, dtype=np.int16), FRACTION_BITS
    shift = largest.bit_length() - FRACTION_BITS
    q = np.clip(round_shift(acc, shift), INT16_MIN, INT16_MAX).astype(np.int16)
    return q, acc_frac - shift


def _bias_q(b, frac_bits: int, out_channels: int) -> np.ndarray:
    if b is None:
        return np.zeros((out_channels, 1, 1), dtype=np.int64)
    scaled = np.floor(np.ldexp(np.asarray(b, dtype=np.float64), frac_bits) + 0.5)
    return scaled.astype(np.int64).reshape(out_channels, 1, 1)


def _plus_bias(acc, b, acc_frac: int, out_channels: int) -> tuple[np.ndarray, int]:
    """Sums plus bias at ``acc_frac``, or at the largest frac whose bias codes are below
    ``2**61`` (the sums rounded half up to it first) when the bias would not fit."""
    frac = acc_frac
    if b is not None and np.size(b) and np.max(np.abs(b)) > 0:
        while np.max(np.abs(np.ldexp(np.asarray(b, dtype=np.float64), frac))) >= 2.0 ** 61:
            frac -= 1
    if frac < acc_frac:
        step = 2 ** (acc_frac - frac)
        acc = (2 * np.asarray(acc, dtype=np.int64) + step) // (2 * step)
    return acc + _bias_q(b, frac, out_channels), frac


def conv2d_fixed(qx, fx, qw, fw, b=None, stride=(1, 1), pad=(0, 0, 0, 0), groups=1,
                 relu=False) -> tuple[np.ndarray, int]:
    """Fixed16 convolution: exact int64 sum of products plus rounded bias, then requantize."""
    qx = np.asarray(qx, dtype=np.int64)
    qw = np.asarray(qw, dtype=np.int64)
    acc = _conv_sum(qx, qw, stride, pad, groups, _exact_integer_window_dot)
    acc, frac = _plus_bias(acc, b, fx + fw, qw.shape[0])
    return requantize(acc, frac, relu)


def fc_fixed(qx, fx, qw, fw, b=None, relu=False) -> tuple[np.ndarray, int]:
    """Fixed16 fully connected layer (a conv whose kernel covers the whole input): exact
    int64 dot products, a block of output rows at a time."""
    qx = np.asarray(qx, dtype=np.int64)
    qw = _fc_as_conv_weights(qx, np.asarray(qw))
    rows = max(1, CHUNK // max(qx.size, 1))
    acc = np.concatenate([qw[m:m + rows].reshape(-1, qx.size).astype(np.int64) @ qx.ravel()
                          for m in range(0, qw.shape[0], rows)]).reshape(-1, 1, 1)
    acc, frac = _plus_bias(acc, b, fx + fw, qw.shape[0])
    return requantize(acc, frac, relu)


def max_pool_fixed(qx, fx, kernel, stride, pad=(0, 0, 0, 0), relu=False):
    """Fixed16 max pool: exact, keeps the input fraction."""
    qx = np.asarray(qx, dtype=np.int64)
    _in_bounds_counts(qx.shape[1:], kernel, stride, pad)
    never_wins = np.iinfo(np.int64).min
    q = _windows(_pad(qx, pad, never_wins), kernel, stride).max(axis=(-2, -1))
    if relu:
        q = np.maximum(q, 0)
    return q.astype(np.int16), fx


def avg_pool_fixed(qx, fx, kernel, stride, pad=(0, 0, 0, 0), relu=False):
    """Fixed16 average pool: ``floor((2*sum + n) / (2*n))`` (round half up), same fraction."""
    qx = np.asarray(qx, dtype=np.int64)
    counts = _in_bounds_counts(qx.shape[1:], kernel, stride, pad)
    sums = _windows(_pad(qx, pad, 0), kernel, stride).sum(axis=(-2, -1))
    q = np.clip((2 * sums + counts) // (2 * counts), INT16_MIN, INT16_MAX)
    if relu:
        q = np.maximum(q, 0)
    return q.astype(np.int16), fx


def add_fixed(qa, fa, qb, fb, relu=False) -> tuple[np.ndarray, int]:
    """Fixed16 element-wise add: align both to the finer fraction exactly, then requantize."""
    qa = np.asarray(qa, dtype=np.int64)
    qb = np.asarray(qb, dtype=np.int64)
    if qa.shape != qb.shape:
        raise ValueError(f"add of shapes {qa.shape} and {qb.shape}")
    finer = max(fa, fb)
    acc = (qa << np.int64(finer - fa)) + (qb << np.int64(finer - fb))
    return requantize(acc, finer, relu)


def concat_fixed(pairs) -> tuple[np.ndarray, int]:
    """Fixed16 concat: every ``(q, f)`` is brought to the smallest ``f`` among them by
    ``floor(q / 2**s + 1/2)``, ``s = f - smallest`` (round half up), then stacked."""
    coarsest = min(f for _, f in pairs)
    parts = []
    for q, f in pairs:
        q = np.asarray(q, dtype=np.int64)
        step = np.int64(2) ** (f - coarsest)
        parts.append((2 * q + step) // (2 * step))   # floor(q / step + 1/2), exact
    out = concat(parts)   # float64 holds these int16-range integers exactly
    return out.astype(np.int16), coarsest


# ---- 3-D layers (frames stacked along H in the simulator's tensors) ---------------------------

def _frames_in(layer: Layer, t: int) -> list[tuple[int, int]]:
    """(input frame, time tap) pairs of output frame ``t`` that land on a real frame."""
    frames, kernel, stride, front, _ = layer.depth
    return [(t * stride - front + tau, tau) for tau in range(kernel)
            if 0 <= t * stride - front + tau < frames]


def _unfolded(x, layer: Layer) -> np.ndarray:
    x = np.asarray(x)
    return x.reshape(x.shape[0], layer.depth[0], layer.in_h, layer.in_w).transpose(1, 0, 2, 3)


def conv3d_layer(layer: Layer, x, w, b) -> np.ndarray:
    """Float 3-D convolution: per output frame, the sum over its real input frames of the
    2-D convolution with that time slice of the kernel, plus the bias."""
    frames, w = _unfolded(x, layer).astype(np.float64), np.asarray(w, dtype=np.float64)
    out = [sum(conv2d(frames[f], w[:, :, tau], None, layer.stride, layer.pad, layer.groups)
               for f, tau in _frames_in(layer, t)) + _bias_column(b, w.shape[0])
           for t in range(layer.out_frames)]
    return np.concatenate(out, axis=1)


def conv3d_layer_fixed(layer: Layer, qx, fx, qw, fw, b) -> tuple[np.ndarray, int]:
    """Fixed16 3-D convolution as a 2-D core runs it: each output frame's exact integer sum
    requantized on its own, then every frame brought to the coarsest frac (as a concat)."""
    frames, qw = _unfolded(qx, layer).astype(np.int64), np.asarray(qw, dtype=np.int64)
    per_frame = []
    for t in range(layer.out_frames):
        acc = sum(_conv_sum(frames[f], qw[:, :, tau], layer.stride, layer.pad, layer.groups,
                            _exact_integer_window_dot) for f, tau in _frames_in(layer, t))
        per_frame.append(requantize(*_plus_bias(acc, b, fx + fw, qw.shape[0]), layer.relu))
    coarsest = min(f for _, f in per_frame)
    shifted = [(2 * q.astype(np.int64) + 2 ** (f - coarsest)) // (2 * 2 ** (f - coarsest))
               for q, f in per_frame]
    return np.concatenate(shifted, axis=1).astype(np.int16), coarsest


def pool3d_layer(layer: Layer, x, fixed: bool):
    """3-D pool over the real frames of each window: max, or the in-bounds mean (in fixed16,
    per frame then across frames, each rounded as a 2-D pool rounds). ``x`` is float, or the
    int16 codes when ``fixed``."""
    frames = _unfolded(x, layer)
    kernel, is_max = (layer.kernel_h, layer.kernel_w), layer.pool_op == "max"
    if fixed:   # the codes alone: a pool keeps its input's frac
        def pool(x, window, stride, pad=(0, 0, 0, 0)):
            return (max_pool_fixed if is_max else avg_pool_fixed)(x, 0, window, stride, pad)[0]
    else:
        pool = max_pool if is_max else avg_pool
    out = []
    for t in range(layer.out_frames):
        pooled = [pool(frames[f], kernel, layer.stride, layer.pad) for f, _ in
                  _frames_in(layer, t)]
        if len(pooled) > 1:
            rows = np.stack([p.reshape(p.shape[0], -1) for p in pooled], axis=1)
            across = pool(rows, (len(pooled), 1), (len(pooled), 1))
            pooled = [across.reshape(pooled[0].shape)]
        out.append(pooled[0])
    result = np.concatenate(out, axis=1)
    return np.maximum(result, 0) if layer.relu else result


# ---- one layer -----------------------------------------------------------------------------

def _check_inputs(layer: Layer, inputs: list, shapes: list) -> None:
    if layer.kind == "concat":
        stacked = (sum(shape[0] for shape in shapes), *shapes[0][1:]) if shapes else ()
        if len(inputs) != len(layer.inputs) or stacked != layer.in_shape:
            raise ValueError(f"layer {layer.name!r} concatenates to {layer.in_shape}, "
                             f"got inputs {shapes}")
        return
    if layer.kind in ("conv3d", "pool3d"):
        return
    if layer.kind == "matmul":   # the second input is the weights, of its own shape
        inputs, shapes = inputs[:1], shapes[:1]
        if len(layer.inputs) != 2:
            raise ValueError(f"layer {layer.name!r} takes 2 inputs")
    wanted = 2 if layer.kind in ("add", "eltwise") else 1
    if len(inputs) != wanted:
        raise ValueError(f"layer {layer.name!r} takes {wanted} input(s), got {len(inputs)}")
    for index, shape in enumerate(shapes):
        gate = layer.kind == "eltwise" and index == 1 and tuple(shape) == (
            layer.in_channels, 1, 1)
        if tuple(shape) != layer.in_shape and not gate:
            raise ValueError(f"layer {layer.name!r} expects {layer.in_shape}, got {shape}")


def _run_float(layer: Layer, inputs: list, weight, bias, act_unit=None) -> np.ndarray:
    _check_inputs(layer, inputs, [np.shape(x) for x in inputs])
    kernel = (layer.kernel_h, layer.kernel_w)
    if layer.kind == "conv3d":
        out = conv3d_layer(layer, inputs[0], weight, bias)
    elif layer.kind == "pool3d":
        out = pool3d_layer(layer, inputs[0], fixed=False)
    elif layer.kind == "conv":
        out = conv2d(inputs[0], weight, bias, layer.stride, layer.pad, layer.groups)
    elif layer.kind == "fc":
        out = fc(inputs[0], weight, bias)
    elif layer.kind == "add":
        out = add(inputs[0], inputs[1])
    elif layer.kind == "matmul":
        out = matmul(inputs[0], inputs[1], layer.groups, layer.function)
    elif layer.kind == "concat":
        out = concat(inputs)
    elif layer.kind in ELEMENTWISE_KINDS:
        out = elementwise_layer(layer, inputs, act_unit)
    elif layer.kind in REARRANGING_KINDS:
        out = rearranged(layer, inputs[0]).astype(np.float64)
    elif layer.pool_op == "max":
        out = max_pool(inputs[0], kernel, layer.stride, layer.pad)
    else:
        out = avg_pool(inputs[0], kernel, layer.stride, layer.pad)
    return relu(out) if layer.relu else out


def _run_fixed(layer: Layer, inputs: list, weight, bias,
               act_unit=None) -> tuple[np.ndarray, int]:
    _check_inputs(layer, inputs, [np.shape(q) for q, _ in inputs])
    if layer.kind == "concat":
        return concat_fixed(inputs)
    if layer.kind == "conv3d":
        qw, fw = weight if isinstance(weight, tuple) else quantize(weight)
        return conv3d_layer_fixed(layer, inputs[0][0], inputs[0][1], qw, fw, bias)
    if layer.kind == "pool3d":
        return pool3d_layer(layer, inputs[0][0], fixed=True).astype(np.int16), inputs[0][1]
    if layer.kind in REARRANGING_KINDS:   # values move, codes and frac unchanged
        return rearranged(layer, inputs[0][0]), inputs[0][1]
    if layer.kind in ELEMENTWISE_KINDS:   # a host unit: real values in, requantized out
        out = elementwise_layer(layer, [np.ldexp(q.astype(np.float64), -f) for q, f in inputs],
                                act_unit)
        return quantize(relu(out) if layer.relu else out)
    (qx, fx) = inputs[0]
    kernel = (layer.kernel_h, layer.kernel_w)
    if layer.kind == "matmul":
        return matmul_fixed(qx, fx, *inputs[1], layer.groups, layer.function, layer.relu)
    if layer.kind in ("conv", "fc"):
        qw, fw = weight if isinstance(weight, tuple) else quantize(weight)
        if layer.kind == "fc":
            return fc_fixed(qx, fx, qw, fw, bias, layer.relu)
        return conv2d_fixed(qx, fx, qw, fw, bias, layer.stride, layer.pad, layer.groups,
                            layer.relu)
    if layer.kind == "add":
        qb, fb = inputs[1]
        return add_fixed(qx, fx, qb, fb, layer.relu)
    pool = max_pool_fixed if layer.pool_op == "max" else avg_pool_fixed
    return pool(qx, fx, kernel, layer.stride, layer.pad, layer.relu)


def run_layer(layer: Layer, inputs: list, weight=None, bias=None, precision: str = "fp32",
              act_unit: dict | None = None):
    """One layer by the reference, fused ReLU included.

    ``"fp32"``: ``inputs`` are float arrays, the result is float64. ``"fixed16"``: ``inputs``
    are ``(q, f)`` tuples and so is the result; ``weight`` is a ``(q, f)`` tuple or a float
    array (then quantized with :func:`quantize`); ``bias`` is always float. ``act_unit``:
    the arch's activation unit as ``Result.meta`` records it (its act layers interpolate).
    """
    if precision == "fp32":
        out = _run_float(layer, inputs, weight, bias, act_unit)
        return out if layer.quant is None else on_grid(out, layer.quant)
    if precision == "fixed16":
        q, frac = _run_fixed(layer, inputs, weight, bias, act_unit)
        if layer.quant is None:
            return q, frac
        return quantize(on_grid(np.ldexp(q.astype(np.float64), -frac), layer.quant))
    raise ValueError(f"precision must be 'fp32' or 'fixed16', got {precision!r}")


def on_grid(x, quant) -> np.ndarray:
    """ONNX QuantizeLinear then DequantizeLinear: round half to even, saturate, rescale."""
    scale, zero, low, high = quant
    q = [min(max(round(v / scale) + zero, low), high) for v in np.asarray(x, float).ravel()]
    return ((np.array(q, dtype=np.float64) - zero) * scale).reshape(np.shape(x))


def check_outputs(network, result, tensors, label: str) -> None:
    """Every layer output a run kept (``keep_outputs``) equals this reference on the run's
    own layer inputs: fixed16 bit for bit (within one int16 step where two correct
    implementations of a transcendental function or a softmax / layernorm may round
    apart, :data:`TRANSCENDENTAL`), fp32 within 1e-4 of the layer's largest magnitude."""
    act_unit = result.meta.get("activation_unit")
    for layer in network.layers:
        inputs = [result.outputs[name] for name in layer.inputs]
        out = result.outputs[layer.name]
        weights, bias = tensors.weights.get(layer.name), tensors.biases.get(layer.name)
        where = f"{label}: {layer.name}"
        if hasattr(out, "frac"):
            q, frac = run_layer(layer, [(x.q, x.frac) for x in inputs], weights, bias,
                                "fixed16", act_unit)
            interpolated = layer.kind == "act" and act_unit and act_unit["segments"] and (
                layer.function in act_unit["functions"])
            step = 1 if layer.kind in ("softmax", "layernorm", "resize") or interpolated or (
                layer.function in TRANSCENDENTAL) else 0
            assert out.frac == frac, where
            np.testing.assert_allclose(out.q, q, rtol=0, atol=step, err_msg=where)
        else:
            ref = run_layer(layer, inputs, weights, bias, "fp32", act_unit)
            np.testing.assert_allclose(out, ref, rtol=1e-4,
                                       atol=1e-4 * max(float(np.abs(ref).max()), 1e-30),
                                       err_msg=where)
