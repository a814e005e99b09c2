"""Helpers of the bad-input tests: the CLI run in-process, tiny files, and ONNX models built
without ONNX's checker (so a model the checker refuses can be written at all)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from accelsim.cli import main

IR_VERSION = 8


def refused(capsys, *args) -> str:
    """Run the CLI in-process; assert it refused the input with exit code 2 and one
    ``accelsim: error:`` line on stderr (no traceback: any other exception propagates and
    fails the test). Returns that line."""
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("accelsim: error: "), err
    return lines[0]


def write_network(path: Path, layers: list[dict], input_shape=(3, 8, 8)) -> Path:
    """A network YAML of these layer mappings (written with flow-style layers)."""
    rows = "".join(f"  - {_flow(layer)}\n" for layer in layers)
    path.write_text(f"name: {path.stem}\ninput: {list(input_shape)}\nlayers:\n{rows}")
    return path


def _flow(mapping: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"


def unchecked_model(nodes: list, initializers: list, input_shape: list, output: str,
                    opset: int = 13) -> onnx.ModelProto:
    """A model of these nodes, as a user might bring it: nothing checked or inferred, the
    output declared without a shape."""
    graph = helper.make_graph(
        nodes, "model", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=IR_VERSION)


def conv_model(path: Path, weights=None, bias=None, opset: int = 13, extra=(),
               **attrs) -> Path:
    """``x [1, 3, 8, 8] -> Conv 'conv' (4 filters 3x3, initializers 'W' and 'B') -> extra
    nodes``; weights 0.1 and bias 0 unless given. ``extra``: (op, extra inputs
    (initializer arrays by name), attributes) appended after the conv."""
    weights = np.full((4, 3, 3, 3), 0.1, np.float32) if weights is None else weights
    bias = np.zeros(4, np.float32) if bias is None else bias
    inits = [numpy_helper.from_array(np.asarray(weights, np.float32), "W"),
             numpy_helper.from_array(np.asarray(bias, np.float32), "B")]
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["conv_out"], name="conv", **attrs)]
    for index, (op, inputs, node_attrs) in enumerate(extra):
        inits += [numpy_helper.from_array(np.asarray(v, np.float32), k)
                  for k, v in inputs.items()]
        nodes.append(helper.make_node(op, [nodes[-1].output[0], *inputs], [f"out{index}"],
                                      name=f"{op.lower()}{index}", **node_attrs))
    onnx.save(unchecked_model(nodes, inits, [1, 3, 8, 8], nodes[-1].output[0], opset),
              str(path))
    return path
