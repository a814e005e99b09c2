"""The ``accelsim`` command: parses arguments, calls the Python API, prints and writes files.

``accelsim run`` simulates a workload on an architecture (default: VGG-16 on DianNao) and
prints a per-layer table and totals; ``compare``, ``sweep`` and ``plot`` build on it, and
``list``, ``show`` and ``init`` (:mod:`accelsim.cli_config`) find and copy shipped configs.
Results go to stdout; progress bars (:mod:`accelsim.progress`) go to stderr, so stdout is the
same with or without them. Errors caused by the input print one line per problem and exit
with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from accelsim import __version__, cli_search
from accelsim.cli_config import (
    COMMANDS,
    add_parsers,
    add_set_argument,
    add_values_arguments,
    parse_overrides,
)
from accelsim.cli_report import format_layers, format_provenance, format_summary
from accelsim.config import load_arch, with_overrides
from accelsim.errors import AccelsimError, InvariantError
from accelsim.progress import Progress, choose_mode
from accelsim.sim.results import excess_traffic, refuse_overwriting, result_paths
from accelsim.sim.rows import topology_row
from accelsim.sim.simulate import simulate
from accelsim.sim.trace import Timeline, write_chrome_trace
from accelsim.workload import load_network, load_tensors
from accelsim.workload.transforms import apply_transforms, load_recipe, parse_transform

DEFAULT_ARCH = "diannao"
DEFAULT_WORKLOAD = "vgg16"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accelsim", description="Value-aware cycle-level simulator of DNN accelerators.")
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="simulate a workload on an architecture")
    run.add_argument("--arch", default=DEFAULT_ARCH,
                     help=f"shipped architecture name or YAML file (default: {DEFAULT_ARCH})")
    run.add_argument("--workload", default=DEFAULT_WORKLOAD,
                     help="shipped workload name, or a network YAML, ONNX model or SCALE-Sim "
                          f"topology CSV file (default: {DEFAULT_WORKLOAD})")
    run.add_argument("--input-shape", metavar="C,H,W", type=_input_shape,
                     help="the input shape of an ONNX model with symbolic dims (or K for a "
                          "2-D input), e.g. 3,224,224")
    run.add_argument("--input", metavar="FILE",
                     help="network input: a .npy array, an image file, or sample:NAME (a "
                          "bundled photograph, e.g. sample:grace_hopper); default: the seeded "
                          "natural image")
    run.add_argument("--transform", action="append", default=[], metavar="SPEC",
                     help="apply a transform, in the order given: KIND:KEY=VALUE,..., e.g. "
                          "prune:profile=alexnet_han2015, prune:density=0.3, "
                          "activation_profile:profile=alexnet_eyeriss2016, quantize:bits=8")
    run.add_argument("--transforms", type=Path, metavar="FILE",
                     help="a YAML file listing transforms, applied before any --transform")
    run.add_argument("--output", "-o", type=Path,
                     help="write the per-layer table (.csv or .parquet), counts and meta")
    run.add_argument("--trace", type=Path, metavar="FILE.json",
                     help="write the timeline (per layer; per core: fetch, compute, drain) as "
                          "Chrome Trace Event JSON, for ui.perfetto.dev or chrome://tracing")
    run.add_argument("--seed", type=int, default=0, help="seed of weights and input (default 0)")
    add_values_arguments(run)
    run.add_argument("--batch", type=int, default=1, metavar="N",
                     help="images per run, for cores that batch (e.g. eyeriss); default 1")
    add_set_argument(run)
    run.add_argument("--quiet", "-q", action="store_true",
                     help="print totals only, and no progress bar")
    run.add_argument("--scalesim-config", type=Path, metavar="FILE.cfg",
                     help="a SCALE-Sim .cfg: sets the systolic array, SRAMs, dataflow and "
                          "DRAM interface (--arch defaults to systolic); a .csv workload then "
                          "loads unpadded, as SCALE-Sim times it")
    run.add_argument("--scalesim-reports", type=Path, metavar="DIR",
                     help="write SCALE-Sim's COMPUTE_REPORT, BANDWIDTH_REPORT and "
                          "DETAILED_ACCESS_REPORT CSVs (and SPARSE_REPORT with its sparsity "
                          "on) into DIR (systolic core)")
    run.add_argument("--topology-kind", choices=("conv", "gemm"),
                     help="a SCALE-Sim topology CSV's kind (SCALE-Sim's -i), checked against "
                          "its header; default: from the header")
    add_parsers(commands)
    _add_compare_parser(commands)
    _add_sweep_parser(commands)
    _add_plot_parser(commands)
    cli_search.add_parser(commands)
    return parser


def _add_compare_parser(commands) -> None:
    compare = commands.add_parser(
        "compare", help="several architectures on the same workloads and tensors")
    compare.add_argument("--archs", required=True,
                         help="comma-separated architecture names or YAML files")
    compare.add_argument("--workload", "--workloads", dest="workloads", default=DEFAULT_WORKLOAD,
                         help=f"comma-separated workloads (default: {DEFAULT_WORKLOAD})")
    compare.add_argument("--baseline", help="architecture to compare against (default: first)")
    compare.add_argument("--seed", type=int, default=0, help="seed of weights and input")
    add_values_arguments(compare, weights=False)
    compare.add_argument("--transform", action="append", default=[], metavar="SPEC",
                         help="as run's, applied to every workload's shared tensors, e.g. "
                              "precision:profile=alexnet_judd2016")
    compare.add_argument("--output", "-o", type=Path,
                         help="write the per-layer and per-network tables (.csv or .parquet)")
    compare.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_layers_argument(compare, "the layers the printed tables cover (the files: all)")


def _add_layers_argument(parser, what: str) -> None:
    parser.add_argument("--layers", choices=("all", "conv", "fc"), default="all",
                        help=f"{what}; default all")


def _compare(args) -> int:
    from accelsim.compare import compare, format_comparison

    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if len(archs) < 2:
        raise AccelsimError("compare: --archs needs at least two architectures")
    with Progress(len(archs) * len(workloads), desc="compare", unit="run", leave=False,
                  mode=choose_mode(False if args.quiet else None)) as bar:
        specs = [parse_transform(spec) for spec in args.transform]
        tensors = {net.name: apply_transforms(net, load_tensors(net, args.seed, values=args.values),
                                              specs, "--transform")
                   for net in map(load_network, workloads if specs else [])}
        comparison = compare(archs, workloads, baseline=args.baseline, seed=args.seed,
                             values=args.values, tensors=tensors,
                             progress=lambda workload, arch: bar.begin(f"{workload} on {arch}"))
    print(format_comparison(comparison, layers=args.layers))
    if args.output:
        for path in comparison.save(args.output):
            print(f"wrote {path}")
    return 0


def _add_sweep_parser(commands) -> None:
    sweep = commands.add_parser(
        "sweep", help="run a design-space sweep (resumable; local processes or Dask)")
    sweep.add_argument("sweep", help="sweep YAML file, or a shipped sweep's name")
    sweep.add_argument("--output", "-o", type=Path,
                       help="table path, .parquet or .csv (default: <sweep name>.parquet); "
                            "finished runs are kept in <stem>.runs/ beside it")
    sweep.add_argument("--jobs", "-j", type=int,
                       help="local worker processes (default: one per CPU)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on this Dask scheduler (e.g. tcp://host:8786) instead")
    sweep.add_argument("--restart", action="store_true",
                       help="discard the runs stored by an earlier invocation")
    sweep.add_argument("--values", choices=("calibrated", "synthetic"),
                       help="values of networks without weights (default: the file's, else "
                            "calibrated)")
    sweep.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _sweep(args) -> int:
    from accelsim.cli_search import run_resumable
    from accelsim.sweep import load_sweep, run_sweep
    from accelsim.sweep.report import format_summary

    sweep = load_sweep(args.sweep)
    if args.values:
        import dataclasses

        sweep = dataclasses.replace(sweep, values=args.values)
    output = args.output or Path(f"{sweep.name}.parquet")
    return run_resumable(lambda: run_sweep(sweep, output, jobs=args.jobs,
                                           scheduler=args.scheduler, restart=args.restart,
                                           progress=False if args.quiet else None),
                         output, format_summary)


def _add_plot_parser(commands) -> None:
    from accelsim.plot import KINDS

    plot = commands.add_parser("plot", help="draw a figure from accelsim output tables")
    plot.add_argument("kind", choices=KINDS, help="the figure")
    plot.add_argument("tables", nargs="+", type=Path,
                      help="compare / run output (speedup, cycles, energy, utilization) or "
                           "sweep output (sweep, pareto), .parquet or .csv; trace: the JSON "
                           "of run --trace")
    plot.add_argument("--output", "-o", action="append", type=Path,
                      help="figure file, .png or .svg; repeat for both (default: KIND.png)")
    plot.add_argument("--workload", help="the workload of a per-layer figure (default: first)")
    plot.add_argument("--archs", help="comma-separated architectures to show, in this order")
    plot.add_argument("--baseline", help="speedup baseline (default: the comparison's)")
    plot.add_argument("--metric", help="speedup | energy_ratio (speedup); cycles | time "
                                       "(cycles; default: time when clocks differ); a "
                                       "points-table column such as cycles, time_ms, "
                                       "energy_uj (sweep; same default)")
    plot.add_argument("--x", help="sweep: the swept key on the x axis")
    plot.add_argument("--line", help="sweep: one line per value of this key")
    plot.add_argument("--color", help="pareto: colour the runs by this key")
    plot.add_argument("--y", help="search pareto: objective on y (--x: on x)")
    plot.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                      help="sweep: hold another swept key at this value")
    plot.add_argument("--layers", default="all",
                      help="speedup, cycles, energy, utilization: the layers shown, all, conv "
                           "or fc; trace: comma-separated layer names; default all")
    plot.add_argument("--window", metavar="FIRST:LAST",
                      help="trace: only the cycles FIRST to LAST")
    plot.add_argument("--zoom", action="store_true",
                      help="sweep, pareto: fit the value axes to the data (default: from 0)")


def _plot(args) -> int:
    from accelsim import plot

    where = {}
    for pair in args.where:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AccelsimError(f"--where {pair}: expected KEY=VALUE")
        where[key.strip()] = value.strip()
    trials = plot.read_trials(args.tables) if args.kind in plot.SEARCH_KINDS else None
    if args.kind == "trace":
        if len(args.tables) > 1:
            raise AccelsimError("plot trace: draws one trace; give one JSON file")
        figure = plot.timeline(plot.read_trace(args.tables[0]), _trace_layers(args.layers),
                               _cycle_window(args.window))
    elif trials is not None:   # a search's output
        figure = plot.make_search(args.kind, trials, x=args.x, y=args.y, metric=args.metric,
                                  zoom=args.zoom)
    else:
        archs = [a.strip() for a in (args.archs or "").split(",") if a.strip()]
        figure = plot.make(args.kind, plot.read_tables(args.tables, args.kind),
                           workload=args.workload, archs=archs, baseline=args.baseline,
                           metric=args.metric, x=args.x, line=args.line, color=args.color,
                           where=where, layers=args.layers, zoom=args.zoom)
    for path in plot.save(figure, *(args.output or [Path(f"{args.kind}.png")])):
        print(f"wrote {path}")
    return 0


def _trace_layers(text: str) -> list[str] | None:
    """``--layers conv1,pool1`` of ``plot trace``; None (every layer) for ``all``."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    return None if names in ([], ["all"]) else names


