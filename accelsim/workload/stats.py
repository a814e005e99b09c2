"""What the value-aware cores are fed: per-layer statistics of a network's values.

``accelsim stats`` prints them: for each layer, the zero fraction of its input (all its
inputs together), the mean length of the zero runs in that input (in memory order, C x H x W
row-major: the order a run-length or zero-run-index encoding walks), its value range, and
the zero fraction of its weights. Values come from a float32 forward pass
(:mod:`accelsim.workload.forward`) of the tensors a run would use; a fixed16 core sees the
same values rounded (its zero fractions differ by a small fraction of a point).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from accelsim.workload.forward import forward
from accelsim.workload.network import INPUT, Network
from accelsim.workload.tensors import NetworkTensors

COLUMNS = ("layer", "kind", "input_zero_fraction", "mean_zero_run", "input_min", "input_max",
           "weight_zero_fraction")


def zero_runs(values: np.ndarray) -> tuple[int, int]:
    """(zeros, runs of consecutive zeros) in ``values`` flattened row-major."""
    zero = np.asarray(values).ravel() == 0
    if not zero.any():
        return 0, 0
    starts = np.count_nonzero(zero[1:] & ~zero[:-1]) + int(zero[0])
    return int(np.count_nonzero(zero)), int(starts)


def layer_stats(network: Network, tensors: NetworkTensors) -> pd.DataFrame:
    """One row per layer with :data:`COLUMNS`."""
    values = {INPUT: tensors.input}
    last_use = network.last_use()
    rows = []
    for index, (layer, out) in enumerate(forward(network, tensors)):
        inputs = np.concatenate([values[name].ravel() for name in layer.inputs])
        zeros, runs = zero_runs(inputs)
        weights = tensors.weights.get(layer.name)
        rows.append({
            "layer": layer.name, "kind": layer.kind,
            "input_zero_fraction": zeros / inputs.size if inputs.size else 0.0,
            "mean_zero_run": zeros / runs if runs else 0.0,
            "input_min": float(inputs.min()) if inputs.size else 0.0,
            "input_max": float(inputs.max()) if inputs.size else 0.0,
            "weight_zero_fraction": (float(np.count_nonzero(weights == 0) / weights.size)
                                     if weights is not None and weights.size else np.nan),
        })
        values[layer.name] = out
        for name in layer.inputs:
            if last_use.get(name) == index:
                values.pop(name, None)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def format_stats(table: pd.DataFrame) -> str:
    """The table as text: percentages, run length in elements, the range."""
    shown = pd.DataFrame({
        "layer": table["layer"], "kind": table["kind"],
        "zeros_in%": 100 * table["input_zero_fraction"],
        "zero_run": table["mean_zero_run"],
        "in_min": table["input_min"], "in_max": table["input_max"],
        "zeros_w%": 100 * table["weight_zero_fraction"],
    })
    return shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:,.2f}")
