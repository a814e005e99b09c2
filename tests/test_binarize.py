"""The binarize transform (BWN / XNOR-Net): weights, marks, the float forward pass and the
layer loop on cores without one-bit units, against numpy's binarized reference."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import accelsim
from accelsim.cli import main
from accelsim.config import load_arch, with_overrides
from accelsim.errors import AccelsimError, WorkloadError
from accelsim.files import shipped
from accelsim.kernels import xnor
from accelsim.workload import load_network, load_tensors
from accelsim.workload.formats.onnx_model import import_onnx
from accelsim.workload.forward import forward, scaling_map
from accelsim.workload.precision import LayerPrecision
from accelsim.workload.tensors import load_input, make_tensors, with_input
from accelsim.workload.transforms import apply_transform
from accelsim.workload.transforms.binarize import binary_weights
from accelsim.workload.weights_file import load_weights_file
from tests.sparse_workloads import one_conv

BINARIZED = ("conv2", "fc1")   # the digits CNN's layers between its first and last
BIT_SERIAL = ("stripes", "pragmatic")   # cores that stream 1-bit activations in one pass
WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"


@functools.cache
def digits(mode: str | None):
    network = load_network("digits_cnn")
    tensors = load_tensors(network)
    if mode is not None:
        tensors = apply_transform(network, tensors, {"kind": "binarize", "mode": mode})
    return network, tensors


def signs(a):
    return np.where(a >= 0, 1.0, -1.0)


def conv(layer, x, w):
    """Plain float64 convolution (zero padding) of C x H x W ``x`` with M x C x R x S ``w``."""
    top, left, bottom, right = layer.pad
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right)))
    view = np.lib.stride_tricks.sliding_window_view(padded, w.shape[2:], axis=(1, 2))
    return np.einsum("mcrs,cpqrs->mpq", w, view[:, ::layer.stride[0], ::layer.stride[1]])


def xnor_reference(layer, x, w, b):
    """XNOR-Net's layer from the paper's formulas, in float64: (sign(I) conv sign(W)) * alpha
    * K (K: the mean |I| over channels, box-filtered over the zero-padded window) + bias."""
    alpha = np.abs(w).reshape(w.shape[0], -1).mean(axis=1)[:, None, None]
    a = np.abs(x).mean(axis=0, keepdims=True)
    k = conv(layer, a, np.ones((1, 1, *w.shape[2:])) / np.prod(w.shape[2:]))[0]
    out = conv(layer, signs(x), signs(w)) * alpha * k + b[:, None, None]
    return np.maximum(out, 0) if layer.relu else out


def test_weights_become_alpha_times_sign_per_filter():
    w = np.array([[[[0.5, -1.5], [0.0, 2.0]]], [[[-1.0, -1.0], [1.0, 3.0]]]], np.float32)
    np.testing.assert_array_equal(binary_weights(w)[0].ravel(), [1.0, -1.0, 1.0, 1.0])
    np.testing.assert_array_equal(binary_weights(w)[1].ravel(), [-1.5, -1.5, 1.5, 1.5])


@pytest.mark.parametrize("mode", ["weights", "xnor"])
def test_first_and_last_layers_stay_full_precision_by_default(mode):
    network, before = digits(None)
    _, after = digits(mode)
    assert sorted(after.precision) == sorted(BINARIZED)
    for name in ("conv1", "fc2"):
        assert after.weights[name] is before.weights[name]
    for name in BINARIZED:
        w = after.weights[name].reshape(after.weights[name].shape[0], -1)
        assert np.all(np.abs(w) == np.abs(w[:, :1]))   # one magnitude a filter
        assert np.all(signs(w) == signs(before.weights[name].reshape(w.shape)))
        expected = LayerPrecision(activations=1 if mode == "xnor" else None, weights=1,
                                  binarized=mode)
        assert after.precision[name] == expected
    assert f"binarize({mode}" in after.provenance["transforms"]


def test_forward_pass_computes_xnor_layers_from_binarized_activations():
    network, tensors = digits("xnor")
    outputs = {"input": tensors.input}
    for layer, out in forward(network, tensors):
        x = outputs[layer.inputs[0]].astype(np.float64)
        if layer.name in BINARIZED:
            expected = xnor_reference(layer, x, tensors.weights[layer.name].astype(np.float64),
                                      tensors.biases[layer.name].astype(np.float64))
            np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(
                expected).max())
        outputs[layer.name] = out


def test_scaling_map_is_the_mean_abs_input_over_each_zero_padded_window():
    network, tensors = digits(None)
    layer = network.layer("conv2")
    x = np.random.default_rng(0).standard_normal(layer.in_shape)
    a = np.pad(np.abs(x).mean(axis=0), 1)
    expected = [[a[p:p + 3, q:q + 3].mean() for q in range(layer.out_w)]
                for p in range(layer.out_h)]
    np.testing.assert_allclose(scaling_map(layer, x), expected, rtol=1e-12)


def test_kernel_and_forward_pass_agree_on_the_digits_layers():
    network, tensors = digits("xnor")
    outputs = {layer.name: out for layer, out in forward(network, tensors)}
    outputs["input"] = tensors.input
    for name in BINARIZED:
        layer = network.layer(name)
        x, w = outputs[layer.inputs[0]], tensors.weights[name]
        geometry = (layer.in_channels_per_group, layer.out_channels_per_group, *layer.stride,
                    layer.pad[0], layer.pad[1], layer.out_h, layer.out_w)
        scaled, counts = xnor.xnor_layer(x, w, scaling_map(layer, x), geometry, layer.groups)
        out = np.maximum(scaled + tensors.biases[name][:, None, None], 0)
        np.testing.assert_allclose(out, outputs[name], rtol=1e-4,
                                   atol=1e-5 * np.abs(out).max())
        assert counts[xnor.XNOR_OPS] <= layer.macs


@pytest.mark.parametrize("arch", sorted(shipped("arch_configs")))
def test_every_shipped_core_computes_xnor_layers_and_only_bit_serial_ones_gain(arch):
    network, same_weights = digits("weights")   # the same +-alpha weights, real inputs
    _, tensors = digits("xnor")
    reference = {layer.name: out for layer, out in forward(network, tensors)}
    result = accelsim.simulate(arch, network, tensors=tensors, keep_outputs=True)
    baseline = accelsim.simulate(arch, network, tensors=same_weights).layers.set_index("layer")
    rows = result.layers.set_index("layer")
    bit_serial = load_arch(arch).core in BIT_SERIAL
    for name in BINARIZED:
        if not bit_serial:   # +-1 inputs as 16-bit values: no zero to gate or skip
            assert rows.at[name, "compute_cycles"] >= baseline.at[name, "compute_cycles"]
        else:
            assert rows.at[name, "cycles"] <= baseline.at[name, "cycles"]
        assert "XNOR" in rows.at[name, "mapping"]
        out = result.outputs[name].to_float()
        assert np.abs(out - reference[name]).max() < 2e-3 * np.abs(reference[name]).max()
    logits = result.outputs["fc2"].to_float().ravel()
    assert int(np.argmax(logits)) == int(np.argmax(reference["fc2"]))


def test_fp32_core_matches_the_float_forward_pass_closely():
    network, tensors = digits("xnor")
    reference = {layer.name: out for layer, out in forward(network, tensors)}
    arch = with_overrides(load_arch("diannao"), {"precision": "fp32"})
    result = accelsim.simulate(arch, network, tensors=tensors, keep_outputs=True)
    for name in (*BINARIZED, "fc2"):
        np.testing.assert_allclose(result.outputs[name], reference[name], rtol=1e-4,
                                   atol=1e-5 * np.abs(reference[name]).max())


def test_stripes_runs_xnor_conv_layers_in_one_bit_serial_pass():
    network, full = digits(None)
    _, tensors = digits("xnor")
    reference = {layer.name: out for layer, out in forward(network, tensors)}
    result = accelsim.simulate("stripes", network, tensors=tensors, keep_outputs=True)
    wide = accelsim.simulate("stripes", network, tensors=full).layers.set_index("layer")
    rows = result.layers.set_index("layer")
    assert rows.at["conv2", "cycles"] < wide.at["conv2", "cycles"] / 8   # ~1/16: 1 bit
    assert rows.at["fc1", "cycles"] == wide.at["fc1", "cycles"]   # fc: DaDianNao's pace
    for name in BINARIZED:
        layer = network.layer(name)
        taps = conv(layer, np.ones((1, layer.in_h, layer.in_w)),
                    np.ones((1, 1, layer.kernel_h, layer.kernel_w))).sum()
        assert rows.at[name, "xnor_ops"] == taps * layer.in_channels * layer.out_channels
        assert "XNOR-popcount" in rows.at[name, "mapping"]
        out = result.outputs[name].to_float()
        assert np.abs(out - reference[name]).max() < 2e-3 * np.abs(reference[name]).max()
    assert rows.at["conv1", "xnor_ops"] == 0


def test_weights_only_layers_gain_nothing_on_stripes():
    network, full = digits(None)
    _, tensors = digits("weights")
    cycles = [accelsim.simulate("stripes", network, tensors=t).layers["cycles"].tolist()
              for t in (full, tensors)]
    assert cycles[0] == cycles[1]   # Stripes serializes activations, not weights


def test_xnor_layers_refuse_a_batch_in_one_line():
    network, tensors = digits("xnor")
    with pytest.raises(AccelsimError, match="conv2.*batch 1") as info:
        accelsim.simulate("eyeriss", network, tensors=tensors, batch=2)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec, needle", [
    ({"kind": "binarize", "mode": "ternary"}, "mode"),
    ({"kind": "binarize", "layers": ["conv9"]}, "conv9"),
    ({"kind": "binarize", "layers": ["pool1"]}, "pool1"),
    ({"kind": "binarize", "alpha": 1}, "unknown option 'alpha'"),
])
def test_bad_specs_are_one_line_errors_naming_the_key(spec, needle):
    network, tensors = digits(None)
    with pytest.raises(WorkloadError) as info:
        apply_transform(network, tensors, spec)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_a_network_with_nothing_between_first_and_last_needs_named_layers():
    network = one_conv()
    tensors = make_tensors(network)
    with pytest.raises(WorkloadError, match="layers: .* name the layers") as info:
        apply_transform(network, tensors, {"kind": "binarize"})
    assert "\n" not in str(info.value)
    named = apply_transform(network, tensors, {"kind": "binarize", "layers": ["conv"]})
    assert named.precision["conv"].binarized == "xnor"


def test_command_line_runs_and_refuses_in_one_line(capsys):
    assert main(["run", "--workload", "digits_cnn", "--transform", "binarize:mode=xnor",
                 "-q"]) == 0
    assert "binarize(xnor" in capsys.readouterr().out
    assert main(["run", "--workload", "digits_cnn", "--transform",
                 "binarize:mode=ternary"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mode" in err[0] and "ternary" in err[0]


def test_shipped_fine_tuned_bwn_weights_classify_the_held_out_split(tmp_path):
    """``workloads/digits/digits_cnn_weights.npz`` (``train_binarized.py``), binarized as
    BWN: top-1 well above the fine-tuning-free model's chance level, and the simulated
    stripes agrees with the float forward pass."""
    network, original = digits(None)
    weights, biases, _ = load_weights_file(WORKLOADS / "digits" / "digits_cnn_weights.npz",
                                           network)
    tuned = apply_transform(network, replace(original, weights=weights, biases=biases),
                            {"kind": "binarize", "mode": "weights"})
    normalization = import_onnx(network.origin, network.input_shape).normalization
    records, right, path = np.load(WORKLOADS / "digits" / "test_set.npy"), 0, tmp_path / "d.png"
    for index, record in enumerate(records):
        Image.fromarray(record["picture"]).save(path)
        tensors = with_input(tuned, load_input(path, network.input_shape, normalization)[0],
                             "digit")
        logits = list(forward(network, tensors))[-1][1]
        right += int(np.argmax(logits)) == int(record["label"])
        if index < 3:
            simulated = accelsim.simulate("stripes", network, tensors=tensors,
                                          keep_outputs=True).outputs["fc2"].to_float()
            assert int(np.argmax(simulated)) == int(np.argmax(logits))
    assert right / len(records) > 0.9
