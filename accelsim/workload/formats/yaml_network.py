"""The YAML network format (documented in README.md, "Workload format").

::

    version: 1
    name: vgg16
    source: Simonyan & Zisserman, ICLR 2015, Table 1 config D
    input: [3, 224, 224]          # C, H, W of the network input
    layers:
      - {name: conv1_1, kind: conv, out_channels: 64, kernel: 3, pad: 1, relu: true}
      - {name: pool1, kind: pool, op: max, kernel: 2, stride: 2}
      - {name: dw1, kind: conv, groups: depthwise, kernel: 3, pad: 1, relu: true}
      - {name: fc6, kind: fc, out_channels: 4096, relu: true}
      - {name: res2a, kind: add, inputs: [res2a_branch2c, res2a_branch1], relu: true}
      - {name: inception_3a/output, kind: concat,
         inputs: [inception_3a/1x1, inception_3a/3x3, inception_3a/5x5, inception_3a/pool_proj]}
      - {name: se_gate, kind: act, op: hard_sigmoid, alpha: 0.1667, inputs: [se_fc2]}
      - {name: se_scale, kind: eltwise, op: mul, inputs: [conv5, se_gate]}   # gate C x 1 x 1
      - {name: prob, kind: softmax}

A layer's input shape is its producer's output shape; ``inputs`` defaults to the previous
layer (``input`` names the network input); a ``concat`` lists its 2+ producers (equal H x W)
in channel order and takes none of ``kernel``, ``stride``, ``pad``, ``groups``, ``op`` or a
fused ReLU. ``kernel``/``stride`` take an int or ``[h, w]``;
``pad`` an int, ``[h, w]`` or ``[top, left, bottom, right]``. ``groups: depthwise`` means one
group per input channel (``out_channels`` then defaults to the input channels). ``act``
takes ``op`` (the function: sigmoid, hard_sigmoid, hard_swish, swish, tanh, leaky_relu, elu,
relu, clip) and, where the function has them, ``alpha`` / ``beta`` (ONNX's meaning);
``eltwise`` takes ``op`` (mul, sub, div, max, min) and two ``inputs``, the second of which may
be ``C x 1 x 1``; ``softmax`` (over channels, or each of ``groups``) takes neither;
``layernorm`` takes its epsilon as ``alpha``; ``matmul`` (attention:
:mod:`accelsim.workload.matmul`) takes two ``inputs``, ``op`` (transposed or values) and
``groups`` (heads). A clip (``input: [C, D, H, W]``) feeds ``conv3d`` / ``pool3d`` layers,
whose ``kernel`` and ``stride`` take an int or ``[t, h, w]`` and ``pad`` an int, ``[t, h, w]``
or ``[front, top, left, back, bottom, right]``. Each kind takes only its own keys
(:data:`KIND_KEYS`: an fc layer has no ``kernel``, ``stride``, ``pad`` or ``groups``) and
reads one input, except ``add``, ``eltwise`` and ``matmul`` (two) and ``concat`` (two or
more). ``lstm`` / ``gru`` layers (``hidden``, ``steps``, ``direction``; a GRU's
``linear_before_reset``) read a sequence of ``steps`` inputs laid out in channels and unroll
into the layers of every step (:mod:`accelsim.workload.recurrent`). Unknown keys, keys of
another kind, wrong input counts, wrong types and shapes that do not chain are errors naming
the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accelsim.errors import WorkloadError, did_you_mean
from accelsim.files import read_yaml
from accelsim.workload import recurrent
from accelsim.workload.layer import HOST_KINDS, VOLUME_KINDS, Layer
from accelsim.workload.network import INPUT, Network

TOP_KEYS = ("version", "name", "source", "input", "layers")
LAYER_KEYS = ("name", "kind", "out_channels", "kernel", "stride", "pad", "groups", "relu",
              "op", "alpha", "beta", "inputs")
KIND_KEYS = {
    "conv": ("out_channels", "kernel", "stride", "pad", "groups", "relu"),
    "fc": ("out_channels", "relu"),
    "pool": ("out_channels", "op", "kernel", "stride", "pad", "relu"),
    "add": ("out_channels", "relu"),
    "concat": ("out_channels", "relu"),
    "act": ("out_channels", "op", "alpha", "beta", "relu"),
    "eltwise": ("out_channels", "op", "relu"),
    "softmax": ("out_channels", "groups", "relu"),
    "layernorm": ("out_channels", "alpha", "relu"),
    "conv3d": ("out_channels", "kernel", "stride", "pad", "groups", "relu"),
    "pool3d": ("out_channels", "op", "kernel", "stride", "pad", "relu"),
    "matmul": ("op", "groups", "relu"),
}
"""The keys (besides name, kind and inputs) each kind takes: any other is an error, never
ignored or reinterpreted (an fc's kernel is its whole input)."""
INPUT_COUNTS = {"add": (2, 2), "eltwise": (2, 2), "concat": (2, None), "matmul": (2, 2)}
"""Kind -> (fewest, most) inputs (None: no most); every other kind reads exactly one."""
FORMAT_VERSION = 1


def _unknown_key(where: str, key: str, allowed: tuple[str, ...]) -> str:
    return f"{where}: unknown key {key!r}{did_you_mean(key, allowed)}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)   # true is not a stride 1


def _pair(value: Any, where: str) -> tuple[int, int]:
    if _is_int(value):
        return (value, value)
    if isinstance(value, list) and len(value) == 2 and all(map(_is_int, value)):
        return (value[0], value[1])
    raise WorkloadError(f"{where}: expected an integer or [h, w], got {value!r}")


def _pad(value: Any, where: str) -> tuple[int, int, int, int]:
    if isinstance(value, list) and len(value) == 4 and all(map(_is_int, value)):
        return tuple(value)  # type: ignore[return-value]
    h, w = _pair(value, where)
    return (h, w, h, w)


def _int(value: Any, where: str) -> int:
    if _is_int(value):
        return value
    raise WorkloadError(f"{where}: expected an integer, got {value!r}")


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise WorkloadError(f"{where}: expected a number, got {value!r}")


def _triple(value: Any, where: str) -> tuple[int, int, int]:
    if _is_int(value):
        return (value, value, value)
    if isinstance(value, list) and len(value) == 3 and all(map(_is_int, value)):
        return tuple(value)  # type: ignore[return-value]
    raise WorkloadError(f"{where}: expected an integer or [t, h, w], got {value!r}")


def _volume_fields(spec: dict, where: str, frames: int) -> dict:
    """A conv3d / pool3d's kernel, stride and pad in time and space: an int, ``[t, h, w]``,
    or (pad) ``[front, top, left, back, bottom, right]`` as ONNX orders them."""
    if frames < 1:
        raise WorkloadError(f"{where}: a {spec.get('kind')} layer needs a clip input "
                            "(input: [C, D, H, W], or a 3-D layer's output)")
    kt, kh, kw = _triple(spec.get("kernel", 1), f"{where}.kernel")
    st, sh, sw = _triple(spec.get("stride", 1), f"{where}.stride")
    pad = spec.get("pad", 0)
    if isinstance(pad, list) and len(pad) == 6 and all(map(_is_int, pad)):
        front, top, left, back, bottom, right = pad
    else:
        front, top, left = _triple(pad, f"{where}.pad")
        back, bottom, right = front, top, left
    return dict(kernel=(kh, kw), stride=(sh, sw), pad=(top, left, bottom, right),
                depth=(frames, kt, st, front, back))


def _layer(spec: Any, where: str, shapes: dict[str, tuple[int, int, int]],
           previous: str, frames: dict[str, int]) -> Layer:
    if not isinstance(spec, dict):
        raise WorkloadError(f"{where}: expected a mapping of layer keys, got {spec!r}")
    for key in spec:
        if key not in LAYER_KEYS:
            raise WorkloadError(_unknown_key(where, key, LAYER_KEYS))
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise WorkloadError(f"{where}.name: every layer needs a string name")
    where = f"{where} ({name})"
    kind = spec.get("kind")
    _check_kind_keys(spec, kind, where)
    inputs = _inputs(spec, kind, where, shapes, previous)
    if kind == "concat":
        c, h, w = _concat_input(spec, where, [shapes[p] for p in inputs], inputs)
    else:
        c, h, w = shapes[inputs[0]]
    depth = None
    if kind in VOLUME_KINDS:
        volume = _volume_fields(spec, where, frames.get(inputs[0], 0))
        kernel, stride, pad, depth = (volume[k] for k in ("kernel", "stride", "pad", "depth"))
        h //= depth[0]   # the frames are stacked along H
    else:
        kernel = _pair(spec.get("kernel", 1), f"{where}.kernel")
        stride = _pair(spec.get("stride", 1), f"{where}.stride")
        pad = _pad(spec.get("pad", 0), f"{where}.pad")
    groups_value = spec.get("groups", 1)
    groups = c if groups_value == "depthwise" else _int(groups_value, f"{where}.groups")
    keeps_channels = kind in ("pool", "pool3d", "add", "concat", *HOST_KINDS)
    default_out = c if keeps_channels or groups_value == "depthwise" else None
    if kind == "matmul":   # as many outputs as the second input's matrix has columns
        other = shapes[inputs[1]]
        default_out = groups * other[1] * other[2] if spec.get("op") == "transposed" else (
            other[0])
    out_channels = spec.get("out_channels", default_out)
    if out_channels is None:
        raise WorkloadError(f"{where}.out_channels: required for a {kind} layer")
    if kind == "fc":
        kernel, stride, pad = (h, w), (1, 1), (0, 0, 0, 0)
    relu = spec.get("relu", False)
    if not isinstance(relu, bool):
        raise WorkloadError(f"{where}.relu: expected true or false, got {relu!r}")
    op = spec.get("op")
    out_channels = _int(out_channels, f"{where}.out_channels")
    alpha, beta = (_number(spec.get(key), f"{where}.{key}") for key in ("alpha", "beta"))
    try:   # the Layer's own checks name the layer, not the file: say where it is
        return Layer(name=name, kind=kind, in_channels=c, in_h=h, in_w=w,
                     out_channels=out_channels,
                     kernel_h=kernel[0], kernel_w=kernel[1], stride=stride, pad=pad,
                     groups=groups, relu=relu,
                     pool_op=None if kind in (*HOST_KINDS, "matmul") else op,
                     function=op if kind in (*HOST_KINDS, "matmul") else None,
                     alpha=alpha, beta=beta, depth=depth, inputs=tuple(inputs))
    except WorkloadError as err:
        raise WorkloadError(f"{where}: {str(err).split(': ', 1)[-1]}") from None


def _layers(spec: Any, where: str, shapes: dict[str, tuple[int, int, int]], previous: str,
            frames: dict[str, int]) -> list[Layer]:
    """The spec's layer, or an ``lstm`` / ``gru`` unrolled over its time steps (its layers
    in step order, the last named as the spec: :mod:`accelsim.workload.recurrent`)."""
    if not (isinstance(spec, dict) and spec.get("kind") in recurrent.GATES):
        return [_layer(spec, where, shapes, previous, frames)]
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise WorkloadError(f"{where}.name: every layer needs a string name")
    return recurrent.from_yaml(spec, f"{where} ({name})", shapes, previous)


def _article(kind: Any) -> str:
    return f"an {kind}" if kind in ("fc", "add", "act", "eltwise") else f"a {kind}"


def _check_kind_keys(spec: dict, kind: Any, where: str) -> None:
    """No key the layer's kind does not take (:data:`KIND_KEYS`; an unknown kind is the
    Layer's to report)."""
    for key in spec:
        if kind in KIND_KEYS and key not in ("name", "kind", "inputs", *KIND_KEYS[kind]):
            raise WorkloadError(f"{where}.{key}: {_article(kind)} layer takes no {key} (it "
                                f"takes {', '.join(KIND_KEYS[kind])})")


def _inputs(spec: dict, kind: Any, where: str, shapes: dict[str, tuple[int, int, int]],
            previous: str) -> list[str]:
    """The layer's producers (default: the layer before), checked: earlier layers, as many
    as its kind reads (:data:`INPUT_COUNTS`)."""
    inputs = spec.get("inputs", [previous])
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise WorkloadError(f"{where}.inputs: expected a list of layer names, got {inputs!r}")
    fewest, most = INPUT_COUNTS.get(kind, (1, 1))
    if len(inputs) < fewest or (most is not None and len(inputs) > most):
        count = (f"exactly {most}" if fewest == most else f"at least {fewest}")
        raise WorkloadError(f"{where}.inputs: {_article(kind)} layer needs {count} "
                            f"input{'s' * (most != 1)}, got {inputs!r}")
    for producer in inputs:
        if producer not in shapes:
            raise WorkloadError(f"{where}.inputs: {producer!r} is not an earlier layer")
    return inputs


def _concat_input(spec: dict, where: str, shapes: list[tuple[int, int, int]],
                  inputs: list[str]) -> tuple[int, int, int]:
    """A concat's input shape: summed channels of 2+ producers of equal H x W."""
    if spec.get("relu") is True:
        raise WorkloadError(f"{where}.relu: a concat layer fuses no ReLU (fuse it into its "
                            "producers)")
    (_, h, w), first = shapes[0], inputs[0]
    for name, (_, other_h, other_w) in zip(inputs, shapes, strict=True):
        if (other_h, other_w) != (h, w):
            raise WorkloadError(f"{where}.inputs: concat inputs must have equal H x W: "
                                f"{first!r} is {h}x{w} but {name!r} is {other_h}x{other_w}")
    return sum(shape[0] for shape in shapes), h, w


def network_from_dict(data: Any, origin: str) -> Network:
    """Build a Network from the parsed YAML mapping; ``origin`` names the file in errors."""
    if not isinstance(data, dict):
        raise WorkloadError(f"{origin}: expected a mapping with keys {', '.join(TOP_KEYS)}")
    for key in data:
        if key not in TOP_KEYS:
            raise WorkloadError(_unknown_key(origin, key, TOP_KEYS))
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise WorkloadError(f"{origin}: version: only version {FORMAT_VERSION} is supported, "
                            f"got {data.get('version')!r}")
    shape = data.get("input")
    if not (isinstance(shape, list) and len(shape) in (3, 4)
            and all(_is_int(v) and v > 0 for v in shape)):
        raise WorkloadError(f"{origin}: input: expected [C, H, W] (an image) or [C, D, H, W] "
                            f"(a clip) positive integers, got {shape!r}")
    frames = {INPUT: shape[1] if len(shape) == 4 else 0}
    if len(shape) == 4:   # a clip: its D frames stacked along H
        shape = [shape[0], shape[1] * shape[2], shape[3]]
    specs = data.get("layers")
    if not isinstance(specs, list) or not specs:
        raise WorkloadError(f"{origin}: layers: expected a non-empty list of layers")
    shapes: dict[str, tuple[int, int, int]] = {INPUT: tuple(shape)}
    layers, previous = [], INPUT
    for index, spec in enumerate(specs):
        for layer in _layers(spec, f"{origin}: layers[{index}]", shapes, previous, frames):
            if layer.name in shapes:
                raise WorkloadError(f"{origin}: layers[{index}].name: {layer.name!r} is used "
                                    "twice")
            shapes[layer.name] = layer.out_shape
            frames[layer.name] = layer.out_frames if layer.depth else (
                0 if layer.kind == "fc" else frames.get(layer.inputs[0], 0))
            layers.append(layer)
        previous = layer.name
    name = data.get("name") or Path(origin).stem
    return Network(name=str(name), input_shape=tuple(shape), layers=tuple(layers),
                   source=str(data.get("source", "")), origin=origin)


def load_yaml_network(path: Path) -> Network:
    """Read a network YAML file."""
    return network_from_dict(read_yaml(path, WorkloadError), str(path))
