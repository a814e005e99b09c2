"""Train Minerva's MLP shape on the digits data; export it to `workloads/mnist_mlp.onnx`.

    python workloads/digits/train_digits_mlp.py     # numpy only; scikit-learn's data file

Minerva (Reagen et al., ISCA 2016) chose a 784-256-256-256-10 MLP for MNIST (28 x 28 input).
MNIST is not shipped; the digits set the shipped CNN uses is (scikit-learn's 8 x 8 optdigits
pictures, fed at 16 x 16, see ``train_digits_cnn.py``), so this MLP keeps Minerva's three
hidden layers of 256 and takes the 16 x 16 = 256 pixels the pipeline feeds:
256-256-256-256-10 (199,434 weights, float32: 0.8 MB). It runs as ``--workload mnist_mlp``
and through the same evaluation as the CNN (PNG in, argmax of ``fc4`` out).

Data and split: the CNN's. The pictures are scikit-learn's bundled ``digits.csv.gz`` (read
from the installed package's data folder, so scipy is not needed); the held-out images are
exactly those of ``test_set.npy`` (the CNN's 30 % stratified split), the rest train. Each
picture becomes ``round(v * 255 / 16)`` 8-bit pixels, is resized to 16 x 16 (bilinear,
Pillow, as accelsim's image loader does) and normalised with the training pixels' mean and
deviation (stored in the model metadata, as for the CNN).

Training (numpy, float64): He-initialised weights, ReLU, softmax cross-entropy, Adam (lr
1e-3), mini-batches of 32, 40 epochs, seed 0; weights stay float (the simulator's fixed16
quantizes them, Minerva's 16-bit baseline; ``--transform precision`` narrows them).
Prints the held-out accuracy of the float model, which the model's ``doc_string`` records.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

HERE = Path(__file__).resolve().parent
MODEL_PATH = HERE.parent / "mnist_mlp.onnx"
TEST_SET_PATH = HERE / "test_set.npy"
SEED, SIZE, HIDDEN, EPOCHS, BATCH, LR = 0, 16, (256, 256, 256), 40, 32, 1e-3


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (1,797 x 8 x 8 values 0..16, labels) from its bundled file."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs scikit-learn's data file: pip install '.[train]'")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def pixels(images: np.ndarray) -> np.ndarray:
    """8 x 8 values 0..16 -> 16 x 16 pixels in [0, 1], as the CNN pipeline feeds them."""
    pictures = np.round(images * 255.0 / 16.0).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(p).resize((SIZE, SIZE),
                                                          Image.Resampling.BILINEAR),
                                dtype=np.float64) / 255.0 for p in pictures])


def init(rng: np.random.Generator) -> list[list[np.ndarray]]:
    sizes = (SIZE * SIZE, *HIDDEN, 10)
    return [[rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)), np.zeros(n_out)]
            for n_in, n_out in zip(sizes, sizes[1:], strict=False)]


def logits(params, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    acts = [x]
    for i, (w, b) in enumerate(params):
        z = acts[-1] @ w.T + b
        acts.append(np.maximum(z, 0) if i < len(params) - 1 else z)
    return acts[-1], acts


def train(params, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
    moments = [[np.zeros_like(p) for p in layer] for layer in params]
    squares = [[np.zeros_like(p) for p in layer] for layer in params]
    step = 0
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            batch = order[start:start + BATCH]
            out, acts = logits(params, x[batch])
            grad = np.exp(out - out.max(axis=1, keepdims=True))
            grad /= grad.sum(axis=1, keepdims=True)
            grad[np.arange(len(batch)), y[batch]] -= 1
            grad /= len(batch)
            step += 1
            for i in reversed(range(len(params))):
                w = params[i][0]
                grads = (grad.T @ acts[i], grad.sum(axis=0))
                grad = (grad @ w) * (acts[i] > 0)
                for j, g in enumerate(grads):   # Adam
                    moments[i][j] = 0.9 * moments[i][j] + 0.1 * g
                    squares[i][j] = 0.999 * squares[i][j] + 0.001 * g * g
                    m_hat = moments[i][j] / (1 - 0.9 ** step)
                    v_hat = squares[i][j] / (1 - 0.999 ** step)
                    params[i][j] -= LR * m_hat / (np.sqrt(v_hat) + 1e-8)


def export(params, metadata: dict[str, str], doc: str) -> None:
    nodes = [helper.make_node("Flatten", ["image"], ["flat"], name="flatten", axis=1)]
    inits, previous = [], "flat"
    for i, (w, b) in enumerate(params, start=1):
        name = f"fc{i}"
        inits += [numpy_helper.from_array(w.astype(np.float32), f"{name}.weight"),
                  numpy_helper.from_array(b.astype(np.float32), f"{name}.bias")]
        out = "logits" if i == len(params) else f"{name}_out"
        nodes.append(helper.make_node("Gemm", [previous, f"{name}.weight", f"{name}.bias"],
                                      [out], name=name, transB=1))
        if i < len(params):
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}_out"], name=f"relu{i}"))
            out = f"relu{i}_out"
        previous = out
    graph = helper.make_graph(
        nodes, "mnist_mlp",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              doc_string=doc)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(MODEL_PATH))


def main() -> None:
    images, labels = digits()
    test_idx = np.load(TEST_SET_PATH, allow_pickle=False)["index"].astype(np.int64)
    train_idx = np.setdiff1d(np.arange(len(images)), test_idx)
    x = pixels(images)
    mean = round(float(x[train_idx].mean()), 4)
    std = round(float(x[train_idx].std()), 4)
    x = ((x - mean) / std).reshape(len(x), -1)
    rng = np.random.default_rng(SEED)
    params = init(rng)
    train(params, x[train_idx], labels[train_idx], rng)
    accuracy = float(np.mean(logits(params, x[test_idx])[0].argmax(axis=1)
                             == labels[test_idx]))
    doc = (f"Minerva's MLP shape (3 hidden layers of 256, ISCA 2016) on scikit-learn's digits "
           f"at 16x16: 256-256-256-256-10, float weights. Held-out accuracy "
           f"({len(test_idx)} images, the digits CNN's split): {accuracy:.2%}.")
    export(params, {
        "accelsim.provenance": ("trained: digits MLP (scikit-learn digits, workloads/digits/"
                                "train_digits_mlp.py), float weights"),
        "accelsim.input_mean": str(mean), "accelsim.input_std": str(std),
        "accelsim.test_accuracy": json.dumps({"float": accuracy})}, doc)
    print(json.dumps({"test_images": len(test_idx), "train_images": len(train_idx),
                      "float_accuracy": accuracy, "input_mean": mean, "input_std": std,
                      "bytes": MODEL_PATH.stat().st_size}, indent=2))


if __name__ == "__main__":
    main()
