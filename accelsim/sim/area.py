"""A design's silicon area by part: its core's buffers and MACs priced by the shared table.

:mod:`accelsim.cost.area` holds the table and the pricing; this module says what a config
is made of, from fields every config already has: the core's SRAM components (capacity
from ``buffers`` or ``core_params``, port width from the component's ``access_bits``), and
per MAC the core can do a cycle one multiplier, one accumulating adder and its pipeline
registers. Scratchpads (names ending in a ``per_pe_suffixes`` entry of the table) are
repeated once per PE. DRAM, networks and control logic have no area here.

Areas are at the table's node (45 nm, like the default energy prices), in the run's
summary as ``area_mm2`` and ``area_<part>_mm2``.
"""

from __future__ import annotations

import functools

from accelsim.arch import core_module
from accelsim.config import ArchConfig
from accelsim.cost.area import AreaPart, area_table, part_areas_mm2
from accelsim.workload import load_network


@functools.cache
def _dense_conv():
    """A dense conv layer: what a core's peak MACs per cycle is measured on."""
    return next(layer for layer in load_network("lenet5").layers if layer.kind == "conv")


def area_parts(arch: ArchConfig) -> list[AreaPart]:
    """The parts of ``arch`` the area table prices (see the module docstring)."""
    core = core_module(arch.core).Core(arch)
    table = area_table()
    macs = int(getattr(core, "area_multipliers", 0) or core.peak_per_cycle(_dense_conv()))
    pes = max(1, macs // int(getattr(core.params, "macs_per_pe", 1) or 1))
    bits = 8 * core.word_bytes
    floating = arch.precision == "fp32"
    parts = []
    for component in core.components():
        if component.kind != "sram":
            continue
        per_pe = any(component.name.endswith(s) for s in table["per_pe_suffixes"])
        parts.append(AreaPart(component.name, "sram", pes if per_pe else 1,
                              size_bytes=component.size_bytes, bits=bits,
                              port_bits=component.access_bits or bits))
    parts.append(AreaPart("multipliers", "multiplier", macs, bits=bits, floating=floating))
    parts.append(AreaPart("adders", "adder", macs, bits=2 * bits, floating=floating))
    parts.append(AreaPart("mac_registers", "register", macs,
                          bits=table["mac_register_words"] * bits))
    return parts


def design_area(arch: ArchConfig, node_nm: float | None = None) -> dict[str, float]:
    """``{"area_mm2": total, "area_<part>_mm2": ...}`` of ``arch`` at ``node_nm`` (default:
    the table's node)."""
    node = node_nm if node_nm is not None else area_table()["node_nm"]
    parts = part_areas_mm2(area_parts(arch), node)
    return {"area_mm2": sum(parts.values()),
            **{f"area_{name}_mm2": mm2 for name, mm2 in parts.items()}}
