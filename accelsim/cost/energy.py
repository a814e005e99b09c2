"""Energy = raw counts x a price per (component, action); re-pricing needs no re-run.

Default prices are Horowitz, "Computing's Energy Problem (and what we can do about it)",
ISSCC 2014, for 45 nm at 0.9 V (see published-anchors §11.1):

* SRAM, one 64-bit read: 10 pJ at 8 KB, 20 pJ at 32 KB, 100 pJ at 1 MB
  (:func:`sram_access_pj` interpolates between them);
* integer multiply: 8-bit 0.2 pJ, 32-bit 3.1 pJ; integer add: 16-bit 0.05, 32-bit 0.1 pJ;
* floating point, 32-bit: add 0.9 pJ, multiply 3.7 pJ;
* DRAM: 640 pJ per 32-bit access (the table of Han et al., NIPS 2015, derived from
  Horowitz), i.e. :data:`DRAM_PJ_PER_BYTE` = 160 pJ per byte.

Two defaults are ours, not Horowitz's: a ``logic`` action (an encoder or dispatcher step on one
word) costs one 16-bit add at the datapath precision (:func:`op_pj`), and a ``noc`` hop moves
``access_bits`` over ``hop_mm`` of wire at :data:`NOC_PJ_PER_BIT_MM` (about 0.1 pJ per bit per
mm, the usual order of magnitude for on-chip wires at 28-45 nm).

These are 45 nm figures; a config for another node, or with a paper's own measured numbers,
overrides any of them through the arch YAML's ``energy_pj`` section.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from accelsim.cost.counts import Counts
from accelsim.errors import AccelsimError, ConfigError, did_you_mean

# Horowitz ISSCC 2014, 45 nm: 64-bit SRAM read energy by capacity.
SRAM_ANCHOR_BYTES = (8 * 1024, 32 * 1024, 1024 * 1024)
SRAM_ANCHOR_PJ = (10.0, 20.0, 100.0)
SRAM_ANCHOR_BITS = 64

INT8_MULT_PJ = 0.2
# Not in Horowitz's table: multiplier energy grows as bits^2, so 16-bit = 0.2 x 4 = 0.8
# (the same rule gives 32-bit 0.2 x 16 = 3.2, against the published 3.1).
INT16_MULT_PJ = INT8_MULT_PJ * (16 / 8) ** 2
INT16_ADD_PJ = 0.05
INT32_ADD_PJ = 0.1
FP32_ADD_PJ = 0.9
FP32_MULT_PJ = 3.7
DRAM_PJ_PER_BYTE = 640.0 / 4  # 640 pJ per 32-bit access
NOC_PJ_PER_BIT_MM = 0.1

# A MAC is a multiply plus an accumulate; the fixed16 accumulator is 32 bits wide.
_MAC_PJ = {"fixed16": round(INT16_MULT_PJ + INT32_ADD_PJ, 6),  # 0.9
           "fp32": round(FP32_MULT_PJ + FP32_ADD_PJ, 6)}  # 4.6
# A lone add or compare (pooling, residual add) works on stored 16-bit values, not on the
# 32-bit accumulator, so fixed16 pays a 16-bit add.
_OP_PJ = {"fixed16": INT16_ADD_PJ, "fp32": FP32_ADD_PJ}

ComponentKind = Literal["sram", "mac", "dram", "logic", "noc"]
ACTIONS_BY_KIND: dict[str, tuple[str, ...]] = {
    "sram": ("read", "write", "fill"),
    "mac": ("mac", "mac_skipped", "op"),
    "dram": ("read_byte", "write_byte"),
    "logic": ("op",),
    "noc": ("hop",),
}


@dataclass(frozen=True)
class Component:
    """A priced part of a core by the paper's name: an SRAM buffer, a MAC array, DRAM, a
    piece of control logic (encoder, dispatcher) or a network link.

    ``size_bytes`` matters only for SRAM; ``access_bits`` (one access's or one hop's width)
    for SRAM and NoC; ``hop_mm`` (wire length of one hop) only for NoC. ``energy_scale``
    multiplies every price of the component, the arch YAML's ``energy_pj`` overrides
    included (a supply voltage below nominal: ``(V / V_nominal) ** 2``).
    """

    name: str
    kind: ComponentKind
    size_bytes: int = 0
    access_bits: int = 0
    hop_mm: float = 1.0
    energy_scale: float = 1.0

    def __post_init__(self):
        if self.kind not in ACTIONS_BY_KIND:
            raise ValueError(f"component {self.name!r}: kind must be one of "
                             f"{', '.join(ACTIONS_BY_KIND)}, got {self.kind!r}")
        if self.kind == "sram" and (self.size_bytes <= 0 or self.access_bits <= 0):
            raise ValueError(f"component {self.name!r}: an sram needs size_bytes > 0 and "
                             f"access_bits > 0, got {self.size_bytes} and {self.access_bits}")
        if self.kind == "noc" and (self.access_bits <= 0 or self.hop_mm <= 0):
            raise ValueError(f"component {self.name!r}: a noc needs access_bits > 0 and "
                             f"hop_mm > 0, got {self.access_bits} and {self.hop_mm}")


def sram_access_pj(size_bytes: int, access_bits: int) -> float:
    """Energy of one ``access_bits``-wide access to an SRAM of ``size_bytes``.

    The 64-bit energy is interpolated log-log in capacity through Horowitz's three points
    (exact at 8 KB, 32 KB and 1 MB; beyond them the end segments' slopes extend the line),
    then scaled linearly by ``access_bits / 64``. That scaling over-estimates wide accesses
    to arrays of few, long rows (one wide row costs far less than width / 64 separate reads):
    DianNao's own 32 KB SB, 4096 bits per cycle, burns about 1.7 pJ per 64 bits by its
    reported 105 mW at 0.98 GHz (65 nm), not 20. The arch YAML's ``energy_pj`` overrides any
    value.
    """
    if size_bytes <= 0 or access_bits <= 0:
        raise ValueError(f"size_bytes and access_bits must be > 0, "
                         f"got {size_bytes} and {access_bits}")
    sizes, energies = SRAM_ANCHOR_BYTES, SRAM_ANCHOR_PJ
    low = min(max(bisect_right(sizes, size_bytes) - 1, 0), len(sizes) - 1)  # anchor below
    other = low + 1 if low + 1 < len(sizes) else low - 1  # its neighbour sets the slope
    slope = math.log(energies[other] / energies[low]) / math.log(sizes[other] / sizes[low])
    return energies[low] * (size_bytes / sizes[low]) ** slope * access_bits / SRAM_ANCHOR_BITS


def mac_pj(precision: str) -> float:
    """One multiply-accumulate: fixed16 = 16-bit multiply + 32-bit add; fp32 = FP mult + add."""
    return _MAC_PJ[_checked_precision(precision)]


def op_pj(precision: str) -> float:
    """One lone add or compare (pooling, residual add) at the datapath's precision."""
    return _OP_PJ[_checked_precision(precision)]


def energy_table(components: list[Component], precision: str,
                 overrides: dict[str, dict[str, float]],
                 origin: str = "") -> dict[tuple[str, str], float]:
    """Price of every (component, action) the components can do, with overrides applied.

    Overrides come from the arch YAML's ``energy_pj`` (already type-checked by the loader);
    one naming a component or action that does not exist is a :class:`ConfigError`.
    """
    table: dict[tuple[str, str], float] = {}
    kinds: dict[str, str] = {}
    for component in components:
        if component.name in kinds:
            raise ValueError(f"component {component.name!r} is listed twice")
        kinds[component.name] = component.kind
        table.update(((component.name, action), pj)
                     for action, pj in _default_prices(component, precision).items())
    prefix = f"{origin}: " if origin else ""
    problems = []
    for name, actions in overrides.items():
        if name not in kinds:
            problems.append(f"{prefix}energy_pj.{name}: unknown component"
                            f"{did_you_mean(name, list(kinds), True)}")
            continue
        for action, pj in actions.items():
            if (name, action) not in table:
                known = list(ACTIONS_BY_KIND[kinds[name]])
                problems.append(f"{prefix}energy_pj.{name}.{action}: unknown action for "
                                f"{kinds[name]} {name!r}{did_you_mean(action, known, True)}")
            else:
                table[(name, action)] = float(pj)
    if problems:
        raise ConfigError(problems)
    for component in components:
        if component.energy_scale != 1.0:
            for action in ACTIONS_BY_KIND[component.kind]:
                table[(component.name, action)] *= component.energy_scale
    return table


def price(counts: Counts, table: dict[tuple[str, str], float]) -> pd.DataFrame:
    """Energy per (component, action): count x pj_per_action, sorted by component, action."""
    missing = sorted(key for key in counts if key not in table)
    if missing:
        raise AccelsimError("no energy price for "
                            + ", ".join(f"({c}, {a})" for c, a in missing))
    keys = sorted(counts)
    if not keys:   # Counts.to_frame's empty table (object columns), priced as ever
        frame = counts.to_frame()
        frame["pj_per_action"] = pd.Series([], dtype="float64")
        frame["energy_pj"] = frame["count"] * frame["pj_per_action"]
        return frame
    # one constructor call from whole columns (a frame per layer: column by column cost
    # 4x more); the same table as Counts.to_frame plus the two priced columns
    count = np.fromiter((int(counts[key]) for key in keys), dtype=np.int64, count=len(keys))
    pj = np.fromiter((table[key] for key in keys), dtype=np.float64, count=len(keys))
    return pd.DataFrame({"component": [key[0] for key in keys],
                         "action": [key[1] for key in keys],
                         "count": count, "pj_per_action": pj, "energy_pj": count * pj})


def _default_prices(component: Component, precision: str) -> dict[str, float]:
    if component.kind == "sram":
        access_pj = sram_access_pj(component.size_bytes, component.access_bits)
        return {"read": access_pj, "write": access_pj, "fill": access_pj}
    if component.kind == "mac":
        return {"mac": mac_pj(precision), "mac_skipped": 0.0, "op": op_pj(precision)}
    if component.kind == "logic":
        return {"op": op_pj(precision)}
    if component.kind == "noc":
        return {"hop": NOC_PJ_PER_BIT_MM * component.access_bits * component.hop_mm}
    return {"read_byte": DRAM_PJ_PER_BYTE, "write_byte": DRAM_PJ_PER_BYTE}


def _checked_precision(precision: str) -> str:
    if precision not in _MAC_PJ:
        raise ValueError(f"precision must be one of {', '.join(_MAC_PJ)}, got {precision!r}")
    return precision
