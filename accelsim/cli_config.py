"""``accelsim list``, ``show``, ``init`` and ``stats``: what ships, making a config yours,
and what values a workload runs on.

A new user's questions before a first real run: what ships and where does it live
(``list``), what exactly does this architecture set, after my ``--set`` overrides
(``show``), and how do I get an editable copy (``init``). Kept apart from :mod:`accelsim.cli`
so that module stays about running; it registers these commands through
:func:`add_parsers` and dispatches to :data:`COMMANDS`. ``stats`` prints per layer what the
value-aware cores are fed (:mod:`accelsim.workload.stats`); :func:`add_values_arguments`
gives ``run``, ``compare`` and ``stats`` the same ``--values`` / ``--weights`` options.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from accelsim.config import load_arch, with_overrides
from accelsim.errors import AccelsimError
from accelsim.files import data_dir, parse_yaml_value, resolve, shipped
from accelsim.workload import VALUES, load_network, load_tensors
from accelsim.workload.variants import family_entries


def add_parsers(commands) -> None:
    """The ``list``, ``show`` and ``init`` sub-commands."""
    commands.add_parser("list", help="list shipped architectures, workloads and sweeps, "
                                     "with where their files are")
    show = commands.add_parser(
        "show", help="print an architecture's config as YAML, after --set overrides")
    show.add_argument("arch", metavar="ARCH|FILE",
                      help="shipped architecture name or YAML file")
    add_set_argument(show)
    init = commands.add_parser(
        "init", help="copy a shipped architecture YAML into a directory, to edit")
    init.add_argument("arch", metavar="ARCH", help="shipped architecture name (accelsim list)")
    init.add_argument("directory", metavar="DIR", type=Path,
                      help="where to write <ARCH>.yaml (created if missing)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    stats = commands.add_parser(
        "stats", help="per-layer zeros, zero runs and value ranges a workload's cores are fed")
    stats.add_argument("--workload", default="vgg16",
                       help="shipped workload name or file (default: vgg16)")
    stats.add_argument("--seed", type=int, default=0, help="seed of weights and input")
    stats.add_argument("--input", metavar="FILE",
                       help="network input: a .npy array, an image file or sample:NAME")
    add_values_arguments(stats)
    search = commands.add_parser(
        "precision-search", help="find per-layer activation bits that keep a workload's "
                                 "output within a tolerance of full precision")
    search.add_argument("--workload", default="lenet5",
                        help="shipped workload name or file (default: lenet5)")
    search.add_argument("--tolerance", type=float, default=0.01,
                        help="largest output deviation, as a fraction of the full-precision "
                             "output's peak, with the same top-1 (default 0.01)")
    search.add_argument("--seed", type=int, default=0, help="seed of weights and input")
    search.add_argument("--input", metavar="FILE",
                        help="network input: a .npy array, an image file or sample:NAME")
    search.add_argument("--output", "-o", type=Path, metavar="FILE.yaml",
                        help="write the profile (use: --transform precision:profile=FILE)")
    add_values_arguments(search)
    columns = commands.add_parser(
        "columns", help="what each column of accelsim's tables means, with its unit")
    columns.add_argument("tables", nargs="*", type=Path, metavar="TABLE",
                         help="describe this table's columns (.csv or .parquet) instead")
    columns.add_argument("--markdown", action="store_true",
                         help="print the table as Markdown (as in the README)")


def add_values_arguments(parser, weights: bool = True) -> None:
    """``--values calibrated|synthetic`` and (for one workload) ``--weights FILE``."""
    parser.add_argument("--values", choices=VALUES, default=VALUES[0],
                        help="values of a network without weights of its own: calibrated "
                             "(default: activations follow published zero fractions, "
                             "workloads/calibration/) or synthetic (He-normal, zero biases)")
    if weights:
        parser.add_argument("--weights", metavar="FILE",
                            help="trained weights for the network (.npz: <layer>.weight, "
                                 "<layer>.bias; or an ONNX model with the same layer names)")


def add_set_argument(parser) -> None:
    """``--set KEY=VALUE``, as ``run`` and ``show`` take it."""
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a config value by dotted key, e.g. "
                             "dram.bytes_per_cycle=64")


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``--set`` pairs as a dict, each value parsed as YAML (``64``, ``null``, ``[1, 2]``)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AccelsimError(f"--set {pair}: expected KEY=VALUE")
        parsed[key.strip()] = parse_yaml_value(value, f"--set {pair}")
    return parsed


def show(args) -> int:
    """The resolved config as YAML that loads back to the same config, after a comment
    naming its file (so ``accelsim show X --set ... > mine.yaml`` is a working config)."""
    config = load_arch(args.arch)
    origin = Path(config.origin).resolve()
    if args.overrides:   # validated before anything is printed
        config = with_overrides(config, parse_overrides(args.overrides))
    print(f"# {origin}")
    if args.overrides:
        print(f"# with --set {' --set '.join(args.overrides)}")
    data = config.to_dict()
    data = {"version": data.pop("version"), **data}   # first, as in the shipped files
    print(yaml.safe_dump(data, sort_keys=False, width=100), end="")
    return 0


def init(args) -> int:
    """Copy a shipped architecture file verbatim (its comments explain the values)."""
    source = resolve("arch_configs", args.arch, "architecture")
    load_arch(source)   # only a valid config is worth copying
    target = args.directory / f"{source.stem}.yaml"
    if target.exists() and not args.force:
        raise AccelsimError(f"{target}: already exists; --force overwrites it")
    if target.exists() and target.resolve() == source.resolve():
        raise AccelsimError(f"{target}: is the file itself; choose another directory")
    try:
        args.directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as err:
        raise AccelsimError(f"{err.filename or target}: cannot write ({err.strerror})") from None
    print(f"wrote {target}")
    print(f"use it with: accelsim run --arch {target}")
    print(f"(give it another 'name:' to compare it with the shipped {source.stem})")
    return 0


def stats(args) -> int:
    """Per-layer statistics of the values ``run`` would use (float32 forward pass)."""
    from accelsim.workload.stats import format_stats, layer_stats

    network = load_network(args.workload)
    tensors = load_tensors(network, args.seed, args.input, values=args.values,
                           weights_from=args.weights)
    print(format_stats(layer_stats(network, tensors)))
    print()
    print(f"network {network.name}, seed {args.seed}; float32 forward pass (fixed16 cores see "
          "these values rounded)")
    for key, value in tensors.provenance.items():
        print(f"  {key:11s} {value}")
    return 0


def list_shipped() -> int:
    """Shipped architectures, workloads and sweeps: where their files are (a directory
    once, the file name pattern), then a line per name to pass and what it is."""
    arch_dir, sweep_dir = data_dir("arch_configs"), data_dir("arch_configs") / "sweeps"
    archs = {name: (yaml.safe_load(path.read_text()) or {}).get("description", "")
             for name, path in shipped("arch_configs").items()}
    workloads = {name: load_network(name).summary()
                 + ("" if path.suffix == ".yaml" else f" ({path.name})")
                 for name, path in shipped("workloads", (".yaml", ".onnx")).items()}
    workloads.update(family_entries())
    sweeps = {path.stem: _sweep_summary(path) for path in sorted(sweep_dir.glob("*.yaml"))}
    width = max(map(len, [*archs, *workloads, *sweeps]))
    for title, entries in (
            (f"architectures (--arch NAME): {arch_dir}/NAME.yaml", archs),
            (f"workloads (--workload NAME): {data_dir('workloads')}/NAME.yaml "
             "(or the model file named)", workloads),
            (f"sweeps (accelsim sweep NAME): {sweep_dir}/NAME.yaml", sweeps)):
        print(title)
        for name, text in entries.items():
            print(f"  {name:{width}s}  {text}")
    return 0


def _sweep_summary(path: Path) -> str:
    """``name: N configs x M workloads (a, b)`` read from the file, nothing loaded."""
    data = yaml.safe_load(path.read_text()) or {}
    configs = len(data.get("archs", [])) or 1
    for values in (data.get("grid") or {}).values():
        configs *= len(values)
    if isinstance(data.get("sample"), dict):
        configs = min(configs, data["sample"].get("count", configs))
    workloads = data.get("workloads", [])
    return (f"{data.get('name', path.stem)}: {configs} configs x {len(workloads)} workloads "
            f"({', '.join(map(str, workloads))})")


def columns(args) -> int:
    """The column table (:mod:`accelsim.columns`), or the columns of the given tables."""
    import pandas as pd

    from accelsim.columns import markdown_table, text_table

    if args.markdown:
        print(markdown_table())
        return 0
    width = shutil.get_terminal_size((100, 24)).columns
    if not args.tables:
        print(text_table(width=width))
    for path in args.tables:
        if path.suffix not in (".csv", ".parquet") or not path.is_file():
            raise AccelsimError(f"{path}: expected an existing .csv or .parquet table")
        frame = pd.read_csv(path, nrows=0) if path.suffix == ".csv" else pd.read_parquet(path)
        print(f"{path}:")
        print(text_table(list(map(str, frame.columns)), width=width))
    return 0


def precision_search(args) -> int:
    """Print (and with ``--output`` write) the profile
    :func:`~accelsim.workload.transforms.precision_search.search_precision` finds."""
    from accelsim.workload.transforms.precision_search import profile_yaml, search_precision

    if args.output and args.output.exists():
        raise AccelsimError(f"{args.output}: exists; choose another --output")
    network = load_network(args.workload)
    tensors = load_tensors(network, args.seed, args.input, values=args.values,
                           weights_from=args.weights)
    result = search_precision(network, tensors, args.tolerance)
    text = profile_yaml(result, network, args.tolerance, tensors.provenance["input"])
    print(text, end="")
    if args.output:
        args.output.write_text(text)
        print(f"wrote {args.output}")
    return 0


COMMANDS = {"list": lambda args: list_shipped(), "show": show, "init": init,
            "stats": stats, "columns": columns, "precision-search": precision_search}
"""Sub-command name -> the function running it."""
