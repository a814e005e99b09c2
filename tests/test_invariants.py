"""Every result checks its own invariants (accelsim/sim/invariants.py): every shipped config
keeps them on small zoo-like networks, each one fires on a corrupted result with a one-line
message naming the arch, core, layer and both numbers, the CLI exits 3 for it, and every
core is deterministic across runs and numba thread counts."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pandas as pd
import pytest
import yaml

import accelsim.sim.simulate as simulate_module
from accelsim import simulate
from accelsim.arch import diannao as diannao_module
from accelsim.cli import main
from accelsim.config import load_arch, with_overrides
from accelsim.errors import AccelsimError, InvariantError
from accelsim.files import shipped
from accelsim.fixedpoint import raw
from accelsim.sim import invariants
from accelsim.sim.results import Result
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors

MOBILE = {   # MobileNet / ResNet-like: strided conv, depthwise, pointwise, residual, fc
    "name": "mobile", "input": [3, 13, 12],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 16, "kernel": 3, "stride": 2, "pad": 1,
         "relu": True},
        {"name": "dw", "kind": "conv", "groups": "depthwise", "kernel": 3, "pad": 1,
         "relu": True},
        {"name": "pw", "kind": "conv", "out_channels": 16, "kernel": 1},
        {"name": "res", "kind": "add", "inputs": ["pw", "c1"], "relu": True},
        {"name": "gap", "kind": "pool", "op": "avg", "kernel": [7, 6]},
        {"name": "fc", "kind": "fc", "out_channels": 10},
        {"name": "prob", "kind": "softmax"},
    ]}
INCEPTION = {   # GoogLeNet-like: branches, a concat (layout), host act / eltwise layers
    "name": "inception", "input": [6, 11, 10],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 16, "kernel": 3, "pad": 1, "relu": True},
        {"name": "b1", "kind": "conv", "out_channels": 8, "kernel": 1, "relu": True},
        {"name": "b2", "kind": "conv", "out_channels": 8, "kernel": 3, "pad": 1, "relu": True,
         "inputs": ["c1"]},
        {"name": "cat", "kind": "concat", "inputs": ["b1", "b2"]},
        {"name": "gate", "kind": "act", "op": "sigmoid"},
        {"name": "scale", "kind": "eltwise", "op": "mul", "inputs": ["cat", "gate"]},
        {"name": "sum", "kind": "add", "inputs": ["scale", "c1"]},
        {"name": "mp", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
        {"name": "fc", "kind": "fc", "out_channels": 7, "relu": True},
    ]}
NETWORKS = {spec["name"]: network_from_dict(spec, spec["name"]) for spec in (MOBILE, INCEPTION)}
TENSORS = {name: make_tensors(network, 3) for name, network in NETWORKS.items()}
CONFIGS = sorted(shipped("arch_configs"))
WHERE = "diannao (core diannao)"


def _run(arch, name: str, **kwargs) -> Result:
    return simulate(arch, NETWORKS[name], tensors=TENSORS[name], **kwargs)


def _text(value) -> str:
    """A number as the message prints it: integral values as ints, other floats in full."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


@pytest.fixture(scope="module")
def clean() -> Result:
    """diannao on the inception-like network: core, host and layout rows, outputs kept."""
    return _run("diannao", "inception", keep_outputs=True)


# ---- every shipped config keeps them -------------------------------------------------------
@pytest.mark.parametrize("network", sorted(NETWORKS))
@pytest.mark.parametrize("config", CONFIGS)
def test_shipped_configs_keep_the_invariants(config, network):
    arch = load_arch(config)
    result = _run(arch, network)   # simulate checks every layer and the totals, or raises
    invariants.check_result(result)
    units = set(result.layers["ran_on"]) - {f"{arch.core}.activation"}
    assert units == ({arch.core, "host", "layout"} if network == "inception"
                     else {arch.core, "host"})


def test_invariant_error_is_not_bad_input():
    assert not issubclass(InvariantError, AccelsimError)
    assert str(InvariantError("a\nb  c")) == "a b c"


# ---- each invariant fires on a corrupted row -----------------------------------------------
def _corrupt(result: Result, layer: str, column: str, value) -> Result:
    layers = result.layers.copy()
    layers[column] = layers[column].astype(np.float64 if isinstance(value, float) else
                                           layers[column].dtype)
    layers.loc[layers["layer"] == layer, column] = value
    return Result(layers, result.counts, result.energy_table, result.meta)


def _row(result: Result, layer: str) -> pd.Series:
    return result.layers.set_index("layer").loc[layer]


