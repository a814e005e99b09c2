"""Winograd convolution on the DianNao-class cores (issue 25 item 1): the transforms against a
numpy direct conv, the fixed-point outputs within their bound, the multiply and cycle counts,
the layers that run direct, and the config switch from the CLI."""

from __future__ import annotations

import dataclasses
import math

import numba
import numpy as np
import pandas as pd
import pytest
import reference
import yaml

from accelsim import simulate
from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.fixedpoint import quantize
from accelsim.kernels import winograd
from accelsim.sim.simulate import record_values
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors

ALGORITHMS = {"winograd_f2": 2, "winograd_f4": 4}


def _arch(name: str, algorithm: str, precision: str | None = None):
    arch = load_arch(name)
    arch = dataclasses.replace(arch, core_params=dataclasses.replace(
        arch.core_params, conv_algorithm=algorithm))
    return dataclasses.replace(arch, precision=precision) if precision else arch


def _network(input_shape, layers, name="wino"):
    return network_from_dict({"name": name, "input": list(input_shape), "layers": layers}, name)


def _conv(name, out_channels, kernel=3, **extra):
    return {"name": name, "kind": "conv", "out_channels": out_channels, "kernel": kernel, **extra}


def _tiles_and_float_filters(x_padded_hwc, w, m):
    p, q = x_padded_hwc.shape[0] - 2, x_padded_hwc.shape[1] - 2
    v = winograd.input_transform(x_padded_hwc, m, -(-p // m), -(-q // m))
    den = winograd.matrices(m)[2]
    return v, winograd.filter_transform(w, m) / den ** 2, p, q


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape", [(3, 7, 9, 5, (1, 1, 1, 1)), (4, 8, 8, 2, (0, 0, 0, 0)),
                                   (2, 5, 6, 3, (1, 0, 2, 1)), (5, 13, 3, 4, (2, 2, 2, 2))])
def test_transforms_are_exact_against_direct_conv_in_float64(m, shape):
    channels, h, w_in, k, pad = shape
    rng = np.random.default_rng([m, channels, h, w_in])
    x = rng.standard_normal((channels, h, w_in))
    w = rng.standard_normal((k, channels, 3, 3))
    expected = reference.conv2d(x, w, pad=pad)
    top, left, bottom, right = pad
    x_hwc = np.pad(x, ((0, 0), (top, bottom), (left, right))).transpose(1, 2, 0).copy()
    v, u, p, q = _tiles_and_float_filters(x_hwc, w, m)
    got = winograd.winograd_sums(u, v, m, p, q).transpose(2, 0, 1)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-11 * np.abs(expected).max())


