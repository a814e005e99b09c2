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

What the paper says (read in the JETCAS 2019 text: Sec. III-D, IV, V and Table VI's caption;
its tables are images we could not read, so Table IV's voltage and Table V's list of the v1
changes are NOT FOUND):

* **the MobileNet**: "width multiplier of 0.5 and input size of 128 x 128" (Sec. V-A and
  Table VI's caption): ``mobilenet_v1_050_128`` (49.2 M MACs). The 1.0-224 model appears only
  in the scalability study (Fig. 14), "not used for performance and energy efficiency
  benchmarking" (footnote 1).
* **its sparsity**: "the sparse version ... as pruned by the method introduced in [14]"
  (energy-aware pruning, Yang, Chen, Sze, CVPR 2017); per-layer densities NOT FOUND.
  **Chosen: magnitude pruning to 40 % of the weights in every layer** (``--density``, as
  ``reproduce_phantom.py``'s MobileNet case), with the calibrated activation zeros re-imposed
  after pruning (fine-tuning a pruned network restores its activations).
* **throughput**: from "post-layout cycle-accurate gate-level simulations" at batch 1 with
  no off-chip limit: "With an aggregated external read and write bandwidth of 25600 MB/s ...
  DDR4-3200, the throughput of Eyeriss v2 running ... sparse MobileNet will decrease by ...
  24%" (Sec. V-B). So 1470.6 inferences/s is the chip alone; we compare it with ours under
  **unlimited DRAM**, and ours at 25,600 MB/s (128 B/cycle at 200 MHz) with
  1470.6 x 0.76 = 1117.7 (a fifth, derived band). The shipped 16 B/cycle (our choice, as
  phantom2d.yaml) is printed beside.
* **energy**: the same post-layout simulations, "technology library from the worst PVT
  corner", "switching activities profiled from running the actual weights ... and data from
  the ImageNet dataset": the accelerator's power, without DRAM, 65 nm. The voltage is in
  Table IV (NOT FOUND). 2560.3 inferences/J at 1470.6 inferences/s is 574 mW, 390.6 uJ per
  inference. The paper ties energy efficiency to utilisation through "static power
  consumption, e.g., clock network" (Sec. V-A), and the DW layers spend "most of the energy
  ... in the control logic" (Fig. 22): costs a per-access table has no entry for.
* **the baseline**: "Eyeriss v1 is the same design as the original Eyeriss, but with the
  storage capacity, number of PEs and data precision scaled to the same level as v1.5 and
  v2" (Sec. V-A), and it runs the *dense* MobileNet ("unless otherwise specified, ...
  MobileNet [refers] to the dense model"; "v2 with sparse MobileNet is 12.6x faster ... than
  v1 with MobileNet").

How we model that (one config per chip; no parameter depends on the network):

* one precision rule for both chips' on-chip networks: the paper compares the chips at
  8-bit data ("data precision scaled to the same level" for v1, Sec. V-A), so each link
  carries per cycle as many of our 16-bit values as the chip's port carries of its 8-bit
  ones. v2 (Sec. III-C, read this round): an iact or weight port is 24 bits, "three 8b
  uncompressed iact values or two 12b compressed iact run-data pairs per cycle", a psum port
  40 bits, "two psums per cycle"; per cluster 3 iact, 3 weight and 4 psum routers: 6 CSC
  pairs, 3 SIMD words and 8 psums a cycle, ``V2_CHIP_LINKS`` (16, 16 and 32 B of our
  20-bit pairs, 40-bit words and 32-bit psums; the shipped yaml's 8 / 16 / 16 B assumed one
  entry per router). v1 is "the same design as the original Eyeriss": the original's
  GIN / GON bit widths (JSSC 2017, the shipped ``eyeriss``: 16, 64, 64, 64 bits) carrying
  8-bit data, twice the values of the chip's 16-bit data, ``V1_8BIT_BUSES``. Both chips with
  our 16-bit data on the shipped widths are printed beside;
* v2: ``eyeriss_v2`` with ``V2_CHIP_LINKS``, sparse MobileNet, unlimited DRAM (the paper's
  condition);
* v1: the shipped ``eyeriss`` brought to v2's 192 PEs (a 12 x 16 array, ``V1_SCALED``) with
  ``V1_8BIT_BUSES``, dense MobileNet, unlimited DRAM. Its GLB stays 108 KB: our pricing
  charges an access by the array's total size, where both chips bank their GLBs (v2: 16 x
  12 KB), so raising the capacity to v2's 192 KB would raise every access's price by the
  size, not by the bank (the 192 KB run is printed beside it);
* energy: **chip-level calibration**. The per-access table is Horowitz's 45 nm one
  (accelsim/cost/energy.py). The script prices the *measured* Eyeriss v1 chip's run (JSSC
  2017, AlexNet CONV1-5, batch 4: 278 mW x 115.3 ms / 4 = 8,013 uJ per image, 65 nm; 1 V
  recalled)
  with it and takes the chip / ours factor (7.8x: the 65 nm node, clock tree, control and
  leakage a per-access table leaves out). That one factor multiplies every on-chip energy
  of both chips on every network; the ratio over v1 does not depend on it.

