"""Mobile CNN structures exported to ONNX (hard-swish, squeeze-and-excite, swish, arithmetic
with constants, softmax) import whole and match ONNX Runtime on several cores."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import WorkloadError
from accelsim.workload.formats.onnx_model import import_onnx
from tests.onnx_helpers import (
    CORES,
    GraphBuilder,
    assert_fp32_close,
    check_against_onnxruntime,
    cosine,
    final_outputs,
)

ELEMENTWISE_OPS = ("Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu", "Elu", "PRelu",
                   "Softmax", "Mul", "Sub", "Div", "Max", "Min", "ReduceMean", "Erf", "Gelu",
                   "LayerNormalization")
"""The operators these models exercise (tests/test_onnx.py covers the rest)."""


def _squeeze_excite(g: GraphBuilder, x: str, channels: int, gate: str) -> str:
    """GlobalAveragePool -> 1x1 conv -> ReLU -> 1x1 conv -> gate -> Mul (x, gate)."""
    s = g.node("GlobalAveragePool", [x])
    s = g.node("Relu", [g.conv(s, channels, channels // 4, 1)])
    s = g.conv(s, channels // 4, channels, 1)
    s = (g.node("HardSigmoid", [s], alpha=1 / 6, beta=0.5) if gate == "hard"
         else g.node("Sigmoid", [s]))
    return g.node("Mul", [s, x], name="se_scale")   # gate first, as exporters often write it


def mobilenet_v3_block(path):
    """Conv-BN-HardSwish, depthwise Conv-BN-HardSwish, SE with HardSigmoid, 1x1 Conv-BN,
    residual Add, then the classifier: pool, Gemm, HardSwish, Gemm, Softmax."""
    g = GraphBuilder([1, 8, 14, 14], seed=3)
    x = g.node("HardSwish", [g.batch_norm(g.conv("x", 8, 16, 1, bias=False), 16)])
    x = g.node("HardSwish", [g.batch_norm(g.conv(x, 16, 16, 3, groups=16, pads=[1, 1, 1, 1],
                                                 bias=False), 16)])
    x = _squeeze_excite(g, x, 16, "hard")
    x = g.batch_norm(g.conv(x, 16, 8, 1, bias=False), 8)
    x = g.node("Add", [x, "x"])
    x = g.node("ReduceMean", [x], axes=[2, 3], keepdims=0)
    x = g.node("HardSwish", [g.node("Gemm", [x, g.weights((20, 8), 8)], transB=1)])
    x = g.node("Gemm", [x, g.weights((10, 20), 20), g.const(np.zeros(10, np.float32))],
               transB=1)
    return g.save(g.node("Softmax", [x], name="prob"), path, opset=14)


def efficientnet_block(path):
    """Swish as x * Sigmoid(x), SE with Sigmoid, arithmetic with constants (the
    normalisation an exporter leaves in: (x - mean) / std, scaled, shifted), LeakyRelu,
    Tanh, Elu and a PRelu with one slope."""
    g = GraphBuilder([1, 3, 12, 12], seed=5)
    x = g.node("Div", [g.node("Sub", ["x", g.const(np.float32(0.45))]),
                       g.const(np.array([0.2, 0.25, 0.3], np.float32).reshape(1, 3, 1, 1))])
    c = g.conv(x, 3, 12, 3, pads=[1, 1, 1, 1])
    x = g.node("Mul", [c, g.node("Sigmoid", [c])], name="swish")
    x = _squeeze_excite(g, x, 12, "sigmoid")
    x = g.node("Mul", [g.conv(x, 12, 12, 1), g.const(np.float32(0.5))])   # folds into conv
    x = g.node("Add", [x, g.const(np.linspace(-0.2, 0.2, 12, dtype=np.float32)
                                  .reshape(1, 12, 1, 1))])                  # folds too
    x = g.node("LeakyRelu", [x], alpha=0.1)
    x = g.node("Sub", [g.const(np.float32(1.0)), x])                        # c - x: a layer
    x = g.node("Tanh", [x])
    x = g.node("Elu", [g.conv(x, 12, 6, 1)], alpha=0.8)
    x = g.node("PRelu", [x, g.const(np.array([0.25], np.float32))])
    x = g.node("Max", [x, g.node("Mul", [x, g.const(np.float32(-1.0))])])   # |x|
    x = g.node("Min", [x, g.node("Mul", [x, g.const(np.float32(0.5))])])
    return g.save(x, path, opset=13)


def convnext_block(path):
    """ConvNeXt as torchvision exports it: depthwise 7x7 conv, a channels-last view
    (Transpose [0, 2, 3, 1]) read by LayerNormalization and the MatMul 'linear' layers, GELU
    written out with Erf, back to channels first, a layer scale and the residual; then
    LayerNorm2d on the pooled map and a Gelu operator (opset 20)."""
    g = GraphBuilder([1, 8, 9, 9], seed=13)
    x = g.conv("x", 8, 8, 7, groups=8, pads=[3, 3, 3, 3])
    x = g.node("Transpose", [x], perm=[0, 2, 3, 1])

    def layer_norm(y, channels):
        return g.node("LayerNormalization", [y, g.const(g.rng.uniform(0.5, 1.5, channels)
                                                        .astype(np.float32)),
                                             g.const(g.rng.normal(0, 0.1, channels)
                                                     .astype(np.float32))],
                      axis=-1, epsilon=1e-6)

    x = g.node("Add", [g.const(np.linspace(-0.1, 0.1, 16, dtype=np.float32)),
                       g.node("MatMul", [layer_norm(x, 8), g.weights((8, 16), 8)])])
    erf = g.node("Erf", [g.node("Div", [x, g.const(np.float32(1.4142135))])])
    x = g.node("Mul", [g.node("Mul", [x, g.node("Add", [erf, g.const(np.float32(1.0))])]),
                       g.const(np.float32(0.5))])
    x = g.node("MatMul", [x, g.weights((16, 8), 16)])
    x = g.node("Transpose", [x], perm=[0, 3, 1, 2])
    x = g.node("Add", [g.node("Mul", [g.const(np.full((8, 1, 1), 0.3, np.float32)), x]), "x"])
    x = g.node("Transpose", [g.node("GlobalAveragePool", [x])], perm=[0, 2, 3, 1])
    x = g.node("Transpose", [layer_norm(x, 8)], perm=[0, 3, 1, 2])
    x = g.node("Gemm", [g.node("Flatten", [x]), g.weights((6, 8), 8)], transB=1)
    return g.save(g.node("Gelu", [x], name="gelu"), path, opset=20)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mobile")
    return {"mobilenet_v3": mobilenet_v3_block(folder / "mbv3.onnx"),
            "efficientnet": efficientnet_block(folder / "effnet.onnx"),
            "convnext": convnext_block(folder / "convnext.onnx")}


def test_the_blocks_cover_every_element_wise_operator(models):
    import onnx

    ops = {node.op_type for path in models.values() for node in onnx.load(str(path)).graph.node}
    assert set(ELEMENTWISE_OPS) <= ops


@pytest.mark.parametrize("name", ["mobilenet_v3", "efficientnet", "convnext"])
def test_every_layer_matches_onnxruntime(models, name):
    errors = check_against_onnxruntime(models[name])
    assert max(errors.values()) < 1e-4


def test_the_blocks_import_whole_with_the_expected_layers(models):
    mbv3 = import_onnx(models["mobilenet_v3"]).network
    kinds = [layer.kind for layer in mbv3.layers]
    assert kinds.count("act") == 4 and kinds.count("eltwise") == 1 and kinds[-1] == "softmax"
    scale = mbv3.layer("se_scale")
    assert scale.function == "mul" and scale.in_shape == (16, 14, 14)
    assert mbv3.layer(scale.inputs[1]).out_shape == (16, 1, 1)   # the gate, broadcast
    effnet = import_onnx(models["efficientnet"]).network
    functions = [layer.function for layer in effnet.layers if layer.kind == "act"]
    assert functions == ["sigmoid", "sigmoid", "leaky_relu", "tanh", "elu", "leaky_relu"]
    # (x - m) / s on the input is one depthwise 1x1 layer (the Div folds into the Sub's);
    # so are c - x, -x and 0.5 x after element-wise layers; the Mul and Add after a conv
    # fold into it.
    affine = [layer for layer in effnet.layers if layer.kind == "conv" and layer.groups > 1]
    assert len(affine) == 4


@pytest.mark.parametrize("arch", CORES)
@pytest.mark.parametrize("precision", ["fp32", "fixed16"])
def test_the_final_output_matches_onnxruntime_on_each_core(models, arch, precision):
    for path in models.values():
        ours, theirs, result = final_outputs(path, arch, precision, seed=1)
        if precision == "fp32":
            assert_fp32_close(ours, theirs)
        else:
            assert cosine(ours, theirs) >= 0.999, (path.name, arch, cosine(ours, theirs))
        rows = result.layers
        own = {f"{result.meta['core']}.activation"} if "activation_unit" in result.meta else set()
        host = rows[rows["kind"].isin(["eltwise", "softmax"])]
        assert (host["ran_on"] == "host").all() and len(host) > 0
        assert set(rows.loc[rows["kind"] == "act", "ran_on"]) <= {"host"} | own


@pytest.mark.parametrize("arch", ["diannao", "cnvlutin"])
def test_nfu3s_table_keeps_the_final_output_close(models, arch):
    """As shipped, NFU-3 interpolates sigmoid and tanh with 16 segments: the outputs move
    (the swish blocks most), but stay within cosine 0.99 of ONNX Runtime's."""
    moved = 0.0
    for path in models.values():
        ours, theirs, result = final_outputs(path, arch, "fixed16", seed=1, table=True)
        exact, _, _ = final_outputs(path, arch, "fixed16", seed=1)
        assert cosine(ours, theirs) >= 0.99, (path.name, arch, cosine(ours, theirs))
        moved = max(moved, float(np.abs(ours - exact).max()))
        assert result.meta["activation_unit"]["segments"] == 16
    assert moved > 0   # the table is not the function


def test_unsupported_element_wise_forms_name_the_node(tmp_path):
    g = GraphBuilder([1, 4, 6, 6])
    x = g.node("PRelu", [g.conv("x", 4, 4, 1),
                         g.const(np.array([0.2, 1.5, 0.2, 0.2], np.float32).reshape(4, 1, 1))],
               name="prelu_c")   # slopes on both sides of 1
    with pytest.raises(WorkloadError, match="'prelu_c' \\(PRelu\\): .*per-channel slope"):
        import_onnx(g.save(x, tmp_path / "prelu.onnx"))
    g = GraphBuilder([1, 4, 6, 6])
    x = g.node("Softmax", [g.conv("x", 4, 4, 1)], name="sm", axis=2)
    with pytest.raises(WorkloadError, match="'sm' \\(Softmax\\): softmax over axis 2"):
        import_onnx(g.save(x, tmp_path / "softmax.onnx"))
