"""Figures from accelsim's tables (matplotlib, without pyplot).

``style`` (colours, sizes, saving), ``data`` (reading and shaping the tables), one module
per family of figures (``bars``: speedup, cycles, energy, utilization; ``sweep``: sweep
lines and Pareto fronts; ``mesh``: a mesh core's heat map) and ``figure.make``, the
``accelsim plot`` entry point. Axis labels come from :mod:`accelsim.columns`. May import:
the sweep report (Pareto front), columns, files, errors; never the simulator itself:
figures are drawn from tables alone.
"""

from accelsim.plot.bars import cycles, energy, speedup, utilization
from accelsim.plot.data import PlotError, read_tables
from accelsim.plot.figure import KINDS, make
from accelsim.plot.mesh import mesh
from accelsim.plot.style import arch_color, save
from accelsim.plot.sweep import pareto, sweep

__all__ = ["KINDS", "PlotError", "arch_color", "cycles", "energy", "make", "mesh", "pareto",
           "read_tables", "save", "speedup", "sweep", "utilization"]
