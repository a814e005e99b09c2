"""Per-layer operand precision: how many bits a layer's activations and weights are held in.

A :class:`LayerPrecision` rides with the values (``NetworkTensors.precision``, layer name ->
precision), never with the Network: transforms change values, not shapes. The precision
transform (:mod:`accelsim.workload.transforms.precision`) rounds the weights when it runs and
records the activation bits; the layer loop (:mod:`accelsim.sim.simulate`) and the float
forward pass (:mod:`accelsim.workload.forward`) round each named layer's input with
:func:`quantize_activations` just before the layer reads it, so every core of a comparison
computes on the same reduced-precision values, and a bit-serial core (Stripes) reads the
bit count from here.

The activation format is Judd et al.'s per-layer fixed point (Stripes, MICRO 2016;
"Reduced-precision strategies for bounded memory in deep neural nets", 2015): ``p`` bits at
a per-layer radix point. Ours puts the radix point where the layer's input peak needs it
(the dynamic fixed point of :mod:`accelsim.fixedpoint`): with ``e`` the least integer such
that ``max |x| < 2**e``, values become ``k * 2**(e - m)`` with integer ``k`` rounded half up
and clipped to ``|k| <= 2**m - 1``, where ``m = p`` magnitude bits for a non-negative input
(a ReLU output) and ``m = p - 1`` plus a sign for an input with negative values (at least 1).
On fixed16 codes this keeps bits ``[15 - m, 15)`` of each code: exactly the ``p`` bits a
Stripes SIP streams. Choosing ``e`` from the data is ours; Judd et al. profiled the integer
and fraction bits per layer offline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim import fixedpoint

DATAPATH_BITS = 16
"""The widest precision a layer may ask for: the 16-bit datapath of the fixed16 cores."""
BINARIZED = ("weights", "xnor")
"""Binarized layers: ``weights`` (BinaryConnect, Binary-Weight-Networks: weights are
``sign(w) * alpha``), ``xnor`` (XNOR-Net: weights and input activations binarized)."""


@dataclass(frozen=True)
class LayerPrecision:
    """The bits of one layer's operands; ``None`` leaves that operand at the arch's precision.

    ``activations``: bits of the layer's input activations (1-16, sign included when the
    input has negative values); ``weights``: bits of its weights (2-16), already applied to
    the weight tensor by the transform that set them; ``binarized``: ``None`` or one of
    :data:`BINARIZED`, set by the binarize transform (issue 24 item 3), which also sets the
    1-bit operands (``weights=1``, and ``activations=1`` for ``xnor``).
    """

    activations: int | None = None
    weights: int | None = None
    binarized: str | None = None

    def merged(self, later: LayerPrecision) -> LayerPrecision:
        """This precision with ``later``'s set fields taking over (transforms compose)."""
        return LayerPrecision(
            later.activations if later.activations is not None else self.activations,
            later.weights if later.weights is not None else self.weights,
            later.binarized if later.binarized is not None else self.binarized)


def magnitude_bits(bits: int, signed: bool) -> int:
    """Magnitude bits of a ``bits``-bit value: one goes to the sign if the input is signed."""
    return max(1, bits - 1) if signed else bits


def quantize_activations(x, bits: int | None):
    """``x`` (a :class:`~accelsim.fixedpoint.Fixed` tensor or a float array) on its ``bits``-bit
    grid (see the module docstring); ``None`` or 16+ bits return ``x`` unchanged."""
    if bits is None or bits >= DATAPATH_BITS:
        return x
    if isinstance(x, fixedpoint.Fixed):
        q = x.q.astype(np.int64)
        peak = int(np.max(np.abs(q))) if q.size else 0
        m = magnitude_bits(bits, bool(q.size) and int(q.min()) < 0)
        shift = peak.bit_length() - m
        if peak == 0 or shift <= 0:
            return x
        limit = (1 << m) - 1
        k = np.clip((q + (1 << (shift - 1))) >> shift, -limit, limit)
        return x.with_codes((k << shift).astype(np.int16))
    values = np.asarray(x, dtype=np.float64)
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if peak == 0 or not np.isfinite(peak):
        return x
    m = magnitude_bits(bits, bool(np.min(values) < 0))
    step = 2.0 ** (np.frexp(peak)[1] - m)
    limit = 2.0 ** m - 1
    return (np.clip(np.floor(values / step + 0.5), -limit, limit) * step).astype(np.float32)


def rounded_input(precision: dict[str, LayerPrecision], layer_name: str, x):
    """Layer ``layer_name``'s input ``x`` on the grid its precision names (unchanged if none
    does). A binarized layer's input is left alone: the binarize transform and the cores
    that run it define what its 1 bit means (the sign, not this grid)."""
    entry = precision.get(layer_name)
    if entry is None or entry.binarized is not None:
        return x
    return quantize_activations(x, entry.activations)
