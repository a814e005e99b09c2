"""A new user's first hour: progress on stderr, finding and copying configs, and names.

``accelsim run`` and ``compare`` show a bar on a terminal only (stdout unchanged), ``show``
prints a config that loads back, ``list`` says where shipped files are, ``init`` copies one
without clobbering, a mistyped name gets a suggestion, and two workloads of the same name are
an error rather than one silently replacing the other.
"""

from __future__ import annotations

import dataclasses
import re
import sys

import pytest
import yaml

from accelsim import progress
from accelsim.cli import main
from accelsim.compare import compare
from accelsim.config import load_arch, with_overrides
from accelsim.errors import AccelsimError, did_you_mean
from accelsim.files import data_dir, shipped
from accelsim.workload import load_network

TINY = {"version": 1, "name": "tiny", "input": [3, 8, 8], "layers": [
    {"name": "conv_a", "kind": "conv", "out_channels": 4, "kernel": 3, "pad": 1, "relu": True},
    {"name": "conv_b", "kind": "conv", "out_channels": 4, "kernel": 3, "pad": 1, "relu": True},
    {"name": "fc_c", "kind": "fc", "out_channels": 5}]}


@pytest.fixture(autouse=True)
def _no_forced_progress(monkeypatch):
    """Each test decides the progress mode itself, whatever the caller's environment says."""
    monkeypatch.delenv(progress.ENVIRONMENT, raising=False)


@pytest.fixture
def tiny(write_yaml):
    return str(write_yaml("tiny.yaml", TINY))


