"""Minerva's steps on the DianNao core (issue 25): predication and SRAM faults against numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelsim import fixedpoint, simulate
from accelsim.arch import _minerva
from accelsim.arch.diannao import Core
from accelsim.config import load_arch, with_overrides
from accelsim.cost import energy
from accelsim.errors import AccelsimError
from accelsim.workload import load_network, load_tensors
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms import apply_transform
from tests import reference

# conv with padding and stride, grouped conv straddling NFU blocks, fc after conv.
NET = {
    "name": "minerva_small", "input": [5, 9, 9],
    "layers": [
        {"name": "conv_a", "kind": "conv", "out_channels": 20, "kernel": 3, "pad": 1,
         "relu": True},
        {"name": "grouped", "kind": "conv", "out_channels": 24, "kernel": 3, "stride": 2,
         "groups": 4, "relu": True},
        {"name": "fc", "kind": "fc", "out_channels": 11, "relu": True},
        {"name": "fc_out", "kind": "fc", "out_channels": 7},
    ],
}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def net():
    return network_from_dict(NET, "minerva_small")


@pytest.fixture(scope="module")
def tensors(net):
    return make_tensors(net, 3)


def arch(**core_params):
    return with_overrides(load_arch("diannao"),
                          {f"core_params.{k}": v for k, v in core_params.items()})


def _padded_mask(layer, x_q, limit):
    """1 where the padded input is predicated (padding zeros included)."""
    mask = (np.abs(x_q.astype(np.float64)) <= limit).astype(np.float64)
    top, left, bottom, right = layer.pad
    return np.pad(mask, ((0, 0), (top, bottom), (left, right)), constant_values=1.0)


def _predicated_macs(layer, mask_padded):
    """Products that read a predicated input: a conv of the mask with all-ones filters."""
    ones = np.ones((layer.out_channels, layer.in_channels_per_group, layer.kernel_h,
                    layer.kernel_w))
    return int(round(reference.conv2d(mask_padded, ones, None, layer.stride, (0, 0, 0, 0),
                                      layer.groups).sum()))


@pytest.mark.parametrize("threshold", [0.0, 0.3])
def test_predication_drops_exactly_the_predicated_products(net, tensors, threshold):
    dense = simulate(arch(), net, tensors=tensors)
    run = simulate(arch(predication=True, predication_threshold=threshold,
                        predication_thresholds={"fc": 2 * threshold}),
                   net, tensors=tensors, keep_outputs=True)
    rows, dense_rows = run.layers.set_index("layer"), dense.layers.set_index("layer")
    for layer in net:
        x = run.outputs[layer.inputs[0]]
        limit = (2 * threshold if layer.name == "fc" else threshold) * 2.0 ** x.frac
        kept = np.where(np.abs(x.q.astype(np.float64)) <= limit, 0, x.q).astype(np.int16)
        q, frac = reference.run_layer(layer, [(kept, x.frac)], tensors.weights[layer.name],
                                      tensors.biases[layer.name], "fixed16")
        out = run.outputs[layer.name]
        assert out.frac == frac
        np.testing.assert_array_equal(out.q, q, err_msg=layer.name)
        skipped = _predicated_macs(layer, _padded_mask(layer, x.q, limit))
        assert rows.loc[layer.name, "nfu_mac_skipped"] == skipped, layer.name
        assert rows.loc[layer.name, "nfu_mac"] + skipped == dense_rows.loc[layer.name,
                                                                           "nfu_mac"]
        # power, not time: the predicated lanes idle, the cycles stay the dense NFU's
        assert rows.loc[layer.name, "cycles"] == dense_rows.loc[layer.name, "cycles"]
        # SB energy: the dense rows' less one column's price per gated column
        gated = rows.loc[layer.name, "sb_read"] - dense_rows.loc[layer.name, "sb_read"] * 16
        assert rows.loc[layer.name, "energy_sb_pj"] == pytest.approx(
            dense_rows.loc[layer.name, "energy_sb_pj"]
            + gated * run.energy_table[("sb", "read")])
        assert gated <= 0
    assert rows["nfu_mac_skipped"].sum() > 0
    assert run.summary["energy_uj"] < dense.summary["energy_uj"]


def test_sb_columns_price_as_rows_when_nothing_is_gated():
    """Predication counts SB reads per column of ``tn`` synapses; ``ti`` columns are one
    dense row, so with no column gated the SB energy is the dense core's."""
    dense_core, column_core = Core(arch()), Core(arch(predication=True))
    row = next(c for c in dense_core.components() if c.name == "sb")
    column = next(c for c in column_core.components() if c.name == "sb")
    assert row.access_bits == column.access_bits * dense_core.params.ti


