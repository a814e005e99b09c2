"""Weight sharing: Deep Compression's k-means per layer (Han, Mao & Dally, ICLR 2016, sec. 3).

Each selected layer's weights are replaced by the nearest of a few shared values (the
layer's *codebook*), so a weight can be stored as a short index: ``values`` = 16 shared
values gives 4-bit indices, as EIE stores them (Han et al., ISCA 2016). Zeros (pruned
weights) stay zero and take no part in the clustering; in a layer that has zeros, the zero
is one of the ``values`` codebook entries (EIE's padding entries and pruned weights decode
to it), so ``values - 1`` clusters share its non-zero weights; a layer without zeros gets
``values`` clusters. Either way a layer ends with at most ``values`` distinct values.

Deterministic and fine-tuning-free: the centroids start linearly spaced over ``[min, max]``
of the layer's non-zero weights (the paper's linear initialisation, its best for accuracy)
and take ``iterations`` Lloyd steps in one dimension (assignment by the midpoints between
sorted centroids, ties to the lower one; an empty cluster keeps its centroid). The shared
values are the float32 centroids; fixed16 cores quantize them like any weight, which can
only merge codebook entries, never add one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload.network import Network
from accelsim.workload.tensors import NetworkTensors, with_transform_note
from accelsim.workload.transforms.profiles import check_layer_names

ITERATIONS = 20
"""Lloyd steps of the default (1-D k-means on sorted data settles in a few)."""
MAX_VALUES = 2 ** 16
"""Codebook entries at most: 16-bit indices, as many as a fixed16 weight has values."""
MAX_ITERATIONS = 1000


def kmeans_1d(values: np.ndarray, clusters: int, iterations: int = ITERATIONS) -> tuple[
        np.ndarray, np.ndarray]:
    """``(centroids, label of each value)``: 1-D k-means, linear init over [min, max]."""
    data = values.astype(np.float64)
    centroids = np.linspace(data.min(), data.max(), clusters) if data.size else \
        np.zeros(clusters)
    labels = np.zeros(data.size, dtype=np.int64)
    for _ in range(iterations):
        labels = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, data, side="left")
        sums = np.bincount(labels, weights=data, minlength=clusters)
        sizes = np.bincount(labels, minlength=clusters)
        centroids = np.where(sizes > 0, sums / np.maximum(sizes, 1), centroids)
        centroids.sort()
    labels = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, data, side="left")
    return centroids, labels


def share_weights(network: Network, tensors: NetworkTensors, values: int = 16, *,
                  iterations: int = ITERATIONS,
                  layers: Iterable[str] | None = None) -> NetworkTensors:
    """Replace each selected layer's non-zero weights by their cluster's centroid
    (module docstring); ``layers`` default: every conv and fc layer."""
    for name, value, least, most in (("values", values, 2, MAX_VALUES),
                                     ("iterations", iterations, 1, MAX_ITERATIONS)):
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
            raise WorkloadError(f"{name}: expected an integer in {least}..{most}, got {value!r}")
    chosen = list(layers) if layers is not None else [
        layer.name for layer in network.layers if layer.has_weights]
    check_layer_names(dict.fromkeys(chosen, 1.0), network, "layers",
                      ("conv", "fc", "conv3d"))
    weights = dict(tensors.weights)
    distinct = []
    for name in chosen:
        w = weights[name]
        nonzero = w != 0
        clusters = values - 1 if not nonzero.all() else values
        centroids, labels = kmeans_1d(w[nonzero], clusters, iterations)
        shared = np.zeros_like(w)
        shared[nonzero] = centroids[labels].astype(np.float32)
        weights[name] = shared
        distinct.append(len(np.unique(shared[shared != 0])))
    summary = (f"share(k-means, {values} values a layer, {iterations} iterations): "
               f"{len(chosen)} layers, at most {max(distinct, default=0)} distinct non-zero "
               "weights a layer")
    return with_transform_note(tensors, summary, weights=weights)