Chosen to match rather than predicted: the 40 % density (a project choice, not fitted
here), the v1 scaling (PEs; GLB kept, alternatives printed), the precision rule for both
chips' links (read from the papers, not fitted: it moved the ratio from 18.96x to 12.6x and
v2's throughput out of its band) and the calibration (fitted to v1's measured AlexNet, not to
any number here; it assumes the v2 post-layout figures at the worst corner carry the same
overheads over a per-access count as the measured v1 chip). The arch configs are not changed
(the links are overrides here) and no published number is in the code path.

The Eyexam-style breakdown (Eyexam: the paper's step-by-step performance bounds; the steps
are recalled from the Sze et al. SSC Magazine 2020 article on evaluating DNN processors:
layer shape, dataflow, number of PEs, array dimensions, storage, bandwidth, sparsity), per
layer, in cycles at 200 MHz, each step a bound on the next:

* ``peak``: dense MACs at 384 MACs/cycle (finite PEs, all busy);
* ``effectual``: the non-zero products (``pe_mac``) at 384/cycle (perfect sparsity skipping);
* ``mapped``: the PE array's own time (the core's rounds: active PEs, CSC address and SIMD
  overheads, the slowest PE of a cluster) -- ``compute_cycles`` with unlimited DRAM;
* ``on-chip``: plus the NoC and GLB streaming (the layer's cycles with unlimited DRAM);
* ``with DRAM``: at the paper's DDR4-3200 bandwidth (128 B/cycle, 100-cycle latency);
* ``bound``: the step that loses the most.

Findings (seed 0, density 0.4; ours / paper; see the script's output for the figures):

* speed over the scaled v1: **12.6x against 12.6x (1.00, holds)**: 2173.6 / 172.2
  inferences/s. The paper's own split agrees: sparsity adds 1.2x on MobileNet (Sec. I),
  ours 1.26x (v2 sparse over v2 dense).
* throughput, chip alone: **2173.6 against 1470.6 inferences/s (1.48, OUT)**; at DDR4-3200
  1744.2 against 1117.7 (1.56, OUT; ours loses 20 % to the DRAM, the paper 24 %). v1 is out
  by the same factor: 172.2 against the 116.7 the abstract implies (1.48). A factor common
  to both chips' absolute throughput, not to their ratio, is time the model has for neither:
  what the post-layout gate-level simulation counts and we do not (the sparse PE's seven
  pipeline stages and their fill per pass, router hops, GLB bank conflicts, the per-layer
  2134-bit reconfiguration command; the module docstring of accelsim/arch/eyeriss_v2.py
  lists them as not modelled). Before this rule (stop 17) both chips carried our 16-bit
  data on the shipped widths: v2 1645.6 (1.12) but v1 86.8, so 18.96x (1.50, OUT);
  doubling only v1's buses would put all five in band by mixing two readings of one
  precision, which we do not do.
* energy efficiency, calibrated on chip: **2,114 against 2560.3 inferences/J (0.83,
  holds)**; uncalibrated (45 nm per-access) 16,413, 6.4x the paper, near the factor by
  which the same table misses the measured v1 (7.8x). Our energies have no static part,
  so the links' rule does not move them.
* energy efficiency over v1: **3.3x against 2.5x (1.32, holds)**; v1 with a 192 KB GLB
  priced as one array 3.9x. v1 is bound by its buses (doubling their values doubles its
  speed; 87.9 inferences/s at 168 PEs, 86.8 at 192 with 16-bit data), as Fig. 14b says of
  v1 ("insufficient bandwidth provided by the broadcast NoC"). (v1's figures move with the
  shipped ``eyeriss`` model, whose mapping was being reworked for issue 20 part 1.)
* per layer: on chip, the depthwise layers are bound by the mapping (one filter per group:
  unicast iacts, 10-40x their effectual cycles), the pointwise layers by the NoC and psum
  streaming (``on-chip`` over ``mapped``); at DDR4-3200 fc (its CSC weights: 4,114 -> 10,776
  cycles) and the smallest late layers lose most to DRAM.
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
DDR4_MB_S, DDR4_LOSS = 25600, 0.24    # Sec. V-B: sparse MobileNet 24 % slower at DDR4-3200
PAPER["v2 inferences/s at DDR4-3200"] = PAPER["v2 inferences/s"] * (1 - DDR4_LOSS)
BAND = 0.35
CHIP_V1_ALEXNET_MW, CHIP_V1_ALEXNET_MS = 278.0, 115.3   # JSSC 2017 AlexNet CONV table totals
UNLIMITED_DRAM = {"dram.bytes_per_cycle": None, "dram.latency_cycles": 0}
V1_SCALED = {"core_params.array_cols": 16}    # 12 x 16 = 192 PEs, v2's count (Sec. V-A)
# The one precision rule (module docstring): each chip's links carry per cycle as many of our
# 16-bit values as the chip's ports carry of its 8-bit ones.
V1_8BIT_BUSES = {"core_params.gin_ifmap_bits": 32, "core_params.gin_filter_bits": 128,
                 "core_params.gin_psum_bits": 128, "core_params.gon_bits": 128}
V2_CHIP_LINKS = {"core_params.noc_iact_bytes_per_cycle": 16,   # 3 ports x 2 CSC pairs
                 "core_params.noc_weight_bytes_per_cycle": 16,  # 3 ports x 1 SIMD word
                 "core_params.noc_psum_bytes_per_cycle": 32}    # 4 ports x 2 psums
V1_SENSITIVITY = {    # printed beside, not banded (see the module docstring)
    "v1 scaled, 192 KB GLB": {**V1_8BIT_BUSES, "buffers.glb.size_kib": 192},
    "v1 scaled, 16-bit data on its buses": {}}
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


def headline(result, calibration: float = 1.0) -> dict:
    """Throughput, on-chip energy (times the chip-level ``calibration``) and DRAM bytes."""
    seconds = result.summary["time_ms"] / 1e3
    chip_uj = on_chip_uj(result) * calibration
    return {"inferences/s": 1 / seconds, "on-chip inferences/J": 1e6 / chip_uj,
            "ms": result.summary["time_ms"], "on-chip uJ": chip_uj,
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


def print_paper_table(heads: pd.DataFrame) -> bool:
    """Ours beside the paper's numbers, each banded; True if every band holds."""
    v2, v1 = heads.loc["v2 sparse"], heads.loc["v1 dense (scaled)"]
    ours = {"v2 inferences/s": v2["inferences/s"],
            "v2 inferences/J": v2["on-chip inferences/J"],
            "speed over v1": v2["inferences/s"] / v1["inferences/s"],
            "energy efficiency over v1": v1["on-chip uJ"] / v2["on-chip uJ"],
            "v2 inferences/s at DDR4-3200": heads.loc["v2 sparse, DDR4-3200",
                                                      "inferences/s"]}
    glb, buses = (heads.loc[f"v1 scaled, {what}"] for what in ("192 KB GLB",
                                                               "16-bit data on its buses"))
    sixteen_bit = heads.loc["v2 sparse, 16-bit data on its links", "inferences/s"]
    also = {"v2 inferences/s": f"at the shipped 16 B/cycle DRAM "
                               f"{heads.loc['v2 sparse, shipped DRAM', 'inferences/s']:.1f}",
            "v2 inferences/J": "uncalibrated (45 nm per-access) "
                               f"{v2['on-chip inferences/J'] * heads.attrs['calibration']:.0f}",
            "speed over v1": f"16-bit data on both chips' links "
                             f"{sixteen_bit / buses['inferences/s']:.2f}x",
            "energy efficiency over v1": f"v1 with a 192 KB GLB "
                                         f"{glb['on-chip uJ'] / v2['on-chip uJ']:.2f}x",
            "v2 inferences/s at DDR4-3200": "paper: 24 % below 1470.6"}
    print(f"\nThe paper's numbers (band +-{BAND:.0%}):")
    held = True
    for key, paper in PAPER.items():
        ratio, holds = band(ours[key], paper)
        held &= holds
        print(f"  {key:29s} ours {ours[key]:9.2f}  paper {paper:8.1f}  ratio {ratio:5.2f}  "
              f"{'holds' if holds else 'OUT'}   ({also[key]})")
    return held


def calibration_factor(v1) -> float:
    """Chip-level energy calibration: the measured Eyeriss v1 chip's on-chip energy per image
    on AlexNet CONV1-5 (JSSC 2017: 278 mW for 115.3 ms per 4 images, without DRAM) over ours
    for the same run with the shared per-access table."""
    result = simulate(v1, load_network("alexnet"), batch=4)
    conv = result.layers[result.layers["kind"] == "conv"]
    ours = (conv["energy_pj"].sum() - conv.get("energy_dram_pj", 0).sum()) / 4 / 1e6
    chip = CHIP_V1_ALEXNET_MW * CHIP_V1_ALEXNET_MS / 4    # uJ per image
    print(f"Chip-level energy calibration: Eyeriss v1 on AlexNet CONV1-5 (batch 4), on chip "
          f"per image: ours {ours:,.0f} uJ, chip {chip:,.0f} uJ: x{chip / ours:.2f} on every "
          f"on-chip energy below")
    return chip / ours


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
    calibration = calibration_factor(v1)
    sparse = sparse_tensors(network, args.seed, args.density)
    dense = load_tensors(network, seed=args.seed)
    chip_v2 = with_overrides(v2, {**UNLIMITED_DRAM, **V2_CHIP_LINKS})
    chip_v1 = with_overrides(v1, {**UNLIMITED_DRAM, **V1_SCALED, **V1_8BIT_BUSES})
    ddr4 = {"dram.bytes_per_cycle": DDR4_MB_S / v2.clock_mhz, "dram.latency_cycles": 100}
    configs = {"v2 sparse": (chip_v2, sparse),
               "v2 sparse, DDR4-3200": (with_overrides(chip_v2, ddr4), sparse),
               "v2 sparse, shipped DRAM": (with_overrides(v2, V2_CHIP_LINKS), sparse),
               "v2 sparse, 16-bit data on its links": (with_overrides(v2, UNLIMITED_DRAM),
                                                       sparse),
               "v2 dense": (chip_v2, dense),
               "v1 dense (scaled)": (chip_v1, dense),
               "v1 sparse (scaled)": (chip_v1, sparse),
               "v1 dense, as shipped (168 PEs)": (with_overrides(v1, UNLIMITED_DRAM), dense),
               **{name: (with_overrides(v1, {**UNLIMITED_DRAM, **V1_SCALED, **overrides}),
                         dense)
                  for name, overrides in V1_SENSITIVITY.items()}}
    runs = {name: simulate(arch, network, tensors=tensors)
            for name, (arch, tensors) in configs.items()}
    print(f"\n{network.name}: {network.macs / 1e6:.1f} M MACs; weights kept "
          f"{args.density:.0%} per layer; seed {args.seed}; DRAM unlimited unless named; "
          f"energies on chip, calibrated")
    heads = pd.DataFrame({name: headline(result, calibration)
                          for name, result in runs.items()}).T
    heads.attrs["calibration"] = calibration
    print(heads.to_string(float_format="%.1f"))
    held = print_paper_table(heads)
    old = heads.loc["v1 dense (scaled)"]
    print("\nImplied by the abstract for Eyeriss v1 on MobileNet (no band): "
          f"{PAPER['v2 inferences/s'] / PAPER['speed over v1']:.1f} inferences/s, "
          f"{PAPER['v2 inferences/J'] / PAPER['energy efficiency over v1']:.0f} inferences/J; "
          f"ours {old['inferences/s']:.1f} and {old['on-chip inferences/J']:.0f}")
    table = eyexam(runs["v2 sparse, DDR4-3200"], runs["v2 sparse"], peak)
    print("\nEyexam-style bounds per layer (cycles at 200 MHz; each step bounds the next; "
          "'with DRAM' at DDR4-3200):")
    print(table.to_string(index=False))
    if args.output:
        table.to_csv(args.output, index=False)
        print(f"wrote {args.output}")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
