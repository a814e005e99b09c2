"""Run the shipped digits CNN's held-out split through the simulator and report accuracy.

    python workloads/digits/evaluate.py                      # DianNao, all 540 images
    python workloads/digits/evaluate.py --arch cnvlutin --limit 100

Each held-out picture (``test_set.npy``, written by ``train_digits_cnn.py``) is saved as a
PNG and fed exactly as ``accelsim run --workload digits_cnn --input digit.png`` feeds it;
the predicted label is the argmax of the simulated ``fc2`` output (in the arch's precision).
Prints, as JSON: the accuracy, the misclassified dataset indices, each layer's weight
density (of the tensors the runs used) and its mean input density (1 - the
``input_zero_fraction`` column of ``Result.layers``) over the images. Needs only accelsim.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))   # the accelsim checkout this script lives in

import accelsim  # noqa: E402
from accelsim.workload import load_network, load_tensors  # noqa: E402
from accelsim.workload.transforms.pruning import weight_densities  # noqa: E402

TEST_SET = HERE / "test_set.npy"
WORKLOAD = HERE.parent / "digits_cnn.onnx"


def evaluate(arch: str, limit: int | None = None) -> dict:
    records = np.load(TEST_SET, allow_pickle=False)[:limit]
    network = load_network(WORKLOAD)
    wrong, zeros, densities = [], [], None
    with tempfile.TemporaryDirectory() as folder:
        for record in records:
            path = Path(folder) / f"digit{record['label']}_{record['index']:04d}.png"
            Image.fromarray(record["picture"]).save(path)
            tensors = load_tensors(network, input_from=path)
            densities = densities or weight_densities(network, tensors)
            result = accelsim.simulate(arch, network, tensors=tensors, keep_outputs=True)
            logits = np.asarray(_as_float(result.outputs[network.layers[-1].name])).ravel()
            if int(np.argmax(logits)) != int(record["label"]):
                wrong.append(int(record["index"]))
            zeros.append(result.layers.set_index("layer")["input_zero_fraction"])
    mean_zeros = sum(zeros) / len(zeros)
    return {"arch": arch, "images": len(records),
            "accuracy": 1 - len(wrong) / len(records), "misclassified": wrong,
            "weight_density": densities,
            "mean_input_density": {name: 1 - float(v) for name, v in mean_zeros.items()}}


def _as_float(tensor):
    return tensor.to_float() if hasattr(tensor, "to_float") else tensor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="diannao", help="shipped arch name or file")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    args = parser.parse_args(argv)
    print(json.dumps(evaluate(args.arch, args.limit), indent=2))


if __name__ == "__main__":
    main()
