"""Cnvlutin (Albericio et al., "Cnvlutin: Ineffectual-Neuron-Free Deep Neural Network
Computing", ISCA 2016): DaDianNao with zero-skipping neuron lanes.

Modelled (published-anchors.md section 3; the loop and cycle rule are in
:mod:`accelsim.kernels.zero_skip`):

* the DaDianNao node of :mod:`accelsim.arch.diannao` (``tiles`` x ``tn`` filters, ``ti``
  neuron lanes, weights and neurons resident on chip), whose ``ti`` neuron lanes become
  ``ti`` independent subunits, each with its own slice of every tile's SB;
* input neurons in ZFNAf: bricks of ``ti`` channels at one (y, x) holding the effectual
  neurons with ``log2(ti)``-bit offsets, in fixed-size slots (CNV-1: no footprint saving),
  so each stored neuron takes ``word + offset`` bits, in NM and in DRAM transfers;
* the dispatcher handing each subunit one (neuron, offset) pair a cycle, and the subunits
  re-synchronising after every brick group (the fullest brick sets the group's cycles);
* the output encoder, which examines every output neuron of a conv, pool or add layer and
  packs the next layer's bricks (off the critical path: no cycles);
* baseline (DaDianNao) mode for fc layers and for a conv layer that reads the network input
  (the dense image), as in the paper;
* ``ineffectual_threshold``: neurons with ``|a| <= t`` are skipped too (the paper's looser
  criterion behind its 1.52x); 0 skips only zeros, so outputs are bit-identical to
  DaDianNao's.

Our choices where the paper is silent (also in arch_configs/cnvlutin.yaml): a tile's
bricks are dealt round-robin to the subunits in DaDianNao's (position, kernel row, kernel
column, channel brick) order, and by default (``groups_span_windows``) a brick group may
hold the end of one window and the start of the next, so windows of fewer than 16 bricks
(1x1 layers over < 256 channels) keep every subunit fed; the adder trees then reduce into
two windows' outputs in such a group (that steering logic is not modelled), and since the
brick-to-subunit assignment then rotates from window to window, a subunit's SB slice must
reach the synapses of any brick (we do not charge for that). With it off, each window starts
a new group. A partial group (fewer bricks than subunits: a tile's last, or a window's last
without spanning) lasts its fullest brick or, when that is more, its brick count: the
dispatcher then feeds its bricks in baseline mode, one brick to all lanes a cycle (our
choice). So a group never takes longer than DaDianNao's one cycle a brick, and a layer with
no zeros takes exactly DaDianNao's cycles. A brick group whose
bricks are all empty still costs ``min_group_cycles`` (1: the dispatcher fetches and decodes
the bricks).

Counters: SB reads and fills are counted in subunit slices (``tn`` synapses, 1/``ti`` of the
DaDianNao row its ``sb_read`` counts) and priced per bit, so SB energy falls by exactly the
skipped synapse reads and a baseline-mode layer costs DaDianNao's; the stat
``sb_slice_reads_saved`` is the slice reads skipped (``sb_read + sb_slice_reads_saved`` =
``ti`` x DaDianNao's ``sb_read``). NM (``nbin``) reads are one per brick on both: fixed
ZFNAf slots save no NM accesses. Encoder and dispatcher steps cost one 16-bit add each
(:mod:`accelsim.cost.energy`).

Another reading of the paper (the authors' early simulator, github.com/iniverno/MIsim, splits
a window's channels into ``ti`` contiguous slices, one per subunit, and re-synchronises only
at window ends): it averages lane imbalance over a whole window and ties DaDianNao exactly
on dense layers. We keep per-group synchronisation, our reading of the paper's dispatcher
(16 bricks fetched together; its full text could not be checked here).

Not modelled: NM bank conflicts of the dispatcher's 16 brick reads, the Cnvlutin2 formats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accelsim.arch import base, diannao
from accelsim.arch._nfu_tiling import block_unions
from accelsim.arch.diannao import Core as DaDianNaoCore
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component
from accelsim.fixedpoint import Fixed, raw
from accelsim.kernels import dense, zero_skip
from accelsim.workload import INPUT, Layer

BUFFERS = diannao.BUFFERS


@dataclass(frozen=True)
class Params(diannao.NodeParams):
    """DaDianNao's parameters plus the zero-skipping ones (see the module docstring)."""

    ineffectual_threshold: float = 0.0
    min_group_cycles: int = 1
    groups_span_windows: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.conv_algorithm != "direct":   # Winograd (issue 25): DianNao / DaDianNao only
            raise ValueError(f"conv_algorithm must be direct on Cnvlutin (Winograd's "
                             f"transformed inputs have no zeros to skip), got "
                             f"{self.conv_algorithm!r}")
        if self.ti & (self.ti - 1):
            raise ValueError(f"ti must be a power of two (bricks use log2(ti)-bit offsets), "
                             f"got {self.ti}")
        threshold = self.ineffectual_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) \
                or not threshold >= 0:
            raise ValueError(f"ineffectual_threshold must be a number >= 0, got {threshold!r}")
        if not isinstance(self.groups_span_windows, bool):
            raise ValueError(f"groups_span_windows must be true or false, "
                             f"got {self.groups_span_windows!r}")
        if not isinstance(self.min_group_cycles, int) or self.min_group_cycles < 0:
            raise ValueError(f"min_group_cycles must be an integer >= 0, "
                             f"got {self.min_group_cycles!r}")

    @property
    def offset_bits(self) -> int:
        return int(math.log2(self.ti))


