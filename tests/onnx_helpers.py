"""ONNX test models built with the onnx helper API, and ONNX Runtime as the oracle.

:func:`check_against_onnxruntime` imports a model, simulates it on DianNao in fp32 with every
layer's output kept, asks ONNX Runtime for the tensor each layer corresponds to (and the
graph output), and compares them within fp32 tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import accelsim
from accelsim.config import with_overrides
from accelsim.workload import load_tensors
from accelsim.workload.formats.onnx_model import import_onnx

ort = pytest.importorskip("onnxruntime")

OPSET = 13
CORES = ("diannao", "cnvlutin", "eyeriss", "systolic")
"""The cores issue 17 asks every imported family to match ONNX Runtime on."""
IR_VERSION = 8   # ONNX Runtime reads IR versions up to its own; 8 is what opset 13-17 export


class GraphBuilder:
    """Appends nodes and He-initialised constants; ``model()`` returns a checked model."""

    def __init__(self, input_shape: list, seed: int = 0, input_name: str = "x"):
        self.input_shape, self.input_name = input_shape, input_name
        self.nodes: list = []
        self.initializers: list = []
        self.rng = np.random.default_rng(seed)

    def const(self, array, name: str | None = None) -> str:
        name = name or f"const{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], name: str | None = None, **attrs) -> str:
        name = name or f"{op.lower()}{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [f"{name}_out"], name=name, **attrs))
        return f"{name}_out"

    def weights(self, shape: tuple, fan_in: int, gain: float = 1.0) -> str:
        w = self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in) * gain
        return self.const(w.astype(np.float32))

    def conv(self, x: str, cin: int, cout: int, kernel: int, groups: int = 1,
             bias: bool = True, name: str | None = None, gain: float = 1.0, **attrs) -> str:
        w = self.weights((cout, cin // groups, kernel, kernel), cin // groups * kernel ** 2,
                         gain)
        inputs = [x, w] + ([self.const(self.rng.normal(0, 0.1, cout).astype(np.float32))]
                           if bias else [])
        return self.node("Conv", inputs, name, group=groups, **attrs)

    def batch_norm(self, x: str, channels: int, name: str | None = None) -> str:
        gamma, beta, mean = (self.rng.normal(loc, 0.2, channels).astype(np.float32)
                             for loc in (1.0, 0.0, 0.0))
        var = self.rng.uniform(0.5, 1.5, channels).astype(np.float32)
        return self.node("BatchNormalization", [x] + [self.const(v) for v in
                                                      (gamma, beta, mean, var)], name,
                         epsilon=1e-5)

    def clip6(self, x: str, name: str | None = None) -> str:
        low, high = self.const(np.float32(0.0)), self.const(np.float32(6.0))
        return self.node("Clip", [x, low, high], name)

    def model(self, output: str, opset: int = OPSET) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "test_model",
            [helper.make_tensor_value_info(self.input_name, TensorProto.FLOAT,
                                           self.input_shape)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  ir_version=IR_VERSION)
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        model.graph.output[0].CopyFrom(inferred.graph.output[0])   # with its inferred shape
        onnx.checker.check_model(model, full_check=True)
        return model

    def save(self, output: str, path: Path, opset: int = OPSET) -> Path:
        onnx.save(self.model(output, opset), str(path))
        return path


def onnxruntime_outputs(path: Path, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Values of the named tensors (any node output) for input ``x`` (batch added)."""
    model = onnx.load(str(path))
    present = {output.name for output in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                                    None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    model_input = session.get_inputs()[0]
    dims = model_input.shape
    if len(dims) == 5 and all(isinstance(d, int) for d in dims):   # a clip: frames unstacked
        x = x.reshape(dims[1:])
    values = session.run(list(names), {model_input.name: x[None].astype(np.float32)})
    return dict(zip(names, values, strict=True))


def check_against_onnxruntime(path: Path, input_from=None,
                              arch: str = "diannao") -> dict[str, float]:
    """Every layer's fp32 output on ``arch`` (DianNao by default) equals ONNX Runtime's, and
    the fixed16 run's final output is close to it (cosine >= 0.999, the same arg-max, as a
    classifier's top-1); returns the fp32 run's worst relative error per layer (relative to
    the layer's largest magnitude). Both check the import and the datapath, so an activation
    unit's table is made exact (:func:`exact_functions`)."""
    model = import_onnx(path)
    network = model.network
    tensors = load_tensors(network, seed=0, input_from=input_from)
    arch = exact_functions(with_overrides(accelsim.load_arch(arch), {"precision": "fp32"}))
    result = accelsim.simulate(arch, network, tensors=tensors, keep_outputs=True)
    graph_outputs = [o.name for o in onnx.load(str(path)).graph.output]
    # every layer but an internal one (a transposed conv's zero insertion) is an ONNX tensor
    layers = [layer for layer in network.layers if layer.name in model.tensor_names]
    assert len(layers) >= len(network.layers) - sum(
        node.op_type in ("ConvTranspose", "LayerNormalization", "PRelu")
        for node in onnx.load(str(path)).graph.node)
    names = [model.tensor_names[layer.name] for layer in layers]
    expected = onnxruntime_outputs(path, tensors.input, names + graph_outputs)
    assert graph_outputs[0] == names[-1], "the last layer is the graph output"
    errors = {}
    for layer, name in zip(layers, names, strict=True):
        ours = np.asarray(result.outputs[layer.name], dtype=np.float64)
        theirs = expected[name].astype(np.float64)
        if name in model.views:   # tokens or attention heads: where each value lives
            theirs = in_our_layout(theirs, model.views[name])
        elif name in model.channels_last:   # ONNX's [1, H, W, C] view of our C x H x W
            theirs = theirs.reshape(ours.shape[1:] + ours.shape[:1]).transpose(2, 0, 1)
        theirs = theirs.reshape(ours.shape)
        scale = max(float(np.abs(theirs).max()), 1e-6)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-5 * scale,
                                   err_msg=f"layer {layer.name} vs ONNX tensor {name}")
        errors[layer.name] = float(np.abs(ours - theirs).max() / scale)
    fixed = accelsim.simulate(with_overrides(arch, {"precision": "fixed16"}), network,
                              tensors=tensors, keep_outputs=True).outputs[layers[-1].name]
    ours = fixed.to_float().ravel()
    theirs = expected[names[-1]].astype(np.float64).ravel()
    similarity = cosine(ours, theirs)
    assert similarity >= 0.999 and ours.argmax() == theirs.argmax(), (
        f"fixed16 final output: cosine {similarity:.6f}, arg-max {ours.argmax()} vs "
        f"{theirs.argmax()}")
    return errors


