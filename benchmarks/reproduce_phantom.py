"""Phantom-2D vs a dense design with the same multipliers and vs SCNN, SparTen and Eyeriss v2
(Qureshi & Munir, arXiv 2111.05002: 12x, 4.1x, 1.98x, 2.36x on VGG-16 and MobileNet), with
Phantom's speedup split into its sources.

Run from the repository root::

    PYTHONPATH=. python benchmarks/reproduce_phantom.py [--cases vgg16,mobilenet_v1]
        [--seed 0] [--phantom-only] [--figure benchmarks/figures/phantom_mesh.png]
        [--speedup-figure benchmarks/figures/phantom_speedup.png] [--output ratios.csv]
        [--layers-output results/ph_layers.csv]

``--output`` writes Phantom-2D's published comparisons, one row per case, comparison and
metric (columns ``case, comparison, metric, ours, paper, ratio_to_paper, holds``; holds =
within 1.5x of the paper's), the table printed last; ``--layers-output`` every design's
per-layer table.

Designs, all on the same tensors with 144 multipliers, a 1 GHz clock and 16 B/cycle of DRAM
(``arch_configs/phantom2d.yaml`` documents every size we chose for Phantom); a case's layer
values are computed once, by the first design, and the others only count
(:func:`compare_counting`):

* ``phantom2d_dense``: the same 4 x 4 mesh of 9-multiplier cores, every pair multiplied
  (packed 9 a cycle), data stored dense;
* ``phantom2d_neuromax``: the dense baseline Sparse-PE names, NeuroMAX (ICCAD 2020), as
  6 x 8 PEs of 3 threads (``arch_configs/phantom2d_neuromax.yaml`` says what is NeuroMAX's
  and what is ours);
* ``static``: Phantom with the threads bound to a chunk's elements (skips empty work items
  only): the gain of sparsity skipping alone;
* ``unbalanced``: Phantom's dynamic thread scheduling, inter-core balancing off: adds the
  first level of load balancing (intra-core);
* ``phantom2d``: both levels (filters and position bands dealt by estimated work);
* ``scnn`` (3 x 3 PEs of 4 x 4 multipliers), ``sparten`` (9 clusters x 16 compute units,
  GB-H), ``eyeriss_v2`` (3 x 2 clusters x 12 PEs x 2 MACs): the shipped configs brought to
  144 multipliers, the clock and the DRAM above (:data:`OTHERS`; skipped if not shipped).

Tensors (``--values``): ``synthetic`` by default, He-normal seeded weights with zero biases
(no trained model is shipped for these networks) on a natural-statistics image, because every
figure in this docstring was measured on them; ``--values calibrated`` starts from the CLI's
default tensors instead (Laplace weights, biases calibrated to Han et al.'s VGG-16 activation
densities, the profile ``vgg16-han-acts`` imposes again after pruning). Activations are those
the simulated hardware computes. Pruning:
VGG-16 to the per-layer weight densities of Han et al. (NIPS 2015; the ``vgg16_han2015``
profile, 7.6 % of the weights kept), with the activations the seeded network computes
(``vgg16``) or with each layer's input zero fraction brought to Han et al.'s published
activation densities of the pruned model (``vgg16-han-acts``,
``workloads/profiles/vgg16_han2015_activations.yaml``); MobileNet v1 to 40 % per layer by
magnitude (no published per-layer profile for Phantom's pruned MobileNet was found;
published-anchors.md section 12.5). The paper's ratios are for its own pruned models,
internal sizes and baselines, none of which we could read beyond the abstract.

What the papers say (abstracts only: the stored copies of ar5iv 2111.05002, Sparse-PE's DOAJ /
OpenAlex / NYU records and NeuroMAX's arXiv 2007.09578 pages hold no text past them). Phantom-2D:
12x / 4.1x / 1.98x / 2.36x over "dense architectures" / SCNN / SparTen / Eyeriss v2, simulated,
"on VGG16 and MobileNet". Sparse-PE (same authors, the core Phantom extends): 12x over "a recently
proposed dense accelerator (NeuroMAX)", 4.2x / 2.38x / 1.98x over SCNN / Eyeriss v2 / SparTen, "a
custom built cycle accurate simulator". NeuroMAX: 3 products per PE per cycle, 2-D weight
broadcast. None says which layers are averaged, or how (mean of ratios, ratio of sums, ...).
Searched again in stop 17 (pages / docs / code corpora, exact strings): the same records and
abstracts only; the arXiv/ar5iv abstract of Phantom names who lacks what: "no support for
non-unit stride convolutions (SCNN) and fully-connected (FC) layers (SCNN, SparTen)", so the
SCNN and SparTen comparisons were probably conv-only (``mean_of_layer_speedups_conv`` and
``mac_weighted_conv`` rows): those fail too (2.60x / 4.1x, 1.23x / 1.98x for ``vgg16``).
Sparse-PE's full text (IEEE Access, open access) is not among the stored pages.

Chosen to match, not predicted or read: (1) the paper's metric, ``mean_of_layer_speedups_incl_fc``
(:data:`PAPER_METRIC`): the only usual average under which 12x is reachable with Han et al.'s
densities; the effectual-pair (ideal) speedup of our pruned VGG-16 is 5.8x as a ratio of sums over
conv, 7.2x as a geometric mean incl. fc, 10.9x as a mean incl. fc (18.0x with Han et al.'s
activations), since fc6 / fc7 (ideal 40x / 51x) count as much as conv1_2; (2) NeuroMAX's size,
48 PEs x 3 threads (iso-multiplier); (3) 144 multipliers, 1 GHz, 16 B/cycle DRAM for all.

Why the comparisons that fail under the paper's metric fail (``vgg16``, ours / paper):
* over dense, 5.6x / 12x (NeuroMAX-style 5.7x: the baseline's identity is not the gap at equal
  multipliers). Conv layers reach 90 % of their ideal (5.26x of 5.82x, ratio of sums), so the
  gap is not Phantom's scheduling. The fc layers reach 9.7x / 9.3x / 3.4x against ideal 40x /
  51x / 9x because both designs are DRAM-bound there (dense fc6: 12.1 M of 12.9 M cycles are
  stalls): their speedup is the bytes ratio, 205.6 MB dense / 21.1 MB values + masks = 9.7x.
  With ``--unlimited-dram`` (no DRAM limit, every design alike) the paper's metric gives
  10.2x (0.85, holds; NeuroMAX-style 10.4x): a simulator that does not bound fc layers by DRAM
  bandwidth is what the 12x needs (our inference, not read). But the same run puts Phantom
  39x over SCNN (fc6 on one SCNN PE: 4.7 M cycles vs 19 K) and 6.3x over Eyeriss v2 under that
  metric, so no one memory model makes all four hold under a mean incl. fc; unbounded DRAM
  with fc counted only against the dense baseline comes closest (10.2x / 2.63x / 1.17x /
  2.91x: SCNN and SparTen still fail).
* over SparTen, 1.18x / 1.98x: SparTen is within 1.1-1.3x of Phantom on every conv layer but
  conv1_1 and as fast on fc (same compressed weights, same DRAM). The papers say SparTen lacks
  fc support; ours runs fc as a conv over the whole input, so the 3 fc rows count ~1x here.
  Conv-only it is 1.23x (1.17x with unlimited DRAM): both designs issue only effectual pairs
  to 144 multipliers, so 1.98x needs SparTen idle half its cycles; ours (GB-H, our sizes) is
  not.
* over SCNN: 2.81x / 4.1x holds (0.69) for ``vgg16`` but not ``vgg16-han-acts`` (0.62) or
  ``mobilenet_v1`` (0.50); SCNN here is 2.0-3.1x slower per conv layer, 2.9-4.5x on fc.
Over Eyeriss v2 it holds under every metric and case at 16 B/cycle (0.88-1.22).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
import pandas as pd

from accelsim.compare import Comparison
from accelsim.config import load_arch, with_overrides
from accelsim.files import shipped
from accelsim.sim.simulate import record_values, simulate
from accelsim.sim.values import value_key
from accelsim.workload import load_network, load_tensors
from accelsim.workload.transforms import apply_transforms

PAPER_SPEEDUP_VS_DENSE = 12.0
CASES = {   # case -> (network, transforms, what the tensors are)
    "vgg16": ("vgg16", [{"kind": "prune", "profile": "vgg16_han2015"}],
              "Han et al. per-layer weight densities (vgg16_han2015)"),
    "vgg16-han-acts": ("vgg16", [{"kind": "prune", "profile": "vgg16_han2015"},
                                 {"kind": "activation_profile",
                                  "profile": "vgg16_han2015_activations"}],
                       "the same + Han et al.'s activation densities imposed"),
    "mobilenet_v1": ("mobilenet_v1", [{"kind": "prune", "density": 0.4, "scope": "layer"}],
                     "magnitude pruning to 40% per layer (our choice)"),
}


MULTIPLIERS = 144
# --unlimited-dram: no DRAM bandwidth limit or latency, for every design alike.
UNLIMITED_DRAM = {"dram.bytes_per_cycle": None, "dram.latency_cycles": 0}
SAME_MEMORY = {"clock_mhz": 1000, "dram.bytes_per_cycle": 16, "dram.latency_cycles": 100}
# The designs Phantom is compared with, brought to Phantom-2D's 144 multipliers and memory.
OTHERS = {
    "scnn": {"core_params.pe_rows": 3, "core_params.pe_cols": 3},        # 9 PEs x 4x4
    "sparten": {"core_params.clusters": 9, "core_params.cus_per_cluster": 16,
                "core_params.multipliers_per_cu": 1, "core_params.noc_bytes_per_cycle": 16},
    "eyeriss_v2": {"core_params.cluster_rows": 3},   # 3 x 2 clusters x 12 PEs x 2 MACs
}
PAPER_RATIOS = {   # (faster, slower): published speedup
    ("phantom2d", "phantom2d_dense"): 12.0, ("phantom2d", "scnn"): 4.1,
    ("phantom2d", "sparten"): 1.98, ("phantom2d", "eyeriss_v2"): 2.36,
    ("scnn", "phantom2d_dense"): 2.7, ("sparten", "phantom2d_dense"): 4.7,
    ("sparten", "scnn"): 3.0,
}
# Phantom-2D's four published comparisons (abstract of arXiv 2111.05002), each against the
# design that stands in for the paper's: comparison -> (slower design, published speedup).
# The dense one twice: our iso-multiplier dense Phantom-2D and the NeuroMAX-style baseline
# Sparse-PE names (arch_configs/phantom2d_neuromax.yaml).
COMPARISONS = {
    "phantom2d over dense (phantom2d_dense)": ("phantom2d_dense", 12.0),
    "phantom2d over dense (NeuroMAX-style)": ("phantom2d_neuromax", 12.0),
    "phantom2d over scnn": ("scnn", 4.1),
    "phantom2d over sparten": ("sparten", 1.98),
    "phantom2d over eyeriss_v2": ("eyeriss_v2", 2.36),
}
HOLDS_WITHIN = 1.5          # a comparison holds when ours is within 1.5x of the paper's
RATIO_COLUMNS = ["case", "comparison", "metric", "ours", "paper", "ratio_to_paper", "holds"]


def mean_of_ratios(slow, fast) -> float:
    """Arithmetic mean over layers of each layer's speedup ``slow_i / fast_i``: every layer
    counts once, so a small layer with a large speedup (an fc layer pruned to 4 %) weighs as
    much as the largest conv."""
    return float((np.asarray(slow, float) / np.asarray(fast, float)).mean())


def ratio_of_sums(slow, fast) -> float:
    """``sum(slow) / sum(fast)``: the speedup of the layers' total time, i.e. the per-layer
    speedups averaged harmonically with each layer weighted by its share of the slow design's
    time (by its MACs, for a dense baseline)."""
    return float(np.sum(np.asarray(slow, float)) / np.sum(np.asarray(fast, float)))


# metric -> (layer kinds it covers, how per-layer times are combined). The first is our
# reading of the paper's metric (the docstring says why; its text past the abstract could not
# be read); the second the same without fc (the papers say SCNN and SparTen lack fc support);
# the third MAC-weighted over conv layers; the last the whole network's time.
METRICS = {
    "mean_of_layer_speedups_incl_fc": (("conv", "fc"), mean_of_ratios),
    "mean_of_layer_speedups_conv": (("conv",), mean_of_ratios),
    "mac_weighted_conv": (("conv",), ratio_of_sums),
    "network_time": (None, ratio_of_sums),
}
PAPER_METRIC = "mean_of_layer_speedups_incl_fc"


def speedup(layers: pd.DataFrame, fast: str, slow: str, metric: str) -> float:
    """``fast``'s speedup over ``slow`` under ``metric`` (:data:`METRICS`), from a per-layer
    table with columns ``layer, kind, arch, time_us`` (one workload)."""
    kinds, combine = METRICS[metric]
    shown = layers if kinds is None else layers[layers["kind"].isin(kinds)]
    times = shown.pivot_table(index="layer", columns="arch", values="time_us", sort=False)
    return combine(times[slow], times[fast])


def comparison_rows(case: str, layers: pd.DataFrame) -> list[dict]:
    """One row per published comparison (:data:`COMPARISONS`) whose designs ran, per metric
    (:data:`METRICS`): ours, the paper's, their ratio and whether it holds."""
    archs = set(layers["arch"])
    rows = []
    for comparison, (slow, paper) in COMPARISONS.items():
        if not {"phantom2d", slow} <= archs:
            continue
        for metric in METRICS:
            ours = speedup(layers, "phantom2d", slow, metric)
            rows.append({"case": case, "comparison": comparison, "metric": metric,
                         "ours": ours, "paper": paper, "ratio_to_paper": ours / paper,
                         "holds": bool(1 / HOLDS_WITHIN <= ours / paper <= HOLDS_WITHIN)})
    return rows


