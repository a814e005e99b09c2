"""EIE (Han, Liu, Mao, Pu, Pedram, Horowitz & Dally, "EIE: Efficient Inference Engine on
Compressed Deep Neural Network", ISCA 2016).

Published (published-anchors.md section 10): 64 PEs, 45 nm, 800 MHz; the pruned fc weight
matrix in CSC interleaved over the PEs by row (row ``i`` to PE ``i mod 64``), each entry a
4-bit index into 16 shared weights and a 4-bit relative row index with zero padding when a
gap exceeds 15; a leading non-zero detection (LNZD) tree broadcasting the non-zero input
activations into per-PE activation queues (depth 8); per PE a pointer read unit (two banks:
a column's start and end pointers in one cycle), a 64-bit-wide sparse-matrix SRAM, a codebook
lookup and a 16-bit fixed-point MAC into the destination activation registers.

Modelled (:mod:`accelsim.kernels.eie` counts the real matrix's CSC entries per PE and
column and runs every PE, cycle exact, on the real activations): queue-full stalls of the
broadcast and the load imbalance between PEs emerge from the data; a PE's work for an
activation is its entries (padding included) in that column; ``sram_width_bits /
entry_bits`` entries per SRAM read (8 entries of 8 bits). The layer ends when the last PE is
done plus ``pipeline_stages - 1`` drain cycles. Sums are exact (int64, from
:mod:`accelsim.kernels.exact_sums`: the products the PEs add are the dense sum's non-zero
ones) and rounded once by the common output stage, as on every fixed16 core; EIE's 16-bit
accumulators are not modelled bit for bit. fp32 sums are added token by token in the PEs'
order (:func:`accelsim.kernels.eie.column_sums`).

Weights. EIE needs each layer shared to ``2**weight_index_bits`` codebook values (zero
included when the layer has zeros or padding): the ``share`` transform (Deep Compression's
k-means, :mod:`accelsim.workload.transforms.sharing`), after ``prune``. A layer that is not
shared is still run, with its raw ``word``-bit weights in the entries instead of indices
(no codebook lookups; fewer entries per SRAM read), and the mapping column says so; the
results are then not EIE's storage. Nothing is compressed behind the user's back: the
config runs the tensors it is given.

Conv layers (our choice; the paper evaluates fc layers only) run as im2col fc layers: each
output position's input window is an activation vector multiplied by the ``M x C/G*R*S``
filter matrix, one group's matrix after another (a group's rows interleaved over the PEs
on their own, so a depthwise layer keeps one PE busy: EIE's known weakness on such layers).
Positions stream through the queues back to back. Pooling and residual adds (EIE has no
unit for them) run on the PEs' ALUs as a vector unit, one element per PE per cycle, their
operands read from and results written to DRAM.

Memory (our choices): a layer's entries are resident in the PEs' sparse-matrix SRAMs when
the fullest PE's fit its ``spmat_sram``, and its pointers when each PE's fit its
``ptr_sram`` (loading them is not simulated); else that part streams from DRAM once;
activations live in the source / destination register files (``act_regs``), from and to
DRAM only when a layer's input or output does not fit them (``neurons_resident``; off:
every layer reads its input from and writes its output to DRAM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import base
from accelsim.arch._vector_ops import VectorUnits, vector_layer_run
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component
from accelsim.engine import TileWork
from accelsim.errors import MappingError
from accelsim.kernels import eie, exact_sums
from accelsim.workload.layer import Layer

BUFFERS = ("spmat_sram", "ptr_sram", "act_regs")


@dataclass(frozen=True)
class Params:
    """The PE array, the queues and the CSC entry format (module docstring)."""

    n_pes: int = 64
    queue_depth: int = 8
    sram_width_bits: int = 64
    weight_index_bits: int = 4
    row_index_bits: int = 4
    pointer_bits: int = 16
    pipeline_stages: int = 4
    neurons_resident: bool = True

    def __post_init__(self) -> None:
        base.require_ints(self, ("n_pes", "queue_depth", "sram_width_bits",
                                 "weight_index_bits", "row_index_bits", "pointer_bits",
                                 "pipeline_stages"))
        base.require_flags(self, ("neurons_resident",))
        if self.row_index_bits > 7:
            raise ValueError(f"row_index_bits must be at most 7, got {self.row_index_bits}")


@dataclass(frozen=True)
class Storage:
    """How a layer's weights are stored: the codebook, the entry width, the CSC's counts."""

    matrices: np.ndarray      # groups x M/G x C/G*R*S: the weights stored
    counts: eie.ColumnCounts
    codebook_values: int      # distinct values the entries decode to (zero included)
    shared: bool              # fits the 2**weight_index_bits codebook
    weight_bits: int          # per entry: the index, or the raw weight if not shared
    entry_bits: int
    pointer_bits: int         # all PEs' pointer arrays
    word_bits: int            # a codebook value

    @property
    def csc(self) -> eie.Csc:
        """The entries themselves (the run needs only their counts)."""
        return eie.encode(self.matrices, self.counts.n_pes, self.counts.row_index_bits)

    @property
    def total_bits(self) -> int:
        codebook = self.codebook_values * self.word_bits if self.shared else 0
        return self.counts.entries * self.entry_bits + self.pointer_bits + codebook

    def report(self) -> dict[str, float]:
        """The per-layer storage columns of ``Result.layers``."""
        nonzeros = self.counts.nonzeros
        return {"nonzero_weights": nonzeros, "csc_entries": self.counts.entries,
                "padding_entries": self.counts.padding,
                "codebook_values": self.codebook_values,
                "weights_shared": int(self.shared), "entry_bits": self.entry_bits,
                "pointer_bits": self.pointer_bits, "storage_bytes": -(-self.total_bits // 8),
                "bits_per_weight": self.total_bits / nonzeros if nonzeros else 0.0}


def weight_matrices(layer: Layer, w: np.ndarray) -> np.ndarray:
    """``groups x M/G x C/G*R*S``: each group's filter matrix, columns in (c, r, s) order."""
    return w.reshape(layer.groups, layer.out_channels_per_group, -1)


