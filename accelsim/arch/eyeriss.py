"""Eyeriss (Chen, Krishna, Emer, Sze, "Eyeriss: An Energy-Efficient Reconfigurable Accelerator
for Deep Convolutional Neural Networks", JSSC 2017; dataflow: ISCA 2016).

Modelled: a 12 x 14 array of PEs, each with an ifmap spad (12 words), a filter spad (224)
and a psum spad (24) and one 16-bit MAC; the row-stationary dataflow
(:mod:`accelsim.arch._row_stationary_mapping` maps each layer,
:mod:`accelsim.kernels.row_stationary` runs it); a 108 KB global buffer (GLB) holding the
psums of a block and double-buffered, zero-padded ifmap rows; the global input networks
(ifmap, filter and psum GINs: a Y-bus and 12 X-buses whose row / column ID tags multicast a
word to every PE that needs it), the global output network (GON) and the local PE-to-PE psum
links; zero gating (an ifmap zero skips the filter-spad read, the MAC and the psum update:
energy, not cycles); run-length compression (RLC) of ifmaps and ofmaps to and from DRAM;
batches of ``N`` images (the input's leading dimension).

Time of one processing pass (cycles at the core clock)::

    fill  = max(filter bytes / DRAM link bytes per cycle, filter words / filter GIN width)
            + DRAM latency                      (filters stream into the spads; array idle)
    work  = max(array, ifmap words / ifmap GIN, psums out / GON, psums in / psum GIN)
    array = n * F * (p * q * S + p)             (p * q * S MACs a position per PE, in lock
                                                 step, + p adds of the psums arriving from
                                                 the neighbour or the GLB)

The engine overlaps the next channel group's ifmap refill and the ofmap write-back (RLC
bytes) with the passes; the filters it fetches are already charged in ``fill`` (they stream
straight into the spads), so their link time is not added twice unless DRAM saturates. The
GLB holds one block of psums, so the first pass of a block also waits for the previous
block's ofmap to drain over the link (its RLC bytes / link bytes per cycle).

Choices the papers do not pin (also in ``arch_configs/eyeriss.yaml``):

* ``q * S <= ifmap spad`` and ``p <= 16``: the JSSC AlexNet table's GLB accesses imply
  p*t = 32/16/32/32/32 and q*r = 1/2/6/6/6 for CONV1-5, i.e. p = 16 and q = 1/2/3, which the
  mapper picks (the 24-word psum spad alone would allow p = 24). The chip's own mapping
  table (JSSC Table III, see ``benchmarks/reproduce_eyeriss.py``) agrees on p = 16 and on
  CONV1, 2, 4 and 5, and lists q = 4 (4 x 3 taps, the whole 12-word spad) for CONV3, where
  our model counts 69.2 MB of GLB accesses for its q = 4, r = 1 against the measured 50.2
  (q * r = 6 gives 50.2). Until stop 17 the mapper required ``q * (S + 1) <= 12`` (a
  prefetch slot per channel), which Table III's q = 4 contradicts; with ``q * S`` the
  AlexNet picks are unchanged and VGG-16 CONV5 takes q = 4, r = 2 (q r = 8), whose GLB
  accesses are the chip's (89.7 vs 90.0 MB; q r = 6 gave 116, 1.29x);
* the mapper searches set widths e <= E (folded into strips when wider than the array,
  replicated when small; for each strip count the balanced and the widest width, a short
  last strip counted with its real rows) and every pass parameter, and minimises energy x
  cycles (``mapper_objective: edp``; the paper minimises energy): on AlexNet this yields the
  chip's PE sets, p, q, r and t, so its active PEs (154, 135, 156, 156, 156) and GLB
  accesses; CONV2 takes n = 2 images and m = 32 filters per GLB block where the JSSC DRAM
  figure suggests n = 1, m = 64 (1% less energy, 5% fewer cycles in our model);
* bus widths: ifmap GIN 16 b, filter and psum GINs and GON 64 b per cycle (the chip's VGG-16
  processing latencies for CONV1-4 are its GLB accesses at 7.4-7.7 words per cycle, i.e.
  psum reads and writes each near 4 words = 64 b per cycle);
* ``max_channel_row_words: 128``: a pass reduces at most 128 // (padded ifmap width)
  channels (``q * r``, at least 1); inferred from the JSSC VGG-16 table (see
  :mod:`accelsim.arch._row_stationary_mapping`), AlexNet's mappings are unaffected; 0
  lifts the limit;
* the GLB stores ifmaps zero-padded (the JSSC GLB counts use the padded 31 x 31 and
  15 x 15 ifmaps); DRAM holds them unpadded;
* RLC: one stream per channel plane (row-major); a fetch of some rows reads the 64-bit
  words holding their pairs; a tensor is stored RLC-encoded when that is smaller than raw
  (the chip's per-layer RLC switch, set as a compiler would set it: the raw network input
  stays raw); filters are never compressed;
* psums accumulate exactly (int64, as the reference); the chip truncates them to 16 bits;
* every MAC reads and writes the psum spad (4 spad accesses per effectual MAC);
* pooling and residual adds run on the PE ALUs (1 op / PE / cycle) through the GLB: the chip
  runs only conv layers; these let whole networks run.

Not modelled: the GLB's banking and bank conflicts, the clock-domain crossing of the link,
PE pipeline bubbles between passes, the chip's 16-bit psum truncation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import _row_stationary_elementwise as rsew
from accelsim.arch import _row_stationary_mapping as rsmap
from accelsim.arch import base
from accelsim.arch._vector_ops import add_output
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component, energy_table
from accelsim.engine import TileWork
from accelsim.kernels import row_stationary as rs
from accelsim.workload.layer import Layer

BUFFERS = ("glb",)

# Kernel count column -> (component, action).
COUNT_NAMES = {
    rs.MAC: ("pe", "mac"), rs.MAC_SKIPPED: ("pe", "mac_skipped"), rs.ACC_OPS: ("pe", "op"),
    rs.IFMAP_SPAD_READ: ("ifmap_spad", "read"), rs.IFMAP_SPAD_WRITE: ("ifmap_spad", "write"),
    rs.FILTER_SPAD_READ: ("filter_spad", "read"),
    rs.FILTER_SPAD_WRITE: ("filter_spad", "write"),
    rs.PSUM_SPAD_READ: ("psum_spad", "read"), rs.PSUM_SPAD_WRITE: ("psum_spad", "write"),
    rs.GLB_IFMAP_READ: ("glb", "read"), rs.GLB_PSUM_READ: ("glb", "read"),
    rs.GLB_PSUM_WRITE: ("glb", "write"), rs.GLB_FILL: ("glb", "fill"),
    rs.GIN_IFMAP: ("gin_ifmap", "hop"), rs.GIN_FILTER: ("gin_filter", "hop"),
    rs.GIN_PSUM: ("gin_psum", "hop"), rs.GON: ("gon", "hop"), rs.LOCAL: ("local", "hop"),
}


@dataclass(frozen=True)
class Params:
    """The PE array, spads (words), bus widths (bits per cycle) and the chip's switches."""

    array_rows: int = 12
    array_cols: int = 14
    ifmap_spad_words: int = 12
    filter_spad_words: int = 224
    psum_spad_words: int = 24
    max_filters_per_pe: int = 16
    gin_ifmap_bits: int = 16
    gin_filter_bits: int = 64
    gin_psum_bits: int = 64
    gon_bits: int = 64
    zero_gating: bool = True
    rlc: bool = True
    mapper_objective: Literal["edp", "energy"] = "edp"
    max_channel_row_words: int = 0

    def __post_init__(self) -> None:
        base.require_ints(self, ("array_rows", "array_cols", "ifmap_spad_words",
                                 "filter_spad_words", "psum_spad_words", "max_filters_per_pe",
                                 "gin_ifmap_bits", "gin_filter_bits", "gin_psum_bits",
                                 "gon_bits"))
        base.require_ints(self, ("max_channel_row_words",), minimum=0)


