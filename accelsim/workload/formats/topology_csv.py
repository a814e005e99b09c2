"""SCALE-Sim topology CSV import, so topology files users already have run here too.

Two formats, told apart by the header (or ``kind="conv"|"gemm"``). Conv (scale-sim-v2
``topologies/conv_nets/*.csv``): ``Layer name, IFMAP Height, IFMAP Width, Filter Height,
Filter Width, Channels, Num Filter, Strides`` and one row per layer::

    Conv1,224,224,7,7,3,64,2,
    Conv2_dw, 112, 112, 3, 3, 1, 1, 1,#dw

GEMM (what SCALE-Sim runs with ``-i gemm``): ``Layer, M, N, K``; SCALE-Sim 3.0.0
(``topology_utils.load_arrays_gemm``) runs a row as the conv ``IFMAP M x K, Filter 1 x K,
Channels 1, Num Filter N, Strides 1``: ``M x N`` outputs of ``K`` MACs, and so do we
(unpadded whatever ``padding`` says). Both take an optional last ``Sparsity`` column ``N:M``
(default ``1:1``): a row's network (:class:`RowNetwork`) carries it and ``accelsim run``
prunes its weights to it (:func:`prune_n_m`); SCALE-Sim times such a row dense unless
``SparsitySupport``, which is not modelled yet. Blank lines, surrounding spaces and tabs, a
missing trailing comma and a ``#`` comment after the last column are accepted, as in
SCALE-Sim's own files.

**Rows are independent layers**, as in SCALE-Sim: :func:`load_topology` gives one
single-layer Network per row, fed by its own seeded ``Channels x IFMAP`` input (a network has
one input, so a file of several rows is several networks; ``accelsim run`` simulates them in
turn and reports one row each). ``load_topology_csv(path, chain=True)`` instead links the rows
into one network (:mod:`accelsim.workload.formats.topology_chain`; "Connections" below). The
format leaves out what a value-aware run needs; accelsim fills it in as follows:

* **Padding.** SCALE-Sim computes a valid convolution of the listed IFMAP. Real networks pad,
  so ``padding="same"`` (the default) pads each layer to give ``ceil(IFMAP / stride)``
  outputs: ``(R - 1) / 2`` on every side for odd filters, as Caffe and PyTorch networks do
  (the extra row and column of even filters go bottom/right, TensorFlow's SAME).
  ``padding="valid"`` convolves exactly the IFMAP SCALE-Sim convolves: the IFMAP is the
  padded input, so when the layer before produces less, the difference is zero padding.
  (Chained rows only: a row fed less than its IFMAP pads the difference.)
  The layer keeps its real ``floor((IFMAP - R) / U) + 1`` outputs; SCALE-Sim's
  ``ceil((IFMAP - R + U) / U)`` (one more when the stride does not divide) is a timing
  quirk the systolic core reproduces (:mod:`accelsim.arch.systolic`, quirk 1).
* **fc layers.** A row whose filter covers its whole IFMAP is an fc layer (SCALE-Sim writes
  FC layers as 1x1 filters on a 1x1 IFMAP).
* **Depthwise layers.** SCALE-Sim has no groups; depthwise rows come in three encodings.
  (1) ``DP`` in the layer name (case-sensitive, the rule of SCALE-Sim's topology loader,
  which splits such a row into ``Channels`` one-channel layers ``<name>Channel_<i>`` of
  ``Num Filter`` filters each): with ``expand_dp`` (the systolic core) exactly those layers,
  otherwise one conv with ``Channels`` groups of one input channel and ``Num Filter`` filters
  each (``Num Filter`` 1 is depthwise; more is a channel multiplier). In chaining mode only,
  (2) ``dw`` in the name
  or a ``#dw`` comment with ``Num Filter`` 1 and ``Channels`` the channel count
  (``mobilenet.csv``: SCALE-Sim computes one filter over all channels, which has the
  depthwise MAC count) or (3) the same with ``Channels`` 1 (``mobilnet_paper.csv``: one
  channel of the previous layer's output). (2) and (3) become a depthwise conv over the
  input's channels; as independent rows they are taken literally, as SCALE-Sim takes them.
  An unmarked row is always taken literally.
* **Connections** (chaining mode). A layer reads the most recent earlier layer (or the
  network input) whose output is exactly its input ``C x H x W``. SCALE-Sim lists only conv
  and fc layers, so when none matches, a max-pooling layer ``pool_before_<name>`` is
  inserted that reduces the most recent output with those channels to the IFMAP size (stride
  ``floor(H_in / H)``, window ``H_in - (H - 1) * stride``; average pooling when it produces
  1x1, as classifier heads do). Residual adds are not in the format and are not simulated; a
  shortcut layer reads the latest output of its shape. Shapes and MACs of the listed layers
  are exact; activation values only approximate the real graph.
* **Activations.** Every conv row but the last gets a fused ReLU (``relu=True``), as nearly
  every convolution of a CNN does; the last row (the classifier) and GEMM rows get none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload.formats.topology_chain import check_filter, row_layer, same_pad
from accelsim.workload.layer import Layer
from accelsim.workload.network import INPUT, Network

COLUMNS = ("layer name", "ifmap height", "ifmap width", "filter height", "filter width",
           "channels", "num filter", "strides")
GEMM_COLUMNS = ("layer", "m", "n", "k")
SPARSITY = "sparsity"
KINDS = ("conv", "gemm")
PADDING_MODES = ("same", "valid")
_DW_NAME = re.compile(r"(^|[^a-z])dw([^a-z]|$)", re.IGNORECASE)
_DP_NAME = "DP"   # SCALE-Sim's loader: ``if 'DP' in layer_name`` -> one layer per channel


@dataclass(frozen=True)
class Row:
    """One topology row as a conv: ``values`` are IFMAP H, W, filter H, W, channels, filters,
    stride (a GEMM row already converted); ``mark`` is "dp", "dw" or ""; ``sparsity`` N:M."""

    line: int
    name: str
    values: tuple[int, ...]
    mark: str
    sparsity: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class RowNetwork(Network):
    """A topology row's network, with the row's ``N:M`` sparsity: its weights are pruned to
    that pattern (:func:`prune_n_m`) before it runs (``accelsim run`` does)."""

    sparsity: tuple[int, int] = (1, 1)


def prune_n_m(weights: np.ndarray, n: int, m: int, first: bool = False) -> np.ndarray:
    """``weights`` (M, C/G, R, S) with only the ``n`` largest-magnitude of every ``m``
    consecutive elements of each filter kept, in SCALE-Sim's window order (filter row,
    column, channel; channel fastest): the N:M structured pruning a ``Sparsity`` cell asks
    for (ties keep the first). A last, shorter block keeps at most ``n``. ``first``: keep the
    first ``n`` of every ``m`` instead, the positions SCALE-Sim's sparse timing assumes."""
    if n == m:
        return weights
    window = weights.transpose(0, 2, 3, 1).reshape(weights.shape[0], -1)
    kept = np.zeros(window.shape, dtype=bool)
    for start in range(0, window.shape[1], m):
        block = np.abs(window[:, start:start + m])
        order = np.argsort(-block, axis=1, kind="stable")[:, :n]
        if first:
            order = np.broadcast_to(np.arange(min(n, block.shape[1])), order.shape)
        np.put_along_axis(kept[:, start:start + m], order, True, axis=1)
    return prune_to(weights, kept)


