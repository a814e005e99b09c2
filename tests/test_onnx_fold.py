"""What real exporters write: constant folding, symbolic input dims, the unsupported listing.

Every fold function is checked against ONNX Runtime running the same one-node model; the
models built here look like ``torch.onnx.export`` output (the ``x.view(x.size(0), -1)``
flatten chain, ``Identity`` over initializers, a symbolic batch) and must match ONNX Runtime
layer by layer on DianNao in fp32.
"""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tests.onnx_helpers as onnx_helpers
from accelsim.errors import AccelsimError, WorkloadError
from accelsim.workload import load_network, load_tensors
from accelsim.workload.formats.onnx_fold import FOLDABLE, FoldError, fold
from accelsim.workload.formats.onnx_model import import_onnx
from tests.onnx_helpers import GraphBuilder, check_against_onnxruntime

ort = pytest.importorskip("onnxruntime")

INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max
RNG = np.random.default_rng(7)
F = RNG.standard_normal((2, 3, 4)).astype(np.float32)
I = np.array([[5, -7, 3], [-8, 9, 2]], np.int64)   # noqa: E741 (an integer tensor)


def ints(*values) -> np.ndarray:
    return np.array(values, np.int64)


def _error(path, **kwargs) -> str:
    with pytest.raises(WorkloadError) as info:
        import_onnx(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


# ---- (b) each fold function against ONNX Runtime ---------------------------------------------

def case(op, *inputs, opset=13, **attrs):
    """One node ``op`` on constant ``inputs`` (None: an omitted optional input)."""
    return pytest.param(op, inputs, attrs, opset, id=f"{op}-opset{opset}-{next(_CASE_IDS)}")


_CASE_IDS = itertools.count()
CASES: list = []
CASES += [
    case("Identity", F),
    case("Constant", value=numpy_helper.from_array(I)),
    case("Constant", value_ints=[1, -1]),
    case("Constant", value_float=2.5),
    case("ConstantOfShape", ints(2, 3)),
    case("ConstantOfShape", ints(3), value=numpy_helper.from_array(ints(7))),
    case("Shape", F),
    case("Shape", F, opset=15, start=-2),
    case("Shape", F, opset=15, start=1, end=-1),
    case("Size", F),
    case("Gather", ints(1, 3, 5, 7), np.array(-1, np.int64)),
    case("Gather", F, ints(0, -1).reshape(1, 2), axis=-1),
    case("Cast", I, to=TensorProto.FLOAT),
    case("Cast", F * 3, to=TensorProto.INT64),   # truncates towards zero
    case("CastLike", I, F, opset=15),
    case("Slice", F, opset=9, starts=[1, -3], ends=[100, -1], axes=[0, -1]),
    case("Slice", F, ints(0), ints(-1), ints(-1)),
    case("Slice", np.arange(10, dtype=np.int64), ints(-1), ints(INT64_MIN), ints(0), ints(-2)),
    case("Slice", np.arange(10, dtype=np.int64), ints(8), ints(-100), None, ints(-3)),
    case("Slice", F, ints(1, 0), ints(INT64_MAX, 2), opset=11),
    case("Concat", F, F[:, :, :2], axis=-1),
    case("Unsqueeze", I, opset=11, axes=[0, -1]),
    case("Unsqueeze", I, ints(-1, 1)),
    case("Squeeze", F[:, :, :1], opset=11, axes=[-1]),
    case("Squeeze", F[:1, :, :1], ints(0, 2)),
    case("Squeeze", F[:1, :, :1]),
    case("Reshape", F, ints(0, -1)),
    case("Reshape", F, ints(-1, 2, 0)),
    case("Range", np.array(2, np.int64), np.array(15, np.int64), np.array(3, np.int64)),
    case("Range", np.array(10, np.int64), np.array(2, np.int64), np.array(-3, np.int64)),
    case("Range", np.float32(0.5), np.float32(3.2), np.float32(0.4)),
]
CASES += [
    case("Add", F, F[0]), case("Sub", I, I[0]), case("Mul", I, np.array(3, np.int64)),
    case("Div", I, ints(2, 2, -4)), case("Div", F, F[1] + 3),
    case("Neg", I), case("Abs", I), case("Floor", F * 2.5), case("Ceil", F * 2.5),
    case("Sqrt", np.abs(F)), case("Reciprocal", F + 5),
    case("Pow", np.abs(F), np.float32(1.5)), case("Pow", I, np.array(2, np.int64)),
    case("Min", F, F[0], np.float32(0.3)), case("Max", I, ints(0, 4, -1)),
    case("Equal", I, ints(5, 9, 2)), case("Less", F, F[1]), case("Greater", I, I[1]),
    case("LessOrEqual", I, I[0], opset=12), case("GreaterOrEqual", F, F[0], opset=12),
    case("Not", F > 0), case("And", F > 0, F < 1), case("Or", F > 1, F < -1),
    case("Where", F > 0, F, -F),
    case("Expand", np.arange(3, dtype=np.float32).reshape(3, 1), ints(2, 1, 4)),
    case("Expand", I, ints(3, 1, 1)),
    case("Transpose", F, perm=[2, 0, 1]), case("Transpose", F),
    case("Flatten", F, axis=0), case("Flatten", F, axis=2), case("Flatten", F, axis=-1),
    case("Tile", I, ints(2, 1)),
    case("Clip", F, opset=9, min=-0.5, max=0.5),
    case("Clip", F, np.float32(-0.2), np.float32(0.4)),
    case("Clip", F, np.float32(0.1), None),
    case("Clip", I, None, np.array(3, np.int64)),
    case("DequantizeLinear", np.array([[-128, 5], [127, 0]], np.int8), np.float32(0.05),
         np.int8(3)),
    case("DequantizeLinear", np.array([[0, 200], [255, 7]], np.uint8),
         np.array([0.5, 0.25], np.float32), np.array([128, 0], np.uint8), axis=0),
    case("DequantizeLinear", np.array([[1, -2], [3, -4]], np.int8), np.float32(2.0)),
    case("QuantizeLinear", F * 40, np.float32(0.3), np.int8(-2)),
    case("QuantizeLinear", F * 40, np.float32(0.3), np.uint8(100)),
    case("QuantizeLinear", F[0] * 9, np.array([0.1, 0.2, 0.3, 0.4], np.float32),
         np.array([0, 1, -1, 2], np.int8), axis=1),
]


def run_one_node(op, inputs, attrs, opset):
    """Our fold and ONNX Runtime's outputs for a one-node model on ``inputs``."""
    names = [f"in{i}" if value is not None else "" for i, value in enumerate(inputs)]
    feeds = {name: np.asarray(value) for name, value in zip(names, inputs, strict=True)
             if name}
    node = helper.make_node(op, names, ["y"], name="n", **attrs)
    graph = helper.make_graph(
        [node], "one", [helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape)
            for name, value in feeds.items()], [helper.make_empty_tensor_value_info("y")])
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets))
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    expected = session.run(None, feeds)[0]
    ours = fold(node, feeds, lambda name: None)
    return ours, expected


