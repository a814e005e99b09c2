"""ONNX Runtime on the same network and weights: the denominator of ``bench_speed.py --vs
onnxruntime``.

:func:`to_onnx` writes an accelsim ``Network`` (conv, fc, pool, add; ReLU fused or not) and
its tensors as an ONNX graph with ``onnx.helper``, float32; :func:`time_inference` runs it in
ONNX Runtime with a fixed thread count, best of N after a warm-up. :func:`check` compares the
graph's output with ``numpy_inference.infer`` so a wrong export cannot pass as a fast one. Not
part of the simulator; nothing in ``accelsim/`` imports it.
"""

from __future__ import annotations

import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from accelsim.workload.network import INPUT, Network

OPSET, IR_VERSION = 13, 8


def _node(nodes: list, op: str, inputs: list[str], output: str, **attrs) -> str:
    nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
    return output


def _layer(layer, ins: list[str], weights, biases, nodes: list, consts: list) -> str:
    """The ONNX nodes of one layer; returns its output name (ReLU included)."""
    name = layer.name
    out = f"{name}_pre" if layer.relu else name
    if layer.kind in ("conv", "fc"):
        w = np.ascontiguousarray(weights[name], dtype=np.float32)
        inputs = [ins[0], f"{name}.weight"]
        if biases.get(name) is not None:
            consts.append(numpy_helper.from_array(
                np.asarray(biases[name], dtype=np.float32).reshape(-1), f"{name}.bias"))
            inputs.append(f"{name}.bias")
        if layer.kind == "conv":
            consts.append(numpy_helper.from_array(w, f"{name}.weight"))
            top, left, bottom, right = layer.pad
            _node(nodes, "Conv", inputs, out, group=layer.groups,
                  kernel_shape=[layer.kernel_h, layer.kernel_w], strides=list(layer.stride),
                  pads=[top, left, bottom, right])
        else:
            consts.append(numpy_helper.from_array(
                w.reshape(layer.out_channels, -1), f"{name}.weight"))
            inputs[0] = _node(nodes, "Flatten", [ins[0]], f"{name}_flat", axis=1)
            gemm = _node(nodes, "Gemm", inputs, f"{name}_gemm", transB=1)
            consts.append(numpy_helper.from_array(
                np.asarray([1, *layer.out_shape], dtype=np.int64), f"{name}.shape"))
            _node(nodes, "Reshape", [gemm, f"{name}.shape"], out)
    elif layer.kind == "pool":
        top, left, bottom, right = layer.pad
        op = "MaxPool" if layer.pool_op == "max" else "AveragePool"
        _node(nodes, op, ins[:1], out, kernel_shape=[layer.kernel_h, layer.kernel_w],
              strides=list(layer.stride), pads=[top, left, bottom, right])
    elif layer.kind == "add":
        _node(nodes, "Add", ins[:2], out)
    else:
        raise ValueError(f"layer {name}: kind {layer.kind!r} has no ONNX export here")
    return _node(nodes, "Relu", [out], name) if layer.relu else out


def to_onnx(network: Network, tensors) -> onnx.ModelProto:
    """The network as a float32 ONNX model (input ``input``, output the last layer's)."""
    nodes: list = []
    consts: list = []
    names = {INPUT: INPUT}
    for layer in network.layers:
        ins = [names[p] for p in layer.inputs]
        names[layer.name] = _layer(layer, ins, tensors.weights, tensors.biases, nodes, consts)
    last = network.layers[-1]
    graph = helper.make_graph(
        nodes, network.name,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, *network.input_shape])],
        [helper.make_tensor_value_info(names[last.name], TensorProto.FLOAT,
                                       [1, *last.out_shape])],
        initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def session(model: onnx.ModelProto, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def check(network: Network, tensors, model: onnx.ModelProto) -> float:
    """Largest relative difference between ORT's output and the numpy reference's."""
    from benchmarks.numpy_inference import infer

    x = np.asarray(tensors.input, dtype=np.float32)
    got = session(model, 1).run(None, {INPUT: x[None]})[0][0]
    want = infer(network, tensors.weights, tensors.biases, x, keep="last")[
        network.layers[-1].name]
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


def time_inference(network: Network, tensors, repeats: int = 3, threads: int = 2,
                   model: onnx.ModelProto | None = None) -> float:
    """Best-of-``repeats`` wall seconds of one ORT inference, after one warm-up run."""
    model = model if model is not None else to_onnx(network, tensors)
    sess = session(model, threads)
    x = {INPUT: np.ascontiguousarray(tensors.input, dtype=np.float32)[None]}
    sess.run(None, x)
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        sess.run(None, x)
        best = min(best, time.perf_counter() - start)
    return best
