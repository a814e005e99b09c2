"""A TPU-like systolic array that agrees cycle for cycle with SCALE-Sim 3.0.0.

SCALE-Sim (Samajdar et al., "SCALE-Sim: Systolic CNN Accelerator Simulator", arXiv
1811.02883, 2018; "A Systematic Methodology for Characterizing Scalability of DNN
Accelerators using SCALE-Sim", ISPASS 2020; v3: Raj et al., arXiv 2504.15377, 2025) models an
``rows x cols`` array of MACs fed by three double-buffered SRAMs (ifmap, filter, ofmap) in
output-, weight- or input-stationary dataflow. This core reproduces its cycle model as read
from the installed package's source (``scalesim/compute/systolic_compute_{os,ws,is}.py``,
``scalesim/memory/*.py``, ``single_layer_sim.py``); :mod:`accelsim.kernels.systolic` and
:mod:`accelsim.kernels.scalesim_memory` say how, line by line. In short:

* A conv/fc layer is a GEMM (im2col); the dataflow spreads two of its dimensions over the
  array and streams the third (``T``); ``ceil(Sr / rows) x ceil(Sc / cols)`` folds run in
  turn, ``T + rows + cols - 2`` cycles each for os and ``2 rows + T + cols - 2`` for ws and
  is (fill and drain of the skewed array). Grouped and depthwise layers run as ``G``
  separate GEMMs, as SCALE-Sim runs a topology row whose name contains ``DP``.
* The DRAM interface (``bandwidth_mode``): ``calc`` is SCALE-Sim's ``InterfaceBandwidth:
  CALC`` (reads never stall; SCALE-Sim then reports the bandwidth they needed; the ofmap SRAM
  drains ``cols`` words a cycle); ``user`` is ``USER``: the ifmap and filter SRAMs prefetch
  ``*_words_per_cycle`` words a cycle and the array stalls on a miss. In both modes the array
  stalls when the ofmap SRAM is full while it drains.
* A row of the demand matrices is one cycle; the layer's cycles are its last row's serviced
  cycle, stalls included. The simpy engine is given unlimited DRAM (set
  ``dram.bytes_per_cycle: null`` and ``dram.latency_cycles: 0``; anything else is an error):
  this core's own memory model, SCALE-Sim's, places every stall, so each fold's tile carries
  its rows plus its stalls as compute, and the layer's ``LayerRun.stats`` restate
  ``compute_cycles`` and ``stall_cycles`` (rows and stalls) over the engine's figures.

Quirks of SCALE-Sim kept while ``scalesim_compat`` is true (the default), with the
physically faithful choice used when it is false:

1. Output size ``ceil((H - R + U) / U)``: when the stride does not divide ``H - R`` a last
   row/column of windows runs past the input (its missing inputs are not fetched) and is
   timed and counted (``scalesim_macs``); faithful: the layer's real ``floor(...) + 1``.
   The real outputs are always the layer's own.
2. SRAM words are 1 byte whatever the precision (SCALE-Sim's ``word_size = 1``); faithful:
   a ``size_kib`` buffer holds ``size_kib * 1024 / word bytes`` words.
3. Layer cycles are the last row's cycle *index* (rows - 1 + stalls); faithful: rows +
   stalls.
4. os counts ``rows + cols`` extra ofmap SRAM writes per fold (``ofmap_writes +=
   shape[0] + shape[1]`` after the flip); faithful: only the outputs.
5. ws and is compute utilization divides by ``fold rows + cols - 1`` (the demand matrix's
   width added to its already-skewed height); faithful: the fold's rows.
6. USER mode: a read miss waits twice a positive delay and *subtracts* a negative one
   (``offset += potential_stall_cycles`` then again if > 0); faithful: wait once, never less.
7. A drain frees ``bandwidth`` words per line even for a part-empty line left by a forced
   flush (only the last line's ``-1`` are subtracted); faithful: the words written.
8. USER mode, an operand overflowing its SRAM (a batch-1 fc's weights): SCALE-Sim prefetches
   a ws / is fold's stationary rows in reverse load order and its window wraps around the
   whole operand to find them (VGG-16's fc6: each weight read ~100x, 1.03 G cycles);
   faithful (TPU-like): streamed in load order through a double buffer, each weight once,
   bandwidth-bound (10.2 M cycles). ``systolic_tpu`` ships faithful, the others compat.

N:M sparsity (``sparsity_support``, SCALE-Sim's ``[sparsity]`` section; a layer's N:M is
``sparsity_n`` / ``sparsity_m``, set per topology row) compresses the filter as SCALE-Sim
does, N:M or ws's optimized mapping (:mod:`accelsim.arch._systolic_sparse`); the weights
themselves are pruned at the same positions before the run
(:func:`accelsim.sim.rows.topology_row`).

Not modelled (as in SCALE-Sim 3.0.0 unless said): batching, custom layouts and SRAM banks
(the config reader refuses them), Ramulator DRAM traces, layer-to-layer overlap. Pooling
and residual adds are not SCALE-Sim layers; here they run on a ``cols``-lane vector unit at the
array's edge (TPU v1's pooling unit), one window element per lane per cycle, reading the ifmap
SRAM and writing the ofmap SRAM, with their DRAM traffic but no stalls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import _systolic_sparse as sparse
from accelsim.arch import base
from accelsim.arch._systolic_checks import check_memories
from accelsim.arch._vector_ops import vector_output
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component
from accelsim.engine import TileWork
from accelsim.kernels import systolic as sk
from accelsim.workload.layer import Layer

BUFFERS = ("ifmap_sram", "filter_sram", "ofmap_sram")


@dataclass(frozen=True)
class Params:
    """The array, its dataflow and its DRAM interface (SCALE-Sim's ``.cfg`` knobs).

    ``ifmap_words_per_cycle`` / ``filter_words_per_cycle`` are SCALE-Sim's
    ``IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth`` and ``ofmap_words_per_cycle``
    its ``Bandwidth``: USER mode only (CALC drains the ofmap SRAM at ``cols`` words a cycle).
    ``scalesim_compat``: keep SCALE-Sim's quirks (see the module docstring).
    ``sparsity_support``, ``sparse_rep``, ``sparsity_optimized_mapping``,
    ``sparsity_block_size``, ``sparsity_seed``: SCALE-Sim's ``[sparsity]`` ``SparsitySupport``,
    ``SparseRep``, ``OptimizedMapping`` (ws only), ``BlockSize``, ``RandomNumberGeneratorSeed``;
    ``sparsity_n`` / ``sparsity_m``: the layer's N:M (1:1: dense).
    """

    rows: int = 32
    cols: int = 32
    dataflow: Literal["os", "ws", "is"] = "os"
    bandwidth_mode: Literal["calc", "user"] = "calc"
    ifmap_words_per_cycle: int = 10
    filter_words_per_cycle: int = 10
    ofmap_words_per_cycle: int = 10
    scalesim_compat: bool = True
    sparsity_support: bool = False
    sparse_rep: Literal["csr", "csc", "ellpack_block"] = "ellpack_block"
    sparsity_n: int = 1
    sparsity_m: int = 1
    sparsity_optimized_mapping: bool = False
    sparsity_block_size: int = 4
    sparsity_seed: int = field(default=40, metadata={"ge": 0, "le": 2 ** 32 - 1})

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "ifmap_words_per_cycle", "filter_words_per_cycle",
                     "ofmap_words_per_cycle"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.rows * self.cols < 2:
            raise ValueError("rows x cols must be at least 2 (a 1 x 1 array has no skew)")
        if self.dataflow not in sk.DATAFLOWS:
            raise ValueError(f"dataflow must be one of os, ws, is, got {self.dataflow!r}")
        if self.bandwidth_mode not in ("calc", "user"):
            raise ValueError(f"bandwidth_mode must be calc or user, got {self.bandwidth_mode!r}")
        for name in ("scalesim_compat", "sparsity_support", "sparsity_optimized_mapping"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.sparse_rep not in sparse.SPARSE_REPS:
            raise ValueError(f"sparse_rep must be one of {', '.join(sparse.SPARSE_REPS)}, "
                             f"got {self.sparse_rep!r}")
        if not (isinstance(self.sparsity_n, int) and isinstance(self.sparsity_m, int)
                and 1 <= self.sparsity_n <= self.sparsity_m):
            raise ValueError(f"sparsity_n:sparsity_m must be N:M with 1 <= N <= M, got "
                             f"{self.sparsity_n!r}:{self.sparsity_m!r}")
        if self.sparsity_optimized_mapping:
            problem = sparse.optimized_mapping_problem(self.dataflow, self.rows,
                                                       self.sparsity_block_size)
            if problem:
                raise ValueError(f"sparsity_optimized_mapping: {problem}")


@dataclass(frozen=True)
class GemmMapping:
    """How a conv/fc layer sits on the array: one GEMM's geometry, run ``groups`` times."""

    geometry: np.ndarray
    groups: int
    window: int                       # the dense reduction (window elements)
    kept: np.ndarray | None = None    # the window elements N:M sparsity keeps
    fmat: np.ndarray | None = None    # the compressed filter of the optimized sparse mapping

    def describe(self) -> str:
        g = self.geometry
        dataflow = next(k for k, v in sk.DATAFLOWS.items() if v == g[sk.G_DF])
        folds = int(g[sk.G_COL_FOLDS] * g[sk.G_ROW_FOLDS])
        text = (f"{dataflow} {g[sk.G_R]}x{g[sk.G_C]}: Sr {g[sk.G_SR]} x Sc {g[sk.G_SC]}, "
                f"T {g[sk.G_T]}, {folds} folds")
        text += f", {g[sk.G_WIN]} of {self.window} window elements" if self.kept is not None \
            else ""
        text += f", {g[sk.G_SR]} compressed filter rows" if self.fmat is not None else ""
        return text + (f", {self.groups} groups" if self.groups > 1 else "")


class Core(base.Core):
    """A SCALE-Sim systolic array, one layer at a time."""

    LOAD_BUFFERS = ("ifmap_sram", "filter_sram")
    STORE_BUFFERS = ("ofmap_sram",)

    def __init__(self, arch) -> None:
        super().__init__(arch)
        check_memories(self)

    @property
    def faithful(self) -> bool:
        return not self.params.scalesim_compat

    def sram_words(self, name: str) -> int:
        """Capacity of SRAM ``name`` in words (1-byte words unless faithful: quirk 2)."""
        size_bytes = int(self.arch.buffers[name].size_kib * 1024)
        return size_bytes // self.word_bytes if self.faithful else size_bytes

    def components(self) -> list[Component]:
        bits = 8 * self.word_bytes
        return [*(Component(name, "sram", int(self.arch.buffers[name].size_kib * 1024), bits)
                  for name in BUFFERS),
                Component("array", "mac"), Component("vector_unit", "mac"),
                Component("dram", "dram")]

    def peak_per_cycle(self, layer: Layer) -> int:
        return self.params.rows * self.params.cols if layer.has_weights else self.params.cols

    def tile(self, layer: Layer):
        if not layer.has_weights:
            return None
        top, left, bottom, right = layer.pad
        padded = (layer.in_h + top + bottom, layer.in_w + left + right)
        kernel, stride = (layer.kernel_h, layer.kernel_w), layer.stride
        if self.faithful:
            out_hw = (layer.out_h, layer.out_w)
        else:   # quirk 1: SCALE-Sim's ceil((H - R + U) / U)
            out_hw = tuple(-(-(size - k + u) // u)
                           for size, k, u in zip(padded, kernel, stride, strict=True))
        p = self.params
        window = kernel[0] * kernel[1] * layer.in_channels_per_group
        filters = layer.out_channels_per_group
        if p.sparsity_support and p.sparsity_optimized_mapping:
            fmat = sparse.compressed_filter(window, filters, p.sparsity_block_size,
                                            p.sparsity_seed)
            g = sk.geometry(p.dataflow, p.rows, p.cols, padded, layer.in_channels_per_group,
                            kernel, stride, filters, out_hw, self.faithful,
                            compressed=len(fmat), block=p.sparsity_block_size)
            return GemmMapping(g, layer.groups, window, fmat=fmat)
        kept = sparse.kept_window(window, p.sparsity_n, p.sparsity_m) \
            if p.sparsity_support else None
        g = sk.geometry(p.dataflow, p.rows, p.cols, padded, layer.in_channels_per_group,
                        kernel, stride, filters, out_hw, self.faithful,
                        None if kept is None else len(kept))
        return GemmMapping(g, layer.groups, window, kept)

    def compute(self, layer: Layer, inputs: list, weights, bias, mapping) -> base.LayerRun:
        if not layer.has_weights:
            return self._vector_layer(layer, inputs)
        return self._gemm_run(layer, inputs[0], weights, bias, mapping, None)

    def count_weighted(self, layer: Layer, inputs: list, weights, bias,
                       output) -> base.LayerRun:
        """Counts, timing and stats without the GEMM: the output is known already."""
        return self._gemm_run(layer, inputs[0], weights, bias, self.tile(layer), output)

    def _gemm_run(self, layer, x, weights, bias, mapping, output) -> base.LayerRun:
        x_hwc, w = self._operands(layer, x, weights)
        if output is None:
            output = self._gemm_output(layer, x, weights, bias,
                                       sk.conv_values(x_hwc, w, layer.stride, layer.groups))
        p = self.params
        result = sk.simulate_layer(
            mapping.geometry, calc=p.bandwidth_mode == "calc",
            sram_words=tuple(self.sram_words(name) for name in BUFFERS),
            words_per_cycle=(p.ifmap_words_per_cycle, p.filter_words_per_cycle,
                             p.ofmap_words_per_cycle), kept=mapping.kept, fmat=mapping.fmat)
        work, cycles = self._gemm_work(result, mapping.groups)
        counts, stats = _gemm_counts(layer, mapping, result, cycles)
        if p.sparsity_support:
            stats.update(_sparse_stats(mapping, p, cycles))
        stats["zero_operand_macs"] = sk.zero_operand_macs(x_hwc, w, layer.stride, layer.groups)
        return base.LayerRun(output=output, work=work, counts=counts,
                             mapping=mapping.describe(), tiles=len(work), stats=stats)

    def _gemm_work(self, result: dict, groups: int) -> tuple[TileWork, int]:
        """One tile per fold (per group): its rows plus the stalls it met, the DRAM words
        its prefetches and drains moved. Returns the work and the layer's cycles."""
        folds = result["folds"]
        cycles = int(result["summary"][sk.S_CYCLES]) + (1 if self.faithful else 0)
        compute = folds[:, sk.F_ROWS] + folds[:, sk.F_STALL]
        compute[-1] += cycles - compute.sum()       # the last row's index (quirk 3)
        word = self.word_bytes
        columns = [np.tile(c, groups) for c in (compute, folds[:, sk.F_IFMAP_WORDS] * word,
                                                folds[:, sk.F_FILTER_WORDS] * word,
                                                folds[:, sk.F_OFMAP_WORDS] * word)]
        return TileWork.single_core(*columns), cycles * groups

    def _operands(self, layer: Layer, x, weights):
        """The padded HWC input and the weights as the GEMM reads them (int16 or float32)."""
        fixed = self.arch.precision == "fixed16"
        x_values = x.q if fixed else x
        if layer.kind == "fc":
            x_values = x_values.reshape(layer.in_shape)
        top, left, bottom, right = layer.pad
        x_hwc = np.pad(x_values, ((0, 0), (top, bottom), (left, right))).transpose(1, 2, 0)
        return x_hwc, weights.q if fixed else weights

    def _gemm_output(self, layer: Layer, x, weights, bias, acc):
        """Accumulator sums (``P x Q x M``) -> the layer's ``M x P x Q`` output: bias,
        requantization (fixed16) and ReLU at the array's output."""
        if self.arch.precision == "fixed16":
            acc, acc_frac = fixedpoint.with_bias(acc.astype(np.int64), bias,
                                                 x.frac + weights.frac, np.s_[:])
            out = fixedpoint.requantize(acc, acc_frac, layer.relu)
            return out.with_codes(np.ascontiguousarray(out.q.transpose(2, 0, 1)))
        out = acc + bias.astype(np.float64)
        out = np.maximum(out, 0) if layer.relu else out
        return np.ascontiguousarray(out.transpose(2, 0, 1)).astype(np.float32)

    # ---- pooling and residual add: the vector unit (not a SCALE-Sim layer) ---------------
    def _vector_layer(self, layer: Layer, inputs: list) -> base.LayerRun:
        output = vector_output(layer, inputs)
        lanes = self.params.cols
        blocks = -(-layer.out_channels // lanes)
        per_block = layer.out_h * layer.out_w * (
            layer.kernel_h * layer.kernel_w if layer.kind == "pool" else 1)
        channels = np.minimum(lanes, layer.out_channels - lanes * np.arange(blocks))
        word = self.word_bytes
        in_words = channels * layer.in_h * layer.in_w * len(inputs)
        out_words = channels * layer.out_h * layer.out_w
        work = TileWork.single_core(np.full(blocks, per_block), in_words * word,
                                    np.zeros(blocks, dtype=np.int64), out_words * word)
        counts = Counts()
        reads = layer.ops if layer.kind == "pool" else layer.ops * len(inputs)
        counts.add_columns([("vector_unit", "op"), ("ifmap_sram", "fill"),
                            ("ifmap_sram", "read"), ("ofmap_sram", "write"),
                            ("ofmap_sram", "read")],
                           [layer.ops, int(in_words.sum()), reads, int(out_words.sum()),
                            int(out_words.sum())])
        return base.LayerRun(output=output, work=work, counts=counts,
                             mapping=f"vector unit, {lanes} lanes", tiles=blocks)


def _gemm_counts(layer: Layer, mapping: GemmMapping, result: dict,
                 cycles: int) -> tuple[Counts, dict]:
    """Priced events and SCALE-Sim's report figures of a conv/fc layer (all groups)."""
    g, groups = mapping.geometry, mapping.groups
    summary = result["summary"]
    reads = _sram_requests(g)
    dram = result["dram"]
    counts = Counts()
    counts.add_columns(
        [("array", "mac"), ("ifmap_sram", "read"), ("filter_sram", "read"),
         ("ofmap_sram", "write"), ("ifmap_sram", "fill"), ("filter_sram", "fill"),
         ("ofmap_sram", "read")],
        [_array_macs(layer, mapping), *(groups * n for n in reads),
         *(groups * d[0] for d in dram)])
    stalls = groups * int(summary[sk.S_STALL])
    incl_prefetch = groups * int(dram[2][2] - min(dram[0][1], dram[1][1]))
    stats = {"compute_cycles": cycles - stalls, "stall_cycles": stalls,   # engine: no stalls
             "cycles_incl_prefetch": incl_prefetch, "prefetch_cycles": incl_prefetch - cycles,
             "mapping_efficiency": float(result["mapping_efficiency"]),
             "compute_utilization": float(result["compute_utilization"]),
             "folds": groups * len(result["folds"]),
             "scalesim_macs": groups * int(g[sk.G_PX] * g[sk.G_M]) * mapping.window}
    for name, (words, start, stop) in zip(("ifmap", "filter", "ofmap"), dram, strict=True):
        stats.update({f"{name}_dram_words": groups * words,
                      f"{name}_dram_start_cycle": start, f"{name}_dram_stop_cycle": stop})
    for name, start in (("ifmap", sk.S_IFMAP_SRAM_START), ("filter", sk.S_FILTER_SRAM_START),
                        ("ofmap", sk.S_OFMAP_SRAM_START)):
        stats[f"{name}_sram_start_cycle"] = int(summary[start])
        stats[f"{name}_sram_stop_cycle"] = int(summary[start + 1])
    return counts, stats


def _array_macs(layer: Layer, mapping: GemmMapping) -> int:
    """The layer's MACs the array performs: all of them, or with N:M sparsity only those of
    the kept window elements (the pruned weights are compressed away)."""
    if mapping.fmat is not None:
        filters = int(mapping.geometry[sk.G_M])
        return layer.macs * int((mapping.fmat >= 0).sum()) // (mapping.window * filters)
    if mapping.kept is None:
        return layer.macs
    return layer.macs * len(mapping.kept) // mapping.window


def _sparse_stats(mapping: GemmMapping, p: Params, cycles: int) -> dict:
    """SCALE-Sim's sparse report figures: filter storage before / after compression, its
    metadata and the metadata's SRAM bandwidth; ws's ifmap reads (times M / N)."""
    g, groups = mapping.geometry, mapping.groups
    if mapping.fmat is not None:   # nonzeros: the kept weights; stored rows: the compressed
        nonzero, stored = int((mapping.fmat >= 0).sum()), len(mapping.fmat)
    else:
        stored = len(mapping.kept)
        nonzero = stored * int(g[sk.G_M])
    original, new, metadata = sparse.storage(p.sparse_rep, mapping.window, int(g[sk.G_M]),
                                             nonzero, stored, p.sparsity_m)
    stats = {"sparse_filter_words": groups * original, "sparse_stored_words": groups * new,
             "sparse_metadata_words": groups * metadata,
             "sparse_metadata_bw": groups * metadata / cycles}
    if g[sk.G_DF] == sk.WS and mapping.fmat is None:
        stats["scalesim_ifmap_sram_reads"] = groups * sparse.ws_ifmap_reads(
            stored, int(g[sk.G_PX]), p.rows, int(g[sk.G_COL_FOLDS]), p.sparsity_n,
            p.sparsity_m)
    return stats


def _sram_requests(g: np.ndarray) -> tuple[int, int, int]:
    """SCALE-Sim's ifmap reads, filter reads and ofmap writes of one GEMM (the demand
    matrices' entries, window padding included; quirk 4 unless faithful)."""
    px, win, m = (int(g[i]) for i in (sk.G_PX, sk.G_WIN, sk.G_M))
    col_folds, row_folds = int(g[sk.G_COL_FOLDS]), int(g[sk.G_ROW_FOLDS])
    df = g[sk.G_DF]
    if df == sk.OS:
        writes = px * m
        if not g[sk.G_FAITHFUL]:
            writes += col_folds * row_folds * int(g[sk.G_R] + g[sk.G_C])
        return col_folds * px * win, row_folds * win * m, writes
    if df == sk.WS and g[sk.G_BLOCK]:   # optimized sparse mapping: R blocks of B a lane row
        r_arr = int(g[sk.G_R])
        return (col_folds * row_folds * (px + r_arr - 1) * r_arr * int(g[sk.G_BLOCK]),
                int(g[sk.G_SR]) * m, sk.output_writes(g))
    if df == sk.WS:
        return col_folds * px * win, win * m, sk.output_writes(g)
    return win * px, col_folds * m * win, sk.output_writes(g)
