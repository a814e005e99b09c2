"""Eyeriss v2 on sparse MobileNet (Chen, Yang, Emer, Sze, JETCAS 2019): throughput, energy
and the ratios over the original Eyeriss, beside the abstract's four numbers, with a
per-layer Eyexam-style bound breakdown.

Run from the repository root::

    PYTHONPATH=. python benchmarks/reproduce_eyeriss_v2.py [--workload mobilenet_v1_050_128]
        [--density 0.4] [--seed 0] [--output results/ev2.csv]

Published (the abstract, verified text; published-anchors.md section 6): with sparse
MobileNet at batch 1, Eyeriss v2 (65 nm, 200 MHz) reaches **1470.6 inferences/s** and
**2560.3 inferences/J**, **12.6x faster** and **2.5x more energy-efficient** than the original
Eyeriss running MobileNet (so Eyeriss v1: 116.7 inferences/s, 1024 inferences/J). Each is
compared with ours under a +-35 % band; the script exits 1 if a band does not hold.

What the paper's MobileNet is (research for issue 20; the stored copies of the paper --
scilit, paperswithcode, groundai, peeref, MIT DSpace, the RLE page of the 2018 arXiv version
-- hold its abstract and opening only, so its Sec. VI and tables could not be read here):

* 1470.6 inferences/s is 0.68 ms = 136,000 cycles at 200 MHz. At the chip's peak of
  192 PEs x 2 MACs = 384 MACs/cycle that is at most 52.2 M MACs of effectual work. The
  MobileNet v1 family (``mobilenet_v1_<alpha x 100>_<resolution>``) at 1.0-224 has 569 M
  MACs (11x too many even at 40 % weight density); at 0.5-128 it has 49.2 M, 0.25-* 14-41 M,
  0.5-160 76.5 M. The same group's NetAdapt (Yang, Howard, ..., Sze, ECCV 2018, arXiv
  1804.03230) uses MobileNet V1 at width 0.5 and input 128 as its small benchmark.
  **Chosen: 0.5-128** (``mobilenet_v1_050_128``, 49.2 M MACs, 1.33 M weights). Confidence:
  medium -- recalled from the paper's results section as "width multiplier 0.5, input
  128 x 128" ([R-med]), consistent with the throughput bound and with NetAdapt; not read.
* Its sparsity: the paper prunes MobileNet with the group's own methods (energy-aware pruning
  / NetAdapt, recalled [R-lo]); per-layer densities were NOT FOUND. **Chosen: magnitude
  pruning to 40 % of the weights in every layer** (``--density``), the same choice as
  ``reproduce_phantom.py``'s MobileNet case, not fitted to anything here. Activations: the
  calibrated default values (the depth profile: 34-80 % zeros entering each layer); pruning
  shrinks every pre-activation, which would drive the deep layers to 100 % zeros, so the
  calibration's own targets are imposed again after pruning (as fine-tuning a pruned
  network restores its activations). Eyeriss v1 runs the same tensors (its speed does not
  depend on weight zeros; its energy does, by zero gating), and the dense MobileNet too.
* Energy: the paper's inferences/J are the chip's (measured / post-layout power of the
  accelerator, without DRAM, as the Eyeriss v1 JSSC figures are; [R-med]). Ours is priced
  with the project's 45 nm Horowitz table (accelsim/cost/energy.py), not a 65 nm chip's, so
  we band the on-chip energy (all components but ``dram``) and print the total with DRAM
  (160 pJ/byte) beside it.

Chosen to match rather than predicted: the variant (0.5-128, from the throughput bound and
the recalled text) and the 40 % density (an earlier project choice). Nothing in the arch
configs was changed for this benchmark: ``eyeriss_v2`` and ``eyeriss`` are the shipped ones
(one config per chip), and no published number is in the code path.

The Eyexam-style breakdown (Eyexam: the paper's step-by-step performance bounds; the steps
are recalled from the Sze et al. SSC Magazine 2020 article on evaluating DNN processors:
layer shape, dataflow, number of PEs, array dimensions, storage, bandwidth, sparsity), per
layer, in cycles at 200 MHz, each step a bound on the next:

* ``peak``: dense MACs at 384 MACs/cycle (finite PEs, all busy);
* ``effectual``: the non-zero products (``pe_mac``) at 384/cycle (perfect sparsity skipping);
* ``mapped``: the PE array's own time (the core's rounds: active PEs, CSC address and SIMD
  overheads, the slowest PE of a cluster) -- ``compute_cycles`` with unlimited DRAM;
* ``on-chip``: plus the NoC and GLB streaming (the layer's cycles with unlimited DRAM);
* ``with DRAM``: the shipped 16 B/cycle, 100-cycle DRAM (the layer's cycles);
* ``bound``: the step that loses the most.

Findings (seed 0, density 0.4; ours / paper):

* throughput **624.6 inferences/s against 1470.6 (0.42x, OUT)**. The layer table says why:
  22 of 29 layers lose the most to DRAM; 16-bit data plus CSC counts and addresses make
  4.1 MB of DRAM traffic per inference (conv13_pw and fc, about 1.3 MB of CSC weights, alone
  take 91,000 cycles), which at the shipped 16 B/cycle (our choice, as phantom2d.yaml) is
  1.6 ms. With unlimited DRAM (printed beside it) ours is **1645.6 inferences/s (1.12x the
  paper)**: the chip's array, NoC and sparsity handling reach the published throughput in
  our model, and the published figure needs about 6 GB/s (30 B/cycle) at our 16-bit sizes,
  or about half that at the chip's 8-bit data. The paper's DRAM bandwidth (or whether its
  throughput assumes one) is not in what we could read.
* energy efficiency **16,413 inferences/J on chip against 2560.3 (6.4x, OUT)**; 1,386 with
  DRAM at 160 pJ/byte. The pricing, not the mapping, is the gap: the same Horowitz 45 nm table
  gives Eyeriss v1 on AlexNet CONV1-5 1,032 uJ per image on chip, where the measured chip
  spent 8,013 uJ (278 mW x 115.3 ms / 4), 7.8x ours -- the same factor (6.4x) as here. A
  per-access table leaves out the 65 nm chips' clock tree, control and leakage, and prices
  45 nm accesses; both chips are priced alike, so the ratio compares like with like.
* speed over Eyeriss v1 **9.98x against 12.6x (0.79, holds)**: v1 runs at 62.6 inferences/s
  (the abstract implies 116.7); both are partly DRAM-bound at 16 B/cycle (with unlimited DRAM
  v1 reaches 86.0 and the ratio is 19.1x). v1's speed does not depend on weight zeros, so
  against the dense MobileNet it is the same 9.99x.
* energy efficiency over v1 **3.36x on chip against 2.5x (1.34, holds, at the band's edge)**;
  1.34x with DRAM, which both chips spend alike (4.1 vs 4.7 MB).
* per layer (Eyexam-style table): on chip, the depthwise layers are bound by the mapping
  (one filter per group: unicast iacts, 10-40x their effectual cycles), the pointwise
  layers by the NoC and psum streaming (``on-chip`` over ``mapped``), and with the shipped
  DRAM almost every layer by DRAM.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from accelsim.config import load_arch, with_overrides
from accelsim.sim.simulate import simulate
from accelsim.workload import load_network, load_tensors
from accelsim.workload.calibration import load_recipe, targets, units
from accelsim.workload.transforms import apply_transforms
from accelsim.workload.transforms.activations import impose_input_zeros

PAPER = {"v2 inferences/s": 1470.6, "v2 inferences/J": 2560.3,
         "speed over v1": 12.6, "energy efficiency over v1": 2.5}
BAND = 0.35
CHIP_V1_ALEXNET_MW, CHIP_V1_ALEXNET_MS = 278.0, 115.3   # JSSC 2017 AlexNet CONV table totals
UNLIMITED_DRAM = {"dram.bytes_per_cycle": None, "dram.latency_cycles": 0}
FAMILY = [f"mobilenet_v1_{a:03d}_{r}" for a in (25, 50, 75, 100) for r in (128, 160, 192, 224)]


def sparse_tensors(network, seed: int, density: float):
    """Calibrated values, magnitude-pruned to ``density`` per layer, with the calibration's
    input-zero targets imposed again after pruning."""
    tensors = load_tensors(network, seed=seed)
    pruned = apply_transforms(network, tensors, [{"kind": "prune", "density": density,
                                                  "scope": "layer"}])
    by_producer, _ = targets(network, load_recipe())
    goals = {unit.read_by[0]: by_producer[unit.layer] for unit in units(network)
             if len(unit.read_by) == 1}    # the zeros each layer reads, by reader
    return impose_input_zeros(network, pruned, goals, label="re-imposed calibration zeros")


def on_chip_uj(result) -> float:
    """Energy of every component but DRAM (uJ)."""
    return float(result.summary["energy_uj"] - result.summary.get("energy_dram_uj", 0.0))


def headline(result) -> dict:
    seconds = result.summary["time_ms"] / 1e3
    return {"inferences/s": 1 / seconds, "on-chip inferences/J": 1e6 / on_chip_uj(result),
            "total inferences/J": 1e6 / result.summary["energy_uj"],
            "ms": result.summary["time_ms"], "on-chip uJ": on_chip_uj(result),
            "DRAM MB": result.summary["dram_bytes"] / 1e6}


def eyexam(bound, unlimited, peak_macs: int) -> pd.DataFrame:
    """Per layer: the Eyexam-style steps, in cycles (see the module docstring)."""
    layers, free = bound.layers, unlimited.layers.set_index("layer")
    rows = []
    for _, row in layers.iterrows():
        name = row["layer"]
        steps = {"peak": int(np.ceil(row["macs"] / peak_macs)),
                 "effectual": int(np.ceil(row.get("pe_mac", row["macs"]) / peak_macs)),
                 "mapped": int(free.loc[name, "compute_cycles"]),
                 "on-chip": int(free.loc[name, "cycles"]),
                 "with DRAM": int(row["cycles"])}
        order = list(steps)
        losses = {later: steps[later] - steps[earlier]
                  for earlier, later in zip(order, order[1:], strict=False)}
        rows.append({"layer": name, "kind": row["kind"], "MACs": int(row["macs"]), **steps,
                     "bound": max(losses, key=losses.get) if max(losses.values()) > 0
                     else "peak"})
    table = pd.DataFrame(rows)
    total = {"layer": "total", "kind": "", **{c: table[c].sum() for c in
                                              ("MACs", "peak", "effectual", "mapped",
                                               "on-chip", "with DRAM")}, "bound": ""}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def band(ours: float, paper: float) -> tuple[float, bool]:
    ratio = ours / paper
    return ratio, abs(ratio - 1) <= BAND


def family_table(peak_macs: int, clock_mhz: float, density: float) -> pd.DataFrame:
    """What 1470.6 inferences/s allows: each variant's MACs and its time at peak."""
    rows = []
    for name in FAMILY:
        macs = load_network(name).macs
        rows.append({"variant": name, "MACs (M)": macs / 1e6,
                     "dense at peak (ms)": macs / peak_macs / clock_mhz / 1e3,
                     f"{density:.0%} weights at peak (ms)":
                         density * macs / peak_macs / clock_mhz / 1e3})
    return pd.DataFrame(rows)


