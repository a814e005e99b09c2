"""Binarized layers: Binary-Weight-Networks / BinaryConnect and XNOR-Net, fine-tuning-free.

* ``mode: weights`` (BinaryConnect, Courbariaux et al., NIPS 2015; Binary-Weight-Networks,
  Rastegari et al., ECCV 2016, sec. 3.1): each filter becomes ``alpha * sign(W)`` with
  ``alpha`` its mean ``|W|`` (BWN's optimal scale; BinaryConnect has no scale, and its
  networks are trained with it). Activations stay at the arch's precision.
* ``mode: xnor`` (XNOR-Net, sec. 3.2): the weights as above and the layer's input
  activations binarized as well: the layer computes ``(sign(I) (*) sign(W)) . K alpha``,
  ``K`` being the mean ``|I|`` over each output's window (``A`` = mean over channels of
  ``|I|``, ``K = A * k`` with ``k = 1 / (w h)``; :func:`accelsim.workload.forward.
  scaling_map`), then the bias and the fused ReLU.

``sign(0) = +1`` (BinaryNet's rule, so every operand is one bit; a pruned weight becomes
``+alpha``). ``layers`` default: every conv and fc layer except the network's first and
last weighted layers, which stay at full precision as in XNOR-Net (its AlexNet binarizes
layers 2 to n-1: ``allenai/XNOR-Net``, ``util.lua``, ``binarizeConvParms``; ``models/
alexnetxnor.lua``). Name them in ``layers`` to binarize them too.

Values stay real tensors: the weights are replaced by their +-alpha values, and each layer
gets ``LayerPrecision(weights=1, binarized=mode)`` (``activations=1`` too for ``xnor``) in
``NetworkTensors.precision`` (:mod:`accelsim.workload.precision`), which the float forward
pass and the layer loop read. How the cores run the result:

=======================  =================================================================
core                     a binarized layer
=======================  =================================================================
``stripes``,             XNOR layers in one bit-serial pass (1-bit activations: a conv
``pragmatic``            layer ~1/16 of DaDianNao's time, an fc layer at DaDianNao's pace),
                         outputs and counts (``xnor_ops``, ``popcount_words``) from the
                         XNOR-popcount kernel (:mod:`accelsim.kernels.xnor`; padded taps
                         are zeros, as XNOR-Net pads after binarizing); fixed16 only;
                         weights-only layers are ordinary layers (Stripes serializes
                         activations, not weights)
every other core         the +-alpha weights and (xnor) the +-1 inputs as ordinary 16-bit
                         (fp32) values: the same work and cycles as a full-precision layer,
                         no speedup; XNOR's ``K`` scaling, bias and ReLU in the output stage
                         (:mod:`accelsim.sim.binarized`)
=======================  =================================================================

Zero-skipping cores (Cnvlutin, SCNN, SparTen, Phantom, Eyeriss v2) see no zero in a +-1
input and none in +-alpha weights, so a binarized layer loses their skipping too.

Accuracy: XNOR-Net and BinaryConnect train their networks binarized; this transform does
not retrain. On the shipped digits CNN top-1 falls to chance for both modes
(``benchmarks/reproduce_binarized.py``): a pruned network's zeros all become ``+alpha``.
XNOR-Net binarizes centred activations (its blocks are BatchNorm, sign, conv); in a network
without batch normalization an xnor layer's input is a ReLU output, all ``>= 0``, so every
sign is +1 and only ``K`` carries information.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload.network import Network
from accelsim.workload.precision import BINARIZED, LayerPrecision
from accelsim.workload.tensors import NetworkTensors, with_transform_note
from accelsim.workload.transforms.profiles import check_layer_names

BINARY_KINDS = ("conv", "fc")
"""Layer kinds that can be binarized (XNOR-Net's conv and fc)."""


def binarize(network: Network, tensors: NetworkTensors, mode: str = "xnor", *,
             layers: Iterable[str] | None = None) -> NetworkTensors:
    """Binarize the selected layers' weights (and, for ``xnor``, their input activations)."""
    if mode not in BINARIZED:
        raise WorkloadError(f"mode: expected one of {', '.join(BINARIZED)}, got {mode!r}")
    names = list(layers) if layers is not None else default_layers(network)
    if not names:
        raise WorkloadError(f"layers: network {network.name!r} has no conv or fc layer "
                            "between its first and last; name the layers to binarize")
    check_layer_names(dict.fromkeys(names, 1.0), network, "layers", BINARY_KINDS)
    weights, precision = dict(tensors.weights), dict(tensors.precision)
    marked = LayerPrecision(activations=1 if mode == "xnor" else None, weights=1,
                            binarized=mode)
    for name in names:
        weights[name] = binary_weights(weights[name])
        precision[name] = precision.get(name, LayerPrecision()).merged(marked)
    what = "weights and input activations" if mode == "xnor" else "weights"
    return with_transform_note(tensors, f"binarize({mode}: {what} of {', '.join(names)})",
                               weights=weights, precision=precision)


def default_layers(network: Network) -> list[str]:
    """Every conv and fc layer but the first and last weighted ones (XNOR-Net's choice)."""
    weighted = [layer for layer in network.layers if layer.has_weights]
    return [layer.name for layer in weighted[1:-1] if layer.kind in BINARY_KINDS]


def binary_weights(w: np.ndarray) -> np.ndarray:
    """``alpha_m * sign(w_m)`` per output filter ``m``, ``alpha_m`` = mean ``|w_m|``
    (XNOR-Net eq. 4), ``sign(0) = +1``."""
    alpha = np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).mean(axis=1)
    alpha = alpha.reshape(-1, *([1] * (w.ndim - 1)))
    return (np.where(w >= 0, 1.0, -1.0) * alpha).astype(np.float32)
