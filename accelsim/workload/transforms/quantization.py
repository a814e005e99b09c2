"""Weight quantization to n-bit dynamic fixed point, uniform (per tensor) or per channel.

A tensor (``per_channel=False``) or each output channel gets the most fractional bits ``f``
for which its largest magnitude fits ``n`` bits; weights become ``k * 2**-f`` with integer
``k`` rounded half up (as :mod:`accelsim.fixedpoint` rounds) and clipped to the symmetric
range ``[-(2**(n-1) - 1), 2**(n-1) - 1]``. Power-of-two scales are what fixed-point
datapaths use (DianNao; Ristretto's dynamic fixed point, Gysel et al. 2016), and they make
the result exact in the ``fixed16`` precision: the 16-bit tensor format picks ``15 - e``
fractional bits for a tensor below ``2**e``, at least the ``n - 1 - e`` used here, so the
fixed-point kernels then compute with exactly these n-bit values, bit for bit. (The
symmetric range keeps ``|w| < 2**e``, so the 16-bit format never loses a bit to ``-2**e``.)

Per-channel fractions are capped at the whole tensor's 16-bit fraction: a channel's grid can
be no finer than the int16 container that holds the tensor, or fixed16 could not hold it.
Biases and activations are left to the arch's precision.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.fixedpoint import frac_bits_for
from accelsim.workload.network import Network
from accelsim.workload.tensors import NetworkTensors, with_transform_note
from accelsim.workload.transforms.profiles import check_layer_names

MIN_BITS, MAX_BITS = 2, 16


def quantize_weights(network: Network, tensors: NetworkTensors, bits: int, *,
                     per_channel: bool = False,
                     layers: Iterable[str] | None = None) -> NetworkTensors:
    """Round every selected layer's weights (default: all conv and fc) to ``bits`` bits."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise WorkloadError(f"quantize: bits must be an integer in [{MIN_BITS}, {MAX_BITS}], "
                            f"got {bits!r}")
    names = list(layers) if layers is not None else [
        layer.name for layer in network.layers if layer.has_weights]
    check_layer_names(dict.fromkeys(names, 0.0), network, "layers")
    weights = dict(tensors.weights)
    for name in names:
        weights[name] = quantize_array(weights[name], bits, per_channel)
    scheme = "per-channel" if per_channel else "per-tensor"
    return with_transform_note(tensors, f"quantize({bits}-bit {scheme} dynamic fixed point, "
                               f"{len(names)} layers)", weights=weights)


def quantize_array(w: np.ndarray, bits: int, per_channel: bool = False) -> np.ndarray:
    """``w`` (float32, output channels first) on its n-bit power-of-two grid."""
    w64 = w.astype(np.float64)
    tensor_frac16 = frac_bits_for(float(np.max(np.abs(w64)))) if w.size else 15
    if per_channel:
        peaks = np.max(np.abs(w64.reshape(w.shape[0], -1)), axis=1)
        fracs = np.array([min(frac_bits_for(float(p)) - (16 - bits), tensor_frac16)
                          for p in peaks], dtype=np.float64)
        scale = np.exp2(fracs).reshape(-1, *([1] * (w.ndim - 1)))
    else:
        scale = np.exp2(float(tensor_frac16 - (16 - bits)))
    limit = 2.0 ** (bits - 1) - 1
    q = np.clip(np.floor(w64 * scale + 0.5), -limit, limit)
    return (q / scale).astype(np.float32)