def in_our_layout(theirs: np.ndarray, view: np.ndarray) -> np.ndarray:
    """An ONNX tensor laid out as ``view`` (each element's index in our flattened map)
    back in our layout, flat."""
    assert theirs.shape == view.shape and np.unique(view).size == view.size
    out = np.empty(view.size, dtype=theirs.dtype)
    out[view.ravel()] = theirs.ravel()
    return out


def final_outputs(path: Path, arch: str, precision: str, seed: int, table: bool = False):
    """The model's last layer run on ``arch`` in ``precision`` and ONNX Runtime's value of
    the same tensor, both flat float64, and the run's Result. An activation unit's table is
    made exact (:func:`exact_functions`) unless ``table`` is true."""
    model = import_onnx(path)
    tensors = load_tensors(model.network, seed=seed)
    config = with_overrides(accelsim.load_arch(arch), {"precision": precision})
    config = config if table else exact_functions(config)
    result = accelsim.simulate(config, model.network, tensors=tensors, keep_outputs=True)
    last = model.network.layers[-1].name
    theirs = onnxruntime_outputs(path, tensors.input, [model.tensor_names[last]])
    out = result.outputs[last]
    ours = out.to_float() if hasattr(out, "frac") else np.asarray(out)
    return (ours.astype(np.float64).ravel(),
            next(iter(theirs.values())).astype(np.float64).ravel(), result)


def exact_functions(arch):
    """``arch`` with its activation unit (if any) evaluating functions exactly, as ONNX does:
    these comparisons check the importer and the datapath, not DianNao's piecewise-linear
    table (``tests/test_activation_unit.py`` checks that, and what it does to a model)."""
    return with_overrides(arch, {"activation_unit.segments": 0})


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def assert_fp32_close(ours: np.ndarray, theirs: np.ndarray) -> None:
    """fp32: within 1e-4 of ONNX Runtime, relative to the largest magnitude."""
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
