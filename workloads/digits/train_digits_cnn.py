"""Train, prune, fine-tune and quantize the shipped digits CNN, and export it to ONNX.

    pip install '.[train]'         # torch and scikit-learn: training only, never at run time
    python workloads/digits/train_digits_cnn.py

Writes ``workloads/digits_cnn.onnx``, ten test images ``workloads/digits/images/*.png``, the
whole held-out split ``workloads/digits/test_set.npy`` (so the accuracy can be checked
without scikit-learn: ``tests/test_trained_cnn.py``, ``workloads/digits/evaluate.py``) and
``workloads/digits/report.json`` (accuracies, per-layer densities). Reproducible: fixed
seeds, one thread, deterministic kernels; with the versions it was made with (torch 2.13.0
CPU, scikit-learn 1.9.1, numpy 2.4, Pillow 13) a rerun rewrites bit-identical weights.

Data: scikit-learn's bundled handwritten digits (1,797 8x8 images with 17 grey levels,
10 classes, from the UCI optdigits set; ships inside the package, no download), split 70/30
stratified with ``random_state=0``. An image is the 8-bit picture ``round(v * 255 / 16)`` fed
exactly as ``accelsim run --input digit.png`` feeds it: resized to 16x16 (bilinear, Pillow)
and normalised with the training pixels' mean and deviation, stored in the model metadata.

Network (LeNet-5 class, input 1x16x16): conv1 3x3x16 pad 1 + ReLU, 2x2 max-pool, conv2
3x3x32 pad 1 + ReLU, 2x2 max-pool, fc1 512 -> 64 + ReLU, fc2 64 -> 10 (38,160 weights).

Steps: (1) train dense; (2) magnitude-prune each layer to its target density in three
rounds (Han et al., NIPS 2015), fine-tuning with the pruned weights held at zero after each;
the masks come from accelsim's own ``keep_largest``, the rule of ``--transform prune``;
(3) quantize the weights to 8-bit per-channel dynamic fixed point with accelsim's
``quantize_array`` (the rule of ``--transform quantize:bits=8,per_channel=true``), which the
fixed16 kernels then run bit-exactly; (4) export with the TorchScript ONNX exporter, name the
nodes after the modules, and check the export on the whole test split with ONNX Runtime.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))   # the accelsim checkout this script lives in

from accelsim.workload.transforms.pruning import keep_largest  # noqa: E402
from accelsim.workload.transforms.quantization import quantize_array  # noqa: E402

SEED = 0
SIZE = 16
DENSITY = {"conv1": 0.6, "conv2": 0.3, "fc1": 0.1, "fc2": 0.4}
"""Fraction of weights kept per layer: the first and last layers are kept densest, as in
Han et al. (their AlexNet keeps 84 % of conv1 and 9 % of fc6)."""
EPOCHS, PRUNE_ROUNDS, FINE_TUNE_EPOCHS, BITS = 40, 3, 15, 8
MODEL_PATH = HERE.parent / "digits_cnn.onnx"
IMAGE_DIR = HERE / "images"
TEST_SET_PATH = HERE / "test_set.npy"
TEST_SET_DTYPE = np.dtype([("index", "<u2"), ("label", "u1"), ("picture", "u1", (8, 8))])


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.relu1 = nn.Conv2d(1, 16, 3, padding=1), nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2, self.relu2 = nn.Conv2d(16, 32, 3, padding=1), nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1, self.relu3 = nn.Linear(32 * 4 * 4, 64), nn.ReLU()
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))

    def weighted(self) -> dict[str, nn.Module]:
        return {"conv1": self.conv1, "conv2": self.conv2, "fc1": self.fc1, "fc2": self.fc2}


def pixels_8bit(image16: np.ndarray) -> np.ndarray:
    """A digits image (values 0..16) as the 8-bit picture that is saved and shipped."""
    return np.round(image16 * 255.0 / 16.0).astype(np.uint8)


def resized(picture: np.ndarray) -> np.ndarray:
    """8-bit 8x8 -> 16x16 pixels in [0, 1], as accelsim's image loader resizes."""
    image = Image.fromarray(picture).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float64) / 255.0


def dataset():
    digits = load_digits()
    pictures = np.stack([pixels_8bit(image) for image in digits.images])
    indices = np.arange(len(pictures))
    train_idx, test_idx = train_test_split(indices, test_size=0.3, random_state=SEED,
                                           stratify=digits.target)
    pixels = np.stack([resized(p) for p in pictures])
    mean = round(float(pixels[train_idx].mean()), 4)
    std = round(float(pixels[train_idx].std()), 4)
    inputs = ((pixels - mean) / std).astype(np.float32)[:, None]
    return pictures, inputs, digits.target.astype(np.int64), train_idx, test_idx, mean, std


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float(np.mean(predicted == y))


def train(model, x, y, epochs: int, lr: float, masks: dict | None = None) -> None:
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(xs), generator=generator)
        for start in range(0, len(xs), 32):
            batch = order[start:start + 32]
            optimizer.zero_grad()
            loss_fn(model(xs[batch]), ys[batch]).backward()
            optimizer.step()
            apply_masks(model, masks)


def apply_masks(model: DigitsCNN, masks: dict | None) -> None:
    if masks:
        with torch.no_grad():
            for name, module in model.weighted().items():
                module.weight.mul_(masks[name])


