"""A network: layers in execution order, forming a DAG through each layer's ``inputs``.

The network input is the pseudo-producer named ``input``. Every layer's producers must come
earlier in the list, and its input shape must equal its producers' output shapes (for a
``concat``: equal H x W, channels summing to its input channels); the constructor checks
both, so a Network that exists is consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelsim.errors import WorkloadError
from accelsim.workload.layer import Layer

INPUT = "input"


def input_shape_problem(layer: Layer, shapes: list[tuple[int, int, int]]) -> str | None:
    """Why the producers' output ``shapes`` (in ``layer.inputs`` order) cannot feed
    ``layer``, or None. A concat needs equal H x W and channels summing to ``in_channels``;
    an eltwise's second operand may be ``C x 1 x 1`` (broadcast over H x W); every other
    input must be exactly ``layer.in_shape``."""
    names = layer.inputs
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
            problem = input_shape_problem(layer, [shapes[p] for p in layer.inputs])
            if problem:
                raise WorkloadError(f"{self._where()}: layer {layer.name!r}: {problem}")
            shapes[layer.name] = layer.out_shape

    def _where(self) -> str:
        return self.origin or f"network {self.name!r}"

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
        return sum(layer.macs for layer in self.layers if layer.kind == "conv")

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