def designs(lookahead: int | None = None, others: bool = True,
            unlimited_dram: bool = False) -> list:
    """phantom2d_dense, static, unbalanced, phantom2d (named so in the tables), then (with
    ``others``) the NeuroMAX-style dense baseline and SCNN, SparTen and Eyeriss v2 at 144
    multipliers with Phantom-2D's clock and DRAM (those shipped)."""
    base = load_arch("phantom2d")
    if lookahead:
        base = with_overrides(base, {"core_params.lookahead": lookahead})

    def variant(name, **params):
        config = with_overrides(base, {f"core_params.{k}": v for k, v in params.items()})
        return dataclasses.replace(config, name=name)

    chosen = [load_arch("phantom2d_dense"),
              variant("static", dynamic_threads=False, inter_core_balancing=False),
              variant("unbalanced", inter_core_balancing=False), base]
    if others and "phantom2d_neuromax" in shipped("arch_configs"):
        chosen.append(load_arch("phantom2d_neuromax"))
    for name, overrides in (OTHERS.items() if others else ()):
        if name in shipped("arch_configs"):
            chosen.append(with_overrides(load_arch(name), {**SAME_MEMORY, **overrides}))
    if unlimited_dram:
        chosen = [dataclasses.replace(with_overrides(config, UNLIMITED_DRAM), name=config.name)
                  for config in chosen]
    return chosen