def storage(layer: Layer, w: np.ndarray, params: Params, word_bits: int = 16) -> Storage:
    """EIE's storage of a layer's weights ``w`` (codes or floats)."""
    matrices = weight_matrices(layer, w)
    counts = eie.count_columns(matrices, params.n_pes, params.row_index_bits)
    needs_zero = counts.nonzeros < matrices.size
    codebook = eie.distinct_nonzero(matrices) + int(needs_zero)
    shared = codebook <= 2 ** params.weight_index_bits
    weight_bits = params.weight_index_bits if shared else word_bits
    columns = matrices.shape[0] * matrices.shape[2]
    return Storage(matrices, counts, codebook, shared, weight_bits,
                   weight_bits + params.row_index_bits,
                   params.n_pes * (columns + 1) * params.pointer_bits, word_bits)


class Core(base.Core):
    """EIE: ``n_pes`` PEs on the compressed matrix, fc layers and convs as im2col fc."""

    LOAD_BUFFERS = ("spmat_sram",)
    STORE_BUFFERS = ("act_regs",)

    def _bytes(self, name: str) -> int:
        return int(self.arch.buffers[name].size_kib * 1024)

    def components(self) -> list[Component]:
        p = self.params
        return [Component("lnzd", "logic"), Component("act_queue", "logic"),
                Component("ptr_sram", "sram", self._bytes("ptr_sram"), p.pointer_bits),
                Component("spmat_sram", "sram", self._bytes("spmat_sram"), p.sram_width_bits),
                Component("codebook", "logic"), Component("alu", "mac"),
                Component("act_regs", "sram", self._bytes("act_regs"), 8 * self.word_bytes),
                Component("dram", "dram")]

    def peak_per_cycle(self, layer: Layer) -> int:
        return self.params.n_pes

    def tile(self, layer: Layer) -> str:
        p = self.params
        what = "fc" if layer.kind == "fc" or not layer.has_weights else "conv as im2col fc"
        return (f"{what}: {p.n_pes} PEs (rows interleaved mod {p.n_pes}), "
                f"activation queues of {p.queue_depth}")

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling) -> base.LayerRun:
        return self._run(layer, inputs, weights, bias, tiling)

    def count_weighted(self, layer: Layer, inputs: list, weights, bias,
                       output) -> base.LayerRun:
        """The PEs' cycles and counts without the sums (``output`` is known)."""
        return self._run(layer, inputs, weights, bias, self.tile(layer), output)

    def _run(self, layer: Layer, inputs: list, weights, bias, tiling,
             known=None) -> base.LayerRun:
        if not layer.has_weights:
            return vector_layer_run(layer, inputs, VectorUnits(
                self.params.n_pes, 1, 0, lambda nonzeros, elements: elements * self.word_bytes,
                ("alu", "op"), ("act_regs", "read"), ("act_regs", "write"),
                f"{self.params.n_pes} PE ALUs"))
        p = self.params
        x = fixedpoint.raw(inputs[0]).reshape(layer.in_shape)
        w = fixedpoint.raw(weights)
        stored = storage(layer, w, p, 8 * self.word_bytes)
        if stored.entry_bits > p.sram_width_bits:
            raise MappingError(f"layer {layer.name!r}: its {stored.entry_bits}-bit CSC entries "
                               f"are wider than core_params.sram_width_bits "
                               f"{p.sram_width_bits}; share its weights or widen the SRAM")
        top, left, bottom, right = layer.pad
        window = ((layer.kernel_h, layer.kernel_w), layer.stride, (layer.out_h, layer.out_w),
                  layer.groups)
        x_padded = np.pad(x, ((0, 0), (top, bottom), (left, right)))
        end, stalls, stats, tokens = eie.run_pes(
            stored.counts, x_padded, *window, queue_depth=p.queue_depth,
            entries_per_read=p.sram_width_bits // stored.entry_bits, scan_width=p.n_pes)
        if known is not None:
            output = known
        else:
            if exact_sums.applies(x, w) and layer.depth is None:
                sums = exact_sums.conv_sums(x, w.reshape(layer.weight_shape), layer.stride,
                                            layer.pad)
            else:
                sums = eie.column_sums(stored.matrices, x_padded, *window).T
            output = base.conv_output(layer, sums, inputs[0], weights, bias)
        scanned = layer.out_h * layer.out_w * layer.in_channels_per_group * layer.kernel_h \
            * layer.kernel_w * layer.groups
        cycles = end + p.pipeline_stages - 1
        work = self._work(layer, stored, cycles)
        counts = self._counts(layer, stored, stats, tokens, scanned)
        mapping = tiling if stored.shared else (
            f"{tiling}; NOT shared ({stored.codebook_values} weight values > "
            f"{2 ** p.weight_index_bits}): raw {stored.weight_bits}-bit weights in the "
            "entries (apply the share transform for EIE's codebook)")
        return base.LayerRun(output=output, work=work, counts=counts, mapping=mapping,
                             tiles=1, stats=self._stats(stored, stats, end, stalls, tokens))

    def _work(self, layer: Layer, stored: Storage, cycles: int) -> TileWork:
        """One tile: the entries from DRAM if the fullest PE's do not fit its sparse-matrix
        SRAM, the pointers if a PE's do not fit its pointer SRAM (each loaded once, before
        the layer); activations from and to DRAM if they do not fit the register files or
        ``neurons_resident`` is off."""
        p, word = self.params, self.word_bytes
        # source | destination halves of the register files
        on_chip = p.n_pes * self._bytes("act_regs") // 2 if p.neurons_resident else 0
        fullest = int(stored.counts.pe_entries().max()) * stored.entry_bits
        entry_bytes = -(-stored.counts.entries * stored.entry_bits // 8)
        pointer_bytes = -(-stored.pointer_bits // 8)
        weight_bytes = (entry_bytes * (fullest > 8 * self._bytes("spmat_sram"))
                        + pointer_bytes * (pointer_bytes > p.n_pes * self._bytes("ptr_sram")))
        in_bytes = math.prod(layer.in_shape) * word
        out_bytes = math.prod(layer.out_shape) * word
        return TileWork(
            np.array([cycles]), np.array([in_bytes if in_bytes > on_chip else 0]),
            np.array([weight_bytes]),
            np.array([out_bytes if out_bytes > on_chip else 0]), np.zeros(1))

    def _counts(self, layer: Layer, stored: Storage, stats: np.ndarray, tokens: int,
                scanned: int) -> Counts:
        p = self.params
        total = stats.sum(axis=0)
        macs, entries = int(total[eie.MACS]), int(total[eie.ENTRIES])
        outputs = math.prod(layer.out_shape)
        counts = Counts()
        for (component, action), n in (
                (("alu", "mac"), macs), (("alu", "mac_skipped"), layer.macs - macs),
                (("lnzd", "op"), scanned), (("act_queue", "op"), tokens * p.n_pes),
                (("ptr_sram", "read"), 2 * tokens * p.n_pes),
                (("spmat_sram", "read"), int(total[eie.SRAM_READS])),
                (("codebook", "op"), entries if stored.shared else 0),
                (("act_regs", "read"), scanned + macs),
                (("act_regs", "write"), macs + outputs)):
            if n:
                counts.add(component, action, n)
        return counts

    def _stats(self, stored: Storage, stats: np.ndarray, end: int, stalls: int,
               tokens: int) -> dict[str, float]:
        """Storage, the broadcast, and the balance: ``load_balance_efficiency`` is the share
        of PE-cycles spent on an entry (mean entries / the cycles the last PE finishes)."""
        entries = stats[:, eie.ENTRIES]
        row = stored.report()
        row.update({"broadcast_activations": tokens, "lnzd_stall_cycles": stalls,
                    "busiest_pe_entries": int(entries.max()),
                    "mean_pe_entries": float(entries.mean()),
                    "padding_entries_run": int(stats[:, eie.PADDING].sum()),
                    "load_balance_efficiency": float(entries.mean() / end) if end else 1.0})
        return row