@pytest.mark.parametrize("op, inputs, attrs, opset", CASES)
def test_fold_matches_onnxruntime(op, inputs, attrs, opset):
    ours, expected = run_one_node(op, inputs, attrs, opset)
    assert set(ours) == {"y"}
    got = ours["y"]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    else:
        np.testing.assert_array_equal(got, expected)


def test_every_foldable_op_is_checked_against_onnxruntime():
    assert {param.values[0] for param in CASES} == FOLDABLE


def test_shape_folds_a_feature_map_and_nothing_else_does():
    shape = helper.make_node("Shape", ["fm"], ["s"], start=1)
    assert fold(shape, {}, lambda n: [1, 8, 5, 5])["s"].tolist() == [8, 5, 5]
    size = helper.make_node("Size", ["fm"], ["n"])
    assert fold(size, {}, lambda n: [1, 40])["n"] == 40
    with pytest.raises(FoldError, match="'fm'"):
        fold(shape, {}, lambda n: None)
    identity = helper.make_node("Identity", ["fm"], ["y"])
    assert fold(identity, {}, lambda n: [1, 8, 5, 5]) is None   # a feature map: the handler's
    relu = helper.make_node("Relu", ["c"], ["y"])
    assert fold(relu, {"c": F}, lambda n: None) is None          # not foldable
    custom = helper.make_node("Identity", ["c"], ["y"], domain="com.example")
    assert fold(custom, {"c": F}, lambda n: None) is None


# ---- (a) an exported-looking CNN -----------------------------------------------------------

