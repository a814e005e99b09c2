"""Generated input files, valid and not, through the command line (``accelsim.cli.main``):
whole arch YAMLs, SCALE-Sim ``.cfg`` files with a small topology, transform specs
(``--transform`` strings and ``--transforms`` recipes) and sweep YAMLs. The families of
``tests/test_fuzz_inputs.py`` reach the Python API; these reach the files a user writes by
hand and the commands that read them.

Every case ends with exit code 0 and a written table that keeps its invariants (cycles >=
ideal cycles, utilization <= 1, read back from the ``--output`` file; the printed totals too),
or with exit code 2 and stderr lines ``accelsim: error: ...`` each naming the file, option or
layer at fault. A traceback, an exception escaping ``main``, exit 1 or exit 3 fails, and
hypothesis prints the input that caused it.

Shared with ``tests/test_fuzz_inputs.py``: ``SETTINGS`` and ``examples()`` (derandomized in
the suite; ``benchmarks/fuzz_campaign.py`` runs both files on a thousand random cases), the
tiny network and numba on one thread. Cases are tiny: that network, arrays up to 8 x 8, grids
of up to 27 points (a larger grid only with a small ``sample``), sweeps on ``--jobs 1``.

A bug found here and not fixed yet is listed in ``KNOWN_BUGS``: its cases are counted
(``--hypothesis-show-statistics``), not failed, until the entry is deleted."""

from __future__ import annotations

import copy
import json
import math
import os
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.files import shipped
from accelsim.workload.transforms import TRANSFORM_KEYS
from tests.test_fuzz_inputs import (  # noqa: F401 (one_numba_thread: an autouse fixture)
    SETTINGS,
    TINY,
    _leaves,
    _names,
    _rarely,
    examples,
    one_numba_thread,
)

CLI_SETTINGS = {**SETTINGS, "suppress_health_check": [
    *SETTINGS["suppress_health_check"], HealthCheck.function_scoped_fixture]}
"""``SETTINGS``, with ``capsys`` (function-scoped) allowed: each case reads it empty."""
LAYERS = [layer["name"] for layer in TINY["layers"]]
SHIPPED_ARCHS = sorted(shipped("arch_configs"))
FAST_ARCHS = ("diannao", "cnvlutin", "systolic", "eyeriss_v2", "phantom2d")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """One directory for the generated files (module-scoped, as ``scratch`` in
    ``tests/test_fuzz_inputs.py``: every file gets a new name)."""
    return tmp_path_factory.mktemp("fuzz_cli")


@pytest.fixture(scope="module")
def tiny(folder) -> Path:
    """The tiny network of ``tests/test_fuzz_inputs.py`` as a network YAML file."""
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY, sort_keys=False))
    return path


KNOWN_BUGS: dict[str, tuple[str, str | None]] = {}   # name -> (family, pattern): none open
"""Bugs these tests found, not fixed yet: a case whose exit-2 line or escaped exception
matches (or an input accepted that should not be) is counted as its own event
(``--hypothesis-show-statistics``) instead of failing. Delete an entry once its bug is fixed:
the cases it covered then fail until they behave. The eight found so far are fixed, each
with a regression test in ``tests/test_bad_input.py``: a core refusing a sweep point, a
profile that is no string, pruning no layers, mixed-kind grid values, a key given twice (YAML
and SCALE-Sim .cfg), the same sweep run twice, a grid too large to list, a closed pipe."""


def _known_bug(family: str, text: str) -> bool:
    for bug, (where, pattern) in KNOWN_BUGS.items():
        if family == where and pattern and re.match(pattern, text):
            event(f"known bug: {bug}")
            return True
    return False


def known_acceptance(bug: str) -> None:
    """An input that should be refused ran (exit 0): fails unless ``bug`` is known."""
    assert bug in KNOWN_BUGS, f"accepted, and should have been refused: {bug}"
    event(f"known bug: {bug}")


