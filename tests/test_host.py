"""Layers no core has a unit for (act, eltwise, softmax) run on the arch's host unit: real
values, counted work and transfers, on every shipped config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accelsim import simulate
from accelsim.config import load_arch, with_overrides
from accelsim.cost.energy import op_pj
from accelsim.errors import AccelsimError, ConfigError, WorkloadError
from accelsim.files import shipped
from accelsim.workload.elementwise import elementwise
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.forward import forward
from accelsim.workload.layer import ACT_FUNCTIONS, Layer
from accelsim.workload.tensors import make_tensors
from tests import reference

# A MobileNetV3-style block: hard-swish, squeeze-and-excite (pool -> 1x1 -> ReLU -> 1x1 ->
# hard-sigmoid -> scale), then every other activation, a broadcast-free product and softmax.
BLOCK = network_from_dict({
    "name": "se_block", "input": [6, 9, 8],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 12, "kernel": 3, "pad": 1},
        {"name": "hs", "kind": "act", "op": "hard_swish"},
        {"name": "gap", "kind": "pool", "op": "avg", "kernel": [9, 8]},
        {"name": "se1", "kind": "conv", "out_channels": 4, "kernel": 1, "relu": True},
        {"name": "se2", "kind": "conv", "out_channels": 12, "kernel": 1},
        {"name": "gate", "kind": "act", "op": "hard_sigmoid", "alpha": 1 / 6},
        {"name": "scale", "kind": "eltwise", "op": "mul", "inputs": ["hs", "gate"]},
        {"name": "sig", "kind": "act", "op": "sigmoid"},
        {"name": "swish", "kind": "eltwise", "op": "mul", "inputs": ["scale", "sig"]},
        {"name": "leaky", "kind": "act", "op": "leaky_relu", "alpha": 0.1},
        {"name": "th", "kind": "act", "op": "tanh"},
        {"name": "diff", "kind": "eltwise", "op": "sub", "inputs": ["leaky", "th"],
         "relu": True},
        {"name": "norm", "kind": "layernorm", "alpha": 1e-5},
        {"name": "mp", "kind": "pool", "op": "max", "kernel": 3, "stride": 3},
        {"name": "fc", "kind": "fc", "out_channels": 7},
        {"name": "prob", "kind": "softmax"},
    ]}, "se_block")
HOST_LAYERS = {"hs", "gate", "scale", "sig", "swish", "leaky", "th", "diff", "norm", "prob"}
CONFIGS = sorted(shipped("arch_configs"))


@pytest.fixture(scope="module")
def tensors():
    return make_tensors(BLOCK, 2)


@pytest.mark.parametrize("config", CONFIGS)
def test_host_layers_run_on_every_config(config, tensors):
    arch = load_arch(config)
    result = simulate(arch, BLOCK, tensors=tensors, keep_outputs=True)
    reference.check_outputs(BLOCK, result, tensors, config)

    rows = result.layers.set_index("layer")
    on_unit = {name for name in HOST_LAYERS
               if BLOCK.layer(name).function in arch.activation_unit.functions}
    assert set(rows.index[rows["ran_on"] == "host"]) == HOST_LAYERS - on_unit
    assert set(rows.index[rows["ran_on"] == f"{arch.core}.activation"]) == on_unit
    assert set(rows.loc[~rows.index.isin(HOST_LAYERS), "ran_on"]) == {arch.core}
    assert (rows["cycles"] >= rows["ideal_cycles"]).all()
    assert (rows["utilization"] <= 1).all()


def test_host_work_is_ops_over_lanes_with_operands_through_dram(tensors):
    arch = with_overrides(load_arch("diannao"), {"host.ops_per_cycle": 5,
                                                 "activation_unit.functions": []})
    rows = simulate(arch, BLOCK, tensors=tensors).layers.set_index("layer")
    for name in sorted(HOST_LAYERS):
        layer, row = BLOCK.layer(name), rows.loc[name]
        operands = sum(math.prod(_shape(BLOCK, producer)) for producer in layer.inputs)
        assert row["host_op"] == layer.ops
        assert row["compute_cycles"] == math.ceil(layer.ops / 5), name
        assert row["ideal_cycles"] == math.ceil(layer.ops / 5), name
        assert row["dram_read_bytes"] == 2 * operands, name
        assert row["dram_write_bytes"] == 2 * math.prod(layer.out_shape), name
        assert row["energy_host_pj"] == pytest.approx(layer.ops * op_pj("fixed16"))
    assert rows.loc["hs", "host_op"] == math.prod(BLOCK.layer("hs").out_shape) * ACT_FUNCTIONS[
        "hard_swish"]


def _shape(network, name):
    return network.input_shape if name == "input" else network.layer(name).out_shape


def test_host_lanes_and_price_come_from_the_yaml(tensors):
    base = load_arch("diannao")
    slow = with_overrides(base, {"host.ops_per_cycle": 1, "energy_pj.host.op": 2.0})
    fast, slowed = (simulate(a, BLOCK, tensors=tensors).layers.set_index("layer")
                    for a in (base, slow))
    assert slowed.loc["hs", "compute_cycles"] == BLOCK.layer("hs").ops
    assert slowed.loc["hs", "compute_cycles"] > fast.loc["hs", "compute_cycles"]
    assert slowed.loc["hs", "energy_host_pj"] == 2.0 * BLOCK.layer("hs").ops
    with pytest.raises(ConfigError, match="host.ops_per_cycle"):
        with_overrides(base, {"host.ops_per_cycle": 0})


def test_a_batch_runs_its_host_layers_on_every_image(tensors):
    one = simulate("eyeriss", BLOCK, tensors=tensors).layers.set_index("layer")
    two = simulate("eyeriss", BLOCK, tensors=tensors, batch=2).layers.set_index("layer")
    assert two.loc["hs", "host_op"] == 2 * one.loc["hs", "host_op"]
    assert two.loc["scale", "dram_read_bytes"] == 2 * one.loc["scale", "dram_read_bytes"]


@pytest.mark.parametrize("function", sorted(ACT_FUNCTIONS))
def test_each_activation_matches_the_operator_formula(function):
    x = np.linspace(-40, 40, 241).reshape(1, 1, -1)   # large |x|: no overflow in sigmoid
    params = {"leaky_relu": (0.2, None), "elu": (0.7, None), "clip": (-1.5, 2.5),
              "hard_sigmoid": (0.25, 0.4), "swish": (1.3, None)}.get(function, (None, None))
    layer = Layer("a", "act", 1, 1, 241, 1, function=function, alpha=params[0],
                  beta=params[1])
    np.testing.assert_allclose(elementwise(layer, [x]),
                               reference.activation(x, function, *params), rtol=1e-12,
                               atol=1e-300)


def test_the_float_forward_pass_runs_the_new_kinds(tensors):
    outputs = dict((layer.name, out) for layer, out in forward(BLOCK, tensors))
    probs = outputs["prob"]
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, rtol=1e-6)
    gate = outputs["gate"]
    assert gate.shape == (12, 1, 1) and (gate >= 0).all() and (gate <= 1).all()
    np.testing.assert_allclose(outputs["scale"], outputs["hs"] * gate, rtol=1e-6)


def test_a_division_by_zero_stops_the_run():
    net = network_from_dict({"name": "div", "input": [2, 3, 3], "layers": [
        {"name": "c", "kind": "conv", "out_channels": 2, "kernel": 1, "relu": True},
        {"name": "d", "kind": "eltwise", "op": "div", "inputs": ["input", "c"]}]}, "div")
    tensors = make_tensors(net, 0)
    tensors.weights["c"][...] = 0.0
    tensors.biases["c"][...] = 0.0
    with pytest.raises(AccelsimError, match="layer 'd'.*non-finite"):
        simulate("diannao", net, tensors=tensors)


@pytest.mark.parametrize(("layer", "message"), [
    ({"name": "a", "kind": "act"}, "function must be one of sigmoid"),
    ({"name": "a", "kind": "act", "op": "sigmod"}, "got 'sigmod'"),
    ({"name": "a", "kind": "act", "op": "tanh", "kernel": 3}, "takes no kernel"),
    ({"name": "a", "kind": "softmax", "alpha": 1}, "takes no alpha"),
    ({"name": "a", "kind": "act", "op": "elu", "alpha": "x"}, "alpha: expected a number"),
    ({"name": "a", "kind": "eltwise", "op": "mul"}, "needs exactly 2 inputs"),
    ({"name": "a", "kind": "eltwise", "op": "mul", "inputs": ["g", "c"]},
     r"expects input shape \(4, 1, 1\), but 'c' produces \(4, 5, 5\)"),
    ({"name": "a", "kind": "conv", "out_channels": 2, "op": "tanh"}, "conv layer takes no op"),
    ({"name": "a", "kind": "conv", "out_channels": 2, "alpha": 1}, "conv layer takes no alpha"),
])
def test_bad_elementwise_layers_are_one_line_errors(layer, message):
    layers = [{"name": "c", "kind": "conv", "out_channels": 4, "kernel": 1},
              {"name": "g", "kind": "pool", "op": "avg", "kernel": 5}, layer]
    with pytest.raises(WorkloadError, match=message):
        network_from_dict({"name": "bad", "input": [3, 5, 5], "layers": layers}, "bad.yaml")