class Core(DaDianNaoCore):
    """A DaDianNao node whose neuron lanes skip ineffectual input neurons."""

    def components(self) -> list[Component]:
        """DaDianNao's, with SB read per subunit slice (``tn`` synapses of one lane), plus
        the dispatcher and the output encoder."""
        parts = [c for c in super().components() if c.name != "sb"]
        word_bits = 8 * self.word_bytes
        sb_bytes = int(self.arch.buffers["sb"].size_kib * 1024)
        return parts + [Component("sb", "sram", sb_bytes, self.params.tn * word_bits),
                        Component("dispatcher", "logic"), Component("encoder", "logic")]

    def skips_zeros(self, layer: Layer) -> bool:
        """CNV mode: conv layers fed by another layer; fc and first-layer convs run dense,
        and so does a layer too thin for bricks (a block of filters reading fewer than
        ``ti`` channels, when DaDianNao packs its window rows instead)."""
        unions = block_unions(layer, self.params.outputs_per_cycle)
        thin = self.params.pack_window_rows and min(unions) < self.params.ti
        return layer.kind == "conv" and INPUT not in layer.inputs and not thin

    def value_key(self) -> tuple:
        """A threshold above 0 skips small non-zero neurons too, which changes outputs."""
        threshold = float(self.params.ineffectual_threshold)
        return super().value_key() + ((("ineffectual_threshold", threshold),) if threshold
                                      else ())

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling, *,
                compute_values: bool = True) -> base.LayerRun:
        if not self.skips_zeros(layer):
            run = super().compute(layer, inputs, weights, bias, tiling,
                                  compute_values=compute_values)
            # SB is counted in subunit slices (1/ti of a DaDianNao row): one dense cycle
            # reads all ti slices of each active tile's SB, and a row fill writes ti slices.
            for action in ("read", "fill"):
                rows = run.counts.pop(("sb", action), 0)
                if rows:
                    run.counts.add("sb", action, rows * self.params.ti)
            self._count_encoder(layer, run.counts)
            run.mapping += " (baseline mode)"
            return run
        return self._zero_skipping_conv(layer, inputs[0], weights, bias, tiling,
                                        compute_values)

    # ---- CNV mode -------------------------------------------------------------------------
    def _zero_skipping_conv(self, layer, x, weights, bias, tiling,
                            compute_values=True) -> base.LayerRun:
        fixed = self.arch.precision == "fixed16"
        x_hwc = diannao._padded_hwc(x.q if fixed else x, layer.pad)
        w = weights.q if fixed else weights
        geometry = self._conv_geometry(layer)
        acc, tile_cycles, busy, stats = zero_skip.zero_skip_conv(
            x_hwc, w, geometry, tiling.as_tuple(), self.params.ti, self._threshold(x),
            self.params.min_group_cycles, self.params.tn, self.params.groups_span_windows,
            compute=compute_values)
        n_steps = min(tiling.n_tiles, self.arch.engine.max_steps_per_layer)
        neuron_bits = 8 * self.word_bytes + self.params.offset_bits
        _, counts = dense.conv_tiles(x_hwc, w, geometry, tiling.as_tuple(), n_steps,
                                     tiling.n_tiles, compute=False, sb_lanes=self.params.tn,
                                     neuron_bits=neuron_bits, tile_cycles=tile_cycles)
        self._drop_resident_traffic(layer, tiling, counts)
        named = self._cnv_counts(layer, counts, stats)
        self._count_encoder(layer, named)
        return base.LayerRun(
            output=self._conv_output(layer, acc, x, weights, bias) if compute_values else None,
            work=self._tile_work(counts), counts=named,
            mapping=tiling.describe() + " (zero skipping)", tiles=tiling.n_tiles,
            stats=self._lane_stats(layer, x, counts, busy, stats))

    def _threshold(self, x) -> float:
        """The ineffectual threshold in the input's own units (int16 steps for fixed16):
        ``|q / 2**frac| <= t`` is ``|q| <= floor(t * 2**frac)`` for an integer ``q``."""
        t = float(self.params.ineffectual_threshold)
        return float(math.floor(t * 2.0 ** x.frac)) if isinstance(x, Fixed) else t

    def _cnv_counts(self, layer: Layer, counts: np.ndarray, stats: np.ndarray) -> Counts:
        totals = counts.sum(axis=0)
        named = Counts()
        named.add("nbin", "read", stats[zero_skip.BRICKS])      # the dispatcher's brick reads
        named.add("nbin", "fill", totals[dense.IN_FILL])
        named.add("sb", "read", stats[zero_skip.SB_SLICE_READS])
        named.add("sb", "fill", totals[dense.W_FILL] * self.params.ti)   # rows of ti slices
        named.add("nbout", "read", totals[dense.OUT_READ])
        named.add("nbout", "write", totals[dense.OUT_WRITE])
        named.add("nfu", "mac", stats[zero_skip.EFFECTUAL_MACS])
        named.add("nfu", "mac_skipped", layer.macs - stats[zero_skip.EFFECTUAL_MACS])
        named.add("dispatcher", "op", stats[zero_skip.EFFECTUAL_NEURONS])
        return Counts({key: n for key, n in named.items() if n})

    @staticmethod
    def _count_encoder(layer: Layer, counts: Counts) -> None:
        """The encoder examines every output neuron a later layer reads as bricks."""
        if layer.kind != "fc":
            counts.add("encoder", "op", layer.out_h * layer.out_w * layer.out_channels)

    def _lane_stats(self, layer, x, counts, busy, stats) -> dict[str, float]:
        """Per-subunit busy cycles, idle cycles, brick groups and ZFNAf sizes."""
        lane_cycles = int(counts[:, dense.CYCLES].sum())
        row = {f"subunit_{lane:02d}_busy_cycles": int(n) for lane, n in enumerate(busy)}
        row["subunit_idle_cycles"] = int(lane_cycles * len(busy) - busy.sum())
        row["brick_groups"] = int(stats[zero_skip.GROUPS])
        row["skipped_neurons"] = int(stats[zero_skip.SKIPPED_NEURONS])
        row["sb_slice_reads_saved"] = int(stats[zero_skip.SB_SLICE_SAVED])
        values = raw(x)
        neuron_bits = 8 * self.word_bytes + self.params.offset_bits
        slots = layer.in_h * layer.in_w * -(-layer.in_channels // self.params.ti) * self.params.ti
        effectual = int(np.count_nonzero(np.abs(values.astype(np.float64))
                                         > self._threshold(x)))
        row["zfnaf_bytes"] = -(-slots * neuron_bits // 8)
        row["zfnaf_effectual_bytes"] = -(-effectual * neuron_bits // 8)
        return row

