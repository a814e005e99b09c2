"""A core's own activation unit (DianNao's NFU-3): which act layers it runs, the values its
piecewise-linear table gives, its cost, and its config's errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accelsim import simulate
from accelsim.arch.activation_unit import interpolated
from accelsim.config import load_arch, with_overrides
from accelsim.cost.energy import mac_pj
from accelsim.errors import ConfigError
from accelsim.sim.values import value_key
from accelsim.workload.elementwise import elementwise
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from tests import reference

NET = network_from_dict({
    "name": "gates", "input": [8, 10, 10],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 16, "kernel": 3, "pad": 1},
        {"name": "sig", "kind": "act", "op": "sigmoid"},
        {"name": "c2", "kind": "conv", "out_channels": 16, "kernel": 3, "pad": 1},
        {"name": "th", "kind": "act", "op": "tanh"},
        {"name": "hs", "kind": "act", "op": "hard_swish"},
        {"name": "fc", "kind": "fc", "out_channels": 10},
    ]}, "gates")


@pytest.fixture(scope="module")
def tensors():
    return make_tensors(NET, 3)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_the_table_is_exact_at_its_knots_and_linear_between():
    knots = np.linspace(-8, 8, 17)
    np.testing.assert_allclose(interpolated(_sigmoid, knots, 16, 8.0), _sigmoid(knots),
                               rtol=0, atol=1e-15)
    middle = (knots[:-1] + knots[1:]) / 2   # the chord's midpoint, on every segment
    np.testing.assert_allclose(interpolated(_sigmoid, middle, 16, 8.0),
                               (_sigmoid(knots[:-1]) + _sigmoid(knots[1:])) / 2, atol=1e-15)
    x = np.linspace(-20, 20, 4001)
    error = np.abs(interpolated(_sigmoid, x, 16, 8.0) - _sigmoid(x))
    inside = np.abs(x) <= 8
    assert error[inside].max() <= 1.0 ** 2 / 8 * 0.1   # h^2/8 max|f''|, |sigmoid''| < 0.1
    assert error[inside].max() > 1e-3   # 16 segments are visibly not the function
    assert error[~inside].max() < 0.01   # the end segments' lines continue, nearly flat
    np.testing.assert_array_equal(interpolated(_sigmoid, x, 0, 8.0), _sigmoid(x))


@pytest.mark.parametrize("precision", ["fixed16", "fp32"])
def test_listed_functions_run_on_the_unit_with_their_interpolated_values(tensors, precision):
    arch = with_overrides(load_arch("diannao"), {"precision": precision})
    result = simulate(arch, NET, tensors=tensors, keep_outputs=True)
    reference.check_outputs(NET, result, tensors, f"diannao {precision}")
    rows = result.layers.set_index("layer")
    assert rows.loc["sig", "ran_on"] == rows.loc["th", "ran_on"] == "diannao.activation"
    assert rows.loc["hs", "ran_on"] == "host"   # not in diannao.yaml's list
    assert result.meta["activation_unit"]["segments"] == 16

    x = result.outputs["c1"]
    x = x.to_float() if hasattr(x, "to_float") else x
    out = result.outputs["sig"]
    out = out.to_float() if hasattr(out, "to_float") else out
    exact = elementwise(NET.layer("sig"), [x])
    assert 1e-4 < np.abs(out - exact).max() < 0.02   # the table's error reaches the values


def test_the_unit_costs_its_lanes_and_a_mac_per_value_and_reads_no_dram(tensors):
    arch = load_arch("diannao")
    rows = simulate(arch, NET, tensors=tensors).layers.set_index("layer")
    for name in ("sig", "th"):
        values = math.prod(NET.layer(name).out_shape)
        row = rows.loc[name]
        assert row["activation_unit_op"] == values
        assert row["compute_cycles"] == row["ideal_cycles"] == math.ceil(values / 16)
        assert row["dram_read_bytes"] == 0
        assert row["dram_write_bytes"] == 2 * values
        assert row["energy_activation_unit_pj"] == pytest.approx(values * mac_pj("fixed16"))
        assert row["utilization"] <= 1


def test_the_yaml_decides_which_functions_run_where(tensors):
    base = load_arch("diannao")
    wider = with_overrides(base, {"activation_unit.functions": ["sigmoid", "hard_swish"],
                                  "activation_unit.ops_per_cycle": 4})
    none = with_overrides(base, {"activation_unit.functions": []})
    rows = simulate(wider, NET, tensors=tensors).layers.set_index("layer")
    assert rows.loc["hs", "ran_on"] == "diannao.activation"
    assert rows.loc["th", "ran_on"] == "host"
    assert rows.loc["hs", "compute_cycles"] == math.ceil(math.prod(NET.layer("hs").out_shape) / 4)
    result = simulate(none, NET, tensors=tensors)
    assert set(result.layers["ran_on"]) == {"diannao", "host"}
    assert "activation_unit" not in result.meta


def test_exact_and_interpolated_tables_do_not_share_values():
    base = load_arch("diannao")
    exact = with_overrides(base, {"activation_unit.segments": 0})
    finer = with_overrides(base, {"activation_unit.segments": 64})
    keys = {value_key(a) for a in (base, exact, finer)}
    assert len(keys) == 3
    assert value_key(with_overrides(base, {"buffers.sb.size_kib": 64})) == value_key(base)


@pytest.mark.parametrize("override, message", [
    ({"activation_unit.functions": ["sigmoid", "tanhh"]}, "did you mean 'tanh'"),
    ({"activation_unit.functions": ["relu"]}, "'relu' is not a function"),
    ({"activation_unit.segments": -1}, "activation_unit.segments"),
    ({"activation_unit.ops_per_cycle": 0}, "activation_unit.ops_per_cycle"),
    ({"activation_unit.input_range": 0}, "activation_unit.input_range"),
    ({"activation_unit.lanes": 4}, "activation_unit.lanes: unknown key"),
])
def test_bad_activation_unit_keys_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=message) as caught:
        with_overrides(load_arch("diannao"), override)
    assert "\n" not in str(caught.value) and "activation_unit" in str(caught.value)
