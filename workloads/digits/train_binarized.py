"""Fine-tune the shipped digits CNN with conv2 and fc1 binarized (BWN), in numpy.

    pip install scikit-learn        # the training split only (as train_digits_cnn.py)
    python workloads/digits/train_binarized.py [--epochs 8]

Starts from ``workloads/digits_cnn.onnx``'s weights and trains every layer for a few epochs
on the same training split (scikit-learn's digits, 70/30 stratified, ``random_state=0``;
pictures fed as ``accelsim run --input digit.png`` feeds them) with conv2 and fc1 in the
forward pass exactly as ``binarize:mode=weights`` computes them: ``alpha * sign(w)``,
``alpha`` = mean ``|w|`` a filter (Binary-Weight-Networks, Rastegari et al., ECCV 2016).
Gradients pass the signs straight through where ``|w| <= 1`` (BinaryConnect's estimator),
``alpha`` held constant; Adam (lr 1e-3), batches of 32, seed 0: about
35 s of CPU. The pruned weights of conv2 and fc1 start as +-1e-4 with seeded random signs (a
zero would binarize to +alpha, all of them alike); conv1 and fc2 keep their pruned zeros
(masks re-applied after each step). Writes ``workloads/digits/digits_cnn_weights.npz``
(``<layer>.weight`` / ``<layer>.bias``, the real weights ``binarize`` then binarizes) and
prints the held-out top-1 of the float model after each epoch.

Not for ``xnor``: this network has no batch normalization, so the input of every binarized
layer is a ReLU output (>= 0) and ``sign`` makes it all +1; XNOR-Net binarizes centred
activations (its blocks are BatchNorm, sign, conv). No training makes those inputs carry
information here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))   # the accelsim checkout this script lives in

from accelsim.workload import load_network, load_tensors  # noqa: E402

BINARIZED = ("conv2", "fc1")
SEED, BATCH, LR = 0, 32, 1e-3


def dataset():
    """(train inputs, train labels, test inputs, test labels), inputs N x 1 x 16 x 16."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    pictures = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)
    train, test = train_test_split(np.arange(len(pictures)), test_size=0.3,
                                   random_state=SEED, stratify=digits.target)
    network = load_network("digits_cnn")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digit.png"
        inputs = []
        for picture in pictures:
            Image.fromarray(picture).save(path)
            inputs.append(load_tensors(network, input_from=path).input)
    x, y = np.stack(inputs).astype(np.float64), digits.target
    return x[train], y[train], x[test], y[test]


def signs(a):
    return np.where(a >= 0, 1.0, -1.0)


