"""Network inputs from files: .npy arrays, images (resized, cropped, normalised) and the
photographs bundled with installed packages."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from accelsim.cli import main
from accelsim.errors import AccelsimError
from accelsim.workload import load_network, load_tensors
from accelsim.workload.tensors import IMAGENET_MEAN, IMAGENET_STD, Normalization, load_input


def test_npy_input_with_or_without_batch(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.float64).reshape(1, 2, 3, 4)
    np.save(tmp_path / "x.npy", array)
    loaded, description = load_input(tmp_path / "x.npy", (2, 3, 4))
    assert loaded.dtype == np.float32 and np.array_equal(loaded, array[0])
    assert description == f"array {tmp_path / 'x.npy'}"


@pytest.mark.parametrize("array, needle", [
    (np.zeros((3, 4, 4)), "shape [2, 3, 4]"),
    (np.full((2, 3, 4), np.nan), "NaN"),
])
def test_bad_npy_is_a_clear_error(tmp_path, array, needle):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(AccelsimError, match=needle.replace("[", r"\[")):
        load_input(tmp_path / "x.npy", (2, 3, 4))


def test_uniform_image_normalises_to_the_expected_constant(tmp_path):
    Image.new("RGB", (40, 20), (255, 128, 0)).save(tmp_path / "flat.png")
    x, _ = load_input(tmp_path / "flat.png", (3, 8, 8))
    expected = [(v / 255 - m) / s for v, m, s in zip((255, 128, 0), IMAGENET_MEAN,
                                                     IMAGENET_STD, strict=True)]
    assert x.shape == (3, 8, 8)
    assert np.allclose(x, np.asarray(expected, np.float32)[:, None, None], atol=1e-6)


def test_images_are_centre_cropped_after_covering_resize(tmp_path):
    """A 30x10 picture, left third black, middle white, right third black: resized to cover
    10x10 (no change) and centre-cropped, only the white middle remains."""
    pixels = np.zeros((10, 30), np.uint8)
    pixels[:, 10:20] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    x, _ = load_input(tmp_path / "wide.png", (1, 10, 10), Normalization((0.0,), (1.0,)))
    assert np.array_equal(x, np.ones((1, 10, 10), np.float32))


def test_bundled_photograph_has_photograph_statistics():
    x, description = load_input("sample:grace_hopper", (3, 224, 224))
    assert x.shape == (3, 224, 224) and "grace_hopper" in description
    assert np.all(np.isfinite(x)) and x.std() > 0.3
    r, g, b = (channel.ravel() for channel in x)
    assert np.corrcoef(r, g)[0, 1] > 0.5   # colour channels of a photo correlate
    right = np.corrcoef(x[1, :, :-1].ravel(), x[1, :, 1:].ravel())[0, 1]
    assert right > 0.8   # neighbouring pixels too, unlike noise


def test_sklearn_sample_images_when_installed():
    pytest.importorskip("sklearn")
    x, _ = load_input("sample:china", (3, 64, 64))
    assert x.shape == (3, 64, 64) and x.std() > 0.3


@pytest.mark.parametrize("source, needle", [
    ("sample:mona_lisa", "unknown sample"), ("nothing.png", "not found"),
])
def test_unknown_inputs_are_clear_errors(source, needle):
    with pytest.raises(AccelsimError, match=needle):
        load_input(source, (3, 8, 8))


def test_cli_input_feeds_a_zoo_network(capsys, tmp_path):
    Image.new("L", (64, 48), 200).save(tmp_path / "gray.png")
    assert main(["run", "--workload", "lenet5", "--input", "sample:grace_hopper", "-q"]) == 0
    assert "sample image grace_hopper" in capsys.readouterr().out
    assert main(["run", "--workload", "lenet5", "--input", str(tmp_path / "x.txt")]) == 2
    assert "input" in capsys.readouterr().err
    tensors = load_tensors(load_network("lenet5"), input_from=tmp_path / "gray.png")
    assert tensors.provenance["input"].startswith(f"image {tmp_path / 'gray.png'}")
