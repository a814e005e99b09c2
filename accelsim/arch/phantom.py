"""Phantom and Phantom-2D (Qureshi & Munir, "Phantom: A High-Performance Computational Core for
Sparse Convolutional Neural Networks", arXiv 2111.05002, 2021; the core's precursor is
Sparse-PE, IEEE Access 2021).

Published (the abstract; published-anchors.md section 9): a multi-threaded, dynamic neural
core that keeps weights and activations as values plus sparse binary masks, looks ahead
into upcoming sparse work through the masks and dynamically schedules its compute threads;
Phantom-2D, a 2D mesh of such cores with a dataflow for every CNN layer (unit and non-unit
stride convolutions, depthwise, fc) and a two-level load balancing. Secondary descriptions
of the paper add: a lookahead-mask unit and a thread-dispatch scheduler in front of the
multiplier threads, 9 threads in the core of the paper's 3x3 example, and an output buffer
of FIFOs whose adders merge partial sums tagged valid / partial.

Modelled (:mod:`accelsim.kernels.bitmask` runs the schedule cycle by cycle on the real masks,
fixed16 outputs are the layer's exact sums from :mod:`accelsim.kernels.exact_sums`;
:mod:`accelsim.arch._mesh_mapping` lays out the operands and splits a layer over the mesh):

* per core, ``threads`` multipliers fed by a lookahead window of ``lookahead`` work items
  (chunks of ``mask_chunk`` reduction elements of one output); ``dynamic_threads`` off binds
  threads to a chunk's elements (one item at a time), and ``skip_ineffectual`` off makes the
  dense baseline with the same multipliers (every pair multiplied, packed perfectly);
* the mesh: filters over columns (weights broadcast down a column), bands of output
  positions (or, for fc, reduction ranges) over rows (input rows broadcast along a row);
  ``inter_core_balancing`` on deals filters longest-first by their estimated cycles and
  cuts bands at equal shares of estimated cycles;
* the NoC as engine events (:class:`~accelsim.engine.TileWork` ``noc_cycles``): a core's
  link delivers the broadcast weights and input band at ``noc_bytes_per_cycle``;
* data stored compressed, in DRAM and on the NoC: non-zero values plus a 1-bit mask per
  element (the dense baseline: values only); a layer reads its weights once per mesh column
  (once per core when the reduction is split) and its input once per mesh row, and writes its
  output once;
* ``pipeline_cycles`` per core per layer: the fixed overhead of filling the lookahead,
  dispatch, multiply and adder stages;
* pooling and residual adds on the threads, one window element or addition each per cycle.

Counters: effectual and skipped MACs, mask-buffer reads (a weight-chunk mask per chunk walked,
an activation-chunk mask per item), value reads per effectual pair, output-buffer writes per
item with any pair, lookahead and scheduler steps, NoC words, per-core cycles and effectual
MACs (for the mesh heat map), idle thread-cycles by cause.

Not modelled: buffer capacity (a core's band, filters and partial sums are assumed to fit its
buffers; their sizes price the accesses), mask-buffer bank conflicts, the output permutation
for balanced filters (outputs land in their channel's place at no cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import _mesh_mapping as mesh
from accelsim.arch import base
from accelsim.arch._vector_ops import VectorUnits, vector_layer_run
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component
from accelsim.engine import TileWork
from accelsim.kernels import bitmask, exact_sums
from accelsim.workload.layer import Layer

BUFFERS = ("act_buffer", "weight_buffer", "mask_buffer", "output_buffer")
PSUM_BYTES = 4


@dataclass(frozen=True)
class Params:
    """The mesh, a core's threads and lookahead, the mask chunk and the balancing switches
    (see the module docstring; every value we chose is explained in phantom2d.yaml)."""

    mesh_rows: int = 4
    mesh_cols: int = 4
    threads: int = 9
    lookahead: int = 16
    mask_chunk: int = 9
    skip_ineffectual: bool = True
    dynamic_threads: bool = True
    inter_core_balancing: bool = True
    pipeline_cycles: int = 4
    noc_bytes_per_cycle: int = 16

    def __post_init__(self) -> None:
        base.require_ints(self, ("mesh_rows", "mesh_cols", "threads", "lookahead",
                                 "mask_chunk", "noc_bytes_per_cycle"))
        base.require_ints(self, ("pipeline_cycles",), minimum=0)
        base.require_flags(self, ("skip_ineffectual", "dynamic_threads",
                                  "inter_core_balancing"))
        if self.mask_chunk > bitmask.MAX_CHUNK:
            raise ValueError(f"mask_chunk must be <= {bitmask.MAX_CHUNK} bits, "
                             f"got {self.mask_chunk}")

    @property
    def cores(self) -> int:
        return self.mesh_rows * self.mesh_cols

    @property
    def mode(self) -> int:
        return bitmask.DYNAMIC if self.dynamic_threads or not self.skip_ineffectual \
            else bitmask.STATIC


@dataclass(frozen=True)
class Tiling:
    """What :meth:`Core.tile` decides before the data is seen (the split itself depends on
    the masks and is made in :meth:`Core.compute`)."""

    rows: int
    cols: int

    def describe(self) -> str:
        return f"{self.rows}x{self.cols} mesh"


class Core(base.Core):
    """A Phantom-2D mesh of Phantom cores, one layer at a time."""

    LOAD_BUFFERS = ("act_buffer", "weight_buffer", "mask_buffer")
    STORE_BUFFERS = ("output_buffer",)

    def __init__(self, arch) -> None:
        super().__init__(arch)
        self.popcount = bitmask.popcount_table(self.params.mask_chunk)

    def components(self) -> list[Component]:
        bits = 8 * self.word_bytes

        def size(name):
            return int(self.arch.buffers[name].size_kib * 1024)

        return [Component("threads", "mac"),
                Component("act_buffer", "sram", size("act_buffer"), bits),
                Component("weight_buffer", "sram", size("weight_buffer"), bits),
                Component("mask_buffer", "sram", size("mask_buffer"), self.params.mask_chunk),
                Component("output_buffer", "sram", size("output_buffer"), 8 * PSUM_BYTES),
                Component("lookahead", "logic"), Component("scheduler", "logic"),
                Component("noc", "noc", access_bits=bits, hop_mm=1.0),
                Component("dram", "dram")]

    def peak_per_cycle(self, layer: Layer) -> int:
        return self.params.cores * self.params.threads

    def tile(self, layer: Layer) -> Tiling:
        return Tiling(self.params.mesh_rows, self.params.mesh_cols)

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling) -> base.LayerRun:
        if not layer.has_weights:
            return self._vector_layer(layer, inputs)
        return self._weighted_layer(layer, inputs, weights, bias)

    def count_weighted(self, layer: Layer, inputs: list, weights, bias,
                       output) -> base.LayerRun:
        """The schedule and counts without the sums (``output`` is known)."""
        return self._weighted_layer(layer, inputs, weights, bias, output)

    def _weighted_layer(self, layer: Layer, inputs: list, weights, bias,
                        known=None) -> base.LayerRun:
        """Fixed-point sums from :mod:`accelsim.kernels.exact_sums` (the cores add exactly
        those integers), so the core walk only schedules and counts; fp32 sums in the walk."""
        p = self.params
        fixed = isinstance(inputs[0], fixedpoint.Fixed)
        x = inputs[0].q if fixed else inputs[0]
        w = weights.q if fixed else weights
        exact = exact_sums.applies(x, w) and layer.depth is None
        walk_sums = known is None and not exact
        ops = mesh.layer_operands(layer, x, w, p.mask_chunk, values=walk_sums)
        split = mesh.assign(layer, ops, self.popcount, p.mesh_rows, p.mesh_cols,
                            p.inter_core_balancing, p.threads, p.lookahead)
        acc, entry_cycles, stats = bitmask.run_cores(
            split.filters, split.filter_ptr, split.ranges, ops.wcodes, ops.acodes, ops.wvals,
            ops.avals, ops.chunk_len, filters_per_group=layer.out_channels_per_group,
            threads=p.threads, lookahead=p.lookahead, mode=p.mode, skip=p.skip_ineffectual,
            compute=walk_sums, n_parts=split.n_parts, chunk=p.mask_chunk)
        if known is not None:
            output = known
        else:
            sums = acc.sum(axis=0) if walk_sums else exact_sums.conv_sums(
                x.reshape(layer.in_shape), w.reshape(layer.weight_shape), layer.stride,
                layer.pad)
            output = base.conv_output(layer, sums, inputs[0], weights, bias)
        work, noc_words = self._tile_work(layer, ops, split, entry_cycles, output, x)
        counts = self._counts(layer, stats, noc_words)
        return base.LayerRun(output=output, work=work, counts=counts,
                             mapping=split.describe(p.inter_core_balancing), tiles=len(work),
                             stats=self._stats(stats))

    # ---- data movement ---------------------------------------------------------------------
    def _stored_bytes(self, nonzeros, elements):
        """Bytes of a tensor piece as stored: values + 1-bit mask, or dense values."""
        if self.params.skip_ineffectual:
            return nonzeros * self.word_bytes + -(-np.asarray(elements) // 8)
        return np.asarray(elements) * self.word_bytes

    def _tile_work(self, layer, ops, split, entry_cycles, output, x):
        """One tile per (core, filter) entry: its cycles, its DRAM bytes and its NoC cycles.

        Broadcasts as all-gathers: each core of a mesh row fetches ``1/cols`` of the row's
        input band from DRAM (on its first entry) and receives the rest over the NoC; each
        core of a column fetches ``1/rows`` of a filter and receives the rest (with a split
        reduction every core fetches its own chunks, and mesh rows below the first send
        their partial sums up instead of writing outputs)."""
        p, rows, cols = self.params, split.rows, split.cols
        w_nnz = self.popcount[ops.wcodes]                      # M x NCH
        out_q = fixedpoint.raw(output).reshape(layer.out_channels, -1)
        # Per filter, the non-zero weights of a chunk range and outputs of a position band
        # (a few distinct ranges per layer, each counted once).
        w_in, out_in = {}, {}
        for p0, p1, k0, k1, _part in split.ranges:
            if (k0, k1) not in w_in:
                w_in[k0, k1] = w_nnz[:, k0:k1].sum(axis=1)
            if (p0, p1) not in out_in:
                out_in[p0, p1] = np.count_nonzero(out_q[:, p0:p1], axis=1)
        x_nnz, x_size = self._input_rows_nnz(layer, x, split)
        n = len(split.filters)
        columns = {name: np.zeros(n, np.int64) for name in
                   ("compute", "in", "weight", "out", "noc", "core")}
        noc_bytes = 0
        for core, (p0, p1, k0, k1, _part) in enumerate(split.ranges):
            i = core // cols
            e0, e1 = split.filter_ptr[core], split.filter_ptr[core + 1]
            if e0 == e1:
                continue
            m = split.filters[e0:e1]
            w_bytes = self._stored_bytes(w_in[k0, k1][m],
                                         int(ops.chunk_len[k0:k1].sum()))
            sharers = 1 if split.splits_reduction else rows
            w_fetch = -(-w_bytes // sharers)
            band = int(self._stored_bytes(x_nnz[i], x_size[i]))
            band_fetch = -(-band // cols)
            writes = not split.splits_reduction or i == 0
            psums = 0 if writes else (p1 - p0) * PSUM_BYTES
            noc = (w_bytes - w_fetch) + psums
            block = slice(e0, e1)
            columns["compute"][block] = entry_cycles[e0:e1]
            columns["compute"][e0] += p.pipeline_cycles
            columns["weight"][block] = w_fetch
            columns["in"][e0] = band_fetch
            columns["out"][block] = self._stored_bytes(out_in[p0, p1][m],
                                                       p1 - p0) if writes else 0
            columns["noc"][block] = -(-noc // p.noc_bytes_per_cycle)
            columns["noc"][e0] += -(-(band - band_fetch) // p.noc_bytes_per_cycle)
            columns["core"][block] = core
            noc_bytes += int(np.sum(noc)) + band - band_fetch
        work = TileWork(columns["compute"], columns["in"], columns["weight"], columns["out"],
                        columns["core"], columns["noc"])
        return work, noc_bytes // self.word_bytes

    def _input_rows_nnz(self, layer, x, split):
        """Per mesh row: non-zeros and elements of the input its cores read (a band's input
        rows, halo included; a reduction split's share of the input, in proportion)."""
        x = x.reshape(layer.in_shape)
        row_nnz = np.concatenate([[0], np.cumsum(np.count_nonzero(x, axis=(0, 2)))])
        nnz, size = np.zeros(split.rows, np.int64), np.zeros(split.rows, np.int64)
        for i, (p0, p1, k0, k1, _part) in enumerate(split.ranges[::split.cols]):
            if split.splits_reduction:
                n_chunks = split.ranges[-1][3]
                nnz[i] = row_nnz[-1] * (k1 - k0) // n_chunks
                size[i] = x.size * (k1 - k0) // n_chunks
            elif p1 > p0:
                y0, y1 = p0 // layer.out_w, (p1 - 1) // layer.out_w + 1
                lo = max(y0 * layer.stride[0] - layer.pad[0], 0)
                hi = min((y1 - 1) * layer.stride[0] - layer.pad[0] + layer.kernel_h, layer.in_h)
                size[i] = layer.in_channels * max(hi - lo, 0) * layer.in_w
                nnz[i] = row_nnz[max(hi, lo)] - row_nnz[lo]
        return nnz, size

    # ---- counts and statistics -------------------------------------------------------------
    def _counts(self, layer: Layer, stats: np.ndarray, noc_words: int) -> Counts:
        totals = stats.sum(axis=0)
        pairs = int(totals[bitmask.PAIRS])
        counts = Counts()
        for (component, action), n in (
                (("threads", "mac"), pairs),
                (("threads", "mac_skipped"), layer.macs - pairs),
                (("mask_buffer", "read"), int(totals[bitmask.WEIGHT_CHUNKS] +
                                              totals[bitmask.ITEMS])
                 if self.params.skip_ineffectual else 0),
                (("act_buffer", "read"), pairs), (("weight_buffer", "read"), pairs),
                (("output_buffer", "write"), int(totals[bitmask.NONEMPTY_ITEMS])),
                (("output_buffer", "read"), int(totals[bitmask.NONEMPTY_ITEMS])),
                (("lookahead", "op"), int(totals[bitmask.ITEMS])
                 if self.params.skip_ineffectual else 0),
                (("scheduler", "op"), pairs if self.params.skip_ineffectual else 0),
                (("noc", "hop"), noc_words)):
            if n:
                counts.add(component, action, n)
        return counts

    def _stats(self, stats: np.ndarray) -> dict[str, float]:
        """Per-core cycles and effectual MACs (the heat map's data) and idle thread-cycles
        by cause: no work in the lookahead window, and waiting for the slowest core."""
        p = self.params
        cycles = stats[:, bitmask.CYCLES]
        row: dict[str, float] = {"mesh_rows": p.mesh_rows, "mesh_cols": p.mesh_cols,
                                 "threads_per_core": p.threads}
        for core in range(p.cores):
            row[f"core_{core:03d}_cycles"] = int(cycles[core])
            row[f"core_{core:03d}_macs"] = int(stats[core, bitmask.PAIRS])
        row["idle_lookahead_thread_cycles"] = int(stats[:, bitmask.IDLE_THREAD_CYCLES].sum())
        row["idle_imbalance_thread_cycles"] = int((cycles.max() - cycles).sum() * p.threads)
        busy = cycles.max() * p.cores * p.threads
        row["thread_utilization"] = float(stats[:, bitmask.PAIRS].sum() / busy) if busy else 0.0
        row["work_items"] = int(stats[:, bitmask.ITEMS].sum())
        return row

    # ---- pooling and residual add: the threads as a vector unit -------------------------------
    def _vector_layer(self, layer: Layer, inputs: list) -> base.LayerRun:
        """Window elements (pool) or additions (add) over all threads of the mesh, each core
        taking an equal share of the output channels; data stored as everywhere else."""
        p = self.params
        return vector_layer_run(layer, inputs, VectorUnits(
            p.cores, p.threads, p.pipeline_cycles, self._stored_bytes, ("threads", "op"),
            ("act_buffer", "read"), ("output_buffer", "write"),
            f"{p.cores} cores x {p.threads} threads"))
