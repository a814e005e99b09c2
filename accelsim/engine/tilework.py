"""TileWork: the one boundary between the numba kernels and the simpy engine.

A core's kernel produces, per tile (a buffer fill followed by a compute), how many cycles the
datapath is busy and how many bytes must arrive before it and leave after it. The engine only
ever sees these arrays; it never calls numba and knows nothing of layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TileWork:
    """Equal-length int64 arrays, one row per tile, in the order a core executes them.

    * ``compute_cycles``: cycles the datapath is busy on the tile.
    * ``in_bytes``, ``weight_bytes``: DRAM bytes that must be loaded before the tile starts
      (0 when the data is already resident on chip).
    * ``out_bytes``: DRAM bytes written back after the tile finishes.
    * ``core_id``: which core runs the tile (0 for a single-core chip).
    * ``noc_cycles`` (optional, default all 0): cycles the core's on-chip network link is busy
      delivering the tile's data once it has arrived from DRAM (a mesh broadcast to the
      core), before the tile can start; the link serves one tile at a time, so deliveries
      queue behind each other but overlap with the core's compute.
    """

    compute_cycles: np.ndarray
    in_bytes: np.ndarray
    weight_bytes: np.ndarray
    out_bytes: np.ndarray
    core_id: np.ndarray
    noc_cycles: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.compute_cycles)
        if self.noc_cycles is None:
            object.__setattr__(self, "noc_cycles", np.zeros(n, dtype=np.int64))
        for name in ("compute_cycles", "in_bytes", "weight_bytes", "out_bytes", "core_id",
                     "noc_cycles"):
            value = np.ascontiguousarray(getattr(self, name), dtype=np.int64)
            if value.shape != (n,):
                raise ValueError(f"TileWork.{name} must have shape ({n},), got {value.shape}")
            if (value < 0).any():
                raise ValueError(f"TileWork.{name} must be >= 0")
            object.__setattr__(self, name, value)

    @classmethod
    def single_core(cls, compute_cycles, in_bytes, weight_bytes, out_bytes) -> TileWork:
        compute_cycles = np.asarray(compute_cycles, dtype=np.int64)
        return cls(compute_cycles, in_bytes, weight_bytes, out_bytes,
                   np.zeros(len(compute_cycles), dtype=np.int64))

    def __len__(self) -> int:
        return len(self.compute_cycles)

    @property
    def n_cores(self) -> int:
        return int(self.core_id.max()) + 1 if len(self) else 0
