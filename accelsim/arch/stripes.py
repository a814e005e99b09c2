"""Stripes (Judd, Albericio, Hetherington, Aamodt & Moshovos, "Stripes: Bit-Serial Deep
Neural Network Computing", MICRO 2016): DaDianNao with serial inner-product units.

Modelled (published-anchors.md section 4; the cycle rule is in
:mod:`accelsim.kernels.bit_serial`):

* the DaDianNao node of :mod:`accelsim.arch.diannao` (``tiles`` x ``tn`` filters, ``ti``
  activation lanes, weights and neurons resident, the same tiler), whose NFU becomes
  ``windows`` x ``tn`` serial inner-product units (SIPs) per tile: each SIP ANDs one bit of
  each of ``ti`` activations with their ``ti`` 16-bit weights and adds the result, shifted,
  into its accumulator, so a tile works on ``windows`` output positions at once and spends
  ``p`` cycles on a brick, ``p`` being the layer's activation precision
  (``NetworkTensors.precision``; 16 when no precision transform set one). A conv layer then
  takes about ``p / 16`` of DaDianNao's time, less the windows a small layer leaves idle
  (``windows`` consecutive positions of a spatial tile form a group);
* fully connected layers as the paper runs them: one window, so the ``windows`` SIP columns
  take successive bricks (each with its own weights) in turn, one a cycle, each busy for ``p``
  cycles: DaDianNao's throughput, no speedup (``p <= windows``; DNNsim's "linear" mode);
* pooling and element-wise layers on DaDianNao's bit-parallel NFU-2.

Values: a bit-serial sum over the bits of a ``p``-bit activation is the exact product sum,
so the outputs are DaDianNao's on the same (rounded) activations, bit for bit; they come from
the same exact GEMM (``tests/test_stripes.py`` checks them against a bit-plane numpy
reference). Counters: ``sip mac`` counts the products (priced 0 in the config: their energy
is in the steps) and ``sip op`` the bit steps, ``p`` per product (one 16-bit AND-and-add
each); SB is read once per brick step (weights stay in the SIPs for the ``p`` cycles),
NBin as on DaDianNao (each activation brick once per output block).

Not modelled: the per-bit precision control of the paper's section on accuracy trade-offs,
the transposer that turns output neurons into bit-serial form (off the critical path), and
the cost of a non-multiple-of-16 window group beyond its idle SIPs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import base, diannao
from accelsim.arch.diannao import Core as DaDianNaoCore
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component
from accelsim.errors import MappingError
from accelsim.kernels import bit_serial, dense, xnor
from accelsim.workload.layer import Layer
from accelsim.workload.precision import DATAPATH_BITS

BUFFERS = diannao.BUFFERS


@dataclass(frozen=True)
class Params(diannao.NodeParams):
    """DaDianNao's parameters plus ``windows``: output positions a tile works on at once."""

    windows: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        base.require_ints(self, ("windows",))
        if self.conv_algorithm != "direct":   # Winograd (issue 25): DianNao / DaDianNao only
            raise ValueError(f"conv_algorithm must be direct on a bit-serial core (its SIPs "
                             f"stream the activations themselves), got {self.conv_algorithm!r}")


