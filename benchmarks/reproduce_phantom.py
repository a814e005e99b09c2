"""Phantom-2D vs a dense design with the same multipliers and vs SCNN, SparTen and Eyeriss v2
(Qureshi & Munir, arXiv 2111.05002: 12x, 4.1x, 1.98x, 2.36x on VGG-16 and MobileNet), with
Phantom's speedup split into its sources.

Run from the repository root::

    PYTHONPATH=. python benchmarks/reproduce_phantom.py [--cases vgg16,mobilenet_v1]
        [--seed 0] [--phantom-only] [--figure benchmarks/figures/phantom_mesh.png]
        [--speedup-figure benchmarks/figures/phantom_speedup.png] [--output results/ph.csv]

Designs, all on the same tensors with 144 multipliers, a 1 GHz clock and 16 B/cycle of DRAM
(``arch_configs/phantom2d.yaml`` documents every size we chose for Phantom):

* ``phantom2d_dense``: the same 4 x 4 mesh of 9-multiplier cores, every pair multiplied
  (packed 9 a cycle), data stored dense;
* ``static``: Phantom with the threads bound to a chunk's elements (skips empty work items
  only): the gain of sparsity skipping alone;
* ``unbalanced``: Phantom's dynamic thread scheduling, inter-core balancing off: adds the
  first level of load balancing (intra-core);
* ``phantom2d``: both levels (filters and position bands dealt by estimated work);
* ``scnn`` (3 x 3 PEs of 4 x 4 multipliers), ``sparten`` (9 clusters x 16 compute units,
  GB-H), ``eyeriss_v2`` (3 x 2 clusters x 12 PEs x 2 MACs): the shipped configs brought to
  144 multipliers, the clock and the DRAM above (:data:`OTHERS`; skipped if not shipped).

Tensors: He-normal seeded weights (no trained model is shipped for these networks) on a
natural-statistics image; activations are those the simulated hardware computes. Pruning:
VGG-16 to the per-layer weight densities of Han et al. (NIPS 2015; the ``vgg16_han2015``
profile, 7.6 % of the weights kept), with the activations the seeded network computes
(``vgg16``) or with each layer's input zero fraction brought to Han et al.'s published
activation densities of the pruned model (``vgg16-han-acts``,
``workloads/profiles/vgg16_han2015_activations.yaml``); MobileNet v1 to 40 % per layer by
magnitude (no published per-layer profile for Phantom's pruned MobileNet was found;
published-anchors.md section 12.5). The paper's ratios are for its own pruned models,
internal sizes and baselines, none of which we could read beyond the abstract.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import pandas as pd

from accelsim.compare import compare
from accelsim.config import load_arch, with_overrides
from accelsim.files import shipped
from accelsim.workload import load_network
from accelsim.workload.tensors import make_tensors
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


def designs(lookahead: int | None = None, others: bool = True) -> list:
    """phantom2d_dense, static, unbalanced, phantom2d (named so in the tables), then SCNN, SparTen
    and Eyeriss v2 at 144 multipliers with Phantom-2D's clock and DRAM (those shipped)."""
    base = load_arch("phantom2d")
    if lookahead:
        base = with_overrides(base, {"core_params.lookahead": lookahead})

    def variant(name, **params):
        config = with_overrides(base, {f"core_params.{k}": v for k, v in params.items()})
        return dataclasses.replace(config, name=name)

    chosen = [load_arch("phantom2d_dense"),
              variant("static", dynamic_threads=False, inter_core_balancing=False),
              variant("unbalanced", inter_core_balancing=False), base]
    for name, overrides in (OTHERS.items() if others else ()):
        if name in shipped("arch_configs"):
            chosen.append(with_overrides(load_arch(name), {**SAME_MEMORY, **overrides}))
    return chosen


def run(case: str, seed: int, lookahead: int | None = None, others: bool = True):
    name, specs, label = CASES[case]
    network = load_network(name)
    tensors = apply_transforms(network, make_tensors(network, seed), specs)
    return compare(designs(lookahead, others), [network], seed=seed,
                   tensors={network.name: tensors}), label


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


def print_summary(rows: list[dict], ratios: list[dict]) -> None:
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
              "(16 B/cycle) for all, beside the papers':")
        print(pd.DataFrame(ratios).to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    print("tensors: seeded He-normal weights, natural-image input, pruned as listed; "
          "activations computed by the simulated hardware.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lookahead", type=int, help="override the lookahead window")
    parser.add_argument("--phantom-only", action="store_true",
                        help="skip SCNN, SparTen and Eyeriss v2")
    parser.add_argument("--figure", help="write the mesh heat map (unbalanced vs phantom2d)")
    parser.add_argument("--speedup-figure", help="write the speedup bars over dense")
    parser.add_argument("--output", help="write the per-layer comparison table (.csv)")
    args = parser.parse_args(argv)
    rows, ratios, tables, networks = [], [], [], []
    for case in [n.strip() for n in args.cases.split(",") if n.strip()]:
        comparison, label = run(case, args.seed, args.lookahead, not args.phantom_only)
        print_layers(case, comparison)
        rows.append(summary_rows(case, comparison, label))
        ratios += ratio_rows(case, comparison)
        tables.append(full_layers(comparison).assign(workload=case))   # the case's name
        networks.append(comparison.layers.assign(workload=case))
    print_summary(rows, ratios)
    layers = pd.concat(tables, ignore_index=True)
    if args.output:
        layers.to_csv(args.output, index=False)
        print(f"wrote {args.output}")
    from accelsim import plot
    if args.figure:
        figure = plot.mesh(layers[layers["arch"].isin(["unbalanced", "phantom2d"])],
                           workload=layers["workload"].iloc[0])
        print("wrote", *plot.save(figure, args.figure))
    if args.speedup_figure:
        table = pd.concat(networks, ignore_index=True)
        shown = ["phantom2d_dense", "phantom2d", *OTHERS]     # not the two ablation variants
        figure = plot.speedup(table[table["arch"].isin(shown)], baseline="phantom2d_dense")
        print("wrote", *plot.save(figure, args.speedup_figure))
    return 0


if __name__ == "__main__":
    sys.exit(main())
