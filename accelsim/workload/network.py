"""A network: layers in execution order, forming a DAG through each layer's ``inputs``.

The network input is the pseudo-producer named ``input``. Every layer's producers must come
earlier in the list, and its input shape must equal its producers' output shapes; the
constructor checks both, so a Network that exists is consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelsim.errors import WorkloadError
from accelsim.workload.layer import Layer

INPUT = "input"


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
                if shapes[producer] != layer.in_shape:
                    raise WorkloadError(
                        f"{self._where()}: layer {layer.name!r}: expects input shape "
                        f"{layer.in_shape}, but {producer!r} produces {shapes[producer]}")
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
