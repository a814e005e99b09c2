"""Phantom-2D vs a dense design with the same multipliers (Qureshi & Munir, arXiv 2111.05002:
12x on VGG-16 and MobileNet), with the speedup split into its sources.

Run from the repository root::

    PYTHONPATH=. python benchmarks/reproduce_phantom.py [--cases vgg16,mobilenet_v1]
        [--seed 0] [--figure benchmarks/figures/phantom_mesh.png] [--output results/ph.csv]

Designs (all on the same tensors, same 4 x 4 mesh of 9-multiplier cores = 144 multipliers,
same clock, DRAM and NoC; ``arch_configs/phantom2d.yaml`` documents every size we chose):

* ``dense``: ``phantom2d_dense`` (every pair multiplied, packed 9 a cycle, data stored dense);
* ``static``: Phantom with the threads bound to a chunk's elements (skips empty work items
  only): the gain of sparsity skipping alone;
* ``unbalanced``: Phantom's dynamic thread scheduling, inter-core balancing off: adds the
  first level of load balancing (intra-core);
* ``phantom2d``: both levels (filters dealt by estimated work, row bands by activation
  non-zeros).

Tensors: He-normal seeded weights (no trained model is shipped for these networks) on a
natural-statistics image; activations are those the simulated hardware computes. Pruning:
VGG-16 to the per-layer weight densities of Han et al. (NIPS 2015; the ``vgg16_han2015``
profile, 7.6 % of the weights kept), with the activations the seeded network computes
(``vgg16``) or with each layer's input zero fraction brought to Han et al.'s published
activation densities of the pruned model (``vgg16-han-acts``,
``workloads/profiles/vgg16_han2015_activations.yaml``); MobileNet v1 to 40 % per layer by
magnitude (no
published per-layer profile for Phantom's pruned MobileNet was found; published-anchors.md
section 12.5). The paper's 12x is for its own pruned models, internal sizes and dataflow,
none of which we could read beyond the abstract.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import pandas as pd

from accelsim.compare import compare
from accelsim.config import load_arch, with_overrides
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


def designs(lookahead: int | None = None) -> list:
    """dense, static, unbalanced, phantom2d (named so in the tables)."""
    base = load_arch("phantom2d")
    if lookahead:
        base = with_overrides(base, {"core_params.lookahead": lookahead})

    def variant(name, **params):
        config = with_overrides(base, {f"core_params.{k}": v for k, v in params.items()})
        return dataclasses.replace(config, name=name)

    return [dataclasses.replace(load_arch("phantom2d_dense"), name="dense"),
            variant("static", dynamic_threads=False, inter_core_balancing=False),
            variant("unbalanced", inter_core_balancing=False), base]


def run(case: str, seed: int, lookahead: int | None = None):
    name, specs, label = CASES[case]
    network = load_network(name)
    tensors = apply_transforms(network, make_tensors(network, seed), specs)
    return compare(designs(lookahead), [network], seed=seed,
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
            "dense Mcycles": cycles["dense"] / 1e6,
            "phantom Mcycles": cycles["phantom2d"] / 1e6,
            "skipping x": cycles["dense"] / cycles["static"],
            "intra-core x": cycles["static"] / cycles["unbalanced"],
            "inter-core x": cycles["unbalanced"] / cycles["phantom2d"],
            "total x": cycles["dense"] / cycles["phantom2d"],
            "energy ratio": comparison.networks.set_index("arch")["energy_ratio"]["phantom2d"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lookahead", type=int, help="override the lookahead window")
    parser.add_argument("--figure", help="write the mesh heat map (unbalanced vs phantom2d)")
    parser.add_argument("--output", help="write the per-layer comparison table (.csv)")
    args = parser.parse_args(argv)
    rows, tables = [], []
    for name in [n.strip() for n in args.cases.split(",") if n.strip()]:
        comparison, label = run(name, args.seed, args.lookahead)
        rows.append(summary_rows(name, comparison, label))
        tables.append(full_layers(comparison).assign(workload=name))   # the case's name
        layers = comparison.layers
        per_layer = layers[layers["kind"].isin(["conv", "fc"])].pivot_table(
            index="layer", columns="arch", values="cycles", sort=False)
        per_layer["speedup"] = per_layer["dense"] / per_layer["phantom2d"]
        print(f"\n{name}: conv/fc layer cycles (thousands) and Phantom-2D's speedup")
        thousands = per_layer.drop(columns="speedup") / 1e3
        print(thousands.assign(speedup=per_layer["speedup"])
              .to_string(float_format=lambda v: f"{v:,.2f}"))
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    print(f"\npaper: Phantom-2D {PAPER_SPEEDUP_VS_DENSE}x over a dense design (VGG-16 and "
          "MobileNet, its own pruned models and sizes).")
    for row in rows:
        print(f"  {row['case']}: {row['total x']:.2f}x = {row['skipping x']:.2f} (skipping) "
              f"x {row['intra-core x']:.2f} (intra-core) x {row['inter-core x']:.2f} "
              f"(inter-core); {row['total x'] / PAPER_SPEEDUP_VS_DENSE:.0%} of the paper's")
    print("tensors: seeded He-normal weights, natural-image input, pruned as listed; "
          "activations computed by the simulated hardware.")
    layers = pd.concat(tables, ignore_index=True)
    if args.output:
        layers.to_csv(args.output, index=False)
        print(f"wrote {args.output}")
    if args.figure:
        from accelsim import plot
        figure = plot.mesh(layers[layers["arch"].isin(["unbalanced", "phantom2d"])],
                           workload=layers["workload"].iloc[0])
        for path in plot.save(figure, args.figure):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