class Core(base.Core):
    """The Eyeriss chip: PE array, spads, GLB, NoCs and RLC, one layer at a time."""

    LOAD_BUFFERS = ("glb",)
    BATCHED = True    # run_layer takes N x C x H x W tensors (simulate(batch=N))

    def __init__(self, arch) -> None:
        super().__init__(arch)
        table = energy_table(self.components(), arch.precision, arch.energy_pj, arch.origin)
        self.prices = rsmap.RsPrices(
            mac=table[("pe", "mac")], op=table[("pe", "op")],
            ifmap_spad=table[("ifmap_spad", "read")],
            filter_spad=table[("filter_spad", "read")],
            psum_spad=table[("psum_spad", "read")], glb=table[("glb", "read")],
            glb_fill=table[("glb", "fill")], gin_ifmap=table[("gin_ifmap", "hop")],
            gin_filter=table[("gin_filter", "hop")], gin_psum=table[("gin_psum", "hop")],
            gon=table[("gon", "hop")], local=table[("local", "hop")],
            dram_byte=(table[("dram", "read_byte")] + table[("dram", "write_byte")]) / 2)
        self.hardware = self._hardware()

    def _hardware(self) -> rsmap.RsHardware:
        p, dram, glb = self.params, self.arch.dram, self.arch.buffers["glb"]
        link = math.inf if dram.bytes_per_cycle is None else dram.bytes_per_cycle
        return rsmap.RsHardware(
            p.array_rows, p.array_cols, p.ifmap_spad_words, p.filter_spad_words,
            p.psum_spad_words, p.max_filters_per_pe,
            int(glb.size_kib * 1024) // self.word_bytes, glb.slots, 8 * self.word_bytes,
            p.gin_ifmap_bits, p.gin_filter_bits, p.gin_psum_bits, p.gon_bits, link,
            dram.latency_cycles, p.mapper_objective, p.max_channel_row_words)

    def components(self) -> list[Component]:
        bits = 8 * self.word_bytes
        p, glb = self.params, self.arch.buffers["glb"]
        spad = {name: getattr(p, f"{name}_words") * self.word_bytes
                for name in ("ifmap_spad", "filter_spad", "psum_spad")}
        return [Component("pe", "mac"),
                *(Component(name, "sram", size, bits) for name, size in spad.items()),
                Component("glb", "sram", int(glb.size_kib * 1024), bits),
                Component("gin_ifmap", "noc", access_bits=bits, hop_mm=1.0),
                Component("gin_filter", "noc", access_bits=bits, hop_mm=1.0),
                Component("gin_psum", "noc", access_bits=bits, hop_mm=1.0),
                Component("gon", "noc", access_bits=bits, hop_mm=1.0),
                Component("local", "noc", access_bits=bits, hop_mm=0.2),
                Component("rlc", "logic"), Component("dram", "dram")]

    def peak_per_cycle(self, layer: Layer) -> int:
        return self.params.array_rows * self.params.array_cols

    def run_layer(self, layer: Layer, inputs: list, weights, bias) -> base.LayerRun:
        """As the base, with the batch taken from the input (``N x C x H x W``, or one image
        ``C x H x W``)."""
        first = fixedpoint.raw(inputs[0])
        batch = first.shape[0] if first.ndim == 4 else 1
        return self.compute(layer, inputs, weights, bias, self.tile(layer, batch))

    def count_weighted(self, layer: Layer, inputs: list, weights, bias,
                       output) -> base.LayerRun:
        """conv/fc counted without the MACs' arithmetic (:func:`rs.count_passes` reads only
        the ifmap's zeros, once per row and tap)."""
        x = _batched(inputs[0])
        mapping = self.tile(layer, fixedpoint.raw(x).shape[0])
        _, counts, work, stats = self._conv(layer, x, weights, bias, mapping,
                                            known=_batched(output))
        return base.LayerRun(output=output, work=work, counts=counts,
                             mapping=mapping.describe(), tiles=len(work), stats=stats)

    def tile(self, layer: Layer, batch: int = 1):
        if layer.has_weights:
            return rsmap.map_conv(layer, batch, self.hardware, self.prices)
        return rsew.elementwise_tiling(layer, batch, self.hardware)

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling) -> base.LayerRun:
        single = fixedpoint.raw(inputs[0]).ndim == 3
        batched = [_batched(x) for x in inputs]
        if layer.has_weights:
            output, counts, work, stats = self._conv(layer, batched[0], weights, bias, tiling)
            mapping, tiles = tiling.describe(), len(work)
        else:
            output, counts, work, stats = self._elementwise(layer, batched, tiling)
            mapping, tiles = tiling.describe(), tiling.n_tiles
        return base.LayerRun(output=_unbatched(output) if single else output, work=work,
                             counts=counts, mapping=mapping, tiles=tiles, stats=stats)

    # ---- conv / fc -----------------------------------------------------------------------
    def _conv(self, layer, x, weights, bias, mapping, known=None):
        """Outputs, counts, work and stats of a conv / fc layer; with ``known`` (its output,
        batched) the passes are only counted, and so are fixed16 ones (exact GEMM sums)."""
        fixed = self.arch.precision == "fixed16"
        x_values = x.q if fixed else x
        if x_values.shape[0] != mapping.shape.batch:
            raise ValueError(f"layer {layer.name!r}: mapped for batch {mapping.shape.batch}, "
                             f"given {x_values.shape[0]} images (use run_layer)")
        if layer.kind == "fc":
            x_values = x_values.reshape(x_values.shape[0], *layer.in_shape)
        top, left, bottom, right = layer.pad
        x_pad = np.pad(x_values, ((0, 0), (0, 0), (top, bottom), (left, right)))
        table = mapping.pass_table()
        geometry = (*layer.stride, layer.out_w, mapping.p, mapping.q)
        if known is None and not fixed:
            acc, kernel_counts = rs.conv_passes(x_pad, weights, table, geometry,
                                                groups=layer.groups,
                                                zero_gating=self.params.zero_gating)
        else:     # count only; int16 products sum exactly in any order (rs.exact_sums)
            kernel_counts = rs.count_passes(x_pad, table, geometry, groups=layer.groups,
                                            zero_gating=self.params.zero_gating)
            acc = None if known is not None else rs.exact_sums(x_pad, weights.q, layer.stride)
        output = known if known is not None else _finished(acc, layer, x, weights, bias, fixed)
        ifmap, ifmap_rlc = self._stored(x_values)
        ofmap, ofmap_rlc = self._stored(fixedpoint.raw(output))
        in_bytes = rs.refill_bytes(*ifmap, table, channels_per_group=layer.in_channels_per_group,
                                   stride_h=layer.stride[0], pad_top=top)
        out_bytes = rs.readout_bytes(*ofmap, table,
                                     filters_per_group=layer.out_channels_per_group)
        filter_bytes = kernel_counts[:, rs.FILTER_WORDS] * self.word_bytes
        cycles = self._pass_cycles(kernel_counts) + self._drain_waits(out_bytes)
        work = TileWork.single_core(cycles, in_bytes, filter_bytes, out_bytes)
        counts = _named_counts(kernel_counts)
        rlc_values = (_values_fetched(x_values, table, layer) if ifmap_rlc else 0) + \
            (fixedpoint.raw(output).size if ofmap_rlc else 0)
        if rlc_values:
            counts.add("rlc", "op", rlc_values)
        stats = {"batch": x_values.shape[0], "passes": len(table),
                 "active_pes": int(kernel_counts[:, rs.ACTIVE_PES].max(initial=0)),
                 "dram_ifmap_bytes": int(in_bytes.sum()),
                 "dram_filter_bytes": int(filter_bytes.sum()),
                 "dram_ofmap_bytes": int(out_bytes.sum()),
                 "rlc_ifmap": int(ifmap_rlc), "rlc_ofmap": int(ofmap_rlc)}
        return output, counts, work, stats

    def _pass_cycles(self, counts: np.ndarray) -> np.ndarray:
        hw = self.hardware
        work = np.maximum.reduce([
            counts[:, rs.ARRAY_CYCLES],
            hw.bus_cycles(counts[:, rs.GLB_IFMAP_READ], hw.gin_ifmap_bits),
            hw.bus_cycles(counts[:, rs.PSUMS_OUT], hw.gon_bits),
            hw.bus_cycles(counts[:, rs.GIN_PSUM], hw.gin_psum_bits)])
        return work + hw.fill_cycles(counts[:, rs.FILTER_WORDS])

    def _drain_waits(self, out_bytes: np.ndarray) -> np.ndarray:
        """Cycles the first pass of each block waits for the previous block's ofmap to
        leave over the DRAM link: the GLB holds one block of psums (the mapper fits one),
        so the next block cannot write its psums until the read-out has drained."""
        link = self.hardware.link_bytes_per_cycle
        waits = np.zeros(len(out_bytes), dtype=np.int64)
        if math.isinf(link) or len(out_bytes) < 2:
            return waits
        waits[1:] = np.ceil(out_bytes[:-1] / link).astype(np.int64)
        return waits

    def _stored(self, tensor: np.ndarray) -> tuple[tuple[np.ndarray, int], bool]:
        """How an ``N x C x H x W`` tensor sits in DRAM: ``(cum, per_word)`` for
        :func:`rs.refill_bytes` (cumulative RLC pairs, or bytes, before each row) and
        whether it is RLC-encoded (only when that is smaller than raw)."""
        row_bytes = tensor.shape[-1] * self.word_bytes
        raw = np.broadcast_to(np.arange(tensor.shape[-2] + 1, dtype=np.int64) * row_bytes,
                              (*tensor.shape[:-2], tensor.shape[-2] + 1))
        if not self.params.rlc:
            return (raw, 0), False
        pairs = rs.rlc_cumulative_pairs(tensor)
        per_word = rs.rlc_pairs_per_word(8 * self.word_bytes)
        encoded = np.sum(-(-pairs[..., -1] // per_word)) * (rs.RLC_WORD_BITS // 8)
        if encoded < tensor.size * self.word_bytes:
            return (pairs, per_word), True
        return (raw, 0), False

    # ---- pooling and element-wise add (our extension) -------------------------------------
    def _elementwise(self, layer, inputs, tiling):
        output = _pool(layer, inputs[0]) if layer.kind == "pool" else add_output(layer, inputs)
        values = [fixedpoint.raw(x) for x in inputs]
        batch = values[0].shape[0]
        table = tiling.table(layer, batch)
        rows_in = (table[:, rs.T_Y1] - table[:, rs.T_Y0] - 1) * layer.stride[0] \
            + layer.kernel_h
        channels = table[:, rs.T_C1] - table[:, rs.T_C0]
        out_rows = table[:, rs.T_Y1] - table[:, rs.T_Y0]
        padded_w = layer.in_w + layer.pad[1] + layer.pad[3]
        in_words = len(values) * channels * rows_in * padded_w
        out_words = channels * out_rows * layer.out_w
        ops = out_words * (layer.kernel_h * layer.kernel_w if layer.kind == "pool" else 1)
        in_bytes = np.zeros(len(table), dtype=np.int64)
        rlc_values = 0
        for x in values:
            stored, encoded = self._stored(x)
            in_bytes += rs.refill_bytes(*stored, table, channels_per_group=layer.in_channels,
                                        stride_h=layer.stride[0], pad_top=layer.pad[0])
            rlc_values += x.size if encoded else 0
        stored, out_encoded = self._stored(fixedpoint.raw(output))
        out_bytes = rs.readout_bytes(*stored, table, filters_per_group=layer.in_channels)
        rlc_values += fixedpoint.raw(output).size if out_encoded else 0
        hw = self.hardware
        cycles = np.maximum.reduce([-(-ops // self.peak_per_cycle(layer)),
                                    hw.bus_cycles(in_words, hw.gin_ifmap_bits),
                                    hw.bus_cycles(out_words, hw.gon_bits)])
        counts = Counts()
        for (component, action), total in (
                (("glb", "fill"), in_words), (("glb", "read"), in_words + out_words),
                (("glb", "write"), out_words), (("gin_ifmap", "hop"), in_words),
                (("ifmap_spad", "write"), in_words), (("ifmap_spad", "read"), ops),
                (("psum_spad", "read"), ops), (("psum_spad", "write"), ops),
                (("pe", "op"), ops), (("gon", "hop"), out_words)):
            counts.add(component, action, int(np.sum(total)))
        if rlc_values:
            counts.add("rlc", "op", rlc_values)
        work = TileWork.single_core(cycles, in_bytes, np.zeros_like(in_bytes), out_bytes)
        return output, counts, work, {"batch": batch}


def _batched(tensor):
    """A single ``C x H x W`` image as a batch of one."""
    if fixedpoint.raw(tensor).ndim == 4:
        return tensor
    if isinstance(tensor, fixedpoint.Fixed):
        return tensor.with_codes(tensor.q[None])
    return tensor[None]


def _unbatched(tensor):
    if isinstance(tensor, fixedpoint.Fixed):
        return tensor.with_codes(np.ascontiguousarray(tensor.q[0]))
    return np.ascontiguousarray(tensor[0])


def _finished(acc: np.ndarray, layer: Layer, x, weights, bias, fixed: bool):
    """The layer's ``N x M x E x F`` output from its ``N x E x F x M`` sums: bias, ReLU and
    (fixed16) requantization, one frac for the batch."""
    n, e, f, m = acc.shape
    if fixed:
        result = fixedpoint.requantize_channels_last(acc.reshape(n * e * f, m), bias,
                                                     x.frac + weights.frac, layer.relu)
        codes = result.q.reshape(m, n, e, f).transpose(1, 0, 2, 3)
        return result.with_codes(np.ascontiguousarray(codes))
    out = acc.transpose(0, 3, 1, 2) + bias.astype(np.float64)[:, None, None]
    return (np.maximum(out, 0) if layer.relu else out).astype(np.float32)


def _named_counts(kernel_counts: np.ndarray) -> Counts:
    totals = kernel_counts.sum(axis=0)
    named = Counts()
    for column, (component, action) in COUNT_NAMES.items():
        if totals[column]:
            named.add(component, action, int(totals[column]))
    return named


def _values_fetched(x: np.ndarray, table: np.ndarray, layer: Layer) -> int:
    """Ifmap values the RLC decoder expands over the layer (refills, halos included)."""
    values_before_row = np.broadcast_to(np.arange(x.shape[-2] + 1, dtype=np.int64) * x.shape[-1],
                                        (*x.shape[:-2], x.shape[-2] + 1))
    return int(rs.refill_bytes(values_before_row, 0, table,
                               channels_per_group=layer.in_channels_per_group,
                               stride_h=layer.stride[0], pad_top=layer.pad[0]).sum())


def _pool(layer: Layer, x):
    fixed = isinstance(x, fixedpoint.Fixed)
    is_max = layer.pool_op == "max"
    acc, n_valid = rs.pool_values(fixedpoint.raw(x), is_max=is_max,
                                  kernel=(layer.kernel_h, layer.kernel_w), stride=layer.stride,
                                  pad=layer.pad[:2], out_hw=(layer.out_h, layer.out_w))
    n = np.maximum(n_valid, 1)
    if fixed:
        q = acc if is_max else (2 * acc + n) // (2 * n)   # round half up
        q = np.maximum(q, 0) if layer.relu else q
        return fixedpoint.Fixed(np.clip(q, fixedpoint.Q_MIN, fixedpoint.Q_MAX)
                                .astype(np.int16), x.frac)
    out = acc if is_max else acc / n
    return (np.maximum(out, 0) if layer.relu else out).astype(np.float32)
