"""Per-layer precision: the rounding rule, the precision transform and its profiles, the
search, and where the bits act (the layer loop and the float forward pass)."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate
from accelsim.errors import WorkloadError
from accelsim.fixedpoint import Fixed, quantize
from accelsim.workload import load_network, load_tensors, make_tensors
from accelsim.workload.forward import forward
from accelsim.workload.precision import LayerPrecision, quantize_activations, rounded_input
from accelsim.workload.transforms import apply_transform, load_recipe, parse_transform
from accelsim.workload.transforms.precision_search import profile_yaml, search_precision
from accelsim.workload.transforms.profiles import load_profile
from tests import reference
from tests.input_helpers import refused

LENET = load_network("lenet5")


def _outputs(network, tensors) -> dict:
    return {layer.name: out for layer, out in forward(network, tensors)}


def _profile(tmp_path, layers: str, name: str = "bad") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text("version: 1\nquantity: precision_bits\nnetwork: lenet5\n"
                    f"layers:\n{layers}")
    return str(path)


# ---- the rounding rule ---------------------------------------------------------------------

def test_fixed_codes_keep_their_top_bits_by_hand():
    """Peak 32767 (15 bits), 4 bits unsigned: step 2**11; 100 rounds to 0, 3000 to 2048,
    3072 (1.5 steps) up to 4096, 32767 to 16 steps, clipped to 15."""
    x = Fixed(np.array([0, 100, 3000, 3072, 32767], dtype=np.int16), 20)
    out = quantize_activations(x, 4)
    assert out.frac == 20
    assert out.q.tolist() == [0, 0, 2048, 4096, 15 * 2048]


def test_a_signed_input_spends_one_bit_on_the_sign():
    x = Fixed(np.array([-32767, -5000, 5000, 16384], dtype=np.int16), 15)
    out = quantize_activations(x, 4)   # 3 magnitude bits: step 2**12, |k| <= 7
    assert out.q.tolist() == [-7 * 4096, -1 * 4096, 1 * 4096, 4 * 4096]


def test_float_and_fixed_grids_agree():
    rng = np.random.default_rng(1)
    values = np.maximum(rng.standard_normal((4, 6, 6)), 0).astype(np.float32)
    fixed = quantize(values)
    for bits in (3, 7, 12):
        on_fixed = quantize_activations(fixed, bits).to_float()
        on_float = quantize_activations(fixed.to_float(), bits)
        np.testing.assert_array_equal(on_fixed, on_float)
        assert len(np.unique(on_fixed)) <= 2 ** bits


def test_sixteen_bits_or_none_change_nothing_and_binarized_inputs_are_left_alone():
    x = quantize(np.linspace(-1, 1, 50, dtype=np.float32))
    assert quantize_activations(x, 16) is x and quantize_activations(x, None) is x
    marked = {"c1": LayerPrecision(activations=1, weights=1, binarized="xnor")}
    assert rounded_input(marked, "c1", x) is x
    assert rounded_input({"c1": LayerPrecision(activations=2)}, "c1", x) is not x


# ---- the transform ---------------------------------------------------------------------------

def test_profile_transform_records_bits_and_cites_the_profile():
    tensors = make_tensors(load_network("alexnet"), 0)
    out = apply_transform(load_network("alexnet"), tensors,
                          parse_transform("precision:profile=alexnet_judd2016"))
    assert {name: p.activations for name, p in out.precision.items()} == {
        "conv1": 9, "conv2": 8, "conv3": 5, "conv4": 5, "conv5": 7}
    assert "[profile alexnet_judd2016]" in out.provenance["transforms"]
    assert out.weights["conv1"] is tensors.weights["conv1"]   # activations only
    assert tensors.precision == {}                              # the input is not changed


def test_weight_bits_round_the_weights_and_transforms_compose(tmp_path):
    tensors = make_tensors(LENET, 0)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\ntransforms:\n"
                      "  - {kind: precision, activations: 6, weights: {c3: 4}}\n"
                      "  - {kind: precision, activations: {c3: 9}}\n")
    out = tensors
    for spec in load_recipe(recipe):
        out = apply_transform(LENET, out, spec)
    assert out.precision["c3"] == LayerPrecision(activations=9, weights=4)
    assert out.precision["c1"] == LayerPrecision(activations=6)
    assert len(np.unique(out.weights["c3"])) <= 2 ** 4 - 1
    assert not np.array_equal(out.weights["c3"], tensors.weights["c3"])
    assert out.weights["c1"] is tensors.weights["c1"]


@pytest.mark.parametrize("layers, needle", [
    ("  c1: 0\n", "layers.c1: expected an integer number of activations bits in [1, 16]"),
    ("  c1: 17\n", "got 17"),
    ("  c1: {weights: 1}\n", "layers.c1.weights: expected an integer number of weights bits"),
    ("  c1: {activation: 8}\n", "layers.c1: unknown key 'activation'"),
    ("  conv9: 8\n", "layers: layer 'conv9' is not in network 'lenet5'"),
])
def test_bad_profiles_name_the_file_and_key(tmp_path, capsys, layers, needle):
    path = _profile(tmp_path, layers)
    line = refused(capsys, "run", "--arch", "stripes", "--workload", "lenet5", "--quiet",
                   "--transform", f"precision:profile={path}")
    assert path in line and needle in line


@pytest.mark.parametrize("spec, needle", [
    ("precision:activations=0", "layers.c1.activations: expected an integer number of"),
    ("precision:activations={c1: 2.5}", "got 2.5"),
    ("precision:profile=alexnet_han2015", "holds weight_density, this transform needs"),
    ("precision:profile=alexnet_judd2016,activations=8", "not both"),
])
def test_bad_options_are_one_line(capsys, spec, needle):
    line = refused(capsys, "run", "--arch", "dadiannao", "--workload", "lenet5", "--quiet",
                   "--transform", spec)
    assert needle in line


def test_a_profile_of_another_quantity_is_refused_by_the_sparsity_transforms():
    with pytest.raises(WorkloadError, match="holds precision_bits"):
        apply_transform(load_network("alexnet"), make_tensors(load_network("alexnet"), 0),
                        {"kind": "prune", "profile": "alexnet_judd2016"})


def test_shipped_profiles_name_only_conv_layers_of_their_network():
    for name in ("alexnet", "nin", "googlenet", "vgg19"):
        profile = load_profile(f"{name}_judd2016")
        network = load_network(name)
        convs = {layer.name for layer in network.layers if layer.kind == "conv"}
        assert set(profile.layers) == convs, name
        assert all(1 <= bits["activations"] <= 16 for bits in profile.layers.values())


# ---- where the bits act ----------------------------------------------------------------------

def test_the_layer_loop_rounds_each_named_input_on_every_core():
    """DaDianNao with conv c3 at 5 bits computes c3 on its input rounded to 5 bits: the
    numpy fixed16 reference on that rounded input gives the same codes."""
    tensors = apply_transform(LENET, make_tensors(LENET, 2),
                              parse_transform("precision:activations={c3: 5}"))
    result = simulate("dadiannao", LENET, tensors=tensors, keep_outputs=True)
    x = quantize_activations(result.outputs["s2"], 5)
    assert len(np.unique(x.q)) <= 2 ** 5
    layer = LENET.layer("c3")
    w = quantize(tensors.weights["c3"])
    q, frac = reference.conv2d_fixed(x.q, x.frac, w.q, w.frac, tensors.biases["c3"],
                                     layer.stride, layer.pad, layer.groups, relu=layer.relu)
    assert frac == result.outputs["c3"].frac
    np.testing.assert_array_equal(q, result.outputs["c3"].q)
    plain = simulate("dadiannao", LENET, tensors=make_tensors(LENET, 2), keep_outputs=True)
    assert not np.array_equal(plain.outputs["c3"].q, result.outputs["c3"].q)


def test_the_float_forward_pass_rounds_the_same_inputs():
    tensors = apply_transform(LENET, make_tensors(LENET, 2),
                              parse_transform("precision:activations={c5: 3}"))
    rounded = _outputs(LENET, tensors)
    plain = _outputs(LENET, make_tensors(LENET, 2))
    np.testing.assert_array_equal(rounded["s4"], plain["s4"])      # before c5: unchanged
    layer = LENET.layer("c5")
    x = quantize_activations(plain["s4"], 3)
    expected = reference.fc(x, tensors.weights["c5"], tensors.biases["c5"])
    np.testing.assert_allclose(rounded["c5"], np.maximum(expected, 0) if layer.relu
                               else expected, rtol=1e-5, atol=1e-6)


# ---- the search ------------------------------------------------------------------------------

def test_search_finds_a_profile_that_holds_and_fewer_bits_with_more_tolerance():
    tensors = make_tensors(LENET, 0)
    tight = search_precision(LENET, tensors, 0.001)
    loose = search_precision(LENET, tensors, 0.2)
    assert tight.same_top1 and tight.error <= 0.001
    assert loose.same_top1 and loose.error <= 0.2
    assert sum(loose.bits.values()) < sum(tight.bits.values())
    assert set(tight.bits) == {layer.name for layer in LENET.layers if layer.has_weights}
    profiled = apply_transform(LENET, tensors, {"kind": "precision",
                                                "activations": dict(tight.bits)})
    out = _outputs(LENET, profiled)["output"]
    ref = _outputs(LENET, tensors)["output"]
    assert np.max(np.abs(out - ref)) <= 0.001 * np.max(np.abs(ref))


def test_search_writes_a_profile_the_transform_reads(tmp_path, capsys):
    path = tmp_path / "found.yaml"
    from accelsim.cli import main

    assert main(["precision-search", "--workload", "lenet5", "--tolerance", "0.05",
                 "-o", str(path)]) == 0
    profile = load_profile(path)
    assert profile.quantity == "precision_bits" and "tolerance 0.05" in profile.source
    result = search_precision(LENET, load_tensors(LENET, 0), 0.05)   # the CLI's values
    assert {k: v["activations"] for k, v in profile.layers.items()} == result.bits
    assert profile_yaml(result, LENET, 0.05, "x").startswith("version: 1")
    assert refused(capsys, "precision-search", "--workload", "lenet5", "--tolerance", "1.5")
