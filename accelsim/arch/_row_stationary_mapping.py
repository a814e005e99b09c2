"""Row-stationary mapping of conv / fc layers onto the Eyeriss PE array, and its pass table.

A mapping (Chen et al., ISCA 2016 and JSSC 2017) is a *PE set* of ``R`` filter
rows x ``e`` output rows, placed on the array and replicated, plus the processing-pass
parameters:

* ``e``: output rows a set computes at once (``E`` is split into strips of ``e``); a set
  wider than the array is folded into ``ceil(e / cols)`` strips stacked vertically
  (CONV2: 5 x 27 = two 5-row strips of 14 and 13 PEs);
* ``r`` sets on different channel groups, stacked vertically so one accumulation chain runs
  through them; ``t`` sets on different filters (they share the ifmap, multicast); ``g``
  sets on different groups of a grouped or depthwise layer;
* per PE, ``p`` filters x ``q`` channels: ``p * q * S <= filter spad``, ``p <= psum spad``
  and ``p <= max_filters_per_pe``, ``q * S <= ifmap spad`` (the chip's own AlexNet CONV3
  mapping, JSSC Table III, fills the 12-word spad with q = 4 windows of S = 3);
* at most ``max(1, channel_row_words // Wp)`` channels per pass (``q * r``; ``Wp`` the padded
  ifmap width, 128 words on the chip): inferred from the JSSC VGG-16 table, whose GLB
  accesses (about 2 C / (q r) psum words per output) and processing latencies (psum GIN /
  GON bound) both give q r = 1 / 1 / 2 / 4 / ~8 for CONV1-5 (Wp = 226 / 114 / 58 / 30 / 16),
  while AlexNet's (1 / 2 / 6, Wp <= 31 after CONV1) stay below it; the papers available to
  us do not say which structure imposes it (see benchmarks/reproduce_eyeriss.py);
* per global-buffer block, ``n`` images and ``m`` filters: the GLB holds the psums of
  ``m`` filters x ``n`` images x ``e`` rows and ``slots`` copies of the (zero-padded) ifmap
  rows of the current channel group (``slots`` = 2: the next group's rows load while the
  array works).

Filter rows beyond the array height and filter widths beyond the spads are split into segments
that accumulate through the GLB like channel groups (no AlexNet/VGG layer needs it).

Loop order, outer to inner (our reading of the JSSC processing-pass order, whose innermost
loops are filter groups, then channel groups, then strips):
group batches > filter chunks (``m``) > image batches (``n``) > strips (``e``) > reduction
groups (``q * r`` channels x filter-row x tap segments: the ifmap rows are refilled from DRAM)
> filter groups (``p * t`` filters: the filters stream from DRAM into the spads) > one pass.
So filters are read from DRAM once per strip and image batch, the ifmap once per filter
chunk, psums never leave the chip.

The mapper enumerates the candidates (set widths ``e``: for each strip count the balanced
one and the widest, whose short last strip is counted with its real rows on PE sets of its
real height; then ``q`` with the largest ``p`` it allows and its halvings, ``r``, ``g``, the
most ``t`` that fit, every ``n`` and the largest ``m`` that fits) and scores each from
closed forms of its pass table's counts, priced with the configured energy table.
``objective: edp`` (default) keeps the least energy x cycles: energy is the paper's
objective, and the cycles factor keeps a mapping that starves the array on the 16-bit ifmap
GIN from winning on a few percent of energy (the chip's AlexNet PE sets 11 x 7 x 2, 5 x 27,
3 x 13 x 4 with p = 16, q = 1 / 2 / 3). ``energy`` keeps the least energy x NoC slowdown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from accelsim.errors import MappingError
from accelsim.kernels import row_stationary as rs
from accelsim.workload.layer import Layer


@dataclass(frozen=True)
class RsHardware:
    """What the mapper needs of the chip (sizes in 16-bit words, buses in bits)."""

    rows: int
    cols: int
    ifmap_spad: int
    filter_spad: int
    psum_spad: int
    max_filters_per_pe: int
    glb_words: int
    glb_slots: int
    word_bits: int
    gin_ifmap_bits: int
    gin_filter_bits: int
    gin_psum_bits: int
    gon_bits: int
    link_bytes_per_cycle: float
    dram_latency_cycles: int
    objective: str = "edp"
    channel_row_words: int = 0

    def max_channels(self, padded_width: int) -> int:
        """The most channels ``q * r`` a pass may reduce: ``channel_row_words`` // the padded
        ifmap width (at least 1; no limit when 0)."""
        if self.channel_row_words <= 0:
            return 1 << 30
        return max(1, self.channel_row_words // padded_width)

    def bus_cycles(self, words, bits: int):
        return -(-(words * self.word_bits) // bits)

    def fill_cycles(self, filter_words):
        """Cycles to stream a pass's filters from DRAM into the spads (the array idles);
        ``filter_words`` may be an int (plain Python: the mapper scores thousands of
        candidates) or an int array."""
        if isinstance(filter_words, int):
            link = 0 if math.isinf(self.link_bytes_per_cycle) else math.ceil(
                filter_words * (self.word_bits / 8) / self.link_bytes_per_cycle)
            latency = self.dram_latency_cycles if filter_words > 0 else 0
            return max(link, self.bus_cycles(filter_words, self.gin_filter_bits)) + latency
        words = np.asarray(filter_words, dtype=np.int64)
        link = np.zeros_like(words) if math.isinf(self.link_bytes_per_cycle) else np.ceil(
            words * (self.word_bits / 8) / self.link_bytes_per_cycle).astype(np.int64)
        latency = np.where(words > 0, self.dram_latency_cycles, 0)
        return np.maximum(link, self.bus_cycles(words, self.gin_filter_bits)) + latency


@dataclass(frozen=True)
class RsPrices:
    """Energy per event (any unit), taken from the configured energy table."""

    mac: float
    op: float
    ifmap_spad: float
    filter_spad: float
    psum_spad: float
    glb: float
    glb_fill: float
    gin_ifmap: float
    gin_filter: float
    gin_psum: float
    gon: float
    local: float
    dram_byte: float


@dataclass(frozen=True)
class ConvShape:
    """A conv / fc layer at batch ``batch`` in the mapper's terms (padded input ``hp x wp``)."""

    groups: int
    cg: int
    mg: int
    kh: int
    kw: int
    sh: int
    sw: int
    e_out: int
    f_out: int
    in_h: int
    in_w: int
    pad_t: int
    wp: int
    batch: int

    @classmethod
    def of(cls, layer: Layer, batch: int) -> ConvShape:
        return cls(layer.groups, layer.in_channels_per_group, layer.out_channels_per_group,
                   layer.kernel_h, layer.kernel_w, *layer.stride, layer.out_h, layer.out_w,
                   layer.in_h, layer.in_w, layer.pad[0],
                   layer.in_w + layer.pad[1] + layer.pad[3], batch)

    @property
    def macs(self) -> int:
        return (self.batch * self.groups * self.mg * self.e_out * self.f_out * self.cg
                * self.kh * self.kw)