def _cycle_window(text: str | None) -> tuple[int, int] | None:
    """``--window 0:200000`` -> (0, 200000)."""
    if text is None:
        return None
    first, _, last = text.partition(":")
    try:
        return int(first.replace("_", "")), int(last.replace("_", ""))
    except ValueError:
        raise AccelsimError(f"--window {text}: expected FIRST:LAST, two cycle counts") from None


def _input_shape(text: str) -> tuple[int, ...]:
    """``--input-shape 3,224,224`` -> (3, 224, 224); argparse prints the error line."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise argparse.ArgumentTypeError(
            f"expected C,H,W (or K) positive integers, got {text!r}")
    return shape


def _networks(args, arch) -> tuple:
    """What ``run`` simulates: a SCALE-Sim topology CSV is one single-layer network per row
    (SCALE-Sim's independent layers; ``DP`` rows split per channel on the systolic core, as
    SCALE-Sim splits them), any other workload one network."""
    if args.scalesim_config:
        from accelsim.scalesim.config import load_scalesim_workload

        return load_scalesim_workload(args.workload, args.topology_kind)
    path = Path(args.workload)
    if path.suffix.lower() == ".csv" and path.is_file() and args.input_shape is None:
        from accelsim.workload.formats.topology_csv import load_topology

        return load_topology(path, expand_dp=arch.core == "systolic", kind=args.topology_kind)
    if args.topology_kind:
        raise AccelsimError(f"--topology-kind {args.topology_kind}: {args.workload} is not a "
                            "SCALE-Sim topology CSV file")
    return (load_network(args.workload, input_shape=args.input_shape),)


def _joined(results: list, name: str):
    """One Result of a topology's rows, run one network each: their rows and counts end to
    end, rebuilt (a column one row's core did not report is 0) and checked again, so the
    totals are the sums over the rows."""
    from accelsim.sim.results import Counts, Result

    first = results[0]
    rows = [row for result in results for row in result.layers.to_dict("records")]
    counts = {layer: Counts({(c.component, c.action): c.count for c in group.itertuples()})
              for result in results
              for layer, group in result.counts.groupby("layer", sort=False)}
    meta = {**first.meta, "network": name,
            "network_source": f"{len(results)} independent rows: {first.meta['network_source']}"
                              ", ..."}
    return Result.build(rows, counts, first.energy_table, meta, {})


def _run(args) -> int:
    inputs = [args.arch, args.workload, args.input, args.transforms, args.scalesim_config,
              args.weights]
    if args.output or args.trace:   # checked before the run, so no one waits for a refusal
        refuse_overwriting([*(result_paths(args.output) if args.output else []),
                            *([args.trace] if args.trace else [])], inputs)
    arch = load_arch(args.arch)
    if args.scalesim_config:
        from accelsim.scalesim.config import scalesim_arch

        arch = scalesim_arch(args.scalesim_config,
                             "systolic" if args.arch == DEFAULT_ARCH else arch)
    if args.overrides:
        arch = with_overrides(arch, parse_overrides(args.overrides))
    if args.scalesim_reports:
        from accelsim.scalesim.reports import check_arch, report_totals, write_reports

        check_arch(arch)
    networks = _networks(args, arch)
    if args.input and len(networks) > 1:
        raise AccelsimError(f"--input {args.input}: {args.workload} has {len(networks)} "
                            "independent rows, each with an input of its own shape")
    results, timeline = [], Timeline() if args.trace else None
    with Progress(sum(len(n.layers) for n in networks),
                  desc=f"{networks[0].name if len(networks) == 1 else Path(args.workload).stem}"
                       f" on {arch.name}", unit="layer",
                  mode=choose_mode(False if args.quiet else None), leave=False) as bar:
        for network in networks:   # a topology's rows in turn, each on its own seeded input
            row_arch, tensors = topology_row(arch, network,   # a Sparsity N:M: pruned
                                             load_tensors(network, args.seed, args.input,
                                                          values=args.values,
                                                          weights_from=args.weights))
            if args.transforms:
                tensors = apply_transforms(network, tensors, load_recipe(args.transforms),
                                           f"{args.transforms}: transforms")
            tensors = apply_transforms(network, tensors, [parse_transform(spec) for spec
                                                          in args.transform], "--transform")
            results.append(simulate(row_arch, network, seed=args.seed, tensors=tensors,
                                    batch=args.batch, trace=timeline,
                                    progress=lambda index, total, layer: bar.begin(layer.name)))
    result = results[0] if len(results) == 1 else _joined(results, Path(args.workload).stem)
    if not args.quiet:
        print(format_layers(result.layers))
        print()
    flags = (excess_traffic(result.layers, [lyr for n in networks for lyr in n.layers],
                            arch.precision, args.batch),
             report_totals(result.layers) if args.scalesim_reports else None)
    print("\n".join([format_summary(result.summary, result.meta), *filter(None, flags)]))
    print(format_provenance(result.meta))
    if args.output:
        for path in result.save(args.output, protect=tuple(p for p in inputs if p)):
            print(f"wrote {path}")
    if args.scalesim_reports:
        for path in write_reports(result.layers, arch, args.scalesim_reports):
            print(f"wrote {path}")
    if timeline is not None:
        path = write_chrome_trace(args.trace, timeline, arch.clock_mhz,
                                  f"{arch.name} on {result.meta['network']}")
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in COMMANDS:
            return COMMANDS[args.command](args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "search":
            return cli_search.search(args)
        if args.command == "plot":
            return _plot(args)
        if args.command == "compare":
            return _compare(args)
        return _run(args if args.command else _parser().parse_args(["run"]))
    except AccelsimError as err:
        for line in str(err).splitlines() or ["error"]:
            print(f"accelsim: error: {line}", file=sys.stderr)
        return 2
    except InvariantError as err:   # a simulator bug, not bad input: one line, exit 3
        print(f"accelsim: invariant broken: {err}", file=sys.stderr)
        return 3
    except BrokenPipeError:   # the reader left (`accelsim run | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
