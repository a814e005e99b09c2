"""Tiling of conv, fc, pool and add layers over DianNao-style NBin / SB / NBout buffers.

DianNao's control processor runs a fixed loop nest (``accelsim.kernels.dense``); what a
compiler chooses per layer is the tile sizes, the order of the two outer loops and which
data stays resident on chip. The paper gives the loop nest (Sec. 3, Figs. 5-7) but not a
tile-selection rule, so this module searches the small space exhaustively and keeps the
tiling with the least DRAM traffic (ties: fewer tiles), every tile fitting one buffer slot:

* NBout slot: ``th * tw`` positions x ``tn`` partial sums;
* NBin slot: the input patch ``((th-1)*sh + kr) x ((tw-1)*sw + S) x chunk`` words;
* SB slot: ``tn x chunk x kr x S`` synapses.

Loop orders (see ``accelsim.kernels.dense``): 0 = blocks > spatial tiles > reduction
chunks, 1 = spatial tiles > blocks > chunks (partial sums stay in NBout in both), 2 = blocks >
chunks > spatial tiles (a synapse chunk stays in SB across all spatial tiles; partial sums
spill to DRAM between chunks, ``psum_bytes`` each way).

Residency: weights of one output block (``w_res`` 1, blocks outer; in order 2, of one chunk)
or of the whole layer (``w_res`` 2) are loaded once if they fit an SB slot; the input patch
of a spatial tile over all channels (``x_res`` 1, spatial tiles outer) or the whole input
(``x_res`` 2) likewise for NBin. Otherwise every tile re-fetches what it needs from DRAM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from accelsim.errors import MappingError
from accelsim.workload.layer import Layer

# (order, w_res, x_res) combinations that make sense (see module docstring).
_MODES = ((0, 0, 0), (0, 1, 0), (0, 2, 0), (1, 0, 0), (1, 2, 0), (1, 0, 1), (1, 2, 1),
          (0, 0, 2), (0, 1, 2), (0, 2, 2), (2, 1, 0), (2, 1, 2))


@dataclass(frozen=True)
class NfuShape:
    """What the tiler needs to know of the hardware: NFU size and words per buffer slot."""

    tn: int
    ti: int
    word_bytes: int
    nbin_words: int
    sb_words: int
    nbout_words: int
    psum_bytes: int


@dataclass(frozen=True)
class ConvTiling:
    order: int
    th: int
    tw: int
    kr: int
    chunk: int
    w_res: int
    x_res: int
    n_tiles: int
    estimated_dram_bytes: int

    def as_tuple(self) -> tuple[int, ...]:
        return (self.order, self.th, self.tw, self.kr, self.chunk, self.w_res, self.x_res)

    def describe(self) -> str:
        order = ("blocks>spatial", "spatial>blocks", "blocks>chunks>spatial")[self.order]
        return (f"{order} tile {self.th}x{self.tw} kr={self.kr} chunk={self.chunk} "
                f"w_res={self.w_res} x_res={self.x_res}")


@dataclass(frozen=True)
class PoolTiling:
    th: int
    tw: int
    kr: int
    n_tiles: int

    def as_tuple(self) -> tuple[int, ...]:
        return (self.th, self.tw, self.kr)

    def describe(self) -> str:
        return f"tile {self.th}x{self.tw} kr={self.kr}"


@dataclass(frozen=True)
class AddTiling:
    positions: int
    n_tiles: int

    def describe(self) -> str:
        return f"{self.positions} positions per tile"


def block_unions(layer: Layer, tn: int) -> list[int]:
    """Input channels read by each block of ``tn`` output channels (union of its groups)."""
    cg, mg = layer.in_channels_per_group, layer.out_channels_per_group
    unions = []
    for m0 in range(0, layer.out_channels, tn):
        m1 = min(m0 + tn, layer.out_channels)
        unions.append(((m1 - 1) // mg - m0 // mg + 1) * cg)
    return unions


def _chunks(union: int, ti: int) -> list[int]:
    candidates = {union}
    size = ti
    while size < union:
        candidates.add(size)
        size *= 2
    return sorted(candidates)


def _estimate(layer: Layer, hw: NfuShape, th: int, tw: int, kr: int, chunk: int,
              union: int, mode: tuple[int, int, int]) -> tuple[int, int] | None:
    """(DRAM bytes, tiles) of a candidate, or None if a residency does not fit."""
    order, w_res, x_res = mode
    sh, sw = layer.stride
    m, r, s, c = layer.out_channels, layer.kernel_h, layer.kernel_w, layer.in_channels
    p, q = layer.out_h, layer.out_w
    n_ob, n_st = math.ceil(m / hw.tn), math.ceil(p / th) * math.ceil(q / tw)
    n_kc, n_ic = math.ceil(r / kr), math.ceil(union / chunk)
    cols = (tw - 1) * sw + s
    if w_res == 1 and order != 2 and hw.tn * union * r * s > hw.sb_words:
        return None
    if w_res == 2 and n_ob * hw.tn * union * r * s > hw.sb_words:
        return None
    full_rows = (th - 1) * sh + r
    if x_res == 1 and full_rows * cols * c > hw.nbin_words:
        return None
    padded = (layer.in_h + layer.pad[0] + layer.pad[2]) * (layer.in_w + layer.pad[1] + layer.pad[3])
    if x_res == 2 and padded * c > hw.nbin_words:
        return None
    weights = layer.weight_count * (n_st if w_res == 0 else 1)
    if x_res == 0:
        inputs = n_ob * n_st * n_kc * ((th - 1) * sh + kr) * cols * union
    elif x_res == 1:
        inputs = n_st * full_rows * cols * c
    else:
        inputs = layer.in_h * layer.in_w * c
    outputs = p * q * m
    spilled = 2 * (n_kc * n_ic - 1) * p * q * m * hw.psum_bytes if order == 2 else 0
    return (weights + inputs + outputs) * hw.word_bytes + spilled, n_ob * n_st * n_kc * n_ic


@lru_cache(maxsize=4096)
def conv_tiling(layer: Layer, hw: NfuShape) -> ConvTiling:
    """The least-traffic tiling of a conv or fc layer; MappingError if nothing fits."""
    unions = block_unions(layer, hw.tn)
    union = max(unions)
    sh, sw = layer.stride
    r, s, p, q = layer.kernel_h, layer.kernel_w, layer.out_h, layer.out_w
    max_positions = hw.nbout_words // hw.tn
    best = None
    for chunk in _chunks(union, hw.ti):
        for kr in range(r, 0, -1):
            if hw.tn * chunk * kr * s > hw.sb_words:
                continue
            for th in range(1, min(p, max_positions) + 1):
                rows = (th - 1) * sh + kr
                cols_fit = hw.nbin_words // (rows * chunk)
                tw = min(q, max_positions // th, (cols_fit - s) // sw + 1 if cols_fit >= s else 0)
                if tw < 1:
                    continue
                for mode in _MODES:
                    cost = _estimate(layer, hw, th, tw, kr, chunk, union, mode)
                    if cost is not None:
                        key = (cost[0], cost[1], mode)
                        if best is None or key < best[0]:
                            best = (key, (th, tw, kr, chunk, mode))
    if best is None:
        raise MappingError(
            f"layer {layer.name!r}: no tile fits the buffers (one output of a "
            f"{r}x{s} kernel over {min(union, hw.ti)} channels needs "
            f"{s * min(union, hw.ti)} NBin words and {hw.tn * min(union, hw.ti) * s} SB "
            f"words per slot; slots hold {hw.nbin_words} and {hw.sb_words}): "
            "enlarge buffers.nbin.size_kib / buffers.sb.size_kib")
    (cost_bytes, _, _), (th, tw, kr, chunk, (order, w_res, x_res)) = best
    n_st = math.ceil(p / th) * math.ceil(q / tw)
    n_tiles = sum(n_st * math.ceil(r / kr) * math.ceil(u / chunk) for u in unions)
    return ConvTiling(order, th, tw, kr, chunk, w_res, x_res, n_tiles, cost_bytes)


@lru_cache(maxsize=4096)
def pool_tiling(layer: Layer, hw: NfuShape) -> PoolTiling:
    """The least-traffic spatial tile and window-row chunk whose patch (``ti`` channels)
    fits NBin, with the partial results fitting NBout."""
    sh, sw = layer.stride
    r, s = layer.kernel_h, layer.kernel_w
    max_positions = hw.nbout_words // hw.ti
    best = None
    for kr in range(r, 0, -1):
        for th in range(1, min(layer.out_h, max_positions) + 1):
            rows = (th - 1) * sh + kr
            cols_fit = hw.nbin_words // (rows * hw.ti)
            if cols_fit < s:
                continue
            tw = min(layer.out_w, max_positions // th, (cols_fit - s) // sw + 1)
            n_tiles = math.ceil(layer.out_h / th) * math.ceil(layer.out_w / tw) * math.ceil(r / kr)
            traffic = n_tiles * rows * ((tw - 1) * sw + s)
            if best is None or (traffic, n_tiles) < best[0]:
                best = ((traffic, n_tiles), (th, tw, kr, n_tiles))
    if best is None:
        raise MappingError(
            f"layer {layer.name!r}: one row of a {r}x{s} pooling window over {hw.ti} "
            f"channels does not fit an NBin slot of {hw.nbin_words} words: "
            "enlarge buffers.nbin.size_kib")
    th, tw, kr, n_tiles = best[1]
    return PoolTiling(th, tw, kr, n_tiles * math.ceil(layer.in_channels / hw.ti))


@lru_cache(maxsize=4096)
def add_tiling(layer: Layer, hw: NfuShape) -> AddTiling:
    """Positions per tile: both operand rows fit NBin, the sums fit NBout."""
    positions = min(hw.nbin_words // (2 * hw.ti), hw.nbout_words // hw.ti)
    if positions < 1:
        raise MappingError(
            f"layer {layer.name!r}: two {hw.ti}-word operand rows do not fit an NBin slot "
            f"of {hw.nbin_words} words: enlarge buffers.nbin.size_kib")
    pixels = layer.in_h * layer.in_w
    n_tiles = math.ceil(pixels / positions) * math.ceil(layer.in_channels / hw.ti)
    return AddTiling(positions, n_tiles)
