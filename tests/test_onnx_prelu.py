"""PRelu with a slope per channel (as PyTorch's ``nn.PReLU(num_parameters=C)`` exports it):
``max(x, slope * x)`` (``min`` for slopes >= 1), the product a depthwise conv on the core,
equal to ONNX Runtime on several cores."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.workload.formats.onnx_model import import_onnx
from tests.onnx_helpers import (
    CORES,
    GraphBuilder,
    assert_fp32_close,
    check_against_onnxruntime,
    cosine,
    final_outputs,
)


def prelu_net(path):
    """Per-channel slopes below 1 on a map, above 1 on a map, and on a Gemm's vector."""
    g = GraphBuilder([1, 3, 8, 8], seed=23)
    x = g.conv("x", 3, 6, 3, pads=[1, 1, 1, 1])
    x = g.node("PRelu", [x, g.const(np.linspace(-0.3, 0.9, 6, dtype=np.float32)
                                    .reshape(6, 1, 1))], "prelu_low")
    x = g.conv(x, 6, 4, 3, strides=[2, 2], pads=[1, 1, 1, 1])
    x = g.node("PRelu", [x, g.const(np.array([1.0, 1.5, 2.0, 3.0], np.float32)
                                    .reshape(1, 4, 1, 1))], "prelu_high")
    x = g.node("Flatten", [x])
    x = g.node("Gemm", [x, g.weights((10, 64), 64)], transB=1)
    return g.save(g.node("PRelu", [x, g.const(np.linspace(0, 0.5, 10, dtype=np.float32))],
                         "prelu_flat"), path, opset=13)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return prelu_net(tmp_path_factory.mktemp("prelu") / "prelu.onnx")


def test_per_channel_prelu_is_a_product_on_the_core_and_a_max(model):
    layers = {layer.name: layer for layer in import_onnx(model).network.layers}
    assert layers["prelu_low"].function == "max" and layers["prelu_high"].function == "min"
    scaled = layers[layers["prelu_low"].inputs[1]]
    assert scaled.kind == "conv" and scaled.groups == 6
    assert max(check_against_onnxruntime(model).values()) < 1e-4


@pytest.mark.parametrize("precision", ["fp32", "fixed16"])
@pytest.mark.parametrize("core", CORES)
def test_each_core_matches_onnxruntime(model, core, precision):
    ours, theirs, _ = final_outputs(model, core, precision, seed=0)
    if precision == "fp32":
        assert_fp32_close(ours, theirs)
    else:
        assert cosine(ours, theirs) >= 0.999
