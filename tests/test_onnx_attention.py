"""A ViT encoder block from ONNX (patch embedding, LayerNorm, multi-head attention with
MatMul of two activations and a per-head Softmax, GELU written with Erf, residuals, a mean
over the tokens, a classifier) imports whole and matches ONNX Runtime on several cores."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import accelsim
from accelsim.cli import main
from accelsim.config import with_overrides
from accelsim.errors import AccelsimError, WorkloadError
from accelsim.files import shipped
from accelsim.workload import load_tensors
from accelsim.workload.formats.onnx_model import import_onnx
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.forward import forward
from tests import reference
from tests.onnx_helpers import (
    CORES,
    GraphBuilder,
    assert_fp32_close,
    check_against_onnxruntime,
    cosine,
    final_outputs,
    onnxruntime_outputs,
)

ATTENTION_OPS = ("MatMul", "Softmax", "LayerNormalization", "Gather", "Squeeze", "Unsqueeze",
                 "Split", "Transpose", "Reshape", "Gemm", "Erf", "ReduceMean")
"""The operators these models exercise (tests/test_onnx.py checks every one is somewhere)."""
D, TOKENS = 32, 16
"""Model width and tokens (a 32 x 32 image in 8 x 8 patches)."""


class Vit:
    """Builds the pieces of a pre-norm encoder block as a PyTorch export writes them."""

    def __init__(self, heads: int, seed: int, style: str = "split"):
        self.g = GraphBuilder([1, 3, 32, 32], seed=seed)
        self.heads, self.style = heads, style

    def layer_norm(self, x: str) -> str:
        g = self.g
        return g.node("LayerNormalization", [x, g.const(g.rng.uniform(0.5, 1.5, D).astype(
            np.float32)), g.const(g.rng.normal(0, 0.1, D).astype(np.float32))], axis=-1,
            epsilon=1e-6)

    def linear(self, x: str, cin: int, cout: int, name: str | None = None) -> str:
        g = self.g
        y = g.node("MatMul", [x, g.weights((cin, cout), cin, gain=0.7)], name)
        return g.node("Add", [y, g.const(g.rng.normal(0, 0.1, cout).astype(np.float32))])

    def heads_view(self, x: str, perm: list[int]) -> str:
        g, dh = self.g, D // self.heads
        if self.style == "shapes":   # as an exporter computes it: Shape -> Slice -> Concat
            first = g.node("Slice", [g.node("Shape", [x]), *(g.const(np.array([v])) for v in
                                                               (0, 2, 0))])
            target = g.node("Concat", [first, g.const(np.array([self.heads, dh]))], axis=0)
        else:
            target = g.const(np.array([1, TOKENS, self.heads, dh], np.int64))
        return g.node("Transpose", [g.node("Reshape", [x, target])], perm=perm)

    def attention(self, x: str) -> str:
        if self.style in ("fused", "mha"):
            return getattr(self, f"{self.style}_attention")(x)
        g, dh = self.g, D // self.heads
        q, k, v = (self.linear(x, D, D, name) for name in ("q", "k", "v"))
        if self.heads == 1:   # a hand-written single head: Q @ K^T on the tokens
            q, kt = q, g.node("Transpose", [k], "k_t", perm=[0, 2, 1])
        else:
            q, kt, v = (self.heads_view(q, [0, 2, 1, 3]), self.heads_view(k, [0, 2, 3, 1]),
                        self.heads_view(v, [0, 2, 1, 3]))
        scores = g.node("MatMul", [q, kt], "scores")
        scores = g.node("Div", [scores, g.const(np.float32(np.sqrt(dh)))], "scale")
        p = g.node("Softmax", [scores], "attn", axis=-1)
        out = g.node("MatMul", [p, v], "context")
        if self.heads > 1:
            out = g.node("Transpose", [out], perm=[0, 2, 1, 3])
            out = g.node("Reshape", [out, g.const(np.array([1, TOKENS, D], np.int64))])
        return self.linear(out, D, D, "proj")

    def fused_attention(self, x: str) -> str:
        """timm's ViT: one qkv projection, Reshape [1, N, 3, h, dh], Transpose [2, 0, 3, 1,
        4], Gather q, k, v; q scaled; k transposed on its last two axes."""
        g, dh = self.g, D // self.heads
        qkv = self.linear(x, D, 3 * D, "qkv")
        qkv = g.node("Reshape", [qkv, g.const(np.array([1, TOKENS, 3, self.heads, dh]))])
        qkv = g.node("Transpose", [qkv], perm=[2, 0, 3, 1, 4])
        q, v = (g.node("Gather", [qkv, g.const(np.array(i))], axis=0) for i in (0, 2))
        k = g.node("Squeeze", [g.node("Gather", [qkv, g.const(np.array([1]))], axis=0),
                               g.const(np.array([0]))])   # as unbind exports it
        q = g.node("Mul", [q, g.const(np.float32(dh ** -0.5))])
        scores = g.node("MatMul", [q, g.node("Transpose", [k], perm=[0, 1, 3, 2])], "scores")
        out = g.node("MatMul", [g.node("Softmax", [scores], "attn", axis=-1), v], "context")
        out = g.node("Transpose", [out], perm=[0, 2, 1, 3])
        return self.linear(g.node("Reshape", [out, g.const(np.array([1, TOKENS, D]))]), D, D,
                           "proj")

    def mha_attention(self, x: str) -> str:
        """torch.nn.MultiheadAttention's shape: 2-D [N, D] tokens, Gemm projections, the
        packed projection Split in three, heads [h, N, dh], both q and k^T scaled by
        sqrt(scale) (scaled_dot_product_attention), back to [1, N, D] by Unsqueeze."""
        g, dh = self.g, D // self.heads
        flat = g.node("Reshape", [x, g.const(np.array([TOKENS, D]))])
        proj = g.node("Gemm", [flat, g.weights((3 * D, D), D, gain=0.7),
                               g.const(g.rng.normal(0, 0.1, 3 * D).astype(np.float32))],
                      "in_proj", transB=1)
        names = ["q_part", "k_part", "v_part"]
        g.nodes.append(helper.make_node("Split", [proj, g.const(np.array([D] * 3))], names,
                                        name="split_qkv", axis=-1))
        heads = [g.node("Reshape", [n, g.const(np.array([TOKENS, self.heads, dh]))])
                 for n in names]
        root = g.const(np.float32(dh ** -0.25))
        q = g.node("Mul", [g.node("Transpose", [heads[0]], perm=[1, 0, 2]), root])
        kt = g.node("Mul", [g.node("Transpose", [heads[1]], perm=[1, 2, 0]), root])
        p = g.node("Softmax", [g.node("MatMul", [q, kt], "scores")], "attn", axis=-1)
        out = g.node("MatMul", [p, g.node("Transpose", [heads[2]], perm=[1, 0, 2])], "context")
        out = g.node("Reshape", [g.node("Transpose", [out], perm=[1, 0, 2]),
                                 g.const(np.array([TOKENS, D]))])
        out = g.node("Gemm", [out, g.weights((D, D), D, gain=0.7),
                              g.const(np.zeros(D, np.float32))], "out_proj", transB=1)
        return g.node("Unsqueeze", [out, g.const(np.array([0]))])

    def mlp(self, x: str) -> str:
        g = self.g
        h = self.linear(x, D, 2 * D, "fc1")   # GELU as torch exports it, with Erf
        erf = g.node("Erf", [g.node("Div", [h, g.const(np.float32(np.sqrt(2.0)))])])
        h = g.node("Mul", [h, g.node("Add", [erf, g.const(np.float32(1.0))])])
        h = g.node("Mul", [h, g.const(np.float32(0.5))])
        return self.linear(h, 2 * D, D, "fc2")


def vit_block(path, heads: int = 4, seed: int = 21, style: str = "split"):
    """Patch embedding (Conv 8x8 / 8 -> Reshape [1, D, -1] -> Transpose [0, 2, 1]), one
    pre-norm encoder block, the mean over the tokens and a Gemm classifier."""
    vit = Vit(heads, seed, style)
    g = vit.g
    x = g.conv("x", 3, D, 8, strides=[8, 8], name="patch_embed")
    x = g.node("Reshape", [x, g.const(np.array([1, D, -1], np.int64))], "flatten")
    x = g.node("Transpose", [x], "tokens", perm=[0, 2, 1])
    x = g.node("Add", [x, vit.attention(vit.layer_norm(x))], "residual1")
    x = g.node("Add", [x, vit.mlp(vit.layer_norm(x))], "residual2")
    x = g.node("ReduceMean", [x], "mean", axes=[1], keepdims=0)
    x = g.node("Gemm", [x, g.weights((10, D), D), g.const(np.zeros(10, np.float32))],
               "head", transB=1)
    return g.save(x, path, opset=17)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vit")
    return {"vit4": vit_block(folder / "vit4.onnx", heads=4),
            "vit1": vit_block(folder / "vit1.onnx", heads=1, seed=5),
            "shapes": vit_block(folder / "shapes.onnx", heads=2, seed=8, style="shapes"),
            "fused": vit_block(folder / "fused.onnx", heads=4, seed=9, style="fused"),
            "mha": vit_block(folder / "mha.onnx", heads=2, seed=10, style="mha")}


@pytest.mark.parametrize("name, heads", [("vit4", 4), ("vit1", 1), ("fused", 4), ("mha", 2)])
def test_the_block_imports_whole_with_attention_on_the_core(models, name, heads):
    network = import_onnx(models[name]).network
    kinds = [layer.kind for layer in network.layers]
    assert kinds.count("matmul") == 2 and kinds.count("softmax") == 1
    scores, context = (layer for layer in network.layers if layer.kind == "matmul")
    assert (scores.function, context.function) == ("transposed", "values")
    assert scores.groups == context.groups == heads
    assert scores.macs == context.macs == TOKENS * TOKENS * D
    assert next(layer for layer in network.layers if layer.kind == "softmax").groups == heads
    result = accelsim.simulate("eyeriss", network)
    rows = result.layers.set_index("layer")
    for layer in (scores, context):
        row = rows.loc[layer.name]
        assert row["ran_on"] == "eyeriss" and row["macs"] == layer.macs
        assert "matmul as a grouped 1x1 conv" in row["mapping"]
        assert row["dram_read_bytes"] > 0 and row["cycles"] >= row["ideal_cycles"] > 0


def test_the_models_cover_their_operators(models):
    ops = {node.op_type for path in models.values() for node in onnx.load(str(path)).graph.node}
    assert set(ATTENTION_OPS) <= ops


@pytest.mark.parametrize("name", ["vit4", "vit1", "shapes", "fused", "mha"])
def test_every_layer_matches_onnxruntime(models, name):
    errors = check_against_onnxruntime(models[name])
    assert max(errors.values()) < 1e-4


@pytest.mark.parametrize("precision", ["fp32", "fixed16"])
@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", ["vit4", "vit1", "fused", "mha"])
def test_the_final_output_matches_onnxruntime_on_each_core(models, name, core, precision):
    ours, theirs, result = final_outputs(models[name], core, precision, seed=0)
    if precision == "fp32":
        assert_fp32_close(ours, theirs)
    else:
        assert cosine(ours, theirs) >= 0.999 and ours.argmax() == theirs.argmax()
    assert (result.layers.loc[result.layers.kind == "matmul", "ran_on"] == core).all()


@pytest.mark.parametrize("precision", ["fp32", "fixed16"])
@pytest.mark.parametrize("core", CORES)
def test_each_layer_equals_the_reference(models, core, precision):
    """Every layer, matmuls and the per-head softmax included, equals tests/reference.py on
    its own inputs (fixed16: bit for bit)."""
    network = import_onnx(models["vit4"]).network
    tensors = load_tensors(network, seed=0)
    arch = with_overrides(accelsim.load_arch(core), {"precision": precision})
    result = accelsim.simulate(arch, network, tensors=tensors, keep_outputs=True)
    reference.check_outputs(network, result, tensors, f"{core} {precision}")


def test_the_float_forward_pass_matches_onnxruntime(models):
    model = import_onnx(models["vit4"])
    tensors = load_tensors(model.network, seed=1)
    last, out = list(forward(model.network, tensors))[-1]
    theirs = onnxruntime_outputs(models["vit4"], tensors.input, [model.tensor_names[last.name]])
    assert_fp32_close(out.ravel().astype(np.float64), next(iter(theirs.values())).ravel())


# ---- bad input -----------------------------------------------------------------------------
def _tokens(vit: Vit) -> str:
    g = vit.g
    x = g.conv("x", 3, D, 8, strides=[8, 8], name="patch_embed")
    x = g.node("Reshape", [x, g.const(np.array([1, D, -1], np.int64))], "flatten")
    return g.node("Transpose", [x], "tokens", perm=[0, 2, 1])


def _bad(kind: str, path):
    vit = Vit(4, seed=3)
    g = vit.g
    x = _tokens(vit)
    q, k = vit.linear(x, D, D, "q"), vit.linear(x, D, D, "k")
    if kind == "first operand":   # K^T @ Q: rows of the first are features, not tokens
        kt = g.node("Transpose", [k], perm=[0, 2, 1])
        out = g.node("MatMul", [kt, q], "bad_matmul")
    elif kind == "second operand":   # a Reshape, not a transpose: no head's K^T
        mixed = g.node("Reshape", [k, g.const(np.array([1, D, TOKENS], np.int64))])
        out = g.node("MatMul", [q, mixed], "bad_matmul")
    elif kind == "position embedding":   # a full constant tensor: not supported yet
        out = g.node("Add", [x, g.const(np.zeros((1, TOKENS, D), np.float32))], "pos_embed")
    else:   # softmax over the tokens (queries) instead of the keys
        scores = g.node("MatMul", [q, g.node("Transpose", [k], perm=[0, 2, 1])])
        out = g.node("Softmax", [scores], "bad_softmax", axis=1)
    out = g.node("ReduceMean", [out], axes=[1], keepdims=0)
    return g.save(out, path / f"{kind.replace(' ', '_')}.onnx", opset=17)


@pytest.mark.parametrize("kind, needles", [
    ("first operand", ["'bad_matmul' (MatMul)", "[1, 32, 16] @ [1, 16, 32]", "the first"]),
    ("second operand", ["'bad_matmul' (MatMul)", "[1, 16, 32] @ [1, 32, 16]", "the second"]),
    ("softmax", ["'bad_softmax' (Softmax)", "axis 1 of shape [1, 16, 16]"]),
    ("position embedding", ["'pos_embed' (Add)", "shape [1, 16, 32]", "per-channel (32)"]),
])
def test_unmappable_operands_are_one_line_naming_node_and_shapes(tmp_path, capsys, kind,
                                                                 needles):
    path = _bad(kind, tmp_path)
    with pytest.raises(WorkloadError) as info:
        import_onnx(path)
    message = str(info.value)
    assert "\n" not in message and all(n in message for n in needles), message
    assert main(["run", "--workload", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needles[0] in err[0]


ATTENTION_YAML = {
    "name": "attention", "input": [3, 32, 32],
    "layers": [
        {"name": "embed", "kind": "conv", "out_channels": D, "kernel": 8, "stride": 8},
        *({"name": n, "kind": "conv", "out_channels": D, "inputs": ["embed"]} for n in "qkv"),
        {"name": "scores", "kind": "matmul", "op": "transposed", "groups": 4,
         "inputs": ["q", "k"]},
        {"name": "attn", "kind": "softmax", "groups": 4},
        {"name": "context", "kind": "matmul", "op": "values", "groups": 4, "relu": True,
         "inputs": ["attn", "v"]},
    ]}


@pytest.mark.parametrize("core", sorted(shipped("arch_configs")))
def test_a_yaml_attention_equals_the_reference(core):
    """On every shipped core (each runs the matmuls as grouped 1x1 convs), fixed16 bit for
    bit."""
    network = network_from_dict(ATTENTION_YAML, "attention.yaml")
    assert [layer.out_channels for layer in network.layers[-3:]] == [4 * TOKENS, 4 * TOKENS, D]
    tensors = load_tensors(network, seed=2)
    result = accelsim.simulate(core, network, tensors=tensors, keep_outputs=True)
    reference.check_outputs(network, result, tensors, core)
    assert result.layers.set_index("layer").loc["context", "macs"] == TOKENS * TOKENS * D


def test_a_matmul_refuses_a_batch():
    network = network_from_dict(ATTENTION_YAML, "attention.yaml")
    with pytest.raises(AccelsimError, match="'scores': a matmul .* one image at a time"):
        accelsim.simulate("eyeriss", network, batch=2)


def test_a_yaml_matmul_whose_operand_does_not_fit_names_it():
    bad = {**ATTENTION_YAML, "layers": [*ATTENTION_YAML["layers"][:4], {
        "name": "scores", "kind": "matmul", "op": "values", "groups": 4, "inputs": ["q", "k"]}]}
    with pytest.raises(WorkloadError, match="second input .*values.* from 'k'"):
        network_from_dict(bad, "bad.yaml")