def compare_counting(configs: list, network, tensors, seed: int) -> Comparison:
    """:func:`accelsim.compare.compare`'s tables for one network, with each layer's values
    computed once: the first design of each value key records them and the others only
    count (``simulate(reuse=...)``, identical to a full run: ``tests/test_sweep.py``). Every
    design here is fixed16, so one full run serves all; the baseline is the first design."""
    results, recorded = {}, {}
    for config in configs:
        key = value_key(config)
        if key in recorded:
            result = simulate(config, network, seed=seed, reuse=recorded[key])
        else:
            result, recorded[key] = record_values(config, network, seed=seed, tensors=tensors)
        results[(network.name, config.name)] = result
    return Comparison.of(results, configs[0].name)


def run(case: str, seed: int, lookahead: int | None = None, others: bool = True,
        unlimited_dram: bool = False, values: str = "synthetic"):
    name, specs, label = CASES[case]
    network = load_network(name)
    tensors = apply_transforms(network, load_tensors(network, seed, values=values), specs)
    return compare_counting(designs(lookahead, others, unlimited_dram), network, tensors,
                            seed), label


def full_layers(comparison) -> pd.DataFrame:
    """Every run's whole ``Result.layers`` (with the core's own columns), arch and workload
    added (the comparison table keeps only the common columns)."""
    return pd.concat([result.layers.assign(workload=workload, arch=arch)
                      for (workload, arch), result in comparison.results.items()],
                     ignore_index=True)


