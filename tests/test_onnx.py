"""ONNX import, checked layer by layer against ONNX Runtime (the independent oracle).

Models are built here with the onnx helper API: one small CNN with every supported operator,
a VGG-style and a MobileNet-style model. Every layer's fp32 output from our kernels on
DianNao must equal ONNX Runtime's output for the same node.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import accelsim
from accelsim.cli import main
from accelsim.errors import WorkloadError
from accelsim.workload import load_network, load_tensors
from accelsim.workload.formats.onnx_graph import HANDLERS
from accelsim.workload.formats.onnx_model import SUPPORTED_OPS, import_onnx
from accelsim.workload.formats.onnx_support import OPERATORS, markdown_table
from accelsim.workload.layer import LAYER_KINDS
from tests.onnx_helpers import GraphBuilder, check_against_onnxruntime, onnxruntime_outputs
from tests.test_onnx_attention import ATTENTION_OPS
from tests.test_onnx_decoder import DECODER_OPS
from tests.test_onnx_elementwise import ELEMENTWISE_OPS
from tests.test_onnx_recurrent import RECURRENT_OPS


def every_op_model(path, opset: int = 13):
    """Conv (+BN, groups, strides, asymmetric and SAME padding), ReLU, ReLU6, max/avg pools
    (padding, ceil mode), residual Add, standalone BN, GlobalAveragePool, GlobalMaxPool,
    Flatten, Gemm (alpha, beta, transB), Reshape (its shape from a Constant node), MatMul +
    bias Add, Identity, Dropout. (Concat: test_concat_matches_onnxruntime.)"""
    g = GraphBuilder([1, 3, 14, 14])
    x = g.conv("x", 3, 8, 3, name="conv_bn", pads=[1, 1, 1, 1])
    x = g.node("Relu", [g.batch_norm(x, 8, name="bn1")], "relu1")
    y = g.conv(x, 8, 8, 3, groups=2, name="grouped", strides=[2, 2], pads=[0, 0, 1, 1],
               gain=12.0)   # large enough for ReLU6 to clamp
    y = g.clip6(y, name="relu6")
    y = g.conv(y, 8, 8, 3, groups=8, bias=False, name="depthwise", auto_pad="SAME_UPPER")
    y = g.node("Relu", [y], "relu2")
    pooled = g.node("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2],
                    ceil_mode=1)   # 14 -> 7 (floor mode: 6)
    shortcut = g.conv(pooled, 8, 8, 1, name="shortcut")
    z = g.node("Relu", [g.node("Add", [y, shortcut], "residual")], "relu3")
    z = g.batch_norm(z, 8, name="bn_alone")
    z = g.node("AveragePool", [z], "avgpool", kernel_shape=[2, 2], strides=[1, 1],
               pads=[0, 0, 1, 1])
    wide = g.node("GlobalMaxPool", [z], "gmax")
    z = g.node("GlobalAveragePool", [g.node("Identity", [z], "identity")], "gap")
    z = g.node("Add", [z, wide], "pool_sum")
    z = g.node("Flatten", [z], "flatten")
    z = g.node("Gemm", [z, g.weights((16, 8), 8), g.const(np.ones(16, np.float32))], "gemm",
               transB=1, alpha=0.5, beta=2.0)
    z = g.node("Relu", [g.node("Dropout", [z], "dropout")], "relu4")
    shape = g.node("Constant", [], "shape",
                   value=numpy_helper.from_array(np.array([1, -1], np.int64)))
    z = g.node("Reshape", [z, shape], "reshape")
    z = g.node("MatMul", [z, g.weights((16, 10), 16)], "matmul")
    z = g.node("Add", [z, g.const(np.linspace(-1, 1, 10).astype(np.float32))], "bias")
    return g.save(z, path, opset)


def vgg_style_model(path):
    g = GraphBuilder([1, 3, 32, 32], seed=1)
    x, channels = "x", 3
    for stage, width in enumerate((16, 32, 64), start=1):
        for index in (1, 2):
            x = g.conv(x, channels, width, 3, name=f"conv{stage}_{index}", pads=[1, 1, 1, 1])
            x = g.node("Relu", [g.batch_norm(x, width)], f"relu{stage}_{index}")
            channels = width
        x = g.node("MaxPool", [x], f"pool{stage}", kernel_shape=[2, 2], strides=[2, 2])
    x = g.node("Flatten", [x], "flatten")
    x = g.node("Relu", [g.node("Gemm", [x, g.weights((64, 1024), 1024),
                                        g.const(np.zeros(64, np.float32))], "fc1",
                               transB=1)], "relu_fc1")
    x = g.node("Gemm", [g.node("Dropout", [x], "drop"), g.weights((10, 64), 64),
                        g.const(np.zeros(10, np.float32))], "fc2", transB=1)
    return g.save(x, path)


def mobilenet_style_model(path):
    """MobileNet v2 style: ReLU6, inverted residual blocks (expand, depthwise, project)."""
    g = GraphBuilder([1, 3, 32, 32], seed=2)
    x = g.clip6(g.batch_norm(g.conv("x", 3, 16, 3, name="stem", strides=[2, 2],
                                    pads=[1, 1, 1, 1], gain=4.0), 16), "stem_relu6")
    channels = 16
    for block, (out, stride) in enumerate(((16, 1), (24, 2), (24, 1))):
        hidden = channels * 4
        y = g.clip6(g.batch_norm(g.conv(x, channels, hidden, 1, bias=False,
                                        name=f"b{block}_expand"), hidden))
        y = g.clip6(g.batch_norm(g.conv(y, hidden, hidden, 3, groups=hidden, bias=False,
                                        name=f"b{block}_dw", strides=[stride, stride],
                                        pads=[1, 1, 1, 1]), hidden))
        y = g.batch_norm(g.conv(y, hidden, out, 1, bias=False, name=f"b{block}_project"), out)
        x = g.node("Add", [x, y], f"b{block}_add") if stride == 1 and out == channels else y
        channels = out
    x = g.clip6(g.conv(x, channels, 64, 1, name="head"), "head_relu6")
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x], "gap")], "flatten")
    x = g.node("Gemm", [x, g.weights((10, 64), 64), g.const(np.zeros(10, np.float32))],
               "classifier", transB=1)
    return g.save(x, path)


# ---- ONNX Runtime checks -------------------------------------------------------------------

def test_every_supported_op_matches_onnxruntime(tmp_path):
    path = every_op_model(tmp_path / "every_op.onnx")
    errors = check_against_onnxruntime(path)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    # Concat: test_concat_matches_onnxruntime; the element-wise and the rearranging ones:
    # tests/test_onnx_elementwise.py and tests/test_onnx_decoder.py (each checks its models
    # cover them)
    covered_elsewhere = (set(ELEMENTWISE_OPS) | set(DECODER_OPS) | set(ATTENTION_OPS)
                         | set(RECURRENT_OPS) | {"QuantizeLinear", "DequantizeLinear"})  # int8
    assert ops | {"Concat"} | covered_elsewhere == set(SUPPORTED_OPS)
    relu6 = onnxruntime_outputs(path, load_tensors(load_network(path)).input, ["relu6_out"])
    assert np.mean(relu6["relu6_out"] == 6.0) > 0.05   # the clamp is exercised
    network = import_onnx(path).network
    assert [layer.kind for layer in network.layers].count("conv") == 5   # 4 + standalone BN
    assert network.layer("grouped").relu_max == 6.0
    assert network.layer("conv_bn").relu and not network.layer("shortcut").relu
    assert max(errors.values()) < 1e-4


def test_old_opset_attributes_match_onnxruntime(tmp_path):
    """Opset 9: Clip's bounds are attributes, not inputs."""
    g = GraphBuilder([1, 2, 8, 8])
    x = g.node("Clip", [g.conv("x", 2, 4, 3, name="conv", pads=[1, 1, 1, 1])], "clip",
               min=0.0, max=1.5)
    x = g.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
    path = g.save(x, tmp_path / "opset9.onnx", opset=9)
    check_against_onnxruntime(path)
    assert import_onnx(path).network.layer("conv").relu_max == 1.5


