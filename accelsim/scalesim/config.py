"""SCALE-Sim's own ``.cfg`` files and topology CSVs, read as SCALE-Sim 3.0.0 reads them.

A ``.cfg`` is an INI file (``configparser``; keys are case-insensitive). What it sets, and
where that goes in a systolic arch config (:mod:`accelsim.arch.systolic`)::

    [general]              run_name                -> name
    [architecture_presets] ArrayHeight, ArrayWidth -> core_params.rows, .cols
                           IfmapSramSzkB, FilterSramSzkB, OfmapSramSzkB
                                                   -> buffers.{ifmap,filter,ofmap}_sram.size_kib
                           Dataflow (os|ws|is)     -> core_params.dataflow
                           Bandwidth (USER)        -> core_params.ofmap_words_per_cycle (the
                                                      first value: all SCALE-Sim uses)
    [layout]               IfmapSRAMBankBandwidth, FilterSRAMBankBandwidth (USER)
                                                   -> core_params.{ifmap,filter}_words_per_cycle
    [run_presets]          InterfaceBandwidth (CALC|USER) -> core_params.bandwidth_mode
    [sparsity]             SparsitySupport, SparseRep, OptimizedMapping, BlockSize,
                           RandomNumberGeneratorSeed -> core_params.sparsity_support,
                                .sparse_rep, .sparsity_optimized_mapping, .sparsity_block_size,
                                .sparsity_seed (a row's N:M: accelsim.sim.rows.topology_row)

In USER mode SCALE-Sim 3.0.0 prefetches the ifmap and filter SRAMs at the ``[layout]`` bank
bandwidths (``single_layer_sim.py``: ``ifmap_backing_bw = config.ifmap_sram_bank_bandwidth``),
not at ``Bandwidth``, which only drains the ofmap SRAM; we read them the same way. Address
offsets, request-buffer sizes, ``MemoryBanks``, bank counts and ports, and
``[network_presets]`` are accepted and do not change the timing (SCALE-Sim 3.0.0 does not use
them either, or only for traces). Missing ``[layout]`` / ``[sparsity]`` sections (SCALE-Sim's
repo ``scale.cfg``; 3.0.0 itself then crashes) mean SCALE-Sim's defaults: 10 words a cycle,
no sparsity. Refused, each with one line naming the file, section and key: what SCALE-Sim
itself fails on (``OptimizedMapping`` outside ws, a ``BlockSize`` it cannot split),
``FilterOffset: 0`` with sparsity (SCALE-Sim takes filter address 0 for a pruned weight),
custom layouts, Ramulator traces, unknown sections and keys, missing or malformed values.

Topology CSVs load through :func:`accelsim.workload.formats.topology_csv.load_topology` with
``padding="valid"``: one network per row (per channel of a ``DP`` row), each the unpadded
IFMAP SCALE-Sim times.
"""

from __future__ import annotations

import configparser
import difflib
from dataclasses import dataclass
from pathlib import Path

from accelsim.config import MAX_CORE_PARAM, MAX_SIZE, ArchConfig, load_arch, with_overrides
from accelsim.errors import ConfigError, WorkloadError, did_you_mean
from accelsim.workload import Network, load_network

BASE_ARCH = "systolic"
SPARSE_REPS = ("csr", "csc", "ellpack_block")   # what SCALE-Sim's compression knows

# section -> {key as SCALE-Sim spells it -> how it is read}: "int", "pos_int" (up to
# MAX_CORE_PARAM, as the systolic core's parameters), "kib" (an SRAM size, up to MAX_SIZE),
# "int_list", "bool", "text", or a tuple of allowed lower-case values. Keys match
# case-insensitively.
_SCHEMA: dict[str, dict[str, object]] = {
    "general": {"run_name": "text"},
    "architecture_presets": {
        "ArrayHeight": "pos_int", "ArrayWidth": "pos_int", "IfmapSramSzkB": "kib",
        "FilterSramSzkB": "kib", "OfmapSramSzkB": "kib", "IfmapOffset": "int",
        "FilterOffset": "int", "OfmapOffset": "int", "Dataflow": ("os", "ws", "is"),
        "Bandwidth": "int_list", "MemoryBanks": "int", "ReadRequestBuffer": "int",
        "WriteRequestBuffer": "int"},
    "layout": {
        "IfmapCustomLayout": "bool", "FilterCustomLayout": "bool",
        "IfmapSRAMBankBandwidth": "pos_int", "IfmapSRAMBankNum": "int", "IfmapSRAMBankPort": "int",
        "FilterSRAMBankBandwidth": "pos_int", "FilterSRAMBankNum": "int",
        "FilterSRAMBankPort": "int"},
    "sparsity": {"SparsitySupport": "bool", "SparseRep": "text", "OptimizedMapping": "bool",
                 "BlockSize": "int", "RandomNumberGeneratorSeed": "int"},
    "run_presets": {"InterfaceBandwidth": ("calc", "user"), "UseRamulatorTrace": "bool"},
    "network_presets": {"TopologyCsvLoc": "text"},
}
_REQUIRED = [("architecture_presets", key) for key in
             ("ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB",
              "Dataflow")] + [("run_presets", "InterfaceBandwidth")]
