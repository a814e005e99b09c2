"""int8 models as ONNX Runtime's own quantizer writes them, in its QDQ and QOperator formats:
weights folded from their int8 initializers, every activation on its int8 grid, results
checked against ORT."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from accelsim import simulate
from accelsim.config import load_arch, with_overrides
from accelsim.workload import load_tensors
from accelsim.workload.formats.onnx_model import import_onnx
from tests.onnx_helpers import (
    GraphBuilder,
    check_against_onnxruntime,
    cosine,
    final_outputs,
)

quantization = pytest.importorskip("onnxruntime.quantization")
ort = pytest.importorskip("onnxruntime")


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


def quantized(folder, quant_format: str, activations: str = "QUInt8"):
    float_path, path = resnet_block(folder / "float.onnx"), folder / f"{quant_format}.onnx"
    quantization.quantize_static(
        str(float_path), str(path), _Calibration(),
        quant_format=getattr(quantization.QuantFormat, quant_format),
        activation_type=getattr(quantization.QuantType, activations),
        weight_type=quantization.QuantType.QInt8)
    return path


@pytest.fixture(scope="module", params=[("QDQ", "QInt8"), ("QDQ", "QUInt8"),
                                        ("QOperator", "QUInt8"), ("QOperator", "QInt8")])
def int8_model(request, tmp_path_factory):
    quant_format, activations = request.param
    return quantized(tmp_path_factory.mktemp(f"int8_{quant_format}_{activations}"),
                     quant_format, activations)


def test_the_quantizer_output_imports_whole(int8_model):
    ops = {node.op_type for node in onnx.load(str(int8_model)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert ("QLinearConv" in ops) == ("QOperator" in int8_model.name)
    network = import_onnx(int8_model).network
    computing = [layer for layer in network.layers if layer.kind != "act"]
    assert all(layer.quant is not None for layer in computing)   # every tensor on a grid
    first = network.layers[0]   # the input's own Q/DQ: nothing to fuse it into
    assert first.kind == "act" and first.function == "identity" and first.inputs == ("input",)


def test_every_layer_matches_onnxruntime(int8_model):
    if "QOperator" in int8_model.name:
        pytest.skip("its tensors are integers in ONNX Runtime: see the QOperator test below")
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


def test_both_formats_of_one_model_import_to_the_same_layers_and_grids(tmp_path):
    qdq = import_onnx(quantized(tmp_path, "QDQ")).network.layers
    qop = import_onnx(quantized(tmp_path, "QOperator")).network.layers
    assert [(layer.kind, layer.quant) for layer in qdq] == [
        (layer.kind, layer.quant) for layer in qop]


def _ort_values(path, x, names, grids):
    """ONNX Runtime's values of the named tensors, int8 ones as the integers (typed from
    shape inference, or, after a com.microsoft operator it cannot infer, from the grid)."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    infos = {info.name: info for info in model.graph.value_info}
    present = {output.name for output in model.graph.output}
    for name in names:
        if name in present:
            continue
        low = grids[name][2]
        model.graph.output.append(infos.get(name) or onnx.helper.make_tensor_value_info(
            name, onnx.TensorProto.UINT8 if low == 0 else onnx.TensorProto.INT8, None))
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    values = session.run(list(names), {session.get_inputs()[0].name: x[None]})
    return dict(zip(names, values, strict=True))


def test_every_layer_of_a_qoperator_model_equals_onnxruntimes_integers(tmp_path):
    """QOperator tensors are integers in ORT: each layer's fp32 output, on its grid, equals
    ORT's int8 tensor dequantized (one grid step apart at most where float sums round)."""
    path = quantized(tmp_path, "QOperator")
    model = import_onnx(path)
    network, tensors = model.network, load_tensors(model.network, seed=0)
    arch = with_overrides(load_arch("diannao"), {"precision": "fp32"})
    result = simulate(arch, network, tensors=tensors, keep_outputs=True)
    names = {layer.name: model.tensor_names[layer.name].removesuffix("::dequantized")
             for layer in network.layers}
    grids = {names[layer.name]: layer.quant for layer in network.layers}
    theirs = _ort_values(path, tensors.input, sorted(grids), grids)
    for layer in network.layers:
        scale, zero = layer.quant[:2]
        expected = theirs[names[layer.name]].astype(np.float64)
        if np.issubdtype(theirs[names[layer.name]].dtype, np.integer):
            expected = (expected - zero) * scale
        ours = np.asarray(result.outputs[layer.name], dtype=np.float64)
        steps = np.abs(ours - expected.reshape(ours.shape)) / scale
        assert steps.max() <= 1.0001, layer.name
        assert np.mean(steps < 1e-3) > 0.95, layer.name