def cli_ends_well(capsys, args: list, names: list, output: Path | None,
                  family: str = "") -> int | None:
    """Run ``accelsim ARGS`` in-process. Exit 0: the ``output`` table (and the printed
    totals) keep their invariants; exit 2: stderr is ``accelsim: error:`` lines, each naming
    one of ``names`` (a file, option, key or layer); anything else fails. Returns the code
    (None for a known bug of this test ``family``)."""
    args = [str(a) for a in args]
    try:
        code = main(args)
    except SystemExit as stop:   # argparse refuses an argument: usage and one error line
        code, parsed = stop.code, False
    except Exception as escaped:   # a traceback: fails, unless a known bug
        capsys.readouterr()
        if _known_bug(family, f"{type(escaped).__name__}: {escaped}"):
            return None
        raise
    else:
        parsed = True
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert code in (0, 2), f"accelsim {' '.join(args)}: exit {code}\n{err}"
    if code == 2:
        lines = err.strip().splitlines()
        assert lines, f"accelsim {' '.join(args)}: exit 2 and nothing on stderr"
        if not parsed:
            assert "error: argument" in lines[-1], err
            event("refused: argparse")
            return code
        if _known_bug(family, lines[0]):
            return None
        for line in lines:
            assert line.startswith("accelsim: error: "), err
            assert any(str(name) in line for name in names), \
                f"names none of {[str(n) for n in names]}: {line}"
        event("refused")
        return code
    assert not err.strip(), err   # no progress or warnings with --quiet
    event("ran")
    for total in re.finditer(r"cycles\s+([\d,]+)\s+\(stalls ([\d,]+), ideal ([\d,]+)\)", out):
        cycles, stalls, ideal = (int(v.replace(",", "")) for v in total.groups())
        assert ideal <= cycles and stalls <= cycles, out
    if output is not None:
        check_table(pd.read_csv(output))
    return code


def check_table(layers: pd.DataFrame) -> None:
    """A per-layer table's invariants (``run`` and ``sweep`` write the same columns)."""
    assert len(layers), "an empty table"
    assert (layers["cycles"] >= layers["ideal_cycles"]).all(), layers
    assert (layers["utilization"] <= 1 + 1e-12).all(), layers
    assert (layers["utilization"] >= 0).all(), layers
    assert (layers["stall_cycles"] <= layers["cycles"]).all(), layers


def _file(folder: Path, stem: str, suffix: str, content: str | bytes) -> Path:
    """A new file (hypothesis reruns a test many times; every file gets its own name)."""
    path = folder / f"{stem}{next(_names)}{suffix}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _non_utf8(draw, text: str) -> bytes:
    """``text`` with a byte that is not UTF-8 somewhere in it."""
    data = text.encode()
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.sampled_from([b"\xff", b"\xe9", b"\x80\x81", b"\xc3("])) + \
        data[at:]


