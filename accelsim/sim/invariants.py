"""Invariants every result keeps, checked inside the simulator before anything is printed or
written: a user cannot tell a wrong number from a right one, so the simulator must.

Two places call them, so the CLI, ``compare``, sweeps and the Python API all get them:

* :func:`check_layer`, in the layer loop of :mod:`accelsim.sim.simulate`, as soon as a
  layer's row and output exist (the output is freed later): the row's own checks below,
  the output has no NaN / inf, and the DRAM writes cover the output (see there).
* :func:`check_result`, in :meth:`accelsim.sim.results.Result.build`: every row of the final
  table (after the frame's fill and integer casts) and the network's summary.

Per row (a core's, the host unit's and a layout layer's alike):

* every count (the ``<component>_<action>`` columns, the work and traffic columns), energy
  and time is finite and >= 0; ``utilization`` and ``input_zero_fraction`` are in [0, 1];
* ``cycles >= ideal_cycles`` (the effectual work at full datapath utilization);
* effectual MACs (the sum of the ``*_mac`` count columns) ``<= macs``;
* ``stall_cycles <= cycles`` and ``compute_cycles <= cycles``;
* the per-component energies sum to ``energy_pj``;
* a layout layer (``ran_on == "layout"``, concat) takes 0 cycles and 0 ideal cycles.

Per network (:attr:`Result.summary`): every figure finite and >= 0, ``cycles >=
ideal_cycles``, stall and compute cycles ``<= cycles``, ``utilization_vs_ideal <= 1`` and
the energy parts summing to ``energy_uj``.

Compulsory DRAM traffic: only the output is checked, as only it is really compulsory. A
streaming core (every core without ``neurons_resident``: DianNao, Eyeriss, Eyeriss v2,
Phantom, SCNN, SparTen, systolic) and the host unit write every layer's output to DRAM,
compressed or not; no format stores a non-zero word in fewer bytes than the word itself, so
``dram_write_bytes >= non-zero output words x word bytes``. Not checked: DaDianNao / Cnvlutin
(``neurons_resident: true``) keep neurons in eDRAM; a layout layer moves nothing (its
producers wrote their slices); inputs and weights, because a core may rightly skip those a
strided or pruned layer never uses.

A violation raises :class:`~accelsim.errors.InvariantError`, one line naming the arch and
core, the layer, the invariant and both numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from accelsim import fixedpoint
from accelsim.errors import InvariantError
from accelsim.sim import layout

NONNEGATIVE = ("macs", "ops", "cycles", "compute_cycles", "stall_cycles", "ideal_cycles",
               "time_us", "dram_read_bytes", "dram_write_bytes", "dram_bytes", "tiles",
               "engine_steps", "engine_events")
"""The fixed columns of ``Result.layers`` that are counts or times."""
FRACTIONS = ("utilization", "input_zero_fraction")
"""The fixed columns that are fractions, in [0, 1]."""
ENERGY_RTOL = 1e-9
SUFFIX = "; a simulator bug, please report this line"


def _number(value) -> str:
    """An integral value as an int, any other float in full (``1.0000000000000002``)."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _fail(at: str, what: str) -> None:
    raise InvariantError(f"{at}: {what}{SUFFIX}")


def _finite_nonnegative(at: str, name: str, value) -> None:
    if not (math.isfinite(value) and value >= 0):
        _fail(at, f"invariant 0 <= {name} < inf broken: {name} {_number(value)}")


def _at_most(at: str, small: str, small_value, large: str, large_value) -> None:
    """``small_value <= large_value``, else the invariant with both numbers; ``large`` is
    the bound's column name, or "" for a constant bound."""
    if small_value > large_value:
        bound = f"{large} {_number(large_value)}" if large else _number(large_value)
        _fail(at, f"invariant {small} <= {large or _number(large_value)} broken: "
                  f"{small} {_number(small_value)} > {bound}")


def _parts_sum(at: str, parts: Mapping[str, float], total_name: str, total: float) -> None:
    """The energy parts add up to the total (to rounding)."""
    summed = math.fsum(parts.values())
    if not math.isclose(summed, total, rel_tol=ENERGY_RTOL, abs_tol=ENERGY_RTOL):
        _fail(at, f"invariant sum of energy parts == {total_name} broken: sum of "
                  f"{', '.join(parts)} {_number(summed)} != {total_name} {_number(total)}")


def _where(arch: str, core: str) -> str:
    return f"{arch} (core {core})"


