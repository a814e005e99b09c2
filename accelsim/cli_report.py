"""What ``accelsim run`` prints: the per-layer table, the summary and the tensors' provenance.
On a terminal, long summary lines wrap under their label to its width; into a pipe or a
file each stays one line, for grep."""

from __future__ import annotations

import shutil
import sys
import textwrap

import pandas as pd

LABEL = 14
"""Width of the summary's label column ("  cycles      ")."""


def format_layers(layers: pd.DataFrame) -> str:
    """The human-readable per-layer table."""
    table = pd.DataFrame({
        "layer": layers["layer"], "kind": layers["kind"], "ran_on": layers["ran_on"],
        "MACs(M)": layers["macs"] / 1e6, "cycles": layers["cycles"],
        "stall%": 100 * layers["stall_cycles"] / layers["cycles"].clip(lower=1),
        "util%": 100 * layers["utilization"],
        "DRAM(MB)": layers["dram_bytes"] / 1e6, "energy(uJ)": layers["energy_pj"] / 1e6,
        "zeros_in%": 100 * layers["input_zero_fraction"],
    })
    return table.to_string(index=False, float_format=lambda v: f"{v:,.2f}",
                           formatters={"cycles": "{:,}".format})


def _si(count: float) -> str:
    """1.234 G / 416.5 k style."""
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= scale:
            return f"{count / scale:,.3f} {unit}"
    return f"{count:,.0f}"


def format_summary(summary: pd.Series, meta: dict) -> str:
    lines = [
        f"network {summary['network']} on {summary['arch']} ({meta['precision']}, "
        f"{meta['clock_mhz']:g} MHz, seed {meta['seed']})",
        f"  MACs        {_si(summary['macs'])}",
        f"  cycles      {summary['cycles']:,}  (stalls {summary['stall_cycles']:,}, "
        f"ideal {summary['ideal_cycles']:,})" + (f"; prefetch {summary['prefetch_cycles']:,} "
        "more (SRAM fill / drain)" if "prefetch_cycles" in summary else ""),
        f"  time        {summary['time_ms']:,.3f} ms",
        f"  DRAM        {summary['dram_bytes'] / 1e6:,.1f} MB",
        f"  energy      {summary['energy_uj']:,.1f} uJ",
    ]
    parts = [k for k in summary.index
             if k.startswith("energy_") and k.endswith("_uj") and k != "energy_uj"]
    lines.append(_labelled("by part", ", ".join(
        f"{k[7:-3]} {summary[k]:,.1f} uJ ({summary['fj_per_mac_' + k[7:-3]]:,.0f} fJ/MAC)"
        for k in parts)))
    if "area_mm2" in summary:   # the shared area table's node; see accelsim/sim/area.py
        lines.append(_labelled("area", f"{summary['area_mm2']:,.3f} mm^2 (buffers and MACs "
                                       "only: no control, wires or pads)"))
    return "\n".join(lines)


def format_provenance(meta: dict) -> str:
    """Where the run's tensors came from, a labelled line each (wrapped)."""
    return "\n".join(_labelled(key, str(value)) for key, value in meta["tensors"].items())


def _labelled(label: str, text: str) -> str:
    """``  label       text``; on a terminal, wrapped with continuation lines indented."""
    first = f"  {label:{LABEL - 3}s} "
    if not sys.stdout.isatty():
        return first + text
    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    return textwrap.fill(text, width, initial_indent=first,
                         subsequent_indent=" " * LABEL, break_on_hyphens=False,
                         break_long_words=False)

