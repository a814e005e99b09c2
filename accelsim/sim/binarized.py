"""An XNOR-Net layer (``binarize`` transform, ``mode: xnor``) on the arch's core.

The layer computes ``(sign(I) (*) W_b) . K + bias`` and its fused ReLU, with ``W_b`` the
+-alpha weights the transform left and ``K`` XNOR-Net's scaling map of the real input
(:func:`accelsim.workload.forward.scaling_map`). A core that runs one-bit activations
natively defines ``run_xnor_layer(layer, x, weights, bias, k_map) -> LayerRun`` (the
bit-serial ``stripes``: one pass through the XNOR-popcount kernel) and gets the real input
``x`` in the arch's precision. Every other core gets the +-1 signs in its own precision and
computes them with the +-alpha weights as ordinary 16-bit (or fp32) values: the same MACs,
cycles and traffic as a full-precision layer (no speedup; a zero-skipping core finds no zero
to skip), with the bias and ReLU moved after the scaling: ``K`` multiplies each output in
the output stage, which is modelled (one multiply per output, not counted as an event, as
the int8 requantization is not) in float64 and rounded once to the arch's precision. The
core then counts the layer again with that output known (``Core.count_layer``), so a core
that compresses its output (SparTen, Phantom, ...) counts the words the output stage wrote.
The row's ``input_zero_fraction`` stays that of the real input (the tensor the layer reads);
the +-1 values the core computes on have no zero.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from accelsim import fixedpoint
from accelsim.arch.base import Core, LayerRun
from accelsim.errors import AccelsimError
from accelsim.workload.forward import scaling_map
from accelsim.workload.layer import Layer


def run_xnor(core: Core, layer: Layer, x, weights, bias: np.ndarray) -> LayerRun:
    """``layer`` (marked ``xnor``) on ``core``, from its real input ``x`` (arch precision)."""
    real = x.to_float() if isinstance(x, fixedpoint.Fixed) else np.asarray(x, np.float64)
    if real.ndim != 3:
        raise AccelsimError(f"layer {layer.name!r}: an XNOR-Net layer runs one image at a "
                            "time (its scaling map K is that image's); use batch 1")
    k_map = scaling_map(layer, real)
    if hasattr(core, "run_xnor_layer"):
        return core.run_xnor_layer(layer, x, weights, bias, k_map)
    fixed = isinstance(x, fixedpoint.Fixed)
    signs = np.where(real >= 0, 1.0, -1.0).astype(np.float32)
    operands = ([fixedpoint.quantize(signs) if fixed else signs], weights, np.zeros_like(bias))
    linear = dataclasses.replace(layer, relu=False)   # bias and ReLU come after K
    sums = core.run_layer(linear, *operands).output
    out = (sums.to_float() if fixed else sums.astype(np.float64)) * k_map \
        + bias.astype(np.float64)[:, None, None]
    out = np.maximum(out, 0) if layer.relu else out
    output = fixedpoint.quantize(out) if fixed else out.astype(np.float32)
    run = core.count_layer(linear, *operands, output)   # writes what the output stage made
    run.mapping += ("; XNOR-Net layer: +-1 inputs and +-alpha weights as ordinary "
                    f"{core.arch.precision} values (no speedup), K, bias and ReLU after")
    return run
