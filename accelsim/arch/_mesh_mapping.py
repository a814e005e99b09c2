"""Phantom-2D's dataflow: a layer's operands as mask codes, and its work split over the mesh.

Operands (:func:`layer_operands`). The input windows of a conv (an fc is a conv whose kernel
covers the input) are laid out as work-item chunks: ``avals[g, k, p, :]`` is chunk ``k`` of
the window at output position ``p`` of group ``g``, in ``(c, r, s)`` order, zero-padded to a
whole chunk; ``wvals[m, k, :]`` the same chunk of filter ``m``. The binary masks are kept as
one ``chunk``-bit code per chunk (bit ``b``: element ``b`` is non-zero), as Phantom keeps its
sparse binary masks beside the non-zero values.

Mesh split (:func:`assign`). The mesh is ``rows x cols`` cores:

* filters go to mesh **columns**: a filter's weights (values and mask) are broadcast down its
  column, so every core of a column holds the same filters;
* output positions go to mesh **rows** in contiguous bands (row-major order, so a band is a
  run of whole output rows plus partial ones at its ends): a band's input rows are broadcast
  along its mesh row. A layer with fewer output positions than mesh rows (fc) splits the
  reduction instead: mesh row ``i`` takes a contiguous range of chunks and the column's
  partial sums are reduced over the NoC.

Inter-core balancing (``balance``), the second level of Phantom-2D's load balancing (the
first is the core's dynamic thread scheduling):

* off: filter ``m`` goes to column ``m * cols // M`` (contiguous blocks), bands have equal
  numbers of output rows (chunk ranges equal numbers of chunks);
* on: filters are dealt longest-first to the least-loaded column (LPT), and bands (chunk
  ranges) are cut where the running total of their load crosses ``1/rows`` of the whole. A
  load is an estimate of the cycles the work takes: its expected effectual pairs over
  ``threads`` (a filter's weight non-zeros times each chunk's average activation density; a
  position's activation non-zeros times each chunk's weight non-zeros, summed over the
  group's filters) plus its work items over ``lookahead`` (the window's intake). This is what
  the weight masks and the previous layer's output encoder know before the layer starts,
  not the exact AND.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.kernels import bitmask
from accelsim.workload.layer import Layer


@dataclass(frozen=True)
class Operands:
    """A layer's values and mask codes in work-item chunks (see the module docstring)."""

    wvals: np.ndarray | None    # M x NCH x chunk (None: codes only)
    avals: np.ndarray | None    # groups x NCH x positions x chunk (None: codes only)
    wcodes: np.ndarray     # M x NCH (int64)
    acodes: np.ndarray     # groups x NCH x positions (int64)
    chunk_len: np.ndarray  # NCH: elements in each chunk

    @property
    def n_chunks(self) -> int:
        return self.wcodes.shape[1]

    @property
    def n_positions(self) -> int:
        return self.acodes.shape[2]