@pytest.mark.parametrize("m", [2, 4])
def test_integer_codes_give_exactly_den_squared_times_the_direct_sums(m):
    """Unrounded ``U * den**2`` and ``V`` are integers: the GEMM and the inverse transform
    are exact (codes of 12 bits keep F4's unrounded sums below 2**53)."""
    rng = np.random.default_rng(m)
    x = rng.integers(-2048, 2048, size=(6, 11, 10))
    w = rng.integers(-2048, 2048, size=(3, 6, 3, 3))
    x_hwc = np.pad(x, ((0, 0), (1, 1), (1, 1))).transpose(1, 2, 0).astype(np.float64).copy()
    p, q = x_hwc.shape[0] - 2, x_hwc.shape[1] - 2
    v = winograd.input_transform(x_hwc, m, -(-p // m), -(-q // m))
    u = winograd.filter_transform(w.astype(np.int16), m)
    got = winograd.winograd_sums(u.astype(np.float64), v, m, p, q).transpose(2, 0, 1)
    direct = reference._conv_sum(x.astype(np.int64), w.astype(np.int64), (1, 1), (1, 1, 1, 1),
                                 1, reference._exact_integer_window_dot)
    assert np.array_equal(got.astype(np.int64), direct * winograd.matrices(m)[2] ** 2)


@pytest.mark.parametrize("arch", ["diannao", "dadiannao"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_fixed_point_outputs_stay_within_their_bound(arch, algorithm):
    network = _network([8, 11, 9], [_conv("c1", 12, pad=1, relu=True)])
    tensors = make_tensors(network, 2)
    result = simulate(_arch(arch, algorithm), network, tensors=tensors, keep_outputs=True)
    row = result.layers.iloc[0]
    assert row["conv_algorithm"] == algorithm
    x = result.outputs["input"]
    w = quantize(tensors.weights["c1"])
    q, frac = reference.conv2d_fixed(x.q, x.frac, w.q, w.frac, tensors.biases["c1"],
                                     pad=(1, 1, 1, 1), relu=True)
    direct = q.astype(np.float64) * 2.0 ** -frac
    error = np.abs(result.outputs["c1"].to_float() - direct).max()
    assert error == pytest.approx(row["winograd_max_abs_error"], rel=1e-12, abs=0)
    assert 0 < error <= row["winograd_error_bound"]
    assert row["winograd_rel_error"] == pytest.approx(error / np.abs(direct).max())


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_winograd_layer_of_a_network_keeps_its_bound(algorithm):
    network = _network([16, 12, 12], [_conv("c1", 16, pad=1, relu=True),
                                      _conv("c2", 32, pad=1, relu=True),
                                      _conv("c3", 16, pad=1)])
    table = simulate(_arch("dadiannao", algorithm), network, seed=5).layers
    assert (table["conv_algorithm"] == algorithm).all()
    assert (table["winograd_max_abs_error"] <= table["winograd_error_bound"]).all()


@pytest.mark.parametrize("algorithm, m", ALGORITHMS.items())
def test_interior_only_shapes_need_2_25x_and_4x_fewer_multiplies(algorithm, m):
    network = _network([16, 8, 8], [_conv("c1", 32, pad=1)])   # 8x8 outputs: whole tiles
    row = simulate(_arch("dadiannao", algorithm), network).layers.iloc[0]
    assert row["macs"] == 8 * 8 * 9 * 16 * 32
    assert row["macs"] / row["nfu_mac"] == 9 * m * m / (m + 2) ** 2   # 2.25 and 4
    assert row["winograd_tiles"] == (8 // m) ** 2


def test_edge_tiles_are_counted_whole():
    """5 x 7 outputs, 3 channels, 2 filters. F(2x2): 3 x 4 = 12 tiles of 16 products per
    filter-channel pair, 12 * 16 * 6 = 1152 multiplies (direct: 35 * 9 * 6 = 1890); F(4x4):
    2 x 2 = 4 tiles of 36, 4 * 36 * 6 = 864."""
    network = _network([3, 5, 7], [_conv("c1", 2, pad=1)])
    for algorithm, tiles, multiplies in (("winograd_f2", 12, 1152), ("winograd_f4", 4, 864)):
        row = simulate(_arch("diannao", algorithm), network).layers.iloc[0]
        assert (row["macs"], row["winograd_tiles"], row["nfu_mac"]) == (1890, tiles, multiplies)


@pytest.mark.parametrize("algorithm, m", ALGORITHMS.items())
def test_cycles_are_a_squared_per_tile_and_row_group(algorithm, m):
    """DianNao with buffers that fit F4's tiles, one output block, 20 channels (two 16-lane
    row groups): NFU cycles = tiles * a**2 * 2, plus the pipeline drain (3 stages) and the
    two transform stages."""
    network = _network([20, 6, 6], [_conv("c1", 16, pad=1)])
    arch = _arch("diannao", algorithm)
    arch = dataclasses.replace(arch, buffers={
        **arch.buffers, "sb": dataclasses.replace(arch.buffers["sb"], size_kib=256),
        "nbin": dataclasses.replace(arch.buffers["nbin"], size_kib=16)})
    row = simulate(arch, network).layers.iloc[0]
    tiles = math.ceil(6 / m) ** 2
    assert row["winograd_tiles"] == tiles
    assert row["compute_cycles"] == tiles * (m + 2) ** 2 * 2 + 2 + 2
    assert row["input_transform_op"] == tiles * 20 * winograd.transform_adds(m)[0]
    assert row["output_transform_op"] > 0 and row["energy_input_transform_pj"] > 0


def test_layers_winograd_cannot_run_run_direct_and_say_why():
    network = _network([8, 10, 10], [
        _conv("strided", 8, stride=2, pad=1), _conv("pointwise", 8, kernel=1),
        _conv("grouped", 8, pad=1, groups=2), _conv("five", 8, kernel=5, pad=2),
        {"name": "fc", "kind": "fc", "out_channels": 10}])
    direct = simulate(load_arch("diannao"), network, keep_outputs=True)
    wino = simulate(_arch("diannao", "winograd_f2"), network, keep_outputs=True)
    assert (wino.layers["conv_algorithm"] == "direct").all()
    assert (wino.layers["nfu_mac"] == wino.layers["macs"]).all()
    for reason in ("stride 2x2", "1x1 kernel", "2 groups", "5x5 kernel", "fc layer"):
        assert wino.layers["mapping"].str.contains(f"(direct: {reason})", regex=False).any()
    for name in ("strided", "pointwise", "grouped", "five", "fc"):
        assert np.array_equal(wino.outputs[name].q, direct.outputs[name].q)
    assert list(wino.layers["cycles"]) == list(direct.layers["cycles"])


def test_a_tiny_output_runs_direct_when_tiles_would_multiply_more():
    network = _network([4, 1, 1], [_conv("c1", 4, pad=1)])   # 1x1 output: 16 > 9 products
    row = simulate(_arch("diannao", "winograd_f2"), network).layers.iloc[0]
    assert row["conv_algorithm"] == "direct" and "multiplies" in row["mapping"]


def test_default_mode_adds_no_columns():
    network = _network([4, 6, 6], [_conv("c1", 4, pad=1)])
    assert "conv_algorithm" not in simulate(load_arch("dadiannao"), network).layers


def test_threads_do_not_change_values():
    network = _network([8, 10, 10], [_conv("c1", 8, pad=1, relu=True), _conv("c2", 8, pad=1)])
    arch = _arch("dadiannao", "winograd_f4")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(arch, network, keep_outputs=True)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = simulate(arch, network, keep_outputs=True)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one.outputs["c2"].q, many.outputs["c2"].q)
    assert one.layers.equals(many.layers)


def test_reused_values_give_the_same_table():
    network = _network([8, 10, 10], [_conv("c1", 8, pad=1, relu=True)])
    arch = _arch("diannao", "winograd_f2")
    full, values = record_values(arch, network)
    assert simulate(arch, network, reuse=values).layers.equals(full.layers)
    assert values.value_key != record_values(load_arch("diannao"), network)[1].value_key


def test_unsupported_combinations_are_config_errors():
    network = _network([4, 6, 6], [_conv("c1", 4, pad=1)])
    with pytest.raises(ConfigError, match="conv_algorithm: winograd_f2 is modelled in fixed16"):
        simulate(_arch("diannao", "winograd_f2", precision="fp32"), network)
    arch = load_arch("cnvlutin")
    with pytest.raises(ValueError, match="conv_algorithm must be direct on Cnvlutin"):
        dataclasses.replace(arch.core_params, conv_algorithm="winograd_f2")


def test_the_switch_from_the_cli(tmp_path, capsys):
    workload = tmp_path / "net.yaml"
    workload.write_text(yaml.safe_dump({"name": "net", "input": [4, 8, 8], "layers": [
        _conv("c1", 8, pad=1, relu=True), _conv("c2", 8, stride=2)]}))
    out = tmp_path / "net.csv"
    assert main(["run", "--arch", "diannao", "--workload", str(workload), "-q", "--output",
                 str(out), "--set", "core_params.conv_algorithm=winograd_f2"]) == 0
    assert list(pd.read_csv(out)["conv_algorithm"]) == ["winograd_f2", "direct"]
    assert main(["run", "--arch", "diannao", "--workload", str(workload), "-q",
                 "--set", "core_params.conv_algorithm=winograd_f3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "core_params.conv_algorithm" in err[0], err