def summary_rows(name: str, comparison, label: str) -> dict:
    cycles = comparison.networks.set_index("arch")["cycles"]
    layers = full_layers(comparison)
    phantom = layers[layers["arch"] == "phantom2d"]
    weights = phantom[phantom["kind"].isin(["conv", "fc"])]
    return {"case": name, "tensors": label,
            "effectual MACs %": 100 * weights["threads_mac"].sum() / weights["macs"].sum(),
            "dense Mcycles": cycles["phantom2d_dense"] / 1e6,
            "phantom Mcycles": cycles["phantom2d"] / 1e6,
            "skipping x": cycles["phantom2d_dense"] / cycles["static"],
            "intra-core x": cycles["static"] / cycles["unbalanced"],
            "inter-core x": cycles["unbalanced"] / cycles["phantom2d"],
            "total x": cycles["phantom2d_dense"] / cycles["phantom2d"],
            "energy ratio": comparison.networks.set_index("arch")["energy_ratio"]["phantom2d"]}


def ratio_rows(case: str, comparison) -> list[dict]:
    """Each published pair's speedup (time) in this case beside the paper's."""
    time = comparison.networks.set_index("arch")["time_us"]
    rows = []
    for (fast, slow), paper in PAPER_RATIOS.items():
        if fast in time and slow in time:
            ours = time[slow] / time[fast]
            rows.append({"case": case, "pair": f"{fast} over {slow}", "ours": ours,
                         "paper": paper, "ours / paper": ours / paper,
                         "within 1.5x": 1 / 1.5 <= ours / paper <= 1.5})
    return rows


