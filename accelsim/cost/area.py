"""Silicon area of a design's parts, from one shared table of published figures.

The table (``area_table.yaml`` beside this module) lists SRAM macros by capacity (CACTI
figures from Accelergy's reference outputs, 45 nm), flip-flop storage per bit, and integer
multipliers and adders by width (Horowitz, ISSCC 2014, 45 nm); each number's source is
written next to it. This module applies it to a list of :class:`AreaPart` (what a core is
made of; :mod:`accelsim.sim.area` builds the list from a config) and scales the result to
the design's node by the square of the feature size.

Not modelled: SRAM ports and row width (the table's SRAMs are one-port, so a wide or
multi-port buffer is priced as a one-port one of its capacity), control, clock tree,
network wires, pads and placement density. A chip is therefore larger than the sum of
its parts here: ``benchmarks/reproduce_area.py`` prints the gap for DianNao and Eyeriss.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

TABLE_PATH = Path(__file__).with_name("area_table.yaml")
PartKind = Literal["sram", "multiplier", "adder"]


@dataclass(frozen=True)
class AreaPart:
    """``count`` copies of an SRAM buffer of ``size_bytes`` or an arithmetic unit
    ``bits`` wide (``float`` units: 32-bit floating point)."""

    name: str
    kind: PartKind
    count: int = 1
    size_bytes: int = 0
    bits: int = 16
    floating: bool = False


@functools.cache
def area_table() -> dict:
    """The shared table, as written in ``area_table.yaml``."""
    return yaml.safe_load(TABLE_PATH.read_text())


def node_scale(node_nm: float, table: dict | None = None) -> float:
    """Area at ``node_nm`` over area at the table's node: the square of the feature sizes'
    ratio (ideal scaling)."""
    if node_nm <= 0:
        raise ValueError(f"node_nm must be > 0, got {node_nm}")
    return (node_nm / (table or area_table())["node_nm"]) ** 2


def _log_log(points: dict[float, float], x: float) -> float:
    """Interpolate ``points`` (x -> y) log-log; the end segments extend beyond them."""
    xs = sorted(points)
    if len(xs) == 1:
        return points[xs[0]] * x / xs[0]
    low = max(0, min(len(xs) - 2, sum(1 for v in xs if v <= x) - 1))
    x0, x1 = xs[low], xs[low + 1]
    slope = math.log(points[x1] / points[x0]) / math.log(x1 / x0)
    return points[x0] * (x / x0) ** slope


def sram_um2(size_bytes: int, table: dict | None = None) -> float:
    """One buffer of ``size_bytes`` at the table's node: an SRAM macro by capacity; below
    the table's smallest SRAM, registers, but never more than that SRAM (which would hold
    it), so area never falls as capacity grows."""
    table = table or area_table()
    if size_bytes <= 0:
        raise ValueError(f"size_bytes must be > 0, got {size_bytes}")
    macros = {row["bytes"]: row["um2"] for row in table["sram"]}
    smallest = min(macros)
    if size_bytes < smallest:
        return min(8 * size_bytes * table["register_um2_per_bit"], macros[smallest])
    return _log_log(macros, size_bytes)


def unit_um2(kind: PartKind, bits: int, floating: bool = False,
             table: dict | None = None) -> float:
    """One multiplier or adder of ``bits`` (or a 32-bit floating point one)."""
    table = table or area_table()
    if floating:
        return table[f"fp32_{kind}_um2"]
    return _log_log({float(k): v for k, v in table[f"{kind}_um2"].items()}, bits)


def part_areas_mm2(parts: list[AreaPart], node_nm: float,
                   table: dict | None = None) -> dict[str, float]:
    """Area (mm^2) of each named part (all its copies) at ``node_nm``; parts of one name
    add up."""
    table = table or area_table()
    scale = node_scale(node_nm, table) / 1e6
    areas: dict[str, float] = {}
    for part in parts:
        if part.kind == "sram":
            one = sram_um2(part.size_bytes, table)
        elif part.kind in ("multiplier", "adder"):
            one = unit_um2(part.kind, part.bits, part.floating, table)
        else:
            raise ValueError(f"part {part.name!r}: unknown kind {part.kind!r}")
        areas[part.name] = areas.get(part.name, 0.0) + part.count * one * scale
    return areas
