"""LSTM and GRU layers in a network YAML: unrolled over their steps into layers every core
runs, equal to a numpy reference of the cell's equations on DaDianNao (fp32) and EIE
(fixed16), with the MACs of the equations and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import accelsim
from accelsim.config import with_overrides
from accelsim.errors import WorkloadError
from accelsim.files import shipped
from accelsim.workload import load_network, recurrent
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import NetworkTensors, make_tensors

T, SIZE, H = 4, 6, 8


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def reference(cell: str, x: np.ndarray, w: np.ndarray, r: np.ndarray, b: np.ndarray,
              h0=None, c0=None, linear_before_reset: bool = False, reverse: bool = False):
    """One direction of ONNX's LSTM / GRU in float64, written from the operator's equations
    (gate order i, o, f, c and z, r, h): ``Y`` ``[T, H]``, the last ``h`` and ``c``."""
    hidden = r.shape[-1]
    gates = w.shape[0] // hidden
    h = np.zeros(hidden) if h0 is None else h0
    c = np.zeros(hidden) if c0 is None else c0
    wb, rb = b[:gates * hidden], b[gates * hidden:]
    ys = np.zeros((x.shape[0], hidden))
    part = [slice(k * hidden, (k + 1) * hidden) for k in range(gates)]
    for t in (reversed(range(x.shape[0])) if reverse else range(x.shape[0])):
        if cell == "lstm":
            z = w @ x[t] + r @ h + wb + rb
            i, o, f = (_sigmoid(z[p]) for p in part[:3])
            c = f * c + i * np.tanh(z[part[3]])
            h = o * np.tanh(c)
        else:
            zx = w @ x[t] + wb
            update, reset = (_sigmoid(zx[p] + r[p] @ h + rb[p]) for p in part[:2])
            if linear_before_reset:
                n = np.tanh(zx[part[2]] + reset * (r[part[2]] @ h + rb[part[2]]))
            else:
                n = np.tanh(zx[part[2]] + r[part[2]] @ (reset * h) + rb[part[2]])
            h = (1 - update) * n + update * h
        ys[t] = h
    return ys, h, c


def yaml_network(cell: str, steps: int = T, **keys):
    return network_from_dict({"name": "rnn_test", "input": [steps * SIZE, 1, 1], "layers": [
        {"name": "rnn", "kind": cell, "hidden": H, "steps": steps, **keys}]}, "rnn.yaml")


def cell_tensors(rec: recurrent.Recurrent, seed: int):
    """ONNX-shaped W, R, B and an input sequence, and the unrolled network's tensors."""
    rng = np.random.default_rng(seed)
    gates, dirs = recurrent.GATES[rec.cell], rec.directions
    cell = recurrent.CellWeights(rng.normal(0, 0.4, (dirs, gates * H, SIZE)),
                                 rng.normal(0, 0.4, (dirs, gates * H, H)),
                                 rng.normal(0, 0.3, (dirs, 2 * gates * H)))
    x = rng.normal(0, 1, (rec.steps, SIZE)).astype(np.float32)
    weights, biases = recurrent.unroll(rec).weights(cell)
    return cell, x, NetworkTensors(input=x.reshape(-1, 1, 1), weights=weights, biases=biases,
                                   provenance={"weights": "test", "biases": "test",
                                               "input": "test"})


def run(arch: str, network, tensors):
    """The unrolled network on ``arch`` (DaDianNao in fp32), the activation unit's table made
    exact (its interpolation is tests/test_activation_unit.py's business); its output Y."""
    config = with_overrides(accelsim.load_arch(arch), {"activation_unit.segments": 0})
    if arch == "dadiannao":
        config = with_overrides(config, {"precision": "fp32"})
    result = accelsim.simulate(config, network, tensors=tensors, keep_outputs=True)
    out = result.outputs["rnn"]
    return result, np.asarray(out.to_float() if hasattr(out, "frac") else out, np.float64)


