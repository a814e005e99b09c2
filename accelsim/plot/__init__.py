"""Figures from accelsim's tables (matplotlib, without pyplot).

``style`` (colours, sizes, saving), ``data`` (reading and shaping the tables), one module
per family of figures (``bars``: speedup, cycles, energy, utilization; ``sweep``: sweep
lines and Pareto fronts; ``search``: a search's front, parallel coordinates, progress and
importance, read by ``importance`` with Optuna's PED-ANOVA; ``mesh``: a mesh core's heat
map; ``trace``: a run's timeline, from the JSON of ``accelsim run --trace``) and
``figure.make``, the ``accelsim plot`` entry point. Axis labels come from
:mod:`accelsim.columns`. May import: the sweep report (Pareto front), columns, files,
errors; never the simulator itself: figures are drawn from tables alone.
"""

from accelsim.plot.bars import cycles, energy, speedup, utilization
from accelsim.plot.data import PlotError, read_tables
from accelsim.plot.figure import KINDS as TABLE_KINDS
from accelsim.plot.figure import make
from accelsim.plot.mesh import mesh
from accelsim.plot.search import KINDS as SEARCH_KINDS
from accelsim.plot.search import make as make_search
from accelsim.plot.search import read_trials
from accelsim.plot.style import arch_color, save
from accelsim.plot.sweep import pareto, sweep
from accelsim.plot.trace import read_trace, timeline

KINDS = TABLE_KINDS + tuple(k for k in SEARCH_KINDS if k not in TABLE_KINDS) + ("trace",)
"""Every figure ``accelsim plot`` draws: of run, comparison and sweep tables, of a
search's trials (``plot.search``: pareto, parallel, progress, importance) and of a run's
trace (``plot.trace``)."""

__all__ = ["KINDS", "SEARCH_KINDS", "PlotError", "arch_color", "cycles", "energy", "make",
           "make_search", "mesh", "pareto", "read_tables", "read_trace", "read_trials", "save",
           "speedup", "sweep", "timeline", "utilization"]