@dataclass(frozen=True)
class RsMapping:
    """One layer's row-stationary mapping (see the module docstring for the letters)."""

    shape: ConvShape
    e: int
    strips: int
    rc: int
    sc: int
    r: int
    t: int
    g: int
    p: int
    q: int
    n: int
    m: int
    estimated_energy: float
    estimated_cycles: int

    @property
    def active_pes(self) -> int:
        """PEs of a full pass: sets x R x e."""
        s = self.shape
        t_used = min(self.t, -(-min(self.m, s.mg) // self.p))
        r_used = min(self.r, -(-s.cg // self.q))
        return (min(self.g, s.groups) * t_used * r_used * min(self.rc, s.kh)
                * min(self.e, s.e_out))

    def describe(self) -> str:
        return (f"RS set {self.rc}x{self.e} ({self.strips} strip{'s' * (self.strips > 1)}) "
                f"r={self.r} t={self.t} g={self.g} p={self.p} q={self.q} n={self.n} "
                f"m={self.m}: {self.active_pes} PEs")

    def pass_table(self) -> np.ndarray:
        """One row per pass (columns ``rs.T_*``), blocks contiguous, in the loop order."""
        s = self.shape
        pt, qr = self.p * self.t, self.q * self.r
        dims = (_cdiv(s.groups, self.g), _cdiv(s.mg, self.m), _cdiv(s.batch, self.n),
                _cdiv(s.e_out, self.e), _cdiv(s.cg, qr), _cdiv(s.kh, self.rc),
                _cdiv(s.kw, self.sc), _cdiv(self.m, pt))
        gb, mc, nb, es, cq, rc, sc, fg = np.indices(dims).reshape(len(dims), -1)
        table = np.zeros((gb.size, rs.N_TABLE_COLUMNS), dtype=np.int64)
        table[:, rs.T_G0] = gb * self.g
        table[:, rs.T_GN] = np.minimum(self.g, s.groups - gb * self.g)
        _span(table, rs.T_MC0, rs.T_MC1, mc * self.m, self.m, s.mg)
        _span(table, rs.T_M0, rs.T_M1, table[:, rs.T_MC0] + fg * pt, pt, table[:, rs.T_MC1])
        _span(table, rs.T_I0, rs.T_I1, nb * self.n, self.n, s.batch)
        _span(table, rs.T_Y0, rs.T_Y1, es * self.e, self.e, s.e_out)
        _span(table, rs.T_C0, rs.T_C1, cq * qr, qr, s.cg)
        _span(table, rs.T_KY0, rs.T_KY1, rc * self.rc, self.rc, s.kh)
        _span(table, rs.T_KX0, rs.T_KX1, sc * self.sc, self.sc, s.kw)
        table[:, rs.T_FIRST] = (cq == 0) & (rc == 0) & (sc == 0)
        table[:, rs.T_LAST] = (cq == dims[4] - 1) & (rc == dims[5] - 1) & (sc == dims[6] - 1)
        table[:, rs.T_REFILL] = fg == 0
        table[:, rs.T_BLOCK] = np.ravel_multi_index((gb, mc, nb, es), dims[:4])
        table = table[table[:, rs.T_M0] < table[:, rs.T_M1]]   # a short last filter chunk
        last_of_block = np.append(np.diff(table[:, rs.T_BLOCK]) != 0, True)
        table[:, rs.T_READOUT] = last_of_block
        return table


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _span(table, lo_col, hi_col, start, size, limit) -> None:
    table[:, lo_col] = start
    table[:, hi_col] = np.minimum(start + size, limit)


def _segment(size: int, limit: int) -> int:
    """The even segment length that splits ``size`` into the fewest pieces <= ``limit``."""
    return _cdiv(size, _cdiv(size, limit))


@lru_cache(maxsize=1024)
def map_conv(layer: Layer, batch: int, hw: RsHardware, prices: RsPrices) -> RsMapping:
    """The best mapping of a conv / fc layer at ``batch`` images; MappingError if none fits."""
    shape = ConvShape.of(layer, batch)
    rc = _segment(shape.kh, hw.rows)
    sc = _segment(shape.kw, min(hw.ifmap_spad, hw.filter_spad))
    best = None
    for candidate in _candidates(shape, hw, rc, sc):
        energy, cycles, noc_free = _estimate(shape, hw, prices, *candidate)
        slowdown = cycles / noc_free if hw.objective == "energy" else cycles   # edp
        key = (energy * slowdown, cycles, candidate)
        if best is None or key < best[0]:
            best = (key, candidate, energy, cycles)
    if best is None:
        raise MappingError(
            f"layer {layer.name!r}: no row-stationary mapping fits the global buffer "
            f"({hw.glb_words} words): enlarge buffers.glb.size_kib")
    _, (e, strips, r, t, g, p, q, n, m), energy, cycles = best
    return RsMapping(shape, e, strips, rc, sc, r, t, g, p, q, n, m, energy, int(cycles))


def _widths(size: int, limit: int) -> list[int]:
    """Strip widths up to ``limit``: per strip count, the balanced (narrowest) one and the
    widest (its short last strip counted exactly: the chip's 3 x 13 sets on VGG-16's E = 56,
    JSSC Table VI); a width between has as many strips, fits no more sets than the narrowest
    and fills fewer rows a pass than the widest."""
    widths = set()
    for k in range(1, size + 1):
        narrowest = _cdiv(size, k)
        widest = size if k == 1 else (size - 1) // (k - 1)
        if _cdiv(size, widest) == k:
            widths.update(w for w in (narrowest, widest) if w <= limit)
    return sorted(widths)


def _candidates(s: ConvShape, hw: RsHardware, rc: int, sc: int):
    """(e, strips, r, t, g, p, q, n, m) tuples that fit the spads, the array and the GLB."""
    for e in _widths(s.e_out, hw.cols * (hw.rows // rc)):
        strips = _cdiv(e, hw.cols)
        vertical = hw.rows // (strips * rc)
        horizontal = hw.cols // e if strips == 1 else 1
        max_qr = hw.max_channels(s.wp)
        for q in range(1, min(s.cg, hw.ifmap_spad // sc, max_qr) + 1):
            p_most = min(hw.max_filters_per_pe, hw.psum_spad, s.mg, hw.filter_spad // (q * sc))
            if p_most < 1:
                break
            for p in _filter_counts(s.mg, p_most):
                for r in range(1, min(vertical, _cdiv(s.cg, q), max_qr // q) + 1):
                    for g in _group_counts(s.groups, (vertical // r) * horizontal):
                        t = min((vertical // r) * horizontal // g, _cdiv(s.mg, p))
                        for n in range(1, s.batch + 1):
                            fit = _fit_filters(s, hw, e, rc, r, t, g, p, q, n)
                            if fit is not None:
                                yield (e, strips, r, fit[0], g, p, q, n, fit[1])


def _filter_counts(mg: int, most: int) -> list[int]:
    """Filters per PE to try: the most the spads allow, then halvings of it (a block whose
    psums fill the GLB can then keep every filter set busy with fewer filters each), each
    balanced so that no filter group is needlessly short."""
    counts, p = set(), most
    while p >= 1:
        counts.add(_cdiv(mg, _cdiv(mg, p)))
        p //= 2
    return sorted(counts, reverse=True)


def _group_counts(groups: int, slots: int) -> list[int]:
    """Groups run side by side: 1, powers of two, and the most that fit."""
    most = min(groups, slots)
    counts = {1, most}
    k = 2
    while k < most:
        counts.add(k)
        k *= 2
    return sorted(counts)


def _fit_filters(s: ConvShape, hw: RsHardware, e, rc, r, t, g, p, q, n):
    """(t, m): the GLB psum chunk ``m`` (a multiple of ``p * t``, or all ``mg``) that fits
    beside ``slots`` copies of the ifmap rows; ``t`` shrinks if even ``p * t`` does not."""
    rows_in = (e - 1) * s.sh + rc
    ifmap_words = hw.glb_slots * n * g * q * r * rows_in * s.wp
    per_filter = g * n * e * s.f_out
    room = (hw.glb_words - ifmap_words) // per_filter
    if room < 1:
        return None
    if room >= s.mg:
        return t, s.mg
    t = min(t, room // p)
    if t < 1:
        return None
    return t, (room // (p * t)) * p * t


def _estimate(s: ConvShape, hw: RsHardware, c: RsPrices, e, strips, r, t, g, p, q, n, m):
    """(energy, cycles, cycles if the NoC never limited) of a candidate, from closed forms
    of the pass table's counts: a short last strip exactly (its real rows on PE sets of its
    real height), short last filter, channel and image chunks as full ones."""
    rc = _segment(s.kh, hw.rows)
    sc = _segment(s.kw, min(hw.ifmap_spad, hw.filter_spad))
    pt, qr = p * t, q * r
    n_red = _cdiv(s.cg, qr) * _cdiv(s.kh, rc) * _cdiv(s.kw, sc)
    n_mc = _cdiv(s.mg, m)
    filter_groups = (n_mc - 1) * _cdiv(m, pt) + _cdiv(s.mg - (n_mc - 1) * m, pt)
    n_nb, n_gb = _cdiv(s.batch, n), _cdiv(s.groups, g)
    strip_refills = n_gb * n_mc * n_nb * n_red
    strip_passes = n_gb * n_nb * n_red * filter_groups
    cols = (s.f_out - 1) * s.sw + sc
    array = n * s.f_out * (p * q * sc + p)
    filter_words = g * pt * qr * rc * sc
    fill = hw.fill_cycles(filter_words)
    outputs = s.batch * s.groups * s.mg * s.e_out * s.f_out
    chain = rc * r
    energy = (s.macs * (c.mac + c.ifmap_spad + c.filter_spad + 2 * c.psum_spad)
              + outputs * (n_red * chain - 1) * (c.op + 2 * c.psum_spad)
              + outputs * n_red * (chain - 1) * c.local
              + 2 * outputs * n_red * c.glb
              + outputs * ((n_red - 1) * c.gin_psum + n_red * c.gon)
              + _dram_words(s, e, rc, sc, n, m) * hw.word_bits / 8 * c.dram_byte)
    cycles = noc_free = 0
    for height, count in _strip_heights(s.e_out, e):
        passes = count * strip_passes
        rows_in = (height - 1) * s.sh + rc
        pass_psums = n * g * pt * height * s.f_out
        gin_words = n * g * qr * rows_in * cols
        noc = max(array, hw.bus_cycles(gin_words, hw.gin_ifmap_bits),
                  hw.bus_cycles(pass_psums, hw.gon_bits),
                  hw.bus_cycles(pass_psums, hw.gin_psum_bits))
        energy += (passes * gin_words * c.glb
                   + passes * n * g * t * qr * rc * height * cols * (c.gin_ifmap + c.ifmap_spad)
                   + passes * filter_words * height * (c.gin_filter + c.filter_spad)
                   + count * strip_refills * n * g * qr * rows_in * s.wp * c.glb_fill)
        cycles += passes * (noc + fill)
        noc_free += passes * (array + fill)
    return energy, cycles, noc_free


def _strip_heights(size: int, e: int) -> list[tuple[int, int]]:
    """(rows, how many strips) of ``size`` output rows split into strips of ``e``: the full
    strips and, when ``e`` does not divide ``size``, one short last strip."""
    return [(e, size // e)] + ([(size % e, 1)] if size % e else [])


def _dram_words(s: ConvShape, e, rc, sc, n, m) -> int:
    """Filters once per strip and image batch, ifmap once per filter chunk, ofmap once."""
    weights = s.groups * s.mg * s.cg * s.kh * s.kw
    ifmap = (s.batch * s.groups * s.cg * s.in_w * _fetched_rows(s, e, rc)
             * _cdiv(s.kw, sc) * _cdiv(s.mg, m))
    outputs = s.batch * s.groups * s.mg * s.e_out * s.f_out
    return weights * _cdiv(s.e_out, e) * _cdiv(s.batch, n) + ifmap + outputs


@lru_cache(maxsize=4096)
def _fetched_rows(s: ConvShape, e: int, rc: int) -> int:
    """Real ifmap rows fetched over all strips and filter-row segments (halos included)."""
    total = 0
    for y0 in range(0, s.e_out, e):
        y1 = min(y0 + e, s.e_out)
        for ky0 in range(0, s.kh, rc):
            ky1 = min(ky0 + rc, s.kh)
            lo = max(y0 * s.sh + ky0 - s.pad_t, 0)
            hi = min((y1 - 1) * s.sh + ky1 - s.pad_t, s.in_h)
            total += max(hi - lo, 0)
    return total