def test_vgg_style_model_matches_onnxruntime(tmp_path):
    errors = check_against_onnxruntime(vgg_style_model(tmp_path / "vgg.onnx"))
    assert len(errors) == 11   # 6 conv (BN and ReLU fused), 3 pools, 2 fc


def test_mobilenet_style_model_matches_onnxruntime(tmp_path):
    path = mobilenet_style_model(tmp_path / "mobilenet.onnx")
    check_against_onnxruntime(path)
    network = import_onnx(path).network
    assert network.layer("b1_dw").is_depthwise and network.layer("b1_dw").stride == (2, 2)
    assert [layer.kind for layer in network.layers].count("add") == 2


@pytest.mark.skipif("concat" not in LAYER_KINDS, reason="no concat layer kind")
def test_concat_matches_onnxruntime(tmp_path):
    g = GraphBuilder([1, 4, 8, 8])
    a = g.node("Relu", [g.conv("x", 4, 6, 1, name="branch_a")])
    b = g.node("Relu", [g.conv("x", 4, 5, 3, name="branch_b", pads=[1, 1, 1, 1])])
    x = g.node("Concat", [a, b], "concat", axis=1)
    x = g.conv(x, 11, 4, 3, name="after", pads=[1, 1, 1, 1])
    check_against_onnxruntime(g.save(x, tmp_path / "concat.onnx"))


