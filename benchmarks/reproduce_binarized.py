"""The binarized digits CNN (issue 24 item 3): accuracy, XNOR op counts, weight memory, and
speed and energy on the bit-serial core, each beside a published figure where one exists.

Run from the repository root::

    PYTHONPATH=. python benchmarks/reproduce_binarized.py [--images N]

What runs (every number below is computed here, on the shipped model and data):

* accuracy: top-1 of ``workloads/digits_cnn.onnx`` on the shipped held-out split
  (``workloads/digits/test_set.npy``, 540 images, fed as ``accelsim run --input digit.png``
  feeds them) in the float forward pass (:mod:`accelsim.workload.forward`), full precision,
  ``binarize:mode=weights`` (BWN) and ``binarize:mode=xnor`` (conv2 and fc1; conv1 and fc2
  stay full precision, as XNOR-Net keeps its first and last layers), fine-tuning-free. The
  model is pruned (13 % of weights kept), and a binarized weight has no zero: ``sign(0) =
  +1`` turns every pruned weight into ``+alpha``. A diagnostic row keeps the pruned zeros (a
  ternary network, 2 bits, not a binarized one) to show that this is the loss. For ``xnor``
  there is a second cause no retraining removes: the network has no batch normalization, so
  a binarized layer's input is a ReLU output (>= 0) and ``sign`` makes it all +1 (XNOR-Net
  binarizes centred activations: BatchNorm, sign, conv); only ``K`` carries information.
  One retrained row: ``workloads/digits/digits_cnn_weights.npz``, the model fine-tuned for 8
  epochs with conv2 and fc1 binarized as BWN (``workloads/digits/train_binarized.py``,
  numpy). The same top-1 is then measured on the simulated hardware (``stripes``,
  fixed16) over ``--images`` images.
* XNOR op counts: the XNOR-popcount kernel (:mod:`accelsim.kernels.xnor`) on XNOR-Net's
  typical layer (sec. 3.2: c = 256 channels, a 3x3 filter, a 14x14 input) and on the digits
  CNN's binarized layers: the products (real taps x channels) over (64-bit XNOR-popcount
  words + one scaling multiply per output), XNOR-Net's count of "high precision
  operations".
* weight memory of the binarized layers: 32-bit floats over 1 bit a weight plus one 32-bit
  alpha a filter (XNOR-Net's 32x counts the weights only).
* speed and energy: the whole network and the binarized layers on ``stripes`` with the xnor
  tensors, against ``dadiannao`` (the same tensors: it computes +-1 inputs as 16-bit values)
  and against ``stripes`` at full precision (no transform: 16-bit activations).

Comparable: the op-count speedup on the paper's layer (same definition, same shape), the
memory saving (same definition, alpha included). Not comparable: the accuracy drops
(XNOR-Net's and BinaryConnect's networks are trained binarized, on ImageNet; ours is a
pruned digits CNN binarized after training) and the Stripes speedup (no paper runs a
binarized network on Stripes; the reference is Stripes' own rule, time ~ p / 16 of
DaDianNao's for a conv layer).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

import accelsim
from accelsim.arch import available_cores
from accelsim.kernels import xnor
from accelsim.workload import load_network, load_tensors
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.forward import forward, scaling_map
from accelsim.workload.tensors import make_tensors, with_input
from accelsim.workload.transforms import apply_transform
from accelsim.workload.weights_file import load_weights_file

ROOT = Path(__file__).resolve().parents[1]
TEST_SET = ROOT / "workloads" / "digits" / "test_set.npy"
REPORT = ROOT / "workloads" / "digits" / "report.json"
FINE_TUNED = ROOT / "workloads" / "digits" / "digits_cnn_weights.npz"
"""The digits CNN fine-tuned with conv2 and fc1 binarized (``train_binarized.py``)."""
NETWORK = "digits_cnn"
MODES = {"full precision": None, "BWN (weights)": "weights", "XNOR-Net (xnor)": "xnor"}

PUBLISHED = {
    "op_speedup": (58.0, 62.27, "XNOR-Net sec. 3.2: 62.27x theoretical for c=256, 3x3, "
                   "14x14; 58x measured on a CPU (high-precision operations)"),
    "memory": (32.0, "XNOR-Net abstract: 32x memory saving (weights only, vs float32)"),
    "accuracy": {
        "weights": "not comparable: TRAINED binarized AlexNet, ImageNet top-1 (XNOR-Net "
                   "Table 1): BWN 56.8 % and BinaryConnect 35.4 % vs 56.6 % full precision",
        "xnor": "not comparable: TRAINED XNOR-Net AlexNet, ImageNet top-1 44.2 % vs 56.6 % "
                "(XNOR-Net Table 1; allenai/XNOR-Net README: 43.3 %)",
        "tuned": "not comparable (ImageNet): trained BWN AlexNet loses nothing, 56.8 % vs "
                 "56.6 % (XNOR-Net Table 1)"},
    "stripes": (16.0, "Stripes (Judd et al., MICRO 2016): a conv layer takes ~p/16 of "
                "DaDianNao's time, so 16x at p = 1; fc layers run at DaDianNao's pace"),
}


def test_inputs(limit: int | None = None) -> list[tuple[np.ndarray, int]]:
    """The held-out pictures as network inputs (as ``--input digit.png`` makes them)."""
    records = np.load(TEST_SET, allow_pickle=False)[:limit]
    network, inputs = load_network(NETWORK), []
    with tempfile.TemporaryDirectory() as folder:
        for record in records:
            path = Path(folder) / "digit.png"
            Image.fromarray(record["picture"]).save(path)
            inputs.append((load_tensors(network, input_from=path).input, int(record["label"])))
    return inputs


def binarized(mode: str | None, fine_tuned: bool = False):
    """The digits CNN and its tensors (``fine_tuned``: :data:`FINE_TUNED`'s weights),
    binarized as ``mode`` says (None: full precision)."""
    network = load_network(NETWORK)
    tensors = load_tensors(network)
    if fine_tuned:
        weights, biases, note = load_weights_file(FINE_TUNED, network)
        tensors = replace(tensors, weights=weights, biases=biases,
                          provenance={**tensors.provenance, "weights": note})
    if mode is not None:
        tensors = apply_transform(network, tensors, {"kind": "binarize", "mode": mode})
    return network, tensors


def ternary(network, tensors):
    """Diagnostic only: the full-precision ``tensors`` with the weights-mode layers as
    ``alpha * sign(w)`` keeping the pruned zeros (alpha = mean |w| over the non-zero
    weights): {-alpha, 0, +alpha}, two bits, not a binarized network."""
    weights = dict(tensors.weights)
    for name in binarized("weights")[1].precision:
        w = weights[name].astype(np.float64).reshape(weights[name].shape[0], -1)
        alpha = np.abs(w).sum(axis=1) / np.maximum(np.count_nonzero(w, axis=1), 1)
        weights[name] = (np.sign(w) * alpha[:, None]).reshape(weights[name].shape).astype(
            np.float32)
    return network, replace(tensors, weights=weights)


def float_top1(network, tensors, inputs) -> float:
    right = sum(int(np.argmax(list(forward(network, with_input(tensors, x, "digit")))[-1][1]))
                == label for x, label in inputs)
    return right / len(inputs)


def simulated_top1(arch: str, network, tensors, inputs) -> float:
    right = 0
    for x, label in inputs:
        result = accelsim.simulate(arch, network, tensors=with_input(tensors, x, "digit"),
                                   keep_outputs=True)
        right += int(np.argmax(result.outputs[network.layers[-1].name].to_float())) == label
    return right / len(inputs)


def op_count_speedup(network, tensors) -> tuple[float, dict[str, float]]:
    """Products / (XNOR-popcount words + one multiply per output) on XNOR-Net's typical
    layer (a seeded layer of that shape) and on each binarized digits layer. Products: the
    taps inside the input times the channels (the kernel's ``XNOR_OPS``), so padded taps
    count on neither side, as the paper's formula has no padding."""
    paper = network_from_dict({"name": "xnor_typical", "input": [256, 14, 14], "layers": [
        {"name": "conv", "kind": "conv", "out_channels": 256, "kernel": 3, "pad": 1}]}, "")
    cases = [(paper, make_tensors(paper, 0), "conv")]
    cases += [(network, tensors, name) for name in tensors.precision]
    ratios = {}
    for net, values, name in cases:
        layer = net.layer(name)
        x = next(out for lyr, out in _inputs_of(net, values, name))
        geometry = (layer.in_channels_per_group, layer.out_channels_per_group, *layer.stride,
                    layer.pad[0], layer.pad[1], layer.out_h, layer.out_w)
        _, counts = xnor.xnor_layer(x, values.weights[name], scaling_map(layer, x), geometry,
                                    layer.groups)
        outputs = layer.out_channels * layer.out_h * layer.out_w
        ratios[f"{net.name}.{name}"] = counts[xnor.XNOR_OPS] / (counts[xnor.POPCOUNT_WORDS]
                                                                + outputs)
    paper_ratio = ratios.pop(f"{paper.name}.conv")
    return paper_ratio, ratios


def _inputs_of(network, tensors, name):
    """(layer, the input of layer ``name``) from the float forward pass."""
    layer = network.layer(name)
    if layer.inputs[0] == "input":
        yield layer, tensors.input
        return
    for lyr, out in forward(network, tensors):
        if lyr.name == layer.inputs[0]:
            yield layer, out
            return


def memory_saving(tensors) -> float:
    """Float32 bits of the binarized layers' weights over 1 bit a weight + a 32-bit alpha
    a filter."""
    weights = [tensors.weights[name] for name in tensors.precision]
    n, filters = sum(w.size for w in weights), sum(w.shape[0] for w in weights)
    return 32 * n / (n + 32 * filters)


def speed_energy(image: np.ndarray) -> dict[str, float]:
    """Cycles and energy ratios of stripes running the xnor network."""
    network, full = binarized(None)
    _, xnor_tensors = binarized("xnor")
    full, xnor_tensors = (with_input(t, image, "digit") for t in (full, xnor_tensors))
    runs = {key: accelsim.simulate(arch, network, tensors=values)
            for key, arch, values in (("dadiannao", "dadiannao", xnor_tensors),
                                      ("stripes", "stripes", xnor_tensors),
                                      ("stripes_full", "stripes", full))}
    layers = list(xnor_tensors.precision)
    rows = {key: run.layers.set_index("layer") for key, run in runs.items()}
    figures = {}
    for base in ("dadiannao", "stripes_full"):
        figures[f"speedup vs {base}"] = (runs[base].summary["cycles"]
                                         / runs["stripes"].summary["cycles"])
        figures[f"energy saving vs {base}"] = (runs[base].summary["energy_uj"]
                                               / runs["stripes"].summary["energy_uj"])
        for name in layers:
            figures[f"{name} speedup vs {base}"] = (rows[base].at[name, "cycles"]
                                                    / rows["stripes"].at[name, "cycles"])
    return figures


def binarized_rows(images: int = 100) -> list[dict]:
    """Rows ``what, value, band, holds, note`` (also for ``reproduce_precision.py``)."""
    inputs = test_inputs()
    rows = []
    reported = json.loads(REPORT.read_text())["accuracy"]["pruned_fine_tuned_8bit"]
    for label, mode in MODES.items():
        network, tensors = binarized(mode)
        top1 = float_top1(network, tensors, inputs)
        band = PUBLISHED["accuracy"].get(mode, f"{reported:.4f} (report.json, training run)")
        holds = abs(top1 - reported) < 0.005 if mode is None else None
        tuning = "" if mode is None else ", fine-tuning-free"
        rows.append(_row(f"digits top-1, {label}, float{tuning}", top1, band, holds,
                         f"{len(inputs)} held-out images"))
    rows.append(_row("digits top-1, pruned zeros kept (ternary diagnostic, not 1-bit)",
                     float_top1(*ternary(*binarized(None)), inputs), "no band", None,
                     "weights-mode layers as {-alpha, 0, +alpha}: the loss is the pruned "
                     "weights becoming +alpha"))
    network, tensors = binarized("weights", fine_tuned=True)
    rows.append(_row("digits top-1, BWN fine-tuned 8 epochs (train_binarized.py), float",
                     float_top1(network, tensors, inputs), PUBLISHED["accuracy"]["tuned"],
                     None, f"{len(inputs)} held-out images"))
    for label, mode, tuned in (*((label, mode, False) for label, mode in MODES.items()),
                               ("BWN fine-tuned", "weights", True)):
        network, tensors = binarized(mode, fine_tuned=tuned)
        rows.append(_row(f"digits top-1, {label}, simulated on stripes (fixed16)",
                         simulated_top1("stripes", network, tensors, inputs[:images]),
                         "= the float top-1 within a few images", None,
                         f"first {images} held-out images"))
    network, tensors = binarized("xnor")
    paper_ratio, digits_ratios = op_count_speedup(network, tensors)
    low, high, source = PUBLISHED["op_speedup"]
    rows.append(_row("XNOR op-count speedup, XNOR-Net's layer (c=256, 3x3, 14x14)",
                     paper_ratio, f"{low}-{high}x ({source})", low <= paper_ratio <= high,
                     "the paper's formula on the layer's real taps"))
    for name, ratio in digits_ratios.items():
        rows.append(_row(f"XNOR op-count speedup, {name}", ratio, "not comparable", None,
                         "few channels fill a fraction of a 64-bit word"))
    saving = memory_saving(tensors)
    rows.append(_row("weight memory saving, conv2 + fc1, vs float32", saving,
                     PUBLISHED["memory"][1], 0.8 * PUBLISHED["memory"][0] <= saving
                     <= PUBLISHED["memory"][0], "1 bit a weight + a 32-bit alpha a filter"))
    if "stripes" in available_cores():
        for what, value in speed_energy(inputs[0][0]).items():
            per_conv = what.startswith("conv2 speedup")
            rows.append(_row(f"stripes, xnor: {what}", value,
                             PUBLISHED["stripes"][1] if per_conv else "no published band",
                             abs(value / PUBLISHED["stripes"][0] - 1) < 0.25 if per_conv
                             else None, "digits CNN, one held-out image"))
    return rows


def _row(what, value, band, holds, note) -> dict:
    return {"what": what, "value": float(value), "band": band if isinstance(band, str)
            else str(band), "holds": holds, "note": note}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100,
                        help="held-out images the simulated top-1 runs (default 100; 540: all)")
    args = parser.parse_args(argv)
    for row in binarized_rows(args.images):
        verdict = {True: "holds", False: "DOES NOT HOLD", None: "-"}[row["holds"]]
        print(f"{row['what']:70s} {row['value']:9.4g}  [{verdict}]  band: {row['band']}; "
              f"{row['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