_UNSUPPORTED = {("layout", "IfmapCustomLayout"): "custom ifmap layouts",
                ("layout", "FilterCustomLayout"): "custom filter layouts",
                ("run_presets", "UseRamulatorTrace"): "Ramulator DRAM traces"}
SCALESIM_DEFAULT_BANK_BANDWIDTH = 10   # scale_config.py: ifmap/filter_sram_bank_bandwidth
_LIMITS = {"pos_int": MAX_CORE_PARAM, "kib": MAX_SIZE}
"""Largest value of a bounded kind: the arch config's own bounds, checked here so the error
names the .cfg key (``ArrayHeight``), not the systolic parameter it becomes."""


@dataclass(frozen=True)
class ScaleSimConfig:
    """The timing-relevant content of a SCALE-Sim ``.cfg`` (see the module docstring)."""

    run_name: str
    rows: int
    cols: int
    sram_kib: tuple[int, int, int]          # ifmap, filter, ofmap
    dataflow: str
    bandwidth_mode: str                     # "calc" | "user"
    words_per_cycle: tuple[int, int, int]   # ifmap, filter prefetch; ofmap drain (USER)
    origin: str
    sparsity: bool = False
    sparse_rep: str = "ellpack_block"
    optimized_mapping: bool = False
    block_size: int = 4
    seed: int = 40

    def arch_overrides(self) -> dict[str, object]:
        """Dotted keys for :func:`accelsim.config.with_overrides` of a systolic arch (in
        SCALE-Sim compat mode, whatever the base config's: a ``.cfg`` asks for SCALE-Sim's
        figures; ``--set core_params.scalesim_compat=false`` after it for accelsim's own)."""
        overrides: dict[str, object] = {
            "name": self.run_name, "core_params.scalesim_compat": True,
            "core_params.rows": self.rows,
            "core_params.cols": self.cols, "core_params.dataflow": self.dataflow,
            "core_params.bandwidth_mode": self.bandwidth_mode,
            "core_params.sparsity_support": self.sparsity}
        if self.sparsity:
            overrides.update({"core_params.sparse_rep": self.sparse_rep,
                              "core_params.sparsity_optimized_mapping": self.optimized_mapping,
                              "core_params.sparsity_block_size": self.block_size,
                              "core_params.sparsity_seed": self.seed})
        for buffer, size in zip(("ifmap_sram", "filter_sram", "ofmap_sram"), self.sram_kib,
                                strict=True):
            overrides[f"buffers.{buffer}.size_kib"] = size
        if self.bandwidth_mode == "user":
            for what, value in zip(("ifmap", "filter", "ofmap"), self.words_per_cycle,
                                   strict=True):
                overrides[f"core_params.{what}_words_per_cycle"] = value
        return overrides


