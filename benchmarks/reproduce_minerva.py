"""Minerva's three power steps (Reagen et al., ISCA 2016) on the shipped ``minerva`` config,
each with the held-out accuracy it leaves, beside the paper's figures.

Run from the repository root::

    PYTHONPATH=. python benchmarks/reproduce_minerva.py [--networks mnist_mlp,digits_cnn]
        [--images 540] [--search-images 50] [--bound 0.01]

Networks: ``mnist_mlp`` (Minerva's MLP shape, 3 x 256 hidden, trained on the digits at
16 x 16 by ``workloads/digits/train_digits_mlp.py``) and the shipped digits CNN. Images: the
held-out split ``workloads/digits/test_set.npy``, each fed as ``workloads/digits/
evaluate.py`` feeds it (saved as a PNG, loaded by ``load_tensors(input_from=...)``); a label
is the argmax of the simulated last layer.

The steps are cumulative, as in the paper, and each is chosen the way Minerva chose it, by a
search that keeps the accuracy within ``--bound`` of the 16-bit baseline (on the first
``--search-images`` images; the final figures use ``--images``):

1. data types: one weight width, then one activation width for every layer (the precision
   transform of issue 24; Minerva searched per layer and per operand: a simplification),
   priced by width (``core_params.per_layer_types``);
2. predication: per layer, in network order, the largest threshold of ``THRESHOLDS`` (in the
   activations' real units) that keeps the bound;
3. SB voltage scaling: the lowest supply of ``VOLTAGES`` that keeps the bound with Razor
   detection and bit masking; word masking and no mitigation at that voltage are printed
   beside it (search images).

Power: the steps change no cycle count (predicated lanes idle; checked), so each power
ratio is the ratio of the mean energy per image. The bands are our tolerance around the
paper's averages over five datasets (``BANDS``). Not modelled (see
``accelsim/arch/_minerva.py``): leakage, Razor's own overhead, narrower SRAM arrays.
The SRAM fault curve is a documented placeholder, not the paper's figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from accelsim import fixedpoint, simulate
from accelsim.config import load_arch, with_overrides
from accelsim.workload import load_network, load_tensors
from accelsim.workload.transforms import apply_transform

ROOT = Path(__file__).resolve().parents[1]
TEST_SET = ROOT / "workloads" / "digits" / "test_set.npy"
PAPER = {"data types": 1.5, "predication": 2.0, "SRAM voltage": 2.7, "together": 8.1}
BANDS = {"data types": (1.2, 1.9), "predication": (1.6, 2.5), "SRAM voltage": (2.1, 3.4),
         "together": (6.0, 10.5)}
WIDTHS = (12, 10, 8, 6, 5, 4)
THRESHOLDS = (0.1, 0.25, 0.5, 1.0)
VOLTAGES = (0.8, 0.75, 0.7, 0.65, 0.6, 0.55)


@dataclasses.dataclass
class Case:
    tensors: object
    label: int


def cases(network, limit: int) -> list[Case]:
    """The held-out images as ``evaluate.py`` feeds them (PNG -> load_tensors)."""
    records = np.load(TEST_SET, allow_pickle=False)[:limit]
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for record in records:
            path = Path(folder) / f"digit{record['index']:04d}.png"
            Image.fromarray(record["picture"]).save(path)
            out.append(Case(load_tensors(network, input_from=path), int(record["label"])))
    return out


def measure(arch, network, images: list[Case], spec: dict | None):
    """(accuracy, mean energy per image in uJ, cycles per image) of ``arch`` on ``images``,
    every image's tensors narrowed by the precision ``spec`` first (if any)."""
    right, energy, cycles = 0, 0.0, set()
    for case in images:
        tensors = apply_transform(network, case.tensors, spec) if spec else case.tensors
        result = simulate(arch, network, tensors=tensors, keep_outputs=True)
        last = result.outputs[network.layers[-1].name]
        logits = last.to_float() if isinstance(last, fixedpoint.Fixed) else last
        right += int(np.argmax(np.asarray(logits).ravel()) == case.label)
        energy += float(result.summary["energy_uj"])
        cycles.add(int(result.summary["cycles"]))
    return right / len(images), energy / len(images), cycles


def with_params(base, **params):
    return with_overrides(base, {f"core_params.{k}": v for k, v in params.items()})


def search_widths(base, network, images, floor):
    """The narrowest weight width, then activation width, keeping accuracy >= floor."""
    typed = with_params(base, per_layer_types=True)
    chosen = {"activations": 16, "weights": 16}
    for operand in ("weights", "activations"):
        for bits in WIDTHS:
            spec = {"kind": "precision", **{**chosen, operand: bits}}
            if measure(typed, network, images, spec)[0] < floor:
                break
            chosen[operand] = bits
    return {"kind": "precision", **chosen}