def optimized_counts(filters: int, block: int, seed: int) -> np.ndarray:
    """SCALE-Sim's optimized sparse mapping: each filter's N of every ``block`` weights, drawn
    as it draws them (``np.random.seed(seed)``, then ``randint(1, block // 2 + 1)`` per filter;
    the first N of every block are kept)."""
    rng = np.random.RandomState(seed)
    return np.array([rng.randint(1, block // 2 + 1) for _ in range(filters)], dtype=np.int64)


def prune_to(weights: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``weights`` (M, C/G, R, S) with only the ``keep`` (M x window, window order (ky, kx,
    c)) elements left."""
    out, channels, rows, cols = weights.shape
    window = weights.transpose(0, 2, 3, 1).reshape(out, -1)
    pruned = np.where(keep, window, 0).astype(weights.dtype)
    return pruned.reshape(out, rows, cols, channels).transpose(0, 3, 1, 2).copy()


def read_topology(path: str | Path, kind: str | None = None) -> tuple[str, list[Row]]:
    """The file's kind ("conv" or "gemm", from its header unless ``kind`` says) and rows."""
    path = Path(path)
    if kind is not None and kind not in KINDS:
        raise WorkloadError(f"{path}: topology kind must be one of {', '.join(KINDS)}, "
                            f"not {kind!r}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise WorkloadError(f"{path}: cannot read the topology file ({err})") from None
    return _rows(text, str(path), kind)


def load_topology(path: str | Path, *, padding: str = "same", kind: str | None = None,
                  expand_dp: bool = False, relu: bool = True) -> tuple[Network, ...]:
    """One single-layer Network per row, each fed by its own ``Channels x IFMAP`` input, as
    SCALE-Sim runs a topology (see the module docstring). ``expand_dp`` splits a ``DP`` row
    into SCALE-Sim's ``Channels`` one-channel layers (``<name>Channel_<i>``, the systolic
    core's reports then match SCALE-Sim's row for row); otherwise it is one depthwise conv."""
    path = Path(path)
    _check_padding(path, padding)
    kind, rows = read_topology(path, kind)
    networks, taken = [], set()
    for index, row in enumerate(rows):
        last = index == len(rows) - 1
        fuse = relu and kind == "conv" and not last
        parts = ([(f"{row.name}Channel_{c}", 1, False) for c in range(row.values[4])]
                 if row.mark == "dp" and expand_dp else [(row.name, row.values[4],
                                                          row.mark == "dp")])
        for name, channels, depthwise in parts:
            name = _unique(name, taken)
            layer = _row_layer(str(path), row, name, channels, depthwise,
                               "valid" if kind == "gemm" else padding, fuse)   # a GEMM: M x K
            networks.append(RowNetwork(
                name=name, input_shape=layer.in_shape, layers=(layer,),
                source=f"SCALE-Sim {kind} topology {path.name}, line {row.line} (its own "
                       f"input, padding {padding})", origin=str(path), sparsity=row.sparsity))
    return tuple(networks)


def load_topology_csv(path: str | Path, *, padding: str = "same", relu: bool = True,
                      chain: bool = False, kind: str | None = None) -> Network:
    """A topology as one Network. SCALE-Sim's rows are independent layers with inputs of their
    own, which one network cannot hold: without ``chain`` this is the network of a one-row
    file (use :func:`load_topology` for more rows). ``chain=True`` links the rows into one
    network (:mod:`accelsim.workload.formats.topology_chain`)."""
    path = Path(path)
    _check_padding(path, padding)
    if not chain:
        networks = load_topology(path, padding=padding, kind=kind, relu=relu)
        _refuse_sparse(path, networks)
        if len(networks) > 1:
            raise WorkloadError(
                f"{path}: its {len(networks)} rows are independent layers, each with its own "
                "input (as SCALE-Sim runs them), which one network cannot hold: run it with "
                "`accelsim run --workload FILE`, load it with load_topology (one network per "
                "row), or chain the rows with load_topology_csv(path, chain=True)")
        return networks[0]
    from accelsim.workload.formats.topology_chain import Builder

    kind, rows = read_topology(path, kind)
    if kind == "gemm":
        raise WorkloadError(f"{path}: GEMM rows (M x K by K x N) do not chain; load them with "
                            "load_topology")
    sparse = [row for row in rows if row.sparsity[0] != row.sparsity[1]]
    if sparse:
        raise WorkloadError(f"{path}: line {sparse[0].line} ({sparse[0].name}): N:M sparsity "
                            "is applied to independent rows (load_topology), not chained ones")
    builder = Builder(str(path), padding)
    for index, row in enumerate(rows):
        builder.add(row.line, row.name, list(row.values), row.mark,
                    relu and kind == "conv" and index < len(rows) - 1)
    adapters = sum(1 for layer in builder.layers if layer.name.startswith("pool_before_"))
    return Network(name=path.stem, input_shape=builder.input_shape,
                   layers=tuple(builder.layers),
                   source=f"SCALE-Sim topology {path.name} chained (padding {padding}, "
                          f"{adapters} pooling layers inserted where the file skips them)",
                   origin=str(path))


def _refuse_sparse(path: Path, networks) -> None:
    """Only ``accelsim run`` (and :func:`prune_n_m`) prunes a row's weights to its N:M: a
    sparse row handed over as a plain network would run dense, so it is refused."""
    for network in networks:
        if network.sparsity[0] != network.sparsity[1]:
            n, m = network.sparsity
            raise WorkloadError(f"{path}: row {network.name!r}: Sparsity {n}:{m} is applied "
                                "by `accelsim run` (or load_topology and prune_n_m), not when "
                                "the file loads as one network")


def _check_padding(path: Path, padding: str) -> None:
    if padding not in PADDING_MODES:
        raise WorkloadError(f"{path}: padding must be one of {', '.join(PADDING_MODES)}")


def _unique(name: str, taken: set[str]) -> str:
    unique, suffix = name, 2
    while unique in taken or unique == INPUT:
        unique, suffix = f"{name}_{suffix}", suffix + 1
    taken.add(unique)
    return unique


def _row_layer(origin: str, row: Row, name: str, channels: int, depthwise: bool,
               padding: str, relu: bool) -> Layer:
    """The row's layer on its own ``channels x H x W`` input: valid (SCALE-Sim's IFMAP is
    the padded input) or same padding; a filter covering the IFMAP is an fc layer."""
    height, width, kernel_h, kernel_w, _, filters, stride = row.values
    where = f"{origin}: line {row.line} ({row.name})"
    check_filter(where, row.values)
    is_fc = not depthwise and (kernel_h, kernel_w) == (height, width)
    pad = (0, 0, 0, 0) if padding == "valid" or is_fc else same_pad(
        height, width, kernel_h, kernel_w, stride)
    return row_layer(where, name, is_fc, depthwise, channels, (height, width),
                     channels * filters if depthwise else filters, (kernel_h, kernel_w),
                     stride, pad, relu, INPUT)


def _rows(text: str, origin: str, kind: str | None) -> tuple[str, list[Row]]:
    """The kind and rows of a topology file; every cell checked, errors naming the line and
    column."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise WorkloadError(f"{origin}: the topology file is empty")
    header = [_norm(cell) for cell in _cells(lines[0][1])[0]]
    found = ("gemm" if header[:4] == list(GEMM_COLUMNS) else
             "conv" if header[:8] == list(COLUMNS) else None)
    columns = {"conv": COLUMNS, "gemm": GEMM_COLUMNS}[found or kind or "conv"]
    if kind is not None and found is not None and kind != found:
        raise WorkloadError(f"{origin}: line {lines[0][0]}: topology kind {kind} was asked for, "
                            f"but this is a {found.upper() if found == 'gemm' else found} "
                            f"header ({', '.join(c.title() for c in columns)}); drop the kind "
                            "or give the other one")
    if found is None or header[len(columns):] not in ([], [SPARSITY]) or (
            kind is not None and kind != found):
        expected = ", ".join(c.title() for c in columns)
        raise WorkloadError(f"{origin}: line {lines[0][0]}: expected the {kind or 'conv'} "
                            f"header {expected}[, Sparsity] (or the GEMM header Layer, M, N, "
                            f"K[, Sparsity])")
    rows = [_row(origin, number, line, columns, found) for number, line in lines[1:]]
    if not rows:
        raise WorkloadError(f"{origin}: the topology file has no layer rows")
    return found, rows


def _row(origin: str, number: int, line: str, columns: tuple[str, ...], kind: str) -> Row:
    cells, comment = _cells(line)
    where = f"{origin}: line {number}"
    if len(cells) not in (len(columns), len(columns) + 1):
        raise WorkloadError(f"{where}: expected {len(columns)} columns (and an optional "
                            f"Sparsity N:M), got {len(cells)}")
    name, values = cells[0], []
    if not name:
        raise WorkloadError(f"{where}, column 1 ({columns[0].title()}): the layer name is empty")
    for index, (column, cell) in enumerate(zip(columns[1:], cells[1:len(columns)],
                                                               strict=True), start=2):
        if not cell.isdigit() or int(cell) < 1:
            raise WorkloadError(f"{where}, column {index} ({column.title()}): expected a "
                                f"positive integer, got {cell!r}")
        values.append(int(cell))
    sparsity = (1, 1)
    if len(cells) > len(columns):
        sparsity = _ratio(f"{where}, column {len(cells)} (Sparsity)", cells[-1])
    if kind == "gemm":   # topology_utils.load_arrays_gemm: [M, K, 1, K, 1, N, 1]
        m, n, k = values
        return Row(number, name, (m, k, 1, k, 1, n, 1), "", sparsity)
    mark = ("dp" if _DP_NAME in name else "dw" if _DW_NAME.search(name)
            or comment.strip().lower().startswith("dw") else "")
    return Row(number, name, tuple(values), mark, sparsity)


def _ratio(where: str, cell: str) -> tuple[int, int]:
    """SCALE-Sim's ``N:M`` (N of every M weights kept), 1 <= N <= M."""
    n, sep, m = cell.partition(":")
    if not (sep and n.strip().isdigit() and m.strip().isdigit()
            and 1 <= int(n) <= int(m)):
        raise WorkloadError(f"{where}: expected N:M with 1 <= N <= M (N of every M weights "
                            f"kept), got {cell!r}")
    return int(n), int(m)


def _cells(line: str) -> tuple[list[str], str]:
    """Stripped cells without the trailing empty one, and the ``#`` comment if any."""
    body, _, comment = line.partition("#")
    cells = [cell.strip() for cell in body.split(",")]
    while cells and not cells[-1]:
        cells.pop()
    return cells, comment


def _norm(cell: str) -> str:
    return " ".join(cell.lower().split())
