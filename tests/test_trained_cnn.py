"""The shipped trained sparse CNN (workloads/digits_cnn.onnx) and its real test images.

Labels come from the image file names (``digit<label>_<index>.png``), which the training
script took from scikit-learn's digits set; ONNX Runtime is the oracle for every layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import accelsim
from accelsim.cli import main
from accelsim.resources import shipped
from accelsim.workload import load_network, load_tensors
from accelsim.workload.onnx import import_onnx
from accelsim.workload.pruning import weight_densities
from accelsim.workload.quantization import quantize_array
from tests.onnx_helpers import check_against_onnxruntime, onnxruntime_outputs

WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"
MODEL = WORKLOADS / "digits_cnn.onnx"
IMAGES = sorted((WORKLOADS / "digits" / "images").glob("digit*.png"))


def _label(image: Path) -> int:
    return int(image.stem[len("digit")])


def test_ten_real_test_images_ship_one_per_class():
    assert sorted(_label(image) for image in IMAGES) == list(range(10))


@pytest.mark.parametrize("image", IMAGES[:3], ids=lambda p: p.stem)
def test_every_layer_matches_onnxruntime_on_a_real_digit(image):
    errors = check_against_onnxruntime(MODEL, input_from=image)
    assert list(errors) == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2"]


def test_fixed16_diannao_classifies_every_shipped_digit():
    network = load_network("digits_cnn")
    for image in IMAGES:
        tensors = load_tensors(network, input_from=image)
        result = accelsim.simulate("diannao", network, tensors=tensors, keep_outputs=True)
        logits = result.outputs["fc2"].to_float().ravel()
        expected = onnxruntime_outputs(MODEL, tensors.input, ["logits"])["logits"].ravel()
        assert int(np.argmax(logits)) == _label(image) == int(np.argmax(expected)), image.name
        assert np.abs(logits - expected).max() < 0.01 * np.abs(expected).max()


def test_the_model_is_pruned_and_8_bit_as_its_metadata_says():
    model = import_onnx(MODEL)
    meta = {p.key: p.value for p in onnx.load(str(MODEL)).metadata_props}
    reported = json.loads(meta["accelsim.weight_density"])
    tensors = load_tensors(model.network)
    assert weight_densities(model.network, tensors) == pytest.approx(reported, abs=1e-9)
    weights = sum(w.size for w in model.weights.values())
    kept = sum(np.count_nonzero(w) for w in model.weights.values())
    assert kept / weights < 0.2
    for name, w in model.weights.items():   # already on its 8-bit per-channel grid
        assert np.array_equal(quantize_array(w, 8, per_channel=True), w), name
    accuracy = json.loads(meta["accelsim.test_accuracy"])
    assert accuracy["pruned_fine_tuned_8bit"] > 0.95 and accuracy["dense"] > 0.95
    assert "pruned" in model.network.source and "Test accuracy" in model.network.source


@pytest.mark.parametrize("arch", ["diannao", "cnvlutin"])
def test_runs_from_the_command_line(arch, capsys, tmp_path):
    if arch not in shipped("arch_configs"):
        pytest.skip(f"{arch} is not shipped")
    image = IMAGES[7]
    assert main(["run", "--arch", arch, "--workload", "digits_cnn", "--input", str(image),
                 "-o", str(tmp_path / "digits.csv")]) == 0
    out = capsys.readouterr().out
    assert "conv2" in out and "trained: digits CNN" in out and image.name in out
    meta = json.loads((tmp_path / "digits.meta.json").read_text())
    assert meta["summary"]["tensors_weights"].startswith("trained:")
