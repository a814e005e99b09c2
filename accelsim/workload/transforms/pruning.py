"""Weight pruning: magnitude, group-wise and whole-filter, each a pure function of tensors.

* :func:`prune_magnitude` keeps the largest-magnitude weights (Han, Pool, Tran & Dally,
  "Learning both weights and connections", NIPS 2015), to one density over all layers (a
  single global threshold) or to a density per layer (e.g. the paper's Table 4 profile).
* :func:`prune_groups` removes whole (c, r, s) positions across all filters of a group
  (Lebedev & Lempitsky, "Fast ConvNets using group-wise brain damage", CVPR 2016), ranked
  by the L2 norm of the group, so the im2col matrix loses whole columns.
* :func:`prune_filters` removes whole filters, ranked by L1 norm (Li, Kadav, Durdanovic,
  Samet & Graf, "Pruning filters for efficient ConvNets", ICLR 2017), with their biases, so
  the pruned output channels are exactly zero.

Pruned weights become zeros in place: shapes do not change, so a sparse core meets the zeros
and a dense core does the same work as before. Every function returns new NetworkTensors and
never changes its arguments. Deterministic: the ``k = round(density * n)`` best-scored units
are kept, ties going to the lower flat index. Zeros already there stay zeros, so a layer
already sparser than its target keeps its own density.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload.network import Network
from accelsim.workload.tensors import NetworkTensors, with_transform_note
from accelsim.workload.transforms.profiles import check_layer_names, fractions


def keep_largest(scores: np.ndarray, keep: int) -> np.ndarray:
    """Boolean mask of the ``keep`` largest entries of a 1-D array (ties: lowest index)."""
    positive = scores > 0
    n = int(np.count_nonzero(positive))   # zeros rank last; numpy partitions many ties slowly
    if keep >= n:
        mask = positive.copy()
        mask[np.flatnonzero(~positive)[:keep - n]] = True
        return mask
    if keep <= 0:
        return np.zeros(scores.size, dtype=bool)
    values = scores[positive]
    del positive
    values.partition(n - keep)   # in place: VGG-16 fc6's scores are 0.4 GB a copy
    threshold = values[n - keep]
    del values
    mask = scores > threshold
    ties = np.flatnonzero(scores == threshold)
    mask[ties[:keep - int(np.count_nonzero(mask))]] = True
    return mask


def weight_densities(network: Network, tensors: NetworkTensors) -> dict[str, float]:
    """Fraction of non-zero weights of every conv and fc layer."""
    return {layer.name: float(np.count_nonzero(tensors.weights[layer.name])
                              / tensors.weights[layer.name].size)
            for layer in network.layers if layer.has_weights}


def prune_magnitude(network: Network, tensors: NetworkTensors,
                    density: float | Mapping[str, float], *, scope: str = "global",
                    layers: Iterable[str] | None = None) -> NetworkTensors:
    """Keep the largest weights: ``density`` of all selected weights (``scope="global"``,
    one threshold), of each selected layer (``scope="layer"``), or per layer (a mapping)."""
    targets = _targets(network, density, layers, ("conv", "fc"))
    weights = dict(tensors.weights)
    if isinstance(density, Mapping) or scope == "layer":
        for name, target in targets.items():
            w = weights[name]
            keep = keep_largest(np.abs(w).ravel(), round(target * w.size))
            weights[name] = np.where(keep.reshape(w.shape), w, np.float32(0))
        what = "per-layer densities" if isinstance(density, Mapping) else f"density {density}"
    elif scope == "global":
        names = list(targets)
        scores = np.concatenate([np.abs(weights[n]).ravel() for n in names])
        keep = keep_largest(scores, round(float(density) * scores.size))
        start = 0
        for name in names:
            w = weights[name]
            weights[name] = np.where(keep[start:start + w.size].reshape(w.shape), w,
                                     np.float32(0))
            start += w.size
        what = f"global density {density}"
    else:
        raise WorkloadError(f"prune: scope must be 'global' or 'layer', got {scope!r}")
    return _noted(network, tensors, weights, tensors.biases, f"prune(magnitude, {what})",
                  targets)


def prune_groups(network: Network, tensors: NetworkTensors,
                 density: float | Mapping[str, float], *, filters_per_group: int | None = None,
                 layers: Iterable[str] | None = None) -> NetworkTensors:
    """Zero whole (c, r, s) positions across each group of ``filters_per_group`` filters
    (default: all filters of the conv group), keeping ``density`` of the groups per layer."""
    targets = _targets(network, density, layers, ("conv",), default_kinds=("conv",))
    weights = dict(tensors.weights)
    for name, target in targets.items():
        layer, w = network.layer(name), weights[name]
        size = layer.out_channels_per_group if filters_per_group is None else filters_per_group
        if isinstance(size, bool) or not isinstance(size, int) or size < 1 or (
                layer.out_channels_per_group % size):
            raise WorkloadError(f"prune_groups: layer {name!r}: filters_per_group={size} must "
                                f"divide its {layer.out_channels_per_group} filters per group")
        m, cg, r, s = w.shape
        blocks = w.reshape(m // size, size, cg * r * s)   # filter group x filter x position
        scores = np.sqrt(np.sum(blocks.astype(np.float64) ** 2, axis=1)).ravel()
        keep = keep_largest(scores, round(target * scores.size))
        mask = keep.reshape(m // size, 1, cg * r * s)
        weights[name] = np.where(mask, blocks, np.float32(0)).reshape(w.shape)
    note = f"prune_groups({'all' if filters_per_group is None else filters_per_group} " \
           "filters a group)"
    return _noted(network, tensors, weights, tensors.biases, note, targets)


def prune_filters(network: Network, tensors: NetworkTensors,
                  density: float | Mapping[str, float], *,
                  layers: Iterable[str] | None = None) -> NetworkTensors:
    """Zero whole filters and their biases, keeping ``density`` of each layer's filters."""
    targets = _targets(network, density, layers, ("conv", "fc"), default_kinds=("conv",))
    weights, biases = dict(tensors.weights), dict(tensors.biases)
    for name, target in targets.items():
        w = weights[name]
        scores = np.sum(np.abs(w.astype(np.float64)), axis=(1, 2, 3))
        keep = keep_largest(scores, round(target * w.shape[0]))
        weights[name] = np.where(keep[:, None, None, None], w, np.float32(0))
        biases[name] = np.where(keep, biases[name], np.float32(0))
    return _noted(network, tensors, weights, biases, "prune_filters(L1)", targets)


