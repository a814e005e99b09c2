"""Many held-out images through the ``minerva`` core at once, for ``reproduce_minerva.py``:
the same values and energy as one :func:`accelsim.simulate` run per image, much faster.

**Values** (:meth:`Batch.logits`): the simulator's fixed16 layer loop with the image as a
batch axis. Every per-image step is the simulator's own function on that image's tensor:
:func:`accelsim.fixedpoint.quantize` (input), :func:`accelsim.workload.precision.
rounded_input` (per-layer activation bits), the core's Minerva steps (predicated codes are
zeroed with :meth:`~accelsim.arch._minerva.MinervaSteps.threshold` at the image's frac, as
:meth:`~accelsim.arch._minerva.MinervaSteps.predicate` does; the weights are read through
the core's own fault map, :meth:`~accelsim.arch._minerva.MinervaSteps.stored_weights`),
:func:`accelsim.fixedpoint.with_bias` and :func:`~accelsim.fixedpoint.requantize`. Only the
accumulator sums are computed differently, as one float64 matrix product over the batch: a
sum of int16 products over ``K`` terms is below ``K * 2**30 < 2**53`` here, so every
partial sum is an integer float64 holds exactly and the sums equal the kernel's in any
order (the kernel itself sums in float64 for the same reason). Max pooling without padding
is the max of the window's codes. Other layer kinds are refused.

**Energy** (:meth:`Batch.energy_uj`): with every operand on chip (``weights_resident``,
``neurons_resident``) the counts of a layer depend on the image only through predication.
Each image's layers are counted by the core's count-only path (``Core.count_layer``, the
path ``simulate(reuse=...)`` takes, Minerva's accounting included) on that image's layer
inputs, and priced with the energy table of a full simulation of the first image. The
engine is not run: the cycles are those of the full simulation, which predication does not
change (``reproduce_minerva.check`` compares both with simulated images).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from accelsim import fixedpoint, simulate
from accelsim.arch import core_module
from accelsim.errors import AccelsimError
from accelsim.workload.network import INPUT
from accelsim.workload.precision import rounded_input
from accelsim.workload.tensors import NetworkTensors


class Batch:
    """Images (float ``N x C x H x W``) of one network, with the tensors of one precision
    setting (``tensors.input`` is ignored: each image is its own input)."""

    def __init__(self, network, tensors: NetworkTensors, images: np.ndarray) -> None:
        for layer in network.layers:
            if layer.kind not in ("conv", "fc", "pool") or layer.quant is not None \
                    or (layer.has_weights and layer.groups != 1) \
                    or layer.relu_max is not None or (layer.kind == "pool" and (
                        layer.pool_op != "max" or any(layer.pad))):
                raise AccelsimError(f"layer {layer.name!r}: the batch path runs ungrouped "
                                    "conv, fc and unpadded max pooling only")
        self.network, self.tensors, self.images = network, tensors, images

    def _core(self, arch):
        if arch.core != "diannao" or arch.precision != "fixed16":
            raise AccelsimError(f"{arch.name}: the batch path runs the fixed16 diannao core")
        core = core_module(arch.core).Core(arch)
        core.layer_precision = self.tensors.precision
        return core

    def layer_inputs(self, arch):
        """Per layer, in network order: (layer, its inputs per image as ``Fixed``, its
        fixed16 weights as stored, before the SB's faults, or None); the last layer's
        outputs end the list as ``(None, outputs, None)``."""
        core = self._core(arch)
        values = {INPUT: [fixedpoint.quantize(x.astype(np.float32)) for x in self.images]}
        steps = []
        for layer in self.network.layers:
            x = [rounded_input(self.tensors.precision, layer.name, v)
                 for v in values[layer.inputs[0]]]
            weights = None
            if layer.has_weights:
                weights = fixedpoint.quantize_kept(self.tensors.weights[layer.name])
                values[layer.name] = self._weighted(core, layer, x, weights)
            else:
                values[layer.name] = [_max_pool(layer, v) for v in x]
            steps.append((layer, x, weights))
        steps.append((None, values[self.network.layers[-1].name], None))
        return steps

    def logits(self, arch) -> np.ndarray:
        """``N x classes`` float logits of the last layer, as ``simulate`` computes them."""
        outputs = self.layer_inputs(arch)[-1][1]
        return np.stack([out.to_float().ravel() for out in outputs])

    def energy_uj(self, arch) -> np.ndarray:
        """Energy per image (uJ) from each image's counts (see the module docstring)."""
        steps = self.layer_inputs(arch)
        core = self._core(arch)
        table = simulate(arch, self.network,
                         tensors=with_input(self.tensors, self.images[0])).energy_table
        energy = np.zeros(len(self.images))
        for layer, inputs, weights in steps[:-1]:
            bias = self.tensors.biases.get(layer.name)
            bias = None if bias is None else bias.astype(np.float32)
            for n, x in enumerate(inputs):
                counts = core.count_layer(layer, [x], weights, bias, None).counts
                energy[n] += sum(count * table[key] for key, count in counts.items())
        return energy / 1e6

    def _weighted(self, core, layer, x, weights) -> list:
        """conv / fc outputs for every image (see the module docstring)."""
        steps = core.minerva
        w = weights.q
        if steps.voltage is not None:
            w, _ = steps.stored_weights(np.ascontiguousarray(w))
        codes = np.stack([v.q for v in x]).astype(np.float64)
        fracs = [v.frac for v in x]
        if steps.predication:
            limits = np.array([steps.threshold(layer) * 2.0 ** f for f in fracs])
            codes = np.where(np.abs(codes) <= limits[:, None, None, None], 0.0, codes)
        sums = _im2col(layer, codes) @ w.reshape(layer.out_channels, -1).T.astype(np.float64)
        bias = self.tensors.biases[layer.name].astype(np.float32)
        out = []
        for n, frac in enumerate(fracs):   # H x W x M, as the core's NFU-3 sees them
            acc = sums[n].reshape(layer.out_h, layer.out_w, layer.out_channels)
            acc, acc_frac = fixedpoint.with_bias(acc.astype(np.int64), bias,
                                                 frac + weights.frac, np.s_[:])
            result = fixedpoint.requantize(acc, acc_frac, layer.relu)
            out.append(result.with_codes(np.ascontiguousarray(result.q.transpose(2, 0, 1))))
        return out


def _im2col(layer, codes: np.ndarray) -> np.ndarray:
    """``N x C x H x W`` -> ``N x (P*Q) x (C*R*S)`` windows (zero padding), in the weights'
    ``C x R x S`` order."""
    top, left, bottom, right = layer.pad
    padded = np.pad(codes, ((0, 0), (0, 0), (top, bottom), (left, right)))
    windows = np.lib.stride_tricks.sliding_window_view(
        padded, (layer.kernel_h, layer.kernel_w), axis=(2, 3))
    sh, sw = layer.stride
    windows = windows[:, :, ::sh, ::sw][:, :, :layer.out_h, :layer.out_w]
    n = codes.shape[0]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n, layer.out_h * layer.out_w, -1)


def _max_pool(layer, x):
    """Unpadded max pooling of one image's codes (the frac is unchanged)."""
    windows = np.lib.stride_tricks.sliding_window_view(
        x.q, (layer.kernel_h, layer.kernel_w), axis=(1, 2))
    sh, sw = layer.stride
    q = windows[:, ::sh, ::sw][:, :layer.out_h, :layer.out_w].max(axis=(3, 4))
    return x.with_codes(np.maximum(q, 0) if layer.relu else q)


def with_input(tensors: NetworkTensors, image: np.ndarray) -> NetworkTensors:
    """``tensors`` with ``image`` as the network's input."""
    return dataclasses.replace(tensors, input=image)
