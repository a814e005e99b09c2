"""The network families of issue 17 that the per-structure files check on DianNao, run on
the four cores it names (DianNao, Cnvlutin, Eyeriss, the systolic core): a MobileNetV2-style
model (inverted residuals, ReLU6, depthwise), ResNet-50 bottleneck blocks (1x1-3x3-1x1 with
a strided projection shortcut), a VGG-style model and a C3D block (3x3x3 convs over frames).
Final output against ONNX Runtime: fp32 within 1e-4, fixed16 cosine >= 0.999 and the same
top-1 class."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.workload.formats.onnx_model import import_onnx
from tests.onnx_helpers import CORES, GraphBuilder, assert_fp32_close, cosine, final_outputs
from tests.test_onnx import mobilenet_style_model, vgg_style_model
from tests.test_volume import c3d_block


def resnet50_blocks(path):
    """ResNet-50's stem and two bottleneck blocks: a strided one with a projection
    shortcut, then an identity one; BatchNormalization after every conv, then pool and fc."""
    g = GraphBuilder([1, 3, 32, 32], seed=4)
    x = g.node("Relu", [g.batch_norm(g.conv("x", 3, 16, 7, bias=False, name="stem",
                                            strides=[2, 2], pads=[3, 3, 3, 3]), 16)])
    x = g.node("MaxPool", [x], "stem_pool", kernel_shape=[3, 3], strides=[2, 2],
               pads=[1, 1, 1, 1])
    channels = 16
    for block, (width, stride) in enumerate(((8, 2), (8, 1))):
        out = width * 4
        y = g.node("Relu", [g.batch_norm(g.conv(x, channels, width, 1, bias=False,
                                                name=f"b{block}_reduce"), width)])
        y = g.node("Relu", [g.batch_norm(g.conv(y, width, width, 3, bias=False,
                                                name=f"b{block}_conv", strides=[stride] * 2,
                                                pads=[1, 1, 1, 1]), width)])
        y = g.batch_norm(g.conv(y, width, out, 1, bias=False, name=f"b{block}_expand"), out)
        shortcut = x if channels == out and stride == 1 else g.batch_norm(
            g.conv(x, channels, out, 1, bias=False, name=f"b{block}_projection",
                   strides=[stride] * 2), out)
        x = g.node("Relu", [g.node("Add", [y, shortcut], f"b{block}_add")], f"b{block}_out")
        channels = out
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x], "gap")], "flatten")
    x = g.node("Gemm", [x, g.weights((10, channels), channels),
                        g.const(np.zeros(10, np.float32))], "fc", transB=1)
    return g.save(x, path)


BUILDERS = {"mobilenet_v2": mobilenet_style_model, "resnet50": resnet50_blocks,
            "vgg": vgg_style_model, "c3d": c3d_block}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("families")
    return {name: build(folder / f"{name}.onnx") for name, build in BUILDERS.items()}


def test_the_resnet50_blocks_import_as_bottlenecks(models):
    network = import_onnx(models["resnet50"]).network
    kinds = {layer.name: layer.kind for layer in network.layers}
    assert [kinds[f"b0_{part}"] for part in ("reduce", "conv", "expand", "projection")] == [
        "conv"] * 4
    assert network.layer("b0_projection").stride == (2, 2)
    assert network.layer("b1_add").inputs[1] == "b0_add"   # the identity shortcut
    assert not any(kind == "act" for kind in kinds.values())   # BN folded, ReLUs fused


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_family_matches_onnxruntime_on_each_core(models, name, core):
    for precision in ("fp32", "fixed16"):
        ours, theirs, result = final_outputs(models[name], core, precision, seed=2)
        if precision == "fp32":
            assert_fp32_close(ours, theirs)
        else:
            assert cosine(ours, theirs) >= 0.999, (name, core, cosine(ours, theirs))
            assert ours.argmax() == theirs.argmax(), (name, core)
        assert set(result.layers["ran_on"]) <= {core, "host", "layout"}
