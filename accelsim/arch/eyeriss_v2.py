"""Eyeriss v2 (Chen, Yang, Emer, Sze, "Eyeriss v2: A Flexible Accelerator for Emerging Deep
Neural Networks on Mobile Devices", JETCAS 2019, arXiv 1807.07928).

Published (published-anchors.md section 6): 192 PEs in 16 clusters (an 8 x 2 array of 3 x 4
PE clusters), each cluster with an iact GLB (3 banks x 1.5 KB) and a psum GLB (4 x 1.875 KB);
a hierarchical mesh NoC (a mesh of router clusters, all-to-all inside a cluster) that delivers
each data type by broadcast, multicast or unicast; weights and iacts kept in CSC (data plus
count and address vectors) and processed in the compressed domain; PE spads of 16 iact, 96
weight and 32 psum entries; 2 MACs per PE, SIMD over 2 output channels; 8-bit data, 20-bit
psums, 200 MHz.

Modelled (:mod:`accelsim.kernels.csc` counts every pass's cycles on the CSC data; the outputs
are the exact sums the PEs add, fixed16 from one GEMM, fp32 product by product in the walk:
:mod:`accelsim.arch._eyeriss_v2_passes`):

* the PE pass: a PE holds the CSC weights of one *lane* (a group's block of up to
  ``psum_spad_words`` output channels: one position's psums fit the psum spad) over one
  k-range (at most ``min(iact_spad_words, weight_addr_words)`` reduction elements, so one
  position's iact column fits the iact spad and the weight columns the address spad, and at
  most ``weight_spad_words`` SIMD words in every lane); the k-ranges are cut greedily once per
  layer from the weights (what a compiler knows). The PE streams the output positions of its
  segment: per position ``iact_addr_cycles``, per non-zero iact ``weight_addr_cycles`` plus
  one cycle per stored SIMD word of its weight column. Zero iacts and zero weight words cost
  nothing; a word with one zero weight (SIMD over ``macs_per_pe`` output channels) still takes
  its cycle with that MAC idle (``simd_idle_mac_slots``);
* the array: tasks ``(group, k-range, lane, segment)`` are dealt round-robin, ``PEs`` per
  *round*, in ``(group, k-range chain, lane, segment, k-range)`` order: a chain is
  ``pe_rows`` consecutive k-ranges of one lane and segment on consecutive PEs of a cluster,
  whose psums flow PE to PE (``psum_local`` hops; only the chain's first PE reads and its
  last writes the psum GLB), as v2 accumulates psums over a cluster's PE rows. A cluster's
  PEs run a round in lock step (its time is the slowest PE's). Segments: the number
  ``s <= min(positions, ceil(PEs / blocks))`` of equal position ranges that minimises
  ``ceil(blocks * s / PEs) / s`` (``blocks = lanes x k-ranges``; the fewest on a tie);
* the NoC, per data type: a *piece* (an iact region ``(group, k-range, segment)``, a weight
  block ``(lane, k-range)``, a psum block ``(lane, segment)``) goes to every PE of the round
  that needs it. Mode, per layer and type: **unicast** when no piece has two receivers in a
  round, **broadcast** when every round sends one piece to all its PEs, else **multicast**
  (so depthwise layers unicast iacts, a single filter per group; fc layers and convs with
  more blocks than PEs unicast weights; lanes sharing a k-range multicast iacts; psums of one
  output block from several k-ranges in a round are multicast, i.e. accumulated across PEs).
  A cluster receives each piece once (fanned out inside the cluster) over a link of
  ``noc_<type>_bytes_per_cycle``; the three networks run in parallel, so a step's NoC cycles
  (engine ``noc_cycles``) are the slowest type's. The engine sees a cluster's round as
  ``stream_steps`` steps: weights before the first, iacts, psums and outputs streamed in
  equal shares with the positions (so their transfers overlap the compute);
* sizes: a weight word is ``macs_per_pe x (data bits + count_bits)`` plus ``weight_addr_bits``
  per column; an iact ``data bits + count_bits`` plus ``iact_addr_bits`` per channel row;
  psums ``psum_bits``. The PE receives an iact region once (channels of its k-range, input
  rows of its segment) and forms the window columns locally;
* DRAM: a weight block when first used, an iact region when first used (halos and boundary
  channels of adjacent regions are read twice), each output block's CSC once;
* pooling and residual adds on the PEs (one op per PE per cycle), values from
  :mod:`accelsim.arch._vector_ops`.

Precision: ``fixed16`` (16-bit data, exact int64 psums) as in the rest of the project, so
outputs are checked bit-exactly; not the chip's 8-bit data and 20-bit psums (sizes use 16-bit
data, ``psum_bits`` 32). Not modelled: GLB capacity (a lane's psums stay in the psum GLB
between k-ranges), PE pipeline fill, the iact address spad's 9 columns (buffer depth only),
router-cluster hop latencies, GLB bank conflicts, per-layer reconfiguration time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import _eyeriss_v2_passes as passes
from accelsim.arch import base
from accelsim.arch._vector_ops import channel_nonzeros, vector_output
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component
from accelsim.engine import TileWork
from accelsim.kernels import csc
from accelsim.workload.layer import Layer

BUFFERS = ("iact_glb", "psum_glb")
TYPES = ("iact", "weight", "psum")
MODES = ("unicast", "multicast", "broadcast")    # stats noc_<type>_mode: the index


@dataclass(frozen=True)
class Params:
    """Array shape, spads (entries), PE timing, CSC field widths and NoC links (see the module
    docstring and arch_configs/eyeriss_v2.yaml)."""

    cluster_rows: int = 8
    cluster_cols: int = 2
    pe_rows: int = 3
    pe_cols: int = 4
    macs_per_pe: int = 2
    iact_spad_words: int = 16
    weight_spad_words: int = 96
    weight_addr_words: int = 16
    psum_spad_words: int = 32
    iact_addr_cycles: int = 1
    weight_addr_cycles: int = 1
    count_bits: int = 4
    iact_addr_bits: int = 4
    weight_addr_bits: int = 7
    psum_bits: int = 32
    noc_iact_bytes_per_cycle: int = 8
    noc_weight_bytes_per_cycle: int = 16
    noc_psum_bytes_per_cycle: int = 16
    stream_steps: int = 8

    def __post_init__(self) -> None:
        base.require_ints(self, ("cluster_rows", "cluster_cols", "pe_rows", "pe_cols",
                                 "macs_per_pe", "iact_spad_words", "weight_spad_words",
                                 "weight_addr_words", "psum_spad_words", "count_bits",
                                 "iact_addr_bits", "weight_addr_bits", "psum_bits",
                                 "noc_iact_bytes_per_cycle", "noc_weight_bytes_per_cycle",
                                 "noc_psum_bytes_per_cycle", "stream_steps"))
        base.require_ints(self, ("iact_addr_cycles", "weight_addr_cycles"), minimum=0)
        if -(-self.psum_spad_words // self.macs_per_pe) > self.weight_spad_words:
            raise ValueError(f"weight_spad_words must hold one weight column of "
                             f"psum_spad_words / macs_per_pe words, got {self.weight_spad_words}")
        if min(self.iact_spad_words, self.weight_addr_words) > 32767:
            raise ValueError("iact_spad_words must be <= 32767")

    @property
    def clusters(self) -> int:
        return self.cluster_rows * self.cluster_cols

    @property
    def pes_per_cluster(self) -> int:
        return self.pe_rows * self.pe_cols

    @property
    def pes(self) -> int:
        return self.clusters * self.pes_per_cluster


@dataclass(frozen=True)
class Tiling:
    """The array; the layer's cuts depend on its weights and are made in compute()."""

    clusters: int
    pes: int

    def describe(self) -> str:
        return f"{self.pes} PEs in {self.clusters} clusters"