def _faulted_codes(q, fault_map, mitigation):
    """Independent per-word reading of Minerva's masking rules, in plain Python."""
    faults = np.resize(fault_map, q.size)
    out = q.ravel().copy()
    for i in np.flatnonzero(faults):
        word, bad = int(q.ravel()[i]) & 0xFFFF, int(faults[i])
        if mitigation == "none":
            value = word ^ bad
        elif mitigation == "word_mask" or bad & 0x8000:
            value = 0
        else:
            sign = word >> 15
            value = (word | bad) if sign else (word & ~bad)
        out[i] = value - 0x10000 if value & 0x8000 else value
    return out.reshape(q.shape).astype(np.int16)


@pytest.mark.parametrize("mitigation", ["none", "word_mask", "bit_mask"])
def test_sram_faults_change_only_the_faulty_words(net, tensors, mitigation):
    config = arch(sb_voltage_v=0.6, fault_mitigation=mitigation, fault_seed=5)
    run = simulate(config, net, tensors=tensors, keep_outputs=True)
    fault_map = Core(config).minerva.fault_map()
    assert 0 < np.count_nonzero(fault_map) < fault_map.size
    rows = run.layers.set_index("layer")
    for layer in net:
        w = fixedpoint.quantize(tensors.weights[layer.name])
        run_weights = _faulted_codes(w.q, fault_map, mitigation)
        faulty = np.resize(fault_map, w.q.size).reshape(w.q.shape) != 0
        assert np.all(run_weights[~faulty] == w.q[~faulty])   # untouched where no fault
        if mitigation == "word_mask":
            assert np.all(run_weights[faulty] == 0)
        if mitigation == "bit_mask":   # masking toward the sign bit never grows a weight
            assert np.all(np.abs(run_weights.astype(int)) <= np.abs(w.q.astype(int)))
        assert rows.loc[layer.name, "faulty_weights"] == np.count_nonzero(faulty)
        x = run.outputs[layer.inputs[0]]
        q, frac = reference.run_layer(layer, [(x.q, x.frac)], (run_weights, w.frac),
                                      tensors.biases[layer.name], "fixed16")
        np.testing.assert_array_equal(run.outputs[layer.name].q, q, err_msg=layer.name)
        assert run.outputs[layer.name].frac == frac


def test_fault_map_is_deterministic_and_follows_the_curve():
    a, b = (_minerva.draw_fault_map(50_000, 16, 1e-2, 9) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _minerva.draw_fault_map(50_000, 16, 1e-2, 10))
    bits = sum(bin(int(m)).count("1") for m in a)
    assert abs(bits / (50_000 * 16) - 1e-2) < 1e-3   # binomial: ~0.3 % relative spread


def test_fault_probability_interpolates_the_curve_log_linearly():
    curve = _minerva.DEFAULT_FAULT_CURVE
    for volts, p in curve:
        assert _minerva.bit_fault_probability(volts, curve) == pytest.approx(p)
    (v0, p0), (v1, p1) = curve[3], curve[4]
    middle = _minerva.bit_fault_probability((v0 + v1) / 2, curve)
    assert middle == pytest.approx((p0 * p1) ** 0.5)
    probabilities = [_minerva.bit_fault_probability(v, curve) for v in np.linspace(.5, .9, 41)]
    assert all(x >= y for x, y in zip(probabilities, probabilities[1:], strict=False))


def test_sb_energy_scales_with_voltage_squared(net, tensors):
    base, low = (simulate(arch(**params), net, tensors=tensors).layers
                 for params in ({}, {"sb_voltage_v": 0.72}))
    ratio = low["energy_sb_pj"].sum() / base["energy_sb_pj"].sum()
    assert ratio == pytest.approx((0.72 / 0.9) ** 2)
    for part in ("nbin", "nbout", "nfu", "dram"):
        assert low[f"energy_{part}_pj"].sum() == pytest.approx(base[f"energy_{part}_pj"].sum())


