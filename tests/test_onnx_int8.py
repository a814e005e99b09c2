"""int8 models as ONNX Runtime's own quantizer writes them (QDQ format): weights folded from
their int8 initializers, every activation on its int8 grid, results checked against ORT."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from accelsim.errors import WorkloadError
from accelsim.workload.formats.onnx_model import import_onnx
from tests.onnx_helpers import (
    GraphBuilder,
    check_against_onnxruntime,
    cosine,
    final_outputs,
)

quantization = pytest.importorskip("onnxruntime.quantization")


def resnet_block(path):
    """Conv-BN-ReLU, Conv-BN, residual Add, ReLU, then pool, flatten and a classifier."""
    g = GraphBuilder([1, 8, 12, 12], seed=1)
    x = g.node("Relu", [g.batch_norm(g.conv("x", 8, 8, 3, pads=[1, 1, 1, 1]), 8)])
    y = g.batch_norm(g.conv(x, 8, 8, 3, pads=[1, 1, 1, 1]), 8)
    x = g.node("Relu", [g.node("Add", [y, "x"])])
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])])
    x = g.node("Gemm", [x, g.weights((10, 8), 8), g.const(np.zeros(10, np.float32))],
               transB=1)
    return g.save(x, path)


class _Calibration(quantization.CalibrationDataReader):
    def __init__(self):
        rng = np.random.default_rng(0)
        self.batches = iter([{"x": rng.standard_normal((1, 8, 12, 12)).astype(np.float32)}
                             for _ in range(8)])

    def get_next(self):
        return next(self.batches, None)


@pytest.fixture(scope="module", params=["QInt8", "QUInt8"])
def int8_model(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"int8_{request.param}")
    float_path, path = resnet_block(folder / "float.onnx"), folder / "qdq.onnx"
    quantization.quantize_static(
        str(float_path), str(path), _Calibration(), quant_format=quantization.QuantFormat.QDQ,
        activation_type=getattr(quantization.QuantType, request.param),
        weight_type=quantization.QuantType.QInt8)
    return path


def test_the_quantizer_output_imports_whole(int8_model):
    ops = {node.op_type for node in onnx.load(str(int8_model)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    network = import_onnx(int8_model).network
    computing = [layer for layer in network.layers if layer.kind != "act"]
    assert all(layer.quant is not None for layer in computing)   # every tensor on a grid
    first = network.layers[0]   # the input's own Q/DQ: nothing to fuse it into
    assert first.kind == "act" and first.function == "identity" and first.inputs == ("input",)


def test_every_layer_matches_onnxruntime(int8_model):
    assert max(check_against_onnxruntime(int8_model).values()) < 1e-5


@pytest.mark.parametrize("arch", ["diannao", "cnvlutin", "eyeriss", "systolic"])
def test_final_output_matches_onnxruntime_on_each_core(int8_model, arch):
    last = import_onnx(int8_model).network.layers[-1]
    for precision in ("fp32", "fixed16"):
        ours, theirs, result = final_outputs(int8_model, arch, precision, seed=5)
        if precision == "fp32":   # on the same int8 grid: equal, or one step apart
            assert np.abs(ours - theirs).max() <= last.quant[0] * 1.0001
            assert np.mean(ours == theirs) > 0.9
        else:
            assert cosine(ours, theirs) >= 0.99 and ours.argmax() == theirs.argmax()
        mapping = result.layers.set_index("layer").loc[last.name, "mapping"]
        assert f"int8 grid (scale {last.quant[0]:.4g}), datapath widened to {precision}" in (
            mapping)


def test_qoperator_models_are_refused_by_name(tmp_path):
    path = resnet_block(tmp_path / "float.onnx")
    quantized = tmp_path / "qop.onnx"
    quantization.quantize_static(
        str(path), str(quantized), _Calibration(),
        quant_format=quantization.QuantFormat.QOperator)
    with pytest.raises(WorkloadError, match="QLinearConv"):
        import_onnx(quantized)