def search_thresholds(arch, network, images, spec, floor):
    """Per weighted layer, in order, the largest threshold keeping accuracy >= floor."""
    chosen: dict[str, float] = {}
    for layer in (layer for layer in network.layers if layer.has_weights):
        for threshold in THRESHOLDS:
            trial = with_params(arch, predication=True,
                                predication_thresholds={**chosen, layer.name: threshold})
            if measure(trial, network, images, spec)[0] < floor:
                break
            chosen[layer.name] = threshold
    return chosen


def search_voltage(arch, network, images, spec, floor):
    chosen = None
    for volts in VOLTAGES:
        trial = with_params(arch, sb_voltage_v=volts, fault_mitigation="bit_mask")
        if measure(trial, network, images, spec)[0] < floor:
            break
        chosen = volts
    return chosen


def reproduce(name: str, n_images: int, n_search: int, bound: float) -> list[dict]:
    network = load_network(name)
    images = cases(network, n_images)
    search = images[:n_search]
    base = load_arch("minerva")
    floor = measure(base, network, search, None)[0] - bound
    spec = search_widths(base, network, search, floor)
    typed = with_params(base, per_layer_types=True)
    thresholds = search_thresholds(typed, network, search, spec, floor)
    predicated = with_params(typed, predication=True, predication_thresholds=thresholds)
    volts = search_voltage(predicated, network, search, spec, floor)
    steps = [("baseline (16-bit)", base, None, "-"),
             ("data types", typed, spec,
              f"weights {spec['weights']} b, activations {spec['activations']} b"),
             ("predication", predicated, spec, f"thresholds {thresholds}")]
    if volts is not None:
        steps.append(("SRAM voltage", with_params(predicated, sb_voltage_v=volts,
                                                  fault_mitigation="bit_mask"), spec,
                      f"SB at {volts} V, Razor + bit masking"))
        for mitigation in ("word_mask", "none"):
            acc = measure(with_params(predicated, sb_voltage_v=volts,
                                      fault_mitigation=mitigation), network, search, spec)[0]
            print(f"  {name}: at {volts} V with {mitigation}: accuracy {acc:.3f} on "
                  f"{len(search)} search images (bit_mask kept >= {floor:.3f})", flush=True)
    rows, previous, first = [], None, None
    for label, arch, step_spec, values in steps:
        accuracy, energy, cycles = measure(arch, network, images, step_spec)
        first = first or (energy, cycles)
        if cycles != first[1]:
            raise SystemExit(f"{name}: {label} changed the cycles {first[1]} -> {cycles}")
        rows.append({"network": name, "step": label, "accuracy": accuracy, "energy_uj": energy,
                     "ratio": None if previous is None else previous / energy,
                     "values": values})
        print(f"  {name}: {label}: accuracy {accuracy:.3f}, {energy:.3f} uJ/image", flush=True)
        previous = energy
    rows.append({"network": name, "step": "together", "accuracy": rows[-1]["accuracy"],
                 "energy_uj": rows[-1]["energy_uj"],
                 "ratio": rows[0]["energy_uj"] / rows[-1]["energy_uj"], "values": "all steps"})
    return rows


def report(rows: list[dict], baseline_accuracy: dict, bound: float) -> bool:
    print(f"\n{'network':<11} {'step':<18} {'accuracy':>8} {'uJ/image':>9} {'power':>7} "
          f"{'paper':>6} {'band':>11}  holds  values")
    all_hold = True
    for row in rows:
        step = row["step"]
        paper = PAPER.get(step)
        ratio = row["ratio"]
        accurate = row["accuracy"] >= baseline_accuracy[row["network"]] - bound
        holds = "-" if paper is None else (
            "yes" if BANDS[step][0] <= ratio <= BANDS[step][1] and accurate else "no")
        all_hold &= holds != "no"
        band = "-" if paper is None else f"{BANDS[step][0]}-{BANDS[step][1]}x"
        print(f"{row['network']:<11} {step:<18} {row['accuracy']:>8.3f} "
              f"{row['energy_uj']:>9.3f} {'' if ratio is None else f'{ratio:.2f}x':>7} "
              f"{'' if paper is None else f'{paper}x':>6} {band:>11}  {holds:<5}  "
              f"{row['values']}")
    return all_hold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="mnist_mlp,digits_cnn")
    parser.add_argument("--images", type=int, default=540)
    parser.add_argument("--search-images", type=int, default=50)
    parser.add_argument("--bound", type=float, default=0.01,
                        help="accuracy a step may lose against the 16-bit baseline")
    args = parser.parse_args(argv)
    start, rows = time.time(), []
    for name in args.networks.split(","):
        rows += reproduce(name, args.images, args.search_images, args.bound)
    baseline = {row["network"]: row["accuracy"] for row in rows
                if row["step"].startswith("baseline")}
    holds = report(rows, baseline, args.bound)
    print(f"\n{args.images} images per step; searches on {args.search_images}; "
          f"{time.time() - start:.0f} s")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
