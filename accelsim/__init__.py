"""accelsim: a value-aware, cycle-level simulator of DNN accelerators.

``simulate(arch, network)`` runs a network's real tensors through an accelerator core's
numba kernels (outputs and counts in one pass) and a simpy memory engine (stalls), and
returns a :class:`Result` with per-layer cycles, traffic and energy.
"""

from __future__ import annotations

from accelsim._version import __version__
from accelsim.config import ArchConfig, load_arch
from accelsim.sim.results import Result
from accelsim.sim.simulate import simulate
from accelsim.workload import (
    Network,
    NetworkTensors,
    load_network,
    load_tensors,
    make_tensors,
)

__all__ = ["ArchConfig", "Network", "NetworkTensors", "Result", "__version__", "load_arch",
           "load_network", "load_tensors", "make_tensors", "simulate"]