CASES = [("lstm", {}), ("gru", {}), ("gru", {"linear_before_reset": True}),
         ("lstm", {"direction": "bidirectional"}), ("gru", {"direction": "reverse"})]


@pytest.mark.parametrize("arch, tolerance", [("dadiannao", 1e-5), ("eie", 2e-3)])
@pytest.mark.parametrize("cell, keys", CASES)
def test_the_unrolled_network_computes_the_cell(arch, tolerance, cell, keys):
    network = yaml_network(cell, **keys)
    rec = recurrent.Recurrent("rnn", cell, "input", SIZE, H, T,
                              keys.get("direction", "forward"),
                              keys.get("linear_before_reset", False))
    weights, x, tensors = cell_tensors(rec, seed=len(keys))
    expected = []
    for d in range(rec.directions):
        ys, _, _ = reference(cell, x.astype(np.float64), weights.w[d], weights.r[d],
                             weights.b[d], linear_before_reset=rec.linear_before_reset,
                             reverse=rec.direction == "reverse" or d == 1)
        expected.append(ys)
    expected = np.stack(expected, axis=1)   # [T, D, H]: Y's order, time-major
    result, ours = run(arch, network, tensors)
    np.testing.assert_allclose(ours.ravel(), expected.ravel(), atol=tolerance)
    rows = result.layers.set_index("layer")
    assert (rows["cycles"] >= rows["ideal_cycles"]).all()
    assert int(rows["macs"].sum()) == network.macs


def test_macs_are_the_equations_and_the_names_show_the_step():
    """Per step one fc on [x; h] (step 1: x alone, h_0 being zero): 4H(I + H) MACs; a GRU's
    3H(I + H) either way of resetting, plus, resetting after the product, step 1's
    r * Rb_n (a product with a constant: a depthwise conv of H MACs)."""
    lstm = yaml_network("lstm")
    assert lstm.macs == 4 * H * (T * SIZE + (T - 1) * H)
    for reset in (False, True):
        gru = yaml_network("gru", linear_before_reset=reset)
        assert gru.macs == 3 * H * (T * SIZE + (T - 1) * H) + H * reset
    names = [layer.name for layer in lstm.layers]
    assert names[-1] == "rnn" and lstm.layers[-1].kind == "concat"
    assert {"rnn.t3.gates", "rnn.t3.xh", "rnn.t3.iof.sigmoid", "rnn.t3.c", "rnn.t3.h"} <= set(
        names)
    assert lstm.layer("rnn.t3.gates").in_channels == SIZE + H
    assert lstm.layer("rnn.t1.gates").in_channels == SIZE
    assert {layer.kind for layer in lstm.layers} == {"slice", "fc", "act", "eltwise", "add",
                                                     "concat"}
    single = yaml_network("gru", steps=1)
    assert single.layers[-1].name == "rnn" and single.layers[-1].out_channels == H


@pytest.mark.parametrize("layer, words", [
    ({"hidden": 0, "steps": 2}, "layers[1] (rnn).hidden: expected an integer >= 1, got 0"),
    ({"hidden": 8}, "layers[1] (rnn).steps: expected an integer >= 1, got None"),
    ({"hidden": 8, "steps": 5}, "(rnn).steps: the input's 12 channels do not split into 5"),
    ({"hidden": 8, "steps": 2, "direction": "sideways"}, "(rnn).direction: expected one of"),
    ({"hidden": 8, "steps": 2, "out_channels": 3}, "(rnn).out_channels: an lstm layer takes no"),
    ({"hidden": 8, "steps": 2, "linear_before_reset": True}, "(rnn).linear_before_reset: an "
                                                             "lstm layer takes no"),
    ({"hidden": 8, "steps": 2, "inputs": ["input", "fc"]}, "(rnn).inputs: an lstm layer reads "
                                                           "one earlier layer"),
    ({"hidden": 8, "steps": 2, "inputs": ["nope"]}, "(rnn).inputs: 'nope' is not an earlier"),
    ({"hidden": 8, "steps": 2, "inputs": ["input"]}, "(rnn).inputs: an lstm layer reads a "
                                                     "sequence laid out in channels"),
])
def test_bad_keys_are_one_line_errors_naming_the_key(layer, words):
    spec = {"name": "x", "input": [3, 2, 2], "layers": [
        {"name": "fc", "kind": "fc", "out_channels": 12},
        {"name": "rnn", "kind": "lstm", **layer}]}
    with pytest.raises(WorkloadError) as err:
        network_from_dict(spec, "rnn.yaml")
    assert words in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("rnn.yaml: layers[1] (rnn)")


