"""The simpy engine: turns a layer's TileWork into cycles, stalls and DRAM traffic.

``run(work, memory)`` pipelines each core's tiles through fetch, compute and drain processes
over per-core buffers and a shared DRAM; see ``pipeline`` for the exact contract and
``memory`` for the DRAM and buffer models; ``replay`` runs the same processes in numba,
event for event, when the buffers have 2 ports. May import simpy, numpy, numba, pandas, the
cost counts and errors; nothing above it (no cores, workloads or simulator).
"""

from accelsim.engine.memory import BufferSpec, DramSpec, MemorySpec
from accelsim.engine.pipeline import EngineStats, coarsen, run
from accelsim.engine.tilework import TileWork

__all__ = ["BufferSpec", "DramSpec", "EngineStats", "MemorySpec", "TileWork", "coarsen", "run"]