def print_paper_table(runs: dict, mine: dict, old: dict) -> bool:
    """Ours beside the abstract's four numbers, each banded; True if every band holds."""
    ours = {"v2 inferences/s": mine["inferences/s"],
            "v2 inferences/J": mine["on-chip inferences/J"],
            "speed over v1": mine["inferences/s"] / old["inferences/s"],
            "energy efficiency over v1": old["on-chip uJ"] / mine["on-chip uJ"]}
    total = {name: runs[name].summary["energy_uj"] for name in ("v1 sparse", "v2 sparse")}
    dense_v1 = headline(runs["v1 dense"])["inferences/s"]
    unlimited = headline(runs["v2 sparse, unlimited DRAM"])["inferences/s"]
    also = {"v2 inferences/s": f"unlimited DRAM {unlimited:.1f}",
            "v2 inferences/J": f"with DRAM {mine['total inferences/J']:.1f}",
            "speed over v1": f"v1 on the dense MobileNet {mine['inferences/s'] / dense_v1:.2f}x",
            "energy efficiency over v1":
                f"with DRAM {total['v1 sparse'] / total['v2 sparse']:.2f}x"}
    print(f"\nThe abstract's four numbers (band +-{BAND:.0%}):")
    held = True
    for key, paper in PAPER.items():
        ratio, holds = band(ours[key], paper)
        held &= holds
        print(f"  {key:27s} ours {ours[key]:9.2f}  paper {paper:8.1f}  ratio {ratio:5.2f}  "
              f"{'holds' if holds else 'OUT'}   ({also[key]})")
    return held