def _chunked(matrix: np.ndarray, chunk: int) -> np.ndarray:
    """``... x K`` -> ``... x NCH x chunk``, zero-padded."""
    k = matrix.shape[-1]
    n_chunks = -(-k // chunk)
    padded = np.zeros((*matrix.shape[:-1], n_chunks * chunk), dtype=matrix.dtype)
    padded[..., :k] = matrix
    return padded.reshape(*matrix.shape[:-1], n_chunks, chunk)


def layer_operands(layer: Layer, x: np.ndarray, w: np.ndarray, chunk: int,
                   values: bool = True) -> Operands:
    """The chunked values and masks of a conv or fc layer with input ``x`` (C x H x W, or the
    flat fc input) and weights ``w`` (M x C/G x R x S); without ``values`` the masks only
    (a run whose sums come from elsewhere)."""
    x = x.reshape(layer.in_shape)
    top, left, bottom, right = layer.pad
    padded = np.ascontiguousarray(np.pad(x, ((0, 0), (top, bottom), (left, right))))
    avals, acodes = bitmask.window_chunks(padded, layer.kernel_h, layer.kernel_w,
                                          layer.stride[0], layer.stride[1], layer.out_h,
                                          layer.out_w, layer.groups, chunk, values)
    flat = np.ascontiguousarray(w.reshape(layer.out_channels, -1))
    wvals = np.ascontiguousarray(_chunked(flat, chunk)) if values else None
    k = layer.in_channels_per_group * layer.kernel_h * layer.kernel_w
    chunk_len = np.minimum(chunk, k - chunk * np.arange(-(-k // chunk)))
    return Operands(wvals, avals if values else None, bitmask.mask_codes(flat, chunk),
                    acodes, chunk_len.astype(np.int64))


@dataclass(frozen=True)
class MeshAssignment:
    """Which core does what: core ``i * cols + j`` (mesh row ``i``, column ``j``) runs the
    filters ``filters[filter_ptr[c]:filter_ptr[c + 1]]`` over ``ranges[c] = (p0, p1, k0, k1,
    part)``; ``splits_reduction``: mesh rows hold chunk ranges, not output-row bands."""

    rows: int
    cols: int
    filters: np.ndarray
    filter_ptr: np.ndarray
    ranges: np.ndarray
    splits_reduction: bool
    column_of_filter: np.ndarray

    @property
    def n_parts(self) -> int:
        return self.rows if self.splits_reduction else 1

    def describe(self, balance: bool) -> str:
        split = "reduction split over mesh rows" if self.splits_reduction else \
            "position bands over mesh rows"
        how = "balanced" if balance else "unbalanced"
        return f"{self.rows}x{self.cols} mesh, filters over columns, {split} ({how})"


def _cuts(load: np.ndarray, parts: int, balance: bool) -> np.ndarray:
    """``parts + 1`` boundaries cutting ``len(load)`` items into contiguous ranges: equal
    counts, or (balanced) equal shares of the running total of ``load``."""
    n = len(load)
    even = (np.arange(parts + 1) * n) // parts
    total = float(load.sum())
    if not balance or total <= 0:
        return even
    running = np.concatenate([[0.0], np.cumsum(load, dtype=np.float64)])
    cuts = np.searchsorted(running, np.arange(parts + 1) * total / parts, side="left")
    cuts[0], cuts[-1] = 0, n
    return np.maximum.accumulate(np.minimum(cuts, n))


def _columns(load: np.ndarray, cols: int, balance: bool) -> np.ndarray:
    """Column of each filter: contiguous blocks, or longest-first onto the least loaded."""
    m = len(load)
    if not balance:
        return (np.arange(m) * cols) // m
    column = np.empty(m, dtype=np.int64)
    totals = np.zeros(cols)
    for f in np.argsort(-load, kind="stable"):
        target = int(np.argmin(totals))
        column[f] = target
        totals[target] += load[f]
    return column


def loads(layer: Layer, ops: Operands, popcount: np.ndarray, splits_reduction: bool,
          threads: int = 1, lookahead: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The balancing estimates (module docstring): each filter's load, and each chunk's
    (``splits_reduction``) or each output position's. A cycle takes ``threads`` pairs, and
    at most ``lookahead`` items enter the window a cycle."""
    bits = popcount.astype(np.float64)                    # float table: no int64 copies
    a_bits = bits[ops.acodes]                             # groups x NCH x positions
    per_group = layer.out_channels_per_group
    w_bits = bits[ops.wcodes].reshape(layer.groups, per_group, -1)
    # Expected effectual pairs: an element pairs with the other side's average density.
    a_density = a_bits.mean(axis=2) / ops.chunk_len       # groups x NCH
    w_density = w_bits.mean(axis=1) / ops.chunk_len if not splits_reduction else None
    # Each filter's chunks times its group's activation density (M x NCH: large for an fc
    # layer, so broadcast per group and multiplied in place, once for both sums).
    pairs = np.multiply(w_bits, a_density[:, None, :], out=w_bits).reshape(ops.wcodes.shape)
    # Weight chunks a core walks; counts of 0/1 are exact in float64, as their float sums.
    live = ops.wcodes != 0
    filter_load = (pairs.sum(axis=1) / threads
                   + np.count_nonzero(live, axis=1).astype(np.float64) * ops.n_positions
                   / lookahead)
    if splits_reduction:
        return filter_load, (pairs.sum(axis=0) / threads
                             + np.count_nonzero(live, axis=0).astype(np.float64) / lookahead)
    return filter_load, (np.einsum("gkp,gk->p", a_bits, w_density * per_group) / threads
                         + float(np.count_nonzero(live)) / lookahead)


def assign(layer: Layer, ops: Operands, popcount: np.ndarray, rows: int, cols: int,
           balance: bool, threads: int = 1, lookahead: int = 1) -> MeshAssignment:
    """Split ``layer`` over the mesh (module docstring), balanced by :func:`loads`."""
    splits_reduction = ops.n_positions < rows
    filter_load, band_load = loads(layer, ops, popcount, splits_reduction, threads, lookahead)
    column = _columns(filter_load, cols, balance)
    cuts = _cuts(band_load, rows, balance)
    if splits_reduction:
        bands = [(0, ops.n_positions, cuts[i], cuts[i + 1], i) for i in range(rows)]
    else:
        bands = [(cuts[i], cuts[i + 1], 0, ops.n_chunks, 0) for i in range(rows)]
    per_column = [np.flatnonzero(column == j) for j in range(cols)]
    filters, ptr, ranges = [], [0], []
    for i in range(rows):
        for j in range(cols):
            filters.append(per_column[j])
            ptr.append(ptr[-1] + len(per_column[j]))
            ranges.append(bands[i])
    return MeshAssignment(rows, cols, np.concatenate(filters).astype(np.int64),
                          np.asarray(ptr, dtype=np.int64),
                          np.asarray(ranges, dtype=np.int64), splits_reduction, column)