def _targets(network: Network, density, layers, kinds: tuple[str, ...],
             default_kinds: tuple[str, ...] = ("conv", "fc")) -> dict[str, float]:
    """Layer -> target density; checks names, kinds and ranges."""
    if isinstance(density, Mapping):
        targets = fractions(density, "density")
    elif isinstance(density, bool) or not isinstance(density, (int, float)) or not (
            0.0 <= density <= 1.0):
        raise WorkloadError(f"density: expected a fraction in [0, 1] or a mapping layer -> "
                            f"fraction, got {density!r}")
    else:
        chosen = list(layers) if layers is not None else [
            layer.name for layer in network.layers if layer.kind in default_kinds]
        if layers is not None and not chosen:
            raise WorkloadError("layers: expected at least one layer name, got []")
        targets = dict.fromkeys(chosen, float(density))
    check_layer_names(targets, network, "layers" if layers is not None and not isinstance(
        density, Mapping) else "density", kinds)
    return targets


def _noted(network, tensors, weights, biases, note: str, targets) -> NetworkTensors:
    before = sum(int(np.count_nonzero(tensors.weights[n])) for n in targets)
    after = sum(int(np.count_nonzero(weights[n])) for n in targets)
    total = sum(weights[n].size for n in targets)
    summary = (f"{note}: {len(targets)} layers, weight density {before / total:.1%} -> "
               f"{after / total:.1%}") if total else f"{note}: no layers"
    changes = {"weights": weights} if biases is tensors.biases else {"weights": weights,
                                                                      "biases": biases}
    return with_transform_note(tensors, summary, **changes)
