"""SCALE-Sim topology CSV import, so topology files users already have run here too.

The format (scale-sim-v2 ``topologies/conv_nets/*.csv``) is a header ``Layer name, IFMAP
Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides`` and one row
per layer::

    Conv1,224,224,7,7,3,64,2,
    Conv2_dw, 112, 112, 3, 3, 1, 1, 1,#dw

Blank lines, surrounding spaces and tabs, a missing trailing comma and a ``#`` comment after
the last column are accepted, as in SCALE-Sim's own files. The format leaves out what a
value-aware run needs; accelsim fills it in as follows:

* **Padding.** SCALE-Sim computes a valid convolution of the listed IFMAP. Real networks pad,
  so ``padding="same"`` (the default) pads each layer to give ``ceil(IFMAP / stride)``
  outputs: ``(R - 1) / 2`` on every side for odd filters, as Caffe and PyTorch networks do
  (the extra row and column of even filters go bottom/right, TensorFlow's SAME).
  ``padding="valid"`` convolves exactly the IFMAP SCALE-Sim convolves: the IFMAP is the
  padded input, so when the layer before produces less, the difference is zero padding.
  The layer keeps its real ``floor((IFMAP - R) / U) + 1`` outputs; SCALE-Sim's
  ``ceil((IFMAP - R + U) / U)`` (one more when the stride does not divide) is a timing
  quirk the systolic core reproduces (:mod:`accelsim.arch.systolic`, quirk 1).
* **fc layers.** A row whose filter covers its whole IFMAP is an fc layer (SCALE-Sim writes
  FC layers as 1x1 filters on a 1x1 IFMAP).
* **Depthwise layers.** SCALE-Sim has no groups; depthwise rows come in three encodings.
  (1) ``DP`` in the layer name (case-sensitive, the rule of SCALE-Sim's topology loader,
  which splits such a row into ``Channels`` one-channel layers of ``Num Filter`` filters
  each): a conv with ``Channels`` groups of one input channel and ``Num Filter`` filters
  each (``Num Filter`` 1 is depthwise; more is a channel multiplier). (2) ``dw`` in the name
  or a ``#dw`` comment with ``Num Filter`` 1 and ``Channels`` the channel count
  (``mobilenet.csv``: SCALE-Sim computes one filter over all channels, which has the
  depthwise MAC count) or (3) the same with ``Channels`` 1 (``mobilnet_paper.csv``: one
  channel of the previous layer's output). (2) and (3) become a depthwise conv over the
  input's channels. An unmarked row is taken literally.
* **Connections.** A layer reads the most recent earlier layer (or the network input) whose
  output is exactly its input ``C x H x W``. SCALE-Sim lists only conv and fc layers, so when
  none matches, a max-pooling layer ``pool_before_<name>`` is inserted that reduces the most
  recent output with those channels to the IFMAP size (stride ``floor(H_in / H)``, window
  ``H_in - (H - 1) * stride``; average pooling when it produces 1x1, as classifier heads
  do). Residual adds are not in the format and are not simulated; a shortcut layer reads the
  latest output of its shape. Shapes and MACs of the listed layers are exact; activation
  values only approximate the real graph.
* **Activations.** Every layer but the last gets a fused ReLU (``relu=True``), as nearly
  every convolution of a CNN does; the last row (the classifier) gets none.
"""

from __future__ import annotations

import re
from pathlib import Path

from accelsim.errors import WorkloadError
from accelsim.workload.layer import Layer
from accelsim.workload.network import INPUT, Network

COLUMNS = ("layer name", "ifmap height", "ifmap width", "filter height", "filter width",
           "channels", "num filter", "strides")
PADDING_MODES = ("same", "valid")
_DW_NAME = re.compile(r"(^|[^a-z])dw([^a-z]|$)", re.IGNORECASE)
_DP_NAME = "DP"   # SCALE-Sim's loader: ``if 'DP' in layer_name`` -> one layer per channel


