"""accelsim: a value-aware, cycle-level simulator of DNN accelerators.

``simulate(arch, network)`` runs a network's real tensors through an accelerator core's
numba kernels (outputs and counts in one pass) and a simpy memory engine (stalls), and
returns a :class:`Result` with per-layer cycles, traffic and energy.
"""

from __future__ import annotations

__version__ = "0.1.0"

from accelsim.config import ArchConfig, load_arch  # noqa: E402
from accelsim.results import Result  # noqa: E402
from accelsim.simulate import simulate  # noqa: E402
from accelsim.workload import Network, load_network  # noqa: E402

__all__ = ["ArchConfig", "Network", "Result", "__version__", "load_arch", "load_network",
           "simulate"]