def test_fixed16_run_of_an_imported_model_stays_close_to_onnxruntime(tmp_path):
    path = mobilenet_style_model(tmp_path / "mobilenet.onnx")
    network = load_network(path)
    tensors = load_tensors(network, seed=0)
    result = accelsim.simulate("diannao", network, tensors=tensors, keep_outputs=True)
    ours = result.outputs["classifier"].to_float().ravel()
    expected = onnxruntime_outputs(path, tensors.input, ["classifier_out"])["classifier_out"]
    assert np.abs(ours - expected.ravel()).max() < 0.01 * np.abs(expected).max()
    relu6 = result.outputs["stem"].to_float()
    assert relu6.max() <= 6.0 and relu6.min() >= 0.0 and np.mean(relu6 > 5.99) > 0.01


# ---- import details ------------------------------------------------------------------------

def test_imported_weights_are_the_models_own(tmp_path):
    path = vgg_style_model(tmp_path / "vgg.onnx")
    result = accelsim.simulate("diannao", path)
    assert result.meta["tensors"]["weights"] == f"imported: {path}"
    assert result.summary["tensors_weights"] == f"imported: {path}"
    model = import_onnx(path)
    tensors = load_tensors(model.network)
    assert tensors.weights["fc2"] is model.weights["fc2"]


def test_ceil_mode_pooling_keeps_the_onnx_output_size(tmp_path):
    g = GraphBuilder([1, 2, 112, 112])
    x = g.node("MaxPool", [g.conv("x", 2, 2, 1, name="c")], "pool", kernel_shape=[3, 3],
               strides=[2, 2], ceil_mode=1)
    layer = import_onnx(g.save(x, tmp_path / "ceil.onnx")).network.layer("pool")
    assert (layer.out_h, layer.out_w) == (56, 56) and layer.pad == (0, 0, 1, 1)