def load_topology_csv(path: str | Path, *, padding: str = "same",
                      relu: bool = True) -> Network:
    """Read a SCALE-Sim topology CSV into a Network (see the module docstring)."""
    path = Path(path)
    if padding not in PADDING_MODES:
        raise WorkloadError(f"{path}: padding must be one of {', '.join(PADDING_MODES)}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise WorkloadError(f"{path}: cannot read the topology file ({err})") from None
    rows = _rows(text, str(path))
    builder = _Builder(str(path), padding)
    for index, (line, name, values, mark) in enumerate(rows):
        builder.add(line, name, values, mark, relu and index < len(rows) - 1)
    adapters = sum(1 for layer in builder.layers if layer.name.startswith("pool_before_"))
    return Network(name=path.stem, input_shape=builder.input_shape,
                   layers=tuple(builder.layers),
                   source=f"SCALE-Sim topology {path.name} (padding {padding}, {adapters} "
                          "pooling layers inserted where the file skips them)",
                   origin=str(path))


def _rows(text: str, origin: str) -> list[tuple[int, str, list[int], bool]]:
    """(line number, layer name, 7 integers, depthwise mark: "dp", "dw" or "") per row."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise WorkloadError(f"{origin}: the topology file is empty")
    header = [_norm(cell) for cell in _cells(lines[0][1])[0]]
    if header != list(COLUMNS):
        extra = [c for c in header if c not in COLUMNS]
        hint = (" (GEMM M, N, K topologies are not supported)" if header[1:4] == ["m", "n", "k"]
                else f" (unsupported columns: {', '.join(extra)})" if extra else "")
        raise WorkloadError(f"{origin}: line {lines[0][0]}: expected the header "
                            f"{', '.join(c.title() for c in COLUMNS)}{hint}")
    rows = []
    for number, line in lines[1:]:
        cells, comment = _cells(line)
        where = f"{origin}: line {number}"
        if len(cells) != len(COLUMNS):
            raise WorkloadError(f"{where}: expected {len(COLUMNS)} columns, got {len(cells)}")
        name, values = cells[0], []
        for column, cell in zip(COLUMNS[1:], cells[1:], strict=True):
            if not cell.isdigit() or int(cell) < 1:
                raise WorkloadError(f"{where} ({name}): {column.title()}: expected a positive "
                                    f"integer, got {cell!r}")
            values.append(int(cell))
        mark = ("dp" if _DP_NAME in name else "dw" if _DW_NAME.search(name)
                or comment.strip().lower().startswith("dw") else "")
        rows.append((number, name, values, mark))
    if not rows:
        raise WorkloadError(f"{origin}: the topology file has no layer rows")
    return rows


def _cells(line: str) -> tuple[list[str], str]:
    """Stripped cells without the trailing empty one, and the ``#`` comment if any."""
    body, _, comment = line.partition("#")
    cells = [cell.strip() for cell in body.split(",")]
    while cells and not cells[-1]:
        cells.pop()
    return cells, comment


def _norm(cell: str) -> str:
    return " ".join(cell.lower().split())


class _Builder:
    """Chains rows into layers, inserting pooling where the file skips it."""

    def __init__(self, origin: str, padding: str):
        self.origin, self.padding = origin, padding
        self.layers: list[Layer] = []
        self.outputs: list[tuple[str, tuple[int, int, int]]] = []
        self.input_shape: tuple[int, int, int] | None = None

    def add(self, line: int, name: str, values: list[int], mark: str, relu: bool) -> None:
        height, width, kernel_h, kernel_w, channels, filters, stride = values
        where = f"{self.origin}: line {line} ({name})"
        for side, kernel, size in (("Height", kernel_h, height), ("Width", kernel_w, width)):
            if kernel > size:   # SCALE-Sim slides the filter inside the IFMAP: no output
                raise WorkloadError(f"{where}: Filter {side} {kernel} is larger than IFMAP "
                                    f"{side} {size} (a SCALE-Sim row convolves its IFMAP "
                                    "unpadded)")
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
            pad = (0, 0, 0, 0) if is_fc else _same_pad(height, width, kernel_h, kernel_w,
                                                        stride)
        try:
            layer = Layer(name=name, kind="fc" if is_fc else "conv", in_channels=channels,
                          in_h=in_h, in_w=in_w,
                          out_channels=channels * multiplier if depthwise else filters,
                          kernel_h=kernel_h, kernel_w=kernel_w,
                          stride=(1, 1) if is_fc else (stride, stride), pad=pad,
                          groups=channels if depthwise else 1, relu=relu, inputs=(producer,))
        except WorkloadError as err:
            raise WorkloadError(f"{where}: {str(err).split(': ', 1)[-1]}") from None
        self._append(layer)

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


def _same_pad(height: int, width: int, kernel_h: int, kernel_w: int,
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