def _terminal(monkeypatch):
    """Make the captured stderr claim to be a terminal, as a user's shell is."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, captured
    assert lines[0].startswith("accelsim: error: ")
    return lines[0]


# ---- progress ------------------------------------------------------------------------------
def test_run_shows_a_layer_bar_on_a_terminal_and_stdout_is_unchanged(tiny, capsys, monkeypatch):
    assert main(["run", "--workload", tiny]) == 0
    plain = capsys.readouterr()
    assert plain.err == ""                       # not a terminal: nothing extra
    _terminal(monkeypatch)
    assert main(["run", "--workload", tiny]) == 0
    with_bar = capsys.readouterr()
    assert with_bar.out == plain.out
    bar = with_bar.err.replace("\r", "\n")
    assert "tiny on diannao" in bar and "layer" in bar
    for name in ("conv_a", "conv_b", "fc_c"):    # the layer running is named
        assert name in bar, bar
    assert re.search(r"\d/3 \[\d\d:\d\d<\d\d:\d\d", bar), bar   # elapsed < ETA


def test_quiet_and_the_environment_decide_over_the_terminal(tiny, capsys, monkeypatch):
    _terminal(monkeypatch)
    assert main(["run", "--workload", tiny, "-q"]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(progress.ENVIRONMENT, "off")
    assert main(["run", "--workload", tiny]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    monkeypatch.setenv(progress.ENVIRONMENT, "bar")
    assert main(["run", "--workload", tiny]) == 0
    assert "conv_b" in capsys.readouterr().err


def test_compare_shows_a_bar_per_run_only_on_a_terminal(tiny, capsys, monkeypatch):
    command = ["compare", "--archs", "diannao,dadiannao", "--workload", tiny]
    assert main(command) == 0
    plain = capsys.readouterr()
    assert plain.err == ""
    _terminal(monkeypatch)
    assert main(command) == 0
    with_bar = capsys.readouterr()
    assert with_bar.out == plain.out
    bar = with_bar.err.replace("\r", "\n")
    assert "tiny on diannao" in bar and "tiny on dadiannao" in bar and "/2 " in bar, bar
    assert main([*command, "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == plain.out


def test_a_log_gets_a_line_per_tenth(capsys):
    with progress.Progress(20, desc="job", unit="step", mode="log") as bar:
        for index in range(20):
            bar.begin(f"step {index}")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10 and lines[0].startswith("job: 2/20 steps, ")
    assert re.fullmatch(r"job: 20/20 steps, [\d.]+ steps/s, ETA 0 s", lines[-1])


def test_choose_mode():
    assert progress.choose_mode(False) == "off" and progress.choose_mode(True) == "bar"
    assert progress.choose_mode(None) == "off"          # captured stderr is no terminal
    assert progress.choose_mode(None, log=True) == "log"


# ---- show, list, init ----------------------------------------------------------------------
def test_show_prints_the_resolved_config_that_loads_back(capsys, tmp_path):
    assert main(["show", "diannao", "--set", "dram.bytes_per_cycle=64",
                 "--set", "buffers.sb.size_kib=64"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first == f"# {data_dir('arch_configs').resolve() / 'diannao.yaml'}"
    data = yaml.safe_load(out)
    assert data["dram"]["bytes_per_cycle"] == 64 and data["buffers"]["sb"]["size_kib"] == 64
    saved = tmp_path / "mine.yaml"
    saved.write_text(out)
    expected = with_overrides(load_arch("diannao"), {"dram.bytes_per_cycle": 64,
                                                     "buffers.sb.size_kib": 64})
    assert load_arch(saved) == expected


def test_show_names_a_file_by_its_absolute_path(capsys, tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text((data_dir("arch_configs") / "eyeriss.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["show", "a.yaml"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"# {tmp_path.resolve() / 'a.yaml'}"
    assert yaml.safe_load(out)["core"] == "eyeriss"


def test_show_errors_are_one_line(capsys):
    assert main(["show", "eyeris"]) == 2
    assert "unknown architecture 'eyeris' (did you mean 'eyeriss'?)" in _error_line(capsys)
    assert main(["show", "diannao", "--set", "dram.bytes_per_cyc=64"]) == 2
    line = _error_line(capsys)                   # nothing reached stdout before the error
    assert "diannao.yaml" in line and "dram.bytes_per_cyc" in line and "bytes_per_cycle" in line
    assert main(["show", "diannao", "--set", "clock_mhz"]) == 2
    assert "--set clock_mhz: expected KEY=VALUE" in _error_line(capsys)


def test_list_says_where_every_shipped_file_is(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    sweeps = data_dir("arch_configs") / "sweeps"
    assert f"{data_dir('arch_configs')}/NAME.yaml" in out
    assert f"{data_dir('workloads')}/NAME.yaml" in out and f"{sweeps}/NAME.yaml" in out
    assert re.search(r"^  diannao +diannao-memory: 64 configs x 2 workloads", out, re.M)
    assert re.search(r"^  digits_cnn .*\(digits_cnn\.onnx\)$", out, re.M)
    listed = set(re.findall(r"^  (\S+) ", out, re.M))
    assert set(shipped("arch_configs")) | set(shipped("workloads", (".yaml", ".onnx"))) <= listed


def test_init_copies_a_shipped_config_and_never_clobbers(capsys, tmp_path):
    directory = tmp_path / "configs" / "mine"       # created, parents too
    assert main(["init", "scnn", str(directory)]) == 0
    target = directory / "scnn.yaml"
    assert target.read_bytes() == (data_dir("arch_configs") / "scnn.yaml").read_bytes()
    out = capsys.readouterr().out
    assert f"wrote {target}" in out and f"--arch {target}" in out
    target.write_text(target.read_text().replace("name: scnn", "name: my_scnn"))
    assert main(["init", "scnn", str(directory)]) == 2
    line = _error_line(capsys)
    assert str(target) in line and "--force" in line
    assert load_arch(target).name == "my_scnn"       # untouched
    assert main(["init", "scnn", str(directory), "--force"]) == 0
    assert load_arch(target).name == "scnn"
    capsys.readouterr()
    assert main(["init", "snn", str(directory)]) == 2
    assert "unknown architecture 'snn' (did you mean 'scnn'?)" in _error_line(capsys)


def test_init_into_a_file_is_an_error(capsys, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("")
    assert main(["init", "diannao", str(blocker)]) == 2
    assert str(blocker) in _error_line(capsys)


# ---- names ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("option", "typed", "meant"), [
    ("--workload", "resnet", "resnet18"), ("--workload", "digits", "digits_cnn"),
    ("--workload", "VGG16", "vgg16"), ("--arch", "eyeris", "eyeriss")])
def test_a_mistyped_name_gets_a_suggestion(capsys, option, typed, meant):
    assert main(["run", option, typed]) == 2
    what = "workload" if option == "--workload" else "architecture"
    assert f"unknown {what} {typed!r} (did you mean {meant!r}?)" in _error_line(capsys)


def test_a_name_far_from_all_lists_them(capsys):
    assert main(["compare", "--archs", "diannao,qqq", "--workload", "lenet5"]) == 2
    line = _error_line(capsys)
    assert "unknown architecture 'qqq' (known: cnvlutin, dadiannao, diannao," in line


def test_did_you_mean_breaks_ties_by_order_and_ignores_case():
    assert did_you_mean("resnet", ["resnet18", "resnet50"]) == " (did you mean 'resnet18'?)"
    assert did_you_mean("resnet", ["resnet50", "resnet18"]) == " (did you mean 'resnet50'?)"
    assert did_you_mean("Size_KB", ["slots", "size_kib"]) == " (did you mean 'size_kib'?)"
    assert did_you_mean("zzz", ["a", "b"]) == ""
    assert did_you_mean("zzz", ["a", "b"], list_all=True) == " (known: a, b)"


# ---- two workloads of one name -------------------------------------------------------------
def test_two_workloads_of_one_name_are_an_error_naming_both(capsys, write_yaml):
    first = write_yaml("a/main_graph.yaml", {**TINY, "name": "main_graph"})
    second = write_yaml("b/main_graph.yaml", {**TINY, "name": "main_graph",
                                              "layers": TINY["layers"][:2]})
    assert main(["compare", "--archs", "diannao,dadiannao", "--workload",
                 f"{first},{second}"]) == 2
    line = _error_line(capsys)
    assert str(first) in line and str(second) in line and "'main_graph'" in line
    with pytest.raises(AccelsimError, match="given twice"):
        compare(["diannao", "dadiannao"], [first, first])
    unnamed = [dataclasses.replace(load_network(path), origin="") for path in (first, second)]
    with pytest.raises(AccelsimError, match=r"#1 and #2 are both named 'main_graph'"):
        compare(["diannao", "dadiannao"], unnamed)
