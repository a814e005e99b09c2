"""Silicon area of a design's parts, from one shared table of published figures.

The table (``area_table.yaml`` beside this module) lists SRAM macros by capacity and port
width (CACTI 7 at 45 nm), flip-flop storage per bit (Aladdin, 40 nm), and 32-bit integer
multipliers and adders (Horowitz, ISSCC 2014, 45 nm); each number's source is written next
to it, each figure at its own node. This module applies it to a list of :class:`AreaPart`
(what a core is made of; :mod:`accelsim.sim.area` builds the list from a config) and scales
every figure to the design's node by the square of the feature sizes.

The rules are ours (the table says which): a buffer is its cheapest banking into equal
macros (a 4096-bit port as many narrow banks), a buffer of few words is a register file
(flip-flops), a w-bit multiplier is (w/32)^2 of the 32-bit one and an adder w/32.

Not modelled: control, clock tree, network wires and routers, pads and placement density.
``benchmarks/reproduce_area.py`` prints, part by part, how far DianNao and Eyeriss fall
from their published areas.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

TABLE_PATH = Path(__file__).with_name("area_table.yaml")
PartKind = Literal["sram", "register", "multiplier", "adder"]


@dataclass(frozen=True)
class AreaPart:
    """``count`` copies of an SRAM buffer of ``size_bytes`` in ``bits``-bit words read
    ``port_bits`` a cycle, a register of ``bits`` flip-flops, or an arithmetic unit ``bits``
    wide (``floating``: 32-bit floating point)."""

    name: str
    kind: PartKind
    count: int = 1
    size_bytes: int = 0
    bits: int = 16
    floating: bool = False
    port_bits: int = 16


@functools.cache
def area_table() -> dict:
    """The shared table, as written in ``area_table.yaml``."""
    return yaml.safe_load(TABLE_PATH.read_text())


def node_scale(node_nm: float, table: dict | None = None, from_nm: float | None = None
               ) -> float:
    """Area at ``node_nm`` over area at ``from_nm`` (default: the table's node): the
    square of the feature sizes' ratio (ideal scaling)."""
    if node_nm <= 0:
        raise ValueError(f"node_nm must be > 0, got {node_nm}")
    return (node_nm / (from_nm or (table or area_table())["node_nm"])) ** 2


def _log_log(points: dict[float, float], x: float) -> float:
    """Interpolate ``points`` (x -> y) log-log; the end segments extend beyond them."""
    xs = sorted(points)
    if len(xs) == 1:
        return points[xs[0]] * x / xs[0]
    low = max(0, min(len(xs) - 2, sum(1 for v in xs if v <= x) - 1))
    x0, x1 = xs[low], xs[low + 1]
    slope = math.log(points[x1] / points[x0]) / math.log(x1 / x0)
    return points[x0] * (x / x0) ** slope


def macro_um2(size_bytes: float, port_bits: float, table: dict | None = None) -> float:
    """One SRAM macro of ``size_bytes`` and a ``port_bits`` port, at the table's node:
    log-log in capacity within each port width of the grid, then log-log across widths."""
    table = table or area_table()
    grid = {int(p): {int(s): float(a) for s, a in row.items()}
            for p, row in table["sram_um2"].items()}
    by_port = {p: _log_log(row, size_bytes) for p, row in grid.items()}
    return _log_log(by_port, port_bits) * node_scale(table["node_nm"], table,
                                                     table["sram_node_nm"])


def sram_um2(size_bytes: int, port_bits: int = 16, table: dict | None = None,
             word_bits: int = 16) -> float:
    """One buffer of ``size_bytes`` of ``word_bits`` words read ``port_bits`` a cycle, at
    the table's node: a register file (flip-flops) when :func:`is_register_file`, else its
    cheapest banking into 1, 2, 4, ... equal macros."""
    table = table or area_table()
    if size_bytes <= 0:
        raise ValueError(f"size_bytes must be > 0, got {size_bytes}")
    if port_bits <= 0:
        raise ValueError(f"port_bits must be > 0, got {port_bits}")
    if is_register_file(size_bytes, word_bits, table):
        return 8 * size_bytes * register_um2_per_bit(table)
    narrowest = min(int(p) for p in table["sram_um2"])
    smallest = min(int(s) for s in table["sram_um2"][narrowest])
    port = max(port_bits, narrowest)
    best, banks = math.inf, 1
    while banks == 1 or (port / banks >= narrowest and size_bytes / banks >= smallest):
        best = min(best, banks * macro_um2(size_bytes / banks, port / banks, table))
        banks *= 2
    return best


def is_register_file(size_bytes: int, word_bits: int = 16, table: dict | None = None
                     ) -> bool:
    """Whether a buffer is built of flip-flops: it holds fewer than
    ``register_file_max_words`` words of ``word_bits``, or less than the grid's smallest
    SRAM."""
    table = table or area_table()
    narrowest = min(int(p) for p in table["sram_um2"])
    smallest = min(int(s) for s in table["sram_um2"][narrowest])
    return (size_bytes < smallest
            or 8 * size_bytes < table["register_file_max_words"] * word_bits)


def register_um2_per_bit(table: dict | None = None) -> float:
    """One flip-flop bit at the table's node."""
    table = table or area_table()
    return table["register_um2_per_bit"] * node_scale(table["node_nm"], table,
                                                      table["register_node_nm"])


def unit_um2(kind: PartKind, bits: int, floating: bool = False,
             table: dict | None = None) -> float:
    """One multiplier ((bits/32)^2 of the 32-bit one) or adder (bits/32 of it), or a 32-bit
    floating point one, at the table's node."""
    table = table or area_table()
    scale = node_scale(table["node_nm"], table, table["unit_node_nm"])
    if floating:
        return table[f"fp32_{kind}_um2"] * scale
    exponent = 2 if kind == "multiplier" else 1
    return table[f"{kind}_32b_um2"] * (bits / 32) ** exponent * scale


def part_areas_mm2(parts: list[AreaPart], node_nm: float,
                   table: dict | None = None) -> dict[str, float]:
    """Area (mm^2) of each named part (all its copies) at ``node_nm``; parts of one name
    add up."""
    table = table or area_table()
    scale = node_scale(node_nm, table) / 1e6
    areas: dict[str, float] = {}
    for part in parts:
        if part.kind == "sram":
            one = sram_um2(part.size_bytes, part.port_bits, table, part.bits)
        elif part.kind == "register":
            one = part.bits * register_um2_per_bit(table)
        elif part.kind in ("multiplier", "adder"):
            one = unit_um2(part.kind, part.bits, part.floating, table)
        else:
            raise ValueError(f"part {part.name!r}: unknown kind {part.kind!r}")
        areas[part.name] = areas.get(part.name, 0.0) + part.count * one * scale
    return areas
