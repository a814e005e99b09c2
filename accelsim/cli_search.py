"""``accelsim search``: a design-space search from a search file (:mod:`accelsim.search`).

Kept apart from :mod:`accelsim.cli` so that module stays about running; it registers the
command through :func:`add_parser` and calls :func:`search`.
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(commands) -> None:
    search = commands.add_parser(
        "search", help="search a design space with a sampler (TPE, NSGA-II, CMA-ES, "
                       "annealing, ...); resumable; local processes or Dask")
    search.add_argument("spec", help="search YAML file, or a shipped search's name")
    search.add_argument("--output", "-o", type=Path,
                        help="table path, .parquet or .csv (default: <search name>.parquet); "
                             "also <stem>.points and <stem>.trials; finished runs are kept "
                             "in <stem>.runs/")
    search.add_argument("--jobs", "-j", type=int,
                        help="local worker processes (default: one per CPU)")
    search.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on this Dask scheduler (e.g. tcp://host:8786) instead")
    search.add_argument("--trials", type=int, help="trial budget (default: the file's)")
    search.add_argument("--sampler", help="sampler (default: the file's): tpe, gp, cmaes, "
                                          "random, nsga2, annealing")
    search.add_argument("--restart", action="store_true",
                        help="discard the runs stored by an earlier invocation")
    search.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def search(args) -> int:
    from accelsim.search import load_search, run_search, search_from_dict

    spec = load_search(args.spec)
    if args.trials is not None or args.sampler is not None:   # checked as the file is
        from accelsim import files
        from accelsim.search import SearchError

        data = files.read_yaml(Path(spec.origin), SearchError)
        data.update({k: v for k, v in (("trials", args.trials), ("sampler", args.sampler))
                     if v is not None})
        spec = search_from_dict(data, f"{spec.origin} (with options)", Path(spec.origin).parent)
    output = args.output or Path(f"{spec.name}.parquet")
    return run_resumable(lambda: run_search(spec, output, jobs=args.jobs,
                                            scheduler=args.scheduler, restart=args.restart,
                                            progress=False if args.quiet else None),
                         output, format_search)


def run_resumable(run, output: Path, describe) -> int:
    """A sweep's or search's run: its summary and files, or, on Ctrl-C, where the finished
    runs are kept (exit 130); exit 1 if any run ended in an error."""
    from accelsim.sweep import runs_directory

    try:
        result = run()
    except KeyboardInterrupt:
        print(f"accelsim: interrupted; finished runs are kept in {runs_directory(output)}/: "
              "run the same command again to finish the rest", file=sys.stderr)
        return 130
    print(describe(result))
    for path in result.paths:
        print(f"wrote {path}")
    return 1 if result.stats.errors else 0


def format_search(result) -> str:
    """Counts by status, simulations done, and the Pareto front's trials."""
    search, trials, stats = result.search, result.trials, result.stats
    counts = trials["status"].value_counts()
    names = [o.name for o in search.objectives]
    lines = [f"search {search.name}: {len(trials)} trials with {search.sampler} on "
             f"{', '.join(w.name for w in search.workloads)}: "
             + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "infeasible", "failed",
                                                            "error")),
             f"  this time: simulated {stats.ran} runs ({stats.counted} on reused values); "
             f"{stats.seconds:.1f} s" + (f" on {stats.workers}" if stats.workers else ""),
             "  Pareto front (" + ", ".join(f"{o.direction[:3]} {o.name}"
                                          for o in search.objectives) + "):"]
    front = trials[trials["pareto"]].drop_duplicates(subset=search.keys)
    for _, row in front.sort_values(names).iterrows():
        values = "  ".join(f"{name} {row[name]:,.6g}" for name in names)
        keys = ", ".join(f"{k}={row[k]}" for k in search.keys)
        lines.append(f"    trial {row['trial']:<4} {values}  {keys}")
    if not len(front):
        lines.append("    (no ok trial)")
    return "\n".join(lines)