def _error(path) -> str:
    with pytest.raises(WorkloadError) as info:
        import_onnx(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_unsupported_op_is_one_line_naming_node_and_op(tmp_path, capsys):
    g = GraphBuilder([1, 3, 8, 8])
    x = g.node("LRN", [g.conv("x", 3, 4, 3, name="conv")], "norm", size=3)
    path = g.save(x, tmp_path / "lrn.onnx")
    message = _error(path)
    assert "node 'norm' (LRN)" in message and "not supported" in message
    assert main(["run", "--workload", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "LRN" in err[0] and "norm" in err[0]


@pytest.mark.parametrize("build, needle", [
    (lambda g: g.node("MaxPool", ["x"], "p", kernel_shape=[2, 2], dilations=[2, 2]),
     "dilations"),
    (lambda g: g.node("MaxPool", [g.node("Reshape", [g.conv("x", 3, 4, 3, name="c"), g.const(
        np.array([1, 4, 36], np.int64))], "r")], "p", kernel_shape=[2]), "[1, 4, 36] view"),
    (lambda g: g.node("AveragePool", ["x"], "p", kernel_shape=[2, 2], pads=[1, 1, 1, 1],
                      count_include_pad=1, ceil_mode=1), "count_include_pad"),
    (lambda g: g.node("Add", [g.conv("x", 3, 4, 1, name="c"),
                              g.const(np.ones((1, 1, 8, 8), np.float32))], "a"),
     "scalar or per-channel"),
    (lambda g: g.node("Div", [g.const(np.float32(2)), g.conv("x", 3, 4, 1, name="c")], "d"),
     "Div with a constant operand"),
    (lambda g: g.node("ReduceMean", [g.conv("x", 3, 4, 1, name="c")], "m", axes=[1]),
     "mean over H and W"),
])
def test_unsupported_features_are_named(tmp_path, build, needle):
    g = GraphBuilder([1, 3, 8, 8])
    assert needle in _error(g.save(build(g), tmp_path / "bad.onnx"))


def test_exporter_idioms_match_onnxruntime(tmp_path):
    """Inception's padded average counting the padding; DenseNet's concat of one tensor."""
    g = GraphBuilder([1, 3, 9, 9])
    x = g.node("AveragePool", [g.conv("x", 3, 4, 3, name="c")], "avg", kernel_shape=[3, 3],
               pads=[1, 1, 1, 1], strides=[2, 2], count_include_pad=1)
    x = g.node("Relu", [g.node("Concat", [x], "single", axis=1)], "relu")
    path = g.save(g.conv(x, 4, 2, 1, name="out"), tmp_path / "idioms.onnx")
    check_against_onnxruntime(path)
    network = import_onnx(path).network
    assert network.layer("avg").kind == "conv" and network.layer("avg").relu   # fused ReLU
    assert [layer.name for layer in network.layers] == ["c", "avg", "out"]


def test_symbolic_spatial_size_and_bad_files_are_clear_errors(tmp_path):
    g = GraphBuilder([1, 3, "height", 8])
    assert "fixed" in _error(g.save(g.conv("x", 3, 4, 1, name="c"), tmp_path / "sym.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert "not a readable ONNX model" in _error(junk)
    with pytest.raises(WorkloadError, match="not found"):
        import_onnx(tmp_path / "missing.onnx")


def test_the_readme_operator_table_is_the_importers():
    assert set(OPERATORS) == set(SUPPORTED_OPS) == set(HANDLERS)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("<!-- onnx-operators")
    block = readme[readme.index("\n", start) + 1:readme.index("<!-- /onnx-operators -->")]
    assert block.strip() == markdown_table(), (
        "README's ONNX operator table is stale: paste onnx_support.markdown_table()")


def test_cli_runs_an_onnx_model_on_an_npy_input(tmp_path, capsys):
    path = vgg_style_model(tmp_path / "vgg.onnx")
    array = np.random.default_rng(5).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", array)
    assert main(["run", "--workload", str(path), "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "out.csv")]) == 0
    out = capsys.readouterr().out
    assert "conv3_2" in out and f"array {tmp_path / 'x.npy'}" in out
    assert f"imported: {path}" in (tmp_path / "out.meta.json").read_text()
