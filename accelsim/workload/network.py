"""A network: layers in execution order, forming a DAG through each layer's ``inputs``.

The network input is the pseudo-producer named ``input``. Every layer's producers must come
earlier in the list, and its input shape must equal its producers' output shapes (for a
``concat``: equal H x W, channels summing to its input channels); the constructor checks
both, so a Network that exists is consistent. It also checks sizes before anything is
allocated: no tensor above :data:`MAX_TENSOR_ELEMENTS`, and no network whose simulation
(:meth:`Network.memory_estimate`) needs more than the machine's RAM.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from accelsim.errors import WorkloadError
from accelsim.workload.layer import Layer
from accelsim.workload.matmul import operand_problem

INPUT = "input"
MAX_TENSOR_ELEMENTS = 2 ** 31
"""Most elements a layer's input, output or weight tensor may hold (8 GiB as float32, more
than a simulation of it could hold in memory beside its copies): refused when the network is
made, not met as a MemoryError in the middle of a run."""


def size_problem(layer: Layer) -> str | None:
    """Why one of ``layer``'s tensors is too large to allocate, or None."""
    for what, count in (("input", math.prod(layer.in_shape)),
                        ("output", math.prod(layer.out_shape)),
                        ("weight", layer.weight_count)):
        if count > MAX_TENSOR_ELEMENTS:
            return (f"its {what} tensor would hold {count:,} elements ({4 * count / 2**30:,.1f}"
                    f" GiB as float32), more than the 2**31 a tensor may have")
    return None


def machine_ram() -> int | None:
    """The machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def input_shape_problem(layer: Layer, shapes: list[tuple[int, int, int]]) -> str | None:
    """Why the producers' output ``shapes`` (in ``layer.inputs`` order) cannot feed
    ``layer``, or None. A concat needs equal H x W and channels summing to ``in_channels``;
    an eltwise's second operand may be ``C x 1 x 1`` (broadcast over H x W), a matmul's is
    its weights (:func:`~accelsim.workload.matmul.operand_problem`); every other
    input must be exactly ``layer.in_shape``."""
    names = layer.inputs
    if layer.kind == "matmul":   # the second input is the weights (workload.matmul)
        problem = operand_problem(layer, shapes[1])
        if problem:
            return f"{problem} from {names[1]!r}"
        names, shapes = names[:1], shapes[:1]
    if layer.kind != "concat":
        for index, (name, shape) in enumerate(zip(names, shapes, strict=True)):
            broadcast = layer.kind == "eltwise" and index == 1 and tuple(shape) == (
                layer.in_channels, 1, 1)
            if tuple(shape) != layer.in_shape and not broadcast:
                return f"expects input shape {layer.in_shape}, but {name!r} produces {shape}"
        return None
    for name, (_, h, w) in zip(names, shapes, strict=True):
        if (h, w) != tuple(shapes[0][1:]):
            return (f"concat inputs must have equal H x W: {names[0]!r} is "
                    f"{shapes[0][1]}x{shapes[0][2]} but {name!r} is {h}x{w}")
    if tuple(shapes[0][1:]) != (layer.in_h, layer.in_w):
        return (f"expects inputs of {layer.in_h}x{layer.in_w}, but they are "
                f"{shapes[0][1]}x{shapes[0][2]}")
    channels = sum(shape[0] for shape in shapes)
    if channels != layer.in_channels:
        return (f"expects {layer.in_channels} input channels, but its inputs produce "
                f"{' + '.join(str(shape[0]) for shape in shapes)} = {channels}")
    return None


@dataclass(frozen=True)
class Network:
    """An ordered, shape-checked list of layers fed by one ``C x H x W`` input."""

    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[Layer, ...]
    source: str = ""
    origin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.layers:
            raise WorkloadError(f"{self._where()}: the network has no layers")
        shapes: dict[str, tuple[int, int, int]] = {INPUT: tuple(self.input_shape)}
        for layer in self.layers:
            if layer.name in shapes:
                raise WorkloadError(f"{self._where()}: layer name {layer.name!r} is used twice")
            for producer in layer.inputs:
                if producer not in shapes:
                    raise WorkloadError(
                        f"{self._where()}: layer {layer.name!r}: input {producer!r} is not an "
                        "earlier layer")
            problem = (input_shape_problem(layer, [shapes[p] for p in layer.inputs])
                       or size_problem(layer))
            if problem:
                raise WorkloadError(f"{self._where()}: layer {layer.name!r}: {problem}")
            shapes[layer.name] = layer.out_shape
        ram, needed = machine_ram(), self.memory_estimate()
        if ram is not None and needed > ram:
            raise WorkloadError(
                f"{self._where()}: simulating it needs about {needed / 2**30:,.1f} GiB (4 B "
                "per weight and bias; for its largest layer 6 B per weight, 8 B per input and "
                "48 B per output value; 32 B per value of the seeded input image), more than "
                f"this machine's {ram / 2**30:,.1f} GiB of RAM")

    def _where(self) -> str:
        return self.origin or f"network {self.name!r}"

    def memory_estimate(self) -> int:
        """Bytes a simulation needs at least, roughly: the float32 weights and biases of the
        whole network; for the layer needing most, its weights again (float32 and fixed
        point, 6 B), its input (8 B a value) and its output with the int64 accumulators and
        the temporaries of requantizing them (48 B a value); and the seeded input image's
        float64 spectra (32 B a value per channel + 1)."""
        stored = sum(layer.weight_count + layer.out_channels * layer.has_weights
                     for layer in self.layers)
        largest = max(6 * layer.weight_count + 8 * math.prod(layer.in_shape)
                      + 48 * math.prod(layer.out_shape) for layer in self.layers)
        channels, height, width = self.input_shape
        return 4 * stored + largest + 32 * (channels + 1) * height * width

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def conv_macs(self) -> int:
        return sum(layer.macs for layer in self.layers if layer.kind in ("conv", "conv3d"))

    @property
    def weight_count(self) -> int:
        return sum(layer.weight_count for layer in self.layers)

    def consumers(self, name: str) -> list[str]:
        """Names of the layers that read ``name``'s output."""
        return [layer.name for layer in self.layers if name in layer.inputs]

    def last_use(self) -> dict[str, int]:
        """For each producer, the index of the last layer that reads it (to free memory)."""
        last: dict[str, int] = {}
        for index, layer in enumerate(self.layers):
            for producer in layer.inputs:
                last[producer] = index
        return last

    def summary(self) -> str:
        """A short one-line description: layer count, MACs, weights."""
        return (f"{self.name}: {len(self.layers)} layers, {self.macs / 1e6:,.1f} M MACs, "
                f"{self.weight_count / 1e6:,.2f} M weights")
