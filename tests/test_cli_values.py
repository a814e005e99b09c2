"""``--values``, ``--weights`` and ``accelsim stats``: what a run's tensors are, from the
command line, and one-line errors for bad weight files."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.cli import main
from accelsim.sweep.spec import SweepError, make_sweep, sweep_from_dict
from accelsim.workload import load_network, make_tensors


def _weights_file(tmp_path, **changes):
    """lenet5's seeded weights as an .npz (``<layer>.weight``, ``<layer>.bias``)."""
    net = load_network("lenet5")
    tensors = make_tensors(net, 5)
    arrays = {f"{k}.weight": v for k, v in tensors.weights.items()}
    arrays.update({f"{k}.bias": np.full(v.shape, 0.25, np.float32)
                   for k, v in tensors.biases.items()})
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path = tmp_path / "lenet5_weights.npz"
    np.savez(path, **arrays)
    return path, tensors


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_values_choose_the_tensors(capsys):
    assert main(["run", "--workload", "lenet5", "-q"]) == 0
    calibrated = capsys.readouterr().out
    assert "laplace-he(seed=0)" in calibrated and "calibration" in calibrated
    assert main(["run", "--workload", "lenet5", "-q", "--values", "synthetic"]) == 0
    synthetic = capsys.readouterr().out
    assert "he-normal(seed=0)" in synthetic and "calibration" not in synthetic


def test_bad_values_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--workload", "lenet5", "--values", "trained"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'trained'" in capsys.readouterr().err


def test_compare_takes_values(capsys):
    assert main(["compare", "--archs", "diannao,dadiannao", "--workload", "lenet5",
                 "--values", "synthetic", "-q"]) == 0
    synthetic = capsys.readouterr().out
    assert main(["compare", "--archs", "diannao,dadiannao", "--workload", "lenet5", "-q"]) == 0
    assert capsys.readouterr().out != synthetic


def test_weights_file_is_attached(tmp_path, capsys):
    path, tensors = _weights_file(tmp_path)
    assert main(["run", "--workload", "lenet5", "-q", "--weights", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"trained: {path}" in out and "calibration" not in out
    from accelsim.workload import load_tensors

    loaded = load_tensors(load_network("lenet5"), 0, weights_from=path)
    assert np.array_equal(loaded.weights["c3"], tensors.weights["c3"])
    assert np.all(loaded.biases["f6"] == 0.25)


@pytest.mark.parametrize("changes, expected", [
    ({"c3.weight": None},
     "no weights for layer 'c3' (expected 'c3.weight' of shape [16, 6, 5, 5])"),
    ({"c3.weight": np.zeros((16, 6, 3, 3), np.float32)},
     "'c3.weight': layer 'c3' needs a float array of shape [16, 6, 5, 5], got float32 "
     "[16, 6, 3, 3]"),
    ({"c33.weight": np.zeros(3, np.float32)}, "'c33.weight' names no weighted layer of "
                                              "network 'lenet5' (did you mean 'c3'?)"),
    ({"f6.bias": np.zeros(3, np.float32)}, "'f6.bias': layer 'f6' needs a float array of "
                                          "shape [84]"),
])
def test_bad_weight_files_are_one_line_errors(tmp_path, capsys, changes, expected):
    path, _ = _weights_file(tmp_path, **changes)
    line = _error(capsys, "run", "--workload", "lenet5", "-q", "--weights", str(path))
    assert str(path) in line and expected in line, line


def test_weights_file_kinds(tmp_path, capsys):
    assert "weights file not found" in _error(capsys, "run", "--workload", "lenet5",
                                              "--weights", str(tmp_path / "none.npz"))
    text = tmp_path / "w.txt"
    text.write_text("1 2 3")
    assert "must be a .npz archive or an .onnx model" in _error(
        capsys, "run", "--workload", "lenet5", "--weights", str(text))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    assert "not a readable .npz archive" in _error(capsys, "run", "--workload", "lenet5",
                                                   "--weights", str(broken))
    assert "runs with its own weights" in _error(capsys, "run", "--workload", "digits_cnn",
                                                 "--weights", str(broken))


def test_onnx_weights_must_carry_the_layer_names(capsys):
    from accelsim.workload.formats.onnx_model import import_onnx

    model = import_onnx(load_network("digits_cnn").origin)
    line = _error(capsys, "run", "--workload", "lenet5", "--weights", str(model.network.origin))
    assert "names no weighted layer of network 'lenet5'" in line


def test_stats_prints_what_the_cores_are_fed(capsys):
    assert main(["stats", "--workload", "alexnet"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["layer", "kind", "zeros_in%", "zero_run", "in_min", "in_max", "zeros_w%"]
    conv3 = next(line.split() for line in out.splitlines() if line.split()[:1] == ["conv3"])
    assert float(conv3[2]) == pytest.approx(72.5, abs=0.2)   # the calibrated target
    assert float(conv3[3]) > 1 and float(conv3[4]) == 0 and float(conv3[5]) > 0
    assert "calibration" in out and "alexnet_eyeriss2016" in out
    assert main(["stats", "--workload", "alexnet", "--values", "synthetic"]) == 0
    assert "he-normal" in capsys.readouterr().out


def test_stats_bad_workload_is_one_line(capsys):
    assert "unknown workload 'alexnt'" in _error(capsys, "stats", "--workload", "alexnt")


def test_sweeps_take_values():
    sweep = make_sweep("diannao", "lenet5", {"dram.bytes_per_cycle": [8]}, values="synthetic")
    assert sweep.values == "synthetic"
    with pytest.raises(SweepError, match="values: expected one of calibrated, synthetic"):
        sweep_from_dict({"arch": "diannao", "workloads": ["lenet5"], "values": "random",
                         "grid": {"dram.bytes_per_cycle": [8]}})
