"""DianNao (Chen et al., "DianNao: A Small-Footprint High-Throughput Accelerator for
Ubiquitous Machine-Learning", ASPLOS 2014).

Modelled: the NFU of ``tn x ti`` multipliers (NFU-1), ``tn`` adder trees (NFU-2) and the
activation stage (NFU-3) as a 3-stage pipeline issuing one NBin row x one SB row per cycle;
the NBin / SB / NBout buffers with DMA double buffering (slots) against a bandwidth-limited
DRAM; conv, fc, max/avg pooling (NFU-2 comparators/adders, one NBin row per cycle) and
element-wise add (one NBin row per operand per cycle: the paper has no residual layers, this
is our mapping). 16-bit fixed point (``fixed16``) or an ``fp32`` mode.

Closed-form cycles of a conv/fc layer when DRAM never stalls (checked by the tests)::

    cycles = sum over output blocks b of  P * Q * R * S * ceil(U_b / ti)  +  (stages - 1)

where blocks are ``tn`` consecutive output channels and ``U_b`` the input channels their
groups read (C for a dense layer, ``tn`` for depthwise). Pooling: ``P * Q * R * S *
ceil(C / ti) + stages - 1``; add: ``2 * H * W * ceil(C / ti) + stages - 1``. Tiling, loop
order and residency are chosen per layer by :mod:`accelsim.arch._nfu_tiling`.

Not modelled: the control processor's instruction fetch, the NFU-3 piecewise-linear
sigmoid (ReLU only), NBin/SB bank conflicts, DRAM page effects. NBout has a DMA (the paper
gives every buffer one), which the partial-sum-spilling loop order uses to write partial sums
out and read them back; whether the CP programs did that is not stated in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import base
from accelsim.arch._nfu_tiling import NfuShape, add_tiling, conv_tiling, pool_tiling
from accelsim.counts import Counts
from accelsim.energy import Component
from accelsim.engine import TileWork
from accelsim.kernels import dense
from accelsim.workload.layer import Layer

BUFFERS = ("nbin", "nbout", "sb")

# Kernel count column -> (component, action), with the paper's component names.
COUNT_NAMES = {
    dense.MACS: ("nfu", "mac"), dense.OPS: ("nfu", "op"),
    dense.IN_READ: ("nbin", "read"), dense.IN_FILL: ("nbin", "fill"),
    dense.W_READ: ("sb", "read"), dense.W_FILL: ("sb", "fill"),
    dense.OUT_READ: ("nbout", "read"), dense.OUT_WRITE: ("nbout", "write"),
    dense.OUT_FILL: ("nbout", "fill"),
}


@dataclass(frozen=True)
class Params:
    """DianNao's NFU: ``tn`` outputs x ``ti`` inputs per cycle, in ``pipeline_stages``;
    ``psum_bytes``: width of a partial sum when a tiling spills partial sums to DRAM (our
    choice: 32-bit, the adder tree's width; the paper does not say)."""

    tn: int = 16
    ti: int = 16
    pipeline_stages: int = 3
    psum_bytes: int = 4

    def __post_init__(self) -> None:
        for name in ("tn", "ti", "pipeline_stages", "psum_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


class Core(base.Core):
    """A DianNao NFU with its three buffers, one layer at a time."""

    LOAD_BUFFERS = ("nbin", "sb")
    STORE_BUFFERS = ("nbout",)

    @property
    def shape(self) -> NfuShape:
        return NfuShape(tn=self.params.tn, ti=self.params.ti, word_bytes=self.word_bytes,
                        nbin_words=self.buffer_words("nbin"), sb_words=self.buffer_words("sb"),
                        nbout_words=self.buffer_words("nbout"),
                        psum_bytes=self.params.psum_bytes)

    def components(self) -> list[Component]:
        word_bits = 8 * self.word_bytes
        tn, ti = self.params.tn, self.params.ti
        size = {name: int(b.size_kib * 1024) for name, b in self.arch.buffers.items()}
        return [Component("nbin", "sram", size["nbin"], ti * word_bits),
                Component("sb", "sram", size["sb"], tn * ti * word_bits),
                Component("nbout", "sram", size["nbout"], tn * word_bits),
                Component("nfu", "mac"), Component("dram", "dram")]

    def peak_per_cycle(self, layer: Layer) -> int:
        return self.params.tn * self.params.ti if layer.has_weights else self.params.ti

    def tile(self, layer: Layer):
        if layer.has_weights:
            return conv_tiling(layer, self.shape)
        if layer.kind == "pool":
            return pool_tiling(layer, self.shape)
        return add_tiling(layer, self.shape)

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling) -> base.LayerRun:
        n_steps = min(tiling.n_tiles, self.arch.engine.max_steps_per_layer)
        if layer.has_weights:
            output, counts = self._conv(layer, inputs[0], weights, bias, tiling, n_steps)
        elif layer.kind == "pool":
            output, counts = self._pool(layer, inputs[0], tiling, n_steps)
        else:
            output, counts = self._add(layer, inputs, tiling, n_steps)
        return base.LayerRun(output=output, work=self._tile_work(counts),
                             counts=self._named_counts(counts), mapping=tiling.describe(),
                             tiles=tiling.n_tiles)

    # ---- layer kinds ---------------------------------------------------------------------
    def _conv(self, layer, x, weights, bias, tiling, n_steps):
        fixed = self.arch.precision == "fixed16"
        x_hwc = _padded_hwc(x.q if fixed else x, layer.pad)
        w = weights.q if fixed else weights
        geometry = (layer.in_channels, layer.in_channels_per_group,
                    layer.out_channels_per_group, layer.out_channels, layer.kernel_h,
                    layer.kernel_w, *layer.stride, layer.pad[0], layer.pad[1], layer.in_h,
                    layer.in_w, self.params.tn, self.params.ti, self.word_bytes,
                    self.params.psum_bytes)
        acc, counts = dense.conv_tiles(x_hwc, w, geometry, tiling.as_tuple(), n_steps,
                                       tiling.n_tiles)
        if fixed:
            acc_frac = x.frac + weights.frac
            acc = acc.astype(np.int64)   # exact: float64 held integer sums of int16 products
            result = fixedpoint.requantize(acc + fixedpoint.quantize_at(bias, acc_frac),
                                           acc_frac, layer.relu)
            return _chw_fixed(result), counts
        out = acc + bias.astype(np.float64)
        return _chw_float(np.maximum(out, 0) if layer.relu else out), counts

    def _pool(self, layer, x, tiling, n_steps):
        fixed = self.arch.precision == "fixed16"
        x_hwc = _padded_hwc(x.q if fixed else x, layer.pad)
        geometry = (layer.in_channels, layer.kernel_h, layer.kernel_w, *layer.stride,
                    layer.pad[0], layer.pad[1], layer.in_h, layer.in_w, self.params.ti,
                    self.word_bytes)
        is_max = layer.pool_op == "max"
        acc, n_valid, counts = dense.pool_tiles(x_hwc, is_max, geometry, tiling.as_tuple(),
                                                n_steps, tiling.n_tiles)
        n = np.maximum(n_valid, 1)[:, :, None]
        if fixed:
            q = acc if is_max else (2 * acc + n) // (2 * n)   # round half up
            q = np.clip(np.maximum(q, 0) if layer.relu else q, fixedpoint.Q_MIN, fixedpoint.Q_MAX)
            return _chw_fixed(fixedpoint.Fixed(q.astype(np.int16), x.frac)), counts
        out = acc if is_max else acc / n
        return _chw_float(np.maximum(out, 0) if layer.relu else out), counts

    def _add(self, layer, operands, tiling, n_steps):
        fixed = self.arch.precision == "fixed16"
        if fixed:
            frac = max(a.frac for a in operands)
            a, b = ((op.q.astype(np.int64) << (frac - op.frac)).transpose(1, 2, 0)
                    for op in operands)
        else:
            a, b = (op.astype(np.float64).transpose(1, 2, 0) for op in operands)
        acc, counts = dense.add_tiles(a, b, self.params.ti, self.word_bytes, tiling.positions,
                                      n_steps, tiling.n_tiles)
        if fixed:
            return _chw_fixed(fixedpoint.requantize(acc, frac, layer.relu)), counts
        return _chw_float(np.maximum(acc, 0) if layer.relu else acc), counts

    # ---- kernel columns -> engine work and named counts ----------------------------------
    def _tile_work(self, counts: np.ndarray) -> TileWork:
        cycles = counts[:, dense.CYCLES].copy()
        cycles[-1] += self.params.pipeline_stages - 1   # pipeline drain, once per layer
        return TileWork.single_core(cycles, counts[:, dense.IN_BYTES],
                                    counts[:, dense.W_BYTES], counts[:, dense.OUT_BYTES])

    @staticmethod
    def _named_counts(counts: np.ndarray) -> Counts:
        totals = counts.sum(axis=0)
        named = Counts()
        named.add_columns(COUNT_NAMES.values(), (int(totals[c]) for c in COUNT_NAMES))
        return named


def _padded_hwc(x_chw: np.ndarray, pad: tuple[int, int, int, int]) -> np.ndarray:
    top, left, bottom, right = pad
    padded = np.pad(x_chw, ((0, 0), (top, bottom), (left, right)))
    return np.ascontiguousarray(padded.transpose(1, 2, 0))


def _chw_fixed(value: fixedpoint.Fixed) -> fixedpoint.Fixed:
    return fixedpoint.Fixed(np.ascontiguousarray(value.q.transpose(2, 0, 1)), value.frac)


def _chw_float(acc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(acc.transpose(2, 0, 1)).astype(np.float32)

