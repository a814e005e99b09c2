"""The ``concat`` layer kind: validation, YAML errors, and simulation against the reference.

Expected outputs come from ``tests/reference.py`` (written independently of
``accelsim.sim.layout``) or, for the rounding rule, from values worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate
from accelsim.config import load_arch, with_overrides
from accelsim.errors import WorkloadError
from accelsim.files import shipped
from accelsim.fixedpoint import Fixed
from accelsim.sim import layout
from accelsim.workload import Layer, Network, load_network
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from tests import reference

# An inception-like block: branches of different depth and channel counts (not multiples of
# 16), a concat of four (one of them a pool straight off the input, so its frac differs
# from the convs'), a concat that reads the network input itself, then a consumer.
INCEPTION = {
    "name": "inception", "input": [6, 9, 8],
    "layers": [
        {"name": "b1", "kind": "conv", "out_channels": 5, "kernel": 1, "relu": True},
        {"name": "b3r", "kind": "conv", "out_channels": 4, "kernel": 1, "relu": True,
         "inputs": ["input"]},
        {"name": "b3", "kind": "conv", "out_channels": 7, "kernel": 3, "pad": 1, "relu": True},
        {"name": "b5", "kind": "conv", "out_channels": 3, "kernel": 5, "pad": 2,
         "inputs": ["input"]},
        {"name": "pool", "kind": "pool", "op": "max", "kernel": 3, "pad": 1,
         "inputs": ["input"]},
        {"name": "cat", "kind": "concat", "inputs": ["b1", "b3", "b5", "pool"]},
        {"name": "mix", "kind": "conv", "out_channels": 18, "kernel": 3, "stride": 2,
         "relu": True},
        {"name": "cat_in", "kind": "concat", "inputs": ["input", "b1"]},
        {"name": "head", "kind": "pool", "op": "avg", "kernel": [9, 8]},
        {"name": "fc", "kind": "fc", "out_channels": 10, "inputs": ["mix"]},
    ],
}


@pytest.fixture(scope="module")
def inception():
    return network_from_dict(INCEPTION, "inception")


def diannao(precision: str):
    return with_overrides(load_arch("diannao"), {"precision": precision})


def concat_layer(**changes) -> Layer:
    fields = dict(name="cat", kind="concat", in_channels=12, in_h=4, in_w=5, out_channels=12,
                  inputs=("a", "b"))
    return Layer(**{**fields, **changes})


# ---- the Layer ------------------------------------------------------------------------------

def test_concat_layer_shape_and_zero_work():
    layer = concat_layer()
    assert layer.out_shape == (12, 4, 5)
    assert (layer.macs, layer.ops, layer.weight_count, layer.has_weights) == (0, 0, 0, False)


@pytest.mark.parametrize("changes, message", [
    ({"inputs": ("a",)}, "at least 2 inputs"),
    ({"out_channels": 11}, "keeps its channels"),
    ({"relu": True}, "fuses no ReLU"),
    ({"kernel_h": 3}, "no kernel"),
    ({"stride": (2, 2)}, "no kernel, stride"),
    ({"pad": (1, 1, 1, 1)}, "pad"),
    ({"in_channels": 1, "out_channels": 1}, "at least that many channels"),
])
def test_concat_layer_rejects(changes, message):
    with pytest.raises(WorkloadError, match=message) as caught:
        concat_layer(**changes)
    assert "'cat'" in str(caught.value)


def test_network_checks_concat_channels_and_size():
    a = Layer("a", "conv", 3, 4, 5, 5)
    b = Layer("b", "conv", 3, 4, 5, 7, inputs=("input",))
    good = Network("n", (3, 4, 5), (a, b, concat_layer()))
    assert good.layer("cat").in_channels == 5 + 7
    with pytest.raises(WorkloadError, match=r"'cat'.*5 \+ 7 = 12"):
        Network("n", (3, 4, 5), (a, b, concat_layer(in_channels=13, out_channels=13)))
    small = Layer("b", "conv", 3, 4, 5, 7, stride=(2, 2), inputs=("input",))
    with pytest.raises(WorkloadError, match=r"'cat'.*'a' is 4x5 but 'b' is 2x3"):
        Network("n", (3, 4, 5), (a, small, concat_layer()))


# ---- the YAML format ------------------------------------------------------------------------

def _yaml_network(write_yaml, concat_spec: str):
    path = write_yaml("net.yaml", (
        "version: 1\nname: net\ninput: [3, 8, 8]\nlayers:\n"
        "  - {name: a, kind: conv, out_channels: 4, kernel: 3, pad: 1}\n"
        "  - {name: b, kind: conv, out_channels: 6, kernel: 3, stride: 2, inputs: [input]}\n"
        "  - {name: c, kind: conv, out_channels: 2, kernel: 1, inputs: [input]}\n"
        f"  - {concat_spec}\n"))
    return path, lambda: load_network(path)


def test_yaml_concat_infers_summed_channels(write_yaml):
    _, load = _yaml_network(write_yaml, "{name: cat, kind: concat, inputs: [c, a, c]}")
    layer = load().layer("cat")
    assert layer.in_shape == layer.out_shape == (2 + 4 + 2, 8, 8)
    assert layer.inputs == ("c", "a", "c")


@pytest.mark.parametrize("concat_spec, key, message", [
    ("{name: cat, kind: concat, inputs: [a, b]}", "inputs",
     "equal H x W: 'a' is 8x8 but 'b' is 3x3"),
    ("{name: cat, kind: concat, inputs: [a]}", "inputs", "at least 2 inputs"),
    ("{name: cat, kind: concat}", "inputs", "at least 2 inputs"),
    ("{name: cat, kind: concat, inputs: [a, zz]}", "inputs", "'zz' is not an earlier layer"),
    ("{name: cat, kind: concat, inputs: [a, c], kernel: 3}", "kernel", "takes no kernel"),
    ("{name: cat, kind: concat, inputs: [a, c], pad: 1}", "pad", "takes no pad"),
    ("{name: cat, kind: concat, inputs: [a, c], relu: true}", "relu", "fuses no ReLU"),
    ("{name: cat, kind: concat, inputs: [a, c], out_channels: 5}", None, "keeps its channels"),
])
def test_yaml_concat_errors_name_file_layer_and_key(write_yaml, concat_spec, key, message):
    path, load = _yaml_network(write_yaml, concat_spec)
    with pytest.raises(WorkloadError) as caught:
        load()
    text = str(caught.value)
    assert text.startswith(f"{path}: layers[3] (cat)")
    if key:
        assert f"(cat).{key}: " in text
    assert message in text and "\n" not in text


# ---- the data: layout.concat against the reference ------------------------------------------

def test_fixed16_concat_rounds_half_up_to_the_smallest_frac():
    """Worked by hand: frac 9 -> 8 halves with round half up, frac 10 -> 8 quarters."""
    halves = np.array([1, 2, 3, -1, -2, -3, 32767, -32768], dtype=np.int16)
    quarters = np.array([1, 2, 3, 6, -2, -3, -6, 32767], dtype=np.int16)
    coarse = np.array([5, -7, 0, 1, 2, 3, 4, -32768], dtype=np.int16)
    shaped = [x.reshape(1, 2, 4) for x in (halves, quarters, coarse)]
    out = layout.concat([Fixed(shaped[0], 9), Fixed(shaped[1], 10), Fixed(shaped[2], 8)])
    assert out.frac == 8 and out.q.dtype == np.int16 and out.q.shape == (3, 2, 4)
    np.testing.assert_array_equal(out.q[0].ravel(), [1, 1, 2, 0, -1, -1, 16384, -16384])
    np.testing.assert_array_equal(out.q[1].ravel(), [0, 1, 1, 2, 0, -1, -1, 8192])
    np.testing.assert_array_equal(out.q[2].ravel(), coarse)
    q_ref, frac_ref = reference.concat_fixed(list(zip(shaped, (9, 10, 8), strict=True)))
    assert frac_ref == 8
    np.testing.assert_array_equal(out.q, q_ref)


def test_fp32_concat_keeps_values_and_order():
    rng = np.random.default_rng(3)
    parts = [rng.standard_normal((c, 3, 2)).astype(np.float32) for c in (2, 5, 1)]
    out = layout.concat(parts)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, reference.concat(parts))
    np.testing.assert_array_equal(out[2:7], parts[1])


def test_concat_refuses_mixed_precisions():
    with pytest.raises(TypeError):
        layout.concat([Fixed(np.zeros((1, 2, 2), np.int16), 3), np.zeros((1, 2, 2))])


# ---- whole simulation on DianNao ------------------------------------------------------------

def test_fixed16_simulation_bit_exact_with_the_reference(inception):
    tensors = make_tensors(inception, 4)
    result = simulate(diannao("fixed16"), inception, tensors=tensors, keep_outputs=True)
    producer_fracs = {result.outputs[name].frac for name in inception.layer("cat").inputs}
    assert len(producer_fracs) > 1, "the test must exercise the frac alignment"
    for layer in inception:
        inputs = [(result.outputs[n].q, result.outputs[n].frac) for n in layer.inputs]
        q_ref, frac_ref = reference.run_layer(layer, inputs, tensors.weights.get(layer.name),
                                              tensors.biases.get(layer.name), "fixed16")
        out = result.outputs[layer.name]
        assert out.frac == frac_ref, layer.name
        np.testing.assert_array_equal(out.q, q_ref, err_msg=layer.name)
    assert np.count_nonzero(result.outputs["cat"].q) > 0


def test_fp32_simulation_matches_the_reference(inception):
    tensors = make_tensors(inception, 5)
    result = simulate(diannao("fp32"), inception, tensors=tensors, keep_outputs=True)
    for layer in inception:
        inputs = [result.outputs[name] for name in layer.inputs]
        ref = reference.run_layer(layer, inputs, tensors.weights.get(layer.name),
                                  tensors.biases.get(layer.name), "fp32")
        out = result.outputs[layer.name]
        scale = max(float(np.abs(ref).max()), 1e-30)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * scale, err_msg=layer.name)


@pytest.mark.parametrize("config", sorted(shipped("arch_configs")))
def test_concat_row_costs_nothing_on_every_arch(inception, config):
    result = simulate(config, inception)
    rows = result.layers.set_index("layer")
    for name in ("cat", "cat_in"):
        row = rows.loc[name]
        assert row["kind"] == "concat" and row["mapping"] == layout.MAPPING
        for column in ("macs", "ops", "cycles", "compute_cycles", "stall_cycles",
                       "ideal_cycles", "dram_bytes", "tiles", "engine_steps"):
            assert row[column] == 0, (name, column)
        assert row["energy_pj"] == 0.0 and row["utilization"] == 0.0
    assert not (result.counts["layer"] == "cat").any()
    others = rows.drop(index=["cat", "cat_in"])
    assert (others["cycles"] > 0).all() and (others["energy_pj"] > 0).all()
    assert result.summary["cycles"] == others["cycles"].sum()
