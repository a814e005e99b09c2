"""SCALE-Sim topology rows on every command: each row its own network, its N:M applied.

``accelsim run``, ``compare`` and ``sweep`` load workloads with :func:`load_workloads` (a
topology CSV: one network per row, as SCALE-Sim runs it; anything else: one network) and
hand every (arch, row) to :func:`topology_row` before simulating it, so a row's ``Sparsity``
N:M prunes the same weights, and sets the same timing, whichever command runs it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from accelsim.config import ArchConfig, with_overrides
from accelsim.workload import Network, load_network
from accelsim.workload.formats import topology_csv as topo


def load_workloads(name_or_path: str | Path | Network, *, expand_dp: bool = False,
                   kind: str | None = None) -> tuple[Network, ...]:
    """A SCALE-Sim topology CSV as one network per row (``expand_dp``: a ``DP`` row as
    SCALE-Sim's per-channel layers; ``kind``: conv or gemm, else from the header); any other
    workload as :func:`accelsim.workload.load_network` loads it, alone."""
    if isinstance(name_or_path, Network):
        return (name_or_path,)
    path = Path(name_or_path)
    if path.suffix.lower() == ".csv" and path.is_file():
        return topo.load_topology(path, expand_dp=expand_dp, kind=kind)
    return (load_network(name_or_path),)


def topology_row(arch: ArchConfig, network: Network, tensors):
    """The arch and tensors of one topology row: with a ``Sparsity`` N:M the weights pruned to
    it; on a systolic arch with ``sparsity_support`` the row's N:M set for the timing and the
    weights pruned where SCALE-Sim's timing assumes (the first N of every M; with the optimized
    mapping, every layer at its drawn per-filter pattern), so values and timing agree. Dense
    rows and other cores: the arch and tensors unchanged."""
    n, m = getattr(network, "sparsity", (1, 1))
    params = arch.core_params if arch.core == "systolic" else None
    scalesim = bool(params and params.sparsity_support)
    if scalesim and (params.sparsity_n, params.sparsity_m) != (n, m):
        arch = with_overrides(arch, {"core_params.sparsity_n": n, "core_params.sparsity_m": m})
    if scalesim and params.sparsity_optimized_mapping:
        block, seed = params.sparsity_block_size, params.sparsity_seed
        weights = {}
        for layer in (lyr for lyr in network.layers if lyr.name in tensors.weights):
            w = tensors.weights[layer.name]
            counts = np.tile(topo.optimized_counts(layer.out_channels_per_group, block, seed),
                             layer.groups)
            keep = np.arange(w[0].size)[None, :] % block < counts[:, None]
            weights[layer.name] = topo.prune_to(w, keep)
        how = f"per filter, as SCALE-Sim's optimized mapping draws (BlockSize {block})"
    elif n == m:
        return arch, tensors
    else:
        weights = {name: topo.prune_n_m(w, n, m, first=scalesim)
                   for name, w in tensors.weights.items()}
        how = f"{n}:{m}, " + ("first N of every M, as SCALE-Sim times them" if scalesim
                              else "largest magnitudes")
    return arch, dataclasses.replace(tensors, weights={**tensors.weights, **weights},
                                     provenance={**tensors.provenance, "weights":
                                                 f"{tensors.provenance['weights']}, pruned "
                                                 f"{how}"})