@pytest.mark.parametrize("overrides, words", [
    ({"core_params.fault_mitigation": "bit_mask", "core_params.fault_detection": False},
     "needs fault_detection"),
    ({"core_params.fault_mitigation": "bits"}, "fault_mitigation"),
    ({"core_params.sb_voltage_v": 1.2}, "above sb_nominal_voltage_v"),
    ({"core_params.predication_threshold": -1}, "predication_threshold"),
    ({"core_params.predication": True, "core_params.conv_algorithm": "winograd_f2"},
     "direct conv only"),
    ({"core_params.leakage_fraction": 0.95}, "leakage_fraction: expected at most 0.9"),
    ({"core_params.razor_overhead": -1}, "razor_overhead"),
])
def test_bad_switches_are_one_line_errors(overrides, words):
    with pytest.raises(AccelsimError, match=words):
        with_overrides(load_arch("diannao"), overrides)


@pytest.mark.parametrize("switch", [{"core_params.predication": True},
                                    {"core_params.leakage_fraction": 0.3}])
def test_cores_built_on_diannao_refuse_the_switches(switch):
    with pytest.raises(AccelsimError, match="switches of the diannao core"):
        with_overrides(load_arch("cnvlutin"), switch)


def test_a_threshold_for_a_layer_the_network_lacks_is_a_one_line_error(net, tensors):
    config = arch(predication=True, predication_thresholds={"conv_a": 0.1, "conv_b": 0.2})
    with pytest.raises(AccelsimError, match=r"predication_thresholds.conv_b: no layer 'conv_b'"):
        simulate(config, net, tensors=tensors)
    simulate(arch(predication=True, predication_thresholds={"conv_a": 0.1}), net,
             tensors=tensors)   # every name known: runs


def test_faults_need_fixed_point(net, tensors):
    config = with_overrides(load_arch("diannao"), {"precision": "fp32",
                                                   "core_params.sb_voltage_v": 0.7})
    with pytest.raises(AccelsimError, match="needs precision fixed16"):
        simulate(config, net, tensors=tensors)


def test_per_layer_types_price_the_datapath_by_width(net, tensors):
    """At 16 x 16 bits the per-bit prices equal the dense core's; at a x w bits the
    multiplies cost a*w/256, the NBin reads a/16, the SB reads w/16 of that."""
    dense = simulate(arch(), net, tensors=tensors).layers.set_index("layer")
    same = simulate(arch(per_layer_types=True), net, tensors=tensors).layers.set_index("layer")
    assert same["energy_pj"].to_numpy() == pytest.approx(dense["energy_pj"].to_numpy())
    narrow = apply_transform(net, tensors, {"kind": "precision", "activations": 6,
                                            "weights": {"conv_a": 8, "fc": 4}})
    typed = simulate(arch(per_layer_types=True), net, tensors=narrow).layers.set_index("layer")
    plain = simulate(arch(), net, tensors=narrow).layers.set_index("layer")
    for name, w_bits in (("conv_a", 8), ("grouped", 16), ("fc", 4), ("fc_out", 16)):
        row, ref = typed.loc[name], plain.loc[name]
        assert (row["activation_bits"], row["weight_bits"]) == (6, w_bits)
        assert row["energy_nfu_mult_pj"] == pytest.approx(
            ref["energy_nfu_pj"] * 0.8 / 0.9 * 6 * w_bits / 256)
        assert row["energy_nbin_pj"] == pytest.approx(ref["energy_nbin_pj"] * 6 / 16)
        assert row["energy_sb_pj"] == pytest.approx(ref["energy_sb_pj"] * w_bits / 16)
        assert row["cycles"] == ref["cycles"]


def test_mnist_mlp_runs_as_onnx_runtime_computes_it():
    """The zoo's Minerva-shaped MLP: fp32 logits equal ONNX Runtime's on a shipped digit,
    and the 16-bit Minerva baseline picks the same class."""
    onnxruntime = pytest.importorskip("onnxruntime")
    network = load_network("mnist_mlp")
    assert [layer.out_channels for layer in network.layers] == [256, 256, 256, 10]
    image = ROOT / "workloads" / "digits" / "images" / "digit3_0619.png"
    tensors = load_tensors(network, input_from=image)
    session = onnxruntime.InferenceSession(network.origin)
    expected = session.run(None, {"image": tensors.input[None].astype(np.float32)})[0].ravel()
    fp32 = with_overrides(load_arch("minerva"), {"precision": "fp32"})
    out = simulate(fp32, network, tensors=tensors, keep_outputs=True).outputs["fc4"].ravel()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    fixed = simulate("minerva", network, tensors=tensors, keep_outputs=True).outputs["fc4"]
    assert np.argmax(fixed.to_float().ravel()) == np.argmax(expected) == 3