# (layer, column, the corrupted value from the row, the message's tail from row and value)
CASES = {
    "cycles below ideal": (
        "c1", "cycles", lambda r: int(r["ideal_cycles"]) - 1,
        lambda r, v: f"ideal_cycles <= cycles broken: ideal_cycles {r['ideal_cycles']} > "
                     f"cycles {v}"),
    "effectual MACs above MACs": (
        "b2", "nfu_mac", lambda r: int(r["macs"]) + 1,
        lambda r, v: f"effectual MACs (nfu_mac) {v} > macs {r['macs']}"),
    "utilization above 1": (
        "fc", "utilization", lambda r: 1.0000000000000002,
        lambda r, v: f"utilization <= 1 broken: utilization {_text(v)} > 1"),
    "negative utilization": (
        "mp", "utilization", lambda r: -0.25,
        lambda r, v: f"0 <= utilization < inf broken: utilization {_text(v)}"),
    "stalls above cycles": (
        "sum", "stall_cycles", lambda r: int(r["cycles"]) + 1,
        lambda r, v: f"stall_cycles <= cycles broken: stall_cycles {v} > cycles {r['cycles']}"),
    "negative stalls": (
        "sum", "stall_cycles", lambda r: -1,
        lambda r, v: f"0 <= stall_cycles < inf broken: stall_cycles {v}"),
    "compute above cycles": (
        "b1", "compute_cycles", lambda r: int(r["cycles"]) + 5,
        lambda r, v: f"compute_cycles <= cycles broken: compute_cycles {v} > "
                     f"cycles {r['cycles']}"),
    "negative count": (
        "b1", "sb_read", lambda r: -3,
        lambda r, v: f"0 <= sb_read < inf broken: sb_read {v}"),
    "NaN energy": (
        "c1", "energy_nfu_pj", lambda r: float("nan"),
        lambda r, v: "0 <= energy_nfu_pj < inf broken: energy_nfu_pj nan"),
    "infinite time": (
        "fc", "time_us", lambda r: float("inf"),
        lambda r, v: "0 <= time_us < inf broken: time_us inf"),
    "energy parts do not sum": (
        "b2", "energy_pj", lambda r: 2.5 * r["energy_pj"],
        lambda r, v: f"!= energy_pj {_text(v)}"),
    "host layer below ideal": (
        "gate", "cycles", lambda r: int(r["ideal_cycles"]) - 1,
        lambda r, v: f"ideal_cycles <= cycles broken: ideal_cycles {r['ideal_cycles']} > "
                     f"cycles {v}"),
    "layout layer with cycles": (
        "cat", "cycles", lambda r: 7,
        lambda r, v: f"cycles <= 0 broken: cycles {v} > 0"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_row_invariant_fires(clean, case):
    layer, column, value_of, tail_of = CASES[case]
    row = _row(clean, layer)
    value = value_of(row)
    with pytest.raises(InvariantError) as caught:
        invariants.check_result(_corrupt(clean, layer, column, value))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{WHERE}, layer {layer} (ran on {row['ran_on']}): invariant ")
    assert tail_of(row, value) in message


@pytest.mark.parametrize("column, value, tail", [
    ("stall_cycles", lambda s: s["cycles"] + 1, "stall_cycles <= cycles broken"),
    ("utilization_vs_ideal", lambda s: 1.5, "utilization_vs_ideal <= 1 broken"),
    ("energy_uj", lambda s: 3 * s["energy_uj"], "sum of energy parts == energy_uj broken"),
    ("time_ms", lambda s: float("nan"), "0 <= time_ms < inf broken: time_ms nan"),
])
def test_each_network_invariant_fires(clean, column, value, tail):
    summary = clean.summary.copy()
    invariants.check_summary(summary, WHERE)   # the clean totals pass
    summary[column] = value(summary)
    with pytest.raises(InvariantError) as err:
        invariants.check_summary(summary, WHERE)
    message = str(err.value)
    assert message.startswith(f"{WHERE}, network inception (totals): invariant ")
    assert tail in message and _text(summary[column]) in message


# ---- the checks run inside the simulator ---------------------------------------------------
def test_simulate_checks_a_core_that_lies_about_ideal_cycles(monkeypatch):
    monkeypatch.setattr(diannao_module.Core, "ideal_cycles",
                        lambda self, layer, counts=None, batch=1: 10**12)
    with pytest.raises(InvariantError, match=r"^diannao \(core diannao\), layer c1 \(ran on "
                                             r"diannao\): invariant ideal_cycles <= cycles "
                                             r"broken: ideal_cycles 1000000000000 > cycles \d+"):
        _run("diannao", "inception")


def test_simulate_checks_outputs_are_finite(monkeypatch):
    arch = with_overrides(load_arch("diannao"), {"precision": "fp32"})
    run_layer = diannao_module.Core.run_layer

    def nan_in_b1(self, layer, inputs, weights, bias):
        run = run_layer(self, layer, inputs, weights, bias)
        if layer.name == "b1":
            run.output = run.output.copy()
            run.output[1, 2, 3] = np.nan
        return run

    monkeypatch.setattr(diannao_module.Core, "run_layer", nan_in_b1)
    size = NETWORKS["inception"].layers[1].out_shape
    with pytest.raises(InvariantError) as err:
        _run(arch, "inception")
    assert str(err.value).startswith("diannao (core diannao), layer b1 (ran on diannao): "
                                     "invariant output finite broken: ")
    assert f"1 of {int(np.prod(size))} output values are not finite (first nan at (1, 2, 3))" \
        in str(err.value)


def _no_dram_writes(monkeypatch):
    real = simulate_module.run_engine
    monkeypatch.setattr(simulate_module, "run_engine",
                        lambda *args, **kwargs: dataclasses.replace(real(*args, **kwargs),
                                                                    dram_write_bytes=0))


def test_simulate_checks_streamed_outputs_reach_dram(clean, monkeypatch):
    _no_dram_writes(monkeypatch)
    words = int(np.count_nonzero(raw(clean.outputs["c1"])))
    assert words
    with pytest.raises(InvariantError) as err:
        _run("diannao", "inception")
    assert str(err.value).startswith(
        f"{WHERE}, layer c1 (ran on diannao): invariant non-zero output bytes ({words} words "
        f"x 2 B) <= dram_write_bytes broken: non-zero output bytes ({words} words x 2 B) "
        f"{2 * words} > dram_write_bytes 0")


def test_resident_neurons_are_exempt_but_the_host_unit_is_not(monkeypatch):
    """dadiannao keeps neurons in eDRAM: its core rows are not checked, the concat moves
    nothing, its activation unit (gate) keeps its values on chip too, and the first host
    layer (scale) is the first to break the DRAM invariant."""
    _no_dram_writes(monkeypatch)
    with pytest.raises(InvariantError, match=r"^dadiannao \(core diannao\), layer scale \(ran "
                                             r"on host\): invariant non-zero output bytes"):
        _run("dadiannao", "inception")


# ---- the CLI: exit 3, one line, nothing printed or written ---------------------------------
@pytest.mark.parametrize("command", ["run", "compare"])
def test_cli_exits_3_with_one_line(command, monkeypatch, tmp_path, capsys):
    workload = tmp_path / "inception.yaml"
    workload.write_text(yaml.safe_dump(INCEPTION))
    output = tmp_path / "out.csv"
    argv = (["run", "--arch", "diannao"] if command == "run"
            else ["compare", "--archs", "diannao,dadiannao"])
    monkeypatch.setattr(diannao_module.Core, "ideal_cycles",
                        lambda self, layer, counts=None, batch=1: 10**12)
    code = main([*argv, "--workload", str(workload), "--quiet", "--output", str(output)])
    out, err = capsys.readouterr()
    assert code == 3
    assert out == "" and not list(tmp_path.glob("out*"))
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("accelsim: invariant broken: diannao (core diannao), layer c1 ")
    assert "ideal_cycles 1000000000000 > cycles" in lines[0]


# ---- determinism ---------------------------------------------------------------------------
DETERMINISM = [*CONFIGS, "diannao/fp32", "cnvlutin/fp32", "eyeriss/fp32"]


def _arch(spec: str):
    name, _, precision = spec.partition("/")
    arch = load_arch(name)
    return with_overrides(arch, {"precision": precision}) if precision else arch


def _assert_identical(one: Result, other: Result, label: str) -> None:
    pd.testing.assert_frame_equal(one.layers, other.layers, check_exact=True, obj=label)
    assert one.outputs.keys() == other.outputs.keys()
    for name, out in one.outputs.items():
        again = other.outputs[name]
        assert getattr(out, "frac", None) == getattr(again, "frac", None), (label, name)
        a, b = np.asarray(raw(out)), np.asarray(raw(again))
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), \
            (label, name)


@pytest.mark.parametrize("spec", DETERMINISM)
def test_identical_across_runs_and_thread_counts(spec):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has fewer than 2 threads here")
    arch, before = _arch(spec), numba.get_num_threads()
    try:
        runs = {}
        for label, threads in (("2 threads", 2), ("2 threads again", 2), ("1 thread", 1)):
            numba.set_num_threads(threads)
            runs[label] = _run(arch, "inception", keep_outputs=True)
    finally:
        numba.set_num_threads(before)
    assert numba.get_num_threads() == before
    first = runs.pop("2 threads")
    for label, result in runs.items():
        _assert_identical(first, result, f"{spec}: {label}")
