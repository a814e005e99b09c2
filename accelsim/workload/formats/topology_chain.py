"""Chaining mode of SCALE-Sim topology import (``load_topology_csv(path, chain=True)``).

SCALE-Sim runs every topology row on its own IFMAP; this optional mode instead links the rows
into one network, the way the file's layers run in the real model, so activations flow from
layer to layer (:mod:`accelsim.workload.formats.topology_csv` says how rows connect, how
skipped pooling is inserted and how the ``dw`` depthwise encodings read). Kept apart from the
reader because only this mode needs it.
"""

from __future__ import annotations

from accelsim.errors import WorkloadError
from accelsim.workload.layer import Layer
from accelsim.workload.network import INPUT


def row_layer(where: str, name: str, is_fc: bool, depthwise: bool, channels: int,
              size: tuple[int, int], out_channels: int, kernel: tuple[int, int], stride: int,
              pad: tuple[int, int, int, int], relu: bool, producer: str) -> Layer:
    """A topology row's layer: an fc when the filter covers its input, else a (depthwise)
    conv; the Layer's own checks named after the file and line (``where``)."""
    try:
        return Layer(name=name, kind="fc" if is_fc else "conv", in_channels=channels,
                     in_h=size[0], in_w=size[1], out_channels=out_channels,
                     kernel_h=kernel[0], kernel_w=kernel[1],
                     stride=(1, 1) if is_fc else (stride, stride), pad=pad,
                     groups=channels if depthwise else 1, relu=relu, inputs=(producer,))
    except WorkloadError as err:
        raise WorkloadError(f"{where}: {str(err).split(': ', 1)[-1]}") from None


def check_filter(where: str, values) -> None:
    """A row's filter must fit its IFMAP (SCALE-Sim slides it inside: no output otherwise)."""
    height, width, kernel_h, kernel_w = values[:4]
    for column, side, kernel, size in ((4, "Height", kernel_h, height),
                                       (5, "Width", kernel_w, width)):
        if kernel > size:
            raise WorkloadError(f"{where}, column {column} (Filter {side}): {kernel} is larger "
                                f"than IFMAP {side} {size} (a SCALE-Sim row convolves its "
                                "IFMAP unpadded)")


class Builder:
    """Chains rows into layers, inserting pooling where the file skips it."""

    def __init__(self, origin: str, padding: str):
        self.origin, self.padding = origin, padding
        self.layers: list[Layer] = []
        self.outputs: list[tuple[str, tuple[int, int, int]]] = []
        self.input_shape: tuple[int, int, int] | None = None

    def add(self, line: int, name: str, values: list[int], mark: str, relu: bool) -> None:
        height, width, kernel_h, kernel_w, channels, filters, stride = values
        where = f"{self.origin}: line {line} ({name})"
        check_filter(where, values)
        depthwise = mark == "dp" or (mark == "dw" and filters == 1)
        multiplier = filters if mark == "dp" else 1
        if mark == "dw" and depthwise and channels == 1:
            channels = self._channels_at(height, width, where)
        producer, (in_h, in_w) = self._producer((channels, height, width), where, name)
        name = self._unique(name)
        is_fc = not depthwise and (kernel_h, kernel_w) == (height, width) == (in_h, in_w)
        if self.padding == "valid":   # the IFMAP is the padded input: pad what is missing
            pad = _split(height - in_h, width - in_w)
        else:
            pad = (0, 0, 0, 0) if is_fc else same_pad(height, width, kernel_h, kernel_w,
                                                        stride)
        self._append(row_layer(where, name, is_fc, depthwise, channels, (in_h, in_w),
                               channels * multiplier if depthwise else filters,
                               (kernel_h, kernel_w), stride, pad, relu, producer))

    def _append(self, layer: Layer) -> None:
        self.layers.append(layer)
        self.outputs.append((layer.name, layer.out_shape))

    def _unique(self, name: str) -> str:
        taken = {n for n, _ in self.outputs} | {INPUT}
        unique, suffix = name, 2
        while unique in taken:
            unique, suffix = f"{name}_{suffix}", suffix + 1
        return unique

    def _channels_at(self, height: int, width: int, where: str) -> int:
        """Channels of the latest output that is (or pools down to) ``height x width``."""
        for _, (c, h, w) in reversed(self.outputs):
            if h >= height and w >= width:
                return c
        raise WorkloadError(f"{where}: a depthwise row with Channels 1 takes its channels "
                            "from the layer before it, and there is none")

    def _producer(self, shape: tuple[int, int, int], where: str,
                  reader: str) -> tuple[str, tuple[int, int]]:
        """The layer to read and the H x W it delivers: exactly the IFMAP, or (valid padding
        only) a smaller output that the layer pads up to the IFMAP."""
        if self.input_shape is None:
            self.input_shape = shape
            self.outputs.append((INPUT, shape))
            return INPUT, shape[1:]
        for name, out_shape in reversed(self.outputs):
            if out_shape == shape:
                return name, shape[1:]
        for name, (c, h, w) in reversed(self.outputs):
            if c != shape[0]:
                continue
            if h >= shape[1] and w >= shape[2]:
                return self._adapter(name, (c, h, w), shape, reader), shape[1:]
            if self.padding == "valid" and h <= shape[1] and w <= shape[2]:
                return name, (h, w)
        raise WorkloadError(
            f"{where}: no earlier layer produces {shape[0]} channels of at least "
            f"{shape[1]}x{shape[2]}, so the row cannot be connected (SCALE-Sim files do not "
            "say how layers connect; accelsim links a row to the latest output of its shape "
            "or pools one down to it)")

    def _adapter(self, source: str, have: tuple[int, int, int], want: tuple[int, int, int],
                 reader: str) -> str:
        (c, h, w), (_, height, width) = have, want
        stride = (h // height, w // width)
        kernel = (h - (height - 1) * stride[0], w - (width - 1) * stride[1])
        name = self._unique(f"pool_before_{reader}")
        self._append(Layer(name=name, kind="pool", in_channels=c, in_h=h, in_w=w,
                           out_channels=c, kernel_h=kernel[0], kernel_w=kernel[1],
                           stride=stride, pool_op="avg" if height * width == 1 else "max",
                           inputs=(source,)))
        return name


def _split(extra_h: int, extra_w: int) -> tuple[int, int, int, int]:
    """Padding that adds ``extra`` rows and columns, the odd one at the bottom / right."""
    return (extra_h // 2, extra_w // 2, extra_h - extra_h // 2, extra_w - extra_w // 2)


def same_pad(height: int, width: int, kernel_h: int, kernel_w: int,
              stride: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) padding for ``ceil(size / stride)`` outputs: ``(k - 1) / 2``
    a side for an odd filter (then ``floor((size - 1) / stride) + 1`` outputs, the same),
    TensorFlow's SAME split for an even one."""
    before, after = [], []
    for size, k in ((height, kernel_h), (width, kernel_w)):
        total = max((-(-size // stride) - 1) * stride + k - size, 0)
        half = (k - 1) // 2 if k % 2 else total // 2
        before.append(half)
        after.append(half if k % 2 else total - half)
    return (before[0], before[1], after[0], after[1])