def _leakage_row_pj(config) -> tuple[float, float]:
    """Independent of the core: the SB's and the NFU's dynamic energy in one cycle busy at
    the nominal supply (one SB row of tn x ti 16-bit words; tn x ti 16-bit MACs)."""
    p = config.core_params
    lanes, size = p.tn * p.ti, int(config.buffers["sb"].size_kib * 1024)
    assert p.tiles == 1
    return energy.sram_access_pj(size, lanes * 16), lanes * energy.mac_pj("fixed16")


@pytest.mark.parametrize("params, sb_scale", [
    ({}, 1.0),
    ({"sb_voltage_v": 0.72}, (0.72 / 0.9) ** 3 * 1.05),   # Razor runs: +5 %
    ({"sb_voltage_v": 0.72, "fault_detection": False}, (0.72 / 0.9) ** 3),
])
def test_leakage_is_the_nominal_share_over_every_cycle(net, tensors, params, sb_scale):
    """f = 0.25: every cycle, SB and NFU leak f / (1 - f) = 1/3 of a busy nominal cycle's
    dynamic energy; the SB's part scales as V^3 and carries Razor's overhead when it runs."""
    config = arch(leakage_fraction=0.25, razor_overhead=0.05, **params)
    layers = simulate(config, net, tensors=tensors).layers
    sb_row, nfu_row = _leakage_row_pj(config)
    cycles = layers["compute_cycles"].to_numpy()
    np.testing.assert_allclose(layers["energy_sb_leak_pj"], cycles * sb_row / 3 * sb_scale)
    np.testing.assert_allclose(layers["energy_nfu_leak_pj"], cycles * nfu_row / 3)
    if "sb_voltage_v" in params:   # Razor's overhead also lands on the dynamic reads
        plain = simulate(arch(**params), net, tensors=tensors).layers
        razor = 1.05 if params.get("fault_detection", True) else 1.0
        np.testing.assert_allclose(layers["energy_sb_pj"], plain["energy_sb_pj"] * razor)


def test_leakage_under_per_layer_types_follows_the_widest_types(net, tensors):
    narrow = apply_transform(net, tensors, {"kind": "precision", "activations": 6,
                                            "weights": {"conv_a": 8, "grouped": 10, "fc": 4,
                                                        "fc_out": 4}})
    full = simulate(arch(leakage_fraction=0.25), net, tensors=narrow).layers
    typed = simulate(arch(leakage_fraction=0.25, per_layer_types=True), net,
                     tensors=narrow).layers
    np.testing.assert_allclose(typed["energy_sb_leak_pj"], full["energy_sb_leak_pj"] * 10 / 16)
    np.testing.assert_allclose(typed["energy_nfu_leak_pj"],
                               full["energy_nfu_leak_pj"] * 6 * 10 / 256)


def test_the_batch_path_equals_one_simulation_per_image(tmp_path):
    """benchmarks/minerva_batch.py (the reproduction's fast path): on held-out digits, with
    every step on, its logits are bit-identical and its energies equal to ``simulate``'s."""
    from PIL import Image

    from benchmarks.minerva_batch import Batch, with_input
    network = load_network("digits_cnn")
    images = []
    for record in np.load(ROOT / "workloads" / "digits" / "test_set.npy")[:3]:
        path = tmp_path / f"digit{record['index']}.png"
        Image.fromarray(record["picture"]).save(path)
        base = load_tensors(network, input_from=path)
        images.append(base.input)
    tensors = apply_transform(network, base, {"kind": "precision", "weights": 6,
                                              "activations": {"conv2": 5, "fc1": 4}})
    config = with_overrides(load_arch("minerva"), {
        "core_params.per_layer_types": True, "core_params.predication": True,
        "core_params.predication_threshold": 0.25, "core_params.sb_voltage_v": 0.6,
        "core_params.fault_mitigation": "bit_mask"})
    batch = Batch(network, tensors, np.stack(images))
    logits, energy_uj = batch.logits(config), batch.energy_uj(config)
    for n, image in enumerate(images):
        result = simulate(config, network, tensors=with_input(tensors, image),
                          keep_outputs=True)
        np.testing.assert_array_equal(result.outputs["fc2"].to_float().ravel(), logits[n])
        assert energy_uj[n] == pytest.approx(result.summary["energy_uj"], rel=1e-12)
    assert len(set(np.round(energy_uj, 12))) == len(images)   # predication: per image