def conv(x, w, pad=1):
    """N x C x H x W conv (stride 1, zero padding) with M x C x 3 x 3: (out, windows)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(xp, w.shape[2:], axis=(2, 3))   # N C H W R S
    return np.einsum("ncpqrs,mcrs->nmpq", windows, w, optimize=True), windows


def conv_backward(grad, windows, w, pad=1):
    """Gradients of :func:`conv` for its input and weights."""
    dw = np.einsum("nmpq,ncpqrs->mcrs", grad, windows, optimize=True)
    gp = np.pad(grad, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    flipped = w[:, :, ::-1, ::-1]
    gwin = sliding_window_view(gp, w.shape[2:], axis=(2, 3))
    dx = np.einsum("nmpqrs,mcrs->ncpq", gwin, flipped, optimize=True)
    return dx, dw


def pool(x):
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // 2, 2, w // 2, 2)
    out = blocks.max(axis=(3, 5))
    mask = blocks == out[:, :, :, None, :, None]
    return out, mask / mask.sum(axis=(3, 5), keepdims=True)


def unpool(grad, mask):
    n, c, h, w = grad.shape
    return (mask * grad[:, :, :, None, :, None]).reshape(n, c, 2 * h, 2 * w)


def binary(w):
    alpha = np.abs(w).reshape(w.shape[0], -1).mean(axis=1)
    return signs(w) * alpha.reshape(-1, *([1] * (w.ndim - 1)))


def forward_backward(p, x, y):
    """Loss and gradients of every parameter on one batch (``y`` None: logits only)."""
    z1, win1 = conv(x, p["conv1.weight"])
    a1 = np.maximum(z1 + p["conv1.bias"][:, None, None], 0)
    h1, m1 = pool(a1)
    s2, win2 = conv(h1, binary(p["conv2.weight"]))
    a2 = np.maximum(s2 + p["conv2.bias"][:, None, None], 0)
    h2, m2 = pool(a2)
    f = h2.reshape(len(x), -1)
    w3 = binary(p["fc1.weight"].reshape(64, -1))
    a3 = np.maximum(f @ w3.T + p["fc1.bias"], 0)
    logits = a3 @ p["fc2.weight"].reshape(10, -1).T + p["fc2.bias"]
    if y is None:
        return logits
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    loss = -np.log(prob[np.arange(len(y)), y]).mean()
    g = prob
    g[np.arange(len(y)), y] -= 1
    g /= len(y)
    grads = {"fc2.weight": (g.T @ a3).reshape(p["fc2.weight"].shape), "fc2.bias": g.sum(0)}
    g3 = (g @ p["fc2.weight"].reshape(10, -1)) * (a3 > 0)
    grads["fc1.bias"] = g3.sum(0)
    grads["fc1.weight"] = (g3.T @ f).reshape(p["fc1.weight"].shape) * (
        np.abs(p["fc1.weight"]) <= 1)
    g2 = unpool((g3 @ w3).reshape(h2.shape), m2) * (a2 > 0)
    grads["conv2.bias"] = g2.sum(axis=(0, 2, 3))
    gh1, dw2 = conv_backward(g2, win2, binary(p["conv2.weight"]))
    grads["conv2.weight"] = dw2 * (np.abs(p["conv2.weight"]) <= 1)
    g1 = unpool(gh1, m1) * (a1 > 0)
    grads["conv1.bias"] = g1.sum(axis=(0, 2, 3))
    grads["conv1.weight"] = np.einsum("nmpq,ncpqrs->mcrs", g1, win1, optimize=True)
    return loss, grads


def top1(p, x, y) -> float:
    logits = np.concatenate([forward_backward(p, x[i:i + 256], None)
                             for i in range(0, len(x), 256)])
    return float(np.mean(logits.argmax(axis=1) == y))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    x, y, x_test, y_test = dataset()
    network = load_network("digits_cnn")
    start = load_tensors(network)
    p = {}
    for name in start.weights:
        p[f"{name}.weight"] = start.weights[name].astype(np.float64)
        p[f"{name}.bias"] = start.biases[name].astype(np.float64)
    masks = {f"{n}.weight": p[f"{n}.weight"] != 0 for n in start.weights if n not in BINARIZED}
    rng = np.random.default_rng(SEED)
    for name in BINARIZED:   # pruned weights start with random signs, not all +alpha
        w = p[f"{name}.weight"]
        w[w == 0] = rng.choice([-1e-4, 1e-4], size=int(np.count_nonzero(w == 0)))
    print(f"before: held-out top-1 {top1(p, x_test, y_test):.4f}")
    moments = {key: (np.zeros_like(v), np.zeros_like(v)) for key, v in p.items()}
    step = 0
    for epoch in range(args.epochs):
        order, losses = rng.permutation(len(x)), []
        for begin in range(0, len(x), BATCH):
            batch = order[begin:begin + BATCH]
            loss, grads = forward_backward(p, x[batch], y[batch])
            step += 1
            for key, grad in grads.items():   # Adam
                m, v = moments[key]
                m[...] = 0.9 * m + 0.1 * grad
                v[...] = 0.999 * v + 0.001 * grad ** 2
                p[key] -= LR * (m / (1 - 0.9 ** step)) / (
                    np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
                if key in masks:
                    p[key] *= masks[key]
            losses.append(loss)
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}, held-out top-1 "
              f"{top1(p, x_test, y_test):.4f}")
    out = HERE / "digits_cnn_weights.npz"
    np.savez_compressed(out, **{key: v.astype(np.float32) for key, v in p.items()})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
