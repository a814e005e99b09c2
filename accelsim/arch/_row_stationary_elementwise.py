"""Tiling of pooling and element-wise add layers on the Eyeriss PE array (our extension: the
chip runs only CONV layers): tiles of channels x output rows whose input rows and outputs fit
the global buffer, as pass-table rows for :mod:`accelsim.kernels.row_stationary`'s DRAM-byte
helpers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from accelsim.arch._row_stationary_mapping import RsHardware, _cdiv, _span
from accelsim.errors import MappingError
from accelsim.kernels import row_stationary as rs
from accelsim.workload.layer import Layer


@dataclass(frozen=True)
class ElementwiseTiling:
    """Tiles of ``channels`` x ``rows`` output rows of one image for pool / add layers."""

    channels: int
    rows: int
    n_tiles: int

    def describe(self) -> str:
        return f"PE array ALUs: tiles of {self.channels} ch x {self.rows} rows"

    def table(self, layer: Layer, batch: int) -> np.ndarray:
        """Tiles as pass-table rows (channels in ``C``/``MC`` columns, rows in ``Y``)."""
        dims = (batch, _cdiv(layer.in_channels, self.channels), _cdiv(layer.out_h, self.rows))
        img, cb, yb = np.indices(dims).reshape(3, -1)
        table = np.zeros((img.size, rs.N_TABLE_COLUMNS), dtype=np.int64)
        table[:, rs.T_GN] = 1
        _span(table, rs.T_I0, rs.T_I1, img, 1, batch)
        _span(table, rs.T_C0, rs.T_C1, cb * self.channels, self.channels, layer.in_channels)
        table[:, rs.T_MC0], table[:, rs.T_MC1] = table[:, rs.T_C0], table[:, rs.T_C1]
        _span(table, rs.T_Y0, rs.T_Y1, yb * self.rows, self.rows, layer.out_h)
        table[:, rs.T_KY1] = layer.kernel_h
        table[:, [rs.T_FIRST, rs.T_LAST, rs.T_REFILL, rs.T_READOUT]] = 1
        table[:, rs.T_BLOCK] = np.arange(img.size)
        return table


@lru_cache(maxsize=1024)
def elementwise_tiling(layer: Layer, batch: int, hw: RsHardware) -> ElementwiseTiling:
    """The most output rows, then channels, whose input rows (``slots`` copies; two
    operands for add) and outputs fit the GLB."""
    operands = 2 if layer.kind == "add" else 1
    padded_w = layer.in_w + layer.pad[1] + layer.pad[3]

    def words(rows: int) -> int:
        rows_in = (rows - 1) * layer.stride[0] + layer.kernel_h
        return hw.glb_slots * operands * rows_in * padded_w + rows * layer.out_w

    rows = layer.out_h
    while rows > 1 and words(rows) > hw.glb_words:
        rows = _cdiv(rows, 2)
    if words(rows) > hw.glb_words:
        raise MappingError(f"layer {layer.name!r}: one row of its input does not fit the "
                           f"global buffer ({hw.glb_words} words): enlarge "
                           "buffers.glb.size_kib")
    channels = min(layer.in_channels, hw.glb_words // words(rows))
    n_tiles = batch * _cdiv(layer.in_channels, channels) * _cdiv(layer.out_h, rows)
    return ElementwiseTiling(channels, rows, n_tiles)