class Core(base.Core):
    """Eyeriss v2: 16 clusters of 12 CSC PEs on a hierarchical mesh, one layer at a time."""

    LOAD_BUFFERS = ("iact_glb",)
    STORE_BUFFERS = ("psum_glb",)

    @property
    def data_bits(self) -> int:
        return 8 * self.word_bytes

    def components(self) -> list[Component]:
        p, bits = self.params, self.data_bits

        def size(name):
            return int(self.arch.buffers[name].size_kib * 1024)

        return [Component("pe", "mac"),
                Component("iact_spad", "sram", p.iact_spad_words * (bits + p.count_bits) // 8,
                          bits + p.count_bits),
                Component("weight_spad", "sram", p.weight_spad_words * p.macs_per_pe
                          * (bits + p.count_bits) // 8, p.macs_per_pe * (bits + p.count_bits)),
                Component("psum_spad", "sram", p.psum_spad_words * p.psum_bits // 8,
                          p.psum_bits),
                Component("iact_glb", "sram", size("iact_glb"), bits),
                Component("psum_glb", "sram", size("psum_glb"), p.psum_bits),
                *(Component(f"noc_{kind}", "noc", access_bits=bits, hop_mm=1.0)
                  for kind in TYPES),
                Component("psum_local", "noc", access_bits=p.psum_bits, hop_mm=0.2),
                Component("dram", "dram")]

    def peak_per_cycle(self, layer: Layer) -> int:
        p = self.params
        return p.pes * p.macs_per_pe if layer.has_weights else p.pes

    def tile(self, layer: Layer) -> Tiling:
        return Tiling(self.params.clusters, self.params.pes)

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling) -> base.LayerRun:
        if not layer.has_weights:
            return self._vector_layer(layer, inputs)
        p = self.params
        fixed = isinstance(inputs[0], fixedpoint.Fixed)
        x = (inputs[0].q if fixed else inputs[0]).reshape(layer.in_shape)
        w = (weights.q if fixed else weights).reshape(layer.out_channels, -1)
        top, left, bottom, right = layer.pad
        xpad = np.ascontiguousarray(np.pad(x, ((0, 0), (top, bottom), (left, right))))
        run = passes.run(layer, x, w, xpad, p)
        cuts, seg_cuts, task_stats = run.cuts, run.seg_cuts, run.task_stats
        output = base.conv_output(layer, run.sums, inputs[0], weights, bias)
        n_seg, lanes, k_len = len(seg_cuts) - 1, run.lanes, w.shape[1]
        tasks = csc.TaskLayout(layer.groups, layer.out_channels_per_group, run.n_mb,
                              len(cuts) - 1, n_seg, m_block=p.psum_spad_words, pes=p.pes,
                              pes_per_cluster=p.pes_per_cluster, chain=p.pe_rows)
        sizes = self._piece_bytes(layer, tasks, run.wptr, k_len, cuts, seg_cuts, xpad, output)
        work, noc, modes = self._tile_work(tasks, task_stats, sizes)
        counts = self._counts(layer, tasks, task_stats, sizes, noc)
        stats = self._stats(tasks, task_stats, noc, work, modes)
        mapping = (f"{p.pes} PEs ({p.clusters} clusters of {p.pes_per_cluster}): {lanes} lanes"
                   f" x {len(cuts) - 1} k-ranges x {n_seg} segments in {tasks.rounds} rounds; "
                   + ", ".join(f"{kind}s {modes[kind][0]}" for kind in TYPES))
        return base.LayerRun(output=output, work=work, counts=counts, mapping=mapping,
                             tiles=len(work), stats=stats)

    # ---- data sizes ------------------------------------------------------------------------
    def _csc_bits(self, nonzeros, columns, addr_bits):
        return nonzeros * (self.data_bits + self.params.count_bits) + columns * addr_bits

    def _piece_bytes(self, layer, tasks, wptr, k_len, cuts, seg_cuts, xpad, output):
        """Bytes of every task's weight block, iact region, psum block and output block
        (worked out once per piece, then looked up by task)."""
        p, t = self.params, tasks
        # weight blocks (lane, k-range)
        at = wptr[np.arange(t.lanes)[:, None] * k_len + cuts]
        words = np.diff(at, axis=1)
        w_bits = words * p.macs_per_pe * (self.data_bits + p.count_bits) \
            + np.diff(cuts) * p.weight_addr_bits
        # iact regions (group, k-range, segment): channels of the k-range x input rows of
        # the segment (padded input)
        taps = layer.kernel_h * layer.kernel_w
        cg = layer.in_channels_per_group
        g = np.arange(layer.groups)[:, None, None]
        r = np.arange(t.n_r)[None, :, None]
        s = np.arange(t.n_s)[None, None, :]
        c0 = g * cg + cuts[r] // taps
        c1 = g * cg + (cuts[r + 1] - 1) // taps + 1
        p0, p1 = seg_cuts[s], seg_cuts[s + 1]
        y0 = (p0 // layer.out_w) * layer.stride[0]
        y1 = ((p1 - 1) // layer.out_w) * layer.stride[0] + layer.kernel_h
        row_nnz = np.count_nonzero(xpad, axis=2)
        cum = np.zeros((row_nnz.shape[0] + 1, row_nnz.shape[1] + 1), np.int64)
        cum[1:, 1:] = row_nnz.cumsum(0).cumsum(1)

        def region_bits(c0, c1, y0, y1):
            nnz = cum[c1, y1] - cum[c0, y1] - cum[c1, y0] + cum[c0, y0]
            return self._csc_bits(nnz, (c1 - c0) * (y1 - y0), p.iact_addr_bits)

        i_bits = region_bits(c0, c1, y0, y1)
        # From DRAM, the part no earlier k-range (channels) or segment (rows) fetched.
        seg_y1 = ((seg_cuts[1:] - 1) // layer.out_w) * layer.stride[0] + layer.kernel_h
        range_c1 = (cuts[1:] - 1) // taps + 1
        new_y0 = np.where(s > 0, np.maximum(y0, seg_y1[s - 1]), y0)
        new_c0 = np.where(r > 0, np.maximum(c0, g * cg + range_c1[r - 1]), c0)
        new_bits = region_bits(new_c0, c1, np.minimum(new_y0, y1), y1)
        # psum and output blocks (lane, segment): the lane's channels x the segment's
        # positions; lanes tile the channels in order, segments the positions
        lane = np.arange(t.lanes)
        m0 = (lane // t.n_mb) * t.mg + (lane % t.n_mb) * t.m_block
        m1 = np.minimum(m0 + t.m_block, (lane // t.n_mb + 1) * t.mg)
        psum_bits = (m1 - m0)[:, None] * np.diff(seg_cuts)[None, :] * p.psum_bits
        out_nz = fixedpoint.raw(output).reshape(layer.out_channels, -1) != 0
        o_nnz = np.add.reduceat(np.add.reduceat(out_nz, m0, axis=0, dtype=np.int64),
                                seg_cuts[:-1], axis=1)
        o_bits = self._csc_bits(o_nnz, (m1 - m0)[:, None], p.iact_addr_bits)

        def per_task(bits, piece):
            return (-(-np.asarray(bits, np.int64) // 8)).ravel()[piece]

        return {"weight": per_task(w_bits, t.weight_piece),
                "weight_words": words.ravel()[t.weight_piece],
                "iact": per_task(i_bits, t.iact_piece),
                "iact_dram": per_task(new_bits, t.iact_piece),
                "psum": per_task(psum_bits, t.psum_piece), "out": per_task(o_bits, t.psum_piece)}

    # ---- the array: rounds, NoC and DRAM per cluster ------------------------------------------
    def _tile_work(self, t, task_stats, sizes):
        """Per (cluster, round): the slowest PE, the bytes of the pieces the cluster
        receives, the DRAM bytes of pieces first used in it; as engine steps (_streamed)."""
        compute = t.row_max(task_stats[:, csc.CYCLES])
        pieces = {"iact": t.iact_piece, "weight": t.weight_piece}
        noc, modes = {}, {}
        for kind in ("iact", "weight"):
            noc[kind] = t.row_distinct(pieces[kind], sizes[kind])
            modes[kind] = t.delivery_mode(pieces[kind])
        last_r = t.r == t.n_r - 1
        psum = np.where(t.psum_from_glb, sizes["psum"], 0) \
            + np.where(t.psum_to_glb, sizes["psum"], 0) + np.where(last_r, sizes["out"], 0)
        noc["psum"] = t.row_sum(psum)
        modes["psum"] = t.delivery_mode(t.psum_piece)
        dram = {kind: t.row_sum(np.where(first, sizes[kind], 0))
                for kind, first in (("iact_dram", t.mb == 0), ("weight", t.s == 0),
                                    ("out", last_r))}
        work = self._streamed(compute, dram, noc, t.row_cluster)
        return work, noc, modes

    def _streamed(self, compute, dram, noc, core) -> TileWork:
        """Each (cluster, round) as ``stream_steps`` engine steps: the weights (DRAM and
        NoC) arrive before the first, the iacts, psums and outputs stream with the
        positions, an equal share per step, so their transfers overlap the compute."""
        p, q = self.params, self.params.stream_steps
        share = np.arange(q + 1, dtype=np.int64)

        def split(x):
            return np.diff(np.asarray(x, np.int64)[:, None] * share // q, axis=1)

        def first(x):
            out = np.zeros((len(x), q), np.int64)
            out[:, 0] = x
            return out

        links = {"iact": p.noc_iact_bytes_per_cycle, "weight": p.noc_weight_bytes_per_cycle,
                 "psum": p.noc_psum_bytes_per_cycle}
        per_step = {"iact": split(noc["iact"]), "weight": first(noc["weight"]),
                    "psum": split(noc["psum"])}
        noc_cycles = np.max([-(-per_step[kind] // links[kind]) for kind in TYPES], axis=0)
        return TileWork(split(compute).ravel(), split(dram["iact_dram"]).ravel(),
                        first(dram["weight"]).ravel(), split(dram["out"]).ravel(),
                        np.repeat(core, q), noc_cycles.ravel())

    # ---- counts and statistics -------------------------------------------------------------
    def _counts(self, layer, t, task_stats, sizes, noc) -> Counts:
        totals = task_stats.sum(axis=0)
        wb = self.word_bytes
        macs, iacts, words = (int(totals[c]) for c in (csc.MACS, csc.IACTS, csc.WORDS))
        iact_reads = t.round_distinct(t.iact_piece, sizes["iact"])[1]
        psum_in = int(np.where(t.psum_from_glb, sizes["psum"], 0).sum())
        psum_out = int(np.where(t.psum_to_glb, sizes["psum"], 0).sum())
        psum_local = int(np.where(t.psum_to_next, sizes["psum"], 0).sum())
        psum_word = self.params.psum_bits // 8 or 1
        counts = Counts()
        for (component, action), n in (
                (("pe", "mac"), macs), (("pe", "mac_skipped"), layer.macs - macs),
                (("iact_spad", "write"), iacts),
                (("iact_spad", "read"), iacts + int(totals[csc.POSITIONS])),
                (("weight_spad", "write"), int(sizes["weight_words"].sum())),
                (("weight_spad", "read"), words + iacts),
                (("psum_spad", "read"), macs), (("psum_spad", "write"), macs),
                (("iact_glb", "fill"), int(np.where(t.mb == 0, sizes["iact_dram"], 0).sum())
                 // wb),
                (("iact_glb", "read"), iact_reads // wb),
                (("psum_glb", "read"), psum_in // psum_word),
                (("psum_glb", "write"), psum_out // psum_word),
                (("psum_local", "hop"), psum_local // psum_word),
                *((("noc_" + kind, "hop"), int(noc[kind].sum()) // wb) for kind in TYPES)):
            if n:
                counts.add(component, action, n)
        return counts

    def _stats(self, t, task_stats, noc, work, modes) -> dict[str, float]:
        p = self.params
        totals = task_stats.sum(axis=0)
        row: dict[str, float] = {"clusters": p.clusters, "pes": p.pes, "m_lanes": t.lanes,
                                 "k_ranges": t.n_r, "segments": t.n_s, "rounds": t.rounds,
                                 "tasks": len(task_stats)}
        for kind in TYPES:
            row[f"noc_{kind}_mode"] = MODES.index(modes[kind][0])
            row[f"noc_{kind}_fanout"] = modes[kind][1]
            row[f"noc_{kind}_bytes"] = int(noc[kind].sum())
        row["simd_idle_mac_slots"] = int(totals[csc.WORDS] * p.macs_per_pe - totals[csc.MACS])
        row["addr_cycles"] = int(totals[csc.POSITIONS] * p.iact_addr_cycles
                                 + totals[csc.IACTS] * p.weight_addr_cycles)
        per_cluster = np.bincount(work.core_id, work.compute_cycles, minlength=p.clusters)
        per_cluster_noc = np.bincount(work.core_id, work.noc_cycles, minlength=p.clusters)
        for c in range(p.clusters):
            row[f"cluster_{c:02d}_cycles"] = int(per_cluster[c])
            row[f"cluster_{c:02d}_noc_cycles"] = int(per_cluster_noc[c])
        return row

    # ---- pooling and residual add ------------------------------------------------------------
    def _vector_layer(self, layer: Layer, inputs: list) -> base.LayerRun:
        """One window element (pool) or addition (add) per PE per cycle; each cluster takes
        an equal share of the channels; CSC data in and out of DRAM."""
        p = self.params
        output = vector_output(layer, inputs)
        per_output = layer.kernel_h * layer.kernel_w if layer.kind == "pool" else 1
        bounds = (np.arange(p.clusters + 1) * layer.out_channels) // p.clusters
        channels = np.diff(bounds)
        out_words = channels * layer.out_h * layer.out_w
        cycles = -(-(out_words * per_output) // p.pes_per_cluster)
        in_rows = channels * layer.in_h
        in_bits = sum(self._csc_bits(channel_nonzeros(x, bounds), in_rows, p.iact_addr_bits)
                      for x in inputs)
        out_bits = self._csc_bits(channel_nonzeros(output, bounds), channels * layer.out_h,
                                  p.iact_addr_bits)
        work = TileWork(cycles, -(-in_bits // 8), np.zeros(p.clusters, np.int64),
                        -(-out_bits // 8), np.arange(p.clusters))
        in_words = int(channels.sum()) * layer.in_h * layer.in_w * len(inputs)
        counts = Counts()
        counts.add("pe", "op", layer.ops)
        counts.add("iact_glb", "read", in_words)
        counts.add("psum_glb", "write", int(out_words.sum()))
        stats = {f"cluster_{c:02d}_cycles": int(v) for c, v in enumerate(cycles)}
        return base.LayerRun(output=output, work=work, counts=counts,
                             mapping=f"vector: {p.pes} PEs x 1 op", tiles=p.clusters,
                             stats=stats)
