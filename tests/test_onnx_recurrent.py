"""ONNX ``LSTM`` and ``GRU`` nodes, unrolled over their steps, match ONNX Runtime: every
direction, both GRU resets, constant initial states, both layouts, ``Y`` / ``Y_h`` / ``Y_c``
read by later nodes, a stacked pair; what is not supported is one error line naming it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import accelsim
from accelsim.config import with_overrides
from accelsim.errors import WorkloadError
from accelsim.workload import load_tensors
from accelsim.workload.formats.onnx_model import import_onnx
from tests.onnx_helpers import (
    GraphBuilder,
    exact_functions,
    in_our_layout,
    onnxruntime_outputs,
)
from tests.test_recurrent import reference

RECURRENT_OPS = ("LSTM", "GRU")
"""The operators these models exercise (for tests/test_onnx.py's every-operator check)."""
OPSET = 14
T, SIZE, H = 3, 6, 5


def rnn_model(path, cell: str = "lstm", direction: str = "forward", layout: int = 0,
              states: bool = False, outputs=("Y",), seed: int = 0, **attrs):
    """``[1, T*I]`` -> Reshape to X -> the node; each requested output flattened to
    ``[1, -1]`` and read by a Gemm of its own, the Gemms' outputs added."""
    g = GraphBuilder([1, T * SIZE], seed=seed)
    dirs, gates = (2 if direction == "bidirectional" else 1), {"lstm": 4, "gru": 3}[cell]
    shape = [1, T, SIZE] if layout else [T, 1, SIZE]
    x = g.node("Reshape", ["x", g.const(np.array(shape))], "seq")
    w = g.const(g.rng.normal(0, 0.4, (dirs, gates * H, SIZE)).astype(np.float32))
    r = g.const(g.rng.normal(0, 0.4, (dirs, gates * H, H)).astype(np.float32))
    b = g.const(g.rng.normal(0, 0.3, (dirs, 2 * gates * H)).astype(np.float32))
    shape = (1, dirs, H) if layout else (dirs, 1, H)
    initial = [g.const(g.rng.normal(0, 0.5, shape).astype(np.float32)) if states else ""
               for _ in range(2 if cell == "lstm" else 1)]
    names = ["Y", "Y_h", "Y_c"][:3 if cell == "lstm" else 2]
    node_outputs = [f"rnn_{n}" if n in outputs else "" for n in names]
    while not node_outputs[-1]:
        node_outputs.pop()
    g.nodes.append(helper.make_node(cell.upper(), [x, w, r, b, "", *initial], node_outputs,
                                    name="rnn", hidden_size=H, direction=direction,
                                    **({"layout": layout} if layout else {}), **attrs))
    heads = []
    for name, tensor in zip(names, node_outputs, strict=False):
        if tensor:
            width = T * dirs * H if name == "Y" else dirs * H
            flat = g.node("Reshape", [tensor, g.const(np.array([1, -1]))])
            heads.append(g.node("Gemm", [flat, g.weights((4, width), width),
                                         g.const(np.zeros(4, np.float32))], transB=1))
    y = heads[0]
    for other in heads[1:]:
        y = g.node("Add", [y, other])
    return g.save(y, path, opset=OPSET)


def compare(path, arch: str = "dadiannao", precision: str = "fp32") -> float:
    """Every layer that is an ONNX tensor, on ``arch``, against ONNX Runtime; returns the
    worst error relative to the tensor's largest magnitude."""
    model = import_onnx(path)
    tensors = load_tensors(model.network, seed=0)
    config = exact_functions(with_overrides(accelsim.load_arch(arch), {"precision": precision}))
    result = accelsim.simulate(config, model.network, tensors=tensors, keep_outputs=True)
    layers = [layer.name for layer in model.network.layers if layer.name in model.tensor_names]
    names = [model.tensor_names[layer] for layer in layers]
    theirs = onnxruntime_outputs(path, tensors.input.ravel(), names)   # [1, T*I]
    worst = 0.0
    for layer, name in zip(layers, names, strict=True):
        out = result.outputs[layer]
        ours = np.asarray(out.to_float() if hasattr(out, "frac") else out, np.float64).ravel()
        expected = theirs[name].astype(np.float64)
        expected = (in_our_layout(expected, model.views[name]) if name in model.views
                    else expected).ravel()
        worst = max(worst, float(np.abs(ours - expected).max() / np.abs(expected).max()))
    return worst


@pytest.mark.parametrize("cell, direction, attrs", [
    ("lstm", "forward", {}), ("lstm", "reverse", {}), ("lstm", "bidirectional", {}),
    ("gru", "forward", {}), ("gru", "bidirectional", {"linear_before_reset": 1}),
    ("gru", "reverse", {"linear_before_reset": 1})])
def test_every_direction_and_reset_matches_onnxruntime(tmp_path, cell, direction, attrs):
    path = rnn_model(tmp_path / "rnn.onnx", cell, direction, **attrs)
    assert compare(path) < 1e-5


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_initial_states_and_every_output_match_onnxruntime(tmp_path, cell):
    outputs = ("Y", "Y_h", "Y_c") if cell == "lstm" else ("Y", "Y_h")
    path = rnn_model(tmp_path / "rnn.onnx", cell, "bidirectional", states=True,
                     outputs=outputs, seed=3,
                     **({"linear_before_reset": 1} if cell == "gru" else {}))
    network = import_onnx(path).network
    assert any(layer.kind == "conv" for layer in network.layers)   # a constant state's product
    assert compare(path) < 1e-5


def test_the_unrolled_weights_are_the_nodes(tmp_path):
    """Step 2's gates fc is [W | R] (EIE's formulation), step 1's W alone, both biased by
    Wb + Rb; every step's layer holds the same matrix."""
    path = rnn_model(tmp_path / "rnn.onnx", "lstm")
    model = import_onnx(path)
    graph = onnx.load(str(path)).graph
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    node = next(n for n in graph.node if n.op_type == "LSTM")
    w, r, b = (consts[name][0] for name in node.input[1:4])
    np.testing.assert_array_equal(model.weights["rnn.t1.gates"][:, :, 0, 0], w)
    for step in (2, 3):
        np.testing.assert_array_equal(model.weights[f"rnn.t{step}.gates"][:, :, 0, 0],
                                      np.concatenate([w, r], axis=1))
        np.testing.assert_allclose(model.biases[f"rnn.t{step}.gates"], b[:4 * H] + b[4 * H:])
    assert model.network.layer("rnn.t2.gates").macs == 4 * H * (SIZE + H)


def test_stacked_layers_and_fixed16_on_eie(tmp_path):
    """A second LSTM reads the first's Y (squeezed to [T, 1, H]); EIE's fixed16 run stays
    close to ONNX Runtime."""
    g = GraphBuilder([1, T * SIZE], seed=2)
    x = g.node("Reshape", ["x", g.const(np.array([T, 1, SIZE]))], "seq")
    for index, size in enumerate((SIZE, H)):
        w, r = (g.const(g.rng.normal(0, 0.4, (1, 4 * H, n)).astype(np.float32))
                for n in (size, H))
        y = f"lstm{index}_Y"
        g.nodes.append(helper.make_node("LSTM", [x, w, r], [y], name=f"lstm{index}",
                                        hidden_size=H))
        x = g.node("Squeeze", [y, g.const(np.array([1]))])
    out = g.node("Reshape", [x, g.const(np.array([1, -1]))], "flat")
    path = g.save(out, tmp_path / "stacked.onnx", opset=OPSET)
    assert compare(path) < 1e-5
    assert compare(path, "eie", "fixed16") < 2e-3


@pytest.mark.parametrize("layout", [0, 1])
def test_the_import_equals_the_numpy_equations(tmp_path, layout):
    """Independent of ONNX Runtime (which does not run ``layout`` 1): Y and Y_h by
    tests/test_recurrent.py's reference; Y_h alone makes no concat of every step."""
    path = rnn_model(tmp_path / "rnn.onnx", "gru", "forward", layout=layout, states=True,
                     outputs=("Y", "Y_h") if layout == 0 else ("Y_h",))
    model = import_onnx(path)
    graph = onnx.load(str(path)).graph
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    node = next(n for n in graph.node if n.op_type == "GRU")
    w, r, b, h0 = (consts[name][0].astype(np.float64) for name in (*node.input[1:4],
                                                                     node.input[5]))
    tensors = load_tensors(model.network, seed=1)
    config = with_overrides(accelsim.load_arch("dadiannao"), {"precision": "fp32"})
    result = accelsim.simulate(exact_functions(config), model.network, tensors=tensors,
                               keep_outputs=True)
    y, h, _ = reference("gru", tensors.input.reshape(T, SIZE), w, r, b, h0=h0.ravel())
    layers = {tensor: layer for layer, tensor in model.tensor_names.items()}
    np.testing.assert_allclose(np.asarray(result.outputs[layers["rnn_Y_h"]]).ravel(), h,
                               atol=1e-5)
    if layout == 0:
        np.testing.assert_allclose(np.asarray(result.outputs["rnn"]).ravel(), y.ravel(),
                                   atol=1e-5)
    else:
        assert "rnn" not in [layer.name for layer in model.network.layers]


def _refusal(tmp_path, **kwargs) -> str:
    path = kwargs.pop("path", None) or rnn_model(tmp_path / "bad.onnx", **kwargs)
    with pytest.raises(WorkloadError) as err:
        import_onnx(path)
    message = str(err.value)
    assert "\n" not in message and "node 'rnn' (" in message
    return message


@pytest.mark.parametrize("attrs, words", [
    ({"clip": 3.0}, "clip attribute"),
    ({"input_forget": 1}, "input_forget"),
    ({"activations": ["Sigmoid", "Relu", "Tanh"]}, "activations"),
])
def test_unsupported_attributes_are_refused(tmp_path, attrs, words):
    assert words in _refusal(tmp_path, **attrs)


def _edited(path, index: int, name: str, array=None, nodes=()):
    """The model with its recurrent node's input ``index`` set to ``name`` (a new
    initializer ``array``, or the output of ``nodes`` inserted before the node)."""
    model = onnx.load(str(path))
    position, node = next((i, n) for i, n in enumerate(model.graph.node)
                          if n.op_type in RECURRENT_OPS)
    if array is not None:
        model.graph.initializer.append(onnx.numpy_helper.from_array(array, name))
    for offset, extra in enumerate(nodes):
        model.graph.node.insert(position + offset, extra)
    args = list(node.input) + [""] * (index + 1 - len(node.input))
    args[index] = name
    del node.input[:]
    node.input.extend(args)
    out = path.with_name(f"edited_{index}.onnx")
    onnx.save(model, str(out))
    return out


def test_sequence_lens_peepholes_and_computed_states_are_refused(tmp_path):
    path = rnn_model(tmp_path / "rnn.onnx")
    lens = _edited(path, 4, "lens", np.array([T], np.int32))
    assert "sequence_lens is not supported" in _refusal(tmp_path, path=lens)
    peepholes = _edited(path, 7, "p", np.ones((1, 3 * H), np.float32))
    assert "peepholes" in _refusal(tmp_path, path=peepholes)
    computed = [helper.make_node("Gemm", ["x", "state_w"], ["state_flat"], transB=1),
                helper.make_node("Reshape", ["state_flat", "state_shape"], ["state"])]
    model = onnx.load(str(path))
    model.graph.initializer.extend([
        onnx.numpy_helper.from_array(np.ones((H, T * SIZE), np.float32), "state_w"),
        onnx.numpy_helper.from_array(np.array([1, 1, H]), "state_shape")])
    onnx.save(model, str(path))
    state = _edited(path, 5, "state", nodes=computed)
    assert "initial_h ('state') must be a constant" in _refusal(tmp_path, path=state)


def test_a_time_axis_along_the_width_is_refused(tmp_path):
    """A conv map C x 1 x T transposed to [T, 1, C] (CRNN style) has each step at a pixel,
    not a run of channels: refused."""
    g = GraphBuilder([1, 2, 1, T], seed=0)
    x = g.conv("x", 2, SIZE, 1)
    x = g.node("Transpose", [g.node("Squeeze", [x, g.const(np.array([2]))])], perm=[2, 0, 1])
    w, r = (g.const(np.ones((1, 4 * H, n), np.float32)) for n in (SIZE, H))
    g.nodes.append(helper.make_node("LSTM", [x, w, r], ["y"], name="rnn", hidden_size=H))
    path = g.save(g.node("Reshape", ["y", g.const(np.array([1, -1]))]),
                  tmp_path / "crnn.onnx", opset=OPSET)
    assert "one after another in the channels of a vector" in _refusal(tmp_path, path=path)


def test_wrong_weight_shapes_name_the_input(tmp_path):
    g = GraphBuilder([1, T * SIZE])
    x = g.node("Reshape", ["x", g.const(np.array([T, 1, SIZE]))], "seq")
    w = g.const(np.ones((1, 4 * H, SIZE), np.float32))
    r = g.const(np.ones((1, 4 * H, H + 1), np.float32))
    g.nodes.append(helper.make_node("LSTM", [x, w, r], ["y"], name="rnn", hidden_size=H))
    y = g.node("Reshape", ["y", g.const(np.array([1, -1]))])
    graph = helper.make_graph(g.nodes, "bad", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, T * SIZE])], [helper.make_tensor_value_info(
            y, TensorProto.FLOAT, None)], g.initializers)
    path = tmp_path / "shapes.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                ir_version=8), str(path))
    with pytest.raises(WorkloadError) as err:
        import_onnx(path)
    assert "node 'rnn' (LSTM): R has shape [1, 20, 6], expected [1, 20, 5]" in str(err.value)
    assert "\n" not in str(err.value)
