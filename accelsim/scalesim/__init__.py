"""The SCALE-Sim front end: its ``.cfg`` files read as systolic arch configs (``config``)
and its report CSVs written from a Result (``reports``). SCALE-Sim's topology CSVs are a
workload format (``accelsim.workload.formats.topology_csv``) and its memory timing a kernel
(``accelsim.kernels.scalesim_memory``). May import configs, workloads and results; never
the CLI, sweeps or plots.
"""