def prune_masks(model: DigitsCNN, fraction_of_target: float) -> dict[str, torch.Tensor]:
    """Per-layer magnitude masks at density ``target ** fraction_of_target``."""
    masks = {}
    for name, module in model.weighted().items():
        w = module.weight.detach().numpy()
        density = DENSITY[name] ** fraction_of_target
        keep = keep_largest(np.abs(w).ravel(), round(density * w.size)).reshape(w.shape)
        masks[name] = torch.from_numpy(keep.astype(np.float32))
    return masks


def quantize(model: DigitsCNN) -> None:
    with torch.no_grad():
        for module in model.weighted().values():
            w = module.weight.detach().numpy()   # output channels first, as accelsim's
            module.weight.copy_(torch.from_numpy(quantize_array(w, BITS, per_channel=True)))


def densities(model: DigitsCNN) -> dict[str, float]:
    return {name: int((module.weight != 0).sum()) / module.weight.numel()
            for name, module in model.weighted().items()}


def export(model: DigitsCNN, metadata: dict[str, str], doc: str) -> None:
    model.eval()
    torch.onnx.export(model, (torch.zeros(1, 1, SIZE, SIZE),), str(MODEL_PATH), dynamo=False,
                      input_names=["image"], output_names=["logits"], opset_version=17)
    proto = onnx.load(str(MODEL_PATH))
    for node in proto.graph.node:   # "/conv1/Conv" -> "conv1", "/Flatten" -> "flatten"
        parts = node.name.strip("/").split("/")
        node.name = parts[0] if len(parts) > 1 else parts[0].lower()
    proto.graph.name = "digits_cnn"
    proto.doc_string = doc
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(MODEL_PATH))


def onnx_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    session = onnxruntime.InferenceSession(str(MODEL_PATH))
    logits = np.concatenate([session.run(None, {"image": x[i:i + 1]})[0]
                             for i in range(len(x))])
    return float(np.mean(logits.argmax(axis=1) == y))


def save_test_images(pictures, y, test_idx) -> list[str]:
    """The first test image of each class, as ``digit<label>_<dataset index>.png``."""
    IMAGE_DIR.mkdir(exist_ok=True)
    for old in IMAGE_DIR.glob("*.png"):
        old.unlink()
    names = []
    for label in range(10):
        index = int(next(i for i in test_idx if y[i] == label))
        name = f"digit{label}_{index:04d}.png"
        Image.fromarray(pictures[index]).save(IMAGE_DIR / name, optimize=False)
        names.append(name)
    return names


def save_test_set(pictures, y, test_idx) -> None:
    """The held-out split as one structured array: dataset index, label, 8-bit picture."""
    records = np.zeros(len(test_idx), dtype=TEST_SET_DTYPE)
    records["index"], records["label"] = test_idx, y[test_idx]
    records["picture"] = pictures[test_idx]
    np.save(TEST_SET_PATH, records, allow_pickle=False)


def main() -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    pictures, x, y, train_idx, test_idx, mean, std = dataset()
    model = DigitsCNN()
    train(model, x[train_idx], y[train_idx], EPOCHS, 1e-3)
    report = {"dense": accuracy(model, x[test_idx], y[test_idx])}
    one_shot = copy.deepcopy(model)
    apply_masks(one_shot, prune_masks(one_shot, 1.0))
    report["pruned_no_fine_tuning"] = accuracy(one_shot, x[test_idx], y[test_idx])
    for round_index in range(1, PRUNE_ROUNDS + 1):
        masks = prune_masks(model, round_index / PRUNE_ROUNDS)
        apply_masks(model, masks)
        train(model, x[train_idx], y[train_idx], FINE_TUNE_EPOCHS, 1e-3, masks)
    report["pruned_fine_tuned"] = accuracy(model, x[test_idx], y[test_idx])
    quantize(model)
    report["pruned_fine_tuned_8bit"] = accuracy(model, x[test_idx], y[test_idx])
    density = densities(model)
    total = sum(m.weight.numel() for m in model.weighted().values())
    kept = sum(int((m.weight != 0).sum()) for m in model.weighted().values())
    doc = (f"LeNet-class CNN trained on scikit-learn's digits (16x16 input), magnitude-pruned "
           f"to {kept / total:.1%} of its weights and fine-tuned, 8-bit per-channel weights. "
           f"Test accuracy ({len(test_idx)} images): dense {report['dense']:.2%}; pruned "
           f"{report['pruned_no_fine_tuning']:.2%} without and "
           f"{report['pruned_fine_tuned']:.2%} with fine-tuning; 8-bit "
           f"{report['pruned_fine_tuned_8bit']:.2%}.")
    export(model, {
        "accelsim.provenance": (f"trained: digits CNN (scikit-learn digits, workloads/digits/"
                                f"train_digits_cnn.py), pruned to {kept / total:.1%} and "
                                f"fine-tuned, {BITS}-bit per-channel weights"),
        "accelsim.input_mean": str(mean), "accelsim.input_std": str(std),
        "accelsim.test_accuracy": json.dumps(report),
        "accelsim.weight_density": json.dumps(density)}, doc)
    report["onnxruntime_8bit"] = onnx_accuracy(x[test_idx], y[test_idx])
    images = save_test_images(pictures, y, test_idx)
    save_test_set(pictures, y, test_idx)
    summary = {"test_images": len(test_idx), "accuracy": report, "weight_density": density,
               "overall_weight_density": kept / total, "weights": total,
               "input_mean": mean, "input_std": std, "shipped_images": images}
    (HERE / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
