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

With ``tiles > 1`` the same core is a DaDianNao node (Chen et al., "DaDianNao: A
Machine-Learning Supercomputer", MICRO 2014; ``arch_configs/dadiannao.yaml``): ``tiles``
NFUs work in lock step on consecutive blocks of ``tn`` output channels while each NBin row is
broadcast to all of them, so ``tn`` above becomes ``tiles * tn``; synapses and neurons can
stay resident in eDRAM (see :class:`Params`).

Not modelled: the control processor's instruction fetch, the NFU-3 piecewise-linear
sigmoid (ReLU only), NBin/SB bank conflicts, DRAM page effects. NBout has a DMA (the paper
gives every buffer one), which the partial-sum-spilling loop order uses to write partial sums
out and read them back; whether the CP programs did that is not stated in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import _minerva, _winograd, base
from accelsim.arch._nfu_tiling import NfuShape, add_tiling, conv_tiling, pool_tiling
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component
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
    """The NFU and what stays on chip.

    ``tn`` outputs x ``ti`` inputs per cycle per tile, in ``pipeline_stages``; ``psum_bytes``:
    width of a partial sum when a tiling spills partial sums to DRAM (our choice: 32-bit, the
    adder tree's width; the paper does not say).

    ``tiles`` (DaDianNao): NFU tiles working in lock step on different blocks of ``tn``
    output channels while the same input neurons are broadcast to all of them, so the chip
    computes ``tiles * tn`` outputs x ``ti`` inputs a cycle; ``buffers.sb`` is then the size
    of one tile's synapse buffer. ``weights_resident``: synapses live in SB for the whole
    run (DaDianNao's eDRAM), so a layer whose weights all fit costs no DRAM traffic for them
    (loading them once before the run is not simulated). ``neurons_resident``: a layer's
    input is already in NBin (written there by the layer before) and its output stays in
    NBout, when they fit; layers that do not fit stream through DRAM as on DianNao.
    ``pack_window_rows``: for a layer with fewer than ``ti`` input channels (the image's 3),
    an NBin row carries ``ti`` consecutive neurons of a window row (channels innermost)
    rather than one pixel's few channels, so the lanes are not left mostly idle (our
    choice; off by default, the papers do not say how the first layer is fed).
    """

    tn: int = 16
    ti: int = 16
    pipeline_stages: int = 3
    psum_bytes: int = 4
    tiles: int = 1
    weights_resident: bool = False
    neurons_resident: bool = False
    pack_window_rows: bool = False
    # ---- Minerva's steps (issue 25; accelsim/arch/_minerva.py), all off by default -------
    # predication: skip the MACs (and SB columns) of activations with |x| <= the layer's
    # threshold (predication_thresholds by layer name, else predication_threshold).
    # sb_voltage_v: SB supply (null: nominal, no faults); faulty bits per sram_fault_curve,
    # a static map drawn from fault_seed; fault_detection (Razor) + fault_mitigation.
    predication: bool = False
    predication_threshold: float = field(default=0.0, metadata={"ge": 0})
    predication_thresholds: dict[str, float] = field(default_factory=dict,
                                                     metadata={"ge": 0})
    sb_voltage_v: float | None = field(default=None, metadata={"gt": 0, "le": 5})
    sb_nominal_voltage_v: float = field(default=0.9, metadata={"gt": 0, "le": 5})
    sram_fault_curve: tuple[tuple[float, float], ...] = _minerva.DEFAULT_FAULT_CURVE
    fault_detection: bool = True
    fault_mitigation: Literal["none", "word_mask", "bit_mask"] = "none"
    fault_seed: int = field(default=0, metadata={"ge": 0, "le": 2 ** 32 - 1})
    per_layer_types: bool = False   # price NFU/NBin/SB at each layer's bits (issue 24 values)
    # leakage_fraction: SB and NFU leakage's share of their nominal power when busy every
    # cycle; razor_overhead: Razor's extra SB energy under sb_voltage_v (both: _minerva.py)
    leakage_fraction: float = field(default=0.0, metadata={"ge": 0, "le": 0.9})
    razor_overhead: float = field(default=0.0, metadata={"ge": 0, "le": 1})
    # ---- end of Minerva's steps ------------------------------------------------------------
    # Winograd conv (issue 25; accelsim/arch/_winograd.py): 3x3 stride-1 convs as F(2x2,3x3)
    # or F(4x4,3x3), other layers direct.
    conv_algorithm: Literal["direct", "winograd_f2", "winograd_f4"] = "direct"

    def __post_init__(self) -> None:
        base.require_ints(self, ("tn", "ti", "pipeline_stages", "psum_bytes", "tiles"))
        base.require_flags(self, ("weights_resident", "neurons_resident", "pack_window_rows",
                                  "predication", "fault_detection", "per_layer_types"))
        _minerva.check_params(self)   # Minerva's switches (issue 25)

    @property
    def outputs_per_cycle(self) -> int:
        """Output channels the chip works on at once: ``tiles * tn``."""
        return self.tiles * self.tn


@dataclass(frozen=True)
class NodeParams(Params):
    """DaDianNao's node defaults (16 tiles, synapses and neurons resident, window rows packed),
    for the cores built on a DaDianNao node (Cnvlutin, Stripes, Bit-Pragmatic)."""

    tiles: int = 16
    weights_resident: bool = True
    neurons_resident: bool = True
    pack_window_rows: bool = True


class Core(base.Core):
    """A DianNao NFU with its three buffers, one layer at a time."""

    LOAD_BUFFERS = ("nbin", "sb")
    STORE_BUFFERS = ("nbout",)

    @property
    def shape(self) -> NfuShape:
        return NfuShape(tn=self.params.outputs_per_cycle, ti=self.params.ti,
                        word_bytes=self.word_bytes, nbin_words=self.buffer_words("nbin"),
                        sb_words=self.params.tiles * self.buffer_words("sb"),
                        nbout_words=self.buffer_words("nbout"),
                        psum_bytes=self.params.psum_bytes)

    def components(self) -> list[Component]:
        """Per-tile SB (one ``tn x ti`` row a read); NBin rows are broadcast to all tiles,
        NBout rows hold ``tiles * tn`` outputs."""
        word_bits = 8 * self.word_bytes
        tn, ti, outputs = self.params.tn, self.params.ti, self.params.outputs_per_cycle
        size = {name: int(b.size_kib * 1024) for name, b in self.arch.buffers.items()}
        sb_read_lanes = 1 if self.minerva.predication else ti   # predication: per column
        bits = self.minerva.price_bits()   # Minerva's per-layer types: priced per bit
        return [Component("nbin", "sram", size["nbin"], ti * bits),
                Component("sb", "sram", size["sb"], tn * sb_read_lanes * bits,
                          energy_scale=self.minerva.sb_energy_scale()),
                Component("nbout", "sram", size["nbout"], outputs * word_bits),
                Component("nfu", "mac", energy_scale=0.0 if bits == 1 else 1.0),
                Component("dram", "dram"), *self.minerva.bit_components(),
                *self.minerva.leakage_components(),   # Minerva's leakage (issue 25)
                *_winograd.components(self)]   # transform units (issue 25)

    def peak_per_cycle(self, layer: Layer) -> int:
        if layer.has_weights:
            return self.params.outputs_per_cycle * self.params.ti
        return self.params.ti

    def tile(self, layer: Layer):
        if layer.has_weights:   # Winograd tiles (issue 25), else direct
            return (_winograd.tiling(layer, self.shape, self.params.conv_algorithm)
                    or conv_tiling(layer, self.shape))
        if layer.kind == "pool":
            return pool_tiling(layer, self.shape)
        return add_tiling(layer, self.shape)

    def count_layer(self, layer: Layer, inputs: list, weights, bias, output) -> base.LayerRun:
        """conv/fc counted without the MACs' arithmetic (``dense.conv_tiles(compute=False)``
        walks the same tiles); pool and add are cheap and run whole."""
        run = self.compute(layer, inputs, weights, bias, self.tile(layer), compute_values=False)
        run.output = output
        return run

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling, *,
                compute_values: bool = True) -> base.LayerRun:
        """With ``compute_values`` False, a conv/fc layer's output is None (counts only)."""
        n_steps = min(tiling.n_tiles, self.arch.engine.max_steps_per_layer)
        if isinstance(tiling, _winograd.WinogradTiling):   # Winograd conv (issue 25)
            return _winograd.compute(self, layer, inputs[0], weights, bias, tiling, n_steps)
        effects = None
        if layer.has_weights:
            output, counts, effects = self._conv(layer, inputs[0], weights, bias, tiling,
                                                 n_steps, compute_values)
        elif layer.kind == "pool":
            output, counts = self._pool(layer, inputs[0], tiling, n_steps)
        else:
            output, counts = self._add(layer, inputs, tiling, n_steps)
        run = base.LayerRun(output=output, work=self._tile_work(counts),
                            counts=self._named_counts(counts), mapping=tiling.describe(),
                            tiles=tiling.n_tiles)
        if self.minerva.active:   # Minerva's steps (issue 25)
            self._account_minerva(run, layer, effects)
        _winograd.mark_direct(self, layer, run)   # in a Winograd mode: direct, and why
        return run

    # ---- Minerva's steps (issue 25; accelsim/arch/_minerva.py) ---------------------------
    @property
    def minerva(self) -> _minerva.MinervaSteps:
        if not hasattr(self, "_minerva_steps"):
            sb_words = self.params.tiles * int(self.arch.buffers["sb"].size_kib * 1024) \
                // self.word_bytes
            self._minerva_steps = _minerva.MinervaSteps(
                self.params, sb_words, 8 * self.word_bytes, self.arch.precision == "fixed16",
                self.arch.origin or self.arch.name)
        return self._minerva_steps

    def network_problem(self, network) -> str | None:
        return self.minerva.network_problem(network)

    def value_key(self) -> tuple:
        return (*super().value_key(), *self.minerva.value_key(),
                *_winograd.value_key(self.params))

    def _account_minerva(self, run: base.LayerRun, layer: Layer, effects) -> None:
        """Predicated MACs become ``mac_skipped``; SB reads are counted per column, and per
        bit with per-layer types (see :mod:`accelsim.arch._minerva`); faulty weights become
        a table column."""
        if self.minerva.data_types:
            entry = getattr(self, "layer_precision", {}).get(layer.name)
            a_bits = (entry and entry.activations) or 8 * self.word_bytes
            w_bits = ((entry and entry.weights) or 8 * self.word_bytes) if layer.has_weights \
                else 0
            run.stats.update(activation_bits=a_bits, weight_bits=w_bits)
        if effects is None:
            effects = _minerva.LayerEffects()
        if self.minerva.predication and layer.has_weights:
            counts = run.counts
            counts[("nfu", "mac")] -= effects.skipped_macs
            counts.add("nfu", "mac_skipped", effects.skipped_macs)
            for action in ("read", "write", "fill"):   # rows -> columns of tn synapses
                if ("sb", action) in counts:
                    counts[("sb", action)] *= self.params.ti
            counts[("sb", "read")] -= effects.skipped_sb_columns
        if self.minerva.voltage is not None and layer.has_weights:
            run.stats["faulty_weights"] = effects.faulty_weights
        if self.minerva.data_types:
            self.minerva.account_bits(run.counts, a_bits, w_bits)
        self.minerva.account_leakage(run.counts, int(run.work.compute_cycles.sum()),
                                     getattr(self, "layer_precision", {}))

    # ---- layer kinds ---------------------------------------------------------------------
    def _conv(self, layer, x, weights, bias, tiling, n_steps, compute_values=True):
        fixed = self.arch.precision == "fixed16"
        x_hwc = _padded_hwc(x.q if fixed else x, layer.pad)
        w = weights.q if fixed else weights
        x_hwc, w, effects = self._minerva_inputs(layer, x_hwc, w, x.frac if fixed else None)
        acc, counts = dense.conv_tiles(x_hwc, w, self._conv_geometry(layer), tiling.as_tuple(),
                                       n_steps, tiling.n_tiles, compute=compute_values,
                                       sb_lanes=self.params.tn,
                                       pack_rows=self.params.pack_window_rows)
        self._drop_resident_traffic(layer, tiling, counts)
        if not compute_values:
            return None, counts, effects
        return self._conv_output(layer, acc, x, weights, bias), counts, effects

    def _minerva_inputs(self, layer, x_hwc, w, frac):
        """The NFU's operands after Minerva's steps (issue 25): predicated activations
        zeroed, weights read through the faulty SB; None effects when the steps are off."""
        steps = self.minerva
        if not steps.transforms_operands:
            return x_hwc, w, None
        skipped_macs = skipped_columns = faulty = 0
        if steps.predication:
            x_hwc, skipped_macs, skipped_columns = steps.predicate(
                layer, x_hwc, frac, (layer.out_h, layer.out_w), self.params.outputs_per_cycle,
                self.params.tn)
        if steps.voltage is not None:
            w, faulty = steps.stored_weights(np.ascontiguousarray(w))
        return x_hwc, w, _minerva.LayerEffects(skipped_macs, skipped_columns, faulty)

    def _conv_geometry(self, layer: Layer) -> tuple[int, ...]:
        """The geometry tuple of :func:`accelsim.kernels.dense.conv_tiles`."""
        return (layer.in_channels, layer.in_channels_per_group, layer.out_channels_per_group,
                layer.out_channels, layer.kernel_h, layer.kernel_w, *layer.stride,
                layer.pad[0], layer.pad[1], layer.in_h, layer.in_w,
                self.params.outputs_per_cycle, self.params.ti, self.word_bytes,
                self.params.psum_bytes)

    def _conv_output(self, layer, acc, x, weights, bias):
        """Exact accumulator sums -> the layer's output (bias, requantization, ReLU: NFU-3)."""
        if self.arch.precision == "fixed16":   # float64 acc: exact integer sums
            p, q, m = acc.shape
            result = fixedpoint.requantize_channels_last(
                acc.reshape(p * q, m), bias, x.frac + weights.frac, layer.relu)
            return result.with_codes(result.q.reshape(m, p, q))
        out = acc + bias.astype(np.float64)
        return _chw_float(np.maximum(out, 0) if layer.relu else out)

    def _pool(self, layer, x, tiling, n_steps):
        fixed = self.arch.precision == "fixed16"
        x_hwc = _padded_hwc(x.q if fixed else x, layer.pad)
        geometry = (layer.in_channels, layer.kernel_h, layer.kernel_w, *layer.stride,
                    layer.pad[0], layer.pad[1], layer.in_h, layer.in_w, self.params.ti,
                    self.word_bytes)
        is_max = layer.pool_op == "max"
        acc, n_valid, counts = dense.pool_tiles(x_hwc, is_max, geometry, tiling.as_tuple(),
                                                n_steps, tiling.n_tiles)
        self._drop_resident_traffic(layer, tiling, counts)
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
        self._drop_resident_traffic(layer, tiling, counts)
        if fixed:
            return _chw_fixed(fixedpoint.requantize(acc, frac, layer.relu)), counts
        return _chw_float(np.maximum(acc, 0) if layer.relu else acc), counts

    # ---- on-chip residency (DaDianNao) ---------------------------------------------------
    def _neurons_fit(self, layer: Layer) -> bool:
        """The whole input fits NBin and the whole output NBout (one slot each)."""
        padded = ((layer.in_h + layer.pad[0] + layer.pad[2])
                  * (layer.in_w + layer.pad[1] + layer.pad[3]))
        inputs = padded * layer.in_channels * (2 if layer.kind == "add" else 1)
        outputs = layer.out_h * layer.out_w * layer.out_channels
        return inputs <= self.buffer_words("nbin") and outputs <= self.buffer_words("nbout")

    def _drop_resident_traffic(self, layer: Layer, tiling, counts: np.ndarray) -> None:
        """Remove the DRAM transfers of data that stays on chip (see :class:`Params`)."""
        spills = getattr(tiling, "order", 0) == 2   # partial sums share the neuron columns
        if self.params.neurons_resident and not spills and self._neurons_fit(layer):
            counts[:, [dense.IN_BYTES, dense.IN_FILL, dense.OUT_BYTES]] = 0
        if self.params.weights_resident and layer.has_weights and self._weights_fit(layer):
            counts[:, [dense.W_BYTES, dense.W_FILL]] = 0

    def _weights_fit(self, layer: Layer) -> bool:
        """Every tile's share of the layer's filters fits its SB (``tn`` filters per tile and
        block, as many blocks as the layer has)."""
        blocks = -(-layer.out_channels // self.params.outputs_per_cycle)
        per_tile = blocks * self.params.tn * layer.in_channels_per_group * layer.kernel_h \
            * layer.kernel_w
        return per_tile <= int(self.arch.buffers["sb"].size_kib * 1024) // self.word_bytes

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
    return value.with_codes(np.ascontiguousarray(value.q.transpose(2, 0, 1)))


def _chw_float(acc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(acc.transpose(2, 0, 1)).astype(np.float32)