def _at(where: str, row: Mapping) -> str:
    return f"{where}, layer {row['layer']} (ran on {row['ran_on']})"


def check_row(row: Mapping, count_columns: Iterable[str], where: str) -> None:
    """A row of ``Result.layers`` (a dict or a Series) keeps the per-row invariants;
    ``count_columns`` are its ``<component>_<action>`` columns, ``where`` the arch."""
    at = _at(where, row)
    count_columns = sorted(count_columns)
    energy = {c: row[c] for c in row.keys()
              if c.startswith("energy_") and c.endswith("_pj") and c != "energy_pj"}
    for name in (*NONNEGATIVE, *FRACTIONS, *count_columns, *energy, "energy_pj"):
        _finite_nonnegative(at, name, row[name])
    for name in FRACTIONS:
        _at_most(at, name, row[name], "", 1)
    _at_most(at, "ideal_cycles", row["ideal_cycles"], "cycles", row["cycles"])
    macs = [c for c in count_columns if c.endswith("_mac")]
    _at_most(at, f"effectual MACs ({' + '.join(macs) or 'none counted'})",
             sum(int(row[c]) for c in macs), "macs", row["macs"])
    _at_most(at, "stall_cycles", row["stall_cycles"], "cycles", row["cycles"])
    _at_most(at, "compute_cycles", row["compute_cycles"], "cycles", row["cycles"])
    _parts_sum(at, energy, "energy_pj", row["energy_pj"])
    if row["ran_on"] == layout.RAN_ON:
        for name in ("cycles", "ideal_cycles"):
            _at_most(at, name, row[name], "", 0)


def _check_output(at: str, output) -> None:
    """No NaN or inf among a float output's values (int16 codes always are finite)."""
    values = np.asarray(fixedpoint.raw(output))
    if not np.issubdtype(values.dtype, np.floating):
        return
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(at, f"invariant output finite broken: {int(bad.sum())} of {values.size} output "
                  f"values are not finite (first {_number(values[first])} at {first})")


def _check_output_written(at: str, row: Mapping, output, word_bytes: int) -> None:
    """The layer wrote at least its non-zero output words to DRAM (see the module doc)."""
    words = int(np.count_nonzero(fixedpoint.raw(output)))
    _at_most(at, f"non-zero output bytes ({words} words x {word_bytes} B)", words * word_bytes,
             "dram_write_bytes", row["dram_write_bytes"])


def check_layer(arch, row: Mapping, counts: Mapping, output, word_bytes: int) -> None:
    """One layer, in the layer loop: its row (``counts`` are the unit's raw counts), its
    output and the DRAM writes it must make. ``arch`` is the run's ArchConfig."""
    where = _where(arch.name, arch.core)
    check_row(row, [f"{component}_{action}" for component, action in counts], where)
    at = _at(where, row)
    _check_output(at, output)
    on_core = row["ran_on"] in (arch.core, f"{arch.core}.activation")   # its own units
    resident = on_core and getattr(arch.core_params, "neurons_resident", False)
    if row["ran_on"] != layout.RAN_ON and not resident:
        _check_output_written(at, row, output, word_bytes)


def check_summary(summary: pd.Series, where: str) -> None:
    """The network's totals (:attr:`Result.summary`) keep the per-network invariants."""
    at = f"{where}, network {summary['network']} (totals)"
    for name, value in summary.items():
        if isinstance(value, int | float | np.integer | np.floating):
            _finite_nonnegative(at, name, value)
    _at_most(at, "utilization_vs_ideal", summary["utilization_vs_ideal"], "", 1)
    for name in ("ideal_cycles", "stall_cycles", "compute_cycles"):
        _at_most(at, name, summary[name], "cycles", summary["cycles"])
    parts = {k: summary[k] for k in summary.index
             if k.startswith("energy_") and k.endswith("_uj") and k != "energy_uj"}
    _parts_sum(at, parts, "energy_uj", summary["energy_uj"])


def check_result(result) -> None:
    """Every row of ``result.layers`` and the network's summary (see the module doc)."""
    where = _where(result.meta.get("arch"), result.meta.get("core"))
    counts = result.counts
    count_columns = set(counts["component"] + "_" + counts["action"])
    table = result.layers   # rows as dicts of Python values (to_dict("records") is ~20 ms)
    names = list(table.columns)
    for values in zip(*(table[name].tolist() for name in names), strict=True):
        check_row(dict(zip(names, values, strict=True)), count_columns, where)
    check_summary(result.summary, where)
