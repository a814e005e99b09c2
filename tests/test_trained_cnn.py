"""The shipped trained sparse CNN (workloads/digits_cnn.onnx) and its real test images.

Labels come from the image file names (``digit<label>_<index>.png``) and from the held-out
split ``workloads/digits/test_set.npy``, which the training script took from
scikit-learn's digits set; ONNX Runtime is the oracle for every layer. The reported
accuracy (``workloads/digits/report.json``, computed by PyTorch when training) is
recomputed here on all 540 held-out images, fed as ``--input digit.png`` feeds them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

import accelsim
from accelsim.cli import main
from accelsim.files import shipped
from accelsim.workload import load_network, load_tensors
from accelsim.workload.formats.onnx_model import import_onnx
from accelsim.workload.forward import forward
from accelsim.workload.tensors import with_input
from accelsim.workload.transforms.pruning import weight_densities
from accelsim.workload.transforms.quantization import quantize_array
from tests.onnx_helpers import check_against_onnxruntime, onnxruntime_outputs, ort

WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"
MODEL = WORKLOADS / "digits_cnn.onnx"
IMAGES = sorted((WORKLOADS / "digits" / "images").glob("digit*.png"))
TEST_SET = WORKLOADS / "digits" / "test_set.npy"
REPORT = json.loads((WORKLOADS / "digits" / "report.json").read_text())


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


# ---- the whole held-out split --------------------------------------------------------------

@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """The held-out records and each picture as the network input ``--input digit.png``
    gives (saved as a PNG, loaded, resized and normalised by accelsim's loader)."""
    records = np.load(TEST_SET, allow_pickle=False)
    folder, network = tmp_path_factory.mktemp("digits"), load_network(MODEL)
    inputs = []
    for record in records:
        path = folder / f"digit{record['label']}_{record['index']:04d}.png"
        Image.fromarray(record["picture"]).save(path)
        inputs.append(load_tensors(network, input_from=path).input)
    return records, inputs


def _float_predictions(inputs) -> np.ndarray:
    """accelsim's float32 forward pass of the imported model, argmax of the last layer."""
    network = load_network(MODEL)
    tensors = load_tensors(network)
    labels = []
    for x in inputs:
        *_, (_, logits) = forward(network, with_input(tensors, x, "held-out digit"))
        labels.append(int(np.argmax(logits)))
    return np.array(labels)


def test_the_shipped_images_are_held_out_ones(held_out):
    records, _ = held_out
    assert len(records) == REPORT["test_images"] == len(set(records["index"].tolist()))
    by_index = {int(r["index"]): r for r in records}
    for image in IMAGES:
        record = by_index[int(image.stem.split("_")[1])]
        assert int(record["label"]) == _label(image)
        assert np.array_equal(np.asarray(Image.open(image)), record["picture"]), image.name


def test_held_out_accuracy_is_the_reported_one(held_out):
    """Our import + forward pass and ONNX Runtime both give the accuracy PyTorch reported."""
    records, inputs = held_out
    ours = _float_predictions(inputs)
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    theirs = np.array([int(np.argmax(session.run(None, {"image": x[None]})[0]))
                       for x in inputs])
    labels = records["label"].astype(int)
    assert np.array_equal(ours, theirs)
    assert np.mean(ours == labels) == pytest.approx(REPORT["accuracy"]["pruned_fine_tuned_8bit"],
                                                    abs=0.1 / len(labels))
    assert np.mean(theirs == labels) == pytest.approx(REPORT["accuracy"]["onnxruntime_8bit"],
                                                      abs=0.1 / len(labels))


def test_fixed16_diannao_makes_the_models_mistakes(held_out):
    """On every held-out digit the model gets wrong, the simulated fixed16 run predicts the
    same wrong label as the float model (the 10 shipped, right ones are checked above)."""
    records, inputs = held_out
    predicted = _float_predictions(inputs)
    wrong = np.flatnonzero(predicted != records["label"])
    assert 0 < len(wrong) < 0.05 * len(records)
    network = load_network(MODEL)
    for i in wrong:
        tensors = with_input(load_tensors(network), inputs[i], "held-out digit")
        result = accelsim.simulate("diannao", network, tensors=tensors, keep_outputs=True)
        logits = result.outputs["fc2"].to_float().ravel()
        assert int(np.argmax(logits)) == predicted[i], int(records["index"][i])
