"""The simulator proper: the one layer loop and what it returns.

``simulate`` (workload -> core -> kernels -> engine -> counts -> Result, plus
``record_values`` for runs that reuse values), ``values`` (a network's values recorded once
and reused by count-only runs), ``results`` (the Result tables and files), ``layout``
(layers no core runs, such as concat) and ``trace`` (a run's timeline as Chrome JSON). May
import configs, cores (``accelsim.arch``), the engine, cost models and workloads; never the
CLI, sweeps, plots or SCALE-Sim front end.
"""