class Core(DaDianNaoCore):
    """A DaDianNao node of serial inner-product units; see the module docstring."""

    MODE = bit_serial.STRIPES
    UNIT = "sip"

    def activation_bits(self, layer: Layer) -> int:
        """The bits a layer's activations stream in: its recorded precision, else 16."""
        entry = self.layer_precision.get(layer.name)
        return entry.activations if entry is not None and entry.activations else DATAPATH_BITS

    @property
    def area_multipliers(self) -> int:
        """16-bit multiplier equivalents the area model prices: ``windows x tiles x tn``
        units of ``ti`` 1 x 16-bit AND-and-add lanes, 16 lanes to a multiplier (a 16 x 16
        multiplier adds 16 partial products), the same array size as DaDianNao's NFUs."""
        lanes = self.params.windows * self.params.outputs_per_cycle * self.params.ti
        return lanes // DATAPATH_BITS

    def components(self) -> list[Component]:
        """DaDianNao's (NFU-2 still pools and adds) plus the SIP array."""
        return super().components() + [Component(self.UNIT, "mac")]

    def peak_per_cycle(self, layer: Layer) -> int:
        """Products a cycle at full use: conv ``windows x tiles x tn x ti / p`` (rounded up,
        so ideal cycles stay a lower bound); fc and the rest as DaDianNao."""
        if layer.kind != "conv":
            return super().peak_per_cycle(layer)
        lanes = self.params.windows * self.params.outputs_per_cycle * self.params.ti
        return math.ceil(lanes / self.activation_bits(layer))

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling, *,
                compute_values: bool = True) -> base.LayerRun:
        if self.arch.precision != "fixed16":
            raise MappingError(f"core {self.arch.core!r} streams fixed-point activation bits; "
                               f"set precision: fixed16")
        run = super().compute(layer, inputs, weights, bias, tiling,
                              compute_values=compute_values)
        if not layer.has_weights:
            return run
        products = run.counts.pop(("nfu", "mac"), 0)
        run.counts.add(self.UNIT, "mac", products)
        if layer.kind == "fc":   # one window: columns take bricks in turn, DaDianNao's pace
            run.counts.add(self.UNIT, "op", products * self.activation_bits(layer))
            run.mapping += f" (fc: {self.activation_bits(layer)}-bit, DaDianNao's throughput)"
            return run
        return self._bit_serial(layer, inputs[0], weights, tiling, run)

    def _bit_serial(self, layer: Layer, x, weights, tiling, run: base.LayerRun) -> base.LayerRun:
        """Replace DaDianNao's cycles and SB reads by the bit-serial tile tables'."""
        x_hwc = diannao._padded_hwc(x.q, layer.pad)
        cycles, steps = bit_serial.conv_tile_tables(
            x_hwc, self._serial_geometry(layer), (tiling.th, tiling.tw, tiling.kr, tiling.chunk),
            self._serial_params(layer))
        n_steps = min(tiling.n_tiles, self.arch.engine.max_steps_per_layer)
        geometry = self._conv_geometry(layer)
        walks = {}
        for name, table in (("cycles", cycles), ("steps", steps)):
            _, walks[name] = dense.conv_tiles(
                x_hwc, weights.q, geometry, tiling.as_tuple(), n_steps, tiling.n_tiles,
                compute=False,
                sb_lanes=self.params.tn, pack_rows=self.params.pack_window_rows,
                tile_cycles=table)
            self._drop_resident_traffic(layer, tiling, walks[name])
        counts = walks["steps"]
        counts[:, dense.CYCLES] = walks["cycles"][:, dense.CYCLES]
        dadiannao_rows = run.counts.get(("nbin", "read"), 0)
        named = self._named_counts(counts)
        named.pop(("nfu", "mac"), None)
        named.pop(("nbin", "read"), None)
        named.add("nbin", "read", dadiannao_rows)
        for key, value in run.counts.items():
            if key[0] == self.UNIT:
                named.add(*key, value)
        bit_steps, extra = self._bit_steps(layer, x, run.counts[self.UNIT, "mac"])
        named.add(self.UNIT, "op", bit_steps)
        run.work, run.counts = self._tile_work(counts), Counts(
            {key: n for key, n in named.items() if n})
        run.mapping += f" ({self._mode_note(layer)})"
        run.stats.update({"brick_steps": int(steps.sum()),
                          "activation_bits": self.activation_bits(layer), **extra})
        return run

    def _serial_geometry(self, layer: Layer) -> tuple[int, ...]:
        return (layer.in_channels_per_group, layer.out_channels_per_group, layer.out_channels,
                layer.kernel_h, layer.kernel_w, *layer.stride, layer.pad[1], layer.in_w,
                self.params.outputs_per_cycle, self.params.ti, self.params.windows,
                int(self.params.pack_window_rows))

    def _serial_params(self, layer: Layer) -> tuple[int, ...]:
        """(mode, bits, first_stage_bits, signed_digits, registers) for the kernel."""
        return (self.MODE, self.activation_bits(layer), 4, 0, 0)

    def _bit_steps(self, layer: Layer, x, products: int) -> tuple[int, dict[str, float]]:
        """Weight x activation-bit steps (``p`` for every product) and extra layer stats."""
        return products * self.activation_bits(layer), {}

    def _mode_note(self, layer: Layer) -> str:
        return f"bit-serial, {self.activation_bits(layer)}-bit activations"

    # ---- XNOR-Net layers: the binarize engineer's hook (issue 24 item 3) ------------------
    def run_xnor_layer(self, layer: Layer, x, weights, bias, k_map) -> base.LayerRun:
        """An XNOR-Net layer (``binarize`` transform; :mod:`accelsim.sim.binarized` calls
        this) in one bit-serial pass: its activations are 1 bit, the sign (a SIP adds its
        weight where the bit is 1; the filter's constant ``-sum(w)`` joins the bias), so the
        cycles and traffic are the layer's at 1 bit. Values and bit-operation counts come
        from the XNOR-popcount kernel; K, bias and ReLU in the output stage."""
        signs = np.where(fixedpoint.raw(x) >= 0, 1.0, -1.0).astype(np.float32)
        run = self.count_layer(layer, [fixedpoint.quantize(signs)], weights, bias, None)
        real_x = x.to_float()   # fixed16: count_layer refused any other precision
        geometry = (layer.in_channels_per_group, layer.out_channels_per_group, *layer.stride,
                    layer.pad[0], layer.pad[1], layer.out_h, layer.out_w)
        scaled, counts = xnor.xnor_layer(real_x, weights.to_float(), k_map, geometry,
                                         layer.groups)
        out = scaled + bias.astype(np.float64)[:, None, None]
        run.output = fixedpoint.quantize(np.maximum(out, 0) if layer.relu else out)
        run.stats.update(xnor_ops=int(counts[xnor.XNOR_OPS]),
                         popcount_words=int(counts[xnor.POPCOUNT_WORDS]))
        run.mapping += "; XNOR-Net layer: 1-bit activations, values by XNOR-popcount"
        return run
    # ---- end of the binarize engineer's hook -----------------------------------------------