def read_scalesim_config(path: str | Path) -> ScaleSimConfig:
    """Parse and check a SCALE-Sim ``.cfg``; every problem is reported at once."""
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None)   # a '%' is plain text
    parser.optionxform = str     # keep the user's spelling for messages; match ignoring case
    try:
        with path.open() as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: SCALE-Sim config file not found") from None
    except (OSError, UnicodeDecodeError, configparser.Error) as err:
        reason = str(err).splitlines()[0]
        raise ConfigError(f"{path}: not a SCALE-Sim config file ({reason})") from None
    values, problems = _checked_values(parser, str(path))
    if problems:
        raise ConfigError(problems)
    bank = SCALESIM_DEFAULT_BANK_BANDWIDTH
    arch = {key: value for (section, key), value in values.items()
            if section == "architecture_presets"}
    return ScaleSimConfig(
        run_name=values.get(("general", "run_name"), path.stem),
        rows=arch["ArrayHeight"], cols=arch["ArrayWidth"],
        sram_kib=(arch["IfmapSramSzkB"], arch["FilterSramSzkB"], arch["OfmapSramSzkB"]),
        dataflow=arch["Dataflow"],
        bandwidth_mode=values["run_presets", "InterfaceBandwidth"],
        words_per_cycle=(values.get(("layout", "IfmapSRAMBankBandwidth"), bank),
                         values.get(("layout", "FilterSRAMBankBandwidth"), bank),
                         arch.get("Bandwidth", [bank])[0]),
        origin=str(path), sparsity=values.get(("sparsity", "SparsitySupport"), False),
        sparse_rep=values.get(("sparsity", "SparseRep"), "ellpack_block"),
        optimized_mapping=values.get(("sparsity", "OptimizedMapping"), False),
        block_size=values.get(("sparsity", "BlockSize"), 4),
        seed=values.get(("sparsity", "RandomNumberGeneratorSeed"), 40))


def _checked_values(parser: configparser.ConfigParser,
                    origin: str) -> tuple[dict[tuple[str, str], object], list[str]]:
    values: dict[tuple[str, str], object] = {}
    problems: list[str] = []
    given: set[tuple[str, str]] = set()
    for section in parser.sections():
        schema = _SCHEMA.get(section)
        if schema is None:
            problems.append(f"{origin}: [{section}]: unknown section"
                            f"{did_you_mean(section, list(_SCHEMA), True)}")
            continue
        spelled = {key.lower(): key for key in schema}
        for written, text in parser.items(section):
            key = spelled.get(written.lower())
            if key is None:
                close = difflib.get_close_matches(written.lower(), list(spelled), n=1)
                hint = f" (did you mean {spelled[close[0]]!r}?)" if close else \
                    f" (known: {', '.join(schema)})"
                problems.append(f"{origin}: [{section}] {written}: unknown key{hint}")
                continue
            if (section, key) in given:   # configparser keeps both spellings apart
                problems.append(f"{origin}: [{section}] {written}: {key} is given twice "
                                "(keys ignore case)")
                continue
            given.add((section, key))
            value = _parse(schema[key], text.strip())
            limit = _LIMITS.get("pos_int" if schema[key] == "int_list" else schema[key])
            if value is None:
                problems.append(f"{origin}: [{section}] {key}: expected {_expected(schema[key])}"
                                f", got {text.strip()!r}")
            elif limit is not None and max(value if isinstance(value, list) else [value]) > limit:
                problems.append(f"{origin}: [{section}] {key}: expected at most {limit}, got "
                                f"{text.strip()!r}")
            else:
                values[section, key] = value
    for section, key in _REQUIRED:
        written = {k.lower() for k in parser[section]} if parser.has_section(section) else ()
        if key.lower() not in written:
            problems.append(f"{origin}: [{section}] {key}: missing required key")
    for (section, key), what in _UNSUPPORTED.items():
        if values.get((section, key)) is True:
            problems.append(f"{origin}: [{section}] {key}: not supported ({what}); set it "
                            "to False")
    if values.get(("sparsity", "SparsitySupport")) is True:
        problems += _sparsity_problems(values, origin)
    if values.get(("run_presets", "InterfaceBandwidth")) == "user" and \
            ("architecture_presets", "Bandwidth") not in values:
        problems.append(f"{origin}: [architecture_presets] Bandwidth: required when "
                        "InterfaceBandwidth is USER")
    return values, sorted(set(problems), key=problems.index)


