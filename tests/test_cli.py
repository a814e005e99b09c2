"""The accelsim command: runs, lists, and turns bad input into one-line errors (exit 2)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from accelsim.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "accelsim", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


def test_run_prints_layers_and_totals(tmp_path):
    out = tmp_path / "res" / "lenet.csv"
    proc = run_cli("run", "--workload", "lenet5", "--output", str(out), "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert "c1" in proc.stdout and "cycles" in proc.stdout and "energy" in proc.stdout
    assert out.exists() and out.with_name("lenet.meta.json").exists()


def test_overrides_change_the_result(capsys):
    assert main(["run", "--workload", "lenet5", "-q"]) == 0
    slow = capsys.readouterr().out
    assert main(["run", "--workload", "lenet5", "-q", "--set", "dram.bytes_per_cycle=1"]) == 0
    assert capsys.readouterr().out != slow


def test_list_shows_shipped_things(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "diannao" in out and "vgg16" in out and "mobilenet_v1" in out


def _arch_file(tmp_path, **changes):
    data = yaml.safe_load((REPO / "arch_configs" / "diannao.yaml").read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path = tmp_path / "arch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _assert_clean_error(proc, *needles):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith("accelsim: error:") for line in lines)
    for needle in needles:
        assert any(needle in line for line in lines), (needle, lines)


def test_unknown_key_names_file_and_key(tmp_path):
    path = _arch_file(tmp_path)
    text = path.read_text().replace("size_kib: 32", "size_kb: 32")
    path.write_text(text)
    _assert_clean_error(run_cli("run", "--arch", str(path), "--workload", "lenet5"),
                        str(path), "buffers.sb.size_kb", "size_kib")


def test_negative_buffer_size(tmp_path):
    path = _arch_file(tmp_path, **{"buffers.nbin.size_kib": -2})
    _assert_clean_error(run_cli("run", "--arch", str(path), "--workload", "lenet5"),
                        str(path), "buffers.nbin.size_kib")


def test_kernel_larger_than_padded_input(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "input": [3, 4, 4], "layers": [
        {"name": "big", "kind": "conv", "out_channels": 8, "kernel": 7, "pad": 1}]}))
    _assert_clean_error(run_cli("run", "--workload", str(path)), str(path), "big",
                        "larger than the padded input")


def test_malformed_yaml(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("name: x\nlayers: [\n")
    _assert_clean_error(run_cli("run", "--workload", str(path)), str(path))


def test_missing_files():
    _assert_clean_error(run_cli("run", "--arch", "no/such/arch.yaml"), "no/such/arch.yaml")
    _assert_clean_error(run_cli("run", "--workload", "nosuchnet"), "nosuchnet")


def test_unknown_layer_key(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "input": [3, 8, 8], "layers": [
        {"name": "c", "kind": "conv", "out_channels": 8, "kernal": 3}]}))
    _assert_clean_error(run_cli("run", "--workload", str(path)), str(path), "kernal",
                        "kernel")


@pytest.mark.skipif(shutil.which("accelsim") is None, reason="package not installed")
def test_installed_command_finds_shipped_data(tmp_path):
    """After `pip install .` (as CI does) the console script resolves shipped names from
    any directory, without the source tree."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(["accelsim", "list"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "diannao" in proc.stdout and "resnet50" in proc.stdout