def exported_cnn(path):
    """Identity-over-initializer weights, a Constant -> ConstantOfShape -> Cast -> Slice ->
    Squeeze chain for ReLU6's bound, folded bias arithmetic, a Shape read of a pre-activation
    tensor and the ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` flatten; symbolic
    batch."""
    g = GraphBuilder(["batch", 3, 12, 12], seed=3)
    const = lambda value, name: g.node(  # noqa: E731
        "Constant", [], name, value=numpy_helper.from_array(np.asarray(value)))
    w1 = g.node("Identity", [g.weights((8, 3, 3, 3), 27, gain=8.0)], "conv1.weight")
    b1 = g.node("Identity", [g.const(RNG.normal(0, 0.1, 8).astype(np.float32))], "conv1.bias")
    x = g.node("Conv", ["x", w1, b1], "conv1", pads=[1, 1, 1, 1])
    sixes = g.node("ConstantOfShape", [const(ints(4), "four")], "sixes",
                   value=numpy_helper.from_array(ints(6)))
    six = g.node("Slice", [g.node("Cast", [sixes], "to_float", to=TensorProto.FLOAT),
                           const(ints(1), "start"), const(ints(2), "end")], "pick")
    six = g.node("Squeeze", [six, const(ints(0), "axis0")], "scalar6")
    zero = g.node("Constant", [], "zero", value_float=0.0)
    x = g.node("Clip", [x, zero, six], "relu6")
    x = g.node("MaxPool", [x], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    conv2 = g.conv(x, 8, 12, 3, name="conv2", pads=[1, 1, 1, 1])
    batch = g.node("Gather", [g.node("Shape", [conv2], "shape"), const(np.int64(0), "i0")],
                   "batch_size", axis=0)
    x = g.node("MaxPool", [g.node("Relu", [conv2], "relu2")], "pool2", kernel_shape=[2, 2],
               strides=[2, 2])
    target = g.node("Concat", [g.node("Unsqueeze", [batch, const(ints(0), "axis")], "unsq"),
                               const(ints(-1), "minus1")], "target", axis=0)
    x = g.node("Reshape", [x, target], "flatten")
    bias = g.node("Mul", [g.node("Add", [g.const(np.ones(16, np.float32)),
                                         g.const(np.linspace(0, 1, 16).astype(np.float32))],
                                 "bias_sum"), const(np.float32(0.5), "half")], "bias_scale")
    w3 = g.node("Identity", [g.weights((16, 108), 108)], "fc.weight")
    x = g.node("Relu", [g.node("Gemm", [x, w3, bias], "fc", transB=1)], "relu3")
    w4 = g.node("Div", [g.weights((16, 10), 16), const(np.float32(2.0), "two")], "w4")
    return g.save(g.node("MatMul", [x, w4], "logits"), path)


def test_exported_cnn_folds_and_matches_onnxruntime(tmp_path):
    path = exported_cnn(tmp_path / "exported.onnx")
    check_against_onnxruntime(path)
    model = import_onnx(path)
    network = model.network
    assert [layer.name for layer in network.layers] == [
        "conv1", "pool1", "conv2", "pool2", "fc", "logits"]
    assert network.layer("conv1").relu_max == 6.0       # the folded bound, fused
    assert network.layer("conv2").relu                   # the Shape read does not block it
    assert network.input_shape == (3, 12, 12)
    onnx_model = onnx.load(str(path))
    initializers = {t.name: numpy_helper.to_array(t) for t in onnx_model.graph.initializer}
    fc_weight = initializers[next(n.input[0] for n in onnx_model.graph.node
                                  if n.name == "fc.weight")]
    np.testing.assert_array_equal(model.weights["fc"].reshape(16, 108), fc_weight)
    np.testing.assert_allclose(model.biases["fc"], (1 + np.linspace(0, 1, 16)) * 0.5,
                               rtol=1e-6)


def test_a_fold_that_breaks_the_rules_names_the_node(tmp_path):
    g = GraphBuilder([1, 3, 8, 8])
    big = g.node("ConstantOfShape", [g.const(ints(1 << 20, 1 << 20))], "huge")
    size = g.node("Cast", [g.node("Size", [big], "n")], "cast", to=TensorProto.FLOAT)
    x = g.node("Add", [g.conv("x", 3, 4, 1, name="c"), size], "a")
    message = _error(g.save(x, tmp_path / "huge.onnx"))
    assert "node 'huge' (ConstantOfShape)" in message and "larger than" in message


# ---- (c) every unsupported node at once ----------------------------------------------------

def test_every_unsupported_operator_is_listed_in_one_error(tmp_path):
    """No checker: a model as a user might bring it, with a custom-domain node."""
    w = numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w")
    node = helper.make_node
    nodes = [node("Identity", ["w"], ["w_id"], name="weights"),
             node("Conv", ["x", "w_id"], ["c"], name="conv"),
             node("LRN", ["c"], ["l1"], name="lrn_a", size=3),
             node("Shape", ["l1"], ["s"], name="shape"),
             node("LpNormalization", ["l1"], ["r1"], name="norm_a"),
             node("LRN", ["r1"], ["l2"], name="lrn_b", size=3),
             node("FusedConv", ["l2", "w"], ["f"], name="fused", domain="com.microsoft"),
             node("Abs", ["f"], ["t"], name="t"),
             node("LpNormalization", ["t"], ["r2"], name="norm_b"),
             node("LRN", ["r2"], ["l3"], name="lrn_c", size=3)]
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 3, 8, 8])], [helper.make_empty_tensor_value_info("l3")],
        [w, scales])
    path = tmp_path / "gap.onnx"
    onnx.save(helper.make_model(graph), str(path))
    message = _error(path)
    listing, supported = message.split("; supported: ")
    assert listing.endswith(
        "4 unsupported operators: LRN (x3, first 'lrn_a'), LpNormalization (x2, first "
        "'norm_a'), com.microsoft:FusedConv (x1, first 'fused'), Abs on feature maps (x1, "
        "first 't')")
    assert supported.startswith("Conv, ") and "folded when their inputs are constants" in supported
    assert "Identity" not in listing and "Shape" not in listing


