"""Real exporter output: MobileNetV3-small (PyTorch's TorchScript exporter) and
EfficientNet-B0 (its dynamo exporter), reduced width, random weights; how they were made:
``tests/data/onnx_exports/export_fixtures.py``. Each imports whole and matches ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from accelsim.cli import main
from accelsim.workload import load_network
from tests.onnx_helpers import (
    assert_fp32_close,
    check_against_onnxruntime,
    cosine,
    final_outputs,
)

EXPORTS = Path(__file__).parent / "data" / "onnx_exports"
MODELS = {"mobilenet_v3": EXPORTS / "mobilenet_v3_small_w025_torchscript.onnx",
          "efficientnet": EXPORTS / "efficientnet_b0_w025_dynamo.onnx"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_exported_model_matches_onnxruntime_layer_by_layer(name):
    # DaDianNao: DianNao's 2 KB NBin cannot hold one row of EfficientNet's 32 x 32
    # squeeze-and-excite pooling window over 16 channels (a mapping error, by design)
    errors = check_against_onnxruntime(MODELS[name], arch="dadiannao")
    assert max(errors.values()) < 1e-4


def test_exported_models_import_whole_under_their_file_names():
    for name, path in MODELS.items():
        graph = onnx.load(str(path)).graph
        network = load_network(path)
        assert graph.name == "main_graph"     # what both exporters write
        assert network.name == path.stem      # so two exports keep apart
        ops = {node.op_type for node in graph.node}
        kinds = {layer.kind for layer in network.layers}
        assert {"act", "eltwise", "conv", "pool", "add", "fc"} <= kinds, name
        assert ("HardSwish" in ops) == (name == "mobilenet_v3")


@pytest.mark.parametrize("arch", ["cnvlutin", "eyeriss", "systolic"])
def test_exported_models_match_onnxruntime_on_other_cores(arch):
    for path in MODELS.values():
        assert_fp32_close(*final_outputs(path, arch, "fp32", seed=3)[:2])
        ours, theirs, _ = final_outputs(path, arch, "fixed16", seed=3)
        similarity = cosine(ours, theirs)
        assert similarity >= 0.999 and ours.argmax() == theirs.argmax(), (path, similarity)


def test_compare_keeps_both_exported_models(tmp_path, capsys):
    out = tmp_path / "cmp.csv"
    assert main(["compare", "--archs", "dadiannao,cnvlutin", "--quiet", "--workload",
                 ",".join(str(p) for p in MODELS.values()), "--output", str(out)]) == 0
    import pandas as pd

    networks = pd.read_csv(tmp_path / "cmp.networks.csv")
    assert set(networks["workload"]) == {p.stem for p in MODELS.values()}
    layers = pd.read_csv(out)
    # hard-swish on the host, sigmoid on each core's NFU-3 (dadiannao's core is diannao)
    assert set(layers.loc[layers["kind"] == "act", "ran_on"]) == {
        "host", "diannao.activation", "cnvlutin.activation"}
