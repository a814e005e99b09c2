"""The mesh heat map: each core's thread utilization, per layer, for mesh cores (Phantom-2D).

Input: per-layer rows (``Result.layers`` with ``arch``, or a comparison's layers table) that
carry a mesh core's statistics: ``mesh_rows``, ``mesh_cols``, ``threads_per_core`` and
``core_NNN_macs`` per core (:mod:`accelsim.arch.phantom`). A core's utilization in a layer is
its effectual MACs over the layer's cycles x its threads, so a core that finished early (load
imbalance) or waited (stalls) shows dark. One row of panels per architecture, one panel per
conv / fc layer (wrapped into blocks of rows); under each panel, the slowest core's cycles
over the mean (1.00 = balanced).
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from accelsim.plot.data import PlotError, one_workload, require
from accelsim.plot.style import STYLE, styled


def _mesh_layers(layers: pd.DataFrame) -> pd.DataFrame:
    require(layers, ["mesh_rows", "mesh_cols", "threads_per_core", "arch"], "mesh")
    rows = layers[layers["kind"].isin(["conv", "fc"]) & layers["mesh_rows"].notna()]
    if rows.empty:
        raise PlotError("the mesh figure needs conv or fc layers of a mesh core "
                        "(e.g. phantom2d)")
    return rows


def core_utilization(row: pd.Series) -> np.ndarray:
    """``mesh_rows x mesh_cols`` utilization of one layer's cores."""
    rows, cols = int(row["mesh_rows"]), int(row["mesh_cols"])
    macs = np.array([row.get(f"core_{c:03d}_macs", 0.0) for c in range(rows * cols)], float)
    denominator = float(row["cycles"]) * float(row["threads_per_core"])
    util = macs / denominator if denominator else np.zeros_like(macs)
    return np.nan_to_num(util).reshape(rows, cols)


def imbalance(row: pd.Series) -> float:
    """The slowest core's compute cycles over the mean core's (1.0: perfectly balanced)."""
    cores = int(row["mesh_rows"]) * int(row["mesh_cols"])
    cycles = np.array([row.get(f"core_{c:03d}_cycles", 0.0) for c in range(cores)], float)
    return float(cycles.max() / cycles.mean()) if cycles.mean() > 0 else 1.0


LAYERS_PER_ROW = 12


@styled
def mesh(layers: pd.DataFrame, workload: str | None = None) -> Figure:
    """Heat maps of per-core utilization: layers across (wrapped every
    :data:`LAYERS_PER_ROW`), one row of panels per architecture in each block."""
    layers, workload = one_workload(layers, workload)
    layers = _mesh_layers(layers)
    archs = list(dict.fromkeys(layers["arch"]))
    names = list(dict.fromkeys(layers["layer"]))
    per_row = min(len(names), LAYERS_PER_ROW)
    blocks = -(-len(names) // per_row)
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(1.6 + 0.95 * per_row, 0.7 + 1.35 * len(archs) * blocks),
                        layout="constrained")
        axes = figure.subplots(len(archs) * blocks, per_row, squeeze=False)
    image = None
    for i, arch in enumerate(archs):
        by_layer = layers[layers["arch"] == arch].set_index("layer")
        for index in range(blocks * per_row):
            block, j = divmod(index, per_row)
            ax = axes[block * len(archs) + i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            name = names[index] if index < len(names) else None
            if name is None or name not in by_layer.index:
                ax.set_axis_off()
                continue
            row = by_layer.loc[name]
            image = ax.imshow(core_utilization(row), vmin=0, vmax=1, cmap="viridis")
            ax.set_xlabel(f"{imbalance(row):.2f}", fontsize=7, labelpad=2)
            ax.set_title(name, fontsize=7)
            if j == 0:
                ax.set_ylabel(arch, fontsize=8)
    if image is not None:
        bar = figure.colorbar(image, ax=axes, shrink=0.8, pad=0.01)
        bar.set_label("core thread utilization", fontsize=8)
    figure.suptitle(f"{workload}: per-core utilization of the mesh (below each: slowest "
                    "core / mean core cycles)", fontsize=9)
    return figure