def print_layers(case: str, comparison) -> None:
    layers = comparison.layers
    per_layer = layers[layers["kind"].isin(["conv", "fc"])].pivot_table(
        index="layer", columns="arch", values="cycles", sort=False)
    speedup = per_layer["phantom2d_dense"] / per_layer["phantom2d"]
    print(f"\n{case}: conv/fc layer cycles (thousands) and Phantom-2D's speedup over dense")
    print((per_layer / 1e3).assign(speedup=speedup)
          .to_string(float_format=lambda v: f"{v:,.2f}"))


def print_summary(rows: list[dict], ratios: list[dict], dram: str = "16 B/cycle",
                  values: str = "synthetic") -> None:
    print()
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    print(f"\npaper: Phantom-2D {PAPER_SPEEDUP_VS_DENSE}x over a dense design (VGG-16 and "
          "MobileNet, its own pruned models and sizes).")
    for row in rows:
        print(f"  {row['case']}: {row['total x']:.2f}x = {row['skipping x']:.2f} (skipping) "
              f"x {row['intra-core x']:.2f} (intra-core) x {row['inter-core x']:.2f} "
              f"(inter-core); {row['total x'] / PAPER_SPEEDUP_VS_DENSE:.0%} of the paper's")
    if ratios:
        print(f"\nspeedups at {MULTIPLIERS} multipliers, one clock (1 GHz) and one DRAM "
              f"({dram}) for all, beside the papers':")
        print(pd.DataFrame(ratios).to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    what = ("seeded He-normal weights, zero biases" if values == "synthetic" else
            "the CLI's calibrated defaults (workloads/calibration/default.yaml)")
    print(f"tensors: --values {values}: {what}, natural-image input, pruned as listed; "
          "activations computed by the simulated hardware.")


def print_comparisons(published: list[dict]) -> pd.DataFrame:
    """Print Phantom-2D's published comparisons under each metric; return them as a table."""
    table = pd.DataFrame(published, columns=RATIO_COLUMNS)
    if len(table):
        print(f"\nPhantom-2D's published speedups, ours under each metric (the paper's, as we "
              f"read it: {PAPER_METRIC}); holds = within {HOLDS_WITHIN}x of the paper's:")
        print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--values", default="synthetic", choices=("synthetic", "calibrated"),
                        help="the tensors before pruning (default synthetic: see the docstring)")
    parser.add_argument("--lookahead", type=int, help="override the lookahead window")
    parser.add_argument("--phantom-only", action="store_true",
                        help="skip SCNN, SparTen and Eyeriss v2")
    parser.add_argument("--unlimited-dram", action="store_true",
                        help="every design with unbounded DRAM bandwidth and no latency (a "
                        "compute-only memory model: the sensitivity in the docstring)")
    parser.add_argument("--figure", help="write the mesh heat map (unbalanced vs phantom2d)")
    parser.add_argument("--speedup-figure", help="write the speedup bars over dense")
    parser.add_argument("--output", help="write the published comparisons, one row per "
                        "comparison and metric (.csv; columns: RATIO_COLUMNS)")
    parser.add_argument("--layers-output", help="write the per-layer comparison table (.csv)")
    args = parser.parse_args(argv)
    rows, ratios, tables, networks, published = [], [], [], [], []
    for case in [n.strip() for n in args.cases.split(",") if n.strip()]:
        comparison, label = run(case, args.seed, args.lookahead, not args.phantom_only,
                                args.unlimited_dram, args.values)
        print_layers(case, comparison)
        rows.append(summary_rows(case, comparison, label))
        ratios += ratio_rows(case, comparison)
        tables.append(full_layers(comparison).assign(workload=case))   # the case's name
        networks.append(comparison.layers.assign(workload=case))
        published += comparison_rows(case, comparison.layers)
    print_summary(rows, ratios, "unlimited" if args.unlimited_dram else "16 B/cycle",
                  args.values)
    table = print_comparisons(published)
    layers = pd.concat(tables, ignore_index=True)
    if args.output:
        table.to_csv(args.output, index=False)
        print(f"wrote {args.output}")
    if args.layers_output:
        layers.to_csv(args.layers_output, index=False)
        print(f"wrote {args.layers_output}")
    from accelsim import plot
    if args.figure:
        figure = plot.mesh(layers[layers["arch"].isin(["unbalanced", "phantom2d"])],
                           workload=layers["workload"].iloc[0])
        print("wrote", *plot.save(figure, args.figure))
    if args.speedup_figure:
        table = pd.concat(networks, ignore_index=True)
        shown = ["phantom2d_dense", "phantom2d", "phantom2d_neuromax", *OTHERS]   # no ablations
        figure = plot.speedup(table[table["arch"].isin(shown)], baseline="phantom2d_dense")
        print("wrote", *plot.save(figure, args.speedup_figure))
    return 0


if __name__ == "__main__":
    sys.exit(main())
