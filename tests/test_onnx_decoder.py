"""Decoder and ShuffleNet structures from ONNX: ConvTranspose, Resize, channel Split / Slice
and the Reshape-Transpose-Reshape channel shuffle, checked against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import WorkloadError
from accelsim.workload.formats.onnx_model import import_onnx
from tests.onnx_helpers import (
    GraphBuilder,
    assert_fp32_close,
    check_against_onnxruntime,
    cosine,
    final_outputs,
)

DECODER_OPS = ("ConvTranspose", "Resize", "Upsample", "Split", "Slice", "Transpose", "Pad")
"""The operators these models exercise (tests/test_onnx.py covers the rest)."""


def _shuffle(g: GraphBuilder, x: str, channels: int, hw: int, groups: int = 2) -> str:
    view = g.node("Reshape", [x, g.const(np.array([1, groups, channels // groups, hw, hw]))])
    view = g.node("Transpose", [view], perm=[0, 2, 1, 3, 4])
    return g.node("Reshape", [view, g.const(np.array([1, -1, hw, hw]))], name="shuffle")


def shufflenet_block(path, opset: int = 13):
    """A ShuffleNetV2 unit twice: split the channels (Split, then a legacy Slice pair), run
    one half through 1x1 - depthwise 3x3 - 1x1, concat, shuffle."""
    g = GraphBuilder([1, 8, 10, 10], seed=7)
    x = g.node("Relu", [g.conv("x", 8, 16, 1)])
    left, right = "split_a", "split_b"
    g.nodes.append(_node("Split", [x, g.const(np.array([8, 8]))], [left, right], axis=1))
    y = g.node("Relu", [g.conv(right, 8, 8, 1)])
    y = g.conv(y, 8, 8, 3, groups=8, pads=[1, 1, 1, 1])
    y = g.node("Relu", [g.conv(y, 8, 8, 1)])
    x = _shuffle(g, g.node("Concat", [left, y], axis=1), 16, 10)
    a = g.node("Slice", [x, g.const(np.array([0])), g.const(np.array([8])),
                         g.const(np.array([1]))], name="first_half")
    b = g.node("Slice", [x, g.const(np.array([8])), g.const(np.array([2**62])),
                         g.const(np.array([-3]))], name="second_half")
    y = g.node("Relu", [g.conv(b, 8, 8, 1)])
    return g.save(g.node("Concat", [y, a], axis=1, name="out"), path, opset=opset)


def decoder(path):
    """A U-Net / FPN decoder: two encoder stages, a stride-2 ConvTranspose (with padding and
    output padding) concatenated with the skip, a grouped and dilated ConvTranspose, and an
    FPN-style nearest x2 Resize added to a lateral 1x1 conv."""
    g = GraphBuilder([1, 4, 12, 12], seed=9)
    skip = g.node("Relu", [g.conv("x", 4, 8, 3, pads=[1, 1, 1, 1])])
    down = g.node("MaxPool", [skip], kernel_shape=[2, 2], strides=[2, 2])
    deep = g.node("Relu", [g.conv(down, 8, 16, 3, pads=[1, 1, 1, 1])])
    up = g.node("ConvTranspose", [deep, g.weights((16, 8, 3, 3), 16 * 9),
                                  g.const(np.full(8, 0.1, np.float32))], name="up",
                strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])
    x = g.node("Relu", [g.conv(g.node("Concat", [up, skip], axis=1), 16, 8, 3,
                                pads=[1, 1, 1, 1])])
    x = g.node("ConvTranspose", [x, g.weights((8, 2, 3, 3), 8 * 9)], name="grouped_up",
               group=4, dilations=[2, 2], pads=[2, 2, 2, 2])
    coarse = g.conv(g.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2]), 8, 8, 1)
    fine = g.node("Resize", [coarse, "", g.const(np.array([1, 1, 2, 2], np.float32))],
                  name="resize", mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return g.save(g.node("Add", [fine, g.conv(x, 8, 8, 1)], name="fpn"), path, opset=13)


def _node(op, inputs, outputs, **attrs):
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=f"{op.lower()}_node", **attrs)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decoder")
    return {"shufflenet": shufflenet_block(folder / "shuffle.onnx"),
            "decoder": decoder(folder / "decoder.onnx")}


def tf_style_padding(path):
    """TensorFlow's exports: an explicit Pad (opset 11 inputs, then opset 2-style
    attributes in a second model) before a 'valid' strided conv."""
    g = GraphBuilder([1, 3, 9, 9], seed=17)
    x = g.node("Pad", ["x", g.const(np.array([0, 0, 1, 2, 0, 0, 2, 1]))], "pad",
               mode="constant")
    x = g.conv(x, 3, 4, 3, name="conv", strides=[2, 2])
    x = g.node("Pad", [x, g.const(np.array([0, 0, 1, 1, 0, 0, 1, 1])),
                       g.const(np.float32(0.0))], "pad2")
    return g.save(g.conv(x, 4, 2, 3, name="out", pads=[1, 0, 0, 1]), path, opset=13)


def test_a_pad_before_a_conv_joins_its_padding(tmp_path):
    path = tf_style_padding(tmp_path / "tf.onnx")
    check_against_onnxruntime(path)
    network = import_onnx(path).network
    assert [layer.name for layer in network.layers] == ["conv", "out"]
    assert network.layer("conv").pad == (1, 2, 2, 1)
    assert network.layer("out").pad == (2, 1, 1, 2)


def upsample_opset9(path):
    """The pre-Resize operator: Upsample with a scales input (opset 9), 2 x 3."""
    g = GraphBuilder([1, 3, 5, 4], seed=11)
    x = g.node("Upsample", [g.conv("x", 3, 4, 3, pads=[1, 1, 1, 1]),
                            g.const(np.array([1, 1, 2, 3], np.float32))], "up", mode="nearest")
    return g.save(g.conv(x, 4, 2, 3, name="out"), path, opset=9)


def test_the_models_cover_every_rearranging_operator(models, tmp_path):
    import onnx

    paths = [*models.values(), upsample_opset9(tmp_path / "upsample.onnx"),
             tf_style_padding(tmp_path / "tf.onnx")]
    ops = {node.op_type for path in paths for node in onnx.load(str(path)).graph.node}
    assert set(DECODER_OPS) <= ops


def test_opset9_upsample_matches_onnxruntime(tmp_path):
    path = upsample_opset9(tmp_path / "upsample.onnx")
    check_against_onnxruntime(path)
    assert import_onnx(path).network.layer("up").scale == (2, 3)


@pytest.mark.parametrize("name", ["shufflenet", "decoder"])
def test_every_layer_matches_onnxruntime(models, name):
    assert max(check_against_onnxruntime(models[name]).values()) < 1e-4


def test_the_structures_become_layout_steps_and_convolutions(models):
    shuffle = import_onnx(models["shufflenet"]).network
    kinds = [layer.kind for layer in shuffle.layers]
    assert kinds.count("slice") == 4 and kinds.count("shuffle") == 1
    assert shuffle.layer("second_half").offset == 8
    assert shuffle.layer("shuffle").groups == 2
    decoded = import_onnx(models["decoder"]).network
    zeros = [layer for layer in decoded.layers if layer.kind == "upsample"
             and layer.function == "zeros"]
    assert [layer.scale for layer in zeros] == [(2, 2)]   # the stride-1 one needs none
    up = decoded.layer("up")
    assert up.kind == "conv" and up.in_shape == (16, 11, 11) and up.out_shape == (8, 12, 12)
    assert decoded.layer("grouped_up").groups == 4 and decoded.layer("grouped_up").kernel_h == 5
    assert decoded.layer("resize").function == "nearest"


@pytest.mark.parametrize("arch", ["cnvlutin", "eyeriss", "systolic", "scnn"])
def test_final_outputs_match_onnxruntime_in_fixed16(models, arch):
    for path in models.values():
        ours, theirs, _ = final_outputs(path, arch, "fixed16", seed=2)
        assert cosine(ours, theirs) >= 0.999
        assert_fp32_close(*final_outputs(path, arch, "fp32", seed=2)[:2])


@pytest.mark.parametrize(("build", "message"), [
    (lambda g, x: g.node("Resize", [x, "", g.const(np.array([1, 1, 2, 2], np.float32))],
                         "r", mode="cubic"), "only nearest or linear resizing"),
    (lambda g, x: g.node("Resize", [x, "", g.const(np.array([1, 1, 1.5, 1.5], np.float32))],
                         "r", mode="nearest"), "not a repetition"),
    (lambda g, x: g.node("Transpose", [x], "t", perm=[0, 1, 3, 2]), "view of a feature map"),
    (lambda g, x: g.node("MaxPool", [g.node("Pad", [x, g.const(np.array([0, 0, 1, 1, 0, 0, 1,
                                                                        1]))], "p")], "m",
                         kernel_shape=[2, 2]), "only a Conv may read"),
    (lambda g, x: g.node("Pad", [x, g.const(np.array([0, 0, 1, 1, 0, 0, 1, 1]))], "p",
                         mode="reflect"), "only zero padding"),
    (lambda g, x: g.node("Slice", [x, g.const(np.array([0])), g.const(np.array([2])),
                                   g.const(np.array([2]))], "s"), "slice along axis 2"),
    (lambda g, x: g.node("ConvTranspose", [x, g.weights((4, 4, 3, 3), 36)], "ct",
                         output_shape=[8, 8]), "output_shape"),
    (lambda g, x: g.node("ConvTranspose", [x, g.weights((4, 4, 3, 3), 36)], "ct",
                         pads=[3, 3, 3, 3]), "larger than the kernel"),
])
def test_unsupported_forms_are_named(tmp_path, build, message):
    g = GraphBuilder([1, 4, 6, 6])
    path = tmp_path / "bad.onnx"
    try:
        g.save(build(g, g.conv("x", 4, 4, 1, name="c")), path)
    except Exception:   # ONNX's own checker refuses it first: build the file unchecked
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph(g.nodes, "bad", [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, [1, 4, 6, 6])], [helper.make_tensor_value_info(
                g.nodes[-1].output[0], TensorProto.FLOAT, None)], g.initializers)
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                    ir_version=8), str(path))
    with pytest.raises(WorkloadError, match=message):
        import_onnx(path)
