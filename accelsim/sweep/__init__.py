"""Design-space sweeps: a grid of config values on several workloads, run in parallel and
resumable after a kill.

``spec`` (the sweep file and its checks), ``runner`` (points, runs, store keys, the tables),
``executor`` (this process, local processes or a Dask cluster; values computed once per
worker), ``store`` (one file per finished run, written atomically) and ``report`` (progress
bar, summary, Pareto front). May import the simulator (``accelsim.sim``), configs and
workloads; never the CLI or the plots.
"""

from accelsim.sweep.report import pareto_front
from accelsim.sweep.runner import SweepResult, plan, points, run_sweep, runs_directory
from accelsim.sweep.spec import Sweep, SweepError, load_sweep, make_sweep, sweep_from_dict

__all__ = ["Sweep", "SweepError", "SweepResult", "load_sweep", "make_sweep", "pareto_front",
           "plan", "points", "run_sweep", "runs_directory", "sweep_from_dict"]
