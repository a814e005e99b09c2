"""SCNN (Parashar et al., "SCNN: An Accelerator for Compressed-sparse Convolutional Neural
Networks", ISCA 2017).

Published (published-anchors.md section 7): 64 PEs (8 x 8), each an F x I = 4 x 4 array
of multipliers taking the Cartesian product of a vector of F non-zero weights and a vector
of I non-zero activations per cycle; a 16 x 32 scatter crossbar into A = 32 accumulator
banks, bank conflicts stalling the array; the PT-IS-CP-sparse dataflow (each PE owns a
planar tile of the input, all channels, input stationary), output halos exchanged with the
neighbouring PEs after each output-channel group of Kc channels, a barrier across PEs after
each group; weights and activations compressed as non-zero values plus 4-bit zero-run
indices; Kc chosen so that Kc output tiles fit the accumulator buffer (DNNsim's rule).

Modelled (:mod:`accelsim.kernels.cartesian` runs the PE cycle by cycle on the compressed
data, an fc layer's counted from its dense weights; fixed16 outputs are the layer's exact
sums, :mod:`accelsim.kernels.exact_sums`):

* planar tiling: the input plane split into ``pe_rows`` x ``pe_cols`` near-equal tiles
  (rows ``i*H//pe_rows``, OUR CHOICE; DNNsim rounds the tile size up); a PE's accumulator
  region is every output its tile's products can reach (its own outputs plus the halo);
* Kc = ``accumulator_entries`` // (largest accumulator region), at least 1, at most the
  conv group's output channels (grouped and depthwise convolutions: per group);
* per group and input channel, ``ceil(nnz_a / mult_i) x ceil(nnz_w / mult_f)`` vector
  cycles; a cycle lasts as long as the busiest of ``banks`` banks (``bank_hash``: ``xor``,
  DNNsim's XOR of the low bits of (k, x, y); ``linear``, (k + x + 3 y) mod banks;
  ``single``, every product to bank 0: a forced conflict pattern);
* non-unit stride: the full stride-1 Cartesian product is computed and the products off the
  stride grid (and off the output plane at the borders) are discarded: wasted multiplies;
* fc layers as a 1 x 1 convolution over a 1 x 1 input of C*H*W channels: the whole input is
  one PE's tile, the other PEs idle (SCNN's known fc inefficiency, part of the comparison);
* the barrier: every PE's group takes the slowest PE's cycles (idle counted per PE);
* the halo: after each group a PE sends the partial sums of its region outside its own
  outputs (``psum_bytes`` each) to its neighbours over its NoC link
  (``noc_bytes_per_cycle``); the link's time overlaps compute (double-buffered
  accumulators), as the engine's ``noc_cycles``;
* DRAM and NoC bytes in the compressed format (value + ``index_bits`` per entry,
  placeholders for long zero runs): each PE loads its input tile once, the weights of a
  group are read once and broadcast (each PE fetches 1/PEs of them, receives the rest),
  each PE writes its own outputs, compressed;
* pooling and residual adds on the PEs' post-processing units, ``ppu_lanes`` ops per PE per
  cycle, output channels split over the PEs, data moved dense.

Counters: effectual multiplies (``multipliers.mac``), wasted products (``multipliers.op``:
placeholders and discarded products; priced as a lone op by default, override
``energy_pj.multipliers.op`` for a full multiply), IARAM / weight-FIFO reads, accumulator
read-modify-writes and crossbar transfers per landed product, OARAM writes, NoC words.
Not modelled: IARAM/OARAM capacity (layers are assumed to fit; data goes through DRAM at
every layer as in the other cores here), the weight FIFO's refill timing, PPU ReLU timing.
Precision: fixed16 (16-bit values, as the paper; int64 accumulators instead of 24-bit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import base
from accelsim.arch._vector_ops import vector_output
from accelsim.cost.counts import Counts
from accelsim.cost.energy import Component
from accelsim.engine import TileWork
from accelsim.kernels import cartesian as cp
from accelsim.kernels import exact_sums
from accelsim.workload.layer import Layer

BUFFERS = ("iaram", "oaram", "weight_fifo", "accumulator")
HASHES = {"xor": cp.HASH_XOR, "linear": cp.HASH_LINEAR, "single": cp.HASH_SINGLE}


@dataclass(frozen=True)
class Params:
    """PE array, multiplier vectors, banks and sizes (module docstring; scnn.yaml)."""

    pe_rows: int = 8
    pe_cols: int = 8
    mult_f: int = 4
    mult_i: int = 4
    banks: int = 32
    bank_hash: str = "xor"
    accumulator_entries: int = 6144
    index_bits: int = 4
    psum_bytes: int = 3
    noc_bytes_per_cycle: int = 16
    ppu_lanes: int = 4

    def __post_init__(self) -> None:
        base.require_ints(self, ("pe_rows", "pe_cols", "mult_f", "mult_i", "banks",
                                 "accumulator_entries", "index_bits", "psum_bytes",
                                 "noc_bytes_per_cycle", "ppu_lanes"))
        if self.bank_hash not in HASHES:
            raise ValueError(f"bank_hash must be one of {', '.join(HASHES)}, "
                             f"got {self.bank_hash!r}")
        if self.index_bits > 16:
            raise ValueError(f"index_bits must be <= 16, got {self.index_bits}")

    @property
    def pes(self) -> int:
        return self.pe_rows * self.pe_cols


@dataclass(frozen=True)
class Tiling:
    """The layer as SCNN sees it (fc: 1 x 1 conv), PE tiles and output-channel groups."""

    geom: tuple            # C, C/G, R, S, sh, sw, pad_t, pad_l, out_h, out_w, h1, w1
    tiles: np.ndarray      # per PE: y0, y1, x0, x1 of its input tile
    owned: np.ndarray      # per PE: oy0, oy1, ox0, ox1 of its own outputs
    origin: np.ndarray     # per PE: first output row, col of its accumulator region
    extent: np.ndarray     # per PE: rows, cols of the region
    kgroups: np.ndarray    # per group: k0, k1, first input channel, input channels
    kc: int

    def describe(self) -> str:
        return f"{len(self.tiles)} PEs planar-tiled, Kc={self.kc}, {len(self.kgroups)} groups"


def _split(n: int, parts: int) -> np.ndarray:
    return (np.arange(parts + 1) * n) // parts


def _reach(lo, hi, before, size, stride, n_out):
    """Per PE: first output index and count its input indices [lo, hi) reach (stride-1
    coordinates ``i + before - r`` for r < size, on the stride grid, inside the plane)."""
    first = np.maximum(lo + before - (size - 1), 0)
    last = hi - 1 + before
    o0 = -(-first // stride)
    o1 = np.minimum(last // stride, n_out - 1)
    return o0, np.where(hi > lo, np.maximum(o1 - o0 + 1, 0), 0)


class Core(base.Core):
    """SCNN's 2-D array of Cartesian-product PEs, one layer at a time."""

    LOAD_BUFFERS = ("iaram", "weight_fifo")
    STORE_BUFFERS = ("oaram",)

    def components(self) -> list[Component]:
        bits = 8 * self.word_bytes

        def size(name):
            return int(self.arch.buffers[name].size_kib * 1024)

        entry = bits + self.params.index_bits
        return [Component("multipliers", "mac"),
                Component("iaram", "sram", size("iaram"), entry),
                Component("oaram", "sram", size("oaram"), entry),
                Component("weight_fifo", "sram", size("weight_fifo"), entry),
                Component("accumulator", "sram", size("accumulator"),
                          8 * self.params.psum_bytes),
                Component("crossbar", "logic"), Component("ppu", "logic"),
                Component("noc", "noc", access_bits=bits, hop_mm=1.0),
                Component("dram", "dram")]

    def peak_per_cycle(self, layer: Layer) -> int:
        p = self.params
        return p.pes * (p.mult_f * p.mult_i if layer.has_weights else p.ppu_lanes)

    def tile(self, layer: Layer) -> Tiling:
        p = self.params
        if layer.kind == "fc":
            c, h, w, r, s = layer.in_channels * layer.in_h * layer.in_w, 1, 1, 1, 1
            stride, pad, out_h, out_w = (1, 1), (0, 0, 0, 0), 1, 1
        else:
            c, h, w, r, s = layer.in_channels, layer.in_h, layer.in_w, layer.kernel_h, \
                layer.kernel_w
            stride, pad, out_h, out_w = layer.stride, layer.pad, layer.out_h, layer.out_w
        h1, w1 = h + pad[0] + pad[2] - r + 1, w + pad[1] + pad[3] - s + 1
        ry, rx = _split(h, p.pe_rows), _split(w, p.pe_cols)
        oy, ox = _split(out_h, p.pe_rows), _split(out_w, p.pe_cols)
        ii, jj = np.divmod(np.arange(p.pes), p.pe_cols)
        tiles = np.stack([ry[ii], ry[ii + 1], rx[jj], rx[jj + 1]], axis=1)
        owned = np.stack([oy[ii], oy[ii + 1], ox[jj], ox[jj + 1]], axis=1)
        y0, ny = _reach(tiles[:, 0], tiles[:, 1], pad[0], r, stride[0], out_h)
        x0, nx = _reach(tiles[:, 2], tiles[:, 3], pad[1], s, stride[1], out_w)
        ny, nx = ny * (nx > 0), nx * (ny > 0)
        region = max(int((ny * nx).max()), 1)
        groups = 1 if layer.kind == "fc" else layer.groups
        cg, mg = c // groups, layer.out_channels // groups
        kc = max(1, min(mg, p.accumulator_entries // region))
        kgroups = [(g * mg + k, g * mg + min(k + kc, mg), g * cg, cg)
                   for g in range(groups) for k in range(0, mg, kc)]
        return Tiling((c, cg, r, s, stride[0], stride[1], pad[0], pad[1], out_h, out_w,
                       h1, w1), tiles, owned, np.stack([y0, x0], axis=1),
                      np.stack([ny, nx], axis=1), np.array(kgroups, np.int64), kc)

    def compute(self, layer: Layer, inputs: list, weights, bias, tiling) -> base.LayerRun:
        if not layer.has_weights:
            return self._vector_layer(layer, inputs)
        return self._weighted_layer(layer, inputs, weights, bias, tiling)

    def count_weighted(self, layer: Layer, inputs: list, weights, bias,
                       output) -> base.LayerRun:
        """The PEs' cycles and counts without the sums (``output`` is known)."""
        return self._weighted_layer(layer, inputs, weights, bias, self.tile(layer), output)

    def _weighted_layer(self, layer: Layer, inputs: list, weights, bias, t,
                        known=None) -> base.LayerRun:
        """Fixed-point sums from :mod:`accelsim.kernels.exact_sums` (the PEs add exactly
        those integers), so the PEs only count; fp32 sums product by product in the PEs."""
        p = self.params
        fixed = isinstance(inputs[0], fixedpoint.Fixed)
        x = inputs[0].q if fixed else inputs[0]
        x = np.ascontiguousarray(x.reshape(-1, 1, 1) if layer.kind == "fc" else x)
        w = (weights.q if fixed else weights).reshape(layer.out_channels, t.geom[1],
                                                      t.geom[2], t.geom[3])
        exact = exact_sums.applies(x, w) and layer.depth is None
        compute = known is None and not exact
        max_run = (1 << p.index_bits) - 1
        vectors = {"f_vec": p.mult_f, "i_vec": p.mult_i, "banks": p.banks,
                   "hash_kind": HASHES[p.bank_hash]}
        if layer.kind == "fc" and not compute:        # counted without encoding
            acc, (group_cycles, stats, a_entries, w_entries) = None, cp.count_fc(
                x, w, t.tiles, t.kgroups, max_run, **vectors)
        else:
            acts = cp.encode_tiles(x, t.tiles, max_run)
            wts = cp.encode_weights(np.ascontiguousarray(w), t.kgroups, max_run)
            acc, group_cycles, stats = cp.run_pes(
                t.geom, t.tiles, t.origin, t.extent, t.kgroups, acts, wts, compute=compute,
                n_out=layer.out_channels, **vectors)
            a_entries = np.diff(acts[0]).reshape(p.pes, t.geom[0])
            w_entries = np.diff(wts[0]).reshape(len(t.kgroups), t.geom[1])
        if known is not None:
            output = known
        else:
            sums = exact_sums.conv_sums(
                x.reshape(layer.in_shape), w.reshape(layer.weight_shape), layer.stride,
                layer.pad) if exact else self._merge(layer, acc, t)
            output = base.conv_output(layer, sums, inputs[0], weights, bias)
        work, traffic = self._tile_work(layer, t, group_cycles, a_entries, w_entries, output)
        counts = self._counts(layer, t, stats, a_entries, w_entries, traffic)
        return base.LayerRun(output=output, work=work, counts=counts, mapping=t.describe(),
                             tiles=len(work), stats=self._stats(t, stats, group_cycles,
                                                                traffic))

    def _merge(self, layer, acc, t):
        out = np.zeros((layer.out_channels, t.geom[8], t.geom[9]), acc.dtype)
        for pe, ((y0, x0), (ny, nx)) in enumerate(zip(t.origin, t.extent, strict=True)):
            if ny and nx:
                out[:, y0:y0 + ny, x0:x0 + nx] += acc[pe, :, :ny, :nx]
        return out

    # ---- data movement ---------------------------------------------------------------------
    def _bytes(self, entries):
        bits = 8 * self.word_bytes + self.params.index_bits
        return -(-np.asarray(entries, np.int64) * bits // 8)

    def _tile_work(self, layer, t, group_cycles, a_entries, w_entries, output):
        """One tile per (PE, group), PE-major: the barrier makes every PE's group last the
        slowest PE's cycles; DRAM in compressed bytes; halo and broadcast on the NoC."""
        p = self.params
        n_g = len(t.kgroups)
        out_q = fixedpoint.raw(output)
        out_q = np.ascontiguousarray(out_q.reshape(layer.out_channels, t.geom[8], t.geom[9]))
        o_entries = cp.tile_entries(out_q, t.owned, (1 << p.index_bits) - 1) \
            .reshape(p.pes, layer.out_channels)
        o_cum = np.concatenate([np.zeros((p.pes, 1), np.int64), np.cumsum(o_entries, 1)], 1)
        k0, k1 = t.kgroups[:, 0], t.kgroups[:, 1]
        out_bytes = self._bytes(o_cum[:, k1] - o_cum[:, k0])              # PEs x groups
        w_bytes = self._bytes(w_entries.sum(axis=1))                       # groups
        w_fetch = -(-w_bytes // p.pes)
        halo = self._halo_entries(t)[:, None] * (k1 - k0)[None, :]          # PEs x groups
        halo_bytes = halo * p.psum_bytes
        noc_bytes = (w_bytes - w_fetch)[None, :] + halo_bytes
        in_bytes = np.zeros((p.pes, n_g), np.int64)
        in_bytes[:, 0] = self._bytes(a_entries.sum(axis=1))
        barrier = np.broadcast_to(group_cycles.max(axis=0), (p.pes, n_g))
        work = TileWork(barrier.ravel(), in_bytes.ravel(),
                        np.broadcast_to(w_fetch, (p.pes, n_g)).ravel(), out_bytes.ravel(),
                        np.repeat(np.arange(p.pes), n_g),
                        (-(-noc_bytes // p.noc_bytes_per_cycle)).ravel())
        traffic = {"halo_bytes": int(halo_bytes.sum()), "noc_bytes": int(noc_bytes.sum()),
                   "weight_bytes": int(w_bytes.sum()), "input_bytes": int(in_bytes.sum()),
                   "output_entries": int(o_entries.sum())}
        return work, traffic

    @staticmethod
    def _halo_entries(t) -> np.ndarray:
        """Per PE: accumulator-region positions outside its own outputs (per channel)."""
        y0, x0 = t.origin[:, 0], t.origin[:, 1]
        ny, nx = t.extent[:, 0], t.extent[:, 1]
        oy = np.maximum(np.minimum(y0 + ny, t.owned[:, 1]) - np.maximum(y0, t.owned[:, 0]), 0)
        ox = np.maximum(np.minimum(x0 + nx, t.owned[:, 3]) - np.maximum(x0, t.owned[:, 2]), 0)
        return ny * nx - oy * ox

    # ---- counts and statistics -------------------------------------------------------------
    def _counts(self, layer, t, stats, a_entries, w_entries, traffic) -> Counts:
        p = self.params
        totals = stats.sum(axis=0)
        a_vectors = -(-a_entries // p.mult_i)                              # PEs x C
        a_reads = w_reads = 0
        for g, (_k0, _k1, c0, n_c) in enumerate(t.kgroups):
            a_reads += int(a_entries[:, c0:c0 + n_c].sum())
            w_reads += int((a_vectors[:, c0:c0 + n_c] * w_entries[g][None, :]).sum())
        effectual, landed = int(totals[cp.EFFECTUAL]), int(totals[cp.LANDED])
        counts = Counts()
        for (component, action), n in (
                (("multipliers", "mac"), effectual),
                (("multipliers", "mac_skipped"), layer.macs - effectual),
                (("multipliers", "op"), int(totals[cp.PRODUCTS]) - effectual),
                (("iaram", "read"), a_reads), (("weight_fifo", "read"), w_reads),
                (("crossbar", "op"), landed),
                (("accumulator", "read"), landed), (("accumulator", "write"), landed),
                (("oaram", "write"), traffic["output_entries"]),
                (("noc", "hop"), traffic["noc_bytes"] // self.word_bytes)):
            if n:
                counts.add(component, action, n)
        return counts

    def _stats(self, t, stats, group_cycles, traffic) -> dict[str, float]:
        p = self.params
        totals = stats.sum(axis=0)
        span = group_cycles.max(axis=0)
        busy_cycles = int(span.sum())
        slots = busy_cycles * p.pes * p.mult_f * p.mult_i
        row: dict[str, float] = {
            "pe_rows": p.pe_rows, "pe_cols": p.pe_cols, "kc": t.kc,
            "kc_groups": len(t.kgroups),
            "products": int(totals[cp.PRODUCTS]),
            "effectual_multiplies": int(totals[cp.EFFECTUAL]),
            "wasted_multiplies": int(totals[cp.PRODUCTS] - totals[cp.EFFECTUAL]),
            "discarded_products": int(totals[cp.PRODUCTS] - totals[cp.LANDED]),
            "bank_stall_cycles": int(totals[cp.STALLS]),
            "barrier_idle_pe_cycles": int((span[None, :] - group_cycles).sum()),
            "idle_vector_slots": int(totals[cp.PAIRS_SLOTS] - totals[cp.PRODUCTS]),
            "multiplier_utilization": float(totals[cp.EFFECTUAL] / slots) if slots else 0.0}
        for key in ("halo_bytes", "weight_bytes", "input_bytes"):
            row[f"compressed_{key}" if key != "halo_bytes" else key] = traffic[key]
        return row

    # ---- pooling and residual add on the PPUs ----------------------------------------------
    def _vector_layer(self, layer: Layer, inputs: list) -> base.LayerRun:
        p = self.params
        output = vector_output(layer, inputs)
        per_output = layer.kernel_h * layer.kernel_w if layer.kind == "pool" else 1
        channels = np.diff(_split(layer.out_channels, p.pes))
        in_words = channels * layer.in_h * layer.in_w * len(inputs)
        out_words = channels * layer.out_h * layer.out_w
        cycles = -(-(out_words * per_output) // p.ppu_lanes)
        work = TileWork(cycles, in_words * self.word_bytes, np.zeros(p.pes, np.int64),
                        out_words * self.word_bytes, np.arange(p.pes))
        counts = Counts()
        counts.add("ppu", "op", layer.ops)
        counts.add("oaram", "write", int(out_words.sum()))
        return base.LayerRun(output=output, work=work, counts=counts,
                             mapping=f"ppu: {p.pes} PEs x {p.ppu_lanes} lanes",
                             tiles=p.pes, stats={})