def _sparsity_problems(values: dict, origin: str) -> list[str]:
    """What SCALE-Sim's sparsity needs that we cannot model or it would not accept."""
    problems = []
    rep = values.get(("sparsity", "SparseRep"))
    if rep not in SPARSE_REPS:   # SCALE-Sim compares case-sensitively: anything else is 0
        problems.append(f"{origin}: [sparsity] SparseRep: expected {' or '.join(SPARSE_REPS)}"
                        f" with SparsitySupport, got {rep!r}")
    dataflow = values.get(("architecture_presets", "Dataflow"))
    if values.get(("sparsity", "OptimizedMapping")) is True and dataflow not in ("ws", None):
        problems.append(f"{origin}: [sparsity] OptimizedMapping: SCALE-Sim 3.0.0 runs it in "
                        f"Dataflow ws only (it fails in {dataflow}); set it to False")
    block, rows = values.get(("sparsity", "BlockSize"), 4), values.get(
        ("architecture_presets", "ArrayHeight"), 1)
    if values.get(("sparsity", "OptimizedMapping")) is True and (
            block < 2 or block % 2 or block > rows or (2 * rows) % block):
        problems.append(f"{origin}: [sparsity] BlockSize: {block} must be even, at most "
                        f"ArrayHeight {rows} and divide 2 x ArrayHeight for OptimizedMapping "
                        "(SCALE-Sim fails otherwise)")
    if not 0 <= values.get(("sparsity", "RandomNumberGeneratorSeed"), 0) < 2 ** 32:
        problems.append(f"{origin}: [sparsity] RandomNumberGeneratorSeed: expected 0 to "
                        f"2**32 - 1 (numpy's seed)")
    if values.get(("architecture_presets", "FilterOffset")) == 0:
        problems.append(f"{origin}: [architecture_presets] FilterOffset: 0 is not supported "
                        "with SparsitySupport (SCALE-Sim takes filter address 0 for a pruned "
                        "weight); use SCALE-Sim's 10000000")
    return problems


def _parse(kind: object, text: str) -> object:
    """The value of ``text`` as ``kind`` (see ``_SCHEMA``), or None if it does not fit."""
    if kind == "text":
        return text
    if kind == "bool":
        return {"true": True, "false": False}.get(text.lower())
    if kind == "int":
        return int(text) if text.lstrip("-").isdigit() else None
    if kind in _LIMITS:
        return int(text) if text.isdigit() and int(text) > 0 else None
    if kind == "int_list":
        items = [item.strip() for item in text.split(",")]
        return [int(i) for i in items] if all(_parse("pos_int", i) for i in items) else None
    return text.lower() if text.lower() in kind else None


def _expected(kind: object) -> str:
    return {"text": "text", "bool": "True or False", "int": "an integer",
            "pos_int": "a positive integer", "kib": "a positive integer",
            "int_list": "positive integers separated by commas"}.get(
        kind, " or ".join(v.upper() if v in ("calc", "user") else v for v in kind))


def scalesim_arch(config: str | Path | ScaleSimConfig,
                  base: str | Path | ArchConfig = BASE_ARCH) -> ArchConfig:
    """A systolic arch (``base``: name, YAML or config) set up as the SCALE-Sim ``.cfg``."""
    if not isinstance(config, ScaleSimConfig):
        config = read_scalesim_config(config)
    arch = base if isinstance(base, ArchConfig) else load_arch(base)
    if arch.core != "systolic":
        raise ConfigError(f"{config.origin}: a SCALE-Sim config needs a systolic "
                          f"architecture (e.g. --arch {BASE_ARCH}), not core {arch.core!r}")
    try:
        return with_overrides(arch, config.arch_overrides())
    except ConfigError as err:    # e.g. ArrayHeight 0: name the .cfg, not the overrides
        raise ConfigError([f"{config.origin}: {line.split(': ', 1)[-1]}"
                           for line in err.problems]) from None


def load_scalesim_workload(name_or_path: str | Path,
                           kind: str | None = None) -> tuple[Network, ...]:
    """The networks SCALE-Sim would run: a topology CSV (conv or GEMM, ``kind`` or its
    header) as one unpadded single-layer network per row, ``DP`` rows split per channel
    (:func:`accelsim.workload.formats.topology_csv.load_topology`); any other workload as
    :func:`accelsim.workload.load_network` loads it, alone."""
    if Path(name_or_path).suffix.lower() == ".csv" and Path(name_or_path).is_file():
        from accelsim.workload.formats.topology_csv import load_topology

        return load_topology(name_or_path, padding="valid", kind=kind, expand_dp=True)
    if kind is not None:
        raise WorkloadError(f"{name_or_path}: topology kind {kind}: not a SCALE-Sim topology "
                            "CSV file")
    return (load_network(name_or_path),)