def _flow(value) -> str:
    """``value`` as one line of YAML (NaN and infinities spelled as YAML spells them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return json.dumps(value)


# ---- whole arch YAML files -------------------------------------------------------------------

ARCH_DATA = {name: yaml.safe_load(path.read_text()) for name, path in
             shipped("arch_configs").items()}
WRONG = st.sampled_from(["x", "", [1, 2], {"a": 1}, True, None, [], {}])
OUT_OF_RANGE = st.sampled_from([0, -1, -0.5, 0.5, 10 ** 12, 2 ** 63, 1e300, math.nan,
                                math.inf, -math.inf])


def _paths(value, prefix=()) -> list[tuple]:
    """Every key path of a nested mapping, inner nodes included."""
    if not isinstance(value, dict):
        return []
    return [p for key, item in value.items()
            for p in [(*prefix, key), *_paths(item, (*prefix, key))]]


def _get(data, path):
    for key in path[:-1]:
        data = data[key]
    return data


def _near(value, draw):
    """A value like ``value`` (same type, nearby size): mostly still valid."""
    if isinstance(value, bool):
        return draw(st.booleans())
    if isinstance(value, int):
        return draw(st.integers(max(value // 2, 1), max(2 * value, 1)))
    if isinstance(value, float):
        return value * draw(st.sampled_from([0.5, 1.0, 2.0]))
    return value


@st.composite
def arch_file(draw) -> tuple[str, str | bytes, bool | str]:
    """A shipped arch config with 0-3 mutations (a third of them a nearby value), dumped as
    YAML; now and then the whole file is something else (empty, a list, a scalar, not UTF-8,
    not YAML, a key twice). Returns the shipped name, the content and whether no arch config
    can be read from it at all (``"twice"``: a key is written twice)."""
    name = draw(st.sampled_from(SHIPPED_ARCHS))
    data = copy.deepcopy(ARCH_DATA[name])
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        path = draw(st.sampled_from(_paths(data) or [("name",)]))
        parent, key = _get(data, path), path[-1]
        if not isinstance(parent, dict) or key not in parent:
            continue
        how = draw(st.sampled_from(["near", "near", "drop", "rename", "wrong", "range",
                                    "nest", "unnest", "core"]))
        if how == "near":
            parent[key] = _near(parent[key], draw)
        elif how == "drop":
            del parent[key]
        elif how == "rename":
            parent[draw(st.sampled_from([f"{key}s", str(key).upper(), f"{key}_x", "nope"]))] = \
                parent.pop(key)
        elif how == "wrong":
            parent[key] = draw(WRONG)
        elif how == "range":
            parent[key] = draw(OUT_OF_RANGE)
        elif how == "nest":   # one level too deep
            parent[key] = {key: parent[key]}
        elif how == "unnest":   # a nested key moved to the top
            data[key] = parent.pop(key)
        else:
            data["core"] = draw(st.sampled_from([*sorted({d["core"] for d in ARCH_DATA.values()}),
                                                 "bogus", "../config", "os"]))
    text = yaml.safe_dump(data, sort_keys=False)
    whole = draw(st.sampled_from(["yaml"] * 12 + ["empty", "list", "scalar", "bytes",
                                                 "syntax", "comments", "twice"]))
    if whole == "twice" and isinstance(data.get("clock_mhz"), int | float):
        return name, f"{text}clock_mhz: {2 * data['clock_mhz']}\n", "twice"
    if whole == "empty":
        return name, "", True
    if whole == "list":
        return name, yaml.safe_dump([data]), True
    if whole == "scalar":
        return name, draw(st.sampled_from(["diannao\n", "42\n", "null\n", "~\n"])), True
    if whole == "bytes":
        return name, _non_utf8(draw, text), True
    if whole == "syntax":
        at = draw(st.integers(0, len(text)))
        return name, text[:at] + draw(st.sampled_from(["\t", ": :", "{", "- [", "'"])) + \
            text[at:], False
    if whole == "comments":
        return name, "# nothing but a comment\n", True
    return name, text, False


@settings(max_examples=examples(50), **CLI_SETTINGS)
@given(case=arch_file())
def test_generated_arch_files(folder, tiny, capsys, case):
    name, content, unreadable = case
    path = _file(folder, name, ".yaml", content)
    output = folder / f"run{next(_names)}.csv"
    code = cli_ends_well(capsys, ["run", "--arch", path, "--workload", tiny, "-q",
                                  "-o", output], [path, *(f"layer {n!r}" for n in LAYERS)],
                         output)
    if code == 0 and unreadable == "twice":
        known_acceptance("a key twice, the last wins")
    else:
        assert code == 2 or not unreadable, content


# ---- SCALE-Sim .cfg files --------------------------------------------------------------------

CFG = {
    "general": {"run_name": "fuzz"},
    "architecture_presets": {
        "ArrayHeight": "4", "ArrayWidth": "4", "IfmapSramSzkB": "8", "FilterSramSzkB": "8",
        "OfmapSramSzkB": "8", "IfmapOffset": "0", "FilterOffset": "10000000",
        "OfmapOffset": "20000000", "Bandwidth": "10", "Dataflow": "os", "MemoryBanks": "1",
        "ReadRequestBuffer": "32", "WriteRequestBuffer": "32"},
    "layout": {
        "IfmapCustomLayout": "False", "IfmapSRAMBankBandwidth": "10", "IfmapSRAMBankNum": "1",
        "IfmapSRAMBankPort": "2", "FilterCustomLayout": "False",
        "FilterSRAMBankBandwidth": "10", "FilterSRAMBankNum": "1", "FilterSRAMBankPort": "2"},
    "sparsity": {"SparsitySupport": "false", "SparseRep": "ellpack_block",
                 "OptimizedMapping": "false", "BlockSize": "8",
                 "RandomNumberGeneratorSeed": "40"},
    "run_presets": {"InterfaceBandwidth": "CALC", "UseRamulatorTrace": "False"},
}
"""A valid SCALE-Sim 3.0.0 config, small (4 x 4 array, 8 KB SRAMs) so cases run fast."""

CFG_VALUES = {   # key -> values to try (valid ones first)
    "ArrayHeight": ["1", "2", "3", "8", "0", "-4", "999999999999", "eight", "4.5", ""],
    "ArrayWidth": ["1", "2", "5", "8", "0", "-1", "99999999999999999999", "four", " "],
    "IfmapSramSzkB": ["1", "2", "64", "0", "-8", "2000000", "8kB"],
    "FilterSramSzkB": ["1", "4", "64", "0", "1e3", "huge"],
    "OfmapSramSzkB": ["1", "16", "0", "-1", "12.5"],
    "Dataflow": ["os", "ws", "is", "OS", "Ws", "xs", "", "os ws"],
    "Bandwidth": ["1", "7", "10,20", "0", "-2", "a", "", "10, x", "99999999999"],
    "InterfaceBandwidth": ["CALC", "USER", "calc", "user", "BOTH", ""],
    "IfmapSRAMBankBandwidth": ["1", "3", "10", "0", "-1", "ten"],
    "FilterSRAMBankBandwidth": ["2", "10", "0", "x"],
    "SparsitySupport": ["false", "true", "True", "FALSE", "maybe", "1", ""],
    "SparseRep": ["ellpack_block", "csr", "csc", "CSR", "bogus", ""],
    "OptimizedMapping": ["false", "true", "no"],
    "BlockSize": ["8", "4", "0", "-3", "x"],
    "FilterOffset": ["10000000", "0", "-1", "x"],
    "IfmapCustomLayout": ["False", "True", "perhaps"],
    "UseRamulatorTrace": ["False", "True", "0"],
    "MemoryBanks": ["1", "4", "-1", "x"],
    "run_name": ["fuzz", "a%b", "%(x)s", "100%", "", "名前"],
}
CFG_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
              "Num Filter, Strides,")


@st.composite
def scalesim_case(draw) -> tuple[str | bytes, str, list[str], str]:
    """A ``.cfg`` (the valid one with 0-4 changes: a key's value, a key or section dropped,
    added or misspelled, a ``%``; now and then a file that is no INI at all), a topology of
    1-2 small rows (conv or GEMM, sometimes a Sparsity column), extra options and what was
    done to the file as a whole (``cfg``: nothing; ``twice``: a key in two spellings; any
    other: no config can be read from it)."""
    sections = copy.deepcopy(CFG)
    for _ in range(draw(st.integers(0, 4))):
        section = draw(st.sampled_from(sorted(sections) or ["general"]))
        keys = sorted(sections.get(section, {}))
        how = draw(st.sampled_from(["value"] * 5 + ["drop", "drop_section", "unknown",
                                                    "misspell", "percent", "new_section"]))
        if how == "value" or not keys:
            key = draw(st.sampled_from(sorted(CFG_VALUES)))
            home = next(s for s, k in CFG.items() if key in k)
            sections.setdefault(home, {})[key] = _rarely(
                draw, st.sampled_from(CFG_VALUES[key][:3]), st.sampled_from(CFG_VALUES[key]))
        elif how == "drop":
            del sections[section][draw(st.sampled_from(keys))]
        elif how == "drop_section":
            del sections[section]
        elif how == "unknown":
            sections[section][draw(st.sampled_from(["Frequency", "ArrayDepth", "x"]))] = "1"
        elif how == "misspell":
            key = draw(st.sampled_from(keys))
            sections[section][key.lower() if key != key.lower() else key + "s"] = \
                sections[section].pop(key)
        elif how == "percent":
            key = draw(st.sampled_from(keys))
            sections[section][key] = draw(st.sampled_from(["%", "%%"])) + sections[section][key]
        else:
            sections[draw(st.sampled_from(["extra", "Sparsity", "architecture presets"]))] = \
                {"a": "1"}
    text = "".join(f"[{section}]\n" + "".join(f"{key} : {value}\n" for key, value in
                                                  items.items()) + "\n"
                   for section, items in sections.items())
    whole = draw(st.sampled_from(["cfg"] * 14 + ["empty", "bytes", "no_header", "duplicate",
                                                 "yaml", "twice"]))
    twice = whole == "twice" and "\nArrayHeight : " in text
    if twice:   # the same key in another spelling (SCALE-Sim's configparser lowercases keys)
        text = text.replace("\nArrayHeight : ", "\nArrayHeight : 2\narrayheight : ", 1)
    if whole == "empty":
        text = ""
    elif whole == "bytes":
        text = _non_utf8(draw, text)
    elif whole == "no_header":
        text = "ArrayHeight : 4\n" + text
    elif whole == "duplicate":
        text = text.replace("Dataflow", "Dataflow : os\nDataflow", 1)
    elif whole == "yaml":
        text = yaml.safe_dump(sections)
    return text, draw(topology_rows()), draw(st.sampled_from(
        [[], [], ["--scalesim-reports"], ["--topology-kind", "conv"],
         ["--topology-kind", "gemm"]])), "cfg" if whole == "twice" and not twice else whole


@st.composite
def topology_rows(draw) -> str:
    """1-2 independent rows, conv or GEMM, small, valid; sometimes with a Sparsity column."""
    gemm, sparse = draw(st.booleans()), draw(st.sampled_from([False, False, True]))
    rows = []
    for index in range(draw(st.integers(1, 2))):
        ratio = ""
        if sparse:
            m = draw(st.integers(1, 4))
            ratio = f" {draw(st.integers(1, m))}:{m},"
        if gemm:
            m, n, k = (draw(st.integers(1, 8)) for _ in range(3))
            rows.append(f"g{index}, {m}, {n}, {k},{ratio}")
            continue
        h = draw(st.integers(1, 8))
        r = draw(st.integers(1, min(h, 3)))
        dp = draw(st.sampled_from(["", "", "_DP"]))
        rows.append(f"Conv{index}{dp}, {h}, {h}, {r}, {r}, {draw(st.integers(1, 3))}, "
                    f"{draw(st.integers(1, 6))}, {draw(st.integers(1, 2))},{ratio}")
    header = "Layer, M, N, K," if gemm else CFG_HEADER
    return header + (" Sparsity," if sparse else "") + "\n" + "\n".join(rows) + "\n"


@settings(max_examples=examples(50), **CLI_SETTINGS)
@given(case=scalesim_case())
def test_generated_scalesim_configs(folder, capsys, case):
    cfg_text, topology, extra, whole = case
    cfg = _file(folder, "scale", ".cfg", cfg_text)
    topo = _file(folder, "topology", ".csv", topology)
    output = folder / f"run{next(_names)}.csv"
    if extra == ["--scalesim-reports"]:
        extra = [*extra, folder / f"reports{next(_names)}"]
    code = cli_ends_well(capsys, ["run", "--scalesim-config", cfg, "--workload", topo,
                                  "--arch", "systolic", "-q", "-o", output, *extra],
                         [cfg, topo, "--topology-kind"], output)
    if code == 0 and whole == "twice":
        known_acceptance("a key twice, the last wins")
    elif whole != "cfg":   # empty, not UTF-8, no section header, a key twice, YAML
        assert code in (2, None), cfg_text
    if code == 0 and "--scalesim-reports" in extra:
        reports = sorted(p.name for p in extra[1].iterdir())
        assert {"COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv",
                "DETAILED_ACCESS_REPORT.csv"} <= set(reports), reports


# ---- transform specs -------------------------------------------------------------------------

PROFILE_FILES = {   # file stem -> content (written once per module)
    "weights": {"version": 1, "name": "w", "quantity": "weight_density",
                "layers": {"c": 0.5, "f": 0.25}},
    "zeros": {"version": 1, "name": "z", "quantity": "input_zero_fraction",
              "layers": {"f": 0.6}},
    "convweights": {"version": 1, "name": "cw", "quantity": "weight_density",
                    "layers": {"c": 0.4}},
    "badrange": {"version": 1, "name": "b", "quantity": "weight_density",
                 "layers": {"c": 1.5}},
    "badlayer": {"version": 1, "name": "b", "quantity": "weight_density",
                 "layers": {"conv9": 0.5}},
    "badquantity": {"version": 1, "name": "b", "quantity": "weights", "layers": {"c": 0.5}},
    "precision": {"version": 1, "name": "pr", "quantity": "precision_bits", "layers": {"c": 6}},
    "list": [1, 2],
}
OPTION_VALUES = {   # option -> (fitting values, bad values)
    "values": (st.integers(2, 64), st.sampled_from([0, 1, -3, 8.5, "16", True, None, 2 ** 40])),
    "iterations": (st.integers(1, 30), st.sampled_from([0, -1, 2.5, "20", True, None, 2 ** 40])),
    "density": (st.sampled_from([0.0, 0.3, 0.5, 1.0, 1, {"c": 0.5}, {"f": 0.1, "c": 1.0}]),
                st.sampled_from([-0.1, 1.5, math.nan, math.inf, "half", {"nope": 0.5},
                                 {"p": 0.5}, {"c": 2}, [0.5], None, True, {}])),
    "profile": (st.sampled_from(["@weights"]),
                st.sampled_from(["alexnet_han2015", "alexnet_eyeriss2016", "nope",
                                 "@badrange", "@badlayer", "@badquantity", "@list",
                                 "missing.yaml", 3, None, ["alexnet_han2015"]])),
    "scope": (st.sampled_from(["global", "layer"]), st.sampled_from(["all", 1, None, ""])),
    "layers": (st.sampled_from([["c"], ["c", "f"], ["f"]]),
               st.sampled_from([[], ["p"], ["nope"], "c", [1], None, ["c", "c"]])),
    "filters_per_group": (st.sampled_from([1, 2, 4]),
                          st.sampled_from([0, -1, 3, 8, "x", True, None, 2.0])),
    "zeros": (st.sampled_from([{"f": 0.5}, {"p": 0.3}, {"f": 0.0}, {"f": 0.9}]),
              st.sampled_from([{"f": 1.5}, {"f": -1}, 0.5, {"nope": 0.2}, {"c": 0.5},
                               {"f": math.nan}, {}, None])),
    "bits": (st.integers(2, 16), st.sampled_from([0, 1, 17, -3, 8.5, "8", True, None, 2 ** 40])),
    "per_channel": (st.booleans(), st.sampled_from(["yes", 1, None])),
    "activations": (st.sampled_from([1, 8, 16, {"c": 4}]),
                    st.sampled_from([0, 17, 2.5, "8", True, None, {"nope": 4}, {"c": 0}])),
    "weights": (st.sampled_from([2, 8, {"f": 4}]), st.sampled_from([0, 1, 17, "8", None])),
    "mode": (st.sampled_from(["weights", "xnor"]), st.sampled_from(["XNOR", "", 1, None, "both"])),
}
KIND_VALUES = {   # (kind, option) -> fitting values where they depend on the kind
    ("prune_groups", "density"): st.sampled_from([0.0, 0.5, 1, {"c": 0.25}]),
    ("prune_groups", "layers"): st.just(["c"]),
    ("prune_groups", "profile"): st.sampled_from(["@convweights"]),
    ("prune", "profile"): st.sampled_from(["@weights", "@convweights"]),
    ("prune_filters", "profile"): st.sampled_from(["@weights", "@convweights"]),
    ("activation_profile", "profile"): st.just("@zeros"),
    ("precision", "profile"): st.just("@precision"),
}
REQUIRED_ONE_OF = ("density", "profile", "zeros", "bits", "values", "activations", "mode")
"""A spec draws one of these its kind takes (the kind's main option) and 0-2 others."""
ODD_KINDS = ["Prune", "prune ", "", "quantise", "prune_group", "pruning", "kind", None, 3]


@st.composite
def transform_spec(draw, flawed: bool = False) -> dict:
    """One transform mapping: a kind, its one required option (``density``, ``profile``,
    ``zeros`` or ``bits``) and 0-2 others, all fitting; ``flawed``: one thing wrong (an odd
    kind, a bad value, an option of another kind or none, the required one missing)."""
    kind = draw(st.sampled_from(sorted(TRANSFORM_KEYS)))
    keys = TRANSFORM_KEYS[kind]
    required = draw(st.sampled_from([k for k in REQUIRED_ONE_OF if k in keys]))
    others = [k for k in keys if k not in REQUIRED_ONE_OF]
    chosen = draw(st.lists(st.sampled_from(others), max_size=2, unique=True)) if others else []
    spec = {"kind": kind} | {key: draw(KIND_VALUES.get((kind, key), OPTION_VALUES[key][0]))
                             for key in dict.fromkeys([required, *chosen])}
    if not flawed:
        return spec
    how = draw(st.sampled_from(["value"] * 4 + ["kind", "unknown", "missing", "both"]))
    if how == "value":
        key = draw(st.sampled_from(list(spec)[1:]))
        spec[key] = draw(OPTION_VALUES[key][1])
    elif how == "kind":
        spec["kind"] = draw(st.sampled_from(ODD_KINDS))
    elif how == "unknown":
        spec[draw(st.sampled_from(["bogus", "threshold", *OPTION_VALUES]))] = 1
    elif how == "missing":
        del spec[draw(st.sampled_from(["kind", required]))]
    else:   # density and profile together
        spec["profile" if "density" in spec else "density"] = 0.5
    return spec


def _spec_text(spec: dict) -> str:
    """``KIND:KEY=VALUE,...`` as ``--transform`` takes it."""
    options = ",".join(f"{k}={_flow(v)}" for k, v in spec.items() if k != "kind")
    kind = spec.get("kind", "")
    return f"{kind if isinstance(kind, str) else _flow(kind)}:{options}"


RAW_SPECS = ["prune", "prune:", ":density=0.5", "prune:density", "prune:density=}",
             "prune:density=0.5,,", "quantize:bits=8,bits=4", "prune:layers=[c,f],density=0.5",
             "prune:=0.5", "quantize:bits=[8", "prune:density=0.5:0.6", "prune_groups:density=",
             "quantize:bits=8,per_channel=true,layers=[f]", "activation_profile:zeros={f: 1}",
             "prune:density=0.5,layers=[c", "quantize:bits=8}", "prune:{density: 0.5}",
             "prune:density=0.5,layers=[]", "prune_filters:profile=7"]


def _recipe_text(draw, specs: list[dict], flawed: bool) -> str | bytes:
    """A ``--transforms`` file of ``specs``; ``flawed``: wrong as a whole."""
    data = {"version": 1, "transforms": specs}
    how = draw(st.sampled_from(["ok", "description"] if not flawed else [
        "version", "no_list", "list", "unknown", "item", "bytes", "empty", "scalar"]))
    if how == "version":
        data["version"] = draw(st.sampled_from([2, "1", None, 0]))
    elif how == "no_list":
        data["transforms"] = draw(st.sampled_from([{}, "prune", None, {"kind": "prune"}]))
    elif how == "list":
        data = specs
    elif how == "unknown":
        data[draw(st.sampled_from(["transform", "seed", "Transforms"]))] = data.pop("transforms")
    elif how == "item":
        data["transforms"] = [*specs, draw(st.sampled_from(["prune", 3, [], None]))]
    elif how == "description":
        data["description"] = "pruned"
    elif how == "scalar":
        data = "prune"
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if how == "bytes":
        return _non_utf8(draw, text)
    return "" if how == "empty" else text


@st.composite
def transform_case(draw) -> tuple[list[str], str | bytes | None, str]:
    """0-2 ``--transform`` specs and maybe a recipe of 0-2 specs, all fitting but (3 cases in
    4) one flaw somewhere: in a spec, in the recipe as a whole or a malformed spec string."""
    count, in_file = draw(st.integers(0, 2)), draw(st.sampled_from([None, 0, 1, 2]))
    where = draw(st.sampled_from(["none", "spec", "spec", "spec", "recipe", "raw"]))
    if where == "recipe" and in_file is None:
        in_file = 0
    specs = [draw(transform_spec()) for _ in range(count + (in_file or 0))]
    if where == "spec":
        specs.append(draw(transform_spec(flawed=True)))
        specs = draw(st.permutations(specs))
    cut = min(in_file or 0, len(specs))
    texts = [_spec_text(spec) for spec in specs[cut:]]
    if where == "raw":
        texts.insert(draw(st.integers(0, len(texts))), draw(st.sampled_from(RAW_SPECS)))
    recipe_text = None if in_file is None else _recipe_text(draw, specs[:cut],
                                                            where == "recipe")
    return texts, recipe_text, draw(st.sampled_from(FAST_ARCHS))


@pytest.fixture(scope="module")
def profiles(folder) -> dict[str, Path]:
    written = {}
    for stem, content in PROFILE_FILES.items():
        written[stem] = folder / f"profile_{stem}.yaml"
        written[stem].write_text(yaml.safe_dump(content))
    return written


def _with_profiles(text: str, profiles: dict[str, Path]) -> str:
    return re.sub(r"@(\w+)", lambda m: str(profiles[m.group(1)]), text)


@settings(max_examples=examples(50), **CLI_SETTINGS)
@given(case=transform_case())
def test_generated_transforms(folder, tiny, profiles, capsys, case):
    texts, recipe_text, arch = case
    args = ["run", "--arch", arch, "--workload", tiny, "-q"]
    names = ["--transform", *(f"layer {n!r}" for n in LAYERS), *profiles.values()]
    if recipe_text is not None:
        recipe_path = _file(folder, "recipe", ".yaml", recipe_text if isinstance(
            recipe_text, bytes) else _with_profiles(recipe_text, profiles))
        args += ["--transforms", recipe_path]
        names.append(recipe_path)
    for text in texts:
        args += ["--transform", _with_profiles(text, profiles)]
    output = folder / f"run{next(_names)}.csv"
    cli_ends_well(capsys, [*args, "-o", output], names, output, "transforms")


# ---- sweep YAMLs -----------------------------------------------------------------------------

SWEEP_ARCHS = ("diannao", "systolic", "cnvlutin")
GRID_KEYS = {arch: {k: v for k, v in _leaves(load_arch(arch).to_dict()).items()
                    if isinstance(v, int | float) and not isinstance(v, bool)}
             for arch in SWEEP_ARCHS}


@st.composite
def grid_values(draw, value) -> list:
    """1-3 values near a config value (a bad one now and then: wrong type, out of range)."""
    near = st.sampled_from(sorted({value, max(value // 2, 1) if isinstance(value, int) else
                                   value / 2, 2 * value}))
    bad = st.sampled_from([0, -1, "x", None, 10 ** 12, [1], math.inf])
    values = [_rarely(draw, near, bad) for _ in range(draw(st.integers(1, 3)))]
    return list({json.dumps(v): v for v in values}.values())   # no repeats (added on purpose)


@st.composite
def sweep_case(draw) -> tuple[dict, str]:
    """A sweep spec on the tiny network: one or two archs, a grid of 1-3 known keys of
    1-3 values (one in eight a big grid, 1,600 points, with a sample of 1-3), and in half
    the cases 1-2 changes (``SWEEP_CHANGES``: an unknown key, another core's key, an empty
    or repeated list, a bad seed, sample count or workload, ...). Returns the spec and the
    output's suffix (``.txt`` is refused)."""
    archs = draw(st.lists(st.sampled_from(SWEEP_ARCHS), min_size=1, max_size=2, unique=True))
    grid = {}
    for _ in range(draw(st.integers(1, 3))):
        arch = draw(st.sampled_from(archs))
        key = draw(st.sampled_from(sorted(GRID_KEYS[arch])))
        grid[key] = draw(grid_values(GRID_KEYS[arch][key]))
    spec: dict = {"version": 1, "name": "fuzz",
                  "archs" if len(archs) > 1 or draw(st.booleans()) else "arch":
                      archs if len(archs) > 1 else archs[0],
                  "workloads": ["tiny.yaml"], "seed": draw(st.integers(0, 3)), "grid": grid}
    big = draw(st.integers(0, 7)) == 0
    if big:   # a large grid, run through a small sample
        keys = draw(st.lists(st.sampled_from(sorted(GRID_KEYS[archs[0]])), min_size=2,
                             max_size=2, unique=True))
        spec["grid"] = {key: list(range(1, 41)) for key in keys}
        spec["sample"] = {"count": draw(st.integers(1, 3)), "seed": draw(st.integers(0, 5))}
    elif draw(st.booleans()):
        spec["sample"] = draw(st.sampled_from([1, 2, {"count": 2}, {"count": 3, "seed": 4}]))
    changes = [c for c in SWEEP_CHANGES if not (big and (c[0].startswith("grid.") or c == (
        "sample", 10 ** 9)))]   # a big grid stays sampled
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        key, value = draw(st.sampled_from(changes))
        if key.startswith("grid."):
            if isinstance(spec.get("grid"), dict):
                spec["grid"][key[5:]] = value
        else:
            spec[key] = value
    return spec, draw(st.sampled_from([".csv", ".csv", ".parquet", ".txt"]))


SWEEP_CHANGES = [   # (key, value) put into a sweep spec, mostly wrong
    ("version", 2), ("version", "1"), ("arch", "bogus"), ("archs", []),
    ("arch", ["diannao", "diannao"]), ("arch", 3), ("workloads", []),
    ("workloads", ["resnet"]), ("workloads", ["nope.yaml"]), ("workloads", "tiny.yaml"),
    ("workloads", ["tiny.yaml", "tiny.yaml"]), ("workloads", ["tiny.yaml", "./tiny.yaml"]),
    ("workloads", [{"name": "x"}]), ("seed", -1), ("seed", "x"), ("seed", 1.5),
    ("seed", True), ("values", "synthetic"), ("values", "bogus"), ("name", 7),
    ("name", ""), ("grid", {}), ("grid", []), ("grid", None),
    ("grid.dram.nope", [1]), ("grid.core_params.rows", [2, 4]),
    ("grid.buffers.sb.size_kib", []), ("grid.buffers.sb.size_kib", 8),
    ("grid.dram.bytes_per_cycle", [16, 16]), ("grid.dram.bytes_per_cycle", [16, 16.0]),
    ("sample", 0), ("sample", -1), ("sample", {"count": 0}), ("sample", {"seed": 1}),
    ("sample", {"count": 2, "extra": 1}), ("sample", "x"), ("sample", 10 ** 9),
    ("sample", {"count": 1.5}), ("sample", True), ("grids", {}), ("description", "d")]


def _repeats(spec: dict) -> bool:
    """Whether a spec names a run twice: an arch or workload listed twice (``tiny.yaml``,
    ``./tiny.yaml``), or grid values equal but spelled differently (16 and 16.0)."""
    workloads = spec["workloads"]
    if isinstance(workloads, list):   # ./tiny.yaml is tiny.yaml
        workloads = [os.path.normpath(w) for w in workloads]
    lists = [spec.get("archs", spec.get("arch")), workloads, *spec["grid"].values()]
    return any(isinstance(items, list) and len(items) != len(
        {v if isinstance(v, int | float) and not isinstance(v, bool) else json.dumps(v)
         for v in items}) for items in lists)


def _expected_runs(spec: dict) -> int:
    """How many runs a valid spec makes: (points of the grid, or the sample) x workloads."""
    archs = spec.get("archs", spec.get("arch"))
    workloads = spec["workloads"]
    points = len(archs) if isinstance(archs, list) else 1
    for values in spec["grid"].values():
        points *= len(values)
    sample = spec.get("sample")
    count = sample["count"] if isinstance(sample, dict) else sample
    return min(points, count or points) * (len(workloads) if isinstance(workloads, list) else 1)


@settings(max_examples=examples(50), **CLI_SETTINGS)
@given(case=sweep_case())
def test_generated_sweeps(folder, tiny, capsys, case):
    spec, suffix = case
    here = folder / f"sweep{next(_names)}"   # the spec names tiny.yaml beside it
    here.mkdir()
    (here / "tiny.yaml").write_text(tiny.read_text())
    path = here / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    output = here / f"out{suffix}"
    code = cli_ends_well(capsys, ["sweep", path, "-o", output, "--jobs", "1", "-q"],
                         [path, output], None, "sweeps")
    if code != 0:
        return
    if suffix == ".parquet":
        layers = pd.read_parquet(output)
        points = pd.read_parquet(output.with_name("out.points.parquet"))
    else:
        layers = pd.read_csv(output)
        points = pd.read_csv(output.with_name("out.points.csv"))
    assert len(points) == _expected_runs(spec), points
    if _repeats(spec):
        known_acceptance("sweep: the same run twice")
    else:
        assert not points.duplicated(["point", "workload"]).any(), points
    assert set(points["status"]) <= {"ok", "failed"}, points
    ok = points[points["status"] == "ok"]
    if len(ok):   # (a table of failed runs only has no figures)
        assert (ok["cycles"] >= ok["ideal_cycles"]).all(), ok
        check_table(layers)
    assert len(layers) == len(ok) * len(LAYERS), (layers, points)