def test_too_many_steps_are_refused_before_unrolling():
    with pytest.raises(WorkloadError, match=r"rnn\.yaml: layers\[0\] \(rnn\)\.steps: 5000 time "
                                            r"steps; at most 4096 are unrolled"):
        network_from_dict({"name": "x", "input": [5000, 1, 1], "layers": [
            {"name": "rnn", "kind": "gru", "hidden": 2, "steps": 5000}]}, "rnn.yaml")


def test_the_gru_reset_key_is_checked():
    with pytest.raises(WorkloadError, match=r"\(rnn\)\.linear_before_reset: expected true or "):
        yaml_network("gru", linear_before_reset="yes")


STACKED = network_from_dict({"name": "stacked", "input": [16, 1, 1], "layers": [
    {"name": "embed", "kind": "fc", "out_channels": 2 * SIZE},
    {"name": "lstm", "kind": "lstm", "hidden": H, "steps": 2, "direction": "bidirectional"},
    {"name": "gru", "kind": "gru", "hidden": H, "steps": 2, "linear_before_reset": True},
    {"name": "head", "kind": "fc", "out_channels": 5}]}, "stacked.yaml")


def _one_config_per_core() -> list[str]:
    cores: dict[str, str] = {}
    for name in sorted(shipped("arch_configs")):
        cores.setdefault(accelsim.load_arch(name).core, name)
    return sorted(cores.values())


@pytest.mark.parametrize("arch", _one_config_per_core())
def test_every_shipped_core_runs_a_stacked_lstm_and_gru(arch):
    """Every core runs fc layers, so every one runs the unrolled cells (the element-wise
    kinds on its host or activation unit); the simulator checks the invariants (cycles >=
    ideal, effectual <= total MACs, utilization <= 1) of every row."""
    result = accelsim.simulate(accelsim.load_arch(arch), STACKED,
                               tensors=make_tensors(STACKED, 0))
    rows = result.layers.set_index("layer")
    assert int(rows["macs"].sum()) == STACKED.macs > 0
    assert rows.loc["lstm.bwd.t1.gates", "cycles"] > 0 and rows.loc["gru.t2.n_h", "cycles"] > 0


NEURALTALK = Path(__file__).resolve().parents[1] / "workloads" / "neuraltalk"


def test_the_neuraltalk_lstm_network_holds_eie_s_benchmark_layer():
    """Every step after the first is EIE's NT-LSTM layer (1200 -> 2400,
    workloads/neuraltalk/neuraltalk_lstm.yaml); We and Wd around it are NT-We and NT-Wd."""
    network = load_network(NEURALTALK / "neuraltalk.yaml")
    benchmark = load_network(NEURALTALK / "neuraltalk_lstm.yaml").layer("LSTM")
    fc = load_network(NEURALTALK / "neuraltalk_fc.yaml")
    steps = [layer for layer in network.layers if layer.name.endswith(".gates")]
    assert len(steps) >= 3
    for layer in steps[1:]:
        assert (layer.in_channels, layer.out_channels) == (benchmark.in_channels,
                                                           benchmark.out_channels)
    assert network.layer("We").weight_count == fc.layer("We").weight_count
    assert network.layer("Wd").macs == len(steps) * fc.layer("Wd").macs