def test_one_foldable_op_on_a_feature_map_is_named(tmp_path):
    g = GraphBuilder([1, 3, 8, 8])
    x = g.node("Abs", [g.conv("x", 3, 4, 1, name="c")], "t")
    message = _error(g.save(x, tmp_path / "t.onnx"))
    assert "node 't' (Abs): operator 'Abs' is not supported on feature maps" in message


# ---- (d) symbolic input dims ---------------------------------------------------------------

def symbolic_cnn(path, dims=("N", 3, "height", "width")):
    g = GraphBuilder(list(dims), seed=4)
    x = g.node("Relu", [g.conv("x", 3, 6, 3, name="conv1", pads=[1, 1, 1, 1])], "relu1")
    x = g.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
    x = g.node("GlobalAveragePool", [g.conv(x, 6, 8, 3, name="conv2")], "gap")
    x = g.node("Flatten", [x], "flatten")
    return g.save(g.node("Gemm", [x, g.weights((5, 8), 8)], "fc", transB=1), path)


def test_symbolic_dims_are_refused_with_the_dim_named(tmp_path):
    message = _error(symbolic_cnn(tmp_path / "sym.onnx"))
    assert "input 'x' dim 2 ('height') is symbolic" in message
    assert "--input-shape C,H,W" in message


@pytest.mark.parametrize("shape", [(3, 16, 16), (3, 20, 12)])
def test_symbolic_dims_take_the_given_shape_and_match_onnxruntime(tmp_path, monkeypatch, shape):
    path = symbolic_cnn(tmp_path / "sym.onnx")
    network = load_network(path, input_shape=shape)
    assert network.input_shape == shape
    assert network.layer("pool").out_h == shape[1] // 2
    assert load_tensors(network).input.shape == shape      # re-imported with its own shape
    monkeypatch.setattr(onnx_helpers, "import_onnx", lambda p: import_onnx(p, shape))
    check_against_onnxruntime(path)


def test_the_import_cache_keys_on_the_shape(tmp_path):
    path = symbolic_cnn(tmp_path / "sym.onnx")
    small, large = import_onnx(path, (3, 8, 8)), import_onnx(path, [3, 16, 16])
    assert small.network.input_shape == (3, 8, 8) and large.network.input_shape == (3, 16, 16)
    assert import_onnx(path, (3, 8, 8)) is small
    fixed = symbolic_cnn(tmp_path / "fixed.onnx", dims=(1, 3, 8, 8))
    assert import_onnx(fixed) is import_onnx(fixed, (3, 8, 8))   # the same import


@pytest.mark.parametrize("shape, needles", [
    ((4, 16, 16), ["dim 1 is fixed at 3", "says 4"]),
    ((3, 16), ["(3, 16)", "C,H,W"]),
    ((3, 0, 16), ["positive"]),
])
def test_a_contradicting_input_shape_is_refused(tmp_path, shape, needles):
    message = _error(symbolic_cnn(tmp_path / "sym.onnx"), input_shape=shape)
    assert all(needle in message for needle in needles), message


def test_a_2d_input_takes_k(tmp_path):
    g = GraphBuilder(["batch", "features"])
    x = g.node("Gemm", ["x", g.weights((4, 12), 12)], "fc", transB=1)
    path = g.save(x, tmp_path / "mlp.onnx")
    assert "(--input-shape K)" in _error(path)
    network = import_onnx(path, (12,)).network
    assert network.input_shape == (12, 1, 1) and network.layer("fc").in_channels == 12
    assert import_onnx(path, network.input_shape).network == network


def test_an_input_shape_for_a_yaml_workload_is_refused():
    with pytest.raises(AccelsimError, match="only for an ONNX model"):
        load_network("vgg16", input_shape=(3, 32, 32))


# ---- network names (issue 27) --------------------------------------------------------------

@pytest.mark.parametrize("graph_name, expected", [
    ("main_graph", "resnet_a"), ("torch-jit-export", "resnet_a"), ("torch_jit", "resnet_a"),
    ("", "resnet_a"), ("my_resnet", "my_resnet")])
def test_generic_graph_names_become_the_file_stem(tmp_path, graph_name, expected):
    g = GraphBuilder([1, 3, 8, 8])
    model = g.model(g.conv("x", 3, 4, 3, name="c"))
    model.graph.name = graph_name
    onnx.save(model, str(tmp_path / "resnet_a.onnx"))
    assert import_onnx(tmp_path / "resnet_a.onnx").network.name == expected
