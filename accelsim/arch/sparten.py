"""SparTen (Gondimalla, Chesnut, Thottethodi & Vijaykumar, "SparTen: A Sparse Tensor
Accelerator for Convolutional Neural Networks", MICRO 2019).

Published (published-anchors.md section 8): sparse vector-vector dot products done as an
inner join on positions; filters and feature maps as SparseMaps (a bit mask plus the packed
non-zero values), chunks matched by AND-ing the masks and a prefix-sum circuit locating the
operand pairs; greedy balancing, GB-S (software, whole-filter density) and GB-H (hybrid,
finer-grain chunk density), filters grouped and ordered by density and the outputs
permuted back; non-unit stride supported. The compute organisation (chunk size, compute
units per cluster, clusters) was NOT found: every size here is our choice, a config key.

Modelled (:mod:`accelsim.kernels.inner_join` joins the real SparseMaps, computes the outputs
and times every chunk step):

* SparseMap chunks of ``chunk`` consecutive channels (channel-major: a filter tap's or an
  input pixel's channel vector; layers with fewer channels per group use one chunk of all
  of them, so depthwise layers join 1-element chunks, SparTen's known weakness);
* a compute unit (CU) holds ``filters_per_cu`` filters of the current *pass* and joins each
  against the broadcast input chunk: ``ceil(pairs / multipliers_per_cu) +
  chunk_overhead_cycles`` cycles per join; ``cus_per_cluster`` CUs share a cluster's input
  broadcast and the cluster steps to the next chunk when its slowest CU is done;
* ``clusters`` clusters split the (pass, output position) items of a layer into contiguous
  equal shares; the layer ends with the slowest cluster;
* ``balancing``: ``none`` (filters in order, ``filters_per_cu`` consecutive ones per CU),
  ``gb_s`` (greedy, offline: filters by whole-filter non-zero count, densest first, each to
  the least-loaded CU with a free slot, so a CU pairs dense with sparse filters; passes of
  ``cus_per_cluster`` CUs), ``gb_h`` (the same passes, and within a pass the greedy
  assignment redone for every reduction chunk by that chunk's weight non-zeros);
* the output permutation: with ``gb_s`` a CU's outputs come out in CU order and are
  un-permuted through the output buffer (one read and one write per output); with ``gb_h``
  a filter's partial sums move between CUs from chunk to chunk, so every join's partial sum
  is routed through the permutation network into the filter's accumulator (one network op
  and one accumulator read and write per join). Both are priced as energy; we assume they
  overlap with the joins (no cycles);
* fc layers: a conv whose window is the whole input (a 1x1-window dot product for a flat
  input). Phantom states SparTen lacks fc support; we run fc anyway so that whole networks
  compare (with the clusters sharing the passes, as they do any layer);
* data stored as SparseMaps in DRAM (non-zeros plus a 1-bit mask per element): a pass's
  filters are fetched once and broadcast to the clusters that run it (each fetches
  ``1 / sharers`` and receives the rest over the NoC at ``noc_bytes_per_cycle``); an input
  row is read from DRAM once per layer, by the first cluster that needs it, and sent over
  the NoC to the others that need it (a cluster keeps the rows it got); outputs are
  written once;
* pooling and residual adds on the CUs as a vector unit, one window element or addition
  per multiplier per cycle.

Not modelled: buffer capacity, the next layer's encoding of outputs into SparseMaps (we
take it as free), bank conflicts, stalls of the broadcast bus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import base
from accelsim.arch._vector_ops import VectorUnits, vector_layer_run
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component
from accelsim.engine import TileWork
from accelsim.kernels import inner_join
from accelsim.workload.layer import Layer

BUFFERS = ("act_buffer", "weight_buffer", "mask_buffer", "output_buffer")
BALANCING = ("none", "gb_s", "gb_h")


@dataclass(frozen=True)
class Params:
    """Clusters, CUs, the chunk, the join cost and the balancing mode (module docstring;
    our choices are explained in sparten.yaml)."""

    clusters: int = 32
    cus_per_cluster: int = 32
    multipliers_per_cu: int = 1
    filters_per_cu: int = 2
    chunk: int = 128
    chunk_overhead_cycles: int = 1
    balancing: str = "gb_h"
    noc_bytes_per_cycle: int = 64

    def __post_init__(self) -> None:
        base.require_ints(self, ("clusters", "cus_per_cluster", "multipliers_per_cu",
                                 "filters_per_cu", "chunk", "noc_bytes_per_cycle"))
        base.require_ints(self, ("chunk_overhead_cycles",), minimum=0)
        if self.balancing not in BALANCING:
            raise ValueError(f"balancing must be one of {', '.join(BALANCING)}, "
                             f"got {self.balancing!r}")

    @property
    def multipliers(self) -> int:
        return self.clusters * self.cus_per_cluster * self.multipliers_per_cu


def _channel_chunks(matrix: np.ndarray, chunk: int) -> np.ndarray:
    """``... x C`` -> ``... x n_sub x chunk`` (zero-padded channels)."""
    n_sub = -(-matrix.shape[-1] // chunk)
    if n_sub * chunk == matrix.shape[-1]:                         # no padding: one copy
        return np.ascontiguousarray(matrix).reshape(*matrix.shape[:-1], n_sub, chunk)
    padded = np.zeros((*matrix.shape[:-1], n_sub * chunk), dtype=matrix.dtype)
    padded[..., :matrix.shape[-1]] = matrix
    return padded.reshape(*matrix.shape[:-1], n_sub, chunk)


def assign_slots(w_nnz: np.ndarray, balancing: str, cus: int, per_cu: int) -> np.ndarray:
    """``passes x chunks x cus x per_cu`` filter slots (``-1`` empty) from the weight
    non-zeros per filter and chunk ``w_nnz`` (``M x chunks``); see the module docstring."""
    m, n_chunks = w_nnz.shape
    n_bins = -(-m // per_cu)
    passes = -(-n_bins // cus)
    slots = np.full((passes, n_chunks, cus, per_cu), -1, dtype=np.int64)
    if balancing == "none":
        bin_of = np.arange(m) // per_cu
    else:
        bin_of = inner_join.greedy(w_nnz.sum(axis=1)[None, :], n_bins, per_cu)[0]
    for j in range(passes):
        members = np.flatnonzero(bin_of // cus == j)
        if balancing == "gb_h":
            local = inner_join.greedy(np.ascontiguousarray(w_nnz[members].T),
                                      len(np.unique(bin_of[members])), per_cu)
        else:
            local = np.broadcast_to(bin_of[members] - j * cus, (n_chunks, len(members)))
        inner_join.fill_slots(slots, j, members, np.ascontiguousarray(local))  # chunks x members
    return slots


class Core(base.Core):
    """SparTen: clusters of inner-join compute units, one layer at a time."""

    LOAD_BUFFERS = ("act_buffer", "weight_buffer", "mask_buffer")
    STORE_BUFFERS = ("output_buffer",)

    def components(self) -> list[Component]:
        bits = 8 * self.word_bytes

        def size(name):
            return int(self.arch.buffers[name].size_kib * 1024)

        return [Component("cu", "mac"),
                Component("act_buffer", "sram", size("act_buffer"), bits),
                Component("weight_buffer", "sram", size("weight_buffer"), bits),
                Component("mask_buffer", "sram", size("mask_buffer"), self.params.chunk),
                Component("output_buffer", "sram", size("output_buffer"), 32),
                Component("prefix_sum", "logic"), Component("permute", "logic"),
                Component("noc", "noc", access_bits=bits, hop_mm=1.0),
                Component("dram", "dram")]

    def peak_per_cycle(self, layer: Layer) -> int:
        return self.params.multipliers

    def tile(self, layer: Layer) -> str:
        p = self.params
        return (f"{p.clusters} clusters x {p.cus_per_cluster} CUs x {p.multipliers_per_cu} "
                f"multipliers, {p.filters_per_cu} filters per CU, chunk {p.chunk}, "
                f"balancing {p.balancing}")

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling) -> base.LayerRun:
        if not layer.has_weights:
            return self._vector_layer(layer, inputs)
        return self._weighted_layer(layer, inputs, weights, bias, tiling)

    def count_weighted(self, layer: Layer, inputs: list, weights, bias,
                       output) -> base.LayerRun:
        """The joins' pairs and cycles without the products (``output`` is known)."""
        return self._weighted_layer(layer, inputs, weights, bias, self.tile(layer), output)

    def _weighted_layer(self, layer: Layer, inputs: list, weights, bias, tiling,
                        known=None) -> base.LayerRun:
        p = self.params
        fixed = isinstance(inputs[0], fixedpoint.Fixed)
        x = (inputs[0].q if fixed else inputs[0]).reshape(layer.in_shape)
        w = weights.q if fixed else weights
        ops = self._operands(layer, x, w)
        slots = assign_slots(ops["w_nnz"], p.balancing, p.cus_per_cluster, p.filters_per_cu)
        passes, positions = slots.shape[0], layer.out_h * layer.out_w
        n_items = passes * positions
        item_ptr = (np.arange(p.clusters + 1) * n_items) // p.clusters
        items = np.arange(n_items)
        acc, item_cycles, stats = inner_join.run_clusters(
            item_ptr, items // positions, items % positions, slots,
            np.arange(layer.out_channels) // layer.out_channels_per_group,
            ops["wmask"], ops["w_chunks"], ops["amask"], ops["a_chunks"],
            kernel_w=layer.kernel_w, stride=layer.stride, out_w=layer.out_w,
            multipliers=p.multipliers_per_cu,
            overhead=p.chunk_overhead_cycles, n_positions=positions, compute=known is None)
        output = base.conv_output(layer, acc, inputs[0], weights, bias) if known is None \
            else known
        work, noc_words = self._tile_work(layer, x, ops, slots, item_ptr, item_cycles, output)
        counts = self._counts(layer, stats, slots, noc_words)
        return base.LayerRun(output=output, work=work, counts=counts, mapping=tiling,
                             tiles=len(work), stats=self._stats(stats, n_items))

    def _operands(self, layer: Layer, x: np.ndarray, w: np.ndarray) -> dict:
        """The SparseMaps of the filters (taps x channel chunks) and of the padded input
        (pixels x channel chunks, per group): the chunks' values and masks."""
        cg, groups = layer.in_channels_per_group, layer.groups
        chunk = min(self.params.chunk, cg)
        n_sub = -(-cg // chunk)
        top, left = layer.pad[0], layer.pad[1]
        hp, wp = layer.in_h + top + layer.pad[2], layer.in_w + left + layer.pad[3]
        a_chunks = np.zeros((groups, hp, wp, n_sub * chunk), x.dtype)    # padded, channels last
        a_chunks[:, top:top + layer.in_h, left:left + layer.in_w, :cg] = \
            x.reshape(groups, cg, layer.in_h, layer.in_w).transpose(0, 2, 3, 1)
        wt = w.reshape(layer.out_channels, cg, layer.kernel_h, layer.kernel_w)
        w_chunks = _channel_chunks(wt.transpose(0, 2, 3, 1), chunk)
        w_chunks = w_chunks.reshape(layer.out_channels, -1, chunk)    # M x (taps * n_sub)
        wmask, w_nnz = inner_join.chunk_masks(w_chunks.reshape(-1, chunk))
        amask, _ = inner_join.chunk_masks(a_chunks.reshape(-1, chunk))
        return {"wmask": wmask, "w_chunks": w_chunks, "amask": amask,
                "a_chunks": a_chunks.reshape(groups, hp, wp, n_sub, chunk),
                "w_nnz": w_nnz.reshape(w_chunks.shape[:2])}

    # ---- data movement ---------------------------------------------------------------------
    def _stored_bytes(self, nonzeros, elements):
        """Bytes of a SparseMap piece: non-zero values plus a 1-bit mask per element."""
        return np.asarray(nonzeros) * self.word_bytes + -(-np.asarray(elements) // 8)

    def _tile_work(self, layer, x, ops, slots, item_ptr, item_cycles, output):
        """One tile per run of a cluster's items in one pass: its cycles, the pass's
        filters (a share fetched, the rest over the NoC), the input rows its positions
        cover (from DRAM if no cluster holds them yet, else over the NoC from one that does;
        a cluster keeps the rows it got) and its outputs."""
        p, positions = self.params, layer.out_h * layer.out_w
        k_elements = layer.weight_count // layer.out_channels
        w_nnz = ops["w_nnz"].sum(axis=1)
        out_q = fixedpoint.raw(output)
        out_cum = np.concatenate([np.zeros((layer.out_channels, 1), np.int64), np.cumsum(
            out_q.reshape(layer.out_channels, -1) != 0, axis=1)], axis=1)
        row_bytes = self._stored_bytes(np.count_nonzero(x, axis=(0, 2)),
                                       layer.in_channels * layer.in_w)
        fetched = np.zeros(layer.in_h, dtype=bool)                  # on chip somewhere
        resident = np.zeros((p.clusters, layer.in_h), dtype=bool)   # in this cluster
        item_cum = np.concatenate([[0], np.cumsum(item_cycles)])
        runs = _runs(item_ptr, positions)
        pass_members = [np.unique(s[s >= 0]) for s in slots]       # every chunk has them all
        sharers = np.bincount([r[1] for r in runs], minlength=slots.shape[0])
        cols = {name: np.zeros(len(runs), np.int64) for name in
                ("compute", "in", "weight", "out", "noc", "core")}
        noc_bytes = 0
        for t, (cl, j, i0, i1) in enumerate(runs):
            members = pass_members[j]
            w_bytes = int(self._stored_bytes(w_nnz[members].sum(), len(members) * k_elements))
            fetch = -(-w_bytes // int(sharers[j]))
            p0, p1 = i0 - j * positions, i1 - j * positions
            y0, y1 = p0 // layer.out_w, (p1 - 1) // layer.out_w + 1
            lo = max(y0 * layer.stride[0] - layer.pad[0], 0)
            hi = max(min((y1 - 1) * layer.stride[0] - layer.pad[0] + layer.kernel_h,
                          layer.in_h), lo)
            cols["compute"][t] = item_cum[i1] - item_cum[i0]
            need = np.zeros(layer.in_h, dtype=bool)
            need[lo:hi] = True
            from_peers = int(row_bytes[need & fetched & ~resident[cl]].sum())
            cols["in"][t] = row_bytes[need & ~fetched].sum()
            fetched |= need
            resident[cl] |= need
            cols["weight"][t] = fetch
            cols["out"][t] = self._stored_bytes(
                int((out_cum[members, p1] - out_cum[members, p0]).sum()),
                len(members) * (p1 - p0))
            cols["noc"][t] = -(-(w_bytes - fetch + from_peers) // p.noc_bytes_per_cycle)
            cols["core"][t] = cl
            noc_bytes += w_bytes - fetch + from_peers
        work = TileWork(cols["compute"], cols["in"], cols["weight"], cols["out"], cols["core"],
                        cols["noc"])
        return work, noc_bytes // self.word_bytes

    # ---- counts and statistics -------------------------------------------------------------
    def _counts(self, layer: Layer, stats: np.ndarray, slots: np.ndarray,
                noc_words: int) -> Counts:
        totals = stats.sum(axis=0)
        pairs, joins = int(totals[inner_join.PAIRS]), int(totals[inner_join.JOINS])
        outputs = layer.out_channels * layer.out_h * layer.out_w
        positions = layer.out_h * layer.out_w
        per_group = layer.out_channels_per_group
        # input chunks broadcast: one per distinct input group among a pass's filters
        groups_per_pass = sum(len(np.unique(s[s >= 0] // per_group)) for s in slots[:, 0])
        input_chunks = groups_per_pass * positions * slots.shape[1]
        mode = self.params.balancing
        permute = {"none": 0, "gb_s": outputs, "gb_h": joins}[mode]
        counts = Counts()
        for (component, action), n in (
                (("cu", "mac"), pairs), (("cu", "mac_skipped"), layer.macs - pairs),
                (("mask_buffer", "read"), joins + input_chunks),
                (("prefix_sum", "op"), joins),
                (("act_buffer", "read"), pairs), (("weight_buffer", "read"), pairs),
                (("output_buffer", "write"), outputs + permute),
                (("output_buffer", "read"), permute),
                (("permute", "op"), permute), (("noc", "hop"), noc_words)):
            if n:
                counts.add(component, action, n)
        return counts

    def _stats(self, stats: np.ndarray, n_items: int) -> dict[str, float]:
        """Per-cluster cycles, CU utilization and idle multiplier-cycles by cause: waiting
        for the cluster's slowest CU (and join overheads), and for the slowest cluster."""
        p = self.params
        cycles = stats[:, inner_join.CYCLES]
        per_cluster = p.cus_per_cluster * p.multipliers_per_cu
        row: dict[str, float] = {"clusters": p.clusters, "cus_per_cluster": p.cus_per_cluster,
                                 "work_items": n_items}
        for cl in range(p.clusters):
            row[f"core_{cl:03d}_cycles"] = int(cycles[cl])
        row["idle_in_cluster_mult_cycles"] = int(stats[:, inner_join.IDLE_CU_CYCLES].sum())
        row["idle_between_clusters_mult_cycles"] = int((cycles.max() - cycles).sum()
                                                       * per_cluster)
        busy = cycles.max() * p.multipliers
        row["cu_utilization"] = float(stats[:, inner_join.PAIRS].sum() / busy) if busy else 0.0
        row["joins"] = int(stats[:, inner_join.JOINS].sum())
        return row

    # ---- pooling and residual add: the CUs as a vector unit ------------------------------------
    def _vector_layer(self, layer: Layer, inputs: list) -> base.LayerRun:
        """Window elements (pool) or additions (add) over every multiplier, each cluster
        taking an equal share of the output channels; SparseMap data in and out."""
        p = self.params
        lanes = p.cus_per_cluster * p.multipliers_per_cu
        return vector_layer_run(layer, inputs, VectorUnits(
            p.clusters, lanes, 0, self._stored_bytes, ("cu", "op"), ("act_buffer", "read"),
            ("output_buffer", "write"), f"{p.clusters} clusters x {lanes} lanes"))


def _runs(item_ptr: np.ndarray, positions: int) -> list[tuple[int, int, int, int]]:
    """``(cluster, pass, first item, end item)`` of each run of a cluster's items in one
    pass (items are numbered ``pass * positions + position``)."""
    runs = []
    for cl in range(len(item_ptr) - 1):
        i0, i1 = int(item_ptr[cl]), int(item_ptr[cl + 1])
        while i0 < i1:
            j = i0 // positions
            end = min(i1, (j + 1) * positions)
            runs.append((cl, j, i0, end))
            i0 = end
    return runs
