"""How many simulations each sampler needs to find the exhaustive grid's Pareto front.

On the two shipped search spaces (``arch_configs/searches/diannao.yaml``: DianNao's memory
sweep space; ``arch_configs/searches/eyeriss.yaml``: Eyeriss's array, GLB and DRAM; both
time vs area on LeNet-5, under their constraints), the grid is run once (every point), then
each sampler searches the same space for the file's trial budget (200), with seeds 0, 1, 2.
Printed per sampler and seed: the simulations (distinct configs run; infeasible ones never
are) and trials it took to reach a front whose hypervolume is within 2 % of the grid's, the
share it reached at the end, and the median simulations. Each objective is normalised to 0
at the grid's best feasible value and 1 at its worst; the hypervolume's reference point is
1.1 in each.

    PYTHONPATH=. python benchmarks/search_vs_grid.py [--jobs N] [--samplers random,tpe,nsga2]
        [--seeds 3] [--spaces arch_configs/searches/diannao.yaml]

Acceptance (issue 26): the shipped search's sampler (nsga2) reaches 98 % within 200 trials.
CMA-ES and annealing optimise one objective, so they are not in this two-objective race.
About 20 minutes on 2 cores (LeNet-5 runs take about 0.1-0.4 s each).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np

from accelsim.search import hypervolume_2d, load_search, run_search
from accelsim.search.objectives import minimised

SPACES = ("arch_configs/searches/diannao.yaml", "arch_configs/searches/eyeriss.yaml")
TARGET = 0.98
REFERENCE = 1.1


def grid_front(search, jobs):
    """Every point of the space (a search whose trials walk the grid), as a trials table."""
    choices = [p.choices for p in search.space]
    if any(c is None for c in choices):
        raise SystemExit(f"{search.origin}: the grid needs choices for every key")
    points = list(itertools.product(*choices))
    grid = search.replace(sampler="grid", trials=len(points))
    return run_search(grid, jobs=jobs, progress=False).trials, len(points)


def progress_to_target(search, trials, reference, target_hv):
    """(simulations, trials) when the front first reaches ``target_hv``, else None; and
    the final share of the target's hypervolume."""
    seen, hv = set(), 0.0
    values = normalised(minimised(trials, search), reference)
    for i, row in trials.iterrows():
        if row["status"] != "infeasible":
            seen.add(tuple(row[k] for k in search.keys))
        ok = (trials["status"] == "ok").to_numpy()[:i + 1]
        hv = hypervolume_2d(values[:i + 1][ok], np.full(2, REFERENCE))
        if hv >= target_hv:
            return (len(seen), i + 1), hv
    return None, hv


def normalised(values: np.ndarray, bounds: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """0 at the grid's best value of each objective, 1 at its worst."""
    best, worst = bounds
    return (values - best) / np.where(worst > best, worst - best, 1.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--samplers", default="random,tpe,nsga2")
    parser.add_argument("--seeds", type=int, default=3, help="sampler seeds 0..N-1")
    parser.add_argument("--spaces", default=",".join(SPACES), help="search files")
    args = parser.parse_args(argv)
    samplers = args.samplers.split(",")
    for path in args.spaces.split(","):
        search = load_search(path)
        started = time.perf_counter()
        grid, size = grid_front(search, args.jobs)
        feasible = grid[grid["status"] == "ok"]
        values = minimised(feasible, search)
        reference = (values.min(axis=0), values.max(axis=0))
        grid_hv = hypervolume_2d(normalised(values, reference), np.full(2, REFERENCE))
        print(f"{search.name} ({', '.join(o.name for o in search.objectives)}; "
              f"{', '.join(w.name for w in search.workloads)}): grid {size} points, "
              f"{len(feasible)} ok, front {int(grid['pareto'].sum())} points, "
              f"{time.perf_counter() - started:.0f} s")
        print(f"  sampler, per seed ({args.seeds} seeds): simulations / trials to "
              f"{TARGET:.0%} of the grid's hypervolume ('-': not within the budget), "
              "hypervolume at the end; median simulations")
        for sampler in samplers:
            cells, needed = [], []
            for seed in range(args.seeds):
                trials = run_search(search.replace(sampler=sampler, sampler_seed=seed),
                                    jobs=args.jobs, progress=False).trials
                reached, hv = progress_to_target(search, trials, reference,
                                                 TARGET * grid_hv)
                needed.append(reached[0] if reached else np.inf)
                cells.append(f"{reached[0]:>3}/{reached[1]:<3}" if reached else "  -/-  ")
                cells[-1] += f" {100 * hv / grid_hv:5.1f}%"
            median = np.median(needed)
            print(f"  {sampler:8s} " + "  ".join(cells)
                  + f"   median {median:g} of {size} simulations")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