def energy_scale(v1) -> None:
    """The same pricing against a measured chip: Eyeriss v1 on AlexNet CONV1-5 at batch 4
    (JSSC 2017: 278 mW for 115.3 ms per 4 images, without DRAM)."""
    result = simulate(v1, load_network("alexnet"), batch=4)
    conv = result.layers[result.layers["kind"] == "conv"]
    ours = (conv["energy_pj"].sum() - conv.get("energy_dram_pj", 0).sum()) / 4 / 1e6
    chip = CHIP_V1_ALEXNET_MW * CHIP_V1_ALEXNET_MS / 4    # uJ per image
    print(f"Energy scale: Eyeriss v1 on AlexNet CONV1-5 (batch 4), on chip per image: ours "
          f"{ours:,.0f} uJ, chip {chip:,.0f} uJ ({chip / ours:.1f}x ours)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="mobilenet_v1_050_128")
    parser.add_argument("--density", type=float, default=0.4,
                        help="weights kept per layer (magnitude pruning); default 0.4")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the per-layer Eyexam table (.csv)")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 200)
    network = load_network(args.workload)
    v2, v1 = load_arch("eyeriss_v2"), load_arch("eyeriss")
    params = v2.core_params
    peak = (params.cluster_rows * params.cluster_cols * params.pe_rows * params.pe_cols
            * params.macs_per_pe)
    print(f"Variants of MobileNet v1 at Eyeriss v2's peak ({peak} MACs/cycle, "
          f"{v2.clock_mhz:g} MHz); the paper's 1470.6 inferences/s is 0.68 ms:")
    print(family_table(peak, v2.clock_mhz, args.density).to_string(index=False,
                                                                  float_format="%.2f"))
    sparse = sparse_tensors(network, args.seed, args.density)
    dense = load_tensors(network, seed=args.seed)
    runs = {"v2 sparse": simulate(v2, network, tensors=sparse),
            "v2 sparse, unlimited DRAM": simulate(with_overrides(v2, UNLIMITED_DRAM),
                                                  network, tensors=sparse),
            "v2 dense": simulate(v2, network, tensors=dense),
            "v1 sparse": simulate(v1, network, tensors=sparse),
            "v1 sparse, unlimited DRAM": simulate(with_overrides(v1, UNLIMITED_DRAM),
                                                  network, tensors=sparse),
            "v1 dense": simulate(v1, network, tensors=dense)}
    print(f"\n{network.name}: {network.macs / 1e6:.1f} M MACs; weights kept "
          f"{args.density:.0%} per layer; seed {args.seed}")
    heads = pd.DataFrame({name: headline(result) for name, result in runs.items()}).T
    print(heads.to_string(float_format="%.1f"))
    mine, old = headline(runs["v2 sparse"]), headline(runs["v1 sparse"])
    held = print_paper_table(runs, mine, old)
    print("\nImplied by the abstract for Eyeriss v1 on MobileNet (no band): "
          f"{PAPER['v2 inferences/s'] / PAPER['speed over v1']:.1f} inferences/s, "
          f"{PAPER['v2 inferences/J'] / PAPER['energy efficiency over v1']:.0f} inferences/J; "
          f"ours {old['inferences/s']:.1f} and {old['on-chip inferences/J']:.0f} (on chip)")
    energy_scale(v1)
    table = eyexam(runs["v2 sparse"], runs["v2 sparse, unlimited DRAM"], peak)
    print("\nEyexam-style bounds per layer (cycles at 200 MHz; each step bounds the next):")
    print(table.to_string(index=False))
    if args.output:
        table.to_csv(args.output, index=False)
        print(f"wrote {args.output}")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
